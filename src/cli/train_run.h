/*
 * train_run.h - one run of `batchnn train`, shared by its two files (private to them):
 * train.c parses, loads and runs (cli_cmd_train), train_outputs.c opens and writes what the
 * run leaves (the callbacks' log, plot losses and checkpoints, the announcement before
 * training, the outputs and the summary after it).
 */
#ifndef BNN_CLI_TRAIN_RUN_H
#define BNN_CLI_TRAIN_RUN_H

#include "cli.h"

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

/* One run of `batchnn train`: what the steps below resolve, load and open, in order. Lives
 * in cli_cmd_train's frame: the training options, the callbacks' context and the data views
 * point into it. */
typedef struct train_run {
    cli_opt *opts;
    const char *init, *resume, *data, *save, *log, *plot, *checkpoint, *val, *val_split;
    cli_plot_scale plot_scale;
    int every, lead, quiet;
    int done_epochs; /* the checkpoint's epoch (--resume), else 0 */
    uint64_t seed;
    size_t samples;
    cli_run_settings *rs;
    bnn_train_opts to;
    bnn_model model, best;
    int best_epoch;
    char arch_note[512];
    cli_data ld, vld;
    bnn_data vdata;
    uint32_t *split_idx;
    bnn_optim_state state;
    char nbuf[32]; /* the training samples, as the checkpoint records them */
    train_ctx ctx;
    bnn_outfile logf;
    int threads;
} train_run;

/* The steps of train_outputs.c, in the order cli_cmd_train runs them around bnn_train. */

/* The callbacks and what they write: the best model (--patience with --save), checkpoints,
 * the log (opened now), the progress meter. */
void cli_train_open_outputs(train_run *r);

/* Before training (not --quiet): warnings, then one line saying what is trained and how. */
void cli_train_announce(const train_run *r);

/* Every output is attempted; a failure is reported and the others are still written. --save
 * and the final checkpoint are not written after an error (rc != 0): the weights are not
 * trustworthy. Returns 1 when an output (or the run) failed. */
int cli_train_write_outputs(train_run *r, int rc, const bnn_error *e, int last_epoch);

/* The summary on stdout (not --quiet, after a run without error): epochs, time, final loss,
 * speed, peak memory, where the model went. */
void cli_train_report(const train_run *r, double final_loss, int interrupted, int failed);

#endif
