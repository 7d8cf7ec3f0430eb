/*
 * test_core.c - architectures (parsing, refusal of bad or absurd ones, parameter layout),
 * the random generators, model initialisation, the data layer, and the memory budget (fake
 * cgroup v1 and v2 trees in a temp dir, rlimits set in forked children).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------------------------ */
/* Memory budget                                                                               */

#define MiB ((size_t)1 << 20)

/* Writes text to root/rel, creating the directories on the way. */
static void put(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            print_error("mkdir %s: %s\n", path, strerror(errno));
            fail();
        }
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* A fresh fake root: root/proc and root/sys. */
static void fresh_root(char *root, size_t len)
{
    assert_int_equal(bnn_test_tmpdir(root, len, "memory"), 0);
}

static void limit_at(bnn_memory_limit *l, const char *root)
{
    char proc[1024], sys[1024];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    bnn_memory_limit_at(l, proc, sys);
}

/* 1 when neither rlimit binds below `bytes` (the fake limits are then what we must see). */
static int rlimits_above(size_t bytes)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur <= bytes)
        return 0;
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur <= bytes)
        return 0;
    return bnn_physical_memory() > bytes;
}

static void expect_limit(const char *root, size_t bytes, const char *what, const char *desc)
{
    bnn_memory_limit l;
    limit_at(&l, root);
    if (l.bytes != bytes || strcmp(l.what, what) != 0 || (desc && strcmp(l.desc, desc) != 0)) {
        print_error("limit %zu (%s, '%s'), want %zu (%s, '%s')\n", l.bytes, l.what, l.desc,
                    bytes, what, desc ? desc : "");
        fail();
    }
}

static void test_memory_format(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(bnn_format_bytes(100, b, sizeof b), "100 bytes");
    assert_string_equal(bnn_format_bytes(1536, b, sizeof b), "1.5 KiB");
    assert_string_equal(bnn_format_bytes(512 * MiB, b, sizeof b), "512.0 MiB");
    assert_string_equal(bnn_format_bytes(2048 * MiB, b, sizeof b), "2.0 GiB");
    assert_int_equal(bnn_alloc_bytes(1, 1), 64);
    assert_int_equal(bnn_alloc_bytes(0, 4), 64);
    assert_int_equal(bnn_alloc_bytes(17, 4), 128);
    assert_int_equal(bnn_alloc_bytes(9 * MiB + 1, 1), 10 * MiB); /* 2 MiB granules */
    assert_true(bnn_alloc_bytes(SIZE_MAX / 2, 4) == SIZE_MAX);
}

