/*
 * bench.c - `batchnn bench`: measures this machine's limits (sgemm rate, memory read
 * bandwidth, sigmoid rate; the ping-pong latency of two threads, printed in the header and
 * over the M rows) and the workloads of bench/WORKLOADS.md (bench/workloads.h; or a
 * user-given architecture), and prints each one's time per epoch, floor, efficiency
 * (floor / time), 1 vs N threads, and the speedup over the reference engine, all measured in
 * the same run; the mini-batch workloads M1-M3 with 1 and N threads against their full-batch
 * epoch; and compares with a baseline (a file, or the one of this CPU and ISA path in a
 * directory of baselines), read through bnn_input (capped like every input) and checked
 * field by field before anything is measured.
 *
 * Epoch times are the per-epoch wall times that `batchnn train --log` reports (bnn_train's
 * on_epoch), median over --repeat epochs after one warm-up epoch, data generation excluded.
 * The reference engine runs a prefix of the data (per-sample rates are compared).
 * The machine's rates are the best of 5 runs (a limit, not a typical value).
 * Floors, as bench/WORKLOADS.md defines them: the largest of FLOPs / sgemm rate, bytes read /
 * bandwidth, sigmoids / sigmoid rate; for nets with a hidden layer wider than 4 the compute
 * and sigmoid terms share the FMA units and are added.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>
#include <json-c/json.h>

#include "train/bnn_train_internal.h"
#include "bnn_kernels.h" /* the one exception: the kernel micro-benchmarks (cli.h) */
#include "bench_bounds.h"
#include "cli.h"
#include "workloads.h"

typedef bnn_bench_workload workload;

/* ---- workloads ---- */

typedef struct result {
    double ms, ms1, floor_ms, gflops, samples_s, ref_speedup;
    const char *bound;
} result;

/* The machine: its limits (bench_bounds.c probes), the port model and clock of the path, the
 * ping-pong of two threads (pp.ns 0: n/a, one thread) and its words for the report. */
typedef struct machine {
    double sgemm, bw, sig, ghz;
    const bench_ports *ports;
    bench_pingpong pp;
    char pingpong[48];
} machine;

/* The instruction-mix estimate of arch a on n samples (bench_bounds.h), printed under the
 * workload's row and returned as JSON fields */
static void print_estimate(const bnn_arch *a, double n, double bytes, int threads,
                           const machine *mc, double ms, char *jbuf, size_t jlen)
{
    const bench_mix m = bench_mix_count(a, mc->ports);
    const char *port;
    const double cyc = bench_mix_cycles(&m, mc->ports, &port);
    const double mix_ms = mc->ghz > 0 ? 1e3 * cyc * n / (mc->ghz * 1e9 * threads) : 0;
    const double mem_ms = 1e3 * bytes / (mc->bw * 1e9), est = mix_ms > mem_ms ? mix_ms : mem_ms;
    const char *bound = mem_ms >= mix_ms ? "memory" : port;
    printf("     estimate: %.3g cycles/sample (%s ports, %s: %s) = %.2f ms at %.2f GHz x %d; "
           "memory %.2f ms; %s-bound: %.2f ms, %.0f%% of the measured time\n", cyc,
           mc->ports->isa, mc->ports->cpu, port, mix_ms, mc->ghz, threads, mem_ms, bound, est,
           100 * est / ms);
    snprintf(jbuf, jlen,
             ", \"mix_cycles_per_sample\": %.6g, \"mix_port\": \"%s\", \"mix_ms\": %.6g, "
             "\"memory_ms\": %.6g, \"estimate_bound\": \"%s\"",
             cyc, port, mix_ms, mem_ms, bound);
}

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
        cli_die(1, "bench: %s", cli_engine_msg(e.msg));
    bnn_model_free(&m);
    return bench_median(sec + 1, c.n - 1);
}

/* median seconds per epoch of `repeat` epochs after one warm-up, the plain full-batch run */
static double time_fast(const bnn_arch *a, const bnn_data *d, double lr, int threads, int repeat)
{
    return time_fast_with(a, d, lr, threads, repeat, 0, BNN_LOSS_MSE, BNN_OPT_SGD);
}

