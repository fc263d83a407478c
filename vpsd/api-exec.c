/* Commands in a running VPS: POST /v1/vps/{name}/exec in two forms. Without an Upgrade
 * header, output is captured and answered as JSON (for panels). With "Upgrade: vps-exec"
 * (vpsctl exec/enter), the connection becomes a channel: the client passes its stdin,
 * stdout and stderr with SCM_RIGHTS, or gets the master of a pty made inside the VPS, and
 * the exit status arrives as one JSON line. The clone into the VPS is spawn.c's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "api.h"
#include "loop.h"
#include "supervisor.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/pty.h"
#include "vps/spawn.h"
#include "vps/utf8.h"

#define EXEC_OUTPUT_MAX  (1024 * 1024)
#define EXEC_STDIN_MAX   (64 * 1024) /* fits a pipe's buffer: written at once, never blocks */
#define EXEC_TIMEOUT_MS  60000
#define UPGRADE_PROTOCOL "vps-exec"

/* ---- exec with captured output: the API's form for panels ---- */

struct exec_in {
    struct vps_strv command;
    uint32_t uid, gid;
    struct vps_strv env;
    char *cwd;
    char *input; /* "stdin" */
    uint64_t timeout_ms;
    bool tty; /* streamed sessions only */
    uint32_t rows, cols;
};

/* Arguments may be empty (`ssh-keygen -N ''`), the program's name may not. */
static int parse_exec(const json_t *body, struct exec_in *in, struct vps_error *err);

static const struct vps_json_field exec_fields[] = {
    {.name = "command",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct exec_in, command),
     .required = true,
     .min = 1,
     .max = 1024,
     .str_max = 65536,
     .str_empty_ok = true},
    {.name = "uid", .kind = VPS_JSON_UINT32, .offset = offsetof(struct exec_in, uid), .max = 65535},
    {.name = "gid", .kind = VPS_JSON_UINT32, .offset = offsetof(struct exec_in, gid), .max = 65535},
    {.name = "env",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct exec_in, env),
     .max = 1024,
     .check = vps_config_check_env,
     .str_max = 65536},
    {.name = "cwd",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct exec_in, cwd),
     .min = 1,
     .max = 4096,
     .check = vps_config_check_abs_path},
    {.name = "stdin",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct exec_in, input),
     .max = EXEC_STDIN_MAX},
    {.name = "timeout_ms",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct exec_in, timeout_ms),
     .min = 1,
     .max = 3600 * 1000},
    {.name = "tty", .kind = VPS_JSON_BOOL, .offset = offsetof(struct exec_in, tty)},
    {.name = "rows",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct exec_in, rows),
     .max = 10000},
    {.name = "cols",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct exec_in, cols),
     .max = 10000},
};

static int parse_exec(const json_t *body, struct exec_in *in, struct vps_error *err)
{
    if (vps_json_parse_fields(body, exec_fields, ELEMENTSOF(exec_fields), in, "", err) < 0)
        return -1;
    if (!in->command.v[0][0])
        return vps_error_set(err, VPS_ERR_INVALID, "command[0]: must not be empty");
    return 0;
}

struct output {
    int fd;
    struct watch *watch;
    char *buf;
    size_t len;
    bool truncated;
};

struct exec_job {
    struct request *r;
    int pidfd;
    struct watch *pid_watch;
    int timer_fd;
    struct watch *timer_watch;
    struct output out[2]; /* stdout, stderr */
    bool done, timed_out;
    siginfo_t si;
};

static void output_drain(struct output *o)
{
    char buf[16384];
    ssize_t n;

    while (o->fd >= 0 && (n = read(o->fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) /* an error ends the stream like EOF */
                break;
            return;
        }
        size_t room = EXEC_OUTPUT_MAX - o->len, take = (size_t) n < room ? (size_t) n : room;
        if (take < (size_t) n)
            o->truncated = true; /* the rest is read and dropped: the command is never blocked */
        if (take > 0) {
            char *nb = realloc(o->buf, o->len + take + 1);
            if (!nb) {
                o->truncated = true;
                continue;
            }
            o->buf = nb;
            memcpy(o->buf + o->len, buf, take);
            o->len += take;
        }
    }
    watch_remove(o->watch);
    o->watch = NULL;
    o->fd = vps_close(o->fd);
}

