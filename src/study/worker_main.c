/*
 * One experiment of a study in a fresh process (the contract is in
 * worker_main.h): load the resolved config, measure, print the result.
 */
#include "study/worker_main.h"
#include "backends/backends.h"
#include "config/config.h"
#include "datasets/datasets.h"
#include "llem/errors.h"
#include "measure/measure.h"
#include "results/results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void study_worker_argv(const char **out, const char *llem_exe, const char *drop_env,
		       const char *stamp, const char *config_path, const char *experiment_dir)
{
	size_t a = 0;

	out[a++] = llem_exe;
	out[a++] = STUDY_WORKER_COMMAND;
	if (drop_env) {
		out[a++] = "--drop-env";
		out[a++] = drop_env;
	}
	if (stamp) {
		out[a++] = "--dataset-stamp";
		out[a++] = stamp;
	}
	out[a++] = config_path;
	out[a++] = experiment_dir;
	out[a] = NULL;
}

static void worker_error(const char *what, const char *why)
{
	fprintf(stderr, "llem: error: worker: %s%s%s\n", what, why ? ": " : "", why ? why : "");
}

/* Loads the resolved experiment config the runner wrote; 0 or -1. */
static int load_resolved(struct loaded_config *lc, const char *path)
{
	struct config_request req = { 0 };
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf msg = STRBUF_INIT;
	int rc = 0;

	/* Already resolved (user config included): read nothing else. */
	req.path = path;
	req.user_config_path = "";
	req.backend_rules = backends_check_config;
	if (config_load(lc, &req, &diags) != 0 || lc->is_study) {
		diag_list_format(&diags, false, &msg);
		if (msg.len)
			fprintf(stderr, "%s\n", msg.buf);
		fprintf(stderr, "llem: error: worker: '%s' is not a resolved experiment config\n",
			path);
		rc = -1;
	}
	strbuf_release(&msg);
	diag_list_release(&diags);
	return rc;
}

int study_worker_main(int argc, char **argv, const struct study_worker_hooks *hooks)
{
	struct loaded_config lc;
	struct measure_options mo = { 0 };
	struct dataset_stamp stamp = DATASET_STAMP_INIT;
	struct llem_result r;
	struct strbuf json = STRBUF_INIT;
	struct sigaction sa;
	const char *config_path, *exp_dir;
	int rc, i = 1;

	memset(&lc, 0, sizeof(lc));
	result_init(&r);
	/* Removed first, while this process has one thread (setenv and
	 * unsetenv are not thread-safe). */
	while (argc - i >= 2 && !strcmp(argv[i], "--drop-env")) {
		if (!*argv[i + 1] || unsetenv(argv[i + 1]) != 0)
			goto usage;
		i += 2;
	}
	if (argc - i == 4 && !strcmp(argv[i], "--dataset-stamp")) {
		/* A stamp that does not parse only costs the full validation. */
		if (dataset_stamp_parse(&stamp, argv[i + 1]) == 0)
			mo.dataset_stamp = &stamp;
		i += 2;
	} else if (argc - i != 2) {
		goto usage;
	}
	config_path = argv[i];
	exp_dir = argv[i + 1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* If the study runner dies (even by SIGKILL), stop too: no orphan
	 * keeps a model loaded and a machine busy. posix_spawn cannot set
	 * this for us, so the worker asks for it itself, then checks that
	 * the runner did not die before it could. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1) {
		worker_error("the study runner is gone", NULL);
		rc = STUDY_WORKER_EXIT_FAILED;
		goto out;
	}
	if (hooks && hooks->before_run) {
		rc = hooks->before_run(exp_dir, &stop_requested, hooks->ctx);
		if (rc >= 0)
			goto out;
	}
	if (load_resolved(&lc, config_path) != 0) {
		rc = STUDY_WORKER_EXIT_FAILED;
		goto out;
	}
	mo.interrupted = &stop_requested;
	mo.write_files = true;
	mo.experiment_dir = exp_dir;
	rc = measure_experiment(&r, NULL, &lc.experiment, &mo);
	if (rc == 0)
		rc = result_to_json(&r, &json);
	if (rc == 0) {
		fputs(json.buf, stdout);
		fflush(stdout);
		rc = STUDY_WORKER_EXIT_OK;
	} else {
		fprintf(stderr, "llem: error: %s\n", error_last());
		rc = rc == LLEM_EINTR ? STUDY_WORKER_EXIT_INTERRUPTED : STUDY_WORKER_EXIT_FAILED;
	}
out:
	strbuf_release(&json);
	result_release(&r);
	loaded_config_release(&lc);
	dataset_stamp_release(&stamp);
	return rc;
usage:
	fprintf(stderr,
		"usage: llem %s [--drop-env NAME]... [--dataset-stamp STAMP] CONFIG "
		"EXPERIMENT_DIR\n",
		STUDY_WORKER_COMMAND);
	dataset_stamp_release(&stamp);
	return STUDY_WORKER_EXIT_USAGE;
}
