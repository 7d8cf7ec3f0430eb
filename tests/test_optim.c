/*
 * test_optim.c - optimizers and schedules against an independent float64 transcription of
 * PyTorch's documented algorithms (torch.optim.SGD with dampening 0 and nesterov, Adam
 * without amsgrad, AdamW; StepLR and CosineAnnealingLR by their recursive definitions).
 * Run once per CPU path (the fused step is a kernel).
 *
 * 1. The fused float32 kernel, 12 steps on random parameters and gradients (|g| < 2), against
 *    the oracle in double: relative error <= 1e-5 on parameters (floor 0.1; they start in [-1, 1]) and buffers
 *    (floor 1: they are sums of gradients that cancel);
 *    bitwise the same on every CPU path; the finiteness check sees a NaN and an overflow.
 * 2. Whole training runs (random nets, several epochs, full batch and mini-batch, with and
 *    without --shuffle, each loss): the reference engine against the oracle driving
 *    bnn_ref_grad_loss (tolerance 1e-10), the fast engine against the same (tolerance 4e-4,
 *    floor 1e-2, float32 over ~20 steps: Adam's m / sqrt(v) amplifies the rounding of small
 *    gradients, 2.2e-4 seen with mini-batches split over the threads).
 * 3. Schedules: closed forms against the recursive definitions (1e-12); sgd with weight
 *    decay 0 is bitwise theta + (-lr) g.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "testutil.h"

/* ---- the oracle: torch.optim's documented per-parameter algorithms, in double ------------ */

typedef struct oracle {
    bnn_optim_kind kind;
    double lr, mu, b1, b2, eps, wd;
    int t;
    double *buf, *m, *v; /* momentum_buffer, exp_avg, exp_avg_sq */
} oracle;

static void oracle_init(oracle *o, const bnn_optim_opts *opts, size_t n)
{
    memset(o, 0, sizeof *o);
    o->kind = opts->kind;
    o->mu = opts->momentum;
    o->b1 = opts->beta1;
    o->b2 = opts->beta2;
    o->eps = opts->eps;
    o->wd = opts->weight_decay;
    o->buf = calloc(n, sizeof(double));
    o->m = calloc(n, sizeof(double));
    o->v = calloc(n, sizeof(double));
}

static void oracle_free(oracle *o)
{
    free(o->buf);
    free(o->m);
    free(o->v);
}

/* One step, as the PyTorch documentation writes it (g_t the gradient, lambda the decay). */
static void oracle_step(oracle *o, double lr, double *theta, const double *grad, size_t n)
{
    o->t++;
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        if (o->kind == BNN_OPT_ADAMW) {
            theta[i] = theta[i] - lr * o->wd * theta[i];
        } else if (o->wd != 0) {
            g = g + o->wd * theta[i];
        }
        if (o->kind == BNN_OPT_SGD) {
            theta[i] = theta[i] - lr * g;
        } else if (o->kind == BNN_OPT_MOMENTUM || o->kind == BNN_OPT_NESTEROV) {
            if (o->t > 1)
                o->buf[i] = o->mu * o->buf[i] + g; /* dampening 0 */
            else
                o->buf[i] = g;
            if (o->kind == BNN_OPT_NESTEROV)
                g = g + o->mu * o->buf[i];
            else
                g = o->buf[i];
            theta[i] = theta[i] - lr * g;
        } else {
            o->m[i] = o->b1 * o->m[i] + (1 - o->b1) * g;
            o->v[i] = o->b2 * o->v[i] + (1 - o->b2) * g * g;
            double mhat = o->m[i] / (1 - pow(o->b1, o->t));
            double vhat = o->v[i] / (1 - pow(o->b2, o->t));
            theta[i] = theta[i] - lr * mhat / (sqrt(vhat) + o->eps);
        }
    }
}

static const bnn_optim_kind kinds[] = {BNN_OPT_SGD, BNN_OPT_MOMENTUM, BNN_OPT_NESTEROV,
                                       BNN_OPT_ADAM, BNN_OPT_ADAMW};

