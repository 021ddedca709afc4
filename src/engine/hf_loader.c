/*
 * Hugging Face model directories: config.json plus model.safetensors, or
 * model.safetensors.index.json and its shards. Every tensor the engine
 * will read is checked for presence, dtype and exact shape before the
 * model is handed out, and all problems are reported together, one line
 * each, so a wrong or incomplete checkpoint is diagnosed in one run.
 */
#include "engine/engine.h"
#include "engine/safetensors.h"
#include "engine/src_model.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
/* A directory of the wrong kind of model misses every tensor; past this
 * many lines the rest are counted, not listed. */
#define MAX_LISTED 24

/* What engine_src_close frees: the mappings and any realigned copies. */
struct hf_priv {
	struct engine_src_priv base; /* must stay first (src_model.h) */
	struct safetensors_file **files;
	size_t nfiles, files_cap;
	void **copies;
	size_t ncopies, copies_cap;
};

/* One tensor the checkpoint provides, and the file holding it. */
struct entry {
	const char *name;
	const struct safetensors_file *file;
	const struct safetensors_tensor *t;
};

struct loader {
	const char *dir;
	struct hf_priv *priv;
	struct entry *entries; /* sorted by name once collected */
	size_t nentries, entries_cap;
	struct strbuf problems;
	size_t nproblems;
};

static void hf_priv_release(struct engine_src_priv *base)
{
	struct hf_priv *p = (struct hf_priv *)base;
	size_t i;

	for (i = 0; i < p->ncopies; i++)
		free(p->copies[i]);
	for (i = 0; i < p->nfiles; i++)
		safetensors_close(p->files[i]);
	free(p->copies);
	free(p->files);
	free(p);
}

static void problem(struct loader *ld, const char *fmt, ...) LLEM_PRINTF(2, 3);

static void problem(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->nproblems++ >= MAX_LISTED)
		return;
	strbuf_adds(&ld->problems, "\n  ");
	va_start(ap, fmt);
	strbuf_vaddf(&ld->problems, fmt, ap);
	va_end(ap);
}

/* The error carrying every problem collected so far. */
static int problems_error(struct loader *ld, const char *what)
{
	if (ld->nproblems > MAX_LISTED)
		strbuf_addf(&ld->problems, "\n  ... and %zu more", ld->nproblems - MAX_LISTED);
	error_set(LLEM_EINVAL, "%s: %zu problem%s with %s:%s", ld->dir, ld->nproblems,
		  ld->nproblems == 1 ? "" : "s", what, strbuf_str(&ld->problems));
	return LLEM_EINVAL;
}

/* The file's name without the directory, for problem lines (the header
 * line already names the directory). */
static const char *file_label(const struct safetensors_file *f)
{
	const char *slash = strrchr(f->source, '/');

	return slash ? slash + 1 : f->source;
}

static void entry_add(struct loader *ld, const struct safetensors_file *f,
		      const struct safetensors_tensor *t)
{
	GROW(ld->entries, ld->entries_cap, ld->nentries + 1);
	ld->entries[ld->nentries].name = t->name;
	ld->entries[ld->nentries].file = f;
	ld->entries[ld->nentries].t = t;
	ld->nentries++;
}

