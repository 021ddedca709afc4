/*
 * An experiment's directory and files (docs/results.md): result.json and the
 * sampled timeseries next to it. Every file is written atomically, and
 * result.json last, so a directory with a result.json is complete.
 */
#include "measure/output.h"
#include "llem/errors.h"
#include "results/table.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *phase_of(uint64_t t, uint64_t w0, uint64_t w1)
{
	return t < w0 ? "before" : t <= w1 ? "window" : "after";
}

static int write_timeseries(const char *path, const struct llem_result *res,
			    const struct energy_sampler *s, const struct energy_meter *m,
			    uint64_t t0, uint64_t w0, uint64_t w1)
{
	const struct table_kv meta[] = {
		{ "llem.experiment_id", res->experiment_id },
		{ "llem.config_hash", res->config_hash },
		{ "llem.t_s", "seconds since the experiment started (CLOCK_MONOTONIC)" },
	};
	size_t ndev = energy_meter_device_count(m), ns = energy_sampler_count(s);
	size_t rows = ns * ndev, k, i, j = 0;
	double *t = xcalloc(rows + 1, sizeof(double));
	const char **dev = xcalloc(rows + 1, sizeof(char *));
	const char **ph = xcalloc(rows + 1, sizeof(char *));
	double *cols[6];
	bool *present[6];
	int64_t *throttle = xcalloc(rows + 1, sizeof(int64_t));
	bool *valid = xcalloc(rows + 1, sizeof(bool));
	struct table_column tc[11];
	int rc, c;

	for (c = 0; c < 6; c++) {
		cols[c] = xcalloc(rows + 1, sizeof(double));
		present[c] = xcalloc(rows + 1, sizeof(bool));
	}
	for (k = 0; k < ns; k++) {
		const struct energy_reading *sample = energy_sampler_sample(s, k);

		for (i = 0; i < ndev; i++, j++) {
			const struct energy_reading *r = &sample[i];
			double v[6] = { r->energy_j,       r->power_w,         r->temperature_c,
					r->memory_used_mb, r->memory_total_mb, r->utilization_pct };

			t[j] = (double)(r->t_ns - t0) * 1e-9;
			dev[j] = energy_meter_device(m, i)->name;
			ph[j] = phase_of(r->t_ns, w0, w1);
			valid[j] = r->valid;
			throttle[j] = (int64_t)r->throttle_reasons;
			for (c = 0; c < 6; c++) {
				cols[c][j] = v[c];
				present[c][j] = r->valid && !isnan(v[c]);
			}
		}
	}
	tc[0] = (struct table_column){ "t_s", TABLE_DOUBLE, t, NULL };
	tc[1] = (struct table_column){ "device", TABLE_STRING, dev, NULL };
	tc[2] = (struct table_column){ "phase", TABLE_STRING, ph, NULL };
	tc[3] = (struct table_column){ "valid", TABLE_BOOL, valid, NULL };
	tc[4] = (struct table_column){ "energy_j", TABLE_DOUBLE, cols[0], present[0] };
	tc[5] = (struct table_column){ "power_w", TABLE_DOUBLE, cols[1], present[1] };
	tc[6] = (struct table_column){ "temperature_c", TABLE_DOUBLE, cols[2], present[2] };
	tc[7] = (struct table_column){ "memory_used_mb", TABLE_DOUBLE, cols[3], present[3] };
	tc[8] = (struct table_column){ "memory_total_mb", TABLE_DOUBLE, cols[4], present[4] };
	tc[9] = (struct table_column){ "utilization_pct", TABLE_DOUBLE, cols[5], present[5] };
	tc[10] = (struct table_column){ "throttle_reasons", TABLE_INT64, throttle, NULL };
	rc = table_write_parquet(path, tc, ARRAY_SIZE(tc), rows, meta, ARRAY_SIZE(meta));
	for (c = 0; c < 6; c++) {
		free(cols[c]);
		free(present[c]);
	}
	free(t);
	free(dev);
	free(ph);
	free(throttle);
	free(valid);
	return rc;
}

int measure_prepare_outputs(const struct config *cfg, const struct measure_options *o)
{
	const char *dir = o->experiment_dir ? o->experiment_dir
			  : o->results_dir  ? o->results_dir
					    : cfg_str(cfg, FIELD_OUTPUT_DIR);
	int rc = fs_mkdirs(dir, 0755);

	if (rc)
		return error_set(rc, "results cannot be saved, so nothing was measured: %s",
				 error_last());
	if (access(dir, W_OK | X_OK) != 0)
		return error_set_errno(
			LLEM_EIO, "results cannot be saved in '%s', so nothing was measured", dir);
	return 0;
}

int measure_write_outputs(struct llem_result *r, char **out_dir, const struct config *cfg,
			  const struct measure_options *o, const struct energy_sampler *s,
			  const struct energy_meter *m, uint64_t experiment_t0, uint64_t window_t0,
			  uint64_t window_t1)
{
	const char *root = o->results_dir ? o->results_dir : cfg_str(cfg, FIELD_OUTPUT_DIR);
	char *slug = result_model_slug(r->model), *run_dir = NULL, *exp_dir = NULL;
	char *name, *path;
	int rc;

	if (o->experiment_dir) {
		rc = fs_mkdirs(o->experiment_dir, 0755);
		if (rc)
			goto out;
		exp_dir = xstrdup(o->experiment_dir);
		goto write;
	}
	/* 2026-11-27T20:15:00.123456Z -> 2026-11-27T20-15-00 */
	name = xasprintf("%s/%s_%.10sT%.2s-%.2s-%.2s", root, slug, r->start_time,
			 r->start_time + 11, r->start_time + 14, r->start_time + 17);
	rc = fs_mkdirs(root, 0755);
	if (!rc)
		rc = fs_mkdir_unique(&run_dir, name);
	free(name);
	if (rc)
		goto out;
	exp_dir = xasprintf("%s/c1_%s_%s_%.8s", run_dir, slug, r->backend, r->config_hash);
	if (mkdir(exp_dir, 0755) != 0) {
		rc = error_set_errno(LLEM_EIO, "cannot create '%s'", exp_dir);
		goto out;
	}
write:
	if (energy_meter_device_count(m) > 0) {
		path = xasprintf("%s/timeseries.parquet", exp_dir);
		rc = write_timeseries(path, r, s, m, experiment_t0, window_t0, window_t1);
		free(path);
		if (rc)
			goto out;
		r->timeseries = xstrdup("timeseries.parquet");
	}
	path = xasprintf("%s/result.json", exp_dir);
	rc = result_save(r, path);
	free(path);
	if (!rc && out_dir) {
		*out_dir = exp_dir;
		exp_dir = NULL;
	}
out:
	free(slug);
	free(run_dir);
	free(exp_dir);
	return rc;
}
