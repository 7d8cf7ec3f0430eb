/*
 * train_options.c - the training options of `batchnn train` (optimizer, schedule, loss,
 * shuffling, validation split and patience): parsing with one-line errors (exit 2) naming the
 * value, the --log columns they add, and the settings that define a run: one table
 * (run_settings) writes them into checkpoints and takes them back on --resume (the checkpoint's
 * value when the option is not given; a different one refused; an invalid one "bad metadata").
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bnn_train_internal.h"
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
        cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
    if (s->lr_schedule && bnn_schedule_parse(s->lr_schedule, &to->schedule, &e) != 0)
        cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
    if (s->loss && bnn_loss_parse(s->loss, &to->loss) != 0)
        cli_die(EXIT_USAGE, "--loss: '%s' is not mse, cross-entropy or bce", s->loss);
    if (bnn_loss_check(a, to->loss, &e) != 0)
        cli_die(EXIT_USAGE, "%s", cli_flag_msg(e.msg));
    if (to->loss != BNN_LOSS_MSE && to->gradient == BNN_GRAD_SEED)
        cli_die(EXIT_USAGE, "--gradient seed is the notes' recursion for the squared error; "
                            "--loss %s needs --gradient exact", bnn_loss_name(to->loss));
    to->shuffle = s->shuffle;
    if (s->patience)
        to->patience = (int)cli_parse_u64("patience", s->patience, 1, 1000000000);
}

/* "F" or "tail:F" (also "random:F"), F strictly between 0 and 1; -1 when it is not. */
static int parse_split(const char *s, double *f, int *tail)
{
    *tail = strncmp(s, "tail:", 5) == 0;
    if (*tail)
        s += 5;
    else if (strncmp(s, "random:", 7) == 0)
        s += 7;
    char *end;
    *f = strtod(s, &end);
    return end != s && *end == '\0' && *f > 0 && *f < 1 ? 0 : -1;
}

double cli_val_split(const char *s, int *tail)
{
    double f;
    if (parse_split(s, &f, tail) != 0)
        cli_die(EXIT_USAGE, "--val-split: '%s' is not a fraction strictly between 0 and 1 "
                            "(F, or tail:F for the last rows)", s);
    return f;
}

/* Classes present in a view of class targets (0 when the targets are not classes). */
static size_t classes_present(const bnn_data *d, size_t *counts)
{
    bnn_error e;
    int onehot = 0;
    if (d->nout < 2 || bnn_data_classes(d, NULL, counts, &onehot, &e) != 0 || !onehot)
        return 0;
    size_t k = 0;
    for (int64_t c = 0; c < d->nout; c++)
        k += counts[c] > 0;
    return k;
}

/* --val-split: d becomes the training part, *v the validation part. A random subset
 * (stratified by class when the targets are classes; src/data/split.c) or, with tail:F, the
 * last rows as before. A part that holds one class of several is warned about: early stopping
 * on it measures one class only (sorted data and a tail split). */
