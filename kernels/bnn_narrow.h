/*
 * bnn_narrow.h - the narrow fused path's description of a net (see narrow_impl.h).
 * Used when every layer is at most BNN_NARROW_MAX_WIDTH wide: vectorised across samples,
 * all layers fused per block of samples, no GEMM call on tiny matrices.
 */
#ifndef BNN_NARROW_H
#define BNN_NARROW_H

#include <stddef.h>

#include "core/bnn_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BNN_NARROW_MAX_WIDTH 32
#define BNN_NARROW_MAX_LAYERS 32
/* samples of one grad call at most (its transposed inputs live in the work buffer) */
#define BNN_NARROW_CHUNK_MAX 4096

typedef struct bnn_narrow_net {
    int nlayers, nin, nout;
    int sum_widths;                          /* width[1] + ... + width[m] */
    int max_width;
    int width[BNN_NARROW_MAX_LAYERS + 1];
    int aoff[BNN_NARROW_MAX_LAYERS + 1];     /* A_l at vector aoff[l], l >= 1 */
    long woff[BNN_NARROW_MAX_LAYERS];        /* W_l in theta */
    long boff[BNN_NARROW_MAX_LAYERS];        /* b_l in theta, -1 without bias */
    bnn_act act[BNN_NARROW_MAX_LAYERS];
} bnn_narrow_net;

/* Fills net from a; returns 0, or -1 when a is too wide or deep for the narrow path. */
int bnn_narrow_describe(const bnn_arch *a, bnn_narrow_net *net);

#ifdef __cplusplus
}
#endif
#endif
