/*
 * engine.c - the engines behind one interface (bnn_engine, declared in engine/bnn_engine.h): the
 * fast engine (fast.c), the reference engine (reference.c) and finite differences of the
 * reference cost, each as a table of three calls (gradient, cost, predict on samples
 * [start, start + count)). The calls forward to the engines' own functions unchanged, so
 * results are bitwise those of calling them directly.
 *
 * Parameters arrive as float32 or double (bnn_vec). The fast engine takes float32 only; the
 * reference and finite-diff engines widen float32 parameters into a double copy of their own
 * (exact), which is what training with --gradient finite-diff and --engine fast does.
 *
 * The command reaches the engines through this interface only, and the kernels not at all:
 * bnn_engine_isa names the kernel table's CPU path for its run headers.
 */
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "engine/engines.h"

/* State of the three implementations. */
typedef struct eng_state {
    bnn_fast_engine *fast; /* fast */
    double *wide;   /* reference, finite-diff: float32 parameters widened */
    double *x, *y;  /* reference predict: one sample's inputs and outputs */
    bnn_engine *base;  /* finite-diff: the engine of cost and predict (created on first use) */
} eng_state;

static eng_state *state(bnn_engine *g)
{
    return g->impl;
}

/* The parameters in double: as given, or float32 widened into the engine's copy. */
static const double *wide_theta(bnn_engine *g, bnn_vec theta)
{
    if (theta.d)
        return theta.d;
    return bnn_theta_to_double(state(g)->wide, theta.f, g->nparams);
}

/* ------------------------------------------------------------------------------------------ */
/* fast                                                                                        */

static int fast_grad(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                     bnn_vec grad, double *cost, double *correct, bnn_error *e)
{
    return bnn_fast_grad_acc(state(g)->fast, theta.f, d, start, count, g->opts.gradient,
                             grad.f, cost, correct, e);
}

static int fast_cost(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                     double *cost, double *correct, bnn_error *e)
{
    return bnn_fast_eval(state(g)->fast, theta.f, d, start, count, cost, correct, e);
}

static int fast_predict(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start,
                        size_t count, float *out, bnn_error *e)
{
    return bnn_fast_predict(state(g)->fast, theta.f, d, start, count, out, e);
}

static void fast_destroy(bnn_engine *g)
{
    bnn_fast_free(state(g)->fast);
}

static const bnn_engine_ops fast_ops = {"fast", fast_grad, fast_cost, fast_predict, fast_destroy};

/* ------------------------------------------------------------------------------------------ */
/* reference                                                                                   */

static int ref_grad(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    bnn_vec grad, double *cost, double *correct, bnn_error *e)
{
    return bnn_ref_grad_loss(&g->arch, wide_theta(g, theta), d, start, count,
                             g->opts.gradient, g->opts.loss, grad.d, cost, correct, e);
}

static int ref_cost(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    double *cost, double *correct, bnn_error *e)
{
    return bnn_ref_grad_loss(&g->arch, wide_theta(g, theta), d, start, count, BNN_GRAD_EXACT,
                             g->opts.loss, NULL, cost, correct, e);
}

static int ref_predict(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start,
                       size_t count, float *out, bnn_error *e)
{
    eng_state *s = state(g);
    const double *th = wide_theta(g, theta);
    const size_t nout = (size_t)g->arch.width[g->arch.nlayers];
    for (size_t i = 0; i < count; i++) {
        if (bnn_data_sample(d, start + i, s->x, NULL, e) != 0)
            return -1;
        if (bnn_ref_forward(&g->arch, th, s->x, s->y) != 0)
            return bnn_fail(e, "reference engine: out of memory for the activations of "
                               "sample %zu", start + i);
        for (size_t j = 0; j < nout; j++)
            out[i * nout + j] = (float)s->y[j];
    }
    return 0;
}

static void ref_destroy(bnn_engine *g)
{
    (void)g;
}

static const bnn_engine_ops ref_ops = {"reference", ref_grad, ref_cost, ref_predict, ref_destroy};

/* ------------------------------------------------------------------------------------------ */
/* finite-diff: central differences of the reference cost, as README ("Gradients") says      */

static int fd_grad(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                   bnn_vec grad, double *cost, double *correct, bnn_error *e)
{
    const double *th = wide_theta(g, theta);
    if (bnn_ref_grad_loss(&g->arch, th, d, start, count, BNN_GRAD_EXACT, g->opts.loss, NULL,
                          cost, correct, e) != 0)
        return -1;
    return bnn_fd_grad_loss(&g->arch, th, d, start, count, g->opts.fd_eps,
                            g->opts.fd_order == 4 ? 4 : 2, g->opts.loss, grad.d, e);
}

static bnn_engine *fd_base(bnn_engine *g, bnn_error *e)
{
    eng_state *s = state(g);
    if (!s->base) {
        bnn_engine_opts o = g->opts;
        o.gradient = BNN_GRAD_EXACT;
        if (bnn_engine_create(&s->base, &g->arch, &o, e) != 0)
            return NULL;
    }
    return s->base;
}

static int fd_cost(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                   double *cost, double *correct, bnn_error *e)
{
    bnn_engine *b = fd_base(g, e);
    return b ? bnn_engine_cost(b, theta, d, start, count, cost, correct, e) : -1;
}

static int fd_predict(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start,
                      size_t count, float *out, bnn_error *e)
{
    bnn_engine *b = fd_base(g, e);
    return b ? bnn_engine_predict(b, theta, d, start, count, out, e) : -1;
}

static void fd_destroy(bnn_engine *g)
{
    bnn_engine_free(state(g)->base);
}

static const bnn_engine_ops fd_ops = {"finite-diff", fd_grad, fd_cost, fd_predict, fd_destroy};

