/*
 * test_reference.c - the reference engine against central finite differences on random
 * architectures (odd widths, every activation, with and without bias), and the notes' seed
 * recursion against 2^(m-l) times the exact gradient.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct net_case {
    const char *widths, *acts;
    int bias;
} net_case;

static const net_case cases[] = {
    {"1,1", "identity", 0},          {"2,1", "sigmoid", 1},
    {"3,7,2", "sigmoid", 1},         {"2,5,5,1", "tanh,sigmoid,identity", 1},
    {"4,3,3", "relu,sigmoid", 1},    {"1,2,3,2,1", "sigmoid", 0},
    {"5,17,1", "sigmoid,identity", 1}, {"2,3,4,5,3", "tanh", 1},
};

/* Random data for an architecture: rows of inputs then targets, float32, owned by caller. */
static float *make_rows(const bnn_arch *a, size_t n, uint64_t seed, bnn_table *t, bnn_data *d)
{
    size_t cols = (size_t)(a->width[0] + a->width[a->nlayers]);
    float *rows = malloc(n * cols * sizeof *rows);
    assert_non_null(rows);
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n * cols; i++)
        rows[i] = (float)(2 * bnn_rng_uniform(&r) - 0.5);
    bnn_test_table(t, rows, n, cols);
    bnn_error e;
    assert_int_equal(bnn_data_make(d, t, NULL, a->width[0], a->width[a->nlayers], &e), 0);
    return rows;
}

static void test_exact_vs_finite_differences(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bnn_arch a;
        bnn_error e;
        assert_int_equal(bnn_arch_parse(&a, cases[c].widths, cases[c].acts, cases[c].bias, &e),
                         0);
        size_t np = bnn_arch_nparams(&a);
        bnn_table t;
        bnn_data d;
        float *rows = make_rows(&a, 13, 40 + c, &t, &d);
        double *theta = malloc(np * sizeof *theta), *g = malloc(np * sizeof *g),
               *fd = malloc(np * sizeof *fd), *s = malloc(np * sizeof *s);
        bnn_test_fill(theta, np, -1.2, 1.2, 7 + c);
        /* relu: keep pre-activations away from the kink, where differences are invalid */
        assert_int_equal(bnn_ref_grad(&a, theta, &d, 0, 13, BNN_GRAD_EXACT, g, NULL, &e), 0);
        assert_int_equal(bnn_fd_grad(&a, theta, &d, 0, 13, 1e-6, fd, &e), 0);
        char what[128];
        snprintf(what, sizeof what, "%s %s: exact vs finite differences", cases[c].widths,
                 cases[c].acts);
        double gmax = 0;
        for (size_t p = 0; p < np; p++)
            gmax = fmax(gmax, fabs(fd[p]));
        assert_true(gmax > 1e-4); /* a gradient that is all zero would prove nothing */
        bnn_test_assert_close(what, g, fd, np, 1e-6, 1e-3 * gmax);

        assert_int_equal(bnn_ref_grad(&a, theta, &d, 0, 13, BNN_GRAD_SEED, s, NULL, &e), 0);
        for (int l = 0; l < a.nlayers; l++) {
            size_t w0 = bnn_arch_weight_offset(&a, l), w1 = bnn_arch_weight_offset(&a, l + 1);
            for (size_t p = w0; p < w1; p++)
                g[p] = ldexp(g[p], a.nlayers - 1 - l);
        }
        snprintf(what, sizeof what, "%s %s: seed vs 2^(m-l) exact", cases[c].widths,
                 cases[c].acts);
        bnn_test_assert_close(what, s, g, np, 1e-13, 1e-300);
        free(theta);
        free(g);
        free(fd);
        free(s);
        free(rows);
    }
}

static void test_cost_and_ranges(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "3,4,2", "sigmoid", 1, &e), 0);
    size_t np = bnn_arch_nparams(&a);
    bnn_table t;
    bnn_data d;
    float *rows = make_rows(&a, 10, 3, &t, &d);
    double *theta = malloc(np * sizeof *theta);
    bnn_test_fill(theta, np, -1, 1, 5);
    /* cost over all = weighted mean of the costs of two ranges */
    double c_all, c_a, c_b;
    assert_int_equal(bnn_ref_cost(&a, theta, &d, 0, 10, &c_all, &e), 0);
    assert_int_equal(bnn_ref_cost(&a, theta, &d, 0, 3, &c_a, &e), 0);
    assert_int_equal(bnn_ref_cost(&a, theta, &d, 3, 7, &c_b, &e), 0);
    double mix = (3 * c_a + 7 * c_b) / 10;
    bnn_test_assert_close("cost of ranges", &mix, &c_all, 1, 1e-14, 1e-300);
    /* the cost by hand from bnn_ref_forward */
    double sum = 0;
    for (int i = 0; i < 10; i++) {
        double x[3], y[2], out[2];
        assert_int_equal(bnn_data_sample(&d, (size_t)i, x, y, &e), 0);
        assert_int_equal(bnn_ref_forward(&a, theta, x, out), 0);
        sum += (out[0] - y[0]) * (out[0] - y[0]) + (out[1] - y[1]) * (out[1] - y[1]);
    }
    sum /= 10;
    bnn_test_assert_close("cost = 1/n sum_i sum_j (a - y)^2", &c_all, &sum, 1, 1e-14, 1e-300);
    /* out-of-range requests fail with a message */
    assert_int_equal(bnn_ref_cost(&a, theta, &d, 5, 6, &c_a, &e), -1);
    assert_non_null(strstr(e.msg, "outside"));
    free(theta);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_vs_finite_differences),
        cmocka_unit_test(test_cost_and_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
