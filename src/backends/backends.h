/*
 * backends: the InferenceBackend interface (docs/architecture.md §4) and the registry
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
	char *model;        /* as configured */
	char *architecture; /* "llama", "qwen2" */
	int64_t params_total;
	int64_t params_non_embedding;
	int layers, hidden_size, intermediate_size, heads, kv_heads, head_dim;
	int vocab_size;
	char *weight_dtype; /* "fp32", "bf16", "int8" ... */
	char *kv_cache_dtype;
	int64_t weight_bytes; /* weights held in memory */
	int64_t kv_cache_bytes;
	int64_t step_weight_bytes; /* weight bytes one decode step reads */
	char *tokenizer;           /* "byte" */
	char *kernels;             /* "avx512-bf16", "generic" ... */
	int threads, batch_size;
	char **warnings; /* for the result, e.g. byte tokenizer */
	size_t n_warnings;
};
void backend_model_info_release(struct backend_model_info *info);

/*
 * The settings every backend honours, typed: the config's universal and
 * decoder fields. load() reads these here and only its own section from
 * the config (tests/layering checks that a backend reads no other
 * backend's section).
 */
struct backend_decoding {
	bool do_sample; /* as configured; sampling also needs temperature > 0 */
	double temperature, top_p, repetition_penalty;
	double min_p; /* NAN: not set */
	int top_k;
	int min_new_tokens; /* 0: not set */
	int max_new_tokens; /* max_output_tokens */
};
struct backend_params {
	const char *model;     /* a directory, a Hugging Face id or synthetic/<preset> */
	const char *precision; /* "fp32", "fp16", "bf16" */
	int max_input_tokens;  /* prompts are cut to this many tokens */
	uint64_t seed;         /* random_seed: sampling and synthetic weights */
	struct backend_decoding decoding;
};
/* The params of a resolved config (strings borrowed from it). */
void backend_params_of(struct backend_params *out, const struct config *cfg);

/* token is the generated id, or -1 where a backend cannot say. */
struct backend_observer {
	void (*on_token)(void *ctx, size_t request, int32_t token, uint64_t t_ns);
	void *ctx;
};

struct backend_request_stats {
	int64_t input_tokens; /* after truncation to max_input_tokens */
	int64_t output_tokens;
	uint64_t start_ns, first_token_ns, end_ns;
	bool stopped_at_eos;
};

/*
 * What a backend can do, for the layers above: measure, the CLI and the
 * config checks read this instead of asking for a backend by name.
 */
struct backend_caps {
	/* The field that sets how many requests run together
	 * (FIELD_NATIVE_BATCH_SIZE), or FIELD_COUNT when it has none: what
	 * `llem run --batch-size` sets and the dry run shows. */
	enum field_id batch_size_field;
	/* The field that selects weight quantisation, or FIELD_COUNT. */
	enum field_id quantization_field;
	/* Model memory as the result describes it when the backend has no
	 * memory() hook (its peak is then llem's own max RSS). */
	const char *memory_method;
	/* Every generated token reaches the observer with its own timestamp
	 * as it is produced (TTFT and ITL are measured, not inferred). */
	bool streams_tokens;
	/* Accepts requests arriving over time (traffic other than offline). */
	bool timed_arrivals;
};

/* struct backend_ops.preflight may run programs (the real run's checks). */
#define BACKEND_PREFLIGHT_EXECUTE 1u

/*
 * A backend: one instance per backend, defined in its own file with
 * designated initialisers and listed once in config/backend_table.def.
 */
struct backend_ops {
	const char *name;
	struct backend_caps caps;
	/*
	 * Optional: the backend's cross-field rules over a resolved config,
	 * run when the config loads (config_backend_rules_fn; report with
	 * config_rule_error so errors carry file:line:col).
	 */
	void (*check_config)(const struct config *cfg, const char *fallback,
			     struct diag_list *diags);
	/*
	 * Everything checkable before work starts; all problems into diags.
	 * Without BACKEND_PREFLIGHT_EXECUTE in flags it must run no program
	 * (a dry run of an untrusted config executes nothing): checks that
	 * need one, such as importing torch, wait for the real run.
	 */
	int (*preflight)(const struct config *cfg, unsigned flags, struct diag_list *diags);
	/* Loads the model; cfg is for the backend's own section only. */
	int (*load)(void **out_session, const struct backend_params *params,
		    const struct config *cfg, struct backend_model_info *info);
	/* Generates for n prompts; stats[i] for each. */
	int (*generate)(void *session, const char *const *prompts, size_t n,
			const struct backend_observer *obs, struct backend_request_stats *stats);
	void (*unload)(void *session);
	/* What ran, for the result ("transformers 5.2 (torch 2.13, cuda
	 * none)"): borrowed from the session, valid until unload. */
	const char *(*version)(void *session);
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

/* One row of the registry: the table's line plus the ops when runnable. */
struct backend_info {
	enum backend_id id;
	const char *name;
	bool runnable;                 /* this build can run it */
	const char *status;            /* one line: what it is, or why not */
	const char *precisions;        /* accepted precision values, "fp32, fp16, bf16" */
	const struct backend_ops *ops; /* NULL when not runnable */
};

/* Every backend of config/backend_table.def, in table order. */
size_t backends_list(const struct backend_info **out);
/* The backend called name, or NULL. */
const struct backend_info *backends_find(const char *name);
/* The ops of the runnable backend called name, or NULL. */
const struct backend_ops *backends_ops(const char *name);
/* The selected backend's check_config (a config_backend_rules_fn): what
 * every config_request of a program that runs backends passes. */
void backends_check_config(const struct config *cfg, const char *fallback, struct diag_list *diags);

#endif
