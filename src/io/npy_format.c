/*
 * npy_format.c - the .npy format below the reader (npy.c): the parser of the header's dict
 * literal as numpy writes it, and the finiteness scan of the data (the first element that is
 * nan or inf, or, for float64, does not fit float32). Pure functions on bytes: no file, no
 * allocation, thread-safe.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
