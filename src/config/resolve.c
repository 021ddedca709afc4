/*
 * Resolution: layers (defaults < user config < file < command line) are
 * merged field by field, the selected backend's section is filled with its
 * defaults and every other section is null, decoder presets fill what no
 * source set, and the cross-field rules run on the result.
 */
#include "config/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct preset_value {
	const char *preset;
	enum field_id id;
	const char *value;
};

/* The original tool's presets (docs/config-reference.md, decoder.preset). */
static const struct preset_value presets[] = {
	{ "deterministic", FIELD_DECODER_TEMPERATURE, "0.0" },
	{ "deterministic", FIELD_DECODER_DO_SAMPLE, "false" },
	{ "standard", FIELD_DECODER_TEMPERATURE, "1.0" },
	{ "standard", FIELD_DECODER_DO_SAMPLE, "true" },
	{ "standard", FIELD_DECODER_TOP_P, "0.95" },
	{ "creative", FIELD_DECODER_TEMPERATURE, "0.8" },
	{ "creative", FIELD_DECODER_DO_SAMPLE, "true" },
	{ "creative", FIELD_DECODER_TOP_P, "0.9" },
	{ "creative", FIELD_DECODER_REPETITION_PENALTY, "1.1" },
	{ "factual", FIELD_DECODER_TEMPERATURE, "0.3" },
	{ "factual", FIELD_DECODER_DO_SAMPLE, "true" },
};

static int value_from_text(struct cfg_value *out, const struct field *f, const char *text,
			   struct diag_list *diags)
{
	struct ynode n = { .kind = YN_SCALAR,
			   .file = "<schema>",
			   .text = (char *)(text ? text : "null"),
			   .plain = true };

	return cfg_value_from_node(out, f, &n, f->path, diags);
}

/* v and o may point into cfg itself: copy before releasing. */
static void set_value(struct config *cfg, enum field_id id, const struct cfg_value *v,
		      const struct cfg_origin *o)
{
	struct cfg_value nv;
	struct cfg_origin no = { NULL, o ? o->line : 0, o ? o->col : 0 };

	cfg_value_copy(&nv, v);
	no.source = o && o->source ? xstrdup(o->source) : NULL;
	cfg_value_release(&cfg->v[id]);
	free(cfg->o[id].source);
	cfg->v[id] = nv;
	cfg->o[id] = no;
}

static void set_null(struct config *cfg, enum field_id id)
{
	struct cfg_value null = { .kind = CV_NULL };

	set_value(cfg, id, &null, NULL);
}

void config_rule_error(const struct config *cfg, struct diag_list *diags, enum field_id a,
		       enum field_id b, const char *fallback, const char *hint, const char *msg)
{
	const struct cfg_origin *o = cfg->o[a].source ? &cfg->o[a] : &cfg->o[b];
	enum field_id at = cfg->o[a].source ? a : b;

	diag_add(diags, DIAG_ERROR, o->source ? o->source : fallback, o->line, o->col,
		 schema_fields[at].path, hint, "%s", msg);
}

bool cfg_is_true(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind == CV_BOOL && cfg->v[id].b;
}

bool cfg_is_false(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind == CV_BOOL && !cfg->v[id].b;
}

bool cfg_is_set(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind != CV_NULL;
}

/* Is word an item of "a, b, c"? */
static bool list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	while (*list) {
		if (!strncmp(list, word, n) && (list[n] == ',' || !list[n]))
			return true;
		list = strchr(list, ',');
		if (!list)
			break;
		list += strspn(list, ", ");
	}
	return false;
}

