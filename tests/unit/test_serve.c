/*
 * test_serve.c - the serving layer without HTTP: UTF-8 checks and repair, the stop-string scan,
 * and the slot scheduler on stories260K (greedy output equal to a plain decode loop, sequences
 * batched together equal to each alone, stop strings, cancel, the queue bound, prefix reuse,
 * stop with requests in flight, engine_step's checks).
 */
#include <criterion/criterion.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serve/sched.h"
#include "test_util.h"

static const char *stories(void) { return TEST_STORIES; }

/* ---------------------------------------------------------------- text */
Test(text, utf8_valid)
{
	cr_expect(text_utf8_valid("", 0));
	cr_expect(text_utf8_valid("héllo €𝄞", strlen("héllo €𝄞")));
	cr_expect(!text_utf8_valid("\xff", 1));
	cr_expect(!text_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	cr_expect(!text_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	cr_expect(!text_utf8_valid("\xed\xa0\x80", 3));     /* surrogate D800 */
	cr_expect(!text_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
	cr_expect(!text_utf8_valid("\xe2\x82", 2));         /* truncated */
	cr_expect(!text_utf8_valid("a\x80", 2));            /* lone continuation */
	cr_expect(text_utf8_valid("a\0b", 3));
}

Test(text, utf8_repair)
{
	text_buf b = { 0 };
	cr_assert_eq(text_utf8_repair(&b, "a\xff" "b\xe2\x82\xac" "c\xe2\x82", 10), 0);
	cr_expect_str_eq(b.p, "a\xEF\xBF\xBD" "b€c\xEF\xBF\xBD\xEF\xBF\xBD");
	cr_expect(text_utf8_valid(b.p, b.len));
	text_buf_free(&b);
	cr_assert_eq(text_utf8_repair(&b, "ok", 2), 0);
	cr_expect_str_eq(b.p, "ok");
	cr_assert_eq(text_buf_addf(&b, " %d", 42), 0);
	cr_expect_str_eq(b.p, "ok 42");
	cr_expect_eq(b.len, 5u);
	text_buf_free(&b);
}

Test(text, stop_scan)
{
	char *stops[] = { "END", "\n\n", "EN" };
	size_t safe;
	int which;
	const char *t = "hello EN";
	cr_expect_eq(text_stop_scan(t, strlen(t), 0, stops, 2, &safe, &which), -1);
	cr_expect_eq(safe, 6u, "'EN' may begin 'END': held back");
	cr_expect_eq(which, -1);
	t = "hello END more";
	cr_expect_eq(text_stop_scan(t, strlen(t), 0, stops, 2, &safe, &which), 6);
	cr_expect_eq(which, 0);
	t = "a\n\nb END";
	cr_expect_eq(text_stop_scan(t, strlen(t), 0, stops, 2, &safe, &which), 1, "the earliest match wins");
	cr_expect_eq(which, 1, "and says which string matched");
	t = "x END";
	cr_expect_eq(text_stop_scan(t, strlen(t), 0, stops, 3, &safe, &which), 2);
	cr_expect_eq(which, 0, "two matching at one offset: the first listed");
	t = "abc\n";
	cr_expect_eq(text_stop_scan(t, strlen(t), 2, stops, 2, &safe, &which), -1);
	cr_expect_eq(safe, 3u);
	t = "abc";
	cr_expect_eq(text_stop_scan(t, 3, 0, stops, 2, &safe, &which), -1);
	cr_expect_eq(safe, 3u, "nothing held back");
	cr_expect_eq(text_stop_scan(t, 3, 0, stops, 0, &safe, &which), -1);
	cr_expect_eq(safe, 3u);
}

/* ---------------------------------------------------------------- scheduler */
typedef struct {
	engine e;
	sched *s;
} fixture;

static void fx_open(fixture *f, int slots, int queue, int n_ctx)
{
	cr_assert_eq(engine_open_seqs(&f->e, stories(), 1, n_ctx, slots, KV_TYPE_DEFAULT, true), 0);
	sched_backend b = sched_backend_engine(&f->e);
	sched_opts o = { .n_slots = slots, .max_queue = queue, .max_batch = ENGINE_BATCH };
	cr_assert_not_null(f->s = sched_init(&b, &o, NULL));
}

static void fx_close(fixture *f)
{
	sched_free(f->s);
	engine_close(&f->e);
}

static sched_params greedy(int max_tokens)
{
	sched_params p;
	memset(&p, 0, sizeof p);
	sample_params_default(&p.sp);
	p.sp.temp = 0;
	p.max_tokens = max_tokens;
	return p;
}

static int tokenize(const vocab *v, const char *text, int *ids, int cap)
{
	int n = vocab_tokenize(v, text, strlen(text), true, false, ids, cap);
	cr_assert(n > 0 && n <= cap);
	return n;
}

/* runs a request to its end; returns the text (malloc'd) */
static char *run(sched *s, const int *ids, int n, const sched_params *p, sched_status *st)
{
	int err = 0;
	sched_req *r = sched_submit(s, ids, n, p, &err);
	cr_assert_not_null(r, "submit: %d", err);
	text_buf out = { 0 };
	do
		cr_assert_eq(sched_req_read(r, -1, &out, st), 0);
	while (st->finish == SCHED_RUNNING);
	sched_req_release(r);
	return out.p ? out.p : strdup("");
}

/* the reference: the plain one-sequence decode loop of `shoal generate` */
static char *plain_greedy(engine *e, const int *ids, int n, int n_gen)
{
	float *logits = malloc(sizeof(float) * (size_t)e->m->hp.n_vocab);
	sample_params sp;
	sample_params_default(&sp);
	sp.temp = 0;
	sample_ctx *smp = sample_init(&sp, e->m->hp.n_vocab);
	vocab_stream vs;
	vocab_stream_init(&vs, e->v);
	char piece[256];
	text_buf out = { 0 };
	for (int i = 0; i < n; i++) {
		sample_accept(smp, ids[i]);
		vocab_stream_push(&vs, ids[i], piece, sizeof piece);
	}
	cr_assert_eq(engine_eval(e, ids, n, 0, false, logits), 0);
	for (int i = 0; i < n_gen; i++) {
		int t = sample_next(smp, logits);
		if (vocab_is_eog(e->v, t))
			break;
		sample_accept(smp, t);
		int k = vocab_stream_push(&vs, t, piece, sizeof piece);
		text_buf_add(&out, piece, (size_t)k);
		if (i + 1 < n_gen)
			cr_assert_eq(engine_eval(e, &t, 1, n + i, false, logits), 0);
	}
	int k = vocab_stream_flush(&vs, piece, sizeof piece);
	text_buf_add(&out, piece, (size_t)k);
	sample_free(smp);
	free(logits);
	return out.p ? out.p : strdup("");
}

Test(sched, greedy_equals_plain_decode)
{
	fixture f;
	fx_open(&f, 2, 4, 256);
	int ids[64];
	int n = tokenize(f.e.v, "Once upon a time", ids, 64);
	sched_params p = greedy(60);
	sched_status st;
	char *got = run(f.s, ids, n, &p, &st);
	cr_expect_eq(st.finish, SCHED_FINISH_LENGTH);
	cr_expect_eq(st.n_gen, 60);
	cr_expect_eq(st.n_prompt, n);
	cr_expect(st.t_first >= st.t_submit && st.t_first > 0);
	sched_stop(f.s); /* the engine's pool and sequence 0 are free for the reference now */
	char *want = plain_greedy(&f.e, ids, n, 60);
	cr_expect_str_eq(got, want);
	free(got);
	free(want);
	fx_close(&f);
}

typedef struct {
	sched *s;
	const vocab *v;
	const char *prompt;
	sched_params p;
	char *text;
	sched_status st;
} job;

static void *job_run(void *arg)
{
	job *j = arg;
	int ids[64];
	int n = tokenize(j->v, j->prompt, ids, 64);
	j->text = run(j->s, ids, n, &j->p, &j->st);
	return NULL;
}

/* n greedy jobs of n_gen tokens (ignore_eos) on s, all at once, each from its own thread */
static void jobs_run_together(sched *s, const vocab *v, const char **prompts, int n, int n_gen, job *jobs)
{
	pthread_t th[16];
	cr_assert(n <= 16);
	for (int i = 0; i < n; i++) {
		jobs[i] = (job){ s, v, prompts[i], greedy(n_gen), NULL, { 0 } };
		jobs[i].p.ignore_eos = true;
		cr_assert_eq(pthread_create(&th[i], NULL, job_run, &jobs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

Test(sched, batched_equals_alone)
{
	fixture f;
	fx_open(&f, 4, 8, 512);
	const char *prompts[6] = { "Once", "Zoo", "The cat", "Lily", "A big dog", "Tom and Sue" };
	char *alone[6];
	for (int i = 0; i < 6; i++) {
		job j = { f.s, f.e.v, prompts[i], greedy(80), NULL, { 0 } };
		j.p.ignore_eos = true;
		job_run(&j);
		alone[i] = j.text;
	}
	sched_stats s0, s1;
	sched_stats_get(f.s, &s0);
	job jobs[6];
	jobs_run_together(f.s, f.e.v, prompts, 6, 80, jobs);
	sched_stats_get(f.s, &s1);
	for (int i = 0; i < 6; i++) {
		cr_expect_eq(jobs[i].st.n_gen, 80);
		cr_expect_str_eq(jobs[i].text, alone[i], "prompt %s", prompts[i]);
		free(jobs[i].text);
		free(alone[i]);
	}
	cr_expect_eq(s1.gen_tokens - s0.gen_tokens, 480u);
	cr_expect_gt(s1.steps_multi - s0.steps_multi, 0u, "sequences shared steps");
	cr_expect_lt(s1.steps - s0.steps, 300u, "480 tokens in far fewer steps than one per token");
	cr_expect_eq(s1.active, 0);
	cr_expect_eq(s1.queued, 0);
	fx_close(&f);
}

/* two lanes over a backend whose step may run from two threads (the engine behind a mutex):
 * each lane batches its own slots, several steps are in flight, the text is unchanged */
static pthread_mutex_t g_step_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_step_threads, g_step_overlap;
static int step_locked(void *ctx, const engine_batch *b, float *logits)
{
	if (__atomic_add_fetch(&g_step_threads, 1, __ATOMIC_SEQ_CST) > 1)
		__atomic_store_n(&g_step_overlap, 1, __ATOMIC_SEQ_CST);
	usleep(200); /* a hop: gives the other lane time to submit */
	pthread_mutex_lock(&g_step_mu);
	int r = engine_step(ctx, b, logits);
	pthread_mutex_unlock(&g_step_mu);
	__atomic_sub_fetch(&g_step_threads, 1, __ATOMIC_SEQ_CST);
	return r;
}

Test(sched, lanes_keep_steps_in_flight)
{
	fixture f;
	fx_open(&f, 4, 8, 512);
	const char *prompts[4] = { "Once", "Zoo", "The cat", "Lily" };
	char *alone[4];
	for (int i = 0; i < 4; i++) {
		job j = { f.s, f.e.v, prompts[i], greedy(40), NULL, { 0 } };
		j.p.ignore_eos = true;
		job_run(&j);
		alone[i] = j.text;
	}
	sched_free(f.s);
	sched_backend b = sched_backend_engine(&f.e);
	b.step = step_locked;
	b.max_lanes = 2;
	sched_opts o = { .n_slots = 4, .max_queue = 8, .max_batch = ENGINE_BATCH, .n_lanes = 2 };
	cr_assert_not_null(f.s = sched_init(&b, &o, NULL));
	job jobs[4];
	jobs_run_together(f.s, f.e.v, prompts, 4, 40, jobs);
	for (int i = 0; i < 4; i++) {
		cr_expect_str_eq(jobs[i].text, alone[i], "prompt %s", prompts[i]);
		free(jobs[i].text);
		free(alone[i]);
	}
	cr_expect(g_step_overlap, "two steps were in flight at once");
	sched_stats st;
	sched_stats_get(f.s, &st);
	cr_expect_eq(st.active, 0);
	fx_close(&f);
}

/* a backend that wants one micro-batch (a pipeline of one shard): two lanes exist, but every
 * request goes to the first, so all four share each step and no two steps overlap */
static int want_one(void *ctx) { return 1; }

Test(sched, lanes_follow_what_the_backend_wants)
{
	fixture f;
	fx_open(&f, 4, 8, 512);
	sched_free(f.s);
	sched_backend b = sched_backend_engine(&f.e);
	b.step = step_locked;
	b.max_lanes = 2;
	b.lanes_wanted = want_one;
	sched_opts o = { .n_slots = 4, .max_queue = 8, .max_batch = ENGINE_BATCH, .n_lanes = 2 };
	cr_assert_not_null(f.s = sched_init(&b, &o, NULL));
	g_step_overlap = 0;
	const char *prompts[4] = { "Once", "Zoo", "The cat", "Lily" };
	job jobs[4];
	jobs_run_together(f.s, f.e.v, prompts, 4, 40, jobs);
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(strlen(jobs[i].text) > 0, 1);
		free(jobs[i].text);
	}
	cr_expect_eq(g_step_overlap, 0, "one lane wanted: no two steps in flight");
	sched_stats st;
	sched_stats_get(f.s, &st);
	cr_expect_gt(st.steps_multi, 30u, "the requests shared steps");
	fx_close(&f);
}

Test(sched, stop_strings)
{
	fixture f;
	fx_open(&f, 1, 1, 256);
	int ids[64];
	int n = tokenize(f.e.v, "Zoo", ids, 64);
	sched_params p = greedy(57);
	sched_status st;
	char *full = run(f.s, ids, n, &p, &st);
	cr_assert(strstr(full, "Lily"));
	cr_expect_eq(st.stop, -1, "no stop string ended it");
	p.n_stop = 2;
	strcpy(p.stop[0], "park");
	strcpy(p.stop[1], "Lily");
	char *cut = run(f.s, ids, n, &p, &st);
	cr_expect_eq(st.finish, SCHED_FINISH_STOP);
	cr_expect_eq(st.stop, 1, "'Lily' (stop[1]) ended it");
	cr_expect_eq(strlen(cut), (size_t)(strstr(full, "Lily") - full));
	cr_expect_eq(strncmp(cut, full, strlen(cut)), 0);
	cr_expect_lt(st.n_gen, 57);
	/* text the reader saw while running never holds a stop string's beginning past the cut */
	p.n_stop = 1;
	strcpy(p.stop[0], "Lily. She");
	int err;
	sched_req *r = sched_submit(f.s, ids, n, &p, &err);
	text_buf seen = { 0 };
	do {
		cr_assert_eq(sched_req_read(r, -1, &seen, &st), 0);
		cr_assert(!seen.p || !strstr(seen.p, "Lily"), "'Lily' shown before it was known not to stop: %s", seen.p);
	} while (st.finish == SCHED_RUNNING);
	sched_req_release(r);
	cr_expect_eq(st.stop, 0);
	cr_expect_eq(strlen(seen.p), (size_t)(strstr(full, "Lily. She") - full));
	text_buf_free(&seen);
	free(full);
	free(cut);
	fx_close(&f);
}

Test(sched, cancel_queue_and_prefix_reuse)
{
	fixture f;
	fx_open(&f, 1, 1, 4096);
	int ids[64], err = 0;
	int n = tokenize(f.e.v, "Once upon a time", ids, 64);
	sched_params p = greedy(0); /* to the end of the context */
	p.ignore_eos = true;
	sched_req *a = sched_submit(f.s, ids, n, &p, &err);
	sched_req *b = sched_submit(f.s, ids, n, &p, &err);
	cr_assert(a && b);
	cr_expect_null(sched_submit(f.s, ids, n, &p, &err), "one slot and one queue place only");
	cr_expect_eq(err, SCHED_EFULL);
	sched_stats st;
	sched_stats_get(f.s, &st);
	cr_expect_eq(st.active + st.queued, 2);
	/* cancel the queued one, then the running one */
	sched_req_cancel(b);
	sched_status sb;
	text_buf t = { 0 };
	do
		sched_req_read(b, 1.0, &t, &sb);
	while (sb.finish == SCHED_RUNNING);
	cr_expect_eq(sb.finish, SCHED_FINISH_CANCELLED);
	cr_expect(!sb.started);
	sched_req_release(b);
	sched_status sa;
	sched_req_read(a, 0.05, &t, &sa);
	cr_expect_eq(sa.finish, SCHED_RUNNING);
	sched_req_release(a); /* releasing a running request cancels it */
	for (int i = 0; i < 200; i++) {
		sched_stats_get(f.s, &st);
		if (!st.active)
			break;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	cr_expect_eq(st.active, 0);
	cr_expect_lt(st.gen_tokens, 4000u, "generation stopped early");
	/* the same prompt again reuses the slot's cache for all but its last token */
	p.max_tokens = 3;
	sched_status sc;
	free(run(f.s, ids, n, &p, &sc));
	cr_expect_eq(sc.n_cached, n - 1);
	text_buf_free(&t);
	fx_close(&f);
}

Test(sched, stop_aborts_and_rejects)
{
	fixture f;
	fx_open(&f, 2, 2, 2048);
	int ids[64], err = 0;
	int n = tokenize(f.e.v, "Once", ids, 64);
	sched_params p = greedy(0);
	p.ignore_eos = true;
	sched_req *r[3];
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(r[i] = sched_submit(f.s, ids, n, &p, &err));
	sched_stop(f.s);
	for (int i = 0; i < 3; i++) {
		sched_status st;
		text_buf t = { 0 };
		cr_assert_eq(sched_req_read(r[i], 0, &t, &st), 0);
		cr_expect(st.finish == SCHED_FINISH_ABORTED || st.finish == SCHED_FINISH_LENGTH, "request %d: %d", i, st.finish);
		text_buf_free(&t);
		sched_req_release(r[i]);
	}
	cr_expect_null(sched_submit(f.s, ids, n, &p, &err));
	cr_expect_eq(err, SCHED_EFULL);
	fx_close(&f);
}

Test(sched, rejects_bad_requests)
{
	fixture f;
	fx_open(&f, 1, 1, 16);
	int err = 0, bad[2] = { 1, 512 }, ok[1] = { 1 }, many[17] = { 0 };
	sched_params p = greedy(4);
	cr_expect_null(sched_submit(f.s, bad, 2, &p, &err));
	cr_expect_eq(err, SH_EINVAL);
	cr_expect_null(sched_submit(f.s, ok, 0, &p, &err));
	cr_expect_eq(err, SH_ERANGE);
	cr_expect_null(sched_submit(f.s, many, 17, &p, &err));
	cr_expect_eq(err, SH_ERANGE, "17 tokens do not fit a context of 16");
	p.n_stop = 1; /* an empty stop string */
	cr_expect_null(sched_submit(f.s, ok, 1, &p, &err));
	cr_expect_eq(err, SH_EINVAL);
	/* a prompt that fills the context exactly still yields one token, then ends on length */
	p.n_stop = 0;
	sched_status st;
	int full[16];
	for (int i = 0; i < 16; i++)
		full[i] = i ? 300 + i : 1;
	free(run(f.s, full, 16, &p, &st));
	cr_expect_eq(st.finish, SCHED_FINISH_LENGTH);
	cr_expect_eq(st.n_gen, 1);
	/* engine_step checks sequence ids */
	sh_log_set_level(-1);
	engine_batch b = { .n = 1, .tokens = ok, .seq = (int[]){ 1 }, .pos = (int[]){ 0 } };
	cr_expect_eq(engine_step(&f.e, &b, f.e.logits), SH_EINVAL);
	sh_log_set_level(SH_LOG_INFO);
	fx_close(&f);
}
