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
#include "study/worker_main.h"
#include "datasets/datasets.h"
#include "llem/errors.h"
#include "results/results.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes of a worker's stdout quoted when it is not a result. */
#define OUTPUT_PREVIEW 60

/* A dataset the runner validated once for all its workers. */
struct checked_dataset {
	const char *name; /* borrowed from the study */
	bool ok;          /* validated; else each worker reports why not */
	struct dataset_stamp stamp;
	char *text; /* dataset_stamp_format() */
};

/* One study_run() call. */
struct runner {
	const struct study *s;
	const struct study_run_options *o;
	struct study_execution ex;
	bool stop;               /* a callback asked to stop */
	bool openblas_defaulted; /* workers get openblas_default */
	struct checked_dataset *datasets;
	size_t ndatasets;
	struct study_outcome *out;
	struct study_run_entry *runs; /* in run order */
	size_t nruns;
	struct manifest *m;
	struct run_row *rows;             /* per run */
	const char **hashes, **summaries; /* per point */
	const char *cut_short;            /* the interrupted run's error message */
	size_t premarked;                 /* the run marked running ahead of its start */
	int lock_fd;                      /* the study directory's lock, or -1 */
};

static bool stopping(const struct runner *rn)
{
	return rn->stop || (rn->o->interrupt && *rn->o->interrupt);
}

