/*
 * The `pytorch` backend: Hugging Face transformers in a Python worker
 * (src/backends/pytorch_worker.py, installed to share/llem/), driven over
 * the JSON-lines protocol in docs/pytorch-protocol.md. The worker only
 * runs the model; every measurement stays in C.
 *
 * Synthetic models are built by the worker from the preset's config with
 * the native engine's weight recipe, and their prompts are tokenized here
 * with the same byte-level tokenizer, so both backends compute on the same
 * weights and token ids. Real models use the model's own tokenizer in the
 * worker.
 */
#define _GNU_SOURCE /* memrchr */
#include "backends/backends.h"
#include "backends/jsonl_child.h"
#include "backends/pytorch.h"
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/jsonr.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_info.h"

#define WORKER_FILE "pytorch_worker.py"
#define PROTOCOL_VERSION 1

/* Read deadlines (docs/pytorch-protocol.md). The worker prints a line per
 * decoding step, so generate's deadline bounds a single step. */
#define HELLO_TIMEOUT_MS (120 * 1000)
#define CHECK_TIMEOUT_MS (120 * 1000)
#define LOAD_TIMEOUT_MS (1800 * 1000)
#define STEP_TIMEOUT_MS (600 * 1000)
#define SMALL_TIMEOUT_MS (120 * 1000)
#define SHUTDOWN_GRACE_MS (10 * 1000)

struct torch_session {
	struct jsonl_child child;
	bool broken;              /* the protocol failed: no further requests */
	bool synthetic;           /* harness tokenizes (byte level) */
	int batch_size;
	int64_t next_id;
	json_t *decoding;         /* generate arguments shared by every call */
	int max_input_tokens;
	char version[256];        /* "transformers X (torch Y, cuda Z)", from hello */
};

/*
 * A deadline, shortened by LLEM_PYTORCH_TIMEOUT_S when set (seconds; for
 * slow-start diagnosis and for the tests that make a worker hang).
 */
static int deadline_ms(int dflt)
{
	const char *env = getenv("LLEM_PYTORCH_TIMEOUT_S");
	double s;

	if (env && *env && !parse_double(env, &s) && s > 0 && s * 1000 < dflt)
		return (int)(s * 1000);
	return dflt;
}

static const char *synthetic_preset(const char *model)
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
static const char *configured_python(const struct config *cfg)
{
	return cfg_is_null(cfg, FIELD_PYTORCH_PYTHON) ? NULL : cfg_str(cfg, FIELD_PYTORCH_PYTHON);
}

/* The interpreter's path and where the name came from, or NULL:
 * configured (pytorch.python), else LLEM_PYTHON, else python3 on PATH. */
static char *find_python(const char *configured, const char **name, const char **from)
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
static char *find_worker(struct strbuf *tried)
{
	const char *env = getenv("LLEM_PYTORCH_WORKER");
	char *exe_dir = fs_exe_dir(), *cand[4] = { NULL }, *found = NULL;
	size_t i, n = 0;

	if (env && *env)
		cand[n++] = xstrdup(env);
	if (exe_dir)
		cand[n++] = xasprintf("%s/../share/llem/%s", exe_dir, WORKER_FILE);
	cand[n++] = xasprintf("%s/%s", LLEM_INSTALL_DATADIR, WORKER_FILE);
	cand[n++] = xasprintf("%s/src/backends/%s", LLEM_SOURCE_DIR, WORKER_FILE);
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

	diag_add(diags, DIAG_ERROR, o->source, o->line, o->col, schema_fields[id].path, hint,
		 "%s", msg);
}

/* The last interpreter + worker pair that passed the check: a run checks
 * twice (CLI, then the measure layer) and importing torch takes seconds. */
static char *checked_ok;

