/*
 * Tests for the native engine's own logic (the comparison with Hugging
 * Face transformers is tests/cli/test_engine_hf.py): the synthetic-weight
 * recipe as documented, the byte tokenizer, sampling semantics, and
 * generation invariants: batched equals one-by-one, thread count does not
 * change results, prefill equals step-by-step decoding, every token is
 * observed once with ordered timestamps, lengths and EOS rules hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "engine/kernels.h"
#include "engine/sampling.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A synthetic model of preset; eos >= 0 replaces the preset's EOS id. */
static struct engine_model *build_eos(const char *preset, uint64_t seed, enum engine_dtype wt,
				      int eos)
{
	struct engine_arch arch;
	struct engine_src_model src;
	struct engine_model *m;

	assert_int_equal(engine_preset_find(&arch, preset), 0);
	if (eos >= 0)
		arch.eos_token_id = eos;
	assert_int_equal(engine_synthetic_build(&src, &arch, seed), 0);
	assert_int_equal(engine_model_create(&m, &src, wt), 0);
	engine_src_close(&src);
	return m;
}

static struct engine_model *build(const char *preset, uint64_t seed, enum engine_dtype wt)
{
	return build_eos(preset, seed, wt, -1);
}

/* The recipe in synthetic.c's comment, recomputed independently. */
static float recipe(uint64_t seed, uint64_t t, uint64_t j, double scale)
{
	uint64_t z = seed * 0x9E3779B97F4A7C15ULL + t * 0xD1B54A32D192ED03ULL + j;
	double u;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	u = (double)(z >> 11) * 0x1.0p-52 - 1.0;
	return engine_bf16_to_f32(engine_f32_to_bf16((float)(u * scale)));
}

static void test_synthetic_weights_follow_the_documented_recipe(void **state)
{
	struct engine_arch arch;
	struct engine_src_model a, b, c;
	const uint16_t *wq;
	size_t j;

	(void)state;
	assert_int_equal(engine_preset_find(&arch, "tiny-llama"), 0);
	assert_int_equal(engine_synthetic_build(&a, &arch, 7), 0);
	assert_int_equal(engine_synthetic_build(&b, &arch, 7), 0);
	assert_int_equal(engine_synthetic_build(&c, &arch, 8), 0);
	wq = a.layers[1].wq.data;
	for (j = 0; j < 100; j++)
		assert_true(engine_bf16_to_f32(wq[j]) ==
			    recipe(7, 1 + 16 * 1 + 1, j, sqrt(3.0 / arch.hidden_size)));
	assert_memory_equal(a.layers[1].wq.data, b.layers[1].wq.data,
			    (size_t)(a.layers[1].wq.rows * a.layers[1].wq.cols) * 2);
	assert_memory_not_equal(a.layers[1].wq.data, c.layers[1].wq.data, 64);
	assert_true(engine_bf16_to_f32(((const uint16_t *)a.final_norm.data)[3]) == 1.0f);
	engine_src_close(&a);
	engine_src_close(&b);
	engine_src_close(&c);
}

static void test_byte_tokenizer(void **state)
{
	int32_t ids[8];

	(void)state;
	assert_int_equal(engine_byte_tokenize("h\xc3\xa9!", ids, 8), 4);
	assert_int_equal(ids[0], ENGINE_BYTE_TOKEN_BASE + 'h');
	assert_int_equal(ids[1], ENGINE_BYTE_TOKEN_BASE + 0xc3);
	assert_int_equal(ids[3], ENGINE_BYTE_TOKEN_BASE + '!');
	assert_int_equal(engine_byte_tokenize("abcdefghij", ids, 8), 8);
	assert_int_equal(engine_byte_tokenize("", ids, 8), 0);
}

