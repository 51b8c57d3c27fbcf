/*
 * test_model.c - the forward pass against external references: stories260K's logits from an
 * independent fp64 implementation (1e-4), its greedy path, and llama.cpp's logits for a small
 * model in every weight format (the check of every block layout and kernel); plus the
 * invariants the cluster and the server rely on: a model split into shards gives the same
 * logits, a prompt batch equals token-by-token, and sequences batched together equal each alone;
 * and a model loaded from a split set (gguf-split's layout) gives the one file's logits, bit for bit.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "compute/quant.h"
#include "engine/engine.h"
#include "test_util.h"

/* reads a llama.cpp logits file: ids on line 1, then n_vocab floats per line */
typedef struct {
	int ids[64];
	int n;
	float *logits; /* [n, n_vocab] */
} ref_logits;

static void ref_read(const char *path, int n_vocab, ref_logits *r)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	char line[1024];
	cr_assert(fgets(line, sizeof line, f));
	r->n = 0;
	for (char *p = line, *end; r->n < 64; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		r->ids[r->n++] = (int)v;
	}
	r->logits = malloc(sizeof(float) * (size_t)r->n * n_vocab);
	for (int i = 0; i < r->n * n_vocab; i++)
		cr_assert(fscanf(f, "%f", &r->logits[i]) == 1, "%s: short at value %d", path, i);
	fclose(f);
}