/* Runs `python worker --check`: do torch and transformers import? */
static void check_imports(const struct config *cfg, struct diag_list *diags,
			  const char *python, const char *worker)
{
	const char *argv[] = { python, worker, "--check", NULL };
	char *out = NULL, *line, *msg = NULL, *hint = NULL;
	char *key = xasprintf("%s\n%s", python, worker);
	json_t *v = NULL;
	int status = 0;

	if (checked_ok && !strcmp(checked_ok, key)) {
		free(key);
		return;
	}

	if (jsonl_run_capture(argv, deadline_ms(CHECK_TIMEOUT_MS), 1 << 20, &out, &status)) {
		msg = xasprintf("cannot run the PyTorch worker check: %s", error_last());
		goto report;
	}
	line = strrchr(out, '{'); /* the check prints one JSON line last */
	while (line && line > out && line[-1] != '\n')
		line = memrchr(out, '{', (size_t)(line - out));
	v = line ? json_loads(line, 0, NULL) : NULL;
	if (!json_is_object(v)) {
		msg = xasprintf("%s %s --check printed no result (exit status %d); see its stderr above",
				python, worker, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto report;
	}
	if (json_is_true(json_object_get(v, "ok"))) {
		free(checked_ok);
		checked_ok = key;
		key = NULL;
		goto done;
	}
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
	free(key);
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

static int pytorch_preflight(const struct config *cfg, struct diag_list *diags)
{
	const char *model = cfg_str(cfg, FIELD_MODEL), *preset = synthetic_preset(model);
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
			msg = xasprintf("'%s' has no config.json: not a Hugging Face model directory",
					model);
			add_error(cfg, diags, FIELD_MODEL, NULL, msg);
			free(msg);
		}
		free(cj);
	} else if (!in_hf_cache(model)) {
		msg = xasprintf("'%s' is neither a local directory nor in the local Hugging Face cache",
				model);
		add_error(cfg, diags, FIELD_MODEL,
			  "llem never downloads: fetch it first (huggingface-cli download ID), "
			  "point model: at a local directory, or use synthetic/<preset>",
			  msg);
		free(msg);
	}

	python = find_python(configured_python(cfg), &name, &from);
	if (!python) {
		msg = xasprintf("Python interpreter '%s' (from %s) was not found or is not executable",
				name, from);
		add_error(cfg, diags, FIELD_PYTORCH_PYTHON,
			  "set pytorch.python (or LLEM_PYTHON) to a python3 that has torch and transformers",
			  msg);
		free(msg);
	}
	worker = find_worker(&tried);
	if (!worker) {
		msg = xasprintf("the PyTorch worker script %s is not installed; looked for:%s",
				WORKER_FILE, strbuf_str(&tried));
		add_error(cfg, diags, FIELD_BACKEND,
			  "reinstall llem, or set LLEM_PYTORCH_WORKER to the script's path", msg);
		free(msg);
	}
	if (python && worker)
		check_imports(cfg, diags, python, worker);
	strbuf_release(&tried);
	free(python);
	free(worker);
	return diag_error_count(diags) > before ? -1 : 0;
}

/* ---- requests ---------------------------------------------------------- */

static json_t *nullable_str(const struct config *cfg, enum field_id id)
{
	return cfg_is_null(cfg, id) ? json_null() : json_string(cfg_str(cfg, id));
}

static json_t *nullable_int(const struct config *cfg, enum field_id id)
{
	return cfg_is_null(cfg, id) ? json_null() : json_integer(cfg_int(cfg, id));
}

static json_t *nullable_bool(const struct config *cfg, enum field_id id)
{
	return cfg_is_null(cfg, id) ? json_null() : json_boolean(cfg_bool(cfg, id));
}

static json_t *nullable_float(const struct config *cfg, enum field_id id)
{
	return cfg_is_null(cfg, id) ? json_null() : json_real(cfg_float(cfg, id));
}

static const char *torch_dtype(const char *precision)
{
	if (!strcmp(precision, "fp16"))
		return "float16";
	if (!strcmp(precision, "bf16"))
		return "bfloat16";
	return "float32";
}

/* Sends request (taking it) and waits for its final reply, relaying step
 * events to on_step. A reply with ok:false becomes an error. */
typedef int (*step_fn)(void *ctx, json_t *event);