static void test_sampling_semantics(void **state)
{
	struct engine_sampler sm;
	struct engine_sampling sp = { 0 };
	struct engine_rng rng;
	float l[6];
	uint8_t seen = 0;
	int counts[3] = { 0 }, i;

	(void)state;
	engine_sampler_init(&sm, 6);
	engine_rng_seed(&rng, 1, 0);
	sp.greedy = true;
	sp.repetition_penalty = 1.0f;
	memcpy(l, (float[]){ 1, 3, 3, -2, 0, 2 }, sizeof(l));
	assert_int_equal(engine_sample(&sm, l, NULL, &sp, -1, false, &rng),
			 1); /* lowest id on ties */
	/* HF repetition penalty: positive logits divided, negative multiplied. */
	memcpy(l, (float[]){ 1, 3, 2.9f, -2, 0, 2 }, sizeof(l));
	sp.repetition_penalty = 2.0f;
	seen = (1u << 1) | (1u << 3);
	assert_int_equal(engine_sample(&sm, l, &seen, &sp, -1, false, &rng), 2);
	assert_true(l[1] == 1.5f && l[3] == -4.0f && l[2] == 2.9f);
	/* EOS suppressed while below min_new_tokens. */
	sp.repetition_penalty = 1.0f;
	memcpy(l, (float[]){ 1, 9, 3, 0, 0, 0 }, sizeof(l));
	assert_int_equal(engine_sample(&sm, l, NULL, &sp, 1, true, &rng), 2);

	/* top_k 1, a tiny top_p and min_p 1 all reduce sampling to argmax. */
	sp.greedy = false;
	sp.temperature = 1.0f;
	sp.top_p = 1.0f;
	for (i = 0; i < 50; i++) {
		memcpy(l, (float[]){ 0, 0.5f, 0.4f, 0, 0, 0 }, sizeof(l));
		sp.top_k = 1;
		assert_int_equal(engine_sample(&sm, l, NULL, &sp, -1, false, &rng), 1);
		sp.top_k = 0;
		sp.top_p = 0.01f;
		memcpy(l, (float[]){ 0, 0.5f, 0.4f, 0, 0, 0 }, sizeof(l));
		assert_int_equal(engine_sample(&sm, l, NULL, &sp, -1, false, &rng), 1);
		sp.top_p = 1.0f;
		sp.min_p = 1.0f;
		memcpy(l, (float[]){ 0, 0.5f, 0.4f, 0, 0, 0 }, sizeof(l));
		assert_int_equal(engine_sample(&sm, l, NULL, &sp, -1, false, &rng), 1);
		sp.min_p = 0.0f;
	}
	/* Draw frequencies follow softmax(l / T): p = 0.5, 0.3, 0.2. */
	sp.top_k = 3;
	for (i = 0; i < 30000; i++) {
		memcpy(l, (float[]){ logf(0.5f), logf(0.3f), logf(0.2f), -50, -50, -50 },
		       sizeof(l));
		counts[engine_sample(&sm, l, NULL, &sp, -1, false, &rng)]++;
	}
	assert_true(fabs(counts[0] / 30000.0 - 0.5) < 0.015);
	assert_true(fabs(counts[1] / 30000.0 - 0.3) < 0.015);
	assert_true(fabs(counts[2] / 30000.0 - 0.2) < 0.015);
	engine_sampler_release(&sm);
}

struct seen_tokens {
	size_t count;
	uint64_t last_ns;
	bool ordered;
	size_t per_request[8];
};

static void observe(void *ctx, size_t request, int32_t token, uint64_t t_ns)
{
	struct seen_tokens *st = ctx;

	(void)token;
	if (t_ns < st->last_ns)
		st->ordered = false;
	st->last_ns = t_ns;
	st->count++;
	if (request < 8)
		st->per_request[request]++;
}

static const int32_t p0[] = { 5, 9, 200, 17, 33 };
static const int32_t p1[] = { 100 };
static const int32_t p2[] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 301 };
static const int32_t p3[] = { 450, 12, 6 };

