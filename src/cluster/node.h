/*
 * node.h - this node as a member of a pipeline-parallel cluster: peer links over ZeroMQ,
 * membership, the plan it acts under, the shard of layers it holds, and the pipeline step the
 * slot scheduler drives (docs/architecture.md "Cluster", docs/protocol.md).
 *
 * Threads: an I/O thread polls the one PULL socket every node binds at --node-port (every
 * incoming frame is validated by wire_decode against the model's limits; a bad one is dropped
 * with a rate-limited log line), pings every peer each 250 ms through the PUSH socket it keeps
 * per peer, declares a peer silent for the peer timeout dead, and recomputes the membership plan.
 * A shard worker thread owns the model range and runs every FORWARD that reaches this node (from
 * a peer, or from this node's own scheduler without touching the network); it is also the only
 * thread that (re)loads the layer range, which it does only while no sequence is open anywhere it
 * can see (a request keeps the plan it started under).
 *
 * cluster_step is a sched_backend step: FORWARD of the batch's tokens to the owner of layer 0,
 * hidden states shard to shard, LOGITS of the sampled rows back from the last shard; the entry
 * node samples them with the scheduler's own sampler (so output equals one node's exactly). A
 * node on the path that dies fails the step within the peer timeout.
 */
#ifndef SHOAL_NODE_H
#define SHOAL_NODE_H

#include "cluster/members.h"
#include "cluster/share.h"
#include "cluster/wire.h"
#include "engine/engine.h"
#include "vocab/vocab.h"

typedef struct {
	const char *model_path;
	const char *model_name;      /* the file's name in the model identity; NULL: model_path's */
	int node_port;               /* bound on every interface; 0: CLUSTER_NODE_PORT, else any free port */
	const char *peers;           /* "HOST:PORT,..." or NULL */
	bool discovery;              /* UDP beacons (cluster/beacon.h) find the peers of the LAN */
	const char *interface;       /* NULL: every suitable interface; else beacons only there */
	int discovery_port;          /* UDP; 0: BEACON_PORT */
	const char *state_dir;       /* NULL: $XDG_STATE_HOME/shoal or ~/.local/state/shoal */
	const char *cluster_key;     /* NULL or "": plain TCP */
	const char *cluster_name;    /* NULL: "shoal" */
	uint64_t memory_limit;       /* bytes given to the model; 0: MemAvailable */
	int n_threads;               /* <= 0: all cores */
	int n_ctx;                   /* positions per sequence; <= 0: min(4096, the model's) */
	int n_seq;                   /* sequences (slots) of this node's scheduler, [1, ENGINE_MAX_SEQ] */
	int cache_type;              /* the KV cache's element type: QT_F32, QT_F16 or QT_Q8_0 (model.h) */
	bool wire_f16;               /* hidden states as f16 */
	double peer_timeout;         /* seconds; <= 0: 1.5 */
	/* the model is a hub blob shared with the peers (share.h): model_path is part->path; both are
	 * taken over by cluster_init (even when it fails). NULL: a file of this node's own */
	hub_part *part;
	hub_source *src;             /* NULL: chunks come from peers only */
	bool full_copy;              /* copy the whole file from the peers once the own share is here */
	bool copy_only;              /* offer the plan no memory: hold no layers, copy the whole file from
	                              * the peers at once (shoal pull); implies full_copy */
	/* a model switch (main/model_switch.h) */
	const uint8_t *node_id;      /* the id to take (that of this node's cluster of the model served so
	                              * far: one node, one id); NULL: the state directory's */
	int expect_nodes;            /* cluster_serving waits until this many nodes offering memory (this
	                              * one too) are here; 0: none */
	/* a member asks this node to serve another model (SWITCH): the model as given, "HOST:PORT" where
	 * the asker's node of it listens, the nodes its cluster waits for. On the I/O thread, under the
	 * cluster's lock: take note, call nothing of the cluster. NULL: SWITCH is dropped */
	void (*on_switch)(void *ctx, const char *model, const char *peer, int nodes);
	void *switch_ctx;
} cluster_opts;

#define CLUSTER_MAX_LANES 8    /* cluster_step calls that may run at once (scheduler lanes) */
#define CLUSTER_NODE_PORT 8643 /* the default node port (TCP; the beacons' default UDP port too) */

typedef struct cluster cluster;

/* Opens the model's metadata and vocabulary (a shared file whose header is not here yet: later, see
 * cluster_wait_model), binds the node port. NULL on error (logged). */
