/* Paths inside a VPS's root filesystem. Its root owns that tree and may have planted
 * symlinks anywhere, so every lookup in it goes through here. */
#pragma once

#include "error.h"

/* openat2(root_fd, path, flags | O_CLOEXEC | O_NOFOLLOW) with RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (Linux 5.6): path stays inside the tree and no
 * component may be a symlink. A failure keeps errnum (ENOENT, ELOOP for a symlink, ...). */
int vps_path_open_in_root(int root_fd, const char *path, int flags, struct vps_error *err);
