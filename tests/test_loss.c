/*
 * test_loss.c - the classification losses' fused kernels (cross-entropy on a softmax, binary
 * cross-entropy on logits), per CPU path, against double precision, like the sigmoid: random
 * columns of widths 1..33 (ld larger than the rows), one-hot and probability targets, logits
 * up to +-1e4 (log-sum-exp must not overflow), +-88..+-104, +-0, equal logits. Tolerances:
 * the summed loss of a block relative 2e-6 (floor 1e-6 per column); the delta relative
 * 1e-6 * max(rows, 4) with the floor scale (so absolute 1e-6 * rows * scale for its small
 * entries); the count of correct decisions exact. Also the engines: the fast
 * engine's gradient and cost against the reference engine's for each loss, on the GEMM path.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "testutil.h"

/* The double oracle of one column: loss, delta and correct decisions. */
static double oracle_column(int loss, const double *z, const double *y, size_t k, double scale,
                            double *d, double *correct)
{
    double total = 0.0;
    if (loss == BNN_LOSS_CE) {
        double mx = z[0], s = 0.0, sy = 0.0;
        size_t am = 0, ym = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > mx) {
                mx = z[j];
                am = j;
            }
        for (size_t j = 0; j < k; j++) {
            s += exp(z[j] - mx);
            sy += y[j];
            if (y[j] > y[ym])
                ym = j;
        }
        const double lse = mx + log(s);
        for (size_t j = 0; j < k; j++) {
            total += y[j] * (lse - z[j]);
            d[j] = scale * (exp(z[j] - lse) * sy - y[j]);
        }
        *correct += am == ym;
        return total;
    }
    for (size_t j = 0; j < k; j++) {
        total += (z[j] > 0 ? z[j] : 0) - z[j] * y[j] + log1p(exp(-fabs(z[j])));
        d[j] = scale * (1.0 / (1.0 + exp(-z[j])) - y[j]);
        *correct += (z[j] > 0) == (y[j] > 0.5);
    }
    return total;
}

static void check_block(int loss, size_t rows, size_t cols, int kind, uint64_t seed)
{
    const size_t ld = rows + 3;
    float *z = calloc(ld * cols, sizeof *z), *y = calloc(ld * cols, sizeof *y);
    float *d = calloc(ld * cols, sizeof *d);
    double *zd = malloc(rows * sizeof *zd), *yd = malloc(rows * sizeof *yd);
    double *dd = malloc(rows * cols * sizeof *dd), *dg = malloc(rows * cols * sizeof *dg);
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    static const float special[] = {0.0f, -0.0f, 88.0f, -88.0f, 104.0f, -104.0f, 1e4f, -1e4f,
                                    30.0f, -30.0f, 1e-30f, 87.5f};
    for (size_t c = 0; c < cols; c++) {
        size_t cls = (size_t)(bnn_rng_uniform(&r) * (double)rows);
        double ysum = 0;
        for (size_t j = 0; j < rows; j++) {
            float v = (float)(8 * bnn_rng_uniform(&r) - 4);
            if (kind == 1)
                v = special[(c + j) % (sizeof special / sizeof special[0])];
            if (kind == 2)
                v = 1.5f; /* equal logits: argmax is the first */
            z[c * ld + j] = v;
            float t;
            if (loss == BNN_LOSS_CE)
                t = c % 2 ? (j == cls ? 1.0f : 0.0f) : (float)bnn_rng_uniform(&r);
            else
                t = c % 2 ? (bnn_rng_uniform(&r) < 0.5 ? 1.0f : 0.0f) : (float)bnn_rng_uniform(&r);
            y[c * ld + j] = t;
            ysum += t;
        }
        (void)ysum;
    }
    const float scale = 1.0f / (float)cols;
    double want = 0.0, want_correct = 0.0, got_correct = 0.0;
    for (size_t c = 0; c < cols; c++) {
        for (size_t j = 0; j < rows; j++) {
            zd[j] = z[c * ld + j];
            yd[j] = y[c * ld + j];
        }
        want += oracle_column(loss, zd, yd, rows, scale, dd + c * rows, &want_correct);
    }
    const bnn_kernel_table *k = bnn_kernels();
    double got = k->loss_delta(d, ld, z, ld, y, ld, rows, cols, scale, loss, &got_correct);
    for (size_t c = 0; c < cols; c++)
        for (size_t j = 0; j < rows; j++)
            dg[c * rows + j] = d[c * ld + j];
    char what[200];
    snprintf(what, sizeof what, "%s loss, %zu x %zu, kind %d [%s]",
             loss == BNN_LOSS_CE ? "cross-entropy" : "bce", rows, cols, kind, k->isa);
    /* the summed loss: relative 2e-6 (float terms, double sums) */
    bnn_test_assert_close(what, &got, &want, 1, 2e-6, 1e-6 * (double)cols);
    /* the delta: absolute 4e-7 * scale (entries are differences of numbers in [0, 1], and
     * probability-target sums up to the column's rows) */
    snprintf(what, sizeof what, "%s delta, %zu x %zu, kind %d [%s]",
             loss == BNN_LOSS_CE ? "cross-entropy" : "bce", rows, cols, kind, k->isa);
    bnn_test_assert_close(what, dg, dd, rows * cols, 1e-6 * (double)(rows > 4 ? rows : 4),
                          scale);
    if (got_correct != want_correct) {
        print_error("%s: %g correct, want %g\n", what, got_correct, want_correct);
        fail();
    }
    /* cost only: the same sum, d untouched */
    double c2 = 0.0;
    double only = k->loss_delta(NULL, 0, z, ld, y, ld, rows, cols, scale, loss, &c2);
    assert_memory_equal(&only, &got, sizeof only);
    /* rows beyond the block (ld padding) untouched */
    for (size_t c = 0; c < cols; c++)
        for (size_t j = rows; j < ld; j++)
            assert_true(d[c * ld + j] == 0.0f);
    free(z);
    free(y);
    free(d);
    free(zd);
    free(yd);
    free(dd);
    free(dg);
}

