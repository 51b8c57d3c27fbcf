/*
 * test_keys.c - cluster keys: the derivation is deterministic and pinned (a known answer, since
 * it is part of the protocol), different keys give unrelated keys, the beacon MAC verifies only
 * the same message under the same key, and a real ZeroMQ CURVE handshake over loopback TCP lets
 * a node with the cluster's key talk while one with another key, or with no CURVE at all, gets
 * nothing delivered.
 */
#include <criterion/criterion.h>
#include <zmq.h>

#include "cluster/keys.h"

/* keys_derive("shoal") as of protocol v1 */
#define KNOWN_SERVER_PUBLIC "P3}cd<V*#qU&q%p@DhlLI0(x]zQz{3Hc(z:jP42^"
#define KNOWN_CLIENT_PUBLIC "<[8loaUXhRmU5f*H7DFq3V8Mc63%$Jbm6jF@Pa}B"

static void derive(const char *key, keys_cluster *k)
{
	cr_assert_eq(keys_derive(key, strlen(key), k), SH_OK, "derive '%s'", key);
}

Test(keys, same_key_same_keys)
{
	keys_cluster a, b, c;
	derive("correct horse battery staple", &a);
	derive("correct horse battery staple", &b);
	cr_assert(!memcmp(&a, &b, sizeof a));
	cr_assert_eq(strlen(a.server_public), 40);
	cr_assert_eq(strlen(a.server_secret), 40);
	cr_assert_eq(strlen(a.client_public), 40);
	cr_assert_eq(strlen(a.client_secret), 40);
	/* the public keys are the secret keys' X25519 images, as zmq computes them */
	char pub[41];
	cr_assert_eq(zmq_curve_public(pub, a.server_secret), 0);
	cr_assert_str_eq(pub, a.server_public);
	cr_assert_eq(zmq_curve_public(pub, a.client_secret), 0);
	cr_assert_str_eq(pub, a.client_public);

	derive("correct horse battery stapl3", &c);
	cr_assert_str_neq(a.server_public, c.server_public);
	cr_assert_str_neq(a.server_secret, c.server_secret);
	cr_assert_str_neq(a.client_public, c.client_public);
	cr_assert_str_neq(a.client_secret, c.client_secret);
	cr_assert(memcmp(a.beacon, c.beacon, sizeof a.beacon));
	/* server, client and beacon keys are distinct from each other */
	cr_assert_str_neq(a.server_secret, a.client_secret);

	keys_clear(&a);
	static const keys_cluster zero;
	cr_assert(!memcmp(&a, &zero, sizeof a));
	keys_clear(NULL);
}

Test(keys, derivation_is_pinned)
{
	/* protocol v1: changing the salt, the context or the subkey ids breaks every cluster */
	keys_cluster k;
	derive("shoal", &k);
	cr_assert_str_eq(k.server_public, KNOWN_SERVER_PUBLIC);
	cr_assert_str_eq(k.client_public, KNOWN_CLIENT_PUBLIC);
	/* a key is bytes: an embedded NUL counts */
	keys_cluster a, b;
	cr_assert_eq(keys_derive("ab\0c", 4, &a), SH_OK);
	cr_assert_eq(keys_derive("ab\0d", 4, &b), SH_OK);
	cr_assert_str_neq(a.server_public, b.server_public);
}

Test(keys, bad_key_lengths)
{
	keys_cluster k;
	cr_assert_eq(keys_derive("", 0, &k), SH_EINVAL);
	static char big[KEYS_MAX_KEY + 1];
	memset(big, 'k', sizeof big);
	cr_assert_eq(keys_derive(big, sizeof big, &k), SH_EINVAL);
	cr_assert_eq(keys_derive(big, KEYS_MAX_KEY, &k), SH_OK);
}

