/*
 * table_open.c - the reader chooser (bnn_table_open): opens the path once and reads its first
 * bytes. An input (file or stream) starting with the .npy magic is read as .npy whatever its
 * name, a zip signature as .npz, the gzip magic as gzip; otherwise a name ending in ".npy",
 * ".npz" or ".gz" (any case) is an error naming what is missing, and anything else is read
 * as CSV. The reader chosen continues from the bytes already read, so a FIFO loses nothing.
 * "FILE.npz:NAME" names one array of an archive (bnn_npz_member_path) unless a file of that
 * very name exists.
 */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "io/bnn_io.h"
#include "npy_format.h"

int bnn_npz_member_path(const char *path, char *file, size_t n, const char **member)
{
    const char *colon = strrchr(path, ':');
    if (!colon || colon == path || !colon[1] || access(path, F_OK) == 0)
        return 0;
    size_t len = (size_t)(colon - path);
    if (len < 4 || len >= n || strncasecmp(colon - 4, ".npz", 4) != 0)
        return 0;
    memcpy(file, path, len);
    file[len] = '\0';
    *member = colon + 1;
    return 1;
}

static int has_suffix(const char *path, const char *suf)
{
    size_t l = strlen(path), k = strlen(suf);
    return l >= k && strcasecmp(path + l - k, suf) == 0;
}

int bnn_table_open(bnn_table *t, const char *path, bnn_error *e)
{
    memset(t, 0, sizeof *t);
    char file[512];
    const char *member = NULL;
    const int named = bnn_npz_member_path(path, file, sizeof file, &member);
    bnn_input in;
    if (bnn_input_open(&in, named ? file : path, e) != 0)
        return -1;
    /* the first bytes, read once: the chosen reader starts with them (a FIFO or a pipe
     * cannot be read twice); the format is the bytes', the name only a hint */
    int rc = bnn_input_peek(&in, NPY_MAGIC_LEN, e);
    if (rc == 0) {
        const unsigned char *h = in.head;
        const int gz = in.nhead >= 2 && h[0] == 0x1f && h[1] == 0x8b;
        const int zip = in.nhead >= 4 && memcmp(h, "PK\3\4", 4) == 0;
        const int npy = in.nhead == NPY_MAGIC_LEN && memcmp(h, NPY_MAGIC, NPY_MAGIC_LEN) == 0;
        if (named && !zip)
            rc = bnn_fail(e, "%s: not a .npz file (no zip signature), so it has no array '%s'",
                          in.name, member);
        else if (zip)
            rc = bnn_table_open_npz(t, &in, member, e);
        else if (gz)
            rc = bnn_table_open_gzip(t, &in, e);
        else if (npy)
            rc = bnn_npy_from_input(t, &in, e);
        else if (has_suffix(path, ".npz"))
            rc = bnn_fail(e, "%s: not a .npz file (no zip signature)", in.name);
        else if (has_suffix(path, ".gz"))
            rc = bnn_fail(e, "%s: not a gzip file (bad magic)", in.name);
        else if (bnn_path_is_npy(path))
            rc = bnn_fail(e, "%s: not a .npy file (bad magic)", in.name);
        else
            rc = bnn_csv_from_input(t, &in, e);
    }
    bnn_input_close(&in);
    return rc;
}
