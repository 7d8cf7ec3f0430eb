/*
 * kernels_loops.h - the simple element-wise loops of the kernel tables (act_backward,
 * output_delta, sq_error, row_sums_add, axpy, u01_run), written once and included by each
 * kernels_<isa>.c, so that each copy is vectorised by the compiler with that file's flags.
 *
 * Shapes: column-major, element (r, c) of M is M[r + c * ld]; the inner loops run over the
 * contiguous rows r. When every operand is dense (ld == rows) a block is one long column, so
 * narrow layers (rows 1, 2, ...) still get long inner loops.
 *
 * Numerics, the same in every copy (only FMA contraction by the compiler may differ):
 * - act' from the saved output a: sigmoid a (1 - a), tanh 1 - a^2, relu (a > 0), identity 1;
 *   D = (scale * D) * act'(A).
 * - Sums of squares: e = a - y in float, e^2 exact in double, added into 8 double partial
 *   sums (element r of a column goes to lane r mod 8, in order), the tail and the lanes
 *   combined in a fixed order: the result depends on the shape, not on the ISA or thread.
 * - Row sums: float partial sums over blocks of at most 32 columns, each added into acc, so
 *   the rounding error grows with 32 + cols / 32 rather than cols.
 */
#ifndef BNN_KERNELS_LOOPS_H
#define BNN_KERNELS_LOOPS_H

#include <assert.h>
#include <stddef.h>

#include "bnn_kernels.h"

#if defined(__GNUC__)
#define BNN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define BNN_ALWAYS_INLINE inline
#endif

#define BNN_LOOPS_LANES 8

/* act'(a) in terms of the output a. */
static BNN_ALWAYS_INLINE float bnn_loops_dact(float a, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return a * (1.0f - a);
    case BNN_ACT_TANH:
        return 1.0f - a * a;
    case BNN_ACT_RELU:
        return a > 0.0f ? 1.0f : 0.0f;
    default:
        return 1.0f;
    }
}

