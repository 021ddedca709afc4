/*
 * util/proc: llem's one process supervisor. It starts a program (argv[0]
 * a path, never searched, never a shell) in its own process group with a
 * clean signal state and no inherited descriptors, talks to it over pipes
 * with deadlines, and ends it: SIGTERM (or EOF on its stdin), a grace,
 * then SIGKILL to the whole group, and every child of ours in the group
 * reaped. Study workers (study/worker.c) and the PyTorch worker
 * (backends/jsonl_child.c) are both built on it.
 *
 * Ownership: struct proc belongs to the caller; a zeroed struct proc is
 * "never started" and safe to release. proc_release() ends a child that is
 * still there, closes every descriptor and frees the buffers. Options are
 * borrowed: argv and the env lists for proc_start() only, stdin_text until
 * proc_wait() returns.
 *
 * Waiting never spins: every wait is a poll() with a timeout (at most
 * PROC_TICK_MS while an interrupt flag is watched or the kernel has no
 * pidfd), so an idle supervisor costs nothing measurable.
 *
 * Parent death: posix_spawn cannot set PR_SET_PDEATHSIG, so the contract
 * is the child's side. A child that must not outlive llem either asks for
 * it itself first thing and then checks getppid() (`llem __worker` does),
 * or treats EOF on a PROC_STDIN_PIPE stdin as "llem is gone" and EPIPE on
 * its stdout likewise (the PyTorch worker does). A study runner also makes
 * itself a subreaper (proc_become_subreaper) so orphans in a worker's
 * group come back to it and are reaped.
 */
#ifndef LLEM_UTIL_PROC_H
#define LLEM_UTIL_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define PROC_DEFAULT_GRACE_S 5.0
#define PROC_DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
/* The longest a wait goes without looking at the interrupt flag. */
#define PROC_TICK_MS 50

enum proc_stdin {
	PROC_STDIN_NULL, /* /dev/null */
	PROC_STDIN_TEXT, /* stdin_text is written by proc_wait(), then EOF */
	PROC_STDIN_PIPE, /* a pipe the caller writes to with proc_write() */
};

enum proc_stderr {
	PROC_STDERR_INHERIT, /* ours */
	PROC_STDERR_LOG,     /* appended to log_path */
	PROC_STDERR_TAIL,    /* a pipe; its last bytes are kept for proc_stderr_tail() */
};

struct proc_opts {
	const char *const *argv; /* argv[0] is the path run */
	/*
	 * The environment policy, applied to this process's environment:
	 * every name in env_unset is removed, then every "NAME=value" of
	 * env_set is added or replaces that name. NULL lists: ours as is.
	 * There is no other channel (no marker variables).
	 */
	const char *const *env_set;
	const char *const *env_unset;
	enum proc_stdin in;
	const char *stdin_text; /* for PROC_STDIN_TEXT */
	enum proc_stderr err;
	const char *log_path; /* for PROC_STDERR_LOG */
	/* Watched while waiting (may be NULL; may also be set later in
	 * struct proc): 1 = SIGTERM the group (SIGKILL after the grace),
	 * 2 = SIGKILL it now. */
	volatile sig_atomic_t *interrupt;
	double grace_s;    /* SIGTERM -> SIGKILL; 0: PROC_DEFAULT_GRACE_S */
	size_t max_output; /* stdout kept in memory; 0: PROC_DEFAULT_MAX_OUTPUT */
};

/* Why llem ended the child (the first reason wins). */
enum proc_reason {
	PROC_REASON_NONE,      /* it ended by itself, or proc_stop() ended it */
	PROC_REASON_TIMEOUT,   /* proc_wait()'s timeout passed */
	PROC_REASON_INTERRUPT, /* *interrupt was set */
	PROC_REASON_TOO_LARGE, /* proc_wait(): stdout passed max_output */
};

/* What a read or write on the pipes came to (>= 0; errors are < 0). */
enum proc_io {
	PROC_IO_OK,  /* a line was read / everything was written */
	PROC_IO_EOF, /* the child closed its stdout / stopped reading stdin */
	PROC_IO_TIMEOUT,
	PROC_IO_INTERRUPTED, /* *interrupt was set; the group has been signalled */
	PROC_IO_TOO_LONG,    /* no newline within max_len (or max_output) bytes */
};

