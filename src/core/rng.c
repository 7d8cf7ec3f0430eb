/*
 * rng.c - the project's random numbers: xoshiro256** (seeded through splitmix64) for
 * sequential draws such as weight initialisation, and a counter-based hash for synthetic data,
 * whose sample i is a pure function of (seed, i): the same whatever the chunking or threads
 * (its definition is in core/bnn_core.h; the kernel tables' u01_run computes runs of it).
 */
#include "core/bnn_core.h"

static uint64_t splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bnn_rng_seed(bnn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        r->s[i] = splitmix64_mix(x);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t bnn_rng_next(bnn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bnn_rng_uniform(bnn_rng *r)
{
    return (double)(bnn_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t bnn_hash64(uint64_t seed, uint64_t key)
{
    return splitmix64_mix(splitmix64_mix(key + 0x9e3779b97f4a7c15ULL * (seed + 1)) ^ seed);
}

bnn_u01_key bnn_u01_key_of(uint64_t seed, uint64_t key_hi)
{
    const uint64_t k = bnn_hash64(seed, key_hi);
    return (bnn_u01_key){(uint32_t)k, (uint32_t)(k >> 32)};
}

float bnn_hash_u01(uint64_t seed, uint64_t key)
{
    const bnn_u01_key k = bnn_u01_key_of(seed, key >> 32);
    return bnn_u01_at((uint32_t)key, k.a, k.b);
}
