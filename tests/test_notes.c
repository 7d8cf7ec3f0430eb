/*
 * test_notes.c - the notes' four models: their closed forms (src/engine/notes.c), the reference
 * engine and central finite differences must agree.
 *   linear y = x w, one neuron 2 -> 1, two neurons 1 -> 1 -> 1, the m-layer chain.
 * For one-layer models seed and exact coincide; for the chains the notes' recursion is the
 * engine's seed mode, and exact = finite differences.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 37 /* odd, on purpose */

typedef struct fixture {
    float rows[N * 3];
    double x1[N], x2[N], y[N];
    bnn_table t;
    bnn_data d;
} fixture;

/* n samples with `cols` columns (inputs then target), values in [0,1) except targets
 * scaled by yscale; the doubles mirror the float data exactly. */
static void make(fixture *f, int nin, double yscale, uint64_t seed)
{
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    int cols = nin + 1;
    for (int i = 0; i < N; i++) {
        f->rows[i * cols + 0] = (float)bnn_rng_uniform(&r);
        if (nin == 2)
            f->rows[i * cols + 1] = (float)bnn_rng_uniform(&r);
        f->rows[i * cols + nin] = (float)(yscale * bnn_rng_uniform(&r));
        f->x1[i] = f->rows[i * cols + 0];
        f->x2[i] = nin == 2 ? f->rows[i * cols + 1] : 0;
        f->y[i] = f->rows[i * cols + nin];
    }
    bnn_test_table(&f->t, f->rows, N, (size_t)cols);
    bnn_error e;
    assert_int_equal(bnn_data_make(&f->d, &f->t, NULL, nin, 1, &e), 0);
}

static void arch_of(bnn_arch *a, const char *w, const char *act, int bias)
{
    bnn_error e;
    assert_int_equal(bnn_arch_parse(a, w, act, bias, &e), 0);
}

static void test_linear(void **state)
{
    (void)state;
    fixture f;
    make(&f, 1, 2.0, 11);
    bnn_arch a;
    arch_of(&a, "1,1", "identity", 0);
    assert_int_equal(bnn_arch_nparams(&a), 1);
    bnn_error e;
    for (double w = -1.5; w <= 3.0; w += 0.75) {
        double g[1], fd[1], cost;
        assert_int_equal(bnn_ref_grad(&a, &w, &f.d, 0, N, BNN_GRAD_EXACT, g, &cost, &e), 0);
        assert_int_equal(bnn_fd_grad(&a, &w, &f.d, 0, N, 1e-5, fd, &e), 0);
        double closed = bnn_notes_linear_dw(w, f.x1, f.y, N);
        double ccost = bnn_notes_linear_cost(w, f.x1, f.y, N);
        bnn_test_assert_close("linear cost: reference vs notes", &cost, &ccost, 1, 1e-14, 1e-12);
        bnn_test_assert_close("linear dC/dw: reference vs notes", g, &closed, 1, 1e-13, 1e-12);
        bnn_test_assert_close("linear dC/dw: finite differences vs notes", fd, &closed, 1, 1e-8,
                              1e-6);
        double s[1];
        assert_int_equal(bnn_ref_grad(&a, &w, &f.d, 0, N, BNN_GRAD_SEED, s, NULL, &e), 0);
        bnn_test_assert_close("linear: seed == exact for one layer", s, g, 1, 0, 1e-300);
    }
}

static void test_neuron(void **state)
{
    (void)state;
    fixture f;
    make(&f, 2, 1.0, 12);
    bnn_arch a;
    arch_of(&a, "2,1", "sigmoid", 1);
    bnn_error e;
    double theta[3] = {0.7, -1.3, 0.4}; /* w1, w2, b in the engine's layout */
    double g[3], fd[3], closed[3];
    assert_int_equal(bnn_ref_grad(&a, theta, &f.d, 0, N, BNN_GRAD_EXACT, g, NULL, &e), 0);
    assert_int_equal(bnn_fd_grad(&a, theta, &f.d, 0, N, 1e-5, fd, &e), 0);
    bnn_notes_neuron_grad(theta, theta[2], f.x1, f.x2, f.y, N, closed);
    bnn_test_assert_close("neuron: reference vs notes", g, closed, 3, 1e-12, 1e-12);
    bnn_test_assert_close("neuron: finite differences vs notes", fd, closed, 3, 1e-7, 1e-6);
}

