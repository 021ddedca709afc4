/*
 * Tests for the flat-table writers: the Thrift compact encoder and the
 * definition-level encoder against hand-derived bytes, page bytes, CSV text
 * exactly, empty tables, refusals, atomicity and a large column. Readers
 * other than our own check the files in tests/cli/test_parquet_pyarrow.py.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "results/results.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_bytes(sb, ...)                                                                      \
	do {                                                                                       \
		static const uint8_t want_[] = { __VA_ARGS__ };                                    \
		assert_int_equal((sb)->len, sizeof(want_));                                        \
		assert_memory_equal((sb)->buf, want_, sizeof(want_));                              \
	} while (0)

/* ---- Thrift compact protocol ---- */

static void varint_is(uint64_t v, const uint8_t *want, size_t n)
{
	struct strbuf sb = STRBUF_INIT;

	thrift_varint(&sb, v);
	assert_int_equal(sb.len, n);
	assert_memory_equal(sb.buf, want, n);
	strbuf_release(&sb);
}

static void test_thrift_varints(void **state)
{
	static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };

	(void)state;
	varint_is(0, (const uint8_t[]){ 0x00 }, 1);
	varint_is(1, (const uint8_t[]){ 0x01 }, 1);
	varint_is(127, (const uint8_t[]){ 0x7f }, 1);
	varint_is(128, (const uint8_t[]){ 0x80, 0x01 }, 2);
	varint_is(300, (const uint8_t[]){ 0xac, 0x02 }, 2);
	varint_is(16384, (const uint8_t[]){ 0x80, 0x80, 0x01 }, 3);
	varint_is(UINT64_MAX, max, sizeof(max));
}

static void test_thrift_zigzag_maps_negatives_to_odd(void **state)
{
	(void)state;
	assert_int_equal(thrift_zigzag(0), 0);
	assert_int_equal(thrift_zigzag(-1), 1);
	assert_int_equal(thrift_zigzag(1), 2);
	assert_int_equal(thrift_zigzag(-2), 3);
	assert_int_equal(thrift_zigzag(2), 4);
	assert_int_equal(thrift_zigzag(INT32_MAX), 4294967294u);
	assert_int_equal(thrift_zigzag(INT32_MIN), 4294967295u);
	assert_true(thrift_zigzag(INT64_MAX) == UINT64_MAX - 1);
	assert_true(thrift_zigzag(INT64_MIN) == UINT64_MAX);
}

static void test_thrift_field_headers_short_and_long(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct thrift_writer w;

	(void)state;
	thrift_begin(&w, &sb);
	thrift_field_i32(&w, 1, 1);     /* delta 1: 0x15, zigzag(1) = 2 */
	thrift_field_i32(&w, 2, -1);    /* delta 1: 0x15, zigzag(-1) = 1 */
	thrift_field_i64(&w, 17, 150);  /* delta 15: short form 0xf6 */
	thrift_field_i32(&w, 40, 0);    /* delta 23: type, zigzag(40) = 80 */
	thrift_field_i32(&w, 3, 0);     /* backwards: long form */
	thrift_field_bool(&w, 4, true); /* the value is the type */
	thrift_field_bool(&w, 5, false);
	thrift_field_string(&w, 6, "abc");
	thrift_end(&w);
	assert_bytes(&sb, 0x15, 0x02, 0x15, 0x01, 0xf6, 0xac, 0x02, 0x05, 0x50, 0x00, 0x05, 0x06,
		     0x00, 0x11, 0x12, 0x18, 0x03, 'a', 'b', 'c', 0x00);
	strbuf_release(&sb);
}

static void test_thrift_nested_struct_restarts_and_resumes_ids(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct thrift_writer w;

	(void)state;
	thrift_begin(&w, &sb);
	thrift_field_struct_begin(&w, 3); /* 0x3c */
	thrift_field_i32(&w, 1, 5);       /* ids restart at 0: 0x15 0x0a */
	thrift_field_struct_begin(&w, 2); /* an empty struct: just a stop */
	thrift_end(&w);
	thrift_end(&w);
	thrift_field_i32(&w, 4, 7); /* resumes after 3: delta 1 */
	thrift_end(&w);
	assert_bytes(&sb, 0x3c, 0x15, 0x0a, 0x1c, 0x00, 0x00, 0x15, 0x0e, 0x00);
	strbuf_release(&sb);
}

