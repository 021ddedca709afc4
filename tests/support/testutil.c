/* Scratch directories and files for the unit tests (see testutil.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

char *test_tmpdir(const char *tag)
{
	char *dir = xasprintf("/tmp/llem-test-%s-XXXXXX", tag);

	assert_non_null(mkdtemp(dir));
	return dir;
}

void test_rm_rf(const char *dir)
{
	pid_t pid = fork();
	int status;

	/* Only ever a mkdtemp directory of ours; argv, no shell. */
	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void test_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}