static int call(struct torch_session *s, const char *op, json_t *req, int timeout_ms,
		step_fn on_step, void *ctx, json_t **reply)
{
	int64_t id = s->next_id++;
	char *text;
	int rc;

	*reply = NULL;
	if (s->broken) {
		json_decref(req);
		return error_set(LLEM_ERROR, "the pytorch worker failed earlier; no further requests");
	}
	json_object_set_new(req, "id", json_integer(id));
	json_object_set_new(req, "op", json_string(op));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	rc = text ? jsonl_child_send(&s->child, text)
		  : error_set(LLEM_ERROR, "pytorch %s request: out of memory", op);
	free(text);
	while (!rc) {
		json_t *msg = NULL, *ev;

		rc = jsonl_child_read(&s->child, &msg, timeout_ms);
		if (rc)
			break;
		if (json_integer_value(json_object_get(msg, "id")) != id ||
		    !json_is_integer(json_object_get(msg, "id"))) {
			rc = error_set(LLEM_ERROR,
				       "pytorch worker answered request %lld with a message for another id",
				       (long long)id);
			json_decref(msg);
			break;
		}
		ev = json_object_get(msg, "event");
		if (ev) {
			rc = on_step && json_is_string(ev) && !strcmp(json_string_value(ev), "step")
				     ? on_step(ctx, msg)
				     : error_set(LLEM_ERROR, "pytorch worker sent an unexpected event during %s",
						 op);
			json_decref(msg);
			continue;
		}
		if (!json_is_true(json_object_get(msg, "ok"))) {
			json_t *e = json_object_get(msg, "error");
			const char *type = json_string_value(json_object_get(e, "type"));
			const char *m = json_string_value(json_object_get(e, "message"));

			rc = error_set(LLEM_ERROR, "pytorch worker %s failed: %s: %s", op,
				       type ? type : "Error", m ? m : "(no message)");
			json_decref(msg);
			return rc; /* the worker keeps serving after an ok:false */
		}
		*reply = msg;
		return 0;
	}
	s->broken = true;
	return rc;
}

/* ---- load ------------------------------------------------------------ */

/* The worker's replies are read laxly: absent or mistyped means 0 or the
 * fallback (the checks that matter follow the reads). */
static int64_t get_int(const json_t *o, const char *key)
{
	return jsonr_lax_int64(o, key, 0);
}

static char *get_str(const json_t *o, const char *key, const char *fallback)
{
	return xstrdup(jsonr_lax_str(o, key, fallback));
}

static int hello(struct torch_session *s)
{
	uint64_t t0 = clock_monotonic_ns(), t1;
	json_t *reply;
	int64_t worker_ns;
	int rc = call(s, "hello", json_object(), deadline_ms(HELLO_TIMEOUT_MS), NULL, NULL, &reply);

	t1 = clock_monotonic_ns();
	if (rc)
		return rc;
	if (get_int(reply, "protocol") != PROTOCOL_VERSION) {
		rc = error_set(LLEM_ENOTSUP,
			       "pytorch worker speaks protocol %lld, this llem speaks %d: reinstall llem",
			       (long long)get_int(reply, "protocol"), PROTOCOL_VERSION);
		goto out;
	}
	/* Token timestamps come from the worker's clock: it must be llem's
	 * CLOCK_MONOTONIC, so its reading lies between our send and receive. */
	worker_ns = get_int(reply, "monotonic_ns");
	if (worker_ns < (int64_t)t0 || worker_ns > (int64_t)t1) {
		rc = error_set(LLEM_ENOTSUP,
			       "the pytorch worker's monotonic clock (%lld ns) is not llem's "
			       "CLOCK_MONOTONIC (request sent %llu, reply read %llu): token "
			       "timestamps would be wrong",
			       (long long)worker_ns, (unsigned long long)t0, (unsigned long long)t1);
		goto out;
	}
	snprintf(s->version, sizeof(s->version), "transformers %s (torch %s, cuda %s)",
		 json_string_value(json_object_get(reply, "transformers"))
			 ? json_string_value(json_object_get(reply, "transformers")) : "?",
		 json_string_value(json_object_get(reply, "torch"))
			 ? json_string_value(json_object_get(reply, "torch")) : "?",
		 json_string_value(json_object_get(reply, "cuda"))
			 ? json_string_value(json_object_get(reply, "cuda")) : "none");
out:
	json_decref(reply);
	return rc;
}

