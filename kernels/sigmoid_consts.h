/*
 * sigmoid_consts.h - constants shared by the hand-written SIMD sigmoid and tanh
 * (sigmoid_avx2.h, sigmoid_avx512.h), so that both paths evaluate the same formulas with the
 * same numbers: for the same input they return bitwise the same result.
 *
 * e^-t is evaluated as 2^-m * T[j] * p(r) with
 *   k = nearest integer to t * 16 / ln2 (taken from the low bits of t * 16/ln2 + 1.5 * 2^23),
 *   m = floor(k / 16), j = k mod 16, T[j] = 2^(-j/16) (a 16-entry table, one AVX-512
 *   register), r = t - k ln2/16, |r| <= ln2/32 (a little more after rounding),
 *   p(r) = 1 - r + P2 r^2 - P3 r^3 ~ e^-r.
 * The reduction uses a two-part ln2/16 (Cody-Waite): with FMA, t - k * LN2_16_HI is exact
 * (for k != 0, t and k * LN2_16_HI are multiples of 2^-29 and their difference is below 2^-5,
 * so it fits in a float), and LN2_16_LO carries the rest (|k| <= 2540). The cubic is our own
 * minimax fit for relative error of e^r on [-1.02 ln2/32, 1.02 ln2/32] with the constant and
 * linear terms fixed at 1 (the fitted linear coefficient rounds to exactly 1): 1.8e-9 with the
 * float coefficients. The table entries are 2^(-j/16) rounded to float (relative error
 * <= 2^-25).
 *
 * tanh(x), 0 <= x < BNN_TANH_SMALL: x + x^3 (t0 + y (t1 + y (t2 + y t3))), y = x^2, our own
 * minimax fit for relative error of tanh on [0, 0.5] (1.5e-8 before rounding).
 */
#ifndef BNN_SIGMOID_CONSTS_H
#define BNN_SIGMOID_CONSTS_H

#define BNN_SIG_MAGIC 0x1.8p23f        /* adding it rounds to an integer in the low bits */
#define BNN_SIG_MAGIC_BITS 0x4b400000  /* its bit pattern: k = bits(t * 16/ln2 + MAGIC) - this */
#define BNN_SIG_16_LOG2E 0x1.715476p+4f /* 16 / ln2 */
#define BNN_SIG_LN2_16_HI 0x1.62e430p-5f
#define BNN_SIG_LN2_16_LO -0x1.05c610p-33f
#define BNN_SIG_P2 0x1.000236p-1f
#define BNN_SIG_P3 0x1.55521ap-3f

/* 2^(-j/16), j = 0..7 and 8..15. */
#define BNN_SIG_EXP2_TABLE_LO                                                                  \
    0x1p+0f, 0x1.ea4afap-1f, 0x1.d5818ep-1f, 0x1.c199bep-1f, 0x1.ae89fap-1f, 0x1.9c4918p-1f,    \
        0x1.8ace54p-1f, 0x1.7a1148p-1f
#define BNN_SIG_EXP2_TABLE_HI                                                                  \
    0x1.6a09e6p-1f, 0x1.5ab07ep-1f, 0x1.4bfdaep-1f, 0x1.3dea64p-1f, 0x1.306fe0p-1f,            \
        0x1.2387a6p-1f, 0x1.172b84p-1f, 0x1.0b5586p-1f

/* Argument range. sigmoid(x) rounds to 1 above 17.4 and e^-x needs no more than 2^93 there,
 * so x is clamped to 64 (+inf -> 1). The fast path scales by 2^m with integer adds to the
 * exponent field, exact while the result is a normal float: x >= -86.5 (m >= -125). Lanes
 * below (or NaN) take the slow path, which clamps at -110 (-inf -> 0; sigmoid(x) rounds to
 * +0 below -103.98) and scales with correct rounding into the subnormal range; both paths
 * give bitwise the same result wherever the fast one is valid. */
#define BNN_SIG_MAX_ARG 64.0f
#define BNN_SIG_FAST_MIN -86.5f
#define BNN_SIG_MIN_ARG -110.0f

/* The sigmoid's e^-t (sigmoid_simd.h): 2^-k p(r) with k = nearest integer to
 * t / ln2 (from the low bits of t log2e + MAGIC), r = t - k ln2 (Cody-Waite with FMA, the
 * LN2_16 split scaled by 16: t - k LN2_HI is exact for |k| <= 159), |r| <= ln2/2 (a little
 * more after rounding), and a degree-5 polynomial, no table:
 *   p(r) = 1 - r + C2 r^2 - C3 r^3 + C4 r^4 - C5 r^5 ~ e^-r,
 * our own near-minimax fit (iteratively reweighted least squares on Chebyshev nodes) for the
 * relative error of e^r = 1 + r + C2 r^2 + ... on [-1.0005 ln2/2, 1.0005 ln2/2], constant and
 * linear terms fixed at 1: 1.06e-7 with the float coefficients (before evaluation rounding). */
#define BNN_SIG5_LOG2E 0x1.715476p+0f
#define BNN_SIG5_LN2_HI 0x1.62e430p-1f
#define BNN_SIG5_LN2_LO -0x1.05c610p-29f
#define BNN_SIG5_C2 0x1.fffdfcp-2f
#define BNN_SIG5_C3 0x1.5557b0p-3f
#define BNN_SIG5_C4 0x1.572a64p-5f
#define BNN_SIG5_C5 0x1.106252p-7f

#define BNN_TANH_SMALL 0.5f
#define BNN_TANH_T0 -0x1.5554d6p-2f
#define BNN_TANH_T1 0x1.10e9fcp-3f
#define BNN_TANH_T2 -0x1.b28c78p-5f
#define BNN_TANH_T3 0x1.1a7c10p-6f

/* The narrow kernels' sigmoid of t = -z log2e (sigmoid_simd.h, bnn_sigmoid2): 2^r ~ q(r) =
 * 1 + D1 r + ... + D5 r^5 on |r| <= 1/2, the coefficients of the polynomial above times
 * ln2^i (computed in long double, rounded to float). Fast for -92.33 <= t <= 127 (t clamped
 * below to -64 log2e, as z is clamped above to 64); the slow path clamps above to 160 (z =
 * -110.9). */
#define BNN_SIG2_LOG2E 1.4426950408889634 /* double: the weights are scaled in double */
#define BNN_SIG2_D1 0x1.62e43p-1f
#define BNN_SIG2_D2 0x1.ebf9fp-3f
#define BNN_SIG2_D3 0x1.c6b3bp-5f
#define BNN_SIG2_D4 0x1.3cdbdp-7f
#define BNN_SIG2_D5 0x1.5ca85p-10f
#define BNN_SIG2_MIN_ARG -0x1.715476p+6f
#define BNN_SIG2_FAST_MAX 127.0f
#define BNN_SIG2_MAX_ARG 160.0f

#endif /* BNN_SIGMOID_CONSTS_H */
