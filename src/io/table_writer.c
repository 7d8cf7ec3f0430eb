/*
 * table_writer.c - streaming writer for tables (predictions, generated data sets).
 *
 * A path ending in ".npy" (any case) gets NumPy .npy version 1.0: the header
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }" padded with spaces and
 * ended by '\n' so that the data starts at a multiple of 64 bytes, then float32 little-endian
 * values in C order. Any other path gets CSV: the optional header line, then one line per row,
 * each value printed with "%.9g" (enough digits to round-trip every float32 through the CSV
 * reader), separated by commas, lines ended by '\n'.
 *
 * Rules it enforces:
 *   - cols >= 1; the .npy size rows * cols * 4 must not overflow.
 *   - a CSV header must be one line with exactly cols fields (so the file reads back).
 *   - every value written is finite (the readers refuse nan and inf, so a file that would
 *     not read back is refused here, naming the row and column).
 *   - writer_rows never lets more than `rows` rows through; commit requires exactly `rows`.
 *
 * Life cycle: open -> rows ... -> commit or abort. Everything goes through bnn_outfile (a
 * temporary name in the same directory, fsync, rename), so the destination is replaced only
 * by a complete file. commit frees the writer whatever happens (on failure it removes the
 * temporary file and leaves any existing destination untouched); abort frees it too. After
 * a failed writer_rows the writer stays allocated: call abort (commit would fail as well).
 * Output is formatted into a private 1 MiB buffer and written in large blocks. CSV values
 * are formatted by bnn_fmt_g9, which writes exactly what printf("%.9g") writes for every
 * float32, faster: the value m * 2^e is scaled to nine digits in 128-bit integers and rounded
 * half to even; values below 2^-73 in magnitude go to snprintf (and every value does when the
 * compiler lacks __int128, or with -DBNN_FMT_PRINTF_ONLY). The proof is in the tree:
 * tests/fmt_g9_check.c compares it with snprintf for all 2^32 bit patterns (~40 min on 2 cores:
 * build/tests/fmt_g9_check), test_csv checks a seeded sample and the edges on every run, and
 * tests/io_bench.c measures the gain (README, File formats: 10^7 values written about 7x faster).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/bnn_io.h"

#define WBUF_SIZE ((size_t)1 << 20)

struct bnn_table_writer {
    bnn_outfile out;
    int npy;
    int failed;         /* a write failed or a rule was broken: commit refuses */
    size_t rows, cols;  /* declared */
    size_t written;     /* rows so far */
    char *buf;          /* pending output */
    size_t len;
    char path[512];     /* for messages */
};

static int flush_buf(bnn_table_writer *w, bnn_error *e)
{
    errno = 0;
    if (w->len && fwrite(w->buf, 1, w->len, (FILE *)w->out.fp) != w->len) {
        w->failed = 1;
        return bnn_fail(e, "%s: cannot write: %s", w->path, strerror(errno ? errno : EIO));
    }
    w->len = 0;
    return 0;
}

