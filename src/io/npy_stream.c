/*
 * npy_stream.c - the .npy reader on a pull source (bnn_npy_from_pull): a gzip's or an .npz
 * member's decompressed bytes, never held whole. The preamble and the header come from the
 * first bytes; then the data is read a chunk at a time and converted straight into an owned
 * float32 table (direct form, row-major: a Fortran-order array is transposed on the way),
 * the conversions of the mapped reader (npy.c): float64 rounded to float32, integers as
 * float32 (labels).
 *
 * The rules and messages are those of npy.c (shared through npy_format.c), checked in the
 * same order: preamble, header, dtype, shape, then the data's length (truncated, or extra
 * bytes), then the first element that is not finite (or, for float64, not a float32) in
 * file order; the table is at most limit bytes (checked from the header, before anything
 * is allocated), and extra bytes after the data are counted up to limit only (a source of
 * endless bytes stops there).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnn_io.h"
#include "npy_format.h"

#define NPY_CHUNK ((size_t)1 << 20) /* bytes of data read at a time */

/* Reads exactly n bytes (less only at the end of the source): the count, or -1. */
static long long pull_full(bnn_pull *src, unsigned char *buf, size_t n, bnn_error *e)
{
    size_t got = 0;
    while (got < n) {
        long long r = src->read(src, buf + got, n - got, e);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* The preamble and the header (*h) from the first bytes; *doff := the data's offset. */
static int stream_header(bnn_pull *src, const char *name, size_t limit, npy_header *h,
                         size_t *doff, bnn_error *e)
{
    unsigned char pre[12];
    long long got = pull_full(src, pre, sizeof pre, e);
    if (got < 0)
        return -1;
    size_t have = (size_t)got, hoff, hlen;
    if (have < NPY_MAGIC_LEN)
        return bnn_fail(e, "%s: not a .npy file (%zu bytes, too short for the magic)", name,
                        have);
    /* a short file is checked as it is; otherwise its size is not known yet: the header's
     * end is checked as it is read */
    const size_t size = have < sizeof pre ? have : SIZE_MAX / 2;
    if (npy_read_preamble(pre, size, name, &hoff, &hlen, e) != 0)
        return -1;
    if (hlen > limit)
        return bnn_fail(e, "%s: header of %zu bytes, more than the limit for decompressed "
                           "data (%zu); set %s to raise it", name, hlen, limit,
                        BNN_STREAM_LIMIT_ENV);
    char *hb = malloc(hlen ? hlen : 1);
    if (!hb)
        return bnn_fail(e, "%s: out of memory for a header of %zu bytes", name, hlen);
    size_t before = have - hoff; /* header bytes among the preamble's (version 1.0: 2) */
    memcpy(hb, pre + hoff, before < hlen ? before : hlen);
    got = before < hlen ? pull_full(src, (unsigned char *)hb + before, hlen - before, e) : 0;
    int rc = -1;
    if (got < 0)
        goto out;
    if (before + (size_t)got < hlen) {
        size_t size = hoff + before + (size_t)got;
        bnn_fail(e, "%s: truncated header: header length %zu runs past the end of the file "
                    "(%zu bytes)", name, hlen, size);
        goto out;
    }
    if (bnn_npy_parse_header(hb, hlen, h) != 0) {
        char ex[200];
        size_t exlen = hlen; /* without the padding */
        while (exlen && (hb[exlen - 1] == ' ' || hb[exlen - 1] == '\n'))
            exlen--;
        bnn_quote(ex, sizeof ex, hb, exlen, sizeof ex);
        bnn_fail(e, "%s: bad header (%s): %s", name, h->why, ex);
        goto out;
    }
    *doff = hoff + hlen; /* a header this short never parses: no data byte was read */
    rc = 0;
out:
    free(hb);
    return rc;
}

typedef struct npy_sink {
    float *out;
    size_t rows, cols, isz, n;
    int fortran;
    char kind;
    size_t bad; /* the first element not finite (n: none) */
    double badv;
} npy_sink;

/* Elements [at, at + k) of the data, at p, into the table. */
static void sink_put(npy_sink *s, const unsigned char *p, size_t at, size_t k)
{
    if (s->kind == 'f' && s->bad == s->n) {
        size_t rel = s->isz == 4 ? bnn_npy_first_bad_f32(p, k) : bnn_npy_first_bad_f64(p, k);
        if (rel < k) {
            s->bad = at + rel;
            s->badv = s->isz == 4 ? (double)load_f32(p + rel * 4) : load_f64(p + rel * 8);
        }
    }
    if (!s->fortran && BNN_HOST_LE && s->kind == 'f' && s->isz == 4) {
        memcpy(s->out + at, p, k * sizeof(float));
        return;
    }
    for (size_t i = 0; i < k; i++, p += s->isz) {
        const size_t j = at + i;
        const size_t to = s->fortran ? (j % s->rows) * s->cols + j / s->rows : j;
        s->out[to] = s->kind != 'f' ? npy_load_int(p, s->isz, s->kind)
                   : s->isz == 8    ? (float)load_f64(p)
                                    : load_f32(p);
    }
}

/* The data: n elements into s, then the end of the source. */
static int stream_data(bnn_pull *src, const char *name, size_t limit, npy_sink *s,
                       bnn_error *e)
{
    const size_t step = NPY_CHUNK / s->isz * s->isz, need = s->n * s->isz;
    unsigned char *buf = malloc(step);
    if (!buf)
        return bnn_fail(e, "%s: out of memory", name);
    size_t have = 0, extra = 0;
    int rc = -1;
    while (have < need) {
        size_t want = need - have < step ? need - have : step;
        long long got = pull_full(src, buf, want, e);
        if (got < 0)
            goto out;
        size_t k = (size_t)got / s->isz;
        sink_put(s, buf, have / s->isz, k);
        have += (size_t)got;
        if ((size_t)got < want) {
            bnn_fail(e, "%s: truncated: expected %zu bytes of data, found %zu", name, need, have);
            goto out;
        }
    }
    for (;;) { /* anything after the data is an error: counted, up to the limit */
        long long got = pull_full(src, buf, step, e);
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        extra += (size_t)got;
        if (extra > limit) {
            bnn_fail(e, "%s: more than %zu bytes after the data, the limit for decompressed "
                        "data; set %s to raise it", name, limit, BNN_STREAM_LIMIT_ENV);
            goto out;
        }
    }
    if (extra)
        bnn_fail(e, "%s: expected %zu bytes of data, found %zu (%zu extra bytes at the end)",
                 name, need, need + extra, extra);
    else
        rc = 0;
out:
    free(buf);
    return rc;
}

int bnn_npy_from_pull(bnn_table *t, bnn_pull *src, const char *name, size_t limit,
                      bnn_error *e)
{
    memset(t, 0, sizeof *t);
    npy_header h;
    size_t doff = 0, isz = 0;
    char kind = 'f';
    uint64_t rows = 0, cols = 0;
    if (stream_header(src, name, limit, &h, &doff, e) != 0 ||
        npy_check_dtype(h.descr, name, &isz, &kind, e) != 0 ||
        npy_check_shape(&h, isz, name, &rows, &cols, e) != 0)
        return -1;
    npy_sink s = {.rows = (size_t)rows, .cols = (size_t)cols, .isz = isz, .kind = kind};
    s.n = s.rows * s.cols;
    s.bad = s.n;
    s.fortran = h.fortran && rows > 1 && cols > 1; /* a vector is the same in both orders */
    if (s.n > limit / sizeof(float))
        return bnn_fail(e, "%s: %zu bytes of values (%zu x %zu float32), more than the limit "
                           "for decompressed data (%zu); set %s to raise it", name,
                        s.n * sizeof(float), s.rows, s.cols, limit, BNN_STREAM_LIMIT_ENV);
    s.out = bnn_alloc(s.n, sizeof(float));
    if (!s.out)
        return bnn_fail(e, "%s: out of memory for %zu x %zu values", name, s.rows, s.cols);
    if (stream_data(src, name, limit, &s, e) != 0 ||
        (s.bad < s.n && npy_bad_element(&h, s.rows, s.cols, s.bad, s.badv, name, e))) {
        bnn_free(s.out);
        return -1;
    }
    bnn_table_own_f32(t, s.out, s.rows, s.cols);
    snprintf(t->name, sizeof t->name, "%s", name);
    return 0;
}
