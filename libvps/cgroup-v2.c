/* The cgroup v2 (unified) backend: one directory <mount_root>/<prefix>/<name> per VPS, limits
 * in the v2 interface files, cgroup.kill and cgroup.events for stopping. Dispatch, argument
 * checks and the shared file helpers are in cgroup.c; the v1 backend is cgroup-v1.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup-internal.h"
#include "vps/fd.h"

/* Enabled for VPS cgroups where available. */
static const char *const wanted[] = {"cpu", "cpuset", "io", "memory", "pids"};
/* Without these a VPS has no memory, process or CPU bound at all. */
static const char *const required[] = {"memory", "pids", "cpu"};

static bool has_word(const char *list, const char *word)
{
    size_t len = strlen(word);

    for (const char *p = list; (p = strstr(p, word)); p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
            return true;
    return false;
}

/* Turns on, in dir_fd's cgroup.subtree_control, each wanted controller that dir_fd's
 * cgroup.controllers offers. One write per controller, so a failure names the one that
 * failed; "+x" on an enabled controller is a no-op. */
static int enable_controllers(int dir_fd, const char *where, struct vps_error *err)
{
    cleanup_free char *avail = NULL;
    char val[16];

    if (vps_cgroup_read(dir_fd, "cgroup.controllers", false, &avail, err) < 0)
        return vps_error_prefix(err, "%s", where);
    for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
        if (!has_word(avail, wanted[i]))
            continue;
        snprintf(val, sizeof val, "+%s", wanted[i]);
        /* EBUSY here: <where> holds processes itself ("no internal processes" rule). */
        if (vps_cgroup_write_opt(dir_fd, "cgroup.subtree_control", val, 0, NULL, err) < 0)
            return vps_error_prefix(err, "%s", where);
    }
    return 0;
}