void cli_val_split_data(bnn_data *d, bnn_data *v, uint32_t **idx, double frac, int tail,
                        const char *opt, uint64_t seed, int lead)
{
    bnn_error e;
    int stratified = 0;
    if (tail) {
        const size_t nval = (size_t)(frac * (double)d->n + 0.5);
        if (nval < 1 || nval >= d->n)
            cli_die(1, "--val-split %s of %zu samples leaves %zu for validation and %zu for "
                       "training (each needs at least 1)", opt, d->n, nval, d->n - nval);
        *v = *d;
        v->row0 = d->n - nval;
        v->n = nval;
        d->n -= nval;
    } else {
        bnn_data all = *d;
        if (bnn_split_random(&all, frac, seed, d, v, idx, &stratified, &e) != 0)
            cli_die(1, "--val-split %s: %s", opt, e.msg);
    }
    /* a stratified split gives every class its share: only the others are counted (a pass
     * over each part, which stops at the first row that is not a class) */
    if (!lead || d->nout < 2 || stratified)
        return;
    size_t *counts = calloc((size_t)d->nout, sizeof *counts);
    if (!counts)
        return;
    const size_t kt = classes_present(d, counts), kv = classes_present(v, counts);
    const char *part = kv == 1 && kt > 1 ? "validation" : kt == 1 && kv > 1 ? "training" : NULL;
    if (part)
        fprintf(stderr, "batchnn: warning: --val-split %s: the %s part holds one class only%s\n",
                opt, part, tail ? " (sorted data? --val-split F draws a random, stratified "
                                  "subset)" : "");
    free(counts);
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

/* The settings that define a run. A checkpoint records each under key; --resume takes it from
 * there when the option is not given and refuses a different value naming both. One table
 * serves both, so an option cannot be recorded and forgotten on resume, or the reverse. */
typedef enum { RS_COUNT, RS_NUMBER, RS_WORD, RS_SCHEDULE, RS_FLAG, RS_SPLIT } rs_kind;
enum {
    SET_SEED, SET_LR, SET_BATCH, SET_GRADIENT, SET_ENGINE, SET_LOSS, SET_OPTIMIZER, SET_MOMENTUM,
    SET_BETA1, SET_BETA2, SET_EPS, SET_WEIGHT_DECAY, SET_SCHEDULE, SET_SHUFFLE, SET_SAMPLES,
    SET_VAL_SPLIT, SET_N
};
static const struct run_setting {
    const char *option, *key;
    rs_kind kind;
} run_settings[SET_N] = {
    [SET_SEED] = {"seed", "seed", RS_COUNT},
    [SET_LR] = {"lr", "lr", RS_NUMBER},
    [SET_BATCH] = {"batch", "batch", RS_COUNT},
    [SET_GRADIENT] = {"gradient", "gradient", RS_WORD},
    [SET_ENGINE] = {"engine", "engine", RS_WORD},
    [SET_LOSS] = {"loss", "loss", RS_WORD},
    [SET_OPTIMIZER] = {"optimizer", "optimizer", RS_WORD},
    [SET_MOMENTUM] = {"momentum", "optimizer.momentum", RS_NUMBER},
    [SET_BETA1] = {"beta1", "optimizer.beta1", RS_NUMBER},
    [SET_BETA2] = {"beta2", "optimizer.beta2", RS_NUMBER},
    [SET_EPS] = {"adam-eps", "optimizer.eps", RS_NUMBER},
    [SET_WEIGHT_DECAY] = {"weight-decay", "optimizer.weight_decay", RS_NUMBER},
    [SET_SCHEDULE] = {"lr-schedule", "lr_schedule", RS_SCHEDULE},
    [SET_SHUFFLE] = {"shuffle", "shuffle", RS_FLAG},
    /* the command line's own (not in bnn_train_opts); 0 stands for "not given". ("samples"
     * is the training set's size, checked on resume; "samples_option" is --samples.) */
    [SET_SAMPLES] = {"samples", "samples_option", RS_COUNT},
    [SET_VAL_SPLIT] = {"val-split", "val_split", RS_SPLIT},
};

_Static_assert(SET_N <= (int)(sizeof((cli_run_settings *)0)->value /
                          sizeof((cli_run_settings *)0)->value[0]), "cli_run_settings too small");

/* Setting id of to (or of rs, for the command line's own; rs NULL: their defaults) as the
 * checkpoint records it (numbers read back exactly). */
static void format_setting(int id, const bnn_train_opts *to, const cli_run_settings *rs,
                           char *buf, size_t len)
{
    const bnn_optim_opts *o = &to->optim;
    const char *given = rs ? rs->value[id] : NULL;
    double x = 0;
    switch (id) {
    case SET_SAMPLES: /* validated by the command before any checkpoint */
        snprintf(buf, len, "%llu",
                 given ? (unsigned long long)cli_parse_u64("samples", given, 0, UINT64_MAX) : 0ULL);
        return;
    case SET_VAL_SPLIT: { /* "F" (random) or "tail:F"; "0": none */
        int tail = 0;
        if (given && parse_split(given, &x, &tail) != 0)
            x = 0;
        char num[40];
        snprintf(num, sizeof num, "%.15g", x);
        if (strtod(num, NULL) != x)
            snprintf(num, sizeof num, "%.17g", x);
        snprintf(buf, len, "%s%s", tail && x > 0 ? "tail:" : "", num);
        return;
    }
    case SET_SEED: snprintf(buf, len, "%llu", (unsigned long long)to->seed); return;
    case SET_BATCH: snprintf(buf, len, "%zu", to->batch); return;
    case SET_GRADIENT: snprintf(buf, len, "%s", bnn_gradient_name(to->gradient)); return;
    case SET_ENGINE: snprintf(buf, len, "%s", bnn_engine_kind_name(to->engine)); return;
    case SET_LOSS: snprintf(buf, len, "%s", bnn_loss_name(to->loss)); return;
    case SET_OPTIMIZER: snprintf(buf, len, "%s", bnn_optim_name(o->kind)); return;
    case SET_SCHEDULE: bnn_schedule_format(&to->schedule, buf, len); return;
    case SET_SHUFFLE: snprintf(buf, len, "%d", to->shuffle ? 1 : 0); return;
    case SET_LR: x = to->lr; break;
    case SET_MOMENTUM: x = o->momentum; break;
    case SET_BETA1: x = o->beta1; break;
    case SET_BETA2: x = o->beta2; break;
    case SET_EPS: x = o->eps; break;
    case SET_WEIGHT_DECAY: x = o->weight_decay; break;
    }
    snprintf(buf, len, "%.15g", x); /* the shortest of 15..17 digits that reads back */
    if (strtod(buf, NULL) != x)
        snprintf(buf, len, "%.17g", x);
}

int cli_train_meta(const bnn_train_opts *to, const bnn_optim_state *st,
                   const cli_run_settings *rs, const char **keys, const char **values, char *buf,
                   size_t len)
{
    int n = 0;
    size_t used = 0;
    for (int id = -1; id < SET_N; id++) {
        if (len - used < 80)
            return n;
        if (id < 0) /* the optimizer's step count, then the settings */
            snprintf(buf + used, len - used, "%llu", (unsigned long long)(st ? st->step : 0));
        else
            format_setting(id, to, rs, buf + used, len - used);
        keys[n] = id < 0 ? "optimizer.step" : run_settings[id].key;
        values[n++] = buf + used;
        used += strlen(buf + used) + 1;
    }
    return n;
}

/* A whole number in plain decimal digits (metadata: no suffixes, no sign). */
static int plain_count(const char *s, unsigned long long *v)
{
    if (*s < '0' || *s > '9')
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    *v = strtoull(s, NULL, 10);
    return errno == 0;
}

/* The enum a word setting names, or -1. */
static int parse_word(int id, const char *s)
{
    int v = -1;
    bnn_gradient g;
    bnn_engine_kind en;
    bnn_loss l;
    bnn_optim_kind k;
    if (id == SET_GRADIENT && bnn_gradient_parse(s, &g) == 0)
        v = (int)g;
    else if (id == SET_ENGINE && bnn_engine_kind_parse(s, &en) == 0)
        v = (int)en;
    else if (id == SET_LOSS && bnn_loss_parse(s, &l) == 0)
        v = (int)l;
    else if (id == SET_OPTIMIZER && bnn_optim_parse(s, &k) == 0)
        v = (int)k;
    return v;
}

/* 1 when s is a valid value of setting id (as a checkpoint records it). */
static int valid_setting(int id, const char *s)
{
    unsigned long long u = 0;
    char *end;
    double x;
    bnn_schedule sc;
    bnn_error e;
    switch (run_settings[id].kind) {
    case RS_COUNT: return plain_count(s, &u);
    case RS_NUMBER:
        x = strtod(s, &end);
        if (id == SET_BETA1 || id == SET_BETA2) /* below 1 */
            if (!(x < 1))
                return 0;
        return end != s && *end == '\0' && isfinite(x) && x >= 0;
    case RS_WORD: return parse_word(id, s) >= 0;
    case RS_SCHEDULE: return bnn_schedule_parse(s, &sc, &e) == 0;
    case RS_FLAG: return strcmp(s, "0") == 0 || strcmp(s, "1") == 0;
    case RS_SPLIT: {
        int tail;
        return strcmp(s, "0") == 0 || parse_split(s, &x, &tail) == 0;
    }
    }
    return 0;
}

/* 1 when a (the command line's, valid or not) and b (the checkpoint's, valid) mean the same. */
static int same_setting(int id, const char *a, const char *b)
{
    unsigned long long u = 0;
    char *end, fa[128], fb[128];
    bnn_schedule sa, sb;
    bnn_error e;
    switch (run_settings[id].kind) {
    case RS_COUNT:
        plain_count(b, &u);
        return cli_parse_u64(run_settings[id].option, a, 0, UINT64_MAX) == u;
    case RS_NUMBER: {
        double x = strtod(a, &end);
        return end != a && *end == '\0' ? x == strtod(b, NULL) : 0;
    }
    case RS_WORD: return parse_word(id, a) == parse_word(id, b);
    case RS_SCHEDULE:
        if (bnn_schedule_parse(a, &sa, &e) != 0 || bnn_schedule_parse(b, &sb, &e) != 0)
            return 0;
        bnn_schedule_format(&sa, fa, sizeof fa);
        bnn_schedule_format(&sb, fb, sizeof fb);
        return strcmp(fa, fb) == 0;
    case RS_FLAG: return strcmp(a, b) == 0;
    case RS_SPLIT: { /* "0" (none) equals only itself; else the fraction and the kind */
        double fa_ = 0, fb_ = 0;
        int ta = 0, tb = 0;
        if (strcmp(a, "0") == 0 || strcmp(b, "0") == 0)
            return strcmp(a, b) == 0;
        return parse_split(a, &fa_, &ta) == 0 && parse_split(b, &fb_, &tb) == 0 &&
               fa_ == fb_ && ta == tb;
    }
    }
    return 0;
}

void cli_run_settings_resolve(cli_run_settings *r, cli_opt *opts, const char *resume)
{
    bnn_error e;
    bnn_train_opts def; /* the command's defaults, as a checkpoint would record them */
    bnn_train_opts_default(&def);
    def.seed = 1;
    for (int id = 0; id < SET_N; id++) {
        const struct run_setting *rs = &run_settings[id];
        const char *given = rs->kind == RS_FLAG ? (cli_opt_flag(opts, rs->option) ? "1" : NULL)
                                                : cli_opt_str(opts, rs->option, NULL);
        char *buf = r->buf[id], q[64], dflt[128];
        r->value[id] = given;
        if (!resume)
            continue;
        int got = bnn_model_read_meta(resume, rs->key, buf, sizeof r->buf[id], &e);
        if (got < 0)
            cli_die(1, "--resume %s", e.msg);
        if (got == 1) /* an older checkpoint without it: the command line decides */
            continue;
        if (!valid_setting(id, buf))
            cli_die(1, "--resume %s: bad metadata: \"%s\" is %s, not a valid --%s", resume,
                    rs->key, bnn_quote(q, sizeof q, buf, strlen(buf), 40), rs->option);
        if (rs->kind == RS_FLAG && given && strcmp(buf, "0") == 0)
            cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained without --%s; this run "
                    "asks for it (leave it out to continue without)", resume, rs->option);
        if (id == SET_SAMPLES && given) /* the training set's size ("samples") decides */
            continue;
        if (id == SET_VAL_SPLIT && given && strcmp(buf, "0") == 0)
            cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained without --%s; this run "
                    "asks for --%s %s", resume, rs->option, rs->option, given);
        if (given && !same_setting(id, given, buf))
            cli_die(EXIT_USAGE, "--resume %s: the checkpoint was trained with --%s %s; this run "
                    "asks for --%s %s (leave it out to continue with %s)", resume, rs->option,
                    buf, rs->option, given, buf);
        /* taken from the checkpoint; its default stays "not given", so a setting of another
         * optimizer (momentum under adam) is not asked for */
        format_setting(id, &def, NULL, dflt, sizeof dflt);
        if (!given)
            r->value[id] = same_setting(id, dflt, buf) ? NULL : buf;
        if (rs->kind == RS_FLAG && !given)
            r->value[id] = strcmp(buf, "1") == 0 ? "1" : NULL;
    }
}

const char *cli_run_setting(const cli_run_settings *r, const char *option, const char *def)
{
    for (int id = 0; id < SET_N; id++)
        if (strcmp(run_settings[id].option, option) == 0)
            return r->value[id] ? r->value[id] : def;
    cli_die(1, "internal error: no run setting --%s", option);
    return def;
}

uint64_t cli_resume_step(const char *path, uint64_t max)
{
    bnn_error e;
    char buf[64], q[64];
    int r = bnn_model_read_meta(path, "optimizer.step", buf, sizeof buf, &e);
    if (r < 0)
        cli_die(1, "--resume %s", e.msg);
    if (r != 0)
        return 0;
    unsigned long long v;
    if (!plain_count(buf, &v) || v > max)
        cli_die(1, "--resume %s: bad metadata: \"optimizer.step\" is %s, not a whole number of "
                "at most %llu (an update per sample and epoch)", path,
                bnn_quote(q, sizeof q, buf, strlen(buf), 40), (unsigned long long)max);
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
    char q[64];
    if (r == 0 && bnn_loss_parse(buf, &l) != 0)
        cli_die(1, "%s: unknown loss %s in __metadata__", path,
                bnn_quote(q, sizeof q, buf, strlen(buf), 40));
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
