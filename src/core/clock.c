/* clock.c - the one clock of batchnn: monotonic wall time in seconds (epoch times, progress,
 * benchmarks). */
#include <time.h>

#include "core/bnn_core.h"

double bnn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
