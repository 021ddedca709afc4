/*
 * config.json -> struct engine_arch for the Llama family (llama, mistral,
 * qwen2). Missing optional fields take the defaults of the transformers
 * config class for that model_type, so a config that loads in transformers
 * means the same thing here; features the engine does not implement are
 * refused by name (LLEM_ENOTSUP) rather than silently approximated.
 */
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/jsonr.h"
#include "util/util.h"

#include <math.h>
#include <string.h>

/*
 * Upper bounds that no real model reaches but that keep every product the
 * engine forms (vocab * hidden, layers * sizeof(layer)) far from overflow
 * and a hostile config from asking for terabytes.
 */
#define MAX_DIM (1 << 24)
#define MAX_LAYERS 4096

/* Per model_type defaults, from the transformers config classes. */
static const struct family {
	const char *model_type;
	int max_position; /* max_position_embeddings */
	double rms_norm_eps;
	double rope_theta;
	bool qkv_bias;
} families[] = {
	{ "llama", 2048, 1e-6, 10000.0, false },        /* LlamaConfig */
	{ "mistral", 4096 * 32, 1e-6, 10000.0, false }, /* MistralConfig */
	{ "qwen2", 32768, 1e-6, 10000.0, true },        /* Qwen2Config */
};

/*
 * config.json is transformers' file, not ours: unknown keys are fine, null
 * means absent (the default), and every problem is reported, one line
 * each, so a config is fixed in one go.
 */
#define OPT JSONR_NULLABLE
#define REQ JSONR_REQUIRED
#define MAX_TOKEN (MAX_DIM * 64LL)

/* A token id: an integer >= 0, or (eos) a list whose first entry is used. */
static int get_token(struct jsonr_node *root, const char *key, bool list_ok)
{
	json_t *v = jsonr_get(root, key);
	struct jsonr_node list;
	int64_t id = -1;

	if (list_ok && json_is_array(v)) {
		if (jsonr_enter_array(&list, root, key, REQ)) {
			if (jsonr_size(&list))
				jsonr_at_int64(&list, 0, REQ, 0, MAX_TOKEN, &id);
			jsonr_leave(&list);
		}
	} else if (list_ok && v && !json_is_null(v) && !json_is_integer(v)) {
		jsonr_fail(root, key, LLEM_EINVAL,
			   "expected a token id, a list of them or null, got %s",
			   jsonr_type_name(v));
	} else {
		jsonr_int64(root, key, OPT, 0, MAX_TOKEN, &id);
	}
	return (int)id;
}

/* The llama3 scaling's four numbers and the rules between them. */
static void parse_llama3(struct jsonr_node *rs, struct engine_arch *a)
{
	size_t before = rs->r->nerr;
	double orig = 0;

	jsonr_double(rs, "factor", REQ | JSONR_POSITIVE, &a->rope_factor);
	jsonr_double(rs, "low_freq_factor", REQ | JSONR_POSITIVE, &a->rope_low_freq_factor);
	jsonr_double(rs, "high_freq_factor", REQ | JSONR_POSITIVE, &a->rope_high_freq_factor);
	jsonr_double(rs, "original_max_position_embeddings", REQ | JSONR_POSITIVE, &orig);
	if (rs->r->nerr != before)
		return; /* the checks below would only add noise */
	if (orig > MAX_DIM || orig != floor(orig))
		jsonr_fail(rs, "original_max_position_embeddings", LLEM_EINVAL,
			   "must be an integer up to %d, got %g", MAX_DIM, orig);
	else
		a->rope_original_max_position = (int)orig;
	/* The smoothing between the two bands divides by their gap. */
	if (a->rope_high_freq_factor <= a->rope_low_freq_factor)
		jsonr_fail(rs, "high_freq_factor", LLEM_EINVAL,
			   "must be greater than low_freq_factor (%g), got %g",
			   a->rope_low_freq_factor, a->rope_high_freq_factor);
}

/*
 * RoPE: "rope_scaling" (transformers 4.x) or "rope_parameters" (which
 * newer transformers write, with rope_theta inside). Only the scalings the
 * engine implements are accepted; dynamic NTK, YaRN and LongRoPE change
 * the attention maths and are refused by name.
 */
