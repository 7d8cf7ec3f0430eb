/*
 * dist.c - many processes (MPI ranks) training one model: every MPI call of batchnn is in
 * this file. Built without MPI (meson -Dmpi=disabled, or no Open MPI found), the same
 * functions exist for one rank, so callers need no #ifdef.
 *
 * CPU paths (agree_isa): at start the ranks take one kernel path, the lowest any rank chose,
 * or refuse together when a rank's named path (the command's BATCHNN_ISA, passed in with
 * bnn_dist_set_isa_named) would have to be overridden.
 *
 * This file reads no environment beyond the launcher's (bnn_dist_launched) and prints
 * nothing: the statistics line and the note on a lowered CPU path are strings the command
 * prints (bnn_dist_stats, bnn_dist_note).
 *
 * MPI is initialised only when the process was started by mpirun (its environment has
 * OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK): a plain run pays nothing. The thread level is
 * MPI_THREAD_FUNNELED: MPI is called only from the main thread, outside OpenMP regions.
 *
 * Shards and ranks. The fast engine cuts the samples of a call into S shards (a function of
 * the sample count and the architecture only). Rank r of K owns shards
 * [floor(r S / K), floor((r + 1) S / K)), possibly none when K > S.
 *
 * The reduction order (bnn_dist_tree_sum_parts). The gradient is the sum of the S shard
 * partials along one fixed binary tree over shard indices, whatever K:
 *     sum(lo, hi) = p[lo]                          when hi - lo == 1
 *                 = sum(lo, mid) + sum(mid, hi)    mid = lo + the largest power of two < hi - lo
 * Each rank has folded its own shards into the maximal tree nodes inside its range
 * (src/dist/tree.h: its threads fold as their shards finish, O(log S) partials each). Every
 * rank walks the same tree in the same (post-)order. A node one rank owns whole is one of
 * that rank's folded nodes. A node spanning ranks is summed by the owner of its first shard,
 * which receives the right child's sum (nparams floats, one MPI_Send / MPI_Recv into one
 * receive buffer) from the owner of mid. The owner of shard 0 ends with the root and
 * broadcasts it (a copy, so every rank holds the same bits). Float addition is commutative,
 * so a + b == b + a bitwise; only the association matters, and the tree fixes it.
 * MPI_Allreduce(MPI_SUM) is never used on floats: its association depends on K and the
 * library.
 *
 * Errors (bnn_dist_agree): at each collective point every rank says whether it failed; the
 * lowest failing rank's message goes to all, prefixed "rank R: ", so that every rank returns
 * the same error and leaves together. A rank that exits on its own (an error outside a
 * collective point) exits without MPI_Finalize, and mpirun then ends the other ranks.
 *
 * Agreement (bnn_dist_differ): the ranks compare small vectors (a data file's size and
 * checksum, its shape) with one allgather; every rank gets the same answer, so all fail
 * together. Stops (bnn_dist_agree_step): the step's error agreement carries the largest stop
 * signal too (one allreduce of two ints), so all ranks stop at the same step. Leaving
 * (bnn_dist_finalize): a barrier first, so that no rank exits while rank 0 still writes (mpirun
 * kills the job when one rank exits non-zero); after a stop signal (bnn_dist_leave_stopped)
 * without MPI_Finalize, which then waits for an mpirun that is already ending the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dist/bnn_dist.h"
#include "bnn_kernels.h"
#include "dist/tree.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

static int dist_rank, dist_size = 1, dist_agreed;
static int dist_stop; /* the largest stop value agreed (bnn_dist_agree_step) */
static int dist_stop_exit; /* bnn_dist_leave_stopped: no MPI_Finalize */
#ifdef HAVE_MPI
static int dist_on;
static int *rank_counts, *rank_displs; /* K entries each: the counts of a gather */
#endif
static char dist_note[256]; /* for rank 0 to print: the CPU path was lowered (agree_isa) */
static int dist_isa_named; /* the command named this rank's CPU path (bnn_dist_set_isa_named) */
static int stat_threads, stat_shards; /* stat_shards: the most of one reduction */
static uint64_t stat_steps, stat_msgs, stat_bytes, stat_params;
static double stat_reduce_s;

