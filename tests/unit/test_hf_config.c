/*
 * Tests for config.json parsing and the built-in synthetic presets: every
 * preset parses to its public config's values, missing fields take the
 * transformers defaults, and unsupported features are refused by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "engine/engine.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The compiled-in JSON (generated from data/synthetic-presets.json). */
extern const unsigned char engine_presets_json[];

#define BASE                                                                                       \
	"\"vocab_size\": 512, \"hidden_size\": 64, \"intermediate_size\": 176, "                   \
	"\"num_hidden_layers\": 2, \"num_attention_heads\": 4"

static void parse_ok(struct engine_arch *a, const char *json)
{
	if (engine_arch_from_json(a, json, "config.json"))
		fail_msg("%s", error_last());
}

static void parse_fails(const char *json, int code, const char *msg)
{
	struct engine_arch a;

	assert_int_equal(engine_arch_from_json(&a, json, "config.json"), code);
	assert_string_equal(error_last(), msg);
	assert_int_equal(a.hidden_size, 0);
}

static void test_config_minimal_llama_takes_transformers_defaults(void **state)
{
	struct engine_arch a;

	(void)state;
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE "}");
	assert_string_equal(a.model_type, "llama");
	assert_int_equal(a.vocab_size, 512);
	assert_int_equal(a.hidden_size, 64);
	assert_int_equal(a.intermediate_size, 176);
	assert_int_equal(a.num_layers, 2);
	assert_int_equal(a.num_heads, 4);
	assert_int_equal(a.num_kv_heads, 4);
	assert_int_equal(a.head_dim, 16);
	assert_int_equal(a.max_position, 2048);
	assert_true(a.rope_theta == 10000.0);
	assert_true(a.rms_norm_eps == 1e-6);
	assert_int_equal(a.rope_type, ENGINE_ROPE_DEFAULT);
	assert_true(a.rope_factor == 1.0);
	assert_false(a.tie_word_embeddings);
	assert_false(a.qkv_bias);
	assert_int_equal(a.bos_token_id, -1);
	assert_int_equal(a.eos_token_id, -1);

	/* Nulls mean "not given" as in transformers. */
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"num_key_value_heads\": null,"
		     " \"head_dim\": null, \"rope_scaling\": null, \"bos_token_id\": null,"
		     " \"sliding_window\": null}");
	assert_int_equal(a.num_kv_heads, 4);
	assert_int_equal(a.head_dim, 16);
	assert_int_equal(a.bos_token_id, -1);
}

static void test_config_family_defaults(void **state)
{
	struct engine_arch a;

	(void)state;
	parse_ok(&a, "{\"model_type\": \"qwen2\", " BASE "}");
	assert_string_equal(a.model_type, "qwen2");
	assert_true(a.qkv_bias);
	assert_int_equal(a.max_position, 32768);
	assert_true(a.rms_norm_eps == 1e-6);
	assert_false(a.tie_word_embeddings);

	parse_ok(&a, "{\"model_type\": \"mistral\", " BASE ", \"sliding_window\": null}");
	assert_string_equal(a.model_type, "mistral");
	assert_false(a.qkv_bias);
	assert_int_equal(a.max_position, 131072);
}

static void test_config_explicit_fields(void **state)
{
	struct engine_arch a;

	(void)state;
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"num_key_value_heads\": 2,"
		     " \"head_dim\": 32, \"max_position_embeddings\": 4096, \"rope_theta\": 500000,"
		     " \"rms_norm_eps\": 1e-05, \"tie_word_embeddings\": true,"
		     " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009],"
		     " \"hidden_act\": \"silu\", \"attention_bias\": false, \"mlp_bias\": false,"
		     " \"pretraining_tp\": 1, \"torch_dtype\": \"bfloat16\"}");
	assert_int_equal(a.num_kv_heads, 2);
	/* head_dim need not equal hidden / heads. */
	assert_int_equal(a.head_dim, 32);
	assert_int_equal(a.max_position, 4096);
	assert_true(a.rope_theta == 500000.0);
	assert_true(a.rms_norm_eps == 1e-5);
	assert_true(a.tie_word_embeddings);
	assert_int_equal(a.bos_token_id, 128000);
	/* A list of EOS ids: the first is the model's primary one. */
	assert_int_equal(a.eos_token_id, 128001);

	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"eos_token_id\": []}");
	assert_int_equal(a.eos_token_id, -1);
}

