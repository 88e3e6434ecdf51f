/*
 * An MQTT publisher on libmosquitto (include/vdag/net.h): a bounded queue, one sender thread
 * that hands messages to libmosquitto while connected (QoS 1, at most VD_MQTT_INFLIGHT
 * unacknowledged), libmosquitto's loop thread for the network and its reconnections.
 *
 * Locking: m->mu guards the queue, the remembered retained messages, the counters and the
 * flags. libmosquitto's callbacks (its loop thread) take it briefly; mosquitto_publish is
 * called by the sender thread only, without it, so the order of the queue is the order on
 * the wire.
 */
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vdag/base.h"
#include "vdag/net.h"

typedef struct mq_item {
    struct mq_item *next;
    char *topic;
    void *payload;
    size_t len;
    int retain;
} mq_item;

/* The latest payload of a retained topic (published again after each reconnection). */
typedef struct mq_keep {
    char *topic;
    void *payload;
    size_t len;
} mq_keep;

struct vd_mqtt {
    struct mosquitto *mosq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t sender;
    int sender_started, loop_started; /* loop_started: the sender's (under mu) */
    char host[256];
    int port, keepalive;
    double next_try; /* ms: the first connection's next attempt */
    mq_item *head, *tail;
    int n, max;
    mq_keep *keep;
    int n_keep;
    int connected, fresh; /* fresh: connected since the sender last sent the state */
    int inflight;         /* handed to libmosquitto, not yet acknowledged */
    int stop;
    uint64_t published, dropped;
    char error[512];
    char *will;
    char url[300]; /* redacted, for messages */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mosquitto_lib_init();
}

static void item_free(mq_item *it)
{
    if (!it) return;
    free(it->topic);
    free(it->payload);
    free(it);
}

static mq_item *item_new(const char *topic, const void *payload, size_t len, int retain)
{
    mq_item *it = calloc(1, sizeof *it);
    if (!it) return NULL;
    it->topic = strdup(topic);
    it->payload = malloc(len ? len : 1);
    if (!it->topic || !it->payload) {
        item_free(it);
        return NULL;
    }
    if (len) memcpy(it->payload, payload, len);
    it->len = len;
    it->retain = retain;
    return it;
}

int vd_mqtt_url_parse(const char *url, char *host, size_t hcap, int *port, char *user, size_t ucap,
                      char *password, size_t pcap, vd_error *err)
{
    char red[300];
    vd_nats_url_redact(url, red, sizeof red);
    if (!url || !hcap || !ucap || !pcap) return vd_fail(err, VD_EINVAL, "MQTT: no URL");
    host[0] = user[0] = password[0] = 0;
    *port = 1883;
    const char *s = url;
    if (!strncmp(s, "mqtt://", 7))
        s += 7;
    else if (!strncmp(s, "tcp://", 6))
        s += 6;
    else if (!strncmp(s, "mqtts://", 8) || !strncmp(s, "ssl://", 6) || !strncmp(s, "ws://", 5) ||
             !strncmp(s, "wss://", 6))
        return vd_fail(err, VD_EUNSUPP,
                       "MQTT URL '%s': only plain TCP (mqtt://HOST:PORT) is supported; put a TLS "
                       "bridge or a local broker in front of a TLS one",
                       red);
    else if (strstr(s, "://"))
        return vd_fail(err, VD_EINVAL,
                       "MQTT URL '%s': expected mqtt://[USER[:PASSWORD]@]HOST[:PORT]", red);
    const char *at = strrchr(s, '@');
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ul = colon ? (size_t)(colon - s) : (size_t)(at - s);
        size_t pl = colon ? (size_t)(at - colon - 1) : 0;
        if (!ul || ul >= ucap || pl >= pcap)
            return vd_fail(err, VD_EINVAL, "MQTT URL '%s': a user name (and password) before '@'",
                           red);
        memcpy(user, s, ul), user[ul] = 0;
        if (colon) memcpy(password, colon + 1, pl), password[pl] = 0;
        s = at + 1;
    }
    const char *end = s + strcspn(s, "/?#");
    if (*end && strcmp(end, "/"))
        return vd_fail(err, VD_EINVAL, "MQTT URL '%s': no path or query after HOST:PORT", red);
    const char *hs = s, *he;
    if (*s == '[') { /* [v6]:port */
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb) return vd_fail(err, VD_EINVAL, "MQTT URL '%s': a '[' without ']'", red);
        hs = s + 1, he = rb;
        s = rb + 1;
    } else {
        he = memchr(s, ':', (size_t)(end - s));
        if (!he) he = end;
        s = he;
    }
    if (he == hs || (size_t)(he - hs) >= hcap)
        return vd_fail(err, VD_EINVAL, "MQTT URL '%s': no host", red);
    memcpy(host, hs, (size_t)(he - hs)), host[he - hs] = 0;
    if (strpbrk(host, " \t@/")) return vd_fail(err, VD_EINVAL, "MQTT URL '%s': a bad host", red);
    if (s < end && *s == ':') {
        char digits[8];
        size_t dl = (size_t)(end - s - 1);
        char *e;
        if (!dl || dl >= sizeof digits)
            return vd_fail(err, VD_EINVAL, "MQTT URL '%s': a port 1-65535 after ':'", red);
        memcpy(digits, s + 1, dl), digits[dl] = 0;
        long p = strtol(digits, &e, 10);
        if (*e || p < 1 || p > 65535)
            return vd_fail(err, VD_EINVAL, "MQTT URL '%s': a port 1-65535 after ':'", red);
        *port = (int)p;
    } else if (s < end) {
        return vd_fail(err, VD_EINVAL, "MQTT URL '%s': unexpected '%c' after the host", red, *s);
    }
    return 0;
}

