/*
 * test_fast.c - the fast engine (float32, chunks, sgemm, SIMD kernels, OpenMP) against the
 * double-precision reference on random shapes: widths 1, 2, 3, 7, 16, 17, 33, 129; n = 1, 2,
 * odd, a chunk +- 1, large; every activation; bias on and off; exact and seed gradients; data
 * used in place and data generated on demand. Also: the result is bitwise the same for any
 * thread count, at shard counts past the old cap of 32 too (they grow with n: the rule's
 * counts are checked), and a call's partials are refused beyond the memory limit. Memory:
 * the chunk rule (unchanged for the nets whose workspace fits, smaller for very wide ones,
 * never a function of threads), bnn_fast_memory, a very wide net's
 * gradient, and the refusal when the engine cannot fit the budget (a fake cgroup limit).
 * Run once per ISA path (BATCHNN_ISA).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "bnn_kernels.h"
#include "bnn_narrow.h"
#include "dist/tree.h"
#include "engine/fast_impl.h"

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
    s->theta = bnn_theta_to_double(NULL, s->m.theta, s->m.nparams);
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
    bnn_fast_engine *f;
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
    /* the wide nets' 1024-sample chunks (W6), here on a small net: shards of 1 to 2 chunks */
    make_setup(&s, "40,70,3", "tanh,sigmoid", 1, 7000, 12);
    compare(&s, BNN_GRAD_EXACT, 2, 1024, "40,70,3 n 7000 chunk 1024");
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
        bnn_fast_engine *f;
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

static int shards_of(const char *widths, size_t chunk, size_t count)
{
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, widths, NULL, 1, &e), 0);
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = 1, .chunk = chunk};
    assert_int_equal(bnn_fast_create(&f, &a, &o, &e), 0);
    const int s = bnn_fast_shards(f, count);
    bnn_fast_free(f);
    return s;
}

/* Shards grow with n, no cap: ceil(n / min_shard), min_shard from the widths (about 4 MFLOP,
 * at least a chunk), and past 32 of them max(32, ceil(n / big_shard)), big_shard 4 chunks
 * (a narrow chunk on the narrow path). W5's net at 60000 samples: 59 shards of 1024 (32
 * before); a net of 1024,4096,1024 (8.4M parameters, 1024-sample chunks) at 8192: 8 (1
 * before); a 16M parameter net: several. Up to the old cap nothing changed: W5 at 8000
 * samples, 32; at 32 x 1024, 32. */
static void test_shards_grow(void **state)
{
    (void)state;
    assert_int_equal(shards_of("784,256,10", 0, 60000), 59);
    assert_int_equal(shards_of("784,256,10", 0, 32768), 32);
    assert_int_equal(shards_of("784,256,10", 0, 32769), 33);
    assert_int_equal(shards_of("784,256,10", 0, 8000), 32);
    assert_int_equal(shards_of("784,256,10", 0, 1), 1);
    assert_int_equal(shards_of("1024,4096,1024", 0, 8192), 8);
    assert_true(shards_of("2048,4096,2048", 0, 8192) >= 8);
    /* a small net: 4 MFLOP a shard */
    assert_int_equal(shards_of("33,129,129,17", 16, 2001), 32);
    assert_int_equal(shards_of("33,129,129,17", 16, 6999), 110);
    /* the narrow path: shards of 548 up to 32 of them, then of 4096 (at least 32) */
    assert_int_equal(shards_of("2,16,16,1", 0, 17536), 32);
    assert_int_equal(shards_of("2,16,16,1", 0, 17537), 32);
    assert_int_equal(shards_of("2,16,16,1", 0, 16000), 30);
    assert_int_equal(shards_of("2,16,16,1", 0, 1048576), 256);
}

/* Many shards (S > 32: 63, 79 and 110 shards of 64 samples, chunks of 16), bitwise the same
 * gradient and cost for 1 to 4 threads, and close to the reference; n = 1 and odd n. */
static void test_many_shards_bitwise(void **state)
{
    (void)state;
    static const size_t ns[] = {1, 4001, 5001, 6999};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        setup s;
        make_setup(&s, "33,129,129,17", "sigmoid,tanh,sigmoid", 1, ns[i], 90 + i);
        bnn_error e;
        const size_t np = s.m.nparams;
        float *g[4];
        double c[4];
        for (int t = 0; t < 4; t++) {
            bnn_fast_engine *f;
            bnn_fast_opts o = {.threads = t + 1, .chunk = 16};
            assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
            g[t] = bnn_alloc(np, sizeof(float));
            assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g[t],
                                           &c[t], &e), 0);
            bnn_fast_free(f);
        }
        for (int t = 1; t < 4; t++) {
            assert_memory_equal(g[0], g[t], np * sizeof(float));
            assert_memory_equal(&c[0], &c[t], sizeof(double));
        }
        for (int t = 0; t < 4; t++)
            bnn_free(g[t]);
        char label[64];
        snprintf(label, sizeof label, "33,129,129,17 n %zu chunk 16", ns[i]);
        compare(&s, BNN_GRAD_EXACT, 3, 16, label);
        free_setup(&s);
    }
    /* the narrow path: 2,16,16,1 at 140001 samples is 35 shards of 4096 (past 32 shards of
     * 548, shards grow to a whole narrow chunk) */
    setup s;
    make_setup(&s, "2,16,16,1", "sigmoid", 1, 140001, 95);
    bnn_error e;
    float *g[4];
    for (int t = 0; t < 4; t++) {
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = t + 1, .chunk = 0};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        assert_int_equal(bnn_fast_shards(f, s.n), 35);
        g[t] = bnn_alloc(s.m.nparams, sizeof(float));
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g[t], NULL,
                                       &e), 0);
        bnn_fast_free(f);
    }
    for (int t = 1; t < 4; t++)
        assert_memory_equal(g[0], g[t], s.m.nparams * sizeof(float));
    for (int t = 0; t < 4; t++)
        bnn_free(g[t]);
    free_setup(&s);
}

/* An engine keeps the kernel table (element-wise and narrow path) it was created with: forcing
 * another ISA afterwards changes neither its gradient (bitwise) nor its buffers' layout. */
