/*
 * The public C API (include/llem/llem.h): thin wrappers over the layers,
 * with diagnostics folded into llem_error_last().
 */
#include "llem/llem.h"
#include "build_info.h"
#include "config/config.h"
#include "measure/measure.h"
#include "results/results.h"

#include <stdlib.h>
#include <string.h>

struct llem_config {
	struct loaded_config lc;
};

LLEM_API const char *llem_error_last(void)
{
	return error_last();
}

LLEM_API const char *llem_version(void)
{
	return LLEM_VERSION_STRING;
}

LLEM_API int llem_config_load(llem_config **out, const char *path,
			      const llem_config_options *opts)
{
	struct config_request req = { 0 };
	struct diag_list diags = DIAG_LIST_INIT;
	struct llem_config *cfg;
	struct strbuf msg = STRBUF_INIT;
	size_t i;

	*out = NULL;
	if (opts && opts->version != LLEM_CONFIG_OPTIONS_VERSION)
		return error_set(LLEM_EINVAL, "llem_config_options version %u is not supported",
				 opts->version);
	req.path = path;
	if (opts) {
		req.overrides = opts->overrides;
		req.overrides_count = opts->overrides_count;
		req.user_config_path = opts->user_config_path;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	if (config_load(&cfg->lc, &req, &diags) != 0) {
		for (i = 0; i < diags.count; i++) {
			if (diags.items[i].severity != DIAG_ERROR)
				continue;
			if (msg.len)
				strbuf_addch(&msg, '\n');
			diag_format(&diags.items[i], &msg);
		}
		error_set(LLEM_EINVAL, "%s", msg.buf);
		strbuf_release(&msg);
		diag_list_release(&diags);
		loaded_config_release(&cfg->lc);
		free(cfg);
		return LLEM_EINVAL;
	}
	diag_list_release(&diags);
	*out = cfg;
	return 0;
}

LLEM_API const char *llem_config_hash(const llem_config *cfg)
{
	return cfg->lc.is_study ? cfg->lc.study.design_hash : cfg->lc.experiment.hash;
}

LLEM_API const char *llem_config_canonical_json(const llem_config *cfg)
{
	if (cfg->lc.is_study)
		return cfg->lc.study.count ? cfg->lc.study.points[0].canonical_json : "";
	return cfg->lc.experiment.canonical_json;
}

LLEM_API int llem_config_is_study(const llem_config *cfg)
{
	return cfg->lc.is_study;
}

LLEM_API void llem_config_free(llem_config *cfg)
{
	if (!cfg)
		return;
	loaded_config_release(&cfg->lc);
	free(cfg);
}

LLEM_API int llem_run_experiment(char **out_json, char **out_dir,
				 const llem_config *cfg,
				 const llem_run_options *opts)
{
	llem_run_options defaults = LLEM_RUN_OPTIONS_INIT;
	struct measure_options mo = { 0 };
	struct llem_result r;
	struct strbuf json = STRBUF_INIT;
	char *dir = NULL;
	int rc;

	*out_json = NULL;
	if (out_dir)
		*out_dir = NULL;
	if (!opts)
		opts = &defaults;
	if (opts->version != LLEM_RUN_OPTIONS_VERSION)
		return error_set(LLEM_EINVAL, "llem_run_options version %u is not supported",
				 opts->version);
	if (cfg->lc.is_study)
		return error_set(LLEM_ENOTSUP, "a study runs with 'llem run' (study runner), "
				 "not llem_run_experiment");
	mo.results_dir = opts->results_dir;
	mo.write_files = opts->write_files != 0;
	mo.interrupted = (volatile sig_atomic_t *)opts->interrupt;
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

LLEM_API void llem_free(void *p)
{
	free(p);
}
