/* The seccomp deny filter for VPS processes (libseccomp): host-kernel attack surface is
 * refused with EPERM (module loading, kexec, open_by_handle_at, keyctl family, bpf,
 * perf_event_open, userfaultfd, io_uring, clock setting, swapon/off, iopl/ioperm, ...). Applied
 * last, just before execve(), so setup syscalls never need allowing. Safe in the spawned child.
 * The capability side of the sandbox is caps.c's. */
#pragma once

#include "error.h"

/* Loads the filter into the calling thread; it is inherited across fork() and execve() and can
 * never be removed. The 32-bit ABIs of the native architecture (x86 and x32 on x86_64, arm on
 * aarch64) get the same rules; a syscall from any other ABI kills the process. The caller
 * needs CAP_SYS_ADMIN in its user namespace (a VPS init) or no_new_privs set beforehand
 * (vps_caps_no_new_privs(), a non-root service); this function never sets no_new_privs
 * itself. Errors: VPS_ERR_SYSTEM, errnum EACCES when neither holds. */
int vps_seccomp_apply(struct vps_error *err);
/* Builds the filter once, in the calling process, into a BPF program that later
 * vps_seccomp_apply() calls (in children forked from it) load directly: libseccomp's build
 * costs about 1 ms and many allocations per spawn. Optional; idempotent. */
int vps_seccomp_prepare(struct vps_error *err);
