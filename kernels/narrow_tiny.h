/*
 * narrow_tiny.h - the narrow path's single-pass kernel for tiny nets (narrow_tiny_*), part of
 * narrow_impl.h, which includes it once per ISA with its vector macros (VLEN, V, VFMA, VDEINT,
 * ...) and helpers (narrow_fold, narrow_act, narrow_slope, narrow_hscale) defined. It defines
 * the instances narrow_tiny_<nin>_<L>_<H>_<nout>, narrow_tiny_pick (the instance for a net, or
 * NULL) and narrow_tiny_grad (a chunk in any row layout), static, for bnn_narrow_grad.
 * Results: bitwise the same for any thread count and with or without the pipelining
 * (NT_PIPE); must match the reference engine to float32 accuracy (tests/test_fast.c).
 */

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
 * vector u. Forward and backward run per block of U vectors (with two blocks in flight, below),
 * the gradient accumulates
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
/* Two blocks in flight: the chunk loop is software-pipelined, so that one straight-line step
 * runs block k + 1's forward (rows, layers, output deltas and the sse) next to block k's
 * backward (gradient and deltas, layer L - 1 down to 0), vector by vector: forward layer l of
 * vector u of the one, then backward layer L - 1 - l of vector u of the other. A block's chain
 * of sigmoids is serial (per layer about 46 cycles of dependent operations) and a block is
 * larger than the reorder window, so one block at a time barely overlaps consecutive blocks.
 * The gradient accumulators still receive block k's contributions (in u order) before block
 * k + 1's, and the sse the blocks' in block order: the sums are bitwise those of one block at
 * a time. NT_PIPE(L): the instances pipelined, as measured (docs/kernels.md, "Third pass"):
 * the chains on AVX-512 (W3 2% faster); not the single layers (W1, W2: no gain), nor AVX2,
 * whose 16 registers spill more for the second block (W3 3% slower). A block's state between
 * its forward and its backward: */
#ifndef NT_PIPE
#define NT_PIPE(L) ((L) >= 2 && VLEN >= 16)
#endif
typedef struct nt_state {
    V a[NT_MAXL + 1][NT_MAXW][NT_U]; /* every layer's output, a[0] the inputs */
    V d[NT_MAXW][NT_U];              /* the output deltas */
} nt_state;

/* Forward layer l of vector u of a block */
static inline __attribute__((always_inline)) void
nt_fwd_u(const int l, const int u, const int nin, const int H, const int L, const int nout,
         const bnn_act act, const float wf[NT_MAXL][NT_MAXW][NT_MAXW],
         const float bf[NT_MAXL][NT_MAXW], nt_state *st)
{
    const int wi = NT_W(l), wo = NT_W(l + 1);
    NT_UNROLL
    for (int j = 0; j < wo; j++) {
        V z = VSET1(bf[l][j]);
        NT_UNROLL
        for (int k = 0; k < wi; k++)
            z = VFMA(VSET1(wf[l][j][k]), st->a[l][k][u], z);
        st->a[l + 1][j][u] = narrow_act(act, z);
    }
}
/* Backward layer l of vector u of a block, its gradient from the deltas st->d[.][u] (each
 * accumulator receives the vectors in u order) */
static inline __attribute__((always_inline)) void
nt_grad_u(const int l, const int u, const int nin, const int H, const int L, const int nout,
          V gw[NT_MAXL][NT_MAXW][NT_MAXW], V gb[NT_MAXL][NT_MAXW], nt_state *st)
{
    const int wi = NT_W(l), wo = NT_W(l + 1);
    NT_UNROLL
    for (int j = 0; j < wo; j++) {
        gb[l][j] = VADD(gb[l][j], st->d[j][u]);
        NT_UNROLL
        for (int k = 0; k < wi; k++)
            gw[l][j][k] = VFMA(st->d[j][u], st->a[l][k][u], gw[l][j][k]);
    }
}

/* and (l > 0) the deltas of layer l - 1 for vector u, in place of st->d[.][u] */
static inline __attribute__((always_inline)) void
nt_delta_u(const int l, const int u, const int nin, const int H, const int L, const int nout,
           const bnn_act act, const float wv[NT_MAXL][NT_MAXW][NT_MAXW], const int hs1, V hs,
           nt_state *st)
{
    const int wi = NT_W(l), wo = NT_W(l + 1);
    V dn[NT_MAXW];
    if (l == 0)
        return;
    NT_UNROLL
    for (int k = 0; k < wi; k++) {
        V t = VZERO();
        NT_UNROLL
        for (int j = 0; j < wo; j++)
            t = VFMA(VSET1(wv[l][j][k]), st->d[j][u], t);
        dn[k] = VMUL(narrow_hscale(hs1, hs, t), narrow_slope(act, st->a[l][k][u]));
    }
    NT_UNROLL
    for (int k = 0; k < wi; k++)
        st->d[k][u] = dn[k];
}

/* One step of the pipeline: with fwd, the forward of the block at p (U * VLEN rows of
 * ld = nin + nout floats; masked: multiplied by valid, the tail) into nx; with bwd, the
 * backward of the block in pv; side by side, layer by layer and vector by vector. gw/gb: the
 * register accumulators; wv: the weights, wf/bf: the forward's (narrow_fold). */
