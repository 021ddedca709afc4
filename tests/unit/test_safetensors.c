/*
 * Tests for the safetensors reader: files built here byte by byte read
 * back exactly, every malformation gives its exact error naming the file
 * and tensor, and random damage to a valid file never crashes (run under
 * ASan, where any read outside the buffer aborts the test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "engine/safetensors.h"
#include "llem/errors.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SRC "model.safetensors"

/* Length field + header + data, as a safetensors writer lays them out. */
static uint8_t *st_build(const char *header, const void *data, size_t data_len, size_t *out_len)
{
	size_t hlen = strlen(header), i;
	uint8_t *buf = xmalloc(8 + hlen + data_len + 1);

	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
	memcpy(buf + 8, header, hlen);
	if (data_len)
		memcpy(buf + 8 + hlen, data, data_len);
	*out_len = 8 + hlen + data_len;
	return buf;
}

/* Parses header+data and expects failure with exactly msg. */
static void expect_error(const char *header, size_t data_len, int code, const char *msg)
{
	uint8_t *data = xcalloc(data_len ? data_len : 1, 1);
	struct safetensors_file *f = (void *)1;
	size_t len;
	uint8_t *buf = st_build(header, data, data_len, &len);

	assert_int_equal(safetensors_parse(&f, buf, len, SRC), code);
	assert_null(f);
	assert_string_equal(error_last(), msg);
	free(buf);
	free(data);
}

static void expect_ok(const char *header, size_t data_len, size_t count)
{
	uint8_t *data = xcalloc(data_len ? data_len : 1, 1);
	struct safetensors_file *f;
	size_t len;
	uint8_t *buf = st_build(header, data, data_len, &len);

	if (safetensors_parse(&f, buf, len, SRC))
		fail_msg("%s", error_last());
	assert_int_equal(f->count, count);
	safetensors_close(f);
	free(buf);
	free(data);
}

/* Element i of a u16 tensor; the data need not be 2-byte aligned. */
static uint16_t u16_at(const void *data, size_t i)
{
	uint16_t v;

	memcpy(&v, (const uint8_t *)data + 2 * i, sizeof(v));
	return v;
}

