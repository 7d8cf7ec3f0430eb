/*
 * safetensors.c - models on disk as safetensors (bnn_model_save, bnn_model_load).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
 * buffer. The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (byte offsets into the data buffer, end exclusive) plus an optional "__metadata__" object of
 * strings. batchnn writes layers.{l}.weight [out, in] and layers.{l}.bias [out] (F32,
 * little-endian, in theta's order, contiguous), __metadata__ {"format": "batchnn/1",
 * "activations": "sigmoid,identity"}, and pads the header with spaces so the data starts at
 * an 8-byte aligned offset: what safetensors.torch.load_file expects.
 *
 * Saving refuses a model with a non-finite parameter and goes through bnn_outfile (temporary
 * name, fsync, rename), so an existing file is never left half-written.
 *
 * Loading trusts nothing. It checks, each failure a one-line message naming the file and the
 * field: a regular file (a FIFO is refused without blocking); the file size; the header length
 * (not 0, within the file, at most 100 MB; a length past the end of the file means "not a
 * safetensors file", or a truncated one when a JSON object starts where the header should);
 * the header is strict JSON of the format's shape, checked by a pre-pass of our own before
 * json-c builds anything (see prescan: nesting depth, entry, field and element counts, no
 * object or array inside __metadata__, single quotes, NaN/Infinity, raw control characters
 * and \u0000 in strings), so that memory stays within a few megabytes plus about the header's
 * size; then json-c (strict mode, UTF-8 checked); no duplicate keys; every tensor has exactly
 * dtype, shape and data_offsets; the shape is non-negative integers whose byte size fits in 64
 * bits; the offsets lie in the data buffer and match the shape; tensors neither overlap nor
 * leave bytes of the buffer unused (the reference implementation's rule); names are
 * layers.{l}.weight / layers.{l}.bias with a plain decimal l; layers run 0..m-1 without gaps,
 * each with a 2-D weight, a matching 1-D bias when present, and chain (in of layer l+1 == out
 * of layer l); __metadata__ holds only strings, "format" is "batchnn/1", "pt" (the Hugging
 * Face convention for PyTorch files) or absent (flax/tf kernels are [in, out] and would load
 * transposed, so other formats are refused); "activations" names one known activation per
 * layer, and without it acts_fallback applies (NULL: sigmoid); every value is finite.
 *
 * Dtypes: F32 is read as is. F64, F16 and BF16 are converted to float32 while loading (F64
 * rounded to nearest; a value outside the float32 range is an error; F16 and BF16 convert
 * exactly). Anything else (integers, F8 variants, ...) is refused, naming the dtype.
 *
 * The file is read with stdio, sequentially, once: the header, then the data buffer in offset
 * order straight into theta. A file shorter than its header says, or one that grows while
 * being read, is an error; nothing is read past the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_internal.h"

#define ST_MAX_HEADER 100000000ULL /* the reference implementation's limit */
#define ST_MAX_TENSORS (6 * BNN_MAX_LAYERS) /* weights, biases, 2 optimizer buffers each */
#define ST_SHAPE_KEEP 8            /* dimensions kept for messages */
#define ST_FORMAT "batchnn/1"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Copies s for a one-line message: control characters become '?', long strings are cut (at a
 * UTF-8 character boundary) and end in "...". */
