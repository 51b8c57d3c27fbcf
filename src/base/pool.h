/*
 * pool.h - a fixed thread pool for data-parallel kernels.
 *
 * pool_run(p, fn, arg) calls fn(arg, ith, nth) once for each of the nth shares of a step
 * (pool_shares: POOL_SHARES_PER_THREAD per thread) and returns when all have finished: a
 * fork-join step. The shares are claimed one at a time by whichever thread is free (the caller
 * works too), so a thread the OS has descheduled (another process on the cores) delays the step
 * by one share, not by its whole part. ith names a share, not a thread: per-share scratch is
 * indexed by it. Workers spin briefly after a step (the next one usually follows within
 * microseconds during a forward pass), then sleep on a condition variable, so an idle node
 * (waiting for the network or for requests) burns no CPU.
 */
#ifndef SHOAL_POOL_H
#define SHOAL_POOL_H

#define POOL_SHARES_PER_THREAD 4

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (1: no workers, pool_run calls fn inline). NULL on failure (logged). */
pool *pool_init(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
int pool_shares(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);

/* the shares of a step on n_threads threads (one when there are no workers) */
static inline int pool_shares_of(int n_threads) { return n_threads > 1 ? n_threads * POOL_SHARES_PER_THREAD : 1; }

/* split n items among nth shares: [*lo, *hi) for share ith */
static inline void pool_split(int n, int ith, int nth, int *lo, int *hi)
{
	int per = n / nth, rem = n % nth;
	*lo = ith * per + (ith < rem ? ith : rem);
	*hi = *lo + per + (ith < rem);
}

#endif
