/*
 * npy.c - the NumPy .npy reader (bnn_table_open_npy, bnn_npy_from_input). The header parser
 * and the finiteness scan are npy_format.c; the reader chooser (bnn_table_open) table_open.c.
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
 * is larger than half of the memory or of the address space left (want_windows), in windows
 * (windowed mode, below: always the read form; float32 in C order with a read-ahead thread);
 * a stream (pipe, FIFO, "-" for standard input) is read into memory, at most the stream limit
 * (see table.c).
 * float32 in C order (or any order when one dimension is 1) with a 4-byte aligned data offset
 * is used in place (direct form, t->f32 points into the mapping or the copy); float64,
 * Fortran order or a misaligned offset use the read form, converting on demand (no mutable
 * state: thread-safe). A mapped file must not be truncated by someone else while in use:
 * that raises SIGBUS, as with any mapping; the mapping is registered (bnn_mapped_register)
 * so that a SIGBUS handler can name the file.

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

#include "io/bnn_io.h"
#include "npy_ahead.h"
#include "npy_format.h"

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
    npy_ahead *ahead;          /* windowed mode, float32 in C order: the read-ahead */
    npy_window win[NPY_WINDOWS];
    size_t rows, cols;
    size_t itemsize; /* 4 or 8; 1, 2, 4, 8 for integers */
    int fortran;     /* element (r, c) at c * rows + r instead of r * cols + c */
    char kind;       /* 'f' float, 'i' signed, 'u' unsigned integer */
} npy_ctx;

/* ---------------------------------------------------------------------------------------- */
/* The read form                                                                             */

/* ---------------------------------------------------------------------------------------- */
/* Windowed mode: a file the page cache cannot keep or the address space cannot hold
 * (want_windows; or any file after bnn_npy_force_windows(1), for tests; the command's
 * BATCHNN_NPY_WINDOWS=1) is never mapped whole. Each read maps the window of the file that
 * holds the bytes it needs (NPY_WINDOW_BYTES or more, from the page holding its first byte,
 * never past the end of the file), advised MADV_SEQUENTIAL and MADV_WILLNEED so the kernel
 * reads the whole window ahead in large requests, and keeps it for the reads that follow (a
 * small read that does not follow a window, as a shuffled view's single rows, maps only its own
 * pages, MADV_RANDOM); a window no longer needed is dropped (MADV_DONTNEED, then unmapped), so
 * the resident memory stays at most NPY_WINDOWS windows whatever the file's size. Windows are
 * registered (bnn_mapped_register) so that a SIGBUS on a truncated file is still named. Only
 * the bytes of the rows asked for (and the rest of their window) are touched: a process that
 * reads some of the rows (an MPI rank) maps only around them. Whole rows of little-endian
 * float32 in C order (the engines' usual read) skip these windows: they are lent in place
 * (bnn_table.borrow, npy_borrow) or copied from the read-ahead's (npy_ahead.c: a thread of its
 * own maps the next window and faults it in while the engines compute on the current one; at
 * most 8 windows of 4 MiB, a fixed bound), or read with pread (read_rows_direct). */

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
            out[r * ldo + k] = c->kind != 'f' ? npy_load_int(p, isz, c->kind)
                             : isz == 8       ? (float)load_f64(p)
                                              : load_f32(p);
        }
}

/* Whole rows of little-endian float32 in C order are the bytes of out itself: copied
 * straight into it by the read-ahead (npy_ahead.c: windows read by a thread of their own
 * while the engines compute, else pread; no window to map, no page faults, no conversion).
 * Returns 1 when done, 0 when this read is not of that kind. */
static int read_rows_direct(const bnn_table *t, size_t row0, size_t nrows, size_t ncols,
                            float *out, size_t ldo, int *rc, bnn_error *e)
{
    const npy_ctx *c = t->ctx;
    if (!c->ahead || ncols != c->cols || ldo != c->cols)
        return 0;
    const uint64_t off = (uint64_t)row0 * c->cols * 4;
    const size_t len = nrows * c->cols * 4;
    int err = 0;
    uint64_t at = 0;
    *rc = 0;
    if (npy_ahead_read(c->ahead, off, len, out, &err, &at) == 0)
        return 1;
    if (err == 0)
        *rc = bnn_fail(e, "%s: the file ends at byte %llu, before row %zu's data; was it "
                          "truncated during the run?", t->name, (unsigned long long)at,
                       (size_t)((at - c->doff) / (c->cols * 4)));
    else
        *rc = bnn_fail(e, "%s: cannot read bytes %llu..%llu: %s", t->name,
                       (unsigned long long)at, (unsigned long long)(c->doff + off + len),
                       strerror(err));
    return 1;
}

