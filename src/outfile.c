/*
 * outfile.c - every file batchnn writes goes through here: it is written under a temporary
 * name in the same directory, flushed and fsync'd, then renamed over the destination, so an
 * existing file is never left half-written and a failed run leaves it untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchnn.h"

int bnn_outfile_open(bnn_outfile *o, const char *path, bnn_error *e)
{
    memset(o, 0, sizeof *o);
    size_t len = strlen(path);
    if (len == 0)
        return bnn_fail(e, "output file name is empty");
    o->path = strdup(path);
    o->tmp = malloc(len + 32);
    if (!o->path || !o->tmp) {
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: out of memory", path);
    }
    snprintf(o->tmp, len + 32, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int err = errno;
        free(o->tmp);
        o->tmp = NULL;
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: cannot create: %s", path, strerror(err));
    }
    /* mkstemp creates 0600; give the file the mode a plain fopen would have */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int err = errno;
        close(fd);
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(err));
    }
    o->fp = f;
    return 0;
}

int bnn_outfile_commit(bnn_outfile *o, bnn_error *e)
{
    FILE *f = o->fp;
    int err = 0;
    if (!f) {
        bnn_outfile_abort(o);
        return bnn_fail(e, "output file is not open");
    }
    if (ferror(f) || fflush(f) != 0)
        err = errno ? errno : EIO;
    if (!err && fsync(fileno(f)) != 0 && errno != EINVAL)
        err = errno;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    o->fp = NULL;
    if (!err && rename(o->tmp, o->path) != 0)
        err = errno;
    if (err) {
        int r = bnn_fail(e, "%s: cannot write: %s", o->path, strerror(err));
        bnn_outfile_abort(o);
        return r;
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return 0;
}

void bnn_outfile_abort(bnn_outfile *o)
{
    if (o->fp)
        fclose(o->fp);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
