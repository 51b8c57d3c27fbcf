/*
 * cmd_bench.c - `shoal bench`: prompt-processing and generation speed of a model on this
 * machine, the machine's memory read bandwidth measured with the same threads, and generation
 * speed as a fraction of the bandwidth bound (bandwidth / weight bytes read per token).
 * With --streams, batched decode too: N sequences each generating, one token of each per forward
 * step (what the server does for N concurrent requests), as aggregate tok/s and over one stream.
 * Every figure is a median of repeats, measured in this one run.
 */
#include "main/cmds.h"
#include "engine/engine.h"
#include "compute/quant.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_BW_BYTES (1ull << 30)

typedef struct {
	const uint64_t *buf;
	size_t n;
	_Atomic uint64_t sum; /* keeps the loads */
} bw_job;

static void bw_task(void *arg, int ith, int nth)
{
	bw_job *j = arg;
	int lo, hi;
	pool_split((int)(j->n / 4096), ith, nth, &lo, &hi);
	uint64_t acc[8] = { 0 };
	for (size_t i = (size_t)lo * 4096; i < (size_t)hi * 4096; i += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += j->buf[i + k];
	atomic_fetch_add_explicit(&j->sum, acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7],
				  memory_order_relaxed);
}

/* best of several passes over a buffer much larger than the caches, in bytes/s */
static double bench_bandwidth(pool *p)
{
	bw_job j = { .n = BENCH_BW_BYTES / 8 };
	uint64_t *buf = sh_alloc_large(BENCH_BW_BYTES);
	if (!buf)
		return 0;
	for (size_t i = 0; i < j.n; i++)
		buf[i] = i;
	j.buf = buf;
	double best = 0;
	for (int r = 0; r < 5; r++) {
		double t0 = sh_time_sec();
		pool_run(p, bw_task, &j);
		double bw = BENCH_BW_BYTES / (sh_time_sec() - t0);
		best = bw > best ? bw : best;
	}
	sh_free_large(buf, BENCH_BW_BYTES);
	return best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define BENCH_STREAMS_MAX 64
#define BENCH_STREAM_PROMPT 16 /* each stream's prompt: its decode reads a short cache, as a chat's first reply */

/* "1,2,4,8" -> n[] in the order given, each in [1, BENCH_STREAMS_MAX]; returns the count or -1 */
static int streams_parse(const char *s, int *n, int cap)
{
	int k = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > BENCH_STREAMS_MAX || k == cap || (*end && (*end != ',' || !end[1])))
			return -1;
		n[k++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return k;
}

/* aggregate decode tok/s of n streams: n_gen steps of one token per stream, after each stream's
 * prompt; median of reps */
static int bench_streams(engine *e, int n, int n_gen, int reps, const int *toks, double *tok_s)
{
	int tk[BENCH_STREAMS_MAX], seq[BENCH_STREAMS_MAX], pos[BENCH_STREAMS_MAX];
	int pseq[BENCH_STREAM_PROMPT], ppos[BENCH_STREAM_PROMPT];
	double v[100];
	for (int r = 0; r < reps; r++) {
		for (int s = 0; s < n; s++) {
			for (int i = 0; i < BENCH_STREAM_PROMPT; i++) {
				pseq[i] = s;
				ppos[i] = i;
			}
			engine_batch pb = { .n = BENCH_STREAM_PROMPT, .tokens = toks, .seq = pseq, .pos = ppos };
			if (engine_step(e, &pb, e->logits) < 0)
				return 1;
		}
		double t0 = sh_time_sec();
		for (int g = 0; g < n_gen; g++) {
			for (int s = 0; s < n; s++) {
				tk[s] = toks[(g + s) % BENCH_STREAM_PROMPT];
				seq[s] = s;
				pos[s] = BENCH_STREAM_PROMPT + g;
			}
			engine_batch b = { .n = n, .tokens = tk, .seq = seq, .pos = pos };
			if (engine_step(e, &b, e->logits) < 0)
				return 1;
		}
		v[r] = (double)n * n_gen / (sh_time_sec() - t0);
	}
	*tok_s = median(v, reps);
	return 0;
}


int cmd_bench(int argc, char **argv)
{
	model_opts mo = { 0 };
	long n_prompt = 128, n_gen = 64, reps = 5;
	const char *streams = NULL;
	const opt table[] = {
		OPTS_MODEL(&mo), OPTS_THREADS(&mo), OPTS_CACHE_TYPE(&mo),
		OPTS_INT("--n-prompt", "-p", "N", &n_prompt, 1, 8192, "tokens of the prompt-processing test"),
		OPTS_INT("--n-gen", "-n", "N", &n_gen, 1, 8192, "tokens of the generation test"),
		OPTS_INT("--repeats", "-r", "N", &reps, 1, 100, "runs of each test; the figures are their medians"),
		OPTS_STR("--streams", NULL, "N[,N]", &streams,
			 "batched decode too: for each N, N sequences generating -n tokens each after a 16-token "
			 "prompt, one token of each per forward step, as the server serves N requests at once; "
			 "aggregate tok/s and its ratio to one stream (N at most 64; default: none)"),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "bench", "-m MODEL [options]",
			       "Measures prompt processing and generation speed (tok/s) of the model on this machine, and "
			       "this machine's memory read bandwidth with the same threads, which bounds generation: each "
			       "token reads every weight once. The weights' content does not matter (use shoal synth).",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	if (model_opts_resolve("bench", &mo))
		return 1;
	int sn[BENCH_STREAMS_MAX], n_streams = 0, max_streams = 1;
	if (streams && (n_streams = streams_parse(streams, sn, BENCH_STREAMS_MAX)) < 0) {
		sh_log_error("bench: --streams: a comma-separated list of counts in [1, %d], not '%s'", BENCH_STREAMS_MAX,
			     streams);
		return 1;
	}
	for (int i = 0; i < n_streams; i++)
		max_streams = SH_MAX(max_streams, sn[i]);
	const char *path = mo.model;
	long threads = mo.threads;
	engine e;
	int n_ctx = (int)SH_MAX(n_prompt, BENCH_STREAM_PROMPT) + (int)n_gen + 1;
	if (engine_open_seqs(&e, path, (int)threads, n_ctx, max_streams, model_opts_cache_type(&mo), false))
		return 1;
	int n_tok = (int)SH_MAX(SH_MAX(n_prompt, n_gen), BENCH_STREAM_PROMPT);
	rc = 1;
	int *toks = malloc(sizeof(int) * (size_t)n_tok);
	double *pp = malloc(sizeof(double) * (size_t)reps), *tg = malloc(sizeof(double) * (size_t)reps);
	if (!toks || !pp || !tg)
		goto done;
	sh_rng rng;
	sh_rng_seed(&rng, 42);
	for (int i = 0; i < n_tok; i++)
		toks[i] = (int)(sh_rng_u64(&rng) % (uint64_t)e.m->hp.n_vocab);

	double bw = bench_bandwidth(e.p);
	/* warm-up: faults in every weight page */
	if (engine_eval(&e, toks, (int)SH_MIN(n_prompt, 16), 0, false, e.logits))
		goto done;
	for (int r = 0; r < reps; r++) {
		double t0 = sh_time_sec();
		if (engine_eval(&e, toks, (int)n_prompt, 0, false, e.logits))
			goto done;
		pp[r] = n_prompt / (sh_time_sec() - t0);
		t0 = sh_time_sec();
		for (int i = 0; i < n_gen; i++)
			if (engine_eval(&e, &toks[i], 1, i, false, e.logits))
				goto done;
		tg[r] = n_gen / (sh_time_sec() - t0);
	}
	double pp_med = median(pp, (int)reps), tg_med = median(tg, (int)reps);
	double bytes = (double)e.m->weight_bytes, bound = bw / bytes;
	printf("model:        %s (%s, %d layers, dim %d)\n", path, e.m->hp.arch_name, e.m->hp.n_layers, e.m->hp.dim);
	printf("threads:      %d, kernels %s\n", pool_size(e.p), quant_kernel_name());
	printf("weights/tok:  %.1f MB\n", bytes / 1e6);
	printf("bandwidth:    %.2f GB/s (memory read, best of 5)\n", bw / 1e9);
	printf("prompt:       %.2f tok/s (p=%ld, median of %ld)\n", pp_med, n_prompt, reps);
	printf("generation:   %.2f tok/s (n=%ld, median of %ld)\n", tg_med, n_gen, reps);
	printf("bound:        %.2f tok/s; generation at %.2f of the bandwidth bound\n", bound, tg_med / bound);
	printf("pp/tg:        %.2f\n", pp_med / tg_med);
	for (int i = 0; i < n_streams; i++) {
		double agg;
		if (bench_streams(&e, sn[i], (int)n_gen, (int)reps, toks, &agg))
			goto done;
		printf("streams %-3d   %.2f tok/s aggregate (n=%ld each, median of %ld), %.2f x one stream\n", sn[i], agg,
		       n_gen, reps, agg / tg_med);
	}
	rc = 0;
done:
	free(toks);
	free(pp);
	free(tg);
	engine_close(&e);
	return rc;
}
