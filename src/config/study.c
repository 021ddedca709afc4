/*
 * Study files: the original's grammar (seed-repo.md §3.2-3.3) without its
 * bugs. Fixed fields, an optional base: file, sweep: dimensions and an
 * experiments: list expand into experiments, each resolved with the same
 * rules as a single config. Grids are per backend with the last key
 * varying fastest; every point gets its own values (no shared sections);
 * a scoped key for a backend the study does not run is an error, never a
 * silent switch of backend. Invalid points are skipped with their reason.
 */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const study_only_keys[] = { "sweep", "experiments", "base",
					       "name", NULL };

struct dimension {
	const struct field *field;
	int section;                 /* backend section id, or -1: universal */
	const struct ynode *key;
	struct cfg_value *values;
	struct cfg_origin *origins;  /* borrowed file names */
	size_t count;
};

static void dimension_release(struct dimension *d)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		cfg_value_release(&d->values[i]);
	free(d->values);
	free(d->origins);
}

static void add_value(struct dimension *d, const struct ynode *n,
		      struct diag_list *diags)
{
	struct cfg_value v;

	if (cfg_value_from_node(&v, d->field, n, d->field->path, diags) != 0)
		return;
	d->values = xrealloc(d->values, (d->count + 1) * sizeof(*d->values));
	d->origins = xrealloc(d->origins, (d->count + 1) * sizeof(*d->origins));
	d->values[d->count] = v;
	d->origins[d->count].source = (char *)n->file;
	d->origins[d->count].line = n->line;
	d->origins[d->count].col = n->col;
	d->count++;
}

/* Reads one sweep key into a dimension; 0 or -1 (reported). */
static int read_dimension(struct dimension *d, const struct ynode *key,
			  const struct ynode *val, struct diag_list *diags)
{
	const struct field *f = schema_find(key->text);
	size_t i, before = diag_error_count(diags);

	memset(d, 0, sizeof(*d));
	d->key = key;
	if (!f) {
		const char *dot = strrchr(key->text, '.');
		char *prefix = dot ? xstrndup(key->text, (size_t)(dot - key->text))
				   : xstrdup("");

		cfg_unknown_key(diags, key, prefix, key->text);
		free(prefix);
		return -1;
	}
	if (f->type == FT_SECTION || (f->flags & F_STUDY)) {
		diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, key->text,
			 NULL, "cannot be swept; sweep one of its settings or a config field");
		return -1;
	}
	d->field = f;
	d->section = schema_section_of(schema_id(f));
	if (val->kind == YN_MAP) {
		diag_add(diags, DIAG_ERROR, val->file, val->line, val->col, key->text,
			 "write a list such as [1, 8, 32]", "sweep values must be a list or a single value");
		return -1;
	}
	if (val->kind == YN_SEQ) {
		if (val->count == 0) {
			diag_add(diags, DIAG_ERROR, key->file, key->line, key->col,
				 key->text, NULL, "sweep list is empty");
			return -1;
		}
		for (i = 0; i < val->count; i++)
			add_value(d, val->items[i], diags);
	} else {
		add_value(d, val, diags);
	}
	return diag_error_count(diags) == before ? 0 : -1;
}

static void label_add(struct strbuf *sb, const char *path, const struct cfg_value *v)
{
	if (sb->len)
		strbuf_adds(sb, ", ");
	strbuf_addf(sb, "%s=", path);
	cfg_value_format(v, sb);
}

/* First error of a failed point, without its position, for the skip list. */
static char *first_error(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < dl->count; i++) {
		if (dl->items[i].severity != DIAG_ERROR)
			continue;
		if (dl->items[i].path)
			strbuf_addf(&sb, "%s: ", dl->items[i].path);
		strbuf_adds(&sb, dl->items[i].message);
		break;
	}
	return strbuf_detach(&sb);
}

static void add_point(struct study *s, const struct cfg_layer *const *layers,
		      size_t n, const char *fallback, char *label)
{
	struct diag_list local = DIAG_LIST_INIT;
	struct config cfg;

	if (cfg_resolve(&cfg, layers, n, fallback, &local) == 0) {
		s->points = xrealloc(s->points, (s->count + 1) * sizeof(*s->points));
		s->labels = xrealloc(s->labels, (s->count + 1) * sizeof(*s->labels));
		s->points[s->count] = cfg;
		s->labels[s->count++] = label;
	} else {
		config_release(&cfg);
		s->skipped = xrealloc(s->skipped,
				      (s->skipped_count + 1) * sizeof(*s->skipped));
		s->skipped[s->skipped_count].label = label;
		s->skipped[s->skipped_count++].reason = first_error(&local);
	}
	diag_list_release(&local);
}

