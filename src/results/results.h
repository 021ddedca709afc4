/*
 * results: the ExperimentResult model (struct llem_result) and its JSON form,
 * result.json (docs/results.md, docs/result.schema.json). Writing, reading
 * and writing again gives identical bytes: every double is printed as the
 * shortest decimal that reads back bit-exact, every count is an int64.
 *
 * Null conventions, the same in C and on disk:
 *   double        NAN means null (written as null, read back as NAN)
 *   count         int64_t -1 means null (other negatives are invalid)
 *   string        NULL means null
 *   object        a `present` flag; false writes null
 *
 * Ownership: result_init sets every field to null/empty; result_release frees
 * every string and array the result points to, the environment snapshot
 * included, and leaves it as result_init does. Strings and arrays put into a
 * result must come from malloc (xstrdup, xasprintf): the result owns them.
 */
#ifndef LLEM_RESULTS_H
#define LLEM_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env/env.h"
#include "results/table.h"
#include "util/util.h"

/* Bumped on any change a reader of an older version would misread. */
#define RESULT_SCHEMA_VERSION "1.0"

/* Which part of the run the energy and throughput figures cover. */
enum result_methodology {
	RESULT_METHODOLOGY_TOTAL,        /* the whole measurement window */
	RESULT_METHODOLOGY_STEADY_STATE, /* a detected steady-state span */
	RESULT_METHODOLOGY_WINDOWED      /* a configured span */
};

enum result_baseline_method {
	RESULT_BASELINE_FRESH,      /* measured for this experiment */
	RESULT_BASELINE_CACHED,     /* reused from an earlier experiment */
	RESULT_BASELINE_DISABLED,   /* switched off in the config */
	RESULT_BASELINE_UNAVAILABLE /* wanted, but no power reading */
};

enum result_energy_source { RESULT_SOURCE_NVML, RESULT_SOURCE_RAPL, RESULT_SOURCE_REPLAY };

enum result_energy_method {
	RESULT_ENERGY_COUNTER, /* hardware counter differenced at the edges */
	RESULT_ENERGY_INTEGRAL /* trapezoid integral of sampled power */
};

enum result_warmup_mode {
	RESULT_WARMUP_FIXED, /* a fixed number of runs */
	RESULT_WARMUP_CV     /* until the latency CV falls below target */
};

/* The names used in result.json ("total", "fresh", ...), by enum value. */
extern const char *const result_methodology_names[3];
extern const char *const result_baseline_method_names[4];
extern const char *const result_energy_source_names[3];
extern const char *const result_energy_method_names[2];
extern const char *const result_warmup_mode_names[2];
/* The same names; NULL if out of range. */
const char *result_methodology_name(enum result_methodology m);
const char *result_baseline_method_name(enum result_baseline_method m);
const char *result_energy_source_name(enum result_energy_source s);
const char *result_energy_method_name(enum result_energy_method m);
const char *result_warmup_mode_name(enum result_warmup_mode m);

/* Summary of a sample set; the unit is the enclosing key's (ttft_ms: ms). */
struct result_stats {
	bool present;                            /* false: not measured (null on disk) */
	int64_t samples;                         /* samples summarised (NaN samples left out) */
	double mean, median, p95, p99, min, max; /* NAN when samples == 0 */
};

struct result_window {
	bool present;          /* false for methodology "total" */
	double start_s, end_s; /* from the start of the measurement window */
};

struct result_tokens {
	int64_t requests;      /* requests completed in the window */
	int64_t input_tokens;  /* prompt tokens, padding never counted */
	int64_t output_tokens; /* generated tokens, padding never counted */
	int64_t total_tokens;  /* input_tokens + output_tokens */
};

struct result_throughput {
	double output_tokens_per_s; /* output_tokens / duration_s */
	double total_tokens_per_s;  /* total_tokens / duration_s */
	double requests_per_s;      /* requests / duration_s */
};

struct result_baseline {
	enum result_baseline_method method;
	double power_w;    /* idle power, summed over devices */
	char *measured_at; /* UTC start of the baseline measurement */
	double age_s;      /* measurement window start - baseline end */
	double duration_s; /* how long the baseline was sampled */
	int64_t samples;   /* power readings averaged */
};

/* One energy domain, never overlapping another (RAPL package vs dram). */
struct result_energy_device {
	enum result_energy_source source;
	char *device; /* "gpu0", "package-0", "dram-0" */
	enum result_energy_method method;
	double energy_j;          /* gross energy over the window */
	double integral_energy_j; /* power-integral cross-check; NAN if none */
	double baseline_power_w;  /* this device's idle power; NAN if none */
	double energy_adjusted_j; /* max(0, energy_j - baseline_power_w *
				   * duration_s); NAN without a baseline */
	int64_t power_samples;    /* power readings in the window */
};

struct result_energy {
	bool present;                     /* false: no sensor; see energy_null_reason */
	double total_energy_j;            /* sum of devices[].energy_j */
	double energy_adjusted_j;         /* sum of devices[].energy_adjusted_j */
	double energy_per_output_token_j; /* total_energy_j / output_tokens */
	double energy_adjusted_per_output_token_j;
	double mean_power_w; /* total_energy_j / duration_s */
	struct result_baseline baseline;
	struct result_energy_device *devices;
	size_t device_count, device_cap;
};

struct result_flops {
	double total_flops; /* prefill_flops + decode_flops */
	double prefill_flops;
	double decode_flops;
	double flops_per_output_token; /* total_flops / output_tokens */
	char *method;                  /* e.g. "2N+attention"; NULL when unknown */
};

