/*
 * split.c - the fast engine's split mode: the gradient of one mini-batch spread over the
 * threads without gradient partials (fast.c calls it for the GEMM path's batches of at most
 * split.max samples; split.h is what the two files share).
 *
 * Mini-batches (split mode): on the GEMM path a batch of at most split_max samples (4096, less
 * for nets whose whole-batch workspace would pass BNN_FAST_WORKSPACE_MAX) is not cut into
 * shards but spread over the threads without any cross-thread sum, so that a batch of 64 or
 * 256 samples uses every core and needs no partials (no zeroing, no reduction, the gradient
 * written once). Phase 1 cuts the batch's columns into P pieces (P = count / 32, at most 4):
 * each piece goes forward through every layer and gets its output delta and loss. Then, for
 * each layer l = m-1..0, one phase computes dW_l = D_l A_{l-1}^T as a sum over the whole
 * batch (K = count) in T_l row tiles of dW_l^T (the larger of its two dimensions cut in
 * blocks of at least 32 rows, at most 4 tiles, boundaries in multiples of 16; db_l with the
 * first tile of each column block), and D_{l-1} = (W_l^T D_l) act' by the same P column
 * pieces. Each tile and piece is one sgemm call on operands fixed by the batch size and the
 * architecture, writing its own block of the result; threads take them in any order (one
 * thread takes them all in turn) with a barrier between phases. OpenBLAS on a block of C is
 * not bitwise the same as on all of C, which is why the blocks depend on (count, arch) only,
 * never on the thread count. The losses of the pieces are summed in piece order. An explicit
 * chunk (bnn_fast_opts.chunk, the tests of the chunked path) turns split mode off. Each phase
 * ends in a barrier, so a batch too small to repay waking the team runs on the calling thread
 * (a fixed rule on its FLOP count); above it, since on a machine loaded beyond its cores a
 * descheduled thread stalls the others at every barrier, one call alone and one with the team
 * are timed back to back every 50 ms to 1 s and the faster runs until the next pair (pick_team;
 * the same result either way; also for narrow batches of at most 4 shards).
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "split.h"

/* Split mode (mini-batches, see the top of the file): a batch's columns in at most
 * SPLIT_PARTS pieces of at least SPLIT_MIN_COLS samples, each weight gradient in at most
 * SPLIT_PARTS tiles of at least SPLIT_MIN_ROWS rows, a batch of at most SPLIT_MAX samples. */
#define SPLIT_PARTS 4
#define SPLIT_MIN_COLS 32
#define SPLIT_MIN_ROWS 32
#define SPLIT_MAX 4096

/* Start of part i of `parts` over total items, in whole blocks of 16 when every part can get
 * one (sgemm's kernels then see the same edges in every part); part `parts` is the end. */
static size_t part_begin(size_t total, int parts, int i)
{
    if (i >= parts)
        return total;
    if (total >= (size_t)parts * 16)
        return (total / 16) * (size_t)i / (size_t)parts * 16;
    return total * (size_t)i / (size_t)parts;
}

static int part_count(size_t total, size_t min_size)
{
    size_t p = total / min_size;
    return p < 1 ? 1 : p > SPLIT_PARTS ? SPLIT_PARTS : (int)p;
}

/* Floats of the whole-batch workspace of `count` samples (as fast.c's workspace_floats):
 * A_l (each rounded to 16 floats), two delta buffers, the input and target buffers. */
static size_t split_floats(const bnn_arch *a, size_t count)
{
    size_t total = 0;
    for (int l = 1; l <= a->nlayers; l++)
        total = add_sat(total, round16_sat(mul_sat((size_t)a->width[l], count)));
    const size_t maxw = (size_t)bnn_arch_max_width(a);
    total = add_sat(total, mul_sat(2, round16_sat(mul_sat(maxw, count))));
    total = add_sat(total, mul_sat((size_t)a->width[0], count));
    return add_sat(total, mul_sat((size_t)a->width[a->nlayers], count));
}

void bnn_split_plan(bnn_split *s, const bnn_arch *a, int loss, int threads, double flops,
                    const bnn_kernel_table *k, int on)
{
    memset(s, 0, sizeof *s);
    s->arch = *a;
    s->loss = loss;
    s->threads = threads;
    s->maxw = (size_t)bnn_arch_max_width(a);
    s->flops = flops;
    s->k = k;
    /* the batches whose whole workspace fits the bound */
    if (on) {
        const size_t limit = BNN_FAST_WORKSPACE_MAX / sizeof(float);
        size_t c = SPLIT_MAX;
        while (c > 0 && split_floats(a, c) > limit)
            c = c > 64 ? c - c / 16 : c - 1;
        s->max = c;
    }
}

