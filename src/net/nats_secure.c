/*
 * The credentials directory of a secured bus (vd_nats_secure_init): a CA, the server's
 * certificate, and per identity an NKey seed and a client certificate, listed in
 * `identities` ("ROLE NAME" per line). Certificates are made with the openssl command
 * (its output in DIR/openssl.log); NKeys with nats_auth.c. What exists is kept, so a
 * directory can be completed with more identities without changing the others' keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nats_internal.h"
#include "net_internal.h"

static int exists(const char *dir, const char *file)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, R_OK) == 0;
}

/* Run openssl with args in dir; its output appended to dir/openssl.log. */
static int openssl(const char *dir, const char *const *args, vd_error *err)
{
    char log[600];
    snprintf(log, sizeof log, "%s/openssl.log", dir);
    pid_t pid = fork();
    if (pid < 0) return vd_fail(err, VD_EIO, "cannot fork for openssl: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        if (chdir(dir)) _exit(126);
        umask(077);
        char *argv[40];
        int n = 0;
        argv[n++] = "openssl";
        for (; args[n - 1] && n < 39; n++) argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execvp("openssl", argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return vd_fail(err, VD_ENOTFOUND,
                       "the openssl command is not installed (apt-get install openssl): it makes "
                       "the certificates of a secured bus");
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        return vd_fail(err, VD_EIO, "openssl %s %s failed: see %s", args[0], args[1], log);
    return 0;
}

static int write_file(const char *dir, const char *file, const char *text, mode_t mode,
                      vd_error *err)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) return vd_fail(err, VD_EIO, "%s: %s", p, strerror(errno));
    size_t n = strlen(text);
    int bad = write(fd, text, n) != (ssize_t)n;
    bad |= close(fd) != 0;
    return bad ? vd_fail(err, VD_EIO, "%s: cannot write", p) : 0;
}

/* A key and a certificate signed by the CA: CN, extended key usage, subjectAltName. */
static int make_cert(const char *dir, const char *base, const char *cn, const char *usage,
                     const char *san, vd_error *err)
{
    char key[128], csr[128], pem[128], ext[128], subj[200], extra[600];
    snprintf(key, sizeof key, "%s.key", base);
    snprintf(csr, sizeof csr, "%s.csr", base);
    snprintf(pem, sizeof pem, "%s.pem", base);
    snprintf(ext, sizeof ext, "%s.ext", base);
    snprintf(subj, sizeof subj, "/CN=%s", cn);
    snprintf(extra, sizeof extra, "extendedKeyUsage=%s\n%s%s%s", usage,
             san ? "subjectAltName=" : "", san ? san : "", san ? "\n" : "");
    const char *req[] = {
        "req",    "-new",    "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key,       "-out", csr,        "-subj",
        subj,     NULL};
    const char *sign[] = {"x509",     "-req",   "-in",
                          csr,        "-CA",    "ca.pem",
                          "-CAkey",   "ca.key", "-CAcreateserial",
                          "-days",    "825",    "-sha256",
                          "-extfile", ext,      "-out",
                          pem,        NULL};
    int rc = write_file(dir, ext, extra, 0600, err);
    if (!rc) rc = openssl(dir, req, err);
    if (!rc) rc = openssl(dir, sign, err);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, csr);
    unlink(p);
    snprintf(p, sizeof p, "%s/%s", dir, ext);
    unlink(p);
    return rc;
}

/* "ROLE:NAME" items of a comma-separated list; calls fn for each. */
static int each_name(const char *names, int (*fn)(void *a, const char *role, const char *name),
                     void *a, vd_error *err)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", names ? names : "");
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(it, ':');
        const char *role = colon ? it : "edge", *name = colon ? colon + 1 : it;
        if (colon) *colon = 0;
        if (!vd_nats_role_known(role) || !*name || strlen(name) >= 64 || strpbrk(name, ".*> \t/") ||
            !strcmp(name, "server") || !strcmp(name, "ca"))
            return vd_fail(
                err, VD_EINVAL,
                "secure bus: identity '%s%s%s': expected ROLE:NAME, ROLE cloud, edge, worker or "
                "observer "
                "and NAME a node name (no '.', '*', '>', '/' or spaces; not server "
                "or ca)",
                colon ? role : "", colon ? ":" : "", name);
        int rc = fn(a, role, name);
        if (rc) return rc;
    }
    return 0;
}

typedef struct init_ctx {
    const char *dir;
    vd_error *err;
    FILE *ids;
    char have[4096]; /* the identities file as read: " role name\n" lines */
} init_ctx;

