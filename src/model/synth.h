/*
 * synth.h - models with a real model's shape and random weights: `shoal synth` and the tests'
 * own models, so real sizes and every weight type are at hand without downloads.
 */
#ifndef SHOAL_SYNTH_H
#define SHOAL_SYNTH_H

#include "base/base.h"

typedef struct {
	const char *name, *arch;   /* "tinyllama-1.1b", "llama" */
	int dim, n_layers, n_heads, n_kv_heads, ffn, n_ctx;
	float rope_base, rms_eps;
	bool tied, qkv_bias;       /* output head shared with the embedding; q/k/v biases (qwen2) */
	float llama3_factor;       /* llama 3.x rope scaling factor; 0: no rope_freqs */
} synth_preset;

typedef struct {
	const char *name;          /* "q4_k" */
	int weights, head;         /* QT_* of the layers' matrices and of the output head */
} synth_type;

extern const synth_preset synth_presets[];   /* ends with a NULL name */
extern const synth_type synth_types[];       /* ends with a NULL name */

const synth_preset *synth_preset_find(const char *name);
const synth_type *synth_type_find(const char *name);

/* Writes out: the preset's shape, weights of the type, the tokenizer of vocab_path (a GGUF),
 * drawn from seed (the same file for any n_threads; <= 0: every core). n_parts > 1 writes a split
 * set instead, OUT-0000k-of-0000N.gguf (out without its .gguf), with the same tensors. 0 or an
 * error (logged; an unknown preset or type names the known ones). */
int synth_write(const char *preset, const char *type, const char *vocab_path, uint64_t seed, int n_threads,
		int n_parts, const char *out);

#endif
