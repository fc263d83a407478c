/* /v1/templates: list, show, import (upload + operation), build with debootstrap (an
 * operation), export (a streamed tarball made by a forked writer) and remove. The template
 * store itself is libvps's template.c, the debootstrap run template-debootstrap.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "api.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "operations.h"
#include "vps/template.h"

#define OP_IMPORT "template_import"
#define OP_BUILD  "template_build"

int api_template_list(struct request *r, struct vps_error *err)
{
    json_t *list;

    if (vps_template_list(r->d->templates_fd, &list, err) < 0)
        return -1;
    return reply_json(r, 200, json_pack("{s:o}", "templates", list));
}

static int check_name(const char *name, struct vps_error *err)
{
    return vps_name_validate(name, "template", err);
}

int api_template_get(struct request *r, struct vps_error *err)
{
    json_t *t;

    if (check_name(r->args[0], err) < 0 ||
        vps_template_get(r->d->templates_fd, r->args[0], &t, err) < 0)
        return -1;
    return reply_json(r, 200, t);
}

/* VPS_ERR_CONFLICT while an import or a build of name runs. */
static int check_idle(struct request *r, const char *name, struct vps_error *err)
{
    if (ops_busy(r->d->ops, OP_IMPORT, name))
        return vps_error_set(err, VPS_ERR_CONFLICT, "template '%s' is being imported", name);
    if (ops_busy(r->d->ops, OP_BUILD, name))
        return vps_error_set(err, VPS_ERR_CONFLICT, "template '%s' is being built", name);
    return 0;
}

/* For a new template: the name is free and nothing is making it. */
static int check_new(struct request *r, const char *name, struct vps_error *err)
{
    if (vps_template_exists(r->d->templates_fd, name))
        return vps_error_set(err, VPS_ERR_EXISTS, "template '%s' already exists", name);
    return check_idle(r, name, err);
}

int api_template_precheck(struct request *r, struct vps_error *err)
{
    const char *name = request_query(r, "name");

    if (!name)
        return vps_error_set(err, VPS_ERR_INVALID, "name: the query argument is required");
    if (check_name(name, err) < 0)
        return -1;
    return check_new(r, name, err);
}

struct import_arg {
    const char *name;
    int fd;
};

static void report_progress(unsigned percent, const char *what, void *userdata)
{
    (void) userdata;
    op_progress(percent, what);
}

static int import_work(struct vpsd *d, void *arg, struct vps_error *err)
{
    const struct import_arg *a = arg;

    if (lseek(a->fd, 0, SEEK_SET) < 0)
        return vps_error_errno(err, errno, "rewind upload");
    /* template.c's messages already name the template. */
    return vps_template_import(d->templates_fd, a->name, a->fd, report_progress, NULL, err);
}

static void import_done(struct vpsd *d, const char *target, const struct vps_error *err)
{
    char line[128];

    if (err->code)
        return;
    (void) snprintf(line, sizeof line, "template '%s': imported", target);
    events_publish(d->events, "template_created", NULL, json_pack("{s:s}", "template", target),
                   NULL, 0, line);
}

int api_template_import(struct request *r, struct vps_error *err)
{
    struct import_arg a = {.name = request_query(r, "name"), .fd = r->upload_fd};
    struct op *op;
    char loc[64];

    /* Checked again: another import may have been accepted while this body was arriving. */
    if (api_template_precheck(r, err) < 0)
        return -1;
    if (r->upload_bytes == 0)
        return vps_error_set(err, VPS_ERR_INVALID, "body: empty, expected a tar archive");
    if (ops_start(r->d->ops, OP_IMPORT, a.name, import_work, &a, import_done, &op, err) < 0)
        return -1;
    (void) snprintf(loc, sizeof loc, "/v1/operations/%s", op_id(op));
    reply_header(r, "Location", loc);
    return reply_json(r, 202, op_to_json(op));
}

/* ---- build with debootstrap ---- */

struct build_arg {
    const char *name;
    const struct vps_debootstrap *o;
};

static int build_work(struct vpsd *d, void *arg, struct vps_error *err)
{
    const struct build_arg *a = arg;

    /* template-debootstrap.c's messages already name the template. */
    return vps_template_debootstrap(d->templates_fd, a->name, a->o, VPS_DEBOOTSTRAP_PATH,
                                    report_progress, NULL, err);
}

static void build_done(struct vpsd *d, const char *target, const struct vps_error *err)
{
    char line[128];

    if (err->code)
        return;
    (void) snprintf(line, sizeof line, "template '%s': built with debootstrap", target);
    events_publish(d->events, "template_created", NULL, json_pack("{s:s}", "template", target),
                   NULL, 0, line);
}

