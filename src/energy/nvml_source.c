/*
 * The NVML energy source: NVIDIA GPUs through the dlopen binding in env.
 * Energy from each board's cumulative counter, instantaneous power, and
 * the telemetry the sampler records (temperature, memory, utilisation,
 * clocks-event reasons), for every GPU or those CUDA_VISIBLE_DEVICES picks.
 */
#include "energy/energy.h"
#include "env/env.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* NVML supports far fewer; a larger count is a broken library. */
#define NVML_MAX_DEVICES 4096

struct nvml_gpu {
	nvmlDevice_t dev;
	struct energy_device_desc desc;
	/*
	 * Which calls answered at open. A call that worked then and fails
	 * later makes that reading invalid; one that did not is never made
	 * again, and its field stays NAN.
	 */
	bool power_field; /* field 186 through nvmlDeviceGetFieldValues */
	bool power_usage; /* nvmlDeviceGetPowerUsage */
	bool temperature;
	bool memory;
	bool utilization;
	bool throttle;
	/*
	 * energy_j = offset_j + (counter - base_mj) / 1000. A reset moves the
	 * base to the new counter value and folds what was counted before
	 * into offset_j, so energy_j never goes down.
	 */
	unsigned long long base_mj;
	unsigned long long last_mj;
	double offset_j;
};

struct nvml_source {
	struct nvml_lib lib;
	struct nvml_gpu *gpus;
	size_t count;
};

/* What enumeration learnt about one GPU, for matching CUDA_VISIBLE_DEVICES. */
struct nvml_found {
	nvmlDevice_t dev; /* NULL when the handle could not be had */
	nvmlReturn_t handle_rc;
	char uuid[NVML_NAME_BUFFER_SIZE]; /* "" when unknown */
};

/* ---- reading ---- */

/* A field record's value as a double, whatever member NVML filled. */
static double field_number(const nvmlFieldValue_t *v)
{
	switch (v->valueType) {
	case NVML_VALUE_TYPE_DOUBLE: return v->value.dVal;
	case NVML_VALUE_TYPE_UNSIGNED_INT: return (double)v->value.uiVal;
	case NVML_VALUE_TYPE_UNSIGNED_LONG: return (double)v->value.ulVal;
	case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: return (double)v->value.ullVal;
	case NVML_VALUE_TYPE_SIGNED_LONG_LONG: return (double)v->value.sllVal;
	case NVML_VALUE_TYPE_SIGNED_INT: return (double)v->value.siVal;
	case NVML_VALUE_TYPE_UNSIGNED_SHORT: return (double)v->value.usVal;
	default: return NAN;
	}
}

/*
 * Field 186 (instantaneous board power, GPU scope). On Ampere and newer
 * nvmlDeviceGetPowerUsage is a one-second average, which smears short
 * windows, so the field comes first. Returns the call's result, or the
 * record's own nvmlReturn when the call as a whole succeeded.
 */
