/*
 * data.c - a data set is n samples' inputs and targets, drawn from one table (inputs then
 * targets on each row) or two (--targets). Engines ask for chunks of samples as column-major
 * matrices; a direct float32 table is used in place (the leading dimension is its row length),
 * anything else is converted into the caller's buffers.
 */
#include <string.h>

#include "batchnn.h"

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
        if (targets->cols != (size_t)nout)
            return bnn_fail(e, "%s: %zu columns, but the model has %lld outputs",
                            targets->name, targets->cols, (long long)nout);
        if (targets->rows != data->rows)
            return bnn_fail(e, "%s: %zu rows, but %s has %zu samples", targets->name,
                            targets->rows, data->name, data->rows);
        d->yt = targets;
        d->ycol = 0;
    } else if (data->cols == (size_t)nin) {
        d->yt = NULL; /* inputs only (predict) */
    } else {
        if (data->cols != (size_t)(nin + nout))
            return bnn_fail(e, "%s: %zu columns, but the model needs %lld inputs + %lld "
                               "targets = %lld per row", data->name, data->cols,
                            (long long)nin, (long long)nout, (long long)(nin + nout));
        d->yt = data;
        d->ycol = (size_t)nin;
    }
    d->xt = data;
    d->xcol = 0;
    d->n = data->rows;
    d->nin = nin;
    d->nout = nout;
    return 0;
}

static int part(const bnn_table *t, size_t col, size_t width, size_t start, size_t count,
                float *buf, const float **p, size_t *ld, bnn_error *e)
{
    if (t->f32) {
        *p = t->f32 + start * t->ld + col;
        *ld = t->ld;
        return 0;
    }
    if (bnn_table_read(t, start, count, col, width, buf, width, e) != 0)
        return -1;
    *p = buf;
    *ld = width;
    return 0;
}

/* A permuted view's chunk, gathered row by row into the buffers. */
static int gather(const bnn_table *t, size_t col, size_t width, const bnn_data *d, size_t start,
                  size_t count, float *buf, bnn_error *e)
{
    for (size_t i = 0; i < count; i++) {
        const size_t row = d->row0 + d->perm[start + i];
        float *out = buf + i * width;
        if (t->f32) {
            memcpy(out, t->f32 + row * t->ld + col, width * sizeof(float));
        } else if (bnn_table_read(t, row, 1, col, width, out, width, e) != 0) {
            return -1;
        }
    }
    return 0;
}

int bnn_data_chunk(const bnn_data *d, size_t start, size_t count, float *xbuf, float *ybuf,
                   bnn_chunk *c, bnn_error *e)
{
    if (start > d->n || count > d->n - start)
        return bnn_fail(e, "data: samples %zu..%zu are outside the %zu samples", start,
                        start + count, d->n);
    c->count = count;
    if (d->perm) {
        if (gather(d->xt, d->xcol, (size_t)d->nin, d, start, count, xbuf, e) != 0)
            return -1;
        c->x = xbuf;
        c->ldx = (size_t)d->nin;
        c->y = NULL;
        c->ldy = (size_t)d->nout;
        if (d->yt) {
            if (gather(d->yt, d->ycol, (size_t)d->nout, d, start, count, ybuf, e) != 0)
                return -1;
            c->y = ybuf;
        }
        return 0;
    }
    start += d->row0;
    if (part(d->xt, d->xcol, (size_t)d->nin, start, count, xbuf, &c->x, &c->ldx, e) != 0)
        return -1;
    c->y = NULL;
    c->ldy = (size_t)d->nout;
    if (d->yt && part(d->yt, d->ycol, (size_t)d->nout, start, count, ybuf, &c->y, &c->ldy, e))
        return -1;
    return 0;
}

int bnn_data_sample(const bnn_data *d, size_t i, double *x, double *y, bnn_error *e)
{
    float buf[256];
    size_t nin = (size_t)d->nin, nout = (size_t)d->nout;
    i = d->row0 + (d->perm ? d->perm[i] : i);
    for (size_t c0 = 0; c0 < nin; c0 += 256) {
        size_t k = nin - c0 < 256 ? nin - c0 : 256;
        if (bnn_table_read(d->xt, i, 1, d->xcol + c0, k, buf, k, e) != 0)
            return -1;
        for (size_t j = 0; j < k; j++)
            x[c0 + j] = buf[j];
    }
    if (!y)
        return 0;
    if (!d->yt)
        return bnn_fail(e, "data: no targets");
    for (size_t c0 = 0; c0 < nout; c0 += 256) {
        size_t k = nout - c0 < 256 ? nout - c0 : 256;
        if (bnn_table_read(d->yt, i, 1, d->ycol + c0, k, buf, k, e) != 0)
            return -1;
        for (size_t j = 0; j < k; j++)
            y[c0 + j] = buf[j];
    }
    return 0;
}
