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
/* The layer-wise kernel for the other narrow nets (2->16->16->1 and any net of widths up to
 * BNN_NARROW_MAX_WIDTH). A chunk is cut into sub-chunks of NW_S samples; each is transposed
 * once into feature-major rows (the inputs X0 and targets Y, zero-padded to whole groups of
 * NW_U vectors) and then goes through the net layer by layer over the whole sub-chunk:
 *   forward  A_{l+1} = act(W_l A_l + b_l)    register tiles of NW_FJ outputs x NW_U vectors
 *   delta    D_m = out_scale (A_m - Y) act'(A_m), zero on padding lanes
 *   backward D_l = hidden_scale act'(A_l) (W_l^T D_{l+1})   tiles of NW_FJ inputs x NW_U
 *   gradient dW_l += D_{l+1} A_l^T: a tile of NW_TJ x NW_TK lane-wise accumulators stays in
 *            registers over every vector of the sub-chunk and is added to acc once;
 *            db_l += D_{l+1} summed over the sub-chunk the same way.
 * Feature k of a buffer is the NW_S floats at buf + k * NW_S (vector v at + v * VLEN). The
 * sub-chunk (a few tens of KiB for 2->16->16->1) stays in L1/L2, and each sub-chunk's rows are
 * read just before they are used, so the hardware prefetcher streams the data during compute.
 * The tile sizes are per ISA: 32 zmm registers hold 4 x 4 gradient tiles, 16 ymm 4 x 3 (12
 * accumulators, 3 input vectors and 1 delta: 7 loads per 12 FMAs, where 4 x 2 needed 10 per
 * 8). Each tile holds the shorter of its two operand lists in registers and streams the other
 * one vector at a time (forward: a row's weights held, each input vector loaded once for all
 * rows), so that a 3 x 4 tile needs 12 + 3 + 1 = 16 ymm registers: with 12 + 4 + 1, clang 14
 * spilled an accumulator to the stack inside the loop (W4 on AVX2 1.3x slower than GCC).
 * The summation order is a function of the chunk (its sub-chunks and tiles) only, not of the
 * tiles' loop order. */
#define NW_S 256
#define NW_U 4
/* vectors of a single-row tile (a layer of width 1, or the rows left over by NW_FJ): its
 * sums are one chain per vector, so more vectors keep the FMA pipes busy rather than waiting
 * on each FMA's latency */
#if VLEN >= 8
#define NW_U1 8 /* AVX2: W4 -4.6% (A/B, 1 thread); AVX-512: no difference at 8 or 16 */
#else
#define NW_U1 NW_U
#endif
#if VLEN >= 16
#define NW_FJ 4
#define NW_TJ 4
#define NW_TK 4
#elif VLEN >= 8
#define NW_FJ 3
#define NW_TJ 4
#define NW_TK 3
#else
#define NW_FJ 2
#define NW_TJ 2
#define NW_TK 2
#endif

/* The tiles' loops over their rows and vectors (J, U, K, TJ, TK: constants of each inlined
 * instance) unroll fully so that the tile lives in registers: GCC does so by itself; clang
 * 14 leaves some rolled and the arrays on the stack (W4 1.36x slower on AVX2), so it gets a
 * pragma (GCC none: its code stays as measured). */
#if defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NW_UNROLL _Pragma("clang loop unroll(full)")
#else
#define NW_UNROLL
#endif

/* A forward tile of a sigmoid layer tests its vectors for VSIGMOID2's slow path once, not
 * once per vector (a compare, a mask move and a branch each), on the paths that define the
 * mask macros (VMASK, VMASK_NONE, VMASK_OR: AVX2). The fast half of bnn_sigmoid2
 * (sigmoid_simd.h), the same operations: */
#if defined(VMASK_OR) && NARROW_FOLD
#define NW_SIG2_TILE 1
static inline __attribute__((always_inline)) V nw_sigmoid2_fast(V t)
{
    VI k;
    const V q = bnn_sig2_parts(VMAX(VSET1(BNN_SIG2_MIN_ARG), t), &k);
    return bnn_sig2_fast(q, k);
}
#else
#define NW_SIG2_TILE 0
#endif

