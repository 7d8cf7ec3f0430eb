/*
 * split.c - the fast engine's split mode: the gradient of one mini-batch spread over the
 * threads without gradient partials (fast.c calls it for the GEMM path's batches of at most
 * split.max samples; split.h is what the two files share).
 *
 * Mini-batches (split mode): on the GEMM path a batch of at most split.max samples (4096, less
 * for nets whose whole-batch workspace would pass BNN_FAST_WORKSPACE_MAX) is not cut into
 * shards (each would need a parameter-sized partial) but split by neurons: the output rows of
 * each weight matrix W_l (rows of W_l, dW_l, b_l, db_l and their optimizer state) are cut into
 * B_l row blocks, B_l = out_l / 64 clamped to 1..8, boundaries in multiples of 16 rows
 * (part_begin). The rule reads the architecture only, never the thread count or a timing:
 * blocks of at least 64 rows keep sgemm's register tiles full and repay packing A_{l-1} once
 * per block; at most 8 bound the D_{l-1} partials (8 x in x batch floats) and the packing.
 * (W5, 784,256,10: 4 blocks of 64 rows in layer 0, 1 block in layer 1.)
 *   forward   Z_l[rows] = W_l[rows] A_{l-1}, then bias and act: one sgemm per block over the
 *             whole batch (A_{l-1} is activation-sized: width x batch)
 *   loss      the output delta and loss by column pieces (count / 32, at most 4), the
 *             pieces' losses summed in piece order
 *   backward  dW_l[rows] = D_l[rows] A_{l-1}^T and db_l[rows]: one sgemm per block over the
 *             whole batch, written once (no partials); D_{l-1} = (W_l^T D_l) act' is the sum
 *             over blocks of W_l[rows]^T D_l[rows], activation-sized partials (in x batch per
 *             block) that the owners of layer l-1's rows add in block order 0, 1, .., B_l - 1
 *             (a fixed order) before act' (a layer of one block writes D_{l-1} directly).
 * Thread t of a team of T owns blocks [B t / T, B (t + 1) / T) of every layer: contiguous, the
 * same rows every batch, so its rows of W, dW and the optimizer state stay in its cache; a
 * barrier follows each layer. With bnn_fast_step the optimizer runs inside the team on each
 * owned block right after its gradient (bnn_split_step: the step's coefficients computed once,
 * the element-wise kernel on sub-ranges, bitwise the step on the whole vector), so no
 * parameter-sized buffer moves between cores per batch. Every sgemm's operands are fixed by
 * the batch size and the architecture (OpenBLAS on a block of C is not bitwise the same as on
 * all of C), and every sum has a fixed order, so the result is bitwise the same for any
 * --threads; one thread runs the blocks in turn. Models differ in their last bits from the
 * earlier column-piece split (changed once, on purpose). An explicit chunk
 * (bnn_fast_opts.chunk, the tests of the chunked path) turns split mode off. A batch too
 * small to repay waking the team runs on the calling thread (a fixed rule on its FLOP count);
 * above it, since on a machine loaded beyond its cores a descheduled thread stalls the others
 * at every barrier, one call alone and one with the team are timed back to back every 50 ms
 * to 1 s and the faster runs until the next pair (pick_team; the same result either way).
 * Under mpirun every rank computes the whole batch: fast.c sends only batches too small for 2
 * pieces here (piece_count); larger ones are cut into pieces the ranks share.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "split.h"

/* Split mode (see the top of the file): a batch's columns in at most SPLIT_PARTS pieces of at
 * least SPLIT_MIN_COLS samples (inputs, loss), each layer in 1..SPLIT_BLOCKS row blocks of at
 * least SPLIT_MIN_ROWS rows, a batch of at most SPLIT_MAX samples. */
#define SPLIT_PARTS 4
#define SPLIT_MIN_COLS 32
#define SPLIT_MIN_ROWS 64
#define SPLIT_BLOCKS 8
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

/* Row blocks of layer l (rows of W_l: its outputs): blocks of at least SPLIT_MIN_ROWS rows,
 * at most SPLIT_BLOCKS, from the architecture only (see the top of the file). */
static int blocks_of(const bnn_arch *a, int l)
{
    const size_t out = (size_t)a->width[l + 1];
    const size_t b = out / SPLIT_MIN_ROWS;
    return b < 1 ? 1 : b > SPLIT_BLOCKS ? SPLIT_BLOCKS : (int)b;
}

/* Floats of one set of D_{l-1} partials: the largest over layers with several blocks of
 * blocks x in x count (each block rounded to 16 floats); 0 when no layer has two blocks. */
