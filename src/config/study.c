/*
 * Study files: the original tool's grammar (docs/studies.md) without its
 * bugs. Fixed fields, an optional base: file, sweep: dimensions and an
 * experiments: list expand into experiments, each resolved with the same
 * rules as a single config. Grids are per backend with the last key
 * varying fastest; every point gets its own values (no shared sections);
 * a scoped key for a backend the study does not run is an error, never a
 * silent switch of backend. Invalid points are skipped with their reason.
 */
#include "config/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const study_only_keys[] = { "sweep", "experiments", "base", "name", NULL };

struct dimension {
	const struct field *field;
	int section; /* backend section id, or -1: universal */
	const struct ynode *key;
	struct cfg_value *values;
	struct cfg_origin *origins; /* borrowed file names */
	size_t count, values_cap, origins_cap;
};

static void dimension_release(struct dimension *d)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		cfg_value_release(&d->values[i]);
	free(d->values);
	free(d->origins);
}

static void push_value(struct dimension *d, const struct cfg_value *v, const struct ynode *at)
{
	GROW(d->values, d->values_cap, d->count + 1);
	GROW(d->origins, d->origins_cap, d->count + 1);
	d->values[d->count] = *v;
	d->origins[d->count].source = (char *)at->file;
	d->origins[d->count].line = at->line;
	d->origins[d->count].col = at->col;
	d->count++;
}

static void add_value(struct dimension *d, const struct ynode *n, struct diag_list *diags)
{
	struct cfg_value v;

	if (cfg_value_from_node(&v, d->field, n, d->field->path, diags) != 0)
		return;
	push_value(d, &v, n);
}

/* Reads one sweep key into a dimension; 0 or -1 (reported). */
static int read_dimension(struct dimension *d, const struct ynode *key, const struct ynode *val,
			  struct diag_list *diags)
{
	const struct field *f = schema_find(key->text);
	size_t i, before = diag_error_count(diags);

	memset(d, 0, sizeof(*d));
	d->key = key;
	if (!f) {
		const char *dot = strrchr(key->text, '.');
		char *prefix = dot ? xstrndup(key->text, (size_t)(dot - key->text)) : xstrdup("");

		cfg_unknown_key(diags, key, prefix, key->text);
		free(prefix);
		return -1;
	}
	if (f->type == FT_SECTION || (f->flags & F_STUDY)) {
		diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, key->text, NULL,
			 "cannot be swept; sweep one of its settings or a config field");
		return -1;
	}
	d->field = f;
	d->section = schema_section_of(schema_id(f));
	if (val->kind == YN_MAP) {
		struct cfg_value *values = NULL;
		size_t n = cfg_range_expand(&values, f, key->text, val, diags);

		for (i = 0; i < n; i++)
			push_value(d, &values[i], val);
		free(values);
	} else if (val->kind == YN_SEQ) {
		if (val->count == 0) {
			diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, key->text, NULL,
				 "sweep list is empty");
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
		strbuf_add(sb, ", ", 2);
	strbuf_adds(sb, path);
	strbuf_addch(sb, '=');
	if (v->kind == CV_INT) {
		/* Every grid point has a label: no printf for the common case. */
		char buf[24], *p = buf + sizeof(buf);
		uint64_t u = v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i;

		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v->i < 0)
			*--p = '-';
		strbuf_add(sb, p, (size_t)(buf + sizeof(buf) - p));
	} else {
		cfg_value_format(v, sb);
	}
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

static void add_point(struct study *s, const struct cfg_layer *const *layers, size_t n,
		      const char *fallback, char *label)
{
	struct diag_list local = DIAG_LIST_INIT;
	struct config cfg;

	if (cfg_resolve(&cfg, layers, n, fallback, s->backend_rules, &local) == 0) {
		GROW(s->points, s->points_cap, s->count + 1);
		GROW(s->labels, s->labels_cap, s->count + 1);
		s->points[s->count] = cfg;
		s->labels[s->count++] = label;
	} else {
		config_release(&cfg);
		GROW(s->skipped, s->skipped_cap, s->skipped_count + 1);
		s->skipped[s->skipped_count].label = label;
		s->skipped[s->skipped_count++].reason = first_error(&local);
	}
	diag_list_release(&local);
}

