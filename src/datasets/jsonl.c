/*
 * The JSONL prompt loader: one JSON object per line, the prompt in the
 * first of a fixed list of fields, "_"-keyed header records skipped. The
 * file is read once and every line parsed once, so the count of available
 * prompts is exact even when only the first few are kept -- unless a stamp
 * of an earlier full validation vouches for the rest of the file.
 */
#include "datasets/datasets.h"
#include "util/util.h"
#include "llem/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Field names tried in this order (the original tool's rule). */
static const char *const prompt_fields[] = { "prompt", "text", "instruction", "input", "question" };

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

	json_object_foreach(obj, key, v) if (key[0] == '_') return true;
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
static int load_line(struct prompt_set *ps, size_t *cap, const char *line, size_t len,
		     size_t lineno, size_t want)
{
	json_error_t err;
	json_t *rec, *v = NULL;
	const char *field = NULL;
	size_t i;
	int rc = 0;

	rec = json_loadb(line, len, JSON_DECODE_ANY, &err);
	if (!rec)
		return error_set(LLEM_EINVAL, "%s:%zu: invalid JSON: %s", ps->path, lineno,
				 err.text);
	if (!json_is_object(rec)) {
		rc = error_set(LLEM_EINVAL, "%s:%zu: expected a JSON object, got %s", ps->path,
			       lineno, json_kind(rec));
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
		rc = error_set(LLEM_EINVAL, "%s:%zu: '%s' must be a string, not %s", ps->path,
			       lineno, field, json_kind(v));
		goto out;
	}
	ps->available++;
	if (want == 0 || ps->count < want) {
		GROW(ps->prompts, *cap, ps->count + 1);
		ps->prompts[ps->count++] = xstrndup(json_string_value(v), json_string_length(v));
	}
out:
	json_decref(rec);
	return rc;
}

/* Where parse_lines() is in a buffer that may still grow. */
struct line_state {
	size_t cap, lineno, pos;
	bool bom_checked;
};

/*
 * Parses the complete lines of data[ls->pos, len), and the last,
 * unterminated one when final. Stops once `want` prompts are held when
 * stop_early (the rest of the file was validated before: dataset_stamp).
 */
static int parse_lines(struct prompt_set *ps, struct line_state *ls, const char *data, size_t len,
		       bool final, size_t want, bool stop_early)
{
	int rc;

	/* A UTF-8 byte-order mark is not JSON; some editors add one. */
	if (!ls->bom_checked && (len >= 3 || final)) {
		ls->bom_checked = true;
		if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
			ls->pos = 3;
	}
	if (!ls->bom_checked)
		return 0;
	while (ls->pos < len) {
		const char *line = data + ls->pos;
		const char *nl = memchr(line, '\n', len - ls->pos);
		size_t n = nl ? (size_t)(nl - line) : len - ls->pos;

		if (stop_early && want > 0 && ps->count == want)
			break;
		if (!nl && !final)
			break; /* the rest of this line has not been read yet */
		ls->lineno++;
		ls->pos += n + 1;
		if (is_blank(line, n))
			continue;
		rc = load_line(ps, &ls->cap, line, n, ls->lineno, want);
		if (rc)
			return rc;
	}
	return 0;
}

static int64_t mtime_ns_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The stamp describes this very file, unchanged since it was taken. */
static bool stamp_matches(const struct dataset_stamp *stamp, const char *path,
			  const struct stat *st)
{
	return stamp && stamp->path && !strcmp(stamp->path, path) &&
	       stamp->dev == (uint64_t)st->st_dev && stamp->ino == (uint64_t)st->st_ino &&
	       stamp->size == (int64_t)st->st_size && stamp->mtime_ns == mtime_ns_of(st);
}

/*
 * Reads and parses ps->path through one descriptor (whose identity goes to
 * *st). Untrusted, the whole file is read (in one read when fstat's size
 * holds) and every line parsed; trusted by a stamp, 64 KiB at a time until
 * want prompts are held, so a run of 10 prompts reads a few KiB, not 1.7 MB.
 */
static int read_and_parse(struct prompt_set *ps, size_t want, const struct dataset_stamp *stamp,
			  struct stat *st, bool *trusted)
{
	struct line_state ls = { 0 };
	int fd = open(ps->path, O_RDONLY | O_CLOEXEC);
	size_t cap, len = 0;
	char *buf;
	int rc = 0;

