/*
 * Tests for the result model: result.json round-trips byte for byte with
 * every double bit-exact, nulls survive both ways, the reader is strict and
 * names the key path, saving is atomic, and the latency statistics equal
 * numpy's (reference values computed with numpy 2.4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "results/results.h"
#include "util/util.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AWKWARD_STRING                                                                             \
	"ctl\x01\x1f\x7f tab\t nl\n quote\" bs\\ slash/ "                                          \
	"\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80"

static const double awkward[] = { 0.1,
				  1e-7,
				  123456789.123456789,
				  5e-324,
				  1.7976931348623157e308,
				  -0.0,
				  0.30000000000000004,
				  2.2250738585072014e-308,
				  1e16,
				  1e22,
				  -123.456,
				  9007199254740993.0 };

static bool same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* A result with every field set; values chosen to be awkward to print. */
static void fill_full(struct llem_result *r)
{
	struct result_energy_device *d;
	struct env_snapshot *env = &r->environment;
	static const double itl[] = { 12.5, 11.0, 0.1, 13.25, 1e-7 };

	result_init(r);
	r->experiment_id = xstrdup("c1_synthetic-smollm-135m_native_0123abcd");
	r->config_hash = xstrdup("0123456789abcdef");
	r->model = xstrdup("synthetic/smollm-135m");
	r->backend = xstrdup("native");
	r->backend_version = xstrdup("0.1.0");
	r->methodology = RESULT_METHODOLOGY_WINDOWED;
	r->steady_state_window.present = true;
	r->steady_state_window.start_s = 0.1;
	r->steady_state_window.end_s = 123456789.123456789;
	r->start_time = xstrdup("2026-03-13T14:21:11.145237Z");
	r->end_time = xstrdup("2026-03-13T14:22:11.000001Z");
	r->duration_s = 59.854764;
	r->inference_time_s = 1e-7;
	r->tokens.requests = 100;
	r->tokens.input_tokens = 9007199254740993LL; /* 2^53 + 1 */
	r->tokens.output_tokens = 640;
	r->tokens.total_tokens = 9007199254740993LL + 640;
	r->throughput.output_tokens_per_s = 5e-324;
	r->throughput.total_tokens_per_s = 1.7976931348623157e308;
	r->throughput.requests_per_s = 0.30000000000000004;

	r->energy.present = true;
	r->energy.total_energy_j = 228.04;
	r->energy.energy_adjusted_j = 68.96;
	r->energy.energy_per_output_token_j = 228.04 / 640;
	r->energy.energy_adjusted_per_output_token_j = 68.96 / 640;
	r->energy.mean_power_w = 228.04 / 59.854764;
	r->energy.baseline.method = RESULT_BASELINE_CACHED;
	r->energy.baseline.power_w = 35.95;
	r->energy.baseline.measured_at = xstrdup("2026-03-13T14:19:00Z");
	r->energy.baseline.age_s = 87.9;
	r->energy.baseline.duration_s = 30.0;
	r->energy.baseline.samples = 300;
	d = result_add_energy_device(r);
	d->source = RESULT_SOURCE_NVML;
	d->device = xstrdup("gpu0");
	d->method = RESULT_ENERGY_COUNTER;
	d->energy_j = 200.0;
	d->integral_energy_j = 199.87654321;
	d->baseline_power_w = 30.0;
	d->energy_adjusted_j = 50.0;
	d->power_samples = 598;
	d = result_add_energy_device(r);
	d->source = RESULT_SOURCE_RAPL;
	d->device = xstrdup("dram-0");
	d->method = RESULT_ENERGY_INTEGRAL;
	d->energy_j = 28.04;
	d->power_samples = 0;

	r->flops.total_flops = 4.778e11;
	r->flops.prefill_flops = 3.185e11;
	r->flops.decode_flops = 1.593e11;
	r->flops.flops_per_output_token = 4.778e11 / 640;
	r->flops.method = xstrdup("2N+attention");
	r->model_info.parameters = 134515008;
	r->model_info.non_embedding_parameters = 106205184;
	r->model_info.layers = 30;
	r->model_info.hidden_size = 576;
	r->model_info.attention_heads = 9;
	r->model_info.kv_heads = 3;
	r->model_info.vocab_size = 49152;
	r->model_info.dtype = xstrdup("float32");
	r->model_info.weights_bytes = INT64_MAX;

	result_stats_compute(&r->latency.ttft_ms, itl, 3);
	result_stats_compute(&r->latency.itl_ms, itl, ARRAY_SIZE(itl));
	result_stats_compute(&r->latency.e2e_ms, NULL, 0);
	r->memory.model_memory_mb = 513.25;
	r->memory.peak_memory_mb = 1e-7;
	r->memory.method = xstrdup("rss");
	r->thermal.present = true;
	r->thermal.max_temperature_c = 71.0;
	r->thermal.start_temperature_c = 45.5;
	r->thermal.end_temperature_c = 70.25;
	r->thermal.throttle_detected = true;
	r->thermal.hw_thermal = true;
	r->thermal.thermal = true;
	r->thermal.throttled_duration_s = 0.1;
	r->thermal.samples = 599;
	r->warmup.enabled = true;
	r->warmup.mode = RESULT_WARMUP_CV;
	r->warmup.iterations_completed = 7;
	r->warmup.converged = true;
	r->warmup.final_cv = 0.0123;
	r->warmup.target_cv = 0.05;
	r->warmup.thermal_floor_wait_s = 60.0;
	result_warmup_add_latency(r, 101.5);
	result_warmup_add_latency(r, NAN);
	result_warmup_add_latency(r, 5e-324);

	env->collected_at = xstrdup("2026-03-13T14:18:00.000000Z");
	env->cpu_model = xstrdup("AMD EPYC 7R13 Processor");
	env->cpu_logical_cores = 16;
	env->cpu_physical_cores = 8;
	env->cpu_governor = NULL;
	env->memory_total_mb = 131072;
	env->kernel = xstrdup("Linux 6.1.0");
	env->arch = xstrdup("x86_64");
	env->distro = xstrdup(AWKWARD_STRING);
	env->nvml.loaded = true;
	env->nvml.library_path = xstrdup("/usr/lib/libnvidia-ml.so.1");
	env->nvml.driver_version = xstrdup("550.54.15");
	env->nvml.cuda_driver_version = xstrdup("12.4");
	env->nvml.gpu_count = 3;
	env->nvml.gpus = xcalloc(3, sizeof(*env->nvml.gpus));
	env->nvml.gpus[0].index = 0;
	env->nvml.gpus[0].name = xstrdup("NVIDIA H100 80GB HBM3");
	env->nvml.gpus[0].uuid = xstrdup("GPU-1234");
	env->nvml.gpus[0].memory_total_mb = 81559;
	env->nvml.gpus[0].power_limit_w = 700.0;
	env->nvml.gpus[0].persistence_mode = 1;
	env->nvml.gpus[1].index = 1;
	env->nvml.gpus[1].memory_total_mb = -1;
	env->nvml.gpus[1].power_limit_w = NAN;
	env->nvml.gpus[1].persistence_mode = 0;
	env->nvml.gpus[2].index = 2;
	env->nvml.gpus[2].memory_total_mb = 0;
	env->nvml.gpus[2].power_limit_w = 0.1;
	env->nvml.gpus[2].persistence_mode = -1;
	env->llem_version = xstrdup("0.1.0");
	env->llem_build = xstrdup("commit abc, Debug, GNU 12");

	result_add_warning(r, "short_measurement_duration: measurement < 10s");
	result_add_warning(r, "%s", AWKWARD_STRING);
	result_add_warning(r, "%s", "");
	r->timeseries = xstrdup("timeseries.parquet");
	r->effective_config =
		xstrdup("{\"backend\": \"native\", \"decoder\": {\"temperature\": 0.1, "
			"\"top_k\": 50}, \"model\": \"synthetic/smollm-135m\", "
			"\"n\": 100, \"list\": [1.0, 1e-07, null, true, false, \"\\u00e9\"], "
			"\"empty\": {}, \"none\": []}");
}

