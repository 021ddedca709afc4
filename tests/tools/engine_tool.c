/*
 * Test tool: drives the native engine directly, for the cross-checks
 * against Hugging Face transformers (tests/cli/test_engine_hf.py).
 *   engine_tool logits   --model M [opts] --tokens 1,2,3
 *   engine_tool generate --model M [opts] --prompts "1,2;3,4" --max-new N
 * opts: --seed S --precision fp32|fp16|bf16 --quant none|int8
 *       --kv fp32|fp16|bf16|int8 --threads T --batch-size B --greedy
 *       --ignore-eos
 * M is a model directory or synthetic/<preset>. Output is JSON on stdout.
 */
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
	const char *mode, *model, *tokens, *prompts;
	uint64_t seed;
	enum engine_dtype weights, kv;
	int threads, batch, max_new;
	bool greedy, ignore_eos;
};

static int die(const char *msg)
{
	fprintf(stderr, "engine_tool: %s\n", msg);
	return 1;
}

static enum engine_dtype parse_dtype(const char *s)
{
	if (!strcmp(s, "fp32"))
		return ENGINE_F32;
	if (!strcmp(s, "fp16"))
		return ENGINE_F16;
	if (!strcmp(s, "bf16"))
		return ENGINE_BF16;
	if (!strcmp(s, "int8"))
		return ENGINE_Q8_0;
	return ENGINE_DTYPE_NONE;
}

/* "1,2,3" -> ids; returns the count or -1. */
static int parse_ids(const char *s, int32_t **out)
{
	int n = 0, cap = 0;
	int32_t *ids = NULL;
	const char *p = s;

	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, (size_t)cap * sizeof(*ids));
		}
		ids[n++] = (int32_t)v;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',') {
			free(ids);
			return -1;
		}
	}
	*out = ids;
	return n;
}

static int load_model(struct engine_model **out, const struct opts *o)
{
	struct engine_src_model src;
	int rc;

	if (str_starts_with(o->model, "synthetic/")) {
		struct engine_arch arch;

		rc = engine_preset_find(&arch, o->model + 10);
		if (!rc)
			rc = engine_synthetic_build(&src, &arch, o->seed);
	} else {
		rc = engine_hf_open(&src, o->model);
	}
	if (rc)
		return rc;
	rc = engine_model_create(out, &src, o->weights);
	engine_src_close(&src);
	return rc;
}

static void print_floats(struct strbuf *sb, const float *v, int n)
{
	int i;

	strbuf_addch(sb, '[');
	for (i = 0; i < n; i++) {
		if (i)
			strbuf_adds(sb, ", ");
		numfmt_double(sb, (double)v[i]);
	}
	strbuf_addch(sb, ']');
}

static int do_logits(struct engine_model *m, const struct opts *o)
{
	struct engine_model_info info;
	struct engine_session_opts so = { o->kv, o->threads, 1, 0, 0 };
	struct engine_session *s;
	struct strbuf sb = STRBUF_INIT;
	int32_t *ids, *slots, *pos;
	bool *want;
	float *logits;
	int n = parse_ids(o->tokens, &ids), i, done = 0, chunk;

	if (n < 1)
		return die("--tokens needs a comma-separated list of ids");
	engine_model_get_info(m, &info);
	so.max_seq = n;
	if (engine_session_create(&s, m, &so) != 0)
		return die(error_last());
	chunk = engine_session_chunk(s);
	slots = xcalloc((size_t)n, sizeof(*slots));
	pos = xmalloc((size_t)n * sizeof(*pos));
	want = xmalloc((size_t)n * sizeof(*want));
	logits = xmalloc((size_t)n * (size_t)info.arch->vocab_size * sizeof(float));
	for (i = 0; i < n; i++) {
		pos[i] = i;
		want[i] = true;
	}
	while (done < n) {
		int k = n - done < chunk ? n - done : chunk;

		if (engine_forward(s, ids + done, slots + done, pos + done, want + done, k,
				   logits + (size_t)done * info.arch->vocab_size) != 0)
			return die(error_last());
		done += k;
	}
	strbuf_addf(&sb, "{\"vocab_size\": %d, \"kernels\": \"%s\", \"logits\": [",
		    info.arch->vocab_size, engine_kernels());
	for (i = 0; i < n; i++) {
		if (i)
			strbuf_adds(&sb, ",\n");
		print_floats(&sb, logits + (size_t)i * info.arch->vocab_size,
			     info.arch->vocab_size);
	}
	strbuf_adds(&sb, "]}\n");
	fputs(sb.buf, stdout);
	strbuf_release(&sb);
	free(ids);
	free(slots);
	free(pos);
	free(want);
	free(logits);
	engine_session_free(s);
	return 0;
}

