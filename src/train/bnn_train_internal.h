/* bnn_train_internal.h - the training layer (src/train/): optimizers and schedules, their
 * checkpoints, the names of the gradient modes and engines, and bnn_train. Above the engine
 * interface; includes nothing above.
 */
#ifndef BNN_TRAIN_INTERNAL_H
#define BNN_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/bnn_engine.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* Gradient modes and engines by name (src/train/train.c). */

const char *bnn_gradient_name(bnn_gradient g);
int bnn_gradient_parse(const char *s, bnn_gradient *g);
const char *bnn_engine_name(bnn_engine g);
int bnn_engine_parse(const char *s, bnn_engine *g);
/* ------------------------------------------------------------------------------------------ */
/* Training                                                                                    */

void bnn_optim_opts_default(bnn_optim_opts *o);
const char *bnn_optim_name(bnn_optim_kind k);
int bnn_optim_parse(const char *s, bnn_optim_kind *k);
/* Checks the hyper-parameters: finite, momentum >= 0, betas in [0, 1), eps >= 0, L >= 0. */
int bnn_optim_check(const bnn_optim_opts *o, bnn_error *e);
/* Buffers per parameter: 0 (sgd), 1 (momentum, nesterov: "momentum"), 2 (adam, adamw:
 * "exp_avg", "exp_avg_sq"); name of buffer i, as in checkpoints. */
int bnn_optim_nbuf(bnn_optim_kind k);
const char *bnn_optim_buf_name(bnn_optim_kind k, int i);

/* The state an optimizer carries from step to step (part of a checkpoint). */
typedef struct bnn_optim_state {
    bnn_optim_opts opts;
    uint64_t step;  /* steps taken */
    size_t nparams;
    float *buf[2];  /* nparams each (64-byte aligned), NULL when unused */
    int threads;    /* threads of the step (<= 0: OpenMP's default team); the result does not
                     * depend on it */
} bnn_optim_state;
/* Allocates zeroed buffers (step 0). */
int bnn_optim_state_init(bnn_optim_state *s, const bnn_optim_opts *o, size_t nparams,
                         bnn_error *e);
void bnn_optim_state_free(bnn_optim_state *s);

/* One float32 step: next = theta updated with grad (s->step is incremented first); returns 1
 * when every new parameter is finite, 0 otherwise (next then holds garbage). lr is this
 * step's rate. sgd with L = 0 computes next = theta + (-lr) grad in float32. */
int bnn_optim_step(bnn_optim_state *s, double lr, const float *theta, const float *grad,
                   float *next);
/* The same in double (the reference engine): theta updated in place, buffers b0, b1 (double,
 * nparams each, zeroed at step 0) and *step kept by the caller. */
void bnn_optim_step_d(const bnn_optim_opts *o, uint64_t *step, double lr, double *theta,
                      const double *grad, double *b0, double *b1, size_t n);

/* "constant", "step:EVERY:GAMMA", "cosine" or "cosine:MIN_LR". */
int bnn_schedule_parse(const char *s, bnn_schedule *out, bnn_error *e);
double bnn_schedule_lr(const bnn_schedule *s, double lr, int epoch, int epochs);
/* Writes the schedule back in the form parse reads. */
void bnn_schedule_format(const bnn_schedule *s, char *buf, size_t len);

/* Checkpoints (src/train/checkpoint.c): the model plus the optimizer's buffers as F32 tensors
 * optimizer.{l}.weight.{name} [out, in] / optimizer.{l}.bias.{name} [out] after the model's
 * tensors; metadata as bnn_model_save_meta (the caller records the step and settings). A
 * state without buffers (sgd) writes a plain model file. load_state fills st's buffers (st
 * initialised for the same optimizer and parameter count). */
int bnn_checkpoint_save(const bnn_model *m, const bnn_optim_state *st, const char *path,
                        const char *const *keys, const char *const *values, int count,
                        bnn_error *e);
int bnn_checkpoint_load_state(const char *path, const bnn_arch *a, bnn_optim_state *st,
                              bnn_error *e);

/* Trains m in place (the options: batchnn.h). Fails (leaving m at its last finite state) on
 * a non-finite loss or parameter, naming the epoch. m->theta may point to another block
 * afterwards (updates alternate between two buffers); do not keep the old pointer. */
int bnn_train(bnn_model *m, const bnn_data *d, const bnn_train_opts *o, bnn_error *e);

#ifdef __cplusplus
}
#endif
#endif /* BNN_TRAIN_INTERNAL_H */
