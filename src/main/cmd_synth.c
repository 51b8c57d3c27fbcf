/*
 * cmd_synth.c - `shoal synth`: writes a GGUF with a real model's shape and random weights
 * (src/model/synth.c), so tests and benchmarks get real sizes without downloads.
 */
#include "main/cmds.h"
#include "model/synth.h"

int cmd_synth(int argc, char **argv)
{
	const char *preset = NULL, *type = NULL, *vocab_path = NULL, *out = NULL;
	long seed = 1234;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool ok = true;
		if (!strcmp(a, "--preset"))
			ok = (preset = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--type"))
			ok = (type = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--vocab"))
			ok = (vocab_path = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "-o"))
			ok = (out = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--seed"))
			ok = opt_int(argc, argv, &i, 0, 0x7fffffffL, &seed);
		else {
			sh_log_error("unknown option '%s'", a);
			ok = false;
		}
		if (!ok)
			return 1;
	}
	if (!preset || !type || !vocab_path || !out) {
		sh_log_error("usage: shoal synth --preset NAME --type {f16,q8_0,q4_0,q4_k} --vocab VOCAB.gguf -o OUT.gguf");
		return 1;
	}
	return synth_write(preset, type, vocab_path, (uint64_t)seed, 0, out) ? 1 : 0;
}