static void test_thrift_list_headers(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct thrift_writer w;
	size_t i;

	(void)state;
	thrift_begin(&w, &sb);
	thrift_field_list(&w, 1, THRIFT_I32, 3); /* 0x19, size 3 in the byte */
	thrift_elem_i32(&w, 0);
	thrift_elem_i32(&w, 3);
	thrift_elem_i32(&w, -3);
	thrift_field_list(&w, 2, THRIFT_BINARY, 1);
	thrift_elem_string(&w, "x");
	thrift_field_list(&w, 3, THRIFT_STRUCT, 0);
	thrift_end(&w);
	assert_bytes(&sb, 0x19, 0x35, 0x00, 0x06, 0x05, 0x19, 0x18, 0x01, 'x', 0x19, 0x0c, 0x00);

	/* 14 fits the size nibble; 15 and above take 0xf_ and a varint */
	strbuf_reset(&sb);
	thrift_begin(&w, &sb);
	thrift_field_list(&w, 1, THRIFT_STRUCT, 14);
	for (i = 0; i < 14; i++) {
		thrift_elem_struct_begin(&w);
		thrift_end(&w);
	}
	thrift_field_list(&w, 2, THRIFT_STRUCT, 15);
	thrift_end(&w);
	assert_int_equal(sb.len, 2 + 14 + 3 + 1);
	assert_int_equal((uint8_t)sb.buf[1], 0xec);
	assert_int_equal((uint8_t)sb.buf[16], 0x19);
	assert_int_equal((uint8_t)sb.buf[17], 0xfc);
	assert_int_equal((uint8_t)sb.buf[18], 0x0f);
	strbuf_release(&sb);
}

/* ---- definition levels ---- */

static void levels(struct strbuf *sb, const char *pattern)
{
	size_t i, n = strlen(pattern);
	bool *p = xcalloc(n, sizeof(*p));

	for (i = 0; i < n; i++)
		p[i] = pattern[i] == '1';
	strbuf_reset(sb);
	parquet_encode_levels(sb, p, n);
	free(p);
}

static void test_levels_rle_and_bit_packed_runs(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	levels(&sb, "");
	assert_bytes(&sb, 0, 0, 0, 0);
	/* 10 equal levels: one RLE run, header count << 1, value byte */
	levels(&sb, "1111111111");
	assert_bytes(&sb, 2, 0, 0, 0, 0x14, 0x01);
	levels(&sb, "00000000");
	assert_bytes(&sb, 2, 0, 0, 0, 0x10, 0x00);
	/* mixed: one group of 8, LSB first, header groups << 1 | 1 */
	levels(&sb, "10101010");
	assert_bytes(&sb, 2, 0, 0, 0, 0x03, 0x55);
	/* a short last group is padded with zeros */
	levels(&sb, "101");
	assert_bytes(&sb, 2, 0, 0, 0, 0x03, 0x05);
	/* fewer than 8 equal levels after a group stay bit-packed */
	levels(&sb, "101111111111");
	assert_bytes(&sb, 3, 0, 0, 0, 0x05, 0xfd, 0x0f);
	/* a run of 8+ at a group boundary switches to RLE */
	levels(&sb, "1011111111111111111111");
	assert_bytes(&sb, 4, 0, 0, 0, 0x03, 0xfd, 0x1c, 0x01);
	/* RLE, then mixed */
	levels(&sb, "000000000010");
	assert_bytes(&sb, 4, 0, 0, 0, 0x14, 0x00, 0x03, 0x01);
	strbuf_release(&sb);
}

static void test_levels_long_mixed_runs_split_at_63_groups(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char pattern[1001];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		pattern[i] = i % 2 ? '0' : '1';
	pattern[1000] = '\0';
	levels(&sb, pattern);
	/* 125 groups: 63 (header 0x7f) then 62 (header 0x7d) */
	assert_int_equal(sb.len, 4 + 1 + 63 + 1 + 62);
	assert_int_equal((uint8_t)sb.buf[0], 127);
	assert_int_equal((uint8_t)sb.buf[4], 0x7f);
	assert_int_equal((uint8_t)sb.buf[5], 0x55);
	assert_int_equal((uint8_t)sb.buf[4 + 64], 0x7d);
	assert_int_equal((uint8_t)sb.buf[sb.len - 1], 0x55);
	strbuf_release(&sb);
}

