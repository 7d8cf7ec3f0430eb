/* cli.h - what the batchnn command's files share: fatal errors and number parsing. */
#ifndef BNN_CLI_H
#define BNN_CLI_H

#include <stdint.h>

/* Prints "batchnn: <message>" on one line of stderr and exits with status. */
void cli_die(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;
/* A whole number in [min, max] (also 2^N and k/M/G suffixes), or exit 2 naming the option. */
uint64_t cli_parse_u64(const char *opt_name, const char *s, uint64_t min, uint64_t max);

int cli_bench(int argc, char **argv);
/* demo_classify.c: the classification run of `batchnn demo`. */
void cli_demo_classify(void);

/* train_options.c: the training options as given (NULL: not given). */
#include "bnn_internal.h"
typedef struct cli_train_strings {
    const char *optimizer, *momentum, *beta1, *beta2, *adam_eps, *weight_decay;
    const char *lr_schedule, *loss, *patience;
    int shuffle;
} cli_train_strings;
/* Fills to->optim, schedule, loss, shuffle, patience; exits 2 naming a bad value. */
void cli_training_options(const cli_train_strings *s, const bnn_arch *a, bnn_train_opts *to);
/* --val-split F in (0, 1), or exit 2. */
double cli_val_split(const char *s);
/* The --log header and the columns after epoch,loss,seconds of one row (",lr,..."). */
void cli_log_header(char *buf, size_t len, int validating, bnn_loss loss);
void cli_log_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                   bnn_loss loss);
/* The progress line's accuracy and validation figures. */
void cli_progress_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                        bnn_loss loss);
/* Checkpoint metadata of the training options (keys[i] = values[i], at most 8; values point
 * into buf) and the check of a checkpoint against this run: exits naming both values. */
int cli_train_meta(const bnn_train_opts *to, const bnn_optim_state *st, const char **keys,
                   const char **values, char *buf, size_t len);
void cli_resume_check(const char *path, const bnn_train_opts *to);
/* The optimizer's step count recorded in a checkpoint (0 when absent). */
uint64_t cli_resume_step(const char *path);
/* The loss a model was trained with: --loss when given, else its "loss" metadata, else mse. */
bnn_loss cli_model_loss(const char *path, const char *given);
/* predict --proba (softmax / sigmoid of logits) or --classes (cross-entropy: the argmax, one
 * column; bce: 0/1 per output) in place on rows x nout outputs; returns the new width. */
int64_t cli_predict_transform(float *buf, size_t rows, int64_t nout, bnn_loss loss, int proba,
                              int classes);

#endif