static float bf16_to_f32(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void test_safetensors_reads_f32_f16_bf16_exactly(void **state)
{
	/* Data: a F32 [2,3] at 0..24, b F16 [4] at 24..32, c BF16 [2,2] at
	 * 32..40, i I64 [1] at 40..48 (parsed, though not a weight dtype). */
	const float a[6] = { 1.0f, -2.5f, 3.25f, 0.0f, 1e-8f, -65504.0f };
	const uint16_t b[4] = { 0x3c00, 0xc000, 0x7bff, 0x0001 };
	const uint16_t c[4] = { 0x3f80, 0xbfc0, 0x4049, 0x0000 };
	const int64_t i64 = -7;
	const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
			     "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
			     "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
			     "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
			     "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]}}"
			     "        ";
	uint8_t data[48];
	const struct safetensors_tensor *t;
	struct safetensors_file *f;
	char *dir = test_tmpdir("st"), *path = fs_join(dir, SRC);
	size_t len;
	uint8_t *buf;

	(void)state;
	memcpy(data, a, 24);
	memcpy(data + 24, b, 8);
	memcpy(data + 32, c, 8);
	memcpy(data + 40, &i64, 8);
	buf = st_build(header, data, sizeof(data), &len);
	assert_int_equal(atomic_write_file(path, buf, len), 0);

	if (safetensors_open(&f, path))
		fail_msg("%s", error_last());
	assert_int_equal(f->count, 4);

	t = safetensors_find(f, "a");
	assert_non_null(t);
	assert_int_equal(t->dtype, ST_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 2);
	assert_int_equal(t->shape[1], 3);
	assert_memory_equal(t->data, a, sizeof(a));
	{
		float last;

		memcpy(&last, (const uint8_t *)t->data + 20, sizeof(last));
		assert_true(last == -65504.0f);
	}

	t = safetensors_find(f, "b");
	assert_non_null(t);
	assert_int_equal(t->dtype, ST_F16);
	assert_int_equal(t->ndim, 1);
	assert_int_equal(t->shape[0], 4);
	assert_memory_equal(t->data, b, sizeof(b));

	t = safetensors_find(f, "c");
	assert_non_null(t);
	assert_int_equal(t->dtype, ST_BF16);
	assert_memory_equal(t->data, c, sizeof(c));
	assert_true(bf16_to_f32(u16_at(t->data, 0)) == 1.0f);
	assert_true(bf16_to_f32(u16_at(t->data, 1)) == -1.5f);

	t = safetensors_find(f, "i");
	assert_non_null(t);
	assert_int_equal(t->dtype, ST_I64);
	assert_string_equal(safetensors_dtype_name(t->dtype), "I64");
	assert_memory_equal(t->data, &i64, 8);

	assert_null(safetensors_find(f, "__metadata__"));
	assert_null(safetensors_find(f, "d"));
	safetensors_close(f);
	free(buf);
	free(path);
	test_rm_rf(dir);
	free(dir);
}

static void test_safetensors_accepts_edge_cases(void **state)
{
	(void)state;
	/* No tensors at all, with and without metadata. */
	expect_ok("{}", 0, 0);
	expect_ok("{\"__metadata__\":{}}", 0, 0);
	/* Empty tensors share offsets without overlapping anything. */
	expect_ok("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[4,4]},"
		  "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
		  "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
		  4, 3);
	/* Holes between tensors and unknown keys in an entry are tolerated. */
	expect_ok("{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[6,8],"
		  "\"extra\":1}}",
		  8, 1);
}

static void test_safetensors_rejects_bad_length_field(void **state)
{
	struct safetensors_file *f;
	uint8_t buf[16] = { 0 };

	(void)state;
	assert_int_equal(safetensors_parse(&f, buf, 5, SRC), LLEM_EINVAL);
	assert_string_equal(
		error_last(),
		"model.safetensors: too small for a safetensors file (5 bytes; the header length alone takes 8)");

	buf[0] = 0x01;
	buf[4] = 0x01; /* 2^32 + 1 */
	assert_int_equal(safetensors_parse(&f, buf, 16, SRC), LLEM_EINVAL);
	assert_string_equal(
		error_last(),
		"model.safetensors: header length 4294967297 exceeds the limit of 100000000 bytes");

	memset(buf, 0xff, 8);
	assert_int_equal(safetensors_parse(&f, buf, 16, SRC), LLEM_EINVAL);
	assert_string_equal(
		error_last(),
		"model.safetensors: header length 18446744073709551615 exceeds the limit of 100000000 bytes");

	memset(buf, 0, 8);
	buf[0] = 9;
	assert_int_equal(safetensors_parse(&f, buf, 16, SRC), LLEM_EINVAL);
	assert_string_equal(
		error_last(),
		"model.safetensors: header length 9 exceeds the file (8 bytes after the length field)");

	buf[0] = 0;
	assert_int_equal(safetensors_parse(&f, buf, 8, SRC), LLEM_EINVAL);
	assert_true(str_starts_with(error_last(), "model.safetensors: header is not valid JSON: "));
}

static void test_safetensors_rejects_bad_headers(void **state)
{
	(void)state;
	expect_error(
		"{\"a\": [1,", 0, LLEM_EINVAL,
		"model.safetensors: header is not valid JSON: ']' expected near end of file (at byte 9 of the header)");
	expect_error("[1, 2]", 0, LLEM_EINVAL, "model.safetensors: header is not a JSON object");
	expect_error("{\"__metadata__\": [1]}", 0, LLEM_EINVAL,
		     "model.safetensors: '__metadata__' is not an object");
	expect_error("{\"w\": 5}", 0, LLEM_EINVAL,
		     "model.safetensors: tensor 'w': entry is not an object");
	expect_error("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, LLEM_EINVAL,
		     "model.safetensors: tensor 'w': 'dtype' is missing or not a string");
	expect_error("{\"w\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
		     LLEM_EINVAL, "model.safetensors: tensor 'w': unknown dtype 'F7'");
	expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4,
		     LLEM_EINVAL,
		     "model.safetensors: tensor 'w': 'shape' is missing or not an array");
	expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}",
		     4, LLEM_EINVAL,
		     "model.safetensors: tensor 'w': shape[1] is not a non-negative integer");
	expect_error("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4,
		     LLEM_EINVAL,
		     "model.safetensors: tensor 'w': shape[0] is not a non-negative integer");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}",
		4, LLEM_EINVAL,
		"model.safetensors: tensor 'w': 9 dimensions (at most 8 are supported)");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
		LLEM_EINVAL,
		"model.safetensors: tensor 'w': 'data_offsets' must be [begin, end] with 0 <= begin <= end");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
		LLEM_EINVAL,
		"model.safetensors: tensor 'w': 'data_offsets' must be [begin, end] with 0 <= begin <= end");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 8,
		LLEM_EINVAL,
		"model.safetensors: tensor 'w': 'data_offsets' must be [begin, end] with 0 <= begin <= end");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 8, LLEM_EINVAL,
		"model.safetensors: tensor 'w': 'data_offsets' must be [begin, end] with 0 <= begin <= end");
	/* Duplicate names would make lookups ambiguous. */
	expect_error(
		"{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
		"\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
		2, LLEM_EINVAL,
		"model.safetensors: header is not valid JSON: duplicate object key near '\"w\"' (at byte 63 of the header)");
}

