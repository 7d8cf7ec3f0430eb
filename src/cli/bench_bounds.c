/*
 * bench_bounds.c - `batchnn bench`'s instruction-mix estimate (bench_bounds.h): per workload,
 * the vector operations per sample its kernels execute, counted from the net's shape the way
 * kernels/narrow_impl.h, kernels/sigmoid_simd.h and the GEMM path run it, against the ports
 * of the CPU path (ports[] below), give the cycles per sample the busiest port needs. With
 * the clock (bench_probe_ghz) and the threads that is a time, printed next to the measured
 * one: where the two agree the kernel is at what the instruction mix allows, and the port
 * named says what would have to shrink (the divide of the sigmoid, the multiply-adds, the
 * shuffles that split rows into features).
 *
 * It also holds the machine probes the floors use (sgemm, memory read, sigmoid rate: moved
 * here from bench.c unchanged) and the core-to-core ping-pong latency (bench_probe_pingpong),
 * so that bench.c keeps the workloads and the report.
 *
 * An estimate, not a simulation: latencies, the front end and the caches are left out
 * (every kernel keeps enough independent chains in flight that throughput, not latency,
 * binds), and so is the memory bandwidth, which bench.c compares with separately.
 */
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_bounds.h"
#include "train/bnn_train_internal.h"
#include "bnn_kernels.h"

/* ---- the machine's limits (bench/WORKLOADS.md "Floors"), each the best of 5 runs ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_probe_sgemm(int threads)
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
        double t = bnn_now_seconds();
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
        times[r] = bnn_now_seconds() - t;
    }
    openblas_set_num_threads(1);
    bnn_free(A);
    bnn_free(B);
    bnn_free(C);
    qsort(times, 5, sizeof *times, cmp_double); /* the machine's limit: the best run */
    return 2.0 * n * (double)n * n / times[0] * 1e-9;
}

double bench_probe_bandwidth(int threads)
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
        double t = bnn_now_seconds();
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
        times[r] = bnn_now_seconds() - t;
        sink = total;
    }
    (void)sink;
    bnn_free(a);
    qsort(times, 5, sizeof *times, cmp_double);
    return (double)n * sizeof(float) / times[0] * 1e-9;
}

/* One round of bench_probe_sigmoid (below): the sum of the threads' best rates, G/s. */
static double sigmoid_round(const bnn_kernel_table *k, int threads)
{
    const size_t n = 4096, reps = 1000;
    double rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
        float *x = bnn_alloc(n, sizeof(float)), *y = bnn_alloc(n, sizeof(float));
        if (x && y) {
            for (size_t i = 0; i < n; i++)
                x[i] = -20.0f + 40.0f * (float)i / (float)n;
            k->sigmoid(y, x, n);
        }
        double best = INFINITY;
        for (int r = 0; r < 15; r++) {
#pragma omp barrier
            if (!x || !y)
                continue;
            const double t0 = bnn_now_seconds();
            for (size_t i = 0; i < reps; i++)
                k->sigmoid(y, x, n);
            const double t = bnn_now_seconds() - t0;
            best = t < best ? t : best;
        }
        if (best < INFINITY)
            rate += (double)n * reps / best * 1e-9;
        bnn_free(x);
        bnn_free(y);
    }
    return rate;
}

/* The best sigmoid this CPU has (whatever BATCHNN_ISA forces for the engine: the floor is
 * the machine's, so that a forced slower path shows up as lower efficiency). Every thread
 * runs 15 trials of 1000 calls on 4096 floats (about 1 ms each; the threads start each trial
 * together, so they share the machine as the engine's team does) and keeps its own fastest:
 * a round's rate is the sum of the threads' best rates, and the probe's the best of 3 rounds.
 * (The team's fastest trial, its slowest thread's time, measured 5.5 to 7.7 G/s in
 * back-to-back runs on a shared 2-core VM: a thread preempted for part of a trial set the
 * whole trial. One round gave 8.58-9.58 G/s in 8 runs, once 4.90; 3 rounds 9.23-9.58.) */
