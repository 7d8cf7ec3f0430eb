/*
 * test_kernels.c - the element-wise kernel table in use (one run per ISA path: BATCHNN_ISA)
 * against double-precision references computed here.
 *
 * Sigmoid: a dense sweep of [-110, 110], every 61st float bit pattern, random bit patterns and
 * the special points (+-0, +-88..+-104, subnormals, FLT_MAX, +-inf, NaN): relative error
 * <= BNN_TEST_SIGMOID_REL where the exact result is a normal float, absolute error
 * <= 2^-148 below, never NaN for a non-NaN input, NaN for NaN. Lengths around the
 * vector widths, in place and out of place, with guards after the end.
 * The other kernels: odd shapes, ld > rows and ld == rows (the dense paths), padding between
 * rows and ld checked untouched. Everything seeded; failures name the worst element.
 */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "sigmoid_consts.h"

/* The contracts stated in kernels_*.c (the loosest of the three paths). */
#define BNN_TEST_SIGMOID_REL 2.7e-7
#define BNN_TEST_SIGMOID_SUBNORMAL_ABS 0x1p-148
#define BNN_TEST_TANH_REL 2.5e-7

static const bnn_kernel_table *K;

static const size_t lengths[] = {0, 1, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 1000};
static const size_t shape_rows[] = {1, 2, 3, 7, 8, 16, 17, 33};
static const size_t shape_cols[] = {1, 5, 64};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A value no kernel computes from the inputs below: marks padding and guards. */
static const float sentinel = -12345.678f;

static double ref_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

/* 1 / (1 + 2^t): the narrow path's sigmoid of t = -z log2e (sigmoid_folded) */
static double ref_folded(double t)
{
    if (t <= 0)
        return 1.0 / (1.0 + exp2(t));
    const double e = exp2(-t);
    return e / (1.0 + e);
}

static double ref_act(double v, bnn_act act)
{
    switch (act) {
    case BNN_ACT_SIGMOID:
        return ref_sigmoid(v);
    case BNN_ACT_TANH:
        return tanh(v);
    case BNN_ACT_RELU:
        return v < 0 ? 0.0 : v;
    default:
        return v;
    }
}

static double ref_dact(double a, bnn_act act)
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

