/*
 * AVX2 + FMA + F16C kernels, for x86-64 CPUs without usable AVX-512 (or
 * LLEM_NATIVE_ISA=avx2). Same structure as the AVX-512 set with 8-lane
 * vectors: float tiles of 4 rows x 2 batch rows, and Q8_0 on the packed
 * layout with vpmaddubsw (|w| times x with w's sign), exact in int32.
 */
#if defined(__x86_64__)

#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include <immintrin.h>
#include <string.h>

/* The tile functions are templates: nb and kind must be constants at
 * each call site for the accumulators to live in registers. */
#define INL static inline __attribute__((always_inline))

#define TGT __attribute__((target("avx2,fma,f16c")))

#define RT 4
#define BT 2
#define QBT 2

/* Prefetch into L2, a few row tiles or Q8_0 tiles ahead (matmul_avx512.c
 * explains why). */
#define PF_HINT _MM_HINT_T1
#define PF_ROWS 8
#define PF_Q8 16

/* An address to prefetch, possibly past the end of the matrix (prefetches
 * never fault); integer arithmetic, since pointer arithmetic may not
 * leave its object. */
INL const char *ahead(const void *p, size_t bytes)
{
	return (const char *)((uintptr_t)p + bytes);
}

/* Lane sums of four vectors in lanes 0..3; each by a fixed tree. */
INL __m128 TGT hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
	__m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
	__m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
	__m256 v = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xee));

	return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

INL float TGT hsum1(__m256 a)
{
	__m256 z = _mm256_setzero_ps();

	return _mm_cvtss_f32(hsum4(a, z, z, z));
}

enum wkind { W_F32, W_F16, W_BF16 };

INL __m256 TGT load_w(enum wkind kind, const void *row, int64_t c)
{
	switch (kind) {
	case W_F32: return _mm256_loadu_ps((const float *)row + c);
	case W_F16:
		return _mm256_cvtph_ps(
			_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
	default:
		return _mm256_castsi256_ps(
			_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(
						  (const __m128i *)((const uint16_t *)row + c))),
					  16));
	}
}

INL float TGT scalar_w(enum wkind kind, const void *row, int64_t c)
{
	switch (kind) {
	case W_F32: return ((const float *)row)[c];
	case W_F16: return engine_f16_to_f32(((const uint16_t *)row)[c]);
	default: return engine_bf16_to_f32(((const uint16_t *)row)[c]);
	}
}

/*
 * A tile of RT rows (a missing row repeats the last real one and is not
 * stored) times nb <= BT batch rows: each weight vector is loaded once
 * for all nb. Per output: one FMA chain over the columns, a fixed hsum4
 * tree, then the scalar tail, whatever the tile's shape.
 */
INL void TGT float_tile(const struct matmul_args *a, enum wkind kind, size_t esize, int64_t r,
			int64_t r1, int b0, const int nb)
{
	int64_t K = a->w->cols, N = a->w->rows, K8 = K & ~(int64_t)7;
	const char *wrow[RT];
	const char *pf = ahead(a->w->data, (size_t)((r + PF_ROWS) * K) * esize);
	const float *x[BT];
	__m256 acc[RT][BT];

	for (int i = 0; i < RT; i++)
		wrow[i] = (const char *)a->w->data +
			  (size_t)((r + i < r1 ? r + i : r1 - 1) * K) * esize;
	for (int j = 0; j < BT; j++)
		x[j] = a->x + (int64_t)(b0 + (j < nb ? j : 0)) * K;
#pragma GCC unroll 4
	for (int i = 0; i < RT; i++)
#pragma GCC unroll 2
		for (int j = 0; j < nb; j++)
			acc[i][j] = _mm256_setzero_ps();

	for (int64_t c = 0; c < K8; c += 8) {
		__m256 w[RT];

		/* The rows further on, walked as one stream. */
		for (size_t l = 0; l < 8 * RT * esize; l += 64)
			_mm_prefetch(pf + (size_t)c * RT * esize + l, PF_HINT);
#pragma GCC unroll 4
		for (int i = 0; i < RT; i++)
			w[i] = load_w(kind, wrow[i], c);
#pragma GCC unroll 2
		for (int j = 0; j < nb; j++) {
			__m256 xv = _mm256_loadu_ps(x[j] + c);

#pragma GCC unroll 4
			for (int i = 0; i < RT; i++)
				acc[i][j] = _mm256_fmadd_ps(w[i], xv, acc[i][j]);
		}
	}
	for (int j = 0; j < nb; j++) {
		float out[4];

		_mm_storeu_ps(out, hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]));
		for (int i = 0; i < RT && r + i < r1; i++) {
			float t = 0.0f;

			for (int64_t c = K8; c < K; c++)
				t += scalar_w(kind, wrow[i], c) * x[j][c];
			a->y[(int64_t)(b0 + j) * N + r + i] = out[i] + t;
		}
	}
}