static void test_isa_fixed_at_create(void **state)
{
    (void)state;
    const bnn_kernel_table *mine = bnn_kernels();
    static const char *nets[] = {"2,16,16,1", "1,1", "5,40,3"}; /* narrow, narrow, GEMM */
    static const char *names[] = {"scalar", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        setup s;
        make_setup(&s, nets[i], "sigmoid", 1, 1037, 40 + i);
        bnn_error e;
        size_t np = s.m.nparams;
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = 2, .chunk = 0};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        float *g0 = bnn_alloc(np, sizeof(float)), *g1 = bnn_alloc(np, sizeof(float));
        double c0, c1;
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g0, &c0, &e),
                         0);
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            if (bnn_kernels_force(names[k]) != 0)
                continue;
            assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g1,
                                           &c1, &e), 0);
            assert_memory_equal(g0, g1, np * sizeof(float));
            assert_memory_equal(&c0, &c1, sizeof c0);
        }
        assert_int_equal(bnn_kernels_force(mine->isa), 0);
        bnn_fast_free(f);
        bnn_free(g0);
        bnn_free(g1);
        free_setup(&s);
    }
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

/* The rows of s as a table read on demand (st), and its data view (sd). */
static void streamed_copy(setup *s, bnn_table *st, bnn_data *sd)
{
    bnn_error e;
    memset(st, 0, sizeof *st);
    st->rows = s->t.rows;
    st->cols = s->t.cols;
    st->read = rows_read;
    st->ctx = s->rows;
    assert_int_equal(bnn_data_make(sd, st, NULL, s->a.width[0], s->a.width[s->a.nlayers], &e),
                     0);
}

static void test_streamed_data(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "4,7,2", "tanh,sigmoid", 1, 333, 31);
    bnn_table st;
    bnn_data sd;
    bnn_error e;
    streamed_copy(&s, &st, &sd);
    bnn_fast_engine *f;
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


/* ------------------------------------------------------------------------------------------ */
/* Mini-batches: the split mode (GEMM path) and the narrow path's small shards                 */

/* got == want bitwise, else fail naming the first differing element, its index and both. */
static void assert_bitwise(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            print_error("%s: element %zu is %.9g, want %.9g (bitwise)\n", what, i,
                        (double)got[i], (double)want[i]);
            fail();
        }
}

/* The gradient of samples start..start+count for `threads` threads, default chunk. */
static void grad_of(setup *s, int threads, size_t start, size_t count, bnn_gradient mode,
                    int loss, float *g, double *cost)
{
    bnn_error e;
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = threads, .chunk = 0, .loss = loss};
    assert_int_equal(bnn_fast_create(&f, &s->a, &o, &e), 0);
    if (bnn_fast_grad(f, s->m.theta, &s->d, start, count, mode, g, cost, &e) != 0) {
        print_error("grad: %s\n", e.msg);
        fail();
    }
    bnn_fast_free(f);
}

/* Batches of 1..1000 samples on GEMM nets (split mode) against the reference engine. */
static void test_minibatch_vs_reference(void **state)
{
    (void)state;
    static const struct {
        const char *w, *act;
        int bias;
        bnn_gradient mode;
    } nets[] = {{"40,70,33,5", "sigmoid", 1, BNN_GRAD_EXACT},
                {"37,129,2", "tanh,identity", 0, BNN_GRAD_EXACT},
                {"33,300,40,3", "relu,sigmoid,identity", 1, BNN_GRAD_SEED},
                {"200,33", "sigmoid", 1, BNN_GRAD_EXACT}};
    static const size_t ns[] = {1, 2, 15, 16, 17, 63, 64, 65, 100, 256, 257, 1000};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            setup s;
            make_setup(&s, nets[i].w, nets[i].act, nets[i].bias, ns[j], 300 + 7 * i + j);
            char label[128];
            snprintf(label, sizeof label, "split %s n %zu", nets[i].w, ns[j]);
            compare(&s, nets[i].mode, 1 + (int)(j % 3), 0, label);
            free_setup(&s);
        }
}

/* Split mode by neuron row blocks on odd shapes: layers of 2, 3 and 8 blocks (hidden layers of
 * several blocks sum their D_{l-1} partials) and the cap of 8, batches of 1, 3 and 65
 * samples, against the reference engine on 1 to 4 threads. */
static void test_neuron_split_vs_reference(void **state)
{
    (void)state;
    static const struct {
        const char *w, *act;
        int bias;
        bnn_gradient mode;
    } nets[] = {{"33,200,150,7", "sigmoid", 1, BNN_GRAD_EXACT},
                {"19,600,530,3", "tanh,relu,identity", 1, BNN_GRAD_EXACT},
                {"7,131,129,65,2", "sigmoid", 0, BNN_GRAD_SEED}};
    static const size_t ns[] = {1, 3, 65};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            setup s;
            make_setup(&s, nets[i].w, nets[i].act, nets[i].bias, ns[j], 900 + 5 * i + j);
            char label[128];
            snprintf(label, sizeof label, "neuron split %s n %zu", nets[i].w, ns[j]);
            compare(&s, nets[i].mode, 1 + (int)((i + j) % 4), 0, label);
            free_setup(&s);
        }
}

/* Mini-batch pieces: the rule (floor(count / 256) pieces from 2 pieces up, to split.max; W5's
 * pieces are 256 samples at least), and their gradients against the reference engine on odd
 * counts and shapes, 1 to 4 threads. */
static void test_pieces(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "784,256,10", "sigmoid", 1, &e), 0);
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = 2, .chunk = 0};
    assert_int_equal(bnn_fast_create(&f, &a, &o, &e), 0);
    static const size_t counts[] = {1, 256, 511, 512, 767, 768, 1031, 4095, 4096, 4097};
    static const int want[] = {0, 0, 0, 2, 2, 3, 4, 15, 16, 0};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (bnn_fast_pieces(f, counts[i]) != want[i]) {
            print_error("W5, %zu samples: %d pieces, want %d\n", counts[i],
                        bnn_fast_pieces(f, counts[i]), want[i]);
            fail();
        }
    bnn_fast_free(f);
    static const struct {
        const char *w, *act;
        int bias;
        bnn_gradient mode;
        size_t n;
    } nets[] = {{"33,200,150,7", "sigmoid", 1, BNN_GRAD_EXACT, 1024},
                {"37,129,2", "tanh,identity", 0, BNN_GRAD_EXACT, 513},
                {"33,300,40,3", "relu,sigmoid,identity", 1, BNN_GRAD_SEED, 1537},
                {"19,600,530,3", "sigmoid", 1, BNN_GRAD_EXACT, 2600}};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        setup s;
        make_setup(&s, nets[i].w, nets[i].act, nets[i].bias, nets[i].n, 1700 + i);
        char label[128];
        snprintf(label, sizeof label, "pieces %s n %zu", nets[i].w, nets[i].n);
        compare(&s, nets[i].mode, 1 + (int)(i % 4), 0, label);
        free_setup(&s);
    }
}

