/*
 * net.c - the convenience layer of batchnn.h: a net (a model, its loss and a cached engine)
 * created from widths and activations, trained on float arrays in memory and run forward,
 * on top of bnn_train and the engine interface (bnn_engine). Row-major arrays of count samples
 * are tables in direct form (no copy): row r of x is sample r. Data sets (api/data.c) train
 * and evaluate the same way, with validation.
 *
 * Standardisation (bnn_train_opts.standardize) is the command's --standardize: the model
 * carries in_mean/in_std, fitted once by bnn_data_scale_stats on the training samples (only
 * when the model has none, as for --resume/--init), and every data view made here (training,
 * validation, cost, forward) is given the model's scaler, so a net never sees raw inputs
 * when its model has one (a loaded --standardize model included).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/bnn_api.h"

struct bnn_net {
    bnn_model model;
    bnn_loss loss;
    bnn_engine *eng; /* the fast engine for the model's architecture and loss, made on first use */
};

const char *bnn_version(void)
{
    return BNN_VERSION;
}

/* A net around an initialised model (taken over). */
static bnn_net *net_wrap(bnn_model *m, bnn_loss loss, bnn_error *e)
{
    bnn_net *net = calloc(1, sizeof *net);
    if (!net) {
        bnn_model_free(m);
        bnn_fail(e, "net: out of memory");
        return NULL;
    }
    net->model = *m;
    net->loss = loss;
    return net;
}

bnn_net *bnn_net_create(int nlayers, const int *widths, const bnn_act *acts, uint64_t seed,
                        bnn_error *e)
{
    if (nlayers < 1 || nlayers > BNN_MAX_LAYERS || !widths) {
        bnn_fail(e, "net: %d layers (1 to %d, with nlayers + 1 widths)", nlayers,
                 BNN_MAX_LAYERS);
        return NULL;
    }
    bnn_arch a;
    memset(&a, 0, sizeof a);
    a.nlayers = nlayers;
    for (int l = 0; l <= nlayers; l++)
        a.width[l] = widths[l];
    for (int l = 0; l < nlayers; l++) {
        a.act[l] = acts ? acts[l] : BNN_ACT_SIGMOID;
        a.bias[l] = 1;
        if ((unsigned)a.act[l] >= BNN_ACT_COUNT) {
            bnn_fail(e, "net: layer %d: unknown activation %d", l, (int)a.act[l]);
            return NULL;
        }
    }
    bnn_model m;
    if (bnn_model_init(&m, &a, e) != 0)
        return NULL;
    bnn_model_randomize(&m, seed);
    return net_wrap(&m, BNN_LOSS_MSE, e);
}

bnn_net *bnn_net_load(const char *path, bnn_error *e)
{
    bnn_model m;
    char buf[64];
    bnn_loss loss = BNN_LOSS_MSE;
    int r = bnn_model_read_meta(path, "loss", buf, sizeof buf, e);
    if (r < 0)
        return NULL;
    if (r == 0 && bnn_loss_parse(buf, &loss) != 0) {
        bnn_fail(e, "%s: unknown loss '%s' in __metadata__", path, buf);
        return NULL;
    }
    if (bnn_model_load(&m, path, NULL, e) != 0)
        return NULL;
    if (bnn_loss_check(&m.arch, loss, e) != 0) {
        bnn_model_free(&m);
        return NULL;
    }
    return net_wrap(&m, loss, e);
}

int bnn_net_save(const bnn_net *net, const char *path, bnn_error *e)
{
    const char *key = "loss", *value = bnn_loss_name(net->loss);
    return bnn_model_save_meta(&net->model, path, &key, &value, 1, e);
}

void bnn_net_free(bnn_net *net)
{
    if (!net)
        return;
    bnn_engine_free(net->eng);
    bnn_model_free(&net->model);
    free(net);
}

bnn_model *bnn_net_model(bnn_net *net)
{
    return &net->model;
}

bnn_loss bnn_net_loss(const bnn_net *net)
{
    return net->loss;
}

/* The model's scaler on a view of the data (NULL pointers when it has none). */
static void scaled(const bnn_net *net, bnn_data *d)
{
    d->in_mean = net->model.in_mean;
    d->in_std = net->model.in_std;
}

