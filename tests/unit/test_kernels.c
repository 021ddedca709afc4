/*
 * Tests for the engine's kernels: fp16/bf16 conversions against known bit
 * patterns and the CPU's own converter, weight conversion and Q8_0
 * quantisation bounds, every dtype's matmul on every kernel set this CPU
 * has against a double-precision reference and against the generic set,
 * bit-identical results across thread counts, KV-row operations, and the
 * LLEM_NATIVE_ISA override.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/kernels.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

extern char **environ;

static const char *const isa_names[] = { "generic", "avx2", "avx512", "avx512-bf16" };
static const enum engine_dtype dtypes[] = { ENGINE_F32, ENGINE_F16, ENGINE_BF16, ENGINE_Q8_0 };
static const char *best_isa;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_u64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uniform in [-1, 1). */
static float rnd(void)
{
	return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static const char *dt_name(enum engine_dtype t)
{
	switch (t) {
	case ENGINE_F32: return "f32";
	case ENGINE_F16: return "f16";
	case ENGINE_BF16: return "bf16";
	default: return "q8_0";
	}
}

/* Selects a kernel set; false when this CPU lacks it. */
static bool use_isa(const char *name)
{
	int rc = engine_cpu_set_isa(name);

	if (rc == LLEM_ENOTSUP)
		return false;
	assert_int_equal(rc, 0);
	assert_string_equal(engine_cpu_kernel_name(), name);
	return true;
}

static int setup(void **state)
{
	(void)state;
	best_isa = engine_cpu_kernel_name();
	return 0;
}

static void restore_isa(void)
{
	assert_int_equal(engine_cpu_set_isa(best_isa), 0);
}

/* ---- conversions ---- */

static void test_f16_known_bit_patterns(void **state)
{
	(void)state;
	assert_int_equal(engine_f32_to_f16(1.0f), 0x3c00);
	assert_int_equal(engine_f32_to_f16(-2.0f), 0xc000);
	assert_int_equal(engine_f32_to_f16(0.0f), 0x0000);
	assert_int_equal(engine_f32_to_f16(-0.0f), 0x8000);
	assert_int_equal(engine_f32_to_f16(65504.0f), 0x7bff);
	assert_int_equal(engine_f32_to_f16(65519.0f), 0x7bff);
	assert_int_equal(engine_f32_to_f16(65520.0f), 0x7c00); /* tie: even */
	assert_int_equal(engine_f32_to_f16(1e9f), 0x7c00);
	assert_int_equal(engine_f32_to_f16(INFINITY), 0x7c00);
	assert_int_equal(engine_f32_to_f16(-INFINITY), 0xfc00);
	assert_int_equal(engine_f32_to_f16(ldexpf(1.0f, -14)), 0x0400);
	assert_int_equal(engine_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
	assert_int_equal(engine_f32_to_f16(ldexpf(1023.0f, -24)), 0x03ff);
	/* Ties to even, normal and subnormal. */
	assert_int_equal(engine_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
	assert_int_equal(engine_f32_to_f16(1.0f + ldexpf(3.0f, -11)), 0x3c02);
	assert_int_equal(engine_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);
	assert_int_equal(engine_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);
	assert_int_equal(engine_f32_to_f16(ldexpf(1.0f, -25) * 1.0001f), 0x0001);
	assert_int_equal(engine_f32_to_f16(ldexpf(1.0f, -30)), 0x0000);
	/* The largest subnormal rounds up into the smallest normal. */
	assert_int_equal(engine_f32_to_f16(ldexpf(2047.0f, -25)), 0x0400);
	{
		uint16_t h = engine_f32_to_f16(NAN);

		assert_int_equal(h & 0x7c00, 0x7c00);
		assert_true((h & 0x3ff) != 0);
		h = engine_f32_to_f16(bits_f32(0x7f800001)); /* low payload */
		assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
	}

	assert_true(engine_f16_to_f32(0x3c00) == 1.0f);
	assert_true(engine_f16_to_f32(0x7bff) == 65504.0f);
	assert_true(engine_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
	assert_true(engine_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
	assert_true(engine_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
	assert_true(isinf(engine_f16_to_f32(0x7c00)));
	assert_true(engine_f16_to_f32(0xfc00) < 0);
	assert_true(isnan(engine_f16_to_f32(0x7e00)));
	assert_true(isnan(engine_f16_to_f32(0x7c01)));
	assert_true(signbit(engine_f16_to_f32(0x8000)));

	/* Every finite and infinite half survives the round trip. */
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			continue;
		assert_int_equal(engine_f32_to_f16(engine_f16_to_f32((uint16_t)h)), h);
	}
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f)
{
	return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT),
					   0);
}

__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h)
{
	return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
#endif

/* The scalar converter against the CPU's F16C on a million values spread
 * over every exponent, including subnormal and overflowing results. */
static void test_f16_matches_hardware(void **state)
{
	(void)state;
#if defined(__x86_64__)
	if (!__builtin_cpu_supports("f16c"))
		skip();
	for (int i = 0; i < 1000000; i++) {
		uint32_t u = (uint32_t)next_u64();
		float f = bits_f32(u);

		/* Exponents near the half range make the test bite. */
		if (i % 2)
			f = ldexpf(rnd(), (int)(next_u64() % 46) - 28);
		if (isnan(f))
			continue;
		if (engine_f32_to_f16(f) != hw_f32_to_f16(f))
			fail_msg("f32 %a (0x%08x): got 0x%04x, F16C 0x%04x", f, f32_bits(f),
				 engine_f32_to_f16(f), hw_f32_to_f16(f));
	}
	/* Every half, NaNs included (both make them quiet). */
	for (uint32_t h = 0; h < 0x10000; h++)
		assert_int_equal(f32_bits(engine_f16_to_f32((uint16_t)h)),
				 f32_bits(hw_f16_to_f32((uint16_t)h)));
	for (uint32_t u = 0x7f800001; u < 0x80000000; u += 0x1001)
		assert_int_equal(engine_f32_to_f16(bits_f32(u)), hw_f32_to_f16(bits_f32(u)));
#else
	skip();
#endif
}

static void test_bf16_rounding_ties_to_even(void **state)
{
	(void)state;
	assert_int_equal(engine_f32_to_bf16(1.0f), 0x3f80);
	assert_int_equal(engine_f32_to_bf16(-1.0f), 0xbf80);
	/* Exactly halfway: to the even neighbour. */
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
	/* Just above or below halfway. */
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x3f817fff)), 0x3f81);
	/* Subnormals round like everything else (no flush to zero). */
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x00018000)), 0x0002);
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x00008000)), 0x0000);
	assert_int_equal(engine_f32_to_bf16(INFINITY), 0x7f80);
	assert_int_equal(engine_f32_to_bf16(-INFINITY), 0xff80);
	assert_int_equal(engine_f32_to_bf16(bits_f32(0x7f7fffff)), 0x7f80);
	/* NaN stays NaN even when its payload is only in the low bits. */
	assert_true(isnan(engine_bf16_to_f32(engine_f32_to_bf16(bits_f32(0x7f800001)))));
	assert_true(isnan(engine_bf16_to_f32(engine_f32_to_bf16(NAN))));
	assert_true(engine_bf16_to_f32(0x3f80) == 1.0f);
	assert_int_equal(f32_bits(engine_bf16_to_f32(0x1234)), 0x12340000);
	for (uint32_t b = 0; b < 0x10000; b++) {
		if ((b & 0x7f80) == 0x7f80 && (b & 0x7f))
			continue;
		assert_int_equal(engine_f32_to_bf16(engine_bf16_to_f32((uint16_t)b)), b);
	}
}

