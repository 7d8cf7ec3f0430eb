/*
 * train.c - gradient descent: theta <- theta - lr * dC/dtheta, full batch (one update per
 * epoch, as in the notes) or mini-batches of consecutive samples (n = batch in the cost).
 * The optimizer (src/engine/optim.c: sgd by default, the notes' update), the learning-rate schedule
 * (per epoch), the loss, shuffling (a permutation per epoch, src/data/shuffle.c) and validation
 * after each epoch are options; their defaults are the notes' plain gradient descent.
 *
 * The engine computes the gradient (exact or the notes' seed recursion); --gradient
 * finite-diff uses central differences of the double-precision reference cost whatever the
 * engine. Training and validation see all three through one interface (bnn_engine,
 * src/engine/engine.c); what stays here is the parameters' precision: the fast engine's are
 * the model's floats, the reference engine keeps its parameters in double and rounds them to
 * float32 only when it hands the model back.
 *
 * The loss reported for an epoch is the cost before that epoch's update; with mini-batches,
 * the sample-weighted mean of each batch's cost before its own update. A non-finite loss or
 * parameter stops training with the epoch's number, leaving the last finite parameters.
 *
 * Stops (should_stop, e.g. a signal): polled after every update, agreed between ranks in the
 * collective each step already has; a stop at an epoch's last step ends after that epoch (its
 * log line and checkpoint), a stop between steps restores the epoch's start (a snapshot taken
 * when an epoch has several steps), so the run always ends on a completed epoch.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/bnn_train_internal.h"

void bnn_train_opts_default(bnn_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 1;
    o->lr = 0.1;
    o->gradient = BNN_GRAD_EXACT;
    o->engine = BNN_ENGINE_FAST;
    o->fd_eps = 1e-5;
    bnn_optim_opts_default(&o->optim);
}

static const char *const gradient_names[] = {"exact", "seed", "finite-diff"};
static const bnn_name_alias gradient_aliases[] = {{"fd", BNN_GRAD_FINITE_DIFF}, {NULL, 0}};
static const bnn_names gradients = {gradient_names, 3, gradient_aliases};
static const char *const engine_names[] = {"fast", "reference"};
static const bnn_names engines = {engine_names, 2, NULL};

const char *bnn_gradient_name(bnn_gradient g)
{
    return bnn_names_of(&gradients, (int)g);
}

int bnn_gradient_parse(const char *s, bnn_gradient *g)
{
    const int i = bnn_names_find(&gradients, s);
    if (i >= 0)
        *g = (bnn_gradient)i;
    return i >= 0 ? 0 : -1;
}

const char *bnn_engine_kind_name(bnn_engine_kind g)
{
    return bnn_names_of(&engines, (int)g);
}

int bnn_engine_kind_parse(const char *s, bnn_engine_kind *g)
{
    const int i = bnn_names_find(&engines, s);
    if (i >= 0)
        *g = (bnn_engine_kind)i;
    return i >= 0 ? 0 : -1;
}

/* finite, and still finite once rounded to the float32 the model keeps */
static int all_finite_d(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(v[i]) <= FLT_MAX))
            return 0;
    return 1;
}

/* The training run: the engine, the parameters and their update. The parameters are the
 * model's floats, or with the reference engine a double copy (dtheta) rounded to float32 only
 * when the model is handed back; the gradient is float32 or double as the engine gives it. */
typedef struct trainer {
    const bnn_arch *a;
    size_t np;
    bnn_engine *eng;
    double *dtheta, *dprev, *dbuf[2]; /* reference engine: parameters, optimizer buffers */
    double *dgrad;                    /* a double gradient (reference, finite-diff) */
    float *fgrad, *fnext;             /* a float32 gradient; the spare parameter buffer */
    uint32_t *perm;
    bnn_optim_state own; /* when the caller passes none */
    bnn_optim_state *st;
    int use_ref;     /* the reference engine: double parameters */
    int fused;       /* gradient and step in one call (the fast engine, bnn_engine_step) */
    double best_val; /* validation: the best cost so far, and the epochs since */
    int since_best;
} trainer;

