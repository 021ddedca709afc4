/*
 * A fake libnvidia-ml.so.1 for machines without an NVIDIA driver. It exports
 * the real NVML symbol names (versioned and unversioned) with the real C
 * ABI, so llem loads it through its ordinary dlopen path (point
 * LLEM_NVML_LIBRARY at it, or put its directory on LD_LIBRARY_PATH).
 *
 * Scripted by environment variables, read again at every nvmlInit:
 *   FAKE_NVML_GPUS            device count (default 1, at most 64)
 *   FAKE_NVML_NAME            device name (default "Fake GPU 80GB")
 *   FAKE_NVML_MEMORY_MB       total memory per device, MiB (default 81559)
 *   FAKE_NVML_DRIVER          driver version (default "550.54.15")
 *   FAKE_NVML_CUDA            CUDA driver version, NVML encoding (12040)
 *   FAKE_NVML_INIT_FAIL       set (and not "0"): nvmlInit returns 999
 *                             (NVML_ERROR_UNKNOWN, "Unknown Error")
 *   FAKE_NVML_POWER_LIMIT_MW  power management limit, mW (default 700000)
 *   FAKE_NVML_PERSISTENCE     persistence mode, 0 or 1 (default 1)
 *   FAKE_NVML_POWER_MW        power draw, mW (default 300000); a comma list
 *                             ("300000,150000") gives GPU i the i-th value,
 *                             the last one repeating for the GPUs after it
 *   FAKE_NVML_POWER_AVG_MW    what nvmlDeviceGetPowerUsage and field 185
 *                             report, mW, same list form (default: the
 *                             POWER_MW values); Ampere and newer average
 *                             there over 1 s, so it may differ from the
 *                             instantaneous field 186, which is POWER_MW
 *   FAKE_NVML_ENERGY_MJ       energy counter at nvmlInit, mJ (default 1000000);
 *                             it then grows by the GPU's POWER_MW * elapsed
 *                             seconds of CLOCK_MONOTONIC since the first
 *                             nvmlInit, exactly (integer mJ, truncated), so a
 *                             test can predict every reading
 *   FAKE_NVML_TEMP_C          GPU temperature, degrees C (default 45)
 *   FAKE_NVML_UTIL_PCT        GPU utilisation, percent (default 0; memory
 *                             utilisation reports half of it)
 *   FAKE_NVML_THROTTLE        clocks-event reason bits, decimal or 0x hex
 *                             (default 0)
 *   FAKE_NVML_UUIDS           comma list of UUIDs for GPU 0, 1, ...; GPUs
 *                             past the list keep the generated
 *                             "GPU-fa4e0000-0000-4000-8000-<index, 12 hex>"
 *   FAKE_NVML_NO_ENERGY       set (not "0"): nvmlDeviceGetTotalEnergyConsumption
 *                             returns NOT_SUPPORTED (a pre-Volta board)
 *   FAKE_NVML_NO_FIELDS       set (not "0"): nvmlDeviceGetFieldValues returns
 *                             NOT_SUPPORTED as a whole (a pre-12.2 driver);
 *                             "field": it succeeds but every field's own
 *                             nvmlReturn is NOT_SUPPORTED (an old board)
 *   FAKE_NVML_RESET_AFTER_MS  the energy counter restarts from 0 (growing
 *                             again at POWER_MW) this long after the first
 *                             nvmlInit, as a driver reload does (0: at once)
 *   FAKE_NVML_LOST_AFTER_MS   this long after the first nvmlInit (0: at once)
 *                             every device call returns NVML_ERROR_GPU_IS_LOST
 *   FAKE_NVML_LOST_GPU        with LOST_AFTER_MS: only this GPU index is lost
 *                             (default: all of them)
 * Malformed numbers fall back to the default with a note on stderr.
 *
 * nvmlDeviceGetFieldValues answers NVML_FI_DEV_POWER_INSTANT (186) and
 * NVML_FI_DEV_POWER_AVERAGE (185) with the scripted power (scope 0, GPU,
 * only) and NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION (83) / NVML_FI_DEV_ENERGY
 * (191) with the counter; any other field gets NOT_SUPPORTED in its record.
 *
 * Adding a symbol: declare its prototype below (the build uses
 * -Wmissing-prototypes), define it, and check `initialized` first as the
 * real library does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlMemory_st {
	unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct nvmlUtilization_st {
	unsigned int gpu, memory;
} nvmlUtilization_t;
/* NVML 12.x's record (nvml.h: nvmlValue_t, nvmlFieldValue_t), 40 bytes. */
typedef union nvmlValue_st {
	double dVal;
	int siVal;
	unsigned int uiVal;
	unsigned long ulVal;
	unsigned long long ullVal;
	signed long long sllVal;
	unsigned short usVal;
} nvmlValue_t;
typedef struct nvmlFieldValue_st {
	unsigned int fieldId;
	unsigned int scopeId;
	long long timestamp;
	long long latencyUsec;
	int valueType;
	nvmlReturn_t nvmlReturn;
	nvmlValue_t value;
} nvmlFieldValue_t;
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t is 40 bytes");
_Static_assert(offsetof(nvmlFieldValue_t, value) == 32, "value at 32");

