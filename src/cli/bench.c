/*
 * bench.c - `batchnn bench`: measures this machine's limits (sgemm rate, memory read
 * bandwidth, sigmoid rate) and the workloads of shared/WORKLOADS.md (or a user-given
 * architecture), and prints each one's time per epoch, floor, efficiency (floor / time),
 * 1 vs N threads, and the speedup over the reference engine, all measured in the same run.
 *
 * Epoch times are the per-epoch wall times that `batchnn train --log` reports (bnn_train's
 * on_epoch), median over --repeat epochs after one warm-up epoch, data generation excluded.
 * The reference engine runs a prefix of the data (per-sample rates are compared).
 * The machine's rates are the best of 5 runs (a limit, not a typical value).
 * Floors, as WORKLOADS.md defines them: the largest of FLOPs / sgemm rate, bytes read /
 * bandwidth, sigmoids / sigmoid rate; for nets with a hidden layer wider than 4 the compute
 * and sigmoid terms share the FMA units and are added.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <json-c/json.h>

#include "bnn_internal.h"
#include "bnn_kernels.h"
#include "cli.h"

typedef struct workload {
    const char *id, *arch, *act, *set;
    int bias;
    size_t n, n_ref;
    double lr;
} workload;

static const workload workloads[] = {
    {"W1", "1,1", "identity", "synth:linear", 0, (size_t)1 << 24, (size_t)1 << 20, 1e-3},
    {"W2", "2,1", "sigmoid", "synth:uniform", 1, (size_t)1 << 24, (size_t)1 << 20, 0.1},
    {"W3", "1,1,1,1,1", "sigmoid", "synth:uniform", 1, (size_t)1 << 22, (size_t)1 << 18, 0.1},
    {"W4", "2,16,16,1", "sigmoid", "synth:uniform", 1, (size_t)1 << 20, (size_t)1 << 15, 0.1},
    {"W5", "784,256,10", "sigmoid", "synth:uniform", 1, 60000, 256, 0.1},
    {"W6", "512,1024,1024,16", "sigmoid", "synth:uniform", 1, 16384, 16, 0.1},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

/* ---- machine probe ---- */

static double probe_sgemm(int threads)
{
    const int n = 2048;
    float *A = bnn_alloc((size_t)n * n, 4), *B = bnn_alloc((size_t)n * n, 4),
          *C = bnn_alloc((size_t)n * n, 4);
    if (!A || !B || !C)
        return 0;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        A[i] = 1e-3f * (float)(i % 7);
        B[i] = 1e-3f * (float)(i % 5);
    }
    openblas_set_num_threads(threads);
    double times[5];
    for (int r = 0; r < 5; r++) {
        double t = now_s();
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
        times[r] = now_s() - t;
    }
    openblas_set_num_threads(1);
    bnn_free(A);
    bnn_free(B);
    bnn_free(C);
    qsort(times, 5, sizeof *times, cmp_double); /* the machine's limit: the best run */
    return 2.0 * n * (double)n * n / times[0] * 1e-9;
}

static double probe_bandwidth(int threads)
{
    const size_t n = (size_t)256 << 20; /* 1 GiB of floats */
    float *a = bnn_alloc(n, sizeof(float));
    if (!a)
        return 0;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(i & 255);
    double times[5];
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t = now_s();
        float total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t b = 0; b < n; b += 4096) {
            float s[16] = {0};
            for (size_t i = 0; i < 4096; i += 16)
                for (int j = 0; j < 16; j++)
                    s[j] += a[b + i + (size_t)j];
            for (int j = 0; j < 16; j++)
                total += s[j];
        }
        times[r] = now_s() - t;
        sink = total;
    }
    (void)sink;
    bnn_free(a);
    qsort(times, 5, sizeof *times, cmp_double);
    return (double)n * sizeof(float) / times[0] * 1e-9;
}

/* The best sigmoid this CPU has (whatever BATCHNN_ISA forces for the engine: the floor is
 * the machine's, so that a forced slower path shows up as lower efficiency). */
