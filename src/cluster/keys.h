/*
 * keys.h - from a cluster key (`--cluster-key KEY`) to ZeroMQ CURVE keys and a beacon MAC key.
 *
 * Every node of a cluster is given the same key and derives the same material from it:
 *
 *   master   = Argon2id(key, salt "shoal-cluster-v1", interactive limits)   (~0.1 s, 64 MiB once)
 *   server   = X25519 keypair with secret KDF(master, 1, "shoalkey")
 *   client   = X25519 keypair with secret KDF(master, 2, "shoalkey")
 *   beacon   = KDF(master, 3, "shoalkey"), the HMAC-SHA512-256 (crypto_auth) key of discovery
 *
 * Every listening socket is a CURVE server with the shared server secret; every connecting
 * socket knows the shared server public key. A CURVE client must know the server's public key
 * to complete the handshake (its first box is sealed to it), and that key never travels on the
 * wire: it is known only to holders of the cluster key. A node with another key derives another
 * server key, its handshake fails, and nothing it sends reaches the application. The client
 * keypair is shared too, so a ZAP handler can additionally require it. Argon2id makes guessing a
 * weak key from captured traffic or beacons expensive; a long random key is still the advice.
 */
#ifndef SHOAL_KEYS_H
#define SHOAL_KEYS_H

#include "base/base.h"

#define KEYS_Z85_BYTES 41       /* a Z85 key: 40 characters and a NUL */
#define KEYS_AUTH_BYTES 32      /* crypto_auth tag */
#define KEYS_MAX_KEY 1024       /* bytes of a cluster key */

typedef struct {
	char server_public[KEYS_Z85_BYTES];  /* ZMQ_CURVE_SERVERKEY of every connecting socket */
	char server_secret[KEYS_Z85_BYTES];  /* ZMQ_CURVE_SECRETKEY of every listening socket */
	char client_public[KEYS_Z85_BYTES];  /* ZMQ_CURVE_PUBLICKEY of every connecting socket */
	char client_secret[KEYS_Z85_BYTES];  /* ZMQ_CURVE_SECRETKEY of every connecting socket */
	uint8_t beacon[32];                  /* crypto_auth key for discovery beacons */
} keys_cluster;

/* Derives everything from the cluster key (1..KEYS_MAX_KEY bytes). SH_OK, SH_EINVAL (bad key
 * length) or SH_ENOMEM / SH_EIO (libsodium could not start or hash); logged. */
int keys_derive(const char *key, size_t len, keys_cluster *out);
/* Wipes the material (sodium_memzero). */
void keys_clear(keys_cluster *k);

/* Makes a ZeroMQ socket a CURVE server (before bind) or client (before connect) of the cluster.
 * SH_OK, or SH_EUNSUP when libzmq lacks CURVE, SH_EIO when a socket option fails (logged). */
int keys_socket_server(void *zmq_socket, const keys_cluster *k);
int keys_socket_client(void *zmq_socket, const keys_cluster *k);

/* The beacon MAC: tag = HMAC-SHA512-256(beacon key, msg). verify is constant-time. */
void keys_auth(const keys_cluster *k, const void *msg, size_t len, uint8_t tag[KEYS_AUTH_BYTES]);
bool keys_auth_verify(const keys_cluster *k, const void *msg, size_t len, const uint8_t tag[KEYS_AUTH_BYTES]);

#endif
