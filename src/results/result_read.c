/*
 * result.json reader. Strict like the config loader: every key must be
 * known and present, every value of its type, so a file that loads is one
 * llem could have written, and writing it again gives the same bytes.
 * Errors name the file and the key path ("energy.devices[0].energy_j").
 */
#include "results/results.h"
#include "llem/errors.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 32	/* more than any object of result.json has */

struct reader {
	const char *source;
	struct strbuf path;	/* dotted path of the object being read */
	int rc;			/* the first error; later reads are skipped */
};

/* One JSON object being read: which keys were asked for, which missing. */
struct frame {
	struct reader *rd;
	json_t *obj;
	size_t outer_len;	/* rd->path length to restore on leave */
	const char *seen[MAX_KEYS];
	size_t nseen;
	const char *missing;	/* first key asked for and not there */
};

static void fail(struct frame *f, const char *key, const char *fmt, ...)
	LLEM_PRINTF(3, 4);

static void fail(struct frame *f, const char *key, const char *fmt, ...)
{
	struct reader *rd = f->rd;
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	if (rd->rc)
		return;
	strbuf_addf(&msg, "%s: %s", rd->source, strbuf_str(&rd->path));
	if (key)
		strbuf_addf(&msg, "%s%s", rd->path.len ? "." : "", key);
	strbuf_adds(&msg, ": ");
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	rd->rc = error_set(LLEM_EINVAL, "%s", msg.buf);
	strbuf_release(&msg);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static void fail_type(struct frame *f, const char *key, const char *want,
		      bool nullable, const json_t *v)
{
	fail(f, key, "expected %s%s, got %s", want, nullable ? " or null" : "",
	     type_name(v));
}

/* The value under key, or NULL when absent (noted) or after an error. */
static json_t *member(struct frame *f, const char *key)
{
	json_t *v;

	if (f->rd->rc)
		return NULL;
	if (f->nseen < MAX_KEYS)
		f->seen[f->nseen++] = key;
	v = json_object_get(f->obj, key);
	if (!v && !f->missing)
		f->missing = key;
	return v;
}

static void push_path(struct reader *rd, struct frame *child, const char *key)
{
	child->outer_len = rd->path.len;
	if (rd->path.len)
		strbuf_addch(&rd->path, '.');
	strbuf_adds(&rd->path, key);
}

static void frame_init(struct frame *f, struct reader *rd, json_t *obj)
{
	memset(f, 0, sizeof(*f));
	f->rd = rd;
	f->obj = obj;
	f->outer_len = rd->path.len;
}

/*
 * Opens parent's key as an object. False when it is null (nullable) or
 * cannot be read (error set); in both cases there is nothing to leave.
 */
static bool enter(struct frame *child, struct frame *parent, const char *key,
		  bool nullable)
{
	json_t *v = member(parent, key);

	frame_init(child, parent->rd, NULL);
	if (!v)
		return false;
	if (json_is_null(v) && nullable)
		return false;
	if (!json_is_object(v)) {
		fail_type(parent, key, "an object", nullable, v);
		return false;
	}
	child->obj = v;
	push_path(parent->rd, child, key);
	return true;
}

/* Opens element i of array key (already fetched) as an object. */
static bool enter_element(struct frame *child, struct frame *parent,
			  const char *key, size_t i, json_t *v)
{
	char name[96];

	snprintf(name, sizeof(name), "%s[%zu]", key, i);
	frame_init(child, parent->rd, NULL);
	if (parent->rd->rc)
		return false;
	if (!json_is_object(v)) {
		fail_type(parent, name, "an object", false, v);
		return false;
	}
	child->obj = v;
	push_path(parent->rd, child, name);
	return true;
}

/* Closes an object: unknown keys first (a typo also shows as missing). */
static void leave(struct frame *f)
{
	struct reader *rd = f->rd;
	const char *key;
	json_t *v;

	if (!rd->rc) {
		json_object_foreach(f->obj, key, v) {
			const char *near;
			size_t i;

			for (i = 0; i < f->nseen; i++)
				if (!strcmp(f->seen[i], key))
					break;
			if (i < f->nseen)
				continue;
			near = did_you_mean(key, f->seen, f->nseen, 2);
			if (near)
				fail(f, key, "unknown key (did you mean '%s'?)",
				     near);
			else
				fail(f, key, "unknown key");
			break;
		}
	}
	if (!rd->rc && f->missing)
		fail(f, f->missing,
		     "missing key (every key is written, null when unknown)");
	if (rd->path.buf) {
		rd->path.len = f->outer_len;
		rd->path.buf[rd->path.len] = '\0';
	}
}

static void get_double(struct frame *f, const char *key, double *out,
		       bool nullable)
{
	json_t *v = member(f, key);

	if (!v)
		return;
	if (json_is_null(v) && nullable)
		*out = NAN;
	else if (json_is_real(v))
		*out = json_real_value(v);
	else if (json_is_integer(v))
		*out = (double)json_integer_value(v);
	else
		fail_type(f, key, "a number", nullable, v);
}

static void get_count(struct frame *f, const char *key, int64_t *out,
		      bool nullable)
{
	json_t *v = member(f, key);

	if (!v)
		return;
	if (json_is_null(v) && nullable) {
		*out = -1;
		return;
	}
	if (!json_is_integer(v)) {
		fail_type(f, key, "a non-negative integer", nullable, v);
		return;
	}
	if (json_integer_value(v) < 0) {
		fail(f, key, "must be >= 0, got %lld",
		     (long long)json_integer_value(v));
		return;
	}
	*out = (int64_t)json_integer_value(v);
}

/* A count stored in an int (environment fields). */
static void get_int_count(struct frame *f, const char *key, int *out,
			  bool nullable)
{
	int64_t v = -1;

	get_count(f, key, &v, nullable);
	if (f->rd->rc)
		return;
	if (v > INT_MAX) {
		fail(f, key, "out of range");
		return;
	}
	*out = (int)v;
}

static void get_string(struct frame *f, const char *key, char **out,
		       bool nullable)
{
	json_t *v = member(f, key);

	if (!v)
		return;
	if (json_is_null(v) && nullable)
		return;
	if (!json_is_string(v)) {
		fail_type(f, key, "a string", nullable, v);
		return;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
}

static void get_bool(struct frame *f, const char *key, bool *out)
{
	json_t *v = member(f, key);

	if (!v)
		return;
	if (!json_is_boolean(v)) {
		fail_type(f, key, "a boolean", false, v);
		return;
	}
	*out = json_is_true(v);
}

typedef const char *enum_name_fn(unsigned i);

static const char *methodology_at(unsigned i)
{
	return result_methodology_name((enum result_methodology)i);
}

static const char *baseline_method_at(unsigned i)
{
	return result_baseline_method_name((enum result_baseline_method)i);
}

static const char *energy_source_at(unsigned i)
{
	return result_energy_source_name((enum result_energy_source)i);
}

static const char *energy_method_at(unsigned i)
{
	return result_energy_method_name((enum result_energy_method)i);
}

static const char *warmup_mode_at(unsigned i)
{
	return result_warmup_mode_name((enum result_warmup_mode)i);
}

/* Index of the string under key among name(0), name(1), ... */
static unsigned get_enum(struct frame *f, const char *key, enum_name_fn *name)
{
	json_t *v = member(f, key);
	struct strbuf allowed = STRBUF_INIT;
	const char *s;
	unsigned i;

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		fail_type(f, key, "a string", false, v);
		return 0;
	}
	for (i = 0; (s = name(i)); i++)
		if (!strcmp(s, json_string_value(v)))
			return i;
	for (i = 0; (s = name(i)); i++)
		strbuf_addf(&allowed, "%s\"%s\"", i ? ", " : "", s);
	fail(f, key, "must be one of %s, got \"%s\"", allowed.buf,
	     json_string_value(v));
	strbuf_release(&allowed);
	return 0;
}

/* The array under key; NULL when absent or not an array (error set). */
static json_t *get_array(struct frame *f, const char *key)
{
	json_t *v = member(f, key);

	if (v && !json_is_array(v)) {
		fail_type(f, key, "an array", false, v);
		return NULL;
	}
	return v;
}

static void read_stats(struct frame *f, const char *key, struct result_stats *s)
{
	struct frame c;

	if (!enter(&c, f, key, true))
		return;
	s->present = true;
	get_count(&c, "samples", &s->samples, false);
	get_double(&c, "mean", &s->mean, true);
	get_double(&c, "median", &s->median, true);
	get_double(&c, "p95", &s->p95, true);
	get_double(&c, "p99", &s->p99, true);
	get_double(&c, "min", &s->min, true);
	get_double(&c, "max", &s->max, true);
	leave(&c);
}

static void read_device(struct frame *c, struct llem_result *r)
{
	struct result_energy_device *d = result_add_energy_device(r);

	d->source = (enum result_energy_source)get_enum(c, "source",
							energy_source_at);
	get_string(c, "device", &d->device, false);
	d->method = (enum result_energy_method)get_enum(c, "method",
							energy_method_at);
	get_double(c, "energy_j", &d->energy_j, false);
	get_double(c, "integral_energy_j", &d->integral_energy_j, true);
	get_double(c, "baseline_power_w", &d->baseline_power_w, true);
	get_double(c, "energy_adjusted_j", &d->energy_adjusted_j, true);
	get_count(c, "power_samples", &d->power_samples, true);
}

static void read_energy(struct frame *f, struct llem_result *r)
{
	struct result_energy *e = &r->energy;
	struct frame c, b, d;
	json_t *devs, *v;
	size_t i;

	if (!enter(&c, f, "energy", true))
		return;
	e->present = true;
	get_double(&c, "total_energy_j", &e->total_energy_j, false);
	get_double(&c, "energy_adjusted_j", &e->energy_adjusted_j, true);
	get_double(&c, "energy_per_output_token_j",
		   &e->energy_per_output_token_j, true);
	get_double(&c, "energy_adjusted_per_output_token_j",
		   &e->energy_adjusted_per_output_token_j, true);
	get_double(&c, "mean_power_w", &e->mean_power_w, true);
	if (enter(&b, &c, "baseline", false)) {
		e->baseline.method = (enum result_baseline_method)
			get_enum(&b, "method", baseline_method_at);
		get_double(&b, "power_w", &e->baseline.power_w, true);
		get_string(&b, "measured_at", &e->baseline.measured_at, true);
		get_double(&b, "age_s", &e->baseline.age_s, true);
		get_double(&b, "duration_s", &e->baseline.duration_s, true);
		get_count(&b, "samples", &e->baseline.samples, true);
		leave(&b);
	}
	devs = get_array(&c, "devices");
	json_array_foreach(devs, i, v) {
		if (!enter_element(&d, &c, "devices", i, v))
			break;
		read_device(&d, r);
		leave(&d);
	}
	leave(&c);
}

static void read_gpus(struct frame *f, struct env_nvml *nv)
{
	json_t *arr = get_array(f, "gpus"), *v;
	struct frame c;
	size_t i;

	if (!arr || !json_array_size(arr))
		return;
	nv->gpus = xcalloc(json_array_size(arr), sizeof(*nv->gpus));
	json_array_foreach(arr, i, v) {
		struct env_gpu *g = &nv->gpus[i];
		json_t *pm;

		if (!enter_element(&c, f, "gpus", i, v))
			break;
		nv->gpu_count = i + 1;
		g->memory_total_mb = -1;
		g->persistence_mode = -1;
		get_int_count(&c, "index", &g->index, false);
		get_string(&c, "name", &g->name, true);
		get_string(&c, "uuid", &g->uuid, true);
		get_count(&c, "memory_total_mb", &g->memory_total_mb, true);
		get_double(&c, "power_limit_w", &g->power_limit_w, true);
		/* Tri-state on both sides: 1, 0, -1 <-> true, false, null. */
		pm = member(&c, "persistence_mode");
		if (pm && json_is_boolean(pm))
			g->persistence_mode = json_is_true(pm);
		else if (pm && !json_is_null(pm))
			fail_type(&c, "persistence_mode", "a boolean", true, pm);
		leave(&c);
	}
}

static void read_environment(struct frame *f, struct env_snapshot *env)
{
	struct frame c, n;

	if (!enter(&c, f, "environment", false))
		return;
	get_string(&c, "collected_at", &env->collected_at, true);
	get_string(&c, "cpu_model", &env->cpu_model, true);
	get_int_count(&c, "cpu_logical_cores", &env->cpu_logical_cores, true);
	get_int_count(&c, "cpu_physical_cores", &env->cpu_physical_cores, true);
	get_string(&c, "cpu_governor", &env->cpu_governor, true);
	get_count(&c, "memory_total_mb", &env->memory_total_mb, true);
	get_string(&c, "kernel", &env->kernel, true);
	get_string(&c, "arch", &env->arch, true);
	get_string(&c, "distro", &env->distro, true);
	get_string(&c, "container", &env->container, true);
	if (enter(&n, &c, "nvml", false)) {
		get_bool(&n, "loaded", &env->nvml.loaded);
		get_string(&n, "library_path", &env->nvml.library_path, true);
		get_string(&n, "error", &env->nvml.error, true);
		get_string(&n, "driver_version", &env->nvml.driver_version, true);
		get_string(&n, "cuda_driver_version",
			   &env->nvml.cuda_driver_version, true);
		read_gpus(&n, &env->nvml);
		leave(&n);
	}
	get_string(&c, "llem_version", &env->llem_version, true);
	get_string(&c, "llem_build", &env->llem_build, true);
	leave(&c);
}

static void read_warmup(struct frame *f, struct llem_result *r)
{
	struct result_warmup *w = &r->warmup;
	struct frame c;
	json_t *arr, *v;
	size_t i;

	if (!enter(&c, f, "warmup", false))
		return;
	get_bool(&c, "enabled", &w->enabled);
	w->mode = (enum result_warmup_mode)get_enum(&c, "mode", warmup_mode_at);
	get_count(&c, "iterations_completed", &w->iterations_completed, true);
	get_bool(&c, "converged", &w->converged);
	get_double(&c, "final_cv", &w->final_cv, true);
	get_double(&c, "target_cv", &w->target_cv, true);
	get_double(&c, "thermal_floor_wait_s", &w->thermal_floor_wait_s, true);
	arr = get_array(&c, "latencies_ms");
	json_array_foreach(arr, i, v) {
		if (json_is_null(v)) {
			result_warmup_add_latency(r, NAN);
		} else if (json_is_number(v)) {
			result_warmup_add_latency(r, json_number_value(v));
		} else {
			char name[64];

			snprintf(name, sizeof(name), "latencies_ms[%zu]", i);
			fail_type(&c, name, "a number", true, v);
			break;
		}
	}
	leave(&c);
}

static void read_thermal(struct frame *f, struct result_thermal *t)
{
	struct frame c;

	if (!enter(&c, f, "thermal", true))
		return;
	t->present = true;
	get_double(&c, "max_temperature_c", &t->max_temperature_c, true);
	get_double(&c, "start_temperature_c", &t->start_temperature_c, true);
	get_double(&c, "end_temperature_c", &t->end_temperature_c, true);
	get_bool(&c, "throttle_detected", &t->throttle_detected);
	get_bool(&c, "thermal", &t->thermal);
	get_bool(&c, "power", &t->power);
	get_bool(&c, "sw_thermal", &t->sw_thermal);
	get_bool(&c, "hw_thermal", &t->hw_thermal);
	get_bool(&c, "hw_power", &t->hw_power);
	get_double(&c, "throttled_duration_s", &t->throttled_duration_s, true);
	get_count(&c, "samples", &t->samples, true);
	leave(&c);
}

static void read_warnings(struct frame *f, struct llem_result *r)
{
	json_t *arr = get_array(f, "warnings"), *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		char name[64];

		if (json_is_string(v)) {
			result_add_warning(r, "%s", json_string_value(v));
			continue;
		}
		snprintf(name, sizeof(name), "warnings[%zu]", i);
		fail_type(f, name, "a string", false, v);
		break;
	}
}

