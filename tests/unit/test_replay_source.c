/*
 * The replay energy source: playback of the trace fixtures in
 * tests/data/replay at synthetic monotonic times (interpolation, holding,
 * clamping, counter resets), CSV/JSONL equivalence, and every validation
 * error with its line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "energy/energy.h"
#include "llem/llem.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	char *dir;
	void *src;
	const struct energy_source_ops *ops;
	char *why;
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	fx->dir = test_tmpdir("replay");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->src)
		fx->ops->close(fx->src);
	test_rm_rf(fx->dir);
	free(fx->dir);
	free(fx->why);
	free(fx);
	return 0;
}

static char *fixture_path(const char *name)
{
	const char *data = getenv("LLEM_TEST_DATA");

	assert_non_null(data);
	return xasprintf("%s/replay/%s", data, name);
}

static void open_ok(struct fixture *fx, const char *path)
{
	uint64_t before = clock_monotonic_ns(), start;
	int rc = energy_replay_open(&fx->src, &fx->ops, path, &fx->why);

	if (rc != 0)
		fail_msg("energy_replay_open: %s", fx->why);
	assert_string_equal(fx->ops->name, "replay");
	start = energy_replay_start_ns(fx->src);
	assert_true(start >= before && start <= clock_monotonic_ns());
}

static void open_fixture(struct fixture *fx, const char *name)
{
	char *path = fixture_path(name);

	open_ok(fx, path);
	free(path);
}

/* The reading of device i at trace time tau_s. */
static struct energy_reading at(struct fixture *fx, size_t i, double tau_s)
{
	struct energy_reading r;
	uint64_t start = energy_replay_start_ns(fx->src);
	uint64_t now = tau_s >= 0 ? start + (uint64_t)llround(tau_s * 1e9)
				  : start - (uint64_t)llround(-tau_s * 1e9);

	memset(&r, 0xa5, sizeof(r)); /* every field must be written */
	assert_int_equal(fx->ops->read(fx->src, i, now, &r), 0);
	assert_true(r.valid);
	assert_int_equal(r.t_ns, now);
	return r;
}

/* Interpolation at these times is exact in binary: compare exactly. */
static void check_energy(struct fixture *fx, size_t i, double tau_s, double e_j)
{
	struct energy_reading r = at(fx, i, tau_s);

	if (r.energy_j != e_j)
		fail_msg("device %zu at %g s: energy %.17g, expected %.17g", i, tau_s, r.energy_j,
			 e_j);
}

static void test_devices_in_first_appearance_order(void **state)
{
	struct fixture *fx = *state;
	struct energy_device_desc d;

	open_fixture(fx, "two_gpus.csv");
	assert_int_equal(fx->ops->device_count(fx->src), 2);
	fx->ops->device_desc(fx->src, 0, &d);
	assert_int_equal(d.kind, ENERGY_REPLAY);
	assert_string_equal(d.name, "gpu0");
	assert_string_equal(d.label, "replay of two_gpus.csv");
	assert_true(d.has_counter);
	assert_true(d.has_power);
	fx->ops->device_desc(fx->src, 1, &d);
	assert_string_equal(d.name, "gpu1");
}

/*
 * gpu0: energy 1000, 1100, 1400, 2000 J at t = 0, 1, 2, 4 s; readings are
 * relative to the first sample and linear between samples.
 */
static void test_energy_is_interpolated_from_the_first_sample(void **state)
{
	struct fixture *fx = *state;

	open_fixture(fx, "two_gpus.csv");
	check_energy(fx, 0, 0, 0);
	check_energy(fx, 0, 0.25, 25);
	check_energy(fx, 0, 0.5, 50);
	check_energy(fx, 0, 1, 100);
	check_energy(fx, 0, 1.5, 250);
	check_energy(fx, 0, 2, 400);
	check_energy(fx, 0, 3, 700);
	check_energy(fx, 0, 3.75, 925);
	check_energy(fx, 0, 4, 1000);
}

static void test_clamped_before_first_and_after_last_sample(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	open_fixture(fx, "two_gpus.csv");
	/* gpu1 starts at 0.5 s: before it, its first sample */
	r = at(fx, 1, 0.25);
	assert_true(r.energy_j == 0);
	assert_true(r.power_w == 50);
	assert_true(r.temperature_c == 35);
	/* a time before the open (a clock read just ahead of it) */
	r = at(fx, 0, -2);
	assert_true(r.energy_j == 0);
	assert_true(r.power_w == 100);
	/* after the end: the last sample, forever */
	r = at(fx, 0, 4.5);
	assert_true(r.energy_j == 1000);
	assert_true(r.power_w == 300);
	assert_true(r.temperature_c == 50);
	r = at(fx, 0, 3600);
	assert_true(r.energy_j == 1000);
}

