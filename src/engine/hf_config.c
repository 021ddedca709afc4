/*
 * config.json -> struct engine_arch for the Llama family (llama, mistral,
 * qwen2). Missing optional fields take the defaults of the transformers
 * config class for that model_type, so a config that loads in transformers
 * means the same thing here; features the engine does not implement are
 * refused by name (LLEM_ENOTSUP) rather than silently approximated.
 */
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
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
	int max_position;   /* max_position_embeddings */
	double rms_norm_eps;
	double rope_theta;
	bool qkv_bias;
} families[] = {
	{ "llama", 2048, 1e-6, 10000.0, false },       /* LlamaConfig */
	{ "mistral", 4096 * 32, 1e-6, 10000.0, false }, /* MistralConfig */
	{ "qwen2", 32768, 1e-6, 10000.0, true },       /* Qwen2Config */
};

/* Problems are collected, one line each, so a config is fixed in one go. */
struct cfg {
	const char *src;
	json_t *root;
	struct strbuf msg;
	int rc;
};

static void problem(struct cfg *c, int code, const char *fmt, ...)
	LLEM_PRINTF(3, 4);

static void problem(struct cfg *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->msg.len)
		strbuf_addch(&c->msg, '\n');
	strbuf_addf(&c->msg, "%s: ", c->src);
	va_start(ap, fmt);
	strbuf_vaddf(&c->msg, fmt, ap);
	va_end(ap);
	if (!c->rc)
		c->rc = code;
}

/* The member key of obj, with JSON null read as absent. */
static json_t *get(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/*
 * An integer in [lo, hi]; *out = def when absent and not required.
 * Returns whether a value was present.
 */
static bool get_int(struct cfg *c, json_t *obj, const char *key,
		    bool required, int def, int lo, int hi, int *out)
{
	json_t *v = get(obj, key);
	json_int_t x;

	*out = def;
	if (!v) {
		if (required)
			problem(c, LLEM_EINVAL, "'%s' is missing", key);
		return false;
	}
	if (!json_is_integer(v)) {
		problem(c, LLEM_EINVAL, "'%s' must be an integer", key);
		return false;
	}
	x = json_integer_value(v);
	if (x < lo || x > hi) {
		problem(c, LLEM_EINVAL,
			"'%s' is %lld, must be between %d and %d", key, (long long)x, lo, hi);
		return false;
	}
	*out = (int)x;
	return true;
}

/* A finite number (integer or real) > 0; *out = def when absent. */
static void get_positive(struct cfg *c, json_t *obj, const char *where,
			 const char *key, bool required, double def,
			 double *out)
{
	json_t *v = get(obj, key);
	double x;

	*out = def;
	if (!v) {
		if (required)
			problem(c, LLEM_EINVAL, "'%s%s' is missing", where,
				key);
		return;
	}
	if (!json_is_number(v)) {
		problem(c, LLEM_EINVAL, "'%s%s' must be a number", where, key);
		return;
	}
	x = json_number_value(v);
	if (!isfinite(x) || x <= 0) {
		problem(c, LLEM_EINVAL, "'%s%s' must be greater than 0", where,
			key);
		return;
	}
	*out = x;
}

static bool get_bool(struct cfg *c, json_t *obj, const char *key, bool def)
{
	json_t *v = get(obj, key);

	if (!v)
		return def;
	if (!json_is_boolean(v)) {
		problem(c, LLEM_EINVAL, "'%s' must be true or false", key);
		return def;
	}
	return json_is_true(v);
}

/* A token id: an integer >= 0, or (eos) a list whose first entry is used. */
static int get_token(struct cfg *c, const char *key, bool list_ok)
{
	json_t *v = get(c->root, key);

	if (list_ok && json_is_array(v))
		v = json_array_size(v) ? json_array_get(v, 0) : NULL;
	if (!v)
		return -1;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MAX_DIM * 64LL) {
		problem(c, LLEM_EINVAL, "'%s' must be a token id%s", key,
			list_ok ? " or a list of them" : "");
		return -1;
	}
	return (int)json_integer_value(v);
}

/*
 * RoPE: "rope_scaling" (transformers 4.x) or "rope_parameters" (which
 * newer transformers write, with rope_theta inside). Only the scalings the
 * engine implements are accepted; dynamic NTK, YaRN and LongRoPE change
 * the attention maths and are refused by name.
 */
