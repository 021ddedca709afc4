/*
 * What the PyTorch backend's files share: pytorch.c (the worker session
 * and its protocol), pytorch_env.c (interpreter, worker script, preflight,
 * `llem config`'s line), pytorch_config.c (its config rules).
 */
#ifndef LLEM_BACKENDS_PYTORCH_H
#define LLEM_BACKENDS_PYTORCH_H

#include "backends/backends.h"

/* The worker script, installed to share/llem/. */
#define PYTORCH_WORKER_FILE "pytorch_worker.py"

/* A deadline, shortened by LLEM_PYTORCH_TIMEOUT_S when set (seconds; for
 * slow-start diagnosis and for the tests that make a worker hang). */
int pytorch_deadline_ms(int dflt);
/* "tiny-llama" for "synthetic/tiny-llama", else NULL (borrowed). */
const char *pytorch_synthetic_preset(const char *model);
/* The configured pytorch.python, or NULL when the config leaves it unset. */
const char *pytorch_configured_python(const struct config *cfg);
/* The interpreter's path (caller frees) and where its name came from, or
 * NULL: configured (pytorch.python), else LLEM_PYTHON, else python3 on PATH. */
char *pytorch_find_python(const char *configured, const char **name, const char **from);
/* The worker script (caller frees), or NULL with the places tried in *tried. */
char *pytorch_find_worker(struct strbuf *tried);

/* struct backend_ops hooks defined outside pytorch.c. */
int pytorch_preflight(const struct config *cfg, unsigned flags, struct diag_list *diags);
bool pytorch_describe(struct strbuf *out);
/* struct backend_ops.check_config of the PyTorch backend. */
void pytorch_check_config(const struct config *cfg, const char *fallback, struct diag_list *diags);

#endif