static void split_release(bnn_split *s)
{
    bnn_free(s->acts);
    bnn_free(s->delta);
    bnn_free(s->xbuf);
    bnn_free(s->ybuf);
    s->acts = s->delta = s->xbuf = s->ybuf = NULL;
    s->cap = 0;
}

void bnn_split_free(bnn_split *s)
{
    split_release(s);
}

/* The whole-batch workspace, grown to `count` samples when needed: 0 or -1. */
static int split_reserve(bnn_split *s, size_t count, bnn_error *e)
{
    if (s->cap >= count)
        return 0;
    const bnn_arch *a = &s->arch;
    split_release(s);
    size_t total = 0;
    for (int l = 1; l <= a->nlayers; l++) {
        s->off[l] = total;
        total += round_up16((size_t)a->width[l] * count);
    }
    s->acts = bnn_alloc(total, sizeof(float));
    s->delta = bnn_alloc(2 * round_up16(s->maxw * count), sizeof(float));
    s->xbuf = bnn_alloc(((size_t)a->width[0] + (size_t)a->width[a->nlayers]) * count,
                        sizeof(float));
    s->ybuf = bnn_alloc((size_t)a->width[a->nlayers] * count, sizeof(float));
    if (!s->acts || !s->delta || !s->xbuf || !s->ybuf) {
        split_release(s);
        return bnn_fail(e, "fast engine: cannot allocate the workspace of a batch of %zu "
                           "samples", count);
    }
    s->cap = count;
    return 0;
}
/* One weight gradient's tiling: the larger of its two dimensions (dW^T is in x out) cut in
 * row blocks, so the operand packed again by every tile is the smaller one. */
typedef struct tiling {
    int parts;
    int by_in; /* 1: blocks of inputs (rows of dW^T), 0: blocks of outputs */
    size_t dim;
} tiling;

static tiling tiling_of(const bnn_arch *a, int l)
{
    tiling t;
    const size_t in = (size_t)a->width[l], out = (size_t)a->width[l + 1];
    t.by_in = in > out;
    t.dim = t.by_in ? in : out;
    t.parts = part_count(t.dim, SPLIT_MIN_ROWS);
    return t;
}



/* Gradient of one batch in split mode. Phase 1, by column pieces: the inputs, forward through
 * every layer, the output delta and loss. Then per layer l = m-1..0, one phase: the tiles of
 * dW_l = D_l A_{l-1}^T (each a sum over the whole batch, written once: no partials) and db_l,
 * and by column pieces D_{l-1} = (W_l^T D_l) act'. Every piece and tile is fixed by the batch
 * size and the architecture; any thread may run any of them. */
