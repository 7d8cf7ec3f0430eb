/*
 * kernels_scalar.c - the portable reference table of element-wise kernels (plain C11, libm,
 * compiled with the baseline flags of the build: no ISA-specific code). The other tables are
 * tested against the same double-precision oracles as this one.
 *
 * Accuracy contract:
 * - sigmoid(x) = (x < 0 ? u : 1) / (1 + u) with u = expf(-|x|), which cannot overflow:
 *   relative error <= 2.0e-7 where the result is a normal float (measured over all 2^32 floats
 *   against double, glibc 2.36 expf: 1.77e-7 at x = -12.46115); below (x < -87.34) within
 *   0.51 * 2^-149 of the exact value (measured; one rounding into the subnormal range), +0
 *   below -103.97; sigmoid(-inf) = 0, sigmoid(+inf) = 1, sigmoid(+-0) = 0.5, NaN -> NaN.
 *   (1 / (1 + expf(-x)) would return 0 instead of the subnormal results below -88.72.)
 * - tanh (bias_act): libm tanhf (glibc 2.36, measured: relative error 1.69e-7).
 * - relu(x) = x < 0 ? 0 : x, so NaN propagates (as in the SIMD tables).
 * - The other entries: kernels_loops.h.
 */
#include <assert.h>
#include <math.h>

#include "bnn_kernels.h"
#include "kernels_loops.h"
#include "loss_loops.h"
#include "optim_loops.h"

static inline float bnn_sigmoid_scalar1(float x)
{
    const float u = expf(-fabsf(x));
    return (x < 0.0f ? u : 1.0f) / (1.0f + u);
}

static inline float bnn_act_scalar1(float v, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return bnn_sigmoid_scalar1(v);
    case BNN_ACT_TANH:
        return tanhf(v);
    case BNN_ACT_RELU:
        return v < 0.0f ? 0.0f : v;
    default:
        return v;
    }
}

static void bnn_sigmoid_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = bnn_sigmoid_scalar1(x[i]);
}

/* 1 / (1 + 2^t) with libm: e^-|z| as 2^-|t| (this path's narrow kernel does not fold) */
static void bnn_sigmoid_folded_scalar(float *y, const float *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float u = exp2f(-fabsf(t[i]));
        y[i] = (t[i] > 0.0f ? u : 1.0f) / (1.0f + u);
    }
}

static void bnn_bias_act_scalar(float *z, size_t ld, size_t rows, size_t cols, const float *b,
                                bnn_act act)
{
    assert(ld >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (!b && act == BNN_ACT_IDENTITY)
        return;
    for (size_t c = 0; c < cols; c++) {
        float *zc = z + c * ld;
        for (size_t r = 0; r < rows; r++)
            zc[r] = bnn_act_scalar1(b ? zc[r] + b[r] : zc[r], act);
    }
}

/* The narrow fused path on this ISA: 1 sample per vector (narrow_impl.h). */
#define VLEN 1
typedef float V;
#define VZERO() 0.0f
#define VSET1(x) (x)
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VFNMA(a, b, c) ((c) - (a) * (b))
#define VMAX0(v) ((v) > 0.0f ? (v) : 0.0f)
#define VRELU_SLOPE(a) ((a) > 0.0f ? 1.0f : 0.0f)
#define VSIGMOID(v) bnn_sigmoid_scalar1(v)
#define VTANH(v) tanhf(v)
#define VHSUM_D(v) ((double)(v))
#define VDEINT(p, ld, f) ((p)[f]) /* one row */

#include "narrow_impl.h"

static const bnn_kernel_table bnn_table_scalar = {
    .isa = "scalar",
    .sigmoid = bnn_sigmoid_scalar,
    .sigmoid_folded = bnn_sigmoid_folded_scalar,
    .bias_act = bnn_bias_act_scalar,
    .linear_pairs = bnn_loops_linear_pairs,
    BNN_TABLE_SHARED_ENTRIES
};

const bnn_kernel_table *bnn_kernels_scalar(void)
{
    return &bnn_table_scalar;
}
