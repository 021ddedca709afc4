/*
 * The portable kernels: plain C for every dtype, the reference the SIMD
 * sets are tested against, and what runs on a CPU without AVX2 (or with
 * LLEM_NATIVE_ISA=generic). Written for clarity first; the 8-lane partial
 * sums let the compiler use whatever vector unit the baseline has.
 */
#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include <math.h>
#include <string.h>

#define LANES 8
#define CHUNK 256 /* columns converted to fp32 at a time */

static float dot_f32(const float *w, const float *x, int64_t n)
{
	float s[LANES] = { 0 };
	float t = 0.0f;
	int64_t c = 0;

	for (; c + LANES <= n; c += LANES)
		for (int l = 0; l < LANES; l++)
			s[l] += w[c + l] * x[c + l];
	for (; c < n; c++)
		t += w[c] * x[c];
	/* Fixed pairwise order: the result must not depend on the caller. */
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + t;
}

void matmul_rows_f32_generic(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	int64_t K = a->w->cols, N = a->w->rows;
	const float *w = a->w->data;

	for (int64_t r = r0; r < r1; r++)
		for (int b = 0; b < a->batch; b++)
			a->y[b * N + r] = dot_f32(w + r * K, a->x + b * K, K);
}

/*
 * F16 and BF16: each row is converted a CHUNK at a time and used for
 * every batch row before the next chunk, so the weights are read once.
 * Partial sums per chunk are added in chunk order.
 */
static void rows_half(const struct matmul_args *a, int64_t r0, int64_t r1, float (*cvt)(uint16_t))
{
	int64_t K = a->w->cols, N = a->w->rows;
	const uint16_t *w = a->w->data;
	float buf[CHUNK];

	for (int64_t r = r0; r < r1; r++) {
		for (int b = 0; b < a->batch; b++)
			a->y[b * N + r] = 0.0f;
		for (int64_t c0 = 0; c0 < K; c0 += CHUNK) {
			int64_t n = K - c0 < CHUNK ? K - c0 : CHUNK;

			for (int64_t c = 0; c < n; c++)
				buf[c] = cvt(w[r * K + c0 + c]);
			for (int b = 0; b < a->batch; b++)
				a->y[b * N + r] += dot_f32(buf, a->x + b * K + c0, n);
		}
	}
}

static void rows_f16(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	rows_half(a, r0, r1, engine_f16_to_f32);
}

static void rows_bf16(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	rows_half(a, r0, r1, engine_bf16_to_f32);
}

/*
 * Q8_0 on the packed layout: exact integer block sums, then per block
 * acc = fma(isum, w_scale * x_scale, acc) in block order. The SIMD sets do
 * the same operations in the same order, so all agree bit for bit.
 */
/* Exact int32 sums of one packed tile (16 rows x 32 columns) with x. */
static void q8_tile_isum(const uint8_t *t, const int8_t *xq, int32_t isum[Q8_GROUP])
{
	for (int i = 0; i < Q8_GROUP; i++)
		isum[i] = 0;
	for (int s = 0; s < ENGINE_Q8_BLOCK / 4; s++, t += 4 * Q8_GROUP)
		for (int i = 0; i < Q8_GROUP; i++)
			for (int j = 0; j < 4; j++)
				isum[i] += ((int32_t)t[i * 4 + j] - 128) * xq[s * 4 + j];
}

static void rows_q8(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	const struct engine_matrix *m = a->w;
	int64_t nb = q8_blocks(m->cols), N = m->rows, B = a->batch;
	const uint8_t *data = m->data;

	for (int64_t g = r0 / Q8_GROUP; g * Q8_GROUP < r1; g++) {
		for (int64_t b = 0; b < B; b++) {
			float acc[Q8_GROUP] = { 0 };

			for (int64_t k = 0; k < nb; k++) {
				const float *sw = m->scales + (g * nb + k) * Q8_GROUP;
				float sx = a->p.xscale[k * B + b];
				int32_t isum[Q8_GROUP];

				q8_tile_isum(data + (g * nb + k) * Q8_TILE,
					     a->p.xq + (k * B + b) * ENGINE_Q8_BLOCK, isum);
				for (int i = 0; i < Q8_GROUP; i++)
					acc[i] = fmaf((float)isum[i], sw[i] * sx, acc[i]);
			}
			for (int i = 0; i < Q8_GROUP; i++)
				if (g * Q8_GROUP + i < r1)
					a->y[b * N + g * Q8_GROUP + i] = acc[i];
		}
	}
}

void matmul_prep_q8_generic(const struct matmul_args *a, int b0, int b1)
{
	int64_t K = a->w->cols, nb = q8_blocks(K), B = a->batch;

	for (int64_t b = b0; b < b1; b++) {
		for (int64_t k = 0; k < nb; k++) {
			int8_t *xq = a->p.xq + (k * B + b) * ENGINE_Q8_BLOCK;
			int64_t c0 = k * ENGINE_Q8_BLOCK;
			int n = (int)(K - c0 < ENGINE_Q8_BLOCK ? K - c0 : ENGINE_Q8_BLOCK);
			int32_t sum = 0;

			memset(xq + n, 0, (size_t)(ENGINE_Q8_BLOCK - n));
			a->p.xscale[k * B + b] = q8_quantise_block(a->x + b * K + c0, n, xq);
			for (int i = 0; i < n; i++)
				sum += xq[i];
			a->p.xsum[k * B + b] = -128 * sum;
		}
	}
}

