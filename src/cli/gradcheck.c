/*
 * gradcheck.c - `batchnn gradcheck`: each engine's analytic gradient against finite differences.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static double tensor_diff(const double *g, const double *f, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(g[i] - f[i]);
        if (d > num || isnan(d))
            num = d;
        if (fabs(f[i]) > den)
            den = fabs(f[i]);
    }
    return num / (den > 1e-7 ? den : 1e-7);
}

static void usage_gradcheck(void)
{
    printf("usage: batchnn gradcheck --arch W0,...,Wm [--act ...] [--no-bias] [--samples N]\n"
           "                         [--seed S] [--data FILE|synth:NAME] [--gradient exact|seed]\n"
           "                         [--eps H] [--tol-reference X] [--tol-fast X]\n"
           "                         [--loss mse|cross-entropy|bce]\n"
           "\n"
           "Compares each engine's analytic gradient with central finite differences of the\n"
           "double-precision cost, the five-point stencil (-C(t+2h) + 8C(t+h) - 8C(t-h)\n"
           "+ C(t-2h)) / 12h with h = eps * max(1, |t|) (default 1e-3; error O(h^4)), at\n"
           "weights drawn from --seed (biases too) on --samples samples (default 16 of\n"
           "synth:teacher). Prints per layer and tensor the normwise relative difference\n"
           "max|analytic - fd| / max(max|fd|, 1e-7); exits 1 above tolerance (reference\n"
           "1e-6, fast 1e-4 by default). With --gradient seed, the notes' recursion is\n"
           "checked against 2^(m-l) times the finite differences.\n");
}

/* The model to check: --init's, or one of the options' architecture with every weight and
 * bias drawn uniformly from [-1, 1) by seed. */
static void load_model(bnn_model *model, cli_opt *opts, uint64_t seed)
{
    const char *init = cli_opt_str(opts, "init", NULL);
    if (init) {
        cli_load_model(model, init, cli_opt_str(opts, "act", NULL), "--init");
    } else {
        cli_model_from_opts(model, "gradcheck", opts);
        /* weights and biases both random and away from zero, so every term is exercised */
        bnn_rng r;
        bnn_rng_seed(&r, seed);
        for (size_t p = 0; p < model->nparams; p++)
            model->theta[p] = (float)(2.0 * bnn_rng_uniform(&r) - 1.0);
    }
}

/* The table's rows, a weight and a bias tensor per layer: the relative differences of the
 * reference's (gref) and the fast engine's (gfast) gradient from fd, the worst of each kept
 * (a nan is the worst). */
static void print_tensors(const bnn_arch *a, const double *fd, const double *gref,
                          const double *gfast, double *worst_ref, double *worst_fast)
{
    printf("%-6s %-7s %10s %14s %14s %14s\n", "layer", "tensor", "params", "max|fd|",
           "reference", "fast");
    for (int l = 0; l < a->nlayers; l++) {
        for (int t = 0; t < 2; t++) {
            size_t off = t == 0 ? bnn_arch_weight_offset(a, l) : bnn_arch_bias_offset(a, l);
            if (off == (size_t)-1)
                continue;
            size_t cnt = t == 0 ? (size_t)(a->width[l] * a->width[l + 1])
                                : (size_t)a->width[l + 1];
            double mx = 0;
            for (size_t p = 0; p < cnt; p++)
                mx = fabs(fd[off + p]) > mx ? fabs(fd[off + p]) : mx;
            double dr = tensor_diff(gref + off, fd + off, cnt);
            double dfst = tensor_diff(gfast + off, fd + off, cnt);
            if (!(dr <= *worst_ref))
                *worst_ref = dr;
            if (!(dfst <= *worst_fast))
                *worst_fast = dfst;
            printf("%-6d %-7s %10zu %14.3e %14.3e %14.3e\n", l + 1, t ? "bias" : "weight", cnt,
                   mx, dr, dfst);
        }
    }
}

