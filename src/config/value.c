/*
 * Typing a YAML scalar against a schema field. Scalars are typed by the
 * schema, never guessed: YAML 1.2 core rules decide what a plain scalar is
 * (null, true/false, numbers), and YAML 1.1 spellings such as "yes" or
 * "on" are rejected rather than silently read as booleans.
 */
#include "config/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_bool_text(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		*out = false;
		return true;
	}
	return false;
}

static bool is_yaml11_bool(const char *s)
{
	static const char *const words[] = { "yes", "Yes", "YES", "no",  "No", "NO", "on", "On",
					     "ON",  "off", "Off", "OFF", "y",  "Y",  "n",  "N" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcmp(s, words[i]))
			return true;
	return false;
}

/* What a plain scalar would be in YAML 1.2 core, for error messages. */
const char *cfg_node_kind(const struct ynode *n)
{
	int64_t i;
	double d;
	bool b;

	if (n->kind == YN_MAP)
		return "a mapping";
	if (n->kind == YN_SEQ)
		return "a list";
	if (!n->plain)
		return "a string";
	if (ynode_is_null(n))
		return "null";
	if (is_bool_text(n->text, &b))
		return "a boolean";
	if (parse_int64(n->text, &i) == 0)
		return "an integer";
	if (parse_double(n->text, &d) == 0)
		return "a number";
	return "a string";
}

static void value_error(struct diag_list *diags, const struct ynode *n, const char *path,
			const char *hint, const char *fmt, ...) LLEM_PRINTF(5, 6);

static void value_error(struct diag_list *diags, const struct ynode *n, const char *path,
			const char *hint, const char *fmt, ...)
{
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, path, hint, "%s", msg.buf);
	strbuf_release(&msg);
}

static void format_bound(struct strbuf *sb, const struct field *f, double v)
{
	if (f->type == FT_INT)
		strbuf_addf(sb, "%.0f", v);
	else
		numfmt_double(sb, v);
}

static bool check_bounds(const struct field *f, double v, const struct ynode *n, const char *path,
			 struct diag_list *diags)
{
	struct strbuf msg = STRBUF_INIT;
	bool ok = true;

	if (!isnan(f->min) && v < f->min) {
		strbuf_adds(&msg, "must be at least ");
		format_bound(&msg, f, f->min);
		ok = false;
	} else if (!isnan(f->max) && v > f->max) {
		strbuf_adds(&msg, "must be at most ");
		format_bound(&msg, f, f->max);
		ok = false;
	}
	if (!ok) {
		if (!isnan(f->min) && !isnan(f->max)) {
			strbuf_adds(&msg, " (allowed: ");
			format_bound(&msg, f, f->min);
			strbuf_adds(&msg, " to ");
			format_bound(&msg, f, f->max);
			strbuf_addch(&msg, ')');
		}
		strbuf_addf(&msg, ", got %s", n->text);
		value_error(diags, n, path, NULL, "%s", msg.buf);
	}
	strbuf_release(&msg);
	return ok;
}

static void enum_list(const struct field *f, struct strbuf *out)
{
	size_t i;

	for (i = 0; f->values[i]; i++)
		strbuf_addf(out, "%s%s", i ? ", " : "", f->values[i]);
}

