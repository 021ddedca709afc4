/*
 * libllem: measure what LLM deployment choices cost in energy, throughput,
 * latency and FLOPs.
 *
 * Conventions (as in libgit2): functions return 0 on success or a negative
 * LLEM_E* code, and leave a message for llem_error_last(). Out-parameters
 * come first and are named `out`. Every object returned through `out` is
 * the caller's and is released with its type's _free(); every `const char *`
 * returned by a getter is borrowed and lives as long as the object it came
 * from. Option structs start with a `version` field; initialise them with
 * their LLEM_*_INIT macro so later fields can be added without breaking ABI.
 */
#ifndef LLEM_LLEM_H
#define LLEM_LLEM_H

#include <stddef.h>

#include "llem/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LLEM_BUILDING_LIBRARY) && defined(__GNUC__)
#define LLEM_API __attribute__((visibility("default")))
#else
#define LLEM_API
#endif

/*
 * The message describing the last failure on the calling thread, or "" when
 * there is none. Borrowed; valid until the next libllem call on this thread.
 */
LLEM_API const char *llem_error_last(void);

/* The library version as "X.Y.Z" (static storage). */
LLEM_API const char *llem_version(void);

/* ---- configuration ---------------------------------------------------- */

/* A loaded, validated and fully defaulted experiment or study config. */
typedef struct llem_config llem_config;

typedef struct {
	unsigned int version;
	/* "key.path=value" overrides applied above the file; may be NULL. */
	const char *const *overrides;
	size_t overrides_count;
	/* User-config file: NULL for the XDG default, "" to read none. */
	const char *user_config_path;
} llem_config_options;

#define LLEM_CONFIG_OPTIONS_VERSION 1
#define LLEM_CONFIG_OPTIONS_INIT { LLEM_CONFIG_OPTIONS_VERSION, NULL, 0, NULL }

/*
 * Loads the YAML or JSON config at `path` (NULL: overrides and user config
 * only), validates it strictly and fills every default. On LLEM_EINVAL,
 * llem_error_last() holds every problem found, one "file:line:col: key:
 * message" per line. Errors: LLEM_EINVAL, LLEM_ENOTFOUND, LLEM_EIO.
 */
LLEM_API int llem_config_load(llem_config **out, const char *path,
			      const llem_config_options *opts);

/*
 * 16 hex digits identifying what is measured (docs/config-hash.md); for a
 * study, its design hash over all its experiments. Borrowed from cfg.
 */
LLEM_API const char *llem_config_hash(const llem_config *cfg);

/*
 * The canonical JSON that is hashed: sorted keys, every measurement field,
 * Python json.dumps layout. For a study, its first experiment's. Borrowed.
 */
LLEM_API const char *llem_config_canonical_json(const llem_config *cfg);

/* Non-zero when the file was a study (it had `sweep:` or `experiments:`). */
LLEM_API int llem_config_is_study(const llem_config *cfg);

LLEM_API void llem_config_free(llem_config *cfg);

/* ---- running ---------------------------------------------------------- */

typedef struct {
	unsigned int version;
	/* Where the experiment directory goes; NULL: the config's output_dir. */
	const char *results_dir;
	/* Non-zero: write result.json and timeseries.parquet there. */
	int write_files;
	/* Set to non-zero (e.g. from a SIGINT handler) to stop early; may be
	 * NULL. The run then fails with LLEM_EINTR. */
	volatile int *interrupt;
} llem_run_options;

#define LLEM_RUN_OPTIONS_VERSION 1
#define LLEM_RUN_OPTIONS_INIT { LLEM_RUN_OPTIONS_VERSION, NULL, 1, NULL }

/*
 * Runs one experiment (the whole lifecycle: preflight, load, baseline,
 * warmup, measurement window, metrics). *out_json receives the result as
 * JSON text (docs/results.md), *out_dir the directory written (NULL when
 * write_files is 0); free both with llem_free. out_dir may be NULL.
 * Errors: LLEM_EINVAL (preflight problems, one per line), LLEM_ENOTSUP (a
 * study: use llem run), LLEM_EINTR, LLEM_EIO, LLEM_ERROR.
 */
LLEM_API int llem_run_experiment(char **out_json, char **out_dir,
				 const llem_config *cfg,
				 const llem_run_options *opts);

/* ---- studies ---------------------------------------------------------- */

/*
 * A study (a config with `sweep:` or `experiments:`) runs each experiment
 * for its cycles, in its order, each in a fresh `llem __worker` process, so
 * the llem executable must be installed: see llem_study_options.llem_exe.
 * Everything lands in one study directory: manifest.json (rewritten after
 * every change of state, loadable after a kill at any moment), one
 * directory per run with config.json, result.json and worker.log, and at
 * the end results.csv, results.parquet and study.json (docs/results.md).
 */

typedef enum {
	LLEM_STUDY_RUN_START = 1, /* a run is about to start */
	LLEM_STUDY_RUN_END,       /* a run ended: see status */
	LLEM_STUDY_GAP            /* every 200 ms or so during a pause */
} llem_study_event_type;

