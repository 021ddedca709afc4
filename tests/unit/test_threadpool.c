/*
 * Tests for the engine's thread pool: every thread index runs exactly
 * once per call over many calls, workers' writes are visible when
 * pool_run returns, sleeping workers wake, slow workers are waited for,
 * and pools survive many create/destroy cycles.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/kernels.h"
#include "llem/errors.h"
#include "util/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define MAX_T 8

struct count_job {
	atomic_int hits[MAX_T];
	int plain[MAX_T]; /* written without atomics: visibility */
	atomic_int bad_nthreads;
	int want_nthreads;
	int call;
	pthread_t caller;
	atomic_int tid0_not_caller;
};

static void count_fn(void *arg, int tid, int nthreads)
{
	struct count_job *j = arg;

	if (nthreads != j->want_nthreads || tid < 0 || tid >= nthreads)
		atomic_fetch_add(&j->bad_nthreads, 1);
	else
		atomic_fetch_add(&j->hits[tid], 1);
	if (tid >= 0 && tid < MAX_T)
		j->plain[tid] = j->call;
	if (tid == 0 && !pthread_equal(pthread_self(), j->caller))
		atomic_fetch_add(&j->tid0_not_caller, 1);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void run_and_check(struct engine_pool *pool, struct count_job *j, int nthreads, int calls,
			  long pause_us)
{
	for (int c = 0; c < calls; c++) {
		j->call = c + 1;
		engine_pool_run(pool, count_fn, j);
		for (int t = 0; t < nthreads; t++) {
			assert_int_equal(atomic_load(&j->hits[t]), c + 1);
			assert_int_equal(j->plain[t], c + 1);
		}
		if (pause_us)
			sleep_us(pause_us);
	}
	assert_int_equal(atomic_load(&j->bad_nthreads), 0);
	assert_int_equal(atomic_load(&j->tid0_not_caller), 0);
}

static void test_pool_runs_every_tid_once_per_call(void **state)
{
	(void)state;
	for (int n = 1; n <= 4; n++) {
		struct engine_pool *pool;
		struct count_job j;

		memset(&j, 0, sizeof(j));
		j.want_nthreads = n;
		j.caller = pthread_self();
		assert_int_equal(engine_pool_create(&pool, n), 0);
		assert_int_equal(engine_pool_threads(pool), n);
		run_and_check(pool, &j, n, 20000, 0);
		engine_pool_destroy(pool);
	}
}

/* Pauses longer than the spin budget make the workers sleep on the
 * condition variable: each call must still wake all of them. */
static void test_pool_wakes_sleeping_workers(void **state)
{
	struct engine_pool *pool;
	struct count_job j;

	(void)state;
	memset(&j, 0, sizeof(j));
	j.want_nthreads = 3;
	j.caller = pthread_self();
	assert_int_equal(engine_pool_create(&pool, 3), 0);
	run_and_check(pool, &j, 3, 30, 2000);
	/* Pauses around the spin budget exercise the spin/sleep race. */
	memset(&j, 0, sizeof(j));
	j.want_nthreads = 3;
	j.caller = pthread_self();
	for (int i = 0; i < 200; i++) {
		j.call = i + 1;
		engine_pool_run(pool, count_fn, &j);
		sleep_us(150 + (i % 7) * 20);
	}
	for (int t = 0; t < 3; t++)
		assert_int_equal(atomic_load(&j.hits[t]), 200);
	engine_pool_destroy(pool);
}

/* The caller finishes first and must wait (spin, then sleep) for a slow
 * worker; the worker's result is there when pool_run returns. */
struct slow_job {
	int out[MAX_T];
};

static void slow_fn(void *arg, int tid, int nthreads)
{
	struct slow_job *j = arg;

	(void)nthreads;
	if (tid == 1)
		sleep_us(3000);
	j->out[tid] = tid + 100;
}

static void test_pool_waits_for_slow_worker(void **state)
{
	struct engine_pool *pool;

	(void)state;
	assert_int_equal(engine_pool_create(&pool, 2), 0);
	for (int i = 0; i < 5; i++) {
		struct slow_job j;

		memset(&j, 0, sizeof(j));
		engine_pool_run(pool, slow_fn, &j);
		assert_int_equal(j.out[0], 100);
		assert_int_equal(j.out[1], 101);
	}
	engine_pool_destroy(pool);
}

static void test_pool_survives_create_destroy_cycles(void **state)
{
	(void)state;
	for (int cycle = 0; cycle < 300; cycle++) {
		struct engine_pool *pool;
		struct count_job j;
		int n = 1 + cycle % 4;

		memset(&j, 0, sizeof(j));
		j.want_nthreads = n;
		j.caller = pthread_self();
		assert_int_equal(engine_pool_create(&pool, n), 0);
		/* Some pools are destroyed without ever running. */
		if (cycle % 3)
			run_and_check(pool, &j, n, cycle % 5, 0);
		engine_pool_destroy(pool);
	}
}

static void test_pool_single_thread_and_null(void **state)
{
	struct count_job j;
	struct engine_pool *pool;

	(void)state;
	memset(&j, 0, sizeof(j));
	j.want_nthreads = 1;
	j.caller = pthread_self();
	/* NULL runs on the caller alone. */
	assert_int_equal(engine_pool_threads(NULL), 1);
	engine_pool_run(NULL, count_fn, &j);
	assert_int_equal(atomic_load(&j.hits[0]), 1);
	assert_int_equal(engine_pool_create(&pool, 1), 0);
	j.call = 0;
	memset(&j, 0, sizeof(j));
	j.want_nthreads = 1;
	j.caller = pthread_self();
	run_and_check(pool, &j, 1, 100, 0);
	engine_pool_destroy(pool);
	engine_pool_destroy(NULL);
}

static void test_pool_rejects_bad_thread_counts(void **state)
{
	char dummy;
	struct engine_pool *pool = (struct engine_pool *)(void *)&dummy;

	(void)state;
	assert_int_equal(engine_pool_create(&pool, 0), LLEM_EINVAL);
	assert_null(pool);
	assert_int_equal(engine_pool_create(&pool, -3), LLEM_EINVAL);
	assert_int_equal(engine_pool_create(&pool, 100000), LLEM_EINVAL);
	assert_true(strstr(error_last(), "threads") != NULL);
}

static void test_pool_scratch_is_aligned_and_grows(void **state)
{
	struct engine_pool *pool;
	char *a, *b;

	(void)state;
	assert_int_equal(engine_pool_create(&pool, 2), 0);
	a = engine_pool_scratch(pool, 100);
	assert_int_equal((uintptr_t)a % 64, 0);
	memset(a, 1, 100);
	assert_ptr_equal(engine_pool_scratch(pool, 50), a);
	b = engine_pool_scratch(pool, 1 << 20);
	assert_int_equal((uintptr_t)b % 64, 0);
	memset(b, 2, 1 << 20);
	engine_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_runs_every_tid_once_per_call),
		cmocka_unit_test(test_pool_wakes_sleeping_workers),
		cmocka_unit_test(test_pool_waits_for_slow_worker),
		cmocka_unit_test(test_pool_survives_create_destroy_cycles),
		cmocka_unit_test(test_pool_single_thread_and_null),
		cmocka_unit_test(test_pool_rejects_bad_thread_counts),
		cmocka_unit_test(test_pool_scratch_is_aligned_and_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
