/*
 * The NVML binding: libnvidia-ml opened with dlopen, symbols resolved into
 * struct nvml_lib by one table, nvmlInit called. Never linked, so llem runs
 * (and reports "no NVIDIA driver") on machines without one.
 */
#define _GNU_SOURCE /* dlinfo, RTLD_DI_LINKMAP */
#include "env/env.h"
#include "llem/errors.h"
#include "util/util.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * nvml.h maps nvmlInit to nvmlInit_v2 with a macro on identifiers, which
 * never reaches dlsym strings, so each row names the versioned symbol first
 * and the older one as fallback (drivers before the _v2 ABI only have it).
 */
struct nvml_symbol {
	const char *name;
	const char *fallback; /* or NULL */
	size_t offset;        /* of the function pointer in struct nvml_lib */
	bool required;
};

#define SYM(name, fallback, field, required)                                                       \
	{ name, fallback, offsetof(struct nvml_lib, field), required }

static const struct nvml_symbol nvml_symbols[] = {
	SYM("nvmlInit_v2", "nvmlInit", init, true),
	SYM("nvmlShutdown", NULL, shutdown, true),
	SYM("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", device_get_count, true),
	SYM("nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex",
	    device_get_handle_by_index, true),
	SYM("nvmlErrorString", NULL, error_string, false),
	SYM("nvmlSystemGetDriverVersion", NULL, system_get_driver_version, false),
	SYM("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion",
	    system_get_cuda_driver_version, false),
	SYM("nvmlDeviceGetName", NULL, device_get_name, false),
	SYM("nvmlDeviceGetUUID", NULL, device_get_uuid, false),
	SYM("nvmlDeviceGetMemoryInfo", NULL, device_get_memory_info, false),
	SYM("nvmlDeviceGetPowerManagementLimit", NULL, device_get_power_management_limit, false),
	SYM("nvmlDeviceGetPersistenceMode", NULL, device_get_persistence_mode, false),
	SYM("nvmlDeviceGetTotalEnergyConsumption", NULL, device_get_total_energy_consumption,
	    false),
	SYM("nvmlDeviceGetPowerUsage", NULL, device_get_power_usage, false),
	SYM("nvmlDeviceGetTemperature", NULL, device_get_temperature, false),
	SYM("nvmlDeviceGetFieldValues", NULL, device_get_field_values, false),
	SYM("nvmlDeviceGetUtilizationRates", NULL, device_get_utilization_rates, false),
	SYM("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
	    device_get_clocks_event_reasons, false),
};

/* The driver writes these records; a layout that differs from NVML's
 * would corrupt memory rather than fail. */
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t is 40 bytes");
_Static_assert(offsetof(nvmlFieldValue_t, timestamp) == 8, "timestamp at 8");
_Static_assert(offsetof(nvmlFieldValue_t, valueType) == 24, "valueType at 24");
_Static_assert(offsetof(nvmlFieldValue_t, nvmlReturn) == 28, "nvmlReturn at 28");
_Static_assert(offsetof(nvmlFieldValue_t, value) == 32, "value at 32");
_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t is 8 bytes");

/* The soname first: the bare .so link comes only with development
 * packages, which driver-only hosts and containers lack. */
static const char *const nvml_names[] = { "libnvidia-ml.so.1", "libnvidia-ml.so" };

/* Where the dynamic loader found the library, symlinks resolved. */
static char *loaded_path(void *handle, const char *fallback)
{
	struct link_map *map = NULL;
	char resolved[PATH_MAX];

	if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !*map->l_name)
		return xstrdup(fallback);
	if (realpath(map->l_name, resolved))
		return xstrdup(resolved);
	return xstrdup(map->l_name);
}

static const char *dlerror_text(void)
{
	const char *msg = dlerror();

	return msg ? msg : "unknown dlopen error";
}

static bool dlerror_is_missing_file(const char *msg)
{
	return msg && strstr(msg, "No such file or directory");
}