/* Mini-batch gradients are bitwise the same for 1, 2, 3 and 4 threads: split mode (every
 * loss, exact and seed, batches inside a larger set), the narrow path's shards, and batches
 * beyond split mode. */
static void test_minibatch_threads_bitwise(void **state)
{
    (void)state;
    static const struct {
        const char *w, *act;
        int loss;
        bnn_gradient mode;
        size_t start, count;
    } cases[] = {
        {"40,70,33,5", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 0, 64},
        {"40,70,33,5", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_SEED, 1000, 256},
        {"40,70,33,5", "tanh,relu,identity", BNN_LOSS_CE, BNN_GRAD_EXACT, 7, 1000},
        {"100,129,1", "sigmoid,identity", BNN_LOSS_BCE, BNN_GRAD_EXACT, 3, 255},
        {"60,48,10", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 11, 17},
        {"60,48,10", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 0, 3000},
        {"2,16,16,1", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 5, 1024},  /* narrow shards */
        {"2,16,16,1", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_SEED, 0, 777},
        {"784,256,10", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 100, 256}, /* W5 */
        {"784,256,10", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 64, 64},
        /* neuron row blocks: several per hidden layer, the cap, odd batches */
        {"33,200,150,7", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 9, 65},
        {"33,200,150,7", "tanh,relu,identity", BNN_LOSS_CE, BNN_GRAD_EXACT, 2, 3},
        {"19,600,530,3", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_SEED, 0, 1},
        {"19,600,530,3", "relu,tanh,identity", BNN_LOSS_MSE, BNN_GRAD_EXACT, 31, 65},
        /* mini-batch pieces: 4, 6 and 16 of them */
        {"784,256,10", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_EXACT, 17, 1031},
        {"33,200,150,7", "tanh,relu,identity", BNN_LOSS_CE, BNN_GRAD_EXACT, 0, 1537},
        {"40,70,33,5", "sigmoid", BNN_LOSS_MSE, BNN_GRAD_SEED, 3, 4096},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setup s;
        make_setup(&s, cases[i].w, cases[i].act, 1, 5000, 500 + i);
        const size_t np = s.m.nparams;
        float *g[4];
        double c[4];
        for (int t = 0; t < 4; t++) {
            g[t] = bnn_alloc(np, sizeof(float));
            grad_of(&s, t + 1, cases[i].start, cases[i].count, cases[i].mode, cases[i].loss,
                    g[t], &c[t]);
        }
        for (int t = 1; t < 4; t++) {
            char what[160];
            snprintf(what, sizeof what, "%s batch %zu, %d threads vs 1", cases[i].w,
                     cases[i].count, t + 1);
            assert_bitwise(what, g[t], g[0], np);
            if (memcmp(&c[t], &c[0], sizeof(double)) != 0) {
                print_error("%s: cost %.17g, want %.17g\n", what, c[t], c[0]);
                fail();
            }
        }
        for (int t = 0; t < 4; t++)
            bnn_free(g[t]);
        free_setup(&s);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The fused step (bnn_fast_step): gradient and optimizer step inside the team                 */

/* Three steps of optimizer `o` on samples start..start+count: bnn_fast_grad then
 * bnn_optim_step on 1 thread, against bnn_fast_step on 1..4 threads; the parameters, the
 * optimizer's buffers, the step count and the costs are bitwise the same. */
static void fused_case(setup *s, const bnn_optim_opts *o, size_t start, size_t count,
                       const char *label)
{
    bnn_error e;
    const size_t np = s->m.nparams;
    float *want = bnn_alloc(np, sizeof(float)), *g = bnn_alloc(np, sizeof(float));
    float *spare = bnn_alloc(np, sizeof(float));
    memcpy(want, s->m.theta, np * sizeof(float));
    bnn_optim_state sw;
    assert_int_equal(bnn_optim_state_init(&sw, o, np, &e), 0);
    sw.threads = 1;
    double cw[3];
    bnn_fast_engine *f;
    bnn_fast_opts fo = {.threads = 1, .chunk = 0};
    assert_int_equal(bnn_fast_create(&f, &s->a, &fo, &e), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bnn_fast_grad(f, want, &s->d, start, count, BNN_GRAD_EXACT, g, &cw[i],
                                       &e), 0);
        assert_int_equal(bnn_optim_step(&sw, 0.05, want, g, spare), 1);
        memcpy(want, spare, np * sizeof(float));
    }
    bnn_fast_free(f);
    for (int t = 1; t <= 4; t++) {
        float *theta = bnn_alloc(np, sizeof(float)), *next = bnn_alloc(np, sizeof(float));
        memcpy(theta, s->m.theta, np * sizeof(float));
        bnn_optim_state st;
        assert_int_equal(bnn_optim_state_init(&st, o, np, &e), 0);
        fo.threads = t;
        assert_int_equal(bnn_fast_create(&f, &s->a, &fo, &e), 0);
        for (int i = 0; i < 3; i++) {
            double c;
            int finite = 0;
            if (bnn_fast_step(f, theta, &s->d, start, count, BNN_GRAD_EXACT, g, &st, 0.05, next,
                              &c, NULL, &finite, &e) != 0) {
                print_error("%s: %s\n", label, e.msg);
                fail();
            }
            assert_int_equal(finite, 1);
            assert_memory_equal(&c, &cw[i], sizeof c);
            float *tmp = theta;
            theta = next;
            next = tmp;
        }
        char what[160];
        snprintf(what, sizeof what, "%s, %s, %d threads: parameters", label,
                 bnn_optim_name(o->kind), t);
        assert_bitwise(what, theta, want, np);
        for (int b = 0; b < bnn_optim_nbuf(o->kind); b++) {
            snprintf(what, sizeof what, "%s, %s, %d threads: buffer %d", label,
                     bnn_optim_name(o->kind), t, b);
            assert_bitwise(what, st.buf[b], sw.buf[b], np);
        }
        assert_int_equal(st.step, 3);
        bnn_fast_free(f);
        bnn_optim_state_free(&st);
        bnn_free(theta);
        bnn_free(next);
    }
    bnn_optim_state_free(&sw);
    bnn_free(want);
    bnn_free(g);
    bnn_free(spare);
}

static void test_fused_step(void **state)
{
    (void)state;
    static const struct {
        const char *w;
        size_t start, count;
    } cases[] = {{"33,200,150,7", 5, 65},   /* split mode: 3, 2, 1 row blocks */
                 {"19,600,530,3", 0, 3},    /* 8 blocks */
                 {"33,200,150,7", 0, 4500}, /* beyond split mode: the whole-vector step */
                 {"2,16,16,1", 1, 300}};    /* the narrow path */
    const bnn_optim_kind kinds[] = {BNN_OPT_SGD, BNN_OPT_MOMENTUM, BNN_OPT_NESTEROV,
                                    BNN_OPT_ADAM, BNN_OPT_ADAMW};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setup s;
        make_setup(&s, cases[i].w, "sigmoid", 1, 4600, 1300 + i);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            bnn_optim_opts o;
            bnn_optim_opts_default(&o);
            o.kind = kinds[k];
            o.weight_decay = k % 2 ? 0.01 : 0.0;
            fused_case(&s, &o, cases[i].start, cases[i].count, cases[i].w);
        }
        free_setup(&s);
    }
}

