/*
 * Minimal test harness: CHECK macros count failures; main() returns vt_finish().
 * Prints "N passed, N failed" at the end. Single-threaded use only.
 */
#ifndef VDAG_TESTLIB_H
#define VDAG_TESTLIB_H

#include <stdio.h>

extern int vt_pass, vt_fail;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            vt_pass++;                                                                             \
        } else {                                                                                   \
            vt_fail++;                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            vt_pass++;                                                                             \
        } else {                                                                                   \
            vt_fail++;                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Returns the process exit status and prints the summary line. */
int vt_finish(void);

/* Path of a cached model ("<cache>/models/<name>.json") or media file; aborts the
 * test with a failure if the cache is missing (run scripts/setup.sh). */
const char *vt_model(const char *name);
const char *vt_media(const char *file);

/* Run a shell command, capture stdout into a malloc'd string (caller frees); *rc gets
 * the exit status. */
char *vt_run(const char *cmd, int *rc);

#endif
