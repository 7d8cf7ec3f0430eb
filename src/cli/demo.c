/*
 * demo.c - `batchnn demo`: the notes' models on their own examples, then a large
 * full-batch run against the reference engine, then the classification run (demo_classify.c).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static void demo_train(const char *title, const char *arch, const char *acts, int bias,
                       const char *set, size_t n, int epochs, double lr, bnn_model *model)
{
    bnn_error e;
    bnn_arch a;
    if (bnn_arch_parse(&a, arch, acts, bias, &e) != 0 || bnn_model_init(model, &a, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    bnn_model_randomize(model, 1);
    cli_data ld;
    cli_load_data(&ld, set, NULL, n, a.width[0], a.width[a.nlayers], 1, 1);
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = epochs;
    to.lr = lr;
    double t0 = bnn_now_seconds();
    double c0, c1;
    bnn_engine_opts fo = {.engine = BNN_ENGINE_FAST, .gradient = BNN_GRAD_EXACT};
    bnn_engine *f = cli_engine(&a, &fo);
    if (bnn_engine_cost(f, (bnn_vec){.f = model->theta}, &ld.d, 0, ld.d.n, &c0, NULL, &e) != 0 ||
        bnn_train(model, &ld.d, &to, &e) != 0 ||
        bnn_engine_cost(f, (bnn_vec){.f = model->theta}, &ld.d, 0, ld.d.n, &c1, NULL, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    printf("\n%s\n  arch %s (%s%s), %s, %zu samples, %d epochs at lr %g: cost %.3g -> %.3g "
           "(%.2f s)\n", title, arch, acts, bias ? "" : ", no bias", set, ld.d.n, epochs, lr, c0,
           c1, bnn_now_seconds() - t0);
    bnn_engine_free(f);
    cli_free_data(&ld);
}

static void demo_gate(const char *name, const char *arch, int epochs, double lr)
{
    bnn_model model;
    char set[32], title[128];
    snprintf(set, sizeof set, "synth:%s", name);
    snprintf(title, sizeof title, "%s gate", name);
    demo_train(title, arch, "sigmoid", 1, set, 4, epochs, lr, &model);
    /* the four inputs as a table in memory, their outputs by the reference engine */
    static const float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    bnn_table t = {.rows = 4, .cols = 2, .f32 = &x[0][0], .ld = 2, .name = "truth table"};
    bnn_data d;
    bnn_error e;
    float y[4];
    bnn_engine_opts ro = {.engine = BNN_ENGINE_REFERENCE, .gradient = BNN_GRAD_EXACT};
    bnn_engine *g = cli_engine(&model.arch, &ro);
    if (bnn_data_make(&d, &t, NULL, 2, 1, &e) != 0 ||
        bnn_engine_predict(g, (bnn_vec){.f = model.theta}, &d, 0, 4, y, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    for (int i = 0; i < 4; i++)
        printf("  %g %s %g = %.3f\n", x[i][0], name, x[i][1], y[i]);
    bnn_engine_free(g);
    bnn_model_free(&model);
}

/* The large run's epochs, silently (its figures are printed after it). */
static int record_epoch(void *p, int epoch, double loss, double seconds)
{
    cli_progress_epoch(p, epoch, loss, seconds, "");
    return 0;
}

static void usage_demo(void)
{
    printf("usage: batchnn demo [--samples N] [--epochs E]\n\nTrains the notes' models on "
           "their own examples, then a large full-batch run\n(2,16,16,1 on synth:uniform, "
           "default 2^20 samples, 10 epochs) with the fast\nand reference engines, and a "
           "classification run (10 classes, cross-entropy, Adam,\nshuffled, validated).\n");
}

int cli_cmd_demo(int argc, char **argv)
{
    cli_opt opts[] = {{"samples", 1, 0, 0}, {"epochs", 1, 0, 0}, {0, 0, 0, 0}};
    if (cli_parse_opts("demo", argc, argv, opts, NULL, 0, usage_demo) < 0)
        return 0;
    size_t big = (size_t)cli_parse_u64("samples", cli_opt_str(opts, "samples", "1048576"), 1,
                                       SIZE_MAX);
    int big_epochs = (int)cli_parse_u64("epochs", cli_opt_str(opts, "epochs", "10"), 1, 1000000);
    printf("batchnn %s demo: the models of the notes, trained by full-batch gradient descent\n",
           BNN_VERSION);
    bnn_model model;
    demo_train("linear model y = x w (the notes' y = 2x)", "1,1", "identity", 0, "synth:linear",
               1000, 200, 1.0, &model);
    printf("  learned w = %.6f (target 2)\n", model.theta[0]);
    bnn_model_free(&model);
    demo_gate("or", "2,1", 5000, 1.0);
    demo_gate("and", "2,1", 5000, 1.0);
    demo_gate("nand", "2,1", 5000, 1.0);
    demo_gate("xor", "2,2,1", 10000, 1.0);

    /* the large run: fast engine vs reference on a prefix */
    bnn_error e;
    bnn_arch a;
    if (bnn_arch_parse(&a, "2,16,16,1", "sigmoid", 1, &e) != 0 ||
        bnn_model_init(&model, &a, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    bnn_model_randomize(&model, 1);
    cli_data ld;
    cli_load_data(&ld, "synth:uniform", NULL, big, 2, 1, 1, 1);
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = big_epochs;
    cli_progress ctx;
    cli_progress_start(&ctx, ld.d.n, 0, big_epochs, 1);
    to.on_epoch = record_epoch;
    to.ctx = &ctx;
    if (bnn_train(&model, &ld.d, &to, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    double fast_rate = (double)ld.d.n * ctx.epochs_done / ctx.train_seconds;
    printf("\nfull batch, 2,16,16,1 sigmoid on %zu samples of synth:uniform, %d epochs:\n"
           "  fast engine (%s, %d threads): %.2f ms/epoch, %.3g samples/s, final loss %.6g\n",
           ld.d.n, big_epochs, bnn_engine_isa(), omp_get_num_procs(),
           1e3 * ctx.train_seconds / ctx.epochs_done, fast_rate, ctx.last_loss);
    /* the reference engine on a prefix: per-sample rates are comparable */
    size_t nref = ld.d.n < 65536 ? ld.d.n : 65536;
    double *g = malloc(model.nparams * sizeof *g);
    if (!g)
        cli_die(1, "demo: out of memory");
    bnn_engine_opts ro = {.engine = BNN_ENGINE_REFERENCE, .gradient = BNN_GRAD_EXACT};
    bnn_engine *ref = cli_engine(&a, &ro);
    double t0 = bnn_now_seconds(), c;
    if (bnn_engine_grad(ref, (bnn_vec){.f = model.theta}, &ld.d, 0, nref, (bnn_vec){.d = g}, &c,
                        NULL, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    double ref_rate = (double)nref / (bnn_now_seconds() - t0);
    printf("  reference engine (double, scalar, 1 thread): %.3g samples/s on %zu samples\n"
           "  speedup of fast over reference: %.1fx\n", ref_rate, nref, fast_rate / ref_rate);
    bnn_engine_free(ref);
    free(g);
    cli_free_data(&ld);
    bnn_model_free(&model);
    cli_demo_classify();
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
