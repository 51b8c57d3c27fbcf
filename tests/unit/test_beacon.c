/*
 * test_beacon.c - discovery beacons: plain and authenticated beacons round-trip at their pinned
 * layout; a beacon is accepted only under the same key (another key, a key on one side only are
 * BEACON_EAUTH); every truncation and extension is rejected; every single-byte corruption of a
 * plain beacon is rejected or decodes to a beacon that re-encodes to the same bytes (and those of
 * magic, version, flags, reserved and length fields, or a string byte outside its set, are
 * rejected), and every one of an authenticated beacon is rejected; the encoder refuses what the
 * decoder would. Interfaces: the exclusion table, the listing's rules. The socket: datagrams
 * sent with a plain sendto to 127.0.0.1 arrive through beacon_recv (tests never broadcast on real
 * interfaces: all their traffic goes to loopback). Keys other than the one real derivation are
 * made by setting the beacon MAC key directly (keys_derive costs ~80 ms of Argon2id).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/beacon.h"
#include "test_util.h"

/* ---------------------------------------------------------------- fixtures */
static void sample(beacon_msg *m, int k)
{
	memset(m, 0, sizeof *m);
	for (int i = 0; i < PLAN_ID_BYTES; i++)
		m->id[i] = (uint8_t)(0xa0 + i);
	m->instance = 0x0102030405060708ull;
	m->node_port = 8643;
	m->api_port = k == 1 ? 0 : 8642;
	if (k == 0) {
		strcpy(m->cluster, "home-lab_2.x");
		strcpy(m->model, "llama-3.2-1b-instruct:q4_k_m (x86)");
	} else if (k == 1) {
		strcpy(m->cluster, "a");
	} else { /* the longest strings */
		memset(m->cluster, 'Z', WIRE_MAX_NAME);
		memset(m->model, '~', WIRE_MAX_MODEL);
		m->node_port = 65535;
		m->instance = ~0ull;
	}
}
#define N_SAMPLES 3

/* a cluster key made without Argon2id: only the beacon MAC key matters here */
static keys_cluster fake_key(uint8_t fill)
{
	keys_cluster k;
	memset(&k, 0, sizeof k);
	memset(k.beacon, fill, sizeof k.beacon);
	return k;
}

static size_t encode(const beacon_msg *m, const keys_cluster *k, uint8_t *buf)
{
	int n = beacon_encode(m, k, buf, BEACON_MAX_BYTES);
	cr_assert_gt(n, 0, "encode: %d", n);
	return (size_t)n;
}

/* decodes from a heap copy of exactly len bytes (ASan sees any read past the end) */
static int decode(const uint8_t *buf, size_t len, const keys_cluster *k, beacon_msg *m, char *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	cr_assert(copy);
	memcpy(copy, buf, len);
	err[0] = '\0';
	int e = beacon_decode(copy, len, k, m, err, BEACON_ERR_CAP);
	free(copy);
	if (e)
		cr_assert(err[0], "error %d without a message", e);
	return e;
}

static void assert_same(const beacon_msg *a, const beacon_msg *b)
{
	cr_assert(!memcmp(a->id, b->id, PLAN_ID_BYTES));
	cr_assert_eq(a->instance, b->instance);
	cr_assert_eq(a->node_port, b->node_port);
	cr_assert_eq(a->api_port, b->api_port);
	cr_assert_str_eq(a->cluster, b->cluster);
	cr_assert_str_eq(a->model, b->model);
}

/* ---------------------------------------------------------------- format */
Test(beacon, round_trip_plain_and_authenticated)
{
	keys_cluster key = fake_key(0x42);
	for (int k = 0; k < N_SAMPLES; k++)
		for (int auth = 0; auth < 2; auth++) {
			beacon_msg m, d;
			sample(&m, k);
			uint8_t buf[BEACON_MAX_BYTES];
			const keys_cluster *kp = auth ? &key : NULL;
			size_t len = encode(&m, kp, buf);
			cr_assert_eq(len, BEACON_FIXED_BYTES + strlen(m.cluster) + strlen(m.model) +
						  (auth ? KEYS_AUTH_BYTES : 0));
			cr_assert_eq(buf[5], auth ? BEACON_FLAG_AUTH : 0);
			char err[BEACON_ERR_CAP];
			cr_assert_eq(decode(buf, len, kp, &d, err), SH_OK, "sample %d auth %d: %s", k, auth, err);
			assert_same(&m, &d);
			/* a cap one byte short is refused, not overrun */
			cr_assert_eq(beacon_encode(&m, kp, buf, len - 1), SH_ERANGE);
		}
	/* the largest beacon fits BEACON_MAX_BYTES with room to spare */
	beacon_msg m;
	sample(&m, 2);
	uint8_t buf[BEACON_MAX_BYTES];
	cr_assert_eq(beacon_encode(&m, &key, buf, sizeof buf), BEACON_FIXED_BYTES + WIRE_MAX_NAME + WIRE_MAX_MODEL + 32);
}

