/*
 * The registry: config/backend_table.def as struct backend_info rows. A
 * backend is runnable when its line is BACKEND (its implementation is
 * compiled in); PLANNED_BACKEND lines are listed so configs can be written
 * and validated ahead of time, and say why they cannot run.
 */
#include "backends/backends.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BACKEND(id, name, ops, precisions, summary) extern const struct backend_ops ops;
#define PLANNED_BACKEND(id, name, precisions, summary)
#include "config/backend_table.def"
#undef BACKEND
#undef PLANNED_BACKEND

#define BACKEND(id, name, ops, precisions, summary)                                                \
	{ BACKEND_ID_##id, name, true, summary, precisions, &ops },
#define PLANNED_BACKEND(id, name, precisions, summary)                                             \
	{ BACKEND_ID_##id, name, false, summary, precisions, NULL },
static const struct backend_info registry[BACKEND_COUNT] = {
#include "config/backend_table.def"
};
#undef BACKEND
#undef PLANNED_BACKEND

size_t backends_list(const struct backend_info **out)
{
	*out = registry;
	return BACKEND_COUNT;
}

const struct backend_info *backends_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < BACKEND_COUNT; i++)
		if (!strcmp(registry[i].name, name))
			return &registry[i];
	return NULL;
}

const struct backend_ops *backends_ops(const char *name)
{
	const struct backend_info *bi = backends_find(name);

	return bi && bi->runnable ? bi->ops : NULL;
}

void backend_params_of(struct backend_params *out, const struct config *cfg)
{
	struct backend_decoding *d = &out->decoding;

	memset(out, 0, sizeof(*out));
	out->model = cfg_str(cfg, FIELD_MODEL);
	out->precision = cfg_str(cfg, FIELD_PRECISION);
	out->max_input_tokens = (int)cfg_int(cfg, FIELD_MAX_INPUT_TOKENS);
	out->seed = (uint64_t)cfg_int(cfg, FIELD_RANDOM_SEED);
	d->do_sample = cfg_bool(cfg, FIELD_DECODER_DO_SAMPLE);
	d->temperature = cfg_float(cfg, FIELD_DECODER_TEMPERATURE);
	d->top_p = cfg_float(cfg, FIELD_DECODER_TOP_P);
	d->repetition_penalty = cfg_float(cfg, FIELD_DECODER_REPETITION_PENALTY);
	d->min_p =
		cfg_is_null(cfg, FIELD_DECODER_MIN_P) ? NAN : cfg_float(cfg, FIELD_DECODER_MIN_P);
	d->top_k = (int)cfg_int(cfg, FIELD_DECODER_TOP_K);
	d->min_new_tokens = cfg_is_null(cfg, FIELD_DECODER_MIN_NEW_TOKENS)
				    ? 0
				    : (int)cfg_int(cfg, FIELD_DECODER_MIN_NEW_TOKENS);
	d->max_new_tokens = (int)cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS);
}

void backends_check_config(const struct config *cfg, const char *fallback, struct diag_list *diags)
{
	const struct backend_ops *ops = backends_ops(cfg_str(cfg, FIELD_BACKEND));

	if (ops && ops->check_config)
		ops->check_config(cfg, fallback, diags);
}

void backend_model_info_release(struct backend_model_info *info)
{
	size_t i;

	free(info->model);
	free(info->architecture);
	free(info->weight_dtype);
	free(info->kv_cache_dtype);
	free(info->tokenizer);
	free(info->kernels);
	for (i = 0; i < info->n_warnings; i++)
		free(info->warnings[i]);
	free(info->warnings);
	memset(info, 0, sizeof(*info));
}
