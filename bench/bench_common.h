/* Shared measurements for the benchmarks in bench/. */
#ifndef LLEM_BENCH_COMMON_H
#define LLEM_BENCH_COMMON_H

/* Read bandwidth of a 512 MiB buffer (far beyond the caches), best of 5
 * passes, with nthreads threads each summing its slice; GB/s (1e9). */
double bench_read_bandwidth_gbs(int nthreads);
/* OpenBLAS cblas_sgemm on n x n x n with nthreads threads; GFLOP/s. */
double bench_sgemm_gflops(int nthreads, int n);

#endif
