/*
 * The engine's fixed thread pool. A decode step calls engine_pool_run
 * about ten times per layer, so a call must cost microseconds: workers
 * spin on a generation counter for a short while after each job, and
 * only then sleep on a condition variable, so back-to-back calls never
 * pay for a futex wake-up while idle periods do not burn a core. With
 * more threads than usable CPUs nobody spins (it would only delay the
 * thread being waited for).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "engine/kernels.h"

#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * How long a waiter spins before it sleeps. Long enough to cover the gap
 * between two kernels of a decode step (attention, norms, sampling), short
 * enough that an idle engine costs nothing measurable.
 */
#define POOL_SPIN_NS 200000ull
#define POOL_SPIN_PAUSES 2000u /* polls before yielding: ~10-20 us */

struct pool_worker {
	struct engine_pool *pool;
	int tid;
};

struct engine_pool {
	int nthreads;
	pthread_t *threads;
	struct pool_worker *workers;
	int started; /* threads created (for cleanup) */
	bool spin;   /* false: more threads than usable CPUs, so
		      * a spinner would only delay the thread it
		      * waits for; wait on the condvars at once */

	pthread_mutex_t mu;
	pthread_cond_t wake; /* workers: a new generation or stop */
	pthread_cond_t done; /* caller: pending reached 0 */

	/* The job, published by the increment of gen (seq_cst). */
	void (*fn)(void *arg, int tid, int nthreads);
	void *arg;
	atomic_uint gen;
	atomic_int pending;  /* workers still running this generation */
	atomic_int sleepers; /* workers inside (or entering) cond_wait */
	atomic_bool caller_waiting;
	atomic_bool stop;
	bool in_run; /* misuse check: pool_run is not reentrant */

	void *scratch_raw; /* engine_pool_scratch: xmalloc'd block */
	void *scratch;     /* ... and its first 64-byte boundary */
	size_t scratch_bytes;
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Spin budget check, called on every failed poll: true once the waiter
 * should sleep. The first polls only pause (a job normally arrives within
 * a few microseconds); later ones also yield, so that with more threads
 * than cores a spinner hands its core to the thread it is waiting for.
 */
static bool spin_done(const struct engine_pool *pool, unsigned i, uint64_t *t0)
{
	if (!pool->spin)
		return true;
	cpu_relax();
	if (i < POOL_SPIN_PAUSES)
		return false;
	sched_yield();
	if ((i & 15) == 0) {
		uint64_t t = clock_monotonic_ns();

		if (!*t0)
			*t0 = t;
		else if (t - *t0 > POOL_SPIN_NS)
			return true;
	}
	return false;
}

/* Spins until gen moves past seen; seen on timeout. */
static unsigned spin_for_gen(struct engine_pool *pool, unsigned seen)
{
	uint64_t t0 = 0;

	for (unsigned i = 1;; i++) {
		unsigned g = atomic_load_explicit(&pool->gen, memory_order_acquire);

		if (g != seen || spin_done(pool, i, &t0))
			return g;
	}
}

static unsigned wait_for_gen(struct engine_pool *pool, unsigned seen)
{
	unsigned g = spin_for_gen(pool, seen);

	if (g != seen)
		return g;
	/*
	 * Sleep. sleepers is raised before gen is read under the mutex and
	 * the caller raises gen before reading sleepers (both seq_cst), so
	 * either we see the new gen or the caller sees us and broadcasts
	 * under the mutex, which it cannot take while we are between the
	 * check and cond_wait.
	 */
	atomic_fetch_add(&pool->sleepers, 1);
	pthread_mutex_lock(&pool->mu);
	while ((g = atomic_load(&pool->gen)) == seen)
		pthread_cond_wait(&pool->wake, &pool->mu);
	pthread_mutex_unlock(&pool->mu);
	atomic_fetch_sub(&pool->sleepers, 1);
	return g;
}

static void *worker_main(void *p)
{
	struct pool_worker *w = p;
	struct engine_pool *pool = w->pool;
	unsigned seen = 0;

	for (;;) {
		seen = wait_for_gen(pool, seen);
		if (atomic_load(&pool->stop))
			break;
		pool->fn(pool->arg, w->tid, pool->nthreads);
		if (atomic_fetch_sub(&pool->pending, 1) == 1 &&
		    atomic_load(&pool->caller_waiting)) {
			pthread_mutex_lock(&pool->mu);
			pthread_cond_signal(&pool->done);
			pthread_mutex_unlock(&pool->mu);
		}
	}
	return NULL;
}

static void wait_for_workers(struct engine_pool *pool)
{
	uint64_t t0 = 0;

	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0)
			return;
		if (spin_done(pool, i, &t0))
			break;
	}
	/* Same handshake as the workers' sleep, with pending for gen. */
	atomic_store(&pool->caller_waiting, true);
	pthread_mutex_lock(&pool->mu);
	while (atomic_load(&pool->pending) != 0)
		pthread_cond_wait(&pool->done, &pool->mu);
	pthread_mutex_unlock(&pool->mu);
	atomic_store(&pool->caller_waiting, false);
}

