/*
 * train.c - `batchnn train`: options, resume, outputs (model, log, plot, checkpoints),
 * stop signals; the progress meter is progress.c, the plot plot.c, the signal handler
 * signals.c, the check of every input and output path paths.c.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bnn_internal.h"
#include "bnn_kernels.h"
#include "cli.h"

/* SIGINT, SIGTERM and SIGHUP (Ctrl-C, docker stop, Slurm, timeout, a closed terminal) finish
 * the current epoch, write every output and exit 128 + signal; a second one exits at once,
 * removing any temporary file first (signals.c, deferred mode). */

#define MAX_META 24

typedef struct train_ctx {
    cli_progress progress;
    FILE *log;
    const char *log_path;
    int log_failed, log_errno;
    double *losses, *val_losses; /* for --plot: [k] of epoch first_epoch + k + 1 */
    size_t nlosses, caplosses;
    double val_loss;             /* this epoch's, from on_epoch_stats */
    const char *checkpoint;
    int checkpoint_failures, last_checkpoint; /* epoch of the last checkpoint written */
    const char *meta_keys[MAX_META], *meta_vals[MAX_META];
    int nmeta;
    char epoch_buf[32];
    /* training options: the optimizer state saved in checkpoints, the log's extra columns */
    const bnn_train_opts *to;
    const cli_run_settings *rs; /* the settings recorded in checkpoints with to's */
    char meta_buf[1024];
    int validating;
    char log_extra[256], progress_extra[256];
} train_ctx;

static void add_meta(train_ctx *c, const char *key, const char *value)
{
    if (c->nmeta == MAX_META)
        cli_die(1, "internal error: too many checkpoint metadata keys");
    c->meta_keys[c->nmeta] = key;
    c->meta_vals[c->nmeta++] = value;
}

/* Writes the checkpoint. A failure is reported and training goes on (the next checkpoint may
 * succeed); the run then exits non-zero at the end. */
static int on_checkpoint(void *p, int epoch, const bnn_model *m, bnn_error *unused)
{
    (void)unused;
    train_ctx *c = p;
    bnn_error e;
    if (bnn_dist_rank() != 0) { /* under mpirun rank 0 alone writes */
        c->last_checkpoint = epoch;
        return 0;
    }
    snprintf(c->epoch_buf, sizeof c->epoch_buf, "%d", epoch);
    c->meta_vals[0] = c->epoch_buf; /* meta_keys[0] is "epoch" */
    int n = c->nmeta;
    if (c->to) /* the optimizer's step count and settings, its buffers as tensors */
        n += cli_train_meta(c->to, c->to->state, c->rs, c->meta_keys + n, c->meta_vals + n,
                            c->meta_buf, sizeof c->meta_buf);
    if (bnn_checkpoint_save(m, c->to ? c->to->state : NULL, c->checkpoint, c->meta_keys,
                            c->meta_vals, n, &e) != 0) {
        fprintf(stderr, "%sbatchnn: --checkpoint %s (epoch %d); training goes on\n",
                cli_progress_clear(&c->progress), e.msg, epoch);
        c->checkpoint_failures++;
    } else {
        c->last_checkpoint = epoch;
    }
    return 0;
}

static int on_epoch_stats(void *p, const bnn_epoch_stats *s)
{
    train_ctx *c = p;
    cli_log_extra(c->log_extra, sizeof c->log_extra, s, c->validating, c->to->loss);
    cli_progress_extra(c->progress_extra, sizeof c->progress_extra, s, c->validating,
                       c->to->loss);
    c->val_loss = s->val_loss;
    return 0;
}

/* Grows the --plot arrays; on failure the plot simply ends earlier. */
static void keep_loss(train_ctx *c, double loss)
{
    if (c->nlosses == c->caplosses) {
        size_t cap = c->caplosses ? 2 * c->caplosses : 1024;
        double *nl = realloc(c->losses, cap * sizeof *nl);
        if (nl)
            c->losses = nl;
        double *nv = nl ? realloc(c->val_losses, cap * sizeof *nv) : NULL;
        if (nv) {
            c->val_losses = nv;
            c->caplosses = cap;
        }
    }
    if (c->nlosses < c->caplosses) {
        c->val_losses[c->nlosses] = c->val_loss;
        c->losses[c->nlosses++] = loss;
    }
}

static int on_epoch(void *p, int epoch, double loss, double seconds)
{
    train_ctx *c = p;
    if (c->log && !c->log_failed) { /* a row per epoch, flushed: tail -f follows the run */
        errno = 0;
        if (fprintf(c->log, "%d,%.9g,%.9g%s\n", epoch, loss, seconds, c->log_extra) < 0 ||
            fflush(c->log) != 0) {
            c->log_failed = 1;
            c->log_errno = errno ? errno : EIO;
            fprintf(stderr, "%sbatchnn: --log %s: cannot write: %s; training goes on\n",
                    cli_progress_clear(&c->progress), c->log_path, strerror(c->log_errno));
        }
    }
    keep_loss(c, loss);
    cli_progress_epoch(&c->progress, epoch, loss, seconds, c->progress_extra);
    /* under mpirun a signal reaches the ranks at different moments: they agree here, at the
     * epoch's end, so that all stop after the same epoch */
    const int sig = bnn_dist_max_int(cli_stop_signal());
    cli_stop_note(sig);
    return sig ? 1 : 0;
}