static void test_safetensors_rejects_bad_data_offsets(void **state)
{
	(void)state;
	expect_error(
		"{\"model.layers.0.mlp.up_proj.weight\": {\"dtype\": \"U8\", "
		"\"shape\": [99], \"data_offsets\": [0, 99]}}",
		64, LLEM_EINVAL,
		"model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': data_offsets [0, 99] exceed the file's data (64 bytes)");
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 64,
		LLEM_EINVAL,
		"model.safetensors: tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20");
	expect_error(
		"{\"w\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [2, 10]}}", 64,
		LLEM_EINVAL,
		"model.safetensors: tensor 'w': shape [3] of BF16 needs 6 bytes but data_offsets [2, 10] hold 8");
	/* 2^32 * 2^32 * 4 bytes: the product must not wrap to a small
	 * number that happens to match. */
	expect_error(
		"{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 0]}}",
		64, LLEM_EINVAL,
		"model.safetensors: tensor 'w': shape [4294967296, 4294967296] of F32 is too large (its size overflows 64 bits)");
	expect_error(
		"{\"w\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}",
		64, LLEM_EINVAL,
		"model.safetensors: tensor 'w': shape [4611686018427387904] of F64 is too large (its size overflows 64 bits)");
	expect_error(
		"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
		"\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
		64, LLEM_EINVAL,
		"model.safetensors: tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [8, 24]) overlap");
	/* A tensor nested inside a longer one, found after a third. */
	expect_error(
		"{\"big\": {\"dtype\": \"U8\", \"shape\": [40], \"data_offsets\": [0, 40]},"
		"\"mid\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [4, 8]},"
		"\"end\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [30, 34]}}",
		64, LLEM_EINVAL,
		"model.safetensors: tensors 'big' (data_offsets [0, 40]) and 'mid' (data_offsets [4, 8]) overlap");
}

static void test_safetensors_open_errors_name_the_path(void **state)
{
	struct safetensors_file *f;
	char *dir = test_tmpdir("st"), *path = fs_join(dir, "x.safetensors");
	char *want;

	(void)state;
	assert_int_equal(safetensors_open(&f, path), LLEM_ENOTFOUND);
	want = xasprintf("cannot open '%s': No such file or directory", path);
	assert_string_equal(error_last(), want);
	free(want);

	assert_int_equal(safetensors_open(&f, dir), LLEM_EINVAL);
	want = xasprintf("%s: not a regular file", dir);
	assert_string_equal(error_last(), want);
	free(want);

	test_write_text(path, "");
	assert_int_equal(safetensors_open(&f, path), LLEM_EINVAL);
	want = xasprintf(
		"%s: too small for a safetensors file (0 bytes; the header length alone takes 8)",
		path);
	assert_string_equal(error_last(), want);
	free(want);

	free(path);
	test_rm_rf(dir);
	free(dir);
}

/* xorshift64*: deterministic, so a failing iteration can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Reads every byte a successful parse points at: ASan flags any that lie
 * outside the buffer, and the checks catch pointers that escape it. */
