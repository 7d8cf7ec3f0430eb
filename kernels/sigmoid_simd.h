/*
 * sigmoid_simd.h - the SIMD sigmoid, written once for every vector width: included by
 * kernels_simd.h after the ISA file (kernels_avx2.c, kernels_avx512.c) has defined the vector
 * macros (kernels_simd.h lists them) and, for this file:
 *   VI (integer vector)  VCASTI(v) VCASTF(i) (bit casts)  VSET1I(x) VADDI VSUBI VSLLI(i, n)
 *   VSRAI(i, n)  VMIN(a, b) VMAX(a, b) (the second operand when either is NaN)  VDIV
 *   VROUND(v) (to the nearest integer, ties to even)  VCVTI(v) (float to int32, of integers)
 *   VMASK (a lane mask)  VNGE(a, b) (a >= b false, or unordered)  VANY(m)  VBLEND(m, a, b)
 *   (b where m, else a)
 *
 * Method (constants and their derivation: sigmoid_consts.h, BNN_SIG5_*):
 *   sigmoid(x) = 1 / (1 + 2^-k p(r)), e^-x = 2^-k p(r), k = round(x / ln2), |r| <= ln2/2, p a
 *   degree-5 polynomial and no table; 2^-k is an integer add to the exponent field (exact
 *   while 2^-k p is a normal float: -86.5 <= x <= 64, x clamped to 64 above), then one
 *   addition and one true division. The caller keeps several vectors in flight
 *   (kernels_simd.h: 4). Lanes below -86.5 (results near or in the subnormal range) or NaN send
 *   the vector through a slow path: 2^k / (p + 2^k) with 2^k = 2^k1 2^k2, two exact normal
 *   factors (k in [-159, 93] after clamping to -110), so that the only rounding into the
 *   subnormals is the last product; it gives bitwise the fast values on the other lanes, so a
 *   lane's result never depends on its neighbours. Every width performs the same operations
 *   on the same constants: AVX2 and AVX-512 return bitwise the same values.
 *
 * Accuracy contract, measured over all 2^32 floats against double precision: relative error
 * <= 2.7e-7 where sigmoid(x) is a normal float (measured 2.59e-7 at x = -16.9198284); below
 * (x < -87.34) within 2^-148 of the exact value (measured 1.70 * 2^-149 at x = -87.6250458),
 * +0 below -103.98; sigmoid(-inf) = +0, sigmoid(+inf) = 1, sigmoid(+-0) = 0.5, NaN -> NaN,
 * never NaN otherwise, never outside [0, 1].
 */
#include "sigmoid_consts.h"

/* e^-t = 2^-k p for |t| <= 110: returns p and sets *kfm = t log2e + MAGIC (k in its low bits). */
static inline V bnn_sig5_parts(V t, V *kfm)
{
    *kfm = VFMA(t, VSET1(BNN_SIG5_LOG2E), VSET1(BNN_SIG_MAGIC));
    const V kf = VSUB(*kfm, VSET1(BNN_SIG_MAGIC));
    V r = VFMA(kf, VSET1(-BNN_SIG5_LN2_HI), t); /* exact */
    r = VFMA(kf, VSET1(-BNN_SIG5_LN2_LO), r);
    V p = VFMA(VSET1(-BNN_SIG5_C5), r, VSET1(BNN_SIG5_C4));
    p = VFMA(p, r, VSET1(-BNN_SIG5_C3));
    p = VFMA(p, r, VSET1(BNN_SIG5_C2));
    p = VFMA(p, r, VSET1(-1.0f));
    return VFMA(p, r, VSET1(1.0f));
}

/* 1 / (1 + 2^-k p), valid for -86.5 <= t <= 64 */
static inline V bnn_sig5_fast(V p, V kfm)
{
    const V e = VCASTF(VSUBI(VCASTI(p), VSLLI(VCASTI(kfm), 23)));
    return VDIV(VSET1(1.0f), VADD(VSET1(1.0f), e));
}

/* 2^k / (p + 2^k) for k in [-160, 93]: 2^k as 2^k1 2^k2, two exact normal factors, so that
 * the only rounding into the subnormals is the last product (both slow paths) */
static inline V bnn_sig_scaled_ratio(V p, VI k)
{
    const VI k1 = VSRAI(k, 1);
    const VI k2 = VSUBI(k, k1);
    const V s1 = VCASTF(VSLLI(VADDI(k1, VSET1I(127)), 23));
    const V s2 = VCASTF(VSLLI(VADDI(k2, VSET1I(127)), 23));
    const V q = VDIV(VSET1(1.0f), VADD(p, VMUL(s1, s2)));
    return VMUL(VMUL(q, s1), s2);
}

