/*
 * A parsed YAML/JSON document as a plain tree with source positions, so
 * validation never depends on the parser library. Scalars keep their text
 * and whether they were plain (unquoted): typing is the schema's job.
 */
#ifndef LLEM_CONFIG_YTREE_H
#define LLEM_CONFIG_YTREE_H

#include "util/util.h"

enum ynode_kind { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_kind kind;
	const char *file;     /* borrowed from the tree */
	int line, col;        /* 1-based */
	char *text;           /* YN_SCALAR */
	bool plain;           /* YN_SCALAR: unquoted, so null/bool/number apply */
	size_t count;         /* YN_MAP pairs or YN_SEQ items */
	struct ynode **keys;  /* YN_MAP: scalar key nodes */
	struct ynode **items; /* YN_MAP values or YN_SEQ items */
};

struct ytree {
	char *file;
	struct ynode *root; /* NULL for an empty document */
};

/*
 * Parses YAML (JSON is read as YAML flow syntax). Syntax errors, duplicate
 * keys and unsupported features become diagnostics; returns 0 or -1.
 */
int ytree_parse(struct ytree *out, const char *file, const char *text, size_t len,
		struct diag_list *diags);
int ytree_parse_file(struct ytree *out, const char *path, struct diag_list *diags);
void ytree_release(struct ytree *t);

struct ynode *ynode_new(enum ynode_kind kind, const char *file, int line, int col);
void ynode_free(struct ynode *n);
void ynode_map_add(struct ynode *map, struct ynode *key, struct ynode *value);
void ynode_seq_add(struct ynode *seq, struct ynode *item);
/* The value for key in a map, or NULL. */
struct ynode *ynode_map_get(const struct ynode *map, const char *key);
/* Plain scalars that YAML 1.2 resolves to null ("", "~", "null"...). */
bool ynode_is_null(const struct ynode *n);
/* Writes the tree as JSON with every scalar as a string (PyYAML's
 * BaseLoader view), for cross-checking the parser. */
void ytree_dump_json(const struct ynode *n, struct strbuf *out);

#endif
