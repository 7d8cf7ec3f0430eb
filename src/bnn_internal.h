/* bnn_internal.h - the library's toolbox: everything its files, the command and the tests
 * share that is not part of the public API (include/batchnn.h, which this file includes and
 * which a user reads first). Not installed; the shared library does not export these
 * symbols (they are compiled with hidden visibility), the static archive has them.
 *
 * Conventions as in batchnn.h: 0 on success, -1 with a one-line message in a bnn_error.
 * Contents, by layer (the folders of src/):
 *   core/    errors (bnn_fail), architectures, models, random numbers, memory
 *   io/      tables (CSV, .npy, synthetic sets), data views, outputs, safetensors, checkpoints
 *   engine/  the reference engine, the notes' closed forms, the fast engine, losses, and the
 *            interface all engines share (bnn_eng, src/engine/engine.c)
 *   train/   optimizers, schedules, shuffling, bnn_train
 */
#ifndef BNN_INTERNAL_H
#define BNN_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "batchnn.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Errors, architectures and models (src/core/)                                                */

/* Formats a message into e (when e is not NULL) and returns -1, so `return bnn_fail(...)`. */
int bnn_fail(bnn_error *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses "identity" (alias "linear", "none"), "sigmoid", "tanh", "relu": 0, or -1. */
int bnn_act_parse(const char *s, bnn_act *out);
/* Validates counts, widths and that the parameter count cannot overflow. */
int bnn_arch_check(const bnn_arch *a, bnn_error *e);
size_t bnn_arch_weight_offset(const bnn_arch *a, int l);
/* Offset of b_l in theta, or (size_t)-1 when layer l has no bias. */
size_t bnn_arch_bias_offset(const bnn_arch *a, int l);
int64_t bnn_arch_max_width(const bnn_arch *a);

/* 1 when every parameter is finite. */
int bnn_model_finite(const bnn_model *m);
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
/* Names of an enum (src/core/names.c): names[i] is value i's; aliases (ending with {NULL})
 * are other spellings. bnn_names_find: the value, or -1; bnn_names_of: the name, or "?". */
typedef struct bnn_name_alias {
    const char *alias;
    int index;
} bnn_name_alias;
typedef struct bnn_names {
    const char *const *names;
    int n;
    const bnn_name_alias *aliases;
} bnn_names;
int bnn_names_find(const bnn_names *t, const char *s);
const char *bnn_names_of(const bnn_names *t, int i);

uint64_t bnn_hash64(uint64_t seed, uint64_t key); /* splitmix64's finaliser, twice */
/* The synthetic sets' counter-based generator: value number key (64 bits) of stream seed is
 *   u01(seed, key) = (h >> 8) * 2^-24,  h = fmix32(fmix32(lo ^ a) ^ b),
 * lo = key mod 2^32, and (a, b) the low and high halves of bnn_hash64(seed, key >> 32);
 * fmix32 is MurmurHash3's 32-bit finaliser. The same (seed, key) always gives the same value,
 * so a set does not depend on chunking, threads or ranks; 32-bit lanes, so every CPU path
 * computes 8 or 16 at a time (the kernel tables' u01_run), bitwise alike. fmix32 is a
 * bijection: the 2^32 keys that share key >> 32 give 2^32 different h. */
typedef struct bnn_u01_key {
    uint32_t a, b;
} bnn_u01_key;
bnn_u01_key bnn_u01_key_of(uint64_t seed, uint64_t key_hi);
static inline uint32_t bnn_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}
static inline float bnn_u01_at(uint32_t lo, uint32_t a, uint32_t b)
{
    const uint32_t h = bnn_fmix32(bnn_fmix32(lo ^ a) ^ b);
    return (float)(int32_t)(h >> 8) * 0x1.0p-24f; /* h >> 8 < 2^24: exact, as a signed int */
}
/* One value, scalar: u01(seed, key). */
float bnn_hash_u01(uint64_t seed, uint64_t key);

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
    char delimiter;              /* a CSV's field separator (',', '\t' or ';'); 0 otherwise */
    int header_skipped;          /* 1 when the CSV's first row was a header */
};

