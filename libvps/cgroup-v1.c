/* The cgroup v1 backend (v1-only and hybrid hosts): one directory <hierarchy>/<prefix>/<name>
 * per mounted controller hierarchy, v2-scale limits translated to the v1 files, and the
 * freezer for stopping. Dispatch, argument checks and the shared file helpers are in
 * cgroup.c; the v2 backend is cgroup-v2.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "cgroup-internal.h"
#include "vps/fd.h"

enum {
    V1_MEMORY,
    V1_CPU,
    V1_CPUACCT,
    V1_CPUSET,
    V1_BLKIO,
    V1_FREEZER,
    V1_PIDS,
    _V1_MAX,
};

/* The controllers a VPS uses, each looked up as <mount_root>/<name>. devices is left out:
 * device access is bounded by the VPS's user namespace and its private /dev. */
static const struct {
    const char *name;
    bool required;
} ctls[_V1_MAX] = {
    [V1_MEMORY] = {"memory", true},    [V1_CPU] = {"cpu", true},
    [V1_CPUACCT] = {"cpuacct", false}, [V1_CPUSET] = {"cpuset", false},
    [V1_BLKIO] = {"blkio", false},     [V1_FREEZER] = {"freezer", false},
    [V1_PIDS] = {"pids", true},
};
_Static_assert(_V1_MAX <= VPS_CGROUP_V1_MAX, "v1 controller table larger than the structs");

/* The directory serving controller c, or -1 if it is not mounted. */
static int ctl_fd(const struct vps_cgroup *cg, int c)
{
    return cg->v1_fds[cg->v1_hier[c]];
}

static const char *path_of(const struct vps_cgroup_host *h, size_t i, const char *name, char *buf,
                           size_t size)
{
    snprintf(buf, size, "%s/%s/%s/%s", h->mount_root, ctls[i].name, h->prefix, name);
    return buf;
}

/* ---- host ---- */

static void close_all(int (*fds)[_V1_MAX])
{
    for (size_t i = 0; i < _V1_MAX; i++)
        vps_closep(&(*fds)[i]);
}

/* Opens <mount_root>/<ctl> into *ret_fd, or sets it to -1 if that is not a mounted v1
 * hierarchy (missing, or a plain directory). */
static int open_hierarchy(const struct vps_cgroup_host *h, int root_fd, size_t i, int *ret_fd,
                          struct vps_error *err)
{
    /* Follows symlinks on purpose: a joint mount shows up as cpu -> cpu,cpuacct. */
    cleanup_close int fd = openat(root_fd, ctls[i].name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct statfs fs;

    if (fd < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "open '%s/%s'", h->mount_root, ctls[i].name);
    if (fd >= 0 && fstatfs(fd, &fs) < 0)
        return vps_error_errno(err, errno, "statfs '%s/%s'", h->mount_root, ctls[i].name);
    *ret_fd = fd >= 0 && fs.f_type == CGROUP_SUPER_MAGIC ? TAKE_FD(fd) : -1;
    return 0;
}

/* Fills hier_fds with one fd per distinct hierarchy. A joint mount appears under two names
 * with the same device and inode; the later slot becomes an alias of the earlier one, so each
 * hierarchy gets one directory and one cgroup.procs write. */
static int probe(struct vps_cgroup_host *h, int root_fd, unsigned flags, int (*hier_fds)[_V1_MAX],
                 struct vps_error *err)
{
    struct stat st[_V1_MAX];