static void parse_rope(struct jsonr_node *root, struct engine_arch *a, const struct family *fam)
{
	const char *key = "rope_scaling", *t = NULL;
	struct jsonr_node rs;

	a->rope_theta = fam->rope_theta;
	jsonr_double(root, "rope_theta", OPT | JSONR_POSITIVE, &a->rope_theta);
	a->rope_type = ENGINE_ROPE_DEFAULT;
	a->rope_factor = 1.0;
	if (!jsonr_has(root, key) && jsonr_has(root, "rope_parameters"))
		key = "rope_parameters";
	if (!jsonr_enter(&rs, root, key, OPT))
		return;
	if (!strcmp(key, "rope_parameters"))
		jsonr_double(&rs, "rope_theta", OPT | JSONR_POSITIVE, &a->rope_theta);
	/* Older configs say "type". */
	jsonr_str(&rs,
		  jsonr_has(&rs, "rope_type") || !jsonr_has(&rs, "type") ? "rope_type" : "type",
		  REQ, &t);
	if (t && !strcmp(t, "linear")) {
		a->rope_type = ENGINE_ROPE_LINEAR;
		jsonr_double(&rs, "factor", REQ | JSONR_POSITIVE, &a->rope_factor);
	} else if (t && !strcmp(t, "llama3")) {
		a->rope_type = ENGINE_ROPE_LLAMA3;
		parse_llama3(&rs, a);
	} else if (t && strcmp(t, "default")) {
		jsonr_fail(root, NULL, LLEM_ENOTSUP,
			   "RoPE scaling '%s' is not supported (default, linear and llama3 are)",
			   t);
	}
	jsonr_leave(&rs);
}

/* Sliding-window attention is not implemented: refuse configs that use it
 * within the context the model can reach. */
static void check_sliding_window(struct jsonr_node *root, const struct engine_arch *a)
{
	int64_t window = 0;
	bool dflt = false, on = false;

	if (!strcmp(a->model_type, "qwen2")) {
		/* Qwen2 configs carry a sliding_window that only applies when
		 * use_sliding_window is true. */
		if (jsonr_bool(root, "use_sliding_window", OPT, &on) && on)
			jsonr_fail(
				root, NULL, LLEM_ENOTSUP,
				"'use_sliding_window': true is not supported (sliding-window attention)");
		return;
	}
	/* MistralConfig's default is a 4096 window: only an explicit null
	 * turns it off. */
	if (!jsonr_get(root, "sliding_window") && !strcmp(a->model_type, "mistral")) {
		window = 4096;
		dflt = true;
	} else if (!jsonr_int64(root, "sliding_window", OPT, 1, INT64_MAX, &window)) {
		return;
	}
	if (window < a->max_position)
		jsonr_fail(
			root, NULL, LLEM_ENOTSUP,
			"'sliding_window': %lld%s is not supported (sliding-window attention; only null or >= max_position_embeddings %d)",
			(long long)window,
			dflt ? " (MistralConfig's default, as the key is absent)" : "",
			a->max_position);
}

