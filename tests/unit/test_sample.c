/*
 * test_sample.c - the sampling chain: greedy, seeding, top-k/top-p/min-p exclusion, penalties,
 * and the empirical distribution against softmax(logits / T).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "sample/sample.h"

static sample_params params(float temp, int top_k, float top_p, float min_p, uint64_t seed)
{
	sample_params p;
	sample_params_default(&p);
	p.temp = temp;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.seed = seed;
	return p;
}

static void random_logits(float *l, int n, uint64_t seed, float scale)
{
	sh_rng r;
	sh_rng_seed(&r, seed);
	for (int i = 0; i < n; i++)
		l[i] = scale * sh_rng_normal(&r);
}

/* draws n tokens from fresh copies of logits, counting them in hist[n_vocab] */
static void draw_many(sample_ctx *s, const float *logits, int n_vocab, int n, int *hist)
{
	float *work = malloc(sizeof(float) * (size_t)n_vocab);
	for (int i = 0; i < n; i++) {
		memcpy(work, logits, sizeof(float) * (size_t)n_vocab);
		int t = sample_next(s, work);
		cr_assert(t >= 0 && t < n_vocab);
		hist[t]++;
	}
	free(work);
}

Test(sample, defaults)
{
	sample_params p;
	sample_params_default(&p);
	cr_assert_float_eq(p.temp, 0.8f, 1e-6);
	cr_assert_eq(p.top_k, 40);
	cr_assert_float_eq(p.top_p, 0.95f, 1e-6);
	cr_assert_float_eq(p.min_p, 0.05f, 1e-6);
	cr_assert_float_eq(p.repeat_penalty, 1.0f, 0);
	cr_assert_eq(p.penalty_last_n, 64);
	cr_assert_null(sample_init(&p, 0));
	p.top_p = 1.5f;
	cr_assert_null(sample_init(&p, 10));
	p.top_p = 1.0f;
	p.repeat_penalty = 0.0f;
	cr_assert_null(sample_init(&p, 10));
	sample_free(NULL);
}

Test(sample, greedy_is_argmax)
{
	enum { N = 5000 };
	static float l[N];
	sample_params p = params(0.0f, 40, 0.95f, 0.05f, 1);
	sample_ctx *s = sample_init(&p, N);
	cr_assert(s);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		random_logits(l, N, seed, 2.0f);
		int best = 0;
		for (int i = 1; i < N; i++)
			if (l[i] > l[best])
				best = i;
		cr_assert_eq(sample_next(s, l), best);
	}
	/* ties: the lowest id */
	for (int i = 0; i < N; i++)
		l[i] = 0.0f;
	l[17] = l[4000] = 3.0f;
	cr_assert_eq(sample_next(s, l), 17);
	sample_free(s);
}

static void sequence(uint64_t seed, int *out, int n)
{
	enum { N = 1000 };
	float base[N], l[N];
	random_logits(base, N, 99, 1.5f);
	sample_params p = params(1.0f, 0, 0.98f, 0.0f, seed);
	sample_ctx *s = sample_init(&p, N);
	cr_assert(s);
	for (int i = 0; i < n; i++) {
		memcpy(l, base, sizeof l);
		out[i] = sample_next(s, l);
	}
	/* reset restarts from the seed */
	sample_reset(s);
	memcpy(l, base, sizeof l);
	cr_assert_eq(sample_next(s, l), out[0]);
	sample_free(s);
}

Test(sample, seeded)
{
	int a[200], b[200], c[200];
	sequence(42, a, 200);
	sequence(42, b, 200);
	sequence(43, c, 200);
	cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, different sequence");
	int diff = 0;
	for (int i = 0; i < 200; i++)
		diff += a[i] != c[i];
	cr_assert_gt(diff, 50, "different seeds gave nearly the same sequence (%d differ)", diff);
}

Test(sample, top_k_1_is_greedy)
{
	enum { N = 3000 };
	static float l[N], copy[N];
	const float temps[] = { 0.05f, 0.7f, 1.0f, 5.0f, 100.0f };
	for (size_t t = 0; t < SH_ARRAY_LEN(temps); t++) {
		sample_params p = params(temps[t], 1, 0.95f, 0.0f, 7 + t);
		sample_ctx *s = sample_init(&p, N);
		cr_assert(s);
		for (uint64_t seed = 1; seed <= 10; seed++) {
			random_logits(l, N, seed * 31 + t, 1.0f);
			memcpy(copy, l, sizeof l);
			int best = 0;
			for (int i = 1; i < N; i++)
				if (l[i] > l[best])
					best = i;
			cr_assert_eq(sample_next(s, copy), best);
		}
		sample_free(s);
	}
}

/* p = 0.5, 0.3, 0.15, 0.05 at temp 1 */
static void four_logits(float *l)
{
	const float p[4] = { 0.5f, 0.3f, 0.15f, 0.05f };
	for (int i = 0; i < 4; i++)
		l[i] = logf(p[i]);
}