static float bits_to_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float *alloc_f(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

static double *alloc_d(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* Uniform floats in [lo, hi). */
static void fill_uniform(float *a, size_t n, float lo, float hi, bnn_rng *r)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(lo + (hi - lo) * bnn_rng_uniform(r));
}

/* ------------------------------------------------------------------------------------------ */
/* Sigmoid and tanh against double precision                                                  */

enum { FN_SIGMOID, FN_TANH, FN_FOLDED };

static double ref_fn(double x, int fn)
{
    return fn == FN_TANH ? tanh(x) : fn == FN_FOLDED ? ref_folded(x) : ref_sigmoid(x);
}

/* Worst error of y = f(x) over n elements (fn: FN_*): relative where the exact value is a
 * normal float, absolute (in units of 2^-149) below; a NaN where none is due (or none where
 * one is due) is an infinite error. Fails, naming the worst element, when a bound is
 * exceeded. */
static void check_fn(const char *what, const float *x, const float *y, size_t n, int fn)
{
    const int is_tanh = fn == FN_TANH;
    const double rel_tol = is_tanh ? BNN_TEST_TANH_REL : BNN_TEST_SIGMOID_REL;
    double worst_rel = 0.0, worst_abs = 0.0;
    size_t at_rel = 0, at_abs = 0;
    for (size_t i = 0; i < n; i++) {
        const double want = ref_fn(x[i], fn);
        double rel = 0.0, abs_err = 0.0;
        if (isnan(x[i]) != isnan(y[i])) {
            rel = INFINITY;
        } else if (!isnan(x[i])) {
            const double err = fabs((double)y[i] - want);
            if (fabs(want) >= FLT_MIN)
                rel = err / fabs(want);
            else
                abs_err = err;
            /* Sign: tanh is odd (signed zeros included), sigmoid is never negative. */
            if (is_tanh ? signbit(y[i]) != signbit(x[i]) : signbit(y[i]) != 0)
                rel = INFINITY;
        }
        if (rel > worst_rel) {
            worst_rel = rel;
            at_rel = i;
        }
        if (abs_err > worst_abs) {
            worst_abs = abs_err;
            at_abs = i;
        }
    }
    if (!(worst_rel <= rel_tol)) {
        const size_t i = at_rel;
        print_error("%s [%s]: worst relative error %.3e > %.1e at index %zu of %zu: "
                    "x = %a (%.9g), got %a (%.9g), want %.17g\n",
                    what, K->isa, worst_rel, rel_tol, i, n, (double)x[i], (double)x[i],
                    (double)y[i], (double)y[i],
                    ref_fn(x[i], fn));
        fail();
    }
    if (!(worst_abs <= BNN_TEST_SIGMOID_SUBNORMAL_ABS)) {
        const size_t i = at_abs;
        print_error("%s [%s]: worst absolute error %.3e (%.2f * 2^-149) below FLT_MIN at "
                    "index %zu of %zu: x = %a (%.9g), got %a, want %.17g\n",
                    what, K->isa, worst_abs, worst_abs / 0x1p-149, i, n, (double)x[i],
                    (double)x[i], (double)y[i],
                    ref_fn(x[i], fn));
        fail();
    }
}

/* Sigmoid of x[0..n) out of place and in place: both checked, and bitwise equal. */
static void check_sigmoid(const char *what, const float *x, size_t n)
{
    float *y = alloc_f(n), *z = alloc_f(n);
    memcpy(z, x, n * sizeof *z);
    K->sigmoid(y, x, n);
    K->sigmoid(z, z, n);
    check_fn(what, x, y, n, FN_SIGMOID);
    for (size_t i = 0; i < n; i++) {
        if (float_to_bits(y[i]) != float_to_bits(z[i])) {
            print_error("%s [%s]: in place %a != out of place %a at index %zu (x = %a)\n",
                        what, K->isa, (double)z[i], (double)y[i], i, (double)x[i]);
            fail();
        }
    }
    free(y);
    free(z);
}

/* Tanh through the bias_act epilogue (no bias, one dense column). */
static void check_tanh(const char *what, const float *x, size_t n)
{
    float *y = alloc_f(n);
    memcpy(y, x, n * sizeof *y);
    K->bias_act(y, n, n, 1, NULL, BNN_ACT_TANH);
    check_fn(what, x, y, n, FN_TANH);
    free(y);
}

static void test_sigmoid_sweep(void **state)
{
    (void)state;
    /* Step 1e-3 over [-110, 110]: covers the subnormal results, the underflow to 0 and the
     * saturation to 1. */
    const size_t n = 220001;
    float *x = alloc_f(n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(-110.0 + 1e-3 * (double)i);
    check_sigmoid("sigmoid sweep [-110, 110]", x, n);
    check_tanh("tanh sweep [-110, 110]", x, n);
    /* Finer near 0, where tanh switches between its polynomial and exp forms. */
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(-1.1 + 1e-5 * (double)i);
    check_sigmoid("sigmoid sweep [-1.1, 1.1]", x, n);
    check_tanh("tanh sweep [-1.1, 1.1]", x, n);
    free(x);
}

static void test_sigmoid_bit_patterns(void **state)
{
    (void)state;
    /* Every 61st bit pattern (all exponents, varied mantissas, both signs, NaNs, infs), in
     * blocks. */
    const size_t block = (size_t)1 << 20;
    const uint64_t stride = 61;
    float *x = alloc_f(block);
    uint64_t b = 0;
    while (b < ((uint64_t)1 << 32)) {
        size_t n = 0;
        for (; n < block && b < ((uint64_t)1 << 32); n++, b += stride)
            x[n] = bits_to_float((uint32_t)b);
        check_sigmoid("sigmoid every 61st float", x, n);
        check_tanh("tanh every 61st float", x, n);
    }
    free(x);
}

static void test_sigmoid_random(void **state)
{
    (void)state;
    const size_t n = (size_t)1 << 20;
    float *x = alloc_f(n);
    bnn_rng r;
    bnn_rng_seed(&r, 20240601);
    for (size_t i = 0; i < n; i++)
        x[i] = bits_to_float((uint32_t)(bnn_rng_next(&r) >> 32));
    check_sigmoid("sigmoid random bit patterns", x, n);
    check_tanh("tanh random bit patterns", x, n);
    fill_uniform(x, n, -120.0f, 120.0f, &r);
    check_sigmoid("sigmoid random in [-120, 120)", x, n);
    check_tanh("tanh random in [-120, 120)", x, n);
    free(x);
}

static void test_sigmoid_special(void **state)
{
    (void)state;
    float x[4096];
    size_t n = 0;
    const float fixed[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f,
                           0x1.fffffcp-127f, -0x1.fffffcp-127f, /* largest subnormal */
                           FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, 1e-30f, -1e-30f,
                           0.5f, -0.5f, 0x1.fffffep-2f, -0x1.fffffep-2f, 1.0f, -1.0f,
                           16.635532f, -16.635532f, 87.33654f, -87.33654f, 88.72284f,
                           -88.72284f, 103.27893f, -103.27893f, 103.97208f, -103.97208f,
                           110.0f, -110.0f, 1e10f, -1e10f, 1e20f, -1e20f, 3.9e23f,
                           -3.9e23f, 1e30f, -1e30f, 1e38f, -1e38f};
    for (size_t i = 0; i < NELEM(fixed); i++)
        x[n++] = fixed[i];
    /* +-88 .. +-104 in steps of 1/64, and the neighbours of the clamp at -110. */
    for (int i = 88 * 64; i <= 104 * 64; i++) {
        x[n++] = (float)i / 64.0f;
        x[n++] = -(float)i / 64.0f;
    }
    x[n++] = nextafterf(-110.0f, 0.0f);
    x[n++] = nextafterf(-110.0f, -INFINITY);
    x[n++] = nextafterf(-87.33654f, 0.0f);
    x[n++] = nextafterf(-87.33654f, -INFINITY);
    const size_t nfinite = n;
    x[n++] = NAN;
    x[n++] = -NAN;
    x[n++] = bits_to_float(0x7f800001u); /* signalling NaN pattern */
    x[n++] = bits_to_float(0xffc12345u);
    assert_true(n <= NELEM(x));
    check_sigmoid("sigmoid special points", x, n);
    check_tanh("tanh special points", x, n);

    /* Exact values where the contract gives them. */
    float y[4096];
    K->sigmoid(y, x, n);
    for (size_t i = 0; i < nfinite; i++) {
        assert_false(isnan(y[i]));
        assert_true(y[i] >= 0.0f && y[i] <= 1.0f);
    }
    for (size_t i = nfinite; i < n; i++)
        assert_true(isnan(y[i]));
    const float in[] = {0.0f, -0.0f, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 120.0f, -110.0f,
                        -104.0f};
    const float want[] = {0.5f, 0.5f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
    float out[NELEM(in)];
    K->sigmoid(out, in, NELEM(in));
    for (size_t i = 0; i < NELEM(in); i++) {
        if (out[i] != want[i] || signbit(out[i])) {
            print_error("sigmoid [%s](%a) = %a, want %a\n", K->isa, (double)in[i],
                        (double)out[i], (double)want[i]);
            fail();
        }
    }
    /* -88.8 .. -103.2: a subnormal, not 0 (the overflow of e^-x must not flush it). */
    const float sub_in[] = {-88.8f, -95.0f, -100.0f, -103.2f};
    float sub_out[NELEM(sub_in)];
    K->sigmoid(sub_out, sub_in, NELEM(sub_in));
    for (size_t i = 0; i < NELEM(sub_in); i++) {
        if (!(sub_out[i] > 0.0f && sub_out[i] < FLT_MIN)) {
            print_error("sigmoid [%s](%g) = %a, want a subnormal\n", K->isa,
                        (double)sub_in[i], (double)sub_out[i]);
            fail();
        }
    }
    /* tanh: odd with signed zeros, +-1 at +-inf. */
    float t[6] = {0.0f, -0.0f, INFINITY, -INFINITY, 0x1p-149f, -0x1p-149f};
    K->bias_act(t, 6, 6, 1, NULL, BNN_ACT_TANH);
    assert_true(t[0] == 0.0f && !signbit(t[0]));
    assert_true(t[1] == 0.0f && signbit(t[1]));
    assert_true(t[2] == 1.0f && t[3] == -1.0f);
    assert_true(t[4] == 0x1p-149f && t[5] == -0x1p-149f);
}

/* The narrow path's sigmoid of t = -z log2e, 1 / (1 + 2^t): the same contract as the sigmoid
 * (sigmoid_check --folded checks every float), on a sweep over its fast range, its slow range
 * and beyond, every 61st bit pattern, special points and every length with guards. */
static void test_sigmoid_folded(void **state)
{
    (void)state;
    const size_t n = 340001, guard = 19;
    float *t = alloc_f(n + guard), *y = alloc_f(n + guard);
    for (size_t i = 0; i < n; i++)
        t[i] = (float)(-170.0 + 1e-3 * (double)i);
    K->sigmoid_folded(y, t, n);
    check_fn("sigmoid_folded sweep [-170, 170]", t, y, n, FN_FOLDED);
    size_t m = 0;
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 61 * 7)
        if (m < n)
            t[m++] = bits_to_float((uint32_t)b);
    K->sigmoid_folded(y, t, m);
    check_fn("sigmoid_folded every 427th float", t, y, m, FN_FOLDED);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX,
                             0x1p-149f, -0x1p-149f, BNN_SIG2_MIN_ARG,
                             nextafterf(BNN_SIG2_MIN_ARG, 0.0f),
                             nextafterf(BNN_SIG2_MIN_ARG, -INFINITY), 126.5f, 127.0f,
                             nextafterf(127.0f, 0.0f), nextafterf(127.0f, INFINITY), 127.5f,
                             149.0f, 150.0f, 151.0f, 160.0f, nextafterf(160.0f, INFINITY),
                             1e30f};
    const float want_exact[] = {0.5f, 0.5f, 0.0f, 1.0f};
    K->sigmoid_folded(y, special, NELEM(special));
    check_fn("sigmoid_folded special points", special, y, NELEM(special), FN_FOLDED);
    for (size_t i = 0; i < NELEM(want_exact); i++)
        assert_true(y[i] == want_exact[i] && !signbit(y[i]));
    assert_true(isnan(y[4]) && isnan(y[5]));
    bnn_rng r;
    bnn_rng_seed(&r, 11);
    for (size_t len = 0; len <= 70; len++) {
        fill_uniform(t, len, -130.0f, 130.0f, &r);
        for (size_t g = 0; g < guard; g++)
            y[len + g] = sentinel;
        K->sigmoid_folded(y, t, len);
        check_fn("sigmoid_folded lengths", t, y, len, FN_FOLDED);
        for (size_t g = 0; g < guard; g++)
            assert_true(y[len + g] == sentinel);
    }
    free(t);
    free(y);
}

/* Every length around the vector widths, at two alignments, with guards after the end. */
static void test_sigmoid_lengths(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 7);
    for (size_t li = 0; li < NELEM(lengths); li++) {
        for (size_t off = 0; off < 2; off++) {
            const size_t n = lengths[li], guard = 19;
            float *xb = alloc_f(off + n + guard), *yb = alloc_f(off + n + guard);
            float *x = xb + off, *y = yb + off;
            fill_uniform(x, n, -30.0f, 30.0f, &r);
            for (size_t g = 0; g < guard; g++)
                x[n + g] = y[n + g] = sentinel;
            char what[96];
            snprintf(what, sizeof what, "sigmoid n = %zu, offset %zu", n, off);
            check_sigmoid(what, x, n);
            K->sigmoid(y, x, n);
            for (size_t g = 0; g < guard; g++) {
                if (y[n + g] != sentinel || x[n + g] != sentinel) {
                    print_error("%s [%s]: wrote past the end at n + %zu\n", what, K->isa, g);
                    fail();
                }
            }
            /* In place with guards. */
            K->sigmoid(x, x, n);
            for (size_t g = 0; g < guard; g++)
                assert_true(x[n + g] == sentinel);
            for (size_t i = 0; i < n; i++)
                assert_true(float_to_bits(x[i]) == float_to_bits(y[i]));
            free(xb);
            free(yb);
        }
    }
}

