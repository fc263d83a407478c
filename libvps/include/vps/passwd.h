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

/* Looks up user ("name" or a decimal uid; NULL means root) in the files under root_fd.
 * A name must be in /etc/passwd (VPS_ERR_NOT_FOUND otherwise); a uid not listed there gets
 * gid = uid, no groups, home "/". Lines that are malformed are skipped; files over 4 MiB and
 * lines over 4 KiB are refused (VPS_ERR_INVALID). */
int vps_user_lookup(int root_fd, const char *user, struct vps_user *ret, struct vps_error *err);
