/*
 * backends: the InferenceBackend interface (DESIGN.md §2) and the registry
 * of backends this build knows. The vtable arrives with the first runnable
 * backend; for now the registry says honestly which backends can run.
 */
#ifndef LLEM_BACKENDS_H
#define LLEM_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>

struct backend_info {
	const char *name;
	bool runnable;      /* this build can run experiments with it */
	const char *status; /* one line: why not, or what it is */
};

/* Every backend the config schema accepts, in schema order. */
size_t backends_list(const struct backend_info **out);
const struct backend_info *backends_find(const char *name);

#endif