int api_template_build(struct request *r, struct vps_error *err)
{
    cleanup_(vps_debootstrap_done) struct vps_debootstrap o = {0};
    const char *name = r->args[0];
    struct build_arg a = {.name = name, .o = &o};
    struct op *op;
    char loc[64];

    if (check_name(name, err) < 0 || vps_debootstrap_from_json(name, r->body, &o, err) < 0 ||
        check_new(r, name, err) < 0 || vps_debootstrap_available(VPS_DEBOOTSTRAP_PATH, err) < 0)
        return -1;
    /* The worker gets its own copy of o with the fork; ours goes when this returns. */
    if (ops_start(r->d->ops, OP_BUILD, name, build_work, &a, build_done, &op, err) < 0)
        return -1;
    (void) snprintf(loc, sizeof loc, "/v1/operations/%s", op_id(op));
    reply_header(r, "Location", loc);
    return reply_json(r, 202, op_to_json(op));
}

int api_template_delete(struct request *r, struct vps_error *err)
{
    const char *name = r->args[0];
    char line[128];

    if (check_name(name, err) < 0 || check_idle(r, name, err) < 0)
        return -1;
    if (vps_template_remove(r->d->templates_fd, name, err) < 0)
        return -1;
    (void) snprintf(line, sizeof line, "template '%s': removed by uid %u", name,
                    (unsigned) r->caller.uid);
    events_publish(r->d->events, "template_deleted", NULL, json_pack("{s:s}", "template", name),
                   NULL, 0, line);
    return reply_json(r, 200, json_pack("{s:s}", "deleted", name));
}

/* ---- export: a forked writer into a pipe, read without blocking the loop ---- */

struct export
{
    struct vpsd *d;
    struct MHD_Connection *conn;
    int pipe_fd;
    int pidfd;
    struct watch *watch;
};

static bool reap(struct export *x)
{
    siginfo_t si = {0};
    bool ok;

    if (x->pidfd < 0)
        return false;
    ok = waitid(P_PIDFD, (id_t) x->pidfd, &si, WEXITED) == 0 && si.si_code == CLD_EXITED &&
         si.si_status == 0;
    x->pidfd = vps_close(x->pidfd);
    return ok;
}

static void on_export_readable(struct watch *w, uint32_t events, void *userdata)
{
    struct export *x = userdata;

    (void) events;
    watch_remove(w);
    x->watch = NULL;
    MHD_resume_connection(x->conn);
}

static ssize_t read_export(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct export *x = cls;
    struct vps_error err = {0};
    ssize_t n;

    (void) pos;
    n = read(x->pipe_fd, buf, max);
    if (n > 0)
        return n;
    if (n == 0) /* a writer that failed truncates the stream: the client sees it incomplete */
        return reap(x) ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    if (errno != EAGAIN && errno != EINTR)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (x->d->stopping ||
        loop_watch(x->d->loop, x->pipe_fd, EPOLLIN, on_export_readable, x, &x->watch, &err) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    MHD_suspend_connection(x->conn);
    return 0;
}

static void free_export(void *cls)
{
    struct export *x = cls;

    watch_remove(x->watch);
    vps_close(x->pipe_fd);
    if (x->pidfd >= 0) { /* the client left early: stop the writer */
        (void) pidfd_send_signal(x->pidfd, SIGKILL, NULL, 0);
        (void) reap(x);
    }
    free(x);
}

static _Noreturn void export_writer(struct vpsd *d, const char *name, int fd)
{
    struct vps_error err = {0};
    sigset_t none;

    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (vps_template_export(d->templates_fd, name, fd, &err) < 0) {
        char msg[1024];
        log_err("template '%s': export: %s", name, vps_error_format(&err, msg, sizeof msg));
        _exit(1);
    }
    _exit(0);
}

int api_template_export(struct request *r, struct vps_error *err)
{
    const char *name = r->args[0];
    struct MHD_Response *resp;
    struct export *x;
    int p[2];
    pid_t pid;

    if (check_name(name, err) < 0)
        return -1;
    if (!vps_template_exists(r->d->templates_fd, name))
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "template '%s' does not exist", name);
    if (!(x = calloc(1, sizeof *x)))
        return vps_error_errno(err, ENOMEM, "export");
    *x = (struct export){.d = r->d, .conn = r->conn, .pipe_fd = -1, .pidfd = -1};
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(x);
        return vps_error_errno(err, errno, "pipe");
    }
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        export_writer(r->d, name, p[1]);
    }
    close(p[1]);
    x->pipe_fd = p[0];
    if (pid < 0 || (x->pidfd = pidfd_open(pid, 0)) < 0 ||
        fcntl(x->pipe_fd, F_SETFL, O_NONBLOCK) < 0) {
        vps_error_errno(err, errno, pid < 0 ? "fork" : "export");
        if (pid > 0 && x->pidfd < 0) {
            (void) kill(pid, SIGKILL);
            (void) waitpid(pid, NULL, 0);
        }
        free_export(x);
        return -1;
    }
    resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read_export, x, free_export);
    if (!resp) {
        free_export(x);
        return vps_error_set(err, VPS_ERR_SYSTEM, "create export stream");
    }
    (void) MHD_add_response_header(resp, "Content-Type", "application/gzip");
    return reply_response(r, 200, resp);
}
