/*
 * train.c - `batchnn train`: its options, resume, the model and data, the run; what the run
 * writes (log, plot, checkpoints, model, summary) is train_outputs.c, the run's state they
 * share train_run.h; the progress meter is progress.c, the plot plot.c, the signal handler
 * signals.c, the check of every input and output path paths.c, the training options and
 * --val-split train_options.c. cli_cmd_train runs one step per part, in order, on one
 * train_run: parse_paths, parse_settings, load_model, load_data, load_state (here),
 * cli_train_open_outputs, cli_train_announce (train_outputs.c), run (here),
 * cli_train_write_outputs, cli_train_report (train_outputs.c).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"
#include "train_run.h"

/* SIGINT, SIGTERM and SIGHUP (Ctrl-C, docker stop, Slurm, timeout, a closed terminal) finish
 * the current epoch, write every output and exit 128 + signal; a second one exits at once,
 * removing any temporary file first (signals.c, deferred mode). */

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

/* The inputs and outputs: every path is checked before anything else, so a bad output fails
 * now, not after hours, and no output may be an input's file or another output's. */
static void parse_paths(train_run *r)
{
    cli_opt *opts = r->opts;
    r->init = cli_opt_str(opts, "init", NULL);
    r->resume = cli_opt_str(opts, "resume", NULL);
    if (r->init && r->resume)
        cli_die(EXIT_USAGE, "train: --init and --resume cannot be combined");
    r->data = cli_opt_str(opts, "data", NULL);
    if (!r->data)
        cli_die(EXIT_USAGE, "train: --data FILE or --data synth:NAME is required");
    r->save = cli_opt_str(opts, "save", NULL);
    r->log = cli_opt_str(opts, "log", NULL);
    r->plot = cli_opt_str(opts, "plot", NULL);
    if (cli_opt_flag(opts, "plot-scale") && !r->plot)
        cli_die(EXIT_USAGE, "--plot-scale needs --plot FILE.svg");
    r->plot_scale = cli_plot_scale_parse(cli_opt_str(opts, "plot-scale", NULL));
    /* from here on a stop signal is ours: during loading it ends the run before training */
    cli_stop_defer(1);
    r->checkpoint = cli_opt_str(opts, "checkpoint", NULL);
    const cli_path paths[] = {
        {"data", r->data, CLI_IN_DATA},
        {"targets", cli_opt_str(opts, "targets", NULL), CLI_IN},
        {"val", cli_opt_str(opts, "val", NULL), CLI_IN_DATA},
        {"val-targets", cli_opt_str(opts, "val-targets", NULL), CLI_IN},
        {"init", r->init, CLI_IN}, {"resume", r->resume, CLI_IN},
        {"save", r->save, CLI_OUT}, {"log", r->log, CLI_OUT}, {"plot", r->plot, CLI_OUT},
        {"checkpoint", r->checkpoint, CLI_OUT},
    };
    cli_check_paths(paths, sizeof paths / sizeof paths[0]);
    if (cli_opt_flag(opts, "checkpoint-every") && !r->checkpoint)
        cli_die(EXIT_USAGE, "--checkpoint-every needs --checkpoint FILE");
    r->every = (int)cli_parse_u64("checkpoint-every",
                                  cli_opt_str(opts, "checkpoint-every", "10"), 1, 1000000000);
    /* under mpirun every rank checks the outputs, rank 0 alone prints and writes them (the
     * checkpoint's epochs are still counted on every rank: on_checkpoint) */
    r->lead = bnn_dist_rank() == 0;
    if (!r->lead)
        r->save = r->log = r->plot = NULL;
}

