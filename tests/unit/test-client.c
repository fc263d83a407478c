/* Unit tests for client.c against a throwaway HTTP server: a forked child on a Unix socket
 * in a private directory that records each request it receives and answers with canned
 * bytes. Covers error mapping, transport failures, JSON bodies, uploads, downloads and
 * NDJSON streams. */
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vps/client.h"
#include "vps/fd.h"

#define REQUEST_MAX (4U << 20)

static char tmpdir[] = "/tmp/test-client-XXXXXX";

struct answer {
    const char *raw;    /* sent as is after the request was read; "" closes silently */
    size_t extra_bytes; /* this many 'x' bytes follow raw */
    bool hang;          /* read the request, then never answer */
};

struct fake {
    char sock[108];
    pid_t pid;
    size_t n_requests;
};

/* ---- the fake server (runs in the child) ---- */

static bool has_header(const char *head, const char *line)
{
    return strcasestr(head, line) != NULL;
}

/* Reads one request to its end: the head, then Content-Length bytes or chunks up to the
 * terminating zero-size chunk. Answers "Expect: 100-continue" like a real server. */
static ssize_t read_request(int fd, char *buf, size_t size)
{
    size_t len = 0, want = 0;
    char *body = NULL;

    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            return n < 0 ? -1 : (ssize_t) len;
        len += (size_t) n;
        buf[len] = '\0';
        if (!body && (body = strstr(buf, "\r\n\r\n"))) {
            body += 4;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if (has_header(buf, "\r\nExpect: 100-continue"))
                (void) !write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        }
        if (!body)
            continue;
        if (has_header(buf, "\r\nTransfer-Encoding: chunked")) {
            if (len >= 5 && strcmp(buf + len - 5, "0\r\n\r\n") == 0)
                return (ssize_t) len;
        } else if ((size_t) (buf + len - body) >= want) {
            return (ssize_t) len;
        }
    }
}

static void serve_one(int lfd, const struct answer *a, size_t i)
{
    static char buf[REQUEST_MAX];
    char path[160];
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    ssize_t len;

    if (fd < 0)
        _exit(2);
    len = read_request(fd, buf, sizeof buf);
    (void) snprintf(path, sizeof path, "%s/req-%d-%zu", tmpdir, (int) getppid(), i);
    int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (len < 0 || log < 0 || write(log, buf, (size_t) len) != len)
        _exit(3);
    close(log);
    if (a->hang)
        pause();
    (void) !write(fd, a->raw, strlen(a->raw));
    for (size_t sent = 0; sent < a->extra_bytes;) {
        static char xs[65536];
        size_t n = a->extra_bytes - sent < sizeof xs ? a->extra_bytes - sent : sizeof xs;
        memset(xs, 'x', sizeof xs);
        ssize_t w = write(fd, xs, n);
        if (w <= 0)
            break; /* the client gave up reading, as it should */
        sent += (size_t) w;
    }
    close(fd);
}

static void fake_start(struct fake *f, const struct answer *answers, size_t n)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    static unsigned counter;
    int lfd;

    (void) snprintf(f->sock, sizeof f->sock, "%s/s-%d-%u", tmpdir, (int) getpid(), counter++);
    memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
    /* Listening before the fork: the client can never connect too early. */
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    f->n_requests = n;
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        /* Dies with the test, and never outlives a stuck one. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        alarm(20);
        for (size_t i = 0; i < n; i++)
            serve_one(lfd, &answers[i], i);
        _exit(0);
    }
    close(lfd);
}

static void fake_stop(struct fake *f)
{
    int status;

    (void) kill(f->pid, SIGKILL);
    ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
    (void) unlink(f->sock);
}

/* The raw bytes of request i as the fake received them. */
static char *fake_request(size_t i)
{
    char path[160], *text = NULL;
    size_t len;
    struct vps_error err = {0};

    (void) snprintf(path, sizeof path, "%s/req-%d-%zu", tmpdir, (int) getpid(), i);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vps_read_all(fd, REQUEST_MAX, &text, &len, &err), 0);
    close(fd);
    return text;
}

static struct vps_client *client_for(const struct fake *f)
{
    struct vps_client *c = NULL;
    struct vps_error err = {0};

    ck_assert_int_eq(vps_client_new(f->sock, &c, &err), 0);
    return c;
}