static const char *clean(char *out, size_t n, const char *s)
{
    size_t i = 0;
    while (s[i] && i + 1 < n) {
        unsigned char c = (unsigned char)s[i];
        out[i++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[i] && n > 4) { /* cut: keep room for "...", at a character boundary */
        i = n - 4;
        while (i > 0 && ((unsigned char)out[i] & 0xC0) == 0x80)
            i--;
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static const char *value_desc(float v)
{
    if (isnan(v))
        return "NaN";
    return v > 0 ? "+inf" : "-inf";
}

/* ------------------------------------------------------------------------------------------ */
/* Saving                                                                                      */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)k + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Finds the first non-finite parameter and describes it. */
static int find_nonfinite(const bnn_model *m, char *what, size_t n)
{
    const bnn_arch *a = &m->arch;
    for (int l = 0; l < a->nlayers; l++) {
        size_t in = (size_t)a->width[l], out = (size_t)a->width[l + 1];
        const float *w = m->theta + bnn_arch_weight_offset(a, l);
        for (size_t i = 0; i < in * out; i++)
            if (!isfinite(w[i])) {
                snprintf(what, n, "tensor \"layers.%d.weight\" element [%zu, %zu] is %s", l,
                         i / in, i % in, value_desc(w[i]));
                return 1;
            }
        if (a->bias[l]) {
            const float *b = m->theta + bnn_arch_bias_offset(a, l);
            for (size_t i = 0; i < out; i++)
                if (!isfinite(b[i])) {
                    snprintf(what, n, "tensor \"layers.%d.bias\" element [%zu] is %s", l, i,
                             value_desc(b[i]));
                    return 1;
                }
        }
    }
    return 0;
}

/* s as the body of a JSON string: quotes, backslashes and control characters escaped. */
static void sb_json_string(sbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_printf(b, "%c", *p);
    }
}

/* The JSON header, padded with spaces so that 8 + length is a multiple of 8. */
static char *build_header(const bnn_arch *a, const char *const *keys,
                          const char *const *values, int count, size_t *len)
{
    sbuf b = {0};
    sb_printf(&b, "{\"__metadata__\":{\"format\":\"%s\",\"activations\":\"", ST_FORMAT);
    for (int l = 0; l < a->nlayers; l++)
        sb_printf(&b, "%s%s", l ? "," : "", bnn_act_name(a->act[l]));
    sb_printf(&b, "\"");
    for (int i = 0; i < count; i++) {
        sb_printf(&b, ",\"");
        sb_json_string(&b, keys[i]);
        sb_printf(&b, "\":\"");
        sb_json_string(&b, values[i]);
        sb_printf(&b, "\"");
    }
    sb_printf(&b, "}");
    uint64_t off = 0;
    for (int l = 0; l < a->nlayers; l++) {
        uint64_t in = (uint64_t)a->width[l], out = (uint64_t)a->width[l + 1];
        uint64_t bytes = in * out * 4;
        sb_printf(&b, ",\"layers.%d.weight\":{\"dtype\":\"F32\",\"shape\":[%llu,%llu],"
                      "\"data_offsets\":[%llu,%llu]}",
                  l, (unsigned long long)out, (unsigned long long)in,
                  (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
        if (a->bias[l]) {
            bytes = out * 4;
            sb_printf(&b, ",\"layers.%d.bias\":{\"dtype\":\"F32\",\"shape\":[%llu],"
                          "\"data_offsets\":[%llu,%llu]}",
                      l, (unsigned long long)out, (unsigned long long)off,
                      (unsigned long long)(off + bytes));
            off += bytes;
        }
    }
    sb_printf(&b, "}");
    while (!b.oom && b.len % 8 != 0)
        sb_printf(&b, " ");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

static int write_floats(FILE *f, const float *v, size_t n)
{
    if (host_little_endian())
        return fwrite(v, sizeof(float), n, f) == n ? 0 : -1;
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int j = 0; j < 4; j++)
                buf[4 * i + (size_t)j] = (unsigned char)(u >> (8 * j));
        }
        if (fwrite(buf, 4, k, f) != k)
            return -1;
        v += k;
        n -= k;
    }
    return 0;
}

int bnn_model_save(const bnn_model *m, const char *path, bnn_error *e)
{
    return bnn_model_save_meta(m, path, NULL, NULL, 0, e);
}

int bnn_model_save_meta(const bnn_model *m, const char *path, const char *const *keys,
                        const char *const *values, int count, bnn_error *e)
{
    bnn_error sub;
    for (int i = 0; i < count; i++)
        if (strcmp(keys[i], "format") == 0 || strcmp(keys[i], "activations") == 0)
            return bnn_fail(e, "%s: not saved: metadata key \"%s\" is reserved", path, keys[i]);
    char what[256];
    if (!m || !m->theta)
        return bnn_fail(e, "%s: not saved: the model has no parameters", path);
    if (bnn_arch_check(&m->arch, &sub) != 0)
        return bnn_fail(e, "%s: not saved: %s", path, sub.msg);
    if (m->nparams != bnn_arch_nparams(&m->arch))
        return bnn_fail(e, "%s: not saved: the model holds %zu parameters, its architecture "
                           "needs %zu", path, m->nparams, bnn_arch_nparams(&m->arch));
    if (find_nonfinite(m, what, sizeof what))
        return bnn_fail(e, "%s: not saved: %s", path, what);

    size_t hlen = 0;
    char *hdr = build_header(&m->arch, keys, values, count, &hlen);
    if (!hdr)
        return bnn_fail(e, "%s: not saved: out of memory", path);
    bnn_outfile o;
    if (bnn_outfile_open(&o, path, e) != 0) {
        free(hdr);
        return -1;
    }
    FILE *f = o.fp;
    unsigned char len8[8];
    put_le64(len8, (uint64_t)hlen);
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen ||
              write_floats(f, m->theta, m->nparams) != 0;
    int err = errno;
    free(hdr);
    if (bad) {
        bnn_outfile_abort(&o);
        return bnn_fail(e, "%s: cannot write: %s", path, strerror(err ? err : EIO));
    }
    return bnn_outfile_commit(&o, e);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */

typedef enum st_dtype { DT_F32, DT_F64, DT_F16, DT_BF16 } st_dtype;

typedef struct st_tensor {
    const char *name; /* key in the parsed header */
    int layer;
    int is_bias;
    st_dtype dtype;
    unsigned itemsize;
    size_t ndim;
    uint64_t dim[ST_SHAPE_KEEP];
    uint64_t count;       /* elements */
    uint64_t begin, end;  /* byte offsets into the data buffer */
} st_tensor;

typedef struct st_load {
    const char *path;
    bnn_error *e;
    FILE *f;
    uint64_t fsize, hlen, dsize;
    char *hdr;
    json_object *root;
    const char *acts; /* "activations" metadata, or NULL */
    st_tensor *t;
    int nt;
    int weight[BNN_MAX_LAYERS]; /* index into t, or -1 */
    int bias[BNN_MAX_LAYERS];
    int order[ST_MAX_TENSORS]; /* t sorted by offset */
} st_load;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int lfail(st_load *L, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return bnn_fail(L->e, "%s: %s", L->path, buf);
}

static const char *json_kind(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "boolean";
    case json_type_double: return "number with a fraction or exponent";
    case json_type_int: return "integer";
    case json_type_object: return "object";
    case json_type_array: return "array";
    case json_type_string: return "string";
    }
    return "value";
}

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
    st_load *L;
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

/* A key as written (escapes and all), cut at about 60 bytes, for a message. */
static const char *show_key(char *out, size_t n, const char *s, size_t len)
{
    size_t k = len < n - 4 ? len : n - 4;
    if (k < len)
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
    memcpy(out, s, k);
    if (k < len) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int ps_invalid(pscan *p, const char *what, size_t at)
{
    return lfail(p->L, "header is not valid JSON: %s (at byte %zu of the header)", what, at);
}

static int ps_strict(pscan *p, const char *what, size_t at)
{
    return lfail(p->L, "header is not strict JSON: %s (at byte %zu of the header)", what, at);
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
            return lfail(p->L, "header has more than %d entries (tensors and __metadata__); a "
                               "batchnn model has at most %d tensors", ST_MAX_ENTRIES,
                         ST_MAX_TENSORS);
        if (role == R_ENTRY && count > ST_MAX_FIELDS)
            return lfail(p->L, "tensor \"%s\" has more than %d fields (a tensor has dtype, "
                               "shape and data_offsets)",
                         show_key(k1, sizeof k1, cx->key, cx->key_len), ST_MAX_FIELDS);
        if (role == R_META && count > ST_MAX_META)
            return lfail(p->L, "__metadata__ has more than %d entries", ST_MAX_META);
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
                return lfail(p->L, "tensor \"%s\": \"%s\" has more than %d elements",
                             show_key(k1, sizeof k1, cx->key, cx->key_len),
                             show_key(k2, sizeof k2, cx->field, cx->field_len), ST_MAX_DIMS);
            return lfail(p->L, "header has an array of more than %d elements (at byte %zu of "
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
            return lfail(p->L, "header is a JSON array, not an object");
        if (role == R_ENTRY && c == '[')
            return lfail(p->L, "tensor \"%s\": entry is a JSON array, not an object",
                         show_key(k1, sizeof k1, cx->key, cx->key_len));
        if (role == R_META && c == '[')
            return lfail(p->L, "\"__metadata__\" is a JSON array, not an object");
        if (role == R_META_VALUE)
            return lfail(p->L, "__metadata__ \"%s\" is a JSON %s; metadata values must be "
                               "strings", show_key(k1, sizeof k1, cx->key, cx->key_len), kind);
        if (role == R_FIELD && c == '{')
            return lfail(p->L, "tensor \"%s\": \"%s\" is a JSON object (a tensor's fields are "
                               "a string and arrays of integers)",
                         show_key(k1, sizeof k1, cx->key, cx->key_len),
                         show_key(k2, sizeof k2, cx->field, cx->field_len));
        if (depth + 1 > ST_MAX_DEPTH || role == R_ELEM) {
            if (cx->key && cx->field)
                return lfail(p->L, "header nests deeper than %d levels: tensor \"%s\": \"%s\" "
                                   "holds an %s (at byte %zu of the header)", ST_MAX_DEPTH,
                             show_key(k1, sizeof k1, cx->key, cx->key_len),
                             show_key(k2, sizeof k2, cx->field, cx->field_len), kind, p->i);
            return lfail(p->L, "header nests deeper than %d levels (at byte %zu of the header)",
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

/* Runs the pre-pass over the n bytes of the header: 0 (and the number of keys), or -1 with
 * the message set. */
static int prescan(st_load *L, const char *s, size_t n, uint64_t *nkeys)
{
    pscan p = {L, s, n, 0, 0};
    pctx cx = {NULL, NULL, 0, 0};
    if (ps_value(&p, 0, R_TOP, &cx) != 0)
        return -1;
    ps_ws(&p);
    if (p.i < n)
        return ps_invalid(&p, "trailing bytes after the JSON value", p.i);
    *nkeys = p.keys;
    return 0;
}

/* Keys in the parsed tree (json-c keeps one of each duplicate). Depth is bounded by the
 * pre-pass (ST_MAX_DEPTH). */
static uint64_t tree_keys(json_object *v)
{
    uint64_t k = 0;
    if (json_object_is_type(v, json_type_object)) {
        k += (uint64_t)json_object_object_length(v);
        json_object_object_foreach(v, key, val)
        {
            (void)key;
            k += tree_keys(val);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            k += tree_keys(json_object_array_get_idx(v, i));
    }
    return k;
}

/* "layers.{l}.weight" / "layers.{l}.bias", l decimal without sign or leading zeros. Returns
 * 0 and fills layer/is_bias; -1 for another name; -2 when l is too large. */
static int parse_name(const char *s, int *layer, int *is_bias)
{
    if (strncmp(s, "layers.", 7) != 0)
        return -1;
    s += 7;
    if (!(*s >= '0' && *s <= '9') || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1;
    long v = 0;
    int big = 0;
    while (*s >= '0' && *s <= '9') {
        if (v < 1000000)
            v = v * 10 + (*s - '0');
        else
            big = 1;
        s++;
    }
    if (strcmp(s, ".weight") == 0)
        *is_bias = 0;
    else if (strcmp(s, ".bias") == 0)
        *is_bias = 1;
    else
        return -1;
    if (big || v >= BNN_MAX_LAYERS)
        return -2;
    *layer = (int)v;
    return 0;
}

static void format_shape(const st_tensor *t, char *out, size_t n)
{
    size_t p = 0;
    out[0] = '\0';
    p += (size_t)snprintf(out, n, "[");
    for (size_t i = 0; i < t->ndim && i < ST_SHAPE_KEEP && p < n; i++)
        p += (size_t)snprintf(out + p, n - p, "%s%llu", i ? ", " : "",
                              (unsigned long long)t->dim[i]);
    if (t->ndim > ST_SHAPE_KEEP && p < n)
        p += (size_t)snprintf(out + p, n - p, ", ... (%zu dimensions)", t->ndim);
    if (p < n)
        snprintf(out + p, n - p, "]");
}

/* A non-negative JSON integer. Returns 0, or -1 with a description of the value in why.
 * Values of 2^63 and more are refused: no file offset reaches them, and json-c saturates
 * integers beyond 64 bits at UINT64_MAX, which would hide the number written. */
static int get_u64(json_object *v, uint64_t *out, char *why, size_t n)
{
    if (!json_object_is_type(v, json_type_int)) {
        snprintf(why, n, "a JSON %s", json_kind(v));
        return -1;
    }
    if (json_object_get_int64(v) < 0) {
        snprintf(why, n, "%lld, negative", (long long)json_object_get_int64(v));
        return -1;
    }
    *out = json_object_get_uint64(v);
    if (*out == UINT64_MAX) {
        snprintf(why, n, "%llu or more, too large", (unsigned long long)*out);
        return -1;
    }
    if (*out > (uint64_t)INT64_MAX) {
        snprintf(why, n, "%llu, too large (2^63 or more)", (unsigned long long)*out);
        return -1;
    }
    return 0;
}

static int parse_dtype(st_load *L, const char *tn, json_object *v, st_tensor *t)
{
    char c1[64];
    if (!json_object_is_type(v, json_type_string))
        return lfail(L, "tensor \"%s\": \"dtype\" is a JSON %s, not a string", tn,
                     json_kind(v));
    const char *d = json_object_get_string(v);
    if (strcmp(d, "F32") == 0) {
        t->dtype = DT_F32;
        t->itemsize = 4;
    } else if (strcmp(d, "F64") == 0) {
        t->dtype = DT_F64;
        t->itemsize = 8;
    } else if (strcmp(d, "F16") == 0) {
        t->dtype = DT_F16;
        t->itemsize = 2;
    } else if (strcmp(d, "BF16") == 0) {
        t->dtype = DT_BF16;
        t->itemsize = 2;
    } else {
        return lfail(L, "tensor \"%s\": dtype \"%s\" is not supported (batchnn reads F32, "
                        "and converts F64, F16 and BF16)", tn, clean(c1, sizeof c1, d));
    }
    return 0;
}

static int parse_shape(st_load *L, const char *tn, json_object *v, st_tensor *t)
{
    if (!json_object_is_type(v, json_type_array))
        return lfail(L, "tensor \"%s\": \"shape\" is a JSON %s, not an array", tn,
                     json_kind(v));
    size_t n = json_object_array_length(v);
    uint64_t count = 1;
    int overflow = 0;
    t->ndim = n;
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(v, i);
        uint64_t x;
        char why[80];
        if (get_u64(d, &x, why, sizeof why) != 0)
            return lfail(L, "tensor \"%s\": \"shape\" dimension %zu is %s; expected a "
                            "non-negative integer", tn, i, why);
        if (i < ST_SHAPE_KEEP)
            t->dim[i] = x;
        if (x != 0 && count > UINT64_MAX / x)
            overflow = 1;
        else
            count *= x;
    }
    if (overflow || count > UINT64_MAX / t->itemsize) {
        char sh[160];
        format_shape(t, sh, sizeof sh);
        return lfail(L, "tensor \"%s\": \"shape\" %s has too many elements (its size "
                        "overflows 64 bits)", tn, sh);
    }
    t->count = count;
    return 0;
}

static int parse_offsets(st_load *L, const char *tn, json_object *v, st_tensor *t)
{
    if (!json_object_is_type(v, json_type_array))
        return lfail(L, "tensor \"%s\": \"data_offsets\" is a JSON %s, not an array", tn,
                     json_kind(v));
    if (json_object_array_length(v) != 2)
        return lfail(L, "tensor \"%s\": \"data_offsets\" has %zu elements, not 2 "
                        "([begin, end])", tn, json_object_array_length(v));
    uint64_t o[2];
    for (size_t i = 0; i < 2; i++) {
        json_object *d = json_object_array_get_idx(v, i);
        char why[80];
        if (get_u64(d, &o[i], why, sizeof why) != 0)
            return lfail(L, "tensor \"%s\": \"data_offsets\" %s is %s; expected a "
                            "non-negative integer", tn, i ? "end" : "begin", why);
    }
    if (o[0] > o[1])
        return lfail(L, "tensor \"%s\": \"data_offsets\" [%llu, %llu] are reversed (begin "
                        "after end)", tn, (unsigned long long)o[0], (unsigned long long)o[1]);
    if (o[1] > L->dsize)
        return lfail(L, "tensor \"%s\": \"data_offsets\" [%llu, %llu] go past the end of the "
                        "%llu-byte data buffer", tn, (unsigned long long)o[0],
                     (unsigned long long)o[1], (unsigned long long)L->dsize);
    if (o[1] - o[0] != t->count * t->itemsize) {
        char sh[160];
        format_shape(t, sh, sizeof sh);
        return lfail(L, "tensor \"%s\": \"data_offsets\" [%llu, %llu] span %llu bytes, but "
                        "shape %s needs %llu (size mismatch)", tn, (unsigned long long)o[0],
                     (unsigned long long)o[1], (unsigned long long)(o[1] - o[0]), sh,
                     (unsigned long long)(t->count * t->itemsize));
    }
    t->begin = o[0];
    t->end = o[1];
    return 0;
}

static int parse_tensor(st_load *L, const char *name, json_object *v)
{
    char c1[80];
    int layer = 0, is_bias = 0;
    int r = parse_name(name, &layer, &is_bias);
    if (r == -1 && strncmp(name, "optimizer.", 10) == 0) {
        layer = -1; /* a checkpoint's optimizer state (src/io/checkpoint.c): skipped here */
        r = 0;
    }
    if (r == -1)
        return lfail(L, "tensor \"%s\": unknown name (batchnn reads layers.{l}.weight and "
                        "layers.{l}.bias)", clean(c1, sizeof c1, name));
    if (r == -2)
        return lfail(L, "tensor \"%s\": layer index beyond the limit of %d layers",
                     clean(c1, sizeof c1, name), BNN_MAX_LAYERS);
    if (!json_object_is_type(v, json_type_object))
        return lfail(L, "tensor \"%s\": entry is a JSON %s, not an object", name,
                     json_kind(v));
    /* names are unique (duplicate keys are refused earlier), so at most 2 per layer; checked
     * again here so that nothing rests on that */
    if (L->nt >= ST_MAX_TENSORS ||
        (layer >= 0 && (is_bias ? L->bias[layer] : L->weight[layer]) >= 0))
        return lfail(L, "tensor \"%s\" appears twice", name);
    st_tensor *t = &L->t[L->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->layer = layer;
    t->is_bias = is_bias;
    json_object *dt = NULL, *sh = NULL, *off = NULL;
    json_object_object_foreach(v, key, val)
    {
        if (strcmp(key, "dtype") == 0)
            dt = val;
        else if (strcmp(key, "shape") == 0)
            sh = val;
        else if (strcmp(key, "data_offsets") == 0)
            off = val;
        else
            return lfail(L, "tensor \"%s\": unexpected field \"%s\" (expected dtype, shape, "
                            "data_offsets)", name, clean(c1, sizeof c1, key));
    }
    if (!dt)
        return lfail(L, "tensor \"%s\": missing \"dtype\"", name);
    if (!sh)
        return lfail(L, "tensor \"%s\": missing \"shape\"", name);
    if (!off)
        return lfail(L, "tensor \"%s\": missing \"data_offsets\"", name);
    if (parse_dtype(L, name, dt, t) != 0 || parse_shape(L, name, sh, t) != 0 ||
        parse_offsets(L, name, off, t) != 0)
        return -1;
    if (layer < 0)
        ; /* recorded for the coverage check only */
    else if (is_bias)
        L->bias[layer] = L->nt;
    else
        L->weight[layer] = L->nt;
    L->nt++;
    return 0;
}

static int parse_metadata(st_load *L, json_object *v)
{
    char c1[80], c2[80];
    if (!json_object_is_type(v, json_type_object))
        return lfail(L, "\"__metadata__\" is a JSON %s, not an object", json_kind(v));
    json_object_object_foreach(v, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return lfail(L, "__metadata__ \"%s\" is a JSON %s; metadata values must be "
                            "strings", clean(c1, sizeof c1, key), json_kind(val));
        const char *s = json_object_get_string(val);
        if (strcmp(key, "format") == 0) {
            if (strncmp(s, "batchnn/", 8) == 0) {
                if (strcmp(s, ST_FORMAT) != 0)
                    return lfail(L, "__metadata__ \"format\" is \"%s\"; this build reads "
                                    "\"%s\"", clean(c2, sizeof c2, s), ST_FORMAT);
            } else if (strcmp(s, "pt") != 0) {
                return lfail(L, "__metadata__ \"format\" is \"%s\", expected \"%s\" or \"pt\" "
                                "(other layouts store weights as [in, out])",
                             clean(c2, sizeof c2, s), ST_FORMAT);
            }
        } else if (strcmp(key, "activations") == 0) {
            L->acts = s;
        }
    }
    return 0;
}

/* Parses a comma-separated list of activation names (spaces around names ignored) into
 * act[0..m-1]; one name applies to every layer when allow_one. On failure writes why. */
static int parse_acts(const char *s, int m, int allow_one, bnn_act *act, char *why, size_t n)
{
    long names = 1;
    for (const char *p = s; *p; p++)
        names += *p == ',';
    if (names != m && !(allow_one && names == 1)) {
        snprintf(why, n, "%ld name%s for %d layer%s", names, names == 1 ? "" : "s", m,
                 m == 1 ? "" : "s");
        return -1;
    }
    const char *p = s;
    for (long i = 0; i < names; i++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && is_ws(*a))
            a++;
        while (b > a && is_ws(b[-1]))
            b--;
        char tok[32], c1[48];
        size_t len = (size_t)(b - a);
        bnn_act x;
        int ok = len < sizeof tok;
        if (ok) {
            memcpy(tok, a, len);
            tok[len] = '\0';
            ok = bnn_act_parse(tok, &x) == 0;
        }
        if (!ok) {
            char raw[40];
            size_t k = len < sizeof raw - 1 ? len : sizeof raw - 1;
            memcpy(raw, a, k);
            raw[k] = '\0';
            snprintf(why, n, "unknown activation \"%s%s\" (known: identity, sigmoid, tanh, "
                             "relu)", clean(c1, sizeof c1, raw), k < len ? "..." : "");
            return -1;
        }
        if (names == 1)
            for (int l = 0; l < m; l++)
                act[l] = x;
        else
            act[i] = x;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int cmp_offsets(const void *pa, const void *pb, void *ctx)
{
    const st_tensor *t = ctx;
    const st_tensor *a = &t[*(const int *)pa], *b = &t[*(const int *)pb];
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

/* Tensors must tile the data buffer exactly: no overlaps, no unused bytes. */
static int check_coverage(st_load *L)
{
    for (int i = 0; i < L->nt; i++)
        L->order[i] = i;
    /* insertion sort: at most 512 entries, and no reliance on qsort_r */
    for (int i = 1; i < L->nt; i++) {
        int x = L->order[i], j = i;
        while (j > 0 && cmp_offsets(&L->order[j - 1], &x, L->t) > 0) {
            L->order[j] = L->order[j - 1];
            j--;
        }
        L->order[j] = x;
    }
    uint64_t pos = 0;
    int last = -1; /* tensor ending at pos */
    for (int i = 0; i < L->nt; i++) {
        const st_tensor *t = &L->t[L->order[i]];
        if (t->begin > pos)
            return lfail(L, "bytes %llu to %llu of the data buffer are not used by any tensor "
                            "(before \"%s\")", (unsigned long long)pos,
                         (unsigned long long)t->begin, t->name);
        if (t->begin < pos && t->end > t->begin)
            return lfail(L, "tensor \"%s\" (bytes %llu to %llu) overlaps tensor \"%s\" (bytes "
                            "%llu to %llu)", t->name, (unsigned long long)t->begin,
                         (unsigned long long)t->end, L->t[last].name,
                         (unsigned long long)L->t[last].begin,
                         (unsigned long long)L->t[last].end);
        if (t->end > pos) {
            pos = t->end;
            last = L->order[i];
        }
    }
    if (pos < L->dsize)
        return lfail(L, "%llu bytes of data (from byte %llu of the data buffer) are not used "
                        "by any tensor", (unsigned long long)(L->dsize - pos),
                     (unsigned long long)pos);
    return 0;
}

/* Layers 0..m-1 without gaps, 2-D weights, matching biases, chained widths. */
static int build_arch(st_load *L, bnn_arch *a, const char *acts_fallback)
{
    char sh[160], why[200], c1[80];
    int m = 0;
    for (int l = 0; l < BNN_MAX_LAYERS; l++)
        if (L->weight[l] >= 0 || L->bias[l] >= 0)
            m = l + 1;
    if (m == 0)
        return lfail(L, "the header lists no tensors (a model needs at least "
                        "layers.0.weight)");
    memset(a, 0, sizeof *a);
    a->nlayers = m;
    for (int l = 0; l < m; l++) {
        if (L->weight[l] < 0) {
            if (L->bias[l] >= 0)
                return lfail(L, "tensor \"layers.%d.bias\" has no matching "
                                "\"layers.%d.weight\"", l, l);
            return lfail(L, "tensor \"layers.%d.weight\" is missing: layers must be numbered "
                            "0 to %d without gaps (found layers.%d)", l, m - 1, m - 1);
        }
        const st_tensor *w = &L->t[L->weight[l]];
        format_shape(w, sh, sizeof sh);
        if (w->ndim != 2)
            return lfail(L, "tensor \"%s\": shape %s is %zu-D; a weight is 2-D [out, in]",
                         w->name, sh, w->ndim);
        for (int k = 0; k < 2; k++) {
            if (w->dim[k] == 0)
                return lfail(L, "tensor \"%s\": shape %s has a zero dimension (widths are at "
                                "least 1)", w->name, sh);
            if (w->dim[k] > (uint64_t)BNN_MAX_WIDTH)
                return lfail(L, "tensor \"%s\": shape %s: width %llu is larger than the limit "
                                "%lld", w->name, sh, (unsigned long long)w->dim[k],
                             (long long)BNN_MAX_WIDTH);
        }
        uint64_t out = w->dim[0], in = w->dim[1];
        if (l == 0)
            a->width[0] = (int64_t)in;
        else if ((uint64_t)a->width[l] != in)
            return lfail(L, "tensor \"%s\": shape %s does not chain with layers.%d (out %lld)",
                         w->name, sh, l - 1, (long long)a->width[l]);
        a->width[l + 1] = (int64_t)out;
        a->act[l] = BNN_ACT_SIGMOID;
        if (L->bias[l] >= 0) {
            const st_tensor *b = &L->t[L->bias[l]];
            format_shape(b, sh, sizeof sh);
            if (b->ndim != 1)
                return lfail(L, "tensor \"%s\": shape %s is %zu-D; a bias is 1-D [out]",
                             b->name, sh, b->ndim);
            if (b->dim[0] != out)
                return lfail(L, "tensor \"%s\": shape %s does not match layers.%d.weight "
                                "(out %llu)", b->name, sh, l, (unsigned long long)out);
            a->bias[l] = 1;
        }
    }
    if (L->acts) {
        if (parse_acts(L->acts, m, 0, a->act, why, sizeof why) != 0)
            return lfail(L, "__metadata__ \"activations\": %s", why);
    } else if (acts_fallback) {
        if (parse_acts(acts_fallback, m, 1, a->act, why, sizeof why) != 0)
            return lfail(L, "no \"activations\" in __metadata__, and the fallback \"%s\" does "
                            "not apply: %s", clean(c1, sizeof c1, acts_fallback), why);
    }
    bnn_error sub;
    if (bnn_arch_check(a, &sub) != 0)
        return lfail(L, "%s", sub.msg);
    return 0;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f; /* zero or subnormal, exact */
        return sign ? -v : v;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int read_exact(st_load *L, void *dst, size_t bytes)
{
    if (bytes && fread(dst, 1, bytes, L->f) != bytes) {
        if (ferror(L->f))
            return lfail(L, "read error: %s", strerror(errno ? errno : EIO));
        return lfail(L, "the file is shorter than its header says (was it truncated while "
                        "being read?)");
    }
    return 0;
}

static int report_value(st_load *L, const st_tensor *t, uint64_t i, const char *what)
{
    if (t->is_bias)
        return lfail(L, "tensor \"%s\": element [%llu] is %s", t->name, (unsigned long long)i,
                     what);
    return lfail(L, "tensor \"%s\": element [%llu, %llu] is %s", t->name,
                 (unsigned long long)(i / t->dim[1]), (unsigned long long)(i % t->dim[1]),
                 what);
}

/* Reads tensor t (at the current file position) into dst as float32, checking values. */
static int read_tensor(st_load *L, const st_tensor *t, float *dst)
{
    size_t n = (size_t)t->count;
    if (t->dtype == DT_F32 && host_little_endian()) {
        if (read_exact(L, dst, n * 4) != 0)
            return -1;
    } else {
        unsigned char buf[8192];
        size_t per = sizeof buf / t->itemsize;
        for (size_t i0 = 0; i0 < n; i0 += per) {
            size_t k = n - i0 < per ? n - i0 : per;
            if (read_exact(L, buf, k * t->itemsize) != 0)
                return -1;
            for (size_t i = 0; i < k; i++) {
                const unsigned char *p = buf + i * t->itemsize;
                uint32_t u;
                float f = 0.0f;
                switch (t->dtype) {
                case DT_F32:
                    u = (uint32_t)get_le(p, 4);
                    memcpy(&f, &u, 4);
                    break;
                case DT_F64: {
                    uint64_t b = get_le(p, 8);
                    double d;
                    memcpy(&d, &b, 8);
                    if (isfinite(d) && fabs(d) > FLT_MAX) {
                        char what[80];
                        snprintf(what, sizeof what, "%.17g, outside the float32 range", d);
                        return report_value(L, t, i0 + i, what);
                    }
                    f = isfinite(d) ? (float)d : isnan(d) ? NAN : d > 0 ? INFINITY : -INFINITY;
                    break;
                }
                case DT_F16:
                    f = half_to_float((uint16_t)get_le(p, 2));
                    break;
                case DT_BF16:
                    u = (uint32_t)get_le(p, 2) << 16;
                    memcpy(&f, &u, 4);
                    break;
                }
                dst[i0 + i] = f;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return report_value(L, t, i, value_desc(dst[i]));
    return 0;
}

static int load_header(st_load *L)
{
    struct stat st;
    if (fstat(fileno(L->f), &st) != 0)
        return lfail(L, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lfail(L, "not a regular file");
    L->fsize = (uint64_t)st.st_size;
    if (L->fsize < 8)
        return lfail(L, "the file is %llu bytes, too short for a safetensors header (at least "
                        "8)", (unsigned long long)L->fsize);
    unsigned char len8[8];
    if (read_exact(L, len8, 8) != 0)
        return -1;
    L->hlen = get_le(len8, 8);
    if (L->hlen == 0)
        return lfail(L, "header length is 0 (expected a JSON object)");
    if (L->hlen > L->fsize - 8) {
        /* a JSON header that starts where it should but runs past the end: a safetensors
         * file cut short; anything else (text, another format) is not safetensors at all */
        int c = L->hlen <= ST_MAX_HEADER && L->fsize > 8 ? fgetc(L->f) : EOF;
        if (c == '{')
            return lfail(L, "header length %llu is past the end of the file (%llu bytes): the "
                            "file is truncated", (unsigned long long)L->hlen,
                         (unsigned long long)L->fsize);
        return lfail(L, "not a safetensors file (header length %llu is larger than the file's "
                        "%llu bytes)", (unsigned long long)L->hlen,
                     (unsigned long long)L->fsize);
    }
    if (L->hlen > ST_MAX_HEADER)
        return lfail(L, "header length %llu exceeds the limit of %llu bytes",
                     (unsigned long long)L->hlen, ST_MAX_HEADER);
    L->dsize = L->fsize - 8 - L->hlen;
    size_t n = (size_t)L->hlen;
    L->hdr = malloc(n + 1);
    if (!L->hdr)
        return lfail(L, "out of memory for a %zu-byte header", n);
    if (read_exact(L, L->hdr, n) != 0)
        return -1;
    L->hdr[n] = '\0';
    const char *nul = memchr(L->hdr, '\0', n);
    if (nul)
        return lfail(L, "header contains a NUL byte at offset %zu", (size_t)(nul - L->hdr));

    /* the pre-pass first: json-c builds nothing from a header of the wrong shape */
    uint64_t nkeys = 0;
    if (prescan(L, L->hdr, n, &nkeys) != 0)
        return -1;

    json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
    if (!tok)
        return lfail(L, "out of memory parsing the header");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* the length includes the terminating NUL: the tokener then knows the input ends */
    L->root = json_tokener_parse_ex(tok, L->hdr, (int)(n + 1));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!L->root || jerr != json_tokener_success)
        return lfail(L, "header is not valid JSON: %s (at byte %zu of the header)",
                     jerr == json_tokener_continue ? "unexpected end of data"
                                                   : json_tokener_error_desc(jerr),
                     end);
    for (size_t i = end; i < n; i++)
        if (!is_ws(L->hdr[i]))
            return lfail(L, "header has trailing bytes after the JSON (at byte %zu)", i);
    if (!json_object_is_type(L->root, json_type_object))
        return lfail(L, "header is a JSON %s, not an object", json_kind(L->root));
    if (nkeys != tree_keys(L->root))
        return lfail(L, "header has a duplicate key (each tensor and field may appear once)");
    return 0;
}

/* Opens L->path and parses its header. O_NONBLOCK: opening a FIFO must not wait for a
 * writer; load_header then refuses anything but a regular file. */
static int open_header(st_load *L)
{
    int fd = open(L->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return lfail(L, "cannot open: %s", strerror(errno));
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 || !(L->f = fdopen(fd, "rb"))) {
        int r = lfail(L, "cannot open: %s", strerror(errno));
        close(fd);
        return r;
    }
    return load_header(L);
}

int bnn_model_load(bnn_model *m, const char *path, const char *acts_fallback, bnn_error *e)
{
    memset(m, 0, sizeof *m);
    st_load *L = calloc(1, sizeof *L);
    if (!L)
        return bnn_fail(e, "%s: out of memory", path);
    L->path = path;
    L->e = e;
    for (int l = 0; l < BNN_MAX_LAYERS; l++)
        L->weight[l] = L->bias[l] = -1;
    int rc = -1;
    bnn_arch arch;

    if (open_header(L) != 0)
        goto done;
    L->t = calloc(ST_MAX_TENSORS, sizeof *L->t);
    if (!L->t) {
        lfail(L, "out of memory");
        goto done;
    }
    {
        json_object *meta = NULL;
        int bad = 0;
        json_object_object_foreach(L->root, key, val)
        {
            if (strcmp(key, "__metadata__") == 0) {
                meta = val;
                continue;
            }
            if (parse_tensor(L, key, val) != 0) {
                bad = 1;
                break;
            }
        }
        if (bad || (meta && parse_metadata(L, meta) != 0))
            goto done;
    }
    if (check_coverage(L) != 0 || build_arch(L, &arch, acts_fallback) != 0)
        goto done;
    {
        bnn_error sub;
        if (bnn_model_init(m, &arch, &sub) != 0) {
            lfail(L, "%s", sub.msg);
            goto done;
        }
    }
    /* the data buffer follows the header; tensors tile it in offset order */
    for (int i = 0; i < L->nt; i++) {
        const st_tensor *t = &L->t[L->order[i]];
        if (t->layer < 0) { /* optimizer state: skip its bytes */
            if (fseeko(L->f, (off_t)(t->end - t->begin), SEEK_CUR) != 0) {
                lfail(L, "cannot seek past tensor \"%s\"", t->name);
                goto done;
            }
            continue;
        }
        size_t off = t->is_bias ? bnn_arch_bias_offset(&m->arch, t->layer)
                                : bnn_arch_weight_offset(&m->arch, t->layer);
        if (read_tensor(L, t, m->theta + off) != 0)
            goto done;
    }
    if (fgetc(L->f) != EOF) {
        lfail(L, "the file grew while being read");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        bnn_model_free(m);
    if (L->f)
        fclose(L->f);
    json_object_put(L->root);
    free(L->hdr);
    free(L->t);
    free(L);
    return rc;
}

int bnn_model_read_meta(const char *path, const char *key, char *buf, size_t len, bnn_error *e)
{
    st_load *L = calloc(1, sizeof *L);
    if (!L)
        return bnn_fail(e, "%s: out of memory", path);
    L->path = path;
    L->e = e;
    int rc = -1;
    if (open_header(L) != 0)
        goto done;
    rc = 1;
    json_object *meta = NULL, *val = NULL;
    if (json_object_object_get_ex(L->root, "__metadata__", &meta) &&
        json_object_is_type(meta, json_type_object) &&
        json_object_object_get_ex(meta, key, &val) && json_object_is_type(val, json_type_string)) {
        const char *v = json_object_get_string(val);
        if (strlen(v) >= len) {
            rc = lfail(L, "__metadata__ \"%s\" is too long", key);
        } else {
            memcpy(buf, v, strlen(v) + 1);
            rc = 0;
        }
    }
done:
    if (L->f)
        fclose(L->f);
    json_object_put(L->root);
    free(L->hdr);
    free(L);
    return rc;
}
