/*
 * environ.c - the command's environment variables. The library reads none: the command reads
 * them here, once at start (cli_environ_apply, before MPI starts and before any kernel runs),
 * and passes each value in through the library's setter.
 *   BATCHNN_ISA=scalar|avx2|avx512|auto    the CPU path (bnn_engine_force_isa); a name unknown
 *                                          or unavailable here gets a one-line warning and
 *                                          the automatic choice
 *   BATCHNN_STREAM_LIMIT                   the most read from a pipe (bnn_stream_limit_set;
 *                                          checked where it is used, so errors name the input)
 *   BATCHNN_PROC_ROOT, BATCHNN_SYSFS_ROOT  tests: fake /proc and /sys (bnn_memory_set_roots)
 *   BATCHNN_NPY_WINDOWS=1                  tests: .npy files read in windows
 *   BATCHNN_NPY_AHEAD_BYTES=N              tests: their read-ahead in windows of N bytes
 *                                          (bnn_npy_ahead_window; default 4 MiB)
 *   BATCHNN_PATH=gemm                      the fast engine's GEMM path for narrow nets too
 *                                          (bnn_engine_force_gemm: benchmarks, tests)
 *   BATCHNN_MPI_STATS=1                    rank 0 prints the MPI statistics line at the end
 *                                          (cli_dist_finalize)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* BATCHNN_ISA: forced now, so every engine and MPI's agreement on one path (dist.c) see it. */
static void apply_isa(void)
{
    const char *env = getenv("BATCHNN_ISA");
    int named = 0;
    if (env && *env) {
        if (bnn_engine_force_isa(env) == 0)
            named = strcmp(env, "auto") != 0;
        else
            fprintf(stderr,
                    "batchnn: BATCHNN_ISA=%s is unknown or not available on this CPU or build "
                    "(scalar, avx2, avx512, auto); choosing automatically\n",
                    env);
    }
    bnn_dist_set_isa_named(named);
}

void cli_environ_apply(void)
{
    apply_isa();
    bnn_stream_limit_set(getenv(BNN_STREAM_LIMIT_ENV));
    bnn_memory_set_roots(getenv("BATCHNN_PROC_ROOT"), getenv("BATCHNN_SYSFS_ROOT"));
    const char *w = getenv("BATCHNN_NPY_WINDOWS");
    bnn_npy_force_windows(w && strcmp(w, "1") == 0);
    const char *ab = getenv("BATCHNN_NPY_AHEAD_BYTES");
    bnn_npy_ahead_window(ab ? (size_t)strtoull(ab, NULL, 10) : 0);
    const char *path = getenv("BATCHNN_PATH");
    bnn_engine_force_gemm(path && strcmp(path, "gemm") == 0);
}

void cli_dist_finalize(void)
{
    static int done;
    const char *s = getenv("BATCHNN_MPI_STATS");
    if (!done && s && strcmp(s, "1") == 0) {
        char line[512];
        if (bnn_dist_stats(line, sizeof line)) /* rank 0 */
            fprintf(stderr, "%s\n", line);
    }
    done = 1;
    bnn_dist_finalize();
}
