/*
 * reference.c - the reference engine: naive scalar code in double precision, one sample at a
 * time, written to read like the notes' equations. It is the oracle of the tests and the
 * baseline of the benchmarks; it uses no BLAS, no SIMD and no threads.
 *
 * For each sample i (superscripts are layers, l = 1..m as in the notes, 0-based in code):
 *   a^(0) = x_i,  a^(l) = act_l(W_l a^(l-1) + b_l)
 *   C     = (1/n) sum_i sum_j (a^(m)_ij - y_ij)^2
 * Back-propagation with g^(l) = dC_i/da^(l) (the per-sample cost C_i = sum_j (a^(m)_ij - y_ij)^2):
 *   g^(m) = 2 (a^(m) - y_i)
 *   q_j   = g^(l)_j act'(a^(l)_j)      (act' written with the output: sigmoid a (1 - a))
 *   dC/dW_l[j][k] += q_j a^(l-1)_k,  dC/db_l[j] += q_j,  g^(l-1)_k = sum_j q_j W_l[j][k]
 * then everything is divided by n.
 *
 * The notes' recursion (--gradient seed) starts from a^(m) - y (no 2) and multiplies by 2 at
 * every layer, q_j = 2 g_j act'(a_j): it equals the exact gradient at the last layer and is
 * 2^(m-l) times it at layer l.
 *
 * The classification losses (--loss) replace the cost of a sample and g^(m); the last layer
 * is identity, a^(m) = z (logits):
 *   cross-entropy  C_i = sum_j y_j (lse - z_j), lse = log sum_k e^(z_k) (computed from the
 *                  maximum: mx + log sum_k e^(z_k - mx));  g_j = softmax(z)_j sum_k y_k - y_j
 *   bce            C_i = sum_j max(z_j, 0) - z_j y_j + log1p(e^-|z_j|);  g_j = sigmoid(z_j) - y_j
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engines.h"

static double act_forward(bnn_act act, double z)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-z));
    case BNN_ACT_TANH:
        return tanh(z);
    case BNN_ACT_RELU:
        return z > 0 ? z : 0.0;
    default:
        return z;
    }
}

/* act'(z) expressed with the output a = act(z). */
static double act_slope(bnn_act act, double a)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return a * (1.0 - a);
    case BNN_ACT_TANH:
        return 1.0 - a * a;
    case BNN_ACT_RELU:
        return a > 0 ? 1.0 : 0.0;
    default:
        return 1.0;
    }
}

/* Offsets of each layer's activations in one buffer: a^(l) starts at off[l]. */
static size_t act_offsets(const bnn_arch *a, size_t *off)
{
    size_t total = 0;
    for (int l = 0; l <= a->nlayers; l++) {
        off[l] = total;
        total += (size_t)a->width[l];
    }
    return total;
}

/* Forward pass of one sample: fills acts (all layers, a^(0) = x). */
static void forward(const bnn_arch *a, const double *theta, const size_t *off, double *acts)
{
    for (int l = 0; l < a->nlayers; l++) {
        size_t in = (size_t)a->width[l], out = (size_t)a->width[l + 1];
        const double *W = theta + bnn_arch_weight_offset(a, l);
        size_t boff = bnn_arch_bias_offset(a, l);
        const double *b = boff == (size_t)-1 ? NULL : theta + boff;
        const double *prev = acts + off[l];
        double *cur = acts + off[l + 1];
        for (size_t j = 0; j < out; j++) {
            double z = b ? b[j] : 0.0;
            for (size_t k = 0; k < in; k++)
                z += W[j * in + k] * prev[k];
            cur[j] = act_forward(a->act[l], z);
        }
    }
}

int bnn_ref_forward(const bnn_arch *a, const double *theta, const double *x, double *out)
{
    size_t off[BNN_MAX_LAYERS + 1];
    size_t total = act_offsets(a, off);
    double *acts = malloc(total * sizeof *acts);
    if (!acts)
        return -1;
    memcpy(acts, x, (size_t)a->width[0] * sizeof *acts);
    forward(a, theta, off, acts);
    memcpy(out, acts + off[a->nlayers], (size_t)a->width[a->nlayers] * sizeof *out);
    free(acts);
    return 0;
}