static void trainer_free(trainer *t)
{
    bnn_engine_free(t->eng);
    free(t->dtheta);
    free(t->dgrad);
    free(t->dprev);
    free(t->dbuf[0]);
    free(t->dbuf[1]);
    bnn_free(t->fgrad);
    bnn_free(t->fnext); /* whichever buffer the model does not hold */
    free(t->perm);
    bnn_optim_state_free(&t->own);
}

/* The reference engine's double buffers back into the float state (checkpoints, the end). */
static void sync_state(trainer *t)
{
    for (int i = 0; i < 2; i++)
        if (t->dbuf[i] && t->st->buf[i])
            for (size_t p = 0; p < t->np; p++)
                t->st->buf[i][p] = (float)t->dbuf[i][p];
}

/* The current parameters and the gradient buffer, as the engine takes them. */
static bnn_vec params(const trainer *t, const bnn_model *m)
{
    return t->dtheta ? (bnn_vec){.d = t->dtheta} : (bnn_vec){.f = m->theta};
}

static bnn_vec gradient(const trainer *t)
{
    return t->eng->grad_f64 ? (bnn_vec){.d = t->dgrad} : (bnn_vec){.f = t->fgrad};
}

/* The state at the start of an epoch of several steps, for a stop between its steps
 * (bnn_train_opts.should_stop): the parameters and the optimizer's buffers and step count as
 * the trainer holds them (float, or the reference engine's double), so that a stopped run
 * ends with the last completed epoch, which a checkpoint records and --resume continues. */
typedef struct snapshot {
    unsigned char *saved[3];
    uint64_t step;
} snapshot;

/* The live state: its buffers (the fast engine's parameters move between two buffers). */
static int live_state(const trainer *t, const bnn_model *m, void **live, size_t *bytes)
{
    const size_t w = t->dtheta ? sizeof(double) : sizeof(float);
    int n = 0;
    live[n++] = t->dtheta ? (void *)t->dtheta : (void *)m->theta;
    for (int i = 0; i < 2; i++) {
        void *b = t->dtheta ? (void *)t->dbuf[i] : (void *)t->st->buf[i];
        if (b)
            live[n++] = b;
    }
    *bytes = t->np * w;
    return n;
}

static int snapshot_take(snapshot *s, const trainer *t, const bnn_model *m)
{
    void *live[3];
    size_t bytes;
    const int n = live_state(t, m, live, &bytes);
    for (int i = 0; i < n; i++) {
        if (!s->saved[i] && !(s->saved[i] = malloc(bytes)))
            return -1;
        memcpy(s->saved[i], live[i], bytes);
    }
    s->step = t->st->step;
    return 0;
}

static void snapshot_restore(const snapshot *s, trainer *t, bnn_model *m)
{
    void *live[3];
    size_t bytes;
    const int n = live_state(t, m, live, &bytes);
    for (int i = 0; i < n; i++)
        memcpy(live[i], s->saved[i], bytes);
    t->st->step = s->step;
}

static void snapshot_free(snapshot *s)
{
    for (int i = 0; i < 3; i++)
        free(s->saved[i]);
}

static int diverged(bnn_error *e, int epoch)
{
    return bnn_fail(e, "epoch %d: a parameter became non-finite; training diverged (try a "
                       "smaller learning rate)", epoch);
}

/* One optimizer step with the gradient just computed, keeping the previous parameters when
 * the new ones are not all finite. plain: sgd without weight decay (the notes' update). */
static int update(trainer *t, bnn_model *m, const bnn_optim_opts *opt, int plain, double lr,
                  int epoch, bnn_error *e)
{
    const size_t np = t->np;
    if (t->dtheta) {
        memcpy(t->dprev, t->dtheta, np * sizeof *t->dtheta);
        bnn_optim_step_d(opt, &t->st->step, lr, t->dtheta, t->dgrad, t->dbuf[0], t->dbuf[1],
                         np);
        if (!all_finite_d(t->dtheta, np)) {
            memcpy(t->dtheta, t->dprev, np * sizeof *t->dtheta);
            return diverged(e, epoch);
        }
        return 0;
    }
    /* the new parameters go to the spare buffer, checked on the way; the two buffers swap
     * only when all are finite, so a failed update leaves the last finite parameters in place
     * without copying them every step */
    float *next = t->fnext;
    int bad = 0;
    if (t->eng->grad_f64 && plain) { /* a double gradient applied in double, then rounded */
        t->st->step++;
        for (size_t p = 0; p < np; p++) {
            next[p] = (float)((double)m->theta[p] - lr * t->dgrad[p]);
            bad |= !isfinite(next[p]);
        }
    } else {
        if (t->eng->grad_f64)
            for (size_t p = 0; p < np; p++)
                t->fgrad[p] = (float)t->dgrad[p];
        bad = !bnn_optim_step(t->st, lr, m->theta, t->fgrad, next);
    }
    if (bad)
        return diverged(e, epoch);
    t->fnext = m->theta;
    m->theta = next;
    return 0;
}

