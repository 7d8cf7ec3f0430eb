/*
 * shuffle.c - the permutation of the samples for one epoch (--shuffle), and gathering a
 * permuted view's chunks (bnn_data with perm, used by data.c).
 *
 * The permutation, precisely (so that another program can reproduce it):
 *   r = xoshiro256** seeded with bnn_hash64(seed, epoch) through splitmix64 (src/core/rng.c;
 *       epoch 0-based), perm = [0, 1, ..., n-1];
 *   for i = n-1 down to 1: j = (r.next() * (i + 1)) >> 64 (the high 64 bits of the 128-bit
 *       product), swap perm[i] and perm[j];
 *   sample k of the epoch is perm[k] of the data.
 * It depends on the seed, the epoch and n only: the same for any --threads.
 * A subset view (the training part of --val-split, src/data/split.c) is shuffled the same
 * way over its n entries: sample k of the epoch is subset[perm[k]].
 *
 * Sets of more than 2^26 samples (whose permutation would take over 256 MB) are shuffled by
 * blocks of B = 2^16 consecutive samples, which also keeps the reads of a memory-mapped file
 * or a streamed set local:
 *   the order of the nb = floor(n / B) whole blocks is the permutation of nb drawn as above
 *   (Fisher-Yates, the same generator and seed), and the n mod B samples after them form a
 *   last, shorter block that comes last; sample k of the epoch comes from block
 *   q = order[k / B] (or the last block, q = nb, when k / B = nb), of length len (B, or
 *   n mod B), at position F(k mod B) within it, where F is a bijection of [0, len) keyed by
 *   key = bnn_hash64(bnn_hash64(seed, epoch), q):
 *     w = the smallest even number >= 2 with 2^w >= len, h = w / 2, mask = 2^h - 1,
 *     k_r = bnn_hash64(key, r) for r = 0..3, and mix(z) the splitmix64 finalizer
 *     (z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27; z *= 0x94d049bb133111eb;
 *     z ^= z >> 31, on 64-bit unsigned integers);
 *     G(x): L = x >> h, R = x & mask; for r = 0..3: (L, R) = (R, L ^ (mix(k_r ^ R) & mask));
 *           return (L << h) | R                             (a Feistel network on w bits)
 *     F(x) = G(x), applied again while the result is >= len (cycle walking).
 */
#include "data/bnn_data.h"

int bnn_shuffle_perm(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch, bnn_error *e)
{
    if (n > (size_t)UINT32_MAX)
        return bnn_fail(e, "shuffle: %zu samples are more than the 2^32 - 1 a permutation "
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

size_t bnn_shuffle_entries(size_t n)
{
    return n <= BNN_SHUFFLE_FULL_MAX ? n : n / BNN_SHUFFLE_BLOCK;
}

int bnn_shuffle_view(bnn_data *view, uint32_t *buf, uint64_t seed, uint64_t epoch,
                     bnn_error *e)
{
    const size_t n = view->n;
    const int blocked = n > BNN_SHUFFLE_FULL_MAX;
    if (bnn_shuffle_perm(buf, bnn_shuffle_entries(n), seed, epoch, e) != 0)
        return -1;
    view->perm = buf;
    view->perm_blocked = blocked;
    view->perm_key = bnn_hash64(seed, epoch);
    return 0;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One block's bijection: its round keys and width. */
typedef struct block_map {
    size_t q, len;
    int h;
    uint64_t k[4];
} block_map;

static void block_setup(const bnn_data *v, size_t p, block_map *b)
{
    const size_t B = BNN_SHUFFLE_BLOCK, nb = v->n / B;
    b->q = p < nb ? v->perm[p] : nb; /* the short last block comes last */
    b->len = p < nb ? B : v->n - nb * B;
    int w = 2;
    while (((size_t)1 << w) < b->len)
        w += 2;
    b->h = w / 2;
    const uint64_t key = bnn_hash64(v->perm_key, b->q);
    for (uint64_t r = 0; r < 4; r++)
        b->k[r] = bnn_hash64(key, r);
}

static size_t block_row(const block_map *b, size_t off)
{
    const uint64_t mask = ((uint64_t)1 << b->h) - 1;
    uint64_t x = off;
    do {
        uint64_t L = x >> b->h, R = x & mask;
        for (int r = 0; r < 4; r++) {
            const uint64_t t = L ^ (mix(b->k[r] ^ R) & mask);
            L = R;
            R = t;
        }
        x = (L << b->h) | R;
    } while (x >= b->len);
    return b->q * BNN_SHUFFLE_BLOCK + (size_t)x;
}

static size_t perm_row(const bnn_data *view, size_t i)
{
    if (!view->perm)
        return i;
    if (!view->perm_blocked)
        return view->perm[i];
    block_map b;
    block_setup(view, i / BNN_SHUFFLE_BLOCK, &b);
    return block_row(&b, i % BNN_SHUFFLE_BLOCK);
}

/* A subset view (--val-split) maps the permuted position through its index list last. */
size_t bnn_shuffle_row(const bnn_data *view, size_t i)
{
    const size_t r = perm_row(view, i);
    return view->subset ? view->subset[r] : r;
}

void bnn_shuffle_rows(const bnn_data *view, size_t start, size_t count, size_t *rows)
{
    if (!view->perm_blocked) {
        for (size_t i = 0; i < count; i++) {
            const size_t r = view->perm ? view->perm[start + i] : start + i;
            rows[i] = view->subset ? view->subset[r] : r;
        }
        return;
    }
    block_map b = {0};
    size_t p = (size_t)-1;
    for (size_t i = 0; i < count; i++) {
        const size_t k = start + i;
        if (k / BNN_SHUFFLE_BLOCK != p) {
            p = k / BNN_SHUFFLE_BLOCK;
            block_setup(view, p, &b);
        }
        const size_t r = block_row(&b, k % BNN_SHUFFLE_BLOCK);
        rows[i] = view->subset ? view->subset[r] : r;
    }
}
