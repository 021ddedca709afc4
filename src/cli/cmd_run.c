/*
 * `llem run CONFIG [overrides] [--dry-run]`: load, validate and resolve an
 * experiment or a study; print it with --dry-run, or run the experiment
 * (run_experiment.c).
 */
#include "cli/cli.h"
#include "backends/backends.h"
#include "config/config.h"
#include "datasets/datasets.h"

#include <getopt.h>
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
		"      --json               with --dry-run: print the resolved config(s) and hashes as JSON\n"
		"      --user-config PATH   user config file ('' for none; default\n"
		"                           $XDG_CONFIG_HOME/llem/config.yaml)\n"
		"  -q, --quiet              less output\n"
		"  -v, --verbose            more output (with --dry-run: every field)\n"
		"  -h, --help               this help\n\n"
		"Exit codes: 0 ok, 1 run failed, 2 usage or config error.\n");
}

/* Adds "key=value" with value as a YAML double-quoted string. */
static void add_string_override(struct run_opts *o, const char *key,
				const char *value)
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

static int load(struct loaded_config *lc, const struct run_opts *o,
		struct diag_list *diags)
{
	const char **ov = xcalloc(o->noverrides + 1, sizeof(*ov));
	struct config_request req = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < o->noverrides; i++)
		ov[i] = o->overrides[i].buf;
	req.path = o->config_path;
	req.overrides = ov;
	req.overrides_count = o->noverrides;
	req.user_config_path = o->user_config;
	rc = config_load(lc, &req, diags);
	free(ov);
	return rc;
}

static const char *single_backend(const struct loaded_config *lc)
{
	size_t i;

	if (!lc->is_study)
		return cfg_str(&lc->experiment, FIELD_BACKEND);
	for (i = 1; i < lc->study.count; i++)
		if (strcmp(cfg_str(&lc->study.points[i], FIELD_BACKEND),
			   cfg_str(&lc->study.points[0], FIELD_BACKEND)))
			return NULL;
	return lc->study.count ? cfg_str(&lc->study.points[0], FIELD_BACKEND) : NULL;
}

/*
 * --batch-size means "the selected backend's batch_size", so the backend
 * must be known first: load once without it, then once with the key.
 */
static int apply_batch_size(struct run_opts *o, struct diag_list *diags)
{
	struct loaded_config lc;
	const char *backend;
	char *key;
	int rc = 0;

	if (load(&lc, o, diags) != 0) {
		loaded_config_release(&lc);
		return -1;
	}
	backend = single_backend(&lc);
	if (!backend) {
		cli_error("--batch-size is ambiguous: this study runs several backends");
		cli_hint("use --set <backend>.batch_size=N for the one you mean");
		rc = -2;
	} else {
		key = xasprintf("%s.batch_size", backend);
		if (!schema_find(key)) {
			cli_error("--batch-size: backend '%s' has no batch_size setting",
				  backend);
			cli_hint("see 'llem config --fields' for the %s settings", backend);
			rc = -2;
		} else {
			add_raw_override(o, key, o->batch_size);
		}
		free(key);
	}
	loaded_config_release(&lc);
	return rc;
}

static void print_nondefaults(const struct config *cfg)
{
	size_t id;
	bool any = false;

	for (id = 0; id < FIELD_COUNT; id++) {
		const struct cfg_origin *o = &cfg->o[id];
		struct strbuf v = STRBUF_INIT;

		if (!o->source || schema_fields[id].type == FT_SECTION ||
		    (schema_fields[id].flags & F_STUDY))
			continue;
		if (!any)
			printf("\nSet explicitly\n");
		any = true;
		cfg_value_format(&cfg->v[id], &v);
		printf("  %-32s %-24s %s", schema_fields[id].path, v.buf, o->source);
		if (o->line > 0)
			printf(":%d:%d", o->line, o->col);
		printf("\n");
		strbuf_release(&v);
	}
}

/*
 * The backend's own preflight (model present, preset known, settings it
 * can honour), so a dry run catches what a run would stop at. Returns an
 * exit code: 0, or 1 (a run would fail) after printing the problems.
 */
