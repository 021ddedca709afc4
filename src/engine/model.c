/*
 * The runtime model: source tensors (mmap'd or synthetic) converted once to
 * the storage type the user chose, and the parameter and byte counts that
 * FLOPs and bandwidth figures are computed from.
 */
#include "engine/model.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *vector_from_src(const struct engine_src_tensor *t, int64_t n)
{
	struct engine_matrix m;
	float *v;

	if (t->dtype == ENGINE_DTYPE_NONE)
		return NULL;
	v = xmalloc((size_t)n * sizeof(*v));
	/* Through the matrix path so every source dtype is handled once. */
	if (engine_matrix_from_src(&m, t, ENGINE_F32) != 0) {
		free(v);
		return NULL;
	}
	memcpy(v, m.data, (size_t)n * sizeof(*v));
	engine_matrix_release(&m);
	return v;
}

/* HF's rotary frequencies, with the configured scaling (float64 here;
 * HF uses float32, a difference far below the 1e-4 tolerance). */
static float *rope_inv_freq(const struct engine_arch *a)
{
	int half = a->head_dim / 2, i;
	float *f = xmalloc((size_t)half * sizeof(*f));

	for (i = 0; i < half; i++) {
		double inv = 1.0 / pow(a->rope_theta, (2.0 * i) / a->head_dim);

		if (a->rope_type == ENGINE_ROPE_LINEAR) {
			inv /= a->rope_factor;
		} else if (a->rope_type == ENGINE_ROPE_LLAMA3) {
			double old = a->rope_original_max_position;
			double low_wl = old / a->rope_low_freq_factor;
			double high_wl = old / a->rope_high_freq_factor;
			double wl = 2.0 * M_PI / inv;

			if (wl > low_wl) {
				inv /= a->rope_factor;
			} else if (wl >= high_wl) {
				double smooth =
					(old / wl - a->rope_low_freq_factor) /
					(a->rope_high_freq_factor - a->rope_low_freq_factor);

				inv = (1 - smooth) * inv / a->rope_factor + smooth * inv;
			}
		}
		f[i] = (float)inv;
	}
	return f;
}

static int convert(struct engine_matrix *out, const struct engine_src_tensor *t,
		   enum engine_dtype dtype, size_t *bytes)
{
	int rc = engine_matrix_from_src(out, t, dtype);

	if (rc == 0)
		*bytes += out->nbytes;
	return rc;
}

int engine_model_create(struct engine_model **out, const struct engine_src_model *src,
			enum engine_dtype weight_dtype)
{
	const struct engine_arch *a = &src->arch;
	struct engine_model *m = xcalloc(1, sizeof(*m));
	int64_t h = a->hidden_size, qd = (int64_t)a->num_heads * a->head_dim;
	int64_t kvd = (int64_t)a->num_kv_heads * a->head_dim, inter = a->intermediate_size;
	int i, rc = 0;

	*out = NULL;
	m->arch = *a;
	m->weight_dtype = weight_dtype;
	m->tied = src->lm_head.dtype == ENGINE_DTYPE_NONE;
	m->layers = xcalloc((size_t)a->num_layers, sizeof(*m->layers));
	/* The embedding is only gathered row by row; the lm_head matmul reads
	 * it whole when tied, so both use the chosen storage type. */
	rc = convert(&m->embed, &src->embed, weight_dtype, &m->weight_bytes);
	if (!rc && !m->tied)
		rc = convert(&m->lm_head, &src->lm_head, weight_dtype, &m->weight_bytes);
	for (i = 0; !rc && i < a->num_layers; i++) {
		const struct engine_src_layer *sl = &src->layers[i];
		struct engine_layer *l = &m->layers[i];

		l->attn_norm = vector_from_src(&sl->attn_norm, h);
		l->ffn_norm = vector_from_src(&sl->ffn_norm, h);
		l->bq = vector_from_src(&sl->bq, qd);
		l->bk = vector_from_src(&sl->bk, kvd);
		l->bv = vector_from_src(&sl->bv, kvd);
		if (!l->attn_norm || !l->ffn_norm ||
		    (a->qkv_bias && (!l->bq || !l->bk || !l->bv))) {
			rc = error_set(LLEM_EINVAL, "layer %d: missing norm or bias weights", i);
			break;
		}
		rc = convert(&l->wq, &sl->wq, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->wk, &sl->wk, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->wv, &sl->wv, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->wo, &sl->wo, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->w_gate, &sl->w_gate, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->w_up, &sl->w_up, weight_dtype, &m->weight_bytes);
		if (!rc)
			rc = convert(&l->w_down, &sl->w_down, weight_dtype, &m->weight_bytes);
		m->weight_bytes += (size_t)(2 * h) * sizeof(float);
	}
	if (!rc)
		m->final_norm = vector_from_src(&src->final_norm, h);
	if (!rc && !m->final_norm)
		rc = error_set(LLEM_EINVAL, "missing final norm weights");
	if (rc) {
		engine_model_free(m);
		return rc;
	}
	m->inv_freq = rope_inv_freq(a);
	m->params_embedding = (int64_t)a->vocab_size * h * (m->tied ? 1 : 2);
	m->params_total =
		m->params_embedding + h +
		(int64_t)a->num_layers * (2 * h + h * qd + 2 * h * kvd + qd * h + 3 * h * inter +
					  (a->qkv_bias ? qd + 2 * kvd : 0));
	*out = m;
	return 0;
}

size_t engine_model_step_bytes(const struct engine_model *m)
{
	size_t bytes = m->tied ? m->embed.nbytes : m->lm_head.nbytes;
	int i;

	for (i = 0; i < m->arch.num_layers; i++) {
		const struct engine_layer *l = &m->layers[i];

		bytes += l->wq.nbytes + l->wk.nbytes + l->wv.nbytes + l->wo.nbytes +
			 l->w_gate.nbytes + l->w_up.nbytes + l->w_down.nbytes;
	}
	return bytes;
}

void engine_model_free(struct engine_model *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; m->layers && i < m->arch.num_layers; i++) {
		struct engine_layer *l = &m->layers[i];

		free(l->attn_norm);
		free(l->ffn_norm);
		free(l->bq);
		free(l->bk);
		free(l->bv);
		engine_matrix_release(&l->wq);
		engine_matrix_release(&l->wk);
		engine_matrix_release(&l->wv);
		engine_matrix_release(&l->wo);
		engine_matrix_release(&l->w_gate);
		engine_matrix_release(&l->w_up);
		engine_matrix_release(&l->w_down);
	}
	free(m->layers);
	engine_matrix_release(&m->embed);
	if (!m->tied)
		engine_matrix_release(&m->lm_head);
	free(m->final_norm);
	free(m->inv_freq);
	free(m);
}

void engine_model_get_info(const struct engine_model *m, struct engine_model_info *out)
{
	out->arch = &m->arch;
	out->weight_dtype = m->weight_dtype;
	out->params_total = m->params_total;
	out->params_embedding = m->params_embedding;
	out->weight_bytes = m->weight_bytes;
	out->step_bytes = engine_model_step_bytes(m);
}

const char *engine_kernels(void)
{
	return engine_cpu_kernel_name();
}
