/*
 * result.json reader. Strict like the config loader: every key must be
 * known and present, every value of its type, so a file that loads is one
 * llem could have written, and writing it again gives the same bytes.
 * Errors name the file and the key path ("energy.devices[0].energy_j").
 */
#include "results/results.h"
#include "util/jsonr.h"
#include "llem/errors.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every key of result.json is written, so every read is required. */
#define REQ JSONR_REQUIRED
#define OR_NULL (JSONR_REQUIRED | JSONR_NULLABLE)

/* A count: int64, -1 is null (results.h). */
static void get_count(struct jsonr_node *n, const char *key, unsigned flags, int64_t *out)
{
	jsonr_int64(n, key, flags, 0, INT64_MAX, out);
}

/* An enum field read by its name table (results.h). */
#define GET_ENUM(n, key, table, field)                                                             \
	do {                                                                                       \
		unsigned v_;                                                                       \
		if (jsonr_enum(n, key, REQ, table, ARRAY_SIZE(table), &v_))                        \
			(field) = v_;                                                              \
	} while (0)

static void read_stats(struct jsonr_node *f, const char *key, struct result_stats *s)
{
	struct jsonr_node c;

	if (!jsonr_enter(&c, f, key, OR_NULL))
		return;
	s->present = true;
	get_count(&c, "samples", REQ, &s->samples);
	jsonr_double(&c, "mean", OR_NULL, &s->mean);
	jsonr_double(&c, "median", OR_NULL, &s->median);
	jsonr_double(&c, "p95", OR_NULL, &s->p95);
	jsonr_double(&c, "p99", OR_NULL, &s->p99);
	jsonr_double(&c, "min", OR_NULL, &s->min);
	jsonr_double(&c, "max", OR_NULL, &s->max);
	jsonr_leave(&c);
}

static void read_device(struct jsonr_node *c, struct llem_result *r)
{
	struct result_energy_device *d = result_add_energy_device(r);

	GET_ENUM(c, "source", result_energy_source_names, d->source);
	jsonr_strdup(c, "device", REQ, &d->device);
	GET_ENUM(c, "method", result_energy_method_names, d->method);
	jsonr_double(c, "energy_j", REQ, &d->energy_j);
	jsonr_double(c, "integral_energy_j", OR_NULL, &d->integral_energy_j);
	jsonr_double(c, "baseline_power_w", OR_NULL, &d->baseline_power_w);
	jsonr_double(c, "energy_adjusted_j", OR_NULL, &d->energy_adjusted_j);
	get_count(c, "power_samples", OR_NULL, &d->power_samples);
}

static void read_energy(struct jsonr_node *f, struct llem_result *r)
{
	struct result_energy *e = &r->energy;
	struct jsonr_node c, b, devs, d;
	size_t i;

	if (!jsonr_enter(&c, f, "energy", OR_NULL))
		return;
	e->present = true;
	jsonr_double(&c, "total_energy_j", REQ, &e->total_energy_j);
	jsonr_double(&c, "energy_adjusted_j", OR_NULL, &e->energy_adjusted_j);
	jsonr_double(&c, "energy_per_output_token_j", OR_NULL, &e->energy_per_output_token_j);
	jsonr_double(&c, "energy_adjusted_per_output_token_j", OR_NULL,
		     &e->energy_adjusted_per_output_token_j);
	jsonr_double(&c, "mean_power_w", OR_NULL, &e->mean_power_w);
	if (jsonr_enter(&b, &c, "baseline", REQ)) {
		GET_ENUM(&b, "method", result_baseline_method_names, e->baseline.method);
		jsonr_double(&b, "power_w", OR_NULL, &e->baseline.power_w);
		jsonr_strdup(&b, "measured_at", OR_NULL, &e->baseline.measured_at);
		jsonr_double(&b, "age_s", OR_NULL, &e->baseline.age_s);
		jsonr_double(&b, "duration_s", OR_NULL, &e->baseline.duration_s);
		get_count(&b, "samples", OR_NULL, &e->baseline.samples);
		jsonr_leave(&b);
	}
	if (jsonr_enter_array(&devs, &c, "devices", REQ)) {
		for (i = 0; i < jsonr_size(&devs); i++) {
			if (!jsonr_enter_at(&d, &devs, i))
				break;
			read_device(&d, r);
			jsonr_leave(&d);
		}
		jsonr_leave(&devs);
	}
	jsonr_leave(&c);
}

