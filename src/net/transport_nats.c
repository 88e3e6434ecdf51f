/*
 * NATS transport (nats.c). Serving `service` as `node` subscribes to
 * vdag.node.<node>.svc.<service> and, in queue group svc.<service>, to vdag.svc.<service>
 * (replicas share the load). A reply is one status byte: 0 (ok) and the handler's
 * response, or 1 (error) and {"code": the handler's VD_E* code, "msg": its message}, which
 * the caller gets as VD_EREMOTE with err->remote = code. Every asynchronous subscription
 * has its own delivery thread (nats.c's default; the global delivery pool is switched off
 * explicitly), so a slow handler only holds up its own subscription, and a handler may make
 * nested calls: each call waits on a reply subscription of its own
 * ("_INBOX.<name>.<unique>", the subject the server's permissions grant this identity).
 *
 * The server's refusals come asynchronously (nats.c's error handler, nats_auth.c): a
 * refused publish or subscription is recorded by subject and logged once; a call whose
 * subject is refused ends at once with VD_EAUTH (its reply subscription is closed by the
 * handler), and serve and subscribe check for a refusal after the server has processed the
 * subscription (a flush).
 * Credentials and TLS: nats_auth.c; JetStream streams and buckets: nats_js.c.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "nats_internal.h"
#include "net_internal.h"
#include "vdag/base.h"
#include "vdag/nats_conn.h"
#include "vdag/net.h"

struct nt_cb {
    struct nt_cb *next;
    struct nt *owner;
    natsSubscription *sub;
    /* serve */
    char *node, *service;
    vd_serve_fn serve;
    /* subscribe */
    vd_msg_fn msg;
    void *arg;
};

enum { NT_REPLY_OK = 0, NT_REPLY_ERR = 1 };

int vd__nt_code(natsStatus s)
{
    switch (s) {
    case NATS_TIMEOUT:
        return VD_ETIMEDOUT;
    case NATS_NO_RESPONDERS:
        return VD_ENOTFOUND;
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
        return VD_ECONN;
    case NATS_MAX_PAYLOAD:
        return VD_ETOOBIG;
    case NATS_NO_MEMORY:
        return VD_ENOMEM;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_QUEUE_NAME:
        return VD_EINVAL;
    case NATS_INSUFFICIENT_BUFFER:
        return VD_EBUSY;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_SSL_ERROR:
        return VD_EAUTH;
    default:
        return VD_EBACKEND;
    }
}

/* The last nats.c error text for this thread, or the status text. */
const char *vd__nt_text(natsStatus s)
{
    natsStatus ls;
    const char *t = nats_GetLastError(&ls);
    return t && *t && ls == s ? t : natsStatus_GetText(s);
}

static void on_complete(void *closure)
{
    nt_cb *c = closure;
    nt *p = c->owner;
    pthread_mutex_lock(&p->mu);
    p->live--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void publish_oom(natsConnection *nc, const char *reply)
{
    static const unsigned char oom[] = "\001{\"code\":-2,\"msg\":\"out of memory building the "
                                       "reply\"}";
    natsConnection_Publish(nc, reply, oom, (int)sizeof oom - 1);
}

/* Publish a frame: the status byte, then data. */
static void publish_reply(natsConnection *nc, const char *reply, int status, const void *data,
                          size_t len, const nt_cb *c)
{
    unsigned char *f = malloc(len + 1);
    if (!f) {
        publish_oom(nc, reply);
        return;
    }
    f[0] = (unsigned char)status;
    if (len) memcpy(f + 1, data, len);
    natsStatus s = natsConnection_Publish(nc, reply, f, (int)(len + 1));
    if (s != NATS_OK)
        fprintf(stderr, "vdag: node '%s' service '%s': cannot send the reply: %s\n", c->node,
                c->service, vd__nt_text(s));
    free(f);
}

/* An error reply: {"code", "msg"} after the status byte. */
static void send_error(natsConnection *nc, const char *reply, int code, char *msg, const nt_cb *c)
{
    json_t *m = json_string(msg);
    if (!m) { /* not valid UTF-8 (a path in the message): show the odd bytes as '?' */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        m = json_string(msg);
    }
    json_t *j = json_pack("{s:i,s:o}", "code", code, "msg", m);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s)
        publish_reply(nc, reply, NT_REPLY_ERR, s, strlen(s), c);
    else
        publish_oom(nc, reply);
    free(s);
}

