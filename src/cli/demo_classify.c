/*
 * demo_classify.c - the classification run of `batchnn demo`: 10 Gaussian blobs in 16
 * dimensions, labels 0..9 (one target column: integer labels), sorted by class as data often
 * is. Cross-entropy, Adam, mini-batches, validation on a held-out set: loss and accuracy per
 * epoch; the same without --shuffle (sorted mini-batches: each batch sees one class); and the
 * time per epoch next to the plain run (sgd on the squared error, no shuffling).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

#define NIN 16
#define NCLASS 10

typedef struct demo_log {
    double seconds;
    int epochs;
    bnn_epoch_stats last;
    int print;
} demo_log;

static int demo_epoch(void *p, const bnn_epoch_stats *s)
{
    demo_log *l = p;
    l->seconds += s->seconds;
    l->epochs++;
    l->last = *s;
    if (l->print)
        printf("  epoch %d: loss %.4f  accuracy %.3f  val_loss %.4f  val_accuracy %.3f  "
               "(%.1f ms)\n", s->epoch, s->loss, s->accuracy, s->val_loss, s->val_accuracy,
               1e3 * s->seconds);
    return 0;
}

/* n samples of the blobs, sorted by class: row = 16 inputs, then the label. */
static float *blobs(size_t n, uint64_t seed, const double *centre)
{
    float *rows = malloc(n * (NIN + 1) * sizeof *rows);
    if (!rows)
        cli_die(1, "demo: out of memory");
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        const int c = (int)(i * NCLASS / n);
        float *row = rows + i * (NIN + 1);
        for (int j = 0; j < NIN; j++) { /* Box-Muller */
            double u1 = bnn_rng_uniform(&r), u2 = bnn_rng_uniform(&r);
            double g = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
            row[j] = (float)(centre[c * NIN + j] + 0.75 * g);
        }
        row[NIN] = (float)c;
    }
    return rows;
}

static void train_run(const bnn_arch *a, const bnn_data *d, const bnn_data *val, bnn_loss loss,
                      bnn_optim_kind opt, double lr, int shuffle, int epochs, demo_log *log)
{
    bnn_error e;
    bnn_model m;
    if (bnn_model_init(&m, a, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    bnn_model_randomize(&m, 1);
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = epochs;
    o.lr = lr;
    o.batch = 128;
    o.loss = loss;
    o.optim.kind = opt;
    o.shuffle = shuffle;
    o.seed = 1;
    o.val = val;
    o.on_epoch_stats = demo_epoch;
    o.ctx = log;
    if (bnn_train(&m, d, &o, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    bnn_model_free(&m);
}

void cli_demo_classify(void)
{
    const size_t ntrain = 40000, nval = 10000;
    double centre[NCLASS * NIN];
    bnn_rng r;
    bnn_rng_seed(&r, 42);
    for (int i = 0; i < NCLASS * NIN; i++)
        centre[i] = 2.0 * bnn_rng_uniform(&r) - 1.0;
    float *tr = blobs(ntrain, 1, centre), *va = blobs(nval, 2, centre);
    bnn_table tt, vt;
    memset(&tt, 0, sizeof tt);
    tt.rows = ntrain;
    tt.cols = NIN + 1;
    tt.f32 = tr;
    tt.ld = NIN + 1;
    snprintf(tt.name, sizeof tt.name, "blobs (train)");
    vt = tt;
    vt.rows = nval;
    vt.f32 = va;
    snprintf(vt.name, sizeof vt.name, "blobs (validation)");
    bnn_error e;
    bnn_arch a, plain;
    bnn_data d, v;
    if (bnn_arch_parse(&a, "16,64,10", "tanh,identity", 1, &e) != 0 ||
        bnn_arch_parse(&plain, "16,64,10", "tanh,sigmoid", 1, &e) != 0 ||
        bnn_data_make(&d, &tt, NULL, NIN, NCLASS, &e) != 0 ||
        bnn_data_make(&v, &vt, NULL, NIN, NCLASS, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    const int epochs = 8;
    printf("\nclassification: 10 Gaussian blobs in 16-D, %zu training samples sorted by class "
           "(labels 0..9),\n%zu held out; 16,64,10 tanh,identity, --loss cross-entropy "
           "--optimizer adam --lr 0.002 --batch 128\n--shuffle --val:\n", ntrain, nval);
    demo_log opt = {0}, sorted = {0}, base = {0};
    opt.print = 1;
    train_run(&a, &d, &v, BNN_LOSS_CE, BNN_OPT_ADAM, 0.002, 1, epochs, &opt);
    train_run(&a, &d, &v, BNN_LOSS_CE, BNN_OPT_ADAM, 0.002, 0, epochs, &sorted);
    printf("  without --shuffle (each mini-batch holds one class): val_accuracy %.3f after %d "
           "epochs, %.3f with it\n", sorted.last.val_accuracy, epochs, opt.last.val_accuracy);
    train_run(&plain, &d, NULL, BNN_LOSS_MSE, BNN_OPT_SGD, 0.1, 0, epochs, &base);
    printf("  time per epoch: %.2f ms (cross-entropy, Adam, shuffled, validation not counted) "
           "vs %.2f ms for the plain run (sgd on the squared error, in order), %s\n",
           1e3 * opt.seconds / opt.epochs, 1e3 * base.seconds / base.epochs, bnn_engine_isa());
    free(tr);
    free(va);
}