static void read_gpus(struct jsonr_node *f, struct env_nvml *nv)
{
	struct jsonr_node arr, c;
	size_t i;

	if (!jsonr_enter_array(&arr, f, "gpus", REQ))
		return;
	if (jsonr_size(&arr))
		nv->gpus = xcalloc(jsonr_size(&arr), sizeof(*nv->gpus));
	for (i = 0; i < jsonr_size(&arr); i++) {
		struct env_gpu *g = &nv->gpus[i];
		bool pm;

		if (!jsonr_enter_at(&c, &arr, i))
			break;
		nv->gpu_count = i + 1;
		g->memory_total_mb = -1;
		g->power_limit_w = NAN;
		/* Tri-state on both sides: 1, 0, -1 <-> true, false, null. */
		g->persistence_mode = -1;
		jsonr_int(&c, "index", REQ, 0, INT_MAX, &g->index);
		jsonr_strdup(&c, "name", OR_NULL, &g->name);
		jsonr_strdup(&c, "uuid", OR_NULL, &g->uuid);
		get_count(&c, "memory_total_mb", OR_NULL, &g->memory_total_mb);
		jsonr_double(&c, "power_limit_w", OR_NULL, &g->power_limit_w);
		if (jsonr_bool(&c, "persistence_mode", OR_NULL, &pm))
			g->persistence_mode = pm;
		jsonr_leave(&c);
	}
	jsonr_leave(&arr);
}

static void read_environment(struct jsonr_node *f, struct env_snapshot *env)
{
	struct jsonr_node c, n;

	if (!jsonr_enter(&c, f, "environment", REQ))
		return;
	jsonr_strdup(&c, "collected_at", OR_NULL, &env->collected_at);
	jsonr_strdup(&c, "cpu_model", OR_NULL, &env->cpu_model);
	jsonr_int(&c, "cpu_logical_cores", OR_NULL, 0, INT_MAX, &env->cpu_logical_cores);
	jsonr_int(&c, "cpu_physical_cores", OR_NULL, 0, INT_MAX, &env->cpu_physical_cores);
	jsonr_strdup(&c, "cpu_governor", OR_NULL, &env->cpu_governor);
	get_count(&c, "memory_total_mb", OR_NULL, &env->memory_total_mb);
	jsonr_strdup(&c, "kernel", OR_NULL, &env->kernel);
	jsonr_strdup(&c, "arch", OR_NULL, &env->arch);
	jsonr_strdup(&c, "distro", OR_NULL, &env->distro);
	jsonr_strdup(&c, "container", OR_NULL, &env->container);
	if (jsonr_enter(&n, &c, "nvml", REQ)) {
		jsonr_bool(&n, "loaded", REQ, &env->nvml.loaded);
		jsonr_strdup(&n, "library_path", OR_NULL, &env->nvml.library_path);
		jsonr_strdup(&n, "error", OR_NULL, &env->nvml.error);
		jsonr_strdup(&n, "driver_version", OR_NULL, &env->nvml.driver_version);
		jsonr_strdup(&n, "cuda_driver_version", OR_NULL, &env->nvml.cuda_driver_version);
		read_gpus(&n, &env->nvml);
		jsonr_leave(&n);
	}
	jsonr_strdup(&c, "llem_version", OR_NULL, &env->llem_version);
	jsonr_strdup(&c, "llem_build", OR_NULL, &env->llem_build);
	jsonr_leave(&c);
}

static void read_warmup(struct jsonr_node *f, struct llem_result *r)
{
	struct result_warmup *w = &r->warmup;
	struct jsonr_node c, arr;
	size_t i;

	if (!jsonr_enter(&c, f, "warmup", REQ))
		return;
	jsonr_bool(&c, "enabled", REQ, &w->enabled);
	GET_ENUM(&c, "mode", result_warmup_mode_names, w->mode);
	get_count(&c, "iterations_completed", OR_NULL, &w->iterations_completed);
	jsonr_bool(&c, "converged", REQ, &w->converged);
	jsonr_double(&c, "final_cv", OR_NULL, &w->final_cv);
	jsonr_double(&c, "target_cv", OR_NULL, &w->target_cv);
	jsonr_double(&c, "thermal_floor_wait_s", OR_NULL, &w->thermal_floor_wait_s);
	if (jsonr_enter_array(&arr, &c, "latencies_ms", REQ)) {
		for (i = 0; i < jsonr_size(&arr) && !arr.r->rc; i++) {
			double ms = NAN;

			jsonr_at_double(&arr, i, OR_NULL, &ms);
			if (!arr.r->rc)
				result_warmup_add_latency(r, ms);
		}
		jsonr_leave(&arr);
	}
	jsonr_leave(&c);
}

