/*
 * `llem config`: what this machine offers for measurement (CPU, GPUs via
 * NVML, RAPL zones, runnable backends, the user config), and with --fields
 * every config key from the schema table. Always exits 0 for the machine
 * report: a missing sensor is information, not an error. A client of the
 * public API only: the facts come from llem_machine_report_json
 * (docs/machine-report.md), this file only lays them out.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
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

/* A string member, or dflt when it is null or missing (borrowed). */
static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : dflt;
}

static void show_cpu(const json_t *report)
{
	const json_t *cpu = json_object_get(report, "cpu");
	const json_t *logical = json_object_get(cpu, "logical_cores");
	const json_t *physical = json_object_get(cpu, "physical_cores");
	const json_t *mem = json_object_get(json_object_get(report, "system"), "memory_total_mib");

	printf("CPU\n");
	printf("  Model     %s\n", str_or(cpu, "model", "(unknown)"));
	if (json_is_integer(logical))
		printf("  Cores     %" JSON_INTEGER_FORMAT " logical", json_integer_value(logical));
	else
		printf("  Cores     (unknown) logical");
	if (json_is_integer(physical))
		printf(", %" JSON_INTEGER_FORMAT " physical", json_integer_value(physical));
	printf("\n  Governor  %s\n", str_or(cpu, "governor", "(not exposed)"));
	if (json_is_integer(mem) && json_integer_value(mem) > 0)
		printf("  Memory    %.1f GiB\n", (double)json_integer_value(mem) / 1024.0);
}

static void show_gpus(const json_t *report, bool verbose)
{
	const json_t *gpu = json_object_get(report, "gpu");
	const json_t *devices = json_object_get(gpu, "devices");
	const json_t *d;
	size_t i;

	printf("GPU\n");
	if (!json_is_true(json_object_get(gpu, "nvml_loaded"))) {
		printf("  No GPU detected (%s)\n", str_or(gpu, "error", "NVML unavailable"));
		return;
	}
	if (json_array_size(devices) == 0)
		printf("  No GPU detected (NVML loaded, 0 devices)\n");
	json_array_foreach(devices, i, d)
	{
		const json_t *mem = json_object_get(d, "memory_total_mib");
		const json_t *limit = json_object_get(d, "power_limit_w");

		printf("  %" JSON_INTEGER_FORMAT "  %s",
		       json_integer_value(json_object_get(d, "index")),
		       str_or(d, "name", "(unnamed)"));
		if (json_is_integer(mem) && json_integer_value(mem) > 0)
			printf("  %.1f GiB", (double)json_integer_value(mem) / 1024.0);
		if (json_is_number(limit))
			printf("  power limit %.0f W", json_number_value(limit));
		if (json_is_false(json_object_get(d, "persistence_mode")))
			printf("  (persistence mode off)");
		printf("\n");
	}
	printf("  Driver %s, CUDA %s\n", str_or(gpu, "driver_version", "?"),
	       str_or(gpu, "cuda_driver_version", "?"));
	if (verbose && json_is_string(json_object_get(gpu, "library_path")))
		printf("  Library %s\n", str_or(gpu, "library_path", ""));
}

static void show_rapl(const json_t *report)
{
	const json_t *rapl = json_object_get(report, "rapl");
	const json_t *z;
	size_t i;

	printf("CPU energy (RAPL, %s)\n", str_or(rapl, "root", "?"));
	if (!json_is_true(json_object_get(rapl, "present"))) {
		printf("  No RAPL zones found (no powercap interface on this machine or in this container)\n");
		return;
	}
	json_array_foreach(json_object_get(rapl, "zones"), i, z)
	{
		printf("  %s%-12s %-16s %s\n",
		       json_integer_value(json_object_get(z, "depth")) ? "  " : "",
		       str_or(z, "name", "?"), str_or(z, "id", "?"),
		       json_is_true(json_object_get(z, "readable")) ? "readable" : "not readable");
	}
	if (!json_is_true(json_object_get(rapl, "all_readable")) &&
	    json_is_string(json_object_get(rapl, "fix_hint")))
		printf("  fix: %s\n", str_or(rapl, "fix_hint", ""));
}

static void show_backends(const json_t *report)
{
	const json_t *b;
	size_t i;

	printf("Backends\n");
	json_array_foreach(json_object_get(report, "backends"), i, b)
	{
		bool ok = json_is_true(json_object_get(b, "available"));

		printf("  %-9s %s%s\n", str_or(b, "name", "?"),
		       ok ? "available: " : "unavailable: ", str_or(b, "detail", ""));
	}
}

static void show_system(const json_t *report, bool verbose)
{
	const json_t *sys = json_object_get(report, "system");

	printf("System\n");
	printf("  Kernel     %s (%s)\n", str_or(sys, "kernel", "?"), str_or(sys, "arch", "?"));
	printf("  Distro     %s\n", str_or(sys, "distro", "?"));
	printf("  Container  %s\n", str_or(sys, "container", "none detected"));
	if (verbose)
		printf("  Build      %s\n", str_or(json_object_get(report, "llem"), "build", "?"));
}

