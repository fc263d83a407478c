/* Operations: forked workers with progress and a final error sent over a SOCK_SEQPACKET
 * pair, reaped through their pidfd, and the table that /v1/operations reads. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "events.h"
#include "log.h"
#include "loop.h"
#include "operations.h"
#include "server.h"

#define OPS_KEPT_FINISHED 100

enum op_state { OP_RUNNING, OP_SUCCEEDED, OP_FAILED };

enum msg_type { MSG_PROGRESS = 1, MSG_RESULT };

struct op_msg {
    uint32_t type;
    uint32_t percent;
    char what[96];
    struct vps_error err;
};

struct op {
    struct ops *ops;
    char id[33];
    char kind[32];
    char target[64];
    enum op_state state;
    unsigned percent;
    char what[96];
    char created_at[32], finished_at[32];
    struct vps_error err;
    bool have_result;
    pid_t pid;
    int pidfd;
    int sock;
    struct watch *watch;
    op_done_fn done;
    struct op *next;
};

struct ops {
    struct vpsd *d;
    struct op *list; /* newest first */
};

static int worker_sock = -1; /* in the worker only */

int ops_new(struct vpsd *d, struct ops **ret, struct vps_error *err)
{
    struct ops *o = calloc(1, sizeof *o);

    if (!o)
        return vps_error_errno(err, ENOMEM, "allocate operations");
    o->d = d;
    *ret = o;
    return 0;
}

static void op_free(struct op *op)
{
    watch_remove(op->watch);
    vps_close(op->sock);
    if (op->pidfd >= 0) {
        /* Only running workers still have a pidfd: stop and reap them. */
        (void) pidfd_send_signal(op->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) op->pidfd, &(siginfo_t){0}, WEXITED);
        vps_close(op->pidfd);
    }
    free(op);
}

void ops_free(struct ops *o)
{
    if (!o)
        return;
    while (o->list) {
        struct op *op = o->list;
        o->list = op->next;
        op_free(op);
    }
    free(o);
}

void op_progress(unsigned percent, const char *what)
{
    struct op_msg m = {.type = MSG_PROGRESS, .percent = percent > 100 ? 100 : percent};

    if (worker_sock < 0)
        return;
    (void) snprintf(m.what, sizeof m.what, "%s", what ? what : "");
    (void) send(worker_sock, &m, sizeof m, MSG_NOSIGNAL);
}

json_t *op_to_json(const struct op *op)
{
    static const char *const states[] = {"running", "succeeded", "failed"};
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "id", op->id, "kind", op->kind,
                          "target", op->target, "state", states[op->state], "progress_percent",
                          (int) op->percent, "message", op->what, "created_at", op->created_at);
    char msg[1024];

    if (!j)
        return NULL;
    if (op->state != OP_RUNNING)
        (void) json_object_set_new(j, "finished_at", json_string(op->finished_at));
    if (op->state == OP_FAILED)
        (void) json_object_set_new(j, "error",
                                   json_pack("{s:s, s:s}", "code",
                                             vps_error_code_name(op->err.code), "message",
                                             vps_error_format(&op->err, msg, sizeof msg)));
    return j;
}

static void publish(struct op *op)
{
    events_publish(op->ops->d->events, "operation", NULL,
                   json_pack("{s:o}", "operation", op_to_json(op)), NULL, 0, NULL);
}

static void trim_finished(struct ops *o)
{
    size_t finished = 0;

    for (struct op **p = &o->list; *p;) {
        if ((*p)->state != OP_RUNNING && ++finished > OPS_KEPT_FINISHED) {
            struct op *dead = *p;
            *p = dead->next;
            op_free(dead);
            continue;
        }
        p = &(*p)->next;
    }
}

static void finish(struct op *op)
{
    siginfo_t si = {0};

    watch_remove(op->watch);
    op->watch = NULL;
    op->sock = vps_close(op->sock);
    /* The worker closed its end by exiting; it is gone or about to be. */
    if (waitid(P_PIDFD, (id_t) op->pidfd, &si, WEXITED) < 0)
        vps_error_errno(&op->err, errno, "wait for worker %d", (int) op->pid);
    else if (!op->have_result && si.si_code == CLD_EXITED)
        vps_error_set(&op->err, VPS_ERR_SYSTEM, "worker %d exited with status %d and no result",
                      (int) op->pid, si.si_status);
    else if (!op->have_result)
        vps_error_set(&op->err, VPS_ERR_SYSTEM, "worker %d was killed by signal %d", (int) op->pid,
                      si.si_status);
    op->pidfd = vps_close(op->pidfd);
    op->state = op->err.code ? OP_FAILED : OP_SUCCEEDED;
    if (op->state == OP_SUCCEEDED)
        op->percent = 100;
    events_timestamp(op->finished_at, sizeof op->finished_at);
    if (op->state == OP_FAILED)
        log_error(LOG_ERR, &op->err, "operation %s (%s '%s') failed", op->id, op->kind, op->target);
    else
        log_notice("operation %s (%s '%s') succeeded", op->id, op->kind, op->target);
    if (op->done)
        op->done(op->ops->d, op->target, &op->err);
    publish(op);
    server_wake_waiters(op->ops->d->server);
    trim_finished(op->ops);
}