static void read_thermal(struct jsonr_node *f, struct result_thermal *t)
{
	struct jsonr_node c;

	if (!jsonr_enter(&c, f, "thermal", OR_NULL))
		return;
	t->present = true;
	jsonr_double(&c, "max_temperature_c", OR_NULL, &t->max_temperature_c);
	jsonr_double(&c, "start_temperature_c", OR_NULL, &t->start_temperature_c);
	jsonr_double(&c, "end_temperature_c", OR_NULL, &t->end_temperature_c);
	jsonr_bool(&c, "throttle_detected", REQ, &t->throttle_detected);
	jsonr_bool(&c, "thermal", REQ, &t->thermal);
	jsonr_bool(&c, "power", REQ, &t->power);
	jsonr_bool(&c, "sw_thermal", REQ, &t->sw_thermal);
	jsonr_bool(&c, "hw_thermal", REQ, &t->hw_thermal);
	jsonr_bool(&c, "hw_power", REQ, &t->hw_power);
	jsonr_double(&c, "throttled_duration_s", OR_NULL, &t->throttled_duration_s);
	get_count(&c, "samples", OR_NULL, &t->samples);
	jsonr_leave(&c);
}

static void read_warnings(struct jsonr_node *f, struct llem_result *r)
{
	struct jsonr_node arr;
	const char *s;
	size_t i;

	if (!jsonr_enter_array(&arr, f, "warnings", REQ))
		return;
	for (i = 0; i < jsonr_size(&arr); i++) {
		if (!jsonr_at_str(&arr, i, REQ, &s))
			break;
		result_add_warning(r, "%s", s);
	}
	jsonr_leave(&arr);
}

/*
 * effective_config is kept as one line in json.dumps layout (the config
 * layer's canonical layout); the values, not the input's spelling, decide
 * the text, so rewriting the file reproduces it.
 */
static void read_config(struct jsonr_node *f, struct llem_result *r)
{
	json_t *v = jsonr_object(f, "effective_config", OR_NULL);
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	char *text;

	if (!v)
		return;
	text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!text) {
		jsonr_fail(f, "effective_config", LLEM_EINVAL, "cannot re-serialise");
		return;
	}
	jsonw_init(&w, &sb, JSONW_PYTHON);
	if (result_emit_json_object(&w, text, "effective_config") == 0)
		r->effective_config = strbuf_detach(&sb);
	else
		jsonr_fail(f, "effective_config", LLEM_EINVAL, "%s", error_last());
	free(text);
	strbuf_release(&sb);
}

