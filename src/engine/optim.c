/*
 * optim.c - optimizers (SGD, momentum, Nesterov, Adam, AdamW: PyTorch's documented steps),
 * their state, and the learning-rate schedules (StepLR, CosineAnnealingLR in closed form).
 *
 * The float32 step is the fused kernel of the table in use (kernels/optim_loops.h); this file
 * computes its per-step coefficients in double and rounds them once (bnn_optim_coef_next: once
 * per step also when the fast engine runs the step on sub-ranges inside its team,
 * bnn_optim_step_range, bitwise the whole step since the kernel is element-wise). The double step
 * (bnn_optim_step_d) is the reference engine's, a direct transcription of the formulas.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engines.h"
#include "bnn_kernels.h"

static const char *const optim_names[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};
static const bnn_names optims = {optim_names, 5, NULL};

void bnn_optim_opts_default(bnn_optim_opts *o)
{
    o->kind = BNN_OPT_SGD;
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.0;
}

const char *bnn_optim_name(bnn_optim_kind k)
{
    return bnn_names_of(&optims, (int)k);
}

int bnn_optim_parse(const char *s, bnn_optim_kind *k)
{
    const int i = bnn_names_find(&optims, s);
    if (i >= 0)
        *k = (bnn_optim_kind)i;
    return i >= 0 ? 0 : -1;
}

int bnn_optim_check(const bnn_optim_opts *o, bnn_error *e)
{
    if ((unsigned)o->kind > BNN_OPT_ADAMW)
        return bnn_fail(e, "optimizer %d is unknown", (int)o->kind);
    if (!isfinite(o->momentum) || o->momentum < 0)
        return bnn_fail(e, "momentum %g must be a finite number >= 0", o->momentum);
    if (!isfinite(o->beta1) || o->beta1 < 0 || o->beta1 >= 1)
        return bnn_fail(e, "beta1 %g must be in [0, 1)", o->beta1);
    if (!isfinite(o->beta2) || o->beta2 < 0 || o->beta2 >= 1)
        return bnn_fail(e, "beta2 %g must be in [0, 1)", o->beta2);
    if (!isfinite(o->eps) || o->eps < 0)
        return bnn_fail(e, "adam eps %g must be a finite number >= 0", o->eps);
    if (!isfinite(o->weight_decay) || o->weight_decay < 0)
        return bnn_fail(e, "weight decay %g must be a finite number >= 0", o->weight_decay);
    return 0;
}

int bnn_optim_nbuf(bnn_optim_kind k)
{
    return k == BNN_OPT_MOMENTUM || k == BNN_OPT_NESTEROV ? 1
         : k == BNN_OPT_ADAM || k == BNN_OPT_ADAMW       ? 2
                                                           : 0;
}

const char *bnn_optim_buf_name(bnn_optim_kind k, int i)
{
    if (k == BNN_OPT_MOMENTUM || k == BNN_OPT_NESTEROV)
        return i == 0 ? "momentum" : NULL;
    if (k == BNN_OPT_ADAM || k == BNN_OPT_ADAMW)
        return i == 0 ? "exp_avg" : i == 1 ? "exp_avg_sq" : NULL;
    return NULL;
}

int bnn_optim_state_init(bnn_optim_state *s, const bnn_optim_opts *o, size_t nparams,
                         bnn_error *e)
{
    memset(s, 0, sizeof *s);
    if (bnn_optim_check(o, e) != 0)
        return -1;
    s->opts = *o;
    s->nparams = nparams;
    for (int i = 0; i < bnn_optim_nbuf(o->kind); i++) {
        s->buf[i] = bnn_alloc(nparams ? nparams : 1, sizeof(float));
        if (!s->buf[i]) {
            bnn_optim_state_free(s);
            return bnn_fail(e, "optimizer: out of memory for %zu parameters", nparams);
        }
        memset(s->buf[i], 0, nparams * sizeof(float));
    }
    return 0;
}

void bnn_optim_state_free(bnn_optim_state *s)
{
    if (!s)
        return;
    bnn_free(s->buf[0]);
    bnn_free(s->buf[1]);
    s->buf[0] = s->buf[1] = NULL;
}

/* The coefficients of step t (1-based) at rate lr. */
static void coefficients(const bnn_optim_opts *o, uint64_t t, double lr, bnn_optim_coef *c)
{
    memset(c, 0, sizeof *c);
    c->kind = (int)o->kind;
    c->neg_lr = (float)-lr;
    c->wd = o->kind == BNN_OPT_ADAMW ? 0.0f : (float)o->weight_decay;
    c->mu = t == 1 ? 0.0f : (float)o->momentum;
    c->mu_nesterov = (float)o->momentum;
    c->b1 = (float)o->beta1;
    c->omb1 = (float)(1.0 - o->beta1);
    c->b2 = (float)o->beta2;
    c->omb2 = (float)(1.0 - o->beta2);
    const double bc1 = 1.0 - pow(o->beta1, (double)t);
    const double bc2 = 1.0 - pow(o->beta2, (double)t);
    c->neg_step = (float)(-lr / bc1);
    c->inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    c->eps = (float)o->eps;
    c->decay = (float)(1.0 - lr * o->weight_decay);
}

/* Parameters per block of a threaded step: element-wise work, so any split gives bitwise
 * the same result; blocks are whole cache lines, large enough that waking a team pays off
 * (a small model steps on the calling thread). */
#define STEP_BLOCK ((size_t)1 << 18)

