/*
 * kernels_simd.h - the SIMD kernel table, written once and instantiated per ISA: kernels_avx2.c
 * (8 floats per vector) and kernels_avx512.c (16) define the vector macros below, then include
 * this file, which defines that ISA's element-wise kernels, its narrow fused path
 * (narrow_impl.h) and its table. Both instances perform the same operations on the same
 * constants (sigmoid_consts.h), so sigmoid, tanh and e^-t are bitwise the same on both paths.
 *
 * sigmoid and the sigmoid/tanh/relu epilogue of bias_act run 4 independent vectors per
 * iteration, then single vectors, then one partial vector (VLOAD_PART/VSTORE_PART: masked
 * loads and stores that never touch memory outside [0, n) or outside rows [0, rows) of a
 * column); an element's result depends neither on its neighbours nor on its position.
 *
 * The including file defines:
 *   VLEN  V  BNN_SIMD_ISA ("avx2")  BNN_SIMD_TABLE (the accessor, e.g. bnn_kernels_avx2)
 *   VZERO() VSET1(x) VLOAD(p) VSTORE(p, v) (aligned) VLOADU(p) VSTOREU(p, v) (unaligned)
 *   VLOAD_PART(p, m) VSTORE_PART(p, v, m) (lanes [0, m), m < VLEN; VLOAD_PART zeroes the rest)
 *   VADD VSUB VMUL VFMA(a, b, c) = a*b + c
 *   VRELU(v) = max(0, v), NaN propagates (element-wise kernels)
 *   VMAX0(v) = max(v, 0), VRELU_SLOPE(a) (narrow path, as before)
 *   VTANH(v) VEXPNEG(t) (sigmoid_<isa>.h), VSIGMOID(v) = bnn_sigmoid1(v) and the macros
 *   sigmoid_simd.h lists
 *   VDUP_EVEN(v) (lanes 2i and 2i + 1 = lane 2i of v)  VODD_LANES(a, b) (a's even lanes, b's
 *   odd ones): linear_pairs
 * Accuracy contracts: sigmoid_<isa>.h and the top of kernels_<isa>.c.
 */
#include <assert.h>

#include "bnn_kernels.h"
#include "kernels_loops.h"
#include "sigmoid_simd.h"

/* x[i] = e^-x[i] for 0 <= x[i] (the softmax's e^(z - max)); see VEXPNEG. */
static void bnn_simd_expneg(float *x, size_t n)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        VSTOREU(x + i, VEXPNEG(VLOADU(x + i)));
    if (i < n)
        VSTORE_PART(x + i, VEXPNEG(VLOAD_PART(x + i, n - i)), n - i);
}
#define BNN_LOSS_EXPNEG bnn_simd_expneg
#include "loss_loops.h"
#include "optim_loops.h"

/* Where the bias comes from: none, b[i] element by element, or one VLEN-lane pattern
 * (a dense matrix whose row count divides VLEN). */
enum bnn_bias_mode { BNN_BIAS_NONE, BNN_BIAS_VECTOR, BNN_BIAS_PATTERN };

static BNN_ALWAYS_INLINE V bnn_simd_act(V v, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return VSIGMOID(v);
    case BNN_ACT_TANH:
        return VTANH(v);
    case BNN_ACT_RELU:
        return VRELU(v);
    default:
        return v;
    }
}

/* v + bias of elements [i, i + VLEN); b is only used (and may only be non-NULL) in
 * BNN_BIAS_VECTOR mode. */
static BNN_ALWAYS_INLINE V bnn_simd_bias(V v, const float *b, size_t i, V pattern,
                                         enum bnn_bias_mode mode)
{
    if (mode == BNN_BIAS_VECTOR)
        return VADD(v, VLOADU(b + i));
    if (mode == BNN_BIAS_PATTERN)
        return VADD(v, pattern);
    return v;
}

/* y[i] = act(x[i] + bias_i), i < n; y may equal x. With BNN_BIAS_PATTERN, x must start at a
 * multiple of VLEN elements from the start of the pattern. */
static BNN_ALWAYS_INLINE void bnn_simd_run(float *y, const float *x, size_t n, const float *b,
                                           V pattern, enum bnn_bias_mode mode, bnn_act act)
{
    size_t i = 0;
    for (; i + 4 * VLEN <= n; i += 4 * VLEN) {
        V v0 = VLOADU(x + i);
        V v1 = VLOADU(x + i + VLEN);
        V v2 = VLOADU(x + i + 2 * VLEN);
        V v3 = VLOADU(x + i + 3 * VLEN);
        v0 = bnn_simd_act(bnn_simd_bias(v0, b, i, pattern, mode), act);
        v1 = bnn_simd_act(bnn_simd_bias(v1, b, i + VLEN, pattern, mode), act);
        v2 = bnn_simd_act(bnn_simd_bias(v2, b, i + 2 * VLEN, pattern, mode), act);
        v3 = bnn_simd_act(bnn_simd_bias(v3, b, i + 3 * VLEN, pattern, mode), act);
        VSTOREU(y + i, v0);
        VSTOREU(y + i + VLEN, v1);
        VSTOREU(y + i + 2 * VLEN, v2);
        VSTOREU(y + i + 3 * VLEN, v3);
    }
    for (; i + VLEN <= n; i += VLEN)
        VSTOREU(y + i, bnn_simd_act(bnn_simd_bias(VLOADU(x + i), b, i, pattern, mode), act));
    if (i < n) {
        /* the partial vector: the same code as a full one */
        const size_t m = n - i;
        V v = VLOAD_PART(x + i, m);
        if (mode == BNN_BIAS_VECTOR)
            v = VADD(v, VLOAD_PART(b + i, m));
        else if (mode == BNN_BIAS_PATTERN)
            v = VADD(v, pattern);
        VSTORE_PART(y + i, bnn_simd_act(v, act), m);
    }
}

