/*
 * The typed JSON reader (jsonr.h): one place that checks a jansson value's
 * type, bounds and nullability and says where in the document it failed.
 * What must stay true: bad input sets an error and never aborts, and
 * nothing is read but through jansson's own accessors.
 */
#include "util/jsonr.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* An element index for "no index": the error is at a key, or the node. */
#define NO_INDEX SIZE_MAX

void jsonr_init(struct jsonr *r, const char *source, unsigned mode)
{
	memset(r, 0, sizeof(*r));
	r->source = source ? source : "<string>";
	r->mode = mode;
}

void jsonr_release(struct jsonr *r)
{
	strbuf_release(&r->msg);
}

/* Without JSONR_ALL_ERRORS the first error ends the reading. */
static bool stopped(const struct jsonr *r)
{
	return r->rc && !(r->mode & JSONR_ALL_ERRORS);
}

/* Adds one line to the reader's errors; error_last() shows them all. */
static void record(struct jsonr *r, int code, const struct strbuf *line)
{
	if (r->msg.len)
		strbuf_addch(&r->msg, '\n');
	strbuf_adds(&r->msg, strbuf_str(line));
	if (!r->rc)
		r->rc = code;
	r->nerr++;
	error_set(r->rc, "%s", strbuf_str(&r->msg));
}

/* base + ".key" or "[index]"; base NULL is the root. */
static void add_path(struct strbuf *sb, const char *base, const char *key, size_t index)
{
	if (base)
		strbuf_adds(sb, base);
	if (key)
		strbuf_addf(sb, "%s%s", base && *base ? "." : "", key);
	else if (index != NO_INDEX)
		strbuf_addf(sb, "[%zu]", index);
}

static void vfail(struct jsonr_node *n, const char *key, size_t index, int code, const char *fmt,
		  va_list ap)
{
	struct strbuf line = STRBUF_INIT, path = STRBUF_INIT;

	if (!n->r || !n->v || stopped(n->r))
		return;
	add_path(&path, n->path, key, index);
	strbuf_addf(&line, "%s: ", n->r->source);
	if (path.len)
		strbuf_addf(&line, "%s: ", path.buf);
	strbuf_vaddf(&line, fmt, ap);
	record(n->r, code, &line);
	strbuf_release(&line);
	strbuf_release(&path);
}

static void fail_at(struct jsonr_node *n, const char *key, size_t index, const char *fmt, ...)
	LLEM_PRINTF(4, 5);

static void fail_at(struct jsonr_node *n, const char *key, size_t index, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(n, key, index, LLEM_EINVAL, fmt, ap);
	va_end(ap);
}

void jsonr_fail(struct jsonr_node *n, const char *key, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(n, key, NO_INDEX, code, fmt, ap);
	va_end(ap);
}

const char *jsonr_type_name(const json_t *v)
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

static void fail_type(struct jsonr_node *n, const char *key, size_t index, const char *want,
		      unsigned flags, const json_t *v)
{
	fail_at(n, key, index, "expected %s%s, got %s", want,
		flags & JSONR_NULLABLE ? " or null" : "", jsonr_type_name(v));
}

static void missing(struct jsonr_node *n, const char *key, size_t index)
{
	const char *note = n->r->missing_note;

	if (!key)
		fail_at(n, NULL, index, "missing element (the array has %zu)", jsonr_size(n));
	else
		fail_at(n, key, index, "missing key%s%s%s", note ? " (" : "", note ? note : "",
			note ? ")" : "");
}

/* Strict mode's record of the keys asked for. */
static void note_key(struct jsonr_node *n, const char *key, bool absent)
{
	if (!(n->r->mode & JSONR_STRICT))
		return;
	GROW(n->seen, n->seen_cap, n->nseen + 1);
	n->seen[n->nseen].key = key;
	n->seen[n->nseen].missing = absent;
	n->nseen++;
}

static bool readable(const struct jsonr_node *n)
{
	return n->r && n->v && !stopped(n->r);
}

/*
 * The value a getter reads at key (or element index): NULL when there is
 * nothing to store (absent, accepted null, a node that did not open, a
 * stopped reader), with the error set when absence is one. In strict mode
 * a missing key waits for jsonr_leave, after the unknown keys.
 */
static json_t *take(struct jsonr_node *n, const char *key, size_t index, unsigned flags)
{
	json_t *v;

	if (!readable(n))
		return NULL;
	if (key) {
		v = json_is_object(n->v) ? json_object_get(n->v, key) : NULL;
		note_key(n, key, !v && (flags & JSONR_REQUIRED));
	} else {
		v = json_is_array(n->v) ? json_array_get(n->v, index) : NULL;
	}
	if (!v) {
		if ((flags & JSONR_REQUIRED) && (!key || !(n->r->mode & JSONR_STRICT)))
			missing(n, key, index);
		return NULL;
	}
	if (json_is_null(v) && (flags & JSONR_NULLABLE))
		return NULL;
	return v;
}

