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

#include <pthread.h>
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

/*
 * The key tree of the schema, sorted, built once: canonical JSON is
 * written for every point of a sweep (100,000 in the benchmark), so the
 * walk must not look names up or allocate per point.
 */
struct key_node {
	char *key;
	int field;                 /* schema index, or -1 for a group */
	struct key_node *children; /* groups and sections */
	size_t count;
};

static struct key_node key_root;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void build_node(struct key_node *node, const char *prefix)
{
	char **names;
	size_t n = schema_children(prefix, &names), i;

	node->children = xcalloc(n ? n : 1, sizeof(*node->children));
	node->count = n;
	for (i = 0; i < n; i++) {
		struct key_node *c = &node->children[i];
		char *path = *prefix ? xasprintf("%s.%s", prefix, names[i]) : xstrdup(names[i]);
		const struct field *f = schema_find(path);

		c->key = xstrdup(names[i]);
		c->field = f ? (int)schema_id(f) : -1;
		if (!f || f->type == FT_SECTION)
			build_node(c, path);
		free(path);
	}
	schema_children_free(names, n);
}

static void build_tree(void)
{
	build_node(&key_root, "");
}

/* True when at least one field below node would be written. */
static bool node_has_fields(const struct key_node *node, const struct emit_opts *o)
{
	size_t i;

	for (i = 0; i < node->count; i++) {
		const struct key_node *c = &node->children[i];

		if (c->field >= 0 && schema_fields[c->field].type != FT_SECTION) {
			if (included(&schema_fields[c->field], o))
				return true;
		} else if (node_has_fields(c, o)) {
			return true;
		}
	}
	return false;
}

static void emit(struct jsonw *w, const struct config *cfg, const struct key_node *node,
		 const struct emit_opts *o)
{
	size_t i;

	jsonw_object_begin(w);
	for (i = 0; i < node->count; i++) {
		const struct key_node *c = &node->children[i];
		const struct field *f = c->field >= 0 ? &schema_fields[c->field] : NULL;

		if (f && f->type != FT_SECTION) {
			if (included(f, o)) {
				jsonw_key(w, c->key);
				write_value(w, &cfg->v[c->field]);
			}
		} else if (f && cfg->v[c->field].kind != CV_SECTION) {
			jsonw_key(w, c->key);
			jsonw_null(w);
		} else if (node_has_fields(c, o)) {
			jsonw_key(w, c->key);
			emit(w, cfg, c, o);
		}
	}
	jsonw_object_end(w);
}

void config_canonical_json(const struct config *cfg, struct strbuf *out)
{
	struct emit_opts o = { false, false };
	struct jsonw w;

	pthread_once(&key_once, build_tree);
	jsonw_init(&w, out, JSONW_PYTHON);
	emit(&w, cfg, &key_root, &o);
}

void config_pretty_json(const struct config *cfg, bool with_study_fields,
			struct strbuf *out)
{
	struct emit_opts o = { true, with_study_fields };
	struct jsonw w;

	pthread_once(&key_once, build_tree);
	jsonw_init(&w, out, JSONW_PRETTY);
	emit(&w, cfg, &key_root, &o);
}

void cfg_finish_hash(struct config *cfg)
{
	struct strbuf sb = STRBUF_INIT;

	config_canonical_json(cfg, &sb);
	sha256_hex(sb.buf, sb.len, cfg->hash, 16);
	free(cfg->canonical_json);
	cfg->canonical_json = strbuf_detach(&sb);
}
