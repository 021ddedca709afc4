/* Shared message helpers: git-style "llem: error: ..." lines on stderr. */
#include "cli/cli.h"

#include <stdio.h>

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

void cli_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("llem: warning: ", fmt, ap);
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
	fprintf(stderr, "Run 'llem %s%s--help' for usage.\n", cmd ? cmd : "",
		cmd ? " " : "");
	return EXIT_USAGE;
}

void cli_print_diags(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < dl->count; i++) {
		strbuf_reset(&sb);
		diag_format(&dl->items[i], &sb);
		fprintf(stderr, "%s\n", sb.buf);
		if (dl->items[i].hint)
			fprintf(stderr, "  hint: %s\n", dl->items[i].hint);
	}
	strbuf_release(&sb);
}
