/*
 * data.c - the public data sets of batchnn.h (bnn_data_open and friends): a file or a
 * synthetic set opened the way `batchnn train --data` opens it (bnn_table_open: CSV, .npy,
 * gzip, .npz; bnn_synth_open), made into a bnn_data for the net's widths (labels as one-hot
 * targets), and views of it for validation.
 *
 * A data set is heap-allocated and never moves: its bnn_data points at its own tables, and a
 * split's validation view points at its parent's (the parent must outlive it).
 */
#include <stdlib.h>
#include <string.h>

#include "api/bnn_api.h"

struct bnn_dataset {
    bnn_table data, targets; /* owned unless view */
    int has_targets, view;
    bnn_data d;
    uint32_t *split; /* after bnn_dataset_split: the index buffer of both views (owned) */
};

const bnn_data *bnn_dataset_data(const bnn_dataset *d)
{
    return &d->d;
}

#define SYNTH_SAMPLES 1000

static int open_tables(bnn_dataset *s, const char *path, const bnn_data_spec *sp, bnn_error *e)
{
    if (strncmp(path, "synth:", 6) == 0) {
        if (sp->targets)
            return bnn_fail(e, "%s: a synthetic set has its own targets (targets must be "
                               "NULL)", path);
        size_t b = bnn_memory_budget();
        return bnn_synth_open(&s->data, path, sp->samples ? sp->samples : SYNTH_SAMPLES,
                              sp->inputs, sp->outputs, sp->seed, b ? b / 4 : (size_t)1 << 30,
                              e);
    }
    if (bnn_table_open(&s->data, path, e) != 0)
        return -1;
    if (sp->targets) {
        if (bnn_table_open(&s->targets, sp->targets, e) != 0)
            return -1;
        s->has_targets = 1;
    }
    if (sp->samples) {
        if (sp->samples > s->data.rows)
            return bnn_fail(e, "%s: %zu samples asked, but the file has %zu", path,
                            sp->samples, s->data.rows);
        s->data.rows = sp->samples;
        if (s->has_targets && s->targets.rows >= sp->samples)
            s->targets.rows = sp->samples;
    }
    return 0;
}

bnn_dataset *bnn_data_open(const char *path, const bnn_data_spec *sp, bnn_error *e)
{
    if (!path || !sp) {
        bnn_fail(e, "data: path and spec are required");
        return NULL;
    }
    if (sp->inputs < 1 || sp->outputs < 1) {
        bnn_fail(e, "data: inputs %d and outputs %d must be at least 1", sp->inputs,
                 sp->outputs);
        return NULL;
    }
    bnn_dataset *s = calloc(1, sizeof *s);
    if (!s) {
        bnn_fail(e, "data: out of memory");
        return NULL;
    }
    if (open_tables(s, path, sp, e) != 0 ||
        bnn_data_make(&s->d, &s->data, s->has_targets ? &s->targets : NULL, sp->inputs,
                      sp->outputs, e) != 0) {
        bnn_dataset_free(s);
        return NULL;
    }
    if (!s->d.yt) {
        bnn_fail(e, "%s: %zu columns are the inputs only; the data set needs targets (%d "
                    "more columns, a label, or spec.targets)", s->data.name, s->data.cols,
                 sp->outputs);
        bnn_dataset_free(s);
        return NULL;
    }
    return s;
}

size_t bnn_dataset_count(const bnn_dataset *d)
{
    return d ? d->d.n : 0;
}

int bnn_dataset_split(bnn_dataset *d, double fraction, uint64_t seed, bnn_dataset **val,
                      bnn_error *e)
{
    *val = NULL;
    if (!(fraction > 0.0 && fraction < 1.0))
        return bnn_fail(e, "split: fraction %g is not between 0 and 1", fraction);
    if (d->view || d->split)
        return bnn_fail(e, "split: this data set is already a part of a split");
    bnn_dataset *v = calloc(1, sizeof *v);
    if (!v)
        return bnn_fail(e, "split: out of memory");
    bnn_data all = d->d, train;
    int stratified;
    /* the command's --val-split F --seed S: the same samples */
    if (bnn_split_random(&all, fraction, seed, &train, &v->d, &d->split, &stratified, e) != 0) {
        free(v);
        return -1;
    }
    v->view = 1;
    d->d = train;
    *val = v;
    return 0;
}

void bnn_dataset_free(bnn_dataset *d)
{
    if (!d)
        return;
    free(d->split);
    if (!d->view) {
        bnn_table_close(&d->data);
        if (d->has_targets)
            bnn_table_close(&d->targets);
    }
    free(d);
}
