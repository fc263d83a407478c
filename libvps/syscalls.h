/* Thin wrappers for syscalls glibc 2.36 does not wrap. Nothing else belongs here. */
#pragma once

#include <linux/openat2.h>
#include <linux/sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* clone3(): Linux 5.3; CLONE_INTO_CGROUP from 5.7. */
static inline long vps_sys_clone3(struct clone_args *args, size_t size)
{
    return syscall(SYS_clone3, args, size);
}

/* openat2(): Linux 5.6. */
static inline int vps_sys_openat2(int dirfd, const char *path, struct open_how *how, size_t size)
{
    return (int) syscall(SYS_openat2, dirfd, path, how, size);
}

/* pivot_root(): no glibc wrapper at all. */
static inline int vps_sys_pivot_root(const char *new_root, const char *put_old)
{
    return (int) syscall(SYS_pivot_root, new_root, put_old);
}
