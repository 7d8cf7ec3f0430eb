/*
 * archive.c - data files that hold another format: gzip (a CSV or a .npy inside, through
 * zlib) and .npz (numpy's zip of .npy arrays, stored or deflated, through libzip).
 *
 * Rules:
 *   - Streamed: nothing decompressed is ever held whole. A gzip is inflated a chunk at a
 *     time straight into the CSV reader (bnn_csv_from_pull: the text parsed chunk by chunk,
 *     the partial last line carried over) or the .npy reader (bnn_npy_from_pull: the header
 *     from the first bytes, then the data converted straight into the float32 table); an
 *     .npz member likewise through zip_fread. One reader per format, whatever wraps it.
 *   - What is bounded, by the stream limit (BATCHNN_STREAM_LIMIT, default 2 GiB): the table
 *     made from each decompressed file (4 bytes per value: a gzip's, each .npz array's), a
 *     CSV line carried from one chunk to the next, a .npy header, and the bytes after a
 *     .npy's data; so a small bomb cannot exhaust memory, while decompressed text larger
 *     than the limit is read when its table fits. The compressed bytes: a regular file is
 *     mapped; a stream (pipe, standard input) is read as it comes, at most the stream limit
 *     (bnn_pull_input); an .npz is read whole (mapped, or a stream at most the limit)
 *     because libzip needs its directory at the end.
 *   - The format is sniffed from the bytes (gzip 1f 8b, zip "PK\3\4", npy "\x93NUMPY"; a
 *     gzip's content from its first decompressed bytes); every message names it:
 *     "d.csv.gz (gzip of CSV):2: ...", "f.npz:x (npz member x.npy): ...", and inflation's
 *     own "d.csv.gz (gzip): ...". An error in the text can be reported before one later in
 *     the compressed stream (the text is parsed as it comes).
 *   - A gzip file may hold several members (concatenated gzip files: one stream); anything
 *     else after the last member, a truncated stream or a bad CRC is an error.
 *   - .npz: libzip rather than minizip because it reads an archive from memory (a pipe or
 *     standard input has no seekable file under it) and checks every member's CRC itself.
 *     Without a member name, array x is the inputs and y (when present) is appended as the
 *     last column(s): the row layout of a CSV (inputs then targets, or a class label).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <zlib.h>

#include "io/bnn_io.h"

/* gzip -------------------------------------------------------------------------------------- */

/* The inflater as a pull source: compressed bytes from raw (a chunk at a time), decompressed
 * bytes handed out; the first bytes can be peeked (to tell a .npy from a CSV). */
typedef struct gz_src {
    z_stream z;
    bnn_pull *raw;
    const char *name; /* "PATH (gzip)": inflation's messages */
    size_t total;     /* compressed bytes read */
    int raw_eof, done;
    unsigned char head[8];
    size_t nhead, hpos;
    unsigned char in[(size_t)1 << 16];
} gz_src;

/* More compressed bytes after the unread ones, until there are at least want (or the end). */
static int gz_refill(gz_src *g, size_t want, bnn_error *e)
{
    while (g->z.avail_in < want && !g->raw_eof) {
        memmove(g->in, g->z.next_in, g->z.avail_in);
        g->z.next_in = g->in;
        long long r = g->raw->read(g->raw, g->in + g->z.avail_in, sizeof g->in - g->z.avail_in,
                                   e);
        if (r < 0)
            return -1;
        g->raw_eof = r == 0;
        g->z.avail_in += (uInt)r;
        g->total += (size_t)r;
    }
    return 0;
}

/* After a member's end: another member, the end, or trailing data (an error). 1 when another
 * member starts, 0 at the end, -1. */
static int gz_member_end(gz_src *g, bnn_error *e)
{
    if (gz_refill(g, 2, e) != 0)
        return -1;
    if (g->z.avail_in == 0)
        return 0;
    if (g->z.avail_in >= 2 && g->z.next_in[0] == 0x1f && g->z.next_in[1] == 0x8b) {
        inflateReset(&g->z);
        return 1;
    }
    size_t trail = g->z.avail_in; /* counted to the end of the file, as it is reported */
    for (;;) {
        g->z.avail_in = 0;
        if (gz_refill(g, 1, e) != 0)
            return -1;
        if (!g->z.avail_in)
            break;
        trail += g->z.avail_in;
    }
    return bnn_fail(e, "%s: %zu bytes of trailing data after the gzip stream", g->name, trail);
}