enum {
	NVML_VALUE_TYPE_UNSIGNED_INT = 1,
	NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
	NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION = 83,
	NVML_FI_DEV_POWER_AVERAGE = 185,
	NVML_FI_DEV_POWER_INSTANT = 186,
	NVML_FI_DEV_ENERGY = 191,
};

enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NO_PERMISSION = 4,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_DRIVER_NOT_LOADED = 9,
	NVML_ERROR_FUNCTION_NOT_FOUND = 13,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_UNKNOWN = 999,
};

#define FAKE_MAX_GPUS 64

/* The exported API, as NVML declares it. */
FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void);
FAKE_EXPORT nvmlReturn_t nvmlInit(void);
FAKE_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags);
FAKE_EXPORT nvmlReturn_t nvmlShutdown(void);
FAKE_EXPORT const char *nvmlErrorString(nvmlReturn_t result);
FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version);
FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device,
							   unsigned int *limit);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, int *mode);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
							     unsigned long long *energy);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor,
						  unsigned int *temp);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
						  nvmlFieldValue_t *values);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
						       nvmlUtilization_t *utilization);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
								unsigned long long *reasons);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
								   unsigned long long *reasons);

/* A device handle points at one of these; NVML handles are opaque. */
struct nvmlDevice_st {
	unsigned int index;
};

static struct {
	int initialized; /* nvmlInit count, as NVML reference-counts it */
	unsigned int gpus;
	char name[96];
	unsigned long long memory_mb;
	char driver[80];
	int cuda;
	unsigned int power_limit_mw;
	int persistence;
	unsigned int power_mw[FAKE_MAX_GPUS];     /* instantaneous, and energy */
	unsigned int power_avg_mw[FAKE_MAX_GPUS]; /* nvmlDeviceGetPowerUsage */
	unsigned long long energy_mj;
	unsigned int temp_c;
	unsigned int util_pct;
	unsigned long long throttle;
	char uuids[FAKE_MAX_GPUS][96]; /* "" = the generated one */
	int no_energy;
	int no_fields;     /* 1: whole call NOT_SUPPORTED, 2: per field */
	uint64_t reset_ns; /* after init; UINT64_MAX = never */
	uint64_t lost_ns;  /* after init; UINT64_MAX = never */
	int lost_gpu;      /* FAKE_MAX_GPUS = all */
	uint64_t init_ns;  /* CLOCK_MONOTONIC at the first nvmlInit */
	struct nvmlDevice_st devices[FAKE_MAX_GPUS];
} fake;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long long env_number(const char *var, unsigned long long def,
				     unsigned long long max)
{
	const char *s = getenv(var);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 10);
	if (*end || s[0] == '-' || v > max) {
		fprintf(stderr, "fake_nvml: ignoring %s=%s\n", var, s);
		return def;
	}
	return v;
}

