/*
 * Test driver for tests/cli/test_study_order_python.py: prints the run
 * order study_order_runs gives, so Python can compare it with its own
 * random.Random(seed).shuffle.
 *
 *   study_order_dump ORDER NPOINTS NCYCLES SEED   one query from argv
 *   study_order_dump                              one query per stdin line
 *
 * ORDER is sequential|interleaved|shuffled; each query prints one line of
 * "point:cycle" tokens (0-based point, 1-based cycle), space separated.
 */
#include "study/study.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_order(const char *s, enum study_order *out)
{
	if (strcmp(s, "sequential") == 0)
		*out = STUDY_SEQUENTIAL;
	else if (strcmp(s, "interleaved") == 0)
		*out = STUDY_INTERLEAVED;
	else if (strcmp(s, "shuffled") == 0)
		*out = STUDY_SHUFFLED;
	else
		return -1;
	return 0;
}

static int query(const char *order_s, const char *n_s, const char *c_s, const char *seed_s)
{
	struct study_run_entry *runs;
	enum study_order order;
	int64_t n, c, seed;
	size_t count;

	if (parse_order(order_s, &order) || parse_int64(n_s, &n) || n < 0 || parse_int64(c_s, &c) ||
	    c < 0 || c > 100000 || parse_int64(seed_s, &seed) || seed < 0 ||
	    seed > (int64_t)UINT32_MAX) {
		fprintf(stderr, "study_order_dump: bad query '%s %s %s %s'\n", order_s, n_s, c_s,
			seed_s);
		return -1;
	}
	count = study_order_runs(&runs, (size_t)n, (int)c, order, (uint32_t)seed);
	for (size_t i = 0; i < count; i++)
		printf("%s%zu:%d", i ? " " : "", runs[i].point, runs[i].cycle);
	putchar('\n');
	free(runs);
	return 0;
}

int main(int argc, char **argv)
{
	char line[256];

	if (argc == 5)
		return query(argv[1], argv[2], argv[3], argv[4]) ? 2 : 0;
	if (argc != 1) {
		fprintf(stderr, "usage: study_order_dump [ORDER NPOINTS NCYCLES SEED]\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *tok[4], *p = line;
		int nt = 0;

		/* Whitespace-separated fields, split in place. */
		while (*p && nt < 5) {
			while (*p == ' ' || *p == '\t' || *p == '\n')
				*p++ = '\0';
			if (!*p)
				break;
			if (nt == 4) {
				nt++;
				break;
			}
			tok[nt++] = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\n')
				p++;
		}
		if (nt != 4) {
			fprintf(stderr, "study_order_dump: expected 4 fields per line\n");
			return 2;
		}
		if (query(tok[0], tok[1], tok[2], tok[3]))
			return 2;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
