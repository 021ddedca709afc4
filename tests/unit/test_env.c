/*
 * env: parsers on fixture files (tests/data/env), the snapshot on this
 * machine, and the NVML probe through the real dlopen path against the
 * fake libnvidia-ml.so.1 (tests/fakes/fake_nvml.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "build_info.h"
#include "env/env.h"
#include "util/util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *data_path(const char *name)
{
	const char *dir = getenv("LLEM_TEST_DATA");

	assert_non_null(dir);
	return xasprintf("%s/env/%s", dir, name);
}

static char *fake_nvml_path(void)
{
	const char *dir = getenv("LLEM_FAKE_NVML_DIR");

	assert_non_null(dir);
	return xasprintf("%s/libnvidia-ml.so.1", dir);
}

/* Every test starts from an unscripted fake and no override. */
static int reset_env(void **state)
{
	static const char *const vars[] = {
		"LLEM_NVML_LIBRARY",   "FAKE_NVML_GPUS",           "FAKE_NVML_NAME",
		"FAKE_NVML_MEMORY_MB", "FAKE_NVML_DRIVER",         "FAKE_NVML_CUDA",
		"FAKE_NVML_INIT_FAIL", "FAKE_NVML_POWER_LIMIT_MW", "FAKE_NVML_PERSISTENCE",
		"FAKE_NVML_POWER_MW",  "FAKE_NVML_ENERGY_MJ",      "FAKE_NVML_TEMP_C",
		"container",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		unsetenv(vars[i]);
	return 0;
}

static void use_fake_nvml(void)
{
	char *path = fake_nvml_path();

	setenv("LLEM_NVML_LIBRARY", path, 1);
	free(path);
}

/* ---- CPU ---- */

static void test_cpu_model_from_model_name(void **state)
{
	char *path = data_path("cpuinfo_x86");
	char *model = env_cpu_model(path);

	(void)state;
	assert_string_equal(model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
	free(model);
	free(path);
}

static void test_cpu_model_falls_back_to_hardware_when_model_name_empty(void **state)
{
	char *path = data_path("cpuinfo_arm32");
	char *model = env_cpu_model(path);

	(void)state;
	assert_string_equal(model, "BCM2835");
	free(model);
	free(path);
}

static void test_cpu_model_null_when_cpuinfo_has_none(void **state)
{
	char *path = data_path("cpuinfo_arm64");

	(void)state;
	assert_null(env_cpu_model(path));
	assert_null(env_cpu_model("/nonexistent/cpuinfo"));
	free(path);
}

static void test_physical_cores_count_distinct_package_core_pairs(void **state)
{
	/* 2 packages x 2 cores x 2 hyperthreads = 8 logical, 4 physical */
	char *path = data_path("cpuinfo_x86");

	(void)state;
	assert_int_equal(env_cpu_physical_cores(path), 4);
	free(path);
}

static void test_physical_cores_without_physical_id_count_one_package(void **state)
{
	/* 6 logical CPUs, core ids 0,0,1,1,2,2 */
	char *path = data_path("cpuinfo_no_physical_id");

	(void)state;
	assert_int_equal(env_cpu_physical_cores(path), 3);
	free(path);
}

static void test_physical_cores_last_block_without_newline(void **state)
{
	/* two packages; the file ends right after the second "core id" */
	char *path = data_path("cpuinfo_no_trailing_newline");

	(void)state;
	assert_int_equal(env_cpu_physical_cores(path), 2);
	free(path);
}

static void test_physical_cores_unknown_without_core_ids(void **state)
{
	char *path = data_path("cpuinfo_arm64");

	(void)state;
	assert_int_equal(env_cpu_physical_cores(path), -1);
	assert_int_equal(env_cpu_physical_cores("/nonexistent/cpuinfo"), -1);
	free(path);
}

static void test_governor_read_and_trimmed(void **state)
{
	char *path = data_path("scaling_governor");
	char *gov = env_cpu_governor(path);

	(void)state;
	assert_string_equal(gov, "performance");
	assert_null(env_cpu_governor("/nonexistent/scaling_governor"));
	free(gov);
	free(path);
}

/* ---- memory ---- */

static void test_memory_total_kib_to_mib(void **state)
{
	char *path = data_path("meminfo");

	(void)state;
	/* 16318412 kB / 1024 = 15935.95 MiB, truncated as free -m does */
	assert_int_equal(env_memory_total_mb(path), 15935);
	free(path);
}

static void test_memory_total_unknown_when_missing_or_malformed(void **state)
{
	char *no_total = data_path("meminfo_no_total");
	char *bad_unit = data_path("meminfo_bad_unit");

	(void)state;
	assert_int_equal(env_memory_total_mb(no_total), -1);
	assert_int_equal(env_memory_total_mb(bad_unit), -1);
	assert_int_equal(env_memory_total_mb("/nonexistent/meminfo"), -1);
	free(no_total);
	free(bad_unit);
}

/* ---- os-release ---- */

static void test_distro_pretty_name_unquoted(void **state)
{
	char *path = data_path("os-release");
	char *name = env_distro_name(path);

	(void)state;
	assert_string_equal(name, "Debian GNU/Linux 12 (bookworm)");
	free(name);
	free(path);
}

static void test_distro_shell_escapes_and_single_quotes(void **state)
{
	char *escaped = data_path("os-release_escaped");
	char *single = data_path("os-release_single_quoted");
	char *a = env_distro_name(escaped);
	char *b = env_distro_name(single);

	(void)state;
	assert_string_equal(a, "Fancy \"Quoted\" OS $HOME \\ 1.0");
	assert_string_equal(b, "Single Quoted 2.0");
	free(a);
	free(b);
	free(escaped);
	free(single);
}

static void test_distro_falls_back_to_name(void **state)
{
	char *path = data_path("os-release_name_only");
	char *name = env_distro_name(path);

	(void)state;
	assert_string_equal(name, "Alpine");
	assert_null(env_distro_name("/nonexistent/os-release"));
	free(name);
	free(path);
}

/* ---- container ---- */

static void check_container(const char *root_name, const char *expected)
{
	char *root = data_path(root_name);
	char *kind = env_container_kind(root);

	if (expected)
		assert_string_equal(kind, expected);
	else
		assert_null(kind);
	free(kind);
	free(root);
}

static void test_container_docker_marker(void **state)
{
	(void)state;
	check_container("roots/docker", "docker");
}

static void test_container_podman_marker(void **state)
{
	(void)state;
	check_container("roots/podman", "podman");
}

static void test_container_kubepods_cgroup_wins_over_docker(void **state)
{
	(void)state;
	check_container("roots/kubepods", "kubernetes");
}

static void test_container_lxc_cgroup(void **state)
{
	(void)state;
	check_container("roots/lxc", "lxc");
}

static void test_container_none_on_plain_root(void **state)
{
	(void)state;
	check_container("roots/none", NULL);
	check_container("roots/does-not-exist", NULL);
}

static void test_container_env_var_when_no_marker(void **state)
{
	(void)state;
	setenv("container", "systemd-nspawn", 1);
	check_container("roots/none", "systemd-nspawn");
	/* markers still win over the variable */
	check_container("roots/podman", "podman");
}

/* ---- snapshot ---- */

static void test_snapshot_on_this_machine(void **state)
{
	struct env_snapshot snap;

	(void)state;
	env_snapshot_collect(&snap);
	assert_non_null(snap.kernel);
	assert_true(str_starts_with(snap.kernel, "Linux "));
	assert_non_null(snap.arch);
	assert_true(snap.cpu_logical_cores >= 1);
	assert_true(snap.cpu_physical_cores == -1 || snap.cpu_physical_cores >= 1);
	assert_true(snap.memory_total_mb > 0);
	/* "2025-01-31T12:34:56.123456Z" */
	assert_non_null(snap.collected_at);
	assert_int_equal(strlen(snap.collected_at), 27);
	assert_int_equal(snap.collected_at[26], 'Z');
	assert_string_equal(snap.llem_version, LLEM_VERSION_STRING);
	assert_true(str_starts_with(snap.llem_build, "commit " LLEM_GIT_COMMIT ", "));
	/* loaded and error are exclusive, whatever this machine has */
	assert_true(snap.nvml.loaded == (snap.nvml.error == NULL));
	env_snapshot_release(&snap);
	assert_null(snap.kernel);
}

static void test_snapshot_includes_nvml_gpus(void **state)
{
	struct env_snapshot snap;

	(void)state;
	use_fake_nvml();
	env_snapshot_collect(&snap);
	assert_true(snap.nvml.loaded);
	assert_int_equal(snap.nvml.gpu_count, 1);
	assert_string_equal(snap.nvml.gpus[0].name, "Fake GPU 80GB");
	env_snapshot_release(&snap);
}

/* ---- NVML ---- */

static void test_cuda_version_encoding(void **state)
{
	char *a = env_cuda_version_string(12040);
	char *b = env_cuda_version_string(11080);
	char *c = env_cuda_version_string(12010);

	(void)state;
	assert_string_equal(a, "12.4");
	assert_string_equal(b, "11.8");
	assert_string_equal(c, "12.1");
	assert_null(env_cuda_version_string(0));
	free(a);
	free(b);
	free(c);
}

static void test_nvml_absent_reports_no_driver(void **state)
{
	struct env_nvml nvml;
	void *system_lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);

	(void)state;
	if (system_lib) {
		/* a real driver is installed: absence cannot be shown here */
		dlclose(system_lib);
		skip();
	}
	setenv("LLEM_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
	env_nvml_probe(&nvml);
	assert_false(nvml.loaded);
	assert_non_null(nvml.error);
	assert_true(str_starts_with(nvml.error, "libnvidia-ml.so.1 not found (no NVIDIA driver)"));
	/* the override that failed is named too */
	assert_non_null(strstr(nvml.error, "LLEM_NVML_LIBRARY"));
	assert_null(nvml.library_path);
	assert_null(nvml.driver_version);
	assert_int_equal(nvml.gpu_count, 0);
	assert_null(nvml.gpus);
	env_nvml_release(&nvml);
}

static void test_nvml_fake_two_gpus_scripted(void **state)
{
	struct env_nvml nvml;

	(void)state;
	use_fake_nvml();
	setenv("FAKE_NVML_GPUS", "2", 1);
	env_nvml_probe(&nvml);
	assert_true(nvml.loaded);
	assert_null(nvml.error);
	assert_non_null(nvml.library_path);
	assert_int_equal(nvml.library_path[0], '/');
	assert_non_null(strstr(nvml.library_path, "libnvidia-ml.so"));
	assert_string_equal(nvml.driver_version, "550.54.15");
	assert_string_equal(nvml.cuda_driver_version, "12.4");
	assert_int_equal(nvml.gpu_count, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct env_gpu *g = &nvml.gpus[i];

		assert_int_equal(g->index, (int)i);
		assert_string_equal(g->name, "Fake GPU 80GB");
		assert_non_null(g->uuid);
		assert_true(str_starts_with(g->uuid, "GPU-"));
		assert_int_equal(g->memory_total_mb, 81559);
		assert_true(fabs(g->power_limit_w - 700.0) < 1e-9);
		assert_int_equal(g->persistence_mode, 1);
	}
	assert_string_not_equal(nvml.gpus[0].uuid, nvml.gpus[1].uuid);
	env_nvml_release(&nvml);
	assert_null(nvml.gpus);
}

static void test_nvml_each_probe_sees_new_script(void **state)
{
	struct env_nvml nvml;

	(void)state;
	use_fake_nvml();
	setenv("FAKE_NVML_NAME", "NVIDIA H100 80GB HBM3", 1);
	setenv("FAKE_NVML_MEMORY_MB", "81559", 1);
	setenv("FAKE_NVML_POWER_LIMIT_MW", "350500", 1);
	setenv("FAKE_NVML_PERSISTENCE", "0", 1);
	setenv("FAKE_NVML_CUDA", "11080", 1);
	setenv("FAKE_NVML_DRIVER", "470.223.02", 1);
	env_nvml_probe(&nvml);
	assert_true(nvml.loaded);
	assert_int_equal(nvml.gpu_count, 1);
	assert_string_equal(nvml.gpus[0].name, "NVIDIA H100 80GB HBM3");
	assert_true(fabs(nvml.gpus[0].power_limit_w - 350.5) < 1e-9);
	assert_int_equal(nvml.gpus[0].persistence_mode, 0);
	assert_string_equal(nvml.cuda_driver_version, "11.8");
	assert_string_equal(nvml.driver_version, "470.223.02");
	env_nvml_release(&nvml);

	setenv("FAKE_NVML_GPUS", "0", 1);
	env_nvml_probe(&nvml);
	assert_true(nvml.loaded);
	assert_int_equal(nvml.gpu_count, 0);
	assert_null(nvml.gpus);
	env_nvml_release(&nvml);
}

static void test_nvml_init_failure_reports_nvml_error_string(void **state)
{
	struct env_nvml nvml;

	(void)state;
	use_fake_nvml();
	setenv("FAKE_NVML_INIT_FAIL", "1", 1);
	env_nvml_probe(&nvml);
	assert_false(nvml.loaded);
	assert_non_null(nvml.error);
	assert_string_equal(nvml.error, "nvmlInit failed: Unknown Error");
	/* the library was found; only init failed */
	assert_non_null(nvml.library_path);
	assert_int_equal(nvml.gpu_count, 0);
	env_nvml_release(&nvml);
}

static void test_nvml_library_without_symbols_is_rejected(void **state)
{
	struct env_nvml nvml;

	(void)state;
	/* a real shared library that is not NVML */
	setenv("LLEM_NVML_LIBRARY", "libm.so.6", 1);
	env_nvml_probe(&nvml);
	assert_false(nvml.loaded);
	assert_non_null(nvml.error);
	assert_non_null(strstr(nvml.error, "lacks nvmlInit_v2 and nvmlInit"));
	env_nvml_release(&nvml);
}

static void test_nvml_binding_reads_energy_power_temperature(void **state)
{
	struct nvml_lib lib;
	nvmlDevice_t dev;
	unsigned long long e0, e1;
	unsigned int power_mw, temp_c;
	struct timespec pause = { 0, 50 * 1000 * 1000 };

	(void)state;
	use_fake_nvml();
	setenv("FAKE_NVML_ENERGY_MJ", "5000", 1);
	setenv("FAKE_NVML_POWER_MW", "1000000", 1);
	assert_int_equal(nvml_lib_load(&lib), 0);
	assert_non_null(lib.device_get_total_energy_consumption);
	assert_non_null(lib.device_get_power_usage);
	assert_non_null(lib.device_get_temperature);
	assert_int_equal(lib.device_get_handle_by_index(0, &dev), NVML_SUCCESS);
	assert_int_equal(lib.device_get_total_energy_consumption(dev, &e0), NVML_SUCCESS);
	nanosleep(&pause, NULL);
	assert_int_equal(lib.device_get_total_energy_consumption(dev, &e1), NVML_SUCCESS);
	/* 1 kW for at least 50 ms is at least 50 J = 50000 mJ */
	assert_true(e0 >= 5000);
	assert_true(e1 - e0 >= 50000);
	assert_true(e1 - e0 < 60ull * 1000 * 1000); /* under a minute */
	assert_int_equal(lib.device_get_power_usage(dev, &power_mw), NVML_SUCCESS);
	assert_int_equal(power_mw, 1000000);
	assert_int_equal(lib.device_get_temperature(dev, NVML_TEMPERATURE_GPU, &temp_c),
			 NVML_SUCCESS);
	assert_int_equal(temp_c, 45);
	/* out-of-range index is the library's error, named by nvmlErrorString */
	assert_int_equal(lib.device_get_handle_by_index(7, &dev), NVML_ERROR_INVALID_ARGUMENT);
	assert_string_equal(nvml_lib_strerror(&lib, NVML_ERROR_INVALID_ARGUMENT),
			    "Invalid Argument");
	nvml_lib_unload(&lib);
	assert_null(lib.handle);
	assert_null(lib.init);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, reset_env)
		T(test_cpu_model_from_model_name),
		T(test_cpu_model_falls_back_to_hardware_when_model_name_empty),
		T(test_cpu_model_null_when_cpuinfo_has_none),
		T(test_physical_cores_count_distinct_package_core_pairs),
		T(test_physical_cores_without_physical_id_count_one_package),
		T(test_physical_cores_last_block_without_newline),
		T(test_physical_cores_unknown_without_core_ids),
		T(test_governor_read_and_trimmed),
		T(test_memory_total_kib_to_mib),
		T(test_memory_total_unknown_when_missing_or_malformed),
		T(test_distro_pretty_name_unquoted),
		T(test_distro_shell_escapes_and_single_quotes),
		T(test_distro_falls_back_to_name),
		T(test_container_docker_marker),
		T(test_container_podman_marker),
		T(test_container_kubepods_cgroup_wins_over_docker),
		T(test_container_lxc_cgroup),
		T(test_container_none_on_plain_root),
		T(test_container_env_var_when_no_marker),
		T(test_snapshot_on_this_machine),
		T(test_snapshot_includes_nvml_gpus),
		T(test_cuda_version_encoding),
		T(test_nvml_absent_reports_no_driver),
		T(test_nvml_fake_two_gpus_scripted),
		T(test_nvml_each_probe_sees_new_script),
		T(test_nvml_init_failure_reports_nvml_error_string),
		T(test_nvml_library_without_symbols_is_rejected),
		T(test_nvml_binding_reads_energy_power_temperature),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