double bench_probe_sigmoid(int threads)
{
    const bnn_kernel_table *k = bnn_kernels_named("auto");
    if (!k)
        k = bnn_kernels();
    double best = 0;
    for (int round = 0; round < 3; round++) {
        const double rate = sigmoid_round(k, threads);
        best = rate > best ? rate : best;
    }
    return best;
}

/* ---- the core-to-core latency: one cache line bounced between two threads ---- */

#define PP_TRIALS 11  /* timed trials, after one warm-up */
#define PP_ROUNDS 500 /* round trips per trial: well under a millisecond between near CPUs */
#define PP_SPINS 4096 /* polls before a waiting thread yields its CPU */

/* Waits until *flag holds v. After PP_SPINS polls it yields at every poll: where the two
 * threads share one CPU (an affinity mask of one, an oversubscribed machine) the other thread
 * then runs within a time slice's switch instead of after it, and the probe ends. Returns 1
 * when it yielded (the other thread was not running), else 0. */
static int pp_wait(atomic_long *flag, long v)
{
    int yielded = 0;
    for (long spins = 0; atomic_load_explicit(flag, memory_order_acquire) != v; spins++)
        if (spins >= PP_SPINS) {
            sched_yield();
            yielded = 1;
        }
    return yielded;
}

bench_pingpong bench_probe_pingpong(int threads)
{
    bench_pingpong r = {0, 0, 0};
    if (threads < 2)
        return r;
    /* the line alone: nothing else of the stack shares it */
    _Alignas(128) struct {
        atomic_long flag;
        char pad[128 - sizeof(atomic_long)];
    } line;
    atomic_init(&line.flag, 0);
    double ns[PP_TRIALS];
    int team = 0;
    long yields = 0;
#pragma omp parallel num_threads(2) reduction(+ : yields)
    {
        const int me = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        /* the implicit barrier of single: both threads are running, or team is 1 */
        if (team == 2) {
            long v = 0; /* thread 0 writes the odd values, thread 1 the even ones */
            for (int t = -1; t < PP_TRIALS; t++) { /* t = -1: a warm-up trial */
                const double t0 = me == 0 ? bnn_now_seconds() : 0;
                for (int i = 0; i < PP_ROUNDS; i++, v += 2) {
                    int yielded;
                    if (me == 0) {
                        atomic_store_explicit(&line.flag, v + 1, memory_order_release);
                        yielded = pp_wait(&line.flag, v + 2);
                    } else {
                        yielded = pp_wait(&line.flag, v + 1);
                        atomic_store_explicit(&line.flag, v + 2, memory_order_release);
                    }
                    yields += t >= 0 ? yielded : 0;
                }
                if (me == 0 && t >= 0)
                    ns[t] = (bnn_now_seconds() - t0) * 1e9 / PP_ROUNDS;
            }
        }
    }
    if (team != 2)
        return r;
    r.ns = bench_median(ns, PP_TRIALS); /* sorted: ns[0] is the best */
    r.best_ns = ns[0];
    r.yielded = (double)yields / (2.0 * PP_TRIALS * PP_ROUNDS);
    return r;
}

/* ---- the instruction-mix estimate ---- */

/* The port model per CPU path. Measured on an AMD EPYC Zen 4 (family 25 model 17) with
 * loops of 8 independent chains of one instruction, timed in thread CPU time against the
 * clock of bench_probe_ghz: ymm vfmadd/vmulps 2 per cycle, vaddps 2, vpermps/vshufps/vblendvps
 * 2, vdivps one per 3 cycles; zmm (double-pumped on Zen 4's 256-bit pipes) vfmadd 1 per cycle,
 * vaddps 1, vpermt2ps 1, vdivps one per 6 cycles. A divide is not free beside multiply-adds:
 * 24 independent vfmadd (8 chains) take 24 zmm cycles alone, 32 with 4 independent vdivps
 * mixed in (2 FMA slots a divide), and 12 ymm cycles alone, 17 with 4 ymm divides (2.5 ymm FMA
 * slots a divide); beside adds a divide costs nothing (24 vaddps + 4 vdivps: 24 cycles, both
 * widths). Loads: 3 ymm (2 zmm: 1.5 taken) per cycle, from AMD's optimisation guide. The
 * AVX2 row serves AVX2-only CPUs too (Zen 2: the same pipes, a slower divider: an estimate
 * there is a lower bound). */
