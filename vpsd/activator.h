/* On-demand activation (DESIGN.md): vpsd holds each service's listening sockets inside the
 * VPS's pinned network namespace (or, for unix: addresses, in its root filesystem), starts
 * the VPS and the service when a request arrives, relays proxy-mode connections, stops idle
 * services (and idle VPSes with autostop) and backs off crashing ones. activator.c's header
 * tells how each mode behaves. */
#pragma once

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

struct activator;

/* Binds the listen addresses of every VPS that has a pinned network namespace. */
int activator_new(struct vpsd *d, struct activator **ret, struct vps_error *err);
/* Closes the listening sockets and ends the relays; the long-running process of a listen or
 * proxy service gets SIGTERM, processes per connection keep running (like VPSes). */
void activator_free(struct activator *a);

/* Makes the activator's units match c's services: listen addresses newly configured are
 * bound (in its pinned network namespace), ones no longer configured are closed, others are
 * kept; a service removed has its processes stopped.
 * Failures are logged. a may be NULL (during vpsd's start-up). */
void activator_bind_vps(struct activator *a, const struct vps_config *c);
/* Closes every listening socket of the VPS name (at destroy, before its namespace goes). */
void activator_unbind_vps(struct activator *a, const char *name);

/* Hands conn, a connection accepted on a shared front address (front.c), to the service
 * named service of the VPS vps, as if it had arrived on one of the service's own listen
 * addresses: starts the VPS when it is stopped; accept mode runs a process with conn on
 * stdin/stdout (and fd 3); proxy mode starts the service when it is not running and relays
 * conn to its proxy_to address. peer is the client's "ip:port", for events and logs. conn is
 * taken in every case: closed on failure (an event service_failed is published then too). */
int activator_deliver(struct activator *a, const char *vps, const char *service, int conn,
                      const char *peer, struct vps_error *err);

/* What the activator knows of one service now, for the API:
 *   {"state": "idle" | "starting" | "running" | "stopping" | "backoff",
 *    "pids": [...], "listening": ["addr", ...],
 *    "stats": {"activations", "connections_active", "connections_total", "bytes_in",
 *              "bytes_out", "failures", "cold_start_ms_last", "cold_start_ms_max"},
 *    "backoff_until_ms"?: remaining ms}
 * Counters start at zero when vpsd starts. An unknown service gives state "idle" and zeros. */
json_t *activator_service_status(struct activator *a, const char *vps, const char *service);
/* Starts a listen- or proxy-mode service of c now, without waiting for a connection (the
 * VPS is started first if it is stopped). VPS_ERR_CONFLICT for accept mode (its processes
 * exist per connection only) or when the service already runs; VPS_ERR_NOT_FOUND for an
 * unknown service. */
int activator_service_start(struct activator *a, const struct vps_config *c, const char *service,
                            struct vps_error *err);
/* Stops the running processes of a service (SIGTERM, SIGKILL after a few seconds), in any
 * mode. Its listening sockets stay: the next connection activates it again. VPS_ERR_CONFLICT
 * when nothing of it runs. */
int activator_service_stop(struct activator *a, const char *vps, const char *service,
                           struct vps_error *err);
/* The VPS's init has ended: whatever ran of its services is gone. */
void activator_vps_stopped(struct activator *a, const char *name);