void bnn_table_close(bnn_table *t);
/* Reads values (as above) whatever the form of t. */
int bnn_table_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                   float *out, size_t ldo, bnn_error *e);

/* Data files (src/io/csv.c, src/io/npy.c, src/io/archive.c). bnn_table_open picks the reader
 * from the contents (.npy magic, gzip 1f 8b, zip "PK\3\4"; the extension only refuses a file
 * named .npy/.npz/.gz that is not one). gzip: a CSV or .npy inside. .npz: arrays x and y
 * (appended as the last columns), or "FILE.npz:NAME" for array NAME. CSV: header line optional, CRLF and UTF-8 BOM accepted,
 * every row the same number of fields, all values finite. NPY: 2-D (1-D taken as one
 * column), float32 or float64, C or Fortran order; float32 C-order is memory-mapped and
 * used in place. Errors name the file and the line and column (CSV) or the element (npy).
 * Each path is opened once; "-" is standard input. A pipe, FIFO or device is read into memory,
 * at most BATCHNN_STREAM_LIMIT bytes (environment; suffixes k, M, G; default 2G). */
int bnn_table_open(bnn_table *t, const char *path, bnn_error *e);
/* "f.npz:NAME" names array NAME of f.npz, unless a file is called that: 1 with *member :=
 * NAME and file[0..n) := "f.npz"; 0 when path is not of that form. */
int bnn_npz_member_path(const char *path, char *file, size_t n, const char **member);
int bnn_table_open_csv(bnn_table *t, const char *path, bnn_error *e);
int bnn_table_open_npy(bnn_table *t, const char *path, bnn_error *e);
/* The .npy reader's scan for non-finite values, shared out: NULL (one process) scans every
 * element; under mpirun (set by bnn_dist_init) each rank scans range()'s share of the n
 * elements, and agree() gives every rank the first bad index of all (n: none). */
typedef struct bnn_scan_split {
    void (*range)(size_t n, size_t *lo, size_t *hi);
    size_t (*agree)(size_t first_bad, size_t n);
} bnn_scan_split;
extern const bnn_scan_split *bnn_npy_split;

/* What a data file looks like from this process (src/io/fingerprint.c), for ranks under
 * mpirun to compare: regular 0 for standard input ("-"), a pipe, FIFO or device (not opened,
 * not read); otherwise its size and a checksum of its bytes (whole = 1) or of 64 blocks of
 * 256 KiB spread from its first byte to its last (files over 64 MiB). */
typedef struct bnn_fingerprint {
    uint64_t regular, size, checksum, whole;
} bnn_fingerprint;
int bnn_file_fingerprint(const char *path, bnn_fingerprint *fp, bnn_error *e);

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