int bnn_dist_built(void)
{
#ifdef HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int bnn_dist_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef HAVE_MPI
/* The .npy finiteness scan shared out: rank r scans elements [r n / K, (r + 1) n / K), so no
 * rank reads the whole file at load time; the smallest bad index goes to all (an integer
 * MPI_MIN), and since every rank then fails with the same message, it is printed once. */
static void scan_range(size_t n, size_t *lo, size_t *hi)
{
    *lo = (size_t)((unsigned __int128)n * (unsigned)dist_rank / (unsigned)dist_size);
    *hi = (size_t)((unsigned __int128)n * (unsigned)(dist_rank + 1) / (unsigned)dist_size);
}

static size_t scan_agree(size_t first_bad, size_t n)
{
    unsigned long long mine = first_bad, all = first_bad;
    MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    if (all < n)
        dist_agreed = 1;
    return (size_t)all;
}

static const bnn_scan_split npy_split = {scan_range, scan_agree};
#endif

#ifdef HAVE_MPI
/* The CPU paths, lowest first. */
static const char *const isa_names[] = {"scalar", "avx2", "avx512"};

static int isa_level(const char *isa)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(isa, isa_names[i]) == 0)
            return i;
    return 0;
}

/* The ranks take one CPU path: the kernels' results differ in their last bits between paths,
 * so ranks on different paths would train a model equal to no single run. Each rank has
 * chosen its path (BATCHNN_ISA, else the best its CPU has); when they differ, every rank takes
 * the lowest, unless a rank that named its path with BATCHNN_ISA would be moved off it: then
 * every rank refuses, naming the ranks and their paths. Before any kernel runs. */
static int agree_isa(bnn_error *e)
{
    int mine[2] = {isa_level(bnn_kernels()->isa), dist_isa_named};
    int *all = malloc((size_t)dist_size * 2 * sizeof *all);
    if (!all)
        return bnn_fail(e, "MPI: out of memory for %d ranks", dist_size);
    MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD);
    int low = 2, high = 0, lowest_rank = 0, moved_named = 0;
    for (int r = 0; r < dist_size; r++) {
        if (all[2 * r] < low) {
            low = all[2 * r];
            lowest_rank = r;
        }
        high = all[2 * r] > high ? all[2 * r] : high;
    }
    for (int r = 0; r < dist_size; r++)
        moved_named |= all[2 * r + 1] && all[2 * r] != low;
    if (moved_named) {
        char list[600];
        size_t o = 0;
        for (int r = 0; r < dist_size && o < sizeof list - 80; r++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s rank %d %s%s", r ? "," : "", r,
                                  isa_names[all[2 * r]], all[2 * r + 1] ? " (BATCHNN_ISA)" : "");
        if (o >= sizeof list - 80)
            snprintf(list + o, sizeof list - o, ", ...");
        free(all);
        dist_agreed = 1; /* every rank computed the same answer */
        return bnn_fail(e, "the ranks' CPU paths differ:%s; the ranks must compute alike: give "
                           "every rank the same BATCHNN_ISA, or none (then every rank takes "
                           "the best path all have)", list);
    }
    free(all);
    if (low != high) {
        if (bnn_kernels_force(isa_names[low]) != 0)
            return bnn_fail(e, "MPI: the %s kernels are not available", isa_names[low]);
        snprintf(dist_note, sizeof dist_note, "the ranks' CPU paths differ: every rank takes "
                 "the lowest, rank %d's %s", lowest_rank, isa_names[low]);
    }
    return 0;
}
#endif

const char *bnn_dist_note(void)
{
    return dist_note[0] && dist_rank == 0 ? dist_note : NULL;
}

