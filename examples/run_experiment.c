/*
 * libllem example: run one experiment from a config file and print the
 * result JSON (energy, throughput, latency, FLOPs) on stdout.
 *   cc run_experiment.c $(pkg-config --cflags --libs llem) -o run_experiment
 *   ./run_experiment examples/quickstart.yaml
 */
#include <llem/llem.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	llem_config_options copts = LLEM_CONFIG_OPTIONS_INIT;
	llem_run_options ropts = LLEM_RUN_OPTIONS_INIT;
	llem_config *cfg;
	char *json, *dir;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
		return 2;
	}
	if (llem_config_load(&cfg, argv[1], &copts) != 0) {
		fprintf(stderr, "%s\n", llem_error_last());
		return 2;
	}
	rc = llem_run_experiment(&json, &dir, cfg, &ropts);
	llem_config_free(cfg);
	if (rc != 0) {
		fprintf(stderr, "run failed: %s\n", llem_error_last());
		return 1;
	}
	fputs(json, stdout);
	fprintf(stderr, "saved in %s\n", dir);
	llem_free(json);
	llem_free(dir);
	return 0;
}
