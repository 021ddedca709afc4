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

#include <math.h>
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
	char *lit; /* the key as canonical JSON writes it: "key": */
	size_t lit_len;
	int field;                 /* schema index, or -1 for a group */
	bool hashed;               /* a field below is part of the hash */
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

static bool node_has_fields(const struct key_node *node, const struct emit_opts *o);

/* What only depends on the schema is computed once, not per point. */
static void finish_node(struct key_node *node)
{
	static const struct emit_opts hash_opts = { false, false };
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < node->count; i++) {
		struct key_node *c = &node->children[i];

		json_quote(&sb, c->key, true);
		strbuf_adds(&sb, ": ");
		c->lit_len = sb.len;
		c->lit = strbuf_detach(&sb);
		c->hashed = node_has_fields(c, &hash_opts);
		finish_node(c);
	}
}

static void build_tree(void)
{
	build_node(&key_root, "");
	finish_node(&key_root);
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

/*
 * The canonical writer. It gives the bytes jsonw's JSONW_PYTHON layout
 * would (json.dumps with sort_keys), but it is on the path of every sweep
 * point, so keys are pre-quoted, integers and plain ASCII strings skip
 * printf and per-character quoting, and floats reuse the text of the last
 * value seen for the same field (most points repeat the same decoder and
 * warmup settings, and shortest round-trip formatting is slow).
 */
struct float_memo {
	double v;
	bool valid;
	unsigned char len;
	char text[32];
};

static _Thread_local struct float_memo float_memo[FIELD_COUNT];

static void put_float(struct strbuf *out, int field, double v)
{
	struct float_memo *m = &float_memo[field];
	size_t start = out->len;

	if (!isfinite(v)) {
		strbuf_add(out, "null", 4);
		return;
	}
	/* Compare bits: -0.0 == 0.0 but they are written differently. */
	if (m->valid && !memcmp(&m->v, &v, sizeof(v))) {
		strbuf_add(out, m->text, m->len);
		return;
	}
	numfmt_double(out, v);
	m->valid = out->len - start < sizeof(m->text);
	if (m->valid) {
		m->v = v;
		m->len = (unsigned char)(out->len - start);
		memcpy(m->text, out->buf + start, m->len);
	}
}

static void put_int(struct strbuf *out, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_string(struct strbuf *out, const char *s)
{
	const char *p;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F || *p == '"' ||
		    *p == '\\')
			break;
	if (*p) {
		json_quote(out, s, true); /* escapes, \uXXXX for non-ASCII */
		return;
	}
	strbuf_addch(out, '"');
	strbuf_add(out, s, (size_t)(p - s));
	strbuf_addch(out, '"');
}

static void put_value(struct strbuf *out, int field, const struct cfg_value *v)
{
	switch (v->kind) {
	case CV_NULL:
	case CV_SECTION: strbuf_add(out, "null", 4); break;
	case CV_BOOL: strbuf_adds(out, v->b ? "true" : "false"); break;
	case CV_INT: put_int(out, v->i); break;
	case CV_FLOAT: put_float(out, field, v->f); break;
	case CV_STRING: put_string(out, v->s); break;
	}
}

static void emit_canonical(struct strbuf *out, const struct config *cfg,
			   const struct key_node *node)
{
	bool first = true;
	size_t i;

	strbuf_addch(out, '{');
	for (i = 0; i < node->count; i++) {
		const struct key_node *c = &node->children[i];
		const struct field *f = c->field >= 0 ? &schema_fields[c->field] : NULL;
		int kind; /* 0: skip, 1: value, 2: null section, 3: nested */

		if (f && f->type != FT_SECTION)
			kind = f->flags & (F_NOHASH | F_STUDY) ? 0 : 1;
		else if (f && cfg->v[c->field].kind != CV_SECTION)
			kind = 2;
		else
			kind = c->hashed ? 3 : 0;
		if (!kind)
			continue;
		if (!first)
			strbuf_add(out, ", ", 2);
		first = false;
		strbuf_add(out, c->lit, c->lit_len);
		if (kind == 1)
			put_value(out, c->field, &cfg->v[c->field]);
		else if (kind == 2)
			strbuf_add(out, "null", 4);
		else
			emit_canonical(out, cfg, c);
	}
	strbuf_addch(out, '}');
}

void config_canonical_json(const struct config *cfg, struct strbuf *out)
{
	pthread_once(&key_once, build_tree);
	emit_canonical(out, cfg, &key_root);
}

void config_pretty_json(const struct config *cfg, bool with_study_fields, struct strbuf *out)
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

	GROW(sb.buf, sb.cap, 2048); /* the defaults alone take about 1.3 kB */
	config_canonical_json(cfg, &sb);
	sha256_hex(sb.buf, sb.len, cfg->hash, 16);
	free(cfg->canonical_json);
	/* A study keeps one of these per point: give back the slack. */
	cfg->canonical_len = sb.len;
	cfg->canonical_json = xrealloc(sb.buf, sb.len + 1);
}
