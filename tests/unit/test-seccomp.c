/* Unit tests for seccomp.c: after vps_seccomp_apply() the host-kernel syscalls fail with EPERM
 * on the native and the 32-bit ABIs, while ordinary and namespace syscalls still work. A filter
 * can never be removed, so each test runs in a forked child (CK_FORK is forced in main()).
 * Arguments are chosen so that, were the filter missing, the kernel would refuse the call with
 * another errno (when run as root) and change nothing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vps/caps.h"
#include "vps/seccomp.h"

#include "test-helpers.h"

#define assert_eperm(call)                                                                         \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long) (call);                                                                   \
        ck_assert_msg(r_ == -1 && errno == EPERM, "%s: returned %ld, errno %d", #call, r_, errno); \
    } while (0)

#define assert_not_eperm(call)                                                                     \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long) (call);                                                                   \
        ck_assert_msg(r_ >= 0 || errno != EPERM, "%s: refused with EPERM", #call);                 \
    } while (0)

/* No check assertions here: it also runs in main()'s probe, outside any test. */
static bool has_sys_admin(void)
{
    cap_t caps = cap_get_proc();
    cap_flag_value_t v = CAP_CLEAR;

    if (!caps)
        return false;
    if (cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v) < 0)
        v = CAP_CLEAR;
    cap_free(caps);
    return v == CAP_SET;
}

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
    close(fd);
    return ok;
}

/* A fresh user namespace in which the caller is root, mapped to its own uid and gid as a VPS
 * root is mapped: an unmapped caller could not create a nested user namespace, for one. */
static bool enter_userns(void)
{
    char map[64];
    unsigned uid = (unsigned) geteuid(), gid = (unsigned) getegid();

    if (unshare(CLONE_NEWUSER) < 0)
        return false;
    snprintf(map, sizeof map, "0 %u 1", uid);
    if (!write_text("/proc/self/uid_map", map) || !write_text("/proc/self/setgroups", "deny"))
        return false;
    snprintf(map, sizeof map, "0 %u 1", gid);
    return write_text("/proc/self/gid_map", map);
}

/* CAP_SYS_ADMIN for the calling test child, which loading a filter without no_new_privs needs:
 * root has it, anyone else takes it from a fresh user namespace. */
static bool gain_caps(void)
{
    return has_sys_admin() || enter_userns();
}

static void apply_filter(void)
{
    struct vps_error err = {0};

    ck_assert_msg(gain_caps(), "cannot gain CAP_SYS_ADMIN: %s", strerror(errno));
    ck_assert_msg(vps_seccomp_apply(&err) == 0, "apply: %s (errno %d)", err.msg, err.errnum);
}

static long status_value(const char *field)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    size_t len = strlen(field);
    long value = -1;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            value = strtol(line + len + 1, NULL, 10);
    fclose(f);
    return value;
}

START_TEST(seccomp_installs_a_filter_without_setting_no_new_privs)
{
    apply_filter();
    ck_assert_int_eq(status_value("Seccomp"), 2);
    ck_assert_int_eq(status_value("Seccomp_filters"), 1);
    ck_assert_int_eq(status_value("NoNewPrivs"), 0);
}
END_TEST

START_TEST(seccomp_refuses_host_kernel_syscalls)
{
    struct timespec ts = {0};

    apply_filter();
    assert_eperm(syscall(SYS_init_module, NULL, 0UL, ""));
    assert_eperm(syscall(SYS_finit_module, -1, "", 0));
    assert_eperm(syscall(SYS_delete_module, "vps_test_no_such_module", O_NONBLOCK));
    /* An unknown arch in the flags: EINVAL before anything is (un)loaded. */
    assert_eperm(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
#ifdef SYS_kexec_file_load
    assert_eperm(syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, ~0UL));
#endif
    assert_eperm(syscall(SYS_open_by_handle_at, -1, NULL, 0));
    assert_eperm(syscall(SYS_keyctl, 0x7fff, 0L, 0L, 0L, 0L));
    assert_eperm(syscall(SYS_add_key, NULL, NULL, NULL, 0UL, 0));
    assert_eperm(syscall(SYS_request_key, NULL, NULL, NULL, 0));
    assert_eperm(syscall(SYS_bpf, -1, NULL, 0));
    assert_eperm(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL));
    assert_eperm(syscall(SYS_userfaultfd, ~0));
    assert_eperm(syscall(SYS_io_uring_setup, 0U, NULL));
    /* Both no-ops: no time and no timezone given; the monotonic clock cannot be set. */
    assert_eperm(syscall(SYS_settimeofday, NULL, NULL));
    assert_eperm(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
    assert_eperm(syscall(SYS_swapon, NULL, 0));
    assert_eperm(syscall(SYS_swapoff, NULL));
    assert_eperm(syscall(SYS_acct, (const char *) 1));
    assert_eperm(syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
    assert_eperm(syscall(SYS_quotactl, 0, NULL, 0, NULL));
#ifdef SYS_iopl
    /* Were it let through, level 3 would only open I/O ports to this throwaway child. */
    assert_eperm(syscall(SYS_iopl, 3));
    assert_eperm(syscall(SYS_ioperm, 0UL, 0UL, 0));
#endif
#ifdef SYS_ustat
    assert_eperm(syscall(SYS_ustat, 0U, NULL));
#endif
}
END_TEST

START_TEST(seccomp_allows_ordinary_syscalls)
{
    int fds[2];
    char c = 0;
    struct timex tx = {0};
    pid_t self = getpid();

    apply_filter();
    ck_assert_int_eq(getpid(), self);
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    close(fds[0]);
    close(fds[1]);
    /* glibc reads the clock's sync state with clock_adjtime(CLOCK_REALTIME, modes 0). */
    ck_assert_int_ge(adjtimex(&tx), 0);
    ck_assert_int_ge(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), 0);
    ck_assert_int_eq(syscall(SYS_kcmp, self, self, KCMP_VM, 0UL, 0UL), 0);
}
END_TEST