int bnn_ref_cost(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double *cost, bnn_error *e)
{
    return bnn_ref_grad(a, theta, d, start, count, BNN_GRAD_EXACT, NULL, cost, e);
}

static int ref_cost_loss(const bnn_arch *a, const double *theta, const bnn_data *d,
                         size_t start, size_t count, bnn_loss loss, double *cost, bnn_error *e)
{
    return bnn_ref_grad_loss(a, theta, d, start, count, BNN_GRAD_EXACT, loss, NULL, cost, NULL,
                             e);
}

/* The loss of one sample with outputs am and targets y; fills g with dC_i/da^(m) (first: the
 * factor of the squared error's derivative, 2, or 1 in seed mode). */
static void sample_loss(bnn_loss loss, const double *am, const double *y, int64_t k,
                        double first, double *g, double *correct, double *total)
{
    double sum = *total; /* added term by term, in order */
    if (loss == BNN_LOSS_CE) {
        double mx = am[0], s = 0.0, sy = 0.0;
        int64_t amax = 0, ymax = 0;
        for (int64_t j = 1; j < k; j++)
            if (am[j] > mx) {
                mx = am[j];
                amax = j;
            }
        for (int64_t j = 0; j < k; j++) {
            s += exp(am[j] - mx);
            sy += y[j];
            if (y[j] > y[ymax])
                ymax = j;
        }
        const double lse = mx + log(s);
        for (int64_t j = 0; j < k; j++) {
            sum += y[j] * (lse - am[j]);
            g[j] = exp(am[j] - lse) * sy - y[j];
        }
        if (correct && amax == ymax)
            *correct += 1.0;
        *total = sum;
        return;
    }
    if (loss == BNN_LOSS_BCE) {
        for (int64_t j = 0; j < k; j++) {
            const double z = am[j];
            sum += (z > 0 ? z : 0.0) - z * y[j] + log1p(exp(-fabs(z)));
            g[j] = 1.0 / (1.0 + exp(-z)) - y[j];
            if (correct && (z > 0) == (y[j] > 0.5))
                *correct += 1.0;
        }
        *total = sum;
        return;
    }
    for (int64_t j = 0; j < k; j++) {
        double diff = am[j] - y[j];
        sum += diff * diff;
        g[j] = first * diff;
    }
    *total = sum;
}

int bnn_ref_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, bnn_gradient mode, double *grad, double *cost, bnn_error *e)
{
    return bnn_ref_grad_loss(a, theta, d, start, count, mode, BNN_LOSS_MSE, grad, cost, NULL,
                             e);
}

