/* The API server: libmicrohttpd on our listening socket with its epoll fd inside vpsd's
 * loop; caller credentials by SO_PEERCRED/SO_PEERGROUPS; the route table; request bodies
 * with limits; JSON and error replies; suspended requests. What each route does is in
 * api-*.c. */
#include <errno.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "vps/fd.h"
#include "vps/json.h"

struct server {
    struct vpsd *d;
    struct MHD_Daemon *mhd;
    struct watch *watch;
    struct request *waiting;
};

static const struct route routes[] = {
    {"GET", "/v1/vps", BODY_NONE, false, api_vps_list},
    {"POST", "/v1/vps", BODY_JSON, true, api_vps_create},
    {"GET", "/v1/vps/{}", BODY_NONE, false, api_vps_get},
    {"PATCH", "/v1/vps/{}", BODY_JSON, true, api_vps_patch},
    {"DELETE", "/v1/vps/{}", BODY_NONE, true, api_vps_delete},
    /* Owners operate their own VPS: the handlers check. */
    {"POST", "/v1/vps/{}/start", BODY_JSON_OPTIONAL, false, api_vps_start},
    {"POST", "/v1/vps/{}/stop", BODY_JSON_OPTIONAL, false, api_vps_stop},
    {"POST", "/v1/vps/{}/restart", BODY_JSON_OPTIONAL, false, api_vps_restart},
    {"POST", "/v1/vps/{}/kill", BODY_JSON_OPTIONAL, false, api_vps_kill},
    {"GET", "/v1/vps/{}/stats", BODY_NONE, false, api_vps_stats},
    {"POST", "/v1/vps/{}/exec", BODY_JSON, false, api_vps_exec},
    /* Services: owners read and start/stop them; defining them is the admin's. */
    {"GET", "/v1/vps/{}/services", BODY_NONE, false, api_service_list},
    {"POST", "/v1/vps/{}/services", BODY_JSON, true, api_service_add},
    {"GET", "/v1/vps/{}/services/{}", BODY_NONE, false, api_service_get},
    {"PATCH", "/v1/vps/{}/services/{}", BODY_JSON, true, api_service_patch},
    {"DELETE", "/v1/vps/{}/services/{}", BODY_NONE, true, api_service_delete},
    {"POST", "/v1/vps/{}/services/{}/start", BODY_JSON_OPTIONAL, false, api_service_start},
    {"POST", "/v1/vps/{}/services/{}/stop", BODY_JSON_OPTIONAL, false, api_service_stop},
    {"GET", "/v1/vps/{}/services/{}/log", BODY_NONE, false, api_service_log},
    {"GET", "/v1/templates", BODY_NONE, true, api_template_list},
    {"POST", "/v1/templates", BODY_UPLOAD, true, api_template_import, api_template_precheck},
    {"GET", "/v1/templates/{}", BODY_NONE, true, api_template_get},
    {"DELETE", "/v1/templates/{}", BODY_NONE, true, api_template_delete},
    {"GET", "/v1/templates/{}/export", BODY_NONE, true, api_template_export},
    {"POST", "/v1/templates/{}/build", BODY_JSON_OPTIONAL, true, api_template_build},
    {"GET", "/v1/operations", BODY_NONE, true, api_operation_list},
    {"GET", "/v1/operations/{}", BODY_NONE, true, api_operation_get},
    {"GET", "/v1/host", BODY_NONE, true, api_host_get},
    /* Owners may follow the events of their own VPSes. */
    {"GET", "/v1/events", BODY_NONE, false, api_events_get},
};

/* ---- matching ---- */

static void free_args(char **args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(args[i]);
        args[i] = NULL;
    }
}

static bool match_path(const char *pattern, const char *path, char **args, size_t *n_args)
{
    *n_args = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(path, "/");
        if (plen == 2 && strncmp(pattern, "{}", 2) == 0) {
            if (*n_args == REQUEST_MAX_ARGS)
                return false;
            args[(*n_args)++] = strndup(path, len);
        } else if (plen != len || strncmp(pattern, path, len) != 0) {
            free_args(args, *n_args);
            *n_args = 0;
            return false;
        }
        pattern += plen, path += len;
    }
    if (*pattern || *path) {
        free_args(args, *n_args);
        *n_args = 0;
        return false;
    }
    return true;
}