/* ------------------------------------------------------------------------------------------ */
/* The interface                                                                               */

void bnn_engine_free(bnn_engine *g)
{
    if (!g)
        return;
    eng_state *s = state(g);
    if (s) {
        g->ops->destroy(g);
        free(s->wide);
        free(s->x);
        free(s->y);
        free(s);
    }
    free(g);
}

int bnn_engine_create(bnn_engine **out, const bnn_arch *a, const bnn_engine_opts *o, bnn_error *e)
{
    *out = NULL;
    if (bnn_arch_check(a, e) != 0 || bnn_loss_check(a, o->loss, e) != 0)
        return -1;
    if (o->loss != BNN_LOSS_MSE && o->gradient == BNN_GRAD_SEED)
        return bnn_fail(e, "gradient seed is the notes' recursion for the squared error; "
                           "loss %s needs the exact gradient", bnn_loss_name(o->loss));
    if ((unsigned)o->gradient > BNN_GRAD_FINITE_DIFF || (unsigned)o->engine > 1)
        return bnn_fail(e, "engine: unknown engine %d or gradient %d", (int)o->engine,
                        (int)o->gradient);
    bnn_engine *g = calloc(1, sizeof *g);
    eng_state *s = calloc(1, sizeof *s);
    if (!g || !s) {
        free(g);
        free(s);
        return bnn_fail(e, "engine: out of memory");
    }
    g->arch = *a;
    g->opts = *o;
    g->nparams = bnn_arch_nparams(a);
    g->impl = s;
    if (o->gradient == BNN_GRAD_FINITE_DIFF) {
        g->ops = &fd_ops;
        g->grad_f64 = 1;
    } else if (o->engine == BNN_ENGINE_REFERENCE) {
        g->ops = &ref_ops;
        g->grad_f64 = 1;
    } else {
        g->ops = &fast_ops;
    }
    if (g->ops == &fast_ops) {
        bnn_fast_opts fo = {.threads = o->threads, .chunk = 0, .loss = o->loss};
        if (bnn_fast_create(&s->fast, a, &fo, e) != 0) {
            bnn_engine_free(g);
            return -1;
        }
    } else {
        s->wide = malloc((g->nparams ? g->nparams : 1) * sizeof *s->wide);
        s->x = malloc((size_t)a->width[0] * sizeof *s->x);
        s->y = malloc((size_t)a->width[a->nlayers] * sizeof *s->y);
        if (!s->wide || !s->x || !s->y) {
            bnn_engine_free(g);
            return bnn_fail(e, "%s engine: out of memory for %zu parameters",
                            g->ops->name, bnn_arch_nparams(a));
        }
    }
    *out = g;
    return 0;
}

/* theta (and grad) in a precision the engine takes. */
static int check_call(const bnn_engine *g, bnn_vec theta, const bnn_vec *grad, bnn_error *e)
{
    if (!theta.f == !theta.d)
        return bnn_fail(e, "%s engine: parameters must be float32 or double", g->ops->name);
    if (g->ops == &fast_ops && !theta.f)
        return bnn_fail(e, "fast engine: needs float32 parameters");
    if (grad && (g->grad_f64 ? !grad->d : !grad->f))
        return bnn_fail(e, "%s engine: its gradient is %s", g->ops->name,
                        g->grad_f64 ? "double" : "float32");
    return 0;
}

int bnn_engine_grad(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    bnn_vec grad, double *cost, double *correct, bnn_error *e)
{
    if (check_call(g, theta, &grad, e) != 0)
        return -1;
    return g->ops->grad(g, theta, d, start, count, grad, cost, correct, e);
}

int bnn_engine_step(bnn_engine *g, const float *theta, const bnn_data *d, size_t start,
                    size_t count, float *grad, bnn_optim_state *s, double lr, float *next,
                    double *cost, double *correct, int *finite, bnn_error *e)
{
    if (g->ops != &fast_ops || !theta || !grad || !next)
        return bnn_fail(e, "%s engine: no fused step (the fast engine's float32 only)",
                        g->ops->name);
    return bnn_fast_step(state(g)->fast, theta, d, start, count, g->opts.gradient, grad, s, lr,
                         next, cost, correct, finite, e);
}

int bnn_engine_cost(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                    double *cost, double *correct, bnn_error *e)
{
    if (check_call(g, theta, NULL, e) != 0)
        return -1;
    return g->ops->cost(g, theta, d, start, count, cost, correct, e);
}

int bnn_engine_predict(bnn_engine *g, bnn_vec theta, const bnn_data *d, size_t start, size_t count,
                       float *out, bnn_error *e)
{
    if (check_call(g, theta, NULL, e) != 0)
        return -1;
    if (count == 0 || start > d->n || count > d->n - start)
        return bnn_fail(e, "%s engine: samples %zu..%zu are outside the %zu samples",
                        g->ops->name, start, start + count, d->n);
    if (d->nin != g->arch.width[0])
        return bnn_fail(e, "%s engine: the data has %lld inputs, the model %lld",
                        g->ops->name, (long long)d->nin, (long long)g->arch.width[0]);
    return g->ops->predict(g, theta, d, start, count, out, e);
}

const char *bnn_engine_isa(void)
{
    return bnn_kernels()->isa;
}

int bnn_engine_force_isa(const char *isa)
{
    return bnn_kernels_force(isa);
}

size_t bnn_engine_whole_max(const bnn_arch *a, bnn_engine_kind engine, bnn_gradient gradient,
                            bnn_loss loss, size_t *piece)
{
    *piece = 0;
    if (engine != BNN_ENGINE_FAST || gradient == BNN_GRAD_FINITE_DIFF)
        return 0;
    return bnn_fast_whole_max(a, (int)loss, piece);
}