/* The smallest valid result: everything optional is null. */
static void fill_minimal(struct llem_result *r)
{
	result_init(r);
	r->experiment_id = xstrdup("x");
	r->config_hash = xstrdup("fedcba9876543210");
	r->model = xstrdup("m");
	r->backend = xstrdup("native");
	r->start_time = xstrdup("2026-01-01T00:00:00Z");
	r->end_time = xstrdup("2026-01-01T00:00:01Z");
	r->duration_s = 1.0;
	r->tokens.requests = 0;
	r->tokens.input_tokens = 0;
	r->tokens.output_tokens = 0;
	r->tokens.total_tokens = 0;
	r->energy_null_reason = xstrdup("no energy source on this machine");
}

static char *to_json(const struct llem_result *r)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(result_to_json(r, &sb), 0);
	return strbuf_detach(&sb);
}

/* Writes text with `from` replaced by `to` (first occurrence, must exist). */
static char *replace_once(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	struct strbuf sb = STRBUF_INIT;

	assert_non_null(at);
	strbuf_add(&sb, text, (size_t)(at - text));
	strbuf_adds(&sb, to);
	strbuf_adds(&sb, at + strlen(from));
	return strbuf_detach(&sb);
}

/* Parsing text must fail with LLEM_EINVAL and a message holding each want. */
static void assert_rejected(const char *text, const char *want1, const char *want2)
{
	struct llem_result r;
	int rc = result_from_json(&r, text, "dir/result.json");

	if (rc != LLEM_EINVAL)
		fail_msg("accepted or wrong code %d: %s", rc, error_last());
	if (!strstr(error_last(), "dir/result.json"))
		fail_msg("message lacks the file: %s", error_last());
	if (want1 && !strstr(error_last(), want1))
		fail_msg("message lacks '%s': %s", want1, error_last());
	if (want2 && !strstr(error_last(), want2))
		fail_msg("message lacks '%s': %s", want2, error_last());
	/* Left as result_init leaves it: nothing to free, nothing leaked. */
	assert_null(r.experiment_id);
	assert_int_equal(r.warning_count, 0);
	result_release(&r);
}

