/*
 * narrow_impl.h - the narrow fused path, written once and instantiated per ISA
 * (kernels_scalar.c, kernels_avx2.c, kernels_avx512.c define the vector macros, then include
 * this file). For nets whose layers are all narrow (the notes' 1->1, 2->1, chains of width 1,
 * 2->16->16->1), a GEMM call per layer costs more than the arithmetic; here instead samples
 * are vectorised one per vector lane, every layer is fused, and the gradient is accumulated
 * lane-wise. Two kernels, chosen per net (bnn_narrow_grad):
 *   - tiny nets (narrow_tiny_*: widths <= 2 or a single layer of <= 4 inputs, <= 4 layers,
 *     one activation; the shapes listed in NT_SHAPES): one pass over the rows, read in place
 *     and split into features in registers, forward and backward per group of vectors with
 *     every value and the gradient itself in registers for the whole chunk;
 *   - the others (nw_*: 2->16->16->1 and any width up to BNN_NARROW_MAX_WIDTH): sub-chunks of
 *     NW_S samples transposed once, then layer by layer with register tiles.
 *
 * The instantiating file defines:
 *   VLEN                   lanes per vector
 *   V                      vector type
 *   VZERO() VSET1(x) VLOAD(p) VSTORE(p, v) VADD VSUB VMUL VFMA(a, b, c) = a*b + c
 *   VFNMA(a, b, c) = c - a*b
 *   VMAX0(v) = max(v, 0)   VRELU_SLOPE(a)   VSIGMOID(v)   VTANH(v)
 *   VHSUM_D(v) = sum of lanes in double, lane order
 *   VDEINT(p, ld, f)       lane i = p[i * ld + f] (ld, f < ld small constants): VLEN rows
 *                          of ld floats read as ld whole vectors and split by permutes
 * Inputs and targets arrive sample-major (a row per sample, strides ldx, ldy), ns <= the
 * chunk BNN_NARROW_CHUNK_MAX per call. It defines the static bnn_narrow_work, bnn_narrow_grad
 * and bnn_narrow_reduce, the narrow entries of the including file's kernel table
 * (bnn_kernels.h).
 *
 *   acc    lane-wise gradient partials: parameter p's lanes at acc + p * VLEN; the caller
 *          zeroes it at the start of a shard and reduces lanes in a fixed order at its end
 *          (bnn_narrow_reduce). Each call adds to it sums whose order depends on the chunk
 *          only, so results are bitwise the same for any thread count.
 * Padding lanes (ns not a multiple of the group of vectors) see zero inputs and get a zero
 * output delta, so they add nothing to the gradient or the cost.
 *
 * Must match the reference engine to float32 accuracy (tests/test_fast.c, per ISA).
 */

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "bnn_narrow.h"
#include "sigmoid_consts.h"

/* With VSIGMOID2 (the SIMD paths), a sigmoid layer's forward runs on its weights and bias
 * times -log2e (narrow_fold, rounded once from double): its pre-activation is t = -z log2e
 * and VSIGMOID2(t) = sigmoid(z) needs three multiply-adds fewer than VSIGMOID(z)
 * (sigmoid_simd.h). The backward uses the weights themselves. */
#ifdef VSIGMOID2
#define NARROW_FOLD 1
#else
#define NARROW_FOLD 0
#define VSIGMOID2(t) VSIGMOID(t)
#endif

static inline float narrow_fold(bnn_act act, float w)
{
    if (!NARROW_FOLD || act != BNN_ACT_SIGMOID)
        return w;
    /* a finite weight stays finite (a weight above FLT_MAX / log2e times an input of 0
     * must give 0, as w * 0 does, not -inf * 0 = NaN) */
    const double v = -BNN_SIG2_LOG2E * (double)w;
    return (float)(v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : v);
}

