/*
 * model_switch.c - the switch thread, its state, and the requests that start one (model_switch.h).
 *
 * ms->mu guards the request (asked, by the API or a member's SWITCH), the state the watchers read,
 * and cur. The switch thread is the only one that opens, swaps and frees models; the API's threads
 * and the cluster's I/O thread only take note of a request and wake it.
 */
#include "main/model_switch.h"
#include "hub/hub_ref.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SEC 120.0     /* the new model's header must be here by then (from a peer or the hub) */
#define JOIN_SEC 30.0        /* ... and the nodes it waits for */
#define RANGE_SEC 3.0        /* a plan that cannot fit must say so this long: the nodes are all known by then */
#define STALL_SEC 120.0      /* a switch whose progress stops this long fails */
#define DRAIN_SEC 300.0      /* requests on the old model get this long to finish, then they are ended */
#define POLL_SEC 0.1
#define MSG_CAP 1600         /* a state's message: a model reference or path and some words */

enum { SW_IDLE, SW_RUNNING, SW_DONE, SW_FAILED };

struct model_switch {
	serving_opts o;
	api_switcher api;
	api_server *srv;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* a request, a state change, or stop */
	serving *cur;
	bool stopping;
	/* the request: asked, not yet taken by the thread */
	bool asked;
	char ask_model[API_MAX_MODEL_REF + 1];
	char ask_peer[128];      /* "" when this node asks (the API), else where the asker's node listens */
	int ask_nodes;
	/* the state */
	unsigned version;
	int state;
	char model[API_MAX_MODEL_REF + 1];   /* being switched to, or the last one */
	char message[MSG_CAP];   /* RUNNING: what it does or waits for; DONE: the model's id; FAILED: why */
	json_t *nodes;           /* the new model's nodes and their shares, or NULL */
};

/* under ms->mu */
static void state_set(model_switch *ms, int state, const char *message)
{
	ms->state = state;
	snprintf(ms->message, sizeof ms->message, "%s", message);
	ms->version++;
	pthread_cond_broadcast(&ms->cv);
}

static void state_note(model_switch *ms, int state, const char *message)
{
	pthread_mutex_lock(&ms->mu);
	state_set(ms, state, message);
	pthread_mutex_unlock(&ms->mu);
}

static bool stopping(model_switch *ms)
{
	pthread_mutex_lock(&ms->mu);
	bool s = ms->stopping;
	pthread_mutex_unlock(&ms->mu);
	return s;
}

/* the new model's nodes as the switch shows them: id, host, state, layers, and its share's bytes by
 * source (the topology's model_file) */
static json_t *nodes_progress(serving *sv)
{
	json_t *t = sv->am.topology ? sv->am.topology(sv->am.cluster_ctx) : NULL, *out = json_array(), *n;
	size_t i;
	json_array_foreach(json_object_get(t, "nodes"), i, n) {
		json_t *j = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(n, "id"), "host",
				      json_object_get(n, "host"), "state", json_object_get(n, "state"), "layers",
				      json_object_get(n, "layers"));
		json_t *f = json_object_get(n, "model_file");
		if (j && f)
			json_object_update_new(j, json_pack("{s:O, s:O, s:O, s:O, s:O}", "share", json_object_get(f, "share"),
							    "verified", json_object_get(f, "share_verified"), "from_hub",
							    json_object_get(f, "from_hub"), "from_peers",
							    json_object_get(f, "from_peers"), "rate_bytes_per_s",
							    json_object_get(f, "rate_bytes_per_s")));
		json_array_append_new(out, j);
	}
	json_decref(t);
	return out;
}

/* the id of a node of nodes (nodes_progress) that is dead, or NULL */
static const char *dead_node(json_t *nodes)
{
	size_t i;
	json_t *n;
	json_array_foreach(nodes, i, n)
		if (!strcmp(json_string_value(json_object_get(n, "state")) ?: "", "dead"))
			return json_string_value(json_object_get(n, "id"));
	return NULL;
}

