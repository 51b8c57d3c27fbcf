/*
 * zmon.c - handshake failures of ZeroMQ sockets as reasons (see zmon.h).
 *
 * Seen on libzmq 4.3 between CURVE and plain sockets: another key gives the listener
 * HANDSHAKE_FAILED_PROTOCOL with ZMTP_CRYPTOGRAPHIC (it cannot open the client's box) and the
 * connecting side HANDSHAKE_FAILED_NO_DETAIL (the listener hangs up), each reconnection again; a key
 * on one side only gives HANDSHAKE_FAILED_PROTOCOL with ZMTP_MECHANISM_MISMATCH, except to a plain
 * socket connecting to a CURVE listener, which sees NO_DETAIL.
 */
#include "cluster/zmon.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define ZMON_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
		     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

void *zmon_open(void *zctx, void *sock)
{
	static unsigned next;
	char ep[64];
	snprintf(ep, sizeof ep, "inproc://shoal-zmon-%u", __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED));
	if (zmq_socket_monitor(sock, ep, ZMON_EVENTS))
		return NULL;
	void *mon = zmq_socket(zctx, ZMQ_PAIR);
	int zero = 0;
	if (!mon || zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero) || zmq_connect(mon, ep)) {
		if (mon)
			zmq_close(mon);
		zmq_socket_monitor(sock, NULL, 0);
		return NULL;
	}
	return mon;
}

int zmon_read(void *mon, bool secure, char *why, size_t cap)
{
	zmq_msg_t ev, ep;
	zmq_msg_init(&ev);
	zmq_msg_init(&ep);
	int rc = 0;
	if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0)
		goto done;
	/* an event is two frames: u16 event and u32 value (host order), then the endpoint */
	bool two = zmq_msg_more(&ev) && zmq_msg_recv(&ep, mon, ZMQ_DONTWAIT) >= 0;
	if (!two || zmq_msg_size(&ev) < 6)
		goto done;
	uint16_t event;
	uint32_t value;
	memcpy(&event, zmq_msg_data(&ev), 2);
	memcpy(&value, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
	rc = 1;
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
		snprintf(why, cap, secure ? "the other node has no cluster key, this node has one"
					  : "the other node has a cluster key, this node has none");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
		snprintf(why, cap, "the other node has another cluster key");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
		snprintf(why, cap, secure ? "the other node hung up in the handshake: another cluster key, or none"
					  : "the other node hung up in the handshake: it has a cluster key, this node has none");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		snprintf(why, cap, "the other node's authentication refused this node (status %u)", value);
	else if (event & ZMON_EVENTS)
		snprintf(why, cap, "the handshake failed (ZeroMQ event 0x%x, 0x%x)", event, value);
	else
		rc = 0;
done:
	zmq_msg_close(&ev);
	zmq_msg_close(&ep);
	return rc;
}

void zmon_close(void *mon)
{
	if (mon)
		zmq_close(mon);
}
