/* The API client: one libcurl handle talking HTTP/1.1 to vpsd over its Unix socket, turning
 * answers into JSON values or, for error answers and transport failures, into struct
 * vps_error; and the handshake of an upgraded connection, which libcurl cannot do. What a
 * request means (paths, bodies, tables) is vpsctl's; this file only moves bytes and maps
 * failures. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "vps-build-config.h"
#include "vps/client.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/units.h"

#define CONNECT_TIMEOUT_MS 10000L

struct vps_client {
    CURL *curl;
    char *socket_path;
    uint64_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
};

/* The state of one request, shared with libcurl's callbacks. */
struct transfer {
    struct vps_client *c;
    char *buf; /* the answer held in memory: JSON, an error body, or a partial NDJSON line */
    size_t len, cap, limit;
    int in_fd;  /* upload source, -1 if none */
    int out_fd; /* download sink for 2xx bodies, -1 if none */
    uint64_t out_bytes;
    vps_client_line_fn line_fn; /* NDJSON consumer for 2xx bodies, NULL if none */
    void *userdata;
    bool stopped; /* line_fn asked to stop: not a failure */
    /* A failure inside a callback; libcurl can only report it as "aborted". */
    struct vps_error cb_err;
};

static void transfer_done(struct transfer *t)
{
    free(t->buf);
    t->buf = NULL;
}

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

#define TRANSFER_INIT(client)                                                                      \
    {                                                                                              \
        .c = (client), .in_fd = -1, .out_fd = -1, .limit = VPS_CLIENT_BODY_MAX                     \
    }

int vps_client_new(const char *socket_path, struct vps_client **ret, struct vps_error *err)
{
    struct vps_client *c = calloc(1, sizeof *c);

    if (!c)
        return vps_error_errno(err, ENOMEM, "allocate client");
    c->socket_path = strdup(socket_path);
    c->curl = curl_easy_init();
    c->timeout_ms = VPS_CLIENT_TIMEOUT_MS;
    if (!c->socket_path || !c->curl) {
        vps_client_free(c);
        return vps_error_set(err, VPS_ERR_SYSTEM, "cannot initialise libcurl");
    }
    *ret = c;
    return 0;
}

void vps_client_free(struct vps_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->socket_path);
    free(c);
}

void vps_client_set_timeout_ms(struct vps_client *c, uint64_t timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

char *vps_client_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1), *p = out;

    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        /* RFC 3986 unreserved characters pass; everything else, '/' and '.' runs included
         * in effect, is encoded so the server never sees a path separator or a query. */
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '~') {
            *p++ = (char) ch;
            continue;
        }
        *p++ = '%';
        *p++ = hex[ch >> 4];
        *p++ = hex[ch & 15];
    }
    *p = '\0';
    return out;
}

/* ---- callbacks ---- */

static bool answer_is_success(const struct transfer *t)
{
    long status = 0;

    (void) curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status <= 299;
}

static int append(struct transfer *t, const char *data, size_t len)
{
    if (len > t->limit - t->len)
        return vps_error_set(&t->cb_err, VPS_ERR_TOO_LARGE,
                             "the answer from vpsd is larger than %zu bytes", t->limit);
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + len)
            cap *= 2;
        char *n = realloc(t->buf, cap);
        if (!n)
            return vps_error_errno(&t->cb_err, ENOMEM, "read the answer from vpsd");
        t->buf = n;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, len);
    t->len += len;
    return 0;
}

/* Hands the buffered line to line_fn. Returns 0 to go on, -1 to stop the transfer (an error
 * in cb_err, or stopped set). */
static int emit_line(struct transfer *t)
{
    cleanup_json json_t *obj = NULL;
    size_t len = t->len;
    int r;

    t->len = 0;
    while (len > 0 && (t->buf[len - 1] == '\r' || t->buf[len - 1] == ' '))
        len--;
    if (len == 0)
        return 0;
    if (vps_json_parse_text(t->buf, len, &obj, &t->cb_err) < 0) {
        t->cb_err.code = VPS_ERR_SYSTEM;
        return vps_error_prefix(&t->cb_err, "vpsd sent an invalid line");
    }
    r = t->line_fn(obj, t->userdata, &t->cb_err);
    if (r < 0 && t->cb_err.code == VPS_ERR_NONE)
        vps_error_set(&t->cb_err, VPS_ERR_SYSTEM, "stream consumer failed");
    if (r > 0)
        t->stopped = true;
    return r != 0 ? -1 : 0;
}

