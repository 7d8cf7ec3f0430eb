/*
 * test_bench_bounds.c - `batchnn bench`'s instruction-mix estimate (src/cli/bench_bounds.c):
 * the operation counts of the workloads' shapes, counted here by hand from the kernels
 * (kernels/narrow_impl.h, sigmoid_simd.h), the port arithmetic that turns them into cycles
 * per sample and names the busiest port, the port model's lookup, the clock probe's range
 * and the ping-pong probe's sanity. Pure arithmetic: no timing is asserted (the clock only
 * within 0.2-20 GHz, the ping-pong only positive and finite).
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "bench_bounds.h"
#include "testutil.h"

static bnn_arch arch(const char *w, const char *act, int bias)
{
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, w, act, bias, &e), 0);
    return a;
}

static void test_ports(void **state)
{
    (void)state;
    assert_int_equal(bench_ports_for("avx2")->lanes, 8);
    assert_int_equal(bench_ports_for("avx512")->lanes, 16);
    assert_int_equal(bench_ports_for("scalar")->lanes, 1);
    assert_string_equal(bench_ports_for("neon")->isa, "scalar"); /* unknown: scalar's */
    assert_string_equal(bench_ports_for(NULL)->isa, "scalar");
}

/* W2 (2,1 sigmoid, bias) on AVX2, per vector of 8 samples: FMA 2 forward + 2 gradient + 5
 * sigmoid polynomial + 2 (error, output scale) + 2 (slope, product) = 13; adds 6 (sigmoid)
 * + 1 bias gradient + 1 (output - target) = 8; shuffles: rows of 3 floats split into 3
 * features with 2 blends and a vpermps each = 9; 1 divide, issued as the 2.5 FMA slots it
 * takes; 3 others. Issue: 35.5 / 4 pipes per 8 samples = 1.109375 cycles per sample, above
 * FMA (13 + 2.5) / 16, shuffles 9/16, divide 3/8. */
static void test_w2_avx2(void **state)
{
    (void)state;
    const bnn_arch a = arch("2,1", "sigmoid", 1);
    const bench_ports *p = bench_ports_for("avx2");
    const bench_mix m = bench_mix_count(&a, p);
    assert_float_equal(m.fma, 13.0 / 8, 1e-12);
    assert_float_equal(m.add, 8.0 / 8, 1e-12);
    assert_float_equal(m.shuf, 9.0 / 8, 1e-12);
    assert_float_equal(m.div, 1.0 / 8, 1e-12);
    assert_float_equal(m.other, 3.0 / 8, 1e-12);
    const char *bound = NULL;
    assert_float_equal(bench_mix_cycles(&m, p, &bound), 35.5 / 8 / 4, 1e-12);
    assert_string_equal(bound, "vector issue");
}

/* W4 (2,16,16,1 sigmoid) on AVX-512: the multiply-adds bind. Per sample: products 2*32 +
 * 3*256 + 3*16 = 880, sigmoids 33 x 5, slopes (16 + 16 + 1) x 2, error and scale 2: 1113,
 * and the 33 divides' 2 FMA slots each: 1179, over 16 lanes at 1 zmm FMA per cycle. */
static void test_w4_avx512(void **state)
{
    (void)state;
    const bnn_arch a = arch("2,16,16,1", "sigmoid", 1);
    const bench_ports *p = bench_ports_for("avx512");
    const bench_mix m = bench_mix_count(&a, p);
    assert_float_equal(m.fma, 1113.0 / 16, 1e-9);
    assert_float_equal(m.shuf, 0, 0); /* the layer-wise kernel transposes with scalar moves */
    const char *bound = NULL;
    assert_float_equal(bench_mix_cycles(&m, p, &bound), 1179.0 / 16, 1e-9);
    assert_string_equal(bound, "FMA ports");
}

/* W3 (1,1,1,1,1 sigmoid) on AVX2: 4 sigmoids per sample, a divide each (4 per 8 samples);
 * with a divider slow enough, the divide is the busiest port and named as the bound. */
static void test_w3_divide(void **state)
{
    (void)state;
    const bnn_arch a = arch("1,1,1,1,1", "sigmoid", 1);
    const bench_ports *p = bench_ports_for("avx2");
    const bench_mix m = bench_mix_count(&a, p);
    assert_float_equal(m.div, 4.0 / 8, 1e-12);
    /* a port model with a slow divider makes it the bound */
    bench_ports slow = *p;
    slow.div = 40;
    const char *bound = NULL;
    assert_float_equal(bench_mix_cycles(&m, &slow, &bound), 4.0 / 8 * 40, 1e-12);
    assert_string_equal(bound, "divide (sigmoid)");
}

/* W1 (1,1 identity, no bias): no activation, no divide; 2 multiply-adds + 2 for the error */
static void test_w1_identity(void **state)
{
    (void)state;
    const bnn_arch a = arch("1,1", "identity", 0);
    const bench_mix m = bench_mix_count(&a, bench_ports_for("avx512"));
    assert_float_equal(m.fma, 4.0 / 16, 1e-12);
    assert_float_equal(m.div, 0, 0);
    assert_float_equal(m.load, 2.0 / 16, 1e-12); /* a row of 2 floats per sample */
}

static void test_clock(void **state)
{
    (void)state;
    const double ghz = bench_probe_ghz();
#if defined(__x86_64__)
    assert_true(ghz > 0.2 && ghz < 20);
#else
    assert_true(ghz == 0);
#endif
}

/* The ping-pong probe ends (also where both threads share one CPU: it yields) and returns a
 * positive finite round trip with 2 threads, the best trial no slower than the median, and
 * n/a (0) with one or a thread limit of one; its size is not asserted. */
static void test_pingpong(void **state)
{
    (void)state;
    const bench_pingpong one = bench_probe_pingpong(1);
    assert_true(one.ns == 0 && one.best_ns == 0 && one.yielded == 0);
    const bench_pingpong two = bench_probe_pingpong(2);
    if (omp_get_thread_limit() < 2) { /* OMP_THREAD_LIMIT=1: a team of one, n/a */
        assert_true(two.ns == 0);
        return;
    }
    assert_true(isfinite(two.ns) && two.ns > 0);
    assert_true(two.best_ns > 0 && two.best_ns <= two.ns);
    assert_true(two.yielded >= 0 && two.yielded <= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports),       cmocka_unit_test(test_w2_avx2),
        cmocka_unit_test(test_w4_avx512),   cmocka_unit_test(test_w3_divide),
        cmocka_unit_test(test_w1_identity), cmocka_unit_test(test_clock),
        cmocka_unit_test(test_pingpong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
