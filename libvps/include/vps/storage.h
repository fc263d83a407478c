/* Root filesystem storage behind one interface, with backends. "dir" (a plain directory
 * tree: no quota, no instant snapshot) is the first and the default; a btrfs pool comes
 * next. Every rootfs operation of vpsd goes through here. */
#pragma once

#include <stdint.h>

#include "error.h"

enum vps_storage_backend {
    VPS_STORAGE_DIR,
};

struct vps_storage {
    enum vps_storage_backend backend;
};

/* Creates dst_dir_fd/dst_name as a copy of the tree at src_fd (a template rootfs),
 * preserving types, modes, owners, times, symlinks, hard links, fifos, sockets and
 * extended attributes. Never follows a symlink, never crosses into another mount. On
 * failure nothing is left at dst_name. dst_name must not exist (VPS_ERR_EXISTS). */
int vps_storage_create(const struct vps_storage *st, int src_fd, int dst_dir_fd,
                       const char *dst_name, struct vps_error *err);

/* Removes dir_fd/name and everything below it, without following symlinks or crossing
 * mount points (a VPS's root owns its rootfs and may have planted either). A missing
 * name is success. */
int vps_storage_destroy(const struct vps_storage *st, int dir_fd, const char *name,
                        struct vps_error *err);

/* Bytes used by the tree (blocks allocated, hard links counted once). */
int vps_storage_usage(const struct vps_storage *st, int dir_fd, const char *name,
                      uint64_t *ret_bytes, struct vps_error *err);
