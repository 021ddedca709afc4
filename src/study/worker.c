/*
 * Worker supervision: posix_spawn one experiment process in its own group,
 * feed its stdin, drain its stdout (the result channel) in one poll loop,
 * enforce the timeout and Ctrl+C on the whole group, then kill and reap it.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include "study/worker.h"
#include "util/util.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The bytes of stderr kept for log_tail: 20 lines of up to ~800 bytes. */
#define TAIL_BYTES 16384
/* How long to wait, after the group got SIGKILL, for pipes to reach EOF and
 * group members to die. Bounded so an escaped holder cannot hang llem. */
#define SETTLE_NS (2 * 1000000000ull)
/* Poll tick when there is an interrupt flag to check or no pidfd. */
#define TICK_MS 50

enum stop_reason { STOP_NONE, STOP_TIMEOUT, STOP_INTERRUPT, STOP_TOO_LARGE };

struct run {
	const struct worker_opts *o;
	pid_t pid;               /* also the pgid */
	int pidfd;               /* -1 when pidfd_open is unavailable */
	int in_fd, out_fd, err_fd; /* parent ends, -1 once closed */
	size_t in_off, in_len;
	struct strbuf out;
	struct strbuf err;       /* stderr tail when there is no log file */
	size_t max_output;
	bool too_large;
	enum stop_reason reason;
	int interrupt_seen;      /* highest *interrupt level acted on */
	uint64_t kill_at_ns;     /* SIGKILL the group then; 0: not armed */
	uint64_t grace_ns;
};

static uint64_t s_to_ns(double s)
{
	if (s <= 0)
		return 0;
	if (s > 1e9)
		s = 1e9; /* ~31 years: "no timeout" for practical purposes */
	return (uint64_t)(s * 1e9);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* kill(-pgid). Failure is ignored on purpose: ESRCH means the group is
 * already gone, and EPERM could only mean the id now belongs to someone
 * else, whom we must not signal anyway. */
static void group_kill(pid_t pgid, int sig)
{
	(void)kill(-pgid, sig);
}

/*
 * write() with SIGPIPE blocked in this thread only, so a worker that closes
 * its stdin early gives EPIPE here instead of killing llem, without touching
 * the process-wide disposition (other threads, the caller's handlers). A
 * SIGPIPE raised by this write is consumed before unblocking.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t w;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
		return -1;
	was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
	w = write(fd, buf, n);
	saved = errno;
	if (w < 0 && saved == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return w;
}

static void feed_stdin(struct run *r)
{
	while (r->in_off < r->in_len) {
		ssize_t w = write_nosigpipe(r->in_fd, r->o->stdin_text + r->in_off,
					    r->in_len - r->in_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break; /* EPIPE: the worker does not want the rest */
		}
		r->in_off += (size_t)w;
	}
	close_fd(&r->in_fd); /* EOF tells the worker the config is complete */
}

/* Reads what is there; closes the fd at EOF. Past the cap, bytes are read
 * and dropped so the worker never blocks on a full pipe. */
static void drain_stdout(struct run *r)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(r->out_fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break;
		}
		if (n == 0)
			break;
		if (r->too_large)
			continue;
		if ((size_t)n > r->max_output - r->out.len) {
			r->too_large = true;
			continue;
		}
		strbuf_add(&r->out, buf, (size_t)n);
	}
	close_fd(&r->out_fd);
}

/* Keeps only the last TAIL_BYTES (at least) of stderr. */
static void drain_stderr(struct run *r)
{
	char buf[8192];

	for (;;) {
		ssize_t n = read(r->err_fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break;
		}
		if (n == 0)
			break;
		strbuf_add(&r->err, buf, (size_t)n);
		if (r->err.len > 2 * TAIL_BYTES) {
			memmove(r->err.buf, r->err.buf + r->err.len - TAIL_BYTES, TAIL_BYTES);
			r->err.len = TAIL_BYTES;
			r->err.buf[r->err.len] = '\0';
		}
	}
	close_fd(&r->err_fd);
}

/* The last nlines lines of buf, without the final newline. */
static char *tail_lines(const char *buf, size_t len, int nlines)
{
	size_t end = len, start;
	int seen = 0;

	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0) {
		if (buf[start - 1] == '\n' && ++seen == nlines)
			break;
		start--;
	}
	return xstrndup(buf + start, end - start);
}