static int check_required(int root_fd, struct vps_error *err)
{
    cleanup_free char *avail = NULL;

    if (vps_cgroup_read(root_fd, "cgroup.controllers", false, &avail, err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(required); i++)
        if (!has_word(avail, required[i]))
            return vps_error_set(err, VPS_ERR_SYSTEM,
                                 "controller '%s' is not available (cgroup.controllers: '%.*s')",
                                 required[i], (int) strcspn(avail, "\n"), avail);
    return 0;
}

int vps_cgroup_v2_host_init(struct vps_cgroup_host *h, unsigned flags, struct vps_error *err)
{
    cleanup_close int root_fd = open(h->mount_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool created = false;

    if (root_fd < 0)
        return vps_error_errno(err, errno, "open '%s'", h->mount_root);
    if (!(flags & VPS_CGROUP_HOST_PARTIAL) && check_required(root_fd, err) < 0)
        return -1;
    /* The root's subtree_control first: <prefix>'s cgroup.controllers lists only what its
     * parent enabled. The root is exempt from the "no internal processes" rule. */
    if (enable_controllers(root_fd, "root", err) < 0)
        return -1;
    if (mkdirat(root_fd, h->prefix, 0755) == 0)
        created = true;
    else if (errno != EEXIST)
        return vps_error_errno(err, errno, "create '%s'", h->prefix);
    h->v2_fd = openat(root_fd, h->prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (h->v2_fd < 0) {
        vps_error_errno(err, errno, "open '%s'", h->prefix);
        goto fail;
    }
    if (enable_controllers(h->v2_fd, h->prefix, err) < 0)
        goto fail;
    return 0;
fail:
    if (created)
        (void) unlinkat(root_fd, h->prefix, AT_REMOVEDIR);
    return -1;
}

static const char *path_of(const struct vps_cgroup_host *h, const char *name, char *buf,
                           size_t size)
{
    snprintf(buf, size, "%s/%s/%s", h->mount_root, h->prefix, name);
    return buf;
}

int vps_cgroup_v2_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                         struct vps_error *err)
{
    bool created = false;
    char path[512];

    if (mkdirat(h->v2_fd, name, 0755) == 0)
        created = true;
    else if (errno != EEXIST)
        return vps_error_errno(err, errno, "create '%s'", path_of(h, name, path, sizeof path));
    cg->v2_fd = openat(h->v2_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (cg->v2_fd < 0) {
        int e = errno;
        if (created)
            (void) unlinkat(h->v2_fd, name, AT_REMOVEDIR);
        return vps_error_errno(err, e, "open '%s'", path_of(h, name, path, sizeof path));
    }
    return 0;
}

int vps_cgroup_v2_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                       struct vps_error *err)
{
    char path[512];

    cg->v2_fd = openat(h->v2_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (cg->v2_fd < 0) {
        path_of(h, name, path, sizeof path);
        if (errno == ENOENT)
            return vps_error_set(err, VPS_ERR_NOT_FOUND, "'%s' does not exist", path);
        return vps_error_errno(err, errno, "open '%s'", path);
    }
    return 0;
}

int vps_cgroup_v2_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err)
{
    char path[512];

    if (unlinkat(h->v2_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "remove '%s'", path_of(h, name, path, sizeof path));
    return 0;
}

/* ---- limits ---- */

static void fmt_max(char *buf, size_t size, uint64_t v)
{
    if (v == 0)
        snprintf(buf, size, "max");
    else
        snprintf(buf, size, "%" PRIu64, v);
}

static int apply_memory(int fd, const struct vps_limits *l, unsigned *skipped,
                        struct vps_error *err)
{
    char val[32];

    fmt_max(val, sizeof val, l->ram_bytes);
    int r = vps_cgroup_write_opt(fd, "memory.max", val, VPS_CGROUP_SKIP_MEMORY, skipped, err);
    if (r <= 0) {
        if (r == 0) /* no memory controller: no swap limit either */
            *skipped |= VPS_CGROUP_SKIP_SWAP;
        return r;
    }
    /* memory.swap.max is separate from memory.max (unlike v1's memsw, which is the sum), so
     * the two writes need no order. 0 is "no swap", as in the config. It is missing without
     * swap accounting (CONFIG_MEMCG_SWAP off, or booted with swapaccount=0). */
    snprintf(val, sizeof val, "%" PRIu64, l->swap_bytes);
    return vps_cgroup_write_opt(fd, "memory.swap.max", val, VPS_CGROUP_SKIP_SWAP, skipped, err);
}

static int apply_cpu(int fd, const struct vps_limits *l, unsigned *skipped, struct vps_error *err)
{
    char val[48];

    snprintf(val, sizeof val, "%" PRIu32, l->cpu_weight ? l->cpu_weight : 100);
    if (vps_cgroup_write_opt(fd, "cpu.weight", val, VPS_CGROUP_SKIP_CPU, skipped, err) < 0)
        return -1;
    /* 1000 millicpus = one CPU = a quota of the whole 100 ms period. */
    if (l->cpu_limit_millicpus)
        snprintf(val, sizeof val, "%" PRIu64 " 100000", (uint64_t) l->cpu_limit_millicpus * 100);
    else
        snprintf(val, sizeof val, "max 100000");
    return vps_cgroup_write_opt(fd, "cpu.max", val, VPS_CGROUP_SKIP_CPU, skipped, err);
}

static int apply_rest(int fd, const struct vps_limits *l, unsigned *skipped, struct vps_error *err)
{
    char val[32];

    /* "" hands the cgroup its parent's CPUs again. */
    if (vps_cgroup_write_opt(fd, "cpuset.cpus", l->cpuset ? l->cpuset : "", VPS_CGROUP_SKIP_CPUSET,
                             skipped, err) < 0)
        return -1;
    fmt_max(val, sizeof val, l->pids);
    if (vps_cgroup_write_opt(fd, "pids.max", val, VPS_CGROUP_SKIP_PIDS, skipped, err) < 0)
        return -1;
    snprintf(val, sizeof val, "default %" PRIu32, l->io_weight ? l->io_weight : 100);
    return vps_cgroup_write_opt(fd, "io.weight", val, VPS_CGROUP_SKIP_IO, skipped, err);
}

int vps_cgroup_v2_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                               unsigned *skipped, struct vps_error *err)
{
    if (apply_memory(cg->v2_fd, l, skipped, err) < 0 || apply_cpu(cg->v2_fd, l, skipped, err) < 0 ||
        apply_rest(cg->v2_fd, l, skipped, err) < 0)
        return -1;
    return 0;
}

/* ---- processes ---- */

int vps_cgroup_v2_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err)
{
    char val[16];

    snprintf(val, sizeof val, "%d", (int) pid);
    return vps_write_at(cg->v2_fd, "cgroup.procs", val, err);
}

/* "populated" in cgroup.events covers the whole subtree and ignores zombies. pread() at 0:
 * kernfs regenerates the file on each read from the start. */
static int read_populated(int events_fd, bool *ret, struct vps_error *err)
{
    char buf[256];
    uint64_t v;

    ssize_t n = pread(events_fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        return vps_error_errno(err, errno, "read 'cgroup.events'");
    buf[n] = '\0';
    if (!vps_cgroup_parse_key(buf, "populated", &v))
        return vps_error_set(err, VPS_ERR_SYSTEM, "'cgroup.events' lacks 'populated'");
    *ret = v != 0;
    return 0;
}

static int open_events(const struct vps_cgroup *cg, struct vps_error *err)
{
    int fd = openat(cg->v2_fd, "cgroup.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return vps_error_errno(err, errno, "open 'cgroup.events'");
    return fd;
}

int vps_cgroup_v2_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err)
{
    cleanup_close int fd = open_events(cg, err);
    bool populated;

    if (fd < 0 || read_populated(fd, &populated, err) < 0)
        return -1;
    *ret_empty = !populated;
    return 0;
}

/* cgroup.events raises POLLPRI (with POLLERR) when "populated" flips. kernfs remembers which
 * event the last read saw, so reading first and then polling cannot miss the change. */
static int wait_events(int events_fd, uint64_t deadline_ms, struct vps_error *err)
{
    struct pollfd p = {.fd = events_fd, .events = POLLPRI};

    if (poll(&p, 1, vps_cgroup_remaining_ms(deadline_ms)) < 0 && errno != EINTR)
        return vps_error_errno(err, errno, "poll 'cgroup.events'");
    return 0;
}

/* Before 5.14 there is no cgroup.kill: SIGKILL what cgroup.procs lists and wait for those
 * exits; the caller looks again for what forked meanwhile. cgroup.procs covers this cgroup
 * only, so when it is empty but a sub-cgroup is not, wait for a change instead of spinning. */
static int kill_round_fallback(const struct vps_cgroup *cg, int events_fd, uint64_t deadline_ms,
                               struct vps_error *err)
{
    cleanup_(vps_cgroup_killer_done) struct vps_cgroup_killer k = {.n_pidfds = 0};

    if (vps_cgroup_kill_procs(cg->v2_fd, &k, err) < 0)
        return -1;
    if (k.n_seen == 0)
        return wait_events(events_fd, deadline_ms, err);
    return vps_cgroup_killer_wait(&k, deadline_ms, err);
}

int vps_cgroup_v2_kill_all(const struct vps_cgroup *cg, struct vps_error *err)
{
    uint64_t deadline_ms = vps_cgroup_now_ms() + VPS_CGROUP_KILL_TIMEOUT_MS;
    cleanup_close int events_fd = open_events(cg, err);
    bool populated;

    if (events_fd < 0)
        return -1;
    /* cgroup.kill (5.14) kills the whole subtree and, unlike a walk of cgroup.procs, also
     * whatever forks while it runs. */
    int has_kill = vps_cgroup_write_opt(cg->v2_fd, "cgroup.kill", "1", 0, NULL, err);
    if (has_kill < 0)
        return -1;
    for (;;) {
        if (read_populated(events_fd, &populated, err) < 0)
            return -1;
        if (!populated)
            return 0;
        if (vps_cgroup_remaining_ms(deadline_ms) == 0)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "processes still running after %d ms",
                                 VPS_CGROUP_KILL_TIMEOUT_MS);
        if (has_kill ? wait_events(events_fd, deadline_ms, err) < 0
                     : kill_round_fallback(cg, events_fd, deadline_ms, err) < 0)
            return -1;
    }
}

/* ---- statistics ---- */

int vps_cgroup_v2_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                        struct vps_error *err)
{
    int fd = cg->v2_fd;
    uint64_t usage_usec;

    /* All optional: memory.peak is 5.19, and a controller may be off (tests on a hybrid
     * host's controller-less unified tree). */
    if (vps_cgroup_read_key(fd, "cpu.stat", "usage_usec", true, &usage_usec, err) < 0)
        return -1;
    ret->cpu_usage_ns = usage_usec * 1000;
    if (vps_cgroup_read_u64(fd, "memory.current", true, &ret->memory_current_bytes, err) < 0)
        return -1;
    if (vps_cgroup_read_u64(fd, "memory.peak", true, &ret->memory_peak_bytes, err) < 0)
        return -1;
    if (vps_cgroup_read_u64(fd, "pids.current", true, &ret->pids_current, err) < 0)
        return -1;
    return vps_cgroup_read_key(fd, "memory.events", "oom_kill", true, &ret->oom_kills, err);
}
