/* Waiting for a long operation (a 202 answer) to end, with a progress bar on a terminal. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "vps/client.h"
#include "vps/error.h"

/* Polls GET /v1/operations/{id}?wait_ms=... from the operation object op until its state is
 * no longer "running". On a terminal (stderr) a progress bar with the operation's message is
 * drawn and removed at the end; otherwise nothing is printed. timeout_ms 0 waits for ever,
 * else VPS_ERR_TIMEOUT once it has passed. A failed operation returns -1 with the
 * operation's own error; a succeeded one returns 0 and, if ret_final is not NULL, the final
 * operation object (owned by the caller). */
int wait_operation(struct vps_client *c, const json_t *op, uint64_t timeout_ms, json_t **ret_final,
                   struct vps_error *err);
