/*
 * engine.h - one model on this node: the shard over all layers, its vocabulary, a thread pool,
 * forward scratch and n_seq KV caches (sequences). generate, logits and bench use one sequence
 * (engine_eval); the server gives each slot its own sequence and advances all of them with one
 * batched step (engine_step).
 *
 * engine_step is the unit the slot scheduler (src/serve) drives: a batch of tokens that each name
 * a sequence id and a position, logits back for the tokens asked for. Sequences are ids, not
 * cache pointers, so the same step can later travel through a pipeline of nodes that each keep
 * the caches of their own layers.
 */
#ifndef SHOAL_ENGINE_H
#define SHOAL_ENGINE_H

#include "model/model.h"
#include "vocab/vocab.h"

#define ENGINE_BATCH 256   /* tokens per forward step */
#define ENGINE_MAX_SEQ 256 /* sequences (KV caches) per engine */

typedef struct {
	model *m;
	vocab *v;          /* NULL when not asked for */
	pool *p;
	model_ctx *ctx;
	kv_cache *kv;      /* == kvs[0] */
	kv_cache **kvs;    /* [n_seq] one cache per sequence */
	int n_seq;
	int n_ctx;         /* positions per sequence */
	float *logits;     /* [ENGINE_BATCH, n_vocab] */
} engine;

/* n_threads <= 0: all cores; n_ctx <= 0: min(4096, the model's). Returns 0 or an error (logged).
 * engine_open has one sequence (an f16 cache); engine_open_seqs n_seq in [1, ENGINE_MAX_SEQ], each with n_ctx
 * positions (caches are mmapped: untouched context costs no memory). */
int engine_open(engine *e, const char *path, int n_threads, int n_ctx, bool with_vocab);
int engine_open_seqs(engine *e, const char *path, int n_threads, int n_ctx, int n_seq, int cache_type,
		     bool with_vocab);
void engine_close(engine *e);

/* the memory engine_open_seqs takes for a model of hp whose tensors are weights bytes: n_seq caches
 * of n_ctx positions (<= 0: the default) in cache_type, and the scratch of n_threads (<= 0: every
 * core) with the logits of a batch */
typedef struct {
	uint64_t weights, kv, scratch;
} engine_memory;
engine_memory engine_memory_of(const model_hparams *hp, uint64_t weights, int n_ctx, int n_seq, int cache_type,
			       int n_threads);
/* Runs tokens [0, n) of sequence 0 at positions pos0.. in chunks; all_logits: logits of every
 * token go to out [n, n_vocab], else only the last token's to out [n_vocab]. Returns 0 or an error. */
int engine_eval(engine *e, const int *tokens, int n, int pos0, bool all_logits, float *out);

/* One forward step over tokens of any sequences. */
typedef struct {
	int n;               /* tokens, [1, ENGINE_BATCH] */
	const int *tokens;   /* [n] token ids */
	const int *seq;      /* [n] sequence of each token, [0, n_seq) */
	const int *pos;      /* [n] position of each token in its sequence, [0, n_ctx) */
	const bool *logits;  /* [n] tokens whose logits are wanted; NULL: all */
} engine_batch;

/* Logits of the tokens asked for go to out [n_out, n_vocab] in batch order. Returns n_out or a
 * negative error (bad sequence id or size: SH_EINVAL; position outside the context: SH_ERANGE). */
int engine_step(engine *e, const engine_batch *b, float *out);

#endif