static void test_config_rope_scaling_variants(void **state)
{
	struct engine_arch a;

	(void)state;
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		     " {\"rope_type\": \"linear\", \"factor\": 2.0}}");
	assert_int_equal(a.rope_type, ENGINE_ROPE_LINEAR);
	assert_true(a.rope_factor == 2.0);

	/* Older configs say "type". */
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		     " {\"type\": \"linear\", \"factor\": 4}}");
	assert_int_equal(a.rope_type, ENGINE_ROPE_LINEAR);
	assert_true(a.rope_factor == 4.0);

	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		     " {\"rope_type\": \"default\"}}");
	assert_int_equal(a.rope_type, ENGINE_ROPE_DEFAULT);
	assert_true(a.rope_factor == 1.0);

	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		     " {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
		     " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}");
	assert_int_equal(a.rope_type, ENGINE_ROPE_LLAMA3);
	assert_true(a.rope_factor == 8.0);
	assert_true(a.rope_low_freq_factor == 1.0);
	assert_true(a.rope_high_freq_factor == 4.0);
	assert_int_equal(a.rope_original_max_position, 8192);

	/* Newer transformers: rope_parameters, with rope_theta inside. */
	parse_ok(&a, "{\"model_type\": \"llama\", " BASE ", \"rope_parameters\":"
		     " {\"rope_type\": \"default\", \"rope_theta\": 123456.0}}");
	assert_int_equal(a.rope_type, ENGINE_ROPE_DEFAULT);
	assert_true(a.rope_theta == 123456.0);

	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		" {\"rope_type\": \"dynamic\", \"factor\": 2.0}}",
		LLEM_ENOTSUP,
		"config.json: RoPE scaling 'dynamic' is not supported (default, linear and llama3 are)");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		" {\"type\": \"yarn\", \"factor\": 4.0}}",
		LLEM_ENOTSUP,
		"config.json: RoPE scaling 'yarn' is not supported (default, linear and llama3 are)");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"rope_parameters\":"
		" {\"rope_type\": \"longrope\"}}",
		LLEM_ENOTSUP,
		"config.json: RoPE scaling 'longrope' is not supported (default, linear and llama3 are)");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		    " {\"rope_type\": \"linear\"}}",
		    LLEM_EINVAL, "config.json: rope_scaling.factor: missing key");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		    " {\"factor\": 2.0}}",
		    LLEM_EINVAL, "config.json: rope_scaling.rope_type: missing key");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\": 2}", LLEM_EINVAL,
		    "config.json: rope_scaling: expected an object or null, got an integer");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		    " {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
		    LLEM_EINVAL,
		    "config.json: rope_scaling.low_freq_factor: missing key\n"
		    "config.json: rope_scaling.high_freq_factor: missing key\n"
		    "config.json: rope_scaling.original_max_position_embeddings: missing key");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		" {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
		" \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192.5}}",
		LLEM_EINVAL,
		"config.json: rope_scaling.original_max_position_embeddings: must be an integer up to 16777216, got 8192.5");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"rope_scaling\":"
		" {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0,"
		" \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}",
		LLEM_EINVAL,
		"config.json: rope_scaling.high_freq_factor: must be greater than low_freq_factor (4), got 4");
}

