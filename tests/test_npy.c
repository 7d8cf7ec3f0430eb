/*
 * test_npy.c - the .npy reader (src/io/npy.c), bnn_table_open's choice of reader, and the .npy
 * side of the table writer.
 *
 * Files are built byte by byte here (magic, version, header length, dict, data), so every
 * field can be broken on purpose; each malformed case must fail with a message naming the
 * file and what is wrong. Good files are checked bitwise, in both the direct form (float32,
 * C order, used in place) and the read form (float64, Fortran order), including sub-ranges
 * of rows and columns through bnn_table_read; windowed mode and its read-ahead thread
 * (src/io/npy_ahead.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static int group_setup(void **state)
{
    (void)state;
    return bnn_test_tmpdir(tmpdir, sizeof tmpdir, "npy");
}

static int group_teardown(void **state)
{
    (void)state;
    return bnn_test_rmtree(tmpdir);
}

static const char *path_of(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static const char *put_file(const char *name, const void *bytes, size_t len)
{
    return bnn_test_put_file(tmpdir, name, bytes, len);
}

/* An .npy image: magic, version major.0, the dict padded with spaces and '\n' to a multiple
 * of `align` (0: no padding, no newline), then datalen bytes of data. hlen_override >= 0
 * replaces the header length field. Returns the size; *out is malloc'ed. */
static size_t make_npy(unsigned char **out, int major, const char *dict, size_t align,
                       const void *data, size_t datalen, long hlen_override)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t hlen = dl;
    if (align) {
        size_t total = pre + dl + 1;
        total = (total + align - 1) / align * align;
        hlen = total - pre;
    }
    unsigned char *b = malloc(pre + hlen + datalen + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    size_t hl = hlen_override >= 0 ? (size_t)hlen_override : hlen;
    if (major == 1) {
        b[8] = (unsigned char)(hl & 0xff);
        b[9] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            b[8 + i] = (unsigned char)(hl >> (8 * i));
    }
    memcpy(b + pre, dict, dl);
    if (align) {
        memset(b + pre + dl, ' ', hlen - dl - 1);
        b[pre + hlen - 1] = '\n';
    }
    if (datalen)
        memcpy(b + pre + hlen, data, datalen);
    *out = b;
    return pre + hlen + datalen;
}

static const char *put_npy(const char *name, int major, const char *dict, size_t align,
                           const void *data, size_t datalen)
{
    unsigned char *b;
    size_t n = make_npy(&b, major, dict, align, data, datalen, -1);
    const char *p = put_file(name, b, n);
    free(b);
    return p;
}

static void assert_same_float(float got, float want, const char *what, size_t i)
{
    uint32_t g, w;
    memcpy(&g, &got, 4);
    memcpy(&w, &want, 4);
    if (g != w) {
        print_error("%s value %zu: got %.9g (0x%08x), want %.9g (0x%08x)\n", what, i,
                    (double)got, g, (double)want, w);
        fail();
    }
}

static void open_ok(bnn_table *t, const char *path)
{
    bnn_error e = {{0}};
    if (bnn_table_open(t, path, &e) != 0) {
        print_error("%s: unexpected failure: %s\n", path, e.msg);
        fail();
    }
    assert_string_equal(t->name, path);
}

/* Checks every sub-range [r0, r0+nr) x [c0, c0+nc) (a sample of them) against want, which is
 * rows x cols row-major, through bnn_table_read with a padded output stride. */
static void check_ranges(const bnn_table *t, const float *want)
{
    size_t rows = t->rows, cols = t->cols;
    float *out = malloc((rows * (cols + 3) + 1) * sizeof *out);
    assert_non_null(out);
    bnn_error e;
    for (size_t r0 = 0; r0 <= rows; r0 += 1 + rows / 5)
        for (size_t nr = 0; r0 + nr <= rows; nr += 1 + rows / 4)
            for (size_t c0 = 0; c0 <= cols; c0++)
                for (size_t nc = 0; c0 + nc <= cols; nc++) {
                    size_t ldo = nc + 3;
                    for (size_t i = 0; i < rows * (cols + 3); i++)
                        out[i] = -12345.0f;
                    assert_int_equal(bnn_table_read(t, r0, nr, c0, nc, out, ldo, &e), 0);
                    for (size_t r = 0; r < nr; r++) {
                        for (size_t c = 0; c < nc; c++)
                            assert_same_float(out[r * ldo + c], want[(r0 + r) * cols + c0 + c],
                                              "range", (r0 + r) * cols + c0 + c);
                        for (size_t c = nc; c < ldo; c++) /* the padding is not touched */
                            assert_true(out[r * ldo + c] == -12345.0f);
                    }
                }
    /* outside the table */
    assert_int_equal(bnn_table_read(t, rows, 1, 0, 1, out, 1, &e), -1);
    assert_int_equal(bnn_table_read(t, 0, 1, cols, 1, out, 1, &e), -1);
    assert_int_equal(bnn_table_read(t, 0, rows + 1, 0, cols, out, cols, &e), -1);
    assert_int_equal(bnn_table_read(t, 1, SIZE_MAX, 0, 1, out, 1, &e), -1);
    free(out);
}

/* rows x cols test values: distinct, not all representable exactly in fewer bits */
static void values(float *v, double *d, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            double x = (double)(r * 1000 + c) + 1.0 / 3.0 - (double)(c % 3) * 1e-9;
            if ((r + c) % 5 == 0)
                x = -x;
            if (d)
                d[r * cols + c] = x;
            v[r * cols + c] = (float)x;
        }
}

