/* Cloning processes into a VPS: namespace creation, the init's start sequence and exec into
 * a running VPS. The mount tree is mount.c's; capabilities caps.c's; seccomp seccomp.c's. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "syscalls.h"
#include "vps/caps.h"
#include "vps/mount.h"
#include "vps/seccomp.h"
#include "vps/spawn.h"

#define CHILD_TIMEOUT_MS 30000
#define AWAIT_SLICE_MS   5 /* how often a child that has not started yet is looked at */
#define DEFAULT_PATH     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static _Noreturn void child_fail(int sync, struct vps_error *err)
{
    (void) send(sync, err, sizeof *err, MSG_NOSIGNAL);
    _exit(127);
}

static void kill_and_reap(int pidfd)
{
    (void) pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    (void) waitid(P_PIDFD, (id_t) pidfd, &(siginfo_t){0}, WEXITED);
}

/* Waits for the child's verdict: EOF (exec happened, the CLOEXEC pair closed) or an error.
 * Once a child has joined a VPS's user namespace, that VPS's root may signal it: a SIGSTOP
 * there would hold the caller (vpsd's one loop) until the timeout. So the wait goes in
 * short slices, and a child found stopped is killed at once: the spawn fails, nobody
 * waits. */
static int await_child(int pidfd, int sync, struct vps_error *err)
{
    struct pollfd p = {.fd = sync, .events = POLLIN};
    struct vps_error child = {0};
    ssize_t n;
    int waited = 0, r;

    while ((r = poll(&p, 1, AWAIT_SLICE_MS)) == 0 || (r < 0 && errno == EINTR)) {
        siginfo_t si = {0};
        if (waitid(P_PIDFD, (id_t) pidfd, &si, WSTOPPED | WNOHANG) == 0 && si.si_pid != 0)
            return vps_error_set(err, VPS_ERR_CONFLICT,
                                 "the new process was stopped (signal %d) before it started",
                                 si.si_status);
        if ((waited += AWAIT_SLICE_MS) >= CHILD_TIMEOUT_MS)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "the new process did not start within %d ms",
                                 CHILD_TIMEOUT_MS);
    }
    n = recv(sync, &child, sizeof child, 0);
    if (n == 0)
        return 0;
    if (n != (ssize_t) sizeof child)
        return vps_error_set(err, VPS_ERR_SYSTEM, "the new process died before exec");
    child.msg[sizeof child.msg - 1] = '\0';
    *err = child;
    return -1;
}

/* clone3 with a pidfd; returns 0 in the child, the pid in the parent. */
static pid_t clone_with(uint64_t flags, int cgroup_fd, int *ret_pidfd, struct vps_error *err)
{
    struct clone_args a = {
        .flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
        .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
        .exit_signal = SIGCHLD,
        .cgroup = (uint64_t) (cgroup_fd >= 0 ? cgroup_fd : 0),
    };
    long pid = vps_sys_clone3(&a, sizeof a);

    if (pid < 0)
        return vps_error_errno(err, errno, "clone3");
    return (pid_t) pid;
}

/* Parent side after clone: place in the cgroup, let the child go, wait for exec. */
static int release_child(pid_t pid, int pidfd, int sync, vps_spawn_attach_fn attach, void *userdata,
                         struct vps_error *err)
{
    if ((attach && attach(pid, userdata, err) < 0) ||
        (send(sync, "g", 1, MSG_NOSIGNAL) != 1 && vps_error_errno(err, errno, "release child")) ||
        await_child(pidfd, sync, err) < 0) {
        kill_and_reap(pidfd);
        return -1;
    }
    return 0;
}

/* The parent's half after clone_with(): on success the caller owns *ret_pidfd; on failure
 * the child is gone. sv[1] is the child's end. */
static int finish_spawn(pid_t pid, int pidfd, int sv[2], vps_spawn_attach_fn attach, void *userdata,
                        pid_t *ret_pid, int *ret_pidfd, struct vps_error *err)
{
    int r;

    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    r = release_child(pid, pidfd, sv[0], attach, userdata, err);
    close(sv[0]);
    if (r < 0) {
        close(pidfd);
        return -1;
    }
    *ret_pid = pid;
    *ret_pidfd = pidfd;
    return 0;
}

static int wait_go(int sync, struct vps_error *err)
{
    char c;
    if (recv(sync, &c, 1, 0) != 1)
        return vps_error_set(err, VPS_ERR_SYSTEM, "parent went away");
    return 0;
}

/* ---- namespaces ---- */

