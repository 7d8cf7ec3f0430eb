/*
 * test_csv.c - the CSV reader (src/io/csv.c) and the CSV side of the table writer.
 *
 * Good files are checked value by value, bitwise, against strtof of the same text. The
 * malformed corpus is written into a fresh temporary directory; each case must fail with a
 * message naming the file and, where it applies, "line:column". Round trips write tables
 * with bnn_table_writer and read them back bitwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/bnn_io.h" /* bnn_stream_limit */

static char tmpdir[256];

static int group_setup(void **state)
{
    (void)state;
    return bnn_test_tmpdir(tmpdir, sizeof tmpdir, "csv");
}

static int group_teardown(void **state)
{
    (void)state;
    return bnn_test_rmtree(tmpdir);
}

/* Writes len bytes to tmpdir/name; returns the path (static storage, one at a time). */
static const char *put_file(const char *name, const void *bytes, size_t len)
{
    return bnn_test_put_file(tmpdir, name, bytes, len);
}

static const char *put_text(const char *name, const char *text)
{
    return put_file(name, text, strlen(text));
}

static void assert_same_float(float got, float want, size_t i)
{
    uint32_t g, w;
    memcpy(&g, &got, 4);
    memcpy(&w, &want, 4);
    if (g != w) {
        print_error("value %zu: got %.9g (0x%08x), want %.9g (0x%08x)\n", i, (double)got, g,
                    (double)want, w);
        fail();
    }
}

/* Opens text (written to name) and checks rows x cols values equal strtof of want[]. */
static void check_good(const char *name, const char *text, size_t len, size_t rows, size_t cols,
                       const char *const *want)
{
    const char *path = put_file(name, text, len);
    bnn_table t;
    bnn_error e = {{0}};
    if (bnn_table_open_csv(&t, path, &e) != 0) {
        print_error("%s: unexpected failure: %s\n", name, e.msg);
        fail();
    }
    assert_int_equal(t.rows, rows);
    assert_int_equal(t.cols, cols);
    assert_non_null(t.f32);
    assert_int_equal(t.ld, cols);
    assert_null(t.read);
    assert_string_equal(t.name, path);
    for (size_t i = 0; i < rows * cols; i++)
        assert_same_float(t.f32[i], strtof(want[i], NULL), i);
    bnn_table_close(&t);
    assert_null(t.f32);
}

static void test_good_files(void **state)
{
    (void)state;
    static const char *const v6[] = {"1", "2", "3", "4", "5", "6"};
    const char *s;

    s = "a,b,c\n1,2,3\n4,5,6\n";
    check_good("header.csv", s, strlen(s), 2, 3, v6);
    s = "1,2,3\n4,5,6\n";
    check_good("noheader.csv", s, strlen(s), 2, 3, v6);
    s = "x1,x2,y\r\n1,2,3\r\n4,5,6\r\n";
    check_good("crlf.csv", s, strlen(s), 2, 3, v6);
    s = "\xef\xbb\xbfx1,x2,y\r\n1,2,3\r\n4,5,6";
    check_good("bom.csv", s, strlen(s), 2, 3, v6);
    s = "\xef\xbb\xbf"
        "1,2,3\n4,5,6\n";
    check_good("bom_noheader.csv", s, strlen(s), 2, 3, v6);
    s = "1,2,3\n4,5,6";
    check_good("nonewline.csv", s, strlen(s), 2, 3, v6);
    s = "  1 ,\t2\t,3  \n 4,5 , \t6\t\r\n";
    check_good("spaces.csv", s, strlen(s), 2, 3, v6);
    s = "1,2,3\n4,5,6\n\n   \n\t\r\n\n";
    check_good("trailing_blank.csv", s, strlen(s), 2, 3, v6);
    /* a header with an empty name and numbers in names is still a header */
    s = "id,,2020\n1,2,3\n4,5,6\n";
    check_good("header_mixed.csv", s, strlen(s), 2, 3, v6);

    static const char *const sci[] = {"-2.5e-3", "+.5",     "1E10",   "5.",       "0.1",
                                      "1e-40",   "-0",      "1e-50",  "3.4028235e38",
                                      "-0.0",    "007",     "1.17549435e-38"};
    s = "-2.5e-3,+.5,1E10,5.,0.1,1e-40\n-0,1e-50,3.4028235e38,-0.0,007,1.17549435e-38\n";
    check_good("sci.csv", s, strlen(s), 2, 6, sci);

    static const char *const one[] = {"0.25", "-7", "1e3"};
    s = "0.25,-7,1e3\n";
    check_good("onerow.csv", s, strlen(s), 1, 3, one);
    s = "y\n0.25\n-7\n1e3\n";
    check_good("onecol.csv", s, strlen(s), 3, 1, one);

    /* ties: 16777217 lies halfway between two floats and rounds to even */
    static const char *const ties[] = {"16777217", "16777219", "16777217.0000000001",
                                       "0.1005859375", "33554435", "-16777217"};
    s = "16777217,16777219,16777217.0000000001,0.1005859375,33554435,-16777217\n";
    check_good("ties.csv", s, strlen(s), 1, 6, ties);
}

static void test_many_columns(void **state)
{
    (void)state;
    const size_t cols = 100000, rows = 3;
    size_t cap = rows * cols * 16 + 64;
    char *text = malloc(cap);
    const char **want = malloc(rows * cols * sizeof *want);
    char *vals = malloc(rows * cols * 16);
    assert_non_null(text);
    assert_non_null(want);
    assert_non_null(vals);
    size_t o = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            char *v = vals + (r * cols + c) * 16;
            snprintf(v, 16, "%zu.5", r * cols + c);
            want[r * cols + c] = v;
            o += (size_t)snprintf(text + o, cap - o, "%s%c", v, c + 1 < cols ? ',' : '\n');
        }
    check_good("wide.csv", text, o, rows, cols, want);
    free(text);
    free(want);
    free(vals);
}

