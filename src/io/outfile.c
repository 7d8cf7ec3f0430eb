/*
 * outfile.c - every file batchnn writes goes through here, under one set of rules (the same
 * ones users of cp, tar and curl -o rely on):
 *
 *   "-"                      standard output (never closed here).
 *   a character device, a FIFO, or a Unix socket
 *                            written directly: opened (a socket: connected) and written, never
 *                            renamed over, so /dev/null stays /dev/null.
 *   a regular file, or a path that does not exist yet
 *                            written atomically: a temporary file in the destination's
 *                            directory, flushed and fsync'd, then renamed over it (and the
 *                            directory fsync'd), so a reader sees the old file or the whole new
 *                            one, never a part. An existing file keeps its mode (and, for root,
 *                            its owner); a new one gets 0666 less the umask.
 *   a symbolic link          followed (up to 40 links, relative ones from the link's own
 *                            directory); the final target is what gets replaced, the link stays.
 *   refused                  a directory, a block device, a read-only regular file (no write
 *                            permission bit, or not writable by this user: refused even for
 *                            root, the way --save always refused it), a missing directory.
 *
 * Logs are the one exception to "atomic": bnn_outfile_open_inplace writes a regular file in
 * place (no truncation; the caller positions it), so `tail -f` follows it and a killed run
 * keeps every flushed row. It takes an advisory lock (flock, exclusive, non-blocking) first:
 * two runs writing one log would interleave their rows, so the second is refused, naming the
 * holder's pid when /proc/locks shows it.
 *
 * bnn_path_identity says which file a path is, for the command's check that no output is an
 * input or another output: (st_dev, st_ino) of what exists (links followed), the resolved
 * directory plus name of what does not exist yet (followed the way a new file is created).
 *
 * Temporary names are registered while they exist, so a caught signal or an exit() on an
 * error path removes them (bnn_outfile_remove_temps is async-signal-safe). bnn_outfile_check
 * applies the rules without creating anything: callers check every output before hours of
 * work.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/bnn_io.h"

enum { KIND_STDOUT = 1, KIND_DIRECT, KIND_REGULAR };

/* ------------------------------------------------------------------------------------------ */
/* Registry of temporary files, for removal on a signal or exit                                */

#define REG_SLOTS 16
#define REG_PATH 4096
static char reg_path[REG_SLOTS][REG_PATH];
static volatile sig_atomic_t reg_used[REG_SLOTS];

static int reg_add(const char *path)
{
    size_t len = strlen(path);
    if (len >= REG_PATH)
        return -1;
    for (int i = 0; i < REG_SLOTS; i++)
        if (!reg_used[i]) {
            memcpy(reg_path[i], path, len + 1);
            __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the name is complete before it is used */
            reg_used[i] = 1;
            return i;
        }
    return -1;
}

static void reg_drop(int slot)
{
    if (slot >= 0 && slot < REG_SLOTS)
        reg_used[slot] = 0;
}

