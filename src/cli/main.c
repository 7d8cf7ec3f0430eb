/*
 * main.c - the batchnn command: train, predict, eval, gradcheck, gen, info, demo.
 *
 * Only this file exits; the library returns status codes with messages. Every error is one
 * line on stderr, "batchnn: ...", with a non-zero exit status (2 for usage errors, 1 for
 * everything else). Files are written to a temporary name and renamed into place.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "bnn_internal.h"
#include "bnn_kernels.h"
#include "cli.h"

#define EXIT_USAGE 2

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                    */

void cli_die(int status, const char *fmt, ...)
{
    va_list ap;
    fputs("batchnn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Options: a small table per command; values as "--opt value" or "--opt=value".               */

typedef struct opt {
    const char *name;
    int takes_value;
    const char *value; /* set when seen */
    int seen;
} opt;

static opt *find_opt(opt *opts, const char *name)
{
    for (opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Parses argv into opts; positional arguments go to pos (at most maxpos). */
static int parse_opts(const char *cmd, int argc, char **argv, opt *opts, const char **pos,
                      int maxpos)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (npos == maxpos)
                cli_die(EXIT_USAGE, "%s: unexpected argument '%s' (see 'batchnn %s --help')", cmd,
                    arg, cmd);
            pos[npos++] = arg;
            continue;
        }
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len - 2 >= sizeof name)
            cli_die(EXIT_USAGE, "%s: unknown option '%.40s...'", cmd, arg);
        memcpy(name, arg + 2, len - 2);
        name[len - 2] = '\0';
        opt *o = find_opt(opts, name);
        if (!o)
            cli_die(EXIT_USAGE, "%s: unknown option '--%s' (see 'batchnn %s --help')", cmd, name,
                cmd);
        if (o->seen)
            cli_die(EXIT_USAGE, "%s: --%s given twice", cmd, name);
        o->seen = 1;
        if (o->takes_value) {
            if (eq)
                o->value = eq + 1;
            else if (i + 1 < argc)
                o->value = argv[++i];
            else
                cli_die(EXIT_USAGE, "%s: --%s needs a value", cmd, name);
        } else if (eq) {
            cli_die(EXIT_USAGE, "%s: --%s takes no value", cmd, name);
        }
    }
    return npos;
}

static const char *opt_str(opt *opts, const char *name, const char *def)
{
    opt *o = find_opt(opts, name);
    return o && o->seen ? o->value : def;
}

static int opt_flag(opt *opts, const char *name)
{
    opt *o = find_opt(opts, name);
    return o && o->seen;
}

uint64_t cli_parse_u64(const char *opt_name, const char *s, uint64_t min, uint64_t max)
{
    const char *p = s;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        cli_die(EXIT_USAGE, "--%s: '%s' is not a whole number", opt_name, s);
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    /* accept k/M/G suffixes (powers of two) and 2^N for convenience: --samples 2^24 */
    if (*end == '^' && v == 2) {
        unsigned long long ex = strtoull(end + 1, &end, 10);
        if (ex > 63)
            cli_die(EXIT_USAGE, "--%s: '%s' is too large", opt_name, s);
        v = 1ULL << ex;
    } else if (*end == 'k' || *end == 'K' || *end == 'M' || *end == 'G') {
        int sh = *end == 'G' ? 30 : *end == 'M' ? 20 : 10;
        if (v > (UINT64_MAX >> sh))
            cli_die(EXIT_USAGE, "--%s: '%s' is too large", opt_name, s);
        v <<= sh;
        end++;
    }
    if (*end != '\0' || errno == ERANGE)
        cli_die(EXIT_USAGE, "--%s: '%s' is not a whole number", opt_name, s);
    if (v < min || v > max)
        cli_die(EXIT_USAGE, "--%s: %llu is out of range (%llu to %llu)", opt_name, v,
            (unsigned long long)min, (unsigned long long)max);
    return v;
}

static double parse_double(const char *opt_name, const char *s)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        cli_die(EXIT_USAGE, "--%s: '%s' is not a finite number", opt_name, s);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared pieces: data, models                                                                 */

typedef struct loaded_data {
    bnn_table data, targets;
    int has_targets;
    bnn_data d;
} loaded_data;

/* Synthetic sets are kept in memory when they fit a quarter of what this process may use
 * (the smallest of RAM, the cgroup limit and RLIMIT_AS/RLIMIT_DATA), and streamed otherwise. */
static size_t synth_budget(void)
{
    size_t b = bnn_memory_budget();
    return b ? b / 4 : (size_t)1 << 30;
}

/* Opens --data (a file or synth:NAME) and --targets for a model with widths nin -> nout.
 * samples: 0 = all rows of a file (synth needs it). */
static void load_data(loaded_data *ld, const char *data, const char *targets, size_t samples,
                      int64_t nin, int64_t nout, uint64_t seed, int need_targets)
{
    bnn_error e;
    memset(ld, 0, sizeof *ld);
    if (strncmp(data, "synth:", 6) == 0) {
        if (targets)
            cli_die(EXIT_USAGE, "--targets cannot be used with a synthetic set");
        if (samples == 0)
            samples = 1024;
        if (bnn_synth_open(&ld->data, data, samples, nin, nout, seed, synth_budget(), &e))
            cli_die(1, "%s", e.msg);
    } else {
        if (bnn_table_open(&ld->data, data, &e) != 0)
            cli_die(1, "%s", e.msg);
        if (targets) {
            if (bnn_table_open(&ld->targets, targets, &e) != 0)
                cli_die(1, "%s", e.msg);
            ld->has_targets = 1;
        }
        if (samples) {
            if (samples > ld->data.rows)
                cli_die(1, "%s: --samples %zu, but the file has %zu samples", data, samples,
                    ld->data.rows);
            ld->data.rows = samples;
            if (ld->has_targets && ld->targets.rows >= samples)
                ld->targets.rows = samples;
        }
    }
    if (bnn_data_make(&ld->d, &ld->data, ld->has_targets ? &ld->targets : NULL, nin, nout,
                      &e) != 0)
        cli_die(1, "%s", e.msg);
    if (need_targets && !ld->d.yt)
        cli_die(1, "%s: %zu columns are the model's inputs only; the cost needs targets (add %lld "
               "target columns or give --targets FILE)", data, ld->data.cols,
            (long long)nout);
}

static void free_data(loaded_data *ld)
{
    bnn_table_close(&ld->data);
    if (ld->has_targets)
        bnn_table_close(&ld->targets);
}

/* Rows per block when streaming a table of width columns out: at most 16 MiB of floats and
 * 65536 rows, at least one row, never more than n. */
static size_t rows_per_block(size_t width, size_t n)
{
    size_t rows = ((size_t)16 << 20) / (sizeof(float) * (width ? width : 1));
    rows = rows < 1 ? 1 : rows > 65536 ? 65536 : rows;
    return n && rows > n ? n : rows;
}

/* Loads a model file for a command. A file without "activations" metadata (exported from
 * elsewhere) takes --act, or sigmoid with a warning when --act is not given; a file with them
 * and a different --act is a command-line conflict (like a conflicting --arch). */
