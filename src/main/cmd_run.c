/*
 * cmd_run.c - `shoal run`: a node serving the OpenAI-compatible API, alone or in a cluster.
 *
 * Wiring only: the cluster node (src/cluster/node.h: discovery, peers, plan, this node's layer
 * range; alone on its LAN it holds every layer) or, with --no-discovery and no --peers or
 * --node-port, the plain engine (model, pool, one KV cache per slot) as the scheduler's backend,
 * the slot scheduler over it, the
 * model's chat template (--chat-template NAME|FILE overrides it; a model without one gets ChatML),
 * the HTTP server. SIGINT/SIGTERM are blocked in every thread and taken here with
 * sigwait, so shutdown runs in order: stop accepting, end the requests in flight (their clients
 * get an error event or a 503), close the connections, free the scheduler, the engine.
 */
#include "main/cmds.h"
#include "api/server.h"
#include "compute/quant.h"
#include "cluster/node.h"
#include "engine/engine.h"
#include "serve/sched.h"
#include "template/tmpl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct {
	model_opts mo;
	const char *host, *api_key, *chat_template;
	long port, parallel, queue, batch, lanes;
	long node_port, discovery_port; /* 0: the defaults */
	bool no_discovery;
	const char *peers, *cluster_key, *cluster_name, *interface, *state_dir;
	uint64_t memory_limit;
	bool wire_f16;
	float peer_timeout;
} run_opts;

