/*
 * npy_format.c - the .npy format below the reader (npy.c): the parser of the header's dict
 * literal as numpy writes it, and the finiteness scan of the data (the first element that is
 * nan or inf, or, for float64, does not fit float32), and the checks and messages the mapped
 * reader (npy.c) and the streamed one (npy_stream.c) share: preamble, dtype, shape, a bad
 * element. Pure functions on bytes: no file, no allocation, thread-safe.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnn_io.h"
#include "npy_format.h"

/* ---------------------------------------------------------------------------------------- */
/* The header: a small parser for the dict literal numpy writes                             */



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

int bnn_npy_parse_header(const char *s, size_t len, npy_header *h)
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
/* The finiteness scan                                                                       */

/* Index of the first float32 that is nan or inf, or n. */
size_t bnn_npy_first_bad_f32(const unsigned char *d, size_t n)
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
size_t bnn_npy_first_bad_f64(const unsigned char *d, size_t n)
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

/* An integer element as float (class labels). */
float npy_load_int(const unsigned char *p, size_t isz, char kind)
{
    uint64_t u = 0;
    for (size_t i = 0; i < isz; i++)
        u |= (uint64_t)p[i] << (8 * i);
    if (kind == 'u')
        return (float)u;
    const int sh = (int)(64 - 8 * isz); /* sign-extend */
    return (float)((int64_t)(u << sh) >> sh);
}

/* The magic, the version and the header's length (b: the first bytes of a file of size
 * bytes, at least NPY_MAGIC_LEN): the header is at [*hoff, *hoff + *hlen). 0 or -1. */
int npy_read_preamble(const unsigned char *b, size_t size, const char *path, size_t *hoff,
                         size_t *hlen, bnn_error *e)
{
    if (memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return bnn_fail(e, "%s: not a .npy file (bad magic)", path);
    if (size < 8)
        return bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
    unsigned major = b[6], minor = b[7];
    if (major == 1 && minor == 0) {
        if (size < 10)
            return bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
        *hoff = 10;
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12)
            return bnn_fail(e, "%s: truncated header: %zu bytes", path, size);
        *hoff = 12;
        *hlen = (size_t)load_u32(b + 8);
    } else {
        return bnn_fail(e, "%s: unsupported .npy version %u.%u (1.0, 2.0 and 3.0 are read)",
                        path, major, minor);
    }
    if (*hlen > size - *hoff)
        return bnn_fail(e, "%s: truncated header: header length %zu runs past the end of the "
                           "file (%zu bytes)", path, *hlen, size);
    return 0;
}

/* The element type of descr: *isz bytes of *kind ('f' float, 'i' or 'u' integer). 0 or -1. */
int npy_check_dtype(const char *d, const char *path, size_t *isz, char *kind, bnn_error *e)
{
    *kind = 'f';
    if ((d[0] == '<' || d[0] == '|' || (BNN_HOST_LE && d[0] == '=')) &&
        (d[1] == 'i' || d[1] == 'u') && strchr("1248", d[2]) && d[2] && d[3] == '\0' &&
        (d[0] != '|' || d[2] == '1')) {
        *kind = d[1];
        *isz = (size_t)(d[2] - '0');
    } else if (strcmp(d, "<f4") == 0 || (BNN_HOST_LE && strcmp(d, "=f4") == 0))
        *isz = 4;
    else if (strcmp(d, "<f8") == 0 || (BNN_HOST_LE && strcmp(d, "=f8") == 0))
        *isz = 8;
    else if (strcmp(d, ">f4") == 0 || strcmp(d, ">f8") == 0)
        return bnn_fail(e, "%s: big-endian dtype '%s' is not supported; convert it with "
                           "a.astype('<f%c')", path, d, d[2]);
    else
        return bnn_fail(e, "%s: unsupported dtype '%s' (float32 '<f4', float64 '<f8' and "
                           "integers '<i1'..'<i8', '<u1'..'<u8' are read)", path, d);
    return 0;
}

/* The table's shape: (rows, cols), or (n,) as one column; not empty, and its bytes (isz
 * each) countable in a size_t. 0 or -1. */
int npy_check_shape(const npy_header *h, size_t isz, const char *path, uint64_t *rows,
                       uint64_t *cols, bnn_error *e)
{
    if (h->ndim == 0)
        return bnn_fail(e, "%s: shape () is a 0-D array (a scalar), not a table", path);
    if (h->ndim > 2)
        return bnn_fail(e, "%s: %zu-D array; a table is 2-D (rows, cols) or 1-D", path, h->ndim);
    const uint64_t r = h->dim[0], c = h->ndim == 2 ? h->dim[1] : 1;
    if (r == 0)
        return bnn_fail(e, "%s: no samples (shape has 0 rows)", path);
    if (c == 0)
        return bnn_fail(e, "%s: no columns (shape (%llu, 0))", path, (unsigned long long)r);
    if (r > SIZE_MAX || c > SIZE_MAX || r > SIZE_MAX / c || r * c > SIZE_MAX / isz)
        return bnn_fail(e, "%s: shape (%llu, %llu) is too large", path, (unsigned long long)r,
                        (unsigned long long)c);
    *rows = r;
    *cols = c;
    return 0;
}

/* The message for element bad (in file order) of value v, which is not finite or not a
 * float32: "x.npy: element [3, 1] is nan" ([i] for a 1-D array). Returns -1. */
int npy_bad_element(const npy_header *h, size_t rows, size_t cols, size_t bad, double v,
                       const char *path, bnn_error *e)
{
    size_t r, col;
    if (h->fortran) {
        r = bad % rows;
        col = bad / rows;
    } else {
        r = bad / cols;
        col = bad % cols;
    }
    char where[64], what[64];
    if (h->ndim == 1)
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
    return bnn_fail(e, "%s: element %s %s", path, where, what);
}