static void on_worker(struct watch *w, uint32_t events, void *userdata)
{
    struct op *op = userdata;
    struct op_msg m;
    ssize_t n;

    (void) w, (void) events;
    while ((n = recv(op->sock, &m, sizeof m, MSG_DONTWAIT)) == (ssize_t) sizeof m) {
        if (m.type == MSG_RESULT) {
            op->err = m.err;
            op->err.msg[sizeof op->err.msg - 1] = '\0';
            op->have_result = true;
        } else if (m.type == MSG_PROGRESS &&
                   (m.percent != op->percent || strncmp(m.what, op->what, sizeof m.what) != 0)) {
            op->percent = m.percent;
            memcpy(op->what, m.what, sizeof op->what);
            op->what[sizeof op->what - 1] = '\0';
            publish(op);
        }
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0)
        finish(op);
}

static _Noreturn void run_worker(struct vpsd *d, int sock, op_work_fn work, void *arg)
{
    struct vps_error err = {0};
    struct op_msg m = {.type = MSG_RESULT};
    sigset_t none;

    /* vpsd blocks its signals for the signalfd; a worker takes them normally, and dies
     * with vpsd rather than finishing work nobody will record. */
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
    worker_sock = sock;
    if (work(d, arg, &err) < 0 && !err.code)
        err.code = VPS_ERR_SYSTEM;
    m.err = err;
    (void) send(sock, &m, sizeof m, MSG_NOSIGNAL);
    _exit(err.code ? 1 : 0);
}

static void new_id(char *buf)
{
    unsigned char raw[16];

    if (getrandom(raw, sizeof raw, 0) != (ssize_t) sizeof raw)
        for (size_t i = 0; i < sizeof raw; i++) /* never in practice; ids need only be unique */
            raw[i] = (unsigned char) (loop_now_ms() >> (i % 8)) ^ (unsigned char) i;
    for (size_t i = 0; i < sizeof raw; i++)
        (void) sprintf(buf + 2 * i, "%02x", raw[i]);
}

int ops_start(struct ops *o, const char *kind, const char *target, op_work_fn work, void *arg,
              op_done_fn done, struct op **ret, struct vps_error *err)
{
    int sv[2];
    struct op *op = calloc(1, sizeof *op);

    if (!op)
        return vps_error_errno(err, ENOMEM, "allocate operation");
    *op = (struct op){.ops = o, .pidfd = -1, .sock = -1, .done = done};
    new_id(op->id);
    (void) snprintf(op->kind, sizeof op->kind, "%s", kind);
    (void) snprintf(op->target, sizeof op->target, "%s", target);
    events_timestamp(op->created_at, sizeof op->created_at);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        free(op);
        return vps_error_errno(err, errno, "socketpair");
    }
    op->pid = fork();
    if (op->pid == 0) {
        close(sv[0]);
        run_worker(o->d, sv[1], work, arg);
    }
    close(sv[1]);
    op->sock = sv[0];
    if (op->pid < 0 || (op->pidfd = pidfd_open(op->pid, 0)) < 0 ||
        loop_watch(o->d->loop, op->sock, EPOLLIN, on_worker, op, &op->watch, err) < 0) {
        if (!err->code)
            vps_error_errno(err, errno, op->pid < 0 ? "fork" : "pidfd_open");
        if (op->pid > 0 && op->pidfd < 0) {
            (void) kill(op->pid, SIGKILL);
            (void) waitpid(op->pid, NULL, 0);
        }
        op_free(op);
        return -1;
    }
    op->next = o->list;
    o->list = op;
    log_info("operation %s (%s '%s') started, worker pid %d", op->id, kind, target, (int) op->pid);
    publish(op);
    if (ret)
        *ret = op;
    return 0;
}

struct op *ops_find(struct ops *o, const char *id)
{
    for (struct op *op = o->list; op; op = op->next)
        if (strcmp(op->id, id) == 0)
            return op;
    return NULL;
}

bool ops_busy(struct ops *o, const char *kind, const char *target)
{
    for (struct op *op = o->list; op; op = op->next)
        if (op->state == OP_RUNNING && strcmp(op->kind, kind) == 0 &&
            strcmp(op->target, target) == 0)
            return true;
    return false;
}

size_t ops_running(struct ops *o)
{
    size_t n = 0;
    for (struct op *op = o->list; op; op = op->next)
        n += op->state == OP_RUNNING;
    return n;
}

bool op_is_running(const struct op *op)
{
    return op->state == OP_RUNNING;
}

const char *op_id(const struct op *op)
{
    return op->id;
}

json_t *ops_to_json(struct ops *o)
{
    json_t *a = json_array();

    for (struct op *op = o->list; a && op; op = op->next)
        (void) json_array_append_new(a, op_to_json(op));
    return json_pack("{s:o}", "operations", a);
}
