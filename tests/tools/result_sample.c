/*
 * Test driver for tests/cli/test_result_schema.py: writes sample result
 * files and reads them back through the real result_load/result_save, so
 * Python can validate them against docs/result.schema.json and compare
 * every number with the value C set.
 *
 *   result_sample OUT.json [VALUES.json]  fully populated sample; VALUES
 *                                         maps JSON pointers to the values
 *                                         set ("%a" hex floats, decimal ints)
 *   result_sample --minimal OUT.json      every nullable field null
 *   result_sample --roundtrip IN OUT      result_load(IN) + result_save(OUT)
 *   result_sample --check IN              result_load only
 * Exit 0 on success, 1 with the error on stderr.
 */
#include "results/results.h"
#include "llem/errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values set, as "pointer": "text" pairs for the VALUES file. */
static struct strbuf doubles = STRBUF_INIT, ints = STRBUF_INIT;

static void record(struct strbuf *sb, const char *ptr, const char *text)
{
	strbuf_adds(sb, sb->len ? ",\n    " : "    ");
	json_quote(sb, ptr, true);
	strbuf_adds(sb, ": ");
	json_quote(sb, text, true);
}

static void set_d(double *field, const char *ptr, double v)
{
	char hex[64];

	*field = v;
	snprintf(hex, sizeof(hex), "%a", v);
	record(&doubles, ptr, hex);
}

static void set_i(int64_t *field, const char *ptr, int64_t v)
{
	char dec[32];

	*field = v;
	snprintf(dec, sizeof(dec), "%lld", (long long)v);
	record(&ints, ptr, dec);
}

static void set_stats(struct result_stats *s, const char *ptr, const double *v, size_t n)
{
	static const char *const names[] = { "mean", "median", "p95", "p99", "min", "max" };
	double *fields[6];
	char p[96];
	size_t i;

	result_stats_compute(s, v, n);
	fields[0] = &s->mean;
	fields[1] = &s->median;
	fields[2] = &s->p95;
	fields[3] = &s->p99;
	fields[4] = &s->min;
	fields[5] = &s->max;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", ptr, names[i]);
		set_d(fields[i], p, *fields[i]);
	}
	snprintf(p, sizeof(p), "%s/samples", ptr);
	set_i(&s->samples, p, s->samples);
}

static void fill_environment(struct env_snapshot *env)
{
	int64_t v;

	env->collected_at = xstrdup("2026-03-13T14:18:00.123456Z");
	env->cpu_model = xstrdup("AMD EPYC 7R13 Processor");
	set_i(&v, "/environment/cpu_logical_cores", 16);
	env->cpu_logical_cores = (int)v;
	set_i(&v, "/environment/cpu_physical_cores", 8);
	env->cpu_physical_cores = (int)v;
	env->cpu_governor = xstrdup("performance");
	set_i(&env->memory_total_mb, "/environment/memory_total_mb", 131072);
	env->kernel = xstrdup("Linux 6.1.0-18-amd64");
	env->arch = xstrdup("x86_64");
	env->distro = xstrdup("Debian GNU/Linux 12 (bookworm)");
	env->container = xstrdup("docker");
	env->nvml.loaded = true;
	env->nvml.library_path = xstrdup("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1");
	env->nvml.driver_version = xstrdup("550.54.15");
	env->nvml.cuda_driver_version = xstrdup("12.4");
	env->nvml.gpu_count = 2;
	env->nvml.gpus = xcalloc(2, sizeof(*env->nvml.gpus));
	set_i(&v, "/environment/nvml/gpus/0/index", 0);
	env->nvml.gpus[0].index = (int)v;
	env->nvml.gpus[0].name = xstrdup("NVIDIA H100 80GB HBM3");
	env->nvml.gpus[0].uuid = xstrdup("GPU-5c1b4e4a-0000-1111-2222-333344445555");
	set_i(&env->nvml.gpus[0].memory_total_mb, "/environment/nvml/gpus/0/memory_total_mb",
	      81559);
	set_d(&env->nvml.gpus[0].power_limit_w, "/environment/nvml/gpus/0/power_limit_w", 700.0);
	env->nvml.gpus[0].persistence_mode = 1;
	set_i(&v, "/environment/nvml/gpus/1/index", 1);
	env->nvml.gpus[1].index = (int)v;
	env->nvml.gpus[1].name = xstrdup("NVIDIA H100 80GB HBM3");
	env->nvml.gpus[1].memory_total_mb = -1;
	env->nvml.gpus[1].power_limit_w = NAN;
	env->nvml.gpus[1].persistence_mode = -1;
	env->llem_version = xstrdup("0.1.0");
	env->llem_build = xstrdup("commit 0123456789ab, RelWithDebInfo, GNU 12.2.0");
}

