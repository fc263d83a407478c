/* Capabilities of VPS processes: the bounding set a VPS root keeps, its permitted, effective,
 * inheritable and ambient sets, and no_new_privs. The uid/gid change between these steps
 * belongs to the spawner, and the syscall filter to seccomp.c.
 *
 * Security note: a VPS root's capabilities are those of its own user namespace, and the
 * kernel checks host-wide powers (modules, raw I/O, the clock, MAC policy) against the host's
 * namespace, so the VPS never holds them. The bounding set is defence in depth on top: it
 * stops a kernel bug that checks the wrong namespace, and a file-capability binary inside the
 * rootfs, from handing those powers back. It does not survive a nested user namespace (the
 * kernel gives a new namespace a full bounding set), so it is no substitute for the seccomp
 * filter, which does survive one. */
#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "vps/caps.h"

/* What a VPS root keeps: close to what LXC's and OpenVZ's defaults give a container root,
 * wider than Docker's, because a VPS runs a full distribution (systemd, sshd, a firewall).
 * Everything not listed is dropped, including capabilities newer than this build. */
static const cap_value_t kept_caps[] = {
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    /* Docker drops it because of the 2014 "shocker" open_by_handle_at() escape; that call
     * is refused by seccomp.c instead, and backup tools running as VPS root need the rest. */
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_KILL, /* signals stop at the pid namespace */
    CAP_SETGID,
    CAP_SETUID,
    /* systemd uses it to shrink the bounding set of the services it starts. */
    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,
    CAP_NET_BROADCAST,
    /* The VPS's own net namespace: addresses, routes, its firewall. netfilter has had
     * user-namespace privilege escalations (nf_tables, CVE-2024-1086), but a nested user
     * namespace reaches it anyway; hardening that is the host kernel's job. */
    CAP_NET_ADMIN,
    CAP_NET_RAW,   /* ping, DHCP clients, tcpdump, within the VPS's net namespace */
    CAP_IPC_LOCK,  /* mlock(); bounded by RLIMIT_MEMLOCK and the memory cgroup */
    CAP_IPC_OWNER, /* its own IPC namespace only */
    CAP_SYS_CHROOT,
    /* strace and gdb on its own processes. Since Linux 4.8 seccomp re-checks a syscall that
     * a tracer rewrote, so a tracee cannot be used to bypass the filter. */
    CAP_SYS_PTRACE,
    /* Mounts inside its own mount namespace (systemd, PrivateTmp=, mount-using services).
     * The locked masks of DESIGN.md are what keep it away from host paths. */
    CAP_SYS_ADMIN,
    /* reboot() in a child pid namespace kills that namespace's init and nothing else
     * (reboot_pid_ns()); the supervisor tells restart from poweroff by init's exit signal. */
    CAP_SYS_BOOT,
    CAP_SYS_NICE,     /* the cpu cgroup bounds what priorities buy */
    CAP_SYS_RESOURCE, /* raising a hard rlimit is checked against the host namespace */
    /* vhangup() from getty/login; the kernel checks it against the host namespace, so it
     * grants nothing here, and tools that test for it keep working. */
    CAP_SYS_TTY_CONFIG,
    /* A non-init user namespace cannot create device nodes (vfs_mknod() checks the host
     * namespace) and its mounts are nodev; what is left is FIFOs, sockets and overlayfs
     * whiteouts, which dpkg and container tools inside the VPS make. */
    CAP_MKNOD,
    CAP_LEASE,
    /* sshd and login write audit records; audit is host-only, so a VPS's send just fails. */
    CAP_AUDIT_WRITE,
    /* setcap for packages (ping, ...). In a user namespace the kernel writes v3 file caps
     * bound to the VPS's root uid, which grant nothing on the host. Also needed to map uid 0
     * in a nested user namespace (Linux 5.12). */
    CAP_SETFCAP,
    /* Every kernel check that takes it also takes CAP_SYS_ADMIN, which is kept, so dropping
     * it stops nothing; CRIU-style tools test for it by name. */
    CAP_CHECKPOINT_RESTORE,
};

