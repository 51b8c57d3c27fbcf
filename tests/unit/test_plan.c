/*
 * test_plan.c - the cluster plan: memory-weighted ranges, determinism, fit and no-fit boundaries
 * with their messages, degenerate memberships (one node, zero memory, more nodes than layers),
 * 64-bit sizes, and a property test on random memberships checked against a brute-force search
 * of every assignment on small cases. Also the model sizes read from real GGUF files.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/plan.h"
#include "model/model.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */
static void model_uniform(plan_model *pm, int n_layers, uint64_t layer, uint64_t kv, uint64_t first,
			  uint64_t last, uint64_t shared)
{
	memset(pm, 0, sizeof *pm);
	pm->n_layers = n_layers;
	for (int l = 0; l < n_layers; l++)
		pm->layer_bytes[l] = layer;
	pm->kv_bytes = kv;
	pm->first_bytes = first;
	pm->last_bytes = last;
	pm->shared_bytes = shared;
}

/* node with id byte 0 = tag (ids sort by tag) */
static plan_node node(uint8_t tag, uint64_t memory)
{
	plan_node n = { .memory = memory };
	memset(n.id, 0, sizeof n.id);
	n.id[0] = tag;
	n.id[15] = (uint8_t)(tag * 7 + 1);
	return n;
}

static int count(const plan *p, int i) { return p->nodes[i].last - p->nodes[i].first; }

/* the invariants of every successful plan */
static void check_plan(const plan *p, const plan_node *in, int n, const plan_model *pm)
{
	char why[160];
	cr_assert_eq(plan_check(p, why, sizeof why), SH_OK, "%s", why);
	cr_assert_eq(p->n_nodes, n);
	cr_assert_eq(p->n_layers, pm->n_layers);
	cr_assert_str_empty(p->error);
	int used = 0;
	for (int i = 0; i < n; i++) {
		const plan_shard *s = &p->nodes[i];
		int j = 0;
		while (j < n && memcmp(in[j].id, s->id, PLAN_ID_BYTES))
			j++;
		cr_assert_lt(j, n, "plan node %d is not in the membership", i);
		cr_assert_eq(s->memory, in[j].memory);
		if (s->last > s->first) {
			uint64_t b;
			cr_assert(plan_range_bytes(pm, s->first, s->last, &b));
			cr_assert_eq(s->bytes, b);
			cr_assert_leq(s->bytes, s->memory, "node %d: [%d, %d) needs %llu > %llu", i, s->first, s->last,
				      (unsigned long long)s->bytes, (unsigned long long)s->memory);
			used++;
		} else {
			cr_assert_eq(s->bytes, 0);
		}
	}
	cr_assert_eq(used, p->n_used);
	cr_assert_geq(used, 1);
}

