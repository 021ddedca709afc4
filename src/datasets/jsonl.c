/*
 * The JSONL prompt loader: one JSON object per line, the prompt in the
 * first of a fixed list of fields, "_"-keyed header records skipped. The
 * file is read once and every line parsed once, so the count of available
 * prompts is exact even when only the first few are kept.
 */
#include "datasets/datasets.h"
#include "util/util.h"
#include "llem/llem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Field names tried in this order (the original tool's rule). */
static const char *const prompt_fields[] = {
	"prompt", "text", "instruction", "input", "question"
};

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static bool has_underscore_key(json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
		if (key[0] == '_')
			return true;
	return false;
}

static bool is_blank(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strchr(" \t\r", p[i]))
			return false;
	return true;
}

/*
 * Handles one non-blank line. Keeps its prompt when fewer than `want`
 * are held (want == 0: keep all); counts it in ps->available either way.
 */
static int load_line(struct prompt_set *ps, size_t *cap, const char *line,
		     size_t len, size_t lineno, size_t want)
{
	json_error_t err;
	json_t *rec, *v = NULL;
	const char *field = NULL;
	size_t i;
	int rc = 0;

	rec = json_loadb(line, len, JSON_DECODE_ANY, &err);
	if (!rec)
		return error_set(LLEM_EINVAL, "%s:%zu: invalid JSON: %s", ps->path,
				 lineno, err.text);
	if (!json_is_object(rec)) {
		rc = error_set(LLEM_EINVAL, "%s:%zu: expected a JSON object, got %s",
			       ps->path, lineno, json_kind(rec));
		goto out;
	}
	if (has_underscore_key(rec)) {
		/* A header: provenance, licence. The first one is kept. */
		if (!ps->provenance) {
			char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);

			if (s) {
				ps->provenance = xstrdup(s);
				free(s);
			}
		}
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(prompt_fields) && !v; i++) {
		field = prompt_fields[i];
		v = json_object_get(rec, field);
	}
	if (!v) {
		rc = error_set(LLEM_EINVAL,
			       "%s:%zu: record has no prompt field (expected one of "
			       "prompt, text, instruction, input, question)",
			       ps->path, lineno);
		goto out;
	}
	if (!json_is_string(v)) {
		rc = error_set(LLEM_EINVAL, "%s:%zu: '%s' must be a string, not %s",
			       ps->path, lineno, field, json_kind(v));
		goto out;
	}
	ps->available++;
	if (want == 0 || ps->count < want) {
		GROW(ps->prompts, *cap, ps->count + 1);
		ps->prompts[ps->count++] =
			xstrndup(json_string_value(v), json_string_length(v));
	}
out:
	json_decref(rec);
	return rc;
}

static int parse_lines(struct prompt_set *ps, const char *data, size_t len,
		       size_t want)
{
	size_t cap = 0, lineno = 0, pos = 0;
	int rc;

	/* A UTF-8 byte-order mark is not JSON; some editors add one. */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		lineno++;
		pos += n + 1;
		if (is_blank(line, n))
			continue;
		rc = load_line(ps, &cap, line, n, lineno, want);
		if (rc)
			return rc;
	}
	return 0;
}

int dataset_load(struct prompt_set *out, const char *name_or_path, size_t n)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	char *data = NULL;
	size_t len;
	int rc;

	*out = ps;
	rc = dataset_resolve(&ps.path, name_or_path);
	if (rc)
		goto out;
	ps.name = xstrdup(name_or_path);
	rc = fs_read_file(ps.path, &data, &len);
	if (rc)
		goto out;
	rc = parse_lines(&ps, data, len, n);
	if (rc)
		goto out;
	if (ps.available == 0) {
		rc = error_set(LLEM_EINVAL, "dataset '%s' (%s) holds no prompts",
			       ps.name, ps.path);
		goto out;
	}
	if (n > ps.available) {
		rc = error_set(LLEM_EINVAL,
			       "dataset '%s' has only %zu prompts but %zu were requested\n"
			       "hint: lower n to %zu or fewer, or use another dataset",
			       ps.name, ps.available, n, ps.available);
		goto out;
	}
	*out = ps;
out:
	free(data);
	if (rc)
		prompt_set_release(&ps);
	return rc;
}

void prompt_set_release(struct prompt_set *ps)
{
	size_t i;

	for (i = 0; i < ps->count; i++)
		free(ps->prompts[i]);
	free(ps->prompts);
	free(ps->name);
	free(ps->path);
	free(ps->provenance);
	memset(ps, 0, sizeof(*ps));
}
