/*
 * Numeric ranges in a sweep: {range: [start, end], step: S} adds S and
 * {range: [start, end], mul: M} multiplies by M, from start up to end
 * inclusive (docs/studies.md). The values are what a list would hold:
 * written as plain decimals, start + k*step is computed exactly in decimal
 * (0.1 steps give 0.3, not 0.30000000000000004), so a range and the same
 * values written as a list give the same config hashes. Other spellings
 * (1e-3) use start + k*step (start * mul^k) in binary, never a running sum,
 * and take the end, as written, when the last value lands within 1e-9
 * (relative) of it. Each value is then typed and bounds-checked exactly
 * like a list item.
 */
#include "config/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_MAX_VALUES 100000
#define RANGE_EPS 1e-9
#define DEC_MAX 9007199254740992LL /* 2^53: every integer up to it is a double */

/* One number of a range as written. */
struct rnum {
	const struct ynode *node;
	int64_t i; /* integer fields */
	double f;  /* the value (integer fields too) */
	bool dec;  /* f is exactly m / 10^scale, from plain decimal text */
	int64_t m;
	int scale;
};

static const double pow10_exact[] = { 1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				      1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };

/* "[-]digits[.digits]" with at most 15 digits: exactly m / 10^scale. */
static bool plain_decimal(const char *s, int64_t *m, int *scale)
{
	bool neg = *s == '-', point = false;
	int digits = 0;
	int64_t v = 0;

	if (*s == '-' || *s == '+')
		s++;
	*scale = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s; s++) {
		if (*s == '.' && !point && s[1] >= '0' && s[1] <= '9') {
			point = true;
			continue;
		}
		if (*s < '0' || *s > '9' || ++digits > 15)
			return false;
		v = v * 10 + (*s - '0');
		*scale += point;
	}
	*m = neg ? -v : v;
	return true;
}

static int read_rnum(struct rnum *out, const char *what, const struct ynode *n, bool integer,
		     const char *path, struct diag_list *diags)
{
	const char *kind = cfg_node_kind(n);

	memset(out, 0, sizeof(*out));
	out->node = n;
	if (integer && n->kind == YN_SCALAR && n->plain && parse_int64(n->text, &out->i) == 0) {
		out->f = (double)out->i;
		return 0;
	}
	if (!integer && n->kind == YN_SCALAR && n->plain && parse_double(n->text, &out->f) == 0) {
		/* -0.0 keeps its sign only through the binary path. */
		out->dec = !(out->f == 0 && signbit(out->f)) &&
			   plain_decimal(n->text, &out->m, &out->scale);
		return 0;
	}
	if (integer && !strcmp(kind, "a number"))
		diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, path,
			 "this field takes whole numbers", "range %s must be an integer, got %s",
			 what, n->text);
	else
		diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, path, NULL,
			 "range %s must be %s, got %s", what, integer ? "an integer" : "a number",
			 kind);
	return -1;
}

/* m * 10^(to - scale) when it stays within 2^53, for a common scale. */
static bool rescale(int64_t m, int scale, int to, int64_t *out)
{
	int64_t f = (int64_t)pow10_exact[to - scale];

	if (m > DEC_MAX / f || m < -DEC_MAX / f)
		return false;
	*out = m * f;
	return true;
}

/* Formats v as a list item would be written, for typing and messages. */
static void range_value_text(struct strbuf *sb, bool integer, int64_t i, double f)
{
	strbuf_reset(sb);
	if (integer)
		strbuf_addf(sb, "%lld", (long long)i);
	else
		numfmt_double(sb, f);
}

struct range_out {
	const struct field *field;
	struct cfg_value *values;
	size_t count, cap;
	const struct ynode *map, *start, *end;
	bool integer;
	bool low_reported, high_reported;
	struct strbuf text;
	struct diag_list *diags;
};

/*
 * Types one value like a list item. A value out of bounds is reported at
 * the end of the range it lies beyond, once per end: the values are
 * monotonic, so the first one out says where the range has to stop.
 */
static void range_emit(struct range_out *ro, int64_t i, double f)
{
	const struct field *fd = ro->field;
	bool low = !isnan(fd->min) && (ro->integer ? (double)i : f) < fd->min;
	struct ynode n = { .kind = YN_SCALAR, .plain = true };
	const struct ynode *at = low ? ro->start : ro->end;
	struct diag_list local = DIAG_LIST_INIT;
	struct cfg_value v;

	range_value_text(&ro->text, ro->integer, i, f);
	n.file = at->file;
	n.line = at->line;
	n.col = at->col;
	n.text = ro->text.buf;
	if (cfg_value_from_node(&v, fd, &n, fd->path, &local) == 0) {
		GROW(ro->values, ro->cap, ro->count + 1);
		ro->values[ro->count++] = v;
	} else if (!(low ? ro->low_reported : ro->high_reported) && local.count) {
		const struct diag *e = &local.items[0];

		diag_add(ro->diags, DIAG_ERROR, e->file, e->line, e->col, e->path, e->hint,
			 "%s (from the range)", e->message);
		*(low ? &ro->low_reported : &ro->high_reported) = true;
	}
	diag_list_release(&local);
}