/* reboot() is for a VPS init to restart its own pid namespace. The namespace's init asks with a
 * wrong magic, which the kernel refuses (EINVAL) before doing anything, but only after the
 * capability check that needs a pid namespace of our own. The namespace is made in a child:
 * once its init has exited, nothing can fork into it, LeakSanitizer's exit-time tracer
 * included. */
static int reboot_in_new_pid_namespace(void)
{
    int status;

    if (unshare(CLONE_NEWPID) < 0)
        return 2;
    pid_t init = fork();
    if (init < 0)
        return 3;
    if (init == 0)
        _exit(syscall(SYS_reboot, 0, 0, 0, NULL) == -1 && errno == EINVAL ? 0 : 1);
    if (waitpid(init, &status, 0) != init || !WIFEXITED(status))
        return 4;
    return WEXITSTATUS(status);
}

START_TEST(seccomp_allows_reboot_in_a_child_pid_namespace)
{
    int status;

    apply_filter();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(reboot_in_new_pid_namespace());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(seccomp_allows_namespaces_and_mounts)
{
    apply_filter();
    ck_assert_int_eq(unshare(CLONE_NEWNS | CLONE_NEWUTS), 0);
    /* Private from here on: the tmpfs over /tmp is seen by this child only and goes with it. */
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    ck_assert_int_eq(mount("tmpfs", "/tmp", "tmpfs", 0, "size=64k"), 0);
    ck_assert_int_eq(umount2("/tmp", 0), 0);
    int fs_fd = fsopen("tmpfs", FSOPEN_CLOEXEC);
    ck_assert_int_ge(fs_fd, 0);
    close(fs_fd);
    ck_assert_int_eq(sethostname("vps-test", 8), 0);
    /* Nested user namespaces are a feature of a VPS. */
    ck_assert_int_eq(unshare(CLONE_NEWUSER), 0);
}
END_TEST

START_TEST(seccomp_personality_allows_linux_and_query_only)
{
    apply_filter();
    int old = personality(0xffffffff);
    ck_assert_int_ge(old, 0);
    ck_assert_int_ge(personality(PER_LINUX32), 0);
    ck_assert_int_eq(personality(0xffffffff), PER_LINUX32);
    ck_assert_int_ge(personality(PER_LINUX | UNAME26), 0);
    ck_assert_int_ge(personality(PER_LINUX32 | UNAME26), 0);
    ck_assert_int_ge(personality(PER_LINUX), 0);

    assert_eperm(personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    assert_eperm(personality(PER_LINUX | READ_IMPLIES_EXEC));
    assert_eperm(personality(PER_LINUX | MMAP_PAGE_ZERO));
    assert_eperm(personality(PER_SVR4));
    assert_eperm(personality(0xfffffffe));
    assert_eperm(personality(0x80000000));
    /* The kernel reads 32 bits; junk above them neither hides a flag nor spoils a query. */
    assert_eperm(syscall(SYS_personality, (1UL << 32) | ADDR_NO_RANDOMIZE));
    ck_assert_int_eq(syscall(SYS_personality, (1UL << 32) | 0xffffffffUL), PER_LINUX);
}
END_TEST

START_TEST(seccomp_clock_adjtime_only_reaches_realtime)
{
    struct timex tx = {0};

    apply_filter();
    ck_assert_int_ge(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), 0);
    assert_eperm(syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx));
    assert_eperm(syscall(SYS_clock_adjtime, -5 /* the dynamic clock of fd 0 */, &tx));
}
END_TEST

#if defined(__x86_64__)
/* A syscall through the ia32 entry (int 0x80) from 64-bit code: the classic way around a
 * filter that only knows the x86_64 table. Returns -errno like the raw kernel. */
static long ia32_syscall1(long nr, long arg)
{
    long ret;

    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(arg), "c"(0L), "d"(0L)
                     : "r8", "r9", "r10", "r11", "memory", "cc");
    return ret;
}

