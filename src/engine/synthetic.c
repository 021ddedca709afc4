/*
 * Synthetic models: a real architecture's shapes with deterministic random
 * weights, built in memory with no files. Speed and energy depend on
 * shapes, dtypes and lengths, not on weight values, so these give real
 * measurements anywhere.
 *
 * The recipe is fixed and documented (docs/models.md) so other backends
 * can rebuild bit-identical weights: element j of tensor number t is
 *   z = mix64(seed * 0x9E3779B97F4A7C15 + t * 0xD1B54A32D192ED03 + j)
 *   u = (z >> 11) * 2^-52 - 1                      (uniform in [-1, 1))
 *   w = bf16_round_nearest_even(u * sqrt(3 / fan_in))
 * (std 1/sqrt(fan_in), so activations keep their scale through every
 * layer; the embedding uses fan_in = hidden_size, so tied logits have a
 * spread of about 1 as in trained models). Norm weights
 * are exactly 1 and biases use scale 0.02. Tensor numbers: embed 0; layer
 * i: 1 + 16 i + k with k = 0 attn_norm, 1 q, 2 k, 3 v, 4 o, 5 q bias,
 * 6 k bias, 7 v bias, 8 ffn_norm, 9 gate, 10 up, 11 down; final norm
 * 1 + 16 L; lm_head 2 + 16 L. Weights are stored as bf16, so fp32 and bf16
 * runs of one preset compute with the very same weight values.
 */
#include "engine/kernels.h"
#include "engine/src_model.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct synth_priv {
	struct engine_src_priv base; /* must stay first */
	uint16_t **buffers;
	size_t count, cap;
};

static void synth_release(struct engine_src_priv *self)
{
	struct synth_priv *p = (struct synth_priv *)self;
	size_t i;

	for (i = 0; i < p->count; i++)
		free(p->buffers[i]);
	free(p->buffers);
	free(p);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* How values are drawn for one tensor. */
enum fill { FILL_ONES, FILL_UNIFORM };

static void make(struct synth_priv *p, struct engine_src_tensor *t, uint64_t seed, uint64_t number,
		 int64_t rows, int64_t cols, enum fill fill, double scale)
{
	size_t n = (size_t)(rows * cols), j;
	uint16_t *buf = xmalloc(n * sizeof(*buf));
	uint64_t base = seed * 0x9E3779B97F4A7C15ULL + number * 0xD1B54A32D192ED03ULL;

	for (j = 0; j < n; j++) {
		double u;

		if (fill == FILL_ONES) {
			buf[j] = engine_f32_to_bf16(1.0f);
			continue;
		}
		u = (double)(mix64(base + j) >> 11) * 0x1.0p-52 - 1.0;
		buf[j] = engine_f32_to_bf16((float)(u * scale));
	}
	GROW(p->buffers, p->cap, p->count + 1);
	p->buffers[p->count++] = buf;
	t->dtype = ENGINE_BF16;
	t->data = buf;
	t->rows = rows;
	t->cols = cols;
}

static double fan_scale(int64_t fan_in)
{
	return sqrt(3.0 / (double)fan_in);
}

int engine_synthetic_build(struct engine_src_model *out, const struct engine_arch *a, uint64_t seed)
{
	struct synth_priv *p;
	int64_t h = a->hidden_size, qd = (int64_t)a->num_heads * a->head_dim;
	int64_t kvd = (int64_t)a->num_kv_heads * a->head_dim, in = a->intermediate_size;
	int i;

	memset(out, 0, sizeof(*out));
	if (h < 1 || a->num_layers < 1 || a->num_heads < 1 || a->num_kv_heads < 1 ||
	    a->head_dim < 2 || in < 1 || a->vocab_size < 1)
		return error_set(LLEM_EINVAL, "synthetic model: invalid architecture");
	p = xcalloc(1, sizeof(*p));
	p->base.release = synth_release;
	out->arch = *a;
	out->priv = p;
	out->layers = xcalloc((size_t)a->num_layers, sizeof(*out->layers));
	make(p, &out->embed, seed, 0, a->vocab_size, h, FILL_UNIFORM, fan_scale(h));
	for (i = 0; i < a->num_layers; i++) {
		struct engine_src_layer *l = &out->layers[i];
		uint64_t t = 1 + 16 * (uint64_t)i;

		make(p, &l->attn_norm, seed, t + 0, 1, h, FILL_ONES, 0);
		make(p, &l->wq, seed, t + 1, qd, h, FILL_UNIFORM, fan_scale(h));
		make(p, &l->wk, seed, t + 2, kvd, h, FILL_UNIFORM, fan_scale(h));
		make(p, &l->wv, seed, t + 3, kvd, h, FILL_UNIFORM, fan_scale(h));
		make(p, &l->wo, seed, t + 4, h, qd, FILL_UNIFORM, fan_scale(qd));
		if (a->qkv_bias) {
			make(p, &l->bq, seed, t + 5, 1, qd, FILL_UNIFORM, 0.02);
			make(p, &l->bk, seed, t + 6, 1, kvd, FILL_UNIFORM, 0.02);
			make(p, &l->bv, seed, t + 7, 1, kvd, FILL_UNIFORM, 0.02);
		}
		make(p, &l->ffn_norm, seed, t + 8, 1, h, FILL_ONES, 0);
		make(p, &l->w_gate, seed, t + 9, in, h, FILL_UNIFORM, fan_scale(h));
		make(p, &l->w_up, seed, t + 10, in, h, FILL_UNIFORM, fan_scale(h));
		make(p, &l->w_down, seed, t + 11, h, in, FILL_UNIFORM, fan_scale(in));
	}
	make(p, &out->final_norm, seed, 1 + 16 * (uint64_t)a->num_layers, 1, h, FILL_ONES, 0);
	if (!a->tie_word_embeddings)
		make(p, &out->lm_head, seed, 2 + 16 * (uint64_t)a->num_layers, a->vocab_size, h,
		     FILL_UNIFORM, fan_scale(h));
	return 0;
}