static void send_reply(natsConnection *nc, const char *reply, const void *data, size_t len,
                       const nt_cb *c)
{
    int64_t maxp = natsConnection_GetMaxPayload(nc);
    if (maxp > 0 && (int64_t)len + 1 > maxp) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "node '%s' service '%s': the reply of %zu bytes exceeds the NATS server's "
                 "max_payload of %lld bytes: raise max_payload in the server config",
                 c->node, c->service, len, (long long)maxp);
        send_error(nc, reply, VD_ETOOBIG, msg, c);
        return;
    }
    publish_reply(nc, reply, NT_REPLY_OK, data, len, c);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)sub;
    nt_cb *c = closure;
    vd_buf req = {(unsigned char *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)};
    vd_buf resp = {NULL, 0};
    vd_error e = {0};
    int rc = c->serve(c->arg, &req, &resp, &e);
    const char *reply = natsMsg_GetReply(m);
    if (reply && *reply) {
        if (rc < 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "node '%s' service '%s': %s", c->node, c->service,
                     e.msg[0] ? e.msg : vd_strerror(rc));
            send_error(nc, reply, rc, msg, c);
        } else {
            send_reply(nc, reply, resp.data, resp.len, c);
        }
    }
    vd_buf_free(&resp);
    natsMsg_Destroy(m);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc, (void)sub;
    nt_cb *c = closure;
    vd_buf b = {(unsigned char *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)};
    c->msg(c->arg, natsMsg_GetSubject(m), &b);
    natsMsg_Destroy(m);
}

/* ---- the server's refusals (recorded by nats_auth.c) ---------------------------------- */

/* VD_EAUTH for a subject the server refused to subscribe to (after a flush: the server has
 * answered by then; its error is recorded on the connection before the flush's PONG). */
static int check_sub_refused(nt *p, const char *subject, vd_error *err)
{
    char text[256] = "";
    const char *last = NULL;
    if (natsConnection_GetLastError(p->nc, &last) == NATS_NOT_PERMITTED && last) {
        int publish;
        char subj[256];
        if (vd__nt_parse_violation(last, &publish, subj, sizeof subj) && !publish &&
            !strcmp(subj, subject))
            snprintf(text, sizeof text, "%s", last);
    }
    if (!text[0] && !vd__nt_denied(p, subject, 0, text, sizeof text)) return 0;
    return vd_fail(err, VD_EAUTH,
                   "NATS (%s): not authorized: the server does not let '%s' subscribe to '%s' "
                   "(%s): give this identity that permission (docs/security.md) or use the "
                   "right credentials",
                   p->url, p->name, subject, text);
}

/* ---- subscriptions -------------------------------------------------------------------- */

