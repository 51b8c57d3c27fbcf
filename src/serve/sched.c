/*
 * sched.c - the slot scheduler (see sched.h for the model).
 *
 * Locking: one mutex (s->mu) guards the queue, the slot table (request pointers, busy flags), and
 * the shared part of every request (text, status, cancel flag, references). A scheduler thread
 * (a lane; one unless the backend allows concurrent steps) drops it for the backend step and for
 * sampling/detokenizing; what it touches then (its batch arrays, the token history of the slots
 * it marked busy for its step, their requests' samplers and detokenizers) no other lane touches
 * until it clears the busy flags. Each request has its own condition variable for its reader;
 * lanes sleep on s->cv when no slot is ready for them.
 *
 * A request's text: gen holds everything generated (repaired to valid UTF-8); gen[0..shown) is
 * final (it cannot be part of a stop string), gen[shown..) is held back; the reader has taken
 * gen[0..read).
 */
#include "serve/sched.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define RATE_BUCKETS 16   /* one per second, a ring */
#define RATE_WINDOW 10    /* seconds averaged by gen_rate */

struct sched_req {
	sched *s;
	sched_req *next;          /* queue link */
	int refs;                 /* caller + scheduler */
	pthread_cond_t cv;        /* new text or the end, for the reader */

	/* set at submit, then read-only */
	int *prompt;              /* [n_prompt] */
	int n_prompt;
	sched_params p;
	char *stops[SCHED_MAX_STOP];

	/* the scheduler thread's own */
	sample_ctx *smp;
	vocab_stream vs;
	jsonc_state *js;          /* the constraint's state, or NULL */
	bool js_failed;           /* no token can continue it */
	size_t wrap_pos;          /* bytes of wrap_pre, then (after the value) of wrap_post, produced */
	bool in_value, after;     /* the value has begun; it is complete (wrap_post now) */

	/* under s->mu */
	text_buf gen;
	size_t shown, read;
	bool cancelled;
	sched_status st;
	/* logprobs: one record per generated token, with where its text lies in gen */
	sched_token *toks;
	size_t *tok_start, *tok_end;
	int n_toks, cap_toks;
	int toks_shown;           /* records whose text is shown */
	int toks_read;            /* records given to sched_req_tokens */
};

typedef struct {
	sched_req *r;             /* NULL: free */
	int *hist;                /* [n_ctx] tokens whose KV entries are valid */
	int n_hist;
	int n_eval;               /* prompt tokens evaluated (cached ones included) */
	int next;                 /* generated token to feed at the next step, -1: none */
	text_buf piece;           /* text of the token sampled in this step */
	int tok;                  /* that token */
	sched_token rec;          /* its log-probabilities (logprobs) */
	uint8_t *mask;            /* [n_vocab] the tokens a constraint allows now */
	float *raw;               /* [n_vocab] the logits before sampling changes them (logprobs) */
	bool eog;                 /* it ends generation */
	bool busy;                /* in a lane's step */
} slot;

/* A lane: one scheduler thread with its own batch. Several lanes keep several disjoint
 * micro-batches in flight through a backend whose step may run concurrently (a pipeline: while
 * one shard computes lane 0's batch, another computes lane 1's). The backend says how many are
 * worth it now (L: a pipeline's shards over the entry nodes using them); a lane starts a step only
 * while fewer than L are in flight, and takes up to ceil(active / L) of the slots that are ready
 * (not in another step), so with L = 1 everything shares one batch and with L = 2 two halves
 * alternate. A slot belongs to no lane: whichever lane is free takes it next. One lane is the
 * classic loop. */
typedef struct {
	sched *s;
	int id;
	pthread_t thread;
	bool started;
	int rr;                       /* where prompt chunks start (round robin) */
	int *b_tok, *b_seq, *b_pos;   /* [max_batch] */
	bool *b_want;                 /* [max_batch] */
	int *row_slot;                /* [n_slots] slot of each logits row */
	int *taken;                   /* [n_slots] the slots of the step in flight */
	int n_taken;
	float *logits;                /* [n_slots, n_vocab] */
} lane;

struct sched {
	sched_backend be;
	sched_opts o;
	int n_lanes;
	lane *lanes;                  /* [n_lanes] */
	int n_inflight;               /* steps running */
	int rr;                       /* where the next batch starts looking (round robin) */
	int n_running;                /* lanes not yet exited */
	bool started, stopping, stopped;
	pthread_mutex_t mu;
	pthread_cond_t cv;

	slot *slots;              /* [n_slots] */
	int n_active;
	sched_req *q_head, *q_tail;
	int n_queued;