/* The bias_act sigmoid epilogue gives bitwise the values of the sigmoid kernel, an element's
 * value does not depend on its neighbours, and (when both exist) the AVX2 and AVX-512 paths
 * agree bitwise, as kernels_avx*.c state. */
static void test_sigmoid_consistent(void **state)
{
    (void)state;
    const size_t n = 4099;
    float *x = alloc_f(n), *y = alloc_f(n), *z = alloc_f(n);
    bnn_rng r;
    bnn_rng_seed(&r, 11);
    fill_uniform(x, n, -100.0f, 100.0f, &r);
    K->sigmoid(y, x, n);
    memcpy(z, x, n * sizeof *z);
    K->bias_act(z, n, n, 1, NULL, BNN_ACT_SIGMOID);
    for (size_t i = 0; i < n; i++) {
        if (float_to_bits(y[i]) != float_to_bits(z[i])) {
            print_error("[%s] bias_act sigmoid %a != sigmoid %a at index %zu (x = %a)\n",
                        K->isa, (double)z[i], (double)y[i], i, (double)x[i]);
            fail();
        }
    }
    /* A lane's result does not depend on its neighbours: every 5th input replaced by values
     * that need the SIMD slow path (subnormal results, -inf, NaN) changes nothing else. */
    const float odd[] = {-100.0f, -INFINITY, NAN, -88.0f};
    memcpy(z, x, n * sizeof *z);
    for (size_t i = 0; i < n; i += 5)
        z[i] = odd[(i / 5) % 4];
    K->sigmoid(z, z, n);
    for (size_t i = 0; i < n; i++) {
        if (i % 5 != 0 && float_to_bits(y[i]) != float_to_bits(z[i])) {
            print_error("[%s] sigmoid(%a) = %a next to slow-path inputs, %a otherwise "
                        "(index %zu)\n",
                        K->isa, (double)x[i], (double)z[i], (double)y[i], i);
            fail();
        }
    }
    const bnn_kernel_table *a2 = bnn_kernels_named("avx2");
    const bnn_kernel_table *a5 = bnn_kernels_named("avx512");
    if (a2 && a5 && K == a5) {
        for (size_t i = 0; i < n; i++)
            x[i] = bits_to_float((uint32_t)(bnn_rng_next(&r) >> 32));
        a2->sigmoid(y, x, n);
        a5->sigmoid(z, x, n);
        for (size_t i = 0; i < n; i++) {
            if (float_to_bits(y[i]) != float_to_bits(z[i]) && !(isnan(y[i]) && isnan(z[i]))) {
                print_error("avx2 sigmoid %a != avx512 %a at index %zu (x = %a)\n",
                            (double)y[i], (double)z[i], i, (double)x[i]);
                fail();
            }
        }
    }
    free(x);
    free(y);
    free(z);
}