static json_t *load_request(const struct config *cfg)
{
	const char *model = cfg_str(cfg, FIELD_MODEL), *preset = synthetic_preset(model);
	json_t *req = json_object();

	if (preset) {
		char *text = NULL;
		json_t *syn = json_object();

		engine_preset_config_json(&text, preset); /* checked in preflight */
		json_object_set_new(syn, "preset", json_string(preset));
		json_object_set_new(syn, "config", text ? json_loads(text, 0, NULL) : json_null());
		json_object_set_new(syn, "seed", json_integer(cfg_int(cfg, FIELD_RANDOM_SEED)));
		free(text);
		json_object_set_new(req, "model", json_null());
		json_object_set_new(req, "synthetic", syn);
	} else {
		json_object_set_new(req, "model", json_string(model));
		json_object_set_new(req, "synthetic", json_null());
	}
	json_object_set_new(req, "dtype", json_string(torch_dtype(cfg_str(cfg, FIELD_PRECISION))));
	json_object_set_new(req, "device", json_null());
	json_object_set_new(req, "device_map", nullable_str(cfg, FIELD_PYTORCH_DEVICE_MAP));
	json_object_set_new(req, "max_memory", nullable_str(cfg, FIELD_PYTORCH_MAX_MEMORY));
	json_object_set_new(req, "attn_implementation",
			    nullable_str(cfg, FIELD_PYTORCH_ATTN_IMPLEMENTATION));
	json_object_set_new(req, "torch_compile", nullable_bool(cfg, FIELD_PYTORCH_TORCH_COMPILE));
	json_object_set_new(req, "torch_compile_mode",
			    nullable_str(cfg, FIELD_PYTORCH_TORCH_COMPILE_MODE));
	json_object_set_new(req, "torch_compile_backend",
			    nullable_str(cfg, FIELD_PYTORCH_TORCH_COMPILE_BACKEND));
	json_object_set_new(req, "load_in_4bit", nullable_bool(cfg, FIELD_PYTORCH_LOAD_IN_4BIT));
	json_object_set_new(req, "load_in_8bit", nullable_bool(cfg, FIELD_PYTORCH_LOAD_IN_8BIT));
	json_object_set_new(req, "bnb_4bit_compute_dtype",
			    nullable_str(cfg, FIELD_PYTORCH_BNB_4BIT_COMPUTE_DTYPE));
	json_object_set_new(req, "bnb_4bit_quant_type",
			    nullable_str(cfg, FIELD_PYTORCH_BNB_4BIT_QUANT_TYPE));
	json_object_set_new(req, "bnb_4bit_use_double_quant",
			    nullable_bool(cfg, FIELD_PYTORCH_BNB_4BIT_USE_DOUBLE_QUANT));
	json_object_set_new(req, "revision", nullable_str(cfg, FIELD_PYTORCH_REVISION));
	json_object_set_new(req, "trust_remote_code",
			    json_boolean(!cfg_is_null(cfg, FIELD_PYTORCH_TRUST_REMOTE_CODE) &&
					 cfg_bool(cfg, FIELD_PYTORCH_TRUST_REMOTE_CODE)));
	json_object_set_new(req, "threads", json_null());
	return req;
}