static const bench_ports ports[] = {
    /* isa      cpu                lanes fma  add  shuf div  div_fma pipes load */
    {"avx512", "AMD Zen 4", 16, 1.0, 1.0, 1.0, 6.0, 2.0, 2.0, 1.5},
    {"avx2", "AMD Zen 4", 8, 2.0, 2.0, 2.0, 3.0, 2.5, 4.0, 3.0},
    {"scalar", "AMD Zen 4", 1, 2.0, 2.0, 2.0, 3.0, 0.0, 4.0, 3.0},
};

const bench_ports *bench_ports_for(const char *isa)
{
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        if (isa && strcmp(isa, ports[i].isa) == 0)
            return &ports[i];
    return &ports[sizeof ports / sizeof ports[0] - 1];
}

/* Operations per vector of samples of one activation unit: act (forward), folded = the
 * narrow kernels' sigmoid of t = -z log2e (sigmoid_simd.h: bnn_sigmoid2, 4 multiply-adds
 * and a multiply, 5 on the multiply pipes; the GEMM path's bnn_sigmoid1 has 8) */
static void act_ops(bench_mix *m, bnn_act act, int folded)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        /* poly; max, round, a subtract and a conversion (or min, -magic, 2 Cody-Waite in
         * fma), +1, the fast-path compare; exponent shift and add, the lane test; one
         * divide */
        m->fma += folded ? 5 : 8;
        m->add += folded ? 6 : 4;
        m->other += 3;
        m->div += 1;
        break;
    case BNN_ACT_TANH: /* from the same exponential: about the sigmoid's count */
        m->fma += 8;
        m->add += 5;
        m->other += 3;
        m->div += 1;
        break;
    case BNN_ACT_RELU:
        m->add += 1;
        break;
    default:
        break;
    }
}

/* act'(a) times the backpropagated sum: the slope (a - a^2: one FNMA; relu a compare and a
 * mask) and the product; identity's slope is the constant 1 */
static void slope_ops(bench_mix *m, bnn_act act)
{
    if (act == BNN_ACT_IDENTITY)
        return;
    m->fma += act == BNN_ACT_RELU ? 1 : 2;
    m->add += act == BNN_ACT_RELU ? 1 : 0;
}

/* the tiny kernel's row split (kernels_avx2.c, kernels_avx512.c bnn_narrow_deint): per
 * vector, rows of ld floats into ld feature vectors */
static void deint_ops(bench_mix *m, int ld, int lanes)
{
    m->load += ld;
    if (ld == 1 || lanes == 1)
        return;
    if (lanes == 16) { /* per feature ceil(ld / 2) vpermt2ps and that less one masked move */
        m->shuf += ld * (2.0 * ((ld + 1) / 2) - 1);
        return;
    }
    if (ld == 2)
        m->shuf += 4; /* 2 vshufps + 2 vpermpd */
    else if (ld % 2) /* per feature ld - 1 blends and one vpermps */
        m->shuf += ld * ld;
    else /* per feature ld vpermps and ld - 1 blends */
        m->shuf += ld * (2.0 * ld - 1);
}

/* the narrow path's single-pass kernel takes this shape (narrow_impl.h NT_SHAPES) */
static int tiny_shape(const bnn_arch *a)
{
    const int L = a->nlayers;
    const int64_t nin = a->width[0], nout = a->width[L];
    for (int l = 1; l < L; l++)
        if (a->act[l] != a->act[0])
            return 0;
    if (L == 1)
        return nout == 1 ? nin <= 4 : nout == 2 && nin <= 2;
    if (L > 4 || nin > 2 || nout != 1)
        return 0;
    for (int l = 1; l < L; l++)
        if (a->width[l] > 2 || a->width[l] != a->width[1])
            return 0;
    return 1;
}

static int narrow_shape(const bnn_arch *a)
{
    if (a->nlayers > 32)
        return 0;
    for (int l = 0; l <= a->nlayers; l++)
        if (a->width[l] > 32)
            return 0;
    return 1;
}

