/*
 * The `pytorch` backend: Hugging Face transformers in a Python worker
 * (src/backends/pytorch_worker.py, installed to share/llem/), driven over
 * the JSON-lines protocol in docs/pytorch-protocol.md. The worker only
 * runs the model; every measurement stays in C.
 *
 * This file holds the session: the protocol, load, generate, memory and
 * unload. Finding the interpreter, preflight and `llem config`'s line are
 * in pytorch_env.c, the config rules in pytorch_config.c.
 *
 * Synthetic models are built by the worker from the preset's config with
 * the native engine's weight recipe, and their prompts are tokenized here
 * with the same byte-level tokenizer, so both backends compute on the same
 * weights and token ids. Real models use the model's own tokenizer in the
 * worker.
 */
#include "backends/backends.h"
#include "backends/jsonl_child.h"
#include "backends/pytorch.h"
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/jsonr.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PYTORCH_WORKER_FILE "pytorch_worker.py"
#define PROTOCOL_VERSION 1

/* Read deadlines (docs/pytorch-protocol.md). The worker prints a line per
 * decoding step, so generate's deadline bounds a single step. */
#define HELLO_TIMEOUT_MS (120 * 1000)
#define LOAD_TIMEOUT_MS (1800 * 1000)
#define STEP_TIMEOUT_MS (600 * 1000)
#define SMALL_TIMEOUT_MS (120 * 1000)
#define SHUTDOWN_GRACE_MS (10 * 1000)

