/*
 * A private nats-server: a temp directory (${TMPDIR:-/tmp}/vdag-nats-XXXXXX) holding its
 * config (listen address, raised max_payload, JetStream store; with identities, an
 * authorization block giving each the permissions of its role; with a certificate, TLS),
 * its log and its store; the server is a child process, started with fork/exec and stopped
 * with a signal and waitpid. Used by tests, `vdag bench remote` and `vdag nats-server`. The
 * credentials directory of a secured bus: nats_secure.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net_internal.h"
#include "vdag/base.h"
#include "vdag/net.h"

#define START_WAIT_MS 10000
#define TERM_WAIT_MS  2000

struct vd_nats_server {
    char bin[512];
    char dir[256], conf[300], log[300];
    char host[64], url[96];
    int port, auto_port, log_inherit, tls, keep;
    pid_t pid;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP port free on the loopback interface right now (the server may still lose a race
 * for it: start retries with another one). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &l))
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static int port_open(const char *host, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || a.sin_addr.s_addr == htonl(INADDR_ANY))
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof a);
    if (fd >= 0) close(fd);
    return ok;
}

/* nats-server on $PATH, else in the usual sbin/bin directories (Debian installs it in
 * /usr/sbin, often not on a user's PATH). */
static int find_binary(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s:/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin",
             path ? path : "");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (!*d) continue;
        int n = snprintf(out, cap, "%s/nats-server", d);
        if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0) return 0;
    }
    return -1;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void remove_dir(const char *dir)
{
    if (dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The child: only async-signal-safe calls between fork and exec. */
static void child_exec(const vd_nats_server *s, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphan server if the starting thread dies */
    if (getppid() != parent) _exit(127);
    if (!s->log_inherit) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    }
    execl(s->bin, s->bin, "-c", s->conf, (char *)NULL);
    _exit(127);
}

/* Write the config for s->port, start the server, wait until it listens. *early is set
 * when the server exited at start-up (a lost race for the port, a bad config). */
static int launch(vd_nats_server *s, int *early, vd_error *err)
{
    *early = 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return vd_fail(err, VD_EIO, "cannot fork for %s: %s", s->bin, strerror(errno));
    if (pid == 0) child_exec(s, parent);
    s->pid = pid;
    double end = vd_now_ms() + START_WAIT_MS;
    while (vd_now_ms() < end) {
        if (port_open(s->host, s->port)) return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            *early = 1;
            return vd_fail(
                err, VD_EIO, "nats-server (%s) exited at start-up (%s %d): see its log %s", s->bin,
                WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                s->log_inherit ? "(standard error)" : s->log);
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return vd_fail(err, VD_ETIMEDOUT, "nats-server did not listen on %s:%d within %d s: see %s",
                   s->host, s->port, START_WAIT_MS / 1000, s->log_inherit ? "its output" : s->log);
}

/* A config string: quoted, with '"' and '\' escaped. */
static void put_str(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') fputc('\\', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* A permission list being written: items separated by commas. */
typedef struct plist {
    FILE *f;
    int n;
} plist;

static void put_item(plist *l, const char *fmt, const char *arg)
{
    char buf[300];
    snprintf(buf, sizeof buf, fmt, arg);
    fprintf(l->f, "%s", l->n++ ? ", " : "");
    put_str(l->f, buf);
}

/* Everything a client does with one stream through the JetStream API: info, create,
 * purge, direct and message gets, its consumers (create, info, next), acks. */
static void put_stream(plist *l, const char *stream)
{
    static const char *const api[] = {
        "$JS.API.STREAM.*.%s",
        "$JS.API.STREAM.MSG.*.%s",
        "$JS.API.DIRECT.GET.%s",
        "$JS.API.DIRECT.GET.%s.>",
        "$JS.API.CONSUMER.*.%s",
        "$JS.API.CONSUMER.*.%s.>",
        "$JS.API.CONSUMER.DURABLE.CREATE.%s.>",
        "$JS.API.CONSUMER.MSG.NEXT.%s.>",
        "$JS.ACK.%s.>",
    };
    for (size_t i = 0; i < sizeof api / sizeof *api; i++) put_item(l, api[i], stream);
}

/* The permissions of a role (docs/security.md); %s is the identity's node name. */
static const char *const edge_pub[] = {
    "vdag.hb.%s",     "vdag.result.%s",     "vdag.frame.%s", "vdag.node.*.svc.svc.>",
    "vdag.svc.svc.>", "vdag.svc.model.get", /* models it lacks, from a cloud (models.c) */
};
static const char *const edge_sub[] = {"vdag.node.%s.svc.>", "vdag.svc.>", "_INBOX.%s.>"};
static const char *const cloud_pub[] = {
    "vdag.node.*.svc.>",
    "vdag.svc.>",
    "vdag.event.>", /* its events (docs/events.md) */
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.*." VD_JS_RESULTS,
    "$JS.API.STREAM.*.KV_" VD_KV_STATE,
    "$JS.API.STREAM.*.KV_" VD_KV_LEASE,
    "$JS.API.STREAM.MSG.GET.KV_" VD_KV_STATE,
    "$JS.API.STREAM.MSG.GET.KV_" VD_KV_LEASE,
    "$JS.API.DIRECT.GET.KV_" VD_KV_STATE ".>",
    "$JS.API.DIRECT.GET.KV_" VD_KV_LEASE ".>",
    "$JS.API.CONSUMER.*." VD_JS_RESULTS,
    "$JS.API.CONSUMER.*." VD_JS_RESULTS ".>",
    "$JS.API.CONSUMER.*.KV_" VD_KV_STATE,
    "$JS.API.CONSUMER.*.KV_" VD_KV_STATE ".>",
    "$JS.API.CONSUMER.*.KV_" VD_KV_LEASE,
    "$JS.API.CONSUMER.*.KV_" VD_KV_LEASE ".>",
    "$JS.API.CONSUMER.DURABLE.CREATE." VD_JS_RESULTS ".>",
    "$JS.API.CONSUMER.MSG.NEXT." VD_JS_RESULTS ".>",
    "$JS.ACK." VD_JS_RESULTS ".>",
    "$JS.FC.>",
    "$KV." VD_KV_STATE ".>",
    "$KV." VD_KV_LEASE ".>",
};
static const char *const cloud_sub[] = {"vdag.hb.>", "vdag.frame.>", "vdag.node.%s.svc.>",
                                        "vdag.svc.>", "_INBOX.%s.>"};
/* The batch queue (the API server and the workers): its work and dead-letter subjects and
 * streams, its buckets; nothing of the nodes' subjects or the cloud's state. */
static const char *const batch_pub[] = {
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.FC.>",
    VD_SUBJ_WORK ".>",
    VD_SUBJ_DEAD ".>",
    "$KV." VD_KVB_VIDEOS ".>",
    "$KV." VD_KVB_RESULTS ".>",
    "$KV." VD_KVB_BLOBS ".>",
};
static const char *const batch_streams[] = {
    VD_JS_WORK, VD_JS_DEAD, "KV_" VD_KVB_VIDEOS, "KV_" VD_KVB_RESULTS, "KV_" VD_KVB_BLOBS,
};
static const char *const worker_sub[] = {"_INBOX.%s.>"};
/* Who reads the cloud's events (a dashboard, a bridge to Home Assistant): those only. */
static const char *const observer_sub[] = {"vdag.event.>", "_INBOX.%s.>"};

#define N_OF(a) ((int)(sizeof a / sizeof *a))

typedef struct role_perms {
    const char *role;
    const char *const *pub, *const *sub;
    int n_pub, n_sub, batch; /* batch: the batch queue's subjects and streams too */
} role_perms;

static const role_perms roles[] = {
    {"edge", edge_pub, edge_sub, N_OF(edge_pub), N_OF(edge_sub), 0},
    {"cloud", cloud_pub, cloud_sub, N_OF(cloud_pub), N_OF(cloud_sub), 1},
    {"worker", NULL, worker_sub, 0, N_OF(worker_sub), 1},
    {"observer", NULL, observer_sub, 0, N_OF(observer_sub), 0},
};

static const role_perms *role_of(const char *role)
{
    for (int i = 0; role && i < N_OF(roles); i++)
        if (!strcmp(roles[i].role, role)) return &roles[i];
    return NULL;
}

int vd_nats_role_known(const char *role)
{
    return role_of(role) != NULL;
}

static int write_ident(FILE *f, const vd_nats_ident *id, vd_error *err)
{
    const role_perms *r = role_of(id->role);
    if (!id->name || !*id->name || strpbrk(id->name, ".*> \t") || !r)
        return vd_fail(err, VD_EINVAL,
                       "nats-server: identity '%s' (role '%s'): a node name (one subject token) "
                       "and the role cloud, edge, worker or observer",
                       id->name ? id->name : "", id->role ? id->role : "");
    if (!!id->password == !!id->nkey)
        return vd_fail(err, VD_EINVAL,
                       "nats-server: identity '%s': either a password or a public NKey", id->name);
    fprintf(f, "    { # %s %s\n      ", id->role, id->name);
    if (id->nkey) {
        fprintf(f, "nkey: ");
        put_str(f, id->nkey);
    } else {
        fprintf(f, "user: ");
        put_str(f, id->name);
        fprintf(f, ", password: ");
        put_str(f, id->password);
    }
    fprintf(f, "\n      permissions: {\n        publish: { allow: [");
    plist l = {f, 0};
    for (int i = 0; i < r->n_pub; i++) put_item(&l, r->pub[i], id->name);
    for (int i = 0; r->batch && i < N_OF(batch_pub); i++) put_item(&l, batch_pub[i], id->name);
    for (int i = 0; r->batch && i < N_OF(batch_streams); i++) put_stream(&l, batch_streams[i]);
    fprintf(f, "] }\n        subscribe: { allow: [");
    l.n = 0;
    for (int i = 0; i < r->n_sub; i++) put_item(&l, r->sub[i], id->name);
    fprintf(f, "] }\n        allow_responses: true\n      }\n    }\n");
    return 0;
}

static int write_conf(vd_nats_server *s, const vd_nats_server_opts *o, vd_error *err)
{
    FILE *f = fopen(s->conf, "w");
    if (!f) return vd_fail(err, VD_EIO, "%s: %s", s->conf, strerror(errno));
    fchmod(fileno(f), 0600); /* it may hold passwords */
    fprintf(f, "listen: \"%s:%d\"\nmax_payload: %s\n", s->host, s->port,
            o->max_payload && *o->max_payload ? o->max_payload : "8MB");
    if (!o->no_jetstream) fprintf(f, "jetstream {\n  store_dir: \"%s/js\"\n}\n", s->dir);
    int rc = 0;
    if (o->tls_cert) {
        fprintf(f, "tls {\n  cert_file: ");
        put_str(f, o->tls_cert);
        fprintf(f, "\n  key_file: ");
        put_str(f, o->tls_key ? o->tls_key : "");
        if (o->tls_ca) {
            fprintf(f, "\n  ca_file: ");
            put_str(f, o->tls_ca);
        }
        fprintf(f, "\n  verify: %s\n  timeout: 3\n}\n", o->tls_verify ? "true" : "false");
    }
    if (o->n_idents > 0) {
        fprintf(f, "authorization {\n  timeout: 3\n  users = [\n");
        for (int i = 0; i < o->n_idents && !rc; i++) rc = write_ident(f, &o->idents[i], err);
        fprintf(f, "  ]\n}\n");
    }
    int bad = ferror(f);
    if (fclose(f) || bad) return rc ? rc : vd_fail(err, VD_EIO, "%s: cannot write", s->conf);
    return rc;
}

static int start_server(const vd_nats_server_opts *o, vd_nats_server **out, vd_error *err);

int vd_nats_server_start(const vd_nats_server_opts *o, vd_nats_server **out, vd_error *err)
{
    *out = NULL;
    vd_nats_server_opts def = {0};
    if (!o) o = &def;
    vd__secure *sec = NULL;
    vd_nats_server_opts so;
    if (o->secure_dir) { /* identities and certificates from the directory */
        if (!(sec = calloc(1, sizeof *sec))) return vd_fail(err, VD_ENOMEM, "out of memory");
        int rc = vd__nats_secure_load(o->secure_dir, sec, err);
        if (rc) {
            free(sec);
            return rc;
        }
        so = *o;
        so.idents = sec->ids, so.n_idents = sec->n;
        so.tls_cert = sec->cert, so.tls_key = sec->key, so.tls_ca = sec->ca, so.tls_verify = 1;
        o = &so;
    }
    int rc = start_server(o, out, err);
    free(sec);
    return rc;
}

static int start_server(const vd_nats_server_opts *o, vd_nats_server **out, vd_error *err)
{
    if (o->port < 0 || o->port > 65535)
        return vd_fail(err, VD_EINVAL,
                       "nats-server: port %d: expected 0 (any free port) or 1..65535", o->port);
    vd_nats_server *s = calloc(1, sizeof *s);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (find_binary(s->bin, sizeof s->bin)) {
        free(s);
        return vd_fail(err, VD_ENOTFOUND,
                       "nats-server is not installed (not on $PATH nor in /usr/sbin): install it "
                       "(apt-get install nats-server)");
    }
    snprintf(s->host, sizeof s->host, "%s", o->host && *o->host ? o->host : "127.0.0.1");
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/vdag-nats-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (o->store_dir) { /* kept: a store that outlives this server */
        s->keep = 1;
        if (strlen(o->store_dir) >= sizeof s->dir - 16 ||
            (mkdir(o->store_dir, 0700) && errno != EEXIST)) {
            free(s);
            return vd_fail(err, VD_EIO, "nats-server: store directory %s: %s", o->store_dir,
                           errno == EEXIST ? "too long" : strerror(errno));
        }
        snprintf(s->dir, sizeof s->dir, "%s", o->store_dir);
    } else if (!mkdtemp(s->dir)) {
        int e = errno;
        char d[256];
        snprintf(d, sizeof d, "%s", s->dir);
        free(s);
        return vd_fail(err, VD_EIO, "nats-server: cannot create a temp directory %s: %s", d,
                       strerror(e));
    }
    snprintf(s->conf, sizeof s->conf, "%s/nats.conf", s->dir);
    snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
    s->log_inherit = o->log_to_stderr;
    s->auto_port = o->port == 0;
    int rc = 0;
    for (int attempt = 0; attempt < (s->auto_port ? 3 : 1); attempt++) {
        s->port = s->auto_port ? free_port() : o->port;
        if (s->port <= 0) {
            rc = vd_fail(err, VD_EIO, "nats-server: no free loopback port: %s", strerror(errno));
            break;
        }
        int early = 0;
        rc = write_conf(s, o, err);
        if (!rc) rc = launch(s, &early, err);
        if (!rc || !early) break;
    }
    if (rc) {
        vd_nats_server_stop(s);
        return rc;
    }
    int any = !strcmp(s->host, "0.0.0.0");
    snprintf(s->url, sizeof s->url, "%s://%s:%d", o->tls_cert ? "tls" : "nats",
             any ? "127.0.0.1" : s->host, s->port);
    *out = s;
    return 0;
}

const char *vd_nats_server_url(const vd_nats_server *s)
{
    return s->url;
}

int vd_nats_server_port(const vd_nats_server *s)
{
    return s->port;
}

const char *vd_nats_server_conf(const vd_nats_server *s)
{
    return s->conf;
}

const char *vd_nats_server_log(const vd_nats_server *s)
{
    return s->log_inherit ? NULL : s->log;
}

int vd_nats_server_alive(vd_nats_server *s)
{
    if (!s || s->pid <= 0) return 0;
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
        s->pid = 0;
        return 0;
    }
    return 1;
}

void vd_nats_server_kill(vd_nats_server *s)
{
    if (!s || s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int vd_nats_server_restart(vd_nats_server *s, vd_error *err)
{
    vd_nats_server_kill(s);
    int early;
    return launch(s, &early, err);
}

void vd_nats_server_stop(vd_nats_server *s)
{
    if (!s) return;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        double end = vd_now_ms() + TERM_WAIT_MS;
        while (waitpid(s->pid, NULL, WNOHANG) == 0) {
            if (vd_now_ms() >= end) {
                vd_nats_server_kill(s);
                break;
            }
            sleep_ms(20);
        }
        s->pid = 0;
    }
    if (!s->keep) remove_dir(s->dir);
    free(s);
}