/* The backends the study runs: swept, listed, or the one resolved backend. */
static void backend_list(struct dimension *out, const struct dimension *swept,
			 const struct ynode *fixed_list,
			 const struct cfg_layer *const *layers, size_t n,
			 struct diag_list *diags)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->field = &schema_fields[FIELD_BACKEND];
	out->section = -1;
	if (swept) {
		for (i = 0; i < swept->count; i++) {
			out->values = xrealloc(out->values, (i + 1) * sizeof(*out->values));
			out->origins = xrealloc(out->origins, (i + 1) * sizeof(*out->origins));
			cfg_value_copy(&out->values[i], &swept->values[i]);
			out->origins[i] = swept->origins[i];
			out->count++;
		}
		return;
	}
	if (fixed_list) {
		for (i = 0; i < fixed_list->count; i++)
			add_value(out, fixed_list->items[i], diags);
		return;
	}
	for (i = n; i > 0; i--) {
		if (layers[i - 1]->set[FIELD_BACKEND]) {
			out->values = xcalloc(1, sizeof(*out->values));
			out->origins = xcalloc(1, sizeof(*out->origins));
			cfg_value_copy(&out->values[0], &layers[i - 1]->v[FIELD_BACKEND]);
			out->origins[0] = layers[i - 1]->o[FIELD_BACKEND];
			out->count = 1;
			return;
		}
	}
	out->values = xcalloc(1, sizeof(*out->values));
	out->origins = xcalloc(1, sizeof(*out->origins));
	out->values[0].kind = CV_STRING;
	out->values[0].s = xstrdup(schema_fields[FIELD_BACKEND].def);
	out->count = 1;
}

static bool backend_listed(const struct dimension *backends, const char *name)
{
	size_t i;

	for (i = 0; i < backends->count; i++)
		if (!strcmp(backends->values[i].s, name))
			return true;
	return false;
}

/* Expands the grid of one backend, odometer style, last dimension fastest. */
static void expand_backend(struct study *s, const struct cfg_layer *const *base,
			   size_t nbase, const char *fallback,
			   const struct dimension *backends, size_t bi,
			   const struct dimension *dims, size_t ndims)
{
	const char *backend = backends->values[bi].s;
	const struct dimension **use = xcalloc(ndims + 1, sizeof(*use));
	const struct cfg_layer **layers = xcalloc(nbase + 1, sizeof(*layers));
	size_t *idx, nuse = 0, i;

	for (i = 0; i < ndims; i++)
		if (dims[i].section < 0 ||
		    !strcmp(schema_fields[dims[i].section].path, backend))
			use[nuse++] = &dims[i];
	idx = xcalloc(nuse + 1, sizeof(*idx));
	for (i = 0; i < nbase; i++)
		layers[i] = base[i];
	for (;;) {
		struct cfg_layer point;
		struct strbuf label = STRBUF_INIT;
		const struct cfg_origin *bo = &backends->origins[bi];

		cfg_layer_init(&point);
		cfg_layer_set(&point, FIELD_BACKEND, &backends->values[bi],
			      bo->source, bo->line, bo->col);
		if (backends->count > 1)
			label_add(&label, "backend", &backends->values[bi]);
		for (i = 0; i < nuse; i++) {
			const struct dimension *d = use[i];
			const struct cfg_origin *o = &d->origins[idx[i]];

			cfg_layer_set(&point, schema_id(d->field), &d->values[idx[i]],
				      o->source, o->line, o->col);
			label_add(&label, d->field->path, &d->values[idx[i]]);
		}
		layers[nbase] = &point;
		add_point(s, layers, nbase + 1, fallback, strbuf_detach(&label));
		cfg_layer_release(&point);
		s->grid_count++;

		/* Advance the odometer: the last dimension varies fastest. */
		for (i = nuse; i > 0; i--) {
			if (++idx[i - 1] < use[i - 1]->count)
				break;
			idx[i - 1] = 0;
		}
		if (i == 0)
			break;
	}
	free(idx);
	free(layers);
	free(use);
}

static void explicit_label(struct strbuf *sb, const struct cfg_layer *l)
{
	size_t id;

	for (id = 0; id < FIELD_COUNT; id++)
		if (l->set[id] && schema_fields[id].type != FT_SECTION)
			label_add(sb, schema_fields[id].path, &l->v[id]);
}

/* Open-addressing set of config hashes (16 hex digits as a 64-bit key). */
struct hash_set {
	uint64_t *keys;
	size_t cap;
};

