/* What cgroup.c shares with its two backends: the backend entry points it dispatches to, and
 * the cgroupfs file helpers both use (optional writes, small reads, cgroup.procs walking, the
 * pidfd kill). Only cgroup*.c include this. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vps/cgroup.h"

/* How long vps_cgroup_kill_all() waits for a cgroup to empty. */
#define VPS_CGROUP_KILL_TIMEOUT_MS 10000

/* Bits of the "skipped" set that apply_limits collects; vps_cgroup_skipped_name() turns a
 * set into "swap,io". The order here is the order of the names. */
enum {
    VPS_CGROUP_SKIP_MEMORY = 1 << 0,
    VPS_CGROUP_SKIP_SWAP = 1 << 1,
    VPS_CGROUP_SKIP_CPU = 1 << 2,
    VPS_CGROUP_SKIP_CPUSET = 1 << 3,
    VPS_CGROUP_SKIP_PIDS = 1 << 4,
    VPS_CGROUP_SKIP_IO = 1 << 5,
    _VPS_CGROUP_SKIP_ALL = (1 << 6) - 1,
};
/* A static string, or NULL for the empty set. */
const char *vps_cgroup_skipped_name(unsigned skipped);

/* Writes val to dir_fd/file. A file that does not exist, or dir_fd < 0 (controller not
 * mounted), is no error: returns 0 and ORs skip_bit into *skipped (skipped may be NULL).
 * Returns 1 when written, -1 on failure. */
int vps_cgroup_write_opt(int dir_fd, const char *file, const char *val, unsigned skip_bit,
                         unsigned *skipped, struct vps_error *err);

/* Reads a small cgroup file whole (at most 64 KiB). With optional, a missing file (or
 * dir_fd < 0) gives *ret = NULL and returns 0. */
int vps_cgroup_read(int dir_fd, const char *file, bool optional, char **ret, struct vps_error *err);
/* A file holding one number; "max" reads as UINT64_MAX. Missing + optional reads as 0. */
int vps_cgroup_read_u64(int dir_fd, const char *file, bool optional, uint64_t *ret,
                        struct vps_error *err);
/* The value of "key N" in a flat keyed file (cpu.stat, memory.events, memory.oom_control,
 * cgroup.events). A missing key, or a missing file with optional, reads as 0. */
int vps_cgroup_read_key(int dir_fd, const char *file, const char *key, bool optional, uint64_t *ret,
                        struct vps_error *err);
/* The key lookup on a buffer already read; false if key is absent or its value malformed. */
bool vps_cgroup_parse_key(const char *buf, const char *key, uint64_t *ret);

/* Calls fn for each pid listed in dir_fd/cgroup.procs, streaming (no size cap, no
 * allocation). fn returns < 0 to fail (having filled err), > 0 to stop early, 0 to go on. */
typedef int (*vps_cgroup_pid_fn)(pid_t pid, void *userdata, struct vps_error *err);
int vps_cgroup_foreach_pid(int dir_fd, vps_cgroup_pid_fn fn, void *userdata, struct vps_error *err);
/* True if dir_fd/cgroup.procs lists no process (this cgroup only, not its children). */
int vps_cgroup_procs_empty(int dir_fd, bool *ret_empty, struct vps_error *err);

/* One round of SIGKILLs: every pid of a cgroup.procs gets a pidfd and a signal; up to
 * VPS_CGROUP_KILL_KEEP pidfds stay open so that the caller can wait for those exits. */
#define VPS_CGROUP_KILL_KEEP 64
struct vps_cgroup_killer {
    int pidfds[VPS_CGROUP_KILL_KEEP];
    size_t n_pidfds;
    size_t n_seen; /* pids listed in the cgroup.procs walked so far */
};
void vps_cgroup_killer_done(struct vps_cgroup_killer *k);
int vps_cgroup_kill_procs(int dir_fd, struct vps_cgroup_killer *k, struct vps_error *err);
/* Waits until each kept pidfd reports its exit or deadline_ms passes; closes them all. */
int vps_cgroup_killer_wait(struct vps_cgroup_killer *k, uint64_t deadline_ms,
                           struct vps_error *err);

/* CLOCK_MONOTONIC in ms, and what is left of a deadline as a poll() timeout. */
uint64_t vps_cgroup_now_ms(void);
int vps_cgroup_remaining_ms(uint64_t deadline_ms);

/* The backends. cgroup.c has checked the arguments, prefixed nothing yet, and hands in
 * structs whose fds are all -1; on failure it releases what they hold. */
int vps_cgroup_v1_host_init(struct vps_cgroup_host *h, unsigned flags, struct vps_error *err);
int vps_cgroup_v1_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                         struct vps_error *err);
int vps_cgroup_v1_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                       struct vps_error *err);
int vps_cgroup_v1_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                               unsigned *skipped, struct vps_error *err);
int vps_cgroup_v1_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err);
int vps_cgroup_v1_kill_all(const struct vps_cgroup *cg, struct vps_error *err);
int vps_cgroup_v1_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err);
int vps_cgroup_v1_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err);
int vps_cgroup_v1_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                        struct vps_error *err);

int vps_cgroup_v2_host_init(struct vps_cgroup_host *h, unsigned flags, struct vps_error *err);
int vps_cgroup_v2_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                         struct vps_error *err);
int vps_cgroup_v2_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                       struct vps_error *err);
int vps_cgroup_v2_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                               unsigned *skipped, struct vps_error *err);
int vps_cgroup_v2_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err);
int vps_cgroup_v2_kill_all(const struct vps_cgroup *cg, struct vps_error *err);
int vps_cgroup_v2_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err);
int vps_cgroup_v2_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err);
int vps_cgroup_v2_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                        struct vps_error *err);