/* ------------------------------------------------------------------------------------------ */
/* Matrix kernels                                                                             */

/* A rows x cols matrix with leading dimension ld: values from fill, padding = sentinel. */
static float *make_matrix(size_t rows, size_t cols, size_t ld, float lo, float hi, bnn_rng *r)
{
    float *m = alloc_f(ld * cols);
    for (size_t c = 0; c < cols; c++)
        for (size_t i = 0; i < ld; i++)
            m[i + c * ld] = i < rows ? (float)(lo + (hi - lo) * bnn_rng_uniform(r)) : sentinel;
    return m;
}

static void check_padding(const char *what, const float *m, size_t rows, size_t cols,
                          size_t ld)
{
    for (size_t c = 0; c < cols; c++) {
        for (size_t i = rows; i < ld; i++) {
            if (m[i + c * ld] != sentinel) {
                print_error("%s [%s]: padding (%zu, %zu) overwritten with %g\n", what, K->isa,
                            i, c, (double)m[i + c * ld]);
                fail();
            }
        }
    }
}

/* |got(r, c) - want(r, c)| <= tol * (|want(r, c)| + mag(r, c)) everywhere; mag (NULL: 0) is
 * the size of the terms whose rounding the kernel may carry. Names the worst element. */
static void check_matrix(const char *what, const float *got, size_t ld, const double *want,
                         const double *mag, size_t rows, size_t cols, double tol)
{
    double worst = 0.0;
    size_t wr = 0, wc = 0;
    for (size_t c = 0; c < cols; c++) {
        for (size_t r = 0; r < rows; r++) {
            const size_t k = r + c * rows;
            const double g = got[r + c * ld];
            const double den = fabs(want[k]) + (mag ? mag[k] : 0.0);
            const double err = fabs(g - want[k]);
            double e = err == 0.0 ? 0.0 : den > 0.0 ? err / den : INFINITY;
            if (isnan(g) != isnan(want[k]) || isnan(e))
                e = INFINITY;
            if (e > worst) {
                worst = e;
                wr = r;
                wc = c;
            }
        }
    }
    if (!(worst <= tol)) {
        print_error("%s [%s]: worst relative error %.3e > %.1e at (%zu, %zu) of %zu x %zu: "
                    "got %.9g, want %.17g\n",
                    what, K->isa, worst, tol, wr, wc, rows, cols, (double)got[wr + wc * ld],
                    want[wr + wc * rows]);
        fail();
    }
}

