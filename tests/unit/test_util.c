/*
 * Tests for the util layer: SHA-256 against the NIST vectors, number
 * formatting against Python's repr, the JSON writer against json.dumps
 * output, strict parsers, diagnostics, strings, clocks and fs helpers.
 * Broader randomised cross-checks live in tests/cli/test_numfmt_python.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- sha256 ---- */

static void check_sha(const void *data, size_t len, const char *want)
{
	char hex[65];

	sha256_hex(data, len, hex, 64);
	assert_string_equal(hex, want);
}

static void test_sha256_nist_vectors(void **state)
{
	static const char *const m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char *const m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
					"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char *million = xmalloc(1000000);
	uint8_t d[32];

	(void)state;
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_sha(m448, strlen(m448),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_sha(m896, strlen(m896),
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	memset(million, 'a', 1000000);
	check_sha(million, 1000000,
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);

	/* Raw digest bytes agree with the hex form. */
	sha256("abc", 3, d);
	assert_int_equal(d[0], 0xba);
	assert_int_equal(d[1], 0x78);
	assert_int_equal(d[31], 0xad);
}

static void test_sha256_hex_prefix(void **state)
{
	char out[65];

	(void)state;
	memset(out, 'X', sizeof(out));
	sha256_hex("abc", 3, out, 16);
	assert_string_equal(out, "ba7816bf8f01cfea");
	sha256_hex("abc", 3, out, 7);
	assert_string_equal(out, "ba7816b");
	sha256_hex("abc", 3, out, 0);
	assert_string_equal(out, "");
	/* More than 64 digits is clamped to the whole digest. */
	sha256_hex("abc", 3, out, 100);
	assert_string_equal(out,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- strings ---- */

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(edit_distance("", ""), 0);
	assert_int_equal(edit_distance("abc", ""), 3);
	assert_int_equal(edit_distance("", "abcd"), 4);
	assert_int_equal(edit_distance("kitten", "sitting"), 3);
	assert_int_equal(edit_distance("sitting", "kitten"), 3);
	assert_int_equal(edit_distance("flaw", "lawn"), 2);
	assert_int_equal(edit_distance("batch_size", "batch_size"), 0);
	assert_int_equal(edit_distance("aienergyscor", "aienergyscore"), 1);
}

static void test_did_you_mean(void **state)
{
	static const char *const keys[] = { "backend", "baseline", "batch_size", "precision",
					    "bakend2" };
	size_t n = ARRAY_SIZE(keys);

	(void)state;
	assert_string_equal(did_you_mean("backnd", keys, n, 2), "backend");
	assert_string_equal(did_you_mean("batch_sise", keys, n, 2), "batch_size");
	assert_string_equal(did_you_mean("precison", keys, n, 2), "precision");
	/* Nearest wins: "bakend" is 1 from backend and 1 from bakend2, then
	 * the earlier candidate; "bakend22" is 1 from bakend2 only. */
	assert_string_equal(did_you_mean("bakend", keys, n, 3), "backend");
	assert_string_equal(did_you_mean("bakend22", keys, n, 3), "bakend2");
	/* Max distance is inclusive and honoured. */
	assert_string_equal(did_you_mean("bcknd", keys, n, 2), "backend");
	assert_null(did_you_mean("bcknd", keys, n, 1));
	assert_null(did_you_mean("temperature", keys, n, 3));
	assert_string_equal(did_you_mean("baseline", keys, n, 0), "baseline");
	assert_null(did_you_mean("baselin", keys, n, 0));
	assert_null(did_you_mean("x", keys, 0, 10));
}

static void test_str_prefix_suffix(void **state)
{
	(void)state;
	assert_true(str_starts_with("vllm.engine", "vllm."));
	assert_true(str_starts_with("abc", ""));
	assert_false(str_starts_with("ab", "abc"));
	assert_true(str_ends_with("data.jsonl", ".jsonl"));
	assert_true(str_ends_with("x", ""));
	assert_false(str_ends_with("jsonl", ".jsonl"));
	assert_false(str_ends_with("a.json", ".jsonl"));
}

static void test_strbuf_growth_and_detach(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;
	size_t i;

	(void)state;
	assert_string_equal(strbuf_str(&sb), "");
	s = strbuf_detach(&sb);
	assert_string_equal(s, "");
	free(s);

	for (i = 0; i < 10000; i++)
		strbuf_addch(&sb, (char)('a' + i % 26));
	assert_int_equal(sb.len, 10000);
	assert_true(sb.cap > sb.len);
	assert_int_equal(strlen(sb.buf), 10000);
	assert_int_equal(sb.buf[9999], 'a' + 9999 % 26);

	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_addf(&sb, "%s=%d;%05.1f", "n", -42, 2.25);
	strbuf_adds(&sb, "|");
	strbuf_add(&sb, "x\0y", 3);
	assert_int_equal(sb.len, strlen("n=-42;002.2|") + 3);
	assert_memory_equal(sb.buf, "n=-42;002.2|x\0y", sb.len + 1);

	/* A formatted string far larger than any initial capacity. */
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%5000d|%s", 7, "end");
	assert_int_equal(sb.len, 5004);
	assert_string_equal(sb.buf + 4999, "7|end");

	s = strbuf_detach(&sb);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
	assert_string_equal(s + 5000, "|end");
	free(s);
	strbuf_release(&sb);
}

static void test_alloc_helpers(void **state)
{
	int *items = NULL;
	size_t cap = 0, i;
	char *s;

	(void)state;
	for (i = 0; i < 1000; i++) {
		GROW(items, cap, i + 1);
		items[i] = (int)i;
	}
	assert_true(cap >= 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(items[i], (int)i);
	free(items);

	s = xasprintf("%s-%03d", "run", 7);
	assert_string_equal(s, "run-007");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
}

static void test_error_last(void **state)
{
	(void)state;
	assert_int_equal(error_set(LLEM_EINVAL, "bad %s %d", "value", 3), LLEM_EINVAL);
	assert_string_equal(error_last(), "bad value 3");
	errno = ENOENT;
	assert_int_equal(error_set_errno(LLEM_EIO, "cannot open '%s'", "f"), LLEM_EIO);
	assert_string_equal(error_last(), "cannot open 'f': No such file or directory");
	error_clear();
	assert_string_equal(error_last(), "");
}

/* ---- number parsing and formatting ---- */

static void test_parse_int64(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "-0", 0 },
		{ "+7", 7 },
		{ "42", 42 },
		{ "-17", -17 },
		{ "007", 7 },
		{ "9223372036854775807", INT64_MAX },
		{ "-9223372036854775808", INT64_MIN },
	};
	static const char *const bad[] = {
		"",
		"1x",
		"0x10",
		" 1",
		"1 ",
		"-",
		"+",
		"1.0",
		"1e3",
		"--1",
		"9223372036854775808",
		"-9223372036854775809",
		"99999999999999999999",
		"inf",
		"nan",
	};
	size_t i;
	int64_t v;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		v = 12345;
		assert_int_equal(parse_int64(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 12345;
		if (parse_int64(bad[i], &v) != -1)
			fail_msg("parse_int64 accepted '%s'", bad[i]);
		assert_true(v == 12345);
	}
}

static void test_parse_double(void **state)
{
	static const struct {
		const char *s;
		double v;
	} ok[] = {
		{ "0", 0.0 },
		{ "1.5", 1.5 },
		{ "-2.5e-3", -2.5e-3 },
		{ ".5", 0.5 },
		{ "5.", 5.0 },
		{ "1E5", 1e5 },
		{ "+3", 3.0 },
		{ "1e308", 1e308 },
		{ "1.7976931348623157e+308", 1.7976931348623157e+308 },
		{ "2.2250738585072014e-308", 2.2250738585072014e-308 },
		/* Subnormals: what numfmt_double writes must read back. */
		{ "5e-324", 5e-324 },
		{ "1e-310", 1e-310 },
		{ "0.1", 0.1 },
		{ "0e-400", 0.0 },
	};
	static const char *const bad[] = {
		"",         "1x",    "0x10",  "inf",    "-inf",   "nan",   "NaN",
		"Infinity", " 1",    "1 ",    ".",      "-",      "e5",    "1e",
		"--1",      "1e5e5", "1e309", "-1e400", "1e-400", "0x1p3", "1,5",
	};
	size_t i;
	double v;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		v = 12345;
		if (parse_double(ok[i].s, &v) != 0)
			fail_msg("parse_double rejected '%s'", ok[i].s);
		assert_memory_equal(&v, &ok[i].v, sizeof(v));
	}
	assert_int_equal(parse_double("-0", &v), 0);
	assert_true(v == 0 && signbit(v));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 12345;
		if (parse_double(bad[i], &v) != -1)
			fail_msg("parse_double accepted '%s'", bad[i]);
		assert_true(v == 12345);
	}
}

/* Expected strings are Python 3's repr() of the same doubles. */
static void test_numfmt_double_table(void **state)
{
	static const struct {
		double v;
		const char *want;
	} table[] = {
		{ 0.0, "0.0" },
		{ -0.0, "-0.0" },
		{ 1.0, "1.0" },
		{ -1.5, "-1.5" },
		{ 0.1, "0.1" },
		{ 0.05, "0.05" },
		{ 1e-05, "1e-05" },
		{ 0.0001, "0.0001" },
		{ 0.001, "0.001" },
		{ 9.999999999999999e-05, "9.999999999999999e-05" },
		{ 1e16, "1e+16" },
		{ 1e15, "1000000000000000.0" },
		{ 123456789.0, "123456789.0" },
		{ 1.5e-7, "1.5e-07" },
		{ 5e-324, "5e-324" },
		{ 1.7976931348623157e+308, "1.7976931348623157e+308" },
		{ 2.2250738585072014e-308, "2.2250738585072014e-308" },
		{ 2.5, "2.5" },
		{ 100.0, "100.0" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 1.0 / 3.0, "0.3333333333333333" },
		{ 9007199254740992.0, "9007199254740992.0" },
		{ 1234567890123456.8, "1234567890123456.8" },
		{ 12345678901234567.0, "1.2345678901234568e+16" },
		{ 1e22, "1e+22" },
		{ 1e100, "1e+100" },
		{ 3.14159e-250, "3.14159e-250" },
		/* Powers of two, where the nearest 16-digit decimal misses but
		 * the next one up reads back: repr takes the shorter form. */
		{ 0x1p-1017, "7.120236347223045e-307" },
		{ 0x1p976, "6.386688990511104e+293" },
		{ -0x1p710, "-5.386379163185535e+213" },
	};
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(table); i++) {
		strbuf_reset(&sb);
		numfmt_double(&sb, table[i].v);
		assert_string_equal(sb.buf, table[i].want);
	}
	strbuf_reset(&sb);
	numfmt_double(&sb, NAN);
	assert_string_equal(sb.buf, "NaN");
	strbuf_reset(&sb);
	numfmt_double(&sb, -INFINITY);
	assert_string_equal(sb.buf, "-Infinity");
	strbuf_reset(&sb);
	numfmt_double(&sb, INFINITY);
	assert_string_equal(sb.buf, "Infinity");
	/* Appends rather than overwrites. */
	strbuf_reset(&sb);
	strbuf_adds(&sb, "x=");
	numfmt_double(&sb, 0.5);
	assert_string_equal(sb.buf, "x=0.5");
	strbuf_release(&sb);
}

