/*
 * io_bench.c - what the speed-tuned text I/O buys, on realistic files. Built twice: io_bench
 * with the library as it is, io_bench_plain from the same sources with -DBNN_FMT_PRINTF_ONLY
 * -DBNN_CSV_STRTOF_ONLY (snprintf("%.9g") for every value written, strtof_l for every value
 * read). Not run by meson test; run both and compare (README, File formats):
 *
 *   build/tests/io_bench [DIR [MB]]  ;  build/tests/io_bench_plain [DIR [MB]]
 *
 * 1. predict's output: 10^7 float32 values, one per row (sigmoid outputs), written with
 *    bnn_table_writer to DIR/io_bench_predict.csv;
 * 2. a data set: about MB megabytes (default 1024) of CSV, 10 inputs and 1 target per row
 *    (values of a few units, as %.9g writes them), written to DIR/io_bench_data.csv, then read
 *    back with bnn_table_open_csv (best of 3).
 * DIR defaults to $TMPDIR or /tmp; the files are removed at the end. Times are wall clock.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/bnn_io.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const bnn_error *e)
{
    fprintf(stderr, "io_bench: %s\n", e->msg);
    exit(1);
}

/* Writes rows x cols values from fill (chunked), returns seconds. */
static double write_table(const char *path, size_t rows, size_t cols, int sigmoid)
{
    bnn_error e;
    bnn_table_writer *w;
    bnn_rng rng;
    bnn_rng_seed(&rng, 42);
    const size_t chunk = 65536;
    float *buf = malloc(chunk * cols * sizeof *buf);
    if (!buf)
        return -1;
    double t0 = now();
    if (bnn_table_writer_open(&w, path, rows, cols, NULL, &e) != 0)
        die(&e);
    for (size_t r = 0; r < rows; r += chunk) {
        size_t k = rows - r < chunk ? rows - r : chunk;
        for (size_t i = 0; i < k * cols; i++) {
            double u = bnn_rng_uniform(&rng);
            buf[i] = sigmoid ? (float)(1.0 / (1.0 + exp(-8.0 * (u - 0.5))))
                             : (float)(6.0 * u - 3.0);
        }
        if (bnn_table_writer_rows(w, buf, k, cols, &e) != 0)
            die(&e);
    }
    if (bnn_table_writer_commit(w, &e) != 0)
        die(&e);
    double t = now() - t0;
    free(buf);
    return t;
}

static double file_mb(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    const char *dir = argc > 1 ? argv[1] : tmp && *tmp ? tmp : "/tmp";
    double mb = argc > 2 ? atof(argv[2]) : 1024;
    char pred[600], data[600];
    snprintf(pred, sizeof pred, "%s/io_bench_predict.csv", dir);
    snprintf(data, sizeof data, "%s/io_bench_data.csv", dir);
#if defined(BNN_FMT_PRINTF_ONLY) || defined(BNN_CSV_STRTOF_ONLY)
    const char *variant = "plain (snprintf, strtof_l)";
#else
    const char *variant = "tuned (bnn_fmt_g9, fast number path)";
#endif
    printf("io_bench: %s\n", variant);

    const size_t n = 10000000;
    double tw = write_table(pred, n, 1, 1);
    printf("  write predict output, 10^7 values x 1 column: %.2f s, %.1f MB, %.1f M values/s\n",
           tw, file_mb(pred), (double)n / tw / 1e6);
    unlink(pred);

    /* about 11 values of ~10 bytes per row */
    size_t rows = (size_t)(mb * 1e6 / 115.0);
    if (rows < 1)
        rows = 1;
    double tg = write_table(data, rows, 11, 0);
    printf("  write data set, %zu x 11: %.2f s, %.1f MB, %.1f M values/s\n", rows, tg,
           file_mb(data), (double)rows * 11 / tg / 1e6);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        bnn_table t;
        bnn_error e;
        double t0 = now();
        if (bnn_table_open_csv(&t, data, &e) != 0)
            die(&e);
        double dt = now() - t0;
        bnn_table_close(&t);
        best = dt < best ? dt : best;
    }
    printf("  read the data set (best of 3): %.2f s, %.0f MB/s, %.1f M values/s\n", best,
           file_mb(data) / best, (double)rows * 11 / best / 1e6);
    unlink(data);
    return 0;
}
