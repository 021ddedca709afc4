/*
 * config: loading, validating and resolving experiment and study configs.
 * The one header of the layer. Values are stored per schema field (see
 * schema.h); every value remembers where it came from so that errors found
 * after merging still point at a file, line and column.
 *
 * Ownership: config_load fills a caller-owned struct config; release it with
 * config_release. Diagnostics go into a caller-owned diag_list.
 */
#ifndef LLEM_CONFIG_H
#define LLEM_CONFIG_H

#include "config/schema.h"
#include "util/util.h"

enum cfg_kind { CV_NULL, CV_BOOL, CV_INT, CV_FLOAT, CV_STRING, CV_SECTION };

struct cfg_value {
	enum cfg_kind kind;
	bool b;
	int64_t i;
	double f;
	char *s; /* CV_STRING (enums too) */
};

struct cfg_origin {
	char *source; /* file path, "command line", or NULL for the default */
	int line, col;
};

/* One source's values: a file, the user config, the command line. */
struct cfg_layer {
	/* User-config defaults for a backend that is not selected are ignored
	 * rather than reported as a section/backend mismatch. */
	bool lenient_sections;
	bool set[FIELD_COUNT];
	struct cfg_value v[FIELD_COUNT];
	struct cfg_origin o[FIELD_COUNT];
};

/* A fully resolved experiment: every field has a value. */
struct config {
	struct cfg_value v[FIELD_COUNT];
	struct cfg_origin o[FIELD_COUNT];
	char *canonical_json; /* sorted keys, all measurement fields */
	size_t canonical_len; /* strlen(canonical_json) */
	char hash[17];        /* first 16 hex of sha256(canonical_json) */
};

/*
 * A backend's own cross-field rules over a resolved experiment, supplied
 * by the layer above (backends_check_config): config knows the fields, the
 * backend knows what they mean together. Reports with config_rule_error.
 */
typedef void (*config_backend_rules_fn)(const struct config *cfg, const char *fallback,
					struct diag_list *diags);

/* Reports a broken rule at the first of fields a and b that was set by a
 * source (fallback names the source of defaults). */
void config_rule_error(const struct config *cfg, struct diag_list *diags, enum field_id a,
		       enum field_id b, const char *fallback, const char *hint, const char *msg);
/* The field's value is not null. */
bool cfg_is_set(const struct config *cfg, enum field_id id);
/* The field holds the boolean true / false (null is neither). */
bool cfg_is_true(const struct config *cfg, enum field_id id);
bool cfg_is_false(const struct config *cfg, enum field_id id);

/* A grid point that failed validation. */
struct study_skip {
	char *label;  /* the point's differing fields, "precision=fp16, ..." */
	char *reason; /* the first error */
};

/* The longest study name: it is a directory name with a timestamp added. */
#define STUDY_NAME_MAX 128
#define STUDY_NAME_MAX_TEXT "128"

struct study {
	char *name; /* NULL when unnamed; one safe path component */
	char *path;
	struct config execution; /* only the execution.* fields matter */
	struct config *points;   /* valid experiments, grid order then explicit */
	char **labels;           /* per point: its differing fields */
	size_t count;
	struct study_skip *skipped;
	size_t skipped_count;
	size_t grid_count;                          /* points from sweep (valid + skipped) */
	size_t explicit_count;                      /* entries from experiments: */
	char design_hash[17];                       /* over the valid points' canonical JSON */
	config_backend_rules_fn backend_rules;      /* what each point was checked with */
	size_t points_cap, labels_cap, skipped_cap; /* allocated, for growth */
};

struct config_request {
	const char *path;             /* NULL: only overrides and user config */
	const char *const *overrides; /* "key.path=value" */
	size_t overrides_count;
	const char *user_config_path; /* NULL: XDG default; "": none */
	/* Checked on every resolved experiment (study points too); NULL:
	 * the generic rules only. */
	config_backend_rules_fn backend_rules;
};

/* A loaded config file: an experiment or a study. */
struct loaded_config {
	bool is_study;
	struct config experiment; /* when !is_study */
	struct study study;       /* when is_study */
	char *user_config_path;   /* the path consulted, or NULL */
	bool user_config_loaded;
};

/*
 * Loads, validates and resolves. Returns 0, or -1 with every problem in
 * diags (errors sorted by file and position; warnings may be present on
 * success too).
 */
int config_load(struct loaded_config *out, const struct config_request *req,
		struct diag_list *diags);
void loaded_config_release(struct loaded_config *lc);
void config_release(struct config *cfg);

/* The default user-config path ($XDG_CONFIG_HOME/llem/config.yaml). */
char *config_user_path(void);

/* Typed access; the caller knows the field's type from the table. */
const char *cfg_str(const struct config *cfg, enum field_id id);
int64_t cfg_int(const struct config *cfg, enum field_id id);
double cfg_float(const struct config *cfg, enum field_id id);
bool cfg_bool(const struct config *cfg, enum field_id id);
bool cfg_is_null(const struct config *cfg, enum field_id id);
/* Human-readable value ("bf16", "1.0", "null"). */
void cfg_value_format(const struct cfg_value *v, struct strbuf *out);

/* Canonical JSON of the measurement fields, as hashed (Python json.dumps
 * layout with sort_keys). */
void config_canonical_json(const struct config *cfg, struct strbuf *out);
/* The same, pretty-printed with every field, for humans (--dry-run). */
void config_pretty_json(const struct config *cfg, bool with_study_fields, struct strbuf *out);

/* `llem config --fields`: the schema as text or Markdown. */
void config_fields_text(struct strbuf *out);
void config_fields_markdown(struct strbuf *out);

#endif