static void test_full_result_round_trips_byte_exact(void **state)
{
	struct llem_result a, b;
	char *first, *second;
	size_t i;

	(void)state;
	fill_full(&a);
	first = to_json(&a);
	assert_int_equal(result_from_json(&b, first, "mem"), 0);
	second = to_json(&b);
	assert_string_equal(first, second);

	/* Values, not just text: spot-check the awkward ones bit for bit. */
	assert_true(same_bits(b.steady_state_window.end_s, 123456789.123456789));
	assert_true(same_bits(b.throughput.output_tokens_per_s, 5e-324));
	assert_true(same_bits(b.throughput.total_tokens_per_s, DBL_MAX));
	assert_true(same_bits(b.throughput.requests_per_s, 0.1 + 0.2));
	assert_true(same_bits(b.energy.energy_per_output_token_j, 228.04 / 640));
	assert_true(same_bits(b.energy.mean_power_w, 228.04 / 59.854764));
	assert_true(same_bits(b.memory.peak_memory_mb, 1e-7));
	assert_int_equal(b.tokens.input_tokens, 9007199254740993LL);
	assert_int_equal(b.tokens.total_tokens, 9007199254741633LL);
	assert_true(b.model_info.weights_bytes == INT64_MAX);
	assert_int_equal(b.methodology, RESULT_METHODOLOGY_WINDOWED);
	assert_int_equal(b.energy.baseline.method, RESULT_BASELINE_CACHED);
	assert_int_equal(b.energy.device_count, 2);
	assert_int_equal(b.energy.devices[1].source, RESULT_SOURCE_RAPL);
	assert_int_equal(b.energy.devices[1].method, RESULT_ENERGY_INTEGRAL);
	assert_string_equal(b.energy.devices[1].device, "dram-0");
	assert_true(isnan(b.energy.devices[1].integral_energy_j));
	assert_int_equal(b.energy.devices[1].power_samples, 0);
	assert_int_equal(b.warmup.mode, RESULT_WARMUP_CV);
	assert_int_equal(b.warmup.latency_count, 3);
	assert_true(isnan(b.warmup.latencies_ms[1]));
	assert_true(same_bits(b.warmup.latencies_ms[2], 5e-324));
	assert_true(b.latency.ttft_ms.present && b.latency.itl_ms.present);
	assert_int_equal(b.latency.itl_ms.samples, 5);
	assert_false(b.latency.tpot_ms.present);
	assert_true(b.latency.e2e_ms.present);
	assert_int_equal(b.latency.e2e_ms.samples, 0);
	assert_true(isnan(b.latency.e2e_ms.mean));
	assert_true(b.thermal.present && b.thermal.hw_thermal && !b.thermal.power);
	assert_int_equal(b.environment.nvml.gpu_count, 3);
	assert_int_equal(b.environment.nvml.gpus[0].persistence_mode, 1);
	assert_int_equal(b.environment.nvml.gpus[1].persistence_mode, 0);
	assert_int_equal(b.environment.nvml.gpus[2].persistence_mode, -1);
	assert_int_equal(b.environment.nvml.gpus[1].memory_total_mb, -1);
	assert_int_equal(b.environment.nvml.gpus[2].memory_total_mb, 0);
	assert_true(isnan(b.environment.nvml.gpus[1].power_limit_w));
	assert_null(b.environment.nvml.gpus[1].name);
	assert_null(b.environment.cpu_governor);
	assert_int_equal(b.environment.cpu_physical_cores, 8);
	assert_string_equal(b.environment.distro, AWKWARD_STRING);
	assert_int_equal(b.warning_count, 3);
	for (i = 0; i < a.warning_count; i++)
		assert_string_equal(b.warnings[i], a.warnings[i]);
	/* The config in the config layer's one-line layout, values kept. */
	assert_string_equal(b.effective_config, a.effective_config);

	free(first);
	free(second);
	result_release(&a);
	result_release(&b);
}