static void check_rules(const struct config *cfg, const char *fb, struct diag_list *diags)
{
	const char *backend = cfg_str(cfg, FIELD_BACKEND);
	const char *precision = cfg_str(cfg, FIELD_PRECISION);
	const struct schema_backend *sb = schema_backend_find(backend);
	double floor_s = cfg_float(cfg, FIELD_WARMUP_THERMAL_FLOOR_SECONDS);

	/* Precisions each backend accepts: its line in config/backend_table.def. */
	if (sb && !list_has(sb->precisions, precision)) {
		char *msg = xasprintf("%s is not supported by backend '%s'", precision, backend);
		char *hint = xasprintf("supported precisions for %s: %s", backend, sb->precisions);

		config_rule_error(cfg, diags, FIELD_PRECISION, FIELD_BACKEND, fb, hint, msg);
		free(msg);
		free(hint);
	}
	if (floor_s > 0 && floor_s < 30)
		config_rule_error(
			cfg, diags, FIELD_WARMUP_THERMAL_FLOOR_SECONDS,
			FIELD_WARMUP_THERMAL_FLOOR_SECONDS, fb,
			"use 0 to skip the wait (tests, demos) or 30 and more to let the hardware settle",
			"must be 0 or at least 30");
	if (cfg_int(cfg, FIELD_WARMUP_MIN_PROMPTS) > cfg_int(cfg, FIELD_WARMUP_MAX_PROMPTS))
		config_rule_error(cfg, diags, FIELD_WARMUP_MIN_PROMPTS, FIELD_WARMUP_MAX_PROMPTS,
				  fb, NULL, "must not exceed warmup.max_prompts");
	if (cfg_is_set(cfg, FIELD_DECODER_MIN_NEW_TOKENS) &&
	    cfg_int(cfg, FIELD_DECODER_MIN_NEW_TOKENS) > cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS))
		config_rule_error(cfg, diags, FIELD_DECODER_MIN_NEW_TOKENS, FIELD_MAX_OUTPUT_TOKENS,
				  fb, NULL, "must not exceed max_output_tokens");
	if (cfg_is_set(cfg, FIELD_ENERGY_BACKEND) &&
	    !strcmp(cfg_str(cfg, FIELD_ENERGY_BACKEND), "replay") &&
	    !cfg_is_set(cfg, FIELD_ENERGY_REPLAY_FILE))
		config_rule_error(cfg, diags, FIELD_ENERGY_BACKEND, FIELD_ENERGY_BACKEND, fb,
				  "set energy.replay_file to a recorded trace",
				  "replay needs energy.replay_file");
	if (cfg_is_set(cfg, FIELD_ENERGY_REPLAY_FILE) &&
	    !(cfg_is_set(cfg, FIELD_ENERGY_BACKEND) &&
	      !strcmp(cfg_str(cfg, FIELD_ENERGY_BACKEND), "replay")))
		config_rule_error(cfg, diags, FIELD_ENERGY_REPLAY_FILE, FIELD_ENERGY_BACKEND, fb,
				  "set energy.backend: replay or remove energy.replay_file",
				  "is only used when energy.backend is replay");
}

/*
 * What merge and check_sections need per field, worked out once: they run
 * once per sweep point (100,000 in the benchmark) and most fields of a
 * point are defaults. A default that does not type (a schema bug, caught
 * by the schema self-test) is left to merge, which reports it.
 */
static struct cfg_value typed_defaults[FIELD_COUNT];
static bool typed_ok[FIELD_COUNT];
static int field_section[FIELD_COUNT]; /* the section a field belongs to, or -1 */
static pthread_once_t typed_once = PTHREAD_ONCE_INIT;

static void type_defaults(void)
{
	struct diag_list dl = DIAG_LIST_INIT;
	size_t id;

	for (id = 0; id < FIELD_COUNT; id++) {
		field_section[id] = schema_fields[id].type == FT_SECTION
					    ? (int)id
					    : schema_section_of((enum field_id)id);
		if (!(schema_fields[id].flags & F_REQUIRED))
			typed_ok[id] = value_from_text(&typed_defaults[id], &schema_fields[id],
						       schema_fields[id].def, &dl) == 0;
	}
	diag_list_release(&dl);
}

/* set_value for a slot that merge has not filled yet. */
static void init_value(struct config *cfg, enum field_id id, const struct cfg_value *v,
		       const struct cfg_origin *o)
{
	cfg_value_copy(&cfg->v[id], v);
	cfg->o[id].source = o && o->source ? xstrdup(o->source) : NULL;
	cfg->o[id].line = o ? o->line : 0;
	cfg->o[id].col = o ? o->col : 0;
}

/* The section of the backend named, or -1 (a backend without one). */
static int section_named(const char *backend)
{
	size_t id;

	for (id = 0; id < FIELD_COUNT; id++)
		if (schema_fields[id].type == FT_SECTION &&
		    !strcmp(schema_fields[id].path, backend))
			return (int)id;
	return -1;
}

/* Was a value for path already rejected? Then "is required" adds nothing. */
static bool diag_names_path(const struct diag_list *dl, const char *path)
{
	size_t i;

	for (i = 0; i < dl->count; i++)
		if (dl->items[i].path && !strcmp(dl->items[i].path, path))
			return true;
	return false;
}

static void check_sections(struct config *cfg, const struct cfg_layer *const *layers, size_t n,
			   const char *fb, struct diag_list *diags)
{
	const char *backend = cfg_str(cfg, FIELD_BACKEND);
	int active = section_named(backend);
	bool backend_rejected = diag_names_path(diags, "backend");
	size_t id, li;

	pthread_once(&typed_once, type_defaults);
	for (id = 0; id < FIELD_COUNT; id++) {
		int sec = field_section[id];
		const char *name;

		if (sec < 0)
			continue;
		name = schema_fields[sec].path;
		if (sec == active) {
			if (id == (size_t)sec) {
				struct cfg_value present = { .kind = CV_SECTION };

				set_value(cfg, id, &present, &cfg->o[id]);
			}
			continue;
		}
		/* A backend: value that was itself rejected (a typo) left the
		 * default selected: the section the user meant is not the
		 * mistake, so only the typo is reported. */
		if (backend_rejected) {
			set_null(cfg, (enum field_id)id);
			continue;
		}
		/* An inactive backend: a value from a strict source is an error. */
		for (li = 0; li < n; li++) {
			const struct cfg_layer *l = layers[li];
			char *msg, *hint;

			if (!l->set[id] || l->lenient_sections || l->v[id].kind == CV_NULL)
				continue;
			if (id != (size_t)sec && l->set[sec])
				continue; /* the section itself is reported */
			msg = xasprintf("config section provided but backend is '%s'", backend);
			hint = xasprintf("remove the %s settings or set backend: %s", name, name);
			diag_add(diags, DIAG_ERROR, l->o[id].source ? l->o[id].source : fb,
				 l->o[id].line, l->o[id].col, schema_fields[id].path, hint, "%s",
				 msg);
			free(msg);
			free(hint);
		}
		set_null(cfg, (enum field_id)id);
	}
}

