/*
 * A child process spoken to in JSON lines: requests go to its stdin, one
 * JSON object per line comes back on its stdout, its stderr is inherited
 * (the experiment's log). Every read has a deadline, so a worker that
 * hangs, dies or writes garbage becomes an error with its cause, never a
 * hung llem. Used by the PyTorch backend; later Python workers reuse it.
 */
#ifndef LLEM_BACKENDS_JSONL_CHILD_H
#define LLEM_BACKENDS_JSONL_CHILD_H

#include <jansson.h>
#include <signal.h>

#include "util/proc.h"
#include "util/util.h"

/* A zeroed struct jsonl_child is "not started": jsonl_child_stop() on it
 * does nothing. */
struct jsonl_child {
	struct proc proc;                   /* proc.pid > 0 while the child is there */
	volatile sig_atomic_t *interrupted; /* reads end with LLEM_EINTR once set */
	const char *name;                   /* for messages: "pytorch worker" */
};

/*
 * Starts argv[0] (a path, not searched) with argv and this process's
 * environment. The child gets its own process group, so a terminal's
 * Ctrl+C reaches llem alone and llem decides how the child ends. Parent
 * death: the child must end on EOF on its stdin (util/proc.h).
 */
int jsonl_child_start(struct jsonl_child *c, const char *name, const char *const *argv);
/* Sends one line (the JSON text must not contain a newline). */
int jsonl_child_send(struct jsonl_child *c, const char *json);
/*
 * The next line as a JSON object, waiting at most timeout_ms. Errors name
 * the cause: timeout, exit (with status), a line that is not a JSON object
 * (quoted, shortened) or a line over the size cap; LLEM_EINTR within a
 * tenth of a second of *interrupted being set.
 */
int jsonl_child_read(struct jsonl_child *c, json_t **out, int timeout_ms);
/* Whether requests can still be sent (started, stdin open, not reaped). */
bool jsonl_child_running(const struct jsonl_child *c);
/* Closes stdin, waits up to grace_ms for exit, then SIGKILLs the group and
 * reaps; frees what c holds. */
void jsonl_child_stop(struct jsonl_child *c, int grace_ms);

/*
 * Runs argv to completion with stdin from /dev/null and returns its stdout
 * in *out; stderr is inherited. *status is the wait status. An error when
 * it takes over timeout_ms or writes over max_bytes (it is killed then).
 */
int jsonl_run_capture(const char *const *argv, int timeout_ms, size_t max_bytes, char **out,
		      int *status);

#endif