/* Random decimal texts of every shape, compared bitwise with strtof. */
static void test_exact_rounding(void **state)
{
    (void)state;
    const size_t n = 200000;
    bnn_rng rng;
    bnn_rng_seed(&rng, 1234);
    char *text = malloc(n * 64);
    char *vals = malloc(n * 64);
    const char **want = malloc(n * sizeof *want);
    assert_non_null(text);
    assert_non_null(vals);
    assert_non_null(want);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char *v = vals + i * 64;
        uint64_t r = bnn_rng_next(&rng);
        float f;
        uint32_t bits = (uint32_t)(r >> 32) & 0x7f7fffffu; /* finite, either sign below */
        memcpy(&f, &bits, 4);
        switch (r % 7) {
        case 0: /* shortest-ish float32 text */
            snprintf(v, 48, "%.9g", (double)f);
            break;
        case 1: /* double-precision text: rounded twice would differ near midpoints */
        {
            double x = (double)f * (1.0 + (double)(r & 0xff) * 0x1p-30);
            snprintf(v, 48, "%.17g", fabs(x) > FLT_MAX ? (double)f : x);
            break;
        }
        case 2: /* few digits, moderate exponents: the fast path */
            snprintf(v, 48, "%.*e", (int)(r % 8), bnn_rng_uniform(&rng) * 1e6 - 5e5);
            break;
        case 3: { /* exact midpoints between neighbouring floats in [1, 2^40), printed
                   * exactly: the fast path must notice them and round to even */
            float a = ldexpf(1.0f + (float)(r & 0x7fffff) * 0x1p-23f, (int)(r >> 40) % 41);
            double mid = ((double)a + (double)nextafterf(a, INFINITY)) / 2;
            if ((r >> 20) & 1)
                mid = -mid;
            snprintf(v, 64, "%.40f", mid);
            char *z = v + strlen(v) - 1;
            while (*z == '0')
                *z-- = '\0';
            if (*z == '.')
                *z = '\0';
            break;
        }
        case 6: { /* 15-16 digit texts just off a float midpoint whose nearest double is
                   * the midpoint: rounding through double would go wrong here */
            float a = ldexpf(1.0f + (float)(r & 0x7fffff) * 0x1p-23f, (int)(r >> 40) % 60 - 20);
            double mid = ((double)a + (double)nextafterf(a, INFINITY)) / 2;
            snprintf(v, 48, "%.*e", 14 + (int)((r >> 8) & 1), mid);
            break;
        }
        case 4: /* integers around 2^24 .. 2^60 */
            snprintf(v, 48, "%llu", (unsigned long long)(r >> (4 + r % 40)));
            break;
        default: /* 19-20 digit mantissas with small exponents */
            snprintf(v, 48, "%llu%u.%llue%d", (unsigned long long)(r >> 8), (unsigned)(r % 10),
                     (unsigned long long)(r % 1000), (int)(r % 41) - 40);
            break;
        }
        if (i & 1) { /* and a few with a '+' */
            if (v[0] != '-' && strlen(v) < 62) {
                memmove(v + 1, v, strlen(v) + 1);
                v[0] = '+';
            }
        }
        want[i] = v;
        o += (size_t)snprintf(text + o, 64, "%s\n", v);
    }
    check_good("random.csv", text, o, n, 1, want);
    free(text);
    free(vals);
    free(want);
}

