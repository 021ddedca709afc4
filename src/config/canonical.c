/*
 * Canonical JSON and the config hash. The canonical form holds every
 * measurement field (defaults included, inactive backend sections null),
 * keys sorted, in the exact layout of Python's json.dumps(obj,
 * sort_keys=True), so anyone can recompute the hash:
 *   hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
 * Fields marked F_NOHASH (where results go) and study execution settings
 * are not part of what is measured and are left out.
 */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

struct emit_opts {
	bool include_nohash;
	bool include_study;
};

static bool included(const struct field *f, const struct emit_opts *o)
{
	if ((f->flags & F_NOHASH) && !o->include_nohash)
		return false;
	if ((f->flags & F_STUDY) && !o->include_study)
		return false;
	return true;
}

/* True when at least one field under prefix would be written. */
static bool group_has_fields(const char *prefix, const struct emit_opts *o)
{
	size_t i, n = strlen(prefix);

	for (i = 0; i < FIELD_COUNT; i++)
		if (!strncmp(schema_fields[i].path, prefix, n) &&
		    schema_fields[i].path[n] == '.' && included(&schema_fields[i], o))
			return true;
	return false;
}

static void write_value(struct jsonw *w, const struct cfg_value *v)
{
	switch (v->kind) {
	case CV_NULL: jsonw_null(w); break;
	case CV_BOOL: jsonw_bool(w, v->b); break;
	case CV_INT: jsonw_int(w, v->i); break;
	case CV_FLOAT: jsonw_double(w, v->f); break;
	case CV_STRING: jsonw_string(w, v->s); break;
	case CV_SECTION: jsonw_null(w); break; /* not reached: handled by caller */
	}
}

static void emit(struct jsonw *w, const struct config *cfg, const char *prefix,
		 const struct emit_opts *o)
{
	char **names;
	size_t n = schema_children(prefix, &names), i;

	jsonw_object_begin(w);
	for (i = 0; i < n; i++) {
		char *path = *prefix ? xasprintf("%s.%s", prefix, names[i])
				     : xstrdup(names[i]);
		const struct field *f = schema_find(path);

		if (f && f->type != FT_SECTION) {
			if (included(f, o)) {
				jsonw_key(w, names[i]);
				write_value(w, &cfg->v[schema_id(f)]);
			}
		} else if (f && cfg->v[schema_id(f)].kind != CV_SECTION) {
			jsonw_key(w, names[i]);
			jsonw_null(w);
		} else if (group_has_fields(path, o)) {
			jsonw_key(w, names[i]);
			emit(w, cfg, path, o);
		}
		free(path);
	}
	jsonw_object_end(w);
	schema_children_free(names, n);
}

void config_canonical_json(const struct config *cfg, struct strbuf *out)
{
	struct emit_opts o = { false, false };
	struct jsonw w;

	jsonw_init(&w, out, JSONW_PYTHON);
	emit(&w, cfg, "", &o);
}

void config_pretty_json(const struct config *cfg, bool with_study_fields,
			struct strbuf *out)
{
	struct emit_opts o = { true, with_study_fields };
	struct jsonw w;

	jsonw_init(&w, out, JSONW_PRETTY);
	emit(&w, cfg, "", &o);
}

void cfg_finish_hash(struct config *cfg)
{
	struct strbuf sb = STRBUF_INIT;

	config_canonical_json(cfg, &sb);
	sha256_hex(sb.buf, sb.len, cfg->hash, 16);
	free(cfg->canonical_json);
	cfg->canonical_json = strbuf_detach(&sb);
}
