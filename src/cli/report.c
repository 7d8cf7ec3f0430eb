/*
 * report.c - `eval --report` / `--report-csv FILE`: a classifier's confusion matrix and
 * per-class precision, recall, F1 and support, counted over every sample.
 *
 * Rules:
 *   - Classes: cross-entropy and mse models with K > 1 outputs have K classes; the predicted
 *     class is the argmax of the outputs (the first of equal ones), the true class the argmax
 *     of the target row (a label is its one-hot row). bce has one 2 x 2 matrix per output
 *     (output > 0 predicts 1, target >= 0.5 is 1): a multi-label model is K binary problems.
 *   - Rows are true classes, columns predicted ones. precision = tp / predicted, recall =
 *     tp / support, F1 their harmonic mean; a class never predicted (or never true) gets 0
 *     there, the way scikit-learn's zero_division=0 does.
 *   - The model's outputs come from the fast engine in blocks (bounded memory for any n);
 *     under mpirun every rank computes its shards and rank 0 alone counts and writes.
 *   - The CSV goes through bnn_outfile (atomic, like every output): a header line, then one
 *     row per (output,) true class: counts per predicted class, precision, recall, f1,
 *     support (%.9g).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

void cli_report_init(cli_report *r, const bnn_arch *a, bnn_loss loss)
{
    memset(r, 0, sizeof *r);
    const int64_t nout = a->width[a->nlayers];
    r->bce = loss == BNN_LOSS_BCE;
    r->outputs = r->bce ? nout : 1;
    r->k = r->bce ? 2 : nout;
    r->nout = nout;
    r->m = calloc((size_t)(r->outputs * r->k * r->k), sizeof *r->m);
    if (!r->m)
        cli_die(1, "eval: out of memory for the report");
}

void cli_report_free(cli_report *r)
{
    free(r->m);
    r->m = NULL;
}

static size_t argmax(const float *v, size_t n, size_t stride)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (v[j * stride] > v[best * stride])
            best = j;
    return best;
}

/* Counts count samples: outputs row-major (count x nout), targets column-major (row i at
 * y + i * ldy). */
static void report_add(cli_report *r, const float *out, const float *y, size_t ldy,
                       size_t count)
{
    const size_t k = (size_t)r->k, nout = (size_t)r->nout;
    for (size_t i = 0; i < count; i++) {
        const float *o = out + i * nout, *t = y + i * ldy;
        if (r->bce) {
            for (size_t j = 0; j < nout; j++)
                r->m[j * 4 + (size_t)(t[j] >= 0.5f) * 2 + (size_t)(o[j] > 0.0f)]++;
        } else {
            r->m[argmax(t, nout, 1) * k + argmax(o, nout, 1)]++;
        }
    }
    r->n += count;
}

void cli_report_count(cli_report *r, bnn_engine *g, const float *theta, const bnn_data *d)
{
    bnn_error e;
    const size_t nout = (size_t)r->nout, nin = (size_t)d->nin;
    const size_t block = cli_rows_per_block(nout + nin, d->n);
    float *out = bnn_alloc(block * nout, sizeof(float));
    float *xbuf = bnn_alloc(block * (nin + nout), sizeof(float));
    float *ybuf = bnn_alloc(block * nout, sizeof(float));
    if (!out || !xbuf || !ybuf)
        cli_die(1, "eval: out of memory for the report");
    const int lead = bnn_dist_rank() == 0;
    for (size_t s = 0; s < d->n; s += block) {
        const size_t cnt = d->n - s < block ? d->n - s : block;
        bnn_chunk c;
        if (bnn_engine_predict(g, (bnn_vec){.f = (float *)theta}, d, s, cnt, out, &e) != 0)
            cli_die(1, "%s", e.msg);
        if (!lead)
            continue;
        if (bnn_data_chunk(d, s, cnt, xbuf, ybuf, &c, &e) != 0)
            cli_die(1, "%s", e.msg);
        report_add(r, out, c.y, c.ldy, cnt);
    }
    bnn_free(out);
    bnn_free(xbuf);
    bnn_free(ybuf);
}

/* Precision, recall, F1 and support of class c of matrix m (k x k). */
static void class_scores(const uint64_t *m, size_t k, size_t c, double s[4])
{
    uint64_t pred = 0, sup = 0;
    for (size_t i = 0; i < k; i++) {
        pred += m[i * k + c];
        sup += m[c * k + i];
    }
    const double tp = (double)m[c * k + c];
    s[0] = pred ? tp / (double)pred : 0.0;
    s[1] = sup ? tp / (double)sup : 0.0;
    s[2] = s[0] + s[1] > 0.0 ? 2.0 * s[0] * s[1] / (s[0] + s[1]) : 0.0;
    s[3] = (double)sup;
}

static double matrix_accuracy(const cli_report *r)
{
    uint64_t right = 0, all = 0;
    const size_t k = (size_t)r->k;
    for (int64_t o = 0; o < r->outputs; o++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) {
                all += r->m[(size_t)o * k * k + i * k + j];
                right += i == j ? r->m[(size_t)o * k * k + i * k + j] : 0;
            }
    return all ? (double)right / (double)all : 0.0;
}

void cli_report_print(const cli_report *r, int with_accuracy)
{
    const size_t k = (size_t)r->k;
    for (int64_t o = 0; o < r->outputs; o++) {
        const uint64_t *m = r->m + (size_t)o * k * k;
        if (r->bce)
            printf("output %lld: ", (long long)o + 1);
        printf("confusion matrix (rows: true class, columns: predicted class)\n");
        printf("%8s", "");
        for (size_t j = 0; j < k; j++)
            printf(" %9zu", j);
        printf("\n");
        for (size_t i = 0; i < k; i++) {
            printf("%8zu", i);
            for (size_t j = 0; j < k; j++)
                printf(" %9llu", (unsigned long long)m[i * k + j]);
            printf("\n");
        }
        printf("%8s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
        for (size_t c = 0; c < k; c++) {
            double s[4];
            class_scores(m, k, c, s);
            printf("%8zu %9.4f %9.4f %9.4f %9.0f\n", c, s[0], s[1], s[2], s[3]);
        }
    }
    if (with_accuracy)
        printf("accuracy %.9g\n", matrix_accuracy(r));
}

int cli_report_write_csv(const cli_report *r, const char *path, bnn_error *e)
{
    bnn_outfile o;
    if (bnn_outfile_open(&o, path, e) != 0)
        return -1;
    FILE *f = o.fp;
    const size_t k = (size_t)r->k;
    fprintf(f, "%sclass", r->bce ? "output," : "");
    for (size_t j = 0; j < k; j++)
        fprintf(f, ",pred_%zu", j);
    fprintf(f, ",precision,recall,f1,support\n");
    for (int64_t o2 = 0; o2 < r->outputs; o2++) {
        const uint64_t *m = r->m + (size_t)o2 * k * k;
        for (size_t i = 0; i < k; i++) {
            double s[4];
            class_scores(m, k, i, s);
            if (r->bce)
                fprintf(f, "%lld,", (long long)o2 + 1);
            fprintf(f, "%zu", i);
            for (size_t j = 0; j < k; j++)
                fprintf(f, ",%llu", (unsigned long long)m[i * k + j]);
            fprintf(f, ",%.9g,%.9g,%.9g,%.0f\n", s[0], s[1], s[2], s[3]);
        }
    }
    return bnn_outfile_commit(&o, e);
}
