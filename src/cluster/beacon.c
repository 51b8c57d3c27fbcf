/*
 * beacon.c - discovery beacons: datagram encoding and validation, interface choice, the UDP
 * socket (layout and rules in beacon.h and docs/protocol.md, "Discovery beacons").
 *
 * Encoding writes every integer byte by byte in little-endian order. Decoding checks the
 * structure first (fixed part, magic, version, flags, reserved field, string lengths, the exact
 * total length), then the authentication against this node's key (so a beacon of another key is
 * told apart from a malformed one), then the strings' bytes; only then is the message filled in.
 *
 * Sending: a subnet-directed broadcast (192.168.1.255) reaches the subnet of the interface that
 * owns it, unlike 255.255.255.255, which leaves by the default route only. Two interfaces on one
 * subnet would still share a route, so each datagram also names its interface and source address
 * with IP_PKTINFO (sendmsg; no privileges needed, unlike SO_BINDTODEVICE). Interfaces are listed
 * again on every send (getifaddrs: a few syscalls, once a second), so a cable plugged in later or
 * a DHCP lease that arrives late is picked up without a restart. Receiving: one socket bound to
 * the wildcard address with SO_REUSEADDR, so every node of a host gets every broadcast (Linux
 * delivers a broadcast to each socket bound to the port); with --interface, IP_PKTINFO on
 * receive tells the arrival interface and others are dropped.
 */
#include "cluster/beacon.h"
#include "cluster/bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---------------------------------------------------------------- encode */
int beacon_encode(const beacon_msg *m, const keys_cluster *k, uint8_t *buf, size_t cap)
{
	if (!m || (!buf && cap))
		return SH_EINVAL;
	size_t c = strnlen(m->cluster, sizeof m->cluster), d = strnlen(m->model, sizeof m->model);
	if (c < 1 || c > WIRE_MAX_NAME || d > WIRE_MAX_MODEL || !bytes_str_ok(m->cluster, c, bytes_name_char) ||
	    !bytes_str_ok(m->model, d, bytes_print_char) || m->node_port == 0)
		return SH_EINVAL;
	size_t body = BEACON_FIXED_BYTES + c + d, total = body + (k ? KEYS_AUTH_BYTES : 0);
	if (total > cap)
		return SH_ERANGE;
	memcpy(buf, BEACON_MAGIC, 4);
	buf[4] = BEACON_VERSION;
	buf[5] = k ? BEACON_FLAG_AUTH : 0;
	bytes_put16(buf + 6, 0);
	memcpy(buf + 8, m->id, PLAN_ID_BYTES);
	bytes_put64(buf + 24, m->instance);
	bytes_put16(buf + 32, m->node_port);
	bytes_put16(buf + 34, m->api_port);
	buf[36] = (uint8_t)c;
	buf[37] = (uint8_t)d;
	memcpy(buf + BEACON_FIXED_BYTES, m->cluster, c);
	memcpy(buf + BEACON_FIXED_BYTES + c, m->model, d);
	if (k)
		keys_auth(k, buf, body, buf + body);
	return (int)total;
}

/* ---------------------------------------------------------------- decode */
#define BAD(...) bytes_err(err, cap, SH_EFORMAT, __VA_ARGS__)