/* Subscribe (queue may be NULL) and register the callback context; takes c. */
static int add_sub(nt *p, nt_cb *c, const char *subject, const char *queue, natsMsgHandler h,
                   vd_error *err)
{
    c->owner = p;
    natsStatus s = queue ? natsConnection_QueueSubscribe(&c->sub, p->nc, subject, queue, h, c)
                         : natsConnection_Subscribe(&c->sub, p->nc, subject, h, c);
    if (s == NATS_OK) {
        pthread_mutex_lock(&p->mu);
        p->live++;
        pthread_mutex_unlock(&p->mu);
        s = natsSubscription_SetOnCompleteCB(c->sub, on_complete, c);
        if (s != NATS_OK) {
            pthread_mutex_lock(&p->mu);
            p->live--;
            pthread_mutex_unlock(&p->mu);
        }
    }
    if (s != NATS_OK) {
        int code = vd__nt_code(s);
        vd_fail(err, code, "NATS (%s): cannot subscribe to '%s'%s%s: %s", p->url, subject,
                queue ? " in queue group " : "", queue ? queue : "", vd__nt_text(s));
        if (c->sub) {
            natsSubscription_Unsubscribe(c->sub);
            natsSubscription_Destroy(c->sub);
        }
        free(c->node), free(c->service), free(c);
        return code;
    }
    pthread_mutex_lock(&p->mu);
    c->next = p->cbs;
    p->cbs = c;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* After subscribing: the server has the interest (or refused it) once a flush returns. */
static int sync_subs(nt *p, const char *s1, const char *s2, vd_error *err)
{
    if (natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED) return 0;
    natsConnection_FlushTimeout(p->nc, 2000);
    int rc = check_sub_refused(p, s1, err);
    if (!rc && s2) rc = check_sub_refused(p, s2, err);
    return rc;
}

static int nt_serve(vd_transport *t, const char *node, const char *service, vd_serve_fn fn,
                    void *arg, vd_error *err)
{
    nt *p = t->priv;
    int rc = vd__check_names("NATS serve", node, 1, service, err);
    if (rc) return rc;
    if (!fn) return vd_fail(err, VD_EINVAL, "NATS serve of '%s': no handler", service);
    pthread_mutex_lock(&p->mu);
    int dup = 0;
    for (nt_cb *c = p->cbs; c && !dup; c = c->next)
        dup = c->serve && !strcmp(c->node, node) && !strcmp(c->service, service);
    pthread_mutex_unlock(&p->mu);
    if (dup)
        return vd_fail(err, VD_EINVAL,
                       "node '%s' already serves '%s' (NATS transport): serve each service "
                       "once per node",
                       node, service);
    char subj[2][512], queue[300];
    for (int i = 0; i < 2; i++) {
        nt_cb *c = calloc(1, sizeof *c);
        if (c) c->node = strdup(node), c->service = strdup(service);
        if (!c || !c->node || !c->service) {
            if (c) free(c->node), free(c->service);
            free(c);
            return vd_fail(err, VD_ENOMEM, "out of memory serving '%s'", service);
        }
        c->serve = fn;
        c->arg = arg;
        if (i == 0)
            snprintf(subj[i], sizeof subj[i], "vdag.node.%s.svc.%s", node, service);
        else
            snprintf(subj[i], sizeof subj[i], "vdag.svc.%s", service);
        snprintf(queue, sizeof queue, "svc.%s", service);
        rc = add_sub(p, c, subj[i], i ? queue : NULL, on_request, err);
        if (rc < 0) return rc; /* a first subscription stays until close: harmless */
    }
    /* Make sure the server has the interest before callers are told we serve. */
    return sync_subs(p, subj[0], subj[1], err);
}

/* ---- calls ---------------------------------------------------------------------------- */

/* Publish a request and wait for its reply on a subscription of its own, registered as in
 * flight so that a refusal of the subject ends the wait at once. *denied: it was refused. */
static natsStatus request(nt *p, const char *subj, const void *data, int len, int timeout_ms,
                          natsMsg **m, int *denied)
{
    *m = NULL;
    *denied = 0;
    natsInbox *uniq = NULL;
    natsStatus s = natsInbox_Create(&uniq); /* "_INBOX.<nuid>": the nuid, under our prefix */
    if (s != NATS_OK) return s;
    const char *dot = strchr(uniq, '.');
    char inbox[400];
    snprintf(inbox, sizeof inbox, "%s.%s", p->inbox, dot ? dot + 1 : uniq);
    natsInbox_Destroy(uniq);
    natsSubscription *sub = NULL;
    s = natsConnection_SubscribeSync(&sub, p->nc, inbox);
    if (s == NATS_OK) s = natsSubscription_AutoUnsubscribe(sub, 1);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return s;
    }
    nt_pending me = {.subject = subj, .sub = sub};
    pthread_mutex_lock(&p->mu);
    me.next = p->pending;
    p->pending = &me;
    pthread_mutex_unlock(&p->mu);
    s = natsConnection_PublishRequest(p->nc, subj, inbox, data, len);
    if (s == NATS_OK) s = natsSubscription_NextMsg(m, sub, timeout_ms);
    pthread_mutex_lock(&p->mu);
    for (nt_pending **q = &p->pending; *q; q = &(*q)->next)
        if (*q == &me) {
            *q = me.next;
            break;
        }
    *denied = me.denied;
    pthread_mutex_unlock(&p->mu);
    if (s == NATS_OK && natsMsg_IsNoResponders(*m)) {
        natsMsg_Destroy(*m);
        *m = NULL;
        s = NATS_NO_RESPONDERS;
    }
    if (*denied && s == NATS_OK) { /* a reply raced the refusal: take the reply */
        *denied = 0;
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return s;
}

static int nt_call(vd_transport *t, const char *node, const char *service, const vd_buf *req,
                   vd_buf *resp, int timeout_ms, vd_error *err)
{
    nt *p = t->priv;
    resp->data = NULL;
    resp->len = 0;
    int rc = vd__check_names("NATS call", node, 0, service, err);
    if (rc) return rc;
    char subj[512], who[300], text[256];
    if (node) {
        snprintf(subj, sizeof subj, "vdag.node.%s.svc.%s", node, service);
        snprintf(who, sizeof who, "service '%s' on node '%s'", service, node);
    } else {
        snprintf(subj, sizeof subj, "vdag.svc.%s", service);
        snprintf(who, sizeof who, "service '%s'", service);
    }
    if (timeout_ms <= 0) timeout_ms = 5000;
    natsConnStatus cs = natsConnection_Status(p->nc);
    if (cs == NATS_CONN_STATUS_CLOSED || cs == NATS_CONN_STATUS_DRAINING_SUBS ||
        cs == NATS_CONN_STATUS_DRAINING_PUBS) {
        pthread_mutex_lock(&p->mu);
        snprintf(text, sizeof text, "%s", p->auth_err);
        pthread_mutex_unlock(&p->mu);
        if (text[0])
            return vd_fail(err, VD_EAUTH,
                           "call to %s (subject '%s'): not authorized: the NATS server at %s "
                           "refused the credentials of '%s' (%s) and the connection is closed",
                           who, subj, p->url, p->name, text);
        return vd_fail(err, VD_ECONN,
                       "call to %s (subject '%s'): the NATS connection to %s is "
                       "closed",
                       who, subj, p->url);
    }
    if (vd__nt_denied(p, subj, 1, text, sizeof text))
        return vd_fail(err, VD_EAUTH,
                       "call to %s: not authorized: the NATS server does not let '%s' publish "
                       "on '%s' (%s): only an identity with that permission may (see "
                       "docs/security.md)",
                       who, p->name, subj, text);
    size_t len = req ? req->len : 0;
    int64_t maxp = natsConnection_GetMaxPayload(p->nc);
    if (len > 0x7fffffff || (maxp > 0 && (int64_t)len > maxp))
        return vd_fail(err, VD_ETOOBIG,
                       "call to %s (subject '%s'): request of %zu bytes exceeds the NATS server's "
                       "max_payload of %lld bytes: raise max_payload in the server config",
                       who, subj, len, (long long)maxp);
    natsMsg *m = NULL;
    int denied = 0;
    natsStatus s = request(p, subj, len ? req->data : NULL, (int)len, timeout_ms, &m, &denied);
    if (denied) {
        vd__nt_denied(p, subj, 1, text, sizeof text);
        return vd_fail(err, VD_EAUTH,
                       "call to %s: not authorized: the NATS server does not let '%s' publish "
                       "on '%s' (%s): only an identity with that permission may (see "
                       "docs/security.md)",
                       who, p->name, subj, text);
    }
    if (s != NATS_OK) {
        int connected = natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED;
        if (s == NATS_NO_RESPONDERS)
            return vd_fail(err, VD_ENOTFOUND,
                           node ? "node '%s' does not serve '%s' (no responder on NATS subject "
                                  "'%s'): start the service on that node"
                                : "%.0sno node serves '%s' (no responder on NATS subject '%s'): "
                                  "start a node with that service",
                           node ? node : "", service, subj);
        if (s == NATS_TIMEOUT && connected)
            return vd_fail(err, VD_ETIMEDOUT,
                           "call to %s timed out after %d ms (NATS subject '%s'): the handler "
                           "is slow or the node is stuck",
                           who, timeout_ms, subj);
        if (!connected)
            return vd_fail(err, VD_ECONN,
                           "call to %s (NATS subject '%s'): not connected to the NATS server at "
                           "%s (%s); it reconnects by itself: is nats-server running?",
                           who, subj, p->url, vd__nt_text(s));
        return vd_fail(err, vd__nt_code(s), "call to %s (NATS subject '%s'): %s", who, subj,
                       vd__nt_text(s));
    }
    const unsigned char *d = (const unsigned char *)natsMsg_GetData(m);
    int n = natsMsg_GetDataLength(m);
    rc = 0;
    if (n < 1 || d[0] > NT_REPLY_ERR) {
        rc = vd_fail(err, VD_EFORMAT,
                     "call to %s (NATS subject '%s'): malformed reply of %d bytes: is another "
                     "program answering on vdag subjects?",
                     who, subj, n);
    } else if (d[0] == NT_REPLY_ERR) {
        json_t *j = json_loadb((const char *)d + 1, (size_t)n - 1, 0, NULL);
        json_t *code = json_object_get(j, "code");
        const char *msg = json_string_value(json_object_get(j, "msg"));
        json_int_t v = json_integer_value(code);
        if (json_is_integer(code) && msg) /* not a VD_E* code: an unknown remote failure */
            rc = vd_fail_remote(err, v < 0 && v > -1000 ? (int)v : VD_EREMOTE,
                                "%s (NATS subject '%s')", msg, subj);
        else
            rc = vd_fail(err, VD_EFORMAT,
                         "call to %s (NATS subject '%s'): malformed error reply of %d bytes: is "
                         "another program answering on vdag subjects?",
                         who, subj, n);
        json_decref(j);
    } else {
        resp->data = malloc((size_t)n); /* n-1 bytes and a NUL */
        if (!resp->data) {
            rc = vd_fail(err, VD_ENOMEM, "out of memory for a %d-byte reply from %s", n, who);
        } else {
            memcpy(resp->data, d + 1, (size_t)n - 1);
            resp->data[n - 1] = 0;
            resp->len = (size_t)n - 1;
        }
    }
    natsMsg_Destroy(m);
    return rc;
}

/* ---- publish, subscribe --------------------------------------------------------------- */

static int nt_publish(vd_transport *t, const char *subject, const vd_buf *msg, vd_error *err)
{
    nt *p = t->priv;
    if (!vd__subject_valid(subject, 0))
        return vd_fail(err, VD_EINVAL,
                       "publish: invalid subject '%s' (dot-separated tokens, no wildcards)",
                       subject ? subject : "");
    size_t len = msg ? msg->len : 0;
    if (len > 0x7fffffff)
        return vd_fail(err, VD_ETOOBIG, "publish on '%s': %zu bytes is too large", subject, len);
    char text[256];
    if (vd__nt_denied(p, subject, 1, text, sizeof text))
        return vd_fail(err, VD_EAUTH,
                       "NATS (%s): not authorized: the server does not let '%s' publish on '%s' "
                       "(%s)",
                       p->url, p->name, subject, text);
    natsStatus s = natsConnection_Publish(p->nc, subject, len ? msg->data : NULL, (int)len);
    if (s != NATS_OK)
        return vd_fail(err, vd__nt_code(s), "NATS (%s): cannot publish %zu bytes on '%s': %s",
                       p->url, len, subject, vd__nt_text(s));
    return 0;
}

static int nt_subscribe(vd_transport *t, const char *subject, vd_msg_fn fn, void *arg,
                        vd_error *err)
{
    nt *p = t->priv;
    if (!vd__subject_valid(subject, 1) || !fn)
        return vd_fail(err, VD_EINVAL,
                       "subscribe: invalid subject '%s' (dot-separated tokens; '*' for one "
                       "token, a final '>' for the rest)",
                       subject ? subject : "");
    nt_cb *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory subscribing to '%s'", subject);
    c->msg = fn;
    c->arg = arg;
    int rc = add_sub(p, c, subject, NULL, on_msg, err);
    if (rc < 0) return rc;
    return sync_subs(p, subject, NULL, err);
}

static int nt_connected(vd_transport *t)
{
    nt *p = t->priv;
    return natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void nt_free(nt *p)
{
    vd__nt_js_free(p);
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->opts);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->url), free(p->name), free(p->inbox);
    free(p);
}