/* Inflates up to n bytes into buf: the count (0: the end), or -1. */
static long long gz_inflate(gz_src *g, unsigned char *buf, size_t n, bnn_error *e)
{
    if (g->done)
        return 0;
    g->z.next_out = buf;
    g->z.avail_out = (uInt)(n < ((size_t)1 << 30) ? n : (size_t)1 << 30); /* zlib: uInt */
    const uInt gave = g->z.avail_out;
    for (;;) {
        if (gz_refill(g, 1, e) != 0)
            return -1;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        const size_t got = gave - g->z.avail_out;
        if (zr == Z_STREAM_END) {
            int more = gz_member_end(g, e);
            if (more < 0)
                return -1;
            g->done = !more;
            if (got || g->done)
                return (long long)got;
            continue;
        }
        if (zr == Z_OK || zr == Z_BUF_ERROR) {
            if (got)
                return (long long)got;
            if (zr == Z_BUF_ERROR && g->z.avail_in == 0 && g->raw_eof)
                return bnn_fail(e, "%s: truncated gzip stream (ends after %zu compressed "
                                   "bytes)", g->name, g->total);
            continue;
        }
        return bnn_fail(e, "%s: corrupt gzip data near byte %zu: %s", g->name,
                        g->total - g->z.avail_in, g->z.msg ? g->z.msg : "invalid stream");
    }
}

/* The pull's read: the peeked bytes, then more. */
static long long gz_read(bnn_pull *s, void *buf, size_t n, bnn_error *e)
{
    gz_src *g = s->ctx;
    const size_t k = bnn_take_peeked(g->head, g->nhead, &g->hpos, buf, n);
    if (k)
        return (long long)k;
    return gz_inflate(g, buf, n, e);
}

/* The first (up to) n <= 8 decompressed bytes into g->head. */
static int gz_peek(gz_src *g, size_t n, bnn_error *e)
{
    while (g->nhead < n) {
        long long r = gz_inflate(g, g->head + g->nhead, n - g->nhead, e);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        g->nhead += (size_t)r;
    }
    return 0;
}

static const unsigned char npy_magic6[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static int is_npy(const unsigned char *p, size_t n)
{
    return n >= sizeof npy_magic6 && memcmp(p, npy_magic6, sizeof npy_magic6) == 0;
}

/* The compressed bytes of in as a pull: a regular file mapped (into *b; its pages released
 * as they are inflated), a stream read as it comes (at most the stream limit,
 * bnn_pull_input). */
static int raw_pull(bnn_input *in, bnn_pull *raw, bnn_bytes *b, bnn_error *e)
{
    memset(b, 0, sizeof *b);
    if (in->fd < 0 || (in->mappable && in->st.st_size > 0)) {
        if (bnn_input_contents(in, b, e) != 0)
            return -1;
        bnn_pull_memory(raw, in->name, b->p, b->len, b->map != NULL);
        return 0;
    }
    return bnn_pull_input(raw, in, e);
}

int bnn_table_open_gzip(bnn_table *t, bnn_input *in, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    char gzname[512], name[512];
    size_t limit;
    if (bnn_stream_limit(&limit, in->name, e) != 0)
        return -1;
    snprintf(gzname, sizeof gzname, "%s (gzip)", in->name);
    bnn_bytes b;
    bnn_pull raw;
    if (raw_pull(in, &raw, &b, e) != 0)
        return -1;
    int rc = -1;
    gz_src *g = calloc(1, sizeof *g);
    if (!g) {
        bnn_fail(e, "%s: out of memory", gzname);
        goto out;
    }
    g->raw = &raw;
    g->name = gzname;
    g->z.next_in = g->in;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) { /* 16: a gzip wrapper, nothing else */
        bnn_fail(e, "%s: cannot start the gzip decoder", gzname);
        free(g);
        g = NULL;
        goto out;
    }
    if (gz_peek(g, sizeof npy_magic6, e) != 0)
        goto out;
    const int npy = is_npy(g->head, g->nhead);
    snprintf(name, sizeof name, "%s (gzip of %s)", in->name, npy ? ".npy" : "CSV");
    bnn_pull src = {.name = name, .read = gz_read, .ctx = g};
    /* a gzip's last 4 bytes: its (last member's) size mod 2^32, to size the table */
    const size_t hint = b.len >= 18 ? (size_t)bnn_get_le(b.p + b.len - 4, 4) : 0;
    rc = npy ? bnn_npy_from_pull(t, &src, name, limit, e)
             : bnn_csv_from_pull(t, &src, name, limit, hint, e);
out:
    if (g) {
        inflateEnd(&g->z);
        free(g);
    }
    bnn_bytes_free(&b);
    return rc;
}

