/* The processes of the activator's services (activator-internal.h): spawning them inside a
 * running VPS with their user, output and fds, their ends (failures, crashes, back-off,
 * restarts), and the services' logs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator-internal.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"
#include "vps/addr.h"
#include "vps/fd.h"
#include "vps/idmap.h"
#include "vps/json.h"
#include "vps/passwd.h"
#include "vps/path.h"
#include "vps/relay.h"
#include "vps/spawn.h"

/* ---- processes ---- */

bool unit_busy(const struct unit *u)
{
    return u->n_instances > 0 || u->n_pconns > 0 || u->parked;
}

struct instance *main_instance(const struct unit *u)
{
    for (struct instance *i = u->instances; i; i = i->next)
        if (i->main)
            return i;
    return NULL;
}

void instance_free(struct instance *inst)
{
    struct unit *u = inst->u;

    for (struct instance **p = &u->instances; *p; p = &(*p)->next)
        if (*p == inst) {
            *p = inst->next;
            break;
        }
    u->n_instances--;
    watch_remove(inst->watch);
    vps_close(inst->pidfd);
    vps_close(inst->conn);
    free(inst);
}

void signal_all(struct unit *u, int sig)
{
    for (struct instance *i = u->instances; i; i = i->next)
        (void) pidfd_send_signal(i->pidfd, sig, NULL, 0);
}

/* Starts watching the listeners that the service does not hold (again). */
void enter_backoff(struct unit *u)
{
    unsigned extra = u->fails_in_row - FAILS_BEFORE_BACKOFF;
    uint64_t delay = extra >= 6 ? BACKOFF_MAX_MS : (uint64_t) BACKOFF_MIN_MS << extra;
    char text[256];

    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    u->state = UNIT_BACKOFF;
    u->backoff_until_ms = loop_now_ms() + delay;
    u->restart_at_ms = 0;
    (void) snprintf(text, sizeof text,
                    "vps '%s': service '%s' failed %u times in a row, not activated for %llu ms",
                    u->vps, u->name, u->fails_in_row, (unsigned long long) delay);
    publish(u->a, "service_backoff", u->vps, NULL,
            json_pack("{s:s, s:i, s:I}", "service", u->name, "failures", (int) u->fails_in_row,
                      "delay_ms", (json_int_t) delay),
            text);
    arm(u->a);
}

static bool core_signal(siginfo_t si)
{
    if (si.si_code != CLD_KILLED && si.si_code != CLD_DUMPED)
        return false;
    switch (si.si_status) {
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGSYS:
    case SIGXCPU:
    case SIGXFSZ:
        return true;
    default:
        return false;
    }
}

