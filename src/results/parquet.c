/*
 * A Parquet writer for flat tables (the Apache Parquet file format): one row group, PLAIN
 * data pages v1, no compression, statistics, the footer in the Thrift
 * compact protocol. Single pass: pages stream into an atomic temp file
 * while the footer's offsets and sizes are collected.
 */
#include "results/table.h"
#include "llem/errors.h"
#include "build_info.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Page limits: readers hold one page at a time, and page sizes are int32.
 * A page ends at 64Ki rows or once its values pass 1 MiB (a single string
 * longer than that gets a page of its own, within TABLE_MAX_STRING).
 */
#define PAGE_MAX_ROWS 65536
#define PAGE_TARGET_BYTES ((size_t)1 << 20)

/* Longer string min/max values are left out rather than truncated. */
#define STATS_MAX_STRING 1024

/* A bit-packed run of at most 63 groups keeps its header to one byte. */
#define LEVELS_MAX_GROUPS 63

/* parquet.thrift enums */
enum { PQ_BOOLEAN = 0, PQ_INT32 = 1, PQ_INT64 = 2, PQ_FLOAT = 4, PQ_DOUBLE = 5, PQ_BYTE_ARRAY = 6 };
enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1 };
enum { PQ_PLAIN = 0, PQ_RLE = 3 };
enum { PQ_UNCOMPRESSED = 0 };
enum { PQ_DATA_PAGE = 0 };
enum { PQ_CONVERTED_UTF8 = 0 };

/* What the footer needs to know about one written column chunk. */
struct chunk {
	int64_t data_page_offset;
	int64_t total_size; /* page headers included, as the spec wants */
	int64_t null_count;
	bool has_minmax;
	struct strbuf min, max; /* PLAIN-encoded, without a length prefix */
};

struct pq_writer {
	struct atomic_file *af;
	int64_t off; /* bytes written so far */
};

static void put_le32(struct strbuf *sb, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	strbuf_add(sb, b, sizeof(b));
}

static void put_le64(struct strbuf *sb, uint64_t v)
{
	put_le32(sb, (uint32_t)v);
	put_le32(sb, (uint32_t)(v >> 32));
}

static uint32_t float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static uint64_t double_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static int pq_write(struct pq_writer *pw, const struct strbuf *sb)
{
	int rc = atomic_file_write(pw->af, sb->buf, sb->len);

	if (!rc)
		pw->off += (int64_t)sb->len;
	return rc;
}

/* ---- definition levels: RLE/bit-packed hybrid, bit width 1 ---- */

/* Length of the run of equal levels at i, counting at most limit. */
static size_t run_length(const bool *present, size_t i, size_t n, size_t limit)
{
	size_t k = i + 1;

	while (k < n && k - i < limit && present[k] == present[i])
		k++;
	return k - i;
}

void parquet_encode_levels(struct strbuf *out, const bool *present, size_t n)
{
	size_t len_at = out->len, i = 0;
	uint32_t len;

	put_le32(out, 0); /* patched below */
	while (i < n) {
		size_t run = run_length(present, i, n, SIZE_MAX);
		size_t start = i, groups = 0, g, b;

		if (run >= 8) {
			thrift_varint(out, (uint64_t)run << 1);
			strbuf_addch(out, present[i] ? 1 : 0);
			i += run;
			continue;
		}
		/*
		 * Bit-packed groups of 8 until a run of 8 starts at a group
		 * boundary. Only the last run of the page can overhang n:
		 * its padding is never read, as the page says how many
		 * values it holds.
		 */
		do {
			groups++;
			i += 8;
		} while (i < n && groups < LEVELS_MAX_GROUPS && run_length(present, i, n, 8) < 8);
		thrift_varint(out, ((uint64_t)groups << 1) | 1);
		for (g = 0; g < groups; g++) {
			unsigned byte = 0;

			for (b = 0; b < 8; b++) {
				size_t k = start + g * 8 + b;

				if (k < n && present[k])
					byte |= 1u << b;
			}
			strbuf_addch(out, (char)(uint8_t)byte);
		}
		if (i > n)
			i = n;
	}
	len = (uint32_t)(out->len - len_at - 4);
	out->buf[len_at] = (char)(uint8_t)len;
	out->buf[len_at + 1] = (char)(uint8_t)(len >> 8);
	out->buf[len_at + 2] = (char)(uint8_t)(len >> 16);
	out->buf[len_at + 3] = (char)(uint8_t)(len >> 24);
}

