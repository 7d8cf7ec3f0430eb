/*
 * options.c - the option parser every command shares, and the number parsers. Options come as
 * "--opt value" or "--opt=value"; every error is one line "batchnn: CMD: ..." and exit 2.
 * An unknown option is answered with "did you mean --X?" when one option is close to it.
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

/* Under mpirun (K > 1 ranks): an error every rank agreed on (bnn_dist_agree; its message
 * names the rank) is printed by rank 0 only; any other error by the rank that has it, as
 * "batchnn: rank R: ...". */
static int error_prefix(void)
{
    if (bnn_dist_size() > 1 && bnn_dist_error_agreed() && bnn_dist_rank() != 0)
        return 0;
    fputs("batchnn: ", stderr);
    if (bnn_dist_size() > 1 && !bnn_dist_error_agreed())
        fprintf(stderr, "rank %d: ", bnn_dist_rank());
    return 1;
}

void cli_error(const char *fmt, ...)
{
    if (!error_prefix())
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_die(int status, const char *fmt, ...)
{
    /* a failure after a stop signal (a read it interrupted) is that stop: 128 + signal */
    const int sig = cli_stop_signal();
    if (sig)
        status = 128 + sig;
    if (error_prefix()) {
        if (sig)
            fprintf(stderr, "stopped by %s: ", cli_signal_name(sig));
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    cli_stop_quiet();
    /* agreed: every rank leaves here together, MPI ends cleanly; otherwise this rank exits
     * alone without MPI_Finalize and mpirun ends the others */
    if (bnn_dist_error_agreed())
        cli_dist_finalize();
    exit(status);
}

static cli_opt *find_opt(cli_opt *opts, const char *name)
{
    for (cli_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Levenshtein distance of a and b, capped at 3 (only "close" matters). */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 3;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            const int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 3 ? row[lb] : 3;
}

/* The option an unknown name most likely meant: the one option it is a prefix of, else the
 * closest within edit distance 2 (1 for names of 4 letters or fewer; the first of the command's list on a tie); NULL if none. */
static const char *suggest(const cli_opt *opts, const char *name)
{
    const char *prefix = NULL, *close = NULL;
    int nprefix = 0, best = strlen(name) <= 4 ? 2 : 3; /* short names: one edit at most */
    for (const cli_opt *o = opts; o->name; o++) {
        if (*name && strncmp(o->name, name, strlen(name)) == 0) {
            prefix = o->name;
            nprefix++;
        }
        const int d = distance(name, o->name);
        if (d < best) {
            best = d;
            close = o->name;
        }
    }
    return nprefix == 1 ? prefix : close;
}

int cli_parse_opts(const char *cmd, int argc, char **argv, cli_opt *opts, const char **pos,
                   int maxpos, void (*usage)(void))
{
    int npos = 0, help = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (npos == maxpos)
                cli_die(EXIT_USAGE, "%s: unexpected argument '%s' (see 'batchnn %s --help')", cmd,
                    arg, cmd);
            pos[npos++] = arg;
            continue;
        }
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len - 2 >= sizeof name)
            cli_die(EXIT_USAGE, "%s: unknown option '%.40s...'", cmd, arg);
        memcpy(name, arg + 2, len - 2);
        name[len - 2] = '\0';
        if (usage && !eq && strcmp(name, "help") == 0) {
            help = 1;
            continue;
        }
        cli_opt *o = find_opt(opts, name);
        if (!o) {
            const char *near = suggest(opts, name);
            if (near)
                cli_die(EXIT_USAGE, "%s: unknown option '--%s'; did you mean --%s? (see "
                        "'batchnn %s --help')", cmd, name, near, cmd);
            cli_die(EXIT_USAGE, "%s: unknown option '--%s' (see 'batchnn %s --help')", cmd, name,
                cmd);
        }
        if (o->seen)
            cli_die(EXIT_USAGE, "%s: --%s given twice", cmd, name);
        o->seen = 1;
        if (o->takes_value) {
            if (eq)
                o->value = eq + 1;
            else if (i + 1 < argc)
                o->value = argv[++i];
            else
                cli_die(EXIT_USAGE, "%s: --%s needs a value", cmd, name);
        } else if (eq) {
            cli_die(EXIT_USAGE, "%s: --%s takes no value", cmd, name);
        }
    }
    if (help) {
        usage();
        return -1;
    }
    return npos;
}

const char *cli_opt_str(cli_opt *opts, const char *name, const char *def)
{
    cli_opt *o = find_opt(opts, name);
    return o && o->seen ? o->value : def;
}

int cli_opt_flag(cli_opt *opts, const char *name)
{
    cli_opt *o = find_opt(opts, name);
    return o && o->seen;
}

/* A run of decimal digits at s: its value (*over set when it exceeds 2^64 - 1) and its end.
 * strtoull is not used: it would also take " 5", "+5" and "-1" (as 2^64 - 1). */