int bnn_ref_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                      size_t count, bnn_gradient mode, bnn_loss loss, double *grad,
                      double *cost, double *correct, bnn_error *e)
{
    if (loss != BNN_LOSS_MSE) {
        if (bnn_loss_check(a, loss, e) != 0)
            return -1;
        if (mode == BNN_GRAD_SEED)
            return bnn_fail(e, "gradient seed is the notes' recursion for the squared error; "
                               "loss %s needs the exact gradient", bnn_loss_name(loss));
    }
    if (mode != BNN_GRAD_EXACT && mode != BNN_GRAD_SEED)
        return bnn_fail(e, "reference: gradient mode %d is not exact or seed", (int)mode);
    if (count == 0 || start > d->n || count > d->n - start)
        return bnn_fail(e, "reference: samples %zu..%zu are outside the %zu samples", start,
                        start + count, d->n);
    if (d->nin != a->width[0] || d->nout != a->width[a->nlayers])
        return bnn_fail(e, "reference: data widths do not match the architecture");
    const int m = a->nlayers;
    size_t off[BNN_MAX_LAYERS + 1];
    size_t total = act_offsets(a, off);
    size_t np = bnn_arch_nparams(a);
    double *acts = malloc(total * sizeof *acts);
    double *g = malloc(total * sizeof *g); /* g^(l) = dC_i/da^(l), same layout as acts */
    double *y = malloc((size_t)a->width[m] * sizeof *y);
    if (!acts || !g || !y) {
        free(acts);
        free(g);
        free(y);
        return bnn_fail(e, "reference: out of memory");
    }
    if (grad)
        memset(grad, 0, np * sizeof *grad);
    if (correct)
        *correct = 0.0;
    /* seed: the notes start from a - y and double at every layer */
    const double first = mode == BNN_GRAD_SEED ? 1.0 : 2.0;
    const double per_layer = mode == BNN_GRAD_SEED ? 2.0 : 1.0;
    double sum = 0.0;
    int rc = 0;
    for (size_t i = start; i < start + count; i++) {
        if (bnn_data_sample(d, i, acts, y, e) != 0) {
            rc = -1;
            break;
        }
        forward(a, theta, off, acts);
        sample_loss(loss, acts + off[m], y, a->width[m], first, g + off[m], correct, &sum);
        if (!grad)
            continue;
        for (int l = m - 1; l >= 0; l--) {
            size_t in = (size_t)a->width[l], out = (size_t)a->width[l + 1];
            const double *W = theta + bnn_arch_weight_offset(a, l);
            double *dW = grad + bnn_arch_weight_offset(a, l);
            size_t boff = bnn_arch_bias_offset(a, l);
            double *db = boff == (size_t)-1 ? NULL : grad + boff;
            const double *prev = acts + off[l];
            const double *cur = acts + off[l + 1];
            double *gcur = g + off[l + 1];
            double *gprev = g + off[l];
            if (l > 0)
                memset(gprev, 0, in * sizeof *gprev);
            for (size_t j = 0; j < out; j++) {
                double q = per_layer * gcur[j] * act_slope(a->act[l], cur[j]);
                for (size_t k = 0; k < in; k++) {
                    dW[j * in + k] += q * prev[k];
                    if (l > 0)
                        gprev[k] += q * W[j * in + k];
                }
                if (db)
                    db[j] += q;
            }
        }
    }
    free(acts);
    free(g);
    free(y);
    if (rc != 0)
        return rc;
    if (grad)
        for (size_t p = 0; p < np; p++)
            grad[p] /= (double)count;
    if (cost)
        *cost = sum / (double)count;
    return 0;
}

/* (C(t + h) - C(t - h)) / 2h, or with order 4 the five-point central stencil
 * (-C(t + 2h) + 8 C(t + h) - 8 C(t - h) + C(t - 2h)) / 12h, truncation error O(h^4). */
static int fd_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                   size_t count, double eps, int order, bnn_loss loss, double *grad,
                   bnn_error *e)
{
    size_t np = bnn_arch_nparams(a);
    double *t = malloc((np ? np : 1) * sizeof *t);
    if (!t)
        return bnn_fail(e, "finite differences: out of memory");
    memcpy(t, theta, np * sizeof *t);
    if (eps <= 0)
        eps = order == 4 ? 1e-3 : 1e-5;
    for (size_t p = 0; p < np; p++) {
        double h = eps * (fabs(theta[p]) > 1.0 ? fabs(theta[p]) : 1.0);
        /* a step that is exact in binary, so t + h and t - h are the points intended */
        h = (theta[p] + h) - theta[p];
        double c[4];
        const double steps[4] = {1, -1, 2, -2};
        for (int k = 0; k < (order == 4 ? 4 : 2); k++) {
            t[p] = theta[p] + steps[k] * h;
            if (ref_cost_loss(a, t, d, start, count, loss, &c[k], e) != 0)
                goto fail;
        }
        t[p] = theta[p];
        if (order == 4)
            grad[p] = (8.0 * (c[0] - c[1]) - (c[2] - c[3])) / (12.0 * h);
        else
            grad[p] = (c[0] - c[1]) / (2.0 * h);
    }
    free(t);
    return 0;
fail:
    free(t);
    return -1;
}

int bnn_fd_grad(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                size_t count, double eps, double *grad, bnn_error *e)
{
    return fd_grad(a, theta, d, start, count, eps, 2, BNN_LOSS_MSE, grad, e);
}

int bnn_fd_grad4(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                 size_t count, double eps, double *grad, bnn_error *e)
{
    return fd_grad(a, theta, d, start, count, eps, 4, BNN_LOSS_MSE, grad, e);
}

int bnn_fd_grad_loss(const bnn_arch *a, const double *theta, const bnn_data *d, size_t start,
                     size_t count, double eps, int order, bnn_loss loss, double *grad,
                     bnn_error *e)
{
    return fd_grad(a, theta, d, start, count, eps, order == 4 ? 4 : 2, loss, grad, e);
}