/* The backends the study runs: swept, listed, or the one resolved backend. */
static void backend_list(struct dimension *out, const struct dimension *swept,
			 const struct ynode *fixed_list, const struct cfg_layer *const *layers,
			 size_t n, struct diag_list *diags)
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

/* The dimensions of one backend's grid: the universal ones and its own. */
static size_t grid_dims(const struct dimension **use, const struct dimension *dims, size_t ndims,
			const char *backend)
{
	size_t i, nuse = 0;

	for (i = 0; i < ndims; i++)
		if (dims[i].section < 0 || !strcmp(schema_fields[dims[i].section].path, backend))
			use[nuse++] = &dims[i];
	return nuse;
}

/* Points in a grid, saturating at GRID_MAX_POINTS + 1. */
#define GRID_MAX_POINTS 1000000

static size_t grid_size(const struct dimension *const *use, size_t nuse)
{
	size_t i, n = 1;

	for (i = 0; i < nuse; i++) {
		n *= use[i]->count;
		if (n > GRID_MAX_POINTS)
			return GRID_MAX_POINTS + 1;
	}
	return n;
}

/*
 * One backend's grid. Point p is the odometer reading p (last dimension
 * fastest), so the points can be resolved in any order, by several
 * threads, straight into their slots of s->points; skipped ones are
 * taken out afterwards, in order. The result never depends on the split.
 */
struct grid {
	struct study *s;
	const struct cfg_layer *const *base;
	size_t nbase;
	const char *fallback;
	const struct cfg_value *backend;
	const struct cfg_origin *backend_origin;
	bool label_backend;
	const struct dimension *const *use;
	size_t nuse;
	size_t first;   /* slot in s->points and s->labels of point 0 */
	char **reasons; /* per point: NULL, or why it is skipped */
};

struct grid_part {
	struct grid *g;
	size_t lo, hi;
};

static void *resolve_part(void *arg)
{
	const struct grid_part *part = arg;
	const struct grid *g = part->g;
	const struct cfg_layer **layers = xcalloc(g->nbase + 1, sizeof(*layers));
	size_t *idx = xcalloc(g->nuse + 1, sizeof(*idx));
	struct cfg_layer point;
	size_t p, i, rest = part->lo, moved = 0;

	for (i = g->nuse; i > 0; i--) {
		idx[i - 1] = rest % g->use[i - 1]->count;
		rest /= g->use[i - 1]->count;
	}
	for (i = 0; i < g->nbase; i++)
		layers[i] = g->base[i];
	/* One layer for all points: it sets the same fields every time, and
	 * only the dimensions the odometer moved are set again. */
	cfg_layer_init(&point);
	cfg_layer_set(&point, FIELD_BACKEND, g->backend, g->backend_origin->source,
		      g->backend_origin->line, g->backend_origin->col);
	layers[g->nbase] = &point;
	for (p = part->lo; p < part->hi; p++) {
		struct diag_list local = DIAG_LIST_INIT;
		struct strbuf label = STRBUF_INIT;
		struct config *cfg = &g->s->points[g->first + p];

		for (i = moved; i < g->nuse; i++) {
			const struct dimension *d = g->use[i];
			const struct cfg_origin *o = &d->origins[idx[i]];

			cfg_layer_set(&point, schema_id(d->field), &d->values[idx[i]], o->source,
				      o->line, o->col);
		}
		if (g->label_backend)
			label_add(&label, "backend", g->backend);
		for (i = 0; i < g->nuse; i++)
			label_add(&label, g->use[i]->field->path, &g->use[i]->values[idx[i]]);
		g->s->labels[g->first + p] = strbuf_detach(&label);
		if (cfg_resolve(cfg, layers, g->nbase + 1, g->fallback, g->s->backend_rules,
				&local) != 0) {
			config_release(cfg);
			g->reasons[p] = first_error(&local);
		}
		diag_list_release(&local);

		/* Advance the odometer: the last dimension varies fastest. */
		for (i = g->nuse; i > 0; i--) {
			if (++idx[i - 1] < g->use[i - 1]->count)
				break;
			idx[i - 1] = 0;
		}
		moved = i > 0 ? i - 1 : 0;
	}
	cfg_layer_release(&point);
	free(idx);
	free(layers);
	return NULL;
}

