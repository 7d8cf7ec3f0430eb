/* bnn_core.h - the core layer (src/core/): errors (bnn_fail), architectures and models,
 * random numbers, enum names, memory and the clock. Below every other layer: it includes
 * only the public header (include/batchnn.h) and the C library, and the kernels (kernels/)
 * include it and nothing else of src/.
 *
 * The layers of src/, each with one header that includes only the headers of the layers
 * below it (tests/layering_test.sh checks it):
 *   core/bnn_core.h < kernels/bnn_kernels.h < io/bnn_io.h < data/bnn_data.h
 *     < dist/bnn_dist.h < engine/bnn_engine.h < train/bnn_train_internal.h < api/bnn_api.h
 *     < cli/ (the command)
 * Conventions as in batchnn.h: 0 on success, -1 with a one-line message in a bnn_error.
 * Not installed; the shared library does not export these symbols (hidden visibility).
 */
#ifndef BNN_CORE_H
#define BNN_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "batchnn.h"

#ifdef __cplusplus
extern "C" { /* the benchmark harness is C++ */
#endif

/* ------------------------------------------------------------------------------------------ */
/* Errors, architectures and models (src/core/)                                                */

/* Formats a message into e (when e is not NULL) and returns -1, so `return bnn_fail(...)`. */
int bnn_fail(bnn_error *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses "identity" (alias "linear", "none"), "sigmoid", "tanh", "relu": 0, or -1. */
int bnn_act_parse(const char *s, bnn_act *out);
/* Validates counts, widths and that the parameter count cannot overflow. */
int bnn_arch_check(const bnn_arch *a, bnn_error *e);
size_t bnn_arch_weight_offset(const bnn_arch *a, int l);
/* Offset of b_l in theta, or (size_t)-1 when layer l has no bias. */
size_t bnn_arch_bias_offset(const bnn_arch *a, int l);
int64_t bnn_arch_max_width(const bnn_arch *a);

/* 1 when every parameter is finite. */
int bnn_model_finite(const bnn_model *m);

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: the project's own generators (never rand()).                                */

typedef struct bnn_rng {
    uint64_t s[4];
} bnn_rng; /* xoshiro256** seeded through splitmix64 */

void bnn_rng_seed(bnn_rng *r, uint64_t seed);
uint64_t bnn_rng_next(bnn_rng *r);
double bnn_rng_uniform(bnn_rng *r); /* [0, 1), 53 bits */
/* Names of an enum (src/core/names.c): names[i] is value i's; aliases (ending with {NULL})
 * are other spellings. bnn_names_find: the value, or -1; bnn_names_of: the name, or "?". */
typedef struct bnn_name_alias {
    const char *alias;
    int index;
} bnn_name_alias;
typedef struct bnn_names {
    const char *const *names;
    int n;
    const bnn_name_alias *aliases;
} bnn_names;
int bnn_names_find(const bnn_names *t, const char *s);
const char *bnn_names_of(const bnn_names *t, int i);

uint64_t bnn_hash64(uint64_t seed, uint64_t key); /* splitmix64's finaliser, twice */
/* The synthetic sets' counter-based generator: value number key (64 bits) of stream seed is
 *   u01(seed, key) = (h >> 8) * 2^-24,  h = fmix32(fmix32(lo ^ a) ^ b),
 * lo = key mod 2^32, and (a, b) the low and high halves of bnn_hash64(seed, key >> 32);
 * fmix32 is MurmurHash3's 32-bit finaliser. The same (seed, key) always gives the same value,
 * so a set does not depend on chunking, threads or ranks; 32-bit lanes, so every CPU path
 * computes 8 or 16 at a time (the kernel tables' u01_run), bitwise alike. fmix32 is a
 * bijection: the 2^32 keys that share key >> 32 give 2^32 different h. */
typedef struct bnn_u01_key {
    uint32_t a, b;
} bnn_u01_key;
bnn_u01_key bnn_u01_key_of(uint64_t seed, uint64_t key_hi);
static inline uint32_t bnn_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}
static inline float bnn_u01_at(uint32_t lo, uint32_t a, uint32_t b)
{
    const uint32_t h = bnn_fmix32(bnn_fmix32(lo ^ a) ^ b);
    return (float)(int32_t)(h >> 8) * 0x1.0p-24f; /* h >> 8 < 2^24: exact, as a signed int */
}
/* One value, scalar: u01(seed, key). */
float bnn_hash_u01(uint64_t seed, uint64_t key);

/* Aligned allocation (64 bytes), with overflow-checked count * size. */
void *bnn_alloc(size_t count, size_t size);
void bnn_free(void *p);
/* Bytes bnn_alloc(count, size) takes (rounded up to its alignment), SIZE_MAX when it would
 * refuse (overflow). */
size_t bnn_alloc_bytes(size_t count, size_t size);
/* Physical memory in bytes (0 when unknown). */
size_t bnn_physical_memory(void);

/* The memory this process may use (src/core/memory.c): the smallest of physical memory, the cgroup
 * limit (v2 memory.max, v1 memory.limit_in_bytes; our cgroup's and every ancestor's), and the
 * soft RLIMIT_AS and RLIMIT_DATA. It is a limit, not what is left: memory already in use is
 * not subtracted. Read afresh on every call (no caching, nothing allocated). */
typedef struct bnn_memory_limit {
    size_t bytes;     /* the budget; 0 only when nothing at all is known */
    const char *what; /* the bound that set it: "physical memory", "cgroup memory.max",
                       * "cgroup memory.limit_in_bytes", "RLIMIT_AS", "RLIMIT_DATA" ("unknown") */
    char desc[96];    /* what and the size, for messages: "cgroup memory.max 2.0 GiB" */
    size_t memory;    /* the smallest of physical memory and the cgroup limits alone (what the
                       * page cache can hold for us); 0 when unknown */
} bnn_memory_limit;
void bnn_memory_limit_get(bnn_memory_limit *l);
/* The address space this process may still map under RLIMIT_AS: the limit less the size of
 * its mappings now (VmSize, /proc/self/statm under the roots of bnn_memory_set_roots);
 * SIZE_MAX when there is no limit, 0 when none is left or the size cannot be read. */
size_t bnn_address_space_free(void);
/* bnn_memory_limit.bytes (0: unknown). */
size_t bnn_memory_budget(void);
/* Writes bnn_memory_limit.desc into buf ("RLIMIT_AS 1.5 GiB"): 0, or -1 when unknown. */
int bnn_memory_limit_describe(char *buf, size_t len);
/* For tests: the same, reading proc_root/self/cgroup and the cgroup files under
 * sys_root/fs/cgroup instead of /proc and /sys (rlimits and physical memory are the real
 * ones). */
void bnn_memory_limit_at(bnn_memory_limit *l, const char *proc_root, const char *sys_root);
/* For tests: bnn_memory_limit_get (and so every budget) reads proc_root and sys_root instead
 * of /proc and /sys from now on (NULL or "": the real ones), so that tests can fake a cgroup
 * limit for a whole process (the command passes $BATCHNN_PROC_ROOT, $BATCHNN_SYSFS_ROOT). */
void bnn_memory_set_roots(const char *proc_root, const char *sys_root);
/* "512.0 MiB", "2.0 GiB", "100 bytes" into buf; returns buf. */
const char *bnn_format_bytes(size_t bytes, char *buf, size_t len);
/* ---------------------------------------------------------------------------------------- */
/* Activation lists (src/core/arch.c)                                                           */

/* Parses s, comma-separated activation names (blanks around each ignored), into act[0..m-1];
 * with allow_one a single name applies to every layer. Returns 0; -1 when the number of
 * names (*count) does not fit m; -2 for an unknown name (*bad, *bad_len: as written, not
 * NUL-terminated). Used by --act (bnn_arch_parse) and by the model reader. */
int bnn_act_list_parse(const char *s, int m, int allow_one, bnn_act *act, int *count,
                       const char **bad, size_t *bad_len);
/* Small shared helpers (src/core/model.c, src/core/clock.c). */
/* Copies n float32 parameters into dst as double; dst NULL: into a new malloc'd array (NULL
 * when out of memory). Returns dst. */
double *bnn_theta_to_double(double *dst, const float *theta, size_t n);
/* Monotonic wall time in seconds. */
double bnn_now_seconds(void);

#ifdef __cplusplus
}
#endif
#endif /* BNN_CORE_H */
