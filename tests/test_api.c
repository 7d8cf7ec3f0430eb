/*
 * test_api.c - the public convenience layer (bnn_net) and the engine interface (bnn_engine):
 * a net trains bitwise like bnn_train on the same samples for each engine and gradient; run,
 * run_batch and cost agree with the engines (fast bitwise, reference within tolerance); save
 * and load keep parameters and loss; the finite-diff engine's gradient agrees with the
 * reference engine's; bad arguments fail with a one-line message, also with a NULL error.
 * Data sets (bnn_data_open): a split's sizes, validation through on_epoch_stats agreeing with
 * bnn_net_eval_data, class labels from a CSV, and their errors. Standardisation
 * (bnn_train_opts.standardize): the model equals, bit for bit, the one `batchnn train
 * --standardize` saves for the same data and options (the command from $BATCHNN_EXE, which
 * meson sets), and run/cost/eval apply a model's scaler, also one loaded from a file;
 * bnn_train_opts.val_split gives the model bnn_dataset_split gives, and its errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NS 37 /* samples: odd, several mini-batches */

/* Inputs and targets of a 3-input, 2-output problem, row-major, deterministic. */
static void make_data(float *x, float *y)
{
    double v[NS * 3];
    bnn_test_fill(v, NS * 3, -1.0, 1.0, 11);
    for (int i = 0; i < NS; i++) {
        for (int k = 0; k < 3; k++)
            x[i * 3 + k] = (float)v[i * 3 + k];
        y[i * 2] = (float)(0.5 + 0.3 * v[i * 3] * v[i * 3 + 1]);
        y[i * 2 + 1] = x[i * 3 + 2] > 0 ? 1.0f : 0.0f;
    }
}

/* x and y of NS samples as a data set (tables in direct form over the arrays). */
static void data_of(const float *x, const float *y, bnn_table *tx, bnn_table *ty, bnn_data *d)
{
    bnn_error e;
    bnn_test_table(tx, x, NS, 3);
    bnn_test_table(ty, y, NS, 2);
    assert_int_equal(bnn_data_make(d, tx, ty, 3, 2, &e), 0);
}

static void assert_one_line(const bnn_error *e)
{
    assert_true(e->msg[0] != '\0');
    assert_null(strchr(e->msg, '\n'));
}

static const int widths[] = {3, 5, 2};
static const bnn_act acts[] = {BNN_ACT_TANH, BNN_ACT_IDENTITY};

/* A net trained with o equals bnn_train on a model of the same seed, bitwise. */
static void check_train_same(const bnn_train_opts *o, const char *what)
{
    float x[NS * 3], y[NS * 2];
    make_data(x, y);
    bnn_error e;
    bnn_net *net = bnn_net_create(2, widths, acts, 9, &e);
    assert_non_null(net);
    assert_int_equal(bnn_net_train(net, x, y, NS, o, &e), 0);

    bnn_model m;
    bnn_table tx, ty;
    bnn_data d;
    assert_int_equal(bnn_model_init(&m, &bnn_net_model(net)->arch, &e), 0);
    bnn_model_randomize(&m, 9);
    data_of(x, y, &tx, &ty, &d);
    assert_int_equal(bnn_train(&m, &d, o, &e), 0);
    const float *got = bnn_net_model(net)->theta;
    for (size_t p = 0; p < m.nparams; p++)
        if (memcmp(&got[p], &m.theta[p], sizeof(float)) != 0)
            fail_msg("%s: parameter %zu: net %.9g, bnn_train %.9g", what, p, got[p],
                     m.theta[p]);
    assert_int_equal(bnn_net_loss(net), o->loss);
    bnn_table_close(&tx);
    bnn_table_close(&ty);
    bnn_model_free(&m);
    bnn_net_free(net);
}

