/*
 * csv.c - the CSV data reader: bnn_table_open_csv (a file), bnn_csv_from_input (an open input)
 * and bnn_csv_from_pull (a pull source: a gzip's text) load a CSV into one owned float32
 * table (direct form, row-major, ld = cols), parsing the text a chunk at a time.
 *
 * Rules it enforces:
 *   - A UTF-8 byte order mark at the very start is skipped. Lines end in LF or CRLF; the last
 *     line needs no newline. Line and column numbers in messages are 1-based; the column is
 *     the field's number on its line ("data.csv:17:3:" is the third field of line 17).
 *   - Fields are separated by commas, tabs or semicolons, one of them for the whole file,
 *     chosen from the first two lines that are not blank (only spaces and tabs): a comma when
 *     the first holds one (so a comma-separated file never depends on its second line);
 *     otherwise a tab when each of the two holds one between values (not only at its ends);
 *     otherwise a semicolon when each holds one; otherwise a comma (a single column); a line
 *     longer than 64 KiB counts by its first 64 KiB and ends the search. Spaces
 *     around a value are allowed, and tabs too unless they separate fields. There is no
 *     quoting: a field never contains the delimiter. The table records the delimiter.
 *   - The first line is a header when one of its fields is neither empty nor a number (an
 *     empty field alone does not make a header: "1,,2" is a data line with an empty field).
 *     A header counts as a row for the field-count rule; its text is otherwise ignored, and
 *     the table's header_skipped is set.
 *   - Every line, header included, has the same number of fields.
 *   - A value is a decimal number: [+-] digits [. digits] [(e|E) [+-] digits], where at
 *     least one digit precedes or follows the point ("1", "-2.5e-3", "+.5", "5."). Hex floats
 *     ("0x1p3"), "nan", "inf", "infinity", thousands separators and empty fields are refused.
 *     Values are rounded once, to the nearest float32 (ties to even), exactly as strtof does;
 *     one that overflows float32 (1e39) is an error, one that underflows becomes a subnormal
 *     or zero, as in strtof.
 *   - Blank lines (nothing, or only spaces and tabs; only spaces when tabs separate fields) are
 *     allowed at the end of the file only.
 *   - A file with no data row (empty, only a header, only blank lines) is an error.
 *
 * Every error is one line naming the file, the line and the column where they apply.
 *
 * Speed and robustness: the input is opened once (bnn_input, table.c). The text comes in spans
 * of whole lines (csv_feed.c): 1 MiB windows of a regular file's read-only mapping (nothing
 * copied), or a 1 MiB buffer refilled from a stream (a pipe, a FIFO, "-" for standard input:
 * at most the stream limit in all; a gzip's text, csv_feed.c carrying the partial last line
 * over), so the text is never whole in memory. Each span gets two passes while it is in the
 * cache. The first, which allocates nothing, checks that every line has as many fields as
 * the first, stopping as soon as a line has too many (a huge line costs nothing), and
 * refuses a line of more than 2 x BNN_MAX_WIDTH fields (no model could use it). The second
 * parses the values into the table, which is sized from the span (a mapped file's from the
 * rows per byte so far, extrapolated to the whole file; a stream's grows by half), at most
 * the caller's limit (a gzip's: the stream limit). Field-count errors are reported before
 * value errors, as if the whole file were checked first: the first value error is kept,
 * and the rest of the text is checked for field counts only (within the limit) before it
 * is reported. Most values take a fast path (Clinger's: at most 19 significant digits and a
 * power of ten within 1e+-22 give a correctly rounded double, and a double that is not exactly
 * halfway between two floats rounds to the same float as the decimal); the rest go to
 * strtof_l with a "C" locale made by newlocale, so the decimal point is '.' whatever
 * LC_NUMERIC says. The parser validates the grammar itself, then gives strtof_l a
 * NUL-terminated copy of just the number. The fast path is checked bitwise against strtof
 * (test_csv: 200000 seeded texts of every shape, midpoints included; fuzz_csv: every input)
 * and measured by tests/io_bench.c against a build with -DBNN_CSV_STRTOF_ONLY (strtof_l
 * alone): 4-5x faster on float32 text (README, File formats). Nothing reads past the
 * file's last byte. Any bytes (NUL, invalid UTF-8, no newline at all, one huge line) only
 * ever produce an error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_feed.h"
#include "io/bnn_io.h"

/* Outcome of parsing one field. */
enum { FLD_OK = 0, FLD_EMPTY, FLD_TEXT, FLD_NONFINITE, FLD_OVERFLOW };

