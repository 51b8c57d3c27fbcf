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
#include "cluster/beacon.h"
#include "cluster/node.h"
#include "engine/engine.h"
#include "hub/hub_jobs.h"
#include "model/model.h"
#include "serve/sched.h"
#include "template/tmpl.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	model_opts mo;
	const char *host, *api_key, *chat_template;
	long port, parallel, queue, batch, lanes;
	cluster_cli cc;
	uint64_t memory_limit;
	bool wire_f16, no_full_copy;
	float peer_timeout;
	hub_opts hub;                   /* a shared model's hub (model_share_open) */
} run_opts;

static bool parse_wire(const char *v, void *dst)
{
	if (strcmp(v, "f32") && strcmp(v, "f16")) {
		sh_log_error("run: --wire: '%s' (use f32 or f16)", v);
		return false;
	}
	*(bool *)dst = !strcmp(v, "f16");
	return true;
}

/* 0, OPTS_HELP or an error */
static int run_parse(int argc, char **argv, run_opts *o)
{
	memset(o, 0, sizeof *o);
	o->port = API_DEFAULT_PORT;
	o->parallel = 4;
	o->queue = 64;
	o->batch = ENGINE_BATCH;
	o->peer_timeout = 1.5f;
	o->api_key = getenv("SHOAL_API_KEY");
	const opt table[] = {
		OPTS_MODEL(&o->mo),
		OPTS_SECTION("serving"),
		OPTS_STR("--host", NULL, "HOST", &o->host,
			 "the address the API listens on, e.g. 127.0.0.1 for this machine only (default: every interface, "
			 "IPv6 and IPv4)"),
		OPTS_INT("--port", NULL, "PORT", &o->port, 0, 65535, "the API's TCP port; 0: any free one (logged)"),
		OPTS_STR("--api-key", NULL, "KEY", &o->api_key,
			 "require the header 'Authorization: Bearer KEY' on every API request but /health (default: "
			 "$SHOAL_API_KEY; none when unset)"),
		OPTS_INT("--parallel", "-np", "N", &o->parallel, 1, ENGINE_MAX_SEQ,
			 "requests served at once, each in its own slot with its own KV cache of -c tokens. The next "
			 "tokens of all of them are computed in one forward step, so N streams cost about one read of "
			 "the weights per token, not N; requests beyond N wait in the queue"),
		OPTS_INT("--queue", NULL, "N", &o->queue, 0, 1 << 20,
			 "requests that may wait for a free slot; past that, 503 with Retry-After"),
		OPTS_INT("--batch", NULL, "N", &o->batch, 1, ENGINE_BATCH,
			 "tokens per forward step at most: the next token of every generating slot, then chunks of the "
			 "prompts being read (at least --parallel)"),
		OPTS_CHAT_TEMPLATE(&o->chat_template),
		OPTS_THREADS(&o->mo), OPTS_CTX(&o->mo),
		OPTS_SECTION("cluster (every node is one; alone it holds every layer)"),
		OPTS_FLAG("--no-discovery", NULL, &o->cc.no_discovery,
			  "send and hear no beacons; without --peers or --node-port the node runs alone, with no "
			  "cluster machinery at all"),
		OPTS_CLUSTER(&o->cc),
		OPTS_BYTES("--memory-limit", NULL, "BYTES", &o->memory_limit,
			   "the memory this node offers the plan, e.g. 800M or 4G (default: what /proc/meminfo calls "
			   "available); layers are split between nodes in proportion to it"),
		OPTS_FLOAT("--peer-timeout", NULL, "SECONDS", &o->peer_timeout, 0.1f, 600,
			   "a node silent this long is dropped and the layers are re-planned between requests"),
		OPTS_FN("--wire", NULL, "f32|f16", parse_wire, &o->wire_f16, 0,
			"how hidden states travel between nodes: f32 gives bit for bit what one node gives; f16 halves "
			"the bytes of each hop, for slow links, at the cost of a rounding per hop (default: f32)"),
		OPTS_FLAG("--no-full-copy", NULL, &o->no_full_copy,
			  "keep only this node's share of a model pulled by reference: by default, once its share is "
			  "here, a node copies the rest of the file from its peers in the background, so that a "
			  "re-plan after a failure needs no internet"),
		OPTS_INT("--lanes", NULL, "N", &o->lanes, 1, CLUSTER_MAX_LANES,
			 "this node's micro-batches in the ring at once, at most: while one node computes one batch of "
			 "requests, another computes the next. Used: one per node holding layers, shared among the "
			 "nodes whose requests run (default: 4; a node alone batches everything in one step)"),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "run", "-m MODEL [options]",
			       "Serves the model over HTTP: the OpenAI-compatible API at /v1 (chat/completions, "
			       "completions, models; streaming or not), /health and /metrics. The node finds the other "
			       "nodes of its LAN that serve the same model and splits the model's layers with them in "
			       "proportion to their memory; any node answers any request. Ctrl-C stops it cleanly.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc;
	if (o->batch < o->parallel)
		o->batch = o->parallel;
	if (o->cc.no_discovery && !o->cc.node_port && !o->cc.peers &&
	    (o->cc.cluster_key || o->memory_limit || o->cc.interface || o->cc.discovery_port)) {
		sh_log_error("run: --cluster-key, --memory-limit, --interface and --discovery-port need a cluster: "
			     "drop --no-discovery, or give --peers or --node-port");
		return SH_EINVAL;
	}
	return 0;
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
		json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:{s:I, s:I, s:I, s:I}, s:o, s:s, s:f}", "id", n->id, "address",
				      n->address, "api", n->api_port, "host", n->host, "memory", "total",
				      (json_int_t)nc->mem_total, "available", (json_int_t)nc->mem_available, "usable",
				      (json_int_t)n->mem_usable, "planned", (json_int_t)n->bytes, "layers", layers, "state",
				      n->state, "tokens_per_s", n->tok_rate);
		if (j && nc->cpu[0])
			json_object_update_new(j, json_pack("{s:s, s:i, s:s, s:s, s:f, s:f}", "cpu", nc->cpu, "cores",
							    nc->cores, "simd", nc->simd, "os", nc->os, "mem_bandwidth_gbs",
							    nc->mem_bw_gbs, "matmul_gflops", nc->matmul_gflops));
		const share_stat *sh = &n->share;
		if (j && t->sharing && sh->known) /* the model file: bytes of its share, of the file, and their sources */
			json_object_set_new(j, "model_file",
					    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:b, s:b, s:b, s:I}", "size",
						      (json_int_t)sh->size, "share", (json_int_t)sh->need, "share_verified",
						      (json_int_t)sh->have, "verified", (json_int_t)sh->held, "from_hub",
						      (json_int_t)sh->from_hub, "from_peers", (json_int_t)sh->from_peers,
						      "rate_bytes_per_s", sh->rate, "table", sh->table, "whole", sh->whole,
						      "full_copy", sh->full_copy, "to_this_node", (json_int_t)sh->got_from));
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

