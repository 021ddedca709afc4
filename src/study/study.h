/*
 * study: running a study (docs/studies.md): the expanded grid (config layer)
 * in cycles and an order, one fresh `llem` worker process per experiment,
 * gaps, Ctrl+C, an atomically rewritten manifest, and the study outputs.
 *
 * Ownership: every _open/_new has a _close/_free; strings in structs
 * filled through `out` belong to the struct.
 */
#ifndef LLEM_STUDY_H
#define LLEM_STUDY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "results/results.h"

/* ---- run order (cycles.c) ---------------------------------------------- */

enum study_order { STUDY_SEQUENTIAL, STUDY_INTERLEAVED, STUDY_SHUFFLED };

struct study_run_entry {
	size_t point; /* index into struct study.points */
	int cycle;    /* 1-based: the n-th run of that point */
};

/*
 * The runs of npoints experiments over ncycles: sequential AAABBB,
 * interleaved ABAB, shuffled = a fresh permutation per cycle drawn from
 * Python's random.Random(seed).shuffle (MT19937), so the same study always
 * runs in the same order and Python can reproduce it. Returns the count
 * (npoints * ncycles) and an array the caller frees.
 */
size_t study_order_runs(struct study_run_entry **out, size_t npoints, int ncycles,
			enum study_order order, uint32_t seed);

/* ---- manifest (manifest.c) -------------------------------------------- */

enum manifest_state {
	MANIFEST_PENDING,
	MANIFEST_RUNNING,
	MANIFEST_COMPLETED,
	MANIFEST_FAILED,
	MANIFEST_INTERRUPTED
};

struct manifest_entry {
	char *config_hash;    /* 16 hex */
	char *config_summary; /* "native / synthetic-smollm-135m / bf16 / batch 8" */
	int cycle;
	enum manifest_state status;
	char *result_file; /* relative to the study dir, or NULL */
	char *error_type;  /* "TimeoutError", "ProcessCrash", ... or NULL */
	char *error_message;
	char *started_at, *completed_at; /* UTC ISO-8601 'Z' or NULL */
};

struct manifest {
	char *path; /* <study dir>/manifest.json */
	char *study_name;
	char *study_design_hash;
	char *llem_version;
	char *started_at, *completed_at;
	enum manifest_state status; /* RUNNING, COMPLETED, INTERRUPTED, FAILED */
	struct manifest_entry *entries;
	size_t count;
};

/*
 * Every function that changes a manifest rewrites the whole file
 * atomically (temp file, fsync, rename, fsync dir), so a kill at any moment
 * leaves either the old or the new file. Each returns 0 or the negative
 * LLEM_E* of a failed write (error_last() says why); the in-memory state is
 * updated either way and the old file stays, so the caller may go on. A
 * manifest whose path is NULL lives in memory only and is never written.
 * Counters (total, completed, failed, pending = pending + running) are
 * derived from the entries when writing, never stored.
 */

/*
 * A new manifest at path: one pending entry per run, in run order; entry i
 * takes point_hashes[runs[i].point], point_summaries[runs[i].point] and
 * runs[i].cycle. Study status running, started_at now. *out is set even
 * when the first write fails (then the write's error is returned); it is
 * NULL only for LLEM_EINVAL (a NULL hash, summary or name).
 */
int manifest_create(struct manifest **out, const char *path, const char *study_name,
		    const char *study_design_hash, const char *const *point_hashes,
		    const char *const *point_summaries, const struct study_run_entry *runs,
		    size_t nruns);
/* Entry index: running, started_at now; result and error cleared. */
int manifest_mark_running(struct manifest *m, size_t index);
/*
 * The same two changes in memory only, written by the next mark_* or
 * manifest_write: the runner marks the next run running in the same
 * write that records the last one's end, when no gap lies between them
 * (one rewrite per run instead of two), and returns a run so marked that
 * never started to pending. LLEM_EINVAL for an index out of range.
 */
int manifest_set_running(struct manifest *m, size_t index);
int manifest_set_pending(struct manifest *m, size_t index);
/* Entry index: completed, completed_at now; result_file "" when not saved. */
int manifest_mark_completed(struct manifest *m, size_t index, const char *result_file);
int manifest_mark_failed(struct manifest *m, size_t index, const char *error_type,
			 const char *error_message);
/*
 * Study interrupted (Ctrl+C): status interrupted; a running entry is
 * recorded as interrupted (error_type "Interrupted", error_message
 * message or a default, completed_at now). --resume runs every entry that
 * is not completed again, interrupted ones included.
 */
int manifest_mark_interrupted(struct manifest *m, const char *message);
/* Study completed, completed_at now. */
int manifest_mark_study_completed(struct manifest *m);
/* Rewrites the file from the current state (e.g. after --resume edits). */
int manifest_write(const struct manifest *m);
/* The JSON text that manifest_write stores (pretty, trailing newline). */
void manifest_serialize(const struct manifest *m, struct strbuf *out);
/*
 * Reads path strictly for --resume: every key required, no unknown key,
 * exact types, known status strings, counters equal to the entries';
 * errors name the key ("experiments[3].cycle: ..."). m->path = path.
 */
int manifest_load(struct manifest **out, const char *path);
void manifest_free(struct manifest *m);
/* "pending", "running", "completed", "failed", "interrupted". */
const char *manifest_state_name(enum manifest_state s);