typedef struct bnn_data { /* declared in batchnn.h, for bnn_train_opts.val */
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
    /* A subset (src/train/split.c, --val-split): with subset, sample i of the view (after any
     * perm) is row row0 + subset[i] of the tables; a shuffle permutes the subset's n entries. */
    const uint32_t *subset;
    /* Input standardisation (src/io/scale.c), or NULL: chunks and samples give
     * (x - in_mean[j]) / in_std[j] for input j, computed in float (double for samples). A
     * direct table is then copied into the caller's buffer (nin floats per sample). */
    const float *in_mean, *in_std;
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
 * xbuf ((nin + nout) * count floats, rows nin + nout apart: ldx = nin + nout) and ybuf
 * (nout * count) and points there. Inputs and targets of one table side by side (the usual
 * layout) are read as whole rows into xbuf, so x and y interleave (ldy = ldx) as in a
 * direct table, and the narrow kernels read them in place. */
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

const char *bnn_loss_name(bnn_loss l);
/* "mse", "cross-entropy" (alias "ce"), "bce". */
int bnn_loss_parse(const char *s, bnn_loss *l);
/* cross-entropy and bce need an identity last layer, cross-entropy at least 2 outputs. */
int bnn_loss_check(const bnn_arch *a, bnn_loss l, bnn_error *e);
/* Decisions per sample that accuracy counts: 1, or K for bce. */
int64_t bnn_loss_decisions(const bnn_arch *a, bnn_loss l);

/* ------------------------------------------------------------------------------------------ */
/* Gradients and engines                                                                       */

const char *bnn_gradient_name(bnn_gradient g);
int bnn_gradient_parse(const char *s, bnn_gradient *g);
const char *bnn_engine_name(bnn_engine g);
int bnn_engine_parse(const char *s, bnn_engine *g);

/* Reference engine (src/engine/reference.c): double precision, one sample at a time.
 * theta is a double vector with the layout above. Samples [start, start + count). */
/* One sample forward: 0, or -1 when out of memory (no message: bnn_eng_predict reports it). */
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
 * The result is bitwise the same for any thread count, and under mpirun (bnn_dist_init
 * called) for any number of ranks: every rank must make the same calls; each computes its
 * shards and gets the whole gradient and cost. */
int bnn_fast_grad(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, double *cost, bnn_error *e);
int bnn_fast_cost(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, bnn_error *e);
/* Outputs of samples [start, start + count): out is row-major count x nout (under mpirun:
 * on rank 0; the other ranks' out holds only their own shards' rows). */
int bnn_fast_predict(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                     size_t count, float *out, bnn_error *e);
/* bnn_fast_grad that also counts correct classifications (see bnn_loss; correct may be
 * NULL), and the cost and count without a gradient. */
int bnn_fast_grad_acc(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, float *grad, double *cost,
                      double *correct, bnn_error *e);
int bnn_fast_eval(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, double *cost, double *correct, bnn_error *e);
/* The fast engine's choice of team for small jobs (fast.c, bnn_team_pick: the rule and its
 * constants), a function of the wall-clock times it is given (seconds), so tests can drive it.
 * Zero-initialised; bnn_team_pick says whether the next call runs with the whole team (1) or
 * alone (0), bnn_team_timed records that call, started at t0 and ended at now on count
 * samples. */
typedef struct bnn_team_clock {
    double next, wait, rate[2], secs[2];
    int probe, team, against;
} bnn_team_clock;
int bnn_team_pick(bnn_team_clock *c, double now);
void bnn_team_timed(bnn_team_clock *c, double t0, double now, size_t count);

/* ------------------------------------------------------------------------------------------ */
/* Engines behind one interface (src/engine/engine.c). Training (src/train/train.c) and the
 * convenience layer (src/api/net.c) see an engine as a bnn_eng: the gradient, the cost (with
 * the count of correct decisions) and the outputs of samples [start, start + count) of a data
 * set, for one architecture and one loss. Three engines implement it:
 *   fast         the fast engine: float32 parameters and gradient
 *   reference    the reference engine: double (float32 parameters are widened first)
 *   finite-diff  central differences of the reference engine's double cost; the gradient's
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
    int threads;           /* <= 0: all cores (fast engine) */
    double fd_eps;         /* finite-diff step; 0: 1e-5 */
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
/* The float32 step in pieces (the fast engine's step inside its team): the coefficients of
 * the next step (s->step + 1; s->step is not advanced: the caller does once), then the step on
 * parameters i..i+n-1 only; the step is element-wise, so the pieces of a partition of
 * 0..nparams-1 give bitwise bnn_optim_step's result. 1 when the new ones are all finite. */
struct bnn_optim_coef;
void bnn_optim_coef_next(const bnn_optim_state *s, double lr, struct bnn_optim_coef *c);
int bnn_optim_step_range(const bnn_optim_state *s, const struct bnn_optim_coef *c,
                         const float *theta, const float *grad, float *next, size_t i,
                         size_t n);
/* The gradient of a batch and the optimizer step s from theta into next, fused (split-mode
 * batches step inside the team on the rows each thread owns; others as bnn_fast_grad_acc then
 * bnn_optim_step): grad receives the gradient. When the batch's loss is not finite no step is
 * taken (s->step unchanged); else s->step advances once and *finite is 0 when a new parameter
 * is not finite. 0, or -1 with e set. bnn_eng_step: the same through an engine (the fast
 * engine only). */
/* The largest batch the fast engine computes in split mode for this net and loss (0: none);
 * under mpirun such a batch is computed whole by every rank. */
size_t bnn_fast_split_max(const bnn_arch *a, int loss);
int bnn_fast_step(bnn_fast *f, const float *theta, const bnn_data *d, size_t start,
                  size_t count, bnn_gradient mode, float *grad, bnn_optim_state *s, double lr,
                  float *next, double *cost, double *correct, int *finite, bnn_error *e);
int bnn_eng_step(bnn_eng *g, const float *theta, const bnn_data *d, size_t start,
                 size_t count, float *grad, bnn_optim_state *s, double lr, float *next,
                 double *cost, double *correct, int *finite, bnn_error *e);

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

/* Input standardisation (src/io/scale.c): per-input mean and standard deviation (population,
 * 1/n) of the inputs of d, from one pass in blocks of BNN_SCALE_BLOCK samples in index order,
 * each block's mean and squared deviations in double combined in order (Chan et al.): the
 * same for any threads and ranks. A constant input gets std 1. mean and std: d->nin each. */
#define BNN_SCALE_BLOCK 4096
int bnn_data_scale_stats(const bnn_data *d, float *mean, float *std, bnn_error *e);

/* Validation split (src/train/split.c, README "Validation, early stopping"). The class of
 * every sample of d (argmax of its target row) into cls (d->n entries, or NULL) and the
 * count of each class into counts (d->nout entries); *onehot = 1 when every target row is a
 * class (a label, or one 1 and zeros), else 0 (counts then meaningless). */
int bnn_data_classes(const bnn_data *d, uint32_t *cls, size_t *counts, int *onehot,
                     bnn_error *e);
/* Splits d into disjoint train and val subsets (views of d with subset set, rows in file
 * order), val holding round(frac n) samples drawn at random from seed, the same fraction of
 * each class (largest remainders) when the targets are classes (*stratified then 1).
 * *idx receives the n-entry index buffer both views use (the caller frees it). */
int bnn_split_random(const bnn_data *d, double frac, uint64_t seed, bnn_data *train,
                     bnn_data *val, uint32_t **idx, int *stratified, bnn_error *e);

/* Trains m in place (the options: batchnn.h). Fails (leaving m at its last finite state) on
 * a non-finite loss or parameter, naming the epoch. m->theta may point to another block
 * afterwards (updates alternate between two buffers); do not keep the old pointer. */
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
 * positions and truncates it) and locked (flock, exclusive): a file another process holds is
 * refused, naming its pid when it can be found. The other kinds as bnn_outfile_open. */
