/*
 * Summary statistics for latency samples, computed exactly as numpy does
 * (np.mean, np.median, np.percentile with the default "linear" method), so
 * a researcher re-deriving them from raw samples gets the same bits.
 */
#include "results/results.h"

#include <math.h>
#include <stdlib.h>

/*
 * numpy's pairwise summation (loops_utils.h: blocks of 8 accumulators up
 * to 128 elements, halves above that). Its rounding differs from a plain
 * loop, and np.mean is this sum divided by n.
 */
static double pairwise_sum(const double *a, size_t n)
{
	double r[8], res;
	size_t i, j, n2;

	if (n < 8) {
		res = -0.0;
		for (i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		for (j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	n2 = n / 2;
	n2 -= n2 % 8;
	return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

double result_percentile_sorted(const double *sorted, size_t n, double pct)
{
	double virt, gamma, a, b, diff;
	size_t lo, hi;

	if (n == 0)
		return NAN;
	/* numpy: virtual index (n - 1) * q with q = pct / 100, clipped. */
	virt = (double)(n - 1) * (pct / 100.0);
	if (!(virt > 0))
		return sorted[0];
	if (virt >= (double)(n - 1))
		return sorted[n - 1];
	lo = (size_t)floor(virt);
	hi = lo + 1;
	gamma = virt - (double)lo;
	a = sorted[lo];
	b = sorted[hi];
	diff = b - a;
	/* numpy's _lerp: from the nearer end, for monotonicity. */
	if (gamma >= 0.5)
		return b - diff * (1.0 - gamma);
	return a + diff * gamma;
}

void result_stats_compute(struct result_stats *out, const double *samples, size_t n)
{
	double *v = xmalloc((n ? n : 1) * sizeof(*v));
	size_t i, m = 0;

	/* NaN marks a sample that was not taken (a request that failed). */
	for (i = 0; i < n; i++)
		if (!isnan(samples[i]))
			v[m++] = samples[i];
	out->present = true;
	out->samples = (int64_t)m;
	if (m == 0) {
		out->mean = out->median = out->p95 = out->p99 = NAN;
		out->min = out->max = NAN;
		free(v);
		return;
	}
	/* The mean in sample order (as np.mean sees the array), then sort. */
	out->mean = pairwise_sum(v, m) / (double)m;
	qsort(v, m, sizeof(*v), cmp_double);
	if (m % 2)
		out->median = v[m / 2];
	else
		out->median = (v[m / 2 - 1] + v[m / 2]) / 2.0;
	out->p95 = result_percentile_sorted(v, m, 95);
	out->p99 = result_percentile_sorted(v, m, 99);
	out->min = v[0];
	out->max = v[m - 1];
	free(v);
}
