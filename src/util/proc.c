/*
 * The process supervisor (proc.h): posix_spawn into a new process group,
 * one poll loop for the pipes, the pidfd, the deadlines and the interrupt
 * flag, and one way to end a child: signal the group, grace, SIGKILL, reap.
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "util/proc.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Bytes of stderr kept for PROC_STDERR_TAIL: 20 lines of ~800 bytes. */
#define TAIL_BYTES 16384
/* After the group got SIGKILL: how long to wait for the pipes to reach EOF
 * and the group to empty. Bounded so an escaped holder cannot hang llem. */
#define SETTLE_NS (2 * 1000000000ull)
#define READ_CHUNK 65536

static uint64_t s_to_ns(double s)
{
	if (s <= 0)
		return 0;
	if (s > 1e9)
		s = 1e9; /* ~31 years: "never" for practical purposes */
	return (uint64_t)(s * 1e9);
}

static int ms_until(uint64_t now, uint64_t t)
{
	uint64_t ms;

	if (t <= now)
		return 0;
	ms = (t - now + 999999) / 1000000;
	return ms > 1000000 ? 1000000 : (int)ms;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd); /* nothing to do about EINTR/EIO on a pipe end */
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

/*
 * kill(-pgid) while the leader is unreaped, so the group id cannot have
 * been reused. Failure is ignored on purpose: ESRCH means the group is
 * gone already.
 */
static void group_signal(struct proc *p, int sig)
{
	if (p->pid > 0 && !p->reaped)
		(void)kill(-p->pid, sig);
}

static void group_kill(struct proc *p)
{
	if (p->pid > 0 && !p->reaped && !p->leader_gone)
		p->killed = true;
	group_signal(p, SIGKILL);
	p->kill_at_ns = 0;
}

/* SIGTERM now (once), SIGKILL after the grace; an earlier SIGKILL
 * deadline is kept. */
static void group_term(struct proc *p, uint64_t now)
{
	if (!p->term_sent) {
		group_signal(p, SIGTERM);
		p->term_sent = true;
	}
	if (!p->kill_at_ns || p->kill_at_ns > now + p->grace_ns)
		p->kill_at_ns = now + p->grace_ns;
}

/* Acts on the interrupt flag, the capture cap, the timeout and the
 * SIGKILL deadline. Returns the interrupt level seen. */
static int act(struct proc *p, uint64_t now)
{
	int level = p->interrupt ? (int)*p->interrupt : 0;

	if (level >= 1 && p->reason == PROC_REASON_NONE)
		p->reason = PROC_REASON_INTERRUPT;
	if (level >= 2 && p->interrupt_level < 2) {
		p->interrupt_level = 2;
		group_kill(p);
	} else if (level == 1 && p->interrupt_level < 1) {
		p->interrupt_level = 1;
		group_term(p, now);
	}
	if (p->reason == PROC_REASON_NONE && p->capturing && p->out_over) {
		p->reason = PROC_REASON_TOO_LARGE;
		group_term(p, now);
	}
	if (p->reason == PROC_REASON_NONE && p->deadline_ns && now >= p->deadline_ns) {
		p->reason = PROC_REASON_TIMEOUT;
		group_term(p, now);
	}
	if (p->kill_at_ns && now >= p->kill_at_ns)
		group_kill(p);
	return level;
}

/*
 * write() with SIGPIPE blocked in this thread only, so a child that closed
 * its stdin gives EPIPE here instead of killing llem, without touching the
 * process-wide disposition. A SIGPIPE raised by this write is consumed.
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
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return w;
}

/* PROC_STDIN_TEXT: writes what the pipe takes; EOF once all is written or
 * the child stopped reading. */
static void feed_text(struct proc *p)
{
	while (p->in_off < p->in_len) {
		ssize_t w =
			write_nosigpipe(p->in_fd, p->in_text + p->in_off, p->in_len - p->in_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break; /* EPIPE: it does not want the rest */
		}
		p->in_off += (size_t)w;
	}
	close_fd(&p->in_fd);
}

/* One read of stdout (one per poll round keeps memory bounded whatever
 * the child writes). Past max_output, bytes are dropped so the child
 * never blocks on a full pipe. */
