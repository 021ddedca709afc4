/*
 * `llem run STUDY`: runs a study through the study layer, with progress on
 * stderr, a gap countdown on a terminal (Enter skips the gap when stdin is
 * a terminal), the summary table on stdout (seed-repo.md §1.6 shape, failed
 * rows included and marked) and the exit code: 0 all completed, 3 some
 * failed, 130 interrupted.
 */
#include "cli/cli.h"
#include "study/study.h"
#include "llem/llem.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t interrupts;

static void on_sigint(int sig)
{
	(void)sig;
	if (interrupts < 2)
		interrupts++;
	if (interrupts == 1) {
		static const char msg[] = "\nInterrupt received. Waiting for the experiment to end "
					  "cleanly (Ctrl+C again to force)...\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)w;
	} else {
		static const char msg[] = "\nForce-killing the experiment...\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)w;
	}
}

struct progress {
	bool quiet, tty;
	bool stdin_tty;   /* Enter skips a gap */
	bool in_gap;      /* a countdown is on screen */
	bool stdin_eof;
};

static int run_start(void *ctx, size_t k, size_t total, const char *label, int cycle)
{
	struct progress *p = ctx;

	if (!p->quiet)
		fprintf(stderr, "[%zu/%zu] ... %s (cycle %d)\n", k + 1, total, label, cycle);
	return STUDY_GO_ON;
}

static int run_end(void *ctx, size_t k, size_t total, const char *label,
		   enum manifest_state status, const char *error, double wall_s)
{
	struct progress *p = ctx;
	const char *word = status == MANIFEST_COMPLETED ? "OK  "
			   : status == MANIFEST_INTERRUPTED ? "INTR" : "FAIL";

	if (p->quiet)
		return STUDY_GO_ON;
	fprintf(stderr, "[%zu/%zu] %s %s (%.1f s)\n", k + 1, total, word, label, wall_s);
	if (status == MANIFEST_FAILED && error)
		fprintf(stderr, "        %s\n", error);
	return STUDY_GO_ON;
}

/*
 * Whether the terminal on stdin may be read and flushed now: llem is in
 * its foreground process group, or it is not llem's controlling terminal
 * at all. A background job (`llem run study.yaml &`) must not touch it:
 * reading or flushing would stop llem with SIGTTIN or SIGTTOU.
 */
static bool may_use_terminal(void)
{
	pid_t fg = tcgetpgrp(STDIN_FILENO);

	if (fg < 0)
		return errno == ENOTTY;
	return fg == getpgrp();
}

/*
 * True when a line was entered on the terminal since the gap began. The
 * terminal is in canonical mode, so stdin turns readable only once Enter
 * completes a line; what was typed before the gap was discarded at its
 * start, so an old keystroke cannot skip a later gap.
 */
static bool enter_pressed(struct progress *p)
{
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	char buf[256];
	ssize_t n;

	if (!p->stdin_tty || p->stdin_eof || !may_use_terminal())
		return false;
	if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
		return false;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			p->stdin_eof = true; /* Ctrl+D or a hang-up: stop asking */
		return false;
	}
	return memchr(buf, '\n', (size_t)n) != NULL || memchr(buf, '\r', (size_t)n) != NULL;
}

static int gap_tick(void *ctx, const char *kind, double remaining_s)
{
	struct progress *p = ctx;

	if (!p->in_gap) {
		p->in_gap = true;
		if (p->stdin_tty && may_use_terminal())
			tcflush(STDIN_FILENO, TCIFLUSH);
	}
	if (remaining_s > 0 && enter_pressed(p)) {
		p->in_gap = false;
		if (!p->quiet)
			fprintf(stderr, "\r%s: skipped (Enter) with %.0fs left\n", kind, remaining_s);
		return STUDY_END_GAP;
	}
	if (remaining_s <= 0)
		p->in_gap = false;
	if (p->quiet || !p->tty)
		return STUDY_GO_ON;
	if (remaining_s > 0)
		fprintf(stderr, "\r%s: %.0fs remaining%s   ", kind, remaining_s,
			p->stdin_tty && may_use_terminal() ? " (Enter to skip)" : "");
	else
		fprintf(stderr, "\r%s: done%s   \n", kind,
			p->stdin_tty ? "                " : "");
	return STUDY_GO_ON;
}

/*
 * A run's label is "backend / model / precision / differing fields"; the
 * table has room for one part, and the differing fields are what tells
 * rows apart (the backend and precision are among them when they vary).
 * Too long: cut with "..." so a cut is never mistaken for a value.
 */