/* The decoding settings every generate request carries. */
static json_t *decoding_args(const struct config *cfg, const json_t *load_reply)
{
	bool sample = cfg_bool(cfg, FIELD_DECODER_DO_SAMPLE) &&
		      cfg_float(cfg, FIELD_DECODER_TEMPERATURE) != 0;
	json_t *d = json_object(), *eos;

	json_object_set_new(d, "max_input_tokens", json_integer(cfg_int(cfg, FIELD_MAX_INPUT_TOKENS)));
	json_object_set_new(d, "max_new_tokens", json_integer(cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS)));
	json_object_set_new(d, "min_new_tokens",
			    json_integer(cfg_is_null(cfg, FIELD_DECODER_MIN_NEW_TOKENS)
						 ? 0 : cfg_int(cfg, FIELD_DECODER_MIN_NEW_TOKENS)));
	json_object_set_new(d, "do_sample", json_boolean(sample));
	json_object_set_new(d, "temperature", json_real(cfg_float(cfg, FIELD_DECODER_TEMPERATURE)));
	json_object_set_new(d, "top_k", json_integer(cfg_int(cfg, FIELD_DECODER_TOP_K)));
	json_object_set_new(d, "top_p", json_real(cfg_float(cfg, FIELD_DECODER_TOP_P)));
	json_object_set_new(d, "min_p", nullable_float(cfg, FIELD_DECODER_MIN_P));
	json_object_set_new(d, "repetition_penalty",
			    json_real(cfg_float(cfg, FIELD_DECODER_REPETITION_PENALTY)));
	json_object_set_new(d, "num_beams", nullable_int(cfg, FIELD_PYTORCH_NUM_BEAMS));
	json_object_set_new(d, "early_stopping", nullable_bool(cfg, FIELD_PYTORCH_EARLY_STOPPING));
	json_object_set_new(d, "length_penalty", nullable_float(cfg, FIELD_PYTORCH_LENGTH_PENALTY));
	json_object_set_new(d, "no_repeat_ngram_size",
			    nullable_int(cfg, FIELD_PYTORCH_NO_REPEAT_NGRAM_SIZE));
	json_object_set_new(d, "prompt_lookup_num_tokens",
			    nullable_int(cfg, FIELD_PYTORCH_PROMPT_LOOKUP_NUM_TOKENS));
	json_object_set_new(d, "use_cache", nullable_bool(cfg, FIELD_PYTORCH_USE_CACHE));
	json_object_set_new(d, "cache_implementation",
			    nullable_str(cfg, FIELD_PYTORCH_CACHE_IMPLEMENTATION));
	json_object_set_new(d, "seed", json_integer(cfg_int(cfg, FIELD_RANDOM_SEED)));
	/* Every EOS id the model has (Llama 3 instruct has several). */
	eos = json_object_get(load_reply, "eos_token_ids");
	if (!json_is_array(eos) || !json_array_size(eos))
		eos = json_object_get(load_reply, "eos_token_id");
	json_object_set_new(d, "eos_token_id", eos ? json_deep_copy(eos) : json_null());
	json_object_set_new(d, "pad_token_id", json_deep_copy(json_object_get(load_reply, "pad_token_id")
							      ? json_object_get(load_reply, "pad_token_id")
							      : json_null()));
	return d;
}

static int64_t dtype_bytes(const char *label)
{
	if (!strcmp(label, "fp32"))
		return 4;
	if (!strcmp(label, "int8"))
		return 1;
	if (!strcmp(label, "int4"))
		return 0; /* packed: no whole bytes per parameter */
	return 2;
}

static void fill_info(struct backend_model_info *info, const struct config *cfg,
		      const json_t *r, int batch_size, const char *version)
{
	json_t *w = json_object_get(r, "warnings");
	int64_t emb_bytes;
	size_t i;

	info->model = xstrdup(cfg_str(cfg, FIELD_MODEL));
	info->architecture = get_str(r, "architecture", "unknown");
	info->params_total = get_int(r, "params_total");
	/* As the native engine counts it: an untied LM head is an embedding
	 * matrix too (src/engine/model.c). */
	info->params_non_embedding = info->params_total - get_int(r, "embedding_params") *
				     (json_is_true(json_object_get(r, "tied")) ? 1 : 2);
	info->layers = (int)get_int(r, "layers");
	info->hidden_size = (int)get_int(r, "hidden_size");
	info->intermediate_size = (int)get_int(r, "intermediate_size");
	info->heads = (int)get_int(r, "heads");
	info->kv_heads = (int)get_int(r, "kv_heads");
	info->head_dim = (int)get_int(r, "head_dim");
	info->vocab_size = (int)get_int(r, "vocab_size");
	info->weight_dtype = get_str(r, "dtype", "unknown");
	info->kv_cache_dtype = xstrdup(info->weight_dtype);
	info->weight_bytes = get_int(r, "weight_bytes");
	/* transformers grows its cache as it goes; no fixed allocation. */
	info->kv_cache_bytes = 0;
	/* A decode step reads every weight except an untied input embedding,
	 * of which it gathers one row per token. */
	emb_bytes = get_int(r, "embedding_params") * dtype_bytes(info->weight_dtype);
	info->step_weight_bytes = json_is_true(json_object_get(r, "tied"))
					  ? info->weight_bytes : info->weight_bytes - emb_bytes;
	info->tokenizer = synthetic_preset(cfg_str(cfg, FIELD_MODEL)) ? xstrdup("byte")
									: xstrdup("model");
	info->kernels = xasprintf("%s on %s", version,
				  json_string_value(json_object_get(r, "device"))
					  ? json_string_value(json_object_get(r, "device")) : "?");
	info->threads = 0;
	info->batch_size = batch_size;
	if (json_is_array(w) && json_array_size(w)) {
		info->warnings = xcalloc(json_array_size(w), sizeof(char *));
		for (i = 0; i < json_array_size(w); i++)
			if (json_string_value(json_array_get(w, i)))
				info->warnings[info->n_warnings++] =
					xasprintf("pytorch: %s", json_string_value(json_array_get(w, i)));
	}
}