static int argmax(const float *x, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* llama2.c's f32 logits of stories260K: an f32 cache gives them to float rounding, the default f16
 * cache within its rounding of each cached value */
Test(model, stories260k_logits_pos0_3)
{
	const struct {
		int type;
		float tol;
	} caches[] = { { QT_F32, 1e-4f }, { QT_F16, 2e-2f } };
	for (size_t c = 0; c < SH_ARRAY_LEN(caches); c++) {
		engine e;
		cr_assert_eq(engine_open_seqs(&e, TEST_STORIES, 2, 64, 1, caches[c].type, false), 0);
		int n_vocab = e.m->hp.n_vocab, ids[4] = { 1, 403, 407, 261 };
		cr_assert_eq(n_vocab, 512);
		float *out = malloc(sizeof(float) * 4 * n_vocab);
		cr_assert_eq(engine_eval(&e, ids, 4, 0, true, out), 0);
		FILE *f = fopen(test_data("expected/stories260K_logits_pos0-3.txt"), "r");
		cr_assert(f);
		float maxd = 0;
		for (int p = 0; p < 4; p++) {
			int pos, tok;
			cr_assert(fscanf(f, " pos %d token %d:", &pos, &tok) == 2);
			cr_assert_eq(pos, p);
			cr_assert_eq(tok, ids[p]);
			for (int j = 0; j < n_vocab; j++) {
				float want;
				cr_assert(fscanf(f, "%f", &want) == 1);
				maxd = fmaxf(maxd, fabsf(want - out[p * n_vocab + j]));
			}
		}
		fclose(f);
		cr_expect_leq(maxd, caches[c].tol, "%s cache: max abs diff %g", kv_type_name(caches[c].type), maxd);
		free(out);
		engine_close(&e);
	}
}

/* a q8_0 cache needs heads of a multiple of 32 elements: stories260K's have 8, a clear error */
Test(model, kv_type_checked)
{
	engine e;
	cr_expect_neq(engine_open_seqs(&e, TEST_STORIES, 1, 64, 1, QT_Q8_0, false), 0);
	int type = -1;
	cr_expect_eq(kv_type_parse("Q8_0", &type), 0);
	cr_expect_eq(type, QT_Q8_0);
	cr_expect_eq(kv_type_parse("f16", &type), 0);
	cr_expect_eq(type, QT_F16);
	cr_expect_neq(kv_type_parse("q4_0", &type), 0);
	cr_expect_neq(kv_type_parse(NULL, &type), 0);
}

Test(model, stories260k_greedy_256)
{
	engine e;
	cr_assert_eq(engine_open(&e, TEST_STORIES, 2, 512, false), 0);
	FILE *f = fopen(test_data("expected/stories260K_greedy_bos.ids"), "r");
	cr_assert(f);
	int tok = 1, n = 0, want;
	cr_assert_eq(engine_eval(&e, &tok, 1, 0, false, e.logits), 0);
	while (fscanf(f, "%d", &want) == 1) {
		tok = argmax(e.logits, e.m->hp.n_vocab);
		cr_assert_eq(tok, want, "step %d: got %d want %d", n, tok, want);
		n++;
		cr_assert_eq(engine_eval(&e, &tok, 1, n, false, e.logits), 0);
	}
	fclose(f);
	cr_assert_eq(n, 256);
	engine_close(&e);
}

/* logits of a whole prompt against llama.cpp's (its reference set) */
static void check_quant_model(const char *name, float tol)
{
	TEST_NEED_REFDATA();
	char gg[128], lg[128];
	snprintf(gg, sizeof gg, "%s.gguf", name);
	snprintf(lg, sizeof lg, "%s.logits.txt", name);
	engine e;
	cr_assert_eq(engine_open(&e, test_refdata(gg), 2, 64, false), 0, "%s", name);
	int n_vocab = e.m->hp.n_vocab;
	ref_logits r;
	ref_read(test_refdata(lg), n_vocab, &r);
	cr_assert_eq(r.n, 15);
	float *out = malloc(sizeof(float) * (size_t)r.n * n_vocab), maxd = 0;
	cr_assert_eq(engine_eval(&e, r.ids, r.n, 0, true, out), 0);
	for (int p = 0; p < r.n; p++) {
		cr_expect_eq(argmax(out + p * n_vocab, n_vocab), argmax(r.logits + p * n_vocab, n_vocab),
			     "%s: argmax differs at position %d", name, p);
		for (int j = 0; j < n_vocab; j++)
			maxd = fmaxf(maxd, fabsf(out[p * n_vocab + j] - r.logits[p * n_vocab + j]));
	}
	cr_expect_leq(maxd, tol, "%s: max abs diff %g > %g", name, maxd, tol);
	cr_log_info("%s: max abs diff %g (tolerance %g)", name, maxd, tol);
	free(out);
	free(r.logits);
	engine_close(&e);
}

Test(model, llamacpp_f32) { check_quant_model("llama-F32", 0.002f); }
Test(model, llamacpp_f16) { check_quant_model("llama-f16", 0.002f); }
Test(model, llamacpp_bf16) { check_quant_model("llama-BF16", 0.01f); }
Test(model, llamacpp_q8_0) { check_quant_model("llama-Q8_0", 0.03f); }
Test(model, llamacpp_q4_0) { check_quant_model("llama-Q4_0", 0.03f); }
Test(model, llamacpp_q4_k_m) { check_quant_model("llama-Q4_K_M", 0.03f); }
Test(model, llamacpp_q5_k_m) { check_quant_model("llama-Q5_K_M", 0.03f); }
Test(model, llamacpp_q6_k) { check_quant_model("llama-Q6_K", 0.03f); }
Test(model, llamacpp_ropefreqs_f16) { check_quant_model("llama-ropefreqs-f16", 0.002f); }
Test(model, llamacpp_qwen2_f16) { check_quant_model("qwen2-f16", 0.002f); }
Test(model, llamacpp_qwen2_q8_0) { check_quant_model("qwen2-Q8_0", 0.03f); }

/* the same logits with the reference kernels: SIMD and scalar paths agree end to end */
Test(model, llamacpp_q4_k_m_ref_kernels)
{
	quant_init("ref");
	check_quant_model("llama-Q4_K_M", 0.03f);
	check_quant_model("llama-Q4_0", 0.03f);
	quant_init(NULL);
}

/* runs ids through shards [0,k) and [k,n) handing the hidden state over, as the cluster does */
Test(model, shards_equal_whole)
{
	char *path = test_synth("test-tiny", "q8_0");
	engine whole;
	cr_assert_eq(engine_open(&whole, path, 2, 64, false), 0);
	int ids[6] = { 1, 403, 407, 261, 378, 383 }, n = 6, n_vocab = whole.m->hp.n_vocab, dim = whole.m->hp.dim;
	float *want = malloc(sizeof(float) * n * n_vocab), *got = malloc(sizeof(float) * n * n_vocab);
	float *hidden = malloc(sizeof(float) * n * dim);
	cr_assert_eq(engine_eval(&whole, ids, n, 0, true, want), 0);
	int n_layers = whole.m->hp.n_layers;
	engine_close(&whole);
	pool *p = pool_init(2);
	for (int k = 1; k < n_layers; k++) {
		int err;
		model *a = model_load(path, 0, k, &err), *b = model_load(path, k, -1, &err);
		cr_assert(a && b);
		cr_assert(model_is_first(a) && !model_is_last(a) && !model_is_first(b) && model_is_last(b));
		kv_cache *ka = kv_cache_init(a, 64, KV_TYPE_DEFAULT), *kb = kv_cache_init(b, 64, KV_TYPE_DEFAULT);
		model_ctx *ca = model_ctx_init(a, p, 16), *cb = model_ctx_init(b, p, 16);
		int pos[6];
		kv_cache *kva[6], *kvb[6];
		for (int i = 0; i < n; i++) {
			pos[i] = i;
			kva[i] = ka;
			kvb[i] = kb;
		}
		model_batch ba = { .n = n, .tokens = ids, .pos = pos, .kv = kva };
		cr_assert_eq(model_forward(ca, &ba, hidden), n);
		model_batch bb = { .n = n, .embd = hidden, .pos = pos, .kv = kvb };
		cr_assert_eq(model_forward(cb, &bb, got), n);
		for (int i = 0; i < n * n_vocab; i++)
			cr_assert_float_eq(got[i], want[i], 1e-5, "split at %d: value %d", k, i);
		model_ctx_free(ca);
		model_ctx_free(cb);
		kv_cache_free(ka);
		kv_cache_free(kb);
		model_free(a);
		model_free(b);
	}
	pool_free(p);
	free(want);
	free(got);
	free(hidden);
	test_synth_free(path);
}

/* a prompt in one batch equals the same tokens one at a time, bit for bit, for the formats whose
 * gemm tiles add in vec_dot's order: the K-quants and the float types everywhere, Q4_0 with the
 * avx512 and ref kernels (Q8_0's tiles, and AVX2's and NEON's Q4_0 ones, agree with vec_dot only
 * to float rounding, which the next layer's activation quantization can turn into another int8) */
Test(model, batch_equals_sequential)
{
	static const char *const types[] = { "q4_k", "f16", "q4_0" };
	quant_init(NULL); /* the kernels the engine will take (SHOAL_KERNELS too) */
	bool q4_0_exact = !strcmp(quant_kernel_name(), "avx512") || !strcmp(quant_kernel_name(), "ref");
	int ids[12] = { 1, 403, 407, 261, 378, 383, 286, 261, 376, 400, 428, 395 };
	const int sizes[] = { 12, 5 }; /* past one 8-token tile; within gemm_row1_toks (one row at a time) */
	for (size_t t = 0; t < SH_ARRAY_LEN(types) - !q4_0_exact; t++) {
		engine e;
		char *path = test_synth("test-tiny-qwen2", types[t]);
		cr_assert_eq(engine_open(&e, path, 2, 64, false), 0);
		int n_vocab = e.m->hp.n_vocab;
		float *batch = malloc(sizeof(float) * 12 * n_vocab), *one = malloc(sizeof(float) * n_vocab);
		for (size_t k = 0; k < SH_ARRAY_LEN(sizes); k++) {
			int n = sizes[k];
			cr_assert_eq(engine_eval(&e, ids, n, 0, true, batch), 0);
			for (int i = 0; i < n; i++) {
				cr_assert_eq(engine_eval(&e, &ids[i], 1, i, false, one), 0);
				for (int j = 0; j < n_vocab; j++)
					cr_assert(one[j] == batch[i * n_vocab + j],
						  "%s, %d tokens: pos %d value %d: %g one by one, %g batched", types[t], n, i,
						  j, one[j], batch[i * n_vocab + j]);
			}
		}
		free(batch);
		free(one);
		engine_close(&e);
		test_synth_free(path);
	}
}

/* two sequences decoded in one batch give what each gives alone */
Test(model, multi_sequence_batch)
{
	engine e;
	char *path = test_synth("test-tiny", "q4_k");
	cr_assert_eq(engine_open(&e, path, 2, 64, false), 0);
	int n_vocab = e.m->hp.n_vocab;
	kv_cache *k1 = kv_cache_init(e.m, 64, KV_TYPE_DEFAULT), *k2 = kv_cache_init(e.m, 64, KV_TYPE_DEFAULT);
	int a[4] = { 1, 403, 407, 261 }, b[3] = { 1, 378, 383 };
	float *alone = malloc(sizeof(float) * 2 * n_vocab), *both = malloc(sizeof(float) * 2 * n_vocab);
	cr_assert_eq(engine_eval(&e, a, 4, 0, false, alone), 0);
	cr_assert_eq(engine_eval(&e, b, 3, 0, false, alone + n_vocab), 0);
	/* prefill each sequence into its own cache, then one batch holding the last token of each */
	int pos[4] = { 0, 1, 2, 0 };
	kv_cache *kv[4] = { k1, k1, k1, k2 };
	model_batch pre = { .n = 4, .tokens = (int[]){ 1, 403, 407, 1 }, .pos = pos, .kv = kv,
			    .logits = (bool[]){ false, false, false, false } };
	cr_assert_eq(model_forward(e.ctx, &pre, both), 0);
	model_batch pre2 = { .n = 1, .tokens = (int[]){ 378 }, .pos = (int[]){ 1 }, .kv = (kv_cache *[]){ k2 },
			     .logits = (bool[]){ false } };
	cr_assert_eq(model_forward(e.ctx, &pre2, both), 0);
	model_batch step = { .n = 2, .tokens = (int[]){ 261, 383 }, .pos = (int[]){ 3, 2 },
			     .kv = (kv_cache *[]){ k1, k2 } };
	cr_assert_eq(model_forward(e.ctx, &step, both), 2);
	for (int j = 0; j < 2 * n_vocab; j++)
		cr_assert_float_eq(both[j], alone[j], 1e-4, "value %d", j);
	free(alone);
	free(both);
	kv_cache_free(k1);
	kv_cache_free(k2);
	engine_close(&e);
	test_synth_free(path);
}

Test(model, rejects_bad_inputs)
{
	engine e;
	cr_assert_eq(engine_open(&e, TEST_STORIES, 1, 8, false), 0);
	int bad_tok = 512, ok_tok = 1;
	sh_log_set_level(-1);
	cr_expect_eq(engine_eval(&e, &bad_tok, 1, 0, false, e.logits), SH_EINVAL);
	cr_expect_eq(engine_eval(&e, &ok_tok, 1, 8, false, e.logits), SH_ERANGE);
	cr_expect_null(model_load(TEST_STORIES, 3, 2, NULL));
	cr_expect_null(model_load(test_data("vocab/ggml-vocab-gpt-2.gguf"), 0, -1, NULL));
	cr_expect_null(model_load("/nonexistent.gguf", 0, -1, NULL));
	sh_log_set_level(SH_LOG_INFO);
	cr_expect_eq(engine_eval(&e, &ok_tok, 1, 7, false, e.logits), 0);
	engine_close(&e);
}

Test(model, split_set_equals_one_file)
{
	char *one = test_synth("test-tiny", "q8_0"), dir[] = "/tmp/shoal-test-split-XXXXXX", path[256], part1[256];
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/m.gguf", dir);
	snprintf(part1, sizeof part1, "%s/m-00001-of-00003.gguf", dir);
	cr_assert_eq(synth_write("test-tiny", "q8_0", TEST_STORIES, 1234, 1, 3, path), 0);
	engine a, b;
	cr_assert_eq(engine_open(&a, one, 2, 64, false), 0);
	cr_assert_eq(engine_open(&b, part1, 2, 64, false), 0);
	cr_assert_eq(b.m->g->n_parts, 3);
	int ids[5] = { 1, 403, 407, 261, 378 }, n_vocab = a.m->hp.n_vocab;
	float *la = malloc(sizeof(float) * 5 * n_vocab), *lb = malloc(sizeof(float) * 5 * n_vocab);
	cr_assert_eq(engine_eval(&a, ids, 5, 0, true, la), 0);
	cr_assert_eq(engine_eval(&b, ids, 5, 0, true, lb), 0);
	cr_assert_eq(memcmp(la, lb, sizeof(float) * 5 * n_vocab), 0, "the split set's logits differ");
	engine_close(&a);
	engine_close(&b);
	free(la);
	free(lb);
	for (int k = 1; k <= 3; k++) {
		snprintf(path, sizeof path, "%s/m-%05d-of-00003.gguf", dir, k);
		unlink(path);
	}
	rmdir(dir);
	test_synth_free(one);
}
