/* Processes inside a VPS: the namespaces a VPS is made of, its init (cloned with new
 * namespaces, its mount tree built, privileges dropped, then exec), and commands executed in
 * a running VPS (joining its namespaces). The child reports a failure as a whole struct
 * vps_error over a SOCK_SEQPACKET pair; success is the pair closing at exec. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "idmap.h"
#include "mount.h"

/* Creates the VPS's user namespace (ids mapped as m says) and a network namespace owned by
 * it; returns fds that pin both. */
int vps_ns_create(const struct vps_idmap *m, int *ret_userns_fd, int *ret_netns_fd,
                  struct vps_error *err);

/* Called in the parent after the clone and before the child goes on: places the child in
 * the VPS's cgroup on hosts without CLONE_INTO_CGROUP (cgroup v1). */
typedef int (*vps_spawn_attach_fn)(pid_t pid, void *userdata, struct vps_error *err);

struct vps_spawn_init {
    const char *rootfs_path; /* absolute, in vpsd's state dir (see struct vps_mount_opts) */
    bool idmapped;           /* see struct vps_mount_opts */
    const char *hostname;
    const struct vps_idmap *idmap;
    int userns_fd;
    int netns_fd;
    int cgroup_fd;              /* v2: for CLONE_INTO_CGROUP; -1 otherwise */
    vps_spawn_attach_fn attach; /* may be NULL */
    void *userdata;
    int init_fd;    /* the project's vps-init (O_PATH), used when the rootfs has no /sbin/init */
    int console_fd; /* stdout and stderr of init */
    const struct vps_mount_bind *binds; /* from the host, see vps_mount_setup_root() */
    size_t n_binds;
};

/* Starts a VPS's init. On success *ret_pidfd owns the new process; on failure nothing of it
 * is left running. */
int vps_spawn_init(const struct vps_spawn_init *o, pid_t *ret_pid, int *ret_pidfd,
                   struct vps_error *err);

struct vps_spawn_exec {
    int init_pidfd;   /* the running VPS's init: its namespaces are joined */
    int own_pidns_fd; /* the caller's pid namespace (/proc/self/ns/pid), to return to */
    int cgroup_fd;    /* v2: CLONE_INTO_CGROUP; -1 otherwise */
    vps_spawn_attach_fn attach;
    void *userdata;
    uid_t uid; /* inside the VPS */
    gid_t gid;
    const gid_t *groups; /* supplementary groups; none when n_groups is 0 */
    size_t n_groups;
    const char *const *argv; /* argv[0] is looked up in PATH inside the VPS when not absolute */
    const char *const *envp; /* "KEY=value" over the defaults (PATH, HOME, TERM, container) */
    const char *cwd;         /* NULL: / */
    int stdio[3];
    bool setsid_ctty; /* make stdio[0] (a pty) the controlling terminal */
    bool pass_socket; /* stdio[0] (a socket) also as fd 3, with LISTEN_FDS=1 and LISTEN_PID:
                       * systemd's socket-activation protocol */
    int pass_fd;      /* > 0: with pass_socket, this fd is fd 3 instead of stdio[0] (the
                       * listening socket of "listen" mode) */
};

/* Runs a command inside a running VPS. */
int vps_spawn_exec(const struct vps_spawn_exec *o, pid_t *ret_pid, int *ret_pidfd,
                   struct vps_error *err);
