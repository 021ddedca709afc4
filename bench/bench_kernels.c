/*
 * Kernel benchmark: memory-read bandwidth, matmul speed per dtype at the
 * shapes of SmolLM-135M, OpenBLAS's large sgemm and the pool's per-call
 * overhead. The matmul weights are cycled through enough copies to
 * exceed the L3, as in a real decode step, so batch 1 is memory-bound.
 *
 *   bench_kernels [--isa NAME] [--quick]
 */
#include "bench_common.h"
#include "engine/kernels.h"
#include "engine/matmul_impl.h"
#include "util/util.h"

#include <cblas.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLD_BYTES (160ull << 20) /* weights cycled per config: 5x L3 */

static double min_seconds = 0.3;

static double now_s(void)
{
	return (double)clock_monotonic_ns() * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ---- a second bandwidth probe ---- */

/*
 * The same 512 MiB sum as bench_read_bandwidth_gbs, on the engine's pool
 * with 256-bit loads and a prefetch 1 KiB ahead (AVX2 where there is
 * one): closer to what a streaming kernel can expect. %bw uses the
 * higher of the two.
 */
#define PROBE_BYTES ((size_t)512 << 20)

struct probe_job {
	const uint64_t *buf;
	size_t n;
	uint64_t sums[64];
};

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t probe_avx2(const uint64_t *p, size_t n)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	uint64_t out[4];

	for (size_t i = 0; i + 16 <= n; i += 16) {
		_mm_prefetch((const char *)(p + i) + 1024, _MM_HINT_T1);
		s0 = _mm256_add_epi64(s0, _mm256_load_si256((const void *)(p + i)));
		s1 = _mm256_add_epi64(s1, _mm256_load_si256((const void *)(p + i + 4)));
		s2 = _mm256_add_epi64(s2, _mm256_load_si256((const void *)(p + i + 8)));
		s3 = _mm256_add_epi64(s3, _mm256_load_si256((const void *)(p + i + 12)));
	}
	s0 = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
	_mm256_storeu_si256((void *)out, s0);
	return out[0] + out[1] + out[2] + out[3];
}
#endif

static void probe_worker(void *arg, int tid, int nthreads)
{
	struct probe_job *j = arg;
	size_t i0 = j->n * (size_t)tid / (size_t)nthreads / 16 * 16;
	size_t i1 = j->n * (size_t)(tid + 1) / (size_t)nthreads / 16 * 16;
	uint64_t s[8] = { 0 };

#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		j->sums[tid] = probe_avx2(j->buf + i0, i1 - i0);
		return;
	}
#endif
	for (size_t i = i0; i < i1; i += 8)
		for (int l = 0; l < 8; l++)
			s[l] += j->buf[i + l];
	j->sums[tid] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static double bench_stream_probe(int nthreads)
{
	struct engine_pool *pool;
	struct probe_job j = { 0 };
	uint64_t *buf;
	double best = 0;

	if (engine_pool_create(&pool, nthreads) != 0 ||
	    posix_memalign((void **)&buf, 64, PROBE_BYTES) != 0)
		abort();
	memset(buf, 1, PROBE_BYTES);
	j.buf = buf;
	j.n = PROBE_BYTES / sizeof(uint64_t);
	for (int rep = 0; rep < 6; rep++) {
		double t0 = now_s(), gbs;

		engine_pool_run(pool, probe_worker, &j);
		gbs = (double)PROBE_BYTES / (now_s() - t0) / 1e9;
		if (gbs > best)
			best = gbs;
	}
	engine_pool_destroy(pool);
	free(buf);
	return best;
}

/* ---- pool overhead ---- */

static atomic_int pool_counter;

static void empty_worker(void *arg, int tid, int nthreads)
{
	(void)arg;
	(void)tid;
	(void)nthreads;
	atomic_fetch_add_explicit(&pool_counter, 1, memory_order_relaxed);
}

static double bench_pool(int nthreads)
{
	struct engine_pool *pool;
	int calls = 200000;
	double t0;

	if (engine_pool_create(&pool, nthreads) != 0)
		return 0;
	for (int i = 0; i < 1000; i++)
		engine_pool_run(pool, empty_worker, NULL);
	t0 = now_s();
	for (int i = 0; i < calls; i++)
		engine_pool_run(pool, empty_worker, NULL);
	t0 = (now_s() - t0) / calls;
	engine_pool_destroy(pool);
	return t0 * 1e6;
}

/* ---- matmul ---- */

struct copies {
	struct engine_matrix *m;
	int n;
};

