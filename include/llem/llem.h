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

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LLEM_BUILDING_LIBRARY) && defined(__GNUC__)
#define LLEM_API __attribute__((visibility("default")))
#else
#define LLEM_API
#endif

/* Error codes. Everything a caller cannot act on differently is LLEM_ERROR. */
enum {
	LLEM_OK = 0,
	LLEM_ERROR = -1,     /* generic failure; see llem_error_last() */
	LLEM_EINVAL = -2,    /* invalid argument or configuration */
	LLEM_ENOTFOUND = -3, /* a file, model, dataset or device is missing */
	LLEM_EIO = -4,       /* reading or writing a file failed */
	LLEM_ENOTSUP = -5,   /* not supported on this machine or build */
	LLEM_EINTR = -6      /* interrupted (SIGINT) */
};

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

/* Frees memory libllem handed to the caller. */
LLEM_API void llem_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