void bnn_outfile_remove_temps(void)
{
    for (int i = 0; i < REG_SLOTS; i++)
        if (reg_used[i]) {
            (void)unlink(reg_path[i]);
            reg_used[i] = 0;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Where a path leads                                                                          */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Follows symbolic links from path, one by one, to the path a new file would be created at
 * (path does not exist: it is new, or a link that dangles). On success *target is the final
 * path (malloc'd) and *st its status when *exists. */
static int resolve(const char *path, char **target, struct stat *st, int *exists, bnn_error *e)
{
    char *p = strdup(path);
    if (!p)
        return bnn_fail(e, "%s: out of memory", path);
    for (int hops = 0;; hops++) {
        if (lstat(p, st) != 0) {
            int err = errno;
            if (err != ENOENT) {
                free(p);
                return bnn_fail(e, "%s: cannot write: %s", path, strerror(err));
            }
            *exists = 0;
            *target = p;
            return 0;
        }
        if (!S_ISLNK(st->st_mode)) {
            *exists = 1;
            *target = p;
            return 0;
        }
        if (hops == 40) {
            free(p);
            return bnn_fail(e, "%s: cannot write: %s", path, strerror(ELOOP));
        }
        char link[PATH_MAX];
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n < 0) {
            int err = errno;
            free(p);
            return bnn_fail(e, "%s: cannot follow the link: %s", path, strerror(err));
        }
        link[n] = '\0';
        char *next;
        if (link[0] == '/') {
            next = strdup(link);
        } else {
            char *dir = dir_of(p);
            size_t len = dir ? strlen(dir) + 1 + (size_t)n + 1 : 0;
            next = dir ? malloc(len) : NULL;
            if (next)
                snprintf(next, len, "%s/%s", dir, link);
            free(dir);
        }
        free(p);
        if (!next)
            return bnn_fail(e, "%s: out of memory", path);
        p = next;
    }
}

/* Applies the rules of the header; *kind says how to write, *target where (malloc'd, NULL
 * for standard output). */
static int classify(const char *path, int *kind, char **target, struct stat *st, int *exists,
                    bnn_error *e)
{
    *target = NULL;
    *exists = 0;
    if (!path || !*path)
        return bnn_fail(e, "output file name is empty");
    if (strcmp(path, "-") == 0) {
        *kind = KIND_STDOUT;
        return 0;
    }
    /* stat follows every link the kernel's way, /proc/self/fd/N included (the target of
     * /dev/stdout may be "pipe:[123]", which is no path); only a path that does not exist yet
     * (new, or a dangling link) is resolved by hand to find where to create it */
    if (stat(path, st) == 0) {
        *exists = 1;
        if (S_ISCHR(st->st_mode) || S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode)) {
            *target = strdup(path);
            *kind = KIND_DIRECT;
            return *target ? 0 : bnn_fail(e, "%s: out of memory", path);
        }
        *target = S_ISREG(st->st_mode) ? realpath(path, NULL) : strdup(path);
        if (!*target)
            return bnn_fail(e, "%s: cannot write: %s", path, strerror(errno));
    } else if (errno != ENOENT) {
        return bnn_fail(e, "%s: cannot write: %s", path, strerror(errno));
    } else if (resolve(path, target, st, exists, e) != 0) {
        return -1;
    }
    const char *t = *target;
    if (*exists) {
        if (S_ISCHR(st->st_mode) || S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode)) {
            *kind = KIND_DIRECT;
            return 0;
        }
        const char *what = S_ISDIR(st->st_mode)   ? "is a directory"
                         : S_ISBLK(st->st_mode)   ? "is a block device; batchnn does not "
                                                    "write to block devices"
                         : !S_ISREG(st->st_mode)  ? "is not a regular file"
                         : (st->st_mode & 0222) == 0 || access(t, W_OK) != 0
                             ? "is read-only; not replacing it"
                             : NULL;
        if (what) {
            bnn_fail(e, "%s: %s", path, what);
            free(*target);
            *target = NULL;
            return -1;
        }
    }
    /* a regular file, existing or new: its directory must exist and be writable */
    char *dir = dir_of(t);
    struct stat ds;
    int err = !dir ? ENOMEM : stat(dir, &ds) != 0 ? errno : !S_ISDIR(ds.st_mode) ? ENOTDIR
            : access(dir, W_OK | X_OK) != 0 ? errno : 0;
    if (err) {
        if (err == ENOENT)
            bnn_fail(e, "%s: cannot write: the directory %s does not exist", path, dir);
        else
            bnn_fail(e, "%s: cannot write in %s: %s", path, dir ? dir : "?", strerror(err));
        free(dir);
        free(*target);
        *target = NULL;
        return -1;
    }
    free(dir);
    *kind = KIND_REGULAR;
    return 0;
}

int bnn_outfile_check(const char *path, bnn_error *e)
{
    int kind = 0, exists = 0;
    char *target;
    struct stat st;
    if (classify(path, &kind, &target, &st, &exists, e) != 0)
        return -1;
    free(target);
    return 0;
}

/* The file a path names (see the header). A path that does not exist and whose directory
 * does not either keeps its own spelling: the output check reports it anyway. */
