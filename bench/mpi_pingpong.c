/*
 * mpi_pingpong.c - the alpha-beta figures of this machine's MPI, for bench/mpi_model.py.
 *
 *   mpirun -np 2 build/bench/mpi_pingpong [--quick] [--reps N]
 *
 * 1. Ping-pong between ranks 0 and 1 over message sizes 8 B .. 64 MiB (x8 each step): the
 *    one-way time of each size is half the median round trip. A least-squares fit of
 *    t = alpha + bytes * beta, weighted by 1/t^2 (each size's relative error counts the same,
 *    so the small sizes fix alpha and the large ones beta), gives alpha (latency) and beta
 *    (seconds per byte; 1/beta is the bandwidth).
 * 2. The reduction of P floats (P = 1e3 .. 1e7) as batchnn does it over K = all ranks: a fixed
 *    binary tree (at distance d = 1, 2, 4, ..., rank r with r mod 2d = d sends its sum to
 *    r - d, which adds it to its own: K - 1 messages, ceil(log2 K) levels), then a broadcast
 *    of the total from rank 0, against MPI_Allreduce(MPI_SUM) of the same buffer; the median
 *    of several runs each, and the largest difference between the two sums (rounding only).
 *
 * Output: markdown tables, then one line for scripts:
 *   fit: alpha_us A beta_ns_per_byte B bandwidth_GBps G ranks K
 * Timings on a machine shared with other work are noisy: medians, not minima, are reported.
 * Not installed; built by meson only when MPI is found.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The median one-way time of a message of `bytes` between ranks 0 and 1 (others idle). */
static double pingpong(int rank, char *buf, size_t bytes, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t)
        MPI_Abort(MPI_COMM_WORLD, 2);
    for (int i = -1; i < reps; i++) { /* i = -1: a warm-up round */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
        if (i >= 0)
            t[i] = (MPI_Wtime() - t0) / 2;
    }
    double m = median(t, reps);
    free(t);
    MPI_Bcast(&m, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return m;
}

/* batchnn's order: a fixed binary tree to rank 0, then a broadcast. acc holds this rank's
 * partial on entry and the total on return; tmp is scratch of p floats. */
