/* The API client: HTTP/1.1 over vpsd's Unix socket with libcurl. JSON requests and answers,
 * streamed uploads and downloads, NDJSON streams (/v1/events), and connections upgraded to
 * another protocol (vpsctl exec). An error answer becomes a struct vps_error with the
 * daemon's code and message, so a caller handles "vpsd said no" and "vpsd is not there" the
 * same way. Nothing here prints or exits. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "error.h"

/* The largest answer body held in memory (JSON answers, error bodies). */
#define VPS_CLIENT_BODY_MAX (64U << 20)
/* The longest line accepted on an NDJSON stream. */
#define VPS_CLIENT_LINE_MAX (1U << 20)
/* Default time limit of vps_client_request(): above the API's longest wait (60 s of
 * ?wait_ms) so long polls fit, but a hung daemon does not hang the caller forever. */
#define VPS_CLIENT_TIMEOUT_MS (120 * 1000)

struct vps_client;

/* Sets up a client for the socket at socket_path (copied). Does not connect: the first
 * request does, so a missing daemon is reported by that request. Not thread-safe; one
 * client per thread. VPS_ERR_SYSTEM if libcurl cannot be initialised. */
int vps_client_new(const char *socket_path, struct vps_client **ret, struct vps_error *err);
void vps_client_free(struct vps_client *c);
static inline void vps_client_freep(struct vps_client **c)
{
    vps_client_free(*c);
}

/* Time limit of each vps_client_request(); 0 means none. Uploads, downloads and streams
 * have no overall limit (they last as long as the data does). */
void vps_client_set_timeout_ms(struct vps_client *c, uint64_t timeout_ms);

/* Percent-encodes s for use as one path segment or query value ("a/b" -> "a%2Fb"), so a
 * name can never change which resource a path names. Returns a new string owned by the
 * caller, NULL when out of memory. */
char *vps_client_escape(const char *s);

/* Sends method (GET, POST, PATCH, DELETE, ...) to path ("/v1/vps/web1", query included),
 * with body as JSON (Content-Type: application/json) if not NULL.
 *
 * On a 2xx answer returns 0, the status in *ret_status and the parsed answer (an object; {}
 * for an empty body) in *ret_body, owned by the caller; either may be NULL if unwanted.
 * Otherwise returns -1 and fills err:
 *   - an error answer: the code named by its {"error": {"code", "message"}} body (from the
 *     HTTP status if the body has none) and the daemon's message as is;
 *   - VPS_ERR_UNAVAILABLE: the socket is missing, refuses, or the connection broke
 *     ("cannot connect to vpsd at '/run/vps/vpsd.sock'", errnum kept);
 *   - VPS_ERR_FORBIDDEN: the socket's permissions keep the caller out (EACCES);
 *   - VPS_ERR_TOO_LARGE: the answer is over VPS_CLIENT_BODY_MAX;
 *   - VPS_ERR_TIMEOUT: no answer within the client's time limit;
 *   - VPS_ERR_SYSTEM: an answer that is not JSON, or any other failure. */
int vps_client_request(struct vps_client *c, const char *method, const char *path,
                       const json_t *body, long *ret_status, json_t **ret_body,
                       struct vps_error *err);

/* POSTs the contents of in_fd (read to EOF; sent with Content-Length if it is a regular
 * file, chunked otherwise) to path with the given Content-Type, for template import. The
 * answer and errors are as for vps_client_request(); a failed read of in_fd is
 * VPS_ERR_SYSTEM with its errno. in_fd stays open and owned by the caller. */
int vps_client_upload(struct vps_client *c, const char *path, const char *content_type, int in_fd,
                      long *ret_status, json_t **ret_body, struct vps_error *err);

/* GETs path and writes a 2xx answer's body to out_fd as it arrives, for template export.
 * *ret_bytes (may be NULL) is the number of bytes written. Errors as for
 * vps_client_request(); nothing of an error answer reaches out_fd, but on any failure out_fd
 * may hold part of the body: the caller discards it. */
int vps_client_download(struct vps_client *c, const char *path, int out_fd, uint64_t *ret_bytes,
                        struct vps_error *err);

/* Called for each object of an NDJSON stream (empty lines are skipped). Returns 0 to go
 * on, > 0 to stop the stream successfully, < 0 (with err filled) to stop with that error. */
typedef int (*vps_client_line_fn)(const json_t *obj, void *userdata, struct vps_error *err);

/* GETs path (e.g. "/v1/events?since=12") and calls fn for each JSON line until the daemon
 * closes the stream or fn stops it. A line that is not a JSON object, or longer than
 * VPS_CLIENT_LINE_MAX, is VPS_ERR_SYSTEM. Other errors as for vps_client_request(). */
int vps_client_stream(struct vps_client *c, const char *path, vps_client_line_fn fn, void *userdata,
                      struct vps_error *err);

/* The longest answer header read before an upgrade, and the most of an error answer's body
 * that is read (the rest is not needed for its message). */
#define VPS_CLIENT_UPGRADE_HEADER_MAX 8192
#define VPS_CLIENT_UPGRADE_BODY_MAX   (64U << 10)

/* Opens a connection of its own to vpsd and asks to turn it into protocol ("vps-exec"): POST
 * path with body as JSON and "Connection: Upgrade", "Upgrade: <protocol>". The client's
 * libcurl handle is not used, so other requests may follow on c.
 *
 * On "101 Switching Protocols" naming protocol, returns 0 and the connected socket in
 * *ret_fd (SOCK_CLOEXEC, blocking, owned by the caller). Nothing after the answer's header
 * has been read, so whatever vpsd sends next, fds included (SCM_RIGHTS), is still there.
 * Otherwise returns -1 and fills err as vps_client_request() does: an error answer's own
 * code and message (its body read up to Content-Length, at most
 * VPS_CLIENT_UPGRADE_BODY_MAX); VPS_ERR_UNAVAILABLE or VPS_ERR_FORBIDDEN when the socket
 * cannot be reached; VPS_ERR_TIMEOUT when the header does not arrive within the client's time
 * limit; VPS_ERR_INVALID for a path or protocol with spaces or control characters;
 * VPS_ERR_SYSTEM for an answer that is not HTTP/1.x, a header over
 * VPS_CLIENT_UPGRADE_HEADER_MAX, or any other status. */
int vps_client_upgrade(struct vps_client *c, const char *path, const char *protocol,
                       const json_t *body, int *ret_fd, struct vps_error *err);
