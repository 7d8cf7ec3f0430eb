/*
 * fuzz_archive.c - libFuzzer harness for compressed and bundled data (src/io/archive.c:
 * gzip of CSV or .npy, .npz), through bnn_table_open as the command opens --data.
 *
 * Each input is written to a temporary file and opened twice: as it is, and as array "x" of
 * an .npz ("in.npz:x", so a zip input also reaches the named-member path). A failure must
 * leave the table zeroed and give a one-line message starting with the file name. A success
 * must give a table of at least one row and column whose every value reads back finite. Any
 * violation aborts, which libFuzzer reports as a crash. The stream limit is set to 1M so a
 * small bomb is refused instead of timing out.
 *
 * Build and run as the other targets (tests/fuzz/run.sh; seeds in corpus_archive/).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/bnn_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[512], member_path[520];

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_archive: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("TMPDIR");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fuzz_archive_XXXXXX", base && *base ? base : "/tmp");
    check(mkdtemp(dir) != NULL, "mkdtemp failed", dir);
    snprintf(in_path, sizeof in_path, "%s/in.npz", dir);
    snprintf(member_path, sizeof member_path, "%s:x", in_path);
    bnn_stream_limit_set("1M");
    return 0;
}

static void open_one(const char *path)
{
    bnn_table t;
    bnn_error e;
    memset(&e, 0, sizeof e);
    if (bnn_table_open(&t, path, &e) != 0) {
        bnn_table zero;
        memset(&zero, 0, sizeof zero);
        check(memcmp(&t, &zero, sizeof t) == 0, "failed open left a table", e.msg);
        check(e.msg[0] != '\0' && !strchr(e.msg, '\n'), "message not one line", e.msg);
        check(strncmp(e.msg, in_path, strlen(in_path)) == 0, "message lacks the file name",
              e.msg);
        return;
    }
    check(t.rows > 0 && t.cols > 0, "empty table", t.name);
    float row[64];
    const size_t cols = t.cols < 64 ? t.cols : 64;
    for (size_t r = 0; r < t.rows; r++) {
        check(bnn_table_read(&t, r, 1, 0, cols, row, cols, &e) == 0, "read failed", e.msg);
        for (size_t c = 0; c < cols; c++)
            check(isfinite(row[c]), "non-finite value", t.name);
    }
    bnn_table_close(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(in_path, "wb");
    check(f != NULL, "cannot write the input", in_path);
    check(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write the input", in_path);
    open_one(in_path);
    open_one(member_path);
    return 0;
}
