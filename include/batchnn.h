/*
 * batchnn.h - public C API of batchnn, a batch trainer for multilayer perceptrons.
 *
 * Plain C11, usable from C++ (the benchmark harness is C++). Every public symbol carries the
 * bnn_ prefix. Library functions never exit: they return 0 on success and -1 on failure, with
 * a one-line message in a caller-provided bnn_error.
 *
 * Shapes, once for the whole library:
 *   m        number of layers; layer l (0-based here, 1-based in the notes) maps width[l] ->
 *            width[l+1]; in = width[l], out = width[l+1].
 *   theta    all parameters in one flat vector: for each layer l in order, W_l (out x in,
 *            row-major, PyTorch's nn.Linear [out, in]) then b_l (out) when the layer has a bias.
 *   samples  a batch of ns samples is a column-major (width x ns) matrix: one column per
 *            sample, so a sample's features are contiguous (the same bytes as a row-major
 *            ns x width table).
 *   cost     C = (1/n) sum_i sum_j (a^(m)_ij - y_ij)^2.
 */
#ifndef BATCHNN_H
#define BATCHNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BNN_VERSION "0.1.0"

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

typedef struct bnn_error {
    char msg[1024];
} bnn_error;

/* Formats a message into e (when e is not NULL) and returns -1, so `return bnn_fail(...)`. */
int bnn_fail(bnn_error *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ------------------------------------------------------------------------------------------ */
/* Architecture                                                                                */

typedef enum bnn_act {
    BNN_ACT_IDENTITY = 0,
    BNN_ACT_SIGMOID = 1,
    BNN_ACT_TANH = 2,
    BNN_ACT_RELU = 3,
    BNN_ACT_COUNT
} bnn_act;

const char *bnn_act_name(bnn_act a);
/* Parses "identity" (alias "linear", "none"), "sigmoid", "tanh", "relu". */
int bnn_act_parse(const char *s, bnn_act *out);

#define BNN_MAX_LAYERS 256
/* Largest width of any layer; bigger is refused before anything is allocated. */
#define BNN_MAX_WIDTH ((int64_t)1 << 24)

typedef struct bnn_arch {
    int nlayers;                          /* m >= 1 */
    int64_t width[BNN_MAX_LAYERS + 1];    /* width[0] = inputs, width[m] = outputs */
    bnn_act act[BNN_MAX_LAYERS];          /* activation of layer l */
    uint8_t bias[BNN_MAX_LAYERS];         /* 1 when layer l has a bias */
} bnn_arch;

/* widths: "2,16,16,1"; acts: NULL (sigmoid everywhere), one name for every layer, or a
 * comma-separated list with one name per layer; bias applies to every layer. */
int bnn_arch_parse(bnn_arch *a, const char *widths, const char *acts, int bias, bnn_error *e);
/* Validates counts, widths and that the parameter count cannot overflow. */
int bnn_arch_check(const bnn_arch *a, bnn_error *e);
size_t bnn_arch_nparams(const bnn_arch *a);
size_t bnn_arch_weight_offset(const bnn_arch *a, int l);
/* Offset of b_l in theta, or (size_t)-1 when layer l has no bias. */
size_t bnn_arch_bias_offset(const bnn_arch *a, int l);
int64_t bnn_arch_max_width(const bnn_arch *a);
/* Writes "2,16,16,1" and "sigmoid,sigmoid,identity" style strings. */
void bnn_arch_format(const bnn_arch *a, char *widths, size_t wlen, char *acts, size_t alen);

/* ------------------------------------------------------------------------------------------ */
/* Model: an architecture and its float32 parameters in one 64-byte aligned block.             */

typedef struct bnn_model {
    bnn_arch arch;
    size_t nparams;
    float *theta; /* nparams floats, layout as described at the top of this file */
} bnn_model;

/* Allocates zeroed parameters for arch (checked first). */
int bnn_model_init(bnn_model *m, const bnn_arch *arch, bnn_error *e);
void bnn_model_free(bnn_model *m);
/* Default initialisation (Glorot/Xavier uniform, suited to sigmoid and tanh):
 * W_l ~ U(-r, r) with r = sqrt(6 / (in + out)), biases 0; deterministic in seed. */
void bnn_model_randomize(bnn_model *m, uint64_t seed);
float *bnn_model_weight(const bnn_model *m, int l);
float *bnn_model_bias(const bnn_model *m, int l); /* NULL without bias */
/* 1 when every parameter is finite. */
int bnn_model_finite(const bnn_model *m);

/* Safetensors I/O (src/io/safetensors.c). Tensors layers.{l}.weight [out,in] and
 * layers.{l}.bias [out], F32, __metadata__ {"format":"batchnn/1","activations":"a,b"}.
 * save writes to a temporary name, syncs, and renames into place.
 * load: acts_fallback is used when the file has no "activations" metadata (NULL: sigmoid). */
int bnn_model_save(const bnn_model *m, const char *path, bnn_error *e);
int bnn_model_load(bnn_model *m, const char *path, const char *acts_fallback, bnn_error *e);
/* bnn_model_save with extra __metadata__ string pairs (checkpoints: "epoch", ...). */
int bnn_model_save_meta(const bnn_model *m, const char *path, const char *const *keys,
                        const char *const *values, int count, bnn_error *e);
/* One __metadata__ value of a model file into buf: 0 found, 1 absent, -1 error. */
int bnn_model_read_meta(const char *path, const char *key, char *buf, size_t len, bnn_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: the project's own generators (never rand()).                                */

typedef struct bnn_rng {
    uint64_t s[4];
} bnn_rng; /* xoshiro256** seeded through splitmix64 */

void bnn_rng_seed(bnn_rng *r, uint64_t seed);
uint64_t bnn_rng_next(bnn_rng *r);
double bnn_rng_uniform(bnn_rng *r); /* [0, 1), 53 bits */
/* Counter-based: the same (seed, key) always gives the same value, so synthetic samples
 * do not depend on chunking or thread count. 24-bit uniform in [0, 1). */
float bnn_hash_u01(uint64_t seed, uint64_t key);
uint64_t bnn_hash64(uint64_t seed, uint64_t key);

/* ------------------------------------------------------------------------------------------ */
/* Tables: rows x cols float values, one row per sample (data files, synthetic sets).          */

typedef struct bnn_table bnn_table;
struct bnn_table {
    size_t rows, cols;
    /* Direct form: when f32 != NULL, value (r, c) is f32[r * ld + c]. */
    const float *f32;
    size_t ld;
    /* Otherwise rows are produced on demand: writes rows [row0, row0 + nrows), columns
     * [col0, col0 + ncols) to out[(r - row0) * ldo + (c - col0)]. Must be thread-safe. */
    int (*read)(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                float *out, size_t ldo, bnn_error *e);
    void *ctx;
    void (*close)(bnn_table *t); /* frees ctx and what it owns; may be NULL */
    char name[512];              /* file name or synth:NAME, for messages */
    int header_skipped; /* 1 when the CSV's first row was a header */
};

void bnn_table_close(bnn_table *t);
/* Reads values (as above) whatever the form of t. */
int bnn_table_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                   float *out, size_t ldo, bnn_error *e);

/* Data files (src/io/csv.c, src/io/npy.c). bnn_table_open picks the reader from the contents
 * (.npy magic) or the extension. CSV: header line optional, CRLF and UTF-8 BOM accepted,
 * every row the same number of fields, all values finite. NPY: 2-D (1-D taken as one
 * column), float32 or float64, C or Fortran order; float32 C-order is memory-mapped and
 * used in place. Errors name the file and the line and column (CSV) or the element (npy).
 * Each path is opened once; "-" is standard input. A pipe, FIFO or device is read into memory,
 * at most BATCHNN_STREAM_LIMIT bytes (environment; suffixes k, M, G; default 2G). */
int bnn_table_open(bnn_table *t, const char *path, bnn_error *e);
int bnn_table_open_csv(bnn_table *t, const char *path, bnn_error *e);
int bnn_table_open_npy(bnn_table *t, const char *path, bnn_error *e);

/* Memory-mapped inputs (src/io/mapped.c). The readers register every mapping of an input file
 * (a float32 .npy used in place stays mapped while the table is open). If the file is
 * truncated or rewritten meanwhile, touching the mapping raises SIGBUS; a SIGBUS handler
 * (installed by the program, not the library) can name the file with bnn_mapped_file_at.
 * register/unregister are thread-safe; bnn_mapped_file_at is async-signal-safe and returns
 * the name of the registered mapping that contains addr, or NULL. At most 64 mappings are
 * tracked at a time (further ones are simply not named). */
void bnn_mapped_register(const void *addr, size_t len, const char *name);
void bnn_mapped_unregister(const void *addr);
const char *bnn_mapped_file_at(const void *addr);

/* Streaming writer for tables: .npy (float32, C order) when the path ends in .npy, CSV
 * otherwise. Writes to a temporary name; commit syncs and renames, abort removes it. */
typedef struct bnn_table_writer bnn_table_writer;
int bnn_table_writer_open(bnn_table_writer **w, const char *path, size_t rows, size_t cols,
                          const char *csv_header /* NULL: none */, bnn_error *e);
/* rows are row-major with row stride ld. */
int bnn_table_writer_rows(bnn_table_writer *w, const float *data, size_t nrows, size_t ld,
                          bnn_error *e);
int bnn_table_writer_commit(bnn_table_writer *w, bnn_error *e);
void bnn_table_writer_abort(bnn_table_writer *w);

/* Synthetic sets (src/io/synth.c): linear, or, and, nand, xor, uniform, teacher, circle, sine.
 * nin/nout of -1 take the set's natural widths. Kept in memory when the whole table fits in
 * mem_budget bytes, otherwise generated row by row on demand. */
int bnn_synth_open(bnn_table *t, const char *name, size_t n, int64_t nin, int64_t nout,
                   uint64_t seed, size_t mem_budget, bnn_error *e);
/* Natural widths of a set (-1 where the set follows --arch). */
int bnn_synth_widths(const char *name, int64_t *nin, int64_t *nout, bnn_error *e);
const char *bnn_synth_names(void); /* "linear, or, ..." for help text */

/* ------------------------------------------------------------------------------------------ */
/* Data: inputs and targets of n samples, drawn from one or two tables.                        */

typedef struct bnn_data {
    size_t n;
    int64_t nin, nout;
    const bnn_table *xt; /* inputs are columns [xcol, xcol + nin) of xt */
    size_t xcol;
    const bnn_table *yt; /* targets are columns [ycol, ycol + nout) of yt; NULL: no targets */
    size_t ycol;
    /* A view (src/train/shuffle.c): sample i of the view is row row0 + (perm ? perm[i] : i) of the
     * tables. bnn_data_make sets row0 = 0, perm = NULL. With perm, chunks are gathered into
     * the caller's buffers. */
    size_t row0;
    const uint32_t *perm;
    /* With perm_blocked, perm is the order of blocks of BNN_SHUFFLE_BLOCK samples and each
     * block is permuted by a keyed bijection (src/train/shuffle.c): shuffling very large sets. */
    int perm_blocked;
    uint64_t perm_key;
    /* Integer class labels: the targets are one column of labels 0..nout-1 (nout > 1),
     * expanded to one-hot rows chunk by chunk (bnn_data_make checks every label). */
    int labels;
} bnn_data;

/* Inputs then targets from one table (targets NULL), or inputs from data and targets from
 * targets. Checks the column counts against the widths. A single table with exactly nin
 * columns gives inputs without targets (yt NULL: predict only). With nout > 1, targets of
 * one column (nin + 1 columns in a single table) are class labels: each must be an integer in
 * 0..nout-1 (an error names the first row that is not), and target k means one-hot e_k. */
int bnn_data_make(bnn_data *d, const bnn_table *data, const bnn_table *targets, int64_t nin,
                  int64_t nout, bnn_error *e);

/* A chunk of samples as column-major matrices: X (nin x count, leading dimension ldx) and
 * Y (nout x count, ldy). Points straight into the table when it is direct, otherwise fills
 * xbuf (nin * count floats) and ybuf (nout * count) and points there. */
typedef struct bnn_chunk {
    const float *x;
    size_t ldx;
    const float *y;
    size_t ldy;
    size_t count;
} bnn_chunk;
int bnn_data_chunk(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                   bnn_chunk *c, bnn_error *e);
/* One sample in double precision (x: nin values, y: nout values or NULL). */
int bnn_data_sample(const bnn_data *d, size_t i, double *x, double *y, bnn_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Losses (src/engine/loss.c). Per sample, summed over the K outputs, averaged over samples:          */
/*   mse            sum_j (a_j - y_j)^2                   (= nn.MSELoss x K)                   */
/*   cross-entropy  -sum_j y_j log softmax(z)_j           (= nn.CrossEntropyLoss, prob. targets)*/
/*   bce            sum_j max(z,0) - z y + log1p(e^-|z|)  (= BCEWithLogitsLoss(..).sum(1).mean())*/
/* cross-entropy and bce take the last layer's identity outputs z (logits). Accuracy: a sample */
/* is correct when argmax z = argmax y (first maximum; cross-entropy); for bce each output is  */
/* one decision, correct when (z > 0) = (y > 0.5), and accuracy is over samples x outputs.     */

typedef enum bnn_loss { BNN_LOSS_MSE = 0, BNN_LOSS_CE = 1, BNN_LOSS_BCE = 2 } bnn_loss;
const char *bnn_loss_name(bnn_loss l);
/* "mse", "cross-entropy" (alias "ce"), "bce". */
int bnn_loss_parse(const char *s, bnn_loss *l);
/* cross-entropy and bce need an identity last layer, cross-entropy at least 2 outputs. */
int bnn_loss_check(const bnn_arch *a, bnn_loss l, bnn_error *e);
/* Decisions per sample that accuracy counts: 1, or K for bce. */
int64_t bnn_loss_decisions(const bnn_arch *a, bnn_loss l);

/* ------------------------------------------------------------------------------------------ */
/* Gradients and engines                                                                       */

typedef enum bnn_gradient {
    BNN_GRAD_EXACT = 0,   /* the true gradient of C */
    BNN_GRAD_SEED = 1,    /* the notes' recursion: layer l gets 2^(m-l) times the exact one */
    BNN_GRAD_FINITE_DIFF = 2 /* central differences of C in double precision */
} bnn_gradient;

typedef enum bnn_engine { BNN_ENGINE_FAST = 0, BNN_ENGINE_REFERENCE = 1 } bnn_engine;

const char *bnn_gradient_name(bnn_gradient g);
int bnn_gradient_parse(const char *s, bnn_gradient *g);
const char *bnn_engine_name(bnn_engine g);
int bnn_engine_parse(const char *s, bnn_engine *g);

/* Reference engine (src/engine/reference.c): double precision, one sample at a time.
 * theta is a double vector with the layout above. Samples [start, start + count). */
int bnn_ref_forward(const bnn_arch *a, const double *theta, const double *x, double *out);
int bnn_ref_cost(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double *cost, bnn_error *e);
/* exact or seed gradient, averaged over the samples; cost may be NULL. */
int bnn_ref_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, bnn_gradient mode, double *grad, double *cost, bnn_error *e);
/* The same for any loss; correct (may be NULL) receives the count of correct decisions. */
int bnn_ref_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, bnn_loss loss, double *grad,
                      double *cost, double *correct, bnn_error *e);
