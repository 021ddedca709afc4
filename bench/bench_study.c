/*
 * Study harness overhead (issue: studies). Runs a 50-run study of a
 * near-empty experiment (synthetic/tiny-llama, one prompt, one token, no
 * warmup, no baseline, no energy, no gaps) and reports the median wall
 * time per run as the runner sees it: worker spawn, config hand-off, the
 * worker's start-up (config, dataset, a tiny model), result write and
 * manifest update. Also times expanding a 100,000-point sweep.
 *   build/bench/bench_study
 * Targets: < 50 ms median per run; 100,000-point expansion < 1 s.
 */
#include "config/config.h"
#include "study/study.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 50

static double walls[RUNS];

static void on_end(void *ctx, size_t k, size_t total, const char *label, bool ok,
		   const char *error, double wall_s)
{
	(void)ctx;
	(void)total;
	(void)label;
	if (!ok)
		fprintf(stderr, "run %zu failed: %s\n", k + 1, error ? error : "?");
	if (k < RUNS)
		walls[k] = wall_s;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int load_study(struct loaded_config *lc, const char *path)
{
	struct config_request req = { path, NULL, 0, "" };
	struct diag_list dl = DIAG_LIST_INIT;
	int rc = config_load(lc, &req, &dl);

	diag_list_release(&dl);
	return rc;
}

int main(void)
{
	char dir[] = "/tmp/llem-bench-study-XXXXXX";
	char *exe_dir = fs_exe_dir(), *exe, *path, *text;
	struct study_events ev = { NULL, on_end, NULL, NULL };
	struct study_run_options so = { 0 };
	struct study_outcome out;
	struct loaded_config lc;
	struct strbuf sb = STRBUF_INIT;
	uint64_t t0;
	int i;

	if (!mkdtemp(dir) || !exe_dir)
		return 1;
	exe = xasprintf("%s/../llem", exe_dir);
	path = xasprintf("%s/study.yaml", dir);
	text = xasprintf("model: synthetic/tiny-llama\nn: 1\nmax_input_tokens: 8\n"
			 "max_output_tokens: 1\nwarmup: {enabled: false, thermal_floor_seconds: 0}\n"
			 "baseline: {enabled: false}\nenergy: {backend: null}\noutput_dir: %s\n"
			 "sweep: {}\nexecution: {n_cycles: %d, cycle_order: sequential,"
			 " experiment_gap_seconds: 0, cycle_gap_seconds: 0}\n", dir, RUNS);
	atomic_write_file(path, text, strlen(text));
	if (load_study(&lc, path) != 0) {
		fprintf(stderr, "bench_study: cannot load the study\n");
		return 1;
	}
	so.llem_exe = exe;
	so.events = &ev;
	t0 = clock_monotonic_ns();
	if (study_run(&out, &lc.study, &so) != 0) {
		fprintf(stderr, "bench_study: %s\n", error_last());
		return 1;
	}
	qsort(walls, RUNS, sizeof(double), cmp);
	printf("%d runs in %.2f s: per run median %.1f ms, p90 %.1f ms, max %.1f ms "
	       "(completed %zu, failed %zu)\n", RUNS, (double)(clock_monotonic_ns() - t0) * 1e-9,
	       walls[RUNS / 2] * 1e3, walls[RUNS * 9 / 10] * 1e3, walls[RUNS - 1] * 1e3,
	       out.completed, out.failed);
	study_outcome_release(&out);
	loaded_config_release(&lc);

	/* 100,000 points: 100 x 100 x 10 values of three fields. */
	strbuf_addf(&sb, "model: synthetic/tiny-llama\nsweep:\n  n: [");
	for (i = 1; i <= 100; i++)
		strbuf_addf(&sb, "%s%d", i > 1 ? ", " : "", i);
	strbuf_adds(&sb, "]\n  max_output_tokens: [");
	for (i = 1; i <= 100; i++)
		strbuf_addf(&sb, "%s%d", i > 1 ? ", " : "", i);
	strbuf_adds(&sb, "]\n  random_seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
	atomic_write_file(path, sb.buf, sb.len);
	t0 = clock_monotonic_ns();
	if (load_study(&lc, path) != 0) {
		fprintf(stderr, "bench_study: cannot load the large study\n");
		return 1;
	}
	printf("expanding a %zu-point sweep (validated, hashed): %.2f s\n", lc.study.count,
	       (double)(clock_monotonic_ns() - t0) * 1e-9);
	loaded_config_release(&lc);
	strbuf_release(&sb);
	free(exe);
	free(exe_dir);
	free(path);
	free(text);
	return 0;
}