int bnn_split_grad(bnn_split *f, const float *theta, const bnn_data *d, size_t start,
                   size_t count, float out_scale, float hidden_scale, float *grad,
                   double *cost, double *correct, bnn_error *e)
{
    if (split_reserve(f, count, e) != 0)
        return -1;
    const bnn_kernel_table *k = f->k;
    const bnn_arch *a = &f->arch;
    const int m = a->nlayers;
    const size_t nin = (size_t)a->width[0], nout = (size_t)a->width[m];
    bnn_split *w = f;
    const int pieces = part_count(count, SPLIT_MIN_COLS);
    int most = pieces;
    for (int l = 0; l < m; l++) {
        const int tasks = tiling_of(a, l).parts + (l > 0 ? pieces : 0);
        if (tasks > most)
            most = tasks;
    }
    const int full = f->threads < most ? f->threads : most;
    const int timed = full > 1 && f->flops * (double)count >= TEAM_MIN_FLOP;
    const int team = timed && pick_team(&f->clock) ? full : 1;
    const double t0 = timed ? now_seconds() : 0.0;
    float *const dbuf[2] = {w->delta, w->delta + round_up16((size_t)f->maxw * count)};
    double sse[SPLIT_PARTS] = {0}, good[SPLIT_PARTS] = {0};
    const float *base[SPLIT_PARTS] = {0}; /* each piece's inputs, less c0 columns */
    size_t ldx[SPLIT_PARTS] = {0};
    int failed = 0;
    bnn_error first_err = {{0}};

#pragma omp parallel num_threads(team) if (team > 1)
    {
        const unsigned int saved_csr = worker_enter();
#pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < pieces; p++) {
            const size_t c0 = part_begin(count, pieces, p), ns = part_begin(count, pieces, p + 1) - c0;
            bnn_chunk c;
            bnn_error err;
            int rc = bnn_data_chunk(d, start + c0, ns, w->xbuf + c0 * (nin + nout),
                                    w->ybuf + c0 * nout,
                                    &c, &err);
            if (rc == 0) {
                base[p] = c.x - c0 * c.ldx;
                ldx[p] = c.ldx;
            }
            if (rc != 0) {
                note_error(&failed, &first_err, &err);
                continue;
            }
            const float *prev = c.x;
            int ldprev = (int)c.ldx;
            for (int l = 0; l < m; l++) {
                const int in = (int)a->width[l], out = (int)a->width[l + 1];
                const size_t boff = bnn_arch_bias_offset(a, l);
                float *Z = w->acts + f->off[l + 1] + c0 * (size_t)out;
                cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, out, (int)ns, in, 1.0f,
                            theta + bnn_arch_weight_offset(a, l), in, prev, ldprev, 0.0f, Z,
                            out);
                k->bias_act(Z, (size_t)out, (size_t)out, ns,
                            boff == (size_t)-1 ? NULL : theta + boff, a->act[l]);
                prev = Z;
                ldprev = out;
            }
            sse[p] = bnn_fast_loss_piece(a, f->loss, k, dbuf[0] + c0 * nout, prev, &c,
                                         out_scale, &good[p]);
        }
        /* dW_0's tiles read the batch's inputs as one matrix: every piece lies at the same
         * base, c0 columns of the same ld on (in place, or in xbuf). Each thread checks (no
         * barrier: nothing writes base[] any more); a mismatch is a bug, reported below. */
        int whole = !failed;
        for (int p = 1; p < pieces && whole; p++)
            whole = base[p] == base[0] && ldx[p] == ldx[0];
        const float *const X = base[0];
        const size_t ldX = ldx[0];
        for (int l = m - 1; l >= 0 && whole; l--) {
            const tiling t = tiling_of(a, l);
            const int in = (int)a->width[l], out = (int)a->width[l + 1];
            const float *D = dbuf[(m - 1 - l) & 1];
            float *Dprev = dbuf[(m - l) & 1];
            const float *Aprev = l > 0 ? w->acts + f->off[l] : X;
            const int ldA = l > 0 ? in : (int)ldX;
            const float *W = theta + bnn_arch_weight_offset(a, l);
            float *dW = grad + bnn_arch_weight_offset(a, l);
            const size_t boff = bnn_arch_bias_offset(a, l);
            const int tasks = t.parts + (l > 0 ? pieces : 0);
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < tasks; i++) {
                if (i < t.parts) {
                    const size_t r0 = part_begin(t.dim, t.parts, i);
                    const size_t r1 = part_begin(t.dim, t.parts, i + 1);
                    const size_t i0 = t.by_in ? r0 : 0, i1 = t.by_in ? r1 : (size_t)in;
                    const size_t j0 = t.by_in ? 0 : r0, j1 = t.by_in ? (size_t)out : r1;
                    /* dW^T[i0:i1, j0:j1] (col-major, ld in) = Aprev[i0:i1, :] D[j0:j1, :]^T */
                    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)(i1 - i0),
                                (int)(j1 - j0), (int)count, 1.0f, Aprev + i0, ldA, D + j0,
                                out, 0.0f, dW + i0 + j0 * (size_t)in, in);
                    if (boff != (size_t)-1 && i0 == 0) {
                        memset(grad + boff + j0, 0, (j1 - j0) * sizeof(float));
                        k->row_sums_add(grad + boff + j0, D + j0, (size_t)out, j1 - j0, count);
                    }
                } else {
                    const int p = i - t.parts;
                    const size_t c0 = part_begin(count, pieces, p);
                    const size_t ns = part_begin(count, pieces, p + 1) - c0;
                    float *Dp = Dprev + c0 * (size_t)in;
                    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, in, (int)ns, out,
                                1.0f, W, in, D + c0 * (size_t)out, out, 0.0f, Dp, in);
                    k->act_backward(Dp, (size_t)in, Aprev + c0 * (size_t)in, (size_t)in,
                                    (size_t)in, ns, hidden_scale, a->act[l - 1]);
                }
            }
        }
        worker_leave(saved_csr);
    }
    /* every rank computes the whole batch (see the top of the file); they agree on errors */
    failed = bnn_dist_agree(failed, &first_err) != 0;
    if (job_result(failed, &first_err, e) != 0)
        return -1;
    if (timed)
        team_timed(&f->clock, team > 1, now_seconds() - t0, count);
    for (int p = 1; p < pieces; p++)
        if (base[p] != base[0] || ldx[p] != ldx[0])
            return bnn_fail(e, "fast engine: internal error: the inputs of a batch are not "
                               "one matrix");
    double total = 0.0, right = 0.0;
    for (int p = 0; p < pieces; p++) {
        total += sse[p];
        right += good[p];
    }
    if (cost)
        *cost = total / (double)count;
    if (correct)
        *correct = right;
    return 0;
}

