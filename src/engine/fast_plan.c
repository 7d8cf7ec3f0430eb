/*
 * fast_plan.c - the fast engine's plan (bnn_fast_plan: chunk, shard sizes, path, split
 * mode, made before anything is allocated), the memory it needs (bnn_fast_memory, the
 * refusal in bnn_fast_create, reserve_folds in fast.c) and bnn_fast_whole_max. No allocation
 * of the engine's buffers here. The rest of the engine and its determinism rules: the top of
 * fast.c.
 * bnn_engine_force_gemm (the command's BATCHNN_PATH=gemm, and tests) sends narrow nets to the GEMM
 * path in the engines planned after it.
 *
 * Chunk size and memory: a chunk is GEMM_CHUNK (256) samples on the GEMM path (512 or 1024
 * for nets with a weight matrix of more than 2^18 or 2^19 floats: gemm_chunk) and
 * BNN_NARROW_CHUNK_MAX on the narrow path, except for nets so wide that one thread's workspace
 * (A_1..A_m, two delta buffers, the input and target buffers: chunk x (sum of widths + twice
 * the widest + inputs + outputs) floats) would exceed BNN_FAST_WORKSPACE_MAX (64 MiB); those
 * get the largest chunk that fits, at least 1 sample. Like the shard count, the chunk is a
 * function of the architecture only (never of the thread count or of the memory budget):
 * chunk boundaries are summation boundaries, so anything else would break the bitwise
 * promise. Every net whose layers have at most 2^18 weights each and whose 256-sample
 * workspace fits keeps 256, hence its old results (W5 does; W6 takes 1024, other models).
 * Workspaces are allocated for every thread; bnn_fast_memory counts them and CREATE_SLOTS (2)
 * partials per thread, and bnn_fast_create refuses up front when that exceeds the memory
 * limit. The partials themselves are allocated by the first call that needs them
 * (reserve_folds: the sum over the threads of bnn_tree_need of each thread's range, plus one
 * received sum under mpirun), checked against the same limit there.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fast_impl.h"

/* Samples per chunk on the GEMM path (see the top of the file). */
#define GEMM_CHUNK 256
/* Weights of a layer (floats) beyond which the GEMM chunk grows (gemm_chunk). */
#define GEMM_WIDE_PARAMS ((double)(1 << 18))
/* Samples a narrow-path shard gets at least (see bnn_fast_plan). */
#define NARROW_MIN_SHARD 256

/* bnn_engine_force_gemm: engines planned from now on take the GEMM path even for narrow nets. */
static int force_gemm;

void bnn_engine_force_gemm(int on)
{
    force_gemm = on != 0;
}


/* Floats of the two delta buffers (each maxwidth x chunk, rounded to 16 floats). */
size_t bnn_fast_delta_floats(const bnn_fast_engine *f)
{
    return mul_sat(2, round16_sat(mul_sat((size_t)f->maxw, f->chunk)));
}

/* Floats of one thread's GEMM workspace for chunks of `chunk` samples, as allocated: A_l
 * (each rounded to 16 floats), two delta buffers, the input and target buffers. */
size_t bnn_fast_workspace_floats(const bnn_arch *a, size_t chunk)
{
    size_t total = 0;
    for (int l = 1; l <= a->nlayers; l++)
        total = add_sat(total, round16_sat(mul_sat((size_t)a->width[l], chunk)));
    const size_t maxw = (size_t)bnn_arch_max_width(a);
    total = add_sat(total, mul_sat(2, round16_sat(mul_sat(maxw, chunk))));
    total = add_sat(total, mul_sat((size_t)a->width[0], chunk));
    return add_sat(total, mul_sat((size_t)a->width[a->nlayers], chunk));
}

/* The GEMM path's chunk before the workspace bound: GEMM_CHUNK, times 2 or 4 for nets whose
 * largest weight matrix passes GEMM_WIDE_PARAMS or twice that. Each chunk packs every W_l
 * for sgemm and reads and writes every dW_l once, traffic beyond L2 for such matrices, so
 * wider chunks amortise it (W6, 1024 x 1024: 3-4% less CPU time at 1024 samples; W5,
 * 784 x 256, gains nothing and keeps 256). A function of the widths only. */
static size_t gemm_chunk(const bnn_arch *a)
{
    double most = 0;
    for (int l = 0; l < a->nlayers; l++) {
        const double p = (double)a->width[l] * (double)a->width[l + 1];
        most = p > most ? p : most;
    }
    return most > 2.0 * GEMM_WIDE_PARAMS ? 4 * GEMM_CHUNK
         : most > GEMM_WIDE_PARAMS       ? 2 * GEMM_CHUNK
                                         : GEMM_CHUNK;
}

/* Samples per chunk: gemm_chunk, enough columns for sgemm to reuse each weight well (the
 * narrow path: BNN_NARROW_CHUNK_MAX, its unit of data access), or for wider nets the largest
 * chunk whose workspace stays within BNN_FAST_WORKSPACE_MAX, at least 1. A function of the
 * architecture (and the path) only: see the top of the file. */
static size_t default_chunk(const bnn_arch *a, int narrow)
{
    const size_t chunk = narrow ? BNN_NARROW_CHUNK_MAX : gemm_chunk(a);
    const size_t limit = BNN_FAST_WORKSPACE_MAX / sizeof(float);
    if (bnn_fast_workspace_floats(a, chunk) <= limit)
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
    while (c > 1 && bnn_fast_workspace_floats(a, c) > limit)
        c--;
    return c < 1 ? 1 : c;
}

/* Everything bnn_fast_create decides before allocating: f is filled except for ws and
 * partials. a must have been checked. */