static void test_kernels(void **state)
{
    (void)state;
    static const size_t widths[] = {1, 2, 3, 7, 10, 16, 17, 33};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (int kind = 0; kind < 3; kind++) {
            if (widths[w] >= 2)
                check_block(BNN_LOSS_CE, widths[w], 37, kind, 10 + w);
            check_block(BNN_LOSS_BCE, widths[w], 37, kind, 20 + w);
        }
}

/* Non-finite logits give a non-finite loss (training then stops, naming the epoch), never a
 * finite wrong one; the SIMD paths give bitwise the same cross-entropy as each other. */
static void test_nonfinite_and_paths(void **state)
{
    (void)state;
    const bnn_kernel_table *k = bnn_kernels();
    float z[6] = {0.5f, NAN, -1.0f, 2.0f, INFINITY, 0.0f}, y[6] = {0, 1, 0, 1, 0, 0}, d[6];
    for (int loss = BNN_LOSS_CE; loss <= BNN_LOSS_BCE; loss++) {
        double c = 0;
        double v = k->loss_delta(d, 3, z, 3, y, 3, 3, 1, 1.0f, loss, &c);
        assert_true(isnan(v));
        v = k->loss_delta(d, 3, z + 3, 3, y + 3, 3, 3, 1, 1.0f, loss, &c);
        assert_false(isfinite(v) && loss == BNN_LOSS_CE);
    }
    const bnn_kernel_table *a2 = bnn_kernels_named("avx2"), *a5 = bnn_kernels_named("avx512");
    if (!a2 || !a5)
        return;
    enum { R = 10, C = 301 };
    float *zz = malloc(R * C * sizeof *zz), *yy = malloc(R * C * sizeof *yy);
    float *d2 = malloc(R * C * sizeof *d2), *d5 = malloc(R * C * sizeof *d5);
    bnn_rng r;
    bnn_rng_seed(&r, 12);
    for (int i = 0; i < R * C; i++) {
        zz[i] = (float)(60 * bnn_rng_uniform(&r) - 30);
        yy[i] = (float)bnn_rng_uniform(&r);
    }
    double c2 = 0, c5 = 0;
    double l2 = a2->loss_delta(d2, R, zz, R, yy, R, R, C, 0.01f, BNN_LOSS_CE, &c2);
    double l5 = a5->loss_delta(d5, R, zz, R, yy, R, R, C, 0.01f, BNN_LOSS_CE, &c5);
    assert_memory_equal(&l2, &l5, sizeof l2);
    assert_memory_equal(d2, d5, R * C * sizeof *d2);
    assert_true(c2 == c5);
    free(zz);
    free(yy);
    free(d2);
    free(d5);
}

