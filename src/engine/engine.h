/*
 * engine: a Llama-family decoder inference engine for the CPU. It loads a
 * Hugging Face model directory (config.json + safetensors) or builds a
 * synthetic model from a preset's shapes, and generates with batching,
 * a fixed thread pool, fp32/fp16/bf16/int8 weights and an fp32/fp16/bf16/
 * int8 KV cache. It knows nothing of configs, energy or results: the
 * native backend (src/backends/native.c) adapts it.
 *
 * Ownership: every _open/_create/_new has a _close/_destroy/_free; structs
 * filled through `out` are the caller's and released with their _release.
 * Errors: negative LLEM_E* codes with error_last() set (util.h).
 */
#ifndef LLEM_ENGINE_H
#define LLEM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- element types ---------------------------------------------------- */

enum engine_dtype {
	ENGINE_DTYPE_NONE = 0, /* tensor absent (e.g. no q_proj bias) */
	ENGINE_F32,
	ENGINE_F16,
	ENGINE_BF16,
	ENGINE_Q8_0 /* int8 values in blocks of 32 with one fp32 scale each */
};
#define ENGINE_Q8_BLOCK 32

const char *engine_dtype_name(enum engine_dtype t);

/* ---- architecture (config.json) -------------------------------------- */

enum engine_rope_type {
	ENGINE_ROPE_DEFAULT,
	ENGINE_ROPE_LINEAR, /* positions divided by factor */
	ENGINE_ROPE_LLAMA3  /* Llama 3.1 frequency-dependent scaling */
};

struct engine_arch {
	char model_type[32]; /* "llama", "qwen2", "mistral" */
	int vocab_size;
	int hidden_size;
	int intermediate_size;
	int num_layers;
	int num_heads;
	int num_kv_heads;
	int head_dim;     /* hidden_size / num_heads unless given */
	int max_position; /* max_position_embeddings */
	double rope_theta;
	double rms_norm_eps;
	enum engine_rope_type rope_type;
	double rope_factor;
	double rope_low_freq_factor;    /* llama3 */
	double rope_high_freq_factor;   /* llama3 */
	int rope_original_max_position; /* llama3 */
	bool tie_word_embeddings;
	bool qkv_bias;    /* Qwen2: q/k/v projections have a bias */
	int bos_token_id; /* -1 when not given */
	int eos_token_id; /* -1 when not given */
};

/* ---- source weights: as stored (mmap'd file or synthetic buffer) ------ */

/*
 * A 2-D (rows x cols, row-major) or 1-D (rows = 1) tensor in its stored
 * type (F32, F16 or BF16). For a projection, rows are output features and
 * cols input features, as PyTorch's nn.Linear stores them.
 */
struct engine_src_tensor {
	enum engine_dtype dtype; /* ENGINE_DTYPE_NONE when absent */
	const void *data;
	int64_t rows, cols;
};

struct engine_src_layer {
	struct engine_src_tensor attn_norm;            /* [hidden] */
	struct engine_src_tensor wq, wk, wv, wo;       /* [heads*hd, hidden] ... */
	struct engine_src_tensor bq, bk, bv;           /* Qwen2 biases or NONE */
	struct engine_src_tensor ffn_norm;             /* [hidden] */
	struct engine_src_tensor w_gate, w_up, w_down; /* SwiGLU MLP */
};

struct engine_src_model {
	struct engine_arch arch;
	struct engine_src_tensor embed;      /* [vocab, hidden] */
	struct engine_src_tensor final_norm; /* [hidden] */
	struct engine_src_tensor lm_head;    /* [vocab, hidden]; NONE if tied */
	struct engine_src_layer *layers;     /* arch.num_layers */
	void *priv;                          /* mappings or buffers */
};

/*
 * Opens a Hugging Face model directory: config.json plus model.safetensors
 * or model.safetensors.index.json with its shards, memory-mapped. Checks
 * every expected tensor's presence, dtype and shape against config.json;
 * errors name the file and the tensor. (src/engine/hf_loader.c)
 */
int engine_hf_open(struct engine_src_model *out, const char *dir);

/*
 * Builds a model in memory with deterministic random weights from seed,
 * scaled so activations stay finite through every layer. (synthetic.c)
 */
int engine_synthetic_build(struct engine_src_model *out, const struct engine_arch *arch,
			   uint64_t seed);

void engine_src_close(struct engine_src_model *m);

/* Parses a config.json text into arch; source names the file in errors. */
int engine_arch_from_json(struct engine_arch *out, const char *json, const char *source);

/* ---- synthetic presets (data/synthetic-presets.json) ------------------ */

/* The architecture of preset `name` ("smollm-135m"); LLEM_ENOTFOUND with
 * the known names (and a did-you-mean) otherwise. */