/* The settings; with --resume, those the checkpoint records are taken from it. */
static void parse_settings(train_run *r)
{
    static cli_run_settings rs; /* static: 4 KiB of strings */
    cli_opt *opts = r->opts;
    bnn_error e;
    if (r->resume) {
        char buf[64];
        int got = bnn_model_read_meta(r->resume, "epoch", buf, sizeof buf, &e);
        if (got < 0)
            cli_die(1, "--resume %s", e.msg);
        char *end;
        long v = got == 0 ? strtol(buf, &end, 10) : -1;
        if (got != 0 || *end != '\0' || v < 0 || v > 1000000000)
            cli_die(1, "--resume %s: not a batchnn checkpoint (no valid \"epoch\" in __metadata__)",
                    r->resume);
        r->done_epochs = (int)v;
        r->init = r->resume;
    }
    r->rs = &rs;
    cli_run_settings_resolve(&rs, opts, r->resume);
    const char *s_seed = cli_run_setting(&rs, "seed", "1");
    const char *s_lr = cli_run_setting(&rs, "lr", "0.1");
    const char *s_batch = cli_run_setting(&rs, "batch", "0");
    const char *s_gradient = cli_run_setting(&rs, "gradient", "exact");
    const char *s_engine = cli_run_setting(&rs, "engine", "fast");
    bnn_train_opts *to = &r->to;
    bnn_train_opts_default(to);
    to->epochs = (int)cli_parse_u64("epochs", cli_opt_str(opts, "epochs", "100"), 0, 1000000000);
    to->lr = cli_parse_double("lr", s_lr);
    if (to->lr < 0)
        cli_die(EXIT_USAGE, "--lr: %g is negative", to->lr);
    to->batch = (size_t)cli_parse_u64("batch", s_batch, 0, SIZE_MAX);
    cli_parse_threads(cli_opt_str(opts, "threads", "0")); /* to->threads stays 0: its team */
    r->seed = cli_parse_u64("seed", s_seed, 0, UINT64_MAX);
    const char *s_samples = cli_run_setting(&rs, "samples", NULL);
    r->samples = (size_t)cli_parse_u64("samples", s_samples ? s_samples : "0", 0, SIZE_MAX);
    if (s_samples && r->samples == 0)
        cli_die(EXIT_USAGE, "--samples must be at least 1");
    if (bnn_gradient_parse(s_gradient, &to->gradient) != 0)
        cli_die(EXIT_USAGE, "--gradient: '%s' is not exact, seed or finite-diff", s_gradient);
    to->engine = cli_parse_engine(s_engine);
    if (r->done_epochs > to->epochs)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint is at epoch %d, past --epochs %d",
                r->resume, r->done_epochs, to->epochs);
    r->quiet = cli_opt_flag(opts, "quiet") || !r->lead;
}

/* The model: --init or --resume (whose architecture must agree with --arch, --no-bias), or a
 * new one from --arch/--hidden and the data's widths, randomized from --seed. */
static void load_model(train_run *r)
{
    cli_opt *opts = r->opts;
    bnn_error e;
    if (r->init) {
        const char *what = r->resume ? "--resume" : "--init";
        if (cli_opt_flag(opts, "hidden"))
            cli_die(EXIT_USAGE, "--hidden conflicts with %s %s: its architecture is used", what,
                    r->init);
        cli_load_model(&r->model, r->init, cli_opt_str(opts, "act", NULL), what);
        char w[4096];
        bnn_arch_format(&r->model.arch, w, sizeof w, NULL, 0);
        if (cli_opt_flag(opts, "arch")) {
            bnn_arch want;
            if (bnn_arch_parse(&want, cli_opt_str(opts, "arch", ""), NULL, 1, &e) != 0)
                cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
            int same = want.nlayers == r->model.arch.nlayers;
            for (int i = 0; same && i <= want.nlayers; i++)
                same = want.width[i] == r->model.arch.width[i];
            if (!same)
                cli_die(EXIT_USAGE, "--arch %s conflicts with %s %s, whose architecture is %s",
                        cli_opt_str(opts, "arch", ""), what, r->init, w);
        }
        if (cli_opt_flag(opts, "no-bias"))
            for (int l = 0; l < r->model.arch.nlayers; l++)
                if (r->model.arch.bias[l])
                    cli_die(EXIT_USAGE, "--no-bias conflicts with %s %s, whose layer %d has a "
                            "bias", what, r->init, l + 1);
    } else {
        /* --hidden or auto widths: the resolved widths stand for --arch (arch_auto.c) */
        static char arch_buf[4096];
        if (cli_arch_auto(opts, r->data, cli_opt_str(opts, "targets", NULL), r->samples,
                          arch_buf, sizeof arch_buf, r->arch_note, sizeof r->arch_note))
            for (cli_opt *o = opts; o->name; o++)
                if (strcmp(o->name, "arch") == 0) {
                    o->value = arch_buf;
                    o->seen = 1;
                }
        cli_model_from_opts(&r->model, "train", opts);
        bnn_model_randomize(&r->model, r->seed);
    }
}

/* The training options (optimizer, schedule, loss, shuffling), the training data and the
 * validation data (--val, or --val-split of the training data), and --standardize. */
