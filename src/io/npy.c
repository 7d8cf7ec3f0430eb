/*
 * npy.c - the NumPy .npy reader (bnn_table_open_npy) and the reader chooser (bnn_table_open).
 *
 * Format: "\x93NUMPY", major and minor version bytes, the header length (2 bytes little-endian
 * for version 1.0, 4 bytes for 2.0 and 3.0), then the header: a Python dict literal with
 * exactly the keys 'descr', 'fortran_order' and 'shape', padded with blanks (and a '\n'),
 * then the raw data.
 *
 * Rules it enforces:
 *   - versions 1.0, 2.0, 3.0; the header lies inside the file and parses as a dict literal
 *     with string keys, each of the three keys once, and no other key.
 *   - descr '<f4' or '<f8' ('=f4' / '=f8' mean the same on this little-endian host; '|f4'
 *     is invalid for floats); big-endian '>f4' / '>f8' are refused with a hint. Integers
 *     '<i1'..'<i8', '<u1'..'<u8' ('|i1', '|u1' too) are read as float32 (class labels: exact
 *     up to 2^24); any other dtype (bools, half floats, structured) is refused by name.
 *   - shape (rows, cols), or (n,) taken as one column; 0-D and 3-D or more are refused, as
 *     are negative dimensions, 0 rows ("no samples"), 0 columns and sizes that overflow.
 *   - the data is exactly rows * cols * itemsize bytes: a shorter file is "truncated", a
 *     longer one has extra bytes; both are errors.
 *   - every value is finite, and a float64 value also fits float32 (it does not round to
 *     infinity); the first offending element in file order is named, e.g.
 *     "x.npy: element [3, 1] is nan" ([i] for a 1-D array).
 *
 * A regular file is memory-mapped read-only (MAP_PRIVATE), never copied: whole, or, when it
 * is larger than a quarter of what the process may use, in windows (windowed mode, below:
 * always the read form); a stream (pipe,
 * FIFO, "-" for standard input) is read into memory, at most the stream limit (see table.c).
 * float32 in C order (or any order when one dimension is 1) with a 4-byte aligned data offset
 * is used in place (direct form, t->f32 points into the mapping or the copy); float64,
 * Fortran order or a misaligned offset use the read form, converting on demand (no mutable
 * state: thread-safe). A mapped file must not be truncated by someone else while in use:
 * that raises SIGBUS, as with any mapping; the mapping is registered (bnn_mapped_register)
 * so that a SIGBUS handler can name the file.
 *
 * bnn_table_open opens the path once and reads its first bytes: an input (file or stream)
 * starting with the .npy magic is read as .npy whatever its name; otherwise a name ending
 * in ".npy" (any case) is an error ("not a .npy file") and anything else is read as CSV. The
 * reader chosen continues from the bytes already read, so a FIFO loses nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_internal.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Windowed mode: a few windows of the file, each mapped by one reader at a time. */
#define NPY_WINDOWS 16
#define NPY_WINDOW_BYTES ((size_t)8 << 20)
#define NPY_SEQ_READ ((size_t)64 << 10) /* a read this large maps a whole window */

typedef struct npy_window {
    void *map;    /* NULL: none */
    size_t len;   /* of the mapping */
    uint64_t off; /* its file offset (page aligned) */
    int busy;
} npy_window;

/* The mapping and how to read it; shared read-only by every thread (windowed mode: the
 * window pool changes, under its mutex). */
typedef struct npy_ctx {
    bnn_bytes bytes; /* the whole file: a registered mapping, or a copy read from a stream;
                        windowed mode: the header only */
    const unsigned char *data; /* NULL in windowed mode */
    int fd;                    /* windowed mode: the file (else -1) */
    uint64_t doff, fsize;      /* windowed mode: the data's offset, the file's size */
    pthread_mutex_t lock;      /* windowed mode: guards win[].busy, .map, .off, .len */
    npy_window win[NPY_WINDOWS];
    size_t rows, cols;
    size_t itemsize; /* 4 or 8; 1, 2, 4, 8 for integers */
    int fortran;     /* element (r, c) at c * rows + r instead of r * cols + c */
    char kind;       /* 'f' float, 'i' signed, 'u' unsigned integer */
} npy_ctx;

/* ---------------------------------------------------------------------------------------- */
/* Little-endian loads (from any alignment)                                                  */