typedef struct csv_state {
    const char *name;  /* the path, for messages */
    char delim;        /* ',', '\t' or ';' (detect_delimiter) */
    locale_t cloc;     /* "C" locale for strtof_l, made on first need */
    bnn_error *e;
} csv_state;

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */

/* ---------------------------------------------------------------------------------------- */
/* Numbers                                                                                   */

/* Padding around a value: spaces, and tabs unless they separate fields. */
static int is_blank_char(const csv_state *st, char c)
{
    return c == ' ' || (c == '\t' && st->delim != '\t');
}

static int is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

#if FLT_EVAL_METHOD == 0 && !defined(BNN_CSV_STRTOF_ONLY)
/* Exact powers of ten as doubles (all below 2^53 * 2^22, hence exact). */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#endif

/* Case-insensitive: does [s, end) spell nan, inf or infinity, with an optional sign and,
 * for nan, an optional "(chars)"? Used to word the message and to tell a header from data.
 * Compares lengths, not C strings: the field may hold NUL bytes. */
static int spells_nonfinite(const char *s, const char *end)
{
    size_t n = (size_t)(end - s);
    if (n && (*s == '+' || *s == '-')) {
        s++;
        n--;
    }
    if ((n == 3 && strncasecmp(s, "inf", 3) == 0) || (n == 8 && strncasecmp(s, "infinity", 8)
        == 0) || (n == 3 && strncasecmp(s, "nan", 3) == 0))
        return memchr(s, '\0', n) == NULL;
    return n >= 5 && strncasecmp(s, "nan(", 4) == 0 && s[n - 1] == ')';
}

/* The slow path of parse_number: the number [s, numend), its grammar checked, by strtof_l in
 * the C locale. FLD_OK, FLD_TEXT, FLD_OVERFLOW or -1 (out of memory). */
static int parse_slow(csv_state *st, const char *s, const char *numend, float *out)
{
    if (!st->cloc) {
        st->cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!st->cloc)
            return -1;
    }
    /* the grammar is checked; strtof_l gets a NUL-terminated copy of just the number */
    size_t n = (size_t)(numend - s);
    char small[128];
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *endp = NULL;
    const float f = strtof_l(copy, &endp, st->cloc);
    int whole = endp == copy + n;
    if (copy != small)
        free(copy);
    if (!whole)
        return FLD_TEXT; /* cannot happen after the checks above; stay safe */
    if (!isfinite(f))
        return FLD_OVERFLOW;
    *out = f;
    return FLD_OK;
}

/*
 * Parses the number at s (leading blanks already skipped) that must end, after optional
 * blanks, at lend or at a comma. On success stores the float and the position after the
 * field's trailing blanks in *next. On failure returns the kind; the caller finds the field.
 */
