/*
 * progress.c - the progress meter of `batchnn train` on stderr: a live line rewritten in
 * place on a terminal (every 0.1 s), a line every 5 s otherwise, and always the last epoch.
 */
#include <stdio.h>
#include <unistd.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

void cli_progress_start(cli_progress *p, size_t n, int first_epoch, int epochs, int quiet)
{
    p->n = n;
    p->first_epoch = first_epoch;
    p->epochs = epochs;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->last_print = bnn_now_seconds();
    p->epochs_done = 0;
    p->train_seconds = 0;
    p->last_loss = 0;
}

const char *cli_progress_clear(const cli_progress *p)
{
    return p->tty && !p->quiet ? "\r\033[K" : "";
}

void cli_progress_epoch(cli_progress *p, int epoch, double loss, double seconds,
                        const char *extra)
{
    p->last_loss = loss;
    p->train_seconds += seconds;
    p->epochs_done++;
    double now = bnn_now_seconds();
    int last = epoch == p->first_epoch + p->epochs;
    if (p->quiet || !(last || now - p->last_print >= (p->tty ? 0.1 : 5.0)))
        return;
    double rate = (double)p->n * p->epochs_done / p->train_seconds;
    double eta = (p->epochs - p->epochs_done) * (p->train_seconds / p->epochs_done);
    fprintf(stderr, "%sepoch %d/%d  loss %.6g%s  %.3g samples/s  ETA %.1fs%s",
            p->tty ? "\r\033[K" : "", epoch, p->first_epoch + p->epochs, loss, extra, rate, eta,
            p->tty ? "" : "\n");
    if (p->tty && last)
        fputc('\n', stderr);
    fflush(stderr);
    p->last_print = now;
}