/* act(z), or for a sigmoid layer sigmoid(z) from narrow_fold's pre-activation */
static inline __attribute__((always_inline)) V narrow_act(bnn_act act, V z)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return VSIGMOID2(z);
    case BNN_ACT_TANH:
        return VTANH(z);
    case BNN_ACT_RELU:
        return VMAX0(z);
    default:
        return z;
    }
}

/* act'(z) from the output a */
static inline __attribute__((always_inline)) V narrow_slope(bnn_act act, V a)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return VFNMA(a, a, a); /* a - a^2 = a (1 - a), rounded once */
    case BNN_ACT_TANH:
        return VSUB(VSET1(1.0f), VMUL(a, a));
    case BNN_ACT_RELU:
        return VRELU_SLOPE(a);
    default:
        return VSET1(1.0f);
    }
}

/* hs t, the hidden scale applied to a backpropagated sum; hs1 (hs = 1, every gradient mode
 * but seed, a compile-time constant of the instance) skips the multiply: x * 1 = x */
static inline __attribute__((always_inline)) V narrow_hscale(const int hs1, V hs, V t)
{
    return hs1 ? t : VMUL(hs, t);
}

/* out[k * ostride + i] = rows[i * ld + k] for k < ncols, i < ns; zero for ns <= i < npad. */
static inline __attribute__((always_inline)) void
narrow_transpose_ld(const size_t ld, float *restrict out, size_t ostride,
                    const float *restrict rows, int ncols, size_t ns, size_t npad)
{
    for (int k = 0; k < ncols; k++) {
        float *o = out + (size_t)k * ostride;
        const float *r = rows + k;
        for (size_t i = 0; i < ns; i++)
            o[i] = r[i * ld];
        for (size_t i = ns; i < npad; i++)
            o[i] = 0.0f;
    }
}

static void narrow_transpose(float *restrict out, size_t ostride, const float *restrict rows,
                             size_t ld, int ncols, size_t ns, size_t npad)
{
    switch (ld) {
    case 1: narrow_transpose_ld(1, out, ostride, rows, ncols, ns, npad); break;
    case 2: narrow_transpose_ld(2, out, ostride, rows, ncols, ns, npad); break;
    case 3: narrow_transpose_ld(3, out, ostride, rows, ncols, ns, npad); break;
    case 4: narrow_transpose_ld(4, out, ostride, rows, ncols, ns, npad); break;
    default: narrow_transpose_ld(ld, out, ostride, rows, ncols, ns, npad); break;
    }
}

/* ------------------------------------------------------------------------------------------ */
#include "narrow_wide.h" /* the layer-wise kernel (nw_*) */

/* ------------------------------------------------------------------------------------------ */
/* The single-pass kernel for tiny nets (narrow_tiny_*): every layer of width at most
 * NT_MAXW and at most NT_MAXL layers, one activation for every layer, in one of the shapes of
 * NT_SHAPES below (one layer nin -> 1 with nin <= 4 or nin -> 2 with nin <= 2, and
 * chains nin -> H -> ... -> H -> 1 of up to 4 layers with nin, H <= 2: the notes' 1->1, 2->1,
 * 1->1->1->1->1, and 2->2->1).
 * The shape and the activation are compile-time constants of each instance, so every loop
 * below unrolls fully and every array is indexed by constants: all of it lives in registers
 * (what does not fit spills as plain moves; no array is zero-filled or copied per block).
 *
 * A chunk's rows are read in place: with inputs and targets side by side in rows of exactly
 * nin + nout floats (float32 data used in place), U * VLEN rows are loaded as whole vectors
 * and split into one vector per feature in registers (VDEINT: permutes); other layouts are
 * first copied into that layout in `work`. Sample s + u * VLEN + i of a block sits in lane i of
 * vector u. Forward and backward run per block of U vectors, the gradient accumulates
 * lane-wise in registers over the whole chunk (U vectors summed into one accumulator per
 * parameter, in u order) and is added to acc at the chunk's end, so the summation order is a
 * function of the chunk only. The last partial block is copied into a zero-padded buffer and
 * its padding lanes get a zero output delta (no gradient, no cost). */