static void opts_for(bnn_optim_opts *o, bnn_optim_kind k, double wd)
{
    bnn_optim_opts_default(o);
    o->kind = k;
    o->weight_decay = wd;
    o->momentum = 0.8;
    o->beta1 = 0.85;
    o->beta2 = 0.99;
    o->eps = 1e-6;
}

/* ---- 1. the fused kernel ----------------------------------------------------------------- */

static void test_kernel_vs_oracle(void **state)
{
    (void)state;
    const size_t n = 1037; /* not a multiple of any vector width */
    double *th0 = malloc(n * sizeof *th0), *gd = malloc(n * sizeof *gd);
    double *want = malloc(n * sizeof *want);
    float *th = bnn_alloc(n, sizeof(float)), *next = bnn_alloc(n, sizeof(float));
    float *g = bnn_alloc(n, sizeof(float));
    for (int k = 0; k < 5; k++)
        for (int w = 0; w < 2; w++) {
            bnn_optim_opts oo;
            opts_for(&oo, kinds[k], w ? 0.05 : 0.0);
            bnn_optim_state st;
            bnn_error e;
            assert_int_equal(bnn_optim_state_init(&st, &oo, n, &e), 0);
            oracle orc;
            oracle_init(&orc, &oo, n);
            bnn_test_fill(th0, n, -1, 1, 11 + (uint64_t)k);
            for (size_t i = 0; i < n; i++) {
                th[i] = (float)th0[i];
                want[i] = th[i];
            }
            for (int step = 0; step < 12; step++) {
                bnn_test_fill(gd, n, -2, 2, 100 + (uint64_t)step);
                for (size_t i = 0; i < n; i++) {
                    g[i] = (float)gd[i];
                    gd[i] = g[i];
                }
                const double lr = 0.05 / (1 + step);
                assert_int_equal(bnn_optim_step(&st, lr, th, g, next), 1);
                memcpy(th, next, n * sizeof *th);
                oracle_step(&orc, lr, want, gd, n);
            }
            char what[128];
            snprintf(what, sizeof what, "%s (weight decay %g), 12 steps, parameters [%s]",
                     bnn_optim_name(kinds[k]), oo.weight_decay, bnn_kernels()->isa);
            bnn_test_assert_close_f(what, th, want, n, 1e-5, 0.1);
            if (bnn_optim_nbuf(kinds[k]) >= 1)
                bnn_test_assert_close_f("first buffer", st.buf[0],
                                        kinds[k] >= BNN_OPT_ADAM ? orc.m : orc.buf, n, 1e-5,
                                        1.0);
            if (bnn_optim_nbuf(kinds[k]) >= 2)
                bnn_test_assert_close_f("exp_avg_sq", st.buf[1], orc.v, n, 1e-5, 1.0);
            assert_int_equal(st.step, 12);
            bnn_optim_state_free(&st);
            oracle_free(&orc);
        }
    free(th0);
    free(gd);
    free(want);
    bnn_free(th);
    bnn_free(next);
    bnn_free(g);
}