struct proc {
	/* Public, read-only unless said otherwise. */
	pid_t pid;       /* the child and its process group; <= 0 when none */
	int spawn_errno; /* posix_spawn's error when proc_start failed there */
	bool reaped;     /* the child has been waited for: status is valid */
	int status;      /* wait status */
	double wall_s;   /* spawn to exit */
	enum proc_reason reason;
	int interrupt_level;              /* the highest *interrupt acted on */
	bool killed;                      /* llem sent SIGKILL to the group while the child lived */
	struct strbuf out;                /* stdout: all of it after proc_wait(); the bytes
					   * after the last line for proc_read_line() */
	volatile sig_atomic_t *interrupt; /* the caller may change it between calls */

	/* Private to proc.c. */
	bool started; /* the fields below are valid */
	bool capturing, out_over, discard, leader_gone, in_pipe, term_sent;
	int pidfd, in_fd, out_fd, err_fd, log_fd;
	off_t log_start;
	const char *in_text;
	size_t in_off, in_len, max_output;
	struct strbuf err;
	uint64_t t0_ns, grace_ns, deadline_ns, kill_at_ns;
};

/*
 * Starts o->argv. Returns 0; LLEM_EINVAL for bad options; LLEM_ENOTFOUND
 * when posix_spawn failed ("cannot start PATH: No such file or
 * directory", with p->spawn_errno set); LLEM_EIO when the log cannot be
 * opened; LLEM_ERROR when pipes or spawn attributes fail. p is valid for
 * proc_release() in every case; after a failure no child is left.
 */
int proc_start(struct proc *p, const struct proc_opts *o);

/*
 * Runs the child to its end: feeds stdin_text, keeps stdout in p->out
 * (over max_output: SIGTERM, reason PROC_REASON_TOO_LARGE), SIGTERMs the
 * group timeout_s after the start (0: no timeout) and SIGKILLs it after
 * the grace, acts on *interrupt. On return the group has been SIGKILLed,
 * the child reaped (p->status, p->wall_s) and our children left in the
 * group reaped. Returns 0, or a negative LLEM_E* when waiting itself
 * failed (the group is still killed and reaped).
 */
int proc_wait(struct proc *p, double timeout_s);

/*
 * Writes all of buf to a PROC_STDIN_PIPE stdin, within timeout_ms (< 0:
 * none). Returns PROC_IO_OK, PROC_IO_EOF (the child closed its stdin or
 * exited; no SIGPIPE reaches llem), PROC_IO_TIMEOUT, PROC_IO_INTERRUPTED,
 * or a negative LLEM_E*.
 */
int proc_write(struct proc *p, const void *buf, size_t len, int timeout_ms);

/*
 * The next line of stdout (without its newline) into *line, within
 * timeout_ms (< 0: none). Returns PROC_IO_OK; PROC_IO_EOF with any
 * unterminated rest left in p->out; PROC_IO_TIMEOUT; PROC_IO_INTERRUPTED
 * (the group got SIGTERM or SIGKILL as *interrupt asked); PROC_IO_TOO_LONG
 * with the start of the line in p->out; or a negative LLEM_E*.
 */
int proc_read_line(struct proc *p, struct strbuf *line, int timeout_ms, size_t max_len);

enum proc_stop_how {
	PROC_STOP_CLOSE_STDIN, /* EOF on its stdin is the request to end */
	PROC_STOP_SIGTERM,     /* SIGTERM to the group */
	PROC_STOP_SIGKILL,     /* no grace */
};

/*
 * Ends the child: asks as `how` says, waits up to grace_s for it to exit
 * (stdout read and dropped meanwhile, *interrupt == 2 cuts the wait
 * short), then SIGKILLs the group, reaps the child and our children left
 * in the group. A no-op when there is no child. p->killed says whether
 * the grace ran out.
 */
void proc_stop(struct proc *p, enum proc_stop_how how, double grace_s);

/* Stops a child still there (SIGKILL), closes everything, frees p's buffers. */
void proc_release(struct proc *p);

/*
 * The last nlines lines of this run's stderr (PROC_STDERR_LOG: what it
 * appended to the log; PROC_STDERR_TAIL: the kept tail), without the final
 * newline; "" for PROC_STDERR_INHERIT. The caller frees it.
 */
char *proc_stderr_tail(const struct proc *p, int nlines);

/*
 * Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned
 * descendants come back here, so the group of a child that died can be
 * reaped instead of left to init. Returns 0 or LLEM_ERROR.
 */
int proc_become_subreaper(void);

#endif