static void on_instance_exit(struct watch *w, uint32_t events, void *userdata)
{
    struct instance *inst = userdata;
    struct unit *u = inst->u;
    siginfo_t si = {0};
    char text[256];
    /* Stopped by vpsd: the unit's stop, or the VPS's stop, whose init takes every process
     * with it. Neither is a failure of the service. */
    bool was_main = inst->main,
         stopping =
             u->state == UNIT_STOPPING || supervisor_state(u->a->d->sup, u->vps) != VPS_RUN_RUNNING;
    bool failed, crashed;
    uint64_t now = loop_now_ms();

    (void) w, (void) events;
    (void) waitid(P_PIDFD, (id_t) inst->pidfd, &si, WEXITED | WNOHANG);
    failed = !stopping && !(si.si_code == CLD_EXITED && si.si_status == 0);
    /* A process per connection ends as its client makes it: an exit status is the client's
     * doing as much as the service's, and three bad requests must not shut the service for
     * everyone. Only a crash counts towards the back-off there. A crash is a signal whose
     * default is a core dump (SIGSEGV, SIGABRT, ...): SIGKILL and SIGTERM come from someone
     * (the VPS's root, the OOM killer, an init powering the VPS off), not from a bug. */
    crashed = failed && ((inst->main && si.si_code == CLD_EXITED) || core_signal(si));
    if (inst->conn >= 0) {
        struct tcp_info ti = {0};
        socklen_t len = sizeof ti;
        if (getsockopt(inst->conn, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
            u->st.bytes_in += ti.tcpi_bytes_received;
            u->st.bytes_out += ti.tcpi_bytes_acked;
        }
    }
    if (!stopping) /* an idle stop is no activity: autostop would wait twice as long */
        u->last_activity_ms = now;
    if (crashed) /* not sshd -i's 255 at the end of a session */
        u->st.failures++;
    if (crashed)
        u->fails_in_row = since(now, inst->started_ms) >= RUN_OK_MS ? 1 : u->fails_in_row + 1;
    else if (si.si_code == CLD_EXITED && si.si_status == 0)
        u->fails_in_row = 0;
    (void) snprintf(text, sizeof text, "vps '%s': service '%s' (pid %d) %s %d", u->vps, u->name,
                    (int) inst->pid,
                    si.si_code == CLD_EXITED ? "exited with status" : "killed by signal",
                    si.si_status);
    publish(u->a, "service_exited", u->vps, NULL,
            json_pack("{s:s, s:i, s:i}", "service", u->name, "pid", (int) inst->pid,
                      si.si_code == CLD_EXITED ? "exit_code" : "signal", si.si_status),
            text);
    instance_free(inst);
    if (was_main) {
        /* The service gave its socket back: the next connection activates it again (one
         * already waiting in the queue at once). */
        for (struct pconn *p = u->pconns; p; p = p->next)
            if (!p->relay)
                set_retry(p, 0); /* those still connecting fail now: see tick */
        if (!stopping && u->mode != VPS_SERVICE_ACCEPT && u->restart != VPS_RESTART_NO &&
            (u->restart == VPS_RESTART_ALWAYS || failed) && !u->gone)
            u->restart_at_ms = now; /* at the next tick, after the back-off check below */
    }
    if (u->n_instances == 0 && (u->state == UNIT_RUNNING || u->state == UNIT_STOPPING))
        u->state = UNIT_IDLE;
    if (crashed && u->fails_in_row >= FAILS_BEFORE_BACKOFF && u->state != UNIT_BACKOFF)
        enter_backoff(u);
    if (u->state != UNIT_BACKOFF && !main_instance(u))
        watch_listeners(u);
    arm(u->a);
    unit_reap(u);
}

/* A process that could not be started, or a long-running one that failed. */
void count_failure(struct unit *u)
{
    u->st.failures++;
    u->fails_in_row++;
    /* Not from STOPPING: that would end the stop, and SIGKILL would never come. */
    if (u->fails_in_row >= FAILS_BEFORE_BACKOFF && u->state != UNIT_BACKOFF &&
        u->state != UNIT_STOPPING)
        enter_backoff(u);
}

/* The service's log: what its processes write to stderr (and, but for accept mode, where
 * stdout is the connection, to stdout), in the VPS's run dir on the host, which the VPS
 * cannot reach; kept after the VPS stops, removed with it at destroy. -1 if it cannot be
 * opened (logged; /dev/null then). */
static int unit_log(struct unit *u)
{
    char path[2 * VPS_NAME_MAX + 32];

    if (u->log_fd >= 0)
        return u->log_fd;
    (void) snprintf(path, sizeof path, "%s/services", u->vps);
    if (mkdirat(u->a->d->run_fd, path, 0700) < 0 && errno != EEXIST) {
        log_warning("vps '%s': create '%s': %s, service output goes nowhere", u->vps, path,
                    strerror(errno));
        return -1;
    }
    (void) snprintf(path, sizeof path, "%s/services/%s.log", u->vps, u->name);
    u->log_fd =
        openat(u->a->d->run_fd, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->log_fd < 0)
        log_warning("vps '%s': open '%s': %s, service output goes nowhere", u->vps, path,
                    strerror(errno));
    return u->log_fd;
}

/* Bounds the log: past SERVICE_LOG_MAX it starts over (the processes share the O_APPEND
 * file, so truncating is the one way that also bounds what they are writing now). */
void cap_log(struct unit *u)
{
    static const char note[] = "[vpsd: log reached its size limit and starts over]\n";
    struct stat st;

    if (u->log_fd < 0 || fstat(u->log_fd, &st) < 0 || st.st_size <= SERVICE_LOG_MAX)
        return;
    if (ftruncate(u->log_fd, 0) == 0)
        (void) !write(u->log_fd, note, sizeof note - 1);
}

/* Runs svc's command in the running VPS. stdio: the three fds; pass: fd 3 (-1: none). */
int spawn(struct unit *u, const struct vps_service *svc, int in_out, int pass, bool main,
          struct instance **ret, struct vps_error *err)
{
    cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), root = -1;
    struct vps_user user;
    struct instance *inst;
    /* The user's HOME, then the service's own variables over it (the config allows 256). */
    char home[sizeof user.home + 8];
    const char *envp[VPS_SERVICE_ENV_MAX + 2] = {home};
    size_t n_env = 1;

    if (devnull < 0)
        return vps_error_errno(err, errno, "open '/dev/null'");
    if (supervisor_open_root(u->a->d->sup, u->vps, &root, err) < 0 ||
        vps_user_lookup(root, svc->user, &user, err) < 0)
        return -1;
    (void) snprintf(home, sizeof home, "HOME=%s", user.home);
    int out = unit_log(u) >= 0 ? u->log_fd : devnull;
    for (size_t i = 0; i < svc->env.n && n_env < ELEMENTSOF(envp) - 1; i++)
        envp[n_env++] = svc->env.v[i];
    struct vps_spawn_exec o = {
        .uid = user.uid,
        .gid = user.gid,
        .groups = user.groups,
        .n_groups = user.n_groups,
        .argv = (const char *const *) svc->command.v,
        .envp = envp,
        .cwd = svc->cwd,
        .stdio = {in_out >= 0 ? in_out : devnull, in_out >= 0 ? in_out : out, out},
        .pass_socket = pass >= 0,
        .pass_fd = pass >= 0 && pass != in_out ? pass : 0,
    };
    if (!(inst = calloc(1, sizeof *inst)))
        return vps_error_errno(err, ENOMEM, "activate");
    *inst = (struct instance){
        .u = u, .pidfd = -1, .conn = -1, .main = main, .started_ms = loop_now_ms()};
    if (supervisor_exec(u->a->d->sup, u->vps, &o, &inst->pid, &inst->pidfd, err) < 0) {
        free(inst);
        return -1;
    }
    if (loop_watch(u->a->d->loop, inst->pidfd, EPOLLIN, on_instance_exit, inst, &inst->watch, err) <
        0) {
        (void) pidfd_send_signal(inst->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) inst->pidfd, &(siginfo_t){0}, WEXITED);
        close(inst->pidfd);
        free(inst);
        return -1;
    }
    inst->next = u->instances;
    u->instances = inst;
    u->n_instances++;
    if (u->state == UNIT_IDLE)
        u->state = UNIT_RUNNING;
    *ret = inst;
    return 0;
}
