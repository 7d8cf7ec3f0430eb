/*
 * checkpoint.c - a checkpoint is a model file (safetensors, src/io/safetensors_*.c) with the
 * optimizer's state beside the weights: for each layer l and each buffer name of the
 * optimizer ("momentum"; "exp_avg", "exp_avg_sq"), the F32 tensors
 *   optimizer.{l}.weight.{name}  [out, in]     optimizer.{l}.bias.{name}  [out]
 * after the model's own tensors in the data buffer, and the step count and settings in
 * __metadata__ (the caller's keys). bnn_model_load reads such a file as a plain model (it
 * skips the optimizer.* tensors); bnn_checkpoint_load_state reads the buffers back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "train/bnn_train_internal.h"
#include "io/safetensors_format.h"

static void add_tensor(json_object *root, const char *name, uint64_t d0, uint64_t d1, int two,
                       uint64_t *off)
{
    json_object *t = json_object_new_object();
    json_object_object_add(t, "dtype", json_object_new_string("F32"));
    json_object *shape = json_object_new_array();
    json_object_array_add(shape, json_object_new_int64((int64_t)d0));
    if (two)
        json_object_array_add(shape, json_object_new_int64((int64_t)d1));
    json_object_object_add(t, "shape", shape);
    const uint64_t bytes = d0 * (two ? d1 : 1) * 4;
    json_object *offs = json_object_new_array();
    json_object_array_add(offs, json_object_new_int64((int64_t)*off));
    json_object_array_add(offs, json_object_new_int64((int64_t)(*off + bytes)));
    json_object_object_add(t, "data_offsets", offs);
    json_object_object_add(root, name, t);
    *off += bytes;
}

int bnn_checkpoint_save(const bnn_model *m, const bnn_optim_state *st, const char *path,
                        const char *const *keys, const char *const *values, int count,
                        bnn_error *e)
{
    const bnn_arch *a = &m->arch;
    const int nbuf = st ? bnn_optim_nbuf(st->opts.kind) : 0;
    if (nbuf == 0) /* nothing beside the weights: a plain model file */
        return bnn_model_save_meta(m, path, keys, values, count, e);
    if (!BNN_HOST_LE)
        return bnn_fail(e, "%s: not saved: checkpoints are written on little-endian hosts", path);
    if (!bnn_model_finite(m))
        return bnn_fail(e, "%s: not saved: a parameter is not finite", path);
    for (int i = 0; i < nbuf; i++)
        for (size_t p = 0; p < st->nparams; p++)
            if (!(st->buf[i][p] - st->buf[i][p] == 0.0f))
                return bnn_fail(e, "%s: not saved: optimizer %s value %zu is not finite", path,
                                bnn_optim_buf_name(st->opts.kind, i), p);
    json_object *root = json_object_new_object();
    json_object *meta = json_object_new_object();
    char acts[4096];
    bnn_arch_format(a, NULL, 0, acts, sizeof acts);
    json_object_object_add(meta, "format", json_object_new_string("batchnn/1"));
    json_object_object_add(meta, "activations", json_object_new_string(acts));
    for (int i = 0; i < count; i++)
        json_object_object_add(meta, keys[i], json_object_new_string(values[i]));
    json_object_object_add(root, "__metadata__", meta);
    uint64_t off = 0;
    char name[160];
    for (int l = 0; l < a->nlayers; l++) { /* the model's tensors, in theta's order */
        uint64_t in = (uint64_t)a->width[l], out = (uint64_t)a->width[l + 1];
        snprintf(name, sizeof name, "layers.%d.weight", l);
        add_tensor(root, name, out, in, 1, &off);
        if (a->bias[l]) {
            snprintf(name, sizeof name, "layers.%d.bias", l);
            add_tensor(root, name, out, 0, 0, &off);
        }
    }
    const int scaler = m->in_mean && m->in_std;
    if (scaler) { /* --standardize: after the model's tensors */
        add_tensor(root, "input.mean", (uint64_t)a->width[0], 0, 0, &off);
        add_tensor(root, "input.std", (uint64_t)a->width[0], 0, 0, &off);
    }
    for (int i = 0; i < nbuf; i++) /* then each buffer, in the same order */
        for (int l = 0; l < a->nlayers; l++) {
            const char *bn = bnn_optim_buf_name(st->opts.kind, i);
            uint64_t in = (uint64_t)a->width[l], out = (uint64_t)a->width[l + 1];
            snprintf(name, sizeof name, "optimizer.%d.weight.%s", l, bn);
            add_tensor(root, name, out, in, 1, &off);
            if (a->bias[l]) {
                snprintf(name, sizeof name, "optimizer.%d.bias.%s", l, bn);
                add_tensor(root, name, out, 0, 0, &off);
            }
        }
    const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    const float *parts[5]; /* theta, the scaler's two, st->buf[0..nbuf), nbuf <= 2 */
    size_t lens[5];
    int np = 0;
    parts[np] = m->theta;
    lens[np++] = m->nparams;
    for (int i = 0; scaler && i < 2; i++) {
        parts[np] = i ? m->in_std : m->in_mean;
        lens[np++] = (size_t)a->width[0];
    }
    for (int i = 0; i < nbuf; i++) {
        parts[np] = st->buf[i];
        lens[np++] = st->nparams;
    }
    int rc = bnn_st_write_file(path, js, strlen(js), parts, lens, np, e);
    json_object_put(root);
    return rc;
}

