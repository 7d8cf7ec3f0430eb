/*
 * fingerprint.c - what a data file looks like from this process, for ranks under mpirun to
 * compare before they train on "the same" path (bnn_file_fingerprint, io/bnn_io.h): its
 * kind (a regular file or not), its size, and a 64-bit checksum of its bytes.
 *
 * A file of at most BNN_FP_WHOLE bytes is checksummed whole; a larger one in BNN_FP_BLOCKS
 * blocks of BNN_FP_BLOCK bytes at fixed offsets spread evenly from its first byte to its last
 * (16 MiB read, whatever the size): a stale copy of another length, another header or another
 * start or end is caught; two copies of one size that differ only between the blocks are not
 * (the README says so). Only regular files are read: a pipe, FIFO, device or standard input
 * ("-") is reported as not regular without being opened (opening a FIFO waits for a writer).
 * The checksum is no cryptographic hash: it finds accidents (stale copies), not forgeries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/bnn_io.h"

#define BNN_FP_WHOLE ((uint64_t)64 << 20)
#define BNN_FP_BLOCKS 64
#define BNN_FP_BLOCK ((size_t)256 << 10)

/* Mixes one 64-bit word into h (a multiply-rotate step; every input bit reaches every bit). */
static uint64_t mix(uint64_t h, uint64_t w)
{
    w *= 0x9e3779b97f4a7c15ull;
    w ^= w >> 29;
    h ^= w;
    h = (h << 27) | (h >> 37);
    return h * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull;
}

static uint64_t mix_bytes(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix(h, w);
    }
    uint64_t tail = 0;
    for (size_t k = 0; i + k < n; k++)
        tail |= (uint64_t)p[i + k] << (8 * k);
    return mix(mix(h, tail), (uint64_t)n);
}

/* Reads exactly n bytes at offset off (pread, retried on EINTR and short reads). */
static int read_at(int fd, unsigned char *buf, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (errno = EIO, -1); /* shorter than fstat said: it changed */
        buf += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int checksum(int fd, uint64_t size, uint64_t *out)
{
    unsigned char *buf = malloc(BNN_FP_BLOCK);
    if (!buf)
        return errno = ENOMEM, -1;
    uint64_t h = mix(0x243f6a8885a308d3ull, size);
    int rc = 0;
    if (size <= BNN_FP_WHOLE) {
        for (uint64_t off = 0; off < size && rc == 0; off += BNN_FP_BLOCK) {
            const size_t n = size - off < BNN_FP_BLOCK ? (size_t)(size - off) : BNN_FP_BLOCK;
            rc = read_at(fd, buf, n, off);
            h = mix_bytes(h, buf, n);
        }
    } else { /* block i starts at i (size - block) / (blocks - 1): the first and last bytes */
        for (int i = 0; i < BNN_FP_BLOCKS && rc == 0; i++) {
            const uint64_t off = (uint64_t)i * (size - BNN_FP_BLOCK) / (BNN_FP_BLOCKS - 1);
            rc = read_at(fd, buf, BNN_FP_BLOCK, off);
            h = mix_bytes(mix(h, off), buf, BNN_FP_BLOCK);
        }
    }
    free(buf);
    *out = h;
    return rc;
}

int bnn_file_fingerprint(const char *path, bnn_fingerprint *fp, bnn_error *e)
{
    memset(fp, 0, sizeof *fp);
    struct stat st;
    if (strcmp(path, "-") == 0)
        return 0; /* standard input: not regular */
    if (stat(path, &st) != 0)
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return 0;
    fp->regular = 1;
    fp->size = (uint64_t)st.st_size;
    fp->whole = fp->size <= BNN_FP_WHOLE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bnn_fail(e, "%s: cannot open: %s", path, strerror(errno));
    const int rc = checksum(fd, fp->size, &fp->checksum);
    const int err = errno;
    close(fd);
    if (rc != 0)
        return bnn_fail(e, "%s: cannot read: %s", path, strerror(err));
    return 0;
}
