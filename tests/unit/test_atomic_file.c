/*
 * Tests for atomic file replacement: a writer killed mid-write leaves the
 * old file intact, a commit replaces it whole, an abort leaves nothing
 * behind, and failures name the directory at fault.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "util/util.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAYLOAD_SIZE (8u << 20)

static void assert_file_is(const char *path, const char *want, size_t want_len)
{
	char *data;
	size_t len;

	assert_int_equal(fs_read_file(path, &data, &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(data, want, want_len);
	free(data);
}

/* Names in dir other than "." and ".."; returns how many, first in *one. */
static size_t list_dir(const char *dir, char **one, char **temp_name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	*one = NULL;
	if (temp_name)
		*temp_name = NULL;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (temp_name && e->d_name[0] == '.' && !*temp_name)
			*temp_name = xstrdup(e->d_name);
		if (!*one)
			*one = xstrdup(e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void test_atomic_file_survives_kill_during_write(void **state)
{
	char *dir = test_tmpdir("atomic");
	char *target = xasprintf("%s/result.json", dir);
	char *first, *temp, *temp_path;
	int pfd[2], status;
	struct stat st;
	char ready;
	pid_t pid;

	(void)state;
	test_write_text(target, "OLD");
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct atomic_file *af;
		char *payload = malloc(PAYLOAD_SIZE);

		close(pfd[0]);
		if (!payload)
			_exit(1);
		memset(payload, 'N', PAYLOAD_SIZE);
		if (atomic_file_open(&af, target) ||
		    atomic_file_write(af, payload, PAYLOAD_SIZE / 2))
			_exit(1);
		if (write(pfd[1], "w", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	/* Wait until half the payload is written, then kill without mercy. */
	assert_int_equal(read(pfd[0], &ready, 1), 1);
	close(pfd[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	assert_file_is(target, "OLD", 3);
	/* Only the target and the dead writer's stale temp are there. */
	assert_int_equal(list_dir(dir, &first, &temp), 2);
	assert_non_null(temp);
	assert_true(str_starts_with(temp, ".result.json."));
	temp_path = xasprintf("%s/%s", dir, temp);
	assert_int_equal(stat(temp_path, &st), 0);
	/* The kill really came mid-write: half the payload had landed. */
	assert_int_equal(st.st_size, PAYLOAD_SIZE / 2);

	/* A later writer still replaces the target cleanly. */
	assert_int_equal(atomic_write_file(target, "NEW", 3), 0);
	assert_file_is(target, "NEW", 3);

	free(temp_path);
	free(temp);
	free(first);
	test_rm_rf(dir);
	free(target);
	free(dir);
}

static void test_atomic_file_commit_replaces(void **state)
{
	char *dir = test_tmpdir("atomic");
	char *target = xasprintf("%s/manifest.json", dir);
	struct atomic_file *af;
	char *big = xmalloc(PAYLOAD_SIZE), *first;
	struct stat st;
	size_t i;

	(void)state;
	for (i = 0; i < PAYLOAD_SIZE; i++)
		big[i] = (char)('a' + i % 23);
	test_write_text(target, "OLD");
	assert_int_equal(atomic_file_open(&af, target), 0);
	assert_int_equal(atomic_file_write(af, big, 1000), 0);
	assert_int_equal(atomic_file_write(af, big + 1000, PAYLOAD_SIZE - 1000), 0);
	/* Until commit the old content is what readers see. */
	assert_file_is(target, "OLD", 3);
	assert_int_equal(atomic_file_commit(af), 0);
	assert_file_is(target, big, PAYLOAD_SIZE);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* No temp left behind. */
	assert_int_equal(list_dir(dir, &first, NULL), 1);
	assert_string_equal(first, "manifest.json");
	free(first);

	/* Creating a new file, and an empty one, work the same way. */
	free(target);
	target = xasprintf("%s/empty", dir);
	assert_int_equal(atomic_write_file(target, "", 0), 0);
	assert_file_is(target, "", 0);

	test_rm_rf(dir);
	free(big);
	free(target);
	free(dir);
}

static void test_atomic_file_abort_leaves_nothing(void **state)
{
	char *dir = test_tmpdir("atomic");
	char *target = xasprintf("%s/study.json", dir);
	char *fresh = xasprintf("%s/fresh.json", dir);
	struct atomic_file *af;
	char *first;

	(void)state;
	test_write_text(target, "OLD");
	assert_int_equal(atomic_file_open(&af, target), 0);
	assert_int_equal(atomic_file_write(af, "partial", 7), 0);
	atomic_file_abort(af);
	assert_file_is(target, "OLD", 3);
	assert_int_equal(list_dir(dir, &first, NULL), 1);
	assert_string_equal(first, "study.json");
	free(first);

	assert_int_equal(atomic_file_open(&af, fresh), 0);
	atomic_file_abort(af);
	assert_false(fs_exists(fresh));
	assert_int_equal(list_dir(dir, &first, NULL), 1);
	free(first);
	atomic_file_abort(NULL);

	test_rm_rf(dir);
	free(fresh);
	free(target);
	free(dir);
}

static void test_atomic_file_missing_dir_named(void **state)
{
	char *dir = test_tmpdir("atomic");
	char *missing = xasprintf("%s/no/such/dir", dir);
	char *target = xasprintf("%s/result.json", missing);
	struct atomic_file *af = (struct atomic_file *)&af;

	(void)state;
	assert_int_equal(atomic_file_open(&af, target), LLEM_EIO);
	assert_null(af);
	assert_true(strstr(error_last(), missing) != NULL);
	assert_true(strstr(error_last(), "No such file or directory") != NULL);
	assert_int_equal(atomic_write_file(target, "x", 1), LLEM_EIO);
	assert_true(strstr(error_last(), missing) != NULL);
	assert_false(fs_exists(target));

	test_rm_rf(dir);
	free(target);
	free(missing);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_file_survives_kill_during_write),
		cmocka_unit_test(test_atomic_file_commit_replaces),
		cmocka_unit_test(test_atomic_file_abort_leaves_nothing),
		cmocka_unit_test(test_atomic_file_missing_dir_named),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	error_clear();
	return rc;
}