static int make_copies(struct copies *c, const struct engine_src_tensor *src, enum engine_dtype dt)
{
	struct engine_matrix first;
	size_t data_bytes;

	if (engine_matrix_from_src(&first, src, dt) != 0)
		return -1;
	c->n = (int)(COLD_BYTES / first.nbytes) + 1;
	if (c->n > 512)
		c->n = 512;
	c->m = xcalloc((size_t)c->n, sizeof(*c->m));
	data_bytes = first.nbytes;
	if (first.scales)
		data_bytes = (size_t)(q8_groups(first.rows) * q8_blocks(first.cols) * Q8_TILE);
	c->m[0] = first;
	for (int i = 1; i < c->n; i++) {
		c->m[i] = first;
		if (posix_memalign(&c->m[i].data, 64, data_bytes) != 0)
			abort();
		memcpy(c->m[i].data, first.data, data_bytes);
		if (first.scales) {
			size_t sb = first.nbytes - data_bytes;

			if (posix_memalign((void **)&c->m[i].scales, 64, sb) != 0)
				abort();
			memcpy(c->m[i].scales, first.scales, sb);
		}
	}
	return 0;
}

static void free_copies(struct copies *c)
{
	for (int i = 0; i < c->n; i++)
		engine_matrix_release(&c->m[i]);
	free(c->m);
}

struct result {
	double us, gbs, gflops;
};

static struct result bench_matmul(struct engine_pool *pool, const struct copies *c, int batch,
				  const float *x, float *y)
{
	const struct engine_matrix *m = &c->m[0];
	struct result r;
	long iters = 0;
	double t0, t;

	for (int i = 0; i < c->n; i++) /* warm-up: one pass over the copies */
		engine_matmul(pool, y, x, batch, &c->m[i]);
	t0 = now_s();
	do {
		for (int i = 0; i < c->n; i++)
			engine_matmul(pool, y, x, batch, &c->m[i]);
		iters += c->n;
		t = now_s() - t0;
	} while (t < min_seconds);
	t /= (double)iters;
	r.us = t * 1e6;
	r.gbs = (double)m->nbytes / t / 1e9;
	r.gflops = 2.0 * batch * (double)m->rows * (double)m->cols / t / 1e9;
	return r;
}

static const char *dtype_label(enum engine_dtype t)
{
	switch (t) {
	case ENGINE_F32: return "f32";
	case ENGINE_F16: return "f16";
	case ENGINE_BF16: return "bf16";
	default: return "q8_0";
	}
}

static void bench_matmuls(const double bw[3])
{
	static const int64_t shapes[][2] = {
		{ 576, 576 }, { 1536, 576 }, { 576, 1536 }, { 49152, 576 }
	};
	static const int batches[] = { 1, 8, 32 };
	static const enum engine_dtype dts[] = { ENGINE_F32, ENGINE_F16, ENGINE_BF16, ENGINE_Q8_0 };
	struct engine_pool *pools[3] = { NULL };
	float *x = xmalloc(32 * 1536 * sizeof(float));
	float *y = xmalloc(32 * 49152 * sizeof(float));

	for (int i = 0; i < 32 * 1536; i++)
		x[i] = rnd();
	for (int t = 1; t <= 2; t++)
		if (engine_pool_create(&pools[t], t) != 0)
			abort();
	printf("\nmatmul (weights cycled through %llu MiB of copies; "
	       "kernels: %s)\n",
	       COLD_BYTES >> 20, engine_cpu_kernel_name());
	printf("%-5s %-11s %5s %3s %10s %8s %6s %8s %8s\n", "dtype", "rows x cols", "batch", "thr",
	       "us/call", "GB/s", "%bw", "GFLOP/s", "tok/s x");
	for (size_t d = 0; d < ARRAY_SIZE(dts); d++) {
		for (size_t s = 0; s < ARRAY_SIZE(shapes); s++) {
			int64_t rows = shapes[s][0], cols = shapes[s][1];
			float *src = xmalloc((size_t)(rows * cols) * sizeof(float));
			struct engine_src_tensor st = { ENGINE_F32, src, rows, cols };
			struct copies c;

			for (int64_t i = 0; i < rows * cols; i++)
				src[i] = rnd() * 0.05f;
			if (make_copies(&c, &st, dts[d]) != 0)
				abort();
			free(src);
			for (int t = 1; t <= 2; t++) {
				double us1 = 0;

				for (size_t b = 0; b < ARRAY_SIZE(batches); b++) {
					struct result r =
						bench_matmul(pools[t], &c, batches[b], x, y);

					if (batches[b] == 1)
						us1 = r.us;
					printf("%-5s %5lld x %-4lld %5d %3d %10.2f "
					       "%8.1f %5.0f%% %8.1f %8.2f\n",
					       dtype_label(dts[d]), (long long)rows,
					       (long long)cols, batches[b], t, r.us, r.gbs,
					       100.0 * r.gbs / bw[t], r.gflops,
					       batches[b] * us1 / r.us);
					fflush(stdout);
				}
			}
			free_copies(&c);
		}
	}
	engine_pool_destroy(pools[1]);
	engine_pool_destroy(pools[2]);
	free(x);
	free(y);
}

/*
 * OpenBLAS alone at decode shapes (sgemv for batch 1, sgemm above), one
 * thread, the weights cycled as in bench_matmul: why F32 below batch 64
 * uses our kernels.
 */
