/*
 * split.c - the random validation split (--val-split F) and the classes of a data set.
 *
 * The split, precisely (so that another program can reproduce it):
 *   P = the permutation of n drawn as src/data/shuffle.c's full permutation with
 *       (seed, epoch) = (--seed, 2^64 - 1) (an epoch no run reaches: other than any
 *       epoch's shuffle);
 *   nval = round(F n) (halves up); when every target row is a class (a label column, or
 *       one-hot rows), class c of n_c samples gets q_c = floor(F n_c) validation samples plus
 *       one more for the nval - sum floor(F n_c) classes of largest remainder F n_c - q_c
 *       (ties: the lower class); otherwise one quota q = nval for all;
 *   walking k = 0..n-1, sample P[k] goes to validation while its class's quota is not full;
 *   both parts keep the file's row order.
 * It depends on the seed, F, n and the targets only: the same for any --threads and ranks.
 * Memory: 4 bytes per sample for the index list (and 4 more while splitting), so it is
 * offered up to BNN_SHUFFLE_FULL_MAX = 2^26 samples (256 MB); larger sets use tail:F or --val.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/bnn_data.h"

#define CLASS_CHUNK 1024

/* The class of one target row of k values, or -1 when it is not one-hot. */
static int64_t row_class(const float *y, size_t k)
{
    int64_t c = -1;
    for (size_t j = 0; j < k; j++) {
        if (y[j] == 1.0f && c < 0)
            c = (int64_t)j;
        else if (y[j] != 0.0f)
            return -1;
    }
    return c;
}

int bnn_data_classes(const bnn_data *d, uint32_t *cls, size_t *counts, int *onehot,
                     bnn_error *e)
{
    const size_t nout = (size_t)d->nout;
    *onehot = 0;
    if (!d->yt)
        return 0;
    memset(counts, 0, nout * sizeof *counts);
    float *xbuf = malloc(CLASS_CHUNK * (size_t)(d->nin + d->nout) * sizeof *xbuf);
    float *ybuf = malloc(CLASS_CHUNK * nout * sizeof *ybuf);
    int rc = xbuf && ybuf ? 0 : bnn_fail(e, "validation split: out of memory");
    int all = nout > 1;
    for (size_t s = 0; rc == 0 && all && s < d->n; s += CLASS_CHUNK) {
        const size_t cnt = d->n - s < CLASS_CHUNK ? d->n - s : CLASS_CHUNK;
        bnn_chunk c;
        if (bnn_data_chunk(d, s, cnt, xbuf, ybuf, &c, e) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < cnt && all; i++) {
            const int64_t k = row_class(c.y + i * c.ldy, nout);
            if (k < 0) {
                all = 0;
                break;
            }
            counts[k]++;
            if (cls)
                cls[s + i] = (uint32_t)k;
        }
    }
    free(xbuf);
    free(ybuf);
    *onehot = rc == 0 && all;
    return rc;
}

/* Quotas q[c] of the classes (largest remainders, ties to the lower class). */
static void quotas(const size_t *counts, size_t k, double frac, size_t nval, size_t *q)
{
    size_t given = 0;
    for (size_t c = 0; c < k; c++) {
        q[c] = (size_t)floor(frac * (double)counts[c]);
        if (q[c] > counts[c])
            q[c] = counts[c];
        given += q[c];
    }
    while (given < nval) { /* one more for the largest remainder not yet served */
        size_t best = k;
        double br = -1.0;
        for (size_t c = 0; c < k; c++) {
            const double r = frac * (double)counts[c] - (double)q[c];
            if (q[c] < counts[c] && r > 0.0 && r > br) {
                br = r;
                best = c;
            }
        }
        if (best == k)
            break;
        q[best]++;
        given++;
    }
}

int bnn_split_random(const bnn_data *d, double frac, uint64_t seed, bnn_data *train,
                     bnn_data *val, uint32_t **idx, int *stratified, bnn_error *e)
{
    const size_t n = d->n, k = d->yt && d->nout > 1 ? (size_t)d->nout : 1;
    *idx = NULL;
    *stratified = 0;
    if (n > BNN_SHUFFLE_FULL_MAX) /* its index list would pass 256 MB (and twice that while
                                    * splitting): the memory of billions-of-samples runs stays flat */
        return bnn_fail(e, "validation split: %zu samples are more than the 2^26 a random split "
                           "holds (4 bytes per sample); use tail:F (the last rows) or a separate "
                           "validation file", n);
    const size_t nval = (size_t)(frac * (double)n + 0.5);
    if (nval < 1 || nval >= n)
        return bnn_fail(e, "validation split: %g of %zu samples leaves %zu for validation and "
                           "%zu for training (each needs at least 1)", frac, n, nval, n - nval);
    uint32_t *perm = malloc(n * sizeof *perm), *cls = calloc(n, sizeof *cls);
    size_t *counts = calloc(k, sizeof *counts), *q = calloc(k, sizeof *q);
    int rc = perm && cls && counts && q ? 0 : bnn_fail(e, "validation split: out of memory "
                                                          "for %zu samples", n);
    int onehot = 0;
    if (rc == 0 && k > 1)
        rc = bnn_data_classes(d, cls, counts, &onehot, e);
    if (rc == 0 && !onehot) { /* one class: a plain random subset */
        memset(cls, 0, n * sizeof *cls);
        counts[0] = n;
    }
    if (rc == 0)
        rc = bnn_shuffle_perm(perm, n, seed, UINT64_MAX, e);
    if (rc == 0) {
        quotas(counts, onehot ? k : 1, frac, nval, q);
        for (size_t i = 0; i < n; i++) { /* cls[s] becomes 1 for validation */
            const uint32_t s = perm[i], c = cls[s];
            cls[s] = q[c] > 0;
            if (q[c] > 0)
                q[c]--;
        }
        size_t nt = 0, nv = n - nval;
        for (size_t s = 0; s < n; s++) /* training rows first, then validation rows */
            perm[cls[s] ? nv++ : nt++] = (uint32_t)s;
        *train = *d;
        *val = *d;
        train->subset = perm;
        train->n = n - nval;
        val->subset = perm + (n - nval);
        val->n = nval;
        *idx = perm;
        *stratified = onehot;
        perm = NULL;
    }
    free(perm);
    free(cls);
    free(counts);
    free(q);
    return rc;
}