int bnn_dist_init(bnn_error *e)
{
#ifdef HAVE_MPI
    if (dist_on || !bnn_dist_launched())
        return 0;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return bnn_fail(e, "MPI: MPI_Init_thread failed");
    dist_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
    if (provided < MPI_THREAD_FUNNELED)
        return bnn_fail(e, "MPI: the library gives thread level %d, batchnn needs "
                           "MPI_THREAD_FUNNELED", provided);
    rank_counts = calloc((size_t)dist_size, sizeof *rank_counts);
    rank_displs = calloc((size_t)dist_size, sizeof *rank_displs);
    if (!rank_counts || !rank_displs)
        return bnn_fail(e, "MPI: out of memory for %d ranks", dist_size);
    if (dist_size > 1)
        bnn_npy_split = &npy_split;
    return dist_size > 1 ? agree_isa(e) : 0;
#else
    (void)e;
    return 0;
#endif
}

void bnn_dist_set_isa_named(int named)
{
    dist_isa_named = named != 0;
}

/* The statistics line, the counts summed over the ranks (collective: every rank calls it). */
/* This process's CPU time so far (user + system), seconds. */
static double cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0)
        return 0.0;
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

const char *bnn_dist_stats(char *buf, size_t len)
{
    unsigned long long all[2] = {stat_msgs, stat_bytes};
    double cpu = cpu_seconds(), *cpus = &cpu; /* every rank's CPU time so far, on rank 0 */
    int ncpu = 1;
#ifdef HAVE_MPI
    unsigned long long mine[2] = {stat_msgs, stat_bytes};
    if (dist_on) {
        MPI_Reduce(mine, all, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        double *got = dist_rank == 0 ? malloc((size_t)dist_size * sizeof *got) : NULL;
        /* without the memory rank 0 gathers nothing and reports its own time */
        const int have = dist_rank != 0 || got != NULL;
        int every = 0;
        MPI_Allreduce(&have, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (every)
            MPI_Gather(&cpu, 1, MPI_DOUBLE, got, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (every && got) {
            cpus = got;
            ncpu = dist_size;
        } else {
            free(got);
        }
    }
#endif
    if (dist_rank != 0 || !len) {
        if (cpus != &cpu)
            free(cpus);
        return NULL;
    }
    qsort(cpus, (size_t)ncpu, sizeof *cpus, cmp_double);
    const double median = ncpu % 2 ? cpus[ncpu / 2] : 0.5 * (cpus[ncpu / 2 - 1] + cpus[ncpu / 2]);
    const double steps = stat_steps ? (double)stat_steps : 1.0;
    snprintf(buf, len,
             "mpi: ranks %d threads %d steps %llu reduce_s %.6f per_step_us %.3f msgs_per_step "
             "%.6g bytes_per_step %.6g params %llu shards %d cpu_s_min %.3f cpu_s_median %.3f "
             "cpu_s_max %.3f",
             dist_size, stat_threads, (unsigned long long)stat_steps, stat_reduce_s,
             1e6 * stat_reduce_s / steps, (double)all[0] / steps, (double)all[1] / steps,
             (unsigned long long)stat_params, stat_shards, cpus[0], median, cpus[ncpu - 1]);
    if (cpus != &cpu)
        free(cpus);
    return buf;
}

void bnn_dist_finalize(void)
{
    static int done;
    if (done)
        return;
    done = 1;
#ifdef HAVE_MPI
    /* every rank leaves together: a rank that exits (non-zero after a stop signal) while
     * rank 0 still writes its outputs would make mpirun kill rank 0 mid-write */
    if (dist_on) {
        MPI_Barrier(MPI_COMM_WORLD);
        if (!dist_stop_exit)
            MPI_Finalize();
    }
    dist_on = 0;
    free(rank_counts);
    free(rank_displs);
    rank_counts = rank_displs = NULL;
#endif
}

int bnn_dist_rank(void)
{
    return dist_rank;
}

int bnn_dist_size(void)
{
    return dist_size;
}

int bnn_dist_error_agreed(void)
{
    return dist_agreed;
}

const char *bnn_dist_library(char *buf, size_t len)
{
#ifdef HAVE_MPI
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    MPI_Get_library_version(v, &n);
    v[n < (int)sizeof v ? n : (int)sizeof v - 1] = '\0';
    char *nl = strpbrk(v, "\r\n,");
    if (nl)
        *nl = '\0';
    snprintf(buf, len, "%s", v);
#else
    snprintf(buf, len, "not built in");
#endif
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Shards and ranks                                                                            */

static int range_begin(int shards, int ranks, int r)
{
    return (int)((long long)r * shards / ranks);
}

void bnn_dist_range_of(int shards, int ranks, int r, int *lo, int *hi)
{
    *lo = range_begin(shards, ranks, r);
    *hi = range_begin(shards, ranks, r + 1);
}

int bnn_dist_owner_of(int shards, int ranks, int s)
{
    /* the last r with floor(r S / K) <= s (ranks with empty ranges never own) */
    int r = (int)(((long long)s * ranks + ranks - 1) / shards);
    if (r >= ranks)
        r = ranks - 1;
    while (r > 0 && range_begin(shards, ranks, r) > s)
        r--;
    while (r + 1 < ranks && range_begin(shards, ranks, r + 1) <= s)
        r++;
    return r;
}

void bnn_dist_range(int shards, int *lo, int *hi)
{
    bnn_dist_range_of(shards, dist_size, dist_rank, lo, hi);
}

int bnn_dist_tree_mid(int lo, int hi)
{
    int p = 1;
    while (2 * p < hi - lo)
        p *= 2;
    return lo + p;
}

/* ------------------------------------------------------------------------------------------ */
/* The tree                                                                                    */

typedef struct tree {
    const bnn_tree_part *mine; /* this rank's maximal nodes, in order */
    int nmine;
    float *recv; /* a received right child's sum, n floats */
    size_t n;
    int shards, ranks, me;
    bnn_axpy_fn axpy;
    uint64_t msgs; /* sent by this rank */
} tree;

/* The sum of my maximal node [lo, hi) (NULL: not one of mine, a bug of the caller). */
static float *find_mine(const tree *t, int lo, int hi)
{
    for (int i = 0; i < t->nmine; i++)
        if (t->mine[i].lo == lo && t->mine[i].hi == hi)
            return t->mine[i].p;
    return NULL;
}

/* The node [lo, hi): its sum, on the owner of lo (NULL elsewhere). A node one rank owns
 * whole is one of that rank's maximal nodes, folded already (fast.c); a node spanning ranks
 * is summed by the owner of lo from the right child's sum, received from the owner of mid. */
static float *node(tree *t, int lo, int hi)
{
    const int ol = bnn_dist_owner_of(t->shards, t->ranks, lo);
    const int oh = bnn_dist_owner_of(t->shards, t->ranks, hi - 1);
    if (ol == oh)
        return ol == t->me ? find_mine(t, lo, hi) : NULL;
    const int mid = bnn_dist_tree_mid(lo, hi);
    float *left = node(t, lo, mid), *right = node(t, mid, hi);
    const int om = bnn_dist_owner_of(t->shards, t->ranks, mid);
    if (t->me != ol && t->me != om)
        return NULL;
    if (om == ol) {
        if (left && right)
            t->axpy(left, right, t->n, 1.0f);
        return left;
    }
#ifdef HAVE_MPI
    if (t->me == om && right) {
        MPI_Send(right, (int)t->n, MPI_FLOAT, ol, lo, MPI_COMM_WORLD);
        t->msgs++;
    } else if (t->me == ol && left && t->recv) {
        MPI_Recv(t->recv, (int)t->n, MPI_FLOAT, om, lo, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        t->axpy(left, t->recv, t->n, 1.0f);
    }
#endif
    return t->me == ol ? left : NULL;
}

static int count_messages(int lo, int hi, int shards, int ranks)
{
    if (hi - lo <= 1)
        return 0;
    const int mid = bnn_dist_tree_mid(lo, hi);
    return count_messages(lo, mid, shards, ranks) + count_messages(mid, hi, shards, ranks) +
           (bnn_dist_owner_of(shards, ranks, lo) != bnn_dist_owner_of(shards, ranks, mid));
}

int bnn_dist_tree_messages(int shards, int ranks)
{
    return shards > 0 ? count_messages(0, shards, shards, ranks) : 0;
}

int bnn_dist_tree_walk_as(const bnn_tree_part *mine, int nmine, int shards, int ranks, int me,
                          size_t n, bnn_axpy_fn axpy, float *recv, float *out)
{
    tree t = {mine, nmine, recv, n, shards, ranks, me, axpy, 0};
    const float *root = node(&t, 0, shards);
    if (out && root)
        memcpy(out, root, n * sizeof(float));
    return (int)t.msgs;
}

int bnn_dist_tree_sum_as(float *partials, size_t stride, size_t n, int shards, int ranks,
                         int me, bnn_axpy_fn axpy, float *out)
{
    int lo, hi;
    bnn_dist_range_of(shards, ranks, me, &lo, &hi);
    bnn_tree_part st[64];
    bnn_tree_fold f = {shards, n, axpy, 0, st};
    for (int s = lo; s < hi; s++)
        bnn_tree_push(&f, s, s + 1, partials + (size_t)s * stride);
    return bnn_dist_tree_walk_as(st, f.depth, shards, ranks, me, n, axpy, NULL, out);
}

int bnn_dist_tree_sum_parts(const bnn_tree_part *mine, int nmine, int shards, size_t n,
                            bnn_axpy_fn axpy, float *recv, float *out, bnn_error *e)
{
    const double t0 = bnn_now_seconds();
    if (dist_size > 1 && n > (size_t)0x7fffffff)
        return bnn_fail(e, "MPI: %zu parameters are too many for one message", n);
    const int sent = bnn_dist_tree_walk_as(mine, nmine, shards, dist_size, dist_rank, n, axpy,
                                           recv, out);
#ifdef HAVE_MPI
    if (dist_size > 1) {
        const int root = bnn_dist_owner_of(shards, dist_size, 0);
        MPI_Bcast(out, (int)n, MPI_FLOAT, root, MPI_COMM_WORLD);
        if (dist_rank == root) { /* the broadcast, counted as K - 1 messages of the root */
            stat_msgs += (uint64_t)(dist_size - 1);
            stat_bytes += (uint64_t)(dist_size - 1) * n * sizeof(float);
        }
    }
#endif
    stat_reduce_s += bnn_now_seconds() - t0;
    stat_msgs += (uint64_t)sent;
    stat_bytes += (uint64_t)sent * n * sizeof(float);
    stat_steps++;
    stat_params = n;
    stat_shards = shards > stat_shards ? shards : stat_shards;
    return 0;
}

void bnn_dist_note_threads(int threads)
{
    stat_threads = threads;
}

/* ------------------------------------------------------------------------------------------ */
/* Collectives on integers, per-shard doubles, bytes, rows                                     */

int bnn_dist_agree(int failed, bnn_error *e)
{
    return bnn_dist_agree_step(failed, NULL, e);
}

int bnn_dist_stopped(void)
{
    return dist_stop;
}

void bnn_dist_leave_stopped(void)
{
    dist_agreed = dist_size > 1;
    dist_stop_exit = 1;
}

/* One MPI_Allreduce(MPI_MIN) of two ints carries both answers: the lowest failing rank, and
 * the largest stop value (as its negative). */
int bnn_dist_agree_step(int failed, int *stop, bnn_error *e)
{
    if (stop && *stop > dist_stop)
        dist_stop = *stop;
#ifdef HAVE_MPI
    if (dist_size > 1) {
        int mine[2] = {failed ? dist_rank : dist_size, stop ? -*stop : 0}, all[2];
        MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        const int first = all[0];
        if (stop) {
            *stop = -all[1];
            dist_stop = *stop > dist_stop ? *stop : dist_stop;
        }
        if (first == dist_size)
            return 0;
        char msg[sizeof e->msg];
        if (dist_rank == first)
            snprintf(msg, sizeof msg, "%s", e ? e->msg : "error");
        MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
        msg[sizeof msg - 1] = '\0';
        char pre[32];
        snprintf(pre, sizeof pre, "rank %d: ", first);
        if (e) { /* "rank R: " then as much of the message as fits */
            const size_t np = strncmp(msg, pre, strlen(pre)) == 0 ? 0 : strlen(pre);
            memcpy(e->msg, pre, np);
            const size_t room = sizeof e->msg - 1 - np, len = strlen(msg);
            memcpy(e->msg + np, msg, len < room ? len : room);
            e->msg[np + (len < room ? len : room)] = '\0';
        }
        dist_agreed = 1;
        return -1;
    }
#endif
    (void)e;
    return failed ? -1 : 0;
}

void bnn_dist_same_error(void)
{
    if (dist_size > 1)
        dist_agreed = 1;
}

int bnn_dist_max_int(int v)
{
#ifdef HAVE_MPI
    if (dist_size > 1) {
        int all = v;
        MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return all;
    }
#endif
    return v;
}

int bnn_dist_differ(const uint64_t *mine, int n, uint64_t *zero, uint64_t *other, int *ranks,
                    int max)
{
    memcpy(zero, mine, (size_t)n * sizeof *zero);
    memcpy(other, mine, (size_t)n * sizeof *other);
#ifdef HAVE_MPI
    if (dist_size > 1) {
        unsigned long long *all = malloc((size_t)dist_size * (size_t)n * sizeof *all);
        if (!all)
            return -1;
        unsigned long long v[8] = {0};
        for (int i = 0; i < n; i++)
            v[i] = mine[i];
        MPI_Allgather(v, n, MPI_UNSIGNED_LONG_LONG, all, n, MPI_UNSIGNED_LONG_LONG,
                      MPI_COMM_WORLD);
        int count = 0;
        for (int i = 0; i < n; i++)
            zero[i] = all[i];
        for (int r = 1; r < dist_size; r++) {
            const unsigned long long *x = all + (size_t)r * (size_t)n;
            int same = 1;
            for (int i = 0; i < n; i++)
                same &= x[i] == all[i];
            if (same)
                continue;
            if (count == 0)
                for (int i = 0; i < n; i++)
                    other[i] = x[i];
            if (count < max)
                ranks[count] = r;
            count++;
        }
        free(all);
        return count;
    }
#endif
    (void)ranks;
    (void)max;
    return 0;
}

void bnn_dist_gather_shards(double *v, int per, int shards)
{
#ifdef HAVE_MPI
    if (dist_size > 1) {
        for (int r = 0; r < dist_size; r++) {
            int lo, hi;
            bnn_dist_range_of(shards, dist_size, r, &lo, &hi);
            rank_counts[r] = (hi - lo) * per;
            rank_displs[r] = lo * per;
        }
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, rank_counts, rank_displs,
                       MPI_DOUBLE, MPI_COMM_WORLD);
    }
#else
    (void)v;
    (void)per;
    (void)shards;
#endif
}

int bnn_dist_bcast(void *buf, size_t bytes, int root, bnn_error *e)
{
#ifdef HAVE_MPI
    if (dist_size > 1) {
        unsigned char *b = buf;
        while (bytes > 0) { /* counts are ints: in pieces of 1 GiB */
            const size_t part = bytes < ((size_t)1 << 30) ? bytes : (size_t)1 << 30;
            if (MPI_Bcast(b, (int)part, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
                return bnn_fail(e, "MPI: broadcast of %zu bytes failed", part);
            b += part;
            bytes -= part;
        }
    }
#else
    (void)buf;
    (void)bytes;
    (void)root;
    (void)e;
#endif
    return 0;
}

int bnn_dist_gather_rows(float *rows, size_t row_floats, const size_t *bounds, int shards,
                         bnn_error *e)
{
#ifdef HAVE_MPI
    if (dist_size > 1) {
        if (bounds[shards] * row_floats > (size_t)0x7fffffff)
            return bnn_fail(e, "MPI: %zu outputs are too many for one gather",
                            bounds[shards] * row_floats);
        for (int r = 0; r < dist_size; r++) {
            int lo, hi;
            bnn_dist_range_of(shards, dist_size, r, &lo, &hi);
            rank_displs[r] = (int)(bounds[lo] * row_floats);
            rank_counts[r] = (int)((bounds[hi] - bounds[lo]) * row_floats);
        }
        void *send = dist_rank == 0 ? MPI_IN_PLACE : rows + rank_displs[dist_rank];
        MPI_Gatherv(send, rank_counts[dist_rank], MPI_FLOAT, rows, rank_counts, rank_displs,
                    MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
#else
    (void)rows;
    (void)row_floats;
    (void)bounds;
    (void)shards;
    (void)e;
#endif
    return 0;
}
