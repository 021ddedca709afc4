/*
 * The public C API (include/llem/llem.h): errors, versions, options and
 * configs. Plans and preflight are in plan.c, running in run.c, the
 * machine report in machine.c. Thin wrappers over the layers, with
 * diagnostics folded into llem_error_last().
 */
#include "api/api.h"
#include "backends/backends.h"
#include "build_info.h"
#include "study/worker_main.h"

#include <jansson.h>
#include <libfyaml.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LLEM_API const char *llem_error_last(void)
{
	return error_last();
}

LLEM_API const char *llem_version(void)
{
	return LLEM_VERSION_STRING;
}

static char build_info[512];
static pthread_once_t build_info_once = PTHREAD_ONCE_INIT;

static void make_build_info(void)
{
	snprintf(build_info, sizeof(build_info),
		 "build: commit %s, %s, %s\nlibraries: libfyaml %s, jansson %s\ndata: %s",
		 LLEM_GIT_COMMIT, LLEM_BUILD_TYPE, LLEM_COMPILER, fy_library_version(),
		 jansson_version_str(), LLEM_INSTALL_DATADIR);
}

LLEM_API const char *llem_build_info(void)
{
	pthread_once(&build_info_once, make_build_info);
	return build_info;
}

void api_report_diags(const struct diag_list *dl, llem_diag_cb cb, void *payload)
{
	struct strbuf text = STRBUF_INIT;
	size_t i;

	for (i = 0; cb && i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		llem_diag pub;

		strbuf_reset(&text);
		diag_format(d, &text);
		pub.severity = d->severity == DIAG_ERROR ? LLEM_DIAG_ERROR : LLEM_DIAG_WARNING;
		pub.file = d->file;
		pub.line = d->line;
		pub.col = d->col;
		pub.path = d->path;
		pub.message = d->message;
		pub.hint = d->hint;
		pub.text = strbuf_str(&text);
		cb(&pub, payload);
	}
	strbuf_release(&text);
}

LLEM_API void llem_config_options_init(llem_config_options *opts)
{
	const llem_config_options init = LLEM_CONFIG_OPTIONS_INIT;

	*opts = init;
}

LLEM_API void llem_run_options_init(llem_run_options *opts)
{
	const llem_run_options init = LLEM_RUN_OPTIONS_INIT;

	*opts = init;
}

LLEM_API void llem_study_options_init(llem_study_options *opts)
{
	const llem_study_options init = LLEM_STUDY_OPTIONS_INIT;

	*opts = init;
}

LLEM_API int llem_config_load(llem_config **out, const char *path, const llem_config_options *opts)
{
	struct config_request req = { 0 };
	struct diag_list diags = DIAG_LIST_INIT;
	struct llem_config *cfg;
	struct strbuf msg = STRBUF_INIT;
	int rc = 0;

	*out = NULL;
	/* Version 1 lacks the diagnostic callback; its fields are read alone. */
	if (opts && (opts->version < 1 || opts->version > LLEM_CONFIG_OPTIONS_VERSION))
		return error_set(LLEM_EINVAL, "llem_config_options version %u is not supported",
				 opts->version);
	req.path = path;
	if (opts) {
		req.overrides = opts->overrides;
		req.overrides_count = opts->overrides_count;
		req.user_config_path = opts->user_config_path;
	}
	req.backend_rules = backends_check_config;
	cfg = xcalloc(1, sizeof(*cfg));
	if (config_load(&cfg->lc, &req, &diags) != 0) {
		diag_list_format(&diags, true, &msg);
		rc = error_set(LLEM_EINVAL, "%s", msg.buf);
		strbuf_release(&msg);
		loaded_config_release(&cfg->lc);
		free(cfg);
		cfg = NULL;
	}
	if (opts && opts->version >= 2)
		api_report_diags(&diags, opts->diagnostic, opts->diagnostic_payload);
	diag_list_release(&diags);
	*out = cfg;
	return rc;
}

LLEM_API int llem_config_user_path(char **out)
{
	*out = config_user_path();
	return 0;
}

LLEM_API int llem_study_worker_main(int argc, char **argv)
{
	return study_worker_main(argc, argv, NULL);
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

LLEM_API void llem_free(void *p)
{
	free(p);
}
