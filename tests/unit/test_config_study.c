/*
 * Tests for numeric ranges in study sweeps ({range: [start, end], step: S}
 * and mul: M): the values each form gives, exact decimals for float steps,
 * the same hashes as the written-out list, ranges on universal and
 * backend-scoped keys, and every error with its exact text, hint and
 * position; also large grids (resolved in parallel, kept in grid order)
 * and the grid size limit. The rest of study expansion is covered in
 * test_config.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "backends/backends.h"
#include "config/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmpdir;
static int file_no;

/* Writes text to a new file and loads it (no user config, no overrides). */
static int load_text(struct loaded_config *lc, struct diag_list *dl, const char *text)
{
	char *path = xasprintf("%s/study-%d.yaml", tmpdir, ++file_no);
	struct config_request req = { path, NULL, 0, "", backends_check_config };
	int rc;

	test_write_text(path, text);
	rc = config_load(lc, &req, dl);
	free(path);
	return rc;
}

static void dump(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < dl->count; i++) {
		strbuf_reset(&sb);
		diag_format(&dl->items[i], &sb);
		print_message("  diag: %s%s%s\n", sb.buf, dl->items[i].hint ? " / hint: " : "",
			      dl->items[i].hint ? dl->items[i].hint : "");
	}
	strbuf_release(&sb);
}

/* Loads a study that must be valid. */
static void load_ok(struct loaded_config *lc, const char *text)
{
	struct diag_list dl = DIAG_LIST_INIT;

	if (load_text(lc, &dl, text) != 0) {
		dump(&dl);
		fail();
	}
	assert_true(lc->is_study);
	diag_list_release(&dl);
}

/* The values of field id over the valid points, in order. */
static void assert_ints(const struct study *s, enum field_id id, const int64_t *want, size_t n)
{
	size_t i;

	assert_int_equal(s->count, n);
	for (i = 0; i < n; i++)
		assert_int_equal(cfg_int(&s->points[i], id), want[i]);
}

/*
 * A study whose sweep has the one line `sweep_line` (line 4, after model
 * and backend): it must fail with exactly one error, at the column where
 * `at` first occurs in that line, with this message and hint (NULL: none).
 */
static void expect_error(const char *sweep_line, const char *at, const char *path,
			 const char *message, const char *hint)
{
	char *text = xasprintf("model: m\nbackend: native\nsweep:\n%s\n", sweep_line);
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;
	const char *pos = strstr(sweep_line, at);

	assert_non_null(pos);
	if (load_text(&lc, &dl, text) != -1 || diag_error_count(&dl) != 1) {
		print_message("for: %s\n", sweep_line);
		dump(&dl);
		fail();
	}
	assert_int_equal(dl.items[0].line, 4);
	assert_int_equal(dl.items[0].col, (int)(pos - sweep_line) + 1);
	assert_string_equal(dl.items[0].path, path);
	assert_string_equal(dl.items[0].message, message);
	if (hint)
		assert_string_equal(dl.items[0].hint, hint);
	else
		assert_null(dl.items[0].hint);
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(text);
}

/* ---- the forms ---- */

/* The one error a study with this name line gives, and where. */
static void expect_name_error(const char *name_line, int col, const char *message)
{
	char *text = xasprintf("%s\nmodel: m\nsweep: {n: [1, 2]}\n", name_line);
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	if (load_text(&lc, &dl, text) != -1 || diag_error_count(&dl) != 1) {
		print_message("for: %s\n", name_line);
		dump(&dl);
		fail();
	}
	assert_int_equal(dl.items[0].line, 1);
	assert_int_equal(dl.items[0].col, col);
	assert_string_equal(dl.items[0].path, "name");
	assert_string_equal(dl.items[0].message, message);
	assert_non_null(strstr(dl.items[0].hint, "e.g. name: batch-sweep"));
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(text);
}

