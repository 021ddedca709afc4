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
	char *id;            /* "intel-rapl:0", "intel-rapl:0:1" */
	char *name;          /* "package-0", "core", "uncore", "dram", "psys"; NULL if unreadable */
	char *path;          /* directory holding energy_uj */
	int depth;           /* 0 top-level, 1 subzone */
	bool readable;       /* energy_uj could actually be read */
	char *error;         /* why not readable ("...: Permission denied"), else NULL */
	int64_t max_energy_range_uj; /* wrap-around point of energy_uj; -1 unknown */
};

struct rapl_probe {
	char *root;          /* the powercap directory scanned */
	bool present;        /* at least one intel-rapl zone exists */
	struct rapl_zone *zones; /* sorted by id, numerically: 0, 0:0, 0:1, 1, ... */
	size_t zone_count;
	bool all_readable;   /* present and every zone readable */
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

#endif