static void generate(struct engine_model *m, int batch, int threads, enum engine_dtype kv,
		     const struct engine_sampling *sp, struct engine_request_out outs[4],
		     struct seen_tokens *st)
{
	struct engine_request reqs[4] = { { p0, 5 }, { p1, 1 }, { p2, 11 }, { p3, 3 } };
	struct engine_session_opts so = { kv, threads, batch, 11 + sp->max_new_tokens, 0 };
	struct engine_observer obs = { observe, st };
	struct engine_session *s;

	assert_int_equal(engine_session_create(&s, m, &so), 0);
	assert_int_equal(engine_generate(s, reqs, 4, sp, &obs, outs), 0);
	engine_session_free(s);
}

static void assert_same_outputs(struct engine_request_out *a, struct engine_request_out *b)
{
	int i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(a[i].n_generated, b[i].n_generated);
		assert_memory_equal(a[i].tokens, b[i].tokens,
				    (size_t)a[i].n_generated * sizeof(int32_t));
	}
}

static void release4(struct engine_request_out *o)
{
	int i;

	for (i = 0; i < 4; i++)
		engine_request_out_release(&o[i]);
}

static void test_batched_equals_one_by_one_and_threads_do_not_matter(void **state)
{
	struct engine_model *m = build("tiny-llama", 3, ENGINE_F32);
	struct engine_sampling sp = {
		.greedy = true, .repetition_penalty = 1.0f, .max_new_tokens = 12, .ignore_eos = true
	};
	struct engine_request_out a[4], b[4], c[4];
	struct seen_tokens st = { 0, 0, true, { 0 } }, st2 = st, st3 = st;
	int i;

	(void)state;
	generate(m, 1, 1, ENGINE_F32, &sp, a, &st);
	generate(m, 4, 1, ENGINE_F32, &sp, b, &st2);
	generate(m, 3, 2, ENGINE_F32, &sp, c, &st3);
	assert_same_outputs(a, b);
	assert_same_outputs(a, c);
	/* ignore_eos: exactly max_new tokens each, all observed, in time order. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(a[i].n_generated, 12);
		assert_int_equal(st.per_request[i], 12);
		assert_true(a[i].start_ns <= a[i].first_token_ns);
		assert_true(a[i].first_token_ns <= a[i].end_ns);
	}
	assert_int_equal(st.count, 48);
	assert_true(st.ordered && st2.ordered && st3.ordered);
	/* Sampled (seeded per request) outputs do not depend on batching either. */
	release4(a);
	release4(b);
	release4(c);
	sp.greedy = false;
	sp.temperature = 0.9f;
	sp.top_k = 20;
	sp.top_p = 0.9f;
	sp.seed = 99;
	generate(m, 1, 1, ENGINE_F32, &sp, a, &st);
	generate(m, 4, 2, ENGINE_F32, &sp, b, &st2);
	assert_same_outputs(a, b);
	release4(a);
	release4(b);
	engine_model_free(m);
}

static void test_eos_stops_unless_suppressed(void **state)
{
	struct engine_model *m = build("tiny-llama", 3, ENGINE_F32);
	struct engine_sampling sp = {
		.greedy = true, .repetition_penalty = 1.0f, .max_new_tokens = 12, .ignore_eos = true
	};
	struct engine_request_out a[4], b[4];
	struct seen_tokens st = { 0, 0, true, { 0 } };
	int32_t eos;

	(void)state;
	generate(m, 4, 1, ENGINE_F32, &sp, a, &st);
	/* Make request 0's 4th greedy token the EOS id: it must stop there. */
	eos = a[0].tokens[3];
	engine_model_free(m);
	m = build_eos("tiny-llama", 3, ENGINE_F32, eos);
	sp.ignore_eos = false;
	generate(m, 4, 1, ENGINE_F32, &sp, b, &st);
	assert_true(b[0].stopped_at_eos);
	assert_true(b[0].n_generated <= 4);
	assert_int_equal(b[0].tokens[b[0].n_generated - 1], eos);
	release4(b);
	/* With min_new_tokens the EOS is suppressed until reached. */
	sp.min_new_tokens = 12;
	generate(m, 4, 1, ENGINE_F32, &sp, b, &st);
	assert_int_equal(b[0].n_generated, 12);
	assert_false(b[0].stopped_at_eos);
	release4(a);
	release4(b);
	engine_model_free(m);
}

