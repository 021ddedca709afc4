/*
 * Test tool: parses a YAML file with llem's loader and prints the tree as
 * JSON with every scalar a string (PyYAML BaseLoader's view), or the
 * diagnostics and exit status 1. Used to cross-check the parser.
 */
#include "config/ytree.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf out = STRBUF_INIT;
	struct ytree tree;
	size_t i;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: yaml_dump FILE\n");
		return 2;
	}
	if (ytree_parse_file(&tree, argv[1], &diags) != 0) {
		for (i = 0; i < diags.count; i++) {
			strbuf_reset(&out);
			diag_format(&diags.items[i], &out);
			fprintf(stderr, "%s\n", out.buf);
		}
		rc = 1;
	} else {
		ytree_dump_json(tree.root, &out);
		printf("%s\n", out.buf);
	}
	ytree_release(&tree);
	diag_list_release(&diags);
	strbuf_release(&out);
	return rc;
}