/*
 * The user config's problems arrive while it loads, before we know which
 * status line to print; they are kept here and printed after it, in the
 * order llem_config_load gave them.
 */
struct diag_sink {
	struct strbuf text;
	size_t errors;
};

static void collect_diag(const llem_diag *d, void *payload)
{
	struct diag_sink *sink = payload;

	cli_format_diag(d, &sink->text);
	if (d->severity == LLEM_DIAG_ERROR)
		sink->errors++;
}

/* With -v: each setting the user config made, as the plan records it. */
static void show_user_settings(const llem_config *cfg, const char *path)
{
	char *text = NULL;
	json_t *plan = NULL, *e;
	size_t i;

	if (llem_config_plan_json(&text, cfg) != 0) {
		printf("    (settings not shown: %s)\n", llem_error_last());
		goto out;
	}
	plan = json_loads(text, 0, NULL);
	json_array_foreach(json_object_get(plan, "explicit"), i, e)
	{
		const json_t *value = json_object_get(e, "value");
		char *dumped = NULL;

		if (strcmp(str_or(e, "source", ""), path))
			continue;
		/* The plan gives the value as text; anything else is shown
		 * as the JSON it is rather than dropped. */
		if (!json_is_string(value))
			dumped = json_dumps(value, JSON_ENCODE_ANY);
		printf("    %s: %s\n", str_or(e, "path", "?"),
		       dumped ? dumped : str_or(e, "value", "?"));
		free(dumped);
	}
out:
	json_decref(plan);
	llem_free(text);
}

static void show_user_config(const char *path, bool verbose)
{
	static const char *const overrides[] = { "model=\"synthetic/check\"" };
	llem_config_options opts = LLEM_CONFIG_OPTIONS_INIT;
	struct diag_sink sink = { STRBUF_INIT, 0 };
	llem_config *cfg = NULL;
	char *default_path = NULL;
	const char *shown = path;
	int rc;

	if (!shown) {
		llem_config_user_path(&default_path);
		shown = default_path;
	}
	printf("Config\n");
	printf("  Path    %s\n", shown ? shown : "(no HOME or XDG_CONFIG_HOME)");
	if (!shown || !fs_exists(shown)) {
		printf("  Status  using defaults (no config file)\n");
		goto out;
	}
	/* Validate it the way `llem run` will: as defaults under a model. */
	opts.overrides = overrides;
	opts.overrides_count = ARRAY_SIZE(overrides);
	opts.user_config_path = shown;
	opts.diagnostic = collect_diag;
	opts.diagnostic_payload = &sink;
	rc = llem_config_load(&cfg, NULL, &opts);
	if (rc == 0) {
		printf("  Status  loaded\n");
		if (verbose && !llem_config_is_study(cfg))
			show_user_settings(cfg, shown);
	} else {
		/* No problem reached the callback (an unreadable file): the
		 * message holds them, one per line. */
		if (!sink.errors) {
			const char *msg = llem_error_last(), *p;

			strbuf_addf(&sink.text, "%s\n", msg);
			for (p = msg, sink.errors = 1; (p = strchr(p, '\n')); p++)
				sink.errors++;
		}
		printf("  Status  invalid (%zu error%s; llem run will refuse it):\n", sink.errors,
		       sink.errors == 1 ? "" : "s");
	}
	/* stdout first: the problems read after the status they explain. */
	fflush(stdout);
	fputs(strbuf_str(&sink.text), stderr);
out:
	llem_config_free(cfg);
	strbuf_release(&sink.text);
	llem_free(default_path);
}

static int show_fields(const char *format)
{
	char *doc = NULL;

	if (llem_config_fields_doc(&doc, format) != 0)
		return cli_usage_error("config", "--format must be text or markdown, got '%s'",
				       format);
	fputs(doc, stdout);
	llem_free(doc);
	return EXIT_OK;
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
	const char *format = "text", *rapl_root = NULL;
	const char *user_config = NULL;
	bool fields = false, verbose = false;
	char *text = NULL;
	json_t *report = NULL;
	json_error_t jerr;
	int c, rc = EXIT_OK;

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
		default: return cli_usage_error("config", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("config", "unexpected argument '%s'", argv[optind]);
	if (fields)
		return show_fields(format);

	llem_machine_report_json(&text, rapl_root);
	report = json_loads(text, 0, &jerr);
	if (!report) {
		cli_error("machine report is not JSON (line %d: %s)", jerr.line, jerr.text);
		rc = EXIT_RUN_FAILED;
		goto out;
	}
	printf("llem %s\n\n", str_or(json_object_get(report, "llem"), "version", "?"));
	show_cpu(report);
	show_gpus(report, verbose);
	show_rapl(report);
	show_backends(report);
	show_user_config(user_config, verbose);
	show_system(report, verbose);
out:
	json_decref(report);
	llem_free(text);
	return rc;
}
