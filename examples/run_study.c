/*
 * libllem example: run a study (a config with sweep: or experiments:),
 * print progress on stderr and the study directory on stdout. Ctrl+C ends
 * the running experiment cleanly and stops; a second Ctrl+C kills it.
 * Each experiment runs in an `llem __worker` process: set LLEM_EXE when
 * the llem binary is not installed beside libllem or on PATH.
 *   cc run_study.c $(pkg-config --cflags --libs llem) -o run_study
 *   ./run_study examples/batch-sweep.yaml
 * Exit: 0 all completed, 3 some failed, 130 interrupted, 1 other errors.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <llem/llem.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile int interrupt_level;

static void on_sigint(int sig)
{
	(void)sig;
	if (interrupt_level < 2)
		interrupt_level++;
}

static int on_progress(const llem_study_event *e, void *payload)
{
	(void)payload;
	switch (e->type) {
	case LLEM_STUDY_RUN_START:
		fprintf(stderr, "[%zu/%zu] %s (cycle %d)\n", e->run + 1, e->total, e->label,
			e->cycle);
		break;
	case LLEM_STUDY_RUN_END:
		fprintf(stderr, "[%zu/%zu] %s in %.1f s%s%s\n", e->run + 1, e->total,
			e->status == LLEM_STUDY_RUN_COMPLETED ? "done"
			: e->status == LLEM_STUDY_RUN_FAILED  ? "FAILED"
							      : "interrupted",
			e->wall_s, e->error ? ": " : "", e->error ? e->error : "");
		break;
	case LLEM_STUDY_GAP:
		if (e->gap_remaining_s > 0 && (long)e->gap_remaining_s % 10 == 0)
			fprintf(stderr, "%s: %.0f s\n", e->gap, e->gap_remaining_s);
		break;
	}
	return 0; /* go on; -1 would stop the study, 1 would end a gap */
}

int main(int argc, char **argv)
{
	llem_config_options copts = LLEM_CONFIG_OPTIONS_INIT;
	llem_study_options sopts = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	llem_config *cfg;
	struct sigaction sa;
	char *dir = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s STUDY\n", argv[0]);
		return 2;
	}
	if (llem_config_load(&cfg, argv[1], &copts) != 0) {
		fprintf(stderr, "%s\n", llem_error_last());
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sopts.progress = on_progress;
	sopts.interrupt = &interrupt_level;
	rc = llem_run_study(&dir, &sum, cfg, &sopts);
	llem_config_free(cfg);
	if (rc != 0 && rc != LLEM_EINTR) {
		fprintf(stderr, "study failed: %s\n", llem_error_last());
		llem_free(dir);
		return 1;
	}
	fprintf(stderr, "%zu/%zu completed, %zu failed, %.1f s\n", sum.completed, sum.total,
		sum.failed, sum.wall_s);
	printf("%s\n", dir);
	llem_free(dir);
	return rc == LLEM_EINTR ? 130 : sum.failed ? 3 : 0;
}