Test(beacon, layout_is_pinned)
{
	beacon_msg m;
	sample(&m, 0);
	m.node_port = 0x1234;
	m.api_port = 0xabcd;
	uint8_t buf[BEACON_MAX_BYTES];
	size_t len = encode(&m, NULL, buf);
	cr_assert(!memcmp(buf, "SHLB", 4));
	cr_assert_eq(buf[4], 1);
	cr_assert_eq(buf[5], 0);
	cr_assert_eq(buf[6] | buf[7], 0);
	cr_assert(!memcmp(buf + 8, m.id, 16));
	for (int i = 0; i < 8; i++)
		cr_assert_eq(buf[24 + i], 8 - i, "instance byte %d", i); /* 0x0102030405060708 little-endian */
	cr_assert_eq(buf[32], 0x34);
	cr_assert_eq(buf[33], 0x12);
	cr_assert_eq(buf[34], 0xcd);
	cr_assert_eq(buf[35], 0xab);
	cr_assert_eq(buf[36], strlen(m.cluster));
	cr_assert_eq(buf[37], strlen(m.model));
	cr_assert(!memcmp(buf + 38, m.cluster, strlen(m.cluster)));
	cr_assert(!memcmp(buf + 38 + strlen(m.cluster), m.model, strlen(m.model)));
	cr_assert_eq(len, 38 + strlen(m.cluster) + strlen(m.model));
	/* the tag is the MAC of everything before it */
	keys_cluster key = fake_key(7);
	size_t alen = encode(&m, &key, buf);
	cr_assert_eq(alen, len + 32);
	cr_assert_eq(buf[5], 1);
	uint8_t tag[KEYS_AUTH_BYTES];
	keys_auth(&key, buf, len, tag);
	cr_assert(!memcmp(buf + len, tag, sizeof tag));
}

Test(beacon, only_the_same_key_is_accepted)
{
	/* one real derivation pair: the beacon key of keys_derive is what authenticates */
	keys_cluster a, b;
	cr_assert_eq(keys_derive("lab key one", 11, &a), SH_OK);
	cr_assert_eq(keys_derive("lab key two", 11, &b), SH_OK);
	beacon_msg m, d;
	sample(&m, 0);
	uint8_t buf[BEACON_MAX_BYTES], plain[BEACON_MAX_BYTES];
	char err[BEACON_ERR_CAP];
	size_t len = encode(&m, &a, buf), plen = encode(&m, NULL, plain);
	cr_assert_eq(decode(buf, len, &a, &d, err), SH_OK, "%s", err);
	assert_same(&m, &d);
	/* another key */
	cr_assert_eq(decode(buf, len, &b, &d, err), BEACON_EAUTH);
	cr_assert(strstr(err, "another cluster key"), "%s", err);
	/* an authenticated beacon, a receiver without a key */
	cr_assert_eq(decode(buf, len, NULL, &d, err), BEACON_EAUTH);
	cr_assert(strstr(err, "does not have"), "%s", err);
	/* a plain beacon, a receiver with a key */
	cr_assert_eq(decode(plain, plen, &a, &d, err), BEACON_EAUTH);
	cr_assert(strstr(err, "not authenticated"), "%s", err);
	/* a plain beacon with the flag set and a tag of zeros / of another key */
	uint8_t forged[BEACON_MAX_BYTES];
	memcpy(forged, plain, plen);
	forged[5] = BEACON_FLAG_AUTH;
	memset(forged + plen, 0, KEYS_AUTH_BYTES);
	cr_assert_eq(decode(forged, plen + KEYS_AUTH_BYTES, &a, &d, err), BEACON_EAUTH);
	keys_auth(&b, forged, plen, forged + plen);
	cr_assert_eq(decode(forged, plen + KEYS_AUTH_BYTES, &a, &d, err), BEACON_EAUTH);
	keys_auth(&a, forged, plen, forged + plen);
	cr_assert_eq(decode(forged, plen + KEYS_AUTH_BYTES, &a, &d, err), SH_OK, "%s", err);
	keys_clear(&a);
	keys_clear(&b);
}

