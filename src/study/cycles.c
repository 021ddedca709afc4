/*
 * Run order of a study (docs/studies.md): sequential,
 * interleaved, or shuffled per cycle exactly as Python's random.Random(seed)
 * shuffles, so a study's order can be reproduced from Python.
 */
#include "study/study.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/*
 * MT19937 as CPython's _random module uses it. Written from the algorithm
 * (Matsumoto & Nishimura, 2002 reference init_by_array); only the parts
 * random.shuffle reaches are here: seeding from an int, 32-bit draws and
 * getrandbits(k) for k <= 32.
 */
#define MT_N 624
#define MT_M 397

struct mt19937 {
	uint32_t state[MT_N];
	int index;
};

static void mt_init_genrand(struct mt19937 *mt, uint32_t s)
{
	mt->state[0] = s;
	for (int i = 1; i < MT_N; i++) {
		uint32_t prev = mt->state[i - 1];

		mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
	}
	mt->index = MT_N;
}

static void mt_init_by_array(struct mt19937 *mt, const uint32_t *key, int len)
{
	int i = 1, j = 0;

	mt_init_genrand(mt, 19650218u);
	for (int k = MT_N > len ? MT_N : len; k > 0; k--) {
		uint32_t prev = mt->state[i - 1];

		mt->state[i] =
			(mt->state[i] ^ ((prev ^ (prev >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
		if (++i >= MT_N) {
			mt->state[0] = mt->state[MT_N - 1];
			i = 1;
		}
		if (++j >= len)
			j = 0;
	}
	for (int k = MT_N - 1; k > 0; k--) {
		uint32_t prev = mt->state[i - 1];

		mt->state[i] = (mt->state[i] ^ ((prev ^ (prev >> 30)) * 1566083941u)) - (uint32_t)i;
		if (++i >= MT_N) {
			mt->state[0] = mt->state[MT_N - 1];
			i = 1;
		}
	}
	/* The top bit set guarantees a non-zero state. */
	mt->state[0] = 0x80000000u;
	mt->index = MT_N;
}

/*
 * random.seed(int): CPython feeds init_by_array the 32-bit little-endian
 * chunks of abs(seed), and a single 0 word for seed 0. A uint32 seed is
 * therefore always exactly one word.
 */
static void mt_seed_python(struct mt19937 *mt, uint32_t seed)
{
	uint32_t key[1] = { seed };

	mt_init_by_array(mt, key, 1);
}

static void mt_twist(struct mt19937 *mt)
{
	static const uint32_t mag01[2] = { 0u, 0x9908b0dfu };
	uint32_t *s = mt->state;
	int i;

	for (i = 0; i < MT_N; i++) {
		uint32_t y = (s[i] & 0x80000000u) | (s[(i + 1) % MT_N] & 0x7fffffffu);

		s[i] = s[(i + MT_M) % MT_N] ^ (y >> 1) ^ mag01[y & 1u];
	}
	mt->index = 0;
}

static uint32_t mt_genrand_uint32(struct mt19937 *mt)
{
	uint32_t y;

	if (mt->index >= MT_N)
		mt_twist(mt);
	y = mt->state[mt->index++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

/* getrandbits(k), 1 <= k <= 32: the top k bits of one draw. */
static uint32_t mt_getrandbits(struct mt19937 *mt, int k)
{
	return mt_genrand_uint32(mt) >> (32 - k);
}

/* Random._randbelow_with_getrandbits: rejection over n.bit_length() bits. */
static size_t mt_randbelow(struct mt19937 *mt, size_t n)
{
	int k = 0;
	uint32_t r;

	for (size_t v = n; v; v >>= 1)
		k++;
	/* n is a point count: far below 2^32, so one draw always suffices. */
	do
		r = mt_getrandbits(mt, k);
	while (r >= n);
	return r;
}

/* random.shuffle: Fisher-Yates from the end, j = _randbelow(i + 1). */
static void mt_shuffle(struct mt19937 *mt, size_t *x, size_t n)
{
	for (size_t i = n; i-- > 1;) {
		size_t j = mt_randbelow(mt, i + 1);
		size_t t = x[i];

		x[i] = x[j];
		x[j] = t;
	}
}

size_t study_order_runs(struct study_run_entry **out, size_t npoints, int ncycles,
			enum study_order order, uint32_t seed)
{
	struct study_run_entry *runs;
	size_t *perm, n = 0;
	struct mt19937 mt;

	*out = NULL;
	/* Also refuses counts whose product overflows (never a real study). */
	if (npoints == 0 || ncycles <= 0 || npoints > (size_t)UINT32_MAX / (size_t)ncycles)
		return 0;
	runs = xcalloc(npoints * (size_t)ncycles, sizeof(*runs));
	perm = xcalloc(npoints, sizeof(*perm));
	if (order == STUDY_SHUFFLED)
		mt_seed_python(&mt, seed);

	if (order == STUDY_SEQUENTIAL) {
		for (size_t p = 0; p < npoints; p++)
			for (int c = 1; c <= ncycles; c++)
				runs[n++] = (struct study_run_entry){ p, c };
	} else {
		/* Each point runs once per cycle, so its n-th run is cycle n. */
		for (int c = 1; c <= ncycles; c++) {
			for (size_t p = 0; p < npoints; p++)
				perm[p] = p;
			if (order == STUDY_SHUFFLED)
				mt_shuffle(&mt, perm, npoints);
			for (size_t p = 0; p < npoints; p++)
				runs[n++] = (struct study_run_entry){ perm[p], c };
		}
	}
	free(perm);
	*out = runs;
	return n;
}

static const char *const order_names[] = {
	[STUDY_SEQUENTIAL] = "sequential",
	[STUDY_INTERLEAVED] = "interleaved",
	[STUDY_SHUFFLED] = "shuffled",
};

const char *study_order_name(enum study_order order)
{
	return (size_t)order < ARRAY_SIZE(order_names) ? order_names[order] : "unknown";
}

int study_order_parse(const char *name)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(order_names); i++)
		if (!strcmp(name, order_names[i]))
			return (int)i;
	return -1;
}
