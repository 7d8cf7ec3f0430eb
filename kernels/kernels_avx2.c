/*
 * kernels_avx2.c - the AVX2 table of element-wise kernels (compiled with -mavx2 -mfma; chosen
 * only when the CPU has both).
 *
 * The table itself is kernels_simd.h, instantiated here with 8-float vectors; the sigmoid is
 * sigmoid_simd.h, tanh and e^-t the hand-written vector functions of sigmoid_avx2.h; partial vectors use
 * vmaskmovps (masked-out lanes are neither read nor written).
 *
 * Accuracy contract, measured over all 2^32 float inputs against double precision:
 * - sigmoid: relative error <= 2.7e-7 where the exact result is a normal float (measured
 *   maximum 2.59e-7, at x = -16.9198284); for x < -87.34 (subnormal results) the absolute error
 *   is <= 2^-148, two subnormal ulps (measured 1.70 * 2^-149 at x = -87.6250458), +0 below
 *   -103.98; sigmoid(-inf) = 0, sigmoid(+inf) = 1, sigmoid(+-0) = 0.5, NaN -> NaN, never NaN
 *   for other inputs, never outside [0, 1].
 * - tanh (bias_act): relative error <= 2.5e-7 for every float (measured 1.87e-7 at
 *   x = 0.55356699), odd, tanh(+-inf) = +-1, NaN -> NaN.
 * - sigmoid and tanh are bitwise those of the other SIMD table (checked over all floats), and
 *   an element's result does not depend on its neighbours or its position.
 * - The other entries: kernels_loops.h, vectorised by the compiler with these flags.
 */
#include <immintrin.h>

#include "sigmoid_avx2.h"

#define BNN_SIMD_ISA "avx2"
#define BNN_SIMD_TABLE bnn_kernels_avx2
#define VLEN 8
typedef __m256 V;
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_load_ps(p)
#define VSTORE(p, v) _mm256_store_ps((p), (v))
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTOREU(p, v) _mm256_storeu_ps((p), (v))
/* lanes [0, m) */
static inline __m256i bnn_avx2_part_mask(size_t m)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), lane);
}
#define VLOAD_PART(p, m) _mm256_maskload_ps((p), bnn_avx2_part_mask(m))
#define VSTORE_PART(p, v, m) _mm256_maskstore_ps((p), bnn_avx2_part_mask(m), (v))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VFNMA(a, b, c) _mm256_fnmadd_ps((a), (b), (c)) /* c - a b */
#define VRELU(v) _mm256_max_ps(_mm256_setzero_ps(), (v)) /* NaN (second operand) propagates */
#define VMAX0(v) _mm256_max_ps((v), _mm256_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm256_and_ps(_mm256_cmp_ps((a), _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.0f))
#define VI __m256i
#define VCASTI(v) _mm256_castps_si256(v)
#define VCASTF(i) _mm256_castsi256_ps(i)
#define VSET1I(x) _mm256_set1_epi32(x)
#define VADDI(a, b) _mm256_add_epi32((a), (b))
#define VSUBI(a, b) _mm256_sub_epi32((a), (b))
#define VSLLI(i, n) _mm256_slli_epi32((i), (n))
#define VSRAI(i, n) _mm256_srai_epi32((i), (n))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VDIV(a, b) _mm256_div_ps((a), (b))
#define VROUND(v) _mm256_round_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VCVTI(v) _mm256_cvtps_epi32(v)
#define VNGE(a, b) _mm256_cmp_ps((a), (b), _CMP_NGE_UQ)
#define VANY(m) (_mm256_movemask_ps(m) != 0)
/* compare masks as a value (the narrow layer-wise kernel ORs a tile's, narrow_impl.h) */
#define VMASK __m256
#define VMASK_NONE() _mm256_setzero_ps()
#define VMASK_OR(a, b) _mm256_or_ps((a), (b))
#define VBLEND(m, a, b) _mm256_blendv_ps((a), (b), (m))
#define VDUP_EVEN(v) _mm256_moveldup_ps(v)                /* lanes 2i and 2i + 1 = lane 2i */
#define VODD_LANES(a, b) _mm256_blend_ps((a), (b), 0xaa) /* a's even lanes, b's odd ones */
/* The narrow path's row loader (narrow_impl.h): lane i = p[i * ld + f] for 8 consecutive rows
 * of ld floats (ld small, f < ld, both compile-time constants once inlined), read as ld whole
 * vectors. Odd ld: the positions (i * ld + f) mod 8 of the 8 lanes are all different, so the
 * ld vectors are first blended into one (position j from the vector holding the element that
 * sits there) and a single permute puts each element in its lane. ld = 2: an in-lane shuffle
 * of the two vectors and one cross-lane 64-bit permute. Other ld: each vector permuted and
 * blended into place. */
#define BNN_DEINT_E(i) (((i) * ld + f) & 7)
#define BNN_DEINT_M(i) (((i) * ld + f) / 8 == q ? 1 << (i) : 0)
/* odd ld: bit j set where position j of the blend comes from vector q (the lane i with
 * (i * ld + f) mod 8 = j reads vector (i * ld + f) / 8) */
#define BNN_DEINT_B(j) (bnn_deint_src(ld, f, j) == q ? 1 << (j) : 0)
static inline __attribute__((always_inline)) int bnn_deint_src(const int ld, const int f,
                                                               const int j)
{
    for (int i = 0; i < 8; i++)
        if ((i * ld + f) % 8 == j)
            return (i * ld + f) / 8;
    return 0;
}
/* A blend of constant positions m (bit j: position j from b): GCC keeps vblendvps, and a
 * register for its mask, unless given the immediate form (vblendps, which any of the four FP
 * pipes runs), whose intrinsic takes m once inlining has made it a constant (so only when
 * optimising, and only when the compiler could fold m: under the sanitizers' checks GCC -O2
 * does not, hence __builtin_constant_p, which picks the variable blend then and leaves the
 * immediate form's branch dead); clang's intrinsic wants a constant expression, and clang
 * itself turns a vblendvps of a constant mask into vblendps. */
