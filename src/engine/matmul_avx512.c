/*
 * AVX-512 kernels (avx512f/bw/vl + vnni; the "avx512-bf16" set adds
 * vdpbf16ps for BF16 weights). Compiled for any x86-64 through function
 * target attributes and used only when cpu_features.c finds the CPU and
 * OS support. Each tile reads its weights once from memory and applies
 * them to up to 8 batch rows from registers.
 */
#if defined(__x86_64__)

#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include <immintrin.h>
#include <string.h>

/* The tile functions are templates: nb and kind must be constants at
 * each call site for the accumulators to live in registers. */
#define INL static inline __attribute__((always_inline))

#define ISA_512 "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define TGT __attribute__((target(ISA_512)))
#define TGT_BF16 __attribute__((target(ISA_512 ",avx512bf16")))

#define QBT 8 /* batch rows per Q8_0 pass */

/*
 * Software prefetch, tuned on Zen 4 (docs/engine-kernels.md): into L2
 * (T1), not L1 — prefetches to L1 hold L1 miss buffers that the loads of
 * a busy batch-8 tile need, and halved its speed. Float kernels run
 * PF_ROWS rows ahead, Q8_0 PF_Q8 tiles (16 x 544 bytes) ahead.
 */
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

/*
 * Sums of four vectors' 16 lanes, in lanes 0..3. Every sum follows the
 * same tree whatever the other three hold, so a row's result does not
 * depend on which rows or batch rows share its tile.
 */
INL __m128 TGT hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
	__m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
	__m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
	__m512 v = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xee));
	__m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
				 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));

	return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

INL float TGT hsum1(__m512 a)
{
	__m512 z = _mm512_setzero_ps();

	return _mm_cvtss_f32(hsum4(a, z, z, z));
}

INL __mmask16 TGT mask16(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

INL __mmask32 TGT mask32(int64_t n)
{
	return n >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << n) - 1);
}

/* 16 weights of a row as fp32, by storage type (masked: zeros past n). */
enum wkind { W_F32, W_F16, W_BF16 };

INL __m512 TGT load_w(enum wkind kind, const void *row, int64_t c, __mmask16 m)
{
	switch (kind) {
	case W_F32: return _mm512_maskz_loadu_ps(m, (const float *)row + c);
	case W_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c));
	default:
		return _mm512_castsi512_ps(
			_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
						  m, (const uint16_t *)row + c)),
					  16));
	}
}

/*
 * Float tiles: nr rows (4, or 2 when 5-8 batch rows share the tile) times
 * nb batch rows, each weight vector loaded once and used for all nb; nr
 * and nb are constants after inlining, so the nr * nb accumulators stay
 * in registers. A missing row repeats the last real one and is not stored.
 * Every output is the same chain of FMAs over the columns and the same
 * hsum4 tree whatever the tile shape, so results depend neither on the
 * batch size nor on how rows are split between threads.
 *
 * Prefetch: a tile's rows are nr short streams that the hardware
 * prefetcher keeps losing; the loop also walks the rows PF_ROWS further on
 * as one sequential stream, at the pace it consumes its own.
 */

/*
 * Reduces a tile's accumulators and stores the first nrow of its rows:
 * y[j * N + i] = sum of acc[i][j]'s lanes. Four sums per hsum4 (two rows of
 * two batch rows when nr is 2); each sum's tree is the same either way.
 */
INL void TGT tile_store(float *y, int64_t N, int64_t nrow, __m512 acc[4][8], const int nr,
			const int nb)
{
	float out[4];

	if (nr == 4) {
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++) {
			_mm_storeu_ps(out, hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]));
			for (int i = 0; i < 4 && i < nrow; i++)
				y[j * N + i] = out[i];
		}
		return;
	}
