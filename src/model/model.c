/*
 * model.c - hyperparameters, weight binding for a layer range, KV cache.
 *
 * Binding checks every tensor the shard needs: present, the expected shape, a type we compute
 * with. Norm vectors and biases (a few KB) are copied to f32; matrices stay in the mapping, so
 * a shard faults in only the pages of its own layers.
 */
#include "model/model.h"
#include "compute/quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- hyperparameters */
static bool hp_u32(const gguf_ctx *g, const char *arch, const char *key, int *out, bool required)
{
	char full[128];
	uint32_t v;
	snprintf(full, sizeof full, "%s.%s", arch, key);
	if (!gguf_get_u32(g, full, &v) || v > (1u << 30)) {
		if (required)
			sh_log_error("%s: missing or invalid %s", g->path, full);
		return false;
	}
	*out = (int)v;
	return true;
}

int model_hparams_read(const gguf_ctx *g, model_hparams *hp)
{
	memset(hp, 0, sizeof *hp);
	gguf_str arch;
	if (!gguf_get_str(g, "general.architecture", &arch)) {
		sh_log_error("%s: no general.architecture", g->path);
		return SH_EFORMAT;
	}
	if (gguf_str_eq(arch, "llama")) {
		hp->arch = MODEL_ARCH_LLAMA;
	} else if (gguf_str_eq(arch, "qwen2")) {
		hp->arch = MODEL_ARCH_QWEN2;
		hp->rope_neox = true;
	} else {
		sh_log_error("%s: unsupported architecture '%.*s' (supported: llama, qwen2)", g->path,
			     (int)SH_MIN(arch.len, 64), arch.ptr);
		return SH_EUNSUP;
	}
	snprintf(hp->arch_name, sizeof hp->arch_name, "%.*s", (int)SH_MIN(arch.len, 31), arch.ptr);
	const char *a = hp->arch_name;
	if (!hp_u32(g, a, "embedding_length", &hp->dim, true) ||
	    !hp_u32(g, a, "block_count", &hp->n_layers, true) ||
	    !hp_u32(g, a, "feed_forward_length", &hp->ffn_dim, true) ||
	    !hp_u32(g, a, "attention.head_count", &hp->n_heads, true))
		return SH_EFORMAT;
	if (!hp_u32(g, a, "attention.head_count_kv", &hp->n_kv_heads, false))
		hp->n_kv_heads = hp->n_heads;
	if (!hp_u32(g, a, "context_length", &hp->n_ctx_train, false))
		hp->n_ctx_train = 2048;
	if (hp->dim <= 0 || hp->n_layers <= 0 || hp->ffn_dim <= 0 || hp->n_heads <= 0 ||
	    hp->n_kv_heads <= 0 || hp->n_heads % hp->n_kv_heads != 0 || hp->n_ctx_train <= 0) {
		sh_log_error("%s: inconsistent hyperparameters (dim %d, layers %d, ffn %d, heads %d/%d)",
			     g->path, hp->dim, hp->n_layers, hp->ffn_dim, hp->n_heads, hp->n_kv_heads);
		return SH_EFORMAT;
	}
	if (!hp_u32(g, a, "attention.key_length", &hp->head_dim, false))
		hp->head_dim = hp->dim / hp->n_heads;
	if (!hp_u32(g, a, "rope.dimension_count", &hp->rope_dim, false))
		hp->rope_dim = hp->head_dim;
	if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->rope_dim <= 0 || hp->rope_dim % 2 ||
	    hp->rope_dim > hp->head_dim) {
		sh_log_error("%s: invalid head size %d / rope dimensions %d", g->path, hp->head_dim, hp->rope_dim);
		return SH_EFORMAT;
	}
	char key[128];
	snprintf(key, sizeof key, "%s.rope.freq_base", a);
	if (!gguf_get_f32(g, key, &hp->rope_base))
		hp->rope_base = 10000.0f;
	snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
	if (!gguf_get_f32(g, key, &hp->rms_eps))
		hp->rms_eps = 1e-5f;
	if (!(hp->rope_base > 0) || !(hp->rms_eps > 0) || !isfinite(hp->rope_base)) {
		sh_log_error("%s: invalid rope.freq_base or rms epsilon", g->path);
		return SH_EFORMAT;
	}
	const gguf_tensor *emb = gguf_tensor_find(g, "token_embd.weight");
	if (!emb || emb->ne[1] <= 0 || emb->ne[1] > (1 << 24)) {
		sh_log_error("%s: missing or invalid token_embd.weight", g->path);
		return SH_EFORMAT;
	}
	hp->n_vocab = (int)emb->ne[1];
	return SH_OK;
}

