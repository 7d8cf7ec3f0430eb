/*
 * workloads.h - the benchmark workloads, defined once for `batchnn bench` (src/cli/bench.c)
 * and the Google Benchmark suite (bench/bench_batchnn.cc). bench/WORKLOADS.md describes them,
 * their FLOP count and the floors.
 *
 * W1-W6: one full-batch epoch of plain gradient descent (gradient over all n samples, one
 * update). M1-M3: one epoch of mini-batch SGD, batches of `batch` consecutive samples in data
 * order. n_ref: the prefix the reference engine runs (per-sample rates are compared).
 * full: for a mini-batch workload, the W workload with the same model and data; its targets
 * (issue 12; 0: none): the N-thread epoch at least min_speedup x faster than the 1-thread
 * one, and at most max_vs_full x the full-batch epoch.
 * Plain C, usable from C++.
 */
#ifndef BNN_BENCH_WORKLOADS_H
#define BNN_BENCH_WORKLOADS_H

#include <stddef.h>

typedef struct bnn_bench_workload {
    const char *id, *arch, *act, *set;
    int bias;
    size_t n, n_ref;
    double lr;
    size_t batch;      /* 0: full batch */
    const char *full;  /* mini-batch workloads: the full-batch workload they compare with */
    double min_speedup, max_vs_full;
} bnn_bench_workload;

#define BNN_BENCH_K(e) ((size_t)1 << (e))
/* id, arch, activations, data, bias, n, n_ref, lr, batch, full, min_speedup, max_vs_full */
static const bnn_bench_workload bnn_bench_workloads[] = {
    {"W1", "1,1", "identity", "synth:linear", 0, BNN_BENCH_K(24), BNN_BENCH_K(20), 1e-3, 0, 0, 0,
     0},
    {"W2", "2,1", "sigmoid", "synth:uniform", 1, BNN_BENCH_K(24), BNN_BENCH_K(20), 0.1, 0, 0, 0, 0},
    {"W3", "1,1,1,1,1", "sigmoid", "synth:uniform", 1, BNN_BENCH_K(22), BNN_BENCH_K(18), 0.1, 0, 0,
     0, 0},
    {"W4", "2,16,16,1", "sigmoid", "synth:uniform", 1, BNN_BENCH_K(20), BNN_BENCH_K(15), 0.1, 0, 0,
     0, 0},
    {"W5", "784,256,10", "sigmoid", "synth:uniform", 1, 60000, 256, 0.1, 0, 0, 0, 0},
    {"W6", "512,1024,1024,16", "sigmoid", "synth:uniform", 1, 16384, 16, 0.1, 0, 0, 0, 0},
    {"M1", "784,256,10", "sigmoid", "synth:uniform", 1, 60000, 256, 0.1, 64, "W5", 0, 2.0},
    {"M2", "784,256,10", "sigmoid", "synth:uniform", 1, 60000, 256, 0.1, 256, "W5", 1.7, 1.3},
    {"M3", "2,16,16,1", "sigmoid", "synth:uniform", 1, BNN_BENCH_K(20), BNN_BENCH_K(15), 0.1, 1024,
     "W4", 1.6, 0},
};

#define BNN_BENCH_NWORKLOADS (sizeof bnn_bench_workloads / sizeof bnn_bench_workloads[0])

#endif