static void check_in_bounds(const struct safetensors_file *f, const uint8_t *buf, size_t len)
{
	unsigned sum = 0;
	size_t i, j;

	for (i = 0; i < f->count; i++) {
		const struct safetensors_tensor *t = &f->tensors[i];
		const uint8_t *p = t->data;
		size_t n = (size_t)(t->end - t->begin);

		assert_true(p >= buf && p <= buf + len);
		assert_true(n <= (size_t)(buf + len - p));
		for (j = 0; j < n; j++)
			sum += p[j];
		if (i)
			assert_true(strcmp(f->tensors[i - 1].name, t->name) < 0);
	}
	(void)sum;
}

static void test_safetensors_fuzz_never_crashes(void **state)
{
	static const char special[] = "0123456789[]{},:\"-. eE";
	const char *header =
		"{\"__metadata__\":{\"format\":\"pt\"},"
		"\"embed\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[0,32]},"
		"\"norm\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[32,40]},"
		"\"q\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[40,48]},"
		"\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[48,64]}}";
	uint8_t data[64];
	uint64_t seed = 0x5eed1234abcdULL;
	size_t len, i, hlen = strlen(header);
	uint8_t *valid;
	int ok = 0, bad = 0, it;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37);
	valid = st_build(header, data, sizeof(data), &len);
	for (it = 0; it < 2000; it++) {
		size_t n = len, k, nflips;
		uint64_t r = rng_next(&seed);
		struct safetensors_file *f;
		uint8_t *buf;

		if (r % 4 == 0) /* truncate */
			n = (size_t)(rng_next(&seed) % (len + 1));
		buf = xmalloc(n ? n : 1); /* exact size: ASan sees overreads */
		memcpy(buf, valid, n);
		nflips = (r >> 8) % 4 + (r % 4 == 0 ? 0 : 1);
		for (k = 0; k < nflips && n; k++) {
			uint64_t q = rng_next(&seed);
			size_t at;

			switch (q % 5) {
			case 0: /* any byte, any bit */
				at = (size_t)((q >> 8) % n);
				buf[at] ^= (uint8_t)(1u << ((q >> 40) % 8));
				break;
			case 1: /* the length field */
				at = (size_t)((q >> 8) % 8);
				if (at < n)
					buf[at] = (uint8_t)(q >> 32);
				break;
			case 2: /* a JSON-significant character in the header */
				at = 8 + (size_t)((q >> 8) % hlen);
				if (at < n)
					buf[at] =
						(uint8_t)special[(q >> 32) % (sizeof(special) - 1)];
				break;
			case 3: /* a digit of a shape or offset: another digit */
				at = 8 + (size_t)((q >> 8) % hlen);
				while (at < n && at < 8 + hlen && (buf[at] < '0' || buf[at] > '9'))
					at++;
				if (at < n && at < 8 + hlen)
					buf[at] = (uint8_t)('0' + (q >> 32) % 10);
				break;
			default: /* the tensor data */
				at = 8 + hlen + (size_t)((q >> 8) % sizeof(data));
				if (at < n)
					buf[at] = (uint8_t)(q >> 32);
				break;
			}
		}
		if (safetensors_parse(&f, buf, n, SRC) == 0) {
			check_in_bounds(f, buf, n);
			safetensors_close(f);
			ok++;
		} else {
			assert_true(str_starts_with(error_last(), SRC ": "));
			bad++;
		}
		free(buf);
	}
	print_message("fuzz: %d parsed, %d rejected\n", ok, bad);
	/* Both outcomes must actually be exercised. */
	assert_true(ok > 100);
	assert_true(bad > 500);
	free(valid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safetensors_reads_f32_f16_bf16_exactly),
		cmocka_unit_test(test_safetensors_accepts_edge_cases),
		cmocka_unit_test(test_safetensors_rejects_bad_length_field),
		cmocka_unit_test(test_safetensors_rejects_bad_headers),
		cmocka_unit_test(test_safetensors_rejects_bad_data_offsets),
		cmocka_unit_test(test_safetensors_open_errors_name_the_path),
		cmocka_unit_test(test_safetensors_fuzz_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
