/* Cgroups: detection of the host's hierarchy mode now; the v1 and v2 backends for VPS
 * limits come with the isolation runtime. */
#pragma once

enum vps_cgroup_mode {
    VPS_CGROUP_V1,     /* only v1 controller hierarchies */
    VPS_CGROUP_HYBRID, /* v1 controllers plus an (empty) v2 tree at /sys/fs/cgroup/unified */
    VPS_CGROUP_V2,     /* unified: /sys/fs/cgroup is cgroup2 */
};

/* Looks at what is mounted on root ("/sys/fs/cgroup" normally). Never fails: an unknown
 * layout is reported as v1. */
enum vps_cgroup_mode vps_cgroup_detect_mode(const char *root);
const char *vps_cgroup_mode_name(enum vps_cgroup_mode m);
