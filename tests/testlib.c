#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vdag/base.h"

int vt_pass, vt_fail;

int vt_finish(void)
{
    printf("%d passed, %d failed\n", vt_pass, vt_fail);
    return vt_fail ? 1 : 0;
}

static const char *need(const char *p)
{
    struct stat st;
    if (stat(p, &st) != 0) {
        fprintf(stderr, "missing %s: run scripts/setup.sh first\n", p);
        printf("%d passed, %d failed\n", vt_pass, vt_fail + 1);
        exit(1);
    }
    return p;
}

const char *vt_model(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    vd_model_path(name, b, 1024);
    return need(b);
}

const char *vt_media(const char *file)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    vd_media_path(file, b, 1024);
    return need(b);
}

char *vt_run(const char *cmd, int *rc)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        *rc = -1;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}