int bnn_outfile_open_inplace(bnn_outfile *o, const char *path, bnn_error *e);
int bnn_outfile_commit(bnn_outfile *o, bnn_error *e);
void bnn_outfile_abort(bnn_outfile *o);
/* Removes every temporary file still open (async-signal-safe: for signal handlers, atexit). */
void bnn_outfile_remove_temps(void);

/* Which file a path names: (dev, ino) when it exists (links followed), else name, the
 * resolved directory plus the name a new file would get (malloc'd). */
typedef struct bnn_path_id {
    int exists;
    unsigned long long dev, ino;
    unsigned mode;
    char *name;
} bnn_path_id;
int bnn_path_identity(const char *path, bnn_path_id *id, bnn_error *e);
void bnn_path_identity_free(bnn_path_id *id);
/* 1 when a and b are the same file. */
int bnn_path_same(const bnn_path_id *a, const bnn_path_id *b);

/* Set (to the signal number) by the command when a stop signal arrived: readers blocked on
 * a pipe or FIFO then fail at once instead of retrying (the library installs no handler). */
extern volatile sig_atomic_t bnn_stop_requested;

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
#include "batchnn.h"

/* ---------------------------------------------------------------------------------------- */
/* Input files (src/io/table.c)                                                                 */

/* Environment variable that sets the stream limit, and its default (2 GiB). */
#define BNN_STREAM_LIMIT_ENV "BATCHNN_STREAM_LIMIT"
#define BNN_STREAM_LIMIT_DEFAULT ((size_t)2 << 30)