	jsonc_vocab *jv;              /* the vocabulary for constraints, built by the first that needs it */
	char **tok_bytes;             /* [n_vocab] each token's bytes, for the text around a value */
	int *tok_lens;
	sched_stats stats;
	uint64_t rate_n[RATE_BUCKETS];
	int64_t rate_sec[RATE_BUCKETS];
	double t_start;
};

/* ---------------------------------------------------------------- helpers */
static void req_free(sched_req *r)
{
	jsonc_state_free(r->js);
	jsonc_free(r->p.constraint);
	free(r->toks);
	free(r->tok_start);
	free(r->tok_end);
	sample_free(r->smp);
	free(r->prompt);
	text_buf_free(&r->gen);
	pthread_cond_destroy(&r->cv);
	free(r);
}

/* drops one reference; under s->mu */
static void req_unref(sched_req *r)
{
	SH_ASSERT(r->refs > 0);
	if (--r->refs == 0)
		req_free(r);
}

static void rate_add(sched *s, double now, uint64_t n)
{
	int64_t sec = (int64_t)now;
	int i = (int)(sec % RATE_BUCKETS);
	if (s->rate_sec[i] != sec) {
		s->rate_sec[i] = sec;
		s->rate_n[i] = 0;
	}
	s->rate_n[i] += n;
}

static double rate_get(const sched *s, double now)
{
	int64_t sec = (int64_t)now;
	uint64_t sum = 0;
	for (int i = 0; i < RATE_BUCKETS; i++)
		if (sec - s->rate_sec[i] < RATE_WINDOW && s->rate_sec[i] <= sec)
			sum += s->rate_n[i];
	double span = SH_MIN((double)RATE_WINDOW, now - s->t_start);
	return span > 0 ? (double)sum / span : 0.0;
}

/* appends the repaired bytes of a detokenizer's output; scheduler thread */
static void piece_add(text_buf *b, const char *s, int n)
{
	if (n > 0 && text_utf8_repair(b, s, (size_t)n))
		sh_log_error("sched: out of memory for generated text");
}

/* the records whose text is now shown (all of it; at the end, any of it); under s->mu */
static void toks_show(sched_req *r, bool end)
{
	while (r->toks_shown < r->n_toks &&
	       (r->tok_end[r->toks_shown] <= r->shown || (end && r->tok_start[r->toks_shown] < r->shown)))
		r->toks_shown++;
}

/* one more record, its text at [start, end) of gen; under s->mu */
static int toks_add(sched_req *r, const sched_token *t, size_t start, size_t end)
{
	if (r->n_toks == r->cap_toks) {
		int cap = r->cap_toks ? 2 * r->cap_toks : 64;
		sched_token *a = realloc(r->toks, sizeof *a * (size_t)cap);
		if (a)
			r->toks = a;
		size_t *b = realloc(r->tok_start, sizeof *b * (size_t)cap);
		if (b)
			r->tok_start = b;
		size_t *c = realloc(r->tok_end, sizeof *c * (size_t)cap);
		if (c)
			r->tok_end = c;
		if (!a || !b || !c)
			return SH_ENOMEM;
		r->cap_toks = cap;
	}
	r->toks[r->n_toks] = *t;
	r->tok_start[r->n_toks] = start;
	r->tok_end[r->n_toks] = end;
	r->n_toks++;
	return SH_OK;
}

/* Ends a request: the held-back text is released (after a last stop-string scan), the reader
 * woken, the slot (if any) freed, the scheduler's reference dropped. Under s->mu. */
static void req_finish(sched *s, sched_req *r, slot *sl, enum sched_finish why)
{
	if (why == SCHED_FINISH_STOP || why == SCHED_FINISH_LENGTH) {
		char tail[16];
		int n = vocab_stream_flush(&r->vs, tail, sizeof tail);
		piece_add(&r->gen, tail, n);
		size_t safe;
		int which;
		long m = text_stop_scan(r->gen.p, r->gen.len, r->shown, r->stops, r->p.n_stop, &safe, &which);
		if (m >= 0) {
			r->gen.len = (size_t)m;
			r->gen.p[m] = 0;
			r->st.stop = which;
			why = SCHED_FINISH_STOP;
		}
	}
	r->shown = r->gen.len;
	toks_show(r, true);
	r->st.finish = why;
	pthread_cond_broadcast(&r->cv);
	if (sl) {
		if (s->be.seq_end)
			s->be.seq_end(s->be.ctx, (int)(sl - s->slots));
		sl->r = NULL;
		sl->next = -1;
		s->n_active--;
	}
	s->stats.requests++;
	req_unref(r);
}