static void too_many(const struct range_out *ro, const char *path, const char *how, double count)
{
	char n[32];

	if (count < 1e15)
		snprintf(n, sizeof(n), "%.0f", count);
	else
		snprintf(n, sizeof(n), "more than %d", RANGE_MAX_VALUES);
	diag_add(ro->diags, DIAG_ERROR, ro->map->file, ro->map->line, ro->map->col, path, how,
		 "range gives %s values; at most %d are allowed", n, RANGE_MAX_VALUES);
}

static void expand_step(struct range_out *ro, const char *path, const struct rnum *s,
			const struct rnum *e, const struct rnum *t)
{
	static const char *const hint = "use a larger step, or split the range";
	uint64_t k, count;

	if (ro->integer) {
		/* Unsigned arithmetic: end - start may not fit in an int64. */
		uint64_t steps = ((uint64_t)e->i - (uint64_t)s->i) / (uint64_t)t->i;

		if (steps >= RANGE_MAX_VALUES) {
			too_many(ro, path, hint, (double)steps + 1);
			return;
		}
		count = steps + 1;
		for (k = 0; k < count; k++)
			range_emit(ro, (int64_t)((uint64_t)s->i + k * (uint64_t)t->i), 0);
		return;
	}
	if (s->dec && e->dec && t->dec) {
		int scale = s->scale > e->scale ? s->scale : e->scale;
		int64_t ms, me, mt;

		if (t->scale > scale)
			scale = t->scale;
		if (rescale(s->m, s->scale, scale, &ms) && rescale(e->m, e->scale, scale, &me) &&
		    rescale(t->m, t->scale, scale, &mt)) {
			count = (uint64_t)((me - ms) / mt) + 1;
			if (count > RANGE_MAX_VALUES) {
				too_many(ro, path, hint, (double)count);
				return;
			}
			/* Exact integers over an exact power of ten: one rounding. */
			range_emit(ro, 0, s->f);
			for (k = 1; k < count; k++)
				range_emit(ro, 0,
					   (double)(ms + (int64_t)k * mt) / pow10_exact[scale]);
			return;
		}
	}
	{
		/* Steps to the end, allowing 1e-9 (relative) of rounding. */
		double q = (e->f - s->f) / t->f, tol = RANGE_EPS * fmax(1, q);
		double last = floor(q + tol), v;

		if (last >= RANGE_MAX_VALUES) {
			too_many(ro, path, hint, last + 1);
			return;
		}
		count = (uint64_t)last + 1;
		range_emit(ro, 0, s->f);
		for (k = 1; k < count; k++) {
			v = s->f + (double)k * t->f;
			if (k == count - 1 && fabs(v - e->f) <= tol * t->f)
				v = e->f;
			range_emit(ro, 0, v);
		}
	}
}

static void expand_mul(struct range_out *ro, const char *path, const struct rnum *s,
		       const struct rnum *e, const struct rnum *m)
{
	static const char *const hint = "use a larger mul, or split the range";
	uint64_t k, count;

	if (ro->integer) {
		int64_t v = s->i;

		/* At most 63 values: no count check needed. */
		for (;;) {
			range_emit(ro, v, 0);
			if (v > e->i / m->i) /* v * m would pass the end (or overflow) */
				break;
			v *= m->i;
		}
		return;
	}
	if (s->dec && e->dec && m->dec && m->scale == 0) {
		int scale = s->scale > e->scale ? s->scale : e->scale;
		int64_t ms, me;

		if (rescale(s->m, s->scale, scale, &ms) && rescale(e->m, e->scale, scale, &me)) {
			range_emit(ro, 0, s->f);
			while (ms <= me / m->m) { /* ms * m stays within the end */
				ms *= m->m;
				range_emit(ro, 0, (double)ms / pow10_exact[scale]);
			}
			return;
		}
	}
	{
		double q = log(e->f / s->f) / log(m->f);
		double last = floor(q + RANGE_EPS * fmax(1, q)), v;

		if (last >= RANGE_MAX_VALUES) {
			too_many(ro, path, hint, last + 1);
			return;
		}
		count = (uint64_t)last + 1;
		range_emit(ro, 0, s->f);
		for (k = 1; k < count; k++) {
			v = s->f * pow(m->f, (double)k);
			if (fabs(v - e->f) <= RANGE_EPS * e->f)
				v = e->f;
			else if (v > e->f)
				break;
			range_emit(ro, 0, v);
		}
	}
}