static const char *act_name(bnn_act a)
{
    static const char *names[] = {"identity", "sigmoid", "tanh", "relu"};
    return (unsigned)a < BNN_ACT_COUNT ? names[a] : "?";
}

static void test_bias_act(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 101);
    for (int act = 0; act < BNN_ACT_COUNT; act++) {
        for (size_t ri = 0; ri < NELEM(shape_rows); ri++) {
            for (size_t ci = 0; ci < NELEM(shape_cols); ci++) {
                for (int pad = 0; pad < 2; pad++) {
                    for (int with_bias = 0; with_bias < 2; with_bias++) {
                        const size_t rows = shape_rows[ri], cols = shape_cols[ci];
                        const size_t ld = rows + (pad ? 3 : 0);
                        float *z = make_matrix(rows, cols, ld, -6.0f, 6.0f, &r);
                        float *b = with_bias ? alloc_f(rows) : NULL;
                        if (b)
                            fill_uniform(b, rows, -2.0f, 2.0f, &r);
                        double *want = alloc_d(rows * cols);
                        for (size_t c = 0; c < cols; c++) {
                            for (size_t i = 0; i < rows; i++) {
                                /* z + b rounds to float in the kernel, as here. */
                                const float v = b ? z[i + c * ld] + b[i] : z[i + c * ld];
                                want[i + c * rows] = ref_act(v, (bnn_act)act);
                            }
                        }
                        char what[128];
                        snprintf(what, sizeof what, "bias_act %s %zu x %zu ld %zu %s",
                                 act_name((bnn_act)act), rows, cols, ld,
                                 b ? "bias" : "no bias");
                        K->bias_act(z, ld, rows, cols, b, (bnn_act)act);
                        const double tol = act == BNN_ACT_SIGMOID ? BNN_TEST_SIGMOID_REL
                                           : act == BNN_ACT_TANH  ? BNN_TEST_TANH_REL
                                                                  : 0.0;
                        check_matrix(what, z, ld, want, NULL, rows, cols, tol);
                        check_padding(what, z, rows, cols, ld);
                        free(z);
                        free(b);
                        free(want);
                    }
                }
            }
        }
    }
    /* relu keeps NaN (a blow-up stays visible) and maps negatives to +0. */
    float v[5] = {NAN, -1.0f, 2.0f, -0.0f, -INFINITY};
    K->bias_act(v, 5, 5, 1, NULL, BNN_ACT_RELU);
    assert_true(isnan(v[0]));
    assert_true(v[1] == 0.0f && !signbit(v[1]));
    assert_true(v[2] == 2.0f && v[3] == 0.0f && v[4] == 0.0f);
}