/* After a fused step (bnn_engine_step wrote the new parameters to the spare buffer): the same
 * rule as update's, the buffers swap only when every new parameter is finite. */
static int fused_update(trainer *t, bnn_model *m, int finite, int epoch, bnn_error *e)
{
    if (!finite)
        return diverged(e, epoch);
    float *next = t->fnext;
    t->fnext = m->theta;
    m->theta = next;
    return 0;
}

/* The options' checks, before anything is allocated; 0, or -1 with the message in e. */
static int check_opts(const bnn_model *m, const bnn_data *d, const bnn_train_opts *o,
                      bnn_error *e)
{
    const bnn_arch *a = &m->arch;
    if (o->epochs < 0)
        return bnn_fail(e, "epochs must be at least 0");
    if (!isfinite(o->lr) || o->lr < 0)
        return bnn_fail(e, "lr must be a finite number >= 0");
    if (!d->yt)
        return bnn_fail(e, "%s: training needs targets", d->xt->name);
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers])
        return bnn_fail(e, "%s: the data has %lld inputs and %lld targets, the model %lld and "
                           "%lld", d->xt->name, (long long)d->nin, (long long)d->nout,
                        (long long)a->width[0], (long long)a->width[a->nlayers]);
    if (o->val && (o->val->nin != d->nin || o->val->nout != d->nout || !o->val->yt))
        return bnn_fail(e, "%s: validation data needs %lld inputs and %lld targets",
                        o->val->xt->name, (long long)d->nin, (long long)d->nout);
    if (bnn_optim_check(&o->optim, e) != 0 || bnn_loss_check(a, o->loss, e) != 0)
        return -1;
    if (o->loss != BNN_LOSS_MSE && o->gradient == BNN_GRAD_SEED)
        return bnn_fail(e, "gradient seed is the notes' recursion for the squared error; "
                           "loss %s needs the exact gradient", bnn_loss_name(o->loss));
    if (o->shuffle && bnn_shuffle_entries(d->n) > (size_t)UINT32_MAX)
        return bnn_fail(e, "shuffle: %zu samples are too many to shuffle", d->n);
    return 0;
}

/* The trainer's set-up: the optimizer state (the caller's, checked, or its own), the engine,
 * the buffers of the parameters' precision and the permutation. 0, or -1 with the message in
 * e; either way trainer_free frees what it holds. */
