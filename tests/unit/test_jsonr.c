/*
 * Tests for the typed JSON reader (util/jsonr.h): every error names the
 * source and the JSON path, each type and bound has its message, strict
 * readers refuse unknown keys and report missing ones after them, and a
 * reader that failed, or a node that did not open, reads nothing safely.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "llem/errors.h"
#include "util/jsonr.h"
#include "util/util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One document under test: its reader, its root and the parsed JSON. */
struct doc {
	struct jsonr r;
	struct jsonr_node root;
	json_t *json;
};

static void doc_open(struct doc *d, const char *text, unsigned mode)
{
	jsonr_init(&d->r, "t.json", mode);
	d->json = jsonr_parse(&d->r, text, strlen(text));
	if (!jsonr_root(&d->root, &d->r, d->json))
		fail_msg("root did not open: %s", error_last());
}

/* Leaves the root and checks the reader's code and whole message. */
static void doc_close(struct doc *d, int rc, const char *msg)
{
	jsonr_leave(&d->root);
	assert_int_equal(d->r.rc, rc);
	if (msg) {
		assert_string_equal(strbuf_str(&d->r.msg), msg);
		assert_string_equal(error_last(), msg);
	} else {
		assert_int_equal(d->r.msg.len, 0);
	}
	json_decref(d->json);
	jsonr_release(&d->r);
}

static void test_jsonr_reads_every_type(void **state)
{
	struct doc d;
	const char *s = NULL;
	char *dup = xstrdup("old");
	int64_t i64 = 0;
	int i = 0;
	double x = 0;
	bool b = false;
	unsigned e = 9;
	static const char *const names[] = { "low", "high" };

	(void)state;
	doc_open(&d,
		 "{\"s\": \"text\", \"i\": -7, \"n\": 42, \"x\": 2.5, \"xi\": 3,"
		 " \"b\": true, \"e\": \"high\", \"o\": {\"k\": 1}}",
		 JSONR_STRICT);
	assert_true(jsonr_str(&d.root, "s", JSONR_REQUIRED, &s));
	assert_string_equal(s, "text");
	assert_true(jsonr_strdup(&d.root, "s", JSONR_REQUIRED, &dup));
	assert_string_equal(dup, "text");
	assert_true(jsonr_int64(&d.root, "i", JSONR_REQUIRED, INT64_MIN, INT64_MAX, &i64));
	assert_int_equal(i64, -7);
	assert_true(jsonr_int(&d.root, "n", JSONR_REQUIRED, 0, 100, &i));
	assert_int_equal(i, 42);
	assert_true(jsonr_double(&d.root, "x", JSONR_REQUIRED, &x));
	assert_true(x == 2.5);
	/* An integer is a number too. */
	assert_true(jsonr_double(&d.root, "xi", JSONR_REQUIRED | JSONR_POSITIVE, &x));
	assert_true(x == 3.0);
	assert_true(jsonr_bool(&d.root, "b", JSONR_REQUIRED, &b));
	assert_true(b);
	assert_true(jsonr_enum(&d.root, "e", JSONR_REQUIRED, names, ARRAY_SIZE(names), &e));
	assert_int_equal(e, 1);
	assert_non_null(jsonr_object(&d.root, "o", JSONR_REQUIRED));
	doc_close(&d, 0, NULL);
	free(dup);
}

