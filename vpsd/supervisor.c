/* Running VPSes: start, stop, exit handling, live limits, stats, and re-adoption of VPSes
 * that kept running while vpsd was down. The clone and the VPS's own setup are spawn.c's;
 * cgroups cgroup.c's. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "activator.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "server.h"
#include "supervisor.h"
#include "vps/cgroup.h"
#include "vps/fd.h"
#include "vps/idmap.h"
#include "vps/json.h"
#include "vps/mount.h"
#include "vps/net.h"
#include "vps/ns.h"
#include "vps/seccomp.h"
#include "vps/spawn.h"
#include "vps/storage.h"

#define STATE_FILE "state.json"
/* <run-dir>/<name>/ns/{user,net}: the VPS's namespaces, pinned from its first start to its
 * destroy, so that its network (veth, addresses, filters, and the listening sockets of
 * on-demand services) lives while no process of it runs. */
#define NS_DIR "ns"

struct vps_rt {
    struct supervisor *sup;
    char name[VPS_NAME_MAX + 1];
    pid_t pid;
    int pidfd;
    uint64_t start_ticks;
    char started_at[32];
    uint64_t started_ms;
    struct watch *watch;
    struct vps_cgroup cg;
    bool stopping;
    int timer_fd;
    struct watch *timer_watch;
    struct vps_rt *next;
};

struct supervisor {
    struct vpsd *d;
    struct vps_cgroup_host cgh;
    int init_fd;
    int own_pidns_fd;
    struct vps_rt *list;
    int console_timer_fd; /* armed while a VPS runs: its console.log is kept bounded */
    struct watch *console_watch;
    bool console_armed;
};

/* A VPS's console.log (its init's stdout and stderr) starts over past this size. */
#define CONSOLE_LOG_MAX  (4 * 1024 * 1024)
#define CONSOLE_CHECK_MS 2000

static void cap_console(struct supervisor *s, const char *name)
{
    static const char note[] = "[vpsd: console.log reached its size limit and starts over]\n";
    char path[VPS_NAME_MAX + sizeof "/console.log"];
    cleanup_close int fd = -1;
    struct stat st;

    (void) snprintf(path, sizeof path, "%s/console.log", name);
    fd = openat(s->d->run_fd, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= CONSOLE_LOG_MAX)
        return;
    /* The init writes with O_APPEND: after the truncation its next line lands after this. */
    if (ftruncate(fd, 0) == 0)
        (void) !write(fd, note, sizeof note - 1);
}

static void on_console_timer(struct watch *w, uint32_t events, void *userdata)
{
    struct supervisor *s = userdata;
    uint64_t n;

    (void) w, (void) events;
    (void) !read(s->console_timer_fd, &n, sizeof n);
    for (struct vps_rt *rt = s->list; rt; rt = rt->next)
        cap_console(s, rt->name);
    if (!s->list) { /* nothing runs: nothing to look at until something starts */
        (void) timerfd_settime(s->console_timer_fd, 0, &(struct itimerspec){0}, NULL);
        s->console_armed = false;
    }
}

static void arm_console_check(struct supervisor *s)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = CONSOLE_CHECK_MS / 1000},
        .it_interval = {.tv_sec = CONSOLE_CHECK_MS / 1000},
    };

    if (!s->console_armed && s->console_timer_fd >= 0 &&
        timerfd_settime(s->console_timer_fd, 0, &its, NULL) == 0)
        s->console_armed = true;
}