static nvmlReturn_t read_power_field(const struct nvml_lib *lib, nvmlDevice_t dev, double *power_w)
{
	nvmlFieldValue_t v;
	nvmlReturn_t rc;

	memset(&v, 0, sizeof(v));
	v.fieldId = NVML_FI_DEV_POWER_INSTANT;
	v.scopeId = NVML_POWER_SCOPE_GPU;
	rc = lib->device_get_field_values(dev, 1, &v);
	if (rc != NVML_SUCCESS)
		return rc;
	if (v.nvmlReturn != NVML_SUCCESS)
		return v.nvmlReturn;
	*power_w = field_number(&v) / 1000.0;
	return isfinite(*power_w) ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

static nvmlReturn_t read_power_usage(const struct nvml_lib *lib, nvmlDevice_t dev, double *power_w)
{
	unsigned int mw;
	nvmlReturn_t rc = lib->device_get_power_usage(dev, &mw);

	if (rc == NVML_SUCCESS)
		*power_w = mw / 1000.0;
	return rc;
}

static bool unsupported(nvmlReturn_t rc)
{
	return rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_FUNCTION_NOT_FOUND;
}

static nvmlReturn_t read_power(const struct nvml_lib *lib, const struct nvml_gpu *g,
			       double *power_w)
{
	if (g->power_field) {
		nvmlReturn_t rc = read_power_field(lib, g->dev, power_w);

		if (!unsupported(rc) || !g->power_usage)
			return rc;
	}
	return read_power_usage(lib, g->dev, power_w);
}

static uint64_t midpoint_ns(uint64_t a, uint64_t b)
{
	return a + (b - a) / 2;
}

/* An invalid reading at t_ns: every number unknown. */
static void reading_clear(struct energy_reading *out, uint64_t t_ns)
{
	memset(out, 0, sizeof(*out));
	out->t_ns = t_ns;
	out->energy_j = NAN;
	out->power_w = NAN;
	out->temperature_c = NAN;
	out->memory_used_mb = NAN;
	out->memory_total_mb = NAN;
	out->utilization_pct = NAN;
}

/*
 * Applies one counter value: re-bases on a reset (the counter counts from
 * the last driver load, so a drop means a reload we cannot see across).
 * The energy between the previous read and the reset is unknown, so the
 * resetting reading adds nothing rather than a guess; counter_reset tells
 * the meter that the window is incomplete.
 */
static double counter_energy_j(struct nvml_gpu *g, unsigned long long mj, bool *reset)
{
	*reset = false;
	if (mj < g->last_mj) {
		g->offset_j += (double)(g->last_mj - g->base_mj) / 1000.0;
		g->base_mj = mj;
		*reset = true;
	}
	g->last_mj = mj;
	return g->offset_j + (double)(mj - g->base_mj) / 1000.0;
}

/*
 * Fills *out for device i. Never allocates (the sampler thread calls it).
 * A failing call (GPU lost, or any error from a call that answered at
 * open) gives valid=false and leaves the state as it was, so the next read
 * of this device and the reads of the others go on normally. Returns 0
 * whenever a reading was produced, valid or not; LLEM_EINVAL only for an
 * index out of range.
 */
static int nvml_read(void *src, size_t i, uint64_t now_ns, struct energy_reading *out)
{
	struct nvml_source *s = src;
	const struct nvml_lib *lib = &s->lib;
	struct nvml_gpu *g;
	unsigned long long mj = 0;
	uint64_t t0, t1;
	nvmlReturn_t rc;
	bool ok = true;

	reading_clear(out, now_ns);
	if (i >= s->count)
		return error_set(LLEM_EINVAL, "NVML: no device %zu (%zu open)", i, s->count);
	g = &s->gpus[i];

	/*
	 * The counter first, timed: t_ns is when it was actually read (the
	 * middle of the call), since an NVML call can take a millisecond and
	 * energy over elapsed time is what the reading is used for.
	 */
	if (g->desc.has_counter) {
		t0 = clock_monotonic_ns();
		rc = lib->device_get_total_energy_consumption(g->dev, &mj);
		t1 = clock_monotonic_ns();
		out->t_ns = midpoint_ns(t0, t1);
		if (rc != NVML_SUCCESS)
			ok = false;
	} else {
		out->t_ns = clock_monotonic_ns();
	}
	if (ok && g->desc.has_power && read_power(lib, g, &out->power_w) != NVML_SUCCESS) {
		out->power_w = NAN;
		ok = false;
	}
	if (ok && g->temperature) {
		unsigned int c;

		rc = lib->device_get_temperature(g->dev, NVML_TEMPERATURE_GPU, &c);
		if (rc == NVML_SUCCESS)
			out->temperature_c = c;
		else
			ok = false;
	}
	if (ok && g->memory) {
		nvmlMemory_t m;

		rc = lib->device_get_memory_info(g->dev, &m);
		if (rc == NVML_SUCCESS) {
			out->memory_used_mb = (double)m.used / 1048576.0;
			out->memory_total_mb = (double)m.total / 1048576.0;
		} else {
			ok = false;
		}
	}
	if (ok && g->utilization) {
		nvmlUtilization_t u;

		rc = lib->device_get_utilization_rates(g->dev, &u);
		if (rc == NVML_SUCCESS)
			out->utilization_pct = u.gpu;
		else
			ok = false;
	}
	if (ok && g->throttle) {
		unsigned long long bits;

		rc = lib->device_get_clocks_event_reasons(g->dev, &bits);
		if (rc == NVML_SUCCESS)
			out->throttle_reasons = bits;
		else
			ok = false;
	}
	if (!ok) {
		/* nothing from a failed read is trusted, the counter least */
		reading_clear(out, out->t_ns);
		return 0;
	}
	if (g->desc.has_counter)
		out->energy_j = counter_energy_j(g, mj, &out->counter_reset);
	out->valid = true;
	return 0;
}

/* ---- the ops ---- */

static size_t nvml_device_count(void *src)
{
	return ((struct nvml_source *)src)->count;
}

static void nvml_device_desc(void *src, size_t i, struct energy_device_desc *out)
{
	struct nvml_source *s = src;

	if (i < s->count)
		*out = s->gpus[i].desc;
	else
		memset(out, 0, sizeof(*out));
}

static void nvml_close(void *src)
{
	struct nvml_source *s = src;

	if (!s)
		return;
	free(s->gpus);
	nvml_lib_unload(&s->lib);
	free(s);
}

static const struct energy_source_ops nvml_ops = {
	.name = "nvml",
	.device_count = nvml_device_count,
	.device_desc = nvml_device_desc,
	.read = nvml_read,
	.close = nvml_close,
};

/* ---- opening ---- */

/*
 * Asks each optional call once: what does not answer now is treated as
 * absent for the whole run, so a read makes no call that cannot succeed.
 */
static void probe_gpu(const struct nvml_lib *lib, unsigned int index, nvmlDevice_t dev,
		      struct nvml_gpu *g)
{
	char name[NVML_NAME_BUFFER_SIZE];
	unsigned long long mj;
	unsigned long long bits;
	nvmlUtilization_t u;
	nvmlMemory_t m;
	unsigned int c;
	double w;

	g->dev = dev;
	g->desc.kind = ENERGY_NVML;
	snprintf(g->desc.name, sizeof(g->desc.name), "gpu%u", index);
	if (lib->device_get_name && lib->device_get_name(dev, name, sizeof(name)) == NVML_SUCCESS &&
	    name[0]) {
		name[sizeof(name) - 1] = '\0';
		snprintf(g->desc.label, sizeof(g->desc.label), "%s", name);
	} else {
		snprintf(g->desc.label, sizeof(g->desc.label), "NVIDIA GPU %u", index);
	}

	if (lib->device_get_total_energy_consumption &&
	    lib->device_get_total_energy_consumption(dev, &mj) == NVML_SUCCESS) {
		g->desc.has_counter = true;
		g->base_mj = g->last_mj = mj;
	}
	g->power_field =
		lib->device_get_field_values && read_power_field(lib, dev, &w) == NVML_SUCCESS;
	g->power_usage =
		lib->device_get_power_usage && read_power_usage(lib, dev, &w) == NVML_SUCCESS;
	g->desc.has_power = g->power_field || g->power_usage;
	g->temperature = lib->device_get_temperature &&
			 lib->device_get_temperature(dev, NVML_TEMPERATURE_GPU, &c) == NVML_SUCCESS;
	g->memory =
		lib->device_get_memory_info && lib->device_get_memory_info(dev, &m) == NVML_SUCCESS;
	g->utilization = lib->device_get_utilization_rates &&
			 lib->device_get_utilization_rates(dev, &u) == NVML_SUCCESS;
	g->throttle = lib->device_get_clocks_event_reasons &&
		      lib->device_get_clocks_event_reasons(dev, &bits) == NVML_SUCCESS;
}

/* Copies one comma-separated entry, blanks around it dropped. */
static void entry_text(const char *start, size_t len, char *buf, size_t size)
{
	while (len && (*start == ' ' || *start == '\t')) {
		start++;
		len--;
	}
	while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(buf, start, len);
	buf[len] = '\0';
}

/* A plain decimal index (CUDA's ordinal); false for anything else. */
static bool parse_index(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (NVML_MAX_DEVICES * 10ul))
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return true;
}