/* Every CPU path gives bitwise the same step; sgd without decay is theta + (-lr) g. */
static void test_kernel_bitwise_and_finite(void **state)
{
    (void)state;
    const size_t n = 301;
    float *th = bnn_alloc(n, sizeof(float)), *g = bnn_alloc(n, sizeof(float));
    float *out[3], *b0[3], *b1[3];
    double *tmp = malloc(n * sizeof *tmp);
    bnn_test_fill(tmp, n, -1, 1, 5);
    for (size_t i = 0; i < n; i++)
        th[i] = (float)tmp[i];
    bnn_test_fill(tmp, n, -3, 3, 6);
    for (size_t i = 0; i < n; i++)
        g[i] = (float)tmp[i];
    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    for (int k = 0; k < 5; k++) {
        bnn_optim_opts oo;
        opts_for(&oo, kinds[k], 0.01);
        bnn_optim_coef c;
        memset(&c, 0, sizeof c);
        c.kind = (int)kinds[k];
        c.neg_lr = -0.1f;
        c.wd = kinds[k] == BNN_OPT_ADAMW ? 0.0f : 0.01f;
        c.mu = 0.8f;
        c.mu_nesterov = 0.8f;
        c.b1 = 0.85f;
        c.omb1 = 0.15f;
        c.b2 = 0.99f;
        c.omb2 = 0.01f;
        c.neg_step = -0.3f;
        c.inv_bc2_sqrt = 5.0f;
        c.eps = 1e-6f;
        c.decay = 0.999f;
        int have = 0;
        for (int i = 0; i < 3; i++) {
            out[i] = b0[i] = b1[i] = NULL;
            const bnn_kernel_table *t = bnn_kernels_named(isas[i]);
            if (!t)
                continue;
            out[i] = bnn_alloc(n, sizeof(float));
            b0[i] = bnn_alloc(n, sizeof(float));
            b1[i] = bnn_alloc(n, sizeof(float));
            for (size_t p = 0; p < n; p++) {
                b0[i][p] = 0.5f * g[p];
                b1[i][p] = 0.25f * g[p] * g[p];
            }
            assert_int_equal(t->optim_step(out[i], th, g, b0[i], b1[i], n, &c), 1);
            if (have++) {
                if (memcmp(out[i], out[0], n * sizeof(float)) != 0 ||
                    memcmp(b0[i], b0[0], n * sizeof(float)) != 0 ||
                    memcmp(b1[i], b1[0], n * sizeof(float)) != 0) {
                    print_error("%s: path %s differs from scalar\n", bnn_optim_name(kinds[k]),
                                isas[i]);
                    fail();
                }
            }
        }
        for (int i = 0; i < 3; i++) {
            bnn_free(out[i]);
            bnn_free(b0[i]);
            bnn_free(b1[i]);
        }
    }
    /* sgd, no decay: the notes' update, bitwise */
    bnn_optim_opts oo;
    bnn_optim_opts_default(&oo);
    bnn_optim_state st;
    bnn_error e;
    assert_int_equal(bnn_optim_state_init(&st, &oo, n, &e), 0);
    float *next = bnn_alloc(n, sizeof(float));
    assert_int_equal(bnn_optim_step(&st, 0.37, th, g, next), 1);
    const float alpha = (float)-0.37;
    for (size_t i = 0; i < n; i++) {
        float want = th[i] + alpha * g[i];
        if (memcmp(&want, &next[i], sizeof want) != 0) {
            print_error("sgd at %zu: %.9g, want %.9g\n", i, next[i], want);
            fail();
        }
    }
    /* the finiteness check: a NaN gradient, then an overflow, at the last element */
    g[n - 1] = NAN;
    assert_int_equal(bnn_optim_step(&st, 0.1, th, g, next), 0);
    g[n - 1] = FLT_MAX;
    th[n - 1] = -FLT_MAX;
    assert_int_equal(bnn_optim_step(&st, 2.0, th, g, next), 0);
    bnn_optim_state_free(&st);
    bnn_free(next);
    bnn_free(th);
    bnn_free(g);
    free(tmp);
}

/* ---- 2. whole training runs -------------------------------------------------------------- */

/* The oracle's training loop: the documented permutation (Fisher-Yates, xoshiro256** seeded
 * with bnn_hash64(seed, epoch)), batches in that order, gradients in double by the reference
 * engine, the oracle's step, the schedule's recursive form. */
