/*
 * engine.c - load a whole model with a pool and one KV cache, and feed token runs through it.
 */
#include "engine/engine.h"

int engine_open(engine *e, const char *path, int n_threads, int n_ctx, bool with_vocab)
{
	int err = SH_OK;
	memset(e, 0, sizeof *e);
	if (!(e->m = model_load(path, 0, -1, &err)))
		return err;
	if (with_vocab && !(e->v = vocab_load(e->m->g, &err)))
		goto fail;
	e->n_ctx = n_ctx > 0 ? n_ctx : SH_MIN(4096, e->m->hp.n_ctx_train);
	if (!(e->p = pool_init(n_threads > 0 ? n_threads : sh_cpu_count())) ||
	    !(e->ctx = model_ctx_init(e->m, e->p, ENGINE_BATCH)) || !(e->kv = kv_cache_init(e->m, e->n_ctx)) ||
	    !(e->logits = sh_alloc(sizeof(float) * ENGINE_BATCH * (size_t)e->m->hp.n_vocab))) {
		err = SH_ENOMEM;
		goto fail;
	}
	return SH_OK;
fail:
	engine_close(e);
	return err;
}

void engine_close(engine *e)
{
	sh_free(e->logits);
	kv_cache_free(e->kv);
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