/* ---------------------------------------------------------------- proportions */
Test(plan, memory_1_2_1_gives_layers_1_2_1)
{
	plan_model pm;
	/* a Llama-3.2-1B-like shape: tied 260 MB embedding at both ends, 16 layers of 60 MB */
	model_uniform(&pm, 16, 60000000, 2000000, 262000000, 262000000, 100000);
	plan_node n[3] = { node(1, 4000000000ull), node(2, 8000000000ull), node(3, 4000000000ull) };
	plan p;
	cr_assert_eq(plan_compute(n, 3, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 3, &pm);
	cr_assert_eq(count(&p, 0), 4);
	cr_assert_eq(count(&p, 1), 8);
	cr_assert_eq(count(&p, 2), 4);

	/* 1:2:1 in another id order: the 2 is first now */
	plan_node m[3] = { node(9, 4000000000ull), node(1, 8000000000ull), node(5, 4000000000ull) };
	model_uniform(&pm, 30, 1000, 0, 0, 0, 0);
	cr_assert_eq(plan_compute(m, 3, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, m, 3, &pm);
	cr_assert(p.nodes[0].id[0] == 1 && p.nodes[1].id[0] == 5 && p.nodes[2].id[0] == 9);
	cr_assert_eq(count(&p, 0), 15);
	cr_assert(count(&p, 1) >= 7 && count(&p, 1) <= 8 && count(&p, 2) >= 7 && count(&p, 2) <= 8);
}

Test(plan, proportional_on_many_memberships)
{
	/* with memory to spare, each count is within one layer of its exact share */
	sh_rng r;
	sh_rng_seed(&r, 11);
	for (int iter = 0; iter < 300; iter++) {
		int n = 1 + (int)(sh_rng_u64(&r) % 8), L = n + (int)(sh_rng_u64(&r) % 120);
		plan_model pm;
		model_uniform(&pm, L, 1000, 10, 500, 700, 3);
		plan_node nodes[8];
		double total = 0;
		for (int i = 0; i < n; i++) {
			nodes[i] = node((uint8_t)(i * 13 + 1), 1000000 + sh_rng_u64(&r) % 4000000);
			total += (double)nodes[i].memory;
		}
		plan p;
		cr_assert_eq(plan_compute(nodes, n, &pm, &p), SH_OK, "%s", p.error);
		check_plan(&p, nodes, n, &pm);
		cr_assert_eq(p.n_used, n);
		for (int i = 0; i < n; i++) {
			double share = L * (double)p.nodes[i].memory / total;
			cr_assert(count(&p, i) >= 1 && fabs(count(&p, i) - share) <= 1.0 + 1e-9,
				  "iter %d node %d: %d layers for a share of %.2f", iter, i, count(&p, i), share);
		}
	}
}

Test(plan, compute_weight_replaces_memory)
{
	plan_model pm;
	model_uniform(&pm, 12, 100, 0, 0, 0, 0);
	plan_node n[2] = { node(1, 1000000), node(2, 1000000) };
	n[0].weight = 3;
	n[1].weight = 1;
	plan p;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_OK, "%s", p.error);
	cr_assert_eq(count(&p, 0), 9);
	cr_assert_eq(count(&p, 1), 3);
	/* one node without a weight: memory decides for all */
	n[1].weight = 0;
	n[0].memory = 3000000;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_OK, "%s", p.error);
	cr_assert_eq(count(&p, 0), 9);
	/* weights, but memory caps the fast node */
	n[0].memory = 500;
	n[0].weight = 100;
	n[1].weight = 1;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 2, &pm);
	cr_assert_eq(count(&p, 0), 5);
	cr_assert_eq(count(&p, 1), 7);
}

/* ---------------------------------------------------------------- determinism */
Test(plan, same_plan_from_any_order)
{
	sh_rng r;
	sh_rng_seed(&r, 5);
	for (int iter = 0; iter < 100; iter++) {
		int n = 2 + (int)(sh_rng_u64(&r) % 10);
		plan_model pm;
		model_uniform(&pm, 4 + (int)(sh_rng_u64(&r) % 60), 0, 7, 50, 90, 1);
		for (int l = 0; l < pm.n_layers; l++)
			pm.layer_bytes[l] = 100 + sh_rng_u64(&r) % 50;
		plan_node nodes[12];
		for (int i = 0; i < n; i++) {
			nodes[i] = node(0, sh_rng_u64(&r) % 3000);
			for (int b = 0; b < PLAN_ID_BYTES; b++)
				nodes[i].id[b] = (uint8_t)sh_rng_u64(&r);
			if (i == 1)
				nodes[i].memory = nodes[0].memory; /* ties in memory too */
		}
		plan ref, p;
		int e = plan_compute(nodes, n, &pm, &ref);
		for (int k = 0; k < 20; k++) {
			for (int i = n - 1; i > 0; i--) {
				int j = (int)(sh_rng_u64(&r) % (uint64_t)(i + 1));
				plan_node t = nodes[i];
				nodes[i] = nodes[j];
				nodes[j] = t;
			}
			cr_assert_eq(plan_compute(nodes, n, &pm, &p), e);
			cr_assert(plan_equal(&ref, &p), "iter %d: another order gave another plan", iter);
			cr_assert_str_eq(ref.error, p.error);
			for (int i = 1; i < n; i++)
				cr_assert_lt(memcmp(p.nodes[i - 1].id, p.nodes[i].id, PLAN_ID_BYTES), 0);
		}
	}
}

