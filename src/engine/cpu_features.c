/*
 * Which SIMD the engine may use: cpuid for what the CPU has, xgetbv for
 * what the OS saves on a context switch (a CPU with AVX-512 under an OS
 * that does not save ZMM state must not run AVX-512 code).
 */
#include "engine/kernels.h"
#include "engine/matmul_impl.h"

#include "llem/errors.h"
#include "util/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* Kernel levels, lowest first; each one needs every feature of the last. */
enum isa_level {
	ISA_GENERIC,
	ISA_AVX2,   /* avx2 + fma + f16c */
	ISA_AVX512, /* avx512f/bw/vl + vnni, on top of AVX2 */
	ISA_AVX512_BF16
};

static const char *const level_names[] = { "generic", "avx2", "avx512", "avx512-bf16" };

static struct engine_cpu detected; /* what the hardware and OS allow */
static struct engine_cpu active;   /* capped by LLEM_NATIVE_ISA or tests */
static enum isa_level detected_level, active_level;
static const struct matmul_kernels *active_kernels;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	/* xgetbv with ecx = 0; only valid once cpuid says OSXSAVE. */
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(struct engine_cpu *c)
{
	unsigned a, b, cx, d, max_leaf;
	bool os_avx, os_avx512;
	uint64_t xcr0;

	max_leaf = __get_cpuid_max(0, NULL);
	if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &cx, &d))
		return;
	if (!(cx & (1u << 27)) || !(cx & (1u << 28)))
		return; /* no OSXSAVE or no AVX: nothing below is usable */
	xcr0 = read_xcr0();
	/* XCR0: bits 1-2 SSE and YMM state; 5-7 opmask, ZMM 0-15 high
	 * halves, ZMM 16-31. */
	os_avx = (xcr0 & 0x6) == 0x6;
	os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
	if (!os_avx)
		return;
	c->fma = cx & (1u << 12);
	c->f16c = cx & (1u << 29);
	if (max_leaf < 7)
		return;
	__cpuid_count(7, 0, a, b, cx, d);
	c->avx2 = b & (1u << 5);
	if (os_avx512) {
		c->avx512f = b & (1u << 16);
		c->avx512bw = b & (1u << 30);
		c->avx512vl = b & (1u << 31);
		c->avx512_vnni = cx & (1u << 11);
		if (a >= 1) { /* eax of leaf 7.0 is the highest sub-leaf */
			__cpuid_count(7, 1, a, b, cx, d);
			c->avx512_bf16 = a & (1u << 5);
		}
	}
}
#endif

static enum isa_level level_of(const struct engine_cpu *c)
{
	if (!(c->avx2 && c->fma && c->f16c))
		return ISA_GENERIC;
	if (!(c->avx512f && c->avx512bw && c->avx512vl && c->avx512_vnni))
		return ISA_AVX2;
	return c->avx512_bf16 ? ISA_AVX512_BF16 : ISA_AVX512;
}

/* The feature set a level may use: tests and the override must never
 * leave a feature visible that the chosen kernels are not meant to use. */
static struct engine_cpu cap_to(const struct engine_cpu *c, enum isa_level l)
{
	struct engine_cpu r = *c;

	if (l < ISA_AVX512_BF16)
		r.avx512_bf16 = false;
	if (l < ISA_AVX512)
		r.avx512f = r.avx512bw = r.avx512vl = r.avx512_vnni = false;
	if (l < ISA_AVX2)
		r.avx2 = r.fma = r.f16c = false;
	return r;
}

static const struct matmul_kernels *kernels_for(enum isa_level l)
{
	switch (l) {
#if defined(__x86_64__)
	case ISA_AVX512_BF16: return &matmul_kernels_avx512_bf16;
	case ISA_AVX512: return &matmul_kernels_avx512;
	case ISA_AVX2: return &matmul_kernels_avx2;
#endif
	default: return &matmul_kernels_generic;
	}
}

static int level_from_name(const char *name, enum isa_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum isa_level)i;
			return 0;
		}
	}
	return -1;
}

static void apply(enum isa_level l)
{
	active_level = l;
	active = cap_to(&detected, l);
	active_kernels = kernels_for(l);
}

static void detect(void)
{
	const char *env = getenv("LLEM_NATIVE_ISA");
	enum isa_level want;

#if defined(__x86_64__)
	detect_x86(&detected);
#endif
	detected_level = level_of(&detected);
	want = detected_level;
	/* An unknown value keeps the best level: the engine cannot report
	 * it from here, and the kernel name in every result shows the
	 * choice that was made. */
	if (env && *env && level_from_name(env, &want) == 0 && want > detected_level)
		want = detected_level;
	apply(want);
}

const struct engine_cpu *engine_cpu(void)
{
	pthread_once(&detect_once, detect);
	return &active;
}

const char *engine_cpu_kernel_name(void)
{
	pthread_once(&detect_once, detect);
	return level_names[active_level];
}

const struct matmul_kernels *matmul_kernels(void)
{
	pthread_once(&detect_once, detect);
	return active_kernels;
}

int engine_cpu_set_isa(const char *name)
{
	enum isa_level l;

	pthread_once(&detect_once, detect);
	if (level_from_name(name, &l) != 0)
		return error_set(LLEM_EINVAL,
				 "unknown kernel set '%s' (generic, avx2, "
				 "avx512, avx512-bf16)",
				 name);
	if (l > detected_level)
		return error_set(LLEM_ENOTSUP,
				 "kernel set '%s' needs CPU features this "
				 "machine lacks (best: %s)",
				 name, level_names[detected_level]);
	apply(l);
	return 0;
}
