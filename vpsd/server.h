/* The API server: libmicrohttpd on vpsd's Unix socket, driven from the epoll loop; caller
 * credentials, routing, body limits, JSON replies, and suspension of requests that wait
 * (operation waits, event streams, exports). Handlers live in api-*.c. */
#pragma once

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

#define API_JSON_BODY_MAX (1024 * 1024)

struct caller {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    bool admin; /* root or a member of the admin group */
};

enum body_kind {
    BODY_NONE,
    BODY_JSON,          /* buffered, at most API_JSON_BODY_MAX, parsed before the handler runs */
    BODY_UPLOAD,        /* streamed to an unnamed temp file, at most max_upload_bytes */
    BODY_JSON_OPTIONAL, /* as BODY_JSON, but an empty body is {} */
};

struct request;
/* A handler answers with reply_*(), or suspends the request (request_suspend()) and is
 * called again when resumed; it returns -1 with err set to answer with that error. */
typedef int (*handler_fn)(struct request *r, struct vps_error *err);

struct route {
    const char *method;
    const char *pattern; /* "/v1/vps/{}" : {} matches one path segment */
    enum body_kind body;
    bool admin_only;
    handler_fn handler;
    handler_fn precheck; /* BODY_UPLOAD: runs before the body is read, to refuse early */
};

#define REQUEST_MAX_ARGS 3

struct request {
    struct vpsd *d;
    struct MHD_Connection *conn;
    const struct route *route;
    struct caller caller;
    char *args[REQUEST_MAX_ARGS]; /* the {} segments, decoded */
    json_t *body;                 /* BODY_JSON */
    char *buf;
    size_t buf_len;
    int upload_fd; /* BODY_UPLOAD */
    uint64_t upload_bytes;
    bool replied;
    bool suspended;
    bool resumed;         /* the handler runs again after a suspension */
    uint64_t deadline_ms; /* of a suspension; 0: none */
    struct request *next_waiting;
    struct vps_error early; /* an error found while reading the request */
    struct {
        char name[32];
        char value[256];
    } headers[4]; /* added to the next reply */
    size_t n_headers;
    void *state; /* the handler's own, freed with state_free */
    void (*state_free)(void *);
};

int server_start(struct vpsd *d, int listen_fd, struct server **ret, struct vps_error *err);
/* Stops accepting, ends streams and frees the server. */
void server_stop(struct server *s);

/* Answer helpers; body is consumed. */
int reply_json(struct request *r, unsigned status, json_t *body);
int reply_error(struct request *r, const struct vps_error *err);
/* Adds a header to the reply about to be queued (e.g. Location). */
void reply_header(struct request *r, const char *name, const char *value);
/* Queues a custom response (streams); takes ownership. */
int reply_response(struct request *r, unsigned status, struct MHD_Response *resp);

/* Suspends r until request_resume() or deadline_ms (monotonic; 0: none). */
void request_suspend(struct request *r, uint64_t deadline_ms);
/* Resumes one suspended request now. */
void request_resume(struct request *r);
/* Resumes every request suspended with a deadline-based wait (they re-check their state). */
void server_wake_waiters(struct server *s);

/* A query argument, or NULL. */
const char *request_query(struct request *r, const char *key);

/* Owner-or-admin check for one VPS; VPS_ERR_FORBIDDEN otherwise. */
int request_check_vps_access(const struct request *r, const struct vps_config *c,
                             struct vps_error *err);