/* A fused step whose new parameters are not finite says so and still counts the step; one
 * whose loss is not finite takes no step. */
static void test_fused_step_nonfinite(void **state)
{
    (void)state;
    bnn_error e;
    setup s;
    make_setup(&s, "33,200,150,7", "sigmoid", 1, 200, 77);
    const size_t np = s.m.nparams;
    float *g = bnn_alloc(np, sizeof(float)), *next = bnn_alloc(np, sizeof(float));
    bnn_optim_opts o;
    bnn_optim_opts_default(&o);
    bnn_optim_state st;
    assert_int_equal(bnn_optim_state_init(&st, &o, np, &e), 0);
    bnn_fast_engine *f;
    bnn_fast_opts fo = {.threads = 2, .chunk = 0};
    assert_int_equal(bnn_fast_create(&f, &s.a, &fo, &e), 0);
    double c;
    int finite = 1;
    assert_int_equal(bnn_fast_step(f, s.m.theta, &s.d, 0, 64, BNN_GRAD_EXACT, g, &st, 1e300,
                                   next, &c, NULL, &finite, &e), 0);
    assert_int_equal(finite, 0);
    assert_int_equal(st.step, 1);
    s.m.theta[np - 1] = NAN; /* the output bias: every sample's loss is nan */
    finite = 0;
    assert_int_equal(bnn_fast_step(f, s.m.theta, &s.d, 0, 64, BNN_GRAD_EXACT, g, &st, 0.1,
                                   next, &c, NULL, &finite, &e), 0);
    assert_true(isnan(c));
    assert_int_equal(finite, 1);
    assert_int_equal(st.step, 1);
    bnn_fast_free(f);
    bnn_optim_state_free(&st);
    bnn_free(g);
    bnn_free(next);
    free_setup(&s);
}

/* Split mode on data produced on demand and on a shuffled view: the same gradient bitwise
 * as on the same rows used in place. */
static void test_minibatch_streamed(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "40,70,3", "tanh,sigmoid", 1, 700, 61);
    bnn_table st;
    bnn_data sd;
    bnn_error e;
    streamed_copy(&s, &st, &sd);
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = 2};
    assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
    const size_t np = s.m.nparams;
    float *g1 = bnn_alloc(np, sizeof(float)), *g2 = bnn_alloc(np, sizeof(float));
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 33, 300, BNN_GRAD_EXACT, g1, NULL, &e),
                     0);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &sd, 33, 300, BNN_GRAD_EXACT, g2, NULL, &e),
                     0);
    assert_bitwise("split mode, streamed vs in place", g2, g1, np);
    /* a shuffled view: its batch gathered, the same as the same rows in place */
    uint32_t *perm = malloc(bnn_shuffle_entries(700) * sizeof *perm);
    bnn_data v = s.d;
    assert_int_equal(bnn_shuffle_view(&v, perm, 9, 0, &e), 0);
    size_t rows[300];
    bnn_shuffle_rows(&v, 33, 300, rows);
    float *sub = malloc(300 * s.t.cols * sizeof *sub);
    for (size_t r = 0; r < 300; r++)
        memcpy(sub + r * s.t.cols, s.rows + rows[r] * s.t.cols, s.t.cols * sizeof(float));
    bnn_table tt;
    bnn_data dd;
    bnn_test_table(&tt, sub, 300, s.t.cols);
    assert_int_equal(bnn_data_make(&dd, &tt, NULL, 40, 3, &e), 0);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &v, 33, 300, BNN_GRAD_EXACT, g1, NULL, &e), 0);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &dd, 0, 300, BNN_GRAD_EXACT, g2, NULL, &e), 0);
    assert_bitwise("split mode, shuffled view vs its rows in place", g1, g2, np);
    free(sub);
    free(perm);
    bnn_free(g1);
    bnn_free(g2);
    bnn_fast_free(f);
    free_setup(&s);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory: chunk rule, bnn_fast_memory, refusal                                                */

#define MiB ((size_t)1 << 20)

static size_t chunk_of(const char *widths, int threads)
{
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, widths, NULL, 1, &e), 0);
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = threads, .chunk = 0};
    if (bnn_fast_create(&f, &a, &o, &e) != 0) {
        print_error("%s: %s\n", widths, e.msg);
        fail();
    }
    size_t c = bnn_fast_chunk(f);
    bnn_fast_free(f);
    return c;
}

/* The workloads' and the notes' nets keep their chunk (hence bitwise the same models as
 * before the rule existed; W6 excepted, whose 1024 x 1024 layer takes 1024-sample chunks), on
 * both paths and for any thread count. */
