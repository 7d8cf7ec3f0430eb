/*
 * train_outputs.c - what a run of `batchnn train` writes (train_run.h): the callbacks of
 * bnn_train (the --log row, the --plot losses, checkpoints, the progress meter, the stop
 * signal polled after each step and agreed at each epoch's end), --log opened in place
 * (cli_train_open_outputs), the line announcing the run before training (cli_train_announce),
 * the outputs written after it (cli_train_write_outputs: every one attempted) and the summary
 * on stdout (cli_train_report). train.c parses, loads and runs.
 */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "train/bnn_train_internal.h"
#include "cli.h"
#include "train_run.h"

static void add_meta(train_ctx *c, const char *key, const char *value)
{
    if (c->nmeta == MAX_META)
        cli_die(1, "internal error: too many checkpoint metadata keys");
    c->meta_keys[c->nmeta] = key;
    c->meta_vals[c->nmeta++] = value;
}

/* Writes the checkpoint. A failure is reported and training goes on (the next checkpoint may
 * succeed); the run then exits non-zero at the end. */
static int on_checkpoint(void *p, int epoch, const bnn_model *m, bnn_error *unused)
{
    (void)unused;
    train_ctx *c = p;
    bnn_error e;
    if (bnn_dist_rank() != 0) { /* under mpirun rank 0 alone writes */
        c->last_checkpoint = epoch;
        return 0;
    }
    snprintf(c->epoch_buf, sizeof c->epoch_buf, "%d", epoch);
    c->meta_vals[0] = c->epoch_buf; /* meta_keys[0] is "epoch" */
    int n = c->nmeta;
    if (c->to) /* the optimizer's step count and settings, its buffers as tensors */
        n += cli_train_meta(c->to, c->to->state, c->rs, c->meta_keys + n, c->meta_vals + n,
                            c->meta_buf, sizeof c->meta_buf);
    if (bnn_checkpoint_save(m, c->to ? c->to->state : NULL, c->checkpoint, c->meta_keys,
                            c->meta_vals, n, &e) != 0) {
        fprintf(stderr, "%sbatchnn: --checkpoint %s (epoch %d); training goes on\n",
                cli_progress_clear(&c->progress), e.msg, epoch);
        c->checkpoint_failures++;
    } else {
        c->last_checkpoint = epoch;
    }
    return 0;
}

static int on_epoch_stats(void *p, const bnn_epoch_stats *s)
{
    train_ctx *c = p;
    cli_log_extra(c->log_extra, sizeof c->log_extra, s, c->validating, c->to->loss);
    cli_progress_extra(c->progress_extra, sizeof c->progress_extra, s, c->validating,
                       c->to->loss);
    c->val_loss = s->val_loss;
    return 0;
}

/* Grows the --plot arrays; on failure the plot simply ends earlier. */
static void keep_loss(train_ctx *c, double loss)
{
    if (c->nlosses == c->caplosses) {
        size_t cap = c->caplosses ? 2 * c->caplosses : 1024;
        double *nl = realloc(c->losses, cap * sizeof *nl);
        if (nl)
            c->losses = nl;
        double *nv = nl ? realloc(c->val_losses, cap * sizeof *nv) : NULL;
        if (nv) {
            c->val_losses = nv;
            c->caplosses = cap;
        }
    }
    if (c->nlosses < c->caplosses) {
        c->val_losses[c->nlosses] = c->val_loss;
        c->losses[c->nlosses++] = loss;
    }
}

