/*
 * model.c - a model is an architecture plus its float32 parameters in one aligned block.
 * Initialisation: Glorot/Xavier uniform, W ~ U(-r, r), r = sqrt(6 / (in + out)), biases 0.
 * It keeps sigmoid and tanh units out of saturation at the start for any width.
 * A model may carry an input standardisation (in_mean, in_std: --standardize, scale.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bnn_core.h"

int bnn_model_init(bnn_model *m, const bnn_arch *arch, bnn_error *e)
{
    memset(m, 0, sizeof *m);
    if (bnn_arch_check(arch, e) != 0)
        return -1;
    size_t np = bnn_arch_nparams(arch);
    bnn_memory_limit lim;
    bnn_memory_limit_get(&lim);
    /* the trainer holds theta, its gradient and per-shard partials: refuse what cannot fit
     * before asking the kernel for it */
    if (lim.bytes && np > lim.bytes / (4 * sizeof(float))) {
        char one[32], four[32], have[32];
        return bnn_fail(e, "architecture: %zu parameters (%s as float32) do not fit: training "
                           "needs about 4 copies (%s), and this process may use %s (%s)",
                        np, bnn_format_bytes(np * sizeof(float), one, sizeof one),
                        bnn_format_bytes(4 * np * sizeof(float), four, sizeof four),
                        bnn_format_bytes(lim.bytes, have, sizeof have), lim.what);
    }
    m->theta = bnn_alloc(np, sizeof(float));
    if (!m->theta)
        return bnn_fail(e, "architecture: cannot allocate %zu parameters", np);
    memset(m->theta, 0, np * sizeof(float));
    m->arch = *arch;
    m->nparams = np;
    return 0;
}

void bnn_model_free(bnn_model *m)
{
    if (!m)
        return;
    bnn_free(m->theta);
    free(m->in_mean);
    free(m->in_std);
    memset(m, 0, sizeof *m);
}

void bnn_model_randomize(bnn_model *m, uint64_t seed)
{
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    for (int l = 0; l < m->arch.nlayers; l++) {
        size_t in = (size_t)m->arch.width[l], out = (size_t)m->arch.width[l + 1];
        double range = sqrt(6.0 / (double)(in + out));
        float *w = bnn_model_weight(m, l);
        for (size_t i = 0; i < in * out; i++)
            w[i] = (float)((2.0 * bnn_rng_uniform(&r) - 1.0) * range);
        float *b = bnn_model_bias(m, l);
        if (b)
            memset(b, 0, out * sizeof(float));
    }
}

float *bnn_model_weight(const bnn_model *m, int l)
{
    return m->theta + bnn_arch_weight_offset(&m->arch, l);
}

float *bnn_model_bias(const bnn_model *m, int l)
{
    size_t off = bnn_arch_bias_offset(&m->arch, l);
    return off == (size_t)-1 ? NULL : m->theta + off;
}

int bnn_model_finite(const bnn_model *m)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (!isfinite(m->theta[i]))
            return 0;
    return 1;
}

double *bnn_theta_to_double(double *dst, const float *theta, size_t n)
{
    if (!dst && !(dst = malloc((n ? n : 1) * sizeof *dst)))
        return NULL;
    for (size_t p = 0; p < n; p++)
        dst[p] = theta[p];
    return dst;
}
