/*
 * Attention for one sequence position and one group of query heads that
 * share a KV head (grouped-query attention): scores against every cached
 * key, softmax, weighted sum of cached values. Each cached row is read
 * once for the whole group, and the inner dot/axpy loops are inlined
 * (AVX-512 where the CPU has it) because at 64-128 elements per row a
 * function call per position costs as much as the arithmetic.
 */
#include "engine/kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#define TGT __attribute__((target("avx512f")))
#endif

struct attend_args {
	enum engine_dtype kvt;
	const float *q; /* group x hd */
	int group, hd, npos;
	const uint8_t *k0, *v0;
	size_t stride; /* bytes between positions */
	float scale;
	float *scores; /* group x npos */
	float *row;    /* hd scratch for converted rows */
	float *out;    /* group x hd */
};

/* A cached row as fp32: in place for F32, converted into scratch otherwise. */
static const float *row_f32(const struct attend_args *a, const uint8_t *p)
{
	if (a->kvt == ENGINE_F32)
		return (const float *)p;
	engine_row_load(a->kvt, a->row, p, a->hd);
	return a->row;
}

static void softmax_rows(const struct attend_args *a)
{
	int g, p;

	for (g = 0; g < a->group; g++) {
		float *s = a->scores + (size_t)g * a->npos, max = -INFINITY, sum = 0;

		for (p = 0; p < a->npos; p++)
			if (s[p] > max)
				max = s[p];
		for (p = 0; p < a->npos; p++) {
			s[p] = expf(s[p] - max);
			sum += s[p];
		}
		for (p = 0; p < a->npos; p++)
			s[p] /= sum;
	}
}

static void attend_generic(const struct attend_args *a)
{
	int g, p, i, hd = a->hd;

	for (p = 0; p < a->npos; p++) {
		const float *k = row_f32(a, a->k0 + (size_t)p * a->stride);

		for (g = 0; g < a->group; g++) {
			const float *q = a->q + (size_t)g * hd;
			float d = 0;

			for (i = 0; i < hd; i++)
				d += q[i] * k[i];
			a->scores[(size_t)g * a->npos + p] = d * a->scale;
		}
	}
	softmax_rows(a);
	memset(a->out, 0, (size_t)a->group * (size_t)hd * sizeof(float));
	for (p = 0; p < a->npos; p++) {
		const float *v = row_f32(a, a->v0 + (size_t)p * a->stride);

		for (g = 0; g < a->group; g++) {
			float w = a->scores[(size_t)g * a->npos + p], *o = a->out + (size_t)g * hd;

			for (i = 0; i < hd; i++)
				o[i] += w * v[i];
		}
	}
}

#ifdef HAVE_X86
static TGT float dot512(const float *x, const float *y, int n)
{
	__m512 acc = _mm512_setzero_ps();
	int i = 0;

	for (; i + 16 <= n; i += 16)
		acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc);
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);

		acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
				      _mm512_maskz_loadu_ps(m, y + i), acc);
	}
	return _mm512_reduce_add_ps(acc);
}

static TGT void axpy512(float *y, float w, const float *x, int n)
{
	__m512 vw = _mm512_set1_ps(w);
	int i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(
			y + i, _mm512_fmadd_ps(vw, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);

		_mm512_mask_storeu_ps(y + i, m,
				      _mm512_fmadd_ps(vw, _mm512_maskz_loadu_ps(m, x + i),
						      _mm512_maskz_loadu_ps(m, y + i)));
	}
}

static TGT void attend_avx512(const struct attend_args *a)
{
	int g, p, hd = a->hd;

	for (p = 0; p < a->npos; p++) {
		const float *k = row_f32(a, a->k0 + (size_t)p * a->stride);

		for (g = 0; g < a->group; g++)
			a->scores[(size_t)g * a->npos + p] =
				dot512(a->q + (size_t)g * hd, k, hd) * a->scale;
	}
	softmax_rows(a);
	memset(a->out, 0, (size_t)a->group * (size_t)hd * sizeof(float));
	for (p = 0; p < a->npos; p++) {
		const float *v = row_f32(a, a->v0 + (size_t)p * a->stride);

		for (g = 0; g < a->group; g++)
			axpy512(a->out + (size_t)g * hd, a->scores[(size_t)g * a->npos + p], v, hd);
	}
}
#endif

void engine_attend(enum engine_dtype kvt, const float *q, int group, int hd, const uint8_t *k0,
		   const uint8_t *v0, size_t stride, int npos, float scale, float *scores,
		   float *row, float *out)
{
	struct attend_args a = { kvt, q, group, hd, npos, k0, v0, stride, scale, scores, row, out };

#ifdef HAVE_X86
	if (engine_cpu()->avx512f) {
		attend_avx512(&a);
		return;
	}
#endif
	attend_generic(&a);
}
