/*
 * fast.c - the fast engine: float32, samples in fixed-size chunks laid out as column-major
 * batch matrices, layer products through OpenBLAS sgemm, element-wise work in kernels/.
 *
 * Shapes (per chunk of ns samples; in = width[l], out = width[l+1]):
 *   A_0 = X             nin x ns   (points into the data when it is float32, ld = row length)
 *   Z_l = W_l A_{l-1}   out x ns   W_l is [out x in] row-major = (in x out) column-major
 *   A_l = act(Z_l + b_l)           kept for backward: memory O(chunk x sum of widths)
 *   D_m = scale (A_m - Y) act'(A_m)                         scale = 2 / n
 *   dW_l += D_l A_{l-1}^T,  db_l += rowsum(D_l)
 *   D_{l-1} = (W_l^T D_l) act'(A_{l-1})     (times 2 per layer in the notes' seed mode)
 *
 * Parallelism and determinism: the samples of one call are cut into S shards of min_shard
 * samples (shard_count: S = ceil(count / min_shard), min_shard about 4 MFLOP of work and at
 * least a chunk, from the widths only; past 32 shards, max(32, ceil(count / big_shard)),
 * big_shard 4 chunks or a narrow chunk; no cap, so S grows with n and a wide net at n = 8192
 * gets one shard per chunk). Each shard is processed by one thread, chunk after chunk,
 * accumulating into its own gradient partial. The partials are summed along one fixed binary
 * tree over the shard indices (src/dist/tree.h), whoever computed them: a rank's shards
 * (under mpirun rank r owns a contiguous range, src/dist/dist.c) are cut into one contiguous
 * range per thread (equal counts), and each thread folds its partials as its shards finish (a
 * stack of tree nodes: two siblings are added as soon as both exist, like pairwise
 * summation); the threads' remaining nodes are folded on in shard order on the calling thread
 * (reduce_folds) and the ranks exchange theirs along the same tree. So the gradient is bitwise
 * the same for any --threads and any number of ranks, and a worker holds at most
 * bnn_tree_need(S, range) <= 2 log2 S + 1 parameter-sized partials (about log2 S + 2 in
 * practice), never one per shard: memory per thread O(log S). BLAS runs single-threaded inside
 * the parallel region.
 *
 * Work stealing: equal ranges finish together only on equal cores. A core that a neighbour,
 * an interrupt or a slower clock holds back would keep the others waiting at the end of every
 * call (on a shared 2-core VM a thread finished 3-30% of the call before the other). So a
 * worker claims its shards one at a time from a word holding the part of its range not yet
 * taken (claim_word: [next, end), one atomic compare-and-swap a shard), and a worker that has
 * run out lowers the end of the fullest other's claim to its middle and takes the back half,
 * up to STEALS_MAX times a call. A stolen run is contiguous, so it is folded like a range, on
 * a stack of its own (as large as the worker's own: reserve_folds; one such stack for nets
 * whose partials are megabytes, none when the memory limit leaves no room, and then nothing is
 * stolen), and reduce_folds pushes every stack's nodes in shard order: the same tree, the
 * same bits, whoever computed which shard.
 *
 * Mini-batches on the GEMM path: a batch of at most split.max samples and of at least 2
 * pieces (piece_count: at least 256 samples each, from the widths) is cut into pieces
 * computed like shards, so the ranks share it; a smaller one runs in split mode (split.c: the
 * batch spread over the threads by neurons, without partials), computed whole by every rank.
 * On the narrow path a mini-batch is cut into shards as before, of at least NARROW_MIN_SHARD
 * (256) samples and about 1 MFLOP (the partials there are a few thousand floats).
 *
 * Narrow nets (every width <= BNN_NARROW_MAX_WIDTH: the notes' models, 2->16->16->1) take the
 * narrow fused path instead (kernels/narrow_impl.h), one of two kernels: the tiny nets
 * (W1-W3: widths <= 2, or one layer of <= 4 inputs) read rows in place and keep 8 vectors of
 * samples and the whole chunk's gradient in registers, forward and backward in one pass; the
 * wider ones (W4) go layer by layer over sub-chunks of 256 transposed samples with register
 * tiles and weight-gradient tiles kept in registers over the sub-chunk. Either way gradients
 * accumulate lane-wise per shard and are summed over lanes in a fixed order at the shard's
 * end. No sgemm call on tiny matrices. bnn_engine_force_gemm (the command's BATCHNN_PATH=gemm)
 * forces the GEMM path (benchmarks, tests).
 * Both paths use the kernel table in use when the engine is created (bnn_kernels(): one ISA
 * decision per engine; a later bnn_kernels_force affects engines created after it).
 *
 * Chunk size and memory, and the plan bnn_fast_create makes before allocating: fast_plan.c.
 *
 * Worker threads set flush-to-zero and denormals-are-zero while they run (saturated sigmoids
 * otherwise produce subnormal deltas that are ~100x slower on x86) and restore MXCSR after.
 */
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "fast_impl.h"