bench_mix bench_mix_count(const bnn_arch *a, const bench_ports *p)
{
    bench_mix m = {0};
    const int L = a->nlayers, tiny = tiny_shape(a), narrow = narrow_shape(a);
    const int folded = narrow && p->lanes > 1;
    const double nin = (double)a->width[0], nout = (double)a->width[L];
    for (int l = 0; l < L; l++) {
        const double in = (double)a->width[l], out = (double)a->width[l + 1];
        const double io = in * out;
        m.fma += io + io + (l > 0 ? io : 0); /* forward, gradient, the sum passed down */
        for (int j = 0; j < (int)out; j++)
            act_ops(&m, a->act[l], folded);
        m.add += a->bias[l] ? out : 0; /* the bias gradient */
        if (l > 0)
            for (int k = 0; k < (int)in; k++)
                slope_ops(&m, a->act[l - 1]);
        if (narrow && !tiny) {
            /* the layer-wise kernel's tiles: a load per input row and NW_FJ outputs
             * (forward, backward), (TJ + TK) per TJ x TK gradient tile, a store per output */
            const double fj = p->lanes >= 16 ? 4 : p->lanes >= 8 ? 3 : 2;
            const double tj = p->lanes >= 16 ? 4 : p->lanes >= 8 ? 4 : 2;
            const double tk = p->lanes >= 16 ? 4 : p->lanes >= 8 ? 3 : 2;
            m.load += in * out / fj + out + (l > 0 ? in * out / fj + 2 * in : 0) +
                      io * (tj + tk) / (tj * tk);
        }
    }
    m.add += nout;                      /* output - target */
    m.fma += nout * 2;                  /* the squared error's FMA, times the output scale */
    for (int j = 0; j < (int)nout; j++) /* times the output activation's slope */
        slope_ops(&m, a->act[L - 1]);
    if (tiny)
        deint_ops(&m, (int)(nin + nout), p->lanes);
    m.fma /= p->lanes;
    m.add /= p->lanes;
    m.shuf /= p->lanes;
    m.div /= p->lanes;
    m.other /= p->lanes;
    m.load /= p->lanes;
    if (narrow && !tiny) /* its transpose: a scalar load and store per sample and feature */
        m.load += 2 * (nin + nout);
    return m;
}

double bench_mix_cycles(const bench_mix *m, const bench_ports *p, const char **bound)
{
    const struct {
        const char *name;
        double cycles;
    } port[] = {
        {"FMA ports", (m->fma + m->div * p->div_fma) / p->fma},
        {"add ports", m->add / p->add},
        {"shuffles", m->shuf / p->shuf},
        {"divide (sigmoid)", m->div * p->div},
        /* a divide issues as the FMA slots it takes, at least one */
        {"vector issue",
         (m->fma + m->add + m->shuf + m->div * (p->div_fma > 1 ? p->div_fma : 1) + m->other) /
             p->pipes},
        {"loads", m->load / p->load},
    };
    size_t best = 0;
    for (size_t i = 1; i < sizeof port / sizeof port[0]; i++)
        if (port[i].cycles > port[best].cycles)
            best = i;
    if (bound)
        *bound = port[best].name;
    return port[best].cycles;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* ns of thread CPU time: a busy machine slows the wall clock, not the thread's own cycles */
static double thread_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double bench_probe_ghz(void)
{
    const long n = 20000000; /* 80 M adds: about 20 ms */
    double best = 0;
    for (int r = 0; r < 5; r++) {
        unsigned long x = (unsigned long)r;
        const double t = thread_seconds();
        for (long i = 0; i < n; i++) {
            /* four dependent adds; the empty asm keeps each one (the compiler cannot fold
             * them into one) */
            x += 1;
            __asm__ volatile("" : "+r"(x));
            x += 3;
            __asm__ volatile("" : "+r"(x));
            x += 5;
            __asm__ volatile("" : "+r"(x));
            x += 7;
            __asm__ volatile("" : "+r"(x));
        }
        const double s = thread_seconds() - t;
        const double ghz = s > 0 ? 4.0 * (double)n / s * 1e-9 : 0;
        best = ghz > best ? ghz : best;
    }
    return best;
}
#else
double bench_probe_ghz(void)
{
    return 0;
}
#endif
