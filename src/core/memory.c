/*
 * memory.c - 64-byte aligned, overflow-checked allocation, and how much memory this process
 * may use.
 *
 * The budget (bnn_memory_limit) is the smallest of the bounds the kernel enforces on us:
 *   physical memory          sysconf(_SC_PHYS_PAGES) x page size
 *   cgroup v2 memory.max     of our cgroup (the "0::/path" line of /proc/self/cgroup) and of
 *                            every ancestor, since a parent's limit covers its children;
 *                            looked for under /sys/fs/cgroup and /sys/fs/cgroup/unified
 *   cgroup v1 memory.limit_in_bytes   of the memory controller's cgroup and its ancestors,
 *                            under /sys/fs/cgroup/memory; values >= 2^60 mean no limit
 *   RLIMIT_AS, RLIMIT_DATA   soft limits (RLIM_INFINITY: none)
 * Only files that exist are read, so a container whose cgroup mount starts at its own cgroup
 * (the path in /proc/self/cgroup then names host directories that are not there) still finds
 * its limit at the top of the mount. Beside the budget, bnn_memory_limit keeps the part that
 * bounds the page cache (physical memory and the cgroups: .memory); bnn_address_space_free is
 * what RLIMIT_AS leaves beside the mappings the process has now. Limits are limits, not what
 * is left: memory the process (or, for a cgroup, its neighbours and the page cache) already
 * uses is not subtracted.
 * Nothing here calls malloc: it is asked exactly when memory may be short.
 *
 * Tests fake the files through bnn_memory_limit_at (explicit roots) or, for a whole process
 * (the engine's refusal, the command line), bnn_memory_set_roots, which replaces /proc and
 * /sys (the command passes its test hooks $BATCHNN_PROC_ROOT and $BATCHNN_SYSFS_ROOT); they
 * are for tests only. The library reads no environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/bnn_core.h"

#define HUGE_ALIGN ((size_t)2 << 20)

size_t bnn_alloc_bytes(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return SIZE_MAX;
    size_t bytes = count * size;
    /* round up to the alignment, as aligned_alloc requires, and never ask for 0 bytes */
    if (bytes > SIZE_MAX - HUGE_ALIGN)
        return SIZE_MAX;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    if (bytes >= 4 * HUGE_ALIGN)
        bytes = (bytes + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
    return bytes;
}