static void test_f4_c_order(void **state)
{
    (void)state;
    const size_t rows = 7, cols = 3;
    float v[21];
    values(v, NULL, rows, cols);
    const char *p = put_npy("f4.npy", 1,
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }", 64,
                            v, sizeof v);
    bnn_table t;
    open_ok(&t, p);
    assert_int_equal(t.rows, rows);
    assert_int_equal(t.cols, cols);
    assert_non_null(t.f32); /* direct: in the mapping */
    assert_int_equal(t.ld, cols);
    assert_int_equal((uintptr_t)t.f32 % 64, 0);
    for (size_t i = 0; i < rows * cols; i++)
        assert_same_float(t.f32[i], v[i], "f4", i);
    check_ranges(&t, v);
    bnn_table_close(&t);
    assert_null(t.f32);
    assert_null(t.ctx);

    /* also through bnn_table_open_npy directly, under a name that is not .npy */
    p = put_npy("f4.dat", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }", 64,
                v, sizeof v);
    bnn_error e;
    assert_int_equal(bnn_table_open_npy(&t, p, &e), 0);
    assert_non_null(t.f32);
    bnn_table_close(&t);
}

static void test_f8_and_fortran(void **state)
{
    (void)state;
    enum { R = 9, C = 4 };
    float v[R * C];
    double d[R * C];
    values(v, d, R, C);
    /* Fortran copies: element (r, c) at c * R + r */
    float vf[R * C];
    double df[R * C];
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++) {
            vf[c * R + r] = v[r * C + c];
            df[c * R + r] = d[r * C + c];
        }
    struct {
        const char *name, *dict;
        const void *data;
        size_t len;
        int direct;
    } cases[] = {
        {"f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (9, 4), }", d, sizeof d, 0},
        {"f4_fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (9, 4), }", vf,
         sizeof vf, 0},
        {"f8_fortran.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (9, 4), }", df,
         sizeof df, 0},
        {"f4_eq.npy", "{'descr': '=f4', 'fortran_order': False, 'shape': (9, 4), }", v, sizeof v,
         1},
        {"f4_v2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (9, 4), }", v, sizeof v,
         1},
        {"f8_v3.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (9, 4), }", df,
         sizeof df, 0},
        /* other spellings numpy (or Python 2 numpy) produce or accept */
        {"f4_py2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (9L, 4L), }", v,
         sizeof v, 1},
        {"f4_tight.npy", "{\"shape\":(9,4),\"fortran_order\":False,\"descr\":\"<f4\"}", v,
         sizeof v, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int major = strstr(cases[i].name, "_v2") ? 2 : strstr(cases[i].name, "_v3") ? 3 : 1;
        const char *p = put_npy(cases[i].name, major, cases[i].dict, 64, cases[i].data,
                                cases[i].len);
        bnn_table t;
        open_ok(&t, p);
        assert_int_equal(t.rows, R);
        assert_int_equal(t.cols, C);
        if (cases[i].direct) {
            assert_non_null(t.f32);
        } else {
            assert_null(t.f32);
            assert_non_null(t.read);
        }
        float out[R * C];
        bnn_error e;
        assert_int_equal(bnn_table_read(&t, 0, R, 0, C, out, C, &e), 0);
        for (size_t k = 0; k < R * C; k++)
            assert_same_float(out[k], v[k], cases[i].name, k);
        check_ranges(&t, v);
        bnn_table_close(&t);
    }
}

static void test_shapes_and_alignment(void **state)
{
    (void)state;
    float v[5] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f};
    double d[5] = {1.5, -2.25, 3.0, 0.0, 1e-3};
    bnn_table t;

    /* 1-D: one column, either order, either type */
    const char *p = put_npy("vec.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                                          "'shape': (5,), }", 64, v, sizeof v);
    open_ok(&t, p);
    assert_int_equal(t.rows, 5);
    assert_int_equal(t.cols, 1);
    assert_non_null(t.f32);
    check_ranges(&t, v);
    bnn_table_close(&t);
    p = put_npy("vec8.npy", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (5,), }", 64,
                d, sizeof d);
    open_ok(&t, p);
    assert_int_equal(t.cols, 1);
    check_ranges(&t, v);
    bnn_table_close(&t);

    /* Fortran order of a single row or column is C order: used in place */
    p = put_npy("row_f.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 5), }",
                64, v, sizeof v);
    open_ok(&t, p);
    assert_int_equal(t.rows, 1);
    assert_int_equal(t.cols, 5);
    assert_non_null(t.f32);
    check_ranges(&t, v);
    bnn_table_close(&t);

    /* a data offset that is not a multiple of 4: read form, same values */
    p = put_npy("odd.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 1)}", 0,
                v, sizeof v);
    open_ok(&t, p);
    assert_null(t.f32);
    check_ranges(&t, v);
    bnn_table_close(&t);

    /* the old 16-byte alignment of numpy < 1.? : data offset multiple of 16, direct */
    p = put_npy("a16.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5), }",
                16, v, sizeof v);
    open_ok(&t, p);
    assert_non_null(t.f32);
    check_ranges(&t, v);
    bnn_table_close(&t);

    /* float64 values that round to FLT_MAX are fine; the smallest subnormals too */
    double edge[4] = {3.4028235e38, -3.4028235677973362e38, 1e-46, -0x1p-149};
    p = put_npy("edge.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                64, edge, sizeof edge);
    open_ok(&t, p);
    float out[4];
    bnn_error e;
    assert_int_equal(bnn_table_read(&t, 0, 2, 0, 2, out, 2, &e), 0);
    assert_true(out[0] == FLT_MAX);
    assert_true(out[1] == -FLT_MAX);
    assert_true(out[2] == 0.0f);
    assert_true(out[3] == -0x1p-149f);
    bnn_table_close(&t);
}

/* ------------------------------------------------------------------------------------------ */
/* The malformed corpus                                                                       */

