/*
 * cli.h - what the batchnn command's files share. One file per command (train.c, predict.c,
 * eval.c, gradcheck.c, gen.c, info.c, demo.c, bench.c), dispatched by main.c; around them:
 *   options.c        the option parser every command uses, number parsing, fatal errors
 *   inputs.c         --data/--targets as a data set, models, block sizes for streaming out
 *   progress.c       the progress meter of train (a live line on a terminal)
 *   plot.c           --plot: the loss curve as SVG
 *   train_options.c  train's optimizer/schedule/loss/validation options and their outputs
 *   train_outputs.c  what a train run writes: log, checkpoints, model, summary (train_run.h)
 *   demo_classify.c  the classification part of demo
 *   paths.c          the command's inputs and outputs, checked together before any is used
 *   signals.c        SIGPIPE/SIGXFSZ ignored, the stop signals (SIGINT, SIGTERM, SIGHUP)
 *   environ.c        the environment variables, read here and passed to the library
 * Only the command exits: the library returns -1 with a message, and these files turn it into
 * one line "batchnn: ..." on stderr with exit status 2 (usage) or 1 (anything else).
 *
 * The command uses the library as a user would (include/batchnn.h) plus one internal
 * interface, train/bnn_train_internal.h (training, and through it the layers below: the
 * engine interface bnn_engine_*, dist, data views, io, core). It never includes a kernel
 * header or the engines' own (engine/engines.h): engines are reached through bnn_engine_*,
 * the CPU path through bnn_engine_isa(). The one exception is bench (bench.c, bench_bounds.c),
 * whose kernel micro-benchmarks and machine probes (bench_probe_sigmoid,
 * options_kernels_seconds) time kernel-table entries alone and so include bnn_kernels.h
 * (tests/layering_test.sh checks all of this).
 */
#ifndef BNN_CLI_H
#define BNN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "train/bnn_train_internal.h"

#define EXIT_USAGE 2

/* Prints "batchnn: <message>" on one line of stderr (under mpirun: see options.c). */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* cli_error, then exits with status; after a stop signal (whose interrupted read is usually
 * the failure) as "stopped by SIGTERM: ..." with status 128 + signal. */