/* Finds the route; *ret_allow lists the methods when only the method is wrong. */
static const struct route *find_route(const char *method, const char *url, char **args,
                                      char *ret_allow, size_t allow_size)
{
    char path[1024];
    size_t len = strlen(url), n;

    ret_allow[0] = '\0';
    if (len >= sizeof path)
        return NULL;
    memcpy(path, url, len + 1);
    if (len > 1 && path[len - 1] == '/') /* "/v1/vps/" is "/v1/vps" */
        path[len - 1] = '\0';
    for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
        if (!match_path(routes[i].pattern, path, args, &n))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        free_args(args, n);
        size_t a = strlen(ret_allow);
        (void) snprintf(ret_allow + a, allow_size - a, "%s%s", a ? ", " : "", routes[i].method);
    }
    return NULL;
}

/* ---- callers ---- */

static bool in_groups(int fd, gid_t gid)
{
    gid_t groups[256];
    socklen_t len = sizeof groups;

    /* SO_PEERGROUPS (Linux 4.13): the peer's supplementary groups at connect() time. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
        return false;
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        if (groups[i] == gid)
            return true;
    return false;
}

static int get_caller(const struct vpsd *d, struct MHD_Connection *conn, struct caller *ret,
                      struct vps_error *err)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred uc;
    socklen_t len = sizeof uc;

    if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
        return vps_error_errno(err, ci ? errno : EBADF, "read caller credentials");
    ret->pid = uc.pid;
    ret->uid = uc.uid;
    ret->gid = uc.gid;
    ret->admin =
        uc.uid == 0 || (d->admin_gid != (gid_t) -1 &&
                        (uc.gid == d->admin_gid || in_groups(ci->connect_fd, d->admin_gid)));
    return 0;
}

int request_check_vps_access(const struct request *r, const struct vps_config *c,
                             struct vps_error *err)
{
    if (r->caller.admin || vps_config_has_owner(c, r->caller.uid))
        return 0;
    return vps_error_set(err, VPS_ERR_FORBIDDEN, "uid %u may not access vps '%s'",
                         (unsigned) r->caller.uid, c->name);
}

/* ---- replies ---- */

void reply_header(struct request *r, const char *name, const char *value)
{
    if (r->n_headers == ELEMENTSOF(r->headers))
        return;
    (void) snprintf(r->headers[r->n_headers].name, sizeof r->headers[0].name, "%s", name);
    (void) snprintf(r->headers[r->n_headers].value, sizeof r->headers[0].value, "%s", value);
    r->n_headers++;
}

int reply_response(struct request *r, unsigned status, struct MHD_Response *resp)
{
    for (size_t i = 0; i < r->n_headers; i++)
        (void) MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    r->n_headers = 0;
    enum MHD_Result q = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->replied = true;
    return q == MHD_YES ? 0 : -1;
}

int reply_json(struct request *r, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct MHD_Response *resp;
    size_t len;

    json_decref(body);
    if (!text)
        return -1;
    len = strlen(text);
    text[len] = '\n'; /* the NUL's place: a line per answer reads well in a terminal */
    resp = MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return -1;
    }
    (void) MHD_add_response_header(resp, "Content-Type", "application/json");
    return reply_response(r, status, resp);
}

static int reply_error_status(struct request *r, unsigned status, const struct vps_error *err)
{
    char msg[1024];
    const char *method = r->route ? r->route->method : "";

    vps_error_format(err, msg, sizeof msg);
    log_msg(status >= 500 ? LOG_ERR : LOG_INFO, "request %s from uid %u: %u %s", method,
            (unsigned) r->caller.uid, status, msg);
    return reply_json(r, status,
                      json_pack("{s:{s:s, s:s}}", "error", "code", vps_error_code_name(err->code),
                                "message", msg));
}

int reply_error(struct request *r, const struct vps_error *err)
{
    return reply_error_status(r, vps_error_http_status(err->code), err);
}

/* ---- suspension ---- */

void request_suspend(struct request *r, uint64_t deadline_ms)
{
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    r->deadline_ms = deadline_ms;
    r->next_waiting = r->d->server->waiting;
    r->d->server->waiting = r;
}

static void resume(struct request *r)
{
    r->suspended = false;
    r->resumed = true;
    MHD_resume_connection(r->conn);
}

static void unlink_waiting(struct server *s, struct request *r)
{
    for (struct request **p = &s->waiting; *p; p = &(*p)->next_waiting)
        if (*p == r) {
            *p = r->next_waiting;
            r->next_waiting = NULL;
            return;
        }
}

void request_resume(struct request *r)
{
    if (!r->suspended)
        return;
    unlink_waiting(r->d->server, r);
    resume(r);
}

