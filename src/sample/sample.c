/*
 * sample.c - the sampling chain.
 *
 *   penalties   over the distinct tokens of the last penalty_last_n accepted tokens (all of
 *               them since reset if negative, none if 0): repetition as llama.cpp (a positive
 *               logit is divided by repeat_penalty, a negative one multiplied), then OpenAI
 *               frequency/presence: logit -= count * freq + (count > 0) * presence;
 *   greedy      temp <= 0: argmax (ties: the lowest id);
 *   top-k       the k best logits, found by heap selection (O(n log k), no full sort);
 *   softmax     p ~ exp((logit - max) / temp) over the candidates;
 *   top-p       the smallest best-first prefix whose mass reaches top_p of the total, found by
 *               a quickselect on mass (partition, keep the side where the cut lies): O(n)
 *               expected, no sort of a 152K vocab even when the nucleus is large;
 *   min-p       drops p < min_p * p_max;
 *   draw        one uniform from the ctx's rng over the remaining mass.
 *
 * Orderings are total (logit, then id), so a seed and a set of logits fix the result. Penalty
 * bookkeeping is incremental: per-token counts, the list of distinct tokens in the window and a
 * ring of the window's tokens, so sample_accept and the penalties cost O(1) per distinct token.
 * All buffers are allocated once in sample_init; sample_next does not allocate.
 */
#include "sample/sample.h"

#include <math.h>

#define SAMPLE_MAX_WINDOW (1 << 20)

struct sample_ctx {
	sample_params p;
	int n_vocab;
	sh_rng rng;

	int *ring;        /* [window] the last accepted tokens (window > 0) */
	int window;       /* penalty_last_n: > 0 a window, < 0 unbounded, 0 no penalties */
	int ring_n, ring_pos;
	int *count;       /* [n_vocab] occurrences of each token in the window */
	int *seen;        /* [n_vocab] distinct tokens in the window */
	int *seen_pos;    /* [n_vocab] index of a token in seen (valid while count > 0) */
	int n_seen;

	int *cand;        /* [n_vocab] candidate ids */
	float *prob;      /* [n_vocab] unnormalized probability, indexed by token id */
};

void sample_params_default(sample_params *p)
{
	*p = (sample_params){
		.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
		.freq_penalty = 0.0f, .presence_penalty = 0.0f, .penalty_last_n = 64, .seed = 0,
	};
}

sample_ctx *sample_init(const sample_params *p, int n_vocab)
{
	if (!p || n_vocab <= 0 || isnan(p->temp) || !(p->top_p >= 0.0f && p->top_p <= 1.0f) ||
	    !(p->min_p >= 0.0f && p->min_p <= 1.0f) || !(p->repeat_penalty > 0.0f) ||
	    !isfinite(p->repeat_penalty) || !isfinite(p->freq_penalty) || !isfinite(p->presence_penalty) ||
	    p->penalty_last_n > SAMPLE_MAX_WINDOW) {
		sh_log_error("sample: invalid parameters (n_vocab %d)", n_vocab);
		return NULL;
	}
	sample_ctx *s = sh_alloc(sizeof *s);
	if (!s)
		return NULL;
	s->p = *p;
	s->n_vocab = n_vocab;
	s->window = p->penalty_last_n;
	size_t n = (size_t)n_vocab;
	s->count = sh_alloc(n * sizeof *s->count);
	s->seen = sh_alloc(n * sizeof *s->seen);
	s->seen_pos = sh_alloc(n * sizeof *s->seen_pos);
	s->cand = sh_alloc(n * sizeof *s->cand);
	s->prob = sh_alloc(n * sizeof *s->prob);
	s->ring = s->window > 0 ? sh_alloc((size_t)s->window * sizeof *s->ring) : NULL;
	if (!s->count || !s->seen || !s->seen_pos || !s->cand || !s->prob || (s->window > 0 && !s->ring)) {
		sample_free(s);
		return NULL;
	}
	sample_reset(s);
	return s;
}

void sample_free(sample_ctx *s)
{
	if (!s)
		return;
	sh_free(s->ring);
	sh_free(s->count);
	sh_free(s->seen);
	sh_free(s->seen_pos);
	sh_free(s->cand);
	sh_free(s->prob);
	sh_free(s);
}