void bnn_optim_coef_next(const bnn_optim_state *s, double lr, bnn_optim_coef *c)
{
    coefficients(&s->opts, s->step + 1, lr, c);
}

int bnn_optim_step_range(const bnn_optim_state *s, const bnn_optim_coef *c,
                         const float *theta, const float *grad, float *next, size_t i,
                         size_t n)
{
    return bnn_kernels()->optim_step(next + i, theta + i, grad + i,
                                     s->buf[0] ? s->buf[0] + i : NULL,
                                     s->buf[1] ? s->buf[1] + i : NULL, n, c);
}

int bnn_optim_step(bnn_optim_state *s, double lr, const float *theta, const float *grad,
                   float *next)
{
    bnn_optim_coef c;
    bnn_optim_coef_next(s, lr, &c);
    s->step++;
    const bnn_kernel_table *k = bnn_kernels();
    const size_t n = s->nparams, blocks = (n + STEP_BLOCK - 1) / STEP_BLOCK;
    int threads = s->threads > 0 ? s->threads : omp_get_max_threads(); /* as fast.c */
    if (threads > (int)blocks)
        threads = (int)blocks;
    if (threads <= 1)
        return k->optim_step(next, theta, grad, s->buf[0], s->buf[1], n, &c);
    int ok = 1;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(& : ok)
    for (size_t b = 0; b < blocks; b++) {
        const size_t i = b * STEP_BLOCK, cnt = n - i < STEP_BLOCK ? n - i : STEP_BLOCK;
        ok &= k->optim_step(next + i, theta + i, grad + i, s->buf[0] ? s->buf[0] + i : NULL,
                            s->buf[1] ? s->buf[1] + i : NULL, cnt, &c);
    }
    return ok;
}

void bnn_optim_step_d(const bnn_optim_opts *o, uint64_t *step, double lr, double *theta,
                      const double *grad, double *b0, double *b1, size_t n)
{
    const uint64_t t = ++*step;
    const double L = o->weight_decay, mu = o->momentum;
    const double bc1 = 1.0 - pow(o->beta1, (double)t), bc2 = 1.0 - pow(o->beta2, (double)t);
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        switch (o->kind) {
        case BNN_OPT_MOMENTUM:
        case BNN_OPT_NESTEROV:
            g += L * theta[i];
            b0[i] = t == 1 ? g : mu * b0[i] + g;
            theta[i] -= lr * (o->kind == BNN_OPT_NESTEROV ? g + mu * b0[i] : b0[i]);
            break;
        case BNN_OPT_ADAM:
        case BNN_OPT_ADAMW:
            if (o->kind == BNN_OPT_ADAMW)
                theta[i] *= 1.0 - lr * L;
            else
                g += L * theta[i];
            b0[i] = o->beta1 * b0[i] + (1.0 - o->beta1) * g;
            b1[i] = o->beta2 * b1[i] + (1.0 - o->beta2) * g * g;
            theta[i] -= (lr / bc1) * b0[i] / (sqrt(b1[i]) / sqrt(bc2) + o->eps);
            break;
        default:
            theta[i] -= lr * (g + L * theta[i]);
            break;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Schedules                                                                                   */

int bnn_schedule_parse(const char *s, bnn_schedule *out, bnn_error *e)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "constant") == 0)
        return 0;
    if (strcmp(s, "cosine") == 0) {
        out->kind = BNN_SCHED_COSINE;
        return 0;
    }
    char *end;
    if (strncmp(s, "cosine:", 7) == 0) {
        out->kind = BNN_SCHED_COSINE;
        out->min_lr = strtod(s + 7, &end);
        if (end == s + 7 || *end || !isfinite(out->min_lr) || out->min_lr < 0)
            return bnn_fail(e, "lr schedule '%s': MIN_LR must be a finite number >= 0", s);
        return 0;
    }
    if (strncmp(s, "step:", 5) == 0) {
        out->kind = BNN_SCHED_STEP;
        long every = strtol(s + 5, &end, 10);
        if (end == s + 5 || *end != ':' || every < 1 || every > 1000000000)
            return bnn_fail(e, "lr schedule '%s': EVERY must be a whole number >= 1 "
                               "(step:EVERY:GAMMA)", s);
        out->every = (int)every;
        const char *g = end + 1;
        out->gamma = strtod(g, &end);
        if (end == g || *end || !isfinite(out->gamma) || out->gamma < 0)
            return bnn_fail(e, "lr schedule '%s': GAMMA must be a finite number >= 0", s);
        return 0;
    }
    return bnn_fail(e, "lr schedule: '%s' is not constant, step:EVERY:GAMMA or "
                       "cosine[:MIN_LR]", s);
}

double bnn_schedule_lr(const bnn_schedule *s, double lr, int epoch, int epochs)
{
    switch (s->kind) {
    case BNN_SCHED_STEP:
        return lr * pow(s->gamma, (double)(epoch / s->every));
    case BNN_SCHED_COSINE:
        if (epochs <= 0)
            return lr;
        return s->min_lr + (lr - s->min_lr) * (1.0 + cos(M_PI * (double)epoch / epochs)) / 2.0;
    default:
        return lr;
    }
}

void bnn_schedule_format(const bnn_schedule *s, char *buf, size_t len)
{
    if (s->kind == BNN_SCHED_STEP)
        snprintf(buf, len, "step:%d:%.17g", s->every, s->gamma);
    else if (s->kind == BNN_SCHED_COSINE)
        snprintf(buf, len, "cosine:%.17g", s->min_lr);
    else
        snprintf(buf, len, "constant");
}
