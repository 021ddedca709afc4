/*
 * energy: where joules come from. Hardware counters (NVML total energy,
 * RAPL energy_uj through the powercap sysfs), differenced at the edges of a
 * measurement window, and a sampler for the power timeseries.
 *
 * Ownership: a struct filled by a _probe/_open function owns every string
 * and array inside it; free them with the matching _release/_close. Strings
 * that could not be read are NULL, numbers -1, never a made-up value.
 */
#ifndef LLEM_ENERGY_H
#define LLEM_ENERGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- RAPL zones (rapl_probe.c) ---- */

#define RAPL_DEFAULT_ROOT "/sys/class/powercap"

/*
 * One powercap zone of the intel-rapl control type (AMD CPUs appear under
 * the same names). Zones nest: package-N contains core/uncore/dram, so
 * energies of a zone and its subzones must never be added together.
 */
struct rapl_zone {
	char *id;      /* "intel-rapl:0", "intel-rapl:0:1" */
	char *name;    /* "package-0", "core", "uncore", "dram", "psys"; NULL if unreadable */
	char *path;    /* directory holding energy_uj */
	int depth;     /* 0 top-level, 1 subzone */
	bool readable; /* energy_uj could actually be read */
	char *error;   /* why not readable ("...: Permission denied"), else NULL */
	int64_t max_energy_range_uj; /* wrap-around point of energy_uj; -1 unknown */
};

struct rapl_probe {
	char *root;              /* the powercap directory scanned */
	bool present;            /* at least one intel-rapl zone exists */
	struct rapl_zone *zones; /* sorted by id, numerically: 0, 0:0, 0:1, 1, ... */
	size_t zone_count;
	bool all_readable; /* present and every zone readable */
	/*
	 * When some energy_uj is not readable (root-only on many kernels since
	 * CVE-2020-8694): one line to paste into a shell, lasting until reboot,
	 * and the longer way to make it permanent (a udev rule). NULL otherwise.
	 */
	char *fix_hint;
	char *fix_detail;
};

/*
 * Scans root (NULL = RAPL_DEFAULT_ROOT) for intel-rapl:* zones and their
 * intel-rapl:*:* subzones, reading name and max_energy_range_uj, and tries
 * to read each energy_uj. Never fails: a missing root gives present=false.
 * intel-rapl-mmio zones are not listed (they duplicate package-N).
 */
void rapl_probe(const char *root, struct rapl_probe *out);
void rapl_probe_release(struct rapl_probe *p);

/* ---- energy sources (one per kind; the meter combines them) ---------- */

enum energy_kind { ENERGY_NVML, ENERGY_RAPL, ENERGY_REPLAY };

/* What one measured device is. */
struct energy_device_desc {
	enum energy_kind kind;
	char name[48];    /* "gpu0", "package-0", "dram-0", as in results */
	char label[128];  /* "NVIDIA H100 80GB HBM3", "intel-rapl:0" */
	bool has_counter; /* a cumulative energy counter */
	bool has_power;   /* an instantaneous power reading */
};

/*
 * One read of one device at t_ns (CLOCK_MONOTONIC). energy_j is the
 * cumulative energy since the source was opened, wrap-corrected (RAPL),
 * monotone; NAN without a counter. Other fields NAN (or 0 for throttle
 * bits) when the device does not report them.
 */
struct energy_reading {
	uint64_t t_ns;
	bool valid;         /* the read succeeded */
	bool counter_reset; /* the counter went backwards since the last read */
	double energy_j;
	double power_w; /* instantaneous where available */
	double temperature_c;
	double memory_used_mb; /* MiB */
	double memory_total_mb;
	double utilization_pct;
	uint64_t throttle_reasons; /* NVML clocks-event reason bits */
};

/*
 * A source's devices and reads. read() is called for one device at a
 * time, never concurrently (the meter serialises), and must not allocate.
 */
struct energy_source_ops {
	const char *name; /* "nvml", "rapl", "replay" */
	size_t (*device_count)(void *src);
	void (*device_desc)(void *src, size_t i, struct energy_device_desc *out);
	int (*read)(void *src, size_t i, uint64_t now_ns, struct energy_reading *out);
	void (*close)(void *src);
};

/*
 * Openers. On success *out and *ops describe an open source with at least one
 * device. On failure they return a negative LLEM_E* code and set *why to a
 * one-line reason for the result's energy_null_reason (caller frees), e.g.
 * "NVML: libnvidia-ml.so.1 not found (no NVIDIA driver)" or
 * "RAPL: /sys/class/powercap/intel-rapl:0/energy_uj: Permission denied
 * (fix: sudo chmod o+r ...)".
 */