int bnn_narrow_describe(const bnn_arch *a, bnn_narrow_net *net)
{
    if (a->nlayers > BNN_NARROW_MAX_LAYERS)
        return -1;
    memset(net, 0, sizeof *net);
    net->nlayers = a->nlayers;
    net->nin = (int)a->width[0];
    net->nout = (int)a->width[a->nlayers];
    for (int l = 0; l <= a->nlayers; l++) {
        if (a->width[l] > BNN_NARROW_MAX_WIDTH)
            return -1;
        net->width[l] = (int)a->width[l];
        if (net->width[l] > net->max_width)
            net->max_width = net->width[l];
        if (l >= 1) {
            net->aoff[l] = net->sum_widths;
            net->sum_widths += net->width[l];
        }
    }
    for (int l = 0; l < a->nlayers; l++) {
        net->woff[l] = (long)bnn_arch_weight_offset(a, l);
        size_t b = bnn_arch_bias_offset(a, l);
        net->boff[l] = b == (size_t)-1 ? -1 : (long)b;
        net->act[l] = a->act[l];
    }
    return 0;
}

static void free_workspace(workspace *w)
{
    bnn_free(w->nacc);
    bnn_free(w->nwork);
    bnn_free(w->acts);
    bnn_free(w->delta);
    bnn_free(w->xbuf);
    bnn_free(w->ybuf);
}

void bnn_fast_free(bnn_fast_engine *f)
{
    if (!f)
        return;
    if (f->ws)
        for (int t = 0; t < f->nws; t++)
            free_workspace(&f->ws[t]);
    free(f->ws);
    bnn_split_free(&f->split);
    bnn_free(f->partials);
    bnn_free(f->recv);
    free(f->slot0);
    free(f->depth);
    free(f->scap);
    free(f->sdepth);
    bnn_free(f->claim);
    free(f->stack);
    free(f->merged);
    free(f->vals);
    free(f->bounds);
    free(f);
}

int bnn_fast_create(bnn_fast_engine **out, const bnn_arch *a, const bnn_fast_opts *o, bnn_error *e)
{
    *out = NULL;
    if (bnn_arch_check(a, e) != 0)
        return -1;
    if (o && o->loss != BNN_LOSS_MSE && bnn_loss_check(a, (bnn_loss)o->loss, e) != 0)
        return -1;
    bnn_fast_engine *f = calloc(1, sizeof *f); /* a few KiB: the plan itself */
    if (!f)
        return bnn_fail(e, "fast engine: out of memory");
    bnn_fast_plan(f, a, o);
    /* refuse what cannot fit before asking the kernel for it: with overcommit the
     * allocations would succeed and the process be killed when it touches them */
    const size_t need = bnn_fast_planned_bytes(f, bnn_fast_create_slots(f));
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    if (lim.bytes && need > lim.bytes) {
        char sn[32], sw[32], sp[32], sl[32];
        const int threads = f->threads, nws = f->nws;
        bnn_format_bytes(need, sn, sizeof sn);
        bnn_format_bytes(bnn_fast_workspace_bytes(f), sw, sizeof sw);
        bnn_format_bytes(bnn_fast_partials_bytes(f, bnn_fast_create_slots(f)), sp, sizeof sp);
        bnn_format_bytes(lim.bytes, sl, sizeof sl);
        free(f);
        return bnn_fail(e, "fast engine: needs %s of working memory for %d thread%s (%d x %s "
                           "workspace, %s gradient partials), but this process may use %s "
                           "(%s); use %ssmaller layers", sn, threads, threads == 1 ? "" : "s",
                        nws, sw, sp, sl, lim.what, nws > 1 ? "fewer threads or " : "");
    }
    f->ws = calloc((size_t)f->nws, sizeof *f->ws);
    f->slot0 = calloc((size_t)f->threads + 1, sizeof *f->slot0);
    f->depth = calloc((size_t)f->threads, sizeof *f->depth);
    f->scap = calloc((size_t)f->threads, sizeof *f->scap);
    f->sdepth = calloc((size_t)f->threads * STEALS_MAX, sizeof *f->sdepth);
    f->claim = bnn_alloc((size_t)f->threads, sizeof *f->claim);
    if (!f->ws || !f->slot0 || !f->depth || !f->scap || !f->sdepth || !f->claim)
        goto oom;
    for (int t = 0; t < f->threads; t++)
        atomic_init(&f->claim[t].v, 0);
    atomic_init(&f->settled, 0);
    for (int t = 0; t < f->nws; t++) {
        workspace *w = &f->ws[t];
        w->acts = bnn_alloc(f->act_total, sizeof(float));
        w->delta = bnn_alloc(bnn_fast_delta_floats(f), sizeof(float));
        w->xbuf = bnn_alloc(mul_sat((size_t)a->width[0] + (size_t)a->width[a->nlayers],
                                    f->chunk), sizeof(float));
        w->ybuf = bnn_alloc(mul_sat((size_t)a->width[a->nlayers], f->chunk), sizeof(float));
        if (!w->acts || !w->delta || !w->xbuf || !w->ybuf)
            goto oom;
        if (f->narrow) {
            w->nacc = bnn_alloc(f->nparams * (size_t)f->k->narrow_lanes, sizeof(float));
            w->nwork = bnn_alloc(f->k->narrow_work(&f->nnet), sizeof(float));
            if (!w->nacc || !w->nwork)
                goto oom;
        }
    }
    /* Our threads own the parallelism; OpenBLAS must not start its own inside them. */
    openblas_set_num_threads(1);
    *out = f;
    return 0;
oom:;
    char sn[32];
    bnn_format_bytes(need, sn, sizeof sn);
    const int threads = f->threads;
    const size_t chunk = f->chunk;
    bnn_fast_free(f);
    return bnn_fail(e, "fast engine: cannot allocate %s of workspaces for %d thread%s x %zu "
                       "samples", sn, threads, threads == 1 ? "" : "s", chunk);
}

