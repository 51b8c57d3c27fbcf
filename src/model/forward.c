/*
 * forward.c - the batched forward pass of llama-family transformers over a layer range.
 *
 * Per layer, for a batch of n tokens (rows of the residual stream x [n, dim]):
 *
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = xb Wq (+bq), xb Wk (+bk), xb Wv (+bv)      one pool step for the three
 *   rope(q, k); k, v -> each token's KV cache at its position (in the cache's type: f16 by default)
 *   att = softmax(q K^T / sqrt(hd)) V  per (token, head), causal over the token's own sequence
 *   x += att Wo
 *   xb = rmsnorm(x) * ffn_norm
 *   hb, hb2 = xb Wgate, xb Wup                            one pool step for the two
 *   x += (silu(hb) * hb2) Wdown
 *
 * Matmuls first quantize the input rows once to the weights' vec_dot_type (Q8_0, Q8_K, or Q8_0x4
 * for the AVX-512 Q4_0 kernels; the float formats take f32 as is), then each thread takes a
 * contiguous range of output rows and walks it in tiles of rows x tokens, so a weight row is read
 * from memory once per batch. Inside a tile, batches go through the gemm kernel (QUANT_TILE_R rows
 * x QUANT_TILE_C tokens at a time, each weight block unpacked once for all its tokens, or one row at
 * a time for the small batches of formats whose gemm_row1_toks says so); a single token through
 * vec_dot.
 * Nothing here allocates, except growing the per-thread score buffers for a longer context.
 */
#include "model/model.h"
#include "compute/quant.h"

#include <math.h>

#define MM_MAX_W 3
#define MM_TILE_ROWS 16
#define MM_TILE_TOKS 32

enum { XQ_Q8_0, XQ_Q8_K, XQ_Q8_0X4, XQ_N };

struct model_ctx {
	model *m;
	pool *p;
	int n_batch;
	float *x;        /* [n_batch, dim] residual stream */
	float *xb;       /* [n_batch, max(dim, q_dim)] normed rows */
	float *q;        /* [n_batch, q_dim] */
	float *k, *v;    /* [n_batch, kv_dim] */
	float *att;      /* [n_batch, q_dim] attention output */
	float *hb, *hb2; /* [n_batch, ffn] */
	float *y;        /* [n_batch, dim] projection output */
	float *rope;     /* [n_batch, rope_dim] (cos, sin) pairs */
	uint8_t *xq[XQ_N]; /* [n_batch, row bytes] input rows quantized for the dot kernels */
	size_t xq_stride[XQ_N];
	float *scores;   /* [n_threads, scores_len] attention scratch (att_scratch_len) */
	int scores_len;
};