static void on_output(struct watch *w, uint32_t events, void *userdata)
{
    (void) w, (void) events;
    output_drain(userdata);
}

static void job_stop_watching(struct exec_job *j)
{
    watch_remove(j->pid_watch);
    watch_remove(j->timer_watch);
    j->pid_watch = j->timer_watch = NULL;
    j->timer_fd = vps_close(j->timer_fd);
}

static void on_exit_of_command(struct watch *w, uint32_t events, void *userdata)
{
    struct exec_job *j = userdata;

    (void) w, (void) events;
    (void) waitid(P_PIDFD, (id_t) j->pidfd, &j->si, WEXITED);
    /* What the command wrote is in the pipes; a daemon it left behind may keep them open, so
     * the end is the command's exit, not EOF. */
    for (size_t i = 0; i < 2; i++)
        output_drain(&j->out[i]);
    job_stop_watching(j);
    j->pidfd = vps_close(j->pidfd);
    j->done = true;
    request_resume(j->r);
}

static void on_exec_timeout(struct watch *w, uint32_t events, void *userdata)
{
    struct exec_job *j = userdata;

    (void) w, (void) events;
    j->timed_out = true;
    (void) pidfd_send_signal(j->pidfd, SIGKILL, NULL, 0);
}

static void job_free(void *p)
{
    struct exec_job *j = p;

    if (!j)
        return;
    job_stop_watching(j);
    if (j->pidfd >= 0) { /* the client left before the end: the command goes too */
        (void) pidfd_send_signal(j->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) j->pidfd, &(siginfo_t){0}, WEXITED);
        close(j->pidfd);
    }
    for (size_t i = 0; i < 2; i++) {
        watch_remove(j->out[i].watch);
        vps_close(j->out[i].fd);
        free(j->out[i].buf);
    }
    free(j);
}

static json_t *output_json(struct output *o)
{
    vps_utf8_sanitize(o->buf ? o->buf : "", o->len);
    return json_stringn(o->buf ? o->buf : "", o->len);
}

static int reply_job(struct request *r, struct exec_job *j)
{
    json_t *res =
        json_pack("{s:o, s:o, s:b, s:b, s:b}", "stdout", output_json(&j->out[0]), "stderr",
                  output_json(&j->out[1]), "stdout_truncated", j->out[0].truncated,
                  "stderr_truncated", j->out[1].truncated, "timed_out", j->timed_out);

    if (res && j->si.si_code == CLD_EXITED)
        (void) json_object_set_new(res, "exit_code", json_integer(j->si.si_status));
    else if (res)
        (void) json_object_set_new(res, "signal", json_integer(j->si.si_status));
    return reply_json(r, 200, res);
}

static int arm(struct exec_job *j, struct vpsd *d, uint64_t ms, struct vps_error *err)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000}};

    j->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (j->timer_fd < 0 || timerfd_settime(j->timer_fd, 0, &its, NULL) < 0)
        return vps_error_errno(err, errno, "exec timer");
    return loop_watch(d->loop, j->timer_fd, EPOLLIN, on_exec_timeout, j, &j->timer_watch, err);
}

/* Pipes for the command's stdio: [0] is its stdin (we write), [1] and [2] its output. */
static int make_pipes(int child[3], int ours[3], struct vps_error *err)
{
    for (int i = 0; i < 3; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return vps_error_errno(err, errno, "pipe");
        child[i] = i == 0 ? p[0] : p[1];
        ours[i] = i == 0 ? p[1] : p[0];
        if (fcntl(ours[i], F_SETFL, O_NONBLOCK) < 0)
            return vps_error_errno(err, errno, "pipe");
    }
    return 0;
}

