/*
 * measure: one experiment, start to finish (docs/methodology.md): preflight,
 * environment snapshot, model load, idle baseline, warmup, thermal floor
 * wait, the measurement window over the whole workload, metrics, result.
 * Measurement lives here and nowhere else; backends only generate.
 *
 * Ownership: measure_experiment fills a caller-owned struct llem_result
 * (release with result_release) and, when asked, returns the directory it
 * wrote (caller frees).
 */
#ifndef LLEM_MEASURE_H
#define LLEM_MEASURE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "backends/backends.h"
#include "config/config.h"
#include "results/results.h"

struct dataset_stamp;

/* Progress for humans; every callback may be NULL. */
struct measure_progress {
	/* A phase starts: "load", "baseline", "warmup", "thermal floor",
	 * "measure"; expected_s is its planned length or -1. */
	void (*phase)(void *ctx, const char *phase, double expected_s);
	/* Requests done in the measurement window. */
	void (*requests)(void *ctx, size_t done, size_t total);
	void *ctx;
};

struct measure_options {
	const struct measure_progress *progress;
	/* Set asynchronously (SIGINT): waits end early, the run fails. */
	volatile sig_atomic_t *interrupted;
	/* Where the experiment directory goes (NULL: the config's output_dir). */
	const char *results_dir;
	/* Write into exactly this directory instead (a study's c<cycle>_...
	 * directory); created if missing. */
	const char *experiment_dir;
	bool write_files; /* result.json + timeseries files */
	/* A full validation of the dataset made earlier (a study's runner
	 * checks each dataset once); NULL: validate the whole file here. */
	const struct dataset_stamp *dataset_stamp;
};

/*
 * The backend's part of the preflight: that this build can run the
 * selected backend, and the backend's own checks (model present,
 * interpreter and libraries, settings it can honour). All problems into
 * diags. Returns 0 or -1. measure_experiment runs it with the dataset and
 * energy checks; a dry run runs it alone.
 */
int measure_backend_preflight(const struct config *cfg, unsigned flags, struct diag_list *diags);

/*
 * Runs one experiment. On success *out holds the result and, with
 * write_files, *out_dir the directory holding result.json (else NULL).
 * Errors: negative LLEM_E* with error_last(); LLEM_EINTR when interrupted.
 */
int measure_experiment(struct llem_result *out, char **out_dir, const struct config *cfg,
		       const struct measure_options *o);

/*
 * FLOPs of a workload (metrics.c): 2 x non-embedding parameters per
 * processed token, plus the LM head (2 x vocab x hidden) per sampled
 * token, plus attention (4 x layers x heads x head_dim x context) per
 * token; prompts are prefill, generated tokens decode.
 */
struct measure_flops_request {
	int64_t input_tokens, output_tokens;
};
void measure_flops(struct result_flops *out, const struct backend_model_info *mi,
		   const struct measure_flops_request *reqs, size_t n);

#endif
