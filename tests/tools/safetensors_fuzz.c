/*
 * A harness for coverage-guided fuzzers (AFL++, honggfuzz): parses the
 * file named on the command line (or stdin) as safetensors from an
 * exact-size heap copy, so sanitizers catch any read past its end.
 * Prints "ok <tensors>" or the error; exits 0 either way, since only a
 * crash is a finding.
 *
 *   safetensors_fuzz FILE     afl-fuzz -i seeds -o out -- safetensors_fuzz @@
 */
#include "engine/safetensors.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct safetensors_file *f;
	struct strbuf sb = STRBUF_INIT;
	char *text = NULL, *copy;
	size_t len = 0, i;
	unsigned sum = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: safetensors_fuzz [FILE]\n");
		return 2;
	}
	if (argc == 2) {
		if (fs_read_file(argv[1], &text, &len)) {
			fprintf(stderr, "%s\n", error_last());
			return 2;
		}
	} else {
		char buf[65536];
		size_t n;

		while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
			strbuf_add(&sb, buf, n);
		if (ferror(stdin)) {
			fprintf(stderr, "cannot read stdin\n");
			return 2;
		}
		len = sb.len;
		text = strbuf_detach(&sb);
	}
	copy = xmalloc(len ? len : 1);
	memcpy(copy, text, len);
	free(text);
	if (safetensors_parse(&f, copy, len, "input") == 0) {
		/* Touch every byte a tensor claims, as the engine would. */
		for (i = 0; i < f->count; i++) {
			const unsigned char *p = f->tensors[i].data;
			uint64_t j, n = f->tensors[i].end - f->tensors[i].begin;

			for (j = 0; j < n; j++)
				sum += p[j];
		}
		printf("ok %zu (%u)\n", f->count, sum & 0xff);
		safetensors_close(f);
	} else {
		printf("%s\n", error_last());
	}
	free(copy);
	return 0;
}