/* ---- values ---- */

static size_t value_size(const struct table_column *c, size_t i)
{
	switch (c->type) {
	case TABLE_INT32:
	case TABLE_FLOAT: return 4;
	case TABLE_INT64:
	case TABLE_DOUBLE: return 8;
	case TABLE_BOOL: return 1; /* an overestimate of one bit; only sizes pages */
	case TABLE_STRING: return 4 + strlen(((const char *const *)c->values)[i]);
	}
	return 0;
}

/* The end of the page that starts at row start. */
static size_t page_end(const struct table_column *c, size_t start, size_t nrows)
{
	size_t end = start, bytes = 0;

	while (end < nrows && end - start < PAGE_MAX_ROWS) {
		size_t sz = table_present(c, end) ? value_size(c, end) : 0;

		if (end > start && bytes + sz > PAGE_TARGET_BYTES)
			break;
		bytes += sz;
		end++;
	}
	return end;
}

/* PLAIN values of the present rows in [start, end). */
static void encode_values(struct strbuf *out, const struct table_column *c, size_t start,
			  size_t end)
{
	const int32_t *i32 = c->values;
	const int64_t *i64 = c->values;
	const float *f32 = c->values;
	const double *f64 = c->values;
	const bool *b = c->values;
	const char *const *str = c->values;
	unsigned acc = 0, nbits = 0;
	size_t i;

	for (i = start; i < end; i++) {
		if (!table_present(c, i))
			continue;
		switch (c->type) {
		case TABLE_INT32: put_le32(out, (uint32_t)i32[i]); break;
		case TABLE_INT64: put_le64(out, (uint64_t)i64[i]); break;
		case TABLE_FLOAT: put_le32(out, float_bits(f32[i])); break;
		case TABLE_DOUBLE: put_le64(out, double_bits(f64[i])); break;
		case TABLE_BOOL:
			/* LSB first, no length prefix, padded to a byte */
			if (b[i])
				acc |= 1u << nbits;
			if (++nbits == 8) {
				strbuf_addch(out, (char)(uint8_t)acc);
				acc = nbits = 0;
			}
			break;
		case TABLE_STRING: {
			size_t n = strlen(str[i]);

			put_le32(out, (uint32_t)n);
			strbuf_add(out, str[i], n);
			break;
		}
		}
	}
	if (nbits)
		strbuf_addch(out, (char)(uint8_t)acc);
}

/* ---- statistics ---- */

static void stats_int(struct chunk *ch, const struct table_column *c, size_t nrows)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	size_t i;

	for (i = 0; i < nrows; i++) {
		int64_t v;

		if (!table_present(c, i))
			continue;
		v = c->type == TABLE_INT32 ? ((const int32_t *)c->values)[i]
					   : ((const int64_t *)c->values)[i];
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
		ch->has_minmax = true;
	}
	if (!ch->has_minmax)
		return;
	if (c->type == TABLE_INT32) {
		put_le32(&ch->min, (uint32_t)(int32_t)lo);
		put_le32(&ch->max, (uint32_t)(int32_t)hi);
	} else {
		put_le64(&ch->min, (uint64_t)lo);
		put_le64(&ch->max, (uint64_t)hi);
	}
}

/*
 * NaN is left out (it has no place in the order); a zero minimum is
 * written -0.0 and a zero maximum +0.0, as parquet.thrift's ColumnOrder
 * asks, since the two zeros compare equal.
 */
