/*
 * pool.h - a fixed thread pool for data-parallel kernels.
 *
 * pool_run(p, fn, arg) calls fn(arg, ith, nth) once on each of the nth threads (the caller is
 * thread 0) and returns when all have finished: a fork-join step. Workers spin briefly after a
 * step (the next one usually follows within microseconds during a forward pass), then sleep on a
 * condition variable, so an idle node (waiting for the network or for requests) burns no CPU.
 */
#ifndef SHOAL_POOL_H
#define SHOAL_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (1: no workers, pool_run calls fn inline). NULL on failure (logged). */
pool *pool_init(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);

/* split n items among nth threads: [*lo, *hi) for thread ith */
static inline void pool_split(int n, int ith, int nth, int *lo, int *hi)
{
	int per = n / nth, rem = n % nth;
	*lo = ith * per + (ith < rem ? ith : rem);
	*hi = *lo + per + (ith < rem);
}

#endif
