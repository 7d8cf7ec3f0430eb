/*
 * narrow_impl.h - the narrow fused path, written once and instantiated per ISA
 * (kernels_scalar.c, kernels_avx2.c, kernels_avx512.c define the vector macros, then include
 * this file). For nets whose layers are all narrow (the notes' 1->1, 2->1, chains of width 1,
 * 2->16->16->1), a GEMM call per layer costs more than the arithmetic; here instead a block
 * of VLEN samples, one sample per vector lane, goes forward and backward through every layer
 * while it sits in registers and L1, and the gradient is accumulated lane-wise.
 *
 * The instantiating file defines:
 *   VLEN                   lanes per vector
 *   V                      vector type
 *   VZERO() VSET1(x) VLOAD(p) VSTORE(p, v) VADD VSUB VMUL VFMA(a, b, c) = a*b + c
 *   VMAX0(v) = max(v, 0)   VRELU_SLOPE(a)   VSIGMOID(v)   VTANH(v)
 *   VHSUM_D(v) = sum of lanes in double, lane order
 * Inputs and targets arrive sample-major (a row per sample, stride ld). A chunk of them is
 * first transposed into feature-major rows (narrow_transpose: plain loops with the stride as a
 * compile-time constant for the common small strides, which the compiler vectorises with
 * permutes), padded with zeros to whole blocks; blocks then read aligned vectors.
 * It defines the static bnn_narrow_work, bnn_narrow_grad and bnn_narrow_reduce, the narrow
 * entries of the including file's kernel table (bnn_kernels.h).
 *
 * Layouts inside a block (all in `work`, floats):
 *   A_l[j] (layer l's output j for the block's samples) at acts + (aoff[l] + j) * U * VLEN
 *   acc    lane-wise gradient partials: parameter p's lanes at acc + p * VLEN; the caller
 *          zeroes it at the start of a shard and reduces lanes in a fixed order at its end.
 * Padding lanes (the tail block, ns not a multiple of VLEN) see zero inputs and get a zero
 * output delta, so they add nothing to the gradient or the cost.
 *
 * Must match the reference engine to float32 accuracy (tests/test_fast.c, per ISA).
 */

#include <math.h>
#include <stddef.h>

#include "bnn_narrow.h"

static inline __attribute__((always_inline)) V narrow_act(bnn_act act, V z)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return VSIGMOID(z);
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
        return VMUL(a, VSUB(VSET1(1.0f), a));
    case BNN_ACT_TANH:
        return VSUB(VSET1(1.0f), VMUL(a, a));
    case BNN_ACT_RELU:
        return VRELU_SLOPE(a);
    default:
        return VSET1(1.0f);
    }
}

/*
 * A block is U vectors (U * VLEN samples). U > 1 keeps several independent vectors in flight,
 * which is what hides the latency of the sigmoid and FMA chains on thin layers, and makes each
 * load and store of a gradient accumulator serve U vectors on wider ones. Vector u of feature
 * k of a buffer is at buf + (k * U + u) * VLEN.
 */

/* Forward through one layer for one block: out[j] = act(b[j] + sum_k W[j][k] in[k]).
 * Inlined with constant `in` and U. The inputs are read from L1 where they are used: copying
 * them into a register array first made GCC spill and zero-fill it every block. */
static inline __attribute__((always_inline)) void
narrow_forward_layer(const int U, const int in, const int out, const float *W, const float *b,
                     const float *restrict prev, float *restrict cur, bnn_act act)
{
    for (int j = 0; j < out; j++) {
        const float *w = W + (size_t)j * in;
        V z[8];
        for (int u = 0; u < U; u++)
            z[u] = b ? VSET1(b[j]) : VZERO();
        for (int k = 0; k < in; k++) {
            const V wk = VSET1(w[k]);
            for (int u = 0; u < U; u++)
                z[u] = VFMA(wk, VLOAD(prev + (k * U + u) * VLEN), z[u]);
        }
        for (int u = 0; u < U; u++)
            VSTORE(cur + (j * U + u) * VLEN, narrow_act(act, z[u]));
    }
}

/* Backward through one layer for one block, given D = dC/dZ_l (out x U vectors):
 *   acc_W[j][k] += D[j] prev[k],  acc_b[j] += D[j]       (lane-wise, summed over u)
 *   Dprev[k] = hidden_scale * act'(prev[k]) * sum_j W[j][k] D[j]   (when want_prev) */
