/*
 * sigmoid_avx512.h - vectorised tanh and e^-t on 16 floats (AVX-512F/DQ + FMA), static inline
 * so that any file compiled with the AVX-512 flags can call them on values held in registers.
 * No libm, no -ffast-math. (The sigmoid: sigmoid_simd.h.)
 *
 * Method (constants and their derivation: sigmoid_consts.h): e^-t = 2^-m T[j] p(r) with a
 * 16-entry table (one vpermps) and a cubic, then
 *   tanh(|x|) = (2^m - T[j] p) / (2^m + T[j] p) for e^-2|x|, an odd polynomial below 0.5,
 *   2^m applied with integer adds to the exponent field.
 *
 * Accuracy contract, measured over all 2^32 floats against double precision (figures and
 * where they occur in kernels_avx512.c):
 *   bnn_tanh_ps_avx512: relative error <= 2.5e-7 for every float; odd (tanh(-0) = -0),
 *     tanh(+-inf) = +-1, NaN -> NaN; returns x itself for subnormal x.
 * The AVX2 versions (sigmoid_avx2.h) perform the same operations on the same constants and
 * return bitwise the same values.
 */
#ifndef BNN_SIGMOID_AVX512_H
#define BNN_SIGMOID_AVX512_H

#if !defined(__AVX512F__) || !defined(__AVX512DQ__) || !defined(__FMA__)
#error "sigmoid_avx512.h needs -mavx512f -mavx512dq -mfma"
#endif

#include <immintrin.h>

#include "sigmoid_consts.h"

/* Expands the table macros before _mm512_setr_ps (a macro in some compilers) counts them. */
#define BNN_SIG_SETR16(...) _mm512_setr_ps(__VA_ARGS__)

/* e^-t = 2^-m * (*tab) * p for |t| <= 110: returns p ~ e^-r, sets *tab = T[j] and *kbits to
 * the bits of t * 16/ln2 + MAGIC (k = kbits - MAGIC_BITS; j = its low 4 bits). */
static inline __m512 bnn_expneg_parts_ps_avx512(__m512 t, __m512i *kbits, __m512 *tab)
{
    const __m512 kfm = _mm512_fmadd_ps(t, _mm512_set1_ps(BNN_SIG_16_LOG2E),
                                       _mm512_set1_ps(BNN_SIG_MAGIC));
    const __m512 kf = _mm512_sub_ps(kfm, _mm512_set1_ps(BNN_SIG_MAGIC));
    __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(BNN_SIG_LN2_16_HI), t); /* exact */
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(BNN_SIG_LN2_16_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(-BNN_SIG_P3), r, _mm512_set1_ps(BNN_SIG_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    *kbits = _mm512_castps_si512(kfm);
    /* vpermps uses the low 4 bits of each index: j = k mod 16 (MAGIC_BITS is 0 mod 16). */
    *tab = _mm512_permutexvar_ps(*kbits,
                                 BNN_SIG_SETR16(BNN_SIG_EXP2_TABLE_LO, BNN_SIG_EXP2_TABLE_HI));
    return p;
}

/* m << 23 (the exponent-field increment of 2^m) from kbits: the bits of MAGIC vanish. */
static inline __m512i bnn_sig_mshift_avx512(__m512i kbits)
{
    return _mm512_slli_epi32(_mm512_srli_epi32(kbits, 4), 23);
}

/* e^-t for 0 <= t (the softmax's e^(z - max)): T p 2^-m with 2^-m applied to the exponent
 * field (a normal float for t <= 87); 0 above 87, NaN stays NaN. Relative error below 2.5e-7
 * (tests/test_loss.c). */
static inline __m512 bnn_expneg_ps_avx512(__m512 t)
{
    const __m512 lim = _mm512_set1_ps(87.0f);
    __m512i kbits;
    __m512 tab;
    const __m512 p = bnn_expneg_parts_ps_avx512(_mm512_min_ps(lim, t), &kbits, &tab);
    const __m512i tp = _mm512_castps_si512(_mm512_mul_ps(tab, p));
    const __m512 e = _mm512_castsi512_ps(_mm512_sub_epi32(tp, bnn_sig_mshift_avx512(kbits)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, lim, _CMP_GT_OQ), e, _mm512_setzero_ps());
}

static inline __m512 bnn_tanh_ps_avx512(__m512 x)
{
    const __m512 signbit = _mm512_set1_ps(-0.0f);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 ax = _mm512_andnot_ps(signbit, x);
    /* |x| >= 0.5: e^-2|x| with 2|x| clamped to 64 (tanh rounds to 1 from 9.01 on). */
    const __m512 t = _mm512_min_ps(_mm512_set1_ps(BNN_SIG_MAX_ARG), _mm512_add_ps(ax, ax));
    __m512i kbits;
    __m512 tab;
    const __m512 p = bnn_expneg_parts_ps_avx512(t, &kbits, &tab);
    const __m512 h = _mm512_castsi512_ps(
        _mm512_add_epi32(bnn_sig_mshift_avx512(kbits), _mm512_castps_si512(one)));
    const __m512 big = _mm512_div_ps(_mm512_fnmadd_ps(tab, p, h), _mm512_fmadd_ps(tab, p, h));
    /* |x| < 0.5: x + x^3 P(x^2). */
    const __m512 y = _mm512_mul_ps(ax, ax);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(BNN_TANH_T3), y, _mm512_set1_ps(BNN_TANH_T2));
    q = _mm512_fmadd_ps(q, y, _mm512_set1_ps(BNN_TANH_T1));
    q = _mm512_fmadd_ps(q, y, _mm512_set1_ps(BNN_TANH_T0));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(ax, y), q, ax);
    /* NaN compares false and takes the exp branch, which keeps it NaN. */
    const __mmask16 is_small =
        _mm512_cmp_ps_mask(ax, _mm512_set1_ps(BNN_TANH_SMALL), _CMP_LT_OQ);
    const __m512 mag = _mm512_mask_blend_ps(is_small, big, small);
    return _mm512_or_ps(mag, _mm512_and_ps(x, signbit));
}

#endif /* BNN_SIGMOID_AVX512_H */
