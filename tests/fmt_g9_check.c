/*
 * fmt_g9_check.c - the exhaustive check of bnn_fmt_g9 (src/io/table_writer.c): for every
 * float32 bit pattern (finite ones; NaN and infinities are never written), the text must be
 * byte for byte what snprintf("%.9g") writes. Not run by meson test (about 40 minutes on 2
 * cores: 2^32 snprintf calls); test_csv runs a seeded sample and the edges on every run.
 *
 *   build/tests/fmt_g9_check            every pattern (OpenMP over the cores)
 *   build/tests/fmt_g9_check 4099       every 4099th pattern (seconds)
 *
 * Prints the number of patterns compared, the mismatches and the first few of them (pattern,
 * both texts); exits 1 on any mismatch.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/bnn_io.h"

int main(int argc, char **argv)
{
    uint64_t stride = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    if (stride == 0)
        stride = 1;
    const uint64_t total = (uint64_t)1 << 32;
    uint64_t compared = 0, bad = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#pragma omp parallel for schedule(dynamic, 4096) reduction(+ : compared, bad)
    for (uint64_t i = 0; i < total; i += stride) {
        uint32_t bits = (uint32_t)i;
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            continue;
        char got[40], want[40];
        int n = bnn_fmt_g9(got, f);
        int k = snprintf(want, sizeof want, "%.9g", (double)f);
        compared++;
        if (n != k || memcmp(got, want, (size_t)k) != 0) {
            bad++;
#pragma omp critical
            if (bad <= 10)
                fprintf(stderr, "pattern 0x%08x: bnn_fmt_g9 \"%.*s\", printf \"%s\"\n", bits,
                        n > 0 && n < 40 ? n : 0, got, want);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("fmt_g9_check: %llu patterns compared (every %llu), %llu mismatches, %.1f s\n",
           (unsigned long long)compared, (unsigned long long)stride, (unsigned long long)bad,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return bad ? 1 : 0;
}