static void test_jsonr_paths_in_nested_objects_and_arrays(void **state)
{
	struct jsonr_node a, list, elem, deep;
	struct doc d;
	int64_t v = 0;

	(void)state;
	doc_open(&d, "{\"a\": {\"list\": [{\"v\": 1}, {\"v\": \"two\"}]}}", JSONR_STRICT);
	assert_true(jsonr_enter(&a, &d.root, "a", JSONR_REQUIRED));
	assert_true(jsonr_enter_array(&list, &a, "list", JSONR_REQUIRED));
	assert_int_equal(jsonr_size(&list), 2);
	assert_true(jsonr_enter_at(&elem, &list, 0));
	assert_true(jsonr_int64(&elem, "v", JSONR_REQUIRED, 0, 10, &v));
	assert_int_equal(v, 1);
	jsonr_leave(&elem);
	assert_true(jsonr_enter_at(&elem, &list, 1));
	assert_false(jsonr_int64(&elem, "v", JSONR_REQUIRED, 0, 10, &v));
	assert_int_equal(v, 1);
	jsonr_leave(&elem);
	/* Past the end of the array: nothing opens, and nothing is said
	 * (the first error stops the reader). */
	assert_false(jsonr_enter_at(&deep, &list, 5));
	jsonr_leave(&list);
	jsonr_leave(&a);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: a.list[1].v: expected a non-negative integer, got a string");

	/* Elements read as values, and an element past the end. */
	doc_open(&d, "{\"xs\": [1, null, \"3\"]}", JSONR_ALL_ERRORS);
	assert_true(jsonr_enter_array(&list, &d.root, "xs", JSONR_REQUIRED));
	{
		double x = -1;
		const char *s = NULL;
		int64_t n = -1;

		assert_true(jsonr_at_double(&list, 0, JSONR_REQUIRED, &x));
		assert_true(x == 1.0);
		x = NAN;
		assert_false(jsonr_at_double(&list, 1, JSONR_REQUIRED | JSONR_NULLABLE, &x));
		assert_true(isnan(x));
		assert_false(jsonr_at_int64(&list, 2, JSONR_REQUIRED, 0, 9, &n));
		assert_false(jsonr_at_str(&list, 0, JSONR_REQUIRED, &s));
		assert_false(jsonr_at_str(&list, 3, JSONR_REQUIRED, &s));
		assert_null(s);
		assert_int_equal(n, -1);
	}
	jsonr_leave(&list);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: xs[2]: expected a non-negative integer, got a string\n"
		  "t.json: xs[0]: expected a string, got an integer\n"
		  "t.json: xs[3]: missing element (the array has 3)");
}

static void test_jsonr_type_errors_name_want_and_got(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct jsonr_node n;
	struct doc d;
	const char *s = NULL;
	int64_t i = 5;
	double x = 5;
	bool b = false;
	unsigned e = 7;

	(void)state;
	doc_open(&d,
		 "{\"s\": 1, \"i\": 1.0, \"c\": true, \"p\": \"1\", \"x\": \"1\","
		 " \"b\": 0, \"e\": 1, \"o\": [], \"a\": {}, \"sn\": [1], \"en\": \"c\"}",
		 JSONR_ALL_ERRORS);
	assert_false(jsonr_str(&d.root, "s", JSONR_REQUIRED, &s));
	assert_false(jsonr_int64(&d.root, "i", JSONR_REQUIRED, -5, 5, &i));
	assert_false(jsonr_int64(&d.root, "c", JSONR_REQUIRED, 0, 5, &i));
	assert_false(jsonr_int64(&d.root, "p", JSONR_REQUIRED, 1, 5, &i));
	assert_false(jsonr_double(&d.root, "x", JSONR_REQUIRED, &x));
	assert_false(jsonr_bool(&d.root, "b", JSONR_REQUIRED, &b));
	assert_false(jsonr_enum(&d.root, "e", JSONR_REQUIRED, names, 2, &e));
	assert_false(jsonr_enter(&n, &d.root, "o", JSONR_REQUIRED));
	assert_false(jsonr_enter_array(&n, &d.root, "a", JSONR_REQUIRED));
	assert_null(jsonr_object(&d.root, "sn", JSONR_NULLABLE));
	assert_false(jsonr_enum(&d.root, "en", JSONR_REQUIRED, names, 2, &e));
	/* Nothing stored on any failure. */
	assert_null(s);
	assert_int_equal(i, 5);
	assert_true(x == 5);
	assert_false(b);
	assert_int_equal(e, 7);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: s: expected a string, got an integer\n"
		  "t.json: i: expected an integer, got a number\n"
		  "t.json: c: expected a non-negative integer, got a boolean\n"
		  "t.json: p: expected a positive integer, got a string\n"
		  "t.json: x: expected a number, got a string\n"
		  "t.json: b: expected a boolean, got an integer\n"
		  "t.json: e: expected a string, got an integer\n"
		  "t.json: o: expected an object, got an array\n"
		  "t.json: a: expected an array, got an object\n"
		  "t.json: sn: expected an object or null, got an array\n"
		  "t.json: en: must be one of \"a\", \"b\", got \"c\"");
}