/* ---- files ---- */

static char *read_all(const char *path, size_t *len)
{
	char *data;

	assert_int_equal(fs_read_file(path, &data, len), 0);
	return data;
}

static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static uint32_t le32_at(const char *p)
{
	const uint8_t *u = (const uint8_t *)p;

	return u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* "PAR1" at both ends and a footer length that fits. */
static void assert_parquet_frame(const char *data, size_t len)
{
	assert_true(len >= 12);
	assert_memory_equal(data, "PAR1", 4);
	assert_memory_equal(data + len - 4, "PAR1", 4);
	assert_true(le32_at(data + len - 8) > 0);
	assert_true(le32_at(data + len - 8) <= len - 12);
}

static void test_parquet_page_bytes(void **state)
{
	static const int32_t v[] = { 1, -1 };
	static const bool present[] = { true, false };
	/* PageHeader{1: DATA_PAGE, 2/3: body size, 5: DataPageHeader{1: 2
	 * values, 2: PLAIN, 3/4: RLE}} then the body */
	static const uint8_t required[] = { 'P',  'A',  'R',  '1',  0x15, 0x00, 0x15, 0x10,
					    0x15, 0x10, 0x2c, 0x15, 0x04, 0x15, 0x00, 0x15,
					    0x06, 0x15, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00,
					    0x00, 0xff, 0xff, 0xff, 0xff };
	/* the body: level length 2, one bit-packed group (1, 0), one value */
	static const uint8_t optional[] = { 'P',  'A',  'R',  '1',  0x15, 0x00, 0x15, 0x14,
					    0x15, 0x14, 0x2c, 0x15, 0x04, 0x15, 0x00, 0x15,
					    0x06, 0x15, 0x06, 0x00, 0x00, 0x02, 0x00, 0x00,
					    0x00, 0x03, 0x01, 0x01, 0x00, 0x00, 0x00 };
	struct table_column col = { "v", TABLE_INT32, v, NULL };
	char *dir = test_tmpdir("table"), *path = fs_join(dir, "t.parquet");
	char *data;
	size_t len;

	(void)state;
	assert_int_equal(table_write_parquet(path, &col, 1, 2, NULL, 0), 0);
	data = read_all(path, &len);
	assert_parquet_frame(data, len);
	assert_true(len > sizeof(required));
	assert_memory_equal(data, required, sizeof(required));
	free(data);

	col.present = present;
	assert_int_equal(table_write_parquet(path, &col, 1, 2, NULL, 0), 0);
	data = read_all(path, &len);
	assert_parquet_frame(data, len);
	assert_true(len > sizeof(optional));
	assert_memory_equal(data, optional, sizeof(optional));
	free(data);
	free(path);
	test_rm_rf(dir);
	free(dir);
}

static void test_csv_quoting_and_values_exact_text(void **state)
{
	static const int32_t id[] = { 1, -2, 3, 4, 5, 6 };
	static const char *const name[] = {
		"plain", "a,b", "say \"hi\"", "", NULL, "line\nbreak\r"
	};
	static const bool name_present[] = { true, true, true, true, false, true };
	const double x[] = { 0.1, NAN, -0.0, INFINITY, 1e16, 1e-05 };
	static const bool ok[] = { true, false, true, false, true, false };
	static const int64_t big[] = { INT64_MIN, 0, 1, 2, 3, INT64_MAX };
	static const float f[] = { 0.5f, 0, 0.1f, 0, 2.0f, -1.5f };
	static const bool f_present[] = { true, false, true, false, true, true };
	const struct table_column cols[] = {
		{ "id", TABLE_INT32, id, NULL },
		{ "name, \"full\"", TABLE_STRING, name, name_present },
		{ "x", TABLE_DOUBLE, x, NULL },
		{ "ok", TABLE_BOOL, ok, NULL },
		{ "big", TABLE_INT64, big, NULL },
		{ "f", TABLE_FLOAT, f, f_present },
	};
	static const char want[] = "id,\"name, \"\"full\"\"\",x,ok,big,f\n"
				   "1,plain,0.1,true,-9223372036854775808,0.5\n"
				   "-2,\"a,b\",NaN,false,0,\n"
				   "3,\"say \"\"hi\"\"\",-0.0,true,1,0.10000000149011612\n"
				   "4,\"\",Infinity,false,2,\n"
				   "5,,1e+16,true,3,2.0\n"
				   "6,\"line\nbreak\r\",1e-05,false,9223372036854775807,-1.5\n";
	char *dir = test_tmpdir("table"), *path = fs_join(dir, "t.csv");
	char *data;
	size_t len;

	(void)state;
	assert_int_equal(table_write_csv(path, cols, ARRAY_SIZE(cols), 6), 0);
	data = read_all(path, &len);
	assert_string_equal(data, want);
	assert_int_equal(len, strlen(want));
	free(data);
	free(path);
	test_rm_rf(dir);
	free(dir);
}

static void test_zero_rows_write_the_schema(void **state)
{
	static const bool none[1];
	const struct table_column cols[] = {
		{ "t_ns", TABLE_INT64, NULL, NULL },
		{ "power_w", TABLE_DOUBLE, NULL, none },
	};
	const struct table_kv meta[] = { { "k", "v" } };
	char *dir = test_tmpdir("table");
	char *pq = fs_join(dir, "t.parquet"), *csv = fs_join(dir, "t.csv");
	char *data;
	size_t len;

	(void)state;
	assert_int_equal(table_write_parquet(pq, cols, 2, 0, meta, 1), 0);
	data = read_all(pq, &len);
	assert_parquet_frame(data, len);
	/* no pages: the footer follows the magic */
	assert_int_equal(le32_at(data + len - 8), len - 12);
	assert_non_null(memmem(data, len, "power_w", 7));
	free(data);

	assert_int_equal(table_write_csv(csv, cols, 2, 0), 0);
	data = read_all(csv, &len);
	assert_string_equal(data, "t_ns,power_w\n");
	free(data);
	free(pq);
	free(csv);
	test_rm_rf(dir);
	free(dir);
}

static void test_missing_directory_fails_and_leaves_nothing(void **state)
{
	static const double v[] = { 1.0 };
	const struct table_column col = { "v", TABLE_DOUBLE, v, NULL };
	char *dir = test_tmpdir("table");
	char *missing = fs_join(dir, "no/such/dir");
	char *pq = fs_join(missing, "t.parquet");
	char *csv = fs_join(missing, "t.csv");

	(void)state;
	assert_int_equal(table_write_parquet(pq, &col, 1, 1, NULL, 0), LLEM_EIO);
	assert_non_null(strstr(error_last(), "no/such/dir"));
	assert_int_equal(table_write_csv(csv, &col, 1, 1), LLEM_EIO);
	assert_false(fs_exists(missing));
	assert_int_equal(dir_entries(dir), 0);
	free(pq);
	free(csv);
	free(missing);
	test_rm_rf(dir);
	free(dir);
}

static void refused(const char *dir, const char *path, const struct table_column *cols,
		    size_t ncols, size_t nrows, const char *msg)
{
	char *data;
	size_t len;

	assert_int_equal(table_write_parquet(path, cols, ncols, nrows, NULL, 0), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), msg));
	assert_int_equal(table_write_csv(path, cols, ncols, nrows), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), msg));
	/* the old file is untouched and no temp file is left */
	data = read_all(path, &len);
	assert_string_equal(data, "old");
	free(data);
	assert_int_equal(dir_entries(dir), 1);
}