Test(keys, beacon_mac)
{
	keys_cluster a, b;
	derive("alpha", &a);
	derive("beta", &b);
	const char msg[] = "shoal beacon v1 node=0123456789abcdef port=7070";
	uint8_t tag[KEYS_AUTH_BYTES], tag2[KEYS_AUTH_BYTES];
	keys_auth(&a, msg, sizeof msg, tag);
	keys_auth(&a, msg, sizeof msg, tag2);
	cr_assert(!memcmp(tag, tag2, sizeof tag));
	cr_assert(keys_auth_verify(&a, msg, sizeof msg, tag));
	cr_assert(!keys_auth_verify(&b, msg, sizeof msg, tag));
	cr_assert(!keys_auth_verify(&a, msg, sizeof msg - 1, tag));
	char m2[sizeof msg];
	memcpy(m2, msg, sizeof msg);
	m2[10] ^= 1;
	cr_assert(!keys_auth_verify(&a, m2, sizeof m2, tag));
	tag[31] ^= 0x80;
	cr_assert(!keys_auth_verify(&a, msg, sizeof msg, tag));
	keys_auth(&a, "", 0, tag);
	cr_assert(keys_auth_verify(&a, "", 0, tag));
}

/* ---------------------------------------------------------------- a real handshake */
static void *sock_new(void *ctx, int type, int timeout_ms)
{
	void *s = zmq_socket(ctx, type);
	cr_assert(s);
	int zero = 0;
	cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms), 0);
	return s;
}

/* a client that connects and sends one message (which may never leave) */
static void *client_send(void *ctx, const char *ep, const keys_cluster *k, const char *text)
{
	void *c = sock_new(ctx, ZMQ_PUSH, 200);
	if (k)
		cr_assert_eq(keys_socket_client(c, k), SH_OK);
	cr_assert_eq(zmq_connect(c, ep), 0);
	zmq_send(c, text, strlen(text), 0); /* queued before the handshake; ok to time out */
	return c;
}

static int recv_text(void *s, char *buf, size_t cap)
{
	int n = zmq_recv(s, buf, cap - 1, 0);
	if (n >= 0)
		buf[SH_MIN((size_t)n, cap - 1)] = '\0';
	return n;
}

Test(keys, curve_handshake_needs_the_cluster_key, .timeout = 30)
{
	cr_assert(zmq_has("curve"), "libzmq without CURVE");
	keys_cluster good, bad;
	derive("the cluster key", &good);
	derive("another cluster key", &bad);

	void *ctx = zmq_ctx_new();
	cr_assert(ctx);
	void *server = sock_new(ctx, ZMQ_PULL, 600);
	cr_assert_eq(keys_socket_server(server, &good), SH_OK);
	cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
	char ep[256];
	size_t eplen = sizeof ep;
	cr_assert_eq(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);

	/* another key, and no security at all: nothing arrives */
	void *wrong = client_send(ctx, ep, &bad, "from the wrong key");
	void *plain = client_send(ctx, ep, NULL, "from a plain socket");
	char buf[128];
	cr_assert_lt(recv_text(server, buf, sizeof buf), 0, "received '%s' without the key", buf);
	cr_assert_eq(zmq_errno(), EAGAIN);

	/* the right key talks */
	void *right = client_send(ctx, ep, &good, "from a member");
	int timeout = 5000;
	cr_assert_eq(zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
	cr_assert_geq(recv_text(server, buf, sizeof buf), 0, "the right key got nothing through");
	cr_assert_str_eq(buf, "from a member");
	/* and still nothing from the others */
	timeout = 500;
	cr_assert_eq(zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
	zmq_send(wrong, "again", 5, ZMQ_DONTWAIT);
	cr_assert_lt(recv_text(server, buf, sizeof buf), 0, "received '%s' without the key", buf);

	/* a member connecting to a server of another cluster gets nothing through either */
	void *other = sock_new(ctx, ZMQ_PULL, 600);
	cr_assert_eq(keys_socket_server(other, &bad), SH_OK);
	cr_assert_eq(zmq_bind(other, "tcp://127.0.0.1:*"), 0);
	eplen = sizeof ep;
	cr_assert_eq(zmq_getsockopt(other, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);
	void *stray = client_send(ctx, ep, &good, "member to a stranger");
	cr_assert_lt(recv_text(other, buf, sizeof buf), 0, "a stranger received '%s'", buf);

	zmq_close(stray);
	zmq_close(other);
	zmq_close(right);
	zmq_close(plain);
	zmq_close(wrong);
	zmq_close(server);
	zmq_ctx_term(ctx);
}