static void test_jsonr_bounds(void **state)
{
	struct doc d;
	int64_t v = 0;
	int iv = 0;
	double x = 1;

	(void)state;
	doc_open(&d,
		 "{\"neg\": -1, \"big\": 11, \"low\": -11, \"mid\": 0, \"int\": 2147483648,"
		 " \"zero\": 0, \"neg_x\": -0.5, \"ok\": 10, \"huge\": 9223372036854775807}",
		 JSONR_ALL_ERRORS);
	assert_false(jsonr_int64(&d.root, "neg", JSONR_REQUIRED, 0, INT64_MAX, &v));
	assert_false(jsonr_int64(&d.root, "big", JSONR_REQUIRED, INT64_MIN, 10, &v));
	assert_false(jsonr_int64(&d.root, "low", JSONR_REQUIRED, -10, 10, &v));
	assert_false(jsonr_int64(&d.root, "mid", JSONR_REQUIRED, 1, 10, &v));
	assert_false(jsonr_int(&d.root, "int", JSONR_REQUIRED, 0, INT_MAX, &iv));
	assert_false(jsonr_double(&d.root, "zero", JSONR_POSITIVE, &x));
	assert_false(jsonr_double(&d.root, "neg_x", JSONR_POSITIVE, &x));
	assert_int_equal(v, 0);
	assert_int_equal(iv, 0);
	assert_true(x == 1);
	/* The bounds themselves are inside. */
	assert_true(jsonr_int64(&d.root, "ok", JSONR_REQUIRED, -10, 10, &v));
	assert_int_equal(v, 10);
	assert_true(jsonr_int64(&d.root, "huge", JSONR_REQUIRED, 0, INT64_MAX, &v));
	assert_true(v == INT64_MAX);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: neg: must be >= 0, got -1\n"
		  "t.json: big: must be <= 10, got 11\n"
		  "t.json: low: must be between -10 and 10, got -11\n"
		  "t.json: mid: must be between 1 and 10, got 0\n"
		  "t.json: int: must be between 0 and 2147483647, got 2147483648\n"
		  "t.json: zero: must be greater than 0, got 0\n"
		  "t.json: neg_x: must be greater than 0, got -0.5");
}

static void test_jsonr_nullables_and_absent_keys_keep_the_preset(void **state)
{
	struct jsonr_node n;
	struct doc d;
	const char *s = "preset";
	char *dup = NULL;
	int64_t v = -1;
	double x = NAN;
	bool b = true;

	(void)state;
	doc_open(&d,
		 "{\"s\": null, \"v\": null, \"x\": null, \"b\": null, \"o\": null,"
		 " \"d\": null, \"bad\": null}",
		 JSONR_STRICT | JSONR_ALL_ERRORS);
	assert_false(jsonr_str(&d.root, "s", JSONR_REQUIRED | JSONR_NULLABLE, &s));
	assert_false(jsonr_strdup(&d.root, "d", JSONR_REQUIRED | JSONR_NULLABLE, &dup));
	assert_false(jsonr_int64(&d.root, "v", JSONR_REQUIRED | JSONR_NULLABLE, 0, 9, &v));
	assert_false(jsonr_double(&d.root, "x", JSONR_REQUIRED | JSONR_NULLABLE, &x));
	assert_false(jsonr_bool(&d.root, "b", JSONR_REQUIRED | JSONR_NULLABLE, &b));
	assert_false(jsonr_enter(&n, &d.root, "o", JSONR_REQUIRED | JSONR_NULLABLE));
	jsonr_leave(&n);
	/* Optional and absent: no error, nothing stored. */
	assert_false(jsonr_int64(&d.root, "absent", JSONR_NULLABLE, 0, 9, &v));
	assert_false(jsonr_has(&d.root, "absent"));
	assert_null(jsonr_get(&d.root, "absent"));
	/* jsonr_get tells null from absent; jsonr_has does not. */
	assert_true(json_is_null(jsonr_get(&d.root, "s")));
	assert_false(jsonr_has(&d.root, "s"));
	/* null where it is not allowed. */
	assert_false(jsonr_double(&d.root, "bad", JSONR_REQUIRED, &x));
	assert_string_equal(s, "preset");
	assert_null(dup);
	assert_int_equal(v, -1);
	assert_true(isnan(x));
	assert_true(b);
	doc_close(&d, LLEM_EINVAL, "t.json: bad: expected a number, got null");
}

