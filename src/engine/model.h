/*
 * The runtime model and session: weights converted to the chosen storage
 * type, the KV cache, scratch buffers, the forward pass and generation.
 * Private to src/engine; others use the declarations in engine.h.
 */
#ifndef LLEM_ENGINE_MODEL_H
#define LLEM_ENGINE_MODEL_H

#include "engine/engine.h"
#include "engine/kernels.h"

struct engine_layer {
	float *attn_norm, *ffn_norm; /* [hidden] */
	float *bq, *bk, *bv;         /* NULL unless qkv_bias */
	struct engine_matrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct engine_model {
	struct engine_arch arch;
	enum engine_dtype weight_dtype;
	struct engine_matrix embed;
	struct engine_matrix lm_head; /* unused (rows 0) when tied */
	bool tied;
	float *final_norm;
	struct engine_layer *layers;
	float *inv_freq;          /* [head_dim / 2], rope scaling applied */
	int64_t params_total;     /* parameters of the architecture */
	int64_t params_embedding; /* embedding (+ untied lm_head) */
	size_t weight_bytes;      /* bytes of converted weights held */
};

const struct engine_model *engine_session_model(const struct engine_session *s);
const struct engine_session_opts *engine_session_options(const struct engine_session *s);

/* Bytes one forward step reads for the weights (lm_head included). */
size_t engine_model_step_bytes(const struct engine_model *m);

#endif
