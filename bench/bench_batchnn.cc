// bench_batchnn.cc - the Google Benchmark suite, a thin C++ harness over batchnn's C API.
//
//   kernels/<isa>/sigmoid          the element-wise sigmoid per CPU path (elements/s)
//   layer/<shape>/{forward,backward}  one layer's sgemm products on a chunk (GFLOP/s)
//   narrow/<isa>/<arch>            the narrow fused kernel's gradient of one 4096-sample chunk
//                                  held in cache, 1 thread (samples/s, time/sample): the kernel's
//                                  own speed, without memory or threads
//   epoch/<W>/fast                 one full-batch epoch of workload W1-W6: gradient over all n
//                                  samples + update, float32, --threads all cores
//   epoch/<W>/reference            the same on a prefix of the data with the double-precision
//                                  reference engine (per-sample rates are comparable)
// Counters: samples/s and GFLOP/s with FLOPs/epoch = n * sum_l (2 in out fwd + 2 in out dW +
// 2 in out dA_prev, not for the first layer), as bench/WORKLOADS.md defines them; the
// workloads come from bench/workloads.h (full-batch ones: W1-W6).
// Run: build/bench/bench_batchnn --benchmark_filter=epoch/W4 (see README, Benchmarks).
#include <benchmark/benchmark.h>

#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "api/bnn_api.h"
#include "engine/engines.h"
#include "bnn_kernels.h"
#include "bnn_narrow.h"
#include "workloads.h"