/* o->standardize: the training samples' per-input mean and std into the model, unless it
 * already carries a scaler (which it keeps, as `train --standardize --init` does). */
static int fit_scaler(bnn_net *net, const bnn_train_opts *o, const bnn_data *d, bnn_error *e)
{
    bnn_model *m = &net->model;
    if (!o->standardize || m->in_mean)
        return 0;
    const size_t nin = (size_t)m->arch.width[0];
    float *mean = malloc(nin * sizeof *mean), *std = malloc(nin * sizeof *std);
    bnn_data raw = *d;
    raw.in_mean = raw.in_std = NULL;
    if (!mean || !std || bnn_data_scale_stats(&raw, mean, std, e) != 0) {
        if (!mean || !std)
            bnn_fail(e, "standardize: out of memory");
        free(mean);
        free(std);
        return -1;
    }
    m->in_mean = mean;
    m->in_std = std;
    return 0;
}

/* count samples of x (and y, when not NULL) as a data set; the tables stay the caller's. */
static int arrays(const bnn_net *net, const float *x, const float *y, size_t count,
                  bnn_table *tx, bnn_table *ty, bnn_data *d, bnn_error *e)
{
    const bnn_arch *a = &net->model.arch;
    const int64_t nin = a->width[0], nout = a->width[a->nlayers];
    if (count == 0 || !x)
        return bnn_fail(e, "net: no samples");
    memset(tx, 0, sizeof *tx);
    memset(ty, 0, sizeof *ty);
    *tx = (bnn_table){.rows = count, .cols = (size_t)nin, .f32 = x, .ld = (size_t)nin};
    *ty = (bnn_table){.rows = count, .cols = (size_t)nout, .f32 = y, .ld = (size_t)nout};
    strcpy(tx->name, "inputs");
    strcpy(ty->name, "targets");
    if (bnn_data_make(d, tx, y ? ty : NULL, nin, nout, e) != 0)
        return -1;
    scaled(net, d);
    return 0;
}

/* The cached fast engine for the net's loss. */
static bnn_engine *engine(bnn_net *net, bnn_error *e)
{
    if (net->eng && net->eng->opts.loss != net->loss) {
        bnn_engine_free(net->eng);
        net->eng = NULL;
    }
    if (!net->eng) {
        const bnn_engine_opts o = {.engine = BNN_ENGINE_FAST, .gradient = BNN_GRAD_EXACT,
                                .loss = net->loss};
        if (bnn_engine_create(&net->eng, &net->model.arch, &o, e) != 0)
            return NULL;
    }
    return net->eng;
}

bnn_train_opts bnn_train_defaults(void)
{
    bnn_train_opts o;
    bnn_train_opts_default(&o);
    return o;
}

/* Trains on d (the model's scaler fitted first when asked), validated on val, or on the
 * o->val_split part of d drawn as the command's --val-split F --seed S (o->seed). */
static int train_on(bnn_net *net, bnn_data d, const bnn_data *val, const bnn_train_opts *o,
                    bnn_error *e)
{
    bnn_train_opts t = *o;
    bnn_data v = val ? *val : d, part;
    uint32_t *idx = NULL;
    int stratified;
    if (t.val || t.best || t.state)
        return bnn_fail(e, "net: bnn_train_opts.val, .best and .state are for the internal "
                           "API; leave them NULL (validation: val_split or a data set)");
    if (!(t.val_split >= 0.0 && t.val_split < 1.0))
        return bnn_fail(e, "net: val_split %g is not 0 (none) or between 0 and 1",
                        t.val_split);
    if (t.val_split != 0.0 && val)
        return bnn_fail(e, "net: val_split %g and a validation set: give one of them",
                        t.val_split);
    if (t.val_split != 0.0) {
        if (bnn_split_random(&d, t.val_split, t.seed, &part, &v, &idx, &stratified, e) != 0)
            return -1;
        d = part;
    }
    if (fit_scaler(net, &t, &d, e) != 0) { /* from the training part only, as the command */
        free(idx);
        return -1;
    }
    scaled(net, &d);
    scaled(net, &v);
    t.val = val || idx ? &v : NULL;
    bnn_engine_free(net->eng); /* its working memory, while training makes its own */
    net->eng = NULL;
    const int rc = bnn_train(&net->model, &d, &t, e);
    free(idx);
    if (rc != 0)
        return -1;
    net->loss = t.loss;
    return 0;
}