int beacon_decode(const void *data, size_t len, const keys_cluster *k, beacon_msg *m, char *err, size_t cap)
{
	const uint8_t *p = data;
	if (err && cap)
		err[0] = '\0';
	if (!m || (!p && len))
		return bytes_err(err, cap, SH_EINVAL, "beacon: no buffer");
	if (len < BEACON_FIXED_BYTES)
		return BAD("beacon: %zu bytes, shorter than its %d-byte fixed part", len, BEACON_FIXED_BYTES);
	if (memcmp(p, BEACON_MAGIC, 4))
		return BAD("beacon: bad magic");
	if (p[4] != BEACON_VERSION)
		return BAD("beacon: version %u, this node speaks %d", p[4], BEACON_VERSION);
	unsigned flags = p[5];
	if (flags & ~(unsigned)BEACON_FLAGS_KNOWN)
		return BAD("beacon: unknown flag bits 0x%02x", flags & ~(unsigned)BEACON_FLAGS_KNOWN);
	if (bytes_get16(p + 6))
		return BAD("beacon: reserved field is %u, not 0", bytes_get16(p + 6));
	unsigned c = p[36], d = p[37];
	if (c < 1 || c > WIRE_MAX_NAME || d > WIRE_MAX_MODEL)
		return BAD("beacon: string lengths %u/%u out of range (cluster 1..%d, model 0..%d)", c, d,
			   WIRE_MAX_NAME, WIRE_MAX_MODEL);
	bool auth = flags & BEACON_FLAG_AUTH;
	size_t body = BEACON_FIXED_BYTES + c + d, want = body + (auth ? KEYS_AUTH_BYTES : 0);
	if (len != want)
		return BAD("beacon: %zu bytes, expected %zu", len, want);
	if (k && !auth)
		return bytes_err(err, cap, BEACON_EAUTH, "beacon: not authenticated, and this node has a cluster key");
	if (!k && auth)
		return bytes_err(err, cap, BEACON_EAUTH, "beacon: authenticated with a cluster key this node does not have");
	if (k && !keys_auth_verify(k, p, body, p + body))
		return bytes_err(err, cap, BEACON_EAUTH, "beacon: tag does not verify (another cluster key)");
	const char *s = (const char *)p + BEACON_FIXED_BYTES;
	if (!bytes_str_ok(s, c, bytes_name_char))
		return BAD("beacon: cluster name has a byte outside [A-Za-z0-9._-]");
	if (!bytes_str_ok(s + c, d, bytes_print_char))
		return BAD("beacon: model name has a non-printable byte");
	uint16_t node_port = bytes_get16(p + 32);
	if (!node_port)
		return BAD("beacon: node port 0");
	memcpy(m->id, p + 8, PLAN_ID_BYTES);
	m->instance = bytes_get64(p + 24);
	m->node_port = node_port;
	m->api_port = bytes_get16(p + 34);
	memcpy(m->cluster, s, c);
	m->cluster[c] = '\0';
	memcpy(m->model, s + c, d);
	m->model[d] = '\0';
	return SH_OK;
}

/* ---------------------------------------------------------------- interfaces */
static const char *const excluded_prefixes[] = {
	"docker",   /* docker0, docker_gwbridge */
	"br-",      /* Docker user networks (br-<hex>); not br0, often the host's own LAN bridge */
	"virbr",    /* libvirt NAT */
	"cni",      /* CNI bridges (cni0, cni-podman0) */
	"flannel",  /* flannel.1 */
	"vboxnet",  /* VirtualBox host-only */
	"vmnet",    /* VMware host-only / NAT */
	"lxcbr",    /* LXC */
	"lxdbr",    /* LXD */
	"incusbr",  /* Incus */
	"podman",   /* podman0 */
	"cali",     /* Calico */
	"weave",    /* Weave Net */
	"kube-",    /* kube-bridge, kube-ipvs0 */
	"cilium_",  /* Cilium */
};

bool beacon_iface_excluded(const char *name)
{
	if (!name)
		return false;
	for (size_t i = 0; i < SH_ARRAY_LEN(excluded_prefixes); i++)
		if (!strncmp(name, excluded_prefixes[i], strlen(excluded_prefixes[i])))
			return true;
	return false;
}

