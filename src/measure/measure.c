/*
 * One experiment's lifecycle. The order and the rules come from
 * docs/methodology.md: the baseline is measured with
 * the model loaded (so its age at the window is honest), warmup runs the
 * real batch shape, energy is the counter delta at the window's edges with
 * the power integral as a cross-check, and no sensor means no number.
 */
#include "measure/measure.h"
#include "measure/output.h"
#include "datasets/datasets.h"
#include "energy/energy.h"
#include "env/env.h"
#include "llem/errors.h"
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MIB (1024.0 * 1024.0)

/* Token timestamps of the measurement window, preallocated. */
struct token_log {
	size_t n, per; /* requests, slots per request */
	uint64_t *t;   /* n x per */
	int64_t *count;
	size_t done;
	const struct measure_progress *progress;
};

static void log_token(void *ctx, size_t request, int32_t token, uint64_t t_ns)
{
	struct token_log *l = ctx;

	(void)token;
	if (request >= l->n)
		return;
	if ((size_t)l->count[request] < l->per)
		l->t[request * l->per + (size_t)l->count[request]] = t_ns;
	l->count[request]++;
}

static void phase(const struct measure_options *o, const char *name, double s)
{
	if (o->progress && o->progress->phase)
		o->progress->phase(o->progress->ctx, name, s);
}

static bool interrupted(const struct measure_options *o)
{
	return o->interrupted && *o->interrupted;
}

/* Sleeps up to seconds, in slices, returning early on interrupt. */
static int wait_s(const struct measure_options *o, double seconds)
{
	uint64_t end = clock_monotonic_ns() + (uint64_t)(seconds * 1e9);

	while (clock_monotonic_ns() < end) {
		uint64_t left = end - clock_monotonic_ns();
		struct timespec ts = { 0, (long)(left < 100000000u ? left : 100000000u) };

		if (interrupted(o))
			return error_set(LLEM_EINTR, "interrupted");
		nanosleep(&ts, NULL);
	}
	return interrupted(o) ? error_set(LLEM_EINTR, "interrupted") : 0;
}

static struct energy_meter_opts meter_opts(const struct config *cfg)
{
	struct energy_meter_opts mo = { 0 };

	mo.backend =
		cfg_is_null(cfg, FIELD_ENERGY_BACKEND) ? NULL : cfg_str(cfg, FIELD_ENERGY_BACKEND);
	mo.rapl_root = cfg_str(cfg, FIELD_ENERGY_RAPL_ROOT);
	mo.replay_file = cfg_str(cfg, FIELD_ENERGY_REPLAY_FILE);
	mo.cuda_visible = cfg_is_null(cfg, FIELD_ENERGY_GPU_DEVICES)
				  ? getenv("CUDA_VISIBLE_DEVICES")
				  : cfg_str(cfg, FIELD_ENERGY_GPU_DEVICES);
	return mo;
}

int measure_backend_preflight(const struct config *cfg, unsigned flags, struct diag_list *diags)
{
	const struct backend_info *bi = backends_find(cfg_str(cfg, FIELD_BACKEND));
	const struct cfg_origin *bo = &cfg->o[FIELD_BACKEND];
	size_t before = diag_error_count(diags);

	if (!bi || !bi->runnable)
		diag_add(diags, DIAG_ERROR, bo->source, bo->line, bo->col, "backend",
			 "run 'llem config' to see the backends this build can run",
			 "backend '%s' cannot run: %s", cfg_str(cfg, FIELD_BACKEND),
			 bi ? bi->status : "unknown backend");
	else
		bi->ops->preflight(cfg, flags, diags);
	return diag_error_count(diags) == before ? 0 : -1;
}

/*
 * The preflight checks. With ps and meter non-NULL the prompt set and the
 * energy meter opened for the checks are handed back for the run instead
 * of being loaded and opened a second time (each load of the built-in
 * dataset parses 1.7 MB of JSON; an NVML meter initialises the driver).
 */
static int preflight(const struct config *cfg, struct diag_list *diags,
		     const struct dataset_stamp *stamp, struct prompt_set *ps,
		     struct energy_meter **meter)
{
	struct energy_meter_opts mo = meter_opts(cfg);
	struct energy_meter *m;
	struct prompt_set local;
	size_t before = diag_error_count(diags);

