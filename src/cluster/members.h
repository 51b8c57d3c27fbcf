/*
 * members.h - who is in the cluster, as one node sees it: a pure table (no sockets, no clock of
 * its own; the caller passes `now`), so the bookkeeping is unit-tested.
 *
 * A member is a peer that introduced itself (HELLO or WELCOME) with the same cluster name and the
 * same model; it is alive while something arrives from it at least every `timeout` seconds. A
 * dead member stays listed (topology shows it) until the same address introduces itself with a new
 * id (a restarted node), which replaces it. The plan input is this node plus the live members,
 * and the membership epoch is a hash of that input (sorted ids and memory), so two nodes with the
 * same view compute the same epoch without exchanging anything: a FORWARD whose epoch differs from
 * the receiver's was routed under another plan and is refused.
 *
 * The sequence table: the KV state a shard keeps per (origin node id, request id), created by the
 * first FORWARD of a sequence. When the origin's request ends the entry is either freed (CANCEL) or
 * kept idle (CANCEL KEEP), so the origin's next request in that slot reuses the cached prefix; an
 * idle entry may be dropped at any time (a re-plan, or the least recently used one when the table
 * is full), and everything of an origin goes when it dies.
 */
#ifndef SHOAL_MEMBERS_H
#define SHOAL_MEMBERS_H

#include "cluster/caps.h"
#include "cluster/plan.h"

#define MEMBERS_MAX 64
#define MEMBERS_ADDR 64

typedef struct {
	uint8_t id[PLAN_ID_BYTES];
	char addr[MEMBERS_ADDR];  /* IP the peer's messages come from */
	int node_port, api_port;
	uint64_t mem_usable;      /* what it gives the model (info.mem_total: its RAM) */
	double last_seen;         /* caller's clock, seconds */
	double rtt_ms;            /* last PING round trip; < 0: none yet */
	double rtt_min_ms;        /* the least recent round trip (drifts up 1% a PING); < 0: none yet */
	double bw_mbps;           /* link bandwidth from the last padded PING, Mbit/s; < 0: none yet */
	double tok_rate;          /* tokens per second its layers computed lately (its last PING) */
	double probe_t;           /* when the last padded PING went (caller's clock) */
	uint32_t epoch;           /* the plan epoch the peer acts under (header of its last message) */
	bool alive;
	char host[65];            /* what its HELLO says */
	char model[129];          /* the model identity its HELLO says */
	node_caps info;
} member;

typedef struct {
	member m[MEMBERS_MAX];
	int n;
} members;

/* Adds or refreshes the member with this id (alive, last_seen = now) and what its introduction
 * says (info and host may be NULL: unknown). A dead member at the same address and port with
 * another id is replaced (a restarted node). Returns its index, or -1 when the table is full.
 * *joined tells whether it was not alive before. */
int members_upsert(members *t, const uint8_t id[PLAN_ID_BYTES], const char *addr, int node_port, int api_port,
		   uint64_t mem_usable, const node_caps *info, const char *host, double now, bool *joined);
/* Index of the member with this id, or -1. */
int members_find(const members *t, const uint8_t id[PLAN_ID_BYTES]);
/* Marks members silent for more than timeout seconds dead; returns how many died now. */
int members_expire(members *t, double now, double timeout);

/* The plan input: self first, then live members; returns the count. A node that offers no memory
 * (a pull copying the file) is left out, so its coming and going does not move the plan. */
int members_plan_nodes(const members *t, const uint8_t self[PLAN_ID_BYTES], uint64_t self_mem, plan_node *out);
/* Membership epoch of a plan input (order-independent, never 0). */
uint32_t members_epoch(const plan_node *nodes, int n);

/* ---------------------------------------------------------------- sequence table */
#define SEQTAB_MAX 256

typedef struct {
	uint8_t origin[PLAN_ID_BYTES];
	uint64_t rid;
	void *state;              /* the caller's (a KV cache); NULL: free entry */
	bool idle;                /* its request ended; kept for prefix reuse, may be dropped */
	uint64_t used;            /* table clock of the last use (least recently used goes first) */
} seqtab_entry;

typedef struct {
	seqtab_entry e[SEQTAB_MAX];
	int n;                    /* entries in use */
	uint64_t clock;
} seqtab;

/* The entry of (origin, rid), or NULL. */
seqtab_entry *seqtab_find(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid);
/* Adds (origin, rid) with state (not NULL), in use; when the table is full the least recently
 * used idle entry is freed (free_fn) to make room. NULL if every entry is in use. */
seqtab_entry *seqtab_add(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid, void *state,
			 void (*free_fn)(void *));
/* Marks e in use (a FORWARD reached it). */
void seqtab_use(seqtab *t, seqtab_entry *e);
/* Marks (origin, rid) idle (kept for reuse); unknown: no-op. */
void seqtab_idle(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid);
/* Entries in use (not idle). */
int seqtab_active(const seqtab *t);
/* Distinct origins of the entries in use, other than skip (may be NULL). */
int seqtab_active_origins(const seqtab *t, const uint8_t *skip);
/* Frees one entry (calls free_fn on its state); unknown: no-op. */
void seqtab_remove(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid, void (*free_fn)(void *));
/* Frees every entry of origin (NULL: all); returns how many. */
int seqtab_remove_origin(seqtab *t, const uint8_t *origin, void (*free_fn)(void *));

#endif
