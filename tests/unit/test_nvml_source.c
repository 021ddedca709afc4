/*
 * The NVML energy source against the fake libnvidia-ml.so.1
 * (tests/fakes/fake_nvml.c), loaded through the real dlopen path: energy
 * from the counter, power from field 186 or its fallback, resets, lost
 * GPUs, and CUDA_VISIBLE_DEVICES selection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "energy/energy.h"
#include "env/env.h"
#include "llem/errors.h"
#include "util/util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UUID0 "GPU-8a1b2c3d-0000-4000-8000-000000000001"
#define UUID1 "GPU-8a1b77f0-0000-4000-8000-000000000002"

static int reset_env(void **state)
{
	static const char *const vars[] = {
		"LLEM_NVML_LIBRARY",        "FAKE_NVML_GPUS",           "FAKE_NVML_NAME",
		"FAKE_NVML_MEMORY_MB",      "FAKE_NVML_DRIVER",         "FAKE_NVML_CUDA",
		"FAKE_NVML_INIT_FAIL",      "FAKE_NVML_POWER_LIMIT_MW", "FAKE_NVML_PERSISTENCE",
		"FAKE_NVML_POWER_MW",       "FAKE_NVML_POWER_AVG_MW",   "FAKE_NVML_ENERGY_MJ",
		"FAKE_NVML_TEMP_C",         "FAKE_NVML_UTIL_PCT",       "FAKE_NVML_THROTTLE",
		"FAKE_NVML_UUIDS",          "FAKE_NVML_NO_ENERGY",      "FAKE_NVML_NO_FIELDS",
		"FAKE_NVML_RESET_AFTER_MS", "FAKE_NVML_LOST_AFTER_MS",  "FAKE_NVML_LOST_GPU",
	};
	const char *dir = getenv("LLEM_FAKE_NVML_DIR");
	char *path;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		unsetenv(vars[i]);
	assert_non_null(dir);
	path = xasprintf("%s/libnvidia-ml.so.1", dir);
	setenv("LLEM_NVML_LIBRARY", path, 1);
	free(path);
	return 0;
}

/* |a - b| <= eps, with both values in the failure message. */
#define assert_near(a, b, eps) near_or_fail((a), (b), (eps), #a, __FILE__, __LINE__)

static void near_or_fail(double a, double b, double eps, const char *what, const char *file,
			 int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("%s:%d: %s = %.9g, expected %.9g +- %g", file, line, what, a, b, eps);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

struct opened {
	void *src;
	const struct energy_source_ops *ops;
};

/*
 * Sources a test has open. A failing assertion jumps out of the test
 * before its close; the teardown closes what is left, or the fake would
 * stay initialised and its clock run on into the next test.
 */
static struct opened still_open[4];

static void track(const struct opened *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(still_open); i++)
		if (!still_open[i].src) {
			still_open[i] = *o;
			return;
		}
	fail_msg("more than %zu sources open", ARRAY_SIZE(still_open));
}

static void close_src(struct opened *o)
{
	struct opened closing = *o;

	for (size_t i = 0; i < ARRAY_SIZE(still_open); i++)
		if (still_open[i].src == closing.src)
			still_open[i].src = NULL;
	o->src = NULL;
	closing.ops->close(closing.src);
}

static int close_leftovers(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(still_open); i++)
		if (still_open[i].src)
			close_src(&still_open[i]);
	return 0;
}

static struct opened open_ok(const char *visible)
{
	struct opened o = { NULL, NULL };
	char *why = (char *)"unset";
	int rc = energy_nvml_open(&o.src, &o.ops, visible, &why);

	if (rc != 0)
		fail_msg("energy_nvml_open(%s): %d %s", visible ? visible : "NULL", rc,
			 why ? why : "(no why)");
	assert_null(why);
	assert_non_null(o.src);
	assert_non_null(o.ops);
	track(&o);
	assert_string_equal(o.ops->name, "nvml");
	return o;
}

