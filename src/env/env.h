/*
 * env: what machine a measurement ran on. CPU, memory, kernel, distro,
 * container, GPUs (through NVML, loaded with dlopen at run time, never
 * linked), and llem's own version and build.
 *
 * Ownership: env_snapshot_collect fills a caller-owned struct; release it
 * with env_snapshot_release. Strings inside are owned by the snapshot; a
 * field that could not be read is NULL (strings) or -1 (numbers), never a
 * made-up value.
 */
#ifndef LLEM_ENV_H
#define LLEM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct env_gpu {
	int index;               /* NVML index */
	char *name;              /* "NVIDIA H100 80GB HBM3" */
	char *uuid;              /* "GPU-..." or NULL */
	int64_t memory_total_mb; /* MiB (1 MiB = 1048576 bytes), -1 unknown */
	double power_limit_w;    /* NAN when unknown */
	int persistence_mode;    /* 1 on, 0 off, -1 unknown */
};

struct env_nvml {
	bool loaded;               /* libnvidia-ml.so.1 found and nvmlInit ok */
	char *library_path;        /* where it was loaded from, or NULL */
	char *error;               /* why not loaded (NULL when loaded) */
	char *driver_version;      /* "550.54.15" or NULL */
	char *cuda_driver_version; /* "12.4" (from the driver) or NULL */
	struct env_gpu *gpus;
	size_t gpu_count;
};

struct env_snapshot {
	char *collected_at;      /* ISO-8601 UTC */
	char *cpu_model;         /* /proc/cpuinfo "model name" */
	int cpu_logical_cores;   /* online logical CPUs */
	int cpu_physical_cores;  /* distinct (package, core) pairs; -1 unknown */
	char *cpu_governor;      /* cpu0 scaling_governor, NULL if none */
	int64_t memory_total_mb; /* MiB from /proc/meminfo */
	char *kernel;            /* uname -sr */
	char *arch;              /* uname -m */
	char *distro;            /* /etc/os-release PRETTY_NAME */
	char *container;         /* "docker", "podman", "lxc", "kubernetes",
				    "containerd", $container, or NULL */
	struct env_nvml nvml;
	char *llem_version; /* "0.1.0" */
	char *llem_build;   /* "commit abc123, RelWithDebInfo, GNU 12.2.0" */
};

/* Collects everything; never fails (missing facts stay NULL / -1). */
void env_snapshot_collect(struct env_snapshot *out);
void env_snapshot_release(struct env_snapshot *snap);

/* NVML only (what `llem config` shows under "GPU"). */
void env_nvml_probe(struct env_nvml *out);
void env_nvml_release(struct env_nvml *nvml);

/* The pieces, for tests with fake roots. */
char *env_cpu_model(const char *cpuinfo_path);
int64_t env_memory_total_mb(const char *meminfo_path);
/* Container kind from marker files and /proc/1/cgroup under root ("" = /). */
char *env_container_kind(const char *root);

/*
 * More pieces (cpu.c, os.c, nvml_probe.c). Each returns a newly allocated
 * string or NULL / -1 when the fact cannot be read.
 */
/* Distinct (physical id, core id) pairs; -1 when cpuinfo has no core ids. */
int env_cpu_physical_cores(const char *cpuinfo_path);
/* First line of a cpufreq scaling_governor file ("performance"). */
char *env_cpu_governor(const char *governor_path);
/* PRETTY_NAME (else NAME) from an os-release file, shell quoting removed. */
char *env_distro_name(const char *os_release_path);
/* CUDA driver version as NVML encodes it (12040) -> "12.4"; NULL if <= 0. */
char *env_cuda_version_string(int version);

/*
 * NVML binding (nvml_lib.c). libnvidia-ml is opened with dlopen at run time
 * and never linked; nvml.h is never included. The few types we pass are
 * declared here from NVIDIA's documentation, with the real C ABI.
 */
typedef int nvmlReturn_t;                   /* 0 = NVML_SUCCESS */
typedef struct nvmlDevice_st *nvmlDevice_t; /* opaque */
typedef struct nvmlMemory_st {              /* nvmlMemory_t (v1), bytes */
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_UNKNOWN 999
#define NVML_TEMPERATURE_GPU 0   /* nvmlTemperatureSensors_t */
#define NVML_NAME_BUFFER_SIZE 96 /* also enough for UUIDs */
#define NVML_VERSION_BUFFER_SIZE 80

typedef struct nvmlUtilization_st { /* percent over the last sample period */
	unsigned int gpu;
	unsigned int memory;
} nvmlUtilization_t;

/*
 * nvmlDeviceGetFieldValues' in/out record, as NVML 12.x lays it out: the
 * caller sets fieldId and scopeId (named "unused" before 12.2, must be 0
 * then); NVML fills the rest. value is only meaningful when nvmlReturn is
 * NVML_SUCCESS, and valueType says which union member it is. 40 bytes on
 * every ABI NVML ships for (no padding anywhere), value at offset 32;
 * static assertions in nvml_lib.c hold us to that.
 */
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
	unsigned int scopeId;    /* for power fields: NVML_POWER_SCOPE_* */
	long long timestamp;     /* CPU time of the value, us since 1970 */
	long long latencyUsec;   /* how long NVML took to update it */
	int valueType;           /* nvmlValueType_t: NVML_VALUE_TYPE_* */
	nvmlReturn_t nvmlReturn; /* per-field result; check before value */
	nvmlValue_t value;
} nvmlFieldValue_t;