/* What the backend reported at load time (FLOPs are derived from it). */
struct result_model_info {
	int64_t parameters;
	int64_t non_embedding_parameters;
	int64_t layers, hidden_size, attention_heads, kv_heads, vocab_size;
	char *dtype; /* "float32", "bfloat16", "q8_0", ... */
	int64_t weights_bytes;
};

struct result_latency {
	struct result_stats ttft_ms; /* per request: first token - submit */
	struct result_stats itl_ms;  /* every gap between consecutive tokens */
	struct result_stats tpot_ms; /* per request: (e2e - ttft) / (out - 1) */
	struct result_stats e2e_ms;  /* per request: last token - submit */
};

struct result_memory {
	double model_memory_mb; /* MiB held after load, before inference */
	double peak_memory_mb;  /* MiB peak during the window, model included */
	char *method;           /* how it was read, e.g. "nvml", "rss" */
};

struct result_thermal {
	bool present; /* false: no temperature/throttle sensor */
	double max_temperature_c;
	double start_temperature_c, end_temperature_c;
	bool throttle_detected; /* any of the five reasons below was seen */
	bool thermal;           /* sw_thermal || hw_thermal */
	bool power, sw_thermal, hw_thermal, hw_power;
	double throttled_duration_s;
	int64_t samples;
};

struct result_warmup {
	bool enabled;
	enum result_warmup_mode mode;
	int64_t iterations_completed;
	bool converged;
	double final_cv;  /* population CV of the last window */
	double target_cv; /* NAN in fixed mode */
	double thermal_floor_wait_s;
	double *latencies_ms; /* one per warmup run, in order */
	size_t latency_count, latency_cap;
};

struct llem_result {
	char *experiment_id;
	char *config_hash; /* 16 lowercase hex digits */
	char *model;
	char *backend;
	char *backend_version; /* nullable */
	enum result_methodology methodology;
	struct result_window steady_state_window;
	char *start_time; /* ISO-8601 UTC ending in 'Z' */
	char *end_time;
	double duration_s;       /* measurement window, CLOCK_MONOTONIC */
	double inference_time_s; /* time inside the backend's generate calls */
	struct result_tokens tokens;
	struct result_throughput throughput;
	struct result_energy energy;
	char *energy_null_reason; /* set exactly when !energy.present */
	struct result_flops flops;
	struct result_model_info model_info;
	struct result_latency latency;
	struct result_memory memory;
	struct result_thermal thermal;
	struct result_warmup warmup;
	struct env_snapshot environment;
	char **warnings;
	size_t warning_count, warning_cap;
	char *timeseries;       /* file name next to result.json, or NULL */
	char *effective_config; /* JSON object text, or NULL; see below */
};

void result_init(struct llem_result *r);
void result_release(struct llem_result *r);

/*
 * The rules a result must meet to be written or read (docs/results.md):
 * required strings set, config_hash 16 lowercase hex digits, timestamps
 * ISO-8601 UTC with 'Z', energy and energy_null_reason exactly one set,
 * total_tokens == input_tokens + output_tokens, device names set. Returns
 * 0 or LLEM_EINVAL with "source: key.path: why" as the message.
 */
int result_check(const struct llem_result *r, const char *source);

/* Appends a warning ("prefix: text", see docs/results.md). */
void result_add_warning(struct llem_result *r, const char *fmt, ...) LLEM_PRINTF(2, 3);
/* A new device entry with every value null; owned by r. */
struct result_energy_device *result_add_energy_device(struct llem_result *r);
void result_warmup_add_latency(struct llem_result *r, double latency_ms);

/*
 * Appends result.json's text (pretty, 2-space indent, trailing newline) to
 * out. effective_config may be any JSON object text; it is written as a
 * nested object. Nothing is appended on error. Errors: LLEM_EINVAL when the
 * result breaks a rule of docs/results.md (a required string unset, a bad
 * config_hash or timestamp, energy and energy_null_reason both or neither
 * set, total_tokens != input + output, effective_config not an object).
 */
int result_to_json(const struct llem_result *r, struct strbuf *out);

/*
 * Parses result.json text into *out (initialised here; left as result_init
 * does on error). Strict: unknown or missing keys, wrong types, negative
 * counts, another schema_version and the rules above are errors whose
 * message names source_name and the key path ("energy.devices[0].energy_j").
 * effective_config is kept as one-line JSON in Python's json.dumps layout,
 * so writing it again reproduces the file. Errors: LLEM_EINVAL.
 */
int result_from_json(struct llem_result *out, const char *json, const char *source_name);

/*
 * Parses text (a JSON object) and writes it through w as one value, in w's
 * layout: member order kept, numbers in numfmt_double form. Used for
 * effective_config both ways. Errors: LLEM_EINVAL ("what: ..." message).
 */
int result_emit_json_object(struct jsonw *w, const char *text, const char *what);

/* result_to_json into path, atomically: the file is complete or absent. */
int result_save(const struct llem_result *r, const char *path);
/* fs_read_file + result_from_json. Errors: LLEM_ENOTFOUND, LLEM_EIO, EINVAL. */
int result_load(struct llem_result *out, const char *path);

/*
 * Fills *out from n samples (NaN samples are left out): mean (numpy's
 * pairwise summation order), median and p95/p99 with numpy's default
 * "linear" percentile, min, max. present is set; with no samples left the
 * values are NAN and samples is 0.
 */
void result_stats_compute(struct result_stats *out, const double *samples, size_t n);
/* numpy.percentile(sorted, pct) with method="linear"; NAN when n == 0. */
double result_percentile_sorted(const double *sorted, size_t n, double pct);

/* "synthetic/SmolLM-135M" -> "synthetic-smollm-135m": the model's part of
 * experiment directory names (caller frees). */
char *result_model_slug(const char *model);

#endif
