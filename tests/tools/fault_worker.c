/*
 * A study worker that misbehaves on request, for the runner's failure
 * paths with real processes (tests/cli/test_study_signals.py). Tests point
 * LLEM_EXE at this program; the runner starts it as it starts llem
 * (`fault_worker __worker ... CONFIG EXPERIMENT_DIR`), and it runs the
 * real worker (study_worker_main) unless LLEM_TEST_WORKER_FAULT says
 * otherwise. This variable is read here only: the llem binary has no fault
 * injection.
 *
 * LLEM_TEST_WORKER_FAULT=MODE[:SUBSTRING] applies MODE when EXPERIMENT_DIR
 * contains SUBSTRING (or always without one):
 *   garbage  print non-JSON on stdout and exit 0
 *   crash    die of SIGSEGV
 *   hang     sleep until SIGTERM/SIGINT, then exit 130
 *   stuck    ignore SIGTERM/SIGINT and sleep until SIGKILLed
 */
#include "study/worker_main.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int fault(const char *exp_dir, volatile sig_atomic_t *stop, void *ctx)
{
	const char *spec = getenv("LLEM_TEST_WORKER_FAULT");
	const char *colon;
	char mode[16];
	size_t len;

	(void)ctx;
	if (!spec || !*spec)
		return -1;
	colon = strchr(spec, ':');
	len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (colon && !strstr(exp_dir, colon + 1))
		return -1;
	if (len >= sizeof(mode))
		len = sizeof(mode) - 1;
	memcpy(mode, spec, len);
	mode[len] = '\0';
	if (!strcmp(mode, "garbage")) {
		fputs("this is not a result\n", stdout);
		fflush(stdout);
		return STUDY_WORKER_EXIT_OK;
	}
	if (!strcmp(mode, "crash")) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		return STUDY_WORKER_EXIT_FAILED;
	}
	if (!strcmp(mode, "stuck")) {
		/* Still gone with the runner: SIGTERM no longer would do it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		fprintf(stderr, "worker: stuck, ignoring SIGTERM (LLEM_TEST_WORKER_FAULT)\n");
		for (;;)
			pause();
	}
	if (!strcmp(mode, "hang")) {
		fprintf(stderr, "worker: hanging until SIGTERM (LLEM_TEST_WORKER_FAULT)\n");
		while (!*stop)
			pause();
		return STUDY_WORKER_EXIT_INTERRUPTED;
	}
	fprintf(stderr, "fault_worker: unknown LLEM_TEST_WORKER_FAULT mode '%s'\n", mode);
	return STUDY_WORKER_EXIT_FAILED;
}

int main(int argc, char **argv)
{
	static const struct study_worker_hooks hooks = { fault, NULL };

	if (argc < 2 || strcmp(argv[1], STUDY_WORKER_COMMAND)) {
		fprintf(stderr, "usage: fault_worker %s ARGS (started by a study runner)\n",
			STUDY_WORKER_COMMAND);
		return STUDY_WORKER_EXIT_USAGE;
	}
	return study_worker_main(argc - 1, argv + 1, &hooks);
}
