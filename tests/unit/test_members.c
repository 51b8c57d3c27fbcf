/*
 * test_members.c - the membership table (join, refresh, expiry, a restarted node replacing its
 * dead entry), the membership epoch (order-independent, changes with the members or their
 * memory) and the sequence table (per-origin bookkeeping of shard state).
 */
#include <criterion/criterion.h>

#include "cluster/members.h"

static void id_of(uint8_t id[PLAN_ID_BYTES], int k)
{
	memset(id, 0, PLAN_ID_BYTES);
	id[0] = (uint8_t)k;
	id[15] = (uint8_t)(k * 7);
}

Test(members, join_refresh_expire)
{
	static members t;
	memset(&t, 0, sizeof t);
	uint8_t a[PLAN_ID_BYTES], b[PLAN_ID_BYTES];
	id_of(a, 1);
	id_of(b, 2);
	bool joined;
	cr_assert_eq(members_upsert(&t, a, "10.0.0.1", 7000, 8000, 50, NULL, NULL, 1.0, &joined), 0);
	cr_assert(joined);
	cr_assert_eq(members_upsert(&t, b, "10.0.0.2", 7000, 8000, 60, NULL, NULL, 1.0, &joined), 1);
	cr_assert_eq(members_upsert(&t, a, "10.0.0.1", 7000, 8000, 50, NULL, NULL, 1.2, &joined), 0);
	cr_assert(!joined, "a refresh is not a join");
	cr_assert_eq(members_find(&t, b), 1);
	/* b silent since 1.0: dead at 2.6 with a 1.5 s timeout, a (seen at 1.2) still alive */
	cr_assert_eq(members_expire(&t, 2.6, 1.5), 1);
	cr_assert(t.m[0].alive && !t.m[1].alive);
	cr_assert_eq(members_expire(&t, 2.6, 1.5), 0, "dies once");
	/* b restarts on the same address with a new id: it takes the dead entry */
	uint8_t b2[PLAN_ID_BYTES];
	id_of(b2, 3);
	cr_assert_eq(members_upsert(&t, b2, "10.0.0.2", 7000, 8001, 70, NULL, NULL, 3.0, &joined), 1);
	cr_assert(joined);
	cr_assert_eq(t.n, 2);
	cr_assert_eq(members_find(&t, b), -1);
	cr_assert_eq(t.m[1].mem_usable, 70u);
	/* another port of the same host is another node */
	uint8_t c[PLAN_ID_BYTES];
	id_of(c, 4);
	cr_assert_eq(members_upsert(&t, c, "10.0.0.2", 7001, 8002, 70, NULL, NULL, 3.0, NULL), 2);
}

Test(members, plan_nodes_and_epoch)
{
	static members t;
	memset(&t, 0, sizeof t);
	uint8_t self[PLAN_ID_BYTES], a[PLAN_ID_BYTES], b[PLAN_ID_BYTES];
	id_of(self, 9);
	id_of(a, 1);
	id_of(b, 2);
	members_upsert(&t, a, "h", 1, 1, 50, NULL, NULL, 0, NULL);
	members_upsert(&t, b, "h", 2, 2, 60, NULL, NULL, 0, NULL);
	plan_node n[PLAN_MAX_NODES];
	cr_assert_eq(members_plan_nodes(&t, self, 40, n), 3);
	cr_assert(!memcmp(n[0].id, self, PLAN_ID_BYTES) && n[0].memory == 40);
	uint32_t e3 = members_epoch(n, 3);
	cr_assert_neq(e3, 0u);
	/* another order, same epoch (every node lists itself first) */
	plan_node r[3] = { n[2], n[0], n[1] };
	cr_assert_eq(members_epoch(r, 3), e3);
	/* a dead member leaves the plan input and changes the epoch */
	t.m[1].alive = false;
	cr_assert_eq(members_plan_nodes(&t, self, 40, n), 2);
	cr_assert_neq(members_epoch(n, 2), e3);
	/* so does another memory figure */
	t.m[1].alive = true;
	members_plan_nodes(&t, self, 41, n);
	cr_assert_neq(members_epoch(n, 3), e3);
	/* a member that offers no memory (shoal pull copying the file) is no plan input: the epoch stays */
	uint8_t z[PLAN_ID_BYTES];
	id_of(z, 3);
	members_upsert(&t, z, "h", 3, 0, 0, NULL, NULL, 0, NULL);
	cr_assert_eq(members_plan_nodes(&t, self, 40, n), 3);
	cr_assert_eq(members_epoch(n, 3), e3);
	/* nor is this node when it offers none */
	cr_assert_eq(members_plan_nodes(&t, self, 0, n), 2);
	cr_assert(!memcmp(n[0].id, a, PLAN_ID_BYTES) || !memcmp(n[0].id, b, PLAN_ID_BYTES));
}

