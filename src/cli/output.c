/* Shared message helpers: git-style "llem: error: ..." lines on stderr. */
#include "cli.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("llem: error: ", fmt, ap);
	va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("hint: ", fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("llem: error: ", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Run 'llem %s%s--help' for usage.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

void cli_error_lines(const char *message)
{
	const char *p = message, *nl;

	do {
		nl = strchr(p, '\n');
		fprintf(stderr, "llem: error: %.*s\n", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)),
			p);
		p = nl ? nl + 1 : NULL;
	} while (p);
}

void cli_format_diag(const llem_diag *d, struct strbuf *out)
{
	strbuf_addf(out, "%s\n", d->text);
	if (d->hint)
		strbuf_addf(out, "  hint: %s\n", d->hint);
}

void cli_print_diag(const llem_diag *d, void *payload)
{
	struct strbuf sb = STRBUF_INIT;

	cli_format_diag(d, &sb);
	fputs(sb.buf, stderr);
	strbuf_release(&sb);
	if (payload && d->severity == LLEM_DIAG_ERROR)
		(*(size_t *)payload)++;
}
