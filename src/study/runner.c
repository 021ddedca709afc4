/*
 * The study run loop: the runs in their order, gaps between them, one
 * worker process per run (`llem __worker CONFIG DIR`), the manifest
 * rewritten after each transition, and the study outputs at the end. A
 * failed run is recorded and the study goes on; an interrupt ends the run
 * in progress (SIGTERM, or SIGKILL on the second) and stops the study.
 */
#include "study/study.h"
#include "study/outputs.h"
#include "study/worker.h"
#include "llem/llem.h"
#include "measure/measure.h"
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_TAIL_LINES 5

static bool stopping(const struct study_run_options *o)
{
	return o->interrupt && *o->interrupt;
}

static void gap(const struct study_run_options *o, const char *kind, double seconds)
{
	uint64_t end = clock_monotonic_ns() + (uint64_t)(seconds * 1e9);

	while (!stopping(o)) {
		uint64_t now = clock_monotonic_ns();
		double left = now >= end ? 0 : (double)(end - now) * 1e-9;
		struct timespec ts = { 0, 200000000 };

		if (o->events && o->events->gap)
			o->events->gap(o->events->ctx, kind, ceil(left));
		if (left <= 0)
			break;
		if (left < 0.2)
			ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

/* <root>/<name>_<UTC time>, unique. */
static int make_study_dir(char **out, const char *root, const char *name)
{
	struct strbuf ts = STRBUF_INIT;
	char *base;
	int rc;

	time_format_utc(&ts, clock_realtime_ns());
	/* 2026-11-27T20:15:00.123456Z -> 2026-11-27T20-15-00 */
	base = xasprintf("%s/%s_%.10sT%.2s-%.2s-%.2s", root, name, ts.buf, ts.buf + 11,
			 ts.buf + 14, ts.buf + 17);
	strbuf_release(&ts);
	rc = fs_mkdirs(root, 0755);
	if (!rc)
		rc = fs_mkdir_unique(out, base);
	free(base);
	return rc;
}

/* "native / synthetic-smollm-135m / bf16" plus the point's sweep label. */
static char *summary_of(const struct config *c, const char *label)
{
	char *slug = measure_model_slug(cfg_str(c, FIELD_MODEL));
	char *s = xasprintf("%s / %s / %s%s%s", cfg_str(c, FIELD_BACKEND), slug,
			    cfg_str(c, FIELD_PRECISION), *label ? " / " : "", label);

	free(slug);
	return s;
}

static double timeout_of(const struct study *s, const struct config *c)
{
	double n = (double)cfg_int(c, FIELD_N);

	if (!cfg_is_null(&s->execution, FIELD_EXECUTION_EXPERIMENT_TIMEOUT_SECONDS))
		return cfg_float(&s->execution, FIELD_EXECUTION_EXPERIMENT_TIMEOUT_SECONDS);
	/* The original's rule: at least 10 minutes, 2 s per prompt beyond. */
	return fmax(600.0, 2.0 * n);
}

static void fill_row(struct run_row *row, const struct llem_result *r)
{
	row->has_result = true;
	row->duration_s = r->duration_s;
	row->input_tokens = r->tokens.input_tokens;
	row->output_tokens = r->tokens.output_tokens;
	row->out_tok_s = r->throughput.output_tokens_per_s;
	row->total_tok_s = r->throughput.total_tokens_per_s;
	row->energy_j = r->energy.present ? r->energy.total_energy_j : NAN;
	row->energy_per_token_j = r->energy.present ? r->energy.energy_per_output_token_j : NAN;
	row->adjusted_j = r->energy.present ? r->energy.energy_adjusted_j : NAN;
	row->ttft_ms = r->latency.ttft_ms.present ? r->latency.ttft_ms.mean : NAN;
	row->itl_ms = r->latency.itl_ms.present ? r->latency.itl_ms.mean : NAN;
}

/* One run: config file, worker, result; fills row, returns true when ok. */
static bool run_one(struct run_row *row, const struct study *s, size_t point, int cycle,
		    const char *dir, const struct study_run_options *o, double *wall_s)
{
	const struct config *c = &s->points[point];
	char *slug = measure_model_slug(cfg_str(c, FIELD_MODEL));
	char *rel = xasprintf("c%d_%s_%s_%.8s", cycle, slug, cfg_str(c, FIELD_BACKEND), c->hash);
	char *exp_dir = xasprintf("%s/%s", dir, rel);
	char *cfg_path = xasprintf("%s/config.json", exp_dir);
	char *log_path = xasprintf("%s/worker.log", exp_dir);
	struct strbuf json = STRBUF_INIT;
	struct worker_result wr;
	struct worker_opts wo = { 0 };
	struct llem_result r;
	bool ok = false;
	const char *argv[5];

	memset(&wr, 0, sizeof(wr));
	*wall_s = NAN;
	config_pretty_json(c, false, &json);
	strbuf_addch(&json, '\n');
	if (fs_mkdirs(exp_dir, 0755) != 0 || atomic_write_file(cfg_path, json.buf, json.len) != 0) {
		row->error_type = xstrdup("StudyError");
		row->error_message = xstrdup(error_last());
		goto out;
	}
	argv[0] = o->llem_exe;
	argv[1] = "__worker";
	argv[2] = cfg_path;
	argv[3] = exp_dir;
	argv[4] = NULL;
	wo.argv = argv;
	wo.log_path = log_path;
	wo.timeout_s = timeout_of(s, c);
	wo.interrupt = o->interrupt;
	if (worker_run(&wr, &wo) != 0) {
		row->error_type = xstrdup("StudyError");
		row->error_message = xstrdup(error_last());
		goto out;
	}
	*wall_s = wr.wall_s;
	if (wr.outcome == WORKER_OK) {
		char *src = xasprintf("%s (worker output)", rel);

		if (result_from_json(&r, wr.output, src) == 0) {
			fill_row(row, &r);
			row->result_file = xasprintf("%s/result.json", rel);
			ok = true;
		} else {
			row->error_type = xstrdup("ProcessCrash");
			row->error_message = xasprintf("worker exited 0 without a valid result: %s",
						       error_last());
		}
		result_release(&r);
		free(src);
	} else {
		row->error_type = xstrdup(wr.error_type ? wr.error_type : "WorkerError");
		row->error_message = wr.log_tail && *wr.log_tail
					     ? xasprintf("%s; last log lines:\n%s", wr.error_message,
							 wr.log_tail)
					     : xstrdup(wr.error_message ? wr.error_message : "failed");
	}
out:
	worker_result_release(&wr);
	strbuf_release(&json);
	free(slug);
	free(rel);
	free(exp_dir);
	free(cfg_path);
	free(log_path);
	return ok;
}

/* Reloads an interrupted study's manifest and checks it is this study. */
static int resume_manifest(struct manifest **out, const char *dir, const struct study *s,
			   const struct study_run_entry *runs, size_t nruns)
{
	char *path = xasprintf("%s/manifest.json", dir);
	struct manifest *m;
	size_t k;
	int rc = manifest_load(&m, path);

	free(path);
	*out = NULL;
	if (rc)
		return rc;
	if (strcmp(m->study_design_hash, s->design_hash) != 0) {
		rc = error_set(LLEM_EINVAL,
			       "cannot resume '%s': the study definition changed (design hash %s, "
			       "the manifest has %s); resume with the same study file", dir,
			       s->design_hash, m->study_design_hash);
		manifest_free(m);
		return rc;
	}
	if (m->count != nruns)
		rc = error_set(LLEM_EINVAL, "cannot resume '%s': %zu runs in the manifest, %zu in "
			       "the study", dir, m->count, nruns);
	for (k = 0; !rc && k < nruns; k++)
		if (strcmp(m->entries[k].config_hash, s->points[runs[k].point].hash) ||
		    m->entries[k].cycle != runs[k].cycle)
			rc = error_set(LLEM_EINVAL, "cannot resume '%s': run %zu of the manifest is "
				       "not run %zu of the study", dir, k + 1, k + 1);
	if (rc) {
		manifest_free(m);
		return rc;
	}
	m->status = MANIFEST_RUNNING;
	free(m->completed_at);
	m->completed_at = NULL;
	*out = m;
	return manifest_write(m);
}

/* A run the manifest records as completed: its numbers from result.json. */
static void keep_completed(struct run_row *row, struct study_outcome *out, size_t k,
			   size_t point, int cycle, const char *dir, const char *result_file,
			   const char *summary)
{
	struct llem_result r;
	char *path = xasprintf("%s/%s", dir, result_file ? result_file : "");

	row->point = point;
	row->cycle = cycle;
	row->status = "completed";
	row->result_file = xstrdup(result_file ? result_file : "");
	if (result_load(&r, path) == 0)
		fill_row(row, &r);
	result_release(&r);
	free(path);
	out->labels[k] = xstrdup(summary);
	out->ok[k] = true;
	out->energy_j[k] = row->has_result ? row->energy_j : NAN;
	out->tokens_per_s[k] = row->has_result ? row->out_tok_s : NAN;
	out->wall_s_each[k] = NAN;
	out->nruns = k + 1;
	out->completed++;
	if (row->has_result && !isnan(row->energy_j))
		out->total_energy_j = (isnan(out->total_energy_j) ? 0 : out->total_energy_j) +
				      row->energy_j;
}

static uint32_t shuffle_seed(const struct study *s)
{
	if (!cfg_is_null(&s->execution, FIELD_EXECUTION_SHUFFLE_SEED))
		return (uint32_t)cfg_int(&s->execution, FIELD_EXECUTION_SHUFFLE_SEED);
	/* int(design_hash, 16) & 0xFFFFFFFF: the last 8 hex digits. */
	return (uint32_t)strtoul(s->design_hash + 8, NULL, 16);
}

static enum study_order order_of(const struct study *s)
{
	const char *o = cfg_str(&s->execution, FIELD_EXECUTION_CYCLE_ORDER);

	return !strcmp(o, "sequential") ? STUDY_SEQUENTIAL
	       : !strcmp(o, "interleaved") ? STUDY_INTERLEAVED : STUDY_SHUFFLED;
}

int study_run(struct study_outcome *out, const struct study *s,
	      const struct study_run_options *o)
{
	int cycles = (int)cfg_int(&s->execution, FIELD_EXECUTION_N_CYCLES);
	double gap_e = cfg_float(&s->execution, FIELD_EXECUTION_EXPERIMENT_GAP_SECONDS);
	double gap_c = cfg_float(&s->execution, FIELD_EXECUTION_CYCLE_GAP_SECONDS);
	const char *root = o->results_root ? o->results_root
					   : cfg_str(&s->points[0], FIELD_OUTPUT_DIR);
	struct study_run_entry *runs = NULL;
	struct manifest *m = NULL;
	struct run_row *rows = NULL;
	const char **hashes = NULL, **summaries = NULL;
	uint64_t t0 = clock_monotonic_ns();
	size_t nruns, k, i;
	int rc;

	memset(out, 0, sizeof(*out));
	out->total_energy_j = NAN;
	if (s->count == 0)
		return error_set(LLEM_EINVAL, "the study has no valid experiment");
	worker_become_subreaper();
	nruns = study_order_runs(&runs, s->count, cycles, order_of(s), shuffle_seed(s));
	hashes = xcalloc(s->count, sizeof(*hashes));
	summaries = xcalloc(s->count, sizeof(*summaries));
	for (i = 0; i < s->count; i++) {
		hashes[i] = s->points[i].hash;
		summaries[i] = summary_of(&s->points[i], s->labels[i]);
	}
	if (o->resume_dir) {
		rc = resume_manifest(&m, o->resume_dir, s, runs, nruns);
		if (rc)
			goto done;
		out->dir = xstrdup(o->resume_dir);
	} else {
		char *mpath;

		rc = make_study_dir(&out->dir, root, s->name ? s->name : "study");
		if (rc)
			goto done;
		mpath = xasprintf("%s/manifest.json", out->dir);
		rc = manifest_create(&m, mpath, s->name ? s->name : "unnamed-study",
				     s->design_hash, hashes, summaries, runs, nruns);
		free(mpath);
		if (!m)
			goto done;
		rc = 0;
	}
	rows = xcalloc(nruns, sizeof(*rows));
	out->total = nruns;
	out->labels = xcalloc(nruns, sizeof(char *));
	out->ok = xcalloc(nruns, sizeof(bool));
	out->energy_j = xcalloc(nruns, sizeof(double));
	out->tokens_per_s = xcalloc(nruns, sizeof(double));
	out->wall_s_each = xcalloc(nruns, sizeof(double));
	for (k = 0; k < nruns && !stopping(o); k++) {
		size_t p = runs[k].point;
		double w;
		bool ok;

		if (m->entries[k].status == MANIFEST_COMPLETED) {
			/* Kept from the interrupted run: its result, not a rerun. */
			keep_completed(&rows[k], out, k, p, runs[k].cycle, out->dir,
				       m->entries[k].result_file, summaries[p]);
			continue;
		}
		if (k > 0 && gap_e > 0)
			gap(o, "Experiment gap", gap_e);
		if (k > 0 && k % s->count == 0 && gap_c > 0)
			gap(o, "Cycle gap", gap_c);
		if (stopping(o))
			break;
		rows[k].point = p;
		rows[k].cycle = runs[k].cycle;
		out->labels[k] = xstrdup(summaries[p]);
		if (o->events && o->events->run_start)
			o->events->run_start(o->events->ctx, k, nruns, summaries[p], runs[k].cycle);
		manifest_mark_running(m, k);
		ok = run_one(&rows[k], s, p, runs[k].cycle, out->dir, o, &w);
		out->nruns = k + 1;
		out->wall_s_each[k] = w;
		out->ok[k] = ok;
		out->energy_j[k] = rows[k].has_result ? rows[k].energy_j : NAN;
		out->tokens_per_s[k] = rows[k].has_result ? rows[k].out_tok_s : NAN;
		if (ok) {
			rows[k].status = "completed";
			manifest_mark_completed(m, k, rows[k].result_file);
			out->completed++;
			if (!isnan(rows[k].energy_j))
				out->total_energy_j = (isnan(out->total_energy_j) ? 0 : out->total_energy_j) +
						      rows[k].energy_j;
		} else if (stopping(o)) {
			rows[k].status = "interrupted";
			break;
		} else {
			rows[k].status = "failed";
			manifest_mark_failed(m, k, rows[k].error_type, rows[k].error_message);
			out->failed++;
		}
		if (o->events && o->events->run_end)
			o->events->run_end(o->events->ctx, k, nruns, summaries[p], ok,
					   rows[k].error_message, w);
	}
	out->interrupted = stopping(o);
	if (out->interrupted)
		manifest_mark_interrupted(m);
	else
		manifest_mark_study_completed(m);
	out->wall_s = (double)(clock_monotonic_ns() - t0) * 1e-9;
	rc = study_write_outputs(out->dir, s, m, rows, out->nruns, out->wall_s);
done:
	for (k = 0; rows && k < nruns; k++) {
		free(rows[k].result_file);
		free(rows[k].error_type);
		free(rows[k].error_message);
	}
	free(rows);
	if (summaries)
		for (i = 0; i < s->count; i++)
			free((char *)summaries[i]);
	free(summaries);
	free(hashes);
	free(runs);
	manifest_free(m);
	return rc;
}

void study_outcome_release(struct study_outcome *out)
{
	size_t k;

	for (k = 0; out->labels && k < out->total; k++)
		free(out->labels[k]);
	free(out->labels);
	free(out->ok);
	free(out->energy_j);
	free(out->tokens_per_s);
	free(out->wall_s_each);
	free(out->dir);
	memset(out, 0, sizeof(*out));
}
