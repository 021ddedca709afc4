/*
 * Tests for worker supervision against tests/tools/fake_worker: every way a
 * worker ends maps to the right outcome and message, timeouts and Ctrl+C
 * reach the whole group, pipes never deadlock, and no child is left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "study/worker.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *fake_worker;

static int group_setup(void **state)
{
	const char *dir = getenv("LLEM_TOOLS_DIR");

	(void)state;
	fake_worker = xasprintf("%s/fake_worker", dir ? dir : ".");
	if (access(fake_worker, X_OK) != 0) {
		fprintf(stderr, "fake_worker not found at %s\n", fake_worker);
		return -1;
	}
	return worker_become_subreaper();
}

static int group_teardown(void **state)
{
	(void)state;
	free(fake_worker);
	error_clear();
	return 0;
}

static int check_no_children(void **state)
{
	(void)state;
	assert_int_equal(test_count_children(), 0);
	return 0;
}

static int run_fake(struct worker_result *res, struct worker_opts *o, const char *a1,
		    const char *a2)
{
	const char *argv[4] = { fake_worker, a1, a2, NULL };

	o->argv = argv;
	return worker_run(res, o);
}

static void test_worker_ok_captures_stdout(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	assert_int_equal(run_fake(&res, &o, "ok", "{\"result\": 1}"), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.signal, 0);
	assert_string_equal(res.output, "{\"result\": 1}");
	assert_int_equal(res.output_len, 13);
	assert_null(res.error_type);
	assert_null(res.error_message);
	assert_true(res.wall_s >= 0 && res.wall_s < 5);
	worker_result_release(&res);
}

/* 1 MiB through a worker that echoes as it reads: writing stdin without
 * draining stdout at the same time would deadlock on two full pipes. */