/* Each awkward double in each kind of slot comes back with the same bits. */
static void test_awkward_doubles_are_bit_exact(void **state)
{
	struct llem_result a, b;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(awkward); i++) {
		char *text, *again;

		fill_minimal(&a);
		a.duration_s = awkward[i];
		a.inference_time_s = awkward[i];
		result_warmup_add_latency(&a, awkward[i]);
		text = to_json(&a);
		assert_int_equal(result_from_json(&b, text, "mem"), 0);
		if (!same_bits(b.duration_s, awkward[i]) ||
		    !same_bits(b.inference_time_s, awkward[i]) ||
		    !same_bits(b.warmup.latencies_ms[0], awkward[i]))
			fail_msg("%.17g did not survive: %s", awkward[i], text);
		again = to_json(&b);
		assert_string_equal(text, again);
		free(text);
		free(again);
		result_release(&a);
		result_release(&b);
	}
}

/* The printed form is Python's repr(), so json.load gets the same value. */
static void test_doubles_print_as_python_repr(void **state)
{
	struct llem_result a;
	char *text;

	(void)state;
	fill_full(&a);
	text = to_json(&a);
	assert_non_null(strstr(text, "\"end_s\": 123456789.12345679\n"));
	assert_non_null(strstr(text, "\"output_tokens_per_s\": 5e-324,"));
	assert_non_null(strstr(text, "\"total_tokens_per_s\": 1.7976931348623157e+308,"));
	assert_non_null(strstr(text, "\"inference_time_s\": 1e-07,"));
	assert_non_null(strstr(text, "\"duration_s\": 30.0,"));
	assert_non_null(strstr(text, "\"input_tokens\": 9007199254740993,"));
	assert_non_null(strstr(text, "\"weights_bytes\": 9223372036854775807\n"));
	free(text);
	result_release(&a);
}

static void test_nan_and_negative_counts_are_null(void **state)
{
	struct llem_result a, b;
	char *text;

	(void)state;
	fill_minimal(&a);
	text = to_json(&a);
	assert_non_null(strstr(text, "\"inference_time_s\": null,"));
	assert_non_null(strstr(text, "\"energy\": null,"));
	assert_non_null(strstr(text, "\"thermal\": null,"));
	assert_non_null(strstr(text, "\"ttft_ms\": null,"));
	assert_non_null(strstr(text, "\"parameters\": null,"));
	assert_non_null(strstr(text, "\"cpu_logical_cores\": null,"));
	assert_non_null(strstr(text, "\"effective_config\": null\n"));
	assert_non_null(strstr(text, "\"backend_version\": null,"));
	assert_null(strstr(text, "NaN"));
	assert_int_equal(result_from_json(&b, text, "mem"), 0);
	assert_true(isnan(b.inference_time_s));
	assert_true(isnan(b.throughput.total_tokens_per_s));
	assert_false(b.energy.present);
	assert_string_equal(b.energy_null_reason, "no energy source on this machine");
	assert_false(b.thermal.present);
	assert_false(b.latency.ttft_ms.present);
	assert_int_equal(b.model_info.parameters, -1);
	assert_int_equal(b.warmup.iterations_completed, -1);
	assert_int_equal(b.environment.cpu_logical_cores, -1);
	assert_int_equal(b.environment.memory_total_mb, -1);
	assert_null(b.backend_version);
	assert_null(b.effective_config);
	assert_null(b.timeseries);
	free(text);
	result_release(&a);
	result_release(&b);
}

static void test_strings_with_control_and_unicode_survive(void **state)
{
	struct llem_result a, b;
	char *text;

	(void)state;
	fill_minimal(&a);
	free(a.model);
	a.model = xstrdup(AWKWARD_STRING);
	result_add_warning(&a, "%s", AWKWARD_STRING);
	text = to_json(&a);
	/* Escaped as json.dumps(ensure_ascii=False) does; UTF-8 kept. */
	assert_non_null(strstr(text, "ctl\\u0001\\u001f\x7f tab\\t nl\\n "
				     "quote\\\" bs\\\\ slash/ \xc3\xa9"));
	assert_int_equal(result_from_json(&b, text, "mem"), 0);
	assert_string_equal(b.model, AWKWARD_STRING);
	assert_string_equal(b.warnings[0], AWKWARD_STRING);
	free(text);
	result_release(&a);
	result_release(&b);
}