static void read_result(struct jsonr_node *root, struct llem_result *r)
{
	struct jsonr_node c;
	const char *version;

	/* The version first: a newer file fails on it, not on a new key. */
	if (jsonr_str(root, "schema_version", REQ, &version) &&
	    strcmp(version, RESULT_SCHEMA_VERSION))
		jsonr_fail(root, "schema_version", LLEM_EINVAL,
			   "unsupported version \"%s\" (this llem reads \"%s\")", version,
			   RESULT_SCHEMA_VERSION);
	jsonr_strdup(root, "experiment_id", REQ, &r->experiment_id);
	jsonr_strdup(root, "config_hash", REQ, &r->config_hash);
	jsonr_strdup(root, "model", REQ, &r->model);
	jsonr_strdup(root, "backend", REQ, &r->backend);
	jsonr_strdup(root, "backend_version", OR_NULL, &r->backend_version);
	GET_ENUM(root, "measurement_methodology", result_methodology_names, r->methodology);
	if (jsonr_enter(&c, root, "steady_state_window", OR_NULL)) {
		r->steady_state_window.present = true;
		jsonr_double(&c, "start_s", REQ, &r->steady_state_window.start_s);
		jsonr_double(&c, "end_s", REQ, &r->steady_state_window.end_s);
		jsonr_leave(&c);
	}
	jsonr_strdup(root, "start_time", REQ, &r->start_time);
	jsonr_strdup(root, "end_time", REQ, &r->end_time);
	jsonr_double(root, "duration_s", REQ, &r->duration_s);
	jsonr_double(root, "inference_time_s", OR_NULL, &r->inference_time_s);

	if (jsonr_enter(&c, root, "tokens", REQ)) {
		get_count(&c, "requests", REQ, &r->tokens.requests);
		get_count(&c, "input_tokens", REQ, &r->tokens.input_tokens);
		get_count(&c, "output_tokens", REQ, &r->tokens.output_tokens);
		get_count(&c, "total_tokens", REQ, &r->tokens.total_tokens);
		jsonr_leave(&c);
	}
	if (jsonr_enter(&c, root, "throughput", REQ)) {
		jsonr_double(&c, "output_tokens_per_s", OR_NULL,
			     &r->throughput.output_tokens_per_s);
		jsonr_double(&c, "total_tokens_per_s", OR_NULL, &r->throughput.total_tokens_per_s);
		jsonr_double(&c, "requests_per_s", OR_NULL, &r->throughput.requests_per_s);
		jsonr_leave(&c);
	}
	read_energy(root, r);
	jsonr_strdup(root, "energy_null_reason", OR_NULL, &r->energy_null_reason);
	if (jsonr_enter(&c, root, "flops", REQ)) {
		jsonr_double(&c, "total_flops", OR_NULL, &r->flops.total_flops);
		jsonr_double(&c, "prefill_flops", OR_NULL, &r->flops.prefill_flops);
		jsonr_double(&c, "decode_flops", OR_NULL, &r->flops.decode_flops);
		jsonr_double(&c, "flops_per_output_token", OR_NULL,
			     &r->flops.flops_per_output_token);
		jsonr_strdup(&c, "method", OR_NULL, &r->flops.method);
		jsonr_leave(&c);
	}
	if (jsonr_enter(&c, root, "model_info", REQ)) {
		struct result_model_info *mi = &r->model_info;

		get_count(&c, "parameters", OR_NULL, &mi->parameters);
		get_count(&c, "non_embedding_parameters", OR_NULL, &mi->non_embedding_parameters);
		get_count(&c, "layers", OR_NULL, &mi->layers);
		get_count(&c, "hidden_size", OR_NULL, &mi->hidden_size);
		get_count(&c, "attention_heads", OR_NULL, &mi->attention_heads);
		get_count(&c, "kv_heads", OR_NULL, &mi->kv_heads);
		get_count(&c, "vocab_size", OR_NULL, &mi->vocab_size);
		jsonr_strdup(&c, "dtype", OR_NULL, &mi->dtype);
		get_count(&c, "weights_bytes", OR_NULL, &mi->weights_bytes);
		jsonr_leave(&c);
	}
	if (jsonr_enter(&c, root, "latency", REQ)) {
		read_stats(&c, "ttft_ms", &r->latency.ttft_ms);
		read_stats(&c, "itl_ms", &r->latency.itl_ms);
		read_stats(&c, "tpot_ms", &r->latency.tpot_ms);
		read_stats(&c, "e2e_ms", &r->latency.e2e_ms);
		jsonr_leave(&c);
	}
	if (jsonr_enter(&c, root, "memory", REQ)) {
		jsonr_double(&c, "model_memory_mb", OR_NULL, &r->memory.model_memory_mb);
		jsonr_double(&c, "peak_memory_mb", OR_NULL, &r->memory.peak_memory_mb);
		jsonr_strdup(&c, "method", OR_NULL, &r->memory.method);
		jsonr_leave(&c);
	}
	read_thermal(root, &r->thermal);
	read_warmup(root, r);
	read_environment(root, &r->environment);
	read_warnings(root, r);
	jsonr_strdup(root, "timeseries", OR_NULL, &r->timeseries);
	read_config(root, r);
}

int result_from_json(struct llem_result *out, const char *json, const char *source_name)
{
	struct jsonr rd;
	struct jsonr_node root;
	json_t *doc;
	int rc;

	result_init(out);
	jsonr_init(&rd, source_name, JSONR_STRICT);
	rd.missing_note = "every key is written, null when unknown";
	doc = jsonr_parse(&rd, json, strlen(json));
	if (jsonr_root(&root, &rd, doc)) {
		read_result(&root, out);
		jsonr_leave(&root);
	}
	rc = rd.rc;
	if (!rc)
		rc = result_check(out, rd.source);
	if (rc)
		result_release(out);
	json_decref(doc);
	jsonr_release(&rd);
	return rc;
}

int result_load(struct llem_result *out, const char *path)
{
	char *text;
	int rc;

	result_init(out);
	rc = fs_read_file(path, &text, NULL);
	if (rc)
		return rc;
	rc = result_from_json(out, text, path);
	free(text);
	return rc;
}