static size_t partial_floats(const bnn_arch *a, size_t count)
{
    size_t most = 0;
    for (int l = 1; l < a->nlayers; l++) {
        const int b = blocks_of(a, l);
        const size_t p = b > 1 ? mul_sat((size_t)b, round16_sat(mul_sat((size_t)a->width[l],
                                                                          count)))
                               : 0;
        most = p > most ? p : most;
    }
    return most;
}

/* Floats of the whole-batch workspace of `count` samples, as split_reserve allocates it: A_l
 * (each rounded to 16 floats), two delta buffers, two sets of partials, the input and target
 * buffers. */
static size_t split_floats(const bnn_arch *a, size_t count)
{
    return add_sat(bnn_fast_workspace_floats(a, count), mul_sat(2, partial_floats(a, count)));
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
    bnn_free(s->part);
    bnn_free(s->xbuf);
    bnn_free(s->ybuf);
    s->acts = s->delta = s->part = s->xbuf = s->ybuf = NULL;
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
    s->part_floats = partial_floats(a, count);
    s->part = bnn_alloc(s->part_floats ? 2 * s->part_floats : 1, sizeof(float));
    s->xbuf = bnn_alloc(((size_t)a->width[0] + (size_t)a->width[a->nlayers]) * count,
                        sizeof(float));
    s->ybuf = bnn_alloc((size_t)a->width[a->nlayers] * count, sizeof(float));
    if (!s->acts || !s->delta || !s->part || !s->xbuf || !s->ybuf) {
        split_release(s);
        return bnn_fail(e, "fast engine: cannot allocate the workspace of a batch of %zu "
                           "samples", count);
    }
    s->cap = count;
    return 0;
}

/* The blocks [*b0, *b1) of `blocks` that thread t of `team` owns: contiguous ranges, so a
 * thread owns the same rows every batch (its cache, its first touch). */
static void owned(int blocks, int team, int t, int *b0, int *b1)
{
    *b0 = (int)((long)blocks * t / team);
    *b1 = (int)((long)blocks * (t + 1) / team);
}

/* One batch's fixed facts, shared by the team. */
typedef struct batch {
    bnn_split *s;
    const float *theta;
    float *grad;
    size_t count;
    float hidden_scale;
    const float *X; /* the inputs, one matrix of ld ldX */
    size_t ldX;
    float *dbuf[2];
    bnn_split_step *step; /* NULL: the gradient only */
} batch;

/* Forward of rows r0..r1 of layer l over the whole batch: Z_l[rows] = W_l[rows] A_{l-1},
 * then the bias and activation. */
static void forward_rows(const batch *b, int l, size_t r0, size_t r1)
{
    const bnn_split *s = b->s;
    const bnn_arch *a = &s->arch;
    const int in = (int)a->width[l], out = (int)a->width[l + 1];
    const float *prev = l > 0 ? s->acts + s->off[l] : b->X;
    const int ldprev = l > 0 ? in : (int)b->ldX;
    const size_t boff = bnn_arch_bias_offset(a, l);
    float *Z = s->acts + s->off[l + 1] + r0;
    /* Z[r0:r1, :] (col-major, ld out) = W[r0:r1, :] (row-major: col-major in x rows, T) prev */
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)(r1 - r0), (int)b->count, in,
                1.0f, b->theta + bnn_arch_weight_offset(a, l) + r0 * (size_t)in, in, prev,
                ldprev, 0.0f, Z, out);
    s->k->bias_act(Z, (size_t)out, r1 - r0, b->count,
                   boff == (size_t)-1 ? NULL : b->theta + boff + r0, a->act[l]);
}

/* Rows r0..r1 of layer l's delta D_l (l < m-1), from layer l+1's partials: their sum in block
 * order (when it has several blocks; else they are in D already), then act'. */
static void finish_rows(const batch *b, int l, const float *part, float *D, size_t r0,
                        size_t r1)
{
    const bnn_split *s = b->s;
    const bnn_arch *a = &s->arch;
    const size_t out = (size_t)a->width[l + 1];
    const int nb = blocks_of(a, l + 1);
    const size_t pstride = round_up16(out * b->count);
    if (nb > 1)
        for (size_t j = 0; j < b->count; j++) {
            float *dst = D + j * out;
            const float *p0 = part + j * out;
            for (size_t r = r0; r < r1; r++)
                dst[r] = p0[r];
            for (int q = 1; q < nb; q++) {
                const float *pq = part + (size_t)q * pstride + j * out;
                for (size_t r = r0; r < r1; r++)
                    dst[r] += pq[r];
            }
        }
    s->k->act_backward(D + r0, out, s->acts + s->off[l + 1] + r0, out, r1 - r0, b->count,
                       b->hidden_scale, a->act[l]);
}

