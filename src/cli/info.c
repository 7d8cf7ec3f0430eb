/*
 * info.c - `batchnn info`: a model's architecture, metadata and weight statistics. Strings
 * from the file are printed through bnn_printable: control characters and bytes that are not
 * UTF-8 come out escaped, never raw.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static void usage_info(void)
{
    printf("usage: batchnn info MODEL\n\nPrints a model's architecture, activations and "
           "parameter statistics.\n");
}

int cli_cmd_info(int argc, char **argv)
{
    cli_opt opts[] = {{"act", 1, 0, 0}, {0, 0, 0, 0}};
    const char *pos[1] = {0};
    int npos = cli_parse_opts("info", argc, argv, opts, pos, 1, usage_info);
    if (npos < 0)
        return 0;
    if (npos != 1)
        cli_die(EXIT_USAGE, "info: name a model file, e.g. 'batchnn info model.safetensors'");
    bnn_error e;
    bnn_model model;
    cli_load_model(&model, pos[0], cli_opt_str(opts, "act", NULL), "model");
    const bnn_arch *a = &model.arch;
    char w[4096], acts[4096];
    bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
    printf("model: %s\narch: %s\nactivations: %s\nlayers: %d\nparameters: %zu\n", pos[0], w,
           acts, a->nlayers, model.nparams);
    /* metadata strings are the file's: printed escaped unless plain text */
    char meta[64], step[64], q1[300], q2[300];
    if (bnn_model_read_meta(pos[0], "loss", meta, sizeof meta, &e) == 0)
        printf("loss: %s\n", bnn_printable(q1, sizeof q1, meta));
    if (bnn_model_read_meta(pos[0], "optimizer", meta, sizeof meta, &e) == 0 &&
        bnn_model_read_meta(pos[0], "optimizer.step", step, sizeof step, &e) == 0)
        printf("optimizer: %s, %s steps (checkpoint)\n", bnn_printable(q1, sizeof q1, meta),
               bnn_printable(q2, sizeof q2, step));
    if (model.in_mean) { /* --standardize: the tensors input.mean and input.std */
        double mn = INFINITY, mx = -INFINITY;
        for (int64_t j = 0; j < a->width[0]; j++) {
            mn = model.in_std[j] < mn ? model.in_std[j] : mn;
            mx = model.in_std[j] > mx ? model.in_std[j] : mx;
        }
        printf("standardize: input.mean, input.std [%lld] (x - mean) / std before layer 1; std "
               "min %.6g max %.6g\n", (long long)a->width[0], mn, mx);
    }
    for (int l = 0; l < a->nlayers; l++) {
        const float *W = bnn_model_weight(&model, l);
        size_t cnt = (size_t)(a->width[l] * a->width[l + 1]);
        double mn = INFINITY, mx = -INFINITY, ss = 0;
        for (size_t i = 0; i < cnt; i++) {
            mn = W[i] < mn ? W[i] : mn;
            mx = W[i] > mx ? W[i] : mx;
            ss += (double)W[i] * W[i];
        }
        printf("layer %d: %lld -> %lld, %s, %s; weight min %.6g max %.6g rms %.6g\n", l + 1,
               (long long)a->width[l], (long long)a->width[l + 1], bnn_act_name(a->act[l]),
               a->bias[l] ? "bias" : "no bias", mn, mx, sqrt(ss / (double)cnt));
    }
    bnn_model_free(&model);
    return 0;
}

