/*
 * safetensors_read.c - models from safetensors files: bnn_model_load, bnn_model_load_note,
 * bnn_model_read_meta (the writer is safetensors_write.c, the strictness pass over the header
 * safetensors_strict.c, the checks of each parsed header entry safetensors_header.c).
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
#include "safetensors_load.h"



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
        bnn_st_format_shape(w, sh, sizeof sh);
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
            bnn_st_format_shape(b, sh, sizeof sh);
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
        if (bnn_st_parse_acts(L->acts, m, 0, a->act, why, sizeof why) != 0)
            return lfail(L, "__metadata__ \"activations\": %s", why);
    } else if (acts_fallback) {
        if (bnn_st_parse_acts(acts_fallback, m, 1, a->act, why, sizeof why) != 0)
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
        if (!bnn_st_is_ws(L->hdr[i]))
            return lfail(L, "header has trailing bytes after the JSON (at byte %zu)", i);
    if (!json_object_is_type(L->root, json_type_object))
        return lfail(L, "header is a JSON %s, not an object", bnn_st_json_kind(L->root));
    if (nkeys != bnn_st_tree_keys(L->root))
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
    bnn_st_format_shape(t, shape, sizeof shape);
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
            if (bnn_st_parse_tensor(L, key, val) != 0) {
                bad = 1;
                break;
            }
        }
        if (bad || (meta && bnn_st_parse_metadata(L, meta) != 0))
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
