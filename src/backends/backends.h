/*
 * backends: the InferenceBackend interface (DESIGN.md §2) and the registry
 * of backends. Measurement lives in the measure layer, never in a backend:
 * a backend loads a model outside the measurement window, generates for a
 * list of prompts, reports every generated token to an observer with a
 * CLOCK_MONOTONIC timestamp, and returns exact per-request token counts
 * (never counting padding).
 *
 * Ownership: load() returns a session that unload() frees; the info filled
 * by load() is released with backend_model_info_release.
 */
#ifndef LLEM_BACKENDS_H
#define LLEM_BACKENDS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/util.h"

struct backend_model_info {
	char *model;               /* as configured */
	char *architecture;        /* "llama", "qwen2" */
	int64_t params_total;
	int64_t params_non_embedding;
	int layers, hidden_size, intermediate_size, heads, kv_heads, head_dim;
	int vocab_size;
	char *weight_dtype;        /* "fp32", "bf16", "int8" ... */
	char *kv_cache_dtype;
	int64_t weight_bytes;      /* weights held in memory */
	int64_t kv_cache_bytes;
	int64_t step_weight_bytes; /* weight bytes one decode step reads */
	char *tokenizer;           /* "byte" */
	char *kernels;             /* "avx512-bf16", "generic" ... */
	int threads, batch_size;
	char **warnings;           /* for the result, e.g. byte tokenizer */
	size_t n_warnings;
};
void backend_model_info_release(struct backend_model_info *info);

/* token is the generated id, or -1 where a backend cannot say. */
struct backend_observer {
	void (*on_token)(void *ctx, size_t request, int32_t token, uint64_t t_ns);
	void *ctx;
};

struct backend_request_stats {
	int64_t input_tokens;      /* after truncation to max_input_tokens */
	int64_t output_tokens;
	uint64_t start_ns, first_token_ns, end_ns;
	bool stopped_at_eos;
};

struct backend_ops {
	const char *name;
	/* Everything checkable before work starts; all problems into diags. */
	int (*preflight)(const struct config *cfg, struct diag_list *diags);
	int (*load)(void **out_session, const struct config *cfg,
		    struct backend_model_info *info);
	/* Generates for n prompts; stats[i] for each. */
	int (*generate)(void *session, const char *const *prompts, size_t n,
			const struct backend_observer *obs,
			struct backend_request_stats *stats);
	void (*unload)(void *session);
	const char *(*version)(void);
	/*
	 * Optional, for backends whose model lives outside this process:
	 * peak memory in MiB since the last reset (reset = true starts a new
	 * peak) and how it was read. NULL: llem's own peak RSS is the answer.
	 */
	int (*memory)(void *session, bool reset, double *peak_mb, const char **method);
	/*
	 * Optional, for `llem config`: one line on whether this machine can
	 * run the backend (what it found, or what is missing and the fix).
	 * Quick: no model, no heavy imports. Returns false when it cannot run.
	 */
	bool (*describe)(struct strbuf *out);
	/*
	 * Optional: the flag Ctrl+C sets, for backends whose calls can wait
	 * long on another process; they return LLEM_EINTR soon after it is
	 * set instead of finishing the batch. NULL: checked between calls.
	 */
	void (*set_interrupt)(void *session, volatile sig_atomic_t *flag);
};

struct backend_info {
	const char *name;
	bool runnable;      /* this build can run it */
	const char *status; /* one line: what it is, or why not */
	const struct backend_ops *ops; /* NULL when not runnable */
};

/* Every backend the config schema accepts, in schema order. */
size_t backends_list(const struct backend_info **out);
const struct backend_info *backends_find(const char *name);

extern const struct backend_ops backend_native;
extern const struct backend_ops backend_pytorch;

#endif
