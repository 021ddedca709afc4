/*
 * Test driver for tests/cli/test_numfmt_python.py: runs util functions on
 * one input per stdin line so Python can compare each output with its own
 * repr(), float(), hashlib and json.dumps.
 *
 *   numfmt_dump [--numfmt]   C hex-float ("%a") in, numfmt_double out
 *   numfmt_dump --parse      decimal text in, parse_double as "%a" or "ERR"
 *   numfmt_dump --sha256     hex bytes in, SHA-256 hex out
 *   numfmt_dump --quote      hex bytes in, json_quote(ascii_only) out
 *   numfmt_dump --quote-utf8 hex bytes in, json_quote(UTF-8 kept) out
 */
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { NUMFMT, PARSE, SHA, QUOTE, QUOTE_UTF8 };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex text into sb; -1 on a malformed line. */
static int unhex(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	if (len % 2)
		return -1;
	for (i = 0; i < len; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		strbuf_addch(sb, (char)(hi << 4 | lo));
	}
	return 0;
}

static int handle(enum mode mode, const char *line, size_t len, struct strbuf *out)
{
	struct strbuf bytes = STRBUF_INIT;
	char hex[65], *end;
	double v;
	int rc = 0;

	switch (mode) {
	case NUMFMT:
		v = strtod(line, &end);
		if (end == line || *end)
			return -1;
		numfmt_double(out, v);
		break;
	case PARSE:
		if (parse_double(line, &v))
			strbuf_adds(out, "ERR");
		else
			strbuf_addf(out, "%a", v);
		break;
	case SHA:
	case QUOTE:
	case QUOTE_UTF8:
		if (unhex(&bytes, line, len)) {
			rc = -1;
			break;
		}
		if (mode == SHA) {
			sha256_hex(bytes.buf ? bytes.buf : "", bytes.len, hex, 64);
			strbuf_adds(out, hex);
		} else {
			json_quote(out, strbuf_str(&bytes), mode == QUOTE);
		}
		break;
	}
	strbuf_release(&bytes);
	return rc;
}

int main(int argc, char **argv)
{
	struct strbuf out = STRBUF_INIT;
	enum mode mode = NUMFMT;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (argc > 1) {
		if (!strcmp(argv[1], "--numfmt"))
			mode = NUMFMT;
		else if (!strcmp(argv[1], "--parse"))
			mode = PARSE;
		else if (!strcmp(argv[1], "--sha256"))
			mode = SHA;
		else if (!strcmp(argv[1], "--quote"))
			mode = QUOTE;
		else if (!strcmp(argv[1], "--quote-utf8"))
			mode = QUOTE_UTF8;
		else {
			fprintf(stderr, "numfmt_dump: unknown mode '%s'\n", argv[1]);
			return 2;
		}
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		size_t len = (size_t)n;

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		strbuf_reset(&out);
		if (handle(mode, line, len, &out)) {
			fprintf(stderr, "numfmt_dump: line %zu: cannot read '%s'\n", lineno, line);
			rc = 1;
			break;
		}
		strbuf_addch(&out, '\n');
		if (fwrite(out.buf, 1, out.len, stdout) != out.len) {
			perror("numfmt_dump: write");
			rc = 1;
			break;
		}
	}
	if (fflush(stdout) != 0) {
		perror("numfmt_dump: write");
		rc = 1;
	}
	free(line);
	strbuf_release(&out);
	return rc;
}
