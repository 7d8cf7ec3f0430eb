/*
 * kernels_avx512.c - the AVX-512 table of element-wise kernels (compiled with -mavx512f
 * -mavx512dq -mavx512vl -mavx512bw -mavx2 -mfma; chosen only when the CPU has all of them).
 *
 * The table itself is kernels_simd.h, instantiated here with 16-float vectors; the sigmoid is
 * sigmoid_simd.h, tanh and e^-t the hand-written vector functions of sigmoid_avx512.h; partial vectors use masked
 * loads and stores.
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

#include "sigmoid_avx512.h"

#define BNN_SIMD_ISA "avx512"
#define BNN_SIMD_TABLE bnn_kernels_avx512
#define VLEN 16
typedef __m512 V;
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_load_ps(p)
#define VSTORE(p, v) _mm512_store_ps((p), (v))
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps((p), (v))
/* lanes [0, m) */
#define BNN_AVX512_PART_MASK(m) ((__mmask16)((1u << (m)) - 1u))
#define VLOAD_PART(p, m) _mm512_maskz_loadu_ps(BNN_AVX512_PART_MASK(m), (p))
#define VSTORE_PART(p, v, m) _mm512_mask_storeu_ps((p), BNN_AVX512_PART_MASK(m), (v))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VFNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c)) /* c - a b */
#define VRELU(v) _mm512_max_ps(_mm512_setzero_ps(), (v)) /* NaN (second operand) propagates */
#define VMAX0(v) _mm512_max_ps((v), _mm512_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((a), _mm512_setzero_ps(), _CMP_GT_OQ),            \
                        _mm512_set1_ps(1.0f))
#define VI __m512i
#define VCASTI(v) _mm512_castps_si512(v)
#define VCASTF(i) _mm512_castsi512_ps(i)
#define VSET1I(x) _mm512_set1_epi32(x)
#define VADDI(a, b) _mm512_add_epi32((a), (b))
#define VSUBI(a, b) _mm512_sub_epi32((a), (b))
#define VSLLI(i, n) _mm512_slli_epi32((i), (n))
#define VSRAI(i, n) _mm512_srai_epi32((i), (n))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VDIV(a, b) _mm512_div_ps((a), (b))
#define VROUND(v) _mm512_roundscale_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VCVTI(v) _mm512_cvtps_epi32(v)
#define VNGE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_NGE_UQ)
#define VANY(m) ((m) != 0)
/* the tiny kernel's one test per layer (narrow_impl.h NT_SIG2_LAYER) */
#define NT_MASK __mmask16
#define NT_MASK_NONE() ((__mmask16)0)
#define NT_MASK_OR(a, b) ((__mmask16)((a) | (b)))
#define VBLEND(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
#define VDUP_EVEN(v) _mm512_moveldup_ps(v)                   /* lanes 2i and 2i + 1 = lane 2i */
#define VODD_LANES(a, b) _mm512_mask_blend_ps(0xaaaa, (a), (b)) /* a's even lanes, b's odd */
/* The narrow path's row loader (narrow_impl.h): lane i = p[i * ld + f] for 16 consecutive
 * rows of ld floats (ld small, f < ld, both compile-time constants once inlined), read as ld
 * whole vectors and split with two-source permutes (pairs of vectors), blended by a mask. */
#define BNN_DEINT_E(i) (((i) * ld + f) & 31)
/* bit i: lane i's element is in pair m */
#define BNN_DEINT_K(i) ((unsigned)(((i) * ld + f) / 32 == m) << (i))
/* pair m (vectors 2m, 2m + 1, or 2m alone when ld is odd) permuted, merged into r */
static inline __attribute__((always_inline)) __m512 bnn_deint_pair(const float *p, const int ld,
                                                                   const int f, const int m,
                                                                   const __m512i idx, __m512 r)
{
    const __m512 a = _mm512_loadu_ps(p + 32 * m);
    const __m512 b = 2 * m + 1 < ld ? _mm512_loadu_ps(p + 32 * m + 16) : a;
    const __m512 t = _mm512_permutex2var_ps(a, idx, b);
    const unsigned k = BNN_DEINT_K(0) | BNN_DEINT_K(1) | BNN_DEINT_K(2) | BNN_DEINT_K(3) |
                       BNN_DEINT_K(4) | BNN_DEINT_K(5) | BNN_DEINT_K(6) | BNN_DEINT_K(7) |
                       BNN_DEINT_K(8) | BNN_DEINT_K(9) | BNN_DEINT_K(10) | BNN_DEINT_K(11) |
                       BNN_DEINT_K(12) | BNN_DEINT_K(13) | BNN_DEINT_K(14) | BNN_DEINT_K(15);
    return m == 0 ? t : _mm512_mask_mov_ps(r, (__mmask16)k, t);
}
static inline __attribute__((always_inline)) __m512 bnn_narrow_deint(const float *p, const int ld,
                                                                     const int f)
{
    if (ld == 1)
        return _mm512_loadu_ps(p);
    const __m512i idx = _mm512_setr_epi32(
        BNN_DEINT_E(0), BNN_DEINT_E(1), BNN_DEINT_E(2), BNN_DEINT_E(3), BNN_DEINT_E(4),
        BNN_DEINT_E(5), BNN_DEINT_E(6), BNN_DEINT_E(7), BNN_DEINT_E(8), BNN_DEINT_E(9),
        BNN_DEINT_E(10), BNN_DEINT_E(11), BNN_DEINT_E(12), BNN_DEINT_E(13), BNN_DEINT_E(14),
        BNN_DEINT_E(15));
    /* pairs m = 0 .. 3 (ld <= 8: NT_MAXW + 2 at most) written out, the mask as a constant expression: no loop
     * for a compiler to leave rolled (clang did, computing the masks at run time) */
    __m512 r = bnn_deint_pair(p, ld, f, 0, idx, _mm512_setzero_ps());
    r = ld > 2 ? bnn_deint_pair(p, ld, f, 1, idx, r) : r;
    r = ld > 4 ? bnn_deint_pair(p, ld, f, 2, idx, r) : r;
    return ld > 6 ? bnn_deint_pair(p, ld, f, 3, idx, r) : r;
}
#undef BNN_DEINT_E
#undef BNN_DEINT_K
#define VDEINT(p, ld, f) bnn_narrow_deint((p), (ld), (f))
#define VSIGMOID(v) bnn_sigmoid1(v) /* sigmoid_simd.h */
#define VSIGMOID2(t) bnn_sigmoid2(t) /* of t = -z log2e, the narrow path: sigmoid_simd.h */
#define VTANH(v) bnn_tanh_ps_avx512(v)
#define VEXPNEG(t) bnn_expneg_ps_avx512(t)

#include "kernels_simd.h"
