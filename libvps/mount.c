/* A VPS's mount tree, built in the spawned child with the new mount API: the idmapped rootfs,
 * /proc and /sys with masks, a minimal /dev, the configured binds from the host, then
 * pivot_root. Paths inside the rootfs are resolved only with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS). Namespaces and the clone itself are spawn.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "syscalls.h"
#include "vps/mount.h"
#include "vps/path.h"

/* Files under /proc that show or change host-wide kernel state; each is covered by a
 * read-only bind of /dev/null. The kernel refuses most writes from a non-initial user
 * namespace anyway; the masks also hide what reading would reveal (kernel addresses,
 * timers of the whole host, other keyrings). */
static const char *const proc_mask_files[] = {
    "kcore",         "kallsyms",     "kmsg",          "keys",       "key-users",
    "latency_stats", "sched_debug",  "sysrq-trigger", "timer_list", "timer_stats",
    "config.gz",     "pagetypeinfo", "vmallocinfo",
};
/* Directories under /proc and /sys with host hardware or firmware state: covered by an
 * empty read-only tmpfs. */
static const char *const mask_dirs[] = {
    "proc/acpi",        "proc/asound",        "proc/scsi",
    "proc/driver",      "sys/firmware",       "sys/devices/virtual/powercap",
    "sys/kernel/debug", "sys/kernel/tracing",
};
/* Kernel tunables of the whole host: read-only. (/proc/sys as a whole, like Docker: per
 * network-namespace sysctls come with networking.) */
static const char *const proc_ro_dirs[] = {"bus", "fs", "irq", "sys"};

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

/* Opens root/path as an O_PATH directory, creating it (one level) if missing. */
static int ensure_dir(int root_fd, const char *path, mode_t mode, struct vps_error *err)
{
    int fd = vps_path_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);

    if (fd >= 0 || err->errnum != ENOENT)
        return fd;
    *err = (struct vps_error){0};
    /* Only top-level names are created: the parent is the root itself. */
    if (strchr(path, '/'))
        return vps_error_errno(err, ENOENT, "'%s' missing in the rootfs", path);
    if (mkdirat(root_fd, path, mode) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create '%s' in the rootfs", path);
    return vps_path_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
}

static int attach(int mnt_fd, int target_fd, const char *what, struct vps_error *err)
{
    if (move_mount(mnt_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
        0)
        return vps_error_errno(err, errno, "mount %s", what);
    return 0;
}

static int set_attr(int mnt_fd, uint64_t set, int userns_fd, bool recursive, const char *what,
                    struct vps_error *err)
{
    struct mount_attr a = {.attr_set = set, .userns_fd = (uint64_t) userns_fd};

    if (mount_setattr(mnt_fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0)
        return vps_error_errno(err, errno, "set attributes of %s", what);
    return 0;
}

/* fsopen + options + fsmount: a new, detached filesystem instance. */
static int new_fs(const char *type, const char *const *opts, size_t n_opts, uint64_t attrs,
                  struct vps_error *err)
{
    cleanup_close int fs = fsopen(type, FSOPEN_CLOEXEC);

    if (fs < 0)
        return vps_error_errno(err, errno, "fsopen '%s'", type);
    for (size_t i = 0; i + 1 < n_opts; i += 2)
        if (fsconfig(fs, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0) < 0)
            return vps_error_errno(err, errno, "%s: option %s=%s", type, opts[i], opts[i + 1]);
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return vps_error_errno(err, errno, "create %s", type);
    int m = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned) attrs);
    if (m < 0)
        return vps_error_errno(err, errno, "fsmount %s", type);
    return m;
}

/* Mounts a clone of the host's src (a path in the host's tree: we have not pivoted yet)
 * read-only over root/path. A missing target is not an error: the kernel has no such file. */
static int bind_host_ro(int root_fd, const char *path, const char *src, struct vps_error *err)
{
    cleanup_close int t = vps_path_open_in_root(root_fd, path, O_PATH, err);
    cleanup_close int m = -1;

    if (t < 0 && err->errnum == ENOENT) {
        *err = (struct vps_error){0};
        return 0;
    }
    if (t < 0)
        return -1;
    m = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (m < 0)
        return vps_error_errno(err, errno, "clone '%s'", src);
    if (set_attr(m, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, -1, false, path,
                 err) < 0)
        return -1;
    return attach(m, t, path, err);
}