static void load_data(train_run *r)
{
    cli_opt *opts = r->opts;
    bnn_train_opts *to = &r->to;
    bnn_error e;
    const bnn_arch *a = &r->model.arch;
    const cli_train_strings ts = {
        cli_run_setting(r->rs, "optimizer", NULL), cli_run_setting(r->rs, "momentum", NULL),
        cli_run_setting(r->rs, "beta1", NULL), cli_run_setting(r->rs, "beta2", NULL),
        cli_run_setting(r->rs, "adam-eps", NULL), cli_run_setting(r->rs, "weight-decay", NULL),
        cli_run_setting(r->rs, "lr-schedule", NULL), cli_run_setting(r->rs, "loss", NULL),
        cli_opt_str(opts, "patience", NULL), cli_run_setting(r->rs, "shuffle", NULL) != NULL,
    };
    cli_training_options(&ts, a, to);
    to->seed = r->seed;
    r->val = cli_opt_str(opts, "val", NULL);
    r->val_split = cli_run_setting(r->rs, "val-split", NULL);
    if (r->val && r->val_split)
        cli_die(EXIT_USAGE, "train: --val and --val-split cannot be combined");
    if (cli_opt_flag(opts, "val-targets") && !r->val)
        cli_die(EXIT_USAGE, "--val-targets needs --val FILE");
    if (to->patience && !r->val && !r->val_split)
        cli_die(EXIT_USAGE, "--patience needs validation data (--val FILE or --val-split F)");
    int split_tail = 0;
    double split = r->val_split ? cli_val_split(r->val_split, &split_tail) : 0.0;
    cli_load_data(&r->ld, r->data, cli_opt_str(opts, "targets", NULL), r->samples, a->width[0],
                  a->width[a->nlayers], r->seed, 1);
    if (r->val) { /* a synthetic validation set is drawn with --seed + 1: other samples */
        cli_load_data(&r->vld, r->val, cli_opt_str(opts, "val-targets", NULL), r->samples,
                      a->width[0], a->width[a->nlayers], r->seed + 1, 1);
        to->val = &r->vld.d;
    } else if (r->val_split) {
        cli_val_split_data(&r->ld.d, &r->vdata, &r->split_idx, split, split_tail, r->val_split,
                           r->seed, r->lead);
        to->val = &r->vdata;
    }

    /* --standardize: the training part's statistics, once (a --resume or --init model that
     * carries them keeps its own); every view (training, validation) applies the model's */
    bnn_model *m = &r->model;
    if (cli_opt_flag(opts, "standardize") && !m->in_mean && r->resume)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained without --standardize; "
                "this run asks for it (leave it out to continue without)", r->resume);
    if (cli_opt_flag(opts, "standardize") && !m->in_mean) {
        const size_t nin = (size_t)a->width[0];
        m->in_mean = malloc(nin * sizeof *m->in_mean);
        m->in_std = malloc(nin * sizeof *m->in_std);
        if (!m->in_mean || !m->in_std)
            cli_die(1, "--standardize: out of memory");
        if (bnn_data_scale_stats(&r->ld.d, m->in_mean, m->in_std, &e) != 0)
            cli_die(1, "--standardize: %s", e.msg);
    }
    r->ld.d.in_mean = m->in_mean;
    r->ld.d.in_std = m->in_std;
    bnn_data *vview = r->val ? &r->vld.d : r->val_split ? &r->vdata : NULL;
    if (vview) {
        vview->in_mean = m->in_mean;
        vview->in_std = m->in_std;
    }
}

/* The optimizer's state, before any output is opened (a bad checkpoint writes nothing); with
 * --resume, where the checkpoint left it, and the checkpoint must come from the same data. */
static void load_state(train_run *r)
{
    bnn_error e;
    if (bnn_optim_state_init(&r->state, &r->to.optim, r->model.nparams, &e) != 0)
        cli_die(1, "%s", e.msg);
    const char *resume = r->resume;
    if (resume) {
        /* at most one update per sample and epoch (on every rank's share) */
        r->state.step = cli_resume_step(resume, (uint64_t)r->done_epochs * (r->ld.d.n + 1) *
                                                    (uint64_t)bnn_dist_size());
        if (bnn_checkpoint_load_state(resume, &r->model.arch, &r->state, &e) != 0)
            cli_die(1, "--resume %s", e.msg);
    }
    snprintf(r->nbuf, sizeof r->nbuf, "%zu", r->ld.d.n);
    if (resume) {
        char buf[600], q[300]; /* the checkpoint's strings are printed escaped */
        if (bnn_model_read_meta(resume, "samples", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, r->nbuf) != 0)
            cli_die(1, "--resume %s: the checkpoint was trained on %s samples, this run has %s",
                    resume, bnn_printable(q, sizeof q, buf), r->nbuf);
        if (bnn_model_read_meta(resume, "data", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, r->ld.data.name) != 0 && r->lead)
            fprintf(stderr, "batchnn: warning: --resume %s was trained on %s, this run uses %s\n",
                    resume, bnn_printable(q, sizeof q, buf), r->ld.data.name);
    }
}