/*
 * effective_config is kept as one line in json.dumps layout (the config
 * layer's canonical layout); the values, not the input's spelling, decide
 * the text, so rewriting the file reproduces it.
 */
static void read_config(struct frame *f, struct llem_result *r)
{
	json_t *v = member(f, "effective_config");
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	char *text;

	if (!v || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		fail_type(f, "effective_config", "an object", true, v);
		return;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!text) {
		fail(f, "effective_config", "cannot re-serialise");
		return;
	}
	jsonw_init(&w, &sb, JSONW_PYTHON);
	if (result_emit_json_object(&w, text, "effective_config") == 0)
		r->effective_config = strbuf_detach(&sb);
	else
		fail(f, "effective_config", "%s", error_last());
	free(text);
	strbuf_release(&sb);
}

static void read_result(struct frame *root, struct llem_result *r)
{
	struct frame c;
	char *version = NULL;
	unsigned m;

	/* The version first: a newer file fails on it, not on a new key. */
	get_string(root, "schema_version", &version, false);
	if (version && strcmp(version, RESULT_SCHEMA_VERSION))
		fail(root, "schema_version",
		     "unsupported version \"%s\" (this llem reads \"%s\")",
		     version, RESULT_SCHEMA_VERSION);
	free(version);
	get_string(root, "experiment_id", &r->experiment_id, false);
	get_string(root, "config_hash", &r->config_hash, false);
	get_string(root, "model", &r->model, false);
	get_string(root, "backend", &r->backend, false);
	get_string(root, "backend_version", &r->backend_version, true);
	m = get_enum(root, "measurement_methodology", methodology_at);
	r->methodology = (enum result_methodology)m;
	if (enter(&c, root, "steady_state_window", true)) {
		r->steady_state_window.present = true;
		get_double(&c, "start_s", &r->steady_state_window.start_s, false);
		get_double(&c, "end_s", &r->steady_state_window.end_s, false);
		leave(&c);
	}
	get_string(root, "start_time", &r->start_time, false);
	get_string(root, "end_time", &r->end_time, false);
	get_double(root, "duration_s", &r->duration_s, false);
	get_double(root, "inference_time_s", &r->inference_time_s, true);

	if (enter(&c, root, "tokens", false)) {
		get_count(&c, "requests", &r->tokens.requests, false);
		get_count(&c, "input_tokens", &r->tokens.input_tokens, false);
		get_count(&c, "output_tokens", &r->tokens.output_tokens, false);
		get_count(&c, "total_tokens", &r->tokens.total_tokens, false);
		leave(&c);
	}
	if (enter(&c, root, "throughput", false)) {
		get_double(&c, "output_tokens_per_s",
			   &r->throughput.output_tokens_per_s, true);
		get_double(&c, "total_tokens_per_s",
			   &r->throughput.total_tokens_per_s, true);
		get_double(&c, "requests_per_s", &r->throughput.requests_per_s,
			   true);
		leave(&c);
	}
	read_energy(root, r);
	get_string(root, "energy_null_reason", &r->energy_null_reason, true);
	if (enter(&c, root, "flops", false)) {
		get_double(&c, "total_flops", &r->flops.total_flops, true);
		get_double(&c, "prefill_flops", &r->flops.prefill_flops, true);
		get_double(&c, "decode_flops", &r->flops.decode_flops, true);
		get_double(&c, "flops_per_output_token",
			   &r->flops.flops_per_output_token, true);
		get_string(&c, "method", &r->flops.method, true);
		leave(&c);
	}
	if (enter(&c, root, "model_info", false)) {
		struct result_model_info *mi = &r->model_info;

		get_count(&c, "parameters", &mi->parameters, true);
		get_count(&c, "non_embedding_parameters",
			  &mi->non_embedding_parameters, true);
		get_count(&c, "layers", &mi->layers, true);
		get_count(&c, "hidden_size", &mi->hidden_size, true);
		get_count(&c, "attention_heads", &mi->attention_heads, true);
		get_count(&c, "kv_heads", &mi->kv_heads, true);
		get_count(&c, "vocab_size", &mi->vocab_size, true);
		get_string(&c, "dtype", &mi->dtype, true);
		get_count(&c, "weights_bytes", &mi->weights_bytes, true);
		leave(&c);
	}
	if (enter(&c, root, "latency", false)) {
		read_stats(&c, "ttft_ms", &r->latency.ttft_ms);
		read_stats(&c, "itl_ms", &r->latency.itl_ms);
		read_stats(&c, "tpot_ms", &r->latency.tpot_ms);
		read_stats(&c, "e2e_ms", &r->latency.e2e_ms);
		leave(&c);
	}
	if (enter(&c, root, "memory", false)) {
		get_double(&c, "model_memory_mb", &r->memory.model_memory_mb,
			   true);
		get_double(&c, "peak_memory_mb", &r->memory.peak_memory_mb, true);
		get_string(&c, "method", &r->memory.method, true);
		leave(&c);
	}
	read_thermal(root, &r->thermal);
	read_warmup(root, r);
	read_environment(root, &r->environment);
	read_warnings(root, r);
	get_string(root, "timeseries", &r->timeseries, true);
	read_config(root, r);
}

int result_from_json(struct llem_result *out, const char *json,
		     const char *source_name)
{
	struct reader rd = { source_name ? source_name : "<string>",
			     STRBUF_INIT, 0 };
	struct frame root;
	json_error_t jerr;
	json_t *doc;

	result_init(out);
	doc = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return error_set(LLEM_EINVAL, "%s:%d:%d: not valid JSON: %s",
				 rd.source, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc)) {
		int rc = error_set(LLEM_EINVAL,
				   "%s: expected a JSON object, got %s",
				   rd.source, type_name(doc));

		json_decref(doc);
		return rc;
	}
	frame_init(&root, &rd, doc);
	read_result(&root, out);
	leave(&root);
	if (!rd.rc)
		rd.rc = result_check(out, rd.source);
	if (rd.rc)
		result_release(out);
	json_decref(doc);
	strbuf_release(&rd.path);
	return rd.rc;
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
