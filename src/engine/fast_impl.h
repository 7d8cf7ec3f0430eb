/*
 * fast_impl.h - what the fast engine's files share (fast.c: creation, the jobs and their
 * shards; fast_plan.c: the plan, chunk sizes and memory): the engine's struct, one thread's
 * workspace, and the plan's functions. Private to src/engine.
 */
#ifndef BNN_ENGINE_FAST_IMPL_H
#define BNN_ENGINE_FAST_IMPL_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/engines.h"
#include "bnn_kernels.h"
#include "bnn_narrow.h"
#include "dist/tree.h"
#include "split.h"

/* Shards of one call at most: only so that shard indices stay ints (a call of more than
 * 2^30 x min_shard samples is refused); no memory or thread count caps the shard count. */
#define SHARDS_MAX (1 << 30)
/* Shards of min_shard samples a call gets at most before they grow to big_shard
 * (shard_count in fast.c). */
#define FEW_SHARDS 32
/* Mini-batch pieces (fast.c, piece_count): a GEMM-path mini-batch of at least 2 pieces is cut
 * into pieces of at least max(PIECE_MIN, min_shard) samples, computed like shards (and so by
 * every rank in turn); a smaller one is computed whole (split mode) by every rank. */
#define PIECE_MIN 256
/* Steals a worker makes at most in one call (fast.c, run), and the bytes of gradient partials
 * a worker may hold for more than one stolen run (else one, as large as its own stack). */
#define STEALS_MAX 4
#define STEAL_STACKS_BYTES ((size_t)8 << 20)
/* Gradient partials per worker that bnn_fast_create plans for (fast_plan.c). */
#define CREATE_SLOTS 2

/* A worker's claim on the shards it has still to take, [next, end) packed in one word
 * (next in the low half) on a cache line of its own (run in fast.c: the owner takes next, a
 * worker that has run out takes the back half of another's by lowering end). */
typedef struct claim_word {
    _Atomic uint64_t v;
    char pad[64 - sizeof(uint64_t)];
} claim_word;

typedef struct workspace {
    float *nacc;  /* narrow path: lane-wise gradient partials, nparams * narrow_lanes */
    float *nwork; /* narrow path: one block's activations and deltas */
    float *acts;  /* A_1..A_m, each width[l] x chunk, column-major, ld = width[l] */
    float *delta; /* two buffers of maxwidth x chunk */
    float *xbuf;  /* (nin + nout) x chunk when the data is not direct float32 (data.c) */
    float *ybuf;  /* nout x chunk */
} workspace;

struct bnn_fast_engine {
    bnn_arch arch;
    int loss; /* bnn_loss */
    int threads;
    size_t chunk;
    size_t nparams;
    size_t act_off[BNN_MAX_LAYERS + 1]; /* offset of A_l in acts (l >= 1), in floats */
    size_t act_total;
    int64_t maxw;
    int nws;             /* workspaces: one per thread */
    workspace *ws;       /* one per running thread */
    size_t pstride;      /* nparams rounded up to 16 floats (64 bytes) */
    size_t min_shard;    /* samples per shard (the last ones of a call may have one less) */
    size_t big_shard;    /* past FEW_SHARDS shards: samples per shard (shard_count) */
    size_t piece;        /* mini-batch pieces: samples per piece at least (piece_count) */
    /* the gradient partials of the workers' folds (reserve_folds): worker t's stack is
     * slots slot0[t] .. slot0[t + 1] - 1, each pstride floats; laid out for the call of
     * lay_shards shards over this rank's [lay_lo, lay_hi) in lay_workers workers */
    float *partials;
    size_t pslots;            /* slots allocated */
    int *slot0, *depth;       /* threads + 1 and threads entries */
    /* work stealing (run): a worker that runs out of its own shards takes the back half of
     * another's remaining ones, up to STEALS_MAX times a call; in a gradient call each
     * stolen run is folded on a stack of its own, nsteal stacks of scap[t] slots after the
     * worker's own in slot0[t] .. slot0[t + 1] - 1 (nsteal 0: none reserved, gradient calls
     * do not steal), sdepth[t * STEALS_MAX + k] the entries of its k-th. claim: threads
     * words; stolen: shards taken so in the last call; test_hold: tests only
     * (bnn_fast_test_hold) */
    int *scap, *sdepth, nsteal;
    claim_word *claim;
    _Atomic int settled;
    int stolen, test_hold;
    bnn_tree_part *stack;     /* pslots entries: the workers' stacks, then nothing else */
    bnn_tree_part *merged;    /* pslots entries: this rank's fold of the workers' nodes */
    float *recv;              /* under mpirun: a received node sum (pstride floats) */
    int lay_shards, lay_lo, lay_hi, lay_workers;
    double *vals;             /* per shard: summed loss, correct decisions (2 S doubles) */
    size_t *bounds;           /* S + 1 sample offsets (predictions gathered by rank) */
    size_t vals_cap;          /* shards vals and bounds hold */
    /* the element-wise kernels and the narrow path, one ISA, fixed at creation */
    const bnn_kernel_table *k;
    /* split mode (GEMM path, gradients of batches of at most split.max samples: split.c) */
    bnn_split split;
    /* the choice of team for small jobs (pick_team): few shards */
    team_clock shard_clock;
    double flops; /* per sample, forward and backward (TEAM_MIN_FLOP) */
    /* the narrow fused path, when the net qualifies */
    int narrow;
    bnn_narrow_net nnet;
};

/* fast_plan.c: everything bnn_fast_create decides before allocating (f is filled except for
 * ws and partials; a must have been checked), and the bytes and floats it allocates. */
void bnn_fast_plan(bnn_fast_engine *f, const bnn_arch *a, const bnn_fast_opts *o);
size_t bnn_fast_delta_floats(const bnn_fast_engine *f);
size_t bnn_fast_workspace_bytes(const bnn_fast_engine *f);
size_t bnn_fast_partials_bytes(const bnn_fast_engine *f, size_t slots);
size_t bnn_fast_planned_bytes(const bnn_fast_engine *f, size_t slots);
size_t bnn_fast_create_slots(const bnn_fast_engine *f);

/* fast_folds.c: claims, stealing, the folds' stacks and their reduction (fast.c, run). */
uint64_t bnn_claim_pack(int next, int end);
int bnn_claim_one(claim_word *c);
int bnn_claim_steal(claim_word *claim, int workers, int me, int shards, int cap, int *end);
int bnn_fast_reserve_vals(bnn_fast_engine *f, int shards, bnn_error *e);
int bnn_fast_steal_base(const bnn_fast_engine *f, int t, int k);
int bnn_fast_reserve_folds(bnn_fast_engine *f, int shards, int lo, int hi, int workers,
                           bnn_error *e);
int bnn_fast_reduce_folds(bnn_fast_engine *f, const bnn_kernel_table *k, int shards, int lo,
                          int hi, int workers, float *g, bnn_error *e);

#endif
