/* Internal to src/net: what both transports share, so they answer alike. */
#ifndef VDAG_NET_INTERNAL_H
#define VDAG_NET_INTERNAL_H

#include <stdint.h>

#include "vdag/error.h"
#include "vdag/net.h"

/* A subject is dot-separated non-empty tokens without spaces; with wildcards allowed, a
 * token may be '*' (one token) and the last one '>' (one or more tokens). 1 when valid. */
int vd__subject_valid(const char *s, int wildcards);

/* Check the names of a call or a serve (node may be NULL when !node_required): a node name
 * is one subject token (no '.', '*', '>' or spaces), a service name dot-separated non-empty
 * tokens without wildcards ("svc.face_detection", "node.submit_job"), so that
 * "vdag.node.<node>.svc.<service>" stays unambiguous. VD_EINVAL naming `what` ("NATS call")
 * when one is not. */
int vd__check_names(const char *what, const char *node, int node_required, const char *service,
                    vd_error *err);

/* Does a concrete subject match a pattern with '*' and '>' wildcards? */
int vd__subject_match(const char *pat, const char *subj);

/* ---- nats_secure.c: a secured bus's credentials directory (vd_nats_secure_init) ---- */

#define VD__SECURE_MAX 64
typedef struct vd__secure {
    vd_nats_ident ids[VD__SECURE_MAX];
    char names[VD__SECURE_MAX][64], roles[VD__SECURE_MAX][16], pubs[VD__SECURE_MAX][64];
    char cert[600], key[600], ca[600];
    int n;
} vd__secure;
/* The identities (their public NKeys) and the server's certificate in dir. */
int vd__nats_secure_load(const char *dir, vd__secure *out, vd_error *err);

/* ---- store_inproc.c: streams and key-value buckets in memory (the in-process transport's
 * durability ops; the same semantics as JetStream's, nothing outlives the process) ---- */

typedef struct vd__memstore vd__memstore;
vd__memstore *vd__memstore_new(void);
void vd__memstore_free(vd__memstore *m);
int vd__ms_stream_create(vd__memstore *m, const vd_stream_cfg *cfg, vd_error *err);
int vd__ms_stream_publish(vd__memstore *m, vd_spub *msgs, int n, vd_error *err);
int vd__ms_stream_fetch(vd__memstore *m, const char *stream, const char *durable, int max,
                        int timeout_ms, vd_smsg *out, int *n, vd_error *err);
int vd__ms_stream_ack(vd__memstore *m, vd_smsg *msg, int nak, int delay_ms);
void vd__ms_stream_release(vd_smsg *msg);
int vd__ms_kv_bucket(vd__memstore *m, const char *bucket, double ttl_s, vd_error *err);
int vd__ms_kv_get(vd__memstore *m, const char *bucket, const char *key, vd_buf *val, uint64_t *rev,
                  vd_error *err);
/* mode 0 put, 1 create, 2 update (last), 3 delete */
int vd__ms_kv_write(vd__memstore *m, int mode, const char *bucket, const char *key,
                    const vd_buf *val, uint64_t last, uint64_t *rev, vd_error *err);
int vd__ms_kv_keys(vd__memstore *m, const char *bucket, const char *prefix, char ***keys, int *n,
                   vd_error *err);

#endif
