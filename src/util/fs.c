/* Small filesystem helpers; errors go to error_set with the path named. */
#include "util/util.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_read_file(const char *path, char **out, size_t *out_len)
{
	struct strbuf sb = STRBUF_INIT;
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return error_set_errno(errno == ENOENT ? LLEM_ENOTFOUND : LLEM_EIO,
				       "cannot open '%s'", path);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = error_set_errno(LLEM_EIO, "cannot read '%s'", path);

			close(fd);
			strbuf_release(&sb);
			return rc;
		}
		if (n == 0)
			break;
		strbuf_add(&sb, chunk, (size_t)n);
	}
	close(fd);
	if (out_len)
		*out_len = sb.len;
	*out = strbuf_detach(&sb);
	return 0;
}

bool fs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

char *fs_join(const char *dir, const char *name)
{
	if (name[0] == '/' || !dir || !*dir)
		return xstrdup(name);
	return xasprintf("%s%s%s", dir, str_ends_with(dir, "/") ? "" : "/", name);
}

char *fs_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return fs_dirname(buf);
}

int fs_mkdirs(const char *path, unsigned mode)
{
	char *copy;
	char *p;
	int rc = 0;

	/* The scan below starts at copy + 1, past the end of "". */
	if (!*path)
		return error_set(LLEM_EINVAL, "cannot create a directory with an empty name");
	copy = xstrdup(path);
	for (p = copy + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
				rc = error_set_errno(LLEM_EIO, "cannot create directory '%s'",
						     copy);
				break;
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	if (rc == 0 && !fs_is_dir(path))
		rc = error_set(LLEM_EIO, "'%s' exists and is not a directory", path);
	free(copy);
	return rc;
}

int fs_mkdir_unique(char **out, const char *base)
{
	int k;

	*out = NULL;
	for (k = 0; k < 1000; k++) {
		char *path = k ? xasprintf("%s_%d", base, k) : xstrdup(base);

		if (mkdir(path, 0755) == 0) {
			*out = path;
			return 0;
		}
		if (errno != EEXIST) {
			int rc = error_set_errno(LLEM_EIO, "cannot create '%s'", path);

			free(path);
			return rc;
		}
		free(path);
	}
	return error_set(LLEM_EIO, "too many directories named '%s'", base);
}