static void oracle_train(const bnn_arch *a, const bnn_model *init, const bnn_data *d,
                         const bnn_train_opts *o, double *theta)
{
    const size_t np = init->nparams, n = d->n;
    const size_t batch = o->batch ? o->batch : n;
    oracle orc;
    oracle_init(&orc, &o->optim, np);
    bnn_theta_to_double(theta, init->theta, np);
    double *g = malloc(np * sizeof *g);
    uint32_t *perm = malloc(n * sizeof *perm);
    bnn_error e;
    double lr = o->lr;
    for (int ep = 0; ep < o->epochs; ep++) {
        if (ep > 0) { /* the schedules' recursive definitions */
            if (o->schedule.kind == BNN_SCHED_STEP && ep % o->schedule.every == 0)
                lr *= o->schedule.gamma;
            if (o->schedule.kind == BNN_SCHED_COSINE) {
                const double T = o->epochs, mn = o->schedule.min_lr;
                lr = mn + (lr - mn) * (1 + cos(M_PI * ep / T)) / (1 + cos(M_PI * (ep - 1) / T));
            }
        }
        bnn_data view = *d;
        if (o->shuffle) {
            for (size_t i = 0; i < n; i++)
                perm[i] = (uint32_t)i;
            bnn_rng r;
            bnn_rng_seed(&r, bnn_hash64(o->seed, (uint64_t)ep));
            for (size_t i = n - 1; i >= 1; i--) {
                size_t j = (size_t)(((unsigned __int128)bnn_rng_next(&r) * (i + 1)) >> 64);
                uint32_t t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            view.perm = perm;
        }
        for (size_t b0 = 0; b0 < n; b0 += batch) {
            size_t cnt = n - b0 < batch ? n - b0 : batch;
            assert_int_equal(bnn_ref_grad_loss(a, theta, &view, b0, cnt, BNN_GRAD_EXACT, o->loss,
                                               g, NULL, NULL, &e), 0);
            oracle_step(&orc, lr, theta, g, np);
        }
    }
    free(g);
    free(perm);
    oracle_free(&orc);
}

static void run_case(const char *widths, const char *acts, bnn_loss loss, bnn_optim_kind k,
                     double wd, size_t n, size_t batch, int shuffle, const char *sched,
                     int epochs)
{
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, widths, acts, 1, &e), 0);
    bnn_model init;
    assert_int_equal(bnn_model_init(&init, &a, &e), 0);
    bnn_model_randomize(&init, 3 + (uint64_t)k);
    for (int l = 0; l < a.nlayers; l++) /* non-zero biases too */
        for (int64_t j = 0; j < a.width[l + 1]; j++)
            bnn_model_bias(&init, l)[j] = 0.1f * (float)((j % 5) - 2);
    /* data: uniform inputs; targets per loss (one-hot classes, bits, or values) */
    const size_t nin = (size_t)a.width[0], nout = (size_t)a.width[a.nlayers];
    float *rows = malloc(n * (nin + nout) * sizeof *rows);
    bnn_rng r;
    bnn_rng_seed(&r, 77);
    for (size_t i = 0; i < n; i++) {
        float *row = rows + i * (nin + nout);
        for (size_t j = 0; j < nin; j++)
            row[j] = (float)(2 * bnn_rng_uniform(&r) - 1);
        size_t cls = (size_t)(bnn_rng_uniform(&r) * (double)nout);
        for (size_t j = 0; j < nout; j++)
            row[nin + j] = loss == BNN_LOSS_CE    ? (j == cls ? 1.0f : 0.0f)
                         : loss == BNN_LOSS_BCE ? (bnn_rng_uniform(&r) < 0.5 ? 1.0f : 0.0f)
                                                : (float)bnn_rng_uniform(&r);
    }
    bnn_table t;
    bnn_test_table(&t, rows, n, nin + nout);
    bnn_data d;
    assert_int_equal(bnn_data_make(&d, &t, NULL, (int64_t)nin, (int64_t)nout, &e), 0);

    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = epochs;
    o.lr = k >= BNN_OPT_ADAM ? 0.01 : 0.1;
    o.batch = batch;
    o.threads = 2;
    o.loss = loss;
    o.shuffle = shuffle;
    o.seed = 9;
    opts_for(&o.optim, k, wd);
    assert_int_equal(bnn_schedule_parse(sched, &o.schedule, &e), 0);
    size_t np = init.nparams;
    double *want = malloc(np * sizeof *want);
    oracle_train(&a, &init, &d, &o, want);
    char what[256];
    for (int eng = 0; eng < 2; eng++) {
        bnn_model m;
        assert_int_equal(bnn_model_init(&m, &a, &e), 0);
        memcpy(m.theta, init.theta, np * sizeof(float));
        o.engine = eng ? BNN_ENGINE_REFERENCE : BNN_ENGINE_FAST;
        if (bnn_train(&m, &d, &o, &e) != 0) {
            print_error("%s\n", e.msg);
            fail();
        }
        snprintf(what, sizeof what, "%s %s, %s, %s L=%g, n %zu batch %zu%s, %s, %d epochs [%s]",
                 eng ? "reference" : "fast", widths, bnn_loss_name(loss), bnn_optim_name(k), wd,
                 n, batch, shuffle ? " shuffled" : "", sched, epochs, bnn_kernels()->isa);
        /* the reference engine rounds its double parameters to float at the end */
        if (eng)
            bnn_test_assert_close_f(what, m.theta, want, np, 1e-7, 1e-3);
        else
            bnn_test_assert_close_f(what, m.theta, want, np, 4e-4, 1e-2);
        bnn_model_free(&m);
    }
    free(want);
    free(rows);
    bnn_model_free(&init);
}