void bnn_fast_plan(bnn_fast_engine *f, const bnn_arch *a, const bnn_fast_opts *o)
{
    memset(f, 0, sizeof *f);
    f->arch = *a;
    f->loss = o ? o->loss : BNN_LOSS_MSE;
    /* <= 0: OpenMP's default team, the one route the command sets --threads by */
    f->threads = o && o->threads > 0 ? o->threads : omp_get_max_threads();
    if (f->threads < 1)
        f->threads = 1;
    f->nparams = bnn_arch_nparams(a);
    f->pstride = round_up16(f->nparams);
    f->maxw = bnn_arch_max_width(a);
    f->k = bnn_kernels();
    /* the narrow path fuses the squared error's delta; the other losses take the GEMM path */
    f->narrow = !force_gemm && f->loss == BNN_LOSS_MSE &&
                bnn_narrow_describe(a, &f->nnet) == 0;
    const size_t asked = o && o->chunk > 0 ? o->chunk : 0;
    if (f->narrow) {
        /* on the narrow path a chunk is the unit of data access and of the in-register
         * gradient sums, so a large one amortises the per-call set-up */
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
    double flops = 0; /* per sample, forward and backward */
    for (int l = 0; l < a->nlayers; l++)
        flops += 6.0 * (double)a->width[l] * (double)a->width[l + 1];
    f->flops = flops;
    /* GEMM path: about 4 MFLOP a shard and at least a chunk. Narrow path: about 1 MFLOP and
     * at least NARROW_MIN_SHARD samples (a shard's set-up there is a few thousand floats of
     * lane partials, so mini-batches of a few hundred samples already pay off on 2 threads) */
    double min_shard = (f->narrow ? 1e6 : 4e6) / flops;
    const double floor_shard = f->narrow ? NARROW_MIN_SHARD : (double)f->chunk;
    f->min_shard = min_shard < floor_shard ? (size_t)floor_shard
                 : min_shard > 65536.0     ? 65536
                                           : (size_t)min_shard;
    /* past FEW_SHARDS shards, shards grow to big_shard samples: each shard pays a set-up
     * that min_shard does not repay well (narrow path: lane partials zeroed and summed, a
     * kernel call per chunk, a fold: 12% more CPU time for W4 at 548-sample shards; GEMM
     * path: the partial zeroed and folded, 2 more passes over it per shard: 5% for W5 at
     * 256-sample shards): a whole narrow chunk, or 4 GEMM chunks */
    const size_t big = f->narrow ? BNN_NARROW_CHUNK_MAX : 4 * f->chunk;
    f->big_shard = big > f->min_shard ? big : f->min_shard;
    f->piece = f->min_shard > PIECE_MIN ? f->min_shard : PIECE_MIN;
    /* split mode: the GEMM path's batches; an explicit chunk asks for the chunked shards at
     * every size (tests of that path) */
    bnn_split_plan(&f->split, a, f->loss, f->threads, f->flops, f->k, !f->narrow && !asked);
    /* a call runs min(threads, shards) threads, and the shards grow with the samples */
    f->nws = f->threads;
}

/* Bytes of one workspace, and of the partials, as bnn_alloc takes them (saturating). */
size_t bnn_fast_workspace_bytes(const bnn_fast_engine *f)
{
    const bnn_arch *a = &f->arch;
    size_t b = bnn_alloc_bytes(f->act_total, sizeof(float));
    b = add_sat(b, bnn_alloc_bytes(bnn_fast_delta_floats(f), sizeof(float)));
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

/* Bytes of the gradient partials for `slots` partials in all (reserve_folds), and one more
 * for a received sum under mpirun. At creation: CREATE_SLOTS per worker. */
size_t bnn_fast_partials_bytes(const bnn_fast_engine *f, size_t slots)
{
    if (bnn_dist_size() > 1)
        slots = add_sat(slots, 1);
    return bnn_alloc_bytes(mul_sat(slots, f->pstride), sizeof(float));
}

size_t bnn_fast_planned_bytes(const bnn_fast_engine *f, size_t slots)
{
    return add_sat(mul_sat((size_t)f->nws, bnn_fast_workspace_bytes(f)),
                   bnn_fast_partials_bytes(f, slots));
}

size_t bnn_fast_create_slots(const bnn_fast_engine *f)
{
    return mul_sat((size_t)f->nws, CREATE_SLOTS);
}

size_t bnn_fast_memory(const bnn_arch *a, int threads)
{
    if (bnn_arch_check(a, NULL) != 0)
        return 0;
    bnn_fast_engine *f = malloc(sizeof *f);
    if (!f)
        return SIZE_MAX;
    bnn_fast_opts o = {.threads = threads, .chunk = 0};
    bnn_fast_plan(f, a, &o);
    size_t bytes = bnn_fast_planned_bytes(f, bnn_fast_create_slots(f));
    free(f);
    return bytes;
}

size_t bnn_fast_whole_max(const bnn_arch *a, int loss, size_t *piece)
{
    *piece = 0;
    if (bnn_arch_check(a, NULL) != 0)
        return 0;
    bnn_fast_engine *f = malloc(sizeof *f);
    if (!f)
        return 0;
    bnn_fast_opts o = {.threads = 1, .chunk = 0, .loss = loss};
    bnn_fast_plan(f, a, &o);
    const size_t pieces_from = 2 * f->piece;
    const size_t max = f->split.max < pieces_from ? f->split.max : pieces_from - 1;
    *piece = f->split.max < pieces_from ? 0 : f->piece;
    free(f);
    return max;
}
