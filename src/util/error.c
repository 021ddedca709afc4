/*
 * The thread-local "last error" behind llem_error_last(): libgit2's model.
 * Functions that fail set it and return a negative LLEM_E* code.
 */
#include "util/util.h"

#include <errno.h>
#include <string.h>

static _Thread_local struct strbuf last_error = STRBUF_INIT;

int error_set(int code, const char *fmt, ...)
{
	va_list ap;

	strbuf_reset(&last_error);
	va_start(ap, fmt);
	strbuf_vaddf(&last_error, fmt, ap);
	va_end(ap);
	return code;
}

int error_set_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	strbuf_reset(&last_error);
	va_start(ap, fmt);
	strbuf_vaddf(&last_error, fmt, ap);
	va_end(ap);
	strbuf_addf(&last_error, ": %s", strerror(saved));
	return code;
}

const char *error_last(void)
{
	return strbuf_str(&last_error);
}

void error_clear(void)
{
	strbuf_release(&last_error);
}
