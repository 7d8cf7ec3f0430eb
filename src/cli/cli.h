/* cli.h - what the batchnn command's files share: fatal errors and number parsing. */
#ifndef BNN_CLI_H
#define BNN_CLI_H

#include <stdint.h>

/* Prints "batchnn: <message>" on one line of stderr and exits with status. */
void cli_die(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;
/* A whole number in [min, max] (also 2^N and k/M/G suffixes), or exit 2 naming the option. */
uint64_t cli_parse_u64(const char *opt_name, const char *s, uint64_t min, uint64_t max);

int cli_bench(int argc, char **argv);

#endif