void matmul_prep_bf16_generic(const struct matmul_args *a, int b0, int b1)
{
	int64_t K = a->w->cols, ld = a->p.ld;

	for (int b = b0; b < b1; b++) {
		uint16_t *xb = a->p.xbf + b * ld;

		for (int64_t c = 0; c < K; c++)
			xb[c] = engine_f32_to_bf16(a->x[b * K + c]);
		for (int64_t c = K; c < ld; c++)
			xb[c] = 0;
	}
}

/* ---- KV-cache rows ---- */

static float dot_row_f32(const float *q, const void *row, int64_t n)
{
	return dot_f32(row, q, n);
}

static float dot_row_half(const float *q, const uint16_t *row, int64_t n, float (*cvt)(uint16_t))
{
	float buf[CHUNK], s = 0.0f;

	for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
		int64_t m = n - c0 < CHUNK ? n - c0 : CHUNK;

		for (int64_t c = 0; c < m; c++)
			buf[c] = cvt(row[c0 + c]);
		s += dot_f32(buf, q + c0, m);
	}
	return s;
}

static float dot_row_f16(const float *q, const void *row, int64_t n)
{
	return dot_row_half(q, row, n, engine_f16_to_f32);
}

static float dot_row_bf16(const float *q, const void *row, int64_t n)
{
	return dot_row_half(q, row, n, engine_bf16_to_f32);
}

float row_dot_q8_generic(const float *q, const void *row, int64_t n)
{
	int64_t nb = q8_blocks(n);
	const int8_t *v = (const int8_t *)row + nb * (int64_t)sizeof(float);
	float s = 0.0f;

	for (int64_t k = 0; k < nb; k++) {
		int64_t c0 = k * ENGINE_Q8_BLOCK;
		int64_t m = n - c0 < ENGINE_Q8_BLOCK ? n - c0 : ENGINE_Q8_BLOCK;
		float scale, bs[LANES] = { 0 }, t = 0.0f;
		int64_t c = 0;

		memcpy(&scale, (const char *)row + k * (int64_t)sizeof(float), sizeof(scale));
		for (; c + LANES <= m; c += LANES)
			for (int l = 0; l < LANES; l++)
				bs[l] += (float)v[c0 + c + l] * q[c0 + c + l];
		for (; c < m; c++)
			t += (float)v[c0 + c] * q[c0 + c];
		s += scale * (((bs[0] + bs[4]) + (bs[1] + bs[5])) +
			      ((bs[2] + bs[6]) + (bs[3] + bs[7])) + t);
	}
	return s;
}

static void axpy_row_f32(float *y, float a, const void *row, int64_t n)
{
	const float *v = row;

	for (int64_t c = 0; c < n; c++)
		y[c] += a * v[c];
}

static void axpy_row_f16(float *y, float a, const void *row, int64_t n)
{
	const uint16_t *v = row;

	for (int64_t c = 0; c < n; c++)
		y[c] += a * engine_f16_to_f32(v[c]);
}

static void axpy_row_bf16(float *y, float a, const void *row, int64_t n)
{
	const uint16_t *v = row;

	for (int64_t c = 0; c < n; c++)
		y[c] += a * engine_bf16_to_f32(v[c]);
}

void row_axpy_q8_generic(float *y, float a, const void *row, int64_t n)
{
	int64_t nb = q8_blocks(n);
	const int8_t *v = (const int8_t *)row + nb * (int64_t)sizeof(float);

	for (int64_t k = 0; k < nb; k++) {
		float scale;

		memcpy(&scale, (const char *)row + k * (int64_t)sizeof(float), sizeof(scale));
		scale *= a;
		for (int64_t c = k * ENGINE_Q8_BLOCK; c < n && c < (k + 1) * ENGINE_Q8_BLOCK; c++)
			y[c] += scale * (float)v[c];
	}
}

/* ---- conversions of n values ---- */

void f16_to_f32_generic(float *dst, const uint16_t *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = engine_f16_to_f32(src[i]);
}

void f16_from_f32_generic(uint16_t *dst, const float *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = engine_f32_to_f16(src[i]);
}

void bf16_to_f32_generic(float *dst, const uint16_t *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)src[i] << 16;

		memcpy(dst + i, &u, sizeof(u));
	}
}

void bf16_from_f32_generic(uint16_t *dst, const float *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = engine_f32_to_bf16(src[i]);
}

#define CONVERSIONS_GENERIC                                                                        \
	.to_f32 = {                                                       \
		[ENGINE_F16] = f16_to_f32_generic,                        \
		[ENGINE_BF16] = bf16_to_f32_generic,                      \
	},                                                                \
	.from_f32 = {                                                     \
		[ENGINE_F16] = f16_from_f32_generic,                      \
		[ENGINE_BF16] = bf16_from_f32_generic,                    \
	}

const struct matmul_kernels matmul_kernels_generic = {
	.name = "generic",
	.rows = {
		[ENGINE_F32] = matmul_rows_f32_generic,
		[ENGINE_F16] = rows_f16,
		[ENGINE_BF16] = rows_bf16,
		[ENGINE_Q8_0] = rows_q8,
	},
	.bf16_dot = false,
	.prep_q8 = matmul_prep_q8_generic,
	.prep_bf16 = matmul_prep_bf16_generic,
	.row_dot = {
		[ENGINE_F32] = dot_row_f32,
		[ENGINE_F16] = dot_row_f16,
		[ENGINE_BF16] = dot_row_bf16,
		[ENGINE_Q8_0] = row_dot_q8_generic,
	},
	.row_axpy = {
		[ENGINE_F32] = axpy_row_f32,
		[ENGINE_F16] = axpy_row_f16,
		[ENGINE_BF16] = axpy_row_bf16,
		[ENGINE_Q8_0] = row_axpy_q8_generic,
	},
	CONVERSIONS_GENERIC,
};