/* The optimizer step on parameters i..i+n: 1 when they are all finite. */
static int step_range(const batch *b, size_t i, size_t n)
{
    const bnn_split_step *st = b->step;
    return bnn_optim_step_range(st->st, st->coef, b->theta, b->grad, st->next, i, n);
}

/* Backward of rows r0..r1 (block q) of layer l: dW_l[rows] = D[rows] A_{l-1}^T and db_l[rows]
 * over the whole batch (written once), the step on those parameters when fused, and for
 * l > 0 this block's share of W_l^T D: into Dprev when the layer is one block, else into
 * partial q. Returns 0 when a new parameter is not finite. */
static int backward_rows(const batch *b, int l, const float *D, float *Dprev, float *part,
                         int q, size_t r0, size_t r1)
{
    const bnn_split *s = b->s;
    const bnn_arch *a = &s->arch;
    const int in = (int)a->width[l], out = (int)a->width[l + 1];
    const int rows = (int)(r1 - r0), ns = (int)b->count;
    const float *Aprev = l > 0 ? s->acts + s->off[l] : b->X;
    const int ldA = l > 0 ? in : (int)b->ldX;
    const size_t woff = bnn_arch_weight_offset(a, l), boff = bnn_arch_bias_offset(a, l);
    /* dW^T[:, r0:r1] (col-major in x out, ld in) = Aprev (in x ns) D[r0:r1, :]^T */
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, in, rows, ns, 1.0f, Aprev, ldA,
                D + r0, out, 0.0f, b->grad + woff + r0 * (size_t)in, in);
    if (boff != (size_t)-1) {
        memset(b->grad + boff + r0, 0, (r1 - r0) * sizeof(float));
        s->k->row_sums_add(b->grad + boff + r0, D + r0, (size_t)out, r1 - r0, b->count);
    }
    if (l > 0) {
        const int one = blocks_of(a, l) == 1;
        float *P = one ? Dprev : part + (size_t)q * round_up16((size_t)in * b->count);
        /* P (in x ns) = W[r0:r1, :]^T (col-major in x rows) D[r0:r1, :] */
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, in, ns, rows, 1.0f,
                    b->theta + woff + r0 * (size_t)in, in, D + r0, out, 0.0f, P, in);
    }
    int ok = 1;
    if (b->step && b->step->apply) {
        ok &= step_range(b, woff + r0 * (size_t)in, (r1 - r0) * (size_t)in);
        if (boff != (size_t)-1)
            ok &= step_range(b, boff + r0, r1 - r0);
    }
    return ok;
}

/* The inputs and the forward pass of the batch: pieces of columns loaded by any thread, then
 * each layer by the row blocks this thread owns, a barrier after each. */
static void forward_team(batch *b, int tid, int team)
{
    const bnn_arch *a = &b->s->arch;
    for (int l = 0; l < a->nlayers; l++) {
        const int nb = blocks_of(a, l);
        const size_t out = (size_t)a->width[l + 1];
        int q0, q1;
        owned(nb, team, tid, &q0, &q1);
        for (int q = q0; q < q1; q++)
            forward_rows(b, l, part_begin(out, nb, q), part_begin(out, nb, q + 1));
#pragma omp barrier
    }
}

/* The backward pass (and the fused step) by owned row blocks, layer m-1 down to 0; a barrier
 * after each layer whose partials the next one reads. Returns 0 when a new parameter of this
 * thread's is not finite. */
static int backward_team(batch *b, int tid, int team)
{
    const bnn_arch *a = &b->s->arch;
    const int m = a->nlayers;
    int ok = 1;
    for (int l = m - 1; l >= 0; l--) {
        const int nb = blocks_of(a, l);
        const size_t out = (size_t)a->width[l + 1];
        float *D = b->dbuf[(m - 1 - l) & 1], *Dprev = b->dbuf[(m - l) & 1];
        /* layer l writes partial set (m - l) & 1, layer l + 1 wrote the other one */
        float *part = b->s->part + (size_t)((m - l) & 1) * b->s->part_floats;
        const float *above = b->s->part + (size_t)((m - 1 - l) & 1) * b->s->part_floats;
        int q0, q1;
        owned(nb, team, tid, &q0, &q1);
        for (int q = q0; q < q1; q++) {
            const size_t r0 = part_begin(out, nb, q), r1 = part_begin(out, nb, q + 1);
            if (l < m - 1)
                finish_rows(b, l, above, D, r0, r1);
            ok &= backward_rows(b, l, D, Dprev, part, q, r0, r1);
        }
        if (l > 0) {
#pragma omp barrier
        }
    }
    return ok;
}

