/* On-demand activation, first slice: TCP addresses of services in "accept" mode (inetd
 * style). vpsd holds the listening socket inside the VPS's pinned network namespace; each
 * connection starts the VPS if it is stopped and runs the service's command inside it with
 * the connection as stdin and stdout. */
#pragma once

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

struct activator;

/* Binds the listen addresses of every VPS that has a pinned network namespace. */
int activator_new(struct vpsd *d, struct activator **ret, struct vps_error *err);
/* Closes the listening sockets. Running instances keep running (like VPSes outlive vpsd). */
void activator_free(struct activator *a);

/* Makes c's listening sockets match its accept-mode TCP listen entries: new ones are bound
 * (in its pinned network namespace), ones no longer configured are closed, others are kept.
 * Failures are logged. a may be NULL (during vpsd's start-up). */
void activator_bind_vps(struct activator *a, const struct vps_config *c);
/* Closes every listening socket of the VPS name (at destroy, before its namespace goes). */
void activator_unbind_vps(struct activator *a, const char *name);