static void env_string(const char *var, const char *def, char *dst, size_t size)
{
	const char *s = getenv(var);

	snprintf(dst, size, "%s", s && *s ? s : def);
}

static int env_flag(const char *var)
{
	const char *s = getenv(var);

	return s && *s && strcmp(s, "0") != 0;
}

/* A power variable: one value, or one per GPU with the last repeating.
 * Unset or malformed: def[] (with a note on stderr when malformed). */
static void load_power(const char *var, const unsigned int *def, unsigned int *power_mw)
{
	const char *s = getenv(var);
	unsigned long long v = 0;
	unsigned int i = 0;

	while (s && *s && i < FAKE_MAX_GPUS) {
		char *end;

		v = strtoull(s, &end, 10);
		if (end == s || (*end && *end != ',') || s[0] == '-' || v > 100000000) {
			fprintf(stderr, "fake_nvml: ignoring %s=%s\n", var, getenv(var));
			i = 0;
			break;
		}
		power_mw[i++] = (unsigned int)v;
		s = *end ? end + 1 : end;
	}
	if (i == 0) {
		memcpy(power_mw, def, FAKE_MAX_GPUS * sizeof(*power_mw));
		return;
	}
	for (; i < FAKE_MAX_GPUS; i++)
		power_mw[i] = (unsigned int)v;
}

static void load_uuids(void)
{
	const char *s = getenv("FAKE_NVML_UUIDS");

	memset(fake.uuids, 0, sizeof(fake.uuids));
	for (unsigned int i = 0; s && *s && i < FAKE_MAX_GPUS; i++) {
		size_t n = strcspn(s, ",");

		if (n >= sizeof(fake.uuids[i]))
			n = sizeof(fake.uuids[i]) - 1;
		memcpy(fake.uuids[i], s, n);
		s += strcspn(s, ",");
		if (*s == ',')
			s++;
	}
}

/* A delay after init in ms, as ns; unset (or malformed) means never. */
static uint64_t env_after_ns(const char *var)
{
	unsigned long long ms = env_number(var, UINT64_MAX / 1000000u, UINT64_MAX / 1000000u - 1);

	return ms == UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
}

static unsigned long long env_bits(const char *var)
{
	const char *s = getenv(var);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	v = strtoull(s, &end, 0);
	if (*end || s[0] == '-') {
		fprintf(stderr, "fake_nvml: ignoring %s=%s\n", var, s);
		return 0;
	}
	return v;
}

