/*
 * Engine internals: the thread pool, CPU feature detection, weight
 * matrices in every storage type and the matrix-multiply kernels that read
 * them. Private to src/engine (the layer's public header is engine.h).
 *
 * Matrices are row-major [rows][cols] with rows = output features (as
 * nn.Linear stores them). matmul computes y[b][r] = sum_c x[b][c] * W[r][c]
 * for every batch row b, reading each weight once per call whatever the
 * batch size, and accumulating in fp32.
 */
#ifndef LLEM_ENGINE_KERNELS_H
#define LLEM_ENGINE_KERNELS_H

#include "engine/engine.h"

/* ---- thread pool (threadpool.c) ---- */

/*
 * A fixed pool: nthreads - 1 worker threads created once; the calling
 * thread is thread 0. pool_run calls fn(arg, tid, nthreads) on every
 * thread and returns when all have finished. No per-call thread creation.
 * A NULL pool is a pool of one (fn runs on the caller). pool_run is not
 * reentrant: fn must not call it on the same pool.
 */
struct engine_pool;
int engine_pool_create(struct engine_pool **out, int nthreads);
void engine_pool_destroy(struct engine_pool *pool);
int engine_pool_threads(const struct engine_pool *pool);
void engine_pool_run(struct engine_pool *pool, void (*fn)(void *arg, int tid, int nthreads),
		     void *arg);
/*
 * A 64-byte aligned buffer of at least bytes, owned by the pool and
 * reused: valid until the next call or engine_pool_destroy. Only the
 * thread that calls engine_pool_run may ask for it (matmul keeps its
 * prepared input there).
 */
void *engine_pool_scratch(struct engine_pool *pool, size_t bytes);

/* ---- CPU features (cpu_features.c) ---- */

struct engine_cpu {
	bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512_bf16, avx512_vnni;
};
/* Detected once. LLEM_NATIVE_ISA=generic forces the portable kernels
 * (tests compare every path against it); =avx2, =avx512 cap the choice. */
const struct engine_cpu *engine_cpu(void);
/* "avx512-bf16", "avx512", "avx2", "generic": the kernel set in use. */
const char *engine_cpu_kernel_name(void);
/*
 * Switches the kernel set (one of the names above) for tests and
 * benchmarks; LLEM_ENOTSUP when this CPU lacks it, LLEM_EINVAL for an
 * unknown name. Not safe while another thread runs kernels.
 */
int engine_cpu_set_isa(const char *name);

/* ---- scalar conversions (convert.c) ---- */
float engine_f16_to_f32(uint16_t h);
uint16_t engine_f32_to_f16(float f); /* round to nearest even */
float engine_bf16_to_f32(uint16_t b);
uint16_t engine_f32_to_bf16(float f); /* round to nearest even, NaN kept */

/* ---- matrices (matrix.c) ---- */

/*
 * F32/F16/BF16: data is plain row-major [rows][cols]. Q8_0: data and
 * scales are packed for the kernels (rows padded to 16, columns to 32;
 * see matmul_impl.h): read rows with engine_matrix_row.
 */
struct engine_matrix {
	enum engine_dtype dtype; /* F32, F16, BF16 or Q8_0 */
	int64_t rows, cols;
	void *data;    /* 64-byte aligned, owned */
	float *scales; /* Q8_0: ceil(rows / 16) * 16 *
			* ceil(cols / 32) scales, owned */
	size_t nbytes; /* data + scales: the bytes a matmul reads */
};

/*
 * Converts a source tensor (F32/F16/BF16) into a matrix of dtype, e.g.
 * bf16 -> q8_0: each row in blocks of 32 (the last may be shorter), scale
 * = max|x| / 127, values rounded to nearest even (an all-zero block has
 * scale 0; a block holding inf or NaN becomes zeros with a NaN scale).
 * F16/BF16 targets round to nearest even. LLEM_EINVAL on bad arguments.
 */
int engine_matrix_from_src(struct engine_matrix *out, const struct engine_src_tensor *src,
			   enum engine_dtype dtype);
void engine_matrix_release(struct engine_matrix *m);
/* Row r dequantised to fp32 (embedding lookup). */
void engine_matrix_row(const struct engine_matrix *m, int64_t r, float *out);

/*
 * y[batch][rows] = x[batch][cols] . W^T, on the pool (NULL: the calling
 * thread alone). y must not overlap x. Each output is computed by one
 * thread in a fixed order, so results are bit-identical for any thread
 * count. Accuracy (docs/engine-kernels.md): F32/F16 and BF16 without
 * AVX512-BF16 are fp32 dot products; BF16 with AVX512-BF16 rounds x to
 * bf16 once per call (error <= 2^-9 * sum|w*x|, as a bf16 model's own
 * activations would be); Q8_0 quantises x per block of 32 to int8 like
 * the weights and sums exactly in integers, identically on every ISA.
 */
void engine_matmul(struct engine_pool *pool, float *y, const float *x, int batch,
		   const struct engine_matrix *w);

/* ---- vectors in a storage type (KV cache rows) ---- */

/* Bytes one row of n elements takes in dtype (Q8_0: ceil(n/32) blocks,
 * each up to 32 int8 values and one fp32 scale; stored as the scales,
 * then the n values). Rows must be aligned to their element size (Q8_0:
 * any address). */
size_t engine_row_bytes(enum engine_dtype dtype, int64_t n);
void engine_row_store(enum engine_dtype dtype, void *dst, const float *src, int64_t n);
void engine_row_load(enum engine_dtype dtype, float *dst, const void *src, int64_t n);
/* dot(q, row) with row in dtype. */
float engine_row_dot(enum engine_dtype dtype, const float *q, const void *row, int64_t n);
/* y += a * row, with row in dtype. */
void engine_row_axpy(enum engine_dtype dtype, float *y, float a, const void *row, int64_t n);

/* ---- attention (attention.c) ---- */

/*
 * Causal attention of one position for `group` query heads sharing one KV
 * head: q is group x hd; cached K and V rows for positions 0..npos-1 start
 * at k0 and v0, stride bytes apart, in kvt. Writes group x hd to out.
 * scores (group x npos) and row (hd) are scratch.
 */
void engine_attend(enum engine_dtype kvt, const float *q, int group, int hd, const uint8_t *k0,
		   const uint8_t *v0, size_t stride, int npos, float scale, float *scores,
		   float *row, float *out);

#endif