int bnn_path_identity(const char *path, bnn_path_id *id, bnn_error *e)
{
    memset(id, 0, sizeof *id);
    struct stat st;
    if (stat(path, &st) == 0) {
        id->exists = 1;
        id->dev = (unsigned long long)st.st_dev;
        id->ino = (unsigned long long)st.st_ino;
        id->mode = (unsigned)st.st_mode;
        return 0;
    }
    if (errno != ENOENT)
        return bnn_fail(e, "%s: %s", path, strerror(errno));
    char *target;
    int exists = 0;
    if (resolve(path, &target, &st, &exists, e) != 0)
        return -1;
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = dir_of(target);
    char *real = dir ? realpath(dir, NULL) : NULL;
    size_t len = (real ? strlen(real) : strlen(target)) + strlen(base) + 2;
    id->name = malloc(len);
    if (id->name && real)
        snprintf(id->name, len, "%s/%s", real, base);
    else if (id->name)
        snprintf(id->name, len, "%s", target);
    free(real);
    free(dir);
    free(target);
    return id->name ? 0 : bnn_fail(e, "%s: out of memory", path);
}

void bnn_path_identity_free(bnn_path_id *id)
{
    free(id->name);
    id->name = NULL;
}

int bnn_path_same(const bnn_path_id *a, const bnn_path_id *b)
{
    if (a->exists != b->exists)
        return 0;
    if (a->exists)
        return a->dev == b->dev && a->ino == b->ino;
    return a->name && b->name && strcmp(a->name, b->name) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Opening, committing, aborting                                                               */

static int fail_open(bnn_outfile *o, bnn_error *e, const char *path, int err)
{
    bnn_outfile_abort(o);
    return bnn_fail(e, "%s: cannot open for writing: %s", path, strerror(err));
}

/* Wraps fd (or its failure, fd < 0 with errno set) in o->fp. */
static int attach(bnn_outfile *o, int fd, const char *path, bnn_error *e)
{
    if (fd < 0)
        return fail_open(o, e, path, errno);
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        int err = errno;
        close(fd);
        return fail_open(o, e, path, err);
    }
    return 0;
}

static int open_direct(bnn_outfile *o, const char *path, const char *target,
                       const struct stat *st, bnn_error *e)
{
    int fd;
    if (S_ISSOCK(st->st_mode)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(target) >= sizeof sa.sun_path)
            return fail_open(o, e, path, ENAMETOOLONG);
        strcpy(sa.sun_path, target);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            int err = errno;
            close(fd);
            return fail_open(o, e, path, err);
        }
    } else {
        fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    }
    o->direct = 1;
    return attach(o, fd, path, e);
}

/* The pid holding a flock on the file of fd, from /proc/locks (0: not found). */
static long lock_holder(int fd)
{
    struct stat st;
    FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
    if (!f)
        return 0;
    char line[256];
    long found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char kind[16];
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        const char *p = strchr(line, ':'); /* "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INO ..." */
        if (p && sscanf(p + 1, "%15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && pid > 0 && ino == (unsigned long long)st.st_ino &&
            maj == major(st.st_dev) && min == minor(st.st_dev))
            found = pid;
    }
    fclose(f);
    return found;
}

/* Takes the in-place lock on fd, or fails naming the process that holds it. */
static int lock_inplace(bnn_outfile *o, int fd, const char *path, bnn_error *e)
{
    int r;
    while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (r == 0 || (errno != EWOULDBLOCK && errno != EAGAIN))
        return 0; /* a file system without locks: written unlocked, as before */
    long pid = lock_holder(fd);
    close(fd);
    bnn_outfile_abort(o);
    if (pid > 0)
        return bnn_fail(e, "%s: is being written by another process (pid %ld); two runs "
                           "cannot share one file", path, pid);
    return bnn_fail(e, "%s: is being written by another process (it holds its lock); two runs "
                       "cannot share one file", path);
}

/* mkostemp and the registration of the name, with the stop signals blocked between them: a
 * signal handler that removes the temporary files never misses this one. */