size_t bnn_fast_chunk(const bnn_fast_engine *f)
{
    return f->chunk;
}

int bnn_fast_threads(const bnn_fast_engine *f)
{
    return f->threads;
}

static int shard_count(const bnn_fast_engine *f, size_t count);
static int piece_count(const bnn_fast_engine *f, size_t count);

int bnn_fast_shards(const bnn_fast_engine *f, size_t count)
{
    return shard_count(f, count);
}

int bnn_fast_stolen(const bnn_fast_engine *f)
{
    return f->stolen;
}

void bnn_fast_test_hold(bnn_fast_engine *f, int on)
{
    f->test_hold = on;
}

int bnn_fast_pieces(const bnn_fast_engine *f, size_t count)
{
    return piece_count(f, count);
}

static float *act_ptr(const bnn_fast_engine *f, const workspace *w, int l)
{
    return w->acts + f->act_off[l];
}

/* Forward pass of one chunk: A_1..A_m into the workspace. */
static void forward_chunk(const bnn_fast_engine *f, const bnn_kernel_table *k, const float *theta,
                          const bnn_chunk *c, workspace *w)
{
    const bnn_arch *a = &f->arch;
    const int ns = (int)c->count;
    const float *prev = c->x;
    int ldprev = (int)c->ldx;
    for (int l = 0; l < a->nlayers; l++) {
        const int in = (int)a->width[l], out = (int)a->width[l + 1];
        const float *W = theta + bnn_arch_weight_offset(a, l);
        size_t boff = bnn_arch_bias_offset(a, l);
        float *Z = act_ptr(f, w, l + 1);
        /* Z (out x ns) = W (out x in, row-major = col-major in x out, transposed) * prev */
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, out, ns, in, 1.0f, W, in, prev,
                    ldprev, 0.0f, Z, out);
        k->bias_act(Z, (size_t)out, (size_t)out, (size_t)ns,
                    boff == (size_t)-1 ? NULL : theta + boff, a->act[l]);
        prev = Z;
        ldprev = out;
    }
}

/* The output layer's delta D = out_scale * dC_i/dZ and the piece's summed loss (D NULL: the
 * loss only); correct gains the piece's correct decisions (classification losses). */
double bnn_fast_loss_piece(const bnn_arch *a, int loss, const bnn_kernel_table *k, float *D,
                           const float *A, const bnn_chunk *c, float out_scale,
                           double *correct)
{
    const size_t nout = (size_t)a->width[a->nlayers];
    if (loss == BNN_LOSS_MSE)
        return D ? k->output_delta(D, nout, A, nout, c->y, c->ldy, nout, c->count, out_scale,
                                   a->act[a->nlayers - 1])
                 : k->sq_error(A, nout, c->y, c->ldy, nout, c->count);
    return k->loss_delta(D, nout, A, nout, c->y, c->ldy, nout, c->count, out_scale,
                         (bnn_loss)loss, correct);
}

static double loss_chunk(const bnn_fast_engine *f, const bnn_kernel_table *k, float *D,
                         const float *A, const bnn_chunk *c, float out_scale, double *correct)
{
    return bnn_fast_loss_piece(&f->arch, f->loss, k, D, A, c, out_scale, correct);
}

/* Forward and backward of one chunk, accumulating dC/dtheta (scaled) into g. Returns the
 * chunk's summed loss. */