static void gap(struct runner *rn, const char *kind, double seconds)
{
	const struct study_events *ev = rn->o->events;
	uint64_t end = clock_monotonic_ns() + (uint64_t)(seconds * 1e9);

	while (!stopping(rn)) {
		uint64_t now = clock_monotonic_ns();
		double left = now >= end ? 0 : (double)(end - now) * 1e-9;
		struct timespec ts = { 0, 200000000 };

		if (ev && ev->gap) {
			int rc = ev->gap(ev->ctx, kind, ceil(left));

			if (rc < 0)
				rn->stop = true;
			if (rc != STUDY_GO_ON)
				break;
		}
		if (left <= 0)
			break;
		if (left < 0.2)
			ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

/*
 * The workers' environment policy: OPENBLAS_NUM_THREADS=1 unless the user
 * set it. The engine runs OpenBLAS single-threaded inside its own pool,
 * but OpenBLAS starts its threads when the library loads, before main,
 * and they spin on sched_yield for a while: ~60 ms of CPU per worker,
 * competing with the run on a small machine. With the variable set they
 * never start. The value is for the worker's own start only: the runner
 * also passes `--drop-env OPENBLAS_NUM_THREADS` in the worker's argv
 * (study/worker_main.h), and the worker removes it before anything else, so the
 * programs it starts (the PyTorch worker) see the user's environment.
 */
static const char *const openblas_default[] = { "OPENBLAS_NUM_THREADS=1", NULL };

static bool openblas_defaulted(void)
{
	return getenv("OPENBLAS_NUM_THREADS") == NULL;
}

/*
 * Validates each distinct dataset of the study once, here, so that the
 * workers parse only the prompts they run (dataset_stamp). A dataset that
 * fails is left to the workers, whose errors then say why, run by run.
 */
static void check_datasets(struct runner *rn)
{
	size_t i, j;

	rn->datasets = xcalloc(rn->s->count + 1, sizeof(*rn->datasets));
	for (i = 0; i < rn->s->count; i++) {
		const char *name = cfg_str(&rn->s->points[i], FIELD_DATASET);
		struct checked_dataset *d;

		for (j = 0; j < rn->ndatasets; j++)
			if (!strcmp(rn->datasets[j].name, name))
				break;
		if (j < rn->ndatasets)
			continue;
		d = &rn->datasets[rn->ndatasets++];
		d->name = name;
		d->ok = dataset_stamp_take(&d->stamp, name) == 0;
		if (d->ok) {
			struct strbuf sb = STRBUF_INIT;

			dataset_stamp_format(&d->stamp, &sb);
			d->text = strbuf_detach(&sb);
		}
	}
}

/* The stamp a worker of c gets, or NULL. */
static const char *stamp_for(const struct runner *rn, const struct config *c)
{
	const char *name = cfg_str(c, FIELD_DATASET);
	size_t i;

	for (i = 0; i < rn->ndatasets; i++) {
		const struct checked_dataset *d = &rn->datasets[i];

		if (strcmp(d->name, name) != 0)
			continue;
		if (!d->ok || (size_t)cfg_int(c, FIELD_N) > d->stamp.available)
			return NULL; /* the worker's own check says what is wrong */
		return d->text;
	}
	return NULL;
}

static void runner_release(struct runner *rn)
{
	size_t i, k;

	for (k = 0; rn->rows && k < rn->nruns; k++) {
		free(rn->rows[k].result_file);
		free(rn->rows[k].error_type);
		free(rn->rows[k].error_message);
	}
	free(rn->rows);
	if (rn->summaries)
		for (i = 0; i < rn->s->count; i++)
			free((char *)rn->summaries[i]);
	free(rn->summaries);
	free(rn->hashes);
	free(rn->runs);
	manifest_free(rn->m);
	study_unlock(rn->lock_fd);
	for (i = 0; i < rn->ndatasets; i++) {
		dataset_stamp_release(&rn->datasets[i].stamp);
		free(rn->datasets[i].text);
	}
	free(rn->datasets);
}

/* <root>/<name>_<UTC time>, unique. */
static int make_study_dir(char **out, const char *root, const char *name)
{
	struct strbuf ts = STRBUF_INIT;
	char *base;
	int rc;

	time_format_utc(&ts, clock_realtime_ns());
	/* 2026-11-27T20:15:00.123456Z -> 2026-11-27T20-15-00 */
	base = xasprintf("%s/%s_%.10sT%.2s-%.2s-%.2s", root, name, ts.buf, ts.buf + 11, ts.buf + 14,
			 ts.buf + 17);
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
	char *slug = result_model_slug(cfg_str(c, FIELD_MODEL));
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

/*
 * The worker's config.json: whole under its name (temp file, rename), but
 * not fsynced, unlike the manifest and results (two fsyncs a run saved).
 * It is an input, not a record: the worker reads it at once, a rerun
 * writes it again, and result.json holds the same config durably.
 */
static int write_worker_config(const char *path, const char *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;

	if (fd < 0) {
		rc = error_set_errno(LLEM_EIO, "cannot create '%s'", tmp);
		free(tmp);
		return rc;
	}
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = error_set_errno(LLEM_EIO, "cannot write '%s'", tmp);
			break;
		}
		data += w;
		len -= (size_t)w;
	}
	if (close(fd) != 0 && !rc)
		rc = error_set_errno(LLEM_EIO, "cannot close '%s'", tmp);
	if (!rc && rename(tmp, path) != 0)
		rc = error_set_errno(LLEM_EIO, "cannot rename '%s' to '%s'", tmp, path);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* "this is not a result" (at most OUTPUT_PREVIEW bytes, control bytes as '?'). */
static char *output_preview(const char *out, size_t len)
{
	size_t n = len < OUTPUT_PREVIEW ? len : OUTPUT_PREVIEW, i;
	char *p = xstrndup(out, n);

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		p[--n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			p[i] = '?';
	return p;
}

/* One run: config file, worker, result; fills row, returns true when ok. */
static bool run_one(struct run_row *row, struct runner *rn, size_t point, int cycle,
		    const char *dir, double *wall_s)
{
	const struct config *c = &rn->s->points[point];
	char *slug = result_model_slug(cfg_str(c, FIELD_MODEL));
	char *rel = xasprintf("c%d_%s_%s_%.8s", cycle, slug, cfg_str(c, FIELD_BACKEND), c->hash);
	char *exp_dir = xasprintf("%s/%s", dir, rel);
	char *cfg_path = xasprintf("%s/config.json", exp_dir);
	char *log_path = xasprintf("%s/worker.log", exp_dir);
	const char *stamp = stamp_for(rn, c);
	struct strbuf json = STRBUF_INIT;
	struct worker_result wr;
	struct worker_opts wo = { 0 };
	struct llem_result r;
	bool ok = false;
	const char *argv[STUDY_WORKER_ARGV_MAX];

	memset(&wr, 0, sizeof(wr));
	*wall_s = NAN;
	config_pretty_json(c, false, &json);
	strbuf_addch(&json, '\n');
	if (fs_mkdirs(exp_dir, 0755) != 0 ||
	    write_worker_config(cfg_path, json.buf, json.len) != 0) {
		row->error_type = xstrdup("StudyError");
		row->error_message = xstrdup(error_last());
		goto out;
	}
	study_worker_argv(argv, rn->o->llem_exe,
			  rn->openblas_defaulted ? "OPENBLAS_NUM_THREADS" : NULL, stamp, cfg_path,
			  exp_dir);
	wo.argv = argv;
	wo.env_set = rn->openblas_defaulted ? openblas_default : NULL;
	wo.log_path = log_path;
	wo.timeout_s = timeout_of(rn->s, c);
	wo.interrupt = rn->o->interrupt;
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
			char *preview = output_preview(wr.output, wr.output_len);

			row->error_type = xstrdup("ProcessCrash");
			row->error_message =
				wr.output_len
					? xasprintf(
						  "worker exited 0 without a valid result (its output began "
						  "\"%s\"): %s",
						  preview, error_last())
					: xstrdup("worker exited 0 without a result (no output)");
			free(preview);
		}
		result_release(&r);
		free(src);
	} else {
		row->error_type = xstrdup(wr.error_type ? wr.error_type : "WorkerError");
		row->error_message =
			wr.log_tail && *wr.log_tail
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
			       "the manifest has %s); resume with the same study file",
			       dir, s->design_hash, m->study_design_hash);
		manifest_free(m);
		return rc;
	}
	if (m->count != nruns)
		rc = error_set(LLEM_EINVAL,
			       "cannot resume '%s': %zu runs in the manifest, %zu in "
			       "the study",
			       dir, m->count, nruns);
	for (k = 0; !rc && k < nruns; k++)
		if (strcmp(m->entries[k].config_hash, s->points[runs[k].point].hash) ||
		    m->entries[k].cycle != runs[k].cycle)
			rc = error_set(LLEM_EINVAL,
				       "cannot resume '%s': run %zu of the manifest is "
				       "not run %zu of the study",
				       dir, k + 1, k + 1);
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
static void keep_completed(struct run_row *row, struct study_outcome *out, size_t k, size_t point,
			   int cycle, const char *dir, const char *result_file, const char *summary)
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
		out->total_energy_j =
			(isnan(out->total_energy_j) ? 0 : out->total_energy_j) + row->energy_j;
}