/* Remember the latest payload of a retained topic (lock held); at most VD_MQTT_RETAINED. */
static void keep_retained(vd_mqtt *m, const mq_item *it)
{
    int k = 0;
    while (k < m->n_keep && strcmp(m->keep[k].topic, it->topic)) k++;
    if (k == m->n_keep) {
        if (k >= VD_MQTT_RETAINED) return;
        mq_keep *nk = realloc(m->keep, sizeof *nk * (size_t)(k + 1));
        if (!nk) return;
        m->keep = nk;
        nk[k] = (mq_keep){strdup(it->topic), NULL, 0};
        if (!nk[k].topic) return;
        m->n_keep++;
    }
    void *p = malloc(it->len ? it->len : 1);
    if (!p) return;
    if (it->len) memcpy(p, it->payload, it->len);
    free(m->keep[k].payload);
    m->keep[k].payload = p;
    m->keep[k].len = it->len;
}

/* Append (lock held); the oldest go beyond max (VD_EBUSY then). */
static int push(vd_mqtt *m, mq_item *it)
{
    int full = 0;
    while (m->n >= m->max && m->head) { /* the oldest go */
        mq_item *old = m->head;
        m->head = old->next;
        if (!m->head) m->tail = NULL;
        m->n--;
        m->dropped++;
        item_free(old);
        full = 1;
    }
    it->next = NULL;
    if (m->tail)
        m->tail->next = it;
    else
        m->head = it;
    m->tail = it;
    m->n++;
    pthread_cond_broadcast(&m->cv);
    return full ? VD_EBUSY : 0;
}