/* bnn_table.borrow: whole rows lent from a window read ahead (float32 in C order at a
 * 4-byte aligned data offset: see npy_ahead_borrow). */
static const float *npy_borrow(const bnn_table *t, size_t row0, size_t nrows, void **pin)
{
    const npy_ctx *c = t->ctx;
    *pin = NULL;
    if (row0 > c->rows || nrows > c->rows - row0)
        return NULL;
    const void *p = npy_ahead_borrow(c->ahead, (uint64_t)row0 * c->cols * 4,
                                     nrows * c->cols * 4, pin);
    if (p && (uintptr_t)p % sizeof(float) != 0) { /* windows of a size not a multiple of 4 */
        npy_ahead_unpin(c->ahead, *pin);
        *pin = NULL;
        return NULL;
    }
    return p;
}

static void npy_unpin(const bnn_table *t, void *pin)
{
    const npy_ctx *c = t->ctx;
    npy_ahead_unpin(c->ahead, pin);
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
                out[r * ldo + k] =
                    npy_load_int(c->data + at * c->itemsize, c->itemsize, c->kind);
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
            npy_ahead_stop(c->ahead);
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

/* ---------------------------------------------------------------------------------------- */

/* bnn_npy_force_windows (tests; the command's BATCHNN_NPY_WINDOWS=1). */
static int npy_windows_forced;

void bnn_npy_force_windows(int on)
{
    npy_windows_forced = on != 0;
}

/* bnn_npy_ahead_window (tests): the read-ahead's window size, 0 for NPY_AHEAD_BYTES. */
static size_t npy_ahead_bytes;

void bnn_npy_ahead_window(size_t bytes)
{
    npy_ahead_bytes = bytes;
}

/* Windowed mode for a regular file of size bytes? Forced by bnn_npy_force_windows (tests).
 * A file is mapped whole when the page cache can keep it from one epoch to the next (at most
 * half of the memory: physical, or a cgroup's limit) and, under an address-space limit
 * (ulimit -v), when it takes at most half of the address space the process has left. Mapping
 * windows again every epoch costs the kernel's page-table work for every page, as much CPU
 * time as the engine's own read of it: windows are for files the page cache cannot keep
 * (they come from the disk every epoch anyway) and for address-space-limited processes. */
static int want_windows(uint64_t size)
{
    if (npy_windows_forced)
        return 1;
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    if (lim.memory && size > lim.memory / 2)
        return 1;
    return size > bnn_address_space_free() / 2; /* SIZE_MAX without a limit */
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
        size_t k = isz == 4 ? bnn_npy_first_bad_f32(d, cnt) : bnn_npy_first_bad_f64(d, cnt);
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

/* Windowed mode: c keeps its own descriptor of the file (fd) and a lock for its windows. */
static int open_windowed(npy_ctx *c, int fd, uint64_t doff, uint64_t size, const char *path,
                         bnn_error *e)
{
    c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (c->fd < 0)
        return bnn_fail(e, "%s: cannot keep the file open: %s", path, strerror(errno));
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        close(c->fd);
        c->fd = -1;
        return bnn_fail(e, "%s: cannot create a lock", path);
    }
    c->doff = doff;
    c->fsize = size;
    return 0;
}

/* The first element of [lo, hi) of the floats at data (isz bytes each) that is not finite
 * (or not a float32), or n. A mapping is advised first: the scan reads those pages, and so
 * does every epoch its rows. */
static size_t scan_mapped(const unsigned char *data, int mapped, size_t isz, size_t lo,
                          size_t hi, size_t n)
{
    if (mapped) {
        const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t from = (uintptr_t)(data + lo * isz) & ~(page - 1);
        (void)madvise((void *)from, (uintptr_t)(data + hi * isz) - from, MADV_WILLNEED);
    }
    const size_t rel = isz == 4 ? bnn_npy_first_bad_f32(data + lo * 4, hi - lo)
                                : bnn_npy_first_bad_f64(data + lo * 8, hi - lo);
    return rel < hi - lo ? lo + rel : n;
}

/* Under mpirun (bnn_npy_split): *bad becomes the first bad element any rank found; in
 * windowed mode one another rank found is read here for its value *v. */
static void agree_bad(const npy_ctx *c, int windowed, uint64_t doff, size_t n, size_t *bad,
                      double *v)
{
    const size_t mine = *bad, isz = c->itemsize;
    *bad = bnn_npy_split->agree(*bad, n);
    if (windowed && *bad < n && *bad != mine) {
        unsigned char one[8] = {0};
        if (pread(c->fd, one, isz, (off_t)(doff + (uint64_t)*bad * isz)) == (ssize_t)isz)
            *v = isz == 4 ? (double)load_f32(one) : load_f64(one);
    }
}

/* The preamble and the header dictionary of the file of `size` bytes whose start is in bytes
 * (windowed: a prefix, read further here when the header is longer): the header's offset and
 * length and its parsed fields. 0, or -1 with the message in e. */
static int read_header(bnn_input *in, int windowed, bnn_bytes *bytes, size_t size,
                       size_t *hoff, size_t *hlen, npy_header *h, bnn_error *e)
{
    const char *path = in->name;
    const unsigned char *b = bytes->p;
    if (npy_read_preamble(b, size, path, hoff, hlen, e) != 0)
        return -1;
    if (windowed && *hoff + *hlen > bytes->len) { /* a header longer than the prefix read */
        if (read_prefix(in->fd, path, *hoff + *hlen, bytes, e) != 0)
            return -1;
        b = bytes->p;
    }
    if (bnn_npy_parse_header((const char *)b + *hoff, *hlen, h) != 0) {
        char ex[200];
        size_t exlen = *hlen; /* without the padding */
        while (exlen && (b[*hoff + exlen - 1] == ' ' || b[*hoff + exlen - 1] == '\n'))
            exlen--;
        bnn_quote(ex, sizeof ex, b + *hoff, exlen, sizeof ex);
        return bnn_fail(e, "%s: bad header (%s): %s", path, h->why, ex);
    }
    return 0;
}

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
    if (size < NPY_MAGIC_LEN) {
        bnn_fail(e, "%s: not a .npy file (%zu bytes, too short for the magic)", path, size);
        bnn_bytes_free(&bytes);
        return -1;
    }
    npy_ctx *c = NULL;
    size_t hoff = 0, hlen = 0;
    npy_header h;
    if (read_header(in, windowed, &bytes, size, &hoff, &hlen, &h, e) != 0)
        goto fail;
    const unsigned char *b = bytes.p;

    size_t isz = 0;
    char kind = 'f';
    uint64_t rows = 0, cols = 0;
    if (npy_check_dtype(h.descr, path, &isz, &kind, e) != 0 ||
        npy_check_shape(&h, isz, path, &rows, &cols, e) != 0)
        goto fail;
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
        if (open_windowed(c, in->fd, doff, size, path, e) != 0)
            goto fail;
        if (kind == 'f' && hi > lo && scan_windowed(c, lo, hi, n, path, &bad, &v, e) != 0)
            goto fail_windowed;
    } else {
        data = b + doff;
        if (kind == 'f' && hi > lo)
            bad = scan_mapped(data, bytes.map != NULL, isz, lo, hi, n);
    }
    if (bnn_npy_split) /* every rank reports the same first bad element */
        agree_bad(c, windowed, doff, n, &bad, &v);
    if (!windowed && bad < n)
        v = isz == 4 ? (double)load_f32(data + bad * 4) : load_f64(data + bad * 8);
    if (bad < n) {
        npy_bad_element(&h, (size_t)rows, (size_t)cols, bad, v, path, e);
        goto fail_windowed;
    }

    c->bytes = bytes;
    c->data = data;
    c->rows = (size_t)rows;
    c->cols = (size_t)cols;
    c->fortran = h.fortran && rows > 1 && cols > 1; /* a vector is the same in both orders */
    if (windowed && BNN_HOST_LE && kind == 'f' && isz == 4 && !c->fortran &&
        npy_ahead_start(&c->ahead, c->fd, doff, need, npy_ahead_bytes, path, e) != 0)
        goto fail_windowed;

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
    if (c->ahead && doff % sizeof(float) == 0) { /* rows lent in place from the windows */
        t->borrow = npy_borrow;
        t->unpin = npy_unpin;
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
