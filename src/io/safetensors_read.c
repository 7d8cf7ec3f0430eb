/*
 * safetensors_read.c - models from safetensors files: bnn_model_load, bnn_model_load_note,
 * bnn_model_read_meta (the writer is safetensors_write.c, the strictness pass over the header
 * safetensors_strict.c).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
 * buffer. The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (byte offsets into the data buffer, end exclusive) plus an optional "__metadata__" object of
 * strings.
 *
 * Loading trusts nothing. It checks, each failure a one-line message naming the file and the
 * field: a regular file (a FIFO is refused without blocking); the file size; the header length
 * (not 0, within the file, at most 100 MB; a length past the end of the file means "not a
 * safetensors file", or a truncated one when a JSON object starts where the header should); the
 * header is strict JSON of the format's shape, checked by a pre-pass of our own before json-c
 * builds anything (bnn_st_prescan, safetensors_strict.c: nesting depth, entry, field and element
 * counts, no object or array inside __metadata__, single quotes, NaN/Infinity, raw control
 * characters and \u0000 in strings), so that memory stays within a few megabytes plus about the
 * header's size; then json-c (strict mode, UTF-8 checked); no duplicate keys; every tensor has
 * exactly dtype, shape and data_offsets; the shape is non-negative integers whose byte size fits
 * in 64 bits; the offsets lie in the data buffer and match the shape; tensors neither overlap nor
 * leave bytes of the buffer unused (the reference implementation's rule); names are
 * layers.{l}.weight / layers.{l}.bias with a plain decimal l, and layers run 0..m-1 without gaps,
 * or, all of them, {k}.weight / {k}.bias as PyTorch names an nn.Sequential's state_dict (k need
 * not be consecutive: activation modules take indices too), mapped to layers in increasing k with
 * a note (bnn_model_load_note); each layer has a 2-D weight, a matching 1-D bias when present, and
 * chain (in of layer l+1 == out of layer l); input.mean and input.std (--standardize), both or
 * neither, shape [in], finite, std above 0, go to the model's in_mean / in_std; __metadata__ holds only strings, "format" is
 * "batchnn/1", "pt" (the Hugging Face convention for PyTorch files) or absent (flax/tf kernels are
 * [in, out] and would load transposed, so other formats are refused); "activations" names one
 * known activation per layer, and without it acts_fallback applies (NULL: sigmoid); every value is
 * finite.
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

#include "io/bnn_io.h"
#include "safetensors_format.h"

#define ST_SHAPE_KEEP 8 /* dimensions kept for messages */