int vd_mqtt_publish(vd_mqtt *m, const char *topic, const void *payload, size_t len, int retain)
{
    if (!m || !topic || !*topic || strpbrk(topic, "+#")) return VD_EINVAL;
    mq_item *it = item_new(topic, payload, len, retain);
    pthread_mutex_lock(&m->mu);
    int rc;
    if (!it) {
        m->dropped++;
        rc = VD_ENOMEM;
    } else {
        if (retain) keep_retained(m, it);
        rc = push(m, it);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    vd_mqtt *m = arg;
    (void)mosq;
    pthread_mutex_lock(&m->mu);
    if (rc == 0) {
        if (m->error[0]) fprintf(stderr, "vdag: MQTT: connected to %s\n", m->url);
        m->connected = m->fresh = 1;
        m->inflight = 0; /* what libmosquitto still holds it sends again itself */
        m->error[0] = 0;
    } else {
        char e[512];
        snprintf(e, sizeof e, "the broker at %s refused the connection: %s", m->url,
                 mosquitto_connack_string(rc));
        if (strcmp(e, m->error)) fprintf(stderr, "vdag: MQTT: %s (retrying)\n", e);
        snprintf(m->error, sizeof m->error, "%s", e);
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    vd_mqtt *m = arg;
    (void)mosq;
    pthread_mutex_lock(&m->mu);
    if (m->connected && rc && !m->stop) {
        snprintf(m->error, sizeof m->error, "lost the connection to %s", m->url);
        fprintf(stderr, "vdag: MQTT: %s (reconnecting; events wait in a queue of %d)\n", m->error,
                m->max);
    }
    m->connected = 0;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    vd_mqtt *m = arg;
    (void)mosq, (void)mid;
    pthread_mutex_lock(&m->mu);
    if (m->inflight > 0) m->inflight--;
    m->published++;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Send one message (no lock held): 0 handed over, <0 refused for good. A QoS 1 message is
 * libmosquitto's once queued, also when the connection was lost just then (NO_CONN): it
 * sends it again after reconnecting. */
static int send_one(vd_mqtt *m, const mq_item *it)
{
    int rc =
        mosquitto_publish(m->mosq, NULL, it->topic, (int)it->len, it->payload, 1, it->retain != 0);
    return rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST ? 0 : -1;
}

/* The state after a (re)connection: "online", then every retained topic's latest payload
 * (lock held on entry and return). */
static void send_state(vd_mqtt *m)
{
    m->fresh = 0;
    mq_item *l = NULL, **tail = &l;
    if (m->will && (*tail = item_new(m->will, "online", 6, 1))) tail = &(*tail)->next;
    for (int k = 0; k < m->n_keep; k++)
        if ((*tail = item_new(m->keep[k].topic, m->keep[k].payload, m->keep[k].len, 1)))
            tail = &(*tail)->next;
    pthread_mutex_unlock(&m->mu);
    int sent = 0;
    while (l) {
        mq_item *it = l;
        l = it->next;
        sent += send_one(m, it) == 0;
        item_free(it);
    }
    pthread_mutex_lock(&m->mu);
    m->inflight += sent;
}

/* The first connection (lock held on entry and return): libmosquitto's loop thread retries
 * a lost connection, but not one whose first attempt failed at once (refused), so until one
 * attempt starts, the sender tries every second, then starts the loop. */
static void first_connect(vd_mqtt *m)
{
    if (m->loop_started || m->stop || vd_now_ms() < m->next_try) return;
    m->next_try = vd_now_ms() + 1000;
    pthread_mutex_unlock(&m->mu);
    int mr = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive);
    int ls = mr ? mr : mosquitto_loop_start(m->mosq);
    pthread_mutex_lock(&m->mu);
    if (!mr && !ls) {
        m->loop_started = 1;
        return;
    }
    char e[512];
    snprintf(e, sizeof e, "cannot reach %s: %s", m->url,
             mr == MOSQ_ERR_ERRNO ? "connection refused or unreachable"
                                  : mosquitto_strerror(mr ? mr : ls));
    if (strcmp(e, m->error)) fprintf(stderr, "vdag: MQTT: %s (retrying)\n", e);
    snprintf(m->error, sizeof m->error, "%s", e);
}

static void *sender_main(void *arg)
{
    vd_mqtt *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        first_connect(m);
        if (m->connected && m->fresh) send_state(m);
        if (m->connected && m->head && m->inflight < VD_MQTT_INFLIGHT) {
            mq_item *it = m->head;
            m->head = it->next;
            if (!m->head) m->tail = NULL;
            m->n--;
            pthread_mutex_unlock(&m->mu);
            int rc = send_one(m, it);
            pthread_mutex_lock(&m->mu);
            if (rc == 0)
                m->inflight++;
            else
                m->dropped++;
            item_free(it);
            pthread_cond_broadcast(&m->cv);
            continue;
        }
        if (m->stop) break;
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 200);
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static int mosq_fail(vd_error *err, int rc, const char *what, const char *url)
{
    return vd_fail(err, rc == MOSQ_ERR_INVAL ? VD_EINVAL : VD_EBACKEND, "MQTT %s: %s: %s", url,
                   what, mosquitto_strerror(rc));
}

int vd_mqtt_open(const vd_mqtt_opts *o, vd_mqtt **out, vd_error *err)
{
    *out = NULL;
    char host[256], user[128], pass[256];
    int port;
    int rc = vd_mqtt_url_parse(o->url, host, sizeof host, &port, user, sizeof user, pass,
                               sizeof pass, err);
    if (rc) return rc;
    if (o->user && *o->user) {
        snprintf(user, sizeof user, "%s", o->user);
        snprintf(pass, sizeof pass, "%s", o->password ? o->password : "");
    }
    if (o->will_topic && (!*o->will_topic || strpbrk(o->will_topic, "+#"))) {
        explicit_bzero(pass, sizeof pass);
        return vd_fail(err, VD_EINVAL, "MQTT: the availability topic '%s' has a wildcard",
                       o->will_topic);
    }
    pthread_once(&lib_once, lib_init);
    vd_mqtt *m = calloc(1, sizeof *m);
    if (!m) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd_nats_url_redact(o->url, m->url, sizeof m->url);
    m->max = o->max_queue > 0 ? o->max_queue : 10000;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    char id[128];
    if (o->client_id && *o->client_id) {
        snprintf(id, sizeof id, "%s", o->client_id);
    } else {
        char hn[64] = "host";
        gethostname(hn, sizeof hn - 1);
        snprintf(id, sizeof id, "vdag-%s-%d", hn, (int)getpid());
    }
    m->will = o->will_topic ? strdup(o->will_topic) : NULL;
    m->mosq = mosquitto_new(id, true, m);
    if (!m->mosq || (o->will_topic && !m->will)) {
        rc = vd_fail(err, VD_ENOMEM, "MQTT %s: cannot make a client", m->url);
        goto fail;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_reconnect_delay_set(m->mosq, 1, 2, false);
    int mr = MOSQ_ERR_SUCCESS;
    if (user[0]) mr = mosquitto_username_pw_set(m->mosq, user, pass[0] ? pass : NULL);
    explicit_bzero(pass, sizeof pass);
    if (mr) {
        rc = mosq_fail(err, mr, "the user name", m->url);
        goto fail;
    }
    if (m->will && (mr = mosquitto_will_set(m->mosq, m->will, 7, "offline", 1, true))) {
        rc = mosq_fail(err, mr, "the availability topic", m->url);
        goto fail;
    }
    snprintf(m->host, sizeof m->host, "%s", host);
    m->port = port;
    m->keepalive = o->keepalive_s > 0 ? o->keepalive_s : 10;
    if (pthread_create(&m->sender, NULL, sender_main, m)) {
        rc = vd_fail(err, VD_ENOMEM, "MQTT %s: cannot start a thread", m->url);
        goto fail;
    }
    m->sender_started = 1; /* it connects (a broker not up yet is no error: retried) */
    *out = m;
    return 0;
fail:
    vd_mqtt_close(m);
    return rc;
}

void vd_mqtt_stats_get(vd_mqtt *m, vd_mqtt_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    s->published = m->published;
    s->dropped = m->dropped;
    s->queued = m->n;
    s->connected = m->connected;
    snprintf(s->error, sizeof s->error, "%s", m->error);
    pthread_mutex_unlock(&m->mu);
}

int vd_mqtt_flush(vd_mqtt *m, int timeout_ms)
{
    double until = vd_now_ms() + timeout_ms;
    pthread_mutex_lock(&m->mu);
    while ((m->head || m->inflight > 0 || m->fresh) && vd_now_ms() < until) {
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 50);
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    int rc = m->head || m->inflight > 0 || m->fresh ? VD_ETIMEDOUT : 0;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void vd_mqtt_close(vd_mqtt *m)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    int up = m->connected;
    pthread_mutex_unlock(&m->mu);
    if (m->will && up) vd_mqtt_publish(m, m->will, "offline", 7, 1);
    if (up) vd_mqtt_flush(m, 1000);
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->sender_started) pthread_join(m->sender, NULL); /* then loop_started stays */
    if (m->loop_started) {
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_stop(m->mosq, false);
    }
    mosquitto_destroy(m->mosq);
    while (m->head) {
        mq_item *it = m->head;
        m->head = it->next;
        item_free(it);
    }
    for (int k = 0; k < m->n_keep; k++) free(m->keep[k].topic), free(m->keep[k].payload);
    free(m->keep);
    free(m->will);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