	measure_backend_preflight(cfg, BACKEND_PREFLIGHT_EXECUTE, diags);
	if (dataset_load_stamped(ps ? ps : &local, cfg_str(cfg, FIELD_DATASET),
				 (size_t)cfg_int(cfg, FIELD_N), stamp) != 0)
		diag_add(diags, DIAG_ERROR, cfg->o[FIELD_DATASET].source,
			 cfg->o[FIELD_DATASET].line, cfg->o[FIELD_DATASET].col, "dataset", NULL,
			 "%s", error_last());
	else if (!ps)
		prompt_set_release(&local);
	if (energy_meter_open(&m, &mo) != 0) {
		const struct cfg_origin *eo = &cfg->o[FIELD_ENERGY_BACKEND];

		diag_add(diags, DIAG_ERROR, eo->source, eo->line, eo->col, "energy.backend",
			 "use energy.backend: auto to measure what is available", "%s",
			 error_last());
	} else if (meter) {
		*meter = m;
	} else {
		energy_meter_close(m);
	}
	return diag_error_count(diags) == before ? 0 : -1;
}

/* Per-device idle power over [a, b]: counter delta / time, else mean power. */
static void baseline_powers(double *out_w, const struct energy_reading *a,
			    const struct energy_reading *b, const struct energy_sampler *s,
			    size_t ndev)
{
	size_t i;

	for (i = 0; i < ndev; i++) {
		struct energy_window_device w;
		double dt = (double)(b[i].t_ns - a[i].t_ns) * 1e-9;

		energy_window_compute(&w, a, b, s, i);
		out_w[i] = dt > 0 && !isnan(w.energy_j) ? w.energy_j / dt : NAN;
	}
}