static int on_epoch(void *p, int epoch, double loss, double seconds)
{
    train_ctx *c = p;
    if (c->log && !c->log_failed) { /* a row per epoch, flushed: tail -f follows the run */
        errno = 0;
        if (fprintf(c->log, "%d,%.9g,%.9g%s\n", epoch, loss, seconds, c->log_extra) < 0 ||
            fflush(c->log) != 0) {
            c->log_failed = 1;
            c->log_errno = errno ? errno : EIO;
            fprintf(stderr, "%sbatchnn: --log %s: cannot write: %s; training goes on\n",
                    cli_progress_clear(&c->progress), c->log_path, strerror(c->log_errno));
        }
    }
    keep_loss(c, loss);
    cli_progress_epoch(&c->progress, epoch, loss, seconds, c->progress_extra);
    /* under mpirun a signal reaches the ranks at different moments: they agree here, at the
     * epoch's end, so that all stop after the same epoch */
    const int sig = bnn_dist_max_int(cli_stop_signal());
    cli_stop_note(sig);
    return sig ? 1 : 0;
}

/* Training polls the stop signal after every step (the ranks agree on it there). */
static int should_stop(void *unused)
{
    (void)unused;
    return cli_stop_signal();
}

/* Opens --log in place. A fresh run starts it anew; a resumed run keeps the header and the
 * rows up to the checkpoint's epoch (rows a killed run wrote after it are dropped) and
 * appends, so the log reads as one run. */
static int open_log(bnn_outfile *lf, const char *path, int resume_epoch,
                    const bnn_train_opts *to)
{
    bnn_error e;
    char header[160];
    cli_log_header(header, sizeof header - 1, to->val != NULL, to->loss);
    strcat(header, "\n");
    if (bnn_outfile_open_inplace(lf, path, &e) != 0)
        cli_die(1, "--log %s", e.msg);
    FILE *f = lf->fp;
    off_t keep = 0;
    if (lf->regular && resume_epoch > 0) {
        FILE *in = fopen(lf->target, "rb");
        char line[256];
        if (in && fgets(line, sizeof line, in) && strcmp(line, header) == 0) {
            keep = (off_t)strlen(header);
            while (fgets(line, sizeof line, in)) {
                char *end;
                long ep = strtol(line, &end, 10);
                if (end == line || *end != ',' || ep > resume_epoch || !strchr(line, '\n'))
                    break;
                keep += (off_t)strlen(line);
            }
        }
        if (in)
            fclose(in);
    }
    int err = 0;
    if (lf->regular && (ftruncate(fileno(f), keep) != 0 || fseeko(f, keep, SEEK_SET) != 0))
        err = errno;
    if (!err && keep == 0 && (fputs(header, f) < 0 || fflush(f) != 0))
        err = errno ? errno : EIO;
    return err;
}

/* The callbacks and what they write: the best model (--patience with --save), checkpoints,
 * the log (opened now), the progress meter. */
void cli_train_open_outputs(train_run *r)
{
    bnn_train_opts *to = &r->to;
    train_ctx *ctx = &r->ctx;
    bnn_error e;
    to->state = &r->state;
    if (to->val && to->patience && r->save) { /* --save holds the best model */
        if (bnn_model_init(&r->best, &r->model.arch, &e) != 0)
            cli_die(1, "%s", e.msg);
        memcpy(r->best.theta, r->model.theta, r->model.nparams * sizeof *r->best.theta);
        to->best = &r->best;
        to->best_epoch = &r->best_epoch;
    }
    ctx->to = to;
    ctx->rs = r->rs;
    ctx->validating = to->val != NULL;
    to->on_epoch_stats = on_epoch_stats;
    to->total_epochs = to->epochs;
    to->start_epoch = r->done_epochs;
    to->epochs -= r->done_epochs;
    ctx->last_checkpoint = r->done_epochs;
    if (r->checkpoint) {
        ctx->checkpoint = r->checkpoint;
        add_meta(ctx, "epoch", NULL); /* filled in per checkpoint */
        add_meta(ctx, "samples", r->nbuf);
        add_meta(ctx, "data", r->ld.data.name);
        to->checkpoint_every = r->every;
        to->on_checkpoint = on_checkpoint;
    }
    if (r->log) {
        int err = open_log(&r->logf, r->log, r->done_epochs, to);
        ctx->log = r->logf.fp;
        ctx->log_path = r->log;
        if (err) { /* a full disk: say so now, train anyway, write the other outputs */
            fprintf(stderr, "batchnn: --log %s: cannot write: %s; training goes on\n", r->log,
                    strerror(err));
            ctx->log_failed = 1;
        }
    }
    cli_progress_start(&ctx->progress, r->ld.d.n, r->done_epochs, to->epochs, r->quiet);
    to->on_epoch = on_epoch;
    to->should_stop = should_stop;
    to->ctx = ctx;
    r->threads = omp_get_max_threads(); /* --threads, or all CPUs (cli_parse_threads) */
}