struct torch_session {
	struct jsonl_child child;
	bool broken;    /* the protocol failed: no further requests */
	bool synthetic; /* harness tokenizes (byte level) */
	int batch_size;
	int64_t next_id;
	json_t *decoding; /* generate arguments shared by every call */
	int max_input_tokens;
	char version[256]; /* "transformers X (torch Y, cuda Z)", from hello */
};

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
		return error_set(LLEM_ERROR,
				 "the pytorch worker failed earlier; no further requests");
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
			rc = error_set(
				LLEM_ERROR,
				"pytorch worker answered request %lld with a message for another id",
				(long long)id);
			json_decref(msg);
			break;
		}
		ev = json_object_get(msg, "event");
		if (ev) {
			rc = on_step && json_is_string(ev) && !strcmp(json_string_value(ev), "step")
				     ? on_step(ctx, msg)
				     : error_set(
					       LLEM_ERROR,
					       "pytorch worker sent an unexpected event during %s",
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
	int rc = call(s, "hello", json_object(), pytorch_deadline_ms(HELLO_TIMEOUT_MS), NULL, NULL,
		      &reply);

	t1 = clock_monotonic_ns();
	if (rc)
		return rc;
	if (get_int(reply, "protocol") != PROTOCOL_VERSION) {
		rc = error_set(
			LLEM_ENOTSUP,
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
			       (long long)worker_ns, (unsigned long long)t0,
			       (unsigned long long)t1);
		goto out;
	}
	snprintf(s->version, sizeof(s->version), "transformers %s (torch %s, cuda %s)",
		 json_string_value(json_object_get(reply, "transformers"))
			 ? json_string_value(json_object_get(reply, "transformers"))
			 : "?",
		 json_string_value(json_object_get(reply, "torch"))
			 ? json_string_value(json_object_get(reply, "torch"))
			 : "?",
		 json_string_value(json_object_get(reply, "cuda"))
			 ? json_string_value(json_object_get(reply, "cuda"))
			 : "none");
out:
	json_decref(reply);
	return rc;
}

static json_t *load_request(const struct backend_params *p, const struct config *cfg)
{
	const char *model = p->model, *preset = pytorch_synthetic_preset(model);
	json_t *req = json_object();

	if (preset) {
		char *text = NULL;
		json_t *syn = json_object();

		engine_preset_config_json(&text, preset); /* checked in preflight */
		json_object_set_new(syn, "preset", json_string(preset));
		json_object_set_new(syn, "config", text ? json_loads(text, 0, NULL) : json_null());
		json_object_set_new(syn, "seed", json_integer((json_int_t)p->seed));
		free(text);
		json_object_set_new(req, "model", json_null());
		json_object_set_new(req, "synthetic", syn);
	} else {
		json_object_set_new(req, "model", json_string(model));
		json_object_set_new(req, "synthetic", json_null());
	}
	json_object_set_new(req, "dtype", json_string(torch_dtype(p->precision)));
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
static json_t *decoding_args(const struct backend_params *p, const struct config *cfg,
			     const json_t *load_reply)
{
	const struct backend_decoding *dec = &p->decoding;
	json_t *d = json_object(), *eos;

	json_object_set_new(d, "max_input_tokens", json_integer(p->max_input_tokens));
	json_object_set_new(d, "max_new_tokens", json_integer(dec->max_new_tokens));
	json_object_set_new(d, "min_new_tokens", json_integer(dec->min_new_tokens));
	json_object_set_new(d, "do_sample", json_boolean(dec->do_sample && dec->temperature != 0));
	json_object_set_new(d, "temperature", json_real(dec->temperature));
	json_object_set_new(d, "top_k", json_integer(dec->top_k));
	json_object_set_new(d, "top_p", json_real(dec->top_p));
	json_object_set_new(d, "min_p", isnan(dec->min_p) ? json_null() : json_real(dec->min_p));
	json_object_set_new(d, "repetition_penalty", json_real(dec->repetition_penalty));
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
	json_object_set_new(d, "seed", json_integer((json_int_t)p->seed));
	/* Every EOS id the model has (Llama 3 instruct has several). */
	eos = json_object_get(load_reply, "eos_token_ids");
	if (!json_is_array(eos) || !json_array_size(eos))
		eos = json_object_get(load_reply, "eos_token_id");
	json_object_set_new(d, "eos_token_id", eos ? json_deep_copy(eos) : json_null());
	json_object_set_new(d, "pad_token_id",
			    json_deep_copy(json_object_get(load_reply, "pad_token_id")
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

static void fill_info(struct backend_model_info *info, const char *model, const json_t *r,
		      int batch_size, const char *version)
{
	json_t *w = json_object_get(r, "warnings");
	int64_t emb_bytes;
	size_t i;

	info->model = xstrdup(model);
	info->architecture = get_str(r, "architecture", "unknown");
	info->params_total = get_int(r, "params_total");
	/* As the native engine counts it: an untied LM head is an embedding
	 * matrix too (src/engine/model.c). */
	info->params_non_embedding =
		info->params_total -
		get_int(r, "embedding_params") * (json_is_true(json_object_get(r, "tied")) ? 1 : 2);
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
					  ? info->weight_bytes
					  : info->weight_bytes - emb_bytes;
	info->tokenizer = pytorch_synthetic_preset(model) ? xstrdup("byte") : xstrdup("model");
	info->kernels = xasprintf("%s on %s", version,
				  json_string_value(json_object_get(r, "device"))
					  ? json_string_value(json_object_get(r, "device"))
					  : "?");
	info->threads = 0;
	info->batch_size = batch_size;
	if (json_is_array(w) && json_array_size(w)) {
		info->warnings = xcalloc(json_array_size(w), sizeof(char *));
		for (i = 0; i < json_array_size(w); i++)
			if (json_string_value(json_array_get(w, i)))
				info->warnings[info->n_warnings++] = xasprintf(
					"pytorch: %s", json_string_value(json_array_get(w, i)));
	}
}

/* Ends the worker politely if it still talks, by force if not. Keeps the
 * error message that led here: a failed goodbye must not replace it. */
static void stop_worker(struct torch_session *s)
{
	char *why = xstrdup(error_last());
	json_t *reply = NULL;

	if (!s->broken && jsonl_child_running(&s->child))
		call(s, "shutdown", json_object(), pytorch_deadline_ms(SMALL_TIMEOUT_MS), NULL,
		     NULL, &reply);
	json_decref(reply);
	/* A worker that broke the protocol (or was interrupted mid-reply) is
	 * not listening: no grace. */
	jsonl_child_stop(&s->child, s->broken ? 0 : SHUTDOWN_GRACE_MS);
	error_set(LLEM_ERROR, "%s", why);
	free(why);
}

static int pytorch_load(void **out_session, const struct backend_params *p,
			const struct config *cfg, struct backend_model_info *info)
{
	struct torch_session *s = xcalloc(1, sizeof(*s));
	struct strbuf tried = STRBUF_INIT;
	const char *name, *from;
	char *python = pytorch_find_python(pytorch_configured_python(cfg), &name, &from);
	char *worker = pytorch_find_worker(&tried);
	json_t *reply = NULL;
	int rc;

	*out_session = NULL;
	memset(info, 0, sizeof(*info));
	if (!python || !worker) {
		rc = error_set(LLEM_ENOTFOUND, "pytorch backend: %s not found",
			       python ? "worker script " PYTORCH_WORKER_FILE : name);
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
		rc = call(s, "load", load_request(p, cfg), pytorch_deadline_ms(LOAD_TIMEOUT_MS),
			  NULL, NULL, &reply);
	if (rc)
		goto fail;
	s->synthetic = pytorch_synthetic_preset(p->model) != NULL;
	s->batch_size = cfg_is_null(cfg, FIELD_PYTORCH_BATCH_SIZE)
				? 1
				: (int)cfg_int(cfg, FIELD_PYTORCH_BATCH_SIZE);
	s->max_input_tokens = p->max_input_tokens;
	s->decoding = decoding_args(p, cfg, reply);
	fill_info(info, p->model, reply, s->batch_size, s->version);
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
	size_t offset, n; /* this batch's requests in the caller's list */
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
	    json_array_size(reqs) != json_array_size(toks) ||
	    !json_is_integer(json_object_get(ev, "t_ns")))
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
			return error_set(LLEM_ERROR,
					 "pytorch worker reported a token for request %lld "
					 "of a batch of %zu",
					 (long long)r, sc->n);
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
	int32_t *ids =
		xmalloc((size_t)(s->max_input_tokens > 0 ? s->max_input_tokens : 1) * sizeof(*ids));
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
		return error_set(LLEM_ERROR,
				 "pytorch worker returned %zu request results for %zu prompts",
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
			return error_set(LLEM_ERROR,
					 "pytorch worker reported %lld input and %lld "
					 "output tokens for request %zu",
					 (long long)stats[i].input_tokens,
					 (long long)stats[i].output_tokens, i);
	}
	return 0;
}

static int pytorch_generate(void *session, const char *const *prompts, size_t n,
			    const struct backend_observer *obs, struct backend_request_stats *stats)
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
		rc = call(s, "generate", req, pytorch_deadline_ms(STEP_TIMEOUT_MS), on_step, &sc,
			  &reply);
		if (!rc)
			rc = read_stats(reply, k, (uint64_t)get_int(reply, "start_ns"),
					stats + off);
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
	rc = call(s, "memory", req, pytorch_deadline_ms(SMALL_TIMEOUT_MS), NULL, NULL, &reply);
	if (rc)
		return rc;
	if (json_is_integer(json_object_get(reply, "peak_allocated_bytes"))) {
		*peak_mb = (double)get_int(reply, "peak_allocated_bytes") / (1024.0 * 1024.0);
		*method =
			"pytorch: torch.cuda.max_memory_allocated() in the worker, reset before the window";
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
