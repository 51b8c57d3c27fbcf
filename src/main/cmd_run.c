/*
 * cmd_run.c - `shoal run`: a node serving the OpenAI-compatible API, alone or in a cluster.
 *
 * Wiring only: the model served (serving.h: the cluster node, discovery, peers, plan, this node's
 * layer range, alone on its LAN every layer; or, with --no-discovery and no --peers or
 * --node-port, the plain engine; the slot scheduler over it; the model's chat template,
 * --chat-template NAME|FILE overriding it, ChatML for a model without one), held by the model
 * switch (model_switch.h: POST /api/shoal/switch puts another in its place), and the HTTP server.
 * SIGINT/SIGTERM are blocked in every thread and taken here with sigwait, so shutdown runs in
 * order: stop accepting, stop a switch that runs, end the requests in flight (their clients get
 * an error event or a 503), close the connections, free the model served.
 */
#include "main/cmds.h"
#include "main/model_switch.h"
#include "compute/quant.h"
#include "cluster/beacon.h"
#include "hub/hub_jobs.h"

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
			 "require the key on every API request but /health, as 'Authorization: Bearer KEY' or as "
			 "Anthropic's clients send it, 'x-api-key: KEY' (default: $SHOAL_API_KEY; none when unset)"),
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
		OPTS_THREADS(&o->mo), OPTS_CTX(&o->mo), OPTS_CACHE_TYPE(&o->mo),
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
			       "Serves the model over HTTP: the web UI at /, the OpenAI-compatible API at /v1 "
			       "(chat/completions, completions, models; streaming or not), Anthropic's /v1/messages, "
			       "Ollama's /api (chat, generate, tags, show, ps, pull), /health and /metrics (docs/api.md). "
			       "The node finds the other "
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

	serving_opts so = {
		.cluster = !o.cc.no_discovery || o.cc.node_port || o.cc.peers, .mo = o.mo, .peers = o.cc.peers,
		.full_copy = !o.no_full_copy, .parallel = (int)o.parallel, .queue = (int)o.queue, .batch = (int)o.batch,
		.lanes = (int)o.lanes, .chat_template = o.chat_template,
		.co = { .node_port = (int)o.cc.node_port, .discovery = !o.cc.no_discovery, .interface = o.cc.interface,
			.discovery_port = (int)o.cc.discovery_port, .state_dir = o.cc.state_dir,
			.cluster_key = o.cc.cluster_key, .cluster_name = o.cc.cluster_name, .memory_limit = o.memory_limit,
			.n_threads = (int)o.mo.threads, .n_ctx = (int)o.mo.n_ctx, .n_seq = (int)o.parallel,
			.cache_type = model_opts_cache_type(&o.mo),
			.wire_f16 = o.wire_f16, .peer_timeout = o.peer_timeout },
	};
	int err = 0, rc = 1;
	api_server *srv = NULL;
	hub_jobs *pulls = NULL;
	model_switch *ms = model_switch_init(&so, o.mo.model);
	if (!ms)
		return 1;
	serving *sv = model_switch_current(ms);
	hub_opts pull_opts = { .token = o.mo.hub.token, .offline = o.mo.hub.offline }; /* the UI's pulls */
	if (!(pulls = hub_jobs_init(&pull_opts)))
		goto done;
	api_server_opts ao = { .host = o.host, .port = (int)o.port, .api_key = o.api_key, .pulls = pulls,
			       .switcher = model_switch_api(ms) };
	if (!(srv = api_server_start(&ao, &sv->am, &err)) || serving_announce(sv, api_server_port(srv)) ||
	    model_switch_start(ms, srv))
		goto done;
	sh_log_info("serving %s (%ld slots x %d tokens, %d threads, %s kernels, chat template %s%s)", sv->id, o.parallel,
		    sv->am.n_ctx, sv->cl ? cluster_n_threads(sv->cl) : pool_size(sv->e.p), quant_kernel_name(),
		    sv->chat.source, o.api_key && o.api_key[0] ? ", API key required" : "");
	log_urls(o.host, api_server_port(srv));

	int sig = 0;
	sigwait(&sigs, &sig);
	sh_log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_server_quiesce(srv);
	rc = 0;
done:
	model_switch_stop(ms);
	api_server_free(srv);
	hub_jobs_free(pulls);
	model_switch_free(ms);
	if (!rc)
		sh_log_info("stopped");
	return rc;
}