static int start_job(struct request *r, const char *name, const struct exec_in *in,
                     struct exec_job *j, struct vps_error *err)
{
    int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, r_ = -1;
    struct vps_spawn_exec o = {
        .uid = in->uid,
        .gid = in->gid,
        .argv = (const char *const *) in->command.v,
        .envp = in->env.n ? (const char *const *) in->env.v : NULL,
        .cwd = in->cwd,
    };
    pid_t pid;

    if (make_pipes(child, ours, err) < 0)
        goto out;
    memcpy(o.stdio, child, sizeof o.stdio);
    if (supervisor_exec(r->d->sup, name, &o, &pid, &j->pidfd, err) < 0)
        goto out;
    /* At most EXEC_STDIN_MAX: it fits the pipe, so this write never blocks. */
    if (in->input)
        (void) write(ours[0], in->input, strlen(in->input));
    for (int i = 0; i < 2; i++) {
        j->out[i].fd = ours[i + 1];
        ours[i + 1] = -1;
        if (loop_watch(r->d->loop, j->out[i].fd, EPOLLIN, on_output, &j->out[i], &j->out[i].watch,
                       err) < 0)
            goto out;
    }
    if (loop_watch(r->d->loop, j->pidfd, EPOLLIN, on_exit_of_command, j, &j->pid_watch, err) < 0 ||
        arm(j, r->d, in->timeout_ms ? in->timeout_ms : EXEC_TIMEOUT_MS, err) < 0)
        goto out;
    r_ = 0;
out:
    for (int i = 0; i < 3; i++) {
        vps_close(child[i]);
        vps_close(ours[i]);
    }
    return r_;
}

static int exec_captured(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    struct exec_in in = {0};
    struct exec_job *j = r->state;
    int ret;

    if (j) {
        if (j->done)
            return reply_job(r, j);
        request_suspend(r, 0); /* woken for someone else: wait on */
        return 0;
    }
    if (api_load_vps(r, &c, err) < 0)
        return -1;
    ret = parse_exec(r->body, &in, err);
    if (ret == 0 && (in.tty || in.rows || in.cols))
        ret = vps_error_set(err, VPS_ERR_INVALID,
                            "tty: only with \"Upgrade: vps-exec\" (a streamed session)");
    if (ret == 0 && !(j = calloc(1, sizeof *j)))
        ret = vps_error_errno(err, ENOMEM, "exec");
    if (ret == 0) {
        *j =
            (struct exec_job){.r = r, .pidfd = -1, .timer_fd = -1, .out = {{.fd = -1}, {.fd = -1}}};
        r->state = j;
        r->state_free = job_free;
        ret = start_job(r, c->name, &in, j, err);
    }
    vps_json_free_fields(&in, exec_fields, ELEMENTSOF(exec_fields));
    if (ret < 0)
        return -1;
    request_suspend(r, 0);
    return 0;
}

/* ---- exec over an upgraded connection: vpsctl exec and enter ---- */

struct stream {
    struct vpsd *d;
    struct request *r; /* until request_gone */
    char name[VPS_NAME_MAX + 1];
    struct exec_in in;
    int sock; /* MHD's: closed through urh */
    struct MHD_UpgradeResponseHandle *urh;
    struct watch *sock_watch;
    int pidfd;
    struct watch *pid_watch;
    bool upgraded, request_gone, started;
    struct stream *prev, *next;
};

static struct stream *streams; /* every stream, for shutdown */

