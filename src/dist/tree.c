/*
 * tree.c - folding the fixed reduction tree over shard indices (tree.h says the rule). No MPI
 * and no threads here: plain functions on index ranges and float buffers, shared by the fast
 * engine's workers, the ranks' exchange in dist.c and the tests.
 *
 * Why a fold: a shard's partial gradient is parameter-sized, and the shard count grows with
 * the samples (src/engine/fast.c), so keeping one partial per shard until the end would cost
 * O(S) memory. A worker folding its shards in order holds only the tree nodes still waiting
 * for a right sibling plus the maximal nodes of its range: O(log S).
 */
#include "dist/tree.h"

int bnn_tree_is_node(int shards, int lo, int hi)
{
    int a = 0, b = shards;
    if (lo < 0 || hi > shards || lo >= hi)
        return 0;
    while (b - a > 1 && !(a == lo && b == hi)) {
        const int mid = bnn_dist_tree_mid(a, b);
        if (hi <= mid)
            b = mid;
        else if (lo >= mid)
            a = mid;
        else
            return 0; /* [lo, hi) straddles a split the tree makes */
    }
    return a == lo && b == hi;
}

/* Whether entries x (left) and y (right) are the two children of one node. */
static int siblings(int shards, const bnn_tree_part *x, const bnn_tree_part *y)
{
    return x->hi == y->lo && bnn_dist_tree_mid(x->lo, y->hi) == y->lo &&
           bnn_tree_is_node(shards, x->lo, y->hi);
}

void bnn_tree_push(bnn_tree_fold *f, int lo, int hi, float *p)
{
    f->e[f->depth++] = (bnn_tree_part){lo, hi, p};
    while (f->depth >= 2 && siblings(f->shards, &f->e[f->depth - 2], &f->e[f->depth - 1])) {
        bnn_tree_part *l = &f->e[f->depth - 2];
        const bnn_tree_part *r = &f->e[f->depth - 1];
        f->axpy(l->p, r->p, f->n, 1.0f);
        l->hi = r->hi;
        f->depth--;
    }
}

int bnn_tree_need(int shards, int lo, int hi)
{
    /* the same fold on index ranges only; 64 entries hold any int shard count's 2 log2 S + 1 */
    bnn_tree_part st[64];
    int depth = 0, most = 0;
    for (int s = lo; s < hi; s++) {
        st[depth++] = (bnn_tree_part){s, s + 1, NULL};
        most = depth > most ? depth : most;
        while (depth >= 2 && siblings(shards, &st[depth - 2], &st[depth - 1])) {
            st[depth - 2].hi = st[depth - 1].hi;
            depth--;
        }
    }
    return most;
}

void bnn_tree_split(int lo, int hi, int workers, int t, int *a, int *b)
{
    const long long n = hi - lo;
    *a = lo + (int)(n * t / workers);
    *b = lo + (int)(n * (t + 1) / workers);
}
