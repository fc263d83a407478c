/* The cgroup layer both backends sit behind: mode detection, argument checks, the dispatch
 * of each operation to cgroup-v1.c or cgroup-v2.c, and the cgroupfs file helpers they share
 * (optional writes, bounded reads, cgroup.procs walking, killing by pidfd). What a limit
 * means in each cgroup version is the backends' business. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/vfs.h>
#include <time.h>

#include "cgroup-internal.h"
#include "vps/fd.h"

enum vps_cgroup_mode vps_cgroup_detect_mode(const char *root)
{
    char unified[4096];
    struct statfs fs;

    if (statfs(root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
        return VPS_CGROUP_V2;
    (void) snprintf(unified, sizeof unified, "%s/unified", root);
    if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
        return VPS_CGROUP_HYBRID;
    return VPS_CGROUP_V1;
}

const char *vps_cgroup_mode_name(enum vps_cgroup_mode m)
{
    switch (m) {
    case VPS_CGROUP_V2:
        return "v2";
    case VPS_CGROUP_HYBRID:
        return "hybrid";
    case VPS_CGROUP_V1:
        return "v1";
    }
    return "v1";
}

/* Every subset of the skip bits as one literal, so that apply_limits can hand out a static
 * string: each level doubles the table, appending its name after those of the lower bits.
 * Each entry starts with a ',' that vps_cgroup_skipped_name() steps over. */
#define SKIP_T0(s) s, ",memory" s
#define SKIP_T1(s) SKIP_T0(s), SKIP_T0(",swap" s)
#define SKIP_T2(s) SKIP_T1(s), SKIP_T1(",cpu" s)
#define SKIP_T3(s) SKIP_T2(s), SKIP_T2(",cpuset" s)
#define SKIP_T4(s) SKIP_T3(s), SKIP_T3(",pids" s)
#define SKIP_T5(s) SKIP_T4(s), SKIP_T4(",io" s)
static const char *const skipped_names[_VPS_CGROUP_SKIP_ALL + 1] = {SKIP_T5("")};

const char *vps_cgroup_skipped_name(unsigned skipped)
{
    skipped &= _VPS_CGROUP_SKIP_ALL;
    return skipped ? skipped_names[skipped] + 1 : NULL;
}

/* ---- host and cgroup lifecycle ---- */

static void init_fds(int *fds, uint8_t *hier)
{
    for (size_t i = 0; i < VPS_CGROUP_V1_MAX; i++) {
        fds[i] = -1;
        hier[i] = (uint8_t) i;
    }
}

/* One plain path component: no '/', and no leading '.', so neither ".." nor a hidden name. A
 * name that happens to be an interface file ("tasks" on v1) fails later, with ENOTDIR. */
static int validate_prefix(const char *prefix, struct vps_error *err)
{
    size_t len = prefix ? strlen(prefix) : 0;

    if (len == 0 || len > 64 || prefix[0] == '.' ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "cgroup prefix '%.64s' is not a plain directory name", prefix ?: "");
    return 0;
}

int vps_cgroup_host_init(const char *mount_root, const char *prefix, struct vps_cgroup_host *ret,
                         struct vps_error *err)
{
    return vps_cgroup_host_init_flags(mount_root, prefix, 0, ret, err);
}

int vps_cgroup_host_init_flags(const char *mount_root, const char *prefix, unsigned flags,
                               struct vps_cgroup_host *ret, struct vps_error *err)
{
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {.v2_fd = -1};
    int r;

    if (validate_prefix(prefix, err) < 0)
        return -1;
    init_fds(h.v1_fds, h.v1_hier);
    h.mode = vps_cgroup_detect_mode(mount_root);
    h.mount_root = strdup(mount_root);
    h.prefix = strdup(prefix);
    if (!h.mount_root || !h.prefix)
        return vps_error_errno(err, ENOMEM, "cgroups at '%s'", mount_root);

