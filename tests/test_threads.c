/*
 * test_threads.c - the one route of a thread count (issue 21): a threads option left at 0
 * (bnn_fast_opts, bnn_engine_opts, bnn_train_opts) means OpenMP's default team, so the command
 * sets --threads once, with omp_set_num_threads, and every engine it creates follows. The
 * default is set above the CPU count here, so the test tells the default team from "all
 * cores" on any machine.
 */
#include <omp.h>

#include "testutil.h"

static void test_default_team(void **state)
{
    (void)state;
    bnn_error e;
    bnn_arch a;
    assert_int_equal(bnn_arch_parse(&a, "3,4,2", "sigmoid", 1, &e), 0);
    const int procs = omp_get_num_procs();
    for (int team = 1; team <= procs + 1; team += procs) { /* 1, then more than the cores */
        omp_set_num_threads(team);
        bnn_fast_engine *f;
        bnn_fast_opts o = {.threads = 0};
        assert_int_equal(bnn_fast_create(&f, &a, &o, &e), 0);
        assert_int_equal(bnn_fast_threads(f), team);
        bnn_fast_free(f);
        o.threads = 3; /* a count given explicitly still wins */
        assert_int_equal(bnn_fast_create(&f, &a, &o, &e), 0);
        assert_int_equal(bnn_fast_threads(f), 3);
        bnn_fast_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_team),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