/* Threads pay for themselves from a few thousand points on. */
static size_t grid_threads(size_t total)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cpus > 1 ? (size_t)cpus : 1;

	if (n > 8)
		n = 8;
	while (n > 1 && total / n < 4096)
		n--;
	return n;
}

static void expand_backend(struct study *s, const struct cfg_layer *const *base, size_t nbase,
			   const char *fallback, const struct dimension *backends, size_t bi,
			   const struct dimension *dims, size_t ndims)
{
	const struct dimension **use = xcalloc(ndims + 1, sizeof(*use));
	struct grid g = { 0 };
	struct grid_part parts[8];
	pthread_t tids[8];
	bool started[8] = { false };
	size_t total, nthreads, t, p, to;

	g.s = s;
	g.base = base;
	g.nbase = nbase;
	g.fallback = fallback;
	g.backend = &backends->values[bi];
	g.backend_origin = &backends->origins[bi];
	g.label_backend = backends->count > 1;
	g.nuse = grid_dims(use, dims, ndims, backends->values[bi].s);
	g.use = use;
	g.first = s->count;
	total = grid_size(use, g.nuse); /* the caller checked the limit */
	g.reasons = xcalloc(total, sizeof(*g.reasons));
	GROW(s->points, s->points_cap, s->count + total);
	GROW(s->labels, s->labels_cap, s->count + total);

	nthreads = grid_threads(total);
	for (t = 0; t < nthreads; t++) {
		parts[t].g = &g;
		parts[t].lo = total * t / nthreads;
		parts[t].hi = total * (t + 1) / nthreads;
	}
	/* Part 0 runs here; a thread that cannot start runs here too. */
	for (t = 1; t < nthreads; t++)
		started[t] = pthread_create(&tids[t], NULL, resolve_part, &parts[t]) == 0;
	resolve_part(&parts[0]);
	for (t = 1; t < nthreads; t++) {
		if (started[t])
			pthread_join(tids[t], NULL);
		else
			resolve_part(&parts[t]);
	}

	/* Skipped points leave the list, in grid order. */
	for (p = 0, to = g.first; p < total; p++) {
		char *label = s->labels[g.first + p];

		if (g.reasons[p]) {
			GROW(s->skipped, s->skipped_cap, s->skipped_count + 1);
			s->skipped[s->skipped_count].label = label;
			s->skipped[s->skipped_count++].reason = g.reasons[p];
			continue;
		}
		if (to != g.first + p)
			s->points[to] = s->points[g.first + p];
		s->labels[to++] = label;
	}
	s->count = to;
	s->grid_count += total;
	free(g.reasons);
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
	uint64_t key = 0, i;

	for (i = 0; i < 16; i++) /* lowercase hex from sha256_hex */
		key = key << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);

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
	struct sha256_ctx ctx;
	struct hash_set hs = { NULL, 16 };
	size_t i;
	bool first = true;

	while (hs.cap < 2 * s->count)
		hs.cap *= 2;
	hs.keys = xcalloc(hs.cap, sizeof(*hs.keys));
	/* json.dumps of the list of unique configs, in first-seen order,
	 * hashed as it goes (100,000 points would be 130 MB of text). */
	sha256_init(&ctx);
	sha256_update(&ctx, "[", 1);
	for (i = 0; i < s->count; i++) {
		if (!hash_set_add(&hs, s->points[i].hash))
			continue;
		if (!first)
			sha256_update(&ctx, ", ", 2);
		sha256_update(&ctx, s->points[i].canonical_json, s->points[i].canonical_len);
		first = false;
	}
	sha256_update(&ctx, "]", 1);
	sha256_final_hex(&ctx, s->design_hash, 16);
	free(hs.keys);
}