/* NVML GPUs. visible: the CUDA_VISIBLE_DEVICES value (indices and/or
 * GPU-UUID prefixes, comma-separated) or NULL for all GPUs. */
int energy_nvml_open(void **out, const struct energy_source_ops **ops, const char *visible,
		     char **why);
/* RAPL package and DRAM zones (never a subzone added to its parent). */
int energy_rapl_open(void **out, const struct energy_source_ops **ops, const char *root,
		     char **why);
/* A recorded trace played back on the monotonic clock from the open. */
int energy_replay_open(void **out, const struct energy_source_ops **ops, const char *path,
		       char **why);
/*
 * The CLOCK_MONOTONIC time (ns) at which a replay source was opened: trace
 * time 0. A read at now_ns plays the trace at (now_ns - start) seconds.
 */
uint64_t energy_replay_start_ns(void *src);

/* ---- the meter: every device of every selected source (meter.c) ------ */

struct energy_meter;

struct energy_meter_opts {
	const char *backend; /* "auto", "nvml", "rapl", "replay"; NULL: off */
	const char *rapl_root;
	const char *replay_file;
	const char *cuda_visible; /* CUDA_VISIBLE_DEVICES or NULL */
};

/*
 * Opens the sources the config asks for. "auto" opens whatever is
 * available (possibly nothing: then energy_meter_device_count is 0 and
 * energy_meter_why_none says why). An explicitly named source that cannot
 * be opened is an error (LLEM_ENOTSUP) with its reason as the message.
 */
int energy_meter_open(struct energy_meter **out, const struct energy_meter_opts *o);
void energy_meter_close(struct energy_meter *m);
size_t energy_meter_device_count(const struct energy_meter *m);
const struct energy_device_desc *energy_meter_device(const struct energy_meter *m, size_t i);
/* Why no device is measured ("energy measurement disabled ...", or every
 * source's reason joined by "; "); NULL when some device is. Borrowed. */
const char *energy_meter_why_none(const struct energy_meter *m);
/* Reads every device now into out[device_count]; safe to call from the
 * sampler thread and the caller at once (serialised inside). */
void energy_meter_read(struct energy_meter *m, struct energy_reading *out);

/* ---- the sampler thread (sampler.c) ---------------------------------- */

struct energy_sampler;

/*
 * Starts a thread that reads the meter every interval_ms (absolute
 * CLOCK_MONOTONIC deadlines, so no drift) into a buffer allocated here for
 * capacity samples; the loop itself allocates nothing. When full it keeps
 * the first capacity samples and counts the rest as dropped.
 */
int energy_sampler_start(struct energy_sampler **out, struct energy_meter *m, unsigned interval_ms,
			 size_t capacity);
/* Stops and joins the thread; the samples stay readable until _free. */
void energy_sampler_stop(struct energy_sampler *s);
void energy_sampler_free(struct energy_sampler *s);
size_t energy_sampler_count(const struct energy_sampler *s);
size_t energy_sampler_dropped(const struct energy_sampler *s);
/* Sample k: device_count readings. */
const struct energy_reading *energy_sampler_sample(const struct energy_sampler *s, size_t k);
/* CPU time the sampler thread used, ns (for the overhead benchmark). */
uint64_t energy_sampler_cpu_ns(const struct energy_sampler *s);

/* ---- energy over a window (window.c) --------------------------------- */

struct energy_window_device {
	double energy_j;      /* the value reported: counter, else integral */
	bool from_counter;    /* which of the two energy_j is */
	double counter_j;     /* counter delta at the edges; NAN if none */
	double integral_j;    /* trapezoid of power samples; NAN if < 2 */
	size_t power_samples; /* samples with power inside the window */
	bool counter_reset;   /* a reset inside the window: energy invalid */
	double max_temperature_c;
	double start_temperature_c, end_temperature_c;
	double peak_memory_used_mb;
	uint64_t throttle_reasons; /* OR over the window's samples */
	size_t throttled_samples;
};

/*
 * Energy of device i between two edge readings (start, end), with the
 * sampler's samples inside [start.t_ns, end.t_ns] as the power integral
 * cross-check and the source of temperature/throttle/memory summaries.
 */
void energy_window_compute(struct energy_window_device *out, const struct energy_reading *start,
			   const struct energy_reading *end, const struct energy_sampler *s,
			   size_t i);

#endif