#pragma GCC unroll 4
	for (int j = 0; j < nb; j += 2) {
		__m512 z = _mm512_setzero_ps();

		_mm_storeu_ps(out, hsum4(acc[0][j], acc[1][j], j + 1 < nb ? acc[0][j + 1] : z,
					 j + 1 < nb ? acc[1][j + 1] : z));
		for (int i = 0; i < 2 && i < nrow; i++) {
			y[j * N + i] = out[i];
			if (j + 1 < nb)
				y[(j + 1) * N + i] = out[2 + i];
		}
	}
}

INL void TGT float_tile(const struct matmul_args *a, enum wkind kind, size_t esize, int64_t r,
			int64_t r1, int b0, const int nr, const int nb)
{
	int64_t K = a->w->cols, N = a->w->rows;
	const char *wrow[4], *pf;
	const float *x[8];
	__m512 acc[4][8];

	for (int i = 0; i < nr; i++)
		wrow[i] = (const char *)a->w->data +
			  (size_t)((r + i < r1 ? r + i : r1 - 1) * K) * esize;
	for (int j = 0; j < nb; j++)
		x[j] = a->x + (int64_t)(b0 + j) * K;
	pf = ahead(a->w->data, (size_t)((r + PF_ROWS) * K) * esize);
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++)
			acc[i][j] = _mm512_setzero_ps();

	for (int64_t c = 0; c < K; c += 16) {
		__mmask16 m = mask16(K - c);
		__m512 w[4];

		for (size_t l = 0; l < 16 * (size_t)nr * esize; l += 64)
			_mm_prefetch(pf + (size_t)c * (size_t)nr * esize + l, PF_HINT);
#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
			w[i] = load_w(kind, wrow[i], c, m);
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++) {
			__m512 xv = _mm512_maskz_loadu_ps(m, x[j] + c);

#pragma GCC unroll 4
			for (int i = 0; i < nr; i++)
				acc[i][j] = _mm512_fmadd_ps(w[i], xv, acc[i][j]);
		}
	}
	tile_store(a->y + (int64_t)b0 * N + r, N, r1 - r, acc, nr, nb);
}

/*
 * Batch rows in chunks of 8 (2-row tiles) and a last chunk of up to 4
 * (4-row tiles) or 5-7 (2-row tiles), over blocks of 4 rows. When 8 rows
 * of x (xbytes each) would crowd the weights out of L1, chunks of 4 with
 * 4-row tiles, which load x half as often, go first.
 */
#define X_L1_BYTES 24576
#define FLOAT_ROWS(xbytes, tile, ...)                                                              \
	for (int64_t r = r0; r < r1; r += 4) {                                                     \
		int b = 0;                                                                         \
		if ((xbytes) * 8 > X_L1_BYTES)                                                     \
			for (; b + 4 <= a->batch; b += 4)                                          \
				tile(__VA_ARGS__, r, r1, b, 4, 4);                                 \
		for (; b + 8 <= a->batch; b += 8) {                                                \
			tile(__VA_ARGS__, r, r1, b, 2, 8);                                         \
			tile(__VA_ARGS__, r + 2, r1, b, 2, 8);                                     \
		}                                                                                  \
		switch (a->batch - b) {                                                            \
		case 7:                                                                            \
			tile(__VA_ARGS__, r, r1, b, 2, 7);                                         \
			tile(__VA_ARGS__, r + 2, r1, b, 2, 7);                                     \
			break;                                                                     \
		case 6:                                                                            \
			tile(__VA_ARGS__, r, r1, b, 2, 6);                                         \
			tile(__VA_ARGS__, r + 2, r1, b, 2, 6);                                     \
			break;                                                                     \
		case 5:                                                                            \
			tile(__VA_ARGS__, r, r1, b, 2, 5);                                         \
			tile(__VA_ARGS__, r + 2, r1, b, 2, 5);                                     \
			break;                                                                     \
		case 4: tile(__VA_ARGS__, r, r1, b, 4, 4); break;                                  \
		case 3: tile(__VA_ARGS__, r, r1, b, 4, 3); break;                                  \
		case 2: tile(__VA_ARGS__, r, r1, b, 4, 2); break;                                  \
		case 1: tile(__VA_ARGS__, r, r1, b, 4, 1); break;                                  \
		default: break;                                                                    \
		}                                                                                  \
	}