/* Opening must fail with code; returns the why string (caller frees). */
static char *open_fails(const char *visible, int code)
{
	void *src = (void *)1;
	const struct energy_source_ops *ops = (const void *)1;
	char *why = NULL;

	assert_int_equal(energy_nvml_open(&src, &ops, visible, &why), code);
	assert_null(src);
	assert_null(ops);
	assert_non_null(why);
	assert_true(str_starts_with(why, "NVML: "));
	/* the same message is the thread's last error */
	assert_string_equal(error_last(), why);
	return why;
}

static struct energy_reading read_dev(const struct opened *o, size_t i)
{
	struct energy_reading r;

	assert_int_equal(o->ops->read(o->src, i, clock_monotonic_ns(), &r), 0);
	return r;
}

static struct energy_device_desc desc_of(const struct opened *o, size_t i)
{
	struct energy_device_desc d;

	o->ops->device_desc(o->src, i, &d);
	return d;
}

/* ---- energy and telemetry ---- */

static void test_nvml_energy_equals_power_times_elapsed_on_two_gpus(void **state)
{
	static const double power_w[2] = { 300.0, 150.0 };
	struct energy_reading r0[2], r1[2];
	struct opened o;

	(void)state;
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_POWER_MW", "300000,150000", 1);
	setenv("FAKE_NVML_UTIL_PCT", "70", 1);
	setenv("FAKE_NVML_TEMP_C", "61", 1);
	o = open_ok(NULL);
	assert_int_equal(o.ops->device_count(o.src), 2);
	for (size_t i = 0; i < 2; i++) {
		struct energy_device_desc d = desc_of(&o, i);
		char name[16];

		snprintf(name, sizeof(name), "gpu%zu", i);
		assert_int_equal(d.kind, ENERGY_NVML);
		assert_string_equal(d.name, name);
		assert_string_equal(d.label, "Fake GPU 80GB");
		assert_true(d.has_counter);
		assert_true(d.has_power);
		r0[i] = read_dev(&o, i);
	}
	sleep_ms(200);
	for (size_t i = 0; i < 2; i++)
		r1[i] = read_dev(&o, i);

	for (size_t i = 0; i < 2; i++) {
		double elapsed_s = (double)(r1[i].t_ns - r0[i].t_ns) / 1e9;
		double expect_j = power_w[i] * elapsed_s;
		double got_j = r1[i].energy_j - r0[i].energy_j;

		assert_true(r0[i].valid && r1[i].valid);
		assert_false(r0[i].counter_reset || r1[i].counter_reset);
		/* energy counts from the open: the first read is near zero */
		assert_true(r0[i].energy_j >= 0.0 && r0[i].energy_j < power_w[i] * 0.05);
		assert_true(elapsed_s >= 0.19);
		if (fabs(got_j - expect_j) > 0.01 * expect_j)
			fail_msg("gpu%zu: %.3f J over %.4f s, expected %.3f J", i, got_j, elapsed_s,
				 expect_j);
		assert_near(r1[i].power_w, power_w[i], 1e-9);
		assert_near(r1[i].temperature_c, 61.0, 1e-9);
		assert_near(r1[i].memory_total_mb, 81559.0, 1e-9);
		/* the fake reports 1 % of the memory in use */
		assert_near(r1[i].memory_used_mb, 815.59, 0.001);
		assert_near(r1[i].utilization_pct, 70.0, 1e-9);
		assert_true(r1[i].throttle_reasons == 0);
		assert_true(r1[i].t_ns > r0[i].t_ns);
	}
	close_src(&o);
}

static void test_nvml_power_is_the_instant_field(void **state)
{
	struct energy_reading r;
	struct opened o;

	(void)state;
	/* nvmlDeviceGetPowerUsage (a 1 s average on Ampere+) says 250 W */
	setenv("FAKE_NVML_POWER_MW", "300000", 1);
	setenv("FAKE_NVML_POWER_AVG_MW", "250000", 1);
	o = open_ok(NULL);
	r = read_dev(&o, 0);
	assert_true(r.valid);
	assert_near(r.power_w, 300.0, 1e-9);
	close_src(&o);
}

