/*
 * SHA-256 (FIPS 180-4). Small enough to own, so the config hash needs no
 * crypto library; checked against the NIST vectors and Python's hashlib.
 * A study hashes every grid point's canonical JSON and then all of it again
 * for the design hash (about 260 MB for 100,000 points), so the block
 * function matters: x86-64 CPUs with the SHA extensions (SHA-NI) use them,
 * chosen at run time; everything else uses the portable unrolled code. Both
 * must give the same digests: tests/unit/test_sha256.c compares them.
 */
#include "util/util.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LLEM_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
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

static const uint32_t H0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

/* ---- portable block function ---- */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

/* The message schedule lives in a 16-word ring: W[i] replaces W[i-16]. */
#define SCHED(i)                                                                                   \
	(w[(i) & 15] += SSIG1(w[((i) - 2) & 15]) + w[((i) - 7) & 15] + SSIG0(w[((i) - 15) & 15]))

/* One round; the caller rotates the roles of a..h instead of the values. */
#define ROUND(a, b, c, d, e, f, g, h, i, wi)                                                       \
	do {                                                                                       \
		uint32_t t1_ = (h) + BSIG1(e) + CH(e, f, g) + K[i] + (wi);                         \
		(d) += t1_;                                                                        \
		(h) = t1_ + BSIG0(a) + MAJ(a, b, c);                                               \
	} while (0)

#define ROUND8(i, W)                                                                               \
	do {                                                                                       \
		ROUND(a, b, c, d, e, f, g, h, (i) + 0, W((i) + 0));                                \
		ROUND(h, a, b, c, d, e, f, g, (i) + 1, W((i) + 1));                                \
		ROUND(g, h, a, b, c, d, e, f, (i) + 2, W((i) + 2));                                \
		ROUND(f, g, h, a, b, c, d, e, (i) + 3, W((i) + 3));                                \
		ROUND(e, f, g, h, a, b, c, d, (i) + 4, W((i) + 4));                                \
		ROUND(d, e, f, g, h, a, b, c, (i) + 5, W((i) + 5));                                \
		ROUND(c, d, e, f, g, h, a, b, (i) + 6, W((i) + 6));                                \
		ROUND(b, c, d, e, f, g, h, a, (i) + 7, W((i) + 7));                                \
	} while (0)

#define WLOAD(i) w[i]

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void blocks_portable(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
	for (; nblocks > 0; nblocks--, p += 64) {
		uint32_t w[16], a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5],
				g = st[6], h = st[7];
		int i;

		for (i = 0; i < 16; i++)
			w[i] = load_be32(p + 4 * i);
		ROUND8(0, WLOAD);
		ROUND8(8, WLOAD);
		for (i = 16; i < 64; i += 16) {
			ROUND8(i, SCHED);
			ROUND8(i + 8, SCHED);
		}
		st[0] += a;
		st[1] += b;
		st[2] += c;
		st[3] += d;
		st[4] += e;
		st[5] += f;
		st[6] += g;
		st[7] += h;
	}
}

/* ---- SHA-NI block function (x86-64 SHA extensions) ---- */

#ifdef LLEM_SHA_NI
#define SHA_NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds with message words m (already byte-swapped), K from ki. */
#define NI_RNDS4(m, ki)                                                                            \
	do {                                                                                       \
		msg = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)&K[ki]));                \
		s1 = _mm_sha256rnds2_epu32(s1, s0, msg);                                           \
		msg = _mm_shuffle_epi32(msg, 0x0E);                                                \
		s0 = _mm_sha256rnds2_epu32(s0, s1, msg);                                           \
	} while (0)

/* Completes next = W[i+4..i+7] from cur = W[i..i+3] and prev = W[i-4..i-1]. */
#define NI_SCHED(next, cur, prev)                                                                  \
	do {                                                                                       \
		next = _mm_add_epi32(next, _mm_alignr_epi8(cur, prev, 4));                         \
		next = _mm_sha256msg2_epu32(next, cur);                                            \
	} while (0)