/* cur[j0 + j] = act(b + sum_k W[j0 + j][k] prev[k]) for j < J, vectors v0 .. v0 + U - 1
 * (J = 1 with U = NW_U1: a single row, over more vectors so that enough independent sums are
 * in flight; each lane's sum is the same either way) */
static inline __attribute__((always_inline)) void
nw_forward_tile(const int J, const int U, const bnn_act act, const int in, const float *W,
                const float *b, int j0, const float *restrict prev, float *restrict cur,
                size_t v0)
{
    V z[NW_FJ][NW_U1];
    NW_UNROLL
    for (int j = 0; j < J; j++)
        NW_UNROLL
        for (int u = 0; u < U; u++)
            z[j][u] = b ? VSET1(b[j0 + j]) : VZERO();
    for (int k = 0; k < in; k++) {
        const float *pk = prev + (size_t)k * NW_S + v0 * VLEN;
        V w[NW_FJ];
        NW_UNROLL
        for (int j = 0; j < J; j++)
            w[j] = VSET1(W[(size_t)(j0 + j) * (size_t)in + (size_t)k]);
        NW_UNROLL
        for (int u = 0; u < U; u++) {
            const V x = VLOAD(pk + (size_t)u * VLEN);
            NW_UNROLL
            for (int j = 0; j < J; j++)
                z[j][u] = VFMA(w[j], x, z[j][u]);
        }
    }
#if NW_SIG2_TILE
    if (act == BNN_ACT_SIGMOID) {
        /* the fast sigmoid of every vector and one test for the tile; the rare tile with a
         * lane out of the fast range is redone with VSIGMOID2 (its values on the other lanes
         * and vectors are the fast ones: the same bits) */
        VMASK slow = VMASK_NONE();
        NW_UNROLL
        for (int j = 0; j < J; j++)
            NW_UNROLL
            for (int u = 0; u < U; u++) {
                slow = VMASK_OR(slow, VNGE(VSET1(BNN_SIG2_FAST_MAX), z[j][u]));
                VSTORE(cur + (size_t)(j0 + j) * NW_S + (v0 + (size_t)u) * VLEN,
                       nw_sigmoid2_fast(z[j][u]));
            }
        if (__builtin_expect(!VANY(slow), 1))
            return;
    }
#endif
    NW_UNROLL
    for (int j = 0; j < J; j++)
        NW_UNROLL
        for (int u = 0; u < U; u++)
            VSTORE(cur + (size_t)(j0 + j) * NW_S + (v0 + (size_t)u) * VLEN,
                   narrow_act(act, z[j][u]));
}

static inline __attribute__((always_inline)) void
nw_forward_act(const bnn_act act, const int in, const int out, const float *W, const float *b,
               const float *restrict prev, float *restrict cur, size_t nv)
{
    const int jt = out - out % NW_FJ; /* rows in whole tiles */
    for (size_t v0 = 0; v0 < nv; v0 += NW_U)
        for (int j0 = 0; j0 < jt; j0 += NW_FJ)
            nw_forward_tile(NW_FJ, NW_U, act, in, W, b, j0, prev, cur, v0);
    for (int j0 = jt; j0 < out; j0++) {
        size_t v0 = 0;
        for (; v0 + NW_U1 <= nv; v0 += NW_U1)
            nw_forward_tile(1, NW_U1, act, in, W, b, j0, prev, cur, v0);
        for (; v0 < nv; v0 += NW_U)
            nw_forward_tile(1, NW_U, act, in, W, b, j0, prev, cur, v0);
    }
}

static void nw_forward(bnn_act act, int in, int out, const float *W, const float *b,
                       const float *restrict prev, float *restrict cur, size_t nv)
{
    switch (act) {
    case BNN_ACT_SIGMOID: nw_forward_act(BNN_ACT_SIGMOID, in, out, W, b, prev, cur, nv); break;
    case BNN_ACT_TANH: nw_forward_act(BNN_ACT_TANH, in, out, W, b, prev, cur, nv); break;
    case BNN_ACT_RELU: nw_forward_act(BNN_ACT_RELU, in, out, W, b, prev, cur, nv); break;
    default: nw_forward_act(BNN_ACT_IDENTITY, in, out, W, b, prev, cur, nv); break;
    }
}

