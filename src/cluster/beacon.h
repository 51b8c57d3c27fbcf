/*
 * beacon.h - LAN discovery: the beacon datagram, the interfaces it goes out on, its UDP socket.
 *
 * Every node broadcasts a small UDP datagram (a beacon) on each suitable IPv4 interface about once
 * a second: its id, a random per-process instance number, its ports, its cluster name and model.
 * A node that hears a beacon of its own cluster from a node it does not know connects to the
 * sender's address at the beacon's node_port and introduces itself with HELLO, exactly as for a
 * --peers entry (docs/protocol.md, "Discovery beacons"). The beacon is only a hint: what a node
 * trusts is the HELLO over the (CURVE, with a cluster key) ZeroMQ link that follows.
 *
 * Datagram (little-endian, BEACON_FIXED_BYTES + strings [+ tag] bytes, exactly):
 *
 *   off size field
 *     0    4 magic "SHLB"
 *     4    1 version (BEACON_VERSION)
 *     5    1 flags (BEACON_FLAG_*; unknown bits are an error)
 *     6    2 reserved, 0
 *     8   16 node id
 *    24    8 instance: random per process (tells a restarted node, or an id clash)
 *    32    2 node_port: the sender's ZeroMQ TCP port (not 0)
 *    34    2 api_port: its HTTP port (0: none)
 *    36    1 cluster name length c (1..64)
 *    37    1 model name length d (0..128)
 *    38    c cluster name, [A-Za-z0-9._-]
 *  38+c    d model name, printable ASCII
 * 38+c+d  32 tag, with BEACON_FLAG_AUTH only: keys_auth (HMAC-SHA512-256, beacon key) of bytes 0..38+c+d
 *
 * beacon_encode / beacon_decode are pure functions (no logging, no allocation). The socket
 * functions log what fails, sends at most once a minute per interface.
 */
#ifndef SHOAL_BEACON_H
#define SHOAL_BEACON_H

#include <net/if.h>
#include <netinet/in.h>

#include "base/base.h"
#include "cluster/keys.h"
#include "cluster/plan.h"
#include "cluster/wire.h"

#define BEACON_MAGIC "SHLB"
#define BEACON_VERSION 1
#define BEACON_PORT 8643            /* default UDP port (the node's ZeroMQ TCP port default is also 8643) */
#define BEACON_MAX_BYTES 512        /* receive buffer; a beacon is at most 262 bytes */
#define BEACON_FIXED_BYTES 38
#define BEACON_ERR_CAP 128          /* enough for any beacon_decode message */
#define BEACON_MAX_IFACES 32        /* interfaces beacon_send goes out on */

enum {
	BEACON_FLAG_AUTH = 1,       /* a 32-byte tag follows the strings */
	BEACON_FLAGS_KNOWN = 1,
};

/* beacon_decode's answer for a well-formed beacon whose authentication does not match this
 * node's (another cluster key, or a key on one side only): not malformed, just not for us */
#define BEACON_EAUTH SH_EUNSUP

typedef struct {
	uint8_t id[PLAN_ID_BYTES];       /* node id */
	uint64_t instance;               /* random per process: tells a restarted node or an id clash */
	uint16_t node_port, api_port;    /* node_port != 0 */
	char cluster[WIRE_MAX_NAME + 1]; /* 1..64 of [A-Za-z0-9._-] */
	char model[WIRE_MAX_MODEL + 1];  /* 0..128 printable ASCII */
} beacon_msg;

/* Encodes m into buf. k NULL: unauthenticated; k set: BEACON_FLAG_AUTH and a 32-byte tag, the
 * keys_auth of every byte before it. Returns the bytes written, SH_EINVAL (a string that is
 * missing its NUL, too long or has a byte the decoder refuses; node_port 0) or SH_ERANGE (cap too
 * small; BEACON_MAX_BYTES is always enough). */
int beacon_encode(const beacon_msg *m, const keys_cluster *k, uint8_t *buf, size_t cap);

