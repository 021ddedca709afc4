/*
 * Tests for util/proc against tests/tools/fake_worker, real processes all:
 * capture, line reads under deadlines, the interrupt levels, the grace
 * before SIGKILL, a grandchild killed and reaped with its group, the
 * environment policy, spawn errors, descriptors and signal state in the
 * child. Waits are bounded; ordering comes from the child's own lines
 * (handshakes), never from sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "util/proc.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *fake;

static int group_setup(void **state)
{
	const char *dir = getenv("LLEM_TOOLS_DIR");

	(void)state;
	fake = xasprintf("%s/fake_worker", dir ? dir : ".");
	if (access(fake, X_OK) != 0) {
		fprintf(stderr, "fake_worker not found at %s\n", fake);
		return -1;
	}
	/* Orphaned grandchildren come back to this process to be reaped. */
	return proc_become_subreaper();
}

static int group_teardown(void **state)
{
	(void)state;
	free(fake);
	error_clear();
	return 0;
}

static int fds_at_start;

static int before_each(void **state)
{
	(void)state;
	fds_at_start = test_count_fds();
	return 0;
}

/* After every test: no child left (zombie or running), no fd leaked. */
static int after_each(void **state)
{
	(void)state;
	assert_int_equal(test_count_children(), 0);
	assert_int_equal(test_count_fds(), fds_at_start);
	return 0;
}