static void test_unknown_key_is_rejected_with_path(void **state)
{
	struct llem_result a;
	char *text, *bad;

	(void)state;
	fill_full(&a);
	text = to_json(&a);
	bad = replace_once(text, "\"integral_energy_j\"", "\"bogus\": 1, \"integral_energy_j\"");
	assert_rejected(bad, "energy.devices[0].bogus: unknown key", NULL);
	free(bad);
	/* A typo is reported as such, not as the key it hides going missing. */
	bad = replace_once(text, "\"ttft_ms\"", "\"ttft_mss\"");
	assert_rejected(bad, "latency.ttft_mss: unknown key", "did you mean 'ttft_ms'?");
	free(bad);
	bad = replace_once(text, "\"schema_version\"", "\"extra\": null, \"schema_version\"");
	assert_rejected(bad, ": extra: unknown key", NULL);
	free(bad);
	free(text);
	result_release(&a);
}

static void test_missing_key_is_rejected(void **state)
{
	struct llem_result a;
	char *text, *bad;

	(void)state;
	fill_full(&a);
	text = to_json(&a);
	bad = replace_once(text, "\"power_samples\": 598", "\"x\": 1");
	/* Unknown first: "x" is reported before power_samples' absence. */
	assert_rejected(bad, "energy.devices[0].x: unknown key", NULL);
	free(bad);
	bad = replace_once(text, "\"requests\": 100,", "");
	assert_rejected(bad, "tokens.requests: missing key", NULL);
	free(bad);
	free(text);
	result_release(&a);
}

static void test_wrong_type_is_rejected(void **state)
{
	struct llem_result a;
	char *text, *bad;

	(void)state;
	fill_full(&a);
	text = to_json(&a);
	bad = replace_once(text, "\"output_tokens\": 640", "\"output_tokens\": \"640\"");
	assert_rejected(bad, "tokens.output_tokens: expected a non-negative integer, got a string",
			NULL);
	free(bad);
	bad = replace_once(text, "\"output_tokens\": 640", "\"output_tokens\": 640.0");
	assert_rejected(bad, "tokens.output_tokens", "got a number");
	free(bad);
	bad = replace_once(text, "\"output_tokens\": 640", "\"output_tokens\": -640");
	assert_rejected(bad, "tokens.output_tokens: must be >= 0", NULL);
	free(bad);
	bad = replace_once(text, "\"output_tokens\": 640", "\"output_tokens\": null");
	assert_rejected(bad, "tokens.output_tokens: expected a non-negative integer, got null",
			NULL);
	free(bad);
	bad = replace_once(text, "\"energy_j\": 200.0", "\"energy_j\": true");
	assert_rejected(bad, "energy.devices[0].energy_j: expected a number, got a boolean", NULL);
	free(bad);
	bad = replace_once(text, "\"max_temperature_c\": 71.0", "\"max_temperature_c\": [71.0]");
	assert_rejected(bad, "thermal.max_temperature_c: expected a number or null, got an array",
			NULL);
	free(bad);
	bad = replace_once(text, "\"source\": \"nvml\"", "\"source\": \"zeus\"");
	assert_rejected(bad,
			"energy.devices[0].source: must be one of \"nvml\", \"rapl\", \"replay\"",
			NULL);
	free(bad);
	bad = replace_once(text, "\"converged\": true", "\"converged\": 1");
	assert_rejected(bad, "warmup.converged: expected a boolean", NULL);
	free(bad);
	bad = replace_once(text, "\"latencies_ms\": [\n", "\"latencies_ms\": [\n\"1\", ");
	assert_rejected(bad, "warmup.latencies_ms[0]: expected a number or null, got a string",
			NULL);
	free(bad);
	bad = replace_once(text, "\"warnings\": [\n", "\"warnings\": [\n7, ");
	assert_rejected(bad, "warnings[0]: expected a string, got an integer", NULL);
	free(bad);
	bad = replace_once(text, "\"effective_config\": {", "\"effective_config\": [{");
	bad[strlen(bad) - 2] = '\0'; /* "}\n": the root's end */
	bad = xrealloc(bad, strlen(bad) + 4);
	memcpy(bad + strlen(bad), "]}\n", 4);
	assert_rejected(bad, "effective_config: expected an object or null, got an array", NULL);
	free(bad);
	free(text);
	result_release(&a);
}