static void test_net_trains_like_bnn_train(void **state)
{
    (void)state;
    bnn_train_opts o;
    const bnn_engine_kind engines[] = {BNN_ENGINE_FAST, BNN_ENGINE_REFERENCE};
    const bnn_gradient grads[] = {BNN_GRAD_EXACT, BNN_GRAD_SEED, BNN_GRAD_FINITE_DIFF};
    for (int ei = 0; ei < 2; ei++)
        for (int gi = 0; gi < 3; gi++)
            for (int batch = 0; batch <= 8; batch += 8) {
                bnn_train_opts_default(&o);
                o.epochs = grads[gi] == BNN_GRAD_FINITE_DIFF ? 3 : 20;
                o.lr = 0.2;
                o.batch = (size_t)batch;
                o.engine = engines[ei];
                o.gradient = grads[gi];
                o.optim.kind = batch ? BNN_OPT_ADAM : BNN_OPT_SGD;
                o.shuffle = batch != 0;
                o.seed = 3;
                char what[96];
                snprintf(what, sizeof what, "%s/%s/batch %d", ei ? "reference" : "fast",
                         bnn_gradient_name(grads[gi]), batch);
                check_train_same(&o, what);
            }
    bnn_train_opts_default(&o);
    o.epochs = 10;
    o.loss = BNN_LOSS_BCE;
    o.optim.kind = BNN_OPT_MOMENTUM;
    check_train_same(&o, "bce, momentum");
}

static void test_run_and_cost(void **state)
{
    (void)state;
    float x[NS * 3], y[NS * 2], out[NS * 2], one[2];
    make_data(x, y);
    bnn_error e;
    bnn_net *net = bnn_net_create(2, widths, acts, 4, &e);
    assert_non_null(net);
    assert_int_equal(bnn_net_run_batch(net, x, NS, out, &e), 0);
    for (int i = 0; i < NS; i++) { /* one sample at a time: bitwise the same */
        assert_int_equal(bnn_net_run(net, x + 3 * i, one, &e), 0);
        if (memcmp(one, out + 2 * i, sizeof one) != 0)
            fail_msg("sample %d: run %.9g %.9g, run_batch %.9g %.9g", i, one[0], one[1],
                     out[2 * i], out[2 * i + 1]);
    }
    /* against the reference engine (double) through the engine interface */
    const bnn_model *m = bnn_net_model(net);
    bnn_engine *ref;
    const bnn_engine_opts ro = {.engine = BNN_ENGINE_REFERENCE};
    assert_int_equal(bnn_engine_create(&ref, &m->arch, &ro, &e), 0);
    bnn_table tx, ty;
    bnn_data d;
    data_of(x, y, &tx, &ty, &d);
    float rout[NS * 2];
    double want[NS * 2];
    assert_int_equal(bnn_engine_predict(ref, (bnn_vec){.f = m->theta}, &d, 0, NS, rout, &e), 0);
    for (int i = 0; i < NS * 2; i++)
        want[i] = rout[i];
    bnn_test_assert_close_f("run_batch vs reference", out, want, NS * 2, 1e-5, 1e-3);
    double cost, acc, rcost;
    assert_int_equal(bnn_net_cost(net, x, y, NS, &cost, &acc, &e), 0);
    assert_true(isnan(acc)); /* mse */
    assert_int_equal(bnn_engine_cost(ref, (bnn_vec){.f = m->theta}, &d, 0, NS, &rcost, NULL, &e),
                     0);
    bnn_test_assert_close("cost vs reference", &cost, &rcost, 1, 1e-5, 1e-6);
    bnn_engine_free(ref);
    bnn_table_close(&tx);
    bnn_table_close(&ty);
    bnn_net_free(net);
}