/* One request against one canned answer; returns what vps_client_request() did. */
static int request_once(const char *raw, const char *method, const char *path, const json_t *body,
                        long *status, json_t **ret, struct vps_error *err)
{
    struct answer a = {.raw = raw};
    struct fake f;
    int r;

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    r = vps_client_request(c, method, path, body, status, ret, err);
    vps_client_free(c);
    fake_stop(&f);
    return r;
}

static char *answer_with(const char *status, const char *body)
{
    char *s;
    ck_assert_int_ge(asprintf(&s,
                              "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                              "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                              status, strlen(body), body),
                     0);
    return s;
}

/* ---- requests ---- */

START_TEST(request_parses_2xx_json_answer)
{
    char *raw = answer_with("200 OK", "{\"version\": \"0.1.0\", \"counts\": {\"vps\": 2}}");
    struct vps_error err = {0};
    json_t *body = NULL;
    long status = 0;

    ck_assert_int_eq(request_once(raw, "GET", "/v1/host", NULL, &status, &body, &err), 0);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(body, "version")), "0.1.0");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(body, "counts"), "vps")),
                     2);
    char *req = fake_request(0);
    ck_assert_msg(strncmp(req, "GET /v1/host HTTP/1.1\r\n", 23) == 0, "%s", req);
    ck_assert_ptr_null(strcasestr(req, "Content-Type:"));
    free(req);
    json_decref(body);
    free(raw);
}
END_TEST