static uint32_t shuffle_seed(const struct study *s)
{
	if (!cfg_is_null(&s->execution, FIELD_EXECUTION_SHUFFLE_SEED))
		return (uint32_t)cfg_int(&s->execution, FIELD_EXECUTION_SHUFFLE_SEED);
	/* int(design_hash, 16) & 0xFFFFFFFF: the last 8 hex digits. */
	return (uint32_t)strtoul(s->design_hash + 8, NULL, 16);
}

void study_execution_of(struct study_execution *out, const struct study *s,
			const struct study_run_options *o)
{
	const struct config *ex = &s->execution;
	int order = study_order_parse(cfg_str(ex, FIELD_EXECUTION_CYCLE_ORDER));

	out->n_cycles = (int)cfg_int(ex, FIELD_EXECUTION_N_CYCLES);
	out->order = order >= 0 ? (enum study_order)order : STUDY_SHUFFLED;
	out->seed_given = !cfg_is_null(ex, FIELD_EXECUTION_SHUFFLE_SEED);
	out->seed = shuffle_seed(s);
	out->experiment_gap_s = cfg_float(ex, FIELD_EXECUTION_EXPERIMENT_GAP_SECONDS);
	out->cycle_gap_s = cfg_float(ex, FIELD_EXECUTION_CYCLE_GAP_SECONDS);
	if (!o)
		return;
	if (o->n_cycles > 0)
		out->n_cycles = o->n_cycles;
	if (o->order >= STUDY_SEQUENTIAL && o->order <= STUDY_SHUFFLED)
		out->order = (enum study_order)o->order;
	if (o->no_gaps)
		out->experiment_gap_s = out->cycle_gap_s = 0;
}

static int event_run_start(struct runner *rn, size_t k, size_t total, const char *label, int cycle)
{
	const struct study_events *ev = rn->o->events;

	if (ev && ev->run_start && ev->run_start(ev->ctx, k, total, label, cycle) < 0)
		rn->stop = true;
	return rn->stop ? STUDY_STOP : STUDY_GO_ON;
}

static void event_run_end(struct runner *rn, const struct study_outcome *out, size_t k,
			  const char *label, enum manifest_state status, const char *error,
			  bool kept)
{
	const struct study_events *ev = rn->o->events;
	struct study_run_report rep = {
		.k = k,
		.total = out->total,
		.label = label,
		.status = status,
		.error = status == MANIFEST_COMPLETED ? NULL : error,
		.wall_s = out->wall_s_each[k],
		.energy_j = out->energy_j[k],
		.tokens_per_s = out->tokens_per_s[k],
		.kept = kept,
	};

	if (ev && ev->run_end && ev->run_end(ev->ctx, &rep) < 0)
		rn->stop = true;
}