static void TGT rows_f32(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	FLOAT_ROWS(a->w->cols * 4, float_tile, a, W_F32, 4)
}

static void TGT rows_f16(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	FLOAT_ROWS(a->w->cols * 4, float_tile, a, W_F16, 2)
}

static void TGT rows_bf16(const struct matmul_args *a, int64_t r0,
			  int64_t r1){ FLOAT_ROWS(a -> w->cols * 4, float_tile, a, W_BF16, 2) }

/* ---- BF16 with vdpbf16ps: x was rounded to bf16 by prep ---- */

/* As float_tile, 32 columns a step: each lane sums a pair of products. */
INL void TGT_BF16 dpbf16_tile(const struct matmul_args *a, int64_t r, int64_t r1, int b0,
			      const int nr, const int nb)
{
	int64_t K = a->w->cols, N = a->w->rows, ld = a->p.ld;
	const uint16_t *wrow[4], *x[8];
	const char *pf = ahead(a->w->data, (size_t)((r + PF_ROWS) * K) * 2);
	__m512 acc[4][8];

	for (int i = 0; i < nr; i++)
		wrow[i] = (const uint16_t *)a->w->data + (r + i < r1 ? r + i : r1 - 1) * K;
	for (int j = 0; j < nb; j++)
		x[j] = a->p.xbf + (int64_t)(b0 + j) * ld;
#pragma GCC unroll 4
	for (int i = 0; i < nr; i++)
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++)
			acc[i][j] = _mm512_setzero_ps();

	for (int64_t c = 0; c < K; c += 32) {
		__mmask32 m = mask32(K - c);
		__m512i w[4];

		for (size_t l = 0; l < 32 * (size_t)nr * 2; l += 64)
			_mm_prefetch(pf + (size_t)c * (size_t)nr * 2 + l, PF_HINT);
#pragma GCC unroll 4
		for (int i = 0; i < nr; i++)
			w[i] = _mm512_maskz_loadu_epi16(m, wrow[i] + c);
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++) {
			/* x is zero-padded to a multiple of 32: no mask. */
			__m512bh xv = (__m512bh)_mm512_loadu_si512(x[j] + c);

#pragma GCC unroll 4
			for (int i = 0; i < nr; i++)
				acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)w[i], xv);
		}
	}
	tile_store(a->y + (int64_t)b0 * N + r, N, r1 - r, acc, nr, nb);
}

static void TGT_BF16 rows_bf16_dot(const struct matmul_args *a, int64_t r0,
				   int64_t r1){ FLOAT_ROWS(a -> p.ld * 2, dpbf16_tile, a) }

/* Rounds 16 floats to bf16 exactly as engine_f32_to_bf16 does (the
 * vcvtne2ps2bf16 instruction flushes subnormals, so it is not used). */
INL __m256i TGT f32_to_bf16_16(__m512 v)
{
	__m512i u = _mm512_castps_si512(v);
	__m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	__m512i r = _mm512_srli_epi32(
		_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
	__mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
	__m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));

	return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, r, q));
}

static void TGT prep_bf16(const struct matmul_args *a, int b0, int b1)
{
	int64_t K = a->w->cols, ld = a->p.ld;

	for (int b = b0; b < b1; b++) {
		const float *x = a->x + b * K;
		uint16_t *xb = a->p.xbf + b * ld;

		for (int64_t c = 0; c < ld; c += 16) {
			__m512 v = _mm512_maskz_loadu_ps(mask16(K - c > 0 ? K - c : 0), x + c);

			_mm256_storeu_si256((__m256i *)(xb + c), f32_to_bf16_16(v));
		}
	}
}

