/*
 * arch_auto.c - `train --hidden H1,H2,..` and `--arch auto,H1,..,auto`: the input and output
 * widths taken from the data, so that a classification run need not restate them.
 *
 * The rule (README "Classification"):
 *   --hidden H1,..,Hk is --arch auto,H1,..,Hk,auto;
 *   with --targets FILE: inputs = the data's columns; outputs = the targets' columns, or for
 *     a single column of whole numbers 0..L (L >= 1), L + 1 classes (a label column);
 *   with one data file: an "auto" output width means the last column is a label column:
 *     inputs = columns - 1, outputs = the largest label + 1 (labels must be whole numbers
 *     >= 0); a given output width K means the last K columns are the targets (inputs =
 *     columns - K): write the output width for regression or one-hot targets.
 * Only data files: a synthetic set takes the widths it is given.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

/* The largest label of column col of t (rows limited to samples when given), or -1 when a
 * value is not a whole number >= 0 (*row then names it, 1-based). */
static double largest_label(const bnn_table *t, size_t col, size_t rows, size_t *row)
{
    float buf[4096];
    double top = 0;
    bnn_error e;
    for (size_t r0 = 0; r0 < rows; r0 += 4096) {
        const size_t cnt = rows - r0 < 4096 ? rows - r0 : 4096;
        if (bnn_table_read(t, r0, cnt, col, 1, buf, 1, &e) != 0)
            cli_die(1, "%s", e.msg);
        for (size_t i = 0; i < cnt; i++) {
            const float v = buf[i];
            if (!(v >= 0.0f && v == floorf(v) && v < 16777216.0f)) {
                *row = r0 + i + 1;
                return -1;
            }
            if (v > top)
                top = v;
        }
    }
    return top;
}

static void open_or_die(bnn_table *t, const char *path)
{
    bnn_error e;
    if (bnn_table_open(t, path, &e) != 0)
        cli_die(1, "%s", e.msg);
}

/* Splits "a,b,c" into at most max fields; returns the count. */
static int fields(char *s, char **f, int max)
{
    int n = 0;
    for (char *p = s; n < max;) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = '\0';
    }
    return n;
}

int cli_arch_auto(cli_opt *opts, const char *data, const char *targets, size_t samples,
                  char *out, size_t len, char *note, size_t nlen)
{
    const char *how = "";
    const char *hidden = cli_opt_str(opts, "hidden", NULL), *arch = cli_opt_str(opts, "arch", NULL);
    if (hidden && arch)
        cli_die(EXIT_USAGE, "train: --hidden and --arch cannot be combined (--hidden H is --arch "
                            "auto,H,auto)");
    char spec[4096];
    if (hidden)
        snprintf(spec, sizeof spec, "auto,%s,auto", hidden);
    else if (arch && strstr(arch, "auto"))
        snprintf(spec, sizeof spec, "%s", arch);
    else
        return 0;
    const char *opt = hidden ? "--hidden" : "--arch";
    const char *given = hidden ? hidden : arch;
    if (strncmp(data, "synth:", 6) == 0)
        cli_die(EXIT_USAGE, "%s %s: the widths come from a data file; a synthetic set needs "
                            "them given (--arch W0,...,Wm)", opt, given);
    char *f[258];
    const int nf = fields(spec, f, 258);
    for (int i = 1; i + 1 < nf; i++)
        if (strcmp(f[i], "auto") == 0)
            cli_die(EXIT_USAGE, "%s %s: only the first (inputs) and last (outputs) widths can be "
                                "auto", opt, given);
    if (nf < 2)
        cli_die(EXIT_USAGE, "%s %s: needs at least the inputs and outputs", opt, given);
    const int in_auto = strcmp(f[0], "auto") == 0, out_auto = strcmp(f[nf - 1], "auto") == 0;
    long long nout = 0, nin = 0;
    if (!out_auto) {
        char *end;
        nout = strtoll(f[nf - 1], &end, 10);
        if (end == f[nf - 1] || *end || nout < 1)
            cli_die(EXIT_USAGE, "%s %s: the output width '%s' is not auto or a whole number >= 1",
                    opt, given, f[nf - 1]);
    }
    bnn_table dt, tt;
    open_or_die(&dt, data);
    const size_t rows = samples && samples < dt.rows ? samples : dt.rows;
    size_t bad = 0;
    if (targets) {
        open_or_die(&tt, targets);
        const size_t trows = samples && samples < tt.rows ? samples : tt.rows;
        nin = (long long)dt.cols;
        if (out_auto && tt.cols > 1) {
            nout = (long long)tt.cols;
            how = "the targets' columns";
        } else if (out_auto) {
            const double top = largest_label(&tt, 0, trows, &bad);
            nout = top >= 1 ? (long long)top + 1 : 1; /* whole numbers 0..L: L + 1 classes */
            how = nout > 1 ? "the targets' largest label + 1" : "one target column";
        }
        bnn_table_close(&tt);
    } else {
        if (dt.cols < 2)
            cli_die(1, "%s: %zu column; %s %s needs inputs and targets on each row", data,
                    dt.cols, opt, given);
        if (out_auto) {
            const double top = largest_label(&dt, dt.cols - 1, rows, &bad);
            if (top < 0)
                cli_die(1, "%s: row %zu: the last column is not a class label (a whole number "
                           ">= 0), so %s %s cannot count the classes: give the output width "
                           "(e.g. --arch auto,...,1 for one target)", data, bad, opt, given);
            nout = (long long)top + 1;
            nin = (long long)dt.cols - 1;
            how = "the last column's largest label + 1";
        } else {
            nin = (long long)dt.cols - nout;
            if (nin < 1)
                cli_die(1, "%s: %zu columns leave no inputs for %lld targets", data, dt.cols,
                        nout);
        }
    }
    bnn_table_close(&dt);
    if (out_auto && nout < 2 && !targets)
        cli_die(1, "%s: every label is 0: %s %s finds one class only", data, opt, given);
    size_t k = (size_t)snprintf(out, len, "%lld", in_auto ? nin : strtoll(f[0], NULL, 10));
    for (int i = 1; i + 1 < nf && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, ",%s", f[i]);
    if (k < len)
        snprintf(out + k, len - k, ",%lld", nout);
    snprintf(note, nlen, "%s %s: %lld inputs%s, %lld outputs%s%s%s", opt, given, nin,
             !in_auto ? "" : targets ? " (the data's columns)" : out_auto
                 ? " (the data's columns but the last)" : " (the data's columns but the targets')", nout, out_auto ? " (" : "",
             out_auto ? how : "", out_auto ? ")" : "");
    return 1;
}