/* A study's name is its directory under output_dir: one safe component. */
static void test_study_name_is_one_safe_path_component(void **state)
{
	struct loaded_config lc;
	char *long_name = xcalloc(1, STUDY_NAME_MAX + 16);
	char *line;

	(void)state;
	expect_name_error("name: \"../x\"", 7, "must be one path component, without '/'");
	expect_name_error("name: a/b", 7, "must be one path component, without '/'");
	expect_name_error("name: ..", 7, "must not be '.' or '..'");
	expect_name_error("name: .", 7, "must not be '.' or '..'");
	expect_name_error("name: \"\"", 7, "must not be empty");
	expect_name_error("name: \"a\\nb\"", 7,
			  "must not contain control characters (newlines, tabs, ...)");
	expect_name_error("name: \"a\\tb\"", 7,
			  "must not contain control characters (newlines, tabs, ...)");
	memset(long_name, 'x', STUDY_NAME_MAX + 1);
	line = xasprintf("name: %s", long_name);
	expect_name_error(line, 7, "is longer than 128 bytes");
	free(line);
	/* At the limit, and with dots and dashes inside, it is fine. */
	long_name[STUDY_NAME_MAX] = '\0';
	line = xasprintf("name: %s\nmodel: m\nsweep: {n: [1]}\n", long_name);
	load_ok(&lc, line);
	assert_int_equal(strlen(lc.study.name), STUDY_NAME_MAX);
	loaded_config_release(&lc);
	free(line);
	load_ok(&lc, "name: v1.2_batch-sweep..x\nmodel: m\nsweep: {n: [1]}\n");
	assert_string_equal(lc.study.name, "v1.2_batch-sweep..x");
	loaded_config_release(&lc);
	free(long_name);
}

static void test_range_mul_doubles_up_to_the_end(void **state)
{
	static const int64_t want[] = { 1, 2, 4, 8, 16, 32, 64 };
	struct loaded_config lc;

	(void)state;
	load_ok(&lc, "model: m\nsweep:\n  native.batch_size: {range: [1, 64], mul: 2}\n");
	assert_ints(&lc.study, FIELD_NATIVE_BATCH_SIZE, want, 7);
	assert_string_equal(lc.study.labels[0], "native.batch_size=1");
	assert_string_equal(lc.study.labels[6], "native.batch_size=64");
	loaded_config_release(&lc);

	/* An end the product does not hit is not passed. */
	load_ok(&lc, "model: m\nsweep:\n  native.batch_size: {range: [3, 100], mul: 3}\n");
	{
		static const int64_t want3[] = { 3, 9, 27, 81 };

		assert_ints(&lc.study, FIELD_NATIVE_BATCH_SIZE, want3, 4);
	}
	loaded_config_release(&lc);
}

static void test_range_step_includes_the_end_when_it_lands_on_it(void **state)
{
	static const int64_t want[] = { 10, 20, 30, 40, 50 };
	struct loaded_config lc;

	(void)state;
	load_ok(&lc, "model: m\nsweep:\n  n: {range: [10, 50], step: 10}\n");
	assert_ints(&lc.study, FIELD_N, want, 5);
	loaded_config_release(&lc);
	/* 55 is not on the grid: the range stops at 50. */
	load_ok(&lc, "model: m\nsweep:\n  n: {range: [10, 55], step: 10}\n");
	assert_ints(&lc.study, FIELD_N, want, 5);
	loaded_config_release(&lc);
	/* start == end is one value. */
	load_ok(&lc, "model: m\nsweep:\n  n: {range: [7, 7], step: 3}\n");
	assert_ints(&lc.study, FIELD_N, (const int64_t[]){ 7 }, 1);
	loaded_config_release(&lc);
}

static void test_range_in_block_style(void **state)
{
	static const int64_t want[] = { 1, 3, 5 };
	struct loaded_config lc;

	(void)state;
	load_ok(&lc, "model: m\nsweep:\n  max_output_tokens:\n    range:\n      - 1\n      - 5\n"
		     "    step: 2\n");
	assert_ints(&lc.study, FIELD_MAX_OUTPUT_TOKENS, want, 3);
	loaded_config_release(&lc);
}

static void test_range_float_steps_are_exact_decimals(void **state)
{
	static const double want[] = { 0.1, 0.3, 0.5, 0.7 };
	struct loaded_config lc;
	size_t i;

	(void)state;
	/* A running sum gives 0.30000000000000004 and 0.7000000000000001. */
	load_ok(&lc, "model: m\nsweep:\n  decoder.temperature: {range: [0.1, 0.7], step: 0.2}\n");
	assert_int_equal(lc.study.count, 4);
	for (i = 0; i < 4; i++)
		assert_true(cfg_float(&lc.study.points[i], FIELD_DECODER_TEMPERATURE) == want[i]);
	assert_string_equal(lc.study.labels[1], "decoder.temperature=0.3");
	loaded_config_release(&lc);

	/* Mixed scales: 0.05 steps from 1 to 1.2. */
	load_ok(&lc,
		"model: m\nsweep:\n  decoder.repetition_penalty: {range: [1, 1.2], step: 0.05}\n");
	assert_int_equal(lc.study.count, 5);
	assert_true(cfg_float(&lc.study.points[3], FIELD_DECODER_REPETITION_PENALTY) == 1.15);
	assert_true(cfg_float(&lc.study.points[4], FIELD_DECODER_REPETITION_PENALTY) == 1.2);
	loaded_config_release(&lc);
}

