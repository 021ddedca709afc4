/*
 * Running: one experiment in this process (llem_run_experiment) and a
 * study of worker processes (llem_run_study), with the layers' progress
 * reports turned into the public callbacks.
 */
#include "api/api.h"
#include "measure/measure.h"
#include "results/results.h"
#include "study/study.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The public interrupt flag is a volatile int; the layers use sig_atomic_t. */
_Static_assert(sizeof(sig_atomic_t) == sizeof(int), "sig_atomic_t is not an int");

/* Measure-layer phases to the public callback; ctx is the run options. */
static void on_phase(void *ctx, const char *phase, double expected_s)
{
	const llem_run_options *opts = ctx;

	opts->phase(phase, expected_s, opts->phase_payload);
}

LLEM_API int llem_run_experiment(char **out_json, char **out_dir, const llem_config *cfg,
				 const llem_run_options *opts)
{
	llem_run_options defaults = LLEM_RUN_OPTIONS_INIT;
	struct measure_options mo = { 0 };
	struct measure_progress progress = { on_phase, NULL, NULL };
	struct llem_result r;
	struct strbuf json = STRBUF_INIT;
	char *dir = NULL;
	int rc;

	*out_json = NULL;
	if (out_dir)
		*out_dir = NULL;
	if (!opts)
		opts = &defaults;
	/* Version 1 lacks the phase callback; its fields are read alone. */
	if (opts->version < 1 || opts->version > LLEM_RUN_OPTIONS_VERSION)
		return error_set(LLEM_EINVAL, "llem_run_options version %u is not supported",
				 opts->version);
	if (cfg->lc.is_study)
		return error_set(LLEM_ENOTSUP, "a study runs with 'llem run' (study runner), "
					       "not llem_run_experiment");
	mo.results_dir = opts->results_dir;
	mo.write_files = opts->write_files != 0;
	mo.interrupted = (volatile sig_atomic_t *)opts->interrupt;
	progress.ctx = (void *)opts;
	if (opts->version >= 2 && opts->phase)
		mo.progress = &progress;
	rc = measure_experiment(&r, &dir, &cfg->lc.experiment, &mo);
	if (rc == 0)
		rc = result_to_json(&r, &json);
	result_release(&r);
	if (rc) {
		free(dir);
		strbuf_release(&json);
		return rc;
	}
	*out_json = strbuf_detach(&json);
	if (out_dir)
		*out_dir = dir;
	else
		free(dir);
	return 0;
}

/* Study events to the public callback. */
struct study_progress {
	llem_study_progress_cb cb;
	void *payload;
};

static int on_run_start(void *ctx, size_t k, size_t total, const char *label, int cycle)
{
	struct study_progress *p = ctx;
	llem_study_event e = { 0 };

	e.type = LLEM_STUDY_RUN_START;
	e.run = k;
	e.total = total;
	e.label = label;
	e.cycle = cycle;
	return p->cb(&e, p->payload) < 0 ? STUDY_STOP : STUDY_GO_ON;
}

static int on_run_end(void *ctx, const struct study_run_report *run)
{
	struct study_progress *p = ctx;
	llem_study_event e = { 0 };

	e.type = LLEM_STUDY_RUN_END;
	e.run = run->k;
	e.total = run->total;
	e.label = run->label;
	e.status = run->status == MANIFEST_COMPLETED     ? LLEM_STUDY_RUN_COMPLETED
		   : run->status == MANIFEST_INTERRUPTED ? LLEM_STUDY_RUN_INTERRUPTED
							 : LLEM_STUDY_RUN_FAILED;
	e.error = run->error;
	e.wall_s = run->wall_s;
	e.energy_j = run->energy_j;
	e.output_tokens_per_s = run->tokens_per_s;
	e.resumed = run->kept;
	return p->cb(&e, p->payload) < 0 ? STUDY_STOP : STUDY_GO_ON;
}

static int on_gap(void *ctx, const char *kind, double remaining_s)
{
	struct study_progress *p = ctx;
	llem_study_event e = { 0 };
	int rc;

	e.type = LLEM_STUDY_GAP;
	e.gap = kind;
	e.gap_remaining_s = remaining_s;
	rc = p->cb(&e, p->payload);
	return rc < 0 ? STUDY_STOP : rc > 0 ? STUDY_END_GAP : STUDY_GO_ON;
}

LLEM_API int llem_run_study(char **out_dir, llem_study_summary *out_summary, const llem_config *cfg,
			    const llem_study_options *opts)
{
	llem_study_options defaults = LLEM_STUDY_OPTIONS_INIT;
	struct study_run_options so = STUDY_RUN_OPTIONS_INIT;
	struct study_progress prog;
	struct study_events ev = { on_run_start, on_run_end, on_gap, &prog };
	const struct field *cycles_field = &schema_fields[FIELD_EXECUTION_N_CYCLES];
	struct study_outcome out;
	char *exe = NULL;
	int rc;

	if (out_dir)
		*out_dir = NULL;
	if (out_summary) {
		memset(out_summary, 0, sizeof(*out_summary));
		out_summary->energy_j = NAN;
	}
	if (!opts)
		opts = &defaults;
	if (opts->version != LLEM_STUDY_OPTIONS_VERSION)
		return error_set(LLEM_EINVAL, "llem_study_options version %u is not supported",
				 opts->version);
	if (!cfg || !cfg->lc.is_study)
		return error_set(LLEM_EINVAL, "not a study (no 'sweep:' or 'experiments:'); "
					      "run a single experiment with llem_run_experiment");
	if (opts->n_cycles < 0 || opts->n_cycles > (int)cycles_field->max)
		return error_set(LLEM_EINVAL,
				 "n_cycles %d is out of range (1 to %d, or 0 for "
				 "the study's)",
				 opts->n_cycles, (int)cycles_field->max);
	if (opts->cycle_order && study_order_parse(opts->cycle_order) < 0)
		return error_set(LLEM_EINVAL,
				 "cycle_order '%s' is not one of sequential, "
				 "interleaved, shuffled",
				 opts->cycle_order);
	rc = study_find_llem_exe(&exe, opts->llem_exe);
	if (rc)
		return rc;
	so.llem_exe = exe;
	so.results_root = opts->results_dir;
	so.resume_dir = opts->resume_dir;
	so.interrupt = (volatile sig_atomic_t *)opts->interrupt;
	so.n_cycles = opts->n_cycles;
	so.order = opts->cycle_order ? study_order_parse(opts->cycle_order) : -1;
	so.no_gaps = opts->no_gaps != 0;
	if (opts->progress) {
		prog.cb = opts->progress;
		prog.payload = opts->progress_payload;
		so.events = &ev;
	}
	rc = study_run(&out, &cfg->lc.study, &so);
	free(exe);
	if (out_summary) {
		out_summary->total = out.total;
		out_summary->completed = out.completed;
		out_summary->failed = out.failed;
		out_summary->interrupted = out.interrupted;
		out_summary->wall_s = out.wall_s;
		out_summary->energy_j = out.total_energy_j;
	}
	if (out_dir && out.dir) {
		*out_dir = out.dir;
		out.dir = NULL;
	}
	if (rc == 0 && out.interrupted)
		rc = error_set(LLEM_EINTR, "the study was interrupted: %zu of %zu runs completed",
			       out.completed, out.total);
	study_outcome_release(&out);
	return rc;
}
