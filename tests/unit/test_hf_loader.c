/*
 * Tests for loading Hugging Face model directories: tiny models written
 * here (config.json + safetensors, single or sharded) load with every
 * tensor pointing at exactly the bytes written, and broken ones report
 * every problem at once, each naming its tensor and file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "engine/engine.h"
#include "engine/safetensors.h"
#include "llem/errors.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tiny model's shapes (config.json below). */
#define VOCAB 512
#define HIDDEN 64
#define INTER 176
#define HEADS 4
#define KV 2
#define HD 16
#define LAYERS 2

struct tdesc {
	char name[96];
	enum safetensors_dtype dtype;
	int ndim;
	int64_t shape[2];
	int shard;
};

struct tlist {
	struct tdesc *items;
	size_t n, cap;
};

static struct tdesc *tl_add(struct tlist *l, enum safetensors_dtype dt, int ndim, int64_t d0,
			    int64_t d1, const char *name)
{
	struct tdesc *d;

	GROW(l->items, l->cap, l->n + 1);
	d = &l->items[l->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->dtype = dt;
	d->ndim = ndim;
	d->shape[0] = d0;
	d->shape[1] = d1;
	return d;
}

static struct tdesc *tl_get(struct tlist *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].name, name))
			return &l->items[i];
	fail_msg("no tensor %s in the test model", name);
	return NULL;
}

static void tl_remove(struct tlist *l, const char *name)
{
	struct tdesc *d = tl_get(l, name);
	size_t i = (size_t)(d - l->items);

	memmove(d, d + 1, (l->n - i - 1) * sizeof(*d));
	l->n--;
}

/* Every tensor a Llama/Qwen2 checkpoint holds, all of dtype dt. */
static void tl_model(struct tlist *l, enum safetensors_dtype dt, bool bias, bool lm_head)
{
	char name[96];
	int i;

	tl_add(l, dt, 2, VOCAB, HIDDEN, "model.embed_tokens.weight");
	for (i = 0; i < LAYERS; i++) {
#define T(nd, d0, d1, suffix)                                                                      \
	do {                                                                                       \
		snprintf(name, sizeof(name), "model.layers.%d.%s", i, suffix);                     \
		tl_add(l, dt, nd, d0, d1, name);                                                   \
	} while (0)
		T(1, HIDDEN, 0, "input_layernorm.weight");
		T(2, HEADS * HD, HIDDEN, "self_attn.q_proj.weight");
		T(2, KV * HD, HIDDEN, "self_attn.k_proj.weight");
		T(2, KV * HD, HIDDEN, "self_attn.v_proj.weight");
		T(2, HIDDEN, HEADS * HD, "self_attn.o_proj.weight");
		if (bias) {
			T(1, HEADS * HD, 0, "self_attn.q_proj.bias");
			T(1, KV * HD, 0, "self_attn.k_proj.bias");
			T(1, KV * HD, 0, "self_attn.v_proj.bias");
		}
		T(1, HIDDEN, 0, "post_attention_layernorm.weight");
		T(2, INTER, HIDDEN, "mlp.gate_proj.weight");
		T(2, INTER, HIDDEN, "mlp.up_proj.weight");
		T(2, HIDDEN, INTER, "mlp.down_proj.weight");
#undef T
	}
	tl_add(l, dt, 1, HIDDEN, 0, "model.norm.weight");
	if (lm_head)
		tl_add(l, dt, 2, VOCAB, HIDDEN, "lm_head.weight");
}

static size_t tdesc_bytes(const struct tdesc *d)
{
	size_t n = safetensors_dtype_size(d->dtype);
	int i;

	for (i = 0; i < d->ndim; i++)
		n *= (size_t)d->shape[i];
	return n;
}

/* f16 bits of a float that f16 represents exactly (normal or zero). */
static uint16_t f16_exact(float f)
{
	uint32_t u;
	unsigned exp;

	memcpy(&u, &f, sizeof(u));
	exp = (u >> 23) & 0xff;
	if (!exp)
		return (uint16_t)((u >> 31) << 15);
	return (uint16_t)(((u >> 31) << 15) | ((exp - 127 + 15) << 10) | ((u >> 13) & 0x3ff));
}