/* ---------------------------------------------------------------- the loop */
static void reap_cancelled(sched *s)
{
	for (int i = 0; i < s->o.n_slots; i++) {
		sched_req *r = s->slots[i].r;
		if (r && !s->slots[i].busy && (r->cancelled || s->stopping))
			req_finish(s, r, &s->slots[i], r->cancelled ? SCHED_FINISH_CANCELLED : SCHED_FINISH_ABORTED);
	}
	sched_req **pp = &s->q_head, *prev = NULL;
	while (*pp) {
		sched_req *r = *pp;
		if (r->cancelled || s->stopping) {
			*pp = r->next;
			if (s->q_tail == r)
				s->q_tail = prev;
			s->n_queued--;
			req_finish(s, r, NULL, r->cancelled ? SCHED_FINISH_CANCELLED : SCHED_FINISH_ABORTED);
		} else {
			prev = r;
			pp = &r->next;
		}
	}
}

static int common_prefix(const int *a, int na, const int *b, int nb)
{
	int n = SH_MIN(na, nb), i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* micro-batches worth keeping in flight now: what the backend wants, at most n_lanes */
static int lanes_wanted(const sched *s)
{
	int l = s->be.lanes_wanted ? s->be.lanes_wanted(s->be.ctx) : s->n_lanes;
	return SH_MAX(1, SH_MIN(l, s->n_lanes));
}

/* Admits queued requests into free slots (under s->mu), each into the free slot whose cached
 * tokens share the longest prefix with its prompt. */
static void admit(sched *s)
{
	bool any = false;
	while (s->q_head && s->n_active < s->o.n_slots) {
		sched_req *r = s->q_head;
		int best = -1, best_lcp = -1;
		for (int i = 0; i < s->o.n_slots; i++) {
			slot *sl = &s->slots[i];
			if (sl->r)
				continue;
			int lcp = s->be.seq_reusable && !s->be.seq_reusable(s->be.ctx, i)
					  ? 0
					  : common_prefix(sl->hist, sl->n_hist, r->prompt, r->n_prompt);
			if (lcp > best_lcp) {
				best = i;
				best_lcp = lcp;
			}
		}
		SH_ASSERT(best >= 0);
		s->q_head = r->next;
		if (!s->q_head)
			s->q_tail = NULL;
		r->next = NULL;
		s->n_queued--;
		slot *sl = &s->slots[best];
		int keep = SH_MIN(best_lcp, r->n_prompt - 1); /* the last prompt token always runs: its logits */
		sl->r = r;
		sl->n_hist = keep;
		sl->n_eval = keep;
		sl->next = -1;
		s->n_active++;
		any = true;
		r->st.started = true;
		r->st.n_cached = keep;
		s->stats.prompt_tokens += (uint64_t)r->n_prompt;
		s->stats.cached_tokens += (uint64_t)keep;
	}
	if (any && s->n_lanes > 1)
		pthread_cond_broadcast(&s->cv); /* other lanes may have got work */
}

static bool slot_ready(const slot *sl)
{
	return sl->r && !sl->busy && (sl->next >= 0 || sl->n_eval < sl->r->n_prompt);
}

/* Builds the lane's batch (under s->mu) from up to ceil(active / L) ready slots, marking them
 * busy: first the next token of generating slots, then prompt chunks up to max_batch tokens.
 * Returns the token count (0: nothing to do now), *n_rows the logits rows. */
static int batch_build(sched *s, lane *ln, int *n_rows, int *n_seqs)
{
	int n = 0, rows = 0, ns = s->o.n_slots, wanted = lanes_wanted(s);
	ln->n_taken = 0;
	if (s->n_inflight >= wanted)
		return 0;
	int quota = (s->n_active + wanted - 1) / wanted;
	for (int k = 0; k < ns && ln->n_taken < quota; k++) {
		int i = (s->rr + k) % ns;
		slot *sl = &s->slots[i];
		if (!slot_ready(sl) || sl->next < 0)
			continue;
		int pos = sl->r->n_prompt + sl->r->st.n_gen - 1;
		ln->b_tok[n] = sl->next;
		ln->b_seq[n] = i;
		ln->b_pos[n] = pos;
		ln->b_want[n] = true;
		sl->hist[pos] = sl->next;
		sl->n_hist = pos + 1;
		sl->next = -1;
		sl->busy = true;
		ln->taken[ln->n_taken++] = i;
		ln->row_slot[rows++] = i;
		n++;
	}
	for (int k = 0; k < ns && n < s->o.max_batch && ln->n_taken < quota; k++) {
		int i = (s->rr + k) % ns;
		slot *sl = &s->slots[i];
		sched_req *r = sl->r;
		if (!slot_ready(sl))
			continue;
		int take = SH_MIN(r->n_prompt - sl->n_eval, s->o.max_batch - n);
		for (int j = 0; j < take; j++, n++) {
			int pos = sl->n_eval + j;
			ln->b_tok[n] = r->prompt[pos];
			ln->b_seq[n] = i;
			ln->b_pos[n] = pos;
			ln->b_want[n] = pos == r->n_prompt - 1;
			sl->hist[pos] = r->prompt[pos];
		}
		sl->n_eval += take;
		sl->n_hist = sl->n_eval;
		sl->busy = true;
		ln->taken[ln->n_taken++] = i;
		if (sl->n_eval == r->n_prompt)
			ln->row_slot[rows++] = i;
	}
	if (n) {
		s->rr = (s->rr + 1) % ns;
		s->n_inflight++;
	}
	*n_rows = rows;
	*n_seqs = ln->n_taken;
	return n;
}

/* the log-probability of token tok and the n most likely tokens under the raw logits [n_vocab] */
static void logprobs_of(const float *raw, int n_vocab, int tok, int n, sched_token *out)
{
	float mx = raw[0];
	for (int i = 1; i < n_vocab; i++)
		mx = raw[i] > mx ? raw[i] : mx;
	double sum = 0;
	for (int i = 0; i < n_vocab; i++)
		sum += exp((double)(raw[i] - mx));
	float lse = mx + (float)log(sum);
	out->tok = tok;
	out->logprob = raw[tok] - lse;
	out->n_top = 0;
	for (int i = 0; i < n_vocab && n > 0; i++) { /* insertion into the n best, most likely first */
		int k = out->n_top;
		if (k == n && raw[i] <= out->top[k - 1].logprob)
			continue;
		if (k < n)
			out->n_top++;
		else
			k--;
		while (k > 0 && out->top[k - 1].logprob < raw[i]) {
			out->top[k] = out->top[k - 1];
			k--;
		}
		out->top[k] = (sched_alt){ i, raw[i] };
	}
	for (int k = 0; k < out->n_top; k++)
		out->top[k].logprob -= lse;
}

/* the literal text a constrained value's tokens must produce now: the rest of wrap_pre before the
 * value, of wrap_post after it; NULL while the value is being produced (or wrap_post is done) */
static const char *wrap_text(sched_req *r)
{
	if (!r->in_value) {
		if (r->wrap_pos < strlen(r->p.wrap_pre))
			return r->p.wrap_pre + r->wrap_pos;
		r->in_value = true;
		r->wrap_pos = 0;
	}
	return r->after && r->wrap_pos < strlen(r->p.wrap_post) ? r->p.wrap_post + r->wrap_pos : NULL;
}

/* the constrained output is whole: the value complete and the text after it given */
static bool constrained_whole(const sched_req *r)
{
	return r->js && r->in_value && jsonc_done(r->js) &&
	       (!r->p.wrap_post[0] || (r->after && r->wrap_pos >= strlen(r->p.wrap_post)));
}

/* a complete value whose wrap_post follows (a number may still take digits: the value ends only
 * where the constraint allows nothing but the end) */
static void wrap_after(sched_req *r)
{
	r->after = true;
	r->wrap_pos = 0;
}

/* mask = the tokens whose bytes begin lit (all of them inside it); how many */
static int lit_mask(const sched *s, const sched_req *r, const char *lit, uint8_t *mask)
{
	size_t rest = strlen(lit);
	int n = 0;
	for (int i = 0; i < s->be.n_vocab; i++) {
		int k = s->tok_lens[i];
		mask[i] = k > 0 && (size_t)k <= rest && !memcmp(s->tok_bytes[i], lit, (size_t)k) &&
			  !vocab_is_eog(s->be.v, i);
		n += mask[i];
	}
	return n;
}

/* sampling and detokenizing of one logits row, outside the lock: the bias added, the
 * log-probabilities taken from the logits as the model gave them */
static void row_sample(sched *s, slot *sl, float *logits)
{
	sched_req *r = sl->r;
	sl->piece.len = 0;
	if (r->p.logprobs)
		memcpy(sl->raw, logits, sizeof(float) * (size_t)s->be.n_vocab);
	for (int i = 0; i < r->p.n_bias; i++)
		logits[r->p.bias[i].tok] += r->p.bias[i].bias;
	const char *lit = r->js ? wrap_text(r) : NULL;
	if (r->js) { /* the tokens that cannot continue a valid value (or the text around it) are out */
		int n = lit ? lit_mask(s, r, lit, sl->mask) : jsonc_mask(r->js, s->jv, sl->mask);
		if (n <= 0) {
			r->js_failed = true;
			sl->eog = true;
			return;
		}
		for (int i = 0; i < s->be.n_vocab; i++)
			if (!sl->mask[i])
				logits[i] = -INFINITY;
	}
	sl->tok = sample_next(r->smp, logits);
	if (lit)
		r->wrap_pos += (size_t)s->tok_lens[sl->tok];
	else if (r->js && jsonc_accept(r->js, s->jv, sl->tok))
		r->js_failed = true;
	if (r->js && !lit && jsonc_done(r->js) && r->p.wrap_post[0] && !vocab_is_eog(s->be.v, sl->tok))
		wrap_after(r);
	if (r->p.logprobs)
		logprobs_of(sl->raw, s->be.n_vocab, sl->tok, r->p.top_logprobs, &sl->rec);
	/* a complete constrained value ends at its end token, ignore_eos or not */
	sl->eog = vocab_is_eog(s->be.v, sl->tok) && (!r->p.ignore_eos || r->js);
	if (sl->eog)
		return;
	sample_accept(r->smp, sl->tok);
	char buf[256];
	int n = vocab_stream_push(&r->vs, sl->tok, buf, sizeof buf);
	if (n < 0) { /* a piece longer than buf */
		char *big = malloc((size_t)-n);
		if (big)
			piece_add(&sl->piece, big, vocab_stream_push(&r->vs, sl->tok, big, -n));
		free(big);
	} else {
		piece_add(&sl->piece, buf, n);
	}
}

/* publishes one row's token under the lock */
static void row_commit(sched *s, slot *sl, double now)
{
	sched_req *r = sl->r;
	if (r->cancelled)
		return; /* reaped at the next iteration */
	if (sl->eog) {
		req_finish(s, r, sl, r->js_failed ? SCHED_FINISH_ABORTED : SCHED_FINISH_STOP);
		return;
	}
	r->st.n_gen++;
	s->stats.gen_tokens++;
	rate_add(s, now, 1);
	if (r->st.n_gen == 1)
		r->st.t_first = now;
	r->st.t_last = now;
	size_t start = r->gen.len;
	if (text_buf_add(&r->gen, sl->piece.p ? sl->piece.p : "", sl->piece.len) ||
	    (r->p.logprobs && toks_add(r, &sl->rec, start, r->gen.len))) {
		req_finish(s, r, sl, SCHED_FINISH_ABORTED);
		return;
	}
	if (r->p.n_stop) {
		size_t safe;
		int which;
		long m = text_stop_scan(r->gen.p, r->gen.len, r->shown, r->stops, r->p.n_stop, &safe, &which);
		if (m >= 0) {
			r->gen.len = (size_t)m;
			r->gen.p[m] = 0;
			r->shown = (size_t)m;
			r->st.stop = which;
			req_finish(s, r, sl, SCHED_FINISH_STOP);
			return;
		}
		r->shown = safe;
	} else {
		r->shown = r->gen.len;
	}
	toks_show(r, false);
	int max = r->p.max_tokens > 0 ? r->p.max_tokens : s->be.n_ctx;
	if (r->st.n_gen >= max || r->n_prompt + r->st.n_gen - 1 >= s->be.n_ctx) {
		/* a constrained value fits its budget (jsonc.h): whole at the limit, it stopped there */
		req_finish(s, r, sl, constrained_whole(r) ? SCHED_FINISH_STOP : SCHED_FINISH_LENGTH);
		return;
	}
	sl->next = sl->tok;
	pthread_cond_broadcast(&r->cv);
}

static void *sched_main(void *arg)
{
	lane *ln = arg;
	sched *s = ln->s;
	size_t n_vocab = (size_t)s->be.n_vocab;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		reap_cancelled(s);
		if (s->stopping)
			break;
		admit(s);
		int n_rows, n_seqs;
		int n = batch_build(s, ln, &n_rows, &n_seqs);
		if (!n) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);

		engine_batch b = { .n = n, .tokens = ln->b_tok, .seq = ln->b_seq, .pos = ln->b_pos, .logits = ln->b_want };
		double t0 = sh_time_sec();
		int rc = s->be.step(s->be.ctx, &b, ln->logits);
		double t1 = sh_time_sec();
		if (rc == n_rows)
			for (int k = 0; k < n_rows; k++)
				row_sample(s, &s->slots[ln->row_slot[k]], ln->logits + (size_t)k * n_vocab);

		pthread_mutex_lock(&s->mu);
		s->stats.steps++;
		s->stats.steps_multi += n_seqs > 1;
		s->stats.step_tokens += (uint64_t)n;
		s->stats.busy_sec += t1 - t0;
		s->n_inflight--;
		for (int k = 0; k < ln->n_taken; k++)
			s->slots[ln->taken[k]].busy = false;
		if (s->n_lanes > 1)
			pthread_cond_broadcast(&s->cv); /* its slots, and a place in flight, are free again */
		if (rc != n_rows) {
			sh_log_error("sched: step of %d tokens failed (%d)", n, rc);
			for (int k = 0; k < ln->n_taken; k++) {
				slot *sl = &s->slots[ln->taken[k]];
				sl->n_hist = 0;
				if (sl->r)
					req_finish(s, sl->r, sl, SCHED_FINISH_ABORTED);
			}
			continue;
		}
		for (int k = 0; k < n_rows; k++) {
			slot *sl = &s->slots[ln->row_slot[k]];
			if (sl->r)
				row_commit(s, sl, t1);
		}
	}
	if (--s->n_running == 0)
		s->stopped = true;
	pthread_cond_broadcast(&s->cv); /* a queued request may now be reaped by another lane */
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---------------------------------------------------------------- public */
static int step_engine(void *ctx, const engine_batch *b, float *logits)
{
	return engine_step(ctx, b, logits);
}