static void test_chunk_unchanged(void **state)
{
    (void)state;
    static const struct {
        const char *widths;
        int narrow;
    } nets[] = {{"2,16,16,1", 1}, {"1,1", 1}, {"2,1", 1}, {"1,1,1,1,1", 1},
                {"784,256,10", 0}, {"512,1024,1024,16", 0}, {"1,16382,1", 0},
                {"512,512,1", 0}, {"513,512,1", 0}};
    for (int gemm = 0; gemm < 2; gemm++) {
        bnn_engine_force_gemm(gemm);
        for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
            /* a layer of more than 2^18 weights doubles the chunk, of more than 2^19
             * quadruples it: W6 (1024 x 1024) takes 1024 */
            size_t want = nets[i].narrow && !gemm                    ? BNN_NARROW_CHUNK_MAX
                        : strcmp(nets[i].widths, "512,1024,1024,16") == 0 ? 1024
                        : strcmp(nets[i].widths, "513,512,1") == 0        ? 512
                                                                         : 256;
            for (int t = 1; t <= 3; t += 2) {
                size_t got = chunk_of(nets[i].widths, t);
                if (got != want) {
                    print_error("%s, %s path, %d threads: chunk %zu, want %zu\n",
                                nets[i].widths, gemm ? "gemm" : "default", t, got, want);
                    fail();
                }
            }
        }
    }
    bnn_engine_force_gemm(0);
}

/* Wide nets: the largest chunk whose workspace fits 64 MiB, the same for any thread count. */
static void test_chunk_wide(void **state)
{
    (void)state;
    /* 1,1000000,1: 3000003 floats a sample, 16777216 / 3000003 = 5 samples (60 MiB) */
    assert_int_equal(chunk_of("1,1000000,1", 1), 5);
    assert_int_equal(chunk_of("1,1000000,1", 2), 5);
    /* one past the widest 256-sample net: 1,21845,1 takes 65538 floats a sample */
    assert_int_equal(chunk_of("1,21844,1", 1), 256);
    assert_int_equal(chunk_of("1,21845,1", 1), 255);
    /* a sample alone beyond the bound: chunk 1 */
    assert_int_equal(chunk_of("1,6000000,1", 1), 1);

    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "1,1000000,1", NULL, 1, &e), 0);
    size_t m1 = bnn_fast_memory(&a, 1), m2 = bnn_fast_memory(&a, 2);
    /* a thread: a workspace within the bound and two partials of 3000001 floats (12 MB),
     * the same for every thread (shards grow with n: every thread can work) */
    const size_t partial = (3000001 + 15) / 16 * 16 * sizeof(float);
    assert_true(m2 > m1 && m2 - m1 <= BNN_FAST_WORKSPACE_MAX + 2 * partial + 4096);
    assert_true(m2 - m1 >= 2 * partial);
    assert_true(m1 <= BNN_FAST_WORKSPACE_MAX + 2 * partial + 4096);
    const size_t m45 = bnn_fast_memory(&a, 5) - bnn_fast_memory(&a, 4);
    assert_true(m45 >= 2 * partial && m45 <= BNN_FAST_WORKSPACE_MAX + 2 * partial + 4 * MiB);
    /* invalid architecture */
    bnn_arch bad = a;
    bad.width[1] = 0;
    assert_int_equal(bnn_fast_memory(&bad, 1), 0);
}

/* A very wide net (3,200000,2: chunks of 27 samples) against the reference engine, and
 * bitwise the same for 1 and 2 threads. */
static void test_wide_gradient(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "3,200000,2", "tanh,sigmoid", 1, 61, 41);
    assert_int_equal(chunk_of("3,200000,2", 2), 27);
    compare(&s, BNN_GRAD_EXACT, 2, 0, "3,200000,2 n 61");
    bnn_error e;
    float *g[2];
    for (int t = 0; t < 2; t++) {
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = t + 1, .chunk = 0};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        g[t] = bnn_alloc(s.m.nparams, sizeof(float));
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_SEED, g[t], NULL,
                                       &e), 0);
        bnn_fast_free(f);
    }
    assert_memory_equal(g[0], g[1], s.m.nparams * sizeof(float));
    bnn_free(g[0]);
    bnn_free(g[1]);
    free_setup(&s);
}

static void put(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int create_msg(const char *widths, int threads, bnn_error *e)
{
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, widths, NULL, 1, e), 0);
    bnn_fast_engine *f = NULL;
    bnn_fast_opts o = {.threads = threads, .chunk = 0};
    int rc = bnn_fast_create(&f, &a, &o, e);
    if (rc == 0)
        bnn_fast_free(f);
    else
        assert_null(f);
    return rc;
}

static void expect_msg(const bnn_error *e, const char *part)
{
    if (!strstr(e->msg, part)) {
        print_error("message '%s' lacks '%s'\n", e->msg, part);
        fail();
    }
}

/* Under a fake 200 MiB cgroup limit: the engine refuses, before allocating, what cannot fit,
 * saying how much, for how many threads, and which limit. */