#define NT_MAXL 4
#define NT_MAXW 4
#define NT_U 8
#ifndef NT_G1
#define NT_G1 NT_U
#endif
#define NT_G(nout) ((nout) == 1 ? NT_G1 : NT_U)
/* every loop of a block unrolls fully, so that all indices are constants (GCC's own limits
 * would leave the layer loop rolled and the arrays on the stack; clang's leave the loop over
 * the U vectors rolled, the arrays indexed by it on the stack: W2 2.7x slower on AVX-512).
 * Each compiler's own pragma: clang reads GCC's with its count as a partial-unroll hint. */
#if defined(__SANITIZE_ADDRESS__)
#define NT_UNROLL /* the sanitizer build: unrolled and instrumented, these took 10 minutes */
#elif defined(__clang__)
#define NT_UNROLL _Pragma("clang loop unroll(full)")
#else
#define NT_UNROLL _Pragma("GCC unroll 16")
#endif

/* layer l's width in the shape (L, nin, H, nout) */
#define NT_W(l) ((l) == 0 ? nin : (l) == L ? nout : H)

/* z = layer l's pre-activation of output j for vector u (narrow_tiny_block's forward: the
 * folded bias and weights bf, wf, the inputs a[l], wi of them); a macro, so that the arrays
 * stay plain locals of the block */
#define NT_LAYER_Z(z, l, j, u)                                                                 \
    do {                                                                                       \
        (z) = VSET1(bf[l][j]);                                                                 \
        NT_UNROLL                                                                              \
        for (int k_ = 0; k_ < wi; k_++)                                                        \
            (z) = VFMA(VSET1(wf[l][j][k_]), a[l][k_][u], (z));                                 \
    } while (0)

/* A sigmoid layer of a block tests its vectors for VSIGMOID2's slow path once, not once per
 * vector (a compare, a mask test and a branch each, which also cut the layer into as many
 * basic blocks), on the paths that define the mask macros (NT_MASK, NT_MASK_NONE,
 * NT_MASK_OR, with VANY), with bnn_sigmoid2_fast (sigmoid_simd.h); the rare layer with a
 * lane out of the fast range is redone with VSIGMOID2 from its inputs (the same bits: the
 * slow path gives the fast values on the other lanes). */
#if defined(NT_MASK_OR) && NARROW_FOLD
#define NT_SIG2_LAYER 1
#else
#define NT_SIG2_LAYER 0
#endif

/* GCC cannot see that the weights (wv, bv) read for a shape are exactly those set for it, and
 * would warn; zero-filling the arrays instead would cost a memset per chunk. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* One block: rows at p (BS = U * VLEN rows of ld = nin + nout floats), cnt valid rows (BS
 * outside the tail). gw/gb: the register accumulators; wv/bv: the weights and biases. */