sched_backend sched_backend_engine(engine *e)
{
	return (sched_backend){ .ctx = e, .step = step_engine, .v = e->v, .n_vocab = e->m->hp.n_vocab,
				.n_seq = e->n_seq, .n_ctx = e->n_ctx };
}

/* the allocations of sched_init, and s itself */
static void sched_buffers_free(sched *s)
{
	for (int i = 0; s->slots && i < s->o.n_slots; i++) {
		sh_free(s->slots[i].hist);
		sh_free(s->slots[i].raw);
		sh_free(s->slots[i].mask);
		text_buf_free(&s->slots[i].piece);
	}
	sh_free(s->slots);
	for (int i = 0; s->lanes && i < s->n_lanes; i++) {
		lane *ln = &s->lanes[i];
		sh_free(ln->b_tok);
		sh_free(ln->b_seq);
		sh_free(ln->b_pos);
		sh_free(ln->b_want);
		sh_free(ln->row_slot);
		sh_free(ln->taken);
		sh_free(ln->logits);
	}
	sh_free(s->lanes);
	jsonc_vocab_free(s->jv);
	for (int i = 0; s->tok_bytes && i < s->be.n_vocab; i++)
		free(s->tok_bytes[i]);
	free(s->tok_bytes);
	free(s->tok_lens);
	sh_free(s);
}

