/*
 * fuzz_hub.c - libFuzzer target for what the hub layer reads from outside: model references
 * (hub_ref_parse, a user's string), quant names in file names (hub_quant_of) and the hub's tree
 * listing (hub_tree_parse, JSON from the network), whose files then go through hub_pick with the
 * input's first line as the reference. Checks: a parsed reference has valid, NUL-terminated parts
 * and formats back to a reference that parses to the same; a parsed listing has paths of at most
 * HUB_PATH_MAX bytes; a pick lies inside the listing. With FUZZ_WIRE_SEEDS=DIR, a real listing is
 * written there first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "hub/hub_pull.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sh_log_set_level(-1);
	const char *dir = getenv("FUZZ_WIRE_SEEDS");
	if (!dir)
		return 0;
	char path[4096];
	snprintf(path, sizeof path, "%s/tree.json", dir);
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs("o/r:Q4_K_M\n[{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef01234567\",\"size\":12,"
		      "\"path\":\"README.md\"},{\"type\":\"directory\",\"oid\":\"0123456789abcdef0123456789abcdef01234568\","
		      "\"size\":0,\"path\":\"sub\"},{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef01234569\","
		      "\"size\":1000,\"path\":\"sub/m-Q4_K_M-00001-of-00002.gguf\",\"lfs\":{\"oid\":"
		      "\"aa00000000000000000000000000000000000000000000000000000000000001\",\"size\":1000,\"pointerSize\":134}},"
		      "{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef0123456a\",\"size\":900,\"path\":"
		      "\"sub/m-Q4_K_M-00002-of-00002.gguf\",\"lfs\":{\"oid\":"
		      "\"aa00000000000000000000000000000000000000000000000000000000000002\",\"size\":900,\"pointerSize\":134}}]",
		      f);
		fclose(f);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t line = nl ? (size_t)(nl - data) : size;
	char *s = malloc(line + 1);
	if (!s)
		return 0;
	memcpy(s, data, line);
	s[line] = 0;
	hub_ref r;
	const char *why;
	bool is_ref = !hub_ref_parse(s, &r, &why);
	if (is_ref) {
		CHECK(r.org[0] && r.repo[0] && strlen(r.org) <= HUB_NAME_MAX && strlen(r.repo) <= HUB_NAME_MAX);
		CHECK(!(r.quant[0] && r.file[0]));
		char again[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
		hub_ref_format(&r, again, sizeof again);
		hub_ref r2;
		CHECK(!hub_ref_parse(again, &r2, &why) && !memcmp(&r, &r2, sizeof r));
	} else
		CHECK(why && *why);
	char q[HUB_NAME_MAX + 1];
	if (hub_quant_of(s, q, sizeof q))
		CHECK(q[0] && strlen(q) < sizeof q);
	free(s);
	if (!nl)
		return 0;
	hub_file *f = NULL;
	int n = 0, cap = 0;
	if (hub_tree_parse((const char *)nl + 1, size - line - 1, &f, &n, &cap)) {
		for (int i = 0; i < n; i++)
			CHECK(strlen(f[i].path) <= HUB_PATH_MAX);
		int pick[64], n_pick;
		char msg[1024];
		if (is_ref && !hub_pick(f, n, &r, pick, &n_pick, 64, msg, sizeof msg)) {
			CHECK(n_pick >= 1 && n_pick <= 64);
			for (int k = 0; k < n_pick; k++)
				CHECK(pick[k] >= 0 && pick[k] < n);
		}
	}
	free(f);
	return 0;
}
