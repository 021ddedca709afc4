/*
 * Scalar conversions between fp32 and the 16-bit float formats, exact to
 * IEEE 754: round to nearest even, subnormals kept, NaN stays NaN. The
 * SIMD kernels must agree with these bit for bit (tests check it).
 */
#include "engine/kernels.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

float engine_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;

	if (exp == 0x1f) { /* inf, or NaN made quiet as F16C does */
		if (man)
			return bits_f32(sign | 0x7fc00000 | (man << 13));
		return bits_f32(sign | 0x7f800000);
	}
	if (exp == 0) {
		if (man == 0)
			return bits_f32(sign);
		/* Subnormal: man * 2^-24, exact in fp32. */
		float v = (float)man * (1.0f / 16777216.0f);
		return sign ? -v : v;
	}
	return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t engine_f32_to_f16(float f)
{
	uint32_t u = f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t abs = u & 0x7fffffff;

	if (abs >= 0x7f800000) { /* inf, or NaN made quiet so it stays NaN */
		if (abs == 0x7f800000)
			return sign | 0x7c00;
		return sign | 0x7e00 | (uint16_t)((abs >> 13) & 0x3ff);
	}
	if (abs >= 0x477ff000) /* rounds to >= 65520: overflow to inf */
		return sign | 0x7c00;
	if (abs < 0x38800000) {
		/* Result is subnormal (or zero): value / 2^-24 rounded to
		 * nearest even. Below 2^-25 everything rounds to zero; the
		 * shift below would go past 31 bits otherwise. */
		if (abs < 0x33000000)
			return sign;
		uint32_t man = (abs & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - (abs >> 23); /* 14..24 */
		uint32_t q = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1);
		uint32_t half = 1u << (shift - 1);

		if (rem > half || (rem == half && (q & 1)))
			q++;
		return sign | (uint16_t)q; /* a carry into 0x400 is right */
	}
	/* Normal: rebias the exponent, round the 13 dropped bits. A carry
	 * out of the mantissa correctly bumps the exponent. */
	uint32_t r = abs - 0x38000000;
	uint32_t lsb = (r >> 13) & 1;

	r += 0xfff + lsb;
	return sign | (uint16_t)(r >> 13);
}

float engine_bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

uint16_t engine_f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffff) > 0x7f800000) /* NaN: keep it NaN, quiet */
		return (uint16_t)((u >> 16) | 0x0040);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}