static void nt_close(vd_transport *t)
{
    nt *p = t->priv;
    if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED)
        natsConnection_FlushTimeout(p->nc, 1000); /* what was published goes out */
    /* Unsubscribing ends each delivery thread once its running callback returns; then the
     * completion callback runs. Closing the connection covers subscriptions that could not
     * be unsubscribed (connection down). */
    for (nt_cb *c = p->cbs; c; c = c->next) natsSubscription_Unsubscribe(c->sub);
    natsConnection_Close(p->nc);
    pthread_mutex_lock(&p->mu);
    while (p->live > 0) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (nt_cb *c = p->cbs, *next; c; c = next) {
        next = c->next;
        natsSubscription_Destroy(c->sub);
        free(c->node), free(c->service), free(c);
    }
    nt_free(p);
    free(t);
}

static const vd_transport_ops nats_ops = {
    .name = "nats",
    .call = nt_call,
    .serve = nt_serve,
    .publish = nt_publish,
    .subscribe = nt_subscribe,
    .connected = nt_connected,
    .close = nt_close,
    .stream_create = vd__nt_stream_create,
    .stream_publish = vd__nt_stream_publish,
    .stream_fetch = vd__nt_stream_fetch,
    .stream_ack = vd__nt_stream_ack,
    .stream_nak = vd__nt_stream_nak,
    .stream_release = vd__nt_stream_release,
    .kv_bucket = vd__nt_kv_bucket,
    .kv_get = vd__nt_kv_get,
    .kv_put = vd__nt_kv_put,
    .kv_create = vd__nt_kv_create,
    .kv_update = vd__nt_kv_update,
    .kv_delete = vd__nt_kv_delete,
    .kv_keys = vd__nt_kv_keys,
};

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure; /* subscriptions made before are sent by the library */
}

