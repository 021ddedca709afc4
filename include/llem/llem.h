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
 * their LLEM_*_INIT macro (or llem_*_options_init() from other languages) so
 * later fields can be added without breaking ABI.
 *
 * Errors travel one way: the return code, and the message for
 * llem_error_last(). Where several problems are found at once (a config,
 * a preflight) each also reaches an optional llem_diag_cb, and the message
 * holds all of them, one per line.
 *
 * Out of memory: libllem aborts the process (with a message on stderr)
 * when an allocation fails. A measurement cannot be trusted once the heap
 * is exhausted, and threading ENOMEM through every string operation would
 * hide the errors that matter. No function returns an out-of-memory code.
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

/* How this libllem was built, for `llem --version -v`: lines "build:
 * commit C, TYPE, COMPILER", "libraries: libfyaml X, jansson Y" and
 * "data: DIR" (static storage). */
LLEM_API const char *llem_build_info(void);

/* ---- diagnostics ------------------------------------------------------ */

typedef enum { LLEM_DIAG_ERROR = 1, LLEM_DIAG_WARNING = 2 } llem_diag_severity;

/* One problem found in a config or a preflight. Strings are borrowed for
 * the callback only. */
typedef struct {
	llem_diag_severity severity;
	const char *file; /* the file or "command line"; may be NULL */
	int line, col;    /* 1-based; 0 when unknown */
	const char *path; /* the config key, "decoder.top_p"; may be NULL */
	const char *message;
	const char *hint; /* how to fix it; may be NULL */
	/* The whole line as llem prints it: "file:line:col: [warning: ]path:
	 * message" (without the hint). */
	const char *text;
} llem_diag;

typedef void (*llem_diag_cb)(const llem_diag *diag, void *payload);

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
	/* Version 2: every diagnostic, errors and warnings, in file order,
	 * also on success (warnings); may be NULL. */
	llem_diag_cb diagnostic;
	void *diagnostic_payload;
} llem_config_options;

#define LLEM_CONFIG_OPTIONS_VERSION 2
#define LLEM_CONFIG_OPTIONS_INIT { LLEM_CONFIG_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL }
/* The same as LLEM_CONFIG_OPTIONS_INIT, for callers without C macros. */
LLEM_API void llem_config_options_init(llem_config_options *opts);

/*
 * Loads the YAML or JSON config at `path` (NULL: overrides and user config
 * only), validates it strictly and fills every default. On LLEM_EINVAL,
 * llem_error_last() holds every problem found, one "file:line:col: key:
 * message" per line. Errors: LLEM_EINVAL, LLEM_ENOTFOUND, LLEM_EIO.
 */
LLEM_API int llem_config_load(llem_config **out, const char *path, const llem_config_options *opts);

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

/* The default user-config path ($XDG_CONFIG_HOME/llem/config.yaml when
 * that is an absolute path, else $HOME/.config/llem/config.yaml) in *out
 * (free with llem_free); NULL when neither applies. Returns 0. */
LLEM_API int llem_config_user_path(char **out);

/*
 * What `llem run --dry-run` shows, as JSON in *out (free with llem_free).
 * An experiment: {"config_hash", "output_dir", "config" (the canonical
 * JSON), "summary" {model, backend, precision, batch_size (null when the
 * backend has none), dataset, n, prompts_available, max_input_tokens,
 * max_output_tokens, energy_backend (null: disabled)}, "explicit" [every
 * field set by a source: {path, value (text), source, line, col}]}. A study:
 * {"study_name", "path", "study_design_hash", "n_cycles", "cycle_order",
 * "experiment_gap_seconds", "cycle_gap_seconds", "total_runs",
 * "grid_count", "explicit_count", "experiments" [{label, config_hash,
 * config}], "skipped" [{label, reason}]}. Loads each distinct dataset to
 * count its prompts. Errors: LLEM_EINVAL (a dataset that cannot be read:
 * the message starts "dataset: " and, for a study, names the point).
 */
LLEM_API int llem_config_plan_json(char **out, const llem_config *cfg);

/*
 * An experiment's every field, as pretty JSON in *out (free with
 * llem_free): what result.json records as effective_config. For a study,
 * its first experiment's. Returns 0.
 */
LLEM_API int llem_config_effective_json(char **out, const llem_config *cfg);

/*
 * The backends' own preflight (model present, preset known, interpreter
 * and libraries importable, settings they can honour) for the experiment,
 * or for each distinct check of a study once. Every problem and warning
 * goes to cb (may be NULL). flags 0 runs no program, so a dry run of a
 * config from someone else executes nothing; LLEM_PREFLIGHT_EXECUTE adds
 * the checks that do (the PyTorch backend imports torch with the
 * configured interpreter), as a real run's preflight does.
 * Errors: LLEM_EINVAL when a check failed (a
 * backend this build cannot run included); the message says how many
 * problems and, for a study, names the point ("in study point 3 (...)").
 */
#define LLEM_PREFLIGHT_EXECUTE 1u
LLEM_API int llem_config_preflight(const llem_config *cfg, unsigned flags, llem_diag_cb cb,
				   void *payload);