sched *sched_init(const sched_backend *b, const sched_opts *o, int *err)
{
	int e = SH_ENOMEM;
	if (!b->step || !b->v || b->n_vocab <= 0 || b->n_ctx <= 0 || o->n_slots < 1 || o->n_slots > b->n_seq ||
	    o->max_queue < 0 || o->max_batch < o->n_slots || o->max_batch > ENGINE_BATCH) {
		sh_log_error("sched: %d slots (backend has %d sequences), batch %d (must be in [slots, %d]), queue %d",
			     o->n_slots, b->n_seq, o->max_batch, ENGINE_BATCH, o->max_queue);
		if (err)
			*err = SH_EINVAL;
		return NULL;
	}
	sched *s = sh_alloc(sizeof *s);
	if (!s)
		goto fail_early;
	s->be = *b;
	s->o = *o;
	s->t_start = sh_time_sec();
	for (int i = 0; i < RATE_BUCKETS; i++)
		s->rate_sec[i] = -1;
	size_t nb = (size_t)o->max_batch, ns = (size_t)o->n_slots;
	s->n_lanes = SH_MAX(1, SH_MIN(SH_MIN(SH_MIN(o->n_lanes, b->max_lanes), o->n_slots), SCHED_MAX_LANES));
	s->slots = sh_alloc(sizeof(slot) * ns);
	s->lanes = sh_alloc(sizeof(lane) * (size_t)s->n_lanes);
	if (!s->slots || !s->lanes)
		goto fail;
	for (int i = 0; i < s->n_lanes; i++) {
		lane *ln = &s->lanes[i];
		ln->s = s;
		ln->id = i;
		ln->b_tok = sh_alloc(sizeof(int) * nb);
		ln->b_seq = sh_alloc(sizeof(int) * nb);
		ln->b_pos = sh_alloc(sizeof(int) * nb);
		ln->b_want = sh_alloc(sizeof(bool) * nb);
		ln->row_slot = sh_alloc(sizeof(int) * ns);
		ln->taken = sh_alloc(sizeof(int) * ns);
		ln->logits = sh_alloc(sizeof(float) * ns * (size_t)b->n_vocab);
		if (!ln->b_tok || !ln->b_seq || !ln->b_pos || !ln->b_want || !ln->row_slot || !ln->taken || !ln->logits)
			goto fail;
	}
	for (size_t i = 0; i < ns; i++) {
		s->slots[i].next = -1;
		if (!(s->slots[i].hist = sh_alloc(sizeof(int) * (size_t)b->n_ctx)) ||
		    !(s->slots[i].raw = sh_alloc(sizeof(float) * (size_t)b->n_vocab)) ||
		    !(s->slots[i].mask = sh_alloc((size_t)b->n_vocab)))
			goto fail;
	}
	if (pthread_mutex_init(&s->mu, NULL))
		goto fail;
	if (sh_cond_init(&s->cv)) {
		pthread_mutex_destroy(&s->mu);
		goto fail;
	}
	s->started = true;
	for (int i = 0; i < s->n_lanes; i++) {
		pthread_mutex_lock(&s->mu);
		s->n_running++;
		pthread_mutex_unlock(&s->mu);
		if (pthread_create(&s->lanes[i].thread, NULL, sched_main, &s->lanes[i])) {
			sh_log_error("sched: cannot start a scheduler thread");
			s->n_running--;
			sched_free(s);
			if (err)
				*err = SH_ENOMEM;
			return NULL;
		}
		s->lanes[i].started = true;
	}
	return s;
fail:
	sched_buffers_free(s);
fail_early:
	sh_log_error("sched: out of memory");
	if (err)
		*err = e;
	return NULL;
}