/* Before training (not --quiet): warnings, then one line saying what is trained and how. */
void cli_train_announce(const train_run *r)
{
    const bnn_train_opts *to = &r->to;
    const int threads = r->threads;
    if (r->quiet)
        return;
    /* omp_get_num_procs counts the CPUs this process may run on (its affinity mask): more
     * threads than that share cores, e.g. under mpirun, which binds a rank to one core when it
     * starts 2 ranks or fewer */
    if (threads > omp_get_num_procs())
        fprintf(stderr,
                "batchnn: warning: --threads %d but this process may run on %d CPU%s only (its "
                "affinity mask)%s\n",
                threads, omp_get_num_procs(), omp_get_num_procs() == 1 ? "" : "s",
                bnn_dist_size() > 1 || getenv("OMPI_COMM_WORLD_SIZE")
                    ? "; under mpirun give each rank its cores: --bind-to none or --map-by "
                      "slot:PE=T"
                    : "");
    if (r->arch_note[0])
        fprintf(stderr, "batchnn: %s\n", r->arch_note);
    const bnn_arch *a = &r->model.arch;
    char w[4096], acts[4096], batch[48];
    bnn_arch_format(a, w, sizeof w, acts, sizeof acts);
    if (to->batch && to->batch < r->ld.d.n)
        snprintf(batch, sizeof batch, "mini-batches of %zu", to->batch);
    else
        snprintf(batch, sizeof batch, "full batch");
    fprintf(stderr,
            "batchnn: %s (%s%s), %zu parameters; %zu samples of %s%s; %d epoch%s, lr %g, "
            "%s%s; %s, loss %s; gradient %s, engine %s, %s, %d thread%s\n",
            w, acts, a->bias[0] ? "" : ", no bias", r->model.nparams, r->ld.d.n,
            r->ld.data.name, to->val ? " (+ validation)" : "", to->epochs,
            to->epochs == 1 ? "" : "s", to->lr, batch, to->shuffle ? ", shuffled" : "",
            bnn_optim_name(to->optim.kind), bnn_loss_name(to->loss),
            bnn_gradient_name(to->gradient), bnn_engine_kind_name(to->engine), bnn_engine_isa(),
            threads, threads == 1 ? "" : "s");
    /* batches too small to cut into pieces are not shared by the ranks: say so */
    size_t piece = 0;
    const size_t whole = bnn_dist_size() > 1 && to->batch && to->batch < r->ld.d.n
                             ? bnn_engine_whole_max(a, to->engine, to->gradient, to->loss, &piece)
                             : 0;
    if (whole && to->batch <= whole && piece)
        fprintf(stderr,
                "batchnn: note: mini-batches of up to %zu samples are computed whole by every "
                "rank (fewer than 2 pieces of %zu: more ranks do not speed them up); larger "
                "ones are cut into pieces the ranks share\n",
                whole, piece);
    else if (whole && to->batch <= whole)
        fprintf(stderr,
                "batchnn: note: mini-batches of up to %zu samples are computed whole by every "
                "rank (more ranks do not speed them up); larger ones are shared\n",
                whole);
}

/* Every output is attempted; a failure is reported and the others are still written. --save
 * and the final checkpoint are not written after an error (rc != 0): the weights are not
 * trustworthy. Returns 1 when an output (or the run) failed. */
