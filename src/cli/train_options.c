/*
 * train_options.c - the training options of `batchnn train` (optimizer, schedule, loss,
 * shuffling, validation split and patience): parsing with one-line errors (exit 2) naming the
 * value, the --log columns they add, and the optimizer state in checkpoints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_internal.h"
#include "cli.h"


static double num(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        cli_die(EXIT_USAGE, "--%s: '%s' is not a finite number", name, s);
    if (v < 0)
        cli_die(EXIT_USAGE, "--%s: %s is negative", name, s);
    return v;
}

void cli_training_options(const cli_train_strings *s, const bnn_arch *a, bnn_train_opts *to)
{
    bnn_error e;
    bnn_optim_opts *o = &to->optim;
    bnn_optim_opts_default(o);
    if (s->optimizer && bnn_optim_parse(s->optimizer, &o->kind) != 0)
        cli_die(EXIT_USAGE, "--optimizer: '%s' is not sgd, momentum, nesterov, adam or adamw",
                s->optimizer);
    if (s->momentum)
        o->momentum = num("momentum", s->momentum);
    if (s->beta1) {
        o->beta1 = num("beta1", s->beta1);
        if (o->beta1 >= 1)
            cli_die(EXIT_USAGE, "--beta1: %s is not below 1", s->beta1);
    }
    if (s->beta2) {
        o->beta2 = num("beta2", s->beta2);
        if (o->beta2 >= 1)
            cli_die(EXIT_USAGE, "--beta2: %s is not below 1", s->beta2);
    }
    if (s->adam_eps)
        o->eps = num("adam-eps", s->adam_eps);
    if (s->weight_decay)
        o->weight_decay = num("weight-decay", s->weight_decay);
    const int moment = o->kind == BNN_OPT_MOMENTUM || o->kind == BNN_OPT_NESTEROV;
    const int adam = o->kind == BNN_OPT_ADAM || o->kind == BNN_OPT_ADAMW;
    if (s->momentum && !moment)
        cli_die(EXIT_USAGE, "--momentum %s needs --optimizer momentum or nesterov", s->momentum);
    if ((s->beta1 || s->beta2 || s->adam_eps) && !adam)
        cli_die(EXIT_USAGE, "--%s needs --optimizer adam or adamw",
                s->beta1 ? "beta1" : s->beta2 ? "beta2" : "adam-eps");
    if (bnn_optim_check(o, &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    if (s->lr_schedule && bnn_schedule_parse(s->lr_schedule, &to->schedule, &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    if (s->loss && bnn_loss_parse(s->loss, &to->loss) != 0)
        cli_die(EXIT_USAGE, "--loss: '%s' is not mse, cross-entropy or bce", s->loss);
    if (bnn_loss_check(a, to->loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", e.msg);
    if (to->loss != BNN_LOSS_MSE && to->gradient == BNN_GRAD_SEED)
        cli_die(EXIT_USAGE, "--gradient seed is the notes' recursion for the squared error; "
                            "--loss %s needs --gradient exact", bnn_loss_name(to->loss));
    to->shuffle = s->shuffle;
    if (s->patience)
        to->patience = (int)cli_parse_u64("patience", s->patience, 1, 1000000000);
}

double cli_val_split(const char *s)
{
    char *end;
    double f = strtod(s, &end);
    if (end == s || *end != '\0' || !(f > 0 && f < 1))
        cli_die(EXIT_USAGE, "--val-split: '%s' is not a fraction strictly between 0 and 1", s);
    return f;
}

void cli_log_header(char *buf, size_t len, int validating, bnn_loss loss)
{
    snprintf(buf, len, "epoch,loss,seconds,lr%s%s%s", validating ? ",val_loss" : "",
             loss != BNN_LOSS_MSE ? ",accuracy" : "",
             loss != BNN_LOSS_MSE && validating ? ",val_accuracy" : "");
}

void cli_log_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                   bnn_loss loss)
{
    size_t k = (size_t)snprintf(buf, len, ",%.9g", s->lr);
    if (validating && k < len)
        k += (size_t)snprintf(buf + k, len - k, ",%.9g", s->val_loss);
    if (loss != BNN_LOSS_MSE && k < len)
        k += (size_t)snprintf(buf + k, len - k, ",%.9g", s->accuracy);
    if (loss != BNN_LOSS_MSE && validating && k < len)
        snprintf(buf + k, len - k, ",%.9g", s->val_accuracy);
}

void cli_progress_extra(char *buf, size_t len, const bnn_epoch_stats *s, int validating,
                        bnn_loss loss)
{
    size_t k = 0;
    buf[0] = '\0';
    if (loss != BNN_LOSS_MSE)
        k += (size_t)snprintf(buf, len, "  acc %.4f", s->accuracy);
    if (validating && k < len)
        k += (size_t)snprintf(buf + k, len - k, "  val_loss %.6g%s", s->val_loss,
                              s->best ? "*" : "");
    if (validating && loss != BNN_LOSS_MSE && k < len)
        snprintf(buf + k, len - k, "  val_acc %.4f", s->val_accuracy);
}

int cli_train_meta(const bnn_train_opts *to, const bnn_optim_state *st, const char **keys,
                   const char **values, char *buf, size_t len)
{
    const bnn_optim_opts *o = &to->optim;
    char sched[128];
    bnn_schedule_format(&to->schedule, sched, sizeof sched);
    int n = 0;
    size_t used = 0;
#define META(key, ...)                                                                         \
    do {                                                                                       \
        int w = snprintf(buf + used, len - used, __VA_ARGS__);                                 \
        if (w < 0 || (size_t)w >= len - used)                                                  \
            return n;                                                                          \
        keys[n] = key;                                                                         \
        values[n++] = buf + used;                                                              \
        used += (size_t)w + 1;                                                                 \
    } while (0)
    META("loss", "%s", bnn_loss_name(to->loss));
    META("optimizer", "%s", bnn_optim_name(o->kind));
    META("optimizer.step", "%llu", (unsigned long long)(st ? st->step : 0));
    META("optimizer.momentum", "%.17g", o->momentum);
    META("optimizer.beta1", "%.17g", o->beta1);
    META("optimizer.beta2", "%.17g", o->beta2);
    META("optimizer.eps", "%.17g", o->eps);
    META("optimizer.weight_decay", "%.17g", o->weight_decay);
    META("lr_schedule", "%s", sched);
    META("shuffle", "%d", to->shuffle ? 1 : 0);
#undef META
    return n;
}

void cli_resume_check(const char *path, const bnn_train_opts *to)
{
    bnn_error e;
    char buf[256];
    const char *opt = bnn_optim_name(to->optim.kind), *loss = bnn_loss_name(to->loss);
    /* a checkpoint without these keys predates them: sgd on mse */
    int r = bnn_model_read_meta(path, "optimizer", buf, sizeof buf, &e);
    if (r < 0)
        cli_die(1, "--resume %s", e.msg);
    if (strcmp(r == 0 ? buf : "sgd", opt) != 0)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained with --optimizer %s, this run "
                            "asks for --optimizer %s", path, r == 0 ? buf : "sgd", opt);
    r = bnn_model_read_meta(path, "loss", buf, sizeof buf, &e);
    if (r < 0)
        cli_die(1, "--resume %s", e.msg);
    if (strcmp(r == 0 ? buf : "mse", loss) != 0)
        cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained with --loss %s, this run asks "
                            "for --loss %s", path, r == 0 ? buf : "mse", loss);
}