static void test_malformed_documents_are_rejected(void **state)
{
	struct llem_result a;
	char *text, *bad;
	size_t cut;

	(void)state;
	fill_full(&a);
	text = to_json(&a);
	/* Truncated anywhere (a crash mid-write of a non-atomic writer). */
	for (cut = 0; cut < strlen(text) - 2; cut += 97) {
		char *part = xstrndup(text, cut);

		assert_rejected(part, "not valid JSON", NULL);
		free(part);
	}
	assert_rejected("[1, 2]", "expected a JSON object, got an array", NULL);
	assert_rejected("{\"a\": 1, \"a\": 2}", "not valid JSON", "duplicate");
	assert_rejected("{\"x\": NaN}", "not valid JSON", NULL);
	bad = replace_once(text, "\"schema_version\": \"1.0\"", "\"schema_version\": \"2.0\"");
	assert_rejected(bad, "schema_version: unsupported version \"2.0\"", NULL);
	free(bad);
	/* Cross-field rules hold on read, not only on write. */
	bad = replace_once(text, "\"total_tokens\": 9007199254741633",
			   "\"total_tokens\": 9007199254741634");
	assert_rejected(bad, "tokens.total_tokens: must equal input_tokens + output_tokens", NULL);
	free(bad);
	bad = replace_once(text, "\"energy_null_reason\": null", "\"energy_null_reason\": \"x\"");
	assert_rejected(bad, "energy_null_reason: must be null when energy is measured", NULL);
	free(bad);
	bad = replace_once(text, "\"0123456789abcdef\"", "\"0123456789ABCDEF\"");
	assert_rejected(bad, "config_hash: must be 16 lowercase hex digits", NULL);
	free(bad);
	bad = replace_once(text, "\"2026-03-13T14:21:11.145237Z\"",
			   "\"2026-03-13T14:21:11.145237\"");
	assert_rejected(bad, "start_time: must be ISO-8601 UTC", NULL);
	free(bad);
	bad = replace_once(text, "\"2026-03-13T14:21:11.145237Z\"", "\"2026-03-13 14:21:11Z\"");
	assert_rejected(bad, "start_time: must be ISO-8601 UTC", NULL);
	free(bad);
	free(text);
	result_release(&a);
}

static void test_write_refuses_invalid_results(void **state)
{
	struct result_energy_device *d;
	struct llem_result a;
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	fill_minimal(&a);
	strbuf_adds(&sb, "keep");
	/* energy and its null reason: exactly one. */
	a.energy.present = true;
	a.energy.total_energy_j = 1.0;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "energy_null_reason"));
	free(a.energy_null_reason);
	a.energy_null_reason = NULL;
	/* Energy with no device behind it is not a measurement. */
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "energy.devices: must list"));
	d = result_add_energy_device(&a);
	d->device = xstrdup("gpu0");
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "energy.devices[0]: energy_j is required"));
	d->energy_j = 1.0;
	assert_int_equal(result_to_json(&a, &sb), 0);
	strbuf_reset(&sb);
	strbuf_adds(&sb, "keep");
	a.energy.present = false;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	a.energy_null_reason = xstrdup("none");

	a.tokens.total_tokens = 5;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "tokens.total_tokens"));
	a.tokens.total_tokens = 0;
	a.tokens.output_tokens = -1;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	a.tokens.output_tokens = 0;

	free(a.config_hash);
	a.config_hash = xstrdup("0123456789abcde");
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "config_hash"));
	free(a.config_hash);
	a.config_hash = xstrdup("0123456789abcdef");

	a.duration_s = NAN;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "duration_s"));
	a.duration_s = 1.0;

	free(a.model);
	a.model = NULL;
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "model: is required"));
	a.model = xstrdup("m");

	a.effective_config = xstrdup("[1, 2]");
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "effective_config: must be a JSON object"));
	free(a.effective_config);
	a.effective_config = xstrdup("{\"a\": ");
	assert_int_equal(result_to_json(&a, &sb), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "effective_config: not valid JSON"));
	/* Nothing was appended by any failed call. */
	assert_string_equal(strbuf_str(&sb), "keep");
	strbuf_release(&sb);
	result_release(&a);
}