static void test_save_load(void **state)
{
    (void)state;
    float x[NS * 3], y[NS * 2];
    make_data(x, y);
    char dir[256], path[300];
    assert_int_equal(bnn_test_tmpdir(dir, sizeof dir, "api"), 0);
    snprintf(path, sizeof path, "%s/net.safetensors", dir);
    bnn_error e;
    bnn_net *net = bnn_net_create(2, widths, acts, 5, &e);
    assert_non_null(net);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 5;
    o.loss = BNN_LOSS_BCE;
    assert_int_equal(bnn_net_train(net, x, y, NS, &o, &e), 0);
    assert_int_equal(bnn_net_save(net, path, &e), 0);
    bnn_net *back = bnn_net_load(path, &e);
    assert_non_null(back);
    assert_int_equal(bnn_net_loss(back), BNN_LOSS_BCE);
    const bnn_model *a = bnn_net_model(net), *b = bnn_net_model(back);
    assert_int_equal(a->nparams, b->nparams);
    assert_memory_equal(a->theta, b->theta, a->nparams * sizeof(float));
    double c1, c2, acc1, acc2;
    assert_int_equal(bnn_net_cost(net, x, y, NS, &c1, &acc1, &e), 0);
    assert_int_equal(bnn_net_cost(back, x, y, NS, &c2, &acc2, &e), 0);
    assert_true(c1 == c2 && acc1 == acc2);
    assert_true(acc1 >= 0.0 && acc1 <= 1.0);
    bnn_net_free(back);
    bnn_net_free(net);
    assert_null(bnn_net_load(path + 1, &e)); /* a path that does not exist */
    assert_one_line(&e);
    assert_int_equal(bnn_test_rmtree(dir), 0);
}

/* The finite-diff engine's gradient against the reference engine's exact one, and the fast
 * engine's against both, on the same parameters. */
static void test_engine_gradients(void **state)
{
    (void)state;
    float x[NS * 3], y[NS * 2];
    make_data(x, y);
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "3,4,2", "sigmoid,identity", 1, &e), 0);
    bnn_model m;
    assert_int_equal(bnn_model_init(&m, &a, &e), 0);
    bnn_model_randomize(&m, 8);
    bnn_table tx, ty;
    bnn_data d;
    data_of(x, y, &tx, &ty, &d);
    const size_t np = m.nparams;
    double *gref = malloc(np * sizeof *gref), *gfd = malloc(np * sizeof *gfd);
    double *gfast = malloc(np * sizeof *gfast);
    float *gf = bnn_alloc(np, sizeof *gf);
    assert_true(gref && gfd && gfast && gf);
    const bnn_loss losses[] = {BNN_LOSS_MSE, BNN_LOSS_BCE};
    for (int li = 0; li < 2; li++) {
        bnn_engine *ref, *fd, *fast;
        bnn_engine_opts o = {.engine = BNN_ENGINE_REFERENCE, .loss = losses[li]};
        assert_int_equal(bnn_engine_create(&ref, &a, &o, &e), 0);
        o.gradient = BNN_GRAD_FINITE_DIFF;
        assert_int_equal(bnn_engine_create(&fd, &a, &o, &e), 0);
        o.engine = BNN_ENGINE_FAST;
        o.gradient = BNN_GRAD_EXACT;
        assert_int_equal(bnn_engine_create(&fast, &a, &o, &e), 0);
        assert_int_equal(ref->grad_f64, 1);
        assert_int_equal(fd->grad_f64, 1);
        assert_int_equal(fast->grad_f64, 0);
        const bnn_vec th = {.f = m.theta};
        double c_ref, c_fd, c_fast, k_ref, k_fd;
        assert_int_equal(bnn_engine_grad(ref, th, &d, 2, NS - 2, (bnn_vec){.d = gref}, &c_ref,
                                         &k_ref, &e), 0);
        assert_int_equal(bnn_engine_grad(fd, th, &d, 2, NS - 2, (bnn_vec){.d = gfd}, &c_fd, &k_fd,
                                         &e), 0);
        assert_int_equal(bnn_engine_grad(fast, th, &d, 2, NS - 2, (bnn_vec){.f = gf}, &c_fast,
                                         NULL, &e), 0);
        assert_true(c_ref == c_fd && k_ref == k_fd); /* the same reference cost */
        bnn_test_assert_close("finite-diff vs reference gradient", gfd, gref, np, 1e-6, 1e-6);
        bnn_test_assert_close_f("fast vs reference gradient", gf, gref, np, 1e-4, 1e-4);
        bnn_test_assert_close("fast vs reference cost", &c_fast, &c_ref, 1, 1e-5, 1e-6);
        /* finite-diff's cost is its base engine's: the reference engine here */
        double c_base;
        assert_int_equal(bnn_engine_cost(fd, th, &d, 2, NS - 2, &c_base, NULL, &e), 0);
        assert_true(c_base == c_ref);
        /* precisions the engines refuse */
        assert_int_equal(bnn_engine_grad(fast, (bnn_vec){.d = gref}, &d, 0, NS,
                                         (bnn_vec){.f = gf}, NULL, NULL, &e), -1);
        assert_non_null(strstr(e.msg, "float32"));
        assert_int_equal(bnn_engine_grad(ref, th, &d, 0, NS, (bnn_vec){.f = gf}, NULL, NULL, &e),
                         -1);
        assert_one_line(&e);
        assert_int_equal(bnn_engine_predict(ref, th, &d, NS, 1, (float *)gf, &e), -1);
        assert_non_null(strstr(e.msg, "outside"));
        bnn_engine_free(ref);
        bnn_engine_free(fd);
        bnn_engine_free(fast);
    }
    free(gref);
    free(gfd);
    free(gfast);
    bnn_free(gf);
    bnn_table_close(&tx);
    bnn_table_close(&ty);
    bnn_model_free(&m);
}

