/*
 * The PyTorch backend's side that needs no worker session: finding the
 * Python interpreter and the worker script, the preflight (model present,
 * torch and transformers importable) and the line `llem config` shows.
 * Preflight runs once per run (docs/architecture.md, "Backends"), so the
 * import check, which takes seconds, is not cached.
 */
#define _GNU_SOURCE /* memrchr */
#include "backends/jsonl_child.h"
#include "backends/pytorch.h"
#include "engine/engine.h"
#include "llem/errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_info.h"

/* How long `python worker --check` and `--versions` may take. */
#define CHECK_TIMEOUT_MS (120 * 1000)

/*
 * A deadline, shortened by LLEM_PYTORCH_TIMEOUT_S when set (seconds; for
 * slow-start diagnosis and for the tests that make a worker hang).
 */
int pytorch_deadline_ms(int dflt)
{
	const char *env = getenv("LLEM_PYTORCH_TIMEOUT_S");
	double s;

	if (env && *env && !parse_double(env, &s) && s > 0 && s * 1000 < dflt)
		return (int)(s * 1000);
	return dflt;
}

const char *pytorch_synthetic_preset(const char *model)
{
	return str_starts_with(model, "synthetic/") ? model + strlen("synthetic/") : NULL;
}

/* ---- finding the interpreter and the worker file -------------------- */

static bool is_executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* The configured pytorch.python, or NULL when the config leaves it unset. */
const char *pytorch_configured_python(const struct config *cfg)
{
	return cfg_is_null(cfg, FIELD_PYTORCH_PYTHON) ? NULL : cfg_str(cfg, FIELD_PYTORCH_PYTHON);
}

/* The interpreter's path and where the name came from, or NULL:
 * configured (pytorch.python), else LLEM_PYTHON, else python3 on PATH. */
char *pytorch_find_python(const char *configured, const char **name, const char **from)
{
	const char *env = getenv("LLEM_PYTHON"), *path;
	char *dirs, *dir, *save = NULL, *found = NULL;

	if (configured) {
		*name = configured;
		*from = "pytorch.python";
	} else if (env && *env) {
		*name = env;
		*from = "LLEM_PYTHON";
	} else {
		*name = "python3";
		*from = "the default";
	}
	if (strchr(*name, '/'))
		return is_executable(*name) ? xstrdup(*name) : NULL;
	path = getenv("PATH");
	dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = fs_join(*dir ? dir : ".", *name);

		if (is_executable(cand))
			found = cand;
		else
			free(cand);
	}
	free(dirs);
	return found;
}

/* The worker script: LLEM_PYTORCH_WORKER, next to the executable's share
 * dir, the install dir, then the source tree (a build that is not
 * installed). NULL with the places tried in *tried. */
char *pytorch_find_worker(struct strbuf *tried)
{
	const char *env = getenv("LLEM_PYTORCH_WORKER");
	char *exe_dir = fs_exe_dir(), *cand[4] = { NULL }, *found = NULL;
	size_t i, n = 0;

	if (env && *env)
		cand[n++] = xstrdup(env);
	if (exe_dir)
		cand[n++] = xasprintf("%s/../share/llem/%s", exe_dir, PYTORCH_WORKER_FILE);
	cand[n++] = xasprintf("%s/%s", LLEM_INSTALL_DATADIR, PYTORCH_WORKER_FILE);
	cand[n++] = xasprintf("%s/src/backends/%s", LLEM_SOURCE_DIR, PYTORCH_WORKER_FILE);
	for (i = 0; i < n; i++) {
		if (!found && fs_exists(cand[i])) {
			found = cand[i];
			continue;
		}
		if (!found)
			strbuf_addf(tried, "\n  %s", cand[i]);
		free(cand[i]);
	}
	free(exe_dir);
	return found;
}

/* ---- preflight -------------------------------------------------------- */

static const struct cfg_origin *origin_of(const struct config *cfg, enum field_id id)
{
	return cfg->o[id].source ? &cfg->o[id] : &cfg->o[FIELD_BACKEND];
}

static void add_error(const struct config *cfg, struct diag_list *diags, enum field_id id,
		      const char *hint, const char *msg)
{
	const struct cfg_origin *o = origin_of(cfg, id);

	diag_add(diags, DIAG_ERROR, o->source, o->line, o->col, schema_fields[id].path, hint, "%s",
		 msg);
}

