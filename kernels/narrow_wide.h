/*
 * narrow_wide.h - the narrow path's layer-wise kernel (nw_*), part of narrow_impl.h and
 * included by it only (after its helpers narrow_fold, narrow_act, narrow_slope,
 * narrow_hscale, narrow_transpose and the vector macros): see the contract below.
 */

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
 * mask macros (VMASK, VMASK_NONE, VMASK_OR: AVX2), with bnn_sigmoid2_fast (sigmoid_simd.h),
 * the fast half of VSIGMOID2. */
#if defined(VMASK_OR) && NARROW_FOLD
#define NW_SIG2_TILE 1
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
                       bnn_sigmoid2_fast(z[j][u]));
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