/* Everything but energy is held from the latest sample at or before t. */
static void test_other_fields_hold_the_latest_sample(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	open_fixture(fx, "two_gpus.csv");
	r = at(fx, 0, 0.999);
	assert_true(r.power_w == 100);
	assert_true(r.temperature_c == 40);
	assert_true(r.memory_used_mb == 1024);
	assert_true(r.memory_total_mb == 81559);
	assert_true(r.utilization_pct == 0);
	assert_int_equal(r.throttle_reasons, 0);
	r = at(fx, 0, 1);
	assert_true(r.power_w == 300);
	assert_true(r.temperature_c == 41);
	assert_true(r.memory_used_mb == 2048);
	assert_true(r.utilization_pct == 50);
	r = at(fx, 0, 2.5);
	assert_true(r.temperature_c == 45);
	assert_int_equal(r.throttle_reasons, 4); /* written 0x4 */
	/* gpu1 reports no memory: empty cells are NaN */
	r = at(fx, 1, 2);
	assert_true(isnan(r.memory_used_mb));
	assert_true(isnan(r.memory_total_mb));
	assert_int_equal(r.throttle_reasons, 0);
	assert_true(r.utilization_pct == 20);
}

/*
 * gpu1's counter goes 5000000, 5000050, then back to 10 at 2.5 s, then 70:
 * the interval with the reset adds nothing, and the first read at or
 * after 2.5 s says so, once.
 */
static void test_counter_reset_is_flat_and_flagged_once(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	open_fixture(fx, "two_gpus.csv");
	r = at(fx, 1, 1);
	assert_true(r.energy_j == 25);
	assert_false(r.counter_reset);
	r = at(fx, 1, 2);
	assert_true(r.energy_j == 50);
	assert_false(r.counter_reset);
	r = at(fx, 1, 2.5);
	assert_true(r.energy_j == 50);
	assert_true(r.counter_reset);
	r = at(fx, 1, 2.5);
	assert_false(r.counter_reset);
	r = at(fx, 1, 3);
	assert_true(r.energy_j == 80);
	assert_false(r.counter_reset);
	r = at(fx, 1, 10);
	assert_true(r.energy_j == 110);
	assert_false(r.counter_reset);
	/* a first read far past the reset still reports it */
	fx->ops->close(fx->src);
	fx->src = NULL;
	open_fixture(fx, "two_gpus.csv");
	r = at(fx, 1, 10);
	assert_true(r.energy_j == 110);
	assert_true(r.counter_reset);
	/* gpu0 never resets */
	assert_false(at(fx, 0, 10).counter_reset);
}

