/*
 * serving.h - one model as this node serves it: the cluster node of that model (or, with no
 * cluster, the plain engine), the slot scheduler over it, the model's chat template, and the API's
 * view of them (api_model).
 *
 * cmd_run opens the first; a model switch (model_switch.h) opens the next beside it while the
 * first still serves, hands it to the API, and frees the first once its requests have ended. So
 * everything that belongs to one model lives here, and nothing of it outlives the model.
 *
 * Opening is two steps, so that a switch can tell its peers where the new node listens before it
 * waits for anything: serving_open resolves the model and starts its cluster node (bound, linking,
 * sharing the file), serving_load waits for the model's header and builds the rest.
 */
#ifndef SHOAL_SERVING_H
#define SHOAL_SERVING_H

#include "api/server.h"
#include "cluster/node.h"
#include "engine/engine.h"
#include "main/opts.h"
#include "serve/sched.h"
#include "template/tmpl.h"

typedef struct {
	bool cluster;              /* a cluster node; else the plain engine */
	model_opts mo;             /* threads, context, hub options (the model itself is per open) */
	cluster_opts co;           /* a node's options but its model, peers and identity */
	const char *peers;         /* --peers: those of the first model's node */
	bool full_copy;
	int parallel, queue, batch, lanes;
	const char *chat_template;
} serving_opts;

typedef struct {
	char given[API_MAX_MODEL_REF + 1];  /* the model as given */
	char id[API_MAX_MODEL_REF + 1]; /* what the API calls it: a reference as given, a file's name without .gguf */
	model_opts mo;             /* resolved: mo.model is the file */
	hub_opts hub;              /* a shared model's hub (its source keeps a pointer) */
	char file[HUB_PATH_MAX + 1];  /* a shared model's file name in its repo (the cluster keeps a pointer) */
	char peers[160];           /* a switched-to model's node: where it meets its cluster (kept too) */
	cluster *cl;               /* a cluster node, or */
	engine e;                  /* the plain engine */
	sched *s;
	tmpl_chat chat;
	api_model am;              /* valid after serving_load */
} serving;

/* Where a switched-to model's node meets its cluster: */
typedef struct {
	const char *peers;         /* "HOST:PORT": the asker's node of the model (NULL: the asker) */
	const uint8_t *node_id;    /* this node's id */
	int expect_nodes;          /* nodes to wait for (cluster_serving) */
} serving_join;

/* Resolves model (a file or a reference: a cluster node locates a reference and shares it, the
 * plain engine pulls it) and, in a cluster, starts its node. join NULL: the first model (--peers,
 * the state directory's id). 0 and *out, or an error logged. */
int serving_open(const serving_opts *o, const char *model, const serving_join *join, serving **out);
/* Waits for the model's header (from a peer or the hub; SH_EAGAIN after timeout seconds, <= 0: no
 * limit), then opens the chat template and the scheduler and fills sv->am. 0, or an error logged. */
int serving_load(const serving_opts *o, serving *sv, double timeout);
/* The API's port, announced to the cluster (the node started before the API did). */
int serving_announce(serving *sv, int api_port);
/* Stops the scheduler (requests still running end with an error), frees everything. NULL: no-op. */
void serving_free(serving *sv);

#endif