/* Logits of a whole prompt in one prefill call vs one token per call. */
static void test_prefill_equals_step_by_step(void **state)
{
	struct engine_model *m = build("tiny-qwen2", 5, ENGINE_F32);
	struct engine_session_opts so = { ENGINE_F32, 1, 1, 16, 0 };
	struct engine_session *s1, *s2;
	int32_t toks[10] = { 4, 8, 15, 16, 23, 42, 108, 300, 3, 511 }, slots[10] = { 0 };
	int32_t pos[10];
	bool want[10];
	float *all = xmalloc(10 * 512 * sizeof(float)), *one = xmalloc(512 * sizeof(float));
	int i, j;

	(void)state;
	for (i = 0; i < 10; i++) {
		pos[i] = i;
		want[i] = true;
	}
	assert_int_equal(engine_session_create(&s1, m, &so), 0);
	assert_int_equal(engine_session_create(&s2, m, &so), 0);
	assert_int_equal(engine_forward(s1, toks, slots, pos, want, 10, all), 0);
	for (i = 0; i < 10; i++) {
		float maxabs = 0, maxdiff = 0;

		assert_int_equal(engine_forward(s2, &toks[i], slots, &pos[i], want, 1, one), 0);
		for (j = 0; j < 512; j++) {
			maxabs = fmaxf(maxabs, fabsf(all[i * 512 + j]));
			maxdiff = fmaxf(maxdiff, fabsf(all[i * 512 + j] - one[j]));
		}
		assert_true(maxdiff <= 1e-5f * maxabs);
	}
	/* Out-of-range inputs are errors, not crashes. */
	toks[0] = 512;
	assert_int_equal(engine_forward(s2, toks, slots, pos, want, 1, one), LLEM_EINVAL);
	engine_session_free(s1);
	engine_session_free(s2);
	free(all);
	free(one);
	engine_model_free(m);
}

/* Relative max error of logits under other weight/KV types vs fp32. */
static double logits_error(enum engine_dtype wt, enum engine_dtype kv)
{
	struct engine_model *ref = build("tiny-llama3", 11, ENGINE_F32);
	struct engine_model *m = build("tiny-llama3", 11, wt);
	struct engine_session_opts so = { ENGINE_F32, 1, 1, 24, 0 }, so2 = so;
	struct engine_session *s1, *s2;
	int32_t toks[24], slots[24] = { 0 }, pos[24];
	bool want[24];
	float *a = xmalloc(24 * 512 * sizeof(float)), *b = xmalloc(24 * 512 * sizeof(float));
	double maxabs = 0, maxdiff = 0;
	int i;

	for (i = 0; i < 24; i++) {
		toks[i] = (i * 37 + 11) % 512;
		pos[i] = i;
		want[i] = true;
	}
	so2.kv_dtype = kv;
	assert_int_equal(engine_session_create(&s1, ref, &so), 0);
	assert_int_equal(engine_session_create(&s2, m, &so2), 0);
	assert_int_equal(engine_forward(s1, toks, slots, pos, want, 24, a), 0);
	assert_int_equal(engine_forward(s2, toks, slots, pos, want, 24, b), 0);
	for (i = 0; i < 24 * 512; i++) {
		maxabs = fmax(maxabs, fabs(a[i]));
		maxdiff = fmax(maxdiff, fabs(a[i] - b[i]));
	}
	engine_session_free(s1);
	engine_session_free(s2);
	engine_model_free(ref);
	engine_model_free(m);
	free(a);
	free(b);
	return maxdiff / maxabs;
}