/* Dropped, and why (everything else missing from kept_caps, present or future, is dropped
 * because it is not on the list):
 *   sys_module, sys_rawio, sys_pacct, sys_time, syslog, wake_alarm, block_suspend: host-wide
 *     powers (kernel code, I/O ports and /dev/mem, accounting, the host clock, the host's
 *     kernel log with its pointers, host power management); a VPS has no use for them.
 *   audit_control, audit_read, mac_admin, mac_override: the host's audit and LSM policy.
 *   bpf, perfmon: the verifier and perf are large host attack surfaces (also seccomp.c).
 *   linux_immutable: chattr +i inside the rootfs would make files the host cannot delete
 *     when it destroys the VPS. */

static bool is_kept(cap_value_t cap)
{
    for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++)
        if (kept_caps[i] == cap)
            return true;
    return false;
}

static void cap_free_namep(char **p)
{
    if (*p)
        (void) cap_free(*p);
}

static void cap_freep(cap_t *p)
{
    if (*p)
        (void) cap_free(*p);
}

/* The number of capabilities the running kernel knows. Asked of the kernel, not taken from
 * libcap's CAP_LAST_CAP, so that a capability added after this build is dropped too.
 * PR_CAPBSET_READ fails (EINVAL) only past the kernel's last capability, and unlike
 * /proc/sys/kernel/cap_last_cap it works before /proc is mounted in the spawned child. */
static cap_value_t kernel_cap_count(void)
{
    cap_value_t n = 0;

    /* The kernel keeps capability sets in 64 bits. */
    while (n < 64 && cap_get_bound(n) >= 0)
        n++;
    return n;
}

static int drop_bound(cap_value_t cap, struct vps_error *err)
{
    if (cap_drop_bound(cap) >= 0)
        return 0;

    int errnum = errno;
    cleanup_(cap_free_namep) char *name = cap_to_name(cap);
    return vps_error_errno(err, errnum, "drop capability '%s' from the bounding set",
                           name ? name : "?");
}

int vps_caps_drop_bounding(struct vps_error *err)
{
    cap_value_t n = kernel_cap_count();

    /* CAP_CHOWN is 0: no readable capability at all means prctl() is broken here, and
     * carrying on would silently drop nothing. */
    if (n == 0)
        return vps_error_errno(err, errno, "read the capability bounding set");

    for (cap_value_t cap = 0; cap < n; cap++) {
        if (is_kept(cap) || cap_get_bound(cap) == 0)
            continue;
        if (drop_bound(cap, err) < 0)
            return -1;
    }
    return 0;
}

/* The kept set limited to the bounding set: asking for more would fail with EPERM, and a cap
 * dropped from the bounding set must not come back through inheritable. */
static int kept_set(cap_t caps, struct vps_error *err)
{
    static const cap_flag_t flags[] = {CAP_PERMITTED, CAP_EFFECTIVE, CAP_INHERITABLE};

    for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++) {
        cap_value_t cap = kept_caps[i];

        if (cap_get_bound(cap) != 1)
            continue;
        for (size_t f = 0; f < ELEMENTSOF(flags); f++)
            if (cap_set_flag(caps, flags[f], 1, &cap, CAP_SET) < 0)
                return vps_error_errno(err, errno, "build the capability set");
    }
    return 0;
}

int vps_caps_set_for(bool root, struct vps_error *err)
{
    const char *who = root ? "a vps root" : "a non-root service";
    cleanup_(cap_freep) cap_t caps = cap_init(); /* all sets empty */

    if (!caps)
        return vps_error_errno(err, errno, "set capabilities of %s: allocate", who);
    if (root && kept_set(caps, err) < 0)
        return vps_error_prefix(err, "set capabilities of %s", who);
    if (cap_set_proc(caps) < 0)
        return vps_error_errno(err, errno, "set capabilities of %s", who);

    /* Ambient caps survive execve() of an unprivileged binary; none were asked for. The
     * kernel drops an ambient cap when it leaves permitted or inheritable, but a root keeps
     * those, so clear them by name. */
    if (cap_reset_ambient() < 0)
        return vps_error_errno(err, errno, "clear the ambient capabilities of %s", who);
    return 0;
}

int vps_caps_no_new_privs(struct vps_error *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        return vps_error_errno(err, errno, "set no_new_privs");
    return 0;
}
