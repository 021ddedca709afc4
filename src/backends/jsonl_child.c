/*
 * JSON-lines child processes (see jsonl_child.h) on top of util/proc:
 * what is left here is the protocol's side, framing requests as lines and
 * turning each way a read can fail into a message that names the cause.
 */
#include "backends/jsonl_child.h"
#include "llem/errors.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* A reply larger than this is garbage, not a result (a generate reply for
 * a batch of 4096 requests is well under 1 MiB). */
#define MAX_LINE_BYTES (64u << 20)
/* How much of a garbage line an error message quotes. */
#define QUOTE_BYTES 160
/* How long a child that closed its stdout gets to exit before it is
 * killed and reported as hung. */
#define EXIT_GRACE_S 2.0

int jsonl_child_start(struct jsonl_child *c, const char *name, const char *const *argv)
{
	struct proc_opts po = { 0 };
	int rc;

	memset(c, 0, sizeof(*c));
	c->name = name;
	po.argv = argv;
	po.in = PROC_STDIN_PIPE;
	po.err = PROC_STDERR_INHERIT;
	po.max_output = MAX_LINE_BYTES + 1;
	rc = proc_start(&c->proc, &po);
	if (rc < 0)
		proc_release(&c->proc);
	return rc;
}

bool jsonl_child_running(const struct jsonl_child *c)
{
	return c->proc.started && c->proc.pid > 0 && c->proc.in_fd >= 0;
}

/* The child closed its stdout or its stdin: its exit, as an error. */
static int died(struct jsonl_child *c)
{
	int st;

	proc_stop(&c->proc, PROC_STOP_CLOSE_STDIN, EXIT_GRACE_S);
	if (c->proc.killed)
		return error_set(LLEM_ERROR, "%s closed its output but did not exit", c->name);
	st = c->proc.status;
	if (WIFSIGNALED(st))
		return error_set(LLEM_ERROR, "%s was killed by signal %d (%s)", c->name,
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
	return error_set(LLEM_ERROR,
			 "%s exited with status %d before replying (its log is on stderr)", c->name,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int jsonl_child_send(struct jsonl_child *c, const char *json)
{
	struct strbuf line = STRBUF_INIT;
	int rc;

	if (!jsonl_child_running(c))
		return error_set(LLEM_ERROR, "%s is not running", c->name);
	strbuf_adds(&line, json);
	strbuf_addch(&line, '\n');
	c->proc.interrupt = c->interrupted;
	rc = proc_write(&c->proc, line.buf, line.len, -1);
	strbuf_release(&line);
	switch (rc) {
	case PROC_IO_OK: return 0;
	case PROC_IO_EOF: return died(c);
	case PROC_IO_INTERRUPTED:
		return error_set(LLEM_EINTR, "interrupted while writing to %s", c->name);
	default: return rc < 0 ? rc : error_set(LLEM_EIO, "writing to %s failed", c->name);
	}
}

static int garbage(const struct jsonl_child *c, const char *line, size_t len, const char *why)
{
	struct strbuf q = STRBUF_INIT;
	char *cut = xstrndup(line, len < QUOTE_BYTES ? len : QUOTE_BYTES);
	int rc;

	json_quote(&q, cut, true);
	free(cut);
	rc = error_set(LLEM_ERROR, "%s wrote a line that is not %s: %s%s", c->name, why,
		       strbuf_str(&q), len > QUOTE_BYTES ? " (shortened)" : "");
	strbuf_release(&q);
	return rc;
}

int jsonl_child_read(struct jsonl_child *c, json_t **out, int timeout_ms)
{
	struct strbuf line = STRBUF_INIT;
	const struct strbuf *rest = &c->proc.out;
	json_error_t jerr;
	json_t *v;
	int rc;

	*out = NULL;
	if (!c->proc.started || (c->proc.pid <= 0 && !rest->len))
		return error_set(LLEM_ERROR, "%s is not running", c->name);
	c->proc.interrupt = c->interrupted;
	rc = proc_read_line(&c->proc, &line, timeout_ms > 0 ? timeout_ms : 0, MAX_LINE_BYTES);
	switch (rc) {
	case PROC_IO_OK:
		v = json_loadb(line.buf ? line.buf : "", line.len, JSON_REJECT_DUPLICATES, &jerr);
		if (json_is_object(v)) {
			*out = v;
			rc = 0;
		} else {
			rc = garbage(c, strbuf_str(&line), line.len, v ? "a JSON object" : "JSON");
			json_decref(v);
		}
		break;
	case PROC_IO_TIMEOUT:
		rc = error_set(LLEM_ERROR, "%s sent nothing for %d s (timeout); it may be hung",
			       c->name, timeout_ms / 1000);
		break;
	case PROC_IO_INTERRUPTED:
		rc = error_set(LLEM_EINTR, "interrupted while waiting for %s", c->name);
		break;
	case PROC_IO_TOO_LONG:
		rc = garbage(c, strbuf_str(rest), rest->len, "a line under 64 MiB");
		break;
	case PROC_IO_EOF:
		rc = rest->len ? garbage(c, rest->buf, rest->len,
					 "a complete line (it ended without a newline)")
			       : died(c);
		break;
	default: break; /* negative: error_last() is set */
	}
	strbuf_release(&line);
	return rc;
}

void jsonl_child_stop(struct jsonl_child *c, int grace_ms)
{
	proc_stop(&c->proc, PROC_STOP_CLOSE_STDIN, grace_ms > 0 ? grace_ms / 1000.0 : 0);
	proc_release(&c->proc);
}

int jsonl_run_capture(const char *const *argv, int timeout_ms, size_t max_bytes, char **out,
		      int *status)
{
	struct proc p = { 0 };
	struct proc_opts po = { 0 };
	int rc;

	*out = NULL;
	*status = 0;
	po.argv = argv;
	po.in = PROC_STDIN_NULL;
	po.err = PROC_STDERR_INHERIT;
	po.max_output = max_bytes;
	po.grace_s = 1;
	rc = proc_start(&p, &po);
	if (rc == 0)
		rc = proc_wait(&p, timeout_ms / 1000.0);
	if (rc == 0 && p.reason == PROC_REASON_TIMEOUT)
		rc = error_set(LLEM_ERROR, "%s did not finish within %d s", argv[0],
			       timeout_ms / 1000);
	else if (rc == 0 && p.reason == PROC_REASON_TOO_LARGE)
		rc = error_set(LLEM_ERROR, "%s wrote more than %zu bytes", argv[0], max_bytes);
	if (rc == 0) {
		*status = p.status;
		*out = strbuf_detach(&p.out);
	}
	proc_release(&p);
	return rc;
}