namespace {

using Workload = bnn_bench_workload;

double flops_per_sample(const bnn_arch &a) {
    double f = 0;
    for (int l = 0; l < a.nlayers; l++) {
        double io = double(a.width[l]) * double(a.width[l + 1]);
        f += 2 * io + 2 * io + (l > 0 ? 2 * io : 0);
    }
    return f;
}

void fail(const bnn_error &e) {
    std::fprintf(stderr, "bench: %s\n", e.msg);
    std::exit(1);
}

// One workload's model and data, built once and shared by its benchmarks.
struct Setup {
    bnn_arch arch;
    bnn_model model;
    bnn_table table;
    bnn_data data;
    explicit Setup(const Workload &w) {
        bnn_error e;
        if (bnn_arch_parse(&arch, w.arch, w.act, w.bias, &e) || bnn_model_init(&model, &arch, &e))
            fail(e);
        bnn_model_randomize(&model, 1);
        if (bnn_synth_open(&table, w.set, w.n, arch.width[0], arch.width[arch.nlayers], 1,
                           size_t(8) << 30, &e) ||
            bnn_data_make(&data, &table, nullptr, arch.width[0], arch.width[arch.nlayers], &e))
            fail(e);
    }
    ~Setup() {
        bnn_table_close(&table);
        bnn_model_free(&model);
    }
};

void BM_epoch_fast(benchmark::State &st, const Workload *w) {
    Setup s(*w);
    bnn_error e;
    bnn_fast_engine *f;
    bnn_fast_opts o = {int(st.range(0)), 0, 0};
    if (bnn_fast_create(&f, &s.arch, &o, &e)) fail(e);
    std::vector<float> g(s.model.nparams + 16);
    const bnn_kernel_table *k = bnn_kernels();
    double cost = 0;
    for (auto _ : st) {
        if (bnn_fast_grad(f, s.model.theta, &s.data, 0, s.data.n, BNN_GRAD_EXACT, g.data(), &cost,
                          &e))
            fail(e);
        k->axpy(s.model.theta, g.data(), s.model.nparams, -0.1f);
        benchmark::DoNotOptimize(cost);
    }
    double n = double(s.data.n) * double(st.iterations());
    st.counters["samples/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
    st.counters["GFLOP/s"] =
        benchmark::Counter(n * flops_per_sample(s.arch) * 1e-9, benchmark::Counter::kIsRate);
    st.SetLabel(std::string(k->isa) + ", " + std::to_string(bnn_fast_threads(f)) + " threads");
    bnn_fast_free(f);
}

void BM_epoch_reference(benchmark::State &st, const Workload *w) {
    Workload small = *w;
    small.n = w->n_ref;
    Setup s(small);
    bnn_error e;
    std::vector<double> theta(s.model.nparams), g(s.model.nparams);
    for (size_t p = 0; p < theta.size(); p++) theta[p] = s.model.theta[p];
    double cost = 0;
    for (auto _ : st) {
        if (bnn_ref_grad(&s.arch, theta.data(), &s.data, 0, s.data.n, BNN_GRAD_EXACT, g.data(),
                         &cost, &e))
            fail(e);
        for (size_t p = 0; p < theta.size(); p++) theta[p] -= 0.1 * g[p];
        benchmark::DoNotOptimize(cost);
    }
    double n = double(s.data.n) * double(st.iterations());
    st.counters["samples/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
    st.counters["GFLOP/s"] =
        benchmark::Counter(n * flops_per_sample(s.arch) * 1e-9, benchmark::Counter::kIsRate);
    st.SetLabel("n = " + std::to_string(s.data.n));
}

void BM_sigmoid(benchmark::State &st, const char *isa) {
    const bnn_kernel_table *k = bnn_kernels_named(isa);
    if (!k) {
        st.SkipWithError("ISA path not available on this CPU");
        return;
    }
    const size_t n = size_t(st.range(0));
    float *x = static_cast<float *>(bnn_alloc(n, sizeof(float)));
    float *y = static_cast<float *>(bnn_alloc(n, sizeof(float)));
    for (size_t i = 0; i < n; i++) x[i] = -20.0f + 40.0f * float(i) / float(n);
    for (auto _ : st) {
        k->sigmoid(y, x, n);
        benchmark::DoNotOptimize(y);
        benchmark::ClobberMemory();
    }
    st.counters["elements/s"] =
        benchmark::Counter(double(n) * double(st.iterations()), benchmark::Counter::kIsRate);
    bnn_free(x);
    bnn_free(y);
}

// The narrow path's gradient of one chunk of BNN_NARROW_CHUNK_MAX rows (inputs then targets,
// float32, read in place as in training), in cache, on one thread, with one ISA's kernels.
void BM_narrow(benchmark::State &st, const char *isa, const char *widths) {
    const bnn_kernel_table *k = bnn_kernels_named(isa);
    if (!k) {
        st.SkipWithError("ISA path not available on this CPU");
        return;
    }
    bnn_arch a;
    bnn_narrow_net net;
    bnn_error e;
    if (bnn_arch_parse(&a, widths, "sigmoid", 1, &e)) fail(e);
    if (bnn_narrow_describe(&a, &net)) {
        st.SkipWithError("not a narrow net");
        return;
    }
    const size_t ns = BNN_NARROW_CHUNK_MAX, nin = size_t(a.width[0]);
    const size_t ld = nin + size_t(a.width[a.nlayers]), np = bnn_arch_nparams(&a);
    bnn_rng r;
    bnn_rng_seed(&r, 3);
    std::vector<float> theta(np), rows(ns * ld);
    for (float &t : theta) t = float(bnn_rng_uniform(&r) - 0.5);
    for (float &x : rows) x = float(bnn_rng_uniform(&r));
    float *acc = static_cast<float *>(bnn_alloc(np * size_t(k->narrow_lanes), sizeof(float)));
    float *work = static_cast<float *>(bnn_alloc(k->narrow_work(&net), sizeof(float)));
    std::fill(acc, acc + np * size_t(k->narrow_lanes), 0.0f);
    for (auto _ : st) {
        double sse = k->narrow_grad(&net, theta.data(), rows.data(), ld, rows.data() + nin, ld,
                                    ns, acc, work, 1e-6f, 1.0f);
        benchmark::DoNotOptimize(sse);
        benchmark::ClobberMemory();
    }
    const double n = double(ns) * double(st.iterations());
    st.counters["samples/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
    st.counters["time/sample"] =
        benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    bnn_free(acc);
    bnn_free(work);
}

// One layer's products on a chunk of ns samples: forward Z = W A, backward dW += D A^T and
// dA = W^T D, single-threaded sgemm as inside the engine's parallel region.
void BM_layer(benchmark::State &st, int backward) {
    const int in = int(st.range(0)), out = int(st.range(1)), ns = int(st.range(2));
    std::vector<float> W(size_t(in) * out, 0.01f), A(size_t(in) * ns, 0.5f),
        Z(size_t(out) * ns), D(size_t(out) * ns, 0.1f), dW(size_t(in) * out), dA(size_t(in) * ns);
    openblas_set_num_threads(1);
    for (auto _ : st) {
        if (!backward) {
            cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, out, ns, in, 1.0f, W.data(), in,
                        A.data(), in, 0.0f, Z.data(), out);
        } else {
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, in, out, ns, 1.0f, A.data(), in,
                        D.data(), out, 1.0f, dW.data(), in);
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, in, ns, out, 1.0f, W.data(), in,
                        D.data(), out, 0.0f, dA.data(), in);
        }
        benchmark::ClobberMemory();
    }
    double fl = 2.0 * in * out * ns * (backward ? 2 : 1);
    st.counters["GFLOP/s"] =
        benchmark::Counter(fl * double(st.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

int register_all() {
    // the library reads no environment: BATCHNN_ISA forces the engines' path here, as the
    // command does (src/cli/environ.c)
    const char *force = std::getenv("BATCHNN_ISA");
    if (force && *force && std::strcmp(force, "auto") != 0) bnn_kernels_force(force);
    for (const char *isa : {"scalar", "avx2", "avx512"})
        benchmark::RegisterBenchmark((std::string("kernels/") + isa + "/sigmoid").c_str(),
                                     BM_sigmoid, isa)
            ->Arg(4096)
            ->Arg(1 << 20);
    for (const char *isa : {"scalar", "avx2", "avx512"})
        for (const char *widths : {"2,1", "1,1,1,1,1", "2,16,16,1"})
            benchmark::RegisterBenchmark(
                (std::string("narrow/") + isa + "/" + widths).c_str(), BM_narrow, isa, widths);
    const int shapes[][3] = {{2, 16, 256}, {16, 16, 256}, {784, 256, 256}, {512, 1024, 256},
                             {1024, 1024, 256}};
    for (auto &sh : shapes)
        for (int b = 0; b < 2; b++)
            benchmark::RegisterBenchmark(b ? "layer/backward" : "layer/forward", BM_layer, b)
                ->Args({sh[0], sh[1], sh[2]})
                ->ArgNames({"in", "out", "ns"});
    for (const Workload &w : bnn_bench_workloads) {
        if (w.batch) continue;  // the mini-batch workloads are batchnn bench's
        benchmark::RegisterBenchmark((std::string("epoch/") + w.id + "/fast").c_str(),
                                     BM_epoch_fast, &w)
            ->Arg(0)
            ->ArgName("threads")
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark((std::string("epoch/") + w.id + "/fast").c_str(),
                                     BM_epoch_fast, &w)
            ->Arg(1)
            ->ArgName("threads")
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark((std::string("epoch/") + w.id + "/reference").c_str(),
                                     BM_epoch_reference, &w)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
    return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
