/* bnn_engine.h - the engine layer's interface (src/engine/): losses, and the engines behind
 * one interface (bnn_eng_*, src/engine/engine.c). What the layers above (training, the
 * convenience layer, the command) see of the engines. The engines themselves (reference,
 * finite differences, the notes' closed forms, the fast engine) are declared in
 * src/engine/engines.h, private to the engine layer and the tests. Above dist; includes
 * nothing above.
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
 * convenience layer (src/api/net.c) see an engine as a bnn_eng: the gradient, the cost (with
 * the count of correct decisions) and the outputs of samples [start, start + count) of a data
 * set, for one architecture and one loss. Three engines implement it:
 *   fast         the fast engine: float32 parameters and gradient
 *   reference    the reference engine: double (float32 parameters are widened first)
 *   finite-diff  central differences of the reference engine's double cost (or the
 *                five-point stencil: bnn_eng_opts.fd_order 4, gradcheck's oracle); the gradient's
 *                cost and count are the reference engine's at the same parameters, while
 *                cost and predict are those of its base engine (bnn_eng_opts.engine: fast or
 *                reference), created on first use
 * Parameters and gradients travel as a bnn_vec, float32 or double: exactly one pointer set.
 * A reduction across processes (MPI ranks, each with its shard of the samples) belongs
 * behind grad and cost, which is all training sees. An engine is used by one thread at a
 * time (it owns working memory); its calls may run threads of their own. */

typedef struct bnn_vec {
    float *f;  /* float32 values, or NULL */
    double *d; /* double values, or NULL */
} bnn_vec;

typedef struct bnn_eng_opts {
    bnn_engine engine;     /* fast or reference: the parameters' engine */
    bnn_gradient gradient; /* exact, seed, or finite-diff (the finite-diff engine) */
    bnn_loss loss;
    int threads;           /* <= 0: OpenMP's default team (fast engine) */
    double fd_eps;         /* finite-diff step; 0: 1e-5 (order 4: 1e-3) */
    int fd_order;          /* finite-diff stencil: 4, the five-point one; else 2 (central) */
} bnn_eng_opts;

typedef struct bnn_eng bnn_eng;
typedef struct bnn_eng_ops {
    const char *name; /* "fast", "reference", "finite-diff" */
    /* The gradient averaged over the samples into grad (in the precision of grad_f64), their
     * cost and the count of correct decisions (cost and correct may be NULL). */
    int (*grad)(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                bnn_vec grad, double *cost, double *correct, bnn_error *e);
    /* The cost and the count of correct decisions (either may be NULL). */
    int (*cost)(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                double *cost, double *correct, bnn_error *e);
    /* The outputs of the samples, row-major count x outputs (targets not needed). */
    int (*predict)(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                   float *out, bnn_error *e);
    void (*destroy)(bnn_eng *g); /* frees what the implementation owns */
} bnn_eng_ops;

struct bnn_eng {
    const bnn_eng_ops *ops;
    bnn_arch arch;
    bnn_eng_opts opts;
    size_t nparams;
    int grad_f64; /* 1: grad takes grad.d (reference, finite-diff); 0: grad.f (fast) */
    void *impl;   /* the implementation's state */
};

/* Checks the options against the architecture and creates the engine they name. */
int bnn_eng_create(bnn_eng **g, const bnn_arch *a, const bnn_eng_opts *o, bnn_error *e);
void bnn_eng_free(bnn_eng *g);
/* The calls, with the arguments checked (precision of theta and grad, the sample range). */
int bnn_eng_grad(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                 bnn_vec grad, double *cost, double *correct, bnn_error *e);
int bnn_eng_cost(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                 double *cost, double *correct, bnn_error *e);
int bnn_eng_predict(bnn_eng *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    float *out, bnn_error *e);
/* The CPU path of the fast engine's kernels ("scalar", "avx2", "avx512"; chosen once, forced
 * by BATCHNN_ISA), for the command's run headers: the command reaches the kernels through the
 * engine layer only. */
const char *bnn_eng_isa(void);
/* Forces the kernels' CPU path for engines created from now on ("scalar", "avx2", "avx512",
 * "auto"): 0, or -1 when this CPU or build lacks it (the command's BATCHNN_ISA). */
int bnn_eng_force_isa(const char *isa);

#ifdef __cplusplus
}
#endif
#endif /* BNN_ENGINE_H */
