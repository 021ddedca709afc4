/*
 * A streaming JSON writer. Two layouts: pretty (results, manifests) and the
 * one-line layout of Python's json.dumps (canonical config for hashing).
 * Doubles use numfmt_double, so every number reads back bit-exact; a
 * non-finite double is written as null (JSON has no NaN).
 */
#include "util/util.h"

#include <math.h>
#include <string.h>

void jsonw_init(struct jsonw *w, struct strbuf *out, enum jsonw_style style)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->style = style;
	w->ascii_only = style == JSONW_PYTHON;
}

static void newline(struct jsonw *w)
{
	int i;

	strbuf_addch(w->out, '\n');
	for (i = 0; i < w->depth; i++)
		strbuf_adds(w->out, "  ");
}

/* Separator before a value in an array, or before a key in an object. */
static void before_item(struct jsonw *w)
{
	if (w->need_comma)
		strbuf_adds(w->out, w->style == JSONW_PYTHON ? ", " : ",");
	if (w->style == JSONW_PRETTY && w->depth > 0)
		newline(w);
}

static void before_value(struct jsonw *w)
{
	/* After a key the value follows directly; the key did the comma. */
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	before_item(w);
}

void jsonw_key(struct jsonw *w, const char *key)
{
	before_item(w);
	json_quote(w->out, key, w->ascii_only);
	strbuf_adds(w->out, ": ");
	w->need_comma = false;
	w->after_key = true;
}

static void after_value(struct jsonw *w)
{
	w->need_comma = true;
}

static void open_container(struct jsonw *w, char c)
{
	before_value(w);
	strbuf_addch(w->out, c);
	w->depth++;
	w->need_comma = false;
}

static void close_container(struct jsonw *w, char c)
{
	bool empty = !w->need_comma;

	w->depth--;
	if (w->style == JSONW_PRETTY && !empty)
		newline(w);
	strbuf_addch(w->out, c);
	after_value(w);
}

void jsonw_object_begin(struct jsonw *w)
{
	open_container(w, '{');
}
void jsonw_object_end(struct jsonw *w)
{
	close_container(w, '}');
}
void jsonw_array_begin(struct jsonw *w)
{
	open_container(w, '[');
}
void jsonw_array_end(struct jsonw *w)
{
	close_container(w, ']');
}

void jsonw_string(struct jsonw *w, const char *s)
{
	before_value(w);
	if (s)
		json_quote(w->out, s, w->ascii_only);
	else
		strbuf_adds(w->out, "null");
	after_value(w);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	before_value(w);
	strbuf_addf(w->out, "%lld", (long long)v);
	after_value(w);
}

void jsonw_double(struct jsonw *w, double v)
{
	before_value(w);
	if (isfinite(v))
		numfmt_double(w->out, v);
	else
		strbuf_adds(w->out, "null");
	after_value(w);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_value(w);
	strbuf_adds(w->out, v ? "true" : "false");
	after_value(w);
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	strbuf_adds(w->out, "null");
	after_value(w);
}

void jsonw_put_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_put_count(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	if (v < 0)
		jsonw_null(w);
	else
		jsonw_int(w, v);
}

void jsonw_put_double(struct jsonw *w, const char *key, double v)
{
	jsonw_key(w, key);
	jsonw_double(w, v);
}

void jsonw_put_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_raw(struct jsonw *w, const char *json)
{
	before_value(w);
	strbuf_adds(w->out, json);
	after_value(w);
}

/* Decodes one UTF-8 sequence; returns its length, or 0 if malformed. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n, i;
	uint32_t c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	/*
	 * Overlong forms, UTF-16 surrogates and values past U+10FFFF are not
	 * UTF-8; passing them on would write JSON that strict readers reject.
	 */
	if (c < min_cp[n] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
		return 0;
	*cp = c;
	return n;
}

void json_quote(struct strbuf *out, const char *s, bool ascii_only)
{
	const unsigned char *p = (const unsigned char *)s;

	strbuf_addch(out, '"');
	while (*p) {
		unsigned char c = *p;
		uint32_t cp;
		size_t n;

		switch (c) {
		case '"':
			strbuf_adds(out, "\\\"");
			p++;
			continue;
		case '\\':
			strbuf_adds(out, "\\\\");
			p++;
			continue;
		case '\n':
			strbuf_adds(out, "\\n");
			p++;
			continue;
		case '\r':
			strbuf_adds(out, "\\r");
			p++;
			continue;
		case '\t':
			strbuf_adds(out, "\\t");
			p++;
			continue;
		case '\b':
			strbuf_adds(out, "\\b");
			p++;
			continue;
		case '\f':
			strbuf_adds(out, "\\f");
			p++;
			continue;
		default: break;
		}
		if (c < 0x20 || (c == 0x7F && ascii_only)) {
			/* As Python: DEL is escaped only under ensure_ascii. */
			strbuf_addf(out, "\\u%04x", c);
			p++;
			continue;
		}
		if (c < 0x80) {
			strbuf_addch(out, (char)c);
			p++;
			continue;
		}
		n = utf8_decode(p, &cp);
		if (n == 0) {
			/* Not UTF-8: write U+FFFD rather than invalid JSON. */
			strbuf_adds(out, ascii_only ? "\\ufffd" : "\xef\xbf\xbd");
			p++;
			continue;
		}
		if (!ascii_only) {
			strbuf_add(out, p, n);
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			strbuf_addf(out, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
				    0xDC00 + (cp & 0x3FF));
		} else {
			strbuf_addf(out, "\\u%04x", cp);
		}
		p += n;
	}
	strbuf_addch(out, '"');
}