int vps_ns_create(const struct vps_idmap *m, int *ret_userns_fd, int *ret_netns_fd,
                  struct vps_error *err)
{
    int sv[2], pidfd = -1;
    cleanup_close int sync = -1, user = -1, net = -1;
    char path[64];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    pid = clone_with(CLONE_NEWUSER, -1, &pidfd, err);
    if (pid == 0) {
        struct vps_error e = {0};
        close(sv[0]);
        /* The creator of a user namespace has every capability in it: enough to make the
         * network namespace it will own. */
        if (unshare(CLONE_NEWNET) < 0)
            vps_error_errno(&e, errno, "unshare network namespace");
        if (e.code)
            child_fail(sv[1], &e);
        (void) send(sv[1], "r", 1, MSG_NOSIGNAL);
        (void) wait_go(sv[1], &e); /* until the parent has the namespaces open */
        _exit(0);
    }
    close(sv[1]);
    sync = sv[0];
    if (pid < 0)
        return -1;
    char c;
    struct pollfd p = {.fd = sync, .events = POLLIN};
    if (poll(&p, 1, CHILD_TIMEOUT_MS) != 1 || recv(sync, &c, 1, 0) != 1) {
        vps_error_set(err, VPS_ERR_SYSTEM, "namespace helper failed");
        goto fail;
    }
    if (vps_idmap_write(pid, m, err) < 0)
        goto fail;
    (void) snprintf(path, sizeof path, "/proc/%d/ns/user", (int) pid);
    user = open(path, O_RDONLY | O_CLOEXEC);
    (void) snprintf(path, sizeof path, "/proc/%d/ns/net", (int) pid);
    net = open(path, O_RDONLY | O_CLOEXEC);
    if (user < 0 || net < 0) {
        vps_error_errno(err, errno, "open namespaces of %d", (int) pid);
        goto fail;
    }
    (void) send(sync, "g", 1, MSG_NOSIGNAL);
    (void) waitid(P_PIDFD, (id_t) pidfd, &(siginfo_t){0}, WEXITED);
    close(pidfd);
    *ret_userns_fd = TAKE_FD(user);
    *ret_netns_fd = TAKE_FD(net);
    return 0;
fail:
    kill_and_reap(pidfd);
    close(pidfd);
    return vps_error_prefix(err, "create namespaces");
}

/* ---- common child steps ---- */

/* A clone inherits vpsd's signal state, and exec keeps both the mask and ignored signals:
 * vpsd blocks SIGTERM/SIGINT/SIGHUP (taken through a signalfd) and ignores SIGPIPE. A VPS's
 * processes must start as on a fresh machine, or they would never see a shutdown's SIGTERM. */
static void reset_signals(void)
{
    sigset_t none;

    for (int sig = 1; sig < _NSIG; sig++)
        (void) signal(sig, SIG_DFL); /* EINVAL for SIGKILL, SIGSTOP and unused numbers */
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Becomes uid/gid inside the user namespace just joined. Until then the process runs with
 * the host's ids, which the namespace does not map. */
static int become(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, struct vps_error *err)
{
    if (setresgid(gid, gid, gid) < 0 || setgroups(n_groups, groups) < 0)
        return vps_error_errno(err, errno, "set gid %u", (unsigned) gid);
    if (setresuid(uid, uid, uid) < 0)
        return vps_error_errno(err, errno, "set uid %u", (unsigned) uid);
    return 0;
}

/* Privileges, in the order STYLE.md gives: the bounding set first (callers do it before
 * become(): a non-root uid has lost CAP_SETPCAP), then ids, then here the remaining
 * capabilities, no_new_privs for non-root, seccomp last. */
static int drop_privileges(bool root, struct vps_error *err)
{
    if (vps_caps_set_for(root, err) < 0)
        return -1;
    /* A VPS's root keeps setuid programs working (su, sudo); services running as another
     * user are denied gaining privileges through them. */
    if (!root && vps_caps_no_new_privs(err) < 0)
        return -1;
    return vps_seccomp_apply(err);
}

/* Moves fds into place: stdio on 0..2, keep (if >= 0) on 3, sync on 4; closes every other
 * fd, so nothing of vpsd's reaches the VPS. 3 and 4 stay close-on-exec. */
static int arrange_fds(const int stdio[3], int keep, int *sync, struct vps_error *err)
{
    int fds[5] = {stdio[0], stdio[1], stdio[2], keep, *sync};

    /* First lift every source above 5 so that no dup2 overwrites a later source. */
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        if (fds[i] >= 0 && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 5)) < 0)
            return vps_error_errno(err, errno, "dup fd");
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0) /* dup2 clears CLOEXEC: stdio is inherited by exec */
            return vps_error_errno(err, errno, "dup2 %d", i);
    if ((fds[3] >= 0 && dup3(fds[3], 3, O_CLOEXEC) < 0) || dup3(fds[4], 4, O_CLOEXEC) < 0)
        return vps_error_errno(err, errno, "dup3");
    if (fds[3] < 0)
        (void) close(3); /* whatever the parent had there, unless it is passed */
    *sync = 4;
    if (close_range(5, ~0U, 0) < 0)
        return vps_error_errno(err, errno, "close_range");
    return 0;
}