/* ---- worker processes (worker.c) -------------------------------------- */
/* (declared by the worker module; see worker.h) */

/* ---- one runner per study directory (lock.c) --------------------------- */

/*
 * Takes the study directory's lock (an exclusive flock on <dir>/.llem.lock
 * holding our PID) and returns its descriptor in *out_fd (-1 on failure).
 * LLEM_ERROR, with the holder's PID in the message, when another process
 * holds it; LLEM_EIO when the lock file cannot be opened.
 */
int study_lock(int *out_fd, const char *dir);
/* Releases it (fd may be -1). */
void study_unlock(int fd);

/* ---- running a study (runner.c) ---------------------------------------- */

/* What an event callback returns. */
enum {
	STUDY_GO_ON = 0,
	STUDY_STOP = -1,  /* stop the study between runs, as an interrupt does */
	STUDY_END_GAP = 1 /* from gap(): end this gap now (Enter on a terminal) */
};

/* One run's end, as the runner reports it. */
struct study_run_report {
	size_t k, total; /* 0-based position in the run order, runs in all */
	const char *label;
	/* MANIFEST_COMPLETED, _FAILED or _INTERRUPTED (the study stopped
	 * during this run). */
	enum manifest_state status;
	const char *error;   /* NULL when completed */
	double wall_s;       /* NAN for a kept run */
	double energy_j;     /* total energy; NAN if not measured */
	double tokens_per_s; /* output tokens/s; NAN if unknown */
	bool kept;           /* completed before, kept by --resume */
};

/* What the runner reports as it goes; the CLI prints, the runner never.
 * Each callback may be NULL and returns a STUDY_* value. */
struct study_events {
	int (*run_start)(void *ctx, size_t k, size_t total, const char *label, int cycle);
	/* A run ended, or (kept) a completed run that --resume keeps. */
	int (*run_end)(void *ctx, const struct study_run_report *run);
	/* Called every 200 ms or so during a gap; remaining_s (whole seconds,
	 * rounded up) reaches 0 unless the gap is ended early. */
	int (*gap)(void *ctx, const char *kind, double remaining_s);
	void *ctx;
};

/* The execution settings a run uses: the study's, with the overrides of
 * struct study_run_options applied. */
struct study_execution {
	int n_cycles;
	enum study_order order;
	uint32_t seed;   /* for STUDY_SHUFFLED */
	bool seed_given; /* execution.shuffle_seed was set */
	double experiment_gap_s, cycle_gap_s;
};

struct study_run_options {
	const char *llem_exe;     /* the llem binary for workers (see study_find_llem_exe) */
	const char *results_root; /* NULL: the first experiment's output_dir */
	volatile sig_atomic_t
		*interrupt; /* 1: stop after ending the current run cleanly, 2: kill it */
	const struct study_events *events;
	/* Continue the study in this directory: runs its manifest records as
	 * completed are kept, every other run runs. The study's design hash
	 * must equal the manifest's (LLEM_EINVAL otherwise). */
	const char *resume_dir;
	/* Overrides of the study's execution settings: n_cycles > 0,
	 * order >= 0 (an enum study_order), no_gaps. */
	int n_cycles;
	int order; /* -1: the study's */
	bool no_gaps;
};
#define STUDY_RUN_OPTIONS_INIT { .order = -1 }

/* The settings s runs with under o (o may be NULL). */
void study_execution_of(struct study_execution *out, const struct study *s,
			const struct study_run_options *o);
/* "sequential", "interleaved", "shuffled" ("unknown" out of range), and
 * back: the enum study_order, or -1 for any other name. */
const char *study_order_name(enum study_order order);
int study_order_parse(const char *name);

/*
 * The llem executable that runs workers: explicit when given, else
 * $LLEM_EXE, else next to the library or program holding this code
 * (<dir>/../bin/llem, <dir>/../../bin/llem, <dir>/llem: relocatable
 * installs, multiarch lib/<triplet>/ directories, build trees),
 * else the install prefix's bin directory, else `llem` on PATH. An
 * explicit path or $LLEM_EXE that is not an executable file is an error,
 * not a reason to look further. *out is newly allocated. Errors:
 * LLEM_ENOTFOUND, naming every place tried.
 */
int study_find_llem_exe(char **out, const char *explicit_path);

struct study_outcome {
	char *dir; /* the study directory */
	size_t total, completed, failed;
	bool interrupted;
	double wall_s;
	double total_energy_j; /* over completed runs with energy; NAN if none */
	char **labels;         /* per run, in run order */
	bool *ok;              /* per run */
	double *energy_j, *tokens_per_s, *wall_s_each; /* per run, NAN if unknown */
	size_t nruns;                                  /* runs attempted */
};

/*
 * Runs every experiment of s for its cycles in its order, each in a fresh
 * worker process (llem __worker), with the configured gaps, rewriting
 * manifest.json after every transition and writing results.csv,
 * results.parquet and study.json at the end (also when interrupted).
 * Each distinct dataset is validated once, up front, and its workers get
 * a --dataset-stamp; workers run with OPENBLAS_NUM_THREADS=1. A run that
 * follows another without a gap is marked running in the same manifest
 * write that records the previous one's end.
 * Returns 0 when the study ran (some runs may have failed; see out), or a
 * negative LLEM_E* when it could not start.
 */
int study_run(struct study_outcome *out, const struct study *s, const struct study_run_options *o);
void study_outcome_release(struct study_outcome *out);

#endif
