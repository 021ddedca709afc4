/*
 * Number formatting and strict parsing. numfmt_double writes the shortest
 * decimal that round-trips, in Python repr() layout, so that canonical JSON
 * written here equals json.dumps() of the same values byte for byte.
 */
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Adds one unit in the last digit of "[-]D[.DDD]e[+-]XX" in place; a carry
 * out of the first digit leaves two digits before the point ("10.00e-05").
 */
static void bump_last_digit(char *buf)
{
	char *p = strchr(buf, 'e') - 1;

	for (;; p--) {
		if (*p == '.')
			continue;
		if (*p != '9') {
			(*p)++;
			return;
		}
		*p = '0';
		if (p == buf || p[-1] == '-') {
			memmove(p + 1, p, strlen(p) + 1);
			*p = '1';
			return;
		}
	}
}

void numfmt_double(struct strbuf *out, double v)
{
	char buf[40], digits[20];
	int prec, exp10, decpt, nd = 0, nint = 0, i, e2;
	bool seen_point = false;
	bool pow2 = fabs(frexp(v, &e2)) == 0.5;
	char *p;

	if (isnan(v)) {
		strbuf_adds(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strbuf_adds(out, v < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (v == 0) {
		strbuf_adds(out, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec, v);
		if (strtod(buf, NULL) == v)
			break;
		/*
		 * At a power of two the decimals that read back as v reach
		 * twice as far above v as below it, so when the nearest
		 * prec-digit decimal misses below, the next one up may still
		 * hit. Python's repr (shortest round-trip) takes that one.
		 */
		if (pow2) {
			bump_last_digit(buf);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	/* buf is "[-]D[.DDD]e[+-]XX": split into digits and exponent. */
	p = buf;
	if (*p == '-') {
		strbuf_addch(out, '-');
		p++;
	}
	for (; *p && *p != 'e'; p++) {
		if (*p == '.') {
			seen_point = true;
			continue;
		}
		digits[nd++] = *p;
		nint += !seen_point;
	}
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp10 = (int)strtol(p + 1, NULL, 10);
	decpt = exp10 + nint;
	exp10 = decpt - 1;

	if (decpt <= -4 || decpt > 16) {
		strbuf_addch(out, digits[0]);
		if (nd > 1) {
			strbuf_addch(out, '.');
			strbuf_add(out, digits + 1, (size_t)nd - 1);
		}
		strbuf_addf(out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
	} else if (decpt <= 0) {
		strbuf_adds(out, "0.");
		for (i = 0; i < -decpt; i++)
			strbuf_addch(out, '0');
		strbuf_add(out, digits, (size_t)nd);
	} else if (decpt < nd) {
		strbuf_add(out, digits, (size_t)decpt);
		strbuf_addch(out, '.');
		strbuf_add(out, digits + decpt, (size_t)(nd - decpt));
	} else {
		strbuf_add(out, digits, (size_t)nd);
		for (i = nd; i < decpt; i++)
			strbuf_addch(out, '0');
		strbuf_adds(out, ".0");
	}
}

int parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	const char *p = s;

	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || *end)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int parse_double(const char *s, double *out)
{
	const char *p;
	char *end;
	bool digit = false;
	double v;

	/* Decimal notation only: no hex floats, "inf" or "nan" spellings. */
	for (p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (!strchr("+-.eE", *p))
			return -1;
	}
	if (!digit)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return -1;
	/* ERANGE also flags subnormals, which are exact enough to keep. */
	if (errno == ERANGE && v == 0)
		return -1;
	*out = v;
	return 0;
}