static int preflight(const struct config *cfg)
{
	const struct backend_info *bi = backends_find(cfg_str(cfg, FIELD_BACKEND));
	struct diag_list diags = DIAG_LIST_INIT;
	int rc = EXIT_OK;

	if (!bi || !bi->ops)
		return EXIT_OK; /* not runnable: the run's own preflight says so */
	if (bi->ops->preflight(cfg, &diags) != 0) {
		cli_print_diags(&diags);
		cli_error("preflight failed: %zu problem%s", diag_error_count(&diags),
			  diag_error_count(&diags) == 1 ? "" : "s");
		rc = EXIT_RUN_FAILED;
	} else {
		cli_print_diags(&diags); /* warnings */
	}
	diag_list_release(&diags);
	return rc;
}

/* Checks the prompts exist; returns 0, or prints and returns -1. */
static int describe_dataset(const struct config *cfg, struct strbuf *out)
{
	struct prompt_set ps;
	const char *name = cfg_str(cfg, FIELD_DATASET);
	size_t n = (size_t)cfg_int(cfg, FIELD_N);

	if (dataset_load(&ps, name, n) != 0) {
		cli_error("dataset: %s", error_last());
		return -1;
	}
	strbuf_addf(out, "%s (%zu of %zu prompts)", name, n, ps.available);
	prompt_set_release(&ps);
	return 0;
}

static int dry_run_experiment(const struct config *cfg, const struct run_opts *o)
{
	const char *backend = cfg_str(cfg, FIELD_BACKEND);
	struct strbuf ds = STRBUF_INIT, json = STRBUF_INIT;
	char *bs_key = xasprintf("%s.batch_size", backend);
	const struct field *bs = schema_find(bs_key);
	int rc = EXIT_OK;

	if (describe_dataset(cfg, &ds) != 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	rc = preflight(cfg);
	if (rc)
		goto out;
	if (o->json) {
		struct jsonw w;

		jsonw_init(&w, &json, JSONW_PRETTY);
		jsonw_object_begin(&w);
		jsonw_key(&w, "config_hash");
		jsonw_string(&w, cfg->hash);
		jsonw_key(&w, "output_dir");
		jsonw_string(&w, cfg_str(cfg, FIELD_OUTPUT_DIR));
		jsonw_key(&w, "config");
		jsonw_raw(&w, cfg->canonical_json);
		jsonw_object_end(&w);
		printf("%s\n", json.buf);
		goto out;
	}
	printf("Config (resolved)%s%s\n", o->config_path ? " from " : "",
	       o->config_path ? o->config_path : "");
	printf("  Model       %s\n", cfg_str(cfg, FIELD_MODEL));
	printf("  Backend     %s\n", backend);
	printf("  Precision   %s\n", cfg_str(cfg, FIELD_PRECISION));
	if (bs && cfg->v[schema_id(bs)].kind == CV_INT)
		printf("  Batch size  %lld\n", (long long)cfg_int(cfg, schema_id(bs)));
	printf("  Dataset     %s\n", ds.buf);
	printf("  Tokens      up to %lld in, %lld out per prompt\n",
	       (long long)cfg_int(cfg, FIELD_MAX_INPUT_TOKENS),
	       (long long)cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS));
	printf("  Energy      %s\n", cfg_is_null(cfg, FIELD_ENERGY_BACKEND)
					 ? "disabled (energy.backend: null)"
					 : cfg_str(cfg, FIELD_ENERGY_BACKEND));
	printf("  Output      %s/\n", cfg_str(cfg, FIELD_OUTPUT_DIR));
	printf("  Config hash %s\n", cfg->hash);
	if (!o->quiet)
		print_nondefaults(cfg);
	if (o->verbose) {
		config_pretty_json(cfg, false, &json);
		printf("\nEffective config\n%s\n", json.buf);
	}
	printf("\nConfig valid. Run without --dry-run to start.\n");
out:
	strbuf_release(&ds);
	strbuf_release(&json);
	free(bs_key);
	return rc;
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

/* A small set of strings: the checks a study's dry run already made. */
struct seen {
	char **keys;
	size_t count;
};

/* Adds key (taking ownership); true when it was new. */
static bool seen_add(struct seen *s, char *key)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (!strcmp(s->keys[i], key)) {
			free(key);
			return false;
		}
	s->keys = xrealloc(s->keys, (s->count + 1) * sizeof(*s->keys));
	s->keys[s->count++] = key;
	return true;
}

