/*
 * Internal to the NATS transport (transport_nats.c: connection, calls, serving, publishing;
 * nats_auth.c: credentials and TLS options, NKeys; nats_js.c: JetStream streams and
 * key-value buckets).
 *
 * Locking: nt.mu guards the callback list, the calls in flight, the server's refusals and
 * the JetStream handles; it is never held across a blocking nats.c call but the
 * unsubscribe of a call's own reply subscription (which does not block).
 */
#ifndef VDAG_NET_NATS_INTERNAL_H
#define VDAG_NET_NATS_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "vdag/net.h"

#define NT_DENIALS   16 /* refusals remembered (subject, kind) */
#define NT_KVS       8  /* buckets opened */
#define NT_PULLS     4  /* durable consumers fetched from */
#define NT_DENIAL_MS 10000

typedef struct nt_cb nt_cb;

/* A call in flight: its reply subscription, so that a refusal of its subject by the server
 * ends it at once. */
typedef struct nt_pending {
    struct nt_pending *next;
    const char *subject;
    natsSubscription *sub;
    int denied;
} nt_pending;

/* What the server refused to this identity: a publish or a subscription, and its words. */
typedef struct nt_denial {
    char subject[256];
    int publish; /* 1: publish, 0: subscription */
    char text[256];
    double at; /* ms (vd_now_ms); forgotten after NT_DENIAL_MS (permissions may be reloaded) */
} nt_denial;

typedef struct nt_kv {
    char bucket[64];
    kvStore *kv;
} nt_kv;

typedef struct nt_pull {
    char stream[64], durable[64];
    natsSubscription *sub;
} nt_pull;

/* A stream this transport made (stream_create): its consumers' ack wait. */
typedef struct nt_stream {
    char name[64];
    int ack_wait_ms;
} nt_stream;

typedef struct nt {
    natsConnection *nc;
    natsOptions *opts;
    jsCtx *js;
    char *url; /* redacted: for messages */
    char *name, *inbox;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nt_cb *cbs; /* one per natsSubscription */
    int live;   /* subscriptions whose completion callback has not run yet */
    nt_pending *pending;
    nt_denial denials[NT_DENIALS];
    int n_denials, next_denial;
    char auth_err[256]; /* the server refused our credentials (empty: never) */
    nt_kv kvs[NT_KVS];
    int n_kvs;
    nt_pull pulls[NT_PULLS];
    int n_pulls;
    nt_stream streams[NT_PULLS];
    int n_streams;
} nt;

/* nats.c status to VD_E*, and its last error text for this thread (or the status text). */
int vd__nt_code(natsStatus s);
const char *vd__nt_text(natsStatus s);

/* The refusal recorded for subject (publish 1 / subscription 0), copied into text; 1 if
 * any (nt.mu not held). */
int vd__nt_denied(nt *p, const char *subject, int publish, char *text, size_t cap);
/* The same for any publish on a subject that starts with prefix. */
int vd__nt_denied_prefix(nt *p, const char *prefix, char *text, size_t cap);

/* ---- nats_auth.c -------------------------------------------------------------------- */

/* "Permissions Violation for Publish to "a.b"" (or "Subscription to …"): *publish and the
 * subject; 0 when text is not one. */
int vd__nt_parse_violation(const char *text, int *publish, char *subj, size_t cap);
/* nats.c's asynchronous error handler (closure: the nt): refusals recorded and logged once,
 * calls waiting on a refused subject ended, refused credentials noted. */
void vd__nt_on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure);

/* Credentials and TLS from o onto opts; VD_EINVAL (two kinds of credentials, a key
 * without its certificate), VD_EIO (a file that cannot be read: named), VD_EFORMAT (a seed
 * file without a user seed), VD_EAUTH (a certificate nats.c refuses). */
int vd__nt_auth_opts(natsOptions *opts, const vd_nats_opts *o, vd_error *err);
/* "_INBOX.<name>" with the characters a subject token may not hold as '_' (malloc'd). */
char *vd__nt_inbox_of(const char *name);

/* NKeys (ed25519, base32 with a CRC16): the public user key ("U…", 56 characters) of a
 * seed ("SU…"); a fresh seed and its public key. 0 or VD_EFORMAT / VD_EBACKEND. The seed
 * buffer is cleared by the caller. */
int vd__nkey_public(const char *seed, char *pub, size_t cap);
int vd__nkey_generate(char *seed, size_t scap, char *pub, size_t pcap);
/* The user seed in a seed file (a line starting "SU"): 0, VD_EIO or VD_EFORMAT. */
int vd__nkey_read_seed(const char *path, char *seed, size_t cap, vd_error *err);

/* ---- nats_js.c: the durability ops of the transport --------------------------------- */

int vd__nt_stream_create(vd_transport *t, const vd_stream_cfg *cfg, vd_error *err);
int vd__nt_stream_publish(vd_transport *t, vd_spub *m, int n, int timeout_ms, vd_error *err);
int vd__nt_stream_fetch(vd_transport *t, const char *stream, const char *durable, int max,
                        int timeout_ms, vd_smsg *out, int *n, vd_error *err);
int vd__nt_stream_ack(vd_transport *t, vd_smsg *m, vd_error *err);
int vd__nt_stream_nak(vd_transport *t, vd_smsg *m, int delay_ms, vd_error *err);
void vd__nt_stream_release(vd_transport *t, vd_smsg *m);
int vd__nt_kv_bucket(vd_transport *t, const char *bucket, double ttl_s, vd_error *err);
int vd__nt_kv_get(vd_transport *t, const char *bucket, const char *key, vd_buf *val, uint64_t *rev,
                  vd_error *err);
int vd__nt_kv_put(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                  uint64_t *rev, vd_error *err);
int vd__nt_kv_create(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t *rev, vd_error *err);
int vd__nt_kv_update(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t last, uint64_t *rev, vd_error *err);
int vd__nt_kv_delete(vd_transport *t, const char *bucket, const char *key, vd_error *err);
int vd__nt_kv_keys(vd_transport *t, const char *bucket, const char *prefix, char ***keys, int *n,
                   vd_error *err);
/* Free the JetStream handles (close). */
void vd__nt_js_free(nt *p);

#endif
