/*
 * The forward pass over a set of token rows (prefill chunks and decode
 * steps alike): RMSNorm, q/k/v projections, rotary embeddings, the KV
 * cache, grouped-query attention, SwiGLU MLP and the LM head, following
 * Hugging Face's LlamaForCausalLM / Qwen2ForCausalLM exactly. Every matrix
 * multiply covers all rows at once, so weights are read once per step.
 */
#include "engine/model.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct engine_session {
	const struct engine_model *m;
	struct engine_session_opts o;
	struct engine_pool *pool;
	size_t head_row_bytes;        /* one head's K or V row in kv_dtype */
	uint8_t **k_cache, **v_cache; /* per layer [slot][kv_head][pos] */
	size_t kv_bytes;
	int chunk;
	/* scratch, chunk rows each */
	float *x, *xn, *q, *k, *v, *att, *gate, *up, *sel;
	float *scores;   /* threads x group x max_seq */
	float *head_tmp; /* threads x head_dim */
};

static void *aligned_alloc_checked(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
		return NULL;
	return p;
}

int engine_session_create(struct engine_session **out, const struct engine_model *m,
			  const struct engine_session_opts *opts)
{
	const struct engine_arch *a = &m->arch;
	struct engine_session *s = xcalloc(1, sizeof(*s));
	size_t per_layer, rows;
	int i, rc;

	*out = NULL;
	s->m = m;
	s->o = *opts;
	if (s->o.threads < 1 || s->o.max_batch < 1 || s->o.max_seq < 1) {
		free(s);
		return error_set(LLEM_EINVAL,
				 "engine session needs threads, batch and length >= 1");
	}
	s->chunk = s->o.prefill_chunk > 0 ? s->o.prefill_chunk : 512;
	if (s->chunk < s->o.max_batch)
		s->chunk = s->o.max_batch;
	rc = engine_pool_create(&s->pool, s->o.threads);
	if (rc) {
		free(s);
		return rc;
	}
	s->head_row_bytes = engine_row_bytes(s->o.kv_dtype, a->head_dim);
	per_layer = (size_t)s->o.max_batch * (size_t)s->o.max_seq * (size_t)a->num_kv_heads *
		    s->head_row_bytes;
	s->k_cache = xcalloc((size_t)a->num_layers, sizeof(*s->k_cache));
	s->v_cache = xcalloc((size_t)a->num_layers, sizeof(*s->v_cache));
	for (i = 0; i < a->num_layers; i++) {
		s->k_cache[i] = aligned_alloc_checked(per_layer);
		s->v_cache[i] = aligned_alloc_checked(per_layer);
		if (!s->k_cache[i] || !s->v_cache[i]) {
			engine_session_free(s);
			return error_set(
				LLEM_ERROR,
				"cannot allocate the KV cache (%zu MiB per layer): lower batch_size or max tokens",
				2 * per_layer >> 20);
		}
		s->kv_bytes += 2 * per_layer;
	}
	rows = (size_t)s->chunk;
	s->x = xmalloc(rows * (size_t)a->hidden_size * sizeof(float));
	s->xn = xmalloc(rows * (size_t)a->hidden_size * sizeof(float));
	s->sel = xmalloc(rows * (size_t)a->hidden_size * sizeof(float));
	s->q = xmalloc(rows * (size_t)a->num_heads * (size_t)a->head_dim * sizeof(float));
	s->att = xmalloc(rows * (size_t)a->num_heads * (size_t)a->head_dim * sizeof(float));
	s->k = xmalloc(rows * (size_t)a->num_kv_heads * (size_t)a->head_dim * sizeof(float));
	s->v = xmalloc(rows * (size_t)a->num_kv_heads * (size_t)a->head_dim * sizeof(float));
	s->gate = xmalloc(rows * (size_t)a->intermediate_size * sizeof(float));
	s->up = xmalloc(rows * (size_t)a->intermediate_size * sizeof(float));
	s->scores = xmalloc((size_t)s->o.threads * (size_t)(a->num_heads / a->num_kv_heads) *
			    (size_t)s->o.max_seq * sizeof(float));
	s->head_tmp = xmalloc((size_t)s->o.threads * (size_t)a->head_dim * sizeof(float));
	*out = s;
	return 0;
}