/* Saved outputs a of an activation: what the forward pass would have stored. */
static float *make_outputs(size_t rows, size_t cols, size_t ld, bnn_act act, bnn_rng *r)
{
    float *a = make_matrix(rows, cols, ld, -3.0f, 3.0f, r);
    for (size_t c = 0; c < cols; c++) {
        for (size_t i = 0; i < rows; i++) {
            float *p = &a[i + c * ld];
            if (act == BNN_ACT_SIGMOID)
                *p = (float)ref_sigmoid(*p);
            else if (act == BNN_ACT_TANH)
                *p = (float)tanh(*p);
            else if (act == BNN_ACT_RELU)
                *p = (i + c) % 5 == 0 ? 0.0f : *p < 0 ? 0.0f : *p;
        }
    }
    return a;
}

static void test_act_backward(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 202);
    const float scales[] = {1.0f, -0.37f};
    for (int act = 0; act < BNN_ACT_COUNT; act++) {
        for (size_t ri = 0; ri < NELEM(shape_rows); ri++) {
            for (size_t ci = 0; ci < NELEM(shape_cols); ci++) {
                for (int pad = 0; pad < 2; pad++) {
                    const size_t rows = shape_rows[ri], cols = shape_cols[ci];
                    const size_t ldd = rows + (pad ? 2 : 0), lda = rows + (pad ? 5 : 0);
                    const float scale = scales[(ri + ci) % 2];
                    float *d = make_matrix(rows, cols, ldd, -1.0f, 1.0f, &r);
                    float *a = make_outputs(rows, cols, lda, (bnn_act)act, &r);
                    double *want = alloc_d(rows * cols), *mag = alloc_d(rows * cols);
                    for (size_t c = 0; c < cols; c++) {
                        for (size_t i = 0; i < rows; i++) {
                            const double sd = (double)scale * d[i + c * ldd];
                            want[i + c * rows] = sd * ref_dact(a[i + c * lda], (bnn_act)act);
                            mag[i + c * rows] = fabs(sd);
                        }
                    }
                    char what[128];
                    snprintf(what, sizeof what, "act_backward %s %zu x %zu ldd %zu lda %zu",
                             act_name((bnn_act)act), rows, cols, ldd, lda);
                    K->act_backward(d, ldd, a, lda, rows, cols, scale, (bnn_act)act);
                    /* A few float roundings of the product, and of 1 - a^2 relative to 1. */
                    check_matrix(what, d, ldd, want, mag, rows, cols, 5e-7);
                    check_padding(what, d, rows, cols, ldd);
                    check_padding(what, a, rows, cols, lda);
                    free(d);
                    free(a);
                    free(want);
                    free(mag);
                }
            }
        }
    }
}

/* Sum of squares in double from the float inputs: the exact value up to double rounding. */
static double ref_sq_sum(const float *a, size_t lda, const float *y, size_t ldy, size_t rows,
                         size_t cols)
{
    double s = 0.0;
    for (size_t c = 0; c < cols; c++) {
        for (size_t i = 0; i < rows; i++) {
            const double e = (double)a[i + c * lda] - (double)y[i + c * ldy];
            s += e * e;
        }
    }
    return s;
}

static void check_sum(const char *what, double got, double want, double tol)
{
    const double err = fabs(got - want);
    if (!(err <= tol * fabs(want)) && !(err == 0.0)) {
        print_error("%s [%s]: sum %.17g, want %.17g (relative error %.3e > %.1e)\n", what,
                    K->isa, got, want, want != 0.0 ? err / fabs(want) : INFINITY, tol);
        fail();
    }
}

