/*
 * Built-in datasets: their names and where their files are found at run
 * time. The search covers an override, an installed tree next to the
 * binary (relocatable installs), the configured prefix and the source tree
 * (running from a build directory), so no run ever needs the network.
 */
#include "datasets/datasets.h"
#include "util/util.h"
#include "llem/errors.h"
#include "build_info.h"

#include <stdlib.h>
#include <string.h>

static const char *const builtin_names[] = { "aienergyscore" };

size_t dataset_builtin_names(const char *const **out)
{
	*out = builtin_names;
	return ARRAY_SIZE(builtin_names);
}

bool dataset_name_is_path(const char *name)
{
	return str_ends_with(name, ".jsonl") || strchr(name, '/') != NULL;
}

static bool is_builtin(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(builtin_names); i++)
		if (!strcmp(name, builtin_names[i]))
			return true;
	return false;
}

static int unknown_builtin(const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	const char *guess;
	size_t i;
	int rc;

	guess = did_you_mean(name, builtin_names, ARRAY_SIZE(builtin_names), 3);
	strbuf_addf(&sb, "unknown dataset '%s'", name);
	if (guess)
		strbuf_addf(&sb, " (did you mean '%s'?)", guess);
	strbuf_adds(&sb, "; built-in datasets:");
	for (i = 0; i < ARRAY_SIZE(builtin_names); i++)
		strbuf_addf(&sb, "%s %s", i ? "," : "", builtin_names[i]);
	strbuf_adds(&sb, "\nhint: a JSONL file is named by a path ending in '.jsonl'");
	rc = error_set(LLEM_ENOTFOUND, "%s", strbuf_str(&sb));
	strbuf_release(&sb);
	return rc;
}

/* Tries dir/rel; on a hit moves the path into *out. */
static bool try_candidate(char **out, struct strbuf *tried, const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);

	if (fs_exists(path)) {
		*out = path;
		return true;
	}
	strbuf_addf(tried, "\n  %s", path);
	free(path);
	return false;
}

static int find_builtin(char **out_path, const char *name)
{
	struct strbuf tried = STRBUF_INIT;
	const char *env = getenv("LLEM_DATA_DIR");
	char *rel = xasprintf("datasets/%s.jsonl", name);
	char *exe_dir = fs_exe_dir();
	char *dir;
	bool found = false;
	int rc = 0;

	if (env && *env)
		found = try_candidate(out_path, &tried, env, rel);
	if (!found && exe_dir) {
		dir = xasprintf("%s/../share/llem", exe_dir);
		found = try_candidate(out_path, &tried, dir, rel);
		free(dir);
	}
	if (!found)
		found = try_candidate(out_path, &tried, LLEM_INSTALL_DATADIR, rel);
	if (!found)
		found = try_candidate(out_path, &tried, LLEM_SOURCE_DIR, rel);
	if (!found)
		rc = error_set(LLEM_ENOTFOUND,
			       "built-in dataset '%s' is not installed; looked for:%s\n"
			       "hint: set LLEM_DATA_DIR to a directory holding datasets/%s.jsonl",
			       name, strbuf_str(&tried), name);
	free(exe_dir);
	free(rel);
	strbuf_release(&tried);
	return rc;
}

int dataset_resolve(char **out_path, const char *name)
{
	*out_path = NULL;
	if (!name || !*name)
		return error_set(LLEM_EINVAL, "dataset name is empty");
	if (dataset_name_is_path(name)) {
		if (!fs_exists(name))
			return error_set(LLEM_ENOTFOUND, "dataset file '%s' does not exist", name);
		if (fs_is_dir(name))
			return error_set(LLEM_EINVAL, "dataset file '%s' is a directory", name);
		*out_path = xstrdup(name);
		return 0;
	}
	if (!is_builtin(name))
		return unknown_builtin(name);
	return find_builtin(out_path, name);
}
