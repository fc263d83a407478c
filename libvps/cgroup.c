/* Cgroup hierarchy detection. Limits and the per-VPS cgroup lifecycle (v1 and v2 backends
 * behind one interface) come with the isolation runtime. */
#include <linux/magic.h>
#include <stdio.h>
#include <sys/vfs.h>

#include "vps/cgroup.h"

enum vps_cgroup_mode vps_cgroup_detect_mode(const char *root)
{
    char unified[4096];
    struct statfs fs;

    if (statfs(root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
        return VPS_CGROUP_V2;
    (void) snprintf(unified, sizeof unified, "%s/unified", root);
    if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
        return VPS_CGROUP_HYBRID;
    return VPS_CGROUP_V1;
}

const char *vps_cgroup_mode_name(enum vps_cgroup_mode m)
{
    switch (m) {
    case VPS_CGROUP_V2:
        return "v2";
    case VPS_CGROUP_HYBRID:
        return "hybrid";
    case VPS_CGROUP_V1:
        return "v1";
    }
    return "v1";
}
