/*
 * cmd_pull.c - `shoal pull REF`: a model into the Hugging Face cache (hub_pull.h), asking the hub for
 * the newest commit even when a copy is cached; prints the model's path.
 *
 * The bytes come from the LAN when they can: the node joins its cluster as a member that offers
 * the plan no memory (it holds no layers, so the others' plan is not moved) and copies the file
 * from the peers that hold it, chunk by chunk, each checked against the chunk table the cluster
 * verified against the hub's sha256 (share.h). The hub answers only the listing. When no peer
 * holds any of it within PEER_WAIT, or the peers that did are gone for PEER_LOST, the file comes
 * from the hub as a plain pull (what the peers gave is not reused then).
 */
#include "cluster/node.h"
#include "main/cmds.h"
#include "main/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_WAIT 1.5    /* seconds for a peer that holds verified chunks (beacons come each second) */
#define HEADER_WAIT 10.0 /* ... then for the header from them */
#define PEER_LOST 5.0    /* no such peer alive this long: the hub */

/* live peers that hold verified chunks of the file (or its table) */
static int peer_sources(const cluster_topo *t)
{
	int n = 0;
	for (int i = 0; i < t->n_nodes; i++)
		n += !strcmp(t->nodes[i].state, "alive") && t->nodes[i].share.known &&
		     (t->nodes[i].share.held || t->nodes[i].share.table);
	return n;
}

/* the file from the peers: SH_OK once it is whole here, SH_EAGAIN when they cannot give it (*held:
 * the verified bytes they gave) */
static int copy_from_peers(cluster *cl, const hub_file *f, const hub_opts *ho, uint64_t *held)
{
	cluster_topo *t = malloc(sizeof *t);
	if (!t)
		return SH_ENOMEM;
	double t0 = sh_time_sec(), seen = 0;
	bool header = false;
	int rc = SH_EAGAIN;
	for (;;) {
		cluster_topology(cl, t);
		double now = sh_time_sec();
		int n = peer_sources(t);
		if (n)
			seen = now;
		if (!seen && now - t0 >= PEER_WAIT)
			break;
		if (seen && now - seen >= PEER_LOST) {
			sh_log_warn("pull %s: the peers that held it are gone; the rest comes from the hub", f->path);
			break;
		}
		if (seen && !header) {
			int e = cluster_wait_model(cl, HEADER_WAIT);
			if (e) {
				if (e == SH_EAGAIN)
					sh_log_warn("pull %s: no peer sent the header within %.0f s", f->path, HEADER_WAIT);
				break;
			}
			header = true;
			continue;
		}
		const share_stat *me = &t->nodes[0].share;
		*held = me->held;
		if (ho->progress && header) {
			char from[32];
			snprintf(from, sizeof from, "%d peer%s", n, n == 1 ? "" : "s");
			hub_progress p = { .file = f->path, .count = 1, .done = me->held, .total = f->size, .rate = me->rate,
					   .finished = me->whole, .source = from };
			ho->progress(ho->user, &p);
		}
		if (me->whole) {
			rc = SH_OK;
			break;
		}
		usleep(100 * 1000);
	}
	free(t);
	return rc;
}

/* the chunked blob's files (hub_part.h) beside blob */
static void part_remove(const char *blob)
{
	static const char *const suffix[] = { ".part", ".chunks" };
	char p[4200];
	for (size_t i = 0; i < SH_ARRAY_LEN(suffix); i++) {
		snprintf(p, sizeof p, "%s%s", blob, suffix[i]);
		unlink(p);
	}
}

/* SH_OK: the file is here (path: its snapshot link); SH_EAGAIN: ask the hub for it (blob: the
 * blob's path, "" when not located) */
static int pull_from_peers(const hub_cache *c, const hub_ref *r, const hub_opts *ho, const cluster_cli *cc, char *path,
			   size_t cap, char *blob, size_t blob_cap)
{
	hub_file f;
	char commit[HUB_COMMIT_MAX + 1];
	int rc = hub_model_locate(c, r, ho, &f, commit, path, cap, blob, blob_cap);
	if (rc)
		return rc == SH_EUNSUP ? SH_EAGAIN : rc; /* a split set: from the hub, whole */
	if (f.complete)
		return SH_OK;
	hub_part *part;
	if ((rc = model_part_open(c, r, &f, commit, blob, &part)))
		return rc;
	const char *base = strrchr(f.path, '/');
	cluster_opts co = { .model_path = part->path, .model_name = base ? base + 1 : f.path, .part = part,
			    .copy_only = true, .discovery = !cc->no_discovery, .interface = cc->interface,
			    .discovery_port = (int)cc->discovery_port, .peers = cc->peers, .node_port = (int)cc->node_port,
			    .state_dir = cc->state_dir, .cluster_key = cc->cluster_key, .cluster_name = cc->cluster_name,
			    .n_threads = 1, .n_seq = 1, .cache_type = KV_TYPE_DEFAULT };
	int e;
	uint64_t held = 0;
	cluster *cl = cluster_init(&co, &e);
	rc = !cl || cluster_start(cl, 0) ? SH_EAGAIN : copy_from_peers(cl, &f, ho, &held);
	cluster_free(cl);
	if (rc == SH_EAGAIN && !held)
		part_remove(blob);
	return rc;
}

int cmd_pull(int argc, char **argv)
{
	hub_cli hub = { 0 };
	cluster_cli cc = { 0 };
	const char *first = NULL;
	const opt table[] = {
		OPTS_ARG("REF", &first, "the model: ORG/REPO[:QUANT], ORG/REPO/FILE.gguf or hf.co/ORG/REPO:QUANT"),
		OPTS_HUB(&hub),
		OPTS_SECTION("peers (the file from the nodes of the LAN that hold it)"),
		OPTS_FLAG("--no-discovery", NULL, &cc.no_discovery,
			  "send and hear no beacons: without --peers, the file comes from the hub"),
		OPTS_CLUSTER(&cc),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "pull", "REF [options]",
			       "Downloads a model into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else "
			       "~/.cache/huggingface/hub), shared with huggingface_hub and llama.cpp. The bytes come from "
			       "the nodes of the LAN that hold the file when there are any (checked against the chunk "
			       "hashes their cluster verified), else from Hugging Face ($HF_ENDPOINT, default "
			       "https://huggingface.co). A dropped or stalled download resumes where it stopped; every "
			       "file's sha256 is checked before it is used. Prints the model's path.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	hub_ref r;
	if (model_ref_arg("pull", first, &r))
		return 1;
	hub_cache c;
	if (hub_cache_init(&c, NULL))
		return 1;
	progress_view v;
	progress_view_init(&v, stderr);
	hub_opts o = { .token = hub.token, .offline = hub.offline, .update = true,
		       .progress = hub.quiet ? NULL : progress_view_show, .user = &v };
	char path[4096], blob[4096] = "";
	rc = SH_EAGAIN;
	if ((!cc.no_discovery || cc.peers) && !o.offline && !hub_offline_env())
		rc = pull_from_peers(&c, &r, &o, &cc, path, sizeof path, blob, sizeof blob);
	if (rc == SH_EAGAIN && !(rc = hub_model(&c, &r, &o, path, sizeof path)) && blob[0])
		part_remove(blob); /* the whole blob is here: what the peers gave goes */
	if (rc)
		return 1;
	printf("%s\n", path);
	return 0;
}