/* The name used in messages for standard input (path "-"). */
#define BNN_STDIN_NAME "<stdin>"

/*
 * An input opened once, whatever it is: a regular file, or a stream (pipe, FIFO, character
 * device, socket, standard input as "-"). Readers look at the first bytes (bnn_input_peek)
 * to choose a format, then take the whole contents (bnn_input_contents), which start with
 * those same bytes: nothing is read twice and nothing is lost, so a FIFO works.
 */
typedef struct bnn_input {
    const char *name;       /* for messages: the path, or BNN_STDIN_NAME */
    int fd;                 /* -1 when closed */
    struct stat st;
    int mappable;           /* a regular file, from its start: mapped, not read */
    unsigned char head[16]; /* bytes already read from fd (streams: consumed from it) */
    size_t nhead;
    void *mem;              /* an input made in memory (a decompressed file): its bytes */
    size_t memlen;          /* (fd -1; bnn_input_contents hands mem over) */
} bnn_input;

/* The whole contents of an input: a read-only mapping (regular files; registered with
 * bnn_mapped_register under the input's name) or a heap copy (streams, and files that
 * cannot be mapped). Not NUL-terminated. */
typedef struct bnn_bytes {
    const unsigned char *p;
    size_t len;
    void *map;  /* mmap base (length len), or NULL */
    void *heap; /* malloc'ed copy, or NULL */
} bnn_bytes;

/* Opens path ("-": standard input) read-only, close-on-exec, and fstats it, refusing a
 * directory: 0, or -1 with "PATH: cannot open: <reason>" in e. */
int bnn_input_open(bnn_input *in, const char *path, bnn_error *e);
/* Reads until in->nhead >= n (n <= sizeof in->head) or the end of the input: 0 or -1. */
int bnn_input_peek(bnn_input *in, size_t n, bnn_error *e);
/* Maps (regular file) or reads (anything else, at most the stream limit) the whole input
 * into *b: 0 or -1. A mapping is advised MADV_SEQUENTIAL. The input stays open. */
int bnn_input_contents(bnn_input *in, bnn_bytes *b, bnn_error *e);
void bnn_input_close(bnn_input *in);
/* An input over len bytes at mem (malloc'ed; the input owns them), named name (kept, not
 * copied): what a decompressed file is handed to the readers as. */
void bnn_input_from_memory(bnn_input *in, const char *name, void *mem, size_t len);
/* Opens a gzip file (CSV or .npy inside) or a .npz archive (numpy's zip of .npy arrays) whose
 * first bytes are in in->head (src/io/archive.c): the member(s) are decompressed into memory,
 * at most the stream limit each, and read as a table named "PATH (gzip of CSV)" etc. member:
 * the .npz array to read (NULL: "x", then "y" appended as its last columns when present). */
int bnn_table_open_gzip(bnn_table *t, bnn_input *in, bnn_error *e);
int bnn_table_open_npz(bnn_table *t, bnn_input *in, const char *member, bnn_error *e);
/* Unmaps (and unregisters) or frees b, and zeroes it. */
void bnn_bytes_free(bnn_bytes *b);

/* The stream limit: BATCHNN_STREAM_LIMIT (bytes, or a whole number with a suffix k, M or G
 * for KiB, MiB, GiB; at least 1) or 2 GiB when unset. 0, or -1 with "NAME: ..." in e. */
int bnn_stream_limit(size_t *limit, const char *name, bnn_error *e);

/* The CSV and .npy readers on an open input (bnn_table_open sniffs, then calls one). They
 * take the input's contents but do not close it. */
int bnn_csv_from_input(bnn_table *t, bnn_input *in, bnn_error *e);
int bnn_npy_from_input(bnn_table *t, bnn_input *in, bnn_error *e);

/* The samples of a public data set (src/api/data.c). */
const bnn_data *bnn_dataset_data(const bnn_dataset *d);

/* ---------------------------------------------------------------------------------------- */
/* Models (src/io/safetensors_read.c)                                                           */

