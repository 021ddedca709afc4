/*
 * jsonr: the one typed JSON reader (util). Reads a jansson document key by
 * key, checks types, bounds and nullability, and names the JSON path in
 * every error: "SOURCE: energy.devices[0].energy_j: expected a number, got
 * a string". Strict readers (result.json, the manifest) also refuse keys
 * nobody asked for; lax ones (a model's config.json) collect every problem.
 *
 * Ownership: jsonr_init has jsonr_release; every node that jsonr_root,
 * jsonr_enter, jsonr_enter_array or jsonr_enter_at opened (they returned
 * true) is closed with jsonr_leave. The reader never owns the document:
 * borrowed strings and values live as long as the json_t they came from;
 * jsonr_strdup's copies are the caller's.
 *
 * Getters return true when they stored a value. Absent (optional) and null
 * (JSONR_NULLABLE) leave *out as it was, so the caller presets the default
 * or its "unknown" value (NAN, -1, NULL). Bad input never aborts: it sets
 * the reader's error, and a getter on a node that did not open, or (without
 * JSONR_ALL_ERRORS) on a reader that already failed, does nothing.
 */
#ifndef LLEM_UTIL_JSONR_H
#define LLEM_UTIL_JSONR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llem/errors.h"
#include "util/util.h"

/* How a reader reads (jsonr_init's mode). */
enum jsonr_mode {
	/* Keys no getter asked for are errors ("unknown key", with a "did
	 * you mean" among the keys read), reported when the object is left,
	 * before its missing required keys: a misspelt key shows as the
	 * typo, not as the key it hides going missing. */
	JSONR_STRICT = 1 << 0,
	/* Keep reading after an error; the message holds every error, one
	 * line each, and the code is the first one's. Without it the first
	 * error stops the reader. */
	JSONR_ALL_ERRORS = 1 << 1,
};

/* What a getter accepts (its flags). */
enum jsonr_flag {
	JSONR_REQUIRED = 1 << 0, /* absent is an error ("missing key") */
	JSONR_NULLABLE = 1 << 1, /* null is accepted and leaves *out alone */
	JSONR_POSITIVE = 1 << 2, /* jsonr_double: finite and > 0 */
};

struct jsonr {
	const char *source; /* borrowed; starts every message */
	unsigned mode;      /* enum jsonr_mode bits */
	/* Said after "missing key" in parentheses; NULL for nothing. */
	const char *missing_note;
	int rc;            /* the first error's code, 0 while none */
	size_t nerr;       /* errors so far */
	struct strbuf msg; /* the errors, as error_last() has them */
};

/* A key of an object that a getter asked for (strict mode's record). */
struct jsonr_seen {
	const char *key; /* the caller's string, borrowed */
	bool missing;    /* required and absent */
};

/* One object or array being read; fields are the reader's own. */
struct jsonr_node {
	struct jsonr *r;
	json_t *v;  /* NULL when the node did not open */
	char *path; /* "energy.devices[0]"; NULL at the root */
	struct jsonr_seen *seen;
	size_t nseen, seen_cap;
};

/* source names the document in messages (a path, "manifest 'x'"). */
void jsonr_init(struct jsonr *r, const char *source, unsigned mode);
void jsonr_release(struct jsonr *r);

/*
 * Parses the len bytes of text (a NUL among them is an error, not the
 * end), duplicate keys refused. Returns the document (the caller
 * json_decref's it) or NULL with the error "SOURCE:LINE:COL: not valid
 * JSON: why".
 */
json_t *jsonr_parse(struct jsonr *r, const char *text, size_t len);
/* Opens doc as the root object; false with "SOURCE: expected a JSON
 * object, got an array" when it is not one (or doc is NULL, error kept). */
bool jsonr_root(struct jsonr_node *root, struct jsonr *r, json_t *doc);

/*
 * Open parent's key as an object (jsonr_enter) or an array
 * (jsonr_enter_array), or an array's element i as an object
 * (jsonr_enter_at). child is always initialised; on false (absent, null,
 * wrong type, failed reader) there is nothing to leave and getters on it
 * do nothing.
 */
bool jsonr_enter(struct jsonr_node *child, struct jsonr_node *parent, const char *key,
		 unsigned flags);
bool jsonr_enter_array(struct jsonr_node *child, struct jsonr_node *parent, const char *key,
		       unsigned flags);
bool jsonr_enter_at(struct jsonr_node *child, struct jsonr_node *array, size_t i);
/* Closes n: in strict mode checks its unknown and missing keys. Safe on a
 * node that did not open and on one already left. */
void jsonr_leave(struct jsonr_node *n);
/* Elements of an array node (0 for anything else). */
size_t jsonr_size(const struct jsonr_node *array);

/* Getters of an object's key. */
bool jsonr_str(struct jsonr_node *n, const char *key, unsigned flags, const char **out);
/* Like jsonr_str with a copy: frees the old *out when it stores. */
bool jsonr_strdup(struct jsonr_node *n, const char *key, unsigned flags, char **out);
bool jsonr_int64(struct jsonr_node *n, const char *key, unsigned flags, int64_t lo, int64_t hi,
		 int64_t *out);
bool jsonr_int(struct jsonr_node *n, const char *key, unsigned flags, int lo, int hi, int *out);
/* An integer or a real; JSONR_POSITIVE asks for > 0. */
bool jsonr_double(struct jsonr_node *n, const char *key, unsigned flags, double *out);
bool jsonr_bool(struct jsonr_node *n, const char *key, unsigned flags, bool *out);
/* A string among names[0..count): *out is its index. NULL names are
 * skipped (a subset of an enum's names). */
bool jsonr_enum(struct jsonr_node *n, const char *key, unsigned flags, const char *const *names,
		size_t count, unsigned *out);
/* An object taken whole (borrowed), not read key by key; NULL when absent,
 * null or in error. */
json_t *jsonr_object(struct jsonr_node *n, const char *key, unsigned flags);
/* The raw value of key (borrowed; JSON null included), NULL when absent.
 * Counts as read. */
json_t *jsonr_get(struct jsonr_node *n, const char *key);
/* Present and not null (counts as read). */
bool jsonr_has(struct jsonr_node *n, const char *key);

/* Getters of an array's element i (flags as above). */
bool jsonr_at_str(struct jsonr_node *array, size_t i, unsigned flags, const char **out);
bool jsonr_at_int64(struct jsonr_node *array, size_t i, unsigned flags, int64_t lo, int64_t hi,
		    int64_t *out);
bool jsonr_at_double(struct jsonr_node *array, size_t i, unsigned flags, double *out);

/*
 * An error of the caller's own rules, at n's key (NULL: n itself; at the
 * root, no path): "SOURCE: PATH: message", with code (LLEM_EINVAL,
 * LLEM_ENOTSUP, ...). Ignored on a node that did not open, and after the
 * first error without JSONR_ALL_ERRORS.
 */
void jsonr_fail(struct jsonr_node *n, const char *key, int code, const char *fmt, ...)
	LLEM_PRINTF(4, 5);

/* "an object", "an array", "a string", "an integer", "a number" (a real),
 * "a boolean", "null": for messages. */
const char *jsonr_type_name(const json_t *v);

/*
 * Lax reads of a trusted peer's messages (a worker's replies), where a
 * missing or mistyped value means the fallback, not an error.
 */
int64_t jsonr_lax_int64(const json_t *obj, const char *key, int64_t fallback);
const char *jsonr_lax_str(const json_t *obj, const char *key, const char *fallback);

#endif
