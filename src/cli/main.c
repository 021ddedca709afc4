/*
 * llem's entry point: global options (--version, --help) and the table of
 * subcommands, after git's builtin table.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run an experiment or a study (or check it with --dry-run)" },
	{ "config", cmd_config,
	  "show what this machine offers for measurement; list config fields" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: llem [--version [-v]] [--help] <command> [<args>]\n\n"
		     "Measure what LLM deployment choices cost: energy, throughput,\n"
		     "latency and FLOPs.\n\n"
		     "Commands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'llem <command> --help' for a command's options.\n"
		     "Exit codes: 0 ok, 1 run failed, 2 usage or config error,\n"
		     "3 study finished with failures, 130 interrupted.\n");
}

static int print_version(bool verbose)
{
	printf("llem %s\n", llem_version());
	if (verbose)
		printf("%s\n", llem_build_info());
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *names[ARRAY_SIZE(commands)];
	bool version = false, verbose = false;
	const char *near;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			version = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else {
			return cli_usage_error(NULL, "unknown option '%s'", argv[i]);
		}
	}
	if (version)
		return print_version(verbose);
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].fn(argc - i, argv + i);
	/* Not in the table, so not in --help: the study runner's worker. */
	if (!strcmp(argv[i], "__worker"))
		return llem_study_worker_main(argc - i, argv + i);
	for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
		names[c] = commands[c].name;
	near = did_you_mean(argv[i], names, ARRAY_SIZE(names), 2);
	cli_error("'%s' is not a llem command", argv[i]);
	if (near)
		cli_hint("did you mean 'llem %s'?", near);
	fprintf(stderr, "Run 'llem --help' for the list of commands.\n");
	return EXIT_USAGE;
}
