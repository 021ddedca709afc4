/*
 * `llem run STUDY`: runs a study through libllem, with progress on
 * stderr, a gap countdown on a terminal (Enter skips the gap when stdin is
 * a terminal), the summary table on stdout (the original tool's shape, failed
 * rows included and marked) and the exit code: 0 all completed, 3 some
 * failed, 130 interrupted.
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static volatile int interrupts;

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

/* One row of the summary table. */
struct row {
	char *label;
	bool ok;
	double wall_s, energy_j, tokens_per_s;
};

struct progress {
	bool quiet, tty;
	bool stdin_tty; /* Enter skips a gap */
	bool in_gap;    /* a countdown is on screen */
	bool stdin_eof;
	struct row *rows; /* per run, in run order */
	size_t nrows, cap;
};

static int run_start(struct progress *p, const llem_study_event *e)
{
	if (!p->quiet)
		fprintf(stderr, "[%zu/%zu] ... %s (cycle %d)\n", e->run + 1, e->total, e->label,
			e->cycle);
	return 0;
}

static int run_end(struct progress *p, const llem_study_event *e)
{
	const char *word = e->status == LLEM_STUDY_RUN_COMPLETED     ? "OK  "
			   : e->status == LLEM_STUDY_RUN_INTERRUPTED ? "INTR"
								     : "FAIL";
	struct row *r;

	GROW(p->rows, p->cap, e->run + 1);
	while (p->nrows <= e->run)
		p->rows[p->nrows++] = (struct row){ NULL, false, NAN, NAN, NAN };
	r = &p->rows[e->run];
	free(r->label);
	r->label = xstrdup(e->label);
	r->ok = e->status == LLEM_STUDY_RUN_COMPLETED;
	r->wall_s = e->wall_s;
	r->energy_j = e->energy_j;
	r->tokens_per_s = e->output_tokens_per_s;
	if (p->quiet || e->resumed)
		return 0;
	fprintf(stderr, "[%zu/%zu] %s %s (%.1f s)\n", e->run + 1, e->total, word, e->label,
		e->wall_s);
	if (e->status == LLEM_STUDY_RUN_FAILED && e->error)
		fprintf(stderr, "        %s\n", e->error);
	return 0;
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

/* 1 ends the gap now (Enter), 0 goes on. */
static int gap_tick(struct progress *p, const char *kind, double remaining_s)
{
	if (!p->in_gap) {
		p->in_gap = true;
		if (p->stdin_tty && may_use_terminal())
			tcflush(STDIN_FILENO, TCIFLUSH);
	}
	if (remaining_s > 0 && enter_pressed(p)) {
		p->in_gap = false;
		if (!p->quiet)
			fprintf(stderr, "\r%s: skipped (Enter) with %.0fs left\n", kind,
				remaining_s);
		return 1;
	}
	if (remaining_s <= 0)
		p->in_gap = false;
	if (p->quiet || !p->tty)
		return 0;
	if (remaining_s > 0)
		fprintf(stderr, "\r%s: %.0fs remaining%s   ", kind, remaining_s,
			p->stdin_tty && may_use_terminal() ? " (Enter to skip)" : "");
	else
		fprintf(stderr, "\r%s: done%s   \n", kind, p->stdin_tty ? "                " : "");
	return 0;
}

static int on_event(const llem_study_event *e, void *payload)
{
	struct progress *p = payload;

	switch (e->type) {
	case LLEM_STUDY_RUN_START: return run_start(p, e);
	case LLEM_STUDY_RUN_END: return run_end(p, e);
	case LLEM_STUDY_GAP: return gap_tick(p, e->gap, e->gap_remaining_s);
	}
	return 0;
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

static void print_table(const json_t *plan, const struct progress *p, const llem_study_summary *sum,
			const char *dir)
{
	const char *name = json_string_value(json_object_get(plan, "study_name"));
	size_t k;

	printf("Study: %s\nHash:  %s\n\n", name ? name : "unnamed",
	       json_string_value(json_object_get(plan, "study_design_hash")));
	printf("%-4s %-52s %-6s %9s %12s %10s\n", "#", "Config", "Status", "Time", "Energy",
	       "tok/s");
	for (k = 0; k < p->nrows; k++) {
		const struct row *r = &p->rows[k];
		char energy[32] = "n/a", tps[32] = "n/a", label[53];

		if (!r->label)
			continue; /* not reached (stopped before it) */
		if (!isnan(r->energy_j))
			snprintf(energy, sizeof(energy), "%.4g J", r->energy_j);
		if (!isnan(r->tokens_per_s))
			snprintf(tps, sizeof(tps), "%.4g", r->tokens_per_s);
		table_label(label, sizeof(label), r->label);
		printf("%-4zu %-52s %-6s %8.1fs %12s %10s\n", k + 1, label, r->ok ? "OK" : "FAIL",
		       isnan(r->wall_s) ? 0.0 : r->wall_s, energy, tps);
	}
	printf("\nTotal: %zu/%zu completed  |  %.1f s", sum->completed, sum->total, sum->wall_s);
	if (!isnan(sum->energy_j))
		printf("  |  %.4g J", sum->energy_j);
	printf("\n");
	if (sum->failed)
		printf("Failed: %zu experiment(s)\n", sum->failed);
	printf("Results: %s\n", dir);
}

/*
 * The llem that runs each experiment: this very binary, unless LLEM_EXE
 * names another (the library's own search, which tests use to run a
 * worker that misbehaves on purpose). NULL: let the library search.
 */
static char *worker_exe(void)
{
	const char *env = getenv("LLEM_EXE");
	char *dir, *self;

	if (env && *env)
		return NULL;
	dir = fs_exe_dir();
	self = dir ? fs_join(dir, "llem") : NULL;
	free(dir);
	if (self && !fs_exists(self)) {
		free(self);
		self = NULL;
	}
	return self;
}

int cli_run_study(const llem_config *cfg, const char *plan_json, bool quiet, const char *resume_dir)
{
	struct progress pr = {
		quiet, isatty(STDERR_FILENO) != 0, isatty(STDIN_FILENO) != 0, false, false, NULL, 0,
		0
	};
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	json_t *plan = json_loads(plan_json, 0, NULL);
	const json_t *exps = json_object_get(plan, "experiments");
	size_t nskip = json_array_size(json_object_get(plan, "skipped")), k;
	struct sigaction sa, old;
	char *exe = worker_exe(), *dir = NULL;
	int rc;

	if (!quiet) {
		fprintf(stderr, "Study [%s]: %zu configs x %lld cycles = %lld runs\n",
			json_string_value(json_object_get(plan, "study_design_hash")),
			json_array_size(exps),
			(long long)json_integer_value(json_object_get(plan, "n_cycles")),
			(long long)json_integer_value(json_object_get(plan, "total_runs")));
		fprintf(stderr, "Order: %s\n",
			json_string_value(json_object_get(plan, "cycle_order")));
		if (nskip)
			fprintf(stderr, "Skipping %zu/%zu invalid configs (see --dry-run)\n", nskip,
				json_array_size(exps) + nskip);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	interrupts = 0;
	so.llem_exe = exe;
	so.resume_dir = resume_dir;
	so.interrupt = &interrupts;
	so.progress = on_event;
	so.progress_payload = &pr;
	rc = llem_run_study(&dir, &sum, cfg, &so);
	sigaction(SIGINT, &old, NULL);
	free(exe);
	if (rc && rc != LLEM_EINTR) {
		cli_error("%s", llem_error_last());
		/* A resume of another study is a usage error, not a failed run. */
		rc = rc == LLEM_EINVAL && resume_dir ? EXIT_USAGE : EXIT_RUN_FAILED;
		goto out;
	}
	print_table(plan, &pr, &sum, dir);
	if (sum.interrupted) {
		fprintf(stderr,
			"\n%zu/%zu experiments completed. Results in %s. Manifest: interrupted.\n",
			sum.completed, sum.total, dir);
		rc = EXIT_INTERRUPTED;
	} else {
		rc = sum.failed ? EXIT_PARTIAL : EXIT_OK;
	}
out:
	for (k = 0; k < pr.nrows; k++)
		free(pr.rows[k].label);
	free(pr.rows);
	llem_free(dir);
	json_decref(plan);
	return rc;
}
