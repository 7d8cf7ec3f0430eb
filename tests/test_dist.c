/*
 * test_dist.c - the reduction order of the gradient partials (src/dist/dist.c), in one
 * process: the tree's split rule, the tree sum against a recursion written here from the
 * documented rule, an example where the tree and a left fold differ (so the order is really
 * the tree's), and the shards each rank owns. The sums across real ranks are checked end to
 * end by tests/mpi_test.sh (cmp against one process).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "dist/tree.h"
#include "testutil.h"

/* y += alpha x, plainly (alpha is always 1 here: y + x, one rounding) */
static void plain_axpy(float *y, const float *x, size_t n, float alpha)
{
    for (size_t i = 0; i < n; i++)
        y[i] = y[i] + alpha * x[i];
}

/* The documented rule, independently: sum(lo, hi) = p[lo] for one shard, else
 * sum(lo, lo + P) + sum(lo + P, hi), P the largest power of two below hi - lo. */
static void check_sum(const float *p, size_t stride, size_t n, int lo, int hi, float *out)
{
    if (hi - lo == 1) {
        memcpy(out, p + (size_t)lo * stride, n * sizeof *out);
        return;
    }
    int pw = 1;
    while (pw * 2 < hi - lo)
        pw *= 2;
    float *l = malloc(n * sizeof *l), *r = malloc(n * sizeof *r);
    assert_non_null(l);
    assert_non_null(r);
    check_sum(p, stride, n, lo, lo + pw, l);
    check_sum(p, stride, n, lo + pw, hi, r);
    for (size_t i = 0; i < n; i++)
        out[i] = l[i] + r[i];
    free(l);
    free(r);
}

static void test_mid(void **state)
{
    (void)state;
    for (int lo = 0; lo < 5; lo++)
        for (int len = 2; len <= 64; len++) {
            const int half = bnn_dist_tree_mid(lo, lo + len) - lo;
            assert_true(half >= 1 && half < len);
            assert_true((half & (half - 1)) == 0); /* a power of two */
            assert_true(2 * half >= len);          /* the largest below len */
        }
}

static void test_tree_matches_rule(void **state)
{
    (void)state;
    const size_t n = 37, stride = 48;
    const bnn_kernel_table *k = bnn_kernels();
    bnn_axpy_fn fns[2] = {plain_axpy, k->axpy};
    double *v = malloc(32 * stride * sizeof *v);
    float *p = malloc(32 * stride * sizeof *p), *work = malloc(32 * stride * sizeof *work);
    float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    assert_true(v && p && work && got && want);
    for (int shards = 1; shards <= 32; shards++)
        for (int f = 0; f < 2; f++) {
            /* values of very different sizes, so that the association shows in the bits */
            bnn_test_fill(v, 32 * stride, -1.0, 1.0, 1000 + (uint64_t)shards);
            for (size_t i = 0; i < 32 * stride; i++)
                p[i] = (float)(v[i] * pow(10.0, (double)(i % 7)));
            memcpy(work, p, 32 * stride * sizeof *p);
            memset(got, 0xff, n * sizeof *got);
            const int msgs = bnn_dist_tree_sum_as(work, stride, n, shards, 1, 0, fns[f], got);
            assert_int_equal(msgs, 0);
            check_sum(p, stride, n, 0, shards, want);
            assert_memory_equal(got, want, n * sizeof *got);
        }
    free(v);
    free(p);
    free(work);
    free(got);
    free(want);
}

/* Four partials whose tree sum (p0 + p1) + (p2 + p3) and left fold ((p0 + p1) + p2) + p3
 * differ in float32: 1 + 1e8 rounds to 1e8, and 1e8 - 1e8 is exact. */
static void test_tree_not_fold(void **state)
{
    (void)state;
    float p[4] = {1.0f, 1e8f, -1e8f, 1.0f}, got = -1.0f;
    const float fold = ((p[0] + p[1]) + p[2]) + p[3];
    bnn_dist_tree_sum_as(p, 1, 1, 4, 1, 0, plain_axpy, &got);
    assert_true(got == 0.0f);
    assert_true(fold == 1.0f);
}

