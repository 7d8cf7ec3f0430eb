/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnn_kernels.h"

void bnn_test_require_isa(void)
{
    const char *isa = getenv("BATCHNN_ISA");
    if (!isa || !*isa)
        return;
    if (!bnn_kernels_named(isa)) {
        printf("skipping: ISA path '%s' is not available on this CPU or build\n", isa);
        exit(BNN_TEST_SKIP);
    }
    if (bnn_kernels_force(isa) != 0) {
        printf("cannot force ISA path '%s'\n", isa);
        exit(1);
    }
}

double bnn_test_worst_rel(const double *got, const double *want, size_t n, double floor,
                          size_t *where)
{
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double den = fabs(want[i]) > floor ? fabs(want[i]) : floor;
        double r = fabs(got[i] - want[i]) / den;
        if (isnan(r) || isnan(got[i]) != isnan(want[i]))
            r = INFINITY;
        if (r > worst || (i == 0 && r == INFINITY)) {
            worst = r;
            at = i;
        }
    }
    if (where)
        *where = at;
    return worst;
}

void bnn_test_assert_close(const char *what, const double *got, const double *want, size_t n,
                           double tol, double floor)
{
    size_t at = 0;
    double worst = bnn_test_worst_rel(got, want, n, floor, &at);
    if (!(worst <= tol)) {
        print_error("%s: worst relative difference %.3e > %.1e at index %zu of %zu: "
                    "got %.17g, want %.17g\n",
                    what, worst, tol, at, n, n ? got[at] : 0.0, n ? want[at] : 0.0);
        fail();
    }
}

void bnn_test_assert_close_f(const char *what, const float *got, const double *want, size_t n,
                             double tol, double floor)
{
    double *g = malloc((n ? n : 1) * sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++)
        g[i] = got[i];
    bnn_test_assert_close(what, g, want, n, tol, floor);
    free(g);
}

void bnn_test_fill(double *a, size_t n, double lo, double hi, uint64_t seed)
{
    bnn_rng r;
    bnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * bnn_rng_uniform(&r);
}

void bnn_test_table(bnn_table *t, const float *values, size_t rows, size_t cols)
{
    memset(t, 0, sizeof *t);
    t->rows = rows;
    t->cols = cols;
    t->f32 = values;
    t->ld = cols;
    snprintf(t->name, sizeof t->name, "test-table");
}

int bnn_test_tmpdir(char *dir, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, len, "%s/bnn_%s_XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(dir) ? 0 : -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int bnn_test_rmtree(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

const char *bnn_test_put_file(const char *dir, const char *name, const void *bytes, size_t len)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

void bnn_test_collect_child(int pid, int fd, void *out, size_t size, const char *path,
                            const char *role)
{
    memset(out, 0, size);
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, (char *)out + got, size - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    int st = 0;
    assert_int_equal(waitpid((pid_t)pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != size) {
        print_error("%s: the %s child %s %d\n", path, role,
                    WIFEXITED(st) ? "exited with" : "was killed by signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        fail();
    }
}
