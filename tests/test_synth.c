/*
 * test_synth.c - synthetic sets: the gates' truth tables, y = 2x, the widths each set takes,
 * that a stored set and a streamed one (generated on demand) hold the same samples, and the
 * generator itself against an independent transcription of its definition (core/bnn_core.h),
 * on the CPU path of BATCHNN_ISA (run once per path).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_kernels.h"
#include "testutil.h"

/* ---- the generator, transcribed from its definition, on 64-bit keys ---------------------- */

static uint64_t tr_splitmix_fin(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t tr_murmur_fin(uint32_t h)
{
    h = (h ^ (h >> 16)) * 0x85ebca6bu;
    h = (h ^ (h >> 13)) * 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* u01(seed, key) = (h >> 8) / 2^24, h = fmix32(fmix32(lo ^ a) ^ b), (a, b) the halves of
 * hash64(seed, key >> 32) = fin(fin(hi + golden * (seed + 1)) ^ seed). */
static float tr_u01(uint64_t seed, uint64_t key)
{
    const uint64_t hi = key >> 32;
    const uint64_t k = tr_splitmix_fin(tr_splitmix_fin(hi + 0x9e3779b97f4a7c15ULL * (seed + 1)) ^
                                       seed);
    const uint32_t h = tr_murmur_fin(tr_murmur_fin((uint32_t)key ^ (uint32_t)k) ^
                                     (uint32_t)(k >> 32));
    return (float)ldexp((double)(h >> 8), -24);
}

/* The scalar function and this path's u01_run against the transcription: runs of every
 * length up to 70 (tails of 8- and 16-lane loops), steps 1..5 and 794, keys about 2^32 and
 * 2^40 (u01_run itself never crosses a change of key >> 32: the caller splits there). */
static void test_generator_transcribed(void **state)
{
    (void)state;
    const bnn_kernel_table *k = bnn_kernels();
    const uint64_t seeds[] = {0, 1, 9, 0xffffffffffffffffULL};
    const uint64_t bases[] = {0, 12345, ((uint64_t)1 << 32) + 7, ((uint64_t)5 << 40) + 99};
    const uint32_t steps[] = {1, 2, 3, 5, 794};
    float out[80];
    size_t checked = 0;
    for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++)
        for (size_t bi = 0; bi < sizeof bases / sizeof *bases; bi++)
            for (size_t st = 0; st < sizeof steps / sizeof *steps; st++)
                for (size_t n = 1; n <= 70; n += 3) {
                    const uint64_t key0 = bases[bi];
                    const bnn_u01_key key = bnn_u01_key_of(seeds[si], key0 >> 32);
                    out[n] = -1.0f; /* a guard past the run */
                    k->u01_run(out, n, (uint32_t)key0, steps[st], key.a, key.b);
                    assert_true(out[n] == -1.0f);
                    for (size_t t = 0; t < n; t++) {
                        const uint64_t kk = key0 + t * steps[st];
                        const float want = tr_u01(seeds[si], kk);
                        if (out[t] != want || bnn_hash_u01(seeds[si], kk) != want)
                            fail_msg("%s: seed %llu key %llu: u01_run %.9g, scalar %.9g, "
                                     "transcription %.9g", k->isa,
                                     (unsigned long long)seeds[si], (unsigned long long)kk,
                                     (double)out[t], (double)bnn_hash_u01(seeds[si], kk),
                                     (double)want);
                        checked++;
                    }
                }
    assert_true(checked > 10000);
    /* the values fill [0, 1) evenly: 2^16 consecutive keys into 16 bins */
    size_t bins[16] = {0};
    for (uint64_t i = 0; i < 65536; i++)
        bins[(int)(bnn_hash_u01(3, i) * 16)]++;
    for (int b = 0; b < 16; b++)
        assert_true(bins[b] > 3800 && bins[b] < 4400); /* 4096 +- 4.7 sigma */
}

/* This path's linear_pairs against synth:linear's formula, y = 2x + (u - 1/2) 0.002 in float:
 * every count of pairs up to 40 (whole vectors and tails), at every offset of the buffer,
 * values across [0, 1) and beyond; the x and the floats past the pairs stay untouched. */
static void test_linear_pairs(void **state)
{
    (void)state;
    const bnn_kernel_table *k = bnn_kernels();
    float buf[96], want[96];
    uint64_t r = 5;
    for (size_t off = 0; off < 4; off++)
        for (size_t n = 0; n <= 40; n++) {
            for (size_t i = 0; i < 96; i++) {
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[i] = (float)ldexp((double)(r >> 40), -24) * (i % 7 == 3 ? 9.0f : 1.0f);
                want[i] = buf[i];
            }
            for (size_t i = 0; i < n; i++)
                want[off + 2 * i + 1] = 2.0f * want[off + 2 * i] +
                                        (want[off + 2 * i + 1] - 0.5f) * 0.002f;
            k->linear_pairs(buf + off, n);
            for (size_t i = 0; i < 96; i++)
                if (memcmp(&buf[i], &want[i], sizeof(float)) != 0)
                    fail_msg("%s: %zu pairs at offset %zu: float %zu is %.9g, want %.9g", k->isa,
                             n, off, i, (double)buf[i], (double)want[i]);
        }
}

/* Table reads of uniform and linear (the SIMD fast path: whole rows, long rows, single
 * columns, any ldo) against the transcription, at rows where the keys cross 2^32. */
static void test_sets_transcribed(void **state)
{
    (void)state;
    bnn_error e;
    static const struct {
        const char *name;
        int64_t nin, nout;
    } sets[] = {{"synth:uniform", 2, 1}, {"synth:uniform", 20, 3}, {"synth:uniform", 1, 1},
                {"synth:linear", 1, 1}};
    for (size_t si = 0; si < sizeof sets / sizeof *sets; si++) {
        const uint64_t stride = (uint64_t)(sets[si].nin + sets[si].nout), seed = 77;
        const size_t n = ((size_t)1 << 33) / stride; /* keys to 2^33 */
        bnn_table t;
        assert_int_equal(bnn_synth_open(&t, sets[si].name, n, sets[si].nin, sets[si].nout,
                                        seed, 0, &e), 0);
        assert_null(t.f32);
        const size_t row0 = (size_t)(((uint64_t)1 << 32) / stride) - 37, rows = 75;
        for (size_t col0 = 0; col0 < stride; col0++)
            for (size_t ncols = 1; col0 + ncols <= stride; ncols++) {
                const size_t ldo = ncols + (ncols % 2); /* dense and padded rows */
                float *out = malloc(rows * ldo * sizeof *out);
                assert_non_null(out);
                assert_int_equal(bnn_table_read(&t, row0, rows, col0, ncols, out, ldo, &e), 0);
                for (size_t r = 0; r < rows; r++)
                    for (size_t j = 0; j < ncols; j++) {
                        const uint64_t key = (row0 + r) * stride + col0 + j;
                        float want = tr_u01(seed, key);
                        if (sets[si].name[6] == 'l' && col0 + j == 1) /* y = 2x + noise */
                            want = 2.0f * tr_u01(seed, key - 1) + (want - 0.5f) * 0.002f;
                        if (out[r * ldo + j] != want)
                            fail_msg("%s %lld->%lld: row %zu column %zu: %.9g, want %.9g",
                                     sets[si].name, (long long)sets[si].nin,
                                     (long long)sets[si].nout, row0 + r, col0 + j,
                                     (double)out[r * ldo + j], (double)want);
                    }
                free(out);
            }
        bnn_table_close(&t);
    }
}

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
    static float xb[2 * K], yb[K], lo[2 * K]; /* xbuf holds whole rows (bnn_data_chunk) */
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
        cmocka_unit_test(test_generator_transcribed),
        cmocka_unit_test(test_linear_pairs),
        cmocka_unit_test(test_sets_transcribed),
    };
    bnn_test_require_isa();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