/* s for a message: quoted, escaped, cut at about 40 bytes. */
static const char *clean(char *out, size_t n, const char *s)
{
    return bnn_quote(out, n, s, strlen(s), 40);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */

typedef enum st_dtype { DT_F32, DT_F64, DT_F16, DT_BF16 } st_dtype;

typedef struct st_tensor {
    const char *name; /* key in the parsed header */
    int layer;            /* -1: optimizer state, -3: input.mean, -4: input.std */
    long index;           /* l of layers.{l}, or k of an nn.Sequential's {k} */
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
    int naming;                /* 0: no layer tensor yet, 1: layers.{l}, 2: nn.Sequential */
    char *note;                /* bnn_model_load_note's, or NULL */
    size_t note_len;
} st_load;

/* "PATH: message" into L->e; returns -1. */
#define lfail(L, ...) bnn_fail_file((L)->e, (L)->path, __VA_ARGS__)

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

/* "layers.{l}.weight" / "layers.{l}.bias" (*seq = 0), or "{k}.weight" / "{k}.bias" as
 * PyTorch names the layers of an nn.Sequential (*seq = 1); l, k decimal without sign or
 * leading zeros. Returns 0 and fills index/is_bias; -1 for another name; -2 when the index is
 * too large (l >= BNN_MAX_LAYERS; k >= 10^6). */
static int parse_name(const char *s, int *seq, long *index, int *is_bias)
{
    *seq = strncmp(s, "layers.", 7) != 0;
    if (!*seq)
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
    if (big || v >= 1000000 || (!*seq && v >= BNN_MAX_LAYERS))
        return -2;
    *index = v;
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
        return lfail(L, "tensor \"%s\": dtype %s is not supported (batchnn reads F32, "
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
    int seq = 0, is_bias = 0, layer = -1, optimizer = 0;
    long index = 0;
    int r = parse_name(name, &seq, &index, &is_bias);
    int scaler = 0; /* --standardize's input.mean / input.std: -3 / -4 */
    if (r == -1 && strncmp(name, "optimizer.", 10) == 0) {
        optimizer = 1; /* a checkpoint's optimizer state (src/io/checkpoint.c): skipped here */
        seq = 0;
        r = 0;
    } else if (r == -1 && (strcmp(name, "input.mean") == 0 || strcmp(name, "input.std") == 0)) {
        optimizer = 1; /* not a layer */
        scaler = strcmp(name, "input.mean") == 0 ? -3 : -4;
        seq = 0;
        r = 0;
    }
    if (r == -1)
        return lfail(L, "tensor %s: unknown name (batchnn reads layers.{l}.weight and "
                        "layers.{l}.bias, or {k}.weight and {k}.bias as an nn.Sequential "
                        "names them)", clean(c1, sizeof c1, name));
    if (r == -2)
        return lfail(L, "tensor %s: layer index beyond the limit of %d layers",
                     clean(c1, sizeof c1, name), seq ? 1000000 : BNN_MAX_LAYERS);
    if (!optimizer) {
        if (L->naming && L->naming != 1 + seq)
            return lfail(L, "tensor %s: names mix layers.{l}.weight and nn.Sequential's "
                            "{k}.weight; use one or the other", clean(c1, sizeof c1, name));
        L->naming = 1 + seq;
        layer = seq ? -2 : (int)index; /* -2: placed by map_sequential */
    }
    if (scaler)
        layer = scaler;
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
    t->index = index;
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
            return lfail(L, "tensor \"%s\": unexpected field %s (expected dtype, shape, "
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
        ; /* optimizer state: recorded for the coverage check only; nn.Sequential: later */
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
            return lfail(L, "__metadata__ %s is a JSON %s; metadata values must be "
                            "strings", clean(c1, sizeof c1, key), json_kind(val));
        const char *s = json_object_get_string(val);
        if (strcmp(key, "format") == 0) {
            if (strncmp(s, "batchnn/", 8) == 0) {
                if (strcmp(s, ST_FORMAT) != 0)
                    return lfail(L, "__metadata__ \"format\" is %s; this build reads "
                                    "\"%s\"", clean(c2, sizeof c2, s), ST_FORMAT);
            } else if (strcmp(s, "pt") != 0) {
                return lfail(L, "__metadata__ \"format\" is %s, expected \"%s\" or \"pt\" "
                                "(other layouts store weights as [in, out])",
                             clean(c2, sizeof c2, s), ST_FORMAT);
            }
        } else if (strcmp(key, "activations") == 0) {
            L->acts = s;
        }
    }
    return 0;
}

/* An activation list (bnn_act_list_parse) for the model's m layers; on failure writes why. */
static int parse_acts(const char *s, int m, int allow_one, bnn_act *act, char *why, size_t n)
{
    int count = 0;
    const char *bad = NULL;
    size_t blen = 0;
    char q[64];
    int r = bnn_act_list_parse(s, m, allow_one, act, &count, &bad, &blen);
    if (r == -1)
        snprintf(why, n, "%d name%s for %d layer%s", count, count == 1 ? "" : "s", m,
                 m == 1 ? "" : "s");
    else if (r == -2)
        snprintf(why, n, "unknown activation %s (known: identity, sigmoid, tanh, relu)",
                 bnn_quote(q, sizeof q, bad, blen, 40));
    return r == 0 ? 0 : -1;
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

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void note_add(st_load *L, size_t *p, const char *fmt, ...)
{
    if (*p >= L->note_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(L->note + *p, L->note_len - *p, fmt, ap);
    va_end(ap);
    *p = k < 0 ? L->note_len : *p + (size_t)k;
}

/*
 * nn.Sequential names: the weights, in increasing k, are layers 0..m-1; {k}.bias belongs to
 * the layer of {k}.weight. Fills L->weight, L->bias and each tensor's layer, and writes the
 * note ("k -> layer" for the first few layers).
 */
static int map_sequential(st_load *L)
{
    int w[BNN_MAX_LAYERS], m = 0;
    for (int i = 0; i < L->nt; i++) {
        if (L->t[i].layer != -2 || L->t[i].is_bias)
            continue;
        if (m == BNN_MAX_LAYERS)
            return lfail(L, "more than %d weights (nn.Sequential names)", BNN_MAX_LAYERS);
        int j = m++; /* insertion by index (at most BNN_MAX_LAYERS) */
        while (j > 0 && L->t[w[j - 1]].index > L->t[i].index) {
            w[j] = w[j - 1];
            j--;
        }
        w[j] = i;
    }
    for (int l = 0; l < m; l++) {
        L->weight[l] = w[l];
        L->t[w[l]].layer = l;
    }
    for (int i = 0; i < L->nt; i++) {
        st_tensor *t = &L->t[i];
        if (t->layer != -2)
            continue;
        int l = 0;
        while (l < m && L->t[w[l]].index != t->index)
            l++;
        if (l == m)
            return lfail(L, "tensor \"%s\" has no matching \"%ld.weight\"", t->name,
                         t->index);
        t->layer = l;
        L->bias[l] = i;
    }
    if (L->note && L->note_len) { /* the first four layers and the last */
        size_t p = 0;
        note_add(L, &p, "%s: tensor names of an nn.Sequential, read as "
                    "layers in index order:", L->path);
        for (int l = 0; l < m; l++) {
            if (m > 5 && l >= 4 && l < m - 1) {
                if (l == 4)
                    note_add(L, &p, ", ...");
                continue;
            }
            note_add(L, &p, "%s %ld -> layers.%d", l ? "," : "",
                        L->t[w[l]].index, l);
        }
    }
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
            return lfail(L, "no \"activations\" in __metadata__, and the fallback %s does "
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
    if (t->dtype == DT_F32 && BNN_HOST_LE) {
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
                    u = (uint32_t)bnn_get_le(p, 4);
                    memcpy(&f, &u, 4);
                    break;
                case DT_F64: {
                    uint64_t b = bnn_get_le(p, 8);
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
                    f = half_to_float((uint16_t)bnn_get_le(p, 2));
                    break;
                case DT_BF16:
                    u = (uint32_t)bnn_get_le(p, 2) << 16;
                    memcpy(&f, &u, 4);
                    break;
                }
                dst[i0 + i] = f;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return report_value(L, t, i, bnn_st_nonfinite(dst[i]));
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
    L->hlen = bnn_get_le(len8, 8);
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
    if (bnn_st_prescan(L->path, L->hdr, n, &nkeys, L->e) != 0)
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

/* input.mean or input.std: [width[0]] values, finite; a std of 0 or below is refused (a
 * constant input is stored with std 1). */
static int read_scaler(st_load *L, const st_tensor *t, bnn_model *m)
{
    const uint64_t nin = (uint64_t)m->arch.width[0];
    char shape[64];
    format_shape(t, shape, sizeof shape);
    if (t->ndim != 1 || t->count != nin)
        return lfail(L, "tensor \"%s\": shape %s, but the model has %llu inputs", t->name,
                     shape, (unsigned long long)nin);
    float *v = malloc((size_t)nin * sizeof *v);
    if (!v)
        return lfail(L, "out of memory");
    if (read_tensor(L, t, v) != 0) {
        free(v);
        return -1;
    }
    const int is_std = t->layer == -4;
    for (uint64_t i = 0; i < nin; i++)
        if (!isfinite(v[i]) || (is_std && !(v[i] > 0.0f))) {
            const double bad = v[i];
            free(v);
            return lfail(L, "tensor \"%s\": value %llu is %g (%s)", t->name,
                         (unsigned long long)i, bad,
                         is_std ? "a deviation must be finite and above 0" : "not finite");
        }
    float **dst = is_std ? &m->in_std : &m->in_mean;
    free(*dst);
    *dst = v;
    return 0;
}

int bnn_model_load(bnn_model *m, const char *path, const char *acts_fallback, bnn_error *e)
{
    return bnn_model_load_note(m, path, acts_fallback, NULL, 0, e);
}

int bnn_model_load_note(bnn_model *m, const char *path, const char *acts_fallback, char *note,
                        size_t note_len, bnn_error *e)
{
    memset(m, 0, sizeof *m);
    if (note && note_len)
        note[0] = '\0';
    st_load *L = calloc(1, sizeof *L);
    if (!L)
        return bnn_fail(e, "%s: out of memory", path);
    L->path = path;
    L->e = e;
    L->note = note;
    L->note_len = note ? note_len : 0;
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
    if (L->naming == 2 && map_sequential(L) != 0)
        goto done;
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
        if (t->layer == -3 || t->layer == -4) { /* the input standardisation */
            if (read_scaler(L, t, m) != 0)
                goto done;
            continue;
        }
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
    if (!m->in_mean != !m->in_std) {
        lfail(L, "tensor \"input.%s\" is missing (input.mean and input.std come together)",
              m->in_mean ? "std" : "mean");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        bnn_model_free(m);
        if (note && note_len)
            note[0] = '\0';
    }
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
