/*
 * paths.c - the files of one command, checked together before anything is read or written.
 *
 * Every command lists its inputs (--data, --targets, --val, --init, --resume, --model, ...)
 * and outputs (--save, --log, --plot, --checkpoint, --out, --json, ...). Each output must be
 * writable (bnn_outfile_check, exit 1), and no two paths may be one file (exit 2) unless
 * both are inputs. Files are compared, not strings: (st_dev, st_ino) of what exists, links
 * followed; the resolved directory plus name of what does not exist yet. So ./m.st, a
 * symbolic link to m.st and ../dir/m.st are all m.st.
 *   "-"          standard output as an output, standard input as an input: two outputs on
 *                "-" conflict, as do two inputs (standard input is read once); an output
 *                whose file is where standard output goes conflicts with "-".
 *   synth:NAME   a data set's synthetic name is no file.
 *   a character device (/dev/null) may be shared; a FIFO may not.
 * The one exception: --resume FILE with --checkpoint FILE, the way to continue a run. The
 * checkpoint is read completely (model, state, settings) before any output is opened, and
 * each new checkpoint replaces it atomically.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

typedef struct known {
    int have; /* 0: nothing to compare (synthetic, or an input that does not exist) */
    int std;  /* "-" */
    bnn_path_id id;
} known;

static void identify(const cli_path *p, known *k)
{
    memset(k, 0, sizeof *k);
    bnn_error e;
    if (p->kind == CLI_IN_DATA && strncmp(p->path, "synth:", 6) == 0)
        return;
    if (strcmp(p->path, "-") == 0) {
        struct stat st;
        k->std = 1;
        k->have = 1;
        if (fstat(p->kind == CLI_OUT ? STDOUT_FILENO : STDIN_FILENO, &st) == 0) {
            k->id.exists = 1;
            k->id.dev = (unsigned long long)st.st_dev;
            k->id.ino = (unsigned long long)st.st_ino;
            k->id.mode = (unsigned)st.st_mode;
        }
        return;
    }
    /* an input that cannot be named (missing, unreadable) fails later, when it is opened;
     * "f.npz:NAME" is the file f.npz */
    char file[512];
    const char *member, *path = p->path;
    if (p->kind != CLI_OUT && bnn_npz_member_path(path, file, sizeof file, &member))
        path = file;
    if (bnn_path_identity(path, &k->id, &e) != 0)
        return;
    k->have = p->kind == CLI_OUT || k->id.exists;
}

static int is_role(const cli_path *p, const char *role)
{
    return strcmp(p->role, role) == 0;
}

/* Dies when a and b (a before b in the list) may not share their file. */
static void check_pair(const cli_path *a, const known *ka, const cli_path *b, const known *kb)
{
    const int outs = (a->kind == CLI_OUT) + (b->kind == CLI_OUT);
    if (ka->std && kb->std && (a->kind == CLI_OUT) == (b->kind == CLI_OUT)) {
        if (outs)
            cli_die(EXIT_USAGE, "--%s - and --%s - both write to standard output; give one of "
                    "them a file", a->role, b->role);
        cli_die(EXIT_USAGE, "--%s - and --%s - both read standard input, which can be read "
                "once; give one of them a file", a->role, b->role);
    }
    if (!ka->id.exists && !kb->id.exists && (ka->std || kb->std))
        return; /* "-" whose stream could not be examined */
    if (!bnn_path_same(&ka->id, &kb->id))
        return;
    if (ka->id.exists && S_ISCHR(ka->id.mode))
        return; /* /dev/null, a terminal: no file to destroy or interleave */
    if (outs == 0)
        return;
    if ((is_role(a, "resume") && is_role(b, "checkpoint")) ||
        (is_role(a, "checkpoint") && is_role(b, "resume")))
        return;
    if (outs == 2)
        cli_die(EXIT_USAGE, "--%s %s and --%s %s are the same file; give each output its own",
                a->role, a->path, b->role, b->path);
    const cli_path *out = a->kind == CLI_OUT ? a : b, *in = a->kind == CLI_OUT ? b : a;
    cli_die(EXIT_USAGE, "--%s %s is the same file as --%s %s; refusing to overwrite an input",
            out->role, out->path, in->role, in->path);
}

void cli_check_paths(const cli_path *paths, size_t n)
{
    bnn_error e;
    for (size_t i = 0; i < n; i++)
        if (paths[i].path && paths[i].kind == CLI_OUT &&
            bnn_outfile_check(paths[i].path, &e) != 0)
            cli_die(1, "--%s %s", paths[i].role, e.msg);
    known *k = calloc(n ? n : 1, sizeof *k);
    if (!k)
        cli_die(1, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (paths[i].path)
            identify(&paths[i], &k[i]);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < j; i++)
            if (k[i].have && k[j].have)
                check_pair(&paths[i], &k[i], &paths[j], &k[j]);
    for (size_t i = 0; i < n; i++)
        bnn_path_identity_free(&k[i].id);
    free(k);
}
