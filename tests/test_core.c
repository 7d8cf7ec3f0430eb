/*
 * test_core.c - architectures (parsing, refusal of bad or absurd ones, parameter layout),
 * the random generators, model initialisation, and the data layer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_arch_parse(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "2,16,16,1", NULL, 1, &e), 0);
    assert_int_equal(a.nlayers, 3);
    assert_int_equal(a.width[0], 2);
    assert_int_equal(a.width[3], 1);
    for (int l = 0; l < 3; l++) {
        assert_int_equal(a.act[l], BNN_ACT_SIGMOID);
        assert_int_equal(a.bias[l], 1);
    }
    assert_int_equal(bnn_arch_nparams(&a), 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1);
    assert_int_equal(bnn_arch_weight_offset(&a, 1), 48);
    assert_int_equal(bnn_arch_bias_offset(&a, 1), 48 + 256);
    assert_int_equal(bnn_arch_parse(&a, " 3 , 4 ,1", "tanh, identity", 0, &e), 0);
    assert_int_equal(a.act[0], BNN_ACT_TANH);
    assert_int_equal(a.act[1], BNN_ACT_IDENTITY);
    assert_int_equal(bnn_arch_bias_offset(&a, 0), (size_t)-1);
    assert_int_equal(bnn_arch_nparams(&a), 16);
    char w[64], acts[64];
    bnn_arch_format(&a, w, sizeof w, acts, sizeof acts);
    assert_string_equal(w, "3,4,1");
    assert_string_equal(acts, "tanh,identity");

    static const struct {
        const char *widths, *acts, *expect;
    } bad[] = {
        {"2", NULL, "at least two widths"},
        {"", NULL, "at least two widths"},
        {"2,,1", NULL, "not a positive whole number"},
        {"2,0,1", NULL, "at least 1"},
        {"2,-3,1", NULL, "not a positive whole number"},
        {"2,x,1", NULL, "not a positive whole number"},
        {"2,3.5,1", NULL, "not a positive whole number"},
        {"2,99999999999999999999,1", NULL, "larger than the limit"},
        {"2,100000000,100000000,1", NULL, "larger than the limit"},
        {"2,3,1", "sigmoid,sigmoid,sigmoid", "3 names for 2 layers"},
        {"2,3,1", "softmax", "unknown activation 'softmax'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = '\0';
        assert_int_equal(bnn_arch_parse(&a, bad[i].widths, bad[i].acts, 1, &e), -1);
        if (!strstr(e.msg, bad[i].expect)) {
            print_error("arch '%s': message '%s' lacks '%s'\n", bad[i].widths, e.msg,
                        bad[i].expect);
            fail();
        }
    }
}

static void test_absurd_model_refused(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    /* 2^24 x 2^24 weights: representable, far beyond memory: refused before allocating */
    assert_int_equal(bnn_arch_parse(&a, "16777216,16777216", NULL, 1, &e), 0);
    bnn_model m;
    assert_int_equal(bnn_model_init(&m, &a, &e), -1);
    assert_non_null(strstr(e.msg, "do not fit"));
}

static void test_rng(void **state)
{
    (void)state;
    bnn_rng r1, r2;
    bnn_rng_seed(&r1, 42);
    bnn_rng_seed(&r2, 42);
    for (int i = 0; i < 100; i++)
        assert_true(bnn_rng_next(&r1) == bnn_rng_next(&r2));
    bnn_rng_seed(&r2, 43);
    assert_true(bnn_rng_next(&r1) != bnn_rng_next(&r2));
    /* uniform draws: in range, mean near 1/2 (10^5 draws: sd of the mean 9e-4) */
    double sum = 0, fsum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = bnn_rng_uniform(&r1);
        float f = bnn_hash_u01(7, (uint64_t)i);
        assert_true(u >= 0 && u < 1);
        assert_true(f >= 0 && f < 1);
        sum += u;
        fsum += f;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.005);
    assert_true(fabs(fsum / 100000 - 0.5) < 0.005);
    assert_true(bnn_hash_u01(7, 12345) == bnn_hash_u01(7, 12345));
    assert_true(bnn_hash64(7, 1) != bnn_hash64(8, 1));
}

static void test_model_init(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "3,5,2", NULL, 1, &e), 0);
    bnn_model m1, m2;
    assert_int_equal(bnn_model_init(&m1, &a, &e), 0);
    assert_int_equal(bnn_model_init(&m2, &a, &e), 0);
    assert_true(((uintptr_t)m1.theta & 63) == 0);
    bnn_model_randomize(&m1, 9);
    bnn_model_randomize(&m2, 9);
    assert_memory_equal(m1.theta, m2.theta, m1.nparams * sizeof(float));
    double r0 = sqrt(6.0 / 8), r1 = sqrt(6.0 / 7);
    const float *w0 = bnn_model_weight(&m1, 0), *w1 = bnn_model_weight(&m1, 1);
    for (int i = 0; i < 15; i++)
        assert_true(fabs(w0[i]) <= r0 && w0[i] != 0);
    for (int i = 0; i < 10; i++)
        assert_true(fabs(w1[i]) <= r1);
    for (int i = 0; i < 5; i++)
        assert_true(bnn_model_bias(&m1, 0)[i] == 0);
    assert_true(bnn_model_finite(&m1));
    m1.theta[3] = NAN;
    assert_false(bnn_model_finite(&m1));
    bnn_model_free(&m1);
    bnn_model_free(&m2);
}

static void test_data(void **state)
{
    (void)state;
    float rows[5 * 4];
    for (int i = 0; i < 20; i++)
        rows[i] = (float)i;
    bnn_table t;
    bnn_test_table(&t, rows, 5, 4);
    bnn_data d;
    bnn_error e;
    assert_int_equal(bnn_data_make(&d, &t, NULL, 3, 1, &e), 0);
    bnn_chunk c;
    assert_int_equal(bnn_data_chunk(&d, 2, 3, NULL, NULL, &c, &e), 0);
    assert_true(c.x == rows + 8 && c.ldx == 4 && c.y == rows + 11 && c.ldy == 4);
    double x[4], y[1];
    assert_int_equal(bnn_data_sample(&d, 4, x, y, &e), 0);
    assert_true(x[0] == 16 && x[2] == 18 && y[0] == 19);
    assert_int_equal(bnn_data_chunk(&d, 4, 2, NULL, NULL, &c, &e), -1);
    assert_int_equal(bnn_data_make(&d, &t, NULL, 2, 1, &e), -1);
    assert_non_null(strstr(e.msg, "4 columns"));
    /* inputs only: predict */
    assert_int_equal(bnn_data_make(&d, &t, NULL, 4, 1, &e), 0);
    assert_null(d.yt);
    /* separate targets */
    float ty[5] = {1, 2, 3, 4, 5};
    bnn_table tt;
    bnn_test_table(&tt, ty, 5, 1);
    assert_int_equal(bnn_data_make(&d, &t, &tt, 4, 1, &e), 0);
    assert_int_equal(bnn_data_sample(&d, 3, x, y, &e), 0);
    assert_true(y[0] == 4);
    tt.rows = 4;
    assert_int_equal(bnn_data_make(&d, &t, &tt, 4, 1, &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_parse),
        cmocka_unit_test(test_absurd_model_refused),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_model_init),
        cmocka_unit_test(test_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