/* Values that catch rounding and special-case mistakes. */
static void fill_special(float *v, int64_t n)
{
	static const uint32_t special[] = {
		0x00000000, 0x80000000, 0x00000001, 0x00018000, 0x00800000, 0x33000000,
		0x33800001, 0x387fc000, 0x38800000, 0x3f808000, 0x3f818000, 0x3f808001,
		0x3f801000, 0x3f803000, 0x477fe000, 0x477ff000, 0x477fefff, 0x7f7fffff,
		0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc12345, 0x7fbfffff,
	};

	for (int64_t i = 0; i < n; i++) {
		if (i < (int64_t)ARRAY_SIZE(special))
			v[i] = bits_f32(special[i]);
		else if (i % 3 == 0)
			v[i] = bits_f32((uint32_t)next_u64());
		else
			v[i] = ldexpf(rnd(), (int)(next_u64() % 60) - 30);
	}
}

/* The SIMD conversions behind engine_row_store/load (also used to
 * convert weights) agree with the scalar ones bit for bit, NaNs too. */
static void test_row_conversions_bit_identical_every_isa(void **state)
{
	int64_t n = 5003;
	float *v = xmalloc((size_t)n * sizeof(float));
	float *back = xmalloc(0x10000 * sizeof(float));
	uint16_t *h = xmalloc((size_t)n * 2), *all = xmalloc(0x10000 * 2);

	(void)state;
	fill_special(v, n);
	for (uint32_t i = 0; i < 0x10000; i++)
		all[i] = (uint16_t)i;
	for (size_t i = 0; i < ARRAY_SIZE(isa_names); i++) {
		if (!use_isa(isa_names[i]))
			continue;
		/* Odd lengths and offsets exercise the vector tails. */
		engine_row_store(ENGINE_F16, h + 1, v + 1, n - 1);
		for (int64_t k = 1; k < n; k++)
			if (h[k] != engine_f32_to_f16(v[k]))
				fail_msg("%s f16 of 0x%08x: 0x%04x, scalar 0x%04x", isa_names[i],
					 f32_bits(v[k]), h[k], engine_f32_to_f16(v[k]));
		engine_row_store(ENGINE_BF16, h + 1, v + 1, n - 1);
		for (int64_t k = 1; k < n; k++)
			if (h[k] != engine_f32_to_bf16(v[k]))
				fail_msg("%s bf16 of 0x%08x: 0x%04x, scalar 0x%04x", isa_names[i],
					 f32_bits(v[k]), h[k], engine_f32_to_bf16(v[k]));
		engine_row_load(ENGINE_F16, back, all, 0x10000);
		for (uint32_t k = 0; k < 0x10000; k++)
			assert_int_equal(f32_bits(back[k]),
					 f32_bits(engine_f16_to_f32((uint16_t)k)));
		engine_row_load(ENGINE_BF16, back + 1, all + 1, 0xffff);
		for (uint32_t k = 1; k < 0x10000; k++)
			assert_int_equal(f32_bits(back[k]), k << 16);
	}
	free(v);
	free(back);
	free(h);
	free(all);
	restore_isa();
}