static void test_config_rejects_unsupported_features(void **state)
{
	struct engine_arch a;

	(void)state;
	parse_fails(
		"{\"model_type\": \"gpt2\", " BASE "}", LLEM_ENOTSUP,
		"config.json: model_type 'gpt2' is not supported (llama, mistral and qwen2 are)");
	parse_fails(
		"{\"model_type\": \"mistral\", " BASE ", \"max_position_embeddings\": 32768,"
		" \"sliding_window\": 4096}",
		LLEM_ENOTSUP,
		"config.json: 'sliding_window': 4096 is not supported (sliding-window attention; only null or >= max_position_embeddings 32768)");
	/* A window as long as the context never slides. */
	parse_ok(&a, "{\"model_type\": \"mistral\", " BASE ", \"max_position_embeddings\": 32768,"
		     " \"sliding_window\": 32768}");
	parse_ok(&a, "{\"model_type\": \"mistral\", " BASE ", \"sliding_window\": null}");
	/* Absent is not null: MistralConfig then defaults to a 4096 window. */
	parse_fails(
		"{\"model_type\": \"mistral\", " BASE "}", LLEM_ENOTSUP,
		"config.json: 'sliding_window': 4096 (MistralConfig's default, as the key is absent) is not supported (sliding-window attention; only null or >= max_position_embeddings 131072)");
	parse_ok(&a, "{\"model_type\": \"mistral\", " BASE ", \"max_position_embeddings\": 4096}");
	/* Qwen2's sliding_window applies only with use_sliding_window. */
	parse_ok(&a, "{\"model_type\": \"qwen2\", " BASE ", \"sliding_window\": 4096,"
		     " \"use_sliding_window\": false}");
	parse_fails(
		"{\"model_type\": \"qwen2\", " BASE ", \"sliding_window\": 4096,"
		" \"use_sliding_window\": true}",
		LLEM_ENOTSUP,
		"config.json: 'use_sliding_window': true is not supported (sliding-window attention)");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"attention_bias\": true}", LLEM_ENOTSUP,
		"config.json: 'attention_bias': true is not supported (it adds an o_proj bias; only Qwen2-style q/k/v biases are)");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"mlp_bias\": true}", LLEM_ENOTSUP,
		    "config.json: 'mlp_bias': true is not supported");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"hidden_act\": \"gelu\"}", LLEM_ENOTSUP,
		    "config.json: 'hidden_act' must be \"silu\" (SwiGLU MLP)");
	parse_fails(
		"{\"model_type\": \"llama\", " BASE
		", \"quantization_config\": {\"quant_method\": \"gptq\"}}",
		LLEM_ENOTSUP,
		"config.json: quantized checkpoints ('quantization_config') are not supported; use the unquantized model and 'precision'");
}

static void test_config_reports_every_problem(void **state)
{
	(void)state;
	parse_fails("{\"model_type\": \"llama\", \"intermediate_size\": 176,"
		    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
		    LLEM_EINVAL,
		    "config.json: vocab_size: missing key\n"
		    "config.json: hidden_size: missing key");
	parse_fails("{\"intermediate_size\": 1}", LLEM_EINVAL,
		    "config.json: model_type: missing key");
	parse_fails(
		"{\"model_type\": \"llama\", \"vocab_size\": 512, \"hidden_size\": 64,"
		" \"intermediate_size\": 176, \"num_hidden_layers\": 2,"
		" \"num_attention_heads\": 6, \"num_key_value_heads\": 4}",
		LLEM_EINVAL,
		"config.json: 'hidden_size' 64 is not a multiple of 'num_attention_heads' 6 and 'head_dim' is not given\n"
		"config.json: 'num_attention_heads' 6 is not a multiple of 'num_key_value_heads' 4");
	parse_fails(
		"{\"model_type\": \"llama\", \"vocab_size\": 0, \"hidden_size\": \"64\","
		" \"intermediate_size\": 176, \"num_hidden_layers\": 100000,"
		" \"num_attention_heads\": 4, \"rms_norm_eps\": -1,"
		" \"tie_word_embeddings\": 1, \"eos_token_id\": \"x\"}",
		LLEM_EINVAL,
		"config.json: vocab_size: must be between 1 and 16777216, got 0\n"
		"config.json: hidden_size: expected a positive integer, got a string\n"
		"config.json: num_hidden_layers: must be between 1 and 4096, got 100000\n"
		"config.json: rms_norm_eps: must be greater than 0, got -1\n"
		"config.json: tie_word_embeddings: expected a boolean or null, got an integer\n"
		"config.json: eos_token_id: expected a token id, a list of them or null, got a string");
	parse_fails("{\"model_type\": \"llama\", " BASE ", \"head_dim\": 15}", LLEM_EINVAL,
		    "config.json: head dimension 15 is odd (RoPE rotates pairs)");
	parse_fails("{\"model_type\": \"llama\",", LLEM_EINVAL,
		    "config.json:1:23: not valid JSON: string or '}' expected near end of file");
	parse_fails("[1]", LLEM_EINVAL, "config.json: expected a JSON object, got an array");
	/* Errors name the JSON path, inside objects and lists too. */
	parse_fails(
		"{\"model_type\": \"llama\", " BASE ", \"eos_token_id\": [\"x\"],"
		" \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": -1},"
		" \"sliding_window\": \"x\"}",
		LLEM_EINVAL,
		"config.json: rope_parameters.rope_theta: must be greater than 0, got -1\n"
		"config.json: eos_token_id[0]: expected a non-negative integer, got a string\n"
		"config.json: sliding_window: expected a positive integer or null, got a string");
}

