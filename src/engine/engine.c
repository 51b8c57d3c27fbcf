/*
 * engine.c - load a whole model with a pool and n_seq KV caches, and feed token runs (one
 * sequence) or mixed batches (many sequences) through it.
 */
#include "engine/engine.h"

int engine_open(engine *e, const char *path, int n_threads, int n_ctx, bool with_vocab)
{
	return engine_open_seqs(e, path, n_threads, n_ctx, 1, KV_TYPE_DEFAULT, with_vocab);
}

int engine_open_seqs(engine *e, const char *path, int n_threads, int n_ctx, int n_seq, int cache_type,
		     bool with_vocab)
{
	int err = SH_OK;
	memset(e, 0, sizeof *e);
	if (n_seq < 1 || n_seq > ENGINE_MAX_SEQ) {
		sh_log_error("%d sequences: must be in [1, %d]", n_seq, ENGINE_MAX_SEQ);
		return SH_EINVAL;
	}
	if (!(e->m = model_load(path, 0, -1, &err)))
		return err;
	if (with_vocab && !(e->v = vocab_load(e->m->g, &err)))
		goto fail;
	e->n_ctx = n_ctx > 0 ? n_ctx : SH_MIN(4096, e->m->hp.n_ctx_train);
	if (!(e->p = pool_init(n_threads > 0 ? n_threads : sh_cpu_count())) ||
	    !(e->ctx = model_ctx_init(e->m, e->p, ENGINE_BATCH)) ||
	    !(e->kvs = sh_alloc(sizeof(kv_cache *) * (size_t)n_seq)) ||
	    !(e->logits = sh_alloc(sizeof(float) * ENGINE_BATCH * (size_t)e->m->hp.n_vocab))) {
		err = SH_ENOMEM;
		goto fail;
	}
	for (e->n_seq = 0; e->n_seq < n_seq; e->n_seq++)
		if (!(e->kvs[e->n_seq] = kv_cache_init(e->m, e->n_ctx, cache_type))) {
			sh_log_error("cannot allocate a KV cache of %d positions", e->n_ctx);
			err = SH_ENOMEM;
			goto fail;
		}
	e->kv = e->kvs[0];
	return SH_OK;
fail:
	engine_close(e);
	return err;
}

engine_memory engine_memory_of(const model_hparams *hp, uint64_t weights, int n_ctx, int n_seq, int cache_type,
			       int n_threads)
{
	n_ctx = n_ctx > 0 ? n_ctx : SH_MIN(4096, hp->n_ctx_train);
	n_threads = n_threads > 0 ? n_threads : sh_cpu_count();
	return (engine_memory){ .weights = weights,
				.kv = kv_bytes_per_pos(hp, cache_type) * (uint64_t)hp->n_layers * (uint64_t)n_ctx * (uint64_t)n_seq,
				.scratch = model_ctx_bytes(hp, ENGINE_BATCH, n_threads, n_ctx) +
					   sizeof(float) * ENGINE_BATCH * (uint64_t)hp->n_vocab };
}

void engine_close(engine *e)
{
	sh_free(e->logits);
	for (int i = 0; e->kvs && i < e->n_seq; i++)
		kv_cache_free(e->kvs[i]);
	sh_free(e->kvs);
	model_ctx_free(e->ctx);
	pool_free(e->p);
	vocab_free(e->v);
	model_free(e->m);
	memset(e, 0, sizeof *e);
}

int engine_eval(engine *e, const int *tokens, int n, int pos0, bool all_logits, float *out)
{
	int pos[ENGINE_BATCH];
	kv_cache *kvs[ENGINE_BATCH];
	bool want[ENGINE_BATCH];
	size_t n_vocab = (size_t)e->m->hp.n_vocab;
	if (n <= 0 || pos0 < 0 || pos0 + n > e->n_ctx) {
		sh_log_error("%d tokens at position %d do not fit the context of %d", n, pos0, e->n_ctx);
		return SH_ERANGE;
	}
	for (int i0 = 0; i0 < n; i0 += ENGINE_BATCH) {
		int nb = SH_MIN(ENGINE_BATCH, n - i0);
		for (int i = 0; i < nb; i++) {
			pos[i] = pos0 + i0 + i;
			kvs[i] = e->kv;
			want[i] = all_logits || i0 + i == n - 1;
		}
		model_batch b = { .n = nb, .tokens = tokens + i0, .pos = pos, .kv = kvs, .logits = want };
		float *dst = all_logits ? out + (size_t)i0 * n_vocab : e->logits;
		int r = model_forward(e->ctx, &b, dst);
		if (r < 0)
			return r;
		if (!all_logits && r == 1)
			memcpy(out, e->logits, sizeof(float) * n_vocab);
	}
	return SH_OK;
}

int engine_step(engine *e, const engine_batch *b, float *out)
{
	kv_cache *kvs[ENGINE_BATCH];
	if (b->n <= 0 || b->n > ENGINE_BATCH) {
		sh_log_error("step of %d tokens (capacity %d)", b->n, ENGINE_BATCH);
		return SH_EINVAL;
	}
	for (int i = 0; i < b->n; i++) {
		if (b->seq[i] < 0 || b->seq[i] >= e->n_seq) {
			sh_log_error("sequence %d outside [0, %d)", b->seq[i], e->n_seq);
			return SH_EINVAL;
		}
		kvs[i] = e->kvs[b->seq[i]];
	}
	model_batch mb = { .n = b->n, .tokens = b->tokens, .pos = b->pos, .kv = kvs, .logits = b->logits };
	return model_forward(e->ctx, &mb, out);
}
