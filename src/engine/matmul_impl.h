/*
 * What the matmul kernels share, private to matrix.c, matmul*.c and
 * cpu_features.c: the packed Q8_0 layout, the prepared input, and one
 * table of kernels per instruction set.
 *
 * Q8_0 matrices are packed for the integer dot product (vpdpbusd): rows
 * in groups of 16, columns in blocks of 32, and within a (group, block)
 * tile of 512 bytes, 8 steps of 4 columns, each step holding those 4
 * bytes for the 16 rows in order. So one 64-byte load gives 4 columns of
 * 16 rows and the input is broadcast 4 bytes at a time: 16 rows reduce
 * in the lanes, with no horizontal sums. Values are stored as q + 128
 * (uint8: vpdpbusd multiplies unsigned by signed); a padded row or
 * column holds q = 0. Scales are [group][block][16 rows] fp32. Only this
 * file's users know the layout; everything else goes through
 * engine_matrix_row.
 */
#ifndef LLEM_ENGINE_MATMUL_IMPL_H
#define LLEM_ENGINE_MATMUL_IMPL_H

#include "engine/kernels.h"

#define Q8_GROUP 16                          /* rows per packed group */
#define Q8_TILE (Q8_GROUP * ENGINE_Q8_BLOCK) /* bytes per (group, block) */

static inline int64_t q8_blocks(int64_t cols)
{
	return (cols + ENGINE_Q8_BLOCK - 1) / ENGINE_Q8_BLOCK;
}

static inline int64_t q8_groups(int64_t rows)
{
	return (rows + Q8_GROUP - 1) / Q8_GROUP;
}

/* Byte offset of W[r][c] in packed Q8_0 data with nb blocks per row. */
static inline size_t q8_offset(int64_t r, int64_t c, int64_t nb)
{
	int64_t g = r / Q8_GROUP, i = r % Q8_GROUP;
	int64_t k = c / ENGINE_Q8_BLOCK, s = (c % ENGINE_Q8_BLOCK) / 4;

	return (size_t)((g * nb + k) * Q8_TILE + s * 4 * Q8_GROUP + i * 4 + c % 4);
}

/*
 * The input after its once-per-call preparation:
 *  - Q8_0: every batch row quantised in blocks of 32 (scale = max|x| /
 *    127, q = x / scale rounded to nearest even), padded with zeros,
 *    block-major so that one block of every batch row is contiguous:
 *    xq[k][b][32], xscale[k][b], and xsum[k][b] = -128 * sum(q), which
 *    undoes the +128 of the weights.
 *  - BF16 with vdpbf16ps: x rounded to bf16, padded with zeros to a
 *    multiple of 32 columns.
 *  - otherwise x is used as it is.
 */
struct matmul_prep {
	int8_t *xq;    /* [nb][batch][32] */
	float *xscale; /* [nb][batch] */
	int32_t *xsum; /* [nb][batch] */
	uint16_t *xbf; /* [batch][ld] */
	int64_t ld;    /* xbf: columns padded to a multiple of 32 */
};

struct matmul_args {
	float *y;       /* [batch][w->rows] */
	const float *x; /* [batch][w->cols] */
	int batch;
	const struct engine_matrix *w;
	struct matmul_prep p;
};

/* Computes y[b][r] for rows [r0, r1) and every b. r0 is a multiple of
 * Q8_GROUP; each output is computed the same way whichever rows share
 * the call, so results do not depend on how rows are split. */
typedef void (*matmul_rows_fn)(const struct matmul_args *a, int64_t r0, int64_t r1);

struct matmul_kernels {
	const char *name;
	matmul_rows_fn rows[5]; /* by enum engine_dtype; F32 may be
				 * NULL: OpenBLAS does it */
	bool bf16_dot;          /* BF16 wants p.xbf (vdpbf16ps) */
	/* Batch rows [b0, b1) of x into p (Q8_0 or xbf). Every kernel set
	 * gives the same bytes. */
	void (*prep_q8)(const struct matmul_args *a, int b0, int b1);
	void (*prep_bf16)(const struct matmul_args *a, int b0, int b1);
	float (*row_dot[5])(const float *q, const void *row, int64_t n);
	void (*row_axpy[5])(float *y, float a, const void *row, int64_t n);
	/* F16/BF16 <-> fp32, bit-identical to the scalar conversions. */
	void (*to_f32[5])(float *dst, const uint16_t *src, int64_t n);
	void (*from_f32[5])(uint16_t *dst, const float *src, int64_t n);
};

extern const struct matmul_kernels matmul_kernels_generic;
#if defined(__x86_64__)
extern const struct matmul_kernels matmul_kernels_avx2;
extern const struct matmul_kernels matmul_kernels_avx512;
extern const struct matmul_kernels matmul_kernels_avx512_bf16;
#endif

/* The set chosen by cpu_features.c (detected, LLEM_NATIVE_ISA, tests). */
const struct matmul_kernels *matmul_kernels(void);

/* Generic pieces the SIMD sets reuse. */
void matmul_prep_q8_generic(const struct matmul_args *a, int b0, int b1);
void matmul_prep_bf16_generic(const struct matmul_args *a, int b0, int b1);
void matmul_rows_f32_generic(const struct matmul_args *a, int64_t r0, int64_t r1);
float row_dot_q8_generic(const float *q, const void *row, int64_t n);
void row_axpy_q8_generic(float *y, float a, const void *row, int64_t n);
void f16_to_f32_generic(float *dst, const uint16_t *src, int64_t n);
void f16_from_f32_generic(uint16_t *dst, const float *src, int64_t n);
void bf16_to_f32_generic(float *dst, const uint16_t *src, int64_t n);
void bf16_from_f32_generic(uint16_t *dst, const float *src, int64_t n);

/* Q8_0 quantisation of one block of n <= 32 values: the rule shared by
 * weights, inputs and KV rows. Returns the scale. */
float q8_quantise_block(const float *x, int n, int8_t *q);

#endif