static void load_script(void)
{
	unsigned int default_mw[FAKE_MAX_GPUS];

	fake.gpus = (unsigned int)env_number("FAKE_NVML_GPUS", 1, FAKE_MAX_GPUS);
	env_string("FAKE_NVML_NAME", "Fake GPU 80GB", fake.name, sizeof(fake.name));
	fake.memory_mb = env_number("FAKE_NVML_MEMORY_MB", 81559, 1ull << 40);
	env_string("FAKE_NVML_DRIVER", "550.54.15", fake.driver, sizeof(fake.driver));
	fake.cuda = (int)env_number("FAKE_NVML_CUDA", 12040, 1000000);
	fake.power_limit_mw =
		(unsigned int)env_number("FAKE_NVML_POWER_LIMIT_MW", 700000, 100000000);
	fake.persistence = (int)env_number("FAKE_NVML_PERSISTENCE", 1, 1);
	for (unsigned int i = 0; i < FAKE_MAX_GPUS; i++)
		default_mw[i] = 300000;
	load_power("FAKE_NVML_POWER_MW", default_mw, fake.power_mw);
	load_power("FAKE_NVML_POWER_AVG_MW", fake.power_mw, fake.power_avg_mw);
	fake.energy_mj = env_number("FAKE_NVML_ENERGY_MJ", 1000000, 1ull << 62);
	fake.temp_c = (unsigned int)env_number("FAKE_NVML_TEMP_C", 45, 200);
	fake.util_pct = (unsigned int)env_number("FAKE_NVML_UTIL_PCT", 0, 100);
	fake.throttle = env_bits("FAKE_NVML_THROTTLE");
	load_uuids();
	fake.no_energy = env_flag("FAKE_NVML_NO_ENERGY");
	fake.no_fields = !env_flag("FAKE_NVML_NO_FIELDS")                      ? 0
			 : strcmp(getenv("FAKE_NVML_NO_FIELDS"), "field") == 0 ? 2
									       : 1;
	fake.reset_ns = env_after_ns("FAKE_NVML_RESET_AFTER_MS");
	fake.lost_ns = env_after_ns("FAKE_NVML_LOST_AFTER_MS");
	/* unset or malformed: FAKE_MAX_GPUS, which means every GPU */
	fake.lost_gpu = (int)env_number("FAKE_NVML_LOST_GPU", FAKE_MAX_GPUS, FAKE_MAX_GPUS - 1);
	for (unsigned int i = 0; i < FAKE_MAX_GPUS; i++)
		fake.devices[i].index = i;
}

static int init_should_fail(void)
{
	return env_flag("FAKE_NVML_INIT_FAIL");
}

static uint64_t since_init_ns(void)
{
	return monotonic_ns() - fake.init_ns;
}

/* FAKE_NVML_LOST_AFTER_MS has passed for GPU index (all, or LOST_GPU). */
static int gpu_lost(unsigned int index)
{
	if (fake.lost_gpu < FAKE_MAX_GPUS && (unsigned int)fake.lost_gpu != index)
		return 0;
	return since_init_ns() >= fake.lost_ns;
}

/* NVML_ERROR_INVALID_ARGUMENT for a handle we did not hand out. */
static nvmlReturn_t check_device(nvmlDevice_t device)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || device < fake.devices || device >= fake.devices + fake.gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (gpu_lost(device->index))
		return NVML_ERROR_GPU_IS_LOST;
	return NVML_SUCCESS;
}

/* mW * ns -> mJ without overflowing 64 bits: whole seconds and the
 * remainder are multiplied separately. */
static unsigned long long energy_mj(unsigned int power_mw, uint64_t ns)
{
	return (unsigned long long)power_mw * (ns / 1000000000u) +
	       (unsigned long long)power_mw * (ns % 1000000000u) / 1000000000u;
}

/* The counter of one device now: start + power * time since init, or
 * power * time since the scripted reset (a reload restarts at 0). */
static unsigned long long counter_mj(nvmlDevice_t device)
{
	unsigned int power_mw = fake.power_mw[device->index];
	uint64_t elapsed_ns = since_init_ns();

	if (elapsed_ns >= fake.reset_ns)
		return energy_mj(power_mw, elapsed_ns - fake.reset_ns);
	return fake.energy_mj + energy_mj(power_mw, elapsed_ns);
}

