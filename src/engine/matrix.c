/*
 * Weight matrices in their compute type (converted once at load from the
 * stored tensor) and vectors in a storage type (KV-cache rows): layouts,
 * conversion and quantisation. The matmul kernels read what this writes.
 */
#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(enum engine_dtype t)
{
	switch (t) {
	case ENGINE_F32: return 4;
	case ENGINE_F16:
	case ENGINE_BF16: return 2;
	default: return 0;
	}
}

static void *aligned_alloc64(size_t bytes)
{
	void *p = NULL;
	int rc = posix_memalign(&p, 64, bytes ? bytes : 64);

	if (rc != 0) {
		errno = rc;
		return NULL;
	}
	return p;
}

float q8_quantise_block(const float *x, int n, int8_t *q)
{
	float maxabs = 0.0f, scale;
	bool finite = true;

	for (int i = 0; i < n; i++) {
		float a = fabsf(x[i]);

		finite = finite && isfinite(a);
		if (a > maxabs)
			maxabs = a;
	}
	/* A non-finite value has no int8 form: the block becomes zeros
	 * with a NaN scale, so the NaN reaches every output it touches, as
	 * it would in fp32, instead of vanishing. */
	if (!finite) {
		memset(q, 0, (size_t)n);
		return NAN;
	}
	scale = maxabs / 127.0f;
	if (!(scale > 0.0f)) {
		memset(q, 0, (size_t)n);
		return 0.0f;
	}
	for (int i = 0; i < n; i++) {
		float v = nearbyintf(x[i] / scale);

		v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
		q[i] = (int8_t)v;
	}
	return scale;
}

/* Source row r as fp32, whatever the source type. */
static void src_row_f32(const struct engine_src_tensor *src, int64_t r, float *out)
{
	int64_t n = src->cols;

	if (src->dtype == ENGINE_F32)
		memcpy(out, (const float *)src->data + r * n, (size_t)n * sizeof(float));
	else
		matmul_kernels()->to_f32[src->dtype](out, (const uint16_t *)src->data + r * n, n);
}

static void convert_plain(struct engine_matrix *m, const struct engine_src_tensor *src, float *tmp)
{
	int64_t n = m->cols;

	if (src->dtype == m->dtype) {
		memcpy(m->data, src->data, m->nbytes);
		return;
	}
	for (int64_t r = 0; r < m->rows; r++) {
		src_row_f32(src, r, tmp);
		engine_row_store(m->dtype, (char *)m->data + (size_t)(r * n) * dtype_size(m->dtype),
				 tmp, n);
	}
}

/* Rows are quantised into a plain int8 row, then scattered into the
 * packed tiles 4 bytes (one step of one row) at a time. */
static void convert_q8(struct engine_matrix *m, const struct engine_src_tensor *src, float *tmp)
{
	int64_t nb = q8_blocks(m->cols), ngroups = q8_groups(m->rows);
	uint8_t *data = m->data;
	uint8_t *row = xcalloc((size_t)(nb * ENGINE_Q8_BLOCK), 1);

	/* Padding rows and columns: q = 0 (stored 128), scale 0. */
	memset(data, 128, (size_t)(ngroups * nb * Q8_TILE));
	memset(m->scales, 0, (size_t)(ngroups * nb * Q8_GROUP) * sizeof(float));
	for (int64_t r = 0; r < m->rows; r++) {
		src_row_f32(src, r, tmp);
		memset(row, 0, (size_t)(nb * ENGINE_Q8_BLOCK));
		for (int64_t k = 0; k < nb; k++) {
			int64_t c0 = k * ENGINE_Q8_BLOCK;
			int n = (int)(m->cols - c0 < ENGINE_Q8_BLOCK ? m->cols - c0
								     : ENGINE_Q8_BLOCK);

			m->scales[((r / Q8_GROUP) * nb + k) * Q8_GROUP + r % Q8_GROUP] =
				q8_quantise_block(tmp + c0, n, (int8_t *)row + c0);
		}
		for (int64_t c = 0; c < nb * ENGINE_Q8_BLOCK; c++)
			row[c] ^= 0x80; /* q + 128 as two's complement */
		for (int64_t c = 0; c < nb * ENGINE_Q8_BLOCK; c += 4)
			memcpy(data + q8_offset(r, c, nb), row + c, 4);
	}
	free(row);
}

int engine_matrix_from_src(struct engine_matrix *out, const struct engine_src_tensor *src,
			   enum engine_dtype dtype)
{
	struct engine_matrix m = { .dtype = dtype };
	size_t data_bytes, scale_bytes = 0;
	float *tmp;

