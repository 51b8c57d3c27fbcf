/*
 * synth.c - writes a GGUF with a real model's shape and random weights, so tests and benchmarks get
 * real sizes without downloads (`shoal synth`, and the unit tests' own small models).
 *
 * The tokenizer (every tokenizer.* key) is copied from a vocab GGUF, which also fixes n_vocab.
 * Weights are uniform with std 0.02 (norms around 1), generated row by row from a per-row seed
 * (so the file does not depend on the thread count) and quantized with our reference quantizers.
 * Type mixes follow llama.cpp's: q4_k is Q4_K_M (Q6_K for the output head and for attn_v and
 * ffn_down of "more bits" layers), q4_0 keeps the output head in Q6_K; a row length that is not a
 * multiple of a type's block falls back to Q8_0, then F16. With n_parts > 1 the same tensors go
 * into a split set (gguf_writer_write_split), which opens as the same model.
 */
#include "model/synth.h"
#include "base/pool.h"
#include "compute/quant.h"
#include "gguf/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const synth_preset synth_presets[] = {
	{ "tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 2048, 10000.0f, 1e-5f, false, false, 0 },
	{ "llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, true, false, 32 },
	{ "llama-3.2-3b", "llama", 3072, 28, 24, 8, 8192, 131072, 500000.0f, 1e-5f, true, false, 32 },
	{ "llama-3.1-8b", "llama", 4096, 32, 32, 8, 14336, 131072, 500000.0f, 1e-5f, false, false, 8 },
	{ "mistral-7b", "llama", 4096, 32, 32, 8, 14336, 32768, 1000000.0f, 1e-5f, false, false, 0 },
	{ "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f, true, true, 0 },
	{ "qwen2.5-1.5b", "qwen2", 1536, 28, 12, 2, 8960, 32768, 1000000.0f, 1e-6f, true, true, 0 },
	{ "test-tiny", "llama", 256, 4, 8, 4, 768, 2048, 10000.0f, 1e-5f, false, false, 0 },
	{ "test-tiny-qwen2", "qwen2", 256, 4, 8, 4, 768, 2048, 1000000.0f, 1e-6f, true, true, 0 },
	{ "test-tiny-llama3", "llama", 256, 4, 8, 4, 768, 8192, 500000.0f, 1e-5f, true, false, 8 },
	/* ~51 MB in q4_0 with the bundled vocabulary, tied head: for tests of moving a model (cluster_share.sh) */
	{ "test-mid", "llama", 1024, 8, 16, 4, 2816, 2048, 10000.0f, 1e-5f, true, false, 0 },
	{ NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, false, false, 0 },
};

const synth_type synth_types[] = {
	{ "f32", QT_F32, QT_F32 },
	{ "f16", QT_F16, QT_F16 },
	{ "bf16", QT_BF16, QT_BF16 },
	{ "q8_0", QT_Q8_0, QT_Q8_0 },
	{ "q4_0", QT_Q4_0, QT_Q6_K },
	{ "q4_k", QT_Q4_K, QT_Q6_K },
	{ NULL, 0, 0 },
};

typedef enum { SYN_MATRIX, SYN_NORM, SYN_BIAS, SYN_ROPE_FREQS } synth_kind;

typedef struct {
	synth_kind kind;
	int type;
	int64_t ne[2];
} synth_tensor;

typedef struct {
	const synth_preset *p;
	synth_tensor *t;
	int n_t;
	uint64_t seed;
	pool *pool;
	float *tmp;       /* [n_threads, max_in] one row of floats per thread */
	int64_t max_in;
	/* per fill call */
	int idx;
	uint8_t *buf;
} synth_ctx;

static int synth_pick(int want, int64_t n_in)
{
	if (n_in % quant_get(want)->blck_size == 0)
		return want;
	return n_in % QK8_0 == 0 ? QT_Q8_0 : QT_F16;
}

static bool more_bits(int il, int n) { return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2; }

/* llama 3 rope scaling: the divisor of each frequency */
static float synth_rope_factor(const synth_preset *p, int i, int rope_dim)
{
	const double orig_ctx = 8192, low = 1, high = 4;
	double freq = pow(p->rope_base, -2.0 * i / rope_dim), wavelen = 2 * M_PI / freq;
	if (wavelen < orig_ctx / high)
		return 1.0f;
	if (wavelen > orig_ctx / low)
		return p->llama3_factor;
	double smooth = (orig_ctx / wavelen - low) / (high - low);
	return (float)(1.0 / ((1 - smooth) / p->llama3_factor + smooth));
}

static void synth_rows_task(void *arg, int ith, int nth)
{
	synth_ctx *s = arg;
	const synth_tensor *t = &s->t[s->idx];
	int64_t n_in = t->ne[0];
	size_t row = quant_row_size(t->type, n_in);
	float *tmp = s->tmp + (size_t)ith * s->max_in;
	int lo, hi;
	pool_split((int)t->ne[1], ith, nth, &lo, &hi);
	const float a = 0.02f * 1.7320508f; /* uniform(-a, a) has std 0.02 */
	for (int r = lo; r < hi; r++) {
		sh_rng rng;
		sh_rng_seed(&rng, s->seed ^ ((uint64_t)s->idx << 40) ^ (uint64_t)r * 0x9E3779B97F4A7C15ull);
		for (int64_t i = 0; i < n_in; i++) {
			float u = 2.0f * sh_rng_f32(&rng) - 1.0f;
			tmp[i] = t->kind == SYN_MATRIX ? u * a : t->kind == SYN_NORM ? 1.0f + 0.1f * u : 0.02f * u;
		}
		if (t->kind == SYN_ROPE_FREQS)
			for (int64_t i = 0; i < n_in; i++)
				tmp[i] = synth_rope_factor(s->p, (int)i, (int)n_in * 2);
		if (t->type == QT_F32)
			memcpy(s->buf + (size_t)r * row, tmp, row);
		else
			quant_get(t->type)->from_float(tmp, s->buf + (size_t)r * row, n_in);
	}
}

static int synth_fill(void *user, int idx, void *buf, uint64_t size)
{
	synth_ctx *s = user;
	s->idx = idx;
	s->buf = buf;
	SH_ASSERT(size == quant_row_size(s->t[idx].type, s->t[idx].ne[0]) * (uint64_t)s->t[idx].ne[1]);
	pool_run(s->pool, synth_rows_task, s);
	return 0;
}

static void synth_add(gguf_writer *w, synth_tensor *list, int *n, const char *name, synth_kind kind, int type,
		      int64_t ne0, int64_t ne1)
{
	synth_tensor *t = &list[(*n)++];
	t->kind = kind;
	t->type = kind == SYN_MATRIX ? synth_pick(type, ne0) : QT_F32;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	gguf_writer_add_tensor(w, name, t->type, ne1 > 1 ? 2 : 1, t->ne);
}

const synth_preset *synth_preset_find(const char *name)
{
	for (const synth_preset *p = synth_presets; p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

const synth_type *synth_type_find(const char *name)
{
	for (const synth_type *t = synth_types; t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

int synth_write(const char *preset, const char *type, const char *vocab_path, uint64_t seed, int n_threads,
		int n_parts, const char *out)
{
	const synth_preset *p = synth_preset_find(preset);
	const synth_type *ty = synth_type_find(type);
	char names[512];
	if (!p || !ty) {
		size_t k = 0;
		names[0] = 0;
		for (int i = 0; p ? synth_types[i].name != NULL : synth_presets[i].name != NULL; i++)
			k += (size_t)snprintf(names + k, sizeof names - SH_MIN(k, sizeof names - 1), "%s%s", i ? ", " : "",
					      p ? synth_types[i].name : synth_presets[i].name);
		sh_log_error("synth: unknown %s '%s' (%s)", p ? "type" : "preset", p ? type : preset, names);
		return SH_EINVAL;
	}
	int wtype = ty->weights, head_type = ty->head;
	quant_init(NULL);
	int err = 0, rc = SH_EIO;
	gguf_ctx *vg = gguf_open(vocab_path, &err);
	gguf_writer *w = gguf_writer_init();
	synth_ctx s = { .p = p, .seed = seed };
	const gguf_kv *toks = vg ? gguf_kv_find(vg, "tokenizer.ggml.tokens") : NULL;
	if (!vg || !w)
		goto done;
	if (!toks || toks->type != GGUF_T_ARRAY || toks->arr_type != GGUF_T_STRING || toks->arr_n == 0 ||
	    toks->arr_n > (1 << 24)) {
		sh_log_error("%s: no tokenizer.ggml.tokens array", vocab_path);
		goto done;
	}
	int64_t n_vocab = (int64_t)toks->arr_n, hd = p->dim / p->n_heads;
	int64_t q_dim = (int64_t)p->n_heads * hd, kv_dim = (int64_t)p->n_kv_heads * hd;
	char key[128], name[96];
	gguf_writer_set_str(w, "general.architecture", p->arch);
	gguf_writer_set_str(w, "general.name", p->name);
	gguf_writer_set_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
#define AKEY(k) (snprintf(key, sizeof key, "%s.%s", p->arch, k), key)
	gguf_writer_set_u32(w, AKEY("context_length"), (uint32_t)p->n_ctx);
	gguf_writer_set_u32(w, AKEY("embedding_length"), (uint32_t)p->dim);
	gguf_writer_set_u32(w, AKEY("block_count"), (uint32_t)p->n_layers);
	gguf_writer_set_u32(w, AKEY("feed_forward_length"), (uint32_t)p->ffn);
	gguf_writer_set_u32(w, AKEY("attention.head_count"), (uint32_t)p->n_heads);
	gguf_writer_set_u32(w, AKEY("attention.head_count_kv"), (uint32_t)p->n_kv_heads);
	gguf_writer_set_u32(w, AKEY("rope.dimension_count"), (uint32_t)hd);
	gguf_writer_set_f32(w, AKEY("rope.freq_base"), p->rope_base);
	gguf_writer_set_f32(w, AKEY("attention.layer_norm_rms_epsilon"), p->rms_eps);
	gguf_writer_set_u32(w, AKEY("vocab_size"), (uint32_t)n_vocab);
#undef AKEY
	for (uint64_t i = 0; i < vg->n_kv; i++)
		if (vg->kv[i].key.len > 10 && !memcmp(vg->kv[i].key.ptr, "tokenizer.", 10))
			gguf_writer_copy_kv(w, vg, &vg->kv[i]);

	int max_t = 4 + 12 * p->n_layers;
	if (!(s.t = calloc((size_t)max_t, sizeof *s.t)))
		goto done;
	synth_add(w, s.t, &s.n_t, "token_embd.weight", SYN_MATRIX, p->tied ? head_type : wtype, p->dim, n_vocab);
	synth_add(w, s.t, &s.n_t, "output_norm.weight", SYN_NORM, QT_F32, p->dim, 1);
	if (!p->tied)
		synth_add(w, s.t, &s.n_t, "output.weight", SYN_MATRIX, head_type, p->dim, n_vocab);
	if (p->llama3_factor > 0)
		synth_add(w, s.t, &s.n_t, "rope_freqs.weight", SYN_ROPE_FREQS, QT_F32, hd / 2, 1);
	for (int il = 0; il < p->n_layers; il++) {
		int mb = wtype == QT_Q4_K && more_bits(il, p->n_layers) ? QT_Q6_K : wtype;
#define LN(x) (snprintf(name, sizeof name, "blk.%d.%s", il, x), name)
		synth_add(w, s.t, &s.n_t, LN("attn_norm.weight"), SYN_NORM, QT_F32, p->dim, 1);
		synth_add(w, s.t, &s.n_t, LN("attn_q.weight"), SYN_MATRIX, wtype, p->dim, q_dim);
		synth_add(w, s.t, &s.n_t, LN("attn_k.weight"), SYN_MATRIX, wtype, p->dim, kv_dim);
		synth_add(w, s.t, &s.n_t, LN("attn_v.weight"), SYN_MATRIX, mb, p->dim, kv_dim);
		if (p->qkv_bias) {
			synth_add(w, s.t, &s.n_t, LN("attn_q.bias"), SYN_BIAS, QT_F32, q_dim, 1);
			synth_add(w, s.t, &s.n_t, LN("attn_k.bias"), SYN_BIAS, QT_F32, kv_dim, 1);
			synth_add(w, s.t, &s.n_t, LN("attn_v.bias"), SYN_BIAS, QT_F32, kv_dim, 1);
		}
		synth_add(w, s.t, &s.n_t, LN("attn_output.weight"), SYN_MATRIX, wtype, q_dim, p->dim);
		synth_add(w, s.t, &s.n_t, LN("ffn_norm.weight"), SYN_NORM, QT_F32, p->dim, 1);
		synth_add(w, s.t, &s.n_t, LN("ffn_gate.weight"), SYN_MATRIX, wtype, p->dim, p->ffn);
		synth_add(w, s.t, &s.n_t, LN("ffn_up.weight"), SYN_MATRIX, wtype, p->dim, p->ffn);
		synth_add(w, s.t, &s.n_t, LN("ffn_down.weight"), SYN_MATRIX, mb, p->ffn, p->dim);
#undef LN
	}
	SH_ASSERT(s.n_t <= max_t);
	s.max_in = SH_MAX(SH_MAX(p->dim, p->ffn), q_dim);
	if (!(s.pool = pool_init(n_threads > 0 ? n_threads : sh_cpu_count())) ||
	    !(s.tmp = malloc(sizeof(float) * (size_t)s.max_in * (size_t)pool_shares(s.pool))))
		goto done;
	double t0 = sh_time_sec();
	if (n_parts > 1) {
		/* out without its .gguf is the set's prefix */
		size_t n = strlen(out), np = n > 5 && !strcmp(out + n - 5, ".gguf") ? n - 5 : n;
		char *prefix = sh_alloc(np + 1), *part = sh_alloc(np + 32);
		if (!prefix || !part)
			rc = SH_ENOMEM;
		else {
			memcpy(prefix, out, np);
			rc = gguf_writer_write_split(w, prefix, n_parts, synth_fill, &s);
		}
		if (rc == 0) {
			sh_log_info("wrote a split set of %d parts (%s, %s, %d tensors) in %.1f s:", n_parts, p->name, type,
				    s.n_t, sh_time_sec() - t0);
			for (int k = 1; k <= n_parts; k++) {
				gguf_split_path(prefix, k, n_parts, part, np + 32);
				sh_log_info("  %s", part);
			}
		}
		sh_free(prefix);
		sh_free(part);
	} else if ((rc = gguf_writer_write(w, out, synth_fill, &s)) == 0)
		sh_log_info("wrote %s (%s, %s, %d tensors) in %.1f s", out, p->name, type, s.n_t, sh_time_sec() - t0);
done:
	pool_free(s.pool);
	free(s.tmp);
	free(s.t);
	gguf_writer_free(w);
	gguf_free(vg);
	return rc;
}