static void seen_release(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->keys[i]);
	free(s->keys);
}

static int dry_run_study(const struct study *s, const struct run_opts *o)
{
	const struct config *ex = &s->execution;
	int64_t cycles = cfg_int(ex, FIELD_EXECUTION_N_CYCLES);
	size_t runs = s->count * (size_t)cycles, i, total = s->count + s->skipped_count;
	double gap_e = cfg_float(ex, FIELD_EXECUTION_EXPERIMENT_GAP_SECONDS);
	double gap_c = cfg_float(ex, FIELD_EXECUTION_CYCLE_GAP_SECONDS);
	double gaps = runs > 0 ? (double)(runs - 1) * gap_e + (double)(cycles - 1) * gap_c : 0;
	struct strbuf sb = STRBUF_INIT;
	struct seen seen = { NULL, 0 };

	/* Check each distinct dataset request and each distinct thing the
	 * backend preflights once: a large sweep repeats them many times. */
	for (i = 0; i < s->count; i++) {
		const struct config *c = &s->points[i];
		char *dkey = xasprintf("%s\n%lld", cfg_str(c, FIELD_DATASET),
				       (long long)cfg_int(c, FIELD_N));
		char *pkey = xasprintf("%s\n%s\n%s\n%lld", cfg_str(c, FIELD_BACKEND),
				       cfg_str(c, FIELD_MODEL),
				       c->v[FIELD_NATIVE_TOKENIZER].kind == CV_STRING
					       ? cfg_str(c, FIELD_NATIVE_TOKENIZER) : "",
				       (long long)(cfg_int(c, FIELD_MAX_INPUT_TOKENS) +
						   cfg_int(c, FIELD_MAX_OUTPUT_TOKENS)));
		int rc = EXIT_OK;

		strbuf_reset(&sb);
		if (seen_add(&seen, dkey) && describe_dataset(c, &sb) != 0)
			rc = EXIT_USAGE;
		else if (seen_add(&seen, pkey) && preflight(c) != 0)
			rc = EXIT_RUN_FAILED;
		if (rc) {
			cli_error("in study point %zu (%s)", i + 1, s->labels[i]);
			strbuf_release(&sb);
			seen_release(&seen);
			return rc;
		}
	}
	seen_release(&seen);
	if (o->json) {
		struct jsonw w;

		strbuf_reset(&sb);
		jsonw_init(&w, &sb, JSONW_PRETTY);
		jsonw_object_begin(&w);
		jsonw_key(&w, "study_name");
		jsonw_string(&w, s->name);
		jsonw_key(&w, "study_design_hash");
		jsonw_string(&w, s->design_hash);
		jsonw_key(&w, "n_cycles");
		jsonw_int(&w, cycles);
		jsonw_key(&w, "total_runs");
		jsonw_int(&w, (int64_t)runs);
		jsonw_key(&w, "experiments");
		jsonw_array_begin(&w);
		for (i = 0; i < s->count; i++) {
			jsonw_object_begin(&w);
			jsonw_key(&w, "label");
			jsonw_string(&w, s->labels[i]);
			jsonw_key(&w, "config_hash");
			jsonw_string(&w, s->points[i].hash);
			jsonw_key(&w, "config");
			jsonw_raw(&w, s->points[i].canonical_json);
			jsonw_object_end(&w);
		}
		jsonw_array_end(&w);
		jsonw_key(&w, "skipped");
		jsonw_array_begin(&w);
		for (i = 0; i < s->skipped_count; i++) {
			jsonw_object_begin(&w);
			jsonw_key(&w, "label");
			jsonw_string(&w, s->skipped[i].label);
			jsonw_key(&w, "reason");
			jsonw_string(&w, s->skipped[i].reason);
			jsonw_object_end(&w);
		}
		jsonw_array_end(&w);
		jsonw_object_end(&w);
		printf("%s\n", sb.buf);
		strbuf_release(&sb);
		return EXIT_OK;
	}
	printf("Study: %s (%s)\n", s->name ? s->name : "unnamed", s->path);
	printf("  Design hash  %s\n", s->design_hash);
	printf("  Experiments  %zu valid of %zu (%zu from sweep, %zu explicit)\n",
	       s->count, total, s->grid_count, s->explicit_count);
	printf("  Cycles       %lld, order %s\n", (long long)cycles,
	       cfg_str(ex, FIELD_EXECUTION_CYCLE_ORDER));
	printf("  Total runs   %zu\n", runs);
	strbuf_reset(&sb);
	format_duration(&sb, gap_e);
	strbuf_adds(&sb, " between experiments, ");
	format_duration(&sb, gap_c);
	strbuf_adds(&sb, " between cycles: ");
	format_duration(&sb, gaps);
	printf("  Gaps         %s of pauses in total\n", sb.buf);
	printf("\n  #    config hash       differing fields\n");
	for (i = 0; i < s->count; i++)
		printf("  %-4zu %s  %s\n", i + 1, s->points[i].hash,
		       *s->labels[i] ? s->labels[i] : "(fixed fields only)");
	if (s->skipped_count) {
		printf("\nSkipping %zu/%zu:\n", s->skipped_count, total);
		for (i = 0; i < s->skipped_count; i++)
			printf("  - %s: %s\n", s->skipped[i].label, s->skipped[i].reason);
		if (s->skipped_count * 2 > total)
			printf("  WARNING: %zu%% of the configs are invalid -- check the sweep dimensions.\n",
			       s->skipped_count * 100 / total);
	}
	printf("\nStudy valid. Run without --dry-run to start.\n");
	strbuf_release(&sb);
	return EXIT_OK;
}