void engine_session_free(struct engine_session *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; s->k_cache && i < s->m->arch.num_layers; i++) {
		free(s->k_cache[i]);
		free(s->v_cache[i]);
	}
	free(s->k_cache);
	free(s->v_cache);
	free(s->x);
	free(s->xn);
	free(s->sel);
	free(s->q);
	free(s->att);
	free(s->k);
	free(s->v);
	free(s->gate);
	free(s->up);
	free(s->scores);
	free(s->head_tmp);
	engine_pool_destroy(s->pool);
	free(s);
}

size_t engine_session_kv_bytes(const struct engine_session *s)
{
	return s->kv_bytes;
}

int engine_session_chunk(const struct engine_session *s)
{
	return s->chunk;
}

const struct engine_model *engine_session_model(const struct engine_session *s)
{
	return s->m;
}

const struct engine_session_opts *engine_session_options(const struct engine_session *s)
{
	return &s->o;
}

/* HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, in fp32. */
static void rmsnorm(float *out, const float *x, const float *w, int n, double eps)
{
	float ss = 0;
	float scale;
	int i;

	for (i = 0; i < n; i++)
		ss += x[i] * x[i];
	scale = 1.0f / sqrtf(ss / (float)n + (float)eps);
	for (i = 0; i < n; i++)
		out[i] = w[i] * (x[i] * scale);
}

/* rotate_half convention: element i pairs with i + head_dim/2. */
static void rope(float *vec, int heads, int hd, const float *inv_freq, int pos)
{
	int half = hd / 2, h, i;

	for (i = 0; i < half; i++) {
		float angle = (float)pos * inv_freq[i];
		float c = cosf(angle), sn = sinf(angle);

		for (h = 0; h < heads; h++) {
			float *p = vec + (size_t)h * hd;
			float a = p[i], b = p[i + half];

			p[i] = a * c - b * sn;
			p[i + half] = b * c + a * sn;
		}
	}
}

static void add_bias(float *y, const float *b, int rows, int n)
{
	int r, i;

	if (!b)
		return;
	for (r = 0; r < rows; r++)
		for (i = 0; i < n; i++)
			y[(size_t)r * n + i] += b[i];
}

struct attn_job {
	struct engine_session *s;
	int layer, n;
	const int32_t *slots, *positions;
};

static uint8_t *cache_row(const struct engine_session *s, uint8_t *base, int slot, int pos, int kvh)
{
	/* [slot][kv_head][pos]: one head's positions are contiguous, so
	 * attention streams them. */
	size_t idx = ((size_t)slot * (size_t)s->m->arch.num_kv_heads + (size_t)kvh) *
			     (size_t)s->o.max_seq +
		     (size_t)pos;

	return base + idx * s->head_row_bytes;
}

/* One (row, KV head) pair per task, all query heads of its group at once;
 * contiguous task ranges per thread, so results do not depend on the
 * thread count. */
static void attention_worker(void *arg, int tid, int nth)
{
	struct attn_job *j = arg;
	struct engine_session *s = j->s;
	const struct engine_arch *a = &s->m->arch;
	int hd = a->head_dim, group = a->num_heads / a->num_kv_heads;
	long tasks = (long)j->n * a->num_kv_heads;
	long begin = tasks * tid / nth, end = tasks * (tid + 1) / nth, t;
	float *scores = s->scores + (size_t)tid * (size_t)group * (size_t)s->o.max_seq;
	float *tmp = s->head_tmp + (size_t)tid * (size_t)hd;
	float scale = 1.0f / sqrtf((float)hd);
	size_t stride = s->head_row_bytes;

	for (t = begin; t < end; t++) {
		int row = (int)(t / a->num_kv_heads), kvh = (int)(t % a->num_kv_heads);
		int slot = j->slots[row], pos = j->positions[row];
		size_t first = ((size_t)row * a->num_heads + (size_t)kvh * group) * hd;

		engine_attend(s->o.kv_dtype, s->q + first, group, hd,
			      cache_row(s, s->k_cache[j->layer], slot, 0, kvh),
			      cache_row(s, s->v_cache[j->layer], slot, 0, kvh), stride, pos + 1,
			      scale, scores, tmp, s->att + first);
	}
}