static int parse_number(csv_state *st, const char *s, const char *lend, float *out,
                        const char **next)
{
    const char *q = s;
    int neg = 0;
    if (q < lend && (*q == '+' || *q == '-')) {
        neg = *q == '-';
        q++;
    }
    uint64_t m = 0;    /* the first 19 significant digits */
    int nd = 0;        /* significant digits in m */
    int64_t e10 = 0;   /* value = m * 10^e10 (when nothing was dropped) */
    int dropped = 0;   /* a non-zero digit did not fit in m */
    size_t ndigits = 0;
    while (q < lend && is_digit(*q)) {
        unsigned d = (unsigned)(*q - '0');
        if (nd == 0 && d == 0) {
            /* leading zero */
        } else if (nd < 19) {
            m = m * 10 + d;
            nd++;
        } else {
            e10++;
            dropped |= d != 0;
        }
        ndigits++;
        q++;
    }
    if (q < lend && *q == '.') {
        q++;
        while (q < lend && is_digit(*q)) {
            unsigned d = (unsigned)(*q - '0');
            if (nd == 0 && d == 0) {
                e10--;
            } else if (nd < 19) {
                m = m * 10 + d;
                nd++;
                e10--;
            } else {
                dropped |= d != 0;
            }
            ndigits++;
            q++;
        }
    }
    if (ndigits == 0)
        return FLD_TEXT;
    if (q < lend && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = 0;
        if (q < lend && (*q == '+' || *q == '-')) {
            eneg = *q == '-';
            q++;
        }
        if (q >= lend || !is_digit(*q))
            return FLD_TEXT;
        int64_t x = 0;
        while (q < lend && is_digit(*q)) {
            if (x < 100000000) /* saturate: far beyond any float, and no overflow */
                x = x * 10 + (*q - '0');
            q++;
        }
        /* e10 is bounded by the field length (< 2^62), so this cannot overflow */
        e10 += eneg ? -x : x;
    }
    const char *numend = q;
    while (q < lend && is_blank_char(st, *q))
        q++;
    if (q < lend && *q != st->delim)
        return FLD_TEXT;
    *next = q;

#if defined(BNN_CSV_STRTOF_ONLY)
    (void)dropped; /* only the fast path below reads it */
#endif
    if (m == 0) {
        *out = neg ? -0.0f : 0.0f;
        return FLD_OK;
    }
#if FLT_EVAL_METHOD == 0 && !defined(BNN_CSV_STRTOF_ONLY)
    if (!dropped && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        /* m and 10^|e10| are exact doubles, so one IEEE operation rounds correctly; the
         * result lies in [1e-22, 9.1e37], inside the normal float32 range. */
        double d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        /* exactly halfway between two floats: rounding twice could differ (strtof_l then) */
        if ((bits & 0x1fffffffu) != 0x10000000u) {
            float f = (float)d;
            if (neg)
                f = -f;
            *out = f;
            return FLD_OK;
        }
    }
#endif
    return parse_slow(st, s, numend, out);
}

/* Bounds of the field that starts at s on a line ending at lend, blanks trimmed. */
static void field_bounds(const csv_state *st, const char *s, const char *lend, const char **b,
                         const char **t)
{
    const char *c = memchr(s, st->delim, (size_t)(lend - s));
    const char *fe = c ? c : lend;
    while (s < fe && is_blank_char(st, *s))
        s++;
    while (fe > s && is_blank_char(st, fe[-1]))
        fe--;
    *b = s;
    *t = fe;
}

/* Fields on the line that starts at s (its commas + 1), the input ending at end: finds the
 * line's end (*lend: its '\n' or end) and counts, a block at a time, only until there are
 * more than stop. Returns the count and sets *whole; when there were too many, the count
 * stops early (*whole = 0, *lend unset): a huge line costs nothing beyond its first block. */
static size_t count_line(char delim, const char *s, const char *end, size_t stop,
                         const char **lend, int *whole)
{
    const size_t block = (size_t)1 << 16;
    size_t n = 1;
    for (;;) {
        size_t k = (size_t)(end - s) < block ? (size_t)(end - s) : block;
        const char *nl = memchr(s, '\n', k);
        if (nl)
            k = (size_t)(nl - s);
        size_t c = 0;
        for (size_t i = 0; i < k; i++) /* a plain loop the compiler vectorises */
            c += s[i] == delim;
        n += c;
        s += k;
        if (nl || s == end) {
            *lend = s;
            *whole = 1;
            return n;
        }
        if (n > stop) {
            *whole = 0;
            return n;
        }
    }
}

/* Fields on the line [s, lend), counted until there are more than stop (see count_line). */
static size_t count_fields(char delim, const char *s, const char *lend, size_t stop,
                           int *whole)
{
    const char *le;
    return count_line(delim, s, lend, stop, &le, whole);
}