static bool same(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static void test_csv_and_jsonl_play_the_same(void **state)
{
	struct fixture *fx = *state;
	struct fixture other = { 0 };
	char *path = fixture_path("two_gpus.jsonl");

	open_fixture(fx, "two_gpus.csv");
	open_ok(&other, path);
	free(path);
	assert_int_equal(other.ops->device_count(other.src), 2);
	for (size_t i = 0; i < 2; i++) {
		struct energy_device_desc a, b;

		fx->ops->device_desc(fx->src, i, &a);
		other.ops->device_desc(other.src, i, &b);
		assert_string_equal(a.name, b.name);
		assert_int_equal(a.has_counter, b.has_counter);
		assert_int_equal(a.has_power, b.has_power);
		assert_string_equal(b.label, "replay of two_gpus.jsonl");
		for (int k = -2; k <= 20; k++) {
			double tau = k * 0.25;
			struct energy_reading x = at(fx, i, tau);
			struct energy_reading y = at(&other, i, tau);

			assert_true(same(x.energy_j, y.energy_j));
			assert_true(same(x.power_w, y.power_w));
			assert_true(same(x.temperature_c, y.temperature_c));
			assert_true(same(x.memory_used_mb, y.memory_used_mb));
			assert_true(same(x.memory_total_mb, y.memory_total_mb));
			assert_true(same(x.utilization_pct, y.utilization_pct));
			assert_int_equal(x.throttle_reasons, y.throttle_reasons);
			assert_int_equal(x.counter_reset, y.counter_reset);
		}
	}
	other.ops->close(other.src);
}

/* Playback really follows the monotonic clock from the open. */
static void test_plays_on_the_monotonic_clock(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;
	uint64_t now;

	open_fixture(fx, "two_gpus.csv");
	now = clock_monotonic_ns();
	assert_int_equal(fx->ops->read(fx->src, 0, now, &r), 0);
	/* well under a second after the open: inside the first 100 W stretch */
	assert_true(r.energy_j >= 0 && r.energy_j < 100);
	assert_true(fabs(r.energy_j - 100 * (double)(now - energy_replay_start_ns(fx->src)) / 1e9) <
		    1e-6);
}

static char *write_trace(struct fixture *fx, const char *name, const char *text)
{
	char *path = fs_join(fx->dir, name);

	test_write_text(path, text);
	return path;
}

/* Blank lines, '#' comments, CRLF, spaces and any column order in CSV. */
static void test_csv_comments_blank_lines_any_column_order(void **state)
{
	struct fixture *fx = *state;
	char *path = write_trace(fx, "t.csv",
				 "\r\n# a comment\r\n"
				 "  device , t_s,power_w\r\n"
				 "\r\n"
				 "cpu, 0 ,10\r\n"
				 "   # indented comment\r\n"
				 "cpu,1,\r\n");
	struct energy_device_desc d;
	struct energy_reading r;

	open_ok(fx, path);
	free(path);
	assert_int_equal(fx->ops->device_count(fx->src), 1);
	fx->ops->device_desc(fx->src, 0, &d);
	assert_string_equal(d.name, "cpu");
	assert_false(d.has_counter);
	assert_true(d.has_power);
	r = at(fx, 0, 0.5);
	assert_true(isnan(r.energy_j));
	assert_true(r.power_w == 10);
	assert_false(r.counter_reset);
	r = at(fx, 0, 1);
	assert_true(isnan(r.power_w));
}

/* A sample without energy_j leaves the counter interpolated across it. */
static void test_missing_energy_cells_are_skipped(void **state)
{
	struct fixture *fx = *state;
	char *path = write_trace(fx, "t.jsonl",
				 "{\"t_s\": 0, \"device\": \"g\", \"energy_j\": 0}\n"
				 "{\"t_s\": 1, \"device\": \"g\", \"energy_j\": null}\n"
				 "{\"t_s\": 2, \"device\": \"g\"}\n"
				 "{\"t_s\": 4, \"device\": \"g\", \"energy_j\": 8}\n");
	struct energy_device_desc d;

	open_ok(fx, path);
	free(path);
	fx->ops->device_desc(fx->src, 0, &d);
	assert_true(d.has_counter);
	assert_false(d.has_power);
	check_energy(fx, 0, 1, 2);
	check_energy(fx, 0, 3, 6);
	assert_true(isnan(at(fx, 0, 3).power_w));
}

struct bad_trace {
	const char *name;
	const char *text;
	const char *error; /* after "replay: <path>:" */
	bool prefix;       /* error is only the start (jansson's wording follows) */
};

static const struct bad_trace bad_traces[] = {
	{ "t.csv", "t_s,device,energy\n", "1: unknown column 'energy' (did you mean 'energy_j'?)",
	  false },
	{ "t.csv", "# comment\n\nt_s,device,gpu_name\n", "3: unknown column 'gpu_name'", false },
	{ "t.csv", "t_s,device,t_s\n", "1: duplicate column 't_s'", false },
	{ "t.csv", "t_s,power_w\n0,1\n", "1: missing column 'device'", false },
	{ "t.csv", "device,energy_j\ng,1\n", "1: missing column 't_s'", false },
	{ "t.csv", "t_s,device,energy_j\n0,g,1\n1,g,abc\n", "3: energy_j: 'abc' is not a number",
	  false },
	{ "t.csv", "t_s,device,power_w\n0,g,nan\n", "2: power_w: 'nan' is not a number", false },
	{ "t.csv", "t_s,device\nzero,g\n", "2: t_s: 'zero' is not a number", false },
	{ "t.csv", "t_s,device,throttle_reasons\n0,g,-1\n",
	  "2: throttle_reasons: '-1' is not a non-negative integer", false },
	{ "t.csv", "t_s,device,throttle_reasons\n0,g,0x\n",
	  "2: throttle_reasons: '0x' is not a non-negative integer", false },
	{ "t.csv", "t_s,device\n1,g\n1.5,h\n# c\n0.5,g\n", "5: g: t_s 0.5 is not after 1 (line 2)",
	  false },
	{ "t.csv", "t_s,device\n1,g\n1,g\n", "3: g: t_s 1 is not after 1 (line 2)", false },
	{ "t.csv", "t_s,device,power_w\n0,g\n", "2: 2 fields where the header has 3", false },
	{ "t.csv", "t_s,device\n0,g,1,2,3,4,5,6,7,8,9\n",
	  "2: more than 9 fields where the header has 2", false },
	{ "t.csv", "t_s,device\n,g\n", "2: t_s is missing", false },
	{ "t.csv", "t_s,device\n0,\n", "2: device is missing", false },
	{ "t.csv", "t_s,device\n0,\"g\"\n", "2: quoted fields are not supported", false },
	{ "t.csv", "t_s,device\n0,abcdefghijabcdefghijabcdefghijabcdefghijabcdefgh\n",
	  "2: device name 'abcdefghijabcdefghijabcdefghijabcdefghijabcdefgh' "
	  "is longer than 47 bytes",
	  false },
	{ "t.csv", "t_s,device\n", " no samples", false },
	{ "t.csv", "\n# only comments\n", " no header row", false },
	{ "t.jsonl", "", " no samples", false },
	{ "t.jsonl", "{\"t_s\": 0, \"device\": \"g\"}\n{\"t_s\": 1, \"devce\": \"g\"}\n",
	  "2: unknown key 'devce' (did you mean 'device'?)", false },
	{ "t.jsonl", "\n{\"t_s\": 0, \"device\": \"g\", \"power_w\": \"5\"}\n",
	  "2: power_w: expected a number", false },
	{ "t.jsonl", "{\"t_s\": 0, \"device\": 7}\n", "1: device: expected a string", false },
	{ "t.jsonl", "{\"device\": \"g\"}\n", "1: t_s is missing", false },
	{ "t.jsonl", "{\"t_s\": 0, \"device\": \"g\", \"throttle_reasons\": 1.5}\n",
	  "1: throttle_reasons: expected a non-negative integer", false },
	{ "t.jsonl", "[1, 2]\n", "1: expected a JSON object", false },
	{ "t.jsonl", "# comment\n", "1: invalid JSON at column 1: ", true },
	{ "t.jsonl", "{\"t_s\": 0, \"t_s\": 1, \"device\": \"g\"}\n", "1: invalid JSON at column ",
	  true },
	{ "t.jsonl", "{\"t_s\": 2, \"device\": \"g\"}\n{\"t_s\": 1, \"device\": \"g\"}\n",
	  "2: g: t_s 1 is not after 2 (line 1)", false },
};

static void test_validation_errors_name_file_and_line(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad_traces); i++) {
		const struct bad_trace *b = &bad_traces[i];
		char *path = write_trace(fx, b->name, b->text);
		char *expect = xasprintf("replay: %s:%s", path, b->error);
		int rc = energy_replay_open(&fx->src, &fx->ops, path, &fx->why);

		bool match = fx->why && (b->prefix ? str_starts_with(fx->why, expect)
						   : strcmp(fx->why, expect) == 0);

		if (rc != LLEM_EINVAL || !match)
			fail_msg("case %zu: rc %d\n  got:      %s\n  expected: %s", i, rc,
				 fx->why ? fx->why : "(null)", expect);
		assert_null(fx->src);
		assert_null(fx->ops);
		assert_string_equal(llem_error_last(), fx->why);
		free(fx->why);
		fx->why = NULL;
		free(expect);
		free(path);
	}
}

