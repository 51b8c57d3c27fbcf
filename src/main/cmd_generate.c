/*
 * cmd_generate.c - `shoal generate`, `shoal tokenize` and `shoal logits`: the single-sequence
 * commands, with the prompt options they share. generate writes only the generated text to stdout
 * (streamed, never splitting a UTF-8 character) and one stats line to stderr.
 */
#include "main/cmds.h"
#include "engine/engine.h"
#include "compute/quant.h"
#include "sample/sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
	model_opts mo;
	const char *prompt, *prompt_file;
	long n_predict;
	bool ignore_eos, no_bos, parse_special;
	sampling_opts so;
} gen_opts;

#define GEN_PROMPT(o)                                                                                     \
	OPTS_STR("--prompt", "-p", "TEXT", &(o)->prompt, "the prompt"),                                      \
	OPTS_STR("--file", "-f", "FILE", &(o)->prompt_file, "read the prompt from FILE instead")
#define GEN_SPECIAL(o)                                                                                    \
	OPTS_FLAG("--parse-special", NULL, &(o)->parse_special,                                              \
		  "match the model's control tokens written as text (\"<|im_start|>\") instead of spelling them")

static void gen_init(gen_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_predict = 128;
	sampling_opts_init(&o->so);
}

/* parses, and checks the prompt options (need_prompt: -p or -f is required): 0, OPTS_HELP or an error */
static int gen_parse(const opts_cmd *cmd, int argc, char **argv, gen_opts *o, bool need_prompt)
{
	int rc = opts_parse(cmd, argc, argv);
	if (!rc && !o->prompt && !o->prompt_file && need_prompt) {
		sh_log_error("%s: a prompt is required (-p TEXT or -f FILE)", cmd->name);
		rc = SH_EINVAL;
	}
	if (!rc && o->prompt && o->prompt_file) {
		sh_log_error("%s: -p and -f both give the prompt: use one", cmd->name);
		rc = SH_EINVAL;
	}
	if (!rc)
		rc = model_opts_resolve(cmd->name, &o->mo);
	return rc;
}

/* tokenizes the prompt (-p or -f); *out is malloc'd */
static int gen_tokenize(const gen_opts *o, const vocab *v, bool add_bos, int **out)
{
	size_t len = 0;
	char *file = NULL;
	const char *text = o->prompt ? o->prompt : "";
	if (o->prompt_file) {
		int rc = sh_file_read(o->prompt_file, 1u << 30, &file, &len);
		if (rc) {
			sh_log_error("%s: %s", o->prompt_file, sh_file_error(rc));
			return rc;
		}
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
	gen_init(&o);
	const opt table[] = {
		OPTS_MODEL(&o.mo), GEN_PROMPT(&o),
		OPTS_FLAG("--no-bos", NULL, &o.no_bos, "do not add the beginning-of-sequence token the model asks for"),
		GEN_SPECIAL(&o), OPTS_DONE,
	};
	const opts_cmd cmd = { "tokenize", "-m MODEL (-p TEXT | -f FILE) [options]",
			       "Prints the token ids of a text, as the model's tokenizer reads it (one line, space-separated).",
			       table };
	int rc = gen_parse(&cmd, argc, argv, &o, true);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
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
	gen_init(&o);
	const opt table[] = { OPTS_MODEL(&o.mo), GEN_PROMPT(&o), GEN_SPECIAL(&o), OPTS_THREADS(&o.mo), OPTS_CTX(&o.mo),
			      OPTS_CACHE_TYPE(&o.mo), OPTS_DONE };
	const opts_cmd cmd = { "logits", "-m MODEL (-p TEXT | -f FILE) [options]",
			       "Prints the prompt's token ids (with BOS) on one line, then the model's logits at each position, "
			       "one line of n_vocab numbers per token: what tests compare with other implementations.",
			       table };
	engine e;
	int rc = gen_parse(&cmd, argc, argv, &o, true);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	if (engine_open_seqs(&e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, 1, model_opts_cache_type(&o.mo), true))
		return 1;
	int *ids = NULL, n = gen_tokenize(&o, e.v, vocab_add_bos(e.v), &ids);
	rc = 1;
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
	gen_init(&o);
	const opt table[] = {
		OPTS_MODEL(&o.mo), GEN_PROMPT(&o),
		OPTS_INT("--n-predict", "-n", "N", &o.n_predict, 0, 1 << 24, "tokens to generate at most"),
		OPTS_FLAG("--ignore-eos", NULL, &o.ignore_eos, "keep generating past the end-of-generation token"),
		OPTS_FLAG("--no-bos", NULL, &o.no_bos, "do not add the beginning-of-sequence token the model asks for"),
		GEN_SPECIAL(&o), OPTS_THREADS(&o.mo), OPTS_CTX(&o.mo), OPTS_CACHE_TYPE(&o.mo),
		OPTS_SECTION("sampling"), OPTS_SAMPLING(&o.so), OPTS_DONE,
	};
	const opts_cmd cmd = { "generate", "-m MODEL [-p TEXT | -f FILE] [options]",
			       "Continues a prompt (none: from the beginning-of-sequence token) with the model. Only the "
			       "generated text goes to stdout, as it is sampled; one line of speed figures goes to stderr.",
			       table };
	engine e;
	int rc = gen_parse(&cmd, argc, argv, &o, false);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	if (engine_open_seqs(&e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, 1, model_opts_cache_type(&o.mo), true))
		return 1;
	sample_params sp = sampling_opts_get(&o.so);
	rc = 1;
	int *ids = NULL;
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
	if (!(s = sample_init(&sp, e.m->hp.n_vocab)))
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