static void test_refusal(void **state)
{
    (void)state;
    char root[512], proc[1024], sys[1024];
    assert_int_equal(bnn_test_tmpdir(root, sizeof root, "fastmem"), 0);
    put(root, "proc/self/cgroup", "0::/job\n");
    put(root, "sys/fs/cgroup/job/memory.max", "209715200\n");
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    bnn_memory_set_roots(proc, sys);
    if (bnn_memory_budget() != 200 * MiB) { /* a real limit below the fake one */
        bnn_memory_set_roots(NULL, NULL);
        bnn_test_rmtree(root);
        skip();
    }
    bnn_error e;
    /* 1 thread: 60 MiB + 2 partials of 11.4 MiB fits; 3 threads: 3 x (60 + 22.9) does not */
    assert_int_equal(create_msg("1,1000000,1", 1, &e), 0);
    assert_int_equal(create_msg("1,1000000,1", 3, &e), -1);
    expect_msg(&e, "fast engine: needs 250.");
    expect_msg(&e, "for 3 threads (3 x 60.0 MiB workspace, 70.0 MiB gradient partials)");
    expect_msg(&e, "this process may use 200.0 MiB (cgroup memory.max)");
    expect_msg(&e, "use fewer threads or smaller layers");
    /* a 192 MB model: every thread a workspace */
    assert_int_equal(create_msg("1,16000000,1", 4, &e), -1);
    expect_msg(&e, "for 4 threads (4 x ");
    /* a call's partials (reserve_folds): 200 samples are 32 shards; one thread folds them
     * in at most 6 partials (69 MiB, fits), two threads' halves need 5 each, which
     * with two workspaces passes 200 MiB: refused at the call, before allocating */
    setup s;
    make_setup(&s, "1,1000000,1", "sigmoid", 1, 200, 4);
    float *g = bnn_alloc(s.m.nparams, sizeof(float));
    assert_non_null(g);
    for (int t = 1; t <= 2; t++) {
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = t, .chunk = 0};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        assert_int_equal(bnn_fast_shards(f, 200), 32);
        /* 16 samples (4 shards) fit: the layout the refused call must not leave half-made */
        if (t == 2)
            assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, 16, BNN_GRAD_EXACT, g, NULL,
                                           &e), 0);
        const int rc = bnn_fast_grad(f, s.m.theta, &s.d, 0, 200, BNN_GRAD_EXACT, g, NULL, &e);
        if (t == 1) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            expect_msg(&e, "fast engine: 32 shards over 2 threads need ");
            expect_msg(&e, "this process may use 200.0 MiB (cgroup memory.max)");
            /* the same engine, the fitting call again: as on a fresh engine */
            float *g2 = bnn_alloc(s.m.nparams, sizeof(float));
            assert_non_null(g2);
            assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, 16, BNN_GRAD_EXACT, g2, NULL,
                                           &e), 0);
            bnn_fast_engine *f1;
            assert_int_equal(bnn_fast_create(&f1, &s.a, &o, &e), 0);
            assert_int_equal(bnn_fast_grad(f1, s.m.theta, &s.d, 0, 16, BNN_GRAD_EXACT, g, NULL,
                                           &e), 0);
            bnn_fast_free(f1);
            assert_bitwise("after a refused call", g2, g, s.m.nparams);
            bnn_free(g2);
        }
        bnn_fast_free(f);
    }
    bnn_free(g);
    free_setup(&s);
    bnn_memory_set_roots(NULL, NULL);
    assert_int_equal(create_msg("1,1000000,1", 3, &e), 0);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

static int claim_word_next(claim_word *c)
{
    return (int)(uint32_t)atomic_load(&c->v);
}

static int claim_word_end(claim_word *c)
{
    return (int)(uint32_t)(atomic_load(&c->v) >> 32);
}

/* The claims of work stealing (fast_folds.c), one thread: the owner takes its shards in
 * order, a thief the back half of the fullest other claim (the victim keeps the front, at
 * least one shard less; with one left the thief takes it), shrunk until its fold fits the
 * thief's stack; nothing left, nothing stolen. */
static void test_claims(void **state)
{
    (void)state;
    claim_word *c = bnn_alloc(3, sizeof *c);
    assert_non_null(c);
    atomic_init(&c[0].v, bnn_claim_pack(0, 10));
    atomic_init(&c[1].v, bnn_claim_pack(10, 13));
    atomic_init(&c[2].v, bnn_claim_pack(13, 13)); /* worker 2 has run out */
    assert_int_equal(bnn_claim_one(&c[0]), 0);
    assert_int_equal(bnn_claim_one(&c[0]), 1);
    int end = -1;
    /* worker 0 has 8 left, worker 1 has 3: worker 2 takes [6, 10) of worker 0's */
    assert_int_equal(bnn_claim_steal(c, 3, 2, 64, -1, &end), 6);
    assert_int_equal(end, 10);
    for (int s = 2; s < 6; s++)
        assert_int_equal(bnn_claim_one(&c[0]), s);
    assert_int_equal(bnn_claim_one(&c[0]), -1);
    /* worker 0, out: worker 1's 3 left, [11, 13) (it keeps 10) */
    assert_int_equal(bnn_claim_steal(c, 3, 0, 64, -1, &end), 11);
    assert_int_equal(end, 13);
    assert_int_equal(bnn_claim_one(&c[1]), 10);
    /* one left: the thief takes it */
    atomic_store(&c[1].v, bnn_claim_pack(12, 13));
    assert_int_equal(bnn_claim_steal(c, 3, 0, 64, -1, &end), 12);
    assert_int_equal(end, 13);
    assert_int_equal(bnn_claim_one(&c[1]), -1);
    /* nothing left anywhere but the thief's own */
    atomic_store(&c[0].v, bnn_claim_pack(5, 9));
    assert_int_equal(bnn_claim_steal(c, 3, 0, 64, -1, &end), -1);
    /* a stack of cap entries: the back half shrinks until its fold fits */
    for (int cap = 1; cap <= 4; cap++) {
        atomic_store(&c[1].v, bnn_claim_pack(1, 64));
        const int m = bnn_claim_steal(c, 3, 0, 64, cap, &end);
        assert_true(m > 1 && m < 64);
        assert_int_equal(end, 64);
        assert_true(bnn_tree_need(64, m, 64) <= cap);
        assert_int_equal(claim_word_next(&c[1]), 1);
        assert_int_equal(claim_word_end(&c[1]), m);
    }
    bnn_free(c);
}

/* Work stealing under memory: a net whose gradient partials are megabytes gets one stealing
 * stack a worker (as large as its own), and none when the memory limit leaves room for the
 * workers' own stacks only: then nothing is stolen and the call still succeeds. Either way
 * the gradient is bitwise one thread's. */