/* ---- Q8_0: packed 16-row groups, vpdpbusd ---- */

/* 4 bytes of x in every lane, read through a may_alias type (x is int8). */
typedef int32_t __attribute__((may_alias, aligned(1))) i32_alias;

INL __m512i TGT bcast4(const int8_t *p)
{
	return _mm512_set1_epi32(*(const i32_alias *)p);
}

/*
 * Group g (16 rows, one per lane) times batch rows b0..b0+nb-1. Per block:
 * 8 weight vectors loaded once, then for each batch row 8 vpdpbusd into
 * an int32 sum seeded with -128 * sum(xq) (the weights carry +128), and
 * acc = fma(isum, w_scale * x_scale, acc): the generic kernel's order.
 */
INL void TGT q8_group(const struct matmul_args *a, int64_t g, int64_t r1, int b0, const int nb)
{
	const struct engine_matrix *m = a->w;
	int64_t nblk = q8_blocks(m->cols), N = m->rows, B = a->batch;
	const uint8_t *t = (const uint8_t *)m->data + g * nblk * Q8_TILE;
	const float *sw = m->scales + g * nblk * Q8_GROUP;
	__m512 acc[QBT];

#pragma GCC unroll 8
	for (int j = 0; j < nb; j++)
		acc[j] = _mm512_setzero_ps();
	for (int64_t k = 0; k < nblk; k++) {
		const int8_t *xq = a->p.xq + (k * B + b0) * ENGINE_Q8_BLOCK;
		const float *xs = a->p.xscale + k * B + b0;
		const int32_t *xc = a->p.xsum + k * B + b0;
		__m512i w[8];
		__m512 swv = _mm512_loadu_ps(sw);

		for (int l = 0; l < Q8_TILE; l += 64)
			_mm_prefetch(ahead(t, PF_Q8 * Q8_TILE + l), PF_HINT);
		_mm_prefetch(ahead(sw, PF_Q8 * Q8_GROUP * 4), PF_HINT);
#pragma GCC unroll 8
		for (int s = 0; s < 8; s++)
			w[s] = _mm512_load_si512(t + s * 64);
#pragma GCC unroll 8
		for (int j = 0; j < nb; j++) {
			const int8_t *x = xq + j * ENGINE_Q8_BLOCK;
			__m512i s0 = _mm512_set1_epi32(xc[j]);
			__m512 sc;

#pragma GCC unroll 8
			for (int s = 0; s < 8; s++)
				s0 = _mm512_dpbusd_epi32(s0, w[s], bcast4(x + 4 * s));
			sc = _mm512_mul_ps(swv, _mm512_set1_ps(xs[j]));
			acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), sc, acc[j]);
		}
		t += Q8_TILE;
		sw += Q8_GROUP;
	}
#pragma GCC unroll 8
	for (int j = 0; j < nb; j++)
		_mm512_mask_storeu_ps(a->y + (int64_t)(b0 + j) * N + g * Q8_GROUP,
				      mask16(r1 - g * Q8_GROUP), acc[j]);
}

static void TGT rows_q8(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	for (int64_t g = r0 / Q8_GROUP; g * Q8_GROUP < r1; g++) {
		int b = 0;

		for (; b + QBT <= a->batch; b += QBT)
			q8_group(a, g, r1, b, QBT);
		switch (a->batch - b) {
		case 7: q8_group(a, g, r1, b, 7); break;
		case 6: q8_group(a, g, r1, b, 6); break;
		case 5: q8_group(a, g, r1, b, 5); break;
		case 4: q8_group(a, g, r1, b, 4); break;
		case 3: q8_group(a, g, r1, b, 3); break;
		case 2: q8_group(a, g, r1, b, 2); break;
		case 1: q8_group(a, g, r1, b, 1); break;
		default: break;
		}
	}
}

