/*
 * Study harness overhead (issue: studies). Runs a 50-run study of a
 * near-empty experiment (synthetic/tiny-llama, one prompt, one token, no
 * warmup, no baseline, no energy, no gaps) and reports the median time per
 * run as the runner sees it, from the run's start event to its end event:
 * manifest update to running, config.json, worker spawn, the worker's
 * start-up (config, dataset, a tiny model), its result write, reading the
 * result, manifest update to completed. The worker's own wall time (spawn
 * to exit) is shown beside it. Also times expanding a 100,000-point sweep.
 *   build/bench/bench_study [runs]
 * Targets: < 50 ms median per run; 100,000-point expansion < 1 s.
 */
#include "backends/backends.h"
#include "config/config.h"
#include "study/study.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNS 1000

static double harness[MAX_RUNS], worker[MAX_RUNS];
static uint64_t started_ns;

static int on_start(void *ctx, size_t k, size_t total, const char *label, int cycle)
{
	(void)ctx;
	(void)k;
	(void)total;
	(void)label;
	(void)cycle;
	started_ns = clock_monotonic_ns();
	return STUDY_GO_ON;
}

static int on_end(void *ctx, const struct study_run_report *run)
{
	size_t k = run->k;
	double wall_s = run->wall_s;

	(void)ctx;
	if (run->status != MANIFEST_COMPLETED)
		fprintf(stderr, "run %zu failed: %s\n", k + 1, run->error ? run->error : "?");
	if (k < MAX_RUNS) {
		harness[k] = (double)(clock_monotonic_ns() - started_ns) * 1e-9;
		worker[k] = wall_s;
	}
	return STUDY_GO_ON;
}

/* Only ever our own mkdtemp directory; argv, no shell. */
static void remove_tree(const char *dir)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int load_study(struct loaded_config *lc, const char *path)
{
	struct config_request req = { path, NULL, 0, "", backends_check_config };
	struct diag_list dl = DIAG_LIST_INIT;
	int rc = config_load(lc, &req, &dl);

	diag_list_release(&dl);
	return rc;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/llem-bench-study-XXXXXX";
	char *exe_dir = fs_exe_dir(), *exe, *path, *text;
	struct study_events ev = { on_start, on_end, NULL, NULL };
	struct study_run_options so = STUDY_RUN_OPTIONS_INIT;
	struct study_outcome out;
	struct loaded_config lc;
	struct strbuf sb = STRBUF_INIT;
	int64_t runs = 50;
	uint64_t t0;
	int i;

	if (argc > 1 && (parse_int64(argv[1], &runs) != 0 || runs < 1 || runs > MAX_RUNS)) {
		fprintf(stderr, "usage: bench_study [runs (1-%d)]\n", MAX_RUNS);
		return 2;
	}
	if (!mkdtemp(dir) || !exe_dir)
		return 1;
	exe = xasprintf("%s/../llem", exe_dir);
	path = xasprintf("%s/study.yaml", dir);
	text = xasprintf(
		"model: synthetic/tiny-llama\nn: 1\nmax_input_tokens: 8\n"
		"max_output_tokens: 1\nwarmup: {enabled: false, thermal_floor_seconds: 0}\n"
		"baseline: {enabled: false}\nenergy: {backend: null}\noutput_dir: %s\n"
		"sweep: {}\nexecution: {n_cycles: %d, cycle_order: sequential,"
		" experiment_gap_seconds: 0, cycle_gap_seconds: 0}\n",
		dir, (int)runs);
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
	qsort(harness, (size_t)runs, sizeof(double), cmp);
	qsort(worker, (size_t)runs, sizeof(double), cmp);
	printf("%d runs in %.2f s (completed %zu, failed %zu)\n"
	       "  per run, start to end event: median %.1f ms, p90 %.1f ms, max %.1f ms\n"
	       "  worker process alone:        median %.1f ms, p90 %.1f ms, max %.1f ms\n",
	       (int)runs, (double)(clock_monotonic_ns() - t0) * 1e-9, out.completed, out.failed,
	       harness[runs / 2] * 1e3, harness[runs * 9 / 10] * 1e3, harness[runs - 1] * 1e3,
	       worker[runs / 2] * 1e3, worker[runs * 9 / 10] * 1e3, worker[runs - 1] * 1e3);
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
	remove_tree(dir);
	free(exe);
	free(exe_dir);
	free(path);
	free(text);
	return 0;
}
