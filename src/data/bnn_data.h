/* bnn_data.h - the data-view layer (src/data/): the samples an engine reads (bnn_data: inputs
 * and targets drawn from one or two io tables), their chunks, and the views of a data set:
 * a shuffled order (shuffle.c), a validation split's subsets (split.c), the inputs'
 * standardisation (scale.c). Above io, below dist and the engines, which read samples
 * through it; includes nothing above.
 */
#ifndef BNN_DATA_H
#define BNN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "io/bnn_io.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Data: inputs and targets of n samples, drawn from one or two tables.                        */

typedef struct bnn_data { /* declared in batchnn.h, for bnn_train_opts.val */
    size_t n;
    int64_t nin, nout;
    const bnn_table *xt; /* inputs are columns [xcol, xcol + nin) of xt */
    size_t xcol;
    const bnn_table *yt; /* targets are columns [ycol, ycol + nout) of yt; NULL: no targets */
    size_t ycol;
    /* A view (src/data/shuffle.c): sample i of the view is row row0 + (perm ? perm[i] : i) of the
     * tables. bnn_data_make sets row0 = 0, perm = NULL. With perm, chunks are gathered into
     * the caller's buffers. */
    size_t row0;
    const uint32_t *perm;
    /* With perm_blocked, perm is the order of blocks of BNN_SHUFFLE_BLOCK samples and each
     * block is permuted by a keyed bijection (src/data/shuffle.c): shuffling very large sets. */
    int perm_blocked;
    uint64_t perm_key;
    /* A subset (src/data/split.c, --val-split): with subset, sample i of the view (after any
     * perm) is row row0 + subset[i] of the tables; a shuffle permutes the subset's n entries. */
    const uint32_t *subset;
    /* Input standardisation (src/data/scale.c), or NULL: chunks and samples give
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
    const bnn_table *lender; /* bnn_data_chunk_borrow: the table whose rows x and y are */
    void *pin;               /* (lent in place, pin to give back), else NULL */
} bnn_chunk;
int bnn_data_chunk(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                   bnn_chunk *c, bnn_error *e);
/* The same, except that whole rows a table lends (bnn_table.borrow: a windowed .npy's
 * windows read ahead) are used in place instead of copied into xbuf, as a direct table's
 * are: the chunk then pins them until bnn_data_chunk_return(c), to call once done with its
 * x and y (a no-op for a chunk that borrowed nothing). */
int bnn_data_chunk_borrow(const bnn_data *d, size_t start, size_t count, float *xbuf,
                          float *ybuf, bnn_chunk *c, bnn_error *e);
void bnn_data_chunk_return(bnn_chunk *c);
/* One sample in double precision (x: nin values, y: nout values or NULL). */
int bnn_data_sample(const bnn_data *d, size_t i, double *x, double *y, bnn_error *e);

/* Shuffling (src/data/shuffle.c): the permutation of n samples for an epoch (0-based), from the
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

/* Input standardisation (src/data/scale.c): per-input mean and standard deviation (population,
 * 1/n) of the inputs of d, from one pass in blocks of BNN_SCALE_BLOCK samples in index order,
 * each block's mean and squared deviations in double combined in order (Chan et al.): the
 * same for any threads and ranks. A constant input gets std 1. mean and std: d->nin each. */
#define BNN_SCALE_BLOCK 4096
int bnn_data_scale_stats(const bnn_data *d, float *mean, float *std, bnn_error *e);

/* Validation split (src/data/split.c, README "Validation, early stopping"). The class of
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

#ifdef __cplusplus
}
#endif
#endif /* BNN_DATA_H */
