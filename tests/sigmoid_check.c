/*
 * sigmoid_check.c - the exhaustive check of the SIMD sigmoid (kernels/sigmoid_simd.h) of one
 * kernel table against double precision, over every float32 bit pattern: the accuracy
 * contract that test_kernels samples (every 61st pattern, sweeps, random patterns) on each run.
 *
 *   build/tests/sigmoid_check avx2          all 2^32 patterns on the AVX2 table (OpenMP;
 *                                           meson test runs this one)
 *   build/tests/sigmoid_check avx512 4099   every 4099th pattern (a second)
 *   build/tests/sigmoid_check --folded avx2 the narrow path's sigmoid, 1 / (1 + 2^t) (the
 *                                           table's sigmoid_folded; meson test runs it too)
 *
 * The contract (sigmoid_simd.h, the same for both): relative error <= 2.7e-7 where the result
 * is a normal float;
 * below, within 2^-148 of the exact value; NaN for NaN, never NaN otherwise, never outside
 * [0, 1]. When the CPU has both SIMD tables, the two must also agree bitwise on every pattern.
 * Prints the worst relative error and the worst subnormal error with their inputs; exits 1 on
 * any violation, 77 when the CPU lacks the table, 2 on a bad command line.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"

#define REL_MAX 2.7e-7
#define SUB_ABS_MAX 0x1p-148
#define BLOCK 65536

static double ref_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

/* 1 / (1 + 2^t), the folded form */
static double ref_folded(double t)
{
    if (t <= 0)
        return 1.0 / (1.0 + exp2(t));
    const double e = exp2(-t);
    return e / (1.0 + e);
}

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

int main(int argc, char **argv)
{
    const int folded = argc > 1 && strcmp(argv[1], "--folded") == 0;
    argc -= folded;
    argv += folded;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: sigmoid_check [--folded] avx2|avx512 [stride]\n");
        return 2;
    }
    const char *name = folded ? "sigmoid_folded" : "sigmoid";
    double (*ref)(double) = folded ? ref_folded : ref_sigmoid;
    const bnn_kernel_table *K = bnn_kernels_named(argv[1]);
    if (!K) {
        printf("sigmoid_check: this CPU has no %s table: skipped\n", argv[1]);
        return 77;
    }
    const uint64_t stride = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (stride < 1 || stride > ((uint64_t)1 << 31)) {
        fprintf(stderr, "sigmoid_check: stride '%s' is not a count in [1, 2^31]\n", argv[2]);
        return 2;
    }
    const bnn_kernel_table *a2 = bnn_kernels_named("avx2"), *a5 = bnn_kernels_named("avx512");
    const bnn_kernel_table *other = a2 && a5 ? (K == a2 ? a5 : a2) : NULL;
    const uint64_t total = ((uint64_t)1 << 32) / stride + (((uint64_t)1 << 32) % stride != 0);
    const uint64_t blocks = (total + BLOCK - 1) / BLOCK;
    double worst_rel = 0, worst_rel_x = 0, worst_sub = 0, worst_sub_x = 0;
    uint64_t bad = 0, differ = 0;
#pragma omp parallel
    {
        float *x = malloc(BLOCK * sizeof *x), *y = malloc(BLOCK * sizeof *y);
        float *z = malloc(BLOCK * sizeof *z);
        double rel = 0, rel_x = 0, sub = 0, sub_x = 0;
        uint64_t my_bad = 0, my_differ = 0;
        if (!x || !y || !z)
            abort();
#pragma omp for schedule(dynamic, 16)
        for (uint64_t b = 0; b < blocks; b++) {
            const uint64_t i0 = b * BLOCK, n = total - i0 < BLOCK ? total - i0 : BLOCK;
            for (uint64_t i = 0; i < n; i++)
                x[i] = from_bits((uint32_t)((i0 + i) * stride));
            (folded ? K->sigmoid_folded : K->sigmoid)(y, x, n);
            if (other) {
                (folded ? other->sigmoid_folded : other->sigmoid)(z, x, n);
                for (uint64_t i = 0; i < n; i++)
                    if (to_bits(y[i]) != to_bits(z[i]) && !(isnan(y[i]) && isnan(z[i]))) {
                        if (my_differ++ < 3)
                            printf("  %s and %s differ at x = %a: %a, %a\n", K->isa,
                                   other->isa, (double)x[i], (double)y[i], (double)z[i]);
                    }
            }
            for (uint64_t i = 0; i < n; i++) {
                const float xi = x[i], yi = y[i];
                if (isnan(xi)) {
                    if (!isnan(yi) && my_bad++ < 3)
                        printf("  %s(NaN %08x) = %a, not NaN\n", name, to_bits(xi), (double)yi);
                    continue;
                }
                if (!(yi >= 0.0f && yi <= 1.0f)) {
                    if (my_bad++ < 3)
                        printf("  %s(%a) = %a, outside [0, 1]\n", name, (double)xi, (double)yi);
                    continue;
                }
                const double want = ref(xi);
                if (want >= FLT_MIN) {
                    const double r = fabs((double)yi - want) / want;
                    if (r > rel) {
                        rel = r;
                        rel_x = xi;
                    }
                } else {
                    const double a = fabs((double)yi - want);
                    if (a > sub) {
                        sub = a;
                        sub_x = xi;
                    }
                }
            }
        }
#pragma omp critical
        {
            bad += my_bad;
            differ += my_differ;
            if (rel > worst_rel) {
                worst_rel = rel;
                worst_rel_x = rel_x;
            }
            if (sub > worst_sub) {
                worst_sub = sub;
                worst_sub_x = sub_x;
            }
        }
        free(x);
        free(y);
        free(z);
    }
    printf("sigmoid_check %s %s: %llu patterns (stride %llu)\n", name, K->isa,
           (unsigned long long)total,
           (unsigned long long)stride);
    printf("  worst relative error %.3g at x = %.9g (contract %.3g)\n", worst_rel, worst_rel_x,
           REL_MAX);
    printf("  worst error below FLT_MIN %.3g * 2^-149 at x = %.9g (contract 2 * 2^-149)\n",
           worst_sub / 0x1p-149, worst_sub_x);
    if (other)
        printf("  %s == %s bitwise: %s (%llu differences)\n", K->isa, other->isa,
               differ ? "NO" : "yes", (unsigned long long)differ);
    const int ok = bad == 0 && differ == 0 && worst_rel <= REL_MAX && worst_sub <= SUB_ABS_MAX;
    printf("  %s\n", ok ? "ok" : "CONTRACT VIOLATED");
    return ok ? 0 : 1;
}
