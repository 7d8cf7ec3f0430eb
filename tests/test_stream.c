/*
 * test_stream.c - data read as a stream: the CSV reader's chunks (src/io/csv_feed.c), gzip
 * of CSV and of .npy inflated straight into the readers (src/io/archive.c, npy_stream.c).
 *
 * The CSV reader is made to read in tiny chunks (bnn_csv_chunk_set, 1 byte and up), so that
 * chunk boundaries fall everywhere in small files: inside a number, inside a quoted header
 * field, between '\r' and '\n', on a byte order mark, and (gzip files of two members split
 * at every byte) on a member's end. Every outcome must equal the whole-file parse (default
 * chunk, a mapped file): success with the same shape, delimiter, header and bitwise values,
 * or failure with the same message after the name. Then: decompressed text larger than the
 * stream limit whose table fits is read (the proof that the text is never whole), a table
 * over the limit is refused, and truncated, corrupt or trailing gzip data keeps its message
 * at every chunk size. Files are written into a fresh temporary directory.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/bnn_io.h"

static char tmpdir[256];

static int group_setup(void **state)
{
    (void)state;
    return bnn_test_tmpdir(tmpdir, sizeof tmpdir, "stream");
}

static int group_teardown(void **state)
{
    (void)state;
    bnn_csv_chunk_set(0);
    bnn_stream_limit_set(NULL);
    return bnn_test_rmtree(tmpdir);
}

/* What a reader gave: its message after the name, or the table's shape and values. */
typedef struct outcome {
    int rc;
    char msg[1024];
    size_t rows, cols;
    char delim;
    int header;
    float *v;
} outcome;

static void take(outcome *o, int rc, bnn_table *t, const bnn_error *e, const char *name)
{
    memset(o, 0, sizeof *o);
    o->rc = rc;
    if (rc != 0) {
        size_t n = strlen(name);
        if (strncmp(e->msg, name, n) != 0) {
            print_error("message \"%s\" does not start with \"%s\"\n", e->msg, name);
            fail();
        }
        snprintf(o->msg, sizeof o->msg, "%s", e->msg + n);
        return;
    }
    o->rows = t->rows;
    o->cols = t->cols;
    o->delim = t->delimiter;
    o->header = t->header_skipped;
    o->v = malloc(t->rows * t->cols * sizeof(float) + 1);
    assert_non_null(o->v);
    bnn_error e2;
    assert_int_equal(bnn_table_read(t, 0, t->rows, 0, t->cols, o->v, t->cols, &e2), 0);
    bnn_table_close(t);
}

static void expect_same(const outcome *got, const outcome *want, const char *what, size_t k)
{
    int ok = got->rc == want->rc && strcmp(got->msg, want->msg) == 0 &&
             got->rows == want->rows && got->cols == want->cols &&
             got->delim == want->delim && got->header == want->header &&
             (got->rc != 0 ||
              memcmp(got->v, want->v, got->rows * got->cols * sizeof(float)) == 0);
    if (!ok) {
        print_error("%s, chunk %zu: rc %d \"%s\" %zux%zu, want rc %d \"%s\" %zux%zu\n", what, k,
                    got->rc, got->msg, got->rows, got->cols, want->rc, want->msg, want->rows,
                    want->cols);
        fail();
    }
}

/* gzip members of p[0..n) (split at cut, 0: one member) into out; returns the length. */
static size_t gzip_of(const void *p, size_t n, size_t cut, unsigned char *out, size_t cap)
{
    size_t o = 0;
    for (int part = 0; part < (cut ? 2 : 1); part++) {
        const unsigned char *s = (const unsigned char *)p + (part ? cut : 0);
        size_t len = cut ? (part ? n - cut : cut) : n;
        z_stream z;
        memset(&z, 0, sizeof z);
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                      Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (unsigned char *)(uintptr_t)s;
        z.avail_in = (uInt)len;
        z.next_out = out + o;
        z.avail_out = (uInt)(cap - o);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        o += z.total_out;
        deflateEnd(&z);
    }
    return o;
}