/* The fast engine against the reference engine for each loss (the GEMM path: 20-wide). */
static void test_engines(void **state)
{
    (void)state;
    static const bnn_loss losses[] = {BNN_LOSS_MSE, BNN_LOSS_CE, BNN_LOSS_BCE};
    for (int li = 0; li < 3; li++) {
        bnn_error e;
        bnn_arch a;
        assert_int_equal(bnn_arch_parse(&a, "6,40,5", "tanh,identity", 1, &e), 0);
        bnn_model m;
        assert_int_equal(bnn_model_init(&m, &a, &e), 0);
        bnn_model_randomize(&m, 4);
        const size_t n = 777, cols = 11;
        float *rows = malloc(n * cols * sizeof *rows);
        bnn_rng r;
        bnn_rng_seed(&r, 8);
        for (size_t i = 0; i < n; i++) {
            size_t cls = (size_t)(bnn_rng_uniform(&r) * 5);
            for (size_t j = 0; j < 6; j++)
                rows[i * cols + j] = (float)(4 * bnn_rng_uniform(&r) - 2);
            for (size_t j = 0; j < 5; j++)
                rows[i * cols + 6 + j] = j == cls ? 1.0f : 0.0f;
        }
        bnn_table t;
        bnn_test_table(&t, rows, n, cols);
        bnn_data d;
        assert_int_equal(bnn_data_make(&d, &t, NULL, 6, 5, &e), 0);
        size_t np = m.nparams;
        double *theta = bnn_theta_to_double(NULL, m.theta, np), *gref = malloc(np * sizeof *gref);
        float *gf = bnn_alloc(np, sizeof *gf);
        double cref, corref, cf, corf, ce, core;
        assert_int_equal(bnn_ref_grad_loss(&a, theta, &d, 3, n - 3, BNN_GRAD_EXACT, losses[li],
                                           gref, &cref, &corref, &e), 0);
        bnn_fast_engine *f;
        bnn_fast_opts fo = {.threads = 2, .chunk = 64, .loss = losses[li]};
        assert_int_equal(bnn_fast_create(&f, &a, &fo, &e), 0);
        assert_int_equal(bnn_fast_grad_acc(f, m.theta, &d, 3, n - 3, BNN_GRAD_EXACT, gf, &cf,
                                           &corf, &e), 0);
        assert_int_equal(bnn_fast_eval(f, m.theta, &d, 3, n - 3, &ce, &core, &e), 0);
        char what[128];
        snprintf(what, sizeof what, "%s gradient, fast vs reference [%s]",
                 bnn_loss_name(losses[li]), bnn_kernels()->isa);
        bnn_test_assert_close_f(what, gf, gref, np, 1e-4, 1e-3);
        snprintf(what, sizeof what, "%s cost", bnn_loss_name(losses[li]));
        bnn_test_assert_close(what, &cf, &cref, 1, 1e-5, 1e-6);
        bnn_test_assert_close(what, &ce, &cref, 1, 1e-5, 1e-6);
        if (losses[li] != BNN_LOSS_MSE) {
            assert_true(corf == corref && core == corref);
        }
        bnn_fast_free(f);
        free(theta);
        free(gref);
        bnn_free(gf);
        free(rows);
        bnn_model_free(&m);
    }
    /* the checks: identity last layer, at least 2 outputs for cross-entropy */
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "3,4,2", "sigmoid", 1, &e), 0);
    assert_int_equal(bnn_loss_check(&a, BNN_LOSS_CE, &e), -1);
    assert_non_null(strstr(e.msg, "sigmoid"));
    assert_int_equal(bnn_arch_parse(&a, "3,4,1", "sigmoid,identity", 1, &e), 0);
    assert_int_equal(bnn_loss_check(&a, BNN_LOSS_CE, &e), -1);
    assert_non_null(strstr(e.msg, "2 outputs"));
    assert_int_equal(bnn_loss_check(&a, BNN_LOSS_BCE, &e), 0);
}

int main(void)
{
    bnn_test_require_isa();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_nonfinite_and_paths),
        cmocka_unit_test(test_engines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
