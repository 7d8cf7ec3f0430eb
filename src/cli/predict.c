/*
 * predict.c - `batchnn predict`: a model's outputs for a data file, streamed in blocks (under
 * mpirun: computed by every rank on its shards of a block, written by rank 0).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static void usage_predict(void)
{
    printf("usage: batchnn predict --model MODEL --data FILE [--out FILE.csv|FILE.npy]\n"
           "                       [--act ...] [--threads T] [--proba | --classes] [--loss L]\n"
           "\n"
           "Writes the model's outputs, one row per sample (no header), to --out (CSV or .npy\n"
           "by extension) or to standard output as CSV. --data rows hold the inputs, optionally\n"
           "followed by targets (ignored). --act gives activations for a model without them.\n"
           "  --proba    probabilities: softmax (cross-entropy) or sigmoid (bce) of the outputs,\n"
           "             for a model trained with --loss cross-entropy or bce\n"
           "  --classes  labels: the argmax, one column (cross-entropy, and mse with K > 1\n"
           "             outputs); 0/1 per output (bce)\n"
           "  --loss L   the model's loss (its metadata otherwise; needed for a model without\n"
           "             it, e.g. exported from PyTorch)\n"
           "\n"
           "example: batchnn predict --model m.safetensors --data new.csv --classes --out c.csv\n");
}

int cli_cmd_predict(int argc, char **argv)
{
    cli_opt opts[] = {
        {"model", 1, 0, 0}, {"data", 1, 0, 0},    {"out", 1, 0, 0}, {"act", 1, 0, 0},
        {"threads", 1, 0, 0}, {"samples", 1, 0, 0},
        {"proba", 0, 0, 0}, {"classes", 0, 0, 0}, {"loss", 1, 0, 0}, {0, 0, 0, 0},
    };
    if (cli_parse_opts("predict", argc, argv, opts, NULL, 0, usage_predict) < 0)
        return 0;
    bnn_error e;
    cli_model_on_data r;
    cli_model_on_data_opts(&r, "predict", opts);
    const char *model_path = r.model, *data = r.data;
    const size_t samples = r.samples;
    const char *outp = cli_opt_str(opts, "out", "-");
    /* no output may be an input's file: checked before anything is read */
    const cli_path paths[] = {
        {"model", model_path, CLI_IN}, {"data", data, CLI_IN_DATA}, {"out", outp, CLI_OUT},
    };
    cli_check_paths(paths, sizeof paths / sizeof paths[0]);
    bnn_model model;
    cli_load_model(&model, model_path, cli_opt_str(opts, "act", NULL), "--model");
    const bnn_arch *a = &model.arch;
    const int64_t nout = a->width[a->nlayers];
    const int proba = cli_opt_flag(opts, "proba"), classes = cli_opt_flag(opts, "classes");
    const bnn_loss loss = cli_model_loss(model_path, cli_opt_str(opts, "loss", NULL));
    if (proba && classes)
        cli_die(EXIT_USAGE, "predict: --proba and --classes cannot be combined");
    if (proba && loss == BNN_LOSS_MSE)
        cli_die(EXIT_USAGE, "predict: --proba needs a model trained with --loss cross-entropy "
                            "or bce (this one: mse; --loss overrides)");
    if (classes && loss == BNN_LOSS_MSE && nout < 2)
        cli_die(EXIT_USAGE, "predict: --classes needs K > 1 outputs (their argmax) or a bce "
                            "model (this one: mse with 1 output; --loss overrides)");
    if ((proba || classes) && bnn_loss_check(a, loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
    /* the class of an mse model with K > 1 outputs is their argmax, as for cross-entropy */
    const bnn_loss tloss = classes && loss == BNN_LOSS_MSE ? BNN_LOSS_CE : loss;
    const int64_t wout = classes && tloss == BNN_LOSS_CE ? 1 : nout;
    cli_data ld;
    cli_load_data(&ld, data, NULL, samples, a->width[0], nout, 1, 0);
    cli_data_scale(&ld, &model); /* a --standardize model's (x - mean) / std */
    bnn_engine_opts eo = {.engine = BNN_ENGINE_FAST, .gradient = BNN_GRAD_EXACT,
                       .loss = BNN_LOSS_MSE};
    bnn_engine *fast = cli_engine(a, &eo);
    /* under mpirun every rank computes its shards of each block, rank 0 gathers the block's
     * rows in sample order and alone writes them */
    const int lead = bnn_dist_rank() == 0;
    bnn_table_writer *w = NULL;
    if (lead && bnn_table_writer_open(&w, outp, ld.d.n, (size_t)wout, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    /* predictions go out in blocks of at most 16 MiB, so any n and any width stream through
     * bounded memory */
    size_t block = cli_rows_per_block((size_t)nout, ld.d.n);
    float *buf = bnn_alloc(block * (size_t)nout, sizeof(float));
    if (!buf) {
        bnn_table_writer_abort(w);
        cli_die(1, "predict: out of memory for %zu x %lld outputs", block, (long long)nout);
    }
    for (size_t s = 0; s < ld.d.n; s += block) {
        size_t cnt = ld.d.n - s < block ? ld.d.n - s : block;
        if (bnn_engine_predict(fast, (bnn_vec){.f = model.theta}, &ld.d, s, cnt, buf, &e) != 0) {
            bnn_table_writer_abort(w);
            bnn_free(buf);
            bnn_engine_free(fast);
            cli_die(1, "%s", e.msg);
        }
        if (!lead)
            continue;
        for (size_t i = 0; i < cnt * (size_t)nout; i++)
            if (!isfinite(buf[i])) {
                bnn_table_writer_abort(w);
                const size_t row = s + i / (size_t)nout + 1, col = i % (size_t)nout + 1;
                const int nan = isnan(buf[i]);
                /* freed first: the engine's pointer may live only in a register by now, and
                 * the leak checkers of the sanitizer builds would report it */
                bnn_free(buf);
                bnn_engine_free(fast);
                cli_die(1, "predict: %s: sample %zu: output %zu of the model is %s (the model "
                        "overflows on this input)", data, row, col, nan ? "nan" : "infinite");
            }
        cli_predict_transform(buf, cnt, nout, tloss, proba, classes);
        if (bnn_table_writer_rows(w, buf, cnt, (size_t)wout, &e) != 0) {
            bnn_table_writer_abort(w);
            cli_die(1, "%s", e.msg);
        }
    }
    if (lead && bnn_table_writer_commit(w, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_free(buf);
    bnn_engine_free(fast);
    cli_free_data(&ld);
    bnn_model_free(&model);
    return 0;
}