static inline __attribute__((always_inline)) void
narrow_tiny_block(const int L, const int nin, const int H, const int nout, const bnn_act act,
                  const int U, const float *p, const int masked,
                  const float wv[NT_MAXL][NT_MAXW][NT_MAXW],
                  const float wf[NT_MAXL][NT_MAXW][NT_MAXW], const float bf[NT_MAXL][NT_MAXW],
                  V gw[NT_MAXL][NT_MAXW][NT_MAXW], V gb[NT_MAXL][NT_MAXW], V *sse, V oscale,
                  const int hs1, V hs, const float *valid)
{
    const int ld = nin + nout;
    V a[NT_MAXL + 1][NT_MAXW][NT_U], y[NT_MAXW][NT_U], d[NT_MAXW][NT_U], dn[NT_MAXW][NT_U];
    NT_UNROLL
    for (int u = 0; u < U; u++) {
        const float *q = p + (size_t)u * VLEN * (size_t)ld;
        NT_UNROLL
        for (int k = 0; k < nin; k++)
            a[0][k][u] = VDEINT(q, ld, k);
        NT_UNROLL
        for (int k = 0; k < nout; k++)
            y[k][u] = VDEINT(q, ld, nin + k);
    }
    NT_UNROLL
    for (int l = 0; l < L; l++) {
        const int wi = NT_W(l), wo = NT_W(l + 1); /* plain bounds: GCC drops the unroll
                                                      annotation of a loop whose condition
                                                      holds a conditional expression */
#if NT_SIG2_LAYER
        if (act == BNN_ACT_SIGMOID && L > 1) { /* one layer (W2): measured no faster */
            NT_MASK slow = NT_MASK_NONE();
            NT_UNROLL
            for (int j = 0; j < wo; j++) {
                NT_UNROLL
                for (int u = 0; u < U; u++) {
                    V z;
                    NT_LAYER_Z(z, l, j, u);
                    slow = NT_MASK_OR(slow, VNGE(VSET1(BNN_SIG2_FAST_MAX), z));
                    a[l + 1][j][u] = bnn_sigmoid2_fast(z);
                }
            }
            if (__builtin_expect(!VANY(slow), 1))
                continue;
        }
#endif
        NT_UNROLL
        for (int j = 0; j < wo; j++) {
            NT_UNROLL
            for (int u = 0; u < U; u++) {
                V z;
                NT_LAYER_Z(z, l, j, u);
                a[l + 1][j][u] = narrow_act(act, z);
            }
        }
    }
    NT_UNROLL
    for (int j = 0; j < nout; j++) {
        NT_UNROLL
        for (int u = 0; u < U; u++) {
            V diff = VSUB(a[L][j][u], y[j][u]);
            if (masked)
                diff = VMUL(diff, VLOAD(valid + (size_t)u * VLEN));
            *sse = VFMA(diff, diff, *sse);
            d[j][u] = VMUL(VMUL(oscale, diff), narrow_slope(act, a[L][j][u]));
        }
    }
    NT_UNROLL
    for (int l = L - 1; l >= 0; l--) {
        const int wi = NT_W(l), wo = NT_W(l + 1);
        NT_UNROLL
        for (int j = 0; j < wo; j++) {
            NT_UNROLL
            for (int u = 0; u < U; u++) {
                gb[l][j] = VADD(gb[l][j], d[j][u]);
                NT_UNROLL
                for (int k = 0; k < wi; k++)
                    gw[l][j][k] = VFMA(d[j][u], a[l][k][u], gw[l][j][k]);
            }
        }
        if (l == 0)
            break;
        NT_UNROLL
        for (int k = 0; k < wi; k++) {
            NT_UNROLL
            for (int u = 0; u < U; u++) {
                V t = VZERO();
                NT_UNROLL
                for (int j = 0; j < wo; j++)
                    t = VFMA(VSET1(wv[l][j][k]), d[j][u], t);
                dn[k][u] = VMUL(narrow_hscale(hs1, hs, t), narrow_slope(act, a[l][k][u]));
            }
        }
        NT_UNROLL
        for (int k = 0; k < wi; k++) {
            NT_UNROLL
            for (int u = 0; u < U; u++)
                d[k][u] = dn[k][u];
        }
    }
}