static void drain_out(struct proc *p)
{
	char buf[READ_CHUNK];
	ssize_t n;

	do
		n = read(p->out_fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		close_fd(&p->out_fd);
		return;
	}
	if (p->discard || p->out_over)
		return;
	if ((size_t)n > p->max_output - p->out.len) {
		p->out_over = true;
		return;
	}
	strbuf_add(&p->out, buf, (size_t)n);
}

/* Keeps the last TAIL_BYTES (at least) of stderr. */
static void drain_err(struct proc *p)
{
	char buf[8192];
	ssize_t n;

	do
		n = read(p->err_fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		close_fd(&p->err_fd);
		return;
	}
	strbuf_add(&p->err, buf, (size_t)n);
	if (p->err.len > 2 * TAIL_BYTES) {
		memmove(p->err.buf, p->err.buf + p->err.len - TAIL_BYTES, TAIL_BYTES);
		p->err.len = TAIL_BYTES;
		p->err.buf[p->err.len] = '\0';
	}
}

/*
 * Has the leader exited? Checked without reaping it: an unreaped zombie
 * keeps its pid and group id ours while we SIGKILL the group. ECHILD (a
 * caller's handler reaped it) counts as exited.
 */
static int leader_exited(struct proc *p)
{
	siginfo_t si;

	if (p->reaped || p->leader_gone)
		return 1;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == EINTR)
			return 0;
		if (errno != ECHILD)
			return error_set_errno(LLEM_ERROR, "waiting for process %d", (int)p->pid);
		p->reaped = true; /* someone else's wait took it: status unknown */
		p->status = 0;
	}
	if (si.si_pid == p->pid || p->reaped)
		p->leader_gone = true;
	return p->leader_gone ? 1 : 0;
}

/*
 * One poll round, at most until until_ns (0: no limit of its own), shorter
 * for the tick, the timeout and an armed SIGKILL. want_in: wait for stdin
 * to take more (proc_write). Services stdout, stderr and stdin text.
 */