static void check_power_usage_fallback(const char *no_fields)
{
	struct energy_reading r;
	struct energy_device_desc d;
	struct opened o;

	setenv("FAKE_NVML_POWER_MW", "300000", 1);
	setenv("FAKE_NVML_POWER_AVG_MW", "250000", 1);
	setenv("FAKE_NVML_NO_FIELDS", no_fields, 1);
	o = open_ok(NULL);
	d = desc_of(&o, 0);
	assert_true(d.has_power);
	assert_true(d.has_counter);
	r = read_dev(&o, 0);
	assert_true(r.valid);
	assert_near(r.power_w, 250.0, 1e-9);
	assert_true(isfinite(r.energy_j));
	close_src(&o);
}

static void test_nvml_power_falls_back_without_field_api(void **state)
{
	(void)state;
	check_power_usage_fallback("1");
}

static void test_nvml_power_falls_back_when_field_unsupported(void **state)
{
	(void)state;
	check_power_usage_fallback("field");
}

static void test_nvml_without_counter_energy_is_nan(void **state)
{
	struct energy_reading r;
	struct energy_device_desc d;
	struct opened o;

	(void)state;
	setenv("FAKE_NVML_NO_ENERGY", "1", 1);
	o = open_ok(NULL);
	d = desc_of(&o, 0);
	assert_false(d.has_counter);
	assert_true(d.has_power);
	r = read_dev(&o, 0);
	assert_true(r.valid);
	assert_true(isnan(r.energy_j));
	assert_false(r.counter_reset);
	assert_near(r.power_w, 300.0, 1e-9);
	close_src(&o);
}

static void test_nvml_counter_reset_flagged_once_energy_monotone(void **state)
{
	struct energy_reading r[5];
	size_t resets = 0;
	struct opened o;

	(void)state;
	setenv("FAKE_NVML_POWER_MW", "100000", 1);
	setenv("FAKE_NVML_ENERGY_MJ", "5000000", 1);
	/* margins of 200 ms either side of the reset, for loaded machines */
	setenv("FAKE_NVML_RESET_AFTER_MS", "300", 1);
	o = open_ok(NULL);
	r[0] = read_dev(&o, 0);
	sleep_ms(100);
	r[1] = read_dev(&o, 0);
	sleep_ms(400); /* past the reset: the counter fell to ~20 J */
	r[2] = read_dev(&o, 0);
	sleep_ms(100);
	r[3] = read_dev(&o, 0);
	sleep_ms(50);
	r[4] = read_dev(&o, 0);
	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		assert_true(r[i].valid);
		if (r[i].counter_reset)
			resets++;
		if (i > 0)
			assert_true(r[i].energy_j >= r[i - 1].energy_j);
	}
	assert_int_equal(resets, 1);
	assert_true(r[2].counter_reset);
	/* the unseen stretch around the reset adds nothing, no guess */
	assert_near(r[2].energy_j, r[1].energy_j, 1e-9);
	/* after it, energy grows at the scripted power again */
	for (size_t i = 3; i < ARRAY_SIZE(r); i++) {
		double dt = (double)(r[i].t_ns - r[i - 1].t_ns) / 1e9;
		double de = r[i].energy_j - r[i - 1].energy_j;

		assert_true(fabs(de - 100.0 * dt) <= 0.01 * 100.0 * dt + 0.002);
	}
	close_src(&o);
}

