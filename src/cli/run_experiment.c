/*
 * `llem run` for one experiment: runs it through the measure layer with
 * progress on stderr (on a terminal), then prints the summary on stdout
 * (seed-repo.md §1.5 layout: three significant figures, energy lines only
 * when measured) and where the files went.
 */
#include "cli/cli.h"
#include "measure/measure.h"
#include "llem/llem.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

/* Three significant figures, trailing zeros dropped: 312.4 -> "312". */
static void sig3(char *buf, size_t n, double v)
{
	char *p;

	if (isnan(v)) {
		snprintf(buf, n, "n/a");
		return;
	}
	if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3)) {
		snprintf(buf, n, "%.3g", v);
		return;
	}
	snprintf(buf, n, "%.*f", v == 0 ? 0 : (int)fmax(0, 2 - floor(log10(fabs(v)))), v);
	if (strchr(buf, '.')) {
		p = buf + strlen(buf) - 1;
		while (*p == '0')
			*p-- = '\0';
		if (*p == '.')
			*p = '\0';
	}
}

static const char *fmt(char *buf, double v)
{
	sig3(buf, 32, v);
	return buf;
}

static void duration_text(char *buf, size_t n, double s)
{
	if (s < 60)
		snprintf(buf, n, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, n, "%dm %02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, n, "%dh %02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void on_phase(void *ctx, const char *name, double expected_s)
{
	(void)ctx;
	if (expected_s > 0)
		fprintf(stderr, "  %s (%.0f s)...\n", name, expected_s);
	else
		fprintf(stderr, "  %s...\n", name);
}

static void print_summary(const struct llem_result *r)
{
	char a[32], b[32], c[32];
	size_t i;

	printf("Result: %s\n\nEnergy\n", r->experiment_id);
	if (!r->energy.present) {
		printf("  not measured: %s\n", r->energy_null_reason);
	} else {
		printf("  Total          %s J\n", fmt(a, r->energy.total_energy_j));
		for (i = 0; i < r->energy.device_count; i++)
			printf("    %-12s %s J (%s)\n", r->energy.devices[i].device,
			       fmt(a, r->energy.devices[i].energy_j),
			       result_energy_method_name(r->energy.devices[i].method));
		if (!isnan(r->energy.baseline.power_w))
			printf("  Baseline       %s W\n", fmt(a, r->energy.baseline.power_w));
		if (!isnan(r->energy.energy_adjusted_j))
			printf("  Adjusted       %s J\n", fmt(a, r->energy.energy_adjusted_j));
		printf("  Per token      %s J/output token\n",
		       fmt(a, r->energy.energy_per_output_token_j));
	}
	printf("\nPerformance\n");
	printf("  Throughput     %s tok/s output, %s tok/s total\n",
	       fmt(a, r->throughput.output_tokens_per_s), fmt(b, r->throughput.total_tokens_per_s));
	printf("  Tokens         %lld in, %lld out (%lld requests)\n",
	       (long long)r->tokens.input_tokens, (long long)r->tokens.output_tokens,
	       (long long)r->tokens.requests);
	if (r->flops.total_flops > 0)
		printf("  FLOPs          %.2e (prefill %.2e, decode %.2e)\n", r->flops.total_flops,
		       r->flops.prefill_flops, r->flops.decode_flops);
	if (r->latency.ttft_ms.present && r->latency.ttft_ms.samples)
		printf("  Latency TTFT   mean %s ms, p95 %s ms\n", fmt(a, r->latency.ttft_ms.mean),
		       fmt(b, r->latency.ttft_ms.p95));
	if (r->latency.itl_ms.present && r->latency.itl_ms.samples)
		printf("  Latency ITL    mean %s ms, p95 %s ms, p99 %s ms\n",
		       fmt(a, r->latency.itl_ms.mean), fmt(b, r->latency.itl_ms.p95),
		       fmt(c, r->latency.itl_ms.p99));
	duration_text(a, sizeof(a), r->duration_s);
	printf("\nTiming\n  Duration       %s\n", a);
	if (r->warmup.enabled)
		printf("  Warmup         %lld run%s%s\n", (long long)r->warmup.iterations_completed,
		       r->warmup.iterations_completed == 1 ? "" : "s",
		       r->warmup.mode == RESULT_WARMUP_CV
			       ? (r->warmup.converged ? " (converged)" : " (not converged)")
			       : "");
	if (r->warning_count) {
		printf("\nWarnings\n");
		for (i = 0; i < r->warning_count; i++)
			printf("  %s\n", r->warnings[i]);
	}
}

int cli_run_experiment(const struct config *cfg, bool quiet)
{
	struct measure_progress progress = { on_phase, NULL, NULL };
	struct measure_options mo = { 0 };
	struct llem_result r;
	struct sigaction sa, old;
	char *dir = NULL;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	got_sigint = 0;
	mo.progress = !quiet && isatty(STDERR_FILENO) ? &progress : NULL;
	mo.interrupted = &got_sigint;
	mo.write_files = true;
	if (!quiet)
		fprintf(stderr, "Experiment: %s | %s | %s\n", cfg_str(cfg, FIELD_MODEL),
			cfg_str(cfg, FIELD_BACKEND), cfg_str(cfg, FIELD_PRECISION));
	rc = measure_experiment(&r, &dir, cfg, &mo);
	sigaction(SIGINT, &old, NULL);
	if (rc == LLEM_EINTR) {
		fprintf(stderr, "\nInterrupted.\n");
		result_release(&r);
		return EXIT_INTERRUPTED;
	}
	if (rc) {
		cli_error("%s", error_last());
		result_release(&r);
		return EXIT_RUN_FAILED;
	}
	print_summary(&r);
	if (dir)
		fprintf(stderr, "Saved: %s\n", dir);
	free(dir);
	result_release(&r);
	return EXIT_OK;
}