static void test_range_and_its_list_give_the_same_hashes(void **state)
{
	struct loaded_config a, b;
	size_t i;

	(void)state;
	load_ok(&a, "model: m\nsweep:\n  decoder.top_p: {range: [0.1, 0.9], step: 0.1}\n"
		    "  native.batch_size: {range: [1, 16], mul: 4}\n");
	load_ok(&b,
		"model: m\nsweep:\n  decoder.top_p: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\n"
		"  native.batch_size: [1, 4, 16]\n");
	assert_int_equal(a.study.count, 27);
	assert_int_equal(b.study.count, 27);
	for (i = 0; i < a.study.count; i++) {
		assert_string_equal(a.study.points[i].hash, b.study.points[i].hash);
		assert_string_equal(a.study.labels[i], b.study.labels[i]);
	}
	assert_string_equal(a.study.design_hash, b.study.design_hash);
	loaded_config_release(&a);
	loaded_config_release(&b);
}

static void test_range_in_exponent_notation_does_not_drift(void **state)
{
	struct loaded_config lc;
	size_t i;

	(void)state;
	/* Not plain decimals: start + k*step in binary, never a running sum,
	 * and an end reached to within 1e-9 of a step is included as written. */
	load_ok(&lc, "model: m\nsweep:\n  decoder.top_p: {range: [0, 1], step: 1e-1}\n");
	assert_int_equal(lc.study.count, 11);
	for (i = 0; i < 10; i++)
		assert_true(cfg_float(&lc.study.points[i], FIELD_DECODER_TOP_P) == (double)i * 0.1);
	assert_true(cfg_float(&lc.study.points[10], FIELD_DECODER_TOP_P) == 1.0);
	loaded_config_release(&lc);

	load_ok(&lc, "model: m\nsweep:\n  decoder.min_p: {range: [1e-3, 4e-3], step: 1e-3}\n");
	assert_int_equal(lc.study.count, 4);
	assert_true(cfg_float(&lc.study.points[3], FIELD_DECODER_MIN_P) == 4e-3);
	loaded_config_release(&lc);
}

static void test_range_float_mul(void **state)
{
	static const double want[] = { 0.125, 0.25, 0.5, 1, 2 };
	struct loaded_config lc;
	size_t i;

	(void)state;
	load_ok(&lc, "model: m\nsweep:\n  decoder.temperature: {range: [0.125, 2], mul: 2}\n");
	assert_int_equal(lc.study.count, 5);
	for (i = 0; i < 5; i++)
		assert_true(cfg_float(&lc.study.points[i], FIELD_DECODER_TEMPERATURE) == want[i]);
	loaded_config_release(&lc);

	/* Decimal start, whole mul: exact decimals (0.001 * 10 is not 0.01). */
	load_ok(&lc, "model: m\nsweep:\n  decoder.min_p: {range: [0.001, 1], mul: 10}\n");
	assert_int_equal(lc.study.count, 4);
	assert_true(cfg_float(&lc.study.points[1], FIELD_DECODER_MIN_P) == 0.01);
	assert_true(cfg_float(&lc.study.points[2], FIELD_DECODER_MIN_P) == 0.1);
	assert_true(cfg_float(&lc.study.points[3], FIELD_DECODER_MIN_P) == 1.0);
	loaded_config_release(&lc);

	/* A fractional mul: start * mul^k, the end taken when within 1e-9. */
	load_ok(&lc, "model: m\nsweep:\n  decoder.temperature: {range: [0.4, 1.35], mul: 1.5}\n");
	assert_int_equal(lc.study.count, 4);
	assert_true(cfg_float(&lc.study.points[1], FIELD_DECODER_TEMPERATURE) == 0.4 * 1.5);
	assert_true(cfg_float(&lc.study.points[3], FIELD_DECODER_TEMPERATURE) == 1.35);
	loaded_config_release(&lc);
}