/* Each preset checked against the values of its public config.json. */
static void test_presets_match_public_configs(void **state)
{
	struct engine_arch a;

	(void)state;
	assert_int_equal(engine_preset_find(&a, "smollm-135m"), 0);
	assert_string_equal(a.model_type, "llama");
	assert_int_equal(a.hidden_size, 576);
	assert_int_equal(a.intermediate_size, 1536);
	assert_int_equal(a.num_layers, 30);
	assert_int_equal(a.num_heads, 9);
	assert_int_equal(a.num_kv_heads, 3);
	assert_int_equal(a.head_dim, 64);
	assert_int_equal(a.vocab_size, 49152);
	assert_int_equal(a.max_position, 2048);
	assert_true(a.tie_word_embeddings);
	assert_true(a.rms_norm_eps == 1e-5);

	assert_int_equal(engine_preset_find(&a, "tinyllama-1.1b"), 0);
	assert_int_equal(a.hidden_size, 2048);
	assert_int_equal(a.intermediate_size, 5632);
	assert_int_equal(a.num_layers, 22);
	assert_int_equal(a.num_heads, 32);
	assert_int_equal(a.num_kv_heads, 4);
	assert_int_equal(a.vocab_size, 32000);
	assert_false(a.tie_word_embeddings);
	assert_int_equal(a.bos_token_id, 1);
	assert_int_equal(a.eos_token_id, 2);

	assert_int_equal(engine_preset_find(&a, "llama-3.2-1b"), 0);
	assert_int_equal(a.hidden_size, 2048);
	assert_int_equal(a.intermediate_size, 8192);
	assert_int_equal(a.num_layers, 16);
	assert_int_equal(a.num_kv_heads, 8);
	assert_int_equal(a.head_dim, 64);
	assert_int_equal(a.vocab_size, 128256);
	assert_true(a.tie_word_embeddings);
	assert_true(a.rope_theta == 500000.0);
	assert_int_equal(a.rope_type, ENGINE_ROPE_LLAMA3);
	assert_true(a.rope_factor == 32.0);
	assert_true(a.rope_low_freq_factor == 1.0);
	assert_true(a.rope_high_freq_factor == 4.0);
	assert_int_equal(a.rope_original_max_position, 8192);

	assert_int_equal(engine_preset_find(&a, "qwen2.5-0.5b"), 0);
	assert_string_equal(a.model_type, "qwen2");
	assert_int_equal(a.hidden_size, 896);
	assert_int_equal(a.intermediate_size, 4864);
	assert_int_equal(a.num_layers, 24);
	assert_int_equal(a.num_heads, 14);
	assert_int_equal(a.num_kv_heads, 2);
	assert_int_equal(a.head_dim, 64);
	assert_int_equal(a.vocab_size, 151936);
	assert_int_equal(a.max_position, 32768);
	assert_true(a.rope_theta == 1000000.0);
	assert_true(a.rms_norm_eps == 1e-6);
	assert_true(a.tie_word_embeddings);
	assert_true(a.qkv_bias);

	assert_int_equal(engine_preset_find(&a, "llama-3.1-8b"), 0);
	assert_int_equal(a.hidden_size, 4096);
	assert_int_equal(a.intermediate_size, 14336);
	assert_int_equal(a.num_layers, 32);
	assert_int_equal(a.num_heads, 32);
	assert_int_equal(a.num_kv_heads, 8);
	assert_int_equal(a.vocab_size, 128256);
	assert_int_equal(a.max_position, 131072);
	assert_false(a.tie_word_embeddings);
	assert_int_equal(a.rope_type, ENGINE_ROPE_LLAMA3);
	assert_true(a.rope_factor == 8.0);

	assert_int_equal(engine_preset_find(&a, "tiny-llama3"), 0);
	assert_int_equal(a.head_dim, 16);
	assert_int_equal(a.num_kv_heads, 1);
	assert_int_equal(a.rope_original_max_position, 512);
	assert_int_equal(engine_preset_find(&a, "tiny-qwen2"), 0);
	assert_true(a.qkv_bias);
}

