/*
 * signals.c - the process-wide signal rules of every command (installed by main.c):
 *
 *   SIGPIPE, SIGXFSZ   ignored: a closed pipe or a file-size limit (ulimit -f) makes the write
 *                      fail with EPIPE or EFBIG, and the output's ordinary error path reports
 *                      it, removes its temporary file and lets the other outputs be written.
 *   SIGINT, SIGTERM, SIGHUP (Ctrl-C, docker stop, Slurm, timeout, a closed terminal)
 *                      by default stop the command at once: one line on stderr, temporary
 *                      files removed, exit 128 + signal. A command that can finish its work
 *                      cleanly (train: the current epoch, then every output) asks for the
 *                      deferred mode: the first signal is only recorded (cli_stop_signal),
 *                      and a reader blocked on a pipe or FIFO fails at once (the library's
 *                      bnn_stop_requested); a second signal stops at once as above.
 * The handler is installed without SA_RESTART, so a blocking open() or read() returns EINTR.
 * It uses async-signal-safe calls only (write, unlink, _exit).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

static volatile sig_atomic_t caught;   /* the first stop signal, 0 before */
static volatile sig_atomic_t deferred; /* the first signal is recorded, not acted on */
static volatile sig_atomic_t leaving;  /* an error was reported: exit without a second line */
static int err_tty;                    /* stderr is a terminal: a live progress line to end */

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

const char *cli_signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP"
                                                                                : "a signal";
}

static void say(const char *s)
{
    (void)!write(STDERR_FILENO, s, strlen(s)); /* strlen is async-signal-safe (POSIX.1-2016) */
}

static void on_stop_signal(int sig)
{
    if (deferred && !caught) {
        caught = sig;
        bnn_stop_requested = sig;
        return;
    }
    if (leaving) { /* under mpirun: the job ends the ranks that are still leaving */
        bnn_outfile_remove_temps();
        _exit(128 + sig);
    }
    say(err_tty ? "\nbatchnn: stopped by " : "batchnn: stopped by ");
    say(cli_signal_name(sig));
    say(caught ? " (a second stop signal): exiting at once, unfinished outputs removed\n"
               : ": exiting at once, unfinished outputs removed\n");
    bnn_outfile_remove_temps();
    _exit(128 + sig);
}

void cli_signals_init(void)
{
    err_tty = isatty(STDERR_FILENO);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGXFSZ, &sa, NULL);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns EINTR */
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
        sigaction(stop_signals[i], &sa, NULL);
}

void cli_stop_quiet(void)
{
    leaving = 1;
}

void cli_stop_defer(int on)
{
    deferred = on;
}

int cli_stop_signal(void)
{
    return caught;
}

void cli_stop_note(int sig)
{
    if (sig && !caught) {
        caught = sig;
        bnn_stop_requested = sig;
    }
}