static void stream_free(struct stream *st)
{
    /* MHD may finish the request only after the upgraded connection is closed below: it
     * must not find this stream any more then. */
    if (!st->request_gone) {
        st->r->state = NULL;
        st->r->state_free = NULL;
    }
    watch_remove(st->sock_watch);
    watch_remove(st->pid_watch);
    if (st->pidfd >= 0) { /* the client went away: so does its command */
        (void) pidfd_send_signal(st->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) st->pidfd, &(siginfo_t){0}, WEXITED);
        close(st->pidfd);
    }
    if (st->urh)
        (void) MHD_upgrade_action(st->urh, MHD_UPGRADE_ACTION_CLOSE);
    vps_json_free_fields(&st->in, exec_fields, ELEMENTSOF(exec_fields));
    if (st->prev)
        st->prev->next = st->next;
    else
        streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    free(st);
}

/* The request is done with the stream; before the upgrade nobody else will be. */
static void stream_release(void *p)
{
    struct stream *st = p;

    st->request_gone = true;
    st->r = NULL;
    if (!st->upgraded)
        stream_free(st);
}

/* One JSON line, the channel's last word: {"exit_code": N}, {"signal": N} or an error. */
static void stream_say(struct stream *st, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (text) {
        size_t len = strlen(text);
        text[len] = '\n';
        struct vps_error e = {0};
        (void) vps_write_all(st->sock, text, len + 1, &e);
        free(text);
    }
}

static void stream_fail(struct stream *st, const struct vps_error *err)
{
    char msg[1024];

    stream_say(st, json_pack("{s:{s:s, s:s}}", "error", "code", vps_error_code_name(err->code),
                             "message", vps_error_format(err, msg, sizeof msg)));
    stream_free(st);
}

static void on_stream_exit(struct watch *w, uint32_t events, void *userdata)
{
    struct stream *st = userdata;
    siginfo_t si = {0};

    (void) w, (void) events;
    (void) waitid(P_PIDFD, (id_t) st->pidfd, &si, WEXITED);
    st->pidfd = vps_close(st->pidfd);
    stream_say(st,
               json_pack("{s:i}", si.si_code == CLD_EXITED ? "exit_code" : "signal", si.si_status));
    stream_free(st);
}

static int stream_spawn(struct stream *st, const int stdio[3], bool ctty, struct vps_error *err)
{
    struct vps_spawn_exec o = {
        .uid = st->in.uid,
        .gid = st->in.gid,
        .argv = (const char *const *) st->in.command.v,
        .envp = st->in.env.n ? (const char *const *) st->in.env.v : NULL,
        .cwd = st->in.cwd,
        .setsid_ctty = ctty,
    };
    pid_t pid;

    memcpy(o.stdio, stdio, sizeof o.stdio);
    if (supervisor_exec(st->d->sup, st->name, &o, &pid, &st->pidfd, err) < 0)
        return -1;
    st->started = true;
    return loop_watch(st->d->loop, st->pidfd, EPOLLIN, on_stream_exit, st, &st->pid_watch, err);
}

static int open_pty(struct stream *st, int *ret_master, int *ret_slave, struct vps_error *err)
{
    cleanup_close int root = -1;

    if (supervisor_open_root(st->d->sup, st->name, &root, err) < 0 ||
        vps_pty_open_in(root, st->in.rows, st->in.cols, ret_master, ret_slave, err) < 0)
        return vps_error_prefix(err, "vps '%s'", st->name);
    return 0;
}

static int send_fd(int sock, char tag, int fd, struct vps_error *err)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u = {0};
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sock, &m, MSG_NOSIGNAL) != 1)
        return vps_error_errno(err, errno, "send pty to client");
    return 0;
}

/* Reads the client's 'F' + SCM_RIGHTS [stdin, stdout, stderr]. 0: not there yet. */
static int recv_stdio(struct stream *st, int ret[3], struct vps_error *err)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(8 * sizeof(int))];
    } u;
    char tag = 0;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    int fds[8], n_fds = 0;
    ssize_t n = recvmsg(st->sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return vps_error_set(err, VPS_ERR_INVALID, "client closed before sending its stdio");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k && n_fds < 8; i++)
                memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    if (tag != 'F' || n_fds != 3 || (m.msg_flags & MSG_CTRUNC)) {
        for (int i = 0; i < n_fds; i++)
            close(fds[i]);
        return vps_error_set(err, VPS_ERR_INVALID, "expected 'F' with 3 fds, got '%c' with %d", tag,
                             n_fds);
    }
    memcpy(ret, fds, 3 * sizeof(int));
    return 1;
}