/* The connection's name as one subject token (its inbox prefix): [A-Za-z0-9_-], others '_'. */
/* What a failed first connection means for the user: refused credentials, TLS, or no
 * server (that one is retried in the background). */
static int connect_error(nt *p, natsStatus s, int secure, vd_error *err)
{
    const char *t = vd__nt_text(s);
    if (s == NATS_CONNECTION_AUTH_FAILED || strcasestr(t, "authorization"))
        return vd_fail(err, VD_EAUTH,
                       "NATS transport: not authorized: the server at %s refused the credentials "
                       "of '%s' (%s): check --nats-creds / --nats-nkey / the user and password, "
                       "and that the server's config lists this identity (docs/security.md)",
                       p->url, p->name, t);
    if (s == NATS_SSL_ERROR || strcasestr(t, "ssl") || strcasestr(t, "tls") ||
        strcasestr(t, "certificate"))
        return vd_fail(err, VD_EAUTH,
                       "NATS transport: TLS with %s failed as '%s': %s: check --nats-tls-ca (the "
                       "CA that signed the server's certificate) and the client certificate",
                       p->url, p->name, t);
    if (secure) /* the server ended the TLS session it had accepted: it verifies clients */
        return vd_fail(err, VD_EAUTH,
                       "NATS transport: not authorized: the server at %s closed the TLS session of "
                       "'%s' (%s): it may require a client certificate signed by its CA "
                       "(--nats-tls-cert, --nats-tls-key)",
                       p->url, p->name, t);
    int code = vd__nt_code(s) == VD_EBACKEND ? VD_ECONN : vd__nt_code(s);
    return vd_fail(err, code, "NATS transport: cannot connect to %s as '%s': %s: check the URL",
                   p->url, p->name, t);
}