static double cv_of(const double *x, size_t n)
{
	double mean = 0, var = 0;
	size_t i;

	for (i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (i = 0; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= (double)n;
	return mean > 0 ? sqrt(var) / mean : NAN;
}

static int run_warmup(struct llem_result *r, const struct config *cfg,
		      const struct backend_ops *ops, void *session, size_t batch,
		      const char *const *prompts, size_t nprompts, const struct measure_options *o)
{
	struct result_warmup *w = &r->warmup;
	bool cv = cfg_bool(cfg, FIELD_WARMUP_CONVERGENCE_DETECTION);
	int64_t max_it =
		cv ? cfg_int(cfg, FIELD_WARMUP_MAX_PROMPTS) : cfg_int(cfg, FIELD_WARMUP_N_WARMUP);
	int64_t min_it = cv ? cfg_int(cfg, FIELD_WARMUP_MIN_PROMPTS) : max_it;
	size_t window = (size_t)cfg_int(cfg, FIELD_WARMUP_WINDOW_SIZE);
	double target = cfg_float(cfg, FIELD_WARMUP_CV_THRESHOLD);
	struct backend_request_stats *st;
	int64_t it;
	int rc = 0;

	w->enabled = cfg_bool(cfg, FIELD_WARMUP_ENABLED);
	w->mode = cv ? RESULT_WARMUP_CV : RESULT_WARMUP_FIXED;
	w->target_cv = cv ? target : NAN;
	w->final_cv = NAN;
	if (!w->enabled)
		return 0;
	/* Each warmup run is one full batch, the shape the window runs. */
	if (batch < 1)
		batch = 1;
	if (batch > nprompts)
		batch = nprompts;
	st = xcalloc(batch, sizeof(*st));
	phase(o, "warmup", -1);
	for (it = 0; it < max_it; it++) {
		uint64_t t0 = clock_monotonic_ns();

		if (interrupted(o)) {
			rc = error_set(LLEM_EINTR, "interrupted");
			break;
		}
		rc = ops->generate(session, prompts, batch, NULL, st);
		if (rc)
			break;
		result_warmup_add_latency(r, (double)(clock_monotonic_ns() - t0) * 1e-6);
		w->iterations_completed = it + 1;
		if (w->latency_count >= window)
			w->final_cv = cv_of(w->latencies_ms + w->latency_count - window, window);
		if (cv && it + 1 >= min_it && w->latency_count >= window && w->final_cv <= target) {
			w->converged = true;
			break;
		}
	}
	if (!cv && !rc)
		w->converged = true;
	free(st);
	return rc;
}

struct run_state {
	const struct backend_info *bi;
	void *session;
	struct backend_model_info mi;
	struct energy_meter *meter;
	struct energy_sampler *sampler;
	struct prompt_set ps;
	struct energy_reading *edge0, *edge1, *base0, *base1;
	double *base_w;
	struct backend_request_stats *stats;
	struct token_log log;
	uint64_t window_t0, window_t1, experiment_t0, baseline_t1;
	size_t ndev;      /* energy devices */
	struct rusage ru; /* this process, read as the window closed */
};

static void fill_energy(struct llem_result *r, struct run_state *st, const struct config *cfg,
			double duration_s)
{
	size_t ndev = energy_meter_device_count(st->meter), i;
	struct result_energy *e = &r->energy;
	double total = 0, adjusted = 0, max_t = NAN, t_start = NAN, t_end = NAN;
	bool any = false, all_adjusted = true;

	for (i = 0; i < ndev; i++) {
		const struct energy_device_desc *d = energy_meter_device(st->meter, i);
		struct energy_window_device w;
		struct result_energy_device *rd;

		energy_window_compute(&w, st->edge0, st->edge1, st->sampler, i);
		if (!isnan(w.max_temperature_c) && (isnan(max_t) || w.max_temperature_c > max_t))
			max_t = w.max_temperature_c;
		if (isnan(t_start))
			t_start = w.start_temperature_c;
		if (isnan(t_end))
			t_end = w.end_temperature_c;
		if (w.throttle_reasons) {
			r->thermal.throttle_detected = true;
			/* NVML clocks-event bits: SW power cap 0x4, HW slowdown 0x8,
			 * SW thermal 0x20, HW thermal 0x40, HW power brake 0x80. */
			r->thermal.power |= (w.throttle_reasons & 0x4) != 0;
			r->thermal.sw_thermal |= (w.throttle_reasons & 0x20) != 0;
			r->thermal.hw_thermal |= (w.throttle_reasons & 0x40) != 0;
			r->thermal.hw_power |= (w.throttle_reasons & 0x80) != 0;
			r->thermal.thermal = r->thermal.sw_thermal || r->thermal.hw_thermal;
		}
		if (w.counter_reset)
			result_add_warning(r,
					   "energy_counter_reset: %s's counter went backwards in "
					   "the window; %s",
					   d->name,
					   isnan(w.integral_j)
						   ? "its energy is not reported"
						   : "its energy is the power integral");
		if (!st->edge0[i].valid || !st->edge1[i].valid)
			result_add_warning(r,
					   "device_read_failed: %s could not be read at the %s of "
					   "the window; its energy is not reported",
					   d->name, st->edge0[i].valid ? "end" : "start");
		if (isnan(w.energy_j))
			continue;
		rd = result_add_energy_device(r);
		rd->source = d->kind == ENERGY_NVML   ? RESULT_SOURCE_NVML
			     : d->kind == ENERGY_RAPL ? RESULT_SOURCE_RAPL
						      : RESULT_SOURCE_REPLAY;
		rd->device = xstrdup(d->name);
		rd->method = w.from_counter ? RESULT_ENERGY_COUNTER : RESULT_ENERGY_INTEGRAL;
		rd->energy_j = w.energy_j;
		rd->integral_energy_j = w.integral_j;
		rd->power_samples = (int64_t)w.power_samples;
		rd->baseline_power_w = st->base_w ? st->base_w[i] : NAN;
		rd->energy_adjusted_j =
			isnan(rd->baseline_power_w)
				? NAN
				: fmax(0.0, w.energy_j - rd->baseline_power_w * duration_s);
		if (isnan(rd->energy_adjusted_j))
			all_adjusted = false;
		else
			adjusted += rd->energy_adjusted_j;
		total += w.energy_j;
		any = true;
		if (w.from_counter && !isnan(w.integral_j) && w.counter_j > 0 &&
		    fabs(w.integral_j - w.counter_j) / w.counter_j > 0.05)
			result_add_warning(r,
					   "energy_cross_check_disagreement: %s counter %.3f J vs "
					   "power integral %.3f J (%.1f%%)",
					   d->name, w.counter_j, w.integral_j,
					   100.0 * fabs(w.integral_j - w.counter_j) / w.counter_j);
		if (d->has_power && w.power_samples < 10)
			result_add_warning(r,
					   "low_sample_count: %zu power samples of %s in the "
					   "window (fewer than 10)",
					   w.power_samples, d->name);
	}
	r->thermal.present = !isnan(max_t);
	r->thermal.max_temperature_c = max_t;
	r->thermal.start_temperature_c = t_start;
	r->thermal.end_temperature_c = t_end;
	if (!isnan(t_start) && !isnan(t_end) && fabs(t_end - t_start) > 10)
		result_add_warning(r,
				   "thermal_drift_detected: %.1f C at the start, %.1f C at the "
				   "end of the window",
				   t_start, t_end);
	if (!any) {
		const char *why = energy_meter_why_none(st->meter);

		r->energy.present = false;
		r->energy_null_reason =
			xstrdup(why ? why : "no device reported energy in the window");
		return;
	}
	e->present = true;
	e->total_energy_j = total;
	e->energy_adjusted_j = all_adjusted && st->base_w ? adjusted : NAN;
	e->energy_per_output_token_j =
		r->tokens.output_tokens > 0 ? total / (double)r->tokens.output_tokens : NAN;
	e->energy_adjusted_per_output_token_j =
		r->tokens.output_tokens > 0 ? e->energy_adjusted_j / (double)r->tokens.output_tokens
					    : NAN;
	e->mean_power_w = duration_s > 0 ? total / duration_s : NAN;
	(void)cfg;
}

static void fill_latency(struct llem_result *r, const struct run_state *st)
{
	size_t n = st->log.n, i, k, nitl = 0;
	double *ttft = xmalloc(n * sizeof(double)), *e2e = xmalloc(n * sizeof(double));
	double *tpot = xmalloc(n * sizeof(double));
	double *itl = xmalloc((n * st->log.per + 1) * sizeof(double));

	for (i = 0; i < n; i++) {
		const struct backend_request_stats *s = &st->stats[i];
		const uint64_t *t = st->log.t + i * st->log.per;
		size_t cnt = (size_t)st->log.count[i] < st->log.per ? (size_t)st->log.count[i]
								    : st->log.per;

		ttft[i] = s->output_tokens > 0 ? (double)(s->first_token_ns - s->start_ns) * 1e-6
					       : NAN;
		e2e[i] = (double)(s->end_ns - s->start_ns) * 1e-6;
		tpot[i] = s->output_tokens > 1 ? (e2e[i] - ttft[i]) / (double)(s->output_tokens - 1)
					       : NAN;
		/* ITL from token timestamps, one gap per consecutive pair. */
		for (k = 1; k < cnt; k++)
			itl[nitl++] = (double)(t[k] - t[k - 1]) * 1e-6;
	}
	result_stats_compute(&r->latency.ttft_ms, ttft, n);
	result_stats_compute(&r->latency.e2e_ms, e2e, n);
	result_stats_compute(&r->latency.tpot_ms, tpot, n);
	result_stats_compute(&r->latency.itl_ms, itl, nitl);
	free(ttft);
	free(e2e);
	free(tpot);
	free(itl);
}

static void utc_now(char **out)
{
	struct strbuf sb = STRBUF_INIT;

	time_format_utc(&sb, clock_realtime_ns());
	*out = strbuf_detach(&sb);
}

static void release_state(struct run_state *st)
{
	if (st->sampler)
		energy_sampler_free(st->sampler);
	if (st->session)
		st->bi->ops->unload(st->session);
	backend_model_info_release(&st->mi);
	energy_meter_close(st->meter);
	prompt_set_release(&st->ps);
	free(st->edge0);
	free(st->edge1);
	free(st->base0);
	free(st->base1);
	free(st->base_w);
	free(st->stats);
	free(st->log.t);
	free(st->log.count);
}

/* Preflight, the environment and the reading buffers. */
static int start(struct run_state *st, struct llem_result *r, const struct config *cfg,
		 const struct measure_options *o)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf msg = STRBUF_INIT;
	int rc = 0;

	if (preflight(cfg, &diags, o->dataset_stamp, &st->ps, &st->meter) != 0) {
		diag_list_format(&diags, true, &msg);
		rc = error_set(LLEM_EINVAL, "preflight failed:\n%s", msg.buf);
		strbuf_release(&msg);
		diag_list_release(&diags);
		return rc;
	}
	diag_list_release(&diags);
	if (o->write_files) {
		rc = measure_prepare_outputs(cfg, o);
		if (rc)
			return rc;
	}
	st->experiment_t0 = clock_monotonic_ns();
	st->bi = backends_find(cfg_str(cfg, FIELD_BACKEND));
	env_snapshot_collect(&r->environment);
	st->ndev = energy_meter_device_count(st->meter);
	st->edge0 = xcalloc(st->ndev + 1, sizeof(*st->edge0));
	st->edge1 = xcalloc(st->ndev + 1, sizeof(*st->edge1));
	st->base0 = xcalloc(st->ndev + 1, sizeof(*st->base0));
	st->base1 = xcalloc(st->ndev + 1, sizeof(*st->base1));
	return 0;
}

/* The model, outside every measurement, then the sampler. */
static int load_model(struct run_state *st, struct llem_result *r, const struct config *cfg,
		      const struct measure_options *o)
{
	unsigned interval = (unsigned)cfg_int(cfg, FIELD_ENERGY_SAMPLE_INTERVAL_MS);
	struct backend_params params;
	size_t i;
	int rc;

	phase(o, "load", -1);
	backend_params_of(&params, cfg);
	rc = st->bi->ops->load(&st->session, &params, cfg, &st->mi);
	if (rc)
		return rc;
	if (st->bi->ops->set_interrupt && o->interrupted)
		st->bi->ops->set_interrupt(st->session, o->interrupted);
	for (i = 0; i < st->mi.n_warnings; i++)
		result_add_warning(r, "%s", st->mi.warnings[i]);
	/* The sampler covers the whole experiment: baseline, warmup, window.
	 * Capacity for a generous run length; beyond it samples are dropped
	 * (and counted) but edge readings keep the energy exact. */
	return energy_sampler_start(&st->sampler, st->meter, interval,
				    (size_t)(3600000 / interval) + 16);
}

/* Idle power with the model loaded (docs/methodology.md). */
static int measure_baseline(struct run_state *st, struct llem_result *r, const struct config *cfg,
			    const struct measure_options *o)
{
	double secs = cfg_float(cfg, FIELD_BASELINE_DURATION_SECONDS), sum = 0;
	bool any = false;
	size_t i;
	int rc;

	r->energy.baseline.method = RESULT_BASELINE_DISABLED;
	r->energy.baseline.power_w = NAN;
	r->energy.baseline.age_s = NAN;
	r->energy.baseline.duration_s = NAN;
	if (!cfg_bool(cfg, FIELD_BASELINE_ENABLED) || st->ndev == 0)
		return 0;
	phase(o, "baseline", secs);
	utc_now(&r->energy.baseline.measured_at);
	energy_meter_read(st->meter, st->base0);
	rc = wait_s(o, secs);
	if (rc)
		return rc;
	energy_meter_read(st->meter, st->base1);
	st->baseline_t1 = clock_monotonic_ns();
	st->base_w = xcalloc(st->ndev, sizeof(double));
	baseline_powers(st->base_w, st->base0, st->base1, st->sampler, st->ndev);
	for (i = 0; i < st->ndev; i++)
		if (!isnan(st->base_w[i])) {
			sum += st->base_w[i];
			any = true;
		}
	r->energy.baseline.method = any ? RESULT_BASELINE_FRESH : RESULT_BASELINE_UNAVAILABLE;
	r->energy.baseline.power_w = any ? sum : NAN;
	r->energy.baseline.duration_s = (double)(st->base1[0].t_ns - st->base0[0].t_ns) * 1e-9;
	r->energy.baseline.samples = 0;
	for (i = 0; i < energy_sampler_count(st->sampler); i++) {
		uint64_t t = energy_sampler_sample(st->sampler, i)[0].t_ns;

		r->energy.baseline.samples += t > st->base0[0].t_ns && t < st->base1[0].t_ns;
	}
	return 0;
}

/* Warmup, then the wait for the hardware to settle. */
static int settle(struct run_state *st, struct llem_result *r, const struct config *cfg,
		  const struct measure_options *o)
{
	int rc = run_warmup(r, cfg, st->bi->ops, st->session, (size_t)st->mi.batch_size,
			    (const char *const *)st->ps.prompts, st->ps.count, o);

	if (rc)
		return rc;
	r->warmup.thermal_floor_wait_s = cfg_float(cfg, FIELD_WARMUP_THERMAL_FLOOR_SECONDS);
	if (r->warmup.thermal_floor_wait_s <= 0)
		return 0;
	phase(o, "thermal floor", r->warmup.thermal_floor_wait_s);
	return wait_s(o, r->warmup.thermal_floor_wait_s);
}

/* The measurement window: energy read at both edges around the workload. */
static int measure_window(struct run_state *st, struct llem_result *r, const struct config *cfg,
			  const struct measure_options *o)
{
	size_t n = (size_t)cfg_int(cfg, FIELD_N);
	struct backend_observer obs = { log_token, &st->log };
	int rc;

	st->stats = xcalloc(n, sizeof(*st->stats));
	st->log.n = n;
	st->log.per = (size_t)cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS);
	st->log.t = xcalloc(n * st->log.per, sizeof(uint64_t));
	st->log.count = xcalloc(n, sizeof(int64_t));
	/* An out-of-process backend's peak starts here, outside the window. */
	if (st->bi->ops->memory) {
		double ignored;
		const char *m;

		rc = st->bi->ops->memory(st->session, true, &ignored, &m);
		if (rc)
			return rc;
	}
	phase(o, "measure", -1);
	utc_now(&r->start_time);
	energy_meter_read(st->meter, st->edge0);
	st->window_t0 = clock_monotonic_ns();
	rc = st->bi->ops->generate(st->session, (const char *const *)st->ps.prompts, st->ps.count,
				   &obs, st->stats);
	st->window_t1 = clock_monotonic_ns();
	energy_meter_read(st->meter, st->edge1);
	utc_now(&r->end_time);
	getrusage(RUSAGE_SELF, &st->ru);
	energy_sampler_stop(st->sampler);
	if (rc)
		return rc;
	if (interrupted(o))
		return error_set(LLEM_EINTR, "interrupted");
	return 0;
}

