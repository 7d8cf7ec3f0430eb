/*
 * kernels_avx2.c - the AVX2 table of element-wise kernels (compiled with -mavx2 -mfma; chosen
 * only when the CPU has both).
 *
 * sigmoid and the sigmoid/tanh/relu epilogue of bias_act use the hand-written vector
 * functions of sigmoid_avx2.h: 4 independent 8-float vectors in flight per iteration; the
 * tail (fewer than 8 elements) is copied into an 8-float buffer and computed by the same
 * vector code, so an element's result does not depend on its position, and no memory outside
 * [0, n) or outside rows [0, rows) of a column is touched.
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
#include "sigmoid_avx2.h"

/* x[i] = e^-x[i] for 0 <= x[i] (the softmax's e^(z - max)): the sigmoid's e^-t parts,
 * T p 2^-m with 2^-m applied to the exponent field (a normal float for t <= 87); 0 above 87,
 * NaN stays NaN. Bitwise the AVX-512 table's values. The tail goes through a buffer. */
static inline __m256 bnn_expneg8_avx2(__m256 t)
{
    const __m256 lim = _mm256_set1_ps(87.0f);
    __m256i kbits;
    __m256 tab;
    const __m256 p = bnn_expneg_parts_ps_avx2(_mm256_min_ps(lim, t), &kbits, &tab);
    const __m256i tp = _mm256_castps_si256(_mm256_mul_ps(tab, p));
    const __m256 e = _mm256_castsi256_ps(_mm256_sub_epi32(tp, bnn_sig_mshift_avx2(kbits)));
    return _mm256_andnot_ps(_mm256_cmp_ps(t, lim, _CMP_GT_OQ), e);
}

static void bnn_expneg_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, bnn_expneg8_avx2(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float b[8] = {0};
        for (size_t j = 0; j < n - i; j++)
            b[j] = x[i + j];
        _mm256_storeu_ps(b, bnn_expneg8_avx2(_mm256_loadu_ps(b)));
        for (size_t j = 0; j < n - i; j++)
            x[i + j] = b[j];
    }
}
#define BNN_LOSS_EXPNEG bnn_expneg_avx2
#include "loss_loops.h"
#include "optim_loops.h"

enum { BNN_V8 = 8 };

/* Where the bias comes from: none, b[i] element by element, or one 8-lane pattern
 * (a dense matrix whose row count divides 8). */
enum bnn_bias_mode { BNN_BIAS_NONE, BNN_BIAS_VECTOR, BNN_BIAS_PATTERN };

static BNN_ALWAYS_INLINE __m256 bnn_act8_avx2(__m256 v, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return bnn_sigmoid_ps_avx2(v);
    case BNN_ACT_TANH:
        return bnn_tanh_ps_avx2(v);
    case BNN_ACT_RELU:
        return _mm256_max_ps(_mm256_setzero_ps(), v); /* NaN (second operand) propagates */
    default:
        return v;
    }
}

/* v + bias of elements [i, i + 8); b is only used (and may only be non-NULL) in
 * BNN_BIAS_VECTOR mode. */
static BNN_ALWAYS_INLINE __m256 bnn_bias8_avx2(__m256 v, const float *b, size_t i,
                                               __m256 pattern, enum bnn_bias_mode mode)
{
    if (mode == BNN_BIAS_VECTOR)
        return _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    if (mode == BNN_BIAS_PATTERN)
        return _mm256_add_ps(v, pattern);
    return v;
}

/* y[i] = act(x[i] + bias_i), i < n; y may equal x. With BNN_BIAS_PATTERN, x must start at a
 * multiple of 8 elements from the start of the pattern. */