/* The kernel may be built or booted without ia32 emulation; int 0x80 then raises SIGSEGV. */
static bool ia32_available(void)
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        long nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, "getpid");
        _exit(ia32_syscall1(nr, 0) == getpid() ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

START_TEST(seccomp_filters_the_ia32_abi)
{
    long keyctl_nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, "keyctl");
    long getpid_nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, "getpid");

    if (!ia32_available()) {
        fprintf(stderr, "seccomp_filters_the_ia32_abi: no ia32 emulation, nothing to bypass\n");
        return;
    }
    apply_filter();
    ck_assert_int_eq(ia32_syscall1(keyctl_nr, 0x7fff), -EPERM);
    ck_assert_int_eq(ia32_syscall1(getpid_nr, 0), getpid());
}
END_TEST

/* x32 numbers carry bit 30; the filter sees them even where the kernel has x32 disabled
 * (and would answer ENOSYS), so the rule is checked on every x86_64 host. */
START_TEST(seccomp_filters_the_x32_abi)
{
    long keyctl_nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X32, "keyctl");

    ck_assert_int_gt(keyctl_nr, 0x40000000L);
    apply_filter();
    assert_eperm(syscall(keyctl_nr, 0x7fff, 0L, 0L, 0L, 0L));
}
END_TEST
#endif

START_TEST(seccomp_apply_without_sys_admin_or_no_new_privs_fails)
{
    struct vps_error err = {0};

    ck_assert(gain_caps());
    ck_assert_int_eq(vps_caps_set_for(false, &err), 0);
    ck_assert_int_eq(vps_seccomp_apply(&err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "seccomp filter: load");
    ck_assert_int_eq(err.errnum, EACCES);
    ck_assert_int_eq(status_value("Seccomp"), 0);
}
END_TEST

START_TEST(seccomp_apply_after_no_new_privs_works_without_caps)
{
    struct vps_error err = {0};

    ck_assert(gain_caps());
    ck_assert_int_eq(vps_caps_set_for(false, &err), 0);
    ck_assert_int_eq(vps_caps_no_new_privs(&err), 0);
    ck_assert_int_eq(vps_seccomp_apply(&err), 0);
    ck_assert_int_eq(status_value("Seccomp"), 2);
    assert_eperm(syscall(SYS_keyctl, 0x7fff, 0L, 0L, 0L, 0L));
}
END_TEST

/* A checked fixture (run in each test's forked child): the filter compiled beforehand, as
 * vpsd does at start, so vps_seccomp_apply() loads that program instead of building one. */
static void prepare_filter(void)
{
    struct vps_error e = {0};

    ck_assert_msg(vps_seccomp_prepare(&e) == 0, "prepare: %s", e.msg);
    ck_assert_msg(vps_seccomp_prepare(&e) == 0, "prepare again: %s", e.msg);
}

/* The names stay the caller's: check keeps the pointers. */
static void add_deny_allow(Suite *s, const char *deny_name, const char *allow_name,
                           void (*setup)(void))
{
    TCase *deny = tcase_create(deny_name), *allow = tcase_create(allow_name);

    if (setup) {
        tcase_add_checked_fixture(deny, setup, NULL);
        tcase_add_checked_fixture(allow, setup, NULL);
    }
    tcase_add_test(deny, seccomp_refuses_host_kernel_syscalls);
    tcase_add_test(deny, seccomp_personality_allows_linux_and_query_only);
    tcase_add_test(deny, seccomp_clock_adjtime_only_reaches_realtime);
#if defined(__x86_64__)
    tcase_add_test(deny, seccomp_filters_the_ia32_abi);
    tcase_add_test(deny, seccomp_filters_the_x32_abi);
#endif
    suite_add_tcase(s, deny);

    tcase_add_test(allow, seccomp_allows_ordinary_syscalls);
    tcase_add_test(allow, seccomp_allows_namespaces_and_mounts);
    tcase_add_test(allow, seccomp_allows_reboot_in_a_child_pid_namespace);
    suite_add_tcase(s, allow);
}

static Suite *seccomp_suite(void)
{
    Suite *s = suite_create("seccomp");
    TCase *load = tcase_create("load");

    /* Built by libseccomp at each apply, and compiled once by vps_seccomp_prepare(): the
     * same rules either way. */
    add_deny_allow(s, "deny", "allow", NULL);
    add_deny_allow(s, "deny-prepared", "allow-prepared", prepare_filter);

    tcase_add_test(load, seccomp_installs_a_filter_without_setting_no_new_privs);
    tcase_add_test(load, seccomp_apply_without_sys_admin_or_no_new_privs_fails);
    tcase_add_test(load, seccomp_apply_after_no_new_privs_works_without_caps);
    suite_add_tcase(s, load);
    return s;
}

int main(void)
{
    /* Whether a child can get CAP_SYS_ADMIN at all: not without root where user namespaces are
     * disabled. Then the whole binary is skipped (exit 77). */
    if (!child_succeeds(gain_caps)) {
        fprintf(stderr, "test-seccomp: needs root or unprivileged user namespaces, skipping\n");
        return 77;
    }

    /* Forced, not left to $CK_FORK: a filter loaded in the runner itself could never be
     * removed and would apply to every later test. */
    return run_suite(seccomp_suite(), CK_FORK);
}