static void test_unknown_format_and_missing_file(void **state)
{
	struct fixture *fx = *state;
	char *path = write_trace(fx, "t.txt", "t_s,device\n0,g\n");
	char *expect = xasprintf("replay: %s: unknown trace format (expected a "
				 ".csv or .jsonl file)",
				 path);

	assert_int_equal(energy_replay_open(&fx->src, &fx->ops, path, &fx->why), LLEM_EINVAL);
	assert_string_equal(fx->why, expect);
	free(fx->why);
	free(expect);
	free(path);

	path = fs_join(fx->dir, "missing.csv");
	assert_int_equal(energy_replay_open(&fx->src, &fx->ops, path, &fx->why), LLEM_ENOTFOUND);
	assert_null(fx->src);
	assert_non_null(strstr(fx->why, path));
	assert_non_null(strstr(fx->why, "No such file"));
	assert_true(str_starts_with(fx->why, "replay: "));
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_devices_in_first_appearance_order),
		T(test_energy_is_interpolated_from_the_first_sample),
		T(test_clamped_before_first_and_after_last_sample),
		T(test_other_fields_hold_the_latest_sample),
		T(test_counter_reset_is_flat_and_flagged_once),
		T(test_csv_and_jsonl_play_the_same),
		T(test_plays_on_the_monotonic_clock),
		T(test_csv_comments_blank_lines_any_column_order),
		T(test_missing_energy_cells_are_skipped),
		T(test_validation_errors_name_file_and_line),
		T(test_unknown_format_and_missing_file),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