/* Values with the slow path (many digits) under a locale whose decimal point is ','. */
static void test_locale(void **state)
{
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE",
                           "ru_RU.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    static const char *const v[] = {"0.12345678901234567890123", "1.5e-40", "2.5"};
    const char *s = "0.12345678901234567890123,1.5e-40,2.5\n";
    /* want[] is computed by strtof, so compute it in the C locale: check_good does; switch
     * back after opening */
    const char *path = put_text("locale.csv", s);
    bnn_table t;
    bnn_error e;
    int rc = bnn_table_open_csv(&t, path, &e);
    setlocale(LC_NUMERIC, "C");
    if (rc != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    for (int i = 0; i < 3; i++)
        assert_same_float(t.f32[i], strtof(v[i], NULL), (size_t)i);
    bnn_table_close(&t);
    if (!got)
        print_message("(no comma-decimal locale installed: checked in the C locale only)\n");
}

/* ------------------------------------------------------------------------------------------ */
/* The malformed corpus                                                                       */

typedef struct bad_case {
    const char *file;    /* name in tmpdir */
    const char *text;    /* contents (len bytes; 0: strlen) */
    size_t len;
    const char *want;    /* must appear in the message, after the file name */
} bad_case;

static void expect_fail_at(const char *path, const char *want)
{
    bnn_table t;
    bnn_error e = {{0}};
    memset(&t, 0x5a, sizeof t);
    if (bnn_table_open_csv(&t, path, &e) == 0) {
        print_error("%s: opened, but should fail with \"%s\"\n", path, want);
        bnn_table_close(&t);
        fail();
    }
    /* the table is left empty and safe to close */
    assert_null(t.f32);
    assert_null(t.ctx);
    bnn_table_close(&t);
    char full[1200];
    snprintf(full, sizeof full, "%s%s", path, want);
    if (strstr(e.msg, full) == NULL) {
        print_error("%s: message \"%s\" lacks \"%s\"\n", path, e.msg, full);
        fail();
    }
    if (strchr(e.msg, '\n')) {
        print_error("%s: message is not one line: \"%s\"\n", path, e.msg);
        fail();
    }
    print_message("    %s\n", e.msg);
}

/* The delimiter (comma, tab or semicolon) is chosen from the first two non-blank lines; the
 * table records it and whether a header row was skipped. */
static void test_delimiters(void **state)
{
    (void)state;
    static const char *const v6[] = {"1", "2", "3", "4", "5", "6"};
    static const char *const v3[] = {"1", "2", "3"};
    static const struct {
        const char *name, *text;
        size_t rows, cols;
        char delim;
        int header;
        const char *const *want;
    } cases[] = {
        {"tab_header.tsv", "x1\tx2\ty\n1\t2\t3\n4\t5\t6\n", 2, 3, '\t', 1, v6},
        {"tab.tsv", "1\t2\t3\n4\t5\t6\n", 2, 3, '\t', 0, v6},
        {"tab_spaces.tsv", " 1 \t 2\t3 \r\n4\t5 \t 6\n", 2, 3, '\t', 0, v6},
        {"tab_edges.tsv", "\t1\t2\t3\n", 1, 4, '\t', 0, NULL}, /* leading tab: empty field */
        {"semi_header.csv", "a;b;c\n1;2;3\n4;5;6\n", 2, 3, ';', 1, v6},
        {"semi.csv", " 1 ;\t2;3\n4;5;6\n", 2, 3, ';', 0, v6},
        {"comma_header.csv", "a,b,c\n1,2,3\n4,5,6\n", 2, 3, ',', 1, v6},
        {"comma_tabs.csv", "1,\t2\t,3\n4\t,5,6\n", 2, 3, ',', 0, v6},
        /* a comma on the first line decides, whatever follows */
        {"comma_first.csv", "a,b;c\n1,2;3\n", 0, 0, ',', 1, NULL},
        /* a tab or semicolon only on the first line: one column with a header */
        {"tab_once.csv", "x\ty\n1\n2\n3\n", 3, 1, ',', 1, v3},
        {"semi_once.csv", "x;y\n1\n2\n3\n", 3, 1, ',', 1, v3},
        /* tabs at a line's ends are padding, not separators */
        {"tab_padding.csv", "\t1\t\n\t2\n3\t\n", 3, 1, ',', 0, v3},
        {"one_col.csv", "1\n2\n3\n", 3, 1, ',', 0, v3},
        {"blank_end.tsv", "1\t2\t3\n4\t5\t6\n  \n\n", 2, 3, '\t', 0, v6},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *path = put_text(cases[k].name, cases[k].text);
        bnn_table t;
        bnn_error e = {{0}};
        int rc = bnn_table_open_csv(&t, path, &e);
        if (cases[k].rows == 0) { /* must fail */
            if (rc == 0) {
                print_error("%s: opened, should fail\n", cases[k].name);
                bnn_table_close(&t);
                fail();
            }
            print_message("    %s\n", e.msg);
            continue;
        }
        if (rc != 0 && cases[k].want == NULL) {
            print_message("    %s\n", e.msg); /* tab_edges: an empty first field */
            assert_non_null(strstr(e.msg, "empty field"));
            continue;
        }
        if (rc != 0) {
            print_error("%s: unexpected failure: %s\n", cases[k].name, e.msg);
            fail();
        }
        if (t.rows != cases[k].rows || t.cols != cases[k].cols ||
            t.delimiter != cases[k].delim || t.header_skipped != cases[k].header) {
            print_error("%s: %zu x %zu, delimiter 0x%02x, header %d; want %zu x %zu, 0x%02x, "
                        "%d\n", cases[k].name, t.rows, t.cols, (unsigned)t.delimiter,
                        t.header_skipped, cases[k].rows, cases[k].cols,
                        (unsigned)cases[k].delim, cases[k].header);
            fail();
        }
        for (size_t i = 0; i < t.rows * t.cols; i++)
            assert_same_float(t.f32[i], strtof(cases[k].want[i], NULL), i);
        bnn_table_close(&t);
    }

    /* errors after detection name the line and column as before */
    expect_fail_at(put_text("tab_bad.tsv", "a\tb\n1\t2\n3\tx\n"),
                   ":3:2: expected a number, found \"x\"");
    expect_fail_at(put_text("tab_count.tsv", "1\t2\n3\t4\t5\n"), ":2: expected 2 fields, found 3");
    expect_fail_at(put_text("semi_count.csv", "1;2\n3;4;5\n"), ":2: expected 2 fields, found 3");
    /* a semicolon file with decimal commas: the comma wins (line 1 is then a header), and
     * the message shows the field */
    expect_fail_at(put_text("decimal_comma.csv", "1,5;2,5\n3,5;4,5\n"),
                   ":2:2: expected a number, found \"5;4\"");
    /* with tabs as separators, a line of tabs is a row of empty fields, not a blank line */
    expect_fail_at(put_text("tab_blank.tsv", "1\t2\n\t\n3\t4\n"),
                   ":2:1: expected a number, found an empty field");
}

static void test_malformed(void **state)
{
    (void)state;
    static const char nul_text[] = "1,2\n3,4\0\n5,6\n";
    static const char nan_nul[] = "1,2\nnan\0,3\n"; /* not a spelling of nan (fuzz find) */
    static const char garbage[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0";
    const bad_case cases[] = {
        {"short.csv", "1,2,3\n4,5,6\n7,8\n", 0, ":3: expected 3 fields, found 2"},
        {"long.csv", "1,2\n3,4,5\n", 0, ":2: expected 2 fields, found 3"},
        {"long_many.csv", "1,2\n3,4,5,6,7,8\n", 0, ":2: expected 2 fields, found 6"},
        {"header_short.csv", "a,b,c\n1,2\n", 0, ":2: expected 3 fields, found 2"},
        {"header_long.csv", "a,b\n1,2,3\n", 0, ":2: expected 2 fields, found 3"},
        {"empty_field.csv", "1,2,3\n4,,6\n", 0, ":2:2: expected a number, found an empty"},
        {"empty_first.csv", "1,,3\n4,5,6\n", 0, ":1:2: expected a number, found an empty"},
        {"trailing_comma.csv", "1,2,\n", 0, ":1:3: expected a number, found an empty field"},
        {"trailing_comma2.csv", "a,b\n1,2,\n", 0, ":2: expected 2 fields, found 3"},
        {"text.csv", "x,y,z\n1,2,3\n4,abc,6\n", 0, ":3:2: expected a number, found \"abc\""},
        {"text_late.csv", "1,2,3\n4,5,6x\n", 0, ":2:3: expected a number, found \"6x\""},
        {"dots.csv", "1,2\n1.2.3,4\n", 0, ":2:1: expected a number, found \"1.2.3\""},
        {"space_inside.csv", "1,2\n3,4 5\n", 0, ":2:2: expected a number, found \"4 5\""},
        {"lone_e.csv", "1,2\n3,1e\n", 0, ":2:2: expected a number, found \"1e\""},
        {"sign_only.csv", "1,2\n3,-\n", 0, ":2:2: expected a number, found \"-\""},
        {"dot_only.csv", "1,2\n.,3\n", 0, ":2:1: expected a number, found \".\""},
        {"double_sign.csv", "1,2\n--1,3\n", 0, ":2:1: expected a number, found \"--1\""},
        {"quoted.csv", "1,2\n\"3\",4\n", 0, ":2:1: expected a number, found \"\\\"3\\\"\""},
        {"nan.csv", "1,2\n3,nan\n", 0, ":2:2: value \"nan\" is not finite"},
        {"nan_first.csv", "nan,2\n3,4\n", 0, ":1:1: value \"nan\" is not finite"},
        {"NaN.csv", "1,2\n3,-NaN\n", 0, ":2:2: value \"-NaN\" is not finite"},
        {"inf.csv", "1,2\ninf,4\n", 0, ":2:1: value \"inf\" is not finite"},
        {"neginf.csv", "1,2\n3,-inf\n", 0, ":2:2: value \"-inf\" is not finite"},
        {"infinity.csv", "1,2\n3,Infinity\n", 0, ":2:2: value \"Infinity\" is not finite"},
        {"overflow.csv", "1,2\n1,2\n3,4\n5,6\n6,7\n7,8\n8,9\n9,10\n1,1e39\n", 0,
         ":9:2: value 1e39 is not finite in float32"},
        {"overflow_neg.csv", "-1e39\n", 0, ":1:1: value -1e39 is not finite in float32"},
        {"overflow_edge.csv", "1\n3.40282357e38\n", 0, ":2:1: value 3.40282357e38 is not"},
        {"hex.csv", "1,2\n0x1p3,4\n", 0, ":2:1: expected a number, found \"0x1p3\""},
        {"hex_int.csv", "1,2\n3,0x10\n", 0, ":2:2: expected a number, found \"0x10\""},
        {"nul.csv", nul_text, sizeof nul_text - 1, ":2:2: expected a number, found \"4\\x00\""},
        {"nan_nul.csv", nan_nul, sizeof nan_nul - 1,
         ":2:1: expected a number, found \"nan\\x00\""},
        {"blank_middle.csv", "1,2\n3,4\n\n5,6\n", 0,
         ":3: blank line (blank lines are allowed only at the end)"},
        {"blank_spaces.csv", "a,b\n1,2\n \t\r\n5,6\n", 0, ":3: blank line"},
        {"blank_first.csv", "\n1,2\n", 0, ":1: blank line"},
        {"empty.csv", "", 0, ": no data rows"},
        {"header_only.csv", "a,b,c\n", 0, ": no data rows (only a header line)"},
        {"header_only2.csv", "a,b,c", 0, ": no data rows"},
        {"bom_only.csv", "\xef\xbb\xbf", 0, ": no data rows"},
        {"blank_only.csv", "\n\n  \r\n", 0, ": no data rows"},
        {"garbage.bin", garbage, sizeof garbage - 1, ":2:1: expected a number, found"},
        {"lone_cr.csv", "a,b\n1,2\r3\n", 0, ":2:2: expected a number, found \"2\\x0d3\""},
        {"utf8_bad.csv", "1,2\n3,\xff\xfe\n", 0, ":2:2: expected a number, found \"\\xff\\xfe\""},
        {"bom_late.csv", "1,2\n\xef\xbb\xbf" "3,4\n", 0, ":2:1: expected a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        const char *path = put_file(c->file, c->text, c->len ? c->len : strlen(c->text));
        expect_fail_at(path, c->want);
    }
}

static void test_malformed_large(void **state)
{
    (void)state;
    const size_t mb = 1 << 20;
    char *s = malloc(4 * mb + 64);
    assert_non_null(s);

    /* one huge line of text without a newline: a header, and nothing else */
    memset(s, 'x', mb);
    expect_fail_at(put_file("huge_text.csv", s, mb), ": no data rows");

    /* one huge number: overflows float32 */
    memset(s, '7', mb);
    expect_fail_at(put_file("huge_number.csv", s, mb), ":1:1: value 7777");

    /* a huge field of text in a data row, quoted in the message only in part */
    memcpy(s, "1\n", 2);
    memset(s + 2, 'q', mb);
    expect_fail_at(put_file("huge_field.csv", s, mb + 2), ":2:1: expected a number, found "
                                                          "\"qqqqqqqq");

    /* a megabyte of commas: a million empty fields */
    memset(s, ',', mb);
    expect_fail_at(put_file("commas.csv", s, mb), ":1:1: expected a number, found an empty");

    /* very many columns, the second row one short */
    size_t o = 0, cols = 200000;
    for (int r = 0; r < 2; r++)
        for (size_t c = 0; c < cols - (size_t)r; c++) {
            s[o++] = '1';
            s[o++] = c + 1 < cols - (size_t)r ? ',' : '\n';
        }
    expect_fail_at(put_file("wide_ragged.csv", s, o), ":2: expected 200000 fields, found 199999");

    /* binary garbage, deterministic */
    bnn_rng rng;
    bnn_rng_seed(&rng, 99);
    for (size_t i = 0; i < mb; i++)
        s[i] = (char)(bnn_rng_next(&rng) >> 56);
    bnn_table t;
    bnn_error e = {{0}};
    const char *path = put_file("random.bin", s, mb);
    assert_int_equal(bnn_table_open_csv(&t, path, &e), -1);
    assert_non_null(strstr(e.msg, path));
    print_message("    %s\n", e.msg);

    /* a megabyte of zeros after "0.": underflows to 0, which is fine */
    memcpy(s, "0.", 2);
    memset(s + 2, '0', mb);
    memcpy(s + 2 + mb, "1\n", 2);
    path = put_file("tiny.csv", s, mb + 4);
    assert_int_equal(bnn_table_open_csv(&t, path, &e), 0);
    assert_int_equal(t.rows, 1);
    assert_true(t.f32[0] == 0.0f);
    bnn_table_close(&t);
    free(s);
}

static void test_cannot_open(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.csv", tmpdir);
    expect_fail_at(path, ": cannot open: No such file or directory");
    expect_fail_at(tmpdir, ": cannot open: Is a directory");

    /* the same through bnn_table_open */
    bnn_table t;
    bnn_error e;
    assert_int_equal(bnn_table_open(&t, path, &e), -1);
    assert_non_null(strstr(e.msg, "does-not-exist.csv: cannot open: No such file"));
    assert_int_equal(bnn_table_open(&t, tmpdir, &e), -1);
    assert_non_null(strstr(e.msg, ": cannot open: Is a directory"));

    if (geteuid() != 0) { /* root reads anything */
        const char *p = put_text("noread.csv", "1,2\n");
        assert_int_equal(chmod(p, 0), 0);
        expect_fail_at(p, ": cannot open: Permission denied");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Writer round trips (CSV)                                                                    */

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

static void fill_floats(float *v, size_t n, uint64_t seed)
{
    bnn_rng rng;
    bnn_rng_seed(&rng, seed);
    static const float special[] = {0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                                    0x1p-149f, -0x1p-149f, 1.0f, 0.1f, 16777216.0f, 1e-45f};
    for (size_t i = 0; i < n; i++) {
        if (i < sizeof special / sizeof *special) {
            v[i] = special[i];
            continue;
        }
        uint64_t r = bnn_rng_next(&rng);
        if (r & 1) {
            uint32_t bits = (uint32_t)(r >> 32);
            if ((bits & 0x7f800000u) == 0x7f800000u)
                bits &= 0xbfffffffu; /* keep it finite */
            memcpy(&v[i], &bits, 4);
        } else {
            v[i] = (float)(bnn_rng_uniform(&rng) * 2 - 1);
        }
    }
}

static void roundtrip_csv(size_t rows, size_t cols, size_t ld, size_t step, const char *header)
{
    float *src = malloc((rows * ld + 1) * sizeof *src);
    assert_non_null(src);
    fill_floats(src, rows * ld, rows * 1000 + cols);
    char path[512];
    snprintf(path, sizeof path, "%s/rt_%zu_%zu_%zu.csv", tmpdir, rows, cols, ld);
    bnn_table_writer *w;
    bnn_error e;
    if (bnn_table_writer_open(&w, path, rows, cols, header, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    for (size_t r = 0; r < rows; r += step) {
        size_t k = rows - r < step ? rows - r : step;
        assert_int_equal(bnn_table_writer_rows(w, src + r * ld, k, ld, &e), 0);
    }
    if (bnn_table_writer_commit(w, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    bnn_table t;
    if (bnn_table_open(&t, path, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(t.rows, rows);
    assert_int_equal(t.cols, cols);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            assert_same_float(t.f32[r * t.ld + c], src[r * ld + c], r * cols + c);
    bnn_table_close(&t);
    free(src);
    assert_int_equal(tmp_files_left(), 0);
}

/* bnn_fmt_g9 (the CSV writer's "%.9g") against snprintf: a seeded sample of 2^20 bit
 * patterns, every exponent with the smallest, largest and a middle mantissa, and the floats
 * next to every power of ten. tests/fmt_g9_check.c checks all 2^32 patterns (by hand). */
static void test_fmt_g9_sampled(void **state)
{
    (void)state;
    bnn_rng rng;
    bnn_rng_seed(&rng, 99);
    size_t checked = 0, bad = 0;
    uint32_t first_bad = 0;
    char got[40], want[40];
    for (size_t i = 0; i < ((size_t)1 << 20) + 3 * 512 + 2 * 2 * 90; i++) {
        uint32_t bits;
        float f;
        if (i < ((size_t)1 << 20)) {
            bits = (uint32_t)(bnn_rng_next(&rng) >> 32);
        } else if (i < ((size_t)1 << 20) + 3 * 512) {
            size_t j = i - ((size_t)1 << 20);
            static const uint32_t mant[3] = {0, 1, 0x7fffff};
            bits = (uint32_t)((j / 3) << 23) | mant[j % 3]; /* sign and exponent: j / 3 */
        } else {
            size_t j = i - ((size_t)1 << 20) - 3 * 512;
            float p10 = (float)pow(10.0, (double)((int)(j / 4) - 45)); /* 1e-45 .. 1e44 */
            f = j % 2 ? nextafterf(p10, INFINITY) : nextafterf(p10, 0.0f);
            if ((j / 2) % 2)
                f = -f;
            memcpy(&bits, &f, 4);
        }
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            continue;
        int n = bnn_fmt_g9(got, f);
        int k = snprintf(want, sizeof want, "%.9g", (double)f);
        checked++;
        if (n != k || memcmp(got, want, (size_t)k) != 0) {
            if (!bad++)
                first_bad = bits;
        }
    }
    if (bad) {
        float f;
        memcpy(&f, &first_bad, 4);
        int n = bnn_fmt_g9(got, f);
        snprintf(want, sizeof want, "%.9g", (double)f);
        print_error("%zu of %zu patterns differ; first 0x%08x: \"%.*s\", printf \"%s\"\n", bad,
                    checked, first_bad, n, got, want);
        fail();
    }
    print_message("    %zu patterns: bnn_fmt_g9 == printf(\"%%.9g\")\n", checked);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    roundtrip_csv(1, 1, 1, 1, NULL);
    roundtrip_csv(1, 1, 1, 1, "y");
    roundtrip_csv(100, 3, 3, 7, "x1,x2,y");
    roundtrip_csv(100, 3, 5, 100, NULL);
    roundtrip_csv(5000, 17, 20, 999, NULL);
    roundtrip_csv(3, 20000, 20000, 2, NULL); /* lines longer than the writer's buffer */

    /* the exact text written */
    char path[512];
    snprintf(path, sizeof path, "%s/text.csv", tmpdir);
    bnn_table_writer *w;
    bnn_error e;
    const float v[] = {0.1f, -2.0f, 1e-45f, 3.4028235e38f, 0.0f, -0.0f};
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 3, "a,b,c", &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 2, 3, &e), 0);
    assert_int_equal(bnn_table_writer_commit(w, &e), 0);
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "a,b,c\n0.100000001,-2,1.40129846e-45\n3.40282347e+38,0,-0\n");
}

static void test_writer_errors(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/keep.csv", tmpdir);
    const char *old = "old,contents\n1,2\n";
    put_text("keep.csv", old);
    const float v[6] = {1, 2, 3, 4, 5, 6};
    bnn_table_writer *w;
    bnn_error e;

    /* fewer rows than declared: commit fails, the old file is untouched, no temp file */
    assert_int_equal(bnn_table_writer_open(&w, path, 3, 2, "a,b", &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 2, 2, &e), 0);
    assert_int_equal(tmp_files_left(), 1);
    assert_int_equal(bnn_table_writer_commit(w, &e), -1);
    assert_non_null(strstr(e.msg, "keep.csv: not written: 2 rows were written, 3 declared"));
    assert_int_equal(tmp_files_left(), 0);

    /* more rows than declared: rows fails, then commit fails too */
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 2, 2, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 1, 2, &e), -1);
    assert_non_null(strstr(e.msg, "keep.csv: 1 more rows would exceed the 2 declared"));
    assert_int_equal(bnn_table_writer_commit(w, &e), -1);
    assert_int_equal(tmp_files_left(), 0);

    /* abort */
    assert_int_equal(bnn_table_writer_open(&w, path, 3, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, v, 3, 2, &e), 0);
    bnn_table_writer_abort(w);
    assert_int_equal(tmp_files_left(), 0);

    /* non-finite values are refused (the reader would refuse the file) */
    const float bad[4] = {1, 2, 3, NAN};
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, NULL, &e), 0);
    assert_int_equal(bnn_table_writer_rows(w, bad, 2, 2, &e), -1);
    assert_non_null(strstr(e.msg, "keep.csv: row 2, column 2: value nan is not finite"));
    bnn_table_writer_abort(w);

    /* a header with the wrong field count, no columns */
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, "a,b,c", &e), -1);
    assert_non_null(strstr(e.msg, "keep.csv: the CSV header has 3 fields, the table 2"));
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 2, "a\nb", &e), -1);
    assert_int_equal(bnn_table_writer_open(&w, path, 2, 0, NULL, &e), -1);
    assert_int_equal(tmp_files_left(), 0);

    /* a directory that does not exist */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.csv", tmpdir);
    assert_int_equal(bnn_table_writer_open(&w, nodir, 1, 1, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "x.csv: cannot write: the directory"));

    /* after all of that, the old file is byte for byte the same */
    char buf[64] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(old));
    assert_memory_equal(buf, old, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Field counts checked before anything is parsed or allocated                                 */

/* What a table open run in a child process did: its result, the table's shape and first
 * and last values, its message, and how much its peak resident size grew meanwhile. */
typedef struct child_result {
    int rc;
    size_t rows, cols;
    float first, last;
    long grew_kb;
    char name[512];
    char msg[1024];
} child_result;

static long peak_kb(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* Runs bnn_table_open(path) in a forked child (with stdin_fd on its standard input when
 * >= 0) and returns what happened. The child has two minutes; without sanitizers its address
 * space is also capped (current size + as_extra_mb), so a reader that grows without bound
 * fails quickly there instead of exhausting the machine. */
static void open_in_child(const char *path, int stdin_fd, long as_extra_mb, child_result *out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(120);
        if (stdin_fd >= 0 && dup2(stdin_fd, STDIN_FILENO) < 0)
            _exit(3);
#if !defined(__SANITIZE_ADDRESS__)
        FILE *f = fopen("/proc/self/status", "r");
        char ln[256];
        long vm_kb = 0;
        while (f && fgets(ln, sizeof ln, f))
            if (sscanf(ln, "VmSize: %ld kB", &vm_kb) == 1)
                break;
        if (f)
            fclose(f);
        if (vm_kb > 0) {
            struct rlimit rl;
            rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_kb + as_extra_mb * 1024) * 1024;
            setrlimit(RLIMIT_AS, &rl);
        }
#else
        (void)as_extra_mb;
#endif
        child_result r;
        memset(&r, 0, sizeof r);
        long before = peak_kb();
        bnn_table t;
        bnn_error e = {{0}};
        r.rc = bnn_table_open(&t, path, &e);
        r.grew_kb = peak_kb() - before;
        if (r.rc == 0) {
            r.rows = t.rows;
            r.cols = t.cols;
            r.first = t.f32[0];
            r.last = t.f32[(t.rows - 1) * t.ld + t.cols - 1];
            snprintf(r.name, sizeof r.name, "%s", t.name);
            bnn_table_close(&t);
        }
        snprintf(r.msg, sizeof r.msg, "%s", e.msg);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 4);
    }
    close(fds[1]);
    bnn_test_collect_child(pid, fds[0], out, sizeof *out, path, "reading");
}