static struct vps_rt *find(struct supervisor *s, const char *name)
{
    for (struct vps_rt *rt = s->list; rt; rt = rt->next)
        if (strcmp(rt->name, name) == 0)
            return rt;
    return NULL;
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. With the pid it names
 * one process for good, so a pid read back from a file is trusted only if both match. */
static int read_start_ticks(pid_t pid, uint64_t *ret, struct vps_error *err)
{
    char path[64];
    cleanup_free char *buf = NULL;
    cleanup_close int fd = -1;

    (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", path);
    if (vps_read_all(fd, 4096, &buf, NULL, err) < 0)
        return -1;
    /* comm (field 2) may hold spaces and ')': fields after it start at the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long ticks;
    if (!p || sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                     "%*d %*d %*d %llu",
                     &ticks) != 1)
        return vps_error_set(err, VPS_ERR_SYSTEM, "parse '%s'", path);
    *ret = ticks;
    return 0;
}

static void rt_free(struct vps_rt *rt)
{
    watch_remove(rt->watch);
    watch_remove(rt->timer_watch);
    vps_close(rt->timer_fd);
    vps_close(rt->pidfd);
    vps_cgroup_done(&rt->cg);
    free(rt);
}

static void unlink_rt(struct supervisor *s, struct vps_rt *rt)
{
    for (struct vps_rt **p = &s->list; *p; p = &(*p)->next)
        if (*p == rt) {
            *p = rt->next;
            return;
        }
}

static void publish(struct supervisor *s, const char *type, const char *name, const char *text)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    struct vps_error e = {0};

    /* Owners may follow their VPS's events; a VPS destroyed meanwhile has none to tell. */
    (void) vps_store_load(&s->d->store, name, &c, &e);
    events_publish(s->d->events, type, name, NULL, c ? c->owners : NULL, c ? c->n_owners : 0, text);
}

/* A stopped VPS keeps its run dir: console.log tells what its last run printed. Only the
 * record of a running init goes. */
static void remove_state(struct supervisor *s, const char *name)
{
    char path[VPS_NAME_MAX + sizeof "/" STATE_FILE];

    (void) snprintf(path, sizeof path, "%s/" STATE_FILE, name);
    if (unlinkat(s->d->run_fd, path, 0) < 0 && errno != ENOENT)
        log_warning("vps '%s': remove '%s': %s, ignoring", name, path, strerror(errno));
}

/* Unpins both namespaces; net first, as it is the one the user namespace owns. */
static void unpin_all(int ns_dir, const char *name)
{
    static const char *const pins[] = {"net", "user"};

    for (size_t i = 0; i < 2; i++) {
        struct vps_error e = {0};
        if (vps_ns_unpin(ns_dir, pins[i], &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': unpin namespace, ignoring", name);
    }
}

/* The VPS's network goes with its pinned namespaces: at destroy, or when a first start that
 * made them failed. */
static void network_forget(struct supervisor *s, const char *name, int ns_dir)
{
    network_vps_down(s->d, name);
    unpin_all(ns_dir, name);
}

void supervisor_forget(struct supervisor *s, const char *name)
{
    struct vps_error e = {0};
    char path[VPS_NAME_MAX + sizeof "/" NS_DIR];
    cleanup_close int ns_dir = -1;

    (void) snprintf(path, sizeof path, "%s/" NS_DIR, name);
    activator_unbind_vps(s->d->act, name); /* the sockets hold the namespace */
    ns_dir = openat(s->d->run_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ns_dir >= 0)
        network_forget(s, name, ns_dir);
    else if (errno != ENOENT)
        log_warning("vps '%s': open '%s': %s, ignoring", name, path, strerror(errno));
    /* The run dir cannot go while a pin is mounted in it. */
    if (vps_storage_destroy(&s->d->store.storage, s->d->run_fd, name, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': remove run dir, ignoring", name);
}

/* After init is gone: what is left in the cgroup is killed, then the cgroup and the run
 * state are removed. The pinned namespaces and the network in them stay until destroy. */
static void cleanup_after_exit(struct supervisor *s, struct vps_rt *rt)
{
    struct vps_error e = {0};

    if (vps_cgroup_kill_all(&rt->cg, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': kill remaining processes, ignoring", rt->name);
    e = (struct vps_error){0};
    vps_cgroup_done(&rt->cg);
    if (vps_cgroup_remove(&s->cgh, rt->name, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': remove cgroup, ignoring", rt->name);
    remove_state(s, rt->name);
}

static void on_init_exit(struct watch *w, uint32_t events, void *userdata)
{
    struct vps_rt *rt = userdata;
    struct supervisor *s = rt->sup;
    siginfo_t si = {0};
    char text[160];

    (void) w, (void) events;
    /* Our child if this vpsd started it: reap. An adopted init was reparented to the host's
     * init, which reaps it; waitid then fails with ECHILD, which is fine. */
    (void) waitid(P_PIDFD, (id_t) rt->pidfd, &si, WEXITED | WNOHANG);
    if (si.si_pid && si.si_code == CLD_EXITED)
        (void) snprintf(text, sizeof text, "vps '%s': stopped (init exited with status %d)",
                        rt->name, si.si_status);
    else if (si.si_pid)
        (void) snprintf(text, sizeof text, "vps '%s': stopped (init killed by signal %d)", rt->name,
                        si.si_status);
    else
        (void) snprintf(text, sizeof text, "vps '%s': stopped", rt->name);
    unlink_rt(s, rt);
    cleanup_after_exit(s, rt);
    activator_vps_stopped(s->d->act, rt->name);
    publish(s, "vps_stopped", rt->name, text);
    rt_free(rt);
    server_wake_waiters(s->d->server);
}

static int watch_init(struct supervisor *s, struct vps_rt *rt, struct vps_error *err)
{
    return loop_watch(s->d->loop, rt->pidfd, EPOLLIN, on_init_exit, rt, &rt->watch, err);
}

static int write_state(struct supervisor *s, const struct vps_rt *rt, struct vps_error *err)
{
    cleanup_json json_t *j = json_pack("{s:i, s:I, s:s}", "pid", (int) rt->pid, "start_ticks",
                                       (json_int_t) rt->start_ticks, "started_at", rt->started_at);
    cleanup_close int dir = openat(s->d->run_fd, rt->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (!j)
        return vps_error_errno(err, ENOMEM, "state");
    if (dir < 0)
        return vps_error_errno(err, errno, "open run dir");
    return vps_json_save_at(dir, STATE_FILE, j, err);
}

/* ---- start ---- */

struct start_ctx {
    struct supervisor *sup;
    struct vps_rt *rt;
};

static int attach_v1(pid_t pid, void *userdata, struct vps_error *err)
{
    const struct vps_cgroup *cg = userdata;
    return vps_cgroup_attach(cg, pid, err);
}

static int open_run_dir(struct supervisor *s, const char *name, int *ret_console, int *ret_ns_dir,
                        struct vps_error *err)
{
    cleanup_close int dir = -1, console = -1;

    if (mkdirat(s->d->run_fd, name, 0700) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create run dir");
    dir = openat(s->d->run_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return vps_error_errno(err, errno, "open run dir");
    /* What the init and the programs it starts print to their console; each start begins
     * a new log, the previous run's stays readable until then. */
    console = openat(dir, "console.log",
                     O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (console < 0)
        return vps_error_errno(err, errno, "open console.log");
    if (mkdirat(dir, NS_DIR, 0700) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create '%s'", NS_DIR);
    *ret_ns_dir = openat(dir, NS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*ret_ns_dir < 0)
        return vps_error_errno(err, errno, "open '%s'", NS_DIR);
    *ret_console = TAKE_FD(console);
    return 0;
}

/* The namespaces pinned at an earlier start, the network one owned by the user one. */
static int open_pinned(int ns_dir, int *ret_userns, int *ret_netns, struct vps_error *err)
{
    cleanup_close int user = -1, net = -1;

    if (vps_ns_open_pinned(ns_dir, "user", CLONE_NEWUSER, &user, err) < 0 ||
        vps_ns_open_pinned(ns_dir, "net", CLONE_NEWNET, &net, err) < 0)
        return -1;
    /* A netns pinned beside a foreign userns would run the VPS with other ids' powers. */
    if (vps_ns_check_owner(net, user, err) < 0)
        return vps_error_prefix(err, "pinned namespaces");
    *ret_userns = TAKE_FD(user);
    *ret_netns = TAKE_FD(net);
    return 0;
}

/* The VPS's user and network namespaces: the pinned ones, or new ones pinned now
 * (*ret_fresh). A pin half made by an interrupted first start is undone first. */
static int acquire_ns(const struct vps_idmap *m, int ns_dir, const char *name, int *ret_userns,
                      int *ret_netns, bool *ret_fresh, struct vps_error *err)
{
    cleanup_close int user = -1, net = -1;

    if (open_pinned(ns_dir, ret_userns, ret_netns, err) == 0) {
        *ret_fresh = false;
        return 0;
    }
    if (err->code != VPS_ERR_NOT_FOUND)
        return -1;
    *err = (struct vps_error){0};
    unpin_all(ns_dir, name);
    if (vps_ns_create(m, &user, &net, err) < 0)
        return -1;
    if (vps_ns_pin(user, ns_dir, "user", err) < 0 || vps_ns_pin(net, ns_dir, "net", err) < 0) {
        unpin_all(ns_dir, name);
        return vps_error_prefix(err, "pin namespaces");
    }
    *ret_userns = TAKE_FD(user);
    *ret_netns = TAKE_FD(net);
    *ret_fresh = true;
    return 0;
}

static int spawn(struct supervisor *s, const struct vps_config *c, struct vps_rt *rt,
                 int vps_dir_fd, struct vps_error *err)
{
    struct vps_mount_bind binds[VPS_MAX_MOUNTS];
    struct vps_idmap m;
    cleanup_close int userns = -1, netns = -1, console = -1, ns_dir = -1;
    bool v2 = vps_cgroup_clone_fd(&rt->cg) >= 0, fresh = false;
    char rootfs[4096];

    if (snprintf(rootfs, sizeof rootfs, "%s/%s/rootfs", s->d->store.path, c->name) >=
        (int) sizeof rootfs)
        return vps_error_set(err, VPS_ERR_SYSTEM, "rootfs path too long");
    assert(c->n_mounts <= VPS_MAX_MOUNTS); /* the config parser's limit */
    for (size_t i = 0; i < c->n_mounts; i++)
        binds[i] = (struct vps_mount_bind){.source = c->mounts[i].source,
                                           .target = c->mounts[i].target,
                                           .readonly = c->mounts[i].readonly};
    if (vps_idmap_load(vps_dir_fd, &m, err) < 0 ||
        open_run_dir(s, c->name, &console, &ns_dir, err) < 0 ||
        acquire_ns(&m, ns_dir, c->name, &userns, &netns, &fresh, err) < 0)
        return -1;
    /* A machine's loopback is up before anything runs on it. A pinned network is up since
     * the first start; the name files are written at every one. */
    if (vps_net_link_up(netns, "lo", err) < 0)
        goto fail;
    if ((fresh ? network_vps_up : network_vps_resume)(s->d, c, netns, err) < 0)
        goto fail;
    struct vps_spawn_init o = {
        .rootfs_path = rootfs,
        .idmapped = !m.shifted,
        .hostname = c->hostname,
        .idmap = &m,
        .userns_fd = userns,
        .netns_fd = netns,
        .cgroup_fd = vps_cgroup_clone_fd(&rt->cg),
        .attach = v2 ? NULL : attach_v1,
        .userdata = &rt->cg,
        .init_fd = s->init_fd,
        .console_fd = console,
        .binds = binds,
        .n_binds = c->n_mounts,
    };
    if (vps_spawn_init(&o, &rt->pid, &rt->pidfd, err) < 0)
        goto fail;
    return 0;
fail:
    /* A first start leaves nothing; a later one leaves the network as the stop left it. */
    if (fresh)
        network_forget(s, c->name, ns_dir);
    return -1;
}

static int open_vps_dir(struct supervisor *s, const char *name, struct vps_error *err)
{
    int fd = openat(s->d->store.dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "open state of vps '%s'", name);
    return fd;
}

int supervisor_start(struct supervisor *s, const struct vps_config *c, struct vps_error *err)
{
    struct vps_rt *rt;
    cleanup_close int vps_dir = -1;
    const char *skipped = NULL;
    char text[256];

    if (find(s, c->name))
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is already running", c->name);
    if ((vps_dir = open_vps_dir(s, c->name, err)) < 0)
        return -1;
    if (!(rt = calloc(1, sizeof *rt)))
        return vps_error_errno(err, ENOMEM, "start");
    *rt = (struct vps_rt){.sup = s, .pidfd = -1, .timer_fd = -1, .cg.v2_fd = -1};
    (void) snprintf(rt->name, sizeof rt->name, "%s", c->name);
    if (vps_cgroup_create(&s->cgh, c->name, &rt->cg, err) < 0) {
        free(rt);
        return vps_error_prefix(err, "vps '%s': start", c->name);
    }
    if (vps_cgroup_apply_limits(&rt->cg, &c->limits, &skipped, err) < 0 ||
        spawn(s, c, rt, vps_dir, err) < 0 || read_start_ticks(rt->pid, &rt->start_ticks, err) < 0)
        goto fail;
    events_timestamp(rt->started_at, sizeof rt->started_at);
    rt->started_ms = loop_now_ms();
    if (write_state(s, rt, err) < 0 || watch_init(s, rt, err) < 0)
        goto fail;
    rt->next = s->list;
    s->list = rt;
    arm_console_check(s);
    if (skipped && *skipped)
        log_warning("vps '%s': limits this host cannot enforce: %s, ignoring", c->name, skipped);
    (void) snprintf(text, sizeof text, "vps '%s': started (init pid %d)", c->name, (int) rt->pid);
    publish(s, "vps_started", c->name, text);
    activator_bind_vps(s->d->act, c);
    return 0;
fail:
    if (rt->pidfd >= 0) {
        (void) pidfd_send_signal(rt->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) rt->pidfd, &(siginfo_t){0}, WEXITED);
    }
    cleanup_after_exit(s, rt);
    rt_free(rt);
    return vps_error_prefix(err, "vps '%s': start", c->name);
}

/* ---- stop ---- */

static void on_stop_timeout(struct watch *w, uint32_t events, void *userdata)
{
    struct vps_rt *rt = userdata;
    struct vps_error e = {0};

    (void) w, (void) events;
    watch_remove(rt->timer_watch);
    rt->timer_watch = NULL;
    rt->timer_fd = vps_close(rt->timer_fd);
    log_notice("vps '%s': did not stop in time, killing every process", rt->name);
    /* Killing init ends the pid namespace; the cgroup catches anything that escaped it. */
    (void) pidfd_send_signal(rt->pidfd, SIGKILL, NULL, 0);
    if (vps_cgroup_kill_all(&rt->cg, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': kill", rt->name);
}

static int arm_timer(struct supervisor *s, struct vps_rt *rt, uint64_t ms, struct vps_error *err)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000}};

    if (ms == 0)
        its.it_value.tv_nsec = 1; /* zero would disarm */
    rt->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (rt->timer_fd < 0)
        return vps_error_errno(err, errno, "timerfd_create");
    if (timerfd_settime(rt->timer_fd, 0, &its, NULL) < 0)
        return vps_error_errno(err, errno, "timerfd_settime");
    return loop_watch(s->d->loop, rt->timer_fd, EPOLLIN, on_stop_timeout, rt, &rt->timer_watch,
                      err);
}

/* systemd as PID 1 takes SIGTERM as "re-execute" and halts on SIGRTMIN+3; every other init
 * (busybox, sysvinit, vps-init) halts on SIGTERM. */
static int stop_signal(const struct vps_rt *rt)
{
    char path[64], comm[32] = "";
    cleanup_close int fd = -1;

    (void) snprintf(path, sizeof path, "/proc/%d/comm", (int) rt->pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, comm, sizeof comm - 1) > 0 && strncmp(comm, "systemd\n", 8) == 0)
        return SIGRTMIN + 3;
    return SIGTERM;
}

int supervisor_stop(struct supervisor *s, const char *name, uint64_t timeout_ms, bool kill,
                    struct vps_error *err)
{
    struct vps_rt *rt = find(s, name);

    if (!rt)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", name);
    if (rt->stopping && !kill)
        return 0;
    if (rt->timer_watch) { /* a kill overrides a pending graceful stop */
        watch_remove(rt->timer_watch);
        rt->timer_watch = NULL;
        rt->timer_fd = vps_close(rt->timer_fd);
    }
    rt->stopping = true;
    if (!kill && pidfd_send_signal(rt->pidfd, stop_signal(rt), NULL, 0) < 0 && errno != ESRCH)
        return vps_error_errno(err, errno, "vps '%s': signal init", name);
    log_notice("vps '%s': %s", name, kill ? "killing" : "stopping");
    return arm_timer(s, rt, kill ? 0 : timeout_ms, err);
}

enum vps_run_state supervisor_state(struct supervisor *s, const char *name)
{
    struct vps_rt *rt = find(s, name);
    return !rt ? VPS_RUN_STOPPED : rt->stopping ? VPS_RUN_STOPPING : VPS_RUN_RUNNING;
}

json_t *supervisor_status_json(struct supervisor *s, const char *name)
{
    static const char *const names[] = {"stopped", "running", "stopping"};
    struct vps_rt *rt = find(s, name);
    json_t *j = json_pack("{s:s}", "state", names[supervisor_state(s, name)]);

    if (j && rt) {
        (void) json_object_set_new(j, "pid", json_integer(rt->pid));
        (void) json_object_set_new(j, "started_at", json_string(rt->started_at));
    }
    return j;
}

int supervisor_apply_limits(struct supervisor *s, const struct vps_config *c, struct vps_error *err)
{
    struct vps_rt *rt = find(s, c->name);
    const char *skipped = NULL;

    if (!rt)
        return 0;
    if (vps_cgroup_apply_limits(&rt->cg, &c->limits, &skipped, err) < 0)
        return vps_error_prefix(err, "vps '%s': apply limits", c->name);
    return 0;
}

/* From the kernel's start time of the init (boot-time clock ticks), so that it holds for a
 * re-adopted VPS too. */
static uint64_t uptime_ms(const struct vps_rt *rt)
{
    struct timespec now;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t now_ms, start_ms;

    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) < 0)
        return loop_now_ms() - rt->started_ms;
    now_ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
    start_ms = rt->start_ticks * 1000 / (uint64_t) hz;
    return now_ms > start_ms ? now_ms - start_ms : 0;
}

int supervisor_stats(struct supervisor *s, const char *name, json_t **ret, struct vps_error *err)
{
    struct vps_rt *rt = find(s, name);
    struct vps_cgroup_stats st = {0};

    if (!rt)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", name);
    if (vps_cgroup_stats(&rt->cg, &st, err) < 0)
        return vps_error_prefix(err, "vps '%s': stats", name);
    *ret = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "cpu_usage_ns",
                     (json_int_t) st.cpu_usage_ns, "memory_current_bytes",
                     (json_int_t) st.memory_current_bytes, "memory_peak_bytes",
                     (json_int_t) st.memory_peak_bytes, "pids_current",
                     (json_int_t) st.pids_current, "oom_kills", (json_int_t) st.oom_kills,
                     "uptime_ms", (json_int_t) uptime_ms(rt), "started_at", rt->started_at);
    json_t *net = *ret ? network_stats_json(s->d, name) : NULL;
    if (net)
        (void) json_object_set_new(*ret, "network", net);
    return *ret ? 0 : vps_error_errno(err, ENOMEM, "stats");
}

int supervisor_exec(struct supervisor *s, const char *name, struct vps_spawn_exec *o,
                    pid_t *ret_pid, int *ret_pidfd, struct vps_error *err)
{
    struct vps_rt *rt = find(s, name);

    if (!rt || rt->stopping)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", name);
    o->init_pidfd = rt->pidfd;
    o->own_pidns_fd = s->own_pidns_fd;
    o->cgroup_fd = vps_cgroup_clone_fd(&rt->cg);
    o->attach = o->cgroup_fd >= 0 ? NULL : attach_v1;
    o->userdata = &rt->cg;
    if (vps_spawn_exec(o, ret_pid, ret_pidfd, err) < 0)
        return vps_error_prefix(err, "vps '%s': exec", name);
    return 0;
}

/* Opens /proc/<init>/<what> of a running VPS, checked against the init's pidfd after the
 * open: the pid cannot have been reused in between. */
static int open_of_init(struct supervisor *s, const char *name, const char *what, int flags,
                        int *ret_fd, struct vps_error *err)
{
    struct vps_rt *rt = find(s, name);
    char path[64];
    int fd;

    if (!rt || rt->stopping)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", name);
    (void) snprintf(path, sizeof path, "/proc/%d/%s", (int) rt->pid, what);
    fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "vps '%s': open '%s' of its init", name, what);
    if (pidfd_send_signal(rt->pidfd, 0, NULL, 0) < 0) {
        close(fd);
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", name);
    }
    *ret_fd = fd;
    return 0;
}

int supervisor_open_root(struct supervisor *s, const char *name, int *ret_fd, struct vps_error *err)
{
    return open_of_init(s, name, "root", O_PATH | O_DIRECTORY, ret_fd, err);
}

int supervisor_open_netns(struct supervisor *s, const char *name, int *ret_fd,
                          struct vps_error *err)
{
    return open_of_init(s, name, "ns/net", O_RDONLY, ret_fd, err);
}

int supervisor_open_pinned_netns(struct supervisor *s, const char *name, int *ret_fd,
                                 struct vps_error *err)
{
    char path[VPS_NAME_MAX + sizeof "/" NS_DIR];
    cleanup_close int ns_dir = -1;

    (void) snprintf(path, sizeof path, "%s/" NS_DIR, name);
    ns_dir = openat(s->d->run_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ns_dir < 0 && errno == ENOENT)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "vps '%s' has no pinned namespaces", name);
    if (ns_dir < 0)
        return vps_error_errno(err, errno, "vps '%s': open '%s'", name, path);
    if (vps_ns_open_pinned(ns_dir, "net", CLONE_NEWNET, ret_fd, err) < 0)
        return vps_error_prefix(err, "vps '%s'", name);
    return 0;
}

/* ---- adoption ---- */

static int adopt_one(struct supervisor *s, const char *name, struct vps_error *err)
{
    cleanup_close int dir = openat(s->d->run_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_json json_t *j = NULL;
    struct vps_rt *rt;
    json_int_t pid = 0, ticks = 0;
    const char *started = "";
    uint64_t now_ticks;

    if (dir < 0 || vps_json_load_at(dir, STATE_FILE, 4096, &j, err) < 0 ||
        json_unpack(j, "{s:I, s:I, s:s}", "pid", &pid, "start_ticks", &ticks, "started_at",
                    &started) < 0 ||
        pid <= 1)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "no valid state");
    if (!(rt = calloc(1, sizeof *rt)))
        return vps_error_errno(err, ENOMEM, "adopt");
    *rt = (struct vps_rt){.sup = s,
                          .pid = (pid_t) pid,
                          .timer_fd = -1,
                          .cg.v2_fd = -1,
                          .start_ticks = (uint64_t) ticks,
                          .started_ms = loop_now_ms()};
    (void) snprintf(rt->name, sizeof rt->name, "%s", name);
    (void) snprintf(rt->started_at, sizeof rt->started_at, "%s", started);
    rt->pidfd = pidfd_open(rt->pid, 0);
    /* The pid counts only with its start time: it may have been reused since. */
    if (rt->pidfd < 0 || read_start_ticks(rt->pid, &now_ticks, err) < 0 ||
        now_ticks != rt->start_ticks) {
        rt_free(rt);
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "init %d is gone", (int) pid);
    }
    if (vps_cgroup_open(&s->cgh, name, &rt->cg, err) < 0 || watch_init(s, rt, err) < 0) {
        rt_free(rt);
        return -1;
    }
    rt->next = s->list;
    s->list = rt;
    arm_console_check(s);
    log_notice("vps '%s': re-adopted running init (pid %d)", name, (int) pid);
    return 0;
}

/* A run dir whose VPS did not survive: what may be left of it goes, but for its pinned
 * namespaces, which a stopped VPS keeps. */
static void clean_stale(struct supervisor *s, const char *name)
{
    struct vps_cgroup cg = {.v2_fd = -1};
    struct vps_error e = {0};

    if (vps_cgroup_open(&s->cgh, name, &cg, &e) == 0) {
        (void) vps_cgroup_kill_all(&cg, &e);
        vps_cgroup_done(&cg);
        (void) vps_cgroup_remove(&s->cgh, name, &e);
    }
    remove_state(s, name);
}

static void adopt_all(struct supervisor *s)
{
    int fd = fcntl(s->d->run_fd, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        vps_close(fd);
        return;
    }
    while ((de = readdir(d))) {
        struct vps_error e = {0};
        char state[VPS_NAME_MAX + sizeof "/" STATE_FILE];
        if (!vps_name_is_valid(de->d_name) || de->d_type != DT_DIR)
            continue;
        /* A stopped VPS's run dir holds only its console.log. */
        (void) snprintf(state, sizeof state, "%s/" STATE_FILE, de->d_name);
        if (faccessat(s->d->run_fd, state, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (adopt_one(s, de->d_name, &e) < 0) {
            log_info("vps '%s': not running any more (%s), cleaning up", de->d_name, e.msg);
            clean_stale(s, de->d_name);
        }
    }
    closedir(d);
}

static void autostart_one(const char *name, const struct vps_config *c, const struct vps_error *e,
                          void *userdata)
{
    struct supervisor *s = userdata;
    struct vps_error start_err = {0};

    (void) name, (void) e; /* an unreadable config starts nothing; the API reports it */
    if (c && c->autostart && !find(s, c->name) && supervisor_start(s, c, &start_err) < 0)
        log_error(LOG_ERR, &start_err, "autostart");
}

void supervisor_autostart(struct supervisor *s)
{
    struct vps_error e = {0};

    if (vps_store_foreach(&s->d->store, autostart_one, s, &e) < 0)
        log_error(LOG_ERR, &e, "autostart");
}

/* Idmapped mounts where the state dir's filesystem has them; chown at create otherwise.
 * Probed once, with a throwaway user namespace, on the state dir itself. */
static int choose_rootfs_ids(struct supervisor *s, struct vps_error *err)
{
    const char *mode = s->d->opt.rootfs_ids;
    struct vps_idmap probe = {.host_base = VPS_IDMAP_FIRST, .size = VPS_IDMAP_SIZE};
    cleanup_close int user = -1, net = -1;
    bool ok = false;

    if (strcmp(mode, "auto") != 0) {
        s->d->rootfs_shift = strcmp(mode, "chown") == 0;
        return 0;
    }
    if (vps_ns_create(&probe, &user, &net, err) < 0 ||
        vps_mount_idmap_supported(s->d->store.path, user, &ok, err) < 0)
        return vps_error_prefix(err, "probe idmapped mounts");
    s->d->rootfs_shift = !ok;
    log_info("new VPSes get their ids %s", ok ? "through idmapped mounts" : "by chown at create");
    return 0;
}

int supervisor_new(struct vpsd *d, struct supervisor **ret, struct vps_error *err)
{
    struct supervisor *s = calloc(1, sizeof *s);

    if (!s)
        return vps_error_errno(err, ENOMEM, "allocate supervisor");
    s->d = d;
    s->init_fd = s->own_pidns_fd = -1;
    s->console_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->console_timer_fd < 0 || loop_watch(d->loop, s->console_timer_fd, EPOLLIN,
                                              on_console_timer, s, &s->console_watch, err) < 0) {
        if (s->console_timer_fd < 0)
            vps_error_errno(err, errno, "timerfd");
        goto fail;
    }
    if (vps_cgroup_host_init("/sys/fs/cgroup", d->opt.cgroup_prefix, &s->cgh, err) < 0)
        goto fail;
    s->init_fd = open(d->opt.init_path, O_PATH | O_CLOEXEC);
    if (s->init_fd < 0) {
        vps_error_errno(err, errno, "open vps-init '%s'", d->opt.init_path);
        goto fail;
    }
    s->own_pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (s->own_pidns_fd < 0) {
        vps_error_errno(err, errno, "open own pid namespace");
        goto fail;
    }
    if (choose_rootfs_ids(s, err) < 0 || vps_seccomp_prepare(err) < 0)
        goto fail;
    *ret = s;
    adopt_all(s);
    return 0;
fail:
    supervisor_free(s);
    return -1;
}

void supervisor_free(struct supervisor *s)
{
    if (!s)
        return;
    while (s->list) {
        struct vps_rt *rt = s->list;
        s->list = rt->next;
        rt_free(rt);
    }
    watch_remove(s->console_watch);
    vps_close(s->console_timer_fd);
    vps_close(s->init_fd);
    vps_close(s->own_pidns_fd);
    vps_cgroup_host_done(&s->cgh);
    free(s);
}