	memset(out, 0, sizeof(*out));
	if (!src || !src->data || src->rows <= 0 || src->cols <= 0)
		return error_set(LLEM_EINVAL, "matrix: empty source tensor");
	if (!dtype_size(src->dtype))
		return error_set(LLEM_EINVAL,
				 "matrix: source type must be F32, F16 or "
				 "BF16 (got %d)",
				 (int)src->dtype);
	if (dtype != ENGINE_Q8_0 && !dtype_size(dtype))
		return error_set(LLEM_EINVAL,
				 "matrix: target type must be F32, F16, BF16 "
				 "or Q8_0 (got %d)",
				 (int)dtype);
	if (src->rows > INT32_MAX || src->cols > INT32_MAX)
		return error_set(LLEM_EINVAL, "matrix: %lld x %lld is too large",
				 (long long)src->rows, (long long)src->cols);
	m.rows = src->rows;
	m.cols = src->cols;
	if (dtype == ENGINE_Q8_0) {
		int64_t tiles = q8_groups(m.rows) * q8_blocks(m.cols);

		data_bytes = (size_t)(tiles * Q8_TILE);
		scale_bytes = (size_t)(tiles * Q8_GROUP) * sizeof(float);
	} else {
		data_bytes = (size_t)(m.rows * m.cols) * dtype_size(dtype);
	}
	m.data = aligned_alloc64(data_bytes);
	if (!m.data)
		return error_set_errno(LLEM_ERROR, "matrix: allocating %zu bytes", data_bytes);
	if (scale_bytes) {
		m.scales = aligned_alloc64(scale_bytes);
		if (!m.scales) {
			free(m.data);
			return error_set_errno(LLEM_ERROR, "matrix: allocating %zu bytes",
					       scale_bytes);
		}
	}
	m.nbytes = data_bytes + scale_bytes;
	tmp = xmalloc((size_t)m.cols * sizeof(float));
	if (dtype == ENGINE_Q8_0)
		convert_q8(&m, src, tmp);
	else
		convert_plain(&m, src, tmp);
	free(tmp);
	*out = m;
	return 0;
}

void engine_matrix_release(struct engine_matrix *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->scales);
	memset(m, 0, sizeof(*m));
}

void engine_matrix_row(const struct engine_matrix *m, int64_t r, float *out)
{
	int64_t n = m->cols;

	if (m->dtype == ENGINE_Q8_0) {
		int64_t nb = q8_blocks(n);
		const uint8_t *data = m->data;
		const float *s = m->scales + (r / Q8_GROUP) * nb * Q8_GROUP + r % Q8_GROUP;

		for (int64_t c = 0; c < n; c++) {
			int q = (int)data[q8_offset(r, c, nb)] - 128;

			out[c] = (float)q * s[(c / ENGINE_Q8_BLOCK) * Q8_GROUP];
		}
		return;
	}
	engine_row_load(m->dtype, out,
			(const char *)m->data + (size_t)(r * n) * dtype_size(m->dtype), n);
}

/* ---- KV-cache rows ----
 * F32/F16/BF16: n values. Q8_0: ceil(n/32) fp32 scales, then n int8
 * values; the scales are copied with memcpy since a row need not be
 * 4-byte aligned. */

size_t engine_row_bytes(enum engine_dtype dtype, int64_t n)
{
	if (dtype == ENGINE_Q8_0)
		return (size_t)n + (size_t)q8_blocks(n) * sizeof(float);
	return (size_t)n * dtype_size(dtype);
}

void engine_row_store(enum engine_dtype dtype, void *dst, const float *src, int64_t n)
{
	switch (dtype) {
	case ENGINE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
	case ENGINE_F16:
	case ENGINE_BF16: matmul_kernels()->from_f32[dtype](dst, src, n); break;
	case ENGINE_Q8_0: {
		int64_t nb = q8_blocks(n);
		int8_t *q = (int8_t *)dst + nb * (int64_t)sizeof(float);

		for (int64_t k = 0; k < nb; k++) {
			int64_t c0 = k * ENGINE_Q8_BLOCK;
			int len = (int)(n - c0 < ENGINE_Q8_BLOCK ? n - c0 : ENGINE_Q8_BLOCK);
			float s = q8_quantise_block(src + c0, len, q + c0);

			memcpy((char *)dst + k * (int64_t)sizeof(float), &s, sizeof(s));
		}
		break;
	}
	default: break;
	}
}

void engine_row_load(enum engine_dtype dtype, float *dst, const void *src, int64_t n)
{
	switch (dtype) {
	case ENGINE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
	case ENGINE_F16:
	case ENGINE_BF16: matmul_kernels()->to_f32[dtype](dst, src, n); break;
	case ENGINE_Q8_0: {
		int64_t nb = q8_blocks(n);
		const int8_t *q = (const int8_t *)src + nb * (int64_t)sizeof(float);

		for (int64_t k = 0; k < nb; k++) {
			float s;

			memcpy(&s, (const char *)src + k * (int64_t)sizeof(float), sizeof(s));
			for (int64_t c = k * ENGINE_Q8_BLOCK;
			     c < n && c < (k + 1) * ENGINE_Q8_BLOCK; c++)
				dst[c] = (float)q[c] * s;
		}
		break;
	}
	default: break;
	}
}

static bool row_dtype_ok(enum engine_dtype dtype)
{
	return dtype >= ENGINE_F32 && dtype <= ENGINE_Q8_0;
}

float engine_row_dot(enum engine_dtype dtype, const float *q, const void *row, int64_t n)
{
	if (!row_dtype_ok(dtype))
		return 0.0f;
	return matmul_kernels()->row_dot[dtype](q, row, n);
}

void engine_row_axpy(enum engine_dtype dtype, float *y, float a, const void *row, int64_t n)
{
	if (!row_dtype_ok(dtype))
		return;
	matmul_kernels()->row_axpy[dtype](y, a, row, n);
}
