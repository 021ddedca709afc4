/*
 * Which backends this build can run. A backend is listed as runnable only
 * when its implementation is compiled in; the config schema accepts all of
 * them so configs can be written and validated ahead of time.
 */
#include "backends/backends.h"

#include <stdlib.h>
#include <string.h>

static const struct backend_info registry[] = {
	{ "native", true, "built-in C engine, no downloads", &backend_native },
	{ "pytorch", true, "Hugging Face transformers in a Python worker (needs torch + transformers)",
	  &backend_pytorch },
	{ "vllm", false, "not implemented in this version of llem", NULL },
	{ "tensorrt", false, "not implemented in this version of llem", NULL },
};

size_t backends_list(const struct backend_info **out)
{
	*out = registry;
	return sizeof(registry) / sizeof(registry[0]);
}

const struct backend_info *backends_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (!strcmp(registry[i].name, name))
			return &registry[i];
	return NULL;
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