static double probe_sigmoid(int threads)
{
    const bnn_kernel_table *k = bnn_kernels_named("auto");
    if (!k)
        k = bnn_kernels();
    const size_t n = 4096, reps = 4000;
    double best = INFINITY;
#pragma omp parallel num_threads(threads)
    {
        float *x = bnn_alloc(n, sizeof(float)), *y = bnn_alloc(n, sizeof(float));
        for (size_t i = 0; i < n; i++)
            x[i] = -20.0f + 40.0f * (float)i / (float)n;
        k->sigmoid(y, x, n);
        for (int r = 0; r < 5; r++) {
            double t0 = 0;
#pragma omp barrier
#pragma omp master
            t0 = now_s();
            for (size_t i = 0; i < reps; i++)
                k->sigmoid(y, x, n);
#pragma omp barrier
#pragma omp master
            {
                double t = now_s() - t0;
                best = t < best ? t : best;
            }
        }
        bnn_free(x);
        bnn_free(y);
    }
    return (double)n * reps * threads / best * 1e-9;
}

/* ---- workloads ---- */

typedef struct result {
    double ms, ms1, floor_ms, gflops, samples_s, ref_speedup;
    const char *bound;
} result;

static double flops_per_sample(const bnn_arch *a)
{
    double f = 0;
    for (int l = 0; l < a->nlayers; l++) {
        double io = (double)a->width[l] * (double)a->width[l + 1];
        f += 4 * io + (l > 0 ? 2 * io : 0);
    }
    return f;
}

typedef struct times_ctx {
    double *sec;
    int n, cap;
} times_ctx;

static int record_epoch(void *p, int epoch, double loss, double seconds)
{
    times_ctx *c = p;
    (void)epoch;
    (void)loss;
    if (c->n < c->cap)
        c->sec[c->n++] = seconds;
    return 0;
}

