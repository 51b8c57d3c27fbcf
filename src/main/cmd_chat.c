/*
 * cmd_chat.c - `shoal chat`: an interactive multi-turn chat in the terminal.
 *
 * Each turn appends the user's line to the conversation, renders the whole conversation through
 * the model's chat template (add_generation_prompt on), tokenizes it with special tokens parsed,
 * and evaluates only the tokens past the prefix already in the KV cache: a turn costs its new
 * text, not the history. The reply streams to stdout as it is sampled and joins the conversation
 * as the assistant's message.
 *
 * Ctrl-C stops the reply being written (the partial reply stays in the conversation) and never
 * the program; /clear forgets the conversation (the --system message stays); /exit or the end of
 * input quits. Prompts ("> ") are shown only when stdin is a terminal, so piped input gives just
 * the replies, one per line.
 */
#include "main/cmds.h"
#include "engine/engine.h"
#include "serve/text.h"
#include "template/tmpl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t chat_interrupted;

static void chat_on_sigint(int sig)
{
	chat_interrupted = 1;
}

typedef struct {
	model_opts mo;
	const char *system, *template_override;
	long n_predict;
	bool ignore_eos;
	sampling_opts so;
} chat_opts;

typedef struct {
	engine e;
	sample_ctx *s;
	tmpl_chat tc;
	json_t *msgs;      /* the conversation: [{role, content}] */
	int *cached;       /* [n_ctx] tokens whose K/V are in the cache, at positions 0.. */
	int n_cached;
	const chat_opts *o;
} chat;