static double time_reference_per_sample(const bnn_arch *a, const bnn_data *d, size_t n)
{
    bnn_error e;
    size_t np = bnn_arch_nparams(a);
    bnn_model m;
    if (bnn_model_init(&m, a, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
    bnn_model_randomize(&m, 1);
    double *theta = bnn_theta_to_double(NULL, m.theta, np), *g = malloc(np * sizeof *g);
    if (!theta || !g)
        cli_die(1, "bench: out of memory");
    bnn_engine_opts ro = {.engine = BNN_ENGINE_REFERENCE, .gradient = BNN_GRAD_EXACT};
    bnn_engine *ref = cli_engine(a, &ro);
    double times[3], cost;
    for (int r = 0; r < 3; r++) {
        double t = bnn_now_seconds();
        if (bnn_engine_grad(ref, (bnn_vec){.d = theta}, d, 0, n, (bnn_vec){.d = g}, &cost, NULL,
                            &e) != 0)
            cli_die(1, "bench: %s", e.msg);
        for (size_t p = 0; p < np; p++)
            theta[p] -= 0.1 * g[p];
        times[r] = bnn_now_seconds() - t;
    }
    bnn_engine_free(ref);
    free(theta);
    free(g);
    bnn_model_free(&m);
    return bench_median(times, 3) / (double)n;
}

/* A workload's architecture and its synthetic data (seed 1, in memory up to 8 GiB). */
static void open_workload(const workload *w, bnn_arch *a, bnn_table *t, bnn_data *d)
{
    bnn_error e;
    if (bnn_arch_parse(a, w->arch, w->act, w->bias, &e) != 0)
        cli_die(EXIT_USAGE, "bench: %s", e.msg);
    const int64_t nin = a->width[0], nout = a->width[a->nlayers];
    if (bnn_synth_open(t, w->set, w->n, nin, nout, 1, (size_t)8 << 30, &e) != 0 ||
        bnn_data_make(d, t, NULL, nin, nout, &e) != 0)
        cli_die(1, "bench: %s", e.msg);
}

static result run_workload(const workload *w, int threads, int repeat, const machine *mc,
                           FILE *json, int first)
{
    const double sgemm = mc->sgemm, bw = mc->bw, sig = mc->sig;
    bnn_arch a;
    bnn_table t;
    bnn_data d;
    open_workload(w, &a, &t, &d);
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
    char mix[256];
    print_estimate(&a, n, bytes, threads, mc, r.ms, mix, sizeof mix);
    fflush(stdout);
    if (json)
        fprintf(json,
                "%s\n    {\"id\": \"%s\", \"arch\": \"%s\", \"act\": \"%s\", \"n\": %zu, "
                "\"ms_per_epoch\": %.6g, \"floor_ms\": %.6g, \"bound\": \"%s\", "
                "\"efficiency\": %.6g, \"samples_per_s\": %.6g, \"gflops\": %.6g, "
                "\"ms_per_epoch_1thread\": %.6g, \"thread_speedup\": %.6g, "
                "\"reference_speedup\": %.6g%s}",
                first ? "" : ",", w->id, w->arch, w->act, w->n, r.ms, r.floor_ms, r.bound,
                r.floor_ms / r.ms, r.samples_s, r.gflops, r.ms1, r.ms1 / r.ms, r.ref_speedup,
                mix);
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
        double t = bnn_now_seconds();
        for (size_t s = 0; s < steps; s++) {
            bnn_optim_step(&st, 1e-3, th, g, next);
            float *tmp = th;
            th = next;
            next = tmp;
        }
        double t1 = bnn_now_seconds(), c = 0;
        for (size_t s = 0; s < chunks; s++)
            k->loss_delta(d, K, z, K, y, K, K, chunk, 1.0f / 256, BNN_LOSS_CE, &c);
        double t2 = bnn_now_seconds();
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
    open_workload(w, &a, &t, &d);
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

/* ---- mini-batch workloads: 1 vs N threads, against the full-batch epoch ---- */

typedef struct mresult {
    double ms, ms1, full_ms;
} mresult;

/* The three figures are measured side by side in `repeat` rounds, each round a run of the
 * mini-batch epoch with N threads, one with 1 thread and one of the full-batch epoch (w->full's
 * net on the same data) with N threads, each one warm-up and one timed epoch; each figure is
 * the median over the rounds. A spell of a slower machine (a virtual machine's neighbours:
 * seconds long) then weighs on one round's three runs alike, not on a whole figure. */
static mresult run_minibatch(const workload *w, int threads, int repeat, FILE *json, int first)
{
    bnn_arch a;
    bnn_table t;
    bnn_data d;
    open_workload(w, &a, &t, &d);
    double ms[64], ms1[64], full[64];
    const int rounds = repeat < 64 ? repeat : 64;
    for (int k = 0; k < rounds; k++) {
        ms[k] = 1e3 * time_fast_with(&a, &d, w->lr, threads, 1, w->batch, BNN_LOSS_MSE,
                                     BNN_OPT_SGD);
        ms1[k] = threads > 1 ? 1e3 * time_fast_with(&a, &d, w->lr, 1, 1, w->batch, BNN_LOSS_MSE,
                                                    BNN_OPT_SGD)
                             : ms[k];
        full[k] = 1e3 * time_fast(&a, &d, w->lr, threads, 1);
    }
    mresult r = {bench_median(ms, rounds), bench_median(ms1, rounds),
                 bench_median(full, rounds)};
    const double speedup = r.ms1 / r.ms, vs_full = r.ms / r.full_ms;
    const int ok_speedup = !(w->min_speedup > 0) || speedup >= w->min_speedup;
    const int ok_full = !(w->max_vs_full > 0) || vs_full <= w->max_vs_full;
    char name[64], target[64] = "";
    snprintf(name, sizeof name, "%s %s", w->arch, w->act);
    if (w->min_speedup > 0)
        snprintf(target, sizeof target, "N/1 >= %.1f", w->min_speedup);
    if (w->max_vs_full > 0)
        snprintf(target + strlen(target), sizeof target - strlen(target), "%sepoch <= %.1fx %s",
                 *target ? ", " : "", w->max_vs_full, w->full);
    printf("%-4s %-27s %6zu %9zu %10.2f %9.2f %6.2fx %9.2f %6.2fx  %s: %s\n", w->id, name,
           w->batch, w->n, r.ms, r.ms1, speedup, r.full_ms, vs_full, target,
           ok_speedup && ok_full ? "met" : "MISSED");
    fflush(stdout);
    if (json)
        fprintf(json,
                "%s\n    {\"id\": \"%s\", \"arch\": \"%s\", \"act\": \"%s\", \"n\": %zu, "
                "\"batch\": %zu, \"ms_per_epoch\": %.6g, \"ms_per_epoch_1thread\": %.6g, "
                "\"thread_speedup\": %.6g, \"full_batch\": \"%s\", \"full_batch_ms\": %.6g, "
                "\"vs_full_batch\": %.6g, \"target_met\": %s}",
                first ? "" : ",", w->id, w->arch, w->act, w->n, w->batch, r.ms, r.ms1, speedup,
                w->full, r.full_ms, vs_full, ok_speedup && ok_full ? "true" : "false");
    bnn_table_close(&t);
    return r;
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
 * measured in the same run: efficiency (floor / time) and the speedup over the reference;
 * for the mini-batch workloads, the speedup of N threads over 1. Higher is better for each. */
typedef struct gate_quantity {
    const char *key, *label;
    double now;
} gate_quantity;

static void gate_check(gate *g, const char *id, const gate_quantity *q, int nq)
{
    json_object *w = baseline_workload(g->base, id);
    if (!w) {
        printf("gate %-4s not in the baseline, not compared\n", id);
        return;
    }
    for (int i = 0; i < nq; i++) {
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

/* ---- baselines per CPU: bench/baselines/<cpu-model-slug>[-f<family>m<model>]-<isa>.json ---- */

/* From /proc/cpuinfo ($BATCHNN_PROC_ROOT replaces /proc for tests): the CPU's model name (the
 * first "model name", or "unknown-cpu") and, when family and number are not NULL, the first
 * "cpu family" and "model" numbers (x86; -1 where absent): virtual machines often name every
 * AMD EPYC "AMD EPYC", Zen 3 (family 25, model 1) and Zen 4 (family 25, model 17) alike. */
static void cpu_model(char *buf, size_t len, int *family, int *number)
{
    const char *root = getenv("BATCHNN_PROC_ROOT");
    char path[4096], line[1024];
    int fam = -1, num = -1, named = 0;
    snprintf(path, sizeof path, "%s/cpuinfo", root && *root ? root : "/proc");
    snprintf(buf, len, "unknown-cpu");
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f) && (!named || fam < 0 || num < 0)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        const size_t key = strcspn(line, " \t:");
        int v;
        if (!named && strncmp(line, "model name", 10) == 0) {
            char *val = colon + 1;
            val += strspn(val, " \t");
            val[strcspn(val, "\n")] = '\0';
            if (*val)
                snprintf(buf, len, "%s", val);
            named = 1;
        } else if (sscanf(colon + 1, "%d", &v) == 1 && v >= 0) {
            if (fam < 0 && strncmp(line, "cpu family", 10) == 0)
                fam = v;
            else if (num < 0 && key == 5 && strncmp(line, "model", 5) == 0)
                num = v;
        }
    }
    if (f)
        fclose(f);
    if (family)
        *family = fam;
    if (number)
        *number = num;
}

/* The baseline's name for this CPU and ISA path: the model name in lower case without "(r)"
 * and "(tm)", every run of other characters than letters and digits as one '-', then
 * "-f<family>m<model>" when /proc/cpuinfo gives both numbers, then '-' and the ISA path:
 * "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", family 6, model 85 ->
 * intel-xeon-gold-6248-cpu-2-50ghz-f6m85, + "-avx512". */
static void baseline_id(char *buf, size_t len, const char *isa)
{
    char model[512], slug[512];
    int family, number;
    cpu_model(model, sizeof model, &family, &number);
    size_t k = 0;
    for (const char *p = model; *p && k + 1 < sizeof slug; p++) {
        char c = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        if (strncmp(p, "(R)", 3) == 0 || strncmp(p, "(r)", 3) == 0) {
            p += 2;
            continue;
        }
        if (strncmp(p, "(TM)", 4) == 0 || strncmp(p, "(tm)", 4) == 0) {
            p += 3;
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            slug[k++] = c;
        else if (k > 0 && slug[k - 1] != '-')
            slug[k++] = '-';
    }
    while (k > 0 && slug[k - 1] == '-')
        k--;
    slug[k] = '\0';
    char fm[32] = "";
    if (family >= 0 && number >= 0)
        snprintf(fm, sizeof fm, "-f%dm%d", family, number);
    snprintf(buf, len, "%s%s-%s", k ? slug : "unknown-cpu", fm, isa);
}

/* --baseline PATH: a file written by --json, or a directory holding <baseline id>.json.
 * Exits 3 (before measuring anything) when the directory has none for this CPU and path. */
static json_object *load_baseline(const char *path, char *chosen, size_t len)
{
    struct stat st;
    snprintf(chosen, len, "%s", path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char id[600], model[512];
        baseline_id(id, sizeof id, bnn_engine_isa());
        snprintf(chosen, len, "%s/%s.json", path, id);
        if (stat(chosen, &st) != 0) {
            cpu_model(model, sizeof model, NULL, NULL);
            fprintf(stderr, "batchnn: bench: --baseline %s: no baseline for this CPU (%s) and "
                            "ISA path %s: %s.json is not there; compare with an A/B run instead\n",
                    path, model, bnn_engine_isa(), id);
            exit(3);
        }
    }
    return cli_read_baseline(chosen);
}

/* ---- the command ---- */

static void usage_bench(void)
{
    printf(
        "usage: batchnn bench [--workloads W1,W4,M2] [--arch A --act X --samples N]\n"
        "                     [--repeat R] [--threads T] [--json FILE]\n"
        "                     [--baseline FILE.json|DIR [--tolerance 0.5]] [--baseline-id]\n"
        "       batchnn bench --print-args ID | --list-workloads\n"
        "\n"
        "Measures this machine's sgemm rate, memory read bandwidth and sigmoid rate, and the\n"
        "ping-pong latency of 2 threads: an OpenMP team of 2, placed as the engine's team is,\n"
        "bounces one cache line; the median round trip in ns of 11 trials (n/a with 1 thread),\n"
        "the best trial's, and the share of waits that yielded the CPU (the other thread was\n"
        "not running: a busy machine); also over the M rows, whose threads hand work over at\n"
        "that cost. Then each workload of bench/WORKLOADS.md (all; or --arch on synth:uniform):\n"
        "  W1-W6  full batch: median ms per epoch over R epochs after a warm-up (default 5),\n"
        "         the floor the machine allows and what bounds it, efficiency = floor / time,\n"
        "         samples/s, GFLOP/s, the time with 1 thread, and the speedup over the\n"
        "         reference engine (run on a prefix of the data); under each, the estimate:\n"
        "         cycles per sample from the kernels' instruction mix against the ports\n"
        "         of the path (the busiest port named), as ms at the measured clock, the\n"
        "         memory time beside it, and which of the two bounds the workload\n"
        "  M1-M3  mini-batch SGD, batches in data order (M1, M2: W5 at --batch 64, 256; M3: W4\n"
        "         at --batch 1024): ms per epoch with T and 1 threads, their ratio N/1, and the\n"
        "         epoch against the full-batch one (W5, W4), with the targets met or MISSED;\n"
        "         the three are timed in R interleaved rounds (a warm-up and a timed epoch\n"
        "         each), medians over the rounds\n"
        "Without --baseline, W5 and W6 are also run with mini-batches of 256, plain and with\n"
        "--loss cross-entropy --optimizer adam, with the time per epoch of the Adam step and\n"
        "the cross-entropy kernels alone.\n"
        "\n"
        "--json FILE writes the figures: {\"machine\": {sgemm_gflops, read_gbs, sigmoid_gs, isa,\n"
        "threads, cpu, baseline_id, clock_ghz, pingpong_ns (0: n/a), pingpong_best_ns,\n"
        "pingpong_yielded}, \"workloads\": [{id, arch, act, n, ms_per_epoch,\n"
        "ms_per_epoch_1thread, thread_speedup, and for W: floor_ms, bound, efficiency,\n"
        "samples_per_s, gflops, reference_speedup, mix_cycles_per_sample, mix_port, mix_ms,\n"
        "memory_ms, estimate_bound; for M: batch, full_batch, full_batch_ms, vs_full_batch,\n"
        "target_met}]}.\n"
        "\n"
        "--baseline compares quantities measured as ratios within one run (they survive a noisy\n"
        "machine): each W workload's efficiency and speedup over the reference, each M\n"
        "workload's thread speedup, with a file written by --json; it prints baseline, now and\n"
        "change, and exits 1 when one fell below (1 - tolerance) x its baseline. A baseline is\n"
        "a property of a CPU: given a directory (bench/baselines), bench takes from it the file\n"
        "<cpu-model-slug>-f<family>m<model>-<isa>.json matching /proc/cpuinfo's model name,\n"
        "CPU family and model numbers and the ISA path in use (BATCHNN_ISA), and when there\n"
        "is none exits 3 before measuring anything, saying\n"
        "so: the caller then compares by an A/B run (bench/compare.sh). --baseline-id prints\n"
        "that name (without .json) and exits: record a baseline with\n"
        "  batchnn bench --json bench/baselines/$(batchnn bench --baseline-id).json\n"
        "--print-args ID prints the batchnn train options that run workload ID (one line: the\n"
        "scripts in bench/ time whole training runs with them, adding --seed, --epochs,\n"
        "--threads) and exits; --list-workloads prints the ids, comma-separated.\n"
        "Exit status: 0 ok, 1 a regression (or an error), 2 a bad command line, 3 no baseline\n"
        "for this CPU in the directory.\n");
}

/* --print-args ID: the `batchnn train` options of a workload, from its one definition
 * (bench/workloads.h), so that scripts timing training runs need no copy of it. */
static void print_args(const char *id)
{
    for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++) {
        const workload *w = &bnn_bench_workloads[i];
        if (strcmp(w->id, id) != 0)
            continue;
        char lr[32]; /* the shortest of %g and %.17g that reads back as the same double */
        snprintf(lr, sizeof lr, "%g", w->lr);
        if (strtod(lr, NULL) != w->lr)
            snprintf(lr, sizeof lr, "%.17g", w->lr);
        printf("--arch %s --act %s%s --data %s --samples %zu --lr %s", w->arch, w->act,
               w->bias ? "" : " --no-bias", w->set, w->n, lr);
        if (w->batch)
            printf(" --batch %zu", w->batch);
        printf("\n");
        return;
    }
    cli_die(EXIT_USAGE, "bench: --print-args: '%s' is not a workload (W1-W6, M1-M3)", id);
}

/* --workloads: a comma-separated list of known ids; sel[i] set for each, or exit 2. */
static void select_workloads(const char *list, int *sel)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < BNN_BENCH_NWORKLOADS && !(strlen(bnn_bench_workloads[i].id) == len &&
                                             strncmp(bnn_bench_workloads[i].id, p, len) == 0))
            i++;
        if (i == BNN_BENCH_NWORKLOADS)
            cli_die(EXIT_USAGE, "bench: --workloads: '%.*s' is not a workload (W1-W6, M1-M3, "
                    "comma-separated)", (int)len, p);
        sel[i] = 1;
        p += len + (p[len] == ',');
    }
}

/* The selected workloads (or the --arch one), their tables and JSON entries, each checked
 * against the baseline in g when there is one; then the training options on W5 and W6 when
 * there is no baseline. */
static void run_selected(const int *sel, const char *arch, const char *act, size_t n_user,
                         int threads, int repeat, const machine *mc, FILE *json, gate *g)
{
    int first = 1, any_full = arch != NULL, any_mini = 0;
    for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++) {
        any_full |= sel[i] && !bnn_bench_workloads[i].batch;
        any_mini |= sel[i] && bnn_bench_workloads[i].batch;
    }
    if (any_full)
        printf("%-4s %-27s %9s %10s %9s %-15s %7s %10s %8s %9s %7s %10s\n", "id", "model", "n",
               "ms/epoch", "floor ms", "bound", "effic.", "samples/s", "GFLOP/s", "1 thr ms",
               "N/1", "vs ref");
    if (arch) {
        workload w = {"user", arch, act, "synth:uniform", 1, n_user, n_user < 4096 ? n_user : 4096,
                      0.1, 0, NULL, 0, 0};
        result r = run_workload(&w, threads, repeat, mc, json, first);
        gate_quantity q[] = {{"efficiency", "efficiency", r.floor_ms / r.ms},
                             {"reference_speedup", "speedup over reference", r.ref_speedup}};
        if (g->base)
            gate_check(g, w.id, q, 2);
    }
    gate_quantity gq[BNN_BENCH_NWORKLOADS][2];
    for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++) {
        const workload *w = &bnn_bench_workloads[i];
        if (!sel[i] || w->batch)
            continue;
        result r = run_workload(w, threads, repeat, mc, json, first);
        first = 0;
        gq[i][0] = (gate_quantity){"efficiency", "efficiency", r.floor_ms / r.ms};
        gq[i][1] = (gate_quantity){"reference_speedup", "speedup over reference", r.ref_speedup};
    }
    if (any_mini) /* the threads hand work over per batch: at the ping-pong's cost */
        printf("mini-batches (SGD, batches in data order): ms per epoch with %d and 1 thread%s; "
               "ping-pong %s\n%-4s %-27s %6s %9s %10s %9s %7s %9s %7s  %s\n", threads,
               threads == 1 ? "" : "s", mc->pingpong, "id", "model", "batch", "n", "ms/epoch",
               "1 thr ms", "N/1", "full ms", "x full", "targets");
    for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++) {
        const workload *w = &bnn_bench_workloads[i];
        if (!sel[i] || !w->batch)
            continue;
        mresult r = run_minibatch(w, threads, repeat, json, first);
        first = 0;
        gq[i][0] = (gate_quantity){"thread_speedup", "speedup N/1 threads", r.ms1 / r.ms};
    }
    for (size_t i = 0; g->base && i < BNN_BENCH_NWORKLOADS; i++)
        if (sel[i])
            gate_check(g, bnn_bench_workloads[i].id, gq[i], bnn_bench_workloads[i].batch ? 1 : 2);
    /* the training options on the wide workloads (not in the gate) */
    int header = 0;
    for (size_t i = 0; !g->base && i < BNN_BENCH_NWORKLOADS; i++)
        if (sel[i] && (strcmp(bnn_bench_workloads[i].id, "W5") == 0 ||
                       strcmp(bnn_bench_workloads[i].id, "W6") == 0)) {
            if (!header++)
                printf("training options (mini-batches of 256, median ms per epoch):\n");
            run_options(&bnn_bench_workloads[i], threads, repeat);
        }
}