static void test_chain2(void **state)
{
    (void)state;
    fixture f;
    make(&f, 1, 1.0, 13);
    bnn_arch a;
    arch_of(&a, "1,1,1", "sigmoid", 1);
    bnn_error e;
    /* engine layout: w1, b1, w2, b2 */
    double theta[4] = {1.7, -0.6, -2.2, 0.9};
    double w[2] = {theta[0], theta[2]}, b[2] = {theta[1], theta[3]};
    double closed[4], seed[4], exact[4], fd[4];
    bnn_notes_chain2_grad(w, b, f.x1, f.y, N, closed);
    assert_int_equal(bnn_ref_grad(&a, theta, &f.d, 0, N, BNN_GRAD_SEED, seed, NULL, &e), 0);
    assert_int_equal(bnn_ref_grad(&a, theta, &f.d, 0, N, BNN_GRAD_EXACT, exact, NULL, &e), 0);
    assert_int_equal(bnn_fd_grad(&a, theta, &f.d, 0, N, 1e-5, fd, &e), 0);
    bnn_test_assert_close("two neurons: reference seed vs notes", seed, closed, 4, 1e-12, 1e-12);
    bnn_test_assert_close("two neurons: exact vs finite differences", exact, fd, 4, 1e-7, 1e-6);
    /* the notes' layer 1 (our l = 0) is twice the true gradient, layer 2 equal */
    double want[4] = {2 * exact[0], 2 * exact[1], exact[2], exact[3]};
    bnn_test_assert_close("two neurons: seed = 2^(m-l) exact", seed, want, 4, 1e-14, 1e-300);
}

static void test_chain_m(void **state)
{
    (void)state;
    fixture f;
    make(&f, 1, 1.0, 14);
    bnn_error e;
    for (int m = 1; m <= 6; m++) {
        char widths[64] = "1";
        for (int l = 0; l < m; l++)
            strcat(widths, ",1");
        bnn_arch a;
        arch_of(&a, widths, "sigmoid", 1);
        double theta[12], w[6], b[6], dw[6], db[6];
        bnn_test_fill(theta, (size_t)(2 * m), -2.5, 2.5, 100 + (uint64_t)m);
        for (int l = 0; l < m; l++) {
            w[l] = theta[2 * l];
            b[l] = theta[2 * l + 1];
        }
        bnn_notes_chain_grad(m, w, b, f.x1, f.y, N, dw, db);
        double closed[12], seed[12], exact[12], fd[12], want[12];
        for (int l = 0; l < m; l++) {
            closed[2 * l] = dw[l];
            closed[2 * l + 1] = db[l];
        }
        assert_int_equal(bnn_ref_grad(&a, theta, &f.d, 0, N, BNN_GRAD_SEED, seed, NULL, &e), 0);
        assert_int_equal(bnn_ref_grad(&a, theta, &f.d, 0, N, BNN_GRAD_EXACT, exact, NULL, &e),
                         0);
        assert_int_equal(bnn_fd_grad(&a, theta, &f.d, 0, N, 1e-5, fd, &e), 0);
        bnn_test_assert_close("m-chain: reference seed vs notes", seed, closed, (size_t)(2 * m),
                              1e-12, 1e-15);
        /* finite differences: absolute error ~1e-11 against gradients that shrink with depth */
        bnn_test_assert_close("m-chain: exact vs finite differences", exact, fd,
                              (size_t)(2 * m), 1e-6, 1e-5);
        for (int l = 0; l < m; l++) {
            want[2 * l] = ldexp(exact[2 * l], m - 1 - l);
            want[2 * l + 1] = ldexp(exact[2 * l + 1], m - 1 - l);
        }
        bnn_test_assert_close("m-chain: seed = 2^(m-l) exact", seed, want, (size_t)(2 * m),
                              1e-13, 1e-300);
        /* guard: the gradient is not trivially zero */
        double norm = 0;
        for (int p = 0; p < 2 * m; p++)
            norm += fabs(exact[p]);
        assert_true(norm > 1e-6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_neuron),
        cmocka_unit_test(test_chain2),
        cmocka_unit_test(test_chain_m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