static inline __attribute__((always_inline)) void
nt_step(const int L, const int nin, const int H, const int nout, const bnn_act act, const int U,
        const int fwd, const int bwd, const float *p, const int masked,
        const float wv[NT_MAXL][NT_MAXW][NT_MAXW], const float wf[NT_MAXL][NT_MAXW][NT_MAXW],
        const float bf[NT_MAXL][NT_MAXW], V gw[NT_MAXL][NT_MAXW][NT_MAXW],
        V gb[NT_MAXL][NT_MAXW], V *sse, V oscale, const int hs1, V hs, const float *valid,
        nt_state *nx, nt_state *pv)
{
    const int ld = nin + nout;
    V y[NT_MAXW][NT_U];
    if (fwd) {
        NT_UNROLL
        for (int u = 0; u < U; u++) {
            const float *q = p + (size_t)u * VLEN * (size_t)ld;
            NT_UNROLL
            for (int k = 0; k < nin; k++)
                nx->a[0][k][u] = VDEINT(q, ld, k);
            NT_UNROLL
            for (int k = 0; k < nout; k++)
                y[k][u] = VDEINT(q, ld, nin + k);
        }
    }
    NT_UNROLL
    for (int l = 0; l < L; l++) {
        const int lb = L - 1 - l;
        NT_UNROLL
        for (int u = 0; u < U; u++) {
            if (fwd)
                nt_fwd_u(l, u, nin, H, L, nout, act, wf, bf, nx);
            if (fwd && bwd) {
                nt_grad_u(lb, u, nin, H, L, nout, gw, gb, pv);
                nt_delta_u(lb, u, nin, H, L, nout, act, wv, hs1, hs, pv);
            }
        }
        /* a backward alone: every gradient term of the layer, then the deltas, as one block at
         * a time always ran (measured: AVX2 W3 1.4% faster than vector by vector) */
        NT_UNROLL
        for (int u = 0; u < U; u++)
            if (!fwd && bwd)
                nt_grad_u(lb, u, nin, H, L, nout, gw, gb, pv);
        NT_UNROLL
        for (int u = 0; u < U; u++)
            if (!fwd && bwd)
                nt_delta_u(lb, u, nin, H, L, nout, act, wv, hs1, hs, pv);
    }
    if (!fwd)
        return;
    NT_UNROLL
    for (int j = 0; j < nout; j++) {
        NT_UNROLL
        for (int u = 0; u < U; u++) {
            V diff = VSUB(nx->a[L][j][u], y[j][u]);
            if (masked)
                diff = VMUL(diff, VLOAD(valid + (size_t)u * VLEN));
            *sse = VFMA(diff, diff, *sse);
            nx->d[j][u] = VMUL(VMUL(oscale, diff), narrow_slope(act, nx->a[L][j][u]));
        }
    }
}

/* nt_step's arguments but the varying ones (fwd, bwd, p, masked, valid, nx, pv) */
#define NT_STEP(FWD, BWD, P, MASKED, VALID, NX, PV)                                            \
    nt_step(L, nin, H, nout, act, G, FWD, BWD, P, MASKED, wv, wf, bf, gw, gb, &sse, oscale,   \
            hs1, hs, VALID, NX, PV)

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
    /* the full blocks of G vectors, block i at rows + i * BG: two in flight, the states
     * alternating between s0 and s1 (the loop body is two steps, so no state is copied) */
    const size_t BG = (size_t)G * VLEN * (size_t)ld, nb = ns / BS * (size_t)(U / G);
    nt_state s0, s1;
    size_t i = 1;
    if (!NT_PIPE(L)) {
        for (i = 0; i < nb; i++) {
            NT_STEP(1, 0, rows + i * BG, 0, NULL, &s0, &s1);
            NT_STEP(0, 1, NULL, 0, NULL, &s1, &s0);
        }
    } else if (nb > 0) {
        NT_STEP(1, 0, rows, 0, NULL, &s0, &s1);
        for (; i + 1 < nb; i += 2) {
            NT_STEP(1, 1, rows + i * BG, 0, NULL, &s1, &s0);
            NT_STEP(1, 1, rows + (i + 1) * BG, 0, NULL, &s0, &s1);
        }
        if (i < nb) {
            NT_STEP(1, 1, rows + i * BG, 0, NULL, &s1, &s0);
            NT_STEP(0, 1, NULL, 0, NULL, &s0, &s1);
        } else {
            NT_STEP(0, 1, NULL, 0, NULL, &s1, &s0);
        }
    }
    const size_t s = ns / BS * BS;
    if (s < ns) {
        /* the last partial block, zero-padded, the padding lanes masked */
        _Alignas(64) float tail[NT_U * VLEN * (NT_MAXW + 2)];
        _Alignas(64) float valid[NT_U * VLEN];
        const size_t cnt = ns - s;
        for (size_t t = 0; t < BS * (size_t)ld; t++)
            tail[t] = t < cnt * (size_t)ld ? rows[s * (size_t)ld + t] : 0.0f;
        for (size_t t = 0; t < BS; t++)
            valid[t] = t < cnt ? 1.0f : 0.0f;
        for (int g = 0; g < U; g += G) {
            NT_STEP(1, 0, tail + (size_t)g * VLEN * (size_t)ld, 1, valid + (size_t)g * VLEN,
                    &s0, &s1);
            NT_STEP(0, 1, NULL, 0, NULL, &s1, &s0);
        }
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
#undef NT_STEP

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
