/*
 * What a dry run needs, as data: the plan of an experiment or a study
 * (llem_config_plan_json), the backends' preflight (llem_config_preflight)
 * and the key behind --batch-size (llem_config_batch_size_key).
 */
#include "api/api.h"
#include "backends/backends.h"
#include "datasets/datasets.h"
#include "measure/measure.h"

#include <stdlib.h>
#include <string.h>

/* The experiments of a loaded config: one, or a study's valid points. */
static size_t experiments(const struct llem_config *cfg, const struct config **out)
{
	if (!cfg->lc.is_study) {
		*out = &cfg->lc.experiment;
		return 1;
	}
	*out = cfg->lc.study.points;
	return cfg->lc.study.count;
}

/* A small set of strings: the checks a study's dry run already made. */
struct seen {
	char **keys;
	size_t count, cap;
};

/* Adds key (taking ownership); true when it was new. */
static bool seen_add(struct seen *s, char *key)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (!strcmp(s->keys[i], key)) {
			free(key);
			return false;
		}
	GROW(s->keys, s->cap, s->count + 1);
	s->keys[s->count++] = key;
	return true;
}

static void seen_release(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->keys[i]);
	free(s->keys);
}

/* Prompts available in the experiment's dataset; error "dataset: ...". */
static int count_prompts(size_t *available, const struct config *c)
{
	struct prompt_set ps;

	if (dataset_load(&ps, cfg_str(c, FIELD_DATASET), (size_t)cfg_int(c, FIELD_N)) != 0)
		return error_set(LLEM_EINVAL, "dataset: %s", error_last());
	*available = ps.available;
	prompt_set_release(&ps);
	return 0;
}

/* The study point's name in messages: "study point 3 (precision=fp16)". */
static int in_point(int rc, const struct study *s, size_t i)
{
	return error_set(rc, "%s\nin study point %zu (%s)", error_last(), i + 1, s->labels[i]);
}

static void put_value(struct jsonw *w, const struct config *c, enum field_id id)
{
	struct strbuf v = STRBUF_INIT;

	if (c->v[id].kind == CV_NULL) {
		jsonw_null(w);
	} else if (c->v[id].kind == CV_INT) {
		jsonw_int(w, c->v[id].i);
	} else {
		cfg_value_format(&c->v[id], &v);
		jsonw_string(w, v.buf);
	}
	strbuf_release(&v);
}

