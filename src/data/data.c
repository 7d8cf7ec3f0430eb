/*
 * data.c - a data set is n samples' inputs and targets, drawn from one table (inputs then
 * targets on each row) or two (--targets). Engines ask for chunks of samples as column-major
 * matrices; a direct float32 table is used in place (the leading dimension is its row length),
 * anything else is converted into the caller's buffers. bnn_data_chunk_borrow also uses in
 * place the whole rows a table lends (bnn_table.borrow: a windowed .npy's windows read ahead),
 * pinned until bnn_data_chunk_return; bnn_data_chunk never borrows (its callers keep no pin).
 *
 * With in_mean (--standardize, scale.c) every chunk's inputs are scaled into the caller's
 * buffer: a direct table is then copied, nin floats per sample (the memory of the buffers the
 * engines already hold; nothing per data set).
 *
 * Class labels (one target column for nout > 1 outputs) are checked once, when the data is
 * made, and expanded to one-hot rows chunk by chunk in the caller's target buffer: never a
 * whole n x nout copy.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/bnn_data.h"

/* Every label of column ycol of yt is an integer in 0..k-1, or an error naming the row. */
static int check_labels(const bnn_table *yt, size_t ycol, int64_t k, bnn_error *e)
{
    float buf[4096];
    for (size_t r0 = 0; r0 < yt->rows; r0 += 4096) {
        const size_t cnt = yt->rows - r0 < 4096 ? yt->rows - r0 : 4096;
        if (bnn_table_read(yt, r0, cnt, ycol, 1, buf, 1, e) != 0)
            return -1;
        for (size_t i = 0; i < cnt; i++) {
            const float v = buf[i];
            if (!(v >= 0.0f && v < (float)k && v == floorf(v)))
                return bnn_fail(e, "%s: row %zu: target %.9g is not a class label (an integer "
                                   "in 0..%lld for %lld outputs)", yt->name, r0 + i + 1,
                                (double)v, (long long)(k - 1), (long long)k);
        }
    }
    return 0;
}

int bnn_data_make(bnn_data *d, const bnn_table *data, const bnn_table *targets, int64_t nin,
                  int64_t nout, bnn_error *e)
{
    memset(d, 0, sizeof *d);
    if (nin < 1 || nout < 1)
        return bnn_fail(e, "data: widths %lld -> %lld are invalid", (long long)nin,
                        (long long)nout);
    if (data->rows == 0)
        return bnn_fail(e, "%s: no samples", data->name);
    if (targets) {
        if (data->cols != (size_t)nin)
            return bnn_fail(e, "%s: %zu columns, but the model takes %lld inputs (targets come "
                               "from %s)", data->name, data->cols, (long long)nin,
                            targets->name);
        d->labels = targets->cols == 1 && nout > 1;
        if (targets->cols != (size_t)nout && !d->labels)
            return bnn_fail(e, "%s: %zu columns, but the model has %lld outputs%s",
                            targets->name, targets->cols, (long long)nout,
                            nout > 1 ? " (or 1 column of class labels)" : "");
        if (targets->rows != data->rows)
            return bnn_fail(e, "%s: %zu rows, but %s has %zu samples", targets->name,
                            targets->rows, data->name, data->rows);
        d->yt = targets;
        d->ycol = 0;
    } else if (data->cols == (size_t)nin) {
        d->yt = NULL; /* inputs only (predict) */
    } else {
        d->labels = nout > 1 && data->cols == (size_t)nin + 1;
        if (data->cols != (size_t)(nin + nout) && !d->labels) {
            char alt[64] = ""; /* the single label column that works too */
            if (nout > 1)
                snprintf(alt, sizeof alt, ", or %lld with one label column",
                         (long long)(nin + 1));
            return bnn_fail(e, "%s: %zu columns, but the model needs %lld inputs + %lld "
                               "targets = %lld per row%s", data->name, data->cols,
                            (long long)nin, (long long)nout, (long long)(nin + nout), alt);
        }
        d->yt = data;
        d->ycol = (size_t)nin;
    }
    d->xt = data;
    d->xcol = 0;
    d->n = data->rows;
    d->nin = nin;
    d->nout = nout;
    if (d->labels && check_labels(d->yt, d->ycol, nout, e) != 0)
        return -1;
    return 0;
}

/* One-hot targets of samples [start, start + count) of a view with labels, into ybuf
 * (nout x count): the labels are read into its last count floats first, then each row is
 * expanded in order (row i ends before label i + 1 starts, so nothing unread is overwritten). */
