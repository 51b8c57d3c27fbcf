/*
 * cmd_generate.c - `shoal generate`, `shoal tokenize` and `shoal logits`: the single-sequence
 * commands. generate writes only the generated text to stdout (streamed, never splitting a
 * UTF-8 character) and one stats line to stderr.
 */
#include "main/cmds.h"
#include "engine/engine.h"
#include "compute/quant.h"
#include "sample/sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	model_opts mo;
	const char *prompt, *prompt_file;
	long n_predict;
	bool ignore_eos, no_bos, parse_special;
	sample_params sp;
} gen_opts;

static int gen_parse(int argc, char **argv, gen_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_predict = 128;
	sample_params_default(&o->sp);
	o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool ok = true;
		int k;
		if ((k = opt_sample(argc, argv, &i, &o->sp)) || (k = opt_model(argc, argv, &i, &o->mo)))
			ok = k > 0;
		else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
			ok = (o->prompt = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
			ok = (o->prompt_file = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
			ok = opt_int(argc, argv, &i, 0, 1 << 24, &o->n_predict);
		else if (!strcmp(a, "--ignore-eos"))
			o->ignore_eos = true;
		else if (!strcmp(a, "--no-bos"))
			o->no_bos = true;
		else if (!strcmp(a, "--parse-special"))
			o->parse_special = true;
		else {
			sh_log_error("unknown option '%s'", a);
			ok = false;
		}
		if (!ok)
			return SH_EINVAL;
	}
	if (!model_opts_check(&o->mo))
		return SH_EINVAL;
	return SH_OK;
}

/* tokenizes the prompt (-p or -f); *out is malloc'd */
static int gen_tokenize(const gen_opts *o, const vocab *v, bool add_bos, int **out)
{
	size_t len = 0;
	char *file = NULL;
	const char *text = o->prompt ? o->prompt : "";
	if (o->prompt_file) {
		if (!(file = file_read_all(o->prompt_file, &len)))
			return SH_EIO;
		text = file;
	} else {
		len = strlen(text);
	}
	int n = vocab_tokenize_alloc(v, text, len, add_bos, o->parse_special, out);
	free(file);
	if (n < 0)
		sh_log_error("cannot tokenize the prompt");
	return n;
}

int cmd_tokenize(int argc, char **argv)
{
	gen_opts o;
	if (gen_parse(argc, argv, &o))
		return 1;
	int err;
	gguf_ctx *g = gguf_open(o.mo.model, &err);
	vocab *v = g ? vocab_load(g, &err) : NULL;
	int *ids = NULL, n = v ? gen_tokenize(&o, v, !o.no_bos && vocab_add_bos(v), &ids) : -1;
	for (int i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	if (n >= 0)
		printf("\n");
	free(ids);
	vocab_free(v);
	gguf_free(g);
	return n < 0;
}

int cmd_logits(int argc, char **argv)
{
	gen_opts o;
	engine e;
	if (gen_parse(argc, argv, &o) || engine_open(&e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, true))
		return 1;
	int *ids = NULL, n = gen_tokenize(&o, e.v, vocab_add_bos(e.v), &ids), rc = 1;
	size_t n_vocab = (size_t)e.m->hp.n_vocab;
	float *logits = n > 0 ? malloc(sizeof(float) * n_vocab * (size_t)n) : NULL;
	if (n <= 0) {
		sh_log_error("the prompt has no tokens");
	} else if (logits && engine_eval(&e, ids, n, 0, true, logits) == 0) {
		for (int i = 0; i < n; i++)
			printf(i ? " %d" : "%d", ids[i]);
		printf("\n");
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < n_vocab; j++)
				printf(j + 1 < n_vocab ? "%.6f " : "%.6f\n", logits[(size_t)i * n_vocab + j]);
		rc = 0;
	}
	free(logits);
	free(ids);
	engine_close(&e);
	return rc;
}

static void emit(const char *s, int n)
{
	if (n > 0) {
		fwrite(s, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}

int cmd_generate(int argc, char **argv)
{
	gen_opts o;
	engine e;
	if (gen_parse(argc, argv, &o) || engine_open(&e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, true))
		return 1;
	int rc = 1, *ids = NULL;
	sample_ctx *s = NULL;
	int n = gen_tokenize(&o, e.v, !o.no_bos && vocab_add_bos(e.v), &ids);
	if (n <= 0) {
		if (n == 0)
			sh_log_error("the prompt has no tokens (and the model adds no BOS)");
		goto done;
	}
	if (n + o.n_predict > e.n_ctx) {
		sh_log_error("prompt (%d tokens) + %ld to generate exceed the context of %d (use -c)", n,
			     o.n_predict, e.n_ctx);
		goto done;
	}
	if (!(s = sample_init(&o.sp, e.m->hp.n_vocab)))
		goto done;
	for (int i = 0; i < n; i++)
		sample_accept(s, ids[i]);
	double t0 = sh_time_sec();
	if (engine_eval(&e, ids, n, 0, false, e.logits))
		goto done;
	double t1 = sh_time_sec();
	vocab_stream vs;
	vocab_stream_init(&vs, e.v);
	char piece[1024];
	/* the stream sees the prompt first, so the output is decode(prompt + generated) minus
	 * decode(prompt): a continuation keeps its leading space, a start after BOS drops it */
	for (int i = 0; i < n; i++)
		vocab_stream_push(&vs, ids[i], piece, sizeof piece);
	int n_gen = 0, pos = n;
	for (; n_gen < o.n_predict; n_gen++) {
		int tok = sample_next(s, e.logits);
		if (vocab_is_eog(e.v, tok) && !o.ignore_eos)
			break;
		sample_accept(s, tok);
		emit(piece, vocab_stream_push(&vs, tok, piece, sizeof piece));
		if (n_gen + 1 < o.n_predict && engine_eval(&e, &tok, 1, pos++, false, e.logits))
			goto done;
	}
	emit(piece, vocab_stream_flush(&vs, piece, sizeof piece));
	double t2 = sh_time_sec();
	if (isatty(STDOUT_FILENO))
		printf("\n");
	fprintf(stderr, "shoal: prompt %d tokens %.2f tok/s, generated %d tokens %.2f tok/s (%d threads, %s kernels)\n",
		n, n / (t1 - t0), n_gen, n_gen > 1 ? (n_gen - 1) / (t2 - t1) : 0.0, pool_size(e.p), quant_kernel_name());
	rc = 0;
done:
	sample_free(s);
	free(ids);
	engine_close(&e);
	return rc;
}