/* ---- matrices ---- */

static void fill(float *v, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		v[i] = rnd();
}

static void make_matrix(struct engine_matrix *m, const float *w, int64_t rows, int64_t cols,
			enum engine_dtype dt)
{
	struct engine_src_tensor src = { ENGINE_F32, w, rows, cols };

	assert_int_equal(engine_matrix_from_src(m, &src, dt), 0);
	assert_int_equal(m->rows, rows);
	assert_int_equal(m->cols, cols);
	assert_int_equal(m->dtype, dt);
	assert_int_equal((uintptr_t)m->data % 64, 0);
}

static void test_matrix_conversions_match_scalar(void **state)
{
	int64_t rows = 5, cols = 37, n = rows * cols;
	float *w = xmalloc((size_t)n * sizeof(float));
	uint16_t *h = xmalloc((size_t)n * 2), *bh = xmalloc((size_t)n * 2);
	float *row = xmalloc((size_t)cols * sizeof(float));
	struct engine_matrix m;

	(void)state;
	fill(w, n);
	w[3] = 1e-6f; /* an f16 subnormal */
	for (int64_t i = 0; i < n; i++) {
		h[i] = engine_f32_to_f16(w[i]);
		bh[i] = engine_f32_to_bf16(w[i]);
	}

	make_matrix(&m, w, rows, cols, ENGINE_F32);
	assert_memory_equal(m.data, w, (size_t)n * 4);
	assert_int_equal(m.nbytes, n * 4);
	engine_matrix_row(&m, 2, row);
	assert_memory_equal(row, w + 2 * cols, (size_t)cols * 4);
	engine_matrix_release(&m);
	assert_null(m.data);

	make_matrix(&m, w, rows, cols, ENGINE_F16);
	assert_memory_equal(m.data, h, (size_t)n * 2);
	assert_int_equal(m.nbytes, n * 2);
	engine_matrix_row(&m, 4, row);
	for (int64_t c = 0; c < cols; c++)
		assert_true(row[c] == engine_f16_to_f32(h[4 * cols + c]));
	engine_matrix_release(&m);

	make_matrix(&m, w, rows, cols, ENGINE_BF16);
	assert_memory_equal(m.data, bh, (size_t)n * 2);
	engine_matrix_release(&m);

	/* 16-bit sources: F16 -> BF16 goes through the exact fp32 value. */
	{
		struct engine_src_tensor src = { ENGINE_F16, h, rows, cols };

		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_F16), 0);
		assert_memory_equal(m.data, h, (size_t)n * 2);
		engine_matrix_release(&m);
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_BF16), 0);
		for (int64_t i = 0; i < n; i++)
			assert_int_equal(((uint16_t *)m.data)[i],
					 engine_f32_to_bf16(engine_f16_to_f32(h[i])));
		engine_matrix_release(&m);
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_F32), 0);
		for (int64_t i = 0; i < n; i++)
			assert_true(((float *)m.data)[i] == engine_f16_to_f32(h[i]));
		engine_matrix_release(&m);

		src.dtype = ENGINE_BF16;
		src.data = bh;
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_F32), 0);
		for (int64_t i = 0; i < n; i++)
			assert_true(((float *)m.data)[i] == engine_bf16_to_f32(bh[i]));
		engine_matrix_release(&m);
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_Q8_0), 0);
		engine_matrix_release(&m);
	}

	/* Bad arguments are errors, not crashes. */
	{
		struct engine_src_tensor src = { ENGINE_F32, w, rows, cols };

		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_DTYPE_NONE), LLEM_EINVAL);
		src.dtype = ENGINE_Q8_0;
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_F32), LLEM_EINVAL);
		src.dtype = ENGINE_F32;
		src.rows = 0;
		assert_int_equal(engine_matrix_from_src(&m, &src, ENGINE_F32), LLEM_EINVAL);
	}
	free(w);
	free(h);
	free(bh);
	free(row);
}