static double grad_chunk(const bnn_fast_engine *f, const bnn_kernel_table *k, const float *theta,
                         const bnn_chunk *c, workspace *w, float *g, float out_scale,
                         float hidden_scale, double *correct)
{
    const bnn_arch *a = &f->arch;
    const int m = a->nlayers;
    const int ns = (int)c->count;
    forward_chunk(f, k, theta, c, w);
    float *D = w->delta;
    float *Dprev = w->delta + round_up16((size_t)f->maxw * f->chunk);
    double sse = loss_chunk(f, k, D, act_ptr(f, w, m), c, out_scale, correct);
    for (int l = m - 1; l >= 0; l--) {
        const int in = (int)a->width[l], out = (int)a->width[l + 1];
        const float *W = theta + bnn_arch_weight_offset(a, l);
        float *dW = g + bnn_arch_weight_offset(a, l);
        size_t boff = bnn_arch_bias_offset(a, l);
        const float *Aprev = l > 0 ? act_ptr(f, w, l) : c->x;
        const int ldA = l > 0 ? in : (int)c->ldx;
        /* dW^T (in x out, col-major) += Aprev (in x ns) * D^T (ns x out) */
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, in, out, ns, 1.0f, Aprev, ldA, D,
                    out, 1.0f, dW, in);
        if (boff != (size_t)-1)
            k->row_sums_add(g + boff, D, (size_t)out, (size_t)out, (size_t)ns);
        if (l == 0)
            break;
        /* Dprev (in x ns) = W^T D: W as col-major (in x out) times D (out x ns) */
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, in, ns, out, 1.0f, W, in, D,
                    out, 0.0f, Dprev, in);
        k->act_backward(Dprev, (size_t)in, Aprev, (size_t)in, (size_t)in, (size_t)ns,
                        hidden_scale, a->act[l - 1]);
        float *t = D;
        D = Dprev;
        Dprev = t;
    }
    return sse;
}

/* Shard count: depends on the sample count and the architecture only, never on threads, ranks
 * or memory: ceil(count / min_shard), shards of min_shard samples (a call's shards differ by
 * at most one sample). min_shard (bnn_fast_plan) is about 4 MFLOP of work and at least a
 * chunk, so small batches are not spread over threads whose start-up costs more than the work,
 * and big ones get as many shards as they have chunks: every core and every rank can work on a
 * wide net. Past FEW_SHARDS such shards, shards grow to big_shard samples (4 chunks, a narrow
 * chunk: bnn_fast_plan): max(FEW_SHARDS, ceil(count / big_shard)) shards (up to FEW_SHARDS x
 * big_shard samples the count is FEW_SHARDS, as the old cap gave, and the results are the old
 * ones). -1 beyond SHARDS_MAX. */
static int shard_count(const bnn_fast_engine *f, size_t count)
{
    size_t shards = count / f->min_shard + (count % f->min_shard != 0);
    if (shards > FEW_SHARDS && f->big_shard > f->min_shard) {
        const size_t big = count / f->big_shard + (count % f->big_shard != 0);
        shards = big > FEW_SHARDS ? big : FEW_SHARDS;
    }
    return shards <= (size_t)SHARDS_MAX ? (int)shards : -1;
}

/* Mini-batch pieces: a gradient of at most split.max samples (a GEMM-path mini-batch) of at
 * least 2 pieces is cut into floor(count / piece) pieces (piece = max(PIECE_MIN, min_shard)
 * samples: each piece has at least that many, fewer than twice as many), computed and summed
 * exactly like shards: each rank computes its range of them and the pieces' partials are
 * summed along the one fixed tree, so mpirun -np K shares the batch K ways, bitwise as one
 * process. 0: a batch too small for 2 pieces (split mode computes it whole, on every rank).
 * The rule reads the count and the architecture only. Why PIECE_MIN = 256 samples: a piece is
 * then at least one GEMM chunk (sgemm's operands as in a full batch), and its partial costs
 * about 3 passes over the parameters (written, folded, exchanged: 12 bytes per parameter)
 * against 6 x 256 flops per parameter of compute, a few percent at sgemm's rates and a
 * node's memory or network bandwidth, whatever the net. Measured on one thread (W5's net,
 * batches of 512 and 1024, whole processes): pieces cost no more CPU than split mode did
 * (1.17-1.19 s against 1.23-1.30 s for 6 epochs of 16384 samples). */
static int piece_count(const bnn_fast_engine *f, size_t count)
{
    if (f->split.max == 0 || count > f->split.max || count / f->piece < 2)
        return 0;
    return (int)(count / f->piece);
}

static size_t shard_begin(size_t count, int shards, int s)
{
    /* contiguous, balanced, chunk boundaries inside a shard are the shard's own */
    return (size_t)((unsigned __int128)count * (unsigned)s / (unsigned)shards);
}

