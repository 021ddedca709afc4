/*
 * `llem __worker CONFIG EXPERIMENT_DIR` (hidden): one experiment of a
 * study, in a fresh process. The study runner writes the resolved config
 * as JSON, spawns this, reads the result JSON from stdout, and keeps the
 * stderr as the experiment's log. Exit 0 on success, 1 on failure, 130
 * when stopped by SIGINT/SIGTERM (the runner's way to end it cleanly).
 */
#include "cli/cli.h"
#include "config/config.h"
#include "llem/llem.h"
#include "measure/measure.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int cmd_worker(int argc, char **argv)
{
	struct config_request req = { 0 };
	struct loaded_config lc;
	struct diag_list diags = DIAG_LIST_INIT;
	struct measure_options mo = { 0 };
	struct llem_result r;
	struct strbuf json = STRBUF_INIT;
	struct sigaction sa;
	int rc;

	if (argc != 3)
		return cli_usage_error(NULL, "usage: llem __worker CONFIG EXPERIMENT_DIR");
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
		return EXIT_RUN_FAILED;
	}

	/* The config is already resolved (user config included): read nothing else. */
	req.path = argv[1];
	req.user_config_path = "";
	if (config_load(&lc, &req, &diags) != 0 || lc.is_study) {
		cli_print_diags(&diags);
		cli_error("worker: '%s' is not a resolved experiment config", argv[1]);
		diag_list_release(&diags);
		loaded_config_release(&lc);
		return EXIT_RUN_FAILED;
	}
	diag_list_release(&diags);
	mo.interrupted = &stop_requested;
	mo.write_files = true;
	mo.experiment_dir = argv[2];
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
	if (rc == LLEM_EINTR)
		return EXIT_INTERRUPTED;
	return rc ? EXIT_RUN_FAILED : EXIT_OK;
}