/* |x - dequantised| <= scale / 2 with scale = max|block| / 127; a zero
 * block stays zero; a short last block is handled like the others. */
static void test_q8_quantisation_error_bounds(void **state)
{
	static const int64_t colss[] = { 1, 31, 32, 33, 100, 576 };

	(void)state;
	for (size_t ci = 0; ci < ARRAY_SIZE(colss); ci++) {
		int64_t rows = 19, cols = colss[ci], n = rows * cols;
		float *w = xmalloc((size_t)n * sizeof(float));
		float *row = xmalloc((size_t)cols * sizeof(float));
		struct engine_matrix m;

		for (int64_t i = 0; i < n; i++)
			w[i] = rnd() * (float)(1 + (i % 7) * 100);
		for (int64_t c = 0; c < cols && c < 32; c++)
			w[5 * cols + c] = 0.0f; /* row 5, block 0: all zero */
		make_matrix(&m, w, rows, cols, ENGINE_Q8_0);
		for (int64_t r = 0; r < rows; r++) {
			engine_matrix_row(&m, r, row);
			for (int64_t k = 0; k * 32 < cols; k++) {
				float maxabs = 0, scale;

				for (int64_t c = k * 32; c < cols && c < k * 32 + 32; c++)
					maxabs = fmaxf(maxabs, fabsf(w[r * cols + c]));
				scale = maxabs / 127.0f;
				for (int64_t c = k * 32; c < cols && c < k * 32 + 32; c++) {
					double err = fabs((double)w[r * cols + c] - (double)row[c]);

					if (maxabs == 0.0f)
						assert_true(row[c] == 0.0f);
					if (err > scale * 0.5 * (1 + 1e-6))
						fail_msg("cols %lld r %lld c %lld: "
							 "err %g > scale/2 %g",
							 (long long)cols, (long long)r,
							 (long long)c, err, scale * 0.5);
				}
			}
		}
		engine_matrix_release(&m);
		free(w);
		free(row);
	}
}

/* ---- matmul against a double reference ---- */

struct case_data {
	int64_t rows, cols;
	int batch;
	float *x;
	struct engine_matrix m[5]; /* by dtype */
	float *wdeq[5];            /* stored weights as fp32 */
};

static void case_init(struct case_data *c, int64_t rows, int64_t cols, int batch)
{
	float *w = xmalloc((size_t)(rows * cols) * sizeof(float));

	memset(c, 0, sizeof(*c));
	c->rows = rows;
	c->cols = cols;
	c->batch = batch;
	c->x = xmalloc((size_t)(batch * cols) * sizeof(float));
	fill(w, rows * cols);
	fill(c->x, batch * cols);
	for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
		enum engine_dtype dt = dtypes[d];

		make_matrix(&c->m[dt], w, rows, cols, dt);
		c->wdeq[dt] = xmalloc((size_t)(rows * cols) * sizeof(float));
		for (int64_t r = 0; r < rows; r++)
			engine_matrix_row(&c->m[dt], r, c->wdeq[dt] + r * cols);
	}
	free(w);
}

static void case_release(struct case_data *c)
{
	for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
		engine_matrix_release(&c->m[dtypes[d]]);
		free(c->wdeq[dtypes[d]]);
	}
	free(c->x);
}