void server_wake_waiters(struct server *s)
{
    while (s->waiting) {
        struct request *r = s->waiting;
        s->waiting = r->next_waiting;
        r->next_waiting = NULL;
        resume(r);
    }
}

const char *request_query(struct request *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---- request lifecycle ---- */

static struct request *request_new(struct server *s, struct MHD_Connection *conn, const char *url,
                                   const char *method)
{
    struct request *r = calloc(1, sizeof *r);
    char allow[64];

    if (!r)
        return NULL;
    r->d = s->d;
    r->conn = conn;
    r->upload_fd = -1;
    if (get_caller(s->d, conn, &r->caller, &r->early) < 0)
        return r;
    r->route = find_route(method, url, r->args, allow, sizeof allow);
    if (!r->route && allow[0]) {
        reply_header(r, "Allow", allow);
        vps_error_set(&r->early, VPS_ERR_INVALID, "method %s is not allowed on '%.200s'", method,
                      url);
        r->early.errnum = -405; /* marks the 405 status, see answer_early() */
    } else if (!r->route) {
        vps_error_set(&r->early, VPS_ERR_NOT_FOUND, "no such API path '%.200s'", url);
    } else if (r->route->admin_only && !r->caller.admin) {
        vps_error_set(&r->early, VPS_ERR_FORBIDDEN, "uid %u may not %s '%.200s'",
                      (unsigned) r->caller.uid, method, url);
    } else if (s->d->stopping) {
        vps_error_set(&r->early, VPS_ERR_UNAVAILABLE, "vpsd is shutting down");
    }
    return r;
}

static void request_free(struct server *s, struct request *r)
{
    if (!r)
        return;
    unlink_waiting(s, r);
    if (r->state_free)
        r->state_free(r->state);
    free_args(r->args, REQUEST_MAX_ARGS);
    json_decref(r->body);
    free(r->buf);
    vps_close(r->upload_fd);
    free(r);
}

static enum MHD_Result answer_early(struct request *r)
{
    struct vps_error e = r->early;
    unsigned status = vps_error_http_status(e.code);

    if (e.errnum == -405) {
        e.errnum = 0;
        status = 405;
    }
    return reply_error_status(r, status, &e) == 0 ? MHD_YES : MHD_NO;
}

static int check_length(struct request *r, struct vps_error *err)
{
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t max = r->route->body == BODY_UPLOAD ? r->d->opt.max_upload_bytes : API_JSON_BODY_MAX;
    if (!cl)
        return 0;
    if (r->route->body == BODY_NONE && strcmp(cl, "0") != 0)
        return vps_error_set(err, VPS_ERR_INVALID, "this request takes no body");
    if (strtoull(cl, NULL, 10) > max)
        return vps_error_set(err, VPS_ERR_TOO_LARGE,
                             "request body of %s bytes is over the "
                             "limit of %" PRIu64 " bytes",
                             cl, max);
    return 0;
}

static int open_upload(struct request *r, struct vps_error *err)
{
    /* An unnamed file on the state dir's filesystem: it vanishes with its last fd, so a
     * crash or a dropped client leaves nothing behind. */
    r->upload_fd = openat(r->d->templates_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (r->upload_fd < 0)
        return vps_error_errno(err, errno, "create upload file");
    return 0;
}

static void consume(struct request *r, const char *data, size_t size)
{
    if (r->early.code)
        return; /* already failing: drop what still arrives */
    if (r->route->body == BODY_NONE) {
        vps_error_set(&r->early, VPS_ERR_INVALID, "this request takes no body");
        return;
    }
    if (r->route->body == BODY_UPLOAD) {
        r->upload_bytes += size;
        if (r->upload_bytes > r->d->opt.max_upload_bytes)
            vps_error_set(&r->early, VPS_ERR_TOO_LARGE,
                          "upload is over the limit of %" PRIu64 " bytes",
                          r->d->opt.max_upload_bytes);
        else if (vps_write_all(r->upload_fd, data, size, &r->early) < 0)
            vps_error_prefix(&r->early, "store upload");
        return;
    }
    if (r->buf_len + size > API_JSON_BODY_MAX) {
        vps_error_set(&r->early, VPS_ERR_TOO_LARGE, "request body is over the limit of %d bytes",
                      API_JSON_BODY_MAX);
        return;
    }
    char *n = realloc(r->buf, r->buf_len + size + 1);
    if (!n) {
        vps_error_errno(&r->early, ENOMEM, "store request body");
        return;
    }
    r->buf = n;
    memcpy(r->buf + r->buf_len, data, size);
    r->buf_len += size;
}

static bool refuse_now(struct request *r)
{
    const char *expect =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (expect && strcasecmp(expect, "100-continue") == 0)
        return true;
    return !cl || strtoull(cl, NULL, 10) > API_JSON_BODY_MAX;
}

static enum MHD_Result run_handler(struct request *r)
{
    struct vps_error err = {0};

    bool json = r->route->body == BODY_JSON || r->route->body == BODY_JSON_OPTIONAL;

    if (json && !r->resumed && r->route->body == BODY_JSON_OPTIONAL && r->buf_len == 0)
        r->body = json_object();
    else if (json && !r->resumed &&
             vps_json_parse_text(r->buf ? r->buf : "", r->buf_len, &r->body, &err) < 0)
        return reply_error(r, &err) == 0 ? MHD_YES : MHD_NO;
    if (r->route->handler(r, &err) < 0 && !r->replied)
        return reply_error(r, &err) == 0 ? MHD_YES : MHD_NO;
    if (!r->replied && !r->suspended) {
        vps_error_set(&err, VPS_ERR_SYSTEM, "handler gave no answer");
        return reply_error(r, &err) == 0 ? MHD_YES : MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct server *s = cls;
    struct request *r = *con_cls;

    (void) version;
    if (!r) {
        r = *con_cls = request_new(s, conn, url, method);
        if (!r)
            return MHD_NO;
        if (!r->early.code && r->route && check_length(r, &r->early) == 0 &&
            r->route->body == BODY_UPLOAD &&
            (!r->route->precheck || r->route->precheck(r, &r->early) == 0))
            (void) open_upload(r, &r->early);
        /* Refuse before reading a body we would throw away (a 10 MB body, a forbidden
         * caller): MHD closes the connection after this answer. A client still sending
         * would see that as a broken connection instead of the answer, so that is done only
         * when it waits for "100 Continue" or the body is too large to drain; a small body
         * is read and dropped (consume()) and the answer comes after it. */
        if (r->early.code && refuse_now(r))
            return answer_early(r);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!r->replied)
            consume(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->early.code)
        return answer_early(r);
    return run_handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void) conn, (void) toe;
    request_free(cls, *con_cls);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void) cls;
    (void) vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

/* ---- loop integration ---- */

static void on_mhd_ready(struct watch *w, uint32_t events, void *userdata)
{
    struct server *s = userdata;

    (void) w, (void) events;
    (void) MHD_run(s->mhd);
}

static uint64_t prepare(void *userdata)
{
    struct server *s = userdata;
    MHD_UNSIGNED_LONG_LONG t;
    uint64_t next = UINT64_MAX, now = loop_now_ms();

    /* Expired waits are resumed here; the handler answers with what it has. */
    for (struct request **p = &s->waiting; *p;) {
        struct request *r = *p;
        if (r->deadline_ms && r->deadline_ms <= now) {
            *p = r->next_waiting;
            r->next_waiting = NULL;
            resume(r);
            next = 0;
            continue;
        }
        if (r->deadline_ms && r->deadline_ms - now < next)
            next = r->deadline_ms - now;
        p = &r->next_waiting;
    }
    if (MHD_get_timeout(s->mhd, &t) == MHD_YES && t < next)
        next = t;
    return next;
}

static void after(void *userdata)
{
    struct server *s = userdata;
    /* Resumed connections and answers queued outside MHD's callbacks get processed. */
    (void) MHD_run(s->mhd);
}

int server_start(struct vpsd *d, int listen_fd, struct server **ret, struct vps_error *err)
{
    struct server *s = calloc(1, sizeof *s);

    if (!s)
        return vps_error_errno(err, ENOMEM, "allocate server");
    s->d = d;
    d->server = s;
    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
        listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
        d->opt.request_timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 1024, MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        d->server = NULL;
        return vps_error_set(err, VPS_ERR_SYSTEM, "start the HTTP server");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || loop_watch(d->loop, di->epoll_fd, EPOLLIN, on_mhd_ready, s, &s->watch, err) < 0 ||
        loop_add_prepare(d->loop, prepare, after, s, err) < 0) {
        if (!err->code)
            vps_error_set(err, VPS_ERR_SYSTEM, "no epoll fd from the HTTP server");
        server_stop(s);
        d->server = NULL;
        return -1;
    }
    *ret = s;
    return 0;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    /* MHD refuses to stop with suspended connections: wake them so they can finish. */
    server_wake_waiters(s);
    watch_remove(s->watch);
    if (s->mhd) {
        (void) MHD_run(s->mhd);
        MHD_stop_daemon(s->mhd);
    }
    free(s);
}
