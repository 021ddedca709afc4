/*
 * Diagnostics: positioned messages collected during config loading so that
 * every problem is reported at once. Only the CLI prints them.
 */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/* Where to cut text near pos without splitting a UTF-8 sequence. */
static size_t char_boundary(const char *s, size_t pos)
{
	while (pos > 0 && ((unsigned char)s[pos] & 0xc0) == 0x80)
		pos--;
	return pos;
}

/*
 * Text over max bytes keeps its start and its end around "... [N bytes
 * elided] ...": a message quotes the bad value, and a 25 MB value must not
 * become 25 MB on stderr. The start says what is wrong, the end closes
 * the quote. Returns a new string, or NULL when text is short enough.
 */
static char *elide_middle(const char *text, size_t max)
{
	size_t len = strlen(text), keep = (max - 40) / 2, head, tail;

	if (len <= max)
		return NULL;
	head = char_boundary(text, keep);
	tail = char_boundary(text, len - keep);
	return xasprintf("%.*s ... [%zu bytes elided] ... %s", (int)head, text, tail - head,
			 text + tail);
}

void diag_add(struct diag_list *dl, enum diag_severity sev, const char *file, int line, int col,
	      const char *path, const char *hint, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	struct diag *d;
	char *elided;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);

	GROW(dl->items, dl->cap, dl->count + 1);
	d = &dl->items[dl->count++];
	d->severity = sev;
	d->file = file ? xstrdup(file) : NULL;
	d->line = line;
	d->col = col;
	d->path = path && *path ? xstrdup(path) : NULL;
	d->message = strbuf_detach(&msg);
	if ((elided = elide_middle(d->message, DIAG_MESSAGE_MAX)) != NULL) {
		free(d->message);
		d->message = elided;
	}
	if (d->path && (elided = elide_middle(d->path, DIAG_PATH_MAX)) != NULL) {
		free(d->path);
		d->path = elided;
	}
	d->hint = hint ? xstrdup(hint) : NULL;
}

size_t diag_error_count(const struct diag_list *dl)
{
	size_t i, n = 0;

	for (i = 0; i < dl->count; i++)
		n += dl->items[i].severity == DIAG_ERROR;
	return n;
}

static int diag_cmp_pos(const struct diag *a, const struct diag *b)
{
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");

	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void diag_sort(struct diag_list *dl)
{
	size_t i, j;

	/* Insertion sort: stable, and lists are short. */
	for (i = 1; i < dl->count; i++) {
		struct diag tmp = dl->items[i];

		for (j = i; j > 0 && diag_cmp_pos(&dl->items[j - 1], &tmp) > 0; j--)
			dl->items[j] = dl->items[j - 1];
		dl->items[j] = tmp;
	}
}

void diag_format(const struct diag *d, struct strbuf *out)
{
	if (d->file) {
		strbuf_adds(out, d->file);
		if (d->line > 0) {
			strbuf_addf(out, ":%d", d->line);
			if (d->col > 0)
				strbuf_addf(out, ":%d", d->col);
		}
		strbuf_adds(out, ": ");
	}
	if (d->severity == DIAG_WARNING)
		strbuf_adds(out, "warning: ");
	if (d->path)
		strbuf_addf(out, "%s: ", d->path);
	strbuf_adds(out, d->message);
}

void diag_list_format(const struct diag_list *dl, bool errors_only, struct strbuf *out)
{
	size_t i;

	for (i = 0; i < dl->count; i++) {
		if (errors_only && dl->items[i].severity != DIAG_ERROR)
			continue;
		if (out->len)
			strbuf_addch(out, '\n');
		diag_format(&dl->items[i], out);
		if (dl->items[i].hint)
			strbuf_addf(out, "\n  hint: %s", dl->items[i].hint);
	}
}

void diag_list_release(struct diag_list *dl)
{
	size_t i;

	for (i = 0; i < dl->count; i++) {
		free(dl->items[i].file);
		free(dl->items[i].path);
		free(dl->items[i].message);
		free(dl->items[i].hint);
	}
	free(dl->items);
	dl->items = NULL;
	dl->count = dl->cap = 0;
}