static void test_steal_memory(void **state)
{
    (void)state;
    setup s;
    make_setup(&s, "1,300000,1", "sigmoid", 1, 200, 7);
    const size_t np = s.m.nparams;
    float *g1 = bnn_alloc(np, sizeof(float)), *g2 = bnn_alloc(np, sizeof(float));
    assert_non_null(g1);
    assert_non_null(g2);
    bnn_error e;
    grad_of(&s, 1, 0, s.n, BNN_GRAD_EXACT, BNN_LOSS_MSE, g1, NULL);
    /* no limit: one stealing stack each */
    bnn_fast_engine *f;
    bnn_fast_opts o = {.threads = 2};
    assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
    bnn_fast_test_hold(f, 1);
    const int shards = bnn_fast_shards(f, s.n);
    assert_true(shards >= 4);
    assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g2, NULL, &e), 0);
    assert_true(bnn_fast_stolen(f) > 0);
    assert_bitwise("one stealing stack", g2, g1, np);
    bnn_fast_free(f);
    /* a limit with room for the own stacks and half a partial more */
    const size_t pbytes = bnn_alloc_bytes(np, sizeof(float));
    const size_t own = (size_t)bnn_tree_need(shards, 0, shards / 2) +
                       (size_t)bnn_tree_need(shards, shards / 2, shards);
    const size_t limit = bnn_fast_memory(&s.a, 2) + (own - 4) * pbytes + pbytes / 2;
    char root[512], proc[1024], sys[1024], text[64];
    assert_int_equal(bnn_test_tmpdir(root, sizeof root, "stealmem"), 0);
    put(root, "proc/self/cgroup", "0::/job\n");
    snprintf(text, sizeof text, "%zu\n", limit);
    put(root, "sys/fs/cgroup/job/memory.max", text);
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    bnn_memory_set_roots(proc, sys);
    if (bnn_memory_budget() == (uint64_t)limit) { /* else a real limit below the fake one */
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        bnn_fast_test_hold(f, 1);
        memset(g2, 0, np * sizeof(float));
        if (bnn_fast_grad(f, s.m.theta, &s.d, 0, s.n, BNN_GRAD_EXACT, g2, NULL, &e) != 0)
            fail_msg("%s", e.msg);
        assert_int_equal(bnn_fast_stolen(f), 0);
        assert_bitwise("no stealing stack", g2, g1, np);
        bnn_fast_free(f);
    }
    bnn_memory_set_roots(NULL, NULL);
    assert_int_equal(bnn_test_rmtree(root), 0);
    bnn_free(g1);
    bnn_free(g2);
    free_setup(&s);
}

/* ---------------------------------------------------------------------------------------- */
/* The narrow path's single-pass kernel for tiny nets (kernels/narrow_impl.h, narrow_tiny_*):
 * every shape it has an instance for, plus neighbours it must leave to the block path (a
 * wider first layer, a different activation per layer, a 5-layer chain), every activation,
 * bias on and off, exact and seed, n = 1, below, at and above a block (32 or 64 samples on
 * AVX2, AVX-512) and a chunk (4096), against the double reference. */
static void test_narrow_tiny_vs_reference(void **state)
{
    (void)state;
    static const char *nets[] = {"1,1",       "2,1",       "3,1",         "4,1",
                                 "1,2",       "2,2",       "1,1,1",       "2,1,1",
                                 "1,2,1",     "2,2,1",     "1,1,1,1",     "2,1,1,1",
                                 "1,1,1,1,1", "2,1,1,1,1", "1,2,2,1",     "2,2,2,1",
                                 "1,2,2,2,1", "2,2,2,2,1", "1,1,1,1,1,1", "5,1",
                                 "2,3,1",     "1,2,2",     "3,2"};
    static const char *acts[] = {"sigmoid", "tanh", "identity", "relu"};
    static const size_t ns[] = {1, 7, 31, 33, 64, 65, 4097};
    int c = 0;
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++, c++) {
                setup s;
                const int bias = c % 3 != 1;
                make_setup(&s, nets[i], acts[a], bias, ns[j], 900 + (uint64_t)c);
                char label[128];
                snprintf(label, sizeof label, "tiny %s %s bias %d n %zu", nets[i], acts[a],
                         bias, ns[j]);
                compare(&s, c % 4 == 0 ? BNN_GRAD_SEED : BNN_GRAD_EXACT, 1 + c % 2, 0, label);
                free_setup(&s);
            }
    /* per-layer activations that differ: the block path */
    setup s;
    make_setup(&s, "2,1,1", "tanh,sigmoid", 1, 777, 5);
    compare(&s, BNN_GRAD_EXACT, 2, 0, "tiny shape, mixed activations");
    free_setup(&s);
}

/* The narrow path's sigmoid layers run on their weights times -log2(e) (narrow_impl.h): a
 * weight too large for that product (3e38) on an input that is always 0 must still give
 * w * 0 = 0 as the reference does, not -inf * 0 = NaN; on both narrow kernels. */
static void test_narrow_huge_weight(void **state)
{
    (void)state;
    static const char *nets[] = {"2,1", "2,2,1", "2,3,1", "2,5,4,1"};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        setup s;
        make_setup(&s, nets[i], "sigmoid", 1, 100, 70 + i);
        const size_t cols = (size_t)(s.a.width[0] + s.a.width[s.a.nlayers]);
        for (size_t r = 0; r < s.n; r++)
            s.rows[r * cols] = 0.0f; /* input 0 is always 0 */
        float *w0 = bnn_model_weight(&s.m, 0);
        w0[0] = 3e38f; /* output 0, input 0 */
        s.theta[0] = 3e38f;
        char label[64];
        snprintf(label, sizeof label, "huge weight on a zero input, %s", nets[i]);
        compare(&s, BNN_GRAD_EXACT, 1, 0, label);
        free_setup(&s);
    }
}

/* The tiny kernel reads rows of exactly nin + nout floats in place and copies other layouts
 * (data produced on demand, a shuffled view gathered into separate input and target buffers)
 * into that layout first: the same gradient and cost bitwise either way; and the same for 1
 * to 4 threads. */
