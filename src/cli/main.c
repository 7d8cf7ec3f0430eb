/*
 * main.c - the batchnn command: dispatches to one file per command (train.c, predict.c,
 * eval.c, gradcheck.c, gen.c, info.c, demo.c, bench.c), after the process-wide setup.
 *
 * Only the command exits (cli_die); the library returns status codes with messages. Every
 * error is one line on stderr, "batchnn: ...", with a non-zero exit status (2 for usage
 * errors, 1 for everything else). Files are written to a temporary name and renamed into place.
 * Signals (signals.c): SIGPIPE and SIGXFSZ are ignored, so a closed pipe or a file-size limit
 * is a write error like a full disk; a stop signal removes temporary files in every command.
 * Under mpirun, MPI is started here and ended after the command (src/dist/dist.c).
 */
#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

/* A memory-mapped data file truncated or rewritten under us turns a read into SIGBUS: say
 * which file, remove temporary outputs, and exit (async-signal-safe: write(2) only). */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    const char *name = bnn_mapped_file_at(si ? si->si_addr : NULL);
    static const char a[] = "batchnn: ";
    static const char b[] = ": the memory-mapped data file was truncated or changed while in use "
                            "(SIGBUS); do not rewrite a data file during a run\n";
    static const char c[] = "batchnn: bus error (SIGBUS) reading memory-mapped data; a data file "
                            "was probably truncated while in use\n";
    if (name) {
        (void)!write(STDERR_FILENO, a, sizeof a - 1);
        (void)!write(STDERR_FILENO, name, strlen(name));
        (void)!write(STDERR_FILENO, b, sizeof b - 1);
    } else {
        (void)!write(STDERR_FILENO, c, sizeof c - 1);
    }
    bnn_outfile_remove_temps();
    _exit(128 + sig);
}

static void catch_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static void usage(void)
{
    printf(
            "usage: batchnn COMMAND [options]     (batchnn COMMAND --help for details)\n"
            "\n"
            "  train      train a model by gradient descent\n"
            "  predict    write a model's outputs for a data file\n"
            "  eval       print a model's cost C on a data set\n"
            "  gradcheck  compare analytic gradients with finite differences\n"
            "  gen        write a synthetic data set to a file\n"
            "  info       describe a model file\n"
            "  demo       the notes' models on their examples, then a large run\n"
            "  bench      this machine's limits and the benchmark workloads W1-W6\n"
            "  --version  version, CPU path, BLAS and threads\n");
}

static void version(void)
{
    printf("batchnn %s\n", BNN_VERSION);
    printf("isa: %s (override with BATCHNN_ISA=scalar|avx2|avx512)\n", bnn_engine_isa());
    printf("blas: %s\n", openblas_get_config());
    printf("threads: %d (OpenMP %d)\n", omp_get_num_procs(), _OPENMP);
    char lib[256];
    if (bnn_dist_built())
        printf("mpi: built in (%s); run under mpirun for many processes\n",
               bnn_dist_library(lib, sizeof lib));
    else
        printf("mpi: not built in\n");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        cli_die(EXIT_USAGE, "no command given (try 'batchnn --help')");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage();
        return 0;
    }
    cli_environ_apply(); /* the library reads no environment: the command passes it in */
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        version();
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"train", cli_cmd_train}, {"predict", cli_cmd_predict}, {"eval", cli_cmd_eval},
        {"gradcheck", cli_cmd_gradcheck}, {"gen", cli_cmd_gen}, {"info", cli_cmd_info},
        {"demo", cli_cmd_demo}, {"bench", cli_cmd_bench},
    };
    /* every OpenMP team is --threads (each region names it): OMP_DYNAMIC=true must not
     * shrink it behind the user's back */
    omp_set_dynamic(0);
    /* the default team, which the library's threads options (left 0) follow: all CPUs, never
     * OMP_NUM_THREADS; a command's --threads replaces it (cli_parse_threads) */
    omp_set_num_threads(omp_get_num_procs());
    /* no temporary output survives an exit() on an error path */
    atexit(bnn_outfile_remove_temps);
    catch_sigbus();
    cli_signals_init(); /* a broken pipe is a write error; stop signals clean up (signals.c) */
    /* under mpirun: MPI starts here (a plain run does not start it) */
    bnn_error de;
    if (bnn_dist_init(&de) != 0)
        cli_die(1, "%s", de.msg);
    if (bnn_dist_note()) /* the ranks' CPU paths were made one */
        fprintf(stderr, "batchnn: note: %s\n", bnn_dist_note());
    if (bnn_dist_size() > 1) { /* the ranks run one command: the same arguments */
        uint64_t h = 1469598103934665603ull, h0; /* FNV-1a of the arguments */
        for (int i = 1; i < argc; i++)
            for (const unsigned char *c = (const unsigned char *)argv[i];; c++) {
                h = (h ^ *c) * 1099511628211ull;
                if (!*c)
                    break;
            }
        h0 = h;
        if (bnn_dist_bcast(&h0, sizeof h0, 0, &de) != 0)
            cli_die(1, "%s", de.msg);
        if (h0 != h)
            cli_die(EXIT_USAGE, "the arguments differ from rank 0's: under mpirun every rank "
                                "runs the same batchnn command");
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0) {
            int rc = cmds[i].fn(argc - 2, argv + 2);
            /* what went to standard output must have arrived (> /dev/full is an error) */
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "batchnn: standard output: cannot write: %s\n",
                        strerror(errno ? errno : EIO));
                cli_dist_finalize();
                return rc ? rc : 1;
            }
            /* under mpirun, a rank failing alone leaves without MPI_Finalize (which would wait
             * for the others): mpirun then ends every rank */
            if (rc != 0)
                cli_stop_quiet(); /* its error was reported */
            if (rc != 0 && bnn_dist_size() > 1 && !bnn_dist_error_agreed())
                return rc;
            cli_dist_finalize();
            return rc;
        }
    cli_die(EXIT_USAGE, "unknown command '%s' (try 'batchnn --help')", cmd);
}