static void parse_rope(struct cfg *c, struct engine_arch *a,
		       const struct family *fam)
{
	json_t *rs = get(c->root, "rope_scaling");
	json_t *rp = get(c->root, "rope_parameters");
	const char *where = "rope_scaling.";
	json_t *type;
	const char *t;

	get_positive(c, c->root, "", "rope_theta", false, fam->rope_theta,
		     &a->rope_theta);
	a->rope_type = ENGINE_ROPE_DEFAULT;
	a->rope_factor = 1.0;
	if (!rs && rp) {
		rs = rp;
		where = "rope_parameters.";
		if (get(rp, "rope_theta"))
			get_positive(c, rp, where, "rope_theta", false,
				     a->rope_theta, &a->rope_theta);
	}
	if (!rs)
		return;
	if (!json_is_object(rs)) {
		problem(c, LLEM_EINVAL, "'%.*s' must be an object or null",
			(int)strlen(where) - 1, where);
		return;
	}
	type = get(rs, "rope_type");
	if (!type)
		type = get(rs, "type");
	if (!json_is_string(type)) {
		problem(c, LLEM_EINVAL,
			"'%srope_type' is missing or not a string", where);
		return;
	}
	t = json_string_value(type);
	if (!strcmp(t, "default"))
		return;
	if (!strcmp(t, "linear")) {
		a->rope_type = ENGINE_ROPE_LINEAR;
		get_positive(c, rs, where, "factor", true, 1.0,
			     &a->rope_factor);
		return;
	}
	if (!strcmp(t, "llama3")) {
		double orig = 0;
		size_t before = c->msg.len;

		a->rope_type = ENGINE_ROPE_LLAMA3;
		get_positive(c, rs, where, "factor", true, 1.0,
			     &a->rope_factor);
		get_positive(c, rs, where, "low_freq_factor", true, 1.0,
			     &a->rope_low_freq_factor);
		get_positive(c, rs, where, "high_freq_factor", true, 1.0,
			     &a->rope_high_freq_factor);
		get_positive(c, rs, where, "original_max_position_embeddings",
			     true, 0, &orig);
		if (c->msg.len != before)
			return; /* the checks below would only add noise */
		if (orig > MAX_DIM || orig != floor(orig))
			problem(c, LLEM_EINVAL,
				"'%soriginal_max_position_embeddings' must be an integer up to %d",
				where, MAX_DIM);
		else
			a->rope_original_max_position = (int)orig;
		/* The smoothing between the two bands divides by their gap. */
		if (a->rope_high_freq_factor <= a->rope_low_freq_factor)
			problem(c, LLEM_EINVAL,
				"'%shigh_freq_factor' (%g) must be greater than 'low_freq_factor' (%g)",
				where, a->rope_high_freq_factor,
				a->rope_low_freq_factor);
		return;
	}
	problem(c, LLEM_ENOTSUP,
		"RoPE scaling '%s' is not supported (default, linear and llama3 are)",
		t);
}

/* Sliding-window attention is not implemented: refuse configs that use it
 * within the context the model can reach. */
static void check_sliding_window(struct cfg *c, const struct engine_arch *a)
{
	json_t *sw = get(c->root, "sliding_window");
	json_int_t window;
	bool dflt = false;

	if (!strcmp(a->model_type, "qwen2")) {
		/* Qwen2 configs carry a sliding_window that only applies when
		 * use_sliding_window is true. */
		if (get_bool(c, c->root, "use_sliding_window", false))
			problem(c, LLEM_ENOTSUP,
				"'use_sliding_window': true is not supported (sliding-window attention)");
		return;
	}
	/* MistralConfig's default is a 4096 window: only an explicit null
	 * turns it off. */
	if (!sw && !strcmp(a->model_type, "mistral") &&
	    !json_object_get(c->root, "sliding_window")) {
		window = 4096;
		dflt = true;
	} else if (!sw) {
		return;
	} else if (!json_is_integer(sw) || json_integer_value(sw) <= 0) {
		problem(c, LLEM_EINVAL,
			"'sliding_window' must be a positive integer or null");
		return;
	} else {
		window = json_integer_value(sw);
	}
	if (window < a->max_position)
		problem(c, LLEM_ENOTSUP,
			"'sliding_window': %lld%s is not supported (sliding-window attention; only null or >= max_position_embeddings %d)",
			(long long)window,
			dflt ? " (MistralConfig's default, as the key is absent)"
			     : "",
			a->max_position);
}