	*trusted = false;
	if (fd < 0)
		return error_set_errno(errno == ENOENT ? LLEM_ENOTFOUND : LLEM_EIO,
				       "cannot open '%s'", ps->path);
	if (fstat(fd, st) != 0) {
		rc = error_set_errno(LLEM_EIO, "cannot stat '%s'", ps->path);
		close(fd);
		return rc;
	}
	*trusted = want > 0 && stamp_matches(stamp, ps->path, st);
	cap = *trusted ? 65536 : st->st_size > 0 ? (size_t)st->st_size + 1 : 4096;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;
		bool eof;

		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, *trusted && cap - len > 65536 ? 65536 : cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_set_errno(LLEM_EIO, "cannot read '%s'", ps->path);
			break;
		}
		eof = n == 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (*trusted || eof)
			rc = parse_lines(ps, &ls, buf, len, eof, want, *trusted);
		if (rc || eof || (*trusted && ps->count == want))
			break;
	}
	close(fd);
	free(buf);
	return rc;
}

static int load(struct prompt_set *out, const char *name_or_path, size_t n,
		const struct dataset_stamp *stamp, struct stat *st)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	bool trusted;
	int rc;

	*out = ps;
	rc = dataset_resolve(&ps.path, name_or_path);
	if (rc)
		goto out;
	ps.name = xstrdup(name_or_path);
	rc = read_and_parse(&ps, n, stamp, st, &trusted);
	if (rc)
		goto out;
	if (trusted)
		ps.available = stamp->available;
	if (ps.available == 0) {
		rc = error_set(LLEM_EINVAL, "dataset '%s' (%s) holds no prompts", ps.name, ps.path);
		goto out;
	}
	if (n > ps.available) {
		rc = error_set(LLEM_EINVAL,
			       "dataset '%s' has only %zu prompts but %zu were requested\n"
			       "hint: lower n to %zu or fewer, or use another dataset",
			       ps.name, ps.available, n, ps.available);
		goto out;
	}
	if (trusted && ps.count != n) {
		/* Same size, inode and time as stamped, yet not the same text. */
		rc = error_set(LLEM_EIO, "dataset file '%s' changed while in use", ps.path);
		goto out;
	}
	*out = ps;
out:
	if (rc)
		prompt_set_release(&ps);
	return rc;
}

int dataset_load(struct prompt_set *out, const char *name_or_path, size_t n)
{
	struct stat st;

	return load(out, name_or_path, n, NULL, &st);
}

int dataset_load_stamped(struct prompt_set *out, const char *name_or_path, size_t n,
			 const struct dataset_stamp *stamp)
{
	struct stat st;

	return load(out, name_or_path, n, stamp, &st);
}

int dataset_stamp_take(struct dataset_stamp *out, const char *name_or_path)
{
	struct prompt_set ps;
	struct stat st;
	int rc = load(&ps, name_or_path, 0, NULL, &st);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	out->path = ps.path;
	ps.path = NULL;
	out->dev = (uint64_t)st.st_dev;
	out->ino = (uint64_t)st.st_ino;
	out->size = (int64_t)st.st_size;
	out->mtime_ns = mtime_ns_of(&st);
	out->available = ps.available;
	prompt_set_release(&ps);
	return 0;
}

void dataset_stamp_release(struct dataset_stamp *s)
{
	free(s->path);
	memset(s, 0, sizeof(*s));
}

void dataset_stamp_format(const struct dataset_stamp *s, struct strbuf *out)
{
	strbuf_addf(out, "%llu:%llu:%lld:%lld:%zu:%s", (unsigned long long)s->dev,
		    (unsigned long long)s->ino, (long long)s->size, (long long)s->mtime_ns,
		    s->available, s->path);
}

int dataset_stamp_parse(struct dataset_stamp *out, const char *text)
{
	int64_t v[5];
	const char *p = text;
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < 5; i++) {
		const char *colon = strchr(p, ':');
		char *num;
		int bad;

		if (!colon)
			return error_set(LLEM_EINVAL, "invalid dataset stamp '%s'", text);
		num = xstrndup(p, (size_t)(colon - p));
		bad = parse_int64(num, &v[i]) != 0 || v[i] < 0;
		free(num);
		if (bad)
			return error_set(LLEM_EINVAL, "invalid dataset stamp '%s'", text);
		p = colon + 1;
	}
	if (!*p)
		return error_set(LLEM_EINVAL, "invalid dataset stamp '%s'", text);
	out->dev = (uint64_t)v[0];
	out->ino = (uint64_t)v[1];
	out->size = v[2];
	out->mtime_ns = v[3];
	out->available = (size_t)v[4];
	out->path = xstrdup(p);
	return 0;
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
