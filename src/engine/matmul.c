/*
 * engine_matmul: prepares the input once per call, splits W's rows across
 * the pool in units that depend only on the shape (never on the thread
 * count, so every output is computed the same way whatever the pool
 * size), and runs the kernel set's row kernel or OpenBLAS on each share.
 */
#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include "util/util.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

/*
 * From this batch size up, F32 goes to OpenBLAS sgemm (prefill); below it
 * our own kernels, which stream the weights at close to memory bandwidth
 * and keep up with sgemm to about this size, where OpenBLAS's sgemv and
 * its sgemm on skinny inputs reach about half of it (measurements in
 * docs/engine-kernels.md).
 */
#ifndef F32_BLAS_MIN_BATCH
#define F32_BLAS_MIN_BATCH 64
#endif

/* Below this batch the caller prepares x alone: waking the pool would
 * cost more than quantising a few rows. */
#define PREP_PARALLEL_MIN_BATCH 4

struct matmul_job {
	struct matmul_args a;
	matmul_rows_fn fn; /* NULL: OpenBLAS */
	void (*prep)(const struct matmul_args *a, int b0, int b1);
	int64_t unit, nunits; /* rows per unit, units */
};

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* Our pool provides the parallelism; OpenBLAS threads would fight it. */
static void blas_init(void)
{
	openblas_set_num_threads(1);
}

static void blas_rows(const struct matmul_args *a, int64_t r0, int64_t r1)
{
	const struct engine_matrix *w = a->w;
	const float *wd = (const float *)w->data + r0 * w->cols;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->batch, (int)(r1 - r0), (int)w->cols,
		    1.0f, a->x, (int)w->cols, wd, (int)w->cols, 0.0f, a->y + r0, (int)w->rows);
}

static void job_rows(void *arg, int tid, int nthreads)
{
	const struct matmul_job *j = arg;
	int64_t u0 = j->nunits * tid / nthreads;
	int64_t u1 = j->nunits * (tid + 1) / nthreads;
	int64_t rows = j->a.w->rows;

	if (u0 >= u1)
		return;
	if (j->fn) {
		int64_t r1 = u1 * j->unit;

		j->fn(&j->a, u0 * j->unit, r1 < rows ? r1 : rows);
		return;
	}
	/* OpenBLAS: one call per unit, so each call (and each output's
	 * summation order inside it) is the same for every pool size. */
	for (int64_t u = u0; u < u1; u++) {
		int64_t r1 = (u + 1) * j->unit;

		blas_rows(&j->a, u * j->unit, r1 < rows ? r1 : rows);
	}
}

static void job_prep(void *arg, int tid, int nthreads)
{
	const struct matmul_job *j = arg;
	int b0 = (int)((int64_t)j->a.batch * tid / nthreads);
	int b1 = (int)((int64_t)j->a.batch * (tid + 1) / nthreads);

	if (b0 < b1)
		j->prep(&j->a, b0, b1);
}

static int64_t round_up(int64_t v, int64_t m)
{
	return (v + m - 1) / m * m;
}

/* Bytes of prepared input; with base, also where each part lies. */
static size_t prep_layout(struct matmul_prep *p, const struct matmul_args *a, bool q8, char *base)
{
	int64_t b = a->batch;
	size_t off[4] = { 0 };

	if (q8) {
		int64_t nb = q8_blocks(a->w->cols);

		off[1] = off[0] + (size_t)round_up(b * nb * ENGINE_Q8_BLOCK, 64);
		off[2] = off[1] + (size_t)round_up(b * nb * 4, 64);
		off[3] = off[2] + (size_t)round_up(b * nb * 4, 64);
		if (base) {
			p->xq = (int8_t *)base;
			p->xscale = (float *)(base + off[1]);
			p->xsum = (int32_t *)(base + off[2]);
		}
		return off[3];
	}
	p->ld = round_up(a->w->cols, 32);
	if (base)
		p->xbf = (uint16_t *)base;
	return (size_t)round_up(b * p->ld * 2, 64);
}

void engine_matmul(struct engine_pool *pool, float *y, const float *x, int batch,
		   const struct engine_matrix *w)
{
	const struct matmul_kernels *k = matmul_kernels();
	struct matmul_job j = {
		.a = { .y = y, .x = x, .batch = batch, .w = w },
	};
	int nthreads = engine_pool_threads(pool);
	void *own = NULL;

	if (batch <= 0 || w->rows <= 0)
		return;
	j.fn = k->rows[w->dtype];
	if (w->dtype == ENGINE_Q8_0)
		j.prep = k->prep_q8;
	else if (w->dtype == ENGINE_BF16 && k->bf16_dot)
		j.prep = k->prep_bf16;
	if (w->dtype == ENGINE_F32 && batch >= F32_BLAS_MIN_BATCH) {
		pthread_once(&blas_once, blas_init);
		j.fn = NULL;
		/* Fewer, larger calls: sgemm packs x on each one. */
		j.unit = round_up((w->rows + 15) / 16, Q8_GROUP);
		if (j.unit < 64)
			j.unit = 64;
	} else {
		/* About 64 units: 2 or 3 threads split them within a few
		 * percent; a multiple of 16 keeps Q8_0 groups whole. */
		j.unit = round_up((w->rows + 63) / 64, Q8_GROUP);
	}
	j.nunits = (w->rows + j.unit - 1) / j.unit;

	if (j.prep) {
		size_t bytes = prep_layout(&j.a.p, &j.a, w->dtype == ENGINE_Q8_0, NULL);
		char *base;

		if (pool) {
			base = engine_pool_scratch(pool, bytes);
		} else {
			own = xmalloc(bytes + 63);
			base = (char *)(((uintptr_t)own + 63) & ~(uintptr_t)63);
		}
		prep_layout(&j.a.p, &j.a, w->dtype == ENGINE_Q8_0, base);
		if (nthreads > 1 && batch >= PREP_PARALLEL_MIN_BATCH)
			engine_pool_run(pool, job_prep, &j);
		else
			j.prep(&j.a, 0, batch);
	}
	engine_pool_run(pool, job_rows, &j);
	free(own);
}