static void test_range_on_universal_and_scoped_keys(void **state)
{
	struct loaded_config lc;
	size_t i, native = 0, pytorch = 0;

	(void)state;
	load_ok(&lc, "model: m\nbackend: [native, pytorch]\nsweep:\n"
		     "  decoder.top_k: {range: [10, 30], step: 10}\n"
		     "  native.threads: {range: [1, 2], step: 1}\n"
		     "  pytorch.num_beams: {range: [1, 4], mul: 2}\n");
	/* 3 x 2 for native, 3 x 3 for pytorch. */
	assert_int_equal(lc.study.count, 6 + 9);
	for (i = 0; i < lc.study.count; i++) {
		const struct config *c = &lc.study.points[i];

		if (!strcmp(cfg_str(c, FIELD_BACKEND), "native"))
			native++;
		else
			pytorch++;
	}
	assert_int_equal(native, 6);
	assert_int_equal(pytorch, 9);
	assert_string_equal(lc.study.labels[0],
			    "backend=native, decoder.top_k=10, native.threads=1");
	assert_string_equal(lc.study.labels[14],
			    "backend=pytorch, decoder.top_k=30, pytorch.num_beams=4");
	loaded_config_release(&lc);
}

static void test_range_with_lists_and_the_largest_allowed(void **state)
{
	struct loaded_config lc;

	(void)state;
	/* 100,000 values from one range is the limit, and allowed. */
	load_ok(&lc, "model: m\nsweep:\n  random_seed: {range: [1, 100000], step: 1}\n");
	assert_int_equal(lc.study.count, 100000);
	assert_int_equal(cfg_int(&lc.study.points[99999], FIELD_RANDOM_SEED), 100000);
	loaded_config_release(&lc);
	/* Ends at the field's own bounds. */
	load_ok(&lc, "model: m\nsweep:\n  random_seed: {range: [0, 4294967295], step: 4294967295}\n"
		     "  precision: [fp32, bf16]\n");
	assert_int_equal(lc.study.count, 4);
	assert_int_equal(cfg_int(&lc.study.points[3], FIELD_RANDOM_SEED), 4294967295LL);
	loaded_config_release(&lc);
}

static void test_large_grid_keeps_grid_order_with_skipped_points(void **state)
{
	struct loaded_config lc;
	char label[64];
	size_t i;

	(void)state;
	/* 15,000 points, resolved by several threads where there are CPUs:
	 * vLLM cannot run fp32, so every third block of 5,000 is skipped, and
	 * both lists must still be in grid order. */
	load_ok(&lc, "model: m\nbackend: vllm\nsweep:\n  precision: [fp16, fp32, bf16]\n"
		     "  n: {range: [1, 5000], step: 1}\n");
	assert_int_equal(lc.study.grid_count, 15000);
	assert_int_equal(lc.study.count, 10000);
	assert_int_equal(lc.study.skipped_count, 5000);
	for (i = 0; i < 10000; i++) {
		snprintf(label, sizeof(label), "precision=%s, n=%zu", i < 5000 ? "fp16" : "bf16",
			 i % 5000 + 1);
		assert_string_equal(lc.study.labels[i], label);
		assert_int_equal(cfg_int(&lc.study.points[i], FIELD_N), (int64_t)(i % 5000 + 1));
		assert_string_equal(cfg_str(&lc.study.points[i], FIELD_PRECISION),
				    i < 5000 ? "fp16" : "bf16");
	}
	for (i = 0; i < 5000; i++) {
		snprintf(label, sizeof(label), "precision=fp32, n=%zu", i + 1);
		assert_string_equal(lc.study.skipped[i].label, label);
		assert_string_equal(lc.study.skipped[i].reason,
				    "precision: fp32 is not supported by backend 'vllm'");
	}
	loaded_config_release(&lc);
}

/* ---- errors ---- */

static void test_range_error_unknown_key(void **state)
{
	(void)state;
	expect_error("  n: {range: [1, 5], stp: 1}", "stp", "n", "unknown key 'stp' in a range",
		     "did you mean 'step'?");
	expect_error("  n: {range: [1, 5], step: 1, by: 2}", "by", "n",
		     "unknown key 'by' in a range",
		     "write {range: [start, end], step: N} or {range: [start, end], mul: N}");
}