/* forgets the penalty history and restarts the generator from the seed */
void sample_reset(sample_ctx *s)
{
	for (int i = 0; i < s->n_seen; i++)
		s->count[s->seen[i]] = 0;
	s->n_seen = 0;
	s->ring_n = s->ring_pos = 0;
	sh_rng_seed(&s->rng, s->p.seed);
}

/* ---------------------------------------------------------------- penalties */
static void count_add(sample_ctx *s, int t)
{
	if (s->count[t]++ == 0) {
		s->seen_pos[t] = s->n_seen;
		s->seen[s->n_seen++] = t;
	}
}

static void count_remove(sample_ctx *s, int t)
{
	if (--s->count[t] == 0) {
		int last = s->seen[--s->n_seen];
		s->seen[s->seen_pos[t]] = last;
		s->seen_pos[last] = s->seen_pos[t];
	}
}

void sample_accept(sample_ctx *s, int token)
{
	if (!s || token < 0 || token >= s->n_vocab || s->window == 0)
		return;
	if (s->window > 0) {
		if (s->ring_n == s->window)
			count_remove(s, s->ring[s->ring_pos]);
		else
			s->ring_n++;
		s->ring[s->ring_pos] = token;
		s->ring_pos = (s->ring_pos + 1) % s->window;
	}
	count_add(s, token);
}

static void apply_penalties(const sample_ctx *s, float *logits)
{
	float rep = s->p.repeat_penalty, freq = s->p.freq_penalty, pres = s->p.presence_penalty;
	if (rep == 1.0f && freq == 0.0f && pres == 0.0f)
		return;
	for (int i = 0; i < s->n_seen; i++) {
		int t = s->seen[i];
		float l = logits[t];
		if (rep != 1.0f)
			l = l > 0.0f ? l / rep : l * rep;
		logits[t] = l - (float)s->count[t] * freq - pres;
	}
}