static void expect_fail(const char *path, const char *want)
{
    bnn_table t;
    bnn_error e = {{0}};
    memset(&t, 0x5a, sizeof t);
    if (bnn_table_open(&t, path, &e) == 0) {
        print_error("%s: opened, but should fail with \"%s\"\n", path, want);
        bnn_table_close(&t);
        fail();
    }
    assert_null(t.f32);
    assert_null(t.ctx);
    bnn_table_close(&t);
    char full[1200];
    snprintf(full, sizeof full, "%s: %s", path, want);
    if (strstr(e.msg, full) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", e.msg, full);
        fail();
    }
    if (strchr(e.msg, '\n')) {
        print_error("message is not one line: \"%s\"\n", e.msg);
        fail();
    }
    print_message("    %s\n", e.msg);
}

static void bad_npy(const char *name, int major, const char *dict, const void *data,
                    size_t len, const char *want)
{
    expect_fail(put_npy(name, major, dict, 64, data, len), want);
}

#define HDR(descr, fortran, shape)                                                             \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }"

static void test_malformed_header(void **state)
{
    (void)state;
    float v[12] = {0};
    unsigned char *b;
    size_t n;

    expect_fail(put_file("magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}", 12),
                "not a .npy file (bad magic)");
    expect_fail(put_file("csv_named.npy", "1,2\n3,4\n", 8), "not a .npy file (bad magic)");
    expect_fail(put_file("tiny.npy", "\x93NU", 3), "not a .npy file (bad magic)");
    expect_fail(put_file("empty.npy", "", 0), "not a .npy file (bad magic)");
    expect_fail(put_file("magic_only.npy", "\x93NUMPY", 6), "truncated header");
    expect_fail(put_file("version_only.npy", "\x93NUMPY\x01\x00", 8), "truncated header");
    expect_fail(put_file("half_len.npy", "\x93NUMPY\x01\x00\x40", 9), "truncated header");
    expect_fail(put_file("v2_short.npy", "\x93NUMPY\x02\x00\x40\x00\x00", 11),
                "truncated header");
    expect_fail(put_file("version4.npy", "\x93NUMPY\x04\x00\x10\x00{}", 12),
                "unsupported .npy version 4.0");
    expect_fail(put_file("version1_1.npy", "\x93NUMPY\x01\x01\x10\x00{}", 12),
                "unsupported .npy version 1.1");

    /* the header length runs past the end of the file */
    n = make_npy(&b, 1, HDR("<f4", "False", "(3, 4)"), 64, v, sizeof v, 60000);
    expect_fail(put_file("hlen_past.npy", b, n), "truncated header: header length 60000 runs "
                                                 "past the end of the file");
    free(b);
    n = make_npy(&b, 2, HDR("<f4", "False", "(3, 4)"), 64, v, sizeof v, 0x7fffffff);
    expect_fail(put_file("hlen_past2.npy", b, n), "truncated header: header length 2147483647");
    free(b);
    n = make_npy(&b, 2, HDR("<f4", "False", "(3, 4)"), 64, v, sizeof v, 0xffffffffL);
    expect_fail(put_file("hlen_past3.npy", b, n), "truncated header: header length 4294967295");
    free(b);
    /* header cut short in the middle of the dict */
    n = make_npy(&b, 1, HDR("<f4", "False", "(3, 4)"), 64, NULL, 0, -1);
    expect_fail(put_file("cut.npy", b, 30), "truncated header");
    free(b);

    /* the dict */
    bad_npy("missing_shape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", v, 4,
            "bad header (missing key 'shape')");
    bad_npy("missing_descr.npy", 1, "{'fortran_order': False, 'shape': (3, 4), }", v, 48,
            "bad header (missing key 'descr')");
    bad_npy("missing_fortran.npy", 1, "{'descr': '<f4', 'shape': (3, 4), }", v, 48,
            "bad header (missing key 'fortran_order')");
    bad_npy("fortran_type.npy", 1, HDR("<f4", "'no'", "(3, 4)"), v, 48,
            "bad header ('fortran_order' must be True or False)");
    bad_npy("fortran_int.npy", 1, HDR("<f4", "0", "(3, 4)"), v, 48,
            "bad header ('fortran_order' must be True or False)");
    bad_npy("fortran_word.npy", 1, HDR("<f4", "Trueish", "(3, 4)"), v, 48,
            "bad header ('fortran_order' must be True or False)");
    bad_npy("shape_list.npy", 1, HDR("<f4", "False", "[3, 4]"), v, 48,
            "bad header ('shape' must be a tuple)");
    bad_npy("shape_str.npy", 1, HDR("<f4", "False", "'(3, 4)'"), v, 48,
            "bad header ('shape' must be a tuple)");
    bad_npy("shape_float.npy", 1, HDR("<f4", "False", "(3.0, 4)"), v, 48,
            "bad header ('shape' must be a tuple of integers)");
    bad_npy("shape_paren.npy", 1, HDR("<f4", "False", "(12)"), v, 48,
            "bad header ('shape' must be a tuple: (n,) not (n))");
    bad_npy("shape_open.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4",
            v, 48, "bad header (");
    bad_npy("descr_int.npy", 1, "{'descr': 5, 'fortran_order': False, 'shape': (3, 4), }", v,
            48, "bad header ('descr' must be a dtype string like '<f4')");
    bad_npy("structured.npy", 1,
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", v, 12,
            "bad header (structured dtypes are not supported)");
    bad_npy("garbage.npy", 1, "hello, world", v, 48, "bad header (expected a dict literal");
    bad_npy("binary.npy", 1, "{\x01\x02\x03\xff}", v, 48, "bad header (expected a quoted key)");
    n = make_npy(&b, 1, HDR("<f4", "False", "(3, 4)"), 64, v, 48, -1);
    b[10 + 12] = '\0'; /* inside '<f4' */
    expect_fail(put_file("nul.npy", b, n), "bad header ('descr' must be a dtype string");
    free(b);
    bad_npy("extra_key.npy", 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1, }", v, 48,
            "bad header (unexpected key 'x')");
    bad_npy("dup_key.npy", 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'shape': (3, 4)}", v, 48,
            "bad header (key 'shape' appears twice)");
    bad_npy("after.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} x", v,
            48, "bad header (unexpected text after the dict)");
    bad_npy("no_colon.npy", 1, "{'descr' '<f4', 'fortran_order': False, 'shape': (3, 4)}", v,
            48, "bad header (expected ':' after 'descr')");
    bad_npy("no_comma.npy", 1, "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4)}", v,
            48, "bad header (expected ',' or '}' in the dict)");
    bad_npy("unterminated.npy", 1, "{'descr': '<f4, 'fortran_order': False}", v, 48,
            "bad header (");
    bad_npy("empty_dict.npy", 1, "{}", v, 48, "bad header (missing key 'descr')");

    /* dtypes */
    bad_npy("i3.npy", 1, HDR("<i3", "False", "(3, 4)"), v, 36,
            "unsupported dtype '<i3' (float32 '<f4', float64 '<f8' and integers");
    bad_npy("pipe_i4.npy", 1, HDR("|i4", "False", "(3, 4)"), v, 48, "unsupported dtype '|i4'");
    bad_npy("f2.npy", 1, HDR("<f2", "False", "(3, 4)"), v, 24, "unsupported dtype '<f2'");
    bad_npy("b1.npy", 1, HDR("|b1", "False", "(3, 4)"), v, 12, "unsupported dtype '|b1'");
    bad_npy("pipe_f4.npy", 1, HDR("|f4", "False", "(3, 4)"), v, 48, "unsupported dtype '|f4'");
    bad_npy("be_f4.npy", 1, HDR(">f4", "False", "(3, 4)"), v, 48,
            "big-endian dtype '>f4' is not supported; convert it with a.astype('<f4')");
    bad_npy("be_f8.npy", 1, HDR(">f8", "False", "(3, 2)"), v, 48,
            "big-endian dtype '>f8' is not supported");
    bad_npy("object.npy", 1, HDR("|O", "False", "(3, 4)"), v, 48, "unsupported dtype '|O'");
    bad_npy("c8.npy", 1, HDR("<c8", "False", "(3, 2)"), v, 48, "unsupported dtype '<c8'");
    bad_npy("f16.npy", 1, HDR("<f16", "False", "(3, 1)"), v, 48, "unsupported dtype '<f16'");

    /* shapes */
    bad_npy("3d.npy", 1, HDR("<f4", "False", "(2, 2, 3)"), v, 48,
            "3-D array; a table is 2-D (rows, cols) or 1-D");
    bad_npy("5d.npy", 1, HDR("<f4", "False", "(1, 1, 1, 1, 12)"), v, 48, "5-D array");
    {
        /* every dimension is counted, however many (this was once reported as "1000-D") */
        char *dict = malloc(16 * 2000 + 64), *o = dict;
        assert_non_null(dict);
        o += sprintf(o, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < 2000; i++)
            o += sprintf(o, "%s1", i ? ", " : "");
        sprintf(o, "), }");
        bad_npy("2000d.npy", 1, dict, v, 4, "2000-D array; a table is 2-D");
        free(dict);
    }
    bad_npy("0d.npy", 1, HDR("<f4", "False", "()"), v, 4, "shape () is a 0-D array");
    bad_npy("negative.npy", 1, HDR("<f4", "False", "(-1, 4)"), v, 48,
            "bad header (negative dimension in 'shape')");
    bad_npy("negative2.npy", 1, HDR("<f4", "False", "(3, -4)"), v, 48,
            "bad header (negative dimension in 'shape')");
    bad_npy("huge_dim.npy", 1, HDR("<f4", "False", "(18446744073709551616, 1)"), v, 48,
            "bad header (dimension in 'shape' is too large)");
    bad_npy("overflow.npy", 1, HDR("<f4", "False", "(4294967296, 4294967296)"), v, 48,
            "shape (4294967296, 4294967296) is too large");
    bad_npy("overflow2.npy", 1, HDR("<f8", "False", "(18446744073709551615, 1)"), v, 48,
            "shape (18446744073709551615, 1) is too large");
    bad_npy("overflow3.npy", 1, HDR("<f8", "False", "(2305843009213693952, 1)"), v, 48,
            "shape (2305843009213693952, 1) is too large");
    bad_npy("big.npy", 1, HDR("<f4", "False", "(1000000000, 1000)"), v, 48,
            "truncated: expected 4000000000000 bytes of data, found 48");
    bad_npy("zero_rows.npy", 1, HDR("<f4", "False", "(0, 3)"), NULL, 0, "no samples");
    bad_npy("zero_vec.npy", 1, HDR("<f4", "False", "(0,)"), NULL, 0, "no samples");
    bad_npy("zero_cols.npy", 1, HDR("<f4", "False", "(3, 0)"), NULL, 0, "no columns");

    /* data size */
    bad_npy("short.npy", 1, HDR("<f4", "False", "(3, 3)"), v, 30,
            "truncated: expected 36 bytes of data, found 30");
    bad_npy("nodata.npy", 1, HDR("<f8", "False", "(3, 2)"), NULL, 0,
            "truncated: expected 48 bytes of data, found 0");
    bad_npy("long.npy", 1, HDR("<f4", "False", "(2, 3)"), v, 25,
            "expected 24 bytes of data, found 25 (1 extra bytes at the end)");
    bad_npy("long8.npy", 2, HDR("<f8", "True", "(1, 1)"), v, 48,
            "expected 8 bytes of data, found 48 (40 extra bytes at the end)");
}

