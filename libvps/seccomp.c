/* The seccomp filter of VPS processes: which syscalls the host kernel refuses them, on every
 * ABI the CPU offers. Capabilities and no_new_privs are caps.c's.
 *
 * Security note: a VPS root holds CAP_SYS_ADMIN in its user namespace and can build nested
 * namespaces, so its reach into the host kernel is wide; this filter cuts off the parts with a
 * record of privilege escalations or host-wide effect and no use inside a VPS. It is a deny
 * list (default allow), because a VPS runs arbitrary distributions: a syscall newer than this
 * libseccomp is allowed, and keeping the list current is part of upgrading. Decisions were
 * informed by Docker's and LXC's default profiles; the rules and their reasons are our own. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vps/fd.h"
#include "vps/seccomp.h"

/* Each is refused whatever its arguments. */
static const char *const denied_syscalls[] = {
    /* Loading code into the host kernel, or replacing it. The kernel wants CAP_SYS_MODULE and
     * CAP_SYS_BOOT in the host namespace anyway; the filter keeps a kernel bug from being
     * the only barrier. */
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    /* Opens any inode of a filesystem from a guessed handle, bypassing the mount tree: the
     * 2014 "shocker" container escape. Since Linux 6.10 the kernel lets a user namespace use
     * it on its own mounts, so this is the only barrier left. name_to_handle_at() stays
     * allowed: a handle alone opens nothing, and systemd uses it to compare mounts. */
    "open_by_handle_at",
    /* The keyring is not namespaced: keys are per uid, so a VPS could see or exhaust the keys
     * of the host user that its uids map to, and keyctl has had use-after-free escalations
     * (CVE-2016-0728). Programs treat EPERM as "no keyring" and go on. */
    "keyctl",
    "add_key",
    "request_key",
    /* The BPF verifier and perf are large, bug-rich kernel surfaces and leak kernel
     * addresses; systemd falls back when bpf() is refused (no IPAddressDeny=). */
    "bpf",
    "perf_event_open",
    "lookup_dcookie",
    /* userfaultfd stalls the kernel on a page fault at a moment the caller picks, which turns
     * kernel races into reliable exploits. */
    "userfaultfd",
    /* io_uring has had a long run of privilege escalations and bypasses syscall-level
     * auditing; Google, ChromeOS and Docker disable it. Programs fall back to epoll or
     * threads. */
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* Setting the host's clock: a time namespace does not cover CLOCK_REALTIME. Reading it
     * through adjtimex() stays allowed (see clock_adjtime below). */
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    /* Host-wide resources: swap devices, I/O ports, PCI config space, process accounting,
     * the host's kernel log (and the pointers in it). */
    "swapon",
    "swapoff",
    "iopl",
    "ioperm",
    "pciconfig_read",
    "pciconfig_write",
    "pciconfig_iobase",
    "acct",
    "syslog",
    /* The VPS's filesystems are mounted by the host, so every quota change is refused
     * anyway; the quota code is not worth exposing for the reads that remain. */
    "quotactl",
    "quotactl_fd",
    /* Obsolete, unused by current userspace, and a place for old bugs to hide. ustat() also
     * reports on any mounted filesystem of the host by device number. sysfs() stays allowed:
     * it says no more than /proc/filesystems. */
    "nfsservctl",
    "_sysctl",
    "uselib",
    "ustat",
    "vm86",
    "vm86old",
};

/* Allowed on purpose, although other profiles refuse them: mount and the new mount API,
 * unshare/clone/setns with CLONE_NEWUSER (a VPS root mounts inside its namespaces, and nested
 * containers are a feature), reboot (in a child pid namespace it only kills that namespace's
 * init), kcmp and ptrace (checked against the target like ptrace; since Linux 4.8 seccomp
 * re-checks a syscall a tracer rewrote), adjtimex (reads only, see below). */

static void ctx_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

