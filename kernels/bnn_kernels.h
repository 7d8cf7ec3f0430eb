/*
 * bnn_kernels.h - element-wise kernels of the fast engine, one table per CPU path.
 *
 * Each ISA has its own source file compiled with its own flags (kernels_scalar.c: baseline
 * x86-64; kernels_avx2.c: -mavx2 -mfma; kernels_avx512.c: -mavx512f -mavx512dq -mavx2 -mfma).
 * The table is chosen once, at the first call of bnn_kernels(), from what the CPU supports,
 * and can be forced with bnn_kernels_force (the command does so for its environment variable
 * BATCHNN_ISA=scalar|avx2|avx512|auto).
 *
 * Matrices are column-major: element (r, c) of a (rows x cols) matrix M with leading
 * dimension ld is M[r + c * ld]; one column per sample.
 */
#ifndef BNN_KERNELS_H
#define BNN_KERNELS_H

#include <stddef.h>

#include "core/bnn_core.h"
#include "bnn_narrow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One optimizer step's coefficients, float32, computed once per step (src/engine/optim.c). */
typedef struct bnn_optim_coef {
    int kind;           /* bnn_optim_kind */
    float neg_lr;       /* -lr */
    float wd;           /* weight decay L (0: none; not used by adamw's update of g) */
    float mu;           /* momentum; 0 at the first step (the buffer becomes g) */
    float mu_nesterov;  /* momentum (nesterov's look-ahead) */
    float b1, omb1;     /* beta1, 1 - beta1 */
    float b2, omb2;     /* beta2, 1 - beta2 */
    float neg_step;     /* -lr / (1 - beta1^t) */
    float inv_bc2_sqrt; /* 1 / sqrt(1 - beta2^t) */
    float eps;
    float decay;        /* adamw: 1 - lr L */
} bnn_optim_coef;

typedef struct bnn_kernel_table {
    const char *isa; /* "scalar", "avx2", "avx512" */

    /* y[i] = sigmoid(x[i]), i < n; y may equal x. Accuracy contract in kernels_*.c. */
    void (*sigmoid)(float *y, const float *x, size_t n);

    /* y[i] = 1 / (1 + 2^t[i]) = sigmoid(z) for t = -z log2e, i < n; y may equal t: the
     * sigmoid of the narrow path, whose sigmoid layers fold -log2e into their weights
     * (narrow_impl.h). Accuracy contract in sigmoid_simd.h (bnn_sigmoid2). */
    void (*sigmoid_folded)(float *y, const float *t, size_t n);

    /* Forward epilogue of a layer, in place on Z (rows x cols, ld):
     * Z(r, c) = act(Z(r, c) + b[r]); b may be NULL (no bias). */
    void (*bias_act)(float *z, size_t ld, size_t rows, size_t cols, const float *b,
                     bnn_act act);

    /* Backward through the activation, in place on D (rows x cols, ldd), from the saved
     * outputs A (lda): D(r, c) = scale * D(r, c) * act'(A(r, c)), where act' is written in
     * terms of the output: sigmoid s(1 - s), tanh 1 - a^2, relu (a > 0), identity 1. */
    void (*act_backward)(float *d, size_t ldd, const float *a, size_t lda, size_t rows,
                         size_t cols, float scale, bnn_act act);

    /* Output layer: D(r, c) = scale * (A(r, c) - Y(r, c)) * act'(A(r, c)); returns
     * sum over the block of (A - Y)^2, accumulated in double. */
    double (*output_delta)(float *d, size_t ldd, const float *a, size_t lda, const float *y,
                           size_t ldy, size_t rows, size_t cols, float scale, bnn_act act);

    /* Sum of squared errors only (cost without gradient). */
    double (*sq_error)(const float *a, size_t lda, const float *y, size_t ldy, size_t rows,
                       size_t cols);

    /* acc[r] += sum_c D(r, c): the bias gradient of a block. */
    void (*row_sums_add)(float *acc, const float *d, size_t ldd, size_t rows, size_t cols);

    /* y[i] += alpha * x[i]: sums the shards' gradient partials (fast.c); the update itself is
     * the optimizer's fused step below. */
    void (*axpy)(float *y, const float *x, size_t n, float alpha);

    /* Synthetic data: out[t] = bnn_u01_at(lo0 + t * step, a, b) for t < n, the sum taken
     * mod 2^32 (the caller keeps a run within one value of key >> 32: src/io/synth.c). */
    void (*u01_run)(float *out, size_t n, uint32_t lo0, uint32_t step, uint32_t a, uint32_t b);

    /* synth:linear's targets in place: xy holds n pairs (x, u), u becomes
     * 2x + (u - 1/2) 0.002 (in float, these operations in this order: bitwise the scalar
     * formula of src/io/synth.c on every path). */
    void (*linear_pairs)(float *xy, size_t n);

    /* One fused optimizer step over n parameters (kernels/optim_loops.h): next from theta,
     * grad and the buffers b0, b1 (updated in place; unused ones may be NULL); returns 1 when
     * every next[i] is finite, 0 otherwise. next must not alias theta. */
    int (*optim_step)(float *next, const float *theta, const float *grad, float *b0, float *b1,
                      size_t n, const bnn_optim_coef *c);

    /* Classification losses on logits Z (rows x cols, one column per sample; loss
     * BNN_LOSS_CE or BNN_LOSS_BCE, kernels/loss_loops.h): D = scale * dloss/dZ (d may be
     * NULL: cost only); returns the sum of the columns' losses (double); *correct (may be
     * NULL) gains the count of correct decisions. */
    double (*loss_delta)(float *d, size_t ldd, const float *z, size_t ldz, const float *y,
                         size_t ldy, size_t rows, size_t cols, float scale, int loss,
                         double *correct);

    /* The narrow fused path (kernels/narrow_impl.h, instantiated in each table's file), on
     * the same ISA as the entries above. narrow_lanes: samples per vector (1, 8, 16).
     * narrow_work: floats of one thread's work buffer for net. narrow_grad: accumulates
     * lane-wise partials of dC/dtheta for ns <= BNN_NARROW_CHUNK_MAX samples (x, y
     * sample-major with row strides ldx, ldy) into acc (nparams * narrow_lanes floats, zeroed
     * by the caller) and returns their sum of squared errors. narrow_reduce: g[p] = sum of
     * parameter p's lanes, in lane order. */
    int narrow_lanes;
    size_t (*narrow_work)(const bnn_narrow_net *net);
    double (*narrow_grad)(const bnn_narrow_net *net, const float *theta, const float *x,
                          size_t ldx, const float *y, size_t ldy, size_t ns, float *acc,
                          float *work, float out_scale, float hidden_scale);
    void (*narrow_reduce)(const float *acc, size_t nparams, float *g);
} bnn_kernel_table;

/* The table in use (chosen once; thread-safe after the first call). */
const bnn_kernel_table *bnn_kernels(void);
/* A specific table by name, or NULL when this CPU or build lacks it. */
const bnn_kernel_table *bnn_kernels_named(const char *isa);
/* Forces the table in use (tests, benchmarks): 0 on success, -1 when unavailable. */
int bnn_kernels_force(const char *isa);

/* Per-ISA tables (NULL-returning stubs when the compiler lacks the ISA). */
const bnn_kernel_table *bnn_kernels_scalar(void);
const bnn_kernel_table *bnn_kernels_avx2(void);
const bnn_kernel_table *bnn_kernels_avx512(void);

#ifdef __cplusplus
}
#endif
#endif /* BNN_KERNELS_H */
