/* A VPS's mount tree: its rootfs (idmapped to the VPS's user namespace), /proc, /sys, a
 * minimal /dev, and the masks and read-only mounts that keep the VPS off host interfaces.
 * All of it is built with the new mount API on fds, with every path inside the rootfs
 * resolved by openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS): the VPS's root owns the rootfs
 * and may have planted symlinks anywhere. Runs in the spawned child (spawn.c), while its
 * mount namespace still belongs to the host, so that the masks get locked (MNT_LOCKED) when
 * the namespace is copied into the VPS's user namespace. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct vps_mount_opts {
    /* The rootfs as an absolute path of vpsd's state dir, resolved again in the child: fds
     * opened before the clone name mounts of vpsd's namespace, which open_tree() and
     * move_mount() refuse in another one. */
    const char *rootfs_path;
    int userns_fd;      /* the VPS's user namespace, for the idmapped mount */
    bool idmapped;      /* false: the rootfs is stored shifted into the VPS's range */
    uint32_t host_base; /* host uid/gid of VPS root: owner of /dev, /dev/shm */
};

/* Whether the filesystem at path can be idmapped (Linux 5.12; ext4, xfs, btrfs; tmpfs from
 * 6.3), tried with a detached clone that is dropped at once. userns_fd: any user namespace
 * with a mapping. */
int vps_mount_idmap_supported(const char *path, int userns_fd, bool *ret, struct vps_error *err);

/* In the child, in its own (host-owned) mount namespace with everything private: builds the
 * tree and pivots into it. On return "/" is the VPS's root. */
int vps_mount_setup_root(const struct vps_mount_opts *o, struct vps_error *err);

/* In the child, after it has joined the VPS's user namespace and unshared a mount namespace
 * of its own: the mounts the VPS's root may own (devpts, /dev/shm). */
int vps_mount_setup_inside(struct vps_error *err);
