/*
 * loss_loops.h - the classification losses of the kernel tables (cross-entropy on a softmax,
 * binary cross-entropy on logits), fused with their backward, written once and included by
 * each kernels_<isa>.c (after kernels_loops.h) so that each copy is compiled with that
 * file's flags. Column-major logits: one column of K rows per sample.
 *
 * Cross-entropy of column c with targets y (one-hot or probabilities, s = sum_j y_j):
 *   mx = max_j z_j,  t_j = z_j - mx (<= 0),  S = sum_j expf(t_j),  L = logf(S)
 *   loss = sum_j y_j (L - t_j)           (log-sum-exp: no overflow for any finite z)
 *   d_j  = scale (expf(t_j) / S * s - y_j)
 * Binary cross-entropy with logits, per element, u = expf(-|z|):
 *   loss = max(z, 0) - z y + log1pf(u),  d = scale (sigmoid(z) - y),
 *   sigmoid(z) = 1 / (1 + u) for z >= 0, u / (1 + u) below (never overflows).
 * The sums of losses are accumulated in double per column (the column's own sum in float
 * terms, added in order), so the result depends on the shape, not on the ISA or thread.
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

static BNN_ALWAYS_INLINE double bnn_loops_ce_column(float *restrict d, const float *restrict z,
                                                    const float *restrict y, size_t rows,
                                                    float scale, double *correct)
{
    float mx = z[0];
    size_t amax = 0, ymax = 0;
    for (size_t r = 1; r < rows; r++)
        if (z[r] > mx) {
            mx = z[r];
            amax = r;
        }
    float sum = 0.0f, sy = 0.0f, ybest = y[0];
    for (size_t r = 0; r < rows; r++) {
        sum += expf(z[r] - mx);
        sy += y[r];
        if (y[r] > ybest) {
            ybest = y[r];
            ymax = r;
        }
    }
    const float lse = logf(sum);
    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float t = z[r] - mx;
        if (y[r] != 0.0f)
            loss += (double)y[r] * (double)(lse - t);
        if (d)
            d[r] = scale * (expf(t) / sum * sy - y[r]);
    }
    if (correct && amax == ymax)
        *correct += 1.0;
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
    for (size_t c = 0; c < cols; c++) {
        float *dc = d ? d + c * ldd : NULL;
        if (loss == BNN_LOSS_CE)
            total += bnn_loops_ce_column(dc, z + c * ldz, y + c * ldy, rows, scale, correct);
        else
            total += bnn_loops_bce_column(dc, z + c * ldz, y + c * ldy, rows, scale, correct);
    }
    return total;
}

#endif /* BNN_LOSS_LOOPS_H */