/* ---------------------------------------------------------------- small kernels */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float scale = (float)(1.0 / sqrt(ss / n + eps));
	for (int i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

static void rope_apply(float *x, const float *cs, int rope_dim, bool neox)
{
	int half = rope_dim / 2;
	for (int i = 0; i < half; i++) {
		float c = cs[2 * i], s = cs[2 * i + 1];
		int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
		float x0 = x[a], x1 = x[b];
		x[a] = x0 * c - x1 * s;
		x[b] = x0 * s + x1 * c;
	}
}

/* ---------------------------------------------------------------- matmul */
typedef struct {
	model_ctx *c;
	const model_weight *w[MM_MAX_W];
	const float *bias[MM_MAX_W];
	float *out[MM_MAX_W];     /* [n_tok, n_out] each */
	int n_w;
	int n_tok;
	const float *in;          /* [n_tok, n_in] */
	int64_t n_in;
} mm_job;

static int xq_slot(int vec_dot_type)
{
	return vec_dot_type == QT_Q8_K ? XQ_Q8_K : vec_dot_type == QT_Q8_0X4 ? XQ_Q8_0X4 : XQ_Q8_0;
}

/* quantizes input rows [lo, hi) for every distinct vec_dot_type the job's weights use */
static void mm_quantize_rows(const mm_job *j, int lo, int hi)
{
	bool done[XQ_N] = { false };
	for (int wi = 0; wi < j->n_w; wi++) {
		const quant_traits *vt = quant_get(quant_get(j->w[wi]->type)->vec_dot_type);
		if (vt->blck_size == 1)
			continue;
		int s = xq_slot(quant_get(j->w[wi]->type)->vec_dot_type);
		if (done[s])
			continue;
		done[s] = true;
		for (int t = lo; t < hi; t++)
			vt->from_float(j->in + (size_t)t * j->n_in, j->c->xq[s] + (size_t)t * j->c->xq_stride[s], j->n_in);
	}
}

static void mm_quantize_task(void *arg, int ith, int nth)
{
	const mm_job *j = arg;
	int lo, hi;
	pool_split(j->n_tok, ith, nth, &lo, &hi);
	mm_quantize_rows(j, lo, hi);
}

static void mm_task(void *arg, int ith, int nth)
{
	const mm_job *j = arg;
	int64_t total = 0;
	for (int wi = 0; wi < j->n_w; wi++)
		total += j->w[wi]->n_out;
	/* split the concatenated rows of all weights; chunk edges on multiples of 4 rows */
	int64_t per = ((total + nth - 1) / nth + 3) & ~(int64_t)3;
	int64_t lo = SH_MIN(per * ith, total), hi = SH_MIN(lo + per, total);
	int64_t base = 0;
	for (int wi = 0; wi < j->n_w && lo < hi; wi++) {
		const model_weight *w = j->w[wi];
		int64_t r0 = SH_MAX(lo - base, 0), r1 = SH_MIN(hi - base, w->n_out);
		base += w->n_out;
		if (r0 >= r1)
			continue;
		const quant_traits *qt = quant_get(w->type);
		const uint8_t *xq;
		size_t xs;
		if (quant_get(qt->vec_dot_type)->blck_size == 1) {
			xq = (const uint8_t *)j->in;
			xs = (size_t)j->n_in * sizeof(float);
		} else {
			int s = xq_slot(qt->vec_dot_type);
			xq = j->c->xq[s];
			xs = j->c->xq_stride[s];
		}
		float *out = j->out[wi];
		const float *bias = j->bias[wi];
		int64_t n_out = w->n_out;
		for (int64_t rt = r0; rt < r1; rt += MM_TILE_ROWS) {
			int64_t re = SH_MIN(rt + MM_TILE_ROWS, r1);
			for (int tt = 0; tt < j->n_tok; tt += MM_TILE_TOKS) {
				int te = SH_MIN(tt + MM_TILE_TOKS, j->n_tok);
				if (j->n_tok == 1) {
					for (int64_t r = rt; r < re; r++)
						qt->vec_dot((int)w->n_in, &out[r], w->data + (size_t)r * w->row_bytes, xq);
				} else {
					const int tr = j->n_tok <= qt->gemm_row1_toks ? 1 : QUANT_TILE_R;
					for (int64_t r = rt; r < re; r += tr) {
						int nr = (int)SH_MIN(tr, re - r);
						const uint8_t *rows = w->data + (size_t)r * w->row_bytes;
						for (int t = tt; t < te; t += QUANT_TILE_C)
							qt->gemm((int)w->n_in, &out[(size_t)t * n_out + r], (size_t)n_out, rows,
								 w->row_bytes, nr, xq + (size_t)t * xs, xs, SH_MIN(QUANT_TILE_C, te - t));
					}
				}
				for (int t = tt; bias && t < te; t++)
					for (int64_t r = rt; r < re; r++)
						out[(size_t)t * n_out + r] += bias[r];
			}
		}
	}
}

/* out_i = in W_i (+ b_i) for up to three weights sharing the input in [n_tok, n_in] */
static void matmul(model_ctx *c, const float *in, int n_tok, int n_w, const model_weight *const *w,
		   const float *const *bias, float *const *out)
{
	mm_job j = { .c = c, .n_w = n_w, .n_tok = n_tok, .in = in, .n_in = w[0]->n_in };
	for (int i = 0; i < n_w; i++) {
		SH_ASSERT(w[i]->n_in == j.n_in);
		j.w[i] = w[i];
		j.bias[i] = bias ? bias[i] : NULL;
		j.out[i] = out[i];
	}
	if (n_tok >= 4)
		pool_run(c->p, mm_quantize_task, &j);
	else
		mm_quantize_rows(&j, 0, n_tok);
	pool_run(c->p, mm_task, &j);
}

static void matmul1(model_ctx *c, const float *in, int n_tok, const model_weight *w, float *out)
{
	matmul(c, in, n_tok, 1, &w, NULL, &out);
}

/* ---------------------------------------------------------------- attention */
typedef struct {
	model_ctx *c;
	const model_batch *b;
	int layer;        /* index within the shard */
} att_job;

/* per thread: the scores [max n_ctx], then the query as q8_0 (a q8_0 cache) */
static int att_scratch_len(int max_ctx, int hd)
{
	return max_ctx + (int)((quant_row_size(QT_Q8_0, hd) + sizeof(float) - 1) / sizeof(float));
}

/* softmax(q K^T / sqrt(hd)) V for each (token, head). K is dotted in the cache's type against the
 * query converted once to its vec_dot_type (f32 for f32/f16 caches, q8_0 for q8_0, as llama.cpp
 * dots q8_0 rows); the V rows are summed in theirs (axpy). */
static void att_task(void *arg, int ith, int nth)
{
	const att_job *j = arg;
	model_ctx *c = j->c;
	const model_hparams *hp = &c->m->hp;
	int hd = hp->head_dim, q_dim = hp->n_heads * hd, group = hp->n_heads / hp->n_kv_heads;
	float scale = 1.0f / sqrtf((float)hd);
	float *scores = c->scores + (size_t)ith * c->scores_len;
	void *qy = scores + c->scores_len - att_scratch_len(0, hd);
	int lo, hi;
	pool_split(j->b->n * hp->n_heads, ith, nth, &lo, &hi);
	for (int task = lo; task < hi; task++) {
		int t = task / hp->n_heads, h = task % hp->n_heads, kvh = h / group;
		const kv_cache *kv = j->b->kv[t];
		const quant_traits *kt = quant_get(kv->type), *yt = quant_get(kt->vec_dot_type);
		int n_pos = j->b->pos[t] + 1;
		const float *q = c->q + (size_t)t * q_dim + (size_t)h * hd;
		const void *y = q;
		if (kt->vec_dot_type != QT_F32) {
			yt->from_float(q, qy, hd);
			y = qy;
		}
		size_t layer_off = (size_t)j->layer * kv->n_ctx * kv->row + quant_row_size(kv->type, (int64_t)kvh * hd);
		const uint8_t *kc = kv->k + layer_off, *vc = kv->v + layer_off;
		float mx = -INFINITY;
		for (int p = 0; p < n_pos; p++) {
			float s;
			kt->vec_dot(hd, &s, kc + (size_t)p * kv->row, y);
			scores[p] = s * scale;
			mx = scores[p] > mx ? scores[p] : mx;
		}
		float sum = 0;
		for (int p = 0; p < n_pos; p++) {
			scores[p] = expf(scores[p] - mx);
			sum += scores[p];
		}
		float *o = c->att + (size_t)t * q_dim + (size_t)h * hd, inv = 1.0f / sum;
		memset(o, 0, sizeof(float) * (size_t)hd);
		for (int p = 0; p < n_pos; p++)
			kt->axpy(hd, scores[p] * inv, vc + (size_t)p * kv->row, o);
	}
}

/* ---------------------------------------------------------------- elementwise steps */
typedef struct {
	model_ctx *c;
	const model_batch *b;
	int layer;
} rows_job;

/* rope on q and k of every token, then k and v into the token's cache */
static void rope_store_task(void *arg, int ith, int nth)
{
	const rows_job *j = arg;
	model_ctx *c = j->c;
	const model_hparams *hp = &c->m->hp;
	int hd = hp->head_dim, q_dim = hp->n_heads * hd, kv_dim = hp->n_kv_heads * hd;
	int lo, hi;
	pool_split(j->b->n, ith, nth, &lo, &hi);
	for (int t = lo; t < hi; t++) {
		const float *cs = c->rope + (size_t)t * hp->rope_dim;
		float *q = c->q + (size_t)t * q_dim, *k = c->k + (size_t)t * kv_dim;
		for (int h = 0; h < hp->n_heads; h++)
			rope_apply(q + (size_t)h * hd, cs, hp->rope_dim, hp->rope_neox);
		for (int h = 0; h < hp->n_kv_heads; h++)
			rope_apply(k + (size_t)h * hd, cs, hp->rope_dim, hp->rope_neox);
		const kv_cache *kv = j->b->kv[t];
		const quant_traits *kt = quant_get(kv->type);
		size_t off = ((size_t)j->layer * kv->n_ctx + (size_t)j->b->pos[t]) * kv->row;
		kt->from_float(k, kv->k + off, kv_dim);
		kt->from_float(c->v + (size_t)t * kv_dim, kv->v + off, kv_dim);
	}
}

static void swiglu_task(void *arg, int ith, int nth)
{
	const rows_job *j = arg;
	model_ctx *c = j->c;
	int64_t n = (int64_t)j->b->n * c->m->hp.ffn_dim;
	int lo, hi;
	pool_split((int)((n + 63) / 64), ith, nth, &lo, &hi);
	for (int64_t i = (int64_t)lo * 64; i < SH_MIN((int64_t)hi * 64, n); i++) {
		float g = c->hb[i];
		c->hb[i] = g / (1.0f + expf(-g)) * c->hb2[i];
	}
}

/* ---------------------------------------------------------------- context */
/* the scratch rows of model_ctx, per token of the batch: floats of x, xb, q, k, v, att, hb, hb2, y,
 * rope (in that order), and the bytes of a quantized input row of each XQ type */
typedef struct {
	size_t floats[10];
	size_t xq_stride[XQ_N];
} ctx_rows;

static void ctx_rows_of(const model_hparams *hp, ctx_rows *r)
{
	size_t q_dim = (size_t)hp->n_heads * hp->head_dim, kv_dim = (size_t)hp->n_kv_heads * hp->head_dim;
	size_t wide = SH_MAX((size_t)hp->dim, q_dim), max_in = SH_MAX(wide, (size_t)hp->ffn_dim);
	const size_t f[10] = { (size_t)hp->dim, wide, q_dim, kv_dim, kv_dim, q_dim, (size_t)hp->ffn_dim,
			       (size_t)hp->ffn_dim, (size_t)hp->dim, (size_t)hp->rope_dim };
	memcpy(r->floats, f, sizeof f);
	static const int xq_types[XQ_N] = { QT_Q8_0, QT_Q8_K, QT_Q8_0X4 };
	for (int s = 0; s < XQ_N; s++) { /* rows rounded up to whole blocks; used when n_in is a multiple */
		const quant_traits *qt = quant_get(xq_types[s]);
		r->xq_stride[s] = ((max_in + qt->blck_size - 1) / qt->blck_size) * qt->type_size;
	}
}

uint64_t model_ctx_bytes(const model_hparams *hp, int n_batch, int n_threads, int n_ctx)
{
	ctx_rows r;
	ctx_rows_of(hp, &r);
	uint64_t row = 0;
	for (size_t i = 0; i < SH_ARRAY_LEN(r.floats); i++)
		row += r.floats[i] * sizeof(float);
	for (int s = 0; s < XQ_N; s++)
		row += r.xq_stride[s];
	return row * (uint64_t)n_batch +
	       sizeof(float) * (uint64_t)att_scratch_len(n_ctx, hp->head_dim) * (uint64_t)pool_shares_of(n_threads);
}

model_ctx *model_ctx_init(model *m, pool *p, int n_batch)
{
	model_ctx *c = sh_alloc(sizeof *c);
	if (!c)
		return NULL;
	c->m = m;
	c->p = p;
	c->n_batch = n_batch;
	ctx_rows r;
	ctx_rows_of(&m->hp, &r);
	float **bufs[] = { &c->x, &c->xb, &c->q, &c->k, &c->v, &c->att, &c->hb, &c->hb2, &c->y, &c->rope };
	_Static_assert(SH_ARRAY_LEN(bufs) == SH_ARRAY_LEN(r.floats), "a size per buffer");
	bool ok = true;
	for (size_t i = 0; ok && i < SH_ARRAY_LEN(bufs); i++)
		ok = (*bufs[i] = sh_alloc((size_t)n_batch * r.floats[i] * sizeof(float))) != NULL;
	for (int s = 0; ok && s < XQ_N; s++) {
		c->xq_stride[s] = r.xq_stride[s];
		ok = (c->xq[s] = sh_alloc((size_t)n_batch * c->xq_stride[s])) != NULL;
	}
	if (!ok) {
		model_ctx_free(c);
		return NULL;
	}
	return c;
}

void model_ctx_free(model_ctx *c)
{
	if (!c)
		return;
	float *bufs[] = { c->x, c->xb, c->q, c->k, c->v, c->att, c->hb, c->hb2, c->y, c->rope, c->scores };
	for (size_t i = 0; i < SH_ARRAY_LEN(bufs); i++)
		sh_free(bufs[i]);
	for (int s = 0; s < XQ_N; s++)
		sh_free(c->xq[s]);
	sh_free(c);
}

/* ---------------------------------------------------------------- forward */
static int forward_check(model_ctx *c, const model_batch *b)
{
	const model *m = c->m;
	if (b->n <= 0 || b->n > c->n_batch) {
		sh_log_error("batch of %d tokens (capacity %d)", b->n, c->n_batch);
		return SH_EINVAL;
	}
	int max_ctx = 0;
	for (int t = 0; t < b->n; t++) {
		const kv_cache *kv = b->kv[t];
		if (kv->n_layers != m->last - m->first || kv->kv_dim != m->hp.n_kv_heads * m->hp.head_dim || b->pos[t] < 0 ||
		    b->pos[t] >= kv->n_ctx) {
			sh_log_error("position %d outside the context of %d", b->pos[t], kv->n_ctx);
			return SH_ERANGE;
		}
		if (model_is_first(m) && (b->tokens[t] < 0 || b->tokens[t] >= m->hp.n_vocab)) {
			sh_log_error("token id %d outside the vocabulary of %d", b->tokens[t], m->hp.n_vocab);
			return SH_EINVAL;
		}
		max_ctx = SH_MAX(max_ctx, kv->n_ctx);
	}
	int len = att_scratch_len(max_ctx, m->hp.head_dim);
	if (len > c->scores_len) {
		float *s = sh_alloc(sizeof(float) * (size_t)len * pool_shares(c->p));
		if (!s)
			return SH_ENOMEM;
		sh_free(c->scores);
		c->scores = s;
		c->scores_len = len;
	}
	return SH_OK;
}

int model_forward(model_ctx *c, const model_batch *b, float *out)
{
	model *m = c->m;
	const model_hparams *hp = &m->hp;
	int err = forward_check(c, b);
	if (err)
		return err;
	int n = b->n, dim = hp->dim;

	if (model_is_first(m)) {
		const quant_traits *qt = quant_get(m->token_embd.type);
		for (int t = 0; t < n; t++)
			qt->to_float(m->token_embd.data + (size_t)b->tokens[t] * m->token_embd.row_bytes,
				     c->x + (size_t)t * dim, dim);
	} else {
		memcpy(c->x, b->embd, sizeof(float) * (size_t)n * dim);
	}
	for (int t = 0; t < n; t++)
		for (int i = 0; i < hp->rope_dim / 2; i++) {
			double th = (double)b->pos[t] * m->rope_inv_freq[i];
			c->rope[(size_t)t * hp->rope_dim + 2 * i] = (float)cos(th);
			c->rope[(size_t)t * hp->rope_dim + 2 * i + 1] = (float)sin(th);
		}

	for (int l = 0; l < m->last - m->first; l++) {
		const model_layer *L = &m->layers[l];
		rows_job rj = { c, b, l };
		for (int t = 0; t < n; t++)
			rmsnorm(c->xb + (size_t)t * dim, c->x + (size_t)t * dim, L->attn_norm, dim, hp->rms_eps);
		const model_weight *wqkv[3] = { &L->wq, &L->wk, &L->wv };
		const float *bqkv[3] = { L->bq, L->bk, L->bv };
		float *oqkv[3] = { c->q, c->k, c->v };
		matmul(c, c->xb, n, 3, wqkv, bqkv, oqkv);
		pool_run(c->p, rope_store_task, &rj);
		att_job aj = { c, b, l };
		pool_run(c->p, att_task, &aj);
		matmul1(c, c->att, n, &L->wo, c->y);
		for (size_t i = 0; i < (size_t)n * dim; i++)
			c->x[i] += c->y[i];

		for (int t = 0; t < n; t++)
			rmsnorm(c->xb + (size_t)t * dim, c->x + (size_t)t * dim, L->ffn_norm, dim, hp->rms_eps);
		const model_weight *wgu[2] = { &L->w_gate, &L->w_up };
		float *ogu[2] = { c->hb, c->hb2 };
		matmul(c, c->xb, n, 2, wgu, NULL, ogu);
		pool_run(c->p, swiglu_task, &rj);
		matmul1(c, c->hb, n, &L->w_down, c->y);
		for (size_t i = 0; i < (size_t)n * dim; i++)
			c->x[i] += c->y[i];
	}

	if (!model_is_last(m)) {
		memcpy(out, c->x, sizeof(float) * (size_t)n * dim);
		return n;
	}
	int n_out = 0;
	for (int t = 0; t < n; t++)
		if (!b->logits || b->logits[t])
			rmsnorm(c->xb + (size_t)n_out++ * dim, c->x + (size_t)t * dim, m->output_norm, dim, hp->rms_eps);
	if (n_out)
		matmul1(c, c->xb, n_out, &m->output, out);
	return n_out;
}