/* Gradient of one batch in split mode (the rules at the top of the file): the inputs by column
 * pieces, forward by row blocks, the output delta and loss by column pieces, backward by row
 * blocks; with a step, the optimizer on each owned block right after its gradient. */
int bnn_split_grad(bnn_split *s, const float *theta, const bnn_data *d, size_t start,
                   size_t count, float out_scale, float hidden_scale, float *grad,
                   double *cost, double *correct, bnn_error *e)
{
    if (split_reserve(s, count, e) != 0)
        return -1;
    const bnn_kernel_table *k = s->k;
    const bnn_arch *a = &s->arch;
    const int m = a->nlayers;
    const size_t nin = (size_t)a->width[0], nout = (size_t)a->width[m];
    const int pieces = part_count(count, SPLIT_MIN_COLS);
    int most = pieces;
    for (int l = 0; l < m; l++)
        most = blocks_of(a, l) > most ? blocks_of(a, l) : most;
    const int full = s->threads < most ? s->threads : most;
    const int timed = full > 1 && s->flops * (double)count >= TEAM_MIN_FLOP;
    const int team = timed && pick_team(&s->clock) ? full : 1;
    const double t0 = timed ? now_seconds() : 0.0;
    batch b = {.s = s, .theta = theta, .grad = grad, .count = count,
               .hidden_scale = hidden_scale, .step = s->step,
               .dbuf = {s->delta, s->delta + round_up16(s->maxw * count)}};
    double sse[SPLIT_PARTS] = {0}, good[SPLIT_PARTS] = {0};
    const float *base[SPLIT_PARTS] = {0}; /* each piece's inputs, less c0 columns */
    size_t ldx[SPLIT_PARTS] = {0};
    bnn_chunk chunks[SPLIT_PARTS]; /* each piece's inputs and targets */
    int failed = 0, ok = 1;
    bnn_error first_err = {{0}};

#pragma omp parallel num_threads(team) if (team > 1) reduction(& : ok)
    {
        const unsigned int saved_csr = worker_enter();
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp for schedule(static)
        for (int p = 0; p < pieces; p++) {
            const size_t c0 = part_begin(count, pieces, p);
            const size_t ns = part_begin(count, pieces, p + 1) - c0;
            bnn_chunk c;
            bnn_error err;
            if (bnn_data_chunk(d, start + c0, ns, s->xbuf + c0 * (nin + nout),
                               s->ybuf + c0 * nout, &c, &err) != 0) {
                note_error(&failed, &first_err, &err);
                continue;
            }
            base[p] = c.x - c0 * c.ldx;
            ldx[p] = c.ldx;
            chunks[p] = c;
        }
        /* the forward pass reads the batch's inputs as one matrix: every piece lies at the
         * same base, c0 columns of the same ld on (in place, or in xbuf). A mismatch is a
         * bug, reported below. */
        int whole = !failed;
        for (int p = 1; p < pieces && whole; p++)
            whole = base[p] == base[0] && ldx[p] == ldx[0];
        if (whole) {
#pragma omp single
            {
                b.X = base[0];
                b.ldX = ldx[0];
            }
            forward_team(&b, tid, nt);
#pragma omp for schedule(static)
            for (int p = 0; p < pieces; p++) {
                const size_t c0 = part_begin(count, pieces, p);
                sse[p] = bnn_fast_loss_piece(a, s->loss, k, b.dbuf[0] + c0 * nout,
                                             s->acts + s->off[m] + c0 * nout, &chunks[p],
                                             out_scale, &good[p]);
            }
            double total = 0.0;
            for (int p = 0; p < pieces; p++)
                total += sse[p];
            /* a non-finite loss: no step (training stops before any update) */
            if (b.step && tid == 0)
                b.step->apply = isfinite(total);
#pragma omp barrier
            if (!failed)
                ok &= backward_team(&b, tid, nt);
        }
        worker_leave(saved_csr);
    }
    /* every rank computes the whole batch (see the top of the file); they agree on errors */
    failed = bnn_dist_agree(failed, &first_err) != 0;
    if (job_result(failed, &first_err, e) != 0)
        return -1;
    if (timed)
        team_timed(&s->clock, team > 1, now_seconds() - t0, count);
    for (int p = 1; p < pieces; p++)
        if (base[p] != base[0] || ldx[p] != ldx[0])
            return bnn_fail(e, "fast engine: internal error: the inputs of a batch are not "
                               "one matrix");
    if (b.step) {
        b.step->used = 1;
        b.step->ok = ok != 0;
    }
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