/* npz --------------------------------------------------------------------------------------- */

/* The libzip error of za (or ze) as text. */
static const char *zip_msg(zip_t *za, zip_error_t *ze)
{
    return za ? zip_strerror(za) : zip_error_strerror(ze);
}

/* An archive member as a pull (zip_fread decompresses a stored or deflated member as a
 * stream and checks its CRC at the end): len is its recorded size, the first bytes can be
 * peeked (the .npy magic). */
typedef struct zip_src {
    zip_file_t *f;
    unsigned char head[8];
    size_t nhead, hpos;
} zip_src;

static long long zip_read(bnn_pull *s, void *buf, size_t n, bnn_error *e)
{
    zip_src *z = s->ctx;
    const size_t k = bnn_take_peeked(z->head, z->nhead, &z->hpos, buf, n);
    if (k)
        return (long long)k;
    zip_int64_t r = zip_fread(z->f, buf, n);
    if (r < 0)
        return bnn_fail(e, "%s: corrupt archive entry: %s", s->name, zip_file_strerror(z->f));
    s->done += (size_t)r;
    if (s->done > s->len)
        return bnn_fail(e, "%s: corrupt archive entry: longer than its recorded size", s->name);
    if (r == 0 && s->done != s->len)
        return bnn_fail(e, "%s: corrupt archive entry: %zu bytes of %zu", s->name, s->done,
                        s->len);
    return (long long)r;
}

/* Reads member idx of za (a .npy) as a table named name, streamed. */
static int npz_member(bnn_table *t, zip_t *za, zip_int64_t idx, const char *name, size_t limit,
                      bnn_error *e)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return bnn_fail(e, "%s: cannot read the archive entry: %s", name, zip_strerror(za));
    zip_src z = {.f = zip_fopen_index(za, (zip_uint64_t)idx, 0)};
    if (!z.f)
        return bnn_fail(e, "%s: cannot open the archive entry: %s", name, zip_strerror(za));
    bnn_pull src = {.name = name, .read = zip_read, .ctx = &z, .len = (size_t)st.size};
    int rc = -1;
    while (z.nhead < sizeof npy_magic6) { /* the magic first: the message names the member */
        long long r = zip_read(&src, z.head + z.nhead, sizeof npy_magic6 - z.nhead, e);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        z.nhead += (size_t)r;
    }
    if (!is_npy(z.head, z.nhead))
        bnn_fail(e, "%s: not a .npy array (bad magic)", name);
    else
        rc = bnn_npy_from_pull(t, &src, name, limit, e);
out:
    zip_fclose(z.f);
    return rc;
}

/* The arrays of za, "a, b, c", for messages. */
static void npz_list(zip_t *za, char *out, size_t n)
{
    out[0] = '\0';
    zip_int64_t cnt = zip_get_num_entries(za, 0);
    size_t k = 0;
    for (zip_int64_t i = 0; i < cnt && k + 8 < n; i++) {
        const char *s = zip_get_name(za, (zip_uint64_t)i, 0);
        if (!s)
            continue;
        size_t l = strlen(s);
        if (l > 4 && strcmp(s + l - 4, ".npy") == 0)
            l -= 4;
        int w = snprintf(out + k, n - k, "%s%.*s", k ? ", " : "", (int)l, s);
        if (w < 0 || (size_t)w >= n - k) {
            snprintf(out + k, n - k, "...");
            return;
        }
        k += (size_t)w;
    }
    if (!k)
        snprintf(out, n, "none");
}