static void test_training_matches_oracle(void **state)
{
    (void)state;
    for (int k = 0; k < 5; k++) {
        run_case("3,7,4", "tanh,identity", BNN_LOSS_CE, kinds[k], 0.01, 90, 0, 0, "constant", 6);
        run_case("3,7,4", "tanh,identity", BNN_LOSS_CE, kinds[k], 0.0, 90, 16, 1, "step:2:0.5", 4);
        run_case("4,9,3", "sigmoid,identity", BNN_LOSS_BCE, kinds[k], 0.02, 70, 25, 1, "cosine",
                 5);
        run_case("2,5,5,2", "sigmoid", BNN_LOSS_MSE, kinds[k], 0.0, 64, 0, 0, "cosine:0.001",
                 6);
        run_case("2,5,5,2", "sigmoid", BNN_LOSS_MSE, kinds[k], 0.05, 64, 10, 1, "constant", 3);
    }
    /* a wide net on the GEMM path, and a narrow one on the narrow path (mse) */
    run_case("40,33,10", "relu,identity", BNN_LOSS_CE, BNN_OPT_ADAM, 0.0, 300, 64, 1, "constant",
             3);
    run_case("2,16,16,1", "sigmoid", BNN_LOSS_MSE, BNN_OPT_NESTEROV, 0.0, 600, 128, 1, "constant",
             3);
}

/* ---- 3. schedules and checks ------------------------------------------------------------- */

