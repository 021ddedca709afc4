/*
 * Installed memory from /proc/meminfo. MemTotal is what the kernel can
 * use (a little under the DIMM size), reported in MiB.
 */
#include "env/env.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

int64_t env_memory_total_mb(const char *meminfo_path)
{
	char *text = NULL;
	const char *p;
	int64_t result = -1;

	if (fs_read_file(meminfo_path, &text, NULL) != 0)
		return -1;
	for (p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		char *line, *fields, *unit;
		int64_t kib;

		if (!str_starts_with(p, "MemTotal:")) {
			p = end ? end + 1 : NULL;
			continue;
		}
		/* "MemTotal:       16318412 kB" */
		line = end ? xstrndup(p, (size_t)(end - p)) : xstrdup(p);
		fields = line + strlen("MemTotal:");
		fields += strspn(fields, " \t");
		unit = fields + strcspn(fields, " \t");
		if (*unit) {
			*unit++ = '\0';
			unit += strspn(unit, " \t");
		}
		if (parse_int64(fields, &kib) == 0 && kib > 0 && strcmp(unit, "kB") == 0)
			result = kib / 1024;
		free(line);
		break;
	}
	free(text);
	return result;
}