static int file_add(struct loader *ld, struct safetensors_file *f)
{
	struct hf_priv *p = ld->priv;

	GROW(p->files, p->files_cap, p->nfiles + 1);
	p->files[p->nfiles] = f;
	return (int)p->nfiles++;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static const struct entry *entry_find(const struct loader *ld, const char *name)
{
	struct entry key = { name, NULL, NULL };

	if (!ld->nentries)
		return NULL;
	return bsearch(&key, ld->entries, ld->nentries, sizeof(key), cmp_entry);
}

static int load_single(struct loader *ld)
{
	struct safetensors_file *f;
	char *path = fs_join(ld->dir, SINGLE_NAME);
	size_t i;
	int rc;

	rc = safetensors_open(&f, path);
	free(path);
	if (rc)
		return rc;
	file_add(ld, f);
	for (i = 0; i < f->count; i++)
		entry_add(ld, f, &f->tensors[i]);
	return 0;
}

/* A shard must be a file of the model directory itself. */
static bool shard_name_ok(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/*
 * The index maps every tensor to a shard. Each shard is opened once, in
 * the order first named; a shard that is missing, or that lacks a tensor
 * the index puts in it, is a problem naming both.
 */
static int load_sharded(struct loader *ld, const char *index_path)
{
	json_error_t jerr;
	json_t *root = NULL, *map, *v;
	const char **shards = NULL; /* unique names, borrowed from root */
	int *file_of = NULL;        /* shard -> files[] index, -1 if absent */
	size_t nshards = 0, shards_cap = 0, i;
	const char *key;
	char *text = NULL;
	int rc;

	rc = fs_read_file(index_path, &text, NULL);
	if (rc)
		return rc;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = error_set(LLEM_EINVAL, "%s:%d:%d: not valid JSON: %s", index_path, jerr.line,
			       jerr.column, jerr.text);
		goto out;
	}
	map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
	if (!json_is_object(map)) {
		rc = error_set(LLEM_EINVAL,
			       "%s: no 'weight_map' object (tensor name -> shard file)",
			       index_path);
		goto out;
	}
	json_object_foreach(map, key, v)
	{
		const char *s = json_string_value(v);

		if (!s || !shard_name_ok(s)) {
			rc = error_set(
				LLEM_EINVAL,
				"%s: weight_map['%s'] must name a shard file in the model directory",
				index_path, key);
			goto out;
		}
		for (i = 0; i < nshards; i++)
			if (!strcmp(shards[i], s))
				break;
		if (i == nshards) {
			GROW(shards, shards_cap, nshards + 1);
			shards[nshards++] = s;
		}
	}

	file_of = xcalloc(nshards ? nshards : 1, sizeof(*file_of));
	for (i = 0; i < nshards; i++) {
		struct safetensors_file *f;
		char *path = fs_join(ld->dir, shards[i]);

		file_of[i] = -1;
		rc = safetensors_open(&f, path);
		free(path);
		if (rc == LLEM_ENOTFOUND) {
			const char *first = NULL;

			json_object_foreach(map, key, v)
			{
				if (!strcmp(json_string_value(v), shards[i])) {
					first = key;
					break;
				}
			}
			problem(ld, "%s names shard '%s' (for tensor '%s'), which is missing",
				INDEX_NAME, shards[i], first);
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		file_of[i] = file_add(ld, f);
	}

	json_object_foreach(map, key, v)
	{
		const struct safetensors_file *f;
		const struct safetensors_tensor *t;

		for (i = 0; strcmp(shards[i], json_string_value(v)); i++)
			;
		if (file_of[i] < 0)
			continue;
		f = ld->priv->files[file_of[i]];
		t = safetensors_find(f, key);
		if (!t) {
			problem(ld, "%s maps tensor '%s' to shard '%s', which does not hold it",
				INDEX_NAME, key, shards[i]);
			continue;
		}
		entry_add(ld, f, t);
	}
	if (ld->nproblems)
		rc = problems_error(ld, "the shards of " INDEX_NAME);
out:
	free(file_of);
	free(shards);
	json_decref(root);
	free(text);
	return rc;
}

static enum engine_dtype dtype_to_engine(enum safetensors_dtype t)
{
	switch (t) {
	case ST_F32: return ENGINE_F32;
	case ST_F16: return ENGINE_F16;
	case ST_BF16: return ENGINE_BF16;
	default: return ENGINE_DTYPE_NONE;
	}
}

static void shape_add(struct strbuf *sb, const int64_t *shape, int ndim)
{
	int i;

	strbuf_addch(sb, '[');
	for (i = 0; i < ndim; i++)
		strbuf_addf(sb, "%s%lld", i ? ", " : "", (long long)shape[i]);
	strbuf_addch(sb, ']');
}

/*
 * The tensor `name` must exist with shape [d0] (ndim 1) or [d0, d1] and a
 * float dtype; dst then points at its data. Kernels read elements through
 * typed pointers, so data that the file places off its element alignment
 * (legal in safetensors: offsets are in bytes) is copied to the heap.
 */
static void expect(struct loader *ld, struct engine_src_tensor *dst, int ndim, int64_t d0,
		   int64_t d1, const char *name)
{
	const int64_t want[2] = { d0, d1 };
	const struct entry *e = entry_find(ld, name);
	const struct safetensors_tensor *t;
	struct strbuf sb = STRBUF_INIT;
	enum engine_dtype dt;
	size_t elsize, nbytes;
	bool ok = true;

	memset(dst, 0, sizeof(*dst));
	shape_add(&sb, want, ndim);
	if (!e) {
		problem(ld, "tensor '%s' is missing (expected shape %s)", name, strbuf_str(&sb));
		strbuf_release(&sb);
		return;
	}
	t = e->t;
	dt = dtype_to_engine(t->dtype);
	if (dt == ENGINE_DTYPE_NONE) {
		problem(ld, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16",
			file_label(e->file), name, safetensors_dtype_name(t->dtype));
		ok = false;
	}
	if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
		struct strbuf got = STRBUF_INIT;

		shape_add(&got, t->shape, t->ndim);
		problem(ld, "%s: tensor '%s': shape %s, expected %s", file_label(e->file), name,
			strbuf_str(&got), strbuf_str(&sb));
		strbuf_release(&got);
		ok = false;
	}
	strbuf_release(&sb);
	if (!ok)
		return;

	dst->dtype = dt;
	dst->rows = ndim == 2 ? d0 : 1;
	dst->cols = ndim == 2 ? d1 : d0;
	dst->data = t->data;
	elsize = safetensors_dtype_size(t->dtype);
	if ((uintptr_t)t->data % elsize) {
		struct hf_priv *p = ld->priv;
		void *copy;

		nbytes = (size_t)(t->end - t->begin);
		copy = xmalloc(nbytes ? nbytes : 1);
		memcpy(copy, t->data, nbytes);
		GROW(p->copies, p->copies_cap, p->ncopies + 1);
		p->copies[p->ncopies++] = copy;
		dst->data = copy;
	}
}

static void expect_all(struct loader *ld, struct engine_src_model *m)
{
	const struct engine_arch *a = &m->arch;
	const int64_t hidden = a->hidden_size, inter = a->intermediate_size;
	const int64_t q_out = (int64_t)a->num_heads * a->head_dim;
	const int64_t kv_out = (int64_t)a->num_kv_heads * a->head_dim;
	char name[128];
	int i;

	expect(ld, &m->embed, 2, a->vocab_size, hidden, "model.embed_tokens.weight");
	for (i = 0; i < a->num_layers; i++) {
		struct engine_src_layer *l = &m->layers[i];

#define LAYER(dst, nd, d0, d1, suffix)                                                             \
	do {                                                                                       \
		snprintf(name, sizeof(name), "model.layers.%d.%s", i, suffix);                     \
		expect(ld, dst, nd, d0, d1, name);                                                 \
	} while (0)
		LAYER(&l->attn_norm, 1, hidden, 0, "input_layernorm.weight");
		LAYER(&l->wq, 2, q_out, hidden, "self_attn.q_proj.weight");
		LAYER(&l->wk, 2, kv_out, hidden, "self_attn.k_proj.weight");
		LAYER(&l->wv, 2, kv_out, hidden, "self_attn.v_proj.weight");
		LAYER(&l->wo, 2, hidden, q_out, "self_attn.o_proj.weight");
		if (a->qkv_bias) {
			LAYER(&l->bq, 1, q_out, 0, "self_attn.q_proj.bias");
			LAYER(&l->bk, 1, kv_out, 0, "self_attn.k_proj.bias");
			LAYER(&l->bv, 1, kv_out, 0, "self_attn.v_proj.bias");
		}
		LAYER(&l->ffn_norm, 1, hidden, 0, "post_attention_layernorm.weight");
		LAYER(&l->w_gate, 2, inter, hidden, "mlp.gate_proj.weight");
		LAYER(&l->w_up, 2, inter, hidden, "mlp.up_proj.weight");
		LAYER(&l->w_down, 2, hidden, inter, "mlp.down_proj.weight");
#undef LAYER
	}
	expect(ld, &m->final_norm, 1, hidden, 0, "model.norm.weight");
	/* Tied models use embed for the output; a stray lm_head.weight that
	 * some exporters write anyway is ignored. */
	if (!a->tie_word_embeddings)
		expect(ld, &m->lm_head, 2, a->vocab_size, hidden, "lm_head.weight");
}

int engine_hf_open(struct engine_src_model *out, const char *dir)
{
	struct loader ld = { dir, NULL, NULL, 0, 0, STRBUF_INIT, 0 };
	struct engine_src_model m;
	char *config_path = fs_join(dir, "config.json");
	char *index_path = fs_join(dir, INDEX_NAME);
	char *single_path = fs_join(dir, SINGLE_NAME);
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&m, 0, sizeof(m));
	if (!fs_is_dir(dir)) {
		rc = fs_exists(dir)
			     ? error_set(LLEM_EINVAL, "model path '%s' is not a directory", dir)
			     : error_set(LLEM_ENOTFOUND, "model directory '%s' does not exist",
					 dir);
		goto out;
	}
	if (!fs_exists(config_path)) {
		rc = error_set(LLEM_ENOTFOUND,
			       "%s: no config.json (not a Hugging Face model directory)", dir);
		goto out;
	}
	rc = fs_read_file(config_path, &text, NULL);
	if (rc)
		goto out;
	rc = engine_arch_from_json(&m.arch, text, config_path);
	if (rc)
		goto out;

	ld.priv = xcalloc(1, sizeof(*ld.priv));
	ld.priv->base.release = hf_priv_release;
	if (fs_exists(index_path)) {
		rc = load_sharded(&ld, index_path);
	} else if (fs_exists(single_path)) {
		rc = load_single(&ld);
	} else {
		char *bin = fs_join(dir, "pytorch_model.bin");
		const char *why =
			fs_exists(bin)
				? " (pytorch_model.bin is not read: only safetensors weights are supported)"
				: "";

		rc = error_set(LLEM_ENOTFOUND, "%s: no " SINGLE_NAME " or " INDEX_NAME "%s", dir,
			       why);
		free(bin);
	}
	if (rc)
		goto out;
	/* qsort needs a valid pointer even for no elements: an index that
	 * maps nothing leaves entries NULL. */
	if (ld.nentries > 1)
		qsort(ld.entries, ld.nentries, sizeof(*ld.entries), cmp_entry);

	m.layers = xcalloc((size_t)m.arch.num_layers, sizeof(*m.layers));
	expect_all(&ld, &m);
	if (ld.nproblems) {
		rc = problems_error(&ld, "the model's tensors");
		goto out;
	}
	m.priv = &ld.priv->base;
	ld.priv = NULL;
	*out = m;
	memset(&m, 0, sizeof(m));
out:
	free(m.layers);
	if (ld.priv)
		hf_priv_release(&ld.priv->base);
	free(ld.entries);
	strbuf_release(&ld.problems);
	free(text);
	free(single_path);
	free(index_path);
	free(config_path);
	return rc;
}