static int sink_lines(struct transfer *t, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t) (nl - data) : len;

        if (append(t, data, n) < 0)
            return vps_error_set(&t->cb_err, VPS_ERR_SYSTEM,
                                 "vpsd sent a line longer than %zu bytes", t->limit);
        if (!nl)
            return 0;
        if (emit_line(t) < 0)
            return -1;
        data += n + 1;
        len -= n + 1;
    }
    return 0;
}

static int sink_fd(struct transfer *t, const char *data, size_t len)
{
    if (vps_write_all(t->out_fd, data, len, &t->cb_err) < 0)
        return vps_error_prefix(&t->cb_err, "save the answer from vpsd");
    t->out_bytes += len;
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * nmemb;
    int r;

    /* Only a success answer goes to the caller's sink; an error answer is kept for its
     * message, so a 404 never ends up in an exported tarball. */
    if (t->out_fd >= 0 && answer_is_success(t))
        r = sink_fd(t, data, len);
    else if (t->line_fn && answer_is_success(t))
        r = sink_lines(t, data, len);
    else
        r = append(t, data, len);
    /* Anything but len makes libcurl end the transfer with CURLE_WRITE_ERROR. */
    return r < 0 ? 0 : len;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct transfer *t = userdata;

    for (;;) {
        ssize_t n = read(t->in_fd, buf, size * nitems);
        if (n >= 0)
            return (size_t) n;
        if (errno != EINTR) {
            vps_error_errno(&t->cb_err, errno, "read the data to upload");
            return CURL_READFUNC_ABORT;
        }
    }
}

/* ---- mapping failures ---- */

static enum vps_errcode code_from_status(long status)
{
    switch (status) {
    case 400:
    case 405:
    case 415:
        return VPS_ERR_INVALID;
    case 403:
        return VPS_ERR_FORBIDDEN;
    case 404:
        return VPS_ERR_NOT_FOUND;
    case 409:
        return VPS_ERR_CONFLICT;
    case 413:
        return VPS_ERR_TOO_LARGE;
    case 503:
        return VPS_ERR_UNAVAILABLE;
    case 504:
        return VPS_ERR_TIMEOUT;
    default:
        return VPS_ERR_SYSTEM;
    }
}

