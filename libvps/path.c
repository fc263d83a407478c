/* Safe lookups inside a VPS's rootfs. Building the VPS's mount tree is mount.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "syscalls.h"
#include "vps/path.h"

int vps_path_open_in_root(int root_fd, const char *path, int flags, struct vps_error *err)
{
    struct open_how how = {
        .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = vps_sys_openat2(root_fd, path, &how, sizeof how);

    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s' in the rootfs", path);
    return fd;
}