/* Tokens, FLOPs, throughput, energy, latency and the warnings about them. */
static void fill_metrics(struct run_state *st, struct llem_result *r, const struct config *cfg)
{
	size_t n = st->log.n, i;
	double duration = (double)(st->window_t1 - st->window_t0) * 1e-9;
	struct measure_flops_request *fr = xcalloc(n, sizeof(*fr));
	int64_t in_tok = 0, out_tok = 0;

	for (i = 0; i < n; i++) {
		in_tok += st->stats[i].input_tokens;
		out_tok += st->stats[i].output_tokens;
		fr[i].input_tokens = st->stats[i].input_tokens;
		fr[i].output_tokens = st->stats[i].output_tokens;
	}
	measure_flops(&r->flops, &st->mi, fr, n);
	free(fr);
	r->duration_s = duration;
	r->inference_time_s = duration;
	r->tokens.requests = (int64_t)n;
	r->tokens.input_tokens = in_tok;
	r->tokens.output_tokens = out_tok;
	r->tokens.total_tokens = in_tok + out_tok;
	r->throughput.output_tokens_per_s = (double)out_tok / duration;
	r->throughput.total_tokens_per_s = (double)(in_tok + out_tok) / duration;
	r->throughput.requests_per_s = (double)n / duration;
	if (st->base_w)
		r->energy.baseline.age_s = (double)(st->window_t0 - st->baseline_t1) * 1e-9;
	fill_energy(r, st, cfg, duration);
	fill_latency(r, st);
	if (duration < 10)
		result_add_warning(r,
				   "short_measurement_duration: the window lasted %.2f s; "
				   "windows under 10 s carry large relative error",
				   duration);
	if (energy_sampler_dropped(st->sampler))
		result_add_warning(r,
				   "sampler_buffer_full: %zu samples beyond the buffer were "
				   "not kept",
				   energy_sampler_dropped(st->sampler));
	for (i = 0; i < r->environment.nvml.gpu_count; i++)
		if (r->environment.nvml.gpus[i].persistence_mode == 0)
			result_add_warning(r,
					   "gpu_persistence_mode_off: GPU %d has persistence "
					   "mode off",
					   r->environment.nvml.gpus[i].index);
}