static void test_range_error_both_or_neither_step_and_mul(void **state)
{
	(void)state;
	expect_error("  n: {range: [1, 5], step: 1, mul: 2}", "mul", "n",
		     "a range takes step or mul, not both",
		     "step adds to each value, mul multiplies it: keep one");
	expect_error("  n: {range: [1, 5]}", "range", "n", "a range needs step or mul",
		     "add step: N to add N each time, or mul: N to multiply by N");
}

static void test_range_error_range_missing_or_malformed(void **state)
{
	(void)state;
	expect_error("  n: {step: 1}", "step", "n", "a range needs range: [start, end]",
		     "write {range: [start, end], step: N} or {range: [start, end], mul: N}");
	expect_error("  n: {range: 5, step: 1}", "5", "n",
		     "range must be a list of two numbers [start, end], got an integer",
		     "write range: [start, end], both ends included");
	expect_error(
		"  n: {range: [1, 5, 9], step: 1}", "1,", "n",
		"range must be a list of two numbers [start, end], got a list of another length",
		"write range: [start, end], both ends included");
}

static void test_range_error_start_after_end(void **state)
{
	(void)state;
	expect_error("  n: {range: [64, 1], mul: 2}", "64", "n",
		     "range start 64 is greater than its end 1",
		     "ranges count upwards: put the smaller value first");
}

static void test_range_error_not_a_number(void **state)
{
	(void)state;
	expect_error("  n: {range: [one, 5], step: 1}", "one", "n",
		     "range start must be an integer, got a string", NULL);
	expect_error("  n: {range: [1, \"5\"], step: 1}", "\"5\"", "n",
		     "range end must be an integer, got a string", NULL);
	expect_error("  n: {range: [1, 5], step: 1.5}", "1.5", "n",
		     "range step must be an integer, got 1.5", "this field takes whole numbers");
	expect_error("  decoder.top_p: {range: [0.1, true], step: 0.1}", "true", "decoder.top_p",
		     "range end must be a number, got a boolean", NULL);
	expect_error("  decoder.top_p: {range: [0.1, 0.5], mul: [2]}", "2]", "decoder.top_p",
		     "range mul must be a number, got a list", NULL);
}

static void test_range_error_step_and_mul_bounds(void **state)
{
	(void)state;
	expect_error("  n: {range: [1, 5], step: 0}", "0}", "n",
		     "step must be greater than 0, got 0",
		     "ranges count upwards from start to end");
	expect_error("  decoder.top_p: {range: [0.1, 0.5], step: -0.1}", "-0.1", "decoder.top_p",
		     "step must be greater than 0, got -0.1",
		     "ranges count upwards from start to end");
	expect_error("  n: {range: [1, 5], mul: 1}", "1}", "n", "mul must be greater than 1, got 1",
		     "use step for ranges that add instead of multiply");
	expect_error("  decoder.top_p: {range: [0, 0.5], mul: 2}", "0,", "decoder.top_p",
		     "a mul range needs a start greater than 0, got 0",
		     "multiplying never leaves 0 or a negative start; use step");
}

static void test_range_error_on_a_field_that_is_not_numeric(void **state)
{
	(void)state;
	expect_error("  precision: {range: [1, 2], step: 1}", "range", "precision",
		     "a range needs a numeric field, and this one is an enum",
		     "list the values instead, e.g. [fp32, fp16]");
	expect_error("  decoder.do_sample: {range: [0, 1], step: 1}", "range", "decoder.do_sample",
		     "a range needs a numeric field, and this one is a boolean",
		     "list the values instead");
	expect_error("  dataset: {range: [0, 1], step: 1}", "range", "dataset",
		     "a range needs a numeric field, and this one is a string",
		     "list the values instead");
}

static void test_range_error_too_many_values(void **state)
{
	(void)state;
	expect_error("  random_seed: {range: [0, 100000], step: 1}", "range", "random_seed",
		     "range gives 100001 values; at most 100000 are allowed",
		     "use a larger step, or split the range");
	expect_error("  decoder.top_p: {range: [0, 1], step: 0.000001}", "range", "decoder.top_p",
		     "range gives 1000001 values; at most 100000 are allowed",
		     "use a larger step, or split the range");
	expect_error("  decoder.top_p: {range: [0, 1], step: 1e-7}", "range", "decoder.top_p",
		     "range gives 10000001 values; at most 100000 are allowed",
		     "use a larger step, or split the range");
	expect_error("  decoder.temperature: {range: [0.001, 2], mul: 1.00001}", "range",
		     "decoder.temperature", "range gives 760095 values; at most 100000 are allowed",
		     "use a larger mul, or split the range");
	/* The whole int64 span: counted without overflow. */
	expect_error(
		"  decoder.top_k: {range: [-9223372036854775808, 9223372036854775807], step: 1}",
		"range", "decoder.top_k",
		"range gives more than 100000 values; at most 100000 are allowed",
		"use a larger step, or split the range");
}