/* Opens path with bnn_table_open into o; the message is compared after name. */
static void open_as(outcome *o, const char *path, const char *name)
{
    bnn_table t;
    bnn_error e;
    int rc = bnn_table_open(&t, path, &e);
    take(o, rc, &t, &e, name);
}

static void free_outcome(outcome *o)
{
    free(o->v);
    o->v = NULL;
}

/* Every way of reading text, at chunk sizes 1.. and some larger, equals the whole parse. */
static void check_text(const char *what, const char *text, size_t len)
{
    char path[600], gzpath[600], name[700];
    snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "t.csv", text, len));
    snprintf(gzpath, sizeof gzpath, "%s/t.csv.gz", tmpdir);
    outcome want, got;
    bnn_csv_chunk_set(0);
    open_as(&want, path, path);
    const size_t cap = 2 * len + 256;
    unsigned char *gz = malloc(cap);
    assert_non_null(gz);
    static const size_t extra[] = {64, 100, 257, 1000, 4096};
    for (size_t i = 0; i < 48 + sizeof extra / sizeof *extra; i++) {
        const size_t k = i < 48 ? i + 1 : extra[i - 48];
        bnn_csv_chunk_set(k);
        open_as(&got, path, path); /* windows of the mapped file */
        expect_same(&got, &want, what, k);
        free_outcome(&got);
        bnn_pull src; /* a pull source, read k bytes at a time */
        bnn_pull_memory(&src, "mem", text, len, 0);
        bnn_table t;
        bnn_error e;
        int rc = bnn_csv_from_pull(&t, &src, "mem", SIZE_MAX, len / 2, &e);
        take(&got, rc, &t, &e, "mem");
        expect_same(&got, &want, what, k);
        free_outcome(&got);
        /* gzip: one member, then two split at every byte (every 7th of a long text) */
        snprintf(name, sizeof name, "%s (gzip of CSV)", gzpath);
        const size_t step = len > 400 ? 7 : 1;
        for (size_t cut = 0; cut < len; cut += cut ? step : 1) {
            size_t n = gzip_of(text, len, cut, gz, cap);
            bnn_test_put_file(tmpdir, "t.csv.gz", gz, n);
            open_as(&got, gzpath, len ? name : gzpath);
            expect_same(&got, &want, what, k);
            free_outcome(&got);
            if (k > 3 && k != 64)
                break; /* member boundaries at every cut: at the smallest chunks only */
        }
    }
    bnn_csv_chunk_set(0);
    free(gz);
    free_outcome(&want);
}