/* A chunk of ns rows of ld = nin + nout floats at rows (see above). */
static inline __attribute__((always_inline)) double
narrow_tiny_chunk(const int L, const int nin, const int H, const int nout, const bnn_act act,
                  const int hs1, const bnn_narrow_net *net, const float *theta, const float *rows,
                  size_t ns, float *acc, float out_scale, float hidden_scale)
{
    const int U = NT_U, G = NT_G(nout), ld = nin + nout;
    const size_t BS = (size_t)U * VLEN;
    /* entries of the shape only: the weights (backward), and the forward's (narrow_fold) */
    float wv[NT_MAXL][NT_MAXW][NT_MAXW], wf[NT_MAXL][NT_MAXW][NT_MAXW], bf[NT_MAXL][NT_MAXW];
    V gw[NT_MAXL][NT_MAXW][NT_MAXW], gb[NT_MAXL][NT_MAXW];
    for (int l = 0; l < L; l++)
        for (int j = 0; j < NT_W(l + 1); j++) {
            bf[l][j] = narrow_fold(act, net->boff[l] >= 0 ? theta[net->boff[l] + j] : 0.0f);
            gb[l][j] = VZERO();
            for (int k = 0; k < NT_W(l); k++) {
                wv[l][j][k] = theta[net->woff[l] + (long)j * NT_W(l) + k];
                wf[l][j][k] = narrow_fold(act, wv[l][j][k]);
                gw[l][j][k] = VZERO();
            }
        }
    const V oscale = VSET1(out_scale), hs = VSET1(hidden_scale);
    V sse = VZERO();
    size_t s = 0;
    for (; s + BS <= ns; s += BS)
        for (int g = 0; g < U; g += G)
            narrow_tiny_block(L, nin, H, nout, act, G, rows + (s + (size_t)g * VLEN) * (size_t)ld,
                              0, wv, wf, bf, gw, gb, &sse, oscale, hs1, hs, NULL);
    if (s < ns) {
        /* the last partial block, zero-padded, the padding lanes masked */
        _Alignas(64) float tail[NT_U * VLEN * (NT_MAXW + 2)];
        _Alignas(64) float valid[NT_U * VLEN];
        const size_t cnt = ns - s;
        for (size_t i = 0; i < BS * (size_t)ld; i++)
            tail[i] = i < cnt * (size_t)ld ? rows[s * (size_t)ld + i] : 0.0f;
        for (size_t i = 0; i < BS; i++)
            valid[i] = i < cnt ? 1.0f : 0.0f;
        for (int g = 0; g < U; g += G)
            narrow_tiny_block(L, nin, H, nout, act, G, tail + (size_t)g * VLEN * (size_t)ld, 1, wv,
                              wf, bf, gw, gb, &sse, oscale, hs1, hs, valid + (size_t)g * VLEN);
    }
    for (int l = 0; l < L; l++)
        for (int j = 0; j < NT_W(l + 1); j++) {
            if (net->boff[l] >= 0) {
                float *ab = acc + (size_t)(net->boff[l] + j) * VLEN;
                VSTORE(ab, VADD(VLOAD(ab), gb[l][j]));
            }
            for (int k = 0; k < NT_W(l); k++) {
                float *aw = acc + (size_t)(net->woff[l] + (long)j * NT_W(l) + k) * VLEN;
                VSTORE(aw, VADD(VLOAD(aw), gw[l][j][k]));
            }
        }
    return VHSUM_D(sse);
}
#undef NT_W
#undef NT_LAYER_Z

/* The shapes with an instance: (nin, L, H, nout); H is unused for one layer. */
#define NT_SHAPES(X)                                                                           \
    X(1, 1, 1, 1) X(2, 1, 1, 1) X(3, 1, 1, 1) X(4, 1, 1, 1) X(1, 1, 1, 2) X(2, 1, 1, 2)        \
    X(1, 2, 1, 1) X(2, 2, 1, 1) X(1, 2, 2, 1) X(2, 2, 2, 1) X(1, 3, 1, 1) X(2, 3, 1, 1)        \
    X(1, 4, 1, 1) X(2, 4, 1, 1) X(1, 3, 2, 1) X(2, 3, 2, 1) X(1, 4, 2, 1) X(2, 4, 2, 1)

/* hs = 1 (every gradient mode but seed) gets its own instance, without the multiply (not in
 * the sanitizer build, where the instances' compile time adds up: there the multiply by 1
 * stays, which changes no bit) */
