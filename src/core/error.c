/* error.c - the library's one-line error messages. */
#include <stdarg.h>
#include <stdio.h>

#include "core/bnn_core.h"

int bnn_fail(bnn_error *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