static void test_nvml_lost_gpu_reads_invalid_others_go_on(void **state)
{
	struct energy_reading r;
	struct opened o;

	(void)state;
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_LOST_AFTER_MS", "100", 1);
	setenv("FAKE_NVML_LOST_GPU", "1", 1);
	o = open_ok(NULL);
	r = read_dev(&o, 1);
	assert_true(r.valid);
	sleep_ms(150);
	for (int k = 0; k < 3; k++) {
		r = read_dev(&o, 1);
		assert_false(r.valid);
		assert_false(r.counter_reset);
		assert_true(isnan(r.energy_j));
		assert_true(isnan(r.power_w));
		assert_true(isnan(r.temperature_c));
		assert_true(r.t_ns > 0);
		r = read_dev(&o, 0);
		assert_true(r.valid);
		assert_true(r.energy_j > 0.0);
	}
	close_src(&o);
}

static void test_nvml_all_gpus_lost_no_crash(void **state)
{
	struct energy_reading r;
	struct opened o;

	(void)state;
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_LOST_AFTER_MS", "50", 1);
	o = open_ok(NULL);
	sleep_ms(80);
	for (size_t i = 0; i < 2; i++) {
		r = read_dev(&o, i);
		assert_false(r.valid);
	}
	close_src(&o);
}

static void test_nvml_throttle_bits_passed_through(void **state)
{
	struct energy_reading r;
	struct opened o;

	(void)state;
	/* SwPowerCap | SwThermalSlowdown */
	setenv("FAKE_NVML_THROTTLE", "0x24", 1);
	o = open_ok(NULL);
	r = read_dev(&o, 0);
	assert_true(r.valid);
	assert_true(r.throttle_reasons == 0x24);
	close_src(&o);
}

static void test_nvml_read_out_of_range_is_einval(void **state)
{
	struct energy_reading r;
	struct energy_device_desc d;
	struct opened o;

	(void)state;
	o = open_ok(NULL);
	assert_int_equal(o.ops->read(o.src, 1, clock_monotonic_ns(), &r), LLEM_EINVAL);
	assert_false(r.valid);
	o.ops->device_desc(o.src, 7, &d);
	assert_string_equal(d.name, "");
	close_src(&o);
}

/* ---- CUDA_VISIBLE_DEVICES ---- */

static void two_gpus_with_uuids(void)
{
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_POWER_MW", "300000,150000", 1);
	setenv("FAKE_NVML_UUIDS", UUID0 "," UUID1, 1);
}

/* Opens with visible and checks the GPUs measured, by name, in order. */
static void check_visible(const char *visible, const char *const *names, size_t n)
{
	struct opened o = open_ok(visible);

	assert_int_equal(o.ops->device_count(o.src), n);
	for (size_t i = 0; i < n; i++) {
		struct energy_device_desc d = desc_of(&o, i);

		assert_string_equal(d.name, names[i]);
	}
	close_src(&o);
}

static void test_visible_index_selects_one_gpu(void **state)
{
	static const char *const gpu1[] = { "gpu1" };
	struct energy_reading r;
	struct opened o;

	(void)state;
	two_gpus_with_uuids();
	check_visible("1", gpu1, 1);
	/* and it is really the second board */
	o = open_ok("1");
	r = read_dev(&o, 0);
	assert_near(r.power_w, 150.0, 1e-9);
	close_src(&o);
}

static void test_visible_uuid_prefix_selects_gpu(void **state)
{
	static const char *const gpu1[] = { "gpu1" };
	static const char *const gpu0[] = { "gpu0" };
	static const char *const both[] = { "gpu1", "gpu0" };

	(void)state;
	two_gpus_with_uuids();
	check_visible("GPU-8a1b77", gpu1, 1);
	check_visible(UUID0, gpu0, 1);
	check_visible("GPU-8A1B2C", gpu0, 1); /* hex digits in either case */
	check_visible("GPU-8a1b77f0, 0", both, 2);
}

static void test_visible_order_kept_and_blanks_ignored(void **state)
{
	static const char *const order[] = { "gpu1", "gpu0" };

	(void)state;
	two_gpus_with_uuids();
	check_visible(" 1 ,0", order, 2);
}