/* Ends the worker politely if it still talks, by force if not. Keeps the
 * error message that led here: a failed goodbye must not replace it. */
static void stop_worker(struct torch_session *s)
{
	char *why = xstrdup(error_last());
	json_t *reply = NULL;

	if (!s->broken && jsonl_child_running(&s->child))
		call(s, "shutdown", json_object(), deadline_ms(SMALL_TIMEOUT_MS), NULL, NULL, &reply);
	json_decref(reply);
	/* A worker that broke the protocol (or was interrupted mid-reply) is
	 * not listening: no grace. */
	jsonl_child_stop(&s->child, s->broken ? 0 : SHUTDOWN_GRACE_MS);
	error_set(LLEM_ERROR, "%s", why);
	free(why);
}

static int pytorch_load(void **out_session, const struct config *cfg,
			struct backend_model_info *info)
{
	struct torch_session *s = xcalloc(1, sizeof(*s));
	struct strbuf tried = STRBUF_INIT;
	const char *name, *from;
	char *python = find_python(configured_python(cfg), &name, &from);
	char *worker = find_worker(&tried);
	json_t *reply = NULL;
	int rc;

	*out_session = NULL;
	memset(info, 0, sizeof(*info));
	if (!python || !worker) {
		rc = error_set(LLEM_ENOTFOUND, "pytorch backend: %s not found",
			       python ? "worker script " WORKER_FILE : name);
		goto fail;
	}
	{
		const char *argv[] = { python, worker, NULL };

		rc = jsonl_child_start(&s->child, "pytorch worker", argv);
	}
	if (rc)
		goto fail;
	rc = hello(s);
	if (!rc)
		rc = call(s, "load", load_request(cfg), deadline_ms(LOAD_TIMEOUT_MS), NULL, NULL, &reply);
	if (rc)
		goto fail;
	s->synthetic = synthetic_preset(cfg_str(cfg, FIELD_MODEL)) != NULL;
	s->batch_size = cfg_is_null(cfg, FIELD_PYTORCH_BATCH_SIZE)
				? 1 : (int)cfg_int(cfg, FIELD_PYTORCH_BATCH_SIZE);
	s->max_input_tokens = (int)cfg_int(cfg, FIELD_MAX_INPUT_TOKENS);
	s->decoding = decoding_args(cfg, reply);
	fill_info(info, cfg, reply, s->batch_size, s->version);
	json_decref(reply);
	free(python);
	free(worker);
	strbuf_release(&tried);
	*out_session = s;
	return 0;
fail:
	json_decref(reply);
	stop_worker(s);
	free(s);
	free(python);
	free(worker);
	strbuf_release(&tried);
	return rc;
}

/* ---- generate ---------------------------------------------------------- */

struct step_ctx {
	const struct backend_observer *obs;
	size_t offset, n;          /* this batch's requests in the caller's list */
	uint64_t sent_ns, last_ns;
};

