/* bnn_dist.h - the dist layer (src/dist/dist.c): many processes, every MPI call; without MPI
 * one rank. Below the engines, which sum their gradient partials through bnn_dist_tree_sum
 * (the engines call down into dist; dist calls no engine: the sum's axpy is passed in).
 * Above io (bnn_dist_init shares the .npy reader's scan through bnn_npy_split) and data;
 * includes nothing above.
 */
#ifndef BNN_DIST_H
#define BNN_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "data/bnn_data.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif


typedef void (*bnn_axpy_fn)(float *y, const float *x, size_t n, float alpha);
int bnn_dist_built(void);    /* 1 when built with MPI */
int bnn_dist_launched(void); /* 1 when started by mpirun (its environment) */
/* Before bnn_dist_init: 1 when the user named this process's CPU path (the ranks then refuse
 * to move it to another, instead of taking the lowest path any rank has). */
void bnn_dist_set_isa_named(int named);
/* MPI_Init_thread(FUNNELED) when launched by mpirun, else nothing: 0 or -1. */
int bnn_dist_init(bnn_error *e);
/* After bnn_dist_init, on rank 0: a note for the user (the CPU path every rank was moved to),
 * or NULL. */
const char *bnn_dist_note(void);
/* Collective (every rank calls it, before bnn_dist_finalize): on rank 0 the statistics line
 * "mpi: ranks K threads T steps N reduce_s X per_step_us Y msgs_per_step M bytes_per_step B
 * params P shards S cpu_s_min C0 cpu_s_median C1 cpu_s_max C2" written into buf (returned);
 * NULL on the other ranks. C0..C2: the ranks' CPU times so far (user + system, getrusage),
 * least, median and most: whether every rank did its share. */
const char *bnn_dist_stats(char *buf, size_t len);
/* MPI_Finalize (once; nothing when MPI is not running). */
void bnn_dist_finalize(void);
int bnn_dist_rank(void);
int bnn_dist_size(void);
/* 1 once bnn_dist_agree has returned an error: every rank holds the same message. */
int bnn_dist_error_agreed(void);
const char *bnn_dist_library(char *buf, size_t len);
/* The shards [lo, hi) of rank r of `ranks` (this rank: bnn_dist_range), and the rank owning
 * shard s: rank r owns [floor(r S / K), floor((r + 1) S / K)). */
void bnn_dist_range_of(int shards, int ranks, int r, int *lo, int *hi);
void bnn_dist_range(int shards, int *lo, int *hi);
int bnn_dist_owner_of(int shards, int ranks, int s);
/* The reduction tree's split of [lo, hi): lo + the largest power of two < hi - lo. */
int bnn_dist_tree_mid(int lo, int hi);
/* The gradient's sum along the tree, folded by workers: src/dist/tree.h. */
/* The tree over one partial per shard (p[s] = partials + s stride, this rank's filled) folded
 * as rank `me` of `ranks` without communication (tests): out (when me owns shard 0) gets the
 * root. Returns the messages rank me would send. */
int bnn_dist_tree_sum_as(float *partials, size_t stride, size_t n, int shards, int ranks,
                         int me, bnn_axpy_fn axpy, float *out);
/* Point-to-point messages of one reduction over `ranks` ranks, all ranks together (without
 * the broadcast of the result): one per tree node whose halves start on different ranks. */
int bnn_dist_tree_messages(int shards, int ranks);
void bnn_dist_note_threads(int threads); /* for the statistics line */
/* 0 when no rank failed; else -1 on every rank, e holding the lowest failing rank's message
 * prefixed "rank R: " (K > 1). */
int bnn_dist_agree(int failed, bnn_error *e);
/* bnn_dist_agree at a training step, in the same one collective: *stop (when stop is not
 * NULL) becomes the largest of every rank's *stop, and so all ranks stop at the same step.
 * bnn_dist_stopped: the largest stop value agreed so far (0: none). */
int bnn_dist_agree_step(int failed, int *stop, bnn_error *e);
int bnn_dist_stopped(void);
/* Every rank stopped on a signal, together: they leave with the same status, and
 * bnn_dist_finalize waits for all (rank 0's outputs written) but skips MPI_Finalize, which
 * would wait for mpirun, then tearing the job down, until it kills the ranks. */
void bnn_dist_leave_stopped(void);
/* The error just made is every rank's, the same (it follows from values all ranks hold
 * bitwise, e.g. a divergence): printed once, by rank 0, and every rank leaves cleanly. */
void bnn_dist_same_error(void);
int bnn_dist_max_int(int v); /* the largest v of all ranks */
/* Every rank's n <= 8 values compared with rank 0's (an allgather): returns how many ranks
 * hold others (0 with one rank; -1 out of memory, this rank alone), their numbers in ranks[]
 * (at most max), rank 0's values in zero[] and the first such rank's in other[]. Every rank
 * gets the same answer. */
int bnn_dist_differ(const uint64_t *mine, int n, uint64_t *zero, uint64_t *other, int *ranks,
                    int max);
/* v[s * per .. s * per + per - 1] of every shard s to every rank (each rank gives its own). */
void bnn_dist_gather_shards(double *v, int per, int shards);
int bnn_dist_bcast(void *buf, size_t bytes, int root, bnn_error *e);
/* Rows [bounds[s], bounds[s + 1]) of each shard s, row_floats floats each, to rank 0's rows. */
int bnn_dist_gather_rows(float *rows, size_t row_floats, const size_t *bounds, int shards,
                         bnn_error *e);

#ifdef __cplusplus
}
#endif
#endif /* BNN_DIST_H */