static void table_label(char *out, size_t size, const char *label)
{
	const char *last = label, *p;
	size_t len;

	for (p = strstr(label, " / "); p; p = strstr(p + 3, " / "))
		last = p + 3;
	if (!*last)
		last = label;
	len = strlen(last);
	if (len < size)
		memcpy(out, last, len + 1);
	else
		snprintf(out, size, "%.*s...", (int)(size - 4), last);
}

static void print_table(const struct study *s, const struct study_outcome *o)
{
	size_t k;

	printf("Study: %s\nHash:  %s\n\n", s->name ? s->name : "unnamed", s->design_hash);
	printf("%-4s %-52s %-6s %9s %12s %10s\n", "#", "Config", "Status", "Time", "Energy", "tok/s");
	for (k = 0; k < o->nruns; k++) {
		char energy[32] = "n/a", tps[32] = "n/a", label[53];

		if (!isnan(o->energy_j[k]))
			snprintf(energy, sizeof(energy), "%.4g J", o->energy_j[k]);
		if (!isnan(o->tokens_per_s[k]))
			snprintf(tps, sizeof(tps), "%.4g", o->tokens_per_s[k]);
		table_label(label, sizeof(label), o->labels[k]);
		printf("%-4zu %-52s %-6s %8.1fs %12s %10s\n", k + 1, label,
		       o->ok[k] ? "OK" : "FAIL", isnan(o->wall_s_each[k]) ? 0.0 : o->wall_s_each[k],
		       energy, tps);
	}
	printf("\nTotal: %zu/%zu completed  |  %.1f s", o->completed, o->total, o->wall_s);
	if (!isnan(o->total_energy_j))
		printf("  |  %.4g J", o->total_energy_j);
	printf("\n");
	if (o->failed)
		printf("Failed: %zu experiment(s)\n", o->failed);
	printf("Results: %s\n", o->dir);
}

int cli_run_study(const struct study *s, bool quiet, const char *resume_dir)
{
	struct progress pr = { quiet, isatty(STDERR_FILENO) != 0, isatty(STDIN_FILENO) != 0,
			       false, false };
	struct study_events ev = { run_start, run_end, gap_tick, &pr };
	struct study_run_options so = STUDY_RUN_OPTIONS_INIT;
	struct study_outcome out;
	struct sigaction sa, old;
	char *exe_dir = fs_exe_dir();
	char *self = exe_dir ? fs_join(exe_dir, "llem") : NULL;
	char *exe = NULL;
	int64_t cycles = cfg_int(&s->execution, FIELD_EXECUTION_N_CYCLES);
	int rc;

	/* Workers are this very binary; LLEM_EXE and the rest are the
	 * library's fallbacks, for programs that are not llem. */
	rc = study_find_llem_exe(&exe, self && fs_exists(self) ? self : NULL);
	free(self);
	free(exe_dir);
	if (rc) {
		cli_error("%s", error_last());
		return EXIT_RUN_FAILED;
	}
	if (!quiet) {
		fprintf(stderr, "Study [%s]: %zu configs x %lld cycles = %zu runs\n", s->design_hash,
			s->count, (long long)cycles, s->count * (size_t)cycles);
		fprintf(stderr, "Order: %s\n", cfg_str(&s->execution, FIELD_EXECUTION_CYCLE_ORDER));
		if (s->skipped_count)
			fprintf(stderr, "Skipping %zu/%zu invalid configs (see --dry-run)\n",
				s->skipped_count, s->count + s->skipped_count);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	interrupts = 0;
	so.llem_exe = exe;
	so.resume_dir = resume_dir;
	so.interrupt = &interrupts;
	so.events = &ev;
	rc = study_run(&out, s, &so);
	sigaction(SIGINT, &old, NULL);
	free(exe);
	if (rc) {
		cli_error("%s", error_last());
		study_outcome_release(&out);
		/* A resume of another study is a usage error, not a failed run. */
		return rc == LLEM_EINVAL && resume_dir ? EXIT_USAGE : EXIT_RUN_FAILED;
	}
	print_table(s, &out);
	if (out.interrupted) {
		fprintf(stderr, "\n%zu/%zu experiments completed. Results in %s. Manifest: interrupted.\n",
			out.completed, out.total, out.dir);
		rc = EXIT_INTERRUPTED;
	} else {
		rc = out.failed ? EXIT_PARTIAL : EXIT_OK;
	}
	study_outcome_release(&out);
	return rc;
}