/* "found 3" or "found more than 6" (the count stopped early). */
static int count_error(csv_state *st, size_t line, size_t cols, size_t found, int whole)
{
    if (whole)
        return bnn_fail(st->e, "%s:%zu: expected %zu fields, found %zu", st->name, line, cols,
                        found);
    return bnn_fail(st->e, "%s:%zu: expected %zu fields, found more than %zu", st->name, line,
                    cols, cols);
}

/* Reports the failure of field `col` (1-based) starting at fs on line `line`. */
static int field_error(csv_state *st, int kind, size_t line, size_t col, const char *fs,
                       const char *lend)
{
    const char *b, *t;
    field_bounds(st, fs, lend, &b, &t);
    char q[200];
    bnn_quote(q, sizeof q, b, (size_t)(t - b), 40);
    if (kind < 0)
        return bnn_fail(st->e, "%s:%zu:%zu: out of memory converting a number", st->name, line,
                        col);
    if (b == t)
        return bnn_fail(st->e, "%s:%zu:%zu: expected a number, found an empty field",
                        st->name, line, col);
    if (kind == FLD_OVERFLOW) /* the text passed the number grammar: printable as it is */
        return bnn_fail(st->e, "%s:%zu:%zu: value %.*s%s is not finite in float32", st->name,
                        line, col, (int)(t - b < 40 ? t - b : 40), b, t - b > 40 ? "..." : "");
    if (spells_nonfinite(b, t))
        return bnn_fail(st->e, "%s:%zu:%zu: value %s is not finite", st->name, line, col, q);
    return bnn_fail(st->e, "%s:%zu:%zu: expected a number, found %s", st->name, line, col, q);
}

/*
 * Parses the data line [s, lend) into row[0..cols) (row NULL: checks it only). Returns 0 or
 * -1 (message set). probe (first line only): instead of failing on a text field, returns 1 =
 * "a header".
 */
static int parse_line(csv_state *st, const char *s, const char *lend, size_t line, float *row,
                      size_t cols, int probe)
{
    size_t col = 0;
    int first_kind = FLD_OK;
    const char *first_at = NULL;
    size_t first_col = 0;
    for (;;) {
        const char *fs = s;
        while (s < lend && is_blank_char(st, *s))
            s++;
        const char *next = NULL;
        float v = 0.0f;
        int kind = parse_number(st, s, lend, &v, &next);
        if (col >= cols) { /* more fields than expected (the first pass rules it out) */
            int whole;
            size_t more = count_fields(st->delim, fs, lend, cols, &whole);
            return count_error(st, line, cols, col + more, whole);
        }
        if (kind == FLD_OK) {
            if (row)
                row[col] = v;
        } else {
            const char *b, *t;
            field_bounds(st, fs, lend, &b, &t);
            if (kind == FLD_TEXT && b == t)
                kind = FLD_EMPTY;
            else if (kind == FLD_TEXT && spells_nonfinite(b, t))
                kind = FLD_NONFINITE;
            if (probe && kind == FLD_TEXT)
                return 1;
            if (!probe)
                return field_error(st, kind, line, col + 1, fs, lend);
            if (!first_at) {
                first_kind = kind;
                first_at = fs;
                first_col = col + 1;
            }
            next = memchr(s, st->delim, (size_t)(lend - s));
            if (!next)
                next = lend;
        }
        col++;
        if (next >= lend)
            break;
        s = next + 1; /* skip the delimiter */
    }
    if (first_at)
        return field_error(st, first_kind, line, first_col, first_at, lend);
    if (col != cols)
        return bnn_fail(st->e, "%s:%zu: expected %zu fields, found %zu", st->name, line, cols,
                        col);
    return 0;
}

static int line_is_blank(const csv_state *st, const char *s, const char *lend)
{
    while (s < lend && is_blank_char(st, *s))
        s++;
    return s == lend;
}

