/*
 * table.c - access to a table of samples whatever its form (direct floats or on demand), and
 * the input files the readers share (bnn_input_*, see internal.h).
 *
 * An input is opened once. A regular file is memory-mapped (never copied); anything else (a
 * pipe, a FIFO, a character device such as a terminal, standard input given as "-") is read
 * into memory (bnn_input_contents), at most the stream limit (bnn_stream_limit_set, which
 * the command calls with its BATCHNN_STREAM_LIMIT; default 2 GiB): an endless source such as
 * a device of zeros fails with a message instead of exhausting memory. A reader that parses as it reads (the CSV
 * reader) takes a stream through bnn_pull_input instead: the same limit and message, counted
 * as the bytes are handed out, nothing kept; bnn_pull_memory hands out bytes in memory.
 * A read or an open interrupted by a signal is retried, unless the command asked to stop
 * (bnn_stop_requested): then it fails at once, so a stop signal never waits for a writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/bnn_io.h"

/* ---------------------------------------------------------------------------------------- */
/* Inputs                                                                                    */

volatile sig_atomic_t bnn_stop_requested;

/* The message of a failed open or read: "interrupted" when the command is stopping. */
static int input_fail(bnn_error *e, const char *name, const char *doing, int err)
{
    if (err == EINTR && bnn_stop_requested)
        return bnn_fail(e, "%s: interrupted while %s it", name, doing);
    return bnn_fail(e, "%s: cannot %s: %s", name, doing[0] == 'o' ? "open" : "read",
                    strerror(err));
}

int bnn_input_open(bnn_input *in, const char *path, bnn_error *e)
{
    memset(in, 0, sizeof *in);
    in->fd = -1;
    int is_stdin = strcmp(path, "-") == 0;
    in->name = is_stdin ? BNN_STDIN_NAME : path;
    int fd = -1; /* opening a FIFO waits for its writer */
    errno = EINTR;
    while (fd < 0 && errno == EINTR && !bnn_stop_requested)
        fd = is_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                      : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return input_fail(e, in->name, "opening", errno);
    int err = fstat(fd, &in->st) != 0 ? errno : S_ISDIR(in->st.st_mode) ? EISDIR : 0;
    if (err) {
        close(fd);
        return bnn_fail(e, "%s: cannot open: %s", in->name, strerror(err));
    }
    /* standard input redirected from a file may have been read from already: map it only
     * from its start, read it as a stream otherwise */
    in->mappable = S_ISREG(in->st.st_mode) && (!is_stdin || lseek(fd, 0, SEEK_CUR) == 0);
    in->fd = fd;
    return 0;
}

void bnn_input_close(bnn_input *in)
{
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
    free(in->mem);
    in->mem = NULL;
}

void bnn_input_from_memory(bnn_input *in, const char *name, void *mem, size_t len)
{
    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->name = name;
    in->mem = mem;
    in->memlen = len;
    in->nhead = len < sizeof in->head ? len : sizeof in->head;
    memcpy(in->head, mem, in->nhead);
}