/* waits until the new model can serve here: SH_OK, or an error with why in msg */
static int await_serving(model_switch *ms, serving *nsv, char *msg, size_t cap)
{
	double t0 = sh_time_sec(), t_change = t0, t_range = 0;
	char last[MSG_CAP] = "";
	for (;;) {
		if (stopping(ms)) {
			snprintf(msg, cap, "the node is stopping");
			return SH_EIO;
		}
		char why[MSG_CAP] = "";
		int rc = cluster_serving(nsv->cl, why, sizeof why);
		double now = sh_time_sec();
		t_range = rc == SH_ERANGE ? t_range ? t_range : now : 0;
		/* a plan that fails must hold while the nodes still learn of each other (PEERS) */
		if (rc == SH_OK || (rc == SH_ERANGE && now - t_range >= RANGE_SEC)) {
			snprintf(msg, cap, "%s", why);
			return rc;
		}
		json_t *nodes = nodes_progress(nsv);
		const char *gone = dead_node(nodes);
		if (gone) {
			snprintf(msg, cap, "the node %.8s left the new model's cluster: its switch failed (its log says why)", gone);
			json_decref(nodes);
			return SH_EIO;
		}
		char *dump = json_dumps(nodes, JSON_COMPACT);
		bool joining = strstr(why, " nodes are here") != NULL;
		if (strcmp(why, last) || !dump) {
			t_change = now;
			snprintf(last, sizeof last, "%s", why);
		}
		pthread_mutex_lock(&ms->mu);
		char *had = ms->nodes ? json_dumps(ms->nodes, JSON_COMPACT) : NULL;
		if (!had || !dump || strcmp(had, dump))
			t_change = now;
		json_decref(ms->nodes);
		ms->nodes = nodes;
		state_set(ms, SW_RUNNING, why);
		pthread_mutex_unlock(&ms->mu);
		free(had);
		free(dump);
		if (joining && now - t0 > JOIN_SEC) {
			snprintf(msg, cap, "the cluster did not form in %.0f s: %s (a node that did not come has the reason in its log)",
				 JOIN_SEC, why);
			return SH_EIO;
		}
		if (now - t_change > STALL_SEC) {
			snprintf(msg, cap, "no progress for %.0f s: %s", STALL_SEC, why);
			return SH_EIO;
		}
		usleep((useconds_t)(POLL_SEC * 1e6));
	}
}

/* one switch, to what was asked; the old model is freed only once the new one serves */
static void switch_run(model_switch *ms, const char *model, const char *peer, int nodes)
{
	char err[MSG_CAP] = "", line[MSG_CAP];
	pthread_mutex_lock(&ms->mu);
	serving *old = ms->cur;
	snprintf(ms->model, sizeof ms->model, "%s", model);
	json_decref(ms->nodes);
	ms->nodes = NULL;
	snprintf(line, sizeof line, "opening %s", model);
	state_set(ms, SW_RUNNING, line);
	pthread_mutex_unlock(&ms->mu);
	sh_log_info("switch: from %s to %s%s%s", old->id, model, peer[0] ? ", asked by the node whose node of it is at " : "",
		    peer);
	sh_log_capture(err, sizeof err);
	serving *nsv = NULL;
	int rc;
	if (old->cl) {
		serving_join j = { .peers = peer[0] ? peer : NULL, .node_id = cluster_id(old->cl),
				   .expect_nodes = peer[0] ? nodes : cluster_nodes_offering(old->cl) };
		rc = serving_open(&ms->o, model, &j, &nsv);
		if (!rc && !peer[0]) /* the members switch too, and meet this node's new node */
			cluster_switch_send(old->cl, cluster_node_port(nsv->cl), j.expect_nodes, model);
		for (double t0 = sh_time_sec(); !rc && (rc = cluster_wait_model(nsv->cl, 0.5)) == SH_EAGAIN;) {
			state_note(ms, SW_RUNNING, "the model's header is coming (from a peer or the hub)");
			if (stopping(ms) || sh_time_sec() - t0 > HEADER_SEC) {
				snprintf(err, sizeof err, "the model's header did not come in %.0f s", HEADER_SEC);
				rc = SH_EIO;
			} else {
				rc = SH_OK;
			}
		}
	} else {
		rc = serving_open(&ms->o, model, NULL, &nsv);
	}
	if (!rc)
		rc = serving_load(&ms->o, nsv, 0);
	sh_log_capture(NULL, 0);
	if (!rc && nsv->cl)
		rc = serving_announce(nsv, api_server_port(ms->srv));
	if (!rc && nsv->cl)
		rc = await_serving(ms, nsv, err, sizeof err);
	if (!rc && (rc = api_server_swap(ms->srv, &nsv->am)))
		snprintf(err, sizeof err, "the API cannot take the model (%s)", sh_strerror(rc));
	if (rc) {
		if (!err[0])
			snprintf(err, sizeof err, "%s", sh_strerror(rc));
		sh_log_error("switch: to %s failed: %s; %s serves on", model, err, old->id);
		serving_free(nsv);
		pthread_mutex_lock(&ms->mu);
		state_set(ms, SW_FAILED, err);
		pthread_mutex_unlock(&ms->mu);
		return;
	}
	pthread_mutex_lock(&ms->mu);
	ms->cur = nsv;
	snprintf(line, sizeof line, "releasing %s once its requests have ended", old->id);
	state_set(ms, SW_RUNNING, line);
	pthread_mutex_unlock(&ms->mu);
	sh_log_info("switch: serving %s; releasing %s", nsv->id, old->id);
	for (double t0 = sh_time_sec(); !api_server_retired_wait(ms->srv, 0.5);) {
		bool stop = stopping(ms);
		if (stop || sh_time_sec() - t0 > DRAIN_SEC) { /* its requests end with an error */
			if (!stop)
				sh_log_warn("switch: requests on %s still run after %.0f s: ending them", old->id, DRAIN_SEC);
			sched_stop(old->s);
			api_server_retired_wait(ms->srv, -1);
			break;
		}
	}
	sh_log_info("switch: %s released", old->id);
	serving_free(old);
	state_note(ms, SW_DONE, nsv->id);
}

