/* Declarations shared by the files of the config layer only. */
#ifndef LLEM_CONFIG_INTERNAL_H
#define LLEM_CONFIG_INTERNAL_H

#include "config/config.h"
#include "config/ytree.h"

/* Which fields a source may set. */
enum cfg_scope {
	SCOPE_EXPERIMENT = 0,
	SCOPE_STUDY = 1 /* execution.* allowed (study files, user config) */
};

int cfg_value_from_node(struct cfg_value *out, const struct field *f, const struct ynode *n,
			const char *path, struct diag_list *diags);
void cfg_value_release(struct cfg_value *v);
void cfg_value_copy(struct cfg_value *dst, const struct cfg_value *src);
/* "an integer", "a string", "a mapping"... for "expected X, got Y". */
const char *cfg_node_kind(const struct ynode *n);

void cfg_layer_init(struct cfg_layer *l);
void cfg_layer_release(struct cfg_layer *l);
void cfg_layer_set(struct cfg_layer *l, enum field_id id, const struct cfg_value *v,
		   const char *source, int line, int col);
/* Reads a mapping into l; top-level keys listed in skip are left alone. */
void cfg_layer_from_map(struct cfg_layer *l, const struct ynode *map, enum cfg_scope scope,
			const char *const *skip, struct diag_list *diags);
/* Applies "key.path=value" from the command line. */
int cfg_layer_set_override(struct cfg_layer *l, const char *assignment, enum cfg_scope scope,
			   struct diag_list *diags);
/* Reports an unknown key with the nearest valid name. */
void cfg_unknown_key(struct diag_list *diags, const struct ynode *key, const char *prefix,
		     const char *path);

/*
 * Resolves layers (lowest precedence first) into a complete experiment
 * config: defaults, sections, presets, cross-field rules, canonical JSON
 * and hash. Returns 0 or -1 with diagnostics. `fallback` names the source
 * used in messages about values that came from defaults.
 */
int cfg_resolve(struct config *out, const struct cfg_layer *const *layers, size_t nlayers,
		const char *fallback, config_backend_rules_fn backend_rules,
		struct diag_list *diags);
/* Resolves only the execution.* fields of a study. */
int cfg_resolve_execution(struct config *out, const struct cfg_layer *const *layers, size_t nlayers,
			  struct diag_list *diags);
void cfg_finish_hash(struct config *cfg);

/*
 * A sweep value written as a numeric range, {range: [start, end], step: S}
 * or mul: M (range.c): checks it and returns its values in *out (the
 * caller releases each value and frees the array), each typed and
 * bounds-checked like a list item, or 0 with the problems in diags.
 */
size_t cfg_range_expand(struct cfg_value **out, const struct field *f, const char *path,
			const struct ynode *map, struct diag_list *diags);

int study_load(struct study *out, const struct ytree *tree, const struct cfg_layer *user,
	       const struct cfg_layer *cli, config_backend_rules_fn backend_rules,
	       struct diag_list *diags);
void study_release(struct study *s);

#endif
