/*
 * result.json writer. Keys come in one fixed order (docs/results.md), every
 * key is always present (null where nothing was measured), and the layout
 * equals Python's json.dumps(obj, indent=2, ensure_ascii=False) plus a
 * newline, so the file can be checked and diffed with standard tools.
 */
#include "results/results.h"
#include "llem/errors.h"

#include <jansson.h>

static void put_stats(struct jsonw *w, const char *key, const struct result_stats *s)
{
	jsonw_key(w, key);
	if (!s->present) {
		jsonw_null(w);
		return;
	}
	jsonw_object_begin(w);
	jsonw_put_count(w, "samples", s->samples);
	jsonw_put_double(w, "mean", s->mean);
	jsonw_put_double(w, "median", s->median);
	jsonw_put_double(w, "p95", s->p95);
	jsonw_put_double(w, "p99", s->p99);
	jsonw_put_double(w, "min", s->min);
	jsonw_put_double(w, "max", s->max);
	jsonw_object_end(w);
}

static void write_energy(struct jsonw *w, const struct result_energy *e)
{
	const struct result_baseline *b = &e->baseline;
	size_t i;

	jsonw_key(w, "energy");
	if (!e->present) {
		jsonw_null(w);
		return;
	}
	jsonw_object_begin(w);
	jsonw_put_double(w, "total_energy_j", e->total_energy_j);
	jsonw_put_double(w, "energy_adjusted_j", e->energy_adjusted_j);
	jsonw_put_double(w, "energy_per_output_token_j", e->energy_per_output_token_j);
	jsonw_put_double(w, "energy_adjusted_per_output_token_j",
			 e->energy_adjusted_per_output_token_j);
	jsonw_put_double(w, "mean_power_w", e->mean_power_w);

	jsonw_key(w, "baseline");
	jsonw_object_begin(w);
	jsonw_put_string(w, "method", result_baseline_method_name(b->method));
	jsonw_put_double(w, "power_w", b->power_w);
	jsonw_put_string(w, "measured_at", b->measured_at);
	jsonw_put_double(w, "age_s", b->age_s);
	jsonw_put_double(w, "duration_s", b->duration_s);
	jsonw_put_count(w, "samples", b->samples);
	jsonw_object_end(w);

	jsonw_key(w, "devices");
	jsonw_array_begin(w);
	for (i = 0; i < e->device_count; i++) {
		const struct result_energy_device *d = &e->devices[i];

		jsonw_object_begin(w);
		jsonw_put_string(w, "source", result_energy_source_name(d->source));
		jsonw_put_string(w, "device", d->device);
		jsonw_put_string(w, "method", result_energy_method_name(d->method));
		jsonw_put_double(w, "energy_j", d->energy_j);
		jsonw_put_double(w, "integral_energy_j", d->integral_energy_j);
		jsonw_put_double(w, "baseline_power_w", d->baseline_power_w);
		jsonw_put_double(w, "energy_adjusted_j", d->energy_adjusted_j);
		jsonw_put_count(w, "power_samples", d->power_samples);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
}

static void write_environment(struct jsonw *w, const struct env_snapshot *env)
{
	const struct env_nvml *nv = &env->nvml;
	size_t i;

	jsonw_key(w, "environment");
	jsonw_object_begin(w);
	jsonw_put_string(w, "collected_at", env->collected_at);
	jsonw_put_string(w, "cpu_model", env->cpu_model);
	jsonw_put_count(w, "cpu_logical_cores", env->cpu_logical_cores);
	jsonw_put_count(w, "cpu_physical_cores", env->cpu_physical_cores);
	jsonw_put_string(w, "cpu_governor", env->cpu_governor);
	jsonw_put_count(w, "memory_total_mb", env->memory_total_mb);
	jsonw_put_string(w, "kernel", env->kernel);
	jsonw_put_string(w, "arch", env->arch);
	jsonw_put_string(w, "distro", env->distro);
	jsonw_put_string(w, "container", env->container);

	jsonw_key(w, "nvml");
	jsonw_object_begin(w);
	jsonw_put_bool(w, "loaded", nv->loaded);
	jsonw_put_string(w, "library_path", nv->library_path);
	jsonw_put_string(w, "error", nv->error);
	jsonw_put_string(w, "driver_version", nv->driver_version);
	jsonw_put_string(w, "cuda_driver_version", nv->cuda_driver_version);
	jsonw_key(w, "gpus");
	jsonw_array_begin(w);
	for (i = 0; i < nv->gpu_count; i++) {
		const struct env_gpu *g = &nv->gpus[i];

		jsonw_object_begin(w);
		jsonw_put_count(w, "index", g->index);
		jsonw_put_string(w, "name", g->name);
		jsonw_put_string(w, "uuid", g->uuid);
		jsonw_put_count(w, "memory_total_mb", g->memory_total_mb);
		jsonw_put_double(w, "power_limit_w", g->power_limit_w);
		jsonw_key(w, "persistence_mode");
		if (g->persistence_mode < 0)
			jsonw_null(w);
		else
			jsonw_bool(w, g->persistence_mode != 0);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);

	jsonw_put_string(w, "llem_version", env->llem_version);
	jsonw_put_string(w, "llem_build", env->llem_build);
	jsonw_object_end(w);
}

/*
 * Emits a parsed value through jsonw. Object members keep their order
 * (jansson preserves insertion order) and reals go through numfmt_double,
 * so the text is a pure function of the values, whatever the input layout.
 */
static void emit_value(struct jsonw *w, json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jsonw_object_begin(w);
		json_object_foreach(v, key, item)
		{
			jsonw_key(w, key);
			emit_value(w, item);
		}
		jsonw_object_end(w);
		break;
	case JSON_ARRAY:
		jsonw_array_begin(w);
		json_array_foreach(v, i, item) emit_value(w, item);
		jsonw_array_end(w);
		break;
	case JSON_STRING: jsonw_string(w, json_string_value(v)); break;
	case JSON_INTEGER: jsonw_int(w, (int64_t)json_integer_value(v)); break;
	case JSON_REAL: jsonw_double(w, json_real_value(v)); break;
	case JSON_TRUE: jsonw_bool(w, true); break;
	case JSON_FALSE: jsonw_bool(w, false); break;
	case JSON_NULL: jsonw_null(w); break;
	}
}