int vd_transport_nats_open(const vd_nats_opts *o, vd_transport **out, vd_error *err)
{
    *out = NULL;
    if (!o || !o->url || !*o->url)
        return vd_fail(err, VD_EINVAL,
                       "NATS transport: no server URL (e.g. nats://127.0.0.1:4222)");
    vd_transport *t = calloc(1, sizeof *t);
    nt *p = calloc(1, sizeof *p);
    if (!t || !p) {
        free(t), free(p);
        return vd_fail(err, VD_ENOMEM, "out of memory creating the NATS transport");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    char red[512];
    vd_nats_url_redact(o->url, red, sizeof red);
    p->url = strdup(red);
    p->name = strdup(o->name && *o->name ? o->name : "vdag");
    p->inbox = p->name ? vd__nt_inbox_of(p->name) : NULL;
    vd_nats_opts named = *o;
    named.name = p->name;
    int rc = p->url && p->inbox
                 ? vd_nats_options_new(&named, &p->opts, err)
                 : vd_fail(err, VD_ENOMEM, "out of memory creating the NATS transport");
    natsStatus s = NATS_OK;
    if (!rc) s = natsOptions_SetSendAsap(p->opts, true);
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(p->opts, false);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(p->opts, 50, 50);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(p->opts, 32 * 1024 * 1024);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(p->opts, 1000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(p->opts, 2);
    if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(p->opts, 65536);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(p->opts, vd__nt_on_async_error, p);
    if (!rc && s != NATS_OK)
        rc = vd_fail(err, vd__nt_code(s), "NATS transport for %s: bad options: %s", p->url,
                     vd__nt_text(s));
    if (rc) {
        nt_free(p);
        free(t);
        return rc;
    }
    /* First without retrying, so that refused credentials and TLS failures are reported
     * here; a server that is not there yet is retried in the background. */
    s = natsConnection_Connect(&p->nc, p->opts);
    if (s == NATS_NO_SERVER || s == NATS_IO_ERROR || s == NATS_TIMEOUT) {
        natsConnection_Destroy(p->nc);
        p->nc = NULL;
        s = natsOptions_SetRetryOnFailedConnect(p->opts, true, on_connected, p);
        if (s == NATS_OK) s = natsConnection_Connect(&p->nc, p->opts);
        if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    }
    if (s != NATS_OK) {
        int secure = o->tls_ca || o->tls_cert || !strncmp(o->url, "tls://", 6);
        rc = connect_error(p, s, secure, err);
        nt_free(p);
        free(t);
        return rc;
    }
    t->ops = &nats_ops;
    t->priv = p;
    *out = t;
    return 0;
}

int vd_transport_nats_new(const char *url, const char *name, vd_transport **out, vd_error *err)
{
    vd_nats_opts o = {.url = url, .name = name};
    return vd_transport_nats_open(&o, out, err);
}