static void test_nonfinite(void **state)
{
    (void)state;
    float f[12];
    double d[12];
    for (int i = 0; i < 12; i++) {
        f[i] = (float)i;
        d[i] = i;
    }
    f[5] = NAN; /* (3, 4): [1, 1] */
    bad_npy("nan4.npy", 1, HDR("<f4", "False", "(3, 4)"), f, sizeof f, "element [1, 1] is nan");
    f[5] = 0;
    f[11] = -INFINITY;
    bad_npy("inf4.npy", 1, HDR("<f4", "False", "(3, 4)"), f, sizeof f,
            "element [2, 3] is -inf");
    /* Fortran order: memory index 7 of a (3, 4) array is [1, 2] */
    f[11] = 0;
    f[7] = INFINITY;
    bad_npy("inf4_f.npy", 1, HDR("<f4", "True", "(3, 4)"), f, sizeof f, "element [1, 2] is inf");
    f[7] = 0;
    f[9] = NAN;
    bad_npy("nan_vec.npy", 1, HDR("<f4", "False", "(12,)"), f, sizeof f, "element [9] is nan");
    /* a NaN with a payload and a signalling NaN are NaNs too */
    uint32_t snan = 0x7f800001u;
    memcpy(&f[0], &snan, 4);
    bad_npy("snan.npy", 1, HDR("<f4", "False", "(12, 1)"), f, sizeof f,
            "element [0, 0] is nan");

    d[0] = NAN;
    bad_npy("nan8.npy", 1, HDR("<f8", "False", "(6, 2)"), d, sizeof d, "element [0, 0] is nan");
    d[0] = 0;
    d[3] = -INFINITY;
    bad_npy("inf8.npy", 1, HDR("<f8", "False", "(6, 2)"), d, sizeof d,
            "element [1, 1] is -inf");
    d[3] = 0;
    d[10] = 1e39;
    bad_npy("big8.npy", 1, HDR("<f8", "False", "(6, 2)"), d, sizeof d,
            "element [5, 0] = 1e+39 is out of float32 range");
    d[10] = -3.4028235677973366e38; /* exactly halfway to 2^128: rounds to -inf */
    bad_npy("edge8.npy", 1, HDR("<f8", "True", "(6, 2)"), d, sizeof d,
            "element [4, 1] = -3.4028235677973366e+38 is out of float32 range");
    d[10] = DBL_MAX;
    bad_npy("max8.npy", 1, HDR("<f8", "False", "(12,)"), d, sizeof d,
            "element [10] = 1.7976931348623157e+308 is out of float32 range");

    /* the first bad element in a large file, past the scan's first block */
    size_t n = 100000;
    float *big = calloc(n, sizeof *big);
    assert_non_null(big);
    big[77777] = NAN;
    big[90000] = INFINITY;
    bad_npy("late.npy", 1, HDR("<f4", "False", "(25000, 4)"), big, n * sizeof *big,
            "element [19444, 1] is nan");
    free(big);
}