static void *switch_main(void *arg)
{
	model_switch *ms = arg;
	pthread_mutex_lock(&ms->mu);
	for (;;) {
		while (!ms->asked && !ms->stopping)
			sh_cond_wait_sec(&ms->cv, &ms->mu, 1.0);
		if (ms->stopping)
			break;
		char model[API_MAX_MODEL_REF + 1], peer[128];
		snprintf(model, sizeof model, "%s", ms->ask_model);
		snprintf(peer, sizeof peer, "%s", ms->ask_peer);
		int nodes = ms->ask_nodes;
		pthread_mutex_unlock(&ms->mu);
		switch_run(ms, model, peer, nodes);
		pthread_mutex_lock(&ms->mu);
		ms->asked = false;
	}
	pthread_mutex_unlock(&ms->mu);
	return NULL;
}

/* under ms->mu: a switch asked or running */
static bool busy(const model_switch *ms)
{
	return ms->asked || ms->state == SW_RUNNING;
}

/* a member's SWITCH (the cluster's I/O thread, under its lock): noted, the thread woken */
static void on_switch(void *ctx, const char *model, const char *peer, int nodes)
{
	model_switch *ms = ctx;
	pthread_mutex_lock(&ms->mu);
	if (!ms->srv || ms->stopping) {
		sh_log_warn("switch: a node asks for %s, and this node cannot switch now", model);
	} else if (busy(ms)) {
		if (strcmp(model, ms->model) && strcmp(model, ms->ask_model))
			sh_log_warn("switch: a node asks for %s while this node switches to %s: ignored", model, ms->model);
	} else {
		ms->asked = true;
		snprintf(ms->ask_model, sizeof ms->ask_model, "%s", model);
		snprintf(ms->ask_peer, sizeof ms->ask_peer, "%s", peer);
		ms->ask_nodes = nodes;
		snprintf(ms->model, sizeof ms->model, "%s", model);
		state_set(ms, SW_RUNNING, "asked by a node of the cluster");
	}
	pthread_mutex_unlock(&ms->mu);
}