/* Names this libseccomp does not know resolve to __NR_SCMP_ERROR and are skipped: the filter
 * must load on an older library, and a syscall it cannot name it cannot filter. Names the
 * library knows but an arch lacks are skipped for that arch by libseccomp. */
static int deny(scmp_filter_ctx ctx, const char *name, unsigned n_args,
                const struct scmp_arg_cmp *args, struct vps_error *err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;

    int r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, n_args, args);
    if (r < 0)
        return vps_error_errno(err, -r, "add a rule for '%s'", name);
    return 0;
}

/* personality() may set only what Docker also allows: PER_LINUX or PER_LINUX32, optionally
 * with UNAME26, and read the current value with 0xffffffff. The other flags weaken ASLR
 * (ADDR_NO_RANDOMIZE), make data executable (READ_IMPLIES_EXEC) or map page zero
 * (MMAP_PAGE_ZERO, the NULL-deref exploit helper of CVE-2009-1895). libseccomp takes one
 * comparison per argument in a rule, and rules are ORed, so the allowed set is spelled out bit
 * by bit. The comparisons look at the low 32 bits only, as the kernel does (the argument is
 * an unsigned int). */
static int deny_personality(scmp_filter_ctx ctx, struct vps_error *err)
{
    const uint32_t high = 1u << 31;
    const uint32_t allowed_bits = PER_LINUX32 | UNAME26; /* PER_LINUX is 0 */

    for (unsigned bit = 0; bit < 31; bit++) {
        uint32_t b = 1u << bit;

        /* With bit 31 set, only the query 0xffffffff passes: a clear bit is refused. */
        struct scmp_arg_cmp high_set = SCMP_A0_32(SCMP_CMP_MASKED_EQ, high | b, high);
        if (deny(ctx, "personality", 1, &high_set, err) < 0)
            return -1;
        if (b & allowed_bits)
            continue;
        /* With bit 31 clear, any bit outside the allowed ones is refused. */
        struct scmp_arg_cmp stray = SCMP_A0_32(SCMP_CMP_MASKED_EQ, high | b, b);
        if (deny(ctx, "personality", 1, &stray, err) < 0)
            return -1;
    }
    return 0;
}

/* glibc 2.36 implements adjtimex() and ntp_gettime() as clock_adjtime(CLOCK_REALTIME), and
 * systemd-timesyncd, timedatectl and chronyd read the clock's sync state that way, so
 * refusing either call breaks them. Any change to CLOCK_REALTIME needs CAP_SYS_TIME in the
 * host namespace, which a VPS never holds (and caps.c drops). Other clocks are refused: the
 * adjustable ones are PTP hardware clocks, shared with the host. */
static int deny_clock_adjtime(scmp_filter_ctx ctx, struct vps_error *err)
{
    static const char *const names[] = {"clock_adjtime", "clock_adjtime64"};
    struct scmp_arg_cmp not_realtime = SCMP_A0_32(SCMP_CMP_NE, CLOCK_REALTIME);

    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (deny(ctx, names[i], 1, &not_realtime, err) < 0)
            return -1;
    return 0;
}

/* A process may switch ABI at will (int 0x80 or the x32 bit from x86_64 code), and each ABI
 * has its own syscall numbers: a filter only for the native one is bypassed by calling keyctl
 * as ia32 syscall 288. So the compat ABIs get the same rules. Killing them instead would be
 * simpler, but would break 32-bit programs that a VPS's distribution may ship (multiarch). */
static int add_compat_arches(scmp_filter_ctx ctx, struct vps_error *err)
{
    static const struct {
        uint32_t native, compat;
    } table[] = {
        {SCMP_ARCH_X86_64, SCMP_ARCH_X86},
        {SCMP_ARCH_X86_64, SCMP_ARCH_X32},
        {SCMP_ARCH_AARCH64, SCMP_ARCH_ARM},
    };
    uint32_t native = seccomp_arch_native();

    for (size_t i = 0; i < ELEMENTSOF(table); i++) {
        if (table[i].native != native)
            continue;
        int r = seccomp_arch_add(ctx, table[i].compat);
        if (r < 0 && r != -EEXIST)
            return vps_error_errno(err, -r, "add architecture 0x%x", table[i].compat);
    }
    return 0;
}