/*
 * Checks y against sum(w * x) in double over the stored weights. The
 * tolerance is a multiple of sum|w * x| (the scale of rounding errors):
 * fp32 accumulation for the exact paths; for vdpbf16ps add x's rounding
 * to bf16 (2^-9 relative); for Q8_0 add the quantisation of x, at most
 * sum over blocks of sum|w| * x_scale / 2.
 */
static void check_reference(const struct case_data *c, enum engine_dtype dt, const float *y,
			    const char *isa, bool bf16_dot)
{
	const float *w = c->wdeq[dt];

	for (int b = 0; b < c->batch; b++) {
		const float *x = c->x + b * c->cols;

		for (int64_t r = 0; r < c->rows; r++) {
			double ref = 0, mag = 0, q8 = 0, tol;
			const float *wr = w + r * c->cols;

			for (int64_t i = 0; i < c->cols; i++) {
				ref += (double)wr[i] * x[i];
				mag += fabs((double)wr[i] * x[i]);
			}
			if (dt == ENGINE_Q8_0) {
				for (int64_t k = 0; k * 32 < c->cols; k++) {
					double sw = 0, mx = 0;

					for (int64_t i = k * 32; i < c->cols && i < k * 32 + 32;
					     i++) {
						sw += fabs(wr[i]);
						mx = fmax(mx, fabs(x[i]));
					}
					q8 += sw * (mx / 127.0) * 0.5;
				}
			}
			tol = 1e-5 * mag + q8 * (1 + 1e-5) + 1e-30;
			if (bf16_dot && dt == ENGINE_BF16)
				tol = ldexp(1.0, -8) * mag + 1e-30;
			if (!(fabs(y[b * c->rows + r] - ref) <= tol))
				fail_msg("%s %s %lldx%lld batch %d: y[%d][%lld] = "
					 "%.9g, reference %.9g (tolerance %g)",
					 isa, dt_name(dt), (long long)c->rows, (long long)c->cols,
					 c->batch, b, (long long)r, y[b * c->rows + r], ref, tol);
		}
	}
}

/* y against the generic set's yg: within rtol * sum|w * x| per output. */
static void check_generic(const struct case_data *c, enum engine_dtype dt, const float *y,
			  const float *yg, const char *isa, double rtol)
{
	const float *w = c->wdeq[dt];

	for (int b = 0; b < c->batch; b++) {
		for (int64_t r = 0; r < c->rows; r++) {
			double mag = 0, d;

			for (int64_t i = 0; i < c->cols; i++)
				mag += fabs((double)w[r * c->cols + i] * c->x[b * c->cols + i]);
			d = fabs((double)y[b * c->rows + r] - yg[b * c->rows + r]);
			if (!(d <= rtol * mag + 1e-30))
				fail_msg("%s %s %lldx%lld batch %d: y[%d][%lld] "
					 "%.9g, generic %.9g",
					 isa, dt_name(dt), (long long)c->rows, (long long)c->cols,
					 c->batch, b, (long long)r, y[b * c->rows + r],
					 yg[b * c->rows + r]);
		}
	}
}

/* Each set against the reference, and against the generic set: Q8_0
 * bit for bit (integer sums, same float order), floats within tolerance
 * (BF16 with vdpbf16ps: x's rounding to bf16). */
