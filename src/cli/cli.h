/*
 * cli: argument parsing, human output and exit codes; the only layer that
 * prints or exits. A client of libllem: it includes the public headers
 * (include/llem/), util and system headers, nothing else (checked by
 * tests/layering). One cmd_<name>.c per subcommand, dispatched from main.c.
 */
#ifndef LLEM_CLI_H
#define LLEM_CLI_H

#include "llem/llem.h"
#include "util.h"

/* Exit codes (docs/architecture.md). */
enum {
	EXIT_OK = 0,
	EXIT_RUN_FAILED = 1,   /* preflight, backend or experiment failure */
	EXIT_USAGE = 2,        /* bad command line or config */
	EXIT_PARTIAL = 3,      /* a study finished with failed experiments */
	EXIT_INTERRUPTED = 130 /* SIGINT */
};

int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);

/* Runs a loaded experiment and prints its summary; an exit code. */
int cli_run_experiment(const llem_config *cfg, bool quiet);
/* Runs a loaded study; 0, 1, 2 (a resume of another study), 3 (some
 * failed) or 130 (interrupted). plan is its llem_config_plan_json. */
int cli_run_study(const llem_config *cfg, const char *plan_json, bool quiet,
		  const char *resume_dir);

/* "llem: error: ..." on stderr. */
void cli_error(const char *fmt, ...) LLEM_PRINTF(1, 2);
void cli_hint(const char *fmt, ...) LLEM_PRINTF(1, 2);
/* Prints an error and "Run 'llem CMD --help'" and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) LLEM_PRINTF(2, 3);
/* Each line of a library message as its own "llem: error: " line. */
void cli_error_lines(const char *message);
/* A diagnostic as the CLI shows it: its line, then "  hint: ..." when it
 * has a hint, each ending in a newline. */
void cli_format_diag(const llem_diag *d, struct strbuf *out);
/* A llem_diag_cb: prints the diagnostic and its hint on stderr, and counts
 * errors in *(size_t *)payload when payload is not NULL. */
void cli_print_diag(const llem_diag *d, void *payload);

#endif