/* Dp[k0 + k] = hs act'(A[k0 + k]) sum_j W[j][k0 + k] D[j] for k < K, vectors v0 ..
 * v0 + U - 1 (A: the layer's input activations, act their activation; K = 1 with U = NW_U1 as
 * in the forward tile) */
static inline __attribute__((always_inline)) void
nw_backward_tile(const int K, const int U, const bnn_act act, const int hs1, const int in,
                 const int out, const float *W, int k0, const float *restrict D,
                 const float *restrict A, float *restrict Dp, V hs, size_t v0)
{
    V t[NW_FJ][NW_U1];
    NW_UNROLL
    for (int k = 0; k < K; k++)
        NW_UNROLL
        for (int u = 0; u < U; u++)
            t[k][u] = VZERO();
    for (int j = 0; j < out; j++) {
        const float *dj = D + (size_t)j * NW_S + v0 * VLEN;
        V w[NW_FJ];
        NW_UNROLL
        for (int k = 0; k < K; k++)
            w[k] = VSET1(W[(size_t)j * (size_t)in + (size_t)(k0 + k)]);
        NW_UNROLL
        for (int u = 0; u < U; u++) {
            const V d = VLOAD(dj + (size_t)u * VLEN);
            NW_UNROLL
            for (int k = 0; k < K; k++)
                t[k][u] = VFMA(w[k], d, t[k][u]);
        }
    }
    NW_UNROLL
    for (int k = 0; k < K; k++)
        NW_UNROLL
        for (int u = 0; u < U; u++) {
            const size_t o = (size_t)(k0 + k) * NW_S + (v0 + (size_t)u) * VLEN;
            VSTORE(Dp + o,
                   VMUL(narrow_hscale(hs1, hs, t[k][u]), narrow_slope(act, VLOAD(A + o))));
        }
}

static inline __attribute__((always_inline)) void
nw_backward_act(const bnn_act act, const int hs1, const int in, const int out, const float *W,
                const float *restrict D, const float *restrict A, float *restrict Dp, V hs,
                size_t nv)
{
    const int kt = in - in % NW_FJ; /* inputs in whole tiles */
    for (size_t v0 = 0; v0 < nv; v0 += NW_U)
        for (int k0 = 0; k0 < kt; k0 += NW_FJ)
            nw_backward_tile(NW_FJ, NW_U, act, hs1, in, out, W, k0, D, A, Dp, hs, v0);
    for (int k0 = kt; k0 < in; k0++) {
        size_t v0 = 0;
        for (; v0 + NW_U1 <= nv; v0 += NW_U1)
            nw_backward_tile(1, NW_U1, act, hs1, in, out, W, k0, D, A, Dp, hs, v0);
        for (; v0 < nv; v0 += NW_U)
            nw_backward_tile(1, NW_U, act, hs1, in, out, W, k0, D, A, Dp, hs, v0);
    }
}

static void nw_backward(bnn_act act, int in, int out, const float *W, const float *restrict D,
                        const float *restrict A, float *restrict Dp, float hidden_scale,
                        size_t nv)
{
    const V hs = VSET1(hidden_scale);
#define NW_BACKWARD(ACT)                                                                       \
    (hidden_scale == 1.0f ? nw_backward_act(ACT, 1, in, out, W, D, A, Dp, hs, nv)              \
                          : nw_backward_act(ACT, 0, in, out, W, D, A, Dp, hs, nv))
    switch (act) {
    case BNN_ACT_SIGMOID: NW_BACKWARD(BNN_ACT_SIGMOID); break;
    case BNN_ACT_TANH: NW_BACKWARD(BNN_ACT_TANH); break;
    case BNN_ACT_RELU: NW_BACKWARD(BNN_ACT_RELU); break;
    default: NW_BACKWARD(BNN_ACT_IDENTITY); break;
    }
#undef NW_BACKWARD
}

