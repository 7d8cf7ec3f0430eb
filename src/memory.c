/* memory.c - 64-byte aligned, overflow-checked allocation, and the machine's memory size. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "batchnn.h"

void *bnn_alloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    size_t bytes = count * size;
    /* round up to the alignment, as aligned_alloc requires, and never ask for 0 bytes */
    if (bytes > SIZE_MAX - 63)
        return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    /* Large blocks (data sets, partials) are 2 MiB aligned and asked to be backed by huge
     * pages: a streaming epoch over gigabytes otherwise spends its time on TLB misses. */
    const size_t huge = (size_t)2 << 20;
    if (bytes >= 4 * huge) {
        bytes = (bytes + huge - 1) & ~(huge - 1);
        void *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
        if (p)
            (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
        return p;
    }
    return aligned_alloc(64, bytes);
}

void bnn_free(void *p)
{
    free(p);
}

size_t bnn_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    if ((unsigned long)pages > SIZE_MAX / (unsigned long)page)
        return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}
