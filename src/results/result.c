/*
 * The result struct's life cycle (init, release, the small "add" helpers),
 * the names its enums have on disk, and the rules a result must meet both
 * to be written and to be read back, so that no file llem writes is one it
 * would refuse to load.
 */
#include "results/results.h"
#include "llem/errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const result_methodology_names[3] = { "total", "steady_state", "windowed" };
const char *const result_baseline_method_names[4] = { "fresh", "cached", "disabled",
						      "unavailable" };
const char *const result_energy_source_names[3] = { "nvml", "rapl", "replay" };
const char *const result_energy_method_names[2] = { "counter", "integral" };
const char *const result_warmup_mode_names[2] = { "fixed", "cv" };

/* The enums are unsigned-compatible and start at 0: one bounds check. */
#define ENUM_NAME(table, v) ((unsigned)(v) < ARRAY_SIZE(table) ? (table)[(unsigned)(v)] : NULL)

const char *result_methodology_name(enum result_methodology m)
{
	return ENUM_NAME(result_methodology_names, m);
}

const char *result_baseline_method_name(enum result_baseline_method m)
{
	return ENUM_NAME(result_baseline_method_names, m);
}

const char *result_energy_source_name(enum result_energy_source s)
{
	return ENUM_NAME(result_energy_source_names, s);
}

const char *result_energy_method_name(enum result_energy_method m)
{
	return ENUM_NAME(result_energy_method_names, m);
}

const char *result_warmup_mode_name(enum result_warmup_mode m)
{
	return ENUM_NAME(result_warmup_mode_names, m);
}

static void stats_init(struct result_stats *s)
{
	s->present = false;
	s->samples = 0;
	s->mean = s->median = s->p95 = s->p99 = s->min = s->max = NAN;
}

/* The environment's own "unknown" values (env.h): NULL and -1. */
static void env_init(struct env_snapshot *e)
{
	memset(e, 0, sizeof(*e));
	e->cpu_logical_cores = -1;
	e->cpu_physical_cores = -1;
	e->memory_total_mb = -1;
}

void result_init(struct llem_result *r)
{
	memset(r, 0, sizeof(*r));
	r->methodology = RESULT_METHODOLOGY_TOTAL;
	r->steady_state_window.start_s = NAN;
	r->steady_state_window.end_s = NAN;
	r->duration_s = NAN;
	r->inference_time_s = NAN;

	r->tokens.requests = -1;
	r->tokens.input_tokens = -1;
	r->tokens.output_tokens = -1;
	r->tokens.total_tokens = -1;
	r->throughput.output_tokens_per_s = NAN;
	r->throughput.total_tokens_per_s = NAN;
	r->throughput.requests_per_s = NAN;

	r->energy.total_energy_j = NAN;
	r->energy.energy_adjusted_j = NAN;
	r->energy.energy_per_output_token_j = NAN;
	r->energy.energy_adjusted_per_output_token_j = NAN;
	r->energy.mean_power_w = NAN;
	r->energy.baseline.method = RESULT_BASELINE_UNAVAILABLE;
	r->energy.baseline.power_w = NAN;
	r->energy.baseline.age_s = NAN;
	r->energy.baseline.duration_s = NAN;
	r->energy.baseline.samples = -1;

	r->flops.total_flops = NAN;
	r->flops.prefill_flops = NAN;
	r->flops.decode_flops = NAN;
	r->flops.flops_per_output_token = NAN;

	r->model_info.parameters = -1;
	r->model_info.non_embedding_parameters = -1;
	r->model_info.layers = -1;
	r->model_info.hidden_size = -1;
	r->model_info.attention_heads = -1;
	r->model_info.kv_heads = -1;
	r->model_info.vocab_size = -1;
	r->model_info.weights_bytes = -1;

	stats_init(&r->latency.ttft_ms);
	stats_init(&r->latency.itl_ms);
	stats_init(&r->latency.tpot_ms);
	stats_init(&r->latency.e2e_ms);

	r->memory.model_memory_mb = NAN;
	r->memory.peak_memory_mb = NAN;

	r->thermal.max_temperature_c = NAN;
	r->thermal.start_temperature_c = NAN;
	r->thermal.end_temperature_c = NAN;
	r->thermal.throttled_duration_s = NAN;
	r->thermal.samples = -1;

	r->warmup.mode = RESULT_WARMUP_FIXED;
	r->warmup.iterations_completed = -1;
	r->warmup.final_cv = NAN;
	r->warmup.target_cv = NAN;
	r->warmup.thermal_floor_wait_s = NAN;

	env_init(&r->environment);
}

