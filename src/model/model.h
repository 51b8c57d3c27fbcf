/*
 * model.h - transformer architectures over a range of layers: hyperparameters, weight binding,
 * KV cache, and the batched forward pass.
 *
 * A model is always loaded as a shard: layers [first, last) of the file. The first shard (first
 * == 0) owns the token embedding and takes token ids; a later shard takes hidden states. The last
 * shard (last == n_layers) owns the final norm and output head and returns logits; others return
 * hidden states. A single-node run is the one shard [0, n_layers): the same code path.
 *
 * A forward step processes a batch of tokens that may belong to different sequences (each token
 * names its sequence's KV cache and its position), so prompt processing (many tokens, one
 * sequence) and multi-slot decoding (one token each of many sequences) are the same batched
 * matrix-matrix step.
 */
#ifndef SHOAL_MODEL_H
#define SHOAL_MODEL_H

#include "base/base.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "compute/quant.h"

enum model_arch { MODEL_ARCH_LLAMA = 1, MODEL_ARCH_QWEN2 = 2 };

typedef struct {
	enum model_arch arch;
	char arch_name[32];
	int n_vocab;
	int dim;          /* embedding length */
	int n_layers;
	int n_heads, n_kv_heads, head_dim;
	int ffn_dim;
	int n_ctx_train;
	int rope_dim;     /* rotated dims per head (<= head_dim) */
	float rope_base;
	bool rope_neox;   /* rotate halves (qwen2) instead of adjacent pairs (llama) */
	float rms_eps;
} model_hparams;

/* A weight matrix [n_in, n_out] in GGUF order: n_out rows of n_in elements of `type`. */
typedef struct {
	int type;
	int64_t n_in, n_out;
	size_t row_bytes;
	const uint8_t *data;   /* inside the mapping */
} model_weight;

typedef struct {
	float *attn_norm;                 /* [dim] */
	model_weight wq, wk, wv, wo;      /* [dim, n_heads*hd], [dim, n_kv*hd] x2, [n_heads*hd, dim] */
	float *bq, *bk, *bv;              /* qwen2: [n_heads*hd], [n_kv*hd] x2; NULL for llama */
	float *ffn_norm;                  /* [dim] */
	model_weight w_gate, w_up, w_down;/* [dim, ffn] x2, [ffn, dim] */
} model_layer;

typedef struct model {
	gguf_ctx *g;
	model_hparams hp;
	int first, last;           /* layer range held: [first, last) */
	model_weight token_embd;   /* [dim, n_vocab], first shard only */
	float *output_norm;        /* [dim], last shard only */
	model_weight output;       /* [dim, n_vocab], last shard only (token_embd when tied) */
	float *rope_inv_freq;      /* [rope_dim/2] base^(-2i/rope_dim) / rope_freqs[i] */
	model_layer *layers;       /* [last - first] */
	uint64_t weight_bytes;     /* bytes of weights this shard reads per token */
} model;

/* Reads and validates hyperparameters (unsupported architecture: SH_EUNSUP, logged). */
int model_hparams_read(const gguf_ctx *g, model_hparams *hp);
/* Opens path and binds layers [first, last); last < 0 means n_layers. NULL on error (logged). */
model *model_load(const char *path, int first, int last, int *err);
void model_free(model *m);
bool model_is_first(const model *m);
bool model_is_last(const model *m);

/* ---------------------------------------------------------------- KV cache */
/* Each position's K and V rows (kv_dim = n_kv_heads * head_dim elements) are stored in one element
 * type: f16 by default (llama.cpp's too; half of f32's memory, and attention reads half the bytes),
 * f32 (what the model computes, bit for bit), or q8_0 (blocks of 32 with an f16 scale: 53% of
 * f16; head_dim must be a multiple of 32 so that no block straddles two heads). */
#define KV_TYPE_DEFAULT QT_F16

typedef struct {
	int n_ctx;
	int n_layers;      /* layers of the shard */
	int kv_dim;        /* n_kv_heads * head_dim */
	int type;          /* QT_F32, QT_F16 or QT_Q8_0 */
	size_t row;        /* bytes of one position's K (or V) row */
	uint8_t *k, *v;    /* [n_layers][n_ctx][row] */
	uint64_t bytes;    /* of k (and of v) */
} kv_cache;

/* "f32", "f16" or "q8_0" (any case) to *type: 0, or SH_EINVAL */
int kv_type_parse(const char *s, int *type);
const char *kv_type_name(int type);
/* 0 when the model's heads can be cached in type; SH_EINVAL (why logged) otherwise */
int kv_type_check(const model_hparams *hp, int type);
/* bytes of one position's K and V of one layer, together */
uint64_t kv_bytes_per_pos(const model_hparams *hp, int type);
/* A cache of n_ctx positions for the shard's layers; NULL on error (logged). */
kv_cache *kv_cache_init(const model *m, int n_ctx, int type);
void kv_cache_free(kv_cache *kv);

/* ---------------------------------------------------------------- forward */
typedef struct {
	int n;                  /* tokens in the batch */
	const int *tokens;      /* [n] token ids (first shard) */
	const float *embd;      /* [n, dim] hidden states in (later shards) */
	const int *pos;         /* [n] position of each token in its sequence */
	kv_cache *const *kv;    /* [n] cache of each token's sequence */
	const bool *logits;     /* [n] which tokens need logits (last shard); NULL: all */
} model_batch;

typedef struct model_ctx model_ctx;

/* Scratch for batches of up to n_batch tokens, running on pool. */
model_ctx *model_ctx_init(model *m, pool *p, int n_batch);
/* the bytes of that scratch, with attention's for a context of n_ctx on n_threads */
uint64_t model_ctx_bytes(const model_hparams *hp, int n_batch, int n_threads, int n_ctx);
void model_ctx_free(model_ctx *c);

/* Runs the shard's layers over the batch. Output: last shard: logits [n_out, n_vocab] for the
 * tokens asked for, in batch order; other shards: hidden [n, dim]. Returns n_out rows written
 * or a negative error (positions past a cache's n_ctx: SH_ERANGE). */
int model_forward(model_ctx *c, const model_batch *b, float *out);

#endif