/* What was loaded and the memory it took. */
static int fill_model_and_memory(struct run_state *st, struct llem_result *r)
{
	const struct backend_ops *ops = st->bi->ops;
	int rc;

	r->model_info.parameters = st->mi.params_total;
	r->model_info.non_embedding_parameters = st->mi.params_non_embedding;
	r->model_info.layers = st->mi.layers;
	r->model_info.hidden_size = st->mi.hidden_size;
	r->model_info.attention_heads = st->mi.heads;
	r->model_info.kv_heads = st->mi.kv_heads;
	r->model_info.vocab_size = st->mi.vocab_size;
	r->model_info.dtype = xstrdup(st->mi.weight_dtype);
	r->model_info.weights_bytes = st->mi.weight_bytes;
	r->memory.model_memory_mb = (double)(st->mi.weight_bytes + st->mi.kv_cache_bytes) / MIB;
	if (ops->memory) {
		double peak = -1;
		const char *method = NULL;

		rc = ops->memory(st->session, false, &peak, &method);
		if (rc)
			return rc;
		r->memory.peak_memory_mb = peak >= 0 ? peak : NAN;
		r->memory.method = xasprintf("%s; model = weights as loaded",
					     method ? method : "peak not available");
	} else {
		r->memory.peak_memory_mb = (double)st->ru.ru_maxrss / 1024.0;
		r->memory.method = xasprintf("%s: %s", ops->name,
					     ops->caps.memory_method ? ops->caps.memory_method
								     : "peak = process max RSS");
	}
	return 0;
}