static void test_errors(void **state)
{
    (void)state;
    bnn_error e;
    const int bad_widths[] = {3, 0, 2};
    const bnn_act bad_acts[] = {BNN_ACT_TANH, (bnn_act)99};
    assert_null(bnn_net_create(0, widths, NULL, 1, &e));
    assert_one_line(&e);
    assert_null(bnn_net_create(2, bad_widths, NULL, 1, &e));
    assert_one_line(&e);
    assert_null(bnn_net_create(2, widths, bad_acts, 1, &e));
    assert_one_line(&e);
    assert_null(bnn_net_create(2, bad_widths, NULL, 1, NULL)); /* no message wanted */
    /* cross-entropy needs an identity last layer */
    bnn_net *net = bnn_net_create(2, widths, NULL, 1, &e);
    assert_non_null(net);
    float x[NS * 3], y[NS * 2], out[2];
    make_data(x, y);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.loss = BNN_LOSS_CE;
    assert_int_equal(bnn_net_train(net, x, y, NS, &o, &e), -1);
    assert_one_line(&e);
    assert_int_equal(bnn_net_loss(net), BNN_LOSS_MSE); /* unchanged by a failed run */
    bnn_train_opts_default(&o);
    o.patience = 1;
    o.val = (const struct bnn_data *)&o; /* any non-NULL: refused before use */
    assert_int_equal(bnn_net_train(net, x, y, NS, &o, &e), -1);
    assert_non_null(strstr(e.msg, "NULL"));
    assert_int_equal(bnn_net_train(net, x, NULL, NS, NULL, &e), -1);
    assert_one_line(&e);
    assert_int_equal(bnn_net_run_batch(net, x, 0, out, &e), -1);
    assert_one_line(&e);
    assert_int_equal(bnn_net_cost(net, x, NULL, NS, NULL, NULL, NULL), -1);
    /* divergence names the epoch */
    bnn_train_opts_default(&o);
    o.epochs = 50;
    o.lr = 1e30;
    const int lw[] = {3, 2};
    const bnn_act la[] = {BNN_ACT_IDENTITY};
    bnn_net *lin = bnn_net_create(1, lw, la, 1, &e);
    assert_non_null(lin);
    assert_int_equal(bnn_net_train(lin, x, y, NS, &o, &e), -1);
    assert_non_null(strstr(e.msg, "epoch"));
    assert_one_line(&e);
    bnn_net_free(lin);
    bnn_net_free(net);
    bnn_net_free(NULL);
    assert_string_equal(bnn_version(), BNN_VERSION);
}