Test(sample, top_p_excludes)
{
	float l[4];
	four_logits(l);
	sample_params p = params(1.0f, 0, 0.75f, 0.0f, 5); /* nucleus {0, 1}: 0.8 >= 0.75 */
	sample_ctx *s = sample_init(&p, 4);
	int hist[4] = { 0 };
	draw_many(s, l, 4, 20000, hist);
	cr_assert_eq(hist[2] + hist[3], 0, "drew outside the nucleus: %d %d", hist[2], hist[3]);
	/* renormalized: 0.625 / 0.375 */
	cr_assert_float_eq(hist[0] / 20000.0, 0.625, 0.015);
	sample_free(s);

	/* with top-k as well: the nucleus is taken inside the top k, renormalized */
	p = params(1.0f, 3, 0.6f, 0.0f, 5); /* top 3: 0.526, 0.316, 0.158 -> {0, 1} */
	s = sample_init(&p, 4);
	memset(hist, 0, sizeof hist);
	draw_many(s, l, 4, 20000, hist);
	cr_assert_eq(hist[2] + hist[3], 0);
	cr_assert_gt(hist[1], 5000);
	sample_free(s);
}

Test(sample, min_p_excludes)
{
	float l[4];
	four_logits(l);
	sample_params p = params(1.0f, 0, 1.0f, 0.2f, 11); /* threshold 0.1: token 3 goes */
	sample_ctx *s = sample_init(&p, 4);
	int hist[4] = { 0 };
	draw_many(s, l, 4, 20000, hist);
	cr_assert_eq(hist[3], 0);
	cr_assert_gt(hist[2], 2000); /* 0.15 / 0.95 of the draws */
	sample_free(s);

	/* top-p sees the whole mass before min-p: p = .5 .25 .15 .1, top_p .8 keeps {0, 1, 2}
	 * (cumulative .9), min-p .25 (threshold .125) then drops only 3. Min-p first would have
	 * left mass .9 and a nucleus {0, 1} (.75 >= .72). */
	const float q[4] = { 0.5f, 0.25f, 0.15f, 0.1f };
	for (int i = 0; i < 4; i++)
		l[i] = logf(q[i]);
	for (int top_k = 0; top_k <= 4; top_k += 4) {
		p = params(1.0f, top_k, 0.8f, 0.25f, 3);
		s = sample_init(&p, 4);
		memset(hist, 0, sizeof hist);
		draw_many(s, l, 4, 20000, hist);
		cr_assert_eq(hist[3], 0);
		cr_assert_float_eq(hist[2] / 20000.0, 0.15 / 0.9, 0.015);
		sample_free(s);
	}
}

/* top-p over a large vocab without top-k (the incremental selection path): every draw lies in
 * the nucleus computed by a full sort */
static const float *cmp_logits;
static int cmp_desc(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	float lx = cmp_logits[x], ly = cmp_logits[y];
	return lx > ly ? -1 : lx < ly ? 1 : x - y;
}

Test(sample, top_p_large_vocab)
{
	enum { N = 150000 };
	float *l = malloc(sizeof(float) * N), *work = malloc(sizeof(float) * N);
	int *order = malloc(sizeof(int) * N);
	char *in_nucleus = calloc(N, 1);
	random_logits(l, N, 3, 3.0f);
	const float temp = 0.9f, top_p = 0.9f;
	for (int i = 0; i < N; i++)
		order[i] = i;
	cmp_logits = l;
	qsort(order, N, sizeof(int), cmp_desc);
	double sum = 0.0, cum = 0.0;
	for (int i = 0; i < N; i++)
		sum += exp((l[i] - l[order[0]]) / temp);
	int m = 0;
	while (cum < top_p * sum)
		cum += exp((l[order[m++]] - l[order[0]]) / temp);
	cr_assert_gt(m, 1024, "want a nucleus larger than the first selection rounds, got %d", m);
	for (int i = 0; i < m + 2; i++) /* slack for rounding at the boundary */
		in_nucleus[order[i]] = 1;

	sample_params p = params(temp, 0, top_p, 0.0f, 1);
	sample_ctx *s = sample_init(&p, N);
	for (int i = 0; i < 300; i++) {
		memcpy(work, l, sizeof(float) * N);
		int t = sample_next(s, work);
		cr_assert(in_nucleus[t], "token %d outside the nucleus", t);
	}
	sample_free(s);
	free(l);
	free(work);
	free(order);
	free(in_nucleus);
}