/* The read-ahead of a windowed float32 C-order file (src/io/npy_ahead.c): whole rows read
 * the way the engines read them (two shards, each its chunks in order, from two threads), a
 * shuffled view's single rows and one read of everything give the file's bytes, whatever the
 * window: the default, one sample, 7 samples and 4 bytes (rows straddle windows, which do
 * not divide n), 4 KiB. A file truncated after opening: an error naming the file and the
 * offset where it ends, no hang (the thread is joined at close; ASan checks for leaks). */
static void ahead_reads(const char *p, const float *v, size_t n, size_t cols)
{
    bnn_table t;
    bnn_error e;
    open_ok(&t, p);
    assert_null(t.f32);
    long bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
        const size_t tid = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t b = tid * n / nt, end = (tid + 1) * n / nt;
        float out[37 * 8];
        bnn_error ee;
        for (size_t r0 = b; r0 < end; r0 += 37) {
            const size_t k = end - r0 < 37 ? end - r0 : 37;
            if (bnn_table_read(&t, r0, k, 0, cols, out, cols, &ee) != 0 ||
                memcmp(out, v + r0 * cols, k * cols * sizeof *out) != 0)
                bad++;
        }
    }
    assert_int_equal(bad, 0);
    for (size_t k = 0; k < 500; k++) {
        const size_t r = (k * 7919) % n;
        float out[8];
        assert_int_equal(bnn_table_read(&t, r, 1, 0, cols, out, cols, &e), 0);
        assert_memory_equal(out, v + r * cols, cols * sizeof *out);
    }
    float *all = malloc(n * cols * sizeof *all);
    assert_non_null(all);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(bnn_table_read(&t, 0, n, 0, cols, all, cols, &e), 0);
        assert_memory_equal(all, v, n * cols * sizeof *all);
    }
    free(all);
    bnn_table_close(&t);
}