/* Fixed-order sum of the lane partials. */
static BNN_ALWAYS_INLINE double bnn_loops_lanes_sum(const double *p)
{
    return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

static BNN_ALWAYS_INLINE void bnn_loops_act_backward_run(float *restrict d, size_t ldd,
                                                         const float *restrict a, size_t lda,
                                                         size_t rows, size_t cols, float scale,
                                                         bnn_act act)
{
    for (size_t c = 0; c < cols; c++) {
        float *restrict dc = d + c * ldd;
        const float *restrict ac = a + c * lda;
        for (size_t r = 0; r < rows; r++)
            dc[r] = scale * dc[r] * bnn_loops_dact(ac[r], act);
    }
}

static void bnn_loops_act_backward(float *d, size_t ldd, const float *a, size_t lda,
                                   size_t rows, size_t cols, float scale, bnn_act act)
{
    assert(ldd >= rows && lda >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (rows == 0 || cols == 0)
        return;
    if (ldd == rows && lda == rows) { /* dense: one long column */
        rows *= cols;
        cols = 1;
    }
    switch (act) {
    case BNN_ACT_SIGMOID:
        bnn_loops_act_backward_run(d, ldd, a, lda, rows, cols, scale, BNN_ACT_SIGMOID);
        break;
    case BNN_ACT_TANH:
        bnn_loops_act_backward_run(d, ldd, a, lda, rows, cols, scale, BNN_ACT_TANH);
        break;
    case BNN_ACT_RELU:
        bnn_loops_act_backward_run(d, ldd, a, lda, rows, cols, scale, BNN_ACT_RELU);
        break;
    default:
        bnn_loops_act_backward_run(d, ldd, a, lda, rows, cols, scale, BNN_ACT_IDENTITY);
        break;
    }
}

/* with_delta = 0: sum of squares only (d is not touched and may be NULL). */
static BNN_ALWAYS_INLINE double bnn_loops_delta_run(float *restrict d, size_t ldd,
                                                    const float *restrict a, size_t lda,
                                                    const float *restrict y, size_t ldy,
                                                    size_t rows, size_t cols, float scale,
                                                    bnn_act act, int with_delta)
{
    double part[BNN_LOOPS_LANES] = {0};
    double tail = 0.0;
    for (size_t c = 0; c < cols; c++) {
        float *restrict dc = with_delta ? d + c * ldd : NULL;
        const float *restrict ac = a + c * lda;
        const float *restrict yc = y + c * ldy;
        size_t r = 0;
        for (; r + BNN_LOOPS_LANES <= rows; r += BNN_LOOPS_LANES) {
            for (size_t j = 0; j < BNN_LOOPS_LANES; j++) {
                const float e = ac[r + j] - yc[r + j];
                if (with_delta)
                    dc[r + j] = scale * e * bnn_loops_dact(ac[r + j], act);
                part[j] += (double)e * (double)e;
            }
        }
        for (; r < rows; r++) {
            const float e = ac[r] - yc[r];
            if (with_delta)
                dc[r] = scale * e * bnn_loops_dact(ac[r], act);
            tail += (double)e * (double)e;
        }
    }
    return bnn_loops_lanes_sum(part) + tail;
}

static double bnn_loops_output_delta(float *d, size_t ldd, const float *a, size_t lda,
                                     const float *y, size_t ldy, size_t rows, size_t cols,
                                     float scale, bnn_act act)
{
    assert(ldd >= rows && lda >= rows && ldy >= rows && (unsigned)act < BNN_ACT_COUNT);
    if (rows == 0 || cols == 0)
        return 0.0;
    if (ldd == rows && lda == rows && ldy == rows) {
        rows *= cols;
        cols = 1;
    }
    switch (act) {
    case BNN_ACT_SIGMOID:
        return bnn_loops_delta_run(d, ldd, a, lda, y, ldy, rows, cols, scale, BNN_ACT_SIGMOID,
                                   1);
    case BNN_ACT_TANH:
        return bnn_loops_delta_run(d, ldd, a, lda, y, ldy, rows, cols, scale, BNN_ACT_TANH, 1);
    case BNN_ACT_RELU:
        return bnn_loops_delta_run(d, ldd, a, lda, y, ldy, rows, cols, scale, BNN_ACT_RELU, 1);
    default:
        return bnn_loops_delta_run(d, ldd, a, lda, y, ldy, rows, cols, scale,
                                   BNN_ACT_IDENTITY, 1);
    }
}

static double bnn_loops_sq_error(const float *a, size_t lda, const float *y, size_t ldy,
                                 size_t rows, size_t cols)
{
    assert(lda >= rows && ldy >= rows);
    if (rows == 0 || cols == 0)
        return 0.0;
    if (lda == rows && ldy == rows) {
        rows *= cols;
        cols = 1;
    }
    return bnn_loops_delta_run(NULL, 0, a, lda, y, ldy, rows, cols, 1.0f, BNN_ACT_IDENTITY, 0);
}

#define BNN_LOOPS_STRIP 256 /* rows per strip of the column-block sums */
#define BNN_LOOPS_BLOCK 32  /* columns summed in float before they reach acc */

static void bnn_loops_row_sums_add(float *restrict acc, const float *restrict d, size_t ldd,
                                   size_t rows, size_t cols)
{
    assert(ldd >= rows);
    if (rows < BNN_LOOPS_LANES) {
        /* Few rows: per row, 8 column lanes (column c to lane c mod 8) in flight. */
        for (size_t r = 0; r < rows; r++) {
            float s[BNN_LOOPS_LANES] = {0};
            const float *dr = d + r;
            size_t c = 0;
            for (; c + BNN_LOOPS_LANES <= cols; c += BNN_LOOPS_LANES)
                for (size_t j = 0; j < BNN_LOOPS_LANES; j++)
                    s[j] += dr[(c + j) * ldd];
            for (size_t j = 0; c < cols; c++, j++)
                s[j] += dr[c * ldd];
            acc[r] += ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
        }
        return;
    }
    for (size_t r0 = 0; r0 < rows; r0 += BNN_LOOPS_STRIP) {
        const size_t nr = rows - r0 < BNN_LOOPS_STRIP ? rows - r0 : BNN_LOOPS_STRIP;
        float *restrict accs = acc + r0;
        for (size_t c0 = 0; c0 < cols; c0 += BNN_LOOPS_BLOCK) {
            const size_t nc = cols - c0 < BNN_LOOPS_BLOCK ? cols - c0 : BNN_LOOPS_BLOCK;
            float tmp[BNN_LOOPS_STRIP];
            const float *restrict d0 = d + r0 + c0 * ldd;
            for (size_t r = 0; r < nr; r++)
                tmp[r] = d0[r];
            for (size_t c = 1; c < nc; c++) {
                const float *restrict dc = d0 + c * ldd;
                for (size_t r = 0; r < nr; r++)
                    tmp[r] += dc[r];
            }
            for (size_t r = 0; r < nr; r++)
                accs[r] += tmp[r];
        }
    }
}

static void bnn_loops_axpy(float *restrict y, const float *restrict x, size_t n, float alpha)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

/* Integer lanes only (32-bit multiplies, shifts, xors) and one exact conversion: every copy
 * gives bitwise the scalar values. */
static void bnn_loops_u01_run(float *restrict out, size_t n, uint32_t lo0, uint32_t step,
                              uint32_t a, uint32_t b)
{
    uint32_t lo = lo0;
    for (size_t t = 0; t < n; t++, lo += step)
        out[t] = bnn_u01_at(lo, a, b);
}

/* The scalar form of linear_pairs (the scalar table's, and the SIMD tables' tail). */
static void bnn_loops_linear_pairs(float *xy, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xy[2 * i + 1] = 2.0f * xy[2 * i] + (xy[2 * i + 1] - 0.5f) * 0.002f;
}

#endif /* BNN_KERNELS_LOOPS_H */