static void parse_arch(struct jsonr_node *root, struct engine_arch *a)
{
	const struct family *fam = NULL;
	const char *mt, *act;
	bool on;
	size_t i;

	if (!jsonr_str(root, "model_type", REQ, &mt))
		return;
	for (i = 0; i < ARRAY_SIZE(families); i++)
		if (!strcmp(mt, families[i].model_type))
			fam = &families[i];
	if (!fam) {
		jsonr_fail(root, NULL, LLEM_ENOTSUP,
			   "model_type '%s' is not supported (llama, mistral and qwen2 are)", mt);
		return;
	}
	memcpy(a->model_type, fam->model_type, strlen(fam->model_type) + 1);

	jsonr_int(root, "vocab_size", REQ, 1, MAX_DIM, &a->vocab_size);
	jsonr_int(root, "hidden_size", REQ, 1, MAX_DIM, &a->hidden_size);
	jsonr_int(root, "intermediate_size", REQ, 1, MAX_DIM, &a->intermediate_size);
	jsonr_int(root, "num_hidden_layers", REQ, 1, MAX_LAYERS, &a->num_layers);
	jsonr_int(root, "num_attention_heads", REQ, 1, MAX_DIM, &a->num_heads);
	a->num_kv_heads = a->num_heads;
	jsonr_int(root, "num_key_value_heads", OPT, 1, MAX_DIM, &a->num_kv_heads);
	if (!jsonr_int(root, "head_dim", OPT, 1, MAX_DIM, &a->head_dim) && a->hidden_size > 0 &&
	    a->num_heads > 0) {
		if (a->hidden_size % a->num_heads)
			jsonr_fail(
				root, NULL, LLEM_EINVAL,
				"'hidden_size' %d is not a multiple of 'num_attention_heads' %d and 'head_dim' is not given",
				a->hidden_size, a->num_heads);
		else
			a->head_dim = a->hidden_size / a->num_heads;
	}
	a->max_position = fam->max_position;
	jsonr_int(root, "max_position_embeddings", OPT, 1, MAX_DIM, &a->max_position);
	a->rms_norm_eps = fam->rms_norm_eps;
	jsonr_double(root, "rms_norm_eps", OPT | JSONR_POSITIVE, &a->rms_norm_eps);
	parse_rope(root, a, fam);
	jsonr_bool(root, "tie_word_embeddings", OPT, &a->tie_word_embeddings);
	a->qkv_bias = fam->qkv_bias;
	a->bos_token_id = get_token(root, "bos_token_id", false);
	a->eos_token_id = get_token(root, "eos_token_id", true);

	if (a->num_heads > 0 && a->num_kv_heads > 0 && a->num_heads % a->num_kv_heads)
		jsonr_fail(root, NULL, LLEM_EINVAL,
			   "'num_attention_heads' %d is not a multiple of 'num_key_value_heads' %d",
			   a->num_heads, a->num_kv_heads);
	if (a->head_dim % 2)
		jsonr_fail(root, NULL, LLEM_EINVAL, "head dimension %d is odd (RoPE rotates pairs)",
			   a->head_dim);

	if (jsonr_str(root, "hidden_act", OPT, &act) && strcmp(act, "silu"))
		jsonr_fail(root, NULL, LLEM_ENOTSUP, "'hidden_act' must be \"silu\" (SwiGLU MLP)");
	/* Qwen2 has q/k/v biases by construction and no attention_bias. In
	 * Llama, attention_bias also puts a bias on o_proj, which the engine
	 * does not have. */
	on = false;
	if (strcmp(a->model_type, "qwen2") && jsonr_bool(root, "attention_bias", OPT, &on) && on)
		jsonr_fail(
			root, NULL, LLEM_ENOTSUP,
			"'attention_bias': true is not supported (it adds an o_proj bias; only Qwen2-style q/k/v biases are)");
	on = false;
	if (jsonr_bool(root, "mlp_bias", OPT, &on) && on)
		jsonr_fail(root, NULL, LLEM_ENOTSUP, "'mlp_bias': true is not supported");
	if (jsonr_has(root, "quantization_config"))
		jsonr_fail(
			root, NULL, LLEM_ENOTSUP,
			"quantized checkpoints ('quantization_config') are not supported; use the unquantized model and 'precision'");
	check_sliding_window(root, a);
}

int engine_arch_from_json(struct engine_arch *out, const char *json, const char *source)
{
	struct jsonr_node root;
	struct jsonr r;
	json_t *doc;
	int rc;

	memset(out, 0, sizeof(*out));
	jsonr_init(&r, source, JSONR_ALL_ERRORS);
	doc = jsonr_parse(&r, json, strlen(json));
	if (jsonr_root(&root, &r, doc)) {
		parse_arch(&root, out);
		jsonr_leave(&root);
	}
	rc = r.rc;
	if (rc)
		memset(out, 0, sizeof(*out));
	json_decref(doc);
	jsonr_release(&r);
	return rc;
}
