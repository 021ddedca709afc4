/*
 * `llem run CONFIG [overrides] [--dry-run]`: load, validate and resolve an
 * experiment or a study through libllem; print its plan with --dry-run, or
 * run it (run_experiment.c, run_study.c).
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run_opts {
	const char *config_path;
	const char *user_config;
	const char *batch_size;
	const char *resume_dir;
	struct strbuf *overrides; /* "key=value" each */
	size_t noverrides;
	bool dry_run, quiet, verbose, json;
	bool execute_checks; /* --preflight: checks that run programs too */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: llem run [CONFIG] [options]\n\n"
		"Run the experiment or study described by CONFIG (.yaml, .yml or .json).\n"
		"A file with 'sweep:' or 'experiments:' is a study.\n\n"
		"Overrides (command line > file > user config > defaults):\n"
		"  -m, --model MODEL        model directory or synthetic/<preset>\n"
		"  -b, --backend NAME       native, pytorch, vllm or tensorrt\n"
		"  -n N                     number of prompts\n"
		"  -d, --dataset NAME|PATH  built-in dataset name or a .jsonl file\n"
		"  -p, --precision P        fp32, fp16 or bf16\n"
		"      --batch-size N       the selected backend's batch_size\n"
		"  -o, --output DIR         results directory (output_dir)\n"
		"      --set KEY=VALUE      any config field, e.g. --set decoder.top_k=0\n"
		"                           (repeatable; 'llem config --fields' lists keys)\n"
		"Studies:\n"
		"      --cycles N           execution.n_cycles\n"
		"      --order ORDER        execution.cycle_order: sequential, interleaved, shuffled\n"
		"      --no-gaps            no pauses between experiments and cycles\n"
		"      --resume DIR         continue the interrupted study in DIR (same study file)\n"
		"Other:\n"
		"      --dry-run            validate and print the resolved config; run nothing\n"
		"      --preflight          with --dry-run: also the checks that run programs\n"
		"                           (e.g. pytorch.python importing torch)\n"
		"      --json               with --dry-run: print the resolved config(s) and hashes as JSON\n"
		"      --user-config PATH   user config file ('' for none; default\n"
		"                           $XDG_CONFIG_HOME/llem/config.yaml)\n"
		"  -q, --quiet              less output\n"
		"  -v, --verbose            more output (with --dry-run: every field)\n"
		"  -h, --help               this help\n\n"
		"Exit codes: 0 ok, 1 run failed, 2 usage or config error, 3 a study finished\n"
		"with failed experiments, 130 interrupted.\n");
}

/* Adds "key=value" with value as a YAML double-quoted string. */
static void add_string_override(struct run_opts *o, const char *key, const char *value)
{
	struct strbuf *sb;

	o->overrides = xrealloc(o->overrides, (o->noverrides + 1) * sizeof(*o->overrides));
	sb = &o->overrides[o->noverrides++];
	*sb = (struct strbuf)STRBUF_INIT;
	strbuf_addf(sb, "%s=", key);
	json_quote(sb, value, false);
}

static void add_raw_override(struct run_opts *o, const char *key, const char *value)
{
	struct strbuf *sb;

	o->overrides = xrealloc(o->overrides, (o->noverrides + 1) * sizeof(*o->overrides));
	sb = &o->overrides[o->noverrides++];
	*sb = (struct strbuf)STRBUF_INIT;
	if (key)
		strbuf_addf(sb, "%s=%s", key, value);
	else
		strbuf_adds(sb, value);
}

/* Loads the config with the overrides so far; diagnostics on stderr. */
static int load(llem_config **out, const struct run_opts *o, size_t *errors)
{
	const char **ov = xcalloc(o->noverrides + 1, sizeof(*ov));
	llem_config_options opts = LLEM_CONFIG_OPTIONS_INIT;
	size_t i;
	int rc;

	for (i = 0; i < o->noverrides; i++)
		ov[i] = o->overrides[i].buf;
	opts.overrides = ov;
	opts.overrides_count = o->noverrides;
	opts.user_config_path = o->user_config;
	opts.diagnostic = cli_print_diag;
	opts.diagnostic_payload = errors;
	rc = llem_config_load(out, o->config_path, &opts);
	free(ov);
	return rc;
}