static void test_output_delta(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 303);
    for (int act = 0; act < BNN_ACT_COUNT; act++) {
        for (size_t ri = 0; ri < NELEM(shape_rows); ri++) {
            for (size_t ci = 0; ci < NELEM(shape_cols); ci++) {
                for (int pad = 0; pad < 2; pad++) {
                    const size_t rows = shape_rows[ri], cols = shape_cols[ci];
                    const size_t ldd = rows + (pad ? 1 : 0), lda = rows + (pad ? 4 : 0);
                    const size_t ldy = rows + (pad ? 2 : 0);
                    const float scale = 2.0f / (float)cols;
                    float *d = make_matrix(rows, cols, ldd, -1.0f, 1.0f, &r);
                    float *a = make_outputs(rows, cols, lda, (bnn_act)act, &r);
                    float *y = make_matrix(rows, cols, ldy, -1.0f, 1.0f, &r);
                    double *want = alloc_d(rows * cols), *mag = alloc_d(rows * cols);
                    for (size_t c = 0; c < cols; c++) {
                        for (size_t i = 0; i < rows; i++) {
                            const double av = a[i + c * lda];
                            const double e = (double)scale * (av - (double)y[i + c * ldy]);
                            want[i + c * rows] = e * ref_dact(av, (bnn_act)act);
                            mag[i + c * rows] = fabs(e);
                        }
                    }
                    const double want_sum = ref_sq_sum(a, lda, y, ldy, rows, cols);
                    char what[128];
                    snprintf(what, sizeof what,
                             "output_delta %s %zu x %zu ldd %zu lda %zu ldy %zu",
                             act_name((bnn_act)act), rows, cols, ldd, lda, ldy);
                    const double sum =
                        K->output_delta(d, ldd, a, lda, y, ldy, rows, cols, scale, (bnn_act)act);
                    check_matrix(what, d, ldd, want, mag, rows, cols, 5e-7);
                    check_padding(what, d, rows, cols, ldd);
                    /* e = a - y rounds to float once; e^2 and the sum are exact-ish in
                     * double. */
                    check_sum(what, sum, want_sum, 3e-7);
                    const double sq = K->sq_error(a, lda, y, ldy, rows, cols);
                    check_sum("sq_error", sq, want_sum, 3e-7);
                    free(d);
                    free(a);
                    free(y);
                    free(want);
                    free(mag);
                }
            }
        }
    }
    /* Empty blocks. */
    float one = 1.0f;
    assert_true(K->output_delta(&one, 1, &one, 1, &one, 1, 0, 5, 1.0f, BNN_ACT_SIGMOID) == 0.0);
    assert_true(K->sq_error(&one, 3, &one, 3, 3, 0) == 0.0);
}

static void test_sq_error_long(void **state)
{
    (void)state;
    /* A long dense column (the lane partial sums and the tail) and a wide strided block. */
    bnn_rng r;
    bnn_rng_seed(&r, 404);
    const size_t shapes[][3] = {{1, 100003, 1}, {3, 4097, 3}, {10, 1000, 13}, {1000, 7, 1000}};
    for (size_t s = 0; s < NELEM(shapes); s++) {
        const size_t rows = shapes[s][0], cols = shapes[s][1], ld = shapes[s][2];
        float *a = make_matrix(rows, cols, ld, 0.0f, 1.0f, &r);
        float *y = make_matrix(rows, cols, ld, 0.0f, 1.0f, &r);
        char what[96];
        snprintf(what, sizeof what, "sq_error %zu x %zu ld %zu", rows, cols, ld);
        check_sum(what, K->sq_error(a, ld, y, ld, rows, cols),
                  ref_sq_sum(a, ld, y, ld, rows, cols), 3e-7);
        free(a);
        free(y);
    }
}

static void test_row_sums_add(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 505);
    const size_t rows_list[] = {1, 2, 3, 7, 8, 9, 16, 17, 33, 300};
    const size_t cols_list[] = {1, 5, 33, 64, 100};
    for (size_t ri = 0; ri < NELEM(rows_list); ri++) {
        for (size_t ci = 0; ci < NELEM(cols_list); ci++) {
            for (int pad = 0; pad < 2; pad++) {
                const size_t rows = rows_list[ri], cols = cols_list[ci];
                const size_t ldd = rows + (pad ? 3 : 0);
                float *d = make_matrix(rows, cols, ldd, -1.0f, 1.0f, &r);
                float *acc = alloc_f(rows + 4);
                fill_uniform(acc, rows, -5.0f, 5.0f, &r);
                for (size_t g = 0; g < 4; g++)
                    acc[rows + g] = sentinel;
                double *want = alloc_d(rows), *mag = alloc_d(rows);
                for (size_t i = 0; i < rows; i++) {
                    want[i] = acc[i];
                    mag[i] = fabs(acc[i]);
                    for (size_t c = 0; c < cols; c++) {
                        want[i] += d[i + c * ldd];
                        mag[i] += fabs(d[i + c * ldd]);
                    }
                }
                char what[96];
                snprintf(what, sizeof what, "row_sums_add %zu x %zu ldd %zu", rows, cols, ldd);
                K->row_sums_add(acc, d, ldd, rows, cols);
                /* Float sums: the error bound of recursive summation in blocks. */
                const double tol = ((double)cols / 8.0 + 40.0) * 0x1p-24;
                for (size_t i = 0; i < rows; i++)
                    mag[i] -= fabs(want[i]); /* check_matrix adds |want| back */
                check_matrix(what, acc, rows, want, mag, rows, 1, tol);
                for (size_t g = 0; g < 4; g++)
                    assert_true(acc[rows + g] == sentinel);
                check_padding(what, d, rows, cols, ldd);
                free(d);
                free(acc);
                free(want);
                free(mag);
            }
        }
    }
}