static void silu_mul(float *gate, const float *up, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

int engine_forward(struct engine_session *s, const int32_t *tokens, const int32_t *slots,
		   const int32_t *positions, const bool *want_logits, int n, float *logits)
{
	const struct engine_model *m = s->m;
	const struct engine_arch *a = &m->arch;
	int h = a->hidden_size, hd = a->head_dim;
	int qd = a->num_heads * hd, kvd = a->num_kv_heads * hd;
	int r, l, nsel = 0;

	if (n < 1 || n > s->chunk)
		return error_set(LLEM_EINVAL, "forward: %d rows (chunk is %d)", n, s->chunk);
	for (r = 0; r < n; r++) {
		if (tokens[r] < 0 || tokens[r] >= a->vocab_size)
			return error_set(LLEM_EINVAL, "token id %d is outside the vocabulary (%d)",
					 tokens[r], a->vocab_size);
		if (slots[r] < 0 || slots[r] >= s->o.max_batch || positions[r] < 0 ||
		    positions[r] >= s->o.max_seq)
			return error_set(LLEM_EINVAL, "row %d: slot %d position %d out of range", r,
					 slots[r], positions[r]);
		engine_matrix_row(&m->embed, tokens[r], s->x + (size_t)r * h);
	}

	for (l = 0; l < a->num_layers; l++) {
		const struct engine_layer *L = &m->layers[l];
		struct attn_job job = { s, l, n, slots, positions };

		for (r = 0; r < n; r++)
			rmsnorm(s->xn + (size_t)r * h, s->x + (size_t)r * h, L->attn_norm, h,
				a->rms_norm_eps);
		engine_matmul(s->pool, s->q, s->xn, n, &L->wq);
		engine_matmul(s->pool, s->k, s->xn, n, &L->wk);
		engine_matmul(s->pool, s->v, s->xn, n, &L->wv);
		add_bias(s->q, L->bq, n, qd);
		add_bias(s->k, L->bk, n, kvd);
		add_bias(s->v, L->bv, n, kvd);
		for (r = 0; r < n; r++) {
			int kvh;

			rope(s->q + (size_t)r * qd, a->num_heads, hd, m->inv_freq, positions[r]);
			rope(s->k + (size_t)r * kvd, a->num_kv_heads, hd, m->inv_freq,
			     positions[r]);
			for (kvh = 0; kvh < a->num_kv_heads; kvh++) {
				engine_row_store(
					s->o.kv_dtype,
					cache_row(s, s->k_cache[l], slots[r], positions[r], kvh),
					s->k + (size_t)r * kvd + (size_t)kvh * hd, hd);
				engine_row_store(
					s->o.kv_dtype,
					cache_row(s, s->v_cache[l], slots[r], positions[r], kvh),
					s->v + (size_t)r * kvd + (size_t)kvh * hd, hd);
			}
		}
		engine_pool_run(s->pool, attention_worker, &job);
		engine_matmul(s->pool, s->xn, s->att, n, &L->wo);
		for (r = 0; r < n * h; r++)
			s->x[r] += s->xn[r];

		for (r = 0; r < n; r++)
			rmsnorm(s->xn + (size_t)r * h, s->x + (size_t)r * h, L->ffn_norm, h,
				a->rms_norm_eps);
		engine_matmul(s->pool, s->gate, s->xn, n, &L->w_gate);
		engine_matmul(s->pool, s->up, s->xn, n, &L->w_up);
		silu_mul(s->gate, s->up, (size_t)n * (size_t)a->intermediate_size);
		engine_matmul(s->pool, s->xn, s->gate, n, &L->w_down);
		for (r = 0; r < n * h; r++)
			s->x[r] += s->xn[r];
	}

	/* Only rows that sample need the (large) LM head. */
	for (r = 0; r < n; r++)
		if (want_logits[r])
			rmsnorm(s->sel + (size_t)nsel++ * h, s->x + (size_t)r * h, m->final_norm, h,
				a->rms_norm_eps);
	if (nsel)
		engine_matmul(s->pool, logits, s->sel, nsel, m->tied ? &m->embed : &m->lm_head);
	return 0;
}