/* ---- init ---- */

/* A VPS starts with a machine's usual limits, not vpsd's (whose unit raises NOFILE for
 * thousands of sockets). The hard limit leaves the VPS's root room to raise its services'. */
static int set_rlimits(struct vps_error *err)
{
    struct rlimit nofile;

    if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
        return vps_error_errno(err, errno, "getrlimit");
    nofile.rlim_cur = nofile.rlim_max < 1024 ? nofile.rlim_max : 1024;
    if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
        return vps_error_errno(err, errno, "setrlimit NOFILE");
    return 0;
}

/* Whether the VPS brings an init of its own: an executable /sbin/init on its rootfs. One that
 * resolves into a bind from the host is the host's (a host-usr VPS sees the host's systemd
 * through /sbin -> usr/sbin) and would boot the host's units: vps-init runs instead. Both
 * are looked at as exec would, through symlinks, on the mount each ends on (Linux 5.8). */
static bool has_own_init(void)
{
    struct statx root, init;

    if (access("/sbin/init", X_OK) < 0)
        return false;
    if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &root) < 0 ||
        statx(AT_FDCWD, "/sbin/init", 0, STATX_MNT_ID, &init) < 0 ||
        !(root.stx_mask & init.stx_mask & STATX_MNT_ID))
        return true; /* cannot tell: as before binds existed */
    return root.stx_mnt_id == init.stx_mnt_id;
}

static _Noreturn void init_child(const struct vps_spawn_init *o, int sync)
{
    static const char *const env[] = {("PATH=" DEFAULT_PATH), "container=vps", "HOME=/root",
                                      "TERM=linux", NULL};
    struct vps_error err = {0};
    struct vps_mount_opts mo = {.rootfs_path = o->rootfs_path,
                                .userns_fd = o->userns_fd,
                                .idmapped = o->idmapped,
                                .host_base = o->idmap->host_base,
                                .binds = o->binds,
                                .n_binds = o->n_binds};
    int stdio[3] = {-1, o->console_fd, o->console_fd};

    /* Not dumpable: nothing in the VPS may ptrace or open /proc/<pid>/ of this process while
     * it is still vpsd's image. execve() resets it. */
    (void) prctl(PR_SET_DUMPABLE, 0);
    reset_signals();
    if (wait_go(sync, &err) < 0)
        child_fail(sync, &err);
    if (setns(o->netns_fd, CLONE_NEWNET) < 0) {
        vps_error_errno(&err, errno, "join network namespace");
        child_fail(sync, &err);
    }
    stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (vps_mount_setup_root(&mo, &err) < 0)
        child_fail(sync, &err);
    /* Joining the user namespace only now, and unsharing the mount namespace after it, copies
     * the finished tree into a namespace the VPS's root owns: the kernel locks every mount in
     * it (MNT_LOCKED), so masks and read-only mounts cannot be undone from inside. */
    if (setns(o->userns_fd, CLONE_NEWUSER) < 0) {
        vps_error_errno(&err, errno, "join user namespace");
        child_fail(sync, &err);
    }
    if (vps_caps_drop_bounding(&err) < 0 || become(0, 0, NULL, 0, &err) < 0)
        child_fail(sync, &err);
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) < 0) {
        vps_error_errno(&err, errno, "unshare namespaces");
        child_fail(sync, &err);
    }
    if (vps_mount_setup_inside(&err) < 0)
        child_fail(sync, &err);
    if (sethostname(o->hostname, strlen(o->hostname)) < 0) {
        vps_error_errno(&err, errno, "set hostname '%s'", o->hostname);
        child_fail(sync, &err);
    }
    /* The fds first: lifting them above 5 needs free numbers, which a vpsd holding
     * thousands of sockets has only above the VPS's limit of 1024. */
    if (arrange_fds(stdio, o->init_fd, &sync, &err) < 0 || set_rlimits(&err) < 0 ||
        drop_privileges(true, &err) < 0)
        child_fail(sync, &err);
    if (has_own_init()) {
        execve("/sbin/init", (char *const[]){"/sbin/init", NULL}, (char *const *) env);
        vps_error_errno(&err, errno, "exec /sbin/init");
    } else {
        execveat(3, "", (char *const[]){"vps-init", NULL}, (char *const *) env, AT_EMPTY_PATH);
        vps_error_errno(&err, errno, "exec vps-init");
    }
    child_fail(sync, &err);
}

