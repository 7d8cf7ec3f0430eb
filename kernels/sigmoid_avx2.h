/*
 * sigmoid_avx2.h - vectorised sigmoid and tanh on 8 floats (AVX2 + FMA), static inline so
 * that any file compiled with -mavx2 -mfma (kernels_avx2.c, a fused engine) can call them on
 * values held in registers. No libm, no -ffast-math.
 *
 * The same method, constants and operations as sigmoid_avx512.h (described there), and bitwise
 * the same results: the sigmoid needs no table (a degree-5 polynomial); tanh's 16-entry table
 * is two 8-entry permutes and a blend; the sigmoid's slow path (lanes below -86.5 or NaN)
 * applies 2^k as two exact power-of-two factors 2^(k - k/2) and 2^(k/2), each a normal float
 * for k in [-159, 93], so the only rounding into the subnormal range is the last product.
 *
 * Accuracy contract (measured over all 2^32 floats; figures in kernels_avx2.c):
 *   bnn_sigmoid_ps_avx2: relative error <= 2.7e-7 where sigmoid(x) is a normal float; below,
 *     within 2^-148 (two subnormal ulps) of the exact value (+0 below -103.98); -inf -> 0,
 *     +inf -> 1, NaN -> NaN, never NaN otherwise.
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

/* The sigmoid's e^-t = 2^-k p for |t| <= 110 (sigmoid_consts.h, BNN_SIG5_*): returns p and sets
 * *kfm = t log2e + MAGIC, whose low bits hold k. */
static inline __m256 bnn_sig5_parts_ps_avx2(__m256 t, __m256 *kfm)
{
    *kfm = _mm256_fmadd_ps(t, _mm256_set1_ps(BNN_SIG5_LOG2E), _mm256_set1_ps(BNN_SIG_MAGIC));
    const __m256 kf = _mm256_sub_ps(*kfm, _mm256_set1_ps(BNN_SIG_MAGIC));
    __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(BNN_SIG5_LN2_HI), t); /* exact */
    r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(BNN_SIG5_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(-BNN_SIG5_C5), r, _mm256_set1_ps(BNN_SIG5_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(-BNN_SIG5_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BNN_SIG5_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(-1.0f));
    return _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
}

/* 1 / (1 + 2^-k p), 2^-k applied to the exponent field: exact while 2^-k p is a normal float
 * (-86.5 <= t <= 64: -125 <= k <= 93); one addition, one division. */
static inline __m256 bnn_sig5_fast_ps_avx2(__m256 p, __m256 kfm)
{
    const __m256i e = _mm256_sub_epi32(_mm256_castps_si256(p),
                                       _mm256_slli_epi32(_mm256_castps_si256(kfm), 23));
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, _mm256_castsi256_ps(e)));
}

/* The sigmoid for any lane: the fast formula where it is valid, else (x < -86.5, NaN)
 * 2^k / (p + 2^k) with 2^k = 2^k1 2^k2, two exact normal factors, so that the only rounding
 * into the subnormal range is the last product. Clamped to [-110, 64]; NaN passes through
 * min/max (they return their second operand) and p. */
/* Out of line (and possibly unused by an includer): the hot loop stays small. */
static __attribute__((noinline, unused)) __m256 bnn_sigmoid_slow_ps_avx2(__m256 x)
{
    const __m256 t = _mm256_min_ps(_mm256_set1_ps(BNN_SIG_MAX_ARG),
                                   _mm256_max_ps(_mm256_set1_ps(BNN_SIG_MIN_ARG), x));
    __m256 kfm;
    const __m256 p = bnn_sig5_parts_ps_avx2(t, &kfm);
    const __m256 fast = bnn_sig5_fast_ps_avx2(p, kfm);
    const __m256i k = _mm256_sub_epi32(_mm256_castps_si256(kfm),
                                       _mm256_set1_epi32(BNN_SIG_MAGIC_BITS));
    const __m256i k1 = _mm256_srai_epi32(k, 1);
    const __m256i k2 = _mm256_sub_epi32(k, k1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
    const __m256 q = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(p, _mm256_mul_ps(s1, s2)));
    const __m256 small = _mm256_mul_ps(_mm256_mul_ps(q, s1), s2);
    const __m256 slow = _mm256_cmp_ps(x, _mm256_set1_ps(BNN_SIG_FAST_MIN), _CMP_NGE_UQ);
    return _mm256_blendv_ps(fast, small, slow);
}

static inline __m256 bnn_sigmoid_ps_avx2(__m256 x)
{
    __m256 kfm;
    const __m256 p = bnn_sig5_parts_ps_avx2(_mm256_min_ps(_mm256_set1_ps(BNN_SIG_MAX_ARG), x),
                                            &kfm);
    __m256 s = bnn_sig5_fast_ps_avx2(p, kfm);
    const __m256 slow = _mm256_cmp_ps(x, _mm256_set1_ps(BNN_SIG_FAST_MIN), _CMP_NGE_UQ);
    if (__builtin_expect(_mm256_movemask_ps(slow) != 0, 0))
        s = bnn_sigmoid_slow_ps_avx2(x);
    return s;
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
