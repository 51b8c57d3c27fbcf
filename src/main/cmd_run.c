/*
 * cmd_run.c - `shoal run`: a node serving the OpenAI-compatible API on one machine.
 *
 * Wiring only: the engine (model, pool, one KV cache per slot), the slot scheduler over it, the
 * model's chat template (--chat-template NAME|FILE overrides it; a model without one gets ChatML),
 * the HTTP server. SIGINT/SIGTERM are blocked in every thread and taken here with
 * sigwait, so shutdown runs in order: stop accepting, end the requests in flight (their clients
 * get an error event or a 503), close the connections, free the scheduler, the engine.
 */
#include "main/cmds.h"
#include "api/server.h"
#include "compute/quant.h"
#include "engine/engine.h"
#include "serve/sched.h"
#include "template/tmpl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct {
	const char *model, *host, *api_key, *chat_template;
	long port, threads, parallel, n_ctx, queue, batch;
} run_opts;

static int run_parse(int argc, char **argv, run_opts *o)
{
	memset(o, 0, sizeof *o);
	o->port = API_DEFAULT_PORT;
	o->parallel = 4;
	o->queue = 64;
	o->batch = ENGINE_BATCH;
	o->api_key = getenv("SHOAL_API_KEY");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool ok = true;
		if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			ok = (o->model = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--host"))
			ok = (o->host = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--port"))
			ok = opt_int(argc, argv, &i, 0, 65535, &o->port);
		else if (!strcmp(a, "--api-key"))
			ok = (o->api_key = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			ok = opt_int(argc, argv, &i, 1, 1024, &o->threads);
		else if (!strcmp(a, "--parallel") || !strcmp(a, "-np"))
			ok = opt_int(argc, argv, &i, 1, ENGINE_MAX_SEQ, &o->parallel);
		else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
			ok = opt_int(argc, argv, &i, 1, 1 << 24, &o->n_ctx);
		else if (!strcmp(a, "--queue"))
			ok = opt_int(argc, argv, &i, 0, 1 << 20, &o->queue);
		else if (!strcmp(a, "--batch"))
			ok = opt_int(argc, argv, &i, 1, ENGINE_BATCH, &o->batch);
		else if (!strcmp(a, "--chat-template"))
			ok = (o->chat_template = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--no-discovery"))
			; /* nothing to discover yet: single node */
		else {
			sh_log_error("unknown option '%s'", a);
			ok = false;
		}
		if (!ok)
			return SH_EINVAL;
	}
	if (!o->model) {
		sh_log_error("no model: use -m MODEL.gguf");
		return SH_EINVAL;
	}
	if (o->batch < o->parallel)
		o->batch = o->parallel;
	return SH_OK;
}

/* "dir/name.gguf" -> "name" */
static void model_id_of(const char *path, char *out, size_t size)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(out, size, "%s", base);
	size_t n = strlen(out);
	if (n > 5 && !strcmp(out + n - 5, ".gguf"))
		out[n - 5] = 0;
}

/* ---------------------------------------------------------------- chat template */
/* the api's chat renderer: the model's template (tmpl_chat), any thread */
static int render_chat(void *ctx, const json_t *messages, char **out, size_t *len, char *err, size_t errlen)
{
	const tmpl_chat *c = ctx;
	return tmpl_render_chat(c->t, messages, true, c->bos, c->eos, NULL, out, len, err, errlen);
}

/* ---------------------------------------------------------------- run */
int cmd_run(int argc, char **argv)
{
	run_opts o;
	if (run_parse(argc, argv, &o))
		return 1;

	/* signals go to sigwait below, never to a worker thread: block them before any thread starts */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	engine e;
	int err = 0, rc = 1;
	sched *s = NULL;
	api_server *srv = NULL;
	tmpl_chat chat = { 0 };
	char msg[512];
	if (engine_open_seqs(&e, o.model, (int)o.threads, (int)o.n_ctx, (int)o.parallel, true))
		return 1;
	if (tmpl_chat_init(&chat, e.m->g, o.chat_template, msg, sizeof msg)) {
		sh_log_error("chat template: %s", msg);
		goto done;
	}
	sched_backend be = sched_backend_engine(&e);
	sched_opts so = { .n_slots = (int)o.parallel, .max_queue = (int)o.queue, .max_batch = (int)o.batch };
	if (!(s = sched_init(&be, &so, &err)))
		goto done;

	char model_id[256];
	model_id_of(o.model, model_id, sizeof model_id);
	struct stat stt;
	api_server_opts ao = {
		.host = o.host, .port = (int)o.port, .api_key = o.api_key, .model_id = model_id,
		.model_created = stat(o.model, &stt) == 0 ? stt.st_mtime : time(NULL), .n_ctx = e.n_ctx,
		.chat_render = render_chat, .chat_ctx = &chat,
	};
	if (!(srv = api_server_start(&ao, s, e.v, &err)))
		goto done;
	const char *shown_host = o.host && o.host[0] ? o.host : "0.0.0.0";
	sh_log_info("serving %s on http://%s%s%s:%d/v1 (%ld slots x %d tokens, %d threads, %s kernels, chat template %s%s)",
		    model_id, strchr(shown_host, ':') ? "[" : "", shown_host, strchr(shown_host, ':') ? "]" : "",
		    api_server_port(srv), o.parallel, e.n_ctx, pool_size(e.p), quant_kernel_name(), chat.source,
		    o.api_key && o.api_key[0] ? ", API key required" : "");

	int sig = 0;
	sigwait(&sigs, &sig);
	sh_log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_server_quiesce(srv);
	sched_stop(s);
	rc = 0;
done:
	api_server_free(srv);
	sched_free(s);
	tmpl_chat_free(&chat);
	engine_close(&e);
	if (!rc)
		sh_log_info("stopped");
	return rc;
}