/*
 * Every kind of field set, with doubles that are awkward to print: values
 * near the limits of the format, values with no short decimal, -0.0.
 */
static void fill_full(struct llem_result *r)
{
	static const double ttft[] = { 21.5, 19.25, 23.0, 0.1, 1e-7 };
	static const double itl[] = { 12.5, 11.0, 13.25, 12.0, 1.0 / 3.0, 12.75, 11.5 };
	static const double e2e[] = { 812.0, 799.5, 845.125 };
	struct result_energy_device *d;
	int64_t in = 9007199254740993LL, out = 640; /* in: 2^53 + 1 */

	result_init(r);
	r->experiment_id = xstrdup("c1_synthetic-smollm-135m_native_0123abcd");
	r->config_hash = xstrdup("0123456789abcdef");
	r->model = xstrdup("synthetic/smollm-135m");
	r->backend = xstrdup("native");
	r->backend_version = xstrdup("0.1.0");
	r->methodology = RESULT_METHODOLOGY_STEADY_STATE;
	r->steady_state_window.present = true;
	set_d(&r->steady_state_window.start_s, "/steady_state_window/start_s", 0.1);
	set_d(&r->steady_state_window.end_s, "/steady_state_window/end_s", 123456789.123456789);
	r->start_time = xstrdup("2026-03-13T14:21:11.145237Z");
	r->end_time = xstrdup("2026-03-13T14:22:11.000001Z");
	set_d(&r->duration_s, "/duration_s", 59.854764);
	set_d(&r->inference_time_s, "/inference_time_s", 1e-7);
	set_i(&r->tokens.requests, "/tokens/requests", 100);
	set_i(&r->tokens.input_tokens, "/tokens/input_tokens", in);
	set_i(&r->tokens.output_tokens, "/tokens/output_tokens", out);
	set_i(&r->tokens.total_tokens, "/tokens/total_tokens", in + out);
	set_d(&r->throughput.output_tokens_per_s, "/throughput/output_tokens_per_s", 5e-324);
	set_d(&r->throughput.total_tokens_per_s, "/throughput/total_tokens_per_s",
	      1.7976931348623157e308);
	set_d(&r->throughput.requests_per_s, "/throughput/requests_per_s", 0.1 + 0.2);

	r->energy.present = true;
	set_d(&r->energy.total_energy_j, "/energy/total_energy_j", 228.04);
	set_d(&r->energy.energy_adjusted_j, "/energy/energy_adjusted_j", 68.96);
	set_d(&r->energy.energy_per_output_token_j, "/energy/energy_per_output_token_j",
	      228.04 / 640);
	set_d(&r->energy.energy_adjusted_per_output_token_j,
	      "/energy/energy_adjusted_per_output_token_j", 68.96 / 640);
	set_d(&r->energy.mean_power_w, "/energy/mean_power_w", 228.04 / 59.854764);
	r->energy.baseline.method = RESULT_BASELINE_FRESH;
	set_d(&r->energy.baseline.power_w, "/energy/baseline/power_w", 35.95);
	r->energy.baseline.measured_at = xstrdup("2026-03-13T14:19:00Z");
	set_d(&r->energy.baseline.age_s, "/energy/baseline/age_s", 0.5);
	set_d(&r->energy.baseline.duration_s, "/energy/baseline/duration_s", 30.0);
	set_i(&r->energy.baseline.samples, "/energy/baseline/samples", 300);
	d = result_add_energy_device(r);
	d->source = RESULT_SOURCE_NVML;
	d->device = xstrdup("gpu0");
	d->method = RESULT_ENERGY_COUNTER;
	set_d(&d->energy_j, "/energy/devices/0/energy_j", 200.0);
	set_d(&d->integral_energy_j, "/energy/devices/0/integral_energy_j", 199.87654321);
	set_d(&d->baseline_power_w, "/energy/devices/0/baseline_power_w", 30.0);
	set_d(&d->energy_adjusted_j, "/energy/devices/0/energy_adjusted_j", -0.0);
	set_i(&d->power_samples, "/energy/devices/0/power_samples", 598);
	d = result_add_energy_device(r);
	d->source = RESULT_SOURCE_RAPL;
	d->device = xstrdup("package-0");
	d->method = RESULT_ENERGY_COUNTER;
	set_d(&d->energy_j, "/energy/devices/1/energy_j", 28.04);
	set_d(&d->integral_energy_j, "/energy/devices/1/integral_energy_j",
	      2.2250738585072014e-308);
	set_d(&d->baseline_power_w, "/energy/devices/1/baseline_power_w", 5.95);
	set_d(&d->energy_adjusted_j, "/energy/devices/1/energy_adjusted_j", 1e22);
	set_i(&d->power_samples, "/energy/devices/1/power_samples", 0);

	set_d(&r->flops.total_flops, "/flops/total_flops", 4.778e11);
	set_d(&r->flops.prefill_flops, "/flops/prefill_flops", 3.185e11);
	set_d(&r->flops.decode_flops, "/flops/decode_flops", 1.593e11);
	set_d(&r->flops.flops_per_output_token, "/flops/flops_per_output_token", 4.778e11 / 640);
	r->flops.method = xstrdup("2N+attention");
	set_i(&r->model_info.parameters, "/model_info/parameters", 134515008);
	set_i(&r->model_info.non_embedding_parameters, "/model_info/non_embedding_parameters",
	      106205184);
	set_i(&r->model_info.layers, "/model_info/layers", 30);
	set_i(&r->model_info.hidden_size, "/model_info/hidden_size", 576);
	set_i(&r->model_info.attention_heads, "/model_info/attention_heads", 9);
	set_i(&r->model_info.kv_heads, "/model_info/kv_heads", 3);
	set_i(&r->model_info.vocab_size, "/model_info/vocab_size", 49152);
	r->model_info.dtype = xstrdup("float32");
	set_i(&r->model_info.weights_bytes, "/model_info/weights_bytes", INT64_MAX);

	set_stats(&r->latency.ttft_ms, "/latency/ttft_ms", ttft, ARRAY_SIZE(ttft));
	set_stats(&r->latency.itl_ms, "/latency/itl_ms", itl, ARRAY_SIZE(itl));
	set_stats(&r->latency.e2e_ms, "/latency/e2e_ms", e2e, ARRAY_SIZE(e2e));
	/* tpot_ms left unmeasured: a null stats object in a full sample. */
	set_d(&r->memory.model_memory_mb, "/memory/model_memory_mb", 513.25);
	set_d(&r->memory.peak_memory_mb, "/memory/peak_memory_mb", 1024.0000001);
	r->memory.method = xstrdup("nvml");

	r->thermal.present = true;
	set_d(&r->thermal.max_temperature_c, "/thermal/max_temperature_c", 71.0);
	set_d(&r->thermal.start_temperature_c, "/thermal/start_temperature_c", 45.5);
	set_d(&r->thermal.end_temperature_c, "/thermal/end_temperature_c", 70.25);
	r->thermal.throttle_detected = true;
	r->thermal.thermal = true;
	r->thermal.hw_thermal = true;
	set_d(&r->thermal.throttled_duration_s, "/thermal/throttled_duration_s", 0.1);
	set_i(&r->thermal.samples, "/thermal/samples", 599);

	r->warmup.enabled = true;
	r->warmup.mode = RESULT_WARMUP_CV;
	set_i(&r->warmup.iterations_completed, "/warmup/iterations_completed", 3);
	r->warmup.converged = true;
	set_d(&r->warmup.final_cv, "/warmup/final_cv", 0.0123);
	set_d(&r->warmup.target_cv, "/warmup/target_cv", 0.05);
	set_d(&r->warmup.thermal_floor_wait_s, "/warmup/thermal_floor_wait_s", 60.0);
	result_warmup_add_latency(r, 0);
	set_d(&r->warmup.latencies_ms[0], "/warmup/latencies_ms/0", 101.5);
	result_warmup_add_latency(r, 0);
	set_d(&r->warmup.latencies_ms[1], "/warmup/latencies_ms/1", 99.99999999999999);
	result_warmup_add_latency(r, 0);
	set_d(&r->warmup.latencies_ms[2], "/warmup/latencies_ms/2", 1e16);

	fill_environment(&r->environment);
	result_add_warning(r, "short_measurement_duration: measurement < 10s; "
			      "energy values may be unreliable.");
	result_add_warning(r, "unicode \xc3\xa9\xe6\x97\xa5\xf0\x9f\x9a\x80 and "
			      "control \x01\x1f\t\n\"\\ characters");
	r->timeseries = xstrdup("timeseries.parquet");
	/* The config layer's canonical form: sorted keys, json.dumps layout. */
	r->effective_config =
		xstrdup("{\"backend\": \"native\", \"decoder\": {\"temperature\": 0.1, "
			"\"top_p\": 0.9}, \"energy\": {\"sources\": [\"nvml\", \"rapl\"]}, "
			"\"model\": \"synthetic/smollm-135m\", \"n\": 100, "
			"\"note\": \"caf\\u00e9\", \"warmup\": {\"cv_threshold\": 1e-07, "
			"\"enabled\": true, \"n_warmup\": 5}}");
	record(&doubles, "/effective_config/decoder/temperature", "0x1.999999999999ap-4");
	record(&doubles, "/effective_config/decoder/top_p", "0x1.ccccccccccccdp-1");
	record(&doubles, "/effective_config/warmup/cv_threshold", "0x1.ad7f29abcaf48p-24");
	record(&ints, "/effective_config/n", "100");
	record(&ints, "/effective_config/warmup/n_warmup", "5");
}

