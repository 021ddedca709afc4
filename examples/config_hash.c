/*
 * libllem example: load a config the way `llem run` does and print its
 * hash, or every problem found. Build against an installed llem with
 *   cc config_hash.c $(pkg-config --cflags --libs llem) -o config_hash
 */
#include <llem/llem.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	llem_config_options opts = LLEM_CONFIG_OPTIONS_INIT;
	llem_config *cfg;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
		return 2;
	}
	if (llem_config_load(&cfg, argv[1], &opts) != 0) {
		fprintf(stderr, "%s\n", llem_error_last());
		return 2;
	}
	printf("llem %s: %s %s\n", llem_version(),
	       llem_config_is_study(cfg) ? "study" : "experiment", llem_config_hash(cfg));
	llem_config_free(cfg);
	return 0;
}
