/*
 * What the PyTorch backend's files share (pytorch.c: interpreter,
 * preflight and the worker session; pytorch_config.c: its config rules).
 */
#ifndef LLEM_BACKENDS_PYTORCH_H
#define LLEM_BACKENDS_PYTORCH_H

#include "backends/backends.h"

/* struct backend_ops.check_config of the PyTorch backend. */
void pytorch_check_config(const struct config *cfg, const char *fallback,
			  struct diag_list *diags);

#endif
