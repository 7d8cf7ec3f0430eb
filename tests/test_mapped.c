/*
 * test_mapped.c - the registry of memory-mapped inputs (src/io/mapped.c) and its use: a data
 * file truncated while mapped raises SIGBUS, and a handler can name the file; rows a windowed
 * .npy lends in place (bnn_table.borrow) stay valid while pinned.
 *
 * The SIGBUS is provoked in a forked child (on a file in a fresh temporary directory), whose
 * handler looks the faulting address up with bnn_mapped_file_at and writes the name to a
 * pipe; the parent checks it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static int group_setup(void **state)
{
    (void)state;
    return bnn_test_tmpdir(tmpdir, sizeof tmpdir, "mapped");
}

static int group_teardown(void **state)
{
    (void)state;
    return bnn_test_rmtree(tmpdir);
}

static void test_registry(void **state)
{
    (void)state;
    static char a[4096], b[100], c[1];
    assert_null(bnn_mapped_file_at(a));
    bnn_mapped_register(a, sizeof a, "a.npy");
    bnn_mapped_register(b, sizeof b, "b.csv");
    bnn_mapped_register(c, sizeof c, "c");
    assert_string_equal(bnn_mapped_file_at(a), "a.npy");
    assert_string_equal(bnn_mapped_file_at(a + 4095), "a.npy");
    assert_string_equal(bnn_mapped_file_at(b + 50), "b.csv");
    assert_string_equal(bnn_mapped_file_at(c), "c");
    if ((void *)(a + sizeof a) != (void *)b && (void *)(a + sizeof a) != (void *)c)
        assert_null(bnn_mapped_file_at(a + sizeof a)); /* the end is exclusive */
    assert_null(bnn_mapped_file_at(NULL));

    bnn_mapped_unregister(b);
    assert_null(bnn_mapped_file_at(b + 50));
    assert_string_equal(bnn_mapped_file_at(a + 10), "a.npy");
    bnn_mapped_unregister(b); /* twice, or unknown: nothing happens */
    bnn_mapped_unregister(a + 1);
    assert_string_equal(bnn_mapped_file_at(a + 10), "a.npy");
    bnn_mapped_register(NULL, 10, "null");
    bnn_mapped_register(b, 0, "empty");
    assert_null(bnn_mapped_file_at(b));

    /* a long name is cut, not overflowed */
    char longname[2000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bnn_mapped_register(b, sizeof b, longname);
    const char *got = bnn_mapped_file_at(b);
    assert_non_null(got);
    assert_true(strlen(got) > 100 && strlen(got) < sizeof longname - 1);
    assert_int_equal(strncmp(got, longname, strlen(got)), 0);
    bnn_mapped_unregister(b);
    bnn_mapped_unregister(a);
    bnn_mapped_unregister(c);

    /* a full table: the extra mapping is not named; freed slots are reused */
    static char many[80];
    char name[16];
    for (int i = 0; i < 80; i++) {
        snprintf(name, sizeof name, "m%d", i);
        bnn_mapped_register(many + i, 1, name);
    }
    assert_string_equal(bnn_mapped_file_at(many + 63), "m63");
    assert_null(bnn_mapped_file_at(many + 64));
    bnn_mapped_unregister(many + 5);
    bnn_mapped_register(many + 70, 1, "m70");
    assert_string_equal(bnn_mapped_file_at(many + 70), "m70");
    assert_null(bnn_mapped_file_at(many + 5));
    for (int i = 0; i < 80; i++)
        bnn_mapped_unregister(many + i);
    for (int i = 0; i < 80; i++)
        assert_null(bnn_mapped_file_at(many + i));
}

/* ------------------------------------------------------------------------------------------ */
/* SIGBUS on a truncated file                                                                  */

static int sig_fd = -1;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    const char *name = bnn_mapped_file_at(si->si_addr);
    if (!name)
        name = "(none)";
    ssize_t w = write(sig_fd, name, strlen(name));
    (void)w;
    _exit(0);
}