static int on_step(void *ctx, json_t *ev)
{
	struct step_ctx *sc = ctx;
	json_t *reqs = json_object_get(ev, "requests"), *toks = json_object_get(ev, "tokens");
	int64_t t = get_int(ev, "t_ns");
	uint64_t now = clock_monotonic_ns();
	size_t i;

	if (!json_is_array(reqs) || !json_is_array(toks) ||
	    json_array_size(reqs) != json_array_size(toks) || !json_is_integer(json_object_get(ev, "t_ns")))
		return error_set(LLEM_ERROR, "pytorch worker sent a malformed step event");
	/* Timestamps must lie between our request and now, in order: a check
	 * on every event that the clocks still agree. */
	if (t < (int64_t)sc->sent_ns || (uint64_t)t > now || (uint64_t)t < sc->last_ns)
		return error_set(LLEM_ERROR,
				 "pytorch worker step timestamp %lld ns is outside the request "
				 "window [%llu, %llu] or goes backwards",
				 (long long)t, (unsigned long long)sc->sent_ns,
				 (unsigned long long)now);
	sc->last_ns = (uint64_t)t;
	for (i = 0; i < json_array_size(reqs); i++) {
		int64_t r = json_integer_value(json_array_get(reqs, i));

		if (r < 0 || (size_t)r >= sc->n)
			return error_set(LLEM_ERROR, "pytorch worker reported a token for request %lld "
					 "of a batch of %zu", (long long)r, sc->n);
		if (sc->obs && sc->obs->on_token)
			sc->obs->on_token(sc->obs->ctx, sc->offset + (size_t)r,
					  (int32_t)json_integer_value(json_array_get(toks, i)),
					  (uint64_t)t);
	}
	return 0;
}

static json_t *batch_inputs(const struct torch_session *s, const char *const *prompts, size_t n)
{
	json_t *arr = json_array();
	int32_t *ids = xmalloc((size_t)(s->max_input_tokens > 0 ? s->max_input_tokens : 1) *
			       sizeof(*ids));
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *row;
		int k, len;

		if (!s->synthetic) {
			json_array_append_new(arr, json_string(prompts[i]));
			continue;
		}
		/* The native backend's tokenization, exactly (src/backends/native.c). */
		len = engine_byte_tokenize(prompts[i], ids, s->max_input_tokens);
		if (len == 0) {
			ids[0] = ENGINE_BYTE_TOKEN_BASE + ' ';
			len = 1;
		}
		row = json_array();
		for (k = 0; k < len; k++)
			json_array_append_new(row, json_integer(ids[k]));
		json_array_append_new(arr, row);
	}
	free(ids);
	return arr;
}

static int read_stats(const json_t *reply, size_t n, uint64_t start_ns,
		      struct backend_request_stats *stats)
{
	json_t *reqs = json_object_get(reply, "requests");
	size_t i;

	if (!json_is_array(reqs) || json_array_size(reqs) != n)
		return error_set(LLEM_ERROR, "pytorch worker returned %zu request results for %zu prompts",
				 json_is_array(reqs) ? json_array_size(reqs) : 0, n);
	for (i = 0; i < n; i++) {
		const json_t *r = json_array_get(reqs, i);

		stats[i].input_tokens = get_int(r, "input_tokens");
		stats[i].output_tokens = get_int(r, "output_tokens");
		stats[i].start_ns = start_ns;
		stats[i].first_token_ns = (uint64_t)get_int(r, "first_token_ns");
		stats[i].end_ns = (uint64_t)get_int(r, "end_ns");
		stats[i].stopped_at_eos = json_is_true(json_object_get(r, "stopped_at_eos"));
		if (stats[i].input_tokens < 1 || stats[i].output_tokens < 0)
			return error_set(LLEM_ERROR, "pytorch worker reported %lld input and %lld "
					 "output tokens for request %zu", (long long)stats[i].input_tokens,
					 (long long)stats[i].output_tokens, i);
	}
	return 0;
}

static int pytorch_generate(void *session, const char *const *prompts, size_t n,
			    const struct backend_observer *obs,
			    struct backend_request_stats *stats)
{
	struct torch_session *s = session;
	size_t off;
	int rc = 0;

	for (off = 0; off < n && !rc; off += (size_t)s->batch_size) {
		size_t k = n - off < (size_t)s->batch_size ? n - off : (size_t)s->batch_size;
		json_t *req = json_deep_copy(s->decoding), *reply = NULL;
		struct step_ctx sc = { obs, off, k, 0, 0 };

		json_object_set_new(req, s->synthetic ? "input_ids" : "prompts",
				    batch_inputs(s, prompts + off, k));
		sc.sent_ns = clock_monotonic_ns();
		rc = call(s, "generate", req, deadline_ms(STEP_TIMEOUT_MS), on_step, &sc, &reply);
		if (!rc)
			rc = read_stats(reply, k, (uint64_t)get_int(reply, "start_ns"), stats + off);
		json_decref(reply);
	}
	return rc;
}