static void stats_real(struct chunk *ch, const struct table_column *c, size_t nrows)
{
	double lo = INFINITY, hi = -INFINITY;
	size_t i;

	for (i = 0; i < nrows; i++) {
		double v;

		if (!table_present(c, i))
			continue;
		v = c->type == TABLE_FLOAT ? ((const float *)c->values)[i]
					   : ((const double *)c->values)[i];
		if (isnan(v))
			continue;
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
		ch->has_minmax = true;
	}
	if (!ch->has_minmax)
		return;
	if (lo == 0)
		lo = -0.0;
	if (hi == 0)
		hi = 0.0;
	if (c->type == TABLE_FLOAT) {
		put_le32(&ch->min, float_bits((float)lo));
		put_le32(&ch->max, float_bits((float)hi));
	} else {
		put_le64(&ch->min, double_bits(lo));
		put_le64(&ch->max, double_bits(hi));
	}
}

static void stats_bool(struct chunk *ch, const struct table_column *c, size_t nrows)
{
	bool any_false = false, any_true = false;
	size_t i;

	for (i = 0; i < nrows; i++) {
		if (!table_present(c, i))
			continue;
		if (((const bool *)c->values)[i])
			any_true = true;
		else
			any_false = true;
	}
	if (!any_false && !any_true)
		return;
	ch->has_minmax = true;
	strbuf_addch(&ch->min, any_false ? 0 : 1);
	strbuf_addch(&ch->max, any_true ? 1 : 0);
}

static void stats_string(struct chunk *ch, const struct table_column *c, size_t nrows)
{
	const char *const *v = c->values;
	const char *lo = NULL, *hi = NULL;
	size_t i;

	/*
	 * UTF-8 strings order as unsigned bytes (TypeDefinedOrder for a
	 * STRING column), which is how strcmp compares.
	 */
	for (i = 0; i < nrows; i++) {
		if (!table_present(c, i))
			continue;
		if (!lo || strcmp(v[i], lo) < 0)
			lo = v[i];
		if (!hi || strcmp(v[i], hi) > 0)
			hi = v[i];
	}
	if (!lo || strlen(lo) > STATS_MAX_STRING || strlen(hi) > STATS_MAX_STRING)
		return;
	ch->has_minmax = true;
	strbuf_adds(&ch->min, lo);
	strbuf_adds(&ch->max, hi);
}

static void column_stats(struct chunk *ch, const struct table_column *c, size_t nrows)
{
	size_t i;

	if (c->present)
		for (i = 0; i < nrows; i++)
			ch->null_count += !c->present[i];
	switch (c->type) {
	case TABLE_INT32:
	case TABLE_INT64: stats_int(ch, c, nrows); break;
	case TABLE_FLOAT:
	case TABLE_DOUBLE: stats_real(ch, c, nrows); break;
	case TABLE_BOOL: stats_bool(ch, c, nrows); break;
	case TABLE_STRING: stats_string(ch, c, nrows); break;
	}
}

/* ---- pages and footer ---- */

static int write_chunk(struct pq_writer *pw, const struct table_column *c, size_t nrows,
		       struct chunk *ch)
{
	struct strbuf body = STRBUF_INIT, hdr = STRBUF_INIT;
	struct thrift_writer w;
	size_t start = 0;
	int rc = 0;

	ch->data_page_offset = pw->off;
	while (start < nrows) {
		size_t end = page_end(c, start, nrows);

		strbuf_reset(&body);
		strbuf_reset(&hdr);
		if (c->present)
			parquet_encode_levels(&body, c->present + start, end - start);
		encode_values(&body, c, start, end);

		thrift_begin(&w, &hdr);
		thrift_field_i32(&w, 1, PQ_DATA_PAGE);
		thrift_field_i32(&w, 2, (int32_t)body.len);      /* uncompressed */
		thrift_field_i32(&w, 3, (int32_t)body.len);      /* compressed */
		thrift_field_struct_begin(&w, 5);                /* DataPageHeader */
		thrift_field_i32(&w, 1, (int32_t)(end - start)); /* nulls too */
		thrift_field_i32(&w, 2, PQ_PLAIN);
		thrift_field_i32(&w, 3, PQ_RLE);
		thrift_field_i32(&w, 4, PQ_RLE);
		thrift_end(&w);
		thrift_end(&w);

		rc = pq_write(pw, &hdr);
		if (!rc)
			rc = pq_write(pw, &body);
		if (rc)
			goto out;
		start = end;
	}
	ch->total_size = pw->off - ch->data_page_offset;
	column_stats(ch, c, nrows);
out:
	strbuf_release(&hdr);
	strbuf_release(&body);
	return rc;
}