/* CPUs this process may run on (affinity mask, else all online). */
static int usable_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static void stop_workers(struct engine_pool *pool)
{
	atomic_store(&pool->stop, true);
	pthread_mutex_lock(&pool->mu);
	atomic_fetch_add(&pool->gen, 1);
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->mu);
	for (int i = 0; i < pool->started; i++)
		pthread_join(pool->threads[i], NULL);
}

int engine_pool_create(struct engine_pool **out, int nthreads)
{
	struct engine_pool *pool;
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (nthreads < 1 || nthreads > 1024)
		return error_set(LLEM_EINVAL, "thread pool: %d threads (1 to 1024)", nthreads);
	pool = xcalloc(1, sizeof(*pool));
	pool->nthreads = nthreads;
	pool->spin = nthreads <= usable_cpus();
	atomic_init(&pool->gen, 0);
	atomic_init(&pool->pending, 0);
	atomic_init(&pool->sleepers, 0);
	atomic_init(&pool->caller_waiting, false);
	atomic_init(&pool->stop, false);
	if ((rc = pthread_mutex_init(&pool->mu, NULL)) != 0) {
		free(pool);
		errno = rc;
		return error_set_errno(LLEM_ERROR, "thread pool: mutex");
	}
	if ((rc = pthread_cond_init(&pool->wake, NULL)) != 0) {
		pthread_mutex_destroy(&pool->mu);
		free(pool);
		errno = rc;
		return error_set_errno(LLEM_ERROR, "thread pool: condvar");
	}
	if ((rc = pthread_cond_init(&pool->done, NULL)) != 0) {
		pthread_cond_destroy(&pool->wake);
		pthread_mutex_destroy(&pool->mu);
		free(pool);
		errno = rc;
		return error_set_errno(LLEM_ERROR, "thread pool: condvar");
	}
	if (nthreads == 1) {
		*out = pool;
		return 0;
	}
	pool->threads = xcalloc((size_t)nthreads - 1, sizeof(*pool->threads));
	pool->workers = xcalloc((size_t)nthreads - 1, sizeof(*pool->workers));

	/* Workers take no signals: SIGINT and friends go to the caller's
	 * threads, which decide what an interruption means. */
	sigfillset(&all);
	if ((rc = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
		errno = rc;
		rc = error_set_errno(LLEM_ERROR, "thread pool: sigmask");
		goto fail;
	}
	for (int i = 0; i < nthreads - 1; i++) {
		pool->workers[i].pool = pool;
		pool->workers[i].tid = i + 1;
		rc = pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]);
		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = rc;
			rc = error_set_errno(LLEM_ERROR,
					     "thread pool: creating thread %d "
					     "of %d",
					     i + 1, nthreads);
			goto fail;
		}
		pool->started++;
	}
	if ((rc = pthread_sigmask(SIG_SETMASK, &old, NULL)) != 0) {
		errno = rc;
		rc = error_set_errno(LLEM_ERROR, "thread pool: sigmask");
		goto fail;
	}
	*out = pool;
	return 0;
fail:
	engine_pool_destroy(pool);
	return rc;
}

void engine_pool_destroy(struct engine_pool *pool)
{
	if (!pool)
		return;
	if (pool->started)
		stop_workers(pool);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->mu);
	free(pool->scratch_raw);
	free(pool->workers);
	free(pool->threads);
	free(pool);
}

void *engine_pool_scratch(struct engine_pool *pool, size_t bytes)
{
	if (bytes <= pool->scratch_bytes)
		return pool->scratch;
	/* xmalloc plus manual alignment keeps the out-of-memory policy. */
	free(pool->scratch_raw);
	bytes = (bytes + 4095) & ~(size_t)4095;
	pool->scratch_raw = xmalloc(bytes + 63);
	pool->scratch = (void *)(((uintptr_t)pool->scratch_raw + 63) & ~(uintptr_t)63);
	pool->scratch_bytes = bytes;
	return pool->scratch;
}

int engine_pool_threads(const struct engine_pool *pool)
{
	return pool ? pool->nthreads : 1;
}

void engine_pool_run(struct engine_pool *pool, void (*fn)(void *arg, int tid, int nthreads),
		     void *arg)
{
	if (!pool || pool->nthreads == 1) {
		fn(arg, 0, 1);
		return;
	}
	if (pool->in_run)
		abort(); /* a kernel called pool_run on its own pool */
	pool->in_run = true;
	pool->fn = fn;
	pool->arg = arg;
	atomic_store(&pool->pending, pool->nthreads - 1);
	atomic_fetch_add(&pool->gen, 1);
	if (atomic_load(&pool->sleepers) > 0) {
		pthread_mutex_lock(&pool->mu);
		pthread_cond_broadcast(&pool->wake);
		pthread_mutex_unlock(&pool->mu);
	}
	fn(arg, 0, pool->nthreads);
	wait_for_workers(pool);
	pool->in_run = false;
}
