/* User and group lookup inside a VPS: its /etc/passwd and /etc/group, read through an fd of
 * the VPS's root directory with every path resolved inside that root (vps/path.h), never the
 * host's NSS. A service's "user" is a name or a decimal uid. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define VPS_USER_GROUPS_MAX 64

struct vps_user {
    uid_t uid;
    gid_t gid;                         /* primary group */
    gid_t groups[VPS_USER_GROUPS_MAX]; /* supplementary groups (primary excluded) */
    size_t n_groups;
    char home[256]; /* "/" when unknown */
};

/* Looks up user ("name" or a decimal uid; NULL means root, as uid 0) in the files under
 * root_fd. A name must be in /etc/passwd (VPS_ERR_NOT_FOUND "user 'x' does not exist in the
 * vps"); a uid listed there takes the first such entry's gid and home, and its name's groups;
 * a uid not listed gets gid = uid, no groups, home "/". A home that is empty, relative or
 * does not fit is "/". Supplementary groups: every /etc/group entry whose member list names
 * the user, the primary gid and duplicates left out. A missing /etc/passwd or /etc/group is
 * an empty one; malformed lines (field count, ids that are not plain decimal below 2^32-1)
 * are skipped. VPS_ERR_INVALID for: an empty user, all digits but not a valid uid, a file
 * over 4 MiB, a line over 4 KiB (anywhere in the file), a file that is not a regular one or
 * is reached through a symlink, more than VPS_USER_GROUPS_MAX groups. The files are opened
 * O_PATH and reopened through /proc/self/fd only once known to be regular, so /proc must be
 * mounted: vpsd's side, not the spawned child after pivot_root. *ret is written only on
 * success. */
int vps_user_lookup(int root_fd, const char *user, struct vps_user *ret, struct vps_error *err);
