/*
 * eval.c - `batchnn eval`: a model's cost (and accuracy) on a data set; with --report or
 * --report-csv FILE a classifier's confusion matrix and per-class scores (report.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static void usage_eval(void)
{
    printf("usage: batchnn eval --model MODEL --data FILE|synth:NAME [--targets FILE]\n"
           "                    [--engine fast|reference] [--act ...] [--samples N] [--seed S]\n"
           "                    [--loss mse|cross-entropy|bce] [--report] [--report-csv FILE]\n"
           "\n"
           "Prints the cost C = 1/n sum_i sum_j (a_ij - y_ij)^2 of the model on the data, alone\n"
           "on a line (%%.17g). The fast engine accumulates in double over float32 outputs; the\n"
           "reference engine computes everything in double. A model trained with --loss\n"
           "cross-entropy or bce (its metadata, or --loss L) gets that loss, and a second line\n"
           "'accuracy X': the fraction of samples whose argmax matches the target's\n"
           "(cross-entropy), or of outputs on the right side of 0.5 (bce).\n"
           "--loss also gives the loss of a model without that metadata (e.g. from PyTorch).\n"
           "\n"
           "  --report           a classifier's confusion matrix (rows: true class, columns:\n"
           "                     predicted; one 2x2 per output for bce), then per class the\n"
           "                     precision, recall, F1 and support; mse models with K > 1\n"
           "                     outputs count the argmax, and get an accuracy line\n"
           "  --report-csv FILE  the same as CSV: class,pred_0..pred_K-1,precision,recall,f1,\n"
           "                     support (bce: an output column first)\n"
           "\n"
           "example (a 3-class classifier):\n"
           "  batchnn train --data iris.csv --arch 4,16,3 --act relu,identity \\\n"
           "      --loss cross-entropy --save m.safetensors\n"
           "  batchnn eval --model m.safetensors --data iris.csv --report\n");
}

int cli_cmd_eval(int argc, char **argv)
{
    cli_opt opts[] = {
        {"model", 1, 0, 0},   {"data", 1, 0, 0},    {"targets", 1, 0, 0}, {"act", 1, 0, 0},
        {"engine", 1, 0, 0},  {"threads", 1, 0, 0}, {"samples", 1, 0, 0}, {"seed", 1, 0, 0},
        {"loss", 1, 0, 0},    {"report", 0, 0, 0},  {"report-csv", 1, 0, 0}, {0, 0, 0, 0},
    };
    if (cli_parse_opts("eval", argc, argv, opts, NULL, 0, usage_eval) < 0)
        return 0;
    bnn_error e;
    cli_model_on_data r;
    cli_model_on_data_opts(&r, "eval", opts);
    const char *model_path = r.model, *data = r.data;
    const size_t samples = r.samples;
    uint64_t seed = cli_parse_u64("seed", cli_opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    const bnn_engine_kind engine = cli_parse_engine(cli_opt_str(opts, "engine", "fast"));
    const cli_path paths[] = { /* standard input, if named, is named once */
        {"model", model_path, CLI_IN}, {"data", data, CLI_IN_DATA},
        {"targets", cli_opt_str(opts, "targets", NULL), CLI_IN},
        {"report-csv", cli_opt_str(opts, "report-csv", NULL), CLI_OUT},
    };
    cli_check_paths(paths, sizeof paths / sizeof paths[0]);
    bnn_model model;
    cli_load_model(&model, model_path, cli_opt_str(opts, "act", NULL), "--model");
    const bnn_arch *a = &model.arch;
    const bnn_loss loss = cli_model_loss(model_path, cli_opt_str(opts, "loss", NULL));
    if (bnn_loss_check(a, loss, &e) != 0)
        cli_die(cli_opt_flag(opts, "loss") ? EXIT_USAGE : 1, "%s: %s", model_path,
                cli_flag_msg(e.msg));
    const int report = cli_opt_flag(opts, "report");
    const char *report_csv = cli_opt_str(opts, "report-csv", NULL);
    if ((report || report_csv) && loss != BNN_LOSS_BCE && a->width[a->nlayers] < 2)
        cli_die(EXIT_USAGE, "eval: --report%s needs a classifier: K > 1 outputs, or a bce "
                            "model (this one: 1 output, %s; --loss overrides)",
                report ? "" : "-csv", bnn_loss_name(loss));
    cli_data ld;
    cli_load_data(&ld, data, cli_opt_str(opts, "targets", NULL), samples, a->width[0],
              a->width[a->nlayers], seed, 1);
    cli_data_scale(&ld, &model); /* a --standardize model's (x - mean) / std */
    double cost, correct = 0.0;
    bnn_engine_opts eo = {.engine = engine, .gradient = BNN_GRAD_EXACT, .loss = loss};
    bnn_engine *g = cli_engine(a, &eo);
    if (bnn_engine_cost(g, (bnn_vec){.f = model.theta}, &ld.d, 0, ld.d.n, &cost, &correct, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_engine_free(g);
    if (!isfinite(cost))
        cli_die(1, "eval: the cost of %s on %s is %s (the model's outputs overflow)", model_path,
                data, isnan(cost) ? "nan" : "infinite");
    cli_report rep = {0};
    if (report || report_csv) {
        cli_report_init(&rep, a, loss);
        eo.engine = BNN_ENGINE_FAST; /* the report's outputs: the fast engine's, as always */
        bnn_engine *fast = cli_engine(a, &eo);
        cli_report_count(&rep, fast, model.theta, &ld.d);
        bnn_engine_free(fast);
    }
    if (bnn_dist_rank() != 0) { /* under mpirun rank 0 alone prints (every rank has it) */
        cli_report_free(&rep);
        cli_free_data(&ld);
        bnn_model_free(&model);
        return 0;
    }
    printf("%.17g\n", cost);
    if (loss != BNN_LOSS_MSE)
        printf("accuracy %.9g\n", correct / ((double)ld.d.n * (double)bnn_loss_decisions(a, loss)));
    if (report)
        cli_report_print(&rep, loss == BNN_LOSS_MSE);
    if (report_csv && cli_report_write_csv(&rep, report_csv, &e) != 0)
        cli_die(1, "%s", e.msg);
    cli_report_free(&rep);
    cli_free_data(&ld);
    bnn_model_free(&model);
    return 0;
}