SHA_NI_TARGET
static void blocks_sha_ni(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i s0, s1, t, msg, m0, m1, m2, m3, save0, save1;

	/* The instructions keep the state as ABEF and CDGH. */
	t = _mm_loadu_si128((const __m128i *)&h[0]);
	s1 = _mm_loadu_si128((const __m128i *)&h[4]);
	t = _mm_shuffle_epi32(t, 0xB1);    /* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1B);  /* EFGH */
	s0 = _mm_alignr_epi8(t, s1, 8);    /* ABEF */
	s1 = _mm_blend_epi16(s1, t, 0xF0); /* CDGH */

	for (; nblocks > 0; nblocks--, p += 64) {
		save0 = s0;
		save1 = s1;
		m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
		m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
		m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
		m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

		NI_RNDS4(m0, 0);
		NI_RNDS4(m1, 4);
		m0 = _mm_sha256msg1_epu32(m0, m1);
		NI_RNDS4(m2, 8);
		m1 = _mm_sha256msg1_epu32(m1, m2);
		/* Rounds 12-51: each group finishes the schedule two groups ahead. */
		NI_RNDS4(m3, 12);
		NI_SCHED(m0, m3, m2);
		m2 = _mm_sha256msg1_epu32(m2, m3);
		NI_RNDS4(m0, 16);
		NI_SCHED(m1, m0, m3);
		m3 = _mm_sha256msg1_epu32(m3, m0);
		NI_RNDS4(m1, 20);
		NI_SCHED(m2, m1, m0);
		m0 = _mm_sha256msg1_epu32(m0, m1);
		NI_RNDS4(m2, 24);
		NI_SCHED(m3, m2, m1);
		m1 = _mm_sha256msg1_epu32(m1, m2);
		NI_RNDS4(m3, 28);
		NI_SCHED(m0, m3, m2);
		m2 = _mm_sha256msg1_epu32(m2, m3);
		NI_RNDS4(m0, 32);
		NI_SCHED(m1, m0, m3);
		m3 = _mm_sha256msg1_epu32(m3, m0);
		NI_RNDS4(m1, 36);
		NI_SCHED(m2, m1, m0);
		m0 = _mm_sha256msg1_epu32(m0, m1);
		NI_RNDS4(m2, 40);
		NI_SCHED(m3, m2, m1);
		m1 = _mm_sha256msg1_epu32(m1, m2);
		NI_RNDS4(m3, 44);
		NI_SCHED(m0, m3, m2);
		m2 = _mm_sha256msg1_epu32(m2, m3);
		NI_RNDS4(m0, 48);
		NI_SCHED(m1, m0, m3);
		m3 = _mm_sha256msg1_epu32(m3, m0);
		NI_RNDS4(m1, 52);
		NI_SCHED(m2, m1, m0);
		NI_RNDS4(m2, 56);
		NI_SCHED(m3, m2, m1);
		NI_RNDS4(m3, 60);

		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}

	t = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);  /* DCHG */
	s0 = _mm_blend_epi16(t, s1, 0xF0); /* DCBA */
	s1 = _mm_alignr_epi8(s1, t, 8);    /* HGFE */
	_mm_storeu_si128((__m128i *)&h[0], s0);
	_mm_storeu_si128((__m128i *)&h[4], s1);
}

static bool cpu_has_sha_ni(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	if (!(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return false;
	if (__get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}
#endif

/* ---- dispatch ---- */

typedef void (*blocks_fn)(uint32_t *h, const uint8_t *p, size_t nblocks);

static blocks_fn hw_blocks; /* NULL: no hardware path on this CPU */
static bool force_portable;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#ifdef LLEM_SHA_NI
	if (cpu_has_sha_ni())
		hw_blocks = blocks_sha_ni;
#endif
}

static blocks_fn pick(void)
{
	pthread_once(&detect_once, detect);
	return hw_blocks && !force_portable ? hw_blocks : blocks_portable;
}

const char *sha256_impl(void)
{
	return pick() == blocks_portable ? "portable" : "sha-ni";
}

void sha256_force_portable(bool on)
{
	force_portable = on;
}

/* ---- streaming interface ---- */

void sha256_init(struct sha256_ctx *c)
{
	memcpy(c->h, H0, sizeof(H0));
	c->total = 0;
	c->fill = 0;
	c->blocks = pick();
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n;

	c->total += len;
	if (c->fill) {
		n = 64 - c->fill < len ? 64 - c->fill : len;
		memcpy(c->buf + c->fill, p, n);
		c->fill += n;
		p += n;
		len -= n;
		if (c->fill < 64)
			return;
		c->blocks(c->h, c->buf, 1);
		c->fill = 0;
	}
	if (len >= 64) {
		c->blocks(c->h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	if (len) {
		memcpy(c->buf, p, len);
		c->fill = len;
	}
}

void sha256_final(struct sha256_ctx *c, uint8_t digest[32])
{
	uint64_t bits = c->total * 8;
	size_t i;

	c->buf[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->buf + c->fill, 0, 64 - c->fill);
		c->blocks(c->h, c->buf, 1);
		c->fill = 0;
	}
	memset(c->buf + c->fill, 0, 56 - c->fill);
	for (i = 0; i < 8; i++)
		c->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	c->blocks(c->h, c->buf, 1);
	for (i = 0; i < 8; i++) {
		digest[4 * i] = (uint8_t)(c->h[i] >> 24);
		digest[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		digest[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		digest[4 * i + 3] = (uint8_t)c->h[i];
	}
}

void sha256_final_hex(struct sha256_ctx *c, char *out, size_t nhex)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[32];
	size_t i;

	sha256_final(c, d);
	if (nhex > 64)
		nhex = 64;
	for (i = 0; i < nhex; i++)
		out[i] = hex[(d[i / 2] >> (i % 2 ? 0 : 4)) & 0xF];
	out[nhex] = '\0';
}

void sha256(const void *data, size_t len, uint8_t digest[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, digest);
}

void sha256_hex(const void *data, size_t len, char *out, size_t nhex)
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final_hex(&c, out, nhex);
}
