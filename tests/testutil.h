/*
 * testutil.h - helpers shared by the cmocka tests: comparisons that report the worst element
 * and its index, seeded random fills, and the ISA-path skip.
 */
#ifndef BNN_TESTUTIL_H
#define BNN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "api/bnn_api.h"
#include "engine/engines.h"

/* Exit code meson reads as "skipped". */
#define BNN_TEST_SKIP 77

/* When BATCHNN_ISA names a path this CPU or build lacks, prints why and exits 77. Call first
 * in main() of a per-ISA test; forces the named path otherwise. */
void bnn_test_require_isa(void);

/* Worst relative difference between got and want over n elements, relative to
 * max(|want_i|, floor): returns it and stores the index in *where. */
double bnn_test_worst_rel(const double *got, const double *want, size_t n, double floor,
                          size_t *where);
/* Asserts bnn_test_worst_rel(...) <= tol, printing what, the index and both values. */
void bnn_test_assert_close(const char *what, const double *got, const double *want, size_t n,
                           double tol, double floor);
void bnn_test_assert_close_f(const char *what, const float *got, const double *want, size_t n,
                             double tol, double floor);

/* Fills a with n values uniform in [lo, hi), deterministic in seed. */
void bnn_test_fill(double *a, size_t n, double lo, double hi, uint64_t seed);

/* A fresh directory $TMPDIR/bnn_<tag>_XXXXXX (default /tmp) written into dir: 0, or -1. */
int bnn_test_tmpdir(char *dir, size_t len, const char *tag);
/* Removes dir and everything below it: 0, or -1. */
int bnn_test_rmtree(const char *dir);
/* Writes len bytes to dir/name and returns the path (static storage: valid until the next
 * call). Asserts on failure. */
const char *bnn_test_put_file(const char *dir, const char *name, const void *bytes, size_t len);

/* Builds an in-memory table (direct form, owned by the test) of rows x cols from values. */
void bnn_test_table(bnn_table *t, const float *values, size_t rows, size_t cols);

/* Collects the result a forked child (pid) writes to fd: reads size bytes into out (zeroed
 * first), closes fd, waits for the child, and fails the test, naming path and role ("reading",
 * "loading"), unless the child exited 0 after writing all of them. */
void bnn_test_collect_child(int pid, int fd, void *out, size_t size, const char *path,
                            const char *role);

#endif
