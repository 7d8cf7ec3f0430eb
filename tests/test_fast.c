/*
 * test_fast.c - the fast engine (float32, chunks, sgemm, SIMD kernels, OpenMP) against the
 * double-precision reference on random shapes: widths 1, 2, 3, 7, 16, 17, 33, 129; n = 1, 2,
 * odd, a chunk +- 1, large; every activation; bias on and off; exact and seed gradients; data
 * used in place and data generated on demand. Also: the result is bitwise the same for any
 * thread count. Run once per ISA path (BATCHNN_ISA).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "bnn_kernels.h"

static const int widths[] = {1, 2, 3, 7, 16, 17, 33, 129};

typedef struct setup {
    bnn_arch a;
    bnn_model m;
    double *theta;
    float *rows;
    bnn_table t;
    bnn_data d;
    size_t n;
} setup;

static void make_setup(setup *s, const char *w, const char *acts, int bias, size_t n,
                       uint64_t seed)
{
    bnn_error e;
    memset(s, 0, sizeof *s);
    assert_int_equal(bnn_arch_parse(&s->a, w, acts, bias, &e), 0);
    assert_int_equal(bnn_model_init(&s->m, &s->a, &e), 0);
    bnn_model_randomize(&s->m, seed);
    /* random biases too, so that every term of the gradient is exercised */
    bnn_rng r;
    bnn_rng_seed(&r, seed + 1000);
    for (int l = 0; l < s->a.nlayers; l++) {
        float *b = bnn_model_bias(&s->m, l);
        for (int64_t j = 0; b && j < s->a.width[l + 1]; j++)
            b[j] = (float)(bnn_rng_uniform(&r) - 0.5);
    }
    s->theta = malloc(s->m.nparams * sizeof *s->theta);
    for (size_t p = 0; p < s->m.nparams; p++)
        s->theta[p] = s->m.theta[p];
    size_t cols = (size_t)(s->a.width[0] + s->a.width[s->a.nlayers]);
    s->rows = malloc(n * cols * sizeof *s->rows);
    for (size_t i = 0; i < n * cols; i++)
        s->rows[i] = (float)bnn_rng_uniform(&r);
    bnn_test_table(&s->t, s->rows, n, cols);
    assert_int_equal(bnn_data_make(&s->d, &s->t, NULL, s->a.width[0],
                                   s->a.width[s->a.nlayers], &e), 0);
    s->n = n;
}

static void free_setup(setup *s)
{
    bnn_model_free(&s->m);
    free(s->theta);
    free(s->rows);
}

/* fast gradient and cost vs reference, tolerance relative to the gradient's largest entry */
static void compare(setup *s, bnn_gradient mode, int threads, size_t chunk, const char *label)
{
    bnn_error e;
    size_t np = s->m.nparams;
    double *want = malloc(np * sizeof *want);
    float *got = bnn_alloc(np, sizeof *got);
    double cw, cg;
    assert_int_equal(bnn_ref_grad(&s->a, s->theta, &s->d, 0, s->n, mode, want, &cw, &e), 0);
    bnn_fast *f;
    bnn_fast_opts o = {.threads = threads, .chunk = chunk};
    assert_int_equal(bnn_fast_create(&f, &s->a, &o, &e), 0);
    if (bnn_fast_grad(f, s->m.theta, &s->d, 0, s->n, mode, got, &cg, &e) != 0) {
        print_error("%s: %s\n", label, e.msg);
        fail();
    }
    double gmax = 0;
    for (size_t p = 0; p < np; p++)
        gmax = fmax(gmax, fabs(want[p]));
    char what[256];
    snprintf(what, sizeof what, "%s [%s] gradient", label, bnn_kernels()->isa);
    bnn_test_assert_close_f(what, got, want, np, 2e-3, 1e-2 * gmax + 1e-30);
    snprintf(what, sizeof what, "%s [%s] cost", label, bnn_kernels()->isa);
    bnn_test_assert_close(what, &cg, &cw, 1, 1e-4, 1e-6);
    /* the cost alone and the predictions */
    double c2;
    assert_int_equal(bnn_fast_cost(f, s->m.theta, &s->d, 0, s->n, &c2, &e), 0);
    bnn_test_assert_close(what, &c2, &cw, 1, 1e-4, 1e-6);
    bnn_fast_free(f);
    bnn_free(got);
    free(want);
}

static void test_random_shapes(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 2024);
    static const char *acts[] = {"sigmoid", "tanh", "identity", "relu"};
    static const size_t ns[] = {1, 2, 3, 15, 17, 31, 33, 100};
    for (int c = 0; c < 40; c++) {
        int m = 1 + (int)(bnn_rng_next(&r) % 3);
        char w[128];
        int p = snprintf(w, sizeof w, "%d", widths[bnn_rng_next(&r) % 8]);
        for (int l = 0; l < m; l++)
            p += snprintf(w + p, sizeof w - (size_t)p, ",%d", widths[bnn_rng_next(&r) % 8]);
        const char *act = acts[bnn_rng_next(&r) % 4];
        int bias = (int)(bnn_rng_next(&r) % 4 != 0);
        size_t n = ns[bnn_rng_next(&r) % 8];
        size_t chunk = 16; /* small chunks: n straddles chunk boundaries at +-1 */
        setup s;
        make_setup(&s, w, act, bias, n, 77 + (uint64_t)c);
        char label[256];
        snprintf(label, sizeof label, "arch %s %s bias %d n %zu", w, act, bias, n);
        bnn_gradient mode = c % 3 == 0 ? BNN_GRAD_SEED : BNN_GRAD_EXACT;
        compare(&s, mode, 1 + c % 2, chunk, label);
        free_setup(&s);
    }
}

