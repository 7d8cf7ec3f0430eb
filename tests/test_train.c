/*
 * test_train.c - gradient descent learns the notes' examples (seeded, with tolerances):
 * y = 2x gives w close to 2, one neuron learns OR, AND and NAND, 2-2-1 learns XOR. Also:
 * mini-batches, the reference engine and finite-diff training agree with the fast engine, the
 * trained weights are bitwise the same for any thread count (full batch, and mini-batches with
 * shuffling and adam on both paths), divergence is reported, and a stop between the steps
 * of an epoch (should_stop) ends with the last completed epoch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct run {
    bnn_model m;
    bnn_table t;
    bnn_data d;
    double loss0, loss;
    int epochs_seen;
} run;

static int record(void *ctx, int epoch, double loss, double seconds)
{
    run *r = ctx;
    (void)seconds;
    if (r->epochs_seen == 0)
        r->loss0 = loss;
    r->loss = loss;
    r->epochs_seen = epoch;
    return 0;
}

static int train(run *r, const char *widths, const char *acts, int bias, const char *set,
                 size_t n, int epochs, double lr, size_t batch, bnn_engine_kind engine,
                 bnn_gradient grad, int threads, uint64_t seed, bnn_error *e)
{
    memset(r, 0, sizeof *r);
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, widths, acts, bias, e), 0);
    assert_int_equal(bnn_model_init(&r->m, &a, e), 0);
    bnn_model_randomize(&r->m, seed);
    assert_int_equal(bnn_synth_open(&r->t, set, n, a.width[0], a.width[a.nlayers], seed,
                                    1 << 26, e), 0);
    assert_int_equal(bnn_data_make(&r->d, &r->t, NULL, a.width[0], a.width[a.nlayers], e), 0);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = epochs;
    o.lr = lr;
    o.batch = batch;
    o.engine = engine;
    o.gradient = grad;
    o.threads = threads;
    o.on_epoch = record;
    o.ctx = r;
    return bnn_train(&r->m, &r->d, &o, e);
}

static void done(run *r)
{
    bnn_model_free(&r->m);
    bnn_table_close(&r->t);
}

static double out1(const bnn_model *m, double x0, double x1)
{
    double *theta = bnn_theta_to_double(NULL, m->theta, m->nparams);
    double x[2] = {x0, x1}, y;
    bnn_ref_forward(&m->arch, theta, x, &y);
    free(theta);
    return y;
}

static void test_linear_learns_two(void **state)
{
    (void)state;
    run r;
    bnn_error e;
    assert_int_equal(train(&r, "1,1", "identity", 0, "synth:linear", 1000, 200, 1.0, 0,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 0, 1, &e), 0);
    if (!(fabs(r.m.theta[0] - 2.0) < 1e-3)) {
        print_error("w = %.9g, want 2 +- 1e-3\n", r.m.theta[0]);
        fail();
    }
    assert_int_equal(r.epochs_seen, 200);
    assert_true(r.loss < 1e-6 && r.loss < r.loss0);
    done(&r);
}

static void check_gate(const char *set, const char *widths, int epochs, const float want[4],
                       uint64_t seed)
{
    run r;
    bnn_error e;
    assert_int_equal(train(&r, widths, "sigmoid", 1, set, 4, epochs, 1.0, 0, BNN_ENGINE_FAST,
                           BNN_GRAD_EXACT, 0, seed, &e), 0);
    for (int i = 0; i < 4; i++) {
        double y = out1(&r.m, (double)(i >> 1), (double)(i & 1));
        if (!(fabs(y - want[i]) < 0.2)) {
            print_error("%s %s seed %llu: input %d gives %.4f, want %.0f (loss %.4g)\n", set,
                        widths, (unsigned long long)seed, i, y, want[i], r.loss);
            fail();
        }
    }
    done(&r);
}

static void test_gates(void **state)
{
    (void)state;
    const float or_[4] = {0, 1, 1, 1}, and_[4] = {0, 0, 0, 1}, nand_[4] = {1, 1, 1, 0},
                xor_[4] = {0, 1, 1, 0};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        check_gate("synth:or", "2,1", 2000, or_, seed);
        check_gate("synth:and", "2,1", 2000, and_, seed);
        check_gate("synth:nand", "2,1", 2000, nand_, seed);
    }
    check_gate("synth:xor", "2,2,1", 20000, xor_, 1);
    check_gate("synth:xor", "2,4,1", 20000, xor_, 2);
}

static void test_minibatch(void **state)
{
    (void)state;
    run full, whole, mini;
    bnn_error e;
    /* --batch n is full batch, bitwise */
    assert_int_equal(train(&full, "2,3,1", "sigmoid", 1, "synth:circle", 300, 5, 0.5, 0,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 2, 4, &e), 0);
    assert_int_equal(train(&whole, "2,3,1", "sigmoid", 1, "synth:circle", 300, 5, 0.5, 300,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 2, 4, &e), 0);
    assert_memory_equal(full.m.theta, whole.m.theta, full.m.nparams * sizeof(float));
    /* mini-batches of 7 (the last one short) make progress, and agree with the reference */
    assert_int_equal(train(&mini, "1,1", "identity", 0, "synth:linear", 100, 30, 0.5, 7,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 2, 4, &e), 0);
    assert_true(fabs(mini.m.theta[0] - 2.0) < 1e-2);
    run ref;
    assert_int_equal(train(&ref, "1,1", "identity", 0, "synth:linear", 100, 30, 0.5, 7,
                           BNN_ENGINE_REFERENCE, BNN_GRAD_EXACT, 2, 4, &e), 0);
    double want = ref.m.theta[0];
    bnn_test_assert_close_f("mini-batch fast vs reference", mini.m.theta, &want, 1, 1e-5, 1e-6);
    done(&full);
    done(&whole);
    done(&mini);
    done(&ref);
}