static nvmlReturn_t copy_string(const char *src, char *dst, unsigned int length)
{
	if (!dst)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(src) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
	if (init_should_fail())
		return NVML_ERROR_UNKNOWN;
	load_script();
	if (fake.initialized++ == 0)
		fake.init_ns = monotonic_ns();
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit(void)
{
	return nvmlInit_v2();
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	(void)flags;
	return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	fake.initialized--;
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
	case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
	case NVML_ERROR_UNKNOWN: return "Unknown Error";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	return copy_string(fake.driver, version, length);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
	char buf[96];

	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	snprintf(buf, sizeof(buf), "12.%s", fake.driver);
	return copy_string(buf, version, length);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version)
{
	if (!version)
		return NVML_ERROR_INVALID_ARGUMENT;
	*version = fake.cuda; /* real NVML answers this before init too */
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version)
{
	return nvmlSystemGetCudaDriverVersion_v2(version);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = fake.gpus;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *count)
{
	return nvmlDeviceGetCount_v2(count);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || index >= fake.gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (gpu_lost(index))
		return NVML_ERROR_GPU_IS_LOST;
	*device = &fake.devices[index];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	nvmlReturn_t rc = check_device(device);

	return rc != NVML_SUCCESS ? rc : copy_string(fake.name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	nvmlReturn_t rc = check_device(device);
	char buf[96];

	if (rc != NVML_SUCCESS)
		return rc;
	/* Real UUIDs look like GPU-8-4-4-4-12 hex digits. */
	if (fake.uuids[device->index][0])
		snprintf(buf, sizeof(buf), "%s", fake.uuids[device->index]);
	else
		snprintf(buf, sizeof(buf), "GPU-fa4e0000-0000-4000-8000-%012x", device->index);
	return copy_string(buf, uuid, length);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	memory->total = fake.memory_mb * 1048576ull;
	memory->used = memory->total / 100; /* a little, as a driver context does */
	memory->free = memory->total - memory->used;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!limit)
		return NVML_ERROR_INVALID_ARGUMENT;
	*limit = fake.power_limit_mw;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
	return nvmlDeviceGetPowerManagementLimit(device, limit);
}

nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, int *mode)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!mode)
		return NVML_ERROR_INVALID_ARGUMENT;
	*mode = fake.persistence;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!energy)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake.no_energy)
		return NVML_ERROR_NOT_SUPPORTED;
	*energy = counter_mj(device);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!power)
		return NVML_ERROR_INVALID_ARGUMENT;
	*power = fake.power_avg_mw[device->index];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!temp || sensor != 0 /* NVML_TEMPERATURE_GPU */)
		return NVML_ERROR_INVALID_ARGUMENT;
	*temp = fake.temp_c;
	return NVML_SUCCESS;
}

/* One record: the real driver fills timestamp and latency for every
 * answered field and only nvmlReturn for the others. */
static void field_value(nvmlDevice_t device, nvmlFieldValue_t *v)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	v->timestamp = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	v->latencyUsec = 0;
	v->nvmlReturn = NVML_SUCCESS;
	switch (v->fieldId) {
	case NVML_FI_DEV_POWER_AVERAGE:
	case NVML_FI_DEV_POWER_INSTANT:
		if (fake.no_fields == 2 || v->scopeId != 0)
			break;
		v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
		v->value.uiVal = v->fieldId == NVML_FI_DEV_POWER_INSTANT
					 ? fake.power_mw[device->index]
					 : fake.power_avg_mw[device->index];
		return;
	case NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION:
	case NVML_FI_DEV_ENERGY:
		if (fake.no_fields == 2 || fake.no_energy)
			break;
		v->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
		v->value.ullVal = counter_mj(device);
		return;
	default: break;
	}
	v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
				      nvmlFieldValue_t *values)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!values || valuesCount < 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (fake.no_fields == 1)
		return NVML_ERROR_NOT_SUPPORTED;
	for (int i = 0; i < valuesCount; i++)
		field_value(device, &values[i]);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!utilization)
		return NVML_ERROR_INVALID_ARGUMENT;
	utilization->gpu = fake.util_pct;
	utilization->memory = fake.util_pct / 2;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
						    unsigned long long *reasons)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!reasons)
		return NVML_ERROR_INVALID_ARGUMENT;
	*reasons = fake.throttle;
	return NVML_SUCCESS;
}

/* The pre-12.2 name of the same call, still exported by current drivers. */
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
						       unsigned long long *reasons)
{
	return nvmlDeviceGetCurrentClocksEventReasons(device, reasons);
}
