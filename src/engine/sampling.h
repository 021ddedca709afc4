/* Token selection from logits (private to src/engine). */
#ifndef LLEM_ENGINE_SAMPLING_H
#define LLEM_ENGINE_SAMPLING_H

#include "engine/engine.h"

struct engine_rng {
	uint64_t s[4];
};

void engine_rng_seed(struct engine_rng *r, uint64_t seed, uint64_t stream);
double engine_rng_uniform(struct engine_rng *r); /* [0, 1) */

/* Scratch for one vocabulary-sized selection. */
struct engine_sampler {
	int vocab;
	float *probs;
	int32_t *idx;
};

void engine_sampler_init(struct engine_sampler *sm, int vocab);
void engine_sampler_release(struct engine_sampler *sm);

/*
 * Picks the next token from logits (modified in place), in the order of
 * Hugging Face's processors: repetition penalty over `seen` (a bitmap of
 * tokens in the prompt and output), EOS suppression (suppress_eos), then
 * greedy argmax, or temperature, top-k, top-p, min-p and a draw.
 */
int32_t engine_sample(struct engine_sampler *sm, float *logits, const uint8_t *seen,
		      const struct engine_sampling *sp, int32_t eos, bool suppress_eos,
		      struct engine_rng *rng);

#endif
