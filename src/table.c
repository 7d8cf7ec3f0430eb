/* table.c - access to a table of samples whatever its form (direct floats or on demand). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "batchnn.h"
#include "internal.h"

int bnn_open_input(const char *path, struct stat *st, bnn_error *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(errno));
    int err = fstat(fd, st) != 0 ? errno : S_ISDIR(st->st_mode) ? EISDIR : 0;
    if (err) {
        close(fd);
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(err));
    }
    return fd;
}

void bnn_table_close(bnn_table *t)
{
    if (!t)
        return;
    if (t->close)
        t->close(t);
    memset(t, 0, sizeof *t);
}

int bnn_table_read(const bnn_table *t, size_t row0, size_t nrows, size_t col0, size_t ncols,
                   float *out, size_t ldo, bnn_error *e)
{
    if (row0 > t->rows || nrows > t->rows - row0 || col0 > t->cols || ncols > t->cols - col0)
        return bnn_fail(e, "%s: rows %zu..%zu, columns %zu..%zu are outside the %zu x %zu table",
                        t->name, row0, row0 + nrows, col0, col0 + ncols, t->rows, t->cols);
    if (t->f32) {
        for (size_t r = 0; r < nrows; r++)
            memcpy(out + r * ldo, t->f32 + (row0 + r) * t->ld + col0, ncols * sizeof(float));
        return 0;
    }
    if (!t->read)
        return bnn_fail(e, "%s: table has no data", t->name);
    return t->read(t, row0, nrows, col0, ncols, out, ldo, e);
}
