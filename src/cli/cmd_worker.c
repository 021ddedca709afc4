/*
 * `llem __worker [--drop-env NAME]... [--dataset-stamp STAMP] CONFIG
 * EXPERIMENT_DIR` (hidden):
 * one experiment of a study, in a fresh process. The study runner writes
 * the resolved config as JSON, spawns this, reads the result JSON from
 * stdout, and keeps the stderr as the experiment's log. Exit 0 on success,
 * 1 on failure, 130 when stopped by SIGINT/SIGTERM (the runner's way to end
 * it cleanly). --dataset-stamp carries the runner's one full validation of
 * the dataset (datasets.h), so the worker parses only the prompts it runs.
 * --drop-env NAME removes a variable the runner set for this process's
 * start only (study/runner.c: OPENBLAS_NUM_THREADS=1 when the user had not
 * set it), so the programs the worker starts see the user's environment.
 *
 * TEST-ONLY: LLEM_TEST_WORKER_FAULT=MODE[:SUBSTRING] makes this worker
 * misbehave instead of running the experiment, when EXPERIMENT_DIR
 * contains SUBSTRING (or always without one), so that tests can drive the
 * runner's failure paths with real processes. MODE is one of
 *   garbage  print non-JSON on stdout and exit 0
 *   crash    die of SIGSEGV
 *   hang     sleep until SIGTERM/SIGINT, then exit 130
 *   stuck    ignore SIGTERM/SIGINT and sleep until SIGKILLed
 * Nothing else reads this variable; it is not a feature and not documented
 * for users.
 */
#include "cli/cli.h"
#include "config/config.h"
#include "datasets/datasets.h"
#include "llem/llem.h"
#include "measure/measure.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * The test-only fault (see the top of this file); returns an exit code,
 * or -1 when no fault applies to this experiment.
 */
static int test_fault(const char *exp_dir)
{
	const char *spec = getenv("LLEM_TEST_WORKER_FAULT");
	const char *colon;
	char mode[16];
	size_t len;

	if (!spec || !*spec)
		return -1;
	colon = strchr(spec, ':');
	len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (colon && !strstr(exp_dir, colon + 1))
		return -1;
	if (len >= sizeof(mode))
		len = sizeof(mode) - 1;
	memcpy(mode, spec, len);
	mode[len] = '\0';
	if (!strcmp(mode, "garbage")) {
		fputs("this is not a result\n", stdout);
		fflush(stdout);
		return EXIT_OK;
	}
	if (!strcmp(mode, "crash")) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		return EXIT_RUN_FAILED;
	}
	if (!strcmp(mode, "stuck")) {
		/* Still gone with the runner: SIGTERM no longer would do it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		fprintf(stderr, "worker: stuck, ignoring SIGTERM (LLEM_TEST_WORKER_FAULT)\n");
		for (;;)
			pause();
	}
	if (!strcmp(mode, "hang")) {
		fprintf(stderr, "worker: hanging until SIGTERM (LLEM_TEST_WORKER_FAULT)\n");
		while (!stop_requested)
			pause();
		return EXIT_INTERRUPTED;
	}
	cli_error("worker: unknown LLEM_TEST_WORKER_FAULT mode '%s'", mode);
	return EXIT_RUN_FAILED;
}

int cmd_worker(int argc, char **argv)
{
	struct config_request req = { 0 };
	struct loaded_config lc;
	struct diag_list diags = DIAG_LIST_INIT;
	struct measure_options mo = { 0 };
	struct dataset_stamp stamp = DATASET_STAMP_INIT;
	struct llem_result r;
	struct strbuf json = STRBUF_INIT;
	struct sigaction sa;
	int rc, i = 1;

	/* Removed first, while this process has one thread: the runner set
	 * these for our start only (OpenBLAS reads OPENBLAS_NUM_THREADS as it
	 * loads, before main), so what we start sees the user's environment. */
	while (argc - i >= 2 && !strcmp(argv[i], "--drop-env")) {
		if (unsetenv(argv[i + 1]) != 0)
			return cli_usage_error(NULL, "worker: --drop-env needs a variable name");
		i += 2;
	}
	if (argc - i == 4 && !strcmp(argv[i], "--dataset-stamp")) {
		/* A stamp that does not parse only costs the full validation. */
		if (dataset_stamp_parse(&stamp, argv[i + 1]) == 0)
			mo.dataset_stamp = &stamp;
		i += 2;
	} else if (argc - i != 2) {
		return cli_usage_error(NULL, "usage: llem __worker [--drop-env NAME]... "
				       "[--dataset-stamp STAMP] CONFIG EXPERIMENT_DIR");
	}
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
		cli_error("worker: the study runner is gone");
		dataset_stamp_release(&stamp);
		return EXIT_RUN_FAILED;
	}
	rc = test_fault(argv[i + 1]);
	if (rc >= 0) {
		dataset_stamp_release(&stamp);
		return rc;
	}

	/* The config is already resolved (user config included): read nothing else. */
	req.path = argv[i];
	req.user_config_path = "";
	if (config_load(&lc, &req, &diags) != 0 || lc.is_study) {
		cli_print_diags(&diags);
		cli_error("worker: '%s' is not a resolved experiment config", argv[i]);
		diag_list_release(&diags);
		loaded_config_release(&lc);
		dataset_stamp_release(&stamp);
		return EXIT_RUN_FAILED;
	}
	diag_list_release(&diags);
	mo.interrupted = &stop_requested;
	mo.write_files = true;
	mo.experiment_dir = argv[i + 1];
	rc = measure_experiment(&r, NULL, &lc.experiment, &mo);
	if (rc == 0)
		rc = result_to_json(&r, &json);
	if (rc == 0) {
		fputs(json.buf, stdout);
		fflush(stdout);
	} else {
		cli_error("%s", error_last());
	}
	strbuf_release(&json);
	result_release(&r);
	loaded_config_release(&lc);
	dataset_stamp_release(&stamp);
	if (rc == LLEM_EINTR)
		return EXIT_INTERRUPTED;
	return rc ? EXIT_RUN_FAILED : EXIT_OK;
}
