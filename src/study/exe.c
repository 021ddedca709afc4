/*
 * Finding the llem executable that runs a study's workers. The CLI names
 * itself; a program using libllem has no llem of its own, so the library
 * looks where an install puts it, the way datasets are found (builtin.c).
 */
#define _GNU_SOURCE /* dladdr */
#include "study/study.h"
#include "llem/errors.h"
#include "util/util.h"

#include "build_info.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Takes path: on a hit moves it to *out, else notes it in tried. */
static bool try_path(char **out, struct strbuf *tried, char *path)
{
	if (is_executable_file(path)) {
		*out = path;
		return true;
	}
	strbuf_addf(tried, "\n  %s", path);
	free(path);
	return false;
}

/* Any object of this file: dladdr finds the module holding it. */
static const char anchor = 0;

/* The directory of the shared library (or program) this code is in. */
static char *own_object_dir(void)
{
	Dl_info info;

	if (!dladdr(&anchor, &info) || !info.dli_fname || !strchr(info.dli_fname, '/'))
		return NULL;
	return fs_dirname(info.dli_fname);
}

/* <prefix>/bin/llem as configured at build time. */
static char *install_exe(void)
{
	return xstrdup(LLEM_INSTALL_BINDIR "/llem");
}

static bool search_path(char **out, struct strbuf *tried)
{
	const char *path = getenv("PATH");
	const char *p = path;

	if (!path || !*path) {
		strbuf_adds(tried, "\n  llem on PATH (PATH is empty)");
		return false;
	}
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		/* An empty entry means the current directory: not trusted. */
		if (n > 0) {
			char *cand = xasprintf("%.*s/llem", (int)n, p);

			if (is_executable_file(cand)) {
				*out = cand;
				return true;
			}
			free(cand);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	strbuf_addf(tried, "\n  llem on PATH (%s)", path);
	return false;
}

int study_find_llem_exe(char **out, const char *explicit_path)
{
	struct strbuf tried = STRBUF_INIT;
	const char *env = getenv("LLEM_EXE");
	char *dir, *inst;
	bool found = false;
	int rc = 0;

	*out = NULL;
	if (explicit_path || (env && *env)) {
		const char *p = explicit_path ? explicit_path : env;

		if (is_executable_file(p)) {
			*out = xstrdup(p);
			return 0;
		}
		return error_set(LLEM_ENOTFOUND,
				 "the llem executable for study workers, '%s' (from %s), is not an "
				 "executable file",
				 p, explicit_path ? "llem_exe" : "LLEM_EXE");
	}
	dir = own_object_dir();
	if (dir) {
		/* lib/ or lib64/, lib/<multiarch triplet>/, a build tree. */
		found = try_path(out, &tried, xasprintf("%s/../bin/llem", dir)) ||
			try_path(out, &tried, xasprintf("%s/../../bin/llem", dir)) ||
			try_path(out, &tried, xasprintf("%s/llem", dir));
		free(dir);
	}
	inst = found ? NULL : install_exe();
	if (inst)
		found = try_path(out, &tried, inst);
	if (!found)
		found = search_path(out, &tried);
	if (!found)
		rc = error_set(
			LLEM_ENOTFOUND,
			"cannot find the llem executable to run study workers; looked for:%s\n"
			"hint: set llem_study_options.llem_exe or the LLEM_EXE environment "
			"variable to the llem binary",
			strbuf_str(&tried));
	strbuf_release(&tried);
	return rc;
}
