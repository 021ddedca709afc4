/*
 * The environment snapshot recorded with every result: gathers the pieces
 * (cpu.c, memory.c, os_release.c, container.c, nvml_probe.c) plus uname
 * and llem's own build identity. Nothing here fails; unknowns stay NULL/-1.
 */
#include "env/env.h"
#include "util/util.h"

#include "build_info.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void env_snapshot_collect(struct env_snapshot *out)
{
	struct strbuf when = STRBUF_INIT;
	struct utsname uts;
	long online;

	memset(out, 0, sizeof(*out));
	time_format_utc(&when, clock_realtime_ns());
	out->collected_at = strbuf_detach(&when);

	out->cpu_model = env_cpu_model("/proc/cpuinfo");
	online = sysconf(_SC_NPROCESSORS_ONLN);
	out->cpu_logical_cores = online > 0 && online <= 1000000 ? (int)online : -1;
	out->cpu_physical_cores = env_cpu_physical_cores("/proc/cpuinfo");
	out->cpu_governor =
		env_cpu_governor("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
	out->memory_total_mb = env_memory_total_mb("/proc/meminfo");

	if (uname(&uts) == 0) {
		out->kernel = xasprintf("%s %s", uts.sysname, uts.release);
		out->arch = xstrdup(uts.machine);
	}
	/* os-release(5): /etc first, /usr/lib as the vendor fallback. */
	out->distro = env_distro_name("/etc/os-release");
	if (!out->distro)
		out->distro = env_distro_name("/usr/lib/os-release");
	out->container = env_container_kind("");

	env_nvml_probe(&out->nvml);

	out->llem_version = xstrdup(LLEM_VERSION_STRING);
	out->llem_build =
		xasprintf("commit %s, %s, %s", LLEM_GIT_COMMIT, LLEM_BUILD_TYPE, LLEM_COMPILER);
}

void env_snapshot_release(struct env_snapshot *snap)
{
	free(snap->collected_at);
	free(snap->cpu_model);
	free(snap->cpu_governor);
	free(snap->kernel);
	free(snap->arch);
	free(snap->distro);
	free(snap->container);
	env_nvml_release(&snap->nvml);
	free(snap->llem_version);
	free(snap->llem_build);
	memset(snap, 0, sizeof(*snap));
}