static int32_t physical_type(enum table_type t)
{
	switch (t) {
	case TABLE_INT32: return PQ_INT32;
	case TABLE_INT64: return PQ_INT64;
	case TABLE_DOUBLE: return PQ_DOUBLE;
	case TABLE_FLOAT: return PQ_FLOAT;
	case TABLE_BOOL: return PQ_BOOLEAN;
	case TABLE_STRING: return PQ_BYTE_ARRAY;
	}
	return PQ_BYTE_ARRAY;
}

/* A flat schema: a root holding one leaf per column. */
static void footer_schema(struct thrift_writer *w, const struct table_column *cols, size_t ncols)
{
	size_t i;

	thrift_field_list(w, 2, THRIFT_STRUCT, ncols + 1);
	thrift_elem_struct_begin(w);
	thrift_field_string(w, 4, "schema");
	thrift_field_i32(w, 5, (int32_t)ncols);
	thrift_end(w);
	for (i = 0; i < ncols; i++) {
		const struct table_column *c = &cols[i];

		thrift_elem_struct_begin(w);
		thrift_field_i32(w, 1, physical_type(c->type));
		thrift_field_i32(w, 3, c->present ? PQ_OPTIONAL : PQ_REQUIRED);
		thrift_field_string(w, 4, c->name);
		if (c->type == TABLE_STRING) {
			/* both the legacy and the current annotation, so
			 * old and new readers agree it is text */
			thrift_field_i32(w, 6, PQ_CONVERTED_UTF8);
			thrift_field_struct_begin(w, 10); /* LogicalType */
			thrift_field_struct_begin(w, 1);  /* STRING */
			thrift_end(w);
			thrift_end(w);
		}
		thrift_end(w);
	}
}

static void footer_row_group(struct thrift_writer *w, const struct table_column *cols, size_t ncols,
			     size_t nrows, const struct chunk *chunks)
{
	int64_t total = 0;
	size_t i;

	thrift_elem_struct_begin(w);
	thrift_field_list(w, 1, THRIFT_STRUCT, ncols);
	for (i = 0; i < ncols; i++) {
		const struct chunk *ch = &chunks[i];

		total += ch->total_size;
		thrift_elem_struct_begin(w);     /* ColumnChunk */
		thrift_field_i64(w, 2, 0);       /* file_offset: deprecated */
		thrift_field_struct_begin(w, 3); /* ColumnMetaData */
		thrift_field_i32(w, 1, physical_type(cols[i].type));
		thrift_field_list(w, 2, THRIFT_I32, cols[i].present ? 2 : 1);
		thrift_elem_i32(w, PQ_PLAIN);
		if (cols[i].present)
			thrift_elem_i32(w, PQ_RLE);
		thrift_field_list(w, 3, THRIFT_BINARY, 1);
		thrift_elem_string(w, cols[i].name);
		thrift_field_i32(w, 4, PQ_UNCOMPRESSED);
		thrift_field_i64(w, 5, (int64_t)nrows);
		thrift_field_i64(w, 6, ch->total_size);
		thrift_field_i64(w, 7, ch->total_size);
		thrift_field_i64(w, 9, ch->data_page_offset);
		thrift_field_struct_begin(w, 12); /* Statistics */
		thrift_field_i64(w, 3, ch->null_count);
		if (ch->has_minmax) {
			thrift_field_binary(w, 5, ch->max.buf, ch->max.len);
			thrift_field_binary(w, 6, ch->min.buf, ch->min.len);
		}
		thrift_end(w);
		thrift_end(w);
		thrift_end(w);
	}
	thrift_field_i64(w, 2, total);
	thrift_field_i64(w, 3, (int64_t)nrows);
	thrift_field_i64(w, 5, chunks[0].data_page_offset);
	thrift_field_i64(w, 6, total);
	thrift_field_header(w, 7, THRIFT_I16); /* ordinal */
	thrift_varint(w->out, thrift_zigzag(0));
	thrift_end(w);
}

