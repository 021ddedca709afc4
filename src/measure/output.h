/* Writing an experiment's files (private to src/measure). */
#ifndef LLEM_MEASURE_OUTPUT_H
#define LLEM_MEASURE_OUTPUT_H

#include "energy/energy.h"
#include "measure/measure.h"

/*
 * Makes sure the files can be written, before anything is measured: the
 * results root (or the study's experiment directory) is created and must
 * be a directory this process may write in. A measurement that cannot be
 * saved is not started.
 */
int measure_prepare_outputs(const struct config *cfg, const struct measure_options *o);

/*
 * Creates <root>/<model-slug>_<UTC time>/c1_<slug>_<backend>_<hash8>/ and
 * writes timeseries.parquet (every sample of the experiment, with its
 * phase) and result.json there, each atomically. *out_dir gets the
 * experiment directory.
 */
int measure_write_outputs(struct llem_result *r, char **out_dir, const struct config *cfg,
			  const struct measure_options *o, const struct energy_sampler *s,
			  const struct energy_meter *m, uint64_t experiment_t0, uint64_t window_t0,
			  uint64_t window_t1);

#endif
