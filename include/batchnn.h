/*
 * batchnn.h - the public C API of batchnn: multilayer perceptrons trained by gradient descent
 * (full batch or mini-batches), as fast as the machine allows. Plain C11, usable from C++.
 * Link with `pkg-config --cflags --libs batchnn`. The whole API is this file.
 *
 * Quick start (examples/xor.c):
 *
 *     const int widths[] = {2, 3, 1};                  // 2 inputs, 3 hidden, 1 output
 *     bnn_error e;
 *     bnn_net *net = bnn_net_create(2, widths, NULL, 1, &e);   // sigmoid layers, seed 1
 *     bnn_train_opts o;
 *     bnn_train_opts_default(&o);                      // then set epochs, lr, batch, ...
 *     bnn_net_train(net, x, y, 4, &o, &e);             // x: 4 x 2 floats, y: 4 x 1
 *     bnn_net_run(net, x, out, &e);                    // one sample forward
 *     bnn_net_free(net);
 *
 * Errors: every function that can fail returns 0 on success and -1 on failure (a function
 * returning a pointer returns NULL), with a one-line message in the caller's bnn_error (which
 * may be NULL when the message is not wanted), naming the file, option or place. The library
 * never exits, never prints, and never calls a signal handler of its own.
 *
 * Thread safety: functions without an object (parsing, bnn_version, bnn_act_name) may be
 * called from any thread. A bnn_net, bnn_model or bnn_arch may be read by several threads at
 * once only while no thread modifies it: bnn_net_train, bnn_net_run, bnn_net_run_batch and
 * bnn_net_cost each modify their net (it holds the engine's working memory), so a net is used
 * by one thread at a time; separate nets may be used by separate threads. Training and batch
 * forward passes run OpenMP threads of their own (OpenMP's default team, all cores unless
 * OMP_NUM_THREADS, omp_set_num_threads or bnn_train_opts.threads say otherwise), with results
 * bitwise the same for any thread count; the library sets
 * OpenBLAS to one thread of its own, since it runs BLAS inside its threads. Saving
 * (bnn_net_save, bnn_model_save) keeps a process-wide list of temporary files so that a
 * program's signal handler can remove them: do not save from two threads at the same time.
 *
 * Shapes, once for the whole API:
 *   m        number of layers; layer l (0-based) maps width[l] -> width[l+1].
 *   theta    all parameters in one flat float vector: for each layer l in order, W_l
 *            (width[l+1] x width[l], row-major, PyTorch's nn.Linear [out, in]), then b_l
 *            (width[l+1]) when the layer has a bias.
 *   samples  in memory, count samples are row-major: x is count x inputs, y count x outputs.
 *   cost     mse: C = (1/n) sum_i sum_j (a^(m)_ij - y_ij)^2; see bnn_loss for the others.
 */
#ifndef BATCHNN_H
#define BATCHNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the shared library: only what this file declares is exported. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define BNN_API __attribute__((visibility("default")))
#else
#define BNN_API
#endif

/* ------------------------------------------------------------------------------------------ */
/* Version and errors                                                                          */

#define BNN_VERSION "0.1.0"
#define BNN_VERSION_MAJOR 0
#define BNN_VERSION_MINOR 1
#define BNN_VERSION_PATCH 0

/* The library's version at run time ("0.1.0"), to compare with BNN_VERSION. */
BNN_API const char *bnn_version(void);

/* One per thread (or per call): the library writes it only on failure. */
typedef struct bnn_error {
    char msg[1024]; /* one line, no newline */
} bnn_error;

/* ------------------------------------------------------------------------------------------ */
/* Activations and architectures                                                               */

typedef enum bnn_act {
    BNN_ACT_IDENTITY = 0,
    BNN_ACT_SIGMOID = 1,
    BNN_ACT_TANH = 2,
    BNN_ACT_RELU = 3,
    BNN_ACT_COUNT
} bnn_act;

/* "identity", "sigmoid", "tanh", "relu". */
BNN_API const char *bnn_act_name(bnn_act a);