/* one node alone: the whole model here (the server adds its tokens_per_s) */
static json_t *topology_single(void *ctx)
{
	engine *e = ctx;
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	return json_pack("{s:[{s:s, s:s, s:s, s:n, s:[i,i], s:s}], s:[], s:{s:i, s:i}}", "nodes", "id", "self", "address",
			 "", "host", host, "memory", "layers", 0, e->m->hp.n_layers, "state", "self", "links", "plan", "epoch",
			 0, "n_layers", e->m->hp.n_layers);
}

/* ---------------------------------------------------------------- where to go */
/* the URLs a browser or client can use: this machine's, then each LAN address's (all of them when
 * the server listens on every interface; the one given with --host otherwise); not those of
 * loopback, link-local addresses or the bridges that lead only to local containers and VMs */
static void log_urls(const char *host, int port)
{
	bool any = !host || !host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
	if (!any) {
		bool v6 = strchr(host, ':') != NULL;
		sh_log_info("open http://%s%s%s:%d/ - the OpenAI API is at http://%s%s%s:%d/v1", v6 ? "[" : "", host,
			    v6 ? "]" : "", port, v6 ? "[" : "", host, v6 ? "]" : "", port);
		return;
	}
	sh_log_info("open http://localhost:%d/ - the OpenAI API is at http://localhost:%d/v1", port, port);
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs))
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK) || beacon_iface_excluded(i->ifa_name)) /* docker0 & co. */
			continue;
		uint32_t a = ntohl(((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		if ((a >> 16) == 0xA9FE) /* 169.254/16: link-local, not where a person goes */
			continue;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((const struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof ip);
		sh_log_info("  on the LAN (%s): http://%s:%d/ - API http://%s:%d/v1", i->ifa_name, ip, port, ip, port);
	}
	freeifaddrs(ifs);
}

/* ---------------------------------------------------------------- run */
int cmd_run(int argc, char **argv)
{
	run_opts o;
	int prc = run_parse(argc, argv, &o);
	if (prc)
		return prc == OPTS_HELP ? 0 : 1;

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
	hub_jobs *pulls = NULL;
	tmpl_chat chat = { 0 };
	char msg[512];
	sched_backend be;
	const gguf_ctx *g;
	int n_ctx;
	if (!o.cc.no_discovery || o.cc.node_port || o.cc.peers) {
		/* a reference is shared with the peers: located, its header fetched, its chunks to come */
		hub_part *part;
		hub_source *src;
		char name[HUB_PATH_MAX + 1];
		if (model_share_open("run", &o.mo, &o.hub, &part, &src, name, sizeof name))
			return 1;
		cluster_opts co = { .model_path = o.mo.model, .model_name = part ? name : NULL, .part = part, .src = src,
				    .full_copy = !o.no_full_copy, .node_port = (int)o.cc.node_port, .peers = o.cc.peers,
				    .discovery = !o.cc.no_discovery, .interface = o.cc.interface,
				    .discovery_port = (int)o.cc.discovery_port, .state_dir = o.cc.state_dir,
				    .cluster_key = o.cc.cluster_key, .cluster_name = o.cc.cluster_name,
				    .memory_limit = o.memory_limit, .n_threads = (int)o.mo.threads, .n_ctx = (int)o.mo.n_ctx,
				    .n_seq = (int)o.parallel, .wire_f16 = o.wire_f16, .peer_timeout = o.peer_timeout };
		if (!(cl = cluster_init(&co, &err)))
			return 1;
		/* the header may still have to come from a peer or the hub: the node runs meanwhile */
		if (cluster_start(cl, 0) || cluster_wait_model(cl, 0)) {
			cluster_free(cl);
			return 1;
		}
		n_ctx = cluster_n_ctx(cl);
		be = (sched_backend){ .ctx = cl, .step = cluster_step, .v = cluster_vocab(cl), .n_vocab = cluster_n_vocab(cl),
				      .n_seq = (int)o.parallel, .n_ctx = n_ctx, .seq_end = cluster_seq_end,
				      .seq_reusable = cluster_seq_reusable, .max_lanes = CLUSTER_MAX_LANES,
				      .lanes_wanted = cluster_lanes_wanted };
		g = cluster_gguf(cl);
	} else {
		if (model_opts_resolve("run", &o.mo))
			return 1;
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

	char model_id[256]; /* a reference is the model's name, as Ollama's are; a file's name without .gguf */
	if (o.mo.model == o.mo.path)
		snprintf(model_id, sizeof model_id, "%s", o.mo.given);
	else
		model_id_of(o.mo.model, model_id, sizeof model_id);
	struct stat stt;
	model_hparams hp;
	if (model_hparams_read(g, &hp))
		goto done;
	hub_opts pull_opts = { .token = o.mo.hub.token, .offline = o.mo.hub.offline }; /* the UI's pulls */
	if (!(pulls = hub_jobs_init(&pull_opts)))
		goto done;
	api_server_opts ao = {
		.host = o.host, .port = (int)o.port, .api_key = o.api_key, .model_id = model_id,
		.model_created = stat(o.mo.model, &stt) == 0 ? stt.st_mtime : time(NULL), .n_ctx = n_ctx,
		.chat_render = render_chat, .chat_ctx = &chat,
		.ready = cl ? cluster_ready_cb : NULL, .topology = cl ? topology_json : topology_single,
		.cluster_ctx = cl ? (void *)cl : (void *)&e, .n_layers = hp.n_layers, .pulls = pulls,
	};
	if (!(srv = api_server_start(&ao, s, be.v, &err)))
		goto done;
	if (cl && cluster_start(cl, api_server_port(srv)))
		goto done;
	sh_log_info("serving %s (%ld slots x %d tokens, %d threads, %s kernels, chat template %s%s)", model_id, o.parallel,
		    n_ctx, cl ? cluster_n_threads(cl) : pool_size(e.p), quant_kernel_name(), chat.source,
		    o.api_key && o.api_key[0] ? ", API key required" : "");
	log_urls(o.host, api_server_port(srv));

	int sig = 0;
	sigwait(&sigs, &sig);
	sh_log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_server_quiesce(srv);
	sched_stop(s);
	rc = 0;
done:
	api_server_free(srv);
	hub_jobs_free(pulls);
	sched_free(s);
	tmpl_chat_free(&chat);
	cluster_free(cl);
	if (!cl && e.m)
		engine_close(&e);
	if (!rc)
		sh_log_info("stopped");
	return rc;
}