static double now_s(void)
{
	return (double)clock_monotonic_ns() / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int start(struct proc *p, struct proc_opts *o, const char *a1, const char *a2)
{
	const char *argv[4] = { fake, a1, a2, NULL };

	o->argv = argv;
	return proc_start(p, o);
}

/* Reads the grandchild's pid line; a bounded wait. */
static pid_t read_pid(struct proc *p)
{
	struct strbuf line = STRBUF_INIT;
	long pid;

	assert_int_equal(proc_read_line(p, &line, 10000, 64), PROC_IO_OK);
	pid = strtol(strbuf_str(&line), NULL, 10);
	strbuf_release(&line);
	assert_true(pid > 1);
	return (pid_t)pid;
}

static bool process_gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static void test_proc_captures_stdout_and_exit_status(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	char *tail;

	(void)state;
	assert_int_equal(start(&p, &o, "ok", "hello world"), 0);
	assert_true(p.pid > 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_string_equal(strbuf_str(&p.out), "hello world");
	assert_true(p.reaped && WIFEXITED(p.status));
	assert_int_equal(WEXITSTATUS(p.status), 0);
	assert_int_equal(p.reason, PROC_REASON_NONE);
	assert_int_equal(p.pid, -1);
	proc_release(&p);

	o.err = PROC_STDERR_TAIL;
	assert_int_equal(start(&p, &o, "exit", "3"), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_int_equal(WEXITSTATUS(p.status), 3);
	tail = proc_stderr_tail(&p, 5);
	assert_string_equal(tail, "fake_worker: failing with code 3");
	free(tail);
	proc_release(&p);
}

static void test_proc_stdin_text_reaches_child(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };

	(void)state;
	o.in = PROC_STDIN_TEXT;
	o.stdin_text = "{\"config\": 1}\n";
	assert_int_equal(start(&p, &o, "echo-stdin", NULL), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_string_equal(strbuf_str(&p.out), "{\"config\": 1}\n");
	assert_int_equal(WEXITSTATUS(p.status), 0);
	proc_release(&p);
}

/* Lines both ways; EOF on stdin ends the child by itself (no kill). */
static void test_proc_line_protocol_and_close_stdin(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;

	(void)state;
	o.in = PROC_STDIN_PIPE;
	assert_int_equal(start(&p, &o, "echo-stdin", NULL), 0);
	assert_int_equal(proc_write(&p, "one\ntwo\n", 8, 10000), PROC_IO_OK);
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	assert_string_equal(strbuf_str(&line), "one");
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	assert_string_equal(strbuf_str(&line), "two");
	proc_stop(&p, PROC_STOP_CLOSE_STDIN, 30);
	assert_false(p.killed);
	assert_true(p.reaped && WIFEXITED(p.status));
	assert_int_equal(WEXITSTATUS(p.status), 0);
	proc_release(&p);
	strbuf_release(&line);
}

/* The rest after the last newline stays in p.out at EOF. */
static void test_proc_read_line_eof_keeps_partial_line(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;

	(void)state;
	assert_int_equal(start(&p, &o, "ok", "first\nrest"), 0);
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	assert_string_equal(strbuf_str(&line), "first");
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_EOF);
	assert_string_equal(strbuf_str(&p.out), "rest");
	proc_stop(&p, PROC_STOP_CLOSE_STDIN, 30);
	assert_int_equal(WEXITSTATUS(p.status), 0);
	proc_release(&p);
	strbuf_release(&line);
}

static void test_proc_read_line_too_long(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;

	(void)state;
	assert_int_equal(start(&p, &o, "big", "100000"), 0);
	assert_int_equal(proc_read_line(&p, &line, 10000, 1000), PROC_IO_TOO_LONG);
	assert_true(p.out.len > 1000);
	assert_int_equal(p.out.buf[0], 'x');
	proc_stop(&p, PROC_STOP_SIGKILL, 0);
	assert_true(p.reaped);
	proc_release(&p);
	strbuf_release(&line);
}

/* A child that says nothing: the read ends at its deadline, not later. */
static void test_proc_read_deadline_on_silent_child(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;
	double t0, took;

	(void)state;
	o.in = PROC_STDIN_PIPE;
	assert_int_equal(start(&p, &o, "hang", NULL), 0);
	t0 = now_s();
	assert_int_equal(proc_read_line(&p, &line, 200, 100), PROC_IO_TIMEOUT);
	took = now_s() - t0;
	assert_true(took >= 0.2 && took < 5);
	assert_int_equal(line.len, 0);
	proc_stop(&p, PROC_STOP_SIGTERM, 30);
	assert_false(p.killed);
	assert_true(WIFSIGNALED(p.status));
	assert_int_equal(WTERMSIG(p.status), SIGTERM);
	proc_release(&p);
	strbuf_release(&line);
}

static void test_proc_timeout_sigterms(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };

	(void)state;
	assert_int_equal(start(&p, &o, "hang", NULL), 0);
	assert_int_equal(proc_wait(&p, 0.2), 0);
	assert_int_equal(p.reason, PROC_REASON_TIMEOUT);
	assert_int_equal(WTERMSIG(p.status), SIGTERM);
	assert_true(p.wall_s >= 0.2 && p.wall_s < 5);
	proc_release(&p);
}

struct interrupter {
	volatile sig_atomic_t *flag;
	int first_ms, second_ms; /* delays before 1, then before 2 (0: never) */
	double set_at;           /* when the last level was set */
};

static void *interrupt_later(void *arg)
{
	struct interrupter *it = arg;

	sleep_ms(it->first_ms);
	it->set_at = now_s();
	*it->flag = 1;
	if (it->second_ms) {
		sleep_ms(it->second_ms);
		it->set_at = now_s();
		*it->flag = 2;
	}
	return NULL;
}

/* Level 1 SIGTERMs the whole group, seen within a tick or two; the
 * grandchild dies with it and is reaped. */
static void test_proc_interrupt_1_sigterms_the_group(void **state)
{
	static volatile sig_atomic_t flag;
	struct interrupter it = { &flag, 100, 0, 0 };
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	pthread_t th;
	pid_t grandchild;

	(void)state;
	flag = 0;
	o.interrupt = &flag;
	o.grace_s = 30;
	assert_int_equal(start(&p, &o, "grandchild", NULL), 0);
	grandchild = read_pid(&p);
	assert_false(process_gone(grandchild));
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
	assert_int_equal(proc_wait(&p, 60), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.reason, PROC_REASON_INTERRUPT);
	assert_int_equal(p.interrupt_level, 1);
	assert_false(p.killed);
	assert_int_equal(WTERMSIG(p.status), SIGTERM);
	assert_true(now_s() - it.set_at < 2.0);
	assert_true(process_gone(grandchild));
	proc_release(&p);
}

/* Level 2 SIGKILLs a child that ignores SIGTERM, long before the grace. */
static void test_proc_interrupt_2_sigkills(void **state)
{
	static volatile sig_atomic_t flag;
	struct interrupter it = { &flag, 1, 200, 0 };
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;
	pthread_t th;

	(void)state;
	flag = 0;
	o.interrupt = &flag;
	o.grace_s = 60;
	assert_int_equal(start(&p, &o, "ignore-term", NULL), 0);
	/* "ready" comes after it ignores SIGTERM. */
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	assert_string_equal(strbuf_str(&line), "ready");
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
	assert_int_equal(proc_wait(&p, 0), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.reason, PROC_REASON_INTERRUPT);
	assert_int_equal(p.interrupt_level, 2);
	assert_true(p.killed);
	assert_int_equal(WTERMSIG(p.status), SIGKILL);
	assert_true(now_s() - it.set_at < 2.0);
	assert_true(p.wall_s < 30);
	proc_release(&p);
	strbuf_release(&line);
}

/* An interrupt also ends a line read, and the group gets the signal. */
static void test_proc_interrupt_ends_a_read(void **state)
{
	static volatile sig_atomic_t flag;
	struct interrupter it = { &flag, 100, 0, 0 };
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;
	pthread_t th;

	(void)state;
	flag = 0;
	o.in = PROC_STDIN_PIPE;
	assert_int_equal(start(&p, &o, "hang", NULL), 0);
	p.interrupt = &flag; /* set after the start, as the PyTorch backend does */
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
	assert_int_equal(proc_read_line(&p, &line, 60000, 100), PROC_IO_INTERRUPTED);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(now_s() - it.set_at < 2.0);
	proc_stop(&p, PROC_STOP_CLOSE_STDIN, 30);
	assert_int_equal(WTERMSIG(p.status), SIGTERM);
	proc_release(&p);
	strbuf_release(&line);
}

/* SIGTERM ignored: SIGKILL once the grace is over, not before. */
static void test_proc_grace_then_sigkill(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;
	double t0, took;

	(void)state;
	assert_int_equal(start(&p, &o, "ignore-term", NULL), 0);
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	t0 = now_s();
	proc_stop(&p, PROC_STOP_SIGTERM, 0.3);
	took = now_s() - t0;
	assert_true(p.killed);
	assert_int_equal(WTERMSIG(p.status), SIGKILL);
	assert_true(took >= 0.3 && took < 5);
	proc_release(&p);
	strbuf_release(&line);
}

/* The leader exits 0 leaving a grandchild in its group (holding stdout):
 * the wait still ends, the grandchild is killed and reaped, no zombie. */
static void test_proc_grandchild_is_killed_and_reaped(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	pid_t grandchild;

	(void)state;
	assert_int_equal(start(&p, &o, "orphan", NULL), 0);
	assert_int_equal(proc_wait(&p, 60), 0);
	assert_int_equal(WEXITSTATUS(p.status), 0);
	grandchild = (pid_t)strtol(strbuf_str(&p.out), NULL, 10);
	assert_true(grandchild > 1);
	assert_true(process_gone(grandchild)); /* not even a zombie */
	assert_true(p.wall_s < 5);
	proc_release(&p);
}

static void test_proc_env_policy(void **state)
{
	static const char *const set[] = { "LLEM_PT_NEW=new", "LLEM_PT_REPL=replaced", NULL };
	static const char *const unset[] = { "LLEM_PT_DROP", NULL };
	static const char *const bad[] = { "NO_EQUALS_SIGN", NULL };
	const char *argv[] = { fake,           "env", "LLEM_PT_KEEP", "LLEM_PT_DROP", "LLEM_PT_NEW",
			       "LLEM_PT_REPL", NULL };
	struct proc p = { 0 };
	struct proc_opts o = { 0 };

	(void)state;
	assert_int_equal(setenv("LLEM_PT_KEEP", "keep", 1), 0);
	assert_int_equal(setenv("LLEM_PT_DROP", "drop", 1), 0);
	assert_int_equal(setenv("LLEM_PT_REPL", "old", 1), 0);
	o.argv = argv;

	/* No policy: ours as it is. */
	assert_int_equal(proc_start(&p, &o), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_string_equal(strbuf_str(&p.out), "LLEM_PT_KEEP=keep\nLLEM_PT_DROP=drop\n"
						"LLEM_PT_NEW unset\nLLEM_PT_REPL=old\n");
	proc_release(&p);

	/* Replaced means one entry, not two. */
	o.env_set = set;
	o.env_unset = unset;
	assert_int_equal(proc_start(&p, &o), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_string_equal(strbuf_str(&p.out), "LLEM_PT_KEEP=keep\nLLEM_PT_DROP unset\n"
						"LLEM_PT_NEW=new\nLLEM_PT_REPL=replaced\n");
	proc_release(&p);
	/* Ours is untouched. */
	assert_string_equal(getenv("LLEM_PT_DROP"), "drop");
	assert_string_equal(getenv("LLEM_PT_REPL"), "old");

	o.env_set = bad;
	o.env_unset = NULL;
	assert_int_equal(proc_start(&p, &o), LLEM_EINVAL);
	assert_non_null(strstr(error_last(), "NO_EQUALS_SIGN"));
	assert_true(p.pid <= 0);
	proc_release(&p);
	unsetenv("LLEM_PT_KEEP");
	unsetenv("LLEM_PT_DROP");
	unsetenv("LLEM_PT_REPL");
}

static void test_proc_missing_program_is_a_clear_error(void **state)
{
	const char *argv[] = { "/nonexistent/llem-child", "x", NULL };
	struct proc p = { 0 };
	struct proc_opts o = { 0 };

	(void)state;
	o.argv = argv;
	o.in = PROC_STDIN_PIPE;
	o.err = PROC_STDERR_TAIL;
	assert_int_equal(proc_start(&p, &o), LLEM_ENOTFOUND);
	assert_int_equal(p.spawn_errno, ENOENT);
	assert_string_equal(error_last(),
			    "cannot start /nonexistent/llem-child: No such file or directory");
	assert_true(p.pid <= 0);
	proc_release(&p); /* and the fd count check: its pipes are closed */
}

/* Descriptors without close-on-exec stay here; the child has 0, 1, 2. */
static void test_proc_no_fd_leaks_into_child(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	int leak = open("/dev/null", O_RDONLY), leak_pipe[2];

	(void)state;
	assert_true(leak >= 0);
	assert_int_equal(pipe(leak_pipe), 0);
	o.in = PROC_STDIN_PIPE;
	o.err = PROC_STDERR_TAIL;
	assert_int_equal(start(&p, &o, "fds", NULL), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_string_equal(strbuf_str(&p.out), "0 1 2\n");
	proc_release(&p);
	close(leak);
	close(leak_pipe[0]);
	close(leak_pipe[1]);
}

static unsigned long long sig_bit(int sig)
{
	return 1ull << (sig - 1);
}

/* Blocked or ignored here, default in the child. */
static void test_proc_child_gets_clean_signal_state(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct sigaction ign, old_int, old_pipe;
	sigset_t block, old_mask;
	unsigned long long blocked = ~0ull, ignored = ~0ull;
	int sigs[] = { SIGINT, SIGTERM, SIGPIPE, SIGCHLD };
	size_t i;

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	assert_int_equal(sigaction(SIGINT, &ign, &old_int), 0);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);

	assert_int_equal(start(&p, &o, "sigstate", NULL), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
	assert_int_equal(sigaction(SIGINT, &old_int, NULL), 0);
	assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
	assert_int_equal(proc_wait(&p, 30), 0);
	assert_int_equal(
		sscanf(strbuf_str(&p.out), "blocked=%llx ignored=%llx", &blocked, &ignored), 2);
	assert_true(blocked == 0);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		assert_true((ignored & sig_bit(sigs[i])) == 0);
	proc_release(&p);
}

/* A child that closed its stdin: EOF from the write, and llem survives
 * (no SIGPIPE). */
static void test_proc_write_to_closed_stdin_is_eof(void **state)
{
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;

	(void)state;
	o.in = PROC_STDIN_PIPE;
	assert_int_equal(start(&p, &o, "close-stdin", NULL), 0);
	assert_int_equal(proc_read_line(&p, &line, 10000, 100), PROC_IO_OK);
	assert_string_equal(strbuf_str(&line), "closed");
	assert_int_equal(proc_write(&p, "hello\n", 6, 10000), PROC_IO_EOF);
	assert_int_equal(proc_write(&p, "again\n", 6, 10000), PROC_IO_EOF);
	proc_stop(&p, PROC_STOP_SIGTERM, 30);
	assert_int_equal(WTERMSIG(p.status), SIGTERM);
	proc_release(&p);
	strbuf_release(&line);
}

/* CPU seconds this process has used. */
static double cpu_s(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * An energy tool must not spin while it waits: half a second of waiting
 * costs a few polls. Covers the hard case too: the leader has exited (its
 * pidfd stays readable) while a grandchild keeps stdout open.
 */
static void test_proc_waits_do_not_spin(void **state)
{
	static volatile sig_atomic_t flag;
	struct proc p = { 0 };
	struct proc_opts o = { 0 };
	struct strbuf line = STRBUF_INIT;
	double cpu0;

	(void)state;
	flag = 0;
	o.interrupt = &flag;
	assert_int_equal(start(&p, &o, "orphan", NULL), 0);
	(void)read_pid(&p);
	/* The leader is gone once the pipe says so; the grandchild holds it. */
	cpu0 = cpu_s();
	assert_int_equal(proc_read_line(&p, &line, 500, 100), PROC_IO_TIMEOUT);
	assert_true(cpu_s() - cpu0 < 0.1);
	proc_stop(&p, PROC_STOP_SIGKILL, 0);
	proc_release(&p);

	assert_int_equal(start(&p, &o, "hang", NULL), 0);
	cpu0 = cpu_s();
	assert_int_equal(proc_wait(&p, 0.5), 0);
	assert_int_equal(p.reason, PROC_REASON_TIMEOUT);
	assert_true(cpu_s() - cpu0 < 0.1);
	proc_release(&p);
	strbuf_release(&line);
}

/* A zeroed struct proc is "never started": stop and release are no-ops. */
static void test_proc_zeroed_is_safe(void **state)
{
	struct proc p = { 0 };
	struct strbuf line = STRBUF_INIT;

	(void)state;
	proc_stop(&p, PROC_STOP_SIGKILL, 0);
	proc_release(&p);
	assert_int_equal(proc_read_line(&p, &line, 0, 10), LLEM_EINVAL);
	assert_int_equal(proc_write(&p, "x", 1, 0), LLEM_EINVAL);
	strbuf_release(&line);
}

#define T(f) cmocka_unit_test_setup_teardown(f, before_each, after_each)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_proc_captures_stdout_and_exit_status),
		T(test_proc_stdin_text_reaches_child),
		T(test_proc_line_protocol_and_close_stdin),
		T(test_proc_read_line_eof_keeps_partial_line),
		T(test_proc_read_line_too_long),
		T(test_proc_read_deadline_on_silent_child),
		T(test_proc_timeout_sigterms),
		T(test_proc_interrupt_1_sigterms_the_group),
		T(test_proc_interrupt_2_sigkills),
		T(test_proc_interrupt_ends_a_read),
		T(test_proc_grace_then_sigkill),
		T(test_proc_grandchild_is_killed_and_reaped),
		T(test_proc_env_policy),
		T(test_proc_missing_program_is_a_clear_error),
		T(test_proc_no_fd_leaks_into_child),
		T(test_proc_child_gets_clean_signal_state),
		T(test_proc_write_to_closed_stdin_is_eof),
		T(test_proc_waits_do_not_spin),
		T(test_proc_zeroed_is_safe),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