Test(beacon, truncations_and_extensions_are_rejected)
{
	keys_cluster key = fake_key(0x42);
	for (int k = 0; k < N_SAMPLES; k++)
		for (int auth = 0; auth < 2; auth++) {
			beacon_msg m, d;
			sample(&m, k);
			uint8_t buf[BEACON_MAX_BYTES + 1];
			const keys_cluster *kp = auth ? &key : NULL;
			size_t len = encode(&m, kp, buf);
			char err[BEACON_ERR_CAP];
			for (size_t n = 0; n < len; n++)
				cr_assert_eq(decode(buf, n, kp, &d, err), SH_EFORMAT, "sample %d auth %d cut at %zu", k,
					     auth, n);
			buf[len] = 0;
			cr_assert_eq(decode(buf, len + 1, kp, &d, err), SH_EFORMAT);
			cr_assert(strstr(err, "expected"), "%s", err);
		}
	char err[BEACON_ERR_CAP];
	beacon_msg d;
	cr_assert_eq(beacon_decode(NULL, 0, NULL, &d, err, sizeof err), SH_EFORMAT);
	cr_assert_eq(beacon_decode("x", 1, NULL, &d, NULL, 0), SH_EFORMAT); /* err may be NULL */
}

Test(beacon, byte_corruptions_are_rejected_or_canonical)
{
	static const uint8_t xors[] = { 0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff };
	keys_cluster key = fake_key(0x42);
	int rejected = 0, accepted = 0;
	for (int k = 0; k < N_SAMPLES; k++) {
		beacon_msg m, d;
		sample(&m, k);
		uint8_t buf[BEACON_MAX_BYTES], g[BEACON_MAX_BYTES], re[BEACON_MAX_BYTES];
		size_t len = encode(&m, NULL, buf), c = strlen(m.cluster);
		char err[BEACON_ERR_CAP];
		for (size_t i = 0; i < len; i++)
			for (size_t x = 0; x < sizeof xors + 1; x++) {
				memcpy(g, buf, len);
				g[i] = x < sizeof xors ? (uint8_t)(g[i] ^ xors[x]) : 0;
				if (g[i] == buf[i])
					continue;
				int e = decode(g, len, NULL, &d, err);
				bool must_reject = i < 8 || i == 36 || i == 37;
				if (i >= 38 && i < 38 + c) /* cluster name: outside [A-Za-z0-9._-] */
					must_reject |= !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
							       g[i]) || g[i] == 0;
				if (i >= 38 + c) /* model name: not printable */
					must_reject |= g[i] < 0x20 || g[i] >= 0x7f;
				if (i == 32 || i == 33) /* node port 0 */
					must_reject |= g[32] == 0 && g[33] == 0;
				if (e) {
					cr_assert_eq(e, SH_EFORMAT, "sample %d byte %zu: %d", k, i, e);
					rejected++;
					continue;
				}
				cr_assert(!must_reject, "sample %d byte %zu = 0x%02x accepted", k, i, g[i]);
				accepted++;
				cr_assert_eq(beacon_encode(&d, NULL, re, sizeof re), (int)len);
				cr_assert(!memcmp(re, g, len), "sample %d byte %zu: not canonical", k, i);
			}
		/* authenticated: the tag covers every byte, the tag itself included */
		len = encode(&m, &key, buf);
		for (size_t i = 0; i < len; i++)
			for (size_t x = 0; x < sizeof xors; x++) {
				memcpy(g, buf, len);
				g[i] ^= xors[x];
				int e = decode(g, len, &key, &d, err);
				cr_assert(e == SH_EFORMAT || e == BEACON_EAUTH, "auth sample %d byte %zu: %d", k, i, e);
				rejected++;
			}
	}
	cr_assert_gt(accepted, 100);
	cr_assert_gt(rejected, 1000);
}

