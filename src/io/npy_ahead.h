/* npy_ahead.h - the windowed .npy reader's read-ahead (npy_ahead.c; private to src/io/npy*.c):
 * a thread of its own that reads the next window of the data while the engines compute on
 * the current one. */
#ifndef BNN_NPY_AHEAD_H
#define BNN_NPY_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "io/bnn_io.h"

/* Slots of read-ahead windows: the memory bound is NPY_AHEAD_SLOTS windows mapped (by
 * default of NPY_AHEAD_BYTES: 8 x 4 MiB = 32 MiB of the file). */
#define NPY_AHEAD_SLOTS 8
#define NPY_AHEAD_BYTES ((size_t)4 << 20)

typedef struct npy_ahead npy_ahead;

/* Starts the reader thread over the data bytes [doff, doff + dlen) of file fd (kept open by
 * the caller until npy_ahead_stop), in windows of wbytes (0: NPY_AHEAD_BYTES). 0, or -1 with
 * a message naming name. */
int npy_ahead_start(npy_ahead **ra, int fd, uint64_t doff, uint64_t dlen, size_t wbytes,
                    const char *name, bnn_error *e);

/* Copies the data bytes [a, a + len) (offsets from the data's start) into dst: from the
 * windows read ahead, else with pread; a sequential reader's next window is asked for first.
 * Thread-safe. 0; or -1 with *err the errno (0: the file ended) and *at the file offset where
 * reading failed (a failure of the reader thread is reported here, on the consuming thread). */
int npy_ahead_read(npy_ahead *ra, uint64_t a, size_t len, void *dst, int *err, uint64_t *at);

/* Lends the data bytes [a, a + len) in place when they lie in one window that a slot holds
 * (read ahead, or asked for now and waited for): their address, the slot pinned (never
 * reused) until npy_ahead_unpin(ra, *pin). NULL (*pin NULL) when they do not (a read
 * across windows, not sequential, a window that failed or no slot free): then copy them
 * with npy_ahead_read, which reports any failure. Thread-safe. */
const void *npy_ahead_borrow(npy_ahead *ra, uint64_t a, size_t len, void **pin);
void npy_ahead_unpin(npy_ahead *ra, void *pin); /* pin NULL: a no-op */

/* Stops the thread (joined once the window it is reading, if any, is read), unmaps the
 * windows and frees ra; NULL is a no-op. */
void npy_ahead_stop(npy_ahead *ra);

#endif /* BNN_NPY_AHEAD_H */