static void on_stream_sock(struct watch *w, uint32_t events, void *userdata)
{
    struct stream *st = userdata;
    struct vps_error err = {0};
    int fds[3], r;
    char buf[256];

    (void) w;
    if (!st->started) {
        if ((r = recv_stdio(st, fds, &err)) == 0)
            return;
        if (r > 0) {
            r = stream_spawn(st, fds, false, &err);
            for (int i = 0; i < 3; i++)
                close(fds[i]); /* the command has them now */
        }
        if (r < 0)
            stream_fail(st, &err);
        return;
    }
    /* While the command runs the client only waits: EOF or a hang-up means it is gone. */
    ssize_t n = recv(st->sock, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (events & (EPOLLHUP | EPOLLERR)))
        stream_free(st);
}

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    struct stream *st = cls;
    struct vps_error err = {0};
    int master = -1, slave = -1;

    (void) conn, (void) req_cls, (void) extra_in;
    st->upgraded = true;
    st->sock = sock;
    st->urh = urh;
    /* The client sends only after reading "101": bytes already buffered would have lost
     * the fds that came with them. */
    if (extra_in_size > 0) {
        vps_error_set(&err, VPS_ERR_INVALID, "data sent before the upgrade");
        goto fail;
    }
    if (loop_watch(st->d->loop, sock, EPOLLIN | EPOLLRDHUP, on_stream_sock, st, &st->sock_watch,
                   &err) < 0)
        goto fail;
    if (st->in.tty) {
        int stdio[3];
        if (open_pty(st, &master, &slave, &err) < 0)
            goto fail;
        stdio[0] = stdio[1] = stdio[2] = slave;
        if (stream_spawn(st, stdio, true, &err) < 0 || send_fd(sock, 'P', master, &err) < 0)
            goto fail;
        close(master);
        close(slave);
    }
    return;
fail:
    vps_close(master);
    vps_close(slave);
    stream_fail(st, &err);
}

static int exec_stream(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    struct MHD_Response *resp;
    struct stream *st;

    if (api_load_vps(r, &c, err) < 0)
        return -1;
    if (!(st = calloc(1, sizeof *st)))
        return vps_error_errno(err, ENOMEM, "exec");
    *st = (struct stream){.d = r->d, .r = r, .sock = -1, .pidfd = -1, .next = streams};
    (void) snprintf(st->name, sizeof st->name, "%s", c->name);
    if (streams)
        streams->prev = st;
    streams = st;
    r->state = st;
    r->state_free = stream_release;
    if (parse_exec(r->body, &st->in, err) < 0)
        return -1;
    if (st->in.input || st->in.timeout_ms)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "stdin, timeout_ms: only without an upgrade (captured output)");
    /* Refused now, as a plain HTTP error, rather than on the channel. */
    if (supervisor_state(r->d->sup, c->name) != VPS_RUN_RUNNING)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", c->name);
    resp = MHD_create_response_for_upgrade(on_upgraded, st);
    if (!resp)
        return vps_error_set(err, VPS_ERR_SYSTEM, "create upgrade response");
    (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, UPGRADE_PROTOCOL);
    return reply_response(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

int api_vps_exec(struct request *r, struct vps_error *err)
{
    const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);

    if (!up)
        return exec_captured(r, err);
    if (strcasecmp(up, UPGRADE_PROTOCOL) != 0)
        return vps_error_set(err, VPS_ERR_INVALID, "Upgrade: only \"%s\" is spoken here",
                             UPGRADE_PROTOCOL);
    return exec_stream(r, err);
}

void api_exec_shutdown(void)
{
    while (streams)
        stream_free(streams);
}
