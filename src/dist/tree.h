/*
 * tree.h - the fixed reduction tree over shard indices, folded by workers that each own a
 * contiguous range of shards (src/dist/tree.c). Private to the engine (src/engine/fast.c)
 * and the ranks' exchange (src/dist/dist.c); the tests use it too.
 *
 * The tree over shards [0, S): sum(lo, hi) = p[lo] when hi - lo == 1, else sum(lo, mid) +
 * sum(mid, hi), mid = lo + the largest power of two < hi - lo (bnn_dist_tree_mid). A fold is
 * a stack of tree nodes with their sums: a worker pushes its shards in order and, whenever
 * the two top entries are the two children of one tree node, adds the right one into the
 * left one (exactly the tree's addition for that node). What remains are the maximal tree
 * nodes inside the pushed range, in order; pushing those of the next range (another thread,
 * another rank's received sums) continues the same tree. So the sum is bitwise the tree's
 * whoever folded what, and a worker holds O(log S) sums at once, never one per shard.
 */
#ifndef BNN_DIST_TREE_H
#define BNN_DIST_TREE_H

#include <stddef.h>

#include "dist/bnn_dist.h"

typedef struct bnn_tree_part {
    int lo, hi; /* the tree node [lo, hi) */
    float *p;   /* its sum, n floats */
} bnn_tree_part;

typedef struct bnn_tree_fold {
    int shards;
    size_t n;
    bnn_axpy_fn axpy;
    int depth;        /* entries in use */
    bnn_tree_part *e; /* the stack, as many entries as the caller allows (bnn_tree_need) */
} bnn_tree_fold;

/* 1 when [lo, hi) is a node of the tree over [0, shards). */
int bnn_tree_is_node(int shards, int lo, int hi);
/* Push the node [lo, hi) whose sum is in p, then fold: while the two top entries are the
 * children of a node, top-1 += top (into top-1's buffer) and the node replaces them. */
void bnn_tree_push(bnn_tree_fold *f, int lo, int hi, float *p);
/* The most entries a fold of the shards [lo, hi) one by one holds at once (0 when empty):
 * the buffers a worker owning that range needs. At most 2 ceil(log2 S) + 1. */
int bnn_tree_need(int shards, int lo, int hi);
/* The part of worker t of `workers` sharing the shards [lo, hi): [*a, *b), contiguous, in
 * order, the counts differing by at most one. */
void bnn_tree_split(int lo, int hi, int workers, int t, int *a, int *b);

/* The ranks' part (src/dist/dist.c). The gradient: out = the sum along the tree of every
 * rank's maximal nodes (mine: this rank's, in order, folded over its shard range
 * bnn_dist_range), on every rank, bitwise the same for any number of ranks. Sums of nodes
 * that span ranks go into the buffers of mine; recv (n floats) takes a received sum (NULL in
 * one process). */
int bnn_dist_tree_sum_parts(const bnn_tree_part *mine, int nmine, int shards, size_t n,
                            bnn_axpy_fn axpy, float *recv, float *out, bnn_error *e);
/* The same walk as rank `me` of `ranks` without communication (tests, and the local part of
 * bnn_dist_tree_sum_parts): out (when me owns shard 0) gets the root. Returns the messages
 * rank me would send. */
int bnn_dist_tree_walk_as(const bnn_tree_part *mine, int nmine, int shards, int ranks, int me,
                          size_t n, bnn_axpy_fn axpy, float *recv, float *out);

#endif