static void build_footer(struct strbuf *out, const struct table_column *cols, size_t ncols,
			 size_t nrows, const struct chunk *chunks, const struct table_kv *meta,
			 size_t nmeta)
{
	struct thrift_writer w;
	size_t i;

	thrift_begin(&w, out);
	/* 1, not 2: readers treat both alike and 2 was never agreed on */
	thrift_field_i32(&w, 1, 1);
	footer_schema(&w, cols, ncols);
	thrift_field_i64(&w, 3, (int64_t)nrows);
	/* no row group at all for an empty table: the schema is enough */
	thrift_field_list(&w, 4, THRIFT_STRUCT, nrows ? 1 : 0);
	if (nrows)
		footer_row_group(&w, cols, ncols, nrows, chunks);
	if (nmeta) {
		thrift_field_list(&w, 5, THRIFT_STRUCT, nmeta);
		for (i = 0; i < nmeta; i++) {
			thrift_elem_struct_begin(&w);
			thrift_field_string(&w, 1, meta[i].key);
			if (meta[i].value)
				thrift_field_string(&w, 2, meta[i].value);
			thrift_end(&w);
		}
	}
	/* "<app> version <x.y.z> (build <id>)", the form readers parse */
	thrift_field_string(&w, 6,
			    "llem version " LLEM_VERSION_STRING " (build " LLEM_GIT_COMMIT ")");
	/* min/max are only defined under a declared column order */
	thrift_field_list(&w, 7, THRIFT_STRUCT, ncols);
	for (i = 0; i < ncols; i++) {
		thrift_elem_struct_begin(&w);     /* ColumnOrder */
		thrift_field_struct_begin(&w, 1); /* TypeDefinedOrder */
		thrift_end(&w);
		thrift_end(&w);
	}
	thrift_end(&w);
}

static int check_meta(const struct table_kv *meta, size_t nmeta)
{
	size_t i;

	if (nmeta && !meta)
		return error_set(LLEM_EINVAL, "parquet: metadata missing");
	for (i = 0; i < nmeta; i++) {
		const char *k = meta[i].key, *v = meta[i].value;

		if (!k || !table_utf8_valid(k, strlen(k)))
			return error_set(LLEM_EINVAL,
					 "parquet: metadata key %zu: missing or not UTF-8", i);
		if (v && !table_utf8_valid(v, strlen(v)))
			return error_set(LLEM_EINVAL, "parquet: metadata '%s': value is not UTF-8",
					 k);
	}
	return 0;
}

int table_write_parquet(const char *path, const struct table_column *cols, size_t ncols,
			size_t nrows, const struct table_kv *meta, size_t nmeta)
{
	struct pq_writer pw = { NULL, 0 };
	struct strbuf sb = STRBUF_INIT;
	struct chunk *chunks = NULL;
	size_t i;
	int rc;

	rc = table_check("parquet", cols, ncols, nrows);
	if (!rc)
		rc = check_meta(meta, nmeta);
	if (rc)
		return rc;

	rc = atomic_file_open(&pw.af, path);
	if (rc)
		return rc;
	chunks = xcalloc(ncols, sizeof(*chunks));

	strbuf_adds(&sb, "PAR1");
	rc = pq_write(&pw, &sb);
	for (i = 0; !rc && i < ncols && nrows; i++)
		rc = write_chunk(&pw, &cols[i], nrows, &chunks[i]);
	if (rc)
		goto out;

	strbuf_reset(&sb);
	build_footer(&sb, cols, ncols, nrows, chunks, meta, nmeta);
	put_le32(&sb, (uint32_t)sb.len);
	strbuf_adds(&sb, "PAR1");
	rc = pq_write(&pw, &sb);
	if (rc)
		goto out;
	rc = atomic_file_commit(pw.af);
	pw.af = NULL;
out:
	if (pw.af)
		atomic_file_abort(pw.af);
	for (i = 0; i < ncols; i++) {
		strbuf_release(&chunks[i].min);
		strbuf_release(&chunks[i].max);
	}
	free(chunks);
	strbuf_release(&sb);
	return rc;
}