static void test_range_values_out_of_bounds_are_errors_like_list_items(void **state)
{
	(void)state;
	/* As n: [0, 5] is an error at the 0, a range starting below the
	 * field's minimum is an error at its start... */
	expect_error("  n: {range: [0, 20], step: 5}", "0,", "n",
		     "must be at least 1 (allowed: 1 to 1000000000), got 0 (from the range)", NULL);
	/* ...and one running past the maximum at its end, naming the first
	 * value out (once, not once per value). */
	expect_error("  native.batch_size: {range: [1024, 100000], step: 1024}", "100000",
		     "native.batch_size",
		     "must be at most 4096 (allowed: 1 to 4096), got 5120 (from the range)", NULL);
	expect_error("  decoder.top_p: {range: [0.5, 1.5], step: 0.25}", "1.5", "decoder.top_p",
		     "must be at most 1.0 (allowed: 0.0 to 1.0), got 1.25 (from the range)", NULL);
}

static void test_a_grid_too_large_to_hold_is_an_error(void **state)
{
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	/* 1000 x 1001 points: refused before anything is resolved. */
	assert_int_equal(load_text(&lc, &dl,
				   "model: m\nsweep:\n"
				   "  n: {range: [1, 1000], step: 1}\n"
				   "  random_seed: {range: [0, 1000], step: 1}\n"),
			 -1);
	assert_int_equal(diag_error_count(&dl), 1);
	assert_int_equal(dl.items[0].line, 3);
	assert_int_equal(dl.items[0].col, 3);
	assert_string_equal(dl.items[0].path, "sweep");
	assert_string_equal(dl.items[0].message, "the sweep gives more than 1000000 experiments");
	assert_string_equal(dl.items[0].hint,
			    "sweep fewer values (or larger steps), or split the study");
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void test_range_errors_are_all_reported_at_once(void **state)
{
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(load_text(&lc, &dl,
				   "model: m\nsweep:\n"
				   "  n: {range: [x, 5], step: 0}\n"
				   "  max_output_tokens: {range: [9, 1], step: -1}\n"
				   "  precision: {range: [1, 2], step: 1}\n"),
			 -1);
	/* start not a number and step 0; start > end and step < 0; enum. */
	assert_int_equal(diag_error_count(&dl), 5);
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static int setup(void **state)
{
	(void)state;
	tmpdir = test_tmpdir("config-study");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rm_rf(tmpdir);
	free(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_mul_doubles_up_to_the_end),
		cmocka_unit_test(test_range_step_includes_the_end_when_it_lands_on_it),
		cmocka_unit_test(test_range_in_block_style),
		cmocka_unit_test(test_range_float_steps_are_exact_decimals),
		cmocka_unit_test(test_range_and_its_list_give_the_same_hashes),
		cmocka_unit_test(test_range_in_exponent_notation_does_not_drift),
		cmocka_unit_test(test_range_float_mul),
		cmocka_unit_test(test_study_name_is_one_safe_path_component),
		cmocka_unit_test(test_range_on_universal_and_scoped_keys),
		cmocka_unit_test(test_range_with_lists_and_the_largest_allowed),
		cmocka_unit_test(test_large_grid_keeps_grid_order_with_skipped_points),
		cmocka_unit_test(test_range_error_unknown_key),
		cmocka_unit_test(test_range_error_both_or_neither_step_and_mul),
		cmocka_unit_test(test_range_error_range_missing_or_malformed),
		cmocka_unit_test(test_range_error_start_after_end),
		cmocka_unit_test(test_range_error_not_a_number),
		cmocka_unit_test(test_range_error_step_and_mul_bounds),
		cmocka_unit_test(test_range_error_on_a_field_that_is_not_numeric),
		cmocka_unit_test(test_range_error_too_many_values),
		cmocka_unit_test(test_range_values_out_of_bounds_are_errors_like_list_items),
		cmocka_unit_test(test_a_grid_too_large_to_hold_is_an_error),
		cmocka_unit_test(test_range_errors_are_all_reported_at_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