int vps_spawn_init(const struct vps_spawn_init *o, pid_t *ret_pid, int *ret_pidfd,
                   struct vps_error *err)
{
    int sv[2], pidfd = -1;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    /* The pid and mount namespaces are the host's to begin with: the child, as host root,
     * mounts /proc for the new pid namespace and builds the tree; see init_child(). */
    pid = clone_with(CLONE_NEWPID | CLONE_NEWNS, o->cgroup_fd, &pidfd, err);
    if (pid == 0) {
        close(sv[0]);
        init_child(o, sv[1]);
    }
    return finish_spawn(pid, pidfd, sv, o->attach, o->userdata, ret_pid, ret_pidfd, err);
}

/* ---- exec ---- */

static _Noreturn void exec_child(const struct vps_spawn_exec *o, int sync)
{
    static const char *const default_env[] = {("PATH=" DEFAULT_PATH), "container=vps", "HOME=/root",
                                              "TERM=xterm"};
    struct vps_error err = {0};

    (void) prctl(PR_SET_DUMPABLE, 0);
    reset_signals();
    if (wait_go(sync, &err) < 0)
        child_fail(sync, &err);
    /* Already in the VPS's pid namespace (the parent cloned us into it); the rest at once,
     * through the init's pidfd (Linux 5.8). */
    if (setns(o->init_pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS |
                                 CLONE_NEWIPC | CLONE_NEWCGROUP) < 0) {
        vps_error_errno(&err, errno, "join the namespaces of the vps");
        child_fail(sync, &err);
    }
    if (vps_caps_drop_bounding(&err) < 0 ||
        become(o->uid, o->gid, o->groups, o->n_groups, &err) < 0)
        child_fail(sync, &err);
    /* setns() and the id changes reset "dumpable" to the host's fs.suid_dumpable: while this
     * child still holds vpsd's fds, the VPS's root must not be able to ptrace it. */
    (void) prctl(PR_SET_DUMPABLE, 0);
    if (o->setsid_ctty && (setsid() < 0 || ioctl(o->stdio[0], TIOCSCTTY, 0) < 0)) {
        vps_error_errno(&err, errno, "set controlling terminal");
        child_fail(sync, &err);
    }
    if (chdir(o->cwd ? o->cwd : "/") < 0) {
        vps_error_errno(&err, errno, "chdir '%s'", o->cwd ? o->cwd : "/");
        child_fail(sync, &err);
    }
    if (arrange_fds(o->stdio,
                    !o->pass_socket  ? -1
                    : o->pass_fd > 0 ? o->pass_fd
                                     : o->stdio[0],
                    &sync, &err) < 0 ||
        (o->pass_socket && fcntl(3, F_SETFD, 0) < 0 && vps_error_errno(&err, errno, "pass fd 3")) ||
        set_rlimits(&err) < 0 || drop_privileges(o->uid == 0, &err) < 0)
        child_fail(sync, &err);
    /* The defaults, then the caller's variables over them (a later one wins); execvp looks
     * the command up in that PATH, inside the VPS's root. vpsd's own environment goes. */
    (void) clearenv();
    for (size_t i = 0; i < ELEMENTSOF(default_env); i++)
        (void) putenv((char *) default_env[i]);
    for (const char *const *e = o->envp; e && *e; e++)
        (void) putenv((char *) *e);
    if (o->pass_socket) {
        /* exec keeps the pid, so this process's own pid (in the VPS's pid namespace, where
         * the service will look) is the one sd_listen_fds() expects; set after the caller's
         * variables so that they cannot override it. */
        char pid[16];
        (void) snprintf(pid, sizeof pid, "%d", (int) getpid());
        (void) setenv("LISTEN_FDS", "1", 1);
        (void) setenv("LISTEN_PID", pid, 1);
    }
    execvp(o->argv[0], (char *const *) o->argv);
    vps_error_errno(&err, errno, "exec '%s'", o->argv[0]);
    if (err.errnum == ENOENT)
        err.code = VPS_ERR_NOT_FOUND;
    child_fail(sync, &err);
}

int vps_spawn_exec(const struct vps_spawn_exec *o, pid_t *ret_pid, int *ret_pidfd,
                   struct vps_error *err)
{
    int sv[2], pidfd = -1;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    /* Children of ours are born into the VPS's pid namespace while we point there; we go
     * back at once. */
    if (setns(o->init_pidfd, CLONE_NEWPID) < 0) {
        close(sv[0]), close(sv[1]);
        return vps_error_errno(err, errno, "enter the pid namespace of the vps");
    }
    pid = clone_with(0, o->cgroup_fd, &pidfd, err);
    if (pid == 0) {
        close(sv[0]);
        exec_child(o, sv[1]);
    }
    if (setns(o->own_pidns_fd, CLONE_NEWPID) < 0)
        abort(); /* vpsd would start every later child in this VPS: never go on like that */
    return finish_spawn(pid, pidfd, sv, o->attach, o->userdata, ret_pid, ret_pidfd, err);
}