static int trainer_init(trainer *t, const bnn_model *m, const bnn_data *d,
                        const bnn_train_opts *o, bnn_error *e)
{
    const size_t np = m->nparams;
    t->a = &m->arch;
    t->np = np;
    t->use_ref = o->engine == BNN_ENGINE_REFERENCE;
    t->best_val = INFINITY;
    if (o->state) {
        t->st = o->state;
        if (t->st->opts.kind != o->optim.kind || t->st->nparams != np ||
            (bnn_optim_nbuf(o->optim.kind) > 0 && !t->st->buf[0]) ||
            (bnn_optim_nbuf(o->optim.kind) > 1 && !t->st->buf[1]))
            return bnn_fail(e, "training: the optimizer state (%s, %zu parameters) does not "
                               "match %s with %zu parameters", bnn_optim_name(t->st->opts.kind),
                            t->st->nparams, bnn_optim_name(o->optim.kind), np);
        t->st->opts = o->optim;
    } else {
        if (bnn_optim_state_init(&t->own, &o->optim, np, e) != 0)
            return -1;
        t->st = &t->own;
    }
    t->st->threads = o->threads;
    const bnn_engine_opts eo = {.engine = o->engine, .gradient = o->gradient, .loss = o->loss,
                             .threads = o->threads, .fd_eps = o->fd_eps};
    if (bnn_engine_create(&t->eng, t->a, &eo, e) != 0)
        return -1;
    if (t->eng->grad_f64 && !(t->dgrad = malloc(np * sizeof *t->dgrad)))
        goto oom;
    /* the fast engine computes the gradient and runs the step in one call (bnn_engine_step): its
     * threads update the rows they own, so no parameter-sized buffer crosses cores per batch */
    t->fused = !t->use_ref && !t->eng->grad_f64;
    if (t->use_ref) { /* the double parameters and optimizer buffers */
        t->dtheta = malloc(np * sizeof *t->dtheta);
        t->dprev = malloc(np * sizeof *t->dprev);
        if (!t->dtheta || !t->dprev)
            goto oom;
        bnn_theta_to_double(t->dtheta, m->theta, np);
        for (int i = 0; i < bnn_optim_nbuf(o->optim.kind); i++) {
            if (!(t->dbuf[i] = malloc(np * sizeof *t->dbuf[i])))
                goto oom;
            for (size_t p = 0; p < np; p++)
                t->dbuf[i][p] = t->st->buf[i][p];
        }
    } else { /* the float model: its gradient and a spare parameter buffer */
        t->fgrad = bnn_alloc(np, sizeof *t->fgrad);
        t->fnext = bnn_alloc(np, sizeof *t->fnext);
        if (!t->fgrad || !t->fnext)
            goto oom;
    }
    if (o->shuffle && !(t->perm = malloc(bnn_shuffle_entries(d->n) * sizeof *t->perm)))
        return bnn_fail(e, "shuffle: out of memory for a permutation of %zu samples", d->n);
    return 0;
oom:
    return bnn_fail(e, "training: out of memory for %zu parameters", np);
}

/* The validation step after an epoch: the cost (and accuracy) of o->val at the current
 * parameters into st, and the best parameters so far into o->best (with o->best_epoch). */
static int validate(trainer *t, const bnn_model *m, const bnn_train_opts *o, double decisions,
                    bnn_epoch_stats *st, bnn_error *e)
{
    double vc = 0.0, vcor = 0.0;
    if (bnn_engine_cost(t->eng, params(t, m), o->val, 0, o->val->n, &vc, &vcor, e) != 0)
        return -1;
    st->val_loss = vc;
    if (o->loss != BNN_LOSS_MSE)
        st->val_accuracy = vcor / ((double)o->val->n * decisions);
    st->best = vc < t->best_val;
    if (st->best) {
        t->best_val = vc;
        t->since_best = 0;
        if (o->best && o->best->nparams == t->np) {
            for (size_t p = 0; p < t->np; p++)
                o->best->theta[p] = t->use_ref ? (float)t->dtheta[p] : m->theta[p];
            if (o->best_epoch)
                *o->best_epoch = st->epoch;
        }
    } else {
        t->since_best++;
    }
    return 0;
}

/* The epoch's report: the callbacks (either may ask to stop; both are called) and a
 * checkpoint when one is due. 1 to stop, 0 to go on, -1 with the message in e. */
static int epoch_report(trainer *t, bnn_model *m, const bnn_train_opts *o,
                        const bnn_epoch_stats *st, bnn_error *e)
{
    int stop = o->on_epoch_stats && o->on_epoch_stats(o->ctx, st);
    stop |= o->on_epoch && o->on_epoch(o->ctx, st->epoch, st->loss, st->seconds);
    const int epoch = st->epoch;
    if (o->on_checkpoint && o->checkpoint_every > 0 && epoch % o->checkpoint_every == 0) {
        if (t->use_ref) { /* the model sees the reference engine's parameters, rounded */
            for (size_t p = 0; p < t->np; p++)
                m->theta[p] = (float)t->dtheta[p];
            sync_state(t);
        }
        if (o->on_checkpoint(o->ctx, epoch, m, e) != 0)
            return -1;
    }
    return stop;
}

