/* Escape attempts run as root INSIDE a VPS by tests/security/test-escapes.sh. Each attack is
 * named on the command line and prints "<name>: blocked (<errno name>)" or
 * "<name>: SUCCEEDED" and exits 0 when blocked, 1 when it succeeded. Static: VPS rootfs
 * trees need no libc for it. Each attack says what it tries and why it must fail. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int result(const char *name, int r)
{
    if (r < 0) {
        printf("%s: blocked (%s)\n", name, strerrorname_np(errno));
        return 0;
    }
    printf("%s: SUCCEEDED\n", name);
    return 1;
}

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n < 0 ? -1 : 0;
}

static int read_some(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0) { /* a masked file reads as empty: count that as blocked */
        errno = n == 0 ? ENODATA : errno;
        return -1;
    }
    return 0;
}

/* For `seconds`, sends SIGSTOP to every process of the VPS but itself and pid 1 as soon as
 * it appears: processes vpsd spawns into the VPS get stopped before they can exec, which
 * once held vpsd's loop for 30 s each. Prints how many it stopped. */
static int stopper(int seconds)
{
    time_t end = time(NULL) + seconds;
    unsigned long stopped = 0;

    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        if (!d)
            return 1;
        while ((e = readdir(d))) {
            pid_t pid = (pid_t) atoi(e->d_name);
            if (pid > 1 && pid != getpid() && kill(pid, SIGSTOP) == 0)
                stopped++;
        }
        closedir(d);
    }
    printf("stopper: %lu stops\n", stopped);
    return 0;
}

int main(int argc, char **argv)
{
    const char *a = argc > 1 ? argv[1] : "";
    int rc;

    if (!strcmp(a, "stopper") && argc > 2)
        return stopper(atoi(argv[2]));
    if (!strcmp(a, "mknod-block")) /* a host disk as a node: the user namespace forbids it */
        rc = result(a, mknod("/tmp/disk", S_IFBLK | 0600, makedev(253, 0)));
    else if (!strcmp(a, "mount-block")) /* mounting a host disk needs real CAP_SYS_ADMIN */
        rc = result(a, mount("/dev/vda", "/tmp", "ext4", 0, NULL));
    else if (!strcmp(a, "init-module")) /* module loading: seccomp and the bounding set */
        rc = result(a, (int) syscall(SYS_init_module, "", 0, ""));
    else if (!strcmp(a, "kexec")) /* replacing the host kernel: seccomp */
        rc = result(a, (int) syscall(SYS_kexec_load, 0, 0, NULL, 0));
    else if (!strcmp(a, "keyctl")) /* kernel keyrings are not namespaced: seccomp */
        rc = result(a, (int) syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    else if (!strcmp(a, "bpf")) /* eBPF: host-kernel attack surface, seccomp */
        rc = result(a, (int) syscall(SYS_bpf, 0, NULL, 0));
    else if (!strcmp(a, "settime")) /* the clock is the host's: seccomp, no CAP_SYS_TIME */
        rc = result(a, settimeofday(&(struct timeval){.tv_sec = 1}, NULL));
    else if (!strcmp(a, "sysrq")) /* /proc/sysrq-trigger is masked read-only */
        rc = result(a, write_file("/proc/sysrq-trigger", "h"));
    else if (!strcmp(a, "sys-write")) /* /sys is read-only */
        rc = result(a, write_file("/sys/kernel/profiling", "1"));
    else if (!strcmp(a, "kcore")) /* /proc/kcore is masked by /dev/null */
        rc = result(a, read_some("/proc/kcore"));
    else if (!strcmp(a, "kallsyms")) /* kernel addresses: masked by /dev/null */
        rc = result(a, read_some("/proc/kallsyms"));
    else if (!strcmp(a, "umount-mask")) /* the masks are locked (MNT_LOCKED): EINVAL */
        rc = result(a, umount2("/proc/kallsyms", MNT_DETACH));
    else if (!strcmp(a, "umount-proc-ro")) /* nor can a read-only cover be lifted */
        rc = result(a, umount2("/proc/sys", MNT_DETACH));
    else if (!strcmp(a, "remount-sys-rw")) /* read-only is locked too */
        rc = result(a, mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
    else if (!strcmp(a, "fresh-proc")) /* a new procfs would show what the masks hide */
        rc = result(a, mount("proc", "/tmp", "proc", 0, NULL));
    else if (!strcmp(a, "fresh-sysfs"))
        rc = result(a, mount("sysfs", "/tmp", "sysfs", 0, NULL));
    else if (!strcmp(a, "overwrite-init")) /* PID 1's binary is a host file, owned by the
                                            * host's root: not writable by this root */
        rc = result(a, open("/proc/1/exe", O_WRONLY | O_CLOEXEC));
    else if (!strcmp(a, "ptrace-host")) /* host pids are invisible: pid 2 inside is ours */
        rc = result(a, (int) ptrace(PTRACE_ATTACH, (pid_t) 999999, NULL, NULL));
    else if (!strcmp(a, "dotdot")) { /* ".." from "/" stays at the VPS's root */
        struct stat root, up;
        rc = stat("/", &root) == 0 && stat("/../../..", &up) == 0 && root.st_ino == up.st_ino &&
                     root.st_dev == up.st_dev
                 ? result(a, (errno = EXDEV, -1))
                 : result(a, 0);
    } else {
        fprintf(stderr, "unknown attack '%s'\n", a);
        return 2;
    }
    return rc;
}
