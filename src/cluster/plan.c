/*
 * plan.c - the memory-weighted ring partition (see plan.h for the strategy).
 *
 * Steps of plan_compute:
 *   1. validate, copy the nodes and sort them by id (memcmp order);
 *   2. candidates: nodes whose memory holds the smallest single layer (plus what every shard
 *      needs); with more candidates than layers, only the n_layers with the largest shares stay;
 *   3. selection DP: nodes in id order may take a range or be skipped; minimise the skips, then
 *      the squared distance of the boundaries from the ideal ones of all candidates. This finds
 *      the largest set of nodes that can share the model, and "does not fit" when none can;
 *   4. final DP over the selected nodes only, each taking >= 1 layer, ideal boundaries
 *      recomputed from their shares.
 * A DP entry is the best (skips, deviation) covering layers [0, b) with the first i nodes; ranges that
 * do not fit a node are never taken, and because a range's bytes only grow with its end, the
 * inner loop stops at the first end that does not fit. Costs are doubles computed in one fixed
 * order (no FMA contraction in this build), so every node gets bit-identical results; ties go to
 * the smaller boundary.
 */
#include "cluster/plan.h"
#include "model/model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- helpers */
static int id_cmp(const void *a, const void *b)
{
	return memcmp(((const plan_node *)a)->id, ((const plan_node *)b)->id, PLAN_ID_BYTES);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t s;
	return sh_add_ok(a, b, &s) ? s : UINT64_MAX;
}

