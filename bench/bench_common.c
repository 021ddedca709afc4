/*
 * The reference points the engine is judged against: how fast this
 * machine can stream memory, and how fast OpenBLAS multiplies fp32
 * matrices. Both are measured in the same process as the engine numbers.
 */
#include "bench_common.h"
#include "util/util.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

#define BW_BYTES ((size_t)512 << 20)

struct bw_job {
	const uint64_t *data;
	size_t n;
	uint64_t sum;
};

static void *bw_worker(void *arg)
{
	struct bw_job *j = arg;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i;

	/* Four accumulators so the loop is bound by loads, not by one add chain. */
	for (i = 0; i + 4 <= j->n; i += 4) {
		s0 += j->data[i];
		s1 += j->data[i + 1];
		s2 += j->data[i + 2];
		s3 += j->data[i + 3];
	}
	j->sum = s0 + s1 + s2 + s3;
	return NULL;
}

double bench_read_bandwidth_gbs(int nthreads)
{
	size_t words = BW_BYTES / sizeof(uint64_t), per = words / (size_t)nthreads;
	uint64_t *buf = xmalloc(BW_BYTES);
	pthread_t th[16];
	struct bw_job jobs[16];
	double best = 0;
	int pass, t;

	memset(buf, 1, BW_BYTES); /* fault every page in before timing */
	for (pass = 0; pass < 5; pass++) {
		uint64_t t0 = clock_monotonic_ns(), dt;

		for (t = 0; t < nthreads; t++) {
			jobs[t].data = buf + (size_t)t * per;
			jobs[t].n = per;
			pthread_create(&th[t], NULL, bw_worker, &jobs[t]);
		}
		for (t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		dt = clock_monotonic_ns() - t0;
		if ((double)(per * (size_t)nthreads * 8) / (double)dt > best)
			best = (double)(per * (size_t)nthreads * 8) / (double)dt;
	}
	free(buf);
	return best; /* bytes per ns == GB/s */
}

double bench_sgemm_gflops(int nthreads, int n)
{
	size_t sz = (size_t)n * (size_t)n;
	float *a = xmalloc(sz * sizeof(float)), *b = xmalloc(sz * sizeof(float));
	float *c = xmalloc(sz * sizeof(float));
	double best = 0;
	size_t i;
	int rep;

	for (i = 0; i < sz; i++) {
		a[i] = (float)(i % 7) * 0.25f;
		b[i] = (float)(i % 5) * 0.5f;
	}
	openblas_set_num_threads(nthreads);
	for (rep = 0; rep < 4; rep++) {
		uint64_t t0 = clock_monotonic_ns();
		double g;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n,
			    0.0f, c, n);
		g = 2.0 * n * n * (double)n / (double)(clock_monotonic_ns() - t0);
		if (g > best)
			best = g;
	}
	/* The engine drives OpenBLAS single-threaded from its own pool. */
	openblas_set_num_threads(1);
	free(a);
	free(b);
	free(c);
	return best;
}
