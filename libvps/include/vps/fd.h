/* File-descriptor level I/O helpers: whole reads and writes with bounds, and fsync of a
 * directory. Path resolution inside a VPS rootfs lives in path.c, not here. */
#pragma once

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
