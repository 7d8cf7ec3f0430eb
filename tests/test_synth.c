/*
 * test_synth.c - synthetic sets: the gates' truth tables, y = 2x, the widths each set takes,
 * and that a stored set and a streamed one (generated on demand) hold the same samples.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_gates(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        float y[4];
    } gates[] = {{"or", {0, 1, 1, 1}}, {"and", {0, 0, 0, 1}}, {"nand", {1, 1, 1, 0}},
                 {"xor", {0, 1, 1, 0}}};
    bnn_error e;
    for (int g = 0; g < 4; g++) {
        char name[32];
        snprintf(name, sizeof name, "synth:%s", gates[g].name);
        bnn_table t;
        assert_int_equal(bnn_synth_open(&t, name, 10, -1, -1, 3, 1 << 20, &e), 0);
        assert_int_equal(t.cols, 3);
        for (size_t i = 0; i < 10; i++) {
            float row[3];
            assert_int_equal(bnn_table_read(&t, i, 1, 0, 3, row, 3, &e), 0);
            int p = (int)(i % 4);
            assert_true(row[0] == (float)(p >> 1) && row[1] == (float)(p & 1));
            assert_true(row[2] == gates[g].y[p]);
        }
        bnn_table_close(&t);
    }
}

static void test_linear_and_widths(void **state)
{
    (void)state;
    bnn_error e;
    bnn_table t;
    assert_int_equal(bnn_synth_open(&t, "synth:linear", 1000, 1, 1, 5, 1 << 20, &e), 0);
    for (size_t i = 0; i < 1000; i++) {
        float row[2];
        assert_int_equal(bnn_table_read(&t, i, 1, 0, 2, row, 2, &e), 0);
        assert_true(row[0] >= 0 && row[0] < 1);
        assert_true(fabsf(row[1] - 2 * row[0]) <= 0.0011f);
    }
    bnn_table_close(&t);
    /* a set with fixed widths refuses others; uniform needs them */
    assert_int_equal(bnn_synth_open(&t, "synth:xor", 8, 3, 1, 5, 1 << 20, &e), -1);
    assert_non_null(strstr(e.msg, "synth:xor"));
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", 8, -1, -1, 5, 1 << 20, &e), -1);
    assert_int_equal(bnn_synth_open(&t, "synth:nope", 8, 1, 1, 5, 1 << 20, &e), -1);
    assert_non_null(strstr(e.msg, "unknown synthetic set"));
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", 0, 1, 1, 5, 1 << 20, &e), -1);
}

static void test_stored_equals_streamed(void **state)
{
    (void)state;
    const char *sets[] = {"synth:uniform", "synth:teacher", "synth:circle", "synth:sine"};
    bnn_error e;
    for (int s = 0; s < 4; s++) {
        bnn_table kept, streamed;
        int64_t nin = s < 2 ? 5 : -1, nout = s < 2 ? 3 : -1;
        assert_int_equal(bnn_synth_open(&kept, sets[s], 777, nin, nout, 11, 1 << 24, &e), 0);
        assert_int_equal(bnn_synth_open(&streamed, sets[s], 777, nin, nout, 11, 0, &e), 0);
        assert_non_null(kept.f32);
        assert_null(streamed.f32);
        size_t cols = kept.cols;
        float *a = malloc(777 * cols * sizeof *a), *b = malloc(777 * cols * sizeof *b);
        assert_int_equal(bnn_table_read(&kept, 0, 777, 0, cols, a, cols, &e), 0);
        /* streamed in uneven blocks */
        for (size_t r = 0; r < 777; r += 100) {
            size_t k = 777 - r < 100 ? 777 - r : 100;
            assert_int_equal(bnn_table_read(&streamed, r, k, 0, cols, b + r * cols, cols, &e), 0);
        }
        assert_memory_equal(a, b, 777 * cols * sizeof *a);
        /* values are in range and not constant */
        float mn = a[0], mx = a[0];
        for (size_t i = 0; i < 777 * cols; i++) {
            mn = a[i] < mn ? a[i] : mn;
            mx = a[i] > mx ? a[i] : mx;
        }
        assert_true(mn >= 0 && mx <= 1 && mx - mn > 0.5f);
        /* another seed gives other samples */
        bnn_table other;
        assert_int_equal(bnn_synth_open(&other, sets[s], 777, nin, nout, 12, 0, &e), 0);
        assert_int_equal(bnn_table_read(&other, 0, 777, 0, cols, b, cols, &e), 0);
        assert_true(memcmp(a, b, 777 * cols * sizeof *a) != 0);
        free(a);
        free(b);
        bnn_table_close(&kept);
        bnn_table_close(&streamed);
        bnn_table_close(&other);
    }
}

/* Past 2^32 samples: a streamed set (budget 0: nothing stored, so nothing of size n is
 * allocated) generates sample i >= 2^32 as a function of i itself, not of i mod 2^32, and the
 * chunk API (bnn_data_chunk) reads it with 64-bit positions. */
static void test_past_2_32(void **state)
{
    (void)state;
    bnn_error e;
    bnn_table t;
    const size_t n = ((size_t)1 << 32) + 5000;
    assert_int_equal(bnn_synth_open(&t, "synth:linear", n, 1, 1, 9, 0, &e), 0);
    assert_null(t.f32); /* generated on demand */
    assert_true(t.rows == n);
    bnn_data d;
    assert_int_equal(bnn_data_make(&d, &t, NULL, 1, 1, &e), 0);
    assert_true(d.n == n);
    enum { K = 3000 };
    static float xb[K], yb[K], lo[2 * K];
    const size_t start = ((size_t)1 << 32) + 1234;
    bnn_chunk c;
    assert_int_equal(bnn_data_chunk(&d, start, K, xb, yb, &c, &e), 0);
    assert_int_equal(c.count, K);
    /* the same samples at 2^32 below: a 32-bit index would give exactly these */
    assert_int_equal(bnn_table_read(&t, 1234, K, 0, 2, lo, 2, &e), 0);
    size_t same = 0;
    for (size_t i = 0; i < K; i++) {
        const float x = c.x[i * c.ldx], y = c.y[i * c.ldy];
        float row[2];
        assert_int_equal(bnn_table_read(&t, start + i, 1, 0, 2, row, 2, &e), 0);
        assert_true(row[0] == x && row[1] == y); /* chunk and row reads agree */
        assert_true(x >= 0 && x < 1);
        assert_true(fabsf(y - 2 * x) <= 0.0011f);
        same += x == lo[2 * i];
    }
    assert_true(same < K / 100); /* i and i - 2^32 are different samples */
    /* the last sample is there; one past it is refused */
    assert_int_equal(bnn_data_chunk(&d, n - 1, 1, xb, yb, &c, &e), 0);
    assert_int_equal(bnn_data_chunk(&d, n - 1, 2, xb, yb, &c, &e), -1);
    assert_non_null(strstr(e.msg, "outside"));
    bnn_table_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gates),
        cmocka_unit_test(test_linear_and_widths),
        cmocka_unit_test(test_stored_equals_streamed),
        cmocka_unit_test(test_past_2_32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
