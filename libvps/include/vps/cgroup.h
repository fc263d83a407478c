/* Cgroups for VPSes behind one interface, with a v2 (unified) and a v1 (legacy/hybrid)
 * backend: create a VPS's cgroup, apply limits (at start and live), place a process in it,
 * kill everything in it, read its statistics, remove it. cgroup.c detects the mode and
 * dispatches; the v1 code is cgroup-v1.c, the v2 code cgroup-v2.c; this header is the whole
 * interface. None of these calls is meant for the spawned child (they allocate). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"

enum vps_cgroup_mode {
    VPS_CGROUP_V1,     /* only v1 controller hierarchies */
    VPS_CGROUP_HYBRID, /* v1 controllers plus an (empty) v2 tree at <root>/unified: v1 backend */
    VPS_CGROUP_V2,     /* unified: <root> is cgroup2 */
};

/* Looks at what is mounted on root ("/sys/fs/cgroup" normally). Never fails: an unknown
 * layout is reported as v1. A root that is itself a cgroup2 mount is v2, so pointing it at a
 * hybrid host's "/sys/fs/cgroup/unified" selects the v2 backend (the tests do that). */
enum vps_cgroup_mode vps_cgroup_detect_mode(const char *root);
const char *vps_cgroup_mode_name(enum vps_cgroup_mode m);

/* Slots of the v1 controller table in cgroup-v1.c (memory, cpu, cpuacct, cpuset, blkio,
 * freezer, pids; one spare). */
#define VPS_CGROUP_V1_MAX 8

struct vps_cgroup_host {
    enum vps_cgroup_mode mode;
    char *mount_root; /* "/sys/fs/cgroup"; NULL in an empty (zeroed) struct */
    char *prefix;     /* the directory under each hierarchy that holds VPS cgroups, "vps" */
    int v2_fd;        /* v2: <mount_root>/<prefix>, O_DIRECTORY; -1 on v1 */
    /* v1: <hierarchy>/<prefix> per controller slot; -1 when the controller is not mounted or
     * when its hierarchy is already held by an earlier slot (joint mounts like cpu,cpuacct). */
    int v1_fds[VPS_CGROUP_V1_MAX];
    /* v1: the slot whose fd serves controller i: i itself, or the first slot mounted in the
     * same hierarchy. */
    uint8_t v1_hier[VPS_CGROUP_V1_MAX];
};

/* A VPS's cgroup: for v2 one directory fd, for v1 one per mounted hierarchy. */
struct vps_cgroup {
    enum vps_cgroup_mode mode;
    char *name; /* "<prefix>/<vps name>" for messages; NULL in an empty (zeroed) struct */
    int v2_fd;
    int v1_fds[VPS_CGROUP_V1_MAX];      /* indexed like vps_cgroup_host.v1_fds */
    uint8_t v1_hier[VPS_CGROUP_V1_MAX]; /* copied from the host */
};

enum vps_cgroup_host_flags {
    /* Accept a hierarchy that lacks memory, pids or cpu; the limits they would enforce are
     * reported as skipped. Only for tests on a hybrid host, whose <root>/unified tree is v2
     * but has no controllers (they are all bound to v1). */
    VPS_CGROUP_HOST_PARTIAL = 1 << 0,
};

/* Detects the mode and checks that the controllers a VPS needs are there (memory, pids, cpu;
 * cpuset, io/blkio, freezer, cpuacct when present). mount_root is normally "/sys/fs/cgroup";
 * prefix is one path component. Creates <prefix> under each hierarchy (v2: enabling the
 * controllers in the root's and <prefix>'s cgroup.subtree_control; v1: cpuset.cpus/mems
 * filled in and cgroup.clone_children set, so that VPS cpusets start usable). On failure the
 * <prefix> directories this call made are removed again. *ret is released with
 * vps_cgroup_host_done(); it never removes <prefix> (running VPSes outlive vpsd).
 * VPS_ERR_INVALID for a bad prefix, VPS_ERR_SYSTEM otherwise. */