INL void TGT float_rows(const struct matmul_args *a, enum wkind kind, size_t esize, int64_t r0,
			int64_t r1)
{
	for (int64_t r = r0; r < r1; r += RT) {
		int b = 0;

		for (; b + BT <= a->batch; b += BT)
			float_tile(a, kind, esize, r, r1, b, 2);
		if (b < a->batch)
			float_tile(a, kind, esize, r, r1, b, 1);
	}
}

static void TGT rows_f32(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	float_rows(a, W_F32, 4, r0, r1);
}

static void TGT rows_f16(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	float_rows(a, W_F16, 2, r0, r1);
}

static void TGT rows_bf16(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	float_rows(a, W_BF16, 2, r0, r1);
}

/* ---- Q8_0 on the packed layout ---- */

INL __m256i TGT bcast4(const int8_t *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return _mm256_set1_epi32(v);
}

/* Exact int32 sums of 4-byte products: |w| (unsigned) times x with w's
 * sign; |w|, |x| <= 127 keeps each 16-bit pair sum below 32767. */
INL __m256i TGT dot4(__m256i wabs, __m256i wsig, __m256i xv)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv, wsig)),
				 _mm256_set1_epi16(1));
}

INL void TGT q8_group(const struct matmul_args *a, int64_t g, int64_t r1, int b0, const int nb)
{
	const struct engine_matrix *m = a->w;
	int64_t nblk = q8_blocks(m->cols), N = m->rows, B = a->batch;
	const uint8_t *t = (const uint8_t *)m->data + g * nblk * Q8_TILE;
	const float *sw = m->scales + g * nblk * Q8_GROUP;
	const __m256i bias = _mm256_set1_epi8((char)0x80);
	__m256 lo[QBT], hi[QBT];

	for (int j = 0; j < nb; j++)
		lo[j] = hi[j] = _mm256_setzero_ps();
	for (int64_t k = 0; k < nblk; k++) {
		const int8_t *xq = a->p.xq + (k * B + b0) * ENGINE_Q8_BLOCK;
		const float *xs = a->p.xscale + k * B + b0;
		__m256i il[QBT], ih[QBT];

		for (int j = 0; j < nb; j++)
			il[j] = ih[j] = _mm256_setzero_si256();
		for (int l = 0; l < Q8_TILE; l += 64)
			_mm_prefetch(ahead(t, PF_Q8 * Q8_TILE + l), PF_HINT);
#pragma GCC unroll 8
		for (int s = 0; s < 8; s++) {
			__m256i wl = _mm256_xor_si256(
				_mm256_load_si256((const __m256i *)(t + s * 64)), bias);
			__m256i wh = _mm256_xor_si256(
				_mm256_load_si256((const __m256i *)(t + s * 64 + 32)), bias);
			__m256i al = _mm256_abs_epi8(wl);
			__m256i ah = _mm256_abs_epi8(wh);

#pragma GCC unroll 2
			for (int j = 0; j < nb; j++) {
				__m256i xv = bcast4(xq + j * ENGINE_Q8_BLOCK + 4 * s);

				il[j] = _mm256_add_epi32(il[j], dot4(al, wl, xv));
				ih[j] = _mm256_add_epi32(ih[j], dot4(ah, wh, xv));
			}
		}
		{
			__m256 swl = _mm256_loadu_ps(sw);
			__m256 swh = _mm256_loadu_ps(sw + 8);

			for (int j = 0; j < nb; j++) {
				__m256 sx = _mm256_set1_ps(xs[j]);

				lo[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(il[j]),
							_mm256_mul_ps(swl, sx), lo[j]);
				hi[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ih[j]),
							_mm256_mul_ps(swh, sx), hi[j]);
			}
		}
		t += Q8_TILE;
		sw += Q8_GROUP;
	}
	for (int j = 0; j < nb; j++) {
		float out[Q8_GROUP];
		float *y = a->y + (int64_t)(b0 + j) * N + g * Q8_GROUP;

		_mm256_storeu_ps(out, lo[j]);
		_mm256_storeu_ps(out + 8, hi[j]);
		for (int i = 0; i < Q8_GROUP && g * Q8_GROUP + i < r1; i++)
			y[i] = out[i];
	}
}

static void TGT rows_q8(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	for (int64_t g = r0 / Q8_GROUP; g * Q8_GROUP < r1; g++) {
		int b = 0;

		for (; b + QBT <= a->batch; b += QBT)
			q8_group(a, g, r1, b, 2);
		if (b < a->batch)
			q8_group(a, g, r1, b, 1);
	}
}

/* ---- KV-cache rows ---- */

INL float TGT dot_kind(enum wkind kind, const float *q, const void *row, int64_t n)
{
	__m256 acc = _mm256_setzero_ps();
	int64_t c = 0;
	float t = 0.0f;

	for (; c + 8 <= n; c += 8)
		acc = _mm256_fmadd_ps(load_w(kind, row, c), _mm256_loadu_ps(q + c), acc);
	for (; c < n; c++)
		t += scalar_w(kind, row, c) * q[c];
	return hsum1(acc) + t;
}

