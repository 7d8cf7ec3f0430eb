/*
 * train.c - gradient descent: theta <- theta - lr * dC/dtheta, full batch (one update per
 * epoch, as in the notes) or mini-batches of consecutive samples (n = batch in the cost).
 *
 * The engine computes the gradient (exact or the notes' seed recursion); --gradient
 * finite-diff uses central differences of the double-precision reference cost whatever the
 * engine. The reference engine keeps its parameters in double and rounds them to float32
 * only when it hands the model back.
 *
 * The loss reported for an epoch is the cost before that epoch's update; with mini-batches,
 * the sample-weighted mean of each batch's cost before its own update. A non-finite loss or
 * parameter stops training with the epoch's number, leaving the last finite parameters.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batchnn.h"

void bnn_train_opts_default(bnn_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 1;
    o->lr = 0.1;
    o->gradient = BNN_GRAD_EXACT;
    o->engine = BNN_ENGINE_FAST;
    o->fd_eps = 1e-5;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const gradient_names[] = {"exact", "seed", "finite-diff"};
static const char *const engine_names[] = {"fast", "reference"};

const char *bnn_gradient_name(bnn_gradient g)
{
    return (unsigned)g < 3 ? gradient_names[g] : "?";
}

int bnn_gradient_parse(const char *s, bnn_gradient *g)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, gradient_names[i]) == 0) {
            *g = (bnn_gradient)i;
            return 0;
        }
    if (strcmp(s, "fd") == 0) {
        *g = BNN_GRAD_FINITE_DIFF;
        return 0;
    }
    return -1;
}

const char *bnn_engine_name(bnn_engine g)
{
    return (unsigned)g < 2 ? engine_names[g] : "?";
}

int bnn_engine_parse(const char *s, bnn_engine *g)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, engine_names[i]) == 0) {
            *g = (bnn_engine)i;
            return 0;
        }
    return -1;
}

/* finite, and still finite once rounded to the float32 the model keeps */
static int all_finite_d(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(v[i]) <= FLT_MAX))
            return 0;
    return 1;
}