static void test_presets_every_name_parses(void **state)
{
	const char *const *names;
	size_t n = engine_preset_names(&names), i;
	struct engine_arch a;

	(void)state;
	assert_int_equal(n, 9);
	/* File order: real models first, then the tiny test shapes. */
	assert_string_equal(names[0], "smollm-135m");
	assert_string_equal(names[n - 1], "tiny-qwen2");
	for (i = 0; i < n; i++) {
		if (engine_preset_find(&a, names[i]))
			fail_msg("%s: %s", names[i], error_last());
		assert_true(a.hidden_size > 0);
	}
	/* The same pointer every call (static storage). */
	{
		const char *const *again;

		assert_int_equal(engine_preset_names(&again), n);
		assert_ptr_equal(again, names);
	}
}

/* The Python worker builds models from the same file with from_config. */
static void test_presets_are_transformers_configs(void **state)
{
	json_t *root = json_loads((const char *)engine_presets_json, 0, NULL);
	const char *key;
	json_t *p;

	(void)state;
	assert_true(json_is_object(root));
	json_object_foreach(root, key, p)
	{
		static const char *const need[] = { "_source",
						    "architectures",
						    "model_type",
						    "hidden_act",
						    "torch_dtype",
						    "vocab_size",
						    "hidden_size",
						    "intermediate_size",
						    "num_hidden_layers",
						    "num_attention_heads",
						    "num_key_value_heads",
						    "max_position_embeddings",
						    "rms_norm_eps",
						    "rope_theta",
						    "tie_word_embeddings" };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(need); i++)
			if (!json_object_get(p, need[i]))
				fail_msg("preset %s lacks %s", key, need[i]);
		assert_true(json_is_array(json_object_get(p, "architectures")));
		assert_string_equal(json_string_value(json_object_get(p, "hidden_act")), "silu");
	}
	json_decref(root);
}

static void test_presets_unknown_name_suggests(void **state)
{
	struct engine_arch a;

	(void)state;
	assert_int_equal(engine_preset_find(&a, "smolm-135m"), LLEM_ENOTFOUND);
	assert_string_equal(
		error_last(),
		"unknown synthetic preset 'smolm-135m' (did you mean 'smollm-135m'?); "
		"known presets: smollm-135m, smollm-360m, tinyllama-1.1b, llama-3.2-1b, "
		"qwen2.5-0.5b, llama-3.1-8b, tiny-llama, tiny-llama3, tiny-qwen2");
	assert_int_equal(engine_preset_find(&a, "gpt-4"), LLEM_ENOTFOUND);
	assert_string_equal(
		error_last(),
		"unknown synthetic preset 'gpt-4'; "
		"known presets: smollm-135m, smollm-360m, tinyllama-1.1b, llama-3.2-1b, "
		"qwen2.5-0.5b, llama-3.1-8b, tiny-llama, tiny-llama3, tiny-qwen2");
	assert_int_equal(a.hidden_size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_minimal_llama_takes_transformers_defaults),
		cmocka_unit_test(test_config_family_defaults),
		cmocka_unit_test(test_config_explicit_fields),
		cmocka_unit_test(test_config_rope_scaling_variants),
		cmocka_unit_test(test_config_rejects_unsupported_features),
		cmocka_unit_test(test_config_reports_every_problem),
		cmocka_unit_test(test_presets_match_public_configs),
		cmocka_unit_test(test_presets_every_name_parses),
		cmocka_unit_test(test_presets_are_transformers_configs),
		cmocka_unit_test(test_presets_unknown_name_suggests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
