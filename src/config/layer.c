/*
 * Layers: the values one source sets (a file, the user config, the
 * command line), read from a YAML tree strictly. Unknown keys at any depth
 * are reported with the nearest valid name.
 */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

/* Study-only top-level keys: offered as suggestions for typos everywhere. */
static const char *const study_keys[] = { "sweep", "experiments", "base", "name" };

void cfg_layer_init(struct cfg_layer *l)
{
	memset(l, 0, sizeof(*l));
}

void cfg_layer_release(struct cfg_layer *l)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++) {
		cfg_value_release(&l->v[i]);
		free(l->o[i].source);
	}
	memset(l, 0, sizeof(*l));
}

void cfg_layer_set(struct cfg_layer *l, enum field_id id, const struct cfg_value *v,
		   const char *source, int line, int col)
{
	/* Copy first: v and source may point into l itself. */
	struct cfg_value nv;
	char *nsource = source ? xstrdup(source) : NULL;

	cfg_value_copy(&nv, v);
	cfg_value_release(&l->v[id]);
	free(l->o[id].source);
	l->v[id] = nv;
	l->o[id].source = nsource;
	l->o[id].line = line;
	l->o[id].col = col;
	l->set[id] = true;
}

static char *join_path(const char *prefix, const char *key)
{
	return *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
}

void cfg_unknown_key(struct diag_list *diags, const struct ynode *key, const char *prefix,
		     const char *path)
{
	const char *leaf = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
	char **siblings = NULL;
	const char **cands;
	size_t n = schema_children(prefix, &siblings), i, nc = 0;
	const char *near;
	char *suggestion = NULL;

	cands = xcalloc(n + ARRAY_SIZE(study_keys), sizeof(*cands));
	for (i = 0; i < n; i++)
		cands[nc++] = siblings[i];
	if (!*prefix)
		for (i = 0; i < ARRAY_SIZE(study_keys); i++)
			cands[nc++] = study_keys[i];
	near = did_you_mean_near(leaf, cands, nc);
	if (near) {
		suggestion = join_path(prefix, near);
	} else {
		/* The right name at the wrong depth: "batch_size" at the top. */
		for (i = 0; i < FIELD_COUNT && !suggestion; i++) {
			const char *p = schema_fields[i].path, *dot = strrchr(p, '.');

			if (dot && !strcmp(dot + 1, leaf))
				suggestion = xstrdup(p);
		}
	}
	if (suggestion)
		diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, path, NULL,
			 "unknown key, did you mean '%s'?", suggestion);
	else
		diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, path,
			 "run 'llem config --fields' to list every key", "unknown key");
	free(suggestion);
	free(cands);
	schema_children_free(siblings, n);
}

static bool in_list(const char *key, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(key, *list))
			return true;
	return false;
}

static void read_map(struct cfg_layer *l, const struct ynode *map, const char *prefix,
		     enum cfg_scope scope, const char *const *skip, struct diag_list *diags)
{
	size_t i;

	for (i = 0; i < map->count; i++) {
		const struct ynode *key = map->keys[i], *val = map->items[i];
		char *path = join_path(prefix, key->text);
		const struct field *f = schema_find(path);
		struct cfg_value v;

		if (!*prefix && in_list(key->text, skip))
			goto next;
		if ((f && (f->flags & F_STUDY)) || (!f && !strcmp(path, "execution"))) {
			if (scope != SCOPE_STUDY) {
				diag_add(
					diags, DIAG_ERROR, key->file, key->line, key->col, path,
					"add a sweep: or experiments: block to make this a study, or remove execution:",
					"only valid in a study file");
				goto next;
			}
		}
		if (f && f->type != FT_SECTION) {
			if (cfg_value_from_node(&v, f, val, path, diags) == 0) {
				cfg_layer_set(l, schema_id(f), &v, key->file, val->line, val->col);
				cfg_value_release(&v);
			}
		} else if (f) {
			if (cfg_value_from_node(&v, f, val, path, diags) == 0) {
				cfg_layer_set(l, schema_id(f), &v, key->file, key->line, key->col);
				if (v.kind == CV_SECTION)
					read_map(l, val, path, scope, NULL, diags);
			}
		} else if (schema_is_group(path)) {
			if (val->kind == YN_MAP)
				read_map(l, val, path, scope, NULL, diags);
			else if (!ynode_is_null(val))
				diag_add(diags, DIAG_ERROR, val->file, val->line, val->col, path,
					 NULL, "expected a mapping of settings");
		} else {
			cfg_unknown_key(diags, key, prefix, path);
		}
	next:
		free(path);
	}
}

void cfg_layer_from_map(struct cfg_layer *l, const struct ynode *map, enum cfg_scope scope,
			const char *const *skip, struct diag_list *diags)
{
	read_map(l, map, "", scope, skip, diags);
}

int cfg_layer_set_override(struct cfg_layer *l, const char *assignment, enum cfg_scope scope,
			   struct diag_list *diags)
{
	const char *eq = strchr(assignment, '=');
	const char *src = "command line";
	struct ytree tree;
	struct ynode keynode;
	const struct field *f;
	struct cfg_value v;
	char *path;
	int rc = -1;
	size_t before = diag_error_count(diags);

	if (!eq || eq == assignment) {
		diag_add(diags, DIAG_ERROR, src, 0, 0, NULL,
			 "write it as --set key.path=value, e.g. --set native.threads=2",
			 "'%s' is not a key=value assignment", assignment);
		return -1;
	}
	path = xstrndup(assignment, (size_t)(eq - assignment));
	f = schema_find(path);
	memset(&keynode, 0, sizeof(keynode));
	keynode.kind = YN_SCALAR;
	keynode.file = src;
	keynode.text = path;
	if (!f) {
		const char *dot = strrchr(path, '.');
		char *prefix = dot ? xstrndup(path, (size_t)(dot - path)) : xstrdup("");

		if (schema_is_group(path))
			diag_add(
				diags, DIAG_ERROR, src, 0, 0, path, NULL,
				"is a group of settings; set one of its keys (see 'llem config --fields')");
		else
			cfg_unknown_key(diags, &keynode, prefix, path);
		free(prefix);
		goto out;
	}
	if (f->type == FT_SECTION) {
		diag_add(diags, DIAG_ERROR, src, 0, 0, path, NULL,
			 "is a section; set one of its keys, e.g. %s.%s", path,
			 schema_fields[schema_id(f) + 1].path + strlen(path) + 1);
		goto out;
	}
	if ((f->flags & F_STUDY) && scope != SCOPE_STUDY) {
		diag_add(diags, DIAG_ERROR, src, 0, 0, path, NULL, "only valid for a study");
		goto out;
	}
	if (ytree_parse(&tree, src, eq + 1, strlen(eq + 1), diags) == 0) {
		struct ynode empty = {
			.kind = YN_SCALAR, .file = src, .text = (char *)"", .plain = true
		};
		const struct ynode *node = tree.root ? tree.root : &empty;
		struct ynode copy = *node;

		/* Positions inside a one-line value mean nothing to the user. */
		copy.line = copy.col = 0;
		if (cfg_value_from_node(&v, f, &copy, path, diags) == 0) {
			cfg_layer_set(l, schema_id(f), &v, src, 0, 0);
			cfg_value_release(&v);
		}
	}
	ytree_release(&tree);
	rc = diag_error_count(diags) == before ? 0 : -1;
out:
	free(path);
	return rc;
}
