/*
 * npy_ahead.c - read-ahead for the windowed .npy reader (npy.c, windowed mode, whole rows of
 * little-endian float32 in C order: what the engines read). One thread of its own per open
 * table reads windows of the data (NPY_AHEAD_BYTES, the data cut at multiples of it from its
 * first byte) into slots, so a reader that walks the file computes on window k while window
 * k + 1 is read: reading and computing overlap, from the disk or the page cache. To read a
 * window is to map it and fault its pages in (the kernel reads those not cached): the
 * readers then use their rows in place (npy_ahead_borrow: the slot pinned until they are
 * done, as the engine's chunks are) or copy them, with no page fault and no system call
 * (the copy cost about what the whole mapping's read does; pread's copy out of the page
 * cache about 2.5 times that). The pages are touched one per NPY_AHEAD_TOUCH: each fault
 * maps that much; MADV_POPULATE_READ, which walks every page, cost more CPU time (measured,
 * docs/billions.md), and so did leaving the mapping to the readers' own faults.
 *
 * Memory: at most NPY_AHEAD_SLOTS windows mapped (32 MiB of the file by default, resident as
 * page cache), unmapped when their slot is reused or the table closes; whatever the file's
 * size. Mapped windows are registered (bnn_mapped_register): a file truncated after the
 * thread checked its size (below) raises SIGBUS, named, as a whole mapping does (on whichever
 * thread touches a lost page first).
 *
 * Who reads what: a read is sequential when it is large (NPY_AHEAD_STREAM bytes or more),
 * starts where a recent read ended (a shard reading its chunks in order), or starts in a
 * window already held. A sequential read first asks for its first window when no slot holds
 * it, and for the window after its last byte (each queued: a free slot, else the least
 * recently used one that nobody is copying from or has borrowed), then copies each window's
 * part from its slot (waiting while the thread reads it), or reads it with pread itself when
 * no slot could take it. A borrow is the same for bytes inside one window, lent instead of
 * copied; bytes across two windows, or no slot free, are not lent (the caller copies). Other reads (a shuffled view's single rows) are one pread, never a window read
 * ahead. The bytes copied are the file's: results are bitwise those of the whole mapping.
 *
 * Errors: the thread records a failed window (errno, or 0 for a file that ended early: it
 * checks the file's size after mapping; and the file offset); the reader that needs that
 * window returns a file that ended (npy.c writes the message with the file's name), and
 * reads the window with pread itself when it could not be mapped (an address-space limit). The thread blocks every
 * signal (the command's handlers run on the others); it never waits but for work, so
 * npy_ahead_stop (when the table closes: after the last epoch, an error or a stop signal)
 * joins it at once.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy_ahead.h"

#define NPY_AHEAD_STREAM ((size_t)64 << 10) /* a read this large is sequential */
#define NPY_AHEAD_ENDS 16                   /* recent reads' ends remembered */
#define NPY_AHEAD_TOUCH ((size_t)64 << 10)  /* Linux maps this much around a fault */

enum { SLOT_FREE, SLOT_QUEUED, SLOT_LOADING, SLOT_READY, SLOT_FAILED };

typedef struct ra_slot {
    unsigned char *map; /* the mapping (NULL: none), from the page holding the window's first
                           byte; kept while queued until the thread replaces it */
    size_t maplen;
    const unsigned char *data; /* SLOT_READY: the window's first byte in map */
    uint64_t win;              /* the window held (not SLOT_FREE) */
    int state;
    int pins;      /* readers copying from data */
    int err;       /* SLOT_FAILED: errno, 0 when the file ended */
    uint64_t at;   /* SLOT_FAILED: the file offset */
    uint64_t tick; /* the last use (queued: the order of requests) */
} ra_slot;

struct npy_ahead {
    int fd;
    uint64_t doff, dlen;
    size_t wbytes, page;
    char name[512]; /* for the registry of mappings */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work, done; /* a window queued or stop; a window read */
    int stop;
    uint64_t tick;
    uint64_t ends[NPY_AHEAD_ENDS];
    unsigned nend;
    ra_slot slot[NPY_AHEAD_SLOTS];
};