static void load_model(bnn_model *m, const char *path, const char *act, const char *opt_name)
{
    bnn_error e;
    char acts_meta[4096];
    int r = bnn_model_read_meta(path, "activations", acts_meta, sizeof acts_meta, &e);
    if (r < 0)
        cli_die(1, "%s", e.msg);
    if (bnn_model_load(m, path, act, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (r == 1 && !act) {
        fprintf(stderr, "batchnn: warning: %s has no \"activations\" metadata; taking sigmoid "
                        "for every layer (give --act to choose)\n", path);
    } else if (r == 0 && act) {
        char widths[4096], have[4096], want[4096];
        bnn_arch asked;
        bnn_arch_format(&m->arch, widths, sizeof widths, have, sizeof have);
        if (bnn_arch_parse(&asked, widths, act, 1, &e) != 0)
            cli_die(EXIT_USAGE, "--act %s: %s", act, e.msg);
        bnn_arch_format(&asked, widths, sizeof widths, want, sizeof want);
        if (strcmp(have, want) != 0)
            cli_die(EXIT_USAGE, "--act %s conflicts with %s %s, whose activations are %s", act,
                    opt_name, path, have);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* train                                                                                       */

/* SIGINT, SIGTERM and SIGHUP (Ctrl-C, docker stop, Slurm, timeout, a closed terminal) finish
 * the current epoch, write every output and exit 128 + signal; a second one exits at once,
 * removing any temporary file first. */
static volatile sig_atomic_t interrupted;

static void on_stop_signal(int sig)
{
    if (interrupted) {
        bnn_outfile_remove_temps();
        _exit(128 + sig);
    }
    interrupted = sig;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void catch_stop_signals(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_stop_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaction(stop_signals[i], &sa, NULL);
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* A memory-mapped data file truncated or rewritten under us turns a read into SIGBUS: say
 * which file, remove temporary outputs, and exit (async-signal-safe: write(2) only). */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    const char *name = bnn_mapped_file_at(si ? si->si_addr : NULL);
    static const char a[] = "batchnn: ";
    static const char b[] = ": the memory-mapped data file was truncated or changed while in use "
                            "(SIGBUS); do not rewrite a data file during a run\n";
    static const char c[] = "batchnn: bus error (SIGBUS) reading memory-mapped data; a data file "
                            "was probably truncated while in use\n";
    if (name) {
        (void)!write(STDERR_FILENO, a, sizeof a - 1);
        (void)!write(STDERR_FILENO, name, strlen(name));
        (void)!write(STDERR_FILENO, b, sizeof b - 1);
    } else {
        (void)!write(STDERR_FILENO, c, sizeof c - 1);
    }
    bnn_outfile_remove_temps();
    _exit(128 + sig);
}

static void catch_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

#define MAX_META 24

typedef struct train_ctx {
    int epochs_total, first_epoch;
    size_t n;
    int quiet, tty;
    double t_start, last_print;
    FILE *log;
    const char *log_path;
    int log_failed, log_errno;
    double last_loss, train_seconds;
    int epochs_done;
    double *losses; /* for --plot: losses[k] of epoch first_epoch + k + 1 */
    size_t nlosses, caplosses;
    const char *checkpoint;
    int checkpoint_failures, last_checkpoint; /* epoch of the last checkpoint written */
    const char *meta_keys[MAX_META], *meta_vals[MAX_META];
    int nmeta;
    char epoch_buf[32];
    /* training options: the optimizer state saved in checkpoints, the log's extra columns */
    const bnn_train_opts *to;
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
    snprintf(c->epoch_buf, sizeof c->epoch_buf, "%d", epoch);
    c->meta_vals[0] = c->epoch_buf; /* meta_keys[0] is "epoch" */
    int n = c->nmeta;
    if (c->to) /* the optimizer's step count and settings, its buffers as tensors */
        n += cli_train_meta(c->to, c->to->state, c->meta_keys + n, c->meta_vals + n,
                            c->meta_buf, sizeof c->meta_buf);
    if (bnn_checkpoint_save(m, c->to ? c->to->state : NULL, c->checkpoint, c->meta_keys,
                            c->meta_vals, n, &e) != 0) {
        fprintf(stderr, "%sbatchnn: --checkpoint %s (epoch %d); training goes on\n",
                c->tty && !c->quiet ? "\r\033[K" : "", e.msg, epoch);
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
    return 0;
}

/* --plot: the loss curve as a small self-contained SVG (log-scale loss when it spans more
 * than two decades). */
static int write_plot(const char *path, const double *loss, size_t n, int first_epoch,
                      bnn_error *e)
{
    bnn_outfile o;
    if (bnn_outfile_open(&o, path, e) != 0)
        return -1;
    FILE *f = o.fp;
    const double W = 640, H = 400, L = 70, R = 20, T = 30, B = 50;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, loss[i]);
        hi = fmax(hi, loss[i]);
    }
    int logy = n > 0 && lo > 0 && hi / lo > 100;
    double ylo = logy ? log10(lo) : (n ? fmin(0, lo) : 0), yhi = logy ? log10(hi) : (n ? hi : 1);
    if (!(yhi > ylo))
        yhi = ylo + 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"20\" text-anchor=\"middle\">batchnn training loss</text>\n",
            W / 2);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, H - B,
            W - R, H - B);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, T, L,
            H - B);
    for (int t = 0; t <= 4; t++) {
        double v = ylo + (yhi - ylo) * t / 4, y = H - B - (H - T - B) * t / 4;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.3g</text>\n", L - 5, y + 4,
                logy ? pow(10, v) : v);
        double ep = first_epoch + 1 + (n > 1 ? (double)(n - 1) * t / 4 : 0);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%.0f</text>\n",
                L + (W - L - R) * t / 4, H - B + 18, ep);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n", (L + W - R) / 2,
            H - 10);
    fprintf(f, "<text x=\"15\" y=\"%g\" transform=\"rotate(-90 15 %g)\" "
               "text-anchor=\"middle\">loss C%s</text>\n", (T + H - B) / 2, (T + H - B) / 2,
            logy ? " (log scale)" : "");
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (size_t i = 0; i < n; i++) {
        double v = logy ? log10(loss[i]) : loss[i];
        double x = L + (W - L - R) * (n > 1 ? (double)i / (double)(n - 1) : 0.5);
        double y = H - B - (H - T - B) * (v - ylo) / (yhi - ylo);
        fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f, "\"/>\n</svg>\n");
    return bnn_outfile_commit(&o, e);
}

static int on_epoch(void *p, int epoch, double loss, double seconds)
{
    train_ctx *c = p;
    c->last_loss = loss;
    c->train_seconds += seconds;
    c->epochs_done++;
    if (c->log && !c->log_failed) { /* a row per epoch, flushed: tail -f follows the run */
        errno = 0;
        if (fprintf(c->log, "%d,%.9g,%.9g%s\n", epoch, loss, seconds, c->log_extra) < 0 ||
            fflush(c->log) != 0) {
            c->log_failed = 1;
            c->log_errno = errno ? errno : EIO;
            fprintf(stderr, "%sbatchnn: --log %s: cannot write: %s; training goes on\n",
                    c->tty && !c->quiet ? "\r\033[K" : "", c->log_path, strerror(c->log_errno));
        }
    }
    if (c->nlosses == c->caplosses) {
        size_t cap = c->caplosses ? 2 * c->caplosses : 1024;
        double *nl = realloc(c->losses, cap * sizeof *nl);
        if (nl) {
            c->losses = nl;
            c->caplosses = cap;
        }
    }
    if (c->nlosses < c->caplosses)
        c->losses[c->nlosses++] = loss;
    double now = now_seconds();
    int last = epoch == c->first_epoch + c->epochs_total;
    if (!c->quiet && (last || now - c->last_print >= (c->tty ? 0.1 : 5.0))) {
        double rate = (double)c->n * c->epochs_done / c->train_seconds;
        double eta = (c->epochs_total - c->epochs_done) * (c->train_seconds / c->epochs_done);
        fprintf(stderr, "%sepoch %d/%d  loss %.6g%s  %.3g samples/s  ETA %.1fs%s",
                c->tty ? "\r\033[K" : "", epoch, c->first_epoch + c->epochs_total, loss,
                c->progress_extra, rate, eta, c->tty ? "" : "\n");
        if (c->tty && last)
            fputc('\n', stderr);
        fflush(stderr);
        c->last_print = now;
    }
    return interrupted ? 1 : 0;
}

static void usage_train(void)
{
    printf(
        "usage: batchnn train --arch W0,W1,...,Wm --data FILE|synth:NAME [options]\n"
        "\n"
        "Trains a multilayer perceptron by gradient descent on C = 1/n sum_i |a_i - y_i|^2\n"
        "(or the --loss chosen).\n"
        "\n"
        "model\n"
        "  --arch 2,16,16,1     widths, inputs first, outputs last\n"
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
        "validation\n"
        "  --val FILE|synth:NAME  evaluated after each epoch (synthetic: --seed + 1)\n"
        "  --val-targets FILE   its targets, from a separate file\n"
        "  --val-split F        validate on the last fraction F of the data (0 < F < 1)\n"
        "  --patience N         stop after N epochs without a better validation loss; --save\n"
        "                       then holds the best model\n"
        "output\n"
        "  --save MODEL         write the trained model (safetensors)\n"
        "  --log FILE.csv       epoch,loss,seconds,lr[,val_loss][,accuracy[,val_accuracy]]\n"
        "  --plot FILE.svg      the loss curve\n"
        "  --checkpoint FILE    save a checkpoint (model, epoch, optimizer state) every\n"
        "                       --checkpoint-every N epochs (default 10) and at the end\n"
        "  --resume FILE        continue from a checkpoint up to --epochs in all; the weights\n"
        "                       are bitwise those of an uninterrupted run (fast engine)\n"
        "  --quiet              no progress or summary\n",
        bnn_synth_names());
}