/* What study_load builds on its way; study_build_release frees it. */
struct study_build {
	struct study *out;
	const struct ytree *tree;
	const struct ynode *root;
	const struct cfg_layer *user, *cli;
	struct diag_list *diags;
	size_t before; /* errors in diags when the load began */
	struct cfg_layer base, fixed;
	struct ytree base_tree;
	const struct ynode *fixed_backends; /* backend: as a list, or NULL */
	struct dimension *dims, backends;
	size_t ndims;
	const struct dimension *swept_backend;
	/* user, base, fixed, cli; the fifth slot is an experiments: entry's */
	const struct cfg_layer *layers[5];
	size_t nlayers;
	bool grid_ok;
};

/* name: a string or null (unnamed); anything else is an error. */
/*
 * Why a study name cannot name the study's directory, or NULL. The name
 * becomes one path component under output_dir (runner.c), so it must not
 * climb out of it ("../x"), add levels ("a/b") or carry control
 * characters (a newline in a directory name breaks every script).
 */
static const char *study_name_problem(const char *name)
{
	const unsigned char *p;

	if (!*name)
		return "must not be empty";
	if (strlen(name) > STUDY_NAME_MAX)
		return "is longer than " STUDY_NAME_MAX_TEXT " bytes";
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return "must not be '.' or '..'";
	if (strchr(name, '/'))
		return "must be one path component, without '/'";
	for (p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "must not contain control characters (newlines, tabs, ...)";
	return NULL;
}

static void study_read_name(struct study_build *b)
{
	const struct ynode *n = ynode_map_get(b->root, "name");
	const char *why;

	if (!n)
		return;
	if (n->kind != YN_SCALAR || ynode_is_null(n)) {
		if (!ynode_is_null(n))
			diag_add(b->diags, DIAG_ERROR, n->file, n->line, n->col, "name", NULL,
				 "expected a string");
		return;
	}
	why = study_name_problem(n->text);
	if (why) {
		diag_add(b->diags, DIAG_ERROR, n->file, n->line, n->col, "name",
			 "the name becomes the study's directory under output_dir: use letters, "
			 "digits, '-', '_' and '.', e.g. name: batch-sweep",
			 "%s", why);
		return;
	}
	b->out->name = xstrdup(n->text);
}

/* base: a config file, relative to the study file's directory, that is
 * the layer under the study's own fields. */
static void study_read_base(struct study_build *b)
{
	const struct ynode *n = ynode_map_get(b->root, "base");
	struct diag_list *diags = b->diags;
	char *dir, *path;

	if (!n)
		return;
	dir = fs_dirname(b->tree->file);
	path = n->kind != YN_SCALAR ? NULL
	       : strcmp(dir, ".")   ? fs_join(dir, n->text)
				    : xstrdup(n->text);
	if (!path) {
		diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "base", NULL,
			 "expected a file path");
	} else if (!fs_exists(path)) {
		diag_add(diags, DIAG_ERROR, n->file, n->line, n->col, "base",
			 "paths are relative to the study file's directory", "file not found: %s",
			 path);
	} else if (ytree_parse_file(&b->base_tree, path, diags) == 0 && b->base_tree.root) {
		static const char *const base_skip[] = { "sweep", "experiments", "base",
							 "name",  "execution",   NULL };
		const struct ynode *root = b->base_tree.root;

		if (root->kind != YN_MAP)
			diag_add(diags, DIAG_ERROR, path, root->line, root->col, NULL, NULL,
				 "config must be a mapping");
		else
			cfg_layer_from_map(&b->base, root, SCOPE_EXPERIMENT, base_skip, diags);
	}
	free(dir);
	free(path);
}

/* The study's fixed fields: every key but the study-only ones, and but
 * backend: when it is a list, which becomes the list of backends run. */
static void study_read_fixed(struct study_build *b)
{
	const struct ynode *n;
	const char *skip[8];
	size_t i, nskip = 0;

	for (i = 0; study_only_keys[i]; i++)
		skip[nskip++] = study_only_keys[i];
	n = ynode_map_get(b->root, "backend");
	if (n && n->kind == YN_SEQ) {
		b->fixed_backends = n;
		skip[nskip++] = "backend";
	}
	skip[nskip] = NULL;
	cfg_layer_from_map(&b->fixed, b->root, SCOPE_STUDY, skip, b->diags);
}