static inline uint32_t load_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if !BNN_HOST_LE
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t load_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if !BNN_HOST_LE
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline float load_f32(const unsigned char *p)
{
    uint32_t v = load_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static inline double load_f64(const unsigned char *p)
{
    uint64_t v = load_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* ---------------------------------------------------------------------------------------- */
/* The header: a small parser for the dict literal numpy writes                             */

typedef struct npy_header {
    char descr[32];
    int have_descr, have_fortran, have_shape;
    int fortran;
    size_t ndim;      /* every dimension counted, however many */
    uint64_t dim[2];  /* first two dimensions (ndim may be larger: refused later) */
    char why[160];    /* what is wrong, when parsing fails */
} npy_header;

typedef struct hp {
    const char *s, *end;
    npy_header *h;
} hp;

static void hp_ws(hp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int hp_fail(hp *p, const char *fmt, const char *arg)
{
    snprintf(p->h->why, sizeof p->h->why, fmt, arg ? arg : "");
    return -1;
}

/* A quoted string, no escapes (numpy never writes any in these fields). */
static int hp_string(hp *p, char *out, size_t cap)
{
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return hp_fail(p, "expected a quoted string%s", NULL);
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' || *p->s == '\n' || *p->s == '\0')
            return hp_fail(p, "unsupported character in a string%s", NULL);
        if (n + 1 < cap)
            out[n] = *p->s;
        n++;
        p->s++;
    }
    if (p->s >= p->end)
        return hp_fail(p, "unterminated string%s", NULL);
    p->s++;
    if (n + 1 > cap)
        return hp_fail(p, "string too long%s", NULL);
    out[n] = '\0';
    return 0;
}

static int hp_word(hp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
        return 0;
    const char *after = p->s + n;
    if (after < p->end && ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z')
                           || (*after >= '0' && *after <= '9') || *after == '_'))
        return 0;
    p->s = after;
    return 1;
}

/* A non-negative integer (Python 2's "3L" accepted). */
static int hp_int(hp *p, uint64_t *v)
{
    if (p->s < p->end && *p->s == '-')
        return hp_fail(p, "negative dimension in 'shape'%s", NULL);
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
        return hp_fail(p, "'shape' must be a tuple of integers%s", NULL);
    uint64_t x = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        unsigned d = (unsigned)(*p->s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return hp_fail(p, "dimension in 'shape' is too large%s", NULL);
        x = x * 10 + d;
        p->s++;
    }
    if (p->s < p->end && (*p->s == 'L' || *p->s == 'l'))
        p->s++;
    *v = x;
    return 0;
}

static int hp_shape(hp *p)
{
    npy_header *h = p->h;
    if (p->s >= p->end || *p->s != '(')
        return hp_fail(p, "'shape' must be a tuple%s", NULL);
    p->s++;
    hp_ws(p);
    size_t n = 0;
    int trailing_comma = 0;
    while (p->s < p->end && *p->s != ')') {
        uint64_t v;
        if (hp_int(p, &v) != 0)
            return -1;
        if (n < 2)
            h->dim[n] = v;
        n++; /* bounded by the header length: each dimension takes at least one byte */
        hp_ws(p);
        trailing_comma = 0;
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            trailing_comma = 1;
            hp_ws(p);
        } else if (p->s < p->end && *p->s != ')') {
            return hp_fail(p, "'shape' must be a tuple of integers%s", NULL);
        }
    }
    if (p->s >= p->end)
        return hp_fail(p, "unterminated 'shape' tuple%s", NULL);
    p->s++;
    if (n == 1 && !trailing_comma) /* Python: (3) is the integer 3, not a tuple */
        return hp_fail(p, "'shape' must be a tuple: (n,) not (n)%s", NULL);
    h->ndim = n;
    return 0;
}