static int pump(struct proc *p, uint64_t until_ns, bool want_in)
{
	struct pollfd pfd[4];
	int nfd = 0, timeout_ms = -1, rc, i;
	uint64_t now = clock_monotonic_ns();
	uint64_t t[3] = { until_ns, p->reason == PROC_REASON_NONE ? p->deadline_ns : 0,
			  p->kill_at_ns };

	if (p->pidfd >= 0 && !p->leader_gone)
		pfd[nfd++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
	if (p->out_fd >= 0)
		pfd[nfd++] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
	if (p->err_fd >= 0)
		pfd[nfd++] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
	if (p->in_fd >= 0 && (want_in || p->in_text))
		pfd[nfd++] = (struct pollfd){ .fd = p->in_fd, .events = POLLOUT };

	if (p->interrupt || (p->pidfd < 0 && !p->leader_gone))
		timeout_ms = PROC_TICK_MS;
	for (i = 0; i < 3; i++) {
		if (t[i]) {
			int ms = ms_until(now, t[i]);

			if (timeout_ms < 0 || ms < timeout_ms)
				timeout_ms = ms;
		}
	}
	if (nfd == 0 && timeout_ms < 0)
		return error_set(LLEM_ERROR, "process %d: nothing left to wait for", (int)p->pid);

	rc = poll(pfd, (nfds_t)nfd, timeout_ms);
	if (rc < 0) {
		if (errno == EINTR)
			return 0; /* a signal: the caller re-checks the flag */
		return error_set_errno(LLEM_ERROR, "poll on process %d", (int)p->pid);
	}
	for (i = 0; i < nfd; i++) {
		if (!pfd[i].revents)
			continue;
		if (pfd[i].fd == p->out_fd)
			drain_out(p);
		else if (pfd[i].fd == p->err_fd)
			drain_err(p);
		else if (pfd[i].fd == p->in_fd && p->in_text)
			feed_text(p);
		else if (pfd[i].fd == p->pidfd && (rc = leader_exited(p)) < 0)
			return rc; /* else it stops polling a pidfd that stays readable */
	}
	return 0;
}

/* Pumps until the leader has exited; act() guarantees it will. */
static int wait_leader(struct proc *p)
{
	for (;;) {
		int rc;

		act(p, clock_monotonic_ns());
		rc = leader_exited(p);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		rc = pump(p, 0, false);
		if (rc < 0)
			return rc;
	}
}

/*
 * After the leader exited (or on a failure): SIGKILL what is left of the
 * group, reap the leader, read the pipes to EOF (a dying grandchild may
 * hold them a moment) and reap our children in the group until it is
 * empty. The settling is bounded by SETTLE_NS.
 */
static int finish(struct proc *p)
{
	uint64_t end;
	int rc = 0;

	if (p->pid <= 0)
		return 0;
	group_signal(p, SIGKILL);
	while (!p->reaped && waitpid(p->pid, &p->status, 0) < 0) {
		if (errno != EINTR) {
			if (errno != ECHILD)
				rc = error_set_errno(LLEM_ERROR, "reaping process %d", (int)p->pid);
			break;
		}
	}
	p->reaped = true;
	p->leader_gone = true;
	p->wall_s = (double)(clock_monotonic_ns() - p->t0_ns) / 1e9;
	p->kill_at_ns = 0;
	p->deadline_ns = 0; /* a passed timeout must not make the settling spin */
	close_fd(&p->in_fd);

	end = clock_monotonic_ns() + SETTLE_NS;
	while (p->out_fd >= 0 || p->err_fd >= 0) {
		if (clock_monotonic_ns() >= end)
			break;
		if (pump(p, end, false) < 0)
			break;
	}
	for (;;) {
		siginfo_t si;
		struct timespec ts = { 0, 5 * 1000000 };

		/* P_PGID: only our children in this group, so statuses the
		 * caller is owed for its other children are never taken. */
		memset(&si, 0, sizeof(si));
		while (waitid(P_PGID, (id_t)p->pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
			memset(&si, 0, sizeof(si));
		if (kill(-p->pid, 0) < 0 && errno == ESRCH)
			break;
		if (clock_monotonic_ns() >= end)
			break; /* members that are not our children (no subreaper) */
		(void)nanosleep(&ts, NULL);
	}
	p->pid = -1;
	return rc;
}

/* The child's environment: ours with the policy applied. The strings are
 * borrowed (environ's and the caller's); the array is freed by the caller.
 * *out is environ itself (not to be freed) when there is no policy. */
static int build_env(char ***out, bool *owned, const struct proc_opts *o)
{
	size_t n = 0, nset = 0, k = 0, i, j;
	char **env;

	*out = environ;
	*owned = false;
	if (!o->env_set && !o->env_unset)
		return 0;
	for (i = 0; o->env_set && o->env_set[i]; i++) {
		const char *eq = strchr(o->env_set[i], '=');

		if (!eq || eq == o->env_set[i])
			return error_set(LLEM_EINVAL, "env_set entry '%s' is not NAME=value",
					 o->env_set[i]);
		nset++;
	}
	for (i = 0; o->env_unset && o->env_unset[i]; i++)
		if (!*o->env_unset[i] || strchr(o->env_unset[i], '='))
			return error_set(LLEM_EINVAL, "env_unset entry '%s' is not a name",
					 o->env_unset[i]);
	while (environ && environ[n])
		n++;
	env = xcalloc(n + nset + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool drop = false;

		for (j = 0; !drop && o->env_unset && o->env_unset[j]; j++)
			drop = strlen(o->env_unset[j]) == len &&
			       !strncmp(environ[i], o->env_unset[j], len);
		for (j = 0; !drop && j < nset; j++)
			drop = !strncmp(environ[i], o->env_set[j], len + 1);
		if (!drop)
			env[k++] = environ[i];
	}
	for (j = 0; j < nset; j++)
		env[k++] = (char *)o->env_set[j];
	*out = env;
	*owned = true;
	return 0;
}

static int spawn_error(int err, const char *what)
{
	errno = err;
	return error_set_errno(LLEM_ERROR, "%s", what);
}

/* What proc_start holds until the child has its ends: pipes, the spawn
 * objects and the environment; spawn_kit_release frees what is left. */
struct spawn_kit {
	int in_p[2], out_p[2], err_p[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init, attr_init, env_owned;
	char **env;
};

/* p made valid for proc_release() whatever follows, then the options
 * checked and copied. */
static int start_options(struct proc *p, const struct proc_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->started = true;
	p->pid = -1;
	p->pidfd = p->in_fd = p->out_fd = p->err_fd = p->log_fd = -1;
	if (!o || !o->argv || !o->argv[0] || !*o->argv[0])
		return error_set(LLEM_EINVAL, "proc_start: no program to run");
	if ((o->in == PROC_STDIN_TEXT) != (o->stdin_text != NULL) ||
	    (o->err == PROC_STDERR_LOG) != (o->log_path != NULL))
		return error_set(LLEM_EINVAL, "proc_start: stdin_text/log_path do not match "
					      "the stdin/stderr modes");
	p->interrupt = o->interrupt;
	p->grace_ns = s_to_ns(o->grace_s > 0 ? o->grace_s : PROC_DEFAULT_GRACE_S);
	p->max_output = o->max_output ? o->max_output : PROC_DEFAULT_MAX_OUTPUT;
	return 0;
}

/* The pipes the modes ask for (stdout always), and the stderr log. */
static int open_pipes(struct spawn_kit *k, struct proc *p, const struct proc_opts *o)
{
	if ((o->in != PROC_STDIN_NULL && pipe2(k->in_p, O_CLOEXEC) < 0) ||
	    pipe2(k->out_p, O_CLOEXEC) < 0 ||
	    (o->err == PROC_STDERR_TAIL && pipe2(k->err_p, O_CLOEXEC) < 0))
		return error_set_errno(LLEM_ERROR, "cannot create a pipe for %s", o->argv[0]);
	if (o->err == PROC_STDERR_LOG) {
		/* O_RDWR so proc_stderr_tail() can read it back. */
		p->log_fd = open(o->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (p->log_fd < 0)
			return error_set_errno(LLEM_EIO, "cannot open the log %s", o->log_path);
		p->log_start = lseek(p->log_fd, 0, SEEK_END);
		if (p->log_start < 0)
			p->log_start = 0;
	}
	return 0;
}

/* The child's descriptors 0, 1 and 2, and none other. */
static int child_fds(struct spawn_kit *k, const struct proc *p, const struct proc_opts *o)
{
	int err;

	if ((err = posix_spawn_file_actions_init(&k->fa)) != 0)
		return spawn_error(err, "posix_spawn_file_actions_init");
	k->fa_init = true;
	if (k->in_p[0] >= 0)
		err = posix_spawn_file_actions_adddup2(&k->fa, k->in_p[0], 0);
	else
		err = posix_spawn_file_actions_addopen(&k->fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&k->fa, k->out_p[1], 1);
	if (!err && o->err != PROC_STDERR_INHERIT)
		err = posix_spawn_file_actions_adddup2(&k->fa,
						       p->log_fd >= 0 ? p->log_fd : k->err_p[1], 2);
	/* Descriptors someone forgot to mark close-on-exec stay here. */
	if (!err)
		err = posix_spawn_file_actions_addclosefrom_np(&k->fa, 3);
	if (err)
		return spawn_error(err, "setting up the child's descriptors");
	return 0;
}

/* The child's process group, signal mask and signal dispositions. */
static int child_attrs(struct spawn_kit *k)
{
	sigset_t mask;
	int err;

	if ((err = posix_spawnattr_init(&k->attr)) != 0)
		return spawn_error(err, "posix_spawnattr_init");
	k->attr_init = true;
	/* Own group (pgid 0): a signal to -pid reaches grandchildren, the
	 * terminal's Ctrl+C does not. Empty mask and default dispositions: a
	 * blocked or ignored SIGTERM would survive exec. */
	sigemptyset(&mask);
	err = posix_spawnattr_setflags(&k->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							 POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setpgroup(&k->attr, 0);
	if (!err)
		err = posix_spawnattr_setsigmask(&k->attr, &mask);
	if (!err) {
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGPIPE);
		sigaddset(&mask, SIGCHLD);
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGQUIT);
		err = posix_spawnattr_setsigdefault(&k->attr, &mask);
	}
	if (err)
		return spawn_error(err, "setting up the child's attributes");
	return 0;
}

/* After the spawn: our ends of the pipes, non-blocking, the stdin text,
 * and the child's pidfd. */
static int take_ends(struct proc *p, struct spawn_kit *k, const struct proc_opts *o)
{
	/* The child's ends are its own now; holding them would hide EOF. */
	p->in_fd = k->in_p[1];
	k->in_p[1] = -1;
	p->out_fd = k->out_p[0];
	k->out_p[0] = -1;
	p->err_fd = k->err_p[0];
	k->err_p[0] = -1;
	if ((p->in_fd >= 0 && set_nonblock(p->in_fd) < 0) || set_nonblock(p->out_fd) < 0 ||
	    (p->err_fd >= 0 && set_nonblock(p->err_fd) < 0))
		return error_set_errno(LLEM_ERROR, "making the pipes of %s non-blocking",
				       o->argv[0]);
	p->in_pipe = o->in == PROC_STDIN_PIPE;
	if (o->in == PROC_STDIN_TEXT) {
		p->in_text = o->stdin_text;
		p->in_len = strlen(o->stdin_text);
		if (p->in_len == 0)
			close_fd(&p->in_fd);
	}
	/* Without a pidfd (kernels before 5.3) the waits tick instead. */
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0)
		p->pidfd = -1;
	else if (fcntl(p->pidfd, F_SETFD, FD_CLOEXEC) < 0)
		close_fd(&p->pidfd);
	return 0;
}

static void spawn_kit_release(struct spawn_kit *k)
{
	if (k->attr_init)
		posix_spawnattr_destroy(&k->attr);
	if (k->fa_init)
		posix_spawn_file_actions_destroy(&k->fa);
	if (k->env_owned)
		free(k->env);
	close_fd(&k->in_p[0]);
	close_fd(&k->in_p[1]);
	close_fd(&k->out_p[0]);
	close_fd(&k->out_p[1]);
	close_fd(&k->err_p[0]);
	close_fd(&k->err_p[1]);
}

int proc_start(struct proc *p, const struct proc_opts *o)
{
	struct spawn_kit k = { .in_p = { -1, -1 }, .out_p = { -1, -1 }, .err_p = { -1, -1 } };
	int rc, err;

	if ((rc = start_options(p, o)) < 0)
		return rc;
	if ((rc = build_env(&k.env, &k.env_owned, o)) < 0 || (rc = open_pipes(&k, p, o)) < 0 ||
	    (rc = child_fds(&k, p, o)) < 0 || (rc = child_attrs(&k)) < 0)
		goto out;

	p->t0_ns = clock_monotonic_ns();
	err = posix_spawn(&p->pid, o->argv[0], &k.fa, &k.attr, (char *const *)o->argv, k.env);
	if (err) {
		p->pid = -1;
		p->spawn_errno = err;
		rc = error_set(LLEM_ENOTFOUND, "cannot start %s: %s", o->argv[0], strerror(err));
		goto out;
	}
	rc = take_ends(p, &k, o);
out:
	spawn_kit_release(&k);
	if (rc < 0 && p->pid > 0)
		proc_stop(p, PROC_STOP_SIGKILL, 0);
	return rc;
}

int proc_wait(struct proc *p, double timeout_s)
{
	int rc, rc2;

	if (!p->started || p->pid <= 0)
		return error_set(LLEM_EINVAL, "proc_wait: no process");
	p->capturing = true;
	if (timeout_s > 0)
		p->deadline_ns = p->t0_ns + s_to_ns(timeout_s);
	rc = wait_leader(p);
	rc2 = finish(p);
	return rc < 0 ? rc : rc2;
}

int proc_write(struct proc *p, const void *buf, size_t len, int timeout_ms)
{
	uint64_t until =
		timeout_ms >= 0 ? clock_monotonic_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	const char *b = buf;
	size_t off = 0;

	if (!p->started || !p->in_pipe)
		return error_set(LLEM_EINVAL, "proc_write: no stdin pipe");
	if (p->in_fd < 0)
		return PROC_IO_EOF;
	while (off < len) {
		ssize_t w;
		uint64_t now = clock_monotonic_ns();
		int rc;

		if (act(p, now))
			return PROC_IO_INTERRUPTED;
		w = write_nosigpipe(p->in_fd, b + off, len - off);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EPIPE) {
			close_fd(&p->in_fd);
			return PROC_IO_EOF;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return error_set_errno(LLEM_EIO, "writing to process %d", (int)p->pid);
		if (until && now >= until)
			return PROC_IO_TIMEOUT;
		/* Full pipe: wait for room, reading its stdout meanwhile so a
		 * child blocked on writing cannot deadlock us both. */
		if ((rc = pump(p, until, true)) < 0)
			return rc;
	}
	return PROC_IO_OK;
}

int proc_read_line(struct proc *p, struct strbuf *line, int timeout_ms, size_t max_len)
{
	uint64_t until =
		timeout_ms >= 0 ? clock_monotonic_ns() + (uint64_t)timeout_ms * 1000000u : 0;

	strbuf_reset(line);
	if (!p->started)
		return error_set(LLEM_EINVAL, "proc_read_line: no process");
	for (;;) {
		char *nl = p->out.len ? memchr(p->out.buf, '\n', p->out.len) : NULL;
		uint64_t now;
		int rc;

		if (nl) {
			size_t len = (size_t)(nl - p->out.buf), rest = p->out.len - len - 1;

			strbuf_add(line, p->out.buf, len);
			memmove(p->out.buf, nl + 1, rest);
			p->out.len = rest;
			p->out.buf[rest] = '\0';
			return PROC_IO_OK;
		}
		if (p->out.len > max_len || p->out_over)
			return PROC_IO_TOO_LONG;
		if (p->out_fd < 0)
			return PROC_IO_EOF;
		now = clock_monotonic_ns();
		if (act(p, now))
			return PROC_IO_INTERRUPTED;
		if (until && now >= until)
			return PROC_IO_TIMEOUT;
		if ((rc = pump(p, until, false)) < 0)
			return rc;
	}
}

void proc_stop(struct proc *p, enum proc_stop_how how, double grace_s)
{
	uint64_t now = clock_monotonic_ns();

	if (!p->started || p->pid <= 0)
		return;
	p->discard = true; /* nobody reads stdout now; never let it block */
	p->in_text = NULL;
	p->grace_ns = s_to_ns(grace_s);
	switch (how) {
	case PROC_STOP_CLOSE_STDIN:
		close_fd(&p->in_fd);
		if (!p->kill_at_ns || p->kill_at_ns > now + p->grace_ns)
			p->kill_at_ns = now + p->grace_ns;
		break;
	case PROC_STOP_SIGTERM: group_term(p, now); break;
	case PROC_STOP_SIGKILL: group_kill(p); break;
	}
	(void)wait_leader(p); /* a failing wait still ends in finish's SIGKILL */
	(void)finish(p);
}

void proc_release(struct proc *p)
{
	if (!p->started)
		return;
	proc_stop(p, PROC_STOP_SIGKILL, 0);
	close_fd(&p->pidfd);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	close_fd(&p->log_fd);
	strbuf_release(&p->out);
	strbuf_release(&p->err);
	p->started = false;
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

char *proc_stderr_tail(const struct proc *p, int nlines)
{
	struct stat st;
	off_t from;
	char *buf, *tail;
	size_t got = 0, want;

	if (!p->started || (p->log_fd < 0 && !p->err.len))
		return xstrdup("");
	if (p->log_fd < 0)
		return tail_lines(p->err.buf, p->err.len, nlines);
	if (fstat(p->log_fd, &st) < 0 || st.st_size <= p->log_start)
		return xstrdup("");
	from = st.st_size - p->log_start > TAIL_BYTES ? st.st_size - TAIL_BYTES : p->log_start;
	want = (size_t)(st.st_size - from);
	buf = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = pread(p->log_fd, buf + got, want - got, from + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	tail = tail_lines(buf, got, nlines);
	free(buf);
	return tail;
}

int proc_become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return error_set_errno(LLEM_ERROR, "cannot become a child subreaper");
	return 0;
}