int bnn_train(bnn_model *m, const bnn_data *d, const bnn_train_opts *o, bnn_error *e)
{
    const bnn_arch *a = &m->arch;
    const size_t np = m->nparams;
    if (o->epochs < 0)
        return bnn_fail(e, "--epochs must be at least 0");
    if (!isfinite(o->lr) || o->lr < 0)
        return bnn_fail(e, "--lr must be a finite number >= 0");
    if (!d->yt)
        return bnn_fail(e, "%s: training needs targets", d->xt->name);
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers])
        return bnn_fail(e, "%s: the data has %lld inputs and %lld targets, the model %lld and "
                           "%lld", d->xt->name, (long long)d->nin, (long long)d->nout,
                        (long long)a->width[0], (long long)a->width[a->nlayers]);
    const size_t batch = o->batch == 0 || o->batch > d->n ? d->n : o->batch;
    const int use_ref = o->engine == BNN_ENGINE_REFERENCE;
    const int use_fd = o->gradient == BNN_GRAD_FINITE_DIFF;

    bnn_fast *fast = NULL;
    double *dtheta = NULL, *dgrad = NULL, *dprev = NULL;
    float *fgrad = NULL, *fnext = NULL;
    int rc = -1;
    if (!use_ref && !use_fd) {
        bnn_fast_opts fo = {.threads = o->threads, .chunk = 0};
        if (bnn_fast_create(&fast, a, &fo, e) != 0)
            return -1;
    }
    if (use_ref || use_fd) {
        dtheta = malloc(np * sizeof *dtheta);
        dgrad = malloc(np * sizeof *dgrad);
        dprev = malloc(np * sizeof *dprev);
        if (!dtheta || !dgrad || !dprev) {
            bnn_fail(e, "training: out of memory for %zu parameters", np);
            goto done;
        }
        for (size_t p = 0; p < np; p++)
            dtheta[p] = m->theta[p];
    }
    if (!use_ref) { /* the float model: its gradient and a spare parameter buffer */
        fgrad = bnn_alloc(np, sizeof *fgrad);
        fnext = bnn_alloc(np, sizeof *fnext);
        if (!fgrad || !fnext) {
            bnn_fail(e, "training: out of memory for %zu parameters", np);
            goto done;
        }
    }

    for (int ep = 0; ep < o->epochs; ep++) {
        const int epoch = o->start_epoch + ep + 1; /* 1-based in messages and logs */
        double t0 = now_seconds();
        double loss_sum = 0.0;
        for (size_t b0 = 0; b0 < d->n; b0 += batch) {
            size_t count = d->n - b0 < batch ? d->n - b0 : batch;
            double cost = 0.0;
            if (use_ref || use_fd) {
                if (!use_ref) /* finite-diff from the float model: the engine's parameters */
                    for (size_t p = 0; p < np; p++)
                        dtheta[p] = m->theta[p];
                if (use_fd) {
                    if (bnn_ref_cost(a, dtheta, d, b0, count, &cost, e) != 0 ||
                        bnn_fd_grad(a, dtheta, d, b0, count, o->fd_eps, dgrad, e) != 0)
                        goto done;
                } else if (bnn_ref_grad(a, dtheta, d, b0, count, o->gradient, dgrad, &cost,
                                        e) != 0) {
                    goto done;
                }
            } else if (bnn_fast_grad(fast, m->theta, d, b0, count, o->gradient, fgrad, &cost,
                                     e) != 0) {
                goto done;
            }
            if (!isfinite(cost)) {
                bnn_fail(e, "epoch %d: the loss is %s; training diverged (try a smaller --lr)",
                         epoch, isnan(cost) ? "nan" : "infinite");
                goto done;
            }
            loss_sum += cost * (double)count;
            /* the update, keeping the previous parameters in case it overflows */
            if (use_ref) {
                memcpy(dprev, dtheta, np * sizeof *dtheta);
                for (size_t p = 0; p < np; p++)
                    dtheta[p] -= o->lr * dgrad[p];
                if (!all_finite_d(dtheta, np)) {
                    memcpy(dtheta, dprev, np * sizeof *dtheta);
                    bnn_fail(e, "epoch %d: a parameter became non-finite; training diverged "
                                "(try a smaller --lr)", epoch);
                    goto done;
                }
            } else {
                /* the new parameters go to the spare buffer, checked on the way; the two
                 * buffers swap only when all are finite, so a failed update leaves the
                 * last finite parameters in place without copying them every step */
                float *next = fnext;
                int bad = 0;
                if (use_fd) {
                    for (size_t p = 0; p < np; p++) {
                        next[p] = (float)((double)m->theta[p] - o->lr * dgrad[p]);
                        bad |= !isfinite(next[p]);
                    }
                } else {
                    const float alpha = (float)-o->lr;
                    for (size_t p = 0; p < np; p++) {
                        next[p] = m->theta[p] + alpha * fgrad[p];
                        bad |= !isfinite(next[p]);
                    }
                }
                if (bad) {
                    bnn_fail(e, "epoch %d: a parameter became non-finite; training diverged "
                                "(try a smaller --lr)", epoch);
                    goto done;
                }
                fnext = m->theta;
                m->theta = next;
            }
        }
        double seconds = now_seconds() - t0;
        int stop = o->on_epoch && o->on_epoch(o->ctx, epoch, loss_sum / (double)d->n, seconds);
        if (o->on_checkpoint && o->checkpoint_every > 0 && epoch % o->checkpoint_every == 0) {
            if (use_ref) /* the model sees the reference engine's parameters, rounded */
                for (size_t p = 0; p < np; p++)
                    m->theta[p] = (float)dtheta[p];
            if (o->on_checkpoint(o->ctx, epoch, m, e) != 0)
                goto done;
        }
        if (stop)
            break;
    }
    rc = 0;
done:
    if (use_ref && dtheta)
        for (size_t p = 0; p < np; p++)
            m->theta[p] = (float)dtheta[p];
    bnn_fast_free(fast);
    free(dtheta);
    free(dgrad);
    free(dprev);
    bnn_free(fgrad);
    bnn_free(fnext); /* whichever buffer the model does not hold */
    return rc;
}