static void test_ranks_own_contiguous_shards(void **state)
{
    (void)state;
    for (int shards = 1; shards <= 32; shards++)
        for (int ranks = 1; ranks <= 40; ranks++) {
            int next = 0;
            for (int r = 0; r < ranks; r++) {
                int lo, hi;
                bnn_dist_range_of(shards, ranks, r, &lo, &hi);
                assert_int_equal(lo, next); /* contiguous, in rank order */
                assert_true(hi >= lo);
                assert_int_equal(lo, (int)((long long)r * shards / ranks));
                for (int s = lo; s < hi; s++)
                    assert_int_equal(bnn_dist_owner_of(shards, ranks, s), r);
                next = hi;
            }
            assert_int_equal(next, shards);
        }
    /* one process: every shard is its own */
    int lo, hi;
    assert_int_equal(bnn_dist_size(), 1);
    bnn_dist_range(7, &lo, &hi);
    assert_true(lo == 0 && hi == 7);
}

/* Messages of one reduction: one per tree node whose right half starts on another rank than
 * its left half; K - 1 in all when the ranks' boundaries fall on the tree's (K a power of two
 * dividing S), at least (ranks holding shards) - 1 always (each must reach the root). */
static void test_message_count(void **state)
{
    (void)state;
    for (int ranks = 1; ranks <= 32; ranks *= 2)
        assert_int_equal(bnn_dist_tree_messages(32, ranks), ranks - 1);
    assert_int_equal(bnn_dist_tree_messages(16, 4), 3);
    for (int shards = 1; shards <= 32; shards++)
        for (int ranks = 1; ranks <= 40; ranks++) {
            int holding = 0;
            for (int r = 0; r < ranks; r++) {
                int lo, hi;
                bnn_dist_range_of(shards, ranks, r, &lo, &hi);
                holding += hi > lo;
            }
            const int m = bnn_dist_tree_messages(shards, ranks);
            assert_true(m >= holding - 1);
            assert_true(m <= shards - 1); /* at most one per internal node */
        }
    /* K = 3 over 32 shards: ranks own [0,10) [10,21) [21,32); the nodes whose halves start on
     * different ranks are (8,12), (8,16), (0,32) (rank 1 to 0) and (20,22), (20,24), (16,32)
     * (rank 2 to 1), worked out by hand */
    assert_int_equal(bnn_dist_tree_messages(32, 3), 6);
}

static int ceil_log2(int s)
{
    int l = 0;
    while ((1 << l) < s)
        l++;
    return l;
}

/* The workers' folds: [0, S) cut into W contiguous ranges (bnn_tree_split), each folded
 * shard by shard in a stack of exactly bnn_tree_need entries (plus a canary entry that must
 * stay untouched), the ranges' nodes then folded on in order: bitwise the recursion, and one
 * node [0, S) left. Values of very different sizes, so the association shows in the bits. */