static bool hash_set_add(struct hash_set *hs, const char *hex)
{
	uint64_t key = strtoull(hex, NULL, 16), i;

	if (key == 0)
		key = 1; /* 0 marks an empty slot */
	for (i = key & (hs->cap - 1);; i = (i + 1) & (hs->cap - 1)) {
		if (hs->keys[i] == key)
			return false;
		if (hs->keys[i] == 0) {
			hs->keys[i] = key;
			return true;
		}
	}
}

static void design_hash(struct study *s)
{
	struct strbuf sb = STRBUF_INIT;
	struct hash_set hs = { NULL, 16 };
	size_t i;
	bool first = true;

	while (hs.cap < 2 * s->count)
		hs.cap *= 2;
	hs.keys = xcalloc(hs.cap, sizeof(*hs.keys));
	/* json.dumps of the list of unique configs, in first-seen order. */
	strbuf_addch(&sb, '[');
	for (i = 0; i < s->count; i++) {
		if (!hash_set_add(&hs, s->points[i].hash))
			continue;
		if (!first)
			strbuf_adds(&sb, ", ");
		strbuf_adds(&sb, s->points[i].canonical_json);
		first = false;
	}
	strbuf_addch(&sb, ']');
	sha256_hex(sb.buf, sb.len, s->design_hash, 16);
	strbuf_release(&sb);
	free(hs.keys);
}

int study_load(struct study *out, const struct ytree *tree,
	       const struct cfg_layer *user, const struct cfg_layer *cli,
	       struct diag_list *diags)
{
	const struct ynode *root = tree->root, *n, *fixed_backends = NULL;
	struct cfg_layer base, fixed;
	struct ytree base_tree = { 0 };
	struct dimension *dims = NULL, backends = { 0 };
	const struct dimension *swept_backend = NULL;
	const char *skip[8];
	size_t ndims = 0, i, before = diag_error_count(diags), nskip = 0;
	const struct cfg_layer *layers[5];
	size_t nlayers = 0;
	bool grid_ok;

	memset(out, 0, sizeof(*out));
	out->path = xstrdup(tree->file);
	cfg_layer_init(&base);
	cfg_layer_init(&fixed);
	for (i = 0; study_only_keys[i]; i++)
		skip[nskip++] = study_only_keys[i];

