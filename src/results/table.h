/*
 * Flat tables on disk: one Parquet writer and one CSV writer for the same
 * column model (the timeseries of an experiment, one row per experiment of
 * a study). See docs/timeseries.md for the formats as written.
 *
 * Ownership: the writers only read what they are given; the caller owns
 * every column, value array, string and metadata pair, which need to live
 * only for the duration of the call. Files are written atomically: on any
 * error nothing appears under the target name (an older file stays).
 */
#ifndef LLEM_RESULTS_TABLE_H
#define LLEM_RESULTS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum table_type {
	TABLE_INT32,  /* int32_t */
	TABLE_INT64,  /* int64_t */
	TABLE_DOUBLE, /* double, any bit pattern (NaN and infinities kept) */
	TABLE_FLOAT,  /* float */
	TABLE_BOOL,   /* bool */
	TABLE_STRING  /* const char *, NUL-terminated valid UTF-8 */
};

/*
 * One column of nrows values. values points to nrows elements of the C
 * type above. present == NULL makes the column REQUIRED (every row has a
 * value); otherwise it is OPTIONAL and present[i] == false makes row i
 * null (values[i] is then not read, and may be NULL for strings).
 */
struct table_column {
	const char *name; /* non-empty UTF-8, unique within the table */
	enum table_type type;
	const void *values; /* may be NULL only when nrows == 0 */
	const bool *present;
};

/* A key-value pair for the Parquet footer (llem version, config hash). */
struct table_kv {
	const char *key;   /* UTF-8, not NULL */
	const char *value; /* UTF-8; NULL writes a key without a value */
};

/* Strings longer than this are refused: Parquet page sizes are int32. */
#define TABLE_MAX_STRING ((size_t)1 << 30)

/*
 * Writes path as a Parquet file: one row group (none when nrows == 0),
 * PLAIN-encoded data pages v1 of at most 64Ki rows, uncompressed, with
 * min/max/null_count statistics, and meta[0..nmeta) as the footer's
 * key_value_metadata (meta may be NULL when nmeta == 0). Errors:
 * LLEM_EINVAL (no columns, an empty or repeated name, an unknown type, a
 * NULL string in a present row, invalid UTF-8, a string over
 * TABLE_MAX_STRING), LLEM_EIO (the file cannot be written).
 */
int table_write_parquet(const char *path, const struct table_column *cols, size_t ncols,
			size_t nrows, const struct table_kv *meta, size_t nmeta);

/*
 * Writes path as RFC 4180 CSV: a header row of the column names, one line
 * per row ending in "\n", fields containing a comma, quote, CR or LF
 * quoted with quotes doubled. A null is an empty field; an empty string is
 * written "" so the two stay distinguishable. Doubles use numfmt_double
 * ("NaN", "Infinity" for non-finite values), floats are widened to double
 * first (exact, not shortest for float), bools are true/false. Errors as
 * table_write_parquet.
 */
int table_write_csv(const char *path, const struct table_column *cols, size_t ncols, size_t nrows);

/* ---- shared by the writers (table.c) ---- */

/* Checks the rules above; 0 or LLEM_EINVAL with "what: why" as the message. */
int table_check(const char *what, const struct table_column *cols, size_t ncols, size_t nrows);
bool table_utf8_valid(const char *s, size_t n);
/* True when row i of col has a value. */
static inline bool table_present(const struct table_column *col, size_t i)
{
	return !col->present || col->present[i];
}

/* ---- Thrift compact protocol (thrift_compact.c), exposed for tests ---- */

enum thrift_type {
	THRIFT_TRUE = 1, /* a bool field: the value is the type */
	THRIFT_FALSE = 2,
	THRIFT_BYTE = 3,
	THRIFT_I16 = 4,
	THRIFT_I32 = 5,
	THRIFT_I64 = 6,
	THRIFT_DOUBLE = 7,
	THRIFT_BINARY = 8,
	THRIFT_LIST = 9,
	THRIFT_SET = 10,
	THRIFT_MAP = 11,
	THRIFT_STRUCT = 12
};

#define THRIFT_MAX_DEPTH 8

/*
 * Appends one Thrift struct to out. thrift_begin opens the outermost
 * struct; fields follow, nested structs between _struct_begin and
 * thrift_end, list elements right after thrift_list; the last thrift_end
 * closes the outermost struct. Nesting deeper than THRIFT_MAX_DEPTH, or
 * ending more than was begun, is a programming error and aborts.
 */
struct thrift_writer {
	struct strbuf *out;
	/* field-id deltas restart in each nested struct */
	int16_t last_id[THRIFT_MAX_DEPTH];
	int depth;
};

void thrift_varint(struct strbuf *out, uint64_t v);
uint64_t thrift_zigzag(int64_t v);

void thrift_begin(struct thrift_writer *w, struct strbuf *out);
void thrift_end(struct thrift_writer *w);
void thrift_field_header(struct thrift_writer *w, int16_t id, enum thrift_type type);
void thrift_field_bool(struct thrift_writer *w, int16_t id, bool v);
void thrift_field_i32(struct thrift_writer *w, int16_t id, int32_t v);
void thrift_field_i64(struct thrift_writer *w, int16_t id, int64_t v);
void thrift_field_binary(struct thrift_writer *w, int16_t id, const void *p, size_t n);
void thrift_field_string(struct thrift_writer *w, int16_t id, const char *s);
void thrift_field_struct_begin(struct thrift_writer *w, int16_t id);
void thrift_field_list(struct thrift_writer *w, int16_t id, enum thrift_type elem, size_t n);
/* List elements: no field headers; a struct element ends with thrift_end. */
void thrift_elem_struct_begin(struct thrift_writer *w);
void thrift_elem_i32(struct thrift_writer *w, int32_t v);
void thrift_elem_string(struct thrift_writer *w, const char *s);

/* ---- Parquet internals (parquet.c), exposed for tests ---- */

/*
 * Appends the definition levels of n rows of a flat OPTIONAL column as the
 * data page v1 stores them: a 4-byte little-endian length, then the
 * RLE/bit-packed hybrid runs of bit width 1 (RLE for 8 or more equal
 * levels, bit-packed groups of 8 otherwise).
 */
void parquet_encode_levels(struct strbuf *out, const bool *present, size_t n);

#endif
