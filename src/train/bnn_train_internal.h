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
const char *bnn_engine_kind_name(bnn_engine_kind g);
int bnn_engine_kind_parse(const char *s, bnn_engine_kind *g);
/* ------------------------------------------------------------------------------------------ */
/* Training                                                                                    */

/* Optimizers and schedules: src/engine/optim.c (engine/bnn_engine.h), below the fast engine
 * that runs a step inside its team. */

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