static int error_from_answer(long status, const char *buf, size_t len, struct vps_error *err)
{
    cleanup_json json_t *j = len > 0 ? json_loadb(buf, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    enum vps_errcode ec = code ? vps_error_code_from_name(code) : VPS_ERR_NONE;

    /* An unknown code (a newer daemon's) falls back to what the status says. */
    if (ec == VPS_ERR_NONE || (ec == VPS_ERR_SYSTEM && strcmp(code, "internal") != 0))
        ec = code_from_status(status);
    if (msg && *msg)
        return vps_error_set(err, ec, "%s", msg);
    return vps_error_set(err, ec, "vpsd answered HTTP %ld without an error message", status);
}

static int transport_error(struct vps_client *c, CURLcode rc, struct vps_error *err)
{
    long os_errno = 0;
    char dur[VPS_UNITS_FORMAT_MAX];

    (void) curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        vps_error_set(
            err, os_errno == EACCES || os_errno == EPERM ? VPS_ERR_FORBIDDEN : VPS_ERR_UNAVAILABLE,
            "cannot connect to vpsd at '%s'", c->socket_path);
        err->errnum = (int) os_errno;
        return -1;
    case CURLE_GOT_NOTHING:
        return vps_error_set(err, VPS_ERR_UNAVAILABLE,
                             "vpsd at '%s' closed the connection without an answer",
                             c->socket_path);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        vps_error_set(err, VPS_ERR_UNAVAILABLE, "connection to vpsd at '%s' broke", c->socket_path);
        err->errnum = (int) os_errno;
        return -1;
    case CURLE_OPERATION_TIMEDOUT:
        return vps_error_set(err, VPS_ERR_TIMEOUT, "vpsd at '%s' did not answer within %s",
                             c->socket_path, vps_format_duration(c->timeout_ms, dur, sizeof dur));
    case CURLE_FILESIZE_EXCEEDED:
        return vps_error_set(err, VPS_ERR_TOO_LARGE, "the answer from vpsd is larger than %u bytes",
                             VPS_CLIENT_BODY_MAX);
    case CURLE_OUT_OF_MEMORY:
        return vps_error_errno(err, ENOMEM, "request to vpsd");
    default:
        return vps_error_set(err, VPS_ERR_SYSTEM, "request to vpsd at '%s' failed: %s",
                             c->socket_path, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    }
}

/* ---- one transfer ---- */

/* The options every request shares. curl_easy_reset() keeps the connection cache, so
 * consecutive requests reuse one connection when vpsd keeps it alive. */
static int setup(struct transfer *t, const char *path, const struct curl_slist *headers,
                 struct vps_error *err)
{
    struct vps_client *c = t->c;
    cleanup_free char *url = NULL;
    CURLcode rc = CURLE_OK;

    if (path[0] != '/')
        return vps_error_set(err, VPS_ERR_INVALID, "request path '%s' must start with '/'", path);
    if (asprintf(&url, "http://localhost%s", path) < 0) {
        url = NULL; /* undefined after a failure */
        return vps_error_errno(err, ENOMEM, "request to vpsd");
    }

    curl_easy_reset(c->curl);
    c->errbuf[0] = '\0';
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(c->curl, opt, val);                                              \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http");
    SET(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    SET(CURLOPT_USERAGENT, "vpsctl/" VPS_VERSION);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, t);
#undef SET
    if (rc != CURLE_OK)
        return vps_error_set(err, VPS_ERR_SYSTEM, "set up the request to vpsd: %s",
                             curl_easy_strerror(rc));
    return 0;
}

/* Runs the transfer. On success the status is in *ret_status and a 2xx answer's body (for
 * buffered transfers) in t->buf; an error answer or a failure fills err. */
static int perform(struct transfer *t, long *ret_status, struct vps_error *err)
{
    CURLcode rc = curl_easy_perform(t->c->curl);
    long status = 0;

    if (t->stopped)
        rc = CURLE_OK;
    if (t->cb_err.code != VPS_ERR_NONE) {
        *err = t->cb_err;
        return -1;
    }
    if (rc != CURLE_OK)
        return transport_error(t->c, rc, err);
    (void) curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return error_from_answer(status, t->buf, t->len, err);
    *ret_status = status;
    return 0;
}

static int parse_answer(const struct transfer *t, json_t **ret, struct vps_error *err)
{
    if (t->len == 0) {
        *ret = json_object();
        return *ret ? 0 : vps_error_errno(err, ENOMEM, "read the answer from vpsd");
    }
    if (vps_json_parse_text(t->buf, t->len, ret, err) < 0) {
        /* The daemon's fault, not the user's: never exit as if the input were bad. */
        err->code = VPS_ERR_SYSTEM;
        return vps_error_prefix(err, "vpsd sent an invalid answer");
    }
    return 0;
}

static int finish_json(struct transfer *t, long *ret_status, json_t **ret_body,
                       struct vps_error *err)
{
    cleanup_json json_t *body = NULL;
    long status = 0;

    if (perform(t, &status, err) < 0)
        return -1;
    if (ret_body && parse_answer(t, &body, err) < 0)
        return -1;
    if (ret_status)
        *ret_status = status;
    if (ret_body)
        *ret_body = TAKE_PTR(body);
    return 0;
}

/* ---- public requests ---- */

static int set_method(CURL *curl, const char *method, const char *body)
{
    CURLcode rc = CURLE_OK;

    if (strcmp(method, "GET") == 0 && !body)
        return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -1;
    if (body || strcmp(method, "POST") == 0) {
        /* POSTFIELDS turns the request into a POST; a body-less POST still sends
         * Content-Length: 0. The string stays valid until the transfer ends. */
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t) (body ? strlen(body) : 0));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
    }
    if (rc == CURLE_OK && strcmp(method, "POST") != 0)
        rc = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    return rc == CURLE_OK ? 0 : -1;
}

int vps_client_request(struct vps_client *c, const char *method, const char *path,
                       const json_t *body, long *ret_status, json_t **ret_body,
                       struct vps_error *err)
{
    cleanup_(transfer_done) struct transfer t = TRANSFER_INIT(c);
    cleanup_(slist_freep) struct curl_slist *headers = NULL;
    cleanup_free char *text = NULL;

