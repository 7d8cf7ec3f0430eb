/*
 * safetensors_strict.c - the strictness pass over a safetensors header (bnn_st_prescan), run
 * by the reader (safetensors_read.c) before json-c builds anything from the header.
 *
 * Why a JSON lexer of our own beside json-c:
 *   - json-c, even with JSON_TOKENER_STRICT, accepts single-quoted strings, NaN and Infinity,
 *     raw control characters inside strings and duplicate keys (it keeps one of each);
 *   - json-c spends a few hundred bytes on every object and tens on every value, so a hostile
 *     header of 10 MB of "{}" or "[]" would cost gigabytes before any check could run.
 * Jansson (Debian's libjansson-dev 2.14) was measured as a replacement: with
 * JSON_REJECT_DUPLICATES it refuses every strictness case above (single quotes, NaN,
 * Infinity, raw control characters, \u0000, duplicate keys, nested too), but it has no
 * limit on the shape of what it builds: 10 MB headers cost 15x ([""...]) to 70x ([{},...])
 * their size in live allocations (734 MB peak for [{},{},...]), and its depth limit (2048)
 * is compiled in. A bound on the header's shape before any tree is built is needed with
 * either library, and that pass is a JSON lexer: the few lines of strictness it adds are
 * cheaper than moving both the reader and the checkpoint writer to another library.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/bnn_io.h"
#include "safetensors_format.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * The pre-pass: a strict JSON parser of its own that runs before json-c builds anything, and
 * that allocates nothing. json-c spends a few hundred bytes on every object and tens on
 * every value, so a header of 10 MB of "{}" would cost gigabytes; the pre-pass therefore
 * also holds the header to the shape of the format, with limits far above what any batchnn
 * model needs:
 *   - the top level is an object of at most ST_MAX_ENTRIES entries (tensors and
 *     __metadata__);
 *   - a tensor entry is an object of at most ST_MAX_FIELDS fields, each a scalar or an array
 *     of at most ST_MAX_DIMS scalars (shape, data_offsets): nothing nests deeper than
 *     ST_MAX_DEPTH levels;
 *   - __metadata__ is an object of at most ST_MAX_META entries whose values are not objects
 *     or arrays (the format says strings; other scalars are refused later, by name).
 * Whatever passes costs json-c at most about 15 MB plus the header's size (12.5 MB measured
 * with every limit reached at once); a refused header costs only its own bytes.
 * It also rejects what strict JSON forbids but json-c lets through (single quotes, NaN and
 * Infinity, raw control characters and \u0000 in strings) and counts object keys, so that
 * duplicates can be found once json-c (which keeps one of each) has parsed the header.
 * UTF-8 is validated by json-c.
 */
#define ST_MAX_DEPTH 3
#define ST_MAX_ENTRIES 1024
#define ST_MAX_FIELDS 8
#define ST_MAX_DIMS 16
#define ST_MAX_META 4096

enum { R_TOP, R_ENTRY, R_META, R_META_VALUE, R_FIELD, R_ELEM };

typedef struct pscan {
    const char *path;
    bnn_error *e;
    const char *s;
    size_t n, i;
    uint64_t keys;
} pscan;

/* Where a value sits, for messages: the tensor (or metadata key) and the field, as raw text
 * slices of the header. */
typedef struct pctx {
    const char *key, *field;
    size_t key_len, field_len;
} pctx;

/* "PATH: message" into p->e; returns -1. */
#define ps_fail(p, ...) bnn_fail_file((p)->e, (p)->path, __VA_ARGS__)

static int ps_invalid(pscan *p, const char *what, size_t at)
{
    return ps_fail(p, "header is not valid JSON: %s (at byte %zu of the header)", what, at);
}

static int ps_strict(pscan *p, const char *what, size_t at)
{
    return ps_fail(p, "header is not strict JSON: %s (at byte %zu of the header)", what, at);
}