/* "123", "512M", "2G" (binary units) */
static bool parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return false;
	unsigned sh = 0;
	if (*end == 'K' || *end == 'k')
		sh = 10, end++;
	else if (*end == 'M' || *end == 'm')
		sh = 20, end++;
	else if (*end == 'G' || *end == 'g')
		sh = 30, end++;
	if (*end || (sh && v > (~0ull >> sh)))
		return false;
	*out = (uint64_t)v << sh;
	return true;
}

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
		int k;
		if ((k = opt_model(argc, argv, &i, &o->mo)))
			ok = k > 0;
		else if (!strcmp(a, "--host"))
			ok = (o->host = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--port"))
			ok = opt_int(argc, argv, &i, 0, 65535, &o->port);
		else if (!strcmp(a, "--api-key"))
			ok = (o->api_key = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--parallel") || !strcmp(a, "-np"))
			ok = opt_int(argc, argv, &i, 1, ENGINE_MAX_SEQ, &o->parallel);
		else if (!strcmp(a, "--queue"))
			ok = opt_int(argc, argv, &i, 0, 1 << 20, &o->queue);
		else if (!strcmp(a, "--batch"))
			ok = opt_int(argc, argv, &i, 1, ENGINE_BATCH, &o->batch);
		else if (!strcmp(a, "--chat-template"))
			ok = (o->chat_template = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--no-discovery"))
			o->no_discovery = true;
		else if (!strcmp(a, "--interface"))
			ok = (o->interface = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--discovery-port"))
			ok = opt_int(argc, argv, &i, 1, 65535, &o->discovery_port);
		else if (!strcmp(a, "--state-dir"))
			ok = (o->state_dir = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--node-port"))
			ok = opt_int(argc, argv, &i, 1, 65535, &o->node_port);
		else if (!strcmp(a, "--lanes"))
			ok = opt_int(argc, argv, &i, 1, CLUSTER_MAX_LANES, &o->lanes);
		else if (!strcmp(a, "--peers"))
			ok = (o->peers = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--cluster-key"))
			ok = (o->cluster_key = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--cluster-name"))
			ok = (o->cluster_name = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--peer-timeout"))
			ok = opt_float(argc, argv, &i, &o->peer_timeout) && o->peer_timeout > 0.1f && o->peer_timeout < 600;
		else if (!strcmp(a, "--memory-limit")) {
			const char *v = opt_value(argc, argv, &i);
			ok = v && parse_bytes(v, &o->memory_limit) && o->memory_limit > 0;
			if (v && !ok)
				sh_log_error("--memory-limit: '%s' is not a byte count (e.g. 800M, 4G)", v);
		} else if (!strcmp(a, "--wire")) {
			const char *v = opt_value(argc, argv, &i);
			ok = v && (!strcmp(v, "f16") || !strcmp(v, "f32"));
			if (ok)
				o->wire_f16 = !strcmp(v, "f16");
			else if (v)
				sh_log_error("--wire: '%s' (use f32 or f16)", v);
		}
		else {
			sh_log_error("unknown option '%s'", a);
			ok = false;
		}
		if (!ok)
			return SH_EINVAL;
	}
	if (!model_opts_check(&o->mo))
		return SH_EINVAL;
	if (o->batch < o->parallel)
		o->batch = o->parallel;
	if (o->no_discovery && !o->node_port && !o->peers &&
	    (o->cluster_key || o->memory_limit || o->interface || o->discovery_port)) {
		sh_log_error("--cluster-key, --memory-limit, --interface and --discovery-port need a cluster: "
			     "drop --no-discovery, or give --peers or --node-port");
		return SH_EINVAL;
	}
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

/* ---------------------------------------------------------------- cluster */
static int cluster_ready_cb(void *ctx, char *msg, size_t cap) { return cluster_ready(ctx, msg, cap); }

static json_t *topology_json(void *ctx)
{
	cluster_topo *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	cluster_topology(ctx, t);
	json_t *nodes = json_array(), *links = json_array();
	for (int i = 0; i < t->n_nodes; i++) {
		cluster_topo_node *n = &t->nodes[i];
		const node_caps *nc = &n->info;
		json_t *layers = n->first < n->last ? json_pack("[i,i]", n->first, n->last) : json_null();
		json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:{s:I, s:I, s:I, s:I}, s:o, s:s}", "id", n->id, "address",
				      n->address, "api", n->api_port, "host", n->host, "memory", "total",
				      (json_int_t)nc->mem_total, "available", (json_int_t)nc->mem_available, "usable",
				      (json_int_t)n->mem_usable, "planned", (json_int_t)n->bytes, "layers", layers, "state",
				      n->state);
		if (j && nc->cpu[0])
			json_object_update_new(j, json_pack("{s:s, s:i, s:s, s:s, s:f, s:f}", "cpu", nc->cpu, "cores",
							    nc->cores, "simd", nc->simd, "os", nc->os, "mem_bandwidth_gbs",
							    nc->mem_bw_gbs, "matmul_gflops", nc->matmul_gflops));
		json_array_append_new(nodes, j);
	}
	for (int i = 0; i < t->n_links; i++) {
		cluster_topo_link *l = &t->links[i];
		json_array_append_new(links, json_pack("{s:s, s:s, s:s, s:o, s:o}", "from", t->nodes[l->from].id, "to",
						       t->nodes[l->to].id, "state", l->up ? "up" : "down", "rtt_ms",
						       l->rtt_ms >= 0 ? json_real(l->rtt_ms) : json_null(), "bandwidth_mbps",
						       l->bw_mbps >= 0 ? json_real(l->bw_mbps) : json_null()));
	}
	json_t *j = json_pack("{s:s, s:s, s:b, s:o, s:o, s:{s:I, s:i, s:b}}", "cluster", t->cluster, "model", t->model,
			      "discovery", t->discovery, "nodes", nodes, "links", links, "plan", "epoch",
			      (json_int_t)t->epoch, "n_layers", t->n_layers, "pending", t->pending);
	if (j && t->error[0])
		json_object_set_new(json_object_get(j, "plan"), "error", json_string(t->error));
	free(t);
	return j;
}

/* one node alone: the whole model here */
static json_t *topology_single(void *ctx)
{
	engine *e = ctx;
	return json_pack("{s:[{s:s, s:s, s:n, s:[i,i], s:s}], s:[], s:{s:i, s:i}}", "nodes", "id", "self", "address", "",
			 "memory", "layers", 0, e->m->hp.n_layers, "state", "self", "links", "plan", "epoch", 0, "n_layers",
			 e->m->hp.n_layers);
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

	engine e = { 0 };
	cluster *cl = NULL;
	int err = 0, rc = 1;
	sched *s = NULL;
	api_server *srv = NULL;
	tmpl_chat chat = { 0 };
	char msg[512];
	sched_backend be;
	const gguf_ctx *g;
	int n_ctx;
	if (!o.no_discovery || o.node_port || o.peers) {
		cluster_opts co = { .model_path = o.mo.model, .node_port = (int)o.node_port, .peers = o.peers,
				    .discovery = !o.no_discovery, .interface = o.interface,
				    .discovery_port = (int)o.discovery_port, .state_dir = o.state_dir,
				    .cluster_key = o.cluster_key, .cluster_name = o.cluster_name,
				    .memory_limit = o.memory_limit, .n_threads = (int)o.mo.threads, .n_ctx = (int)o.mo.n_ctx,
				    .n_seq = (int)o.parallel, .wire_f16 = o.wire_f16, .peer_timeout = o.peer_timeout };
		if (!(cl = cluster_init(&co, &err)))
			return 1;
		n_ctx = cluster_n_ctx(cl);
		be = (sched_backend){ .ctx = cl, .step = cluster_step, .v = cluster_vocab(cl), .n_vocab = cluster_n_vocab(cl),
				      .n_seq = (int)o.parallel, .n_ctx = n_ctx, .seq_end = cluster_seq_end,
				      .seq_reusable = cluster_seq_reusable, .max_lanes = CLUSTER_MAX_LANES,
				      .lanes_wanted = cluster_lanes_wanted };
		g = cluster_gguf(cl);
	} else {
		if (engine_open_seqs(&e, o.mo.model, (int)o.mo.threads, (int)o.mo.n_ctx, (int)o.parallel, true))
			return 1;
		be = sched_backend_engine(&e);
		g = e.m->g;
		n_ctx = e.n_ctx;
	}
	if (tmpl_chat_init(&chat, g, o.chat_template, msg, sizeof msg)) {
		sh_log_error("chat template: %s", msg);
		goto done;
	}
	/* a cluster keeps one micro-batch per shard in flight (up to --lanes, default 4): while one
	 * shard computes one, another shard computes the next; alone, one batch holds everything */
	sched_opts so = { .n_slots = (int)o.parallel, .max_queue = (int)o.queue, .max_batch = (int)o.batch,
			  .n_lanes = o.lanes ? (int)o.lanes : cl ? 4 : 1 };
	if (!(s = sched_init(&be, &so, &err)))
		goto done;

	char model_id[256];
	model_id_of(o.mo.model, model_id, sizeof model_id);
	struct stat stt;
	api_server_opts ao = {
		.host = o.host, .port = (int)o.port, .api_key = o.api_key, .model_id = model_id,
		.model_created = stat(o.mo.model, &stt) == 0 ? stt.st_mtime : time(NULL), .n_ctx = n_ctx,
		.chat_render = render_chat, .chat_ctx = &chat,
		.ready = cl ? cluster_ready_cb : NULL, .topology = cl ? topology_json : topology_single,
		.cluster_ctx = cl ? (void *)cl : (void *)&e,
	};
	if (!(srv = api_server_start(&ao, s, be.v, &err)))
		goto done;
	if (cl && cluster_start(cl, api_server_port(srv)))
		goto done;
	const char *shown_host = o.host && o.host[0] ? o.host : "0.0.0.0";
	sh_log_info("serving %s on http://%s%s%s:%d/v1 (%ld slots x %d tokens, %d threads, %s kernels, chat template %s%s)",
		    model_id, strchr(shown_host, ':') ? "[" : "", shown_host, strchr(shown_host, ':') ? "]" : "",
		    api_server_port(srv), o.parallel, n_ctx, cl ? cluster_n_threads(cl) : pool_size(e.p), quant_kernel_name(), chat.source,
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
	cluster_free(cl);
	if (!cl && e.m)
		engine_close(&e);
	if (!rc)
		sh_log_info("stopped");
	return rc;
}