	if ((n = ynode_map_get(root, "name"))) {
		if (n->kind == YN_SCALAR && !ynode_is_null(n))
			out->name = xstrdup(n->text);
		else if (!ynode_is_null(n))
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "name",
				 NULL, "expected a string");
	}
	if ((n = ynode_map_get(root, "base"))) {
		char *dir = fs_dirname(tree->file);
		char *path = n->kind != YN_SCALAR ? NULL
			     : strcmp(dir, ".") ? fs_join(dir, n->text) : xstrdup(n->text);

		if (!path) {
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "base",
				 NULL, "expected a file path");
		} else if (!fs_exists(path)) {
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "base",
				 "paths are relative to the study file's directory",
				 "file not found: %s", path);
		} else if (ytree_parse_file(&base_tree, path, diags) == 0 &&
			   base_tree.root) {
			static const char *const base_skip[] = {
				"sweep", "experiments", "base", "name", "execution", NULL
			};

			if (base_tree.root->kind != YN_MAP)
				diag_add(diags, DIAG_ERROR, path, base_tree.root->line,
					 base_tree.root->col, NULL, NULL,
					 "config must be a mapping");
			else
				cfg_layer_from_map(&base, base_tree.root, SCOPE_EXPERIMENT,
						   base_skip, diags);
		}
		free(dir);
		free(path);
	}
	n = ynode_map_get(root, "backend");
	if (n && n->kind == YN_SEQ) {
		fixed_backends = n;
		skip[nskip++] = "backend";
	}
	skip[nskip] = NULL;
	cfg_layer_from_map(&fixed, root, SCOPE_STUDY, skip, diags);

	if ((n = ynode_map_get(root, "sweep")) && !ynode_is_null(n)) {
		if (n->kind != YN_MAP) {
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "sweep",
				 NULL, "expected a mapping of field: [values]");
		} else {
			dims = xcalloc(n->count + 1, sizeof(*dims));
			for (i = 0; i < n->count; i++) {
				if (read_dimension(&dims[ndims], n->keys[i], n->items[i],
						   diags) != 0) {
					dimension_release(&dims[ndims]);
					continue;
				}
				if (dims[ndims].field == &schema_fields[FIELD_BACKEND]) {
					if (fixed_backends)
						diag_add(diags, DIAG_ERROR, n->keys[i]->file,
							 n->keys[i]->line, n->keys[i]->col,
							 "backend", NULL,
							 "backend is both a list and swept; keep one");
					swept_backend = &dims[ndims];
				}
				ndims++;
			}
		}
	}
	layers[nlayers++] = user;
	layers[nlayers++] = &base;
	layers[nlayers++] = &fixed;
	layers[nlayers++] = cli;
	backend_list(&backends, swept_backend, fixed_backends, layers, nlayers, diags);

	/* A scoped key must belong to a backend the study runs. */
	for (i = 0; i < ndims; i++) {
		const char *sec;

		if (dims[i].section < 0)
			continue;
		sec = schema_fields[dims[i].section].path;
		if (!backend_listed(&backends, sec))
			diag_add(diags, DIAG_ERROR, dims[i].key->file, dims[i].key->line,
				 dims[i].key->col, dims[i].key->text,
				 "add it to backend (e.g. backend: [native, pytorch]) or remove this key",
				 "sweeps '%s' settings but the study does not run backend '%s'",
				 sec, sec);
	}
	/* Grid errors stop expansion but not the checks of experiments:. */
	grid_ok = diag_error_count(diags) == before;
	if (grid_ok && (ndims > 0 || backends.count > 1))
		for (i = 0; i < backends.count; i++) {
			/* The backend dimension itself is handled per grid. */
			struct dimension *rest = xcalloc(ndims + 1, sizeof(*rest));
			size_t j, nrest = 0;

			for (j = 0; j < ndims; j++)
				if (&dims[j] != swept_backend)
					rest[nrest++] = dims[j];
			expand_backend(out, layers, nlayers, tree->file, &backends, i,
				       rest, nrest);
			free(rest);
		}

	if ((n = ynode_map_get(root, "experiments")) && !ynode_is_null(n)) {
		if (n->kind != YN_SEQ) {
			diag_add(diags, DIAG_ERROR, n->file, n->line, n->col,
				 "experiments", NULL, "expected a list of configs");
		} else {
			for (i = 0; i < n->count; i++) {
				const struct ynode *e = n->items[i];
				struct cfg_layer entry;
				struct strbuf label = STRBUF_INIT;
				size_t mark = diag_error_count(diags);

				if (e->kind != YN_MAP) {
					diag_add(diags, DIAG_ERROR, e->file, e->line, e->col,
						 "experiments", NULL,
						 "each entry must be a mapping of config fields");
					continue;
				}
				cfg_layer_init(&entry);
				cfg_layer_from_map(&entry, e, SCOPE_EXPERIMENT, NULL, diags);
				if (grid_ok && diag_error_count(diags) == mark) {
					layers[nlayers] = &entry;
					explicit_label(&label, &entry);
					add_point(out, layers, nlayers + 1, tree->file,
						  strbuf_detach(&label));
					out->explicit_count++;
				}
				cfg_layer_release(&entry);
			}
		}
	}
	if (diag_error_count(diags) != before)
		goto out;

	if (out->count + out->skipped_count == 0) {
		/* An empty sweep with fixed fields is one experiment. */
		if (fixed.set[FIELD_MODEL] || base.set[FIELD_MODEL] ||
		    cli->set[FIELD_MODEL] || user->set[FIELD_MODEL])
			add_point(out, layers, nlayers, tree->file, xstrdup(""));
		else
			diag_add(diags, DIAG_ERROR, tree->file, 0, 0, NULL,
				 "add a sweep: block, an experiments: list, or a model: field",
				 "study produced no experiments");
	}
	if (out->count == 0 && out->skipped_count > 0) {
		struct strbuf why = STRBUF_INIT;

		for (i = 0; i < out->skipped_count && i < 3; i++)
			strbuf_addf(&why, "%s%s%s%s", i ? "; " : "",
				    out->skipped[i].label,
				    *out->skipped[i].label ? ": " : "",
				    out->skipped[i].reason);
		diag_add(diags, DIAG_ERROR, tree->file, 0, 0, NULL, NULL,
			 "nothing to run: all %zu generated configs are invalid (first: %s)",
			 out->skipped_count, why.buf);
		strbuf_release(&why);
	}
	cfg_resolve_execution(&out->execution, layers, nlayers, diags);
	if (out->count)
		design_hash(out);
out:
	for (i = 0; i < ndims; i++)
		dimension_release(&dims[i]);
	free(dims);
	dimension_release(&backends);
	ytree_release(&base_tree);
	cfg_layer_release(&base);
	cfg_layer_release(&fixed);
	return diag_error_count(diags) == before ? 0 : -1;
}

void study_release(struct study *s)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		config_release(&s->points[i]);
		free(s->labels[i]);
	}
	for (i = 0; i < s->skipped_count; i++) {
		free(s->skipped[i].label);
		free(s->skipped[i].reason);
	}
	free(s->points);
	free(s->labels);
	free(s->skipped);
	config_release(&s->execution);
	free(s->name);
	free(s->path);
	memset(s, 0, sizeof(*s));
}