/* Writes a float32 C-order .npy of n values (header padded to 128 bytes). */
/* n float32 values 0, 1, ..., as a vector (cols 1) or n / cols rows of cols. */
static const char *put_npy_f32(const char *name, size_t n, size_t cols)
{
    size_t total = 128 + n * 4;
    unsigned char *b = calloc(1, total);
    assert_non_null(b);
    char dict[120];
    int k = cols == 1 ? snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                                                    "'shape': (%zu,), }", n)
                      : snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                                                    "'shape': (%zu, %zu), }", n / cols, cols);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = 118; /* header length: 128 - 10 */
    b[9] = 0;
    memset(b + 10, ' ', 118);
    memcpy(b + 10, dict, (size_t)k);
    b[127] = '\n';
    for (size_t i = 0; i < n; i++) {
        float f = (float)i;
        memcpy(b + 128 + i * 4, &f, 4);
    }
    const char *p = bnn_test_put_file(tmpdir, name, b, total);
    free(b);
    return p;
}

/* Truncated files under a registered mapping: a child process installs on_sigbus, runs touch
 * (which must fault), and the handler's report, read back here, must name path. */
static void assert_sigbus_names(bnn_table *t, const char *path, void (*touch)(bnn_table *))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        sig_fd = fds[1];
        alarm(60);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, NULL) != 0)
            _exit(3);
        touch(t);
        ssize_t w = write(fds[1], "no SIGBUS", 9);
        (void)w;
        _exit(0);
    }
    close(fds[1]);
    char got[600] = {0};
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fds[0], got + n, sizeof got - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    if (strcmp(got, path) != 0) {
        print_error("the SIGBUS handler saw \"%s\", expected \"%s\"\n", got, path);
        fail();
    }
}

/* the page is past the end of the file */
static void touch_mapping(bnn_table *t)
{
    volatile float x = t->f32[8000];
    (void)x;
}

/* faults in the window */
static void touch_window(bnn_table *t)
{
    float x;
    bnn_error ce;
    (void)bnn_table_read(t, 8000, 1, 0, 1, &x, 1, &ce);
}

