/*
 * sigmoid_simd.h - the SIMD sigmoid, written once for every vector width: included by
 * kernels_simd.h after the ISA file (kernels_avx2.c, kernels_avx512.c) has defined the vector
 * macros (kernels_simd.h lists them) and, for this file:
 *   VI (integer vector)  VCASTI(v) VCASTF(i) (bit casts)  VSET1I(x) VADDI VSUBI VSLLI(i, n)
 *   VSRAI(i, n)  VMIN(a, b) VMAX(a, b) (the second operand when either is NaN)  VDIV
 *   VROUND(v) (to the nearest integer, ties to even)  VCVTI(v) (float to int32, of integers)
 *   VMASK (a lane mask)  VNGE(a, b) (a >= b false, or unordered)  VANY(m)  VBLEND(m, a, b)
 *   (b where m, else a)  VTAB16(lo, hi, idx) (a 16-entry table lookup, kernels_simd.h)
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
 * Cody-Waite reduction: n = round(16 t) (adding and subtracting BNN_SIG2_MAGIC, nearest, ties
 * to even; n from the sum's low bits), r = t - n/16 exactly (|r| <= 1/32, one subtraction),
 * r = t - VROUND16(t) where the ISA file defines it (AVX-512's vrndscaleps, 3 cycles sooner),
 * k = n >> 4, and q = T + (T r) (E1 + r (E2 + r E3)) ~ 2^(t - k), T = T[n & 15], in
 * [2^-1/32, 2):
 * the 16-entry table of 2^(i/16) (VTAB16: one permute on AVX-512, two and a blend on AVX2) and
 * a cubic (sigmoid_consts.h, BNN_SIG2_*), three multiply-adds and a multiply on the FMA pipes
 * (a degree-5 polynomial on |r| <= 1/2 took five and a multiply); then 2^k an integer add
 * to the exponent field, one addition and one true division.
 * Fast while 2^t is a normal float (-92.33 <= t <= 127, t clamped to -92.33 = -64 log2e below,
 * where the result rounds to 1); above (results near or in the
 * subnormal range) or NaN, the vector takes bnn_sigmoid2_slow, which returns bitwise the fast
 * values on the other lanes. The accuracy contract is the sigmoid's above, as a function of t
 * against 1 / (1 + 2^t) in double; measured over all 2^32 floats (sigmoid_check --folded):
 * ACCURACY_TBD, and bitwise the same on AVX2 and AVX-512. */
static inline V bnn_sig2_parts(V t, VI *k)
{
    const V nm = VADD(t, VSET1(BNN_SIG2_MAGIC));
    const VI n = VSUBI(VCASTI(nm), VSET1I(BNN_SIG2_MAGIC_BITS));
    *k = VSRAI(n, 4);
#ifdef VROUND16
    const V r = VSUB(t, VROUND16(t));
#else
    const V r = VSUB(t, VSUB(nm, VSET1(BNN_SIG2_MAGIC))); /* both exact */
#endif
    const V tab = VTAB16(BNN_SIG2_EXP2_TABLE_LO, BNN_SIG2_EXP2_TABLE_HI, n);
    const V p = VFMA(VFMA(VSET1(BNN_SIG2_E3), r, VSET1(BNN_SIG2_E2)), r, VSET1(BNN_SIG2_E1));
    return VFMA(VMUL(tab, r), p, tab);
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
