/*
 * test_pool.c - the fork-join pool: every share of a step runs exactly once, steps do not
 * overlap, the other threads take the shares of a stalled one, the split covers a range exactly,
 * and idle workers sleep instead of spinning.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/pool.h"

typedef struct {
	_Atomic int calls[64];
	_Atomic int in_step;
	_Atomic int overlap;
	int step;
	_Atomic int cur;
	int *cells; /* [1000] */
} pool_probe;

static void probe_task(void *arg, int ith, int nth)
{
	pool_probe *p = arg;
	if (atomic_fetch_add(&p->in_step, 1) >= nth || p->step != atomic_load(&p->cur))
		atomic_store(&p->overlap, 1);
	atomic_fetch_add(&p->calls[ith], 1);
	int lo, hi;
	pool_split(1000, ith, nth, &lo, &hi);
	for (int i = lo; i < hi; i++)
		p->cells[i] += p->step;
	atomic_fetch_sub(&p->in_step, 1);
}

Test(pool, every_share_each_step)
{
	for (int nth = 1; nth <= 4; nth++) {
		pool *pl = pool_init(nth);
		cr_assert(pl);
		cr_assert_eq(pool_size(pl), nth);
		int shares = pool_shares(pl);
		cr_assert_eq(shares, nth == 1 ? 1 : nth * POOL_SHARES_PER_THREAD);
		pool_probe p = { .cells = calloc(1000, sizeof(int)) };
		int sum = 0;
		for (int s = 1; s <= 2000; s++) {
			p.step = s;
			atomic_store(&p.cur, s);
			sum += s;
			pool_run(pl, probe_task, &p);
		}
		for (int i = 0; i < shares; i++)
			cr_assert_eq(atomic_load(&p.calls[i]), 2000, "share %d of %d", i, shares);
		for (int i = 0; i < 1000; i++)
			cr_assert_eq(p.cells[i], sum, "cell %d", i);
		cr_assert_eq(atomic_load(&p.overlap), 0);
		free(p.cells);
		pool_free(pl);
	}
	pool_free(NULL);
}

typedef struct {
	_Atomic int finished;
	_Atomic int timed_out;
} stall_probe;

/* share 0 waits until every other share has finished: only other threads can run them */
static void stall_task(void *arg, int ith, int nth)
{
	stall_probe *p = arg;
	if (ith == 0) {
		double t0 = sh_time_sec();
		while (atomic_load(&p->finished) < nth - 1)
			if (sh_time_sec() - t0 > 10) {
				atomic_store(&p->timed_out, 1);
				break;
			}
		return;
	}
	atomic_fetch_add(&p->finished, 1);
}

/* a thread held up in one share (descheduled by the OS, say) holds up only that share */
Test(pool, stalled_thread_holds_one_share)
{
	for (int nth = 2; nth <= 3; nth++) {
		pool *pl = pool_init(nth);
		for (int r = 0; r < 20; r++) {
			stall_probe p = { 0 };
			pool_run(pl, stall_task, &p);
			cr_assert_eq(atomic_load(&p.timed_out), 0, "%d threads: the other shares waited for the stalled one", nth);
			cr_assert_eq(atomic_load(&p.finished), pool_shares(pl) - 1);
		}
		pool_free(pl);
	}
}

Test(pool, split_covers_range)
{
	for (int n = 0; n < 50; n++)
		for (int nth = 1; nth < 9; nth++) {
			int next = 0;
			for (int i = 0; i < nth; i++) {
				int lo, hi;
				pool_split(n, i, nth, &lo, &hi);
				cr_assert_eq(lo, next);
				cr_assert(hi >= lo && hi - lo <= n / nth + 1);
				next = hi;
			}
			cr_assert_eq(next, n);
		}
}

static void noop_task(void *arg, int ith, int nth) { (void)arg; (void)ith; (void)nth; }

/* after a step, idle workers must block: the process's CPU time over 300 ms of idling stays
 * far below the wall time a spinning worker would burn */
Test(pool, idle_workers_sleep)
{
	pool *pl = pool_init(3);
	pool_run(pl, noop_task, NULL);
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	usleep(300000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	double cpu = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
	cr_expect_lt(cpu, 0.05, "idle pool used %.3f s of CPU in 0.3 s", cpu);
	pool_free(pl);
}