/* Opens array arr (its member arr.npy, or arr itself) of za as a table. *found: 0 when the
 * archive has no such member (and nothing is reported). */
static int npz_array(bnn_table *t, zip_t *za, const char *path, const char *arr, size_t limit,
                     int *found, bnn_error *e)
{
    char member[300], name[512];
    snprintf(member, sizeof member, "%s.npy", arr);
    zip_int64_t idx = zip_name_locate(za, member, 0);
    if (idx < 0) {
        snprintf(member, sizeof member, "%s", arr);
        idx = zip_name_locate(za, member, 0);
    }
    *found = idx >= 0;
    if (idx < 0)
        return -1;
    snprintf(name, sizeof name, "%s:%s (npz member %s)", path, arr, member);
    return npz_member(t, za, idx, name, limit, e);
}

/* t := the columns of x then those of y, in one float32 table (x and y are closed). */
static int join_columns(bnn_table *t, bnn_table *x, bnn_table *y, const char *path,
                        bnn_error *e)
{
    int rc = -1;
    float *data = NULL;
    if (x->rows != y->rows) {
        bnn_fail(e, "%s (npz): array x has %zu rows but y has %zu", path, x->rows, y->rows);
        goto out;
    }
    const size_t cols = x->cols + y->cols;
    data = bnn_alloc(x->rows * cols, sizeof(float));
    if (!data) {
        bnn_fail(e, "%s (npz): out of memory for %zu x %zu values", path, x->rows, cols);
        goto out;
    }
    if (bnn_table_read(x, 0, x->rows, 0, x->cols, data, cols, e) != 0 ||
        bnn_table_read(y, 0, y->rows, 0, y->cols, data + x->cols, cols, e) != 0)
        goto out;
    memset(t, 0, sizeof *t);
    bnn_table_own_f32(t, data, x->rows, cols);
    snprintf(t->name, sizeof t->name, "%s (npz arrays x, y)", path);
    data = NULL;
    rc = 0;
out:
    bnn_free(data);
    bnn_table_close(x);
    bnn_table_close(y);
    return rc;
}

int bnn_table_open_npz(bnn_table *t, bnn_input *in, const char *member, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    const char *path = in->name;
    size_t limit;
    if (bnn_stream_limit(&limit, path, e) != 0)
        return -1;
    bnn_bytes b;
    if (bnn_input_contents(in, &b, e) != 0)
        return -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_t *za = NULL;
    zip_source_t *src = zip_source_buffer_create(b.p, b.len, 0, &ze);
    if (src) {
        za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
        if (!za)
            zip_source_free(src);
    }
    int rc = -1;
    if (!za) {
        bnn_fail(e, "%s (npz): not a valid zip archive: %s", path, zip_msg(NULL, &ze));
        goto out;
    }
    int found = 0;
    char list[256];
    const char *want = member ? member : "x";
    bnn_table x;
    if (npz_array(&x, za, path, want, limit, &found, e) != 0) {
        if (!found) {
            npz_list(za, list, sizeof list);
            bnn_fail(e, "%s (npz): no array '%s' (arrays: %s)%s", path, want, list,
                     member ? "" : "; name one as FILE.npz:NAME");
        }
        goto out;
    }
    bnn_table y;
    if (member || npz_array(&y, za, path, "y", limit, &found, e) != 0) {
        if (!member && found) { /* y is there but unreadable */
            bnn_table_close(&x);
            goto out;
        }
        *t = x; /* inputs only */
        rc = 0;
        goto out;
    }
    /* x and y are tables of their own: the archive's bytes are released before the joined
     * table is made, so they are never held alongside it */
    zip_discard(za);
    za = NULL;
    bnn_bytes_free(&b);
    rc = join_columns(t, &x, &y, path, e);
out:
    if (za)
        zip_discard(za);
    zip_error_fini(&ze);
    bnn_bytes_free(&b);
    return rc;
}
