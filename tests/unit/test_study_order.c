/*
 * Tests for the study run order: sequential and interleaved layouts, the
 * per-point cycle numbering, and the original tool's shuffled vector, which
 * pins the port of Python's MT19937 + random.shuffle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "study/study.h"
#include "util/util.h"

#include <stdlib.h>

static void test_sequential(void **state)
{
	struct study_run_entry *r;
	size_t n = study_order_runs(&r, 2, 3, STUDY_SEQUENTIAL, 0);
	static const size_t points[] = { 0, 0, 0, 1, 1, 1 };
	static const int cycles[] = { 1, 2, 3, 1, 2, 3 };

	(void)state;
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].point, points[i]);
		assert_int_equal(r[i].cycle, cycles[i]);
	}
	free(r);
}

static void test_interleaved(void **state)
{
	struct study_run_entry *r;
	size_t n = study_order_runs(&r, 3, 2, STUDY_INTERLEAVED, 0);
	static const size_t points[] = { 0, 1, 2, 0, 1, 2 };
	static const int cycles[] = { 1, 1, 1, 2, 2, 2 };

	(void)state;
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].point, points[i]);
		assert_int_equal(r[i].cycle, cycles[i]);
	}
	free(r);
}

/* The original tool's order: configs 1..5, 2 cycles, seed 42. */
static void test_shuffled_seed_repo_vector(void **state)
{
	static const size_t want[] = { 4, 2, 3, 5, 1, 4, 3, 1, 5, 2 };
	struct study_run_entry *r;
	size_t n = study_order_runs(&r, 5, 2, STUDY_SHUFFLED, 42);

	(void)state;
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].point + 1, want[i]);
		assert_int_equal(r[i].cycle, i < 5 ? 1 : 2);
	}
	free(r);
}

/* Every cycle of a shuffled order is a permutation; same seed, same order. */
static void test_shuffled_permutations(void **state)
{
	struct study_run_entry *a, *b;
	size_t n = study_order_runs(&a, 37, 4, STUDY_SHUFFLED, 0xffffffffu);

	(void)state;
	assert_int_equal(n, 37 * 4);
	assert_int_equal(study_order_runs(&b, 37, 4, STUDY_SHUFFLED, 0xffffffffu), n);
	assert_memory_equal(a, b, n * sizeof(*a));
	for (int c = 0; c < 4; c++) {
		bool seen[37] = { false };

		for (size_t i = 0; i < 37; i++) {
			const struct study_run_entry *e = &a[(size_t)c * 37 + i];

			assert_true(e->point < 37);
			assert_false(seen[e->point]);
			seen[e->point] = true;
			assert_int_equal(e->cycle, c + 1);
		}
	}
	free(a);
	free(b);
}

static void test_empty(void **state)
{
	struct study_run_entry *r = (void *)1;

	(void)state;
	assert_int_equal(study_order_runs(&r, 0, 3, STUDY_SHUFFLED, 1), 0);
	assert_null(r);
	assert_int_equal(study_order_runs(&r, 3, 0, STUDY_SEQUENTIAL, 1), 0);
	assert_null(r);
	/* One point: the only permutation, with no draws that could misbehave. */
	assert_int_equal(study_order_runs(&r, 1, 3, STUDY_SHUFFLED, 7), 3);
	assert_int_equal(r[2].point, 0);
	assert_int_equal(r[2].cycle, 3);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_shuffled_seed_repo_vector),
		cmocka_unit_test(test_shuffled_permutations),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