static inline __attribute__((always_inline)) void
narrow_backward_layer(const int U, const int in, const int out, const float *W,
                      float *restrict accW, float *restrict accb, const float *restrict prev,
                      const float *restrict D, float *restrict Dprev, int want_prev,
                      bnn_act prev_act, float hidden_scale)
{
    for (int j = 0; j < out; j++) {
        V d[8];
        for (int u = 0; u < U; u++)
            d[u] = VLOAD(D + (j * U + u) * VLEN);
        float *aw = accW + (size_t)j * in * VLEN;
        if (accb) {
            V t = VLOAD(accb + j * VLEN);
            for (int u = 0; u < U; u++)
                t = VADD(t, d[u]);
            VSTORE(accb + j * VLEN, t);
        }
        for (int k = 0; k < in; k++) {
            V t = VLOAD(aw + k * VLEN);
            for (int u = 0; u < U; u++)
                t = VFMA(d[u], VLOAD(prev + (k * U + u) * VLEN), t);
            VSTORE(aw + k * VLEN, t);
        }
    }
    if (!want_prev)
        return;
    /* Dprev[k] = hidden_scale * act'(prev[k]) * sum_j W[j][k] D[j], the sum in registers */
    const V hs = VSET1(hidden_scale);
    for (int k = 0; k < in; k++) {
        V t[8];
        for (int u = 0; u < U; u++)
            t[u] = VZERO();
        for (int j = 0; j < out; j++) {
            const V wjk = VSET1(W[(size_t)j * in + k]);
            for (int u = 0; u < U; u++)
                t[u] = VFMA(wjk, VLOAD(D + (j * U + u) * VLEN), t[u]);
        }
        for (int u = 0; u < U; u++)
            VSTORE(Dprev + (k * U + u) * VLEN,
                   VMUL(VMUL(hs, t[u]), narrow_slope(prev_act, VLOAD(prev + (k * U + u) * VLEN))));
    }
}

/* The layer functions with the input width as a compile-time constant for the common widths
 * (x[] and the k loops then unroll fully). */
#define NARROW_WIDTH_CASES(CALL)                                                               \
    switch (in) {                                                                              \
    case 1: CALL(1); break;                                                                    \
    case 2: CALL(2); break;                                                                    \
    case 4: CALL(4); break;                                                                    \
    case 8: CALL(8); break;                                                                    \
    case 16: CALL(16); break;                                                                  \
    default: CALL(in); break;                                                                  \
    }

/* Vectors per block: 8 for the thinnest nets (every width <= 2), 4 otherwise (latency-bound
 * chains; on wider layers it also amortises each gradient accumulator's load and store over
 * 4 vectors, while the layer's inputs are read from L1 instead of registers). */
static int narrow_unroll(const bnn_narrow_net *net)
{
    return net->max_width <= 2 ? 8 : 4;
}
#define NARROW_MAX_UNROLL 8

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

#define NARROW_CHUNK_MAX BNN_NARROW_CHUNK_MAX
static size_t bnn_narrow_work(const bnn_narrow_net *net)
{
    const size_t U = NARROW_MAX_UNROLL;
    return (size_t)(net->nin + net->nout + net->sum_widths + 2 * net->max_width + 1) * U * VLEN +
           (size_t)(net->nin + net->nout) * (NARROW_CHUNK_MAX + U * VLEN);
}

/* One block of U vectors: the inputs and targets from the feature-major chunk (npad floats
 * per feature, block start s), forward, the output delta (zero on padding lanes beyond cnt),
 * backward into acc; returns sse plus the block's squared errors, lane-wise. */