/* Reads len bytes at file offset off into dst. 0, or -1 with *err (0: end of file), *at. */
static int pread_all(int fd, void *dst, size_t len, uint64_t off, int *err, uint64_t *at)
{
    unsigned char *d = dst;
    for (size_t done = 0; done < len;) {
        const ssize_t r = pread(fd, d + done, len - done, (off_t)(off + done));
        if (r > 0) {
            done += (size_t)r;
        } else if (r == 0 || errno != EINTR) {
            *err = r == 0 ? 0 : errno;
            *at = off + done;
            return -1;
        }
    }
    return 0;
}

static size_t window_len(const npy_ahead *ra, uint64_t w)
{
    const uint64_t from = w * ra->wbytes, left = ra->dlen - from;
    return left < ra->wbytes ? (size_t)left : ra->wbytes;
}

/* The slot holding window w (any state but free), or NULL. Under the lock. */
static ra_slot *slot_of(npy_ahead *ra, uint64_t w)
{
    for (int i = 0; i < NPY_AHEAD_SLOTS; i++)
        if (ra->slot[i].state != SLOT_FREE && ra->slot[i].win == w)
            return &ra->slot[i];
    return NULL;
}

/* Asks the thread for window w, unless held, past the end, or no slot can take it; never in
 * place of windows lo..hi (those the caller is about to read). */
static void queue_window(npy_ahead *ra, uint64_t w, uint64_t lo, uint64_t hi)
{
    if (w >= (ra->dlen + ra->wbytes - 1) / ra->wbytes || slot_of(ra, w))
        return;
    ra_slot *pick = NULL;
    for (int i = 0; i < NPY_AHEAD_SLOTS; i++) {
        ra_slot *s = &ra->slot[i];
        if (s->state == SLOT_FREE) {
            pick = s;
            break;
        }
        if ((s->state == SLOT_READY || s->state == SLOT_FAILED) && s->pins == 0 &&
            (s->win < lo || s->win > hi) && (!pick || s->tick < pick->tick))
            pick = s;
    }
    if (!pick)
        return;
    pick->win = w;
    pick->state = SLOT_QUEUED;
    pick->tick = ++ra->tick;
    pthread_cond_signal(&ra->work);
}

/* The queued slot asked for first, or NULL. Under the lock. */
static ra_slot *next_queued(npy_ahead *ra)
{
    ra_slot *pick = NULL;
    for (int i = 0; i < NPY_AHEAD_SLOTS; i++) {
        ra_slot *s = &ra->slot[i];
        if (s->state == SLOT_QUEUED && (!pick || s->tick < pick->tick))
            pick = s;
    }
    return pick;
}

/* Maps window w into s (unmapping what it held): 0, or -1 with *err, *at. No lock held. */
static int map_window(npy_ahead *ra, ra_slot *s, uint64_t w, int *err, uint64_t *at)
{
    if (s->map) {
        bnn_mapped_unregister(s->map);
        munmap(s->map, s->maplen);
        s->map = NULL;
    }
    const uint64_t off = ra->doff + w * ra->wbytes, from = off - off % ra->page;
    const size_t len = window_len(ra, w), maplen = (size_t)(off + len - from);
    void *m = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, ra->fd, (off_t)from);
    struct stat st;
    if (m == MAP_FAILED || fstat(ra->fd, &st) != 0) {
        *err = errno;
        *at = off;
        if (m != MAP_FAILED)
            munmap(m, maplen);
        return -1;
    }
    if ((uint64_t)st.st_size < off + len) { /* truncated since it was opened */
        munmap(m, maplen);
        *err = 0;
        *at = (uint64_t)st.st_size;
        return -1;
    }
    bnn_mapped_register(m, maplen, ra->name);
    /* fault the pages in: one read per NPY_AHEAD_TOUCH bytes, the last byte too (each fault
     * maps that much around it: half the cost of MAP_POPULATE, which walks every page) */
    const volatile unsigned char *v = m;
    for (size_t k = 0; k < maplen; k += NPY_AHEAD_TOUCH)
        (void)v[k];
    (void)v[maplen - 1];
    s->map = m;
    s->maplen = maplen;
    s->data = s->map + (off - from);
    return 0;
}

