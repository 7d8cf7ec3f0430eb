/* safetensors_load.h - what the safetensors reader's two files share (private to
 * safetensors_read.c, which loads, and safetensors_header.c, which checks the parsed header's
 * entries): the tensors found and the state of one load. */
#ifndef BNN_SAFETENSORS_LOAD_H
#define BNN_SAFETENSORS_LOAD_H

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "io/bnn_io.h"
#include "safetensors_format.h"

#define ST_SHAPE_KEEP 8 /* dimensions kept for messages */

/* s for a message: quoted, escaped, cut at about 40 bytes. */
static inline const char *clean(char *out, size_t n, const char *s)
{
    return bnn_quote(out, n, s, strlen(s), 40);
}

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

/* The header's entries (safetensors_header.c). */
const char *bnn_st_json_kind(json_object *v);
int bnn_st_is_ws(char c);
uint64_t bnn_st_tree_keys(json_object *v);
void bnn_st_format_shape(const st_tensor *t, char *out, size_t n);
int bnn_st_parse_tensor(st_load *L, const char *name, json_object *v);
int bnn_st_parse_metadata(st_load *L, json_object *v);
int bnn_st_parse_acts(const char *s, int m, int allow_one, bnn_act *act, char *why, size_t n);

#endif