static inline __attribute__((always_inline)) V
narrow_block(const int U, const bnn_narrow_net *net, const float *theta, const float *XT,
             const float *YT, size_t npad, size_t s, size_t cnt, float *acc, float *work,
             V oscale, float hidden_scale, V sse)
{
    const int m = net->nlayers, nin = net->nin, nout = net->nout;
    const size_t BS = (size_t)U * VLEN;
    float *A0 = work;
    float *Y = A0 + (size_t)nin * BS;
    float *acts = Y + (size_t)nout * BS;
    float *D = acts + (size_t)net->sum_widths * BS;
    float *Dp = D + (size_t)net->max_width * BS;
    float *valid = Dp + (size_t)net->max_width * BS;
    /* this block's U vectors per feature, contiguous */
    for (int k = 0; k < nin; k++)
        for (int u = 0; u < U; u++)
            VSTORE(A0 + ((size_t)k * U + (size_t)u) * VLEN,
                   VLOAD(XT + (size_t)k * npad + s + (size_t)u * VLEN));
    for (int k = 0; k < nout; k++)
        for (int u = 0; u < U; u++)
            VSTORE(Y + ((size_t)k * U + (size_t)u) * VLEN,
                   VLOAD(YT + (size_t)k * npad + s + (size_t)u * VLEN));
    /* forward */
    const float *prev = A0;
    for (int l = 0; l < m; l++) {
        float *cur = acts + (size_t)net->aoff[l + 1] * BS;
        const float *b = net->boff[l] >= 0 ? theta + net->boff[l] : NULL;
        const int in = net->width[l], out = net->width[l + 1];
        const float *W = theta + net->woff[l];
        const bnn_act act = net->act[l];
#define NARROW_F(K) narrow_forward_layer(U, K, out, W, b, prev, cur, act)
        NARROW_WIDTH_CASES(NARROW_F)
#undef NARROW_F
        prev = cur;
    }
    /* output delta: D = out_scale (a - y) act'(a), zero on padding lanes */
    const float *am = acts + (size_t)net->aoff[m] * BS;
    if (cnt < BS)
        for (size_t i = 0; i < BS; i++)
            valid[i] = i < cnt ? 1.0f : 0.0f;
    for (int j = 0; j < nout; j++)
        for (int u = 0; u < U; u++) {
            const size_t o = ((size_t)j * U + (size_t)u) * VLEN;
            V a = VLOAD(am + o);
            V diff = VSUB(a, VLOAD(Y + o));
            if (cnt < BS)
                diff = VMUL(diff, VLOAD(valid + (size_t)u * VLEN));
            sse = VFMA(diff, diff, sse);
            VSTORE(D + o, VMUL(VMUL(oscale, diff), narrow_slope(net->act[m - 1], a)));
        }
    /* backward */
    float *Dc = D, *Dn = Dp;
    for (int l = m - 1; l >= 0; l--) {
        const float *pa = l > 0 ? acts + (size_t)net->aoff[l] * BS : A0;
        float *accb = net->boff[l] >= 0 ? acc + (size_t)net->boff[l] * VLEN : NULL;
        const bnn_act pact = l > 0 ? net->act[l - 1] : BNN_ACT_IDENTITY;
        const int in = net->width[l], out = net->width[l + 1];
        const float *W = theta + net->woff[l];
        float *accW = acc + (size_t)net->woff[l] * VLEN;
#define NARROW_B(K)                                                                            \
    narrow_backward_layer(U, K, out, W, accW, accb, pa, Dc, Dn, l > 0, pact, hidden_scale)
        NARROW_WIDTH_CASES(NARROW_B)
#undef NARROW_B
        float *t = Dc;
        Dc = Dn;
        Dn = t;
    }
    return sse;
}

/* ------------------------------------------------------------------------------------------ */
/* The single-pass kernel for tiny nets (narrow_tiny_*): every layer of width at most
 * NT_MAXW and at most NT_MAXL layers, one activation for every layer, in one of the shapes of
 * NT_SHAPES below (one layer nin -> nout with nin <= 4 and nout <= 2, and chains nin -> H ->
 * ... -> H -> 1 of up to 4 layers with nin, H <= 2: the notes' 1->1, 2->1, 1->1->1->1->1).
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
#define NT_U 4

/* layer l's width in the shape (L, nin, H, nout) */
#define NT_W(l) ((l) == 0 ? nin : (l) == L ? nout : H)

/* One block: rows at p (BS = U * VLEN rows of ld = nin + nout floats), cnt valid rows (BS
 * outside the tail). gw/gb: the register accumulators; wv/bv: the weights and biases. */