INL void TGT axpy_kind(enum wkind kind, float *y, float a, const void *row, int64_t n)
{
	__m256 av = _mm256_set1_ps(a);
	int64_t c = 0;

	for (; c + 8 <= n; c += 8)
		_mm256_storeu_ps(y + c,
				 _mm256_fmadd_ps(av, load_w(kind, row, c), _mm256_loadu_ps(y + c)));
	for (; c < n; c++)
		y[c] += a * scalar_w(kind, row, c);
}

static float TGT dot_f32(const float *q, const void *row, int64_t n)
{
	return dot_kind(W_F32, q, row, n);
}

static float TGT dot_f16(const float *q, const void *row, int64_t n)
{
	return dot_kind(W_F16, q, row, n);
}

static float TGT dot_bf16(const float *q, const void *row, int64_t n)
{
	return dot_kind(W_BF16, q, row, n);
}

static void TGT axpy_f32(float *y, float a, const void *row, int64_t n)
{
	axpy_kind(W_F32, y, a, row, n);
}

static void TGT axpy_f16(float *y, float a, const void *row, int64_t n)
{
	axpy_kind(W_F16, y, a, row, n);
}

static void TGT axpy_bf16(float *y, float a, const void *row, int64_t n)
{
	axpy_kind(W_BF16, y, a, row, n);
}

/* ---- conversions of n values (F16C; bf16 with integer rounding) ---- */

static void TGT f16_to_f32(float *dst, const uint16_t *src, int64_t n)
{
	int64_t c = 0;

	for (; c + 8 <= n; c += 8)
		_mm256_storeu_ps(dst + c,
				 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + c))));
	f16_to_f32_generic(dst + c, src + c, n - c);
}

static void TGT f16_from_f32(uint16_t *dst, const float *src, int64_t n)
{
	int64_t c = 0;

	for (; c + 8 <= n; c += 8)
		_mm_storeu_si128((__m128i *)(dst + c),
				 _mm256_cvtps_ph(_mm256_loadu_ps(src + c),
						 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	f16_from_f32_generic(dst + c, src + c, n - c);
}

static void TGT bf16_to_f32(float *dst, const uint16_t *src, int64_t n)
{
	int64_t c = 0;

	for (; c + 8 <= n; c += 8)
		_mm256_storeu_si256((__m256i *)(dst + c),
				    _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(
							      (const __m128i *)(src + c))),
						      16));
	bf16_to_f32_generic(dst + c, src + c, n - c);
}

/* As engine_f32_to_bf16: round to nearest even, NaN kept and quiet. */
static void TGT bf16_from_f32(uint16_t *dst, const float *src, int64_t n)
{
	int64_t c = 0;

	for (; c + 8 <= n; c += 8) {
		__m256 v = _mm256_loadu_ps(src + c);
		__m256i u = _mm256_castps_si256(v);
		__m256i hi = _mm256_srli_epi32(u, 16);
		__m256i r = _mm256_srli_epi32(
			_mm256_add_epi32(
				u, _mm256_add_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(1)),
						    _mm256_set1_epi32(0x7fff))),
			16);
		__m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		__m256i q = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
		__m256i w = _mm256_blendv_epi8(r, q, nan);

		/* Values fit in 16 bits, so the saturating pack is exact;
		 * it interleaves 128-bit lanes, which the permute undoes. */
		w = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), 0xd8);
		_mm_storeu_si128((__m128i *)(dst + c), _mm256_castsi256_si128(w));
	}
	bf16_from_f32_generic(dst + c, src + c, n - c);
}

const struct matmul_kernels matmul_kernels_avx2 = {
	.name = "avx2",
	.rows = {
		[ENGINE_F32] = rows_f32,
		[ENGINE_F16] = rows_f16,
		[ENGINE_BF16] = rows_bf16,
		[ENGINE_Q8_0] = rows_q8,
	},
	.bf16_dot = false,
	.prep_q8 = matmul_prep_q8_generic,
	.prep_bf16 = matmul_prep_bf16_generic,
	.row_dot = {
		[ENGINE_F32] = dot_f32,
		[ENGINE_F16] = dot_f16,
		[ENGINE_BF16] = dot_bf16,
		[ENGINE_Q8_0] = row_dot_q8_generic,
	},
	.row_axpy = {
		[ENGINE_F32] = axpy_f32,
		[ENGINE_F16] = axpy_f16,
		[ENGINE_BF16] = axpy_bf16,
		[ENGINE_Q8_0] = row_axpy_q8_generic,
	},
	.to_f32 = {
		[ENGINE_F16] = f16_to_f32,
		[ENGINE_BF16] = bf16_to_f32,
	},
	.from_f32 = {
		[ENGINE_F16] = f16_from_f32,
		[ENGINE_BF16] = bf16_from_f32,
	},
};

#else
/* ISO C wants a declaration in every translation unit. */
typedef int matmul_avx2_not_built;
#endif