void result_release(struct llem_result *r)
{
	size_t i;

	free(r->experiment_id);
	free(r->config_hash);
	free(r->model);
	free(r->backend);
	free(r->backend_version);
	free(r->start_time);
	free(r->end_time);
	free(r->energy.baseline.measured_at);
	for (i = 0; i < r->energy.device_count; i++)
		free(r->energy.devices[i].device);
	free(r->energy.devices);
	free(r->energy_null_reason);
	free(r->flops.method);
	free(r->model_info.dtype);
	free(r->memory.method);
	free(r->warmup.latencies_ms);
	env_snapshot_release(&r->environment);
	for (i = 0; i < r->warning_count; i++)
		free(r->warnings[i]);
	free(r->warnings);
	free(r->timeseries);
	free(r->effective_config);
	result_init(r);
}

void result_add_warning(struct llem_result *r, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	GROW(r->warnings, r->warning_cap, r->warning_count + 1);
	r->warnings[r->warning_count++] = strbuf_detach(&sb);
}

struct result_energy_device *result_add_energy_device(struct llem_result *r)
{
	struct result_energy_device *d;

	GROW(r->energy.devices, r->energy.device_cap, r->energy.device_count + 1);
	d = &r->energy.devices[r->energy.device_count++];
	memset(d, 0, sizeof(*d));
	d->source = RESULT_SOURCE_NVML;
	d->method = RESULT_ENERGY_COUNTER;
	d->energy_j = NAN;
	d->integral_energy_j = NAN;
	d->baseline_power_w = NAN;
	d->energy_adjusted_j = NAN;
	d->power_samples = -1;
	return d;
}

void result_warmup_add_latency(struct llem_result *r, double latency_ms)
{
	struct result_warmup *w = &r->warmup;

	GROW(w->latencies_ms, w->latency_cap, w->latency_count + 1);
	w->latencies_ms[w->latency_count++] = latency_ms;
}

static bool is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z": what time_format_utc writes, and the
 * pattern docs/result.schema.json checks. An offset other than Z is refused
 * so that every timestamp in every result compares as a plain string.
 */
static bool is_utc_timestamp(const char *s)
{
	size_t n = strlen(s), frac;

	if (n < 20 || s[n - 1] != 'Z')
		return false;
	if (!is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
	    !is_digits(s + 8, 2) || s[10] != 'T' || !is_digits(s + 11, 2) || s[13] != ':' ||
	    !is_digits(s + 14, 2) || s[16] != ':' || !is_digits(s + 17, 2))
		return false;
	if (n == 20)
		return true;
	frac = n - 21;
	return s[19] == '.' && frac >= 1 && frac <= 9 && is_digits(s + 20, frac);
}

static bool is_config_hash(const char *s)
{
	size_t i;

	for (i = 0; i < 16; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';

		if (!digit && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	}
	return s[16] == '\0';
}

#define UTC_RULE "must be ISO-8601 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)"

static int bad(const char *source, const char *path, const char *fmt, ...) LLEM_PRINTF(3, 4);

/* "source: path: why", the layout of every reader error too. */
static int bad(const char *source, const char *path, const char *fmt, ...)
{
	struct strbuf why = STRBUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	strbuf_vaddf(&why, fmt, ap);
	va_end(ap);
	rc = error_set(LLEM_EINVAL, "%s: %s: %s", source, path, why.buf);
	strbuf_release(&why);
	return rc;
}

static int check_identity(const struct llem_result *r, const char *source)
{
	const char *const names[] = { "experiment_id", "config_hash", "model",
				      "backend",       "start_time",  "end_time" };
	const char *const values[] = { r->experiment_id, r->config_hash, r->model,
				       r->backend,       r->start_time,  r->end_time };
	const struct result_window *w = &r->steady_state_window;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!values[i])
			return bad(source, names[i], "is required (null given)");
	if (!is_config_hash(r->config_hash))
		return bad(source, "config_hash", "must be 16 lowercase hex digits");
	if (!is_utc_timestamp(r->start_time))
		return bad(source, "start_time", UTC_RULE);
	if (!is_utc_timestamp(r->end_time))
		return bad(source, "end_time", UTC_RULE);
	if (!isfinite(r->duration_s))
		return bad(source, "duration_s", "is required (a finite number)");
	if (!result_methodology_name(r->methodology))
		return bad(source, "measurement_methodology", "unknown value");
	/* A span is what makes steady_state and windowed mean something. */
	if (w->present != (r->methodology != RESULT_METHODOLOGY_TOTAL))
		return bad(source, "steady_state_window",
			   "must be set exactly when measurement_methodology "
			   "is not \"total\"");
	if (w->present && (!isfinite(w->start_s) || !isfinite(w->end_s)))
		return bad(source, "steady_state_window",
			   "start_s and end_s are required when it is set");
	return 0;
}

