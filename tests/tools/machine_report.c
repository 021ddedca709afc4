/*
 * Test driver for tests/cli/test_machine_report.py: a client of the public
 * header alone (as the CLI is), printing what one machine-report call gives
 * so Python can check it against facts it reads itself.
 *
 *   machine_report [RAPL_ROOT]     llem_machine_report_json (root "-": NULL)
 *   machine_report --fields FMT    llem_config_fields_doc, or "error: <rc> <msg>"
 *   machine_report --user-path     llem_config_user_path, "(null)" for none
 */
#include "llem/llem.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char *out = NULL;
	int rc;

	if (argc == 3 && !strcmp(argv[1], "--fields")) {
		rc = llem_config_fields_doc(&out, argv[2]);
		if (rc) {
			printf("error: %d %s\n", rc, llem_error_last());
			return out == NULL ? 1 : 3; /* *out must stay NULL on error */
		}
	} else if (argc == 2 && !strcmp(argv[1], "--user-path")) {
		rc = llem_config_user_path(&out);
		if (rc)
			return 1;
		printf("%s\n", out ? out : "(null)");
		llem_free(out);
		return 0;
	} else if (argc <= 2) {
		const char *root = argc == 2 && strcmp(argv[1], "-") ? argv[1] : NULL;

		rc = llem_machine_report_json(&out, root);
		if (rc) {
			printf("error: %d %s\n", rc, llem_error_last());
			return 1;
		}
	} else {
		fprintf(stderr, "usage: machine_report [RAPL_ROOT | --fields FMT | --user-path]\n");
		return 2;
	}
	fputs(out, stdout);
	llem_free(out);
	return 0;
}