static int init_one(void *a, const char *role, const char *name)
{
    init_ctx *x = a;
    char nk[128], line[160];
    snprintf(line, sizeof line, "%s %s\n", role, name);
    snprintf(nk, sizeof nk, "%s.nk", name);
    if (!exists(x->dir, nk)) {
        char seed[128], pub[64], text[400];
        if (vd__nkey_generate(seed, sizeof seed, pub, sizeof pub))
            return vd_fail(x->err, VD_EBACKEND, "secure bus: cannot make an NKey for %s", name);
        snprintf(text, sizeof text,
                 "# vdag NATS identity %s (role %s), public key %s\n# the seed below is a secret: "
                 "keep this file 0600\n%s\n",
                 name, role, pub, seed);
        int rc = write_file(x->dir, nk, text, 0600, x->err);
        explicit_bzero(seed, sizeof seed), explicit_bzero(text, sizeof text);
        if (rc) return rc;
    }
    char pem[128];
    snprintf(pem, sizeof pem, "%s.pem", name);
    if (!exists(x->dir, pem)) {
        int rc = make_cert(x->dir, name, name, "clientAuth", NULL, x->err);
        if (rc) return rc;
    }
    if (!strstr(x->have, line)) { /* a new one: listed */
        if (fputs(line, x->ids) < 0)
            return vd_fail(x->err, VD_EIO, "%s/identities: cannot write", x->dir);
        snprintf(x->have + strlen(x->have), sizeof x->have - strlen(x->have), "%s", line);
    }
    return 0;
}

int vd_nats_secure_init(const char *dir, const char *names, const char *host, vd_error *err)
{
    if (mkdir(dir, 0700) && errno != EEXIST)
        return vd_fail(err, VD_EIO, "secure bus: cannot create %s: %s", dir, strerror(errno));
    chmod(dir, 0700);
    int rc = 0;
    if (!exists(dir, "ca.pem")) {
        const char *ca[] = {"req",      "-x509",
                            "-newkey",  "ec",
                            "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes",   "-keyout",
                            "ca.key",   "-out",
                            "ca.pem",   "-days",
                            "3650",     "-sha256",
                            "-subj",    "/CN=vdag bus CA",
                            "-addext",  "basicConstraints=critical,CA:TRUE",
                            "-addext",  "keyUsage=critical,keyCertSign,cRLSign",
                            NULL};
        rc = openssl(dir, ca, err);
    }
    if (!rc && !exists(dir, "server.pem")) {
        char san[400];
        int ip = host && *host && strspn(host, "0123456789.") == strlen(host);
        snprintf(san, sizeof san, "IP:127.0.0.1,DNS:localhost%s%s",
                 host && *host && strcmp(host, "127.0.0.1") && strcmp(host, "0.0.0.0")
                     ? (ip ? ",IP:" : ",DNS:")
                     : "",
                 host && *host && strcmp(host, "127.0.0.1") && strcmp(host, "0.0.0.0") ? host : "");
        rc = make_cert(dir, "server", "vdag nats-server", "serverAuth", san, err);
    }
    if (rc) return rc;
    init_ctx x = {.dir = dir, .err = err};
    char p[600];
    snprintf(p, sizeof p, "%s/identities", dir);
    FILE *f = fopen(p, "r");
    if (f) {
        size_t n = fread(x.have, 1, sizeof x.have - 1, f);
        x.have[n] = 0;
        fclose(f);
    }
    if (!(x.ids = fopen(p, "a"))) return vd_fail(err, VD_EIO, "%s: %s", p, strerror(errno));
    rc = each_name(names, init_one, &x, err);
    if (fclose(x.ids) && !rc) rc = vd_fail(err, VD_EIO, "%s: cannot write", p);
    return rc;
}

int vd__nats_secure_load(const char *dir, vd__secure *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    char p[700];
    snprintf(p, sizeof p, "%s/identities", dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return vd_fail(err, VD_ENOTFOUND,
                       "secure bus %s: no identities file (make the directory with `vdag "
                       "nats-server --secure %s --ids cloud:cloud,edge:e1`)",
                       dir, dir);
    char line[200];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        char role[16], name[64];
        if (sscanf(line, "%15s %63s", role, name) != 2) continue;
        if (out->n == VD__SECURE_MAX) {
            rc = vd_fail(err, VD_ETOOBIG, "secure bus %s: more than %d identities", dir,
                         VD__SECURE_MAX);
            break;
        }
        int i = out->n;
        char nk[700], seed[128];
        snprintf(nk, sizeof nk, "%s/%s.nk", dir, name);
        rc = vd__nkey_read_seed(nk, seed, sizeof seed, err);
        if (!rc && vd__nkey_public(seed, out->pubs[i], sizeof out->pubs[i]))
            rc = vd_fail(err, VD_EFORMAT, "%s: not a valid user seed", nk);
        explicit_bzero(seed, sizeof seed);
        if (rc) break;
        snprintf(out->names[i], sizeof out->names[i], "%s", name);
        snprintf(out->roles[i], sizeof out->roles[i], "%s", role);
        out->ids[i] = (vd_nats_ident){out->names[i], out->roles[i], NULL, out->pubs[i]};
        out->n++;
    }
    fclose(f);
    if (rc) return rc;
    snprintf(out->cert, sizeof out->cert, "%s/server.pem", dir);
    snprintf(out->key, sizeof out->key, "%s/server.key", dir);
    snprintf(out->ca, sizeof out->ca, "%s/ca.pem", dir);
    if (access(out->cert, R_OK) || access(out->key, R_OK) || access(out->ca, R_OK))
        return vd_fail(err, VD_ENOTFOUND, "secure bus %s: server.pem, server.key or ca.pem missing",
                       dir);
    return 0;
}