/* bnn_model_load, and a note for the user in note[0..note_len) (empty when there is none):
 * today, that the tensors were named as an nn.Sequential's state_dict (0.weight, 2.weight,
 * ...) and how they were mapped to layers. The caller prints it (on stderr). */
int bnn_model_load_note(bnn_model *m, const char *path, const char *acts_fallback, char *note,
                        size_t note_len, bnn_error *e);

/* ---------------------------------------------------------------------------------------- */
/* Activation lists (src/core/arch.c)                                                           */

/* Parses s, comma-separated activation names (blanks around each ignored), into act[0..m-1];
 * with allow_one a single name applies to every layer. Returns 0; -1 when the number of
 * names (*count) does not fit m; -2 for an unknown name (*bad, *bad_len: as written, not
 * NUL-terminated). Used by --act (bnn_arch_parse) and by the model reader. */
int bnn_act_list_parse(const char *s, int m, int allow_one, bnn_act *act, int *count,
                       const char **bad, size_t *bad_len);

/* ---------------------------------------------------------------------------------------- */
/* Helpers shared by the readers and writers (src/io/ioutil.c)                                  */

/* 1 when the host stores integers and floats little-endian (the byte order of .npy '<f4',
 * safetensors and checkpoints), 0 otherwise; a compile-time constant. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BNN_HOST_LE 0
#else
#define BNN_HOST_LE 1
#endif

/* The `bytes` (1..8) bytes at p as a little-endian unsigned integer, and the reverse. */
uint64_t bnn_get_le(const void *p, int bytes);
void bnn_put_le(void *p, uint64_t v, int bytes);

/* text[0..n) for a one-line message: in double quotes, '"' and '\\' escaped with a
 * backslash, bytes outside printable ASCII as \xNN, at most maxin input bytes and what fits
 * in cap (>= 16), followed by "..." when cut. Returns out. */
const char *bnn_quote(char *out, size_t cap, const void *text, size_t n, size_t maxin);

/* A string read from a file, for printing: s itself when it is well-formed UTF-8 without
 * control characters, else bnn_quote's escaped form in out (cut to fit cap). */
const char *bnn_printable(char *out, size_t cap, const char *s);
/* Writes exactly what snprintf(out, 32, "%.9g", f) writes for a finite float32 (checked for all
 * 2^32 patterns by tests/fmt_g9_check.c), without printf; returns the length (< 32). */
int bnn_fmt_g9(char *out, float f);

/* bnn_fail with "PATH: " before the formatted message; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bnn_fail_file(bnn_error *e, const char *path, const char *fmt, ...);

/* Does path end in ".npy" (any case)? The table writer and bnn_table_open decide by it. */
int bnn_path_is_npy(const char *path);

/* Small shared helpers (src/core/model.c, src/core/clock.c). */
/* Copies n float32 parameters into dst as double; dst NULL: into a new malloc'd array (NULL
 * when out of memory). Returns dst. */
double *bnn_theta_to_double(double *dst, const float *theta, size_t n);
/* Monotonic wall time in seconds. */
double bnn_now_seconds(void);

/* ------------------------------------------------------------------------------------------ */
/* Many processes (src/dist/dist.c): every MPI call is there; without MPI, one rank.           */

typedef void (*bnn_axpy_fn)(float *y, const float *x, size_t n, float alpha);
int bnn_dist_built(void);    /* 1 when built with MPI */
int bnn_dist_launched(void); /* 1 when started by mpirun (its environment) */
/* MPI_Init_thread(FUNNELED) when launched by mpirun, else nothing: 0 or -1. */
int bnn_dist_init(bnn_error *e);
/* After bnn_dist_init, on rank 0: a note for the user (the CPU path every rank was moved to),
 * or NULL. */
const char *bnn_dist_note(void);
/* MPI_Finalize (once; nothing when MPI is not running); with BATCHNN_MPI_STATS=1 rank 0 first
 * prints the line "mpi: ranks K threads T steps N reduce_s X per_step_us Y msgs_per_step M
 * bytes_per_step B params P" to stderr. */
