/* /v1/vps/{name}/start, stop, restart, kill, stats and exec: a VPS's lifecycle as the API
 * offers it. Requests that wait for a VPS to stop, or for a command to end, suspend until
 * the supervisor or the command's pidfd wakes them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "api.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"
#include "vps/json.h"
#include "vps/spawn.h"
#include "vps/utf8.h"

#define EXEC_OUTPUT_MAX (1024 * 1024)
#define EXEC_STDIN_MAX  (64 * 1024) /* fits a pipe's buffer: written at once, never blocks */
#define EXEC_TIMEOUT_MS 60000

static int reply_current(struct request *r, const struct vps_config *c, struct vps_error *err)
{
    json_t *j = api_vps_json(r, c, err);
    return j ? reply_json(r, 200, j) : -1;
}

static int get_u64(const json_t *body, const char *key, uint64_t max, uint64_t def,
                   uint64_t *ret, struct vps_error *err)
{
    const json_t *v = json_object_get(body, key);

    *ret = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t) json_integer_value(v) > max)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an integer 0..%llu", key,
                             (unsigned long long) max);
    *ret = (uint64_t) json_integer_value(v);
    return 0;
}

static int check_fields(const json_t *body, const char *const *allowed, size_t n,
                        struct vps_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *) body, key, v) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: unknown field", key);
    }
    return 0;
}

int api_vps_start(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    if (check_fields(r->body, NULL, 0, err) < 0 || api_load_vps(r, &c, err) < 0 ||
        supervisor_start(r->d->sup, c, err) < 0)
        return -1;
    return reply_current(r, c, err);
}

/* Shared by stop, kill and restart: asks once, then waits (suspended) for the end. */
static int stop_and_wait(struct request *r, bool kill, bool then_start, struct vps_error *err)
{
    static const char *const fields[] = {"timeout_ms"};
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    uint64_t timeout_ms;
    enum vps_run_state st;

    if (check_fields(r->body, fields, kill ? 0 : 1, err) < 0 ||
        get_u64(r->body, "timeout_ms", 3600 * 1000, SUPERVISOR_STOP_TIMEOUT_MS, &timeout_ms,
                err) < 0 ||
        api_load_vps(r, &c, err) < 0)
        return -1;
    st = supervisor_state(r->d->sup, c->name);
    if (!r->resumed) {
        if (st == VPS_RUN_STOPPED && !then_start)
            return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", c->name);
        if (st != VPS_RUN_STOPPED && supervisor_stop(r->d->sup, c->name, timeout_ms, kill, err) < 0)
            return -1;
        /* The supervisor kills whatever is left when the timeout is up; the answer waits a
         * little longer than that for the kill to take effect. */
        r->deadline_ms = loop_now_ms() + timeout_ms + 10000;
        st = supervisor_state(r->d->sup, c->name);
    }
    if (st != VPS_RUN_STOPPED) {
        if (loop_now_ms() >= r->deadline_ms)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "vps '%s' did not stop", c->name);
        request_suspend(r, r->deadline_ms);
        return 0;
    }
    if (then_start && supervisor_start(r->d->sup, c, err) < 0)
        return -1;
    return reply_current(r, c, err);
}

int api_vps_stop(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, false, false, err);
}

int api_vps_kill(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, true, false, err);
}

int api_vps_restart(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, false, true, err);
}

int api_vps_stats(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    json_t *stats;

    if (api_load_vps(r, &c, err) < 0 || supervisor_stats(r->d->sup, c->name, &stats, err) < 0)
        return -1;
    return reply_json(r, 200, stats);
}
/* ---- exec with captured output (the API's form; vpsctl streams instead) ---- */

struct exec_in {
    struct vps_strv command;
    uint32_t uid, gid;
    struct vps_strv env;
    char *cwd;
    char *input; /* "stdin" */
    uint64_t timeout_ms;
};

static int check_abs(const char *s, const char *path, struct vps_error *err)
{
    if (s[0] != '/')
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an absolute path", path);
    return 0;
}

static const struct vps_json_field exec_fields[] = {
    {.name = "command", .kind = VPS_JSON_STRV, .offset = offsetof(struct exec_in, command),
     .required = true, .min = 1, .max = 1024, .str_max = 65536},
    {.name = "uid", .kind = VPS_JSON_UINT32, .offset = offsetof(struct exec_in, uid),
     .max = 65535},
    {.name = "gid", .kind = VPS_JSON_UINT32, .offset = offsetof(struct exec_in, gid),
     .max = 65535},
    {.name = "env", .kind = VPS_JSON_STRV, .offset = offsetof(struct exec_in, env), .max = 1024,
     .str_max = 65536},
    {.name = "cwd", .kind = VPS_JSON_STRING, .offset = offsetof(struct exec_in, cwd), .min = 1,
     .max = 4096, .check = check_abs},
    {.name = "stdin", .kind = VPS_JSON_STRING, .offset = offsetof(struct exec_in, input),
     .max = EXEC_STDIN_MAX},
    {.name = "timeout_ms", .kind = VPS_JSON_UINT64, .offset = offsetof(struct exec_in, timeout_ms),
     .min = 1, .max = 3600 * 1000},
};

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
    json_t *res = json_pack("{s:o, s:o, s:b, s:b, s:b}", "stdout", output_json(&j->out[0]),
                            "stderr", output_json(&j->out[1]), "stdout_truncated",
                            j->out[0].truncated, "stderr_truncated", j->out[1].truncated,
                            "timed_out", j->timed_out);

    if (res && j->si.si_code == CLD_EXITED)
        (void) json_object_set_new(res, "exit_code", json_integer(j->si.si_status));
    else if (res)
        (void) json_object_set_new(res, "signal", json_integer(j->si.si_status));
    return reply_json(r, 200, res);
}

static int arm(struct exec_job *j, struct vpsd *d, uint64_t ms, struct vps_error *err)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t) (ms / 1000),
                                          .tv_nsec = (long) (ms % 1000) * 1000000}};

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
        .uid = in->uid, .gid = in->gid, .argv = (const char *const *) in->command.v,
        .envp = in->env.n ? (const char *const *) in->env.v : NULL, .cwd = in->cwd,
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
        if (loop_watch(r->d->loop, j->out[i].fd, EPOLLIN, on_output, &j->out[i],
                       &j->out[i].watch, err) < 0)
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

int api_vps_exec(struct request *r, struct vps_error *err)
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
    ret = vps_json_parse_fields(r->body, exec_fields, ELEMENTSOF(exec_fields), &in, "", err);
    if (ret == 0 && !(j = calloc(1, sizeof *j)))
        ret = vps_error_errno(err, ENOMEM, "exec");
    if (ret == 0) {
        *j = (struct exec_job){.r = r, .pidfd = -1, .timer_fd = -1,
                               .out = {{.fd = -1}, {.fd = -1}}};
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