/* Training polls the stop signal after every step (the ranks agree on it there). */
static int should_stop(void *unused)
{
    (void)unused;
    return cli_stop_signal();
}

static void usage_train(void)
{
    printf(
        "usage: batchnn train --arch W0,W1,...,Wm --data FILE|synth:NAME [options]\n"
        "       batchnn train --hidden H1,...  --data FILE [options]\n"
        "\n"
        "  e.g. a classifier on a CSV of inputs then one class label 0..K-1 per row:\n"
        "    batchnn train --data digits.csv --hidden 64 --act relu,identity \\\n"
        "      --loss cross-entropy --standardize --val-split 0.2 --patience 10 \\\n"
        "      --optimizer adam --lr 0.001 --batch 32 --shuffle --save digits.st\n"
        "\n"
        "Trains a multilayer perceptron by gradient descent on C = 1/n sum_i |a_i - y_i|^2\n"
        "(or the --loss chosen).\n"
        "\n"
        "model\n"
        "  --arch 2,16,16,1     widths, inputs first, outputs last; auto for the first or\n"
        "                       last: from the data (see --hidden)\n"
        "  --hidden 16,16       hidden widths: inputs from the data's columns, outputs from\n"
        "                       the targets' columns, or for a label column (one data file:\n"
        "                       its last column) the largest label + 1\n"
        "  --act NAME[,NAME..]  identity|sigmoid|tanh|relu, one for all layers or one per\n"
        "                       layer (default sigmoid)\n"
        "  --no-bias            layers without bias (the notes' linear model)\n"
        "  --init MODEL         start from a saved model (its architecture wins)\n"
        "  --seed S             seed for the initial weights and synthetic data (default 1)\n"
        "data\n"
        "  --data FILE          CSV or .npy, one row per sample: inputs then targets\n"
        "  --data synth:NAME    synthetic set: %s\n"
        "  --targets FILE       targets from a separate file (then --data holds inputs only)\n"
        "                       With K > 1 outputs, one target column holds class labels\n"
        "                       0..K-1 (CSV, or an integer .npy), one-hot encoded\n"
        "  --samples N          samples of a synthetic set (default 1024), or the first N rows\n"
        "training\n"
        "  --epochs N           epochs (default 100)\n"
        "  --lr X               learning rate (default 0.1)\n"
        "  --batch B            mini-batch size; 0 = full batch, as in the notes (default 0)\n"
        "  --gradient MODE      exact (default) | seed (the notes' recursion, 2^(m-l) x exact)\n"
        "                       | finite-diff (central differences in double; slow)\n"
        "  --engine E           fast (float32, default) | reference (double, scalar)\n"
        "  --threads T          threads (default: all cores); results do not depend on it\n"
        "  --optimizer NAME     sgd (default, the notes' update) | momentum | nesterov | adam\n"
        "                       | adamw: each step as torch.optim documents it\n"
        "  --momentum M         momentum and nesterov (default 0.9)\n"
        "  --beta1 B --beta2 B  adam and adamw (defaults 0.9, 0.999)\n"
        "  --adam-eps E         adam and adamw (default 1e-8)\n"
        "  --weight-decay L     L theta added to the gradient; adamw: theta *= 1 - lr L\n"
        "                       (default 0)\n"
        "  --lr-schedule S      constant (default) | step:EVERY:GAMMA | cosine[:MIN_LR], per\n"
        "                       epoch (StepLR, CosineAnnealingLR with T_max = --epochs)\n"
        "  --loss NAME          mse (default: sum_j (a_j - y_j)^2) | cross-entropy (softmax of\n"
        "                       identity outputs) | bce (binary cross-entropy on logits)\n"
        "  --shuffle            a new permutation of the samples every epoch (from --seed)\n"
        "  --standardize        feed (x - mean) / std per input, mean and std (1 for a\n"
        "                       constant input) from the training samples, saved in the model\n"
        "                       (tensors input.mean, input.std) and applied by predict, eval\n"
        "                       and --resume\n"
        "validation\n"
        "  --val FILE|synth:NAME  evaluated after each epoch (synthetic: --seed + 1)\n"
        "  --val-targets FILE   its targets, from a separate file\n"
        "  --val-split F        validate on a random fraction F of the samples (0 < F < 1,\n"
        "                       from --seed; stratified by class for class targets)\n"
        "  --val-split tail:F   validate on the last fraction F of the rows instead\n"
        "  --patience N         stop after N epochs without a better validation loss; --save\n"
        "                       then holds the best model\n"
        "output\n"
        "  --save MODEL         write the trained model (safetensors)\n"
        "  --log FILE.csv       epoch,loss,seconds,lr[,val_loss][,accuracy[,val_accuracy]]\n"
        "  --plot FILE.svg      the loss curve (and the validation loss when validating)\n"
        "  --plot-scale S       linear | log loss axis (default: log when the loss falls by\n"
        "                       more than 10x)\n"
        "  --checkpoint FILE    save a checkpoint (model, epoch, optimizer state) every\n"
        "                       --checkpoint-every N epochs (default 10) and at the end\n"
        "  --resume FILE        continue from a checkpoint up to --epochs in all, with its\n"
        "                       settings (optimizer, lr, batch, ...: give them again or not);\n"
        "                       the weights are bitwise those of an uninterrupted run\n"
        "  --quiet              no progress or summary\n",
        bnn_synth_names());
}

