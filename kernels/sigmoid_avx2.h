/*
 * sigmoid_avx2.h - vectorised tanh and e^-t on 8 floats (AVX2 + FMA), static inline so that
 * any file compiled with -mavx2 -mfma can call them on values held in registers. No libm, no
 * -ffast-math. (The sigmoid: sigmoid_simd.h.)
 *
 * The same method, constants and operations as sigmoid_avx512.h, and bitwise the same
 * results: the 16-entry table is two 8-entry permutes and a blend.
 *
 * Accuracy contract (measured over all 2^32 floats; figures in kernels_avx2.c):
 *   bnn_tanh_ps_avx2: relative error <= 2.5e-7 for every float, odd, NaN -> NaN.
 */
#ifndef BNN_SIGMOID_AVX2_H
#define BNN_SIGMOID_AVX2_H

#if !defined(__AVX2__) || !defined(__FMA__)
#error "sigmoid_avx2.h needs -mavx2 -mfma"
#endif

#include <immintrin.h>

#include "sigmoid_consts.h"

/* Expands the table macros before _mm256_setr_ps (possibly a macro) counts them. */
#define BNN_SIG_SETR8(...) _mm256_setr_ps(__VA_ARGS__)

/* e^-t = 2^-m * (*tab) * p for |t| <= 110: returns p ~ e^-r, sets *tab = T[j] and *kbits to
 * the bits of t * 16/ln2 + MAGIC (k = kbits - MAGIC_BITS; j = its low 4 bits). */
static inline __m256 bnn_expneg_parts_ps_avx2(__m256 t, __m256i *kbits, __m256 *tab)
{
    const __m256 kfm = _mm256_fmadd_ps(t, _mm256_set1_ps(BNN_SIG_16_LOG2E),
                                       _mm256_set1_ps(BNN_SIG_MAGIC));
    const __m256 kf = _mm256_sub_ps(kfm, _mm256_set1_ps(BNN_SIG_MAGIC));
    __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(BNN_SIG_LN2_16_HI), t); /* exact */
    r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(BNN_SIG_LN2_16_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(-BNN_SIG_P3), r, _mm256_set1_ps(BNN_SIG_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(-1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    *kbits = _mm256_castps_si256(kfm);
    /* vpermps uses the low 3 bits of each index; bit 3 (moved to the sign) picks the half. */
    const __m256 lo = _mm256_permutevar8x32_ps(BNN_SIG_SETR8(BNN_SIG_EXP2_TABLE_LO), *kbits);
    const __m256 hi = _mm256_permutevar8x32_ps(BNN_SIG_SETR8(BNN_SIG_EXP2_TABLE_HI), *kbits);
    *tab = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(*kbits, 28)));
    return p;
}

/* m << 23 (the exponent-field increment of 2^m) from kbits: the bits of MAGIC vanish. */
static inline __m256i bnn_sig_mshift_avx2(__m256i kbits)
{
    return _mm256_slli_epi32(_mm256_srli_epi32(kbits, 4), 23);
}

/* e^-t for 0 <= t (the softmax's e^(z - max)): T p 2^-m with 2^-m applied to the exponent
 * field (a normal float for t <= 87); 0 above 87, NaN stays NaN. Bitwise the AVX-512 values. */
static inline __m256 bnn_expneg_ps_avx2(__m256 t)
{
    const __m256 lim = _mm256_set1_ps(87.0f);
    __m256i kbits;
    __m256 tab;
    const __m256 p = bnn_expneg_parts_ps_avx2(_mm256_min_ps(lim, t), &kbits, &tab);
    const __m256i tp = _mm256_castps_si256(_mm256_mul_ps(tab, p));
    const __m256 e = _mm256_castsi256_ps(_mm256_sub_epi32(tp, bnn_sig_mshift_avx2(kbits)));
    return _mm256_andnot_ps(_mm256_cmp_ps(t, lim, _CMP_GT_OQ), e);
}

static inline __m256 bnn_tanh_ps_avx2(__m256 x)
{
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 ax = _mm256_andnot_ps(signbit, x);
    /* |x| >= 0.5: e^-2|x| with 2|x| clamped to 64 (tanh rounds to 1 from 9.01 on). */
    const __m256 t = _mm256_min_ps(_mm256_set1_ps(BNN_SIG_MAX_ARG), _mm256_add_ps(ax, ax));
    __m256i kbits;
    __m256 tab;
    const __m256 p = bnn_expneg_parts_ps_avx2(t, &kbits, &tab);
    const __m256 h = _mm256_castsi256_ps(
        _mm256_add_epi32(bnn_sig_mshift_avx2(kbits), _mm256_castps_si256(one)));
    const __m256 big = _mm256_div_ps(_mm256_fnmadd_ps(tab, p, h), _mm256_fmadd_ps(tab, p, h));
    /* |x| < 0.5: x + x^3 P(x^2). */
    const __m256 y = _mm256_mul_ps(ax, ax);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(BNN_TANH_T3), y, _mm256_set1_ps(BNN_TANH_T2));
    q = _mm256_fmadd_ps(q, y, _mm256_set1_ps(BNN_TANH_T1));
    q = _mm256_fmadd_ps(q, y, _mm256_set1_ps(BNN_TANH_T0));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(ax, y), q, ax);
    /* NaN compares false and takes the exp branch, which keeps it NaN. */
    const __m256 is_small = _mm256_cmp_ps(ax, _mm256_set1_ps(BNN_TANH_SMALL), _CMP_LT_OQ);
    const __m256 mag = _mm256_blendv_ps(big, small, is_small);
    return _mm256_or_ps(mag, _mm256_and_ps(x, signbit));
}

#endif /* BNN_SIGMOID_AVX2_H */