static json_t *parse_object(const char *text, const char *what)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	if (!v) {
		error_set(LLEM_EINVAL, "%s: not valid JSON: %s (column %d)", what, jerr.text,
			  jerr.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		error_set(LLEM_EINVAL, "%s: must be a JSON object", what);
		return NULL;
	}
	return v;
}

int result_emit_json_object(struct jsonw *w, const char *text, const char *what)
{
	json_t *v = parse_object(text, what);

	if (!v)
		return LLEM_EINVAL;
	emit_value(w, v);
	json_decref(v);
	return 0;
}

static void write_result(struct jsonw *w, const struct llem_result *r, json_t *config)
{
	const struct result_window *win = &r->steady_state_window;
	const struct result_flops *f = &r->flops;
	const struct result_model_info *mi = &r->model_info;
	const struct result_thermal *th = &r->thermal;
	const struct result_warmup *wu = &r->warmup;
	size_t i;

	jsonw_object_begin(w);
	jsonw_put_string(w, "schema_version", RESULT_SCHEMA_VERSION);
	jsonw_put_string(w, "experiment_id", r->experiment_id);
	jsonw_put_string(w, "config_hash", r->config_hash);
	jsonw_put_string(w, "model", r->model);
	jsonw_put_string(w, "backend", r->backend);
	jsonw_put_string(w, "backend_version", r->backend_version);
	jsonw_put_string(w, "measurement_methodology", result_methodology_name(r->methodology));
	jsonw_key(w, "steady_state_window");
	if (win->present) {
		jsonw_object_begin(w);
		jsonw_put_double(w, "start_s", win->start_s);
		jsonw_put_double(w, "end_s", win->end_s);
		jsonw_object_end(w);
	} else {
		jsonw_null(w);
	}
	jsonw_put_string(w, "start_time", r->start_time);
	jsonw_put_string(w, "end_time", r->end_time);
	jsonw_put_double(w, "duration_s", r->duration_s);
	jsonw_put_double(w, "inference_time_s", r->inference_time_s);

	jsonw_key(w, "tokens");
	jsonw_object_begin(w);
	jsonw_put_count(w, "requests", r->tokens.requests);
	jsonw_put_count(w, "input_tokens", r->tokens.input_tokens);
	jsonw_put_count(w, "output_tokens", r->tokens.output_tokens);
	jsonw_put_count(w, "total_tokens", r->tokens.total_tokens);
	jsonw_object_end(w);

	jsonw_key(w, "throughput");
	jsonw_object_begin(w);
	jsonw_put_double(w, "output_tokens_per_s", r->throughput.output_tokens_per_s);
	jsonw_put_double(w, "total_tokens_per_s", r->throughput.total_tokens_per_s);
	jsonw_put_double(w, "requests_per_s", r->throughput.requests_per_s);
	jsonw_object_end(w);

	write_energy(w, &r->energy);
	jsonw_put_string(w, "energy_null_reason", r->energy_null_reason);

	jsonw_key(w, "flops");
	jsonw_object_begin(w);
	jsonw_put_double(w, "total_flops", f->total_flops);
	jsonw_put_double(w, "prefill_flops", f->prefill_flops);
	jsonw_put_double(w, "decode_flops", f->decode_flops);
	jsonw_put_double(w, "flops_per_output_token", f->flops_per_output_token);
	jsonw_put_string(w, "method", f->method);
	jsonw_object_end(w);

	jsonw_key(w, "model_info");
	jsonw_object_begin(w);
	jsonw_put_count(w, "parameters", mi->parameters);
	jsonw_put_count(w, "non_embedding_parameters", mi->non_embedding_parameters);
	jsonw_put_count(w, "layers", mi->layers);
	jsonw_put_count(w, "hidden_size", mi->hidden_size);
	jsonw_put_count(w, "attention_heads", mi->attention_heads);
	jsonw_put_count(w, "kv_heads", mi->kv_heads);
	jsonw_put_count(w, "vocab_size", mi->vocab_size);
	jsonw_put_string(w, "dtype", mi->dtype);
	jsonw_put_count(w, "weights_bytes", mi->weights_bytes);
	jsonw_object_end(w);

	jsonw_key(w, "latency");
	jsonw_object_begin(w);
	put_stats(w, "ttft_ms", &r->latency.ttft_ms);
	put_stats(w, "itl_ms", &r->latency.itl_ms);
	put_stats(w, "tpot_ms", &r->latency.tpot_ms);
	put_stats(w, "e2e_ms", &r->latency.e2e_ms);
	jsonw_object_end(w);

	jsonw_key(w, "memory");
	jsonw_object_begin(w);
	jsonw_put_double(w, "model_memory_mb", r->memory.model_memory_mb);
	jsonw_put_double(w, "peak_memory_mb", r->memory.peak_memory_mb);
	jsonw_put_string(w, "method", r->memory.method);
	jsonw_object_end(w);

	jsonw_key(w, "thermal");
	if (th->present) {
		jsonw_object_begin(w);
		jsonw_put_double(w, "max_temperature_c", th->max_temperature_c);
		jsonw_put_double(w, "start_temperature_c", th->start_temperature_c);
		jsonw_put_double(w, "end_temperature_c", th->end_temperature_c);
		jsonw_put_bool(w, "throttle_detected", th->throttle_detected);
		jsonw_put_bool(w, "thermal", th->thermal);
		jsonw_put_bool(w, "power", th->power);
		jsonw_put_bool(w, "sw_thermal", th->sw_thermal);
		jsonw_put_bool(w, "hw_thermal", th->hw_thermal);
		jsonw_put_bool(w, "hw_power", th->hw_power);
		jsonw_put_double(w, "throttled_duration_s", th->throttled_duration_s);
		jsonw_put_count(w, "samples", th->samples);
		jsonw_object_end(w);
	} else {
		jsonw_null(w);
	}

	jsonw_key(w, "warmup");
	jsonw_object_begin(w);
	jsonw_put_bool(w, "enabled", wu->enabled);
	jsonw_put_string(w, "mode", result_warmup_mode_name(wu->mode));
	jsonw_put_count(w, "iterations_completed", wu->iterations_completed);
	jsonw_put_bool(w, "converged", wu->converged);
	jsonw_put_double(w, "final_cv", wu->final_cv);
	jsonw_put_double(w, "target_cv", wu->target_cv);
	jsonw_put_double(w, "thermal_floor_wait_s", wu->thermal_floor_wait_s);
	jsonw_key(w, "latencies_ms");
	jsonw_array_begin(w);
	for (i = 0; i < wu->latency_count; i++)
		jsonw_double(w, wu->latencies_ms[i]);
	jsonw_array_end(w);
	jsonw_object_end(w);

	write_environment(w, &r->environment);

	jsonw_key(w, "warnings");
	jsonw_array_begin(w);
	for (i = 0; i < r->warning_count; i++)
		jsonw_string(w, r->warnings[i]);
	jsonw_array_end(w);
	jsonw_put_string(w, "timeseries", r->timeseries);
	jsonw_key(w, "effective_config");
	if (config)
		emit_value(w, config);
	else
		jsonw_null(w);
	jsonw_object_end(w);
}

int result_to_json(const struct llem_result *r, struct strbuf *out)
{
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	json_t *config = NULL;
	int rc;

	rc = result_check(r, "result");
	if (rc)
		return rc;
	/* Parse first, so that a bad config leaves out untouched. */
	if (r->effective_config) {
		config = parse_object(r->effective_config, "result: effective_config");
		if (!config)
			return LLEM_EINVAL;
	}
	jsonw_init(&w, &sb, JSONW_PRETTY);
	write_result(&w, r, config);
	strbuf_addch(&sb, '\n');
	strbuf_add(out, sb.buf, sb.len);
	json_decref(config);
	strbuf_release(&sb);
	return 0;
}

int result_save(const struct llem_result *r, const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	int rc;

	rc = result_to_json(r, &sb);
	if (!rc)
		rc = atomic_write_file(path, sb.buf, sb.len);
	strbuf_release(&sb);
	return rc;
}