/* api_switcher.start: this node asks */
static int api_start(void *ctx, const char *model, char *err, size_t cap)
{
	model_switch *ms = ctx;
	struct stat st;
	hub_ref r;
	const char *why = NULL;
	if (stat(model, &st) && hub_ref_parse(model, &r, &why)) {
		snprintf(err, cap, "%s is neither a file of this node nor a model reference: %s (ORG/REPO[:QUANT] or "
			 "ORG/REPO/FILE.gguf)", model, why);
		return SH_EINVAL;
	}
	int rc = SH_OK;
	pthread_mutex_lock(&ms->mu);
	if (!ms->srv || ms->stopping) {
		snprintf(err, cap, "this node is not serving");
		rc = SH_EIO;
	} else if (busy(ms)) {
		if (strcmp(model, ms->model)) {
			snprintf(err, cap, "a switch to %s runs: try again when it has ended", ms->model);
			rc = SH_EAGAIN;
		}
	} else if (!strcmp(model, ms->cur->given) || !strcmp(model, ms->cur->id)) {
		snprintf(ms->model, sizeof ms->model, "%s", model);
		json_decref(ms->nodes);
		ms->nodes = NULL;
		state_set(ms, SW_DONE, ms->cur->id); /* served already */
	} else {
		ms->asked = true;
		snprintf(ms->ask_model, sizeof ms->ask_model, "%s", model);
		ms->ask_peer[0] = 0;
		ms->ask_nodes = 0;
		snprintf(ms->model, sizeof ms->model, "%s", model);
		json_decref(ms->nodes);
		ms->nodes = NULL;
		state_set(ms, SW_RUNNING, "starting");
	}
	pthread_mutex_unlock(&ms->mu);
	return rc;
}

/* api_switcher.state: the state as one NDJSON line */
static json_t *api_state(void *ctx, unsigned seen, double timeout, unsigned *version, bool *over)
{
	model_switch *ms = ctx;
	pthread_mutex_lock(&ms->mu);
	if (ms->version == seen && timeout > 0)
		sh_cond_wait_sec(&ms->cv, &ms->mu, timeout);
	*version = ms->version;
	*over = ms->state != SW_RUNNING;
	json_t *j;
	if (ms->state == SW_DONE)
		j = json_pack("{s:s, s:s}", "status", "success", "model", ms->message);
	else if (ms->state == SW_FAILED)
		j = json_pack("{s:s, s:s}", "error", ms->message, "model", ms->model);
	else if (ms->state == SW_IDLE)
		j = json_pack("{s:s}", "status", "idle");
	else
		j = json_pack("{s:s, s:s, s:s}", "status", "switching", "model", ms->model, "message", ms->message);
	if (j && ms->state == SW_RUNNING && ms->nodes)
		json_object_set_new(j, "nodes", json_deep_copy(ms->nodes));
	pthread_mutex_unlock(&ms->mu);
	return j;
}

model_switch *model_switch_init(const serving_opts *o, const char *model)
{
	model_switch *ms = calloc(1, sizeof *ms);
	if (!ms)
		return NULL;
	ms->o = *o;
	ms->o.co.on_switch = on_switch;
	ms->o.co.switch_ctx = ms;
	ms->api = (api_switcher){ .start = api_start, .state = api_state, .ctx = ms };
	if (pthread_mutex_init(&ms->mu, NULL)) {
		free(ms);
		return NULL;
	}
	sh_cond_init(&ms->cv);
	serving *sv = NULL;
	if (serving_open(&ms->o, model, NULL, &sv) || serving_load(&ms->o, sv, 0)) {
		serving_free(sv);
		model_switch_free(ms);
		return NULL;
	}
	ms->cur = sv;
	return ms;
}

serving *model_switch_current(model_switch *ms) { return ms->cur; }
const api_switcher *model_switch_api(model_switch *ms) { return &ms->api; }

int model_switch_start(model_switch *ms, api_server *srv)
{
	pthread_mutex_lock(&ms->mu);
	ms->srv = srv;
	pthread_mutex_unlock(&ms->mu);
	if (pthread_create(&ms->th, NULL, switch_main, ms))
		return SH_ENOMEM;
	ms->started = true;
	return SH_OK;
}

void model_switch_stop(model_switch *ms)
{
	if (!ms)
		return;
	pthread_mutex_lock(&ms->mu);
	ms->stopping = true;
	pthread_cond_broadcast(&ms->cv);
	pthread_mutex_unlock(&ms->mu);
	if (ms->started)
		pthread_join(ms->th, NULL);
	ms->started = false;
	if (ms->cur)
		sched_stop(ms->cur->s);
}

void model_switch_free(model_switch *ms)
{
	if (!ms)
		return;
	model_switch_stop(ms);
	serving_free(ms->cur);
	json_decref(ms->nodes);
	pthread_cond_destroy(&ms->cv);
	pthread_mutex_destroy(&ms->mu);
	free(ms);
}
