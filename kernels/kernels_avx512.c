/*
 * kernels_avx512.c - the AVX-512 table of element-wise kernels (compiled with -mavx512f
 * -mavx512dq -mavx512vl -mavx512bw -mavx2 -mfma; chosen only when the CPU has all of them).
 *
 * sigmoid and the sigmoid/tanh/relu epilogue of bias_act use the hand-written vector
 * functions of sigmoid_avx512.h: 4 independent 16-float vectors in flight per iteration,
 * the tail (fewer than 16 elements) with masked loads and stores, never touching memory
 * outside [0, n) or outside rows [0, rows) of a column.
 *
 * Accuracy contract, measured over all 2^32 float inputs against double precision:
 * - sigmoid: relative error <= 2.5e-7 where the exact result is a normal float (measured
 *   maximum 1.92e-7, at x = -6.2823529); for x < -87.34 (subnormal results) the absolute error
 *   is <= 2^-148, two subnormal ulps (measured 1.89 * 2^-149 at x = -87.397781, just below
 *   FLT_MIN, where a 2e-7 relative error is worth 1.7 ulps), +0 below -103.98;
 *   sigmoid(-inf) = 0, sigmoid(+inf) = 1, sigmoid(+-0) = 0.5, NaN -> NaN, never NaN for
 *   other inputs.
 * - tanh (bias_act): relative error <= 2.5e-7 for every float (measured 1.87e-7 at
 *   x = 0.55356699), odd, tanh(+-inf) = +-1, NaN -> NaN.
 * - sigmoid and tanh are bitwise those of the other SIMD table (checked over all floats), and
 *   an element's result does not depend on its neighbours or its position.
 * - The other entries: kernels_loops.h, vectorised by the compiler with these flags.
 */
#include <assert.h>
#include <immintrin.h>

#include "bnn_kernels.h"
#include "kernels_loops.h"
#include "sigmoid_avx512.h"

/* x[i] = e^-x[i] for 0 <= x[i] (the softmax's e^(z - max)): the sigmoid's e^-t parts,
 * T p 2^-m with 2^-m applied to the exponent field (a normal float for t <= 87); 0 above 87,
 * NaN stays NaN. Relative error below 2.5e-7 (tests/test_loss.c). */
static void bnn_expneg_avx512(float *x, size_t n)
{
    const __m512 lim = _mm512_set1_ps(87.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 t = _mm512_maskz_loadu_ps(m, x + i);
        __m512i kbits;
        __m512 tab;
        const __m512 p = bnn_expneg_parts_ps_avx512(_mm512_min_ps(lim, t), &kbits, &tab);
        const __m512i tp = _mm512_castps_si512(_mm512_mul_ps(tab, p));
        __m512 e = _mm512_castsi512_ps(_mm512_sub_epi32(tp, bnn_sig_mshift_avx512(kbits)));
        e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, lim, _CMP_GT_OQ), e, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(x + i, m, e);
    }
}
#define BNN_LOSS_EXPNEG bnn_expneg_avx512
#include "loss_loops.h"
#include "optim_loops.h"

enum { BNN_V16 = 16 };

/* Where the bias comes from: none, b[i] element by element, or one 16-lane pattern
 * (a dense matrix whose row count divides 16). */
enum bnn_bias_mode { BNN_BIAS_NONE, BNN_BIAS_VECTOR, BNN_BIAS_PATTERN };

static BNN_ALWAYS_INLINE __m512 bnn_act16_avx512(__m512 v, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return bnn_sigmoid_ps_avx512(v);
    case BNN_ACT_TANH:
        return bnn_tanh_ps_avx512(v);
    case BNN_ACT_RELU:
        return _mm512_max_ps(_mm512_setzero_ps(), v); /* NaN (second operand) propagates */
    default:
        return v;
    }
}

/* v + bias of elements [i, i + 16); b is only used (and may only be non-NULL) in
 * BNN_BIAS_VECTOR mode. */
static BNN_ALWAYS_INLINE __m512 bnn_bias16_avx512(__m512 v, const float *b, size_t i,
                                                  __m512 pattern, enum bnn_bias_mode mode)
{
    if (mode == BNN_BIAS_VECTOR)
        return _mm512_add_ps(v, _mm512_loadu_ps(b + i));
    if (mode == BNN_BIAS_PATTERN)
        return _mm512_add_ps(v, pattern);
    return v;
}

/* y[i] = act(x[i] + bias_i), i < n; y may equal x. With BNN_BIAS_PATTERN, x must start at a
 * multiple of 16 elements from the start of the pattern. */