static void tree_reduce_bcast(float *acc, float *tmp, int p, int rank, int k)
{
    for (int d = 1; d < k; d *= 2) {
        if (rank % (2 * d) == d) {
            MPI_Send(acc, p, MPI_FLOAT, rank - d, 1, MPI_COMM_WORLD);
            break; /* this rank's sum is passed on: it is done until the broadcast */
        }
        if (rank % (2 * d) == 0 && rank + d < k) {
            MPI_Recv(tmp, p, MPI_FLOAT, rank + d, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int i = 0; i < p; i++)
                acc[i] += tmp[i];
        }
    }
    MPI_Bcast(acc, p, MPI_FLOAT, 0, MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, k;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &k);
    int quick = 0, reps = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            if (rank == 0)
                fprintf(stderr, "usage: mpirun -np K mpi_pingpong [--quick] [--reps N]\n"
                                "mpi_pingpong: unknown argument '%s'\n", argv[i]);
            MPI_Finalize();
            return 2;
        }
    }
    if (k < 2) {
        if (rank == 0)
            fprintf(stderr, "mpi_pingpong: needs at least 2 ranks (mpirun -np 2 ...)\n");
        MPI_Finalize();
        return 2;
    }
    const size_t max_bytes = quick ? (size_t)1 << 21 : (size_t)64 << 20;
    char *buf = calloc(max_bytes, 1);
    if (!buf)
        MPI_Abort(MPI_COMM_WORLD, 2);

    /* 1. ping-pong */
    enum { MAXS = 16 };
    double sz[MAXS], tm[MAXS];
    int ns = 0;
    if (rank == 0)
        printf("## Point to point (ranks 0 and 1 of %d)\n\n| bytes | one-way us | MB/s |\n"
               "|---:|---:|---:|\n", k);
    for (size_t b = 8; b <= max_bytes && ns < MAXS; b *= 8) {
        int r = reps > 0 ? reps : b <= 65536 ? (quick ? 50 : 400) : b <= (4u << 20) ? 40 : 10;
        double t = pingpong(rank, buf, b, r);
        sz[ns] = (double)b;
        tm[ns] = t;
        ns++;
        if (rank == 0)
            printf("| %zu | %.2f | %.1f |\n", b, t * 1e6, (double)b / t / 1e6);
    }
    /* weighted least squares of t = alpha + bytes * beta, weights 1 / t^2 */
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < ns; i++) {
        double w = 1.0 / (tm[i] * tm[i]);
        sw += w;
        sx += w * sz[i];
        sy += w * tm[i];
        sxx += w * sz[i] * sz[i];
        sxy += w * sz[i] * tm[i];
    }
    double det = sw * sxx - sx * sx;
    double beta = det > 0 ? (sw * sxy - sx * sy) / det : 0;
    double alpha = (sy - beta * sx) / sw;
    if (alpha < 0) /* noise: the smallest message's time is the latency's best estimate */
        alpha = tm[0];
    if (rank == 0)
        printf("\nfit t = alpha + bytes x beta: alpha %.2f us, beta %.4f ns/byte "
               "(%.2f GB/s)\n\n", alpha * 1e6, beta * 1e9, beta > 0 ? 1e-9 / beta : 0.0);

    /* 2. tree reduction + broadcast against MPI_Allreduce */
    const int pmax = quick ? 100000 : 10000000;
    float *acc = malloc((size_t)pmax * sizeof *acc), *tmp = malloc((size_t)pmax * sizeof *tmp);
    float *part = malloc((size_t)pmax * sizeof *part), *ar = malloc((size_t)pmax * sizeof *ar);
    if (!acc || !tmp || !part || !ar)
        MPI_Abort(MPI_COMM_WORLD, 2);
    for (int i = 0; i < pmax; i++) /* a rank's partial: distinct, not exactly summable */
        part[i] = (float)(1.0 / (1.0 + i + 7.0 * rank)) + 0.1f * (float)rank;
    if (rank == 0)
        printf("## Reduction of P floats over %d ranks (median)\n\n"
               "| P | bytes | tree + bcast ms | MPI_Allreduce ms | tree / allreduce | "
               "max rel. diff |\n|---:|---:|---:|---:|---:|---:|\n", k);
    for (int p = 1000; p <= pmax; p *= 10) {
        int r = reps > 0 ? reps : p <= 100000 ? (quick ? 10 : 50) : 7;
        double *tt = malloc((size_t)r * sizeof *tt), *ta = malloc((size_t)r * sizeof *ta);
        if (!tt || !ta)
            MPI_Abort(MPI_COMM_WORLD, 2);
        for (int i = -1; i < r; i++) {
            memcpy(acc, part, (size_t)p * sizeof *acc);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            tree_reduce_bcast(acc, tmp, p, rank, k);
            double t1 = MPI_Wtime();
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = MPI_Wtime();
            MPI_Allreduce(part, ar, p, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t3 = MPI_Wtime();
            if (i >= 0) {
                tt[i] = t1 - t0;
                ta[i] = t3 - t2;
            }
        }
        double diff = 0;
        for (int i = 0; i < p; i++) {
            double d = fabs((double)acc[i] - (double)ar[i]) / fabs((double)ar[i]);
            diff = d > diff ? d : diff;
        }
        double mt = median(tt, r), ma = median(ta, r), dmax;
        /* the slowest rank's time counts: a step waits for every rank */
        MPI_Allreduce(MPI_IN_PLACE, &mt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &ma, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&diff, &dmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0)
            printf("| %d | %zu | %.3f | %.3f | %.2f | %.1e |\n", p, (size_t)p * 4, mt * 1e3,
                   ma * 1e3, ma > 0 ? mt / ma : 0.0, dmax);
        free(tt);
        free(ta);
    }
    if (rank == 0)
        printf("\nfit: alpha_us %.4f beta_ns_per_byte %.6f bandwidth_GBps %.4f ranks %d\n",
               alpha * 1e6, beta * 1e9, beta > 0 ? 1e-9 / beta : 0.0, k);
    free(acc);
    free(tmp);
    free(part);
    free(ar);
    free(buf);
    MPI_Finalize();
    return 0;
}
