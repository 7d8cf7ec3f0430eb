/*
 * shuffle.c - the permutation of the samples for one epoch (--shuffle), and gathering a
 * permuted view's chunks (bnn_data with perm, used by data.c).
 *
 * The permutation, precisely (so that another program can reproduce it):
 *   r = xoshiro256** seeded with bnn_hash64(seed, epoch) through splitmix64 (src/rng.c;
 *       epoch 0-based), perm = [0, 1, ..., n-1];
 *   for i = n-1 down to 1: j = (r.next() * (i + 1)) >> 64 (the high 64 bits of the 128-bit
 *       product), swap perm[i] and perm[j];
 *   sample k of the epoch is perm[k] of the data.
 * It depends on the seed, the epoch and n only: the same for any --threads.
 */
#include "batchnn.h"

int bnn_shuffle_perm(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch, bnn_error *e)
{
    if (n > (size_t)UINT32_MAX)
        return bnn_fail(e, "--shuffle: %zu samples are more than the 2^32 - 1 a permutation "
                           "holds", n);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    bnn_rng r;
    bnn_rng_seed(&r, bnn_hash64(seed, epoch));
    for (size_t i = n; i-- > 1;) {
        const size_t j = (size_t)(((unsigned __int128)bnn_rng_next(&r) * (i + 1)) >> 64);
        const uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return 0;
}