/* Finite differences of the loss's cost: order 2 (central) or 4 (five-point), as below. */
int bnn_fd_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                     size_t count, double eps, int order, bnn_loss loss, double *grad,
                     bnn_error *e);
/* Central differences (C(t + h) - C(t - h)) / 2h per parameter, h = eps * max(1, |t|),
 * costs by the reference engine. */
int bnn_fd_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                size_t count, double eps, double *grad, bnn_error *e);
/* The five-point central stencil (-C(t+2h) + 8C(t+h) - 8C(t-h) + C(t-2h)) / 12h, truncation
 * error O(h^4): the oracle of gradcheck (h = eps * max(1, |t|), eps 0: 1e-3). */
int bnn_fd_grad4(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double eps, double *grad, bnn_error *e);

/* The notes' closed forms (src/engine/notes.c), transcribed equation by equation. x, y: n samples. */
double bnn_notes_linear_cost(double w, const double *x, const double *y, size_t n);
double bnn_notes_linear_dw(double w, const double *x, const double *y, size_t n);
/* One sigmoid neuron, inputs (x1, x2), target z: grad = {dw1, dw2, db}. */
void bnn_notes_neuron_grad(const double w[2], double b, const double *x1, const double *x2,
                           const double *z, size_t n, double grad[3]);
