#pragma once
// What the hand-written vector kernels share: the switches that pick them,
// and the few vector helpers more than one of them needs.
//
// x86: the AVX2 kernels are compiled for AVX2 with FMA and F16C (which every
// AVX2 x86 has) function by function, in a binary built for any x86-64, and
// run where use_avx2_kernels() says so; elsewhere the plain C++ loops beside
// them run. (Not under ThreadSanitizer, whose runtime is not ready for the
// multiversion resolvers rows_times_weight.cpp also uses: there the plain
// loops run.)
// 64-bit Arm (a Raspberry Pi 3, 4 or 5): NEON is part of the architecture, so
// the NEON kernels are compiled in and run unless DISTGPT_KERNELS=portable;
// the plain C++ loops of the float formats are vectorized for NEON by the
// compiler already, so only the block formats' integer dot products have
// NEON kernels of their own.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define DISTGPT_AVX2_KERNELS 1
#define DISTGPT_AVX2 __attribute__((target("avx2,fma,f16c")))
#include <immintrin.h>
#else
#define DISTGPT_AVX2_KERNELS 0
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#define DISTGPT_NEON_KERNELS 1
#include <arm_neon.h>
#else
#define DISTGPT_NEON_KERNELS 0
#endif

namespace distgpt {

// True on a CPU with AVX2, FMA and F16C, unless DISTGPT_KERNELS=portable asks
// for the plain C++ kernels on any CPU: what a machine without AVX2 computes
// (the tests check both ways).
bool use_avx2_kernels();
// True on 64-bit Arm, unless DISTGPT_KERNELS=portable.
bool use_neon_kernels();

#if DISTGPT_AVX2_KERNELS
// The 8 lanes added as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
DISTGPT_AVX2 inline float sum8(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // 4 lanes
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));                                  // 2 lanes
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Four accumulators' lanes added at once, lane j of the result being
// ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7)) of the j-th: three adds a row where
// sum8 takes six.
DISTGPT_AVX2 inline __m128 sum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);  // pairs, per 128-bit half
    const __m256 abcd = _mm256_hadd_ps(ab, cd);                         // quads: a b c d of each half
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// e^x of 8 floats, within 2 ulp of the true value where it is a normal
// float (Cephes' expf): x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r from a
// degree-6 polynomial, 2^n put into the exponent. Arguments are held to
// ±88.38, so e^x never overflows to infinity (e^88.38 ≈ 2.4e38) and reaches
// 0 below -87.3; NaN stays NaN.
DISTGPT_AVX2 inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x));        // NaN passes both
    const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));  // round(x / ln 2)
    // r = x - n·ln 2, with ln 2 in two parts so r keeps its low bits.
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 e_r = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));            // e^r
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);  // 2^n
    return _mm256_mul_ps(e_r, _mm256_castsi256_ps(two_n));
}
#endif

}  // namespace distgpt