/* The team of a small job (a split-mode batch, or a batch of a few shards): 0 for one
 * thread, 1 for the whole team. The result is bitwise the same either way (the pieces, tiles
 * and shards do not change), only the time.
 *
 * Split-mode batches below TEAM_MIN_FLOP (forward and backward) run alone: the team costs a
 * wake-up and one barrier per phase (2 per layer, a few microseconds each with 2 idle
 * cores), which 4 MFLOP repays several times over at sgemm's rates (tens of GFLOP/s per core:
 * 50-100 us on one core); below it a batch is a few dozen microseconds of work. (W5 at
 * --batch 64: 78 MFLOP; a 40,70,3 net at --batch 64: 1.2 MFLOP.) Narrow-path shards are at
 * least ~1 MFLOP of slower, register-bound work each: 2 of them repay the team.
 *
 * Above it the team is the default, but on a machine loaded beyond its cores a descheduled
 * thread stalls the team at every barrier (measured: a 40,70,3 net at --batch 64-256, load
 * 5 on 2 cores, 5-15x slower than one thread). So after a wait of wall time the next two
 * calls are a probe, one alone then one with the team, timed back to back under the same
 * load. The choice changes when two probes in a row disagree with it (one noisy pair does not
 * flip it), and nothing older than those two probes is kept, so a choice made in a slow
 * moment is revised within two waits (the smoothed, call-counted timing before this kept one
 * slow team call for hundreds of calls: 2-thread epochs were bimodal). The wait is
 * TEAM_RETEST after a disagreement (the second probe comes soon), doubling up to
 * TEAM_RETEST_MAX while probes confirm the choice, and then at least TEAM_PROBE_SHARE times
 * the probe's slower call, so that probing costs about 2% at most whatever the load (a team
 * call stalled for 100 ms on an overloaded machine puts the next probe 5 s later; with a
 * share of 20 and waits of at most 0.4 s, W5 at --batch 256 on 2 cores at a load of 9 was
 * 1.13x slower than the call-counted timing, A/B). On a quiet machine a probe's call alone
 * costs well under 1% (W5 --batch 256: 3 ms more than the team's call, once a second). The
 * first probe comes one wait after the first call, once the threads exist. */
#define TEAM_RETEST 0.05
#define TEAM_RETEST_MAX 1.0
#define TEAM_PROBE_SHARE 50.0
#define SMALL_SHARDS 4

/* Whether the next call runs with the team, as the rule above says (the state: the time of
 * the next probe, 0 before the first call, and the wait before it; the probe's call alone [0]
 * and with the team [1], seconds per sample and seconds; the probe's next call, 0: none
 * running, 1: alone, 2: team; the choice; the probes in a row that disagreed with it). */
int bnn_team_pick(bnn_team_clock *c, double now)
{
    if (c->probe == 0) {
        if (c->next == 0.0) {
            c->wait = TEAM_RETEST;
            c->next = now + c->wait;
            c->team = 1;
        } else if (now >= c->next) {
            c->probe = 1;
        }
    }
    return c->probe ? c->probe == 2 : c->team;
}

/* After a call that bnn_team_pick chose, from t0 to now on `count` samples. */
void bnn_team_timed(bnn_team_clock *c, double t0, double now, size_t count)
{
    if (c->probe == 0)
        return;
    c->secs[c->probe - 1] = now - t0;
    c->rate[c->probe - 1] = (now - t0) / (double)count;
    if (c->probe == 1) {
        c->probe = 2;
        return;
    }
    const int team = c->rate[1] <= c->rate[0];
    if (team == c->team) {
        c->against = 0;
        c->wait = 2 * c->wait < TEAM_RETEST_MAX ? 2 * c->wait : TEAM_RETEST_MAX;
    } else {
        c->wait = TEAM_RETEST;
        if (++c->against >= 2) {
            c->team = team;
            c->against = 0;
        }
    }
    c->probe = 0;
    const double slower = c->secs[0] > c->secs[1] ? c->secs[0] : c->secs[1];
    const double floor = c->against ? 0.0 : TEAM_PROBE_SHARE * slower;
    c->next = now + (c->wait > floor ? c->wait : floor);
}

typedef enum { JOB_GRAD, JOB_COST, JOB_PREDICT } job_kind;

