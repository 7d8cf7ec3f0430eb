/*
 * test_team.c - the fast engine's choice of team for small jobs (bnn_team_pick,
 * bnn_team_timed in src/engine/fast.c) on simulated clocks: each call takes a duration set by
 * the test, alone or with the team, and the simulated time advances by it. Checks that a quiet
 * machine keeps the team (probes alone a small share of the calls), an overloaded one moves to
 * one thread and pays little for probing, one noisy probe flips nothing, and a change of load
 * is followed within seconds. Deterministic: no real clock.
 */
#include "testutil.h"

typedef struct sim {
    bnn_team_clock c;
    double now;
    size_t calls, team_calls;
    double team_secs, total_secs;
} sim;

/* One call of `count` samples that takes `alone` seconds on one thread, `team` with the
 * team; returns the choice. */
static int sim_call(sim *s, double alone, double team, size_t count)
{
    const int t = bnn_team_pick(&s->c, s->now);
    const double d = t ? team : alone, t0 = s->now;
    s->now += d;
    bnn_team_timed(&s->c, t0, s->now, count);
    s->calls++;
    s->team_calls += (size_t)t;
    s->team_secs += t ? d : 0.0;
    s->total_secs += d;
    return t;
}

static void sim_reset_counts(sim *s)
{
    s->calls = s->team_calls = 0;
    s->team_secs = s->total_secs = 0.0;
}

/* 2 idle cores: the team takes 0.55 of one thread's time. */
static void test_team_quiet(void **state)
{
    (void)state;
    sim s = {.now = 1000.0};
    assert_int_equal(sim_call(&s, 1e-3, 0.55e-3, 64), 1); /* the team from the first call */
    while (s.now < 1010.0)
        sim_call(&s, 1e-3, 0.55e-3, 64);
    /* the last 5 s: probes every 1 s once confirmed, one call alone each */
    sim_reset_counts(&s);
    while (s.now < 1015.0)
        sim_call(&s, 1e-3, 0.55e-3, 64);
    const size_t alone = s.calls - s.team_calls;
    print_message("quiet: %zu of %zu calls alone in 5 s\n", alone, s.calls);
    assert_true(alone >= 3); /* it keeps probing */
    assert_true(alone <= 7); /* 5 s / 1 s + 2 */
}

/* A machine loaded beyond its cores: a team call is 6x one thread's, and long (20 ms alone,
 * 120 ms with the team): the probes must not cost more than a few percent. */
static void test_team_overloaded(void **state)
{
    (void)state;
    sim s = {.now = 50.0};
    while (s.now < 55.0)
        sim_call(&s, 20e-3, 120e-3, 256);
    assert_int_equal(s.c.team, 0); /* the choice, between probes */
    sim_reset_counts(&s);
    while (s.now < 95.0)
        sim_call(&s, 20e-3, 120e-3, 256);
    print_message("overloaded: %.3f of the time in team calls (probes)\n",
                  s.team_secs / s.total_secs);
    assert_true(s.team_calls >= 1);                  /* still probing */
    assert_true(s.team_secs <= 0.05 * s.total_secs); /* ~1/50 of the time, plus a little */
}

/* One probe whose team call is slow (a neighbour's burst) leaves the team in place. */
static void test_team_one_noisy_probe(void **state)
{
    (void)state;
    sim s = {.now = 5.0};
    while (s.now < 7.0)
        sim_call(&s, 1e-3, 0.55e-3, 64);
    /* run until a probe starts (its first call is the one alone) */
    while (sim_call(&s, 1e-3, 0.55e-3, 64) == 1)
        ;
    assert_int_equal(sim_call(&s, 1e-3, 50e-3, 64), 1); /* the probe's team call, stalled */
    assert_int_equal(sim_call(&s, 1e-3, 0.55e-3, 64), 1); /* one disagreeing probe: team */
    /* the next probe comes soon and agrees with the team: it stays */
    sim_reset_counts(&s);
    while (s.now < 9.0)
        sim_call(&s, 1e-3, 0.55e-3, 64);
    assert_true(s.team_calls * 10 >= s.calls * 9);
    assert_int_equal(s.c.team, 1);
}

/* Overloaded, then quiet again: the team comes back within 1.5 s; and the reverse. */
static void test_team_load_changes(void **state)
{
    (void)state;
    sim s = {.now = 1.0};
    while (s.now < 4.0)
        sim_call(&s, 2e-3, 12e-3, 256);
    assert_int_equal(s.c.team, 0); /* the choice, between probes */
    const double quiet_from = s.now;
    while (s.now < quiet_from + 1.5 && s.c.team == 0)
        sim_call(&s, 2e-3, 1.1e-3, 256);
    print_message("team again after %.3f s\n", s.now - quiet_from);
    assert_true(s.now < quiet_from + 1.5);
    while (s.now < quiet_from + 5.0)
        sim_call(&s, 2e-3, 1.1e-3, 256);
    const double loaded_from = s.now;
    while (s.now < loaded_from + 2.5 && s.c.team == 1)
        sim_call(&s, 2e-3, 12e-3, 256);
    print_message("alone again after %.3f s\n", s.now - loaded_from);
    assert_true(s.now < loaded_from + 2.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_team_quiet),
        cmocka_unit_test(test_team_overloaded),
        cmocka_unit_test(test_team_one_noisy_probe),
        cmocka_unit_test(test_team_load_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