/* read() that retries on EINTR, unless the command is stopping. */
static ssize_t read_some(int fd, void *buf, size_t n)
{
    for (;;) {
        if (bnn_stop_requested) { /* a signal that came before the read would not end it */
            errno = EINTR;
            return -1;
        }
        ssize_t r = read(fd, buf, n);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

int bnn_input_peek(bnn_input *in, size_t n, bnn_error *e)
{
    if (n > sizeof in->head)
        n = sizeof in->head;
    while (in->fd >= 0 && in->nhead < n) {
        ssize_t r = read_some(in->fd, in->head + in->nhead, n - in->nhead);
        if (r < 0)
            return input_fail(e, in->name, "reading", errno);
        if (r == 0)
            break;
        in->nhead += (size_t)r;
    }
    return 0;
}

/* "1G", "512M", "4k" or a byte count, for messages. */
static void format_size(char *out, size_t n, size_t v)
{
    if (v && v % ((size_t)1 << 30) == 0)
        snprintf(out, n, "%zuG", v >> 30);
    else if (v && v % ((size_t)1 << 20) == 0)
        snprintf(out, n, "%zuM", v >> 20);
    else if (v && v % ((size_t)1 << 10) == 0)
        snprintf(out, n, "%zuk", v >> 10);
    else
        snprintf(out, n, "%zu", v);
}

/* The text given to bnn_stream_limit_set ("": none, the default). */
static char stream_limit_text[4096];

void bnn_stream_limit_set(const char *text)
{
    snprintf(stream_limit_text, sizeof stream_limit_text, "%s", text ? text : "");
}

int bnn_stream_limit(size_t *limit, const char *name, bnn_error *e)
{
    const char *s = stream_limit_text;
    *limit = BNN_STREAM_LIMIT_DEFAULT;
    if (!s || !*s)
        return 0;
    const size_t max = SIZE_MAX / 4;
    size_t v = 0;
    int ok = *s >= '0' && *s <= '9', big = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            big = 1;
        else
            v = v * 10 + d;
        p++;
    }
    unsigned shift = 0;
    if (*p == 'k' || *p == 'K')
        shift = 10;
    else if (*p == 'm' || *p == 'M')
        shift = 20;
    else if (*p == 'g' || *p == 'G')
        shift = 30;
    if (shift)
        p++;
    ok = ok && *p == '\0' && v > 0;
    if (ok && !big && v > max >> shift)
        big = 1;
    if (!ok || big) {
        char shown[48];
        size_t k = 0;
        for (const char *q = s; *q && k + 4 < sizeof shown; q++)
            shown[k++] = (unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f ? '?' : *q;
        shown[k] = '\0';
        return bnn_fail(e, "%s: %s=\"%s%s\" is %s (a whole number of bytes, optionally with a "
                           "suffix k, M or G, e.g. 512M)", name, BNN_STREAM_LIMIT_ENV, shown,
                        strlen(s) > k ? "..." : "", ok ? "too large" : "not a valid size");
    }
    *limit = v << shift;
    return 0;
}

static const char *stream_kind(const struct stat *st)
{
    if (S_ISFIFO(st->st_mode))
        return "a pipe or FIFO";
    if (S_ISCHR(st->st_mode))
        return "a character device";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    if (S_ISREG(st->st_mode))
        return "a file that is not memory-mapped";
    return "not a regular file";
}

static int over_limit(const bnn_input *in, size_t limit, bnn_error *e);

/* Reads the rest of the input after the peeked bytes, at most the stream limit, into *b. The
 * buffer grows geometrically but never past limit + 1 bytes. */
static int read_stream(bnn_input *in, bnn_bytes *b, bnn_error *e)
{
    size_t limit;
    if (bnn_stream_limit(&limit, in->name, e) != 0)
        return -1;
    size_t cap = (size_t)1 << 16, n = in->nhead;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return bnn_fail(e, "%s: out of memory", in->name);
    memcpy(buf, in->head, in->nhead);
    for (;;) {
        if (n > limit) {
            free(buf);
            return over_limit(in, limit, e);
        }
        if (n == cap) {
            size_t nc = cap * 2;
            if (nc > limit + 1)
                nc = limit + 1; /* > cap: n <= limit here */
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                return bnn_fail(e, "%s: out of memory reading more than %zu bytes", in->name,
                                cap);
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read_some(in->fd, buf + n, cap - n);
        if (r < 0) {
            int err = errno;
            free(buf);
            return input_fail(e, in->name, "reading", err);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (cap - n > (size_t)1 << 16) { /* give back the unused tail */
        unsigned char *nb = realloc(buf, n ? n : 1);
        if (nb)
            buf = nb;
    }
    b->p = buf;
    b->heap = buf;
    b->len = n;
    return 0;
}

/* The stream's message past the limit (read_stream's). */
static int over_limit(const bnn_input *in, size_t limit, bnn_error *e)
{
    char lim[32], twice[32];
    format_size(lim, sizeof lim, limit);
    format_size(twice, sizeof twice, limit <= SIZE_MAX / 4 ? limit * 2 : limit);
    return bnn_fail(e, "%s: more than %zu bytes (%s), the limit for input read from %s; "
                       "set %s to raise it, e.g. %s=%s", in->name, limit, lim,
                    stream_kind(&in->st), BNN_STREAM_LIMIT_ENV, BNN_STREAM_LIMIT_ENV, twice);
}

/* bnn_pull_input's read: the peeked bytes, then the stream, at most the limit in all. */
static long long pull_input_read(bnn_pull *s, void *buf, size_t n, bnn_error *e)
{
    bnn_input *in = s->in;
    const size_t k = bnn_take_peeked(in->head, in->nhead, &s->done, buf, n);
    if (k)
        return (long long)k;
    if (s->done > s->limit) /* read one byte past the limit: refused */
        return over_limit(in, s->limit, e);
    size_t room = s->limit + 1 - s->done; /* a byte past the limit proves it is passed */
    ssize_t r = read_some(in->fd, buf, n < room ? n : room);
    if (r < 0)
        return input_fail(e, in->name, "reading", errno);
    s->done += (size_t)r;
    if (s->done > s->limit)
        return over_limit(in, s->limit, e);
    return (long long)r;
}

int bnn_pull_input(bnn_pull *s, bnn_input *in, bnn_error *e)
{
    memset(s, 0, sizeof *s);
    s->name = in->name;
    s->in = in;
    s->read = pull_input_read;
    return bnn_stream_limit(&s->limit, in->name, e);
}

void bnn_mapped_release(const void *base, size_t *released, size_t upto)
{
    static size_t page;
    if (!page) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (size_t)ps : 4096;
    }
    /* the mapping starts on a page; release whole pages only, a megabyte at least at once */
    const size_t to = upto / page * page;
    if (to < *released + ((size_t)1 << 20))
        return;
    (void)madvise((char *)(uintptr_t)base + *released, to - *released, MADV_DONTNEED);
    *released = to;
}

static long long pull_memory_read(bnn_pull *s, void *buf, size_t n, bnn_error *e)
{
    (void)e;
    size_t k = s->len - s->done < n ? s->len - s->done : n;
    memcpy(buf, s->mem + s->done, k);
    s->done += k;
    if (s->mapped)
        bnn_mapped_release(s->mem, &s->released, s->done);
    return (long long)k;
}

void bnn_pull_memory(bnn_pull *s, const char *name, const void *p, size_t len, int mapped)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->mem = p;
    s->len = len;
    s->mapped = mapped;
    s->read = pull_memory_read;
}

int bnn_input_contents(bnn_input *in, bnn_bytes *b, bnn_error *e)
{
    memset(b, 0, sizeof *b);
    if (in->fd < 0) { /* made in memory: its bytes change hands */
        b->p = in->mem;
        b->heap = in->mem;
        b->len = in->memlen;
        in->mem = NULL;
        return 0;
    }
    if (in->mappable && in->st.st_size > 0) {
        if ((uint64_t)in->st.st_size >= (uint64_t)(SIZE_MAX / 2))
            return bnn_fail(e, "%s: file is too large", in->name);
        size_t len = (size_t)in->st.st_size;
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, in->fd, 0);
        if (m != MAP_FAILED) {
            (void)madvise(m, len, MADV_SEQUENTIAL); /* read front to back */
            bnn_mapped_register(m, len, in->name);
            b->p = m;
            b->map = m;
            b->len = len;
            return 0;
        }
        /* a file system that cannot map: read it like a stream */
    }
    return read_stream(in, b, e);
}

void bnn_bytes_free(bnn_bytes *b)
{
    if (b->map) {
        bnn_mapped_unregister(b->map);
        munmap(b->map, b->len);
    }
    free(b->heap);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------------------------------- */
/* Tables                                                                                    */

static void close_owned_f32(bnn_table *t)
{
    bnn_free(t->ctx);
    t->ctx = NULL;
    t->f32 = NULL;
}

void bnn_table_own_f32(bnn_table *t, float *data, size_t rows, size_t cols)
{
    t->rows = rows;
    t->cols = cols;
    t->f32 = data;
    t->ld = cols;
    t->ctx = data;
    t->close = close_owned_f32;
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
