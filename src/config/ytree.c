/*
 * YAML loading through libfyaml's document API, copied into struct ynode.
 * libfyaml rejects duplicate keys by default and reports errors with
 * positions; we collect them instead of letting it print.
 */
#include "config/ytree.h"

#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(enum fy_node_type t)
{
	switch (t) {
	case FYNT_MAPPING: return "mapping";
	case FYNT_SEQUENCE: return "sequence";
	default: return "scalar";
	}
}

struct ynode *ynode_new(enum ynode_kind kind, const char *file, int line, int col)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->file = file;
	n->line = line;
	n->col = col;
	return n;
}

void ynode_free(struct ynode *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->count; i++) {
		if (n->keys)
			ynode_free(n->keys[i]);
		ynode_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->text);
	free(n);
}

void ynode_map_add(struct ynode *map, struct ynode *key, struct ynode *value)
{
	size_t cap = map->count;

	map->keys = xrealloc(map->keys, (cap + 1) * sizeof(*map->keys));
	map->items = xrealloc(map->items, (cap + 1) * sizeof(*map->items));
	map->keys[map->count] = key;
	map->items[map->count++] = value;
}

void ynode_seq_add(struct ynode *seq, struct ynode *item)
{
	seq->items = xrealloc(seq->items, (seq->count + 1) * sizeof(*seq->items));
	seq->items[seq->count++] = item;
}

struct ynode *ynode_map_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (!map || map->kind != YN_MAP)
		return NULL;
	for (i = 0; i < map->count; i++)
		if (map->keys[i]->text && strcmp(map->keys[i]->text, key) == 0)
			return map->items[i];
	return NULL;
}

bool ynode_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (!n || n->kind != YN_SCALAR || !n->plain)
		return false;
	for (i = 0; i < ARRAY_SIZE(nulls); i++)
		if (strcmp(n->text, nulls[i]) == 0)
			return true;
	return false;
}

static void node_position(struct fy_node *fyn, int *line, int *col)
{
	struct fy_token *t = fyn ? fy_node_get_scalar_token(fyn) : NULL;
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;

	*line = m ? m->line + 1 : 0;
	*col = m ? m->column + 1 : 0;
	/* libfyaml marks a quoted scalar at its first character; point at
	 * the opening quote, where the user sees the value begin. */
	if (fyn && *col > 1 &&
	    (fy_node_get_style(fyn) == FYNS_SINGLE_QUOTED ||
	     fy_node_get_style(fyn) == FYNS_DOUBLE_QUOTED))
		(*col)--;
}

/* Alias expansion can blow a small file up exponentially ("billion
 * laughs"); configs are small, so a generous cap costs nothing. */
#define MAX_NODES 1000000
#define MAX_DEPTH 128

struct convert_ctx {
	const char *file;
	struct diag_list *diags;
	size_t nodes;
	int depth;
	bool too_big;
};

static struct ynode *convert(struct fy_node *fyn, struct convert_ctx *cx, int line, int col);

static struct ynode *convert_scalar(struct fy_node *fyn, const char *file, struct diag_list *diags)
{
	struct ynode *n;
	const char *text = "", *tag;
	size_t len = 0, taglen = 0;
	int line = 0, col = 0;
	enum fy_node_style style = fyn ? fy_node_get_style(fyn) : FYNS_PLAIN;

	node_position(fyn, &line, &col);
	if (fyn) {
		text = fy_node_get_scalar(fyn, &len);
		if (!text)
			text = "";
	}
	n = ynode_new(YN_SCALAR, file, line, col);
	n->text = xstrndup(text, len);
	n->plain = style == FYNS_PLAIN;
	tag = fyn ? fy_node_get_tag(fyn, &taglen) : NULL;
	if (tag) {
		/* Only "!!str" is meaningful to us: it forces a string. */
		if (taglen == 21 && memcmp(tag, "tag:yaml.org,2002:str", 21) == 0)
			n->plain = false;
		else
			diag_add(diags, DIAG_ERROR, file, line, col, NULL,
				 "remove the tag; types come from the schema",
				 "YAML tag '%.*s' is not supported", (int)taglen, tag);
	}
	if (len != strlen(n->text))
		diag_add(diags, DIAG_ERROR, file, line, col, NULL, NULL,
			 "scalar contains a NUL character");
	return n;
}

/*
 * Duplicate keys are found here rather than by libfyaml, so the message
 * can name the key and its first position, and parsing can go on to
 * report the file's other problems too.
 */
static bool report_duplicate(const struct ynode *map, const struct ynode *key,
			     struct diag_list *diags)
{
	size_t i;

	for (i = 0; i < map->count; i++) {
		const struct ynode *prev = map->keys[i];

		if (strcmp(prev->text, key->text))
			continue;
		diag_add(diags, DIAG_ERROR, key->file, key->line, key->col, NULL,
			 "remove one of them", "duplicate key '%s' (first at line %d, column %d)",
			 key->text, prev->line, prev->col);
		return true;
	}
	return false;
}

static struct ynode *convert(struct fy_node *fyn, struct convert_ctx *cx, int line, int col)
{
	const char *file = cx->file;
	struct diag_list *diags = cx->diags;
	struct ynode *n;
	void *iter = NULL;