static void test_matmul_every_isa_matches_reference(void **state)
{
	static const int64_t rowss[] = { 1, 3, 33, 257 };
	static const int64_t colss[] = { 1, 31, 32, 33, 576, 1000 };
	/* 70: F32 only, the OpenBLAS (prefill) path; the others' kernels
	 * are the same code from batch 8 up. */
	static const int batches[] = { 1, 2, 7, 32, 70 };
	struct engine_pool *pool;

	(void)state;
	assert_int_equal(engine_pool_create(&pool, 2), 0);
	for (size_t ri = 0; ri < ARRAY_SIZE(rowss); ri++) {
		for (size_t ci = 0; ci < ARRAY_SIZE(colss); ci++) {
			struct case_data c;

			case_init(&c, rowss[ri], colss[ci], 70);
			for (size_t bi = 0; bi < ARRAY_SIZE(batches); bi++) {
				size_t ny = (size_t)(batches[bi] * c.rows);
				float *yg = xmalloc(ny * sizeof(float));
				float *y = xmalloc(ny * sizeof(float));

				c.batch = batches[bi];
				for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
					enum engine_dtype dt = dtypes[d];

					if (c.batch > 32 && dt != ENGINE_F32)
						continue;
					assert_true(use_isa("generic"));
					engine_matmul(pool, yg, c.x, c.batch, &c.m[dt]);
					check_reference(&c, dt, yg, "generic", false);
					for (size_t i = 1; i < ARRAY_SIZE(isa_names); i++) {
						bool dot = i == 3;

						if (!use_isa(isa_names[i]))
							continue;
						memset(y, 0xff, ny * sizeof(float));
						engine_matmul(pool, y, c.x, c.batch, &c.m[dt]);
						check_reference(&c, dt, y, isa_names[i], dot);
						if (dt == ENGINE_Q8_0)
							assert_memory_equal(y, yg,
									    ny * sizeof(float));
						else
							check_generic(&c, dt, y, yg, isa_names[i],
								      dot && dt == ENGINE_BF16
									      ? ldexp(1.0, -8)
									      : 2e-5);
					}
				}
				free(yg);
				free(y);
			}
			case_release(&c);
		}
	}
	engine_pool_destroy(pool);
	restore_isa();
}

/* Every kernel set, every dtype: 1, 2 and 3 threads (and no pool) give
 * the same bits, including F32 at prefill batch sizes (OpenBLAS, one
 * call per fixed unit of rows). */
static void test_matmul_bit_identical_across_threads(void **state)
{
	static const int64_t shapes[][2] = {
		{ 257, 1000 }, { 33, 33 }, { 1, 64 }, { 1000, 72 }, { 100, 7 }
	};
	static const int batches[] = { 1, 7, 32, 70 };
	struct engine_pool *pools[4] = { NULL };

	(void)state;
	for (int t = 1; t <= 3; t++)
		assert_int_equal(engine_pool_create(&pools[t], t), 0);
	for (size_t s = 0; s < ARRAY_SIZE(shapes); s++) {
		struct case_data c;

		case_init(&c, shapes[s][0], shapes[s][1], 70);
		for (size_t i = 0; i < ARRAY_SIZE(isa_names); i++) {
			if (!use_isa(isa_names[i]))
				continue;
			for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
				for (size_t bi = 0; bi < ARRAY_SIZE(batches); bi++) {
					int batch = batches[bi];
					size_t ny = (size_t)(batch * c.rows);
					float *y0 = xmalloc(ny * sizeof(float));
					float *y = xmalloc(ny * sizeof(float));

					engine_matmul(NULL, y0, c.x, batch, &c.m[dtypes[d]]);
					for (int t = 1; t <= 3; t++) {
						memset(y, 0, ny * sizeof(float));
						engine_matmul(pools[t], y, c.x, batch,
							      &c.m[dtypes[d]]);
						if (memcmp(y, y0, ny * sizeof(float)))
							fail_msg("%s %s %lldx%lld batch %d: "
								 "%d threads differ",
								 isa_names[i], dt_name(dtypes[d]),
								 (long long)c.rows,
								 (long long)c.cols, batch, t);
					}
					free(y0);
					free(y);
				}
			}
		}
		case_release(&c);
	}
	for (int t = 1; t <= 3; t++)
		engine_pool_destroy(pools[t]);
	restore_isa();
}

/* A batch row's result is the same whatever else is in the batch: each
 * row of batches 2 to 32 equals that row computed alone (F32 below the
 * OpenBLAS batch), on every kernel set. */
static void check_batch_invariant(int64_t rows, int64_t cols)
{
	static const int batches[] = { 2, 5, 7, 32 };
	float *y = xmalloc((size_t)(32 * rows) * sizeof(float));
	float *y1 = xmalloc((size_t)rows * sizeof(float));
	struct case_data c;

	case_init(&c, rows, cols, 32);
	for (size_t i = 0; i < ARRAY_SIZE(isa_names); i++) {
		if (!use_isa(isa_names[i]))
			continue;
		for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
			const struct engine_matrix *m = &c.m[dtypes[d]];

			for (size_t bi = 0; bi < ARRAY_SIZE(batches); bi++) {
				int batch = batches[bi];

				engine_matmul(NULL, y, c.x, batch, m);
				for (int b = 0; b < batch; b++) {
					engine_matmul(NULL, y1, c.x + b * cols, 1, m);
					if (memcmp(y1, y + b * rows, (size_t)rows * sizeof(float)))
						fail_msg("%s %s %lld cols: row %d "
							 "of batch %d differs "
							 "from batch 1",
							 isa_names[i], dt_name(dtypes[d]),
							 (long long)cols, b, batch);
				}
			}
		}
	}
	case_release(&c);
	free(y);
	free(y1);
	restore_isa();
}