static const char *digits(const char *s, unsigned long long *v, int *over)
{
    *v = 0;
    *over = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (*v > (UINT64_MAX - d) / 10)
            *over = 1;
        else
            *v = *v * 10 + d;
    }
    return s;
}

/* The count syntax, whole: DIGITS, DIGITS followed by one of k K M G (x 2^10, 2^10, 2^20,
 * 2^30), or 2^DIGITS (exponent 0..63). Nothing else: no sign, space, fraction, exponent, hex
 * or empty part ("2^", "^3", "1k2", "k", "1.5k", "0x10", "1kk" are refused). */
uint64_t cli_parse_u64(const char *opt_name, const char *s, uint64_t min, uint64_t max)
{
    unsigned long long v;
    int over;
    const char *end = digits(s, &v, &over);
    if (end == s)
        cli_die(EXIT_USAGE, "--%s: '%s' is not a whole number", opt_name, s);
    if (*end == '^' && v == 2 && end == s + 1) { /* 2^N: --samples 2^24 */
        const char *ex = end + 1;
        unsigned long long n;
        end = digits(ex, &n, &over);
        if (end == ex)
            cli_die(EXIT_USAGE, "--%s: '%s' is not a whole number (2^N needs N)", opt_name, s);
        if (over || n > 63)
            cli_die(EXIT_USAGE, "--%s: '%s' is too large", opt_name, s);
        v = 1ULL << n;
    } else if (*end == 'k' || *end == 'K' || *end == 'M' || *end == 'G') {
        int sh = *end == 'G' ? 30 : *end == 'M' ? 20 : 10;
        if (over || v > (UINT64_MAX >> sh))
            cli_die(EXIT_USAGE, "--%s: '%s' is too large", opt_name, s);
        v <<= sh;
        end++;
    }
    if (*end != '\0')
        cli_die(EXIT_USAGE, "--%s: '%s' is not a whole number", opt_name, s);
    if (over)
        cli_die(EXIT_USAGE, "--%s: '%s' is too large", opt_name, s);
    if (v < min || v > max)
        cli_die(EXIT_USAGE, "--%s: %llu is out of range (%llu to %llu)", opt_name, v,
            (unsigned long long)min, (unsigned long long)max);
    return v;
}

int cli_parse_threads(const char *s)
{
    int t = (int)cli_parse_u64("threads", s, 0, 4096);
    /* the default team of any region that does not name one (a library region such as the
     * synthetic-set fill): batchnn's count, never OMP_NUM_THREADS */
    omp_set_num_threads(t > 0 ? t : omp_get_num_procs());
    return t;
}

bnn_engine_kind cli_parse_engine(const char *s)
{
    bnn_engine_kind k;
    if (bnn_engine_kind_parse(s, &k) != 0)
        cli_die(EXIT_USAGE, "--engine: '%s' is not fast or reference", s);
    return k;
}

double cli_parse_double(const char *opt_name, const char *s)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        cli_die(EXIT_USAGE, "--%s: '%s' is not a finite number", opt_name, s);
    return v;
}

/* The library's fields and the options that set them (options are named by the command; the
 * library's messages name what they check). */
static const struct {
    const char *field, *flag;
} flag_of[] = {
    {"widths", "--arch"},         {"activations", "--act"},
    {"momentum", "--momentum"},   {"beta1", "--beta1"},
    {"beta2", "--beta2"},         {"adam eps", "--adam-eps"},
    {"weight decay", "--weight-decay"}, {"lr schedule", "--lr-schedule"},
    {"loss", "--loss"},           {"gradient", "--gradient"},
    {"epochs", "--epochs"},       {"lr", "--lr"},
};

const char *cli_flag_msg(const char *msg)
{
    static char buf[sizeof ((bnn_error *)0)->msg + 64];
    for (size_t i = 0; i < sizeof flag_of / sizeof flag_of[0]; i++) {
        const size_t k = strlen(flag_of[i].field);
        if (strncmp(msg, flag_of[i].field, k) == 0 && (msg[k] == ':' || msg[k] == ' ')) {
            snprintf(buf, sizeof buf, "%s%s", flag_of[i].flag, msg + k);
            return buf;
        }
    }
    return msg;
}

const char *cli_train_msg(const char *msg)
{
    static char buf[sizeof ((bnn_error *)0)->msg + 64];
    static const char hint[] = "(try a smaller learning rate)";
    const char *h = strstr(msg, hint);
    if (strncmp(msg, "shuffle: ", 9) == 0)
        snprintf(buf, sizeof buf, "--%s", msg);
    else if (h)
        snprintf(buf, sizeof buf, "%.*s(try a smaller --lr)%s", (int)(h - msg), msg,
                 h + sizeof hint - 1);
    else
        return msg;
    return buf;
}

const char *cli_engine_msg(const char *msg)
{
    static char buf[sizeof ((bnn_error *)0)->msg + 64];
    static const char lib[] = "fewer threads", cmd[] = "fewer --threads";
    const char *at = strstr(msg, lib);
    if (!at)
        return msg;
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - msg), msg, cmd, at + strlen(lib));
    return buf;
}