/* A job's arguments against the engine and the data: 0 or -1. */
static int run_check(const bnn_fast_engine *f, job_kind job, const bnn_data *d, size_t start,
                     size_t count, bnn_gradient mode, bnn_error *e)
{
    const bnn_arch *a = &f->arch;
    if (count == 0 || start > d->n || count > d->n - start)
        return bnn_fail(e, "fast engine: samples %zu..%zu are outside the %zu samples", start,
                        start + count, d->n);
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers])
        return bnn_fail(e, "fast engine: data widths %lld -> %lld do not match the "
                           "architecture", (long long)d->nin, (long long)d->nout);
    if (job != JOB_PREDICT && !d->yt)
        return bnn_fail(e, "fast engine: the data has no targets");
    if (job == JOB_GRAD && mode != BNN_GRAD_EXACT && mode != BNN_GRAD_SEED)
        return bnn_fail(e, "fast engine: gradient mode must be exact or seed");
    if (job == JOB_GRAD && mode == BNN_GRAD_SEED && f->loss != BNN_LOSS_MSE)
        return bnn_fail(e, "gradient seed is the notes' recursion for the squared error; "
                           "loss %s needs gradient exact", bnn_loss_name(f->loss));
    return 0;
}

/* What every shard of one call shares (run): the job, its data and scales, where predictions
 * go, and the call's first error (note_error). */
typedef struct shard_job {
    job_kind job;
    const float *theta;
    const bnn_data *d;
    size_t start; /* the call's first sample (predictions are written from out on) */
    float out_scale, hidden_scale;
    float *out;
    int *failed;
    bnn_error *first_err;
} shard_job;

/* One shard, samples [b, end), chunk after chunk on workspace w: its gradient partial into g
 * (JOB_GRAD; zeroed first), its correct decisions into *good, its predictions into out. Returns
 * the shard's summed loss. */
static double run_shard(const bnn_fast_engine *f, const shard_job *j, workspace *w, size_t b,
                        size_t end, float *g, double *good)
{
    const bnn_arch *a = &f->arch;
    const bnn_kernel_table *k = f->k;
    const job_kind job = j->job;
    /* the narrow path's kernel also gives the cost (its squared error: the narrow path is
     * mse's only): one fused pass, where the GEMM forward of a net this narrow costs several
     * epochs; its gradient sums go to w->nacc and are not used */
    const int narrow = (job == JOB_GRAD || job == JOB_COST) && f->narrow;
    const int nout = (int)a->width[a->nlayers];
    if (narrow)
        memset(w->nacc, 0, f->nparams * (size_t)k->narrow_lanes * sizeof(float));
    else if (job == JOB_GRAD)
        memset(g, 0, f->nparams * sizeof(float));
    double acc = 0.0;
    for (size_t c0 = b; c0 < end; c0 += f->chunk) {
        size_t ns = end - c0 < f->chunk ? end - c0 : f->chunk;
        bnn_chunk c;
        bnn_error err;
        if (bnn_data_chunk_borrow(j->d, c0, ns, w->xbuf, w->ybuf, &c, &err) != 0) {
            note_error(j->failed, j->first_err, &err);
            break;
        }
        if (narrow) {
            acc += k->narrow_grad(&f->nnet, j->theta, c.x, c.ldx, c.y, c.ldy, ns, w->nacc,
                                  w->nwork, j->out_scale, j->hidden_scale);
        } else if (job == JOB_GRAD) {
            acc += grad_chunk(f, k, j->theta, &c, w, g, j->out_scale, j->hidden_scale, good);
        } else {
            forward_chunk(f, k, j->theta, &c, w);
            const float *A = act_ptr(f, w, a->nlayers);
            if (job == JOB_COST)
                acc += loss_chunk(f, k, NULL, A, &c, 1.0f, good);
            else
                memcpy(j->out + (c0 - j->start) * (size_t)nout, A,
                       ns * (size_t)nout * sizeof(float));
        }
        bnn_data_chunk_return(&c); /* rows lent in place (a windowed .npy) are done with */
    }
    if (narrow && job == JOB_GRAD)
        k->narrow_reduce(w->nacc, f->nparams, g);
    return acc;
}

/* After the workers (every rank): predictions gathered on rank 0 in sample order, or the
 * per-shard sums of every rank summed in shard order as in one process (S doubles twice: a
 * few bytes per shard, not parameter-sized) into *cost (mean) and *correct. */
static int run_results(bnn_fast_engine *f, job_kind job, int shards, size_t count, double *cost,
                       double *correct, float *out, bnn_error *e)
{
    const double *vals = f->vals;
    if (job == JOB_PREDICT) { /* rank 0 gets every rank's rows, in sample order */
        for (int s = 0; s <= shards; s++)
            f->bounds[s] = shard_begin(count, shards, s);
        return bnn_dist_gather_rows(out, (size_t)f->arch.width[f->arch.nlayers], f->bounds,
                                    shards, e);
    }
    bnn_dist_gather_shards(f->vals, 2, shards);
    if (cost) {
        double total = 0.0;
        for (int s = 0; s < shards; s++)
            total += vals[2 * s];
        *cost = total / (double)count;
    }
    if (correct) {
        double total = 0.0;
        for (int s = 0; s < shards; s++)
            total += vals[2 * s + 1];
        *correct = total;
    }
    return 0;
}