/* Any lane (see above). Out of line: the hot loop stays small. */
static __attribute__((noinline)) V bnn_sigmoid_slow(V x)
{
    const V t = VMIN(VSET1(BNN_SIG_MAX_ARG), VMAX(VSET1(BNN_SIG_MIN_ARG), x));
    V kfm;
    const V p = bnn_sig5_parts(t, &kfm);
    const V fast = bnn_sig5_fast(p, kfm);
    const VI k = VSUBI(VCASTI(kfm), VSET1I(BNN_SIG_MAGIC_BITS));
    return VBLEND(VNGE(x, VSET1(BNN_SIG_FAST_MIN)), fast, bnn_sig_scaled_ratio(p, k));
}

static inline V bnn_sigmoid1(V x)
{
    V kfm;
    const V p = bnn_sig5_parts(VMIN(VSET1(BNN_SIG_MAX_ARG), x), &kfm);
    V s = bnn_sig5_fast(p, kfm);
    if (__builtin_expect(VANY(VNGE(x, VSET1(BNN_SIG_FAST_MIN))), 0))
        s = bnn_sigmoid_slow(x);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* The narrow kernels' form: sigmoid(z) given t = -z log2e, the scale folded into the layer's
 * weights and bias (narrow_impl.h), so that 1 + e^-z = 1 + 2^t needs no multiply and no
 * Cody-Waite reduction: k = round(t) (VROUND), r = t - k exactly (|r| <= 1/2, one
 * subtraction), 2^r = q(r) of degree 5 (BNN_SIG2_D*: the coefficients of
 * p above times ln2^i, so the same relative error 1.06e-7 before rounding) as 1 + r P(r) with
 * P of degree 4 in Estrin's form (r^2 beside two independent multiply-adds, then two: 16
 * cycles of latency where Horner's five steps take 20; Estrin for the whole of q measured
 * 2.72e-7, above the contract), 2^k an integer add to the exponent field, one addition and
 * one true division: four multiply-adds and a multiply where bnn_sigmoid1 has eight.
 * Fast while 2^t is a normal float (-92.33 <= t <= 127, t clamped to -92.33 = -64 log2e below,
 * where the result rounds to 1); above (results near or in the
 * subnormal range) or NaN, the vector takes bnn_sigmoid2_slow, which returns bitwise the fast
 * values on the other lanes. The accuracy contract is the sigmoid's above, as a function of t
 * against 1 / (1 + 2^t) in double; measured over all 2^32 floats (sigmoid_check --folded):
 * relative error 2.48e-7 at t = 24.5633621, below FLT_MIN 1.47 * 2^-149 at t = 126.432419,
 * and bitwise the same on AVX2 and AVX-512. */
static inline V bnn_sig2_parts(V t, VI *k)
{
    /* k = round(t) by VROUND (nearest, ties to even: what adding and subtracting MAGIC gives
     * here, 3 cycles sooner on the chain to r), then exactly converted */
    const V kf = VROUND(t);
    *k = VCVTI(kf);
    const V r = VSUB(t, kf); /* exact */
    const V r2 = VMUL(r, r);
    const V q12 = VFMA(VSET1(BNN_SIG2_D2), r, VSET1(BNN_SIG2_D1));
    const V q34 = VFMA(VSET1(BNN_SIG2_D4), r, VSET1(BNN_SIG2_D3));
    const V q = VFMA(VFMA(VSET1(BNN_SIG2_D5), r2, q34), r2, q12);
    return VFMA(q, r, VSET1(1.0f));
}

/* 1 / (1 + 2^k q), valid for -92.33 <= t <= 127 */
static inline V bnn_sig2_fast(V q, VI k)
{
    const V e = VCASTF(VADDI(VCASTI(q), VSLLI(k, 23)));
    return VDIV(VSET1(1.0f), VADD(VSET1(1.0f), e));
}

/* Any lane: 2^-k / (q + 2^-k) (bnn_sig_scaled_ratio; t clamped to [-92.33, 160]: -k in
 * [-160, 93]). */
static __attribute__((noinline)) V bnn_sigmoid2_slow(V t)
{
    const V tc = VMIN(VSET1(BNN_SIG2_MAX_ARG), VMAX(VSET1(BNN_SIG2_MIN_ARG), t));
    VI k;
    const V q = bnn_sig2_parts(tc, &k);
    const V fast = bnn_sig2_fast(q, k);
    const VI minus_k = VSUBI(VSET1I(0), k);
    return VBLEND(VNGE(VSET1(BNN_SIG2_FAST_MAX), t), fast, bnn_sig_scaled_ratio(q, minus_k));
}

/* The fast half of bnn_sigmoid2: exact where t < BNN_SIG2_FAST_MAX (a caller that tests
 * many vectors at once, the narrow layer-wise kernel, runs it and redoes the rare others) */
static inline V bnn_sigmoid2_fast(V t)
{
    VI k;
    const V q = bnn_sig2_parts(VMAX(VSET1(BNN_SIG2_MIN_ARG), t), &k);
    return bnn_sig2_fast(q, k);
}

static inline V bnn_sigmoid2(V t)
{
    V s = bnn_sigmoid2_fast(t);
    if (__builtin_expect(VANY(VNGE(VSET1(BNN_SIG2_FAST_MAX), t)), 0))
        s = bnn_sigmoid2_slow(t);
    return s;
}
