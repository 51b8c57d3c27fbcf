/*
 * share.h - one model file shared by the nodes of a cluster, so that each byte crosses the
 * internet once (docs/architecture.md "Sharing a model").
 *
 * The file is a hub blob cut into chunks (hub_part.h). Under the membership's plan each node
 * needs the chunks of its own share: the header, its layers' tensors, the embedding when it is
 * first, the head when it is last (plan_shard_needs). A chunk it lacks comes from a live peer that
 * holds it, over the node links (WANT, CHUNK); only a chunk that no peer holds or is fetching
 * comes from the hub, and then only from its *owner*, the first node in plan order whose share
 * has it, so the hub's bytes are split between the nodes and none is fetched twice. Nodes tell
 * each other what they hold and the epoch of the plan they follow (HAVE, on change and every 2 s);
 * a node fetches from the hub only while every live peer follows its own epoch, so all agree on
 * the owners.
 *
 * Nothing is served before it is verified. The hub names the whole file's sha256 only, so as soon
 * as the nodes together hold every chunk, the lowest-id holder of chunk 0 starts one sha256 over
 * the file in chunk order and HASH carries it from holder to holder; the node that hashes the
 * last chunk compares it with the hub's, and on a match sends every member the TABLE of chunk
 * hashes (HMAC-tagged with the cluster key when one is set). Each node then keeps only the
 * chunks the table confirms, and checks every chunk it receives afterwards before keeping it; a
 * peer that sends bad bytes is logged and avoided for a minute, and the chunk is asked elsewhere.
 * A node is ready to serve a layer range when every chunk of it is verified.
 *
 * After that each node copies the rest of the file from its peers in the background (one chunk
 * at a time, only while it computes nothing), unless full_copy is off or the disk has no room;
 * then the part file becomes the whole blob. A node re-planned to other layers gets them the
 * same way: from peers, else from the hub (as their new owner).
 *
 * Threads: the caller's I/O thread calls share_frame and share_tick (which also sends what the
 * share's threads queued, with the caller's send function); a hub thread makes the range
 * requests; a disk thread answers WANTs, writes received chunks and runs the hash. share_fd
 * becomes readable when frames wait to be sent. Lock order: the caller's lock, then the share's.
 */
#ifndef SHOAL_SHARE_H
#define SHOAL_SHARE_H

#include "cluster/keys.h"
#include "cluster/plan.h"
#include "cluster/wire.h"
#include "hub/hub_part.h"

typedef struct share share;

/* sends a frame to node id (the caller's link; never blocks) */
typedef int (*share_send_fn)(void *ctx, const uint8_t id[PLAN_ID_BYTES], const void *frame, size_t len);

typedef struct {
	hub_part *part;          /* the blob (share_init takes it over, even on failure) */
	hub_source *src;         /* the hub (taken over), or NULL: peers only */
	const gguf_ctx *g;       /* the model's header (opened on part->path), or NULL while the part
	                          * holds none: its first chunks come from a peer, else from the hub */
	int n_layers;
	bool full_copy;          /* copy the whole file once this node's share is here */
	bool eager;              /* ... at once, as fast as a share, and under no plan too: a node that
	                          * only copies the file (shoal pull from peers) */
	const keys_cluster *keys;/* NULL: no cluster key (tables are not tagged) */
	const uint8_t *self;     /* this node's id */
	share_send_fn send;
	void *ctx;
} share_opts;

share *share_init(const share_opts *o, int *err);
int share_start(share *s);
/* waits until the part holds the GGUF header (a share made without o.g): SH_OK, SH_EAGAIN after
 * timeout seconds (<= 0: no limit), or SH_EIO when stopping; logs every 10 s while no one has it.
 * Then the caller opens the model and hands it over with share_set_model (before the first plan). */
int share_wait_header(share *s, double timeout);
void share_set_model(share *s, const gguf_ctx *g, int n_layers);
void share_free(share *s);
int share_fd(const share *s);   /* readable: share_tick has frames to send */
/* the file's path now: SHA.part, or the whole blob once it is complete */
void share_path(share *s, char *buf, size_t cap);

/* the membership: a peer that joined (alive) or died; the plan it asks for (rc != 0: none) */
void share_peer(share *s, const uint8_t id[PLAN_ID_BYTES], bool alive);
void share_plan(share *s, const plan *p, int rc, uint32_t epoch);
/* a HAVE, WANT, CHUNK, HASH or TABLE from the live member m->h.sender */
void share_frame(share *s, const wire_msg *m);
/* requests, HAVEs, the joint hash, queued frames; busy: this node computes, background copies wait */
void share_tick(share *s, double now, bool busy, uint32_t epoch);
/* every chunk layers [first, last) need is verified here (first == last: true) */
bool share_ready(share *s, int first, int last);

typedef struct {
	bool known;              /* a HAVE came from it (always for this node) */
	bool table, full_copy, whole;
	uint64_t size;           /* the file's */
	uint64_t need, have;     /* its share's bytes; verified of those */
	uint64_t held;           /* verified bytes of the whole file */
	uint64_t from_hub, from_peers;
	double rate;             /* bytes/s received, recent */
	uint64_t got_from;       /* bytes this node received from it (a peer) */
} share_stat;
/* what this node (id == its own) or a peer holds and how it gets it */
void share_stats(share *s, const uint8_t id[PLAN_ID_BYTES], share_stat *out);

#endif
