/* memory.c - 64-byte aligned, overflow-checked allocation, and the machine's memory size. */
#include <stdint.h>
#include <stdlib.h>
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
