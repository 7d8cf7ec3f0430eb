/*
 * mapped.c - a registry of the live memory mappings of input files, so that a SIGBUS handler
 * can say which file was truncated or changed under the process (bnn_mapped_file_at).
 *
 * A fixed table of BNN_MAPPED_SLOTS entries in static storage; nothing is allocated. Each
 * entry is published under a sequence counter (a seqlock): a writer claims a free entry by
 * moving its counter from even to odd with a compare-and-swap, fills it, and makes the
 * counter even again (release). A reader (the signal handler) reads the counter (acquire),
 * the fields, then the counter again, and trusts the fields only when the counter was even
 * and did not change: a half-written entry is never used. Reads take no lock and call
 * nothing, so bnn_mapped_file_at is async-signal-safe (given lock-free atomics, checked at
 * compile time). Registering and unregistering are thread-safe.
 *
 * The name returned points into the table; it stays valid until that mapping is
 * unregistered. A full table (more than BNN_MAPPED_SLOTS live mappings) only means that the
 * extra mappings are not named.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "io/bnn_io.h"

#if ATOMIC_POINTER_LOCK_FREE != 2 || ATOMIC_LONG_LOCK_FREE != 2 || ATOMIC_INT_LOCK_FREE != 2
#error "bnn_mapped_file_at needs lock-free atomics to be async-signal-safe"
#endif

#define BNN_MAPPED_SLOTS 64
#define BNN_MAPPED_NAME 512

typedef struct mapped_slot {
    atomic_uint seq;           /* even: stable; odd: being written */
    atomic_uintptr_t addr;     /* 0: free */
    atomic_size_t len;
    char name[BNN_MAPPED_NAME]; /* written only while seq is odd */
} mapped_slot;

static mapped_slot slots[BNN_MAPPED_SLOTS];

/* Claims slot s for writing when its counter is even and it holds the mapping at want (0:
 * a free slot). Returns the even counter value claimed, or -1. */
static long claim(mapped_slot *s, uintptr_t want)
{
    unsigned q = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (q & 1u)
        return -1;
    if (atomic_load_explicit(&s->addr, memory_order_relaxed) != want)
        return -1;
    if (!atomic_compare_exchange_strong_explicit(&s->seq, &q, q + 1, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return -1;
    /* the entry may have changed between the load and the claim: check again */
    if (atomic_load_explicit(&s->addr, memory_order_relaxed) != want) {
        atomic_store_explicit(&s->seq, q + 2, memory_order_release);
        return -1;
    }
    return (long)q;
}

void bnn_mapped_register(const void *addr, size_t len, const char *name)
{
    if (!addr || !len)
        return;
    for (int pass = 0; pass < 2; pass++) /* a second pass in case of contention */
        for (int i = 0; i < BNN_MAPPED_SLOTS; i++) {
            mapped_slot *s = &slots[i];
            long q = claim(s, 0);
            if (q < 0)
                continue;
            size_t n = name ? strlen(name) : 0;
            if (n >= BNN_MAPPED_NAME)
                n = BNN_MAPPED_NAME - 1;
            if (n)
                memcpy(s->name, name, n);
            s->name[n] = '\0';
            atomic_store_explicit(&s->len, len, memory_order_relaxed);
            atomic_store_explicit(&s->addr, (uintptr_t)addr, memory_order_relaxed);
            atomic_store_explicit(&s->seq, (unsigned)q + 2, memory_order_release);
            return;
        }
}

void bnn_mapped_unregister(const void *addr)
{
    if (!addr)
        return;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < BNN_MAPPED_SLOTS; i++) {
            mapped_slot *s = &slots[i];
            long q = claim(s, (uintptr_t)addr);
            if (q < 0)
                continue;
            atomic_store_explicit(&s->addr, 0, memory_order_relaxed);
            atomic_store_explicit(&s->len, 0, memory_order_relaxed);
            s->name[0] = '\0';
            atomic_store_explicit(&s->seq, (unsigned)q + 2, memory_order_release);
            return;
        }
}

const char *bnn_mapped_file_at(const void *addr)
{
    uintptr_t p = (uintptr_t)addr;
    for (int i = 0; i < BNN_MAPPED_SLOTS; i++) {
        mapped_slot *s = &slots[i];
        for (int tries = 0; tries < 4; tries++) {
            unsigned q1 = atomic_load_explicit(&s->seq, memory_order_acquire);
            if (q1 & 1u)
                continue; /* being written: look again */
            uintptr_t a = atomic_load_explicit(&s->addr, memory_order_relaxed);
            size_t n = atomic_load_explicit(&s->len, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            unsigned q2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
            if (q1 != q2)
                continue;
            if (a && p >= a && p - a < n)
                return s->name;
            break;
        }
    }
    return NULL;
}