#define NVML_VALUE_TYPE_DOUBLE 0
#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG 2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG 4
#define NVML_VALUE_TYPE_SIGNED_INT 5
#define NVML_VALUE_TYPE_UNSIGNED_SHORT 6
#define NVML_FI_DEV_POWER_INSTANT 186 /* mW, uiVal; NVML 12.2 (R535) on */
#define NVML_POWER_SCOPE_GPU 0        /* GPU only (MODULE 1 adds Grace's CPU) */

/*
 * One loaded NVML. Adding a symbol: a function pointer here plus one row in
 * the table in nvml_lib.c. Optional pointers are NULL when the driver lacks
 * the symbol; callers check before calling and report that field unknown.
 * NVML is thread-safe, so a sampler thread may call through a loaded lib.
 */
struct nvml_lib {
	void *handle;       /* dlopen handle, NULL when not loaded */
	char *library_path; /* resolved path of the loaded file, or NULL */
	char *error;        /* why nvml_lib_load failed, else NULL */
	bool initialized;   /* nvmlInit succeeded; unload shuts down */

	/* required */
	nvmlReturn_t (*init)(void); /* nvmlInit_v2 */
	nvmlReturn_t (*shutdown)(void);
	nvmlReturn_t (*device_get_count)(unsigned int *count);
	nvmlReturn_t (*device_get_handle_by_index)(unsigned int index, nvmlDevice_t *device);

	/* optional */
	const char *(*error_string)(nvmlReturn_t result);
	nvmlReturn_t (*system_get_driver_version)(char *version, unsigned int length);
	nvmlReturn_t (*system_get_cuda_driver_version)(int *version);
	nvmlReturn_t (*device_get_name)(nvmlDevice_t device, char *name, unsigned int length);
	nvmlReturn_t (*device_get_uuid)(nvmlDevice_t device, char *uuid, unsigned int length);
	nvmlReturn_t (*device_get_memory_info)(nvmlDevice_t device, nvmlMemory_t *memory);
	nvmlReturn_t (*device_get_power_management_limit)(nvmlDevice_t device,
							  unsigned int *limit_mw);
	/* mode is an nvmlEnableState_t: 0 disabled, 1 enabled */
	nvmlReturn_t (*device_get_persistence_mode)(nvmlDevice_t device, int *mode);
	/* mJ since the driver was loaded (Volta and newer) */
	nvmlReturn_t (*device_get_total_energy_consumption)(nvmlDevice_t device,
							    unsigned long long *energy_mj);
	nvmlReturn_t (*device_get_power_usage)(nvmlDevice_t device, unsigned int *power_mw);
	/* sensor: NVML_TEMPERATURE_GPU; temp in degrees C */
	nvmlReturn_t (*device_get_temperature)(nvmlDevice_t device, int sensor,
					       unsigned int *temp_c);
	/* count records in values, each with fieldId/scopeId set */
	nvmlReturn_t (*device_get_field_values)(nvmlDevice_t device, int count,
						nvmlFieldValue_t *values);
	nvmlReturn_t (*device_get_utilization_rates)(nvmlDevice_t device, nvmlUtilization_t *util);
	/* nvmlDeviceGetCurrentClocksEventReasons (12.2+), else the older
	 * ...ClocksThrottleReasons: the same bits under both names */
	nvmlReturn_t (*device_get_clocks_event_reasons)(nvmlDevice_t device,
							unsigned long long *reasons);
};

/*
 * Opens NVML and calls nvmlInit. Tries $LLEM_NVML_LIBRARY (a full path)
 * first when set, then "libnvidia-ml.so.1", then "libnvidia-ml.so". On
 * failure lib->error says why ("libnvidia-ml.so.1 not found (no NVIDIA
 * driver)", "nvmlInit failed: <nvmlErrorString>", a missing required
 * symbol) and the library is already closed again; library_path stays set
 * when the file itself was found. Returns 0, LLEM_ENOTFOUND (no library) or
 * LLEM_ERROR. Always pair with nvml_lib_unload, which also frees the
 * strings.
 */
int nvml_lib_load(struct nvml_lib *lib);
/* nvmlShutdown (when initialised), dlclose, free; lib is zeroed. */
void nvml_lib_unload(struct nvml_lib *lib);
/* nvmlErrorString(rc) when available, else "NVML error <rc>" (borrowed,
 * valid until the next call from the same thread). */
const char *nvml_lib_strerror(const struct nvml_lib *lib, nvmlReturn_t rc);

#endif
