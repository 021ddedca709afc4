/*
 * A CSV writer (RFC 4180, "\n" line ends) for the same flat tables as the
 * Parquet writer, for spreadsheets and quick looks. Text is built in
 * blocks and streamed into an atomic temp file.
 */
#include "results/table.h"
#include "llem/errors.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Text is handed to the file in blocks of about this size. */
#define CSV_FLUSH_BYTES ((size_t)64 << 10)

/*
 * Quoted when it holds a comma, quote, CR or LF, and when empty: an empty
 * string is "" so that it differs from a null, which is an empty field.
 */
static void put_text(struct strbuf *out, const char *s)
{
	const char *p;

	if (*s && !strpbrk(s, ",\"\r\n")) {
		strbuf_adds(out, s);
		return;
	}
	strbuf_addch(out, '"');
	for (p = s; *p; p++) {
		if (*p == '"')
			strbuf_addch(out, '"');
		strbuf_addch(out, *p);
	}
	strbuf_addch(out, '"');
}

static void put_field(struct strbuf *out, const struct table_column *c, size_t i)
{
	if (!table_present(c, i))
		return;
	switch (c->type) {
	case TABLE_INT32: strbuf_addf(out, "%" PRId32, ((const int32_t *)c->values)[i]); break;
	case TABLE_INT64: strbuf_addf(out, "%" PRId64, ((const int64_t *)c->values)[i]); break;
	case TABLE_DOUBLE: numfmt_double(out, ((const double *)c->values)[i]); break;
	case TABLE_FLOAT:
		/* widening is exact, so the text reads back to the float */
		numfmt_double(out, (double)((const float *)c->values)[i]);
		break;
	case TABLE_BOOL: strbuf_adds(out, ((const bool *)c->values)[i] ? "true" : "false"); break;
	case TABLE_STRING: put_text(out, ((const char *const *)c->values)[i]); break;
	}
}

int table_write_csv(const char *path, const struct table_column *cols, size_t ncols, size_t nrows)
{
	struct strbuf sb = STRBUF_INIT;
	struct atomic_file *af = NULL;
	size_t i, j;
	int rc;

	rc = table_check("csv", cols, ncols, nrows);
	if (rc)
		return rc;
	rc = atomic_file_open(&af, path);
	if (rc)
		return rc;

	for (j = 0; j < ncols; j++) {
		if (j)
			strbuf_addch(&sb, ',');
		put_text(&sb, cols[j].name);
	}
	strbuf_addch(&sb, '\n');
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++) {
			if (j)
				strbuf_addch(&sb, ',');
			put_field(&sb, &cols[j], i);
		}
		strbuf_addch(&sb, '\n');
		if (sb.len >= CSV_FLUSH_BYTES) {
			rc = atomic_file_write(af, sb.buf, sb.len);
			if (rc)
				goto out;
			strbuf_reset(&sb);
		}
	}
	rc = atomic_file_write(af, sb.buf, sb.len);
	if (rc)
		goto out;
	rc = atomic_file_commit(af);
	af = NULL;
out:
	if (af)
		atomic_file_abort(af);
	strbuf_release(&sb);
	return rc;
}
