/* Scratch directories and files for the unit tests (see testutil.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "util/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int test_count_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		FILE *f;
		long ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		/* "pid (comm) S ppid ...": comm may hold spaces, so go from ')' */
		if (p && sscanf(p, ") %*c %ld", &ppid) == 1 && ppid == (long)getpid()) {
			fprintf(stderr, "left-over child %s: %s", e->d_name, buf);
			n++;
		}
	}
	closedir(d);
	return n;
}

int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strtol(e->d_name, NULL, 10) != dirfd(d))
			n++;
	closedir(d);
	return n;
}
