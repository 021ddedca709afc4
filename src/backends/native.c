/*
 * The `native` backend: adapts the built-in C engine (src/engine) to the
 * backend interface. Maps the config's native section and precision to
 * engine options, tokenizes prompts (byte-level for now) and forwards the
 * engine's per-token timestamps to the observer.
 */
#include "backends/backends.h"
#include "engine/engine.h"
#include "llem/errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"

#define LLEM_NATIVE_VERSION LLEM_VERSION_STRING

struct native_session {
	struct engine_model *model;
	struct engine_session *session;
	struct engine_sampling sampling;
	int max_input_tokens;
	const struct backend_observer *obs;
};

static const char *synthetic_preset(const char *model)
{
	return str_starts_with(model, "synthetic/") ? model + strlen("synthetic/") : NULL;
}

static enum engine_dtype precision_dtype(const char *p)
{
	if (!strcmp(p, "fp16"))
		return ENGINE_F16;
	if (!strcmp(p, "bf16"))
		return ENGINE_BF16;
	return ENGINE_F32;
}

static enum engine_dtype weight_dtype(const struct backend_params *p, const struct config *cfg)
{
	if (!strcmp(cfg_str(cfg, FIELD_NATIVE_QUANTIZATION), "int8"))
		return ENGINE_Q8_0;
	return precision_dtype(p->precision);
}

static enum engine_dtype kv_dtype(const struct backend_params *p, const struct config *cfg)
{
	const char *kv = cfg_str(cfg, FIELD_NATIVE_KV_CACHE_DTYPE);

	if (!strcmp(kv, "auto"))
		return precision_dtype(p->precision);
	if (!strcmp(kv, "int8"))
		return ENGINE_Q8_0;
	return precision_dtype(kv);
}

static int threads_of(const struct config *cfg)
{
	long n = cfg_int(cfg, FIELD_NATIVE_THREADS);

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static int resolve_arch(struct engine_arch *out, const struct config *cfg)
{
	const char *model = cfg_str(cfg, FIELD_MODEL), *preset = synthetic_preset(model);
	char *path, *json;
	int rc;

	if (preset)
		return engine_preset_find(out, preset);
	path = fs_join(model, "config.json");
	rc = fs_read_file(path, &json, NULL);
	if (!rc) {
		rc = engine_arch_from_json(out, json, path);
		free(json);
	}
	free(path);
	return rc;
}

static int native_preflight(const struct config *cfg, unsigned flags, struct diag_list *diags)
{
	const char *model = cfg_str(cfg, FIELD_MODEL);
	const struct cfg_origin *mo = &cfg->o[FIELD_MODEL];
	const char *tokenizer = cfg_str(cfg, FIELD_NATIVE_TOKENIZER);
	struct engine_arch arch;
	size_t before = diag_error_count(diags);

	(void)flags; /* nothing here runs a program */
	if (!synthetic_preset(model) && !fs_is_dir(model)) {
		diag_add(
			diags, DIAG_ERROR, mo->source, mo->line, mo->col, "model",
			"use a local Hugging Face directory (config.json + *.safetensors) or synthetic/<preset>",
			"'%s' is not a directory", model);
		return -1;
	}
	if (!synthetic_preset(model)) {
		char *single = fs_join(model, "model.safetensors");
		char *index = fs_join(model, "model.safetensors.index.json");

		if (!fs_exists(single) && !fs_exists(index))
			diag_add(diags, DIAG_ERROR, mo->source, mo->line, mo->col, "model", NULL,
				 "'%s' has no model.safetensors or model.safetensors.index.json",
				 model);
		free(single);
		free(index);
	}
	if (resolve_arch(&arch, cfg) != 0) {
		diag_add(diags, DIAG_ERROR, mo->source, mo->line, mo->col, "model", NULL, "%s",
			 error_last());
		return -1;
	}
	if (!synthetic_preset(model) && strcmp(tokenizer, "byte") != 0)
		diag_add(
			diags, DIAG_ERROR, mo->source, mo->line, mo->col, "native.tokenizer",
			"set native.tokenizer: byte to run it with the byte-level tokenizer (the result records a warning)",
			"the native engine cannot read tokenizer.json yet");
	if (arch.vocab_size < ENGINE_BYTE_TOKEN_BASE + 256)
		diag_add(
			diags, DIAG_ERROR, mo->source, mo->line, mo->col, "model", NULL,
			"the byte-level tokenizer needs a vocabulary of at least %d tokens; this model has %d",
			ENGINE_BYTE_TOKEN_BASE + 256, arch.vocab_size);
	if (cfg_int(cfg, FIELD_MAX_INPUT_TOKENS) + cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS) >
	    arch.max_position)
		diag_add(
			diags, DIAG_WARNING, mo->source, mo->line, mo->col, "max_input_tokens",
			NULL,
			"prompt plus output (%lld tokens) exceeds the model's max_position_embeddings (%d)",
			(long long)(cfg_int(cfg, FIELD_MAX_INPUT_TOKENS) +
				    cfg_int(cfg, FIELD_MAX_OUTPUT_TOKENS)),
			arch.max_position);
	return diag_error_count(diags) == before ? 0 : -1;
}

