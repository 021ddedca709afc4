/* String helpers: edit distance for "did you mean", prefix/suffix tests. */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/* Levenshtein distance (insert, delete, substitute), two rows. */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, result;
	size_t *prev = xmalloc((lb + 1) * sizeof(*prev));
	size_t *cur = xmalloc((lb + 1) * sizeof(*cur));

	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		size_t *tmp;

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	result = prev[lb];
	free(prev);
	free(cur);
	return result;
}

const char *did_you_mean(const char *word, const char *const *candidates, size_t n,
			 size_t max_distance)
{
	const char *best = NULL;
	size_t best_d = max_distance + 1, i;

	for (i = 0; i < n; i++) {
		size_t d = edit_distance(word, candidates[i]);

		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}

const char *did_you_mean_near(const char *word, const char *const *candidates, size_t n)
{
	size_t len = strlen(word), limit = (len + 1) / 2;

	return did_you_mean(word, candidates, n, limit < 3 ? limit : 3);
}

bool str_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}
