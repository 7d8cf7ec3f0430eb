/*
 * fuzz_npy.c - libFuzzer harness for the .npy reader (bnn_table_open on a .npy file).
 *
 * Each input is written to a temporary file and opened. A failure must leave the table
 * zeroed and give a one-line message starting with the file name. A success must describe
 * exactly the bytes of the file: the data after the header is rows * cols values of 4 or 8
 * bytes, nothing more, every value read back (whole table and a sub-range chosen from the
 * input) is finite and equals the file's value converted to float32, in C or Fortran order as
 * the header says, and a direct table points at the file's float32 data itself. Any violation
 * aborts, which libFuzzer reports as a crash.
 *
 * Build (clang only; tests/fuzz/run.sh does this and then runs every target):
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Dbench=false
 *   ninja -C build-fuzz tests/fuzz/fuzz_npy
 * Run (copy the seeds so that new inputs are not written into the repository):
 *   mkdir -p /tmp/npy_corpus && cp -r tests/fuzz/corpus_npy/. /tmp/npy_corpus/
 *   build-fuzz/tests/fuzz/fuzz_npy -max_len=4096 -timeout=10 -max_total_time=180 /tmp/npy_corpus
 * Temporary files go to $TMPDIR (default /tmp).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/bnn_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[512];

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_npy: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("TMPDIR");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fuzz_npy_XXXXXX", base && *base ? base : "/tmp");
    check(mkdtemp(dir) != NULL, "mkdtemp failed", dir);
    snprintf(in_path, sizeof in_path, "%s/in.npy", dir);
    return 0;
}

/* The integer dtype the header names ('i' or 'u', and its size), or 0 for a float dtype: in
 * a header the reader accepted, such a pattern can only be the value of 'descr'. */
static char int_kind(const uint8_t *h, size_t hlen, size_t *isz)
{
    for (size_t p = 0; p + 3 < hlen; p++)
        if ((h[p] == '<' || h[p] == '|' || h[p] == '=') && (h[p + 1] == 'i' || h[p + 1] == 'u') &&
            memchr("1248", h[p + 2], 4) && h[p + 2] && (h[p + 3] == '\'' || h[p + 3] == '"')) {
            *isz = (size_t)(h[p + 2] - '0');
            return (char)h[p + 1];
        }
    return 0;
}

/* The file's value (r, c) as float32 (little-endian host assumed, as the reader's tests). */
static float file_value(const uint8_t *d, size_t isz, int fortran, size_t rows, size_t cols,
                        size_t r, size_t c, char kind)
{
    size_t i = fortran ? c * rows + r : r * cols + c;
    if (kind) { /* integers, read as float32 */
        uint64_t u = 0;
        for (size_t b = 0; b < isz; b++)
            u |= (uint64_t)d[i * isz + b] << (8 * b);
        if (kind == 'u')
            return (float)u;
        int sh = (int)(64 - 8 * isz);
        return (float)((int64_t)(u << sh) >> sh);
    }
    if (isz == 4) {
        float f;
        memcpy(&f, d + i * 4, 4);
        return f;
    }
    double x;
    memcpy(&x, d + i * 8, 8);
    return (float)x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(in_path, "wb");
    check(f != NULL, "cannot create the input file", in_path);
    if (size)
        check(fwrite(data, 1, size, f) == size, "cannot write the input file", in_path);
    check(fclose(f) == 0, "cannot write the input file", in_path);

    bnn_table t;
    bnn_error e;
    memset(&e, 0, sizeof e);
    int rc = bnn_table_open(&t, in_path, &e);
    if (rc != 0) {
        check(rc == -1, "bad return code", NULL);
        check(strncmp(e.msg, in_path, strlen(in_path)) == 0, "message does not name the file",
              e.msg);
        check(strchr(e.msg, '\n') == NULL, "message is not one line", e.msg);
        check(t.f32 == NULL && t.ctx == NULL && t.read == NULL && t.close == NULL,
              "failed open left the table set", NULL);
        return 0;
    }
    if (size < 6 || memcmp(data, "\x93NUMPY", 6) != 0) { /* read as CSV: fuzz_csv's job */
        bnn_table_close(&t);
        return 0;
    }
    check(size >= 10, "opened a file shorter than any header", NULL);
    size_t hoff = data[6] == 1 ? 10 : 12;
    size_t hlen = data[6] == 1 ? (size_t)data[8] | (size_t)data[9] << 8
                               : (size_t)data[8] | (size_t)data[9] << 8 |
                                     (size_t)data[10] << 16 | (size_t)data[11] << 24;
    check(hoff + hlen <= size, "header past the end", NULL);
    size_t doff = hoff + hlen, n = t.rows * t.cols;
    check(t.rows >= 1 && t.cols >= 1, "empty table opened", NULL);
    check(n / t.rows == t.cols, "rows * cols overflows", NULL);
    size_t isz = (size - doff) / n, int_isz = 0;
    const char kind = int_kind(data + hoff, hlen, &int_isz);
    if (kind)
        check(isz == int_isz && isz * n == size - doff, "data size is not rows*cols*itemsize",
              NULL);
    else
        check((isz == 4 || isz == 8) && isz * n == size - doff,
              "data size is not rows*cols*4|8", NULL);
    /* a valid header holds "True" only as the value of fortran_order */
    int fortran = memmem(data + hoff, hlen, "True", 4) != NULL;

    float *all = malloc(n * sizeof *all);
    check(all != NULL, "out of memory", NULL);
    check(bnn_table_read(&t, 0, t.rows, 0, t.cols, all, t.cols, &e) == 0, "read failed", e.msg);
    for (size_t r = 0; r < t.rows; r++)
        for (size_t c = 0; c < t.cols; c++) {
            float want = file_value(data + doff, isz, fortran, t.rows, t.cols, r, c, kind);
            check(isfinite(all[r * t.cols + c]), "non-finite value", NULL);
            check(memcmp(&all[r * t.cols + c], &want, 4) == 0, "value differs from the file",
                  NULL);
        }
    if (t.f32) {
        check(!kind && isz == 4 && (!fortran || t.rows == 1 || t.cols == 1),
              "direct form for non-f4", NULL);
        check(t.ld == t.cols, "direct form with ld != cols", NULL);
    }
    /* a sub-range chosen from the input, with a padded stride */
    size_t r0 = size % t.rows, c0 = (size / 7) % t.cols;
    size_t nr = t.rows - r0, nc = t.cols - c0, ldo = nc + 1;
    float *sub = malloc(nr * ldo * sizeof *sub);
    check(sub != NULL, "out of memory", NULL);
    check(bnn_table_read(&t, r0, nr, c0, nc, sub, ldo, &e) == 0, "sub-range read failed", e.msg);
    for (size_t r = 0; r < nr; r++)
        check(memcmp(sub + r * ldo, all + (r0 + r) * t.cols + c0, nc * sizeof(float)) == 0,
              "sub-range differs", NULL);
    check(bnn_table_read(&t, t.rows, 1, 0, 1, sub, 1, &e) == -1, "read past the end worked",
          NULL);
    free(sub);
    free(all);
    bnn_table_close(&t);
    return 0;
}