void sched_stop(sched *s)
{
	if (!s || !s->started)
		return;
	pthread_mutex_lock(&s->mu);
	bool join = !s->stopping;
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (join)
		for (int i = 0; i < s->n_lanes; i++)
			if (s->lanes[i].started)
				pthread_join(s->lanes[i].thread, NULL);
}

void sched_free(sched *s)
{
	if (!s)
		return;
	sched_stop(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	sched_buffers_free(s);
}

/* the vocabulary as the constraints read it, made once: each token's bytes, which end generation */
static int constraint_vocab(sched *s)
{
	pthread_mutex_lock(&s->mu);
	int e = SH_OK, n = s->be.n_vocab;
	if (!s->jv) {
		char **bytes = calloc((size_t)n, sizeof *bytes);
		int *lens = calloc((size_t)n, sizeof *lens);
		bool *end = calloc((size_t)n, sizeof *end);
		char buf[JSONC_MAX_TOKEN];
		for (int i = 0; bytes && lens && end && i < n; i++) {
			int k = vocab_token_to_piece(s->be.v, i, false, buf, sizeof buf);
			lens[i] = k < 0 || k > (int)sizeof buf ? 0 : k;
			end[i] = vocab_is_eog(s->be.v, i);
			if (!(bytes[i] = malloc((size_t)lens[i] + 1)))
				break;
			memcpy(bytes[i], buf, (size_t)lens[i]);
		}
		s->jv = bytes && lens && end && (n == 0 || bytes[n - 1]) ? jsonc_vocab_init(n, (const char *const *)bytes, lens, end, &e)
									 : NULL;
		if (!s->jv && !e)
			e = SH_ENOMEM;
		if (s->jv) { /* kept for the text around values */
			s->tok_bytes = bytes;
			s->tok_lens = lens;
		} else {
			for (int i = 0; bytes && i < n; i++)
				free(bytes[i]);
			free(bytes);
			free(lens);
		}
		free(end);
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

sched_req *sched_submit(sched *s, const int *prompt, int n, const sched_params *p, int *err)
{
	int e = SH_EINVAL;
	sched_req *r = NULL;
	if (n < 1 || n > s->be.n_ctx) {
		e = SH_ERANGE;
		goto fail;
	}
	for (int i = 0; i < n; i++)
		if (prompt[i] < 0 || prompt[i] >= s->be.n_vocab)
			goto fail;
	if (p->n_stop < 0 || p->n_stop > SCHED_MAX_STOP || p->n_bias < 0 || p->n_bias > SCHED_MAX_BIAS ||
	    strnlen(p->wrap_pre, sizeof p->wrap_pre) > SCHED_MAX_WRAP || strnlen(p->wrap_post, sizeof p->wrap_post) > SCHED_MAX_WRAP ||
	    ((p->wrap_pre[0] || p->wrap_post[0]) && !p->constraint) ||
	    p->top_logprobs < 0 || p->top_logprobs > SCHED_MAX_TOP)
		goto fail;
	for (int i = 0; i < p->n_bias; i++)
		if (p->bias[i].tok < 0 || p->bias[i].tok >= s->be.n_vocab || !isfinite(p->bias[i].bias))
			goto fail;
	for (int i = 0; i < p->n_stop; i++)
		if (!p->stop[i][0] || strnlen(p->stop[i], SCHED_STOP_MAX_LEN + 1) > SCHED_STOP_MAX_LEN)
			goto fail;
	e = SH_ENOMEM;
	if (!(r = calloc(1, sizeof *r)))
		goto fail;
	if (sh_cond_init(&r->cv)) {
		free(r);
		r = NULL;
		goto fail;
	}
	r->s = s;
	r->p = *p;
	for (int i = 0; i < p->n_stop; i++)
		r->stops[i] = r->p.stop[i];
	r->n_prompt = n;
	if (!(r->prompt = malloc(sizeof(int) * (size_t)n)))
		goto fail;
	memcpy(r->prompt, prompt, sizeof(int) * (size_t)n);
	if (!(r->smp = sample_init(&p->sp, s->be.n_vocab))) {
		e = SH_EINVAL;
		goto fail;
	}
	/* the value's budget: the tokens the request may generate, less those of the text around it (a
	 * token of it at least a byte) */
	int budget = (p->max_tokens > 0 ? p->max_tokens : s->be.n_ctx - n) - (int)strlen(p->wrap_pre) -
		     (int)strlen(p->wrap_post);
	if (p->constraint && ((e = constraint_vocab(s)) || !(r->js = jsonc_state_init(p->constraint, SH_MAX(budget, 1))))) {
		e = e ? e : SH_ENOMEM;
		goto fail;
	}
	e = SH_ENOMEM;
	/* the sampler's penalties and the detokenizer both see the prompt first */
	vocab_stream_init(&r->vs, s->be.v);
	char sink[256];
	for (int i = 0; i < n; i++) {
		sample_accept(r->smp, prompt[i]);
		if (vocab_stream_push(&r->vs, prompt[i], sink, sizeof sink) < 0) {
			char *big = malloc(65536);
			if (big)
				vocab_stream_push(&r->vs, prompt[i], big, 65536);
			free(big);
		}
	}
	r->st.n_prompt = n;
	r->st.t_submit = sh_time_sec();
	r->st.stop = -1;

	pthread_mutex_lock(&s->mu);
	if (s->stopping || s->n_active + s->n_queued >= s->o.n_slots + s->o.max_queue) {
		pthread_mutex_unlock(&s->mu);
		e = SCHED_EFULL;
		goto fail;
	}
	r->refs = 2;
	if (s->q_tail)
		s->q_tail->next = r;
	else
		s->q_head = r;
	s->q_tail = r;
	s->n_queued++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
fail:
	if (r)
		req_free(r); /* the constraint with it */
	else
		jsonc_free(p->constraint);
	if (err)
		*err = e;
	return NULL;
}

int sched_req_read(sched_req *r, double timeout_s, text_buf *out, sched_status *st)
{
	sched *s = r->s;
	struct timespec dl;
	if (timeout_s > 0)
		sh_deadline_after(&dl, timeout_s);
	int rc = SH_OK;
	pthread_mutex_lock(&s->mu);
	while (r->read == r->shown && r->st.finish == SCHED_RUNNING && timeout_s != 0) {
		if (timeout_s < 0)
			pthread_cond_wait(&r->cv, &s->mu);
		else if (pthread_cond_timedwait(&r->cv, &s->mu, &dl) == ETIMEDOUT)
			break;
	}
	if (r->shown > r->read) {
		rc = text_buf_add(out, r->gen.p + r->read, r->shown - r->read);
		if (!rc)
			r->read = r->shown;
	}
	if (st)
		*st = r->st;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sched_req_tokens(sched_req *r, sched_token *out, int cap)
{
	sched *s = r->s;
	int n = 0;
	pthread_mutex_lock(&s->mu);
	bool end = r->st.finish != SCHED_RUNNING;
	while (n < cap && r->toks_read < r->toks_shown &&
	       (r->tok_end[r->toks_read] <= r->read || (end && r->tok_start[r->toks_read] < r->read)))
		out[n++] = r->toks[r->toks_read++];
	pthread_mutex_unlock(&s->mu);
	return n;
}

const char *sched_req_stop(const sched_req *r, int stop)
{
	return stop >= 0 && stop < r->p.n_stop ? r->p.stop[stop] : NULL;
}

void sched_req_cancel(sched_req *r)
{
	sched *s = r->s;
	pthread_mutex_lock(&s->mu);
	if (r->st.finish == SCHED_RUNNING && !r->cancelled) {
		r->cancelled = true;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

void sched_req_release(sched_req *r)
{
	if (!r)
		return;
	sched *s = r->s;
	pthread_mutex_lock(&s->mu);
	if (r->st.finish == SCHED_RUNNING && !r->cancelled) {
		r->cancelled = true;
		pthread_cond_broadcast(&s->cv);
	}
	req_unref(r);
	pthread_mutex_unlock(&s->mu);
}

void sched_stats_get(sched *s, sched_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	st->n_slots = s->o.n_slots;
	st->active = s->n_active;
	st->queued = s->n_queued;
	st->gen_rate = rate_get(s, sh_time_sec());
	pthread_mutex_unlock(&s->mu);
}
