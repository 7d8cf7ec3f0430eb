/* csv_feed.h - the CSV reader's chunker (private to src/io/csv*.c): hands the text out as
 * spans of whole lines, from a mapped file (windows of it, never copied) or from a pull
 * source (a buffer refilled chunk by chunk, the partial last line carried over). */
#ifndef BNN_CSV_FEED_H
#define BNN_CSV_FEED_H

#include <stddef.h>

#include "io/bnn_io.h"

typedef struct csv_feed {
    const char *name;  /* for messages */
    size_t chunk;      /* bytes per window or read */
    /* whole text in memory (a mapped file): windows of it */
    const char *whole;
    size_t wlen, wpos, released;
    int mapped;        /* whole is a file mapping: its pages are released once parsed */
    /* a pull source: buf[0..have) read, buf[0..used) handed out */
    bnn_pull *src;
    char *buf;
    size_t cap, have, used, max_line;
    int eof;
    int first;         /* the first span not yet handed out (it must decide the delimiter) */
} csv_feed;

/* A feed over text[0..len) (not copied); mapped: a file mapping (bnn_bytes.map), whose
 * pages are released (bnn_mapped_release) once the spans on them are parsed. */
void csv_feed_whole(csv_feed *f, const char *name, const char *text, size_t len, int mapped);
/* A feed over src; a line longer than max_line bytes is an error. */
void csv_feed_pull(csv_feed *f, const char *name, bnn_pull *src, size_t max_line);
/*
 * The next span [*p, *end) of whole lines (the last one may lack its '\n' at the end of the
 * text); *ahead >= *end is how far the text is known (the first span: far enough to choose
 * the delimiter from the first two lines that are not blank, see csv.c). 1, 0 at the end,
 * or -1 with the message in e. The span stays valid until the next call.
 */
int csv_feed_next(csv_feed *f, const char **p, const char **end, const char **ahead,
                  bnn_error *e);
void csv_feed_free(csv_feed *f);
/* The default chunk, or the one bnn_csv_chunk_set gave (tests). */
size_t csv_chunk(void);

#endif