static inline __attribute__((always_inline)) void
narrow_tiny_block(const int L, const int nin, const int H, const int nout, const bnn_act act,
                  const int U, const float *p, const size_t cnt,
                  const float wv[NT_MAXL][NT_MAXW][NT_MAXW], const float bv[NT_MAXL][NT_MAXW],
                  V gw[NT_MAXL][NT_MAXW][NT_MAXW], V gb[NT_MAXL][NT_MAXW], V *sse, V oscale,
                  V hs, const float *valid)
{
    const int ld = nin + nout;
    V a[NT_MAXL + 1][NT_MAXW][NT_U], y[NT_MAXW][NT_U], d[NT_MAXW][NT_U], dn[NT_MAXW][NT_U];
    for (int u = 0; u < U; u++) {
        const float *q = p + (size_t)u * VLEN * (size_t)ld;
        for (int k = 0; k < nin; k++)
            a[0][k][u] = VDEINT(q, ld, k);
        for (int k = 0; k < nout; k++)
            y[k][u] = VDEINT(q, ld, nin + k);
    }
    for (int l = 0; l < L; l++)
        for (int j = 0; j < NT_W(l + 1); j++)
            for (int u = 0; u < U; u++) {
                V z = VSET1(bv[l][j]);
                for (int k = 0; k < NT_W(l); k++)
                    z = VFMA(VSET1(wv[l][j][k]), a[l][k][u], z);
                a[l + 1][j][u] = narrow_act(act, z);
            }
    for (int j = 0; j < nout; j++)
        for (int u = 0; u < U; u++) {
            V diff = VSUB(a[L][j][u], y[j][u]);
            if (cnt < (size_t)U * VLEN)
                diff = VMUL(diff, VLOAD(valid + (size_t)u * VLEN));
            *sse = VFMA(diff, diff, *sse);
            d[j][u] = VMUL(VMUL(oscale, diff), narrow_slope(act, a[L][j][u]));
        }
    for (int l = L - 1; l >= 0; l--) {
        for (int j = 0; j < NT_W(l + 1); j++)
            for (int u = 0; u < U; u++) {
                gb[l][j] = VADD(gb[l][j], d[j][u]);
                for (int k = 0; k < NT_W(l); k++)
                    gw[l][j][k] = VFMA(d[j][u], a[l][k][u], gw[l][j][k]);
            }
        if (l == 0)
            break;
        for (int k = 0; k < NT_W(l); k++)
            for (int u = 0; u < U; u++) {
                V t = VZERO();
                for (int j = 0; j < NT_W(l + 1); j++)
                    t = VFMA(VSET1(wv[l][j][k]), d[j][u], t);
                dn[k][u] = VMUL(VMUL(hs, t), narrow_slope(act, a[l][k][u]));
            }
        for (int k = 0; k < NT_W(l); k++)
            for (int u = 0; u < U; u++)
                d[k][u] = dn[k][u];
    }
}

