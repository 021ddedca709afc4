/*
 * The schema table: every config field, once. Validation, defaults,
 * `llem config --fields`, docs/config-reference.md, sweep-key checks and
 * the canonical JSON behind the config hash all read this table and
 * nothing else lists fields by hand.
 */
#ifndef LLEM_CONFIG_SCHEMA_H
#define LLEM_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

enum field_type {
	FT_STRING,
	FT_INT,
	FT_FLOAT,
	FT_BOOL,
	FT_ENUM,
	FT_SECTION /* a backend section: absent (null) or a mapping */
};

enum field_flags {
	F_NULLABLE = 1 << 0, /* null is a valid value */
	F_REQUIRED = 1 << 1, /* no default: the config must give it */
	F_STUDY = 1 << 2,    /* study execution setting, not per experiment */
	F_NOHASH = 1 << 3    /* not part of what is measured (output paths) */
};

struct field {
	const char *path; /* dotted, e.g. "decoder.top_p" */
	enum field_type type;
	unsigned flags;
	const char *def;           /* default as YAML text; NULL means null */
	double min, max;           /* bounds for FT_INT/FT_FLOAT; NAN = unbounded */
	const char *const *values; /* FT_ENUM: NULL-terminated */
	const char *backends;      /* "all" or a comma-separated list */
	const char *doc;
};

#define FIELD(id, path, type, flags, def, min, max, values, backends, doc) FIELD_##id,
enum field_id {
#include "config/schema_fields.def"
	FIELD_COUNT
};
#undef FIELD

extern const struct field schema_fields[FIELD_COUNT];

/* The field with this exact path, or NULL. */
const struct field *schema_find(const char *path);
enum field_id schema_id(const struct field *f);
/* True when some field lies below prefix ("decoder" for "decoder.top_p"). */
bool schema_is_group(const char *prefix);
/* Names valid directly under prefix ("" = top level), sorted, unique;
 * returns the count; free the list with schema_children_free. */
size_t schema_children(const char *prefix, char ***out);
void schema_children_free(char **names, size_t n);
const char *field_type_name(enum field_type t);
/* The backend section a field belongs to (FIELD_NATIVE for
 * native.batch_size), or -1; computed once. */
int schema_section_of(enum field_id id);

/* ---- backends (config/backend_table.def) ---- */
#define BACKEND(id, name, ops, precisions, summary) BACKEND_ID_##id,
#define PLANNED_BACKEND(id, name, precisions, summary) BACKEND_ID_##id,
enum backend_id {
#include "config/backend_table.def"
	BACKEND_COUNT
};
#undef BACKEND
#undef PLANNED_BACKEND

/* What the config layer knows of a backend: one row of the table. */
struct schema_backend {
	const char *name;       /* what `backend:` takes */
	bool runnable;          /* BACKEND (true) or PLANNED_BACKEND */
	const char *precisions; /* accepted `precision:` values, "fp32, fp16" */
	const char *summary;    /* one line for `llem config` */
};
extern const struct schema_backend schema_backends[BACKEND_COUNT];
/* The names alone, in table order; NULL-terminated (the enum's values). */
extern const char *const schema_backend_names[BACKEND_COUNT + 1];
/* The row of the backend called name, or NULL. */
const struct schema_backend *schema_backend_find(const char *name);

#endif