static void fold_case(int shards, int workers, size_t n, const float *p, float *work,
                      float *want)
{
    const size_t stride = n;
    memcpy(work, p, (size_t)shards * stride * sizeof *p);
    bnn_tree_part *all = malloc((size_t)(2 * ceil_log2(shards) + 2) * (size_t)workers *
                                sizeof *all);
    assert_non_null(all);
    int nall = 0;
    for (int t = 0; t < workers; t++) {
        int a, b;
        bnn_tree_split(0, shards, workers, t, &a, &b);
        const int need = bnn_tree_need(shards, a, b);
        assert_true(need <= 2 * ceil_log2(shards) + 1);
        assert_true(b - a == 0 || need >= 1);
        bnn_tree_part *st = malloc((size_t)(need + 1) * sizeof *st);
        assert_non_null(st);
        st[need] = (bnn_tree_part){-7, -7, NULL}; /* the canary */
        bnn_tree_fold f = {shards, n, plain_axpy, 0, st};
        int most = 0;
        for (int s = a; s < b; s++) {
            assert_true(f.depth < need);
            bnn_tree_push(&f, s, s + 1, work + (size_t)s * stride);
            most = f.depth > most ? f.depth : most;
        }
        assert_true(st[need].lo == -7 && st[need].hi == -7 && st[need].p == NULL);
        assert_true(most <= need);
        for (int i = 0; i < f.depth; i++) {
            assert_true(bnn_tree_is_node(shards, st[i].lo, st[i].hi));
            all[nall++] = st[i];
        }
        free(st);
    }
    bnn_tree_part *m = malloc((size_t)(nall > 0 ? nall : 1) * sizeof *m);
    assert_non_null(m);
    bnn_tree_fold f = {shards, n, plain_axpy, 0, m};
    for (int i = 0; i < nall; i++)
        bnn_tree_push(&f, all[i].lo, all[i].hi, all[i].p);
    assert_int_equal(f.depth, 1);
    assert_int_equal(m[0].lo, 0);
    assert_int_equal(m[0].hi, shards);
    if (memcmp(m[0].p, want, n * sizeof *want) != 0) {
        print_error("S %d, %d workers: the fold differs from the tree\n", shards, workers);
        fail();
    }
    free(m);
    free(all);
}

static void test_fold_matches_tree(void **state)
{
    (void)state;
    static const int sizes[] = {1, 2, 3, 5, 33, 100, 1000, 2047, 2048, 3001, 4097};
    static const int workers[] = {1, 2, 3, 4, 7, 36};
    const size_t n = 5;
    const int most = 4097;
    double *v = malloc((size_t)most * n * sizeof *v);
    float *p = malloc((size_t)most * n * sizeof *p), *work = malloc((size_t)most * n * sizeof *p);
    float *want = malloc(n * sizeof *want);
    assert_true(v && p && work && want);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int S = sizes[i];
        bnn_test_fill(v, (size_t)S * n, -1.0, 1.0, 500 + (uint64_t)S);
        for (size_t j = 0; j < (size_t)S * n; j++)
            p[j] = (float)(v[j] * pow(10.0, (double)(j % 9)));
        check_sum(p, n, n, 0, S, want);
        for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++)
            if (workers[w] <= S)
                fold_case(S, workers[w], n, p, work, want);
    }
    free(v);
    free(p);
    free(work);
    free(want);
}

/* Memory per worker: bnn_tree_need of any worker's range stays within 2 log2 S + 1 buffers
 * (and is log2 S + 1 or more for one worker over S = 2^k shards: the left spine) */
static void test_fold_memory(void **state)
{
    (void)state;
    static const int sizes[] = {1, 7, 64, 1000, 65536, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int S = sizes[i];
        for (int w = 1; w <= 5; w += 2) {
            for (int t = 0; t < w && w <= S; t++) {
                int a, b;
                bnn_tree_split(0, S, w, t, &a, &b);
                const int need = bnn_tree_need(S, a, b);
                if (need > 2 * ceil_log2(S) + 1) {
                    print_error("S %d, worker %d of %d: %d buffers\n", S, t, w, need);
                    fail();
                }
            }
        }
    }
    assert_int_equal(bnn_tree_need(64, 0, 64), 7);
    assert_int_equal(bnn_tree_need(1, 0, 1), 1);
    assert_int_equal(bnn_tree_need(10, 3, 3), 0);
}

int main(void)
{
    bnn_test_require_isa(); /* the path of BATCHNN_ISA (the library reads no environment) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mid),
        cmocka_unit_test(test_tree_matches_rule),
        cmocka_unit_test(test_tree_not_fold),
        cmocka_unit_test(test_ranks_own_contiguous_shards),
        cmocka_unit_test(test_message_count),
        cmocka_unit_test(test_fold_matches_tree),
        cmocka_unit_test(test_fold_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
