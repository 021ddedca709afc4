/*
 * Test tool: runs one backend through the backend interface (preflight,
 * load, generate, unload) and prints every generated token, so tests can
 * compare backends token by token (native vs pytorch on the same
 * synthetic weights).
 *   backend_tokens CONFIG.yaml PROMPT...
 * Prints {"backend", "model_info", "requests": [{"tokens", "times_ns",
 * "input_tokens", "output_tokens", "stopped_at_eos", "start_ns",
 * "first_token_ns", "end_ns"}]} on stdout; errors on stderr, exit 1.
 */
#include "backends/backends.h"
#include "config/config.h"
#include "llem/errors.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture {
	size_t n;
	struct strbuf *tokens, *times;
	size_t *count;
};

static void on_token(void *ctx, size_t request, int32_t token, uint64_t t_ns)
{
	struct capture *c = ctx;

	if (request >= c->n) {
		fprintf(stderr, "backend_tokens: token for request %zu of %zu\n", request, c->n);
		exit(1);
	}
	strbuf_addf(&c->tokens[request], "%s%d", c->count[request] ? "," : "", (int)token);
	strbuf_addf(&c->times[request], "%s%llu", c->count[request] ? "," : "",
		    (unsigned long long)t_ns);
	c->count[request]++;
}

static int fail(const char *what)
{
	fprintf(stderr, "backend_tokens: %s: %s\n", what, error_last());
	return 1;
}

int main(int argc, char **argv)
{
	struct config_request req = { 0 };
	struct diag_list diags = { 0 };
	struct loaded_config lc = { 0 };
	struct backend_model_info mi;
	struct backend_params params;
	const struct backend_info *bi;
	struct backend_request_stats *st;
	struct capture cap = { 0 };
	struct backend_observer obs = { on_token, &cap };
	size_t n = argc > 2 ? (size_t)(argc - 2) : 0, i;
	void *session = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: backend_tokens CONFIG PROMPT...\n");
		return 2;
	}
	req.path = argv[1];
	req.user_config_path = "";
	req.backend_rules = backends_check_config;
	if (config_load(&lc, &req, &diags) || lc.is_study) {
		struct strbuf sb = STRBUF_INIT;

		for (i = 0; i < diags.count; i++) {
			diag_format(&diags.items[i], &sb);
			strbuf_addch(&sb, '\n');
		}
		fprintf(stderr, "backend_tokens: bad config:\n%s", strbuf_str(&sb));
		return 1;
	}
	bi = backends_find(cfg_str(&lc.experiment, FIELD_BACKEND));
	if (!bi || !bi->ops)
		return fail("backend not runnable");
	if (bi->ops->preflight(&lc.experiment, BACKEND_PREFLIGHT_EXECUTE, &diags)) {
		struct strbuf sb = STRBUF_INIT;

		for (i = 0; i < diags.count; i++) {
			diag_format(&diags.items[i], &sb);
			strbuf_addch(&sb, '\n');
		}
		fprintf(stderr, "backend_tokens: preflight:\n%s", strbuf_str(&sb));
		return 1;
	}
	backend_params_of(&params, &lc.experiment);
	if (bi->ops->load(&session, &params, &lc.experiment, &mi))
		return fail("load");
	cap.n = n;
	cap.tokens = xcalloc(n, sizeof(*cap.tokens));
	cap.times = xcalloc(n, sizeof(*cap.times));
	cap.count = xcalloc(n, sizeof(*cap.count));
	st = xcalloc(n, sizeof(*st));
	if (bi->ops->generate(session, (const char *const *)argv + 2, n, &obs, st))
		return fail("generate");
	printf("{\"backend\": \"%s\", \"model_info\": {\"params_total\": %lld, "
	       "\"params_non_embedding\": %lld, \"layers\": %d, \"hidden_size\": %d, "
	       "\"heads\": %d, \"kv_heads\": %d, \"vocab_size\": %d, \"weight_dtype\": \"%s\", "
	       "\"weight_bytes\": %lld, \"batch_size\": %d}, \"requests\": [",
	       bi->name, (long long)mi.params_total, (long long)mi.params_non_embedding, mi.layers,
	       mi.hidden_size, mi.heads, mi.kv_heads, mi.vocab_size, mi.weight_dtype,
	       (long long)mi.weight_bytes, mi.batch_size);
	for (i = 0; i < n; i++)
		printf("%s{\"tokens\": [%s], \"times_ns\": [%s], \"input_tokens\": %lld, "
		       "\"output_tokens\": %lld, \"stopped_at_eos\": %s, \"start_ns\": %llu, "
		       "\"first_token_ns\": %llu, \"end_ns\": %llu}",
		       i ? ", " : "", strbuf_str(&cap.tokens[i]), strbuf_str(&cap.times[i]),
		       (long long)st[i].input_tokens, (long long)st[i].output_tokens,
		       st[i].stopped_at_eos ? "true" : "false", (unsigned long long)st[i].start_ns,
		       (unsigned long long)st[i].first_token_ns, (unsigned long long)st[i].end_ns);
	printf("]}\n");
	bi->ops->unload(session);
	backend_model_info_release(&mi);
	for (i = 0; i < n; i++) {
		strbuf_release(&cap.tokens[i]);
		strbuf_release(&cap.times[i]);
	}
	free(cap.tokens);
	free(cap.times);
	free(cap.count);
	free(st);
	diag_list_release(&diags);
	loaded_config_release(&lc);
	return 0;
}