/* The widest table a model can use: BNN_MAX_WIDTH inputs and as many targets. A line with
 * more fields is refused before any value is parsed or any memory is allocated. */
#define CSV_MAX_FIELDS ((size_t)2 * (size_t)BNN_MAX_WIDTH)

/* Line [p, lend) without its '\r' when it ends in CRLF. */
static const char *strip_cr(const char *p, const char *lend)
{
    return lend > p && lend[-1] == '\r' ? lend - 1 : lend;
}

/* Does [s, lend) hold c once leading and trailing spaces and tabs are set aside? */
static int holds_inside(const char *s, const char *lend, char c)
{
    while (s < lend && (*s == ' ' || *s == '\t'))
        s++;
    while (lend > s && (lend[-1] == ' ' || lend[-1] == '\t'))
        lend--;
    return memchr(s, c, (size_t)(lend - s)) != NULL;
}

/*
 * The delimiter, from the first two lines that are not blank (only spaces and tabs): a comma
 * when the first holds one; otherwise a tab when each holds one between values, otherwise a
 * semicolon when each holds one; otherwise a comma (a single column).
 */
static char detect_delimiter(const char *p, const char *end)
{
    const char *line[2];
    const char *lend[2];
    int n = 0;
    const size_t look = (size_t)1 << 16; /* a huge line is not read to its end here */
    while (p < end && n < 2) {
        size_t k = (size_t)(end - p) < look ? (size_t)(end - p) : look;
        const char *nl = memchr(p, '\n', k);
        const char *le = strip_cr(p, nl ? nl : p + k);
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le) {
            line[n] = p;
            lend[n] = le;
            n++;
        }
        if (!nl)
            break; /* the last line, or one longer than the look: what was seen decides */
        p = nl + 1;
    }
    if (n == 0 || memchr(line[0], ',', (size_t)(lend[0] - line[0])))
        return ',';
    static const char others[2] = {'\t', ';'};
    for (int c = 0; c < 2; c++) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= holds_inside(line[i], lend[i], others[c]);
        if (all)
            return others[c];
    }
    return ',';
}

/* The reader's state, carried from one span of lines to the next. */
typedef struct csv_run {
    csv_state st;
    size_t cols;       /* fields per line (0: no line yet) */
    size_t sline;      /* lines the shape check has seen */
    size_t line;       /* lines the parse has seen */
    size_t blank_line; /* the parse's first blank line (0: none) */
    size_t rows;       /* rows parsed */
    int header;
    float *data;
    size_t cap;        /* floats in data */
    size_t limit;      /* values the table may hold (SIZE_MAX / 4: any) */
    size_t text;       /* the text's bytes, or an estimate (a gzip's ISIZE); 0: unknown */
    size_t seen;       /* the text's bytes up to the end of the span being read */
    int failed;        /* the parse failed: err is reported unless a shape error comes */
    size_t counted;    /* after that, the rows the shape check saw (for the limit) */
    bnn_error err;
} csv_run;

/*
 * The first pass over a span of whole lines, which allocates nothing and parses no value:
 * every line but blank ones must have as many fields as the first (header included). Counts
 * stop as soon as a line has too many, so one huge line costs nothing before it is refused.
 * Stores the number of lines that are not blank.
 */
static int check_shape(csv_run *r, const char *p, const char *end, size_t *lines_out)
{
    csv_state *st = &r->st;
    size_t lines = 0;
    while (p < end) {
        const size_t line = ++r->sline;
        const char *lend = NULL;
        int whole;
        size_t n = count_line(st->delim, p, end, r->cols ? r->cols : CSV_MAX_FIELDS, &lend,
                              &whole);
        if (whole && n == 1 && line_is_blank(st, p, strip_cr(p, lend))) {
            /* blank: allowed at the end only, which the second pass checks */
        } else if (!r->cols) {
            if (n > CSV_MAX_FIELDS)
                return bnn_fail(st->e, "%s:%zu: more than %zu fields (a model takes at most "
                                       "%lld inputs and %lld targets)", st->name, line,
                                CSV_MAX_FIELDS, (long long)BNN_MAX_WIDTH,
                                (long long)BNN_MAX_WIDTH);
            r->cols = n;
            lines = 1;
        } else if (n != r->cols) {
            return count_error(st, line, r->cols, n, whole);
        } else {
            lines++;
        }
        p = lend < end ? lend + 1 : end;
    }
    *lines_out = lines;
    return 0;
}

