/*
 * engine.h - one model on this node, ready to run a single sequence: the shard over all layers,
 * its vocabulary, a thread pool, forward scratch and one KV cache. Used by generate, logits and
 * bench; the server gives each slot its own cache over the same model.
 */
#ifndef SHOAL_ENGINE_H
#define SHOAL_ENGINE_H

#include "model/model.h"
#include "vocab/vocab.h"

#define ENGINE_BATCH 256   /* tokens per forward step during prompt processing */

typedef struct {
	model *m;
	vocab *v;          /* NULL when not asked for */
	pool *p;
	model_ctx *ctx;
	kv_cache *kv;
	int n_ctx;
	float *logits;     /* [ENGINE_BATCH, n_vocab] */
} engine;

/* n_threads <= 0: all cores; n_ctx <= 0: min(4096, the model's). Returns 0 or an error (logged). */
int engine_open(engine *e, const char *path, int n_threads, int n_ctx, bool with_vocab);
void engine_close(engine *e);
/* Runs tokens [0, n) at positions pos0.. in chunks; all_logits: logits of every token go to
 * out [n, n_vocab], else only the last token's to out [n_vocab]. Returns 0 or an error. */
int engine_eval(engine *e, const int *tokens, int n, int pos0, bool all_logits, float *out);

#endif