	if (++cx->nodes > MAX_NODES || cx->depth >= MAX_DEPTH) {
		if (!cx->too_big)
			diag_add(
				diags, DIAG_ERROR, file, line, col, NULL, NULL,
				"document too large or too deeply nested (after expanding aliases)");
		cx->too_big = true;
		return ynode_new(YN_SCALAR, file, line, col);
	}
	if (fyn && fy_node_is_alias(fyn)) {
		struct fy_node *target = fy_node_resolve_alias(fyn);
		int al, ac;

		node_position(fyn, &al, &ac);
		if (!target) {
			diag_add(diags, DIAG_ERROR, file, al, ac, NULL, NULL,
				 "alias does not resolve (undefined anchor or a cycle)");
			n = ynode_new(YN_SCALAR, file, al, ac);
			n->text = xstrdup("");
			return n;
		}
		cx->depth++;
		n = convert(target, cx, al, ac);
		cx->depth--;
		return n;
	}
	if (!fyn || fy_node_get_type(fyn) == FYNT_SCALAR) {
		n = convert_scalar(fyn, file, diags);
		if (!fyn) {
			/* An empty value ("key:") sits where its key ended. */
			n->line = line;
			n->col = col;
		}
		return n;
	}
	if (fy_node_get_type(fyn) == FYNT_MAPPING) {
		struct fy_node_pair *pair;

		n = ynode_new(YN_MAP, file, line, col);
		while ((pair = fy_node_mapping_iterate(fyn, &iter))) {
			struct fy_node *k = fy_node_pair_key(pair);
			struct ynode *key, *val;

			if (k && fy_node_get_type(k) != FYNT_SCALAR) {
				int kl = line, kc = col;

				diag_add(diags, DIAG_ERROR, file, kl, kc, NULL, NULL,
					 "a %s cannot be a key", type_name(fy_node_get_type(k)));
				continue;
			}
			key = convert_scalar(k, file, diags);
			if (key->plain && !strcmp(key->text, "<<")) {
				diag_add(diags, DIAG_ERROR, file, key->line, key->col, NULL,
					 "write the keys out, or use an alias for a whole value",
					 "merge keys (<<) are not supported");
				ynode_free(key);
				continue;
			}
			if (report_duplicate(n, key, diags)) {
				ynode_free(key);
				continue;
			}
			if (n->count == 0 && key->line) {
				n->line = key->line;
				n->col = key->col;
			}
			cx->depth++;
			val = convert(fy_node_pair_value(pair), cx, key->line, key->col);
			cx->depth--;
			ynode_map_add(n, key, val);
		}
		return n;
	}
	n = ynode_new(YN_SEQ, file, line, col);
	for (;;) {
		struct fy_node *item = fy_node_sequence_iterate(fyn, &iter);
		struct ynode *child;

		if (!item)
			break;
		cx->depth++;
		child = convert(item, cx, line, col);
		cx->depth--;
		if (n->count == 0 && child->line) {
			n->line = child->line;
			n->col = child->col;
		}
		ynode_seq_add(n, child);
	}
	return n;
}

int ytree_parse(struct ytree *out, const char *file, const char *text, size_t len,
		struct diag_list *diags)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_diag *diag;
	struct fy_document *fyd;
	struct fy_diag_error *err;
	void *iter = NULL;
	size_t before = diag_error_count(diags);

	memset(out, 0, sizeof(*out));
	out->file = xstrdup(file);

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		diag_add(diags, DIAG_ERROR, file, 0, 0, NULL, NULL,
			 "cannot initialise the YAML parser");
		return -1;
	}
	fy_diag_set_collect_errors(diag, true);

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_ALLOW_DUPLICATE_KEYS;
	pcfg.diag = diag;
	fyd = fy_document_build_from_string(&pcfg, text, len);

	while ((err = fy_diag_errors_iterate(diag, &iter))) {
		if (err->type < FYET_ERROR)
			continue;
		diag_add(diags, DIAG_ERROR, file, err->line, err->column, NULL, NULL, "%s",
			 err->msg ? err->msg : "invalid YAML");
	}
	if (fyd && diag_error_count(diags) == before && fy_document_root(fyd)) {
		struct convert_ctx cx = { out->file, diags, 0, 0, false };

		out->root = convert(fy_document_root(fyd), &cx, 1, 1);
	}
	/* No document and no error: the input held only comments/blank lines. */
	if (fyd)
		fy_document_destroy(fyd);
	fy_diag_destroy(diag);
	return diag_error_count(diags) == before ? 0 : -1;
}

int ytree_parse_file(struct ytree *out, const char *path, struct diag_list *diags)
{
	char *text;
	size_t len;
	int rc;

	if (fs_read_file(path, &text, &len) != 0) {
		memset(out, 0, sizeof(*out));
		diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, NULL, "%s", error_last());
		return -1;
	}
	rc = ytree_parse(out, path, text, len, diags);
	free(text);
	return rc;
}

void ytree_release(struct ytree *t)
{
	ynode_free(t->root);
	free(t->file);
	t->root = NULL;
	t->file = NULL;
}

void ytree_dump_json(const struct ynode *n, struct strbuf *out)
{
	size_t i;

	if (!n) {
		strbuf_adds(out, "null");
		return;
	}
	switch (n->kind) {
	case YN_SCALAR: json_quote(out, n->text, false); break;
	case YN_MAP:
		strbuf_addch(out, '{');
		for (i = 0; i < n->count; i++) {
			if (i)
				strbuf_addch(out, ',');
			json_quote(out, n->keys[i]->text, false);
			strbuf_addch(out, ':');
			ytree_dump_json(n->items[i], out);
		}
		strbuf_addch(out, '}');
		break;
	case YN_SEQ:
		strbuf_addch(out, '[');
		for (i = 0; i < n->count; i++) {
			if (i)
				strbuf_addch(out, ',');
			ytree_dump_json(n->items[i], out);
		}
		strbuf_addch(out, ']');
		break;
	}
}