static void test_schedules(void **state)
{
    (void)state;
    bnn_schedule s;
    bnn_error e;
    assert_int_equal(bnn_schedule_parse("step:3:0.5", &s, &e), 0);
    for (int ep = 0; ep < 10; ep++)
        assert_true(bnn_schedule_lr(&s, 0.8, ep, 10) == 0.8 * pow(0.5, ep / 3));
    assert_int_equal(bnn_schedule_parse("cosine:0.01", &s, &e), 0);
    /* CosineAnnealingLR's recursive definition */
    double lr = 0.5;
    for (int ep = 1; ep <= 12; ep++) {
        const double T = 12, mn = 0.01;
        lr = mn + (lr - mn) * (1 + cos(M_PI * ep / T)) / (1 + cos(M_PI * (ep - 1) / T));
        double got = bnn_schedule_lr(&s, 0.5, ep, 12);
        if (!(fabs(got - lr) <= 1e-12)) {
            print_error("cosine epoch %d: %.17g, recursive %.17g\n", ep, got, lr);
            fail();
        }
    }
    assert_true(fabs(bnn_schedule_lr(&s, 0.5, 12, 12) - 0.01) < 1e-15);
    assert_int_equal(bnn_schedule_parse("constant", &s, &e), 0);
    assert_true(bnn_schedule_lr(&s, 0.3, 7, 10) == 0.3);
    static const char *const bad[] = {"linear", "step", "step:0:0.5", "step:2", "step:2:x",
                                      "step:2:-1", "cosine:-1", "cosine:nan", "step:2:0.5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = '\0';
        assert_int_equal(bnn_schedule_parse(bad[i], &s, &e), -1);
        assert_non_null(strstr(e.msg, bad[i]) ? e.msg : strstr(e.msg, "lr schedule"));
        assert_null(strstr(e.msg, "--")); /* the library names fields, not flags */
    }
    bnn_optim_opts o;
    bnn_optim_opts_default(&o);
    o.beta2 = 1.0;
    assert_int_equal(bnn_optim_check(&o, &e), -1);
    assert_non_null(strstr(e.msg, "beta2 1 must be in [0, 1)"));
    assert_null(strstr(e.msg, "--"));
    bnn_optim_opts_default(&o);
    o.weight_decay = -1;
    assert_int_equal(bnn_optim_check(&o, &e), -1);
    o.weight_decay = NAN;
    assert_int_equal(bnn_optim_check(&o, &e), -1);
    bnn_optim_kind k;
    assert_int_equal(bnn_optim_parse("rmsprop", &k), -1);
    assert_int_equal(bnn_optim_parse("adamw", &k), 0);
    assert_int_equal(k, BNN_OPT_ADAMW);
}

/* The permutation: a permutation, documented, different per epoch, the same per seed. */
static void test_shuffle_perm(void **state)
{
    (void)state;
    bnn_error e;
    const size_t n = 1000;
    uint32_t *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    unsigned char *seen = calloc(n, 1);
    assert_int_equal(bnn_shuffle_perm(p, n, 5, 0, &e), 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(p[i] < n && !seen[p[i]]);
        seen[p[i]] = 1;
    }
    assert_int_equal(bnn_shuffle_perm(q, n, 5, 0, &e), 0);
    assert_memory_equal(p, q, n * sizeof *p);
    assert_int_equal(bnn_shuffle_perm(q, n, 5, 1, &e), 0);
    assert_memory_not_equal(p, q, n * sizeof *p);
    /* the first values of the documented scheme, pinned (another program must match them) */
    assert_int_equal(bnn_shuffle_perm(q, 10, 1, 0, &e), 0);
    uint32_t first[10];
    memcpy(first, q, sizeof first);
    bnn_rng r;
    bnn_rng_seed(&r, bnn_hash64(1, 0));
    uint32_t w[10];
    for (uint32_t i = 0; i < 10; i++)
        w[i] = i;
    for (size_t i = 9; i >= 1; i--) {
        size_t j = (size_t)(((unsigned __int128)bnn_rng_next(&r) * (i + 1)) >> 64);
        uint32_t t = w[i];
        w[i] = w[j];
        w[j] = t;
    }
    assert_memory_equal(first, w, sizeof w);
    /* the values README's Python transcription prints */
    static const uint32_t doc10[10] = {0, 6, 7, 3, 5, 4, 1, 2, 9, 8};
    static const uint32_t doc73[10] = {9, 1, 3, 5, 4, 2, 8, 0, 7, 6};
    assert_memory_equal(first, doc10, sizeof doc10);
    assert_int_equal(bnn_shuffle_perm(q, 10, 7, 3, &e), 0);
    assert_memory_equal(q, doc73, sizeof doc73);
    free(p);
    free(q);
    free(seen);
}

/* The block scheme of very large sets (README "Shuffling"), on a small view: a permutation of
 * the samples, each block's samples kept together, equal to an independent transcription. */
static uint64_t doc_mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t doc_feistel(uint64_t key, uint64_t x, int h)
{
    uint64_t mask = ((uint64_t)1 << h) - 1, L = x >> h, R = x & mask;
    for (uint64_t r = 0; r < 4; r++) {
        uint64_t nl = R, nr = L ^ (doc_mix(bnn_hash64(key, r) ^ R) & mask);
        L = nl;
        R = nr;
    }
    return (L << h) | R;
}