static void expect_child_fail(const child_result *r, const char *path, const char *want)
{
    char full[1200];
    snprintf(full, sizeof full, "%s%s", path, want);
    if (r->rc != -1 || !strstr(r->msg, full) || strchr(r->msg, '\n')) {
        print_error("%s: rc %d, message \"%s\", expected \"%s\"\n", path, r->rc, r->msg, full);
        fail();
    }
    print_message("    %s (peak grew by %ld kB)\n", r->msg, r->grew_kb);
}

static void test_field_counts(void **state)
{
    (void)state;
    /* a short row after a long one: said plainly (it once read "internal error: more values
     * than the file can hold") */
    expect_fail_at(put_text("short_row.csv", "1,1,1,1,1,1\n0,0,0\n"),
                   ":2: expected 6 fields, found 3");
    expect_fail_at(put_text("short_row2.csv", "a,b,c,d,e,f\n1,1,1,1,1,1\n0,0,0\n"),
                   ":3: expected 6 fields, found 3");

    const size_t big = (size_t)50 << 20; /* a 50 MB line */
    char *s = malloc(big + 64);
    assert_non_null(s);
    child_result r;

    /* a huge line after a short one: refused after a look at its start */
    size_t o = (size_t)sprintf(s, "1,1,1\n");
    for (size_t i = 0; i < big / 2; i++) {
        s[o++] = '1';
        s[o++] = ',';
    }
    s[o++] = '1';
    s[o++] = '\n';
    char path[512];
    snprintf(path, sizeof path, "%s", put_file("long_second.csv", s, o));
    open_in_child(path, -1, 512, &r);
    expect_child_fail(&r, path, ":2: expected 3 fields, found more than 3");
    assert_true(r.grew_kb < (long)(o >> 10) / 2); /* only the start of the line was read */
    unlink(path);

    /* a huge first line, then a short one: refused before the huge line is parsed or any
     * memory is allocated for it (this used to allocate 2 x its size in values) */
    o = 0;
    for (size_t i = 0; i < big / 2; i++) {
        s[o++] = '1';
        s[o++] = ',';
    }
    s[o - 1] = '\n';
    o += (size_t)sprintf(s + o, "0,0,0\n");
    snprintf(path, sizeof path, "%s", put_file("long_first.csv", s, o));
    open_in_child(path, -1, 512, &r);
    expect_child_fail(&r, path, ":2: expected 26214400 fields, found 3");
    /* the file's pages are read once (counted in the peak), nothing proportional is
     * allocated on top of them */
    assert_true(r.grew_kb < (long)(o >> 10) + 16 * 1024);
    unlink(path);

    /* more fields than any model can take (2 x BNN_MAX_WIDTH): refused on the spot */
    o = (size_t)2 * BNN_MAX_WIDTH; /* that many commas: one field more */
    assert_true(o < big);
    memset(s, ',', o);
    s[o++] = '\n';
    snprintf(path, sizeof path, "%s", put_file("too_wide.csv", s, o));
    open_in_child(path, -1, 512, &r);
    expect_child_fail(&r, path, ":1: more than 33554432 fields");
    assert_true(r.grew_kb < (long)(o >> 10) + 16 * 1024);
    unlink(path);
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Streams: FIFOs (made in the temporary directory), pipes on standard input, the size cap     */

/* Forks a child that writes the len bytes at p to fd (a pipe) or, when fd < 0, to path
 * opened for writing (a FIFO: waits for a reader), then exits. len SIZE_MAX: zeros forever
 * (until the reader goes away). */
static pid_t writer(const char *path, int fd, const void *p, size_t len)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(120);
        if (fd < 0)
            fd = open(path, O_WRONLY);
        if (fd < 0)
            _exit(3);
        static const char zeros[1 << 16];
        const char *b = p;
        while (len > 0) {
            size_t k = len == SIZE_MAX ? sizeof zeros : len;
            ssize_t w = write(fd, len == SIZE_MAX ? zeros : b, k);
            if (w <= 0)
                _exit(len == SIZE_MAX ? 0 : 4);
            if (len != SIZE_MAX) {
                b += w;
                len -= (size_t)w;
            }
        }
        close(fd);
        _exit(0);
    }
    return pid;
}

