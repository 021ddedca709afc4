/*
 * Test driver for tests/cli/test_parquet_pyarrow.py: writes one sample
 * table of every column type (REQUIRED and OPTIONAL, awkward values and
 * null patterns) as Parquet and CSV through the real writers, plus a JSON
 * sidecar of exactly what it wrote, for independent readers to compare.
 *
 *   table_sample NROWS DIR   writes DIR/t.parquet, DIR/t.csv, DIR/t.json
 *
 * Sidecar: {"nrows": N, "metadata": {key: value|null}, "columns": [{"name",
 * "type", "nullable", "values": [...]}]}; doubles and floats are their bit
 * patterns as hex strings (bit-exact, NaN payloads included), nulls null.
 * Exit 0 on success, 1 with the error on stderr.
 */
#include "results/results.h"
#include "llem/errors.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NCOLS = 14 };

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64: a fixed sequence, so every run writes the same table */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static float from_bits32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static const int32_t special_i32[] = { 0, -1, 1, INT32_MIN, INT32_MAX, 42 };
static const int64_t special_i64[] = { 0, -1, 1, INT64_MIN, INT64_MAX, (int64_t)1 << 53 };
static const uint64_t special_f64[] = {
	0x0000000000000000u, /* +0 */
	0x8000000000000000u, /* -0 */
	0x7ff0000000000000u, /* +inf */
	0xfff0000000000000u, /* -inf */
	0x7ff8000000000000u, /* NaN */
	0xfff8000000000000u, /* -NaN */
	0x7ff8dead00000000u, /* NaN with a payload */
	0x0000000000000001u, /* smallest subnormal */
	0x7fefffffffffffffu, /* DBL_MAX */
	0x3fb999999999999au, /* 0.1 */
};
static const uint32_t special_f32[] = {
	0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
	0x7fc00000u, 0x00000001u, 0x7f7fffffu, 0x3dcccccdu,
};
static const char *const special_str[] = {
	"",           "plain",       "température °C", "日本語", "😀 emoji",    "a,b",
	"say \"hi\"", "line\nbreak", "cr\rreturn",     "\r\n",   " lead space", "trail space ",
	",",          "\"",          "null",           "NaN",
};

static bool chance(unsigned pct)
{
	return rng() % 100 < pct;
}

static void fill(struct table_column *cols, size_t n, char **owned)
{
	int32_t *i32 = xcalloc(n, sizeof(*i32)), *i32o = xcalloc(n, 4);
	int64_t *i64 = xcalloc(n, 8), *i64o = xcalloc(n, 8);
	int64_t *nn = xcalloc(n, 8);
	double *f64 = xcalloc(n, 8), *f64o = xcalloc(n, 8), *an = xcalloc(n, 8);
	float *f32 = xcalloc(n, 4), *f32o = xcalloc(n, 4);
	bool *b = xcalloc(n, 1), *bo = xcalloc(n, 1);
	const char **s = xcalloc(n, sizeof(*s)), **so = xcalloc(n, sizeof(*so));
	bool *p[NCOLS];
	size_t i, k;

	for (k = 0; k < NCOLS; k++)
		p[k] = xcalloc(n, 1);
	for (i = 0; i < n; i++) {
		uint64_t r = rng();

		i32[i] = i < ARRAY_SIZE(special_i32) ? special_i32[i] : (int32_t)(uint32_t)r;
		i32o[i] = (int32_t)(i * 7) - 1000;
		i64[i] = i < ARRAY_SIZE(special_i64) ? special_i64[i] : (int64_t)rng();
		i64o[i] = (int64_t)rng() >> (r % 64);
		nn[i] = (int64_t)i;
		f64[i] = from_bits(i < ARRAY_SIZE(special_f64) ? special_f64[i] : rng());
		f64o[i] = (double)(r % 1000000) / 1000.0 - 500.0;
		an[i] = 1.0;
		f32[i] = from_bits32(i < ARRAY_SIZE(special_f32) ? special_f32[i] : (uint32_t)r);
		f32o[i] = (float)i * 0.25f;
		b[i] = r & 1;
		bo[i] = (r >> 1) & 1;
		if (i < ARRAY_SIZE(special_str)) {
			s[i] = special_str[i];
		} else if (i % 1000 == 999) {
			/* long enough to pass the statistics limit */
			char *t = xmalloc(2001);

			memset(t, 'z', 2000);
			t[2000] = '\0';
			s[i] = owned[i] = t;
		} else {
			owned[i] = xasprintf("row %zu é %" PRIx64, i, r);
			s[i] = owned[i];
		}
		so[i] = special_str[(r >> 8) % ARRAY_SIZE(special_str)];

		p[1][i] = i % 3 != 0;        /* short mixed runs */
		p[3][i] = (i / 50) % 2 == 0; /* long runs of each */
		p[5][i] = !chance(30);       /* random */
		p[7][i] = i % 7 != 1 && i % 7 != 2;
		p[9][i] = chance(50);
		p[11][i] = i % 2 == 1;
		p[12][i] = false; /* every row null */
		p[13][i] = true;  /* optional, none null */
	}

	cols[0] = (struct table_column){ "i32", TABLE_INT32, i32, NULL };
	cols[1] = (struct table_column){ "i32_opt", TABLE_INT32, i32o, p[1] };
	cols[2] = (struct table_column){ "i64", TABLE_INT64, i64, NULL };
	cols[3] = (struct table_column){ "i64_opt", TABLE_INT64, i64o, p[3] };
	cols[4] = (struct table_column){ "f64", TABLE_DOUBLE, f64, NULL };
	cols[5] = (struct table_column){ "température_°C", TABLE_DOUBLE, f64o, p[5] };
	cols[6] = (struct table_column){ "f32", TABLE_FLOAT, f32, NULL };
	cols[7] = (struct table_column){ "f32_opt", TABLE_FLOAT, f32o, p[7] };
	cols[8] = (struct table_column){ "bool", TABLE_BOOL, b, NULL };
	cols[9] = (struct table_column){ "bool_opt", TABLE_BOOL, bo, p[9] };
	cols[10] = (struct table_column){ "str", TABLE_STRING, s, NULL };
	cols[11] = (struct table_column){ "str \"opt\", quoted", TABLE_STRING, so, p[11] };
	cols[12] = (struct table_column){ "all_null", TABLE_DOUBLE, an, p[12] };
	cols[13] = (struct table_column){ "none_null", TABLE_INT64, nn, p[13] };
	for (k = 0; k < NCOLS; k++)
		if (cols[k].present != p[k]) {
			free(p[k]);
			p[k] = NULL;
		}
}

