/*
 * csv_feed.c - the CSV reader's chunker: the text handed out as spans of whole lines, so the
 * parser (csv.c) never needs the whole text at once and never sees a line cut in two.
 *
 *   - A mapped file (or any text already in memory) is handed out in windows of about one
 *     chunk (1 MiB), each cut after its last '\n' (a window without one runs to the end of
 *     the text, unread here: a huge line is refused from its first block by csv.c):
 *     nothing is copied, each window is parsed while it is in the cache, and the pages of
 *     the windows parsed are released (a 2 GB file does not take 2 GB of resident memory).
 *   - A pull source (a pipe, standard input, a gzip's decompressed text) is read into a
 *     buffer of one chunk; what follows the buffer's last '\n' (a partial line) is carried
 *     to the front of the buffer before the next read. A line longer than the buffer grows
 *     it, at most to max_line bytes (the stream limit): past that, an error, so a source
 *     without a newline cannot exhaust memory.
 *   - The first span goes far enough for the delimiter to be chosen as on the whole text:
 *     two lines that are not blank, or a line longer than the 64 KiB the choice looks at,
 *     or the end of the text.
 * The chunk can be made tiny for tests (bnn_csv_chunk_set), so that read boundaries fall
 * everywhere: inside a number, between '\r' and '\n', across a gzip member's end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv_feed.h"

#define CSV_CHUNK ((size_t)1 << 20)
#define CSV_LOOK ((size_t)1 << 16) /* the delimiter's look at a line (csv.c) */

static size_t chunk_override;

void bnn_csv_chunk_set(size_t bytes)
{
    chunk_override = bytes;
}

size_t csv_chunk(void)
{
    return chunk_override ? chunk_override : CSV_CHUNK;
}

void csv_feed_whole(csv_feed *f, const char *name, const char *text, size_t len, int mapped)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    f->chunk = csv_chunk();
    f->whole = text;
    f->wlen = len;
    f->mapped = mapped;
    f->first = 1;
}

void csv_feed_pull(csv_feed *f, const char *name, bnn_pull *src, size_t max_line)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    f->chunk = csv_chunk();
    f->src = src;
    f->max_line = max_line;
    f->first = 1;
}

void csv_feed_free(csv_feed *f)
{
    free(f->buf);
    f->buf = NULL;
}

/* The last '\n' of [p, end), or NULL. */
static const char *last_newline(const char *p, const char *end)
{
    while (end > p)
        if (*--end == '\n')
            return end;
    return NULL;
}

/* Does [p, end) (a prefix of the text, not its end) decide the delimiter, as csv.c chooses
 * it: two lines that are not blank, or a line longer than the look? */
static int decides_delimiter(const char *p, const char *end)
{
    int n = 0;
    if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3; /* csv.c skips a byte order mark before choosing */
    while (p < end && n < 2) {
        size_t k = (size_t)(end - p) < CSV_LOOK ? (size_t)(end - p) : CSV_LOOK;
        const char *nl = memchr(p, '\n', k);
        if (!nl)
            return k == CSV_LOOK;
        const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl, *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        n += q < le;
        p = nl + 1;
    }
    return n == 2;
}

static int next_window(csv_feed *f, const char **p, const char **end, const char **ahead)
{
    if (f->mapped) /* the spans before this one are parsed: their pages are not needed */
        bnn_mapped_release(f->whole, &f->released, f->wpos);
    if (f->wpos >= f->wlen)
        return 0;
    const char *s = f->whole + f->wpos, *all = f->whole + f->wlen;
    size_t k = f->wlen - f->wpos < f->chunk ? f->wlen - f->wpos : f->chunk;
    const char *stop = s + k;
    if (stop < all) {
        /* a line longer than the window: the rest of the text in one span, not looked at
         * here (the shape check refuses a huge line from its first block) */
        const char *nl = last_newline(s, stop);
        stop = nl ? nl + 1 : all;
    }
    *p = s;
    *end = stop;
    *ahead = all;
    f->wpos = (size_t)(stop - f->whole);
    return 1;
}

/* Reads into buf until it is full or the source ends: 0 or -1. */
static int fill(csv_feed *f, bnn_error *e)
{
    while (!f->eof && f->have < f->cap) {
        size_t room = f->cap - f->have;
        long long r = f->src->read(f->src, f->buf + f->have, room < f->chunk ? room : f->chunk,
                                   e);
        if (r < 0)
            return -1;
        if (r == 0)
            f->eof = 1;
        f->have += (size_t)r;
    }
    return 0;
}

/* Doubles the buffer (a line longer than it), at most max_line + 1 bytes: 0 or -1. */
static int grow(csv_feed *f, bnn_error *e)
{
    if (f->cap > f->max_line)
        return bnn_fail(e, "%s: a line longer than %zu bytes, the limit for decompressed "
                           "data; set %s to raise it", f->name, f->max_line,
                        BNN_STREAM_LIMIT_ENV);
    size_t nc = f->cap ? f->cap * 2 : f->chunk;
    if (nc < f->cap)
        nc = SIZE_MAX;
    if (nc - 1 > f->max_line) /* max_line SIZE_MAX: no bound */
        nc = f->max_line + 1;
    char *nb = realloc(f->buf, nc);
    if (!nb)
        return bnn_fail(e, "%s: out of memory for a line of more than %zu bytes", f->name,
                        f->cap);
    f->buf = nb;
    f->cap = nc;
    return 0;
}

int csv_feed_next(csv_feed *f, const char **p, const char **end, const char **ahead,
                  bnn_error *e)
{
    if (!f->src) {
        f->first = 0;
        return next_window(f, p, end, ahead);
    }
    if (f->used) { /* carry the partial line to the front */
        memmove(f->buf, f->buf + f->used, f->have - f->used);
        f->have -= f->used;
        f->used = 0;
    }
    if (!f->buf && grow(f, e) != 0)
        return -1;
    for (;;) {
        if (fill(f, e) != 0)
            return -1;
        const char *nl = f->eof ? NULL : last_newline(f->buf, f->buf + f->have);
        if (f->eof || (nl && (!f->first || decides_delimiter(f->buf, f->buf + f->have)))) {
            size_t n = f->eof ? f->have : (size_t)(nl + 1 - f->buf);
            if (n == 0)
                return 0;
            *p = f->buf;
            *end = f->buf + n;
            *ahead = f->buf + f->have;
            f->used = n;
            f->first = 0;
            return 1;
        }
        if (grow(f, e) != 0) /* no whole line yet, or not enough to choose the delimiter */
            return -1;
    }
}
