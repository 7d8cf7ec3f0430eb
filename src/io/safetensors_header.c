/*
 * safetensors_header.c - the safetensors reader's checks of the parsed header, entry by entry
 * (called by safetensors_read.c, whose contract lists the rules): tensor names (layers.{l} or
 * an nn.Sequential's {k}), dtype, shape and data_offsets of each tensor, the strings of
 * __metadata__ and its "activations". Each failure is "PATH: ..." naming the field.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnn_io.h"
#include "safetensors_format.h"
#include "safetensors_load.h"

const char *bnn_st_json_kind(json_object *v)
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

int bnn_st_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Keys in the parsed tree (json-c keeps one of each duplicate). Depth is bounded by the
 * pre-pass (ST_MAX_DEPTH). */
uint64_t bnn_st_tree_keys(json_object *v)
{
    uint64_t k = 0;
    if (json_object_is_type(v, json_type_object)) {
        k += (uint64_t)json_object_object_length(v);
        json_object_object_foreach(v, key, val)
        {
            (void)key;
            k += bnn_st_tree_keys(val);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            k += bnn_st_tree_keys(json_object_array_get_idx(v, i));
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

void bnn_st_format_shape(const st_tensor *t, char *out, size_t n)
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
        snprintf(why, n, "a JSON %s", bnn_st_json_kind(v));
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
                     bnn_st_json_kind(v));
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
                     bnn_st_json_kind(v));
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
        bnn_st_format_shape(t, sh, sizeof sh);
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
                     bnn_st_json_kind(v));
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
        bnn_st_format_shape(t, sh, sizeof sh);
        return lfail(L, "tensor \"%s\": \"data_offsets\" [%llu, %llu] span %llu bytes, but "
                        "shape %s needs %llu (size mismatch)", tn, (unsigned long long)o[0],
                     (unsigned long long)o[1], (unsigned long long)(o[1] - o[0]), sh,
                     (unsigned long long)(t->count * t->itemsize));
    }
    t->begin = o[0];
    t->end = o[1];
    return 0;
}

int bnn_st_parse_tensor(st_load *L, const char *name, json_object *v)
{
    char c1[80];
    int seq = 0, is_bias = 0, layer = -1, optimizer = 0;
    long index = 0;
    int r = parse_name(name, &seq, &index, &is_bias);
    int scaler = 0; /* --standardize's input.mean / input.std: -3 / -4 */
    if (r == -1 && strncmp(name, "optimizer.", 10) == 0) {
        optimizer = 1; /* a checkpoint's optimizer state (src/train/checkpoint.c): skipped here */
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
                     bnn_st_json_kind(v));
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

int bnn_st_parse_metadata(st_load *L, json_object *v)
{
    char c1[80], c2[80];
    if (!json_object_is_type(v, json_type_object))
        return lfail(L, "\"__metadata__\" is a JSON %s, not an object", bnn_st_json_kind(v));
    json_object_object_foreach(v, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return lfail(L, "__metadata__ %s is a JSON %s; metadata values must be "
                            "strings", clean(c1, sizeof c1, key), bnn_st_json_kind(val));
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
int bnn_st_parse_acts(const char *s, int m, int allow_one, bnn_act *act, char *why, size_t n)
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