/* Decodes and validates one datagram: SH_OK, or SH_EFORMAT (length, magic, version, flag bits,
 * reserved field, string lengths or bytes, node_port 0), or BEACON_EAUTH when its authentication
 * does not match this node's k (a tag when k is NULL, none when k is set, or a tag that does not
 * verify: another key); err (cap bytes, BEACON_ERR_CAP is enough; may be NULL) says why. The
 * structure is checked before the tag, the strings after it. m's contents are unspecified on
 * failure. */
int beacon_decode(const void *buf, size_t len, const keys_cluster *k, beacon_msg *m, char *err, size_t cap);

/* ---------------------------------------------------------------- interfaces */
typedef struct {
	char name[IF_NAMESIZE];
	char addr[INET_ADDRSTRLEN];      /* the interface's IPv4 address (source of the beacon) */
	char bcast[INET_ADDRSTRLEN];     /* its broadcast address (destination) */
} beacon_iface;

/* Whether an interface name is one that only leads to local containers or VMs (bridges and
 * overlays of Docker, Podman, libvirt, LXC/LXD/Incus, VirtualBox, VMware, Kubernetes CNIs),
 * by prefix: docker, br-, virbr, cni, flannel, vboxnet, vmnet, lxcbr, lxdbr, incusbr, podman, cali,
 * weave, kube-, cilium_. Not excluded: veth* and eth* (inside a container or namespace, the way
 * out is often one), br0 and other bridges (often the host's own LAN bridge), tun* / tap* / wg*
 * (VPNs; a point-to-point tunnel has no broadcast address and drops out anyway). */
bool beacon_iface_excluded(const char *name);

/* The IPv4 interfaces beacons go out on: up and running, not loopback, with a broadcast
 * address, not excluded; one entry per (interface, broadcast address). With only != NULL, exactly
 * the addresses of that interface (even if excluded; none while it is down), and SH_EINVAL (logged,
 * naming it) if it does not exist or has no IPv4 broadcast address. Returns the count (at most
 * max: the first max) or a negative error (SH_EIO: getifaddrs failed; logged). */
int beacon_ifaces(const char *only, beacon_iface *out, int max);

/* ---------------------------------------------------------------- the socket */
typedef struct beacon beacon;     /* used by one thread at a time */

/* A non-blocking UDP socket bound to 0.0.0.0:port (0: an ephemeral port, see beacon_port) with
 * SO_REUSEADDR (several nodes on one host all receive the broadcasts) and SO_BROADCAST. only: the
 * --interface name or NULL; with it, beacons go out on that interface only and datagrams that
 * arrive on another are dropped, and the interface must exist (SH_EINVAL). NULL on failure with
 * *err (may be NULL) set to the negative code; logged. */
beacon *beacon_init(int port, const char *only, int *err);
int beacon_fd(const beacon *b);     /* for poll / zmq_poll: readable when a datagram waits */
int beacon_port(const beacon *b);   /* the bound UDP port */

/* Sends buf (1..BEACON_MAX_BYTES) to the broadcast address of every suitable interface,
 * re-enumerated on each call (an interface that appears later is used), each datagram leaving by
 * its own interface (IP_PKTINFO). Returns on how many interfaces it went out (0 is not an error:
 * no interface, or only one that vanished), or SH_EINVAL (bad length) / SH_EIO (cannot list the
 * interfaces). A failing interface is logged at most once a minute, not fatal. */
int beacon_send(beacon *b, const void *buf, size_t len);

/* One datagram if any, without blocking: its length (1..cap), 0 if none waits, or SH_EINVAL /
 * SH_EIO (logged). Empty datagrams, datagrams longer than cap and (with only) datagrams from
 * another interface are dropped silently (at most 64 per call). from (may be NULL; from_cap >=
 * INET_ADDRSTRLEN) gets the sender's IPv4 address as text. */
int beacon_recv(beacon *b, void *buf, size_t cap, char *from, size_t from_cap);

void beacon_free(beacon *b);        /* NULL: no-op */

#endif