/* ---------------------------------------------------------------- binding */
static const gguf_tensor *bind_find(const gguf_ctx *g, const char *name, int64_t ne0, int64_t ne1,
				    bool required, int *err)
{
	const gguf_tensor *t = gguf_tensor_find(g, name);
	if (!t) {
		if (required) {
			sh_log_error("%s: missing tensor %s", g->path, name);
			*err = SH_EFORMAT;
		}
		return NULL;
	}
	int64_t want1 = ne1 ? ne1 : 1;
	if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
		sh_log_error("%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
			     g->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
			     (long long)t->ne[3], (long long)ne0, (long long)want1);
		*err = SH_EFORMAT;
		return NULL;
	}
	const quant_traits *qt = quant_get(t->type);
	if (!qt || !qt->supported || t->type == QT_Q8_K) {
		sh_log_error("%s: tensor %s has type %s, which shoal does not compute with", g->path, name,
			     qt && qt->name ? qt->name : "unknown");
		*err = SH_EUNSUP;
		return NULL;
	}
	return t;
}

static int bind_weight(const gguf_ctx *g, const char *name, int64_t n_in, int64_t n_out, model_weight *w)
{
	int err = SH_OK;
	const gguf_tensor *t = bind_find(g, name, n_in, n_out, true, &err);
	if (!t)
		return err;
	w->type = t->type;
	w->n_in = n_in;
	w->n_out = n_out;
	w->row_bytes = quant_row_size(t->type, n_in);
	w->data = t->data;
	return SH_OK;
}

/* copies a vector tensor [n] to a new f32 array; NULL (and *err set) if required and missing */
static float *bind_vector(const gguf_ctx *g, const char *name, int64_t n, bool required, int *err)
{
	const gguf_tensor *t = bind_find(g, name, n, 0, required, err);
	if (!t)
		return NULL;
	float *v = sh_alloc(sizeof(float) * (size_t)n);
	if (!v) {
		*err = SH_ENOMEM;
		return NULL;
	}
	if (t->type == QT_F32)
		memcpy(v, t->data, sizeof(float) * (size_t)n);
	else
		quant_get(t->type)->to_float(t->data, v, n);
	return v;
}

static uint64_t weight_bytes(const model_weight *w) { return w->row_bytes * (uint64_t)w->n_out; }

static int bind_layer(model *m, int il, model_layer *L)
{
	const model_hparams *hp = &m->hp;
	const gguf_ctx *g = m->g;
	int64_t q_dim = (int64_t)hp->n_heads * hp->head_dim, kv_dim = (int64_t)hp->n_kv_heads * hp->head_dim;
	char name[96];
	int err = SH_OK;
#define LNAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if ((err = bind_weight(g, LNAME("attn_q.weight"), hp->dim, q_dim, &L->wq)) ||
	    (err = bind_weight(g, LNAME("attn_k.weight"), hp->dim, kv_dim, &L->wk)) ||
	    (err = bind_weight(g, LNAME("attn_v.weight"), hp->dim, kv_dim, &L->wv)) ||
	    (err = bind_weight(g, LNAME("attn_output.weight"), q_dim, hp->dim, &L->wo)) ||
	    (err = bind_weight(g, LNAME("ffn_gate.weight"), hp->dim, hp->ffn_dim, &L->w_gate)) ||
	    (err = bind_weight(g, LNAME("ffn_up.weight"), hp->dim, hp->ffn_dim, &L->w_up)) ||
	    (err = bind_weight(g, LNAME("ffn_down.weight"), hp->ffn_dim, hp->dim, &L->w_down)))
		return err;
	if (!(L->attn_norm = bind_vector(g, LNAME("attn_norm.weight"), hp->dim, true, &err)) ||
	    !(L->ffn_norm = bind_vector(g, LNAME("ffn_norm.weight"), hp->dim, true, &err)))
		return err;
	bool bias = hp->arch == MODEL_ARCH_QWEN2;
	L->bq = bind_vector(g, LNAME("attn_q.bias"), q_dim, bias, &err);
	L->bk = bind_vector(g, LNAME("attn_k.bias"), kv_dim, bias, &err);
	L->bv = bind_vector(g, LNAME("attn_v.bias"), kv_dim, bias, &err);
#undef LNAME
	if (err)
		return err;
	m->weight_bytes += weight_bytes(&L->wq) + weight_bytes(&L->wk) + weight_bytes(&L->wv) +
			   weight_bytes(&L->wo) + weight_bytes(&L->w_gate) + weight_bytes(&L->w_up) +
			   weight_bytes(&L->w_down);
	return SH_OK;
}