static void test_bad_tables_are_refused_before_writing(void **state)
{
	static const char *const bad_utf8[] = { "ok", "\xc3\x28" };
	static const char *const with_null[] = { "ok", NULL };
	static const bool all[] = { true, true };
	static const double d[] = { 1, 2 };
	struct table_column two[] = {
		{ "a", TABLE_DOUBLE, d, NULL },
		{ "a", TABLE_DOUBLE, d, NULL },
	};
	struct table_column s = { "s", TABLE_STRING, bad_utf8, NULL };
	struct table_kv kv = { "k", "\xff" };
	char *dir = test_tmpdir("table"), *path = fs_join(dir, "t");

	(void)state;
	test_write_text(path, "old");
	refused(dir, path, two, 0, 2, "at least one column");
	refused(dir, path, two, 2, 2, "'a' appears twice");
	two[1].name = "";
	refused(dir, path, two, 2, 2, "column 1 has no name");
	two[1].name = "b";
	two[1].type = (enum table_type)42;
	refused(dir, path, two, 2, 2, "unknown type");
	two[1].type = TABLE_DOUBLE;
	two[1].values = NULL;
	refused(dir, path, two, 2, 2, "'b' has no values");
	refused(dir, path, &s, 1, 2, "row 1: not valid UTF-8");
	s.values = with_null;
	refused(dir, path, &s, 1, 2, "row 1: NULL string");
	/* a NULL string is fine where the row is null */
	s.present = (const bool[]){ true, false };
	assert_int_equal(table_write_csv(path, &s, 1, 2), 0);
	test_write_text(path, "old");
	s.present = all;
	refused(dir, path, &s, 1, 2, "row 1: NULL string");

	test_write_text(path, "old");
	assert_int_equal(table_write_parquet(path, two, 1, 2, &kv, 1), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "metadata 'k'"));
	assert_int_equal(dir_entries(dir), 1);
	free(path);
	test_rm_rf(dir);
	free(dir);
}

