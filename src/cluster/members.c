/*
 * members.c - the membership table and the sequence table (see members.h). Pure bookkeeping:
 * linear scans over at most MEMBERS_MAX / SEQTAB_MAX entries.
 */
#include "cluster/members.h"

#include <stdio.h>

int members_find(const members *t, const uint8_t id[PLAN_ID_BYTES])
{
	for (int i = 0; i < t->n; i++)
		if (!memcmp(t->m[i].id, id, PLAN_ID_BYTES))
			return i;
	return -1;
}

int members_upsert(members *t, const uint8_t id[PLAN_ID_BYTES], const char *addr, int node_port, int api_port,
		   uint64_t mem_usable, const node_caps *info, const char *host, double now, bool *joined)
{
	int i = members_find(t, id);
	if (i < 0) { /* a restarted node takes over the dead entry of its address */
		for (int k = 0; k < t->n && i < 0; k++)
			if (!t->m[k].alive && t->m[k].node_port == node_port && !strcmp(t->m[k].addr, addr))
				i = k;
		if (i < 0) {
			if (t->n >= MEMBERS_MAX)
				return -1;
			i = t->n++;
		}
		memset(&t->m[i], 0, sizeof t->m[i]);
		memcpy(t->m[i].id, id, PLAN_ID_BYTES);
		t->m[i].rtt_ms = -1;
		t->m[i].rtt_min_ms = -1;
		t->m[i].bw_mbps = -1;
	}
	member *m = &t->m[i];
	if (joined)
		*joined = !m->alive;
	snprintf(m->addr, sizeof m->addr, "%s", addr);
	m->node_port = node_port;
	m->api_port = api_port;
	m->mem_usable = mem_usable;
	if (info)
		m->info = *info;
	snprintf(m->host, sizeof m->host, "%s", host ? host : "");
	m->last_seen = now;
	m->alive = true;
	return i;
}

int members_expire(members *t, double now, double timeout)
{
	int died = 0;
	for (int i = 0; i < t->n; i++)
		if (t->m[i].alive && now - t->m[i].last_seen > timeout) {
			t->m[i].alive = false;
			died++;
		}
	return died;
}

int members_plan_nodes(const members *t, const uint8_t self[PLAN_ID_BYTES], uint64_t self_mem, plan_node *out)
{
	int n = 0;
	if (self_mem) {
		memset(&out[n], 0, sizeof out[n]);
		memcpy(out[n].id, self, PLAN_ID_BYTES);
		out[n++].memory = self_mem;
	}
	for (int i = 0; i < t->n && n < PLAN_MAX_NODES; i++)
		if (t->m[i].alive && t->m[i].mem_usable) {
			memset(&out[n], 0, sizeof out[n]);
			memcpy(out[n].id, t->m[i].id, PLAN_ID_BYTES);
			out[n++].memory = t->m[i].mem_usable;
		}
	return n;
}

/* FNV-1a over one node; the per-node hashes are summed, so order does not matter */
static uint64_t node_hash(const plan_node *p)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = 0; i < PLAN_ID_BYTES; i++)
		h = (h ^ p->id[i]) * 0x100000001b3ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)(p->memory >> (8 * i))) * 0x100000001b3ull;
	h ^= h >> 29;
	return h * 0xbf58476d1ce4e5b9ull;
}

uint32_t members_epoch(const plan_node *nodes, int n)
{
	uint64_t s = (uint64_t)n * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < n; i++)
		s += node_hash(&nodes[i]);
	uint32_t e = (uint32_t)(s ^ (s >> 32));
	return e ? e : 1;
}

/* ---------------------------------------------------------------- sequence table */
seqtab_entry *seqtab_find(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid)
{
	for (int i = 0; i < SEQTAB_MAX; i++)
		if (t->e[i].state && t->e[i].rid == rid && !memcmp(t->e[i].origin, origin, PLAN_ID_BYTES))
			return &t->e[i];
	return NULL;
}

static void entry_free(seqtab *t, seqtab_entry *e, void (*free_fn)(void *))
{
	if (free_fn)
		free_fn(e->state);
	e->state = NULL;
	t->n--;
}

seqtab_entry *seqtab_add(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid, void *state,
			 void (*free_fn)(void *))
{
	SH_ASSERT(state);
	seqtab_entry *e = NULL, *lru = NULL;
	for (int i = 0; i < SEQTAB_MAX && !e; i++) {
		if (!t->e[i].state)
			e = &t->e[i];
		else if (t->e[i].idle && (!lru || t->e[i].used < lru->used))
			lru = &t->e[i];
	}
	if (!e && lru) {
		entry_free(t, lru, free_fn);
		e = lru;
	}
	if (!e)
		return NULL;
	memcpy(e->origin, origin, PLAN_ID_BYTES);
	e->rid = rid;
	e->state = state;
	t->n++;
	seqtab_use(t, e);
	return e;
}

void seqtab_use(seqtab *t, seqtab_entry *e)
{
	e->idle = false;
	e->used = ++t->clock;
}

void seqtab_idle(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid)
{
	seqtab_entry *e = seqtab_find(t, origin, rid);
	if (e)
		e->idle = true;
}

int seqtab_active_origins(const seqtab *t, const uint8_t *skip)
{
	const uint8_t *seen[SEQTAB_MAX];
	int n = 0;
	for (int i = 0; i < SEQTAB_MAX; i++) {
		const seqtab_entry *e = &t->e[i];
		if (!e->state || e->idle || (skip && !memcmp(e->origin, skip, PLAN_ID_BYTES)))
			continue;
		int k = 0;
		while (k < n && memcmp(seen[k], e->origin, PLAN_ID_BYTES))
			k++;
		if (k == n)
			seen[n++] = e->origin;
	}
	return n;
}

int seqtab_active(const seqtab *t)
{
	int n = 0;
	for (int i = 0; i < SEQTAB_MAX; i++)
		n += t->e[i].state && !t->e[i].idle;
	return n;
}

void seqtab_remove(seqtab *t, const uint8_t origin[PLAN_ID_BYTES], uint64_t rid, void (*free_fn)(void *))
{
	seqtab_entry *e = seqtab_find(t, origin, rid);
	if (e)
		entry_free(t, e, free_fn);
}

int seqtab_remove_origin(seqtab *t, const uint8_t *origin, void (*free_fn)(void *))
{
	int n = 0;
	for (int i = 0; i < SEQTAB_MAX; i++)
		if (t->e[i].state && (!origin || !memcmp(t->e[i].origin, origin, PLAN_ID_BYTES))) {
			entry_free(t, &t->e[i], free_fn);
			n++;
		}
	return n;
}