/*
 * One entry to an NVML index, or a reason it matches none (into why,
 * a buffer). UUIDs match by prefix, as CUDA allows, but only when the
 * prefix names exactly one GPU.
 */
static bool match_entry(const char *entry, const struct nvml_found *found, unsigned int count,
			unsigned int *index, char *why, size_t why_size)
{
	unsigned long v;
	unsigned int hits = 0;
	size_t n = strlen(entry);

	if (parse_index(entry, &v)) {
		if (v < count) {
			*index = (unsigned int)v;
			return true;
		}
		snprintf(why, why_size, "'%s' is not a GPU index (NVML sees %u GPU%s)", entry,
			 count, count == 1 ? "" : "s");
		return false;
	}
	if (n <= 4 || strncasecmp(entry, "GPU-", 4) != 0) {
		snprintf(why, why_size, "'%s' is neither a GPU index nor a GPU-<uuid>", entry);
		return false;
	}
	for (unsigned int k = 0; k < count; k++) {
		if (found[k].uuid[0] && strncasecmp(found[k].uuid, entry, n) == 0) {
			*index = k;
			hits++;
		}
	}
	if (hits == 1)
		return true;
	if (hits == 0)
		snprintf(why, why_size, "'%s' matches no GPU UUID", entry);
	else
		snprintf(why, why_size, "'%s' matches %u GPUs", entry, hits);
	return false;
}