static void test_utf8_validation(void **state)
{
	(void)state;
	assert_true(table_utf8_valid("", 0));
	assert_true(table_utf8_valid("température", strlen("température")));
	assert_true(table_utf8_valid("\xf0\x9f\x98\x80", 4));  /* U+1F600 */
	assert_true(table_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
	assert_false(table_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(table_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(table_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(table_utf8_valid("\xf4\x90\x80\x80", 4)); /* > 10FFFF */
	assert_false(table_utf8_valid("\xe2\x82", 2));         /* truncated */
	assert_false(table_utf8_valid("\x80", 1));             /* stray */
}

/* 16 pages of at most 64Ki rows: 8 bytes a value plus small headers. */
static void test_million_row_double_column(void **state)
{
	const size_t n = 1000000;
	double *v = xmalloc(n * sizeof(*v));
	const struct table_column col = { "power_w", TABLE_DOUBLE, v, NULL };
	char *dir = test_tmpdir("table"), *path = fs_join(dir, "big.parquet");
	uint8_t first[8];
	uint64_t bits;
	char *data;
	size_t i, len;

	(void)state;
	for (i = 0; i < n; i++)
		v[i] = 100.0 + (double)i * 1e-3;
	memcpy(&bits, &v[0], sizeof(bits));
	for (i = 0; i < 8; i++)
		first[i] = (uint8_t)(bits >> (8 * i));
	assert_int_equal(table_write_parquet(path, &col, 1, n, NULL, 0), 0);
	data = read_all(path, &len);
	assert_parquet_frame(data, len);
	assert_true(len > n * 8 + 16 * 15);
	assert_true(len < n * 8 + 16 * 32 + 1024);
	/* the first value follows the first page header (23 bytes: sizes
	 * of 512 KiB and 64Ki values take 3-byte varints) directly */
	assert_memory_equal(data + 4 + 23, first, 8);
	free(data);
	free(path);
	free(v);
	test_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thrift_varints),
		cmocka_unit_test(test_thrift_zigzag_maps_negatives_to_odd),
		cmocka_unit_test(test_thrift_field_headers_short_and_long),
		cmocka_unit_test(test_thrift_nested_struct_restarts_and_resumes_ids),
		cmocka_unit_test(test_thrift_list_headers),
		cmocka_unit_test(test_levels_rle_and_bit_packed_runs),
		cmocka_unit_test(test_levels_long_mixed_runs_split_at_63_groups),
		cmocka_unit_test(test_parquet_page_bytes),
		cmocka_unit_test(test_csv_quoting_and_values_exact_text),
		cmocka_unit_test(test_zero_rows_write_the_schema),
		cmocka_unit_test(test_missing_directory_fails_and_leaves_nothing),
		cmocka_unit_test(test_bad_tables_are_refused_before_writing),
		cmocka_unit_test(test_utf8_validation),
		cmocka_unit_test(test_million_row_double_column),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
