/*
 * Worker processes of a study (docs/architecture.md §5-6): one fresh
 * process per experiment, in its own process group, its stdout captured as
 * the result channel, its stderr appended to a log, a timeout and Ctrl+C
 * that reach the whole group, and nothing left running or unreaped after.
 *
 * Ownership: strings in struct worker_result belong to it and are freed by
 * worker_result_release(); the options are borrowed for the call only.
 */
#ifndef LLEM_STUDY_WORKER_H
#define LLEM_STUDY_WORKER_H

#include <signal.h>
#include <stddef.h>

#define WORKER_DEFAULT_GRACE_S 5.0
#define WORKER_DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
#define WORKER_LOG_TAIL_LINES 20

struct worker_opts {
	const char *const *argv; /* program and arguments; argv[0] is a path (no PATH search) */
	/* The environment policy (util/proc.h): names removed from this
	 * process's environment, then "NAME=value" added or replaced. */
	const char *const *env_set;
	const char *const *env_unset;
	const char *stdin_text; /* written to the child's stdin, then closed; NULL: /dev/null */
	const char *log_path;   /* the child's stderr is appended here; NULL: kept in memory for
				   log_tail only */
	double timeout_s;       /* 0: none */
	double grace_s;         /* SIGTERM -> SIGKILL grace; 0: WORKER_DEFAULT_GRACE_S */
	volatile sig_atomic_t *interrupt; /* may be NULL; 1: SIGTERM the group, 2: SIGKILL it */
	size_t max_output;                /* cap on captured stdout; 0: WORKER_DEFAULT_MAX_OUTPUT */
};

enum worker_outcome {
	WORKER_OK, /* exited 0 */
	WORKER_EXIT_NONZERO,
	WORKER_SIGNALED, /* died of a signal llem did not send */
	WORKER_TIMEOUT,
	WORKER_INTERRUPTED,
	WORKER_SPAWN_FAILED,
	WORKER_OUTPUT_TOO_LARGE,
};

struct worker_result {
	enum worker_outcome outcome;
	int exit_code; /* when it exited; -1 otherwise */
	int signal;    /* the signal it died of; 0 otherwise */
	char *output;  /* captured stdout, NUL-terminated, never NULL after a run */
	size_t output_len;
	char *log_tail; /* last WORKER_LOG_TAIL_LINES lines of this run's stderr; never NULL */
	double wall_s;  /* spawn to exit */
	/* NULL for WORKER_OK; otherwise "TimeoutError", "ProcessCrash",
	 * "WorkerError", "Interrupted" or "SpawnError" and a sentence such as
	 * "killed after the 600 s timeout". */
	char *error_type;
	char *error_message;
};

/*
 * Runs o->argv to completion and fills *out (released by the caller in any
 * case). Returns 0 whenever the outcome says what happened, spawn failures
 * included; negative LLEM_E* only for llem-side failures (bad options, no
 * pipes, the log cannot be opened, poll failing), with error_last() set.
 *
 * Before returning, the worker's whole process group has been sent SIGKILL
 * and every child of this process still in that group has been reaped.
 * Children that left the group (setsid, setpgid) are not touched: see
 * worker_become_subreaper().
 */
int worker_run(struct worker_result *out, const struct worker_opts *o);
void worker_result_release(struct worker_result *r);

/*
 * Makes this process a child subreaper (proc_become_subreaper) so that
 * orphaned worker descendants are re-parented here and worker_run() can
 * reap those still in the worker's group, instead of leaving them to init.
 * Call once, before the first worker_run(). Returns 0 or LLEM_ERROR.
 */
int worker_become_subreaper(void);

#endif