/* median seconds per epoch of `repeat` epochs after one warm-up, with training options */
static double time_fast_with(const bnn_arch *a, const bnn_data *d, double lr, int threads,
                             int repeat, size_t batch, bnn_loss loss, bnn_optim_kind kind)
{
    bnn_error e;
    bnn_model m;
    if (bnn_model_init(&m, a, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_randomize(&m, 1);
    double sec[64];
    times_ctx c = {sec, 0, 64};
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = repeat + 1;
    o.lr = lr;
    o.threads = threads;
    o.batch = batch;
    o.loss = loss;
    o.optim.kind = kind;
    o.on_epoch = record_epoch;
    o.ctx = &c;
    if (bnn_train(&m, d, &o, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_free(&m);
    return median(sec + 1, c.n - 1);
}

/* median seconds per epoch of `repeat` epochs after one warm-up */
static double time_fast(const bnn_arch *a, const bnn_data *d, double lr, int threads, int repeat)
{
    bnn_error e;
    bnn_model m;
    if (bnn_model_init(&m, a, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_randomize(&m, 1);
    double sec[64];
    times_ctx c = {sec, 0, 64};
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    o.epochs = repeat + 1;
    o.lr = lr;
    o.threads = threads;
    o.on_epoch = record_epoch;
    o.ctx = &c;
    if (bnn_train(&m, d, &o, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_free(&m);
    return median(sec + 1, c.n - 1);
}

static double time_reference_per_sample(const bnn_arch *a, const bnn_data *d, size_t n)
{
    bnn_error e;
    size_t np = bnn_arch_nparams(a);
    bnn_model m;
    if (bnn_model_init(&m, a, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_randomize(&m, 1);
    double *theta = malloc(np * sizeof *theta), *g = malloc(np * sizeof *g);
    for (size_t p = 0; p < np; p++)
        theta[p] = m.theta[p];
    double times[3], cost;
    for (int r = 0; r < 3; r++) {
        double t = now_s();
        if (bnn_ref_grad(a, theta, d, 0, n, BNN_GRAD_EXACT, g, &cost, &e) != 0)
            cli_die(1, "bench: %s", e.msg);
        for (size_t p = 0; p < np; p++)
            theta[p] -= 0.1 * g[p];
        times[r] = now_s() - t;
    }
    free(theta);
    free(g);
    bnn_model_free(&m);
    return median(times, 3) / (double)n;
}

static result run_workload(const workload *w, int threads, int repeat, double sgemm, double bw,
                           double sig, FILE *json, int first)
{
    bnn_error e;
    bnn_arch a;
    if (bnn_arch_parse(&a, w->arch, w->act, w->bias, &e) != 0)
        cli_die(2, "bench: %s", e.msg);
    bnn_table t;
    bnn_data d;
    if (bnn_synth_open(&t, w->set, w->n, a.width[0], a.width[a.nlayers], 1, (size_t)8 << 30,
                       &e) != 0 ||
        bnn_data_make(&d, &t, NULL, a.width[0], a.width[a.nlayers], &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    result r = {0};
    r.ms = 1e3 * time_fast(&a, &d, w->lr, threads, repeat);
    r.ms1 = threads > 1 ? 1e3 * time_fast(&a, &d, w->lr, 1, repeat) : r.ms;
    double ref = time_reference_per_sample(&a, &d, w->n_ref < w->n ? w->n_ref : w->n);
    double n = (double)w->n;
    double fl = flops_per_sample(&a) * n;
    double bytes = n * (double)(a.width[0] + a.width[a.nlayers]) * 4;
    double sigmoids = 0;
    int64_t maxhidden = 0;
    for (int l = 0; l < a.nlayers; l++) {
        if (a.act[l] == BNN_ACT_SIGMOID || a.act[l] == BNN_ACT_TANH)
            sigmoids += n * (double)a.width[l + 1];
        if (l + 1 < a.nlayers && a.width[l + 1] > maxhidden)
            maxhidden = a.width[l + 1];
    }
    double t_comp = fl / (sgemm * 1e9), t_mem = bytes / (bw * 1e9), t_sig = sigmoids / (sig * 1e9);
    double fl_floor;
    if (maxhidden > 4) {
        fl_floor = t_comp + t_sig;
        r.bound = "compute+sigmoid";
    } else {
        fl_floor = t_comp > t_sig ? t_comp : t_sig;
        r.bound = t_comp > t_sig ? "compute" : "sigmoid";
    }
    if (t_mem > fl_floor) {
        fl_floor = t_mem;
        r.bound = "memory";
    }
    r.floor_ms = 1e3 * fl_floor;
    r.gflops = fl / (r.ms * 1e-3) * 1e-9;
    r.samples_s = n / (r.ms * 1e-3);
    r.ref_speedup = ref / (r.ms * 1e-3 / n);
    char name[64];
    snprintf(name, sizeof name, "%s %s", w->arch, w->act);
    printf("%-4s %-27s %9zu %10.2f %9.2f %-15s %6.0f%% %10.3g %8.1f %9.2f %6.2fx %9.0fx\n",
           w->id, name, w->n, r.ms, r.floor_ms, r.bound, 100 * r.floor_ms / r.ms, r.samples_s,
           r.gflops, r.ms1, r.ms1 / r.ms, r.ref_speedup);
    fflush(stdout);
    if (json)
        fprintf(json,
                "%s\n    {\"id\": \"%s\", \"arch\": \"%s\", \"act\": \"%s\", \"n\": %zu, "
                "\"ms_per_epoch\": %.6g, \"floor_ms\": %.6g, \"bound\": \"%s\", "
                "\"efficiency\": %.6g, \"samples_per_s\": %.6g, \"gflops\": %.6g, "
                "\"ms_per_epoch_1thread\": %.6g, \"thread_speedup\": %.6g, "
                "\"reference_speedup\": %.6g}",
                first ? "" : ",", w->id, w->arch, w->act, w->n, r.ms, r.floor_ms, r.bound,
                r.floor_ms / r.ms, r.samples_s, r.gflops, r.ms1, r.ms1 / r.ms, r.ref_speedup);
    bnn_table_close(&t);
    return r;
}

/* ---- training options: cross-entropy + Adam next to the plain run ---- */

/* The time per epoch of the optimizer step and the loss kernel alone (mini-batches of batch
 * samples, chunks of 256): what the options add to an epoch, at most. */
static double options_kernels_seconds(const bnn_arch *a, size_t n, size_t batch,
                                      double *loss_seconds)
{
    const bnn_kernel_table *k = bnn_kernels();
    const size_t np = bnn_arch_nparams(a), K = (size_t)a->width[a->nlayers], chunk = 256;
    bnn_error e;
    bnn_optim_opts oo;
    bnn_optim_opts_default(&oo);
    oo.kind = BNN_OPT_ADAM;
    bnn_optim_state st;
    float *th = bnn_alloc(np, 4), *g = bnn_alloc(np, 4), *next = bnn_alloc(np, 4);
    float *z = bnn_alloc(K * chunk, 4), *y = bnn_alloc(K * chunk, 4), *d = bnn_alloc(K * chunk, 4);
    if (!th || !g || !next || !z || !y || !d || bnn_optim_state_init(&st, &oo, np, &e) != 0)
        cli_die(1, "bench: out of memory");
    for (size_t i = 0; i < np; i++) {
        th[i] = 1e-3f * (float)(i % 97);
        g[i] = 1e-4f * (float)(i % 89) - 4e-3f;
    }
    for (size_t i = 0; i < K * chunk; i++) {
        z[i] = 0.1f * (float)(i % 13) - 0.5f;
        y[i] = i % K == 0 ? 1.0f : 0.0f;
    }
    const size_t steps = (n + batch - 1) / batch, chunks = (n + chunk - 1) / chunk;
    double best = INFINITY, best_loss = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t = now_s();
        for (size_t s = 0; s < steps; s++) {
            bnn_optim_step(&st, 1e-3, th, g, next);
            float *tmp = th;
            th = next;
            next = tmp;
        }
        double t1 = now_s(), c = 0;
        for (size_t s = 0; s < chunks; s++)
            k->loss_delta(d, K, z, K, y, K, K, chunk, 1.0f / 256, BNN_LOSS_CE, &c);
        double t2 = now_s();
        best = t1 - t < best ? t1 - t : best;
        best_loss = t2 - t1 < best_loss ? t2 - t1 : best_loss;
    }
    *loss_seconds = best_loss;
    bnn_optim_state_free(&st);
    bnn_free(th);
    bnn_free(g);
    bnn_free(next);
    bnn_free(z);
    bnn_free(y);
    bnn_free(d);
    return best;
}

static void run_options(const workload *w, int threads, int repeat)
{
    bnn_error e;
    bnn_arch a, ace;
    char acts[64];
    snprintf(acts, sizeof acts, "%s,identity", w->act);
    if (bnn_arch_parse(&a, w->arch, w->act, w->bias, &e) != 0 ||
        bnn_arch_parse(&ace, w->arch, NULL, w->bias, &e) != 0)
        cli_die(2, "bench: %s", e.msg);
    for (int l = 0; l < ace.nlayers; l++)
        ace.act[l] = l + 1 < ace.nlayers ? a.act[l] : BNN_ACT_IDENTITY;
    bnn_table t;
    bnn_data d;
    if (bnn_synth_open(&t, w->set, w->n, a.width[0], a.width[a.nlayers], 1, (size_t)8 << 30,
                       &e) != 0 ||
        bnn_data_make(&d, &t, NULL, a.width[0], a.width[a.nlayers], &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    const size_t batch = 256;
    double plain = 1e3 * time_fast_with(&a, &d, w->lr, threads, repeat, batch, BNN_LOSS_MSE,
                                        BNN_OPT_SGD);
    double opt = 1e3 * time_fast_with(&ace, &d, 1e-3, threads, repeat, batch, BNN_LOSS_CE,
                                      BNN_OPT_ADAM);
    double lsec;
    double adam = 1e3 * options_kernels_seconds(&ace, w->n, batch, &lsec), loss = 1e3 * lsec;
    printf("%-4s --batch %zu: plain %.2f ms/epoch; --loss cross-entropy --optimizer adam "
           "%.2f ms/epoch (%+.1f%%); kernels alone: Adam steps %.2f + cross-entropy %.2f ms/epoch "
           "= %.1f%% of it\n", w->id, batch, plain, opt, 100 * (opt / plain - 1), adam, loss,
           100 * (adam + loss) / opt);
    fflush(stdout);
    bnn_table_close(&t);
}

/* ---- the regression gate ---- */

typedef struct gate {
    json_object *base;
    double tolerance;
    int regressions, compared;
} gate;

static json_object *baseline_workload(json_object *base, const char *id)
{
    json_object *list;
    if (!json_object_object_get_ex(base, "workloads", &list) ||
        !json_object_is_type(list, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *w = json_object_array_get_idx(list, i), *v;
        if (json_object_object_get_ex(w, "id", &v) && strcmp(json_object_get_string(v), id) == 0)
            return w;
    }
    return NULL;
}

/* Compares quantities that survive a noisy machine, because both sides of each ratio were
 * measured in the same run: efficiency (floor / time) and the speedup over the reference. */
static void gate_check(gate *g, const char *id, const result *r)
{
    json_object *w = baseline_workload(g->base, id);
    if (!w) {
        printf("gate %-4s not in the baseline, not compared\n", id);
        return;
    }
    const struct {
        const char *key, *label;
        double now;
    } q[] = {{"efficiency", "efficiency", r->floor_ms / r->ms},
             {"reference_speedup", "speedup over reference", r->ref_speedup}};
    for (int i = 0; i < 2; i++) {
        json_object *v;
        if (!json_object_object_get_ex(w, q[i].key, &v))
            continue;
        double base = json_object_get_double(v);
        double change = base > 0 ? q[i].now / base - 1 : 0;
        int bad = base > 0 && q[i].now < (1 - g->tolerance) * base;
        g->compared++;
        g->regressions += bad;
        printf("gate %-4s %-24s baseline %9.4g  now %9.4g  change %+6.0f%%%s\n", id, q[i].label,
               base, q[i].now, 100 * change, bad ? "  REGRESSION" : "");
    }
}

int cli_bench(int argc, char **argv)
{
    const char *only = NULL, *json_path = NULL, *arch = NULL, *act = "sigmoid";
    const char *baseline = NULL;
    double tolerance = 0.5;
    int repeat = 5, threads = omp_get_num_procs();
    size_t n_user = 1 << 20;
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: batchnn bench [--workloads W1,W4] [--arch A --act X --samples N]\n"
                   "                     [--repeat R] [--threads T] [--json FILE]\n"
                   "                     [--baseline FILE.json [--tolerance 0.5]]\n\n"
                   "Measures this machine's sgemm rate, memory read bandwidth and sigmoid rate,\n"
                   "then each workload of shared/WORKLOADS.md (or --arch on synth:uniform):\n"
                   "median ms per epoch over R epochs after a warm-up (default 5), the floor the\n"
                   "machine allows and what bounds it, efficiency = floor / time, samples/s,\n"
                   "GFLOP/s, the time with 1 thread, and the speedup over the reference engine\n"
                   "(run on a prefix of the data). --json writes the same figures.\n"
                   "--baseline compares each workload's efficiency and speedup over the\n"
                   "reference (ratios measured in the same run, so they survive a noisy\n"
                   "machine) with a file written by --json, prints baseline, now and change,\n"
                   "and exits 1 when one fell below (1 - tolerance) x its baseline.\n"
                   "Without --baseline, W5 and W6 are also run with mini-batches of 256, plain\n"
                   "and with --loss cross-entropy --optimizer adam, with the time per epoch of\n"
                   "the Adam step and the cross-entropy kernels alone.\n");
            return 0;
        } else if (strcmp(argv[i], "--workloads") == 0 && v) {
            only = v;
            i++;
        } else if (strcmp(argv[i], "--baseline") == 0 && v) {
            baseline = v;
            i++;
        } else if (strcmp(argv[i], "--tolerance") == 0 && v) {
            char *end;
            tolerance = strtod(v, &end);
            if (*end || !(tolerance > 0 && tolerance < 1))
                cli_die(2, "--tolerance: '%s' is not a fraction between 0 and 1", v);
            i++;
        } else if (strcmp(argv[i], "--json") == 0 && v) {
            json_path = v;
            i++;
        } else if (strcmp(argv[i], "--arch") == 0 && v) {
            arch = v;
            i++;
        } else if (strcmp(argv[i], "--act") == 0 && v) {
            act = v;
            i++;
        } else if (strcmp(argv[i], "--samples") == 0 && v) {
            n_user = (size_t)cli_parse_u64("samples", v, 1, (uint64_t)1 << 40);
            i++;
        } else if (strcmp(argv[i], "--repeat") == 0 && v) {
            repeat = (int)cli_parse_u64("repeat", v, 1, 63);
            i++;
        } else if (strcmp(argv[i], "--threads") == 0 && v) {
            threads = (int)cli_parse_u64("threads", v, 1, 4096);
            i++;
        } else {
            cli_die(2, "bench: unknown or incomplete option '%s' (see 'batchnn bench --help')",
                    argv[i]);
        }
    }
    gate g = {0};
    g.tolerance = tolerance;
    if (baseline) {
        g.base = json_object_from_file(baseline);
        if (!g.base || !json_object_is_type(g.base, json_type_object))
            cli_die(1, "--baseline %s: cannot read it as JSON written by 'batchnn bench --json'",
                    baseline);
    }
    bnn_outfile jf = {0};
    bnn_error e;
    if (json_path && bnn_outfile_open(&jf, json_path, &e) != 0)
        cli_die(1, "--json %s", e.msg);
    double sgemm = probe_sgemm(threads), bw = probe_bandwidth(threads),
           sig = probe_sigmoid(threads);
    printf("machine: sgemm %.1f GFLOP/s, memory read %.1f GB/s, sigmoid %.2f G/s, %d thread%s; "
           "engine path %s%s\n", sgemm, bw, sig, threads, threads == 1 ? "" : "s",
           bnn_kernels()->isa, getenv("BATCHNN_PATH") ? " (BATCHNN_PATH set)" : "");
    printf("%-4s %-27s %9s %10s %9s %-15s %7s %10s %8s %9s %7s %10s\n", "id", "model", "n",
           "ms/epoch", "floor ms", "bound", "effic.", "samples/s", "GFLOP/s", "1 thr ms",
           "N/1", "vs ref");
    FILE *json = jf.fp;
    if (json)
        fprintf(json, "{\"machine\": {\"sgemm_gflops\": %.6g, \"read_gbs\": %.6g, "
                      "\"sigmoid_gs\": %.6g, \"isa\": \"%s\", \"threads\": %d},\n"
                      "  \"workloads\": [",
                sgemm, bw, sig, bnn_kernels()->isa, threads);
    int first = 1;
    if (arch) {
        workload w = {"user", arch, act, "synth:uniform", 1, n_user, n_user < 4096 ? n_user : 4096,
                      0.1};
        result r = run_workload(&w, threads, repeat, sgemm, bw, sig, json, first);
        if (g.base)
            gate_check(&g, w.id, &r);
    } else {
        result rs[sizeof workloads / sizeof workloads[0]];
        for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
            if (only && !strstr(only, workloads[i].id))
                continue;
            rs[i] = run_workload(&workloads[i], threads, repeat, sgemm, bw, sig, json, first);
            first = 0;
        }
        for (size_t i = 0; g.base && i < sizeof workloads / sizeof workloads[0]; i++)
            if (!only || strstr(only, workloads[i].id))
                gate_check(&g, workloads[i].id, &rs[i]);
        /* the training options on the wide workloads (not in the gate) */
        int header = 0;
        for (size_t i = 0; !g.base && i < sizeof workloads / sizeof workloads[0]; i++)
            if ((strcmp(workloads[i].id, "W5") == 0 || strcmp(workloads[i].id, "W6") == 0) &&
                (!only || strstr(only, workloads[i].id))) {
                if (!header++)
                    printf("training options (mini-batches of 256, median ms per epoch):\n");
                run_options(&workloads[i], threads, repeat);
            }
    }
    if (json) {
        fprintf(json, "\n  ]\n}\n");
        if (bnn_outfile_commit(&jf, &e) != 0)
            cli_die(1, "--json %s", e.msg);
    }
    if (g.base) {
        json_object_put(g.base);
        if (g.compared == 0)
            cli_die(1, "--baseline %s: no workload of this run is in the baseline", baseline);
        if (g.regressions) {
            printf("gate: %d of %d quantities fell below %.0f%% of their baseline\n",
                   g.regressions, g.compared, 100 * (1 - tolerance));
            return 1;
        }
        printf("gate: ok, %d quantities within %.0f%% of their baseline or better\n",
               g.compared, 100 * tolerance);
    }
    return 0;
}