/* "1234 bytes (1.2 KiB)" into buf */
static const char *fmt_bytes(char *buf, size_t cap, uint64_t v)
{
	static const char *unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double x = (double)v;
	int u = -1;
	while (x >= 1024.0 && u < 5) {
		x /= 1024.0;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%" PRIu64 " bytes", v);
	else
		snprintf(buf, cap, "%" PRIu64 " bytes (%.2f %s)", v, x, unit[u]);
	return buf;
}

/* cost prefix sums: pre[b] = sum of layer_bytes + kv over layers [0, b) */
static bool prefix_init(const plan_model *pm, uint64_t *pre)
{
	pre[0] = 0;
	for (int l = 0; l < pm->n_layers; l++) {
		uint64_t c;
		if (!sh_add_ok(pm->layer_bytes[l], pm->kv_bytes, &c) || !sh_add_ok(pre[l], c, &pre[l + 1]))
			return false;
	}
	return true;
}

static bool range_bytes(const plan_model *pm, const uint64_t *pre, int a, int b, uint64_t *out)
{
	uint64_t s = pre[b] - pre[a];
	return sh_add_ok(s, pm->shared_bytes, &s) && sh_add_ok(s, a == 0 ? pm->first_bytes : 0, &s) &&
	       sh_add_ok(s, b == pm->n_layers ? pm->last_bytes : 0, out);
}

bool plan_range_bytes(const plan_model *pm, int first, int last, uint64_t *out)
{
	uint64_t pre[PLAN_MAX_LAYERS + 1];
	if (pm->n_layers < 1 || pm->n_layers > PLAN_MAX_LAYERS || first < 0 || first >= last ||
	    last > pm->n_layers || !prefix_init(pm, pre))
		return false;
	return range_bytes(pm, pre, first, last, out);
}

/* ---------------------------------------------------------------- the DP */
typedef struct {
	const plan_model *pm;
	const uint64_t *pre;
	int k;                 /* nodes */
	const uint64_t *mem;   /* [k] */
	const double *ideal;   /* [k + 1] ideal boundary after node i-1 (ideal[0] = 0, ideal[k] = L) */
	bool allow_skip;
	/* per entry (i, b), [(k + 1) * (L + 1)]: best (skipped nodes, squared deviation) so far */
	int *skips;            /* -1: unreachable */
	double *dev;
	int *from;             /* previous boundary */
} dp_ctx;

/* relaxes entry e of row `next` with (s, c) coming from boundary b */
static void dp_relax(dp_ctx *d, int row, int e, int s, double c, int b)
{
	int W = d->pm->n_layers + 1, at = row * W + e;
	if (d->skips[at] < 0 || s < d->skips[at] || (s == d->skips[at] && c < d->dev[at])) {
		d->skips[at] = s;
		d->dev[at] = c;
		d->from[at] = b;
	}
}

/* Fills the table; returns the boundaries into bound[0..k] (bound[i+1] = end of node i's range,
 * == bound[i] when skipped). false when layers [0, L) cannot be covered. */
static bool dp_run(dp_ctx *d, int *bound)
{
	const int L = d->pm->n_layers, W = L + 1, k = d->k;
	for (int i = 0; i < (k + 1) * W; i++) {
		d->skips[i] = -1;
		d->dev[i] = 0;
		d->from[i] = -1;
	}
	d->skips[0] = 0;
	for (int i = 0; i < k; i++) {
		/* without skips, node i must leave a layer for each of the k-1-i nodes after it */
		int bmax = d->allow_skip ? L : L - (k - 1 - i);
		for (int b = 0; b <= L; b++) {
			int s = d->skips[i * W + b];
			double c0 = d->dev[i * W + b];
			if (s < 0)
				continue;
			if (d->allow_skip) {
				double dev = (double)b - d->ideal[i + 1];
				dp_relax(d, i + 1, b, s + 1, c0 + (i + 1 < k ? dev * dev : 0.0), b);
			}
			for (int e = b + 1; e <= bmax; e++) {
				uint64_t need;
				if (!range_bytes(d->pm, d->pre, b, e, &need) || need > d->mem[i])
					break; /* bytes only grow with e */
				double dev = (double)e - d->ideal[i + 1];
				dp_relax(d, i + 1, e, s, c0 + (i + 1 < k ? dev * dev : 0.0), b);
			}
		}
	}
	if (d->skips[k * W + L] < 0)
		return false;
	bound[k] = L;
	for (int i = k; i > 0; i--)
		bound[i - 1] = d->from[i * W + bound[i]];
	SH_ASSERT(bound[0] == 0);
	return true;
}

/* ideal boundaries of nodes sel[0..k) from their shares */
static void ideal_init(const plan_node *nodes, const int *sel, int k, bool by_weight, int L, double *ideal)
{
	double total = 0, cum = 0;
	for (int j = 0; j < k; j++)
		total += by_weight ? (double)nodes[sel[j]].weight : (double)nodes[sel[j]].memory;
	ideal[0] = 0;
	for (int j = 0; j < k; j++) {
		cum += by_weight ? (double)nodes[sel[j]].weight : (double)nodes[sel[j]].memory;
		ideal[j + 1] = (double)L * (cum / total);
	}
	ideal[k] = (double)L;
}

/* ---------------------------------------------------------------- plan_compute */
static int plan_fail(plan *out, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int plan_fail(plan *out, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof out->error, fmt, ap);
	va_end(ap);
	for (int i = 0; i < out->n_nodes; i++) {
		out->nodes[i].first = out->nodes[i].last = 0;
		out->nodes[i].bytes = 0;
	}
	out->n_used = 0;
	return err;
}

/* trimming order: larger share first, then smaller id */
static bool trim_before(const plan_node *x, const plan_node *y, bool by_weight)
{
	uint64_t sx = by_weight ? x->weight : x->memory, sy = by_weight ? y->weight : y->memory;
	if (sx != sy)
		return sx > sy;
	return memcmp(x->id, y->id, PLAN_ID_BYTES) < 0;
}

/* keeps the n best of cand[0..k) by trim_before, in their original (id) order */
static void trim(const plan_node *nodes, bool by_weight, int *cand, int k, int n)
{
	bool keep[PLAN_MAX_NODES] = { 0 };
	for (int kept = 0; kept < n; kept++) {
		int best = -1;
		for (int j = 0; j < k; j++)
			if (!keep[j] && (best < 0 || trim_before(&nodes[cand[j]], &nodes[cand[best]], by_weight)))
				best = j;
		keep[best] = true;
	}
	int m = 0;
	for (int j = 0; j < k; j++)
		if (keep[j])
			cand[m++] = cand[j];
}

int plan_compute(const plan_node *in, int n_nodes, const plan_model *pm, plan *out)
{
	memset(out, 0, sizeof *out);
	const int L = pm->n_layers;
	out->n_layers = L;
	if (n_nodes < 1 || n_nodes > PLAN_MAX_NODES)
		return plan_fail(out, SH_EINVAL, "membership of %d nodes (1 to %d supported)", n_nodes, PLAN_MAX_NODES);
	if (L < 1 || L > PLAN_MAX_LAYERS)
		return plan_fail(out, SH_EINVAL, "model of %d layers (1 to %d supported)", L, PLAN_MAX_LAYERS);

	plan_node nodes[PLAN_MAX_NODES];
	memcpy(nodes, in, sizeof(plan_node) * (size_t)n_nodes);
	qsort(nodes, (size_t)n_nodes, sizeof nodes[0], id_cmp);
	out->n_nodes = n_nodes;
	for (int i = 0; i < n_nodes; i++) {
		memcpy(out->nodes[i].id, nodes[i].id, PLAN_ID_BYTES);
		out->nodes[i].memory = nodes[i].memory;
		out->available = sat_add(out->available, nodes[i].memory);
		if (i > 0 && !memcmp(nodes[i].id, nodes[i - 1].id, PLAN_ID_BYTES))
			return plan_fail(out, SH_EINVAL, "duplicate node id in the membership");
	}

	uint64_t pre[PLAN_MAX_LAYERS + 1];
	if (!prefix_init(pm, pre) || !range_bytes(pm, pre, 0, L, &out->needed))
		return plan_fail(out, SH_ERANGE, "the model does not fit: its size overflows 64 bits");
	char nb[64], ab[64], xb[64], head[256];
	uint64_t largest = 0;
	for (int i = 0; i < n_nodes; i++)
		largest = SH_MAX(largest, nodes[i].memory);
	snprintf(head, sizeof head, "the model does not fit the cluster: it needs %s, the cluster has %s on %d node%s",
		 fmt_bytes(nb, sizeof nb, out->needed), fmt_bytes(ab, sizeof ab, out->available), n_nodes,
		 n_nodes == 1 ? "" : "s");
	if (out->needed > out->available)
		return plan_fail(out, SH_ERANGE, "%s", head);

	/* candidates: can hold the cheapest range there is, one layer with its extras */
	uint64_t min_layer = UINT64_MAX, max_layer = 0;
	for (int l = 0; l < L; l++) {
		uint64_t b;
		if (!range_bytes(pm, pre, l, l + 1, &b))
			b = UINT64_MAX;
		min_layer = SH_MIN(min_layer, b);
		max_layer = SH_MAX(max_layer, b);
	}
	int cand[PLAN_MAX_NODES], k = 0;
	bool by_weight = true;
	for (int i = 0; i < n_nodes; i++)
		if (nodes[i].memory >= min_layer) {
			cand[k++] = i;
			by_weight &= nodes[i].weight > 0;
		}
	if (k == 0)
		return plan_fail(out, SH_ERANGE, "%s; no node can hold even one layer (%s)", head,
				 fmt_bytes(xb, sizeof xb, min_layer));
	if (k > L) {
		trim(nodes, by_weight, cand, k, L);
		k = L;
	}

	uint64_t mem[PLAN_MAX_NODES];
	double ideal[PLAN_MAX_NODES + 1];
	int bound[PLAN_MAX_NODES + 1];
	dp_ctx d = { .pm = pm, .pre = pre, .k = k, .mem = mem, .ideal = ideal };
	size_t cells = (size_t)(k + 1) * (size_t)(L + 1);
	d.skips = malloc(sizeof(int) * cells);
	d.dev = malloc(sizeof(double) * cells);
	d.from = malloc(sizeof(int) * cells);
	int err = SH_OK;
	if (!d.skips || !d.dev || !d.from) {
		err = plan_fail(out, SH_ENOMEM, "out of memory");
		goto done;
	}

	/* selection: who takes part, the ranges following the ring of ids from one node on: from the
	 * smallest id, else from the next that fits (the two ends also hold the embedding and the head,
	 * so which nodes are the ends decides whether whole layers fit) */
	int rot[PLAN_MAX_NODES];
	bool fit = false;
	d.allow_skip = true;
	for (int r = 0; r < k && !fit; r++) {
		for (int j = 0; j < k; j++) {
			rot[j] = cand[(j + r) % k];
			mem[j] = nodes[rot[j]].memory;
		}
		ideal_init(nodes, rot, k, by_weight, L, ideal);
		fit = dp_run(&d, bound);
	}
	if (!fit) {
		err = plan_fail(out, SH_ERANGE,
				"%s, but whole layers cannot be split to fit the nodes (one layer with its extras needs "
				"up to %s, the largest node has %s)",
				head, fmt_bytes(xb, sizeof xb, max_layer), fmt_bytes(ab, sizeof ab, largest));
		goto done;
	}
	int sel[PLAN_MAX_NODES], ks = 0;
	for (int j = 0; j < k; j++)
		if (bound[j + 1] > bound[j])
			sel[ks++] = rot[j];

	/* final: the selected nodes, targets from their own shares */
	for (int j = 0; j < ks; j++)
		mem[j] = nodes[sel[j]].memory;
	ideal_init(nodes, sel, ks, by_weight, L, ideal);
	d.k = ks;
	d.allow_skip = false;
	SH_ASSERT(dp_run(&d, bound)); /* the selection's own assignment is one solution */
	for (int j = 0; j < ks; j++) {
		plan_shard *s = &out->nodes[sel[j]];
		s->first = bound[j];
		s->last = bound[j + 1];
		SH_ASSERT(range_bytes(pm, pre, s->first, s->last, &s->bytes) && s->bytes <= s->memory);
	}
	out->n_used = ks;
done:
	free(d.skips);
	free(d.dev);
	free(d.from);
	return err;
}

/* ---------------------------------------------------------------- queries */
int plan_find(const plan *p, const uint8_t id[PLAN_ID_BYTES])
{
	for (int i = 0; i < p->n_nodes; i++)
		if (!memcmp(p->nodes[i].id, id, PLAN_ID_BYTES))
			return i;
	return -1;
}

int plan_owner(const plan *p, int layer)
{
	for (int i = 0; i < p->n_nodes; i++)
		if (layer >= p->nodes[i].first && layer < p->nodes[i].last)
			return i;
	return -1;
}

int plan_check(const plan *p, char *err, size_t cap)
{
#define CHECK_FAIL(...) (snprintf(err, cap, __VA_ARGS__), SH_EFORMAT)
	if (p->n_layers < 1 || p->n_layers > PLAN_MAX_LAYERS)
		return CHECK_FAIL("%d layers (1 to %d)", p->n_layers, PLAN_MAX_LAYERS);
	if (p->n_nodes < 1 || p->n_nodes > PLAN_MAX_NODES)
		return CHECK_FAIL("%d nodes (1 to %d)", p->n_nodes, PLAN_MAX_NODES);
	int held[PLAN_MAX_NODES], m = 0, start = -1;
	for (int i = 0; i < p->n_nodes; i++) {
		const plan_shard *s = &p->nodes[i];
		if (i > 0 && memcmp(p->nodes[i - 1].id, s->id, PLAN_ID_BYTES) >= 0)
			return CHECK_FAIL("node ids not in strictly ascending order at node %d", i);
		if (s->first == s->last) {
			if (s->first != 0)
				return CHECK_FAIL("node %d: an empty range must be [0, 0), not [%d, %d)", i, s->first, s->last);
			continue;
		}
		if (s->first == 0)
			start = m;
		held[m++] = i;
	}
	/* the ranges follow the ring of ids from the node holding layer 0 */
	int next = 0;
	for (int t = 0; start >= 0 && t < m; t++) {
		int i = held[(start + t) % m];
		const plan_shard *s = &p->nodes[i];
		if (s->first != next || s->last < s->first || s->last > p->n_layers)
			return CHECK_FAIL("node %d: range [%d, %d) does not continue at layer %d within %d layers", i,
					  s->first, s->last, next, p->n_layers);
		next = s->last;
	}
	if (next != p->n_layers)
		return CHECK_FAIL("the ranges cover layers [0, %d) of %d", next, p->n_layers);
#undef CHECK_FAIL
	return SH_OK;
}

bool plan_equal(const plan *a, const plan *b)
{
	if (a->n_layers != b->n_layers || a->n_nodes != b->n_nodes)
		return false;
	for (int i = 0; i < a->n_nodes; i++)
		if (memcmp(a->nodes[i].id, b->nodes[i].id, PLAN_ID_BYTES) || a->nodes[i].first != b->nodes[i].first ||
		    a->nodes[i].last != b->nodes[i].last)
			return false;
	return true;
}

/* ---------------------------------------------------------------- sizes from a GGUF */
/* "blk.N." prefix: returns N (>= 0) or -1 */
static int64_t blk_index(gguf_str name)
{
	if (name.len < 6 || memcmp(name.ptr, "blk.", 4))
		return -1;
	int64_t n = 0;
	uint64_t i = 4;
	for (; i < name.len && i < 4 + 9 && name.ptr[i] >= '0' && name.ptr[i] <= '9'; i++)
		n = n * 10 + (name.ptr[i] - '0');
	if (i == 4 || i >= name.len || name.ptr[i] != '.' || (name.ptr[4] == '0' && i > 5))
		return -1;
	return n;
}

int64_t plan_tensor_role(gguf_str name)
{
	int64_t il = blk_index(name);
	if (il >= 0)
		return il;
	if (gguf_str_eq(name, "token_embd.weight") || gguf_str_eq(name, "token_embd_norm.weight"))
		return PLAN_ROLE_FIRST;
	if (gguf_str_eq(name, "output.weight") || gguf_str_eq(name, "output_norm.weight"))
		return PLAN_ROLE_LAST;
	return PLAN_ROLE_SHARED;
}

bool plan_shard_needs(const gguf_ctx *g, const gguf_tensor *t, int first, int last, int n_layers)
{
	if (first >= last)
		return false;
	int64_t role = plan_tensor_role(t->name);
	if (role >= 0)
		return role >= first && role < last;
	if (role == PLAN_ROLE_SHARED)
		return true;
	if (role == PLAN_ROLE_LAST)
		return last == n_layers;
	return first == 0 || (last == n_layers && gguf_str_eq(t->name, "token_embd.weight") &&
			      !gguf_tensor_find(g, "output.weight"));
}

int plan_model_from_gguf(const gguf_ctx *g, uint64_t n_ctx_total, int cache_type, plan_model *pm)
{
	memset(pm, 0, sizeof *pm);
	model_hparams hp;
	int err = model_hparams_read(g, &hp);
	if (err)
		return err;
	if (hp.n_layers > PLAN_MAX_LAYERS) {
		sh_log_error("%s: %d layers; the planner supports up to %d", g->path, hp.n_layers, PLAN_MAX_LAYERS);
		return SH_EUNSUP;
	}
	pm->n_layers = hp.n_layers;
	uint64_t kv = kv_bytes_per_pos(&hp, cache_type);
	if (!kv || !sh_mul_ok(kv, n_ctx_total, &pm->kv_bytes)) {
		sh_log_error("%s: KV cache of %" PRIu64 " tokens overflows", g->path, n_ctx_total);
		return SH_ERANGE;
	}
	const gguf_tensor *embd = NULL;
	bool has_head = false;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		uint64_t *dst;
		int64_t il = plan_tensor_role(t->name);
		if (il >= 0) {
			if (il >= hp.n_layers) {
				sh_log_error("%s: tensor %.*s is beyond the %d layers", g->path,
					     (int)SH_MIN(t->name.len, 96), t->name.ptr, hp.n_layers);
				return SH_EFORMAT;
			}
			dst = &pm->layer_bytes[il];
		} else if (il == PLAN_ROLE_FIRST) {
			if (gguf_str_eq(t->name, "token_embd.weight"))
				embd = t;
			dst = &pm->first_bytes;
		} else if (il == PLAN_ROLE_LAST) {
			has_head |= gguf_str_eq(t->name, "output.weight");
			dst = &pm->last_bytes;
		} else {
			dst = &pm->shared_bytes;
		}
		if (!sh_add_ok(*dst, t->size, dst)) {
			sh_log_error("%s: tensor sizes overflow", g->path);
			return SH_ERANGE;
		}
	}
	if (!has_head && embd && !sh_add_ok(pm->last_bytes, embd->size, &pm->last_bytes)) {
		sh_log_error("%s: tensor sizes overflow", g->path);
		return SH_ERANGE;
	}
	for (int l = 0; l < hp.n_layers; l++)
		if (pm->layer_bytes[l] == 0) {
			sh_log_error("%s: layer %d has no tensors", g->path, l);
			return SH_EFORMAT;
		}
	return SH_OK;
}