/* Stops (if still running) and reaps a writer. */
static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

static const char *fifo_at(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
    unlink(out);
    assert_int_equal(mkfifo(out, 0600), 0);
    return out;
}

/* rows x 3 values "r,r+0.5,-r" and a header, as CSV text; returns its length. */
static size_t stream_text(char *s, size_t rows)
{
    size_t o = (size_t)sprintf(s, "a,b,y\n");
    for (size_t r = 0; r < rows; r++)
        o += (size_t)sprintf(s + o, "%zu,%zu.5,-%zu\n", r, r, r);
    return o;
}

static void test_streams(void **state)
{
    (void)state;
    const size_t rows = 20000; /* about 400 KB: more than a pipe holds at once */
    char *text = malloc(2 * rows * 40 + 64); /* room for 2 x rows, used below */
    assert_non_null(text);
    size_t len = stream_text(text, rows);
    char fifo[512];
    fifo_at(fifo, sizeof fifo, "data.fifo");
    child_result r;

    /* a FIFO given as the data file: opened once, nothing lost */
    pid_t w = writer(fifo, -1, text, len);
    open_in_child(fifo, -1, 1024, &r);
    reap(w);
    if (r.rc != 0) {
        print_error("%s: %s\n", fifo, r.msg);
        fail();
    }
    assert_int_equal(r.rows, rows);
    assert_int_equal(r.cols, 3);
    assert_true(r.first == 0.0f);
    assert_true(r.last == -(float)(rows - 1));
    assert_string_equal(r.name, fifo);

    /* the CSV reader on its own, in this process */
    w = writer(fifo, -1, text, len);
    bnn_table t;
    bnn_error e = {{0}};
    int rc = bnn_table_open_csv(&t, fifo, &e);
    reap(w);
    if (rc != 0) {
        print_error("%s: %s\n", fifo, e.msg);
        fail();
    }
    assert_int_equal(t.rows, rows);
    assert_true(t.f32[3 * 5 + 1] == 5.5f);
    bnn_table_close(&t);

    /* "-": standard input, here a pipe */
    int p[2];
    assert_int_equal(pipe(p), 0);
    w = writer(NULL, p[1], text, len);
    close(p[1]);
    open_in_child("-", p[0], 1024, &r);
    close(p[0]);
    reap(w);
    if (r.rc != 0) {
        print_error("-: %s\n", r.msg);
        fail();
    }
    assert_int_equal(r.rows, rows);
    assert_int_equal(r.cols, 3);
    assert_true(r.last == -(float)(rows - 1));
    assert_string_equal(r.name, "<stdin>");
    /* errors on standard input name it */
    assert_int_equal(pipe(p), 0);
    w = writer(NULL, p[1], "1,2\n3\n", 6);
    close(p[1]);
    open_in_child("-", p[0], 1024, &r);
    close(p[0]);
    reap(w);
    expect_child_fail(&r, "<stdin>", ":2: expected 2 fields, found 1");

    /* an endless writer: the read stops at the limit, with a message saying how to raise
     * it, and memory stays bounded */
    bnn_stream_limit_set("1M");
    w = writer(fifo, -1, NULL, SIZE_MAX);
    open_in_child(fifo, -1, 256, &r);
    reap(w);
    expect_child_fail(&r, fifo, ": more than 1048576 bytes (1M), the limit for input read "
                                "from a pipe or FIFO; set BATCHNN_STREAM_LIMIT to raise it");
    assert_true(r.grew_kb < 64 * 1024);

    /* under the limit it reads; a regular file is mapped, whatever the limit */
    bnn_stream_limit_set("512k");
    len = stream_text(text, 40000); /* about 800 KB */
    size_t cut = 512 * 1024;
    while (text[cut - 1] != '\n') /* whole lines, at most the limit */
        cut--;
    w = writer(fifo, -1, text, cut);
    open_in_child(fifo, -1, 1024, &r);
    reap(w);
    assert_int_equal(r.rc, 0);
    assert_true(r.rows > 20000 && r.rows < 40000);
    w = writer(fifo, -1, text, len);
    open_in_child(fifo, -1, 1024, &r);
    reap(w);
    expect_child_fail(&r, fifo, ": more than 524288 bytes (512k)");
    bnn_stream_limit_set("1");
    const char *reg = put_file("regular.csv", text, len);
    assert_int_equal(bnn_table_open(&t, reg, &e), 0);
    assert_int_equal(t.rows, 40000);
    bnn_table_close(&t);

    /* a bad limit is an error naming the variable (it applies to streams only) */
    bnn_stream_limit_set("lots");
    w = writer(fifo, -1, text, len);
    open_in_child(fifo, -1, 1024, &r);
    reap(w);
    expect_child_fail(&r, fifo, ": BATCHNN_STREAM_LIMIT=\"lots\" is not a valid size");
    bnn_stream_limit_set(NULL);
    unlink(fifo);
    free(text);
}