/* sweep: one dimension per key; a swept backend may not also be a list. */
static void study_read_sweep(struct study_build *b)
{
	const struct ynode *n = ynode_map_get(b->root, "sweep");
	size_t i;

	if (!n || ynode_is_null(n))
		return;
	if (n->kind != YN_MAP) {
		diag_add(b->diags, DIAG_ERROR, n->file, n->line, n->col, "sweep", NULL,
			 "expected a mapping of field: [values]");
		return;
	}
	b->dims = xcalloc(n->count + 1, sizeof(*b->dims));
	for (i = 0; i < n->count; i++) {
		struct dimension *d = &b->dims[b->ndims];

		if (read_dimension(d, n->keys[i], n->items[i], b->diags) != 0) {
			dimension_release(d);
			continue;
		}
		if (d->field == &schema_fields[FIELD_BACKEND]) {
			if (b->fixed_backends)
				diag_add(b->diags, DIAG_ERROR, n->keys[i]->file, n->keys[i]->line,
					 n->keys[i]->col, "backend", NULL,
					 "backend is both a list and swept; keep one");
			b->swept_backend = d;
		}
		b->ndims++;
	}
}

/* The layers every point starts from and the backends the study runs. */
static void study_backends(struct study_build *b)
{
	size_t i;

	b->layers[b->nlayers++] = b->user;
	b->layers[b->nlayers++] = &b->base;
	b->layers[b->nlayers++] = &b->fixed;
	b->layers[b->nlayers++] = b->cli;
	backend_list(&b->backends, b->swept_backend, b->fixed_backends, b->layers, b->nlayers,
		     b->diags);

	/* A scoped key must belong to a backend the study runs. */
	for (i = 0; i < b->ndims; i++) {
		const struct dimension *d = &b->dims[i];
		const char *sec;

		if (d->section < 0)
			continue;
		sec = schema_fields[d->section].path;
		if (!backend_listed(&b->backends, sec))
			diag_add(
				b->diags, DIAG_ERROR, d->key->file, d->key->line, d->key->col,
				d->key->text,
				"add it to backend (e.g. backend: [native, pytorch]) or remove this key",
				"sweeps '%s' settings but the study does not run backend '%s'", sec,
				sec);
	}
}

/* The sweep's points, one grid per backend, when the sweep has no errors. */
static void study_expand_grid(struct study_build *b)
{
	struct dimension *rest;
	const struct dimension **use;
	size_t i, nrest = 0, points = 0;

	/* Grid errors stop expansion but not the checks of experiments:. */
	b->grid_ok = diag_error_count(b->diags) == b->before;
	if (!b->grid_ok || (b->ndims == 0 && b->backends.count <= 1))
		return;
	/* The backend dimension itself is handled per grid. */
	rest = xcalloc(b->ndims + 1, sizeof(*rest));
	use = xcalloc(b->ndims + 1, sizeof(*use));
	for (i = 0; i < b->ndims; i++)
		if (&b->dims[i] != b->swept_backend)
			rest[nrest++] = b->dims[i];
	for (i = 0; i < b->backends.count; i++)
		points += grid_size(use, grid_dims(use, rest, nrest, b->backends.values[i].s));
	/* Every point is resolved and kept: refuse a grid no machine
	 * could hold rather than run out of memory half-way. */
	if (points > GRID_MAX_POINTS) {
		const struct ynode *n = ynode_map_get(b->root, "sweep");

		diag_add(b->diags, DIAG_ERROR, n->file, n->line, n->col, "sweep",
			 "sweep fewer values (or larger steps), or split the study",
			 "the sweep gives more than %d experiments", GRID_MAX_POINTS);
		b->grid_ok = false;
	}
	for (i = 0; b->grid_ok && i < b->backends.count; i++)
		expand_backend(b->out, b->layers, b->nlayers, b->tree->file, &b->backends, i, rest,
			       nrest);
	free(use);
	free(rest);
}

/* experiments: each entry is checked; it becomes a point (its own layer
 * on top) only when it and the grid are free of errors. */