int vps_cgroup_host_init(const char *mount_root, const char *prefix, struct vps_cgroup_host *ret,
                         struct vps_error *err);
/* The same with vps_cgroup_host_flags. */
int vps_cgroup_host_init_flags(const char *mount_root, const char *prefix, unsigned flags,
                               struct vps_cgroup_host *ret, struct vps_error *err);
/* Frees and closes what h holds, leaving it empty (NULL strings, fds -1); an empty or zeroed
 * struct is a no-op, so calling it twice is safe. */
void vps_cgroup_host_done(struct vps_cgroup_host *h);

/* Creates (or opens, if it exists: a re-adopted VPS) <prefix>/<name> in every hierarchy. name
 * follows the VPS name rule (VPS_ERR_INVALID otherwise). On failure the directories this call
 * made are removed again; pre-existing ones are kept. Release *ret with vps_cgroup_done(). */
int vps_cgroup_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *ret,
                      struct vps_error *err);
/* Opens an existing one; VPS_ERR_NOT_FOUND if it is missing in any hierarchy. */
int vps_cgroup_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *ret,
                    struct vps_error *err);
/* Closes the fds and frees the name, leaving it empty (name NULL, fds -1); an empty or zeroed
 * struct is a no-op, so it serves as a cleanup and may run twice. */
void vps_cgroup_done(struct vps_cgroup *cg);

/* Applies every limit (memory+swap, cpu weight and quota, cpuset, pids, io weight). Limits
 * that are "unset" (0 / NULL) are reset to unlimited/default, so it also serves live changes;
 * swap_bytes 0 means "no swap", as in the config. A limit the host cannot enforce (swap
 * accounting off, no io controller, a controller missing under VPS_CGROUP_HOST_PARTIAL) is
 * skipped and named in *ret_skipped (may be NULL): a static comma-separated list in the order
 * "memory,swap,cpu,cpuset,pids,io", or NULL when nothing was skipped. Not atomic: on failure
 * the limits written before the failing one stay. VPS_ERR_SYSTEM. */
int vps_cgroup_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                            const char **ret_skipped, struct vps_error *err);

/* Moves pid (a whole process) into the cgroup, in every hierarchy. On v1 a failure can leave
 * pid moved in some hierarchies only; the caller kills it. Cost: the first migration after a
 * ~100 ms quiet spell waits for an RCU grace period (cgroup_threadgroup_rwsem, ~7-12 ms on the
 * test hosts, v1 and v2 alike); the other hierarchies of the same attach cost ~10 us each.
 * Keep it off latency-critical paths; v2 has vps_cgroup_clone_fd() instead. */
int vps_cgroup_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err);
/* v2 only: the cgroup's O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP) (5.7), still owned by
 * cg; -1 on v1. */
int vps_cgroup_clone_fd(const struct vps_cgroup *cg);

/* Kills every process in the cgroup with SIGKILL and returns once it is empty (v2:
 * cgroup.kill; v1: freeze, kill each, thaw, repeat). Safe to call on an empty cgroup. Killed
 * processes may still be zombies of their parents. VPS_ERR_TIMEOUT if processes remain after
 * 10 s (a task stuck in uninterruptible sleep), VPS_ERR_SYSTEM. */
int vps_cgroup_kill_all(const struct vps_cgroup *cg, struct vps_error *err);
/* True if no process is in the cgroup (zombies do not count). */
int vps_cgroup_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err);

/* Removes <prefix>/<name> in every hierarchy (must be empty). Missing is success. Tries every
 * hierarchy and reports the first failure with its full path (EBUSY: still populated). */
int vps_cgroup_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err);

/* Counters; each is 0 when the host does not track it (controller or file absent). */
struct vps_cgroup_stats {
    uint64_t cpu_usage_ns;
    uint64_t memory_current_bytes;
    uint64_t memory_peak_bytes; /* v2: memory.peak (5.19); v1: memory.max_usage_in_bytes */
    uint64_t pids_current;
    uint64_t oom_kills;
};
int vps_cgroup_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                     struct vps_error *err);
