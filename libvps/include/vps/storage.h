/* Root filesystem storage behind one interface, with backends. "dir" (a plain directory
 * tree: no quota, no instant snapshot) is the first and the default; a btrfs pool comes
 * next. Every rootfs operation of vpsd goes through here. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum vps_storage_backend {
    VPS_STORAGE_DIR,
};

struct vps_storage {
    enum vps_storage_backend backend;
};

/* The longest name vps_storage_create() and vps_storage_mkdtemp_at() accept: room is kept
 * for the temporary ".<name>.tmp-XXXXXXXX" a tree is built under. All names are single path
 * components (VPS_ERR_INVALID otherwise). Every function here is safe in a forked child. */
#define VPS_STORAGE_NAME_MAX 200

/* Creates dst_dir_fd/dst_name as a copy of the tree at src_fd (a template rootfs; O_PATH
 * is fine), preserving types, modes, owners, times, symlinks, hard links, fifos, sockets,
 * holes and extended attributes. Never follows a symlink, never crosses into another mount:
 * a mount point inside the source is refused (VPS_ERR_CONFLICT, naming it), since skipping
 * it would give a silently incomplete rootfs. A source nested deeper than 256 levels is
 * VPS_ERR_INVALID; a device node the caller may not create fails with mknodat()'s errno.
 * dst_name must not exist (VPS_ERR_EXISTS). The tree is on disk (syncfs) before it appears
 * at dst_name; on failure nothing is left at dst_name. */
int vps_storage_create(const struct vps_storage *st, int src_fd, int dst_dir_fd,
                       const char *dst_name, struct vps_error *err);

/* As vps_storage_create(), with id_shift added to every owner and group: the rootfs of a VPS
 * whose filesystem cannot do idmapped mounts is stored in the VPS's own host id range.
 * Source ids must be below VPS_STORAGE_SHIFT_IDS (VPS_ERR_INVALID otherwise). */
#define VPS_STORAGE_SHIFT_IDS 65536U
int vps_storage_create_shifted(const struct vps_storage *st, int src_fd, int dst_dir_fd,
                               const char *dst_name, uint32_t id_shift, struct vps_error *err);

/* Removes dir_fd/name and everything below it, without following symlinks or crossing
 * mount points (a VPS's root owns its rootfs and may have planted either). A missing
 * name is success. A mount point met on the way is VPS_ERR_CONFLICT naming its path; what
 * was already removed stays removed, the mount point and what leads to it stay. A tree of
 * any depth is removed (subtrees deeper than the walk's bound are first moved up). EPERM
 * from an immutable or append-only file is reported as it is. */
int vps_storage_destroy(const struct vps_storage *st, int dir_fd, const char *name,
                        struct vps_error *err);

/* Bytes used by the tree (blocks allocated, hard links counted once). Mount points inside
 * are skipped (not counted); a tree deeper than 256 levels is VPS_ERR_INVALID. */
int vps_storage_usage(const struct vps_storage *st, int dir_fd, const char *name,
                      uint64_t *ret_bytes, struct vps_error *err);

/* Creates dir_fd/".<name>.tmp-XXXXXXXX" (mode 0700, random suffix) and writes its name to
 * ret_tmp, for building a tree that is renamed into place once complete. size must be at
 * least NAME_MAX + 1. */
int vps_storage_mkdtemp_at(int dir_fd, const char *name, char *ret_tmp, size_t size,
                           struct vps_error *err);

/* Removes what interrupted builds left in dir_fd: ".<name>.tmp-*" entries, or those of
 * every name when name is NULL. Only for when no build can be running there (vpsd's
 * startup): a running build's temporary tree looks just the same. */
int vps_storage_remove_stale(const struct vps_storage *st, int dir_fd, const char *name,
                             struct vps_error *err);
