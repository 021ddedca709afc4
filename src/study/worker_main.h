/*
 * The study <-> worker contract, in one place: how the runner (runner.c)
 * starts one experiment in a fresh process, and what that process does
 * (worker_main.c). The runner writes the resolved config as JSON and runs
 *
 *   <llem_exe> __worker [--drop-env NAME] [--dataset-stamp STAMP] CONFIG EXPERIMENT_DIR
 *
 * The worker measures the experiment into EXPERIMENT_DIR, prints the
 * result JSON on stdout (the result channel) and its messages on stderr
 * (the runner appends them to EXPERIMENT_DIR/worker.log), and exits with a
 * STUDY_WORKER_EXIT_* code. SIGINT or SIGTERM ends it cleanly (130); if
 * the runner dies the worker gets SIGTERM (PR_SET_PDEATHSIG).
 * --dataset-stamp carries the runner's one full validation of the dataset
 * (datasets.h), so the worker parses only the prompts it runs.
 * --drop-env NAME (repeatable) removes a variable the runner set for the
 * worker's start only (runner.c: OPENBLAS_NUM_THREADS=1 when the user had
 * not set it, read by OpenBLAS as it loads, before main), so the programs
 * the worker starts (the PyTorch worker) see the user's environment.
 *
 * Writing to stdout and stderr is this entry point's protocol, the one
 * place below the CLI that does (docs/architecture.md).
 */
#ifndef LLEM_STUDY_WORKER_MAIN_H
#define LLEM_STUDY_WORKER_MAIN_H

#include <signal.h>
#include <stddef.h>

#define STUDY_WORKER_COMMAND "__worker"
/* The longest argv study_worker_argv builds, NULL included. */
#define STUDY_WORKER_ARGV_MAX 9

enum study_worker_exit {
	STUDY_WORKER_EXIT_OK = 0,
	STUDY_WORKER_EXIT_FAILED = 1,       /* the experiment failed; stderr says why */
	STUDY_WORKER_EXIT_USAGE = 2,        /* bad arguments */
	STUDY_WORKER_EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM */
};

/*
 * Fills out (STUDY_WORKER_ARGV_MAX entries) with the worker's argv,
 * NULL-terminated; drop_env and stamp may be NULL. The strings are
 * borrowed.
 */
void study_worker_argv(const char **out, const char *llem_exe, const char *drop_env,
		       const char *stamp, const char *config_path, const char *experiment_dir);

/*
 * For test programs only (tests/tools/fault_worker.c): called after the
 * arguments are read and the signal handlers are in place, before the
 * config is loaded. Return -1 to run the experiment, or an exit code to
 * end there instead. stop is set by SIGINT/SIGTERM. The llem binary never
 * passes hooks, so no fault can be injected into it.
 */
struct study_worker_hooks {
	int (*before_run)(const char *experiment_dir, volatile sig_atomic_t *stop, void *ctx);
	void *ctx;
};

/*
 * The worker: argv[0] is the command name (STUDY_WORKER_COMMAND), the
 * arguments follow as above. hooks may be NULL. Returns the exit code.
 */
int study_worker_main(int argc, char **argv, const struct study_worker_hooks *hooks);

#endif