/* Two neurons 1 -> 1 -> 1: grad = {dw1, db1, dw2, db2} (the notes' C^(1), C^(2)). */
void bnn_notes_chain2_grad(const double w[2], const double b[2], const double *x,
                           const double *y, size_t n, double grad[4]);
/* m-layer chain of single sigmoid neurons: dw[l], db[l] for l = 0..m-1. */
void bnn_notes_chain_grad(int m, const double *w, const double *b, const double *x,
                          const double *y, size_t n, double *dw, double *db);

/* Fast engine (src/engine/fast.c): float32, chunked column-major batches, OpenBLAS sgemm. */
typedef struct bnn_fast bnn_fast;
typedef struct bnn_fast_opts {
    int threads;   /* <= 0: all cores */
    size_t chunk;  /* samples per chunk; 0: chosen from the widths */
    int loss;      /* bnn_loss (0: mse) */
} bnn_fast_opts;
int bnn_fast_create(bnn_fast **f, const bnn_arch *a, const bnn_fast_opts *o, bnn_error *e);
void bnn_fast_free(bnn_fast *f);
size_t bnn_fast_chunk(const bnn_fast *f);
int bnn_fast_threads(const bnn_fast *f);
/* exact or seed gradient averaged over samples [start, start + count); cost may be NULL.
 * The result is bitwise the same for any thread count. */