/* Kinds of value a getter wants, as bits of 1 << json_typeof(). */
#define KIND(t) (1u << (t))
#define K_STRING KIND(JSON_STRING)
#define K_INTEGER KIND(JSON_INTEGER)
#define K_NUMBER (KIND(JSON_INTEGER) | KIND(JSON_REAL))
#define K_BOOL (KIND(JSON_TRUE) | KIND(JSON_FALSE))
#define K_OBJECT KIND(JSON_OBJECT)
#define K_ARRAY KIND(JSON_ARRAY)

/* take(), and an error unless the value is of the kinds wanted ("want"). */
static json_t *take_kind(struct jsonr_node *n, const char *key, size_t index, unsigned flags,
			 unsigned kinds, const char *want)
{
	json_t *v = take(n, key, index, flags);

	if (v && !(KIND(json_typeof(v)) & kinds)) {
		fail_type(n, key, index, want, flags, v);
		return NULL;
	}
	return v;
}

json_t *jsonr_parse(struct jsonr *r, const char *text, size_t len)
{
	struct strbuf line = STRBUF_INIT;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	if (doc)
		return doc;
	strbuf_addf(&line, "%s:%d:%d: not valid JSON: %s", r->source, jerr.line, jerr.column,
		    jerr.text);
	record(r, LLEM_EINVAL, &line);
	strbuf_release(&line);
	return NULL;
}

bool jsonr_root(struct jsonr_node *root, struct jsonr *r, json_t *doc)
{
	struct strbuf line = STRBUF_INIT;

	memset(root, 0, sizeof(*root));
	root->r = r;
	if (!doc || stopped(r))
		return false;
	if (json_is_object(doc)) {
		root->v = doc;
		return true;
	}
	strbuf_addf(&line, "%s: expected a JSON object, got %s", r->source, jsonr_type_name(doc));
	record(r, LLEM_EINVAL, &line);
	strbuf_release(&line);
	return false;
}

static bool open_node(struct jsonr_node *child, struct jsonr_node *parent, const char *key,
		      size_t index, unsigned flags, bool array)
{
	struct strbuf path = STRBUF_INIT;
	json_t *v = take_kind(parent, key, index, flags, array ? K_ARRAY : K_OBJECT,
			      array ? "an array" : "an object");

	memset(child, 0, sizeof(*child));
	child->r = parent->r;
	if (!v)
		return false;
	add_path(&path, parent->path, key, index);
	child->v = v;
	child->path = strbuf_detach(&path);
	return true;
}

bool jsonr_enter(struct jsonr_node *child, struct jsonr_node *parent, const char *key,
		 unsigned flags)
{
	return open_node(child, parent, key, NO_INDEX, flags, false);
}

bool jsonr_enter_array(struct jsonr_node *child, struct jsonr_node *parent, const char *key,
		       unsigned flags)
{
	return open_node(child, parent, key, NO_INDEX, flags, true);
}

bool jsonr_enter_at(struct jsonr_node *child, struct jsonr_node *array, size_t i)
{
	return open_node(child, array, NULL, i, JSONR_REQUIRED, false);
}

size_t jsonr_size(const struct jsonr_node *array)
{
	return json_is_array(array->v) ? json_array_size(array->v) : 0;
}

static bool was_seen(const struct jsonr_node *n, const char *key)
{
	for (size_t i = 0; i < n->nseen; i++)
		if (!strcmp(n->seen[i].key, key))
			return true;
	return false;
}

static void check_keys(struct jsonr_node *n)
{
	const char **names = xcalloc(n->nseen + 1, sizeof(*names));
	const char *key, *near;
	json_t *v;
	size_t i;

	for (i = 0; i < n->nseen; i++)
		names[i] = n->seen[i].key;
	json_object_foreach(n->v, key, v)
	{
		if (stopped(n->r))
			break;
		if (was_seen(n, key))
			continue;
		near = did_you_mean(key, names, n->nseen, 2);
		if (near)
			fail_at(n, key, NO_INDEX, "unknown key (did you mean '%s'?)", near);
		else
			fail_at(n, key, NO_INDEX, "unknown key");
	}
	for (i = 0; i < n->nseen; i++)
		if (n->seen[i].missing)
			missing(n, n->seen[i].key, NO_INDEX);
	free(names);
}

void jsonr_leave(struct jsonr_node *n)
{
	if (readable(n) && (n->r->mode & JSONR_STRICT) && json_is_object(n->v))
		check_keys(n);
	free(n->seen);
	free(n->path);
	n->seen = NULL;
	n->path = NULL;
	n->nseen = n->seen_cap = 0;
	n->v = NULL;
}

static const char *read_str(struct jsonr_node *n, const char *key, size_t index, unsigned flags)
{
	json_t *v = take_kind(n, key, index, flags, K_STRING, "a string");

	return v ? json_string_value(v) : NULL;
}

bool jsonr_str(struct jsonr_node *n, const char *key, unsigned flags, const char **out)
{
	const char *s = read_str(n, key, NO_INDEX, flags);

	if (s)
		*out = s;
	return s != NULL;
}