static void test_matmul_batch_invariant(void **state)
{
	(void)state;
	check_batch_invariant(300, 200);
	/* 1000 columns: 8 rows of x exceed L1, so 4x4 tiles come first. */
	check_batch_invariant(61, 1000);
}

/* A NaN in the weights or the input reaches the outputs it touches, in
 * every dtype (Q8_0 marks the block's scale NaN rather than dropping it). */
static void test_matmul_propagates_nan(void **state)
{
	int64_t rows = 20, cols = 70;
	float *w = xmalloc((size_t)(rows * cols) * sizeof(float));
	float x[70], y[20];

	(void)state;
	fill(w, rows * cols);
	fill(x, cols);
	w[3 * cols + 40] = NAN;
	for (size_t i = 0; i < ARRAY_SIZE(isa_names); i++) {
		if (!use_isa(isa_names[i]))
			continue;
		for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
			struct engine_matrix m;

			make_matrix(&m, w, rows, cols, dtypes[d]);
			engine_matmul(NULL, y, x, 1, &m);
			for (int64_t r = 0; r < rows; r++)
				assert_true(r == 3 ? isnan(y[r]) : isfinite(y[r]));
			x[5] = NAN;
			engine_matmul(NULL, y, x, 1, &m);
			for (int64_t r = 0; r < rows; r++)
				assert_true(isnan(y[r]));
			x[5] = 0.5f;
			engine_matrix_release(&m);
		}
	}
	free(w);
	restore_isa();
}

/* ---- KV-cache rows ---- */

static void test_row_ops_round_trip_dot_axpy(void **state)
{
	static const int64_t ns[] = { 1, 7, 31, 32, 33, 64, 100, 128 };

	(void)state;
	for (size_t ni = 0; ni < ARRAY_SIZE(ns); ni++) {
		int64_t n = ns[ni];
		float *v = xmalloc((size_t)n * sizeof(float));
		float *back = xmalloc((size_t)n * sizeof(float));
		float *q = xmalloc((size_t)n * sizeof(float));
		float *y = xmalloc((size_t)n * sizeof(float));
		float *y0 = xmalloc((size_t)n * sizeof(float));
		/* Rows in a cache need not be 64-byte aligned: element size
		 * for the float types, any address for Q8_0. */
		char *base = xmalloc(engine_row_bytes(ENGINE_F32, n) + 4);
		char *row;

		fill(v, n);
		fill(q, n);
		fill(y0, n);
		assert_int_equal(engine_row_bytes(ENGINE_F32, n), n * 4);
		assert_int_equal(engine_row_bytes(ENGINE_F16, n), n * 2);
		assert_int_equal(engine_row_bytes(ENGINE_BF16, n), n * 2);
		assert_int_equal(engine_row_bytes(ENGINE_Q8_0, n), n + (n + 31) / 32 * 4);
		for (size_t d = 0; d < ARRAY_SIZE(dtypes); d++) {
			enum engine_dtype dt = dtypes[d];
			double ref = 0, mag = 0;

			row = base + (dt == ENGINE_Q8_0 ? 1 : 4);
			engine_row_store(dt, row, v, n);
			engine_row_load(dt, back, row, n);
			for (int64_t i = 0; i < n; i++) {
				switch (dt) {
				case ENGINE_F32: assert_true(back[i] == v[i]); break;
				case ENGINE_F16:
					assert_true(back[i] ==
						    engine_f16_to_f32(engine_f32_to_f16(v[i])));
					break;
				case ENGINE_BF16:
					assert_true(back[i] ==
						    engine_bf16_to_f32(engine_f32_to_bf16(v[i])));
					break;
				default: {
					float mx = 0;

					for (int64_t j = i / 32 * 32; j < n && j < i / 32 * 32 + 32;
					     j++)
						mx = fmaxf(mx, fabsf(v[j]));
					assert_true(fabsf(back[i] - v[i]) <=
						    mx / 127.0f * 0.5f * 1.000001f);
				}
				}
				ref += (double)back[i] * q[i];
				mag += fabs((double)back[i] * q[i]);
			}
			for (size_t i = 0; i < ARRAY_SIZE(isa_names); i++) {
				float dot;

				if (!use_isa(isa_names[i]))
					continue;
				dot = engine_row_dot(dt, q, row, n);
				if (!(fabs(dot - ref) <= 1e-5 * mag + 1e-30))
					fail_msg("%s %s n=%lld dot %.9g ref %.9g", isa_names[i],
						 dt_name(dt), (long long)n, dot, ref);
				memcpy(y, y0, (size_t)n * sizeof(float));
				engine_row_axpy(dt, y, 0.375f, row, n);
				for (int64_t j = 0; j < n; j++) {
					double e = (double)y0[j] + 0.375 * back[j];

					assert_true(fabs(y[j] - e) <=
						    1e-6 * (fabs(y0[j]) + fabs(back[j])));
				}
			}
		}
		free(base);
		free(v);
		free(back);
		free(q);
		free(y);
		free(y0);
	}
	restore_isa();
}