static void test_chunk_boundaries(void **state)
{
    (void)state;
    static const size_t ns[] = {15, 16, 17, 255, 256, 257, 1023, 1025};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        setup s;
        make_setup(&s, "3,17,2", "sigmoid", 1, ns[i], 5 + i);
        char label[64];
        snprintf(label, sizeof label, "3,17,2 n %zu chunk 16", ns[i]);
        compare(&s, BNN_GRAD_EXACT, 2, 16, label);
        snprintf(label, sizeof label, "3,17,2 n %zu default chunk", ns[i]);
        compare(&s, BNN_GRAD_EXACT, 2, 0, label);
        free_setup(&s);
    }
}

static void test_large_and_wide(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "2,16,16,1", "sigmoid", 1, 20001, 9);
    compare(&s, BNN_GRAD_EXACT, 2, 0, "W4 shape, n 20001");
    free_setup(&s);
    make_setup(&s, "129,33,7", "sigmoid,identity", 1, 600, 10);
    compare(&s, BNN_GRAD_SEED, 2, 64, "129,33,7 n 600 seed");
    free_setup(&s);
    make_setup(&s, "1,1,1,1,1", "sigmoid", 1, 5000, 11);
    compare(&s, BNN_GRAD_SEED, 2, 0, "1,1,1,1,1 chain seed");
    free_setup(&s);
}

/* Same result for 1, 2, 3 threads: bitwise. */
static void test_threads_bitwise(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "5,33,17,3", "sigmoid", 1, 10007, 21);
    bnn_error e;
    size_t np = s.m.nparams;
    float *g[3];
    double c[3];
    for (int t = 0; t < 3; t++) {
        bnn_fast *f;
        bnn_fast_opts o = {.threads = t + 1, .chunk = 64};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        g[t] = bnn_alloc(np, sizeof(float));
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g[t], &c[t],
                                       &e), 0);
        bnn_fast_free(f);
    }
    for (int t = 1; t < 3; t++) {
        assert_memory_equal(g[0], g[t], np * sizeof(float));
        assert_memory_equal(&c[0], &c[t], sizeof(double));
    }
    for (int t = 0; t < 3; t++)
        bnn_free(g[t]);
    free_setup(&s);
}

/* Data produced on demand (not used in place) gives the same gradient bitwise. */
static int rows_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                     float *out, size_t ldo, bnn_error *e)
{
    (void)e;
    const float *src = t->ctx;
    for (size_t r = 0; r < nrows; r++)
        memcpy(out + r * ldo, src + (row0 + r) * t->cols + col0, ncols * sizeof(float));
    return 0;
}

static void test_streamed_data(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "4,7,2", "tanh,sigmoid", 1, 333, 31);
    bnn_table st;
    memset(&st, 0, sizeof st);
    st.rows = s.t.rows;
    st.cols = s.t.cols;
    st.read = rows_read;
    st.ctx = s.rows;
    bnn_data sd;
    bnn_error e;
    assert_int_equal(bnn_data_make(&sd, &st, NULL, 4, 2, &e), 0);
    bnn_fast *f;
    bnn_fast_opts o = {.threads = 2, .chunk = 32};
    assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
    float *g1 = bnn_alloc(s.m.nparams, sizeof(float)), *g2 = bnn_alloc(s.m.nparams, 4);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, 333, BNN_GRAD_EXACT, g1, NULL, &e), 0);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &sd, 0, 333, BNN_GRAD_EXACT, g2, NULL, &e), 0);
    assert_memory_equal(g1, g2, s.m.nparams * sizeof(float));
    /* predictions against the reference forward pass */
    float *out = malloc(333 * 2 * sizeof *out);
    assert_int_equal(bnn_fast_predict(f, s.m.theta, &sd, 0, 333, out, &e), 0);
    for (size_t i = 0; i < 333; i++) {
        double x[4], want[2];
        assert_int_equal(bnn_data_sample(&s.d, i, x, NULL, &e), 0);
        bnn_ref_forward(&s.a, s.theta, x, want);
        bnn_test_assert_close_f("predict", out + 2 * i, want, 2, 1e-5, 1e-3);
    }
    free(out);
    bnn_free(g1);
    bnn_free(g2);
    bnn_fast_free(f);
    free_setup(&s);
}

int main(void)
{
    bnn_test_require_isa();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_large_and_wide),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_streamed_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
