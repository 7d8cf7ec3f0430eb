/*
 * test_split.c - the random validation split (src/data/split.c) and the input
 * standardisation (src/data/scale.c) on an in-memory table: the split's parts are disjoint,
 * cover every sample, keep the row order, hold each class's fair share (largest remainders),
 * are fixed by the seed, and compose with a shuffle; past 2^26 samples it is refused; the statistics are the population mean
 * and deviation (std 1 for a constant input), and chunks come out as (x - mean) / std.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 1000

/* Rows: x0 = row, x1 = 3 (constant), label; classes of 7, 93, 300 and 600 rows, sorted. */
static float rows[N * 3];

static void make(bnn_table *t, bnn_data *d)
{
    for (int r = 0; r < N; r++) {
        rows[r * 3] = (float)r;
        rows[r * 3 + 1] = 3.0f;
        rows[r * 3 + 2] = r < 7 ? 0.0f : r < 100 ? 1.0f : r < 400 ? 2.0f : 3.0f;
    }
    memset(t, 0, sizeof *t);
    t->rows = N;
    t->cols = 3;
    t->f32 = rows;
    t->ld = 3;
    strcpy(t->name, "mem");
    bnn_error e;
    assert_int_equal(bnn_data_make(d, t, NULL, 2, 4, &e), 0);
    assert_true(d->labels);
}

static void test_split_stratified(void **state)
{
    (void)state;
    bnn_table t;
    bnn_data d, tr, va, tr2, va2;
    bnn_error e;
    make(&t, &d);
    uint32_t *idx, *idx2;
    int strat;
    assert_int_equal(bnn_split_random(&d, 0.25, 7, &tr, &va, &idx, &strat, &e), 0);
    assert_true(strat);
    assert_int_equal(va.n, 250);
    assert_int_equal(tr.n, 750);
    char seen[N] = {0};
    size_t per[4] = {0};
    for (size_t i = 0; i < va.n; i++) {
        const size_t r = bnn_shuffle_row(&va, i);
        assert_true(r < N && !seen[r]);
        assert_true(i == 0 || r > bnn_shuffle_row(&va, i - 1)); /* file order */
        seen[r] = 1;
        per[(int)rows[r * 3 + 2]]++;
    }
    for (size_t i = 0; i < tr.n; i++) {
        const size_t r = bnn_shuffle_row(&tr, i);
        assert_true(r < N && !seen[r]);
        assert_true(i == 0 || r > bnn_shuffle_row(&tr, i - 1));
        seen[r] = 1;
    }
    /* floor(0.25 n_c) = 1, 23, 75, 150 (249); the one left goes to remainder 0.75 */
    assert_int_equal(per[0], 2);
    assert_int_equal(per[1], 23);
    assert_int_equal(per[2], 75);
    assert_int_equal(per[3], 150);
    /* the same seed, the same split; another seed, another */
    assert_int_equal(bnn_split_random(&d, 0.25, 7, &tr2, &va2, &idx2, &strat, &e), 0);
    assert_memory_equal(idx, idx2, N * sizeof *idx);
    free(idx2);
    assert_int_equal(bnn_split_random(&d, 0.25, 8, &tr2, &va2, &idx2, &strat, &e), 0);
    assert_true(memcmp(idx, idx2, N * sizeof *idx) != 0);
    free(idx2);
    /* a shuffle of the training part permutes its own rows */
    uint32_t perm[N];
    bnn_data view = tr;
    assert_int_equal(bnn_shuffle_view(&view, perm, 7, 0, &e), 0);
    char seen2[N] = {0};
    for (size_t i = 0; i < view.n; i++) {
        const size_t r = bnn_shuffle_row(&view, i);
        assert_true(r < N && !seen2[r] && seen[r]);
        seen2[r] = 1;
        float x[6], y[4];
        bnn_chunk c;
        assert_int_equal(bnn_data_chunk(&view, i, 1, x, y, &c, &e), 0);
        assert_true(c.x[0] == (float)r);
        assert_true(c.y[(int)rows[r * 3 + 2]] == 1.0f);
    }
    free(idx);
    /* too small a fraction: an error, not an empty part */
    assert_int_equal(bnn_split_random(&d, 0.0001, 7, &tr, &va, &idx, &strat, &e), -1);
    assert_non_null(strstr(e.msg, "leaves 0 for validation"));
}

static int zeros(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                 float *out, size_t ldo, bnn_error *e)
{
    (void)t, (void)row0, (void)col0, (void)e;
    for (size_t r = 0; r < nrows; r++)
        memset(out + r * ldo, 0, ncols * sizeof *out);
    return 0;
}

/* Past 2^26 samples the random split is refused before allocating anything. */
static void test_split_too_large(void **state)
{
    (void)state;
    bnn_table t;
    memset(&t, 0, sizeof t);
    t.rows = BNN_SHUFFLE_FULL_MAX + 1;
    t.cols = 2;
    t.read = zeros;
    strcpy(t.name, "zeros");
    bnn_data d, tr, va;
    bnn_error e;
    uint32_t *idx = (uint32_t *)&t; /* must come back NULL */
    int strat = 1;
    assert_int_equal(bnn_data_make(&d, &t, NULL, 1, 1, &e), 0);
    assert_int_equal(bnn_split_random(&d, 0.1, 1, &tr, &va, &idx, &strat, &e), -1);
    assert_null(idx);
    assert_non_null(strstr(e.msg, "more than the 2^26 a random split holds"));
    assert_non_null(strstr(e.msg, "tail:F"));
}

static void test_standardize(void **state)
{
    (void)state;
    bnn_table t;
    bnn_data d;
    bnn_error e;
    make(&t, &d);
    float mean[2], sd[2];
    assert_int_equal(bnn_data_scale_stats(&d, mean, sd, &e), 0);
    /* 0..999: mean 499.5, population variance (N^2 - 1) / 12 */
    assert_true(mean[0] == 499.5f);
    assert_true(fabsf(sd[0] - (float)sqrt((N * (double)N - 1) / 12.0)) <= 1e-4f);
    assert_true(mean[1] == 3.0f && sd[1] == 1.0f); /* constant: std 1 */
    d.in_mean = mean;
    d.in_std = sd;
    float x[10 * 6], y[10 * 4];
    bnn_chunk c;
    assert_int_equal(bnn_data_chunk(&d, 100, 10, x, y, &c, &e), 0);
    for (int i = 0; i < 10; i++) {
        assert_true(c.x[i * c.ldx] == ((float)(100 + i) - mean[0]) / sd[0]);
        assert_true(c.x[i * c.ldx + 1] == 0.0f);
        assert_true(c.y[i * c.ldy + 2] == 1.0f); /* targets untouched (class 2) */
    }
    assert_true(rows[100 * 3] == 100.0f); /* the direct table is never written */
    double xs[2], ys[4];
    assert_int_equal(bnn_data_sample(&d, 5, xs, ys, &e), 0);
    assert_true(fabs(xs[0] - (5.0 - mean[0]) / sd[0]) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_stratified),
        cmocka_unit_test(test_split_too_large),
        cmocka_unit_test(test_standardize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