/* What every worker of one call shares (run). */
typedef struct work_call {
    bnn_fast_engine *f;
    const shard_job *sj;
    int shards;
    size_t count;
    int workers, steals; /* steals a worker makes at most */
} work_call;

/* Worker t's shards, claimed from its word one at a time, in order, onto the stack at slot
 * `base` (gradient calls: folded as they finish, tree.h). Returns the stack's entries. hold
 * (tests, bnn_fast_test_hold): worker 0 waits after its first shard until the others have
 * run out and tried to steal. */
static int work_run(const work_call *c, workspace *w, int t, int base, int hold)
{
    bnn_fast_engine *f = c->f;
    const shard_job *sj = c->sj;
    bnn_tree_fold fold = {c->shards, f->nparams, f->k->axpy, 0,
                          sj->job == JOB_GRAD ? f->stack + base : NULL};
    for (int s; (s = bnn_claim_one(&f->claim[t])) >= 0;) {
        size_t b = sj->start + shard_begin(c->count, c->shards, s);
        size_t end = sj->start + shard_begin(c->count, c->shards, s + 1);
        float *g = sj->job == JOB_GRAD
                     ? f->partials + (size_t)(base + fold.depth) * f->pstride
                     : NULL;
        const double acc = run_shard(f, sj, w, b, end, g, &f->vals[2 * (size_t)s + 1]);
        if (sj->job == JOB_GRAD)
            bnn_tree_push(&fold, s, s + 1, g);
        f->vals[2 * (size_t)s] = acc;
        while (hold && t == 0 &&
               atomic_load_explicit(&f->settled, memory_order_acquire) < c->workers - 1)
            sched_yield();
    }
    return fold.depth;
}

/* Worker t: its own range, then (a team) the back half of the fullest other's remaining
 * shards, again and again up to `steals` times, each run on a stack of its own. Whoever
 * computes a shard, its partial enters the same tree node (reduce_folds): the results are
 * bitwise those of the ranges as cut. */
static void work_shards(const work_call *c, workspace *w, int t, int hold)
{
    bnn_fast_engine *f = c->f;
    const int grad = c->sj->job == JOB_GRAD;
    f->depth[t] = work_run(c, w, t, f->slot0[t], hold);
    for (int k = 0; k < c->steals; k++) {
        int end = 0;
        const int cap = grad ? f->scap[t] : -1;
        const int m = bnn_claim_steal(f->claim, c->workers, t, c->shards, cap, &end);
        if (k == 0)
            atomic_fetch_add_explicit(&f->settled, 1, memory_order_release);
        if (m < 0)
            return;
        atomic_store_explicit(&f->claim[t].v, bnn_claim_pack(m, end), memory_order_relaxed);
#pragma omp atomic
        f->stolen += end - m;
        const int d = work_run(c, w, t, grad ? bnn_fast_steal_base(f, t, k) : 0, 0);
        if (grad)
            f->sdepth[t * STEALS_MAX + k] = d;
    }
}