static void bnn_simd_sigmoid(float *y, const float *x, size_t n)
{
    bnn_simd_run(y, x, n, NULL, VZERO(), BNN_BIAS_NONE, BNN_ACT_SIGMOID);
}

/* the narrow path's sigmoid, element-wise (for its tests) */
static void bnn_simd_sigmoid_folded(float *y, const float *t, size_t n)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        VSTOREU(y + i, bnn_sigmoid2(VLOADU(t + i)));
    if (i < n)
        VSTORE_PART(y + i, bnn_sigmoid2(VLOAD_PART(t + i, n - i)), n - i);
}

static BNN_ALWAYS_INLINE void bnn_simd_bias_act_run(float *z, size_t ld, size_t rows,
                                                    size_t cols, const float *b, bnn_act act)
{
    if (ld == rows && (!b || VLEN % rows == 0)) {
        /* Dense: one pass over rows * cols elements, the bias repeated every rows lanes. */
        V pattern = VZERO();
        if (b) {
            float lanes[VLEN];
            for (size_t j = 0; j < VLEN; j++)
                lanes[j] = b[j % rows];
            pattern = VLOADU(lanes);
        }
        bnn_simd_run(z, z, rows * cols, NULL, pattern, b ? BNN_BIAS_PATTERN : BNN_BIAS_NONE,
                     act);
        return;
    }
    for (size_t c = 0; c < cols; c++) {
        float *zc = z + c * ld;
        if (b)
            bnn_simd_run(zc, zc, rows, b, VZERO(), BNN_BIAS_VECTOR, act);
        else
            bnn_simd_run(zc, zc, rows, NULL, VZERO(), BNN_BIAS_NONE, act);
    }
}

static void bnn_simd_bias_act(float *z, size_t ld, size_t rows, size_t cols, const float *b,
                              bnn_act act)
{
    assert(ld >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (rows == 0 || cols == 0 || (!b && act == BNN_ACT_IDENTITY))
        return;
    switch (act) {
    case BNN_ACT_SIGMOID:
        bnn_simd_bias_act_run(z, ld, rows, cols, b, BNN_ACT_SIGMOID);
        break;
    case BNN_ACT_TANH:
        bnn_simd_bias_act_run(z, ld, rows, cols, b, BNN_ACT_TANH);
        break;
    case BNN_ACT_RELU:
        bnn_simd_bias_act_run(z, ld, rows, cols, b, BNN_ACT_RELU);
        break;
    default:
        bnn_simd_bias_act_run(z, ld, rows, cols, b, BNN_ACT_IDENTITY);
        break;
    }
}

/* The sum of v's lanes in double, in lane order (the narrow path's cost). */
static inline double bnn_simd_hsum_d(V v)
{
    float t[VLEN];
    VSTOREU(t, v);
    double s = 0.0;
    for (int i = 0; i < VLEN; i++)
        s += t[i];
    return s;
}
#define VHSUM_D(v) bnn_simd_hsum_d(v)

#include "narrow_impl.h"

/* linear_pairs: a vector holds VLEN / 2 pairs; x copied onto the odd lanes (VDUP_EVEN), the
 * target computed on every lane and kept on the odd ones (VODD_LANES). The compiler's own
 * vectorisation of the scalar loop stores the odd lanes one float at a time: a third of a
 * streamed synth:linear epoch went there. */
static void bnn_simd_linear_pairs(float *xy, size_t n)
{
    size_t i = 0;
    for (; i + VLEN <= 2 * n; i += VLEN) {
        const V v = VLOADU(xy + i);
        const V y = VADD(VMUL(VSET1(2.0f), VDUP_EVEN(v)),
                         VMUL(VSUB(v, VSET1(0.5f)), VSET1(0.002f)));
        VSTOREU(xy + i, VODD_LANES(v, y));
    }
    bnn_loops_linear_pairs(xy + i, n - i / 2);
}

static const bnn_kernel_table bnn_simd_table = {
    .isa = BNN_SIMD_ISA,
    .sigmoid = bnn_simd_sigmoid,
    .sigmoid_folded = bnn_simd_sigmoid_folded,
    .bias_act = bnn_simd_bias_act,
    .linear_pairs = bnn_simd_linear_pairs,
    BNN_TABLE_SHARED_ENTRIES
};

const bnn_kernel_table *BNN_SIMD_TABLE(void)
{
    return &bnn_simd_table;
}