void cli_die(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;

/* ---- environ.c ---- */

/* Reads the command's environment variables (BATCHNN_ISA, BATCHNN_STREAM_LIMIT and the test
 * hooks) and passes them to the library; first thing in main, before MPI starts. */
void cli_environ_apply(void);
/* bnn_dist_finalize, after the BATCHNN_MPI_STATS=1 line (rank 0); every rank calls it. */
void cli_dist_finalize(void);

/* ---- options.c ---- */

/* One option of a command's table, which ends with {0}: "--name value", "--name=value", or
 * "--name" alone when takes_value is 0. The parser sets value and seen. */
typedef struct cli_opt {
    const char *name;
    int takes_value;
    const char *value;
    int seen;
} cli_opt;
/* Parses argv (after the command's name) into opts; positional arguments go to pos (at most
 * maxpos). An unknown option, a repeated one, a missing or unwanted value, or one positional
 * argument too many exits 2 with "batchnn: CMD: ...". Returns the positional count, or -1
 * after calling usage when --help was given (every option is still checked first). */
int cli_parse_opts(const char *cmd, int argc, char **argv, cli_opt *opts, const char **pos,
                   int maxpos, void (*usage)(void));
/* The value of option name, or def when it was not given. */
const char *cli_opt_str(cli_opt *opts, const char *name, const char *def);
/* A library message, which names the field it is about ("widths: ...", "momentum 2 must be
 * ..."), as the command says it: the leading field replaced by the option that sets it
 * ("--arch: ...", "--momentum 2 must be ..."); other messages as they are. A static buffer. */
const char *cli_flag_msg(const char *msg);
/* A message of bnn_train as the command says it: "shuffle: ..." as "--shuffle: ...", the hint
 * "(try a smaller learning rate)" as "(try a smaller --lr)"; other messages as they are (the
 * fields bnn_train also checks, the command checked first: train_options.c). A static buffer. */
const char *cli_train_msg(const char *msg);
/* An engine's message as the command says it: "fewer threads" (the library's field) becomes
 * "fewer --threads"; anything else is returned as it is. */
const char *cli_engine_msg(const char *msg);
/* 1 when option name was given. */
int cli_opt_flag(cli_opt *opts, const char *name);
/* A whole number in [min, max] (also 2^N and k/M/G suffixes), or exit 2 naming the option. */
uint64_t cli_parse_u64(const char *opt_name, const char *s, uint64_t min, uint64_t max);
/* --threads T (0: all CPUs this process may use), made the default team of every OpenMP
 * region (omp_set_num_threads), so the environment's OMP_NUM_THREADS never is. The one route
 * of --threads: the library's threads options are left 0 (OpenMP's default team), except
 * bench's, which times 1 thread against N. Returns T. */
int cli_parse_threads(const char *s);
/* A finite number, or exit 2 naming the option. */
double cli_parse_double(const char *opt_name, const char *s);
/* --engine NAME (fast or reference; train and eval), or exit 2. */
bnn_engine_kind cli_parse_engine(const char *s);

/* ---- inputs.c ---- */

/* --data (a file or synth:NAME) and --targets, as a data set for the engines. */
typedef struct cli_data {
    bnn_table data, targets;
    int has_targets;
    bnn_data d;
} cli_data;
/* Opens data (and targets) for a model with widths nin -> nout; samples: 0 = all rows of a
 * file, 1024 of a synthetic set. need_targets 0: the rows may hold the inputs alone. */
void cli_load_data(cli_data *ld, const char *data, const char *targets, size_t samples,
                   int64_t nin, int64_t nout, uint64_t seed, int need_targets);
void cli_free_data(cli_data *ld);
/* The model's input standardisation (--standardize), if any, applied to the data's inputs:
 * predict and eval call it after cli_load_data. */
void cli_data_scale(cli_data *ld, const bnn_model *m);
/* train's --hidden H,.. or an --arch with auto widths, resolved against the data's columns
 * and labels (arch_auto.c) into out ("W0,...,Wm") and a line for the run header into note:
 * 1, or 0 when neither is used. */
int cli_arch_auto(cli_opt *opts, const char *data, const char *targets, size_t samples,
                  char *out, size_t len, char *note, size_t nlen);
/* The default --samples of synthetic sets. */
#define CLI_SYNTH_SAMPLES 1024
/* Rows per block when streaming a table of width columns out (at most 16 MiB, 65536 rows). */
size_t cli_rows_per_block(size_t width, size_t n);
/* Loads a model; act: --act or NULL; opt_name names the option in conflict messages. */
void cli_load_model(bnn_model *m, const char *path, const char *act, const char *opt_name);

/* A new model (zero parameters) from --arch, --act and --no-bias of a command's options. */
void cli_model_from_opts(bnn_model *m, const char *cmd, cli_opt *opts);
/* The options of a command that runs a model on data (predict, eval): --model and --data
 * (both required), --samples (0: all rows); --threads is set (cli_parse_threads). */
typedef struct cli_model_on_data {
    const char *model, *data;
    size_t samples;
} cli_model_on_data;
void cli_model_on_data_opts(cli_model_on_data *r, const char *cmd, cli_opt *opts);
/* The engine the options name (bnn_engine_create; finite-diff: gradient BNN_GRAD_FINITE_DIFF),
 * or the command dies with the library's message. Free with bnn_engine_free. */
bnn_engine *cli_engine(const bnn_arch *a, const bnn_engine_opts *o);

/* ---- bench_baseline.c ---- */

/* bench --baseline FILE, read and checked (exits 1 naming file and key on any fault). */
struct json_object;
struct json_object *cli_read_baseline(const char *path);

/* ---- paths.c ---- */

/* One path of a command: role is the option's name without "--" ("data", "save"); kind says
 * how it is used (CLI_IN_DATA: an input that may be synth:NAME). path NULL: not given. */
enum { CLI_IN = 1, CLI_IN_DATA, CLI_OUT };
typedef struct cli_path {
    const char *role, *path;
    int kind;
} cli_path;
/* Checks every output (exit 1 naming it) and every pair (exit 2 when an output is an input's
 * file or another output's; paths.c has the rules), before anything is read or written. */
void cli_check_paths(const cli_path *paths, size_t n);

/* ---- signals.c ---- */

/* At the start of main: SIGPIPE and SIGXFSZ ignored (writes fail with EPIPE, EFBIG and are
 * reported), stop signals caught: by default they exit at once (one line, temporary files
 * removed, 128 + signal). */
void cli_signals_init(void);
/* The error that ends this process was reported: a stop signal from now on (mpirun ending
 * the job as soon as one rank exits non-zero) exits without another line. */
void cli_stop_quiet(void);
/* on: the first stop signal is only recorded (and blocked reads fail); a second one exits. */
void cli_stop_defer(int on);
/* The stop signal recorded (0: none), and a signal recorded from elsewhere (another rank). */
int cli_stop_signal(void);
void cli_stop_note(int sig);
const char *cli_signal_name(int sig);

/* ---- progress.c ---- */

/* The progress of a training run, and the figures its summary needs. */
typedef struct cli_progress {
    size_t n;                       /* samples per epoch */
    int first_epoch, epochs;        /* epochs already done before this run, epochs to run */
    int quiet, tty;
    double last_print;
    int epochs_done;
    double train_seconds, last_loss;
} cli_progress;
void cli_progress_start(cli_progress *p, size_t n, int first_epoch, int epochs, int quiet);
/* Records an epoch and prints "epoch E/N  loss L<extra>  R samples/s  ETA" when due (every
 * 0.1 s on a terminal, every 5 s otherwise, and at the last epoch). */
void cli_progress_epoch(cli_progress *p, int epoch, double loss, double seconds,
                        const char *extra);
/* What to print before a message on stderr so that it does not land on the live line. */
const char *cli_progress_clear(const cli_progress *p);

/* ---- plot.c ---- */

typedef enum cli_plot_scale { CLI_PLOT_AUTO, CLI_PLOT_LINEAR, CLI_PLOT_LOG } cli_plot_scale;
/* Parses --plot-scale linear|log, or exits 2. */
cli_plot_scale cli_plot_scale_parse(const char *s);
/* Writes the loss curve (loss[k] of epoch first_epoch + k + 1; val: the validation loss, or
 * NULL) as an SVG. AUTO: a log axis when the loss falls by more than 10x. */
int cli_plot_write(const char *path, const double *loss, const double *val, size_t n,
                   int first_epoch, cli_plot_scale scale, bnn_error *e);

/* ---- the commands ---- */

int cli_cmd_train(int argc, char **argv);
int cli_cmd_predict(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_gradcheck(int argc, char **argv);
int cli_cmd_gen(int argc, char **argv);
int cli_cmd_info(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
/* demo_classify.c: the classification run of `batchnn demo`. */
void cli_demo_classify(void);

/* ---- train_options.c: the training options as given (NULL: not given) ---- */

typedef struct cli_train_strings {
    const char *optimizer, *momentum, *beta1, *beta2, *adam_eps, *weight_decay;
    const char *lr_schedule, *loss, *patience;
    int shuffle;
} cli_train_strings;
/* Fills to->optim, schedule, loss, shuffle, patience; exits 2 naming a bad value. */
void cli_training_options(const cli_train_strings *s, const bnn_arch *a, bnn_train_opts *to);
/* --val-split F or tail:F (sets *tail), F in (0, 1), or exit 2. */
double cli_val_split(const char *s, int *tail);
/* --val-split F (tail: the last rows): d becomes the training part, *v the validation part
 * (*idx: the rows of a random split, to free); warns (lead) when a part holds one class. */
void cli_val_split_data(bnn_data *d, bnn_data *v, uint32_t **idx, double frac, int tail,
                        const char *opt, uint64_t seed, int lead);
/* The --log header and the columns after epoch,loss,seconds of one row (",lr,..."). */
void cli_log_header(char *buf, size_t len, int validating, bnn_loss loss);
void cli_log_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                   bnn_loss loss);
/* The progress line's accuracy and validation figures. */
void cli_progress_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                        bnn_loss loss);
/* The run-defining settings (seed, lr, batch, gradient, engine, loss, optimizer and its
 * hyper-parameters, lr-schedule, shuffle, samples, val-split) as strings: the command line's,
 * and with --resume (resume non-NULL) the checkpoint's for those not given. A given value that
 * differs from the checkpoint's exits 2 naming both; an invalid recorded value exits 1 ("bad
 * metadata"). */
typedef struct cli_run_settings {
    const char *value[16]; /* NULL: not given, the default applies */
    char buf[16][256];
} cli_run_settings;
void cli_run_settings_resolve(cli_run_settings *r, cli_opt *opts, const char *resume);
/* Checkpoint metadata of those settings (keys[i] = values[i], at most 17; values point into
 * buf, which needs about 1 KiB): the optimizer's step, then every setting as used (to; rs for
 * samples and val-split). */
int cli_train_meta(const bnn_train_opts *to, const bnn_optim_state *st,
                   const cli_run_settings *rs, const char **keys, const char **values, char *buf,
                   size_t len);
/* The value of one of them by option name ("1" or NULL for --shuffle), or def. */
const char *cli_run_setting(const cli_run_settings *r, const char *option, const char *def);
/* The optimizer's step count recorded in a checkpoint (0 when absent); above max (or not
 * plain digits) exits 1 as bad metadata. */
uint64_t cli_resume_step(const char *path, uint64_t max);
/* The loss a model was trained with: --loss when given, else its "loss" metadata, else mse. */
bnn_loss cli_model_loss(const char *path, const char *given);
/* predict --proba (softmax / sigmoid of logits) or --classes (cross-entropy: the argmax, one
 * column; bce: 0/1 per output) in place on rows x nout outputs; returns the new width. */
int64_t cli_predict_transform(float *buf, size_t rows, int64_t nout, bnn_loss loss, int proba,
                              int classes);

/* eval --report (report.c): a classifier's confusion matrix (one per output for bce) and
 * per-class precision, recall, F1 and support. */
typedef struct cli_report {
    int bce;
    int64_t outputs, k, nout; /* matrices, classes per matrix, model outputs */
    uint64_t *m;              /* outputs x k x k counts: [o][true][predicted] */
    size_t n;
} cli_report;
void cli_report_init(cli_report *r, const bnn_arch *a, bnn_loss loss);
void cli_report_free(cli_report *r);
/* Counts every sample of d (all ranks call it; rank 0 counts). Dies on an error. */
void cli_report_count(cli_report *r, bnn_engine *g, const float *theta, const bnn_data *d);
void cli_report_print(const cli_report *r, int with_accuracy);
int cli_report_write_csv(const cli_report *r, const char *path, bnn_error *e);

#endif