static void test_engines_and_gradients_agree(void **state)
{
    (void)state;
    static const bnn_gradient grads[] = {BNN_GRAD_EXACT, BNN_GRAD_SEED};
    for (int g = 0; g < 2; g++) {
        run fast, ref, fd;
        bnn_error e;
        assert_int_equal(train(&fast, "2,5,1", "sigmoid", 1, "synth:xor", 64, 20, 0.5, 0,
                               BNN_ENGINE_FAST, grads[g], 1, 3, &e), 0);
        assert_int_equal(train(&ref, "2,5,1", "sigmoid", 1, "synth:xor", 64, 20, 0.5, 0,
                               BNN_ENGINE_REFERENCE, grads[g], 1, 3, &e), 0);
        double *want = bnn_theta_to_double(NULL, ref.m.theta, ref.m.nparams);
        bnn_test_assert_close_f("20 epochs: fast vs reference", fast.m.theta, want,
                                ref.m.nparams, 1e-4, 1e-2);
        if (grads[g] == BNN_GRAD_EXACT) {
            assert_int_equal(train(&fd, "2,5,1", "sigmoid", 1, "synth:xor", 64, 20, 0.5, 0,
                                   BNN_ENGINE_REFERENCE, BNN_GRAD_FINITE_DIFF, 1, 3, &e), 0);
            bnn_test_assert_close_f("20 epochs: finite-diff vs exact", fd.m.theta, want,
                                    ref.m.nparams, 1e-5, 1e-2);
            done(&fd);
        }
        free(want);
        done(&fast);
        done(&ref);
    }
}

static void test_threads_bitwise(void **state)
{
    (void)state;
    run r1, r2;
    bnn_error e;
    assert_int_equal(train(&r1, "2,16,16,1", "sigmoid", 1, "synth:uniform", 5000, 5, 0.1, 0,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 1, 8, &e), 0);
    assert_int_equal(train(&r2, "2,16,16,1", "sigmoid", 1, "synth:uniform", 5000, 5, 0.1, 0,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 2, 8, &e), 0);
    assert_memory_equal(r1.m.theta, r2.m.theta, r1.m.nparams * sizeof(float));
    assert_memory_equal(&r1.loss, &r2.loss, sizeof(double));
    done(&r1);
    done(&r2);
}

/* Mini-batch training is bitwise the same for 1..4 threads: the GEMM path (batches split over
 * the threads) and the narrow path (small shards), with --shuffle and adam. */
static void test_minibatch_threads_bitwise(void **state)
{
    (void)state;
    static const struct {
        const char *w;
        size_t n, batch;
        bnn_optim_kind opt;
    } cases[] = {{"30,64,3", 1000, 64, BNN_OPT_ADAM},
                 {"30,64,3", 1000, 256, BNN_OPT_SGD},
                 {"2,16,16,1", 8000, 1024, BNN_OPT_ADAM}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bnn_model m[4];
        for (int t = 0; t < 4; t++) {
            bnn_error e;
            bnn_arch a;
            assert_int_equal(bnn_arch_parse(&a, cases[c].w, NULL, 1, &e), 0);
            assert_int_equal(bnn_model_init(&m[t], &a, &e), 0);
            bnn_model_randomize(&m[t], 12);
            bnn_table tb;
            bnn_data d;
            assert_int_equal(bnn_synth_open(&tb, "synth:uniform", cases[c].n, a.width[0],
                                            a.width[a.nlayers], 12, 1 << 26, &e), 0);
            assert_int_equal(bnn_data_make(&d, &tb, NULL, a.width[0], a.width[a.nlayers], &e),
                             0);
            bnn_train_opts o;
            bnn_train_opts_default(&o);
            o.epochs = 3;
            o.lr = cases[c].opt == BNN_OPT_ADAM ? 0.01 : 0.5;
            o.batch = cases[c].batch;
            o.threads = t + 1;
            o.shuffle = 1;
            o.seed = 12;
            o.optim.kind = cases[c].opt;
            assert_int_equal(bnn_train(&m[t], &d, &o, &e), 0);
            bnn_table_close(&tb);
        }
        for (int t = 1; t < 4; t++)
            for (size_t p = 0; p < m[0].nparams; p++)
                if (memcmp(&m[t].theta[p], &m[0].theta[p], sizeof(float)) != 0) {
                    print_error("%s batch %zu: %d threads, parameter %zu is %.9g, want %.9g "
                                "(bitwise)\n", cases[c].w, cases[c].batch, t + 1, p,
                                (double)m[t].theta[p], (double)m[0].theta[p]);
                    fail();
                }
        for (int t = 0; t < 4; t++)
            bnn_model_free(&m[t]);
    }
}