int cli_cmd_gradcheck(int argc, char **argv)
{
    cli_opt opts[] = {
        {"arch", 1, 0, 0},     {"act", 1, 0, 0},           {"no-bias", 0, 0, 0},
        {"samples", 1, 0, 0},  {"seed", 1, 0, 0},          {"data", 1, 0, 0},
        {"targets", 1, 0, 0},  {"gradient", 1, 0, 0},      {"eps", 1, 0, 0},
        {"tol-reference", 1, 0, 0}, {"tol-fast", 1, 0, 0}, {"threads", 1, 0, 0},
        {"init", 1, 0, 0},     {"loss", 1, 0, 0},
        {0, 0, 0, 0},
    };
    if (cli_parse_opts("gradcheck", argc, argv, opts, NULL, 0, usage_gradcheck) < 0)
        return 0;
    bnn_error e;
    uint64_t seed = cli_parse_u64("seed", cli_opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    size_t samples = (size_t)cli_parse_u64("samples", cli_opt_str(opts, "samples", "16"), 1,
                                           SIZE_MAX);
    double eps = cli_parse_double("eps", cli_opt_str(opts, "eps", "1e-3"));
    double tol_ref = cli_parse_double("tol-reference", cli_opt_str(opts, "tol-reference", "1e-6"));
    double tol_fast = cli_parse_double("tol-fast", cli_opt_str(opts, "tol-fast", "1e-4"));
    cli_parse_threads(cli_opt_str(opts, "threads", "0"));
    bnn_gradient mode;
    if (bnn_gradient_parse(cli_opt_str(opts, "gradient", "exact"), &mode) != 0 ||
        mode == BNN_GRAD_FINITE_DIFF)
        cli_die(EXIT_USAGE, "--gradient: '%s' is not exact or seed",
                cli_opt_str(opts, "gradient", ""));
    if (eps <= 0)
        cli_die(EXIT_USAGE, "--eps must be positive");

    bnn_model model;
    load_model(&model, opts, seed);
    const bnn_arch *a = &model.arch;
    const int m = a->nlayers;
    size_t np = model.nparams;
    bnn_loss loss = BNN_LOSS_MSE;
    if (cli_opt_flag(opts, "loss") && bnn_loss_parse(cli_opt_str(opts, "loss", ""), &loss) != 0)
        cli_die(EXIT_USAGE, "--loss: '%s' is not mse, cross-entropy or bce",
                cli_opt_str(opts, "loss", ""));
    if (bnn_loss_check(a, loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
    if (loss != BNN_LOSS_MSE && mode == BNN_GRAD_SEED)
        cli_die(EXIT_USAGE, "--gradient seed is the notes' recursion for the squared error; "
                            "--loss %s needs --gradient exact", bnn_loss_name(loss));
    if (np > 100000)
        cli_die(EXIT_USAGE, "gradcheck: %zu parameters would take too long by finite differences "
                        "(at most 100000)", np);
    cli_data ld;
    const char *data = cli_opt_str(opts, "data", NULL);
    if (!data)
        data = a->width[0] == 1 && a->width[m] == 1 ? "synth:sine" : "synth:teacher";
    cli_load_data(&ld, data, cli_opt_str(opts, "targets", NULL), samples, a->width[0], a->width[m],
              seed, 1);
    size_t n = ld.d.n;

    double *theta = bnn_theta_to_double(NULL, model.theta, np), *fd = malloc(np * sizeof *fd);
    double *gref = malloc(np * sizeof *gref), *gfast = malloc(np * sizeof *gfast);
    float *gf = bnn_alloc(np, sizeof *gf);
    if (!theta || !fd || !gref || !gfast || !gf)
        cli_die(1, "gradcheck: out of memory");
    /* the oracle: the five-point stencil of the reference cost; then each engine's gradient */
    bnn_engine_opts fo = {.engine = BNN_ENGINE_REFERENCE, .gradient = BNN_GRAD_FINITE_DIFF,
                       .loss = loss, .fd_eps = eps, .fd_order = 4};
    bnn_engine_opts ro = {.engine = BNN_ENGINE_REFERENCE, .gradient = mode, .loss = loss};
    bnn_engine_opts so = ro;
    so.engine = BNN_ENGINE_FAST;
    bnn_engine *fdg = cli_engine(a, &fo), *ref = cli_engine(a, &ro), *fast = cli_engine(a, &so);
    const bnn_vec th = {.d = theta};
    if (bnn_engine_grad(fdg, th, &ld.d, 0, n, (bnn_vec){.d = fd}, NULL, NULL, &e) != 0 ||
        bnn_engine_grad(ref, th, &ld.d, 0, n, (bnn_vec){.d = gref}, NULL, NULL, &e) != 0 ||
        bnn_engine_grad(fast, (bnn_vec){.f = model.theta}, &ld.d, 0, n, (bnn_vec){.f = gf}, NULL,
                        NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_engine_free(fdg);
    bnn_engine_free(ref);
    for (size_t p = 0; p < np; p++)
        gfast[p] = gf[p];
    if (mode == BNN_GRAD_SEED) /* the contract: seed = 2^(m-l) x exact at layer l (0-based) */
        for (int l = 0; l < m; l++) {
            double f = ldexp(1.0, m - 1 - l);
            size_t w0 = bnn_arch_weight_offset(a, l), w1 = bnn_arch_weight_offset(a, l + 1);
            for (size_t p = w0; p < w1; p++)
                fd[p] *= f;
        }
    char w[4096], acts[4096];
    bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
    printf("gradcheck: %s (%s), %zu parameters, %zu samples of %s, seed %llu, loss %s\n", w, acts,
           np, n, ld.data.name, (unsigned long long)seed, bnn_loss_name(loss));
    printf("finite differences: five-point central stencil in double, h = %g * max(1, |theta|);"
           " gradient %s%s\n", eps,
           bnn_gradient_name(mode), mode == BNN_GRAD_SEED ? " vs 2^(m-l) x finite differences"
                                                          : "");
    printf("relative difference = max|analytic - fd| / max(max|fd|, 1e-7), per tensor\n");
    double worst_ref = 0, worst_fast = 0;
    print_tensors(a, fd, gref, gfast, &worst_ref, &worst_fast);
    int ok = worst_ref <= tol_ref && worst_fast <= tol_fast;
    printf("worst: reference %.3e (tolerance %.0e), fast %.3e (tolerance %.0e) [%s]: %s\n",
           worst_ref, tol_ref, worst_fast, tol_fast, bnn_engine_isa(), ok ? "ok" : "FAILED");
    bnn_engine_free(fast);
    free(theta);
    free(fd);
    free(gref);
    free(gfast);
    bnn_free(gf);
    cli_free_data(&ld);
    bnn_model_free(&model);
    return ok ? 0 : 1;
}

