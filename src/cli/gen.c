/*
 * gen.c - `batchnn gen`: a synthetic set written to a file, block by block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static void usage_gen(void)
{
    printf("usage: batchnn gen synth:NAME --out FILE.npy|FILE.csv [--samples N] [--seed S]\n"
           "                  [--arch W0,...,Wm]\n"
           "\n"
           "Writes a synthetic set, one row per sample (inputs then targets, no header), in\n"
           "blocks, so any size streams through bounded memory. Sets: %s.\n"
           "uniform and teacher take their widths from --arch (first and last).\n"
           "--samples defaults to %d, as in train; --seed to 1.\n",
           bnn_synth_names(), CLI_SYNTH_SAMPLES);
}

int cli_cmd_gen(int argc, char **argv)
{
    cli_opt opts[] = {
        {"samples", 1, 0, 0}, {"out", 1, 0, 0}, {"seed", 1, 0, 0}, {"arch", 1, 0, 0},
        {0, 0, 0, 0},
    };
    const char *pos[1] = {0};
    int npos = cli_parse_opts("gen", argc, argv, opts, pos, 1, usage_gen);
    if (npos < 0)
        return 0;
    bnn_error e;
    if (npos != 1 || strncmp(pos[0], "synth:", 6) != 0)
        cli_die(EXIT_USAGE, "gen: name a synthetic set, e.g. 'batchnn gen synth:xor --samples 4 "
                        "--out xor.csv'");
    const char *outp = cli_opt_str(opts, "out", NULL);
    if (!outp)
        cli_die(EXIT_USAGE, "gen: --out FILE is required");
    char defn[32];
    snprintf(defn, sizeof defn, "%d", CLI_SYNTH_SAMPLES);
    size_t n = (size_t)cli_parse_u64("samples", cli_opt_str(opts, "samples", defn), 1, SIZE_MAX);
    uint64_t seed = cli_parse_u64("seed", cli_opt_str(opts, "seed", "1"), 0, UINT64_MAX);
    int64_t nin = -1, nout = -1;
    if (cli_opt_flag(opts, "arch")) {
        bnn_arch a;
        if (bnn_arch_parse(&a, cli_opt_str(opts, "arch", ""), NULL, 1, &e) != 0)
            cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
        nin = a.width[0];
        nout = a.width[a.nlayers];
    }
    int64_t set_nin, set_nout; /* -1: a set of any widths, which come from --arch */
    if (bnn_synth_widths(pos[0], &set_nin, &set_nout, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (nin < 0 && set_nin < 0)
        cli_die(EXIT_USAGE, "gen: %s takes its widths from --arch (e.g. --arch 8,1)", pos[0]);
    bnn_table t;
    /* budget 0: never stored, generated block by block */
    if (bnn_synth_open(&t, pos[0], n, nin, nout, seed, 0, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_table_writer *w;
    if (bnn_table_writer_open(&w, outp, n, t.cols, NULL, &e) != 0)
        cli_die(1, "%s", e.msg);
    size_t block = cli_rows_per_block(t.cols, n);
    float *buf = bnn_alloc(block * t.cols, sizeof(float));
    if (!buf) {
        bnn_table_writer_abort(w);
        cli_die(1, "gen: out of memory");
    }
    for (size_t s = 0; s < n; s += block) {
        size_t cnt = n - s < block ? n - s : block;
        if (bnn_table_read(&t, s, cnt, 0, t.cols, buf, t.cols, &e) != 0 ||
            bnn_table_writer_rows(w, buf, cnt, t.cols, &e) != 0) {
            bnn_table_writer_abort(w);
            cli_die(1, "%s", e.msg);
        }
    }
    if (bnn_table_writer_commit(w, &e) != 0)
        cli_die(1, "%s", e.msg);
    bnn_free(buf);
    bnn_table_close(&t);
    return 0;
}