static int do_generate(struct engine_model *m, const struct opts *o)
{
	struct engine_session_opts so = { o->kv, o->threads, o->batch, 0, 0 };
	struct engine_sampling sp = { 0 };
	struct engine_request *reqs = NULL;
	struct engine_request_out *outs;
	struct engine_session *s;
	struct strbuf sb = STRBUF_INIT;
	char *copy = xstrdup(o->prompts), *p = copy;
	size_t n = 0, i;
	int maxlen = 0, j;

	while (p && *p) {
		char *semi = strchr(p, ';');
		int32_t *ids;
		int k;

		if (semi)
			*semi = '\0';
		k = parse_ids(p, &ids);
		if (k < 1)
			return die("--prompts: each prompt needs token ids");
		reqs = xrealloc(reqs, (n + 1) * sizeof(*reqs));
		reqs[n].tokens = ids;
		reqs[n++].n_tokens = k;
		if (k > maxlen)
			maxlen = k;
		p = semi ? semi + 1 : NULL;
	}
	if (!n)
		return die("--prompts is empty");
	so.max_seq = maxlen + o->max_new;
	if (engine_session_create(&s, m, &so) != 0)
		return die(error_last());
	sp.greedy = o->greedy;
	sp.temperature = 1.0f;
	sp.top_p = 1.0f;
	sp.repetition_penalty = 1.0f;
	sp.max_new_tokens = o->max_new;
	sp.ignore_eos = o->ignore_eos;
	sp.seed = o->seed;
	outs = xcalloc(n, sizeof(*outs));
	if (engine_generate(s, reqs, n, &sp, NULL, outs) != 0)
		return die(error_last());
	strbuf_adds(&sb, "{\"outputs\": [");
	for (i = 0; i < n; i++) {
		strbuf_adds(&sb, i ? ", [" : "[");
		for (j = 0; j < outs[i].n_generated; j++)
			strbuf_addf(&sb, "%s%d", j ? ", " : "", outs[i].tokens[j]);
		strbuf_addch(&sb, ']');
		engine_request_out_release(&outs[i]);
		free((void *)reqs[i].tokens);
	}
	strbuf_adds(&sb, "]}\n");
	fputs(sb.buf, stdout);
	strbuf_release(&sb);
	free(outs);
	free(reqs);
	free(copy);
	engine_session_free(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct engine_model *m;
	const char *quant = "none";
	int i, rc;

	o.weights = o.kv = ENGINE_F32;
	o.threads = 1;
	o.batch = 1;
	o.max_new = 16;
	o.seed = 42;
	if (argc < 2)
		return die("usage: engine_tool logits|generate --model M ...");
	o.mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--greedy")) {
			o.greedy = true;
			continue;
		}
		if (!strcmp(a, "--ignore-eos")) {
			o.ignore_eos = true;
			continue;
		}
		if (!v)
			return die("option needs a value");
		i++;
		if (!strcmp(a, "--model"))
			o.model = v;
		else if (!strcmp(a, "--tokens"))
			o.tokens = v;
		else if (!strcmp(a, "--prompts"))
			o.prompts = v;
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--precision"))
			o.weights = parse_dtype(v);
		else if (!strcmp(a, "--quant"))
			quant = v;
		else if (!strcmp(a, "--kv"))
			o.kv = parse_dtype(v);
		else if (!strcmp(a, "--threads"))
			o.threads = (int)strtol(v, NULL, 10);
		else if (!strcmp(a, "--batch-size"))
			o.batch = (int)strtol(v, NULL, 10);
		else if (!strcmp(a, "--max-new"))
			o.max_new = (int)strtol(v, NULL, 10);
		else
			return die("unknown option");
	}
	if (!strcmp(quant, "int8"))
		o.weights = ENGINE_Q8_0;
	if (!o.model || o.weights == ENGINE_DTYPE_NONE || o.kv == ENGINE_DTYPE_NONE)
		return die("--model is required; dtypes are fp32, fp16, bf16, int8");
	if (load_model(&m, &o) != 0)
		return die(error_last());
	if (!strcmp(o.mode, "logits") && o.tokens)
		rc = do_logits(m, &o);
	else if (!strcmp(o.mode, "generate") && o.prompts)
		rc = do_generate(m, &o);
	else
		rc = die("mode must be logits (with --tokens) or generate (with --prompts)");
	engine_model_free(m);
	return rc;
}