int bnn_net_train(bnn_net *net, const float *x, const float *y, size_t count,
                  const bnn_train_opts *o, bnn_error *e)
{
    const bnn_train_opts def = bnn_train_defaults();
    bnn_table tx, ty;
    bnn_data d;
    if (!y)
        return bnn_fail(e, "net: training needs targets");
    if (arrays(net, x, y, count, &tx, &ty, &d, e) != 0)
        return -1;
    return train_on(net, d, NULL, o ? o : &def, e);
}

int bnn_net_train_data(bnn_net *net, const bnn_dataset *train, const bnn_dataset *val,
                       const bnn_train_opts *o, bnn_error *e)
{
    const bnn_train_opts def = bnn_train_defaults();
    if (!train)
        return bnn_fail(e, "net: no training data");
    const bnn_data *d = bnn_dataset_data(train), *v = val ? bnn_dataset_data(val) : d;
    const bnn_arch *a = &net->model.arch;
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers] || v->nin != d->nin ||
        v->nout != d->nout)
        return bnn_fail(e, "net: the data set was opened for %lld -> %lld, the net is "
                           "%lld -> %lld", (long long)d->nin, (long long)d->nout,
                        (long long)a->width[0], (long long)a->width[a->nlayers]);
    return train_on(net, *d, val ? v : NULL, o ? o : &def, e);
}

int bnn_net_eval_data(bnn_net *net, const bnn_dataset *ds, double *cost, double *accuracy,
                      bnn_error *e)
{
    bnn_data dv = *bnn_dataset_data(ds), *d = &dv;
    const bnn_arch *a = &net->model.arch;
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers])
        return bnn_fail(e, "net: the data set was opened for %lld -> %lld, the net is "
                           "%lld -> %lld", (long long)d->nin, (long long)d->nout,
                        (long long)a->width[0], (long long)a->width[a->nlayers]);
    scaled(net, d);
    bnn_engine *g = engine(net, e);
    double c = 0.0, correct = 0.0;
    if (!g || bnn_engine_cost(g, (bnn_vec){.f = net->model.theta}, d, 0, d->n, &c, &correct, e))
        return -1;
    if (cost)
        *cost = c;
    if (accuracy)
        *accuracy = net->loss == BNN_LOSS_MSE
                        ? NAN
                        : correct / ((double)d->n * (double)bnn_loss_decisions(a, net->loss));
    return 0;
}

int bnn_net_run_batch(bnn_net *net, const float *x, size_t count, float *out, bnn_error *e)
{
    bnn_table tx, ty;
    bnn_data d;
    bnn_engine *g;
    if (arrays(net, x, NULL, count, &tx, &ty, &d, e) != 0 || !(g = engine(net, e)))
        return -1;
    return bnn_engine_predict(g, (bnn_vec){.f = net->model.theta}, &d, 0, count, out, e);
}

int bnn_net_run(bnn_net *net, const float *x, float *out, bnn_error *e)
{
    return bnn_net_run_batch(net, x, 1, out, e);
}

int bnn_net_cost(bnn_net *net, const float *x, const float *y, size_t count, double *cost,
                 double *accuracy, bnn_error *e)
{
    bnn_table tx, ty;
    bnn_data d;
    bnn_engine *g;
    double c = 0.0, correct = 0.0;
    if (!y)
        return bnn_fail(e, "net: the cost needs targets");
    if (arrays(net, x, y, count, &tx, &ty, &d, e) != 0 || !(g = engine(net, e)) ||
        bnn_engine_cost(g, (bnn_vec){.f = net->model.theta}, &d, 0, count, &c, &correct, e) != 0)
        return -1;
    if (cost)
        *cost = c;
    if (accuracy)
        *accuracy = net->loss == BNN_LOSS_MSE
                        ? NAN
                        : correct / ((double)count *
                                     (double)bnn_loss_decisions(&net->model.arch, net->loss));
    return 0;
}
