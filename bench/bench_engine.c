/*
 * Engine benchmark (issue: native engine). In one process: a memory-read
 * bandwidth probe, OpenBLAS's fp32 GEMM rate, then synthetic/smollm-135m
 * at batch 1, 8 and 32 for fp32, bf16 and int8 weights with 1 and 2
 * threads. For each: prefill tok/s (and its GFLOP/s as a share of the
 * GEMM rate), decode tok/s, and decode as a percentage of the bandwidth
 * bound (weight bytes read per step / measured bandwidth).
 *   build/bench/bench_engine [--quick]
 */
#include "bench_common.h"
#include "engine/engine.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT_TOKENS 64
#define NEW_TOKENS 32

struct run {
	double prefill_tok_s, prefill_gflops, decode_tok_s, step_ms;
};

static int bench_one(struct engine_model *m, int batch, int threads, struct run *r)
{
	struct engine_session_opts so = { ENGINE_F32, threads, batch, PROMPT_TOKENS + NEW_TOKENS,
					  0 };
	struct engine_sampling sp = { .greedy = true,
				      .repetition_penalty = 1.0f,
				      .max_new_tokens = NEW_TOKENS,
				      .ignore_eos = true };
	struct engine_request *reqs = xcalloc((size_t)batch, sizeof(*reqs));
	struct engine_request_out *outs = xcalloc((size_t)batch, sizeof(*outs));
	struct engine_model_info info;
	struct engine_session *s;
	int32_t *ids = xmalloc(PROMPT_TOKENS * sizeof(*ids));
	uint64_t t_first = 0, t_end = 0, t_start;
	int i, rc;

	engine_model_get_info(m, &info);
	so.kv_dtype = info.weight_dtype == ENGINE_Q8_0 ? ENGINE_F32 : info.weight_dtype;
	for (i = 0; i < PROMPT_TOKENS; i++)
		ids[i] = 3 + (i * 31) % 250;
	for (i = 0; i < batch; i++) {
		reqs[i].tokens = ids;
		reqs[i].n_tokens = PROMPT_TOKENS;
	}
	rc = engine_session_create(&s, m, &so);
	if (rc)
		return rc;
	rc = engine_generate(s, reqs, (size_t)batch, &sp, NULL, outs);
	if (!rc) {
		t_start = outs[0].start_ns;
		for (i = 0; i < batch; i++) {
			if (outs[i].first_token_ns > t_first)
				t_first = outs[i].first_token_ns;
			if (outs[i].end_ns > t_end)
				t_end = outs[i].end_ns;
		}
		r->prefill_tok_s =
			(double)batch * PROMPT_TOKENS / ((double)(t_first - t_start) * 1e-9);
		/* 2 FLOPs per non-embedding parameter per token (lm_head runs
		 * once per prompt, so it is left out of prefill). */
		r->prefill_gflops = r->prefill_tok_s * 2.0 *
				    (double)(info.params_total - info.params_embedding) * 1e-9;
		r->step_ms = (double)(t_end - t_first) * 1e-6 / (NEW_TOKENS - 1);
		r->decode_tok_s = batch / (r->step_ms * 1e-3);
	}
	for (i = 0; i < batch; i++)
		engine_request_out_release(&outs[i]);
	engine_session_free(s);
	free(reqs);
	free(outs);
	free(ids);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum engine_dtype t;
	} types[] = {
		{ "fp32", ENGINE_F32 },
		{ "bf16", ENGINE_BF16 },
		{ "int8", ENGINE_Q8_0 },
	};
	static const int batches[] = { 1, 8, 32 };
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	double bw[3], gemm[3];
	struct engine_arch arch;
	struct engine_src_model src;
	size_t ti, bi;
	int th;

	for (th = 1; th <= 2; th++) {
		bw[th] = bench_read_bandwidth_gbs(th);
		gemm[th] = bench_sgemm_gflops(th, 1024);
	}
	printf("kernels: %s\n", engine_kernels());
	printf("memory read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n", bw[1],
	       bw[2]);
	printf("OpenBLAS sgemm 1024^3: %.1f GFLOP/s (1 thread), %.1f GFLOP/s (2 threads)\n\n",
	       gemm[1], gemm[2]);
	if (engine_preset_find(&arch, "smollm-135m") || engine_synthetic_build(&src, &arch, 42)) {
		fprintf(stderr, "bench_engine: %s\n", error_last());
		return 1;
	}
	printf("synthetic/smollm-135m, prompt %d tokens, %d new tokens per sequence\n",
	       PROMPT_TOKENS, NEW_TOKENS);
	printf("%-5s %3s %5s %11s %9s %11s %9s %9s %9s\n", "dtype", "thr", "batch", "prefill t/s",
	       "%sgemm", "decode t/s", "step ms", "MB/step", "%bw-bound");
	for (ti = 0; ti < ARRAY_SIZE(types); ti++) {
		struct engine_model *m;
		struct engine_model_info info;

		if (engine_model_create(&m, &src, types[ti].t)) {
			fprintf(stderr, "bench_engine: %s\n", error_last());
			return 1;
		}
		engine_model_get_info(m, &info);
		for (th = 1; th <= 2; th++) {
			for (bi = 0; bi < ARRAY_SIZE(batches); bi++) {
				struct run r;
				double mb = (double)info.step_bytes / 1e6;

				if (quick && batches[bi] == 32)
					continue;
				if (bench_one(m, batches[bi], th, &r)) {
					fprintf(stderr, "bench_engine: %s\n", error_last());
					return 1;
				}
				printf("%-5s %3d %5d %11.1f %8.0f%% %11.1f %9.2f %9.1f %8.0f%%\n",
				       types[ti].name, th, batches[bi], r.prefill_tok_s,
				       100.0 * r.prefill_gflops / gemm[th], r.decode_tok_s,
				       r.step_ms, mb,
				       100.0 * (mb * 1e6 / (r.step_ms * 1e-3)) / (bw[th] * 1e9));
				fflush(stdout);
			}
		}
		engine_model_free(m);
	}
	engine_src_close(&src);
	return 0;
}
