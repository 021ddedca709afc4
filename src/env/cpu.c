/*
 * CPU facts from /proc/cpuinfo and cpufreq sysfs: model name, physical core
 * count and the frequency governor. The parsers take paths so tests can
 * point them at fixture files.
 */
#include "env/env.h"
#include "util/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Trims ASCII whitespace at both ends in place; returns the new start. */
static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Splits a "key<TAB>: value" cpuinfo line. Returns false for lines without
 * a colon (blank separators between processors).
 */
static bool split_line(char *line, char **key, char **value)
{
	char *colon = strchr(line, ':');

	if (!colon)
		return false;
	*colon = '\0';
	*key = trim(line);
	*value = trim(colon + 1);
	return true;
}

/* Value of the first line whose key is `key`, newly allocated, or NULL. */
static char *cpuinfo_first(const char *text, const char *key)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, len);
		char *k, *v;
		char *found = NULL;

		if (split_line(line, &k, &v) && strcmp(k, key) == 0 && *v)
			found = xstrdup(v);
		free(line);
		if (found)
			return found;
		p += len + (nl ? 1 : 0);
	}
	return NULL;
}

char *env_cpu_model(const char *cpuinfo_path)
{
	/* x86 "model name"; older ARM kernels "Hardware"; MIPS "cpu model". */
	static const char *const keys[] = { "model name", "Hardware", "cpu model" };
	char *text = NULL;
	char *model = NULL;

	if (fs_read_file(cpuinfo_path, &text, NULL) != 0)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(keys) && !model; i++)
		model = cpuinfo_first(text, keys[i]);
	free(text);
	return model;
}

struct core_id {
	int64_t package, core;
};

static void add_core(struct core_id **cores, size_t *count, size_t *cap, int64_t package,
		     int64_t core)
{
	for (size_t i = 0; i < *count; i++)
		if ((*cores)[i].package == package && (*cores)[i].core == core)
			return;
	GROW(*cores, *cap, *count + 1);
	(*cores)[*count].package = package;
	(*cores)[*count].core = core;
	(*count)++;
}

int env_cpu_physical_cores(const char *cpuinfo_path)
{
	struct core_id *cores = NULL;
	size_t count = 0, cap = 0;
	/* -1: not seen in the current processor block */
	int64_t package = -1, core = -1;
	char *text = NULL;
	const char *p;
	int result = -1;

	if (fs_read_file(cpuinfo_path, &text, NULL) != 0)
		return -1;
	/*
	 * One block per logical CPU, each starting with "processor". A block
	 * without "physical id" (single-package VMs sometimes) counts as
	 * package 0; one without "core id" tells us nothing.
	 */
	p = text;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, len);
		char *k, *v;
		bool is_kv = split_line(line, &k, &v);
		bool block_end = !is_kv || strcmp(k, "processor") == 0;
		int64_t n;

		if (block_end) {
			if (core >= 0)
				add_core(&cores, &count, &cap, package >= 0 ? package : 0, core);
			package = core = -1;
		}
		if (is_kv && parse_int64(v, &n) == 0 && n >= 0) {
			if (strcmp(k, "physical id") == 0)
				package = n;
			else if (strcmp(k, "core id") == 0)
				core = n;
		}
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	/* the last block, when no blank line follows it */
	if (core >= 0)
		add_core(&cores, &count, &cap, package >= 0 ? package : 0, core);
	if (count > 0 && count <= 1000000)
		result = (int)count;
	free(cores);
	free(text);
	return result;
}

char *env_cpu_governor(const char *governor_path)
{
	char *text = NULL;
	char *value = NULL;
	char *t;

	if (fs_read_file(governor_path, &text, NULL) != 0)
		return NULL;
	t = trim(text);
	if (*t && !strchr(t, '\n'))
		value = xstrdup(t);
	free(text);
	return value;
}
