/*
 * `llem config`: what this machine offers for measurement (CPU, GPUs via
 * NVML, RAPL zones, runnable backends, the user config), and with --fields
 * every config key from the schema table. Always exits 0 for the machine
 * report: a missing sensor is information, not an error.
 */
#include "cli.h"
#include "backends/backends.h"
#include "config/config.h"
#include "energy/energy.h"
#include "env/env.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: llem config [options]\n\n"
		"Show what this machine offers for energy measurement: CPU, GPUs (NVML),\n"
		"RAPL zones, the backends this build can run, and the user config.\n\n"
		"  --fields               list every config key: type, default, allowed values\n"
		"  --format text|markdown output format of --fields (default text)\n"
		"  --rapl-root DIR        powercap root to inspect (default /sys/class/powercap)\n"
		"  --user-config PATH     user config file to check\n"
		"  -v, --verbose          more detail (driver, library paths, settings)\n"
		"  -h, --help             this help\n");
}

static void show_cpu(const struct env_snapshot *env)
{
	printf("CPU\n");
	printf("  Model     %s\n", env->cpu_model ? env->cpu_model : "(unknown)");
	printf("  Cores     %d logical", env->cpu_logical_cores);
	if (env->cpu_physical_cores > 0)
		printf(", %d physical", env->cpu_physical_cores);
	printf("\n  Governor  %s\n", env->cpu_governor ? env->cpu_governor
						   : "(not exposed)");
	if (env->memory_total_mb > 0)
		printf("  Memory    %.1f GiB\n", (double)env->memory_total_mb / 1024.0);
}

static void show_gpus(const struct env_nvml *nvml, bool verbose)
{
	size_t i;

	printf("GPU\n");
	if (!nvml->loaded) {
		printf("  No GPU detected (%s)\n", nvml->error ? nvml->error : "NVML unavailable");
		return;
	}
	if (nvml->gpu_count == 0)
		printf("  No GPU detected (NVML loaded, 0 devices)\n");
	for (i = 0; i < nvml->gpu_count; i++) {
		const struct env_gpu *g = &nvml->gpus[i];

		printf("  %d  %s", g->index, g->name ? g->name : "(unnamed)");
		if (g->memory_total_mb > 0)
			printf("  %.1f GiB", (double)g->memory_total_mb / 1024.0);
		if (!isnan(g->power_limit_w))
			printf("  power limit %.0f W", g->power_limit_w);
		if (g->persistence_mode == 0)
			printf("  (persistence mode off)");
		printf("\n");
	}
	printf("  Driver %s, CUDA %s\n",
	       nvml->driver_version ? nvml->driver_version : "?",
	       nvml->cuda_driver_version ? nvml->cuda_driver_version : "?");
	if (verbose && nvml->library_path)
		printf("  Library %s\n", nvml->library_path);
}

static void show_rapl(const char *root)
{
	struct rapl_probe p;
	size_t i;

	rapl_probe(root, &p);
	printf("CPU energy (RAPL, %s)\n", p.root ? p.root : root);
	if (!p.present) {
		printf("  No RAPL zones found (no powercap interface on this machine or in this container)\n");
		rapl_probe_release(&p);
		return;
	}
	for (i = 0; i < p.zone_count; i++) {
		const struct rapl_zone *z = &p.zones[i];

		printf("  %s%-12s %-16s %s\n", z->depth ? "  " : "",
		       z->name ? z->name : "?", z->id,
		       z->readable ? "readable" : "not readable");
	}
	if (!p.all_readable && p.fix_hint)
		printf("  fix: %s\n", p.fix_hint);
	rapl_probe_release(&p);
}

static void show_backends(void)
{
	const struct backend_info *list;
	size_t n = backends_list(&list), i;

	printf("Backends\n");
	for (i = 0; i < n; i++) {
		struct strbuf found = STRBUF_INIT;
		bool ok = list[i].runnable;

		/* A backend that depends on the machine says what it found. */
		if (ok && list[i].ops->describe)
			ok = list[i].ops->describe(&found);
		printf("  %-9s %s%s\n", list[i].name, ok ? "available: " : "unavailable: ",
		       found.len ? strbuf_str(&found) : list[i].status);
		strbuf_release(&found);
	}
}