/* The runs in their order, and each point's hash and summary. */
static void runner_plan(struct runner *rn)
{
	const struct study *s = rn->s;
	size_t i;

	study_execution_of(&rn->ex, s, rn->o);
	worker_become_subreaper();
	rn->nruns =
		study_order_runs(&rn->runs, s->count, rn->ex.n_cycles, rn->ex.order, rn->ex.seed);
	rn->hashes = xcalloc(s->count, sizeof(*rn->hashes));
	rn->summaries = xcalloc(s->count, sizeof(*rn->summaries));
	for (i = 0; i < s->count; i++) {
		rn->hashes[i] = s->points[i].hash;
		rn->summaries[i] = summary_of(&s->points[i], s->labels[i]);
	}
}

/* A new study directory and manifest under root, or the manifest of the
 * interrupted study being resumed. */
static int runner_open_manifest(struct runner *rn, const char *root)
{
	const struct study *s = rn->s;
	struct study_outcome *out = rn->out;
	char *mpath;
	int rc;

	if (rn->o->resume_dir) {
		/* Locked before the manifest is read: a second runner must not
		 * see (or write) what the first is doing. */
		rc = study_lock(&rn->lock_fd, rn->o->resume_dir);
		if (rc)
			return rc;
		rc = resume_manifest(&rn->m, rn->o->resume_dir, s, rn->runs, rn->nruns);
		if (rc)
			return rc;
		out->dir = xstrdup(rn->o->resume_dir);
		return 0;
	}
	rc = make_study_dir(&out->dir, root, s->name ? s->name : "study");
	if (!rc)
		rc = study_lock(&rn->lock_fd, out->dir);
	if (rc)
		return rc;
	mpath = xasprintf("%s/manifest.json", out->dir);
	rc = manifest_create(&rn->m, mpath, s->name ? s->name : "unnamed-study", s->design_hash,
			     rn->hashes, rn->summaries, rn->runs, rn->nruns);
	free(mpath);
	return rn->m ? 0 : rc;
}

/* The datasets checked once for all workers, and the per-run arrays. */
static void runner_prepare(struct runner *rn)
{
	struct study_outcome *out = rn->out;
	size_t nruns = rn->nruns;

	rn->openblas_defaulted = openblas_defaulted();
	check_datasets(rn);
	rn->rows = xcalloc(nruns, sizeof(*rn->rows));
	out->total = nruns;
	out->labels = xcalloc(nruns, sizeof(char *));
	out->ok = xcalloc(nruns, sizeof(bool));
	out->energy_j = xcalloc(nruns, sizeof(double));
	out->tokens_per_s = xcalloc(nruns, sizeof(double));
	out->wall_s_each = xcalloc(nruns, sizeof(double));
}

/* After run k: marks run k + 1 running now when it follows at once. */
static void chain_next(struct runner *rn, size_t k)
{
	const struct study *s = rn->s;
	bool chain;

	/* The next run follows at once: mark it running in the same
	 * manifest write as this one's end (its started_at is then a
	 * millisecond early); a SIGKILL between the two leaves it
	 * running, which --resume reruns like pending. */
	chain = !stopping(rn) && k + 1 < rn->nruns &&
		rn->m->entries[k + 1].status != MANIFEST_COMPLETED &&
		rn->ex.experiment_gap_s <= 0 &&
		((k + 1) % s->count != 0 || rn->ex.cycle_gap_s <= 0);
	if (chain) {
		manifest_set_running(rn->m, k + 1);
		rn->premarked = k + 1;
	}
}

/* Run k's end: its row, the manifest, the outcome and the event. Returns
 * false when the run was interrupted, which ends the study. */