/* ---- memory, unload, version --------------------------------------------- */

/* The worker's peak memory: device memory from torch on CUDA, else the
 * worker process's peak RSS (VmHWM; reset through clear_refs). */
static int pytorch_memory(void *session, bool reset, double *peak_mb, const char **method)
{
	struct torch_session *s = session;
	json_t *req = json_object(), *reply = NULL;
	int rc;

	*peak_mb = -1;
	*method = NULL;
	json_object_set_new(req, "reset", json_boolean(reset));
	rc = call(s, "memory", req, deadline_ms(SMALL_TIMEOUT_MS), NULL, NULL, &reply);
	if (rc)
		return rc;
	if (json_is_integer(json_object_get(reply, "peak_allocated_bytes"))) {
		*peak_mb = (double)get_int(reply, "peak_allocated_bytes") / (1024.0 * 1024.0);
		*method = "pytorch: torch.cuda.max_memory_allocated() in the worker, reset before the window";
	} else if (s->child.proc.pid > 0) {
		char path[64], *text = NULL, *p;

		if (reset) {
			int fd;

			/* "5" resets the peak RSS (proc(5)); allowed for our child. */
			snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)s->child.proc.pid);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				if (write(fd, "5", 1) != 1)
					reset = false;
				close(fd);
			}
		}
		snprintf(path, sizeof(path), "/proc/%d/status", (int)s->child.proc.pid);
		if (!fs_read_file(path, &text, NULL) && (p = strstr(text, "VmHWM:"))) {
			*peak_mb = strtod(p + 6, NULL) / 1024.0;
			*method = "pytorch: worker process peak RSS (VmHWM)";
		}
		free(text);
	}
	json_decref(reply);
	return 0;
}

static void pytorch_unload(void *session)
{
	struct torch_session *s = session;

	if (!s)
		return;
	stop_worker(s);
	json_decref(s->decoding);
	free(s);
}

static bool pytorch_describe(struct strbuf *out)
{
	struct strbuf tried = STRBUF_INIT;
	const char *name, *from;
	char *python, *worker, *text = NULL;
	json_t *v = NULL;
	bool ok = false;
	int status;

	/* No config here: the interpreter comes from LLEM_PYTHON or PATH. */
	python = find_python(NULL, &name, &from);
	worker = find_worker(&tried);
	if (!python) {
		strbuf_addf(out, "Python interpreter '%s' (from %s) not found; set LLEM_PYTHON or "
			    "pytorch.python", name, from);
	} else if (!worker) {
		strbuf_addf(out, "worker script %s not installed", WORKER_FILE);
	} else {
		const char *argv[] = { python, worker, "--versions", NULL };

		if (!jsonl_run_capture(argv, deadline_ms(CHECK_TIMEOUT_MS), 1 << 16, &text, &status))
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

static void pytorch_set_interrupt(void *session, volatile sig_atomic_t *flag)
{
	struct torch_session *s = session;

	/* A reply cut short leaves the protocol mid-message: call() marks the
	 * session broken and unload kills the worker. */
	s->child.interrupted = flag;
}

static const char *pytorch_version(void *session)
{
	const struct torch_session *s = session;

	return s->version;
}

const struct backend_ops backend_pytorch = {
	.name = "pytorch",
	.caps = {
		.batch_size_field = FIELD_PYTORCH_BATCH_SIZE,
		.quantization_field = FIELD_COUNT, /* load_in_4bit / load_in_8bit */
		.memory_method = NULL,             /* memory() reads the worker's */
		.streams_tokens = true,
		.timed_arrivals = false,
	},
	.check_config = pytorch_check_config,
	.preflight = pytorch_preflight,
	.load = pytorch_load,
	.generate = pytorch_generate,
	.unload = pytorch_unload,
	.version = pytorch_version,
	.memory = pytorch_memory,
	.describe = pytorch_describe,
	.set_interrupt = pytorch_set_interrupt,
};