/*
 * CUDA_VISIBLE_DEVICES to NVML indices, in the order given. CUDA stops
 * enumerating at the first entry that is invalid or matches no GPU (a
 * documented rule: "0,2,-1,1" shows 0 and 2), so the GPUs a workload can
 * use are exactly those before it, and those are what we measure. A GPU
 * named twice also ends the list here: counting one board twice would
 * double its energy. Zero GPUs left is an error carrying the reason.
 *
 * Indices are taken as NVML indices (PCI bus order). CUDA numbers GPUs
 * the same way under CUDA_DEVICE_ORDER=PCI_BUS_ID, and under its default
 * (fastest first) whenever the GPUs are alike; UUIDs are never ambiguous.
 *
 * MIG instances ("MIG-...") are refused: NVML's energy and power are
 * whole-board, so one instance's share cannot be measured.
 */
static int select_visible(const char *visible, const struct nvml_found *found, unsigned int count,
			  unsigned int *picked, size_t *npicked, char **why)
{
	char entry[NVML_NAME_BUFFER_SIZE + 32];
	char reason[sizeof(entry) + 64];
	const char *p = visible;
	bool stopped = false;

	*npicked = 0;
	reason[0] = '\0';
	for (;;) {
		size_t len = strcspn(p, ",");

		entry_text(p, len, entry, sizeof(entry));
		if (strncasecmp(entry, "MIG-", 4) == 0) {
			*why = xasprintf("NVML: CUDA_VISIBLE_DEVICES=%s selects MIG "
					 "instance %s: NVML energy and power are "
					 "whole-board, so MIG instances are not "
					 "supported",
					 visible, entry);
			return LLEM_ENOTSUP;
		}
		if (!stopped) {
			unsigned int index = 0;

			if (!match_entry(entry, found, count, &index, reason, sizeof(reason))) {
				stopped = true;
			} else {
				for (size_t k = 0; k < *npicked; k++)
					if (picked[k] == index) {
						snprintf(reason, sizeof(reason),
							 "'%s' repeats gpu%u", entry, index);
						stopped = true;
					}
				if (!stopped)
					picked[(*npicked)++] = index;
			}
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	if (*npicked == 0) {
		*why = xasprintf("NVML: no GPU matches CUDA_VISIBLE_DEVICES=%s: %s", visible,
				 *visible ? reason
					  : "the value is empty, so CUDA "
					    "sees no GPU");
		return LLEM_ENOTFOUND;
	}
	return 0;
}

/* Handles and UUIDs of every GPU NVML sees. */
static void enumerate(const struct nvml_lib *lib, struct nvml_found *found, unsigned int count)
{
	for (unsigned int k = 0; k < count; k++) {
		found[k].handle_rc = lib->device_get_handle_by_index(k, &found[k].dev);
		if (found[k].handle_rc != NVML_SUCCESS) {
			found[k].dev = NULL;
			continue;
		}
		if (lib->device_get_uuid &&
		    lib->device_get_uuid(found[k].dev, found[k].uuid, sizeof(found[k].uuid)) ==
			    NVML_SUCCESS)
			found[k].uuid[sizeof(found[k].uuid) - 1] = '\0';
		else
			found[k].uuid[0] = '\0';
	}
}

int energy_nvml_open(void **out, const struct energy_source_ops **ops, const char *visible,
		     char **why)
{
	struct nvml_source *s = xcalloc(1, sizeof(*s));
	struct nvml_found *found = NULL;
	unsigned int *picked = NULL;
	unsigned int count = 0;
	size_t npicked = 0;
	nvmlReturn_t rc;
	int err;

	*out = NULL;
	*ops = NULL;
	*why = NULL;
	err = nvml_lib_load(&s->lib);
	if (err) {
		*why = xasprintf("NVML: %s", s->lib.error);
		goto fail;
	}
	rc = s->lib.device_get_count(&count);
	if (rc != NVML_SUCCESS) {
		*why = xasprintf("NVML: nvmlDeviceGetCount failed: %s",
				 nvml_lib_strerror(&s->lib, rc));
		err = LLEM_ERROR;
		goto fail;
	}
	if (count == 0) {
		*why = xstrdup("NVML: no NVIDIA GPU found");
		err = LLEM_ENOTFOUND;
		goto fail;
	}
	if (count > NVML_MAX_DEVICES) {
		*why = xasprintf("NVML: nvmlDeviceGetCount returned %u devices", count);
		err = LLEM_ERROR;
		goto fail;
	}
	found = xcalloc(count, sizeof(*found));
	picked = xcalloc(count, sizeof(*picked));
	enumerate(&s->lib, found, count);
	if (visible) {
		err = select_visible(visible, found, count, picked, &npicked, why);
		if (err)
			goto fail;
	} else {
		for (unsigned int k = 0; k < count; k++)
			picked[npicked++] = k;
	}
	/* A selected GPU without a handle cannot be measured, and leaving it
	 * out would under-count the run's energy. */
	for (size_t k = 0; k < npicked; k++) {
		if (!found[picked[k]].dev) {
			*why = xasprintf("NVML: gpu%u: nvmlDeviceGetHandleByIndex "
					 "failed: %s",
					 picked[k],
					 nvml_lib_strerror(&s->lib, found[picked[k]].handle_rc));
			err = LLEM_ERROR;
			goto fail;
		}
	}
	s->gpus = xcalloc(npicked, sizeof(*s->gpus));
	s->count = npicked;
	for (size_t k = 0; k < npicked; k++)
		probe_gpu(&s->lib, picked[k], found[picked[k]].dev, &s->gpus[k]);
	free(found);
	free(picked);
	*out = s;
	*ops = &nvml_ops;
	return 0;
fail:
	error_set(err, "%s", *why);
	free(picked);
	free(found);
	nvml_close(s);
	return err;
}