static void study_read_experiments(struct study_build *b)
{
	const struct ynode *n = ynode_map_get(b->root, "experiments");
	size_t i;

	if (!n || ynode_is_null(n))
		return;
	if (n->kind != YN_SEQ) {
		diag_add(b->diags, DIAG_ERROR, n->file, n->line, n->col, "experiments", NULL,
			 "expected a list of configs");
		return;
	}
	for (i = 0; i < n->count; i++) {
		const struct ynode *e = n->items[i];
		struct cfg_layer entry;
		struct strbuf label = STRBUF_INIT;
		size_t mark = diag_error_count(b->diags);

		if (e->kind != YN_MAP) {
			diag_add(b->diags, DIAG_ERROR, e->file, e->line, e->col, "experiments",
				 NULL, "each entry must be a mapping of config fields");
			continue;
		}
		cfg_layer_init(&entry);
		cfg_layer_from_map(&entry, e, SCOPE_EXPERIMENT, NULL, b->diags);
		if (b->grid_ok && diag_error_count(b->diags) == mark) {
			b->layers[b->nlayers] = &entry;
			explicit_label(&label, &entry);
			add_point(b->out, b->layers, b->nlayers + 1, b->tree->file,
				  strbuf_detach(&label));
			b->out->explicit_count++;
		}
		cfg_layer_release(&entry);
	}
}

/* A study must run something: no points at all is one experiment of the
 * fixed fields (if they name a model), all points skipped is an error. */
static void study_check_points(struct study_build *b)
{
	struct study *out = b->out;
	size_t i;

	if (out->count + out->skipped_count == 0) {
		/* An empty sweep with fixed fields is one experiment. */
		if (b->fixed.set[FIELD_MODEL] || b->base.set[FIELD_MODEL] ||
		    b->cli->set[FIELD_MODEL] || b->user->set[FIELD_MODEL])
			add_point(out, b->layers, b->nlayers, b->tree->file, xstrdup(""));
		else
			diag_add(b->diags, DIAG_ERROR, b->tree->file, 0, 0, NULL,
				 "add a sweep: block, an experiments: list, or a model: field",
				 "study produced no experiments");
	}
	if (out->count == 0 && out->skipped_count > 0) {
		struct strbuf why = STRBUF_INIT;

		for (i = 0; i < out->skipped_count && i < 3; i++)
			strbuf_addf(&why, "%s%s%s%s", i ? "; " : "", out->skipped[i].label,
				    *out->skipped[i].label ? ": " : "", out->skipped[i].reason);
		diag_add(b->diags, DIAG_ERROR, b->tree->file, 0, 0, NULL, NULL,
			 "nothing to run: all %zu generated configs are invalid (first: %s)",
			 out->skipped_count, why.buf);
		strbuf_release(&why);
	}
}

static void study_build_release(struct study_build *b)
{
	size_t i;

	for (i = 0; i < b->ndims; i++)
		dimension_release(&b->dims[i]);
	free(b->dims);
	dimension_release(&b->backends);
	ytree_release(&b->base_tree);
	cfg_layer_release(&b->base);
	cfg_layer_release(&b->fixed);
}

int study_load(struct study *out, const struct ytree *tree, const struct cfg_layer *user,
	       const struct cfg_layer *cli, config_backend_rules_fn backend_rules,
	       struct diag_list *diags)
{
	struct study_build b = { .out = out,
				 .tree = tree,
				 .root = tree->root,
				 .user = user,
				 .cli = cli,
				 .diags = diags,
				 .before = diag_error_count(diags) };

	memset(out, 0, sizeof(*out));
	out->backend_rules = backend_rules;
	out->path = xstrdup(tree->file);
	cfg_layer_init(&b.base);
	cfg_layer_init(&b.fixed);

	study_read_name(&b);
	study_read_base(&b);
	study_read_fixed(&b);
	study_read_sweep(&b);
	study_backends(&b);
	study_expand_grid(&b);
	study_read_experiments(&b);
	if (diag_error_count(diags) == b.before) {
		study_check_points(&b);
		cfg_resolve_execution(&out->execution, b.layers, b.nlayers, diags);
		if (out->count)
			design_hash(out);
	}
	study_build_release(&b);
	return diag_error_count(diags) == b.before ? 0 : -1;
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
