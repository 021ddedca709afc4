/*
 * The flat-table column model shared by the Parquet and CSV writers: the
 * checks both run before opening a file, so a bad table never leaves a
 * half-written temp file behind and both formats refuse the same tables.
 */
#include "results/table.h"
#include "llem/errors.h"

#include <string.h>

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool table_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len, k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int check_strings(const char *what, const struct table_column *c, size_t nrows)
{
	const char *const *v = c->values;
	size_t i;

	for (i = 0; i < nrows; i++) {
		size_t n;

		if (!table_present(c, i))
			continue;
		if (!v[i])
			return error_set(LLEM_EINVAL,
					 "%s: column '%s' row %zu: NULL string in a present row",
					 what, c->name, i);
		n = strlen(v[i]);
		if (n > TABLE_MAX_STRING)
			return error_set(
				LLEM_EINVAL,
				"%s: column '%s' row %zu: string of %zu bytes (at most %zu)", what,
				c->name, i, n, TABLE_MAX_STRING);
		if (!table_utf8_valid(v[i], n))
			return error_set(LLEM_EINVAL, "%s: column '%s' row %zu: not valid UTF-8",
					 what, c->name, i);
	}
	return 0;
}

int table_check(const char *what, const struct table_column *cols, size_t ncols, size_t nrows)
{
	size_t i, j;

	if (ncols == 0 || !cols)
		return error_set(LLEM_EINVAL, "%s: a table needs at least one column", what);
	for (i = 0; i < ncols; i++) {
		const struct table_column *c = &cols[i];
		int rc;

		if (!c->name || !*c->name)
			return error_set(LLEM_EINVAL, "%s: column %zu has no name", what, i);
		if (!table_utf8_valid(c->name, strlen(c->name)))
			return error_set(LLEM_EINVAL, "%s: column %zu: name is not valid UTF-8",
					 what, i);
		for (j = 0; j < i; j++)
			if (!strcmp(cols[j].name, c->name))
				return error_set(LLEM_EINVAL, "%s: column '%s' appears twice", what,
						 c->name);
		if ((unsigned)c->type > TABLE_STRING)
			return error_set(LLEM_EINVAL, "%s: column '%s': unknown type %d", what,
					 c->name, (int)c->type);
		if (nrows > 0 && !c->values)
			return error_set(LLEM_EINVAL, "%s: column '%s' has no values", what,
					 c->name);
		if (c->type == TABLE_STRING) {
			rc = check_strings(what, c, nrows);
			if (rc)
				return rc;
		}
	}
	return 0;
}
