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
 *   FAKE_NVML_POWER_MW        power draw, mW (default 300000)
 *   FAKE_NVML_ENERGY_MJ       energy counter at nvmlInit, mJ (default 1000000);
 *                             it then grows by POWER_MW * elapsed seconds of
 *                             CLOCK_MONOTONIC, the same on every device
 *   FAKE_NVML_TEMP_C          GPU temperature, degrees C (default 45)
 * Malformed numbers fall back to the default with a note on stderr.
 *
 * Adding a symbol: declare its prototype below (the build uses
 * -Wmissing-prototypes), define it, and check `initialized` first as the
 * real library does.
 */
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
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index,
						       nvmlDevice_t *device);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index,
						    nvmlDevice_t *device);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name,
					   unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid,
					   unsigned int length);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
						 nvmlMemory_t *memory);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device,
							   unsigned int *limit);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device,
							 unsigned int *limit);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device,
						      int *mode);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
							     unsigned long long *energy);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device,
						 unsigned int *power);
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device,
						  int sensor, unsigned int *temp);

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
	unsigned int power_mw;
	unsigned long long energy_mj;
	unsigned int temp_c;
	uint64_t init_ns; /* CLOCK_MONOTONIC at the first nvmlInit */
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

static void load_script(void)
{
	fake.gpus = (unsigned int)env_number("FAKE_NVML_GPUS", 1, FAKE_MAX_GPUS);
	env_string("FAKE_NVML_NAME", "Fake GPU 80GB", fake.name, sizeof(fake.name));
	fake.memory_mb = env_number("FAKE_NVML_MEMORY_MB", 81559, 1ull << 40);
	env_string("FAKE_NVML_DRIVER", "550.54.15", fake.driver, sizeof(fake.driver));
	fake.cuda = (int)env_number("FAKE_NVML_CUDA", 12040, 1000000);
	fake.power_limit_mw =
		(unsigned int)env_number("FAKE_NVML_POWER_LIMIT_MW", 700000, 100000000);
	fake.persistence = (int)env_number("FAKE_NVML_PERSISTENCE", 1, 1);
	fake.power_mw = (unsigned int)env_number("FAKE_NVML_POWER_MW", 300000, 100000000);
	fake.energy_mj = env_number("FAKE_NVML_ENERGY_MJ", 1000000, 1ull << 62);
	fake.temp_c = (unsigned int)env_number("FAKE_NVML_TEMP_C", 45, 200);
	for (unsigned int i = 0; i < FAKE_MAX_GPUS; i++)
		fake.devices[i].index = i;
}

static int init_should_fail(void)
{
	const char *s = getenv("FAKE_NVML_INIT_FAIL");

	return s && *s && strcmp(s, "0") != 0;
}

/* NVML_ERROR_INVALID_ARGUMENT for a handle we did not hand out. */
static nvmlReturn_t check_device(nvmlDevice_t device)
{
	if (!fake.initialized)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || device < fake.devices || device >= fake.devices + fake.gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	return NVML_SUCCESS;
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

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
						 unsigned long long *energy)
{
	nvmlReturn_t rc = check_device(device);
	uint64_t elapsed_ns;

	if (rc != NVML_SUCCESS)
		return rc;
	if (!energy)
		return NVML_ERROR_INVALID_ARGUMENT;
	/* mW * s = mJ. Whole seconds and the remainder are multiplied
	 * separately so power_mw * elapsed_ns cannot overflow 64 bits. */
	elapsed_ns = monotonic_ns() - fake.init_ns;
	*energy = fake.energy_mj +
		  (unsigned long long)fake.power_mw * (elapsed_ns / 1000000000u) +
		  (unsigned long long)fake.power_mw * (elapsed_ns % 1000000000u) /
			  1000000000u;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
	nvmlReturn_t rc = check_device(device);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!power)
		return NVML_ERROR_INVALID_ARGUMENT;
	*power = fake.power_mw;
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