/*
 * --batch-size means "the selected backend's batch size", so the backend
 * must be known first: load once without it, then once with its key.
 * Returns 0, -1 (config errors, printed) or -2 (usage error, printed).
 */
static int apply_batch_size(struct run_opts *o, size_t *errors)
{
	llem_config *cfg;
	const char *key;
	int rc = 0;

	if (load(&cfg, o, errors) != 0)
		return -1;
	if (llem_config_batch_size_key(&key, cfg) != 0) {
		cli_error("--batch-size: %s", llem_error_last());
		if (strstr(llem_error_last(), "several backends"))
			cli_hint("use --set <backend>.batch_size=N for the one you mean");
		else
			cli_hint("see 'llem config --fields' for the backend's settings");
		rc = -2;
	} else {
		add_raw_override(o, key, o->batch_size);
	}
	llem_config_free(cfg);
	return rc;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* The plan of cfg as JSON (the dry run's data); NULL after printing why. */
static json_t *load_plan(const llem_config *cfg, char **text)
{
	json_error_t err;
	json_t *plan;

	if (llem_config_plan_json(text, cfg) != 0) {
		cli_error_lines(llem_error_last());
		return NULL;
	}
	plan = json_loads(*text, 0, &err);
	if (!plan)
		cli_error("internal: the plan is not JSON: %s", err.text);
	return plan;
}

/* The backends' preflight; 0, or EXIT_RUN_FAILED after printing why. */
/* A dry run executes nothing unless --preflight asks for it: a config
 * from someone else may name any program as its interpreter. */
static int preflight(const llem_config *cfg, bool execute)
{
	if (llem_config_preflight(cfg, execute ? LLEM_PREFLIGHT_EXECUTE : 0, cli_print_diag,
				  NULL) != 0) {
		cli_error_lines(llem_error_last());
		return EXIT_RUN_FAILED;
	}
	return EXIT_OK;
}

static void print_explicit(const json_t *plan)
{
	const json_t *list = json_object_get(plan, "explicit");
	size_t i;

	for (i = 0; i < json_array_size(list); i++) {
		const json_t *f = json_array_get(list, i);

		if (i == 0)
			printf("\nSet explicitly\n");
		printf("  %-32s %-24s %s", jstr(f, "path"), jstr(f, "value"), jstr(f, "source"));
		if (jint(f, "line") > 0)
			printf(":%lld:%lld", jint(f, "line"), jint(f, "col"));
		printf("\n");
	}
}

/* The human form of an experiment's plan. */
static void print_experiment(const llem_config *cfg, const json_t *plan, const struct run_opts *o)
{
	const json_t *sum = json_object_get(plan, "summary");
	const json_t *bs = json_object_get(sum, "batch_size");
	const json_t *energy = json_object_get(sum, "energy_backend");

	printf("Config (resolved)%s%s\n", o->config_path ? " from " : "",
	       o->config_path ? o->config_path : "");
	printf("  Model       %s\n", jstr(sum, "model"));
	printf("  Backend     %s\n", jstr(sum, "backend"));
	printf("  Precision   %s\n", jstr(sum, "precision"));
	if (json_is_integer(bs))
		printf("  Batch size  %lld\n", (long long)json_integer_value(bs));
	printf("  Dataset     %s (%lld of %lld prompts)\n", jstr(sum, "dataset"), jint(sum, "n"),
	       jint(sum, "prompts_available"));
	printf("  Tokens      up to %lld in, %lld out per prompt\n", jint(sum, "max_input_tokens"),
	       jint(sum, "max_output_tokens"));
	printf("  Energy      %s\n", json_is_string(energy) ? json_string_value(energy)
							    : "disabled (energy.backend: null)");
	printf("  Output      %s/\n", jstr(plan, "output_dir"));
	printf("  Config hash %s\n", jstr(plan, "config_hash"));
	if (!o->quiet)
		print_explicit(plan);
	if (o->verbose) {
		char *pretty = NULL;

		llem_config_effective_json(&pretty, cfg);
		printf("\nEffective config\n%s\n", pretty);
		llem_free(pretty);
	}
	printf("\nConfig valid. Run without --dry-run to start.\n");
}

static void format_duration(struct strbuf *out, double s)
{
	long total = (long)(s + 0.5);

	if (total < 120)
		strbuf_addf(out, "%lds", total);
	else if (total < 3600)
		strbuf_addf(out, "%ldm %02lds", total / 60, total % 60);
	else
		strbuf_addf(out, "%ldh %02ldm", total / 3600, (total % 3600) / 60);
}

/* The human form of a study's plan. */
static void print_study(const json_t *plan)
{
	const json_t *exps = json_object_get(plan, "experiments");
	const json_t *skipped = json_object_get(plan, "skipped");
	size_t count = json_array_size(exps), nskip = json_array_size(skipped);
	size_t total = count + nskip, i;
	long long cycles = jint(plan, "n_cycles"), runs = jint(plan, "total_runs");
	double gap_e = json_number_value(json_object_get(plan, "experiment_gap_seconds"));
	double gap_c = json_number_value(json_object_get(plan, "cycle_gap_seconds"));
	double gaps = runs > 0 ? (double)(runs - 1) * gap_e + (double)(cycles - 1) * gap_c : 0;
	struct strbuf sb = STRBUF_INIT;

	printf("Study: %s (%s)\n",
	       json_is_string(json_object_get(plan, "study_name")) ? jstr(plan, "study_name")
								   : "unnamed",
	       jstr(plan, "path"));
	printf("  Design hash  %s\n", jstr(plan, "study_design_hash"));
	printf("  Experiments  %zu valid of %zu (%lld from sweep, %lld explicit)\n", count, total,
	       jint(plan, "grid_count"), jint(plan, "explicit_count"));
	printf("  Cycles       %lld, order %s\n", cycles, jstr(plan, "cycle_order"));
	printf("  Total runs   %lld\n", runs);
	format_duration(&sb, gap_e);
	strbuf_adds(&sb, " between experiments, ");
	format_duration(&sb, gap_c);
	strbuf_adds(&sb, " between cycles: ");
	format_duration(&sb, gaps);
	printf("  Gaps         %s of pauses in total\n", sb.buf);
	printf("\n  #    config hash       differing fields\n");
	for (i = 0; i < count; i++) {
		const json_t *e = json_array_get(exps, i);
		const char *label = jstr(e, "label");

		printf("  %-4zu %s  %s\n", i + 1, jstr(e, "config_hash"),
		       *label ? label : "(fixed fields only)");
	}
	if (nskip) {
		printf("\nSkipping %zu/%zu:\n", nskip, total);
		for (i = 0; i < nskip; i++) {
			const json_t *e = json_array_get(skipped, i);

			printf("  - %s: %s\n", jstr(e, "label"), jstr(e, "reason"));
		}
		if (nskip * 2 > total)
			printf("  WARNING: %zu%% of the configs are invalid -- check the sweep dimensions.\n",
			       nskip * 100 / total);
	}
	printf("\nStudy valid. Run without --dry-run to start.\n");
	strbuf_release(&sb);
}

static int dry_run(const llem_config *cfg, const struct run_opts *o)
{
	bool study = llem_config_is_study(cfg);
	char *text = NULL;
	json_t *plan = load_plan(cfg, &text);
	int rc;

	if (!plan) {
		llem_free(text);
		return EXIT_USAGE;
	}
	rc = preflight(cfg, o->execute_checks);
	/* --json: the plan itself, for scripts. */
	if (rc == EXIT_OK && o->json)
		printf("%s\n", text);
	else if (rc == EXIT_OK && study)
		print_study(plan);
	else if (rc == EXIT_OK)
		print_experiment(cfg, plan, o);
	json_decref(plan);
	llem_free(text);
	return rc;
}

static int run_loaded(const llem_config *cfg, const struct run_opts *o)
{
	char *text = NULL;
	json_t *plan;
	int rc;

	if (!llem_config_is_study(cfg)) {
		if (o->resume_dir) {
			cli_error("--resume continues a study; '%s' is a single experiment",
				  o->config_path ? o->config_path : "this config");
			return EXIT_USAGE;
		}
		return cli_run_experiment(cfg, o->quiet);
	}
	plan = load_plan(cfg, &text);
	if (!plan) {
		llem_free(text);
		return EXIT_USAGE;
	}
	json_decref(plan);
	rc = cli_run_study(cfg, text, o->quiet, o->resume_dir);
	llem_free(text);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	enum {
		OPT_BATCH = 256,
		OPT_SET,
		OPT_DRY,
		OPT_CYCLES,
		OPT_ORDER,
		OPT_NOGAPS,
		OPT_USERCFG,
		OPT_JSON,
		OPT_RESUME,
		OPT_PREFLIGHT
	};
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "dataset", required_argument, NULL, 'd' },
		{ "precision", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "batch-size", required_argument, NULL, OPT_BATCH },
		{ "set", required_argument, NULL, OPT_SET },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "preflight", no_argument, NULL, OPT_PREFLIGHT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "cycles", required_argument, NULL, OPT_CYCLES },
		{ "order", required_argument, NULL, OPT_ORDER },
		{ "no-gaps", no_argument, NULL, OPT_NOGAPS },
		{ "user-config", required_argument, NULL, OPT_USERCFG },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct run_opts o = { 0 };
	llem_config *cfg = NULL;
	size_t errors = 0;
	bool have_model = false;
	int c, rc;
	size_t i;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:b:n:d:p:o:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			add_string_override(&o, "model", optarg);
			have_model = true;
			break;
		case 'b': add_string_override(&o, "backend", optarg); break;
		case 'n': add_raw_override(&o, "n", optarg); break;
		case 'd': add_string_override(&o, "dataset", optarg); break;
		case 'p': add_string_override(&o, "precision", optarg); break;
		case 'o': add_string_override(&o, "output_dir", optarg); break;
		case OPT_BATCH: o.batch_size = optarg; break;
		case OPT_SET:
			add_raw_override(&o, NULL, optarg);
			have_model |= str_starts_with(optarg, "model=");
			break;
		case OPT_DRY: o.dry_run = true; break;
		case OPT_PREFLIGHT: o.execute_checks = true; break;
		case OPT_JSON: o.json = true; break;
		case OPT_CYCLES: add_raw_override(&o, "execution.n_cycles", optarg); break;
		case OPT_ORDER: add_string_override(&o, "execution.cycle_order", optarg); break;
		case OPT_NOGAPS:
			add_raw_override(&o, "execution.experiment_gap_seconds", "0");
			add_raw_override(&o, "execution.cycle_gap_seconds", "0");
			break;
		case OPT_USERCFG: o.user_config = optarg; break;
		case OPT_RESUME: o.resume_dir = optarg; break;
		case 'q': o.quiet = true; break;
		case 'v': o.verbose = true; break;
		case 'h':
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		case ':':
			rc = cli_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
			goto out;
		default:
			rc = cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc)
		o.config_path = argv[optind++];
	if (optind < argc) {
		rc = cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (o.resume_dir && o.dry_run) {
		rc = cli_usage_error("run", "--resume and --dry-run do not go together");
		goto out;
	}
	if (o.execute_checks && !o.dry_run) {
		rc = cli_usage_error("run",
				     "--preflight goes with --dry-run (a run always does it)");
		goto out;
	}
	if (o.json && !o.dry_run) {
		rc = cli_usage_error("run", "--json needs --dry-run");
		goto out;
	}
	if (!o.config_path && !have_model) {
		cli_error("provide a config file or --model");
		fprintf(stderr, "  examples:\n    llem run examples/quickstart.yaml\n"
				"    llem run --model synthetic/smollm-135m --dry-run\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (o.batch_size) {
		rc = apply_batch_size(&o, &errors);
		if (rc == -2) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (rc != 0)
			goto config_failed;
	}
	if (load(&cfg, &o, &errors) != 0)
		goto config_failed;
	rc = o.dry_run ? dry_run(cfg, &o) : run_loaded(cfg, &o);
	llem_config_free(cfg);
	goto out;

config_failed:
	if (errors)
		cli_error("invalid configuration: %zu error%s", errors, errors == 1 ? "" : "s");
	else
		cli_error_lines(llem_error_last());
	rc = EXIT_USAGE;
out:
	for (i = 0; i < o.noverrides; i++)
		strbuf_release(&o.overrides[i]);
	free(o.overrides);
	return rc;
}
