/*
 * The HTTP server's guard (see http_internal.h): it owns the listening socket, keeps new
 * connections in one poll thread until their first request head is complete (peeked, never
 * read, so libmicrohttpd later reads it as sent), checks that head, and hands the connection
 * to libmicrohttpd. It also watches libmicrohttpd's connections and closes one that stays
 * idle between requests past the idle limit (its own timeout restarts at every byte).
 *
 * A waiting connection is polled with SO_RCVLOWAT set one byte past what was peeked, so the
 * thread wakes only when more of the head arrives (or the deadline passes), not for the same
 * bytes again. An error reply is followed by a lingering close (read and drop, 2 s at most),
 * so that a client still sending reads the reply instead of a reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/http_internal.h"

#define LINGER_S   2.0
#define LINGER_MAX (1 << 20) /* bytes dropped before a lingering close gives up */
#define TICK_MS    250       /* the watchdog's period */
#define ACCEPT_MAX 64        /* connections accepted per wake-up */

typedef struct ipkey {
    unsigned char a[16]; /* IPv6, or IPv4 mapped (::ffff:a.b.c.d) */
} ipkey;

/* A connection waiting for its first request head (or lingering after an error reply). */
typedef struct pend {
    int fd;
    ipkey ip;
    struct sockaddr_storage addr;
    socklen_t alen;
    double deadline;
    size_t seen; /* head bytes peeked so far */
    int closing; /* an error reply was sent: drain until the deadline, then close */
    size_t drained;
} pend;

/* A connection libmicrohttpd serves (its socket_context). */
typedef struct served {
    struct served *prev, *next;
    vd__http_guard *g;
    int fd;
    ipkey ip;
    int phase;    /* VD__PHASE_*: idle, receiving a request, answering one */
    double since; /* start of the phase, or of the body's current rate window (monotonic s);
                     1e308 once shut down */
    unsigned long long got, got0; /* body bytes received, and at the window's start */
} served;

typedef struct ipcount {
    ipkey ip;
    int n;
} ipcount;

