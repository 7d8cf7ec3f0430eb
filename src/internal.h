/* internal.h - helpers shared by the library's files, not part of the public API. */
#ifndef BNN_INTERNAL_H
#define BNN_INTERNAL_H

#include <sys/stat.h>

#include "batchnn.h"

/* Opens path read-only (close-on-exec) and fstats it into *st, refusing a directory:
 * returns the descriptor, or -1 with "PATH: cannot open: <reason>" in e. */
int bnn_open_input(const char *path, struct stat *st, bnn_error *e);

#endif