static void test_chunk_boundaries(void **state)
{
    (void)state;
    static const struct {
        const char *what, *text;
    } cases[] = {
        {"quoted header, CRLF", "\"x\",\"y, z\",\"label\"\r\n1.25,-3.5e-2,0,7\r\n"
                                "0.000123456789,12345.678e-3,1,8\r\n-0,+.5,2,9\r\n"},
        {"long numbers", "0.12345678901234567890123,12345.678e-3\n"
                         "3.40282346638528859811704183484516925440e+38,1e-45\n"
                         "7.006492321624085354618647916449580656401e-46,-1.0000000596046448\n"},
        {"byte order mark, tabs, blank end", "\xef\xbb\xbf" "a\tb\n1\t2\n 3 \t 4\n\n \n"},
        {"semicolons", "1;2;3\n4;5;6\r\n7;8;9"},
        {"blank line inside", "1;2\n\n3;4\n"},
        {"value error, then shape error", "1,2\n3,x\n5,6\n7\n"},
        {"value error late", "1,2\n3,4\n5,6\n7,8\n9,1e99\n"},
        {"shape error late", "a,b\n1,2\n3,4\n5,6,7\n"},
        {"header only", "a,b\r\n"},
        {"nothing", ""},
        {"blank only", "\n\r\n  \n"},
        {"one value", "5"},
        {"header and a lone CR", "a,b\n1,2\r3\n"},
        {"empty field at a boundary", "1,,3\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_text(cases[i].what, cases[i].text, strlen(cases[i].text));
    /* a longer text: numbers of every length, CRLF on some lines */
    char *s = malloc(64 * 400);
    assert_non_null(s);
    size_t o = (size_t)sprintf(s, "in1,in2,label\n");
    uint64_t x = 12345;
    for (int r = 0; r < 300; r++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        o += (size_t)sprintf(s + o, "%.*g,%de%d,%d%s", (int)(x >> 60) + 1,
                             (double)(x >> 11) / 9007199254740992.0 - 0.5, (int)(x >> 40 & 999),
                             (int)(x >> 30 & 15) - 8, r % 3, r % 5 ? "\n" : "\r\n");
    }
    check_text("300 rows", s, o);
    free(s);
}

/* rows x 2 values of 15 decimals and a label: ~36 bytes of text, 12 of table, per row. */
static size_t wide_text(char *s, size_t rows)
{
    size_t o = 0;
    for (size_t r = 0; r < rows; r++)
        o += (size_t)sprintf(s + o, "%.15f,%.15f,%zu\n", (double)r / 7919.0,
                             -(double)r / 104729.0, r % 3);
    return o;
}

/* Text over the stream limit whose table fits is read; a table over the limit is not. */
static void test_text_over_limit(void **state)
{
    (void)state;
    const size_t rows = 20000;
    char *s = malloc(rows * 48);
    assert_non_null(s);
    size_t len = wide_text(s, rows); /* ~700 KB of text, a 240 KB table */
    assert_true(len > 600 * 1024);
    char path[600], gzpath[600];
    snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "w.csv", s, len));
    size_t cap = len + 4096;
    unsigned char *gz = malloc(cap);
    assert_non_null(gz);
    size_t n = gzip_of(s, len, 0, gz, cap);
    snprintf(gzpath, sizeof gzpath, "%s", bnn_test_put_file(tmpdir, "w.csv.gz", gz, n));
    outcome want, got;
    open_as(&want, path, path);
    assert_int_equal(want.rc, 0);
    bnn_stream_limit_set("256k"); /* the old reader held the text: it refused this */
    open_as(&got, gzpath, gzpath);
    expect_same(&got, &want, "text over the limit, table under", 0);
    free_outcome(&got);
    bnn_stream_limit_set("200k");
    bnn_table t;
    bnn_error e;
    assert_int_equal(bnn_table_open(&t, gzpath, &e), -1);
    print_message("    %s\n", e.msg);
    assert_non_null(strstr(e.msg, "w.csv.gz (gzip of CSV): more than 204800 bytes of values"));
    assert_non_null(strstr(e.msg, "the limit for decompressed data; set BATCHNN_STREAM_LIMIT"));
    bnn_stream_limit_set(NULL);
    free_outcome(&want);
    free(gz);
    free(s);
}

/* Truncated, corrupt and trailing gzip data keep their messages at every chunk size. */
static void test_bad_gzip(void **state)
{
    (void)state;
    char *s = malloc(2000 * 48);
    assert_non_null(s);
    size_t len = wide_text(s, 2000);
    size_t cap = len + 4096;
    unsigned char *gz = malloc(cap + 8);
    assert_non_null(gz);
    size_t n = gzip_of(s, len, 0, gz, cap);
    char path[600];
    static const size_t chunks[] = {1, 3, 7, 1000, 0};
    bnn_table t;
    bnn_error e;
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        bnn_csv_chunk_set(chunks[c]);
        for (size_t cut = 2; cut < n; cut += cut < 40 ? 1 : 997) {
            snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "tr.gz", gz, cut));
            assert_int_equal(bnn_table_open(&t, path, &e), -1);
            if (!strstr(e.msg, "tr.gz (gzip): truncated gzip stream (ends after ")) {
                print_error("cut at %zu, chunk %zu: %s\n", cut, chunks[c], e.msg);
                fail();
            }
        }
        gz[n - 6] ^= 0xff; /* the CRC */
        snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "crc.gz", gz, n));
        gz[n - 6] ^= 0xff;
        assert_int_equal(bnn_table_open(&t, path, &e), -1);
        assert_non_null(strstr(e.msg, "crc.gz (gzip): corrupt gzip data near byte "));
        memcpy(gz + n, "junk", 4);
        snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "junk.gz", gz, n + 4));
        assert_int_equal(bnn_table_open(&t, path, &e), -1);
        assert_non_null(strstr(e.msg, "junk.gz (gzip): 4 bytes of trailing data after"));
    }
    print_message("    %s\n", e.msg);
    bnn_csv_chunk_set(0);
    free(gz);
    free(s);
}