static int make_temp(bnn_outfile *o)
{
    sigset_t all, old;
    sigfillset(&all);
    int masked = pthread_sigmask(SIG_BLOCK, &all, &old) == 0;
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    int err = errno;
    if (fd >= 0)
        o->slot = reg_add(o->tmp);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return fd;
}

static int open_common(bnn_outfile *o, const char *path, int inplace, bnn_error *e)
{
    memset(o, 0, sizeof *o);
    o->slot = -1;
    int kind = 0, exists = 0;
    char *target;
    struct stat st;
    if (classify(path, &kind, &target, &st, &exists, e) != 0)
        return -1;
    o->path = strdup(path);
    o->target = target;
    if (!o->path) {
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: out of memory", path);
    }
    if (kind == KIND_STDOUT) {
        o->fp = stdout;
        o->direct = 1;
        o->is_stdout = 1;
        return 0;
    }
    if (kind == KIND_DIRECT)
        return open_direct(o, path, target, &st, e);
    if (inplace) {
        o->direct = 1;
        o->regular = 1;
        int fd = open(target, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0666);
        if (fd >= 0 && lock_inplace(o, fd, path, e) != 0)
            return -1;
        return attach(o, fd, path, e);
    }
    size_t len = strlen(target) + 16;
    o->tmp = malloc(len);
    if (!o->tmp) {
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: out of memory", path);
    }
    snprintf(o->tmp, len, "%s.tmp.XXXXXX", target);
    int fd = make_temp(o);
    if (fd < 0) {
        int err = errno;
        free(o->tmp);
        o->tmp = NULL;
        bnn_outfile_abort(o);
        return bnn_fail(e, "%s: cannot create a temporary file beside it: %s", path,
                        strerror(err));
    }
    if (exists) { /* keep the mode (and, where allowed, the owner) of the file it replaces */
        if (geteuid() == 0)
            (void)fchown(fd, st.st_uid, st.st_gid);
        (void)fchmod(fd, st.st_mode & 07777);
    } else {
        mode_t mask = umask(0);
        umask(mask);
        (void)fchmod(fd, 0666 & ~mask);
    }
    o->regular = 1;
    return attach(o, fd, path, e);
}

int bnn_outfile_open(bnn_outfile *o, const char *path, bnn_error *e)
{
    return open_common(o, path, 0, e);
}

int bnn_outfile_open_inplace(bnn_outfile *o, const char *path, bnn_error *e)
{
    return open_common(o, path, 1, e);
}

static void sync_dir(const char *target)
{
    char *dir = dir_of(target);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int bnn_outfile_commit(bnn_outfile *o, bnn_error *e)
{
    FILE *f = o->fp;
    if (!f) {
        bnn_outfile_abort(o);
        return bnn_fail(e, "output file is not open");
    }
    int err = 0;
    errno = 0;
    if (fflush(f) != 0 || ferror(f))
        err = errno ? errno : EIO;
    if (o->is_stdout) {
        o->fp = NULL;
        int r = err ? bnn_fail(e, "standard output: cannot write: %s", strerror(err)) : 0;
        bnn_outfile_abort(o);
        return r;
    }
    if (!err && o->regular && fsync(fileno(f)) != 0 && errno != EINVAL)
        err = errno;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    o->fp = NULL;
    if (!err && o->tmp) {
        if (rename(o->tmp, o->target) != 0)
            err = errno;
        else
            sync_dir(o->target);
    }
    if (err) {
        int r = bnn_fail(e, "%s: cannot write: %s", o->path, strerror(err));
        bnn_outfile_abort(o);
        return r;
    }
    reg_drop(o->slot);
    free(o->tmp);
    o->tmp = NULL;
    bnn_outfile_abort(o);
    return 0;
}

void bnn_outfile_abort(bnn_outfile *o)
{
    if (o->fp && !o->is_stdout)
        fclose(o->fp);
    if (o->tmp) {
        unlink(o->tmp);
        reg_drop(o->slot);
    }
    free(o->tmp);
    free(o->path);
    free(o->target);
    memset(o, 0, sizeof *o);
    o->slot = -1;
}