static void test_jsonr_strict_reports_unknown_keys_then_missing(void **state)
{
	struct jsonr_node in;
	struct doc d;
	int64_t v = 0;

	(void)state;
	/* A misspelt key shows as the typo, with the key it may stand for,
	 * before the required key it hides goes missing. */
	doc_open(&d, "{\"ok\": 1, \"sampels\": 2, \"zzz\": 3, \"in\": {\"q\": 1}}",
		 JSONR_STRICT | JSONR_ALL_ERRORS);
	assert_true(jsonr_int64(&d.root, "ok", JSONR_REQUIRED, 0, 9, &v));
	assert_false(jsonr_int64(&d.root, "samples", JSONR_REQUIRED, 0, 9, &v));
	assert_true(jsonr_enter(&in, &d.root, "in", JSONR_REQUIRED));
	jsonr_leave(&in);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: in.q: unknown key\n"
		  "t.json: sampels: unknown key (did you mean 'samples'?)\n"
		  "t.json: zzz: unknown key\n"
		  "t.json: samples: missing key");

	/* Stopping at the first error: only the first unknown key. */
	doc_open(&d, "{\"a\": 1, \"b\": 2}", JSONR_STRICT);
	doc_close(&d, LLEM_EINVAL, "t.json: a: unknown key");

	/* Every key read: nothing to say. */
	doc_open(&d, "{\"a\": 1, \"b\": null}", JSONR_STRICT);
	assert_true(jsonr_int64(&d.root, "a", JSONR_REQUIRED, 0, 9, &v));
	assert_true(jsonr_has(&d.root, "a"));
	assert_non_null(jsonr_get(&d.root, "b"));
	doc_close(&d, 0, NULL);

	/* Lax mode: unknown keys are fine. */
	doc_open(&d, "{\"a\": 1, \"b\": 2}", 0);
	doc_close(&d, 0, NULL);
}

static void test_jsonr_missing_required_keys(void **state)
{
	struct jsonr_node in;
	struct doc d;
	bool b = false;

	(void)state;
	/* Lax: said where it is read, in read order. */
	doc_open(&d, "{\"in\": {}}", JSONR_ALL_ERRORS);
	assert_false(jsonr_bool(&d.root, "first", JSONR_REQUIRED, &b));
	assert_true(jsonr_enter(&in, &d.root, "in", JSONR_REQUIRED));
	assert_false(jsonr_bool(&in, "second", JSONR_REQUIRED, &b));
	jsonr_leave(&in);
	assert_false(jsonr_enter(&in, &d.root, "third", JSONR_REQUIRED));
	doc_close(&d, LLEM_EINVAL,
		  "t.json: first: missing key\n"
		  "t.json: in.second: missing key\n"
		  "t.json: third: missing key");

	/* Strict: when the object is left, with the reader's note. */
	doc_open(&d, "{\"in\": {}}", JSONR_STRICT);
	d.r.missing_note = "every key is written";
	assert_true(jsonr_enter(&in, &d.root, "in", JSONR_REQUIRED));
	assert_false(jsonr_bool(&in, "flag", JSONR_REQUIRED, &b));
	assert_int_equal(d.r.rc, 0);
	jsonr_leave(&in);
	doc_close(&d, LLEM_EINVAL, "t.json: in.flag: missing key (every key is written)");
}

static void test_jsonr_root_must_be_an_object(void **state)
{
	struct jsonr_node root;
	struct jsonr r;
	json_t *doc;
	bool b = true;

	(void)state;
	jsonr_init(&r, "t.json", JSONR_STRICT);
	doc = jsonr_parse(&r, "[1, 2]", 6);
	assert_non_null(doc);
	assert_false(jsonr_root(&root, &r, doc));
	assert_string_equal(error_last(), "t.json: expected a JSON object, got an array");
	/* The root did not open: getters and leave do nothing. */
	assert_false(jsonr_bool(&root, "x", JSONR_REQUIRED, &b));
	assert_int_equal(jsonr_size(&root), 0);
	jsonr_leave(&root);
	assert_int_equal(r.nerr, 1);
	assert_int_equal(r.rc, LLEM_EINVAL);
	json_decref(doc);
	jsonr_release(&r);

	/* Not JSON, duplicate keys: positioned parse errors, no root. */
	jsonr_init(&r, NULL, 0);
	assert_null(jsonr_parse(&r, "{\"a\": 1, \"a\": 2}", 16));
	assert_true(str_starts_with(error_last(), "<string>:1:"));
	assert_non_null(strstr(error_last(), ": not valid JSON: duplicate object key"));
	assert_false(jsonr_root(&root, &r, NULL));
	jsonr_release(&r);
	jsonr_init(&r, "t.json", 0);
	assert_null(jsonr_parse(&r, "{\"a\": ", 6));
	assert_true(str_starts_with(error_last(), "t.json:1:6: not valid JSON: "));
	/* A NUL byte is not the end of the text. */
	assert_null(jsonr_parse(&r, "{}\0{", 4));
	assert_int_equal(r.nerr, 2);
	jsonr_release(&r);
}