size_t cfg_range_expand(struct cfg_value **out, const struct field *f, const char *path,
			const struct ynode *map, struct diag_list *diags)
{
	static const char *const keys[] = { "range", "step", "mul" };
	static const char *const usage =
		"write {range: [start, end], step: N} or {range: [start, end], mul: N}";
	const struct ynode *range = NULL, *step = NULL, *mul = NULL, *stepkey = NULL;
	struct rnum s, e, by;
	struct range_out ro = { 0 };
	size_t i, before = diag_error_count(diags);
	bool integer = f->type == FT_INT, unknown, ok_s, ok_e, ok_by;

	if (f->type != FT_INT && f->type != FT_FLOAT) {
		struct strbuf hint = STRBUF_INIT;

		strbuf_adds(&hint, "list the values instead");
		if (f->type == FT_ENUM) {
			strbuf_adds(&hint, ", e.g. [");
			for (i = 0; f->values[i] && i < 2; i++)
				strbuf_addf(&hint, "%s%s", i ? ", " : "", f->values[i]);
			strbuf_addch(&hint, ']');
		}
		diag_add(diags, DIAG_ERROR, map->file, map->line, map->col, path, hint.buf,
			 "a range needs a numeric field, and this one is %s %s",
			 f->type == FT_ENUM ? "an" : "a", field_type_name(f->type));
		strbuf_release(&hint);
		return 0;
	}
	for (i = 0; i < map->count; i++) {
		const struct ynode *k = map->keys[i];

		if (!strcmp(k->text, "range")) {
			range = map->items[i];
		} else if (!strcmp(k->text, "step") || !strcmp(k->text, "mul")) {
			if (stepkey) {
				diag_add(diags, DIAG_ERROR, k->file, k->line, k->col, path,
					 "step adds to each value, mul multiplies it: keep one",
					 "a range takes step or mul, not both");
				continue;
			}
			stepkey = k;
			*(k->text[0] == 's' ? &step : &mul) = map->items[i];
		} else {
			const char *near = did_you_mean_near(k->text, keys, ARRAY_SIZE(keys));
			char *hint = near ? xasprintf("did you mean '%s'?", near) : NULL;

			diag_add(diags, DIAG_ERROR, k->file, k->line, k->col, path,
				 hint ? hint : usage, "unknown key '%s' in a range", k->text);
			free(hint);
		}
	}
	/* A misspelt key was just reported: "needs step" would say it twice. */
	unknown = diag_error_count(diags) != before;
	if (!range && !unknown)
		diag_add(diags, DIAG_ERROR, map->file, map->line, map->col, path, usage,
			 "a range needs range: [start, end]");
	else if (range->kind != YN_SEQ || range->count != 2)
		diag_add(diags, DIAG_ERROR, range->file, range->line, range->col, path,
			 "write range: [start, end], both ends included",
			 "range must be a list of two numbers [start, end], got %s",
			 range->kind == YN_SEQ ? "a list of another length" : cfg_node_kind(range));
	if (!step && !mul && !unknown)
		diag_add(diags, DIAG_ERROR, map->file, map->line, map->col, path,
			 "add step: N to add N each time, or mul: N to multiply by N",
			 "a range needs step or mul");
	if (diag_error_count(diags) != before)
		return 0;

	ok_s = read_rnum(&s, "start", range->items[0], integer, path, diags) == 0;
	ok_e = read_rnum(&e, "end", range->items[1], integer, path, diags) == 0;
	ok_by = read_rnum(&by, step ? "step" : "mul", step ? step : mul, integer, path, diags) == 0;
	if (ok_s && ok_e && s.f > e.f)
		diag_add(diags, DIAG_ERROR, range->file, range->line, range->col, path,
			 "ranges count upwards: put the smaller value first",
			 "range start %s is greater than its end %s", s.node->text, e.node->text);
	if (ok_by && step && by.f <= 0)
		diag_add(diags, DIAG_ERROR, step->file, step->line, step->col, path,
			 "ranges count upwards from start to end",
			 "step must be greater than 0, got %s", step->text);
	if (ok_by && mul && by.f <= 1)
		diag_add(diags, DIAG_ERROR, mul->file, mul->line, mul->col, path,
			 "use step for ranges that add instead of multiply",
			 "mul must be greater than 1, got %s", mul->text);
	if (ok_s && mul && s.f <= 0)
		diag_add(diags, DIAG_ERROR, s.node->file, s.node->line, s.node->col, path,
			 "multiplying never leaves 0 or a negative start; use step",
			 "a mul range needs a start greater than 0, got %s", s.node->text);
	if (diag_error_count(diags) != before)
		return 0;

	ro.field = f;
	ro.map = map;
	ro.start = s.node;
	ro.end = e.node;
	ro.integer = integer;
	ro.diags = diags;
	if (step)
		expand_step(&ro, path, &s, &e, &by);
	else
		expand_mul(&ro, path, &s, &e, &by);
	strbuf_release(&ro.text);
	*out = ro.values;
	return ro.count;
}
