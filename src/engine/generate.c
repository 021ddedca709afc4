/*
 * Batched generation. Requests are taken max_batch at a time (static
 * batching, as Hugging Face generate() does): the batch's prompts are
 * prefilled together in chunks, then every decode step runs all unfinished
 * sequences as one forward call, so each step reads the weights once for
 * the whole batch. No padding exists, so no padding is ever counted.
 */
#include "engine/model.h"
#include "engine/sampling.h"
#include "llem/errors.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

struct batch_state {
	size_t req;   /* request index */
	int len;      /* tokens in the cache */
	int32_t last; /* last sampled token */
	bool done;
	uint8_t *seen; /* vocab bitmap for the repetition penalty */
	struct engine_rng rng;
};

static void mark_seen(uint8_t *seen, int32_t t)
{
	seen[t >> 3] |= (uint8_t)(1u << (t & 7));
}

/* Samples from one logits row and records the token; true when finished. */
static bool take_token(struct batch_state *b, float *logits, struct engine_sampler *sm,
		       const struct engine_sampling *sp, const struct engine_arch *a, int max_seq,
		       const struct engine_observer *obs, struct engine_request_out *out)
{
	bool suppress = out->n_generated < sp->min_new_tokens || sp->ignore_eos;
	int32_t t = engine_sample(sm, logits, b->seen, sp, a->eos_token_id, suppress, &b->rng);
	uint64_t now = clock_monotonic_ns();

	out->tokens[out->n_generated++] = t;
	if (out->n_generated == 1)
		out->first_token_ns = now;
	out->end_ns = now;
	if (obs && obs->on_token)
		obs->on_token(obs->ctx, b->req, t, now);
	mark_seen(b->seen, t);
	b->last = t;
	if (t == a->eos_token_id && !suppress) {
		out->stopped_at_eos = true;
		return true;
	}
	/* The next step writes position len; stop when the cache is full. */
	return out->n_generated >= sp->max_new_tokens || b->len >= max_seq;
}

static int run_batch(struct engine_session *s, const struct engine_model *m,
		     const struct engine_session_opts *o, const struct engine_request *reqs,
		     size_t first, size_t count, const struct engine_sampling *sp,
		     const struct engine_observer *obs, struct engine_request_out *outs,
		     struct engine_sampler *sm, float *logits, int32_t *tok, int32_t *slot,
		     int32_t *pos, bool *want)
{
	const struct engine_arch *a = &m->arch;
	int chunk = engine_session_chunk(s), n = 0, nwant = 0, active, i, p;
	size_t bitmap = ((size_t)a->vocab_size + 7) / 8;
	struct batch_state *bs = xcalloc(count, sizeof(*bs));
	uint64_t start = clock_monotonic_ns();
	int rc = 0;
	size_t b;

	for (b = 0; b < count; b++) {
		const struct engine_request *r = &reqs[first + b];

		bs[b].req = first + b;
		bs[b].seen = xcalloc(bitmap, 1);
		engine_rng_seed(&bs[b].rng, sp->seed, first + b);
		outs[first + b].start_ns = start;
		if (r->n_tokens < 1 || r->n_tokens >= o->max_seq) {
			rc = error_set(
				LLEM_EINVAL,
				"request %zu has %d prompt tokens; the session holds %d per sequence",
				first + b, r->n_tokens, o->max_seq);
			goto out;
		}
		for (p = 0; p < r->n_tokens; p++)
			mark_seen(bs[b].seen, r->tokens[p]);
	}

	/* Prefill: all prompt rows of the batch, chunk rows per forward call;
	 * logits only at each prompt's last token. */
	for (b = 0; b < count; b++) {
		const struct engine_request *r = &reqs[first + b];

		for (p = 0; p < r->n_tokens; p++) {
			tok[n] = r->tokens[p];
			slot[n] = (int32_t)b;
			pos[n] = p;
			want[n] = p == r->n_tokens - 1;
			nwant += want[n];
			n++;
			if (n == chunk || (b == count - 1 && p == r->n_tokens - 1)) {
				int k = 0, j;

				rc = engine_forward(s, tok, slot, pos, want, n, logits);
				if (rc)
					goto out;
				for (j = 0; j < n; j++) {
					struct batch_state *st;

					if (!want[j])
						continue;
					st = &bs[slot[j]];
					st->len = pos[j] + 1;
					st->done = take_token(
						st, logits + (size_t)k++ * a->vocab_size, sm, sp, a,
						o->max_seq, obs, &outs[st->req]);
				}
				n = nwant = 0;
			}
		}
	}

	/* Decode: one row per unfinished sequence per step. */
	for (;;) {
		active = 0;
		for (b = 0; b < count; b++) {
			if (bs[b].done)
				continue;
			tok[active] = bs[b].last;
			slot[active] = (int32_t)b;
			pos[active] = bs[b].len;
			want[active] = true;
			active++;
		}
		if (!active)
			break;
		rc = engine_forward(s, tok, slot, pos, want, active, logits);
		if (rc)
			goto out;
		for (i = 0; i < active; i++) {
			struct batch_state *st = &bs[slot[i]];

			st->len++;
			st->done = take_token(st, logits + (size_t)i * a->vocab_size, sm, sp, a,
					      o->max_seq, obs, &outs[st->req]);
		}
	}
out:
	for (b = 0; b < count; b++)
		free(bs[b].seen);
	free(bs);
	return rc;
}

int engine_generate(struct engine_session *s, const struct engine_request *reqs, size_t n,
		    const struct engine_sampling *sp, const struct engine_observer *obs,
		    struct engine_request_out *outs)
{
	const struct engine_model *m = engine_session_model(s);
	const struct engine_session_opts *o = engine_session_options(s);
	int chunk = engine_session_chunk(s);
	struct engine_sampler sm;
	float *logits;
	int32_t *tok, *slot, *pos;
	bool *want;
	size_t i;
	int rc = 0;

	if (sp->max_new_tokens < 1)
		return error_set(LLEM_EINVAL, "max_new_tokens must be at least 1");
	if (!sp->greedy && !(sp->temperature > 0))
		return error_set(LLEM_EINVAL, "sampling needs a temperature above 0");
	for (i = 0; i < n; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		outs[i].tokens = xcalloc((size_t)sp->max_new_tokens, sizeof(int32_t));
	}
	engine_sampler_init(&sm, m->arch.vocab_size);
	logits = xmalloc((size_t)chunk * (size_t)m->arch.vocab_size * sizeof(float));
	tok = xmalloc((size_t)chunk * sizeof(*tok));
	slot = xmalloc((size_t)chunk * sizeof(*slot));
	pos = xmalloc((size_t)chunk * sizeof(*pos));
	want = xmalloc((size_t)chunk * sizeof(*want));
	for (i = 0; i < n && !rc; i += (size_t)o->max_batch) {
		size_t count = n - i < (size_t)o->max_batch ? n - i : (size_t)o->max_batch;

		rc = run_batch(s, m, o, reqs, i, count, sp, obs, outs, &sm, logits, tok, slot, pos,
			       want);
	}
	free(logits);
	free(tok);
	free(slot);
	free(pos);
	free(want);
	engine_sampler_release(&sm);
	return rc;
}

void engine_request_out_release(struct engine_request_out *o)
{
	free(o->tokens);
	memset(o, 0, sizeof(*o));
}