/* ---- CPU features and the override ---- */

static void test_cpu_features_and_isa_selection(void **state)
{
	const struct engine_cpu *c = engine_cpu();

	(void)state;
	assert_int_equal(engine_cpu_set_isa("sse9"), LLEM_EINVAL);
	assert_true(use_isa("generic"));
	assert_false(c->avx2 || c->fma || c->avx512f || c->avx512_bf16);
	restore_isa();
#if defined(__x86_64__)
	/* What we detect agrees with the compiler's own cpuid probe. */
	if (strcmp(best_isa, "generic") != 0) {
		assert_true(__builtin_cpu_supports("avx2"));
		assert_true(__builtin_cpu_supports("fma"));
	}
	if (strncmp(best_isa, "avx512", 6) == 0) {
		assert_true(__builtin_cpu_supports("avx512f"));
		assert_true(__builtin_cpu_supports("avx512vnni"));
		assert_true(c->avx512f && c->avx512bw && c->avx512vl);
	}
#endif
}

/* Runs this test binary with LLEM_NATIVE_ISA set; it prints the kernel
 * set it picked (see main). */
static char *kernel_name_with_env(const char *value)
{
	char var[64], *envp[2] = { var, NULL };
	char *argv[3] = { NULL, "--print-kernel-set", NULL };
	char exe[4096], buf[64] = { 0 };
	posix_spawn_file_actions_t fa;
	int fds[2], status;
	ssize_t len, got = 0;
	pid_t pid;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	argv[0] = exe;
	snprintf(var, sizeof(var), "LLEM_NATIVE_ISA=%s", value);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fds[1], 1), 0);
	assert_int_equal(posix_spawn_file_actions_addclose(&fa, fds[0]), 0);
	assert_int_equal(posix_spawn(&pid, exe, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	while ((len = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += len;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	buf[strcspn(buf, "\n")] = '\0';
	return xstrdup(buf);
}

static void test_native_isa_env_override(void **state)
{
	char *best, *s;

	(void)state;
	/* Empty: the best set the hardware has (this process may itself
	 * run under an override). */
	best = kernel_name_with_env("");
	s = kernel_name_with_env("generic");
	assert_string_equal(s, "generic");
	free(s);
	s = kernel_name_with_env("avx2");
	assert_string_equal(s, strcmp(best, "generic") ? "avx2" : "generic");
	free(s);
	/* Unknown values and levels above the CPU's keep the best set. */
	s = kernel_name_with_env("bogus");
	assert_string_equal(s, best);
	free(s);
	s = kernel_name_with_env("avx512-bf16");
	assert_string_equal(s, best);
	free(s);
	free(best);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f16_known_bit_patterns),
		cmocka_unit_test(test_f16_matches_hardware),
		cmocka_unit_test(test_bf16_rounding_ties_to_even),
		cmocka_unit_test(test_row_conversions_bit_identical_every_isa),
		cmocka_unit_test(test_matrix_conversions_match_scalar),
		cmocka_unit_test(test_q8_quantisation_error_bounds),
		cmocka_unit_test(test_matmul_every_isa_matches_reference),
		cmocka_unit_test(test_matmul_bit_identical_across_threads),
		cmocka_unit_test(test_matmul_batch_invariant),
		cmocka_unit_test(test_matmul_propagates_nan),
		cmocka_unit_test(test_row_ops_round_trip_dot_axpy),
		cmocka_unit_test(test_cpu_features_and_isa_selection),
		cmocka_unit_test(test_native_isa_env_override),
	};

	if (argc == 2 && strcmp(argv[1], "--print-kernel-set") == 0) {
		printf("%s\n", engine_cpu_kernel_name());
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, NULL);
}