static int over_limit(const csv_run *r, size_t values)
{
    return bnn_fail(r->st.e, "%s: more than %zu bytes of values (%zu rows of %zu so far), the "
                             "limit for decompressed data; set %s to raise it", r->st.name,
                    r->limit * sizeof(float), values / r->cols, r->cols, BNN_STREAM_LIMIT_ENV);
}

/* Room in data for the rows of a span of `lines` lines that are not blank, `bytes` long.
 * A valid span cannot hold more values than half its bytes plus one (a digit and a
 * separator each): the room is the smaller, and at least one row, so a row that does not
 * fit is necessarily invalid and is only checked, to report why. After a full window, a
 * whole text is sized from its rows per byte so far; otherwise the table grows by half.
 * 0 or -1. */
static int reserve(csv_run *r, size_t lines, size_t bytes)
{
    const size_t cols = r->cols, used = r->rows * cols;
    if (!cols || !lines)
        return 0;
    const size_t bound = bytes / 2 + 1;
    size_t add = lines <= bound / cols ? lines * cols : bound;
    if (add < cols)
        add = cols;
    if (r->cap - used >= add)
        return 0;
    if (add > r->limit || used > r->limit - add)
        return over_limit(r, used + add);
    size_t want = used + add;
    if (r->text > r->seen && bytes >= ((size_t)1 << 19)) {
        /* a full window: extrapolated to the whole text, an eighth more, within its bound
         * (a short span, one before a huge line, says nothing of the rest) */
        const double est = (double)want * ((double)r->text / (double)r->seen) * 1.125;
        const size_t all = r->text / 2 + 1;
        size_t whole = est < (double)all ? (size_t)est : all;
        want = whole > want ? whole : want;
    } else if (want < r->cap + r->cap / 2) {
        want = r->cap + r->cap / 2;
    }
    if (want > r->limit)
        want = r->limit; /* >= used + add, checked above */
    float *nd = bnn_alloc(want, sizeof(float));
    if (!nd)
        return bnn_fail(r->st.e, "%s: out of memory for %zu values", r->st.name, want);
    if (used)
        memcpy(nd, r->data, used * sizeof(float));
    bnn_free(r->data);
    r->data = nd;
    r->cap = want;
    return 0;
}

/* The second pass over a span of whole lines: the values into data. 0 or -1. */
static int parse_span(csv_run *r, const char *p, const char *end)
{
    csv_state *st = &r->st;
    const size_t cols = r->cols;
    while (p < end) {
        const size_t line = ++r->line;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        const char *lend = strip_cr(p, nl ? nl : end);
        if (line_is_blank(st, p, lend)) {
            if (!r->blank_line)
                r->blank_line = line;
            p = next;
            continue;
        }
        if (r->blank_line)
            return bnn_fail(st->e, "%s:%zu: blank line (blank lines are allowed only at the "
                                   "end)", st->name, r->blank_line);
        if (r->rows == 0 && !r->header) {
            /* First line: it may be a header. */
            int k = parse_line(st, p, lend, line, r->data, cols, 1);
            if (k < 0)
                return -1;
            if (k == 1)
                r->header = 1;
            else
                r->rows = 1;
        } else {
            float *row = r->cap - r->rows * cols >= cols ? r->data + r->rows * cols : NULL;
            if (parse_line(st, p, lend, line, row, cols, 0) != 0)
                return -1;
            if (!row) /* a valid row always fits (see reserve) */
                return bnn_fail(st->e, "%s:%zu: internal error: more values than the file "
                                       "can hold", st->name, line);
            r->rows++;
        }
        p = next;
    }
    return 0;
}

