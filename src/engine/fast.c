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
 * Parallelism and determinism: the samples of one call are cut into S shards, S a function of
 * the sample count and the architecture only. Each shard is processed by one thread, chunk
 * after chunk, accumulating into its own gradient partial; shards are handed to OpenMP
 * threads dynamically, then the partials are reduced in shard order (reduce_partials). No
 * sum depends on which thread ran what, so the result is bitwise the same for any --threads.
 * The reduction is a step of its own so that it can extend across processes (MPI ranks, each
 * holding a shard of the samples). BLAS runs single-threaded inside the parallel region.
 *
 * Narrow nets (every width <= BNN_NARROW_MAX_WIDTH: the notes' models, 2->16->16->1) take the
 * narrow fused path instead (kernels/narrow_impl.h): a block of samples, one per vector lane,
 * goes forward and backward through all layers in registers, gradients accumulate lane-wise
 * per shard and are summed over lanes in a fixed order at the shard's end. No sgemm call on
 * tiny matrices. BATCHNN_PATH=gemm forces the GEMM path (benchmarks, tests).
 * Both paths use the kernel table in use when the engine is created (bnn_kernels(): one ISA
 * decision per engine; a later bnn_kernels_force affects engines created after it).
 *
 * Chunk size and memory: a chunk is GEMM_CHUNK (256) samples on the GEMM path and
 * BNN_NARROW_CHUNK_MAX on the narrow path, except for nets so wide that one thread's workspace
 * (A_1..A_m, two delta buffers, the input and target buffers: chunk x (sum of widths + twice
 * the widest + inputs + outputs) floats) would exceed BNN_FAST_WORKSPACE_MAX (64 MiB); those
 * get the largest chunk that fits, at least 1 sample. Like the shard count, the chunk is a
 * function of the architecture only (never of the thread count or of the memory budget):
 * chunk boundaries are summation boundaries, so anything else would break the bitwise
 * promise. Every net whose 256-sample workspace fits keeps 256, hence its old results.
 * Workspaces are allocated for min(threads, max shards) threads, since no more can run at
 * once; bnn_fast_memory counts them and the partials, and bnn_fast_create refuses up front
 * when that exceeds bnn_memory_budget().
 *
 * Worker threads set flush-to-zero and denormals-are-zero while they run (saturated sigmoids
 * otherwise produce subnormal deltas that are ~100x slower on x86) and restore MXCSR after.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BNN_HAVE_MXCSR 1
#endif

#include "bnn_internal.h"
#include "bnn_kernels.h"
#include "bnn_narrow.h"

/* Gradient partials kept at most (bytes) when choosing the shard count. */
#define PARTIAL_BUDGET ((size_t)64 << 20)
#define MAX_SHARDS 32
/* Samples per chunk on the GEMM path (see the top of the file). */
#define GEMM_CHUNK 256

typedef struct workspace {
    float *nacc;  /* narrow path: lane-wise gradient partials, nparams * narrow_lanes */
    float *nwork; /* narrow path: one block's activations and deltas */
    float *acts;  /* A_1..A_m, each width[l] x chunk, column-major, ld = width[l] */
    float *delta; /* two buffers of maxwidth x chunk */
    float *xbuf;  /* nin x chunk when the data is not direct float32 */
    float *ybuf;  /* nout x chunk */
} workspace;

struct bnn_fast {
    bnn_arch arch;
    int loss; /* bnn_loss */
    int threads;
    size_t chunk;
    size_t nparams;
    size_t act_off[BNN_MAX_LAYERS + 1]; /* offset of A_l in acts (l >= 1), in floats */
    size_t act_total;
    int64_t maxw;
    int nws;             /* workspaces: min(threads, max_shards), the most that run at once */
    workspace *ws;       /* one per running thread */
    float *partials;     /* MAX_SHARDS x pstride */
    size_t pstride;      /* nparams rounded up to 16 floats (64 bytes) */
    int max_shards;
    size_t min_shard; /* samples */
    /* the element-wise kernels and the narrow path, one ISA, fixed at creation */
    const bnn_kernel_table *k;
    /* the narrow fused path, when the net qualifies */
    int narrow;
    bnn_narrow_net nnet;
};

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

static size_t round_up16(size_t n)
{
    return (n + 15) & ~(size_t)15;
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

void bnn_fast_free(bnn_fast *f)
{
    if (!f)
        return;
    if (f->ws)
        for (int t = 0; t < f->nws; t++)
            free_workspace(&f->ws[t]);
    free(f->ws);
    bnn_free(f->partials);
    free(f);
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t round16_sat(size_t n)
{
    return n > SIZE_MAX - 15 ? SIZE_MAX : round_up16(n);
}

/* Floats of the two delta buffers (each maxwidth x chunk, rounded to 16 floats). */
static size_t delta_floats(const bnn_fast *f)
{
    return mul_sat(2, round16_sat(mul_sat((size_t)f->maxw, f->chunk)));
}

/* Floats of one thread's GEMM workspace for chunks of `chunk` samples, as allocated: A_l
 * (each rounded to 16 floats), two delta buffers, the input and target buffers. */
static size_t workspace_floats(const bnn_arch *a, size_t chunk)
{
    size_t total = 0;
    for (int l = 1; l <= a->nlayers; l++)
        total = add_sat(total, round16_sat(mul_sat((size_t)a->width[l], chunk)));
    const size_t maxw = (size_t)bnn_arch_max_width(a);
    total = add_sat(total, mul_sat(2, round16_sat(mul_sat(maxw, chunk))));
    total = add_sat(total, mul_sat((size_t)a->width[0], chunk));
    return add_sat(total, mul_sat((size_t)a->width[a->nlayers], chunk));
}

/* Samples per chunk: GEMM_CHUNK, enough columns for sgemm to reuse each weight well (the
 * narrow path: BNN_NARROW_CHUNK_MAX, its unit of data access), or for wider nets the largest
 * chunk whose workspace stays within BNN_FAST_WORKSPACE_MAX, at least 1. A function of the
 * architecture (and the path) only: see the top of the file. */
static size_t default_chunk(const bnn_arch *a, int narrow)
{
    const size_t chunk = narrow ? BNN_NARROW_CHUNK_MAX : GEMM_CHUNK;
    const size_t limit = BNN_FAST_WORKSPACE_MAX / sizeof(float);
    if (workspace_floats(a, chunk) <= limit)
        return chunk;
    /* per-sample floats without the rounding, then down past the rounding (a few steps) */
    size_t per = 0;
    for (int l = 1; l <= a->nlayers; l++)
        per = add_sat(per, (size_t)a->width[l]);
    per = add_sat(per, 2 * (size_t)bnn_arch_max_width(a));
    per = add_sat(per, (size_t)a->width[0] + (size_t)a->width[a->nlayers]);
    size_t c = limit / per;
    if (c >= chunk)
        c = chunk - 1;
    while (c > 1 && workspace_floats(a, c) > limit)
        c--;
    return c < 1 ? 1 : c;
}

/* Everything bnn_fast_create decides before allocating: f is filled except for ws and
 * partials. a must have been checked. */
static void plan(bnn_fast *f, const bnn_arch *a, const bnn_fast_opts *o)
{
    memset(f, 0, sizeof *f);
    f->arch = *a;
    f->loss = o ? o->loss : BNN_LOSS_MSE;
    f->threads = o && o->threads > 0 ? o->threads : omp_get_num_procs();
    if (f->threads < 1)
        f->threads = 1;
    f->nparams = bnn_arch_nparams(a);
    f->pstride = round_up16(f->nparams);
    f->maxw = bnn_arch_max_width(a);
    f->k = bnn_kernels();
    const char *path = getenv("BATCHNN_PATH");
    /* the narrow path fuses the squared error's delta; the other losses take the GEMM path */
    f->narrow = !(path && strcmp(path, "gemm") == 0) && f->loss == BNN_LOSS_MSE &&
                bnn_narrow_describe(a, &f->nnet) == 0;
    const size_t asked = o && o->chunk > 0 ? o->chunk : 0;
    if (f->narrow) {
        /* the narrow path keeps only one block in flight: a chunk is just the unit of data
         * access, so a large one amortises the per-call set-up */
        f->chunk = asked && asked <= BNN_NARROW_CHUNK_MAX ? asked : default_chunk(a, 1);
    } else {
        f->chunk = asked ? asked : default_chunk(a, 0);
    }
    size_t total = 0;
    for (int l = 1; l <= a->nlayers; l++) {
        f->act_off[l] = total;
        total = add_sat(total, round16_sat(mul_sat((size_t)a->width[l], f->chunk)));
    }
    f->act_total = total;
    size_t per_shard = f->pstride * sizeof(float);
    f->max_shards = (int)(PARTIAL_BUDGET / per_shard);
    if (f->max_shards > MAX_SHARDS)
        f->max_shards = MAX_SHARDS;
    if (f->max_shards < 1)
        f->max_shards = 1;
    double flops = 0; /* per sample, forward and backward */
    for (int l = 0; l < a->nlayers; l++)
        flops += 6.0 * (double)a->width[l] * (double)a->width[l + 1];
    double min_shard = 4e6 / flops;
    f->min_shard = min_shard < (double)f->chunk ? f->chunk
                 : min_shard > 65536.0     ? 65536
                                           : (size_t)min_shard;
    /* a call runs min(threads, shards) threads and shards <= max_shards */
    f->nws = f->threads < f->max_shards ? f->threads : f->max_shards;
}

/* Bytes of one workspace, and of the partials, as bnn_alloc takes them (saturating). */
static size_t workspace_bytes(const bnn_fast *f)
{
    const bnn_arch *a = &f->arch;
    size_t b = bnn_alloc_bytes(f->act_total, sizeof(float));
    b = add_sat(b, bnn_alloc_bytes(delta_floats(f), sizeof(float)));
    b = add_sat(b, bnn_alloc_bytes(mul_sat((size_t)a->width[0], f->chunk), sizeof(float)));
    b = add_sat(b, bnn_alloc_bytes(mul_sat((size_t)a->width[a->nlayers], f->chunk),
                                   sizeof(float)));
    if (f->narrow) {
        const size_t lanes = (size_t)f->k->narrow_lanes;
        b = add_sat(b, bnn_alloc_bytes(mul_sat(f->nparams, lanes), sizeof(float)));
        b = add_sat(b, bnn_alloc_bytes(f->k->narrow_work(&f->nnet), sizeof(float)));
    }
    return b;
}

static size_t partials_bytes(const bnn_fast *f)
{
    return bnn_alloc_bytes(mul_sat((size_t)f->max_shards, f->pstride), sizeof(float));
}

static size_t planned_bytes(const bnn_fast *f)
{
    return add_sat(mul_sat((size_t)f->nws, workspace_bytes(f)), partials_bytes(f));
}

size_t bnn_fast_memory(const bnn_arch *a, int threads)
{
    if (bnn_arch_check(a, NULL) != 0)
        return 0;
    bnn_fast *f = malloc(sizeof *f);
    if (!f)
        return SIZE_MAX;
    bnn_fast_opts o = {.threads = threads, .chunk = 0};
    plan(f, a, &o);
    size_t bytes = planned_bytes(f);
    free(f);
    return bytes;
}

int bnn_fast_create(bnn_fast **out, const bnn_arch *a, const bnn_fast_opts *o, bnn_error *e)
{
    *out = NULL;
    if (bnn_arch_check(a, e) != 0)
        return -1;
    if (o && o->loss != BNN_LOSS_MSE && bnn_loss_check(a, (bnn_loss)o->loss, e) != 0)
        return -1;
    bnn_fast *f = calloc(1, sizeof *f); /* a few KiB: the plan itself */
    if (!f)
        return bnn_fail(e, "fast engine: out of memory");
    plan(f, a, o);
    /* refuse what cannot fit before asking the kernel for it: with overcommit the
     * allocations would succeed and the process be killed when it touches them */
    const size_t need = planned_bytes(f);
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    if (lim.bytes && need > lim.bytes) {
        char sn[32], sw[32], sp[32], sl[32];
        const int threads = f->threads, nws = f->nws;
        bnn_format_bytes(need, sn, sizeof sn);
        bnn_format_bytes(workspace_bytes(f), sw, sizeof sw);
        bnn_format_bytes(partials_bytes(f), sp, sizeof sp);
        bnn_format_bytes(lim.bytes, sl, sizeof sl);
        free(f);
        return bnn_fail(e, "fast engine: needs %s of working memory for %d thread%s (%d x %s "
                           "workspace, %s gradient partials), but this process may use %s "
                           "(%s); use %ssmaller layers", sn, threads, threads == 1 ? "" : "s",
                        nws, sw, sp, sl, lim.what, nws > 1 ? "fewer --threads or " : "");
    }
    f->ws = calloc((size_t)f->nws, sizeof *f->ws);
    f->partials = bnn_alloc(mul_sat((size_t)f->max_shards, f->pstride), sizeof(float));
    if (!f->ws || !f->partials)
        goto oom;
    for (int t = 0; t < f->nws; t++) {
        workspace *w = &f->ws[t];
        w->acts = bnn_alloc(f->act_total, sizeof(float));
        w->delta = bnn_alloc(delta_floats(f), sizeof(float));
        w->xbuf = bnn_alloc(mul_sat((size_t)a->width[0], f->chunk), sizeof(float));
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

size_t bnn_fast_chunk(const bnn_fast *f)
{
    return f->chunk;
}

int bnn_fast_threads(const bnn_fast *f)
{
    return f->threads;
}

static float *act_ptr(const bnn_fast *f, const workspace *w, int l)
{
    return w->acts + f->act_off[l];
}

/* Forward pass of one chunk: A_1..A_m into the workspace. */
static void forward_chunk(const bnn_fast *f, const bnn_kernel_table *k, const float *theta,
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

/* The output layer's delta D = out_scale * dC_i/dZ and the chunk's summed loss (D NULL: the
 * loss only); correct gains the chunk's correct decisions (classification losses). */
static double loss_chunk(const bnn_fast *f, const bnn_kernel_table *k, float *D,
                         const float *A, const bnn_chunk *c, float out_scale, double *correct)
{
    const bnn_arch *a = &f->arch;
    const size_t nout = (size_t)a->width[a->nlayers];
    if (f->loss == BNN_LOSS_MSE)
        return D ? k->output_delta(D, nout, A, nout, c->y, c->ldy, nout, c->count, out_scale,
                                   a->act[a->nlayers - 1])
                 : k->sq_error(A, nout, c->y, c->ldy, nout, c->count);
    return k->loss_delta(D, nout, A, nout, c->y, c->ldy, nout, c->count, out_scale, f->loss,
                         correct);
}

/* Forward and backward of one chunk, accumulating dC/dtheta (scaled) into g. Returns the
 * chunk's summed loss. */
static double grad_chunk(const bnn_fast *f, const bnn_kernel_table *k, const float *theta,
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

/* Shard count: depends on the sample count and the architecture only, never on threads.
 * A shard gets at least min_shard samples (about 4 MFLOP of work), so that small batches are
 * not spread over threads whose start-up costs more than the work. */
static int shard_count(const bnn_fast *f, size_t count)
{
    size_t shards = (count + f->min_shard - 1) / f->min_shard;
    return shards < (size_t)f->max_shards ? (int)shards : f->max_shards;
}

static size_t shard_begin(size_t count, int shards, int s)
{
    /* contiguous, balanced, chunk boundaries inside a shard are the shard's own */
    return (size_t)((unsigned __int128)count * (unsigned)s / (unsigned)shards);
}

/* The reduction step: g = sum over shards s = 0..S-1 of partial[s], in that order. */
static void reduce_partials(const bnn_fast *f, const bnn_kernel_table *k, int shards, float *g)
{
    memcpy(g, f->partials, f->nparams * sizeof(float));
    for (int s = 1; s < shards; s++)
        k->axpy(g, f->partials + (size_t)s * f->pstride, f->nparams, 1.0f);
}

typedef enum { JOB_GRAD, JOB_COST, JOB_PREDICT } job_kind;

static int run(bnn_fast *f, job_kind job, const float *theta, const bnn_data *d, size_t start,
               size_t count, bnn_gradient mode, float *grad, double *cost, double *correct,
               float *out, bnn_error *e)
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
        return bnn_fail(e, "--gradient seed is the notes' recursion for the squared error; "
                           "--loss %s needs --gradient exact", bnn_loss_name(f->loss));
    const bnn_kernel_table *k = f->k;
    const int shards = shard_count(f, count);
    /* dC/dZ of the mean loss: 2 (a - y) / n for mse, (p - y) / n for the others */
    const float out_scale = (float)((f->loss == BNN_LOSS_MSE ? 2.0 : 1.0) / (double)count);
    const float hidden_scale = mode == BNN_GRAD_SEED ? 2.0f : 1.0f;
    double sse[MAX_SHARDS] = {0}, good[MAX_SHARDS] = {0};
    int failed = 0;
    bnn_error first_err = {{0}};
    const int nout = (int)a->width[a->nlayers];

    /* one shard (small batches): stay on the calling thread; waking a team per call costs
     * more than the work and, on a loaded machine, a descheduled thread stalls the barrier */
    const int team = f->threads < shards ? f->threads : shards; /* <= f->nws */
#pragma omp parallel num_threads(team) if (team > 1)
    {
#ifdef BNN_HAVE_MXCSR
        const unsigned int saved_csr = _mm_getcsr();
        _mm_setcsr(saved_csr | 0x8040); /* FTZ | DAZ */
#endif
        workspace *w = &f->ws[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < shards; s++) {
            size_t b = start + shard_begin(count, shards, s);
            size_t end = start + shard_begin(count, shards, s + 1);
            float *g = f->partials + (size_t)s * f->pstride;
            const int narrow = job == JOB_GRAD && f->narrow;
            if (narrow)
                memset(w->nacc, 0, f->nparams * (size_t)k->narrow_lanes * sizeof(float));
            else if (job == JOB_GRAD)
                memset(g, 0, f->nparams * sizeof(float));
            double acc = 0.0;
            for (size_t c0 = b; c0 < end; c0 += f->chunk) {
                size_t ns = end - c0 < f->chunk ? end - c0 : f->chunk;
                bnn_chunk c;
                bnn_error err;
                if (bnn_data_chunk(d, c0, ns, w->xbuf, w->ybuf, &c, &err) != 0) {
#pragma omp critical(bnn_fast_error)
                    if (!failed) {
                        failed = 1;
                        first_err = err;
                    }
                    break;
                }
                if (narrow) {
                    acc += k->narrow_grad(&f->nnet, theta, c.x, c.ldx, c.y, c.ldy, ns, w->nacc,
                                          w->nwork, out_scale, hidden_scale);
                } else if (job == JOB_GRAD) {
                    acc += grad_chunk(f, k, theta, &c, w, g, out_scale, hidden_scale,
                                      &good[s]);
                } else {
                    forward_chunk(f, k, theta, &c, w);
                    const float *A = act_ptr(f, w, a->nlayers);
                    if (job == JOB_COST)
                        acc += loss_chunk(f, k, NULL, A, &c, 1.0f, &good[s]);
                    else
                        memcpy(out + (c0 - start) * (size_t)nout, A,
                               ns * (size_t)nout * sizeof(float));
                }
            }
            if (narrow)
                k->narrow_reduce(w->nacc, f->nparams, g);
            sse[s] = acc;
        }
#ifdef BNN_HAVE_MXCSR
        _mm_setcsr(saved_csr);
#endif
    }
    if (failed) {
        if (e)
            *e = first_err;
        return -1;
    }
    if (job == JOB_GRAD)
        reduce_partials(f, k, shards, grad);
    if (cost) {
        double total = 0.0;
        for (int s = 0; s < shards; s++)
            total += sse[s];
        *cost = total / (double)count;
    }
    if (correct) {
        double total = 0.0;
        for (int s = 0; s < shards; s++)
            total += good[s];
        *correct = total;
    }
    return 0;
}

int bnn_fast_grad(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, double *cost, bnn_error *e)
{
    return run(f, JOB_GRAD, theta, d, start, count, mode, grad, cost, NULL, NULL, e);
}

int bnn_fast_cost(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, bnn_error *e)
{
    return run(f, JOB_COST, theta, d, start, count, BNN_GRAD_EXACT, NULL, cost, NULL, NULL, e);
}

int bnn_fast_predict(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                     size_t count, float *out, bnn_error *e)
{
    return run(f, JOB_PREDICT, theta, d, start, count, BNN_GRAD_EXACT, NULL, NULL, NULL, out,
               e);
}

int bnn_fast_grad_acc(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, float *grad, double *cost,
                      double *correct, bnn_error *e)
{
    return run(f, JOB_GRAD, theta, d, start, count, mode, grad, cost, correct, NULL, e);
}

int bnn_fast_eval(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, double *correct, bnn_error *e)
{
    return run(f, JOB_COST, theta, d, start, count, BNN_GRAD_EXACT, NULL, cost, correct, NULL,
               e);
}
