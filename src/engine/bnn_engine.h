/* bnn_engine.h - the engine layer's interface (src/engine/): losses, and the engines behind
 * one interface (bnn_engine_*, src/engine/engine.c). What the layers above (training, the
 * convenience layer, the command) see of the engines. The engines themselves (reference,
 * finite differences, the notes' closed forms, the fast engine) are declared in
 * src/engine/engines.h, private to the engine layer and the tests. Above dist; includes
 * nothing above.
 *
 * Names by role: bnn_engine_kind says which engine (fast or reference: an option, public);
 * bnn_engine is one engine made for an architecture and a loss, behind the interface below
 * (bnn_engine_create, bnn_engine_grad, ...); bnn_fast_engine is the fast engine's own state
 * (engines.h, bnn_fast_*), bnn_ref_* the reference engine's.
 */
#ifndef BNN_ENGINE_H
#define BNN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "dist/bnn_dist.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Losses (src/engine/loss.c). Per sample, summed over the K outputs, averaged over samples:          */
/*   mse            sum_j (a_j - y_j)^2                   (= nn.MSELoss x K)                   */
/*   cross-entropy  -sum_j y_j log softmax(z)_j           (= nn.CrossEntropyLoss, prob. targets)*/
/*   bce            sum_j max(z,0) - z y + log1p(e^-|z|)  (= BCEWithLogitsLoss(..).sum(1).mean())*/
/* cross-entropy and bce take the last layer's identity outputs z (logits). Accuracy: a sample */
/* is correct when argmax z = argmax y (first maximum; cross-entropy); for bce each output is  */
/* one decision, correct when (z > 0) = (y > 0.5), and accuracy is over samples x outputs.     */

const char *bnn_loss_name(bnn_loss l);
/* "mse", "cross-entropy" (alias "ce"), "bce". */
int bnn_loss_parse(const char *s, bnn_loss *l);
/* cross-entropy and bce need an identity last layer, cross-entropy at least 2 outputs. */
int bnn_loss_check(const bnn_arch *a, bnn_loss l, bnn_error *e);
/* Decisions per sample that accuracy counts: 1, or K for bce. */
int64_t bnn_loss_decisions(const bnn_arch *a, bnn_loss l);
/* ------------------------------------------------------------------------------------------ */
/* Engines behind one interface (src/engine/engine.c). Training (src/train/train.c) and the
 * convenience layer (src/api/net.c) see an engine as a bnn_engine: the gradient, the cost (with
 * the count of correct decisions) and the outputs of samples [start, start + count) of a data
 * set, for one architecture and one loss. Three engines implement it:
 *   fast         the fast engine: float32 parameters and gradient
 *   reference    the reference engine: double (float32 parameters are widened first)
 *   finite-diff  central differences of the reference engine's double cost (or the
 *                five-point stencil: bnn_engine_opts.fd_order 4, gradcheck's oracle); the
 *                gradient's cost and count are the reference engine's at the same
 *                parameters, while cost and predict are those of its base engine
 *                (bnn_engine_opts.engine: fast or reference), created on first use
 * Parameters and gradients travel as a bnn_vec, float32 or double: exactly one pointer set.
 * A reduction across processes (MPI ranks, each with its shard of the samples) belongs
 * behind grad and cost, which is all training sees. An engine is used by one thread at a
 * time (it owns working memory); its calls may run threads of their own. */

typedef struct bnn_vec {
    float *f;  /* float32 values, or NULL */
    double *d; /* double values, or NULL */
} bnn_vec;

typedef struct bnn_engine_opts {
    bnn_engine_kind engine;     /* fast or reference: the parameters' engine */
    bnn_gradient gradient; /* exact, seed, or finite-diff (the finite-diff engine) */
    bnn_loss loss;
    int threads;           /* <= 0: OpenMP's default team (fast engine) */
    double fd_eps;         /* finite-diff step; 0: 1e-5 (order 4: 1e-3) */
    int fd_order;          /* finite-diff stencil: 4, the five-point one; else 2 (central) */
} bnn_engine_opts;