/* accW[j0 + j][k0 + k] += sum over the nv vectors of D[j0 + j] A[k0 + k], lane-wise, the tile
 * in registers */
static inline __attribute__((always_inline)) void
nw_grad_tile(const int TJ, const int TK, const int in, int j0, int k0, const float *restrict D,
             const float *restrict A, float *restrict accW, size_t nv)
{
    V g[8][8];
    NW_UNROLL
    for (int j = 0; j < TJ; j++)
        NW_UNROLL
        for (int k = 0; k < TK; k++)
            g[j][k] = VZERO();
    for (size_t v = 0; v < nv; v++) {
        if (TJ >= TK) { /* the TK activations held, each delta loaded once for its row */
            V a[8];
            NW_UNROLL
            for (int k = 0; k < TK; k++)
                a[k] = VLOAD(A + (size_t)(k0 + k) * NW_S + v * VLEN);
            NW_UNROLL
            for (int j = 0; j < TJ; j++) {
                const V d = VLOAD(D + (size_t)(j0 + j) * NW_S + v * VLEN);
                NW_UNROLL
                for (int k = 0; k < TK; k++)
                    g[j][k] = VFMA(d, a[k], g[j][k]);
            }
        } else { /* the TJ deltas held, each activation loaded once for its column */
            V d[8];
            NW_UNROLL
            for (int j = 0; j < TJ; j++)
                d[j] = VLOAD(D + (size_t)(j0 + j) * NW_S + v * VLEN);
            NW_UNROLL
            for (int k = 0; k < TK; k++) {
                const V a = VLOAD(A + (size_t)(k0 + k) * NW_S + v * VLEN);
                NW_UNROLL
                for (int j = 0; j < TJ; j++)
                    g[j][k] = VFMA(d[j], a, g[j][k]);
            }
        }
    }
    NW_UNROLL
    for (int j = 0; j < TJ; j++)
        NW_UNROLL
        for (int k = 0; k < TK; k++) {
            float *p = accW + ((size_t)(j0 + j) * (size_t)in + (size_t)(k0 + k)) * VLEN;
            VSTORE(p, VADD(VLOAD(p), g[j][k]));
        }
}

/* accb[j0 + j] += sum over the nv vectors of D[j0 + j], lane-wise, for j < R */
static inline __attribute__((always_inline)) void
nw_bias_rows(const int R, int j0, const float *restrict D, float *restrict accb, size_t nv)
{
    V t[8];
    NW_UNROLL
    for (int j = 0; j < R; j++)
        t[j] = VZERO();
    for (size_t v = 0; v < nv; v++)
        NW_UNROLL
        for (int j = 0; j < R; j++)
            t[j] = VADD(t[j], VLOAD(D + (size_t)(j0 + j) * NW_S + v * VLEN));
    NW_UNROLL
    for (int j = 0; j < R; j++) {
        float *p = accb + (size_t)(j0 + j) * VLEN;
        VSTORE(p, VADD(VLOAD(p), t[j]));
    }
}

static void nw_grad(int in, int out, const float *restrict D, const float *restrict A,
                    float *restrict accW, float *restrict accb, size_t nv)
{
    int j0 = 0;
    for (; j0 + NW_TJ <= out; j0 += NW_TJ) {
        int k0 = 0;
        for (; k0 + NW_TK <= in; k0 += NW_TK)
            nw_grad_tile(NW_TJ, NW_TK, in, j0, k0, D, A, accW, nv);
        for (; k0 < in; k0++)
            nw_grad_tile(NW_TJ, 1, in, j0, k0, D, A, accW, nv);
    }
    /* the rows left (an output layer of width 1): 8 columns at a time, so that 8 independent
     * accumulations are in flight rather than one latency-bound chain */
    for (; j0 < out; j0++) {
        int k0 = 0;
        for (; k0 + 8 <= in; k0 += 8)
            nw_grad_tile(1, 8, in, j0, k0, D, A, accW, nv);
        for (; k0 < in; k0++)
            nw_grad_tile(1, 1, in, j0, k0, D, A, accW, nv);
    }
    if (!accb)
        return;
    /* db: 8 rows at a time, for the same reason */
    int j = 0;
    for (; j + 8 <= out; j += 8)
        nw_bias_rows(8, j, D, accb, nv);
    for (; j < out; j++)
        nw_bias_rows(1, j, D, accb, nv);
}

