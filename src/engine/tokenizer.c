/*
 * The byte-level tokenizer for synthetic models: energy and speed depend
 * on how many tokens flow, not which, so one token per byte gives real
 * workloads with no vocabulary file. Real tokenizers come later.
 */
#include "engine/engine.h"

int engine_byte_tokenize(const char *text, int32_t *out, int max_tokens)
{
	const unsigned char *p = (const unsigned char *)text;
	int n = 0;

	while (*p && n < max_tokens)
		out[n++] = ENGINE_BYTE_TOKEN_BASE + *p++;
	return n;
}