int bnn_fast_grad(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, double *cost, bnn_error *e);
int bnn_fast_cost(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, bnn_error *e);
/* Outputs of samples [start, start + count): out is row-major count x nout. */
int bnn_fast_predict(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                     size_t count, float *out, bnn_error *e);
/* bnn_fast_grad that also counts correct classifications (see bnn_loss; correct may be
 * NULL), and the cost and count without a gradient. */
int bnn_fast_grad_acc(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, float *grad, double *cost,
                      double *correct, bnn_error *e);
int bnn_fast_eval(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, double *correct, bnn_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Training                                                                                    */

/* Optimizers (src/train/optim.c), each step exactly PyTorch's documented algorithm with g the
 * gradient of the batch and L the weight decay (biases included):
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
    int threads;    /* threads of the step (<= 0: all cores); the result does not depend on it */
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

/* Learning-rate schedules, per epoch (0-based e of E in all), in closed form:
 *   constant   lr
 *   step       lr * gamma^floor(e / every)                     (StepLR)
 *   cosine     min + (lr - min) (1 + cos(pi e / E)) / 2        (CosineAnnealingLR, T_max E) */
typedef enum bnn_sched_kind { BNN_SCHED_CONSTANT = 0, BNN_SCHED_STEP = 1, BNN_SCHED_COSINE = 2 }
    bnn_sched_kind;
typedef struct bnn_schedule {
    bnn_sched_kind kind;
    int every;      /* step */
    double gamma;   /* step */
    double min_lr;  /* cosine */
} bnn_schedule;
/* "constant", "step:EVERY:GAMMA", "cosine" or "cosine:MIN_LR". */
int bnn_schedule_parse(const char *s, bnn_schedule *out, bnn_error *e);
double bnn_schedule_lr(const bnn_schedule *s, double lr, int epoch, int epochs);
/* Writes the schedule back in the form parse reads. */
void bnn_schedule_format(const bnn_schedule *s, char *buf, size_t len);

/* Checkpoints (src/io/checkpoint.c): the model plus the optimizer's buffers as F32 tensors
 * optimizer.{l}.weight.{name} [out, in] / optimizer.{l}.bias.{name} [out] after the model's
 * tensors; metadata as bnn_model_save_meta (the caller records the step and settings). A
 * state without buffers (sgd) writes a plain model file. load_state fills st's buffers (st
 * initialised for the same optimizer and parameter count). */
int bnn_checkpoint_save(const bnn_model *m, const bnn_optim_state *st, const char *path,
                        const char *const *keys, const char *const *values, int count,
                        bnn_error *e);
int bnn_checkpoint_load_state(const char *path, const bnn_arch *a, bnn_optim_state *st,
                              bnn_error *e);

/* Shuffling (src/train/shuffle.c): the permutation of n samples for an epoch (0-based), from the
 * seed, as README describes: Fisher-Yates driven by xoshiro256** seeded with
 * bnn_hash64(seed, epoch). n must be below 2^32. */
int bnn_shuffle_perm(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch, bnn_error *e);
/* Sets of more than BNN_SHUFFLE_FULL_MAX samples are shuffled by blocks: the order of the
 * whole blocks of BNN_SHUFFLE_BLOCK consecutive samples is a permutation drawn as above (the
 * shorter rest comes last), and the samples of a block are permuted by a keyed Feistel
 * bijection (README: "Shuffling"). */
#define BNN_SHUFFLE_FULL_MAX ((size_t)1 << 26)
#define BNN_SHUFFLE_BLOCK ((size_t)1 << 16)
/* Entries of the buffer bnn_shuffle_view needs for n samples. */
size_t bnn_shuffle_entries(size_t n);
/* Makes view (a copy of a data set of n samples, row0 kept) the epoch's shuffled order,
 * using buf (bnn_shuffle_entries(n) entries). */
int bnn_shuffle_view(bnn_data *view, uint32_t *buf, uint64_t seed, uint64_t epoch,
                     bnn_error *e);
/* Row (relative to row0) of sample i of a shuffled view. */
size_t bnn_shuffle_row(const bnn_data *view, size_t i);
/* rows[k] = bnn_shuffle_row(view, start + k) for k < count (one block set-up per block). */
void bnn_shuffle_rows(const bnn_data *view, size_t start, size_t count, size_t *rows);

/* What on_epoch_stats receives after each epoch. NaN where not measured. */
typedef struct bnn_epoch_stats {
    int epoch;          /* 1-based */
    double loss;        /* the training cost before the epoch's updates */
    double seconds;     /* training time of the epoch (validation excluded) */
    double lr;          /* the epoch's rate */
    double val_loss;    /* after the epoch's updates */
    double accuracy;    /* training accuracy, measured with the loss */
    double val_accuracy;
    int best;           /* 1 when val_loss is the best so far (or no validation) */
} bnn_epoch_stats;

typedef struct bnn_train_opts {
    int epochs;
    double lr;
    size_t batch;          /* 0: full batch */
    bnn_gradient gradient;
    bnn_engine engine;
    int threads;           /* <= 0: all cores */
    double fd_eps;         /* finite-diff step; 0: 1e-5 */
    int start_epoch;       /* for resumed runs: the first epoch's number (0-based) */
    /* Called after each epoch with the cost before that epoch's update (mean of the
     * mini-batch costs with --batch) and the epoch's wall time; non-zero stops training. */
    int (*on_epoch)(void *ctx, int epoch, double loss, double seconds);
    void *ctx;
    /* Every checkpoint_every epochs (0: never), after on_epoch, with the model as it stands
     * after that epoch's update; non-zero fails training with the message in *e. */
    int checkpoint_every;
    int (*on_checkpoint)(void *ctx, int epoch, const bnn_model *m, bnn_error *e);
    /* Training options (defaults keep plain gradient descent on the squared error). */
    bnn_optim_opts optim;
    bnn_schedule schedule;
    bnn_loss loss;
    int shuffle;            /* a new permutation of the samples every epoch */
    uint64_t seed;          /* of the permutations */
    int total_epochs;       /* the schedule's E (0: start_epoch + epochs) */
    /* The optimizer's state, in and out (may be NULL: kept internally). A state with
     * step > 0 continues (resume); it must match optim.kind and the parameter count. */
    bnn_optim_state *state;
    const bnn_data *val;    /* validation data, evaluated after each epoch (may be NULL) */
    int patience;           /* > 0: stop after this many epochs without a better val_loss */
    /* With validation and best != NULL: the parameters of the best epoch so far (a model of
     * the same architecture, updated whenever val_loss improves); *best_epoch its number. */
    bnn_model *best;
    int *best_epoch;
    /* Called after each epoch when set (before on_epoch); non-zero stops training. */
    int (*on_epoch_stats)(void *ctx, const bnn_epoch_stats *s);
} bnn_train_opts;

void bnn_train_opts_default(bnn_train_opts *o);
/* Trains m in place. Fails (leaving m at its last finite state) on a non-finite loss or
 * parameter, naming the epoch. m->theta may point to another block afterwards (updates
 * alternate between two buffers); do not keep the old pointer. */
int bnn_train(bnn_model *m, const bnn_data *d, const bnn_train_opts *o, bnn_error *e);

/* ------------------------------------------------------------------------------------------ */
/* Files: every output goes through bnn_outfile (src/io/outfile.c has the rules): "-" is
 * standard output; a character device, FIFO or socket is written directly; a regular file
 * (or a new path) is written to a temporary name beside it, fsync'd and renamed over it,
 * keeping its mode; a symlink is followed and its target replaced; a directory, a block
 * device or a read-only file is refused.                                                      */

typedef struct bnn_outfile {
    void *fp;     /* FILE * */
    char *tmp;    /* the temporary name, NULL when written directly */
    char *path;   /* as given, for messages */
    char *target; /* where it lands (links followed); NULL for standard output */
    int direct;   /* written directly: standard output, device, FIFO, socket, in-place log */
    int regular;  /* a regular file (temporary or in place) */
    int is_stdout;
    int slot;     /* registry slot of tmp (-1: none) */
} bnn_outfile;
/* Applies the rules without creating or opening anything (checks before long work). */
int bnn_outfile_check(const char *path, bnn_error *e);
int bnn_outfile_open(bnn_outfile *o, const char *path, bnn_error *e);
/* For logs: a regular file is opened in place (created if missing, not truncated: the caller
 * positions and truncates it), the other kinds as bnn_outfile_open. */
int bnn_outfile_open_inplace(bnn_outfile *o, const char *path, bnn_error *e);
int bnn_outfile_commit(bnn_outfile *o, bnn_error *e);
void bnn_outfile_abort(bnn_outfile *o);
/* Removes every temporary file still open (async-signal-safe: for signal handlers, atexit). */
void bnn_outfile_remove_temps(void);

/* Aligned allocation (64 bytes), with overflow-checked count * size. */
void *bnn_alloc(size_t count, size_t size);
void bnn_free(void *p);
/* Bytes bnn_alloc(count, size) takes (rounded up to its alignment), SIZE_MAX when it would
 * refuse (overflow). */
size_t bnn_alloc_bytes(size_t count, size_t size);
/* Physical memory in bytes (0 when unknown). */
size_t bnn_physical_memory(void);

/* The memory this process may use (src/core/memory.c): the smallest of physical memory, the cgroup
 * limit (v2 memory.max, v1 memory.limit_in_bytes; our cgroup's and every ancestor's), and the
 * soft RLIMIT_AS and RLIMIT_DATA. It is a limit, not what is left: memory already in use is
 * not subtracted. Read afresh on every call (no caching, nothing allocated). */
typedef struct bnn_memory_limit {
    size_t bytes;     /* the budget; 0 only when nothing at all is known */
    const char *what; /* the bound that set it: "physical memory", "cgroup memory.max",
                       * "cgroup memory.limit_in_bytes", "RLIMIT_AS", "RLIMIT_DATA" ("unknown") */
    char desc[96];    /* what and the size, for messages: "cgroup memory.max 2.0 GiB" */
} bnn_memory_limit;
void bnn_memory_limit_get(bnn_memory_limit *l);
/* bnn_memory_limit.bytes (0: unknown). */
size_t bnn_memory_budget(void);
/* Writes bnn_memory_limit.desc into buf ("RLIMIT_AS 1.5 GiB"): 0, or -1 when unknown. */
int bnn_memory_limit_describe(char *buf, size_t len);
/* For tests: the same, reading proc_root/self/cgroup and the cgroup files under
 * sys_root/fs/cgroup instead of /proc and /sys (rlimits and physical memory are the real
 * ones). bnn_memory_limit_get uses $BATCHNN_PROC_ROOT and $BATCHNN_SYSFS_ROOT when set and
 * not empty, so that tests can fake a cgroup limit for a whole process; nothing else should
 * set them. */
void bnn_memory_limit_at(bnn_memory_limit *l, const char *proc_root, const char *sys_root);
/* "512.0 MiB", "2.0 GiB", "100 bytes" into buf; returns buf. */
const char *bnn_format_bytes(size_t bytes, char *buf, size_t len);

/* The fast engine keeps one thread's workspace (activations, deltas, input and target
 * buffers) within this many bytes: the chunk shrinks below 256 samples for nets wide enough
 * to need it. */
#define BNN_FAST_WORKSPACE_MAX ((size_t)64 << 20)
/* Bytes bnn_fast_create(a, {threads, chunk 0}) allocates: the per-thread workspaces and the
 * gradient partials (threads <= 0: all cores). 0 when a is invalid. bnn_fast_create refuses,
 * before allocating, when this exceeds bnn_memory_budget(). */
size_t bnn_fast_memory(const bnn_arch *a, int threads);

#ifdef __cplusplus
}
#endif
#endif /* BATCHNN_H */