/* A chunk of ns rows of ld = nin + nout floats at rows (see above). */
static inline __attribute__((always_inline)) double
narrow_tiny_chunk(const int L, const int nin, const int H, const int nout, const bnn_act act,
                  const bnn_narrow_net *net, const float *theta, const float *rows, size_t ns,
                  float *acc, float out_scale, float hidden_scale)
{
    const int U = NT_U, ld = nin + nout;
    const size_t BS = (size_t)U * VLEN;
    float wv[NT_MAXL][NT_MAXW][NT_MAXW] = {{{0}}}, bv[NT_MAXL][NT_MAXW] = {{0}};
    V gw[NT_MAXL][NT_MAXW][NT_MAXW], gb[NT_MAXL][NT_MAXW];
    for (int l = 0; l < L; l++)
        for (int j = 0; j < NT_W(l + 1); j++) {
            bv[l][j] = net->boff[l] >= 0 ? theta[net->boff[l] + j] : 0.0f;
            gb[l][j] = VZERO();
            for (int k = 0; k < NT_W(l); k++) {
                wv[l][j][k] = theta[net->woff[l] + (long)j * NT_W(l) + k];
                gw[l][j][k] = VZERO();
            }
        }
    const V oscale = VSET1(out_scale), hs = VSET1(hidden_scale);
    V sse = VZERO();
    size_t s = 0;
    for (; s + BS <= ns; s += BS)
        narrow_tiny_block(L, nin, H, nout, act, U, rows + s * (size_t)ld, BS, wv, bv, gw, gb,
                          &sse, oscale, hs, NULL);
    if (s < ns) {
        /* the last partial block, zero-padded, the padding lanes masked */
        _Alignas(64) float tail[NT_U * VLEN * (NT_MAXW + 2)];
        _Alignas(64) float valid[NT_U * VLEN];
        const size_t cnt = ns - s;
        for (size_t i = 0; i < BS * (size_t)ld; i++)
            tail[i] = i < cnt * (size_t)ld ? rows[s * (size_t)ld + i] : 0.0f;
        for (size_t i = 0; i < BS; i++)
            valid[i] = i < cnt ? 1.0f : 0.0f;
        narrow_tiny_block(L, nin, H, nout, act, U, tail, cnt, wv, bv, gw, gb, &sse, oscale, hs,
                          valid);
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
    X(1, 4, 1, 1) X(2, 4, 1, 1)

#define NT_DEF(NIN, L, H, NOUT)                                                                \
    static __attribute__((noinline)) double narrow_tiny_##NIN##_##L##_##H##_##NOUT(            \
        const bnn_narrow_net *net, bnn_act act, const float *theta, const float *rows,        \
        size_t ns, float *acc, float os, float hs)                                             \
    {                                                                                          \
        switch (act) {                                                                         \
        case BNN_ACT_SIGMOID:                                                                  \
            return narrow_tiny_chunk(L, NIN, H, NOUT, BNN_ACT_SIGMOID, net, theta, rows, ns,   \
                                     acc, os, hs);                                             \
        case BNN_ACT_TANH:                                                                     \
            return narrow_tiny_chunk(L, NIN, H, NOUT, BNN_ACT_TANH, net, theta, rows, ns, acc, \
                                     os, hs);                                                  \
        case BNN_ACT_RELU:                                                                     \
            return narrow_tiny_chunk(L, NIN, H, NOUT, BNN_ACT_RELU, net, theta, rows, ns, acc, \
                                     os, hs);                                                  \
        default:                                                                               \
            return narrow_tiny_chunk(L, NIN, H, NOUT, BNN_ACT_IDENTITY, net, theta, rows, ns,  \
                                     acc, os, hs);                                             \
        }                                                                                      \
    }
NT_SHAPES(NT_DEF)
#undef NT_DEF

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

static double bnn_narrow_grad(const bnn_narrow_net *net, const float *theta, const float *x,
                              size_t ldx, const float *y, size_t ldy, size_t ns, float *acc,
                              float *work, float out_scale, float hidden_scale)
{
    const int nin = net->nin, nout = net->nout;
    const int U = narrow_unroll(net);
    const size_t BS = (size_t)U * VLEN; /* samples per block */
    /* the block buffers (narrow_block), then the chunk, feature-major: XT[k] (inputs) then
     * YT[k] (targets), npad floats each */
    const size_t npad = (ns + BS - 1) / BS * BS;
    float *XT = work + (size_t)(nin + nout + net->sum_widths + 2 * net->max_width + 1) * BS;
    float *YT = XT + (size_t)nin * npad;
    const V oscale = VSET1(out_scale);
    V sse = VZERO();
    if (ns > NARROW_CHUNK_MAX)
        return NAN; /* the caller splits larger ranges (fast.c: the narrow chunk) */
    const narrow_tiny_fn tiny = narrow_tiny_pick(net);
    if (tiny)
        return narrow_tiny_grad(tiny, net, theta, x, ldx, y, ldy, ns, acc, XT, out_scale,
                                hidden_scale);
    narrow_transpose(XT, npad, x, ldx, nin, ns, npad);
    narrow_transpose(YT, npad, y, ldy, nout, ns, npad);
    for (size_t s = 0; s < ns; s += BS) {
        const size_t cnt = ns - s < BS ? ns - s : BS;
        if (U == 8)
            sse = narrow_block(8, net, theta, XT, YT, npad, s, cnt, acc, work, oscale,
                               hidden_scale, sse);
        else
            sse = narrow_block(4, net, theta, XT, YT, npad, s, cnt, acc, work, oscale,
                               hidden_scale, sse);
    }
    return VHSUM_D(sse);
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
    .axpy = bnn_loops_axpy, .optim_step = bnn_loops_optim_step,                               \
    .loss_delta = bnn_loops_loss_delta, .narrow_lanes = VLEN, .narrow_work = bnn_narrow_work, \
    .narrow_grad = bnn_narrow_grad, .narrow_reduce = bnn_narrow_reduce,