#if defined(__SANITIZE_ADDRESS__)
#define NT_CALL(L, NIN, H, NOUT, ACT)                                                          \
    narrow_tiny_chunk(L, NIN, H, NOUT, ACT, (L) == 1, net, theta, rows, ns, acc, os, hs)
#else
#define NT_CALL(L, NIN, H, NOUT, ACT)                                                          \
    ((L) > 1 && hs != 1.0f                                                                     \
         ? narrow_tiny_chunk(L, NIN, H, NOUT, ACT, 0, net, theta, rows, ns, acc, os, hs)      \
         : narrow_tiny_chunk(L, NIN, H, NOUT, ACT, 1, net, theta, rows, ns, acc, os, hs))
#endif
#define NT_DEF(NIN, L, H, NOUT)                                                                \
    static __attribute__((noinline)) double narrow_tiny_##NIN##_##L##_##H##_##NOUT(            \
        const bnn_narrow_net *net, bnn_act act, const float *theta, const float *rows,        \
        size_t ns, float *acc, float os, float hs)                                             \
    {                                                                                          \
        switch (act) {                                                                         \
        case BNN_ACT_SIGMOID:                                                                  \
            return NT_CALL(L, NIN, H, NOUT, BNN_ACT_SIGMOID);                                  \
        case BNN_ACT_TANH:                                                                     \
            return NT_CALL(L, NIN, H, NOUT, BNN_ACT_TANH);                                     \
        case BNN_ACT_RELU:                                                                     \
            return NT_CALL(L, NIN, H, NOUT, BNN_ACT_RELU);                                     \
        default:                                                                               \
            return NT_CALL(L, NIN, H, NOUT, BNN_ACT_IDENTITY);                                 \
        }                                                                                      \
    }
NT_SHAPES(NT_DEF)
#undef NT_DEF
#undef NT_CALL

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

typedef double (*narrow_tiny_fn)(const bnn_narrow_net *, bnn_act, const float *, const float *,
                                 size_t, float *, float, float);

/* The instance for net, or NULL (another shape, or activations that differ by layer). */
static narrow_tiny_fn narrow_tiny_pick(const bnn_narrow_net *net)
{
    const int L = net->nlayers;
    for (int l = 1; l < L; l++)
        if (net->act[l] != net->act[0])
            return NULL;
    const int nin = net->nin, nout = net->nout, H = L > 1 ? net->width[1] : 1;
    for (int l = 1; l < L; l++)
        if (net->width[l] != H)
            return NULL;
#define NT_PICK(NIN, LL, HH, NOUT)                                                             \
    if (nin == NIN && L == LL && (LL == 1 || H == HH) && nout == NOUT)                         \
        return narrow_tiny_##NIN##_##LL##_##HH##_##NOUT;
    NT_SHAPES(NT_PICK)
#undef NT_PICK
    return NULL;
}

/* The tiny kernel on a chunk in any row layout: rows of exactly nin + nout floats (inputs
 * then targets) are read in place, others are first copied into that layout in buf. */
static double narrow_tiny_grad(narrow_tiny_fn fn, const bnn_narrow_net *net, const float *theta,
                               const float *x, size_t ldx, const float *y, size_t ldy,
                               size_t ns, float *acc, float *buf, float out_scale,
                               float hidden_scale)
{
    const int nin = net->nin, nout = net->nout;
    const size_t ld = (size_t)(nin + nout);
    const float *rows = x;
    if (!(ldx == ld && ldy == ld && y == x + nin)) {
        for (size_t i = 0; i < ns; i++) {
            for (int k = 0; k < nin; k++)
                buf[i * ld + (size_t)k] = x[i * ldx + (size_t)k];
            for (int k = 0; k < nout; k++)
                buf[i * ld + (size_t)nin + (size_t)k] = y[i * ldy + (size_t)k];
        }
        rows = buf;
    }
    return fn(net, net->act[0], theta, rows, ns, acc, out_scale, hidden_scale);
}