static int put(bnn_table_writer *w, const void *p, size_t n, bnn_error *e)
{
    if (n > WBUF_SIZE - w->len) {
        if (flush_buf(w, e) != 0)
            return -1;
        if (n > WBUF_SIZE) { /* large block: straight through */
            errno = 0;
            if (fwrite(p, 1, n, (FILE *)w->out.fp) != n) {
                w->failed = 1;
                return bnn_fail(e, "%s: cannot write: %s", w->path,
                                strerror(errno ? errno : EIO));
            }
            return 0;
        }
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* "%.9g" for float32, exactly as printf writes it, ~10x faster                              */

#if defined(__SIZEOF_INT128__) && !defined(BNN_FMT_PRINTF_ONLY)
__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

static u128 pow10_u128(int k) /* 0 <= k <= 38 */
{
    return k <= 19 ? (u128)pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* round(m * 2^e * 10^k), ties to even, for the ranges fmt_g9 uses (the result < 2^64):
 * k in [-30, 30], e in [-96, 104], m < 2^24. */
static uint64_t scale_round(uint64_t m, int e, int k)
{
    u128 q, r, half2; /* quotient, remainder, and the divisor (r is compared with it / 2) */
    if (k >= 0) {
        u128 n = (u128)m * pow10_u128(k);
        if (e >= 0)
            return (uint64_t)(n << e);
        int s = -e;
        q = n >> s;
        r = n & (((u128)1 << s) - 1);
        half2 = (u128)1 << s;
    } else {
        u128 n = (u128)m << e;
        u128 d = pow10_u128(-k);
        q = n / d;
        r = n - q * d;
        half2 = d;
    }
    /* r / divisor > 1/2, or == 1/2 and q odd: round up */
    if (2 * r > half2 || (2 * r == half2 && (q & 1)))
        q++;
    return (uint64_t)q;
}

/* Writes "%.9g" of f (finite) to out (>= 32 bytes) and returns the length. */
int bnn_fmt_g9(char *out, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    char *o = out;
    uint32_t be = (bits >> 23) & 0xff;
    if ((bits & 0x7fffffffu) == 0) {
        if (bits >> 31)
            *o++ = '-';
        *o++ = '0';
        return (int)(o - out);
    }
    if (be < 54 || be == 255) /* |f| < 2^-73 (subnormals included), or not finite */
        return snprintf(out, 32, "%.9g", (double)f);
    if (bits >> 31)
        *o++ = '-';
    uint64_t m = (bits & 0x7fffffu) | 0x800000u;
    int e = (int)be - 150; /* |f| = m * 2^e, and 2^e2 <= |f| < 2^(e2 + 1) */
    int e2 = e + 23;
    /* floor(e2 * log10(2)): X, the decimal exponent, is this or one more */
    int x = e2 >= 0 ? (e2 * 78913) >> 18 : -((-e2 * 78913 + (1 << 18) - 1) >> 18);
    uint64_t d = scale_round(m, e, 8 - x);
    if (d >= 1000000000u) {
        x++;
        d = scale_round(m, e, 8 - x);
    }
    if (d < 100000000u || d >= 1000000000u || x < -22 || x > 38) /* cannot happen */
        return snprintf(out, 32, "%.9g", (double)f);
    char dig[9];
    for (int i = 8; i >= 0; i--) {
        dig[i] = (char)('0' + d % 10);
        d /= 10;
    }
    int last = 8; /* last significant digit after trailing zeros are dropped */
    while (last > 0 && dig[last] == '0')
        last--;
    if (x < -4 || x >= 9) {
        *o++ = dig[0];
        if (last > 0) {
            *o++ = '.';
            for (int i = 1; i <= last; i++)
                *o++ = dig[i];
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            *o++ = dig[i];
        if (last > x) {
            *o++ = '.';
            for (int i = x + 1; i <= last; i++)
                *o++ = dig[i];
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *o++ = '0';
        for (int i = 0; i <= last; i++)
            *o++ = dig[i];
    }
    return (int)(o - out);
}
#else
int bnn_fmt_g9(char *out, float f)
{
    return snprintf(out, 32, "%.9g", (double)f);
}
#endif

static void writer_free(bnn_table_writer *w)
{
    free(w->buf);
    free(w);
}

int bnn_table_writer_open(bnn_table_writer **wp, const char *path, size_t rows, size_t cols,
                          const char *csv_header, bnn_error *e)
{
    *wp = NULL;
    if (cols == 0)
        return bnn_fail(e, "%s: cannot write a table with no columns", path);
    int npy = bnn_path_is_npy(path);
    if (npy && (rows > SIZE_MAX / cols || rows * cols > SIZE_MAX / sizeof(float)))
        return bnn_fail(e, "%s: %zu x %zu values are too many", path, rows, cols);
    if (!npy && csv_header) {
        size_t fields = 1;
        for (const char *s = csv_header; *s; s++) {
            if (*s == '\n' || *s == '\r')
                return bnn_fail(e, "%s: the CSV header must be a single line", path);
            fields += *s == ',';
        }
        if (fields != cols)
            return bnn_fail(e, "%s: the CSV header has %zu fields, the table %zu columns", path,
                            fields, cols);
    }
    bnn_table_writer *w = calloc(1, sizeof *w);
    if (!w)
        return bnn_fail(e, "%s: out of memory", path);
    w->buf = malloc(WBUF_SIZE);
    if (!w->buf) {
        free(w);
        return bnn_fail(e, "%s: out of memory", path);
    }
    w->npy = npy;
    w->rows = rows;
    w->cols = cols;
    snprintf(w->path, sizeof w->path, "%s", strcmp(path, "-") == 0 ? "standard output" : path);
    if (bnn_outfile_open(&w->out, path, e) != 0) {
        writer_free(w);
        return -1;
    }
    int rc = 0;
    if (npy) {
        char h[256];
        int n = snprintf(h, sizeof h,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                         rows, cols);
        /* 10 bytes of magic, version and length; pad with spaces, end with '\n', so the
         * data starts at a multiple of 64 (the header is < 200 bytes: fits uint16) */
        size_t total = 10 + (size_t)n + 1;
        size_t padded = (total + 63) / 64 * 64;
        size_t hlen = padded - 10;
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                 (unsigned char)(hlen >> 8)};
        memset(h + n, ' ', hlen - (size_t)n - 1);
        h[hlen - 1] = '\n';
        rc = put(w, pre, sizeof pre, e);
        if (rc == 0)
            rc = put(w, h, hlen, e);
    } else if (csv_header) {
        rc = put(w, csv_header, strlen(csv_header), e);
        if (rc == 0)
            rc = put(w, "\n", 1, e);
    }
    if (rc != 0) {
        bnn_table_writer_abort(w);
        return -1;
    }
    *wp = w;
    return 0;
}

/* Reports the first non-finite value of the block, if any. */
static int check_finite(bnn_table_writer *w, const float *data, size_t nrows, size_t ld,
                        bnn_error *e)
{
    for (size_t r = 0; r < nrows; r++) {
        const float *row = data + r * ld;
        int bad = 0;
        for (size_t c = 0; c < w->cols; c++)
            bad |= !isfinite(row[c]);
        if (!bad)
            continue;
        for (size_t c = 0; c < w->cols; c++)
            if (!isfinite(row[c])) {
                w->failed = 1;
                return bnn_fail(e, "%s: row %zu, column %zu: value %s is not finite", w->path,
                                w->written + r + 1, c + 1,
                                isnan(row[c]) ? "nan" : row[c] < 0 ? "-inf" : "inf");
            }
    }
    return 0;
}

int bnn_table_writer_rows(bnn_table_writer *w, const float *data, size_t nrows, size_t ld,
                          bnn_error *e)
{
    if (w->failed)
        return bnn_fail(e, "%s: an earlier write failed", w->path);
    if (nrows > w->rows - w->written) {
        w->failed = 1;
        return bnn_fail(e, "%s: %zu more rows would exceed the %zu declared (%zu written)",
                        w->path, nrows, w->rows, w->written);
    }
    if (nrows == 0)
        return 0;
    if (nrows > 1 && ld < w->cols) {
        w->failed = 1;
        return bnn_fail(e, "%s: row stride %zu is less than the %zu columns", w->path, ld,
                        w->cols);
    }
    if (check_finite(w, data, nrows, ld, e) != 0)
        return -1;
    if (w->npy) {
#if !BNN_HOST_LE
        for (size_t r = 0; r < nrows; r++)
            for (size_t c = 0; c < w->cols; c++) {
                uint32_t v;
                memcpy(&v, data + r * ld + c, 4);
                v = __builtin_bswap32(v);
                if (put(w, &v, 4, e) != 0)
                    return -1;
            }
#else
        if (ld == w->cols) {
            if (put(w, data, nrows * w->cols * sizeof(float), e) != 0)
                return -1;
        } else {
            for (size_t r = 0; r < nrows; r++)
                if (put(w, data + r * ld, w->cols * sizeof(float), e) != 0)
                    return -1;
        }
#endif
    } else {
        /* a value takes at most 15 characters with %.9g ("-1.17549435e-38"), plus a comma */
        for (size_t r = 0; r < nrows; r++) {
            const float *row = data + r * ld;
            for (size_t c = 0; c < w->cols; c++) {
                if (WBUF_SIZE - w->len < 32 && flush_buf(w, e) != 0)
                    return -1;
                int n = bnn_fmt_g9(w->buf + w->len, row[c]);
                w->len += (size_t)n;
                w->buf[w->len++] = c + 1 < w->cols ? ',' : '\n';
            }
        }
    }
    w->written += nrows;
    return 0;
}

int bnn_table_writer_commit(bnn_table_writer *w, bnn_error *e)
{
    int rc;
    if (w->failed)
        rc = bnn_fail(e, "%s: not written: an earlier write failed", w->path);
    else if (w->written != w->rows)
        rc = bnn_fail(e, "%s: not written: %zu rows were written, %zu declared", w->path,
                      w->written, w->rows);
    else
        rc = flush_buf(w, e);
    if (rc != 0) {
        bnn_table_writer_abort(w);
        return -1;
    }
    rc = bnn_outfile_commit(&w->out, e); /* cleans up after itself on failure */
    writer_free(w);
    return rc;
}

void bnn_table_writer_abort(bnn_table_writer *w)
{
    if (!w)
        return;
    bnn_outfile_abort(&w->out);
    writer_free(w);
}