Test(beacon, defects_are_named)
{
	beacon_msg m, d;
	sample(&m, 0);
	uint8_t buf[BEACON_MAX_BYTES], g[BEACON_MAX_BYTES];
	size_t len = encode(&m, NULL, buf);
	char err[BEACON_ERR_CAP];
	static const struct {
		size_t off;
		uint8_t val;
		const char *words;
	} defects[] = {
		{ 0, 'X', "magic" },      { 4, 2, "version 2" },         { 4, 0, "version 0" },
		{ 5, 0x02, "flag bits" }, { 5, 0x81, "flag bits" },     { 6, 1, "reserved" },
		{ 7, 1, "reserved" },     { 36, 0, "string lengths" }, { 36, 65, "string lengths" },
		{ 37, 129, "string lengths" }, { 37, 0, "expected" },  { 38, ' ', "cluster name" },
		{ 40, 0, "cluster name" }, { 38 + 12, 0x7f, "model name" }, { 38 + 12, '\n', "model name" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(defects); i++) {
		memcpy(g, buf, len);
		g[defects[i].off] = defects[i].val;
		cr_assert_eq(decode(g, len, NULL, &d, err), SH_EFORMAT, "defect %zu accepted", i);
		cr_assert(strstr(err, defects[i].words), "defect %zu: '%s' lacks '%s'", i, err, defects[i].words);
	}
	memcpy(g, buf, len);
	g[32] = g[33] = 0;
	cr_assert_eq(decode(g, len, NULL, &d, err), SH_EFORMAT);
	cr_assert(strstr(err, "node port 0"), "%s", err);
	/* a tiny err buffer is still NUL-terminated */
	char small[8];
	memset(small, 'x', sizeof small);
	cr_assert_eq(beacon_decode(buf, 3, NULL, &d, small, sizeof small), SH_EFORMAT);
	cr_assert_eq(strlen(small), sizeof small - 1);
}

Test(beacon, encoder_refuses_what_the_decoder_would)
{
	static const char *bad_clusters[] = { "", "a b", "lab/1", "caf\xc3\xa9", "tab\t", "semi;colon" };
	uint8_t buf[BEACON_MAX_BYTES];
	beacon_msg m;
	for (size_t i = 0; i < SH_ARRAY_LEN(bad_clusters); i++) {
		sample(&m, 0);
		strcpy(m.cluster, bad_clusters[i]);
		cr_assert_eq(beacon_encode(&m, NULL, buf, sizeof buf), SH_EINVAL, "cluster '%s'", bad_clusters[i]);
	}
	sample(&m, 0);
	memset(m.cluster, 'a', sizeof m.cluster); /* 65 characters, no NUL */
	cr_assert_eq(beacon_encode(&m, NULL, buf, sizeof buf), SH_EINVAL);
	sample(&m, 0);
	memset(m.model, 'a', sizeof m.model); /* 129, no NUL */
	cr_assert_eq(beacon_encode(&m, NULL, buf, sizeof buf), SH_EINVAL);
	sample(&m, 0);
	strcpy(m.model, "bell\a");
	cr_assert_eq(beacon_encode(&m, NULL, buf, sizeof buf), SH_EINVAL);
	sample(&m, 0);
	m.node_port = 0;
	cr_assert_eq(beacon_encode(&m, NULL, buf, sizeof buf), SH_EINVAL);
	cr_assert_eq(beacon_encode(NULL, NULL, buf, sizeof buf), SH_EINVAL);
	/* the same bad names, hand-encoded, are rejected by the decoder */
	sample(&m, 0);
	size_t len = encode(&m, NULL, buf);
	char err[BEACON_ERR_CAP];
	beacon_msg d;
	for (size_t i = 1; i < SH_ARRAY_LEN(bad_clusters); i++) {
		if (strlen(bad_clusters[i]) > strlen(m.cluster))
			continue;
		uint8_t g[BEACON_MAX_BYTES];
		memcpy(g, buf, len);
		memcpy(g + 38, bad_clusters[i], strlen(bad_clusters[i]));
		cr_assert_eq(decode(g, len, NULL, &d, err), SH_EFORMAT, "cluster '%s'", bad_clusters[i]);
	}
}

Test(beacon, random_bytes_never_crash)
{
	sh_rng r;
	sh_rng_seed(&r, 11);
	keys_cluster key = fake_key(1);
	beacon_msg m, d;
	sample(&m, 0);
	uint8_t good[BEACON_MAX_BYTES], g[BEACON_MAX_BYTES];
	size_t glen = encode(&m, NULL, good);
	char err[BEACON_ERR_CAP];
	for (int it = 0; it < 20000; it++) {
		size_t len = sh_rng_u64(&r) % 300;
		if (it % 2 && len >= 38) { /* keep a valid prefix so the checks behind it are reached */
			memcpy(g, good, SH_MIN(len, glen));
			for (size_t i = SH_MIN(len, glen); i < len; i++)
				g[i] = (uint8_t)sh_rng_u64(&r);
			g[sh_rng_u64(&r) % len] = (uint8_t)sh_rng_u64(&r);
		} else
			for (size_t i = 0; i < len; i++)
				g[i] = (uint8_t)sh_rng_u64(&r);
		int e = decode(g, len, it % 3 ? NULL : &key, &d, err);
		cr_assert(e == SH_OK || e == SH_EFORMAT || e == BEACON_EAUTH);
	}
}

/* ---------------------------------------------------------------- interfaces */
Test(beacon, iface_exclusions)
{
	static const struct {
		const char *name;
		bool excluded;
	} t[] = {
		{ "docker0", true },  { "docker_gwbridge", true }, { "br-1a2b3c4d5e6f", true }, { "virbr0", true },
		{ "cni0", true },     { "cni-podman0", true },     { "flannel.1", true },       { "vboxnet0", true },
		{ "vmnet8", true },   { "lxcbr0", true },          { "lxdbr0", true },          { "incusbr0", true },
		{ "podman0", true },  { "cali1234abcd", true },    { "weave", true },           { "kube-bridge", true },
		{ "cilium_host", true },
		{ "veth1234", false }, { "eth0", false },          { "enp3s0", false },         { "wlan0", false },
		{ "wlp2s0", false },   { "br0", false },           { "bridge0", false },        { "eno1", false },
		{ "tap0", false },     { "wg0", false },           { "", false },               { "lo", false },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(t); i++)
		cr_assert_eq(beacon_iface_excluded(t[i].name), t[i].excluded, "%s", t[i].name);
	cr_assert(!beacon_iface_excluded(NULL));
}

Test(beacon, iface_listing_follows_its_rules)
{
	beacon_iface f[BEACON_MAX_IFACES];
	int n = beacon_ifaces(NULL, f, BEACON_MAX_IFACES);
	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++) {
		struct in_addr a, b;
		cr_assert(f[i].name[0]);
		cr_assert(!beacon_iface_excluded(f[i].name), "%s", f[i].name);
		cr_assert_str_neq(f[i].name, "lo");
		cr_assert_eq(inet_pton(AF_INET, f[i].addr, &a), 1, "%s", f[i].addr);
		cr_assert_eq(inet_pton(AF_INET, f[i].bcast, &b), 1, "%s", f[i].bcast);
		/* exactly that interface on request */
		beacon_iface g[4];
		int m = beacon_ifaces(f[i].name, g, 4);
		cr_assert_geq(m, 1);
		for (int j = 0; j < m; j++)
			cr_assert_str_eq(g[j].name, f[i].name);
	}
	cr_assert_eq(beacon_ifaces(NULL, f, 0), 0);
	capture c;
	capture_begin(&c);
	int e1 = beacon_ifaces("lo", f, 4);              /* no broadcast address */
	int e2 = beacon_ifaces("no-such-if0", f, 4);
	int e3 = beacon_ifaces("much-too-long-interface-name", f, 4);
	char *log = capture_end(&c);
	cr_assert_eq(e1, SH_EINVAL);
	cr_assert_eq(e2, SH_EINVAL);
	cr_assert_eq(e3, SH_EINVAL);
	cr_assert(strstr(log, "'lo'") && strstr(log, "'no-such-if0'"), "%s", log);
	free(log);
}

