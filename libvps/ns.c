/* Pinning namespaces onto files with bind mounts of their nsfs inodes, opening them again,
 * and undoing the pins. Creating a VPS's namespaces is spawn.c's; which VPS's namespaces are
 * pinned where is vpsd's supervisor's. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "vps/macro.h"
#include "vps/ns.h"

/* Upper bound on mounts stacked on one pin that vps_ns_unpin() peels off; only a race of two
 * pins could stack them, but the loop must end. */
#define MAX_STACKED 8

static bool is_nsfs(int fd)
{
    struct statfs sfs;
    return fstatfs(fd, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

int vps_ns_pin(int ns_fd, int dir_fd, const char *name, struct vps_error *err)
{
    cleanup_close int target = -1, tree = -1;
    struct stat st;

    /* O_NOFOLLOW: the run dir is root's, but a pin is never made through a symlink. */
    target = openat(dir_fd, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (target < 0)
        return vps_error_errno(err, errno, "create '%s'", name);
    if (is_nsfs(target))
        return vps_error_set(err, VPS_ERR_EXISTS, "'%s' pins a namespace already", name);
    if (fstat(target, &st) < 0 || !S_ISREG(st.st_mode))
        return vps_error_set(err, VPS_ERR_SYSTEM, "'%s' is not a regular file", name);
    /* The kernel lets nsfs inodes be cloned although nsfs is no mount of this namespace. */
    tree = open_tree(ns_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0)
        return vps_error_errno(err, errno, "clone namespace for '%s'", name);
    if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return vps_error_errno(err, errno, "mount namespace on '%s'", name);
    return 0;
}

int vps_ns_open_pinned(int dir_fd, const char *name, int nstype, int *ret_fd, struct vps_error *err)
{
    cleanup_close int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int type;

    if (fd < 0 && errno == ENOENT)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "no namespace pinned at '%s'", name);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", name);
    if (!is_nsfs(fd))
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "no namespace pinned at '%s'", name);
    type = ioctl(fd, NS_GET_NSTYPE);
    if (type < 0)
        return vps_error_errno(err, errno, "type of namespace '%s'", name);
    if (type != nstype)
        return vps_error_set(err, VPS_ERR_SYSTEM, "'%s' pins another kind of namespace", name);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int vps_ns_check_owner(int ns_fd, int userns_fd, struct vps_error *err)
{
    cleanup_close int owner = ioctl(ns_fd, NS_GET_USERNS);
    struct stat a, b;

    if (owner < 0)
        return vps_error_errno(err, errno, "owner of namespace");
    if (fstat(owner, &a) < 0 || fstat(userns_fd, &b) < 0)
        return vps_error_errno(err, errno, "stat user namespace");
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return vps_error_set(err, VPS_ERR_SYSTEM, "namespace not owned by the user namespace");
    return 0;
}

int vps_ns_unpin(int dir_fd, const char *name, struct vps_error *err)
{
    char path[64 + 256];

    if (snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dir_fd, name) >= (int) sizeof path)
        return vps_error_set(err, VPS_ERR_SYSTEM, "name '%s' too long", name);
    /* umount2() takes a path only; dir_fd's magic link keeps it relative to the dir. EINVAL:
     * not a mount point (any more). */
    for (int i = 0; i < MAX_STACKED; i++)
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
            if (errno == EINVAL || errno == ENOENT)
                break;
            return vps_error_errno(err, errno, "unmount '%s'", name);
        }
    if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "remove '%s'", name);
    return 0;
}