void *bnn_alloc(size_t count, size_t size)
{
    size_t bytes = bnn_alloc_bytes(count, size);
    if (bytes == SIZE_MAX)
        return NULL;
    /* Large blocks (data sets, partials) are 2 MiB aligned and asked to be backed by huge
     * pages: a streaming epoch over gigabytes otherwise spends its time on TLB misses. */
    if (bytes >= 4 * HUGE_ALIGN) {
        void *p = aligned_alloc(HUGE_ALIGN, bytes);
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

const char *bnn_format_bytes(size_t bytes, char *buf, size_t len)
{
    const double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0)
        snprintf(buf, len, "%.1f KiB", b / 1024.0);
    else
        snprintf(buf, len, "%zu bytes", bytes);
    return buf;
}

/* Reads up to len - 1 bytes of path into buf, NUL-terminated: the count, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < len - 1) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* A limit file: 1 with *v for a limit; 0 for "max", a value >= 2^60 (v1's "no limit" is
 * 2^63 rounded down to a page), 0 bytes, or a file that is missing or not a number. */
static int read_limit(const char *path, uint64_t *v)
{
    char buf[64];
    if (read_small(path, buf, sizeof buf) <= 0)
        return 0;
    const char *p = buf;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return 0; /* "max" and anything else */
    errno = 0;
    char *end;
    unsigned long long x = strtoull(p, &end, 10);
    if (errno || (*end != '\0' && *end != '\n' && *end != ' '))
        return 0;
    if (x == 0 || x >= (1ULL << 60))
        return 0;
    *v = (uint64_t)x;
    return 1;
}

/* The smallest `file` in base/cgpath and in each of its ancestors up to base itself:
 * 1 with *v, or 0 when none of them holds a limit. */
static int walk_limit(const char *base, const char *cgpath, const char *file, uint64_t *v)
{
    char dir[4096], path[4096 + 64];
    int n = snprintf(dir, sizeof dir, "%s%s", base, cgpath);
    if (n < 0 || (size_t)n >= sizeof dir)
        return 0;
    const size_t blen = strlen(base);
    size_t len = (size_t)n;
    while (len > blen && dir[len - 1] == '/') /* "0::/" names the top itself */
        len--;
    int found = 0;
    for (;;) {
        /* dir[0..len) is base/cgpath or one of its ancestors */
        snprintf(path, sizeof path, "%.*s/%s", (int)len, dir, file);
        uint64_t x;
        if (read_limit(path, &x) && (!found || x < *v)) {
            *v = x;
            found = 1;
        }
        if (len <= blen)
            break;
        while (len > blen && dir[len - 1] != '/')
            len--;
        while (len > blen && dir[len - 1] == '/')
            len--;
    }
    return found;
}

/* Finds, in the text of /proc/self/cgroup, the v2 line ("0::/path") or the v1 line whose
 * controller list holds "memory" ("4:memory:/path"); copies the path into out. A last line
 * without its newline is used only when the text is whole (not cut at the buffer's end). */
static int cgroup_path(const char *text, int whole, int v1, char *out, size_t len)
{
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        if (!eol && !whole)
            break;
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        const char *c1 = memchr(line, ':', ll);
        const char *c2 = c1 ? memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *ctl = c1 + 1;
            size_t cl = (size_t)(c2 - ctl);
            int match = 0;
            if (!v1)
                match = cl == 0 && c1 - line == 1 && line[0] == '0';
            else
                for (const char *t = ctl; t < c2;) { /* comma-separated controllers */
                    const char *comma = memchr(t, ',', (size_t)(c2 - t));
                    const char *te = comma ? comma : c2;
                    if (te - t == 6 && memcmp(t, "memory", 6) == 0)
                        match = 1;
                    t = te + 1;
                }
            size_t pl = ll - (size_t)(c2 + 1 - line);
            if (match && pl > 0 && c2[1] == '/' && pl < len) {
                memcpy(out, c2 + 1, pl);
                out[pl] = '\0';
                return 1;
            }
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return 0;
}

static void consider(bnn_memory_limit *l, uint64_t bytes, const char *what)
{
    size_t b = bytes > SIZE_MAX ? SIZE_MAX : (size_t)bytes;
    if (b == 0 || (l->bytes != 0 && b >= l->bytes))
        return;
    l->bytes = b;
    l->what = what;
}

void bnn_memory_limit_at(bnn_memory_limit *l, const char *proc_root, const char *sys_root)
{
    memset(l, 0, sizeof *l);
    l->what = "unknown";
    consider(l, bnn_physical_memory(), "physical memory");

    char path[4096], text[16384], cg[4096];
    snprintf(path, sizeof path, "%s/self/cgroup", proc_root);
    ssize_t got = read_small(path, text, sizeof text);
    if (got > 0) {
        const int whole = (size_t)got < sizeof text - 1;
        uint64_t v;
        if (cgroup_path(text, whole, 0, cg, sizeof cg)) {
            static const char *const bases[] = {"%s/fs/cgroup", "%s/fs/cgroup/unified"};
            for (int b = 0; b < 2; b++) {
                char base[4096];
                int n = snprintf(base, sizeof base, bases[b], sys_root);
                if (n > 0 && (size_t)n < sizeof base && walk_limit(base, cg, "memory.max", &v))
                    consider(l, v, "cgroup memory.max");
            }
        }
        if (cgroup_path(text, whole, 1, cg, sizeof cg)) {
            char base[4096];
            int n = snprintf(base, sizeof base, "%s/fs/cgroup/memory", sys_root);
            if (n > 0 && (size_t)n < sizeof base &&
                walk_limit(base, cg, "memory.limit_in_bytes", &v))
                consider(l, v, "cgroup memory.limit_in_bytes");
        }
    }

    l->memory = l->bytes;
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
        consider(l, (uint64_t)r.rlim_cur, "RLIMIT_AS");
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
        consider(l, (uint64_t)r.rlim_cur, "RLIMIT_DATA");

    if (l->bytes) {
        char size[32];
        snprintf(l->desc, sizeof l->desc, "%s %s", l->what,
                 bnn_format_bytes(l->bytes, size, sizeof size));
    } else {
        snprintf(l->desc, sizeof l->desc, "memory size unknown");
    }
}

/* The roots bnn_memory_limit_get reads ("" : the real /proc and /sys). */
static char memory_proc_root[4096], memory_sys_root[4096];

void bnn_memory_set_roots(const char *proc_root, const char *sys_root)
{
    snprintf(memory_proc_root, sizeof memory_proc_root, "%s", proc_root ? proc_root : "");
    snprintf(memory_sys_root, sizeof memory_sys_root, "%s", sys_root ? sys_root : "");
}

void bnn_memory_limit_get(bnn_memory_limit *l)
{
    bnn_memory_limit_at(l, *memory_proc_root ? memory_proc_root : "/proc",
                        *memory_sys_root ? memory_sys_root : "/sys");
}

size_t bnn_address_space_free(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    char path[4200], text[256];
    snprintf(path, sizeof path, "%s/self/statm", *memory_proc_root ? memory_proc_root : "/proc");
    unsigned long long pages;
    long page = sysconf(_SC_PAGESIZE);
    if (read_small(path, text, sizeof text) <= 0 || sscanf(text, "%llu", &pages) != 1 ||
        page <= 0)
        return 0;
    const uint64_t used = (uint64_t)pages * (uint64_t)page;
    const uint64_t lim = (uint64_t)r.rlim_cur;
    return used >= lim ? 0 : (size_t)(lim - used > SIZE_MAX ? SIZE_MAX : lim - used);
}

size_t bnn_memory_budget(void)
{
    bnn_memory_limit l;
    bnn_memory_limit_get(&l);
    return l.bytes;
}

int bnn_memory_limit_describe(char *buf, size_t len)
{
    bnn_memory_limit l;
    bnn_memory_limit_get(&l);
    if (len)
        snprintf(buf, len, "%s", l.desc);
    return l.bytes ? 0 : -1;
}