static void test_read_ahead(void **state)
{
    (void)state;
    enum { N = 1000, C = 3 };
    float *v = malloc(N * C * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N * C; i++)
        v[i] = (float)i * 0.25f - 7.0f;
    const char *p = put_npy("ra.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                            "'shape': (1000, 3), }", 64, v, N * C * sizeof *v);
    bnn_npy_force_windows(1);
    const size_t windows[] = {0, C * 4, 7 * C * 4 + 4, 4096};
    for (size_t i = 0; i < sizeof windows / sizeof *windows; i++) {
        bnn_npy_ahead_window(windows[i]);
        ahead_reads(p, v, N, C);
    }
    /* truncated after opening: the reads in order fail at its new end, named */
    bnn_npy_ahead_window(10 * C * 4);
    bnn_table t;
    bnn_error e = {{0}};
    open_ok(&t, p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    const off_t half = st.st_size / 2;
    assert_int_equal(truncate(p, half), 0);
    int rc = 0;
    float out[10 * C];
    for (size_t r0 = 0; r0 < N && rc == 0; r0 += 10)
        rc = bnn_table_read(&t, r0, 10, 0, C, out, C, &e);
    assert_int_equal(rc, -1);
    char want[128];
    snprintf(want, sizeof want, "the file ends at byte %lld", (long long)half);
    if (!strstr(e.msg, p) || !strstr(e.msg, want) || !strstr(e.msg, "truncated")) {
        print_error("unexpected message: %s\n", e.msg);
        fail();
    }
    bnn_table_close(&t);
    bnn_npy_ahead_window(0);
    bnn_npy_force_windows(0);
    free(v);
}

/* Which files are read in windows: under a (fake) cgroup limit of 4 MiB, a float32 file of
 * 1.5 MiB is mapped whole (the page cache keeps it: at most half of the memory) and one of
 * 2.5 MiB is read in windows; the direct form (t.f32) is the whole mapping's. */
static void test_window_rule(void **state)
{
    (void)state;
    char root[512], path[600];
    snprintf(root, sizeof root, "%s/limits", tmpdir);
    const char *dirs[] = {"", "/proc", "/proc/self", "/sys", "/sys/fs", "/sys/fs/cgroup"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s%s", root, dirs[i]);
        assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
    }
    assert_non_null(bnn_test_put_file(root, "proc/self/cgroup", "0::/\n", 4));
    assert_non_null(bnn_test_put_file(root, "sys/fs/cgroup/memory.max", "4194304\n", 8));
    char proc[600], sys[600];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    bnn_memory_set_roots(proc, sys);
    const size_t rows[2] = {98304, 163840}; /* x 4 columns x 4 bytes: 1.5 and 2.5 MiB */
    float *v = calloc(rows[1] * 4, sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < 2; i++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, 4), }",
                 rows[i]);
        const char *p = put_npy(i ? "rule_big.npy" : "rule_small.npy", 1, dict, 64, v,
                                rows[i] * 4 * sizeof *v);
        bnn_table t;
        open_ok(&t, p);
        if (i == 0)
            assert_non_null(t.f32);
        else
            assert_null(t.f32);
        assert_int_equal(t.rows, rows[i]);
        bnn_table_close(&t);
    }
    bnn_memory_set_roots(NULL, NULL);
    free(v);
}

/* Windowed mode (a file the page cache cannot keep or the address space cannot hold;
 * forced here with bnn_npy_force_windows): the same values as the mapped file, in the read
 * form, for every dtype and order; reads that cross windows, from several threads at once;
 * the finiteness scan finds an element past its first window. */
static void test_windowed(void **state)
{
    (void)state;
    bnn_npy_force_windows(1);
    enum { R = 9, C = 4 };
    float v[R * C], vf[R * C];
    double d[R * C], df[R * C];
    values(v, d, R, C);
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++) {
            vf[c * R + r] = v[r * C + c];
            df[c * R + r] = d[r * C + c];
        }
    struct {
        const char *name, *dict;
        const void *data;
        size_t len;
    } cases[] = {
        {"w_f4.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (9, 4), }", v, sizeof v},
        {"w_f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (9, 4), }", d, sizeof d},
        {"w_f4f.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (9, 4), }", vf,
         sizeof vf},
        {"w_f8f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (9, 4), }", df,
         sizeof df},
    };
    bnn_error e;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* align 0: a data offset that is not a multiple of 4 or of the page */
        const char *p = put_npy(cases[i].name, 1, cases[i].dict, i % 2 ? 64 : 0, cases[i].data,
                                cases[i].len);
        bnn_table t;
        open_ok(&t, p);
        assert_null(t.f32);
        check_ranges(&t, v);
        bnn_table_close(&t);
    }
    int32_t lab[6] = {0, 1, 2, 2, 1, 0};
    const char *p = put_npy("w_i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, "
                            "'shape': (6,), }", 64, lab, sizeof lab);
    bnn_table t;
    open_ok(&t, p);
    float out6[6];
    assert_int_equal(bnn_table_read(&t, 0, 6, 0, 1, out6, 1, &e), 0);
    for (int i = 0; i < 6; i++)
        assert_true(out6[i] == (float)lab[i]);
    bnn_table_close(&t);

    /* 3 M rows x 2 float32 (24 MB): three 8 MiB windows; chunks of 1000 rows read by two
     * threads in an interleaved order, each checked against the values written */
    const size_t n = 3000000;
    float *big = malloc(2 * n * sizeof *big);
    assert_non_null(big);
    for (size_t i = 0; i < 2 * n; i++)
        big[i] = (float)(i % 1000003) * 0.5f;
    p = put_npy("w_big.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3000000, 2), }",
                64, big, 2 * n * sizeof *big);
    open_ok(&t, p);
    assert_null(t.f32);
    long bad = 0;
#pragma omp parallel for schedule(static, 1) num_threads(2) reduction(+ : bad)
    for (size_t c = 0; c < n / 1000; c++) {
        float out[2000];
        bnn_error ee;
        if (bnn_table_read(&t, c * 1000, 1000, 0, 2, out, 2, &ee) != 0)
            bad++;
        else if (memcmp(out, big + c * 2000, sizeof out) != 0)
            bad++;
    }
    assert_int_equal(bad, 0);
    /* single rows in a scattered order (a shuffled view's reads): the right values */
    for (size_t k = 0; k < 2000; k++) {
        const size_t r = (k * 2654435761u) % n;
        float out[2];
        assert_int_equal(bnn_table_read(&t, r, 1, 0, 2, out, 2, &e), 0);
        assert_memory_equal(out, big + 2 * r, sizeof out);
    }
    /* whole rows are read with pread, a column alone through the windows: both agree */
    for (size_t c = 0; c < n / 1000; c += 7) {
        float out[1000];
        assert_int_equal(bnn_table_read(&t, c * 1000, 1000, 1, 1, out, 1, &e), 0);
        for (size_t i = 0; i < 1000; i++)
            assert_true(out[i] == big[2 * (c * 1000 + i) + 1]);
    }
    /* whole rows past the end of a file truncated under the reader, in a window not yet
     * read ahead: a message, not SIGBUS (a window mapped before the truncation is a SIGBUS,
     * named: test_mapped) */
    bnn_table_close(&t);
    open_ok(&t, p);
    assert_int_equal(truncate(p, (off_t)(n * sizeof *big)), 0);
    {
        float out[2000];
        assert_int_equal(bnn_table_read(&t, n - 1000, 1000, 0, 2, out, 2, &e), -1);
        assert_non_null(strstr(e.msg, "truncated"));
    }
    bnn_table_close(&t);
    /* a nan past the scan's first window is found at open, named */
    big[2 * 2500000 + 1] = NAN;
    bad_npy("w_late.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3000000, 2), }",
            big, 2 * n * sizeof *big, "element [2500000, 1] is nan");
    free(big);
    bnn_npy_force_windows(0);
}