/* The limit's syntax: bytes, or k, M, G (binary); at least 1; unset or empty: 2 GiB. */
static void test_stream_limit(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        size_t want; /* 0: refused */
    } cases[] = {
        {"1", 1},
        {"4096", 4096},
        {"512k", (size_t)512 << 10},
        {"512K", (size_t)512 << 10},
        {"3M", (size_t)3 << 20},
        {"2g", (size_t)2 << 30},
        {"64G", (size_t)64 << 30},
        {"0", 0},
        {"0M", 0},
        {"-1", 0},
        {"1.5G", 0},
        {"12X", 0},
        {"M", 0},
        {" 1M", 0},
        {"1M ", 0},
        {"1MB", 0},
        {"99999999999999999999", 0},
        {"9999999999999G", 0},
    };
    bnn_error e;
    size_t v;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bnn_stream_limit_set(cases[i].value);
        int rc = bnn_stream_limit(&v, "x.csv", &e);
        if (cases[i].want) {
            assert_int_equal(rc, 0);
            assert_int_equal(v, cases[i].want);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(e.msg, "x.csv: BATCHNN_STREAM_LIMIT=\""));
            print_message("    %s\n", e.msg);
        }
    }
    bnn_stream_limit_set("");
    assert_int_equal(bnn_stream_limit(&v, "x.csv", &e), 0);
    assert_int_equal(v, (size_t)2 << 30);
    bnn_stream_limit_set(NULL);
    assert_int_equal(bnn_stream_limit(&v, "x.csv", &e), 0);
    assert_int_equal(v, (size_t)2 << 30);
}