static void test_sigbus_names_the_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s", put_npy_f32("train.npy", 16384, 1)); /* 64 KB of data */
    bnn_table t;
    bnn_error e = {{0}};
    if (bnn_table_open(&t, path, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_non_null(t.f32); /* used in place: the mapping itself */
    assert_true(t.f32[16383] == 16383.0f);
    assert_string_equal(bnn_mapped_file_at(t.f32), path);
    assert_string_equal(bnn_mapped_file_at(t.f32 + 16383), path);

    /* someone truncates the file while it is in use */
    assert_int_equal(truncate(path, 0), 0);
    assert_sigbus_names(&t, path, touch_mapping);

    /* closed: unregistered */
    const float *old = t.f32;
    bnn_table_close(&t);
    assert_null(bnn_mapped_file_at(old));
}

/* The same with a file read in windows (src/io/npy.c, windowed mode): the window mapped by a
 * first read of one column is registered; a read after the file was truncated faults in it
 * and the handler names the file. Whole rows are read with pread instead: after the
 * truncation they fail with a message, no signal. */
static void test_sigbus_windowed(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s", put_npy_f32("windowed.npy", 16384, 2));
    bnn_npy_force_windows(1);
    bnn_table t;
    bnn_error e = {{0}};
    int rc = bnn_table_open(&t, path, &e);
    bnn_npy_force_windows(0);
    if (rc != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_null(t.f32); /* windowed: the read form */
    float v = -1, row[2];
    assert_int_equal(bnn_table_read(&t, 8191, 1, 0, 1, &v, 1, &e), 0);
    assert_true(v == 16382.0f);
    assert_int_equal(bnn_table_read(&t, 8000, 1, 0, 2, row, 2, &e), 0);
    assert_true(row[0] == 16000.0f && row[1] == 16001.0f);

    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(bnn_table_read(&t, 8000, 1, 0, 2, row, 2, &e), -1);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_sigbus_names(&t, path, touch_window);
    bnn_table_close(&t);
}

/* Whole rows read ahead (src/io/npy_ahead.c): the windows the thread mapped are registered;
 * after the file was truncated, a read from a window mapped before faults in it and the
 * handler names the file (a window mapped after the truncation is a message instead:
 * test_npy). */
static void touch_ahead(bnn_table *t)
{
    float row[2];
    bnn_error ce;
    (void)bnn_table_read(t, 16383, 1, 0, 2, row, 2, &ce);
}

/* Opens path (a float32 .npy) in forced windows read ahead 4 KiB at a time: 32768 rows of 2
 * floats are 32 windows of 512 rows, the last 8 held in the slots. */
static void open_ahead(bnn_table *t, const char *path)
{
    bnn_error e = {{0}};
    bnn_npy_force_windows(1);
    bnn_npy_ahead_window(4096);
    int rc = bnn_table_open(t, path, &e);
    bnn_npy_force_windows(0);
    bnn_npy_ahead_window(0);
    if (rc != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
}

static void test_sigbus_ahead(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s", put_npy_f32("ahead.npy", 32768, 2));
    bnn_table t;
    bnn_error e = {{0}};
    open_ahead(&t, path);
    float rows[128];
    for (size_t r0 = 0; r0 < 16384; r0 += 64) /* in order: each window read ahead */
        assert_int_equal(bnn_table_read(&t, r0, 64, 0, 2, rows, 2, &e), 0);
    assert_true(rows[126] == 32766.0f && rows[127] == 32767.0f);
    assert_int_equal(truncate(path, 0), 0);
    assert_sigbus_names(&t, path, touch_ahead);
    bnn_table_close(&t);
}

/* Rows lent in place (bnn_table.borrow, src/io/npy_ahead.c): a lent window stays mapped,
 * its values intact, while the reads in order recycle every other slot; rows across two
 * windows are not lent; with every slot pinned, nothing more is lent but reads still work;
 * unpinned, lending resumes. After the file was truncated, touching lent rows raises SIGBUS
 * naming the file, as a whole mapping does. */
static const float *lent;

static void touch_lent(bnn_table *t)
{
    (void)t;
    volatile float x = lent[0];
    (void)x;
}

static void test_borrow(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s", put_npy_f32("lend.npy", 32768, 2));
    bnn_table t;
    bnn_error e = {{0}};
    open_ahead(&t, path);
    assert_non_null(t.borrow);
    assert_non_null(t.unpin);
    void *pin = NULL, *pins[8];
    float rows[128];
    assert_int_equal(bnn_table_read(&t, 0, 64, 0, 2, rows, 2, &e), 0); /* a first read */
    const float *p = t.borrow(&t, 64, 64, &pin); /* follows it: sequential */
    assert_non_null(p);
    assert_non_null(pin);
    for (size_t r0 = 0; r0 < 16384; r0 += 64) { /* every other window read ahead in turn */
        assert_int_equal(bnn_table_read(&t, r0, 64, 0, 2, rows, 2, &e), 0);
        assert_true(rows[0] == (float)(2 * r0) && rows[127] == (float)(2 * r0 + 127));
    }
    for (int k = 0; k < 128; k++)
        assert_true(p[k] == (float)(128 + k));
    t.unpin(&t, pin);
    void *none = &none;
    assert_null(t.borrow(&t, 500, 20, &none)); /* across windows 0 and 1 */
    assert_null(none);
    assert_int_equal(bnn_table_read(&t, 448, 64, 0, 2, rows, 2, &e), 0); /* to window 1 */
    for (int w = 1; w <= 8; w++) { /* windows 1..8 lent whole, in order: every slot pinned */
        const float *q = t.borrow(&t, (size_t)w * 512, 512, &pins[w - 1]);
        assert_non_null(q);
        assert_true(q[0] == (float)(w * 1024) && q[1023] == (float)(w * 1024 + 1023));
    }
    assert_null(t.borrow(&t, 9 * 512, 512, &none));
    assert_int_equal(bnn_table_read(&t, 9 * 512, 64, 0, 2, rows, 2, &e), 0);
    assert_true(rows[0] == 9216.0f && rows[127] == 9343.0f);
    for (int w = 0; w < 8; w++)
        t.unpin(&t, pins[w]);
    lent = t.borrow(&t, 9 * 512 + 64, 64, &pin);
    assert_non_null(lent);
    assert_true(lent[0] == 9344.0f);
    assert_int_equal(truncate(path, 0), 0);
    assert_sigbus_names(&t, path, touch_lent);
    t.unpin(&t, pin);
    bnn_table_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sigbus_names_the_file),
        cmocka_unit_test(test_sigbus_windowed),
        cmocka_unit_test(test_sigbus_ahead),
        cmocka_unit_test(test_borrow),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