    if (body && !(text = json_dumps(body, JSON_COMPACT)))
        return vps_error_errno(err, ENOMEM, "serialize the request body");
    headers = curl_slist_append(headers, "Accept: application/json");
    if (headers && text)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    /* A JSON body is small: waiting for "100 Continue" would only add a round trip. */
    if (headers && text)
        headers = curl_slist_append(headers, "Expect:");
    if (!headers)
        return vps_error_errno(err, ENOMEM, "request to vpsd");
    if (setup(&t, path, headers, err) < 0)
        return -1;
    if (set_method(c->curl, method, text) < 0 ||
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) VPS_CLIENT_BODY_MAX) !=
            CURLE_OK)
        return vps_error_set(err, VPS_ERR_SYSTEM, "set up the %s request to vpsd", method);
    return finish_json(&t, ret_status, ret_body, err);
}

static int set_upload(CURL *curl, struct transfer *t, struct vps_error *err)
{
    struct stat st;
    curl_off_t size = -1; /* unknown: libcurl sends the body chunked */
    CURLcode rc;

    if (fstat(t->in_fd, &st) < 0)
        return vps_error_errno(err, errno, "stat the data to upload");
    if (S_ISREG(st.st_mode) && st.st_size >= 0)
        size = (curl_off_t) st.st_size;
    rc = curl_easy_setopt(curl, CURLOPT_POST, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, size);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_READDATA, t);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) VPS_CLIENT_BODY_MAX);
    if (rc != CURLE_OK)
        return vps_error_set(err, VPS_ERR_SYSTEM, "set up the upload to vpsd: %s",
                             curl_easy_strerror(rc));
    return 0;
}

int vps_client_upload(struct vps_client *c, const char *path, const char *content_type, int in_fd,
                      long *ret_status, json_t **ret_body, struct vps_error *err)
{
    cleanup_(transfer_done) struct transfer t = TRANSFER_INIT(c);
    cleanup_(slist_freep) struct curl_slist *headers = NULL;
    cleanup_free char *ctype = NULL;

    t.in_fd = in_fd;
    if (asprintf(&ctype, "Content-Type: %s", content_type) < 0) {
        ctype = NULL; /* undefined after a failure */
        return vps_error_errno(err, ENOMEM, "upload to vpsd");
    }
    /* "Expect: 100-continue" always (libcurl 7.88 adds it on its own only past 1 MiB): vpsd
     * can refuse (a taken name, no permission) before any of the archive is sent, and the
     * refusal arrives as an answer rather than as a connection closed under a write. */
    headers = curl_slist_append(headers, "Accept: application/json");
    if (headers)
        headers = curl_slist_append(headers, "Expect: 100-continue");
    if (headers)
        headers = curl_slist_append(headers, ctype);
    if (!headers)
        return vps_error_errno(err, ENOMEM, "upload to vpsd");
    if (setup(&t, path, headers, err) < 0 || set_upload(c->curl, &t, err) < 0)
        return -1;
    return finish_json(&t, ret_status, ret_body, err);
}

int vps_client_download(struct vps_client *c, const char *path, int out_fd, uint64_t *ret_bytes,
                        struct vps_error *err)
{
    cleanup_(transfer_done) struct transfer t = TRANSFER_INIT(c);
    long status;

    t.out_fd = out_fd;
    if (setup(&t, path, NULL, err) < 0)
        return -1;
    if (perform(&t, &status, err) < 0)
        return -1;
    if (ret_bytes)
        *ret_bytes = t.out_bytes;
    return 0;
}

int vps_client_stream(struct vps_client *c, const char *path, vps_client_line_fn fn, void *userdata,
                      struct vps_error *err)
{
    cleanup_(transfer_done) struct transfer t = TRANSFER_INIT(c);
    cleanup_(slist_freep) struct curl_slist *headers = NULL;
    long status;

    t.line_fn = fn;
    t.userdata = userdata;
    t.limit = VPS_CLIENT_LINE_MAX;
    headers = curl_slist_append(headers, "Accept: application/x-ndjson");
    if (!headers)
        return vps_error_errno(err, ENOMEM, "request to vpsd");
    if (setup(&t, path, headers, err) < 0)
        return -1;
    if (perform(&t, &status, err) < 0)
        return -1;
    /* A last line without its newline still counts. */
    if (!t.stopped && t.len > 0 && emit_line(&t) < 0 && !t.stopped) {
        *err = t.cb_err;
        return -1;
    }
    return 0;
}