static void ps_ws(pscan *p)
{
    while (p->i < p->n && is_ws(p->s[p->i]))
        p->i++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A string; p->i is at its opening quote, and ends after the closing one. */
static int ps_string(pscan *p)
{
    const char *s = p->s;
    size_t start = p->i, i = p->i + 1;
    while (i < p->n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            p->i = i + 1;
            return 0;
        }
        if (c < 0x20)
            return ps_strict(p, "a raw control character inside a string", i);
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= p->n)
            break;
        char x = s[i + 1];
        if (x == 'u') {
            if (i + 5 >= p->n || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) || !is_hex(s[i + 4]) ||
                !is_hex(s[i + 5]))
                return ps_invalid(p, "a \\u escape without four hexadecimal digits", i);
            if (memcmp(s + i + 2, "0000", 4) == 0)
                return ps_strict(p, "an escaped NUL (\\u0000) inside a string", i);
            i += 6;
        } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' ||
                   x == 'r' || x == 't') {
            i += 2;
        } else {
            return ps_invalid(p, "an unknown escape inside a string", i);
        }
    }
    return ps_invalid(p, "an unterminated string", start);
}

/* true, false, null; NaN, Infinity and the like are named as such. */
static int ps_word(pscan *p)
{
    size_t i = p->i, j = i;
    if (j < p->n && p->s[j] == '-')
        j++;
    while (j < p->n && is_alpha(p->s[j]))
        j++;
    const char *w = p->s + i;
    size_t len = j - i;
    if ((len == 4 && memcmp(w, "true", 4) == 0) || (len == 5 && memcmp(w, "false", 5) == 0) ||
        (len == 4 && memcmp(w, "null", 4) == 0)) {
        p->i = j;
        return 0;
    }
    if (len && *w == '-') {
        w++;
        len--;
    }
    if ((len == 3 && (strncasecmp(w, "nan", 3) == 0 || strncasecmp(w, "inf", 3) == 0)) ||
        (len == 8 && strncasecmp(w, "infinity", 8) == 0))
        return ps_strict(p, "a literal that is not JSON (such as NaN or Infinity)", i);
    return ps_invalid(p, "unexpected text", i);
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int ps_number(pscan *p)
{
    const char *s = p->s;
    size_t i = p->i, n = p->n;
    if (s[i] == '-') {
        i++;
        if (i < n && is_alpha(s[i]))
            return ps_word(p); /* -Infinity */
    }
    if (i >= n || !is_digit(s[i]))
        return ps_invalid(p, "a malformed number", p->i);
    if (s[i] == '0' && i + 1 < n && is_digit(s[i + 1]))
        return ps_invalid(p, "a number with a leading zero", p->i);
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return ps_invalid(p, "a malformed number", p->i);
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return ps_invalid(p, "a malformed number", p->i);
        while (i < n && is_digit(s[i]))
            i++;
    }
    p->i = i;
    return 0;
}

static int ps_value(pscan *p, int depth, int role, const pctx *cx);

static int ps_object(pscan *p, int depth, int role, const pctx *cx)
{
    char k1[80];
    p->i++; /* '{' */
    ps_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 0;
    }
    uint64_t count = 0;
    for (;;) {
        ps_ws(p);
        if (p->i >= p->n)
            return ps_invalid(p, "unexpected end of data", p->i);
        if (p->s[p->i] == '\'')
            return ps_strict(p, "a single-quoted string", p->i);
        if (p->s[p->i] != '"')
            return ps_invalid(p, "expected a string key", p->i);
        size_t k0 = p->i + 1;
        if (ps_string(p) != 0)
            return -1;
        size_t klen = p->i - 1 - k0;
        p->keys++;
        count++;
        if (role == R_TOP && count > ST_MAX_ENTRIES)
            return ps_fail(p, "header has more than %d entries (tensors and __metadata__); a "
                               "batchnn model has at most %d tensors", ST_MAX_ENTRIES,
                         ST_MAX_TENSORS);
        if (role == R_ENTRY && count > ST_MAX_FIELDS)
            return ps_fail(p, "tensor %s has more than %d fields (a tensor has dtype, "
                               "shape and data_offsets)",
                         bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60), ST_MAX_FIELDS);
        if (role == R_META && count > ST_MAX_META)
            return ps_fail(p, "__metadata__ has more than %d entries", ST_MAX_META);
        ps_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return ps_invalid(p, "expected ':' after a key", p->i);
        p->i++;
        pctx child = *cx;
        int crole = R_ELEM;
        if (role == R_TOP) {
            crole = klen == 12 && memcmp(p->s + k0, "__metadata__", 12) == 0 ? R_META : R_ENTRY;
            child.key = p->s + k0;
            child.key_len = klen;
        } else if (role == R_ENTRY) {
            crole = R_FIELD;
            child.field = p->s + k0;
            child.field_len = klen;
        } else if (role == R_META) {
            crole = R_META_VALUE;
            child.key = p->s + k0;
            child.key_len = klen;
        }
        if (ps_value(p, depth, crole, &child) != 0)
            return -1;
        ps_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return 0;
        }
        return ps_invalid(p, p->i < p->n ? "expected ',' or '}'" : "unexpected end of data",
                          p->i);
    }
}