static int set_attrs(scmp_filter_ctx ctx, struct vps_error *err)
{
    /* Any ABI not added above is killed. The whole process, not the thread: a half-dead
     * process could hold locks forever. */
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r < 0)
        return vps_error_errno(err, -r, "set the bad-architecture action");

    /* libseccomp would otherwise set no_new_privs on load. That is caps.c's step and the
     * spawner's decision: a VPS init runs without it so that sudo, su and file-capability
     * binaries work inside the VPS. Loading without it needs CAP_SYS_ADMIN in the current user
     * namespace, which a VPS init has; a non-root service sets no_new_privs first, and if
     * neither holds the load fails with EACCES instead of quietly running unfiltered. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r < 0)
        return vps_error_errno(err, -r, "clear the no_new_privs attribute");

    /* Report the kernel's errno from seccomp_load() (EACCES, EINVAL), not -ECANCELED. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    if (r < 0)
        return vps_error_errno(err, -r, "set the raw return code attribute");
    return 0;
}

static int build(scmp_filter_ctx ctx, struct vps_error *err)
{
    /* Arches first: rules are translated for the arches present when they are added. */
    if (set_attrs(ctx, err) < 0 || add_compat_arches(ctx, err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(denied_syscalls); i++)
        if (deny(ctx, denied_syscalls[i], 0, NULL, err) < 0)
            return -1;
    if (deny_personality(ctx, err) < 0 || deny_clock_adjtime(ctx, err) < 0)
        return -1;
    return 0;
}

/* The program vps_seccomp_prepare() compiled; applied without libseccomp when set. */
static struct sock_fprog compiled;

int vps_seccomp_prepare(struct vps_error *err)
{
    cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    cleanup_close int fd = -1;
    struct stat st;
    void *prog;
    int r;

    if (compiled.filter)
        return 0;
    if (!ctx)
        return vps_error_errno(err, ENOMEM, "seccomp filter: allocate");
    if (build(ctx, err) < 0)
        return vps_error_prefix(err, "seccomp filter");
    fd = memfd_create("vps-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "seccomp filter: memfd");
    if ((r = seccomp_export_bpf(ctx, fd)) < 0)
        return vps_error_errno(err, -r, "seccomp filter: export");
    if (fstat(fd, &st) < 0)
        return vps_error_errno(err, errno, "seccomp filter: stat");
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
        st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return vps_error_set(err, VPS_ERR_SYSTEM, "seccomp filter: %lld bytes of BPF",
                             (long long) st.st_size);
    if (!(prog = malloc((size_t) st.st_size)))
        return vps_error_errno(err, ENOMEM, "seccomp filter");
    if (pread(fd, prog, (size_t) st.st_size, 0) != st.st_size) {
        free(prog);
        return vps_error_errno(err, errno ? errno : EIO, "seccomp filter: read back");
    }
    compiled = (struct sock_fprog){
        .len = (unsigned short) (st.st_size / sizeof(struct sock_filter)),
        .filter = prog,
    };
    return 0;
}

int vps_seccomp_apply(struct vps_error *err)
{
    if (compiled.filter) {
        /* The same program seccomp_load() would load, without building it again: no
         * allocation here, which matters in a child forked from a busy daemon. */
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &compiled, 0, 0) < 0)
            return vps_error_errno(err, errno, "seccomp filter: load");
        return 0;
    }

    cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

    if (!ctx)
        return vps_error_errno(err, ENOMEM, "seccomp filter: allocate");
    if (build(ctx, err) < 0)
        return vps_error_prefix(err, "seccomp filter");

    int r = seccomp_load(ctx);
    if (r < 0)
        return vps_error_errno(err, -r, "seccomp filter: load");
    return 0;
}
