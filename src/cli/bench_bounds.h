/*
 * bench_bounds.h - `batchnn bench`'s instruction-mix estimate (bench_bounds.c): the vector
 * operations a workload's kernels execute per sample, counted from the net's shape, against
 * a port model of the CPU path, so that the report says what bounds each workload (memory,
 * the sigmoid's divide, the FMA ports, shuffles) next to the measured time. Private to the
 * bench command.
 */
#ifndef BNN_CLI_BENCH_BOUNDS_H
#define BNN_CLI_BENCH_BOUNDS_H

#include "batchnn.h"

/* The machine's limits with `threads` threads, each the best of 5 runs: OpenBLAS sgemm
 * (2048^3) in GFLOP/s, memory read (a 1 GiB array) in GB/s, and the best sigmoid kernel of
 * the CPU (whatever BATCHNN_ISA forces on the engine: the floor is the machine's, so that
 * a forced slower path shows up as lower efficiency) in G/s. */
double bench_probe_sgemm(int threads);
double bench_probe_bandwidth(int threads);
double bench_probe_sigmoid(int threads);
/* The core-to-core latency the engine's team pays per hand-over: an OpenMP team of 2 (placed
 * by the OS and OMP_PROC_BIND/OMP_PLACES as the engine's team is) bounces one cache line,
 * each thread waiting for the other's value (C11 atomics, release/acquire), in 11 trials of
 * 500 round trips after a warm-up. ns: the median trial's round trip (0 when threads < 2 or
 * the runtime gives a team of one: n/a); best_ns: the best trial's; yielded: the fraction of
 * the waits that gave up the CPU (the other thread was not running: on a machine busy with
 * other work the figure is the scheduler's, not the cache's). */
typedef struct bench_pingpong {
    double ns, best_ns, yielded;
} bench_pingpong;
bench_pingpong bench_probe_pingpong(int threads);
/* The median of v[0..n-1] (sorts v). */
double bench_median(double *v, int n);

/* One CPU path's throughputs, in operations of its vector width per cycle (div: cycles per
 * vector divide, the single divider). */
typedef struct bench_ports {
    const char *isa, *cpu; /* the kernel table ("avx2"...), the CPU the figures are from */
    int lanes;
    double fma;  /* multiply-adds and multiplies */
    double add;  /* adds, subtracts, min/max, compares */
    double shuf; /* shuffles, permutes, blends */
    double div;  /* cycles per vector divide (the divider's own throughput) */
    double div_fma; /* and the multiply-add slots each divide takes from the FMA ports */
    double pipes; /* vector operations of any kind (the FP pipes together) */
    double load; /* vector loads (and scalar loads/stores of a transpose) */
} bench_ports;

/* Vector operations per sample (already divided by the lanes). */
typedef struct bench_mix {
    double fma, add, shuf, div, other, load;
} bench_mix;

/* The port model of the path named isa (scalar's when unknown). */
const bench_ports *bench_ports_for(const char *isa);
/* The operations per sample of one step of plain gradient descent on arch a with the
 * kernels of path p (the narrow path's tiny or layer-wise kernel, or GEMM + sigmoid). */
bench_mix bench_mix_count(const bnn_arch *a, const bench_ports *p);
/* Cycles per sample on one core: the busiest port's; *bound names it. */
double bench_mix_cycles(const bench_mix *m, const bench_ports *p, const char **bound);
/* This core's clock in GHz from a chain of dependent integer adds (1 cycle each on every
 * x86 CPU); 0 where it cannot be measured. */
double bench_probe_ghz(void);

#endif
