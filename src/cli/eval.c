/*
 * eval.c - `batchnn eval`: a model's cost (and accuracy) on a data set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_internal.h"
#include "cli.h"

static void usage_eval(void)
{
    printf("usage: batchnn eval --model MODEL --data FILE|synth:NAME [--targets FILE]\n"
           "                    [--engine fast|reference] [--act ...] [--samples N] [--seed S]\n"
           "                    [--loss mse|cross-entropy|bce]\n"
           "\n"
           "Prints the cost C = 1/n sum_i sum_j (a_ij - y_ij)^2 of the model on the data, alone\n"
           "on a line (%%.17g). The fast engine accumulates in double over float32 outputs; the\n"
           "reference engine computes everything in double. A model trained with --loss\n"
           "cross-entropy or bce (its metadata, or --loss L) gets that loss, and a second line\n"
           "'accuracy X': the fraction of samples whose argmax matches the target's\n"
           "(cross-entropy), or of outputs on the right side of 0.5 (bce).\n");
}

int cli_cmd_eval(int argc, char **argv)
{
    cli_opt opts[] = {
        {"model", 1, 0, 0},   {"data", 1, 0, 0},    {"targets", 1, 0, 0}, {"act", 1, 0, 0},
        {"engine", 1, 0, 0},  {"threads", 1, 0, 0}, {"samples", 1, 0, 0}, {"seed", 1, 0, 0},
        {"loss", 1, 0, 0},    {0, 0, 0, 0},
    };
    if (cli_parse_opts("eval", argc, argv, opts, NULL, 0, usage_eval) < 0)
        return 0;
    bnn_error e;
    cli_model_on_data r;
    cli_model_on_data_opts(&r, "eval", opts);
    const char *model_path = r.model, *data = r.data;
    const int threads = r.threads;
    const size_t samples = r.samples;
    uint64_t seed = cli_parse_u64("seed", cli_opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    bnn_engine engine;
    if (bnn_engine_parse(cli_opt_str(opts, "engine", "fast"), &engine) != 0)
        cli_die(EXIT_USAGE, "--engine: '%s' is not fast or reference",
                cli_opt_str(opts, "engine", ""));
    const cli_path paths[] = { /* standard input, if named, is named once */
        {"model", model_path, CLI_IN}, {"data", data, CLI_IN_DATA},
        {"targets", cli_opt_str(opts, "targets", NULL), CLI_IN},
    };
    cli_check_paths(paths, sizeof paths / sizeof paths[0]);
    bnn_model model;
    cli_load_model(&model, model_path, cli_opt_str(opts, "act", NULL), "--model");
    const bnn_arch *a = &model.arch;
    const bnn_loss loss = cli_model_loss(model_path, cli_opt_str(opts, "loss", NULL));
    if (bnn_loss_check(a, loss, &e) != 0)
        cli_die(cli_opt_flag(opts, "loss") ? EXIT_USAGE : 1, "%s: %s", model_path, e.msg);
    cli_data ld;
    cli_load_data(&ld, data, cli_opt_str(opts, "targets", NULL), samples, a->width[0],
              a->width[a->nlayers], seed, 1);
    cli_data_scale(&ld, &model); /* a --standardize model's (x - mean) / std */
    double cost, correct = 0.0;
    if (engine == BNN_ENGINE_REFERENCE) {
        double *theta = bnn_theta_to_double(NULL, model.theta, model.nparams);
        if (!theta)
            cli_die(1, "eval: out of memory");
        if (bnn_ref_grad_loss(a, theta, &ld.d, 0, ld.d.n, BNN_GRAD_EXACT, loss, NULL, &cost,
                              &correct, &e) != 0)
            cli_die(1, "%s", e.msg);
        free(theta);
    } else {
        bnn_fast *fast;
        bnn_fast_opts fo = {.threads = threads, .chunk = 0, .loss = loss};
        if (bnn_fast_create(&fast, a, &fo, &e) != 0 ||
            bnn_fast_eval(fast, model.theta, &ld.d, 0, ld.d.n, &cost, &correct, &e) != 0)
            cli_die(1, "%s", e.msg);
        bnn_fast_free(fast);
    }
    if (!isfinite(cost))
        cli_die(1, "eval: the cost of %s on %s is %s (the model's outputs overflow)", model_path,
                data, isnan(cost) ? "nan" : "infinite");
    if (bnn_dist_rank() != 0) { /* under mpirun rank 0 alone prints (every rank has it) */
        cli_free_data(&ld);
        bnn_model_free(&model);
        return 0;
    }
    printf("%.17g\n", cost);
    if (loss != BNN_LOSS_MSE)
        printf("accuracy %.9g\n", correct / ((double)ld.d.n * (double)bnn_loss_decisions(a, loss)));
    cli_free_data(&ld);
    bnn_model_free(&model);
    return 0;
}

