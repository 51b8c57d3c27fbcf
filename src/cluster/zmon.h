/*
 * zmon.h - why a link between nodes cannot be made: a ZeroMQ socket monitor per socket, read by
 * the I/O thread, turning libzmq's handshake-failure events into a reason a person can act on
 * (another cluster key; a key on one side only).
 *
 * libzmq reports a failed CURVE or mechanism handshake only as a monitor event on each side: the
 * connecting side (a PUSH socket, one per peer) sees it with the peer's endpoint, the listening
 * side (the node's PULL socket) with its own bound endpoint, so the listener cannot name the peer.
 */
#ifndef SHOAL_ZMON_H
#define SHOAL_ZMON_H

#include "base/base.h"

/* A monitor of sock's handshake failures: an inproc PAIR socket to poll (ZMQ_POLLIN), NULL on
 * failure (errno-style, not logged: the link works without one). */
void *zmon_open(void *zctx, void *sock);
/* Reads one event if one waits (never blocks): 1 with the reason in why when it was a failed
 * handshake, 0 when nothing (or another event) was read. secure: this node has a cluster key. */
int zmon_read(void *mon, bool secure, char *why, size_t cap);
void zmon_close(void *mon);   /* NULL: no-op */

#endif
