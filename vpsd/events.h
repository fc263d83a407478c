/* The event bus: state changes as JSON lines, kept in a ring of the last EVENTS_KEPT, sent
 * to /v1/events streams and logged. One call both logs and publishes. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "server.h"

#define EVENTS_KEPT 1024

int events_new(struct events **ret, struct vps_error *err);
/* Ends every stream (they are resumed and finish) and frees the bus. */
void events_free(struct events *e);

/* Publishes an event: fields (consumed) gets "seq", "time" and "type" added. owners are
 * the uids (besides admins) who may see it; vps NULL for host-wide events. The log line
 * log_text is written at notice level when non-NULL. */
void events_publish(struct events *e, const char *type, const char *vps, json_t *fields,
                    const uint32_t *owners, size_t n_owners, const char *log_text);

/* Answers r with a stream of events after since_seq (0: only new ones... see docs). */
int events_stream(struct events *e, struct request *r, uint64_t since_seq, bool replay,
                  struct vps_error *err);

/* The current time as RFC 3339 UTC ("2026-11-23T04:33:58Z") into buf (>= 21 bytes). */
void events_timestamp(char *buf, size_t size);