#define DEPTH 200

static void test_jsonr_deep_nesting_keeps_the_whole_path(void **state)
{
	struct strbuf text = STRBUF_INIT, want = STRBUF_INIT;
	struct jsonr_node *nodes = xcalloc(DEPTH + 1, sizeof(*nodes));
	struct doc d;
	bool b = false;
	int k;

	(void)state;
	for (k = 0; k < DEPTH; k++)
		strbuf_adds(&text, k % 2 ? "{\"o\": " : "{\"a\": [");
	strbuf_adds(&text, "{\"leaf\": 1}");
	for (k = DEPTH - 1; k >= 0; k--)
		strbuf_adds(&text, k % 2 ? "}" : "]}");
	doc_open(&d, text.buf, JSONR_STRICT);
	nodes[0] = d.root;
	strbuf_adds(&want, "t.json: ");
	for (k = 0; k < DEPTH; k++) {
		if (k % 2) {
			assert_true(jsonr_enter(&nodes[k + 1], &nodes[k], "o", JSONR_REQUIRED));
			strbuf_adds(&want, ".o");
		} else {
			struct jsonr_node arr;

			assert_true(jsonr_enter_array(&arr, &nodes[k], "a", JSONR_REQUIRED));
			assert_true(jsonr_enter_at(&nodes[k + 1], &arr, 0));
			jsonr_leave(&arr);
			strbuf_adds(&want, k ? ".a[0]" : "a[0]");
		}
	}
	assert_false(jsonr_bool(&nodes[DEPTH], "leaf", JSONR_REQUIRED, &b));
	strbuf_adds(&want, ".leaf: expected a boolean, got an integer");
	for (k = DEPTH; k > 0; k--)
		jsonr_leave(&nodes[k]);
	d.root = nodes[0];
	doc_close(&d, LLEM_EINVAL, want.buf);
	free(nodes);
	strbuf_release(&text);
	strbuf_release(&want);
}

static void test_jsonr_failed_reader_reads_nothing(void **state)
{
	struct jsonr_node in, arr, never;
	struct doc d;
	const char *s = "keep";
	char *dup = NULL;
	int64_t v = -1;
	double x = -1;
	bool b = false;
	unsigned e = 3;
	static const char *const names[] = { "x" };

	(void)state;
	doc_open(&d,
		 "{\"bad\": \"x\", \"s\": \"y\", \"v\": 1, \"in\": {\"b\": true},"
		 " \"arr\": [1], \"e\": \"x\"}",
		 JSONR_STRICT);
	assert_false(jsonr_int64(&d.root, "bad", JSONR_REQUIRED, 0, 9, &v));
	/* Every later read is skipped: present, valid values included. */
	assert_false(jsonr_str(&d.root, "s", JSONR_REQUIRED, &s));
	assert_false(jsonr_strdup(&d.root, "s", JSONR_REQUIRED, &dup));
	assert_false(jsonr_int64(&d.root, "v", JSONR_REQUIRED, 0, 9, &v));
	assert_false(jsonr_double(&d.root, "v", JSONR_REQUIRED, &x));
	assert_false(jsonr_enum(&d.root, "e", JSONR_REQUIRED, names, 1, &e));
	assert_false(jsonr_enter(&in, &d.root, "in", JSONR_REQUIRED));
	assert_false(jsonr_bool(&in, "b", JSONR_REQUIRED, &b));
	jsonr_leave(&in);
	jsonr_leave(&in);
	assert_false(jsonr_enter_array(&arr, &d.root, "arr", JSONR_REQUIRED));
	assert_int_equal(jsonr_size(&arr), 0);
	assert_false(jsonr_at_double(&arr, 0, JSONR_REQUIRED, &x));
	assert_false(jsonr_enter_at(&never, &arr, 0));
	assert_null(jsonr_object(&d.root, "in", JSONR_REQUIRED));
	assert_null(jsonr_get(&d.root, "s"));
	assert_false(jsonr_bool(&d.root, "nope", JSONR_REQUIRED, &b));
	jsonr_fail(&d.root, "s", LLEM_ENOTSUP, "ignored");
	assert_string_equal(s, "keep");
	assert_null(dup);
	assert_int_equal(v, -1);
	assert_true(x == -1);
	assert_int_equal(e, 3);
	assert_int_equal(d.r.nerr, 1);
	/* Leaving the root checks no keys once the reader has failed. */
	doc_close(&d, LLEM_EINVAL, "t.json: bad: expected a non-negative integer, got a string");
}