static void test_storage_types_stay_close_to_fp32(void **state)
{
	double e;

	(void)state;
	/* Synthetic weights are bf16 values: bf16 storage holds them exactly,
	 * so only activation rounding inside the kernels can differ. */
	e = logits_error(ENGINE_BF16, ENGINE_F32);
	print_message("bf16 weights: max rel error %.2e\n", e);
	assert_true(e < 2e-2);
	e = logits_error(ENGINE_F16, ENGINE_F32);
	print_message("fp16 weights: %.2e\n", e);
	assert_true(e < 2e-2);
	e = logits_error(ENGINE_Q8_0, ENGINE_F32);
	print_message("int8 weights: %.2e\n", e);
	assert_true(e < 5e-2);
	e = logits_error(ENGINE_F32, ENGINE_F16);
	print_message("fp16 KV cache: %.2e\n", e);
	assert_true(e < 1e-2);
	e = logits_error(ENGINE_F32, ENGINE_BF16);
	print_message("bf16 KV cache: %.2e\n", e);
	assert_true(e < 3e-2);
	e = logits_error(ENGINE_F32, ENGINE_Q8_0);
	print_message("int8 KV cache: %.2e\n", e);
	assert_true(e < 5e-2);
	e = logits_error(ENGINE_F32, ENGINE_F32);
	assert_true(e == 0.0);
}

static void test_model_info_counts_parameters(void **state)
{
	struct engine_model *m = build("smollm-135m", 1, ENGINE_BF16);
	struct engine_model_info info;

	(void)state;
	engine_model_get_info(m, &info);
	/* SmolLM-135M: 134,515,008 parameters (tied embeddings). */
	assert_int_equal(info.params_total, 134515008);
	assert_int_equal(info.params_embedding, 49152LL * 576);
	/* bf16: two bytes per matrix weight, norms (fp32 vectors) excluded. */
	assert_int_equal(info.step_bytes, 2 * (134515008 - 30 * 1152 - 576));
	engine_model_free(m);
}

static void test_session_limits(void **state)
{
	struct engine_model *m = build("tiny-llama", 1, ENGINE_F32);
	struct engine_session_opts so = { ENGINE_F32, 1, 2, 4, 0 };
	struct engine_sampling sp = {
		.greedy = true, .repetition_penalty = 1.0f, .max_new_tokens = 8, .ignore_eos = true
	};
	struct engine_request reqs[1] = { { p0, 5 } };
	struct engine_request_out out[1];
	struct engine_session *s;

	(void)state;
	assert_int_equal(engine_session_create(&s, m, &so), 0);
	/* A 5-token prompt does not fit a 4-token sequence. */
	assert_int_equal(engine_generate(s, reqs, 1, &sp, NULL, out), LLEM_EINVAL);
	engine_request_out_release(&out[0]);
	reqs[0].n_tokens = 2;
	/* 2 prompt tokens + generation stop when the cache is full. */
	assert_int_equal(engine_generate(s, reqs, 1, &sp, NULL, out), 0);
	assert_int_equal(out[0].n_generated, 3);
	engine_request_out_release(&out[0]);
	engine_session_free(s);
	engine_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_weights_follow_the_documented_recipe),
		cmocka_unit_test(test_byte_tokenizer),
		cmocka_unit_test(test_sampling_semantics),
		cmocka_unit_test(test_batched_equals_one_by_one_and_threads_do_not_matter),
		cmocka_unit_test(test_eos_stops_unless_suppressed),
		cmocka_unit_test(test_prefill_equals_step_by_step),
		cmocka_unit_test(test_storage_types_stay_close_to_fp32),
		cmocka_unit_test(test_model_info_counts_parameters),
		cmocka_unit_test(test_session_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