struct vd__http_guard {
    int lfd, wake[2];
    vd__guard_limits lim;
    struct MHD_Daemon *d;
    pthread_t thr;
    int started;
    atomic_int stop;
    /* the admission thread's own */
    pend *p;
    int np;
    char *buf; /* peek buffer, VD__HTTP_HEAD_MAX + 1 */
    /* under mu: libmicrohttpd's connections */
    pthread_mutex_t mu;
    served *head;
    int n_served;
    ipcount *ips;
    int n_ips, cap_ips;
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static ipkey key_of(const struct sockaddr *sa)
{
    ipkey k = {{0}};
    if (sa && sa->sa_family == AF_INET) {
        k.a[10] = k.a[11] = 0xff;
        memcpy(k.a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        memcpy(k.a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    return k;
}

static int key_eq(const ipkey *a, const ipkey *b)
{
    return memcmp(a->a, b->a, 16) == 0;
}

void vd__guard_default_limits(vd__guard_limits *l)
{
    struct rlimit r;
    long nofile =
        getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY ? (long)r.rlim_cur : 4096;
    long avail = nofile > 512 ? (nofile - 256) / 3 : 64;
    *l = (vd__guard_limits){
        .pending_max = avail < 512 ? (int)avail : 512,
        .active_max = avail < 256 ? (int)avail : 256,
        .head_s = VD__HTTP_HEAD_S,
        .idle_s = VD__HTTP_IDLE_S,
    };
    l->pending_per_ip = l->pending_max / 4 < 64 ? l->pending_max / 4 : 64;
    l->active_per_ip = l->active_max / 4 < 64 ? l->active_max / 4 : 64;
    l->reserve = l->active_max / 8;
}

/* ---- served connections (libmicrohttpd's threads) ------------------------------------------ */

static ipcount *ip_slot(vd__http_guard *g, const ipkey *k, int create)
{
    for (int i = 0; i < g->n_ips; i++)
        if (key_eq(&g->ips[i].ip, k)) return &g->ips[i];
    if (!create) return NULL;
    if (g->n_ips == g->cap_ips) {
        int cap = g->cap_ips ? 2 * g->cap_ips : 16;
        ipcount *n = realloc(g->ips, sizeof *n * (size_t)cap);
        if (!n) return NULL;
        g->ips = n, g->cap_ips = cap;
    }
    g->ips[g->n_ips] = (ipcount){*k, 0};
    return &g->ips[g->n_ips++];
}

void vd__guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    vd__http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        served *s = calloc(1, sizeof *s);
        *socket_context = s;
        if (!s) return;
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        s->g = g;
        s->fd = fi ? fi->connect_fd : -1;
        s->ip = key_of(ai ? ai->client_addr : NULL);
        s->since = mono_s();
        pthread_mutex_lock(&g->mu);
        s->next = g->head;
        if (g->head) g->head->prev = s;
        g->head = s;
        g->n_served++;
        ipcount *ic = ip_slot(g, &s->ip, 1);
        if (ic) ic->n++;
        pthread_mutex_unlock(&g->mu);
        return;
    }
    served *s = *socket_context; /* closed */
    if (!s) return;
    pthread_mutex_lock(&g->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        g->head = s->next;
    if (s->next) s->next->prev = s->prev;
    g->n_served--;
    ipcount *ic = ip_slot(g, &s->ip, 0);
    if (ic && --ic->n <= 0) *ic = g->ips[--g->n_ips];
    pthread_mutex_unlock(&g->mu);
    free(s);
    *socket_context = NULL;
}

static served *served_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

void vd__guard_phase(struct MHD_Connection *c, int phase)
{
    served *s = served_of(c);
    if (!s) return;
    pthread_mutex_lock(&s->g->mu);
    if (s->phase != phase && s->since < 1e300) {
        s->phase = phase;
        s->since = mono_s();
        s->got0 = s->got;
    }
    pthread_mutex_unlock(&s->g->mu);
}

void vd__guard_progress(struct MHD_Connection *c, size_t n)
{
    served *s = served_of(c);
    if (!s) return;
    pthread_mutex_lock(&s->g->mu);
    s->got += n;
    pthread_mutex_unlock(&s->g->mu);
}

/* Shut down (libmicrohttpd's thread then ends it) a served connection idle between requests
 * past idle_s, or whose body came slower than VD__HTTP_MIN_RATE over the last idle_s. */
static void watch_served(vd__http_guard *g, double now)
{
    pthread_mutex_lock(&g->mu);
    for (served *s = g->head; s; s = s->next) {
        if (s->fd < 0 || s->phase == VD__PHASE_ANSWER || now - s->since < g->lim.idle_s) continue;
        if (s->phase == VD__PHASE_RECEIVE &&
            s->got - s->got0 >= (unsigned long long)(VD__HTTP_MIN_RATE * g->lim.idle_s)) {
            s->since = now, s->got0 = s->got; /* a new window */
            continue;
        }
        shutdown(s->fd, SHUT_RDWR);
        s->since = 1e308; /* once */
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- admission (the guard's thread) -------------------------------------------------------- */

static void set_lowat(int fd, size_t n)
{
    int v = n < 1 ? 1 : n > (size_t)VD__HTTP_HEAD_MAX + 1 ? VD__HTTP_HEAD_MAX + 1 : (int)n;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

/* The VD_E* code that goes with an admission error's HTTP status. */
static int code_of(int http_status)
{
    switch (http_status) {
    case 408:
        return VD_ETIMEDOUT;
    case 413:
    case 414:
    case 431:
        return VD_ETOOBIG;
    case 501:
    case 505:
        return VD_EUNSUPP;
    case 503:
        return VD_EBUSY;
    default:
        return VD_EFORMAT;
    }
}

static void send_error(int fd, int http_status, const char *why)
{
    size_t len = 0;
    char *r = vd__http_raw_error(http_status, code_of(http_status), why, &len);
    if (r && len) {
        ssize_t w = send(fd, r, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* a client that cannot take 200 bytes gets nothing */
    }
    free(r);
}

static void drop(vd__http_guard *g, int i)
{
    close(g->p[i].fd);
    g->p[i] = g->p[--g->np];
}

/* Reply with an error and linger. */
static void reject(vd__http_guard *g, int i, int http_status, const char *why)
{
    pend *p = &g->p[i];
    send_error(p->fd, http_status, why);
    shutdown(p->fd, SHUT_WR);
    set_lowat(p->fd, 1);
    p->closing = 1;
    p->deadline = mono_s() + LINGER_S;
}

/* Whether a client may have one more connection in a stage: under its own limit and the
 * total, and past the total's reserve only if it holds none there. */
static int room(int total, int max, int mine, int per_ip, int reserve)
{
    return total < max && mine < per_ip && (total < max - reserve || mine == 0);
}

static void accept_new(vd__http_guard *g, double now)
{
    for (int k = 0; k < ACCEPT_MAX; k++) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(g->lfd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                struct timespec ts = {0, 20 * 1000000L}; /* out of descriptors: back off */
                nanosleep(&ts, NULL);
            }
            return;
        }
        ipkey ip = key_of((struct sockaddr *)&a);
        int mine = 0;
        for (int i = 0; i < g->np; i++) mine += key_eq(&g->p[i].ip, &ip);
        const vd__guard_limits *l = &g->lim;
        if (!room(g->np, l->pending_max, mine, l->pending_per_ip,
                  l->pending_max / 8 > 1 ? l->pending_max / 8 : 1)) {
            send_error(fd, 503,
                       mine >= l->pending_per_ip
                           ? "too many connections from this client: close idle ones and retry"
                           : "the server has too many connections open: retry later");
            close(fd);
            continue;
        }
        pend *p = &g->p[g->np++];
        *p = (pend){.fd = fd, .ip = ip, .addr = a, .alen = al, .deadline = now + l->head_s};
        set_lowat(fd, 1);
    }
}

/* The connection's whole head is in: check it and hand it over (or refuse). */
static void admit(vd__http_guard *g, int i, size_t head_len)
{
    pend *p = &g->p[i];
    char why[256];
    int st = vd__http_check_head(g->buf, head_len, why, sizeof why);
    if (st) {
        reject(g, i, st, why);
        return;
    }
    pthread_mutex_lock(&g->mu);
    ipcount *ic = ip_slot(g, &p->ip, 0);
    int ok =
        room(g->n_served, g->lim.active_max, ic ? ic->n : 0, g->lim.active_per_ip, g->lim.reserve);
    pthread_mutex_unlock(&g->mu);
    if (!ok) {
        reject(g, i, 503,
               ic && ic->n >= g->lim.active_per_ip
                   ? "too many requests in progress from this client: retry later"
                   : "the server is serving too many connections: retry later");
        return;
    }
    set_lowat(p->fd, 1);
    int fd = p->fd;
    struct sockaddr_storage a = p->addr;
    socklen_t al = p->alen;
    g->p[i] = g->p[--g->np];
    MHD_add_connection(g->d, fd, (struct sockaddr *)&a, al); /* closes fd if it fails */
}

/* Find the end of the head (just past its blank line) in buf[0..n); 0 if not yet there. */
static size_t head_end(const char *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\n') continue;
        if (b[i + 1] == '\n') return i + 2;
        if (b[i + 1] == '\r' && i + 2 < n && b[i + 2] == '\n') return i + 3;
    }
    return 0;
}

static void on_readable(vd__http_guard *g, int i, short revents)
{
    pend *p = &g->p[i];
    if (p->closing) {
        ssize_t r = recv(p->fd, g->buf, VD__HTTP_HEAD_MAX, MSG_DONTWAIT);
        if (r > 0) p->drained += (size_t)r;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || p->drained > LINGER_MAX)
            drop(g, i);
        return;
    }
    ssize_t n = recv(p->fd, g->buf, VD__HTTP_HEAD_MAX + 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { /* gone before a request */
        drop(g, i);
        return;
    }
    if (n < 0) return;
    size_t e = head_end(g->buf, (size_t)n);
    if (e) {
        admit(g, i, e);
    } else if ((size_t)n > VD__HTTP_HEAD_MAX) {
        reject(g, i, 431, "the request head (request line and headers) is over 32 KiB");
    } else if (revents & (POLLRDHUP | POLLHUP)) {
        /* the client shut its side down: the head can never complete, and waiting for
         * the deadline would hold the slot (and wake this loop on every poll) */
        reject(g, i, 400, "the connection was closed before a whole request head arrived");
    } else {
        p->seen = (size_t)n;
        set_lowat(p->fd, p->seen + 1); /* wake when more arrives */
    }
}

static void expire(vd__http_guard *g, double now)
{
    for (int i = g->np - 1; i >= 0; i--) {
        pend *p = &g->p[i];
        if (now < p->deadline) continue;
        if (p->closing || p->seen == 0)
            drop(g, i); /* lingered enough, or idle: nothing was asked */
        else
            reject(g, i, 408, "the request head did not arrive in time: send it at once");
    }
}

static void *guard_main(void *arg)
{
    vd__http_guard *g = arg;
    struct pollfd *fds = calloc((size_t)g->lim.pending_max + 2, sizeof *fds);
    double next_watch = 0;
    while (fds && !atomic_load(&g->stop)) {
        double now = mono_s(), soonest = now + TICK_MS / 1e3;
        fds[0] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = g->lfd, .events = POLLIN};
        int n = g->np;
        for (int i = 0; i < n; i++) {
            fds[i + 2] = (struct pollfd){.fd = g->p[i].fd, .events = POLLIN | POLLRDHUP};
            if (g->p[i].deadline < soonest) soonest = g->p[i].deadline;
        }
        int ms = (int)((soonest - now) * 1e3) + 1;
        int r = poll(fds, (nfds_t)n + 2, ms < 1 ? 1 : ms);
        if (atomic_load(&g->stop)) break;
        if (r < 0 && errno != EINTR) break;
        now = mono_s();
        /* the pending entries first (indices still match fds), highest first: removing
         * swaps the last entry in, which was already handled */
        for (int i = n - 1; r > 0 && i >= 0; i--)
            if (fds[i + 2].revents) on_readable(g, i, fds[i + 2].revents);
        if (r > 0 && (fds[1].revents & POLLIN)) accept_new(g, now);
        expire(g, now);
        if (now >= next_watch) {
            watch_served(g, now);
            next_watch = now + TICK_MS / 1e3;
        }
    }
    free(fds);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int vd__guard_new(const struct sockaddr *sa, socklen_t len, const vd__guard_limits *l,
                  vd__http_guard **out, vd_error *err)
{
    *out = NULL;
    vd__http_guard *g = calloc(1, sizeof *g);
    if (!g) return vd_fail(err, VD_ENOMEM, "out of memory");
    g->lim = *l;
    g->lfd = g->wake[0] = g->wake[1] = -1;
    g->p = calloc((size_t)l->pending_max, sizeof *g->p);
    g->buf = malloc(VD__HTTP_HEAD_MAX + 1);
    pthread_mutex_init(&g->mu, NULL);
    atomic_init(&g->stop, 0);
    if (!g->p || !g->buf || pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        vd__guard_free(g);
        return vd_fail(err, VD_ENOMEM, "http server: out of memory or descriptors");
    }
    g->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (g->lfd >= 0) setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (g->lfd >= 0 && sa->sa_family == AF_INET6)
        setsockopt(g->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (g->lfd < 0 || bind(g->lfd, sa, len) != 0 || listen(g->lfd, 1024) != 0) {
        const char *why = g->lfd < 0            ? "cannot create a socket"
                          : errno == EADDRINUSE ? "the port is in use (is another server running?)"
                          : errno == EACCES ? "permission denied (ports below 1024 need privileges)"
                          : errno == EADDRNOTAVAIL ? "the address is not one of this machine's"
                                                   : strerror(errno);
        int e = vd_fail(err, VD_EIO, "%s", why);
        vd__guard_free(g);
        return e;
    }
    *out = g;
    return 0;
}

int vd__guard_port(const vd__http_guard *g)
{
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    if (!g || getsockname(g->lfd, (struct sockaddr *)&a, &al) != 0) return -1;
    if (a.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&a)->sin_port);
    if (a.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return -1;
}

int vd__guard_run(vd__http_guard *g, struct MHD_Daemon *d, vd_error *err)
{
    g->d = d;
    if (pthread_create(&g->thr, NULL, guard_main, g) != 0)
        return vd_fail(err, VD_ENOMEM, "http server: cannot start the admission thread");
    g->started = 1;
    return 0;
}

void vd__guard_stop(vd__http_guard *g)
{
    if (!g) return;
    atomic_store(&g->stop, 1);
    if (g->wake[1] >= 0) {
        ssize_t w = write(g->wake[1], "x", 1);
        (void)w;
    }
    if (g->started) pthread_join(g->thr, NULL);
    g->started = 0;
    while (g->np > 0) drop(g, g->np - 1);
    if (g->lfd >= 0) close(g->lfd);
    g->lfd = -1;
}

void vd__guard_free(vd__http_guard *g)
{
    if (!g) return;
    vd__guard_stop(g);
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0) close(g->wake[i]);
    while (g->head) { /* none once libmicrohttpd has stopped; be safe */
        served *s = g->head;
        g->head = s->next;
        free(s);
    }
    free(g->ips);
    free(g->p);
    free(g->buf);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
