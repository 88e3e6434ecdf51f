/*
 * Option values for every subcommand: numbers parsed strictly (the whole string, in range),
 * and errors that name the command, the option and what it takes.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

int vd_arg_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "vdag %s: %s '%s': expected an integer %ld..%ld\n", cmd, opt, v ? v : "",
                lo, hi);
        return 2;
    }
    *out = x;
    return 0;
}

int vd_arg_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out)
{
    long x;
    int rc = vd_arg_long(cmd, opt, v, lo, hi, &x);
    if (!rc) *out = (int)x;
    return rc;
}

int vd_arg_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
                  double *out)
{
    char *end = NULL;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "vdag %s: %s '%s': expected a number %g..%g\n", cmd, opt, v ? v : "", lo,
                hi);
        return 2;
    }
    *out = x;
    return 0;
}

int vd_arg_unknown(const char *cmd, const char *opt, void (*usage)(FILE *))
{
    fprintf(stderr, "vdag %s: unknown option '%s'\n\n", cmd, opt);
    if (usage) usage(stderr);
    return 2;
}

int vd_arg_missing(const char *cmd, const char *opt, void (*usage)(FILE *))
{
    fprintf(stderr, "vdag %s: %s needs a value\n\n", cmd, opt);
    if (usage) usage(stderr);
    return 2;
}

int vd_arg_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vdag %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (usage) {
        fputc('\n', stderr);
        usage(stderr);
    }
    return 2;
}