/* Opens --log in place. A fresh run starts it anew; a resumed run keeps the header and the
 * rows up to the checkpoint's epoch (rows a killed run wrote after it are dropped) and
 * appends, so the log reads as one run. */
static int open_log(bnn_outfile *lf, const char *path, int resume_epoch,
                    const bnn_train_opts *to)
{
    bnn_error e;
    char header[160];
    cli_log_header(header, sizeof header - 1, to->val != NULL, to->loss);
    strcat(header, "\n");
    if (bnn_outfile_open_inplace(lf, path, &e) != 0)
        cli_die(1, "--log %s", e.msg);
    FILE *f = lf->fp;
    off_t keep = 0;
    if (lf->regular && resume_epoch > 0) {
        FILE *in = fopen(lf->target, "rb");
        char line[256];
        if (in && fgets(line, sizeof line, in) && strcmp(line, header) == 0) {
            keep = (off_t)strlen(header);
            while (fgets(line, sizeof line, in)) {
                char *end;
                long ep = strtol(line, &end, 10);
                if (end == line || *end != ',' || ep > resume_epoch || !strchr(line, '\n'))
                    break;
                keep += (off_t)strlen(line);
            }
        }
        if (in)
            fclose(in);
    }
    int err = 0;
    if (lf->regular && (ftruncate(fileno(f), keep) != 0 || fseeko(f, keep, SEEK_SET) != 0))
        err = errno;
    if (!err && keep == 0 && (fputs(header, f) < 0 || fflush(f) != 0))
        err = errno ? errno : EIO;
    return err;
}

/* The cost at the final parameters (the loss after the last update), by the engine that
 * trained them. */
static int final_cost(const bnn_model *m, const bnn_data *d, const bnn_train_opts *to,
                      double *cost, bnn_error *e)
{
    if (to->engine == BNN_ENGINE_REFERENCE) {
        double *theta = bnn_theta_to_double(NULL, m->theta, m->nparams);
        double *grad = malloc(m->nparams * sizeof *grad);
        int r = theta && grad ? 0 : bnn_fail(e, "out of memory");
        if (r == 0)
            r = bnn_ref_grad_loss(&m->arch, theta, d, 0, d->n, BNN_GRAD_EXACT, to->loss, grad,
                                  cost, NULL, e);
        free(theta);
        free(grad);
        return r;
    }
    bnn_fast *fast;
    bnn_fast_opts fo = {.threads = to->threads, .chunk = 0, .loss = (int)to->loss};
    if (bnn_fast_create(&fast, &m->arch, &fo, e) != 0)
        return -1;
    int r = bnn_fast_cost(fast, m->theta, d, 0, d->n, cost, e);
    bnn_fast_free(fast);
    return r;
}

/* Classes present in a view of class targets (0 when the targets are not classes). */
static size_t classes_present(const bnn_data *d, size_t *counts)
{
    bnn_error e;
    int onehot = 0;
    if (d->nout < 2 || bnn_data_classes(d, NULL, counts, &onehot, &e) != 0 || !onehot)
        return 0;
    size_t k = 0;
    for (int64_t c = 0; c < d->nout; c++)
        k += counts[c] > 0;
    return k;
}

/* --val-split: d becomes the training part, *v the validation part. A random subset
 * (stratified by class when the targets are classes; src/train/split.c) or, with tail:F, the
 * last rows as before. A part that holds one class of several is warned about: early stopping
 * on it measures one class only (sorted data and a tail split). */