/* One span: its shape, then (unless the parse has failed) its values. 0 or -1. */
static int read_span(csv_run *r, const char *p, const char *end)
{
    size_t lines = 0;
    if (check_shape(r, p, end, &lines) != 0)
        return -1;
    if (r->failed) { /* only shape errors are looked for now, within the limit */
        r->counted += lines;
        if (r->cols && r->counted > r->limit / r->cols) {
            *r->st.e = r->err;
            return -1;
        }
        return 0;
    }
    r->seen += (size_t)(end - p);
    if (reserve(r, lines, (size_t)(end - p)) != 0)
        return -1;
    if (parse_span(r, p, end) != 0) {
        r->err = *r->st.e;
        r->failed = 1;
        r->counted = r->rows;
    }
    return 0;
}

/* The reader over a feed: spans until the end, then the table. text: see csv_run. */
static int csv_read(bnn_table *t, csv_feed *f, const char *name, size_t limit, size_t text,
                    bnn_error *e)
{
    memset(t, 0, sizeof *t);
    csv_run r;
    memset(&r, 0, sizeof r);
    r.st.name = name;
    r.st.cloc = (locale_t)0;
    r.st.e = e;
    r.limit = limit / sizeof(float);
    r.text = text;
    int rc = -1, first = 1;
    for (;;) {
        const char *p, *end, *ahead;
        int k = csv_feed_next(f, &p, &end, &ahead, e);
        if (k < 0)
            goto out;
        if (k == 0)
            break;
        if (first) {
            if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
                p += 3;
            r.st.delim = detect_delimiter(p, ahead);
            first = 0;
        }
        if (read_span(&r, p, end) != 0)
            goto out;
    }
    if (r.failed) {
        *e = r.err;
        goto out;
    }
    if (r.rows == 0) {
        bnn_fail(e, "%s: no data rows%s", name, r.header ? " (only a header line)" : "");
        goto out;
    }
    bnn_table_own_f32(t, r.data, r.rows, r.cols);
    t->delimiter = r.st.delim;
    t->header_skipped = r.header;
    snprintf(t->name, sizeof t->name, "%s", name);
    r.data = NULL;
    rc = 0;
out:
    if (r.st.cloc)
        freelocale(r.st.cloc);
    bnn_free(r.data);
    return rc;
}

int bnn_csv_from_pull(bnn_table *t, bnn_pull *src, const char *name, size_t limit,
                      size_t size_hint, bnn_error *e)
{
    csv_feed f;
    csv_feed_pull(&f, name, src, limit);
    int rc = csv_read(t, &f, name, limit, size_hint, e);
    csv_feed_free(&f);
    return rc;
}

int bnn_csv_from_input(bnn_table *t, bnn_input *in, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    int rc;
    if (in->fd < 0 || (in->mappable && in->st.st_size > 0)) {
        /* mapped (or already in memory): parsed in windows of the mapping */
        bnn_bytes bytes;
        if (bnn_input_contents(in, &bytes, e) != 0)
            return -1;
        csv_feed f;
        const char *text = (const char *)bytes.p;
        csv_feed_whole(&f, in->name, text, bytes.len, bytes.map != NULL);
        rc = csv_read(t, &f, in->name, SIZE_MAX, bytes.len, e);
        bnn_bytes_free(&bytes);
        return rc;
    }
    /* a stream: read a chunk at a time, at most the stream limit in all (bnn_pull_input),
     * which bounds the table too */
    bnn_pull src;
    if (bnn_pull_input(&src, in, e) != 0)
        return -1;
    csv_feed f;
    csv_feed_pull(&f, in->name, &src, src.limit);
    rc = csv_read(t, &f, in->name, SIZE_MAX, 0, e);
    csv_feed_free(&f);
    return rc;
}

int bnn_table_open_csv(bnn_table *t, const char *path, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    bnn_input in;
    if (bnn_input_open(&in, path, e) != 0)
        return -1;
    int rc = bnn_csv_from_input(t, &in, e);
    bnn_input_close(&in);
    return rc;
}