/* beacon_ifaces without logging: why (cap bytes) says what failed */
static int ifaces_list(const char *only, beacon_iface *out, int max, char *why, size_t why_cap)
{
	if (max < 0 || (!out && max) || (only && (!*only || strlen(only) >= IF_NAMESIZE))) {
		snprintf(why, why_cap, "bad interface arguments%s%s", only ? ": " : "", only ? only : "");
		return SH_EINVAL;
	}
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0) {
		snprintf(why, why_cap, "cannot list network interfaces: %s", strerror(errno));
		return SH_EIO;
	}
	int n = 0;
	bool named = false;
	for (struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_name || !a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
			continue;
		if (strlen(a->ifa_name) >= IF_NAMESIZE)
			continue;
		if (only ? strcmp(a->ifa_name, only) != 0 : beacon_iface_excluded(a->ifa_name))
			continue;
		if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_BROADCAST) || !a->ifa_broadaddr ||
		    a->ifa_broadaddr->sa_family != AF_INET)
			continue;
		named = true;
		if ((a->ifa_flags & (IFF_UP | IFF_RUNNING)) != (IFF_UP | IFF_RUNNING))
			continue;
		beacon_iface f;
		memset(&f, 0, sizeof f);
		snprintf(f.name, sizeof f.name, "%s", a->ifa_name);
		if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)a->ifa_addr)->sin_addr, f.addr, sizeof f.addr) ||
		    !inet_ntop(AF_INET, &((const struct sockaddr_in *)a->ifa_broadaddr)->sin_addr, f.bcast,
			       sizeof f.bcast))
			continue;
		bool dup = false;
		for (int i = 0; i < n && !dup; i++)
			dup = !strcmp(out[i].name, f.name) && !strcmp(out[i].bcast, f.bcast);
		if (!dup && n < max)
			out[n++] = f;
	}
	freeifaddrs(all);
	if (only && !named) {
		snprintf(why, why_cap, "interface '%s' does not exist or has no IPv4 broadcast address", only);
		return SH_EINVAL;
	}
	return n;
}

int beacon_ifaces(const char *only, beacon_iface *out, int max)
{
	char why[160];
	int n = ifaces_list(only, out, max, why, sizeof why);
	if (n < 0)
		sh_log_error("beacon: %s", why);
	return n;
}

/* ---------------------------------------------------------------- the socket */
#define LOG_SLOTS 16
#define LOG_EVERY 60.0  /* seconds between two log lines of one failing interface */

struct beacon {
	int fd;
	int port;
	char only[IF_NAMESIZE];          /* "" when every suitable interface is used */
	unsigned only_index;             /* ifindex of only as last looked up (0: unknown) */
	struct {
		char name[IF_NAMESIZE];  /* interface ("" : listing the interfaces) */
		double last;             /* sh_time_sec of the last line */
	} logged[LOG_SLOTS];
};

/* true (and the slot is stamped) when a failure of `name` may be logged now */
static bool log_due(beacon *b, const char *name)
{
	double now = sh_time_sec();
	int slot = 0;
	for (int i = 0; i < LOG_SLOTS; i++) {
		if (!strcmp(b->logged[i].name, name) && b->logged[i].last > 0) {
			slot = i;
			if (now - b->logged[i].last < LOG_EVERY)
				return false;
			break;
		}
		if (b->logged[i].last < b->logged[slot].last)
			slot = i; /* the oldest (or an unused) slot */
	}
	snprintf(b->logged[slot].name, sizeof b->logged[slot].name, "%s", name);
	b->logged[slot].last = now;
	return true;
}