/* Any object text is accepted and stored in json.dumps layout on read. */
static void test_effective_config_is_normalised(void **state)
{
	struct llem_result a, b;
	char *text, *again;

	(void)state;
	fill_minimal(&a);
	a.effective_config = xstrdup("{\"z\":1,\"a\":{\"x\":0.1,\"y\":[1E2,-0.0,\"\xc3\xa9\"]},"
				     "\"big\":12345678901234567}");
	text = to_json(&a);
	/* Written nested and pretty, member order kept. */
	assert_non_null(strstr(text, "\"effective_config\": {\n    \"z\": 1,\n"
				     "    \"a\": {\n      \"x\": 0.1,\n"));
	assert_int_equal(result_from_json(&b, text, "mem"), 0);
	assert_string_equal(b.effective_config,
			    "{\"z\": 1, \"a\": {\"x\": 0.1, \"y\": [100.0, -0.0, \"\\u00e9\"]}, "
			    "\"big\": 12345678901234567}");
	again = to_json(&b);
	assert_string_equal(text, again);
	free(text);
	free(again);
	result_release(&a);
	result_release(&b);
}

/* Names in dir other than "." and ".."; cleans them up as it goes. */
static size_t count_and_clean(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		p = fs_join(dir, e->d_name);
		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(closedir(d), 0);
	return n;
}