void bnn_dist_finalize(void);
int bnn_dist_rank(void);
int bnn_dist_size(void);
/* 1 once bnn_dist_agree has returned an error: every rank holds the same message. */
int bnn_dist_error_agreed(void);
const char *bnn_dist_library(char *buf, size_t len);
/* The shards [lo, hi) of rank r of `ranks` (this rank: bnn_dist_range), and the rank owning
 * shard s: rank r owns [floor(r S / K), floor((r + 1) S / K)). */
void bnn_dist_range_of(int shards, int ranks, int r, int *lo, int *hi);
void bnn_dist_range(int shards, int *lo, int *hi);
int bnn_dist_owner_of(int shards, int ranks, int s);
/* The reduction tree's split of [lo, hi): lo + the largest power of two < hi - lo. */
int bnn_dist_tree_mid(int lo, int hi);
/* The gradient: out = the sum of the partials p[s] = partials + s stride (n floats each;
 * this rank's shards filled) along the fixed tree, on every rank (bitwise the same for any
 * number of ranks). The partials are overwritten. */
int bnn_dist_tree_sum(float *partials, size_t stride, size_t n, int shards, bnn_axpy_fn axpy,
                      float *out, bnn_error *e);
/* The same tree walked as rank `me` of `ranks` without communication (tests, and the local
 * part of bnn_dist_tree_sum): out (when me owns shard 0) gets the root. Returns the messages
 * rank me would send. */
int bnn_dist_tree_sum_as(float *partials, size_t stride, size_t n, int shards, int ranks,
                         int me, bnn_axpy_fn axpy, float *out);
/* Point-to-point messages of one reduction over `ranks` ranks, all ranks together (without
 * the broadcast of the result): one per tree node whose halves start on different ranks. */
int bnn_dist_tree_messages(int shards, int ranks);
void bnn_dist_note_threads(int threads); /* for the statistics line */
/* 0 when no rank failed; else -1 on every rank, e holding the lowest failing rank's message
 * prefixed "rank R: " (K > 1). */
int bnn_dist_agree(int failed, bnn_error *e);
/* bnn_dist_agree at a training step, in the same one collective: *stop (when stop is not
 * NULL) becomes the largest of every rank's *stop, and so all ranks stop at the same step.
 * bnn_dist_stopped: the largest stop value agreed so far (0: none). */
int bnn_dist_agree_step(int failed, int *stop, bnn_error *e);
int bnn_dist_stopped(void);
/* Every rank stopped on a signal, together: they leave with the same status, and
 * bnn_dist_finalize waits for all (rank 0's outputs written) but skips MPI_Finalize, which
 * would wait for mpirun, then tearing the job down, until it kills the ranks. */
void bnn_dist_leave_stopped(void);
/* The error just made is every rank's, the same (it follows from values all ranks hold
 * bitwise, e.g. a divergence): printed once, by rank 0, and every rank leaves cleanly. */
void bnn_dist_same_error(void);
int bnn_dist_max_int(int v); /* the largest v of all ranks */
/* Every rank's n <= 8 values compared with rank 0's (an allgather): returns how many ranks
 * hold others (0 with one rank; -1 out of memory, this rank alone), their numbers in ranks[]
 * (at most max), rank 0's values in zero[] and the first such rank's in other[]. Every rank
 * gets the same answer. */
int bnn_dist_differ(const uint64_t *mine, int n, uint64_t *zero, uint64_t *other, int *ranks,
                    int max);
/* v[s * per .. s * per + per - 1] of every shard s to every rank (each rank gives its own). */
void bnn_dist_gather_shards(double *v, int per, int shards);
int bnn_dist_bcast(void *buf, size_t bytes, int root, bnn_error *e);
/* Rows [bounds[s], bounds[s + 1]) of each shard s, row_floats floats each, to rank 0's rows. */
int bnn_dist_gather_rows(float *rows, size_t row_floats, const size_t *bounds, int shards,
                         bnn_error *e);

#ifdef __cplusplus
}
#endif
#endif /* BNN_INTERNAL_H */
