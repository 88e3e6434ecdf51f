/* Internal to src/net: what both transports share, so they answer alike. */
#ifndef VDAG_NET_INTERNAL_H
#define VDAG_NET_INTERNAL_H

#include "vdag/error.h"

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

#endif