static void test_save_is_atomic_and_replaces(void **state)
{
	struct llem_result a, b, c;
	char *dir = test_tmpdir("results"), *path, *text, *data, *missing;
	size_t len;

	(void)state;
	path = fs_join(dir, "result.json");
	fill_full(&a);
	assert_int_equal(result_save(&a, path), 0);
	text = to_json(&a);
	assert_int_equal(fs_read_file(path, &data, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_string_equal(data, text);
	free(data);
	free(text);

	/* Saving over an existing file replaces it whole. */
	fill_minimal(&b);
	assert_int_equal(result_save(&b, path), 0);
	text = to_json(&b);
	assert_int_equal(fs_read_file(path, &data, &len), 0);
	assert_string_equal(data, text);
	free(data);
	free(text);
	assert_int_equal(result_load(&c, path), 0);
	assert_string_equal(c.experiment_id, "x");
	result_release(&c);

	/* An invalid result leaves the old file as it was. */
	free(b.model);
	b.model = NULL;
	assert_int_equal(result_save(&b, path), LLEM_EINVAL);
	assert_int_equal(result_load(&c, path), 0);
	assert_string_equal(c.model, "m");
	result_release(&c);

	/* A bad directory is an I/O error, and no stray file appears. */
	missing = fs_join(dir, "no/such/dir/result.json");
	b.model = xstrdup("m");
	assert_int_equal(result_save(&b, missing), LLEM_EIO);
	assert_int_equal(result_load(&c, missing), LLEM_ENOTFOUND);
	assert_non_null(strstr(error_last(), "no/such/dir/result.json"));
	/* Only result.json is left: no temp file survived the saves. */
	assert_int_equal(count_and_clean(dir), 1);
	assert_int_equal(rmdir(dir), 0);
	free(missing);
	free(path);
	free(dir);
	result_release(&a);
	result_release(&b);
}

static void test_load_names_the_file(void **state)
{
	struct llem_result r;
	char *dir = test_tmpdir("results"), *path = fs_join(dir, "result.json");
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	assert_true(fputs("{\"schema_version\": \"1.0\"", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(result_load(&r, path), LLEM_EINVAL);
	assert_true(str_starts_with(error_last(), path));
	assert_non_null(strstr(error_last(), "not valid JSON"));
	assert_int_equal(count_and_clean(dir), 1);
	assert_int_equal(rmdir(dir), 0);
	free(path);
	free(dir);
}

static void assert_stats(const double *v, size_t n, double mean, double median, double p95,
			 double p99, double min, double max)
{
	struct result_stats s;

	result_stats_compute(&s, v, n);
	assert_true(s.present);
	assert_int_equal(s.samples, n);
	if (!same_bits(s.mean, mean) || !same_bits(s.median, median) || !same_bits(s.p95, p95) ||
	    !same_bits(s.p99, p99) || !same_bits(s.min, min) || !same_bits(s.max, max))
		fail_msg("got %.17g %.17g %.17g %.17g %.17g %.17g", s.mean, s.median, s.p95, s.p99,
			 s.min, s.max);
}

/*
 * By hand: [1,2,3,4] p95 sits at index 3 * 0.95 = 2.85, i.e. 3 + 0.85 =
 * 3.85; numpy (and we) print the nearest double of that computation,
 * 3.8499999999999996. Every reference below is numpy 2.4 output.
 */
static void test_stats_match_numpy(void **state)
{
	static const double a[] = { 4, 2, 1, 3 };
	static const double b[] = { 5.0 };
	static const double c[] = { 3, 1, 2 };
	static const double d[] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };
	static const double e[] = { 0.1, 0.2, 0.3, 0.7, 1.1, 2.9, 3.3 };
	double big[200];
	struct result_stats s;
	size_t i;

	(void)state;
	assert_stats(a, 4, 2.5, 2.5, 3.8499999999999996, 3.9699999999999998, 1, 4);
	assert_true(fabs(3.85 - result_percentile_sorted((const double[]){ 1, 2, 3, 4 }, 4, 95)) <
		    1e-12);
	assert_stats(b, 1, 5, 5, 5, 5, 5, 5);
	assert_stats(c, 3, 2, 2, 2.9, 2.98, 1, 3);
	assert_stats(d, 10, 55, 55, 95.49999999999999, 99.1, 10, 100);
	assert_stats(e, 7, 1.2285714285714289, 0.7, 3.1799999999999997, 3.276, 0.1, 3.3);
	/*
	 * 200 samples: numpy's pairwise mean is 7.248785714285714, a plain
	 * left-to-right sum gives ...715. The median is (v[99] + v[100]) / 2.
	 */
	for (i = 0; i < 200; i++)
		big[i] = (double)(i * 37 % 101) / 7.0 + (double)i * 0.001;
	result_stats_compute(&s, big, 200);
	assert_true(same_bits(s.mean, 7.248785714285714));
	assert_true(same_bits(s.median, 7.2083571428571425));
	assert_true(same_bits(s.p95, 13.752021428571428));
	assert_true(same_bits(s.p99, 14.303975714285713));
}

static void test_stats_edge_cases(void **state)
{
	static const double with_nan[] = { NAN, 2.0, NAN, 4.0 };
	struct result_stats s;

	(void)state;
	result_stats_compute(&s, NULL, 0);
	assert_true(s.present);
	assert_int_equal(s.samples, 0);
	assert_true(isnan(s.mean) && isnan(s.median) && isnan(s.p95) && isnan(s.p99) &&
		    isnan(s.min) && isnan(s.max));
	/* A NaN is a sample not taken: counted out, not poisoning the rest. */
	result_stats_compute(&s, with_nan, 4);
	assert_int_equal(s.samples, 2);
	assert_true(s.mean == 3.0 && s.median == 3.0 && s.min == 2.0 && s.max == 4.0);
	assert_true(isnan(result_percentile_sorted(NULL, 0, 50)));
	assert_true(result_percentile_sorted(with_nan + 1, 1, 0) == 2.0);
	assert_true(result_percentile_sorted((const double[]){ 1, 2 }, 2, 100) == 2.0);
	assert_true(result_percentile_sorted((const double[]){ 1, 2 }, 2, 0) == 1.0);
	assert_true(result_percentile_sorted((const double[]){ 1, 2 }, 2, 50) == 1.5);
}

static void test_enum_names(void **state)
{
	(void)state;
	assert_string_equal(result_methodology_name(RESULT_METHODOLOGY_STEADY_STATE),
			    "steady_state");
	assert_string_equal(result_baseline_method_name(RESULT_BASELINE_UNAVAILABLE),
			    "unavailable");
	assert_string_equal(result_energy_source_name(RESULT_SOURCE_REPLAY), "replay");
	assert_string_equal(result_energy_method_name(RESULT_ENERGY_INTEGRAL), "integral");
	assert_string_equal(result_warmup_mode_name(RESULT_WARMUP_CV), "cv");
	assert_null(result_methodology_name((enum result_methodology)3));
	assert_null(result_warmup_mode_name((enum result_warmup_mode) - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_result_round_trips_byte_exact),
		cmocka_unit_test(test_awkward_doubles_are_bit_exact),
		cmocka_unit_test(test_doubles_print_as_python_repr),
		cmocka_unit_test(test_nan_and_negative_counts_are_null),
		cmocka_unit_test(test_strings_with_control_and_unicode_survive),
		cmocka_unit_test(test_unknown_key_is_rejected_with_path),
		cmocka_unit_test(test_missing_key_is_rejected),
		cmocka_unit_test(test_wrong_type_is_rejected),
		cmocka_unit_test(test_malformed_documents_are_rejected),
		cmocka_unit_test(test_write_refuses_invalid_results),
		cmocka_unit_test(test_effective_config_is_normalised),
		cmocka_unit_test(test_save_is_atomic_and_replaces),
		cmocka_unit_test(test_load_names_the_file),
		cmocka_unit_test(test_stats_match_numpy),
		cmocka_unit_test(test_stats_edge_cases),
		cmocka_unit_test(test_enum_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