static int labels_onehot(const bnn_data *d, size_t start, size_t count, float *ybuf,
                         bnn_error *e)
{
    const size_t k = (size_t)d->nout;
    float *lab = ybuf + (k - 1) * count;
    const bnn_table *t = d->yt;
    if (!d->perm && !d->subset && !t->f32) {
        if (bnn_table_read(t, d->row0 + start, count, d->ycol, 1, lab, 1, e) != 0)
            return -1;
    } else {
        for (size_t i = 0; i < count; i++) {
            const size_t row = d->row0 + bnn_shuffle_row(d, start + i);
            if (t->f32)
                lab[i] = t->f32[row * t->ld + d->ycol];
            else if (bnn_table_read(t, row, 1, d->ycol, 1, lab + i, 1, e) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const float v = lab[i];
        if (!(v >= 0.0f && v < (float)k)) /* checked when the data was made */
            return bnn_fail(e, "%s: target %.9g is not a class label", t->name, (double)v);
        const size_t c = (size_t)v;
        float *row = ybuf + i * k;
        for (size_t j = 0; j < k; j++)
            row[j] = j == c ? 1.0f : 0.0f;
    }
    return 0;
}

/* Rows of xbuf are nin + nout floats apart, whatever fills them: a piece of a batch then
 * lies at xbuf + c0 (nin + nout) with the same leading dimension as every other piece
 * (fast.c's split batches read a batch's inputs as one matrix). */
static size_t xbuf_ld(const bnn_data *d)
{
    return (size_t)d->nin + (size_t)d->nout;
}

/* Inputs and targets of one table, side by side: read together, as whole rows. */
static int rows_whole(const bnn_data *d)
{
    return d->yt == d->xt && !d->labels && d->ycol == d->xcol + (size_t)d->nin;
}

static int part(const bnn_table *t, size_t col, size_t width, size_t start, size_t count,
                float *buf, size_t ldbuf, const float **p, size_t *ld, bnn_error *e)
{
    if (t->f32) {
        *p = t->f32 + start * t->ld + col;
        *ld = t->ld;
        return 0;
    }
    if (bnn_table_read(t, start, count, col, width, buf, ldbuf, e) != 0)
        return -1;
    *p = buf;
    *ld = ldbuf;
    return 0;
}

/* A shuffled view's chunk, gathered row by row into the buffers: the rows of a piece of
 * the chunk are computed once, then its inputs and targets copied. */
#define GATHER_PIECE 256

static int gather_rows(const bnn_table *t, size_t col, size_t width, const size_t *rows,
                       size_t count, float *buf, size_t ldbuf, bnn_error *e)
{
    for (size_t i = 0; i < count; i++) {
        float *out = buf + i * ldbuf;
        if (t->f32)
            memcpy(out, t->f32 + rows[i] * t->ld + col, width * sizeof(float));
        else if (bnn_table_read(t, rows[i], 1, col, width, out, width, e) != 0)
            return -1;
    }
    return 0;
}

static int gather(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                  bnn_error *e)
{
    size_t rows[GATHER_PIECE];
    const size_t nin = (size_t)d->nin, nout = (size_t)d->nout, ld = xbuf_ld(d);
    const int whole = rows_whole(d);
    for (size_t s = 0; s < count; s += GATHER_PIECE) {
        const size_t k = count - s < GATHER_PIECE ? count - s : GATHER_PIECE;
        bnn_shuffle_rows(d, start + s, k, rows);
        for (size_t i = 0; i < k; i++)
            rows[i] += d->row0;
        if (gather_rows(d->xt, d->xcol, whole ? nin + nout : nin, rows, k, xbuf + s * ld, ld,
                        e) != 0)
            return -1;
        if (d->yt && !d->labels && !whole &&
            gather_rows(d->yt, d->ycol, nout, rows, k, ybuf + s * nout, nout, e) != 0)
            return -1;
    }
    return 0;
}

static int chunk_raw(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                     int lend, bnn_chunk *c, bnn_error *e)
{
    c->lender = NULL;
    c->pin = NULL;
    if (start > d->n || count > d->n - start)
        return bnn_fail(e, "data: samples %zu..%zu are outside the %zu samples", start,
                        start + count, d->n);
    const size_t nin = (size_t)d->nin, nout = (size_t)d->nout, ld = xbuf_ld(d);
    const int whole = d->yt && rows_whole(d);
    c->count = count;
    c->ldy = nout;
    c->y = NULL;
    if (d->perm || d->subset) { /* a shuffled or split view: row by row */
        if (gather(d, start, count, xbuf, ybuf, e) != 0 ||
            (d->yt && d->labels && labels_onehot(d, start, count, ybuf, e) != 0))
            return -1;
        c->x = xbuf;
        c->ldx = ld;
        if (d->yt) {
            c->y = whole ? xbuf + nin : ybuf;
            c->ldy = whole ? ld : nout;
        }
        return 0;
    }
    if (d->labels) {
        if (part(d->xt, d->xcol, nin, start + d->row0, count, xbuf, ld, &c->x, &c->ldx, e) != 0 ||
            labels_onehot(d, start, count, ybuf, e) != 0)
            return -1;
        c->y = ybuf;
        return 0;
    }
    start += d->row0;
    if (whole && !d->xt->f32 && lend && d->xt->borrow) { /* whole rows in place, pinned */
        const float *p = d->xt->borrow(d->xt, start, count, &c->pin);
        if (p) {
            c->lender = d->xt;
            c->x = p;
            c->y = p + nin;
            c->ldx = c->ldy = ld; /* the table's row: nin + nout (bnn_data_make) */
            return 0;
        }
    }
    if (whole && !d->xt->f32) { /* inputs and targets in one read (the narrow kernels' layout) */
        if (bnn_table_read(d->xt, start, count, d->xcol, nin + nout, xbuf, ld, e) != 0)
            return -1;
        c->x = xbuf;
        c->y = xbuf + nin;
        c->ldx = c->ldy = ld;
        return 0;
    }
    if (part(d->xt, d->xcol, nin, start, count, xbuf, ld, &c->x, &c->ldx, e) != 0)
        return -1;
    if (d->yt && part(d->yt, d->ycol, nout, start, count, ybuf, nout, &c->y, &c->ldy, e))
        return -1;
    return 0;
}

/* --standardize: the chunk's inputs as (x - mean) / std, in xbuf (rows nin + nout apart, as
 * every other piece of a batch): a direct table's rows are copied there first (its targets
 * stay in place), the buffer's are scaled where they are. */
static int chunk_scaled(const bnn_data *d, size_t start, size_t count, float *xbuf,
                        float *ybuf, int lend, bnn_chunk *c, bnn_error *e)
{
    if (chunk_raw(d, start, count, xbuf, ybuf, lend, c, e) != 0)
        return -1;
    if (!d->in_mean)
        return 0;
    const size_t nin = (size_t)d->nin, ld = xbuf_ld(d);
    for (size_t i = 0; i < count; i++) {
        const float *src = c->x + i * c->ldx;
        float *dst = xbuf + i * ld;
        for (size_t j = 0; j < nin; j++)
            dst[j] = (src[j] - d->in_mean[j]) / d->in_std[j];
    }
    c->x = xbuf;
    c->ldx = ld;
    return 0;
}

int bnn_data_chunk(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                   bnn_chunk *c, bnn_error *e)
{
    return chunk_scaled(d, start, count, xbuf, ybuf, 0, c, e);
}

int bnn_data_chunk_borrow(const bnn_data *d, size_t start, size_t count, float *xbuf,
                          float *ybuf, bnn_chunk *c, bnn_error *e)
{
    return chunk_scaled(d, start, count, xbuf, ybuf, 1, c, e);
}

void bnn_data_chunk_return(bnn_chunk *c)
{
    if (c->lender && c->pin)
        c->lender->unpin(c->lender, c->pin);
    c->lender = NULL;
    c->pin = NULL;
}

int bnn_data_sample(const bnn_data *d, size_t i, double *x, double *y, bnn_error *e)
{
    float buf[256];
    size_t nin = (size_t)d->nin, nout = (size_t)d->nout;
    i = d->row0 + bnn_shuffle_row(d, i);
    for (size_t c0 = 0; c0 < nin; c0 += 256) {
        size_t k = nin - c0 < 256 ? nin - c0 : 256;
        if (bnn_table_read(d->xt, i, 1, d->xcol + c0, k, buf, k, e) != 0)
            return -1;
        for (size_t j = 0; j < k; j++)
            x[c0 + j] = d->in_mean ? ((double)buf[j] - d->in_mean[c0 + j]) / d->in_std[c0 + j]
                                   : buf[j];
    }
    if (!y)
        return 0;
    if (!d->yt)
        return bnn_fail(e, "data: no targets");
    if (d->labels) {
        if (bnn_table_read(d->yt, i, 1, d->ycol, 1, buf, 1, e) != 0)
            return -1;
        for (size_t j = 0; j < nout; j++)
            y[j] = (double)j == (double)buf[0] ? 1.0 : 0.0;
        return 0;
    }
    for (size_t c0 = 0; c0 < nout; c0 += 256) {
        size_t k = nout - c0 < 256 ? nout - c0 : 256;
        if (bnn_table_read(d->yt, i, 1, d->ycol + c0, k, buf, k, e) != 0)
            return -1;
        for (size_t j = 0; j < k; j++)
            y[c0 + j] = buf[j];
    }
    return 0;
}