/* ---------------------------------------------------------------- the socket (loopback only) */
static void send_lo(int port, const void *buf, size_t len)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)len);
	close(fd);
}

static void wait_readable(beacon *b)
{
	struct pollfd p = { .fd = beacon_fd(b), .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 2000), 1, "no datagram within 2 s");
}

Test(beacon, loopback_send_and_receive)
{
	sh_base_init();
	int e = 1;
	beacon *b = beacon_init(0, NULL, &e);
	cr_assert(b);
	cr_assert_eq(e, SH_OK);
	int port = beacon_port(b);
	cr_assert_gt(port, 0);
	cr_assert_geq(beacon_fd(b), 0);
	uint8_t buf[BEACON_MAX_BYTES];
	char from[INET_ADDRSTRLEN];
	cr_assert_eq(beacon_recv(b, buf, sizeof buf, from, sizeof from), 0); /* nothing yet: no blocking */

	beacon_msg m, d;
	sample(&m, 0);
	uint8_t out[BEACON_MAX_BYTES];
	size_t len = encode(&m, NULL, out);
	uint8_t big[BEACON_MAX_BYTES + 100];
	memset(big, 'b', sizeof big);
	send_lo(port, big, sizeof big); /* longer than the caller's buffer: dropped */
	send_lo(port, "", 0);           /* empty: dropped */
	send_lo(port, out, len);
	wait_readable(b);
	usleep(20000);
	int n = beacon_recv(b, buf, sizeof buf, from, sizeof from);
	cr_assert_eq(n, (int)len);
	cr_assert_str_eq(from, "127.0.0.1");
	char err[BEACON_ERR_CAP];
	cr_assert_eq(beacon_decode(buf, (size_t)n, NULL, &d, err, sizeof err), SH_OK, "%s", err);
	assert_same(&m, &d);
	cr_assert_eq(beacon_recv(b, buf, sizeof buf, NULL, 0), 0);

	/* a second socket on the same port (another node of this host) binds too */
	beacon *b2 = beacon_init(port, NULL, &e);
	cr_assert(b2, "SO_REUSEADDR: %d", e);
	beacon_free(b2);

	/* arguments */
	cr_assert_eq(beacon_recv(b, buf, sizeof buf, from, 4), SH_EINVAL);
	cr_assert_eq(beacon_recv(b, buf, 0, NULL, 0), SH_EINVAL);
	cr_assert_eq(beacon_send(b, out, 0), SH_EINVAL);
	cr_assert_eq(beacon_send(b, big, BEACON_MAX_BYTES + 1), SH_EINVAL);
	beacon_free(b);
	beacon_free(NULL);
}