#define NARROW_CHUNK_MAX BNN_NARROW_CHUNK_MAX
/* the net's parameter count */
static size_t narrow_nparams(const bnn_narrow_net *net)
{
    size_t n = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const size_t we = (size_t)net->woff[l] + (size_t)net->width[l] * (size_t)net->width[l + 1];
        const size_t be = net->boff[l] >= 0 ? (size_t)net->boff[l] + (size_t)net->width[l + 1] : 0;
        n = we > n ? we : n;
        n = be > n ? be : n;
    }
    return n;
}

/* Floats of one thread's work buffer: the layer-wise kernel's sub-chunk (inputs, targets,
 * activations, deltas) and its forward's parameters (narrow_fold), and the tiny kernel's copy
 * of a chunk in its row layout. */
static size_t bnn_narrow_work(const bnn_narrow_net *net)
{
    const size_t sub = (size_t)(net->nin + net->nout + 2 * net->sum_widths) * NW_S +
                       narrow_nparams(net);
    const size_t rows = (size_t)(net->nin + net->nout) * NARROW_CHUNK_MAX;
    return sub > rows ? sub : rows;
}

static double bnn_narrow_grad(const bnn_narrow_net *net, const float *theta, const float *x,
                              size_t ldx, const float *y, size_t ldy, size_t ns, float *acc,
                              float *work, float out_scale, float hidden_scale)
{
    if (ns > NARROW_CHUNK_MAX)
        return NAN; /* the caller splits larger ranges (fast.c: the narrow chunk) */
    const narrow_tiny_fn tiny = narrow_tiny_pick(net);
    if (tiny)
        return narrow_tiny_grad(tiny, net, theta, x, ldx, y, ldy, ns, acc, work, out_scale,
                                hidden_scale);
    /* the forward's parameters, after the sub-chunk's buffers */
    float *thf = work + (size_t)(net->nin + net->nout + 2 * net->sum_widths) * NW_S;
    for (int l = 0; l < net->nlayers; l++) {
        const size_t nw = (size_t)net->width[l] * (size_t)net->width[l + 1];
        for (size_t i = 0; i < nw; i++)
            thf[net->woff[l] + (long)i] = narrow_fold(net->act[l], theta[net->woff[l] + (long)i]);
        for (int j = 0; net->boff[l] >= 0 && j < net->width[l + 1]; j++)
            thf[net->boff[l] + j] = narrow_fold(net->act[l], theta[net->boff[l] + j]);
    }
    double sse = 0.0;
    for (size_t s = 0; s < ns; s += NW_S) {
        const size_t cnt = ns - s < NW_S ? ns - s : NW_S;
        sse += nw_subchunk(net, theta, thf, x + s * ldx, ldx, y + s * ldy, ldy, cnt, acc, work,
                           out_scale, hidden_scale);
    }
    return sse;
}

static void bnn_narrow_reduce(const float *acc, size_t nparams, float *g)
{
    for (size_t p = 0; p < nparams; p++) {
        float s = 0.0f;
        for (size_t i = 0; i < VLEN; i++)
            s += acc[p * VLEN + i];
        g[p] = s;
    }
}

/* The entries every table shares: the loops of kernels_loops.h, optim_loops.h and
 * loss_loops.h, and this file's narrow path (all instantiated in the including file). */
#define BNN_TABLE_SHARED_ENTRIES                                                               \
    .act_backward = bnn_loops_act_backward, .output_delta = bnn_loops_output_delta,           \
    .sq_error = bnn_loops_sq_error, .row_sums_add = bnn_loops_row_sums_add,                   \
    .axpy = bnn_loops_axpy, .u01_run = bnn_loops_u01_run,                                     \
    .optim_step = bnn_loops_optim_step,                                                       \
    .loss_delta = bnn_loops_loss_delta, .narrow_lanes = VLEN, .narrow_work = bnn_narrow_work, \
    .narrow_grad = bnn_narrow_grad, .narrow_reduce = bnn_narrow_reduce,
