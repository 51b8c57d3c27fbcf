/*
 * cmd_synth.c - `shoal synth`: writes a GGUF with a real model's shape and random weights
 * (src/model/synth.c), so tests and benchmarks get real sizes without downloads. Its help lists the
 * presets and weight types from synth's own tables. --split N writes the model as a split set of N
 * parts, as llama.cpp's gguf-split does, for testing split loading without a big download.
 */
#include "main/cmds.h"
#include "gguf/gguf.h"
#include "model/synth.h"

#include <stdio.h>

int cmd_synth(int argc, char **argv)
{
	const char *preset = NULL, *type = NULL, *vocab_path = NULL, *out = NULL;
	long seed = 1234, threads = 0, split = 1;
	char preset_help[1024], type_help[256];
	size_t k = (size_t)snprintf(preset_help, sizeof preset_help, "the shape of a real model:");
	for (const synth_preset *p = synth_presets; p->name && k < sizeof preset_help; p++)
		k += (size_t)snprintf(preset_help + k, sizeof preset_help - k, " %s (%s, %d layers, dim %d)%s", p->name,
				      p->arch, p->n_layers, p->dim, p[1].name ? "," : "");
	k = (size_t)snprintf(type_help, sizeof type_help, "the weights' type:");
	for (const synth_type *t = synth_types; t->name && k < sizeof type_help; t++)
		k += (size_t)snprintf(type_help + k, sizeof type_help - k, " %s%s", t->name, t[1].name ? "," : "");
	snprintf(type_help + k, sizeof type_help - SH_MIN(k, sizeof type_help - 1),
		 " (q4_0 and q4_k keep the output head in Q6_K; q4_k is Q4_K_M's mix)");
	const opt table[] = {
		OPTS_STR_REQUIRED("--preset", NULL, "NAME", &preset, preset_help),
		OPTS_STR_REQUIRED("--type", NULL, "TYPE", &type, type_help),
		OPTS_STR_REQUIRED("--vocab", NULL, "VOCAB.gguf", &vocab_path,
				  "a GGUF file whose tokenizer the model gets (any model or vocab-only file)"),
		OPTS_STR_REQUIRED("--output", "-o", "OUT.gguf", &out,
				  "the file to write (with --split: what the parts are named after)"),
		OPTS_INT("--seed", NULL, "S", &seed, 0, 0x7fffffffL, "the weights' random seed: the same seed, the same file"),
		OPTS_INT("--threads", "-t", "N", &threads, 1, 1024, "threads (default: one per core; the file is the same for any)"),
		OPTS_INT("--split", NULL, "N", &split, 1, GGUF_SPLIT_MAX,
			 "write a split set of N parts, as llama.cpp's gguf-split does: OUT-00001-of-0000N.gguf to "
			 "OUT-0000N-of-0000N.gguf (OUT is -o without .gguf), which loads as the one file (default: 1, "
			 "one file)"),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "synth", "--preset NAME --type TYPE --vocab VOCAB.gguf -o OUT.gguf [options]",
			       "Writes a GGUF model with a real model's shape and random weights (uniform, std 0.02), so "
			       "tests and benchmarks get real sizes and every weight type without downloads.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	return synth_write(preset, type, vocab_path, (uint64_t)seed, (int)threads, (int)split, out) ? 1 : 0;
}