static void test_narrow_tiny_layouts_threads(void **state)
{
    (void)state;
    static const char *nets[] = {"1,1", "2,1", "1,1,1,1,1", "2,2,1"};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        setup s;
        const size_t n = 20011;
        make_setup(&s, nets[i], "sigmoid", 1, n, 70 + i);
        bnn_error e;
        const size_t np = s.m.nparams;
        float *g1 = bnn_alloc(np, sizeof(float)), *g2 = bnn_alloc(np, sizeof(float));
        double c1, c2;
        /* threads */
        grad_of(&s, 1, 0, n, BNN_GRAD_EXACT, BNN_LOSS_MSE, g1, &c1);
        for (int t = 2; t <= 4; t++) {
            grad_of(&s, t, 0, n, BNN_GRAD_EXACT, BNN_LOSS_MSE, g2, &c2);
            assert_bitwise("tiny net, threads", g2, g1, np);
            assert_memory_equal(&c1, &c2, sizeof c1);
        }
        /* data produced on demand */
        bnn_table st;
        bnn_data sd;
        streamed_copy(&s, &st, &sd);
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = 2};
        assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, 5, 9000, BNN_GRAD_EXACT, g1, &c1, &e),
                         0);
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &sd, 5, 9000, BNN_GRAD_EXACT, g2, &c2, &e),
                         0);
        assert_bitwise("tiny net, streamed vs in place", g2, g1, np);
        assert_memory_equal(&c1, &c2, sizeof c1);
        /* a shuffled view vs its rows in place */
        const size_t m = 5000;
        uint32_t *perm = malloc(bnn_shuffle_entries(n) * sizeof *perm);
        bnn_data v = s.d;
        assert_int_equal(bnn_shuffle_view(&v, perm, 3, 0, &e), 0);
        size_t *rows = malloc(m * sizeof *rows);
        bnn_shuffle_rows(&v, 11, m, rows);
        float *sub = malloc(m * s.t.cols * sizeof *sub);
        for (size_t r = 0; r < m; r++)
            memcpy(sub + r * s.t.cols, s.rows + rows[r] * s.t.cols, s.t.cols * sizeof(float));
        bnn_table tt;
        bnn_data dd;
        bnn_test_table(&tt, sub, m, s.t.cols);
        assert_int_equal(bnn_data_make(&dd, &tt, NULL, s.a.width[0], s.a.width[s.a.nlayers],
                                       &e), 0);
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &v, 11, m, BNN_GRAD_EXACT, g1, &c1, &e), 0);
        assert_int_equal(bnn_fast_grad(f, s.m.theta, &dd, 0, m, BNN_GRAD_EXACT, g2, &c2, &e), 0);
        assert_bitwise("tiny net, shuffled view vs its rows in place", g1, g2, np);
        assert_memory_equal(&c1, &c2, sizeof c1);
        bnn_fast_free(f);
        free(sub);
        free(rows);
        free(perm);
        bnn_free(g1);
        bnn_free(g2);
        free_setup(&s);
    }
}

/* Work stealing (fast.c): a worker that runs out of its own shards takes the back half of
 * another's; the partials still enter their tree nodes, so the results are bitwise those of
 * one thread. bnn_fast_test_hold makes worker 0 wait after its first shard until the others
 * have run out, so that they steal on every call here (the count of stolen shards says so):
 * the GEMM path (110 shards of 64 samples), its mini-batch pieces (11), the narrow path (35
 * shards), a tiny net (W3's shape, 15); gradient, cost and predictions; 2 to 4 threads. */
static void test_steal_bitwise(void **state)
{
    (void)state;
    static const struct {
        const char *w, *act;
        size_t n, chunk, start, count;
    } cases[] = {{"33,129,129,17", "sigmoid,tanh,sigmoid", 6999, 16, 0, 6999},
                 {"33,129,129,17", "sigmoid,tanh,sigmoid", 6999, 0, 3, 3000},
                 {"2,16,16,1", "sigmoid", 140001, 0, 0, 140001},
                 {"1,1,1,1,1", "sigmoid", 600001, 0, 0, 600001}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setup s;
        make_setup(&s, cases[i].w, cases[i].act, 1, cases[i].n, 300 + i);
        const size_t np = s.m.nparams, start = cases[i].start, count = cases[i].count;
        const size_t nout = (size_t)s.a.width[s.a.nlayers];
        float *g1 = bnn_alloc(np, sizeof(float)), *g2 = bnn_alloc(np, sizeof(float));
        float *p1 = malloc(count * nout * sizeof *p1), *p2 = malloc(count * nout * sizeof *p2);
        double c1, c2, k1, k2;
        bnn_error e;
        for (int t = 1; t <= 4; t++) {
            bnn_fast_engine *f;
            bnn_fast_opts o = {.threads = t, .chunk = cases[i].chunk};
            assert_int_equal(bnn_fast_create(&f, &s.a, &o, &e), 0);
            bnn_fast_test_hold(f, 1);
            /* worker 0 has a shard left after its first: stealing is certain */
            const int parts = bnn_fast_pieces(f, count) ? bnn_fast_pieces(f, count)
                                                        : bnn_fast_shards(f, count);
            assert_true(parts >= 2 * t);
            float *g = t == 1 ? g1 : g2, *p = t == 1 ? p1 : p2;
            double *c = t == 1 ? &c1 : &c2, *k = t == 1 ? &k1 : &k2;
            assert_int_equal(bnn_fast_grad(f, s.m.theta, &s.d, start, count, BNN_GRAD_EXACT, g,
                                           c, &e), 0);
            if (t > 1) {
                if (bnn_fast_stolen(f) == 0)
                    fail_msg("%s, %d threads: no shard was stolen", cases[i].w, t);
                assert_bitwise("stolen shards: gradient", g2, g1, np);
                assert_memory_equal(&c1, &c2, sizeof c1);
            }
            assert_int_equal(bnn_fast_cost(f, s.m.theta, &s.d, start, count, k, &e), 0);
            assert_int_equal(bnn_fast_predict(f, s.m.theta, &s.d, start, count, p, &e), 0);
            if (t > 1) {
                assert_true(bnn_fast_stolen(f) > 0);
                assert_memory_equal(&k1, &k2, sizeof k1);
                assert_memory_equal(p1, p2, count * nout * sizeof *p1);
            }
            bnn_fast_free(f);
        }
        free(p1);
        free(p2);
        bnn_free(g1);
        bnn_free(g2);
        free_setup(&s);
    }
}

int main(void)
{
    bnn_test_require_isa();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_large_and_wide),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_shards_grow),
        cmocka_unit_test(test_many_shards_bitwise),
        cmocka_unit_test(test_streamed_data),
        cmocka_unit_test(test_isa_fixed_at_create),
        cmocka_unit_test(test_chunk_unchanged),
        cmocka_unit_test(test_chunk_wide),
        cmocka_unit_test(test_wide_gradient),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_steal_memory),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_minibatch_vs_reference),
        cmocka_unit_test(test_neuron_split_vs_reference),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_fused_step),
        cmocka_unit_test(test_fused_step_nonfinite),
        cmocka_unit_test(test_minibatch_threads_bitwise),
        cmocka_unit_test(test_minibatch_streamed),
        cmocka_unit_test(test_narrow_tiny_vs_reference),
        cmocka_unit_test(test_narrow_huge_weight),
        cmocka_unit_test(test_narrow_tiny_layouts_threads),
        cmocka_unit_test(test_steal_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
