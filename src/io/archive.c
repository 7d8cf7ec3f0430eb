/*
 * archive.c - data files that hold another format: gzip (a CSV or a .npy inside, through
 * zlib) and .npz (numpy's zip of .npy arrays, stored or deflated, through libzip).
 *
 * Rules:
 *   - The compressed bytes come from bnn_input_contents (a regular file is mapped, a stream
 *     read at most the stream limit); each decompressed file is made whole in memory (not
 *     streamed: the CSV and .npy readers parse a whole input), at most the stream limit too
 *     (BATCHNN_STREAM_LIMIT, per file), so a small bomb cannot exhaust memory; the compressed
 *     bytes are released before a table is built from the decompressed ones. The
 *     decompressed bytes are handed to the CSV or .npy reader as an input made in memory
 *     (bnn_input_from_memory): one reader per format, whatever wraps it.
 *   - The format is sniffed from the bytes (gzip 1f 8b, zip "PK\3\4", npy "\x93NUMPY"); every
 *     message names it: "d.csv.gz (gzip of CSV):2: ...", "f.npz:x (npz member x.npy): ...".
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

/* Inflates the gzip stream p[0..len) into a new buffer (*out, *outlen), at most limit bytes. */
static int gunzip(const unsigned char *p, size_t len, const char *name, size_t limit,
                  unsigned char **out, size_t *outlen, bnn_error *e)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip wrapper, nothing else */
        return bnn_fail(e, "%s: cannot start the gzip decoder", name);
    size_t cap = (size_t)1 << 16, n = 0, in_off = 0;
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (!buf) {
        bnn_fail(e, "%s: out of memory", name);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (n > limit) {
                bnn_fail(e, "%s: more than %zu bytes once decompressed, the limit for "
                            "decompressed data; set %s to raise it", name, limit,
                         BNN_STREAM_LIMIT_ENV);
                goto out;
            }
            size_t nc = cap > limit / 2 ? limit + 1 : cap * 2;
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                bnn_fail(e, "%s: out of memory decompressing more than %zu bytes", name, cap);
                goto out;
            }
            buf = nb;
            cap = nc;
        }
        /* zlib counts in uInt: hand it at most 1 GiB at a time */
        size_t ain = len - in_off, aout = cap - n;
        z.next_in = (unsigned char *)(uintptr_t)(p + in_off);
        z.avail_in = (uInt)(ain < ((size_t)1 << 30) ? ain : (size_t)1 << 30);
        z.next_out = buf + n;
        z.avail_out = (uInt)(aout < ((size_t)1 << 30) ? aout : (size_t)1 << 30);
        const uInt gave_in = z.avail_in, gave_out = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        in_off += gave_in - z.avail_in;
        n += gave_out - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (in_off == len)
                break;
            if (len - in_off >= 2 && p[in_off] == 0x1f && p[in_off + 1] == 0x8b) {
                inflateReset(&z); /* another member follows */
                continue;
            }
            bnn_fail(e, "%s: %zu bytes of trailing data after the gzip stream", name,
                     len - in_off);
            goto out;
        }
        if (zr == Z_BUF_ERROR && in_off == len) {
            bnn_fail(e, "%s: truncated gzip stream (ends after %zu compressed bytes)", name,
                     len);
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            bnn_fail(e, "%s: corrupt gzip data near byte %zu: %s", name, in_off,
                     z.msg ? z.msg : "invalid stream");
            goto out;
        }
    }
    if (n > limit) {
        bnn_fail(e, "%s: more than %zu bytes once decompressed, the limit for decompressed "
                    "data; set %s to raise it", name, limit, BNN_STREAM_LIMIT_ENV);
        goto out;
    }
    *out = buf;
    *outlen = n;
    buf = NULL;
    rc = 0;
out:
    inflateEnd(&z);
    free(buf);
    return rc;
}