    for (size_t i = 0; i < _V1_MAX; i++) {
        int fd;
        if (open_hierarchy(h, root_fd, i, &fd, err) < 0)
            return -1;
        if (fd < 0) {
            if (ctls[i].required && !(flags & VPS_CGROUP_HOST_PARTIAL))
                return vps_error_set(err, VPS_ERR_SYSTEM,
                                     "controller '%s' is not mounted at '%s/%s'", ctls[i].name,
                                     h->mount_root, ctls[i].name);
            continue;
        }
        (*hier_fds)[i] = fd;
        if (fstat(fd, &st[i]) < 0)
            return vps_error_errno(err, errno, "stat '%s/%s'", h->mount_root, ctls[i].name);
        for (size_t j = 0; j < i; j++)
            if ((*hier_fds)[j] >= 0 && st[j].st_dev == st[i].st_dev &&
                st[j].st_ino == st[i].st_ino) {
                vps_closep(&(*hier_fds)[i]);
                (*hier_fds)[i] = -1;
                h->v1_hier[i] = (uint8_t) j;
                break;
            }
    }
    return 0;
}

/* A new v1 cpuset starts with no CPUs and no memory nodes, and a task cannot join it
 * (ENOSPC) until both are set. cgroup.clone_children makes the kernel copy the parent's at
 * mkdir, but it skips the copy when a sibling is exclusive, and a <prefix> made by someone else
 * may lack the flag; so fill in whatever is still empty from the parent. */
static int cpuset_inherit(int parent_fd, int child_fd, struct vps_error *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        cleanup_free char *cur = NULL, *parent = NULL;
        if (vps_cgroup_read(child_fd, files[i], false, &cur, err) < 0)
            return -1;
        if (strspn(cur, " \n") != strlen(cur))
            continue;
        if (vps_cgroup_read(parent_fd, files[i], false, &parent, err) < 0)
            return vps_error_prefix(err, "parent");
        if (vps_write_at(child_fd, files[i], parent, err) < 0)
            return -1;
    }
    return 0;
}

static int setup_prefix_cpuset(struct vps_cgroup_host *h, int (*hier_fds)[_V1_MAX],
                               struct vps_error *err)
{
    int c = h->v1_hier[V1_CPUSET];

    if ((*hier_fds)[c] < 0)
        return 0;
    if (cpuset_inherit((*hier_fds)[c], h->v1_fds[c], err) < 0 ||
        vps_write_at(h->v1_fds[c], "cgroup.clone_children", "1", err) < 0)
        return vps_error_prefix(err, "cpuset '%s'", h->prefix);
    return 0;
}