cluster *cluster_init(const cluster_opts *o, int *err);
/* Starts the I/O and shard threads; api_port is announced to peers. Once started, announces a new
 * api_port (the HTTP server started after the model arrived). */
int cluster_start(cluster *c, int api_port);
/* Until the model's header is here (from a peer, else the hub) and open: SH_OK at once when it was
 * there at init; SH_EAGAIN after timeout seconds (<= 0: no limit). Needs cluster_start. Then
 * cluster_vocab and the rest can be asked. */
int cluster_wait_model(cluster *c, double timeout);
/* Stops the threads, frees everything. NULL: no-op. */
void cluster_free(cluster *c);

const vocab *cluster_vocab(const cluster *c);
const gguf_ctx *cluster_gguf(const cluster *c);   /* the model's metadata (chat template) */
int cluster_n_vocab(const cluster *c);
int cluster_n_ctx(const cluster *c);
int cluster_n_threads(const cluster *c);     /* of the shard worker's pool */

/* sched_backend hooks: step (ctx is the cluster; up to CLUSTER_MAX_LANES threads at once, each
 * with its own sequences), the end of a sequence's request (the shards keep its state idle when
 * it ended well), and whether a slot's cached prefix is still held under the current plan. */
int cluster_step(void *ctx, const engine_batch *b, float *logits);
void cluster_seq_end(void *ctx, int seq);
bool cluster_seq_reusable(void *ctx, int seq);
/* micro-batches worth keeping in flight: the shards of the plan this node acts under, shared
 * with the other entry nodes whose requests its shard sees running (>= 1) */
int cluster_lanes_wanted(void *ctx);

/* SH_OK when requests can run (or the cluster is still forming), else SH_ERANGE and why (the
 * model does not fit the live nodes: needed vs available bytes). */
int cluster_ready(cluster *c, char *msg, size_t cap);
/* Stricter, for a model switch: SH_OK when a request would run now without waiting (the expected
 * nodes are here, the plan is applied and agreed, every share has arrived), SH_EAGAIN and what it
 * waits for, or SH_ERANGE and why it cannot (the model does not fit the nodes that came). */
int cluster_serving(cluster *c, char *msg, size_t cap);

/* the live nodes offering memory, this one included: those a switched-to model waits for */
int cluster_nodes_offering(cluster *c);
/* Tells every live member to serve model (SWITCH): this node's cluster of it listens at node_port
 * and waits for nodes nodes. */
void cluster_switch_send(cluster *c, int node_port, int nodes, const char *model);
const uint8_t *cluster_id(const cluster *c);
int cluster_node_port(const cluster *c);

/* ---------------------------------------------------------------- topology */
typedef struct {
	char id[2 * PLAN_ID_BYTES + 1];
	char address[MEMBERS_ADDR + 8];   /* ip:node_port ("" unknown) */
	int api_port;
	char host[65];
	node_caps info;                   /* cpu, cores, simd, os, mem_total, mem_available, speeds */
	uint64_t mem_usable;
	int first, last;                  /* layers [first, last); first == last: none */
	uint64_t bytes;                   /* what the plan expects the range to need */
	double tok_rate;                  /* tokens per second its layers computed lately */
	const char *state;                /* "self", "alive", "dead" */
	share_stat share;                 /* the model file: what it holds and where it came from */
} cluster_topo_node;

typedef struct {
	int from, to;                     /* indexes into nodes */
	bool up;
	double rtt_ms;                    /* < 0: unknown */
	double bw_mbps;                   /* < 0: unknown */
} cluster_topo_link;

typedef struct {
	int n_nodes;
	cluster_topo_node nodes[MEMBERS_MAX + 1];
	int n_links;
	cluster_topo_link links[MEMBERS_MAX];
	uint32_t epoch;                   /* of the plan this node acts under (0: none yet) */
	bool pending;                     /* the membership asks for another plan, not applied yet */
	int n_layers;
	int cache_type;                   /* this node's KV cache: its element type, */
	uint64_t kv_bytes;                /* and its bytes per layer held (all slots, the whole context) */
	char error[400];                  /* plan error, "" if none */
	char cluster[WIRE_MAX_NAME + 1];
	char model[WIRE_MAX_MODEL + 1];
	bool discovery;
	bool sharing;                     /* the model file is shared (nodes[].share) */
} cluster_topo;

void cluster_topology(cluster *c, cluster_topo *out);

#endif