/* ---------------------------------------------------------------- fit boundaries */
/* issue 15's case: tinyllama-1.1b Q4_0 (22 layers of 24.8 MB + an f16 KV of 8.4 MB; embedding
 * 36.9 MB, head 53.8 MB) on 1/3, 2/3 and 1/3 of the file: whole layers fit only with the large
 * node last, the ring of ids entered after it */
Test(plan, the_ring_is_entered_where_it_fits)
{
	plan_model pm;
	model_uniform(&pm, 22, 24800000, 8400000, 36900000, 53800000, 0);
	uint64_t f = 636725856;
	plan_node n[3] = { node(1, f / 3), node(2, 2 * f / 3), node(3, f / 3) };
	plan p;
	cr_assert_eq(plan_compute(n, 3, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 3, &pm);
	cr_assert_eq(p.nodes[2].first, 0, "the ring is entered at node 3: %d", p.nodes[2].first);
	cr_assert_eq(p.nodes[1].last, 22, "the large node holds the head");
	cr_assert_eq(count(&p, 0) + count(&p, 1) + count(&p, 2), 22);
	/* where the smallest id fits, it is the entry: nothing moves for memberships that fit already */
	plan_node m[3] = { node(1, f), node(2, f), node(3, f) };
	cr_assert_eq(plan_compute(m, 3, &pm, &p), SH_OK, "%s", p.error);
	cr_assert_eq(p.nodes[0].first, 0);
}

Test(plan, exact_fit_and_one_byte_short)
{
	plan_model pm;
	model_uniform(&pm, 4, 100, 0, 10, 20, 5);
	plan p;
	/* one node: needs 5 + 400 + 10 + 20 = 435 */
	plan_node one = node(1, 435);
	cr_assert_eq(plan_compute(&one, 1, &pm, &p), SH_OK, "%s", p.error);
	cr_assert_eq(p.needed, 435);
	cr_assert_eq(p.nodes[0].bytes, 435);
	one.memory = 434;
	cr_assert_eq(plan_compute(&one, 1, &pm, &p), SH_ERANGE);
	cr_assert(strstr(p.error, "needs 435 bytes"), "%s", p.error);
	cr_assert(strstr(p.error, "has 434 bytes on 1 node"), "%s", p.error);
	cr_assert_eq(p.n_used, 0);
	cr_assert_eq(p.nodes[0].last, 0);

	/* two nodes, exactly [0,2) = 5+10+200 and [2,4) = 5+200+20 */
	plan_node two[2] = { node(1, 215), node(2, 225) };
	cr_assert_eq(plan_compute(two, 2, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, two, 2, &pm);
	cr_assert(p.nodes[0].last == 2 && p.nodes[0].bytes == 215 && p.nodes[1].bytes == 225);
	/* one byte short on the second: 440 - 1 >= 435 in total, but layers cannot be split */
	two[1].memory = 224;
	cr_assert_eq(plan_compute(two, 2, &pm, &p), SH_ERANGE);
	cr_assert(strstr(p.error, "needs 435 bytes") && strstr(p.error, "has 439 bytes on 2 nodes") &&
		  strstr(p.error, "cannot be split"), "%s", p.error);
	/* with a third node that can take a middle layer, it fits again */
	plan_node three[3] = { two[0], two[1], node(3, 105) };
	three[1].memory = 225 - 100;   /* [3,4) */
	three[2].id[0] = 0;            /* sorts first: must take the embedding, cannot */
	cr_assert_eq(plan_compute(three, 3, &pm, &p), SH_ERANGE, "%s", p.error);
	three[2].id[0] = 1;            /* between the two: [0,2) [2,3) [3,4) */
	three[2].id[1] = 1;
	cr_assert_eq(plan_compute(three, 3, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, three, 3, &pm);
	cr_assert(count(&p, 0) == 2 && count(&p, 1) == 1 && count(&p, 2) == 1);
}

Test(plan, not_fit_message_names_needed_and_available)
{
	plan_model pm;
	model_uniform(&pm, 32, 1ull << 30, 1ull << 20, 1ull << 29, 1ull << 29, 0);
	plan_node n[2] = { node(1, 8ull << 30), node(2, 8ull << 30) };
	plan p;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_ERANGE);
	char want[96];
	snprintf(want, sizeof want, "needs %llu bytes (33.03 GiB)", (unsigned long long)p.needed);
	cr_assert(strstr(p.error, want), "%s / %s", p.error, want);
	cr_assert(strstr(p.error, "the cluster has 17179869184 bytes (16.00 GiB) on 2 nodes"), "%s", p.error);
	cr_assert_eq(p.available, 16ull << 30);
}

/* ---------------------------------------------------------------- degenerate memberships */
Test(plan, one_node_gets_all_layers)
{
	plan_model pm;
	model_uniform(&pm, 22, 12345, 67, 1000, 2000, 5);
	plan_node n = node(4, 1ull << 40);
	plan p;
	cr_assert_eq(plan_compute(&n, 1, &pm, &p), SH_OK);
	check_plan(&p, &n, 1, &pm);
	cr_assert(p.nodes[0].first == 0 && p.nodes[0].last == 22 && p.nodes[0].bytes == p.needed);
	cr_assert_eq(plan_owner(&p, 0), 0);
	cr_assert_eq(plan_owner(&p, 21), 0);
	cr_assert_eq(plan_owner(&p, 22), -1);
}

Test(plan, nodes_without_memory_get_nothing)
{
	plan_model pm;
	model_uniform(&pm, 10, 100, 0, 0, 0, 0);
	plan_node n[4] = { node(1, 0), node(2, 600), node(3, 0), node(4, 600) };
	plan p;
	cr_assert_eq(plan_compute(n, 4, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 4, &pm);
	cr_assert_eq(p.n_used, 2);
	cr_assert(count(&p, 0) == 0 && count(&p, 2) == 0 && count(&p, 1) == 5 && count(&p, 3) == 5);
	cr_assert(p.nodes[0].first == 0 && p.nodes[0].last == 0 && p.nodes[0].bytes == 0);
	/* and a node too small for one layer */
	n[0].memory = 99;
	cr_assert_eq(plan_compute(n, 4, &pm, &p), SH_OK, "%s", p.error);
	cr_assert_eq(count(&p, 0), 0);
	/* nobody has memory */
	plan_node z[2] = { node(1, 0), node(2, 0) };
	cr_assert_eq(plan_compute(z, 2, &pm, &p), SH_ERANGE);
	cr_assert(strstr(p.error, "needs 1000 bytes") && strstr(p.error, "has 0 bytes"), "%s", p.error);
}

Test(plan, more_nodes_than_layers)
{
	plan_model pm;
	model_uniform(&pm, 3, 100, 0, 0, 0, 0);
	plan_node n[6] = { node(1, 1000), node(2, 5000), node(3, 2000), node(4, 900), node(5, 4000), node(6, 3000) };
	plan p;
	cr_assert_eq(plan_compute(n, 6, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 6, &pm);
	cr_assert_eq(p.n_used, 3);
	/* the three largest (5000, 4000, 3000) hold one layer each, in id order */
	cr_assert(count(&p, 1) == 1 && count(&p, 4) == 1 && count(&p, 5) == 1);
	cr_assert(p.nodes[1].first == 0 && p.nodes[4].first == 1 && p.nodes[5].first == 2);
	cr_assert_eq(plan_owner(&p, 1), 4);
}

Test(plan, bad_input)
{
	plan_model pm;
	model_uniform(&pm, 4, 1, 0, 0, 0, 0);
	plan_node n[2] = { node(1, 100), node(1, 100) };
	plan p;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_EINVAL);
	cr_assert(strstr(p.error, "duplicate"), "%s", p.error);
	cr_assert_eq(plan_compute(n, 0, &pm, &p), SH_EINVAL);
	cr_assert_eq(plan_compute(n, PLAN_MAX_NODES + 1, &pm, &p), SH_EINVAL);
	pm.n_layers = 0;
	cr_assert_eq(plan_compute(n, 1, &pm, &p), SH_EINVAL);
	pm.n_layers = PLAN_MAX_LAYERS + 1;
	cr_assert_eq(plan_compute(n, 1, &pm, &p), SH_EINVAL);
}

/* ---------------------------------------------------------------- 64-bit sizes */
Test(plan, big_sizes_do_not_overflow)
{
	plan_model pm;
	plan p;
	/* 16 layers of 2^60: the sum overflows 64 bits */
	model_uniform(&pm, 16, 1ull << 60, 0, 0, 0, 0);
	plan_node n[2] = { node(1, UINT64_MAX), node(2, UINT64_MAX) };
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_ERANGE);
	cr_assert(strstr(p.error, "overflow"), "%s", p.error);
	cr_assert_eq(p.available, UINT64_MAX); /* saturated */
	/* KV pushes one layer over */
	model_uniform(&pm, 2, UINT64_MAX - 5, 10, 0, 0, 0);
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_ERANGE);
	/* 2^62 in total over four nodes of 2^60 + a little: fits, one quarter each */
	model_uniform(&pm, 8, 1ull << 59, 0, 1000, 1000, 0);
	plan_node f[4] = { node(1, (1ull << 60) + 1000), node(2, (1ull << 60) + 1000), node(3, (1ull << 60) + 1000),
			   node(4, (1ull << 60) + 1000) };
	cr_assert_eq(plan_compute(f, 4, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, f, 4, &pm);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(count(&p, i), 2);
	cr_assert_eq(p.needed, (1ull << 62) + 2000);
	/* each one byte short of its own half of a two-node split */
	model_uniform(&pm, 2, 1ull << 63, 0, 0, 0, 0);
	plan_node h[2] = { node(1, 1ull << 63), node(2, (1ull << 63) - 1) };
	cr_assert_eq(plan_compute(h, 2, &pm, &p), SH_ERANGE); /* needs 2^64: overflows */
	model_uniform(&pm, 2, (1ull << 63) - 1, 0, 0, 0, 0);
	cr_assert_eq(plan_compute(h, 2, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, h, 2, &pm);
	cr_assert_eq(p.needed, UINT64_MAX - 1);
}

/* ---------------------------------------------------------------- property test */
/* The largest number of nodes (a subset, kept in the order of the id ring from node start on, each
 * taking >= 1 contiguous layers) that can hold the model; 0 when none. Exhaustive over subsets
 * and splits. */
static int brute_best(const plan *sorted, const plan_model *pm, int n, int start, int node_i, int layer, int used)
{
	if (layer == pm->n_layers)
		return used;
	if (node_i == n)
		return -1;
	int best = brute_best(sorted, pm, n, start, node_i + 1, layer, used); /* skip */
	for (int e = layer + 1; e <= pm->n_layers; e++) {
		uint64_t b;
		if (!plan_range_bytes(pm, layer, e, &b) || b > sorted->nodes[(start + node_i) % n].memory)
			break;
		int r = brute_best(sorted, pm, n, start, node_i + 1, e, used + 1);
		best = SH_MAX(best, r);
	}
	return best;
}

Test(plan, random_memberships_hold_the_invariants)
{
	sh_rng r;
	sh_rng_seed(&r, 2024);
	int ok = 0, fail = 0;
	for (int iter = 0; iter < 4000; iter++) {
		bool small = iter % 2;
		int n = 1 + (int)(sh_rng_u64(&r) % (small ? 5 : 40));
		int L = 1 + (int)(sh_rng_u64(&r) % (small ? 7 : 200));
		plan_model pm;
		model_uniform(&pm, L, 0, sh_rng_u64(&r) % 50, sh_rng_u64(&r) % 500, sh_rng_u64(&r) % 500, sh_rng_u64(&r) % 20);
		for (int l = 0; l < L; l++)
			pm.layer_bytes[l] = 50 + sh_rng_u64(&r) % 200;
		uint64_t need = 0;
		for (int l = 0; l < L; l++)
			need += pm.layer_bytes[l] + pm.kv_bytes;
		plan_node nodes[40];
		for (int i = 0; i < n; i++) {
			nodes[i] = node(0, 0);
			for (int b = 0; b < PLAN_ID_BYTES; b++)
				nodes[i].id[b] = (uint8_t)sh_rng_u64(&r);
			uint64_t x = sh_rng_u64(&r) % 10;
			nodes[i].memory = x == 0 ? 0 : sh_rng_u64(&r) % (2 * need / (uint64_t)n + 800);
			nodes[i].weight = iter % 5 == 0 ? (uint32_t)(1 + sh_rng_u64(&r) % 100) : 0;
		}
		plan p;
		int e = plan_compute(nodes, n, &pm, &p);
		if (e == SH_OK) {
			check_plan(&p, nodes, n, &pm);
			ok++;
		} else {
			cr_assert_eq(e, SH_ERANGE, "iter %d: %d", iter, e);
			cr_assert(strstr(p.error, "does not fit") && strstr(p.error, "needs"), "%s", p.error);
			cr_assert_eq(p.n_used, 0);
			fail++;
		}
		if (small && n <= L) {
			/* brute force over the rotations of the id ring, the first that fits: same verdict, and
			 * as many nodes used */
			int best = 0;
			for (int start = 0; start < n && best <= 0; start++)
				best = brute_best(&p, &pm, n, start, 0, 0, 0);
			cr_assert_eq(e == SH_OK, best > 0, "iter %d: plan %d, brute force %d", iter, e, best);
			if (e == SH_OK)
				cr_assert_eq(p.n_used, best, "iter %d: %d nodes used, %d possible", iter, p.n_used, best);
		}
	}
	cr_assert(ok > 500 && fail > 500, "ok %d, fail %d: the test should see both", ok, fail);
}

/* ---------------------------------------------------------------- plan_check, plan_find */
Test(plan, check_rejects_bad_shapes)
{
	plan_model pm;
	model_uniform(&pm, 6, 10, 0, 0, 0, 0);
	plan_node n[3] = { node(1, 100), node(2, 100), node(3, 100) };
	plan p, q;
	char why[160];
	cr_assert_eq(plan_compute(n, 3, &pm, &p), SH_OK);
	cr_assert_eq(plan_check(&p, why, sizeof why), SH_OK);
	cr_assert_eq(plan_find(&p, n[1].id), 1);
	uint8_t none[PLAN_ID_BYTES] = { 0xff };
	cr_assert_eq(plan_find(&p, none), -1);
	q = p;
	q.nodes[1].first++;
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
	cr_assert(strstr(why, "does not continue"), "%s", why);
	q = p;
	q.nodes[2].last--;
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
	cr_assert(strstr(why, "cover"), "%s", why);
	q = p;
	memcpy(q.nodes[2].id, q.nodes[1].id, PLAN_ID_BYTES);
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
	q = p;
	q.nodes[1].first = q.nodes[1].last = 3;
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
	cr_assert(!plan_equal(&p, &q));
	/* the ring entered at node 2: [0,2) [2,4) on nodes 2 and 3, [4,6) on node 1 */
	q = p;
	q.nodes[1].first = 0, q.nodes[1].last = 2, q.nodes[2].first = 2, q.nodes[2].last = 4;
	q.nodes[0].first = 4, q.nodes[0].last = 6;
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_OK, "%s", why);
	q.nodes[0].first = 5;
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
	q.nodes[0].first = 4, q.nodes[2].first = 3, q.nodes[2].last = 4, q.nodes[1].last = 3;
	q.nodes[0].first = 0, q.nodes[0].last = 0; /* [0,3) [3,4): layers 4..6 held by none */
	cr_assert_eq(plan_check(&q, why, sizeof why), SH_EFORMAT);
}

/* ---------------------------------------------------------------- sizes from GGUF files */
static void check_gguf_sizes(const char *path)
{
	gguf_ctx *g = gguf_open(path, NULL);
	cr_assert(g, "cannot open %s", path);
	plan_model pm;
	cr_assert_eq(plan_model_from_gguf(g, 256, QT_F32, &pm), SH_OK);
	uint32_t layers, kv_heads, heads, dim;
	cr_assert(gguf_get_u32(g, "llama.block_count", &layers) || gguf_get_u32(g, "qwen2.block_count", &layers));
	cr_assert_eq(pm.n_layers, (int)layers);
	uint64_t all = 0, sum = pm.first_bytes + pm.last_bytes + pm.shared_bytes;
	for (uint64_t i = 0; i < g->n_tensors; i++)
		all += g->tensors[i].size;
	for (int l = 0; l < pm.n_layers; l++) {
		cr_assert_gt(pm.layer_bytes[l], 0);
		sum += pm.layer_bytes[l];
	}
	const gguf_tensor *embd = gguf_tensor_find(g, "token_embd.weight");
	bool tied = !gguf_tensor_find(g, "output.weight");
	cr_assert_eq(sum, all + (tied ? embd->size : 0), "%s: sizes add up to %llu, file has %llu", path,
		     (unsigned long long)sum, (unsigned long long)all);
	cr_assert_geq(pm.first_bytes, embd->size);
	/* f32 K and V of 256 tokens */
	const char *a = gguf_tensor_find(g, "blk.0.attn_q.bias") ? "qwen2" : "llama";
	char key[96];
	snprintf(key, sizeof key, "%s.attention.head_count", a);
	cr_assert(gguf_get_u32(g, key, &heads));
	snprintf(key, sizeof key, "%s.attention.head_count_kv", a);
	if (!gguf_get_u32(g, key, &kv_heads))
		kv_heads = heads;
	snprintf(key, sizeof key, "%s.embedding_length", a);
	cr_assert(gguf_get_u32(g, key, &dim));
	cr_assert_eq(pm.kv_bytes, 2ull * 256 * kv_heads * (dim / heads) * 4);
	/* the whole model on one node needs exactly what its shards add up to */
	plan_node n[2] = { node(1, pm.first_bytes + pm.shared_bytes + pm.layer_bytes[0] + pm.kv_bytes),
			   node(2, UINT64_MAX / 2) };
	plan p;
	cr_assert_eq(plan_compute(n, 2, &pm, &p), SH_OK, "%s", p.error);
	check_plan(&p, n, 2, &pm);
	gguf_free(g);
}

Test(plan, sizes_from_gguf_files)
{
	check_gguf_sizes(TEST_STORIES);
	static const char *const made[][2] = { { "test-tiny", "q4_k" }, { "test-tiny-qwen2", "q8_0" },
					       { "test-tiny-llama3", "f16" } };
	for (size_t i = 0; i < SH_ARRAY_LEN(made); i++) {
		char *path = test_synth(made[i][0], made[i][1]);
		check_gguf_sizes(path);
		test_synth_free(path);
	}
}

/* the same on files llama.cpp's own quantizer wrote */
Test(plan, sizes_from_llamacpp_files)
{
	TEST_NEED_REFDATA();
	check_gguf_sizes(test_refdata("llama-Q4_K_M.gguf"));
	check_gguf_sizes(test_refdata("qwen2-Q8_0.gguf"));
	check_gguf_sizes(test_refdata("llama-ropefreqs-f16.gguf"));
}

/* what a shard must hold to serve: its layers, the embedding when first (and last, for a tied head),
 * the output norm and head when last, the shared tensors always; every tensor by some shard of a
 * split, the layer tensors by exactly one */
static void check_shard_needs(const char *preset, bool tied)
{
	char *path = test_synth(preset, "q8_0");
	gguf_ctx *g = gguf_open(path, NULL);
	cr_assert(g);
	model_hparams hp;
	cr_assert_eq(model_hparams_read(g, &hp), SH_OK);
	int n = hp.n_layers, cut = n / 2;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		bool a = plan_shard_needs(g, t, 0, cut, n), b = plan_shard_needs(g, t, cut, n, n);
		int64_t role = plan_tensor_role(t->name);
		const char *name = t->name.ptr;
		cr_assert(a || b, "%.*s is held by no shard", (int)t->name.len, name);
		cr_assert(!plan_shard_needs(g, t, 2, 2, n), "an empty range holds nothing");
		cr_assert(plan_shard_needs(g, t, 0, n, n), "the whole model holds everything");
		if (role >= 0)
			cr_assert(a != b && a == (role < cut), "layer %lld", (long long)role);
		else if (role == PLAN_ROLE_SHARED)
			cr_assert(a && b);
		else if (role == PLAN_ROLE_LAST)
			cr_assert(!a && b);
		else if (gguf_str_eq(t->name, "token_embd.weight"))
			cr_assert(a && b == tied, "the embedding is the last shard's head only when tied");
	}
	gguf_free(g);
	test_synth_free(path);
}

Test(plan, shard_needs)
{
	check_shard_needs("test-tiny", false);
	check_shard_needs("test-tiny-llama3", true);
}