static void bench_blas_decode(const double bw[3])
{
	static const int64_t shapes[][2] = { { 1536, 576 }, { 49152, 576 } };
	static const int batches[] = { 1, 8, 32 };
	float *x = xmalloc(32 * 576 * sizeof(float));
	float *y = xmalloc(32 * 49152 * sizeof(float));

	for (int i = 0; i < 32 * 576; i++)
		x[i] = rnd();
	printf("\nOpenBLAS alone, f32, 1 thread (sgemv at batch 1, sgemm "
	       "above)\n%-11s %5s %10s %8s %6s %8s\n",
	       "rows x cols", "batch", "us/call", "GB/s", "%bw", "GFLOP/s");
	openblas_set_num_threads(1);
	for (size_t s = 0; s < ARRAY_SIZE(shapes); s++) {
		int64_t rows = shapes[s][0], cols = shapes[s][1];
		float *src = xmalloc((size_t)(rows * cols) * sizeof(float));
		struct engine_src_tensor st = { ENGINE_F32, src, rows, cols };
		struct copies c;

		for (int64_t i = 0; i < rows * cols; i++)
			src[i] = rnd() * 0.05f;
		if (make_copies(&c, &st, ENGINE_F32) != 0)
			abort();
		free(src);
		for (size_t b = 0; b < ARRAY_SIZE(batches); b++) {
			int n = batches[b];
			long iters = 0;
			double t0, t;

			t0 = now_s();
			do {
				for (int i = 0; i < c.n; i++) {
					const float *w = c.m[i].data;

					if (n == 1)
						cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows,
							    (int)cols, 1.0f, w, (int)cols, x, 1,
							    0.0f, y, 1);
					else
						cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
							    n, (int)rows, (int)cols, 1.0f, x,
							    (int)cols, w, (int)cols, 0.0f, y,
							    (int)rows);
				}
				iters += c.n;
				t = now_s() - t0;
			} while (t < min_seconds);
			t /= (double)iters;
			printf("%5lld x %-4lld %5d %10.2f %8.1f %5.0f%% %8.1f\n", (long long)rows,
			       (long long)cols, n, t * 1e6, (double)c.m[0].nbytes / t / 1e9,
			       100.0 * (double)c.m[0].nbytes / t / 1e9 / bw[1],
			       2.0 * n * (double)rows * (double)cols / t / 1e9);
		}
		free_copies(&c);
	}
	free(x);
	free(y);
}

/* The engine's own F32 path at prefill size: pool split + sgemm slices. */
static double bench_engine_gemm(int nthreads, int n)
{
	float *src = xmalloc((size_t)n * n * sizeof(float));
	float *x = xmalloc((size_t)n * n * sizeof(float));
	float *y = xmalloc((size_t)n * n * sizeof(float));
	struct engine_src_tensor st = { ENGINE_F32, src, n, n };
	struct engine_matrix m;
	struct engine_pool *pool;
	double best = 0;

	for (size_t i = 0; i < (size_t)n * n; i++) {
		src[i] = rnd();
		x[i] = rnd();
	}
	if (engine_matrix_from_src(&m, &st, ENGINE_F32) != 0 ||
	    engine_pool_create(&pool, nthreads) != 0)
		abort();
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now_s(), g;

		engine_matmul(pool, y, x, n, &m);
		g = 2.0 * n * (double)n * n / (now_s() - t0) / 1e9;
		if (g > best)
			best = g;
	}
	engine_pool_destroy(pool);
	engine_matrix_release(&m);
	free(src);
	free(x);
	free(y);
	return best;
}

int main(int argc, char **argv)
{
	double bw[3];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			min_seconds = 0.05;
		} else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
			if (engine_cpu_set_isa(argv[++i]) != 0) {
				fprintf(stderr, "bench_kernels: %s\n", error_last());
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench_kernels [--isa NAME] [--quick]\n");
			return 2;
		}
	}
	printf("kernel set: %s\n", engine_cpu_kernel_name());
	bw[0] = 0;
	for (int t = 1; t <= 2; t++) {
		double common = bench_read_bandwidth_gbs(t);
		double probe = bench_stream_probe(t);

		printf("memory read bandwidth (512 MiB sum), %d thread%s: "
		       "%.1f GB/s (bench_common), %.1f GB/s (SIMD + "
		       "prefetch)\n",
		       t, t > 1 ? "s" : "", common, probe);
		bw[t] = common > probe ? common : probe;
	}
	printf("pool_run overhead (empty job): 1 thread %.3f us, "
	       "2 threads %.3f us\n",
	       bench_pool(1), bench_pool(2));
	printf("OpenBLAS sgemm 1024^3: 1 thread %.1f GFLOP/s, 2 threads "
	       "%.1f GFLOP/s\n",
	       bench_sgemm_gflops(1, 1024), bench_sgemm_gflops(2, 1024));
	printf("engine_matmul F32 1024x1024, batch 1024: 1 thread %.1f "
	       "GFLOP/s, 2 threads %.1f GFLOP/s\n",
	       bench_engine_gemm(1, 1024), bench_engine_gemm(2, 1024));
	bench_blas_decode(bw);
	bench_matmuls(bw);
	return 0;
}