/* Opens the first library that loads; sets lib->error when none does. */
static int open_library(struct nvml_lib *lib)
{
	const char *override = getenv("LLEM_NVML_LIBRARY");
	struct strbuf why = STRBUF_INIT;
	char *override_error = NULL;
	char *first_error = NULL;

	if (override && *override) {
		lib->handle = dlopen(override, RTLD_NOW | RTLD_LOCAL);
		if (lib->handle) {
			lib->library_path = loaded_path(lib->handle, override);
			return 0;
		}
		override_error = xstrdup(dlerror_text());
	}
	for (size_t i = 0; i < ARRAY_SIZE(nvml_names); i++) {
		lib->handle = dlopen(nvml_names[i], RTLD_NOW | RTLD_LOCAL);
		if (lib->handle) {
			lib->library_path = loaded_path(lib->handle, nvml_names[i]);
			free(override_error);
			free(first_error);
			return 0;
		}
		if (i == 0)
			first_error = xstrdup(dlerror_text());
	}
	/* A library that exists but cannot load (wrong architecture, missing
	 * dependency) is a different problem from no driver at all. */
	if (dlerror_is_missing_file(first_error))
		strbuf_adds(&why, "libnvidia-ml.so.1 not found (no NVIDIA driver)");
	else
		strbuf_addf(&why, "cannot load libnvidia-ml.so.1: %s", first_error);
	if (override_error)
		strbuf_addf(&why, "; LLEM_NVML_LIBRARY: %s", override_error);
	lib->error = strbuf_detach(&why);
	free(override_error);
	free(first_error);
	return LLEM_ENOTFOUND;
}

/* Points every function slot at NULL (after dlclose nothing may call). */
static void clear_symbols(struct nvml_lib *lib)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvml_symbols); i++)
		*(void **)((char *)lib + nvml_symbols[i].offset) = NULL;
}

static int resolve_symbols(struct nvml_lib *lib)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvml_symbols); i++) {
		const struct nvml_symbol *s = &nvml_symbols[i];
		/* POSIX guarantees function pointers and void * share a
		 * representation; storing through a void * view of the slot is
		 * the ISO C form the dlopen(3) man page uses. */
		void **slot = (void **)((char *)lib + s->offset);

		*slot = dlsym(lib->handle, s->name);
		if (!*slot && s->fallback)
			*slot = dlsym(lib->handle, s->fallback);
		if (!*slot && s->required) {
			lib->error = s->fallback
					     ? xasprintf("%s lacks %s and %s", lib->library_path,
							 s->name, s->fallback)
					     : xasprintf("%s lacks %s", lib->library_path, s->name);
			return LLEM_ERROR;
		}
	}
	return 0;
}

int nvml_lib_load(struct nvml_lib *lib)
{
	nvmlReturn_t rc;
	int err;

	memset(lib, 0, sizeof(*lib));
	err = open_library(lib);
	if (err)
		return err;
	err = resolve_symbols(lib);
	if (err)
		goto fail;
	rc = lib->init();
	if (rc != NVML_SUCCESS) {
		lib->error = xasprintf("nvmlInit failed: %s", nvml_lib_strerror(lib, rc));
		err = LLEM_ERROR;
		goto fail;
	}
	lib->initialized = true;
	return 0;
fail:
	clear_symbols(lib);
	dlclose(lib->handle);
	lib->handle = NULL;
	return err;
}

void nvml_lib_unload(struct nvml_lib *lib)
{
	if (lib->initialized && lib->shutdown)
		lib->shutdown();
	/* dlclose matters: a later load must run the library's init again
	 * (tests re-script the fake NVML between loads). */
	if (lib->handle)
		dlclose(lib->handle);
	free(lib->library_path);
	free(lib->error);
	memset(lib, 0, sizeof(*lib));
}

const char *nvml_lib_strerror(const struct nvml_lib *lib, nvmlReturn_t rc)
{
	static _Thread_local char buf[32];
	const char *s = NULL;

	if (lib->error_string)
		s = lib->error_string(rc);
	if (s && *s)
		return s;
	snprintf(buf, sizeof(buf), "NVML error %d", rc);
	return buf;
}