/* The gate's verdict after the run: 0 (no baseline, or none fell), 1 (regressions), or exit 1
 * when no workload of the run is in the baseline. */
static int gate_verdict(gate *g, const char *chosen, double tolerance)
{
    if (!g->base)
        return 0;
    json_object_put(g->base);
    if (g->compared == 0)
        cli_die(1, "--baseline %s: no workload of this run is in the baseline", chosen);
    if (g->regressions) {
        printf("gate: %d of %d quantities fell below %.0f%% of their baseline\n",
               g->regressions, g->compared, 100 * (1 - tolerance));
        return 1;
    }
    printf("gate: ok, %d quantities within %.0f%% of their baseline or better\n", g->compared,
           100 * tolerance);
    return 0;
}

int cli_cmd_bench(int argc, char **argv)
{
    cli_opt opts[] = {
        {"workloads", 1, 0, 0}, {"arch", 1, 0, 0},     {"act", 1, 0, 0},
        {"samples", 1, 0, 0},   {"repeat", 1, 0, 0},   {"threads", 1, 0, 0},
        {"json", 1, 0, 0},      {"baseline", 1, 0, 0}, {"tolerance", 1, 0, 0},
        {"baseline-id", 0, 0, 0}, {"print-args", 1, 0, 0}, {"list-workloads", 0, 0, 0},
        {0, 0, 0, 0},
    };
    if (cli_parse_opts("bench", argc, argv, opts, NULL, 0, usage_bench) < 0)
        return 0;
    if (cli_opt_flag(opts, "print-args")) {
        print_args(cli_opt_str(opts, "print-args", ""));
        return 0;
    }
    if (cli_opt_flag(opts, "list-workloads")) {
        for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++)
            printf("%s%s", i ? "," : "", bnn_bench_workloads[i].id);
        printf("\n");
        return 0;
    }
    char id[600];
    baseline_id(id, sizeof id, bnn_engine_isa());
    if (cli_opt_flag(opts, "baseline-id")) {
        printf("%s\n", id);
        return 0;
    }
    const char *json_path = cli_opt_str(opts, "json", NULL);
    const char *arch = cli_opt_str(opts, "arch", NULL), *act = cli_opt_str(opts, "act", "sigmoid");
    const char *baseline = cli_opt_str(opts, "baseline", NULL);
    double tolerance = cli_parse_double("tolerance", cli_opt_str(opts, "tolerance", "0.5"));
    if (!(tolerance > 0 && tolerance < 1))
        cli_die(EXIT_USAGE, "--tolerance: '%s' is not a fraction between 0 and 1",
                cli_opt_str(opts, "tolerance", ""));
    int repeat = (int)cli_parse_u64("repeat", cli_opt_str(opts, "repeat", "5"), 1, 63);
    int threads = cli_parse_threads(cli_opt_str(opts, "threads", "0"));
    threads = threads ? threads : omp_get_num_procs();
    size_t n_user = (size_t)cli_parse_u64("samples", cli_opt_str(opts, "samples", "2^20"), 1,
                                          (uint64_t)1 << 40);
    int sel[BNN_BENCH_NWORKLOADS] = {0};
    if (cli_opt_flag(opts, "workloads") && !arch) /* --arch replaces the workloads */
        select_workloads(cli_opt_str(opts, "workloads", ""), sel);
    else
        for (size_t i = 0; i < BNN_BENCH_NWORKLOADS; i++)
            sel[i] = !arch;

    const cli_path paths[] = {{"baseline", baseline, CLI_IN}, {"json", json_path, CLI_OUT}};
    cli_check_paths(paths, 2); /* --json may not replace the --baseline it is compared with */
    gate g = {0};
    g.tolerance = tolerance;
    char chosen[4096];
    if (baseline)
        g.base = load_baseline(baseline, chosen, sizeof chosen);
    bnn_outfile jf = {0};
    bnn_error e;
    if (json_path && bnn_outfile_open(&jf, json_path, &e) != 0)
        cli_die(1, "--json %s", e.msg);
    char model[512];
    cpu_model(model, sizeof model, NULL, NULL);
    machine mc = {bench_probe_sgemm(threads), bench_probe_bandwidth(threads),
                  bench_probe_sigmoid(threads), bench_probe_ghz(),
                  bench_ports_for(bnn_engine_isa()), bench_probe_pingpong(threads), ""};
    if (mc.pp.ns > 0)
        snprintf(mc.pingpong, sizeof mc.pingpong, "%.0f ns round trip", mc.pp.ns);
    else /* one thread, or a team of one (OMP_THREAD_LIMIT) */
        snprintf(mc.pingpong, sizeof mc.pingpong, "n/a (1 thread)");
    const double sgemm = mc.sgemm, bw = mc.bw, sig = mc.sig;
    printf("machine: %s; sgemm %.1f GFLOP/s, memory read %.1f GB/s, sigmoid %.2f G/s, clock "
           "%.2f GHz, %d thread%s; engine path %s%s\n", model, sgemm, bw, sig, mc.ghz, threads,
           threads == 1 ? "" : "s", bnn_engine_isa(),
           getenv("BATCHNN_PATH") ? " (BATCHNN_PATH set)" : "");
    if (mc.pp.ns > 0)
        printf("ping-pong 2 threads: %s (a cache line between the 2 threads of a team: median "
               "of 11 trials, best %.0f ns; %.0f%% of the waits yielded the CPU)\n",
               mc.pingpong, mc.pp.best_ns, 100 * mc.pp.yielded);
    else
        printf("ping-pong 2 threads: %s\n", mc.pingpong);
    if (g.base)
        printf("baseline: %s\n", chosen);
    FILE *json = jf.fp;
    if (json)
        fprintf(json, "{\"machine\": {\"sgemm_gflops\": %.6g, \"read_gbs\": %.6g, "
                      "\"sigmoid_gs\": %.6g, \"isa\": \"%s\", \"threads\": %d, \"cpu\": \"%s\", "
                      "\"baseline_id\": \"%s\", \"clock_ghz\": %.6g, \"pingpong_ns\": %.6g, "
                      "\"pingpong_best_ns\": %.6g, \"pingpong_yielded\": %.6g},\n"
                      "  \"workloads\": [",
                sgemm, bw, sig, bnn_engine_isa(), threads, model, id, mc.ghz, mc.pp.ns,
                mc.pp.best_ns, mc.pp.yielded);
    run_selected(sel, arch, act, n_user, threads, repeat, &mc, json, &g);
    if (json) {
        fprintf(json, "\n  ]\n}\n");
        if (bnn_outfile_commit(&jf, &e) != 0)
            cli_die(1, "--json %s", e.msg);
    }
    return gate_verdict(&g, chosen, tolerance);
}
