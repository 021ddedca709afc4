/*
 * Sampling, following the semantics of Hugging Face's logits processors
 * and warpers (RepetitionPenalty, MinNewTokens, Temperature, TopK, TopP,
 * MinP) so that the same settings mean the same thing on every backend.
 * Each request has its own xoshiro256** stream, seeded from the run's seed
 * and the request's index, so results do not depend on batch composition.
 */
#include "engine/sampling.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void engine_rng_seed(struct engine_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

double engine_rng_uniform(struct engine_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return (double)(result >> 11) * 0x1.0p-53;
}

void engine_sampler_init(struct engine_sampler *sm, int vocab)
{
	sm->vocab = vocab;
	sm->probs = xmalloc((size_t)vocab * sizeof(*sm->probs));
	sm->idx = xmalloc((size_t)vocab * sizeof(*sm->idx));
}

void engine_sampler_release(struct engine_sampler *sm)
{
	free(sm->probs);
	free(sm->idx);
	memset(sm, 0, sizeof(*sm));
}

static const float *sort_logits;

/* Descending by logit, ascending id on ties: a total, stable order. */
static int by_logit_desc(const void *a, const void *b)
{
	int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;

	if (sort_logits[i] != sort_logits[j])
		return sort_logits[i] > sort_logits[j] ? -1 : 1;
	return i < j ? -1 : 1;
}

static int32_t argmax(const float *x, int n)
{
	int32_t best = 0;
	int i;

	for (i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

int32_t engine_sample(struct engine_sampler *sm, float *logits, const uint8_t *seen,
		      const struct engine_sampling *sp, int32_t eos, bool suppress_eos,
		      struct engine_rng *rng)
{
	int n = sm->vocab, k, i;
	float max, sum, cum, keep;
	double u;

	if (sp->repetition_penalty != 1.0f && seen) {
		for (i = 0; i < n; i++) {
			if (!(seen[i >> 3] & (1u << (i & 7))))
				continue;
			logits[i] = logits[i] < 0 ? logits[i] * sp->repetition_penalty
						  : logits[i] / sp->repetition_penalty;
		}
	}
	if (suppress_eos && eos >= 0 && eos < n)
		logits[eos] = -INFINITY;
	if (sp->greedy)
		return argmax(logits, n);

	for (i = 0; i < n; i++) {
		logits[i] /= sp->temperature;
		sm->idx[i] = i;
	}
	/* qsort with a file-scope key: the sampler runs on one thread. */
	sort_logits = logits;
	qsort(sm->idx, (size_t)n, sizeof(*sm->idx), by_logit_desc);
	k = sp->top_k > 0 && sp->top_k < n ? sp->top_k : n;
	max = logits[sm->idx[0]];
	sum = 0;
	for (i = 0; i < k; i++) {
		sm->probs[i] = expf(logits[sm->idx[i]] - max);
		sum += sm->probs[i];
	}
	for (i = 0; i < k; i++)
		sm->probs[i] /= sum;
	if (sp->top_p < 1.0f) {
		/* Keep the smallest prefix whose mass reaches top_p (at least one). */
		cum = 0;
		for (i = 0; i < k; i++) {
			cum += sm->probs[i];
			if (cum >= sp->top_p) {
				k = i + 1;
				break;
			}
		}
	}
	if (sp->min_p > 0.0f) {
		keep = sp->min_p * sm->probs[0];
		for (i = 1; i < k; i++)
			if (sm->probs[i] < keep)
				break;
		k = i;
	}
	sum = 0;
	for (i = 0; i < k; i++)
		sum += sm->probs[i];
	u = engine_rng_uniform(rng) * sum;
	cum = 0;
	for (i = 0; i < k - 1; i++) {
		cum += sm->probs[i];
		if (u < cum)
			break;
	}
	return sm->idx[i];
}
