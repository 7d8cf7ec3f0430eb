/*
 * scale.c - the input standardisation of --standardize: its statistics from the training
 * data (bnn_data_scale_stats) and its application to a chunk (bnn_data_chunk, data.c).
 *
 * The statistics, precisely: for input j, over the n samples of the view in index order,
 * taken in blocks of BNN_SCALE_BLOCK samples: each block's mean m_b and sum of squared
 * deviations M_b in double (two passes over the block, which is in memory), then combined in
 * block order: n' = n_a + n_b, delta = m_b - m_a, m = m_a + delta n_b / n', M = M_a + M_b +
 * delta^2 n_a n_b / n'. std = sqrt(M / n) (the population deviation: sklearn's
 * StandardScaler), 1 when it is 0 (a constant input: x - mean = 0, no division by zero), both
 * rounded to float32. Independent of threads and ranks (one pass in one order).
 */
#include <math.h>
#include <stdlib.h>

#include "data/bnn_data.h"

int bnn_data_scale_stats(const bnn_data *d, float *mean, float *std, bnn_error *e)
{
    const size_t nin = (size_t)d->nin, ld = (size_t)(d->nin + d->nout);
    double *m = calloc(nin, sizeof *m), *M = calloc(nin, sizeof *M);
    double *bm = calloc(nin, sizeof *bm), *bM = calloc(nin, sizeof *bM);
    float *xbuf = malloc(BNN_SCALE_BLOCK * ld * sizeof *xbuf);
    float *ybuf = malloc(BNN_SCALE_BLOCK * (size_t)d->nout * sizeof *ybuf);
    int rc = m && M && bm && bM && xbuf && ybuf ? 0 : bnn_fail(e, "standardize: out of memory");
    bnn_data raw = *d; /* the statistics of the unscaled inputs */
    raw.in_mean = raw.in_std = NULL;
    size_t seen = 0;
    for (size_t s = 0; rc == 0 && s < d->n; s += BNN_SCALE_BLOCK) {
        const size_t cnt = d->n - s < BNN_SCALE_BLOCK ? d->n - s : BNN_SCALE_BLOCK;
        bnn_chunk c;
        if (bnn_data_chunk(&raw, s, cnt, xbuf, ybuf, &c, e) != 0) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j < nin; j++) {
            double sum = 0.0, sq = 0.0;
            for (size_t i = 0; i < cnt; i++)
                sum += c.x[i * c.ldx + j];
            const double mb = sum / (double)cnt;
            for (size_t i = 0; i < cnt; i++) {
                const double dv = c.x[i * c.ldx + j] - mb;
                sq += dv * dv;
            }
            bm[j] = mb;
            bM[j] = sq;
        }
        const double na = (double)seen, nb = (double)cnt, nn = na + nb;
        for (size_t j = 0; j < nin; j++) { /* combine in block order */
            const double delta = bm[j] - m[j];
            m[j] += delta * nb / nn;
            M[j] += bM[j] + delta * delta * na * nb / nn;
        }
        seen += cnt;
    }
    for (size_t j = 0; rc == 0 && j < nin; j++) {
        const double sd = sqrt(M[j] / (double)d->n);
        mean[j] = (float)m[j];
        std[j] = sd > 0 && (float)sd > 0.0f ? (float)sd : 1.0f;
        if (!isfinite(mean[j]) || !isfinite(std[j]))
            rc = bnn_fail(e, "standardize: input %zu has no finite mean and deviation", j + 1);
    }
    free(m);
    free(M);
    free(bm);
    free(bM);
    free(xbuf);
    free(ybuf);
    return rc;
}
