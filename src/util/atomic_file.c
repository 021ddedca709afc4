/*
 * Atomic file replacement (docs/results.md, "written atomically"): temp file in the target's
 * directory, write, fsync, close, rename over the target, fsync the
 * directory. A file under its final name is therefore always complete.
 * After a failed fsync the temp is deleted and the write fails: the kernel
 * may have dropped the dirty pages, so retrying would prove nothing.
 */
#define _GNU_SOURCE /* mkostemp */
#include "util/util.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct atomic_file {
	char *path;
	char *tmp_path;
	char *dir;
	int fd;
};

int atomic_file_open(struct atomic_file **out, const char *path)
{
	struct atomic_file *af;
	const char *base = strrchr(path, '/');

	*out = NULL;
	af = xcalloc(1, sizeof(*af));
	af->path = xstrdup(path);
	af->dir = fs_dirname(path);
	base = base ? base + 1 : path;
	af->tmp_path = xasprintf("%s/.%s.XXXXXX", af->dir, base);
	af->fd = mkostemp(af->tmp_path, O_CLOEXEC);
	if (af->fd < 0) {
		int rc = error_set_errno(LLEM_EIO, "cannot create a temporary file in '%s'",
					 af->dir);

		free(af->path);
		free(af->dir);
		free(af->tmp_path);
		free(af);
		return rc;
	}
	/* mkstemp creates 0600; results are meant to be shared. */
	if (fchmod(af->fd, 0644) != 0) {
		int rc = error_set_errno(LLEM_EIO, "cannot chmod '%s'", af->tmp_path);

		atomic_file_abort(af);
		return rc;
	}
	*out = af;
	return 0;
}

int atomic_file_write(struct atomic_file *af, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = write(af->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return error_set_errno(LLEM_EIO, "cannot write '%s'", af->path);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void atomic_file_free(struct atomic_file *af)
{
	free(af->path);
	free(af->tmp_path);
	free(af->dir);
	free(af);
}

void atomic_file_abort(struct atomic_file *af)
{
	if (!af)
		return;
	if (af->fd >= 0)
		close(af->fd);
	unlink(af->tmp_path);
	atomic_file_free(af);
}

int atomic_file_commit(struct atomic_file *af)
{
	int rc = 0, dfd;

	if (fsync(af->fd) != 0) {
		rc = error_set_errno(LLEM_EIO, "cannot fsync '%s'", af->path);
		atomic_file_abort(af);
		return rc;
	}
	if (close(af->fd) != 0) {
		af->fd = -1;
		rc = error_set_errno(LLEM_EIO, "cannot close '%s'", af->path);
		atomic_file_abort(af);
		return rc;
	}
	af->fd = -1;
	if (rename(af->tmp_path, af->path) != 0) {
		rc = error_set_errno(LLEM_EIO, "cannot rename into '%s'", af->path);
		atomic_file_abort(af);
		return rc;
	}
	dfd = open(af->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rc = error_set_errno(LLEM_EIO, "cannot fsync directory '%s'", af->dir);
	if (dfd >= 0)
		close(dfd);
	atomic_file_free(af);
	return rc;
}

int atomic_write_file(const char *path, const void *data, size_t n)
{
	struct atomic_file *af;
	int rc = atomic_file_open(&af, path);

	if (rc)
		return rc;
	rc = atomic_file_write(af, data, n);
	if (rc) {
		atomic_file_abort(af);
		return rc;
	}
	return atomic_file_commit(af);
}