static void test_memory_cgroup_v2(void **state)
{
    (void)state;
    if (!rlimits_above(512 * MiB))
        skip();
    char root[512];
    fresh_root(root, sizeof root);
    /* nothing but physical memory: an empty tree */
    put(root, "proc/self/cgroup", "0::/user.slice/a/b\n");
    expect_limit(root, bnn_physical_memory(), "physical memory", NULL);
    /* our cgroup says max, its parent 300 MiB: the parent binds */
    put(root, "sys/fs/cgroup/user.slice/a/b/memory.max", "max\n");
    put(root, "sys/fs/cgroup/user.slice/a/memory.max", "314572800\n");
    put(root, "sys/fs/cgroup/user.slice/memory.max", "max\n");
    expect_limit(root, 300 * MiB, "cgroup memory.max", "cgroup memory.max 300.0 MiB");
    /* a tighter child wins */
    put(root, "sys/fs/cgroup/user.slice/a/b/memory.max", "209715200\n");
    expect_limit(root, 200 * MiB, "cgroup memory.max", NULL);
    /* a tighter grandparent wins */
    put(root, "sys/fs/cgroup/user.slice/memory.max", "104857600\n");
    expect_limit(root, 100 * MiB, "cgroup memory.max", NULL);
    /* garbage, empty and zero files are no limits */
    put(root, "sys/fs/cgroup/user.slice/memory.max", "banana\n");
    put(root, "sys/fs/cgroup/user.slice/a/memory.max", "");
    put(root, "sys/fs/cgroup/user.slice/a/b/memory.max", "0\n");
    expect_limit(root, bnn_physical_memory(), "physical memory", NULL);
    /* a container: "0::/" and the limit at the top of the mount */
    put(root, "proc/self/cgroup", "0::/\n");
    put(root, "sys/fs/cgroup/memory.max", "157286400\n");
    expect_limit(root, 150 * MiB, "cgroup memory.max", NULL);
    /* a container without a cgroup namespace: the host path is not in the mount, the top
     * still counts */
    put(root, "proc/self/cgroup", "0::/system.slice/docker-1234.scope\n");
    expect_limit(root, 150 * MiB, "cgroup memory.max", NULL);
    /* hybrid layout: v2 under unified */
    put(root, "sys/fs/cgroup/memory.max", "max\n");
    put(root, "sys/fs/cgroup/unified/system.slice/memory.max", "131072000\n");
    expect_limit(root, 125 * MiB, "cgroup memory.max", NULL);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

static void test_memory_cgroup_v1(void **state)
{
    (void)state;
    if (!rlimits_above(512 * MiB))
        skip();
    char root[512];
    fresh_root(root, sizeof root);
    put(root, "proc/self/cgroup", "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n"
                                  "1:name=systemd:/docker/abc\n0::/\n");
    /* v1's "no limit" is 2^63 rounded down to a page; >= 2^60 means none */
    put(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "1152921504606846976\n");
    expect_limit(root, bnn_physical_memory(), "physical memory", NULL);
    put(root, "sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "268435456\n");
    expect_limit(root, 256 * MiB, "cgroup memory.limit_in_bytes",
                 "cgroup memory.limit_in_bytes 256.0 MiB");
    put(root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "201326592\n");
    expect_limit(root, 192 * MiB, "cgroup memory.limit_in_bytes", NULL);
    /* the cpu controller's directory is not the memory controller's */
    put(root, "sys/fs/cgroup/cpu,cpuacct/docker/abc/memory.limit_in_bytes", "1048576\n");
    expect_limit(root, 192 * MiB, "cgroup memory.limit_in_bytes", NULL);
    /* memory sharing a hierarchy with another controller */
    put(root, "proc/self/cgroup", "3:blkio,memory:/g\n");
    put(root, "sys/fs/cgroup/memory/g/memory.limit_in_bytes", "167772160\n");
    expect_limit(root, 160 * MiB, "cgroup memory.limit_in_bytes", NULL);
    /* both versions: the smaller */
    put(root, "proc/self/cgroup", "3:memory:/g\n0::/g"); /* no final newline */
    put(root, "sys/fs/cgroup/g/memory.max", "150994944\n");
    expect_limit(root, 144 * MiB, "cgroup memory.max", NULL);
    /* no cgroup file at all */
    assert_int_equal(unlink(bnn_test_put_file(root, "proc/self/cgroup", "", 0)), 0);
    expect_limit(root, bnn_physical_memory(), "physical memory", NULL);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

/* In a forked child: sets the soft limit `res` to `bytes` (none when bytes is 0) and reports
 * through a pipe, into out (len bytes), the budget under root (want_free 0: a
 * bnn_memory_limit) or bnn_address_space_free with the roots at root (want_free 1: a
 * size_t); zeros when the limit cannot be set. Limits are per process; nothing is allocated
 * after setrlimit. */
static void in_child(const char *root, int res, size_t bytes, int want_free, void *out,
                     size_t len)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        union {
            bnn_memory_limit l;
            size_t v;
        } u;
        memset(&u, 0, sizeof u);
        struct rlimit r;
        int ok = bytes == 0;
        if (!ok && getrlimit(res, &r) == 0 &&
            (r.rlim_max == RLIM_INFINITY || r.rlim_max >= bytes)) {
            r.rlim_cur = bytes;
            ok = setrlimit(res, &r) == 0;
        }
        if (ok && want_free) {
            char proc[1024], sys[1024];
            snprintf(proc, sizeof proc, "%s/proc", root);
            snprintf(sys, sizeof sys, "%s/sys", root);
            bnn_memory_set_roots(proc, sys);
            u.v = bnn_address_space_free();
        } else if (ok) {
            limit_at(&u.l, root);
        }
        ssize_t w = write(fd[1], &u, len);
        _exit(w == (ssize_t)len ? 0 : 1);
    }
    close(fd[1]);
    assert_int_equal(read(fd[0], out, len), len);
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void limit_in_child(const char *root, int res, size_t bytes, bnn_memory_limit *out)
{
    in_child(root, res, bytes, 0, out, sizeof *out);
}

static void test_memory_rlimits(void **state)
{
    (void)state;
    size_t phys = bnn_physical_memory();
    if (!rlimits_above(phys / 2))
        skip();
    char root[512];
    fresh_root(root, sizeof root);
    put(root, "proc/self/cgroup", "0::/\n");
    bnn_memory_limit l;
    const size_t as = phys / 2 / MiB * MiB, data = phys / 3 / MiB * MiB;
    limit_in_child(root, RLIMIT_AS, as, &l);
    if (l.bytes == 0) /* the hard limit is below: cannot test here */
        skip();
    assert_int_equal(l.bytes, as);
    assert_string_equal(l.what, "RLIMIT_AS");
    assert_non_null(strstr(l.desc, "RLIMIT_AS "));
    /* what the page cache can hold: no cgroup here, all of memory */
    assert_int_equal(l.memory, phys);
    limit_in_child(root, RLIMIT_DATA, data, &l);
    assert_int_equal(l.bytes, data);
    assert_string_equal(l.what, "RLIMIT_DATA");
    assert_int_equal(l.memory, phys);
    /* a tighter cgroup beats the rlimit */
    put(root, "sys/fs/cgroup/memory.max", "104857600\n");
    limit_in_child(root, RLIMIT_AS, as, &l);
    assert_int_equal(l.bytes, 100 * MiB);
    assert_string_equal(l.what, "cgroup memory.max");
    assert_int_equal(l.memory, 100 * MiB);
    /* and the parent, without the rlimit, sees only the cgroup */
    limit_at(&l, root);
    assert_int_equal(l.bytes, 100 * MiB);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

/* bnn_address_space_free in a child, under RLIMIT_AS = as (0: none) and the roots at root */
static void free_in_child(const char *root, size_t as, size_t *out)
{
    in_child(root, RLIMIT_AS, as, 1, out, sizeof *out);
}

/* The address space left under ulimit -v: the limit less VmSize (statm's first field, in
 * pages), read under the fake roots; none left, an unreadable statm, and no limit. */
static void test_memory_address_free(void **state)
{
    (void)state;
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur != RLIM_INFINITY)
        skip(); /* the no-limit case needs none to begin with */
    char root[512];
    fresh_root(root, sizeof root);
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t v;
    free_in_child(root, 0, &v);
    assert_true(v == SIZE_MAX);
    free_in_child(root, 1024 * MiB, &v); /* no statm under the root: unknown, so none */
    assert_int_equal(v, 0);
    put(root, "proc/self/statm", "25600 300 200 10 0 900 0\n");
    free_in_child(root, 1024 * MiB, &v);
    if (v == 0) /* the hard limit is below: cannot test here */
        skip();
    assert_int_equal(v, 1024 * MiB - 25600 * page);
    put(root, "proc/self/statm", "999999999 300 200 10 0 900 0\n");
    free_in_child(root, 1024 * MiB, &v);
    assert_int_equal(v, 0);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

/* The whole process under a fake 128 MiB cgroup (BATCHNN_*_ROOT): the budget, the model's
 * refusal, synthetic sets streamed instead of stored, the teacher's refusal. */
static void test_memory_budget_users(void **state)
{
    (void)state;
    if (!rlimits_above(512 * MiB))
        skip();
    char root[512], proc[1024], sys[1024];
    fresh_root(root, sizeof root);
    put(root, "proc/self/cgroup", "0::/job\n");
    put(root, "sys/fs/cgroup/job/memory.max", "134217728\n");
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    bnn_memory_set_roots(proc, sys);

    assert_int_equal(bnn_memory_budget(), 128 * MiB);
    char desc[96];
    assert_int_equal(bnn_memory_limit_describe(desc, sizeof desc), 0);
    assert_string_equal(desc, "cgroup memory.max 128.0 MiB");

    /* 9 M parameters x 4 copies x 4 bytes > 128 MiB: refused, naming the bound */
    bnn_arch a;
    bnn_error e;
    bnn_model m;
    assert_int_equal(bnn_arch_parse(&a, "3000,3000,1", NULL, 1, &e), 0);
    assert_int_equal(bnn_model_init(&m, &a, &e), -1);
    assert_non_null(strstr(e.msg, "do not fit"));
    assert_non_null(strstr(e.msg, "128.0 MiB (cgroup memory.max)"));
    assert_int_equal(bnn_arch_parse(&a, "1000,1000,1", NULL, 1, &e), 0);
    assert_int_equal(bnn_model_init(&m, &a, &e), 0);
    bnn_model_free(&m);

    /* 2^26 samples of 2 -> 1 (768 MiB): streamed, whatever budget the caller passes (the
     * CLI passes a quarter of bnn_memory_budget()) */
    bnn_table t;
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", (size_t)1 << 26, 2, 1, 1,
                                    bnn_memory_budget() / 4, &e), 0);
    assert_null(t.f32);
    bnn_table_close(&t);
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", (size_t)1 << 26, 2, 1, 1, SIZE_MAX,
                                    &e), 0);
    assert_null(t.f32);
    bnn_table_close(&t);
    /* 2^20 samples (12 MiB) fit a quarter: stored */
    assert_int_equal(bnn_synth_open(&t, "synth:uniform", (size_t)1 << 20, 2, 1, 1,
                                    bnn_memory_budget() / 4, &e), 0);
    assert_non_null(t.f32);
    bnn_table_close(&t);
    /* a 10^4 x 10^4 teacher (381 MiB) is refused before it is allocated */
    assert_int_equal(bnn_synth_open(&t, "synth:teacher", 16, 10000, 10000, 1, 0, &e), -1);
    assert_non_null(strstr(e.msg, "synth:teacher"));
    assert_non_null(strstr(e.msg, "cgroup memory.max"));
    assert_int_equal(bnn_synth_open(&t, "synth:teacher", 16, 1000, 10, 1, 0, &e), 0);
    bnn_table_close(&t);

    bnn_memory_set_roots(NULL, NULL);
    assert_true(bnn_memory_budget() > 128 * MiB);
    assert_int_equal(bnn_test_rmtree(root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_parse),
        cmocka_unit_test(test_absurd_model_refused),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_model_init),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_memory_format),
        cmocka_unit_test(test_memory_cgroup_v2),
        cmocka_unit_test(test_memory_cgroup_v1),
        cmocka_unit_test(test_memory_rlimits),
        cmocka_unit_test(test_memory_address_free),
        cmocka_unit_test(test_memory_budget_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