/* A sub-chunk: cnt <= NW_S rows of inputs at x (stride ldx) and targets at y (stride ldy). */
static double nw_subchunk(const bnn_narrow_net *net, const float *theta, const float *thf,
                          const float *x, size_t ldx, const float *y, size_t ldy, size_t cnt,
                          float *acc, float *work, float out_scale, float hidden_scale)
{
    const int m = net->nlayers, nin = net->nin, nout = net->nout;
    const size_t BS = (size_t)NW_U * VLEN;
    const size_t spad = (cnt + BS - 1) / BS * BS, nv = spad / VLEN;
    float *X0 = work;
    float *Y = X0 + (size_t)nin * NW_S;
    float *A = Y + (size_t)nout * NW_S;                /* A_l at A + aoff[l] * NW_S, l >= 1 */
    float *D = A + (size_t)net->sum_widths * NW_S;     /* D_l at D + aoff[l] * NW_S */
    narrow_transpose(X0, NW_S, x, ldx, nin, cnt, spad);
    narrow_transpose(Y, NW_S, y, ldy, nout, cnt, spad);
    for (int l = 0; l < m; l++) {
        const float *prev = l > 0 ? A + (size_t)net->aoff[l] * NW_S : X0;
        const float *b = net->boff[l] >= 0 ? thf + net->boff[l] : NULL;
        nw_forward(net->act[l], net->width[l], net->width[l + 1], thf + net->woff[l], b, prev,
                   A + (size_t)net->aoff[l + 1] * NW_S, nv);
    }
    /* output delta, zero on the padding lanes (inputs zero there, outputs not) */
    const V oscale = VSET1(out_scale);
    const bnn_act oact = net->act[m - 1];
    V sse = VZERO();
    const float *Am = A + (size_t)net->aoff[m] * NW_S;
    float *Dm = D + (size_t)net->aoff[m] * NW_S;
    const size_t full = cnt / VLEN; /* vectors without padding */
    for (int j = 0; j < nout; j++)
        for (size_t v = 0; v < nv; v++) {
            const size_t o = (size_t)j * NW_S + v * VLEN;
            const V a = VLOAD(Am + o);
            V diff = VSUB(a, VLOAD(Y + o));
            if (v >= full) {
                _Alignas(64) float valid[VLEN];
                for (size_t i = 0; i < VLEN; i++)
                    valid[i] = v * VLEN + i < cnt ? 1.0f : 0.0f;
                diff = VMUL(diff, VLOAD(valid));
            }
            sse = VFMA(diff, diff, sse);
            VSTORE(Dm + o, VMUL(VMUL(oscale, diff), narrow_slope(oact, a)));
        }
    for (int l = m - 1; l >= 0; l--) {
        const int in = net->width[l], out = net->width[l + 1];
        const float *Dl = D + (size_t)net->aoff[l + 1] * NW_S;
        const float *Al = l > 0 ? A + (size_t)net->aoff[l] * NW_S : X0;
        if (l > 0)
            nw_backward(net->act[l - 1], in, out, theta + net->woff[l], Dl, Al,
                        D + (size_t)net->aoff[l] * NW_S, hidden_scale, nv);
        nw_grad(in, out, Dl, Al, acc + (size_t)net->woff[l] * VLEN,
                net->boff[l] >= 0 ? acc + (size_t)net->boff[l] * VLEN : NULL, nv);
    }
    return VHSUM_D(sse);
}

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
        NT_UNROLL
        for (int j = 0; j < wo; j++) {
            NT_UNROLL
            for (int u = 0; u < U; u++) {
                V z = VSET1(bf[l][j]);
                NT_UNROLL
                for (int k = 0; k < wi; k++)
                    z = VFMA(VSET1(wf[l][j][k]), a[l][k][u], z);
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