static void apply_preset(struct config *cfg, const struct cfg_layer *const *layers, size_t n,
			 struct diag_list *diags)
{
	const char *preset = cfg_str(cfg, FIELD_DECODER_PRESET);
	size_t i, li;

	if (!preset)
		return;
	for (i = 0; i < ARRAY_SIZE(presets); i++) {
		struct cfg_value v;
		bool explicit_value = false;

		if (strcmp(presets[i].preset, preset))
			continue;
		for (li = 0; li < n; li++)
			explicit_value |= layers[li]->set[presets[i].id];
		if (explicit_value)
			continue;
		if (value_from_text(&v, &schema_fields[presets[i].id], presets[i].value, diags) ==
		    0) {
			set_value(cfg, presets[i].id, &v, &cfg->o[FIELD_DECODER_PRESET]);
			cfg_value_release(&v);
		}
	}
}

static int merge(struct config *out, const struct cfg_layer *const *layers, size_t nlayers,
		 bool study_fields, const char *fb, struct diag_list *diags)
{
	size_t id, before = diag_error_count(diags);
	int active = -2; /* the selected backend's section, once merged */

	pthread_once(&typed_once, type_defaults);
	memset(out, 0, sizeof(*out));
	for (id = 0; id < FIELD_COUNT; id++) {
		const struct field *f = &schema_fields[id];
		size_t li = nlayers;
		struct cfg_value v;
		int sec = field_section[id];

		if (!!(f->flags & F_STUDY) != study_fields) {
			out->v[id].kind = CV_NULL;
			continue;
		}
		/* A backend that is not selected ends up null (check_sections,
		 * which reports what the layers set there): no copy first. Only
		 * fields after backend in the table know it; others are copied
		 * and nulled there, as before. */
		if (active == -2 && id > FIELD_BACKEND && out->v[FIELD_BACKEND].kind == CV_STRING)
			active = section_named(out->v[FIELD_BACKEND].s);
		if (sec >= 0 && active != -2 && sec != active) {
			out->v[id].kind = CV_NULL;
			continue;
		}
		while (li > 0 && !layers[li - 1]->set[id])
			li--;
		if (li > 0) {
			init_value(out, (enum field_id)id, &layers[li - 1]->v[id],
				   &layers[li - 1]->o[id]);
			continue;
		}
		if (f->flags & F_REQUIRED) {
			if (!diag_names_path(diags, f->path))
				diag_add(
					diags, DIAG_ERROR, fb, 0, 0, f->path,
					!strcmp(f->path, "model")
						? "add 'model: synthetic/smollm-135m' (or a model directory) to the file, or pass --model"
						: NULL,
					"is required");
			out->v[id].kind = CV_NULL;
			continue;
		}
		if (typed_ok[id]) {
			init_value(out, (enum field_id)id, &typed_defaults[id], NULL);
		} else if (value_from_text(&v, f, f->def, diags) == 0) {
			init_value(out, (enum field_id)id, &v, NULL);
			cfg_value_release(&v);
		}
	}
	return diag_error_count(diags) == before ? 0 : -1;
}

int cfg_resolve(struct config *out, const struct cfg_layer *const *layers, size_t nlayers,
		const char *fallback, config_backend_rules_fn backend_rules,
		struct diag_list *diags)
{
	size_t before = diag_error_count(diags);

	/* Carry on after merge errors: the rules below only read fields that
	 * always hold a value, and reporting everything at once is the point. */
	merge(out, layers, nlayers, false, fallback, diags);
	check_sections(out, layers, nlayers, fallback, diags);
	apply_preset(out, layers, nlayers, diags);
	check_rules(out, fallback, diags);
	if (backend_rules)
		backend_rules(out, fallback, diags);
	if (diag_error_count(diags) != before)
		return -1;
	cfg_finish_hash(out);
	return 0;
}

int cfg_resolve_execution(struct config *out, const struct cfg_layer *const *layers, size_t nlayers,
			  struct diag_list *diags)
{
	return merge(out, layers, nlayers, true, NULL, diags);
}

void config_release(struct config *cfg)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++) {
		cfg_value_release(&cfg->v[i]);
		free(cfg->o[i].source);
	}
	free(cfg->canonical_json);
	memset(cfg, 0, sizeof(*cfg));
}