typedef struct bnn_engine bnn_engine;
typedef struct bnn_engine_ops {
    const char *name; /* "fast", "reference", "finite-diff" */
    /* The gradient averaged over the samples into grad (in the precision of grad_f64), their
     * cost and the count of correct decisions (cost and correct may be NULL). */
    int (*grad)(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                bnn_vec grad, double *cost, double *correct, bnn_error *e);
    /* The cost and the count of correct decisions (either may be NULL). */
    int (*cost)(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                double *cost, double *correct, bnn_error *e);
    /* The outputs of the samples, row-major count x outputs (targets not needed). */
    int (*predict)(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                   float *out, bnn_error *e);
    void (*destroy)(bnn_engine *g); /* frees what the implementation owns */
} bnn_engine_ops;

struct bnn_engine {
    const bnn_engine_ops *ops;
    bnn_arch arch;
    bnn_engine_opts opts;
    size_t nparams;
    int grad_f64; /* 1: grad takes grad.d (reference, finite-diff); 0: grad.f (fast) */
    void *impl;   /* the implementation's state */
};

/* Checks the options against the architecture and creates the engine they name. */
int bnn_engine_create(bnn_engine **g, const bnn_arch *a, const bnn_engine_opts *o, bnn_error *e);
void bnn_engine_free(bnn_engine *g);
/* The calls, with the arguments checked (precision of theta and grad, the sample range). */
int bnn_engine_grad(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    bnn_vec grad, double *cost, double *correct, bnn_error *e);
int bnn_engine_cost(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    double *cost, double *correct, bnn_error *e);
int bnn_engine_predict(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                       float *out, bnn_error *e);
/* The CPU path of the fast engine's kernels ("scalar", "avx2", "avx512"; chosen once, forced
 * by BATCHNN_ISA), for the command's run headers: the command reaches the kernels through the
 * engine layer only. */
const char *bnn_engine_isa(void);
/* Forces the kernels' CPU path for engines created from now on ("scalar", "avx2", "avx512",
 * "auto"): 0, or -1 when this CPU or build lacks it (the command's BATCHNN_ISA). */
int bnn_engine_force_isa(const char *isa);
/* on != 0: fast engines created from now on take the GEMM path even for nets the narrow fused
 * path would take (the command's BATCHNN_PATH=gemm: benchmarks, tests); 0: the usual choice. */
void bnn_engine_force_gemm(int on);

/* ------------------------------------------------------------------------------------------ */
/* Optimizers and schedules (src/engine/optim.c: PyTorch's steps)                              */

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
/* The float32 step in pieces (the fast engine's step inside its team): the coefficients of
 * the next step (s->step + 1; s->step is not advanced: the caller does once), then the step on
 * parameters i..i+n-1 only; the step is element-wise, so the pieces of a partition of
 * 0..nparams-1 give bitwise bnn_optim_step's result. 1 when the new ones are all finite. */
struct bnn_optim_coef;
void bnn_optim_coef_next(const bnn_optim_state *s, double lr, struct bnn_optim_coef *c);
int bnn_optim_step_range(const bnn_optim_state *s, const struct bnn_optim_coef *c,
                         const float *theta, const float *grad, float *next, size_t i,
                         size_t n);

/* "constant", "step:EVERY:GAMMA", "cosine" or "cosine:MIN_LR". */
int bnn_schedule_parse(const char *s, bnn_schedule *out, bnn_error *e);
double bnn_schedule_lr(const bnn_schedule *s, double lr, int epoch, int epochs);
/* Writes the schedule back in the form parse reads. */
void bnn_schedule_format(const bnn_schedule *s, char *buf, size_t len);

/* The gradient of a batch and the optimizer step s from theta into next, fused (the fast
 * engine: split-mode batches step inside the team on the rows each thread owns; others as the
 * gradient, then bnn_optim_step): grad receives the gradient. When the batch's loss is not
 * finite no step is taken (s->step unchanged); else s->step advances once and *finite is 0
 * when a new parameter is not finite. 0, or -1 with e set (not the fast engine). */
int bnn_engine_step(bnn_engine *g, const float *theta, const bnn_data *d, size_t start,
                    size_t count, float *grad, bnn_optim_state *s, double lr, float *next,
                    double *cost, double *correct, int *finite, bnn_error *e);
/* The largest mini-batch an engine of these options computes whole on every rank under
 * mpirun (the fast engine's split mode: too small to repay the exchange), 0 when none: the
 * command says so. *piece: the larger batches' pieces' samples at least (0: none are cut). */
size_t bnn_engine_whole_max(const bnn_arch *a, bnn_engine_kind engine, bnn_gradient gradient,
                            bnn_loss loss, size_t *piece);

#ifdef __cplusplus
}
#endif
#endif /* BNN_ENGINE_H */