int cli_train_write_outputs(train_run *r, int rc, const bnn_error *e, int last_epoch)
{
    train_ctx *ctx = &r->ctx;
    int failed = 0;
    bnn_error e2;
    if (r->log) {
        if (ctx->log_failed) {
            bnn_outfile_abort(&r->logf);
            failed = 1;
        } else if (bnn_outfile_commit(&r->logf, &e2) != 0) {
            fprintf(stderr, "batchnn: --log %s\n", e2.msg);
            failed = 1;
        }
    }
    if (r->plot && cli_plot_write(r->plot, ctx->losses, ctx->validating ? ctx->val_losses : NULL,
                                  ctx->nlosses, r->done_epochs, r->plot_scale, &e2) != 0) {
        fprintf(stderr, "batchnn: --plot %s\n", e2.msg);
        failed = 1;
    }
    if (rc != 0) {
        cli_error("%s", cli_train_msg(cli_engine_msg(e->msg)));
        return 1;
    }
    const char *loss_key = "loss", *loss_val = bnn_loss_name(r->to.loss);
    bnn_model out = r->to.best && r->best_epoch ? r->best : r->model; /* a view: not freed */
    out.in_mean = r->model.in_mean; /* the scaler it was trained with */
    out.in_std = r->model.in_std;
    if (r->save && bnn_model_save_meta(&out, r->save, &loss_key, &loss_val, 1, &e2) != 0) {
        fprintf(stderr, "batchnn: --save %s\n", e2.msg);
        failed = 1;
    }
    /* a final checkpoint, unless the last epoch just wrote one */
    if (r->checkpoint && ctx->progress.epochs_done > 0 && ctx->last_checkpoint != last_epoch)
        on_checkpoint(ctx, last_epoch, &r->model, NULL);
    if (ctx->checkpoint_failures) {
        fprintf(stderr, "batchnn: --checkpoint %s: %d checkpoint%s could not be written%s\n",
                r->checkpoint, ctx->checkpoint_failures, ctx->checkpoint_failures == 1 ? "" : "s",
                ctx->last_checkpoint == last_epoch ? " (the final one was)" : "");
        failed = 1;
    }
    return failed;
}

/* The summary on stdout (not --quiet, after a run without error): epochs, time, final loss,
 * speed, peak memory, where the model went. */
void cli_train_report(const train_run *r, double final_loss, int interrupted, int failed)
{
    const int done = r->ctx.progress.epochs_done;
    const double secs = r->ctx.progress.train_seconds;
    const int threads = r->threads;
    double rate = secs > 0 ? (double)r->ld.d.n * done / secs : 0.0;
    /* the peak resident memory so far (Linux: ru_maxrss in KiB): flat in n when the data
     * is streamed or mapped in windows */
    struct rusage ru;
    char rss[48] = "";
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) {
        char b[32];
        snprintf(rss, sizeof rss, ", peak RSS %s",
                 bnn_format_bytes((size_t)ru.ru_maxrss * 1024, b, sizeof b));
    }
    char fl[48] = "not computed (stopped)";
    if (!interrupted)
        snprintf(fl, sizeof fl, "%.9g", final_loss);
    const int best = r->to.best && r->best_epoch, saved = r->save && !failed;
    printf("trained %d epoch%s in %.3f s: final loss %s, %.4g samples/s, %.4g ms/epoch "
           "(%s, %d thread%s%s)%s%s\n",
           done, done == 1 ? "" : "s", secs, fl, rate, done ? 1e3 * secs / done : 0.0,
           bnn_engine_isa(), threads, threads == 1 ? "" : "s", rss,
           saved && !best ? ", saved to " : "", saved && !best ? r->save : "");
    if (saved && best)
        printf("best validation loss at epoch %d: that model is saved to %s\n", r->best_epoch,
               r->save);
}
