/* Shared front addresses: one host IP:port for many VPSes (DESIGN.md, "On-demand
 * activation"). vpsd listens on each address that a service's "match" rule names, in the
 * host's network namespace; each connection is peeked at (MSG_PEEK, libvps/peek.c) until a
 * rule of that front decides — HTTP Host, TLS SNI, protocol signature, or the front's
 * "default" rule — and then handed to that VPS's service with activator_deliver(). The
 * service reads the request untouched.
 *
 * Order: the protocol signature; for TLS the SNI, for HTTP the Host (exact name before a
 * "*." wildcard); else the front's "tls"/"http"/"ssh" protocol rule; else its default; else
 * the connection is closed (after reading what was peeked, so the close is a FIN, not a
 * reset). A client silent for 1 s goes to the "ssh" rule (else the default); one that is
 * undecided after 5 s, fills the peek buffer or shuts down its side is decided with the bytes
 * it sent (its protocol's rule, else the default). One that closes before sending a byte is
 * dropped. At most 1024 connections per front are peeked at; newer ones are closed at once. */
#pragma once

#include <jansson.h>

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

struct front;

/* Loads the match rules of every VPS and listens on their front addresses. */
int front_new(struct vpsd *d, struct front **ret, struct vps_error *err);
/* Closes the front sockets and drops connections still being peeked at. */
void front_free(struct front *f);

/* VPS_ERR_CONFLICT if one of c's match rules is already another VPS's (the same front, kind
 * and value; or a second "default" on a front). Rules of c's own name do not count. */
int front_check(struct front *f, const struct vps_config *c, struct vps_error *err);
/* Replaces the rules of VPS c->name with c's, opening front sockets newly named and closing
 * those no rule names any more. Failures (a front that cannot be bound) are logged. */
void front_update_vps(struct front *f, const struct vps_config *c);
/* Drops every rule of the VPS name (at destroy). */
void front_remove_vps(struct front *f, const char *name);
/* [{"front": "ip:port", "listening": bool, "rules": [{"vps", "service", "kind", "value"}],
 *   "peeking": n, "error"?: why it is not listening}] for GET /v1/host. "kind" is
 * "http_host", "tls_sni", "protocol" or "default" (which has no "value"). */
json_t *front_status(struct front *f);
