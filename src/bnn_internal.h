/* bnn_internal.h - the library's toolbox: everything its files, the command and the tests
 * share that is not part of the public API (include/batchnn.h). Not installed. */
#ifndef BNN_INTERNAL_H
#define BNN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
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

/* ---------------------------------------------------------------------------------------- */
/* Models (src/io/safetensors_read.c)                                                           */

/* bnn_model_load, and a note for the user in note[0..note_len) (empty when there is none):
 * today, that the tensors were named as an nn.Sequential's state_dict (0.weight, 2.weight,
 * ...) and how they were mapped to layers. The caller prints it (on stderr). */
int bnn_model_load_note(bnn_model *m, const char *path, const char *acts_fallback, char *note,
                        size_t note_len, bnn_error *e);

/* ---------------------------------------------------------------------------------------- */
/* Activation lists (src/core/arch.c)                                                           */

/* Parses s, comma-separated activation names (blanks around each ignored), into act[0..m-1];
 * with allow_one a single name applies to every layer. Returns 0; -1 when the number of
 * names (*count) does not fit m; -2 for an unknown name (*bad, *bad_len: as written, not
 * NUL-terminated). Used by --act (bnn_arch_parse) and by the model reader. */
int bnn_act_list_parse(const char *s, int m, int allow_one, bnn_act *act, int *count,
                       const char **bad, size_t *bad_len);

/* ---------------------------------------------------------------------------------------- */
/* Helpers shared by the readers and writers (src/io/ioutil.c)                                  */

/* 1 when the host stores integers and floats little-endian (the byte order of .npy '<f4',
 * safetensors and checkpoints), 0 otherwise; a compile-time constant. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BNN_HOST_LE 0
#else
#define BNN_HOST_LE 1
#endif

/* The `bytes` (1..8) bytes at p as a little-endian unsigned integer, and the reverse. */
uint64_t bnn_get_le(const void *p, int bytes);
void bnn_put_le(void *p, uint64_t v, int bytes);

/* text[0..n) for a one-line message: in double quotes, '"' and '\\' escaped with a
 * backslash, bytes outside printable ASCII as \xNN, at most maxin input bytes and what fits
 * in cap (>= 16), followed by "..." when cut. Returns out. */
const char *bnn_quote(char *out, size_t cap, const void *text, size_t n, size_t maxin);

/* Writes exactly what snprintf(out, 32, "%.9g", f) writes for a finite float32 (checked for all
 * 2^32 patterns by tests/fmt_g9_check.c), without printf; returns the length (< 32). */
int bnn_fmt_g9(char *out, float f);

/* bnn_fail with "PATH: " before the formatted message; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bnn_fail_file(bnn_error *e, const char *path, const char *fmt, ...);

/* Does path end in ".npy" (any case)? The table writer and bnn_table_open decide by it. */
int bnn_path_is_npy(const char *path);

#endif