#define BNN_MAX_LAYERS 256
/* Largest width of any layer; bigger is refused before anything is allocated. */
#define BNN_MAX_WIDTH ((int64_t)1 << 24)

typedef struct bnn_arch {
    int nlayers;                       /* m >= 1 */
    int64_t width[BNN_MAX_LAYERS + 1]; /* width[0] = inputs, width[m] = outputs */
    bnn_act act[BNN_MAX_LAYERS];       /* activation of layer l */
    uint8_t bias[BNN_MAX_LAYERS];      /* 1 when layer l has a bias */
} bnn_arch;

/* widths: "2,16,16,1"; acts: NULL (sigmoid everywhere), one name for every layer, or a
 * comma-separated list with one name per layer ("linear" and "none" mean identity); bias
 * applies to every layer. Checks counts, widths and that the parameter count fits. */
BNN_API int bnn_arch_parse(bnn_arch *a, const char *widths, const char *acts, int bias,
                           bnn_error *e);
BNN_API size_t bnn_arch_nparams(const bnn_arch *a);
/* Writes "2,16,16,1" and "sigmoid,sigmoid,identity" style strings (truncated to the sizes). */
BNN_API void bnn_arch_format(const bnn_arch *a, char *widths, size_t wlen, char *acts,
                             size_t alen);

/* ------------------------------------------------------------------------------------------ */
/* Models: an architecture and its float32 parameters in one 64-byte aligned block. Threads    */
/* may read a model at once; init, free, randomize and load need it to themselves.            */

typedef struct bnn_model {
    bnn_arch arch;
    size_t nparams;
    float *theta; /* nparams floats, laid out as at the top of this file */
    /* Input standardisation (train --standardize), or NULL: width[0] floats each; the net
     * sees (x - in_mean) / in_std. Saved as tensors "input.mean" and "input.std". Owned by
     * the model (bnn_model_free frees them). */
    float *in_mean, *in_std;
} bnn_model;

/* Allocates zeroed parameters for arch (checked first). */
BNN_API int bnn_model_init(bnn_model *m, const bnn_arch *arch, bnn_error *e);
BNN_API void bnn_model_free(bnn_model *m);
/* Glorot/Xavier uniform: W_l ~ U(-r, r), r = sqrt(6 / (in + out)), biases 0; the same seed
 * gives the same parameters on every machine (the project's own generator). */
BNN_API void bnn_model_randomize(bnn_model *m, uint64_t seed);
/* W_l (row-major, width[l+1] x width[l]) and b_l (NULL without bias) inside theta. */
BNN_API float *bnn_model_weight(const bnn_model *m, int l);
BNN_API float *bnn_model_bias(const bnn_model *m, int l);
/* Safetensors files: tensors layers.{l}.weight [out, in] and layers.{l}.bias [out], F32,
 * __metadata__ {"format": "batchnn/1", "activations": "sigmoid,identity"}: a PyTorch
 * state_dict (README: PyTorch). save writes a temporary file beside path, syncs it and
 * renames it over path. load converts F64/F16/BF16 tensors; acts_fallback (NULL: sigmoid)
 * is used when the file has no "activations" metadata. */