    if (h.mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_host_init(&h, flags, err);
    else
        r = vps_cgroup_v1_host_init(&h, flags, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroups (%s) at '%s'", vps_cgroup_mode_name(h.mode),
                                mount_root);
    *ret = h;
    h = (struct vps_cgroup_host){0}; /* moved to *ret; zeroed is "empty" to the cleanup */
    return 0;
}

void vps_cgroup_host_done(struct vps_cgroup_host *h)
{
    if (!h->mount_root)
        return;
    vps_closep(&h->v2_fd);
    for (size_t i = 0; i < VPS_CGROUP_V1_MAX; i++)
        vps_closep(&h->v1_fds[i]);
    free(h->mount_root);
    free(h->prefix);
    /* Empty again, with fds that read as "none" rather than as fd 0. */
    *h = (struct vps_cgroup_host){.mode = h->mode, .v2_fd = -1};
    init_fds(h->v1_fds, h->v1_hier);
}

typedef int (*open_fn)(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *cg,
                       struct vps_error *err);

static int open_with(const struct vps_cgroup_host *h, const char *name, open_fn v1, open_fn v2,
                     struct vps_cgroup *ret, struct vps_error *err)
{
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {.mode = h->mode, .v2_fd = -1};

    if (vps_name_validate(name, "cgroup", err) < 0)
        return -1;
    init_fds(cg.v1_fds, cg.v1_hier);
    if (asprintf(&cg.name, "%s/%s", h->prefix, name) < 0) {
        cg.name = NULL;
        return vps_error_errno(err, ENOMEM, "cgroup '%s'", name);
    }
    if ((h->mode == VPS_CGROUP_V2 ? v2 : v1)(h, name, &cg, err) < 0)
        return vps_error_prefix(err, "cgroup '%s'", cg.name);
    *ret = cg;
    cg = (struct vps_cgroup){0}; /* moved to *ret */
    return 0;
}

int vps_cgroup_create(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *ret,
                      struct vps_error *err)
{
    return open_with(h, name, vps_cgroup_v1_create, vps_cgroup_v2_create, ret, err);
}

int vps_cgroup_open(const struct vps_cgroup_host *h, const char *name, struct vps_cgroup *ret,
                    struct vps_error *err)
{
    return open_with(h, name, vps_cgroup_v1_open, vps_cgroup_v2_open, ret, err);
}

void vps_cgroup_done(struct vps_cgroup *cg)
{
    if (!cg->name)
        return;
    vps_closep(&cg->v2_fd);
    for (size_t i = 0; i < VPS_CGROUP_V1_MAX; i++)
        vps_closep(&cg->v1_fds[i]);
    free(cg->name);
    *cg = (struct vps_cgroup){.mode = cg->mode, .v2_fd = -1};
    init_fds(cg->v1_fds, cg->v1_hier);
}

int vps_cgroup_remove(const struct vps_cgroup_host *h, const char *name, struct vps_error *err)
{
    int r;

    if (vps_name_validate(name, "cgroup", err) < 0)
        return -1;
    if (h->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_remove(h, name, err);
    else
        r = vps_cgroup_v1_remove(h, name, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s/%s'", h->prefix, name);
    return 0;
}

/* ---- operations on one cgroup ---- */

int vps_cgroup_apply_limits(const struct vps_cgroup *cg, const struct vps_limits *l,
                            const char **ret_skipped, struct vps_error *err)
{
    unsigned skipped = 0;
    int r;

    if (cg->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_apply_limits(cg, l, &skipped, err);
    else
        r = vps_cgroup_v1_apply_limits(cg, l, &skipped, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s'", cg->name);
    if (ret_skipped)
        *ret_skipped = vps_cgroup_skipped_name(skipped);
    return 0;
}

int vps_cgroup_attach(const struct vps_cgroup *cg, pid_t pid, struct vps_error *err)
{
    int r;

    if (pid <= 0)
        return vps_error_set(err, VPS_ERR_INVALID, "cgroup '%s': attach: bad pid %d", cg->name,
                             (int) pid);
    if (cg->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_attach(cg, pid, err);
    else
        r = vps_cgroup_v1_attach(cg, pid, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s': attach pid %d", cg->name, (int) pid);
    return 0;
}

int vps_cgroup_clone_fd(const struct vps_cgroup *cg)
{
    return cg->mode == VPS_CGROUP_V2 ? cg->v2_fd : -1;
}

int vps_cgroup_kill_all(const struct vps_cgroup *cg, struct vps_error *err)
{
    int r;

    if (cg->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_kill_all(cg, err);
    else
        r = vps_cgroup_v1_kill_all(cg, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s': kill", cg->name);
    return 0;
}

int vps_cgroup_is_empty(const struct vps_cgroup *cg, bool *ret_empty, struct vps_error *err)
{
    int r;

    if (cg->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_is_empty(cg, ret_empty, err);
    else
        r = vps_cgroup_v1_is_empty(cg, ret_empty, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s'", cg->name);
    return 0;
}

int vps_cgroup_stats(const struct vps_cgroup *cg, struct vps_cgroup_stats *ret,
                     struct vps_error *err)
{
    struct vps_cgroup_stats s = {0};
    int r;

    if (cg->mode == VPS_CGROUP_V2)
        r = vps_cgroup_v2_stats(cg, &s, err);
    else
        r = vps_cgroup_v1_stats(cg, &s, err);
    if (r < 0)
        return vps_error_prefix(err, "cgroup '%s': stats", cg->name);
    *ret = s;
    return 0;
}

/* ---- cgroupfs file helpers ---- */

int vps_cgroup_write_opt(int dir_fd, const char *file, const char *val, unsigned skip_bit,
                         unsigned *skipped, struct vps_error *err)
{
    cleanup_close int fd = -1;
    size_t len = strlen(val);

    if (dir_fd >= 0)
        fd = openat(dir_fd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (dir_fd >= 0 && errno != ENOENT)
            return vps_error_errno(err, errno, "open '%s'", file);
        if (skipped)
            *skipped |= skip_bit;
        return 0;
    }
    /* cgroupfs takes a value in one write(); a short write would be a kernel bug. */
    ssize_t n = write(fd, val, len);
    if (n < 0)
        return vps_error_errno(err, errno, "write '%s' to '%s'", val, file);
    if ((size_t) n != len)
        return vps_error_set(err, VPS_ERR_SYSTEM, "short write to '%s'", file);
    return 1;
}

int vps_cgroup_read(int dir_fd, const char *file, bool optional, char **ret, struct vps_error *err)
{
    cleanup_close int fd = -1;

    if (dir_fd >= 0)
        fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (!optional || (dir_fd >= 0 && errno != ENOENT))
            return vps_error_errno(err, dir_fd >= 0 ? errno : ENOENT, "open '%s'", file);
        *ret = NULL;
        return 0;
    }
    if (vps_read_all(fd, 64 * 1024, ret, NULL, err) < 0)
        return vps_error_prefix(err, "'%s'", file);
    return 0;
}

/* A decimal number or "max", then only whitespace. */
static bool parse_u64(const char *s, const char *end, uint64_t *ret)
{
    uint64_t v = 0;
    const char *p = s;

    if (end - s >= 3 && memcmp(s, "max", 3) == 0) {
        v = UINT64_MAX;
        p = s + 3;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            unsigned d = (unsigned) (*p - '0');
            if (v > (UINT64_MAX - d) / 10)
                return false;
            v = v * 10 + d;
        }
        if (p == s)
            return false;
    }
    for (; p < end; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t')
            return false;
    *ret = v;
    return true;
}

int vps_cgroup_read_u64(int dir_fd, const char *file, bool optional, uint64_t *ret,
                        struct vps_error *err)
{
    cleanup_free char *buf = NULL;

    if (vps_cgroup_read(dir_fd, file, optional, &buf, err) < 0)
        return -1;
    if (!buf) {
        *ret = 0;
        return 0;
    }
    if (!parse_u64(buf, buf + strlen(buf), ret))
        return vps_error_set(err, VPS_ERR_SYSTEM, "'%s': unexpected content '%.32s'", file, buf);
    return 0;
}

bool vps_cgroup_parse_key(const char *buf, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);

    for (const char *line = buf; line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        if ((size_t) (end - line) > klen && memcmp(line, key, klen) == 0 && line[klen] == ' ')
            return parse_u64(line + klen + 1, end, ret);
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

int vps_cgroup_read_key(int dir_fd, const char *file, const char *key, bool optional, uint64_t *ret,
                        struct vps_error *err)
{
    cleanup_free char *buf = NULL;

    if (vps_cgroup_read(dir_fd, file, optional, &buf, err) < 0)
        return -1;
    if (!buf || !vps_cgroup_parse_key(buf, key, ret))
        *ret = 0;
    return 0;
}

/* ---- cgroup.procs ---- */

static int parse_procs_chunk(const char *buf, size_t n, uint64_t *pid, bool *in_num,
                             vps_cgroup_pid_fn fn, void *userdata, struct vps_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c >= '0' && c <= '9') {
            *pid = *pid * 10 + (uint64_t) (c - '0');
            *in_num = true;
            if (*pid > INT_MAX)
                return vps_error_set(err, VPS_ERR_SYSTEM, "'cgroup.procs': pid out of range");
        } else if (c == '\n') {
            if (*in_num) {
                int r = fn((pid_t) *pid, userdata, err);
                if (r != 0)
                    return r;
            }
            *pid = 0;
            *in_num = false;
        } else {
            return vps_error_set(err, VPS_ERR_SYSTEM, "'cgroup.procs': unexpected byte 0x%02x",
                                 (unsigned char) c);
        }
    }
    return 0;
}

int vps_cgroup_foreach_pid(int dir_fd, vps_cgroup_pid_fn fn, void *userdata, struct vps_error *err)
{
    cleanup_close int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    uint64_t pid = 0;
    bool in_num = false;
    char buf[4096];

    if (fd < 0)
        return vps_error_errno(err, errno, "open 'cgroup.procs'");
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vps_error_errno(err, errno, "read 'cgroup.procs'");
        if (n == 0)
            break;
        int r = parse_procs_chunk(buf, (size_t) n, &pid, &in_num, fn, userdata, err);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }
    /* The kernel ends every line with '\n'; a last line without one still counts. */
    if (in_num && fn((pid_t) pid, userdata, err) < 0)
        return -1;
    return 0;
}

static int found_pid(pid_t pid, void *userdata, struct vps_error *err)
{
    (void) pid;
    (void) err;
    *(bool *) userdata = false;
    return 1;
}

int vps_cgroup_procs_empty(int dir_fd, bool *ret_empty, struct vps_error *err)
{
    bool empty = true;

    if (vps_cgroup_foreach_pid(dir_fd, found_pid, &empty, err) < 0)
        return -1;
    *ret_empty = empty;
    return 0;
}

/* ---- killing ---- */

void vps_cgroup_killer_done(struct vps_cgroup_killer *k)
{
    for (size_t i = 0; i < k->n_pidfds; i++)
        vps_closep(&k->pidfds[i]);
    k->n_pidfds = 0;
}

/* A pidfd, not kill(pid): once the pidfd is open the signal cannot hit a recycled pid. The
 * pid itself may already be recycled between reading cgroup.procs and pidfd_open(); v1 closes
 * that window by freezing first (a frozen task cannot exit), v2 by cgroup.kill; only the
 * fallbacks without either keep it. */
static int kill_one(pid_t pid, void *userdata, struct vps_error *err)
{
    struct vps_cgroup_killer *k = userdata;
    cleanup_close int pidfd = pidfd_open(pid, 0);

    k->n_seen++;
    if (pidfd < 0) {
        if (errno == ESRCH)
            return 0; /* exited since cgroup.procs was read */
        return vps_error_errno(err, errno, "pidfd_open %d", (int) pid);
    }
    if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        return vps_error_errno(err, errno, "kill %d", (int) pid);
    if (k->n_pidfds < VPS_CGROUP_KILL_KEEP)
        k->pidfds[k->n_pidfds++] = TAKE_FD(pidfd);
    return 0;
}

int vps_cgroup_kill_procs(int dir_fd, struct vps_cgroup_killer *k, struct vps_error *err)
{
    return vps_cgroup_foreach_pid(dir_fd, kill_one, k, err);
}

int vps_cgroup_killer_wait(struct vps_cgroup_killer *k, uint64_t deadline_ms, struct vps_error *err)
{
    struct pollfd pfds[VPS_CGROUP_KILL_KEEP];
    size_t left = k->n_pidfds;

    for (size_t i = 0; i < k->n_pidfds; i++)
        pfds[i] = (struct pollfd){.fd = k->pidfds[i], .events = POLLIN};
    while (left > 0) {
        int n = poll(pfds, k->n_pidfds, vps_cgroup_remaining_ms(deadline_ms));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vps_cgroup_killer_done(k);
            return vps_error_errno(err, errno, "poll pidfds");
        }
        if (n == 0)
            break; /* the caller checks the cgroup and its deadline */
        for (size_t i = 0; i < k->n_pidfds; i++)
            if (pfds[i].fd >= 0 && pfds[i].revents) {
                pfds[i].fd = -1; /* poll() skips negative fds */
                left--;
            }
    }
    vps_cgroup_killer_done(k);
    return 0;
}

uint64_t vps_cgroup_now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int vps_cgroup_remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = vps_cgroup_now_ms();

    return now >= deadline_ms ? 0 : (int) (deadline_ms - now);
}