static void split_data(bnn_data *d, bnn_data *v, uint32_t **idx, double frac, int tail,
                       const char *opt, uint64_t seed, int lead)
{
    bnn_error e;
    int stratified = 0;
    if (tail) {
        const size_t nval = (size_t)(frac * (double)d->n + 0.5);
        if (nval < 1 || nval >= d->n)
            cli_die(1, "--val-split %s of %zu samples leaves %zu for validation and %zu for "
                       "training (each needs at least 1)", opt, d->n, nval, d->n - nval);
        *v = *d;
        v->row0 = d->n - nval;
        v->n = nval;
        d->n -= nval;
    } else {
        bnn_data all = *d;
        if (bnn_split_random(&all, frac, seed, d, v, idx, &stratified, &e) != 0)
            cli_die(1, "--val-split %s: %s", opt, e.msg);
    }
    /* a stratified split gives every class its share: only the others are counted (a pass
     * over each part, which stops at the first row that is not a class) */
    if (!lead || d->nout < 2 || stratified)
        return;
    size_t *counts = calloc((size_t)d->nout, sizeof *counts);
    if (!counts)
        return;
    const size_t kt = classes_present(d, counts), kv = classes_present(v, counts);
    const char *part = kv == 1 && kt > 1 ? "validation" : kt == 1 && kv > 1 ? "training" : NULL;
    if (part)
        fprintf(stderr, "batchnn: warning: --val-split %s: the %s part holds one class only%s\n",
                opt, part, tail ? " (sorted data? --val-split F draws a random, stratified "
                                  "subset)" : "");
    free(counts);
}