model *model_load(const char *path, int first, int last, int *err_out)
{
	int err = SH_OK;
	model *m = sh_alloc(sizeof *m);
	if (!m) {
		err = SH_ENOMEM;
		goto fail;
	}
	quant_init(NULL);
	m->g = gguf_open(path, &err);
	if (!m->g)
		goto fail;
	if ((err = model_hparams_read(m->g, &m->hp)))
		goto fail;
	const model_hparams *hp = &m->hp;
	if (last < 0)
		last = hp->n_layers;
	if (first < 0 || first >= last || last > hp->n_layers) {
		sh_log_error("%s: invalid layer range [%d, %d) of %d layers", path, first, last, hp->n_layers);
		err = SH_EINVAL;
		goto fail;
	}
	m->first = first;
	m->last = last;
	m->layers = sh_alloc(sizeof(model_layer) * (size_t)(last - first));
	if (!m->layers) {
		err = SH_ENOMEM;
		goto fail;
	}
	for (int il = first; il < last; il++)
		if ((err = bind_layer(m, il, &m->layers[il - first])))
			goto fail;
	if (first == 0 && (err = bind_weight(m->g, "token_embd.weight", hp->dim, hp->n_vocab, &m->token_embd)))
		goto fail;
	if (last == hp->n_layers) {
		if (!(m->output_norm = bind_vector(m->g, "output_norm.weight", hp->dim, true, &err)))
			goto fail;
		const char *head = gguf_tensor_find(m->g, "output.weight") ? "output.weight" : "token_embd.weight";
		if ((err = bind_weight(m->g, head, hp->dim, hp->n_vocab, &m->output)))
			goto fail;
		m->weight_bytes += weight_bytes(&m->output);
	}
	int n_freq = hp->rope_dim / 2;
	float *factors = bind_vector(m->g, "rope_freqs.weight", n_freq, false, &err);
	if (err)
		goto fail;
	m->rope_inv_freq = sh_alloc(sizeof(float) * (size_t)n_freq);
	if (!m->rope_inv_freq) {
		sh_free(factors);
		err = SH_ENOMEM;
		goto fail;
	}
	for (int i = 0; i < n_freq; i++) {
		double f = pow(hp->rope_base, -2.0 * i / hp->rope_dim);
		m->rope_inv_freq[i] = (float)(factors ? f / factors[i] : f);
	}
	sh_free(factors);
	return m;
fail:
	model_free(m);
	if (err_out)
		*err_out = err;
	return NULL;
}

void model_free(model *m)
{
	if (!m)
		return;
	if (m->layers) {
		for (int i = 0; i < m->last - m->first; i++) {
			model_layer *L = &m->layers[i];
			sh_free(L->attn_norm);
			sh_free(L->ffn_norm);
			sh_free(L->bq);
			sh_free(L->bk);
			sh_free(L->bv);
		}
		sh_free(m->layers);
	}
	sh_free(m->output_norm);
	sh_free(m->rope_inv_freq);
	gguf_free(m->g);
	sh_free(m);
}

bool model_is_first(const model *m) { return m->first == 0; }
bool model_is_last(const model *m) { return m->last == m->hp.n_layers; }

/* ---------------------------------------------------------------- KV cache */
static const struct {
	const char *name;
	int type;
} kv_types[] = { { "f32", QT_F32 }, { "f16", QT_F16 }, { "q8_0", QT_Q8_0 } };

int kv_type_parse(const char *s, int *type)
{
	for (size_t i = 0; s && i < SH_ARRAY_LEN(kv_types); i++)
		if (!strcasecmp(s, kv_types[i].name)) {
			*type = kv_types[i].type;
			return SH_OK;
		}
	return SH_EINVAL;
}

const char *kv_type_name(int type)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(kv_types); i++)
		if (kv_types[i].type == type)
			return kv_types[i].name;
	return "?";
}

int kv_type_check(const model_hparams *hp, int type)
{
	if (strcmp(kv_type_name(type), "?") == 0) {
		sh_log_error("KV cache type %d: f32, f16 or q8_0 only", type);
		return SH_EINVAL;
	}
	int blck = quant_get(type)->blck_size;
	if (hp->head_dim % blck) {
		sh_log_error("a %s KV cache needs heads of a multiple of %d elements; this model's have %d (use f16)",
			     kv_type_name(type), blck, hp->head_dim);
		return SH_EINVAL;
	}
	return SH_OK;
}

uint64_t kv_bytes_per_pos(const model_hparams *hp, int type)
{
	return 2 * (uint64_t)quant_row_size(type, (int64_t)hp->n_kv_heads * hp->head_dim);
}

kv_cache *kv_cache_init(const model *m, int n_ctx, int type)
{
	if (kv_type_check(&m->hp, type))
		return NULL;
	kv_cache *kv = sh_alloc(sizeof *kv);
	if (!kv)
		return NULL;
	kv->n_ctx = n_ctx;
	kv->n_layers = m->last - m->first;
	kv->kv_dim = m->hp.n_kv_heads * m->hp.head_dim;
	kv->type = type;
	kv->row = quant_row_size(type, kv->kv_dim);
	if (n_ctx <= 0 || !sh_mul_ok((uint64_t)kv->n_layers * (uint64_t)n_ctx, (uint64_t)kv->row, &kv->bytes) ||
	    !(kv->k = sh_alloc_large(kv->bytes)) || !(kv->v = sh_alloc_large(kv->bytes))) {
		kv_cache_free(kv);
		return NULL;
	}
	return kv;
}

void kv_cache_free(kv_cache *kv)
{
	if (!kv)
		return;
	sh_free_large(kv->k, kv->bytes);
	sh_free_large(kv->v, kv->bytes);
	sh_free(kv);
}