static int mask_dir(int root_fd, const char *path, struct vps_error *err)
{
    static const char *const opts[] = {"mode", "0555", "size", "0"};
    cleanup_close int t = vps_path_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
    cleanup_close int m = -1;

    if (t < 0 && (err->errnum == ENOENT || err->errnum == ENOTDIR)) {
        *err = (struct vps_error){0};
        return 0;
    }
    if (t < 0)
        return -1;
    m = new_fs("tmpfs", opts, ELEMENTSOF(opts),
               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (m < 0)
        return -1;
    return attach(m, t, path, err);
}

/* A read-only bind of root/path onto itself. */
static int remount_ro(int root_fd, const char *path, struct vps_error *err)
{
    cleanup_close int t = vps_path_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
    cleanup_close int m = -1;

    if (t < 0 && err->errnum == ENOENT) {
        *err = (struct vps_error){0};
        return 0;
    }
    if (t < 0)
        return -1;
    m = open_tree(t, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (m < 0)
        return vps_error_errno(err, errno, "clone '%s'", path);
    if (set_attr(m, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                 -1, true, path, err) < 0)
        return -1;
    return attach(m, t, path, err);
}

static int mount_root(const struct vps_mount_opts *o, int *ret_root, struct vps_error *err)
{
    cleanup_close int src = open(o->rootfs_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_close int m = -1;

    if (src < 0)
        return vps_error_errno(err, errno, "open rootfs");
    m = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (m < 0)
        return vps_error_errno(err, errno, "clone rootfs");
    /* The rootfs keeps ids 0..65535 on disk; the idmapped mount shows them as the VPS's own
     * host range, so one tree serves any range and no chown is needed (Linux 5.12+; ext4,
     * xfs, btrfs, tmpfs (6.3+)). */
    if (o->idmapped &&
        set_attr(m, MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV, o->userns_fd, false, "rootfs", err) < 0)
        return vps_error_prefix(err, "idmapped mount");
    if (!o->idmapped && set_attr(m, MOUNT_ATTR_NODEV, -1, false, "rootfs", err) < 0)
        return -1;
    if (move_mount(m, "", src, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return vps_error_errno(err, errno, "mount rootfs");
    /* Reopened: src is the directory under the new mount, this is the mount's root. */
    *ret_root = open(o->rootfs_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*ret_root < 0)
        return vps_error_errno(err, errno, "open mounted rootfs");
    return 0;
}

static int mount_proc(int root_fd, struct vps_error *err)
{
    cleanup_close int t = ensure_dir(root_fd, "proc", 0555, err);
    cleanup_close int m = -1;

    if (t < 0)
        return -1;
    /* procfs shows the pid namespace of the process that creates it: ours, the VPS's. */
    m = new_fs("proc", NULL, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (m < 0 || attach(m, t, "/proc", err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(proc_mask_files); i++) {
        char p[64];
        (void) snprintf(p, sizeof p, "proc/%s", proc_mask_files[i]);
        if (bind_host_ro(root_fd, p, "/dev/null", err) < 0)
            return -1;
    }
    for (size_t i = 0; i < ELEMENTSOF(proc_ro_dirs); i++) {
        char p[64];
        (void) snprintf(p, sizeof p, "proc/%s", proc_ro_dirs[i]);
        if (remount_ro(root_fd, p, err) < 0)
            return -1;
    }
    return 0;
}

static int mount_sys(int root_fd, struct vps_error *err)
{
    cleanup_close int t = ensure_dir(root_fd, "sys", 0555, err);
    cleanup_close int m = -1;

    if (t < 0)
        return -1;
    /* sysfs shows the network namespace of its creator: the child joined the VPS's before. */
    m = new_fs("sysfs", NULL, 0,
               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (m < 0)
        return -1;
    return attach(m, t, "/sys", err);
}

static int dev_node(int dev_fd, const char *name, struct vps_error *err)
{
    char src[32];
    cleanup_close int f = openat(dev_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    cleanup_close int m = -1;

    if (f < 0)
        return vps_error_errno(err, errno, "create /dev/%s", name);
    /* In a user namespace the VPS could not mknod these; the host's nodes are bound in. */
    (void) snprintf(src, sizeof src, "/dev/%s", name);
    m = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (m < 0)
        return vps_error_errno(err, errno, "clone '%s'", src);
    if (move_mount(m, "", dev_fd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return vps_error_errno(err, errno, "mount /dev/%s", name);
    return 0;
}

static int mount_dev(int root_fd, uint32_t host_base, struct vps_error *err)
{
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
    };
    char uid[16];
    const char *opts[] = {"mode", "0755", "size", "1048576", "nr_inodes",
                          "4096", "uid",  uid,    "gid",     uid};
    cleanup_close int t = ensure_dir(root_fd, "dev", 0755, err);
    cleanup_close int m = -1, dev = -1;

    if (t < 0)
        return -1;
    /* Owned by the VPS's root, so that it can add what its services need. */
    (void) snprintf(uid, sizeof uid, "%u", host_base);
    m = new_fs("tmpfs", opts, ELEMENTSOF(opts), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
    if (m < 0 || attach(m, t, "/dev", err) < 0)
        return -1;
    dev = vps_path_open_in_root(root_fd, "dev", O_RDONLY | O_DIRECTORY, err);
    if (dev < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(dev_nodes); i++)
        if (dev_node(dev, dev_nodes[i], err) < 0)
            return -1;
    for (size_t i = 0; i < ELEMENTSOF(links); i++)
        if (symlinkat(links[i][1], dev, links[i][0]) < 0 ||
            fchownat(dev, links[i][0], host_base, host_base, AT_SYMLINK_NOFOLLOW) < 0)
            return vps_error_errno(err, errno, "create /dev/%s", links[i][0]);
    if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
        fchownat(dev, "pts", host_base, host_base, 0) < 0 ||
        fchownat(dev, "shm", host_base, host_base, 0) < 0 || fchmodat(dev, "shm", 01777, 0) < 0)
        return vps_error_errno(err, errno, "create /dev/pts and /dev/shm");
    return 0;
}

/* ---- bind mounts from the host ---- */

/* A source on the host (we have not pivoted yet), without following symlinks: the path may
 * run through a tree a VPS's root owns (its rootfs, a directory shared with it), where a
 * planted link could point at any file of the host. */
static int open_bind_source(const struct vps_mount_bind *b, struct stat *ret_st,
                            struct vps_error *err)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    cleanup_close int fd = vps_sys_openat2(AT_FDCWD, b->source, &how, sizeof how);

    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return vps_error_set(err, VPS_ERR_INVALID, "the source does not exist on the host");
    if (fd < 0 && errno == ELOOP)
        return vps_error_set(err, VPS_ERR_INVALID, "the source is or goes through a symlink");
    if (fd < 0)
        return vps_error_errno(err, errno, "open the source");
    if (fstat(fd, ret_st) < 0)
        return vps_error_errno(err, errno, "stat the source");
    if (S_ISLNK(ret_st->st_mode))
        return vps_error_set(err, VPS_ERR_INVALID, "the source is or goes through a symlink");
    return TAKE_FD(fd);
}

/* The mount point inside the rootfs, which must be there already and be of the source's
 * kind: nothing is created on the VPS's behalf, and a symlink there is refused rather than
 * followed. */
static int open_bind_target(int root_fd, const struct vps_mount_bind *b, bool dir,
                            struct vps_error *err)
{
    cleanup_close int fd = vps_path_open_in_root(root_fd, b->target, O_PATH, err);
    struct stat st;

    if (fd < 0) {
        int e = err->errnum;
        *err = (struct vps_error){0};
        if (e == ENOENT || e == ENOTDIR)
            return vps_error_set(err, VPS_ERR_INVALID, "the target does not exist in the rootfs");
        if (e == ELOOP)
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "the target is or goes through a symlink in the rootfs");
        return vps_error_errno(err, e, "open the target in the rootfs");
    }
    if (fstat(fd, &st) < 0)
        return vps_error_errno(err, errno, "stat the target");
    /* With O_PATH | O_NOFOLLOW, openat2() hands out a final symlink itself. */
    if (S_ISLNK(st.st_mode))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "the target is or goes through a symlink in the rootfs");
    if (dir && !S_ISDIR(st.st_mode))
        return vps_error_set(err, VPS_ERR_INVALID, "the target is not a directory, the source is");
    if (!dir && !S_ISREG(st.st_mode))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "the target is not a regular file to mount the source on");
    return TAKE_FD(fd);
}

/* A non-recursive clone: what is mounted below the source on the host stays out of the VPS,
 * and nothing under the bind can be uncovered later. Always nosuid and nodev. */
static int bind_one(int root_fd, const struct vps_mount_opts *o, const struct vps_mount_bind *b,
                    struct vps_error *err)
{
    struct stat st;
    uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b->readonly ? MOUNT_ATTR_RDONLY : 0);
    cleanup_close int src = open_bind_source(b, &st, err), t = -1, m = -1;

    if (src < 0)
        return -1;
    t = open_bind_target(root_fd, b, S_ISDIR(st.st_mode), err);
    if (t < 0)
        return -1;
    m = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (m < 0)
        return vps_error_errno(err, errno, "clone the source");
    /* Like the rootfs: the host's ids seen through the VPS's user namespace, so that files
     * the host's root owns belong to the VPS's root, not to nobody. */
    if (o->idmapped)
        attrs |= MOUNT_ATTR_IDMAP;
    if (set_attr(m, attrs, o->userns_fd, false, "the bind", err) < 0) {
        if (!o->idmapped || err->errnum != EINVAL)
            return -1;
        *err = (struct vps_error){0};
        return vps_error_set(err, VPS_ERR_INVALID, "the source's filesystem cannot be idmapped");
    }
    return attach(m, t, "the bind", err);
}

static int bind_all(int root_fd, const struct vps_mount_opts *o, struct vps_error *err)
{
    for (size_t i = 0; i < o->n_binds; i++)
        if (bind_one(root_fd, o, &o->binds[i], err) < 0)
            return vps_error_prefix(err, "mount '%.160s' on '%.160s'", o->binds[i].source,
                                    o->binds[i].target);
    return 0;
}

static int pivot(int root_fd, struct vps_error *err)
{
    /* pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
     * drops the old root, with the host's whole tree under it, from this namespace. */
    if (fchdir(root_fd) < 0)
        return vps_error_errno(err, errno, "chdir into rootfs");
    if (vps_sys_pivot_root(".", ".") < 0)
        return vps_error_errno(err, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        return vps_error_errno(err, errno, "detach the host's root");
    if (chdir("/") < 0)
        return vps_error_errno(err, errno, "chdir /");
    return 0;
}

int vps_mount_idmap_supported(const char *path, int userns_fd, bool *ret, struct vps_error *err)
{
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) userns_fd};
    cleanup_close int m = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

    if (m < 0)
        return vps_error_errno(err, errno, "clone '%s'", path);
    if (mount_setattr(m, "", AT_EMPTY_PATH, &a, sizeof a) == 0) {
        *ret = true;
        return 0;
    }
    /* EINVAL: the filesystem (or this kernel) cannot; anything else is a real failure. */
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
        return vps_error_errno(err, errno, "probe idmapped mounts on '%s'", path);
    *ret = false;
    return 0;
}

int vps_mount_setup_root(const struct vps_mount_opts *o, struct vps_error *err)
{
    cleanup_close int root = -1;

    /* Nothing done here may propagate back into the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return vps_error_errno(err, errno, "make mounts private");
    if (mount_root(o, &root, err) < 0 || mount_proc(root, err) < 0 || mount_sys(root, err) < 0 ||
        mount_dev(root, o->host_base, err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(mask_dirs); i++)
        if (mask_dir(root, mask_dirs[i], err) < 0)
            return -1;
    if (bind_all(root, o, err) < 0)
        return -1;
    return pivot(root, err);
}

int vps_mount_setup_inside(struct vps_error *err)
{
    /* A devpts instance of the VPS's own: its ptys are invisible to the host's and other
     * VPSes'. gid=5 is the "tty" group inside the VPS. */
    if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        return vps_error_errno(err, errno, "mount /dev/pts");
    if (mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=67108864") < 0)
        return vps_error_errno(err, errno, "mount /dev/shm");
    return 0;
}