static BNN_ALWAYS_INLINE void bnn_run_avx512(float *y, const float *x, size_t n, const float *b,
                                             __m512 pattern, enum bnn_bias_mode mode,
                                             bnn_act act)
{
    size_t i = 0;
    for (; i + 4 * BNN_V16 <= n; i += 4 * BNN_V16) {
        __m512 v0 = _mm512_loadu_ps(x + i);
        __m512 v1 = _mm512_loadu_ps(x + i + BNN_V16);
        __m512 v2 = _mm512_loadu_ps(x + i + 2 * BNN_V16);
        __m512 v3 = _mm512_loadu_ps(x + i + 3 * BNN_V16);
        v0 = bnn_act16_avx512(bnn_bias16_avx512(v0, b, i, pattern, mode), act);
        v1 = bnn_act16_avx512(bnn_bias16_avx512(v1, b, i + BNN_V16, pattern, mode), act);
        v2 = bnn_act16_avx512(bnn_bias16_avx512(v2, b, i + 2 * BNN_V16, pattern, mode), act);
        v3 = bnn_act16_avx512(bnn_bias16_avx512(v3, b, i + 3 * BNN_V16, pattern, mode), act);
        _mm512_storeu_ps(y + i, v0);
        _mm512_storeu_ps(y + i + BNN_V16, v1);
        _mm512_storeu_ps(y + i + 2 * BNN_V16, v2);
        _mm512_storeu_ps(y + i + 3 * BNN_V16, v3);
    }
    for (; i + BNN_V16 <= n; i += BNN_V16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(y + i,
                         bnn_act16_avx512(bnn_bias16_avx512(v, b, i, pattern, mode), act));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (mode == BNN_BIAS_VECTOR)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        else if (mode == BNN_BIAS_PATTERN)
            v = _mm512_add_ps(v, pattern);
        _mm512_mask_storeu_ps(y + i, m, bnn_act16_avx512(v, act));
    }
}

static void bnn_sigmoid_avx512(float *y, const float *x, size_t n)
{
    bnn_run_avx512(y, x, n, NULL, _mm512_setzero_ps(), BNN_BIAS_NONE, BNN_ACT_SIGMOID);
}

static BNN_ALWAYS_INLINE void bnn_bias_act_run_avx512(float *z, size_t ld, size_t rows,
                                                      size_t cols, const float *b, bnn_act act)
{
    if (ld == rows && (!b || BNN_V16 % rows == 0)) {
        /* Dense: one pass over rows * cols elements, the bias repeated every rows lanes. */
        __m512 pattern = _mm512_setzero_ps();
        if (b) {
            float lanes[BNN_V16];
            for (size_t j = 0; j < BNN_V16; j++)
                lanes[j] = b[j % rows];
            pattern = _mm512_loadu_ps(lanes);
        }
        bnn_run_avx512(z, z, rows * cols, NULL, pattern, b ? BNN_BIAS_PATTERN : BNN_BIAS_NONE,
                       act);
        return;
    }
    for (size_t c = 0; c < cols; c++) {
        float *zc = z + c * ld;
        if (b)
            bnn_run_avx512(zc, zc, rows, b, _mm512_setzero_ps(), BNN_BIAS_VECTOR, act);
        else
            bnn_run_avx512(zc, zc, rows, NULL, _mm512_setzero_ps(), BNN_BIAS_NONE, act);
    }
}

static void bnn_bias_act_avx512(float *z, size_t ld, size_t rows, size_t cols, const float *b,
                                bnn_act act)
{
    assert(ld >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (rows == 0 || cols == 0 || (!b && act == BNN_ACT_IDENTITY))
        return;
    switch (act) {
    case BNN_ACT_SIGMOID:
        bnn_bias_act_run_avx512(z, ld, rows, cols, b, BNN_ACT_SIGMOID);
        break;
    case BNN_ACT_TANH:
        bnn_bias_act_run_avx512(z, ld, rows, cols, b, BNN_ACT_TANH);
        break;
    case BNN_ACT_RELU:
        bnn_bias_act_run_avx512(z, ld, rows, cols, b, BNN_ACT_RELU);
        break;
    default:
        bnn_bias_act_run_avx512(z, ld, rows, cols, b, BNN_ACT_IDENTITY);
        break;
    }
}

/* The narrow fused path on this ISA: 16 samples per vector (narrow_impl.h). */
#define VLEN 16
typedef __m512 V;
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_load_ps(p)
#define VSTORE(p, v) _mm512_store_ps((p), (v))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX0(v) _mm512_max_ps((v), _mm512_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((a), _mm512_setzero_ps(), _CMP_GT_OQ),            \
                        _mm512_set1_ps(1.0f))
#define VSIGMOID(v) bnn_sigmoid_ps_avx512(v)
#define VTANH(v) bnn_tanh_ps_avx512(v)

static inline double hsum_d(__m512 v)
{
    float t[16];
    _mm512_storeu_ps(t, v);
    double s = 0.0;
    for (int i = 0; i < 16; i++)
        s += t[i];
    return s;
}
#define VHSUM_D(v) hsum_d(v)

#include "narrow_impl.h"

static const bnn_kernel_table bnn_table_avx512 = {
    .isa = "avx512",
    .sigmoid = bnn_sigmoid_avx512,
    .bias_act = bnn_bias_act_avx512,
    .act_backward = bnn_loops_act_backward,
    .output_delta = bnn_loops_output_delta,
    .sq_error = bnn_loops_sq_error,
    .row_sums_add = bnn_loops_row_sums_add,
    .axpy = bnn_loops_axpy,
    .optim_step = bnn_loops_optim_step,
    .loss_delta = bnn_loops_loss_delta,
    .narrow_lanes = VLEN,
    .narrow_work = bnn_narrow_work,
    .narrow_grad = bnn_narrow_grad,
    .narrow_reduce = bnn_narrow_reduce,
};

const bnn_kernel_table *bnn_kernels_avx512(void)
{
    return &bnn_table_avx512;
}
