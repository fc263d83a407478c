/* User lookup inside a VPS (vps/passwd.h). Placeholder: numeric uids only. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vps/passwd.h"

int vps_user_lookup(int root_fd, const char *user, struct vps_user *ret, struct vps_error *err)
{
    char *end;
    unsigned long v;

    (void) root_fd;
    *ret = (struct vps_user){.home = "/"};
    if (!user)
        return 0;
    errno = 0;
    v = strtoul(user, &end, 10);
    if (!isdigit((unsigned char) user[0]) || *end || errno || v >= UINT32_MAX)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "user '%s' not found", user);
    ret->uid = (uid_t) v;
    ret->gid = (gid_t) v;
    return 0;
}