beacon *beacon_init(int port, const char *only, int *err)
{
	int e = SH_EINVAL;
	beacon *b = NULL;
	if (port < 0 || port > 65535) {
		sh_log_error("beacon: port %d out of range", port);
		goto fail;
	}
	if (only) {
		beacon_iface f;
		if ((e = beacon_ifaces(only, &f, 1)) < 0)
			goto fail;
	}
	e = SH_ENOMEM;
	if (!(b = sh_alloc(sizeof *b)))
		goto fail;
	b->fd = -1;
	if (only) {
		snprintf(b->only, sizeof b->only, "%s", only);
		b->only_index = if_nametoindex(only);
	}
	e = SH_EIO;
	b->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd < 0) {
		sh_log_error("beacon: socket: %s", strerror(errno));
		goto fail;
	}
	int one = 1;
	if (setsockopt(b->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(b->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0 ||
	    setsockopt(b->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
		sh_log_error("beacon: setsockopt: %s", strerror(errno));
		goto fail;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(b->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		sh_log_error("beacon: cannot bind UDP port %d: %s", port, strerror(errno));
		goto fail;
	}
	socklen_t sl = sizeof sa;
	if (getsockname(b->fd, (struct sockaddr *)&sa, &sl) < 0) {
		sh_log_error("beacon: getsockname: %s", strerror(errno));
		goto fail;
	}
	b->port = ntohs(sa.sin_port);
	if (err)
		*err = SH_OK;
	return b;
fail:
	beacon_free(b);
	if (err)
		*err = e;
	return NULL;
}

int beacon_fd(const beacon *b) { return b ? b->fd : -1; }
int beacon_port(const beacon *b) { return b ? b->port : -1; }

/* one datagram to f's broadcast address, leaving by f (source f's address) */
static int send_one(beacon *b, const beacon_iface *f, const void *buf, size_t len)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->port) };
	struct in_addr src;
	if (inet_pton(AF_INET, f->bcast, &dst.sin_addr) != 1 || inet_pton(AF_INET, f->addr, &src) != 1) {
		errno = EINVAL;
		return -1;
	}
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct msghdr msg = { .msg_name = &dst, .msg_namelen = sizeof dst, .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned index = if_nametoindex(f->name);
	if (index) {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof ctl.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = { .ipi_ifindex = (int)index, .ipi_spec_dst = src };
		memcpy(CMSG_DATA(c), &pi, sizeof pi);
	}
	ssize_t n;
	do
		n = sendmsg(b->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

int beacon_send(beacon *b, const void *buf, size_t len)
{
	if (!b || !buf || len < 1 || len > BEACON_MAX_BYTES)
		return SH_EINVAL;
	beacon_iface f[BEACON_MAX_IFACES];
	char why[160];
	int n = ifaces_list(b->only[0] ? b->only : NULL, f, BEACON_MAX_IFACES, why, sizeof why);
	if (n < 0) {
		if (log_due(b, ""))
			sh_log_warn("beacon: %s", why);
		return n == SH_EINVAL ? 0 : n; /* --interface gone: it may come back */
	}
	int sent = 0;
	for (int i = 0; i < n; i++) {
		if (send_one(b, &f[i], buf, len) == 0)
			sent++;
		else if (log_due(b, f[i].name))
			sh_log_warn("beacon: cannot send on %s (%s -> %s:%d): %s (next report in a minute)", f[i].name,
				    f[i].addr, f[i].bcast, b->port, strerror(errno));
	}
	return sent;
}

int beacon_recv(beacon *b, void *buf, size_t cap, char *from, size_t from_cap)
{
	if (!b || !buf || cap < 1 || (from && from_cap < INET_ADDRSTRLEN))
		return SH_EINVAL;
	for (int tries = 0; tries < 64; tries++) {
		struct sockaddr_in sa;
		struct iovec iov = { .iov_base = buf, .iov_len = cap };
		union {
			char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
			struct cmsghdr align;
		} ctl;
		struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(b->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			/* a queued ICMP error of an earlier send; the next datagram may be fine */
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
				continue;
			sh_log_error("beacon: recvmsg: %s", strerror(errno));
			return SH_EIO;
		}
		if (n == 0 || (size_t)n > cap || (msg.msg_flags & MSG_TRUNC) || msg.msg_namelen < sizeof sa ||
		    sa.sin_family != AF_INET)
			continue;
		if (b->only[0]) {
			unsigned index = 0;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
				if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
				    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
					struct in_pktinfo pi;
					memcpy(&pi, CMSG_DATA(c), sizeof pi);
					index = (unsigned)pi.ipi_ifindex;
				}
			if (index != b->only_index) /* the interface may have been re-created: look again */
				b->only_index = if_nametoindex(b->only);
			if (!index || index != b->only_index)
				continue;
		}
		if (from && !inet_ntop(AF_INET, &sa.sin_addr, from, (socklen_t)from_cap))
			continue;
		return (int)n;
	}
	return 0;
}

void beacon_free(beacon *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	sh_free(b);
}