typedef enum {
	LLEM_STUDY_RUN_COMPLETED = 1,
	LLEM_STUDY_RUN_FAILED,      /* recorded; the study goes on */
	LLEM_STUDY_RUN_INTERRUPTED  /* the study was stopped during this run */
} llem_study_run_status;

typedef struct {
	llem_study_event_type type;
	size_t run;            /* 0-based position in the run order */
	size_t total;          /* runs in the study, cycles included */
	const char *label;     /* "native / synthetic-tiny-llama / fp32 / n=4"; RUN_* */
	int cycle;             /* 1-based; RUN_START */
	llem_study_run_status status; /* RUN_END */
	const char *error;     /* RUN_END when not completed: why; else NULL */
	double wall_s;         /* RUN_END: the worker's wall time */
	const char *gap;       /* GAP: "Experiment gap" or "Cycle gap" */
	double gap_remaining_s; /* GAP: whole seconds left; 0 at its end */
} llem_study_event;

/*
 * Progress callback. The event and its strings are borrowed for the call.
 * Return 0 to go on; a negative value to stop the study before its next
 * run (as an interrupt does: the manifest is marked interrupted and
 * llem_run_study returns LLEM_EINTR); for a GAP event, a positive value
 * ends that pause now. Called on the thread that called llem_run_study.
 */
typedef int (*llem_study_progress_cb)(const llem_study_event *event, void *payload);

typedef struct {
	unsigned int version;
	/* Where the study directory (<name>_<UTC time>) is created; NULL: the
	 * first experiment's output_dir. Ignored with resume_dir. */
	const char *results_dir;
	/* Continue the interrupted study in this directory: completed runs are
	 * kept, every other run runs again. The study must be the same one
	 * (design hash, runs); LLEM_EINVAL otherwise. */
	const char *resume_dir;
	/* Overrides of the study's execution settings: n_cycles > 0 replaces
	 * execution.n_cycles; cycle_order "sequential", "interleaved" or
	 * "shuffled" replaces execution.cycle_order; no_gaps non-zero sets
	 * both gaps to 0. 0 / NULL keep the study's. */
	int n_cycles;
	const char *cycle_order;
	int no_gaps;
	/* The llem executable that runs each experiment. NULL: $LLEM_EXE, else
	 * bin/llem of the prefix libllem (or the program it is linked into)
	 * lies in, or llem beside it, else the configured install prefix's
	 * bin/llem, else llem on PATH. A path given here or in LLEM_EXE must
	 * be an executable file (LLEM_ENOTFOUND otherwise); it should be the
	 * llem of the same version as libllem. */
	const char *llem_exe;
	/* Progress reports, or NULL for none. */
	llem_study_progress_cb progress;
	void *progress_payload;
	/* May be NULL. Set to 1 (e.g. from a SIGINT handler) to stop: the run
	 * in progress gets SIGTERM and is recorded as interrupted, no further
	 * run starts, a pause ends at once. Set to 2 to SIGKILL the run in
	 * progress instead of waiting up to 5 s for it to end. */
	volatile int *interrupt;
} llem_study_options;

#define LLEM_STUDY_OPTIONS_VERSION 1
#define LLEM_STUDY_OPTIONS_INIT \
	{ LLEM_STUDY_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL }

/* The counts of a study run (filled by llem_run_study). */
typedef struct {
	size_t total;          /* runs in the study, cycles included */
	size_t completed;      /* including runs kept by resume_dir */
	size_t failed;
	int interrupted;       /* non-zero: stopped early (LLEM_EINTR) */
	double wall_s;         /* this call's wall time */
	double energy_j;       /* summed over completed runs with energy; NaN if none */
} llem_study_summary;

/*
 * Runs the study cfg (see above). *out_dir receives the study directory
 * (free with llem_free); out_dir and out_summary may be NULL. Returns 0
 * when every run was attempted -- some may have failed: see
 * out_summary->failed and the manifest -- or LLEM_EINTR when stopped
 * early; in both cases *out_dir and *out_summary are filled and the
 * manifest and summary files are written. Any other error means the study
 * could not start or its files could not be written, and *out_dir is NULL
 * unless the directory was already created. Errors: LLEM_EINVAL (not a
 * study, bad options, a resume_dir of another study), LLEM_ENOTFOUND (no
 * llem executable, no resume_dir manifest), LLEM_EIO, LLEM_EINTR,
 * LLEM_ERROR. One study at a time per process. Side effects: the calling
 * process becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER) so that
 * processes a worker leaves behind are re-parented to it and killed with
 * the worker's group; workers are started with OPENBLAS_NUM_THREADS=1.
 */
LLEM_API int llem_run_study(char **out_dir, llem_study_summary *out_summary,
			    const llem_config *cfg, const llem_study_options *opts);

/* Frees memory libllem handed to the caller. */
LLEM_API void llem_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
