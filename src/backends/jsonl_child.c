/*
 * JSON-lines child processes (see jsonl_child.h): posix_spawn with pipes,
 * line reads under a deadline, and an end that always reaps the child.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include "backends/jsonl_child.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A reply larger than this is garbage, not a result (a generate reply for
 * a batch of 4096 requests is well under 1 MiB). */
#define MAX_LINE_BYTES (64u << 20)
/* How often a read looks at the interrupt flag while it waits. */
#define INTERRUPT_TICK_MS 100
/* How much of a garbage line an error message quotes. */
#define QUOTE_BYTES 160

/*
 * The child's environment: ours, less what a study runner added for llem's
 * own workers only (study/runner.c: OPENBLAS_NUM_THREADS when the user had
 * not set it, and the marker saying so). Freed by the caller (the strings
 * are environ's).
 */
static char **child_environment(void)
{
	static const char *const added[] = { "OPENBLAS_NUM_THREADS=", "LLEM_OPENBLAS_DEFAULTED=" };
	bool strip = getenv("LLEM_OPENBLAS_DEFAULTED") != NULL;
	size_t n = 0, k = 0, i, j;
	char **env;

	while (environ && environ[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		bool drop = false;

		for (j = 0; strip && j < ARRAY_SIZE(added); j++)
			drop |= !strncmp(environ[i], added[j], strlen(added[j]));
		if (!drop)
			env[k++] = environ[i];
	}
	return env;
}

static int spawn(pid_t *pid, const char *const *argv, int in_fd, int out_fd)
{
	char **env = child_environment();
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, deflt;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* A clean start: no blocked signals, default dispositions for the
	 * ones llem handles or ignores, and its own process group. */
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(pid, argv[0], &fa, &at, (char *const *)argv, env);
	free(env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc)
		return error_set(LLEM_ENOTFOUND, "cannot start %s: %s", argv[0], strerror(rc));
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int jsonl_child_start(struct jsonl_child *c, const char *name,
		      const char *const *argv)
{
	int to_child[2], from_child[2], rc;

	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->in_fd = c->out_fd = -1;
	c->name = name;
	if (pipe2(to_child, O_CLOEXEC))
		return error_set_errno(LLEM_ERROR, "cannot start %s: pipe", name);
	if (pipe2(from_child, O_CLOEXEC)) {
		close(to_child[0]);
		close(to_child[1]);
		return error_set_errno(LLEM_ERROR, "cannot start %s: pipe", name);
	}
	rc = spawn(&c->pid, argv, to_child[0], from_child[1]);
	close(to_child[0]);
	close(from_child[1]);
	if (rc) {
		close(to_child[1]);
		close(from_child[0]);
		c->pid = -1;
		return rc;
	}
	c->in_fd = to_child[1];
	c->out_fd = from_child[0];
	return 0;
}

static uint64_t now_ms(void)
{
	return clock_monotonic_ns() / 1000000u;
}

/* Reaps the child if it has exited (waiting up to wait_ms for that). */
static bool reap(struct jsonl_child *c, int wait_ms)
{
	uint64_t end = now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);

	while (c->pid > 0) {
		pid_t r = waitpid(c->pid, &c->exit_status, WNOHANG);

		if (r == c->pid || (r < 0 && errno == ECHILD)) {
			c->pid = -1;
			return true;
		}
		if (now_ms() >= end)
			return false;
		usleep(5000);
	}
	return true;
}

static int died(struct jsonl_child *c)
{
	int st;

	if (!reap(c, 2000))
		return error_set(LLEM_ERROR, "%s closed its output but did not exit", c->name);
	st = c->exit_status;
	if (WIFSIGNALED(st))
		return error_set(LLEM_ERROR, "%s was killed by signal %d (%s)", c->name,
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
	return error_set(LLEM_ERROR, "%s exited with status %d before replying (its log is on stderr)",
			 c->name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int jsonl_child_send(struct jsonl_child *c, const char *json)
{
	size_t len = strlen(json), off = 0;
	struct strbuf line = STRBUF_INIT;
	sigset_t pipe_set, old;
	int rc = 0;

	if (c->in_fd < 0)
		return error_set(LLEM_ERROR, "%s is not running", c->name);
	strbuf_add(&line, json, len);
	strbuf_addch(&line, '\n');
	/* A dead reader must give EPIPE here, not kill llem with SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (off < line.len) {
		ssize_t n = write(c->in_fd, line.buf + off, line.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			struct timespec zero = { 0, 0 };

			if (errno == EPIPE)
				sigtimedwait(&pipe_set, NULL, &zero);
			rc = errno == EPIPE ? died(c)
					    : error_set_errno(LLEM_EIO, "writing to %s", c->name);
			break;
		}
		off += (size_t)n;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	strbuf_release(&line);
	return rc;
}

static int garbage(const struct jsonl_child *c, const char *line, size_t len,
		   const char *why)
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

/* Takes one complete line out of the buffer, if there is one. */
static int take_line(struct jsonl_child *c, json_t **out, bool *got)
{
	char *nl = c->buf.len ? memchr(c->buf.buf, '\n', c->buf.len) : NULL;
	size_t len, rest;
	json_error_t jerr;
	json_t *v;
	int rc = 0;

	*got = false;
	if (!nl)
		return 0;
	len = (size_t)(nl - c->buf.buf);
	v = json_loadb(c->buf.buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(v)) {
		rc = garbage(c, c->buf.buf, len, v ? "a JSON object" : "JSON");
		json_decref(v);
		v = NULL;
	}
	rest = c->buf.len - len - 1;
	memmove(c->buf.buf, nl + 1, rest);
	c->buf.len = rest;
	c->buf.buf[rest] = '\0';
	*out = v;
	*got = true;
	return rc;
}

int jsonl_child_read(struct jsonl_child *c, json_t **out, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	char chunk[65536];

	*out = NULL;
	for (;;) {
		struct pollfd p = { c->out_fd, POLLIN, 0 };
		uint64_t now = now_ms();
		bool got;
		ssize_t n;
		int rc;

		rc = take_line(c, out, &got);
		if (got)
			return rc;
		if (c->buf.len > MAX_LINE_BYTES)
			return garbage(c, c->buf.buf, c->buf.len, "a line under 64 MiB");
		if (c->out_fd < 0)
			return error_set(LLEM_ERROR, "%s is not running", c->name);
		if (c->interrupted && *c->interrupted)
			return error_set(LLEM_EINTR, "interrupted while waiting for %s", c->name);
		if (now >= deadline)
			return error_set(LLEM_ERROR,
					 "%s sent nothing for %d s (timeout); it may be hung",
					 c->name, timeout_ms / 1000);
		rc = poll(&p, 1, c->interrupted && deadline - now > INTERRUPT_TICK_MS
					 ? INTERRUPT_TICK_MS : (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return error_set_errno(LLEM_EIO, "waiting for %s", c->name);
		if (rc == 0)
			continue;
		n = read(c->out_fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return error_set_errno(LLEM_EIO, "reading from %s", c->name);
		if (n == 0) {
			close_fd(&c->out_fd);
			if (c->buf.len)
				return garbage(c, c->buf.buf, c->buf.len,
					       "a complete line (it ended without a newline)");
			return died(c);
		}
		strbuf_add(&c->buf, chunk, (size_t)n);
	}
}

void jsonl_child_stop(struct jsonl_child *c, int grace_ms)
{
	close_fd(&c->in_fd);
	if (c->pid > 0 && !reap(c, grace_ms)) {
		/* The whole group: a worker's own helpers go with it. */
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		reap(c, 5000);
	}
	close_fd(&c->out_fd);
	strbuf_release(&c->buf);
}

int jsonl_run_capture(const char *const *argv, int timeout_ms, size_t max_bytes,
		      char **out, int *status)
{
	struct jsonl_child c;
	uint64_t deadline;
	char chunk[8192];
	int rc;

	*out = NULL;
	*status = 0;
	rc = jsonl_child_start(&c, argv[0], argv);
	if (rc)
		return rc;
	close_fd(&c.in_fd); /* stdin at EOF */
	deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		struct pollfd p = { c.out_fd, POLLIN, 0 };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline) {
			rc = error_set(LLEM_ERROR, "%s did not finish within %d s", argv[0],
				       timeout_ms / 1000);
			break;
		}
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		n = read(c.out_fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (c.buf.len < max_bytes)
			strbuf_add(&c.buf, chunk, (size_t)n);
	}
	if (!rc && !reap(&c, 5000))
		rc = error_set(LLEM_ERROR, "%s closed its output but did not exit", argv[0]);
	*status = c.exit_status;
	if (!rc)
		*out = xstrndup(c.buf.len ? c.buf.buf : "", c.buf.len);
	jsonl_child_stop(&c, 0);
	return rc;
}