typedef struct val_seen {
    int epochs;
    double val_loss, val_accuracy;
} val_seen;

static int record_val(void *ctx, const bnn_epoch_stats *s)
{
    val_seen *v = ctx;
    v->epochs = s->epoch;
    v->val_loss = s->val_loss;
    v->val_accuracy = s->val_accuracy;
    return 0;
}

static void test_data_sets(void **state)
{
    (void)state;
    bnn_error e;
    bnn_dataset *d = NULL, *val = NULL;
    const bnn_data_spec xor_spec = {.inputs = 2, .outputs = 1, .samples = 40, .seed = 3};
    assert_non_null(d = bnn_data_open("synth:xor", &xor_spec, &e));
    assert_int_equal(bnn_dataset_count(d), 40);
    assert_int_equal(bnn_dataset_split(d, 0.0, 1, &val, &e), -1);
    assert_one_line(&e);
    assert_int_equal(bnn_dataset_split(d, 0.999, 1, &val, &e), -1); /* leaves none to train */
    assert_one_line(&e);
    assert_int_equal(bnn_dataset_split(d, 0.25, 1, &val, &e), 0);
    assert_int_equal(bnn_dataset_count(d), 30);
    assert_int_equal(bnn_dataset_count(val), 10);
    bnn_dataset *again = NULL;
    assert_int_equal(bnn_dataset_split(d, 0.25, 1, &again, &e), -1); /* split once */
    assert_null(again);
    assert_one_line(&e);
    const int w[] = {2, 4, 1}, wrong[] = {3, 4, 1};
    const bnn_act acts[] = {BNN_ACT_TANH, BNN_ACT_IDENTITY};
    bnn_net *net = bnn_net_create(2, w, acts, 1, &e), *other = bnn_net_create(2, wrong, acts, 1, &e);
    assert_non_null(net);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 5;
    o.loss = BNN_LOSS_BCE;
    val_seen seen = {0};
    o.on_epoch_stats = record_val;
    o.ctx = &seen;
    assert_int_equal(bnn_net_train_data(net, d, val, &o, &e), 0);
    assert_int_equal(seen.epochs, 5);
    assert_true(isfinite(seen.val_loss) && isfinite(seen.val_accuracy));
    double cost, acc;
    assert_int_equal(bnn_net_eval_data(net, val, &cost, &acc, &e), 0);
    assert_true(fabs(cost - seen.val_loss) <= 1e-9 * fabs(cost));
    assert_true(fabs(acc - seen.val_accuracy) <= 1e-12);
    assert_int_equal(bnn_net_train_data(other, d, NULL, &o, &e), -1); /* widths differ */
    assert_one_line(&e);
    assert_int_equal(bnn_net_eval_data(other, d, &cost, NULL, &e), -1);
    bnn_net_free(other);
    bnn_net_free(net);
    bnn_dataset_free(val);
    bnn_dataset_free(d);

    /* class labels from a CSV with a header: one-hot targets for 3 outputs */
    char dir[512], path[600];
    assert_int_equal(bnn_test_tmpdir(dir, sizeof dir, "data"), 0);
    snprintf(path, sizeof path, "%s/c.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "a,b,label\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%d,%d,%d\n", i % 3, -(i % 3), i % 3);
    fclose(f);
    const bnn_data_spec spec = {.inputs = 2, .outputs = 3};
    assert_non_null(d = bnn_data_open(path, &spec, &e));
    assert_int_equal(bnn_dataset_count(d), 30);
    const int w3[] = {2, 3};
    const bnn_act id[] = {BNN_ACT_IDENTITY};
    net = bnn_net_create(1, w3, id, 1, &e);
    bnn_train_opts_default(&o);
    o.loss = BNN_LOSS_CE;
    o.epochs = 200;
    assert_int_equal(bnn_net_train_data(net, d, NULL, &o, &e), 0);
    assert_int_equal(bnn_net_eval_data(net, d, &cost, &acc, &e), 0);
    assert_true(acc == 1.0); /* separable: x0 alone gives the label */
    bnn_net_free(net);
    bnn_dataset_free(d);
    const bnn_data_spec spec5 = {.inputs = 2, .outputs = 2}; /* label 2 of 2 classes */
    assert_null(d = bnn_data_open(path, &spec5, &e));
    assert_non_null(strstr(e.msg, "c.csv"));
    assert_one_line(&e);
    const bnn_data_spec in_only = {.inputs = 3, .outputs = 1}; /* 3 columns: no targets */
    assert_null(d = bnn_data_open(path, &in_only, &e));
    assert_one_line(&e);
    remove(path);
    remove(dir);
    const bnn_data_spec zero = {.inputs = 0, .outputs = 1};
    assert_null(d = bnn_data_open("synth:xor", &zero, &e));
    assert_null(d);
    assert_null(d = bnn_data_open("/nonexistent/x.csv", &spec, &e));
    assert_non_null(strstr(e.msg, "/nonexistent/x.csv"));
    bnn_dataset_free(NULL);
}

/* A 4-input, 3-class CSV sorted by class, inputs of very different scales and one constant. */
static void write_scaled_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pixel,grams,constant,tiny,label\n");
    for (int i = 0; i < 90; i++) {
        const int c = i / 30, k = (i * 7) % 30;
        fprintf(f, "%d,%g,5,%g,%d\n", (k + 5 * c) % 17, 1000.0 + 40.0 * c + k, 1e-3 * (k - c),
                c);
    }
    fclose(f);
}

