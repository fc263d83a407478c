/* File-descriptor level I/O helpers: whole reads and writes with bounds, fsync of a
 * directory, and reading the extended attributes of an open inode. Path resolution inside a
 * VPS rootfs lives in path.c, not here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int vps_write_all(int fd, const void *buf, size_t len, struct vps_error *err);

/* Reads fd to EOF into a new NUL-terminated buffer owned by the caller. Fails with
 * VPS_ERR_TOO_LARGE past max_bytes, so a hostile or runaway file cannot exhaust memory. */
int vps_read_all(int fd, size_t max_bytes, char **ret, size_t *ret_len, struct vps_error *err);

/* openat(dir_fd, name, O_RDONLY|O_NOFOLLOW) and vps_read_all(). ENOENT keeps errnum. */
int vps_read_at(int dir_fd, const char *name, size_t max_bytes, char **ret, size_t *ret_len,
                struct vps_error *err);

/* Writes val to an existing file (sysfs/cgroupfs style: no create, no truncate). */
int vps_write_at(int dir_fd, const char *name, const char *val, struct vps_error *err);

/* Replaces name in dir_fd atomically: temp file, fsync, rename, fsync of the directory. A
 * crash at any moment leaves either the old or the new content, never a mix. */
int vps_write_atomic_at(int dir_fd, const char *name, const void *buf, size_t len, mode_t mode,
                        struct vps_error *err);

/* The extended attributes of the inode fd refers to, read through the fd so that no path is
 * resolved again (safe on a hostile tree). o_path says that fd is an O_PATH fd (all one gets
 * for a symlink, fifo or device without opening it); f*xattr() refuse those with EBADF, so
 * they are read through /proc/self/fd/N, which needs procfs mounted.
 *
 * vps_fd_xattr_list() returns the names as the kernel gives them: each NUL-terminated, one
 * after the other, *ret_len bytes in all. A filesystem without xattr support (ENOTSUP) and an
 * inode without xattrs both give *ret_len == 0. vps_fd_xattr_get() returns key's value,
 * *ret_len bytes plus a NUL that is not counted. Both buffers are owned by the caller (free).
 * A list or value that grows between the size query and the read is read again, a bounded
 * number of times. Errors: VPS_ERR_NOT_FOUND (errnum ENODATA) if key is gone, as when it was
 * removed after it was listed; VPS_ERR_SYSTEM otherwise. The message names the call and the
 * key ("read xattr 'user.x'"), not the file: the caller knows that. Safe in a forked child. */
int vps_fd_xattr_list(int fd, bool o_path, char **ret, size_t *ret_len, struct vps_error *err);
int vps_fd_xattr_get(int fd, bool o_path, const char *key, char **ret, size_t *ret_len,
                     struct vps_error *err);
