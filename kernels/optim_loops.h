/*
 * optim_loops.h - the fused optimizer step of the kernel tables, written once and included by
 * each kernels_<isa>.c (after kernels_loops.h), so that each copy is vectorised by the
 * compiler with that file's flags. One pass over the parameters: it reads theta, the gradient
 * and the optimizer's buffers, writes the new parameters and buffers, and checks on the way
 * that every new parameter is finite (an OR of |x| <= FLT_MAX comparisons, no branch).
 *
 * The formulas, in float32, in PyTorch's order of operations (torch.optim, foreach=False):
 *   g = grad (+ L theta when L != 0; not for adamw)
 *   sgd       next = theta + (-lr) g
 *   momentum  b = mu b + g (mu = 0 at the first step, b zero: b = g);  next = theta + (-lr) b
 *   nesterov  b as momentum;  next = theta + (-lr) (g + mu b)
 *   adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g g;
 *             next = theta + (-lr / bc1) m / (sqrt(v) (1 / sqrt(bc2)) + eps)
 *             (PyTorch divides by sqrt(bc2); the reciprocal, rounded once per step, saves a
 *             division per parameter and changes the result by rounding only)
 *   adamw     theta' = theta (1 - lr L), then adam from theta' with g = grad
 * The build compiles C11 (ISO mode), where GCC does not contract a * b + c into an FMA, so every
 * copy gives bitwise the same result (a property the tests check across the paths).
 */
#ifndef BNN_OPTIM_LOOPS_H
#define BNN_OPTIM_LOOPS_H

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "bnn_kernels.h"

#define BNN_OPT_FINITE(x) (fabsf(x) <= FLT_MAX)

static BNN_ALWAYS_INLINE int bnn_loops_opt_sgd(float *restrict next, const float *restrict th,
                                               const float *restrict gr, size_t n, float neg_lr,
                                               float wd, int use_wd)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const float g = use_wd ? gr[i] + wd * th[i] : gr[i];
        const float x = th[i] + neg_lr * g;
        next[i] = x;
        ok &= BNN_OPT_FINITE(x);
    }
    return ok;
}

static BNN_ALWAYS_INLINE int bnn_loops_opt_momentum(float *restrict next,
                                                    const float *restrict th,
                                                    const float *restrict gr,
                                                    float *restrict b, size_t n,
                                                    const bnn_optim_coef *c, int use_wd,
                                                    int nesterov)
{
    const float neg_lr = c->neg_lr, wd = c->wd, mu = c->mu, mun = c->mu_nesterov;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const float g = use_wd ? gr[i] + wd * th[i] : gr[i];
        const float bi = mu * b[i] + g;
        b[i] = bi;
        const float step = nesterov ? g + mun * bi : bi;
        const float x = th[i] + neg_lr * step;
        next[i] = x;
        ok &= BNN_OPT_FINITE(x);
    }
    return ok;
}

static BNN_ALWAYS_INLINE int bnn_loops_opt_adam(float *restrict next, const float *restrict th,
                                                const float *restrict gr, float *restrict m,
                                                float *restrict v, size_t n,
                                                const bnn_optim_coef *c, int use_wd,
                                                int decoupled)
{
    const float wd = c->wd, b1 = c->b1, omb1 = c->omb1, b2 = c->b2, omb2 = c->omb2;
    const float neg_step = c->neg_step, ibc2s = c->inv_bc2_sqrt, eps = c->eps;
    const float decay = c->decay;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const float t = decoupled ? th[i] * decay : th[i];
        const float g = use_wd ? gr[i] + wd * th[i] : gr[i];
        const float mi = b1 * m[i] + omb1 * g;
        const float vi = b2 * v[i] + omb2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) * ibc2s + eps;
        const float x = t + neg_step * (mi / denom);
        next[i] = x;
        ok &= BNN_OPT_FINITE(x);
    }
    return ok;
}

static int bnn_loops_optim_step(float *next, const float *theta, const float *grad, float *b0,
                                float *b1, size_t n, const bnn_optim_coef *c)
{
    const int wd = c->wd != 0.0f;
    switch (c->kind) {
    case 1: /* momentum */
        return wd ? bnn_loops_opt_momentum(next, theta, grad, b0, n, c, 1, 0)
                  : bnn_loops_opt_momentum(next, theta, grad, b0, n, c, 0, 0);
    case 2: /* nesterov */
        return wd ? bnn_loops_opt_momentum(next, theta, grad, b0, n, c, 1, 1)
                  : bnn_loops_opt_momentum(next, theta, grad, b0, n, c, 0, 1);
    case 3: /* adam */
        return wd ? bnn_loops_opt_adam(next, theta, grad, b0, b1, n, c, 1, 0)
                  : bnn_loops_opt_adam(next, theta, grad, b0, b1, n, c, 0, 0);
    case 4: /* adamw: decay decoupled, g = grad */
        return bnn_loops_opt_adam(next, theta, grad, b0, b1, n, c, 0, 1);
    default: /* sgd */
        return wd ? bnn_loops_opt_sgd(next, theta, grad, n, c->neg_lr, c->wd, 1)
                  : bnn_loops_opt_sgd(next, theta, grad, n, c->neg_lr, 0.0f, 0);
    }
}

#endif /* BNN_OPTIM_LOOPS_H */
