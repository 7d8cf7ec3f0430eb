/* safetensors_format.h - what the safetensors reader, writer and strictness pass share
 * (private to src/io/safetensors_*.c). */
#ifndef BNN_SAFETENSORS_FORMAT_H
#define BNN_SAFETENSORS_FORMAT_H

#include <math.h>
#include <stdint.h>

#include "io/bnn_io.h"

#define ST_FORMAT "batchnn/1"
#define ST_MAX_HEADER 100000000ULL /* the reference implementation's limit */
#define ST_MAX_TENSORS (6 * BNN_MAX_LAYERS) /* weights, biases, 2 optimizer buffers each */

/* Checks the n bytes of a header (s[n] is a NUL) before any JSON tree is built: strict JSON
 * of the format's shape (safetensors_strict.c). 0 and the number of object keys (json-c
 * keeps one of each duplicate: the reader compares), or -1 with "PATH: ..." in e. */
int bnn_st_prescan(const char *path, const char *s, size_t n, uint64_t *nkeys, bnn_error *e);

/* Writes a safetensors file at path through bnn_outfile (temporary name, fsync, rename): the
 * 8-byte length, the JSON header hdr[0..hlen) padded with spaces to a multiple of 8, then the
 * float arrays parts[0..nparts) (lens[i] floats each) as little-endian F32. 0 or -1. Used by
 * the model writer and by checkpoints (checkpoint.c). */
int bnn_st_write_file(const char *path, const char *hdr, size_t hlen, const float *const *parts,
                      const size_t *lens, int nparts, bnn_error *e);

/* "NaN", "+inf" or "-inf", for a value that is not finite. */
static inline const char *bnn_st_nonfinite(float v)
{
    if (isnan(v))
        return "NaN";
    return v > 0 ? "+inf" : "-inf";
}

#endif
