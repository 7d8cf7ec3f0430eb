/*
 * safetensors_write.c - models on disk as safetensors: bnn_model_save, bnn_model_save_meta.
 * The format and the reader's checks are described in safetensors_read.c.
 *
 * batchnn writes layers.{l}.weight [out, in] and layers.{l}.bias [out] (F32, little-endian,
 * in theta's order, contiguous), then input.mean and input.std [in] when the model has an
 * input standardisation (--standardize), __metadata__ {"format": "batchnn/1", "activations":
 * "sigmoid,identity"} plus the caller's keys, and pads the header with spaces so the data
 * starts at an 8-byte aligned offset: what safetensors.torch.load_file expects.
 *
 * Saving refuses a model with a non-finite parameter and goes through bnn_outfile (temporary
 * name, fsync, rename), so an existing file is never left half-written.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnn_io.h"
#include "safetensors_format.h"

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
                         i / in, i % in, bnn_st_nonfinite(w[i]));
                return 1;
            }
        if (a->bias[l]) {
            const float *b = m->theta + bnn_arch_bias_offset(a, l);
            for (size_t i = 0; i < out; i++)
                if (!isfinite(b[i])) {
                    snprintf(what, n, "tensor \"layers.%d.bias\" element [%zu] is %s", l, i,
                             bnn_st_nonfinite(b[i]));
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
static char *build_header(const bnn_arch *a, int scaler, const char *const *keys,
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
    for (int i = 0; scaler && i < 2; i++) { /* --standardize: after the layers */
        const uint64_t bytes = (uint64_t)a->width[0] * 4;
        sb_printf(&b, ",\"input.%s\":{\"dtype\":\"F32\",\"shape\":[%llu],"
                      "\"data_offsets\":[%llu,%llu]}", i ? "std" : "mean",
                  (unsigned long long)a->width[0], (unsigned long long)off,
                  (unsigned long long)(off + bytes));
        off += bytes;
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
    if (BNN_HOST_LE)
        return fwrite(v, sizeof(float), n, f) == n ? 0 : -1;
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            bnn_put_le(buf + 4 * i, u, 4);
        }
        if (fwrite(buf, 4, k, f) != k)
            return -1;
        v += k;
        n -= k;
    }
    return 0;
}

int bnn_st_write_file(const char *path, const char *hdr, size_t hlen, const float *const *parts,
                      const size_t *lens, int nparts, bnn_error *e)
{
    bnn_outfile o;
    if (bnn_outfile_open(&o, path, e) != 0)
        return -1;
    FILE *f = o.fp;
    size_t padded = (hlen + 7) / 8 * 8;
    unsigned char len8[8];
    bnn_put_le(len8, (uint64_t)padded, 8);
    errno = 0;
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen;
    for (size_t i = hlen; i < padded && !bad; i++)
        bad = fputc(' ', f) == EOF;
    for (int i = 0; i < nparts && !bad; i++)
        bad = write_floats(f, parts[i], lens[i]) != 0;
    if (bad) {
        int err = errno;
        bnn_outfile_abort(&o);
        return bnn_fail(e, "%s: cannot write: %s", path, strerror(err ? err : EIO));
    }
    return bnn_outfile_commit(&o, e);
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
    const int scaler = m->in_mean && m->in_std;
    char *hdr = build_header(&m->arch, scaler, keys, values, count, &hlen);
    if (!hdr)
        return bnn_fail(e, "%s: not saved: out of memory", path);
    const float *parts[3] = {m->theta, m->in_mean, m->in_std};
    const size_t lens[3] = {m->nparams, (size_t)m->arch.width[0], (size_t)m->arch.width[0]};
    int rc = bnn_st_write_file(path, hdr, hlen, parts, lens, scaler ? 3 : 1, e);
    free(hdr);
    return rc;
}
