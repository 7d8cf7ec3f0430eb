/*
 * fuzz_csv.c - libFuzzer harness for the CSV reader (bnn_table_open_csv; bnn_table_open would
 * send inputs that start with the .npy magic to the npy reader, which fuzz_npy covers).
 *
 * Each input is written to a temporary file and opened. The outcome is compared with a
 * deliberately naive reference reader written below from the rules in src/io/csv.c (choose
 * the delimiter, split into lines, split into fields, strtof on each): both must succeed or
 * both fail; on success the shape, the delimiter and every value must agree bitwise (this
 * checks the reader's fast number path against strtof). A failure must leave the table zeroed
 * and give a one-line message starting with the file name. The same bytes read from a pull
 * source in chunks of 1 to 13 bytes must give the same outcome, message and values alike.
 * Any violation aborts, which libFuzzer reports as a crash.
 *
 * Build (clang only; tests/fuzz/run.sh does this and then runs every target):
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Dbench=false
 *   ninja -C build-fuzz tests/fuzz/fuzz_csv
 * Run (copy the seeds so that new inputs are not written into the repository):
 *   mkdir -p /tmp/csv_corpus && cp -r tests/fuzz/corpus_csv/. /tmp/csv_corpus/
 *   build-fuzz/tests/fuzz/fuzz_csv -max_len=4096 -timeout=10 -max_total_time=180 /tmp/csv_corpus
 * Temporary files go to $TMPDIR (default /tmp).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "io/bnn_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[512];

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_csv: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("TMPDIR");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fuzz_csv_XXXXXX", base && *base ? base : "/tmp");
    check(mkdtemp(dir) != NULL, "mkdtemp failed", dir);
    snprintf(in_path, sizeof in_path, "%s/in.csv", dir);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The reference reader: slow and simple.                                                      */

enum { R_NUM, R_EMPTY, R_TEXT, R_NONFINITE, R_OVERFLOW };

static char delim = ','; /* of the input being read */

static int pad(char c)
{
    return c == ' ' || (c == '\t' && delim != '\t');
}

static int ref_field(const char *s, size_t n, float *v)
{
    while (n && pad(*s))
        s++, n--;
    while (n && pad(s[n - 1]))
        n--;
    if (n == 0)
        return R_EMPTY;
    char buf[4200];
    if (n >= sizeof buf)
        n = sizeof buf - 1; /* inputs are shorter than this */
    memcpy(buf, s, n);
    buf[n] = '\0';
    int numeric_chars = 1, has_digit = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789+-.eE", buf[i]) || buf[i] == '\0')
            numeric_chars = 0;
        has_digit |= buf[i] >= '0' && buf[i] <= '9';
    }
    if (numeric_chars && has_digit) {
        char *end;
        float f = strtof(buf, &end);
        if (end == buf + n)
            return isfinite(f) ? (*v = f, R_NUM) : R_OVERFLOW;
    }
    /* spellings of nan / inf, with an optional sign; nan may carry "(...)" */
    const char *w = buf;
    size_t wn = n;
    if (*w == '+' || *w == '-')
        w++, wn--;
    if ((wn == 3 && strncasecmp(w, "inf", 3) == 0) || (wn == 8 && strncasecmp(w, "infinity", 8)
        == 0) || (wn == 3 && strncasecmp(w, "nan", 3) == 0))
        return R_NONFINITE;
    if (wn >= 5 && strncasecmp(w, "nan(", 4) == 0 && w[wn - 1] == ')')
        return R_NONFINITE;
    return R_TEXT;
}

/* The rule of csv.c, naively: the first two lines with something besides spaces and tabs,
 * trimmed of spaces and tabs at both ends; ',' if the first holds a comma (before trimming);
 * else '\t', then ';', if each trimmed line holds one; else ','. */
static char ref_delim(const char *p, const char *end)
{
    const char *start[2];
    size_t len[2];
    int n = 0;
    while (p < end && n < 2) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *a = p, *b = nl ? nl : end;
        if (b > a && b[-1] == '\r')
            b--;
        if (n == 0 && memchr(a, ',', (size_t)(b - a)))
            return ',';
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            start[n] = a;
            len[n] = (size_t)(b - a);
            n++;
        }
        p = nl ? nl + 1 : end;
    }
    const char cand[2] = {'\t', ';'};
    for (int c = 0; c < 2 && n > 0; c++) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= memchr(start[i], cand[c], len[i]) != NULL;
        if (all)
            return cand[c];
    }
    return ',';
}