START_TEST(request_maps_404_body_to_not_found)
{
    char *raw = answer_with("404 Not Found", "{\"error\": {\"code\": \"not_found\", "
                                             "\"message\": \"vps 'web1' does not exist\"}}");
    struct vps_error err = {0};
    json_t *body = NULL;
    long status = 0;

    ck_assert_int_eq(request_once(raw, "GET", "/v1/vps/web1", NULL, &status, &body, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_NOT_FOUND);
    ck_assert_int_eq(err.errnum, 0);
    ck_assert_str_eq(err.msg, "vps 'web1' does not exist");
    ck_assert_int_eq(status, 0); /* outputs are written only on success */
    ck_assert_ptr_null(body);
    free(raw);
}
END_TEST

START_TEST(request_prefers_the_code_name_over_the_status)
{
    char *raw = answer_with("409 Conflict", "{\"error\": {\"code\": \"exists\", "
                                            "\"message\": \"vps 'web1' already exists\"}}");
    struct vps_error err = {0};

    ck_assert_int_eq(request_once(raw, "POST", "/v1/vps", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "vps 'web1' already exists");
    free(raw);
}
END_TEST

START_TEST(request_unknown_code_falls_back_to_status)
{
    char *raw = answer_with("504 Gateway Timeout",
                            "{\"error\": {\"code\": \"newfangled\", \"message\": \"slow\"}}");
    struct vps_error err = {0};

    ck_assert_int_eq(request_once(raw, "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_TIMEOUT);
    ck_assert_str_eq(err.msg, "slow");
    free(raw);
}
END_TEST

START_TEST(request_error_without_body_uses_status)
{
    char *raw = answer_with("403 Forbidden", "<html>no</html>");
    struct vps_error err = {0};

    ck_assert_int_eq(request_once(raw, "GET", "/v1/vps", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_FORBIDDEN);
    ck_assert_str_eq(err.msg, "vpsd answered HTTP 403 without an error message");
    free(raw);
}
END_TEST

START_TEST(request_internal_error_keeps_message)
{
    char *raw = answer_with("500 Internal Server Error",
                            "{\"error\": {\"code\": \"internal\", \"message\": \"mkdir 'x'\"}}");
    struct vps_error err = {0};

    ck_assert_int_eq(request_once(raw, "GET", "/v1/vps", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_str_eq(err.msg, "mkdir 'x'");
    free(raw);
}
END_TEST

START_TEST(request_sends_json_body_with_method)
{
    char *raw = answer_with("200 OK", "{\"config\": {\"hostname\": \"www\"}}");
    json_t *patch = json_pack("{s:s}", "hostname", "www");
    struct vps_error err = {0};
    json_t *body = NULL;

    ck_assert_int_eq(request_once(raw, "PATCH", "/v1/vps/web1", patch, NULL, &body, &err), 0);
    char *req = fake_request(0);
    ck_assert_msg(strncmp(req, "PATCH /v1/vps/web1 HTTP/1.1\r\n", 29) == 0, "%s", req);
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nContent-Type: application/json\r\n"));
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nContent-Length: 18\r\n"));
    ck_assert_ptr_null(strcasestr(req, "Expect:"));
    ck_assert_str_eq(strstr(req, "\r\n\r\n") + 4, "{\"hostname\":\"www\"}");
    free(req);
    json_decref(body);
    json_decref(patch);
    free(raw);
}
END_TEST

START_TEST(request_post_without_body_sends_empty_post)
{
    char *raw = answer_with("200 OK", "{}");
    struct vps_error err = {0};

    ck_assert_int_eq(request_once(raw, "POST", "/v1/vps/web1/start", NULL, NULL, NULL, &err), 0);
    char *req = fake_request(0);
    ck_assert_msg(strncmp(req, "POST /v1/vps/web1/start HTTP/1.1\r\n", 34) == 0, "%s", req);
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nContent-Length: 0\r\n"));
    free(req);
    free(raw);
}
END_TEST

START_TEST(request_delete_has_no_body)
{
    char *raw = answer_with("200 OK", "{\"deleted\": \"web1\"}");
    struct vps_error err = {0};
    json_t *body = NULL;

    ck_assert_int_eq(request_once(raw, "DELETE", "/v1/vps/web1", NULL, NULL, &body, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(body, "deleted")), "web1");
    char *req = fake_request(0);
    ck_assert_msg(strncmp(req, "DELETE /v1/vps/web1 HTTP/1.1\r\n", 30) == 0, "%s", req);
    free(req);
    json_decref(body);
    free(raw);
}
END_TEST

START_TEST(request_empty_2xx_answer_is_an_empty_object)
{
    struct vps_error err = {0};
    json_t *body = NULL;
    long status;

    ck_assert_int_eq(request_once("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", "DELETE",
                                  "/v1/x", NULL, &status, &body, &err),
                     0);
    ck_assert_int_eq(status, 204);
    ck_assert(json_is_object(body));
    ck_assert_uint_eq(json_object_size(body), 0);
    json_decref(body);
}
END_TEST

START_TEST(request_without_daemon_is_unavailable)
{
    struct vps_client *c = NULL;
    struct vps_error err = {0};
    char path[160], want[300];

    (void) snprintf(path, sizeof path, "%s/nobody-%d.sock", tmpdir, (int) getpid());
    ck_assert_int_eq(vps_client_new(path, &c, &err), 0);
    ck_assert_int_eq(vps_client_request(c, "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_UNAVAILABLE);
    ck_assert_int_eq(err.errnum, ENOENT);
    (void) snprintf(want, sizeof want, "cannot connect to vpsd at '%s'", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(vps_error_exit_status(err.code), 7);
    vps_client_free(c);
}
END_TEST

START_TEST(request_refused_connection_is_unavailable)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct vps_client *c = NULL;
    struct vps_error err = {0};

    /* A socket file nobody listens on: what a crashed vpsd leaves behind. */
    (void) snprintf(sa.sun_path, sizeof sa.sun_path, "%s/dead-%d.sock", tmpdir, (int) getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    close(fd);
    ck_assert_int_eq(vps_client_new(sa.sun_path, &c, &err), 0);
    ck_assert_int_eq(vps_client_request(c, "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_UNAVAILABLE);
    ck_assert_int_eq(err.errnum, ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot connect to vpsd at '"));
    vps_client_free(c);
    unlink(sa.sun_path);
}
END_TEST

START_TEST(request_closed_without_answer_is_unavailable)
{
    struct vps_error err = {0};

    ck_assert_int_eq(request_once("", "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "closed the connection without an answer"));
}
END_TEST

START_TEST(request_invalid_json_answer_is_system)
{
    char *raw = answer_with("200 OK", "not json");
    struct vps_error err = {0};
    json_t *body = NULL;

    ck_assert_int_eq(request_once(raw, "GET", "/v1/host", NULL, NULL, &body, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "vpsd sent an invalid answer: "));
    ck_assert_ptr_null(body);
    free(raw);

    raw = answer_with("200 OK", "[1, 2]");
    ck_assert_int_eq(request_once(raw, "GET", "/v1/host", NULL, NULL, &body, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected a JSON object"));
    free(raw);
}
END_TEST

START_TEST(request_refuses_announced_oversized_answer)
{
    struct vps_error err = {0};
    char raw[200];

    (void) snprintf(raw, sizeof raw,
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %u\r\n\r\n",
                    VPS_CLIENT_BODY_MAX + 1);
    ck_assert_int_eq(request_once(raw, "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than"));
}
END_TEST

START_TEST(request_refuses_unannounced_oversized_answer)
{
    /* No Content-Length: the limit must hold while the body streams in. */
    struct answer a = {.raw = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                       .extra_bytes = VPS_CLIENT_BODY_MAX + 1};
    struct vps_error err = {0};
    json_t *body = NULL;
    struct fake f;

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_request(c, "GET", "/v1/host", NULL, NULL, &body, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_TOO_LARGE);
    ck_assert_ptr_null(body);
    vps_client_free(c);
    fake_stop(&f);
}
END_TEST

START_TEST(request_times_out_on_a_silent_daemon)
{
    struct answer a = {.raw = "", .hang = true};
    struct vps_error err = {0};
    struct fake f;

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    vps_client_set_timeout_ms(c, 200);
    ck_assert_int_eq(vps_client_request(c, "GET", "/v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "did not answer within 200ms"));
    vps_client_free(c);
    fake_stop(&f);
}
END_TEST

START_TEST(request_rejects_relative_path)
{
    struct vps_client *c = NULL;
    struct vps_error err = {0};

    ck_assert_int_eq(vps_client_new("/nonexistent.sock", &c, &err), 0);
    ck_assert_int_eq(vps_client_request(c, "GET", "v1/host", NULL, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    vps_client_free(c);
}
END_TEST

START_TEST(escape_encodes_everything_but_unreserved)
{
    char *s = vps_client_escape("web-1_a~Z9");
    ck_assert_str_eq(s, "web-1_a~Z9");
    free(s);
    s = vps_client_escape("../host?x=1&y #");
    ck_assert_str_eq(s, "%2E%2E%2Fhost%3Fx%3D1%26y%20%23");
    free(s);
    s = vps_client_escape("\xc3\xa9");
    ck_assert_str_eq(s, "%C3%A9");
    free(s);
}
END_TEST

/* ---- uploads and downloads ---- */

static int temp_file(const char *content, size_t len)
{
    char path[160];
    struct vps_error err = {0};

    (void) snprintf(path, sizeof path, "%s/file-%d", tmpdir, (int) getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(vps_write_all(fd, content, len, &err), 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

START_TEST(upload_streams_file_with_length_and_type)
{
    char *raw = answer_with("202 Accepted", "{\"id\": \"op1\", \"state\": \"running\"}");
    struct answer a = {.raw = raw};
    static char data[100000];
    struct vps_error err = {0};
    json_t *body = NULL;
    long status = 0;
    struct fake f;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char) ('a' + i % 26);
    int fd = temp_file(data, sizeof data);
    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_upload(c, "/v1/templates?name=alpine", "application/x-tar", fd,
                                       &status, &body, &err),
                     0);
    ck_assert_int_eq(status, 202);
    ck_assert_str_eq(json_string_value(json_object_get(body, "id")), "op1");
    char *req = fake_request(0);
    ck_assert(strncmp(req, "POST /v1/templates?name=alpine HTTP/1.1\r\n", 41) == 0);
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nContent-Type: application/x-tar\r\n"));
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nContent-Length: 100000\r\n"));
    const char *payload = strstr(req, "\r\n\r\n") + 4;
    ck_assert_uint_eq(strlen(payload), sizeof data);
    ck_assert(memcmp(payload, data, sizeof data) == 0);
    free(req);
    json_decref(body);
    vps_client_free(c);
    fake_stop(&f);
    close(fd);
    free(raw);
}
END_TEST

START_TEST(upload_from_pipe_is_chunked)
{
    char *raw = answer_with("202 Accepted", "{\"id\": \"op2\"}");
    struct answer a = {.raw = raw};
    struct vps_error err = {0};
    int p[2];
    struct fake f;

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(write(p[1], "tarball", 7), 7);
    close(p[1]);
    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(
        vps_client_upload(c, "/v1/templates?name=t", "application/x-tar", p[0], NULL, NULL, &err),
        0);
    char *req = fake_request(0);
    ck_assert_ptr_nonnull(strcasestr(req, "\r\nTransfer-Encoding: chunked\r\n"));
    ck_assert_ptr_nonnull(strstr(req, "\r\n\r\n7\r\ntarball\r\n0\r\n\r\n"));
    free(req);
    vps_client_free(c);
    fake_stop(&f);
    close(p[0]);
    free(raw);
}
END_TEST

START_TEST(upload_error_answer_is_mapped)
{
    char *raw = answer_with("409 Conflict", "{\"error\": {\"code\": \"exists\", "
                                            "\"message\": \"template 'alpine' exists\"}}");
    struct answer a = {.raw = raw};
    struct vps_error err = {0};
    struct fake f;
    int fd = temp_file("data", 4);

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_upload(c, "/v1/templates?name=alpine", "application/x-tar", fd,
                                       NULL, NULL, &err),
                     -1);
    ck_assert_int_eq(err.code, VPS_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "template 'alpine' exists");
    vps_client_free(c);
    fake_stop(&f);
    close(fd);
    free(raw);
}
END_TEST

START_TEST(download_writes_body_to_fd)
{
    struct answer a = {.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
                              "Connection: close\r\nContent-Length: 11\r\n\r\nBINARY-TAR!"};
    struct vps_error err = {0};
    uint64_t bytes = 0;
    char back[32];
    struct fake f;
    int fd = temp_file("", 0);

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_download(c, "/v1/templates/minimal/export", fd, &bytes, &err), 0);
    ck_assert_uint_eq(bytes, 11);
    ck_assert_int_eq(pread(fd, back, sizeof back, 0), 11);
    ck_assert(memcmp(back, "BINARY-TAR!", 11) == 0);
    vps_client_free(c);
    fake_stop(&f);
    close(fd);
}
END_TEST

START_TEST(download_error_answer_never_reaches_the_fd)
{
    char *raw = answer_with("404 Not Found", "{\"error\": {\"code\": \"not_found\", "
                                             "\"message\": \"template 'x' does not exist\"}}");
    struct answer a = {.raw = raw};
    struct vps_error err = {0};
    struct stat st;
    struct fake f;
    int fd = temp_file("", 0);

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_download(c, "/v1/templates/x/export", fd, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_NOT_FOUND);
    ck_assert_str_eq(err.msg, "template 'x' does not exist");
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    vps_client_free(c);
    fake_stop(&f);
    close(fd);
    free(raw);
}
END_TEST

START_TEST(download_write_failure_is_reported)
{
    struct answer a = {.raw =
                           "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"};
    struct vps_error err = {0};
    struct fake f;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* not writable */

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    ck_assert_int_eq(vps_client_download(c, "/v1/x", fd, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_int_eq(err.errnum, EBADF);
    ck_assert_ptr_nonnull(strstr(err.msg, "save the answer from vpsd"));
    vps_client_free(c);
    fake_stop(&f);
    close(fd);
}
END_TEST

/* ---- streams ---- */

struct seen {
    json_int_t seq[8];
    size_t n;
    size_t stop_after; /* 0: never */
    bool fail;
};

static int on_line(const json_t *obj, void *userdata, struct vps_error *err)
{
    struct seen *s = userdata;

    if (s->fail)
        return vps_error_set(err, VPS_ERR_CONFLICT, "consumer says no");
    if (s->n < ELEMENTSOF(s->seq))
        s->seq[s->n++] = json_integer_value(json_object_get(obj, "seq"));
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static int stream_once(const char *raw, struct seen *s, struct vps_error *err)
{
    struct answer a = {.raw = raw};
    struct fake f;
    int r;

    fake_start(&f, &a, 1);
    struct vps_client *c = client_for(&f);
    r = vps_client_stream(c, "/v1/events?since=0", on_line, s, err);
    vps_client_free(c);
    fake_stop(&f);
    return r;
}

#define NDJSON_HEAD                                                                                \
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"

START_TEST(stream_calls_fn_per_line)
{
    struct seen s = {0};
    struct vps_error err = {0};

    ck_assert_int_eq(
        stream_once(NDJSON_HEAD "{\"seq\": 1}\n\n{\"seq\": 2}\r\n{\"seq\": 3}", &s, &err), 0);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_int_eq(s.seq[0], 1);
    ck_assert_int_eq(s.seq[1], 2);
    ck_assert_int_eq(s.seq[2], 3);
    char *req = fake_request(0);
    ck_assert(strncmp(req, "GET /v1/events?since=0 HTTP/1.1\r\n", 33) == 0);
    free(req);
}
END_TEST

START_TEST(stream_decodes_chunked_lines_split_across_chunks)
{
    struct seen s = {0};
    struct vps_error err = {0};

    ck_assert_int_eq(stream_once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\n{\"seq\r\n7\r\n\": 41}\n\r\nB\r\n{\"seq\": 42}\r\n"
                                 "1\r\n\n\r\n0\r\n\r\n",
                                 &s, &err),
                     0);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.seq[0], 41);
    ck_assert_int_eq(s.seq[1], 42);
}
END_TEST

START_TEST(stream_stops_when_fn_asks)
{
    struct seen s = {.stop_after = 2};
    struct vps_error err = {0};

    ck_assert_int_eq(
        stream_once(NDJSON_HEAD "{\"seq\": 1}\n{\"seq\": 2}\n{\"seq\": 3}\n", &s, &err), 0);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(err.code, VPS_ERR_NONE);
}
END_TEST

START_TEST(stream_passes_on_the_consumers_error)
{
    struct seen s = {.fail = true};
    struct vps_error err = {0};

    ck_assert_int_eq(stream_once(NDJSON_HEAD "{\"seq\": 1}\n", &s, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_CONFLICT);
    ck_assert_str_eq(err.msg, "consumer says no");
}
END_TEST

START_TEST(stream_rejects_a_line_that_is_not_an_object)
{
    struct seen s = {0};
    struct vps_error err = {0};

    ck_assert_int_eq(stream_once(NDJSON_HEAD "{\"seq\": 1}\nnope\n{\"seq\": 3}\n", &s, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_SYSTEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "vpsd sent an invalid line"));
    ck_assert_uint_eq(s.n, 1);
}
END_TEST

START_TEST(stream_error_answer_is_mapped)
{
    char *raw = answer_with("403 Forbidden", "{\"error\": {\"code\": \"forbidden\", "
                                             "\"message\": \"not allowed\"}}");
    struct seen s = {0};
    struct vps_error err = {0};

    ck_assert_int_eq(stream_once(raw, &s, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_FORBIDDEN);
    ck_assert_str_eq(err.msg, "not allowed");
    ck_assert_uint_eq(s.n, 0);
    free(raw);
}
END_TEST

/* ---- fixture ---- */

static void make_tmpdir(void)
{
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            (void) unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    (void) rmdir(tmpdir);
}

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_add_test(tc, request_parses_2xx_json_answer);
    tcase_add_test(tc, request_maps_404_body_to_not_found);
    tcase_add_test(tc, request_prefers_the_code_name_over_the_status);
    tcase_add_test(tc, request_unknown_code_falls_back_to_status);
    tcase_add_test(tc, request_error_without_body_uses_status);
    tcase_add_test(tc, request_internal_error_keeps_message);
    tcase_add_test(tc, request_sends_json_body_with_method);
    tcase_add_test(tc, request_post_without_body_sends_empty_post);
    tcase_add_test(tc, request_delete_has_no_body);
    tcase_add_test(tc, request_empty_2xx_answer_is_an_empty_object);
    tcase_add_test(tc, request_without_daemon_is_unavailable);
    tcase_add_test(tc, request_refused_connection_is_unavailable);
    tcase_add_test(tc, request_closed_without_answer_is_unavailable);
    tcase_add_test(tc, request_invalid_json_answer_is_system);
    tcase_add_test(tc, request_refuses_announced_oversized_answer);
    tcase_add_test(tc, request_refuses_unannounced_oversized_answer);
    tcase_add_test(tc, request_times_out_on_a_silent_daemon);
    tcase_add_test(tc, request_rejects_relative_path);
    tcase_add_test(tc, escape_encodes_everything_but_unreserved);
    tcase_add_test(tc, upload_streams_file_with_length_and_type);
    tcase_add_test(tc, upload_from_pipe_is_chunked);
    tcase_add_test(tc, upload_error_answer_is_mapped);
    tcase_add_test(tc, download_writes_body_to_fd);
    tcase_add_test(tc, download_error_answer_never_reaches_the_fd);
    tcase_add_test(tc, download_write_failure_is_reported);
    tcase_add_test(tc, stream_calls_fn_per_line);
    tcase_add_test(tc, stream_decodes_chunked_lines_split_across_chunks);
    tcase_add_test(tc, stream_stops_when_fn_asks);
    tcase_add_test(tc, stream_passes_on_the_consumers_error);
    tcase_add_test(tc, stream_rejects_a_line_that_is_not_an_object);
    tcase_add_test(tc, stream_error_answer_is_mapped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
