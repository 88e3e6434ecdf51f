/*
 * For a component that opens a nats.c connection of its own (the batch queue on JetStream):
 * the options the node transport uses, so that it reaches a secured bus with the same
 * identity (credentials, TLS, inbox prefix), and nats.c statuses as VD_E* codes.
 *
 * Thread-safety: the functions keep no state; the natsOptions returned belongs to the
 * caller (natsOptions_Destroy), as nats.c's rules say.
 */
#ifndef VDAG_NATS_CONN_H
#define VDAG_NATS_CONN_H

#include <nats/nats.h>

#include "vdag/net.h"

/* New options from o: URL, connection name, replies on "_INBOX.<name>." (the server's
 * permissions name that prefix), reconnecting forever every 250 ms, the first connection's
 * timeout, and o's credentials and TLS. VD_EINVAL (no URL, two kinds of credentials),
 * VD_EIO (a file that cannot be read), VD_EAUTH (a certificate nats.c refuses),
 * VD_ENOMEM. */
int vd_nats_options_new(const vd_nats_opts *o, natsOptions **out, vd_error *err);

/* nats.c status to VD_E* (NATS_NOT_PERMITTED, refused credentials and TLS failures are
 * VD_EAUTH; connection states VD_ECONN; unknown ones VD_EBACKEND). */
int vd_nats_code(natsStatus s);

#endif