static bool record_end(struct runner *rn, size_t k, bool ok)
{
	struct study_outcome *out = rn->out;
	struct run_row *row = &rn->rows[k];
	const char *summary = rn->summaries[rn->runs[k].point];

	if (ok) {
		row->status = "completed";
		manifest_mark_completed(rn->m, k, row->result_file);
		out->completed++;
		if (!isnan(row->energy_j))
			out->total_energy_j =
				(isnan(out->total_energy_j) ? 0 : out->total_energy_j) +
				row->energy_j;
	} else if (stopping(rn)) {
		/* Left running in the manifest: manifest_mark_interrupted
		 * below records it, in the same write as the study. */
		row->status = "interrupted";
		rn->cut_short = row->error_message;
		event_run_end(rn, out, k, summary, MANIFEST_INTERRUPTED, row->error_message, false);
		return false;
	} else {
		row->status = "failed";
		manifest_mark_failed(rn->m, k, row->error_type, row->error_message);
		out->failed++;
	}
	event_run_end(rn, out, k, summary, ok ? MANIFEST_COMPLETED : MANIFEST_FAILED,
		      row->error_message, false);
	return true;
}

/* Run k, or its result kept from the interrupted study; false when the
 * study stops here. */
static bool run_at(struct runner *rn, size_t k)
{
	struct study_outcome *out = rn->out;
	struct run_row *row = &rn->rows[k];
	size_t p = rn->runs[k].point;
	int cycle = rn->runs[k].cycle;
	const char *summary = rn->summaries[p];
	double w;
	bool ok;

	if (rn->m->entries[k].status == MANIFEST_COMPLETED) {
		/* Kept from the interrupted run: its result, not a rerun. */
		keep_completed(row, out, k, p, cycle, out->dir, rn->m->entries[k].result_file,
			       summary);
		event_run_end(rn, out, k, summary, MANIFEST_COMPLETED, NULL, true);
		return true;
	}
	if (k > 0 && rn->ex.experiment_gap_s > 0)
		gap(rn, "Experiment gap", rn->ex.experiment_gap_s);
	if (k > 0 && k % rn->s->count == 0 && rn->ex.cycle_gap_s > 0)
		gap(rn, "Cycle gap", rn->ex.cycle_gap_s);
	if (stopping(rn) || event_run_start(rn, k, rn->nruns, summary, cycle) != STUDY_GO_ON)
		return false;
	row->point = p;
	row->cycle = cycle;
	out->labels[k] = xstrdup(summary);
	if (rn->premarked != k)
		manifest_mark_running(rn->m, k);
	rn->premarked = SIZE_MAX;
	ok = run_one(row, rn, p, cycle, out->dir, &w);
	out->nruns = k + 1;
	out->wall_s_each[k] = w;
	out->ok[k] = ok;
	out->energy_j[k] = row->has_result ? row->energy_j : NAN;
	out->tokens_per_s[k] = row->has_result ? row->out_tok_s : NAN;
	chain_next(rn, k);
	return record_end(rn, k, ok);
}

/* The study's end in the manifest, then results.csv, results.parquet and
 * study.json. */
static int runner_finish(struct runner *rn, uint64_t t0)
{
	struct study_outcome *out = rn->out;

	/* Marked running with the last run's end, but never started. */
	if (rn->premarked != SIZE_MAX)
		manifest_set_pending(rn->m, rn->premarked);
	out->interrupted = stopping(rn);
	if (out->interrupted)
		manifest_mark_interrupted(rn->m, rn->cut_short);
	else
		manifest_mark_study_completed(rn->m);
	out->wall_s = (double)(clock_monotonic_ns() - t0) * 1e-9;
	return study_write_outputs(out->dir, rn->s, &rn->ex, rn->m, rn->rows, out->nruns,
				   out->wall_s);
}

int study_run(struct study_outcome *out, const struct study *s, const struct study_run_options *o)
{
	struct runner rn = { .s = s, .o = o, .out = out, .premarked = SIZE_MAX, .lock_fd = -1 };
	const char *root = o->results_root ? o->results_root
			   : s->count      ? cfg_str(&s->points[0], FIELD_OUTPUT_DIR)
					   : ".";
	uint64_t t0 = clock_monotonic_ns();
	size_t k;
	int rc;

	memset(out, 0, sizeof(*out));
	out->total_energy_j = NAN;
	if (s->count == 0)
		return error_set(LLEM_EINVAL, "the study has no valid experiment");
	if (!o->llem_exe)
		return error_set(LLEM_EINVAL, "study_run: no llem executable for the workers");
	runner_plan(&rn);
	rc = runner_open_manifest(&rn, root);
	if (rc)
		goto done;
	runner_prepare(&rn);
	for (k = 0; k < rn.nruns && !stopping(&rn); k++)
		if (!run_at(&rn, k))
			break;
	rc = runner_finish(&rn, t0);
done:
	runner_release(&rn);
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