static void test_worker_stdin_reaches_child(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;
	size_t n = 1u << 20, i;
	char *text = xmalloc(n + 1);

	(void)state;
	for (i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	text[n] = '\0';
	o.stdin_text = text;
	o.timeout_s = 30;
	assert_int_equal(run_fake(&res, &o, "echo-stdin", NULL), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	assert_int_equal(res.output_len, n);
	assert_memory_equal(res.output, text, n);
	worker_result_release(&res);
	free(text);
}

/* A worker that never reads stdin: the write fails with EPIPE, the test
 * process survives, and SIGPIPE's disposition is left as it was. */
static void test_worker_unread_stdin_is_not_fatal(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;
	size_t n = 4u << 20;
	char *text = xmalloc(n + 1);
	struct sigaction sa;
	sigset_t pending;

	(void)state;
	memset(text, 'c', n);
	text[n] = '\0';
	o.stdin_text = text;
	o.timeout_s = 30;
	assert_int_equal(run_fake(&res, &o, "ok", "done"), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	assert_string_equal(res.output, "done");
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_DFL);
	assert_int_equal(sigpending(&pending), 0);
	assert_int_equal(sigismember(&pending, SIGPIPE), 0);
	worker_result_release(&res);
	free(text);
}

static void test_worker_exit_code_and_log_tail(void **state)
{
	char *dir = test_tmpdir("worker");
	char *log = xasprintf("%s/worker.log", dir);
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	test_write_text(log, "an earlier experiment's line\n");
	o.log_path = log;
	assert_int_equal(run_fake(&res, &o, "exit", "3"), 0);
	assert_int_equal(res.outcome, WORKER_EXIT_NONZERO);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.signal, 0);
	assert_string_equal(res.error_type, "WorkerError");
	assert_string_equal(res.error_message, "exited with code 3");
	/* Only this run's part of the appended log. */
	assert_string_equal(res.log_tail, "fake_worker: failing with code 3");
	assert_string_equal(res.output, "");
	worker_result_release(&res);
	test_rm_rf(dir);
	free(log);
	free(dir);
}

static void test_worker_segv_is_process_crash(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	assert_int_equal(run_fake(&res, &o, "segv", NULL), 0);
	assert_int_equal(res.outcome, WORKER_SIGNALED);
	assert_int_equal(res.signal, SIGSEGV);
	assert_int_equal(res.exit_code, -1);
	assert_string_equal(res.error_type, "ProcessCrash");
	assert_string_equal(res.error_message, "killed by signal 11 (Segmentation fault)");
	worker_result_release(&res);
}

static pid_t read_pid(const char *path)
{
	char *text;
	size_t len;
	long pid;

	assert_int_equal(fs_read_file(path, &text, &len), 0);
	assert_int_equal(sscanf(text, "%ld", &pid), 1);
	free(text);
	return (pid_t)pid;
}

/* The timeout reaches the grandchild too, and it is reaped (not a zombie
 * of ours, not running). */
static void test_worker_timeout_kills_group(void **state)
{
	char *dir = test_tmpdir("worker");
	char *pidfile = xasprintf("%s/child.pid", dir);
	struct worker_opts o = { 0 };
	struct worker_result res;
	pid_t grandchild;

	(void)state;
	o.timeout_s = 1;
	o.grace_s = 1;
	assert_int_equal(run_fake(&res, &o, "hang-with-child", pidfile), 0);
	assert_int_equal(res.outcome, WORKER_TIMEOUT);
	assert_int_equal(res.signal, SIGTERM);
	assert_string_equal(res.error_type, "TimeoutError");
	assert_string_equal(res.error_message, "killed after the 1 s timeout");
	assert_true(res.wall_s >= 1.0);
	assert_true(res.wall_s < 1.0 + 1.0 + 1.5);
	grandchild = read_pid(pidfile);
	assert_true(grandchild > 0);
	assert_int_equal(kill(grandchild, 0), -1);
	assert_int_equal(errno, ESRCH);
	worker_result_release(&res);
	test_rm_rf(dir);
	free(pidfile);
	free(dir);
}

static void test_worker_ignored_sigterm_gets_sigkill(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	o.timeout_s = 0.3;
	o.grace_s = 0.5;
	assert_int_equal(run_fake(&res, &o, "ignore-term", NULL), 0);
	assert_int_equal(res.outcome, WORKER_TIMEOUT);
	assert_int_equal(res.signal, SIGKILL);
	assert_string_equal(res.error_type, "TimeoutError");
	assert_string_equal(res.output, "ready\n");
	assert_true(res.wall_s >= 0.8);
	assert_true(res.wall_s < 0.8 + 1.5);
	worker_result_release(&res);
}

/* Judging the result's JSON is the runner's job: exit 0 is OK here. */
static void test_worker_garbage_output_passed_through(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	assert_int_equal(run_fake(&res, &o, "garbage", NULL), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	assert_string_equal(res.output, "this is {not json]] \x01\x02\n");
	worker_result_release(&res);
}

static void test_worker_10mb_stdout_no_deadlock(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;
	size_t n = 10u << 20, i;

	(void)state;
	o.timeout_s = 30;
	assert_int_equal(run_fake(&res, &o, "big", "10485760"), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	assert_int_equal(res.output_len, n);
	for (i = 0; i < n; i++)
		if (res.output[i] != 'x')
			break;
	assert_int_equal(i, n);
	assert_int_equal(res.output[n], '\0');
	worker_result_release(&res);
}

static void test_worker_output_cap(void **state)
{
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	o.timeout_s = 30;
	o.max_output = 65536;
	assert_int_equal(run_fake(&res, &o, "big", "1048576"), 0);
	assert_int_equal(res.outcome, WORKER_OUTPUT_TOO_LARGE);
	assert_true(res.output_len <= 65536);
	assert_string_equal(res.error_type, "WorkerError");
	assert_non_null(strstr(res.error_message, "65536-byte limit"));
	worker_result_release(&res);
}

static void check_tail_100(const char *tail)
{
	struct strbuf want = STRBUF_INIT;
	int i;

	for (i = 81; i <= 100; i++)
		strbuf_addf(&want, i == 81 ? "log line %d" : "\nlog line %d", i);
	assert_string_equal(tail, strbuf_str(&want));
	strbuf_release(&want);
}

static void test_worker_log_tail_last_lines(void **state)
{
	char *dir = test_tmpdir("worker");
	char *log = xasprintf("%s/worker.log", dir);
	struct worker_opts o = { 0 };
	struct worker_result res;
	char *text;
	size_t len;

	(void)state;
	o.log_path = log;
	assert_int_equal(run_fake(&res, &o, "slow-stderr", "100"), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	check_tail_100(res.log_tail);
	worker_result_release(&res);
	/* The whole stderr is in the log. */
	assert_int_equal(fs_read_file(log, &text, &len), 0);
	assert_non_null(strstr(text, "log line 1\n"));
	free(text);

	/* No log file: the tail is still kept, in memory. */
	o.log_path = NULL;
	assert_int_equal(run_fake(&res, &o, "slow-stderr", "100"), 0);
	check_tail_100(res.log_tail);
	worker_result_release(&res);
	test_rm_rf(dir);
	free(log);
	free(dir);
}

struct interrupter {
	volatile sig_atomic_t *flag;
	long first_ms, second_ms; /* second_ms 0: no second request */
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Stands in for the SIGINT handler of the study runner. */
static void *interrupt_later(void *arg)
{
	struct interrupter *it = arg;

	sleep_ms(it->first_ms);
	*it->flag = 1;
	if (it->second_ms) {
		sleep_ms(it->second_ms);
		*it->flag = 2;
	}
	return NULL;
}

static void test_worker_interrupt_sigterms_group(void **state)
{
	static volatile sig_atomic_t flag;
	struct interrupter it = { &flag, 300, 0 };
	struct worker_opts o = { 0 };
	struct worker_result res;
	pthread_t th;

	(void)state;
	flag = 0;
	o.interrupt = &flag;
	o.grace_s = 10;
	o.timeout_s = 60;
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
	assert_int_equal(run_fake(&res, &o, "hang", NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(res.outcome, WORKER_INTERRUPTED);
	assert_int_equal(res.signal, SIGTERM);
	assert_string_equal(res.error_type, "Interrupted");
	assert_true(res.wall_s >= 0.3 && res.wall_s < 3);
	worker_result_release(&res);
}

/* A worker that ignores SIGTERM: the second request kills it at once
 * rather than after the 10 s grace. */
static void test_worker_second_interrupt_sigkills(void **state)
{
	static volatile sig_atomic_t flag;
	struct interrupter it = { &flag, 200, 300 };
	struct worker_opts o = { 0 };
	struct worker_result res;
	pthread_t th;

	(void)state;
	flag = 0;
	o.interrupt = &flag;
	o.grace_s = 10;
	assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
	assert_int_equal(run_fake(&res, &o, "ignore-term", NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(res.outcome, WORKER_INTERRUPTED);
	assert_int_equal(res.signal, SIGKILL);
	assert_string_equal(res.error_message, "stopped by an interrupt (SIGKILL)");
	assert_true(res.wall_s >= 0.5 && res.wall_s < 3);
	worker_result_release(&res);
}

static void test_worker_missing_program_spawn_failed(void **state)
{
	const char *argv[] = { "/nonexistent/llem-worker", "run", NULL };
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	o.argv = argv;
	o.stdin_text = "config";
	assert_int_equal(worker_run(&res, &o), 0);
	assert_int_equal(res.outcome, WORKER_SPAWN_FAILED);
	assert_string_equal(res.error_type, "SpawnError");
	assert_string_equal(res.error_message,
			    "cannot start /nonexistent/llem-worker: No such file or directory");
	assert_string_equal(res.output, "");
	worker_result_release(&res);
}

/* Reaping is limited to the worker's group: a status the caller is owed
 * for its own child is still there afterwards. */
static void test_worker_does_not_steal_other_children(void **state)
{
	char *const argv[] = { fake_worker, "exit", "7", NULL };
	struct worker_opts o = { 0 };
	struct worker_result res;
	pid_t other;
	int status;
	posix_spawn_file_actions_t fa;

	(void)state;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0), 0);
	assert_int_equal(posix_spawn(&other, fake_worker, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	sleep_ms(100); /* let it exit first: a zombie waiting for us */
	assert_int_equal(run_fake(&res, &o, "ok", "x"), 0);
	assert_int_equal(res.outcome, WORKER_OK);
	worker_result_release(&res);
	assert_int_equal(waitpid(other, &status, 0), other);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
}

static void test_worker_rejects_empty_argv(void **state)
{
	const char *argv[] = { NULL };
	struct worker_opts o = { 0 };
	struct worker_result res;

	(void)state;
	o.argv = argv;
	assert_int_equal(worker_run(&res, &o), LLEM_EINVAL);
	worker_result_release(&res);
}

#define T(f) cmocka_unit_test_teardown(f, check_no_children)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_worker_ok_captures_stdout),
		T(test_worker_stdin_reaches_child),
		T(test_worker_unread_stdin_is_not_fatal),
		T(test_worker_exit_code_and_log_tail),
		T(test_worker_segv_is_process_crash),
		T(test_worker_timeout_kills_group),
		T(test_worker_ignored_sigterm_gets_sigkill),
		T(test_worker_garbage_output_passed_through),
		T(test_worker_10mb_stdout_no_deadlock),
		T(test_worker_output_cap),
		T(test_worker_log_tail_last_lines),
		T(test_worker_interrupt_sigterms_group),
		T(test_worker_second_interrupt_sigkills),
		T(test_worker_missing_program_spawn_failed),
		T(test_worker_does_not_steal_other_children),
		T(test_worker_rejects_empty_argv),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