#define BNN_BLEND_VAR(a, b, m)                                                                 \
    _mm256_blendv_ps((a), (b),                                                                 \
                     _mm256_castsi256_ps(_mm256_setr_epi32(                                    \
                         -((m) & 1), -((m) >> 1 & 1), -((m) >> 2 & 1), -((m) >> 3 & 1),        \
                         -((m) >> 4 & 1), -((m) >> 5 & 1), -((m) >> 6 & 1), -((m) >> 7 & 1))))
#if defined(__OPTIMIZE__) && !defined(__clang__)
#define BNN_BLEND_CONST(a, b, m)                                                               \
    (__builtin_constant_p(m) ? _mm256_blend_ps((a), (b), (m)) : BNN_BLEND_VAR(a, b, m))
#else
#define BNN_BLEND_CONST(a, b, m) BNN_BLEND_VAR(a, b, m)
#endif
/* odd ld: vector q blended into r where its elements sit */
static inline __attribute__((always_inline)) __m256 bnn_deint_odd(const float *p, const int ld,
                                                                  const int f, const int q,
                                                                  const __m256 r)
{
    const int m = BNN_DEINT_B(0) | BNN_DEINT_B(1) | BNN_DEINT_B(2) | BNN_DEINT_B(3) |
                  BNN_DEINT_B(4) | BNN_DEINT_B(5) | BNN_DEINT_B(6) | BNN_DEINT_B(7);
    return BNN_BLEND_CONST(r, _mm256_loadu_ps(p + 8 * q), m);
}
/* other ld: vector q permuted into place and blended into r */
static inline __attribute__((always_inline)) __m256 bnn_deint_even(const float *p, const int ld,
                                                                   const int f, const int q,
                                                                   const __m256i idx,
                                                                   const __m256 r)
{
    const __m256 t = _mm256_permutevar8x32_ps(_mm256_loadu_ps(p + 8 * q), idx);
    const int m = BNN_DEINT_M(0) | BNN_DEINT_M(1) | BNN_DEINT_M(2) | BNN_DEINT_M(3) |
                  BNN_DEINT_M(4) | BNN_DEINT_M(5) | BNN_DEINT_M(6) | BNN_DEINT_M(7);
    return BNN_BLEND_CONST(r, t, m);
}
static inline __attribute__((always_inline)) __m256 bnn_narrow_deint(const float *p, const int ld,
                                                                     const int f)
{
    if (ld == 1)
        return _mm256_loadu_ps(p);
    const __m256i idx =
        _mm256_setr_epi32(BNN_DEINT_E(0), BNN_DEINT_E(1), BNN_DEINT_E(2), BNN_DEINT_E(3),
                          BNN_DEINT_E(4), BNN_DEINT_E(5), BNN_DEINT_E(6), BNN_DEINT_E(7));
    if (ld == 2) {
        /* [x0 x2 y0 y2 | x4 x6 y4 y6] (f = 0) -> 64-bit lanes 0, 2, 1, 3 */
        const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
        const __m256 t = f == 0 ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))
                                : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        const __m256d t64 = _mm256_castps_pd(t);
        return _mm256_castpd_ps(_mm256_permute4x64_pd(t64, _MM_SHUFFLE(3, 1, 2, 0)));
    }
    /* vectors q = 1 .. 7 (ld <= 8) written out: no loop for a compiler to leave rolled */
    if (ld % 2 == 1) {
        __m256 r = _mm256_loadu_ps(p);
#define BNN_DEINT_ODD(q) (q < ld ? bnn_deint_odd(p, ld, f, q, r) : r)
        r = BNN_DEINT_ODD(1);
        r = BNN_DEINT_ODD(2);
        r = BNN_DEINT_ODD(3);
        r = BNN_DEINT_ODD(4);
        r = BNN_DEINT_ODD(5);
        r = BNN_DEINT_ODD(6);
        r = BNN_DEINT_ODD(7);
#undef BNN_DEINT_ODD
        return _mm256_permutevar8x32_ps(r, idx);
    }
    __m256 r = _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), idx);
#define BNN_DEINT_EVEN(q) (q < ld ? bnn_deint_even(p, ld, f, q, idx, r) : r)
    r = BNN_DEINT_EVEN(1);
    r = BNN_DEINT_EVEN(2);
    r = BNN_DEINT_EVEN(3);
    r = BNN_DEINT_EVEN(4);
    r = BNN_DEINT_EVEN(5);
    r = BNN_DEINT_EVEN(6);
    r = BNN_DEINT_EVEN(7);
#undef BNN_DEINT_EVEN
    return r;
}
#undef BNN_DEINT_E
#undef BNN_DEINT_M
#undef BNN_DEINT_B
#undef BNN_BLEND_CONST
#define VDEINT(p, ld, f) bnn_narrow_deint((p), (ld), (f))
#define VSIGMOID(v) bnn_sigmoid1(v) /* sigmoid_simd.h */
#define VSIGMOID2(t) bnn_sigmoid2(t) /* of t = -z log2e, the narrow path: sigmoid_simd.h */
#define VTANH(v) bnn_tanh_ps_avx2(v)
#define VEXPNEG(t) bnn_expneg_ps_avx2(t)

#include "kernels_simd.h"
