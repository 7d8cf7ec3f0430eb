/*
 * inputs.c - what the commands read: --data/--targets as a data set, models with their
 * activations, and the block size for streaming tables out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_internal.h"
#include "cli.h"


/* Synthetic sets are kept in memory when they fit a quarter of what this process may use
 * (the smallest of RAM, the cgroup limit and RLIMIT_AS/RLIMIT_DATA), and streamed otherwise. */
static size_t synth_budget(void)
{
    size_t b = bnn_memory_budget();
    return b ? b / 4 : (size_t)1 << 30;
}

/* Opens a data file, with a note on stderr when the CSV reader took its first row for a
 * header (a file of numbers only has none). */
static void open_table(bnn_table *t, const char *path)
{
    bnn_error e;
    if (bnn_table_open(t, path, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (t->header_skipped)
        fprintf(stderr, "batchnn: note: %s: first row taken as a header\n", path);
}

/* Opens --data (a file or synth:NAME) and --targets for a model with widths nin -> nout.
 * samples: 0 = all rows of a file (synth needs it). */
void cli_load_data(cli_data *ld, const char *data, const char *targets, size_t samples,
                      int64_t nin, int64_t nout, uint64_t seed, int need_targets)
{
    bnn_error e;
    memset(ld, 0, sizeof *ld);
    if (strncmp(data, "synth:", 6) == 0) {
        if (targets)
            cli_die(EXIT_USAGE, "--targets cannot be used with a synthetic set");
        if (samples == 0)
            samples = CLI_SYNTH_SAMPLES;
        if (bnn_synth_open(&ld->data, data, samples, nin, nout, seed, synth_budget(), &e))
            cli_die(1, "%s", e.msg);
    } else {
        open_table(&ld->data, data);
        if (targets) {
            open_table(&ld->targets, targets);
            ld->has_targets = 1;
        }
        if (samples) {
            if (samples > ld->data.rows)
                cli_die(1, "%s: --samples %zu, but the file has %zu samples", data, samples,
                    ld->data.rows);
            ld->data.rows = samples;
            if (ld->has_targets && ld->targets.rows >= samples)
                ld->targets.rows = samples;
        }
    }
    if (!need_targets && !ld->has_targets) { /* predict: targets after the inputs are optional */
        size_t c = ld->data.cols, in = (size_t)nin, out = (size_t)nout;
        if (c != in && c != in + out && !(out > 1 && c == in + 1))
            cli_die(1, "%s: %zu columns, but the model takes %lld inputs, optionally followed by "
                    "%lld target%s (ignored)", data, c, (long long)nin, (long long)nout,
                    nout == 1 ? "" : "s");
    }
    if (bnn_data_make(&ld->d, &ld->data, ld->has_targets ? &ld->targets : NULL, nin, nout,
                      &e) != 0)
        cli_die(1, "%s", e.msg);
    if (need_targets && !ld->d.yt)
        cli_die(1, "%s: %zu columns are the model's inputs only; the cost needs targets (add %lld "
               "target columns or give --targets FILE)", data, ld->data.cols,
            (long long)nout);
}

void cli_free_data(cli_data *ld)
{
    bnn_table_close(&ld->data);
    if (ld->has_targets)
        bnn_table_close(&ld->targets);
}

/* Rows per block when streaming a table of width columns out: at most 16 MiB of floats and
 * 65536 rows, at least one row, never more than n. */
size_t cli_rows_per_block(size_t width, size_t n)
{
    size_t rows = ((size_t)16 << 20) / (sizeof(float) * (width ? width : 1));
    rows = rows < 1 ? 1 : rows > 65536 ? 65536 : rows;
    return n && rows > n ? n : rows;
}

/* Loads a model file for a command. A file without "activations" metadata (exported from
 * elsewhere) takes --act, or sigmoid with a warning when --act is not given; a file with them
 * and a different --act is a command-line conflict (like a conflicting --arch). */
void cli_load_model(bnn_model *m, const char *path, const char *act, const char *opt_name)
{
    bnn_error e;
    char acts_meta[4096];
    int r = bnn_model_read_meta(path, "activations", acts_meta, sizeof acts_meta, &e);
    if (r < 0)
        cli_die(1, "%s", e.msg);
    char note[512];
    if (bnn_model_load_note(m, path, act, note, sizeof note, &e) != 0)
        cli_die(1, "%s", e.msg);
    if (note[0]) /* e.g. an nn.Sequential's names mapped to layers */
        fprintf(stderr, "batchnn: note: %s\n", note);
    if (r == 1 && !act) {
        fprintf(stderr, "batchnn: warning: %s has no \"activations\" metadata; taking sigmoid "
                        "for every layer (give --act to choose)\n", path);
    } else if (r == 0 && act) {
        char widths[4096], have[4096], want[4096];
        bnn_arch asked;
        bnn_arch_format(&m->arch, widths, sizeof widths, have, sizeof have);
        if (bnn_arch_parse(&asked, widths, act, 1, &e) != 0)
            cli_die(EXIT_USAGE, "--act %s: %s", act, e.msg);
        bnn_arch_format(&asked, widths, sizeof widths, want, sizeof want);
        if (strcmp(have, want) != 0)
            cli_die(EXIT_USAGE, "--act %s conflicts with %s %s, whose activations are %s", act,
                    opt_name, path, have);
    }
}

void cli_model_from_opts(bnn_model *m, const char *cmd, cli_opt *opts)
{
    bnn_error e;
    bnn_arch a;
    const char *arch = cli_opt_str(opts, "arch", NULL);
    if (!arch)
        cli_die(EXIT_USAGE, "%s: --arch is required (e.g. --arch 2,16,1), or --init MODEL", cmd);
    if (bnn_arch_parse(&a, arch, cli_opt_str(opts, "act", NULL), !cli_opt_flag(opts, "no-bias"),
                       &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    if (bnn_model_init(m, &a, &e) != 0)
        cli_die(1, "%s", e.msg);
}

void cli_model_on_data_opts(cli_model_on_data *r, const char *cmd, cli_opt *opts)
{
    r->model = cli_opt_str(opts, "model", NULL);
    r->data = cli_opt_str(opts, "data", NULL);
    if (!r->model || !r->data)
        cli_die(EXIT_USAGE, "%s: --model MODEL and --data FILE are required", cmd);
    r->threads = (int)cli_parse_u64("threads", cli_opt_str(opts, "threads", "0"), 0, 4096);
    r->samples = (size_t)cli_parse_u64("samples", cli_opt_str(opts, "samples", "0"), 0,
                                       SIZE_MAX);
}