/*
 * The config key of "the selected backend's batch size", e.g.
 * "native.batch_size" (static storage), for a config whose experiments
 * all use one backend. Errors: LLEM_EINVAL (several backends: the message
 * says so), LLEM_ENOTSUP (the backend has no batch size).
 */
LLEM_API int llem_config_batch_size_key(const char **out, const llem_config *cfg);

/*
 * Every config key as `llem config --fields` shows it: format "text" or
 * "markdown" (docs/config-reference.md). *out is freed with llem_free.
 * Errors: LLEM_EINVAL (another format).
 */
LLEM_API int llem_config_fields_doc(char **out, const char *format);

/* ---- this machine ------------------------------------------------------ */

/*
 * What this machine offers for measurement, as JSON in *out (free with
 * llem_free): llem's version and build, the CPU, GPUs (NVML), the RAPL
 * zones under rapl_root (NULL: /sys/class/powercap), the backends and
 * whether each can run here, and the operating system. The layout is in
 * docs/machine-report.md. Never fails for a missing sensor: that is
 * information. Returns 0.
 */
LLEM_API int llem_machine_report_json(char **out, const char *rapl_root);

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
	/* Version 2: called as each phase starts ("load", "baseline",
	 * "warmup", "thermal floor", "measure"), expected_s its planned
	 * length or -1; may be NULL. */
	void (*phase)(const char *phase, double expected_s, void *payload);
	void *phase_payload;
} llem_run_options;

#define LLEM_RUN_OPTIONS_VERSION 2
#define LLEM_RUN_OPTIONS_INIT { LLEM_RUN_OPTIONS_VERSION, NULL, 1, NULL, NULL, NULL }
LLEM_API void llem_run_options_init(llem_run_options *opts);

/*
 * Runs one experiment (the whole lifecycle: preflight, load, baseline,
 * warmup, measurement window, metrics). *out_json receives the result as
 * JSON text (docs/results.md), *out_dir the directory written (NULL when
 * write_files is 0); free both with llem_free. out_dir may be NULL.
 * Errors: LLEM_EINVAL (preflight problems, one per line), LLEM_ENOTSUP (a
 * study: use llem run), LLEM_EINTR, LLEM_EIO, LLEM_ERROR.
 */
LLEM_API int llem_run_experiment(char **out_json, char **out_dir, const llem_config *cfg,
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
	LLEM_STUDY_RUN_END,       /* a run ended: see status; also, with
				     resumed set, each run a resume keeps */
	LLEM_STUDY_GAP            /* every 200 ms or so during a pause */
} llem_study_event_type;

typedef enum {
	LLEM_STUDY_RUN_COMPLETED = 1,
	LLEM_STUDY_RUN_FAILED,     /* recorded; the study goes on */
	LLEM_STUDY_RUN_INTERRUPTED /* the study was stopped during this run */
} llem_study_run_status;

typedef struct {
	llem_study_event_type type;
	size_t run;                   /* 0-based position in the run order */
	size_t total;                 /* runs in the study, cycles included */
	const char *label;            /* "native / synthetic-tiny-llama / fp32 / n=4"; RUN_* */
	int cycle;                    /* 1-based; RUN_START */
	llem_study_run_status status; /* RUN_END */
	const char *error;            /* RUN_END when not completed: why; else NULL */
	double wall_s;                /* RUN_END: the worker's wall time */
	const char *gap;              /* GAP: "Experiment gap" or "Cycle gap" */
	double gap_remaining_s;       /* GAP: whole seconds left; 0 at its end */
	double energy_j;              /* RUN_END: the run's total energy; NaN if none */
	double output_tokens_per_s;   /* RUN_END: NaN if unknown */
	int resumed;                  /* RUN_END: a completed run kept by resume_dir */
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
#define LLEM_STUDY_OPTIONS_INIT                                                                    \
	{ LLEM_STUDY_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL }
LLEM_API void llem_study_options_init(llem_study_options *opts);

/* The counts of a study run (filled by llem_run_study). */
typedef struct {
	size_t total;     /* runs in the study, cycles included */
	size_t completed; /* including runs kept by resume_dir */
	size_t failed;
	int interrupted; /* non-zero: stopped early (LLEM_EINTR) */
	double wall_s;   /* this call's wall time */
	double energy_j; /* summed over completed runs with energy; NaN if none */
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
LLEM_API int llem_run_study(char **out_dir, llem_study_summary *out_summary, const llem_config *cfg,
			    const llem_study_options *opts);

/*
 * The study worker: one experiment of a study in this process, as the
 * study runner starts it (`llem __worker ...`; the argv and exit-code
 * contract is in src/study/worker_main.h). argv[0] is the command name
 * ("__worker"), the arguments follow.
 * Returns the process exit code: 0 done, 1 failed, 2 bad arguments, 130
 * stopped by SIGINT/SIGTERM. A program that links libllem and wants to be
 * its own study worker calls this from main() for the "__worker" command.
 */
LLEM_API int llem_study_worker_main(int argc, char **argv);

/* Frees memory libllem handed to the caller. */
LLEM_API void llem_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
