/* npy_format.h - what the .npy reader's files share (private to src/io/npy*.c and
 * table_open.c): the magic, little-endian loads from any alignment, the header's fields, the
 * header parser, the finiteness scan and the checks both readers make (npy_format.c). */
#ifndef BNN_NPY_FORMAT_H
#define BNN_NPY_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/bnn_io.h"

/* "\x93NUMPY": the first bytes of every .npy file. */
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

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

/* The header's dict literal, parsed. */
typedef struct npy_header {
    char descr[32];
    int have_descr, have_fortran, have_shape;
    int fortran;
    size_t ndim;      /* every dimension counted, however many */
    uint64_t dim[2];  /* first two dimensions (ndim may be larger: refused later) */
    char why[160];    /* what is wrong, when parsing fails */
} npy_header;

/* Parses the len bytes of a header's dict literal into h: 0, or -1 with h->why saying what is
 * wrong (each of the three keys once, no other key; the values are checked by the caller). */
int bnn_npy_parse_header(const char *s, size_t len, npy_header *h);

/* Index of the first float32 that is nan or inf among the n little-endian values at d, or
 * n. */
size_t bnn_npy_first_bad_f32(const unsigned char *d, size_t n);
/* Index of the first float64 that is nan or does not round to a finite float32, or n. */
size_t bnn_npy_first_bad_f64(const unsigned char *d, size_t n);

/* An integer element of isz bytes (kind 'i' or 'u', little-endian) as float (labels). */
float npy_load_int(const unsigned char *p, size_t isz, char kind);
/* The magic, the version and the header's length (b: the first bytes of a file of size
 * bytes, at least NPY_MAGIC_LEN): the header is at [*hoff, *hoff + *hlen). 0 or -1. */
int npy_read_preamble(const unsigned char *b, size_t size, const char *path, size_t *hoff,
                      size_t *hlen, bnn_error *e);
/* The element type of descr: *isz bytes of *kind ('f' float, 'i' or 'u' integer). 0 or -1. */
int npy_check_dtype(const char *d, const char *path, size_t *isz, char *kind, bnn_error *e);
/* The table's shape: (rows, cols), or (n,) as one column; not empty, and its bytes (isz
 * each) countable in a size_t. 0 or -1. */
int npy_check_shape(const npy_header *h, size_t isz, const char *path, uint64_t *rows,
                    uint64_t *cols, bnn_error *e);
/* The message for element bad (in file order) of value v, which is not finite or not a
 * float32: "x.npy: element [3, 1] is nan" ([i] for a 1-D array). Returns -1. */
int npy_bad_element(const npy_header *h, size_t rows, size_t cols, size_t bad, double v,
                    const char *path, bnn_error *e);

#endif