static int ps_array(pscan *p, int depth, int role, const pctx *cx)
{
    char k1[80], k2[80];
    p->i++; /* '[' */
    ps_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 0;
    }
    uint64_t count = 0;
    for (;;) {
        if (++count > ST_MAX_DIMS) {
            if (role == R_FIELD)
                return ps_fail(p, "tensor %s: %s has more than %d elements",
                             bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60),
                             bnn_quote(k2, sizeof k2, cx->field, cx->field_len, 60), ST_MAX_DIMS);
            return ps_fail(p, "header has an array of more than %d elements (at byte %zu of "
                               "the header)", ST_MAX_DIMS, p->i);
        }
        if (ps_value(p, depth, R_ELEM, cx) != 0)
            return -1;
        ps_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return 0;
        }
        return ps_invalid(p, p->i < p->n ? "expected ',' or ']'" : "unexpected end of data",
                          p->i);
    }
}

/* A value at p->i (after blanks) in a container `depth` levels deep, where `role` says what
 * the format expects there. */
static int ps_value(pscan *p, int depth, int role, const pctx *cx)
{
    char k1[80], k2[80];
    ps_ws(p);
    if (p->i >= p->n)
        return ps_invalid(p, "unexpected end of data", p->i);
    char c = p->s[p->i];
    if (c == '{' || c == '[') {
        const char *kind = c == '{' ? "object" : "array";
        if (role == R_TOP && c == '[')
            return ps_fail(p, "header is a JSON array, not an object");
        if (role == R_ENTRY && c == '[')
            return ps_fail(p, "tensor %s: entry is a JSON array, not an object",
                         bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60));
        if (role == R_META && c == '[')
            return ps_fail(p, "\"__metadata__\" is a JSON array, not an object");
        if (role == R_META_VALUE)
            return ps_fail(p, "__metadata__ %s is a JSON %s; metadata values must be "
                               "strings", bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60), kind);
        if (role == R_FIELD && c == '{')
            return ps_fail(p, "tensor %s: %s is a JSON object (a tensor's fields are "
                               "a string and arrays of integers)",
                         bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60),
                         bnn_quote(k2, sizeof k2, cx->field, cx->field_len, 60));
        if (depth + 1 > ST_MAX_DEPTH || role == R_ELEM) {
            if (cx->key && cx->field)
                return ps_fail(p, "header nests deeper than %d levels: tensor %s: %s "
                                   "holds an %s (at byte %zu of the header)", ST_MAX_DEPTH,
                             bnn_quote(k1, sizeof k1, cx->key, cx->key_len, 60),
                             bnn_quote(k2, sizeof k2, cx->field, cx->field_len, 60), kind, p->i);
            return ps_fail(p, "header nests deeper than %d levels (at byte %zu of the header)",
                         ST_MAX_DEPTH, p->i);
        }
        return c == '{' ? ps_object(p, depth + 1, role, cx) : ps_array(p, depth + 1, role, cx);
    }
    if (c == '"')
        return ps_string(p);
    if (c == '\'')
        return ps_strict(p, "a single-quoted string", p->i);
    if (c == '-' || is_digit(c))
        return ps_number(p);
    if (is_alpha(c))
        return ps_word(p);
    return ps_invalid(p, "unexpected character", p->i);
}

int bnn_st_prescan(const char *path, const char *s, size_t n, uint64_t *nkeys, bnn_error *e)
{
    pscan p = {path, e, s, n, 0, 0};
    pctx cx = {NULL, NULL, 0, 0};
    if (ps_value(&p, 0, R_TOP, &cx) != 0)
        return -1;
    ps_ws(&p);
    if (p.i < n)
        return ps_invalid(&p, "trailing bytes after the JSON value", p.i);
    *nkeys = p.keys;
    return 0;
}