/* --resume: a setting that defines the run is stored in the checkpoint. Not given on the
 * command line, it is taken from there; given and different, the run is refused. Returns the
 * value to use (the command line's, the checkpoint's, or def). */
static const char *resume_setting(const char *resume, opt *opts, const char *name,
                                  const char *def, char *buf, size_t len,
                                  int (*same)(const char *, const char *))
{
    bnn_error e;
    const char *given = opt_str(opts, name, NULL);
    int r = bnn_model_read_meta(resume, name, buf, len, &e);
    if (r < 0)
        cli_die(1, "--resume %s", e.msg);
    if (r == 1) /* an older checkpoint without it */
        return given ? given : def;
    if (given && !same(given, buf))
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained with --%s %s; this run asks "
                "for --%s %s (leave it out to continue with %s)", resume, name, buf, name, given,
                buf);
    return given ? given : buf;
}

static int same_text(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int same_number(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    return *ea == '\0' && *eb == '\0' ? x == y : strcmp(a, b) == 0;
}

static int same_count(const char *a, const char *b)
{
    return cli_parse_u64("resume", a, 0, UINT64_MAX) == cli_parse_u64("resume", b, 0, UINT64_MAX);
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
        double *theta = malloc(m->nparams * sizeof *theta);
        double *grad = malloc(m->nparams * sizeof *grad);
        int r = theta && grad ? 0 : bnn_fail(e, "out of memory");
        for (size_t p = 0; r == 0 && p < m->nparams; p++)
            theta[p] = m->theta[p];
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

static int cmd_train(int argc, char **argv)
{
    opt opts[] = {
        {"arch", 1, 0, 0},    {"act", 1, 0, 0},      {"no-bias", 0, 0, 0},
        {"data", 1, 0, 0},    {"targets", 1, 0, 0},  {"samples", 1, 0, 0},
        {"epochs", 1, 0, 0},  {"lr", 1, 0, 0},       {"batch", 1, 0, 0},
        {"seed", 1, 0, 0},    {"threads", 1, 0, 0},  {"init", 1, 0, 0},
        {"save", 1, 0, 0},    {"log", 1, 0, 0},      {"gradient", 1, 0, 0},
        {"engine", 1, 0, 0},  {"quiet", 0, 0, 0},    {"help", 0, 0, 0},
        {"plot", 1, 0, 0},    {"checkpoint", 1, 0, 0}, {"checkpoint-every", 1, 0, 0},
        {"resume", 1, 0, 0},
        /* training options (train_options.c) */
        {"optimizer", 1, 0, 0}, {"momentum", 1, 0, 0}, {"beta1", 1, 0, 0},
        {"beta2", 1, 0, 0},   {"adam-eps", 1, 0, 0}, {"weight-decay", 1, 0, 0},
        {"lr-schedule", 1, 0, 0}, {"loss", 1, 0, 0}, {"shuffle", 0, 0, 0},
        {"val", 1, 0, 0},     {"val-targets", 1, 0, 0}, {"val-split", 1, 0, 0},
        {"patience", 1, 0, 0}, {0, 0, 0, 0},
    };
    parse_opts("train", argc, argv, opts, NULL, 0);
    if (opt_flag(opts, "help")) {
        usage_train();
        return 0;
    }
    bnn_error e;
    const char *init = opt_str(opts, "init", NULL);
    const char *resume = opt_str(opts, "resume", NULL);
    if (init && resume)
        cli_die(EXIT_USAGE, "train: --init and --resume cannot be combined");
    const char *data = opt_str(opts, "data", NULL);
    if (!data)
        cli_die(EXIT_USAGE, "train: --data FILE or --data synth:NAME is required");

    /* every output is checked before anything else: a bad path fails now, not after hours */
    const char *save = opt_str(opts, "save", NULL), *log = opt_str(opts, "log", NULL);
    const char *plot = opt_str(opts, "plot", NULL);
    const char *checkpoint = opt_str(opts, "checkpoint", NULL);
    const char *outs[4][2] = {{"save", save}, {"log", log}, {"plot", plot},
                              {"checkpoint", checkpoint}};
    for (int i = 0; i < 4; i++) {
        if (!outs[i][1])
            continue;
        if (bnn_outfile_check(outs[i][1], &e) != 0)
            cli_die(1, "--%s %s", outs[i][0], e.msg);
        for (int j = 0; j < i; j++)
            if (outs[j][1] && strcmp(outs[j][1], outs[i][1]) == 0 && strcmp(outs[i][1], "-"))
                cli_die(EXIT_USAGE, "--%s and --%s name the same file %s", outs[j][0],
                        outs[i][0], outs[i][1]);
    }
    if (opt_flag(opts, "checkpoint-every") && !checkpoint)
        cli_die(EXIT_USAGE, "--checkpoint-every needs --checkpoint FILE");
    int every = (int)cli_parse_u64("checkpoint-every", opt_str(opts, "checkpoint-every", "10"), 1,
                                   1000000000);

    /* the settings; with --resume, those the checkpoint records are taken from it */
    int done_epochs = 0;
    char rb[5][600];
    const char *s_seed = opt_str(opts, "seed", "1"), *s_lr = opt_str(opts, "lr", "0.1");
    const char *s_batch = opt_str(opts, "batch", "0");
    const char *s_gradient = opt_str(opts, "gradient", "exact");
    const char *s_engine = opt_str(opts, "engine", "fast");
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
        s_seed = resume_setting(resume, opts, "seed", "1", rb[0], sizeof rb[0], same_count);
        s_lr = resume_setting(resume, opts, "lr", "0.1", rb[1], sizeof rb[1], same_number);
        s_batch = resume_setting(resume, opts, "batch", "0", rb[2], sizeof rb[2], same_count);
        s_gradient = resume_setting(resume, opts, "gradient", "exact", rb[3], sizeof rb[3],
                                    same_text);
        s_engine = resume_setting(resume, opts, "engine", "fast", rb[4], sizeof rb[4], same_text);
        init = resume;
    }
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = (int)cli_parse_u64("epochs", opt_str(opts, "epochs", "100"), 0, 1000000000);
    to.lr = parse_double("lr", s_lr);
    if (to.lr < 0)
        cli_die(EXIT_USAGE, "--lr: %g is negative", to.lr);
    to.batch = (size_t)cli_parse_u64("batch", s_batch, 0, SIZE_MAX);
    to.threads = (int)cli_parse_u64("threads", opt_str(opts, "threads", "0"), 0, 4096);
    uint64_t seed = cli_parse_u64("seed", s_seed, 0, UINT64_MAX);
    size_t samples = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "0"), 0, SIZE_MAX);
    if (opt_flag(opts, "samples") && samples == 0)
        cli_die(EXIT_USAGE, "--samples must be at least 1");
    if (bnn_gradient_parse(s_gradient, &to.gradient) != 0)
        cli_die(EXIT_USAGE, "--gradient: '%s' is not exact, seed or finite-diff", s_gradient);
    if (bnn_engine_parse(s_engine, &to.engine) != 0)
        cli_die(EXIT_USAGE, "--engine: '%s' is not fast or reference", s_engine);
    if (done_epochs > to.epochs)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint is at epoch %d, past --epochs %d", resume,
                done_epochs, to.epochs);
    int quiet = opt_flag(opts, "quiet");

    bnn_model model;
    if (init) {
        const char *what = resume ? "--resume" : "--init";
        load_model(&model, init, opt_str(opts, "act", NULL), what);
        char w[4096];
        bnn_arch_format(&model.arch, w, sizeof w, NULL, 0);
        if (opt_flag(opts, "arch")) {
            bnn_arch want;
            if (bnn_arch_parse(&want, opt_str(opts, "arch", ""), NULL, 1, &e) != 0)
                cli_die(EXIT_USAGE, "%s", e.msg);
            int same = want.nlayers == model.arch.nlayers;
            for (int i = 0; same && i <= want.nlayers; i++)
                same = want.width[i] == model.arch.width[i];
            if (!same)
                cli_die(EXIT_USAGE, "--arch %s conflicts with %s %s, whose architecture is %s",
                        opt_str(opts, "arch", ""), what, init, w);
        }
        if (opt_flag(opts, "no-bias"))
            for (int l = 0; l < model.arch.nlayers; l++)
                if (model.arch.bias[l])
                    cli_die(EXIT_USAGE, "--no-bias conflicts with %s %s, whose layer %d has a "
                            "bias", what, init, l + 1);
    } else {
        const char *arch = opt_str(opts, "arch", NULL);
        if (!arch)
            cli_die(EXIT_USAGE, "train: --arch is required (e.g. --arch 2,16,1), or --init MODEL");
        bnn_arch a;
        if (bnn_arch_parse(&a, arch, opt_str(opts, "act", NULL), !opt_flag(opts, "no-bias"),
                           &e) != 0)
            cli_die(EXIT_USAGE, "%s", e.msg);
        if (bnn_model_init(&model, &a, &e) != 0)
            cli_die(1, "%s", e.msg);
        bnn_model_randomize(&model, seed);
    }
    const bnn_arch *a = &model.arch;
    /* training options: optimizer, schedule, loss, shuffling, validation */
    const cli_train_strings ts = {
        opt_str(opts, "optimizer", NULL), opt_str(opts, "momentum", NULL),
        opt_str(opts, "beta1", NULL), opt_str(opts, "beta2", NULL),
        opt_str(opts, "adam-eps", NULL), opt_str(opts, "weight-decay", NULL),
        opt_str(opts, "lr-schedule", NULL), opt_str(opts, "loss", NULL),
        opt_str(opts, "patience", NULL), opt_flag(opts, "shuffle"),
    };
    cli_training_options(&ts, a, &to);
    to.seed = seed;
    const char *val = opt_str(opts, "val", NULL), *val_split = opt_str(opts, "val-split", NULL);
    if (val && val_split)
        cli_die(EXIT_USAGE, "train: --val and --val-split cannot be combined");
    if (opt_flag(opts, "val-targets") && !val)
        cli_die(EXIT_USAGE, "--val-targets needs --val FILE");
    if (to.patience && !val && !val_split)
        cli_die(EXIT_USAGE, "--patience needs validation data (--val FILE or --val-split F)");
    double split = val_split ? cli_val_split(val_split) : 0.0;
    if (resume)
        cli_resume_check(resume, &to);
    loaded_data ld, vld;
    load_data(&ld, data, opt_str(opts, "targets", NULL), samples, a->width[0],
              a->width[a->nlayers], seed, 1);
    bnn_data vdata;
    if (val) { /* a synthetic validation set is drawn with --seed + 1: other samples */
        load_data(&vld, val, opt_str(opts, "val-targets", NULL), samples, a->width[0],
                  a->width[a->nlayers], seed + 1, 1);
        to.val = &vld.d;
    } else if (val_split) { /* the last F of the samples, before any shuffling */
        size_t nval = (size_t)(split * (double)ld.d.n + 0.5);
        if (nval < 1 || nval >= ld.d.n)
            cli_die(1, "--val-split %s of %zu samples leaves %zu for validation and %zu for "
                       "training (each needs at least 1)", val_split, ld.d.n, nval,
                    ld.d.n - nval);
        vdata = ld.d;
        vdata.row0 = ld.d.n - nval;
        vdata.n = nval;
        ld.d.n -= nval;
        to.val = &vdata;
    }

    bnn_optim_state state; /* before any output is opened: a bad checkpoint writes nothing */
    if (bnn_optim_state_init(&state, &to.optim, model.nparams, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (resume) { /* the optimizer continues where the checkpoint left it */
        state.step = cli_resume_step(resume);
        if (bnn_checkpoint_load_state(resume, a, &state, &e) != 0)
            cli_die(1, "--resume %s", e.msg);
    }

    char nbuf[32], seedbuf[32], lrbuf[40], batchbuf[32];
    snprintf(nbuf, sizeof nbuf, "%zu", ld.d.n);
    snprintf(seedbuf, sizeof seedbuf, "%llu", (unsigned long long)seed);
    snprintf(lrbuf, sizeof lrbuf, "%.15g", to.lr); /* shortest of 15..17 digits that reads back */
    if (strtod(lrbuf, NULL) != to.lr)
        snprintf(lrbuf, sizeof lrbuf, "%.17g", to.lr);
    snprintf(batchbuf, sizeof batchbuf, "%zu", to.batch);
    if (resume) { /* the checkpoint must come from the same data */
        char buf[600];
        if (bnn_model_read_meta(resume, "samples", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, nbuf) != 0)
            cli_die(1, "--resume %s: the checkpoint was trained on %s samples, this run has %s",
                    resume, buf, nbuf);
        if (bnn_model_read_meta(resume, "data", buf, sizeof buf, &e) == 0 &&
            strcmp(buf, ld.data.name) != 0)
            fprintf(stderr, "batchnn: warning: --resume %s was trained on %s, this run uses %s\n",
                    resume, buf, ld.data.name);
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
    ctx.validating = to.val != NULL;
    to.on_epoch_stats = on_epoch_stats;
    to.total_epochs = to.epochs;
    to.start_epoch = done_epochs;
    to.epochs -= done_epochs;
    ctx.first_epoch = done_epochs;
    ctx.last_checkpoint = done_epochs;
    if (checkpoint) {
        ctx.checkpoint = checkpoint;
        add_meta(&ctx, "epoch", NULL); /* filled in per checkpoint */
        add_meta(&ctx, "samples", nbuf);
        add_meta(&ctx, "data", ld.data.name);
        add_meta(&ctx, "seed", seedbuf);
        add_meta(&ctx, "lr", lrbuf);
        add_meta(&ctx, "batch", batchbuf);
        add_meta(&ctx, "gradient", bnn_gradient_name(to.gradient));
        add_meta(&ctx, "engine", bnn_engine_name(to.engine));
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
    ctx.epochs_total = to.epochs;
    ctx.n = ld.d.n;
    ctx.quiet = quiet;
    ctx.tty = isatty(STDERR_FILENO);
    ctx.t_start = now_seconds();
    ctx.last_print = ctx.t_start;
    to.on_epoch = on_epoch;
    to.ctx = &ctx;
    int threads = to.threads > 0 ? to.threads : omp_get_num_procs();
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
    }

    catch_stop_signals(1);
    int rc = bnn_train(&model, &ld.d, &to, &e);
    const int last_epoch = done_epochs + ctx.epochs_done;
    double final_loss = NAN;
    if (rc == 0 && final_cost(&model, &ld.d, &to, &final_loss, &e) != 0)
        rc = -1;
    else if (rc == 0 && !(fabs(final_loss) <= FLT_MAX)) {
        /* non-finite, or beyond what the float32 model can represent: diverged */
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
    if (plot && write_plot(plot, ctx.losses, ctx.nlosses, done_epochs, &e2) != 0) {
        fprintf(stderr, "batchnn: --plot %s\n", e2.msg);
        failed = 1;
    }
    if (rc != 0) { /* --save and the checkpoint are not written: the weights are not trustworthy */
        fprintf(stderr, "batchnn: %s\n", e.msg);
        failed = 1;
    } else {
        const char *loss_key = "loss", *loss_val = bnn_loss_name(to.loss);
        if (save && bnn_model_save_meta(to.best && best_epoch ? &best : &model, save, &loss_key,
                                        &loss_val, 1, &e2) != 0) {
            fprintf(stderr, "batchnn: --save %s\n", e2.msg);
            failed = 1;
        }
        /* a final checkpoint, unless the last epoch just wrote one */
        if (checkpoint && ctx.epochs_done > 0 && ctx.last_checkpoint != last_epoch)
            on_checkpoint(&ctx, last_epoch, &model, NULL);
        if (ctx.checkpoint_failures) {
            fprintf(stderr, "batchnn: --checkpoint %s: %d checkpoint%s could not be written%s\n",
                    checkpoint, ctx.checkpoint_failures, ctx.checkpoint_failures == 1 ? "" : "s",
                    ctx.last_checkpoint == last_epoch ? " (the final one was)" : "");
            failed = 1;
        }
    }
    catch_stop_signals(0);
    free(ctx.losses);
    if (!quiet && rc == 0) {
        double rate = ctx.train_seconds > 0 ? (double)ld.d.n * ctx.epochs_done /
                                                  ctx.train_seconds : 0.0;
        printf("trained %d epoch%s in %.3f s: final loss %.9g, %.4g samples/s, %.4g ms/epoch "
               "(%s, %d thread%s)%s%s\n",
               ctx.epochs_done, ctx.epochs_done == 1 ? "" : "s", ctx.train_seconds, final_loss,
               rate, ctx.epochs_done ? 1e3 * ctx.train_seconds / ctx.epochs_done : 0.0,
               bnn_kernels()->isa, threads, threads == 1 ? "" : "s",
               save && !failed && !(to.best && best_epoch) ? ", saved to " : "",
               save && !failed && !(to.best && best_epoch) ? save : "");
        if (save && !failed && to.best && best_epoch)
            printf("best validation loss at epoch %d: that model is saved to %s\n", best_epoch,
                   save);
    }
    if (interrupted)
        fprintf(stderr, "batchnn: stopped by %s after epoch %d of %d%s\n",
                signal_name(interrupted), last_epoch, done_epochs + to.epochs,
                failed ? "" : "; every output was written");
    bnn_optim_state_free(&state);
    bnn_model_free(&best);
    if (val)
        free_data(&vld);
    free_data(&ld);
    bnn_model_free(&model);
    return failed ? 1 : interrupted ? 128 + interrupted : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* gradcheck                                                                                   */

/* Normwise relative difference of one tensor: max|g - f| / max(max|f|, floor). */
static double tensor_diff(const double *g, const double *f, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(g[i] - f[i]);
        if (d > num || isnan(d))
            num = d;
        if (fabs(f[i]) > den)
            den = fabs(f[i]);
    }
    return num / (den > 1e-7 ? den : 1e-7);
}

static void usage_gradcheck(void)
{
    printf("usage: batchnn gradcheck --arch W0,...,Wm [--act ...] [--no-bias] [--samples N]\n"
           "                         [--seed S] [--data FILE|synth:NAME] [--gradient exact|seed]\n"
           "                         [--eps H] [--tol-reference X] [--tol-fast X]\n"
           "                         [--loss mse|cross-entropy|bce]\n"
           "\n"
           "Compares each engine's analytic gradient with central finite differences of the\n"
           "double-precision cost, the five-point stencil (-C(t+2h) + 8C(t+h) - 8C(t-h)\n"
           "+ C(t-2h)) / 12h with h = eps * max(1, |t|) (default 1e-3; error O(h^4)), at\n"
           "weights drawn from --seed (biases too) on --samples samples (default 16 of\n"
           "synth:teacher). Prints per layer and tensor the normwise relative difference\n"
           "max|analytic - fd| / max(max|fd|, 1e-7); exits 1 above tolerance (reference\n"
           "1e-6, fast 1e-4 by default). With --gradient seed, the notes' recursion is\n"
           "checked against 2^(m-l) times the finite differences.\n");
}

static int cmd_gradcheck(int argc, char **argv)
{
    opt opts[] = {
        {"arch", 1, 0, 0},     {"act", 1, 0, 0},           {"no-bias", 0, 0, 0},
        {"samples", 1, 0, 0},  {"seed", 1, 0, 0},          {"data", 1, 0, 0},
        {"targets", 1, 0, 0},  {"gradient", 1, 0, 0},      {"eps", 1, 0, 0},
        {"tol-reference", 1, 0, 0}, {"tol-fast", 1, 0, 0}, {"threads", 1, 0, 0},
        {"init", 1, 0, 0},     {"help", 0, 0, 0},          {"loss", 1, 0, 0},
        {0, 0, 0, 0},
    };
    parse_opts("gradcheck", argc, argv, opts, NULL, 0);
    if (opt_flag(opts, "help")) {
        usage_gradcheck();
        return 0;
    }
    bnn_error e;
    uint64_t seed = cli_parse_u64("seed", opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    size_t samples = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "16"), 1, SIZE_MAX);
    double eps = parse_double("eps", opt_str(opts, "eps", "1e-3"));
    double tol_ref = parse_double("tol-reference", opt_str(opts, "tol-reference", "1e-6"));
    double tol_fast = parse_double("tol-fast", opt_str(opts, "tol-fast", "1e-4"));
    int threads = (int)cli_parse_u64("threads", opt_str(opts, "threads", "0"), 0, 4096);
    bnn_gradient mode;
    if (bnn_gradient_parse(opt_str(opts, "gradient", "exact"), &mode) != 0 ||
        mode == BNN_GRAD_FINITE_DIFF)
        cli_die(EXIT_USAGE, "--gradient: '%s' is not exact or seed", opt_str(opts, "gradient", ""));
    if (eps <= 0)
        cli_die(EXIT_USAGE, "--eps must be positive");

    bnn_model model;
    const char *init = opt_str(opts, "init", NULL);
    if (init) {
        load_model(&model, init, opt_str(opts, "act", NULL), "--init");
    } else {
        const char *arch = opt_str(opts, "arch", NULL);
        if (!arch)
            cli_die(EXIT_USAGE, "gradcheck: --arch is required (or --init MODEL)");
        bnn_arch a;
        if (bnn_arch_parse(&a, arch, opt_str(opts, "act", NULL), !opt_flag(opts, "no-bias"),
                           &e) != 0)
            cli_die(EXIT_USAGE, "%s", e.msg);
        if (bnn_model_init(&model, &a, &e) != 0)
            cli_die(1, "%s", e.msg);
        /* weights and biases both random and away from zero, so every term is exercised */
        bnn_rng r;
        bnn_rng_seed(&r, seed);
        for (size_t p = 0; p < model.nparams; p++)
            model.theta[p] = (float)(2.0 * bnn_rng_uniform(&r) - 1.0);
    }
    const bnn_arch *a = &model.arch;
    const int m = a->nlayers;
    size_t np = model.nparams;
    bnn_loss loss = BNN_LOSS_MSE;
    if (opt_flag(opts, "loss") && bnn_loss_parse(opt_str(opts, "loss", ""), &loss) != 0)
        cli_die(EXIT_USAGE, "--loss: '%s' is not mse, cross-entropy or bce",
                opt_str(opts, "loss", ""));
    if (bnn_loss_check(a, loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    if (loss != BNN_LOSS_MSE && mode == BNN_GRAD_SEED)
        cli_die(EXIT_USAGE, "--gradient seed is the notes' recursion for the squared error; "
                            "--loss %s needs --gradient exact", bnn_loss_name(loss));
    if (np > 100000)
        cli_die(EXIT_USAGE, "gradcheck: %zu parameters would take too long by finite differences "
                        "(at most 100000)", np);
    loaded_data ld;
    const char *data = opt_str(opts, "data", NULL);
    if (!data)
        data = a->width[0] == 1 && a->width[m] == 1 ? "synth:sine" : "synth:teacher";
    load_data(&ld, data, opt_str(opts, "targets", NULL), samples, a->width[0], a->width[m],
              seed, 1);
    size_t n = ld.d.n;

    double *theta = malloc(np * sizeof *theta), *fd = malloc(np * sizeof *fd);
    double *gref = malloc(np * sizeof *gref), *gfast = malloc(np * sizeof *gfast);
    float *gf = bnn_alloc(np, sizeof *gf);
    if (!theta || !fd || !gref || !gfast || !gf)
        cli_die(1, "gradcheck: out of memory");
    for (size_t p = 0; p < np; p++)
        theta[p] = model.theta[p];
    if (bnn_fd_grad_loss(a, theta, &ld.d, 0, n, eps, 4, loss, fd, &e) != 0 ||
        bnn_ref_grad_loss(a, theta, &ld.d, 0, n, mode, loss, gref, NULL, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_fast *fast;
    bnn_fast_opts fo = {.threads = threads, .chunk = 0, .loss = loss};
    if (bnn_fast_create(&fast, a, &fo, &e) != 0 ||
        bnn_fast_grad(fast, model.theta, &ld.d, 0, n, mode, gf, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    for (size_t p = 0; p < np; p++)
        gfast[p] = gf[p];
    if (mode == BNN_GRAD_SEED) /* the contract: seed = 2^(m-l) x exact at layer l (0-based) */
        for (int l = 0; l < m; l++) {
            double f = ldexp(1.0, m - 1 - l);
            size_t w0 = bnn_arch_weight_offset(a, l), w1 = bnn_arch_weight_offset(a, l + 1);
            for (size_t p = w0; p < w1; p++)
                fd[p] *= f;
        }
    char w[4096], acts[4096];
    bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
    printf("gradcheck: %s (%s), %zu parameters, %zu samples of %s, seed %llu, loss %s\n", w, acts,
           np, n, ld.data.name, (unsigned long long)seed, bnn_loss_name(loss));
    printf("finite differences: five-point central stencil in double, h = %g * max(1, |theta|);"
           " gradient %s%s\n", eps,
           bnn_gradient_name(mode), mode == BNN_GRAD_SEED ? " vs 2^(m-l) x finite differences"
                                                          : "");
    printf("relative difference = max|analytic - fd| / max(max|fd|, 1e-7), per tensor\n");
    printf("%-6s %-7s %10s %14s %14s %14s\n", "layer", "tensor", "params", "max|fd|",
           "reference", "fast");
    double worst_ref = 0, worst_fast = 0;
    for (int l = 0; l < m; l++) {
        for (int t = 0; t < 2; t++) {
            size_t off = t == 0 ? bnn_arch_weight_offset(a, l) : bnn_arch_bias_offset(a, l);
            if (off == (size_t)-1)
                continue;
            size_t cnt = t == 0 ? (size_t)(a->width[l] * a->width[l + 1])
                                : (size_t)a->width[l + 1];
            double mx = 0;
            for (size_t p = 0; p < cnt; p++)
                mx = fabs(fd[off + p]) > mx ? fabs(fd[off + p]) : mx;
            double dr = tensor_diff(gref + off, fd + off, cnt);
            double dfst = tensor_diff(gfast + off, fd + off, cnt);
            if (!(dr <= worst_ref))
                worst_ref = dr;
            if (!(dfst <= worst_fast))
                worst_fast = dfst;
            printf("%-6d %-7s %10zu %14.3e %14.3e %14.3e\n", l + 1, t ? "bias" : "weight", cnt,
                   mx, dr, dfst);
        }
    }
    int ok = worst_ref <= tol_ref && worst_fast <= tol_fast;
    printf("worst: reference %.3e (tolerance %.0e), fast %.3e (tolerance %.0e) [%s]: %s\n",
           worst_ref, tol_ref, worst_fast, tol_fast, bnn_kernels()->isa, ok ? "ok" : "FAILED");
    bnn_fast_free(fast);
    free(theta);
    free(fd);
    free(gref);
    free(gfast);
    bnn_free(gf);
    free_data(&ld);
    bnn_model_free(&model);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* predict, eval                                                                               */

static void usage_predict(void)
{
    printf("usage: batchnn predict --model MODEL --data FILE [--out FILE.csv|FILE.npy]\n"
           "                       [--act ...] [--threads T] [--proba | --classes] [--loss L]\n"
           "\n"
           "Writes the model's outputs, one row per sample (no header), to --out (CSV or .npy\n"
           "by extension) or to standard output as CSV. --data rows hold the inputs, optionally\n"
           "followed by targets (ignored). --act gives activations for a model without them.\n"
           "For a model trained with --loss cross-entropy or bce (its metadata, or --loss):\n"
           "  --proba    probabilities: softmax (cross-entropy) or sigmoid (bce) of the outputs\n"
           "  --classes  labels: the argmax, one column (cross-entropy); 0/1 per output (bce)\n");
}

static int cmd_predict(int argc, char **argv)
{
    opt opts[] = {
        {"model", 1, 0, 0}, {"data", 1, 0, 0},    {"out", 1, 0, 0}, {"act", 1, 0, 0},
        {"threads", 1, 0, 0}, {"samples", 1, 0, 0}, {"help", 0, 0, 0},
        {"proba", 0, 0, 0}, {"classes", 0, 0, 0}, {"loss", 1, 0, 0}, {0, 0, 0, 0},
    };
    parse_opts("predict", argc, argv, opts, NULL, 0);
    if (opt_flag(opts, "help")) {
        usage_predict();
        return 0;
    }
    bnn_error e;
    const char *model_path = opt_str(opts, "model", NULL), *data = opt_str(opts, "data", NULL);
    if (!model_path || !data)
        cli_die(EXIT_USAGE, "predict: --model MODEL and --data FILE are required");
    int threads = (int)cli_parse_u64("threads", opt_str(opts, "threads", "0"), 0, 4096);
    size_t samples = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "0"), 0, SIZE_MAX);
    bnn_model model;
    load_model(&model, model_path, opt_str(opts, "act", NULL), "--model");
    const bnn_arch *a = &model.arch;
    const int64_t nout = a->width[a->nlayers];
    const int proba = opt_flag(opts, "proba"), classes = opt_flag(opts, "classes");
    const bnn_loss loss = cli_model_loss(model_path, opt_str(opts, "loss", NULL));
    if (proba && classes)
        cli_die(EXIT_USAGE, "predict: --proba and --classes cannot be combined");
    if ((proba || classes) && loss == BNN_LOSS_MSE)
        cli_die(EXIT_USAGE, "predict: --%s needs a model trained with --loss cross-entropy or "
                            "bce (this one: mse; --loss overrides)", proba ? "proba" : "classes");
    if ((proba || classes) && bnn_loss_check(a, loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    const int64_t wout = classes && loss == BNN_LOSS_CE ? 1 : nout;
    loaded_data ld;
    load_data(&ld, data, NULL, samples, a->width[0], nout, 1, 0);
    bnn_fast *fast;
    bnn_fast_opts fo = {.threads = threads, .chunk = 0};
    if (bnn_fast_create(&fast, a, &fo, &e) != 0)
        cli_die(1, "%s", e.msg);
    const char *outp = opt_str(opts, "out", "-");
    bnn_table_writer *w = NULL;
    if (bnn_table_writer_open(&w, outp, ld.d.n, (size_t)wout, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    /* predictions go out in blocks of at most 16 MiB, so any n and any width stream through
     * bounded memory */
    size_t block = rows_per_block((size_t)nout, ld.d.n);
    float *buf = bnn_alloc(block * (size_t)nout, sizeof(float));
    if (!buf) {
        bnn_table_writer_abort(w);
        cli_die(1, "predict: out of memory for %zu x %lld outputs", block, (long long)nout);
    }
    for (size_t s = 0; s < ld.d.n; s += block) {
        size_t cnt = ld.d.n - s < block ? ld.d.n - s : block;
        if (bnn_fast_predict(fast, model.theta, &ld.d, s, cnt, buf, &e) != 0) {
            bnn_table_writer_abort(w);
            cli_die(1, "%s", e.msg);
        }
        for (size_t i = 0; i < cnt * (size_t)nout; i++)
            if (!isfinite(buf[i])) {
                bnn_table_writer_abort(w);
                cli_die(1, "predict: %s: sample %zu: output %zu of the model is %s (the model "
                        "overflows on this input)", data, s + i / (size_t)nout + 1,
                        i % (size_t)nout + 1, isnan(buf[i]) ? "nan" : "infinite");
            }
        cli_predict_transform(buf, cnt, nout, loss, proba, classes);
        if (bnn_table_writer_rows(w, buf, cnt, (size_t)wout, &e) != 0) {
            bnn_table_writer_abort(w);
            cli_die(1, "%s", e.msg);
        }
    }
    if (bnn_table_writer_commit(w, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_free(buf);
    bnn_fast_free(fast);
    free_data(&ld);
    bnn_model_free(&model);
    return 0;
}

static void usage_eval(void)
{
    printf("usage: batchnn eval --model MODEL --data FILE|synth:NAME [--targets FILE]\n"
           "                    [--engine fast|reference] [--act ...] [--samples N] [--seed S]\n"
           "                    [--loss mse|cross-entropy|bce]\n"
           "\n"
           "Prints the cost C = 1/n sum_i sum_j (a_ij - y_ij)^2 of the model on the data, alone\n"
           "on a line (%%.17g). The fast engine accumulates in double over float32 outputs; the\n"
           "reference engine computes everything in double. A model trained with --loss\n"
           "cross-entropy or bce (its metadata, or --loss L) gets that loss, and a second line\n"
           "'accuracy X': the fraction of samples whose argmax matches the target's\n"
           "(cross-entropy), or of outputs on the right side of 0.5 (bce).\n");
}

static int cmd_eval(int argc, char **argv)
{
    opt opts[] = {
        {"model", 1, 0, 0},   {"data", 1, 0, 0},    {"targets", 1, 0, 0}, {"act", 1, 0, 0},
        {"engine", 1, 0, 0},  {"threads", 1, 0, 0}, {"samples", 1, 0, 0}, {"seed", 1, 0, 0},
        {"help", 0, 0, 0},    {"loss", 1, 0, 0},    {0, 0, 0, 0},
    };
    parse_opts("eval", argc, argv, opts, NULL, 0);
    if (opt_flag(opts, "help")) {
        usage_eval();
        return 0;
    }
    bnn_error e;
    const char *model_path = opt_str(opts, "model", NULL), *data = opt_str(opts, "data", NULL);
    if (!model_path || !data)
        cli_die(EXIT_USAGE, "eval: --model MODEL and --data FILE are required");
    int threads = (int)cli_parse_u64("threads", opt_str(opts, "threads", "0"), 0, 4096);
    size_t samples = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "0"), 0, SIZE_MAX);
    uint64_t seed = cli_parse_u64("seed", opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    bnn_engine engine;
    if (bnn_engine_parse(opt_str(opts, "engine", "fast"), &engine) != 0)
        cli_die(EXIT_USAGE, "--engine: '%s' is not fast or reference", opt_str(opts, "engine", ""));
    bnn_model model;
    load_model(&model, model_path, opt_str(opts, "act", NULL), "--model");
    const bnn_arch *a = &model.arch;
    const bnn_loss loss = cli_model_loss(model_path, opt_str(opts, "loss", NULL));
    if (bnn_loss_check(a, loss, &e) != 0)
        cli_die(opt_flag(opts, "loss") ? EXIT_USAGE : 1, "%s: %s", model_path, e.msg);
    loaded_data ld;
    load_data(&ld, data, opt_str(opts, "targets", NULL), samples, a->width[0],
              a->width[a->nlayers], seed, 1);
    double cost, correct = 0.0;
    if (engine == BNN_ENGINE_REFERENCE) {
        double *theta = malloc(model.nparams * sizeof *theta);
        if (!theta)
            cli_die(1, "eval: out of memory");
        for (size_t p = 0; p < model.nparams; p++)
            theta[p] = model.theta[p];
        if (bnn_ref_grad_loss(a, theta, &ld.d, 0, ld.d.n, BNN_GRAD_EXACT, loss, NULL, &cost,
                              &correct, &e) != 0)
            cli_die(1, "%s", e.msg);
        free(theta);
    } else {
        bnn_fast *fast;
        bnn_fast_opts fo = {.threads = threads, .chunk = 0, .loss = loss};
        if (bnn_fast_create(&fast, a, &fo, &e) != 0 ||
            bnn_fast_eval(fast, model.theta, &ld.d, 0, ld.d.n, &cost, &correct, &e) != 0)
            cli_die(1, "%s", e.msg);
        bnn_fast_free(fast);
    }
    if (!isfinite(cost))
        cli_die(1, "eval: the cost of %s on %s is %s (the model's outputs overflow)", model_path,
                data, isnan(cost) ? "nan" : "infinite");
    printf("%.17g\n", cost);
    if (loss != BNN_LOSS_MSE)
        printf("accuracy %.9g\n", correct / ((double)ld.d.n * (double)bnn_loss_decisions(a, loss)));
    free_data(&ld);
    bnn_model_free(&model);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* gen, info                                                                                   */

static void usage_gen(void)
{
    printf("usage: batchnn gen synth:NAME --samples N --out FILE.npy|FILE.csv [--seed S]\n"
           "                  [--arch W0,...,Wm]\n"
           "\n"
           "Writes a synthetic set, one row per sample (inputs then targets, no header), in\n"
           "blocks, so any size streams through bounded memory. Sets: %s.\n"
           "uniform and teacher take their widths from --arch (first and last).\n",
           bnn_synth_names());
}

static int cmd_gen(int argc, char **argv)
{
    opt opts[] = {
        {"samples", 1, 0, 0}, {"out", 1, 0, 0}, {"seed", 1, 0, 0}, {"arch", 1, 0, 0},
        {"help", 0, 0, 0},    {0, 0, 0, 0},
    };
    const char *pos[1] = {0};
    int npos = parse_opts("gen", argc, argv, opts, pos, 1);
    if (opt_flag(opts, "help")) {
        usage_gen();
        return 0;
    }
    bnn_error e;
    if (npos != 1 || strncmp(pos[0], "synth:", 6) != 0)
        cli_die(EXIT_USAGE, "gen: name a synthetic set, e.g. 'batchnn gen synth:xor --samples 4 "
                        "--out xor.csv'");
    const char *outp = opt_str(opts, "out", NULL);
    if (!outp)
        cli_die(EXIT_USAGE, "gen: --out FILE is required");
    if (!opt_flag(opts, "samples"))
        cli_die(EXIT_USAGE, "gen: --samples N is required");
    size_t n = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "0"), 1, SIZE_MAX);
    uint64_t seed = cli_parse_u64("seed", opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    int64_t nin = -1, nout = -1;
    if (opt_flag(opts, "arch")) {
        bnn_arch a;
        if (bnn_arch_parse(&a, opt_str(opts, "arch", ""), NULL, 1, &e) != 0)
            cli_die(EXIT_USAGE, "%s", e.msg);
        nin = a.width[0];
        nout = a.width[a.nlayers];
    }
    bnn_table t;
    /* budget 0: never stored, generated block by block */
    if (bnn_synth_open(&t, pos[0], n, nin, nout, seed, 0, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_table_writer *w;
    if (bnn_table_writer_open(&w, outp, n, t.cols, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    size_t block = rows_per_block(t.cols, n);
    float *buf = bnn_alloc(block * t.cols, sizeof(float));
    if (!buf) {
        bnn_table_writer_abort(w);
        cli_die(1, "gen: out of memory");
    }
    for (size_t s = 0; s < n; s += block) {
        size_t cnt = n - s < block ? n - s : block;
        if (bnn_table_read(&t, s, cnt, 0, t.cols, buf, t.cols, &e) != 0 ||
            bnn_table_writer_rows(w, buf, cnt, t.cols, &e) != 0) {
            bnn_table_writer_abort(w);
            cli_die(1, "%s", e.msg);
        }
    }
    if (bnn_table_writer_commit(w, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_free(buf);
    bnn_table_close(&t);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    opt opts[] = {{"act", 1, 0, 0}, {"help", 0, 0, 0}, {0, 0, 0, 0}};
    const char *pos[1] = {0};
    int npos = parse_opts("info", argc, argv, opts, pos, 1);
    if (opt_flag(opts, "help")) {
        printf("usage: batchnn info MODEL\n\nPrints a model's architecture, activations and "
               "parameter statistics.\n");
        return 0;
    }
    if (npos != 1)
        cli_die(EXIT_USAGE, "info: name a model file, e.g. 'batchnn info model.safetensors'");
    bnn_error e;
    bnn_model model;
    load_model(&model, pos[0], opt_str(opts, "act", NULL), "model");
    const bnn_arch *a = &model.arch;
    char w[4096], acts[4096];
    bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
    printf("model: %s\narch: %s\nactivations: %s\nlayers: %d\nparameters: %zu\n", pos[0], w,
           acts, a->nlayers, model.nparams);
    char meta[64], step[64];
    if (bnn_model_read_meta(pos[0], "loss", meta, sizeof meta, &e) == 0)
        printf("loss: %s\n", meta);
    if (bnn_model_read_meta(pos[0], "optimizer", meta, sizeof meta, &e) == 0 &&
        bnn_model_read_meta(pos[0], "optimizer.step", step, sizeof step, &e) == 0)
        printf("optimizer: %s, %s steps (checkpoint)\n", meta, step);
    for (int l = 0; l < a->nlayers; l++) {
        const float *W = bnn_model_weight(&model, l);
        size_t cnt = (size_t)(a->width[l] * a->width[l + 1]);
        double mn = INFINITY, mx = -INFINITY, ss = 0;
        for (size_t i = 0; i < cnt; i++) {
            mn = W[i] < mn ? W[i] : mn;
            mx = W[i] > mx ? W[i] : mx;
            ss += (double)W[i] * W[i];
        }
        printf("layer %d: %lld -> %lld, %s, %s; weight min %.6g max %.6g rms %.6g\n", l + 1,
               (long long)a->width[l], (long long)a->width[l + 1], bnn_act_name(a->act[l]),
               a->bias[l] ? "bias" : "no bias", mn, mx, sqrt(ss / (double)cnt));
    }
    bnn_model_free(&model);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* demo: the notes' models on their own examples, then a large full-batch run                  */

static void demo_train(const char *title, const char *arch, const char *acts, int bias,
                       const char *set, size_t n, int epochs, double lr, bnn_model *model)
{
    bnn_error e;
    bnn_arch a;
    if (bnn_arch_parse(&a, arch, acts, bias, &e) != 0 || bnn_model_init(model, &a, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    bnn_model_randomize(model, 1);
    loaded_data ld;
    load_data(&ld, set, NULL, n, a.width[0], a.width[a.nlayers], 1, 1);
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = epochs;
    to.lr = lr;
    double t0 = now_seconds();
    double c0, c1;
    bnn_fast *f;
    bnn_fast_opts fo = {0};
    if (bnn_fast_create(&f, &a, &fo, &e) != 0 ||
        bnn_fast_cost(f, model->theta, &ld.d, 0, ld.d.n, &c0, &e) != 0 ||
        bnn_train(model, &ld.d, &to, &e) != 0 ||
        bnn_fast_cost(f, model->theta, &ld.d, 0, ld.d.n, &c1, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    printf("\n%s\n  arch %s (%s%s), %s, %zu samples, %d epochs at lr %g: cost %.3g -> %.3g "
           "(%.2f s)\n", title, arch, acts, bias ? "" : ", no bias", set, ld.d.n, epochs, lr, c0,
           c1, now_seconds() - t0);
    bnn_fast_free(f);
    free_data(&ld);
}

static void demo_gate(const char *name, const char *arch, int epochs, double lr)
{
    bnn_model model;
    char set[32], title[128];
    snprintf(set, sizeof set, "synth:%s", name);
    snprintf(title, sizeof title, "%s gate", name);
    demo_train(title, arch, "sigmoid", 1, set, 4, epochs, lr, &model);
    bnn_arch *a = &model.arch;
    for (int i = 0; i < 4; i++) {
        double x[2] = {(double)(i >> 1), (double)(i & 1)}, y;
        double *theta = malloc(model.nparams * sizeof *theta);
        for (size_t p = 0; p < model.nparams; p++)
            theta[p] = model.theta[p];
        bnn_ref_forward(a, theta, x, &y);
        free(theta);
        printf("  %g %s %g = %.3f\n", x[0], name, x[1], y);
    }
    bnn_model_free(&model);
}

static int cmd_demo(int argc, char **argv)
{
    opt opts[] = {{"samples", 1, 0, 0}, {"epochs", 1, 0, 0}, {"help", 0, 0, 0}, {0, 0, 0, 0}};
    parse_opts("demo", argc, argv, opts, NULL, 0);
    if (opt_flag(opts, "help")) {
        printf("usage: batchnn demo [--samples N] [--epochs E]\n\nTrains the notes' models on "
               "their own examples, then a large full-batch run\n(2,16,16,1 on synth:uniform, "
               "default 2^20 samples, 10 epochs) with the fast\nand reference engines, and a "
               "classification run (10 classes, cross-entropy, Adam,\nshuffled, validated).\n");
        return 0;
    }
    size_t big = (size_t)cli_parse_u64("samples", opt_str(opts, "samples", "1048576"), 1, SIZE_MAX);
    int big_epochs = (int)cli_parse_u64("epochs", opt_str(opts, "epochs", "10"), 1, 1000000);
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
    loaded_data ld;
    load_data(&ld, "synth:uniform", NULL, big, 2, 1, 1, 1);
    bnn_train_opts to;
    bnn_train_opts_default(&to);
    to.epochs = big_epochs;
    train_ctx ctx = {0};
    ctx.quiet = 1;
    to.on_epoch = on_epoch;
    to.ctx = &ctx;
    ctx.n = ld.d.n;
    if (bnn_train(&model, &ld.d, &to, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    double fast_rate = (double)ld.d.n * ctx.epochs_done / ctx.train_seconds;
    printf("\nfull batch, 2,16,16,1 sigmoid on %zu samples of synth:uniform, %d epochs:\n"
           "  fast engine (%s, %d threads): %.2f ms/epoch, %.3g samples/s, final loss %.6g\n",
           ld.d.n, big_epochs, bnn_kernels()->isa, omp_get_num_procs(),
           1e3 * ctx.train_seconds / ctx.epochs_done, fast_rate, ctx.last_loss);
    /* the reference engine on a prefix: per-sample rates are comparable */
    size_t nref = ld.d.n < 65536 ? ld.d.n : 65536;
    double *theta = malloc(model.nparams * sizeof *theta), *g = malloc(model.nparams * sizeof *g);
    if (!theta || !g)
        cli_die(1, "demo: out of memory");
    for (size_t p = 0; p < model.nparams; p++)
        theta[p] = model.theta[p];
    double t0 = now_seconds(), c;
    if (bnn_ref_grad(&a, theta, &ld.d, 0, nref, BNN_GRAD_EXACT, g, &c, &e) != 0)
        cli_die(1, "demo: %s", e.msg);
    double ref_rate = (double)nref / (now_seconds() - t0);
    printf("  reference engine (double, scalar, 1 thread): %.3g samples/s on %zu samples\n"
           "  speedup of fast over reference: %.1fx\n", ref_rate, nref, fast_rate / ref_rate);
    free(theta);
    free(g);
    free_data(&ld);
    bnn_model_free(&model);
    cli_demo_classify();
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void usage(void)
{
    printf(
            "usage: batchnn COMMAND [options]     (batchnn COMMAND --help for details)\n"
            "\n"
            "  train      train a model by gradient descent\n"
            "  predict    write a model's outputs for a data file\n"
            "  eval       print a model's cost C on a data set\n"
            "  gradcheck  compare analytic gradients with finite differences\n"
            "  gen        write a synthetic data set to a file\n"
            "  info       describe a model file\n"
            "  demo       the notes' models on their examples, then a large run\n"
            "  bench      this machine's limits and the benchmark workloads W1-W6\n"
            "  --version  version, CPU path, BLAS and threads\n");
}

static void version(void)
{
    printf("batchnn %s\n", BNN_VERSION);
    printf("isa: %s (override with BATCHNN_ISA=scalar|avx2|avx512)\n", bnn_kernels()->isa);
    printf("blas: %s\n", openblas_get_config());
    printf("threads: %d (OpenMP %d)\n", omp_get_num_procs(), _OPENMP);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        cli_die(EXIT_USAGE, "no command given (try 'batchnn --help')");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        version();
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"train", cmd_train}, {"predict", cmd_predict}, {"eval", cmd_eval},
        {"gradcheck", cmd_gradcheck}, {"gen", cmd_gen}, {"info", cmd_info},
        {"demo", cmd_demo}, {"bench", cli_bench},
    };
    /* no temporary output survives an exit() on an error path */
    atexit(bnn_outfile_remove_temps);
    catch_sigbus();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0) {
            int rc = cmds[i].fn(argc - 2, argv + 2);
            /* what went to standard output must have arrived (> /dev/full is an error) */
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "batchnn: standard output: cannot write: %s\n",
                        strerror(errno ? errno : EIO));
                return rc ? rc : 1;
            }
            return rc;
        }
    cli_die(EXIT_USAGE, "unknown command '%s' (try 'batchnn --help')", cmd);
}