static const char *type_name(enum table_type t)
{
	static const char *const names[] = {
		"int32", "int64", "double", "float", "bool", "string"
	};

	return names[t];
}

static void put_value(struct jsonw *w, const struct table_column *c, size_t i)
{
	char hex[24];

	if (!table_present(c, i)) {
		jsonw_null(w);
		return;
	}
	switch (c->type) {
	case TABLE_INT32: jsonw_int(w, ((const int32_t *)c->values)[i]); break;
	case TABLE_INT64: jsonw_int(w, ((const int64_t *)c->values)[i]); break;
	case TABLE_DOUBLE: {
		uint64_t u;

		memcpy(&u, &((const double *)c->values)[i], sizeof(u));
		snprintf(hex, sizeof(hex), "%016" PRIx64, u);
		jsonw_string(w, hex);
		break;
	}
	case TABLE_FLOAT: {
		uint32_t u;

		memcpy(&u, &((const float *)c->values)[i], sizeof(u));
		snprintf(hex, sizeof(hex), "%08" PRIx32, u);
		jsonw_string(w, hex);
		break;
	}
	case TABLE_BOOL: jsonw_bool(w, ((const bool *)c->values)[i]); break;
	case TABLE_STRING: jsonw_string(w, ((const char *const *)c->values)[i]); break;
	}
}

static void sidecar(struct strbuf *out, const struct table_column *cols, size_t nrows,
		    const struct table_kv *meta, size_t nmeta)
{
	struct jsonw w;
	size_t i, k;

	jsonw_init(&w, out, JSONW_PYTHON);
	jsonw_object_begin(&w);
	jsonw_key(&w, "nrows");
	jsonw_int(&w, (int64_t)nrows);
	jsonw_key(&w, "metadata");
	jsonw_object_begin(&w);
	for (i = 0; i < nmeta; i++) {
		jsonw_key(&w, meta[i].key);
		jsonw_string(&w, meta[i].value);
	}
	jsonw_object_end(&w);
	jsonw_key(&w, "columns");
	jsonw_array_begin(&w);
	for (k = 0; k < NCOLS; k++) {
		jsonw_object_begin(&w);
		jsonw_key(&w, "name");
		jsonw_string(&w, cols[k].name);
		jsonw_key(&w, "type");
		jsonw_string(&w, type_name(cols[k].type));
		jsonw_key(&w, "nullable");
		jsonw_bool(&w, cols[k].present != NULL);
		jsonw_key(&w, "values");
		jsonw_array_begin(&w);
		for (i = 0; i < nrows; i++)
			put_value(&w, &cols[k], i);
		jsonw_array_end(&w);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	strbuf_addch(out, '\n');
}

int main(int argc, char **argv)
{
	static const struct table_kv meta[] = {
		{ "llem.version", "0.1.0" },
		{ "llem.config_hash", "0123456789abcdef" },
		{ "clé unicode", "valeur ✓" },
		{ "no_value", NULL },
	};
	struct table_column cols[NCOLS];
	struct strbuf sb = STRBUF_INIT;
	char **owned, *pq = NULL, *csv = NULL, *js = NULL;
	int64_t nrows;
	size_t n, i;
	int rc;

	if (argc != 3 || parse_int64(argv[1], &nrows) || nrows < 0) {
		fprintf(stderr, "usage: table_sample NROWS DIR\n");
		return 2;
	}
	n = (size_t)nrows;
	owned = xcalloc(n, sizeof(*owned));
	fill(cols, n, owned);
	pq = fs_join(argv[2], "t.parquet");
	csv = fs_join(argv[2], "t.csv");
	js = fs_join(argv[2], "t.json");

	rc = table_write_parquet(pq, cols, NCOLS, n, meta, ARRAY_SIZE(meta));
	if (!rc)
		rc = table_write_csv(csv, cols, NCOLS, n);
	if (!rc) {
		sidecar(&sb, cols, n, meta, ARRAY_SIZE(meta));
		rc = atomic_write_file(js, sb.buf, sb.len);
	}
	if (rc)
		fprintf(stderr, "table_sample: %s\n", error_last());

	for (i = 0; i < NCOLS; i++) {
		free((void *)cols[i].values);
		free((void *)cols[i].present);
	}
	for (i = 0; i < n; i++)
		free(owned[i]);
	free(owned);
	free(pq);
	free(csv);
	free(js);
	strbuf_release(&sb);
	return rc ? 1 : 0;
}
