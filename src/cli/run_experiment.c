/*
 * `llem run` for one experiment: runs it through libllem with progress on
 * stderr (on a terminal), then prints the summary of the result JSON on
 * stdout (three significant figures, energy lines only when measured) and
 * where the files went.
 */
#include "cli.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int got_sigint;

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

static void on_phase(const char *name, double expected_s, void *payload)
{
	(void)payload;
	if (expected_s > 0)
		fprintf(stderr, "  %s (%.0f s)...\n", name, expected_s);
	else
		fprintf(stderr, "  %s...\n", name);
}

/* A number of the result, NaN where it is null or missing. */
static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key, const char *fallback)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : fallback;
}

/* "mean X ms, p95 Y ms": a latency distribution with samples, or NULL. */
static const json_t *dist(const json_t *latency, const char *key)
{
	const json_t *d = json_object_get(latency, key);

	return json_is_object(d) && num(d, "samples") > 0 ? d : NULL;
}

static void print_energy(const json_t *r)
{
	const json_t *e = json_object_get(r, "energy");
	const json_t *devices = json_object_get(e, "devices");
	char a[32];
	size_t i;

	printf("\nEnergy\n");
	if (!json_is_object(e)) {
		printf("  not measured: %s\n", str(r, "energy_null_reason", "no reason recorded"));
		return;
	}
	printf("  Total          %s J\n", fmt(a, num(e, "total_energy_j")));
	for (i = 0; i < json_array_size(devices); i++) {
		const json_t *d = json_array_get(devices, i);

		printf("    %-12s %s J (%s)\n", str(d, "device", "?"), fmt(a, num(d, "energy_j")),
		       str(d, "method", "?"));
	}
	if (!isnan(num(json_object_get(e, "baseline"), "power_w")))
		printf("  Baseline       %s W\n",
		       fmt(a, num(json_object_get(e, "baseline"), "power_w")));
	if (!isnan(num(e, "energy_adjusted_j")))
		printf("  Adjusted       %s J\n", fmt(a, num(e, "energy_adjusted_j")));
	printf("  Per token      %s J/output token\n", fmt(a, num(e, "energy_per_output_token_j")));
}

static void print_summary(const json_t *r)
{
	const json_t *tp = json_object_get(r, "throughput"), *tok = json_object_get(r, "tokens");
	const json_t *fl = json_object_get(r, "flops"), *lat = json_object_get(r, "latency");
	const json_t *wu = json_object_get(r, "warmup"), *warnings = json_object_get(r, "warnings");
	const json_t *ttft = dist(lat, "ttft_ms"), *itl = dist(lat, "itl_ms");
	char a[32], b[32], c[32];
	size_t i;

	printf("Result: %s\n", str(r, "experiment_id", "?"));
	print_energy(r);
	printf("\nPerformance\n");
	printf("  Throughput     %s tok/s output, %s tok/s total\n",
	       fmt(a, num(tp, "output_tokens_per_s")), fmt(b, num(tp, "total_tokens_per_s")));
	printf("  Tokens         %.0f in, %.0f out (%.0f requests)\n", num(tok, "input_tokens"),
	       num(tok, "output_tokens"), num(tok, "requests"));
	if (num(fl, "total_flops") > 0)
		printf("  FLOPs          %.2e (prefill %.2e, decode %.2e)\n",
		       num(fl, "total_flops"), num(fl, "prefill_flops"), num(fl, "decode_flops"));
	if (ttft)
		printf("  Latency TTFT   mean %s ms, p95 %s ms\n", fmt(a, num(ttft, "mean")),
		       fmt(b, num(ttft, "p95")));
	if (itl)
		printf("  Latency ITL    mean %s ms, p95 %s ms, p99 %s ms\n",
		       fmt(a, num(itl, "mean")), fmt(b, num(itl, "p95")), fmt(c, num(itl, "p99")));
	duration_text(a, sizeof(a), num(r, "duration_s"));
	printf("\nTiming\n  Duration       %s\n", a);
	if (json_is_true(json_object_get(wu, "enabled"))) {
		double done = num(wu, "iterations_completed");

		printf("  Warmup         %.0f run%s%s\n", done, done == 1 ? "" : "s",
		       strcmp(str(wu, "mode", ""), "cv")                ? ""
		       : json_is_true(json_object_get(wu, "converged")) ? " (converged)"
									: " (not converged)");
	}
	if (json_array_size(warnings)) {
		printf("\nWarnings\n");
		for (i = 0; i < json_array_size(warnings); i++)
			printf("  %s\n", json_string_value(json_array_get(warnings, i)));
	}
}

int cli_run_experiment(const llem_config *cfg, bool quiet)
{
	llem_run_options ro = LLEM_RUN_OPTIONS_INIT;
	struct sigaction sa, old;
	char *text = NULL, *dir = NULL;
	json_error_t err;
	json_t *result;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	got_sigint = 0;
	if (!quiet && isatty(STDERR_FILENO))
		ro.phase = on_phase;
	ro.interrupt = &got_sigint;
	if (!quiet) {
		json_t *c = json_loads(llem_config_canonical_json(cfg), 0, NULL);

		fprintf(stderr, "Experiment: %s | %s | %s\n", str(c, "model", "?"),
			str(c, "backend", "?"), str(c, "precision", "?"));
		json_decref(c);
	}
	rc = llem_run_experiment(&text, &dir, cfg, &ro);
	sigaction(SIGINT, &old, NULL);
	if (rc == LLEM_EINTR) {
		fprintf(stderr, "\nInterrupted.\n");
		return EXIT_INTERRUPTED;
	}
	if (rc) {
		cli_error("%s", llem_error_last());
		return EXIT_RUN_FAILED;
	}
	result = json_loads(text, 0, &err);
	if (!result) {
		cli_error("internal: the result is not JSON: %s", err.text);
		rc = EXIT_RUN_FAILED;
	} else {
		print_summary(result);
		rc = EXIT_OK;
	}
	if (dir)
		fprintf(stderr, "Saved: %s\n", dir);
	json_decref(result);
	llem_free(text);
	llem_free(dir);
	return rc;
}