static void *ahead_main(void *arg)
{
    npy_ahead *ra = arg;
    pthread_mutex_lock(&ra->lock);
    for (;;) {
        ra_slot *s = NULL;
        while (!ra->stop && !(s = next_queued(ra)))
            pthread_cond_wait(&ra->work, &ra->lock);
        if (ra->stop)
            break;
        s->state = SLOT_LOADING; /* nobody touches s->map meanwhile */
        const uint64_t w = s->win;
        pthread_mutex_unlock(&ra->lock);
        int err = 0;
        uint64_t at = 0;
        const int rc = map_window(ra, s, w, &err, &at);
        pthread_mutex_lock(&ra->lock);
        s->state = rc == 0 ? SLOT_READY : SLOT_FAILED;
        s->err = err;
        s->at = at;
        pthread_cond_broadcast(&ra->done);
    }
    pthread_mutex_unlock(&ra->lock);
    return NULL;
}

int npy_ahead_start(npy_ahead **out, int fd, uint64_t doff, uint64_t dlen, size_t wbytes,
                    const char *name, bnn_error *e)
{
    *out = NULL;
    npy_ahead *ra = calloc(1, sizeof *ra);
    if (!ra)
        return bnn_fail(e, "%s: out of memory", name);
    ra->fd = fd;
    ra->doff = doff;
    ra->dlen = dlen;
    ra->wbytes = wbytes ? wbytes : NPY_AHEAD_BYTES;
    const long pg = sysconf(_SC_PAGESIZE);
    ra->page = pg > 0 ? (size_t)pg : 4096;
    snprintf(ra->name, sizeof ra->name, "%s", name);
    if (pthread_mutex_init(&ra->lock, NULL) != 0) {
        free(ra);
        return bnn_fail(e, "%s: cannot create a lock", name);
    }
    pthread_cond_init(&ra->work, NULL);
    pthread_cond_init(&ra->done, NULL);
    /* the thread starts with every signal blocked, its stack small (the default stack when
     * the static TLS of the libraries loaded does not leave room in a small one) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    (void)pthread_attr_setstacksize(&attr, (size_t)256 << 10);
    int rc = pthread_create(&ra->thread, &attr, ahead_main, ra);
    if (rc == EINVAL)
        rc = pthread_create(&ra->thread, NULL, ahead_main, ra);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&ra->work);
        pthread_cond_destroy(&ra->done);
        pthread_mutex_destroy(&ra->lock);
        free(ra);
        return bnn_fail(e, "%s: cannot start its read-ahead thread: %s", name, strerror(rc));
    }
    *out = ra;
    return 0;
}

/* Is a read of len bytes from a sequential? Notes its end. Under the lock. */
static int sequential(npy_ahead *ra, uint64_t a, size_t len)
{
    int seq = len >= NPY_AHEAD_STREAM || slot_of(ra, a / ra->wbytes) != NULL;
    for (unsigned i = 0; i < NPY_AHEAD_ENDS && !seq; i++)
        seq = ra->ends[i] == a && a != 0;
    ra->ends[ra->nend++ % NPY_AHEAD_ENDS] = a + len;
    return seq;
}

/* With the lock held: a read of windows lo..hi queues lo (when no slot holds it) and hi + 1
 * (ahead), neither in place of a window of lo..hi. */
static void queue_around(npy_ahead *ra, uint64_t lo, uint64_t hi)
{
    queue_window(ra, lo, lo, hi);
    queue_window(ra, hi + 1, lo, hi);
}

/* With the lock held: the slot of window w once it is no longer queued or loading (waiting
 * for the thread), or NULL when no slot holds it. */
static ra_slot *settled_slot(npy_ahead *ra, uint64_t w)
{
    ra_slot *s = slot_of(ra, w);
    while (s && (s->state == SLOT_QUEUED || s->state == SLOT_LOADING)) {
        pthread_cond_wait(&ra->done, &ra->lock);
        s = slot_of(ra, w);
    }
    return s;
}

/* With the lock held: a reader uses ready slot s (kept mapped until it unpins) */
static void pin_slot(npy_ahead *ra, ra_slot *s)
{
    s->pins++;
    s->tick = ++ra->tick;
}

/* Copies the part [a, a + n) of window w (all in it) into dst. Entered and left locked. */
static int copy_part(npy_ahead *ra, uint64_t w, uint64_t a, size_t n, unsigned char *dst,
                     int *err, uint64_t *at)
{
    ra_slot *s = settled_slot(ra, w);
    if (s && s->state == SLOT_FAILED && s->err == 0) { /* the file ended early */
        *err = s->err;
        *at = s->at;
        return -1;
    }
    int rc = 0;
    if (s && s->state == SLOT_READY) {
        pin_slot(ra, s);
        pthread_mutex_unlock(&ra->lock);
        memcpy(dst, s->data + (a - w * ra->wbytes), n);
        pthread_mutex_lock(&ra->lock);
        s->pins--;
    } else {
        pthread_mutex_unlock(&ra->lock);
        rc = pread_all(ra->fd, dst, n, ra->doff + a, err, at);
        pthread_mutex_lock(&ra->lock);
    }
    return rc;
}

int npy_ahead_read(npy_ahead *ra, uint64_t a, size_t len, void *dst, int *err, uint64_t *at)
{
    if (len == 0)
        return 0;
    pthread_mutex_lock(&ra->lock);
    if (!sequential(ra, a, len)) {
        pthread_mutex_unlock(&ra->lock);
        return pread_all(ra->fd, dst, len, ra->doff + a, err, at);
    }
    const uint64_t end = a + len, W = ra->wbytes;
    const uint64_t lo = a / W, hi = (end - 1) / W;
    queue_around(ra, lo, hi);
    unsigned char *d = dst;
    int rc = 0;
    while (a < end && rc == 0) {
        const uint64_t w = a / W, stop = (w + 1) * W < end ? (w + 1) * W : end;
        rc = copy_part(ra, w, a, (size_t)(stop - a), d, err, at);
        d += stop - a;
        a = stop;
    }
    pthread_mutex_unlock(&ra->lock);
    return rc;
}

const void *npy_ahead_borrow(npy_ahead *ra, uint64_t a, size_t len, void **pin)
{
    const uint64_t W = ra->wbytes, w = a / W;
    *pin = NULL;
    if (len == 0 || (a + len - 1) / W != w)
        return NULL;
    pthread_mutex_lock(&ra->lock);
    if (!sequential(ra, a, len)) {
        pthread_mutex_unlock(&ra->lock);
        return NULL;
    }
    queue_around(ra, w, w);
    ra_slot *s = settled_slot(ra, w);
    const void *p = NULL;
    if (s && s->state == SLOT_READY) {
        pin_slot(ra, s);
        p = s->data + (a - w * W);
        *pin = s;
    }
    pthread_mutex_unlock(&ra->lock);
    return p;
}

void npy_ahead_unpin(npy_ahead *ra, void *pin)
{
    if (!pin)
        return;
    pthread_mutex_lock(&ra->lock);
    ((ra_slot *)pin)->pins--;
    pthread_mutex_unlock(&ra->lock);
}

void npy_ahead_stop(npy_ahead *ra)
{
    if (!ra)
        return;
    pthread_mutex_lock(&ra->lock);
    ra->stop = 1;
    pthread_cond_broadcast(&ra->work);
    pthread_mutex_unlock(&ra->lock);
    pthread_join(ra->thread, NULL);
    for (int i = 0; i < NPY_AHEAD_SLOTS; i++)
        if (ra->slot[i].map) {
            bnn_mapped_unregister(ra->slot[i].map);
            munmap(ra->slot[i].map, ra->slot[i].maplen);
        }
    pthread_cond_destroy(&ra->work);
    pthread_cond_destroy(&ra->done);
    pthread_mutex_destroy(&ra->lock);
    free(ra);
}