/*
 * Quantises x per block of 32 exactly as q8_quantise_block does: max|x|,
 * scale = max / 127, q = x / scale rounded to nearest even (vcvtps2dq
 * under the default MXCSR, like nearbyintf), and a non-finite block gives
 * zeros with a NaN scale.
 */
static void TGT prep_q8(const struct matmul_args *a, int b0, int b1)
{
	int64_t K = a->w->cols, nb = q8_blocks(K), B = a->batch;

	for (int64_t b = b0; b < b1; b++) {
		const float *x = a->x + b * K;

		for (int64_t k = 0; k < nb; k++) {
			int8_t *xq = a->p.xq + (k * B + b) * ENGINE_Q8_BLOCK;
			int64_t c = k * ENGINE_Q8_BLOCK;
			int64_t n = K - c;
			__m512 v0 = _mm512_maskz_loadu_ps(mask16(n), x + c);
			__m512 v1 = _mm512_maskz_loadu_ps(mask16(n > 16 ? n - 16 : 0), x + c + 16);
			__mmask16 fin = _mm512_cmp_ps_mask(_mm512_sub_ps(v0, v0),
							   _mm512_setzero_ps(), _CMP_EQ_OQ) &
					_mm512_cmp_ps_mask(_mm512_sub_ps(v1, v1),
							   _mm512_setzero_ps(), _CMP_EQ_OQ);
			float maxabs = _mm512_reduce_max_ps(
				_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
			float scale = maxabs / 127.0f;
			__m512 sv, lim = _mm512_set1_ps(127.0f);
			__m512 nlim = _mm512_set1_ps(-127.0f);
			__m512i q0, q1;

			if (fin != 0xffff || !(scale > 0.0f)) {
				memset(xq, 0, ENGINE_Q8_BLOCK);
				a->p.xscale[k * B + b] = fin != 0xffff ? __builtin_nanf("") : 0.0f;
				a->p.xsum[k * B + b] = 0;
				continue;
			}
			sv = _mm512_set1_ps(scale);
			q0 = _mm512_cvtps_epi32(
				_mm512_max_ps(_mm512_min_ps(_mm512_div_ps(v0, sv), lim), nlim));
			q1 = _mm512_cvtps_epi32(
				_mm512_max_ps(_mm512_min_ps(_mm512_div_ps(v1, sv), lim), nlim));
			_mm_storeu_si128((__m128i *)xq, _mm512_cvtepi32_epi8(q0));
			_mm_storeu_si128((__m128i *)(xq + 16), _mm512_cvtepi32_epi8(q1));
			a->p.xscale[k * B + b] = scale;
			a->p.xsum[k * B + b] =
				-128 * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
		}
	}
}

/* ---- KV-cache rows ---- */

INL float TGT dot_kind(enum wkind kind, const float *q, const void *row, int64_t n)
{
	__m512 acc = _mm512_setzero_ps();

	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		acc = _mm512_fmadd_ps(load_w(kind, row, c, m), _mm512_maskz_loadu_ps(m, q + c),
				      acc);
	}
	return hsum1(acc);
}

INL void TGT axpy_kind(enum wkind kind, float *y, float a, const void *row, int64_t n)
{
	__m512 av = _mm512_set1_ps(a);

	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm512_mask_storeu_ps(y + c, m,
				      _mm512_fmadd_ps(av, load_w(kind, row, c, m),
						      _mm512_maskz_loadu_ps(m, y + c)));
	}
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

/* Q8_0 rows: the scales first, then the int8 values (matrix.c). */
INL __m512 TGT q8_row_w(const void *row, int64_t nb, int64_t c, __mmask16 m, float a)
{
	const int8_t *v = (const int8_t *)row + nb * 4;
	float s;

	memcpy(&s, (const char *)row + (c / ENGINE_Q8_BLOCK) * 4, sizeof(s));
	return _mm512_mul_ps(
		_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, v + c))),
		_mm512_set1_ps(s * a));
}

