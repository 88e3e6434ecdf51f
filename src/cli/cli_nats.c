/*
 * The NATS identity flags every cluster command takes (vdag cloud, edge, worker, batch
 * submit --nats): credentials from files or the environment, never from the command line;
 * TLS files; --nats-dir for what `vdag nats-server --secure DIR` wrote (docs/security.md).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/net.h"

const char *vd_cli_nats_usage(void)
{
    return "  --nats-creds FILE | --nats-nkey FILE | --nats-user-file FILE (USER:PASSWORD;\n"
           "                or $VDAG_NATS_USER and $VDAG_NATS_PASSWORD): who this node is\n"
           "  --nats-tls-ca FILE [--nats-tls-cert FILE --nats-tls-key FILE]: TLS\n"
           "  --nats-dir DIR  all of them from `vdag nats-server --secure DIR` (NAME.nk, ca.pem,\n"
           "                NAME.pem, NAME.key for this node's name; docs/security.md)\n";
}

int vd_cli_nats_flag(vd_cli_nats *c, const char *prog, const char *flag, const char *val)
{
    static const struct {
        const char *flag;
        size_t off;
    } fl[] = {
        {"--nats", offsetof(vd_cli_nats, url)},
        {"--nats-creds", offsetof(vd_cli_nats, creds)},
        {"--nats-nkey", offsetof(vd_cli_nats, nkey)},
        {"--nats-user-file", offsetof(vd_cli_nats, user_file)},
        {"--nats-tls-ca", offsetof(vd_cli_nats, tls_ca)},
        {"--nats-tls-cert", offsetof(vd_cli_nats, tls_cert)},
        {"--nats-tls-key", offsetof(vd_cli_nats, tls_key)},
        {"--nats-dir", offsetof(vd_cli_nats, dir)},
    };
    if (!strcmp(flag, "--nats-password") || !strcmp(flag, "--nats-user")) {
        fprintf(stderr,
                "vdag %s: %s: credentials are never given on the command line (other users "
                "see it): use --nats-user-file FILE or $VDAG_NATS_USER and $VDAG_NATS_PASSWORD\n",
                prog, flag);
        return -1;
    }
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++)
        if (!strcmp(flag, fl[i].flag)) {
            if (!val) {
                fprintf(stderr, "vdag %s: %s needs a value\n", prog, flag);
                return -1;
            }
            *(const char **)((char *)c + fl[i].off) = val;
            return 1;
        }
    return 0;
}

int vd_cli_nats_resolve(vd_cli_nats *c, const char *name, vd_error *err)
{
    vd_nats_opts *o = &c->o;
    *o = (vd_nats_opts){.url = c->url,
                        .name = name,
                        .creds = c->creds,
                        .nkey = c->nkey,
                        .tls_ca = c->tls_ca,
                        .tls_cert = c->tls_cert,
                        .tls_key = c->tls_key};
    if (c->dir) { /* `vdag nats-server --secure DIR`: this name's files */
        snprintf(c->files[0], sizeof c->files[0], "%s/%s.nk", c->dir, name);
        snprintf(c->files[1], sizeof c->files[1], "%s/ca.pem", c->dir);
        snprintf(c->files[2], sizeof c->files[2], "%s/%s.pem", c->dir, name);
        snprintf(c->files[3], sizeof c->files[3], "%s/%s.key", c->dir, name);
        if (!o->nkey && !o->creds) o->nkey = c->files[0];
        if (!o->tls_ca) o->tls_ca = c->files[1];
        if (!o->tls_cert) o->tls_cert = c->files[2];
        if (!o->tls_key) o->tls_key = c->files[3];
    }
    const char *eu = getenv("VDAG_NATS_USER"), *ep = getenv("VDAG_NATS_PASSWORD");
    int rc = 0;
    c->user[0] = c->password[0] = 0;
    if (c->user_file)
        rc = vd_nats_userfile_read(c->user_file, c->user, sizeof c->user, c->password,
                                   sizeof c->password, err);
    else if (eu && *eu)
        snprintf(c->user, sizeof c->user, "%s", eu),
            snprintf(c->password, sizeof c->password, "%s", ep ? ep : "");
    if (!rc && c->user[0]) o->user = c->user, o->password = c->password;
    return rc;
}

void vd_cli_nats_clear(vd_cli_nats *c)
{
    explicit_bzero(c->password, sizeof c->password);
    c->o.password = NULL;
}

void vd_cli_block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int vd_cli_nats_arg(vd_cli_nats *nc, const char *prog, int argc, char **argv, int *i)
{
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    int t = v ? vd_cli_nats_flag(nc, prog, argv[*i], v) : 0;
    if (t > 0) ++*i;
    return t;
}

int vd_cli_nats_connect(const char *prog, vd_cli_nats *nc, const char *name, vd_transport **t)
{
    vd_error err = {0};
    int rc = vd_cli_nats_resolve(nc, name, &err);
    if (!rc) rc = vd_transport_nats_open(&nc->o, t, &err);
    vd_cli_nats_clear(nc);
    if (rc) fprintf(stderr, "%s: %s\n", prog, err.msg);
    return rc ? 1 : 0;
}