static void test_visible_stops_at_first_invalid_entry_like_cuda(void **state)
{
	static const char *const gpu0[] = { "gpu0" };
	static const char *const gpu1[] = { "gpu1" };

	(void)state;
	two_gpus_with_uuids();
	check_visible("0,5", gpu0, 1);
	check_visible("0,-1,1", gpu0, 1);
	check_visible("1,GPU-ffff,0", gpu1, 1);
	check_visible("1,1,0", gpu1, 1); /* a repeat ends the list too */
}

static void test_visible_nothing_matches_is_error_with_reason(void **state)
{
	char *why;

	(void)state;
	two_gpus_with_uuids();
	why = open_fails("5,0", LLEM_ENOTFOUND);
	assert_string_equal(why, "NVML: no GPU matches CUDA_VISIBLE_DEVICES=5,0: "
				 "'5' is not a GPU index (NVML sees 2 GPUs)");
	free(why);
	why = open_fails("-1", LLEM_ENOTFOUND);
	assert_non_null(strstr(why, "'-1' is neither a GPU index nor a GPU-<uuid>"));
	free(why);
	why = open_fails("GPU-0000", LLEM_ENOTFOUND);
	assert_non_null(strstr(why, "'GPU-0000' matches no GPU UUID"));
	free(why);
	why = open_fails("GPU-8a1b", LLEM_ENOTFOUND);
	assert_non_null(strstr(why, "'GPU-8a1b' matches 2 GPUs"));
	free(why);
	why = open_fails("", LLEM_ENOTFOUND);
	assert_string_equal(why, "NVML: no GPU matches CUDA_VISIBLE_DEVICES=: the "
				 "value is empty, so CUDA sees no GPU");
	free(why);
}

static void test_visible_mig_is_refused(void **state)
{
	char *why;

	(void)state;
	two_gpus_with_uuids();
	why = open_fails("MIG-4b4e1b6a-7d1f-5b0e-9a8c-1d2e3f405060", LLEM_ENOTSUP);
	assert_non_null(strstr(why, "MIG"));
	assert_non_null(strstr(why, "whole-board"));
	free(why);
	why = open_fails("0,MIG-4b4e1b6a", LLEM_ENOTSUP);
	free(why);
}

/* ---- failures to open ---- */