/* ---------------------------------------------------------------- selection */
/* a ranks before b: higher logit, then lower id */
static inline bool better(const float *logits, int a, int b)
{
	return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

/* restores the "worst at the root" heap property below position i of h[0..n) */
static void sift_down(int *h, int n, int i, const float *logits)
{
	int x = h[i];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && better(logits, h[c], h[c + 1]))
			c++;
		if (!better(logits, x, h[c]))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* permutes ids[0..n) so its m best come first, best first; the rest follow in any order */
static void select_top(int *ids, int n, int m, const float *logits)
{
	for (int i = m / 2 - 1; i >= 0; i--)
		sift_down(ids, m, i, logits);
	for (int j = m; j < n; j++) {
		if (better(logits, ids[j], ids[0])) {
			int t = ids[0];
			ids[0] = ids[j];
			ids[j] = t;
			sift_down(ids, m, 0, logits);
		}
	}
	/* heap sort: moving the worst to the end leaves the best first */
	for (int k = m - 1; k > 0; k--) {
		int t = ids[0];
		ids[0] = ids[k];
		ids[k] = t;
		sift_down(ids, k, 0, logits);
	}
}

static inline void swap_int(int *a, int *b)
{
	int t = *a;
	*a = *b;
	*b = t;
}

/* Reorders cand[0..n) so that its first r elements are the smallest best-first prefix whose mass
 * (prob) reaches target; returns r and that mass. Invariant: cand[0..lo) are in the prefix with
 * mass acc, each ranks above all of cand[lo..n), and the cut lies in (lo, hi]. */
static int top_p_cut(int *cand, int n, const float *logits, const float *prob, double target, double *mass)
{
	int lo = 0, hi = n;
	double acc = 0.0;
	while (hi - lo > 16) {
		/* median of three as the pivot, moved to hi - 1; then partition: better ones first */
		int a = lo, b = lo + (hi - lo) / 2, c = hi - 1;
		if (better(logits, cand[b], cand[a]))
			swap_int(&cand[a], &cand[b]);
		if (better(logits, cand[c], cand[b])) {
			swap_int(&cand[b], &cand[c]);
			if (better(logits, cand[b], cand[a]))
				swap_int(&cand[a], &cand[b]);
		}
		swap_int(&cand[b], &cand[hi - 1]);
		int pivot = cand[hi - 1], k = lo;
		double up = 0.0;
		for (int j = lo; j < hi - 1; j++) {
			if (better(logits, cand[j], pivot)) {
				up += prob[cand[j]];
				swap_int(&cand[j], &cand[k++]);
			}
		}
		swap_int(&cand[k], &cand[hi - 1]);
		if (acc + up >= target) {
			hi = k;
		} else {
			acc += up + prob[pivot];
			lo = k + 1;
			if (acc >= target) {
				*mass = acc;
				return lo;
			}
		}
	}
	/* a few left: insertion sort, then walk */
	for (int i = lo + 1; i < hi; i++) {
		int x = cand[i], j = i;
		for (; j > lo && better(logits, x, cand[j - 1]); j--)
			cand[j] = cand[j - 1];
		cand[j] = x;
	}
	for (int i = lo; i < hi; i++) {
		acc += prob[cand[i]];
		if (acc >= target) {
			*mass = acc;
			return i + 1;
		}
	}
	*mass = acc; /* rounding left the target unreached: all of it */
	return hi > 0 ? hi : 1;
}

static int argmax(const float *logits, int n)
{
	int best = 0;
	float v = logits[0];
	for (int i = 1; i < n; i++) {
		if (logits[i] > v) {
			v = logits[i];
			best = i;
		}
	}
	return best;
}

int sample_next(sample_ctx *s, float *logits)
{
	SH_ASSERT(s && logits);
	apply_penalties(s, logits);
	int n_vocab = s->n_vocab;
	if (s->p.temp <= 0.0f)
		return argmax(logits, n_vocab);

	/* candidates: the top k (best first), or everything */
	int *cand = s->cand;
	int n = n_vocab;
	for (int i = 0; i < n_vocab; i++)
		cand[i] = i;
	int best;
	if (s->p.top_k > 0 && s->p.top_k < n_vocab) {
		n = s->p.top_k;
		select_top(cand, n_vocab, n, logits);
		best = cand[0];
	} else {
		best = argmax(logits, n_vocab);
	}
	float l_max = logits[best];
	if (!isfinite(l_max))
		return best;

	/* unnormalized softmax (p_max = 1). Without top-p, min-p can drop tokens right away, and
	 * x below log(min_p) (less a margin, so that p decides at the boundary) skips the expf;
	 * top-p needs the mass of every candidate first. */
	float inv_t = 1.0f / s->p.temp, min_p = s->p.min_p;
	bool top_p = s->p.top_p < 1.0f;
	float early_min_p = top_p ? 0.0f : min_p;
	float x_cut = early_min_p > 0.0f ? logf(early_min_p) - 1e-3f : -INFINITY;
	float *prob = s->prob;
	double sum = 0.0;
	int kept = 0;
	for (int i = 0; i < n; i++) {
		int t = cand[i];
		float x = (logits[t] - l_max) * inv_t;
		if (x < x_cut)
			continue;
		float p = expf(x);
		if (p < early_min_p)
			continue;
		prob[t] = p;
		sum += p;
		cand[kept++] = t;
	}
	n = kept; /* the best always survives: its p is 1 */

	/* top-p: the smallest best-first prefix holding top_p of the mass; then min-p on it */
	if (top_p) {
		n = top_p_cut(cand, n, logits, prob, (double)s->p.top_p * sum, &sum);
		if (min_p > 0.0f) {
			kept = 0;
			sum = 0.0;
			for (int i = 0; i < n; i++) {
				if (prob[cand[i]] >= min_p) {
					sum += prob[cand[i]];
					cand[kept++] = cand[i];
				}
			}
			n = kept;
		}
	}

	/* draw */
	double r = (double)sh_rng_f32(&s->rng) * sum;
	for (int i = 0; i < n - 1; i++) {
		r -= prob[cand[i]];
		if (r < 0.0)
			return cand[i];
	}
	return cand[n - 1];
}
