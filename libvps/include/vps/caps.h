/* Capabilities of VPS processes (libcap): the bounding set a VPS root keeps, and the drop
 * steps in the order STYLE.md gives (bounding set, then ids, then the remaining sets, then
 * no_new_privs). All functions are safe in the spawned child. */
#pragma once

#include <stdbool.h>

#include "error.h"

/* Reduces the calling thread's bounding set to what a VPS root needs inside its user
 * namespace (chown, dac_*, fowner, kill, setuid/gid, setpcap, net_admin, net_raw, sys_chroot,
 * sys_ptrace, sys_admin, sys_boot, mknod, setfcap, ...) and drops the rest: sys_module,
 * sys_rawio, sys_time, syslog, mac_*, audit_control, bpf, perfmon, linux_immutable, and every
 * capability this build does not know (see caps.c for the list and why). Needs CAP_SETPCAP in
 * the current user namespace. Errors: VPS_ERR_SYSTEM. Only shrinks the bounding set; call
 * vps_caps_set_for() to shrink the permitted/effective sets too. */
int vps_caps_drop_bounding(struct vps_error *err);

/* root: sets permitted, effective and inheritable to the kept set of caps.c, limited to what
 * is still in the bounding set (a VPS init). !root: clears all three (a service running as a
 * non-root uid; call it after the uid change). Always clears the ambient set. Errors:
 * VPS_ERR_SYSTEM (EPERM if a kept capability is not in the permitted set). */
int vps_caps_set_for(bool root, struct vps_error *err);

/* prctl(PR_SET_NO_NEW_PRIVS): execve() can no longer grant privileges (setuid bits, file
 * capabilities). Irreversible for the process and its children. Needed before
 * vps_seccomp_apply() in a process without CAP_SYS_ADMIN. Errors: VPS_ERR_SYSTEM. */
int vps_caps_no_new_privs(struct vps_error *err);