/* A .npy header and data (v1.0) into out; returns the length. */
static size_t npy_bytes(unsigned char *out, const char *descr, int fortran, const char *shape,
                        const void *data, size_t dlen)
{
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                     fortran ? "True" : "False", shape);
    while ((10 + k + 1) % 64)
        h[k++] = ' ';
    h[k++] = '\n';
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(k & 0xff);
    out[9] = (unsigned char)(k >> 8);
    memcpy(out + 10, h, (size_t)k);
    memcpy(out + 10 + k, data, dlen);
    return 10 + (size_t)k + dlen;
}

/* gzip of .npy: the same table as the .npy itself (float64 Fortran order, integers), and
 * the .npy reader's messages for a truncated array and extra bytes. */
static void test_npy_gzip(void **state)
{
    (void)state;
    static const double f8[6] = {1.5, -2.25, 3e-3, 4e20, -0.0, 6.125}; /* 3 x 2, F order */
    static const signed char i1[5] = {0, 1, 2, -1, 127};
    unsigned char npy[512], gz[1024];
    struct {
        const char *descr, *shape;
        int fortran;
        const void *data;
        size_t dlen;
    } cases[] = {{"<f8", "(3, 2)", 1, f8, sizeof f8}, {"|i1", "(5,)", 0, i1, sizeof i1}};
    for (size_t i = 0; i < 2; i++) {
        size_t n = npy_bytes(npy, cases[i].descr, cases[i].fortran, cases[i].shape,
                             cases[i].data, cases[i].dlen);
        char path[600], gzpath[600], name[700];
        snprintf(path, sizeof path, "%s", bnn_test_put_file(tmpdir, "a.npy", npy, n));
        outcome want, got;
        open_as(&want, path, path);
        assert_int_equal(want.rc, 0);
        snprintf(gzpath, sizeof gzpath, "%s",
                 bnn_test_put_file(tmpdir, "a.npy.gz", gz, gzip_of(npy, n, 0, gz, sizeof gz)));
        open_as(&got, gzpath, gzpath);
        expect_same(&got, &want, cases[i].descr, 0);
        free_outcome(&got);
        snprintf(gzpath, sizeof gzpath, "%s", bnn_test_put_file(tmpdir, "b.npy.gz", gz,
                                                                gzip_of(npy, n, 9, gz, sizeof gz)));
        open_as(&got, gzpath, gzpath); /* two members, split in the header */
        expect_same(&got, &want, cases[i].descr, 9);
        free_outcome(&got);
        free_outcome(&want);
        snprintf(name, sizeof name, "%s/t.npy.gz (gzip of .npy): ", tmpdir);
        bnn_table t;
        bnn_error e;
        const char *tp = bnn_test_put_file(tmpdir, "t.npy.gz", gz,
                                           gzip_of(npy, n - 1, 0, gz, sizeof gz));
        assert_int_equal(bnn_table_open(&t, tp, &e), -1);
        assert_non_null(strstr(e.msg, name));
        assert_non_null(strstr(e.msg, "truncated: expected "));
        npy[n] = 0;
        tp = bnn_test_put_file(tmpdir, "t.npy.gz", gz, gzip_of(npy, n + 1, 0, gz, sizeof gz));
        assert_int_equal(bnn_table_open(&t, tp, &e), -1);
        assert_non_null(strstr(e.msg, "(1 extra bytes at the end)"));
        print_message("    %s\n", e.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_text_over_limit),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_npy_gzip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