int vps_cgroup_v1_host_init(struct vps_cgroup_host *h, unsigned flags, struct vps_error *err)
{
    cleanup_close int root_fd = open(h->mount_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_(close_all) int hier_fds[_V1_MAX] = {[0 ... _V1_MAX - 1] = -1};
    bool created[_V1_MAX] = {false};

    if (root_fd < 0)
        return vps_error_errno(err, errno, "open '%s'", h->mount_root);
    /* Every check before the first mkdir, so that a host that lacks a controller is left
     * untouched. */
    if (probe(h, root_fd, flags, &hier_fds, err) < 0)
        return -1;
    for (size_t i = 0; i < _V1_MAX; i++) {
        if (hier_fds[i] < 0)
            continue;
        if (mkdirat(hier_fds[i], h->prefix, 0755) == 0)
            created[i] = true;
        else if (errno != EEXIST) {
            vps_error_errno(err, errno, "create '%s/%s/%s'", h->mount_root, ctls[i].name,
                            h->prefix);
            goto fail;
        }
        h->v1_fds[i] =
            openat(hier_fds[i], h->prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (h->v1_fds[i] < 0) {
            vps_error_errno(err, errno, "open '%s/%s/%s'", h->mount_root, ctls[i].name, h->prefix);
            goto fail;
        }
    }
    if (setup_prefix_cpuset(h, &hier_fds, err) < 0)
        goto fail;
    return 0;
fail:
    for (size_t i = 0; i < _V1_MAX; i++)
        if (created[i])
            (void) unlinkat(hier_fds[i], h->prefix, AT_REMOVEDIR);
    return -1;
}

/* ---- one VPS's cgroup ---- */

int vps_cgroup_v1_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                         struct vps_error *err)
{
    bool created[_V1_MAX] = {false};
    char path[512];
    int c = h->v1_hier[V1_CPUSET];

    memcpy(cg->v1_hier, h->v1_hier, sizeof cg->v1_hier);
    for (size_t i = 0; i < _V1_MAX; i++) {
        if (h->v1_fds[i] < 0)
            continue;
        if (mkdirat(h->v1_fds[i], name, 0755) == 0)
            created[i] = true;
        else if (errno != EEXIST) {
            vps_error_errno(err, errno, "create '%s'", path_of(h, i, name, path, sizeof path));
            goto fail;
        }
        cg->v1_fds[i] = openat(h->v1_fds[i], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (cg->v1_fds[i] < 0) {
            vps_error_errno(err, errno, "open '%s'", path_of(h, i, name, path, sizeof path));
            goto fail;
        }
    }
    if (cg->v1_fds[c] >= 0 && cpuset_inherit(h->v1_fds[c], cg->v1_fds[c], err) < 0) {
        vps_error_prefix(err, "cpuset");
        goto fail;
    }
    return 0;
fail:
    /* Only what this call made: a directory that was there before belongs to a VPS being
     * re-adopted. A fresh one holds no task yet, so rmdir cannot meet EBUSY. */
    for (size_t i = 0; i < _V1_MAX; i++)
        if (created[i]) {
            vps_closep(&cg->v1_fds[i]);
            cg->v1_fds[i] = -1;
            (void) unlinkat(h->v1_fds[i], name, AT_REMOVEDIR);
        }
    return -1;
}

int vps_cgroup_v1_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                       struct vps_error *err)
{
    char path[512];

    memcpy(cg->v1_hier, h->v1_hier, sizeof cg->v1_hier);
    for (size_t i = 0; i < _V1_MAX; i++) {
        if (h->v1_fds[i] < 0)
            continue;
        cg->v1_fds[i] = openat(h->v1_fds[i], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (cg->v1_fds[i] >= 0)
            continue;
        path_of(h, i, name, path, sizeof path);
        if (errno == ENOENT)
            return vps_error_set(err, VPS_ERR_NOT_FOUND, "'%s' does not exist", path);
        return vps_error_errno(err, errno, "open '%s'", path);
    }
    return 0;
}

int vps_cgroup_v1_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err)
{
    char path[512];
    int r = 0;

    /* Every hierarchy even after a failure: a retry then only meets what is left. */
    for (size_t i = 0; i < _V1_MAX; i++) {
        if (h->v1_fds[i] < 0 || unlinkat(h->v1_fds[i], name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            continue;
        if (r == 0)
            r = vps_error_errno(err, errno, "remove '%s'", path_of(h, i, name, path, sizeof path));
    }
    return r;
}

/* ---- limits ---- */

/* v1 spells "unlimited" as -1 (and reads it back as a huge number). */
static void fmt_v1(char *buf, size_t size, uint64_t v)
{
    if (v == UINT64_MAX)
        snprintf(buf, size, "-1");
    else
        snprintf(buf, size, "%" PRIu64, v);
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int write_memsw(int fd, uint64_t limit, uint64_t memsw, struct vps_error *err)
{
    char lim[32], sw[32];
    uint64_t cur;

    fmt_v1(lim, sizeof lim, limit);
    fmt_v1(sw, sizeof sw, memsw);
    if (vps_cgroup_read_u64(fd, "memory.memsw.limit_in_bytes", false, &cur, err) < 0)
        return -1;
    /* The kernel keeps memsw.limit >= limit at every moment and refuses (EINVAL) a write that
     * would break it. The new pair satisfies it (memsw = limit + swap), so: when the new limit
     * is above the current memsw, memsw must grow first; otherwise the limit goes first, which
     * is also the order for lowering both (memsw may only drop to the new limit after it). */
    if (limit > cur) {
        if (vps_write_at(fd, "memory.memsw.limit_in_bytes", sw, err) < 0)
            return -1;
        return vps_write_at(fd, "memory.limit_in_bytes", lim, err);
    }
    if (vps_write_at(fd, "memory.limit_in_bytes", lim, err) < 0)
        return -1;
    return vps_write_at(fd, "memory.memsw.limit_in_bytes", sw, err);
}

static int apply_memory(int fd, const struct vps_limits *l, unsigned *skipped,
                        struct vps_error *err)
{
    uint64_t limit = l->ram_bytes ? l->ram_bytes : UINT64_MAX;
    uint64_t memsw = limit > UINT64_MAX - l->swap_bytes ? UINT64_MAX : limit + l->swap_bytes;
    char val[32];

    if (fd < 0) {
        *skipped |= VPS_CGROUP_SKIP_MEMORY | VPS_CGROUP_SKIP_SWAP;
        return 0;
    }
    /* The memsw files exist only with swap accounting (CONFIG_MEMCG_SWAP and not
     * swapaccount=0); without them swap use cannot be bounded at all. */
    if (faccessat(fd, "memory.memsw.limit_in_bytes", F_OK, 0) == 0)
        return write_memsw(fd, limit, memsw, err);
    if (errno != ENOENT)
        return vps_error_errno(err, errno, "access 'memory.memsw.limit_in_bytes'");
    *skipped |= VPS_CGROUP_SKIP_SWAP;
    fmt_v1(val, sizeof val, limit);
    return vps_write_at(fd, "memory.limit_in_bytes", val, err);
}

/* cpu.shares is the v1 weight: the v2 default 100 is 1024 here, and it scales linearly. */
static int apply_cpu(int fd, const struct vps_limits *l, unsigned *skipped, struct vps_error *err)
{
    uint64_t weight = l->cpu_weight ? l->cpu_weight : 100;
    char val[32];

    snprintf(val, sizeof val, "%" PRIu64, clamp_u64(weight * 1024 / 100, 2, 262144));
    if (vps_cgroup_write_opt(fd, "cpu.shares", val, VPS_CGROUP_SKIP_CPU, skipped, err) < 0)
        return -1;
    /* The quota files exist only with CONFIG_CFS_BANDWIDTH. Period first: the quota is read
     * against it. 1000 millicpus = one CPU = a quota of the whole 100 ms period. */
    if (vps_cgroup_write_opt(fd, "cpu.cfs_period_us", "100000", VPS_CGROUP_SKIP_CPU, skipped, err) <
        0)
        return -1;
    fmt_v1(val, sizeof val,
           l->cpu_limit_millicpus ? (uint64_t) l->cpu_limit_millicpus * 100 : UINT64_MAX);
    return vps_cgroup_write_opt(fd, "cpu.cfs_quota_us", val, VPS_CGROUP_SKIP_CPU, skipped, err);
}

/* v1 has no "inherit" value for cpuset.cpus ("" is an empty set, refused with ENOSPC while
 * tasks are attached), so "unset" copies the parent's list. */
static int apply_cpuset(int fd, const struct vps_limits *l, unsigned *skipped,
                        struct vps_error *err)
{
    cleanup_free char *cpus = NULL;

    if (fd < 0) {
        *skipped |= VPS_CGROUP_SKIP_CPUSET;
        return 0;
    }
    if (l->cpuset)
        return vps_write_at(fd, "cpuset.cpus", l->cpuset, err);
    cleanup_close int parent_fd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0)
        return vps_error_errno(err, errno, "open parent cpuset");
    if (vps_cgroup_read(parent_fd, "cpuset.cpus", false, &cpus, err) < 0)
        return vps_error_prefix(err, "parent");
    return vps_write_at(fd, "cpuset.cpus", cpus, err);
}

/* CFQ's blkio.weight (10..1000, default 500) left with the legacy block layer in 5.0; BFQ's
 * blkio.bfq.weight (1..1000, default 100) is what remains, and it only acts on devices whose
 * scheduler is bfq. Both scale like cpu.shares: the v2 default 100 maps to the v1 default. */
static int apply_io(int fd, const struct vps_limits *l, unsigned *skipped, struct vps_error *err)
{
    uint64_t weight = l->io_weight ? l->io_weight : 100;
    char val[32];

    snprintf(val, sizeof val, "%" PRIu64, clamp_u64(weight * 500 / 100, 10, 1000));
    int r = vps_cgroup_write_opt(fd, "blkio.weight", val, 0, NULL, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    snprintf(val, sizeof val, "%" PRIu64, clamp_u64(weight, 1, 1000));
    return vps_cgroup_write_opt(fd, "blkio.bfq.weight", val, VPS_CGROUP_SKIP_IO, skipped, err) < 0
               ? -1
               : 0;
}

int vps_cgroup_v1_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                               unsigned *skipped, struct vps_error *err)
{
    char val[32];

    if (apply_memory(ctl_fd(cg, V1_MEMORY), l, skipped, err) < 0)
        return vps_error_prefix(err, "memory");
    if (apply_cpu(ctl_fd(cg, V1_CPU), l, skipped, err) < 0)
        return vps_error_prefix(err, "cpu");
    if (apply_cpuset(ctl_fd(cg, V1_CPUSET), l, skipped, err) < 0)
        return vps_error_prefix(err, "cpuset");
    if (l->pids)
        snprintf(val, sizeof val, "%" PRIu32, l->pids);
    else
        snprintf(val, sizeof val, "max");
    if (vps_cgroup_write_opt(ctl_fd(cg, V1_PIDS), "pids.max", val, VPS_CGROUP_SKIP_PIDS, skipped,
                             err) < 0)
        return vps_error_prefix(err, "pids");
    if (apply_io(ctl_fd(cg, V1_BLKIO), l, skipped, err) < 0)
        return vps_error_prefix(err, "blkio");
    return 0;
}

/* ---- processes ---- */

int vps_cgroup_v1_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err)
{
    char val[16];

    snprintf(val, sizeof val, "%d", (int) pid);
    for (size_t i = 0; i < _V1_MAX; i++)
        if (cg->v1_fds[i] >= 0 && vps_write_at(cg->v1_fds[i], "cgroup.procs", val, err) < 0)
            return vps_error_prefix(err, "%s", ctls[i].name);
    return 0;
}

int vps_cgroup_v1_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err)
{
    bool empty = true;

    /* Every hierarchy: a task moved out of one of them by someone else still counts. */
    for (size_t i = 0; i < _V1_MAX && empty; i++)
        if (cg->v1_fds[i] >= 0 && vps_cgroup_procs_empty(cg->v1_fds[i], &empty, err) < 0)
            return vps_error_prefix(err, "%s", ctls[i].name);
    *ret_empty = empty;
    return 0;
}

/* How long one round waits for FREEZING to become FROZEN before killing anyway. */
#define FREEZE_WAIT_MS 1000

static int wait_frozen(int fd, uint64_t deadline_ms, struct vps_error *err)
{
    uint64_t until = vps_cgroup_now_ms() + FREEZE_WAIT_MS;

    if (until > deadline_ms)
        until = deadline_ms;
    /* v1's freezer sends no notification (freezer.state cannot be polled, unlike v2's
     * cgroup.events "frozen"), so this re-reads with a 1 ms nap: the only sleep in the cgroup
     * code. FREEZING can last for good while a task sleeps uninterruptibly (NFS, a vfork
     * parent); then the kill goes ahead on the unfrozen cgroup, and the caller's next round
     * catches a child that such a task forks meanwhile. */
    for (;;) {
        cleanup_free char *state = NULL;
        if (vps_cgroup_read(fd, "freezer.state", false, &state, err) < 0)
            return -1;
        if (strncmp(state, "FROZEN", 6) == 0 || vps_cgroup_now_ms() >= until)
            return 0;
        (void) nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

/* SIGKILLs the tasks of the first hierarchy that lists any, the freezer's first (those are
 * the frozen ones). All hierarchies normally hold the same tasks, so walking one is enough; a
 * task that someone moved out of it is still in another, and a later round, finding the first
 * hierarchies empty, gets to it. */
static int kill_first_listed(const struct vps_cgroup *cg, struct vps_cgroup_killer *k,
                             struct vps_error *err)
{
    int first = cg->v1_hier[V1_FREEZER];

    for (int n = -1; n < _V1_MAX; n++) {
        int i = n < 0 ? first : n;
        if ((n >= 0 && i == first) || cg->v1_fds[i] < 0)
            continue;
        if (vps_cgroup_kill_procs(cg->v1_fds[i], k, err) < 0)
            return vps_error_prefix(err, "%s", ctls[i].name);
        if (k->n_seen > 0)
            return 0;
    }
    return 0;
}

/* Freeze, SIGKILL, thaw, wait for (some of) the exits. A frozen task cannot exit, so no pid
 * read from cgroup.procs is recycled before its pidfd is open; the signals stay pending until
 * the thaw. */
static int kill_round(const struct vps_cgroup *cg, uint64_t deadline_ms, struct vps_error *err)
{
    cleanup_(vps_cgroup_killer_done) struct vps_cgroup_killer k = {.n_pidfds = 0};
    struct vps_error thaw_err = {0};
    int freezer = ctl_fd(cg, V1_FREEZER);
    int r = 0;

    if (freezer >= 0 && vps_write_at(freezer, "freezer.state", "FROZEN", err) < 0)
        return vps_error_prefix(err, "freezer");
    if (freezer >= 0 && wait_frozen(freezer, deadline_ms, err) < 0)
        r = vps_error_prefix(err, "freezer");
    if (r == 0)
        r = kill_first_listed(cg, &k, err);
    /* Thaw on every path: a cgroup left FROZEN would hang the VPS for good. */
    if (freezer >= 0 && vps_write_at(freezer, "freezer.state", "THAWED", &thaw_err) < 0 && r == 0) {
        *err = thaw_err;
        return vps_error_prefix(err, "freezer");
    }
    if (r < 0)
        return -1;
    return vps_cgroup_killer_wait(&k, deadline_ms, err);
}

int vps_cgroup_v1_kill_all(const struct vps_cgroup *cg, struct vps_error *err)
{
    uint64_t deadline_ms = vps_cgroup_now_ms() + VPS_CGROUP_KILL_TIMEOUT_MS;
    bool empty;

    for (;;) {
        if (vps_cgroup_v1_is_empty(cg, &empty, err) < 0)
            return -1;
        if (empty)
            return 0;
        if (vps_cgroup_remaining_ms(deadline_ms) == 0)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "processes still running after %d ms",
                                 VPS_CGROUP_KILL_TIMEOUT_MS);
        if (kill_round(cg, deadline_ms, err) < 0)
            return -1;
    }
}

/* ---- statistics ---- */

int vps_cgroup_v1_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                        struct vps_error *err)
{
    /* All optional: cpuacct may be unmounted, and a controller is missing under
     * VPS_CGROUP_HOST_PARTIAL. */
    const struct {
        int fd;
        const char *file;
        uint64_t *out;
    } reads[] = {
        {ctl_fd(cg, V1_CPUACCT), "cpuacct.usage", &ret->cpu_usage_ns},
        {ctl_fd(cg, V1_MEMORY), "memory.usage_in_bytes", &ret->memory_current_bytes},
        {ctl_fd(cg, V1_MEMORY), "memory.max_usage_in_bytes", &ret->memory_peak_bytes},
        {ctl_fd(cg, V1_PIDS), "pids.current", &ret->pids_current},
    };

    for (size_t i = 0; i < ELEMENTSOF(reads); i++)
        if (vps_cgroup_read_u64(reads[i].fd, reads[i].file, true, reads[i].out, err) < 0)
            return -1;
    /* The oom_kill line of memory.oom_control is 4.13. */
    return vps_cgroup_read_key(ctl_fd(cg, V1_MEMORY), "memory.oom_control", "oom_kill", true,
                               &ret->oom_kills, err);
}