static int run(bnn_fast_engine *f, job_kind job, const float *theta, const bnn_data *d,
               size_t start, size_t count, bnn_gradient mode, float *grad, double *cost,
               double *correct, float *out, bnn_error *e)
{
    if (run_check(f, job, d, start, count, mode, e) != 0)
        return -1;
    const bnn_kernel_table *k = f->k;
    /* dC/dZ of the mean loss: 2 (a - y) / n for mse, (p - y) / n for the others */
    const float out_scale = (float)((f->loss == BNN_LOSS_MSE ? 2.0 : 1.0) / (double)count);
    const float hidden_scale = mode == BNN_GRAD_SEED ? 2.0f : 1.0f;
    const int pieces = job == JOB_GRAD ? piece_count(f, count) : 0;
    if (job == JOB_GRAD && count <= f->split.max && pieces == 0)
        return bnn_split_grad(&f->split, theta, d, start, count, out_scale, hidden_scale, grad,
                              cost, correct, e);
    const int shards = pieces ? pieces : shard_count(f, count);
    if (shards < 0)
        return bnn_fail(e, "fast engine: %zu samples in one call are more than %d shards of "
                           "%zu", count, SHARDS_MAX, f->min_shard);
    /* this rank's shards (all of them in one process), in `full` workers of contiguous
     * ranges (bnn_tree_split): the most threads that can work */
    int lo = 0, hi = shards;
    bnn_dist_range(shards, &lo, &hi);
    const int mine = hi - lo;
    const int full = f->threads < mine ? f->threads : mine; /* <= f->nws */
    if (bnn_fast_reserve_vals(f, shards, e) != 0 ||
        (job == JOB_GRAD && bnn_fast_reserve_folds(f, shards, lo, hi, full, e) != 0))
        return -1;
    double *const vals = f->vals; /* per shard: loss, correct decisions */
    memset(vals + 2 * (size_t)lo, 0, 2 * (size_t)mine * sizeof *vals);
    int failed = 0;
    bnn_error first_err = {{0}};
    bnn_dist_note_threads(f->threads);
    /* a batch of a few shards (narrow mini-batches): one thread when that is faster */
    const int timed = job == JOB_GRAD && full > 1 && mine <= SMALL_SHARDS;
    const int which = timed ? pick_team(&f->shard_clock) : 1;
    const int team = which && full > 1 ? full : 1;
    const double t0 = timed ? now_seconds() : 0.0;
    const shard_job sj = {job, theta, d, start, out_scale, hidden_scale, out, &failed,
                          &first_err};
    /* a team steals (work_shards); a lone thread runs every worker in turn as they were
     * cut. Gradient calls steal only when their stealing stacks were reserved. */
    const int steals = team < 2 ? 0 : job == JOB_GRAD ? f->nsteal : STEALS_MAX;
    for (int t = 0; t < full; t++) {
        int sa, sb;
        bnn_tree_split(lo, hi, full, t, &sa, &sb);
        atomic_store_explicit(&f->claim[t].v, bnn_claim_pack(sa, sb), memory_order_relaxed);
        f->depth[t] = 0;
        for (int k = 0; k < STEALS_MAX; k++)
            f->sdepth[t * STEALS_MAX + k] = 0;
    }
    atomic_store_explicit(&f->settled, 0, memory_order_relaxed);
    f->stolen = 0;
    const work_call wc = {f, &sj, shards, count, full, steals};
#pragma omp parallel num_threads(team) if (team > 1 && mine > 0)
    if (mine > 0) {
        const unsigned int saved_csr = worker_enter();
        workspace *w = &f->ws[omp_get_thread_num()];
        const int hold = f->test_hold && steals > 0 && omp_get_num_threads() == full;
#pragma omp for schedule(static, 1)
        for (int t = 0; t < full; t++)
            work_shards(&wc, w, t, hold);
        worker_leave(saved_csr);
    }
    /* a collective point: every rank leaves with the first failing rank's error, or goes on */
    failed = bnn_dist_agree(failed, &first_err) != 0;
    if (job_result(failed, &first_err, e) != 0)
        return -1;
    if (timed)
        team_timed(&f->shard_clock, which, now_seconds() - t0, count);
    if (job == JOB_GRAD && bnn_fast_reduce_folds(f, k, shards, lo, hi, full, grad, e) != 0)
        return -1;
    return run_results(f, job, shards, count, cost, correct, out, e);
}

int bnn_fast_grad(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, double *cost, bnn_error *e)
{
    return run(f, JOB_GRAD, theta, d, start, count, mode, grad, cost, NULL, NULL, e);
}

int bnn_fast_cost(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, bnn_error *e)
{
    return run(f, JOB_COST, theta, d, start, count, BNN_GRAD_EXACT, NULL, cost, NULL, NULL, e);
}

int bnn_fast_predict(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                     size_t count, float *out, bnn_error *e)
{
    return run(f, JOB_PREDICT, theta, d, start, count, BNN_GRAD_EXACT, NULL, NULL, NULL, out,
               e);
}

int bnn_fast_grad_acc(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, float *grad, double *cost,
                      double *correct, bnn_error *e)
{
    return run(f, JOB_GRAD, theta, d, start, count, mode, grad, cost, correct, NULL, e);
}

int bnn_fast_eval(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, double *correct, bnn_error *e)
{
    return run(f, JOB_COST, theta, d, start, count, BNN_GRAD_EXACT, NULL, cost, correct, NULL,
               e);
}

int bnn_fast_step(bnn_fast_engine *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, bnn_optim_state *s, double lr,
                  float *next, double *cost, double *correct, int *finite, bnn_error *e)
{
    bnn_optim_coef c;
    bnn_optim_coef_next(s, lr, &c); /* once per step, whoever runs which rows */
    bnn_split_step step = {.st = s, .coef = &c, .next = next, .used = 0, .apply = 0, .ok = 1};
    double loss = 0.0;
    f->split.step = &step; /* taken by split mode when the batch is one of its */
    const int rc = run(f, JOB_GRAD, theta, d, start, count, mode, grad, &loss, correct, NULL, e);
    f->split.step = NULL;
    if (rc != 0)
        return -1;
    if (cost)
        *cost = loss;
    *finite = 1;
    if (!isfinite(loss)) /* training stops before any update: no step */
        return 0;
    if (step.used) {
        s->step++;
        *finite = step.ok;
    } else {
        *finite = bnn_optim_step(s, lr, theta, grad, next);
    }
    return 0;
}
