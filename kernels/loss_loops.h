/*
 * loss_loops.h - the classification losses of the kernel tables (cross-entropy on a softmax,
 * binary cross-entropy on logits), fused with their backward, written once and included by
 * each kernels_<isa>.c (after kernels_loops.h) so that each copy is compiled with that
 * file's flags. Column-major logits: one column of K rows per sample.
 *
 * Cross-entropy of column c with targets y (one-hot or probabilities, s = sum_j y_j):
 *   mx = max_j z_j,  t_j = mx - z_j (>= 0),  e_j = e^-t_j,  S = sum_j e_j,  L = logf(S)
 *   loss = sum_j y_j (L + t_j)           (log-sum-exp: no overflow for any finite z)
 *   d_j  = scale (e_j (s / S) - y_j)
 * e^-t is BNN_LOSS_EXPNEG: libm expf in the scalar table; in the SIMD tables the vector
 * exponential of their sigmoid (relative error below 2.5e-7; 0 for t > 87, where e^-t is below
 * FLT_MIN and its share of a sum that holds e^0 = 1 is nothing), over the whole block at once.
 * Binary cross-entropy with logits, per element, u = expf(-|z|):
 *   loss = max(z, 0) - z y + log1pf(u),  d = scale (sigmoid(z) - y),
 *   sigmoid(z) = 1 / (1 + u) for z >= 0, u / (1 + u) below (never overflows).
 * The losses are accumulated in double (float terms, added in order): the result depends on
 * the shape and the CPU path (through e^-t), not on the thread.
 *
 * Accuracy (measured against double in tests/test_loss.c, per path): the loss of a column
 * within a few float ulps of the column's magnitude, d within 1e-6 * scale (absolute, since
 * its entries are differences of numbers at most 1).
 *
 * Correct decisions: cross-entropy, argmax z = argmax y (first maximum of each); bce,
 * (z > 0) = (y > 0.5) per element.
 */
#ifndef BNN_LOSS_LOOPS_H
#define BNN_LOSS_LOOPS_H

#include <math.h>
#include <stddef.h>

#include "bnn_kernels.h"

#ifndef BNN_LOSS_EXPNEG
/* x[i] = e^-x[i] for x[i] >= 0 (libm expf; the SIMD tables define their own). */
static void bnn_loss_expneg_libm(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = expf(-x[i]);
}
#define BNN_LOSS_EXPNEG bnn_loss_expneg_libm
#endif

/* Column statistics: the first maximum of z and of y. */
static BNN_ALWAYS_INLINE float bnn_loops_colmax(const float *z, size_t rows, size_t *at)
{
    float mx = z[0];
    size_t a = 0;
    for (size_t r = 1; r < rows; r++)
        if (z[r] > mx) {
            mx = z[r];
            a = r;
        }
    *at = a;
    return mx;
}

/* Cross-entropy of one column, given e[r] = e^(z_r - mx) (may alias d). */
static BNN_ALWAYS_INLINE double bnn_loops_ce_finish(float *d, const float *e, const float *z,
                                                    const float *y, size_t rows, float mx,
                                                    float scale)
{
    float sum = 0.0f, sy = 0.0f;
    for (size_t r = 0; r < rows; r++) {
        sum += e[r];
        sy += y[r];
    }
    const float lse = logf(sum);
    const float q = sy / sum;
    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float t = mx - z[r]; /* >= 0 */
        if (y[r] != 0.0f)
            loss += (double)y[r] * (double)(lse + t);
        if (d)
            d[r] = scale * (e[r] * q - y[r]);
    }
    return loss;
}

/* Cross-entropy over a block. With d, the exponentials of the whole block are computed in one
 * vector pass (d holds t = max - z, then e^-t); without d (the cost only), column by column
 * through a small buffer. */
static double bnn_loops_ce(float *d, size_t ldd, const float *z, size_t ldz, const float *y,
                           size_t ldy, size_t rows, size_t cols, float scale, double *correct)
{
    double loss = 0.0;
    size_t am, ym;
    if (d) {
        for (size_t c = 0; c < cols; c++) {
            const float *zc = z + c * ldz;
            float *dc = d + c * ldd;
            const float mx = bnn_loops_colmax(zc, rows, &am);
            for (size_t r = 0; r < rows; r++)
                dc[r] = mx - zc[r];
        }
        if (ldd == rows)
            BNN_LOSS_EXPNEG(d, rows * cols);
        else
            for (size_t c = 0; c < cols; c++)
                BNN_LOSS_EXPNEG(d + c * ldd, rows);
    }
    for (size_t c = 0; c < cols; c++) {
        const float *zc = z + c * ldz, *yc = y + c * ldy;
        const float mx = bnn_loops_colmax(zc, rows, &am);
        bnn_loops_colmax(yc, rows, &ym);
        if (correct && am == ym)
            *correct += 1.0;
        if (d) {
            loss += bnn_loops_ce_finish(d + c * ldd, d + c * ldd, zc, yc, rows, mx, scale);
            continue;
        }
        float e[64];
        double part = 0.0;
        float sum = 0.0f;
        for (size_t r0 = 0; r0 < rows; r0 += 64) { /* the sum of exponentials */
            const size_t k = rows - r0 < 64 ? rows - r0 : 64;
            for (size_t r = 0; r < k; r++)
                e[r] = mx - zc[r0 + r];
            BNN_LOSS_EXPNEG(e, k);
            for (size_t r = 0; r < k; r++)
                sum += e[r];
        }
        const float lse = logf(sum);
        for (size_t r = 0; r < rows; r++)
            if (yc[r] != 0.0f)
                part += (double)yc[r] * (double)(lse + (mx - zc[r]));
        loss += part;
    }
    return loss;
}

static BNN_ALWAYS_INLINE double bnn_loops_bce_column(float *restrict d, const float *restrict z,
                                                     const float *restrict y, size_t rows,
                                                     float scale, double *correct)
{
    double loss = 0.0;
    size_t good = 0;
    for (size_t r = 0; r < rows; r++) {
        const float zr = z[r], yr = y[r];
        const float u = expf(-fabsf(zr));
        const float l = (zr > 0.0f ? zr : 0.0f) - zr * yr + log1pf(u);
        loss += (double)l;
        if (d) {
            const float s = (zr >= 0.0f ? 1.0f : u) / (1.0f + u);
            d[r] = scale * (s - yr);
        }
        good += (zr > 0.0f) == (yr > 0.5f);
    }
    if (correct)
        *correct += (double)good;
    return loss;
}

static double bnn_loops_loss_delta(float *d, size_t ldd, const float *z, size_t ldz,
                                   const float *y, size_t ldy, size_t rows, size_t cols,
                                   float scale, int loss, double *correct)
{
    assert(ldz >= rows && ldy >= rows && (!d || ldd >= rows));
    double total = 0.0;
    if (rows == 0)
        return 0.0;
    if (loss == BNN_LOSS_CE)
        return bnn_loops_ce(d, ldd, z, ldz, y, ldy, rows, cols, scale, correct);
    for (size_t c = 0; c < cols; c++) {
        float *dc = d ? d + c * ldd : NULL;
        total += bnn_loops_bce_column(dc, z + c * ldz, y + c * ldy, rows, scale, correct);
    }
    return total;
}

#endif /* BNN_LOSS_LOOPS_H */
