/*
 * notes.c - the closed-form costs and gradients of the notes' four models, transcribed
 * equation by equation (the "Gradient Descent" notes). They are independent of the general
 * engines and serve as their first oracle in the tests. sigma(x) = 1 / (1 + e^-x).
 *
 * The two-neuron and m-layer chains are the notes' back-propagation: each layer's "cost" is
 * the squared error against a pseudo-target, so layer l's gradient is 2^(m-l) times the exact
 * one (see README, "Gradients").
 */
#include <math.h>
#include <stdlib.h>

#include "engine/engines.h"

static double sigma(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Linear model y = x w:  C(w) = 1/n sum (x_i w - y_i)^2 */
double bnn_notes_linear_cost(double w, const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] * w - y[i]) * (x[i] * w - y[i]);
    return s / (double)n;
}

/* C'(w) = 1/n sum 2 (x_i w - y_i) x_i */
double bnn_notes_linear_dw(double w, const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += 2 * (x[i] * w - y[i]) * x[i];
    return s / (double)n;
}

/* One neuron with 2 inputs: a_i = sigma(x_i w1 + y_i w2 + b), C = 1/n sum (a_i - z_i)^2
 *   d_w1 C = 1/n sum 2 (a_i - z_i) a_i (1 - a_i) x_i
 *   d_w2 C = 1/n sum 2 (a_i - z_i) a_i (1 - a_i) y_i
 *   d_b  C = 1/n sum 2 (a_i - z_i) a_i (1 - a_i)          */
void bnn_notes_neuron_grad(const double w[2], double b, const double *x1, const double *x2,
                           const double *z, size_t n, double grad[3])
{
    double g1 = 0, g2 = 0, gb = 0;
    for (size_t i = 0; i < n; i++) {
        double a = sigma(x1[i] * w[0] + x2[i] * w[1] + b);
        double q = 2 * (a - z[i]) * a * (1 - a);
        g1 += q * x1[i];
        g2 += q * x2[i];
        gb += q;
    }
    grad[0] = g1 / (double)n;
    grad[1] = g2 / (double)n;
    grad[2] = gb / (double)n;
}

/* Two neurons 1 -> 1 -> 1:
 *   a1_i = sigma(x_i w1 + b1),  a2_i = sigma(a1_i w2 + b2)
 *   d_w2 C2 = 1/n sum 2 (a2_i - y_i) a2_i (1 - a2_i) a1_i
 *   d_b2 C2 = 1/n sum 2 (a2_i - y_i) a2_i (1 - a2_i)
 *   d_a1_i C2 = 2 (a2_i - y_i) a2_i (1 - a2_i) w2        (per sample)
 *   d_w1 C1 = 1/n sum 2 (d_a1_i C2) a1_i (1 - a1_i) x_i
 *   d_b1 C1 = 1/n sum 2 (d_a1_i C2) a1_i (1 - a1_i)
 * grad = {d_w1, d_b1, d_w2, d_b2}. */
void bnn_notes_chain2_grad(const double w[2], const double b[2], const double *x,
                           const double *y, size_t n, double grad[4])
{
    double gw1 = 0, gb1 = 0, gw2 = 0, gb2 = 0;
    for (size_t i = 0; i < n; i++) {
        double a1 = sigma(x[i] * w[0] + b[0]);
        double a2 = sigma(a1 * w[1] + b[1]);
        gw2 += 2 * (a2 - y[i]) * a2 * (1 - a2) * a1;
        gb2 += 2 * (a2 - y[i]) * a2 * (1 - a2);
        double da1 = 2 * (a2 - y[i]) * a2 * (1 - a2) * w[1];
        gw1 += 2 * da1 * a1 * (1 - a1) * x[i];
        gb1 += 2 * da1 * a1 * (1 - a1);
    }
    grad[0] = gw1 / (double)n;
    grad[1] = gb1 / (double)n;
    grad[2] = gw2 / (double)n;
    grad[3] = gb2 / (double)n;
}

/* Arbitrary neurons with 1 input, m layers (l = 1..m in the notes, 0..m-1 here):
 *   a_i^(0) = x_i,  a_i^(l) = sigma(a_i^(l-1) w^(l) + b^(l))
 *   d_{a_i^(m)} C^(m+1) = a_i^(m) - y_i
 *   d_w^(l) C^(l) = 1/n sum 2 (d_{a_i^(l)} C^(l+1)) a_i^(l) (1 - a_i^(l)) a_i^(l-1)
 *   d_b^(l) C^(l) = 1/n sum 2 (d_{a_i^(l)} C^(l+1)) a_i^(l) (1 - a_i^(l))
 *   d_{a_i^(l-1)} C^(l) = 2 (d_{a_i^(l)} C^(l+1)) a_i^(l) (1 - a_i^(l)) w^(l)   (per sample) */
void bnn_notes_chain_grad(int m, const double *w, const double *b, const double *x,
                          const double *y, size_t n, double *dw, double *db)
{
    double *a = malloc((size_t)(m + 1) * sizeof *a);
    if (!a)
        return;
    for (int l = 0; l < m; l++)
        dw[l] = db[l] = 0;
    for (size_t i = 0; i < n; i++) {
        a[0] = x[i];
        for (int l = 1; l <= m; l++)
            a[l] = sigma(a[l - 1] * w[l - 1] + b[l - 1]);
        double da = a[m] - y[i]; /* d_{a^(m)} C^(m+1) */
        for (int l = m; l >= 1; l--) {
            dw[l - 1] += 2 * da * a[l] * (1 - a[l]) * a[l - 1];
            db[l - 1] += 2 * da * a[l] * (1 - a[l]);
            da = 2 * da * a[l] * (1 - a[l]) * w[l - 1];
        }
    }
    for (int l = 0; l < m; l++) {
        dw[l] /= (double)n;
        db[l] /= (double)n;
    }
    free(a);
}