static BNN_ALWAYS_INLINE void bnn_run_avx2(float *y, const float *x, size_t n, const float *b,
                                           __m256 pattern, enum bnn_bias_mode mode, bnn_act act)
{
    size_t i = 0;
    for (; i + 4 * BNN_V8 <= n; i += 4 * BNN_V8) {
        __m256 v0 = _mm256_loadu_ps(x + i);
        __m256 v1 = _mm256_loadu_ps(x + i + BNN_V8);
        __m256 v2 = _mm256_loadu_ps(x + i + 2 * BNN_V8);
        __m256 v3 = _mm256_loadu_ps(x + i + 3 * BNN_V8);
        v0 = bnn_act8_avx2(bnn_bias8_avx2(v0, b, i, pattern, mode), act);
        v1 = bnn_act8_avx2(bnn_bias8_avx2(v1, b, i + BNN_V8, pattern, mode), act);
        v2 = bnn_act8_avx2(bnn_bias8_avx2(v2, b, i + 2 * BNN_V8, pattern, mode), act);
        v3 = bnn_act8_avx2(bnn_bias8_avx2(v3, b, i + 3 * BNN_V8, pattern, mode), act);
        _mm256_storeu_ps(y + i, v0);
        _mm256_storeu_ps(y + i + BNN_V8, v1);
        _mm256_storeu_ps(y + i + 2 * BNN_V8, v2);
        _mm256_storeu_ps(y + i + 3 * BNN_V8, v3);
    }
    for (; i + BNN_V8 <= n; i += BNN_V8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, bnn_act8_avx2(bnn_bias8_avx2(v, b, i, pattern, mode), act));
    }
    if (i < n) {
        /* Partial vector through a buffer: the same code as a full one. */
        float xb[BNN_V8] = {0}, bb[BNN_V8] = {0};
        const size_t m = n - i;
        for (size_t j = 0; j < m; j++)
            xb[j] = x[i + j];
        if (mode == BNN_BIAS_VECTOR)
            for (size_t j = 0; j < m; j++)
                bb[j] = b[i + j];
        __m256 v = bnn_bias8_avx2(_mm256_loadu_ps(xb), bb, 0, pattern, mode);
        _mm256_storeu_ps(xb, bnn_act8_avx2(v, act));
        for (size_t j = 0; j < m; j++)
            y[i + j] = xb[j];
    }
}

static void bnn_sigmoid_avx2(float *y, const float *x, size_t n)
{
    bnn_run_avx2(y, x, n, NULL, _mm256_setzero_ps(), BNN_BIAS_NONE, BNN_ACT_SIGMOID);
}

static BNN_ALWAYS_INLINE void bnn_bias_act_run_avx2(float *z, size_t ld, size_t rows,
                                                    size_t cols, const float *b, bnn_act act)
{
    if (ld == rows && (!b || BNN_V8 % rows == 0)) {
        /* Dense: one pass over rows * cols elements, the bias repeated every rows lanes. */
        __m256 pattern = _mm256_setzero_ps();
        if (b) {
            float lanes[BNN_V8];
            for (size_t j = 0; j < BNN_V8; j++)
                lanes[j] = b[j % rows];
            pattern = _mm256_loadu_ps(lanes);
        }
        bnn_run_avx2(z, z, rows * cols, NULL, pattern, b ? BNN_BIAS_PATTERN : BNN_BIAS_NONE,
                     act);
        return;
    }
    for (size_t c = 0; c < cols; c++) {
        float *zc = z + c * ld;
        if (b)
            bnn_run_avx2(zc, zc, rows, b, _mm256_setzero_ps(), BNN_BIAS_VECTOR, act);
        else
            bnn_run_avx2(zc, zc, rows, NULL, _mm256_setzero_ps(), BNN_BIAS_NONE, act);
    }
}

static void bnn_bias_act_avx2(float *z, size_t ld, size_t rows, size_t cols, const float *b,
                              bnn_act act)
{
    assert(ld >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (rows == 0 || cols == 0 || (!b && act == BNN_ACT_IDENTITY))
        return;
    switch (act) {
    case BNN_ACT_SIGMOID:
        bnn_bias_act_run_avx2(z, ld, rows, cols, b, BNN_ACT_SIGMOID);
        break;
    case BNN_ACT_TANH:
        bnn_bias_act_run_avx2(z, ld, rows, cols, b, BNN_ACT_TANH);
        break;
    case BNN_ACT_RELU:
        bnn_bias_act_run_avx2(z, ld, rows, cols, b, BNN_ACT_RELU);
        break;
    default:
        bnn_bias_act_run_avx2(z, ld, rows, cols, b, BNN_ACT_IDENTITY);
        break;
    }
}

/* The narrow fused path on this ISA: 8 samples per vector (narrow_impl.h). */
#define VLEN 8
typedef __m256 V;
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_load_ps(p)
#define VSTORE(p, v) _mm256_store_ps((p), (v))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX0(v) _mm256_max_ps((v), _mm256_setzero_ps())
#define VRELU_SLOPE(a)                                                                         \
    _mm256_and_ps(_mm256_cmp_ps((a), _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.0f))
#define VSIGMOID(v) bnn_sigmoid_ps_avx2(v)
#define VTANH(v) bnn_tanh_ps_avx2(v)

static inline double hsum_d(__m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    double s = 0.0;
    for (int i = 0; i < 8; i++)
        s += t[i];
    return s;
}
#define VHSUM_D(v) hsum_d(v)

#include "narrow_impl.h"

static const bnn_kernel_table bnn_table_avx2 = {
    .isa = "avx2",
    .sigmoid = bnn_sigmoid_avx2,
    .bias_act = bnn_bias_act_avx2,
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

const bnn_kernel_table *bnn_kernels_avx2(void)
{
    return &bnn_table_avx2;
}
