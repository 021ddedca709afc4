/*
 * What NVML says about this machine's GPUs and driver, for the environment
 * snapshot and `llem config`. Loads NVML, reads static facts, unloads: the
 * energy sampler keeps its own nvml_lib for the length of a run.
 */
#include "env/env.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *env_cuda_version_string(int version)
{
	/* NVML encodes CUDA 12.4 as 12040: major * 1000 + minor * 10. */
	if (version <= 0)
		return NULL;
	return xasprintf("%d.%d", version / 1000, (version % 1000) / 10);
}

/* A NUL-terminated, non-empty string from an NVML buffer, or NULL. */
static char *nvml_string(nvmlReturn_t rc, char *buf, size_t size)
{
	if (rc != NVML_SUCCESS)
		return NULL;
	buf[size - 1] = '\0';
	return *buf ? xstrdup(buf) : NULL;
}

static void probe_gpu(const struct nvml_lib *lib, unsigned int index, struct env_gpu *gpu)
{
	char buf[NVML_NAME_BUFFER_SIZE];
	nvmlDevice_t dev = NULL;
	nvmlMemory_t mem;
	unsigned int limit_mw;
	int mode;

	gpu->index = (int)index;
	gpu->memory_total_mb = -1;
	gpu->power_limit_w = NAN;
	gpu->persistence_mode = -1;
	if (lib->device_get_handle_by_index(index, &dev) != NVML_SUCCESS)
		return;
	if (lib->device_get_name)
		gpu->name =
			nvml_string(lib->device_get_name(dev, buf, sizeof(buf)), buf, sizeof(buf));
	if (lib->device_get_uuid)
		gpu->uuid =
			nvml_string(lib->device_get_uuid(dev, buf, sizeof(buf)), buf, sizeof(buf));
	if (lib->device_get_memory_info && lib->device_get_memory_info(dev, &mem) == NVML_SUCCESS &&
	    mem.total / 1048576u <= INT64_MAX)
		gpu->memory_total_mb = (int64_t)(mem.total / 1048576u);
	if (lib->device_get_power_management_limit &&
	    lib->device_get_power_management_limit(dev, &limit_mw) == NVML_SUCCESS)
		gpu->power_limit_w = limit_mw / 1000.0;
	if (lib->device_get_persistence_mode &&
	    lib->device_get_persistence_mode(dev, &mode) == NVML_SUCCESS &&
	    (mode == 0 || mode == 1))
		gpu->persistence_mode = mode;
}

void env_nvml_probe(struct env_nvml *out)
{
	struct nvml_lib lib;
	char buf[NVML_VERSION_BUFFER_SIZE];
	unsigned int count = 0;
	nvmlReturn_t rc;
	int cuda;

	memset(out, 0, sizeof(*out));
	if (nvml_lib_load(&lib) != 0) {
		out->error = xstrdup(lib.error);
		if (lib.library_path)
			out->library_path = xstrdup(lib.library_path);
		goto out;
	}
	out->library_path = xstrdup(lib.library_path);
	if (lib.system_get_driver_version)
		out->driver_version = nvml_string(lib.system_get_driver_version(buf, sizeof(buf)),
						  buf, sizeof(buf));
	if (lib.system_get_cuda_driver_version &&
	    lib.system_get_cuda_driver_version(&cuda) == NVML_SUCCESS)
		out->cuda_driver_version = env_cuda_version_string(cuda);
	rc = lib.device_get_count(&count);
	if (rc != NVML_SUCCESS) {
		out->error =
			xasprintf("nvmlDeviceGetCount failed: %s", nvml_lib_strerror(&lib, rc));
		goto out;
	}
	/* NVML supports far fewer; a larger count is a broken library. */
	if (count > 4096) {
		out->error = xasprintf("nvmlDeviceGetCount returned %u devices", count);
		goto out;
	}
	out->loaded = true;
	if (count > 0) {
		out->gpus = xcalloc(count, sizeof(*out->gpus));
		out->gpu_count = count;
		for (unsigned int i = 0; i < count; i++)
			probe_gpu(&lib, i, &out->gpus[i]);
	}
out:
	nvml_lib_unload(&lib);
}

void env_nvml_release(struct env_nvml *nvml)
{
	for (size_t i = 0; i < nvml->gpu_count; i++) {
		free(nvml->gpus[i].name);
		free(nvml->gpus[i].uuid);
	}
	free(nvml->gpus);
	free(nvml->library_path);
	free(nvml->error);
	free(nvml->driver_version);
	free(nvml->cuda_driver_version);
	memset(nvml, 0, sizeof(*nvml));
}