/* The cost at the final parameters (the loss after the last update), by the engine that
 * trained them. */
static int final_cost(const bnn_model *m, const bnn_data *d, const bnn_train_opts *to,
                      double *cost, bnn_error *e)
{
    bnn_engine *g;
    bnn_engine_opts eo = {.engine = to->engine, .gradient = BNN_GRAD_EXACT, .loss = to->loss,
                       .threads = to->threads};
    if (bnn_engine_create(&g, &m->arch, &eo, e) != 0)
        return -1;
    int r = bnn_engine_cost(g, (bnn_vec){.f = m->theta}, d, 0, d->n, cost, NULL, e);
    bnn_engine_free(g);
    return r;
}

/* Trains, then the cost at the final parameters (not after a stop signal: no final pass over
 * the data, and under mpirun the ranks may have a second to write; the parameters were
 * checked finite by the last update). 0, or -1 with the message in e. */
static int run(train_run *r, double *final_loss, bnn_error *e)
{
    int rc = bnn_train(&r->model, &r->ld.d, &r->to, e);
    cli_stop_note(bnn_dist_stopped()); /* another rank's signal, agreed at a step */
    const int stopped = cli_stop_signal();
    const int last_epoch = r->done_epochs + r->ctx.progress.epochs_done;
    *final_loss = NAN;
    if (rc == 0 && !stopped && final_cost(&r->model, &r->ld.d, &r->to, final_loss, e) != 0)
        rc = -1;
    else if (rc == 0 && !stopped && !(fabs(*final_loss) <= FLT_MAX)) {
        /* non-finite, or beyond what the float32 model can represent: diverged (the same
         * on every rank) */
        bnn_dist_same_error();
        bnn_fail(e, "after the last update (epoch %d) the loss is %s; training diverged (try a "
                 "smaller --lr)", last_epoch, isnan(*final_loss) ? "nan" : isinf(*final_loss)
                 ? "infinite" : "beyond float32's range");
        rc = -1;
    }
    return rc;
}

static void free_run(train_run *r)
{
    free(r->ctx.losses);
    free(r->ctx.val_losses);
    bnn_optim_state_free(&r->state);
    bnn_model_free(&r->best);
    if (r->val)
        cli_free_data(&r->vld);
    cli_free_data(&r->ld);
    free(r->split_idx);
    bnn_model_free(&r->model);
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
    static train_run r; /* static: large (the model, the data views, message buffers) */
    memset(&r, 0, sizeof r);
    r.opts = opts;
    parse_paths(&r);
    parse_settings(&r);
    load_model(&r);
    load_data(&r);
    load_state(&r);
    cli_train_open_outputs(&r);
    cli_train_announce(&r);

    const int sig = bnn_dist_max_int(cli_stop_signal()); /* every rank, or none, starts */
    cli_stop_note(sig);
    const int interrupted_early = cli_stop_signal();
    if (interrupted_early) { /* stopped before the first epoch: nothing trained, nothing to save */
        if (r.lead)
            fprintf(stderr, "batchnn: stopped by %s before training started\n",
                    cli_signal_name(interrupted_early));
        return 128 + interrupted_early;
    }
    bnn_error e;
    double final_loss;
    const int rc = run(&r, &final_loss, &e);
    const int last_epoch = r.done_epochs + r.ctx.progress.epochs_done;
    const int failed = cli_train_write_outputs(&r, rc, &e, last_epoch);
    cli_stop_defer(0);
    const int interrupted = cli_stop_signal();
    if (!r.quiet && rc == 0)
        cli_train_report(&r, final_loss, interrupted, failed);
    /* under mpirun the ranks agreed on the stop: they leave together (main finalizes MPI,
     * which waits for rank 0's outputs), not one by one, which makes mpirun kill the rest */
    if (interrupted)
        bnn_dist_leave_stopped();
    if (interrupted && r.lead)
        fprintf(stderr, "batchnn: stopped by %s after epoch %d of %d%s\n",
                cli_signal_name(interrupted), last_epoch, r.done_epochs + r.to.epochs,
                failed ? "" : "; every output was written");
    free_run(&r);
    return failed ? 1 : interrupted ? 128 + interrupted : 0;
}