int bnn_train(bnn_model *m, const bnn_data *d, const bnn_train_opts *o, bnn_error *e)
{
    if (check_opts(m, d, o, e) != 0)
        return -1;
    const size_t np = m->nparams;
    const size_t batch = o->batch == 0 || o->batch > d->n ? d->n : o->batch;
    /* the notes' update, computed as before (bitwise the same models) */
    const int plain = o->optim.kind == BNN_OPT_SGD && o->optim.weight_decay == 0.0;
    const int total = o->total_epochs > 0 ? o->total_epochs : o->start_epoch + o->epochs;
    const double decisions = (double)bnn_loss_decisions(&m->arch, o->loss);

    trainer t = {0};
    snapshot snap = {0}; /* with should_stop and several steps per epoch */
    int rc = -1;
    if (trainer_init(&t, m, d, o, e) != 0)
        goto done;
    const int fused = t.fused;
    int stop = 0;
    for (int ep = 0; ep < o->epochs && !stop; ep++) {
        const int epoch = o->start_epoch + ep + 1; /* 1-based in messages and logs */
        const double lr = bnn_schedule_lr(&o->schedule, o->lr, epoch - 1, total);
        double t0 = bnn_now_seconds();
        double loss_sum = 0.0, correct_sum = 0.0;
        bnn_data view = *d;
        if (o->shuffle &&
            bnn_shuffle_view(&view, t.perm, o->seed, (uint64_t)(epoch - 1), e) != 0)
            goto done;
        if (o->should_stop && batch < d->n && snapshot_take(&snap, &t, m) != 0)
            goto oom;
        for (size_t b0 = 0; b0 < d->n; b0 += batch) {
            size_t count = d->n - b0 < batch ? d->n - b0 : batch;
            double cost = 0.0, correct = 0.0;
            int finite = 1; /* fused: whether the engine's new parameters are all finite */
            if (fused ? bnn_engine_step(t.eng, m->theta, &view, b0, count, t.fgrad, t.st, lr,
                                        t.fnext, &cost, &correct, &finite, e) != 0
                      : bnn_engine_grad(t.eng, params(&t, m), &view, b0, count, gradient(&t),
                                        &cost, &correct, e) != 0)
                goto done;
            if (!isfinite(cost)) { /* the same on every rank (the shards' sums, gathered) */
                bnn_dist_same_error();
                bnn_fail(e, "epoch %d: the loss is %s; training diverged (try a smaller "
                            "learning rate)", epoch, isnan(cost) ? "nan" : "infinite");
                goto done;
            }
            loss_sum += cost * (double)count;
            correct_sum += correct;
            /* under mpirun the ranks hold the same parameters, so they diverge together;
             * they agree on it all the same, so that none is left waiting */
            if (o->should_stop)
                stop = o->should_stop(o->ctx);
            const int failed = fused ? fused_update(&t, m, finite, epoch, e)
                                     : update(&t, m, &o->optim, plain, lr, epoch, e);
            if (bnn_dist_agree_step(failed != 0, o->should_stop ? &stop : NULL, e) != 0)
                goto done;
            if (stop && b0 + count < d->n) { /* between the steps of an epoch: undo them */
                snapshot_restore(&snap, &t, m);
                rc = 0;
                goto done;
            }
        }
        double seconds = bnn_now_seconds() - t0;
        bnn_epoch_stats st = {
            .epoch = epoch,
            .loss = loss_sum / (double)d->n,
            .seconds = seconds,
            .lr = lr,
            .val_loss = NAN,
            .accuracy = o->loss != BNN_LOSS_MSE ? correct_sum / ((double)d->n * decisions) : NAN,
            .val_accuracy = NAN,
            .best = 1,
        };
        if (o->val && validate(&t, m, o, decisions, &st, e) != 0)
            goto done;
        const int report = epoch_report(&t, m, o, &st, e);
        if (report < 0)
            goto done;
        stop |= report;
        if (o->val && o->patience > 0 && t.since_best >= o->patience)
            break;
    }
    rc = 0;
    goto done;
oom:
    bnn_fail(e, "training: out of memory for %zu parameters", np);
done:
    if (t.use_ref && t.dtheta) {
        for (size_t p = 0; p < np; p++)
            m->theta[p] = (float)t.dtheta[p];
        sync_state(&t);
    }
    snapshot_free(&snap);
    trainer_free(&t);
    return rc;
}