static void experiment_plan(struct jsonw *w, const struct config *c, size_t available)
{
	const struct backend_ops *ops = backends_ops(cfg_str(c, FIELD_BACKEND));
	enum field_id bs = ops ? ops->caps.batch_size_field : FIELD_COUNT;
	struct strbuf sb = STRBUF_INIT;
	size_t id;

	jsonw_key(w, "config_hash");
	jsonw_string(w, c->hash);
	jsonw_key(w, "output_dir");
	jsonw_string(w, cfg_str(c, FIELD_OUTPUT_DIR));
	jsonw_key(w, "config");
	jsonw_raw(w, c->canonical_json);
	jsonw_key(w, "summary");
	jsonw_object_begin(w);
	jsonw_key(w, "model");
	jsonw_string(w, cfg_str(c, FIELD_MODEL));
	jsonw_key(w, "backend");
	jsonw_string(w, cfg_str(c, FIELD_BACKEND));
	jsonw_key(w, "precision");
	jsonw_string(w, cfg_str(c, FIELD_PRECISION));
	jsonw_key(w, "batch_size");
	if (bs != FIELD_COUNT && c->v[bs].kind == CV_INT)
		jsonw_int(w, c->v[bs].i);
	else
		jsonw_null(w);
	jsonw_key(w, "dataset");
	jsonw_string(w, cfg_str(c, FIELD_DATASET));
	jsonw_key(w, "n");
	jsonw_int(w, cfg_int(c, FIELD_N));
	jsonw_key(w, "prompts_available");
	jsonw_int(w, (int64_t)available);
	jsonw_key(w, "max_input_tokens");
	jsonw_int(w, cfg_int(c, FIELD_MAX_INPUT_TOKENS));
	jsonw_key(w, "max_output_tokens");
	jsonw_int(w, cfg_int(c, FIELD_MAX_OUTPUT_TOKENS));
	jsonw_key(w, "energy_backend");
	put_value(w, c, FIELD_ENERGY_BACKEND);
	jsonw_object_end(w);

	jsonw_key(w, "explicit");
	jsonw_array_begin(w);
	for (id = 0; id < FIELD_COUNT; id++) {
		const struct cfg_origin *o = &c->o[id];

		if (!o->source || schema_fields[id].type == FT_SECTION ||
		    (schema_fields[id].flags & F_STUDY))
			continue;
		strbuf_reset(&sb);
		cfg_value_format(&c->v[id], &sb);
		jsonw_object_begin(w);
		jsonw_key(w, "path");
		jsonw_string(w, schema_fields[id].path);
		jsonw_key(w, "value");
		jsonw_string(w, sb.buf);
		jsonw_key(w, "source");
		jsonw_string(w, o->source);
		jsonw_key(w, "line");
		jsonw_int(w, o->line);
		jsonw_key(w, "col");
		jsonw_int(w, o->col);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	strbuf_release(&sb);
}

static int study_plan(struct jsonw *w, const struct study *s)
{
	const struct config *ex = &s->execution;
	int64_t cycles = cfg_int(ex, FIELD_EXECUTION_N_CYCLES);
	struct seen seen = { NULL, 0, 0 };
	size_t i, available;
	int rc = 0;

	/* Each distinct dataset request once: a large sweep repeats them. */
	for (i = 0; i < s->count && !rc; i++) {
		const struct config *c = &s->points[i];
		char *key = xasprintf("%s\n%lld", cfg_str(c, FIELD_DATASET),
				      (long long)cfg_int(c, FIELD_N));

		if (seen_add(&seen, key) && count_prompts(&available, c) != 0)
			rc = in_point(LLEM_EINVAL, s, i);
	}
	seen_release(&seen);
	if (rc)
		return rc;
	jsonw_key(w, "study_name");
	jsonw_string(w, s->name);
	jsonw_key(w, "path");
	jsonw_string(w, s->path);
	jsonw_key(w, "study_design_hash");
	jsonw_string(w, s->design_hash);
	jsonw_key(w, "n_cycles");
	jsonw_int(w, cycles);
	jsonw_key(w, "cycle_order");
	jsonw_string(w, cfg_str(ex, FIELD_EXECUTION_CYCLE_ORDER));
	jsonw_key(w, "experiment_gap_seconds");
	jsonw_double(w, cfg_float(ex, FIELD_EXECUTION_EXPERIMENT_GAP_SECONDS));
	jsonw_key(w, "cycle_gap_seconds");
	jsonw_double(w, cfg_float(ex, FIELD_EXECUTION_CYCLE_GAP_SECONDS));
	jsonw_key(w, "total_runs");
	jsonw_int(w, (int64_t)(s->count * (size_t)cycles));
	jsonw_key(w, "grid_count");
	jsonw_int(w, (int64_t)s->grid_count);
	jsonw_key(w, "explicit_count");
	jsonw_int(w, (int64_t)s->explicit_count);
	jsonw_key(w, "experiments");
	jsonw_array_begin(w);
	for (i = 0; i < s->count; i++) {
		jsonw_object_begin(w);
		jsonw_key(w, "label");
		jsonw_string(w, s->labels[i]);
		jsonw_key(w, "config_hash");
		jsonw_string(w, s->points[i].hash);
		jsonw_key(w, "config");
		jsonw_raw(w, s->points[i].canonical_json);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "skipped");
	jsonw_array_begin(w);
	for (i = 0; i < s->skipped_count; i++) {
		jsonw_object_begin(w);
		jsonw_key(w, "label");
		jsonw_string(w, s->skipped[i].label);
		jsonw_key(w, "reason");
		jsonw_string(w, s->skipped[i].reason);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	return 0;
}

LLEM_API int llem_config_plan_json(char **out, const llem_config *cfg)
{
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	size_t available = 0;
	int rc = 0;

	*out = NULL;
	if (!cfg->lc.is_study && count_prompts(&available, &cfg->lc.experiment) != 0)
		return LLEM_EINVAL;
	jsonw_init(&w, &sb, JSONW_PRETTY);
	jsonw_object_begin(&w);
	if (cfg->lc.is_study)
		rc = study_plan(&w, &cfg->lc.study);
	else
		experiment_plan(&w, &cfg->lc.experiment, available);
	jsonw_object_end(&w);
	if (rc) {
		strbuf_release(&sb);
		return rc;
	}
	*out = strbuf_detach(&sb);
	return 0;
}

LLEM_API int llem_config_effective_json(char **out, const llem_config *cfg)
{
	const struct config *list;
	struct strbuf sb = STRBUF_INIT;

	*out = NULL;
	if (experiments(cfg, &list) > 0)
		config_pretty_json(&list[0], false, &sb);
	*out = strbuf_detach(&sb);
	return 0;
}

/*
 * What a backend's preflight depends on, so a study checks each distinct
 * one once: the backend, the model, the context length and the backend's
 * string settings (paths, tokenizer, interpreter); numbers such as batch
 * sizes do not change what can be checked before a run.
 */
static char *preflight_key(const struct config *c)
{
	const char *backend = cfg_str(c, FIELD_BACKEND);
	struct strbuf key = STRBUF_INIT;
	size_t id;

	strbuf_addf(&key, "%s\n%s\n%lld", backend, cfg_str(c, FIELD_MODEL),
		    (long long)(cfg_int(c, FIELD_MAX_INPUT_TOKENS) +
				cfg_int(c, FIELD_MAX_OUTPUT_TOKENS)));
	for (id = 0; id < FIELD_COUNT; id++) {
		int sec = schema_section_of((enum field_id)id);

		if (sec >= 0 && c->v[id].kind == CV_STRING &&
		    !strcmp(schema_fields[sec].path, backend))
			strbuf_addf(&key, "\n%s=%s", schema_fields[id].path, c->v[id].s);
	}
	return strbuf_detach(&key);
}

LLEM_API int llem_config_preflight(const llem_config *cfg, unsigned flags, llem_diag_cb cb,
				   void *payload)
{
	const struct config *list;
	size_t n = experiments(cfg, &list), i;
	struct seen seen = { NULL, 0, 0 };
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		struct diag_list diags = DIAG_LIST_INIT;
		size_t errors;

		if (!seen_add(&seen, preflight_key(&list[i])))
			continue;
		measure_backend_preflight(
			&list[i], flags & LLEM_PREFLIGHT_EXECUTE ? BACKEND_PREFLIGHT_EXECUTE : 0,
			&diags);
		api_report_diags(&diags, cb, payload);
		errors = diag_error_count(&diags);
		if (errors) {
			rc = error_set(LLEM_EINVAL, "preflight failed: %zu problem%s", errors,
				       errors == 1 ? "" : "s");
			if (cfg->lc.is_study)
				in_point(rc, &cfg->lc.study, i);
		}
		diag_list_release(&diags);
	}
	seen_release(&seen);
	return rc;
}

LLEM_API int llem_config_batch_size_key(const char **out, const llem_config *cfg)
{
	const struct config *list;
	size_t n = experiments(cfg, &list), i;
	const struct backend_ops *ops;
	const char *backend;

	*out = NULL;
	if (n == 0)
		return error_set(LLEM_EINVAL, "the study has no valid experiment");
	backend = cfg_str(&list[0], FIELD_BACKEND);
	for (i = 1; i < n; i++)
		if (strcmp(cfg_str(&list[i], FIELD_BACKEND), backend))
			return error_set(LLEM_EINVAL,
					 "ambiguous: this study runs several backends");
	ops = backends_ops(backend);
	if (!ops || ops->caps.batch_size_field == FIELD_COUNT)
		return error_set(LLEM_ENOTSUP, "backend '%s' has no batch_size setting", backend);
	*out = schema_fields[ops->caps.batch_size_field].path;
	return 0;
}
