/*
 * fuzz_beacon.c - libFuzzer target for the discovery beacon decoder (src/cluster/beacon.c).
 *
 * Each input is decoded twice: by a node without a cluster key and by one with a key (its
 * beacon MAC key set directly; Argon2id would cost 80 ms an input). A rejected input must come
 * with SH_EFORMAT or BEACON_EAUTH and a non-empty message. An accepted one must satisfy the
 * beacon's rules (string lengths and bytes, node port) and re-encode, under the same key, to
 * exactly the input's bytes: the decoder accepts only canonical beacons and the encoder writes
 * what the decoder reads. A keyed node accepting an input means the fuzzer forged a tag, which
 * the re-encoding check would catch as well. With FUZZ_WIRE_SEEDS=DIR in the environment (the
 * variable tests/run.sh sets for every target), the target first writes a plain and an
 * authenticated beacon into DIR.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/beacon.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static keys_cluster g_key;

static void one(const uint8_t *data, size_t size, const keys_cluster *k)
{
	beacon_msg m;
	char err[BEACON_ERR_CAP];
	int e = beacon_decode(data, size, k, &m, err, sizeof err);
	if (e) {
		CHECK((e == SH_EFORMAT || e == BEACON_EAUTH) && err[0]);
		return;
	}
	size_t c = strlen(m.cluster), d = strlen(m.model);
	CHECK(c >= 1 && c <= WIRE_MAX_NAME && d <= WIRE_MAX_MODEL && m.node_port != 0);
	CHECK(size == BEACON_FIXED_BYTES + c + d + (k ? KEYS_AUTH_BYTES : 0));
	uint8_t out[BEACON_MAX_BYTES];
	CHECK(beacon_encode(&m, k, out, size) == (int)size);
	CHECK(!memcmp(out, data, size));
}

static void seed_write(const char *dir, const char *name, const keys_cluster *k)
{
	beacon_msg m = { .id = { 1, 2, 3, 4 }, .instance = 0x1122334455667788ull, .node_port = 8643, .api_port = 8642 };
	strcpy(m.cluster, "home-lab");
	strcpy(m.model, "llama-3.2-1b-instruct:q4_k_m");
	uint8_t buf[BEACON_MAX_BYTES];
	int n = beacon_encode(&m, k, buf, sizeof buf);
	CHECK(n > 0);
	char path[1024];
	snprintf(path, sizeof path, "%s/seed_%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, (size_t)n, f);
		fclose(f);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	sh_base_init();
	sh_log_set_level(-1);
	memset(g_key.beacon, 0x5a, sizeof g_key.beacon);
	const char *dir = getenv("FUZZ_WIRE_SEEDS");
	if (dir && *dir) {
		seed_write(dir, "beacon_plain", NULL);
		seed_write(dir, "beacon_auth", &g_key);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, NULL);
	one(data, size, &g_key);
	return 0;
}