static void test_shuffle_blocks(void **state)
{
    (void)state;
    const size_t B = BNN_SHUFFLE_BLOCK, n = 3 * B + 77, nb = 3;
    bnn_error e;
    uint32_t order[3];
    assert_int_equal(bnn_shuffle_perm(order, nb, 21, 3, &e), 0);
    bnn_data v;
    memset(&v, 0, sizeof v);
    v.n = n;
    v.perm = order;
    v.perm_blocked = 1;
    v.perm_key = bnn_hash64(21, 3);
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        size_t r = bnn_shuffle_row(&v, i);
        assert_true(r < n && !seen[r]);
        seen[r] = 1;
        size_t q = i / B < nb ? order[i / B] : 3; /* the short block last */
        assert_true(r / B == q); /* from the block the order names */
        /* the documented F, transcribed independently */
        size_t len = q == 3 ? 77 : B;
        int w = 2;
        while (((size_t)1 << w) < len)
            w += 2;
        uint64_t key = bnn_hash64(bnn_hash64(21, 3), q), x = i % B;
        do
            x = doc_feistel(key, x, w / 2);
        while (x >= len);
        if (r != q * B + x) {
            print_error("sample %zu: row %zu, the documented scheme gives %zu\n", i, r,
                        (size_t)(q * B + x));
            fail();
        }
    }
    free(seen);
    /* the batched form agrees */
    size_t rows[300];
    bnn_shuffle_rows(&v, 2 * B - 150, 300, rows);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(rows[i], bnn_shuffle_row(&v, 2 * B - 150 + i));
    bnn_shuffle_rows(&v, n - 100, 100, rows);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(rows[i], bnn_shuffle_row(&v, n - 100 + i));
    /* views of at most 2^26 samples use the full permutation */
    assert_int_equal(bnn_shuffle_entries(BNN_SHUFFLE_FULL_MAX), BNN_SHUFFLE_FULL_MAX);
    assert_int_equal(bnn_shuffle_entries(BNN_SHUFFLE_FULL_MAX + 1), 1024);
}

/* Shuffled training reads in-memory and streamed synthetic sets alike: bitwise the same. */
static void test_shuffle_streamed(void **state)
{
    (void)state;
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "5,20,3", "tanh,identity", 1, &e), 0);
    bnn_model m[2];
    for (int k = 0; k < 2; k++) {
        bnn_table t;
        bnn_data d;
        assert_int_equal(bnn_synth_open(&t, "synth:uniform", 2000, 5, 3, 4,
                                        k ? 0 : (size_t)1 << 26, &e), 0);
        assert_true(k ? t.f32 == NULL : t.f32 != NULL);
        assert_int_equal(bnn_data_make(&d, &t, NULL, 5, 3, &e), 0);
        assert_int_equal(bnn_model_init(&m[k], &a, &e), 0);
        bnn_model_randomize(&m[k], 2);
        bnn_train_opts o;
        bnn_train_opts_default(&o);
        o.epochs = 3;
        o.batch = 64;
        o.shuffle = 1;
        o.seed = 4;
        o.loss = BNN_LOSS_BCE;
        o.optim.kind = BNN_OPT_ADAM;
        assert_int_equal(bnn_train(&m[k], &d, &o, &e), 0);
        bnn_table_close(&t);
    }
    assert_memory_equal(m[0].theta, m[1].theta, m[0].nparams * sizeof(float));
    bnn_model_free(&m[0]);
    bnn_model_free(&m[1]);
}

/* A run stopped after epoch 4 of 9 and resumed from its checkpoint file (model + optimizer
 * state) ends bitwise where the uninterrupted run ends: cosine schedule (closed form over the
 * total epochs), adam, shuffled mini-batches, validation, for each optimizer. */
