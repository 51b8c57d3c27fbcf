/*
 * pool.c - fork-join thread pool: a generation counter announces a step; its shares are claimed
 * from one atomic word, (shares << 32) | next, by compare-and-swap; a counter of finished shares
 * ends it. A thread that sees a share still unclaimed there knows the step is the current one
 * (a step cannot end with a share unclaimed), so a worker that slept through steps can never run
 * a share of a finished one; it reads fn and arg only after its claim succeeded, and they do not
 * change until that share is counted. Workers spin for up to POOL_SPIN_NS on the generation
 * counter before blocking on a condition variable; the caller claims shares too, then spins for
 * up to POOL_WAIT_SPIN_NS while the last shares finish, then sleeps until the last one wakes it.
 * Sleeping matters on a busy machine: a share's thread that another process preempted can only
 * move to this thread's core if the core goes idle, which a spinning or yielding caller never
 * lets it do (make bench, "busy machine": decode with one core taken by a spinning process went
 * from 0.3 of idle with a share per thread and a yielding caller to 0.5; llama.cpp's 0.13-0.28).
 */
#include "base/pool.h"
#include "base/base.h"

#include <pthread.h>
#include <stdatomic.h>

#define POOL_SPIN_NS 50000 /* 50 us: covers the gaps between kernels of one forward pass */
#define POOL_WAIT_SPIN_NS 30000 /* 30 us: a step's last shares on an idle machine end well within it */

struct pool {
	int n;
	pthread_t *threads;
	pool_fn fn;
	void *arg;
	_Atomic unsigned gen;
	_Atomic uint64_t claim;  /* (shares << 32) | the next share to claim */
	_Atomic int done;        /* shares finished */
	_Atomic bool caller_asleep;
	_Atomic bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* a new step (workers wait on it) */
	pthread_cond_t cv_done;  /* the step's last share finished (the caller waits on it) */
};

static inline void pool_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* claims and runs shares of the current step until none is left */
static void pool_work(pool *p)
{
	uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
	while ((v & 0xffffffffu) < (v >> 32)) {
		if (atomic_compare_exchange_weak_explicit(&p->claim, &v, v + 1, memory_order_acq_rel, memory_order_acquire)) {
			int n = (int)(v >> 32);
			p->fn(p->arg, (int)(v & 0xffffffffu), n);
			/* seq_cst with the caller's store of caller_asleep: one of the two sees the other */
			if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->caller_asleep)) {
				pthread_mutex_lock(&p->mu);
				pthread_cond_signal(&p->cv_done);
				pthread_mutex_unlock(&p->mu);
			}
			v = atomic_load_explicit(&p->claim, memory_order_acquire);
		}
	}
}

static void *pool_worker(void *varg)
{
	pool *p = varg;
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
		pool_work(p);
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
	pthread_cond_init(&p->cv_done, NULL);
	p->threads = sh_alloc(sizeof(pthread_t) * (size_t)n_threads);
	if (!p->threads)
		goto fail;
	for (int i = 1; i < n_threads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0) {
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
	pthread_cond_destroy(&p->cv_done);
	sh_free(p);
}

int pool_size(const pool *p) { return p->n; }

int pool_shares(const pool *p) { return pool_shares_of(p->n); }

void pool_run(pool *p, pool_fn fn, void *arg)
{
	int shares = pool_shares(p);
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	atomic_store_explicit(&p->claim, (uint64_t)shares << 32, memory_order_release);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pool_work(p);
	double t0 = 0;
	for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < shares; spins++) {
		pool_cpu_relax();
		if ((spins & 255) != 255)
			continue;
		double now = sh_time_sec();
		if (!t0) {
			t0 = now;
		} else if ((now - t0) * 1e9 > POOL_WAIT_SPIN_NS) {
			pthread_mutex_lock(&p->mu);
			atomic_store(&p->caller_asleep, true);
			while (atomic_load(&p->done) < shares)
				pthread_cond_wait(&p->cv_done, &p->mu);
			atomic_store(&p->caller_asleep, false);
			pthread_mutex_unlock(&p->mu);
		}
	}
}
