/*
 * test_mapped.c - the registry of memory-mapped inputs (src/mapped.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