/* The API's standardised model against the command's: the same split, statistics, training
 * and saved tensors, bitwise (both run bnn_data_scale_stats and bnn_train on the same views). */
static void test_standardize_like_command(void **state)
{
    (void)state;
    const char *exe = getenv("BATCHNN_EXE");
    if (!exe)
        skip(); /* run outside meson: the command is unknown */
    char dir[512], csv[600], cmd_st[600], api_st[600], cmd[4096];
    assert_int_equal(bnn_test_tmpdir(dir, sizeof dir, "std"), 0);
    snprintf(csv, sizeof csv, "%s/c.csv", dir);
    snprintf(cmd_st, sizeof cmd_st, "%s/cmd.st", dir);
    snprintf(api_st, sizeof api_st, "%s/api.st", dir);
    write_scaled_csv(csv);
    snprintf(cmd, sizeof cmd, "'%s' train --data '%s' --arch 4,8,3 --act relu,identity "
             "--loss cross-entropy --epochs 15 --lr 0.05 --batch 16 --shuffle --val-split 0.2 "
             "--seed 7 --standardize --save '%s' --quiet >/dev/null", exe, csv, cmd_st);
    assert_int_equal(system(cmd), 0);

    bnn_error e;
    bnn_dataset *d = NULL, *val = NULL;
    const bnn_data_spec spec = {.inputs = 4, .outputs = 3};
    assert_non_null(d = bnn_data_open(csv, &spec, &e));
    assert_int_equal(bnn_dataset_split(d, 0.2, 7, &val, &e), 0);
    const int w[] = {4, 8, 3};
    const bnn_act acts[] = {BNN_ACT_RELU, BNN_ACT_IDENTITY};
    bnn_net *net = bnn_net_create(2, w, acts, 7, &e);
    assert_non_null(net);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = 15, o.lr = 0.05, o.batch = 16, o.shuffle = 1, o.seed = 7;
    o.loss = BNN_LOSS_CE, o.standardize = 1;
    assert_int_equal(bnn_net_train_data(net, d, val, &o, &e), 0);
    assert_int_equal(bnn_net_save(net, api_st, &e), 0);

    /* o.val_split on the whole set: the same split (from o.seed), hence the same model */
    bnn_dataset *all = bnn_data_open(csv, &spec, &e);
    bnn_net *net2 = bnn_net_create(2, w, acts, 7, &e);
    assert_non_null(all);
    o.val_split = 1.5;
    assert_int_equal(bnn_net_train_data(net2, all, NULL, &o, &e), -1);
    assert_non_null(strstr(e.msg, "val_split 1.5"));
    o.val_split = 0.2;
    assert_int_equal(bnn_net_train_data(net2, all, val, &o, &e), -1); /* one of the two */
    assert_one_line(&e);
    assert_int_equal(bnn_net_train_data(net2, all, NULL, &o, &e), 0);
    assert_memory_equal(bnn_net_model(net2)->theta, bnn_net_model(net)->theta,
                        bnn_net_model(net)->nparams * sizeof(float));
    assert_memory_equal(bnn_net_model(net2)->in_std, bnn_net_model(net)->in_std,
                        4 * sizeof(float));
    bnn_net_free(net2);
    bnn_dataset_free(all);

    bnn_net *cmd_net = bnn_net_load(cmd_st, &e), *api_net = bnn_net_load(api_st, &e);
    assert_non_null(cmd_net);
    assert_non_null(api_net);
    const bnn_model *c = bnn_net_model(cmd_net), *a = bnn_net_model(api_net);
    assert_non_null(c->in_mean);
    assert_non_null(a->in_mean);
    assert_int_equal(a->nparams, c->nparams);
    assert_memory_equal(a->in_mean, c->in_mean, 4 * sizeof(float));
    assert_memory_equal(a->in_std, c->in_std, 4 * sizeof(float));
    assert_memory_equal(a->theta, c->theta, c->nparams * sizeof(float));
    assert_true(a->in_std[2] == 1.0f); /* the constant input: no division by zero */
    assert_int_equal(bnn_net_loss(api_net), BNN_LOSS_CE);

    /* run, cost and eval apply the loaded model's scaler: the same outputs as a net without
     * one fed (x - mean) / std by hand */
    float x[8] = {3, 1040, 5, 0.01f, 16, 1080, 5, -0.02f}, xs[8], out[6], want[6];
    for (int i = 0; i < 8; i++)
        xs[i] = (x[i] - c->in_mean[i % 4]) / c->in_std[i % 4];
    bnn_net *plain = bnn_net_create(2, w, acts, 1, &e);
    memcpy(bnn_net_model(plain)->theta, c->theta, c->nparams * sizeof(float));
    assert_int_equal(bnn_net_run_batch(cmd_net, x, 2, out, &e), 0);
    assert_int_equal(bnn_net_run_batch(plain, xs, 2, want, &e), 0);
    assert_memory_equal(out, want, sizeof out);
    double cost_api, cost_trained, acc;
    assert_int_equal(bnn_net_eval_data(cmd_net, val, &cost_api, &acc, &e), 0);
    assert_int_equal(bnn_net_eval_data(net, val, &cost_trained, NULL, &e), 0);
    assert_true(cost_api == cost_trained);
    assert_true(acc > 0.9); /* standardised, the classes separate */
    bnn_net_free(plain);
    bnn_net_free(cmd_net);
    bnn_net_free(api_net);
    bnn_net_free(net);
    bnn_dataset_free(val);
    bnn_dataset_free(d);
    assert_int_equal(bnn_test_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_trains_like_bnn_train),
        cmocka_unit_test(test_run_and_cost),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_engine_gradients),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_data_sets),
        cmocka_unit_test(test_standardize_like_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