static const unsigned char npy_magic6[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static int is_npy(const unsigned char *p, size_t n)
{
    return n >= sizeof npy_magic6 && memcmp(p, npy_magic6, sizeof npy_magic6) == 0;
}

/* Reads the in-memory file mem[0..len) (owned, freed here) as a .npy or a CSV named name. */
static int table_from_memory(bnn_table *t, const char *name, unsigned char *mem, size_t len,
                             int npy, bnn_error *e)
{
    bnn_input in;
    bnn_input_from_memory(&in, name, mem, len);
    int rc = npy ? bnn_npy_from_input(t, &in, e) : bnn_csv_from_input(t, &in, e);
    bnn_input_close(&in);
    return rc;
}

int bnn_table_open_gzip(bnn_table *t, bnn_input *in, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    char name[512];
    size_t limit;
    if (bnn_stream_limit(&limit, in->name, e) != 0)
        return -1;
    bnn_bytes b;
    snprintf(name, sizeof name, "%s (gzip)", in->name);
    if (bnn_input_contents(in, &b, e) != 0)
        return -1;
    unsigned char *mem = NULL;
    size_t len = 0;
    int rc = gunzip(b.p, b.len, name, limit, &mem, &len, e);
    bnn_bytes_free(&b);
    if (rc != 0)
        return -1;
    const int npy = is_npy(mem, len);
    snprintf(name, sizeof name, "%s (gzip of %s)", in->name, npy ? ".npy" : "CSV");
    return table_from_memory(t, name, mem, len, npy, e);
}

/* npz --------------------------------------------------------------------------------------- */

/* The libzip error of za (or ze) as text. */
static const char *zip_msg(zip_t *za, zip_error_t *ze)
{
    return za ? zip_strerror(za) : zip_error_strerror(ze);
}

/* Decompresses member idx of za (at most limit bytes) into a new buffer. */
static int npz_member(zip_t *za, zip_int64_t idx, const char *name, size_t limit,
                      unsigned char **out, size_t *outlen, bnn_error *e)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return bnn_fail(e, "%s: cannot read the archive entry: %s", name, zip_strerror(za));
    if (st.size > limit)
        return bnn_fail(e, "%s: %llu bytes once decompressed, more than the limit for "
                           "decompressed data (%zu); set %s to raise it", name,
                        (unsigned long long)st.size, limit, BNN_STREAM_LIMIT_ENV);
    size_t size = (size_t)st.size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return bnn_fail(e, "%s: out of memory for %zu bytes", name, size);
    zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!f) {
        free(buf);
        return bnn_fail(e, "%s: cannot open the archive entry: %s", name, zip_strerror(za));
    }
    size_t n = 0;
    for (;;) { /* one byte past the size: an entry longer than it says is corrupt */
        unsigned char extra;
        zip_int64_t r = n < size ? zip_fread(f, buf + n, size - n) : zip_fread(f, &extra, 1);
        if (r < 0) {
            bnn_fail(e, "%s: corrupt archive entry: %s", name, zip_file_strerror(f));
            zip_fclose(f);
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        if (n == size) {
            bnn_fail(e, "%s: corrupt archive entry: longer than its recorded size", name);
            zip_fclose(f);
            free(buf);
            return -1;
        }
        n += (size_t)r;
    }
    zip_fclose(f);
    if (n != size) {
        free(buf);
        return bnn_fail(e, "%s: corrupt archive entry: %zu bytes of %zu", name, n, size);
    }
    *out = buf;
    *outlen = size;
    return 0;
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
    unsigned char *mem = NULL;
    size_t len = 0;
    if (npz_member(za, idx, name, limit, &mem, &len, e) != 0)
        return -1;
    if (!is_npy(mem, len)) {
        free(mem);
        return bnn_fail(e, "%s: not a .npy array (bad magic)", name);
    }
    return table_from_memory(t, name, mem, len, 1, e);
}

static void close_joined(bnn_table *t)
{
    bnn_free(t->ctx);
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
    t->rows = x->rows;
    t->cols = cols;
    t->f32 = data;
    t->ld = cols;
    t->ctx = data;
    t->close = close_joined;
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
    /* x and y are decompressed copies of their own: the archive's bytes are released before
     * the joined table is made, so they are never held alongside it */
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