static int run_loaded(const struct loaded_config *lc, const struct run_opts *o)
{
	if (!lc->is_study && o->resume_dir) {
		cli_error("--resume continues a study; '%s' is a single experiment",
			  o->config_path ? o->config_path : "this config");
		return EXIT_USAGE;
	}
	if (lc->is_study)
		return cli_run_study(&lc->study, o->quiet, o->resume_dir);
	return cli_run_experiment(&lc->experiment, o->quiet);
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_BATCH = 256, OPT_SET, OPT_DRY, OPT_CYCLES, OPT_ORDER, OPT_NOGAPS,
	       OPT_USERCFG, OPT_JSON, OPT_RESUME };
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "dataset", required_argument, NULL, 'd' },
		{ "precision", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "batch-size", required_argument, NULL, OPT_BATCH },
		{ "set", required_argument, NULL, OPT_SET },
		{ "dry-run", no_argument, NULL, OPT_DRY },
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
	struct loaded_config lc;
	struct diag_list diags = DIAG_LIST_INIT;
	bool have_model = false;
	int c, rc;
	size_t i;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:b:n:d:p:o:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': add_string_override(&o, "model", optarg); have_model = true; break;
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
		case 'h': usage(stdout); rc = EXIT_OK; goto out;
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
		rc = apply_batch_size(&o, &diags);
		if (rc == -2) {
			rc = EXIT_USAGE;
			goto out;
		}
		if (rc != 0)
			goto config_failed;
	}
	if (load(&lc, &o, &diags) != 0) {
		loaded_config_release(&lc);
		goto config_failed;
	}
	cli_print_diags(&diags); /* warnings */
	if (o.dry_run)
		rc = lc.is_study ? dry_run_study(&lc.study, &o)
				 : dry_run_experiment(&lc.experiment, &o);
	else
		rc = run_loaded(&lc, &o);
	loaded_config_release(&lc);
	goto out;

config_failed:
	cli_print_diags(&diags);
	cli_error("invalid configuration: %zu error%s", diag_error_count(&diags),
		  diag_error_count(&diags) == 1 ? "" : "s");
	rc = EXIT_USAGE;
out:
	diag_list_release(&diags);
	for (i = 0; i < o.noverrides; i++)
		strbuf_release(&o.overrides[i]);
	free(o.overrides);
	return rc;
}
