/*
 * The public face of "this machine" and of the config schema's reference
 * text: the machine report as JSON (docs/machine-report.md) and the fields
 * document, thin wrappers over env, energy, backends and config. The CLI
 * prints from these; it never sees the layers.
 */
#include "llem/llem.h"
#include "backends/backends.h"
#include "config/config.h"
#include "energy/energy.h"
#include "env/env.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

static void write_cpu(struct jsonw *w, const struct env_snapshot *env)
{
	jsonw_key(w, "cpu");
	jsonw_object_begin(w);
	jsonw_put_string(w, "model", env->cpu_model);
	jsonw_put_count(w, "logical_cores", env->cpu_logical_cores);
	jsonw_put_count(w, "physical_cores", env->cpu_physical_cores);
	jsonw_put_string(w, "governor", env->cpu_governor);
	jsonw_object_end(w);
}

static void write_gpu(struct jsonw *w, const struct env_nvml *nv)
{
	size_t i;

	jsonw_key(w, "gpu");
	jsonw_object_begin(w);
	jsonw_put_bool(w, "nvml_loaded", nv->loaded);
	jsonw_put_string(w, "error", nv->error); /* NULL when loaded */
	jsonw_put_string(w, "library_path", nv->library_path);
	jsonw_put_string(w, "driver_version", nv->driver_version);
	jsonw_put_string(w, "cuda_driver_version", nv->cuda_driver_version);
	jsonw_key(w, "devices");
	jsonw_array_begin(w);
	for (i = 0; i < nv->gpu_count; i++) {
		const struct env_gpu *g = &nv->gpus[i];

		jsonw_object_begin(w);
		jsonw_put_count(w, "index", g->index);
		jsonw_put_string(w, "name", g->name);
		jsonw_put_string(w, "uuid", g->uuid);
		jsonw_put_count(w, "memory_total_mib", g->memory_total_mb);
		jsonw_put_double(w, "power_limit_w", g->power_limit_w);
		jsonw_key(w, "persistence_mode");
		if (g->persistence_mode < 0)
			jsonw_null(w);
		else
			jsonw_bool(w, g->persistence_mode != 0);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
}

static void write_rapl(struct jsonw *w, const char *root)
{
	struct rapl_probe p;
	size_t i;

	rapl_probe(root, &p);
	jsonw_key(w, "rapl");
	jsonw_object_begin(w);
	jsonw_put_string(w, "root", p.root ? p.root : root);
	jsonw_put_bool(w, "present", p.present);
	jsonw_put_bool(w, "all_readable", p.all_readable);
	jsonw_key(w, "zones");
	jsonw_array_begin(w);
	for (i = 0; i < p.zone_count; i++) {
		const struct rapl_zone *z = &p.zones[i];

		jsonw_object_begin(w);
		jsonw_put_string(w, "id", z->id);
		jsonw_put_string(w, "name", z->name);
		jsonw_put_count(w, "depth", z->depth);
		jsonw_put_bool(w, "readable", z->readable);
		jsonw_put_string(w, "error", z->error);
		jsonw_put_count(w, "max_energy_range_uj", z->max_energy_range_uj);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_put_string(w, "fix_hint", p.fix_hint);
	jsonw_put_string(w, "fix_detail", p.fix_detail);
	jsonw_object_end(w);
	rapl_probe_release(&p);
}

/* The table's "fp32, fp16, bf16" as ["fp32", "fp16", "bf16"]. */
static void put_list(struct jsonw *w, const char *key, const char *list)
{
	const char *p = list;

	jsonw_key(w, key);
	jsonw_array_begin(w);
	while (p && *p) {
		size_t n = strcspn(p, ",");
		char *item;

		while (n && p[n - 1] == ' ')
			n--;
		item = xstrndup(p, n);
		if (*item)
			jsonw_string(w, item);
		free(item);
		p += strcspn(p, ",");
		p += strspn(p, ", ");
	}
	jsonw_array_end(w);
}

static void write_backends(struct jsonw *w)
{
	const struct backend_info *list;
	size_t n = backends_list(&list), i;

	jsonw_key(w, "backends");
	jsonw_array_begin(w);
	for (i = 0; i < n; i++) {
		struct strbuf found = STRBUF_INIT;
		bool ok = list[i].runnable;

		/* A backend that depends on the machine says what it found;
		 * one that this build lacks is unavailable whatever is here. */
		if (ok && list[i].ops->describe)
			ok = list[i].ops->describe(&found);
		jsonw_object_begin(w);
		jsonw_put_string(w, "name", list[i].name);
		jsonw_put_bool(w, "built", list[i].runnable);
		jsonw_put_bool(w, "available", ok);
		jsonw_put_string(w, "detail", found.len ? strbuf_str(&found) : list[i].status);
		put_list(w, "precisions", list[i].precisions);
		jsonw_object_end(w);
		strbuf_release(&found);
	}
	jsonw_array_end(w);
}

LLEM_API int llem_machine_report_json(char **out, const char *rapl_root)
{
	struct env_snapshot env;
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;

	env_snapshot_collect(&env);
	jsonw_init(&w, &sb, JSONW_PRETTY);
	jsonw_object_begin(&w);
	jsonw_key(&w, "llem");
	jsonw_object_begin(&w);
	jsonw_put_string(&w, "version", env.llem_version);
	jsonw_put_string(&w, "build", env.llem_build);
	jsonw_object_end(&w);
	jsonw_put_string(&w, "collected_at", env.collected_at);
	write_cpu(&w, &env);
	write_gpu(&w, &env.nvml);
	write_rapl(&w, rapl_root ? rapl_root : RAPL_DEFAULT_ROOT);
	write_backends(&w);
	jsonw_key(&w, "system");
	jsonw_object_begin(&w);
	jsonw_put_count(&w, "memory_total_mib", env.memory_total_mb);
	jsonw_put_string(&w, "kernel", env.kernel);
	jsonw_put_string(&w, "arch", env.arch);
	jsonw_put_string(&w, "distro", env.distro);
	jsonw_put_string(&w, "container", env.container);
	jsonw_object_end(&w);
	jsonw_object_end(&w);
	strbuf_addch(&sb, '\n');
	env_snapshot_release(&env);
	*out = strbuf_detach(&sb);
	return 0;
}

LLEM_API int llem_config_fields_doc(char **out, const char *format)
{
	struct strbuf sb = STRBUF_INIT;

	*out = NULL;
	if (format && !strcmp(format, "text"))
		config_fields_text(&sb);
	else if (format && !strcmp(format, "markdown"))
		config_fields_markdown(&sb);
	else
		return error_set(LLEM_EINVAL, "fields format must be text or markdown, got '%s'",
				 format ? format : "(null)");
	*out = strbuf_detach(&sb);
	return 0;
}