static int check_counts(const struct llem_result *r, const char *source)
{
	const struct result_tokens *t = &r->tokens;
	const char *const names[] = { "ttft_ms", "itl_ms", "tpot_ms", "e2e_ms" };
	const struct result_stats *stats[] = { &r->latency.ttft_ms, &r->latency.itl_ms,
					       &r->latency.tpot_ms, &r->latency.e2e_ms };
	const struct env_nvml *nv = &r->environment.nvml;
	size_t i;

	if (t->requests < 0 || t->input_tokens < 0 || t->output_tokens < 0 || t->total_tokens < 0)
		return bad(source, "tokens", "every count is required (>= 0)");
	if (t->total_tokens != t->input_tokens + t->output_tokens)
		return bad(source, "tokens.total_tokens",
			   "must equal input_tokens + output_tokens");
	for (i = 0; i < ARRAY_SIZE(stats); i++)
		if (stats[i]->present && stats[i]->samples < 0)
			return bad(source, "latency", "%s.samples is required (>= 0)", names[i]);
	for (i = 0; i < nv->gpu_count; i++)
		if (nv->gpus[i].index < 0)
			return bad(source, "environment.nvml.gpus",
				   "[%zu].index is required (>= 0)", i);
	return 0;
}

static int check_energy(const struct llem_result *r, const char *source)
{
	const struct result_energy *e = &r->energy;
	size_t i;

	/* No sensor, no number: a null needs its reason, a number none. */
	if (e->present && r->energy_null_reason)
		return bad(source, "energy_null_reason", "must be null when energy is measured");
	if (!e->present && (!r->energy_null_reason || !*r->energy_null_reason))
		return bad(source, "energy_null_reason", "must say why energy is null");
	if (!e->present)
		return 0;
	if (e->device_count == 0)
		return bad(source, "energy.devices", "must list the device(s) measured");
	if (!isfinite(e->total_energy_j))
		return bad(source, "energy.total_energy_j", "is required when energy is measured");
	if (!result_baseline_method_name(e->baseline.method))
		return bad(source, "energy.baseline.method", "unknown value");
	if (e->baseline.measured_at && !is_utc_timestamp(e->baseline.measured_at))
		return bad(source, "energy.baseline.measured_at", UTC_RULE);
	for (i = 0; i < e->device_count; i++) {
		const struct result_energy_device *d = &e->devices[i];
		char path[64];

		snprintf(path, sizeof(path), "energy.devices[%zu]", i);
		if (!d->device || !*d->device)
			return bad(source, path, "device is required (non-empty)");
		if (!isfinite(d->energy_j))
			return bad(source, path, "energy_j is required");
		if (!result_energy_source_name(d->source) || !result_energy_method_name(d->method))
			return bad(source, path, "unknown source or method");
	}
	return 0;
}

int result_check(const struct llem_result *r, const char *source)
{
	size_t i;
	int rc;

	if (!source)
		source = "result";
	rc = check_identity(r, source);
	if (!rc)
		rc = check_counts(r, source);
	if (!rc)
		rc = check_energy(r, source);
	if (rc)
		return rc;
	if (!result_warmup_mode_name(r->warmup.mode))
		return bad(source, "warmup.mode", "unknown value");
	for (i = 0; i < r->warning_count; i++)
		if (!r->warnings[i])
			return bad(source, "warnings", "[%zu] is a null string", i);
	return 0;
}

char *result_model_slug(const char *model)
{
	char *slug = xstrdup(model), *p;

	for (p = slug; *p; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			*p = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			   c == '_' || c == '-'))
			*p = '-';
	}
	return slug;
}