bool jsonr_at_str(struct jsonr_node *array, size_t i, unsigned flags, const char **out)
{
	const char *s = read_str(array, NULL, i, flags);

	if (s)
		*out = s;
	return s != NULL;
}

bool jsonr_strdup(struct jsonr_node *n, const char *key, unsigned flags, char **out)
{
	const char *s = read_str(n, key, NO_INDEX, flags);

	if (!s)
		return false;
	free(*out);
	*out = xstrdup(s);
	return true;
}

/* The kind of integer [lo, ...] asks for, as messages say it. */
static const char *int_kind(int64_t lo)
{
	if (lo == 0)
		return "a non-negative integer";
	if (lo == 1)
		return "a positive integer";
	return "an integer";
}

static bool read_int(struct jsonr_node *n, const char *key, size_t index, unsigned flags,
		     int64_t lo, int64_t hi, int64_t *out)
{
	/* Reals and booleans are refused, as wanted: 1.0 is not a count. */
	json_t *v = take_kind(n, key, index, flags, K_INTEGER, int_kind(lo));
	long long x;

	if (!v)
		return false;
	x = (long long)json_integer_value(v);
	if (x >= lo && x <= hi) {
		*out = (int64_t)x;
		return true;
	}
	if (hi == INT64_MAX)
		fail_at(n, key, index, "must be >= %lld, got %lld", (long long)lo, x);
	else if (lo == INT64_MIN)
		fail_at(n, key, index, "must be <= %lld, got %lld", (long long)hi, x);
	else
		fail_at(n, key, index, "must be between %lld and %lld, got %lld", (long long)lo,
			(long long)hi, x);
	return false;
}

bool jsonr_int64(struct jsonr_node *n, const char *key, unsigned flags, int64_t lo, int64_t hi,
		 int64_t *out)
{
	return read_int(n, key, NO_INDEX, flags, lo, hi, out);
}

bool jsonr_at_int64(struct jsonr_node *array, size_t i, unsigned flags, int64_t lo, int64_t hi,
		    int64_t *out)
{
	return read_int(array, NULL, i, flags, lo, hi, out);
}

bool jsonr_int(struct jsonr_node *n, const char *key, unsigned flags, int lo, int hi, int *out)
{
	int64_t x;

	if (!read_int(n, key, NO_INDEX, flags, lo, hi, &x))
		return false;
	*out = (int)x;
	return true;
}

static bool read_double(struct jsonr_node *n, const char *key, size_t index, unsigned flags,
			double *out)
{
	json_t *v = take_kind(n, key, index, flags, K_NUMBER, "a number");
	double x;

	if (!v)
		return false;
	x = json_number_value(v);
	if ((flags & JSONR_POSITIVE) && !(isfinite(x) && x > 0)) {
		fail_at(n, key, index, "must be greater than 0, got %g", x);
		return false;
	}
	*out = x;
	return true;
}

bool jsonr_double(struct jsonr_node *n, const char *key, unsigned flags, double *out)
{
	return read_double(n, key, NO_INDEX, flags, out);
}

bool jsonr_at_double(struct jsonr_node *array, size_t i, unsigned flags, double *out)
{
	return read_double(array, NULL, i, flags, out);
}

bool jsonr_bool(struct jsonr_node *n, const char *key, unsigned flags, bool *out)
{
	json_t *v = take_kind(n, key, NO_INDEX, flags, K_BOOL, "a boolean");

	if (!v)
		return false;
	*out = json_is_true(v);
	return true;
}

bool jsonr_enum(struct jsonr_node *n, const char *key, unsigned flags, const char *const *names,
		size_t count, unsigned *out)
{
	const char *s = read_str(n, key, NO_INDEX, flags);
	struct strbuf allowed = STRBUF_INIT;
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < count; i++) {
		if (names[i] && !strcmp(names[i], s)) {
			*out = (unsigned)i;
			return true;
		}
	}
	for (i = 0; i < count; i++)
		if (names[i])
			strbuf_addf(&allowed, "%s\"%s\"", allowed.len ? ", " : "", names[i]);
	fail_at(n, key, NO_INDEX, "must be one of %s, got \"%s\"", strbuf_str(&allowed), s);
	strbuf_release(&allowed);
	return false;
}

json_t *jsonr_object(struct jsonr_node *n, const char *key, unsigned flags)
{
	return take_kind(n, key, NO_INDEX, flags, K_OBJECT, "an object");
}

json_t *jsonr_get(struct jsonr_node *n, const char *key)
{
	json_t *v;

	if (!readable(n) || !json_is_object(n->v))
		return NULL;
	v = json_object_get(n->v, key);
	note_key(n, key, false);
	return v;
}

bool jsonr_has(struct jsonr_node *n, const char *key)
{
	json_t *v = jsonr_get(n, key);

	return v && !json_is_null(v);
}

int64_t jsonr_lax_int64(const json_t *obj, const char *key, int64_t fallback)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

const char *jsonr_lax_str(const json_t *obj, const char *key, const char *fallback)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : fallback;
}
