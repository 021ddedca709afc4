/*
 * Distribution name from os-release(5): PRETTY_NAME, else NAME. Values use
 * shell quoting; only the subset os-release allows is undone ('...',
 * "..." with \" \\ \$ \` escapes, or a bare word).
 */
#include "env/env.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/* Unquotes one os-release value; NULL when the quoting is broken. */
static char *unquote(const char *v, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	char quote;

	if (len == 0 || (v[0] != '"' && v[0] != '\''))
		return xstrndup(v, len);
	quote = v[0];
	if (len < 2 || v[len - 1] != quote) {
		strbuf_release(&sb);
		return NULL;
	}
	for (size_t i = 1; i + 1 < len; i++) {
		if (quote == '"' && v[i] == '\\' && i + 2 < len && strchr("\"\\$`", v[i + 1]))
			i++;
		strbuf_addch(&sb, v[i]);
	}
	return strbuf_detach(&sb);
}

/* Value of KEY=... in an os-release text, unquoted, or NULL. */
static char *os_release_value(const char *text, const char *key)
{
	size_t key_len = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
			len--;
		if (len > key_len && strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
			char *value = unquote(p + key_len + 1, len - key_len - 1);

			if (value && *value)
				return value;
			free(value);
			return NULL;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

char *env_distro_name(const char *os_release_path)
{
	char *text = NULL;
	char *name;

	if (fs_read_file(os_release_path, &text, NULL) != 0)
		return NULL;
	name = os_release_value(text, "PRETTY_NAME");
	if (!name)
		name = os_release_value(text, "NAME");
	free(text);
	return name;
}