static void test_open_choice(void **state)
{
    (void)state;
    float v[4] = {1, 2, 3, 4};
    bnn_table t;
    bnn_error e;
    /* .npy contents under any name: npy */
    const char *p = put_npy("looks.csv", 1, HDR("<f4", "False", "(2, 2)"), 64, v, sizeof v);
    open_ok(&t, p);
    assert_int_equal(t.rows, 2);
    assert_non_null(t.f32);
    bnn_table_close(&t);
    /* CSV contents: CSV whatever the extension, except .npy */
    p = put_file("data.txt", "a,b\n1,2\n", 8);
    open_ok(&t, p);
    assert_int_equal(t.rows, 1);
    assert_int_equal(t.cols, 2);
    bnn_table_close(&t);
    p = put_file("data.NPY", "a,b\n1,2\n", 8);
    assert_int_equal(bnn_table_open(&t, p, &e), -1);
    assert_non_null(strstr(e.msg, "data.NPY: not a .npy file"));
    /* missing files and directories */
    expect_fail(path_of("missing.npy"), "cannot open: No such file or directory");
    expect_fail(tmpdir, "cannot open: Is a directory");
    assert_int_equal(bnn_table_open_npy(&t, tmpdir, &e), -1);
    assert_non_null(strstr(e.msg, "cannot open: Is a directory"));
    assert_int_equal(bnn_table_open_npy(&t, path_of("missing.npy"), &e), -1);
    assert_non_null(strstr(e.msg, "missing.npy: cannot open: No such file or directory"));
}

/* ------------------------------------------------------------------------------------------ */
/* Streams: FIFOs (made in the temporary directory) and standard input                        */

/* Forks a child that opens path for writing (waiting for a reader), writes the len bytes at
 * p and exits. Returns its pid. */
static pid_t fifo_writer(const char *path, const void *p, size_t len)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY);
        if (fd < 0)
            _exit(3);
        const unsigned char *b = p;
        while (len > 0) {
            ssize_t w = write(fd, b, len);
            if (w <= 0)
                _exit(4);
            b += w;
            len -= (size_t)w;
        }
        close(fd);
        _exit(0);
    }
    return pid;
}

/* Reaps the writer; returns its exit status (or 128 + signal). */
static int reap(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *make_fifo(const char *name)
{
    const char *path = path_of(name);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    return path;
}

static void test_streams(void **state)
{
    (void)state;
    /* 300 x 100 float32 (120 KB, more than a pipe holds at once) and the same as float64 */
    const size_t rows = 300, cols = 100;
    float *v = malloc(rows * cols * sizeof *v);
    double *d = malloc(rows * cols * sizeof *d);
    assert_non_null(v);
    assert_non_null(d);
    values(v, d, rows, cols);
    unsigned char *img;
    size_t n = make_npy(&img, 1, HDR("<f4", "False", "(300, 100)"), 64, v,
                        rows * cols * sizeof *v, -1);
    bnn_table t;
    bnn_error e = {{0}};

    /* through bnn_table_open: the magic is sniffed from the same descriptor, and the reader
     * goes on from there (before, the FIFO was opened twice and its data lost) */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s", make_fifo("data.fifo"));
    pid_t w = fifo_writer(fifo, img, n);
    int rc = bnn_table_open(&t, fifo, &e);
    assert_int_equal(reap(w), 0);
    if (rc != 0) {
        print_error("%s: %s\n", fifo, e.msg);
        fail();
    }
    assert_int_equal(t.rows, rows);
    assert_int_equal(t.cols, cols);
    assert_non_null(t.f32); /* float32 C order: used in place, in the copy */
    assert_string_equal(t.name, fifo);
    check_ranges(&t, v);
    assert_null(bnn_mapped_file_at(t.f32)); /* a copy, not a mapping */
    bnn_table_close(&t);

    /* straight to the npy reader, float64 in Fortran order (the read form) */
    free(img);
    double *f = malloc(rows * cols * sizeof *f);
    assert_non_null(f);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            f[c * rows + r] = d[r * cols + c];
    n = make_npy(&img, 2, HDR("<f8", "True", "(300, 100)"), 64, f, rows * cols * sizeof *f,
                 -1);
    w = fifo_writer(fifo, img, n);
    rc = bnn_table_open_npy(&t, fifo, &e);
    assert_int_equal(reap(w), 0);
    if (rc != 0) {
        print_error("%s: %s\n", fifo, e.msg);
        fail();
    }
    assert_null(t.f32);
    check_ranges(&t, v);
    bnn_table_close(&t);

    /* a stream checked like a file: cut short, or empty */
    w = fifo_writer(fifo, img, n - 8);
    rc = bnn_table_open(&t, fifo, &e);
    assert_int_equal(reap(w), 0);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "truncated: expected 240000 bytes of data, found 239992"));
    w = fifo_writer(fifo, img, 0);
    rc = bnn_table_open_npy(&t, fifo, &e);
    assert_int_equal(reap(w), 0);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "data.fifo: not a .npy file (0 bytes, too short for the "
                                  "magic)"));
    /* CSV contents in a FIFO named .npy: refused by name, after reading only the magic */
    char named[512];
    snprintf(named, sizeof named, "%s", path_of("data.npy"));
    assert_int_equal(rename(fifo, named), 0);
    w = fifo_writer(named, "1,2\n3,4\n", 8);
    rc = bnn_table_open(&t, named, &e);
    reap(w);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "data.npy: not a .npy file (bad magic)"));
    unlink(named);
    free(img);
    free(f);
    free(v);
    free(d);
}