/* What identifies the result: config, backend, effective config, id. */
static void fill_identity(struct run_state *st, struct llem_result *r, const struct config *cfg)
{
	struct strbuf pretty = STRBUF_INIT;
	char *slug;

	r->config_hash = xstrdup(cfg->hash);
	r->model = xstrdup(cfg_str(cfg, FIELD_MODEL));
	r->backend = xstrdup(cfg_str(cfg, FIELD_BACKEND));
	r->backend_version = xstrdup(st->bi->ops->version(st->session));
	r->methodology = RESULT_METHODOLOGY_TOTAL;
	slug = result_model_slug(r->model);
	config_pretty_json(cfg, false, &pretty);
	r->effective_config = strbuf_detach(&pretty);
	r->experiment_id = xasprintf("%s_%s_%.8s_%.4s%.2s%.2sT%.2s%.2s%.2sZ", slug, r->backend,
				     cfg->hash, r->start_time, r->start_time + 5, r->start_time + 8,
				     r->start_time + 11, r->start_time + 14, r->start_time + 17);
	free(slug);
}

int measure_experiment(struct llem_result *r, char **out_dir, const struct config *cfg,
		       const struct measure_options *o)
{
	struct run_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	result_init(r);
	if (out_dir)
		*out_dir = NULL;
	rc = start(&st, r, cfg, o);
	if (!rc)
		rc = load_model(&st, r, cfg, o);
	if (!rc)
		rc = measure_baseline(&st, r, cfg, o);
	if (!rc)
		rc = settle(&st, r, cfg, o);
	if (!rc)
		rc = measure_window(&st, r, cfg, o);
	if (!rc) {
		fill_metrics(&st, r, cfg);
		rc = fill_model_and_memory(&st, r);
	}
	if (!rc) {
		fill_identity(&st, r, cfg);
		if (o->write_files)
			rc = measure_write_outputs(r, out_dir, cfg, o, st.sampler, st.meter,
						   st.experiment_t0, st.window_t0, st.window_t1);
	}
	release_state(&st);
	return rc;
}