Test(beacon, init_errors)
{
	capture c;
	capture_begin(&c);
	int e1 = 0, e2 = 0, e3 = 0;
	beacon *b1 = beacon_init(70000, NULL, &e1);
	beacon *b2 = beacon_init(0, "no-such-if0", &e2);
	beacon *b3 = beacon_init(0, "lo", &e3); /* loopback: no broadcast */
	beacon *b4 = beacon_init(-1, NULL, NULL); /* err may be NULL */
	char *log = capture_end(&c);
	cr_assert_null(b4);
	cr_assert(!b1 && !b2 && !b3);
	cr_assert_eq(e1, SH_EINVAL);
	cr_assert_eq(e2, SH_EINVAL);
	cr_assert_eq(e3, SH_EINVAL);
	cr_assert(strstr(log, "no-such-if0"), "%s", log);
	free(log);
}

Test(beacon, interface_filter_drops_other_arrivals)
{
	/* with --interface X, a datagram that arrives on loopback is not X's: dropped. Needs a
	 * broadcast-capable interface; nothing is sent on it (the datagram goes to 127.0.0.1). */
	beacon_iface f[1];
	if (beacon_ifaces(NULL, f, 1) < 1)
		return;
	int e;
	beacon *b = beacon_init(0, f[0].name, &e);
	cr_assert(b, "%s: %d", f[0].name, e);
	uint8_t buf[BEACON_MAX_BYTES];
	send_lo(beacon_port(b), "hello", 5);
	wait_readable(b);
	cr_assert_eq(beacon_recv(b, buf, sizeof buf, NULL, 0), 0);
	beacon_free(b);
}
