/* A VPS's mount tree: its rootfs (idmapped to the VPS's user namespace), /proc, /sys, a
 * minimal /dev, binds from the host, and the masks and read-only mounts that keep the VPS
 * off host interfaces. All of it is built with the new mount API on fds, with every path
 * inside the rootfs resolved by openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS): the VPS's
 * root owns the rootfs and may have planted symlinks anywhere. Runs in the spawned child
 * (spawn.c), while its mount namespace still belongs to the host, so that the masks get
 * locked (MNT_LOCKED) when the namespace is copied into the VPS's user namespace. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* A file or directory of the host mounted into the VPS (config "mounts"). */
struct vps_mount_bind {
    const char *source; /* absolute host path; no component may be a symlink */
    const char *target; /* absolute path inside the rootfs; must exist, of the source's kind
                         * (a directory for a directory, a regular file otherwise) */
    bool readonly;
};

struct vps_mount_opts {
    /* The rootfs as an absolute path of vpsd's state dir, resolved again in the child: fds
     * opened before the clone name mounts of vpsd's namespace, which open_tree() and
     * move_mount() refuse in another one. */
    const char *rootfs_path;
    int userns_fd;      /* the VPS's user namespace, for the idmapped mount */
    bool idmapped;      /* false: the rootfs is stored shifted into the VPS's range */
    uint32_t host_base; /* host uid/gid of VPS root: owner of /dev, /dev/shm */
    const struct vps_mount_bind *binds; /* mounted in this order, after /dev */
    size_t n_binds;
};

/* Whether the filesystem at path can be idmapped (Linux 5.12; ext4, xfs, btrfs; tmpfs from
 * 6.3), tried with a detached clone that is dropped at once. userns_fd: any user namespace
 * with a mapping. */
int vps_mount_idmap_supported(const char *path, int userns_fd, bool *ret, struct vps_error *err);

/* In the child, in its own (host-owned) mount namespace with everything private: builds the
 * tree and pivots into it. On return "/" is the VPS's root. Each bind is a non-recursive
 * clone of its source, nosuid and nodev, read-only if asked, idmapped like the rootfs when
 * the rootfs is; like the masks it is locked once the VPS's user namespace owns the tree.
 * A bind whose source is missing on the host, whose target is missing in the rootfs, either
 * of which is or passes through a symlink, or whose kinds differ, is VPS_ERR_INVALID naming
 * both paths ("mount '/srv/www' on '/var/www': the target does not exist in the rootfs"). */
int vps_mount_setup_root(const struct vps_mount_opts *o, struct vps_error *err);

/* In the child, after it has joined the VPS's user namespace and unshared a mount namespace
 * of its own: the mounts the VPS's root may own (devpts, /dev/shm). */
int vps_mount_setup_inside(struct vps_error *err);