static void fill_minimal(struct llem_result *r)
{
	result_init(r);
	r->experiment_id = xstrdup("minimal");
	r->config_hash = xstrdup("fedcba9876543210");
	r->model = xstrdup("synthetic/tiny");
	r->backend = xstrdup("native");
	r->start_time = xstrdup("2026-01-01T00:00:00Z");
	r->end_time = xstrdup("2026-01-01T00:00:01.5Z");
	r->duration_s = 1.5;
	r->tokens.requests = 0;
	r->tokens.input_tokens = 0;
	r->tokens.output_tokens = 0;
	r->tokens.total_tokens = 0;
	r->energy_null_reason = xstrdup("no energy source: NVML not found, "
					"no RAPL domains under /sys/class/powercap");
}

static int write_values(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	int rc;

	strbuf_addf(&sb, "{\n  \"doubles\": {\n%s\n  },\n  \"ints\": {\n%s\n  }\n}\n",
		    strbuf_str(&doubles), strbuf_str(&ints));
	rc = atomic_write_file(path, sb.buf, sb.len);
	strbuf_release(&sb);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: result_sample OUT.json [VALUES.json]\n"
			"       result_sample --minimal OUT.json\n"
			"       result_sample --roundtrip IN.json OUT.json\n"
			"       result_sample --check IN.json\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct llem_result r;
	int rc;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "--roundtrip") && argc == 4) {
		rc = result_load(&r, argv[2]);
		if (!rc)
			rc = result_save(&r, argv[3]);
	} else if (!strcmp(argv[1], "--check") && argc == 3) {
		rc = result_load(&r, argv[2]);
	} else if (!strcmp(argv[1], "--minimal") && argc == 3) {
		fill_minimal(&r);
		rc = result_save(&r, argv[2]);
	} else if (argv[1][0] != '-' && (argc == 2 || argc == 3)) {
		fill_full(&r);
		rc = result_save(&r, argv[1]);
		if (!rc && argc == 3)
			rc = write_values(argv[2]);
	} else {
		return usage();
	}
	result_release(&r);
	strbuf_release(&doubles);
	strbuf_release(&ints);
	if (rc) {
		fprintf(stderr, "result_sample: %s\n", error_last());
		return 1;
	}
	return 0;
}