/* Reads tensor `name` (F32, the given shape) into dst. */
static int read_tensor(FILE *f, const char *path, json_object *root, uint64_t base,
                       const char *name, uint64_t d0, uint64_t d1, int two, float *dst,
                       bnn_error *e)
{
    json_object *t, *v;
    if (!json_object_object_get_ex(root, name, &t) || !json_object_is_type(t, json_type_object))
        return bnn_fail(e, "%s: the checkpoint lacks the optimizer tensor \"%s\"", path, name);
    if (!json_object_object_get_ex(t, "dtype", &v) ||
        strcmp(json_object_get_string(v), "F32") != 0)
        return bnn_fail(e, "%s: tensor \"%s\" is not F32", path, name);
    json_object *shape, *offs;
    if (!json_object_object_get_ex(t, "shape", &shape) ||
        !json_object_is_type(shape, json_type_array) ||
        json_object_array_length(shape) != (size_t)(two ? 2 : 1) ||
        (uint64_t)json_object_get_int64(json_object_array_get_idx(shape, 0)) != d0 ||
        (two && (uint64_t)json_object_get_int64(json_object_array_get_idx(shape, 1)) != d1))
        return bnn_fail(e, "%s: tensor \"%s\" does not have the model's shape", path, name);
    const uint64_t bytes = d0 * (two ? d1 : 1) * 4;
    if (!json_object_object_get_ex(t, "data_offsets", &offs) ||
        !json_object_is_type(offs, json_type_array) || json_object_array_length(offs) != 2)
        return bnn_fail(e, "%s: tensor \"%s\" has no data_offsets", path, name);
    int64_t b = json_object_get_int64(json_object_array_get_idx(offs, 0));
    int64_t en = json_object_get_int64(json_object_array_get_idx(offs, 1));
    if (b < 0 || en < b || (uint64_t)(en - b) != bytes)
        return bnn_fail(e, "%s: tensor \"%s\" has invalid data_offsets", path, name);
    if (fseeko(f, (off_t)(base + (uint64_t)b), SEEK_SET) != 0 ||
        fread(dst, 4, bytes / 4, f) != bytes / 4)
        return bnn_fail(e, "%s: tensor \"%s\" is truncated", path, name);
    for (uint64_t i = 0; i < bytes / 4; i++)
        if (!(dst[i] - dst[i] == 0.0f))
            return bnn_fail(e, "%s: tensor \"%s\" value %llu is not finite", path, name,
                            (unsigned long long)i);
    return 0;
}

int bnn_checkpoint_load_state(const char *path, const bnn_arch *a, bnn_optim_state *st,
                              bnn_error *e)
{
    const int nbuf = bnn_optim_nbuf(st->opts.kind);
    if (nbuf == 0)
        return 0;
    if (!BNN_HOST_LE)
        return bnn_fail(e, "%s: checkpoints are read on little-endian hosts", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(errno));
    unsigned char len8[8];
    uint64_t hlen = 0;
    char *hdr = NULL;
    json_object *root = NULL;
    int rc = -1;
    if (fread(len8, 1, 8, f) != 8) {
        bnn_fail(e, "%s: too short for a safetensors file", path);
        goto done;
    }
    hlen = bnn_get_le(len8, 8);
    if (hlen > ((uint64_t)100 << 20)) {
        bnn_fail(e, "%s: header of %llu bytes is too large", path, (unsigned long long)hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        bnn_fail(e, "%s: cannot read the header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    root = json_tokener_parse(hdr);
    if (!root || !json_object_is_type(root, json_type_object)) {
        bnn_fail(e, "%s: the header is not a JSON object", path);
        goto done;
    }
    char name[160];
    for (int i = 0; i < nbuf; i++)
        for (int l = 0; l < a->nlayers; l++) {
            const char *bn = bnn_optim_buf_name(st->opts.kind, i);
            uint64_t in = (uint64_t)a->width[l], out = (uint64_t)a->width[l + 1];
            snprintf(name, sizeof name, "optimizer.%d.weight.%s", l, bn);
            if (read_tensor(f, path, root, 8 + hlen, name, out, in, 1,
                            st->buf[i] + bnn_arch_weight_offset(a, l), e) != 0)
                goto done;
            if (a->bias[l]) {
                snprintf(name, sizeof name, "optimizer.%d.bias.%s", l, bn);
                if (read_tensor(f, path, root, 8 + hlen, name, out, 0, 0,
                                st->buf[i] + bnn_arch_bias_offset(a, l), e) != 0)
                    goto done;
            }
        }
    rc = 0;
done:
    json_object_put(root);
    free(hdr);
    fclose(f);
    return rc;
}