static char *dtype_label(enum engine_dtype t)
{
	return xstrdup(t == ENGINE_Q8_0   ? "int8"
		       : t == ENGINE_F16  ? "fp16"
		       : t == ENGINE_BF16 ? "bf16"
					  : "fp32");
}

static void add_warning(struct backend_model_info *info, char *w)
{
	info->warnings = xrealloc(info->warnings, (info->n_warnings + 1) * sizeof(char *));
	info->warnings[info->n_warnings++] = w;
}

static int native_load(void **out_session, const struct backend_params *p, const struct config *cfg,
		       struct backend_model_info *info)
{
	const struct backend_decoding *d = &p->decoding;
	const char *model = p->model, *preset = synthetic_preset(model);
	struct native_session *ns = xcalloc(1, sizeof(*ns));
	struct engine_session_opts so = { 0 };
	struct engine_src_model src;
	struct engine_model_info mi;
	struct engine_arch arch;
	int rc;

	*out_session = NULL;
	memset(info, 0, sizeof(*info));
	if (preset) {
		rc = engine_preset_find(&arch, preset);
		if (!rc)
			rc = engine_synthetic_build(&src, &arch, p->seed);
	} else {
		rc = engine_hf_open(&src, model);
	}
	if (rc)
		goto fail;
	rc = engine_model_create(&ns->model, &src, weight_dtype(p, cfg));
	engine_src_close(&src);
	if (rc)
		goto fail;
	so.kv_dtype = kv_dtype(p, cfg);
	so.threads = threads_of(cfg);
	so.max_batch = (int)cfg_int(cfg, FIELD_NATIVE_BATCH_SIZE);
	so.max_seq = p->max_input_tokens + d->max_new_tokens;
	rc = engine_session_create(&ns->session, ns->model, &so);
	if (rc)
		goto fail;

	ns->max_input_tokens = p->max_input_tokens;
	ns->sampling.greedy = !d->do_sample || d->temperature == 0;
	ns->sampling.temperature = (float)d->temperature;
	ns->sampling.top_k = d->top_k;
	ns->sampling.top_p = (float)d->top_p;
	ns->sampling.min_p = isnan(d->min_p) ? 0.0f : (float)d->min_p;
	ns->sampling.repetition_penalty = (float)d->repetition_penalty;
	ns->sampling.max_new_tokens = d->max_new_tokens;
	ns->sampling.min_new_tokens = d->min_new_tokens;
	ns->sampling.seed = p->seed;

