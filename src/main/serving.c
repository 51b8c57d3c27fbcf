/*
 * serving.c - one model as this node serves it (serving.h): its cluster node or engine, scheduler,
 * chat template, and the API's view of them: the model's name, its topology and readiness.
 */
#include "main/serving.h"
#include "main/cmds.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* the api's chat renderer: the model's template (tmpl_chat), any thread */
static int render_chat(void *ctx, const json_t *messages, const json_t *tools, char **out, size_t *len, char *err,
		       size_t errlen)
{
	const tmpl_chat *c = ctx;
	return tmpl_render_chat(c->t, messages, tools, true, c->bos, c->eos, NULL, out, len, err, errlen);
}

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
	if (j) /* each node's planned bytes are its layers' weights and KV cache */
		json_object_update_new(json_object_get(j, "plan"), json_pack("{s:{s:s, s:I}}", "kv_cache", "type",
									     kv_type_name(t->cache_type), "bytes_per_layer",
									     (json_int_t)t->kv_bytes));
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
	const kv_cache *kv = e->kv;
	engine_memory mem = engine_memory_of(&e->m->hp, e->m->g->total_size, e->n_ctx, e->n_seq, kv->type, pool_size(e->p));
	return json_pack("{s:[{s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:[i,i], s:s}], s:[], s:{s:i, s:i, s:{s:s, s:I}}}",
			 "nodes", "id", "self", "address", "", "host", host, "memory", "weights", (json_int_t)mem.weights,
			 "kv_cache", (json_int_t)mem.kv, "scratch", (json_int_t)mem.scratch, "planned",
			 (json_int_t)(mem.weights + mem.kv + mem.scratch), "layers", 0, e->m->hp.n_layers, "state", "self",
			 "links", "plan", "epoch", 0, "n_layers", e->m->hp.n_layers, "kv_cache", "type", kv_type_name(kv->type),
			 "bytes_per_layer", (json_int_t)(kv->bytes * 2 * (uint64_t)e->n_seq / (uint64_t)kv->n_layers));
}

int serving_open(const serving_opts *o, const char *model, const serving_join *join, serving **out)
{
	*out = NULL;
	serving *sv = calloc(1, sizeof *sv);
	if (!sv)
		return SH_ENOMEM;
	snprintf(sv->given, sizeof sv->given, "%s", model);
	sv->mo = o->mo;
	sv->mo.model = sv->given;
	int rc;
	if (!o->cluster) {
		if ((rc = model_opts_resolve("run", &sv->mo)) ||
		    (rc = engine_open_seqs(&sv->e, sv->mo.model, (int)sv->mo.threads, (int)sv->mo.n_ctx, o->parallel,
					   model_opts_cache_type(&sv->mo), true)))
			goto fail;
	} else {
		/* a reference is shared with the peers: located, its header fetched, its chunks to come */
		hub_part *part;
		hub_source *src;
		if ((rc = model_share_open("run", &sv->mo, &sv->hub, &part, &src, sv->file, sizeof sv->file)))
			goto fail;
		cluster_opts co = o->co;
		co.model_path = sv->mo.model;
		co.model_name = part ? sv->file : NULL; /* read when the header comes */
		co.part = part;
		co.src = src;
		co.full_copy = o->full_copy;
		if (join && join->peers)
			snprintf(sv->peers, sizeof sv->peers, "%s", join->peers);
		co.peers = !join ? o->peers : sv->peers[0] ? sv->peers : NULL;
		co.node_id = join ? join->node_id : NULL;
		co.expect_nodes = join ? join->expect_nodes : 0;
		if (join) /* the node port of the model served so far is taken: the default, else any */
			co.node_port = 0;
		int err = 0;
		if (!(sv->cl = cluster_init(&co, &err))) {
			rc = err ? err : SH_EIO;
			goto fail;
		}
		if ((rc = cluster_start(sv->cl, 0)))
			goto fail;
	}
	/* a reference is the model's name, as Ollama's are; a file's name without .gguf */
	if (sv->mo.model == sv->mo.path)
		snprintf(sv->id, sizeof sv->id, "%s", sv->given);
	else
		model_id_of(sv->mo.model, sv->id, sizeof sv->id);
	*out = sv;
	return SH_OK;
fail:
	serving_free(sv);
	return rc;
}

int serving_load(const serving_opts *o, serving *sv, double timeout)
{
	int rc;
	const gguf_ctx *g;
	sched_backend be;
	int n_ctx;
	if (sv->cl) {
		/* the header may still have to come from a peer or the hub: the node runs meanwhile */
		if ((rc = cluster_wait_model(sv->cl, timeout)))
			return rc;
		n_ctx = cluster_n_ctx(sv->cl);
		be = (sched_backend){ .ctx = sv->cl, .step = cluster_step, .v = cluster_vocab(sv->cl),
				      .n_vocab = cluster_n_vocab(sv->cl), .n_seq = o->parallel, .n_ctx = n_ctx,
				      .seq_end = cluster_seq_end, .seq_reusable = cluster_seq_reusable,
				      .max_lanes = CLUSTER_MAX_LANES, .lanes_wanted = cluster_lanes_wanted };
		g = cluster_gguf(sv->cl);
	} else {
		be = sched_backend_engine(&sv->e);
		g = sv->e.m->g;
		n_ctx = sv->e.n_ctx;
	}
	char msg[512];
	if ((rc = tmpl_chat_init(&sv->chat, g, o->chat_template, msg, sizeof msg))) {
		sh_log_error("chat template: %s", msg);
		return rc;
	}
	/* a cluster keeps one micro-batch per shard in flight (up to --lanes, default 4): while one
	 * shard computes one, another shard computes the next; alone, one batch holds everything */
	sched_opts so = { .n_slots = o->parallel, .max_queue = o->queue, .max_batch = o->batch,
			  .n_lanes = o->lanes ? o->lanes : sv->cl ? 4 : 1 };
	int err = 0;
	if (!(sv->s = sched_init(&be, &so, &err)))
		return err ? err : SH_ENOMEM;
	model_hparams hp;
	if ((rc = model_hparams_read(g, &hp)))
		return rc;
	struct stat st;
	sv->am = (api_model){ .s = sv->s, .v = be.v, .id = sv->id, .path = sv->mo.model,
			      .created = stat(sv->mo.model, &st) == 0 ? st.st_mtime : time(NULL), .n_ctx = n_ctx,
			      .n_layers = hp.n_layers, .chat_render = render_chat, .chat_ctx = &sv->chat,
			      .tools_family = (int)tmpl_tools_family_of(sv->chat.t),
			      .ready = sv->cl ? cluster_ready_cb : NULL, .topology = sv->cl ? topology_json : topology_single,
			      .cluster_ctx = sv->cl ? (void *)sv->cl : (void *)&sv->e };
	return SH_OK;
}

int serving_announce(serving *sv, int api_port)
{
	return sv->cl ? cluster_start(sv->cl, api_port) : SH_OK;
}

void serving_free(serving *sv)
{
	if (!sv)
		return;
	sched_free(sv->s);
	tmpl_chat_free(&sv->chat);
	cluster_free(sv->cl);
	if (sv->e.m)
		engine_close(&sv->e);
	free(sv);
}
