/*
 * plan.h - which node runs which layers: the cluster plan as a pure function of the membership.
 *
 * Every node computes the plan itself from the same inputs (the membership it agrees on and the
 * model's sizes), so the plan is deterministic: nodes are ordered by id, never by arrival, and
 * the arithmetic breaks every tie the same way on every machine.
 *
 * Strategy (memory-weighted ring, as exo does it, plus a fit guarantee):
 *   - each node holds one contiguous range [first, last) of the layers; ranges follow the ring of
 *     ids from one node on: from the smallest id when whole layers fit that way, else from the
 *     next node around the ring that makes them fit (the entry shard holds the token embedding,
 *     the exit shard the output norm and head, so which nodes are the ends matters: three nodes of
 *     1:2:1 memory fit a model only with the large one at an end);
 *   - the ideal boundary after node i is n_layers * (cumulative share of nodes 0..i), where a
 *     node's share is its compute weight when every node has one, else its usable memory; the
 *     plan picks the integer boundaries closest to the ideal ones (least squares) among those
 *     where every range fits its node: weights + KV cache of its layers + the embedding (first)
 *     + the head (last) + what every shard needs;
 *   - a node that gets any layers gets at least one; a node too small for any range it could be
 *     given gets none (as few nodes as possible are left out; with more nodes than layers the
 *     ones with the smallest shares are); if no assignment fits, an error names the bytes needed
 *     and available.
 * The search is a dynamic program over (node, boundary): O(nodes * layers^2), well under a
 * millisecond for real models. Nothing here logs: errors come back as a message in plan.error
 * for the caller to log or show, because a re-plan on a membership change is not a failure of
 * this function.
 */
#ifndef SHOAL_PLAN_H
#define SHOAL_PLAN_H

#include "base/base.h"
#include "gguf/gguf.h"

#define PLAN_ID_BYTES 16
#define PLAN_MAX_NODES 128
#define PLAN_MAX_LAYERS 512

typedef struct {
	uint8_t id[PLAN_ID_BYTES];
	uint64_t memory;          /* bytes this node can give the model (0: holds nothing) */
	uint32_t weight;          /* relative compute speed, any unit; 0: unknown */
} plan_node;

/* What the model needs, in bytes. The KV cache counts per layer held; shared_bytes counts on
 * every node that holds any layer. */
typedef struct {
	int n_layers;
	uint64_t layer_bytes[PLAN_MAX_LAYERS]; /* [n_layers] weights of blk.N.* */
	uint64_t kv_bytes;        /* KV cache of one layer for the planned context (K + V, all slots) */
	uint64_t first_bytes;     /* first shard only: token embedding */
	uint64_t last_bytes;      /* last shard only: output norm + head (a tied head is the embedding again) */
	uint64_t shared_bytes;    /* every shard: small tensors such as rope_freqs, plus runtime overhead */
} plan_model;

typedef struct {
	uint8_t id[PLAN_ID_BYTES];
	uint64_t memory;
	int first, last;          /* layers [first, last); first == last == 0: holds none */
	uint64_t bytes;           /* what the range needs (<= memory); 0 when it holds none */
} plan_shard;

typedef struct {
	int n_layers;
	int n_nodes;                          /* every node of the membership, ascending id */
	plan_shard nodes[PLAN_MAX_NODES];
	int n_used;                           /* nodes holding layers */
	uint64_t needed;                      /* the whole model on one node */
	uint64_t available;                   /* sum of usable memory (saturates at UINT64_MAX) */
	char error[400];                      /* why plan_compute failed ("" on success) */
} plan;

/* Computes the plan of n_nodes nodes (any order) for the model. SH_OK, or SH_EINVAL (bad input:
 * no nodes, too many, duplicate ids, n_layers outside [1, PLAN_MAX_LAYERS]) or SH_ERANGE (the
 * model does not fit), with out->error saying why; out is fully written either way. */
int plan_compute(const plan_node *nodes, int n_nodes, const plan_model *pm, plan *out);

/* Sizes of a model file without loading weights, from its tensor infos: blk.N.* to layer N,
 * token_embd to the first shard, output_norm and output (or token_embd when the head is tied) to
 * the last, anything else to every shard. The KV cache is K and V of n_ctx_total tokens per layer
 * in cache_type (model.h's kv_bytes_per_pos; n_ctx_total: the context of every slot a node serves,
 * added up). Errors are logged
 * ("PATH: what is wrong") and returned: SH_EFORMAT, SH_EUNSUP (too many layers), SH_ERANGE. */
int plan_model_from_gguf(const gguf_ctx *g, uint64_t n_ctx_total, int cache_type, plan_model *pm);

/* Where a tensor belongs, by that rule: its layer N (>= 0) for blk.N.*, else a PLAN_ROLE_*. */
enum { PLAN_ROLE_FIRST = -1, PLAN_ROLE_LAST = -2, PLAN_ROLE_SHARED = -3 };
int64_t plan_tensor_role(gguf_str name);
/* Whether the shard [first, last) of a model of n_layers binds t: its layers' tensors, the
 * embedding when first (and when last, if the head is tied to it), the output norm and head when
 * last, the shared ones always; nothing when first == last. What a node must hold to serve. */
bool plan_shard_needs(const gguf_ctx *g, const gguf_tensor *t, int first, int last, int n_layers);

/* Bytes a range needs on a node: weights + KV of layers [first, last) + extras of the ends +
 * shared. false on overflow or a bad range. */
bool plan_range_bytes(const plan_model *pm, int first, int last, uint64_t *out);

/* Checks a plan's shape (e.g. one received from a peer): 1..PLAN_MAX_LAYERS layers, 1..
 * PLAN_MAX_NODES nodes in strictly ascending id order, non-empty ranges contiguous from layer 0
 * to n_layers in the ring of that order (from the node holding layer 0), empty ones [0, 0). SH_OK, or SH_EFORMAT with err saying why. */
int plan_check(const plan *p, char *err, size_t cap);

/* Index in p->nodes of the node with this id, or -1. */
int plan_find(const plan *p, const uint8_t id[PLAN_ID_BYTES]);
/* Index of the node holding layer, or -1 (layer out of range). The ring's next hop after node i
 * is plan_owner(p, p->nodes[i].last) while that is below n_layers. */
int plan_owner(const plan *p, int layer);
/* Same layer ranges on the same ids (memory figures are not compared). */
bool plan_equal(const plan *a, const plan *b);

#endif