	engine_model_get_info(ns->model, &mi);
	info->model = xstrdup(model);
	info->architecture = xstrdup(mi.arch->model_type);
	info->params_total = mi.params_total;
	info->params_non_embedding = mi.params_total - mi.params_embedding;
	info->layers = mi.arch->num_layers;
	info->hidden_size = mi.arch->hidden_size;
	info->intermediate_size = mi.arch->intermediate_size;
	info->heads = mi.arch->num_heads;
	info->kv_heads = mi.arch->num_kv_heads;
	info->head_dim = mi.arch->head_dim;
	info->vocab_size = mi.arch->vocab_size;
	info->weight_dtype = dtype_label(mi.weight_dtype);
	info->kv_cache_dtype = dtype_label(so.kv_dtype);
	info->weight_bytes = (int64_t)mi.weight_bytes;
	info->kv_cache_bytes = (int64_t)engine_session_kv_bytes(ns->session);
	info->step_weight_bytes = (int64_t)mi.step_bytes;
	info->tokenizer = xstrdup("byte");
	info->kernels = xstrdup(engine_kernels());
	info->threads = so.threads;
	info->batch_size = so.max_batch;
	if (!preset)
		add_warning(info,
			    xstrdup("byte-level tokenizer used on a real model: token counts and "
				    "outputs differ from the model's own tokenizer"));
	*out_session = ns;
	return 0;
fail:
	engine_model_free(ns->model);
	free(ns);
	return rc;
}

static void relay_token(void *ctx, size_t request, int32_t token, uint64_t t_ns)
{
	struct native_session *ns = ctx;

	if (ns->obs && ns->obs->on_token)
		ns->obs->on_token(ns->obs->ctx, request, token, t_ns);
}

static int native_generate(void *session, const char *const *prompts, size_t n,
			   const struct backend_observer *obs, struct backend_request_stats *stats)
{
	struct native_session *ns = session;
	struct engine_request *reqs = xcalloc(n ? n : 1, sizeof(*reqs));
	struct engine_request_out *outs = xcalloc(n ? n : 1, sizeof(*outs));
	struct engine_observer eo = { relay_token, ns };
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		int32_t *ids = xmalloc((size_t)ns->max_input_tokens * sizeof(*ids));

		reqs[i].n_tokens = engine_byte_tokenize(prompts[i], ids, ns->max_input_tokens);
		reqs[i].tokens = ids;
		if (reqs[i].n_tokens == 0) {
			/* An empty prompt still needs one token to start from. */
			ids[0] = ENGINE_BYTE_TOKEN_BASE + ' ';
			reqs[i].n_tokens = 1;
		}
	}
	ns->obs = obs;
	rc = engine_generate(ns->session, reqs, n, &ns->sampling, &eo, outs);
	for (i = 0; i < n; i++) {
		if (!rc) {
			stats[i].input_tokens = reqs[i].n_tokens;
			stats[i].output_tokens = outs[i].n_generated;
			stats[i].start_ns = outs[i].start_ns;
			stats[i].first_token_ns = outs[i].first_token_ns;
			stats[i].end_ns = outs[i].end_ns;
			stats[i].stopped_at_eos = outs[i].stopped_at_eos;
		}
		engine_request_out_release(&outs[i]);
		free((void *)reqs[i].tokens);
	}
	free(reqs);
	free(outs);
	return rc;
}

static void native_unload(void *session)
{
	struct native_session *ns = session;

	if (!ns)
		return;
	engine_session_free(ns->session);
	engine_model_free(ns->model);
	free(ns);
}

static const char *native_version(void *session)
{
	(void)session;
	return "llem-native " LLEM_NATIVE_VERSION;
}

const struct backend_ops backend_native = {
	.name = "native",
	.caps = {
		.batch_size_field = FIELD_NATIVE_BATCH_SIZE,
		.quantization_field = FIELD_NATIVE_QUANTIZATION,
		.memory_method = "weights + KV cache allocated; peak = process max RSS",
		.streams_tokens = true,
		.timed_arrivals = false,
	},
	.preflight = native_preflight,
	.load = native_load,
	.generate = native_generate,
	.unload = native_unload,
	.version = native_version,
};
