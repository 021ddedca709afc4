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
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

struct jsonl_child {
	pid_t pid;          /* -1 once reaped */
	volatile sig_atomic_t *interrupted; /* reads end with LLEM_EINTR once set */
	int in_fd, out_fd;  /* our ends; -1 when closed */
	struct strbuf buf;  /* bytes read past the last full line */
	const char *name;   /* for messages: "pytorch worker" */
	int exit_status;    /* wait status once reaped */
};

/*
 * Starts argv[0] (a path, not searched) with argv. The child gets its own
 * process group, so a terminal's Ctrl+C reaches llem alone and llem
 * decides how the child ends.
 */
int jsonl_child_start(struct jsonl_child *c, const char *name,
		      const char *const *argv);
/* Sends one line (the JSON text must not contain a newline). */
int jsonl_child_send(struct jsonl_child *c, const char *json);
/*
 * The next line as a JSON object, waiting at most timeout_ms. Errors name
 * the cause: timeout, exit (with status), a line that is not a JSON object
 * (quoted, shortened) or a line over the size cap; LLEM_EINTR within a
 * tenth of a second of *interrupted being set.
 */
int jsonl_child_read(struct jsonl_child *c, json_t **out, int timeout_ms);
/* Closes stdin, waits up to grace_ms for exit, then SIGKILLs and reaps. */
void jsonl_child_stop(struct jsonl_child *c, int grace_ms);

/*
 * Runs argv to completion with stdin from /dev/null and returns its stdout
 * (at most max_bytes) in *out; stderr is inherited. *status is the wait
 * status. Killed after timeout_ms.
 */
int jsonl_run_capture(const char *const *argv, int timeout_ms, size_t max_bytes,
		      char **out, int *status);

#endif