/*
 * The bytes of a tensor: values k/64 - 0.75 that F32, F16 and BF16 all
 * hold exactly, different for every tensor name, so a pointer to the
 * wrong tensor or offset cannot pass.
 */
static uint8_t *tdesc_data(const struct tdesc *d)
{
	size_t n = tdesc_bytes(d), esz = safetensors_dtype_size(d->dtype);
	size_t count = esz ? n / esz : 0, j;
	uint8_t *buf = xcalloc(n ? n : 1, 1);
	unsigned h = 5381;
	const char *p;

	for (p = d->name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	for (j = 0; j < count; j++) {
		float v = (float)((h + j * 7) % 97) / 64.0f - 0.75f;
		uint32_t u;
		uint16_t s;
		int64_t i64 = (int64_t)j;

		memcpy(&u, &v, sizeof(u));
		switch (d->dtype) {
		case ST_F32: memcpy(buf + 4 * j, &v, 4); break;
		case ST_F16:
			s = f16_exact(v);
			memcpy(buf + 2 * j, &s, 2);
			break;
		case ST_BF16:
			s = (uint16_t)(u >> 16);
			memcpy(buf + 2 * j, &s, 2);
			break;
		case ST_I64: memcpy(buf + 8 * j, &i64, 8); break;
		default: buf[j * esz] = (uint8_t)j; break;
		}
	}
	return buf;
}

/* Writes the tensors of one shard (all when shard < 0) in list order. */
static void write_st(const char *path, const struct tlist *l, int shard)
{
	struct strbuf hdr = STRBUF_INIT, data = STRBUF_INIT, file = STRBUF_INIT;
	uint8_t len8[8];
	size_t i;

	strbuf_adds(&hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (i = 0; i < l->n; i++) {
		const struct tdesc *d = &l->items[i];
		uint8_t *bytes;
		size_t n = tdesc_bytes(d);
		int k;

		if (shard >= 0 && d->shard != shard)
			continue;
		strbuf_addf(&hdr, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", d->name,
			    safetensors_dtype_name(d->dtype));
		for (k = 0; k < d->ndim; k++)
			strbuf_addf(&hdr, "%s%lld", k ? "," : "", (long long)d->shape[k]);
		strbuf_addf(&hdr, "],\"data_offsets\":[%zu,%zu]}", data.len, data.len + n);
		bytes = tdesc_data(d);
		strbuf_add(&data, bytes, n);
		free(bytes);
	}
	strbuf_addch(&hdr, '}');
	while (hdr.len % 8) /* as safetensors writers pad */
		strbuf_addch(&hdr, ' ');
	for (i = 0; i < 8; i++)
		len8[i] = (uint8_t)((uint64_t)hdr.len >> (8 * i));
	strbuf_add(&file, len8, 8);
	strbuf_add(&file, hdr.buf, hdr.len);
	strbuf_add(&file, data.buf ? data.buf : "", data.len);
	assert_int_equal(atomic_write_file(path, file.buf, file.len), 0);
	strbuf_release(&hdr);
	strbuf_release(&data);
	strbuf_release(&file);
}

static void write_config(const char *dir, const char *model_type, bool tied)
{
	char *path = fs_join(dir, "config.json");
	char *text = xasprintf(
		"{\"architectures\": [\"X\"], \"model_type\": \"%s\","
		" \"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d,"
		" \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
		" \"num_key_value_heads\": %d, \"rms_norm_eps\": 1e-05,"
		" \"tie_word_embeddings\": %s, \"torch_dtype\": \"float32\"}",
		model_type, VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV, tied ? "true" : "false");

	test_write_text(path, text);
	free(text);
	free(path);
}

static void write_single(const char *dir, const struct tlist *l)
{
	char *path = fs_join(dir, "model.safetensors");

	write_st(path, l, -1);
	free(path);
}

static const char *const shard_names[2] = { "model-00001-of-00002.safetensors",
					    "model-00002-of-00002.safetensors" };

/* Two shards, tensors alternating between them, and the index. */
static void write_sharded(const char *dir, struct tlist *l)
{
	struct strbuf idx = STRBUF_INIT;
	char *path;
	size_t i;
	int s;

	for (i = 0; i < l->n; i++)
		l->items[i].shard = (int)(i % 2);
	for (s = 0; s < 2; s++) {
		path = fs_join(dir, shard_names[s]);
		write_st(path, l, s);
		free(path);
	}
	strbuf_adds(&idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
	for (i = 0; i < l->n; i++)
		strbuf_addf(&idx, "%s\"%s\": \"%s\"", i ? ", " : "", l->items[i].name,
			    shard_names[l->items[i].shard]);
	strbuf_adds(&idx, "}}");
	path = fs_join(dir, "model.safetensors.index.json");
	test_write_text(path, idx.buf);
	free(path);
	strbuf_release(&idx);
}

/* The model tensor that name fills, or NULL for tensors it ignores. */
static const struct engine_src_tensor *model_tensor(const struct engine_src_model *m,
						    const char *name)
{
	static const char *const suffix[] = { "input_layernorm.weight",
					      "self_attn.q_proj.weight",
					      "self_attn.k_proj.weight",
					      "self_attn.v_proj.weight",
					      "self_attn.o_proj.weight",
					      "self_attn.q_proj.bias",
					      "self_attn.k_proj.bias",
					      "self_attn.v_proj.bias",
					      "post_attention_layernorm.weight",
					      "mlp.gate_proj.weight",
					      "mlp.up_proj.weight",
					      "mlp.down_proj.weight" };
	char buf[96];
	int i;
	size_t k;

	if (!strcmp(name, "model.embed_tokens.weight"))
		return &m->embed;
	if (!strcmp(name, "model.norm.weight"))
		return &m->final_norm;
	if (!strcmp(name, "lm_head.weight"))
		return &m->lm_head;
	for (i = 0; i < m->arch.num_layers; i++) {
		const struct engine_src_layer *l = &m->layers[i];
		const struct engine_src_tensor *t[] = { &l->attn_norm, &l->wq,   &l->wk,
							&l->wv,        &l->wo,   &l->bq,
							&l->bk,        &l->bv,   &l->ffn_norm,
							&l->w_gate,    &l->w_up, &l->w_down };

		for (k = 0; k < ARRAY_SIZE(suffix); k++) {
			snprintf(buf, sizeof(buf), "model.layers.%d.%s", i, suffix[k]);
			if (!strcmp(name, buf))
				return t[k];
		}
	}
	return NULL;
}

static enum engine_dtype engine_of(enum safetensors_dtype t)
{
	return t == ST_F32 ? ENGINE_F32 : t == ST_F16 ? ENGINE_F16 : ENGINE_BF16;
}

/* Every written tensor the model uses holds exactly the bytes written,
 * at an address aligned for its element type. */
static void check_model(const struct engine_src_model *m, const struct tlist *l, bool tied)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct tdesc *d = &l->items[i];
		const struct engine_src_tensor *t = model_tensor(m, d->name);
		uint8_t *want;

		if (!t)
			continue;
		if (tied && !strcmp(d->name, "lm_head.weight")) {
			assert_int_equal(t->dtype, ENGINE_DTYPE_NONE);
			assert_null(t->data);
			continue;
		}
		assert_int_equal(t->dtype, engine_of(d->dtype));
		assert_int_equal(t->rows, d->ndim == 2 ? d->shape[0] : 1);
		assert_int_equal(t->cols, d->ndim == 2 ? d->shape[1] : d->shape[0]);
		assert_int_equal((uintptr_t)t->data % safetensors_dtype_size(d->dtype), 0);
		want = tdesc_data(d);
		assert_memory_equal(t->data, want, tdesc_bytes(d));
		free(want);
	}
}

static void expect_open_fails(const char *dir, int code, const char *msg_tail)
{
	struct engine_src_model m;
	char *want = xasprintf("%s%s", dir, msg_tail);

	assert_int_equal(engine_hf_open(&m, dir), code);
	assert_string_equal(error_last(), want);
	assert_null(m.layers);
	assert_null(m.priv);
	engine_src_close(&m); /* harmless on a failed open */
	free(want);
}

static void test_hf_open_untied_llama(void **state)
{
	struct tlist l = { 0 };
	struct engine_src_model m;
	char *dir = test_tmpdir("hf");

	(void)state;
	tl_model(&l, ST_F32, false, true);
	/* Extra tensors some exporters write are ignored. */
	tl_add(&l, ST_F32, 1, HD / 2, 0, "model.layers.0.self_attn.rotary_emb.inv_freq");
	write_config(dir, "llama", false);
	write_single(dir, &l);
	if (engine_hf_open(&m, dir))
		fail_msg("%s", error_last());
	assert_string_equal(m.arch.model_type, "llama");
	assert_int_equal(m.arch.num_layers, LAYERS);
	assert_int_equal(m.arch.head_dim, HD);
	assert_int_equal(m.lm_head.dtype, ENGINE_F32);
	assert_int_equal(m.layers[1].bq.dtype, ENGINE_DTYPE_NONE);
	assert_null(m.layers[1].bq.data);
	assert_int_equal(m.layers[1].w_down.rows, HIDDEN);
	assert_int_equal(m.layers[1].w_down.cols, INTER);
	check_model(&m, &l, false);
	engine_src_close(&m);
	assert_null(m.layers);
	assert_null(m.priv);
	engine_src_close(&m); /* twice is harmless */
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_tied_qwen2_with_biases_and_mixed_dtypes(void **state)
{
	struct tlist l = { 0 };
	struct engine_src_model m;
	char *dir = test_tmpdir("hf");

	(void)state;
	/* A stray lm_head.weight in a tied model is ignored. */
	tl_model(&l, ST_BF16, true, true);
	tl_get(&l, "model.norm.weight")->dtype = ST_F32;
	tl_get(&l, "model.layers.1.self_attn.k_proj.bias")->dtype = ST_F16;
	tl_get(&l, "model.layers.0.mlp.up_proj.weight")->dtype = ST_F16;
	write_config(dir, "qwen2", true);
	write_single(dir, &l);
	if (engine_hf_open(&m, dir))
		fail_msg("%s", error_last());
	assert_true(m.arch.qkv_bias);
	assert_true(m.arch.tie_word_embeddings);
	assert_int_equal(m.lm_head.dtype, ENGINE_DTYPE_NONE);
	assert_int_equal(m.embed.dtype, ENGINE_BF16);
	assert_int_equal(m.final_norm.dtype, ENGINE_F32);
	assert_int_equal(m.layers[1].bk.dtype, ENGINE_F16);
	assert_int_equal(m.layers[1].bk.rows, 1);
	assert_int_equal(m.layers[1].bk.cols, KV * HD);
	assert_int_equal(m.layers[0].bq.cols, HEADS * HD);
	check_model(&m, &l, true);
	engine_src_close(&m);

	/* Tied and without lm_head.weight: the usual case. */
	tl_remove(&l, "lm_head.weight");
	write_single(dir, &l);
	if (engine_hf_open(&m, dir))
		fail_msg("%s", error_last());
	check_model(&m, &l, true);
	engine_src_close(&m);
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_realigns_misaligned_tensors(void **state)
{
	struct tlist l = { 0 };
	struct engine_src_model m;
	char *dir = test_tmpdir("hf");

	(void)state;
	/* Three bytes of U8 first put every later tensor off alignment. */
	tl_add(&l, ST_U8, 1, 3, 0, "extra.odd");
	tl_model(&l, ST_F32, false, true);
	tl_get(&l, "model.norm.weight")->dtype = ST_BF16;
	write_config(dir, "llama", false);
	write_single(dir, &l);
	if (engine_hf_open(&m, dir))
		fail_msg("%s", error_last());
	check_model(&m, &l, false);
	engine_src_close(&m);
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_sharded(void **state)
{
	struct tlist l = { 0 };
	struct engine_src_model m;
	char *dir = test_tmpdir("hf");

	(void)state;
	tl_model(&l, ST_BF16, false, true);
	write_config(dir, "llama", false);
	write_sharded(dir, &l);
	if (engine_hf_open(&m, dir))
		fail_msg("%s", error_last());
	check_model(&m, &l, false);
	engine_src_close(&m);
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_sharded_problems_name_tensor_and_shard(void **state)
{
	struct tlist l = { 0 };
	char *dir = test_tmpdir("hf"), *path;

	(void)state;
	tl_model(&l, ST_BF16, false, true);
	write_config(dir, "llama", false);
	write_sharded(dir, &l);

	/* The second shard without its first tensor (the index still
	 * maps it there), then without the file at all. */
	tl_remove(&l, "model.layers.0.input_layernorm.weight");
	path = fs_join(dir, shard_names[1]);
	write_st(path, &l, 1);
	expect_open_fails(
		dir, LLEM_EINVAL,
		": 1 problem with the shards of model.safetensors.index.json:\n"
		"  model.safetensors.index.json maps tensor 'model.layers.0.input_layernorm.weight'"
		" to shard 'model-00002-of-00002.safetensors', which does not hold it");
	assert_int_equal(unlink(path), 0);
	expect_open_fails(
		dir, LLEM_EINVAL,
		": 1 problem with the shards of model.safetensors.index.json:\n"
		"  model.safetensors.index.json names shard 'model-00002-of-00002.safetensors'"
		" (for tensor 'model.layers.0.input_layernorm.weight'), which is missing");
	free(path);

	path = fs_join(dir, "model.safetensors.index.json");
	test_write_text(path, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
	expect_open_fails(
		dir, LLEM_EINVAL,
		"/model.safetensors.index.json: weight_map['a'] must name a shard file in the model directory");
	test_write_text(path, "{\"metadata\": {}}");
	expect_open_fails(
		dir, LLEM_EINVAL,
		"/model.safetensors.index.json: no 'weight_map' object (tensor name -> shard file)");
	test_write_text(path, "{\"weight_map\": ");
	expect_open_fails(
		dir, LLEM_EINVAL,
		"/model.safetensors.index.json:1:15: not valid JSON: unexpected token near end of file");
	/* An index that maps nothing: every tensor is missing, no tensor list
	 * to sort (UBSan caught qsort(NULL, 0) here). */
	test_write_text(path, "{\"weight_map\": {}}");
	{
		struct engine_src_model m;

		assert_int_equal(engine_hf_open(&m, dir), LLEM_EINVAL);
		assert_non_null(strstr(error_last(),
				       ": 21 problems with the model's tensors:\n"
				       "  tensor 'model.embed_tokens.weight' is missing"));
		assert_null(m.priv);
		engine_src_close(&m);
	}
	free(path);
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_lists_every_tensor_problem(void **state)
{
	struct tlist l = { 0 };
	char *dir = test_tmpdir("hf");
	struct tdesc *d;

	(void)state;
	tl_model(&l, ST_F32, false, true);
	tl_remove(&l, "model.layers.1.mlp.up_proj.weight");
	d = tl_get(&l, "model.layers.0.self_attn.q_proj.weight");
	d->shape[0] = HEADS * HD + 1;
	tl_get(&l, "model.norm.weight")->ndim = 2; /* [64, 0] */
	d = tl_get(&l, "lm_head.weight");
	d->dtype = ST_I64;
	d->shape[0] = 7; /* both dtype and shape wrong: two lines */
	write_config(dir, "llama", false);
	write_single(dir, &l);
	expect_open_fails(
		dir, LLEM_EINVAL,
		": 5 problems with the model's tensors:\n"
		"  model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight': shape [65, 64], expected [64, 64]\n"
		"  tensor 'model.layers.1.mlp.up_proj.weight' is missing (expected shape [176, 64])\n"
		"  model.safetensors: tensor 'model.norm.weight': shape [64, 0], expected [64]\n"
		"  model.safetensors: tensor 'lm_head.weight': dtype I64, expected F32, F16 or BF16\n"
		"  model.safetensors: tensor 'lm_head.weight': shape [7, 64], expected [512, 64]");

	/* Untied without lm_head.weight. */
	l.n = 0;
	tl_model(&l, ST_F32, false, false);
	write_single(dir, &l);
	expect_open_fails(dir, LLEM_EINVAL,
			  ": 1 problem with the model's tensors:\n"
			  "  tensor 'lm_head.weight' is missing (expected shape [512, 64])");

	/* A file of some other model: every tensor missing (27 of a Qwen2
	 * with biases), the list cut after 24. */
	l.n = 0;
	tl_add(&l, ST_F32, 1, 4, 0, "transformer.wte.weight");
	write_single(dir, &l);
	write_config(dir, "qwen2", false);
	{
		struct engine_src_model m;
		const char *msg;

		assert_int_equal(engine_hf_open(&m, dir), LLEM_EINVAL);
		msg = error_last();
		assert_non_null(strstr(
			msg,
			": 27 problems with the model's tensors:\n"
			"  tensor 'model.embed_tokens.weight' is missing (expected shape [512, 64])\n"));
		assert_true(str_ends_with(msg, "\n  ... and 3 more"));
	}
	free(l.items);
	test_rm_rf(dir);
	free(dir);
}

static void test_hf_open_directory_errors(void **state)
{
	char *dir = test_tmpdir("hf"), *sub = fs_join(dir, "nope"), *path;
	struct engine_src_model m;
	char *want;

	(void)state;
	assert_int_equal(engine_hf_open(&m, sub), LLEM_ENOTFOUND);
	want = xasprintf("model directory '%s' does not exist", sub);
	assert_string_equal(error_last(), want);
	free(want);

	expect_open_fails(dir, LLEM_ENOTFOUND,
			  ": no config.json (not a Hugging Face model directory)");
	write_config(dir, "llama", false);
	expect_open_fails(dir, LLEM_ENOTFOUND,
			  ": no model.safetensors or model.safetensors.index.json");
	path = fs_join(dir, "pytorch_model.bin");
	test_write_text(path, "x");
	expect_open_fails(
		dir, LLEM_ENOTFOUND,
		": no model.safetensors or model.safetensors.index.json"
		" (pytorch_model.bin is not read: only safetensors weights are supported)");
	free(path);

	/* A path that is a file, and a config error naming config.json. */
	path = fs_join(dir, "config.json");
	assert_int_equal(engine_hf_open(&m, path), LLEM_EINVAL);
	want = xasprintf("model path '%s' is not a directory", path);
	assert_string_equal(error_last(), want);
	free(want);
	test_write_text(path, "{\"model_type\": \"bert\"}");
	assert_int_equal(engine_hf_open(&m, dir), LLEM_ENOTSUP);
	want = xasprintf("%s: model_type 'bert' is not supported (llama, mistral and qwen2 are)",
			 path);
	assert_string_equal(error_last(), want);
	free(want);

	/* A damaged weights file: the safetensors error names it. */
	write_config(dir, "llama", false);
	free(path);
	path = fs_join(dir, "model.safetensors");
	test_write_text(path, "abc");
	assert_int_equal(engine_hf_open(&m, dir), LLEM_EINVAL);
	want = xasprintf(
		"%s: too small for a safetensors file (3 bytes; the header length alone takes 8)",
		path);
	assert_string_equal(error_last(), want);
	free(want);
	free(path);
	free(sub);
	test_rm_rf(dir);
	free(dir);
}

static void test_engine_dtype_names(void **state)
{
	(void)state;
	assert_string_equal(engine_dtype_name(ENGINE_DTYPE_NONE), "none");
	assert_string_equal(engine_dtype_name(ENGINE_F32), "float32");
	assert_string_equal(engine_dtype_name(ENGINE_F16), "float16");
	assert_string_equal(engine_dtype_name(ENGINE_BF16), "bfloat16");
	assert_string_equal(engine_dtype_name(ENGINE_Q8_0), "q8_0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hf_open_untied_llama),
		cmocka_unit_test(test_hf_open_tied_qwen2_with_biases_and_mixed_dtypes),
		cmocka_unit_test(test_hf_open_realigns_misaligned_tensors),
		cmocka_unit_test(test_hf_open_sharded),
		cmocka_unit_test(test_hf_open_sharded_problems_name_tensor_and_shard),
		cmocka_unit_test(test_hf_open_lists_every_tensor_problem),
		cmocka_unit_test(test_hf_open_directory_errors),
		cmocka_unit_test(test_engine_dtype_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
