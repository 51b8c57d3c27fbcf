/*
 * keys.c - cluster key to CURVE keypairs and the beacon MAC key (scheme in keys.h).
 *
 * The derivation uses only fixed constants (salt, KDF context, subkey ids), so every node and
 * every run turns one key into the same keys. Changing any constant changes every key and so
 * the protocol: it is part of protocol v1 (docs/protocol.md).
 */
#include "cluster/keys.h"

#include <errno.h>
#include <sodium.h>
#include <zmq.h>

#define KEYS_SALT "shoal-cluster-v1"    /* crypto_pwhash_SALTBYTES (16) bytes */
#define KEYS_CONTEXT "shoalkey"         /* crypto_kdf_CONTEXTBYTES (8) bytes */
enum { KEYS_SUB_SERVER = 1, KEYS_SUB_CLIENT = 2, KEYS_SUB_BEACON = 3 };

_Static_assert(sizeof KEYS_SALT - 1 == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(sizeof KEYS_CONTEXT - 1 == crypto_kdf_CONTEXTBYTES, "kdf context size");
_Static_assert(crypto_auth_BYTES == KEYS_AUTH_BYTES && crypto_auth_KEYBYTES == 32, "crypto_auth sizes");
_Static_assert(crypto_scalarmult_BYTES == 32 && crypto_kdf_KEYBYTES == 32, "x25519 sizes");

/* an X25519 keypair from subkey `sub`, Z85-encoded */
static int keypair(const uint8_t master[32], uint64_t sub, char pub[KEYS_Z85_BYTES], char sec[KEYS_Z85_BYTES])
{
	uint8_t sk[32], pk[32];
	int err = SH_OK;
	if (crypto_kdf_derive_from_key(sk, sizeof sk, sub, KEYS_CONTEXT, master) ||
	    crypto_scalarmult_base(pk, sk) || !zmq_z85_encode(pub, pk, 32) || !zmq_z85_encode(sec, sk, 32)) {
		sh_log_error("cluster key: deriving a keypair failed");
		err = SH_EIO;
	}
	sodium_memzero(sk, sizeof sk);
	return err;
}

int keys_derive(const char *key, size_t len, keys_cluster *out)
{
	memset(out, 0, sizeof *out);
	if (len < 1 || len > KEYS_MAX_KEY) {
		sh_log_error("cluster key: %zu bytes (1 to %d)", len, KEYS_MAX_KEY);
		return SH_EINVAL;
	}
	if (sodium_init() < 0) {
		sh_log_error("cluster key: libsodium failed to initialize");
		return SH_EIO;
	}
	uint8_t master[32];
	if (crypto_pwhash(master, sizeof master, key, len, (const uint8_t *)KEYS_SALT,
			  crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
			  crypto_pwhash_ALG_ARGON2ID13)) {
		sh_log_error("cluster key: key stretching failed (out of memory?)");
		return SH_ENOMEM;
	}
	int err = keypair(master, KEYS_SUB_SERVER, out->server_public, out->server_secret);
	if (!err)
		err = keypair(master, KEYS_SUB_CLIENT, out->client_public, out->client_secret);
	if (!err && crypto_kdf_derive_from_key(out->beacon, sizeof out->beacon, KEYS_SUB_BEACON, KEYS_CONTEXT, master)) {
		sh_log_error("cluster key: deriving the beacon key failed");
		err = SH_EIO;
	}
	sodium_memzero(master, sizeof master);
	if (err)
		keys_clear(out);
	return err;
}

void keys_clear(keys_cluster *k)
{
	if (k)
		sodium_memzero(k, sizeof *k);
}

/* ---------------------------------------------------------------- sockets */
static int sockopt(void *s, int opt, const void *v, size_t n, const char *name)
{
	if (zmq_setsockopt(s, opt, v, n)) {
		sh_log_error("cluster key: setting %s failed: %s", name, zmq_strerror(errno));
		return SH_EIO;
	}
	return SH_OK;
}

static int curve_check(void)
{
	if (!zmq_has("curve")) {
		sh_log_error("cluster key: this libzmq has no CURVE security");
		return SH_EUNSUP;
	}
	return SH_OK;
}

int keys_socket_server(void *s, const keys_cluster *k)
{
	int one = 1, err = curve_check();
	if (!err)
		err = sockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
	if (!err)
		err = sockopt(s, ZMQ_CURVE_SECRETKEY, k->server_secret, 40, "ZMQ_CURVE_SECRETKEY");
	return err;
}

int keys_socket_client(void *s, const keys_cluster *k)
{
	int err = curve_check();
	if (!err)
		err = sockopt(s, ZMQ_CURVE_SERVERKEY, k->server_public, 40, "ZMQ_CURVE_SERVERKEY");
	if (!err)
		err = sockopt(s, ZMQ_CURVE_PUBLICKEY, k->client_public, 40, "ZMQ_CURVE_PUBLICKEY");
	if (!err)
		err = sockopt(s, ZMQ_CURVE_SECRETKEY, k->client_secret, 40, "ZMQ_CURVE_SECRETKEY");
	return err;
}

/* ---------------------------------------------------------------- beacon MAC */
void keys_auth(const keys_cluster *k, const void *msg, size_t len, uint8_t tag[KEYS_AUTH_BYTES])
{
	crypto_auth(tag, msg, len, k->beacon);
}

bool keys_auth_verify(const keys_cluster *k, const void *msg, size_t len, const uint8_t tag[KEYS_AUTH_BYTES])
{
	return crypto_auth_verify(tag, msg, len, k->beacon) == 0;
}