int cli_cmd_train(int argc, char **argv)
{
    cli_opt opts[] = {
        {"arch", 1, 0, 0},    {"act", 1, 0, 0},      {"no-bias", 0, 0, 0},
        {"data", 1, 0, 0},    {"targets", 1, 0, 0},  {"samples", 1, 0, 0},
        {"epochs", 1, 0, 0},  {"lr", 1, 0, 0},       {"batch", 1, 0, 0},
        {"seed", 1, 0, 0},    {"threads", 1, 0, 0},  {"init", 1, 0, 0},
        {"save", 1, 0, 0},    {"log", 1, 0, 0},      {"gradient", 1, 0, 0},
        {"engine", 1, 0, 0},  {"quiet", 0, 0, 0},    
        {"plot", 1, 0, 0},    {"checkpoint", 1, 0, 0}, {"checkpoint-every", 1, 0, 0},
        {"resume", 1, 0, 0},  {"plot-scale", 1, 0, 0},
        /* training options (train_options.c) */
        {"optimizer", 1, 0, 0}, {"momentum", 1, 0, 0}, {"beta1", 1, 0, 0},
        {"beta2", 1, 0, 0},   {"adam-eps", 1, 0, 0}, {"weight-decay", 1, 0, 0},
        {"lr-schedule", 1, 0, 0}, {"loss", 1, 0, 0}, {"shuffle", 0, 0, 0},
        {"val", 1, 0, 0},     {"val-targets", 1, 0, 0}, {"val-split", 1, 0, 0},
        {"patience", 1, 0, 0}, {"hidden", 1, 0, 0},
        {"standardize", 0, 0, 0}, {0, 0, 0, 0},
    };
    if (cli_parse_opts("train", argc, argv, opts, NULL, 0, usage_train) < 0)
        return 0;
    bnn_error e;
    const char *init = cli_opt_str(opts, "init", NULL);
    const char *resume = cli_opt_str(opts, "resume", NULL);
    if (init && resume)
        cli_die(EXIT_USAGE, "train: --init and --resume cannot be combined");
    const char *data = cli_opt_str(opts, "data", NULL);
    if (!data)
        cli_die(EXIT_USAGE, "train: --data FILE or --data synth:NAME is required");

    /* every path is checked before anything else: a bad output fails now, not after hours, and
     * no output may be an input's file or another output's */
    const char *save = cli_opt_str(opts, "save", NULL), *log = cli_opt_str(opts, "log", NULL);
    const char *plot = cli_opt_str(opts, "plot", NULL);
    if (cli_opt_flag(opts, "plot-scale") && !plot)
        cli_die(EXIT_USAGE, "--plot-scale needs --plot FILE.svg");
    const cli_plot_scale plot_scale = cli_plot_scale_parse(cli_opt_str(opts, "plot-scale", NULL));
    /* from here on a stop signal is ours: during loading it ends the run before training */
    cli_stop_defer(1);
    const char *checkpoint = cli_opt_str(opts, "checkpoint", NULL);
    const cli_path paths[] = {
        {"data", data, CLI_IN_DATA}, {"targets", cli_opt_str(opts, "targets", NULL), CLI_IN},
        {"val", cli_opt_str(opts, "val", NULL), CLI_IN_DATA},
        {"val-targets", cli_opt_str(opts, "val-targets", NULL), CLI_IN},
        {"init", init, CLI_IN}, {"resume", resume, CLI_IN},
        {"save", save, CLI_OUT}, {"log", log, CLI_OUT}, {"plot", plot, CLI_OUT},
        {"checkpoint", checkpoint, CLI_OUT},
    };
    cli_check_paths(paths, sizeof paths / sizeof paths[0]);
    if (cli_opt_flag(opts, "checkpoint-every") && !checkpoint)
        cli_die(EXIT_USAGE, "--checkpoint-every needs --checkpoint FILE");
    int every = (int)cli_parse_u64("checkpoint-every",
                                   cli_opt_str(opts, "checkpoint-every", "10"), 1,
                                   1000000000);
    /* under mpirun every rank checks the outputs, rank 0 alone prints and writes them (the
     * checkpoint's epochs are still counted on every rank: on_checkpoint) */
    const int lead = bnn_dist_rank() == 0;
    if (!lead)
        save = log = plot = NULL;

    /* the settings; with --resume, those the checkpoint records are taken from it */
    int done_epochs = 0;
    const char *s_seed, *s_lr, *s_batch, *s_gradient, *s_engine;
    if (resume) {
        char buf[64];
        int r = bnn_model_read_meta(resume, "epoch", buf, sizeof buf, &e);
        if (r < 0)
            cli_die(1, "--resume %s", e.msg);
        char *end;
        long v = r == 0 ? strtol(buf, &end, 10) : -1;
        if (r != 0 || *end != '\0' || v < 0 || v > 1000000000)
            cli_die(1, "--resume %s: not a batchnn checkpoint (no valid \"epoch\" in __metadata__)",
                    resume);
        done_epochs = (int)v;
        init = resume;
    }
    static cli_run_settings rs; /* static: 4 KiB of strings */
    cli_run_settings_resolve(&rs, opts, resume);
    s_seed = cli_run_setting(&rs, "seed", "1");
    s_lr = cli_run_setting(&rs, "lr", "0.1");
    s_batch = cli_run_setting(&rs, "batch", "0");
    s_gradient = cli_run_setting(&rs, "gradient", "exact");
    s_engine = cli_run_setting(&rs, "engine", "fast");
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = (int)cli_parse_u64("epochs", cli_opt_str(opts, "epochs", "100"), 0, 1000000000);
    to.lr = cli_parse_double("lr", s_lr);
    if (to.lr < 0)
        cli_die(EXIT_USAGE, "--lr: %g is negative", to.lr);
    to.batch = (size_t)cli_parse_u64("batch", s_batch, 0, SIZE_MAX);
    to.threads = cli_parse_threads(cli_opt_str(opts, "threads", "0"));
    uint64_t seed = cli_parse_u64("seed", s_seed, 0, UINT64_MAX);
    const char *s_samples = cli_run_setting(&rs, "samples", NULL);
    size_t samples = (size_t)cli_parse_u64("samples", s_samples ? s_samples : "0", 0, SIZE_MAX);
    if (s_samples && samples == 0)
        cli_die(EXIT_USAGE, "--samples must be at least 1");
    if (bnn_gradient_parse(s_gradient, &to.gradient) != 0)
        cli_die(EXIT_USAGE, "--gradient: '%s' is not exact, seed or finite-diff", s_gradient);
    if (bnn_engine_parse(s_engine, &to.engine) != 0)
        cli_die(EXIT_USAGE, "--engine: '%s' is not fast or reference", s_engine);
    if (done_epochs > to.epochs)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint is at epoch %d, past --epochs %d", resume,
                done_epochs, to.epochs);
    int quiet = cli_opt_flag(opts, "quiet") || !lead;

    bnn_model model;
    char arch_note[512] = "";
    if (init) {
        const char *what = resume ? "--resume" : "--init";
        if (cli_opt_flag(opts, "hidden"))
            cli_die(EXIT_USAGE, "--hidden conflicts with %s %s: its architecture is used", what,
                    init);
        cli_load_model(&model, init, cli_opt_str(opts, "act", NULL), what);
        char w[4096];
        bnn_arch_format(&model.arch, w, sizeof w, NULL, 0);
        if (cli_opt_flag(opts, "arch")) {
            bnn_arch want;
            if (bnn_arch_parse(&want, cli_opt_str(opts, "arch", ""), NULL, 1, &e) != 0)
                cli_die(EXIT_USAGE, "%s", e.msg);
            int same = want.nlayers == model.arch.nlayers;
            for (int i = 0; same && i <= want.nlayers; i++)
                same = want.width[i] == model.arch.width[i];
            if (!same)
                cli_die(EXIT_USAGE, "--arch %s conflicts with %s %s, whose architecture is %s",
                        cli_opt_str(opts, "arch", ""), what, init, w);
        }
        if (cli_opt_flag(opts, "no-bias"))
            for (int l = 0; l < model.arch.nlayers; l++)
                if (model.arch.bias[l])
                    cli_die(EXIT_USAGE, "--no-bias conflicts with %s %s, whose layer %d has a "
                            "bias", what, init, l + 1);
    } else {
        /* --hidden or auto widths: the resolved widths stand for --arch (arch_auto.c) */
        static char arch_buf[4096];
        if (cli_arch_auto(opts, data, cli_opt_str(opts, "targets", NULL), samples, arch_buf,
                          sizeof arch_buf, arch_note, sizeof arch_note))
            for (cli_opt *o = opts; o->name; o++)
                if (strcmp(o->name, "arch") == 0) {
                    o->value = arch_buf;
                    o->seen = 1;
                }
        cli_model_from_opts(&model, "train", opts);
        bnn_model_randomize(&model, seed);
    }
    const bnn_arch *a = &model.arch;
    /* training options: optimizer, schedule, loss, shuffling, validation */
    const cli_train_strings ts = {
        cli_run_setting(&rs, "optimizer", NULL), cli_run_setting(&rs, "momentum", NULL),
        cli_run_setting(&rs, "beta1", NULL), cli_run_setting(&rs, "beta2", NULL),
        cli_run_setting(&rs, "adam-eps", NULL), cli_run_setting(&rs, "weight-decay", NULL),
        cli_run_setting(&rs, "lr-schedule", NULL), cli_run_setting(&rs, "loss", NULL),
        cli_opt_str(opts, "patience", NULL), cli_run_setting(&rs, "shuffle", NULL) != NULL,
    };
    cli_training_options(&ts, a, &to);
    to.seed = seed;
    const char *val = cli_opt_str(opts, "val", NULL);
    const char *val_split = cli_run_setting(&rs, "val-split", NULL);
    if (val && val_split)
        cli_die(EXIT_USAGE, "train: --val and --val-split cannot be combined");
    if (cli_opt_flag(opts, "val-targets") && !val)
        cli_die(EXIT_USAGE, "--val-targets needs --val FILE");
    if (to.patience && !val && !val_split)
        cli_die(EXIT_USAGE, "--patience needs validation data (--val FILE or --val-split F)");
    int split_tail = 0;
    double split = val_split ? cli_val_split(val_split, &split_tail) : 0.0;
    cli_data ld, vld;
    cli_load_data(&ld, data, cli_opt_str(opts, "targets", NULL), samples, a->width[0],
              a->width[a->nlayers], seed, 1);
    bnn_data vdata;
    uint32_t *split_idx = NULL;
    if (val) { /* a synthetic validation set is drawn with --seed + 1: other samples */
        cli_load_data(&vld, val, cli_opt_str(opts, "val-targets", NULL), samples, a->width[0],
                  a->width[a->nlayers], seed + 1, 1);
        to.val = &vld.d;
    } else if (val_split) {
        split_data(&ld.d, &vdata, &split_idx, split, split_tail, val_split, seed, lead);
        to.val = &vdata;
    }

    /* --standardize: the training part's statistics, once (a --resume or --init model that
     * carries them keeps its own); every view (training, validation) applies the model's */
    if (cli_opt_flag(opts, "standardize") && !model.in_mean && resume)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained without --standardize; "
                "this run asks for it (leave it out to continue without)", resume);
    if (cli_opt_flag(opts, "standardize") && !model.in_mean) {
        const size_t nin = (size_t)a->width[0];
        model.in_mean = malloc(nin * sizeof *model.in_mean);
        model.in_std = malloc(nin * sizeof *model.in_std);
        if (!model.in_mean || !model.in_std)
            cli_die(1, "--standardize: out of memory");
        if (bnn_data_scale_stats(&ld.d, model.in_mean, model.in_std, &e) != 0)
            cli_die(1, "--standardize: %s", e.msg);
    }
    ld.d.in_mean = model.in_mean;
    ld.d.in_std = model.in_std;
    bnn_data *vview = val ? &vld.d : val_split ? &vdata : NULL;
    if (vview) {
        vview->in_mean = model.in_mean;
        vview->in_std = model.in_std;
    }

    bnn_optim_state state; /* before any output is opened: a bad checkpoint writes nothing */
    if (bnn_optim_state_init(&state, &to.optim, model.nparams, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (resume) { /* the optimizer continues where the checkpoint left it */
        /* at most one update per sample and epoch (on every rank's share) */
        state.step = cli_resume_step(resume, (uint64_t)done_epochs * (ld.d.n + 1) *
                                                 (uint64_t)bnn_dist_size());
        if (bnn_checkpoint_load_state(resume, a, &state, &e) != 0)
            cli_die(1, "--resume %s", e.msg);
    }

    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%zu", ld.d.n);
    if (resume) { /* the checkpoint must come from the same data */
        char buf[600], q[300]; /* the checkpoint's strings are printed escaped */
        if (bnn_model_read_meta(resume, "samples", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, nbuf) != 0)
            cli_die(1, "--resume %s: the checkpoint was trained on %s samples, this run has %s",
                    resume, bnn_printable(q, sizeof q, buf), nbuf);
        if (bnn_model_read_meta(resume, "data", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, ld.data.name) != 0 && lead)
            fprintf(stderr, "batchnn: warning: --resume %s was trained on %s, this run uses %s\n",
                    resume, bnn_printable(q, sizeof q, buf), ld.data.name);
    }

    train_ctx ctx = {0};
    to.state = &state;
    bnn_model best = {0};
    int best_epoch = 0;
    if (to.val && to.patience && save) { /* --save holds the best model */
        if (bnn_model_init(&best, a, &e) != 0)
            cli_die(1, "%s", e.msg);
        memcpy(best.theta, model.theta, model.nparams * sizeof *best.theta);
        to.best = &best;
        to.best_epoch = &best_epoch;
    }
    ctx.to = &to;
    ctx.rs = &rs;
    ctx.validating = to.val != NULL;
    to.on_epoch_stats = on_epoch_stats;
    to.total_epochs = to.epochs;
    to.start_epoch = done_epochs;
    to.epochs -= done_epochs;
    ctx.last_checkpoint = done_epochs;
    if (checkpoint) {
        ctx.checkpoint = checkpoint;
        add_meta(&ctx, "epoch", NULL); /* filled in per checkpoint */
        add_meta(&ctx, "samples", nbuf);
        add_meta(&ctx, "data", ld.data.name);
        to.checkpoint_every = every;
        to.on_checkpoint = on_checkpoint;
    }
    bnn_outfile logf = {0};
    if (log) {
        int err = open_log(&logf, log, done_epochs, &to);
        ctx.log = logf.fp;
        ctx.log_path = log;
        if (err) { /* a full disk: say so now, train anyway, write the other outputs */
            fprintf(stderr, "batchnn: --log %s: cannot write: %s; training goes on\n", log,
                    strerror(err));
            ctx.log_failed = 1;
        }
    }
    cli_progress_start(&ctx.progress, ld.d.n, done_epochs, to.epochs, quiet);
    to.on_epoch = on_epoch;
    to.should_stop = should_stop;
    to.ctx = &ctx;
    int threads = to.threads > 0 ? to.threads : omp_get_num_procs();
    /* omp_get_num_procs counts the CPUs this process may run on (its affinity mask): more
     * threads than that share cores, e.g. under mpirun, which binds a rank to one core when it
     * starts 2 ranks or fewer */
    if (!quiet && threads > omp_get_num_procs())
        fprintf(stderr,
                "batchnn: warning: --threads %d but this process may run on %d CPU%s only (its "
                "affinity mask)%s\n",
                threads, omp_get_num_procs(), omp_get_num_procs() == 1 ? "" : "s",
                bnn_dist_size() > 1 || getenv("OMPI_COMM_WORLD_SIZE")
                    ? "; under mpirun give each rank its cores: --bind-to none or --map-by "
                      "slot:PE=T"
                    : "");
    if (!quiet && arch_note[0])
        fprintf(stderr, "batchnn: %s\n", arch_note);
    if (!quiet) {
        char w[4096], acts[4096], batch[48];
        bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
        if (to.batch && to.batch < ld.d.n)
            snprintf(batch, sizeof batch, "mini-batches of %zu", to.batch);
        else
            snprintf(batch, sizeof batch, "full batch");
        fprintf(stderr,
                "batchnn: %s (%s%s), %zu parameters; %zu samples of %s%s; %d epoch%s, lr %g, "
                "%s%s; %s, loss %s; gradient %s, engine %s, %s, %d thread%s\n",
                w, acts, a->bias[0] ? "" : ", no bias", model.nparams, ld.d.n, ld.data.name,
                to.val ? " (+ validation)" : "", to.epochs, to.epochs == 1 ? "" : "s", to.lr,
                batch, to.shuffle ? ", shuffled" : "", bnn_optim_name(to.optim.kind),
                bnn_loss_name(to.loss),
                bnn_gradient_name(to.gradient), bnn_engine_name(to.engine), bnn_kernels()->isa,
                threads, threads == 1 ? "" : "s");
        /* split-mode batches are not cut over the ranks (issue 18, item 3): say so */
        const size_t whole = bnn_dist_size() > 1 && to.engine == BNN_ENGINE_FAST &&
                                     to.gradient != BNN_GRAD_FINITE_DIFF && to.batch &&
                                     to.batch < ld.d.n
                                 ? bnn_fast_split_max(a, to.loss)
                                 : 0;
        if (whole && to.batch <= whole)
            fprintf(stderr,
                    "batchnn: note: mini-batches of up to %zu samples are computed whole by "
                    "every rank (more ranks do not speed them up); larger ones are shared\n",
                    whole);
    }

    const int sig = bnn_dist_max_int(cli_stop_signal()); /* every rank, or none, starts */
    cli_stop_note(sig);
    const int interrupted_early = cli_stop_signal();
    if (interrupted_early) { /* stopped before the first epoch: nothing trained, nothing to save */
        if (lead)
            fprintf(stderr, "batchnn: stopped by %s before training started\n",
                cli_signal_name(interrupted_early));
        return 128 + interrupted_early;
    }
    int rc = bnn_train(&model, &ld.d, &to, &e);
    cli_stop_note(bnn_dist_stopped()); /* another rank's signal, agreed at a step */
    const int stopped = cli_stop_signal();
    const int last_epoch = done_epochs + ctx.progress.epochs_done;
    double final_loss = NAN;
    /* stopped by a signal: no final pass over the data (under mpirun the ranks may have
     * a second to write); the parameters were checked finite by the last update */
    if (rc == 0 && !stopped && final_cost(&model, &ld.d, &to, &final_loss, &e) != 0)
        rc = -1;
    else if (rc == 0 && !stopped && !(fabs(final_loss) <= FLT_MAX)) {
        /* non-finite, or beyond what the float32 model can represent: diverged (the same
         * on every rank) */
        bnn_dist_same_error();
        bnn_fail(&e, "after the last update (epoch %d) the loss is %s; training diverged (try a "
                 "smaller --lr)", last_epoch, isnan(final_loss) ? "nan" : isinf(final_loss)
                 ? "infinite" : "beyond float32's range");
        rc = -1;
    }

    /* Every output is attempted; a failure is reported and the others are still written. */
    int failed = 0;
    bnn_error e2;
    if (log) {
        if (ctx.log_failed) {
            bnn_outfile_abort(&logf);
            failed = 1;
        } else if (bnn_outfile_commit(&logf, &e2) != 0) {
            fprintf(stderr, "batchnn: --log %s\n", e2.msg);
            failed = 1;
        }
    }
    if (plot && cli_plot_write(plot, ctx.losses, ctx.validating ? ctx.val_losses : NULL,
                               ctx.nlosses, done_epochs, plot_scale, &e2) != 0) {
        fprintf(stderr, "batchnn: --plot %s\n", e2.msg);
        failed = 1;
    }
    if (rc != 0) { /* --save and the checkpoint are not written: the weights are not trustworthy */
        cli_error("%s", e.msg);
        failed = 1;
    } else {
        const char *loss_key = "loss", *loss_val = bnn_loss_name(to.loss);
        bnn_model out = to.best && best_epoch ? best : model; /* a view: not freed */
        out.in_mean = model.in_mean; /* the scaler it was trained with */
        out.in_std = model.in_std;
        if (save && bnn_model_save_meta(&out, save, &loss_key, &loss_val, 1, &e2) != 0) {
            fprintf(stderr, "batchnn: --save %s\n", e2.msg);
            failed = 1;
        }
        /* a final checkpoint, unless the last epoch just wrote one */
        if (checkpoint && ctx.progress.epochs_done > 0 && ctx.last_checkpoint != last_epoch)
            on_checkpoint(&ctx, last_epoch, &model, NULL);
        if (ctx.checkpoint_failures) {
            fprintf(stderr, "batchnn: --checkpoint %s: %d checkpoint%s could not be written%s\n",
                    checkpoint, ctx.checkpoint_failures, ctx.checkpoint_failures == 1 ? "" : "s",
                    ctx.last_checkpoint == last_epoch ? " (the final one was)" : "");
            failed = 1;
        }
    }
    cli_stop_defer(0);
    const int interrupted = cli_stop_signal();
    free(ctx.losses);
    free(ctx.val_losses);
    if (!quiet && rc == 0) {
        const int done = ctx.progress.epochs_done;
        const double secs = ctx.progress.train_seconds;
        double rate = secs > 0 ? (double)ld.d.n * done / secs : 0.0;
        /* the peak resident memory so far (Linux: ru_maxrss in KiB): flat in n when the data
         * is streamed or mapped in windows */
        struct rusage ru;
        char rss[48] = "";
        if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) {
            char b[32];
            snprintf(rss, sizeof rss, ", peak RSS %s",
                     bnn_format_bytes((size_t)ru.ru_maxrss * 1024, b, sizeof b));
        }
        char fl[48] = "not computed (stopped)";
        if (!interrupted)
            snprintf(fl, sizeof fl, "%.9g", final_loss);
        printf("trained %d epoch%s in %.3f s: final loss %s, %.4g samples/s, %.4g ms/epoch "
               "(%s, %d thread%s%s)%s%s\n",
               done, done == 1 ? "" : "s", secs, fl, rate, done ? 1e3 * secs / done : 0.0,
               bnn_kernels()->isa, threads, threads == 1 ? "" : "s", rss,
               save && !failed && !(to.best && best_epoch) ? ", saved to " : "",
               save && !failed && !(to.best && best_epoch) ? save : "");
        if (save && !failed && to.best && best_epoch)
            printf("best validation loss at epoch %d: that model is saved to %s\n", best_epoch,
                   save);
    }
    /* under mpirun the ranks agreed on the stop: they leave together (main finalizes MPI,
     * which waits for rank 0's outputs), not one by one, which makes mpirun kill the rest */
    if (interrupted)
        bnn_dist_leave_stopped();
    if (interrupted && lead)
        fprintf(stderr, "batchnn: stopped by %s after epoch %d of %d%s\n",
                cli_signal_name(interrupted), last_epoch, done_epochs + to.epochs,
                failed ? "" : "; every output was written");
    bnn_optim_state_free(&state);
    bnn_model_free(&best);
    if (val)
        cli_free_data(&vld);
    cli_free_data(&ld);
    free(split_idx);
    bnn_model_free(&model);
    return failed ? 1 : interrupted ? 128 + interrupted : 0;
}