/* This run's part of the log file (from start_off), its last lines. */
static char *log_file_tail(int fd, off_t start_off)
{
	struct stat st;
	off_t from;
	char *buf;
	size_t got = 0;
	char *tail;

	if (fstat(fd, &st) < 0 || st.st_size <= start_off)
		return xstrdup("");
	from = st.st_size - start_off > TAIL_BYTES ? st.st_size - TAIL_BYTES : start_off;
	buf = xmalloc((size_t)(st.st_size - from) + 1);
	while (got < (size_t)(st.st_size - from)) {
		ssize_t n = pread(fd, buf + got, (size_t)(st.st_size - from) - got,
				  from + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	tail = tail_lines(buf, got, WORKER_LOG_TAIL_LINES);
	free(buf);
	return tail;
}

/* Acts on the interrupt flag, the timeout and the SIGKILL deadline. */
static void check_deadlines(struct run *r, uint64_t now, uint64_t deadline)
{
	int level = r->o->interrupt ? (int)*r->o->interrupt : 0;

	if (level >= 2 && r->interrupt_seen < 2) {
		group_kill(r->pid, SIGKILL);
		r->kill_at_ns = 0;
		r->interrupt_seen = 2;
		if (r->reason == STOP_NONE)
			r->reason = STOP_INTERRUPT;
		return;
	}
	if (level >= 1 && r->interrupt_seen < 1) {
		r->interrupt_seen = 1;
		if (r->reason == STOP_NONE)
			r->reason = STOP_INTERRUPT;
		if (!r->kill_at_ns) {
			group_kill(r->pid, SIGTERM);
			r->kill_at_ns = now + r->grace_ns;
		}
	}
	if (r->reason == STOP_NONE && (r->too_large || (deadline && now >= deadline))) {
		r->reason = r->too_large ? STOP_TOO_LARGE : STOP_TIMEOUT;
		group_kill(r->pid, SIGTERM);
		r->kill_at_ns = now + r->grace_ns;
	}
	if (r->kill_at_ns && now >= r->kill_at_ns) {
		group_kill(r->pid, SIGKILL);
		r->kill_at_ns = 0;
	}
}

static int ms_until(uint64_t now, uint64_t t)
{
	uint64_t ms;

	if (t <= now)
		return 0;
	ms = (t - now + 999999) / 1000000;
	return ms > 1000000 ? 1000000 : (int)ms;
}

/*
 * The poll loop, until the worker has exited (a zombie, not yet reaped, so
 * its pid and group id cannot be reused while we SIGKILL the group).
 * Returns 0 or a negative LLEM_E* after poll itself failed.
 */
static int supervise(struct run *r, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd[4];
		int nfd = 0, timeout_ms = -1, rc, i;
		uint64_t now = clock_monotonic_ns();
		siginfo_t si;

		check_deadlines(r, now, deadline);

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
		    errno != EINTR)
			return error_set_errno(LLEM_ERROR, "waiting for worker %d", (int)r->pid);
		if (si.si_pid == r->pid)
			return 0;

		if (r->pidfd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
		if (r->out_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
		if (r->err_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
		if (r->in_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->in_fd, .events = POLLOUT };

		if (r->pidfd < 0 || r->o->interrupt)
			timeout_ms = TICK_MS;
		if (deadline && r->reason == STOP_NONE) {
			int t = ms_until(now, deadline);
			if (timeout_ms < 0 || t < timeout_ms)
				timeout_ms = t;
		}
		if (r->kill_at_ns) {
			int t = ms_until(now, r->kill_at_ns);
			if (timeout_ms < 0 || t < timeout_ms)
				timeout_ms = t;
		}

		rc = poll(pfd, (nfds_t)nfd, timeout_ms);
		if (rc < 0) {
			if (errno == EINTR)
				continue; /* a signal: re-check the interrupt flag */
			return error_set_errno(LLEM_ERROR, "poll on worker %d", (int)r->pid);
		}
		for (i = 0; i < nfd; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == r->out_fd)
				drain_stdout(r);
			else if (pfd[i].fd == r->err_fd)
				drain_stderr(r);
			else if (pfd[i].fd == r->in_fd)
				feed_stdin(r);
		}
	}
}

/*
 * After the leader has exited and the group got SIGKILL: read the pipes to
 * EOF (a killed grandchild may still hold them for a moment), then reap
 * every child of ours still in the group, until the group is empty. Both
 * bounded by SETTLE_NS.
 */
static void settle(struct run *r)
{
	uint64_t end = clock_monotonic_ns() + SETTLE_NS;

	while (r->out_fd >= 0 || r->err_fd >= 0) {
		struct pollfd pfd[2];
		int nfd = 0, i;
		uint64_t now = clock_monotonic_ns();

		if (now >= end)
			break;
		if (r->out_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
		if (r->err_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)nfd, ms_until(now, end)) < 0 && errno != EINTR)
			break;
		for (i = 0; i < nfd; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == r->out_fd)
				drain_stdout(r);
			else
				drain_stderr(r);
		}
	}

	for (;;) {
		siginfo_t si;

		/* P_PGID: only our children in the worker's group, so statuses
		 * of the caller's other children are never stolen. */
		memset(&si, 0, sizeof(si));
		while (waitid(P_PGID, (id_t)r->pid, &si, WEXITED | WNOHANG) == 0 &&
		       si.si_pid != 0)
			memset(&si, 0, sizeof(si));
		if (kill(-r->pid, 0) < 0 && errno == ESRCH)
			break;
		if (clock_monotonic_ns() >= end)
			break; /* members that are not our children, e.g. no subreaper */
		{
			struct timespec ts = { 0, 5 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
}

static void classify(struct worker_result *out, const struct run *r, int status)
{
	if (WIFEXITED(status)) {
		out->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		out->signal = WTERMSIG(status);
	}

	switch (r->reason) {
	case STOP_INTERRUPT:
		out->outcome = WORKER_INTERRUPTED;
		out->error_type = xstrdup("Interrupted");
		out->error_message = xstrdup(r->interrupt_seen >= 2
			? "stopped by an interrupt (SIGKILL)"
			: "stopped by an interrupt (SIGTERM)");
		return;
	case STOP_TIMEOUT:
		out->outcome = WORKER_TIMEOUT;
		out->error_type = xstrdup("TimeoutError");
		out->error_message = xasprintf("killed after the %g s timeout",
					       r->o->timeout_s);
		return;
	case STOP_TOO_LARGE:
		out->outcome = WORKER_OUTPUT_TOO_LARGE;
		out->error_type = xstrdup("WorkerError");
		out->error_message = xasprintf("killed: its output exceeded the %zu-byte limit",
					       r->max_output);
		return;
	case STOP_NONE:
		break;
	}
	if (out->signal) {
		const char *name = strsignal(out->signal);

		out->outcome = WORKER_SIGNALED;
		out->error_type = xstrdup("ProcessCrash");
		out->error_message = xasprintf("killed by signal %d (%s)", out->signal,
					       name ? name : "unknown");
	} else if (out->exit_code == 0) {
		out->outcome = WORKER_OK;
	} else {
		out->outcome = WORKER_EXIT_NONZERO;
		out->error_type = xstrdup("WorkerError");
		out->error_message = xasprintf("exited with code %d", out->exit_code);
	}
}

static int open_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_set_errno(LLEM_ERROR, "cannot create a pipe for the worker");
	return 0;
}

int worker_run(struct worker_result *out, const struct worker_opts *o)
{
	struct run r = { .o = o, .pid = -1, .pidfd = -1, .in_fd = -1, .out_fd = -1,
			 .err_fd = -1, .out = STRBUF_INIT, .err = STRBUF_INIT };
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	int log_fd = -1, rc = 0, status = 0, err;
	off_t log_start = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false;
	sigset_t mask;
	uint64_t t0, deadline = 0;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	if (!o || !o->argv || !o->argv[0])
		return error_set(LLEM_EINVAL, "worker_run: no program to run");
	r.grace_ns = s_to_ns(o->grace_s > 0 ? o->grace_s : WORKER_DEFAULT_GRACE_S);
	r.max_output = o->max_output ? o->max_output : WORKER_DEFAULT_MAX_OUTPUT;

	if (o->stdin_text && (rc = open_pipe(in_p)) < 0)
		goto out;
	if ((rc = open_pipe(out_p)) < 0)
		goto out;
	if (o->log_path) {
		/* O_RDWR so the tail can be read back through the same fd. */
		log_fd = open(o->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			rc = error_set_errno(LLEM_EIO, "cannot open the worker log %s",
					     o->log_path);
			goto out;
		}
		log_start = lseek(log_fd, 0, SEEK_END);
		if (log_start < 0)
			log_start = 0;
	} else if ((rc = open_pipe(err_p)) < 0) {
		goto out;
	}

	if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = err;
		rc = error_set_errno(LLEM_ERROR, "posix_spawn_file_actions_init");
		goto out;
	}
	fa_init = true;
	if (in_p[0] >= 0)
		err = posix_spawn_file_actions_adddup2(&fa, in_p[0], 0);
	else
		err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, out_p[1], 1);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, log_fd >= 0 ? log_fd : err_p[1], 2);
	/* Descriptors the caller forgot to mark close-on-exec stay here. */
	if (!err)
		err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (err) {
		errno = err;
		rc = error_set_errno(LLEM_ERROR, "setting up the worker's descriptors");
		goto out;
	}

	if ((err = posix_spawnattr_init(&attr)) != 0) {
		errno = err;
		rc = error_set_errno(LLEM_ERROR, "posix_spawnattr_init");
		goto out;
	}
	attr_init = true;
	/* Own group (pgid 0), so a signal to -pid reaches grandchildren and
	 * the terminal's Ctrl+C does not. Empty mask and default dispositions:
	 * a blocked or ignored SIGTERM would survive exec (c-stack.md §5.1). */
	sigemptyset(&mask);
	err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setpgroup(&attr, 0);
	if (!err)
		err = posix_spawnattr_setsigmask(&attr, &mask);
	if (!err) {
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGPIPE);
		sigaddset(&mask, SIGCHLD);
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGQUIT);
		err = posix_spawnattr_setsigdefault(&attr, &mask);
	}
	if (err) {
		errno = err;
		rc = error_set_errno(LLEM_ERROR, "setting up the worker's attributes");
		goto out;
	}

	t0 = clock_monotonic_ns();
	err = posix_spawn(&r.pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
			  o->envp ? (char *const *)o->envp : environ);
	if (err) {
		r.pid = -1;
		out->outcome = WORKER_SPAWN_FAILED;
		out->error_type = xstrdup("SpawnError");
		out->error_message = xasprintf("cannot start %s: %s", o->argv[0], strerror(err));
		goto out; /* rc 0: the outcome says it all */
	}

	/* The child's ends belong to it now; holding them would hide EOF. */
	close_fd(&in_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	r.in_fd = in_p[1];
	in_p[1] = -1;
	r.out_fd = out_p[0];
	out_p[0] = -1;
	r.err_fd = err_p[0];
	err_p[0] = -1;
	r.in_len = o->stdin_text ? strlen(o->stdin_text) : 0;
	if ((r.in_fd >= 0 && set_nonblock(r.in_fd) < 0) || set_nonblock(r.out_fd) < 0 ||
	    (r.err_fd >= 0 && set_nonblock(r.err_fd) < 0))
		rc = error_set_errno(LLEM_ERROR, "making the worker pipes non-blocking");
	if (r.in_fd >= 0 && r.in_len == 0)
		close_fd(&r.in_fd);
	r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
	if (r.pidfd >= 0)
		fcntl(r.pidfd, F_SETFD, FD_CLOEXEC); /* pidfd_open sets it; be sure */
	else
		r.pidfd = -1; /* older kernel: fall back to polling in ticks */

	if (o->timeout_s > 0)
		deadline = t0 + s_to_ns(o->timeout_s);
	if (rc == 0)
		rc = supervise(&r, deadline);

	/* Leader exited (or we are bailing out): no survivors in its group.
	 * Sent while the leader is an unreaped zombie, so the group id is
	 * still ours. */
	group_kill(r.pid, SIGKILL);
	while (waitpid(r.pid, &status, 0) < 0) {
		if (errno != EINTR) {
			if (rc == 0)
				rc = error_set_errno(LLEM_ERROR, "reaping worker %d", (int)r.pid);
			break;
		}
	}
	out->wall_s = (double)(clock_monotonic_ns() - t0) / 1e9;
	close_fd(&r.in_fd);
	settle(&r);
	if (rc == 0)
		classify(out, &r, status);

out:
	if (rc == 0) {
		out->output_len = r.out.len;
		out->output = strbuf_detach(&r.out);
		if (log_fd >= 0)
			out->log_tail = log_file_tail(log_fd, log_start);
		else
			out->log_tail = tail_lines(r.err.buf ? r.err.buf : "", r.err.len,
						   WORKER_LOG_TAIL_LINES);
	}
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	close_fd(&r.pidfd);
	close_fd(&r.in_fd);
	close_fd(&r.out_fd);
	close_fd(&r.err_fd);
	close_fd(&log_fd);
	close_fd(&in_p[0]);
	close_fd(&in_p[1]);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	strbuf_release(&r.out);
	strbuf_release(&r.err);
	return rc;
}

void worker_result_release(struct worker_result *r)
{
	if (!r)
		return;
	free(r->output);
	free(r->log_tail);
	free(r->error_type);
	free(r->error_message);
	memset(r, 0, sizeof(*r));
}

int worker_become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return error_set_errno(LLEM_ERROR, "cannot become a child subreaper");
	return 0;
}

const char *worker_outcome_name(enum worker_outcome outcome)
{
	switch (outcome) {
	case WORKER_OK:
		return "ok";
	case WORKER_EXIT_NONZERO:
		return "exited non-zero";
	case WORKER_SIGNALED:
		return "killed by a signal";
	case WORKER_TIMEOUT:
		return "timed out";
	case WORKER_INTERRUPTED:
		return "interrupted";
	case WORKER_SPAWN_FAILED:
		return "could not start";
	case WORKER_OUTPUT_TOO_LARGE:
		return "output too large";
	}
	return "unknown";
}