/* 0 and the table (malloc'ed) on success, -1 on failure. */
static int ref_read(const char *text, size_t len, float **out, size_t *rows, size_t *cols)
{
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    delim = ref_delim(p, end);
    float *vals = NULL;
    size_t nv = 0, cap = 0, nrows = 0, ncols = 0;
    int first = 1, blank_seen = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        int blank = 1;
        for (const char *q = p; q < le; q++)
            blank &= pad(*q);
        if (blank) {
            blank_seen = 1;
            p = next;
            continue;
        }
        if (blank_seen)
            goto fail;
        /* fields */
        size_t nf = 0;
        int kinds_text = 0, bad = 0;
        float row[4200];
        const char *f = p;
        for (;;) {
            const char *c = memchr(f, delim, (size_t)(le - f));
            const char *fe = c ? c : le;
            float v = 0;
            int k = ref_field(f, (size_t)(fe - f), &v);
            if (k == R_TEXT)
                kinds_text = 1;
            else if (k != R_NUM)
                bad = 1;
            if (nf < 4200)
                row[nf] = v;
            nf++;
            if (!c)
                break;
            f = c + 1;
        }
        if (first) {
            first = 0;
            ncols = nf;
            if (kinds_text) { /* header */
                p = next;
                continue;
            }
        }
        if (nf != ncols || kinds_text || bad)
            goto fail;
        if (nv + nf > cap) {
            cap = (nv + nf) * 2;
            float *nvp = realloc(vals, cap * sizeof *vals);
            check(nvp != NULL, "out of memory", NULL);
            vals = nvp;
        }
        memcpy(vals + nv, row, nf * sizeof *row);
        nv += nf;
        nrows++;
        p = next;
    }
    if (nrows == 0)
        goto fail;
    *out = vals;
    *rows = nrows;
    *cols = ncols;
    return 0;
fail:
    free(vals);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */

/* The same bytes from a pull source in chunks of 1 to 13 bytes (src/io/csv_feed.c): the
 * outcome of the whole-file read (rc, t, e), message and values alike. */
static void check_chunked(const uint8_t *data, size_t size, int rc, const bnn_table *t,
                          const bnn_error *e)
{
    bnn_csv_chunk_set(1 + size % 13);
    bnn_pull src;
    bnn_pull_memory(&src, in_path, data, size, 0);
    bnn_table c;
    bnn_error ce;
    memset(&ce, 0, sizeof ce);
    int crc = bnn_csv_from_pull(&c, &src, in_path, SIZE_MAX, 0, &ce);
    bnn_csv_chunk_set(0);
    check(crc == rc, "chunked read: another outcome", crc ? ce.msg : e->msg);
    if (rc != 0) {
        check(strcmp(ce.msg, e->msg) == 0, "chunked read: another message", ce.msg);
        return;
    }
    check(c.rows == t->rows && c.cols == t->cols && c.delimiter == t->delimiter &&
          c.header_skipped == t->header_skipped &&
          memcmp(c.f32, t->f32, t->rows * t->cols * sizeof(float)) == 0,
          "chunked read: another table", NULL);
    bnn_table_close(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return -1; /* the reference reader's row buffer; not a limit of the reader */
    FILE *f = fopen(in_path, "wb");
    check(f != NULL, "cannot create the input file", in_path);
    if (size)
        check(fwrite(data, 1, size, f) == size, "cannot write the input file", in_path);
    check(fclose(f) == 0, "cannot write the input file", in_path);

    bnn_table t;
    bnn_error e;
    memset(&e, 0, sizeof e);
    int rc = bnn_table_open_csv(&t, in_path, &e);

    check_chunked(data, size, rc, &t, &e);
    float *want = NULL;
    size_t rows = 0, cols = 0;
    int ref = ref_read((const char *)data, size, &want, &rows, &cols);

    if (rc != 0) {
        check(rc == -1, "bad return code", NULL);
        check(strncmp(e.msg, in_path, strlen(in_path)) == 0, "message does not name the file",
              e.msg);
        check(strchr(e.msg, '\n') == NULL, "message is not one line", e.msg);
        check(t.f32 == NULL && t.ctx == NULL && t.read == NULL && t.close == NULL,
              "failed open left the table set", NULL);
        check(ref != 0, "the reader failed, the reference succeeded", e.msg);
        return 0;
    }
    check(ref == 0, "the reader succeeded, the reference failed", NULL);
    check(t.rows == rows && t.cols == cols, "shape differs from the reference", NULL);
    check(t.f32 != NULL && t.ld == t.cols, "not a direct table", NULL);
    check(t.delimiter == delim, "delimiter differs from the reference", NULL);
    for (size_t i = 0; i < rows * cols; i++) {
        check(isfinite(t.f32[i]), "non-finite value", NULL);
        if (memcmp(&t.f32[i], &want[i], sizeof(float)) != 0) {
            char d[128];
            snprintf(d, sizeof d, "value %zu: %.9g, reference %.9g", i, (double)t.f32[i],
                     (double)want[i]);
            check(0, "value differs from the reference", d);
        }
    }
    float probe[4];
    size_t nc = cols < 4 ? cols : 4;
    check(bnn_table_read(&t, rows - 1, 1, 0, nc, probe, nc, &e) == 0, "read failed", e.msg);
    bnn_table_close(&t);
    free(want);
    return 0;
}