typedef struct ck_ctx {
    const char *path;
    bnn_optim_state *st;
    int at;
    uint64_t step;
} ck_ctx;

static int ck_save(void *p, int epoch, const bnn_model *m, bnn_error *e)
{
    ck_ctx *c = p;
    if (epoch != c->at)
        return 0;
    c->step = c->st->step;
    return bnn_checkpoint_save(m, c->st, c->path, NULL, NULL, 0, e);
}

static void test_resume_bitwise(void **state)
{
    (void)state;
    char dir[512], path[600];
    assert_int_equal(bnn_test_tmpdir(dir, sizeof dir, "resume"), 0);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "4,12,3", "tanh,identity", 1, &e), 0);
    bnn_table t;
    bnn_data d;
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", 500, 4, 3, 6, 1 << 24, &e), 0);
    assert_int_equal(bnn_data_make(&d, &t, NULL, 4, 3, &e), 0);
    bnn_data train = d, val = d;
    train.n = 400;
    val.row0 = 400;
    val.n = 100;
    for (int k = 0; k < 5; k++) {
        bnn_model full, part, res;
        assert_int_equal(bnn_model_init(&full, &a, &e), 0);
        bnn_model_randomize(&full, 3);
        assert_int_equal(bnn_model_init(&part, &a, &e), 0);
        memcpy(part.theta, full.theta, full.nparams * sizeof(float));
        bnn_train_opts o;
        bnn_train_opts_default(&o);
        o.lr = kinds[k] >= BNN_OPT_ADAM ? 0.01 : 0.1;
        o.batch = 32;
        o.shuffle = 1;
        o.seed = 5;
        o.loss = BNN_LOSS_CE;
        o.val = &val;
        opts_for(&o.optim, kinds[k], 0.01);
        assert_int_equal(bnn_schedule_parse("cosine:0.001", &o.schedule, &e), 0);
        o.epochs = 9;
        assert_int_equal(bnn_train(&full, &train, &o, &e), 0);
        /* the same run, checkpointed at epoch 4 (it goes on; only the file matters) */
        bnn_optim_state st;
        assert_int_equal(bnn_optim_state_init(&st, &o.optim, part.nparams, &e), 0);
        ck_ctx c = {path, &st, 4, 0};
        bnn_train_opts o2 = o;
        o2.state = &st;
        o2.checkpoint_every = 1;
        o2.on_checkpoint = ck_save;
        o2.ctx = &c;
        assert_int_equal(bnn_train(&part, &train, &o2, &e), 0);
        bnn_optim_state_free(&st);
        /* resume from the file */
        assert_int_equal(bnn_model_load(&res, path, NULL, &e), 0);
        bnn_optim_state st2;
        assert_int_equal(bnn_optim_state_init(&st2, &o.optim, res.nparams, &e), 0);
        assert_int_equal(bnn_checkpoint_load_state(path, &a, &st2, &e), 0);
        st2.step = c.step;
        bnn_train_opts o3 = o;
        o3.state = &st2;
        o3.start_epoch = 4;
        o3.epochs = 5;
        o3.total_epochs = 9;
        assert_int_equal(bnn_train(&res, &train, &o3, &e), 0);
        if (memcmp(res.theta, full.theta, full.nparams * sizeof(float)) != 0) {
            print_error("%s: the resumed run differs from the uninterrupted one\n",
                        bnn_optim_name(kinds[k]));
            fail();
        }
        bnn_optim_state_free(&st2);
        bnn_model_free(&full);
        bnn_model_free(&part);
        bnn_model_free(&res);
    }
    bnn_table_close(&t);
    bnn_test_rmtree(dir);
}

int main(void)
{
    bnn_test_require_isa();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_vs_oracle),
        cmocka_unit_test(test_kernel_bitwise_and_finite),
        cmocka_unit_test(test_training_matches_oracle),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_shuffle_perm),
        cmocka_unit_test(test_shuffle_blocks),
        cmocka_unit_test(test_shuffle_streamed),
        cmocka_unit_test(test_resume_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