static void test_divergence_reported(void **state)
{
    (void)state;
    run r;
    bnn_error e;
    e.msg[0] = '\0';
    assert_int_equal(train(&r, "1,1", "identity", 0, "synth:linear", 100, 100, 1e3, 0,
                           BNN_ENGINE_FAST, BNN_GRAD_EXACT, 1, 1, &e), -1);
    assert_non_null(strstr(e.msg, "epoch"));
    assert_non_null(strstr(e.msg, "diverged"));
    assert_true(bnn_model_finite(&r.m)); /* the last finite parameters are kept */
    done(&r);
    assert_int_equal(train(&r, "1,1", "identity", 0, "synth:linear", 100, 100, 1e3, 0,
                           BNN_ENGINE_REFERENCE, BNN_GRAD_EXACT, 1, 1, &e), -1);
    assert_non_null(strstr(e.msg, "diverged"));
    assert_true(bnn_model_finite(&r.m));
    done(&r);
}

/* should_stop: 1 from its stop_at-th call on (calls counted in calls). */
typedef struct stopper {
    run *r;
    int calls, stop_at;
} stopper;

static int stop_after(void *ctx)
{
    stopper *s = ctx;
    return ++s->calls >= s->stop_at;
}

static int stop_epoch(void *ctx, int epoch, double loss, double seconds)
{
    return record(((stopper *)ctx)->r, epoch, loss, seconds);
}

/* adam, mini-batches of 50 of 300 samples (6 steps an epoch), stopped at step stop_at;
 * returns the optimizer's step count in *steps */
static void train_stopped(run *r, bnn_engine_kind engine, int stop_at, uint64_t *steps)
{
    bnn_error e;
    memset(r, 0, sizeof *r);
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "2,5,1", "sigmoid", 1, &e), 0);
    assert_int_equal(bnn_model_init(&r->m, &a, &e), 0);
    bnn_model_randomize(&r->m, 3);
    assert_int_equal(bnn_synth_open(&r->t, "synth:circle", 300, 2, 1, 3, 1 << 26, &e), 0);
    assert_int_equal(bnn_data_make(&r->d, &r->t, NULL, 2, 1, &e), 0);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 4;
    o.lr = 0.05;
    o.batch = 50;
    o.shuffle = 1;
    o.engine = engine;
    o.threads = 1;
    o.optim.kind = BNN_OPT_ADAM;
    bnn_optim_state st;
    assert_int_equal(bnn_optim_state_init(&st, &o.optim, r->m.nparams, &e), 0);
    o.state = &st;
    stopper s = {r, 0, stop_at};
    o.on_epoch = stop_epoch;
    o.should_stop = stop_after;
    o.ctx = &s;
    assert_int_equal(bnn_train(&r->m, &r->d, &o, &e), 0);
    *steps = st.step;
    bnn_optim_state_free(&st);
}

/* A stop between the steps of an epoch ends with the last completed epoch (parameters and
 * optimizer state, bitwise); a stop at an epoch's last step completes that epoch. */
static void test_stop_at_step(void **state)
{
    (void)state;
    for (int ref = 0; ref < 2; ref++) {
        const bnn_engine_kind eng = ref ? BNN_ENGINE_REFERENCE : BNN_ENGINE_FAST;
        run one, mid, last, all;
        uint64_t s1, sm, sl, sa;
        train_stopped(&one, eng, 6, &s1);   /* the last step of epoch 1 */
        train_stopped(&mid, eng, 9, &sm);   /* step 3 of epoch 2 */
        train_stopped(&last, eng, 12, &sl); /* the last step of epoch 2 */
        train_stopped(&all, eng, 1000, &sa);
        assert_int_equal(one.epochs_seen, 1);
        assert_int_equal(mid.epochs_seen, 1);
        assert_int_equal(last.epochs_seen, 2);
        assert_int_equal(all.epochs_seen, 4);
        assert_true(s1 == 6 && sm == 6 && sl == 12 && sa == 24);
        const size_t bytes = one.m.nparams * sizeof(float);
        assert_memory_equal(one.m.theta, mid.m.theta, bytes);
        assert_true(memcmp(one.m.theta, last.m.theta, bytes) != 0);
        done(&one);
        done(&mid);
        done(&last);
        done(&all);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_learns_two),
        cmocka_unit_test(test_gates),
        cmocka_unit_test(test_minibatch),
        cmocka_unit_test(test_engines_and_gradients_agree),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_minibatch_threads_bitwise),
        cmocka_unit_test(test_divergence_reported),
        cmocka_unit_test(test_stop_at_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