static void show_user_config(const char *path, bool verbose)
{
	struct config_request req = { 0 };
	struct loaded_config lc;
	struct diag_list diags = DIAG_LIST_INIT;
	char *default_path = path ? NULL : config_user_path();
	const char *shown = path ? path : default_path;

	printf("Config\n");
	printf("  Path    %s\n", shown ? shown : "(no HOME or XDG_CONFIG_HOME)");
	if (!shown || !fs_exists(shown)) {
		printf("  Status  using defaults (no config file)\n");
		free(default_path);
		return;
	}
	/* Validate it the way `llem run` will: as defaults under a model. */
	req.overrides = (const char *const[]){ "model=\"synthetic/check\"" };
	req.overrides_count = 1;
	req.user_config_path = shown;
	if (config_load(&lc, &req, &diags) == 0 || lc.user_config_loaded) {
		printf("  Status  loaded\n");
		if (verbose && !lc.is_study) {
			size_t id;

			for (id = 0; id < FIELD_COUNT; id++) {
				struct strbuf v = STRBUF_INIT;

				if (!lc.experiment.o[id].source ||
				    strcmp(lc.experiment.o[id].source, shown))
					continue;
				cfg_value_format(&lc.experiment.v[id], &v);
				printf("    %s: %s\n", schema_fields[id].path, v.buf);
				strbuf_release(&v);
			}
		}
	} else {
		printf("  Status  invalid (%zu error%s; llem run will refuse it):\n",
		       diag_error_count(&diags), diag_error_count(&diags) == 1 ? "" : "s");
		fflush(stdout);
		{
			struct strbuf msg = STRBUF_INIT;

			diag_list_format(&diags, false, &msg);
			fprintf(stderr, "%s\n", msg.buf);
			strbuf_release(&msg);
		}
	}
	loaded_config_release(&lc);
	diag_list_release(&diags);
	free(default_path);
}

int cmd_config(int argc, char **argv)
{
	enum { OPT_FIELDS = 256, OPT_FORMAT, OPT_RAPL, OPT_USERCFG };
	static const struct option longopts[] = {
		{ "fields", no_argument, NULL, OPT_FIELDS },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "rapl-root", required_argument, NULL, OPT_RAPL },
		{ "user-config", required_argument, NULL, OPT_USERCFG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *format = "text", *rapl_root = "/sys/class/powercap";
	const char *user_config = NULL;
	bool fields = false, verbose = false;
	struct env_snapshot env;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FIELDS: fields = true; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_RAPL: rapl_root = optarg; break;
		case OPT_USERCFG: user_config = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case ':':
			return cli_usage_error("config", "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("config", "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("config", "unexpected argument '%s'", argv[optind]);
	if (fields) {
		struct strbuf sb = STRBUF_INIT;

		if (!strcmp(format, "markdown"))
			config_fields_markdown(&sb);
		else if (!strcmp(format, "text"))
			config_fields_text(&sb);
		else
			return cli_usage_error("config", "--format must be text or markdown, got '%s'",
					       format);
		fputs(sb.buf, stdout);
		strbuf_release(&sb);
		return EXIT_OK;
	}

	env_snapshot_collect(&env);
	printf("llem %s\n\n", env.llem_version);
	show_cpu(&env);
	show_gpus(&env.nvml, verbose);
	show_rapl(rapl_root);
	show_backends();
	show_user_config(user_config, verbose);
	printf("System\n");
	printf("  Kernel     %s (%s)\n", env.kernel ? env.kernel : "?", env.arch ? env.arch : "?");
	printf("  Distro     %s\n", env.distro ? env.distro : "?");
	printf("  Container  %s\n", env.container ? env.container : "none detected");
	if (verbose)
		printf("  Build      %s\n", env.llem_build ? env.llem_build : "?");
	env_snapshot_release(&env);
	return EXIT_OK;
}
