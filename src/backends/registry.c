/*
 * Which backends this build can run. A backend is listed as runnable only
 * when its implementation is compiled in; the config schema accepts all of
 * them so configs can be written and validated ahead of time.
 */
#include "backends/backends.h"

#include <string.h>

static const struct backend_info registry[] = {
	{ "native", false, "the built-in C engine is not part of this build yet" },
	{ "pytorch", false, "the transformers worker is not part of this build yet" },
	{ "vllm", false, "not implemented in this version of llem" },
	{ "tensorrt", false, "not implemented in this version of llem" },
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