/* 0, OPTS_HELP or an error */
static int chat_parse(int argc, char **argv, chat_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n_predict = -1;
	sampling_opts_init(&o->so);
	const opt table[] = {
		OPTS_MODEL(&o->mo),
		OPTS_STR("--system", NULL, "TEXT", &o->system, "a system message that starts the conversation (and stays on /clear)"),
		OPTS_CHAT_TEMPLATE(&o->template_override),
		OPTS_INT("--n-predict", "-n", "N", &o->n_predict, -1, 1 << 24,
			 "tokens per reply at most; -1: until the model ends its turn or the context is full"),
		OPTS_FLAG("--ignore-eos", NULL, &o->ignore_eos, "keep generating past the end-of-turn token"),
		OPTS_THREADS(&o->mo), OPTS_CTX(&o->mo), OPTS_CACHE_TYPE(&o->mo),
		OPTS_SECTION("sampling"), OPTS_SAMPLING(&o->so), OPTS_DONE,
	};
	const opts_cmd cmd = { "chat", "-m MODEL [options]",
			       "A conversation with the model in the terminal, through its chat template: type a message, "
			       "read the reply as it is written. Each turn evaluates only what is new since the last one. "
			       "Ctrl-C stops a reply; /clear forgets the conversation; /exit or end of input quits.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	return rc ? rc : model_opts_resolve("chat", &o->mo);
}

/* appends {role, content} with invalid UTF-8 (a typo'd input byte, a model's stray byte token)
 * replaced by U+FFFD, since the conversation is JSON */
static int chat_append(json_t *msgs, const char *role, const char *content, size_t len)
{
	text_buf valid = { 0 };
	json_t *m = NULL;
	if (text_utf8_repair(&valid, content, len) == 0)
		m = json_pack("{s:s, s:s%}", "role", role, "content", valid.p ? valid.p : "", valid.len);
	text_buf_free(&valid);
	return m && json_array_append_new(msgs, m) == 0 ? SH_OK : SH_ENOMEM;
}

static void chat_clear(chat *c)
{
	json_array_clear(c->msgs);
	if (c->o->system)
		chat_append(c->msgs, "system", c->o->system, strlen(c->o->system));
}

static void chat_emit(text_buf *reply, const char *s, int n)
{
	if (n > 0) {
		fwrite(s, 1, (size_t)n, stdout);
		fflush(stdout);
		text_buf_add(reply, s, (size_t)n);
	}
}

/* Renders and tokenizes the conversation, brings the KV cache up to it and writes the reply.
 * Returns 0 (the reply, complete or stopped, joined the conversation) or an error (logged; the
 * user's message is taken back so the conversation stays as it was). */
static int chat_turn(chat *c)
{
	char err[512], *text = NULL;
	size_t len;
	int *ids = NULL, n, rc;
	text_buf reply = { 0 };
	if ((rc = tmpl_render_chat(c->tc.t, c->msgs, NULL, true, c->tc.bos, c->tc.eos, NULL, &text, &len, err, sizeof err))) {
		sh_log_error("chat template: %s", err);
		goto fail;
	}
	if ((n = rc = vocab_tokenize_chat(c->e.v, text, len, &ids)) <= 0) {
		sh_log_error("cannot tokenize the conversation");
		rc = n < 0 ? n : SH_EINVAL;
		goto fail;
	}
	if (n >= c->e.n_ctx) {
		sh_log_error("the conversation (%d tokens) no longer fits the context of %d tokens; /clear starts over (or use -c)",
			     n, c->e.n_ctx);
		rc = SH_ERANGE;
		goto fail;
	}
	/* reuse the cached prefix; the last token is always evaluated again for its logits */
	int p = 0;
	while (p < c->n_cached && p < n - 1 && c->cached[p] == ids[p])
		p++;
	c->n_cached = p;
	if ((rc = engine_eval(&c->e, ids + p, n - p, p, false, c->e.logits)))
		goto fail;
	memcpy(c->cached + p, ids + p, sizeof(int) * (size_t)(n - p));
	c->n_cached = n;

	sample_reset(c->s);
	vocab_stream vs;
	vocab_stream_init(&vs, c->e.v);
	char piece[1024];
	for (int i = 0; i < n; i++) {
		sample_accept(c->s, ids[i]);
		vocab_stream_push(&vs, ids[i], piece, sizeof piece);
	}
	chat_interrupted = 0;
	for (long k = 0; c->o->n_predict < 0 || k < c->o->n_predict; k++) {
		int tok = sample_next(c->s, c->e.logits);
		if ((vocab_is_eog(c->e.v, tok) && !c->o->ignore_eos) || chat_interrupted)
			break;
		sample_accept(c->s, tok);
		chat_emit(&reply, piece, vocab_stream_push(&vs, tok, piece, sizeof piece));
		if (c->n_cached + 1 >= c->e.n_ctx) {
			sh_log_warn("the context of %d tokens is full; the reply stops here", c->e.n_ctx);
			break;
		}
		if ((rc = engine_eval(&c->e, &tok, 1, c->n_cached, false, c->e.logits))) {
			c->n_cached = 0;
			goto fail;
		}
		c->cached[c->n_cached++] = tok;
	}
	chat_emit(&reply, piece, vocab_stream_flush(&vs, piece, sizeof piece));
	fputc('\n', stdout);
	fflush(stdout);
	rc = chat_append(c->msgs, "assistant", reply.p ? reply.p : "", reply.len);
	text_buf_free(&reply);
	free(ids);
	free(text);
	return rc;
fail:
	json_array_remove(c->msgs, json_array_size(c->msgs) - 1);
	text_buf_free(&reply);
	free(ids);
	free(text);
	return rc;
}

int cmd_chat(int argc, char **argv)
{
	chat_opts o;
	chat c = { .o = &o };
	char err[512];
	int prc = chat_parse(argc, argv, &o);
	if (prc)
		return prc == OPTS_HELP ? 0 : 1;
	sample_params sp = sampling_opts_get(&o.so);
	/* the pool's workers start with SIGINT blocked, so Ctrl-C always reaches this thread */
	sigset_t sigint;
	sigemptyset(&sigint);
	sigaddset(&sigint, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigint, NULL);
	int opened = engine_open_seqs(&c.e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, 1, model_opts_cache_type(&o.mo), true);
	pthread_sigmask(SIG_UNBLOCK, &sigint, NULL);
	if (opened)
		return 1;
	int rc = 1;
	if (tmpl_chat_init(&c.tc, c.e.m->g, o.template_override, err, sizeof err)) {
		sh_log_error("%s", err);
		engine_close(&c.e);
		return 1;
	}
	if (!(c.s = sample_init(&sp, c.e.m->hp.n_vocab)) || !(c.msgs = json_array()) ||
	    !(c.cached = malloc(sizeof(int) * (size_t)c.e.n_ctx)))
		goto done;
	chat_clear(&c);

	struct sigaction sa = { .sa_handler = chat_on_sigint };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C at the prompt interrupts the read */
	bool tty = isatty(STDIN_FILENO);
	if (tty)
		fprintf(stderr, "shoal: chat with %s (template: %s); /clear forgets, /exit quits, Ctrl-C stops a reply\n",
			o.mo.model, c.tc.source);
	char *line = NULL;
	size_t cap = 0;
	for (;;) {
		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		errno = 0;
		ssize_t len = getline(&line, &cap, stdin);
		if (len < 0) {
			if (errno == EINTR) {
				clearerr(stdin);
				chat_interrupted = 0;
				fputc('\n', stdout);
				continue;
			}
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!strcmp(line, "/exit"))
			break;
		if (!strcmp(line, "/clear")) {
			chat_clear(&c);
			if (tty)
				fprintf(stderr, "shoal: conversation cleared\n");
			continue;
		}
		if (len == 0)
			continue;
		if (chat_append(c.msgs, "user", line, (size_t)len) || chat_turn(&c) == SH_ENOMEM)
			goto done_line;
	}
	rc = 0;
done_line:
	free(line);
done:
	signal(SIGINT, SIG_DFL);
	json_decref(c.msgs);
	free(c.cached);
	sample_free(c.s);
	tmpl_chat_free(&c.tc);
	engine_close(&c.e);
	return rc;
}
