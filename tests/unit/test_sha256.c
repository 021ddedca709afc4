/*
 * Tests for SHA-256: the NIST vectors through both block functions
 * (portable and, where the CPU has them, the x86 SHA extensions), the
 * streaming interface split at every awkward place, and random inputs
 * checked against a plain textbook implementation kept here as the
 * reference, so the fast paths are never only compared with each other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- reference: FIPS 180-4 written out plainly, one block at a time ---- */

static const uint32_t RK[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2
};

static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void ref_block(uint32_t h[8], const uint8_t *blk)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
		       (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = w[i - 16] + (rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       w[i - 7] + (rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10));
	memcpy(v, h, sizeof(v));
	for (i = 0; i < 64; i++) {
		t1 = v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + RK[i] + w[i];
		t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(*v));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		h[i] += v[i];
}

static void ref_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	size_t padded = (len + 9 + 63) / 64 * 64, i;
	uint8_t *m = calloc(padded, 1);

	assert_non_null(m);
	if (len)
		memcpy(m, data, len);
	m[len] = 0x80;
	for (i = 0; i < 8; i++)
		m[padded - 1 - i] = (uint8_t)((uint64_t)len * 8 >> (8 * i));
	for (i = 0; i < padded; i += 64)
		ref_block(h, m + i);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
	free(m);
}

/* ---- helpers ---- */

/* xorshift64*: deterministic "random" bytes, the same on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

static void to_hex(const uint8_t d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

/* The implementations to check: portable always, SHA-NI where present. */
static int implementations(const char *names[2])
{
	int n = 0;

	sha256_force_portable(true);
	names[n++] = sha256_impl();
	sha256_force_portable(false);
	if (strcmp(sha256_impl(), "portable") != 0)
		names[n++] = sha256_impl();
	return n;
}

static void use(const char *name)
{
	sha256_force_portable(!strcmp(name, "portable"));
	assert_string_equal(sha256_impl(), name);
}

/* ---- tests ---- */

static void test_sha256_nist_vectors_on_every_implementation(void **state)
{
	static const char *const m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char *const m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
					"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	const char *names[2];
	char *million = malloc(1000000), hex[65];
	int n = implementations(names), k;

	(void)state;
	assert_non_null(million);
	memset(million, 'a', 1000000);
	for (k = 0; k < n; k++) {
		use(names[k]);
		sha256_hex("", 0, hex, 64);
		assert_string_equal(
			hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
		sha256_hex("abc", 3, hex, 64);
		assert_string_equal(
			hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
		sha256_hex(m448, strlen(m448), hex, 64);
		assert_string_equal(
			hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
		sha256_hex(m896, strlen(m896), hex, 64);
		assert_string_equal(
			hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
		sha256_hex(million, 1000000, hex, 64);
		assert_string_equal(
			hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	}
	sha256_force_portable(false);
	free(million);
}

static void test_sha256_random_inputs_match_the_reference(void **state)
{
	enum { MAX = 4096 + 130 };
	const char *names[2];
	uint8_t *buf = malloc(MAX), want[32], got[32];
	int n = implementations(names), k;
	size_t len, trial;

	(void)state;
	assert_non_null(buf);
	/* Every length around the padding edges, then random lengths. */
	for (trial = 0; trial < 600; trial++) {
		len = trial < 200 ? trial : (size_t)(rng() % MAX);
		fill_random(buf, len);
		ref_sha256(buf, len, want);
		for (k = 0; k < n; k++) {
			use(names[k]);
			sha256(buf, len, got);
			if (memcmp(got, want, 32) != 0) {
				char a[65], b[65];

				to_hex(got, a);
				to_hex(want, b);
				print_message("%s, length %zu: %s, want %s\n", names[k], len, a, b);
				fail();
			}
		}
	}
	sha256_force_portable(false);
	free(buf);
}

static void test_sha256_streaming_equals_one_shot_at_any_split(void **state)
{
	const char *names[2];
	uint8_t buf[300], want[32], got[32];
	int n = implementations(names), k;
	size_t a, b;

	(void)state;
	fill_random(buf, sizeof(buf));
	ref_sha256(buf, sizeof(buf), want);
	for (k = 0; k < n; k++) {
		use(names[k]);
		/* Three pieces, cut at every pair of points (steps of 7 and 13). */
		for (a = 0; a <= sizeof(buf); a += 7)
			for (b = a; b <= sizeof(buf); b += 13) {
				struct sha256_ctx c;

				sha256_init(&c);
				sha256_update(&c, buf, a);
				sha256_update(&c, buf + a, b - a);
				sha256_update(&c, buf + b, sizeof(buf) - b);
				sha256_final(&c, got);
				assert_memory_equal(got, want, 32);
			}
		/* Byte by byte. */
		{
			struct sha256_ctx c;
			char hex[65], hex_want[65];

			sha256_init(&c);
			for (a = 0; a < sizeof(buf); a++)
				sha256_update(&c, buf + a, 1);
			sha256_final_hex(&c, hex, 16);
			to_hex(want, hex_want);
			hex_want[16] = '\0';
			assert_string_equal(hex, hex_want);
		}
	}
	sha256_force_portable(false);
}

static void test_sha256_unaligned_input(void **state)
{
	const char *names[2];
	uint8_t *raw = malloc(1024 + 8), want[32], got[32];
	int n = implementations(names), k;
	size_t off;

	(void)state;
	assert_non_null(raw);
	fill_random(raw, 1024 + 8);
	for (off = 1; off < 8; off++) {
		ref_sha256(raw + off, 1000, want);
		for (k = 0; k < n; k++) {
			use(names[k]);
			sha256(raw + off, 1000, got);
			assert_memory_equal(got, want, 32);
		}
	}
	sha256_force_portable(false);
	free(raw);
}

static void test_sha256_uses_sha_ni_when_the_cpu_has_it(void **state)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool has = false;

	(void)state;
	sha256_force_portable(false);
	/* Valgrind hides CPUID features it cannot run, SHA among them. */
	if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload")) {
		if (f)
			fclose(f);
		skip();
	}
	if (!f)
		skip();
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5)) {
			has = strstr(line, " sha_ni") != NULL;
			break;
		}
	fclose(f);
#if defined(__x86_64__)
	assert_string_equal(sha256_impl(), has ? "sha-ni" : "portable");
#else
	(void)has;
	assert_string_equal(sha256_impl(), "portable");
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_nist_vectors_on_every_implementation),
		cmocka_unit_test(test_sha256_random_inputs_match_the_reference),
		cmocka_unit_test(test_sha256_streaming_equals_one_shot_at_any_split),
		cmocka_unit_test(test_sha256_unaligned_input),
		cmocka_unit_test(test_sha256_uses_sha_ni_when_the_cpu_has_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