/* Runs `python worker --check`: do torch and transformers import? */
static void check_imports(const struct config *cfg, struct diag_list *diags, const char *python,
			  const char *worker)
{
	const char *argv[] = { python, worker, "--check", NULL };
	char *out = NULL, *line, *msg = NULL, *hint = NULL;
	json_t *v = NULL;
	int status = 0;

	if (jsonl_run_capture(argv, pytorch_deadline_ms(CHECK_TIMEOUT_MS), 1 << 20, &out,
			      &status)) {
		msg = xasprintf("cannot run the PyTorch worker check: %s", error_last());
		goto report;
	}
	line = strrchr(out, '{'); /* the check prints one JSON line last */
	while (line && line > out && line[-1] != '\n')
		line = memrchr(out, '{', (size_t)(line - out));
	v = line ? json_loads(line, 0, NULL) : NULL;
	if (!json_is_object(v)) {
		msg = xasprintf(
			"%s %s --check printed no result (exit status %d); see its stderr above",
			python, worker, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto report;
	}
	if (json_is_true(json_object_get(v, "ok")))
		goto done;
	msg = xasprintf("%s cannot run the PyTorch worker: %s", python,
			json_string_value(json_object_get(v, "message"))
				? json_string_value(json_object_get(v, "message"))
				: "the import check failed");
	if (json_string_value(json_object_get(v, "hint")))
		hint = xstrdup(json_string_value(json_object_get(v, "hint")));
report:
	add_error(cfg, diags, FIELD_PYTORCH_PYTHON,
		  hint ? hint : "install them with: python3 -m pip install torch transformers",
		  msg);
done:
	json_decref(v);
	free(out);
	free(msg);
	free(hint);
}

/* Is an HF id in the local cache? llem never downloads. */
static bool in_hf_cache(const char *id)
{
	const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *p;
	struct strbuf name = STRBUF_INIT;
	char *root, *dir;
	bool ok;

	if (hub && *hub)
		root = xstrdup(hub);
	else if (home && *home)
		root = xasprintf("%s/hub", home);
	else
		root = xasprintf("%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : "");
	/* The hub's layout: models--ORG--NAME. */
	strbuf_adds(&name, "models--");
	for (p = id; *p; p++)
		if (*p == '/')
			strbuf_adds(&name, "--");
		else
			strbuf_addch(&name, *p);
	dir = fs_join(root, strbuf_str(&name));
	ok = fs_is_dir(dir);
	free(dir);
	strbuf_release(&name);
	free(root);
	return ok;
}

int pytorch_preflight(const struct config *cfg, unsigned flags, struct diag_list *diags)
{
	const char *model = cfg_str(cfg, FIELD_MODEL), *preset = pytorch_synthetic_preset(model);
	const char *name, *from;
	struct strbuf tried = STRBUF_INIT;
	size_t before = diag_error_count(diags);
	char *python, *worker, *msg;
	struct engine_arch arch;

	if (preset) {
		if (engine_preset_find(&arch, preset))
			add_error(cfg, diags, FIELD_MODEL, NULL, error_last());
	} else if (fs_is_dir(model)) {
		char *cj = fs_join(model, "config.json");

		if (!fs_exists(cj)) {
			msg = xasprintf(
				"'%s' has no config.json: not a Hugging Face model directory",
				model);
			add_error(cfg, diags, FIELD_MODEL, NULL, msg);
			free(msg);
		}
		free(cj);
	} else if (!in_hf_cache(model)) {
		msg = xasprintf(
			"'%s' is neither a local directory nor in the local Hugging Face cache",
			model);
		add_error(cfg, diags, FIELD_MODEL,
			  "llem never downloads: fetch it first (huggingface-cli download ID), "
			  "point model: at a local directory, or use synthetic/<preset>",
			  msg);
		free(msg);
	}

	python = pytorch_find_python(pytorch_configured_python(cfg), &name, &from);
	if (!python) {
		msg = xasprintf(
			"Python interpreter '%s' (from %s) was not found or is not executable",
			name, from);
		add_error(
			cfg, diags, FIELD_PYTORCH_PYTHON,
			"set pytorch.python (or LLEM_PYTHON) to a python3 that has torch and transformers",
			msg);
		free(msg);
	}
	worker = pytorch_find_worker(&tried);
	if (!worker) {
		msg = xasprintf("the PyTorch worker script %s is not installed; looked for:%s",
				PYTORCH_WORKER_FILE, strbuf_str(&tried));
		add_error(cfg, diags, FIELD_BACKEND,
			  "reinstall llem, or set LLEM_PYTORCH_WORKER to the script's path", msg);
		free(msg);
	}
	/* Importing torch runs the configured interpreter: the real run's
	 * preflight only, never a dry run of a config from someone else. */
	if (python && worker && (flags & BACKEND_PREFLIGHT_EXECUTE))
		check_imports(cfg, diags, python, worker);
	strbuf_release(&tried);
	free(python);
	free(worker);
	return diag_error_count(diags) > before ? -1 : 0;
}

bool pytorch_describe(struct strbuf *out)
{
	struct strbuf tried = STRBUF_INIT;
	const char *name, *from;
	char *python, *worker, *text = NULL;
	json_t *v = NULL;
	bool ok = false;
	int status;

	/* No config here: the interpreter comes from LLEM_PYTHON or PATH. */
	python = pytorch_find_python(NULL, &name, &from);
	worker = pytorch_find_worker(&tried);
	if (!python) {
		strbuf_addf(out,
			    "Python interpreter '%s' (from %s) not found; set LLEM_PYTHON or "
			    "pytorch.python",
			    name, from);
	} else if (!worker) {
		strbuf_addf(out, "worker script %s not installed", PYTORCH_WORKER_FILE);
	} else {
		const char *argv[] = { python, worker, "--versions", NULL };

		if (!jsonl_run_capture(argv, pytorch_deadline_ms(CHECK_TIMEOUT_MS), 1 << 16, &text,
				       &status))
			v = json_loads(text, 0, NULL);
		ok = json_is_true(json_object_get(v, "ok"));
		if (ok)
			strbuf_addf(out, "transformers %s, torch %s (%s)",
				    json_string_value(json_object_get(v, "transformers")),
				    json_string_value(json_object_get(v, "torch")), python);
		else if (json_string_value(json_object_get(v, "hint")))
			strbuf_addf(out, "%s lacks torch and/or transformers: %s", python,
				    json_string_value(json_object_get(v, "hint")));
		else
			strbuf_addf(out, "%s %s --versions failed", python, worker);
	}
	json_decref(v);
	free(text);
	free(python);
	free(worker);
	strbuf_release(&tried);
	return ok;
}