static void test_axpy(void **state)
{
    (void)state;
    bnn_rng r;
    bnn_rng_seed(&r, 606);
    for (size_t li = 0; li < NELEM(lengths); li++) {
        const size_t n = lengths[li], guard = 5;
        const float alpha = li % 2 ? -0.1f : 3.0f;
        float *x = alloc_f(n + guard), *y = alloc_f(n + guard);
        fill_uniform(x, n, -10.0f, 10.0f, &r);
        fill_uniform(y, n, -10.0f, 10.0f, &r);
        for (size_t g = 0; g < guard; g++)
            x[n + g] = y[n + g] = sentinel;
        double *want = alloc_d(n), *mag = alloc_d(n);
        for (size_t i = 0; i < n; i++) {
            want[i] = (double)y[i] + (double)alpha * x[i];
            mag[i] = fabs((double)alpha * x[i]);
        }
        char what[64];
        snprintf(what, sizeof what, "axpy n = %zu", n);
        K->axpy(y, x, n, alpha);
        /* alpha x rounds (unless fused), the sum rounds. */
        check_matrix(what, y, n, want, mag, n, 1, 1.2e-7);
        for (size_t g = 0; g < guard; g++)
            assert_true(y[n + g] == sentinel && x[n + g] == sentinel);
        free(x);
        free(y);
        free(want);
        free(mag);
    }
}

static void test_dispatch(void **state)
{
    (void)state;
    assert_non_null(K);
    assert_non_null(bnn_kernels_scalar());
    assert_string_equal(bnn_kernels_scalar()->isa, "scalar");
    assert_ptr_equal(bnn_kernels_named("scalar"), bnn_kernels_scalar());
    assert_null(bnn_kernels_named("sse9"));
    assert_null(bnn_kernels_named(NULL));
    assert_int_equal(bnn_kernels_force("no-such-isa"), -1);
    assert_ptr_equal(bnn_kernels(), K); /* a failed force changes nothing */
    const char *names[] = {"scalar", "avx2", "avx512"};
    for (size_t i = 0; i < NELEM(names); i++) {
        const bnn_kernel_table *t = bnn_kernels_named(names[i]);
        if (!t)
            continue;
        assert_string_equal(t->isa, names[i]);
        assert_non_null(t->sigmoid);
        assert_non_null(t->bias_act);
        assert_non_null(t->act_backward);
        assert_non_null(t->output_delta);
        assert_non_null(t->sq_error);
        assert_non_null(t->row_sums_add);
        assert_non_null(t->axpy);
        /* the narrow path belongs to the same table: one ISA decision */
        assert_int_equal(t->narrow_lanes, i == 0 ? 1 : i == 1 ? 8 : 16);
        assert_non_null(t->narrow_work);
        assert_non_null(t->narrow_grad);
        assert_non_null(t->narrow_reduce);
        assert_int_equal(bnn_kernels_force(names[i]), 0);
        assert_ptr_equal(bnn_kernels(), t);
    }
    assert_int_equal(bnn_kernels_force(K->isa), 0);
    assert_ptr_equal(bnn_kernels(), K);
    const char *env = getenv("BATCHNN_ISA");
    if (env && *env && strcmp(env, "auto") != 0)
        assert_string_equal(K->isa, env);
}

int main(void)
{
    bnn_test_require_isa();
    K = bnn_kernels();
    printf("kernel table: %s\n", K->isa);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_sigmoid_special),
        cmocka_unit_test(test_sigmoid_lengths),
        cmocka_unit_test(test_sigmoid_folded),
        cmocka_unit_test(test_sigmoid_sweep),
        cmocka_unit_test(test_sigmoid_random),
        cmocka_unit_test(test_sigmoid_bit_patterns),
        cmocka_unit_test(test_sigmoid_consistent),
        cmocka_unit_test(test_bias_act),
        cmocka_unit_test(test_act_backward),
        cmocka_unit_test(test_output_delta),
        cmocka_unit_test(test_sq_error_long),
        cmocka_unit_test(test_row_sums_add),
        cmocka_unit_test(test_axpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
