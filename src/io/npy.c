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
 * A regular file is memory-mapped read-only (MAP_PRIVATE), never copied; a stream (pipe,
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

/* The mapping and how to read it; shared read-only by every thread. */
typedef struct npy_ctx {
    bnn_bytes bytes; /* the whole file: a registered mapping, or a copy read from a stream */
    const unsigned char *data;
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

static int npy_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                    float *out, size_t ldo, bnn_error *e)
{
    const npy_ctx *c = t->ctx;
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

int bnn_npy_from_input(bnn_table *t, bnn_input *in, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    const char *path = in->name;
    bnn_bytes bytes;
    if (bnn_input_contents(in, &bytes, e) != 0)
        return -1;
    if (bytes.len < sizeof npy_magic) {
        bnn_fail(e, "%s: not a .npy file (%zu bytes, too short for the magic)", path, bytes.len);
        bnn_bytes_free(&bytes);
        return -1;
    }
    size_t size = bytes.len;
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
    const unsigned char *data = b + doff;
    /* the elements this process scans: all, or under mpirun its share (bnn_npy_split) */
    size_t lo = 0, hi = n;
    if (bnn_npy_split)
        bnn_npy_split->range(n, &lo, &hi);
    if (bytes.map && hi > lo) { /* the scan below reads them; so does every epoch its rows */
        const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t from = (uintptr_t)(data + lo * isz) & ~(page - 1);
        (void)madvise((void *)from, (uintptr_t)(data + hi * isz) - from, MADV_WILLNEED);
    }
    size_t bad = n;
    if (kind == 'f' && hi > lo) {
        const size_t rel = isz == 4 ? first_bad_f32(data + lo * 4, hi - lo)
                                    : first_bad_f64(data + lo * 8, hi - lo);
        bad = rel < hi - lo ? lo + rel : n;
    }
    if (bnn_npy_split) /* every rank reports the same first bad element */
        bad = bnn_npy_split->agree(bad, n);
    if (bad < n) {
        size_t r, col;
        if (h.fortran) {
            r = bad % (size_t)rows;
            col = bad / (size_t)rows;
        } else {
            r = bad / (size_t)cols;
            col = bad % (size_t)cols;
        }
        double v = isz == 4 ? (double)load_f32(data + bad * 4) : load_f64(data + bad * 8);
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
        goto fail;
    }

    c = calloc(1, sizeof *c);
    if (!c) {
        bnn_fail(e, "%s: out of memory", path);
        goto fail;
    }
    c->bytes = bytes;
    c->data = data;
    c->rows = (size_t)rows;
    c->cols = (size_t)cols;
    c->itemsize = isz;
    c->kind = kind;
    c->fortran = h.fortran && rows > 1 && cols > 1; /* a vector is the same in both orders */

    t->rows = c->rows;
    t->cols = c->cols;
    t->ctx = c;
    t->close = npy_close;
    snprintf(t->name, sizeof t->name, "%s", path);
    if (BNN_HOST_LE && kind == 'f' && isz == 4 && !c->fortran && doff % sizeof(float) == 0) {
        t->f32 = (const float *)(const void *)data;
        t->ld = c->cols;
    } else {
        t->read = npy_read;
    }
    return 0;

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

int bnn_table_open(bnn_table *t, const char *path, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    bnn_input in;
    if (bnn_input_open(&in, path, e) != 0)
        return -1;
    /* the first bytes, read once: the chosen reader starts with them (a FIFO or a pipe
     * cannot be read twice) */
    int rc = bnn_input_peek(&in, sizeof npy_magic, e);
    if (rc == 0) {
        if (in.nhead == sizeof npy_magic && memcmp(in.head, npy_magic, sizeof npy_magic) == 0)
            rc = bnn_npy_from_input(t, &in, e);
        else if (bnn_path_is_npy(path))
            rc = bnn_fail(e, "%s: not a .npy file (bad magic)", in.name);
        else
            rc = bnn_csv_from_input(t, &in, e);
    }
    bnn_input_close(&in);
    return rc;
}