/* ---- JSON writer ---- */

static void write_sample(struct jsonw *w)
{
	jsonw_object_begin(w);
	jsonw_key(w, "a");
	jsonw_int(w, 1);
	jsonw_key(w, "b");
	jsonw_array_begin(w);
	jsonw_int(w, 1);
	jsonw_double(w, 2.5);
	jsonw_object_begin(w);
	jsonw_key(w, "c");
	jsonw_null(w);
	jsonw_object_end(w);
	jsonw_array_end(w);
	jsonw_key(w, "e");
	jsonw_object_begin(w);
	jsonw_object_end(w);
	jsonw_key(w, "f");
	jsonw_array_begin(w);
	jsonw_array_end(w);
	jsonw_key(w, "g");
	jsonw_string(w, "x");
	jsonw_key(w, "h");
	jsonw_bool(w, true);
	jsonw_object_end(w);
}

/* Expected texts are json.dumps(obj) and json.dumps(obj, indent=2). */
static void test_jsonw_styles(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;

	(void)state;
	jsonw_init(&w, &sb, JSONW_PYTHON);
	write_sample(&w);
	assert_string_equal(sb.buf, "{\"a\": 1, \"b\": [1, 2.5, {\"c\": null}], "
				    "\"e\": {}, \"f\": [], \"g\": \"x\", \"h\": true}");

	strbuf_reset(&sb);
	jsonw_init(&w, &sb, JSONW_PRETTY);
	write_sample(&w);
	assert_string_equal(sb.buf, "{\n"
				    "  \"a\": 1,\n"
				    "  \"b\": [\n"
				    "    1,\n"
				    "    2.5,\n"
				    "    {\n"
				    "      \"c\": null\n"
				    "    }\n"
				    "  ],\n"
				    "  \"e\": {},\n"
				    "  \"f\": [],\n"
				    "  \"g\": \"x\",\n"
				    "  \"h\": true\n"
				    "}");

	/* Top-level array, nested empties, raw text, non-finite -> null. */
	strbuf_reset(&sb);
	jsonw_init(&w, &sb, JSONW_PYTHON);
	jsonw_array_begin(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "k");
	jsonw_array_begin(&w);
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	jsonw_raw(&w, "{\"r\": 1}");
	jsonw_double(&w, NAN);
	jsonw_double(&w, -0.0);
	jsonw_int(&w, INT64_MIN);
	jsonw_string(&w, NULL);
	jsonw_bool(&w, false);
	jsonw_array_end(&w);
	assert_string_equal(sb.buf, "[[], {\"k\": [{}]}, {\"r\": 1}, null, -0.0, "
				    "-9223372036854775808, null, false]");

	strbuf_reset(&sb);
	jsonw_init(&w, &sb, JSONW_PRETTY);
	jsonw_array_begin(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_string(&w, "\xc3\xa9");
	jsonw_array_end(&w);
	/* Pretty output keeps UTF-8 (ensure_ascii=False), Python style escapes. */
	assert_string_equal(sb.buf, "[\n  [],\n  \"\xc3\xa9\"\n]");
	strbuf_reset(&sb);
	jsonw_init(&w, &sb, JSONW_PYTHON);
	jsonw_string(&w, "\xc3\xa9");
	assert_string_equal(sb.buf, "\"\\u00e9\"");
	strbuf_release(&sb);
}

static void check_quote(const char *in, bool ascii_only, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	json_quote(&sb, in, ascii_only);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

static void test_json_quote_escapes(void **state)
{
	(void)state;
	check_quote("", true, "\"\"");
	check_quote("plain text", true, "\"plain text\"");
	check_quote("a\"b\\c/d", true, "\"a\\\"b\\\\c/d\"");
	check_quote("\n\r\t\b\f", true, "\"\\n\\r\\t\\b\\f\"");
	check_quote("\x01\x1f", false, "\"\\u0001\\u001f\"");
	/* DEL: json.dumps escapes it only under ensure_ascii. */
	check_quote("\x7f", true, "\"\\u007f\"");
	check_quote("\x7f", false, "\"\x7f\"");

	/* ensure_ascii: BMP as one escape, U+1F600 as a surrogate pair. */
	check_quote("caf\xc3\xa9", true, "\"caf\\u00e9\"");
	check_quote("\xe2\x82\xac", true, "\"\\u20ac\"");
	check_quote("\xef\xbf\xbf", true, "\"\\uffff\"");
	check_quote("\xf0\x9f\x98\x80", true, "\"\\ud83d\\ude00\"");
	check_quote("\xf4\x8f\xbf\xbf", true, "\"\\udbff\\udfff\"");
	check_quote("caf\xc3\xa9 \xf0\x9f\x98\x80", false, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");

	/* Invalid UTF-8 becomes U+FFFD, one per bad byte, in both modes. */
	check_quote("a\xff"
		    "b",
		    true, "\"a\\ufffdb\"");
	check_quote("a\x80"
		    "b",
		    true, "\"a\\ufffdb\"");
	check_quote("a\xff"
		    "b",
		    false,
		    "\"a\xef\xbf\xbd"
		    "b\"");
	check_quote("\xc3", true, "\"\\ufffd\"");
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF
	 * are not UTF-8 either (Python's decode(errors="replace") agrees). */
	check_quote("\xc0\xaf", true, "\"\\ufffd\\ufffd\"");
	check_quote("\xe0\x80\xaf", true, "\"\\ufffd\\ufffd\\ufffd\"");
	check_quote("\xed\xa0\x80", true, "\"\\ufffd\\ufffd\\ufffd\"");
	check_quote("\xed\xa0\x80", false, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	check_quote("\xf4\x90\x80\x80", true, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_quote("\xf8\x88\x80\x80\x80", true, "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

/* ---- diagnostics ---- */

static void test_diag_sort_is_stable(void **state)
{
	struct diag_list dl = DIAG_LIST_INIT;
	static const char *const want[] = { "no file", "a1",  "a3:1 first", "a3:1 second",
					    "a3:2",    "a10", "b1" };
	size_t i;

	(void)state;
	diag_add(&dl, DIAG_ERROR, "b.yaml", 1, 1, NULL, NULL, "b1");
	diag_add(&dl, DIAG_ERROR, "a.yaml", 10, 1, NULL, NULL, "a10");
	diag_add(&dl, DIAG_WARNING, "a.yaml", 3, 1, NULL, NULL, "a3:1 first");
	diag_add(&dl, DIAG_ERROR, "a.yaml", 3, 2, NULL, NULL, "a3:2");
	diag_add(&dl, DIAG_ERROR, "a.yaml", 3, 1, NULL, NULL, "a3:1 second");
	diag_add(&dl, DIAG_ERROR, "a.yaml", 1, 9, NULL, NULL, "a%d", 1);
	diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, NULL, "no file");
	assert_int_equal(dl.count, 7);
	assert_int_equal(diag_error_count(&dl), 6);
	diag_sort(&dl);
	for (i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(dl.items[i].message, want[i]);
	diag_list_release(&dl);
	assert_int_equal(dl.count, 0);
	assert_null(dl.items);
	diag_sort(&dl);
}

static void check_diag(const struct diag *d, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	diag_format(d, &sb);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

/* A diagnostic that quotes a huge value keeps its start and end only, cut
 * on UTF-8 character boundaries (issue 11 item 12: 25 MB on stderr). */
static void test_diag_elides_long_values(void **state)
{
	struct diag_list dl = DIAG_LIST_INIT;
	size_t n = 100000, i;
	char *value = xmalloc(n + 1), *key = xmalloc(4 * 200 + 1);
	const char *msg, *mid;

	(void)state;
	/* 'é' is two bytes: any cut that splits one shows up below. */
	for (i = 0; i < n; i += 2)
		memcpy(value + i, "\xc3\xa9", 2);
	value[n] = '\0';
	for (i = 0; i < 200; i++)
		memcpy(key + 4 * i, "key.", 4);
	key[4 * 200 - 1] = '\0';
	diag_add(&dl, DIAG_ERROR, "f.yaml", 1, 2, key, NULL, "must be one of a, b, got '%s'",
		 value);
	diag_add(&dl, DIAG_ERROR, "f.yaml", 3, 4, "short", NULL, "got '%s'", "fine");
	msg = dl.items[0].message;
	assert_true(strlen(msg) <= DIAG_MESSAGE_MAX);
	assert_true(strncmp(msg, "must be one of a, b, got '\xc3\xa9", 28) == 0);
	mid = strstr(msg, " ... [");
	assert_non_null(mid);
	assert_non_null(strstr(mid, " bytes elided] ... "));
	assert_int_equal(msg[strlen(msg) - 1], '\'');
	/* Every byte kept is part of a whole 'é' (or ASCII). */
	for (i = 0; msg[i]; i++)
		if ((unsigned char)msg[i] == 0xc3)
			assert_int_equal((unsigned char)msg[i + 1], 0xa9);
		else if ((unsigned char)msg[i] == 0xa9)
			assert_int_equal((unsigned char)msg[i - 1], 0xc3);
	/* The elided count is exact: what was cut plus what was kept is all. */
	{
		size_t cut = strtoul(mid + 6, NULL, 10),
		       full = strlen("must be one of a, b, got ''") + n;
		size_t marker = (size_t)(strstr(mid, "] ... ") + 6 - mid);

		assert_int_equal(strlen(msg) - marker + cut, full);
	}
	assert_true(strlen(dl.items[0].path) <= DIAG_PATH_MAX);
	assert_true(strncmp(dl.items[0].path, "key.key.", 8) == 0);
	assert_string_equal(dl.items[1].message, "got 'fine'");
	assert_string_equal(dl.items[1].path, "short");
	diag_list_release(&dl);
	free(value);
	free(key);
}

/* A message may quote the one it replaces (context added on the way up). */
static void test_error_set_may_quote_the_last_error(void **state)
{
	(void)state;
	assert_int_equal(error_set(LLEM_ENOTFOUND, "file '%s' is missing", "x.jsonl"),
			 LLEM_ENOTFOUND);
	assert_int_equal(error_set(LLEM_EINVAL, "dataset: %s", error_last()), LLEM_EINVAL);
	assert_int_equal(error_set(LLEM_EINVAL, "%s\nin study point %d", error_last(), 2),
			 LLEM_EINVAL);
	assert_string_equal(error_last(), "dataset: file 'x.jsonl' is missing\nin study point 2");
	errno = ENOENT;
	error_set_errno(LLEM_EIO, "again: %s", error_last());
	assert_string_equal(error_last(), "again: dataset: file 'x.jsonl' is missing\nin study "
					  "point 2: No such file or directory");
	error_clear();
	assert_string_equal(error_last(), "");
}

static void test_diag_format(void **state)
{
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	diag_add(&dl, DIAG_ERROR, "study.yaml", 3, 5, "decoder.top_p", "use 0..1", "must be <= %g",
		 1.0);
	diag_add(&dl, DIAG_ERROR, "study.yaml", 3, 0, "n", NULL, "must be > 0");
	diag_add(&dl, DIAG_ERROR, "study.yaml", 0, 7, NULL, NULL, "empty file");
	diag_add(&dl, DIAG_WARNING, "<command line>", 1, 2, "backend", NULL, "odd");
	diag_add(&dl, DIAG_ERROR, NULL, 4, 4, "", NULL, "no source");
	check_diag(&dl.items[0], "study.yaml:3:5: decoder.top_p: must be <= 1");
	assert_string_equal(dl.items[0].hint, "use 0..1");
	check_diag(&dl.items[1], "study.yaml:3: n: must be > 0");
	check_diag(&dl.items[2], "study.yaml: empty file");
	check_diag(&dl.items[3], "<command line>:1:2: warning: backend: odd");
	/* An empty path is stored as none. */
	assert_null(dl.items[4].path);
	check_diag(&dl.items[4], "no source");
	diag_list_release(&dl);
}

/* ---- time ---- */

static void check_utc(int64_t ns, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	time_format_utc(&sb, ns);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

static void test_time_format_utc(void **state)
{
	uint64_t a, b;
	int64_t now;

	(void)state;
	check_utc(0, "1970-01-01T00:00:00.000000Z");
	check_utc(1700000000123456789LL, "2023-11-14T22:13:20.123456Z");
	/* Truncated to the microsecond, not rounded. */
	check_utc(1700000000999999999LL, "2023-11-14T22:13:20.999999Z");
	check_utc(951782400000000000LL, "2000-02-29T00:00:00.000000Z");
	check_utc(4102444799000001000LL, "2099-12-31T23:59:59.000001Z");
	check_utc(-1500000000LL, "1969-12-31T23:59:58.500000Z");

	a = clock_monotonic_ns();
	b = clock_monotonic_ns();
	assert_true(b >= a);
	now = clock_realtime_ns();
	/* After 2023-11-14, before 2100. */
	assert_true(now > 1700000000000000000LL && now < 4102444800000000000LL);
}

/* ---- files ---- */

static void test_fs_dirname_join(void **state)
{
	static const char *const cases[][2] = {
		{ "a/b/c", "a/b" },  { "c", "." },
		{ "/c", "/" },       { "/a/b", "/a" },
		{ "./x.json", "." }, { "results/run_1/result.json", "results/run_1" },
	};
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		s = fs_dirname(cases[i][0]);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
	s = fs_join("a", "b");
	assert_string_equal(s, "a/b");
	free(s);
	s = fs_join("a/", "b");
	assert_string_equal(s, "a/b");
	free(s);
	s = fs_join("a", "/abs/b");
	assert_string_equal(s, "/abs/b");
	free(s);
	s = fs_join("", "b");
	assert_string_equal(s, "b");
	free(s);
	s = fs_join(NULL, "b");
	assert_string_equal(s, "b");
	free(s);
}

static void test_fs_mkdirs_and_read(void **state)
{
	char tmpl[] = "/tmp/llem-test-util-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *nested, *file, *under_file, *data;
	size_t len;
	FILE *f;
	pid_t pid;
	int status;

	(void)state;
	assert_non_null(dir);
	nested = xasprintf("%s/a/b/c/", dir);
	assert_int_equal(fs_mkdirs(nested, 0755), 0);
	assert_true(fs_is_dir(nested));
	/* Already there: still fine. */
	assert_int_equal(fs_mkdirs(nested, 0755), 0);
	assert_int_equal(fs_mkdirs("", 0755), LLEM_EINVAL);

	file = xasprintf("%s/a/file", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("hello\nworld", f);
	assert_int_equal(fclose(f), 0);
	assert_true(fs_exists(file));
	assert_false(fs_is_dir(file));
	assert_int_equal(fs_read_file(file, &data, &len), 0);
	assert_int_equal(len, 11);
	assert_string_equal(data, "hello\nworld");
	free(data);

	assert_int_equal(fs_mkdirs(file, 0755), LLEM_EIO);
	assert_true(strstr(error_last(), "is not a directory") != NULL);
	under_file = xasprintf("%s/sub", file);
	assert_int_equal(fs_mkdirs(under_file, 0755), LLEM_EIO);
	assert_true(strstr(error_last(), under_file) != NULL);
	free(under_file);

	under_file = xasprintf("%s/missing", dir);
	assert_int_equal(fs_read_file(under_file, &data, &len), LLEM_ENOTFOUND);
	assert_null(data);
	assert_true(strstr(error_last(), under_file) != NULL);
	free(under_file);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(file);
	free(nested);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_nist_vectors),
		cmocka_unit_test(test_sha256_hex_prefix),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_did_you_mean),
		cmocka_unit_test(test_str_prefix_suffix),
		cmocka_unit_test(test_strbuf_growth_and_detach),
		cmocka_unit_test(test_alloc_helpers),
		cmocka_unit_test(test_error_last),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_parse_double),
		cmocka_unit_test(test_numfmt_double_table),
		cmocka_unit_test(test_jsonw_styles),
		cmocka_unit_test(test_json_quote_escapes),
		cmocka_unit_test(test_diag_sort_is_stable),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_error_set_may_quote_the_last_error),
		cmocka_unit_test(test_diag_elides_long_values),
		cmocka_unit_test(test_time_format_utc),
		cmocka_unit_test(test_fs_dirname_join),
		cmocka_unit_test(test_fs_mkdirs_and_read),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	error_clear();
	return rc;
}