/* bnn_printable (ioutil.c): strings from files print as themselves only when they are
 * well-formed UTF-8 without control characters; anything else comes out escaped. */
static void test_printable(void **state)
{
    (void)state;
    char out[64];
    static const char *const plain[] = {"", "mse", "adam e-8 (x)", "caf\xc3\xa9",
                                        "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc2\xa0"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        assert_ptr_equal(bnn_printable(out, sizeof out, plain[i]), plain[i]);
    static const struct {
        const char *in, *want;
    } esc[] = {
        {"a\x1b[31mb", "\"a\\x1b[31mb\""},  /* ESC */
        {"x\ny", "\"x\\x0ay\""},            /* newline */
        {"\x7f", "\"\\x7f\""},              /* DEL */
        {"\xc2\x9b", "\"\\xc2\\x9b\""},     /* C1 CSI as UTF-8 */
        {"\xff", "\"\\xff\""},              /* never UTF-8 */
        {"\xc3", "\"\\xc3\""},              /* cut sequence */
        {"\xc0\xaf", "\"\\xc0\\xaf\""},     /* overlong '/' */
        {"\xe0\x80\xaf", "\"\\xe0\\x80\\xaf\""}, /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\"\\xed\\xa0\\x80\""}, /* surrogate */
        {"\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""}, /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof esc / sizeof *esc; i++)
        assert_string_equal(bnn_printable(out, sizeof out, esc[i].in), esc[i].want);
    /* a plain string with quotes prints as itself; escaped, they are escaped too */
    assert_string_equal(bnn_printable(out, sizeof out, "q\"\\"), "q\"\\");
    assert_string_equal(bnn_printable(out, sizeof out, "\"\x01"), "\"\\\"\\x01\"");
    /* cut to fit, never past cap */
    char small[16];
    const char *cut = bnn_printable(small, sizeof small, "\x01\x01\x01\x01\x01\x01\x01\x01");
    assert_true(strlen(cut) < sizeof small);
    assert_non_null(strstr(cut, "..."));
}

int main(void)
{
    /* large blocks always mapped and given back on free: the memory tests measure peak
     * resident sizes in forked children, which heap pages kept by the parent would blur */
    mallopt(M_MMAP_THRESHOLD, 1 << 17);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_many_columns),
        cmocka_unit_test(test_exact_rounding),
        cmocka_unit_test(test_locale),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_large),
        cmocka_unit_test(test_cannot_open),
        cmocka_unit_test(test_field_counts),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_stream_limit),
        cmocka_unit_test(test_fmt_g9_sampled),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_printable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
