/*
 * Derived metrics: FLOPs by the stated formula, named in the result so a
 * reader can redo the arithmetic.
 */
#include "measure/measure.h"
#include "util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLOPS_METHOD                                                                               \
	"2*N_non_embedding*tokens + 2*vocab*hidden per sampled token + "                           \
	"4*layers*heads*head_dim*context per token"

/* Sum of (p + 1) for p in [from, to): keys attended by tokens at p. */
static double context_sum(int64_t from, int64_t to)
{
	return ((double)to * (double)(to + 1) - (double)from * (double)(from + 1)) / 2.0;
}

void measure_flops(struct result_flops *out, const struct backend_model_info *mi,
		   const struct measure_flops_request *reqs, size_t n)
{
	double dense = 2.0 * (double)mi->params_non_embedding;
	double head = 2.0 * (double)mi->vocab_size * (double)mi->hidden_size;
	double attn = 4.0 * mi->layers * (double)mi->heads * mi->head_dim;
	double prefill = 0, decode = 0, out_tokens = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t in = reqs[i].input_tokens, o = reqs[i].output_tokens;

		/* The first output token is sampled from the prompt's last
		 * position, so prefill pays one LM head per request. */
		prefill += dense * (double)in + attn * context_sum(0, in) + (o > 0 ? head : 0);
		if (o > 1)
			decode += (dense + head) * (double)(o - 1) +
				  attn * context_sum(in, in + o - 1);
		out_tokens += (double)o;
	}
	out->prefill_flops = prefill;
	out->decode_flops = decode;
	out->total_flops = prefill + decode;
	out->flops_per_output_token = out_tokens > 0 ? out->total_flops / out_tokens : NAN;
	free(out->method);
	out->method = xstrdup(FLOPS_METHOD);
}
