/*
 * The thread-local "last error" behind llem_error_last(): libgit2's model.
 * Functions that fail set it and return a negative LLEM_E* code.
 */
#include "util/util.h"

#include <errno.h>
#include <string.h>

static _Thread_local struct strbuf last_error = STRBUF_INIT;

/*
 * The new message is formatted aside and then swapped in, so that it may
 * quote the previous one: error_set(rc, "dataset: %s", error_last()) adds
 * context to the error below it.
 */
static void replace_last(struct strbuf *msg)
{
	strbuf_release(&last_error);
	last_error = *msg;
	*msg = (struct strbuf)STRBUF_INIT;
}

int error_set(int code, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	replace_last(&msg);
	return code;
}

int error_set_errno(int code, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	strbuf_addf(&msg, ": %s", strerror(saved));
	replace_last(&msg);
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