Test(sample, penalties)
{
	sample_params p = params(0.0f, 0, 1.0f, 0.0f, 1);
	p.repeat_penalty = 1.1f;
	sample_ctx *s = sample_init(&p, 8);
	/* positive logits are divided */
	float l[8] = { 2.0f, 1.9f };
	cr_assert_eq(sample_next(s, l), 0);
	sample_accept(s, 0);
	l[0] = 2.0f;
	cr_assert_eq(sample_next(s, l), 1);
	cr_assert_float_eq(l[0], 2.0f / 1.1f, 1e-6);
	cr_assert_float_eq(l[1], 1.9f, 0);
	/* negative logits are multiplied; counted once however often the token repeats */
	sample_accept(s, 0);
	float neg[8] = { -1.0f, -1.05f, -9, -9, -9, -9, -9, -9 };
	cr_assert_eq(sample_next(s, neg), 1);
	cr_assert_float_eq(neg[0], -1.1f, 1e-6);
	sample_free(s);

	/* frequency: count * freq */
	p = params(0.0f, 0, 1.0f, 0.0f, 1);
	p.freq_penalty = 0.3f;
	s = sample_init(&p, 8);
	sample_accept(s, 0);
	float f[8] = { 1.0f, 0.5f };
	cr_assert_eq(sample_next(s, f), 0); /* 0.7 > 0.5 */
	sample_accept(s, 0);
	f[0] = 1.0f;
	cr_assert_eq(sample_next(s, f), 1); /* 0.4 < 0.5 */
	cr_assert_float_eq(f[0], 0.4f, 1e-6);
	sample_free(s);

	/* presence: once, whatever the count */
	p = params(0.0f, 0, 1.0f, 0.0f, 1);
	p.presence_penalty = 0.6f;
	s = sample_init(&p, 8);
	sample_accept(s, 0);
	sample_accept(s, 0);
	sample_accept(s, 0);
	float q[8] = { 1.0f, 0.5f };
	cr_assert_eq(sample_next(s, q), 1);
	cr_assert_float_eq(q[0], 0.4f, 1e-6);
	sample_free(s);

	/* the window: a token older than penalty_last_n is no longer penalized */
	p = params(0.0f, 0, 1.0f, 0.0f, 1);
	p.presence_penalty = 0.6f;
	p.penalty_last_n = 2;
	s = sample_init(&p, 8);
	sample_accept(s, 0);
	sample_accept(s, 5);
	float w[8] = { 1.0f, 0.5f };
	cr_assert_eq(sample_next(s, w), 1);
	sample_accept(s, 6); /* 0 falls out of the window */
	w[0] = 1.0f;
	cr_assert_eq(sample_next(s, w), 0);
	cr_assert_float_eq(w[0], 1.0f, 0);
	sample_accept(s, 7);
	w[5] = w[6] = w[7] = 2.0f; /* 5 is out, 6 and 7 are in: 1.4 */
	cr_assert_eq(sample_next(s, w), 5);
	cr_assert_float_eq(w[6], 1.4f, 1e-6);
	/* reset forgets the history */
	sample_reset(s);
	w[7] = 2.0f;
	w[5] = 1.0f;
	cr_assert_eq(sample_next(s, w), 7);
	cr_assert_float_eq(w[7], 2.0f, 0);
	sample_free(s);

	/* penalty_last_n = 0: nothing is penalized */
	p = params(0.0f, 0, 1.0f, 0.0f, 1);
	p.presence_penalty = 0.6f;
	p.penalty_last_n = 0;
	s = sample_init(&p, 8);
	sample_accept(s, 0);
	float z[8] = { 1.0f, 0.5f };
	cr_assert_eq(sample_next(s, z), 0);
	sample_free(s);
}

Test(sample, distribution_matches_softmax)
{
	enum { N = 8, DRAWS = 20000 };
	const float l[N] = { 1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.5f, 1.2f, 0.7f };
	const float temps[] = { 0.7f, 1.0f, 1.8f };
	for (size_t t = 0; t < SH_ARRAY_LEN(temps); t++) {
		for (int top_k = 0; top_k <= 4; top_k += 4) {
			sample_params p = params(temps[t], top_k, 1.0f, 0.0f, 1234 + t);
			sample_ctx *s = sample_init(&p, N);
			int hist[N] = { 0 };
			draw_many(s, l, N, DRAWS, hist);
			/* expected: softmax over all, or over the 4 best (ids 3, 6, 0, 7) */
			double e[N], sum = 0.0;
			for (int i = 0; i < N; i++) {
				bool in = top_k == 0 || i == 3 || i == 6 || i == 0 || i == 7;
				e[i] = in ? exp(l[i] / temps[t]) : 0.0;
				sum += e[i];
			}
			for (int i = 0; i < N; i++) {
				double want = e[i] / sum, got = (double)hist[i] / DRAWS;
				double tol = 5.0 * sqrt(want * (1.0 - want) / DRAWS) + 1e-9;
				cr_assert(fabs(got - want) <= tol, "T=%g k=%d token %d: %.4f, want %.4f",
					  temps[t], top_k, i, got, want);
			}
			sample_free(s);
		}
	}
}