int engine_preset_find(struct engine_arch *out, const char *name);
/* The preset's config.json object as compact JSON text (free it); for
 * backends that build the model elsewhere, such as the PyTorch worker. */
int engine_preset_config_json(char **out, const char *name);
/* Known preset names (static storage), how many. */
size_t engine_preset_names(const char *const **out);

/* ---- runtime model (model.c) ------------------------------------------ */

struct engine_model;

/* Converts every weight of src to weight_dtype (F32, F16, BF16, Q8_0);
 * src may be closed afterwards. */
int engine_model_create(struct engine_model **out, const struct engine_src_model *src,
			enum engine_dtype weight_dtype);
void engine_model_free(struct engine_model *m);

struct engine_model_info {
	const struct engine_arch *arch; /* borrowed from the model */
	enum engine_dtype weight_dtype;
	int64_t params_total;     /* every parameter */
	int64_t params_embedding; /* embedding, plus lm_head if untied */
	size_t weight_bytes;      /* converted weights held in memory */
	size_t step_bytes;        /* weight bytes one forward step reads */
};
void engine_model_get_info(const struct engine_model *m, struct engine_model_info *out);

/* ---- session: KV cache, threads, scratch (forward.c) ------------------ */

struct engine_session;

struct engine_session_opts {
	enum engine_dtype kv_dtype; /* F32, F16, BF16 or Q8_0 */
	int threads;                /* >= 1: the pool's size */
	int max_batch;              /* sequences processed together */
	int max_seq;                /* tokens per sequence: prompt + generated */
	int prefill_chunk;          /* rows per forward call (0: 512) */
};

int engine_session_create(struct engine_session **out, const struct engine_model *m,
			  const struct engine_session_opts *opts);
void engine_session_free(struct engine_session *s);
size_t engine_session_kv_bytes(const struct engine_session *s);
int engine_session_chunk(const struct engine_session *s);

/*
 * One forward call over n rows (n <= engine_session_chunk). Row i is token
 * tokens[i] of sequence slot slots[i] at position positions[i]; a slot's
 * rows come in increasing position order and its earlier positions are
 * already cached. For each row with want_logits[i], vocab logits are
 * written to logits + k * vocab_size, k counting those rows in order.
 */
int engine_forward(struct engine_session *s, const int32_t *tokens, const int32_t *slots,
		   const int32_t *positions, const bool *want_logits, int n, float *logits);

/* ---- generation (generate.c, sampling.c) ------------------------------ */

struct engine_sampling {
	bool greedy;              /* argmax (lowest id on ties) */
	float temperature;        /* > 0 when sampling */
	int top_k;                /* 0: off */
	float top_p;              /* 1: off */
	float min_p;              /* 0: off */
	float repetition_penalty; /* 1: off (HF semantics) */
	int max_new_tokens;
	int min_new_tokens; /* EOS is suppressed until reached */
	bool ignore_eos;    /* never stop at EOS: fixed-length outputs */
	uint64_t seed;      /* with the request index, seeds its RNG */
};

struct engine_observer {
	/* Called for every generated token as soon as it is sampled, with a
	 * CLOCK_MONOTONIC timestamp. */
	void (*on_token)(void *ctx, size_t request, int32_t token, uint64_t t_ns);
	void *ctx;
};

struct engine_request {
	const int32_t *tokens; /* the prompt, at least one token */
	int n_tokens;
};

struct engine_request_out {
	int32_t *tokens; /* generated ids (owned) */
	int n_generated;
	bool stopped_at_eos;
	uint64_t start_ns; /* its batch started (prefill began) */
	uint64_t first_token_ns;
	uint64_t end_ns;
};

/*
 * Generates for n requests in batches of the session's max_batch: each
 * batch is prefilled together, then decoded one step at a time for all
 * its unfinished sequences. outs[i] is filled for every request; release
 * each with engine_request_out_release.
 */
int engine_generate(struct engine_session *s, const struct engine_request *reqs, size_t n,
		    const struct engine_sampling *sp, const struct engine_observer *obs,
		    struct engine_request_out *outs);
void engine_request_out_release(struct engine_request_out *o);

/* ---- tokenizer (tokenizer.c) ------------------------------------------ */

/*
 * The byte-level tokenizer: one token per byte of UTF-8 input, byte b is
 * token ENGINE_BYTE_TOKEN_BASE + b (ids 0-2 stay free for pad/bos/eos).
 * Needs vocab_size >= 259. Keeps at most max_tokens tokens; returns the
 * count written to out.
 */
#define ENGINE_BYTE_TOKEN_BASE 3
int engine_byte_tokenize(const char *text, int32_t *out, int max_tokens);

/* The kernel set in use ("avx512-bf16", "avx2", "generic"). */
const char *engine_kernels(void);

#endif
