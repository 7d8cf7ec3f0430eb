/*
 * fuzz_safetensors.c - libFuzzer harness for bnn_model_load (src/io/safetensors_read.c).
 *
 * Each input is written to a temporary file and loaded, with an activation fallback picked
 * by the input's length (none, one name, a per-layer list, an unknown name). A load must
 * either fail with a one-line message that starts with the file name, leaving the model
 * zeroed, or succeed with a valid architecture, nparams matching it and every parameter
 * finite. A loaded model is saved and loaded again and must come back identical (arch and
 * theta bitwise). Any violation aborts, which libFuzzer reports as a crash.
 *
 * Build (clang only; tests/fuzz/run.sh does this and then runs every target):
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Dbench=false
 *   ninja -C build-fuzz tests/fuzz/fuzz_safetensors
 * Run (copy the seeds so that new inputs are not written into the repository):
 *   mkdir -p /tmp/st_corpus && cp -r tests/fuzz/corpus_safetensors/. /tmp/st_corpus/
 *   build-fuzz/tests/fuzz/fuzz_safetensors -max_len=4096 -timeout=10 -max_total_time=300 /tmp/st_corpus
 * Temporary files go to $TMPDIR (default /tmp); a tmpfs there makes the round trip's fsync
 * cheap.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/bnn_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[512], out_path[512];

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_safetensors: %s%s%s\n", what, detail ? ": " : "",
                detail ? detail : "");
        abort();
    }
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("TMPDIR");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fuzz_st_XXXXXX", base && *base ? base : "/tmp");
    check(mkdtemp(dir) != NULL, "cannot create a temporary directory", dir);
    snprintf(in_path, sizeof in_path, "%s/in.safetensors", dir);
    snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fallbacks[] = {NULL, "relu", "tanh,identity", "softmax"};
    int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0, "cannot write the input file", in_path);
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        check(k > 0, "cannot write the input file", in_path);
        done += (size_t)k;
    }
    close(fd);

    bnn_model m;
    bnn_error e;
    memset(&m, 0x5A, sizeof m);
    memset(&e, 0, sizeof e);
    const char *fb = fallbacks[size % 4];
    if (bnn_model_load(&m, in_path, fb, &e) != 0) {
        check(is_zero(&m, sizeof m), "failed load left the model non-zero", e.msg);
        check(strncmp(e.msg, in_path, strlen(in_path)) == 0, "message lacks the file name",
              e.msg);
        check(strchr(e.msg, '\n') == NULL, "message spans lines", e.msg);
        check(strlen(e.msg) > strlen(in_path) + 2, "empty message", e.msg);
        return 0;
    }
    bnn_error sub;
    check(bnn_arch_check(&m.arch, &sub) == 0, "loaded an invalid architecture", sub.msg);
    check(m.nparams == bnn_arch_nparams(&m.arch), "nparams does not match the architecture",
          NULL);
    check(bnn_model_finite(&m), "loaded a non-finite parameter", NULL);

    check(bnn_model_save(&m, out_path, &e) == 0, "cannot save a loaded model", e.msg);
    bnn_model back;
    check(bnn_model_load(&back, out_path, "identity", &e) == 0, "cannot reload a saved model",
          e.msg);
    check(back.arch.nlayers == m.arch.nlayers && back.nparams == m.nparams,
          "round trip changed the shape", NULL);
    for (int i = 0; i <= m.arch.nlayers; i++)
        check(back.arch.width[i] == m.arch.width[i], "round trip changed a width", NULL);
    for (int l = 0; l < m.arch.nlayers; l++)
        check(back.arch.act[l] == m.arch.act[l] && back.arch.bias[l] == m.arch.bias[l],
              "round trip changed an activation or a bias flag", NULL);
    check(memcmp(back.theta, m.theta, m.nparams * sizeof(float)) == 0,
          "round trip changed theta", NULL);
    bnn_model_free(&back);
    bnn_model_free(&m);
    return 0;
}