static float TGT dot_q8(const float *q, const void *row, int64_t n)
{
	int64_t nb = q8_blocks(n);
	__m512 acc = _mm512_setzero_ps();

	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		acc = _mm512_fmadd_ps(q8_row_w(row, nb, c, m, 1.0f),
				      _mm512_maskz_loadu_ps(m, q + c), acc);
	}
	return hsum1(acc);
}

static void TGT axpy_q8(float *y, float a, const void *row, int64_t n)
{
	int64_t nb = q8_blocks(n);

	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm512_mask_storeu_ps(
			y + c, m,
			_mm512_add_ps(q8_row_w(row, nb, c, m, a), _mm512_maskz_loadu_ps(m, y + c)));
	}
}

/* ---- conversions of n values ---- */

static void TGT f16_to_f32(float *dst, const uint16_t *src, int64_t n)
{
	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm512_mask_storeu_ps(dst + c, m,
				      _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + c)));
	}
}

static void TGT f16_from_f32(uint16_t *dst, const float *src, int64_t n)
{
	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm256_mask_storeu_epi16(
			dst + c, m,
			_mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + c),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
}

static void TGT bf16_to_f32(float *dst, const uint16_t *src, int64_t n)
{
	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm512_mask_storeu_epi32(
			dst + c, m,
			_mm512_slli_epi32(
				_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + c)), 16));
	}
}

static void TGT bf16_from_f32(uint16_t *dst, const float *src, int64_t n)
{
	for (int64_t c = 0; c < n; c += 16) {
		__mmask16 m = mask16(n - c);

		_mm256_mask_storeu_epi16(dst + c, m,
					 f32_to_bf16_16(_mm512_maskz_loadu_ps(m, src + c)));
	}
}

#define ROW_OPS                                                                                    \
	.prep_q8 = prep_q8,                                               \
	.row_dot = {                                                      \
		[ENGINE_F32] = dot_f32,                                   \
		[ENGINE_F16] = dot_f16,                                   \
		[ENGINE_BF16] = dot_bf16,                                 \
		[ENGINE_Q8_0] = dot_q8,                                   \
	},                                                                \
	.row_axpy = {                                                     \
		[ENGINE_F32] = axpy_f32,                                  \
		[ENGINE_F16] = axpy_f16,                                  \
		[ENGINE_BF16] = axpy_bf16,                                \
		[ENGINE_Q8_0] = axpy_q8,                                  \
	},                                                                \
	.to_f32 = {                                                       \
		[ENGINE_F16] = f16_to_f32,                                \
		[ENGINE_BF16] = bf16_to_f32,                              \
	},                                                                \
	.from_f32 = {                                                     \
		[ENGINE_F16] = f16_from_f32,                              \
		[ENGINE_BF16] = bf16_from_f32,                            \
	}

const struct matmul_kernels matmul_kernels_avx512 = {
	.name = "avx512",
	.rows = {
		[ENGINE_F32] = rows_f32,
		[ENGINE_F16] = rows_f16,
		[ENGINE_BF16] = rows_bf16,
		[ENGINE_Q8_0] = rows_q8,
	},
	.bf16_dot = false,
	.prep_bf16 = matmul_prep_bf16_generic,
	ROW_OPS,
};

const struct matmul_kernels matmul_kernels_avx512_bf16 = {
	.name = "avx512-bf16",
	.rows = {
		[ENGINE_F32] = rows_f32,
		[ENGINE_F16] = rows_f16,
		[ENGINE_BF16] = rows_bf16_dot,
		[ENGINE_Q8_0] = rows_q8,
	},
	.bf16_dot = true,
	.prep_bf16 = prep_bf16,
	ROW_OPS,
};

#else
/* ISO C wants a declaration in every translation unit. */
typedef int matmul_avx512_not_built;
#endif
