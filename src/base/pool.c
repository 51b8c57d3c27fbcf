/*
 * pool.c - fork-join thread pool: a generation counter announces a step, an atomic counter of
 * pending workers ends it. Workers spin for up to POOL_SPIN_NS on the generation counter before
 * blocking on a condition variable (the only place they sleep); the caller spins, then yields,
 * while it waits for stragglers.
 */
#include "base/pool.h"
#include "base/base.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define POOL_SPIN_NS 200000 /* 0.2 ms: covers the gaps between kernels of one forward pass */

struct pool {
	int n;
	pthread_t *threads;
	pool_fn fn;
	void *arg;
	_Atomic unsigned gen;
	_Atomic int pending;
	_Atomic bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

typedef struct { pool *p; int ith; } pool_worker_arg;

static inline void pool_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static void *pool_worker(void *varg)
{
	pool_worker_arg a = *(pool_worker_arg *)varg;
	pool *p = a.p;
	sh_free(varg);
	unsigned seen = 0;
	for (;;) {
		double t0 = sh_time_sec();
		int spins = 0;
		while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen) {
			pool_cpu_relax();
			if ((++spins & 1023) == 0 && (sh_time_sec() - t0) * 1e9 > POOL_SPIN_NS) {
				pthread_mutex_lock(&p->mu);
				while (atomic_load(&p->gen) == seen)
					pthread_cond_wait(&p->cv, &p->mu);
				pthread_mutex_unlock(&p->mu);
			}
		}
		seen = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (atomic_load(&p->stop))
			return NULL;
		p->fn(p->arg, a.ith, p->n);
		atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
	}
}

pool *pool_init(int n_threads)
{
	if (n_threads < 1)
		n_threads = 1;
	pool *p = sh_alloc(sizeof *p);
	if (!p)
		return NULL;
	p->n = n_threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->threads = sh_alloc(sizeof(pthread_t) * (size_t)n_threads);
	if (!p->threads)
		goto fail;
	for (int i = 1; i < n_threads; i++) {
		pool_worker_arg *a = sh_alloc(sizeof *a);
		if (!a)
			goto fail;
		a->p = p;
		a->ith = i;
		if (pthread_create(&p->threads[i], NULL, pool_worker, a) != 0) {
			sh_free(a);
			sh_log_error("cannot start thread %d of the pool", i);
			p->n = i;
			goto fail;
		}
	}
	return p;
fail:
	pool_free(p);
	return NULL;
}

void pool_free(pool *p)
{
	if (!p)
		return;
	if (p->threads) {
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->stop, true);
		atomic_fetch_add(&p->gen, 1);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		for (int i = 1; i < p->n; i++)
			pthread_join(p->threads[i], NULL);
		sh_free(p->threads);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	sh_free(p);
}

int pool_size(const pool *p) { return p->n; }

void pool_run(pool *p, pool_fn fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	fn(arg, 0, p->n);
	int spins = 0;
	while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
		pool_cpu_relax();
		if (++spins > 4096)
			sched_yield();
	}
}