static int g_freed;
static void count_free(void *p)
{
	(void)p;
	g_freed++;
}

Test(members, seqtab_bookkeeping)
{
	static seqtab t;
	memset(&t, 0, sizeof t);
	uint8_t a[PLAN_ID_BYTES], b[PLAN_ID_BYTES];
	id_of(a, 1);
	id_of(b, 2);
	int dummy;
	cr_assert_not_null(seqtab_add(&t, a, 0, &dummy, count_free));
	cr_assert_not_null(seqtab_add(&t, a, 1, &dummy, count_free));
	cr_assert_not_null(seqtab_add(&t, b, 0, &dummy, count_free));
	cr_assert_eq(t.n, 3);
	cr_assert_not_null(seqtab_find(&t, b, 0));
	cr_assert_null(seqtab_find(&t, b, 1));
	g_freed = 0;
	seqtab_remove(&t, a, 1, count_free);
	seqtab_remove(&t, a, 1, count_free); /* idempotent, as CANCEL is */
	cr_assert_eq(g_freed, 1);
	cr_assert_eq(t.n, 2);
	cr_assert_eq(seqtab_remove_origin(&t, b, count_free), 1, "a dead origin's state goes");
	cr_assert_not_null(seqtab_find(&t, a, 0));
	/* full table */
	for (int i = 0; i < SEQTAB_MAX - 1; i++)
		cr_assert_not_null(seqtab_add(&t, b, (uint64_t)i + 100, &dummy, count_free));
	g_freed = 0;
	cr_assert_null(seqtab_add(&t, b, 5000, &dummy, count_free), "every entry in use: no room");
	cr_assert_eq(seqtab_active(&t), SEQTAB_MAX);
	/* idle entries are kept, and the least recently used one makes room */
	seqtab_idle(&t, b, 100);
	seqtab_idle(&t, b, 101);
	seqtab_use(&t, seqtab_find(&t, b, 100));
	seqtab_idle(&t, b, 100);
	cr_assert_eq(seqtab_active(&t), SEQTAB_MAX - 2);
	cr_assert_eq(seqtab_active_origins(&t, NULL), 2, "a and b are using theirs");
	cr_assert_eq(seqtab_active_origins(&t, a), 1);
	cr_assert_not_null(seqtab_find(&t, b, 101), "idle is kept");
	cr_assert_not_null(seqtab_add(&t, b, 5000, &dummy, count_free));
	cr_assert_eq(g_freed, 1);
	cr_assert_null(seqtab_find(&t, b, 101), "the least recently used idle entry made room");
	cr_assert_not_null(seqtab_find(&t, b, 100));
	cr_assert_eq(t.n, SEQTAB_MAX);
	g_freed = 0;
	cr_assert_eq(seqtab_remove_origin(&t, NULL, count_free), SEQTAB_MAX);
	cr_assert_eq(g_freed, SEQTAB_MAX);
	cr_assert_eq(t.n, 0);
}
