/*
 * One llem per study directory: an exclusive flock(2) on <dir>/.llem.lock,
 * held for the study's lifetime. Two runners on one study (two
 * `llem run S --resume DIR` at once) would both run the pending runs and
 * measure each other's load; the second one stops before it touches the
 * manifest. The lock file holds the holder's PID, for the message. The
 * kernel drops the lock when the holder dies, however it dies, so a
 * killed study never stays locked.
 */
#include "study/study.h"
#include "llem/errors.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCK_FILE ".llem.lock"

/* The PID written in an open lock file, or 0 when it holds none. */
static long holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : 0;
}

/* Records our PID in the lock file, for the other runner's message. */
static bool write_pid(int fd)
{
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	return ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len;
}

int study_lock(int *out_fd, const char *dir)
{
	char *path = xasprintf("%s/%s", dir, LOCK_FILE);
	int fd, rc = 0;

	*out_fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = error_set_errno(LLEM_EIO, "cannot open the study lock '%s'", path);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		long holder = holder_pid(fd);

		if (errno == EWOULDBLOCK && holder > 0)
			rc = error_set(
				LLEM_ERROR,
				"the study in '%s' is being run by another llem (PID %ld): two "
				"runs of one study would measure each other; wait for it to end "
				"or stop it first",
				dir, holder);
		else if (errno == EWOULDBLOCK)
			rc = error_set(
				LLEM_ERROR,
				"the study in '%s' is being run by another llem: two runs of one "
				"study would measure each other; wait for it to end or stop it "
				"first",
				dir);
		else
			rc = error_set_errno(LLEM_EIO, "cannot lock '%s'", path);
		close(fd);
		goto out;
	}
	/* A PID that cannot be written costs the other runner's message its
	 * PID, not us the lock. */
	(void)write_pid(fd);
	*out_fd = fd;
out:
	free(path);
	return rc;
}

void study_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor releases the flock */
}
