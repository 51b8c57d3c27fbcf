/*
 * test_pool.c - the fork-join pool: every thread runs each step exactly once, steps do not
 * overlap, the split covers a range exactly, and idle workers sleep instead of spinning.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/pool.h"

typedef struct {
	_Atomic int calls[8];
	_Atomic int in_step;
	_Atomic int overlap;
	int step;
	int *cells; /* [1000] */
} pool_probe;

static void probe_task(void *arg, int ith, int nth)
{
	pool_probe *p = arg;
	if (atomic_fetch_add(&p->in_step, 1) >= nth)
		atomic_store(&p->overlap, 1);
	atomic_fetch_add(&p->calls[ith], 1);
	int lo, hi;
	pool_split(1000, ith, nth, &lo, &hi);
	for (int i = lo; i < hi; i++)
		p->cells[i] += p->step;
	atomic_fetch_sub(&p->in_step, 1);
}

Test(pool, every_thread_each_step)
{
	for (int nth = 1; nth <= 4; nth++) {
		pool *pl = pool_init(nth);
		cr_assert(pl);
		cr_assert_eq(pool_size(pl), nth);
		pool_probe p = { .cells = calloc(1000, sizeof(int)) };
		int sum = 0;
		for (int s = 1; s <= 200; s++) {
			p.step = s;
			sum += s;
			pool_run(pl, probe_task, &p);
		}
		for (int i = 0; i < nth; i++)
			cr_assert_eq(atomic_load(&p.calls[i]), 200, "thread %d of %d", i, nth);
		for (int i = 0; i < 1000; i++)
			cr_assert_eq(p.cells[i], sum, "cell %d", i);
		cr_assert_eq(atomic_load(&p.overlap), 0);
		free(p.cells);
		pool_free(pl);
	}
	pool_free(NULL);
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
