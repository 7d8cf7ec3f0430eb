/* bnn_internal.h - the library's toolbox: everything its files, the command and the tests
 * share that is not part of the public API (include/batchnn.h). Not installed. */
#ifndef BNN_INTERNAL_H
#define BNN_INTERNAL_H

#include <stddef.h>
#include <sys/stat.h>

#include "batchnn.h"

/* ---------------------------------------------------------------------------------------- */
/* Input files (src/io/table.c)                                                                 */

/* Environment variable that sets the stream limit, and its default (2 GiB). */
#define BNN_STREAM_LIMIT_ENV "BATCHNN_STREAM_LIMIT"
#define BNN_STREAM_LIMIT_DEFAULT ((size_t)2 << 30)

/* The name used in messages for standard input (path "-"). */
#define BNN_STDIN_NAME "<stdin>"

/*
 * An input opened once, whatever it is: a regular file, or a stream (pipe, FIFO, character
 * device, socket, standard input as "-"). Readers look at the first bytes (bnn_input_peek)
 * to choose a format, then take the whole contents (bnn_input_contents), which start with
 * those same bytes: nothing is read twice and nothing is lost, so a FIFO works.
 */
typedef struct bnn_input {
    const char *name;       /* for messages: the path, or BNN_STDIN_NAME */
    int fd;                 /* -1 when closed */
    struct stat st;
    int mappable;           /* a regular file, from its start: mapped, not read */
    unsigned char head[16]; /* bytes already read from fd (streams: consumed from it) */
    size_t nhead;
} bnn_input;

/* The whole contents of an input: a read-only mapping (regular files; registered with
 * bnn_mapped_register under the input's name) or a heap copy (streams, and files that
 * cannot be mapped). Not NUL-terminated. */
typedef struct bnn_bytes {
    const unsigned char *p;
    size_t len;
    void *map;  /* mmap base (length len), or NULL */
    void *heap; /* malloc'ed copy, or NULL */
} bnn_bytes;

/* Opens path ("-": standard input) read-only, close-on-exec, and fstats it, refusing a
 * directory: 0, or -1 with "PATH: cannot open: <reason>" in e. */
int bnn_input_open(bnn_input *in, const char *path, bnn_error *e);
/* Reads until in->nhead >= n (n <= sizeof in->head) or the end of the input: 0 or -1. */
int bnn_input_peek(bnn_input *in, size_t n, bnn_error *e);
/* Maps (regular file) or reads (anything else, at most the stream limit) the whole input
 * into *b: 0 or -1. A mapping is advised MADV_SEQUENTIAL. The input stays open. */
int bnn_input_contents(bnn_input *in, bnn_bytes *b, bnn_error *e);
void bnn_input_close(bnn_input *in);
/* Unmaps (and unregisters) or frees b, and zeroes it. */
void bnn_bytes_free(bnn_bytes *b);

/* The stream limit: BATCHNN_STREAM_LIMIT (bytes, or a whole number with a suffix k, M or G
 * for KiB, MiB, GiB; at least 1) or 2 GiB when unset. 0, or -1 with "NAME: ..." in e. */
int bnn_stream_limit(size_t *limit, const char *name, bnn_error *e);

/* The CSV and .npy readers on an open input (bnn_table_open sniffs, then calls one). They
 * take the input's contents but do not close it. */
int bnn_csv_from_input(bnn_table *t, bnn_input *in, bnn_error *e);
int bnn_npy_from_input(bnn_table *t, bnn_input *in, bnn_error *e);

/* Small shared helpers (src/core/model.c, src/core/clock.c). */
/* Copies n float32 parameters into dst as double; dst NULL: into a new malloc'd array (NULL
 * when out of memory). Returns dst. */
double *bnn_theta_to_double(double *dst, const float *theta, size_t n);
/* Monotonic wall time in seconds. */
double bnn_now_seconds(void);

#endif