/* ------------------------------------------------------------------------------------------ */
/* Writer round trips (.npy)                                                                   */

static int tmp_files_left(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void roundtrip_npy(const char *name, size_t rows, size_t cols, size_t ld, size_t step)
{
    float *src = malloc((rows * ld + 1) * sizeof *src);
    assert_non_null(src);
    bnn_rng rng;
    bnn_rng_seed(&rng, rows * 31 + cols);
    for (size_t i = 0; i < rows * ld; i++) {
        uint32_t bits = (uint32_t)(bnn_rng_next(&rng) >> 32);
        if ((bits & 0x7f800000u) == 0x7f800000u)
            bits ^= 0x40000000u;
        memcpy(&src[i], &bits, 4);
    }
    const char *p = path_of(name);
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    bnn_table_writer *w;
    bnn_error e;
    assert_int_equal(bnn_table_writer_open(&w, path, rows, cols, "ignored,for,npy", &e), 0);
    for (size_t r = 0; r < rows; r += step) {
        size_t k = rows - r < step ? rows - r : step;
        assert_int_equal(bnn_table_writer_rows(w, src + r * ld, k, ld, &e), 0);
    }
    if (bnn_table_writer_commit(w, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    /* the header: version 1.0, data at a multiple of 64, the exact dict */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char h[256];
    assert_true(fread(h, 1, 10, f) == 10);
    assert_memory_equal(h, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)h[8] | (size_t)h[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_true(hlen < sizeof h);
    assert_true(fread(h, 1, hlen, f) == hlen);
    fclose(f);
    char want[128];
    int wl = snprintf(want, sizeof want,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows,
                      cols);
    assert_memory_equal(h, want, (size_t)wl);
    for (size_t i = (size_t)wl; i + 1 < hlen; i++)
        assert_int_equal(h[i], ' ');
    assert_int_equal(h[hlen - 1], '\n');

    bnn_table t;
    open_ok(&t, path);
    assert_int_equal(t.rows, rows);
    assert_int_equal(t.cols, cols);
    assert_non_null(t.f32);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            assert_same_float(t.f32[r * t.ld + c], src[r * ld + c], name, r * cols + c);
    bnn_table_close(&t);
    free(src);
    assert_int_equal(tmp_files_left(), 0);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    roundtrip_npy("w1.npy", 1, 1, 1, 1);
    roundtrip_npy("w2.npy", 10, 3, 3, 3);
    roundtrip_npy("w3.NPY", 100, 7, 9, 13);
    roundtrip_npy("w4.npy", 300000, 2, 2, 100000); /* more than the writer's buffer */
    roundtrip_npy("w5.npy", 5, 70000, 70001, 2);
    roundtrip_npy("w6.npy", 123456789 % 1000 + 1, 1, 4, 1000);
}

static void test_writer_failures(void **state)
{
    (void)state;
    const char *p = path_of("keep.npy");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    const unsigned char old[] = "previous contents, not even an npy file";
    put_file("keep.npy", old, sizeof old);
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    bnn_table_writer *w;
    bnn_error e;

    /* fewer rows than declared */
    assert_int_equal(bnn_table_writer_open(&w, path, 4, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 3, 2, &e), 0);
    assert_int_equal(bnn_table_writer_commit(w, &e), -1);
    assert_non_null(strstr(e.msg, "keep.npy: not written: 3 rows were written, 4 declared"));
    assert_int_equal(tmp_files_left(), 0);

    /* too many rows, then abort */
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 3, 2, &e), -1);
    assert_non_null(strstr(e.msg, "keep.npy: 3 more rows would exceed the 2 declared"));
    bnn_table_writer_abort(w);
    assert_int_equal(tmp_files_left(), 0);

    /* a row stride shorter than a row */
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 2, 1, &e), -1);
    bnn_table_writer_abort(w);

    /* infinity is refused, naming the row and column */
    float bad[4] = {1, 2, INFINITY, 4};
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 1, 2, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, bad + 2, 1, 2, &e), -1);
    assert_non_null(strstr(e.msg, "keep.npy: row 2, column 1: value inf is not finite"));
    assert_int_equal(bnn_table_writer_commit(w, &e), -1);
    assert_int_equal(tmp_files_left(), 0);

    /* abort after a full write: nothing changes either */
    assert_int_equal(bnn_table_writer_open(&w, path, 4, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 4, 2, &e), 0);
    bnn_table_writer_abort(w);
    bnn_table_writer_abort(NULL);
    assert_int_equal(tmp_files_left(), 0);

    /* sizes that overflow */
    assert_int_equal(bnn_table_writer_open(&w, path, SIZE_MAX / 2, 3, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "are too many"));

    unsigned char buf[64];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, sizeof old);
    assert_memory_equal(buf, old, sizeof old);

    /* and a successful commit replaces it */
    assert_int_equal(bnn_table_writer_open(&w, path, 4, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 4, 2, &e), 0);
    assert_int_equal(bnn_table_writer_commit(w, &e), 0);
    bnn_table t;
    open_ok(&t, path);
    assert_int_equal(t.rows, 4);
    assert_memory_equal(t.f32, v, sizeof v);
    bnn_table_close(&t);
    assert_int_equal(tmp_files_left(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f4_c_order),
        cmocka_unit_test(test_f8_and_fortran),
        cmocka_unit_test(test_shapes_and_alignment),
        cmocka_unit_test(test_malformed_header),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_window_rule),
        cmocka_unit_test(test_windowed),
        cmocka_unit_test(test_read_ahead),
        cmocka_unit_test(test_open_choice),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_failures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