static void test_nvml_no_library_gives_why(void **state)
{
	void *system_lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	char *why;

	(void)state;
	if (system_lib) {
		/* a real driver is installed: absence cannot be shown here */
		dlclose(system_lib);
		skip();
	}
	setenv("LLEM_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
	why = open_fails(NULL, LLEM_ENOTFOUND);
	assert_true(str_starts_with(why, "NVML: libnvidia-ml.so.1 not found "
					 "(no NVIDIA driver)"));
	free(why);
}

static void test_nvml_init_failure_gives_why(void **state)
{
	char *why;

	(void)state;
	setenv("FAKE_NVML_INIT_FAIL", "1", 1);
	why = open_fails(NULL, LLEM_ERROR);
	assert_string_equal(why, "NVML: nvmlInit failed: Unknown Error");
	free(why);
}

static void test_nvml_no_gpus_gives_why(void **state)
{
	char *why;

	(void)state;
	setenv("FAKE_NVML_GPUS", "0", 1);
	why = open_fails(NULL, LLEM_ENOTFOUND);
	assert_string_equal(why, "NVML: no NVIDIA GPU found");
	free(why);
}

static void test_nvml_selected_gpu_lost_at_open_gives_why(void **state)
{
	static const char *const gpu0[] = { "gpu0" };
	char *why;

	(void)state;
	setenv("FAKE_NVML_GPUS", "2", 1);
	setenv("FAKE_NVML_UUIDS", UUID0 "," UUID1, 1);
	setenv("FAKE_NVML_LOST_AFTER_MS", "0", 1);
	setenv("FAKE_NVML_LOST_GPU", "1", 1);
	/* leaving a GPU out would under-count the run: refuse */
	why = open_fails(NULL, LLEM_ERROR);
	assert_string_equal(why, "NVML: gpu1: nvmlDeviceGetHandleByIndex failed: "
				 "GPU is lost");
	free(why);
	/* a lost GPU that is not selected does not matter */
	check_visible("0", gpu0, 1);
	check_visible("GPU-8a1b2c", gpu0, 1);
}

/* ---- the binding ---- */

static void test_nvml_binding_field_values_layout(void **state)
{
	struct nvml_lib lib;
	nvmlDevice_t dev;
	nvmlFieldValue_t v[3];
	nvmlUtilization_t u;
	unsigned long long bits = 0;
	struct timespec now;

	(void)state;
	setenv("FAKE_NVML_POWER_MW", "312345", 1);
	setenv("FAKE_NVML_UTIL_PCT", "40", 1);
	setenv("FAKE_NVML_THROTTLE", "4", 1);
	assert_int_equal(nvml_lib_load(&lib), 0);
	assert_non_null(lib.device_get_field_values);
	assert_non_null(lib.device_get_utilization_rates);
	assert_non_null(lib.device_get_clocks_event_reasons);
	assert_int_equal(lib.device_get_handle_by_index(0, &dev), NVML_SUCCESS);

	/* three records in one call: the stride must be NVML's 40 bytes */
	memset(v, 0, sizeof(v));
	v[0].fieldId = 83; /* NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION */
	v[1].fieldId = NVML_FI_DEV_POWER_INSTANT;
	v[2].fieldId = 9999;
	assert_int_equal(lib.device_get_field_values(dev, 3, v), NVML_SUCCESS);
	assert_int_equal(v[0].nvmlReturn, NVML_SUCCESS);
	assert_int_equal(v[0].valueType, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG);
	assert_true(v[0].value.ullVal >= 1000000ull);
	assert_int_equal(v[1].nvmlReturn, NVML_SUCCESS);
	assert_int_equal(v[1].valueType, NVML_VALUE_TYPE_UNSIGNED_INT);
	assert_int_equal(v[1].value.uiVal, 312345);
	clock_gettime(CLOCK_REALTIME, &now);
	assert_true(llabs(v[1].timestamp - (long long)now.tv_sec * 1000000) < 60 * 1000000ll);
	assert_int_equal(v[2].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);

	assert_int_equal(lib.device_get_utilization_rates(dev, &u), NVML_SUCCESS);
	assert_int_equal(u.gpu, 40);
	assert_int_equal(lib.device_get_clocks_event_reasons(dev, &bits), NVML_SUCCESS);
	assert_true(bits == 4);
	nvml_lib_unload(&lib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset_env, close_leftovers)
		T(test_nvml_energy_equals_power_times_elapsed_on_two_gpus),
		T(test_nvml_power_is_the_instant_field),
		T(test_nvml_power_falls_back_without_field_api),
		T(test_nvml_power_falls_back_when_field_unsupported),
		T(test_nvml_without_counter_energy_is_nan),
		T(test_nvml_counter_reset_flagged_once_energy_monotone),
		T(test_nvml_lost_gpu_reads_invalid_others_go_on),
		T(test_nvml_all_gpus_lost_no_crash),
		T(test_nvml_throttle_bits_passed_through),
		T(test_nvml_read_out_of_range_is_einval),
		T(test_visible_index_selects_one_gpu),
		T(test_visible_uuid_prefix_selects_gpu),
		T(test_visible_order_kept_and_blanks_ignored),
		T(test_visible_stops_at_first_invalid_entry_like_cuda),
		T(test_visible_nothing_matches_is_error_with_reason),
		T(test_visible_mig_is_refused),
		T(test_nvml_no_library_gives_why),
		T(test_nvml_init_failure_gives_why),
		T(test_nvml_no_gpus_gives_why),
		T(test_nvml_selected_gpu_lost_at_open_gives_why),
		T(test_nvml_binding_field_values_layout),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