uint64_t cli_resume_step(const char *path)
{
    bnn_error e;
    char buf[64];
    int r = bnn_model_read_meta(path, "optimizer.step", buf, sizeof buf, &e);
    if (r < 0)
        cli_die(1, "--resume %s", e.msg);
    if (r != 0)
        return 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end)
        cli_die(1, "--resume %s: \"optimizer.step\" '%s' is not a whole number", path, buf);
    return v;
}

bnn_loss cli_model_loss(const char *path, const char *given)
{
    bnn_error e;
    bnn_loss l = BNN_LOSS_MSE;
    if (given) {
        if (bnn_loss_parse(given, &l) != 0)
            cli_die(EXIT_USAGE, "--loss: '%s' is not mse, cross-entropy or bce", given);
        return l;
    }
    char buf[64];
    int r = bnn_model_read_meta(path, "loss", buf, sizeof buf, &e);
    if (r < 0)
        cli_die(1, "%s", e.msg);
    if (r == 0 && bnn_loss_parse(buf, &l) != 0)
        cli_die(1, "%s: unknown loss '%s' in __metadata__", path, buf);
    return l;
}

int64_t cli_predict_transform(float *buf, size_t rows, int64_t nout, bnn_loss loss, int proba,
                              int classes)
{
    const size_t k = (size_t)nout;
    if (loss == BNN_LOSS_CE && (proba || classes)) {
        for (size_t i = 0; i < rows; i++) {
            float *z = buf + i * k;
            size_t best = 0;
            for (size_t j = 1; j < k; j++)
                if (z[j] > z[best])
                    best = j;
            if (classes) {
                buf[i] = (float)best; /* one column: rows shrink in place, in order */
                continue;
            }
            const float mx = z[best];
            float s = 0.0f;
            for (size_t j = 0; j < k; j++)
                s += expf(z[j] - mx);
            for (size_t j = 0; j < k; j++)
                z[j] = expf(z[j] - mx) / s;
        }
        return classes ? 1 : nout;
    }
    if (loss == BNN_LOSS_BCE && (proba || classes))
        for (size_t i = 0; i < rows * k; i++) {
            const float z = buf[i], u = expf(-fabsf(z));
            buf[i] = classes ? (float)(z > 0.0f) : (z >= 0.0f ? 1.0f : u) / (1.0f + u);
        }
    return nout;
}