static void parse_arch(struct cfg *c, struct engine_arch *a)
{
	const struct family *fam = NULL;
	json_t *mt = get(c->root, "model_type"), *act;
	size_t i;

	if (!json_is_string(mt)) {
		problem(c, LLEM_EINVAL,
			"'model_type' is missing or not a string");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(families); i++)
		if (!strcmp(json_string_value(mt), families[i].model_type))
			fam = &families[i];
	if (!fam) {
		problem(c, LLEM_ENOTSUP,
			"model_type '%s' is not supported (llama, mistral and qwen2 are)",
			json_string_value(mt));
		return;
	}
	memcpy(a->model_type, fam->model_type, strlen(fam->model_type) + 1);

	get_int(c, c->root, "vocab_size", true, 0, 1, MAX_DIM, &a->vocab_size);
	get_int(c, c->root, "hidden_size", true, 0, 1, MAX_DIM,
		&a->hidden_size);
	get_int(c, c->root, "intermediate_size", true, 0, 1, MAX_DIM,
		&a->intermediate_size);
	get_int(c, c->root, "num_hidden_layers", true, 0, 1, MAX_LAYERS,
		&a->num_layers);
	get_int(c, c->root, "num_attention_heads", true, 0, 1, MAX_DIM,
		&a->num_heads);
	get_int(c, c->root, "num_key_value_heads", false, a->num_heads, 1,
		MAX_DIM, &a->num_kv_heads);
	if (!get_int(c, c->root, "head_dim", false, 0, 1, MAX_DIM,
		     &a->head_dim) && a->hidden_size > 0 && a->num_heads > 0) {
		if (a->hidden_size % a->num_heads)
			problem(c, LLEM_EINVAL,
				"'hidden_size' %d is not a multiple of 'num_attention_heads' %d and 'head_dim' is not given",
				a->hidden_size, a->num_heads);
		else
			a->head_dim = a->hidden_size / a->num_heads;
	}
	get_int(c, c->root, "max_position_embeddings", false,
		fam->max_position, 1, MAX_DIM, &a->max_position);
	get_positive(c, c->root, "", "rms_norm_eps", false, fam->rms_norm_eps,
		     &a->rms_norm_eps);
	parse_rope(c, a, fam);
	a->tie_word_embeddings = get_bool(c, c->root, "tie_word_embeddings",
					  false);
	a->qkv_bias = fam->qkv_bias;
	a->bos_token_id = get_token(c, "bos_token_id", false);
	a->eos_token_id = get_token(c, "eos_token_id", true);

	if (a->num_heads > 0 && a->num_kv_heads > 0 &&
	    a->num_heads % a->num_kv_heads)
		problem(c, LLEM_EINVAL,
			"'num_attention_heads' %d is not a multiple of 'num_key_value_heads' %d",
			a->num_heads, a->num_kv_heads);
	if (a->head_dim % 2)
		problem(c, LLEM_EINVAL,
			"head dimension %d is odd (RoPE rotates pairs)",
			a->head_dim);

	act = get(c->root, "hidden_act");
	if (act && (!json_is_string(act) ||
		    strcmp(json_string_value(act), "silu")))
		problem(c, LLEM_ENOTSUP,
			"'hidden_act' must be \"silu\" (SwiGLU MLP)");
	/* Qwen2 has q/k/v biases by construction and no attention_bias. In
	 * Llama, attention_bias also puts a bias on o_proj, which the engine
	 * does not have. */
	if (strcmp(a->model_type, "qwen2") &&
	    get_bool(c, c->root, "attention_bias", false))
		problem(c, LLEM_ENOTSUP,
			"'attention_bias': true is not supported (it adds an o_proj bias; only Qwen2-style q/k/v biases are)");
	if (get_bool(c, c->root, "mlp_bias", false))
		problem(c, LLEM_ENOTSUP, "'mlp_bias': true is not supported");
	if (get(c->root, "quantization_config"))
		problem(c, LLEM_ENOTSUP,
			"quantized checkpoints ('quantization_config') are not supported; use the unquantized model and 'precision'");
	check_sliding_window(c, a);
}

int engine_arch_from_json(struct engine_arch *out, const char *json,
			  const char *source)
{
	struct cfg c = { source, NULL, STRBUF_INIT, 0 };
	json_error_t jerr;
	int rc;

	memset(out, 0, sizeof(*out));
	c.root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!c.root)
		return error_set(LLEM_EINVAL, "%s:%d:%d: not valid JSON: %s",
				 source, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(c.root)) {
		json_decref(c.root);
		return error_set(LLEM_EINVAL, "%s: not a JSON object", source);
	}
	parse_arch(&c, out);
	json_decref(c.root);
	rc = c.rc;
	if (rc) {
		error_set(rc, "%s", strbuf_str(&c.msg));
		memset(out, 0, sizeof(*out));
	}
	strbuf_release(&c.msg);
	return rc;
}
