/*
 * dispatch.c - chooses the kernel table once: the best path the CPU (and the build) supports,
 * avx512 (F, DQ, VL, BW) > avx2 (+ FMA) > scalar. bnn_kernels_force() replaces the table in
 * use: the command forces the path its user named (BATCHNN_ISA, read by src/cli, which also
 * warns when the name is unknown or unavailable); tests and benchmarks force one too. The
 * library reads no environment and prints nothing.
 *
 * Thread safety: the automatic choice runs under pthread_once; the table in use is an atomic
 * pointer, so bnn_kernels() is safe from any thread (a concurrent force is seen either before
 * or after, never half-way).
 *
 * Paths exist on x86-64 only; the build defines BNN_KERNELS_NO_AVX2 / BNN_KERNELS_NO_AVX512
 * when the compiler cannot build one, and stubs returning NULL take its place.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bnn_kernels.h"

#if !defined(__x86_64__) && !defined(BNN_KERNELS_NO_AVX2)
#define BNN_KERNELS_NO_AVX2 1
#endif
#if !defined(__x86_64__) && !defined(BNN_KERNELS_NO_AVX512)
#define BNN_KERNELS_NO_AVX512 1
#endif

#ifdef BNN_KERNELS_NO_AVX2
const bnn_kernel_table *bnn_kernels_avx2(void)
{
    return NULL;
}
#endif
#ifdef BNN_KERNELS_NO_AVX512
const bnn_kernel_table *bnn_kernels_avx512(void)
{
    return NULL;
}
#endif

static int bnn_cpu_has_avx2(void)
{
#if !defined(BNN_KERNELS_NO_AVX2)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int bnn_cpu_has_avx512(void)
{
#if !defined(BNN_KERNELS_NO_AVX512)
    /* The kernels are compiled with -mavx2 -mfma too. */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           bnn_cpu_has_avx2();
#else
    return 0;
#endif
}

static const bnn_kernel_table *bnn_kernels_best(void)
{
    const bnn_kernel_table *t = NULL;
    if (bnn_cpu_has_avx512())
        t = bnn_kernels_avx512();
    if (!t && bnn_cpu_has_avx2())
        t = bnn_kernels_avx2();
    return t ? t : bnn_kernels_scalar();
}

const bnn_kernel_table *bnn_kernels_named(const char *isa)
{
    if (!isa)
        return NULL;
    if (strcmp(isa, "auto") == 0)
        return bnn_kernels_best();
    if (strcmp(isa, "scalar") == 0)
        return bnn_kernels_scalar();
    if (strcmp(isa, "avx2") == 0)
        return bnn_cpu_has_avx2() ? bnn_kernels_avx2() : NULL;
    if (strcmp(isa, "avx512") == 0)
        return bnn_cpu_has_avx512() ? bnn_kernels_avx512() : NULL;
    return NULL;
}

static _Atomic(const bnn_kernel_table *) bnn_kernels_current;
static pthread_once_t bnn_kernels_once = PTHREAD_ONCE_INIT;

static void bnn_kernels_choose(void)
{
    const bnn_kernel_table *t = bnn_kernels_best();
    /* A table forced before the first call wins. */
    const bnn_kernel_table *expected = NULL;
    atomic_compare_exchange_strong(&bnn_kernels_current, &expected, t);
}

const bnn_kernel_table *bnn_kernels(void)
{
    const bnn_kernel_table *t = atomic_load_explicit(&bnn_kernels_current,
                                                     memory_order_acquire);
    if (t)
        return t;
    pthread_once(&bnn_kernels_once, bnn_kernels_choose);
    return atomic_load_explicit(&bnn_kernels_current, memory_order_acquire);
}

int bnn_kernels_force(const char *isa)
{
    const bnn_kernel_table *t = bnn_kernels_named(isa);
    if (!t)
        return -1;
    atomic_store_explicit(&bnn_kernels_current, t, memory_order_release);
    return 0;
}