int cfg_value_from_node(struct cfg_value *out, const struct field *f, const struct ynode *n,
			const char *path, struct diag_list *diags)
{
	const char *kind;
	bool b;

	memset(out, 0, sizeof(*out));
	if (ynode_is_null(n)) {
		if (f->flags & F_NULLABLE) {
			out->kind = CV_NULL;
			return 0;
		}
		value_error(diags, n, path, "remove the key to use the default",
			    "must not be null (expected %s)",
			    f->type == FT_ENUM ? "one of the allowed values"
					       : field_type_name(f->type));
		return -1;
	}
	kind = cfg_node_kind(n);
	switch (f->type) {
	case FT_SECTION:
		if (n->kind != YN_MAP) {
			value_error(diags, n, path, NULL, "expected a mapping of settings, got %s",
				    kind);
			return -1;
		}
		out->kind = CV_SECTION;
		return 0;
	case FT_BOOL:
		if (n->kind == YN_SCALAR && n->plain && is_bool_text(n->text, &b)) {
			out->kind = CV_BOOL;
			out->b = b;
			return 0;
		}
		if (n->kind == YN_SCALAR && n->plain && is_yaml11_bool(n->text))
			value_error(diags, n, path, "write true or false",
				    "expected true or false, got '%s' "
				    "(YAML 1.1 booleans are not accepted)",
				    n->text);
		else
			value_error(diags, n, path, NULL, "expected true or false, got %s", kind);
		return -1;
	case FT_INT:
		if (n->kind == YN_SCALAR && n->plain && parse_int64(n->text, &out->i) == 0) {
			out->kind = CV_INT;
			return check_bounds(f, (double)out->i, n, path, diags) ? 0 : -1;
		}
		value_error(diags, n, path, NULL, "expected an integer, got %s",
			    !strcmp(kind, "a number") ? n->text : kind);
		return -1;
	case FT_FLOAT:
		if (n->kind == YN_SCALAR && n->plain && parse_double(n->text, &out->f) == 0) {
			out->kind = CV_FLOAT;
			return check_bounds(f, out->f, n, path, diags) ? 0 : -1;
		}
		value_error(diags, n, path, NULL, "expected a number, got %s", kind);
		return -1;
	case FT_STRING:
		if (n->kind != YN_SCALAR || strcmp(kind, "a string") != 0) {
			value_error(diags, n, path,
				    n->kind == YN_SCALAR ? "quote the value to use it as text"
							 : NULL,
				    "expected a string, got %s", kind);
			return -1;
		}
		if (!*n->text) {
			value_error(diags, n, path, NULL, "must not be empty");
			return -1;
		}
		out->kind = CV_STRING;
		out->s = xstrdup(n->text);
		return 0;
	case FT_ENUM: {
		struct strbuf allowed = STRBUF_INIT;
		const char *near;
		size_t i, count = 0;

		if (n->kind == YN_SCALAR && !strcmp(kind, "a string")) {
			for (i = 0; f->values[i]; i++)
				if (!strcmp(f->values[i], n->text)) {
					out->kind = CV_STRING;
					out->s = xstrdup(n->text);
					return 0;
				}
		}
		while (f->values[count])
			count++;
		enum_list(f, &allowed);
		near = n->kind == YN_SCALAR ? did_you_mean_near(n->text, f->values, count) : NULL;
		if (near) {
			char *hint = xasprintf("did you mean '%s'?", near);

			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, path, hint,
				 "must be one of %s, got '%s'", allowed.buf, n->text);
			free(hint);
		} else {
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, path, NULL,
				 "must be one of %s, got %s%s%s", allowed.buf,
				 n->kind == YN_SCALAR ? "'" : "",
				 n->kind == YN_SCALAR ? n->text : kind,
				 n->kind == YN_SCALAR ? "'" : "");
		}
		strbuf_release(&allowed);
		return -1;
	}
	}
	return -1;
}

void cfg_value_release(struct cfg_value *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

void cfg_value_copy(struct cfg_value *dst, const struct cfg_value *src)
{
	*dst = *src;
	dst->s = src->s ? xstrdup(src->s) : NULL;
}

void cfg_value_format(const struct cfg_value *v, struct strbuf *out)
{
	switch (v->kind) {
	case CV_NULL: strbuf_adds(out, "null"); break;
	case CV_SECTION: strbuf_adds(out, "{...}"); break;
	case CV_BOOL: strbuf_adds(out, v->b ? "true" : "false"); break;
	case CV_INT: strbuf_addf(out, "%lld", (long long)v->i); break;
	case CV_FLOAT: numfmt_double(out, v->f); break;
	case CV_STRING: strbuf_adds(out, v->s); break;
	}
}

const char *cfg_str(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind == CV_STRING ? cfg->v[id].s : NULL;
}

int64_t cfg_int(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].i;
}

double cfg_float(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind == CV_FLOAT ? cfg->v[id].f : NAN;
}

bool cfg_bool(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].b;
}

bool cfg_is_null(const struct config *cfg, enum field_id id)
{
	return cfg->v[id].kind == CV_NULL;
}