static void test_jsonr_fail_keeps_the_first_code_and_every_line(void **state)
{
	struct jsonr_node in;
	struct doc d;

	(void)state;
	doc_open(&d, "{\"in\": {\"k\": 1}}", JSONR_ALL_ERRORS);
	jsonr_fail(&d.root, NULL, LLEM_ENOTSUP, "feature %s is not supported", "X");
	assert_true(jsonr_enter(&in, &d.root, "in", 0));
	jsonr_fail(&in, "k", LLEM_EINVAL, "must be %d", 2);
	jsonr_fail(&in, NULL, LLEM_EINVAL, "is odd");
	jsonr_leave(&in);
	assert_int_equal(d.r.nerr, 3);
	doc_close(&d, LLEM_ENOTSUP,
		  "t.json: feature X is not supported\n"
		  "t.json: in.k: must be 2\n"
		  "t.json: in: is odd");
}

static void test_jsonr_enum_skips_null_names(void **state)
{
	static const char *const names[] = { NULL, "running", NULL, "done" };
	struct doc d;
	unsigned e = 0;

	(void)state;
	doc_open(&d, "{\"a\": \"done\", \"b\": \"pending\"}", JSONR_ALL_ERRORS);
	assert_true(jsonr_enum(&d.root, "a", JSONR_REQUIRED, names, ARRAY_SIZE(names), &e));
	assert_int_equal(e, 3);
	assert_false(jsonr_enum(&d.root, "b", JSONR_REQUIRED, names, ARRAY_SIZE(names), &e));
	assert_int_equal(e, 3);
	doc_close(&d, LLEM_EINVAL,
		  "t.json: b: must be one of \"running\", \"done\", got \"pending\"");
}

static void test_jsonr_lax_reads_fall_back(void **state)
{
	json_t *o = json_loads("{\"n\": 5, \"s\": \"x\", \"r\": 1.5, \"z\": null}", 0, NULL);

	(void)state;
	assert_non_null(o);
	assert_int_equal(jsonr_lax_int64(o, "n", -1), 5);
	assert_int_equal(jsonr_lax_int64(o, "r", -1), -1);
	assert_int_equal(jsonr_lax_int64(o, "s", -1), -1);
	assert_int_equal(jsonr_lax_int64(o, "absent", 7), 7);
	assert_int_equal(jsonr_lax_int64(NULL, "n", 7), 7);
	assert_string_equal(jsonr_lax_str(o, "s", "?"), "x");
	assert_string_equal(jsonr_lax_str(o, "n", "?"), "?");
	assert_string_equal(jsonr_lax_str(o, "z", "?"), "?");
	assert_string_equal(jsonr_lax_str(NULL, "s", "?"), "?");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonr_reads_every_type),
		cmocka_unit_test(test_jsonr_paths_in_nested_objects_and_arrays),
		cmocka_unit_test(test_jsonr_type_errors_name_want_and_got),
		cmocka_unit_test(test_jsonr_bounds),
		cmocka_unit_test(test_jsonr_nullables_and_absent_keys_keep_the_preset),
		cmocka_unit_test(test_jsonr_strict_reports_unknown_keys_then_missing),
		cmocka_unit_test(test_jsonr_missing_required_keys),
		cmocka_unit_test(test_jsonr_root_must_be_an_object),
		cmocka_unit_test(test_jsonr_deep_nesting_keeps_the_whole_path),
		cmocka_unit_test(test_jsonr_failed_reader_reads_nothing),
		cmocka_unit_test(test_jsonr_fail_keeps_the_first_code_and_every_line),
		cmocka_unit_test(test_jsonr_enum_skips_null_names),
		cmocka_unit_test(test_jsonr_lax_reads_fall_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