static int parse_header(const char *s, size_t len, npy_header *h)
{
    memset(h, 0, sizeof *h);
    hp p = {s, s + len, h};
    hp_ws(&p);
    if (p.s >= p.end || *p.s != '{')
        return hp_fail(&p, "expected a dict literal {...}%s", NULL);
    p.s++;
    hp_ws(&p);
    while (p.s < p.end && *p.s != '}') {
        char key[32];
        if (hp_string(&p, key, sizeof key) != 0)
            return hp_fail(&p, "expected a quoted key%s", NULL);
        hp_ws(&p);
        if (p.s >= p.end || *p.s != ':')
            return hp_fail(&p, "expected ':' after '%s'", key);
        p.s++;
        hp_ws(&p);
        if (strcmp(key, "descr") == 0) {
            if (h->have_descr)
                return hp_fail(&p, "key '%s' appears twice", key);
            if (p.s < p.end && *p.s == '[')
                return hp_fail(&p, "structured dtypes are not supported%s", NULL);
            if (hp_string(&p, h->descr, sizeof h->descr) != 0)
                return hp_fail(&p, "'descr' must be a dtype string like '<f4'%s", NULL);
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (h->have_fortran)
                return hp_fail(&p, "key '%s' appears twice", key);
            if (hp_word(&p, "True"))
                h->fortran = 1;
            else if (hp_word(&p, "False"))
                h->fortran = 0;
            else
                return hp_fail(&p, "'fortran_order' must be True or False%s", NULL);
            h->have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (h->have_shape)
                return hp_fail(&p, "key '%s' appears twice", key);
            if (hp_shape(&p) != 0)
                return -1;
            h->have_shape = 1;
        } else {
            return hp_fail(&p, "unexpected key '%s'", key);
        }
        hp_ws(&p);
        if (p.s < p.end && *p.s == ',') {
            p.s++;
            hp_ws(&p);
        } else if (p.s < p.end && *p.s != '}') {
            return hp_fail(&p, "expected ',' or '}' in the dict%s", NULL);
        }
    }
    if (p.s >= p.end)
        return hp_fail(&p, "unterminated dict%s", NULL);
    p.s++;
    hp_ws(&p);
    if (p.s != p.end)
        return hp_fail(&p, "unexpected text after the dict%s", NULL);
    if (!h->have_descr)
        return hp_fail(&p, "missing key 'descr'%s", NULL);
    if (!h->have_fortran)
        return hp_fail(&p, "missing key 'fortran_order'%s", NULL);
    if (!h->have_shape)
        return hp_fail(&p, "missing key 'shape'%s", NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The read form                                                                             */

/* An integer element as float (class labels). */
static float load_int(const unsigned char *p, size_t isz, char kind)
{
    uint64_t u = 0;
    for (size_t i = 0; i < isz; i++)
        u |= (uint64_t)p[i] << (8 * i);
    if (kind == 'u')
        return (float)u;
    const int sh = (int)(64 - 8 * isz); /* sign-extend */
    return (float)((int64_t)(u << sh) >> sh);
}

/* ---------------------------------------------------------------------------------------- */
/* Windowed mode: a file larger than a quarter of what the process may use (or any file after
 * bnn_npy_force_windows(1), for tests; the command's BATCHNN_NPY_WINDOWS=1) is never mapped whole. Each read maps the window of the
 * file that holds the bytes it needs (NPY_WINDOW_BYTES or more, from the page holding its
 * first byte, never past the end of the file), advised MADV_SEQUENTIAL and MADV_WILLNEED so
 * the kernel reads the whole window ahead in large requests, and keeps it for the reads that
 * follow (a small read that does not follow a window, as a shuffled view's single rows, maps
 * only its own pages, MADV_RANDOM); a window no longer needed is dropped (MADV_DONTNEED, then unmapped), so the
 * resident memory stays at most NPY_WINDOWS windows whatever the file's size. Windows are
 * registered (bnn_mapped_register) so that a SIGBUS on a truncated file is still named. Only
 * the bytes of the rows asked for (and the rest of their window) are touched: a process that
 * reads some of the rows (an MPI rank) maps only around them. Whole rows of little-endian
 * float32 (the engines' usual read) skip the windows: pread into the caller's buffer, the
 * next window read ahead by the kernel (read_rows_direct). */

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static void window_drop(npy_window *w)
{
    if (w->map) {
        bnn_mapped_unregister(w->map);
        (void)madvise(w->map, w->len, MADV_DONTNEED);
        munmap(w->map, w->len);
    }
    w->map = NULL;
    w->len = 0;
    w->off = 0;
}

/* Maps file bytes [off, off + len) into w (replacing what it held): a whole window read
 * ahead when the reads look sequential (seq), else only the pages needed (a shuffled view
 * reads rows one by one all over the file: reading 8 MiB ahead of each would be waste). */
static int window_map(npy_ctx *c, npy_window *w, uint64_t off, size_t len, int seq,
                      const char *name, bnn_error *e)
{
    const size_t pg = page_size();
    uint64_t start = off - off % pg, end = off + len;
    if (seq && end - start < NPY_WINDOW_BYTES)
        end = start + NPY_WINDOW_BYTES;
    if (end > c->fsize)
        end = c->fsize;
    window_drop(w);
    void *m = mmap(NULL, (size_t)(end - start), PROT_READ, MAP_PRIVATE, c->fd, (off_t)start);
    if (m == MAP_FAILED)
        return bnn_fail(e, "%s: cannot map bytes %llu..%llu: %s", name,
                        (unsigned long long)start, (unsigned long long)end, strerror(errno));
    if (seq) {
        (void)madvise(m, (size_t)(end - start), MADV_SEQUENTIAL);
        (void)madvise(m, (size_t)(end - start), MADV_WILLNEED);
    } else {
        (void)madvise(m, (size_t)(end - start), MADV_RANDOM);
    }
    bnn_mapped_register(m, (size_t)(end - start), name);
    w->map = m;
    w->len = (size_t)(end - start);
    w->off = start;
    return 0;
}

/* A window holding file bytes [off, off + len), claimed for this reader: one that already
 * holds them, else a free one (the least useful: empty first) remapped. NULL when every
 * window is busy (then *tmp is mapped for this read alone) or on error (-1 in *rc). */
static npy_window *window_get(npy_ctx *c, uint64_t off, size_t len, npy_window *tmp,
                              const char *name, int *rc, bnn_error *e)
{
    *rc = 0;
    pthread_mutex_lock(&c->lock);
    npy_window *pick = NULL;
    for (int i = 0; i < NPY_WINDOWS; i++) {
        npy_window *w = &c->win[i];
        if (w->busy)
            continue;
        if (w->map && off >= w->off && off + len <= w->off + w->len) {
            w->busy = 1;
            pthread_mutex_unlock(&c->lock);
            return w;
        }
    }
    /* which window to remap: the nearest one wholly before the bytes wanted (a sequential
     * reader has consumed it: the resident memory stays about one window per reader), else
     * an empty one, else the one lowest in the file */
    npy_window *behind = NULL, *empty = NULL, *lowest = NULL;
    for (int i = 0; i < NPY_WINDOWS; i++) {
        npy_window *w = &c->win[i];
        if (w->busy)
            continue;
        if (!w->map) {
            if (!empty)
                empty = w;
            continue;
        }
        if (w->off + w->len <= off && (!behind || w->off > behind->off))
            behind = w;
        if (!lowest || w->off < lowest->off)
            lowest = w;
    }
    pick = behind ? behind : empty ? empty : lowest;
    /* sequential: a window just behind (this reader moved on), or a read of many rows */
    const int seq = behind != NULL || len >= NPY_SEQ_READ;
    if (pick)
        pick->busy = 1;
    pthread_mutex_unlock(&c->lock);
    npy_window *w = pick ? pick : tmp;
    if (window_map(c, w, off, len, seq, name, e) != 0) {
        *rc = -1;
        if (pick) {
            pthread_mutex_lock(&c->lock);
            pick->busy = 0;
            pthread_mutex_unlock(&c->lock);
        }
        return NULL;
    }
    return w;
}

static void window_put(npy_ctx *c, npy_window *w, npy_window *tmp)
{
    if (w == tmp) {
        window_drop(w);
        return;
    }
    pthread_mutex_lock(&c->lock);
    w->busy = 0;
    pthread_mutex_unlock(&c->lock);
}

/* Converts elements: out[r * ldo + k] for r < nr, k < nk from element index
 * first + r * rstride + k * kstride, at base + (index - first) * isz. Little-endian float32
 * (what batchnn gen and numpy write on x86) is copied a run at a time. */
static void convert(const npy_ctx *c, const unsigned char *base, size_t nr, size_t rstride,
                    size_t nk, size_t kstride, float *out, size_t ldo)
{
    const size_t isz = c->itemsize;
    if (BNN_HOST_LE && c->kind == 'f' && isz == 4 && (kstride == 1 || nk == 1)) {
        if (nk == rstride && nk == ldo) {
            memcpy(out, base, nr * nk * sizeof(float));
        } else if (kstride == 1) {
            for (size_t r = 0; r < nr; r++)
                memcpy(out + r * ldo, base + r * rstride * 4, nk * sizeof(float));
        } else {
            for (size_t r = 0; r < nr; r++)
                memcpy(out + r * ldo, base + r * rstride * 4, sizeof(float));
        }
        return;
    }
    for (size_t r = 0; r < nr; r++)
        for (size_t k = 0; k < nk; k++) {
            const unsigned char *p = base + (r * rstride + k * kstride) * isz;
            out[r * ldo + k] = c->kind != 'f' ? load_int(p, isz, c->kind)
                             : isz == 8       ? (float)load_f64(p)
                                              : load_f32(p);
        }
}

/* Whole rows of little-endian float32 in C order are the bytes of out itself: read
 * straight into it (pread copies from the page cache once: no window to map, no page
 * faults, no conversion), and ask the kernel to read the next window ahead meanwhile
 * (POSIX_FADV_WILLNEED starts the I/O and returns), so reading the disk overlaps the
 * computing of this chunk. Returns 1 when done, 0 when this read is not of that kind. */
static int read_rows_direct(const bnn_table *t, size_t row0, size_t nrows, size_t ncols,
                            float *out, size_t ldo, int *rc, bnn_error *e)
{
    const npy_ctx *c = t->ctx;
    if (!BNN_HOST_LE || c->kind != 'f' || c->itemsize != 4 || c->fortran || ncols != c->cols ||
        ldo != c->cols)
        return 0;
    const uint64_t off = c->doff + (uint64_t)row0 * c->cols * 4;
    const size_t len = nrows * c->cols * 4;
    unsigned char *dst = (unsigned char *)out;
    *rc = 0;
    for (size_t done = 0; done < len;) {
        const ssize_t r = pread(c->fd, dst + done, len - done, (off_t)(off + done));
        if (r > 0) {
            done += (size_t)r;
        } else if (r == 0) {
            *rc = bnn_fail(e, "%s: the file ends at byte %llu, before row %zu's data; was it "
                              "truncated during the run?", t->name,
                           (unsigned long long)(off + done), row0 + done / (c->cols * 4));
            return 1;
        } else if (errno != EINTR) {
            *rc = bnn_fail(e, "%s: cannot read bytes %llu..%llu: %s", t->name,
                           (unsigned long long)(off + done), (unsigned long long)(off + len),
                           strerror(errno));
            return 1;
        }
    }
    const uint64_t W = NPY_WINDOW_BYTES;
    if (off / W != (off + len) / W) /* into a new window: the one after it, ahead */
        (void)posix_fadvise(c->fd, (off_t)(((off + len) / W + 1) * W), (off_t)W,
                            POSIX_FADV_WILLNEED);
    return 1;
}

static int npy_read_windowed(const bnn_table *t, size_t row0, size_t nrows, size_t col0,
                             size_t ncols, float *out, size_t ldo, bnn_error *e)
{
    npy_ctx *c = t->ctx;
    const size_t isz = c->itemsize;
    int rc;
    if (read_rows_direct(t, row0, nrows, ncols, out, ldo, &rc, e))
        return rc;
    /* C order: one range for all the rows; Fortran order: one range per column */
    const size_t pieces = c->fortran ? ncols : 1;
    for (size_t q = 0; q < pieces; q++) {
        size_t first, last; /* element indices, inclusive */
        if (c->fortran) {
            first = (col0 + q) * c->rows + row0;
            last = first + nrows - 1;
        } else {
            first = row0 * c->cols + col0;
            last = (row0 + nrows - 1) * c->cols + col0 + ncols - 1;
        }
        const uint64_t off = c->doff + (uint64_t)first * isz;
        const size_t len = (last - first + 1) * isz;
        npy_window tmp = {0}, *w;
        int rc;
        w = window_get(c, off, len, &tmp, t->name, &rc, e);
        if (!w)
            return rc;
        const unsigned char *base = (const unsigned char *)w->map + (off - w->off);
        if (c->fortran)
            convert(c, base, nrows, 1, 1, 0, out + q, ldo);
        else
            convert(c, base, nrows, c->cols, ncols, 1, out, ldo);
        window_put(c, w, &tmp);
    }
    return 0;
}

static int npy_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                    float *out, size_t ldo, bnn_error *e)
{
    const npy_ctx *c = t->ctx;
    if (c->fd >= 0) {
        if (row0 > c->rows || nrows > c->rows - row0 || col0 > c->cols || ncols > c->cols - col0)
            return bnn_fail(e, "%s: rows %zu..%zu, columns %zu..%zu are outside the %zu x %zu "
                               "table", t->name, row0, row0 + nrows, col0, col0 + ncols, c->rows,
                            c->cols);
        if (!nrows || !ncols)
            return 0;
        return npy_read_windowed(t, row0, nrows, col0, ncols, out, ldo, e);
    }
    if (c->kind != 'f') {
        if (row0 > c->rows || nrows > c->rows - row0 || col0 > c->cols || ncols > c->cols - col0)
            return bnn_fail(e, "%s: rows %zu..%zu, columns %zu..%zu are outside the %zu x %zu "
                               "table", t->name, row0, row0 + nrows, col0, col0 + ncols, c->rows,
                            c->cols);
        for (size_t r = 0; r < nrows; r++)
            for (size_t k = 0; k < ncols; k++) {
                const size_t at = c->fortran ? (col0 + k) * c->rows + row0 + r
                                             : (row0 + r) * c->cols + col0 + k;
                out[r * ldo + k] = load_int(c->data + at * c->itemsize, c->itemsize, c->kind);
            }
        return 0;
    }
    if (row0 > c->rows || nrows > c->rows - row0 || col0 > c->cols || ncols > c->cols - col0)
        return bnn_fail(e, "%s: rows %zu..%zu, columns %zu..%zu are outside the %zu x %zu table",
                        t->name, row0, row0 + nrows, col0, col0 + ncols, c->rows, c->cols);
    const size_t isz = c->itemsize;
    if (!c->fortran) {
        for (size_t r = 0; r < nrows; r++) {
            const unsigned char *src = c->data + ((row0 + r) * c->cols + col0) * isz;
            float *dst = out + r * ldo;
            if (isz == 8)
                for (size_t k = 0; k < ncols; k++)
                    dst[k] = (float)load_f64(src + k * 8);
            else
                for (size_t k = 0; k < ncols; k++)
                    dst[k] = load_f32(src + k * 4);
        }
    } else {
        /* column by column: reads are contiguous */
        for (size_t k = 0; k < ncols; k++) {
            const unsigned char *src = c->data + ((col0 + k) * c->rows + row0) * isz;
            float *dst = out + k;
            if (isz == 8)
                for (size_t r = 0; r < nrows; r++)
                    dst[r * ldo] = (float)load_f64(src + r * 8);
            else
                for (size_t r = 0; r < nrows; r++)
                    dst[r * ldo] = load_f32(src + r * 4);
        }
    }
    return 0;
}

static void npy_close(bnn_table *t)
{
    npy_ctx *c = t->ctx;
    if (c) {
        if (c->fd >= 0) {
            for (int i = 0; i < NPY_WINDOWS; i++)
                window_drop(&c->win[i]);
            pthread_mutex_destroy(&c->lock);
            close(c->fd);
        }
        bnn_bytes_free(&c->bytes);
        free(c);
    }
    t->ctx = NULL;
    t->f32 = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* The finiteness scan                                                                       */

const bnn_scan_split *bnn_npy_split;

/* Index of the first float32 that is nan or inf, or n. */
static size_t first_bad_f32(const unsigned char *d, size_t n)
{
    const size_t block = 4096;
    for (size_t i0 = 0; i0 < n; i0 += block) {
        size_t i1 = n - i0 < block ? n : i0 + block;
        uint32_t bad = 0;
        for (size_t i = i0; i < i1; i++)
            bad |= (load_u32(d + i * 4) & 0x7f800000u) == 0x7f800000u;
        if (bad)
            for (size_t i = i0; i < i1; i++)
                if ((load_u32(d + i * 4) & 0x7f800000u) == 0x7f800000u)
                    return i;
    }
    return n;
}

/* Index of the first float64 that is nan or does not round to a finite float32, or n.
 * (float)x is finite exactly when |x| < 2^128 - 2^103, the midpoint between FLT_MAX and
 * 2^128 (FLT_MAX's last bit is odd, so the midpoint itself rounds up to infinity). */
static size_t first_bad_f64(const unsigned char *d, size_t n)
{
    const double limit = 0x1.ffffffp+127;
    const size_t block = 2048;
    for (size_t i0 = 0; i0 < n; i0 += block) {
        size_t i1 = n - i0 < block ? n : i0 + block;
        int bad = 0;
        for (size_t i = i0; i < i1; i++)
            bad |= !(fabs(load_f64(d + i * 8)) < limit);
        if (bad)
            for (size_t i = i0; i < i1; i++)
                if (!(fabs(load_f64(d + i * 8)) < limit))
                    return i;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */

/* bnn_npy_force_windows (tests; the command's BATCHNN_NPY_WINDOWS=1). */
static int npy_windows_forced;

void bnn_npy_force_windows(int on)
{
    npy_windows_forced = on != 0;
}

/* Windowed mode for a regular file of size bytes? Forced by bnn_npy_force_windows (tests). */
static int want_windows(uint64_t size)
{
    if (npy_windows_forced)
        return 1;
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    return lim.bytes && size > lim.bytes / 4;
}

/* The first len bytes of the file, read with pread into a heap copy b (replaced). */
static int read_prefix(int fd, const char *name, size_t len, bnn_bytes *b, bnn_error *e)
{
    bnn_bytes_free(b);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return bnn_fail(e, "%s: out of memory reading its %zu-byte header", name, len);
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? errno : 0;
            free(buf);
            return bnn_fail(e, "%s: cannot read: %s", name, r < 0 ? strerror(err)
                                                                  : "the file shrank");
        }
        got += (size_t)r;
    }
    b->p = buf;
    b->heap = buf;
    b->len = len;
    return 0;
}

/* Windowed mode's finiteness scan: the data in windows of NPY_SCAN_BYTES, each dropped
 * before the next is mapped. The index of the first bad element (or n) in *bad, its value
 * in *v. */
#define NPY_SCAN_BYTES ((size_t)8 << 20)
static int scan_windowed(npy_ctx *c, size_t lo, size_t hi, size_t n, const char *name,
                         size_t *bad, double *v, bnn_error *e)
{
    const size_t isz = c->itemsize, per = NPY_SCAN_BYTES / isz;
    *bad = n;
    for (size_t i0 = lo; i0 < hi; i0 += per) {
        const size_t cnt = hi - i0 < per ? hi - i0 : per;
        npy_window w = {0};
        const uint64_t off = c->doff + (uint64_t)i0 * isz;
        if (window_map(c, &w, off, cnt * isz, 1, name, e) != 0)
            return -1;
        const unsigned char *d = (const unsigned char *)w.map + (off - w.off);
        size_t k = isz == 4 ? first_bad_f32(d, cnt) : first_bad_f64(d, cnt);
        if (k < cnt) {
            *bad = i0 + k;
            *v = isz == 4 ? (double)load_f32(d + k * 4) : load_f64(d + k * 8);
        }
        window_drop(&w);
        if (*bad < n)
            break;
    }
    return 0;
}

#define NPY_PREFIX ((size_t)64 << 10)

int bnn_npy_from_input(bnn_table *t, bnn_input *in, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    const char *path = in->name;
    bnn_bytes bytes = {0};
    /* a large regular file is read in windows (see above); its header is read here */
    const int windowed = in->mappable && in->st.st_size > 0 &&
                         (uint64_t)in->st.st_size < (uint64_t)(SIZE_MAX / 2) &&
                         want_windows((uint64_t)in->st.st_size);
    if (windowed) {
        const size_t fs = (size_t)in->st.st_size;
        if (read_prefix(in->fd, path, fs < NPY_PREFIX ? fs : NPY_PREFIX, &bytes, e) != 0)
            return -1;
    } else if (bnn_input_contents(in, &bytes, e) != 0) {
        return -1;
    }
    size_t size = windowed ? (size_t)in->st.st_size : bytes.len;
    if (size < sizeof npy_magic) {
        bnn_fail(e, "%s: not a .npy file (%zu bytes, too short for the magic)", path, size);
        bnn_bytes_free(&bytes);
        return -1;
    }
    const unsigned char *b = bytes.p;
    npy_ctx *c = NULL;

    if (memcmp(b, npy_magic, sizeof npy_magic) != 0) {
        bnn_fail(e, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    size_t hoff, hlen;
    if (size < 8) {
        bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
        goto fail;
    }
    unsigned major = b[6], minor = b[7];
    if (major == 1 && minor == 0) {
        if (size < 10) {
            bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
            goto fail;
        }
        hoff = 10;
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12) {
            bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
            goto fail;
        }
        hoff = 12;
        hlen = (size_t)load_u32(b + 8);
    } else {
        bnn_fail(e, "%s: unsupported .npy version %u.%u (1.0, 2.0 and 3.0 are read)", path,
                 major, minor);
        goto fail;
    }
    if (hlen > size - hoff) {
        bnn_fail(e, "%s: truncated header: header length %zu runs past the end of the file "
                    "(%zu bytes)", path, hlen, size);
        goto fail;
    }
    if (windowed && hoff + hlen > bytes.len) { /* a header longer than the prefix read */
        if (read_prefix(in->fd, path, hoff + hlen, &bytes, e) != 0)
            goto fail;
        b = bytes.p;
    }
    npy_header h;
    if (parse_header((const char *)b + hoff, hlen, &h) != 0) {
        char ex[200];
        size_t exlen = hlen; /* without the padding */
        while (exlen && (b[hoff + exlen - 1] == ' ' || b[hoff + exlen - 1] == '\n'))
            exlen--;
        bnn_quote(ex, sizeof ex, b + hoff, exlen, sizeof ex);
        bnn_fail(e, "%s: bad header (%s): %s", path, h.why, ex);
        goto fail;
    }

    size_t isz = 0;
    char kind = 'f';
    const char *d = h.descr;
    if ((d[0] == '<' || d[0] == '|' || (BNN_HOST_LE && d[0] == '=')) &&
        (d[1] == 'i' || d[1] == 'u') && strchr("1248", d[2]) && d[2] && d[3] == '\0' &&
        (d[0] != '|' || d[2] == '1')) {
        kind = d[1];
        isz = (size_t)(d[2] - '0');
    } else if (strcmp(d, "<f4") == 0 || (BNN_HOST_LE && strcmp(d, "=f4") == 0))
        isz = 4;
    else if (strcmp(d, "<f8") == 0 || (BNN_HOST_LE && strcmp(d, "=f8") == 0))
        isz = 8;
    else if (strcmp(d, ">f4") == 0 || strcmp(d, ">f8") == 0) {
        bnn_fail(e, "%s: big-endian dtype '%s' is not supported; convert it with "
                    "a.astype('<f%c')", path, d, d[2]);
        goto fail;
    } else {
        bnn_fail(e, "%s: unsupported dtype '%s' (float32 '<f4', float64 '<f8' and integers "
                    "'<i1'..'<i8', '<u1'..'<u8' are read)", path, d);
        goto fail;
    }
    if (h.ndim == 0) {
        bnn_fail(e, "%s: shape () is a 0-D array (a scalar), not a table", path);
        goto fail;
    }
    if (h.ndim > 2) {
        bnn_fail(e, "%s: %zu-D array; a table is 2-D (rows, cols) or 1-D", path, h.ndim);
        goto fail;
    }
    uint64_t rows = h.dim[0], cols = h.ndim == 2 ? h.dim[1] : 1;
    if (rows == 0) {
        bnn_fail(e, "%s: no samples (shape has 0 rows)", path);
        goto fail;
    }
    if (cols == 0) {
        bnn_fail(e, "%s: no columns (shape (%llu, 0))", path, (unsigned long long)rows);
        goto fail;
    }
    if (rows > SIZE_MAX || cols > SIZE_MAX || rows > SIZE_MAX / cols
        || rows * cols > SIZE_MAX / isz) {
        bnn_fail(e, "%s: shape (%llu, %llu) is too large", path, (unsigned long long)rows,
                 (unsigned long long)cols);
        goto fail;
    }
    size_t n = (size_t)rows * (size_t)cols;
    size_t need = n * isz, doff = hoff + hlen, have = size - doff;
    if (have < need) {
        bnn_fail(e, "%s: truncated: expected %zu bytes of data, found %zu", path, need, have);
        goto fail;
    }
    if (have > need) {
        bnn_fail(e, "%s: expected %zu bytes of data, found %zu (%zu extra bytes at the end)",
                 path, need, have, have - need);
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        bnn_fail(e, "%s: out of memory", path);
        goto fail;
    }
    c->fd = -1;
    c->itemsize = isz;
    c->kind = kind;
    const unsigned char *data = NULL;
    /* the elements this process scans: all, or under mpirun its share (bnn_npy_split) */
    size_t lo = 0, hi = n;
    if (bnn_npy_split)
        bnn_npy_split->range(n, &lo, &hi);
    size_t bad = n;
    double v = 0;
    if (windowed) {
        c->fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 0);
        if (c->fd < 0) {
            bnn_fail(e, "%s: cannot keep the file open: %s", path, strerror(errno));
            goto fail;
        }
        if (pthread_mutex_init(&c->lock, NULL) != 0) {
            close(c->fd);
            c->fd = -1;
            bnn_fail(e, "%s: cannot create a lock", path);
            goto fail;
        }
        c->doff = doff;
        c->fsize = size;
        if (kind == 'f' && hi > lo && scan_windowed(c, lo, hi, n, path, &bad, &v, e) != 0)
            goto fail_windowed;
    } else {
        data = b + doff;
        if (bytes.map && hi > lo) { /* the scan below reads them; so does every epoch its rows */
            const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
            const uintptr_t from = (uintptr_t)(data + lo * isz) & ~(page - 1);
            (void)madvise((void *)from, (uintptr_t)(data + hi * isz) - from, MADV_WILLNEED);
        }
        if (kind == 'f' && hi > lo) {
            const size_t rel = isz == 4 ? first_bad_f32(data + lo * 4, hi - lo)
                                        : first_bad_f64(data + lo * 8, hi - lo);
            bad = rel < hi - lo ? lo + rel : n;
        }
    }
    if (bnn_npy_split) { /* every rank reports the same first bad element */
        const size_t mine = bad;
        bad = bnn_npy_split->agree(bad, n);
        if (windowed && bad < n && bad != mine) { /* found by another rank: read it here */
            unsigned char one[8] = {0};
            if (pread(c->fd, one, isz, (off_t)(doff + (uint64_t)bad * isz)) == (ssize_t)isz)
                v = isz == 4 ? (double)load_f32(one) : load_f64(one);
        }
    }
    if (!windowed && bad < n)
        v = isz == 4 ? (double)load_f32(data + bad * 4) : load_f64(data + bad * 8);
    if (bad < n) {
        size_t r, col;
        if (h.fortran) {
            r = bad % (size_t)rows;
            col = bad / (size_t)rows;
        } else {
            r = bad / (size_t)cols;
            col = bad % (size_t)cols;
        }
        char where[64], what[64];
        if (h.ndim == 1)
            snprintf(where, sizeof where, "[%zu]", r);
        else
            snprintf(where, sizeof where, "[%zu, %zu]", r, col);
        if (isnan(v))
            snprintf(what, sizeof what, "is nan");
        else if (isinf(v))
            snprintf(what, sizeof what, "is %s", v < 0 ? "-inf" : "inf");
        else {
            char num[32];
            for (int prec = 6; prec <= 17; prec++) { /* the shortest text of v */
                snprintf(num, sizeof num, "%.*g", prec, v);
                if (strtod(num, NULL) == v)
                    break;
            }
            snprintf(what, sizeof what, "= %s is out of float32 range", num);
        }
        bnn_fail(e, "%s: element %s %s", path, where, what);
        goto fail_windowed;
    }

    c->bytes = bytes;
    c->data = data;
    c->rows = (size_t)rows;
    c->cols = (size_t)cols;
    c->fortran = h.fortran && rows > 1 && cols > 1; /* a vector is the same in both orders */

    t->rows = c->rows;
    t->cols = c->cols;
    t->ctx = c;
    t->close = npy_close;
    snprintf(t->name, sizeof t->name, "%s", path);
    if (!windowed && BNN_HOST_LE && kind == 'f' && isz == 4 && !c->fortran &&
        doff % sizeof(float) == 0) {
        t->f32 = (const float *)(const void *)data;
        t->ld = c->cols;
    } else {
        t->read = npy_read;
    }
    return 0;

fail_windowed:
    if (c && c->fd >= 0) {
        pthread_mutex_destroy(&c->lock);
        close(c->fd);
    }
fail:
    bnn_bytes_free(&bytes);
    free(c);
    return -1;
}

int bnn_table_open_npy(bnn_table *t, const char *path, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    bnn_input in;
    if (bnn_input_open(&in, path, e) != 0)
        return -1;
    int rc = bnn_npy_from_input(t, &in, e);
    bnn_input_close(&in);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */

int bnn_npz_member_path(const char *path, char *file, size_t n, const char **member)
{
    const char *colon = strrchr(path, ':');
    if (!colon || colon == path || !colon[1] || access(path, F_OK) == 0)
        return 0;
    size_t len = (size_t)(colon - path);
    if (len < 4 || len >= n || strncasecmp(colon - 4, ".npz", 4) != 0)
        return 0;
    memcpy(file, path, len);
    file[len] = '\0';
    *member = colon + 1;
    return 1;
}

static int has_suffix(const char *path, const char *suf)
{
    size_t l = strlen(path), k = strlen(suf);
    return l >= k && strcasecmp(path + l - k, suf) == 0;
}

int bnn_table_open(bnn_table *t, const char *path, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    char file[512];
    const char *member = NULL;
    const int named = bnn_npz_member_path(path, file, sizeof file, &member);
    bnn_input in;
    if (bnn_input_open(&in, named ? file : path, e) != 0)
        return -1;
    /* the first bytes, read once: the chosen reader starts with them (a FIFO or a pipe
     * cannot be read twice); the format is the bytes', the name only a hint */
    int rc = bnn_input_peek(&in, sizeof npy_magic, e);
    if (rc == 0) {
        const unsigned char *h = in.head;
        const int gz = in.nhead >= 2 && h[0] == 0x1f && h[1] == 0x8b;
        const int zip = in.nhead >= 4 && memcmp(h, "PK\3\4", 4) == 0;
        const int npy = in.nhead == sizeof npy_magic && memcmp(h, npy_magic, sizeof npy_magic) == 0;
        if (named && !zip)
            rc = bnn_fail(e, "%s: not a .npz file (no zip signature), so it has no array '%s'",
                          in.name, member);
        else if (zip)
            rc = bnn_table_open_npz(t, &in, member, e);
        else if (gz)
            rc = bnn_table_open_gzip(t, &in, e);
        else if (npy)
            rc = bnn_npy_from_input(t, &in, e);
        else if (has_suffix(path, ".npz"))
            rc = bnn_fail(e, "%s: not a .npz file (no zip signature)", in.name);
        else if (has_suffix(path, ".gz"))
            rc = bnn_fail(e, "%s: not a gzip file (bad magic)", in.name);
        else if (bnn_path_is_npy(path))
            rc = bnn_fail(e, "%s: not a .npy file (bad magic)", in.name);
        else
            rc = bnn_csv_from_input(t, &in, e);
    }
    bnn_input_close(&in);
    return rc;
}
