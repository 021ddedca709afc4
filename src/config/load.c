/*
 * config_load: the entry point of the layer. Reads the user config, the
 * file and the command-line overrides into layers and resolves them into
 * one experiment or, for a file with sweep:/experiments:, a study.
 */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

char *config_user_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg == '/')
		return xasprintf("%s/llem/config.yaml", xdg);
	if (home && *home)
		return xasprintf("%s/.config/llem/config.yaml", home);
	return NULL;
}

static const char *kind_of(const struct ynode *n)
{
	if (!n)
		return "an empty document";
	return n->kind == YN_MAP ? "a mapping" : n->kind == YN_SEQ ? "a list" : "a scalar";
}

/* Parses a file that must hold a mapping; NULL root for an empty file. */
static int load_mapping(struct ytree *tree, const char *path, bool allow_empty,
			struct diag_list *diags)
{
	if (ytree_parse_file(tree, path, diags) != 0)
		return -1;
	if (!tree->root && allow_empty)
		return 0;
	if (!tree->root || tree->root->kind != YN_MAP) {
		diag_add(diags, DIAG_ERROR, path, tree->root ? tree->root->line : 0,
			 tree->root ? tree->root->col : 0, NULL,
			 "write key: value pairs at the top level",
			 "config must be a mapping, got %s", kind_of(tree->root));
		return -1;
	}
	return 0;
}

static int load_user_layer(struct loaded_config *out, struct cfg_layer *user, const char *requested,
			   struct diag_list *diags)
{
	struct ytree tree;
	size_t before = diag_error_count(diags);

	user->lenient_sections = true;
	if (requested && !*requested)
		return 0;
	out->user_config_path = requested ? xstrdup(requested) : config_user_path();
	if (!out->user_config_path)
		return 0;
	if (!fs_exists(out->user_config_path)) {
		if (!requested)
			return 0;
		diag_add(diags, DIAG_ERROR, out->user_config_path, 0, 0, NULL, NULL,
			 "user config not found");
		return -1;
	}
	if (load_mapping(&tree, out->user_config_path, true, diags) == 0 && tree.root)
		cfg_layer_from_map(user, tree.root, SCOPE_STUDY, NULL, diags);
	ytree_release(&tree);
	out->user_config_loaded = diag_error_count(diags) == before;
	return out->user_config_loaded ? 0 : -1;
}

static bool supported_extension(const char *path)
{
	return str_ends_with(path, ".yaml") || str_ends_with(path, ".yml") ||
	       str_ends_with(path, ".json");
}

int config_load(struct loaded_config *out, const struct config_request *req,
		struct diag_list *diags)
{
	struct cfg_layer user, file, cli;
	struct ytree tree = { 0 };
	size_t before = diag_error_count(diags), i;
	enum cfg_scope scope = SCOPE_EXPERIMENT;

	memset(out, 0, sizeof(*out));
	cfg_layer_init(&user);
	cfg_layer_init(&file);
	cfg_layer_init(&cli);
	load_user_layer(out, &user, req->user_config_path, diags);

	if (req->path) {
		if (!supported_extension(req->path)) {
			const char *dot = strrchr(req->path, '.');

			diag_add(diags, DIAG_ERROR, req->path, 0, 0, NULL,
				 "use a .yaml, .yml or .json file",
				 "unsupported config format '%s'", dot ? dot : "(none)");
			goto out;
		}
		if (!fs_exists(req->path)) {
			diag_add(diags, DIAG_ERROR, req->path, 0, 0, NULL, NULL,
				 "config file not found");
			goto out;
		}
		if (load_mapping(&tree, req->path, false, diags) != 0)
			goto out;
		out->is_study = ynode_map_get(tree.root, "sweep") ||
				ynode_map_get(tree.root, "experiments");
		if (out->is_study)
			scope = SCOPE_STUDY;
	}
	/* A bad override does not stop the other checks: all errors at once. */
	for (i = 0; i < req->overrides_count; i++)
		cfg_layer_set_override(&cli, req->overrides[i], scope, diags);

	if (out->is_study) {
		study_load(&out->study, &tree, &user, &cli, req->backend_rules, diags);
	} else {
		const struct cfg_layer *layers[] = { &user, &file, &cli };

		if (tree.root)
			cfg_layer_from_map(&file, tree.root, SCOPE_EXPERIMENT, NULL, diags);
		/* Resolve even after errors: cross-field rules and missing
		 * required fields are reported in the same pass. */
		cfg_resolve(&out->experiment, layers, ARRAY_SIZE(layers),
			    req->path ? req->path : "command line", req->backend_rules, diags);
	}
out:
	ytree_release(&tree);
	cfg_layer_release(&user);
	cfg_layer_release(&file);
	cfg_layer_release(&cli);
	diag_sort(diags);
	return diag_error_count(diags) == before ? 0 : -1;
}

void loaded_config_release(struct loaded_config *lc)
{
	if (lc->is_study)
		study_release(&lc->study);
	else
		config_release(&lc->experiment);
	free(lc->user_config_path);
	memset(lc, 0, sizeof(*lc));
}