BNN_API int bnn_model_save(const bnn_model *m, const char *path, bnn_error *e);
BNN_API int bnn_model_load(bnn_model *m, const char *path, const char *acts_fallback,
                           bnn_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Training options. The defaults (bnn_train_opts_default) are the notes' plain gradient     */
/* descent on the squared error; every other choice follows a PyTorch definition (README).    */

/* Per sample, summed over the K outputs, averaged over the samples of the batch:
 *   mse            sum_j (a_j - y_j)^2                    (K x nn.MSELoss)
 *   cross-entropy  -sum_j y_j log softmax(z)_j            (nn.CrossEntropyLoss, prob. targets)
 *   bce            sum_j max(z,0) - z y + log1p(e^-|z|)   (BCEWithLogitsLoss(..).sum(1).mean())
 * cross-entropy and bce take the last layer's outputs z as logits: that layer must be
 * identity (cross-entropy: at least 2 outputs). Accuracy: cross-entropy counts a sample right
 * when argmax z = argmax y; bce counts each output, right when (z > 0) = (y > 0.5). */
typedef enum bnn_loss { BNN_LOSS_MSE = 0, BNN_LOSS_CE = 1, BNN_LOSS_BCE = 2 } bnn_loss;

/* Optimizers, one step per batch, g the batch's averaged gradient, L the weight decay:
 *   sgd       g += L theta;  theta -= lr g
 *   momentum  g += L theta;  b = g (first step) or mu b + g;  theta -= lr b
 *   nesterov  as momentum, then theta -= lr (g + mu b)
 *   adam      g += L theta;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *             theta -= (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)
 *   adamw     theta *= 1 - lr L, then adam without L */
typedef enum bnn_optim_kind {
    BNN_OPT_SGD = 0,
    BNN_OPT_MOMENTUM = 1,
    BNN_OPT_NESTEROV = 2,
    BNN_OPT_ADAM = 3,
    BNN_OPT_ADAMW = 4
} bnn_optim_kind;

typedef struct bnn_optim_opts {
    bnn_optim_kind kind;
    double momentum;     /* 0.9 */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* 0 */
} bnn_optim_opts;

/* The learning rate of epoch e (0-based) of E = total epochs, in closed form:
 *   constant   lr
 *   step       lr * gamma^floor(e / every)                     (StepLR)
 *   cosine     min + (lr - min) (1 + cos(pi e / E)) / 2        (CosineAnnealingLR, T_max E) */
typedef enum bnn_sched_kind {
    BNN_SCHED_CONSTANT = 0,
    BNN_SCHED_STEP = 1,
    BNN_SCHED_COSINE = 2
} bnn_sched_kind;
typedef struct bnn_schedule {
    bnn_sched_kind kind;
    int every;     /* step */
    double gamma;  /* step */
    double min_lr; /* cosine */
} bnn_schedule;

typedef enum bnn_gradient {
    BNN_GRAD_EXACT = 0,      /* the true gradient of C, by back-propagation */
    BNN_GRAD_SEED = 1,       /* the notes' recursion: layer l gets 2^(m-l) times the exact one */
    BNN_GRAD_FINITE_DIFF = 2 /* central differences of C in double precision (slow) */
} bnn_gradient;

/* fast: float32, BLAS, SIMD, threads. reference: double precision, one sample at a time. */
typedef enum bnn_engine_kind { BNN_ENGINE_FAST = 0, BNN_ENGINE_REFERENCE = 1 } bnn_engine_kind;

/* What on_epoch_stats receives after each epoch. NaN where not measured. */
typedef struct bnn_epoch_stats {
    int epoch;      /* 1-based */
    double loss;    /* the training cost before the epoch's updates (mean over its batches) */
    double seconds; /* training time of the epoch (validation excluded) */
    double lr;      /* the epoch's rate */
    double val_loss;   /* after the epoch's updates */
    double accuracy;   /* training accuracy (cross-entropy and bce) */
    double val_accuracy;
    int best;       /* 1 when val_loss is the best so far (or no validation) */
} bnn_epoch_stats;

/* Types of the internal header (the command line's training); leave their pointers NULL. */
struct bnn_data;
struct bnn_optim_state;

/* Read only by training (one struct may serve several runs at once); the callbacks run on the
 * thread that called bnn_net_train, between epochs. */
typedef struct bnn_train_opts {
    int epochs;            /* 1 */
    double lr;             /* 0.1 */
    size_t batch;          /* samples per update; 0: full batch (one update per epoch) */
    bnn_optim_opts optim;  /* sgd */
    bnn_schedule schedule; /* constant */
    bnn_loss loss;         /* mse */
    /* 1: the net sees (x - mean) / std per input, as `batchnn train --standardize`: mean and
     * std (population; 1 for a constant input) of the training samples, fitted by
     * bnn_net_train / bnn_net_train_data when the net's model has none and stored in it
     * (in_mean, in_std: saved as tensors input.mean, input.std); every call on the net then
     * applies them (validation, cost, eval, run). A model that has them keeps them. */
    int standardize;       /* 0 */
    /* 0 < val_split < 1: bnn_net_train / bnn_net_train_data hold out that fraction of the
     * samples, drawn from seed as bnn_dataset_split (stratified by class) draws them, and
     * validate on it after each epoch (as `batchnn train --val-split F --seed S`). 0: none. */
    double val_split;      /* 0 */
    int shuffle;           /* a new permutation of the samples every epoch (0: data order) */
    uint64_t seed;         /* of the permutations and of val_split's draw */
    int threads;           /* <= 0: OpenMP's default team; the result does not depend on it */
    bnn_gradient gradient; /* exact */
    bnn_engine_kind engine;     /* fast */
    double fd_eps;         /* finite-diff step; 0: 1e-5 */
    /* Called after each epoch with the cost before that epoch's update (mean of the
     * mini-batch costs with batch) and the epoch's wall time; non-zero stops training. */
    int (*on_epoch)(void *ctx, int epoch, double loss, double seconds);
    /* Called after each epoch when set (before on_epoch); non-zero stops training. */
    int (*on_epoch_stats)(void *ctx, const bnn_epoch_stats *s);
    void *ctx;
    /* Every checkpoint_every epochs (0: never), after on_epoch, with the model as it stands
     * after that epoch's update; non-zero fails training with the message in *e. */
    int checkpoint_every;
    int (*on_checkpoint)(void *ctx, int epoch, const bnn_model *m, bnn_error *e);
    /* Resumed runs: the first epoch's number (0-based) and the schedule's E (0: start_epoch +
     * epochs). */
    int start_epoch;
    int total_epochs;
    /* The command line's validation, early stopping and optimizer state (internal types). */
    const struct bnn_data *val;     /* evaluated after each epoch (NULL: none) */
    int patience;                   /* > 0: stop after this many epochs without a better one */
    bnn_model *best;                /* with val: the parameters of the best epoch so far */
    int *best_epoch;
    struct bnn_optim_state *state;  /* in and out; NULL: kept internally */
    /* Polled after every update (step) when set: non-zero ends training there, with the
     * parameters (and optimizer state) of the last completed epoch: a stop between the steps
     * of an epoch undoes that epoch's steps. Under mpirun the ranks agree at each step. */
    int (*should_stop)(void *ctx);
} bnn_train_opts;

/* The defaults above, into *o or as a value (bnn_train_opts o = bnn_train_defaults();). */
BNN_API void bnn_train_opts_default(bnn_train_opts *o);
BNN_API bnn_train_opts bnn_train_defaults(void);

/* ------------------------------------------------------------------------------------------ */
/* Nets: a model with what it takes to train and run it, on float arrays in memory.           */

/* Opaque. Used by one thread at a time (every call but save, model and loss may write it). */
typedef struct bnn_net bnn_net;

/* A net of nlayers layers, widths[0] inputs .. widths[nlayers] outputs (nlayers + 1 values),
 * acts[l] the activation of layer l (NULL: sigmoid everywhere), biases on every layer,
 * Glorot-initialised from seed (bnn_model_randomize). NULL on failure. */
BNN_API bnn_net *bnn_net_create(int nlayers, const int *widths, const bnn_act *acts,
                                uint64_t seed, bnn_error *e);
/* A net from a model file written by bnn_net_save or `batchnn train --save`; its loss comes
 * from the file's metadata (mse when absent). NULL on failure. */
BNN_API bnn_net *bnn_net_load(const char *path, bnn_error *e);
/* Writes the model and its loss (as `batchnn train --save` does: the batchnn command can
 * eval and predict with it). */
BNN_API int bnn_net_save(const bnn_net *net, const char *path, bnn_error *e);
BNN_API void bnn_net_free(bnn_net *net);

/* Trains on count samples: x is count x inputs, y count x outputs, row-major, all finite.
 * o as for the command line (NULL: the defaults), with o->standardize and o->val_split;
 * o->val, o->best and o->state must be NULL.
 * On success the net's loss becomes o->loss. A loss or parameter that becomes non-finite
 * fails with the epoch's number and leaves the last finite parameters. */
BNN_API int bnn_net_train(bnn_net *net, const float *x, const float *y, size_t count,
                          const bnn_train_opts *o, bnn_error *e);
/* Forward in float32 (the fast engine): one sample x (inputs values) into out (outputs
 * values), or count samples (x count x inputs, out count x outputs, row-major). The outputs
 * are the last layer's activations: logits for cross-entropy and bce. */
BNN_API int bnn_net_run(bnn_net *net, const float *x, float *out, bnn_error *e);
BNN_API int bnn_net_run_batch(bnn_net *net, const float *x, size_t count, float *out,
                              bnn_error *e);
/* The cost of count samples under the net's loss (float32 forward, summed in double), and,
 * when accuracy is not NULL, the accuracy (cross-entropy, bce; NaN for mse). */
BNN_API int bnn_net_cost(bnn_net *net, const float *x, const float *y, size_t count,
                         double *cost, double *accuracy, bnn_error *e);
/* The net's model (architecture and parameters, which may be read and written between
 * calls; theta may move during bnn_net_train) and its loss. */
BNN_API bnn_model *bnn_net_model(bnn_net *net);
BNN_API bnn_loss bnn_net_loss(const bnn_net *net);

/* ------------------------------------------------------------------------------------------ */
/* Data sets: what `batchnn train --data` reads, for nets.                                      */

/* Opaque: samples of a file or a synthetic set, read once. */
typedef struct bnn_dataset bnn_dataset;

typedef struct bnn_data_spec {
    int inputs, outputs;  /* the net's widths: each row is inputs values, then outputs targets
                           * or (outputs > 1) one class label 0..outputs-1 (one-hot targets) */
    const char *targets;  /* NULL, or a file of the targets (then rows hold inputs only) */
    size_t samples;       /* 0: every row of a file (synthetic sets: 1000) */
    uint64_t seed;        /* synthetic sets: their draw */
} bnn_data_spec;

/* Opens path: CSV (header optional), .npy, gzip of either, .npz (arrays x, then y as the
 * targets; "FILE.npz:NAME" for array NAME), "-" for standard input, or "synth:NAME" (the
 * command's synthetic sets: `batchnn gen --help`). The format comes from the bytes. The data
 * set, or NULL with a message naming the file and place. */
BNN_API bnn_dataset *bnn_data_open(const char *path, const bnn_data_spec *spec, bnn_error *e);
BNN_API size_t bnn_dataset_count(const bnn_dataset *d);
/* Moves round(fraction n) of d's samples (0 < fraction < 1), drawn at random from seed, into
 * *val (a view of d: free it before d); with class targets each class gives the same
 * fraction (stratified). The same samples as `batchnn train --val-split F --seed S`; both
 * parts keep file order and at least one sample. */
BNN_API int bnn_dataset_split(bnn_dataset *d, double fraction, uint64_t seed,
                              bnn_dataset **val, bnn_error *e);
BNN_API void bnn_dataset_free(bnn_dataset *d);

/* bnn_net_train on a data set, validated after each epoch on val when not NULL, or on the
 * o->val_split part of train (the val_loss and val_accuracy of o->on_epoch_stats,
 * o->patience and the command's log row). With o->standardize the scaler comes from the
 * samples trained on (not the validation part), as the command's. */
BNN_API int bnn_net_train_data(bnn_net *net, const bnn_dataset *train, const bnn_dataset *val,
                               const bnn_train_opts *o, bnn_error *e);
/* The net's cost and accuracy (NaN for mse) on a data set, as `batchnn eval` prints them. */
BNN_API int bnn_net_eval_data(bnn_net *net, const bnn_dataset *d, double *cost,
                              double *accuracy, bnn_error *e);

#ifdef __cplusplus
}
#endif
#endif /* BATCHNN_H */