/* ---- upgraded connections ----
 *
 * A plain AF_UNIX socket, not libcurl with CURLOPT_CONNECT_ONLY: libcurl 7.88 speaks no
 * Upgrade but WebSocket's, so the request and the status line would be written and parsed
 * here either way, and all CONNECT_ONLY would add is connect(). Its socket would stay
 * libcurl's (closed by curl_easy_cleanup()) while the caller needs an fd it owns for
 * sendmsg()/recvmsg() with SCM_RIGHTS, which curl_easy_send()/curl_easy_recv() cannot carry.
 * The HTTP read here is the least an upgrade needs: the status line, Content-Length, Upgrade
 * and the end of the header, each bounded. */

struct answer_head {
    long status;
    bool has_length;
    uint64_t content_length;
    char upgrade[64];
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int connect_socket(const struct vps_client *c, int *ret_fd, struct vps_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(c->socket_path);
    cleanup_close int fd = -1;

    if (len >= sizeof sa.sun_path)
        return vps_error_set(err, VPS_ERR_INVALID, "socket path '%s' is too long", c->socket_path);
    memcpy(sa.sun_path, c->socket_path, len + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vps_error_errno(err, errno, "create a socket");
    if (connect(fd, (const struct sockaddr *) &sa, sizeof sa) < 0) {
        int e = errno;
        vps_error_set(err, e == EACCES || e == EPERM ? VPS_ERR_FORBIDDEN : VPS_ERR_UNAVAILABLE,
                      "cannot connect to vpsd at '%s'", c->socket_path);
        err->errnum = e;
        return -1;
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int broken(const struct vps_client *c, int errnum, struct vps_error *err)
{
    vps_error_set(err, VPS_ERR_UNAVAILABLE, "connection to vpsd at '%s' broke", c->socket_path);
    err->errnum = errnum;
    return -1;
}

static int send_all(const struct vps_client *c, int fd, const char *buf, size_t len,
                    struct vps_error *err)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a daemon that hangs up is an error here, not a SIGPIPE. */
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return broken(c, errno, err);
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

/* One read() of at most len bytes, once fd is readable and before end_ms (0: no limit).
 * Returns the count, 0 at EOF, -1 with err filled. */
static ssize_t read_some(const struct vps_client *c, int fd, char *buf, size_t len, uint64_t end_ms,
                         struct vps_error *err)
{
    char dur[VPS_UNITS_FORMAT_MAX];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = now_ms(), left = end_ms > now ? end_ms - now : 0;
        int n;

        if (end_ms && left == 0)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "vpsd at '%s' did not answer within %s",
                                 c->socket_path,
                                 vps_format_duration(c->timeout_ms, dur, sizeof dur));
        n = poll(&p, 1, end_ms ? (int) (left < INT_MAX ? left : INT_MAX) : -1);
        if (n < 0 && errno != EINTR)
            return vps_error_errno(err, errno, "wait for vpsd");
        if (n <= 0)
            continue; /* interrupted, or the limit is up: checked above */
        ssize_t r = read(fd, buf, len);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return broken(c, errno, err);
    }
}

/* Reads the answer's header through its empty line and not one byte further: what follows a
 * "101" belongs to the new protocol and may carry fds, which a read() reaching into it would
 * drop (the kernel discards SCM_RIGHTS that arrive without a control buffer). So each read
 * asks only for the bytes that could still complete "\r\n\r\n": 4 at most, fewer when the
 * header already ends in part of it. The header is a few hundred bytes: a few dozen reads. */
static int read_header(const struct vps_client *c, int fd, uint64_t end_ms, char *buf, size_t size,
                       struct vps_error *err)
{
    static const char end[] = "\r\n\r\n";
    size_t len = 0, matched = 0;

    while (matched < 4) {
        size_t want = 4 - matched;
        ssize_t n;

        if (len + want >= size)
            return vps_error_set(err, VPS_ERR_SYSTEM,
                                 "vpsd sent an answer header longer than %zu bytes", size - 1);
        n = read_some(c, fd, buf + len, want, end_ms, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return vps_error_set(err, VPS_ERR_UNAVAILABLE,
                                 "vpsd at '%s' closed the connection without an answer",
                                 c->socket_path);
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[len++];
            /* '\r' is the only prefix of the terminator that can restart a match. */
            matched = ch == end[matched] ? matched + 1 : ch == '\r' ? 1 : 0;
        }
    }
    buf[len] = '\0';
    return 0;
}

/* "HTTP/1.1 101 Switching Protocols": the status, or -1 if the line is not HTTP/1.x. */
static long parse_status_line(const char *line)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) line[7]) || line[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (!isdigit((unsigned char) line[i]))
            return -1;
    if (line[12] != ' ' && line[12] != '\r')
        return -1;
    return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

/* One "Name: value" line (value trimmed, NUL-terminated in place); the ones we need. */
static int parse_header_line(char *line, struct answer_head *h, struct vps_error *err)
{
    char *colon = strchr(line, ':'), *value, *end;

    if (!colon)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent a malformed header line");
    *colon = '\0';
    for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
        ;
    for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    *end = '\0';
    if (strcasecmp(line, "Content-Length") == 0) {
        char *p;
        errno = 0;
        h->content_length = strtoull(value, &p, 10);
        if (!isdigit((unsigned char) *value) || *p || errno)
            return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent an invalid Content-Length");
        h->has_length = true;
    } else if (strcasecmp(line, "Upgrade") == 0) {
        (void) snprintf(h->upgrade, sizeof h->upgrade, "%s", value);
    }
    return 0;
}

static int parse_head(char *buf, struct answer_head *h, struct vps_error *err)
{
    char *line = buf, *eol;

    h->status = parse_status_line(buf);
    if (h->status < 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent an answer that is not HTTP/1.x");
    /* The header ends in "\r\n\r\n" (read_header()), so every line ends in "\r\n". */
    while ((eol = strstr(line, "\r\n")) && eol != line) {
        *eol = '\0';
        if (line != buf && parse_header_line(line, h, err) < 0)
            return -1;
        line = eol + 2;
    }
    return 0;
}

/* After a status other than 101: the error answer's message, or why there is none. */
static int upgrade_refused(const struct vps_client *c, int fd, const struct answer_head *h,
                           const char *protocol, uint64_t end_ms, struct vps_error *err)
{
    cleanup_free char *buf = NULL;
    size_t want = 0, len = 0;

    if (h->status < 400)
        return vps_error_set(err, VPS_ERR_SYSTEM,
                             "vpsd did not switch the connection to '%s' (HTTP %ld)", protocol,
                             h->status);
    /* Without Content-Length the body cannot be delimited on a kept-alive connection: the
     * status alone names the error then. */
    if (h->has_length)
        want = h->content_length < VPS_CLIENT_UPGRADE_BODY_MAX ? (size_t) h->content_length
                                                               : VPS_CLIENT_UPGRADE_BODY_MAX;
    if (want > 0 && !(buf = malloc(want)))
        return vps_error_errno(err, ENOMEM, "read the answer from vpsd");
    while (len < want) {
        ssize_t n = read_some(c, fd, buf + len, want - len, end_ms, err);
        if (n < 0)
            return -1;
        if (n == 0)
            break; /* a cut body: what came may still hold the message */
        len += (size_t) n;
    }
    return error_from_answer(h->status, buf, len, err);
}

/* Spaces or control characters would end the request line or start a header of their own. */
static bool is_token(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

int vps_client_upgrade(struct vps_client *c, const char *path, const char *protocol,
                       const json_t *body, int *ret_fd, struct vps_error *err)
{
    uint64_t end_ms = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
    char head[VPS_CLIENT_UPGRADE_HEADER_MAX + 1];
    cleanup_free char *text = NULL, *req = NULL;
    struct answer_head h = {0};
    cleanup_close int fd = -1;
    int len;

    if (path[0] != '/' || !is_token(path) || !*protocol || !is_token(protocol))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid upgrade request to '%s'", path);
    if (!(text = json_dumps(body, JSON_COMPACT)))
        return vps_error_errno(err, ENOMEM, "serialize the request body");
    len = asprintf(&req,
                   "POST %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: vpsctl/" VPS_VERSION
                   "\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, protocol, strlen(text), text);
    if (len < 0) {
        req = NULL; /* undefined after a failure */
        return vps_error_errno(err, ENOMEM, "request to vpsd");
    }
    if (connect_socket(c, &fd, err) < 0 || send_all(c, fd, req, (size_t) len, err) < 0 ||
        read_header(c, fd, end_ms, head, sizeof head, err) < 0 || parse_head(head, &h, err) < 0)
        return -1;
    if (h.status != 101)
        return upgrade_refused(c, fd, &h, protocol, end_ms, err);
    if (strcasecmp(h.upgrade, protocol) != 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd switched to '%s', not to '%s'", h.upgrade,
                             protocol);
    *ret_fd = TAKE_FD(fd);
    return 0;
}
