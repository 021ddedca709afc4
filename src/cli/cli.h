/*
 * cli: argument parsing, human output and exit codes. The only layer that
 * prints or exits. One cmd_<name>.c per subcommand, dispatched from main.c.
 */
#ifndef LLEM_CLI_H
#define LLEM_CLI_H

#include "util/util.h"

/* Exit codes (DESIGN.md §8). */
enum {
	EXIT_OK = 0,
	EXIT_RUN_FAILED = 1,    /* preflight, backend or experiment failure */
	EXIT_USAGE = 2,         /* bad command line or config */
	EXIT_PARTIAL = 3,       /* a study finished with failed experiments */
	EXIT_INTERRUPTED = 130  /* SIGINT */
};

int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_worker(int argc, char **argv); /* hidden: one experiment of a study */

/* Runs one resolved experiment and prints its summary; an exit code. */
struct config;
int cli_run_experiment(const struct config *cfg, bool quiet);
/* Runs a study; 0, 3 (some failed) or 130 (interrupted). */
struct study;
int cli_run_study(const struct study *s, bool quiet, const char *resume_dir);

/* "llem: error: ..." on stderr. */
void cli_error(const char *fmt, ...) LLEM_PRINTF(1, 2);
void cli_hint(const char *fmt, ...) LLEM_PRINTF(1, 2);
void cli_warning(const char *fmt, ...) LLEM_PRINTF(1, 2);
/* Prints an error and "Run 'llem CMD --help'" and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) LLEM_PRINTF(2, 3);
/* Prints every diagnostic (errors and warnings) to stderr. */
void cli_print_diags(const struct diag_list *dl);

#endif
