/*
 * Sampler overhead (issue: measurement). With the fake NVML (2 GPUs, via
 * the real dlopen path) and a fake powercap tree (package + dram), run the
 * sampler for a few seconds at 100 Hz and at 10 Hz and report the CPU time
 * per sample, the share of one core, and the jitter of the sample times
 * against their schedule (p50/p99/max).
 *   build/bench/bench_sampler [seconds]
 * Targets: < 0.5 % of a core at 100 Hz; jitter p99 < 2 ms.
 */
#include "energy/energy.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void write_text(const char *dir, const char *name, const char *text)
{
	char *path = fs_join(dir, name);
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	free(path);
}

static char *fake_powercap(void)
{
	char tmpl[] = "/tmp/llem-bench-powercap-XXXXXX";
	char *root, *pkg, *dram;

	if (!mkdtemp(tmpl))
		return NULL;
	root = xstrdup(tmpl);
	pkg = fs_join(root, "intel-rapl:0");
	dram = fs_join(pkg, "intel-rapl:0:0");
	fs_mkdirs(dram, 0755);
	write_text(pkg, "name", "package-0\n");
	write_text(pkg, "energy_uj", "123456789\n");
	write_text(pkg, "max_energy_range_uj", "262143328850\n");
	write_text(dram, "name", "dram\n");
	write_text(dram, "energy_uj", "2345678\n");
	write_text(dram, "max_energy_range_uj", "262143328850\n");
	free(pkg);
	free(dram);
	return root;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run_rate(struct energy_meter *m, unsigned interval_ms, double seconds)
{
	struct energy_sampler *s;
	size_t cap = (size_t)(seconds * 1000 / interval_ms) + 64, n, k;
	struct timespec ts = { (time_t)seconds, (long)((seconds - floor(seconds)) * 1e9) };
	double *jitter, cpu_ms;
	uint64_t t0;

	if (energy_sampler_start(&s, m, interval_ms, cap) != 0) {
		fprintf(stderr, "bench_sampler: %s\n", error_last());
		exit(1);
	}
	nanosleep(&ts, NULL);
	energy_sampler_stop(s);
	n = energy_sampler_count(s);
	jitter = xcalloc(n, sizeof(double));
	t0 = energy_sampler_sample(s, 0)[0].t_ns;
	for (k = 0; k < n; k++) {
		double want = (double)k * interval_ms * 1e6;
		double got = (double)(energy_sampler_sample(s, k)[0].t_ns - t0);

		jitter[k] = fabs(got - want) * 1e-6;
	}
	qsort(jitter, n, sizeof(double), cmp_double);
	cpu_ms = (double)energy_sampler_cpu_ns(s) * 1e-6;
	printf("%4u Hz  %6zu samples  %8.1f us CPU/sample  %6.3f %% of a core  "
	       "jitter p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
	       1000 / interval_ms, n, cpu_ms * 1e3 / (double)n, 100.0 * cpu_ms / (seconds * 1e3),
	       jitter[n / 2], jitter[(size_t)((double)(n - 1) * 0.99)], jitter[n - 1]);
	free(jitter);
	energy_sampler_free(s);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	char *exe_dir = fs_exe_dir();
	char *fake = xasprintf("%s/../tests/fakes/nvml/libnvidia-ml.so.1", exe_dir ? exe_dir : ".");
	char *root = fake_powercap();
	struct energy_meter_opts mo = { "auto", NULL, NULL, NULL };
	struct energy_meter *m;
	size_t i;

	setenv("LLEM_NVML_LIBRARY", fake, 1);
	setenv("FAKE_NVML_GPUS", "2", 1);
	mo.rapl_root = root;
	if (!root || energy_meter_open(&m, &mo) != 0) {
		fprintf(stderr, "bench_sampler: %s\n", error_last());
		return 1;
	}
	printf("devices:");
	for (i = 0; i < energy_meter_device_count(m); i++)
		printf(" %s", energy_meter_device(m, i)->name);
	printf("  (fake NVML %s, fake powercap %s)\n", fake, root);
	{
		/* The read itself, without the thread: where the time goes. */
		struct energy_reading *r = xcalloc(energy_meter_device_count(m), sizeof(*r));
		struct timespec c0, c1;
		int k;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		for (k = 0; k < 20000; k++)
			energy_meter_read(m, r);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
		printf("one read of every device: %.1f us CPU\n",
		       ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) /
			       20000 * 1e-3);
		free(r);
	}
	run_rate(m, 10, seconds);
	run_rate(m, 100, seconds);
	energy_meter_close(m);
	free(fake);
	free(exe_dir);
	free(root);
	return 0;
}
