/* Unit tests for cgroup.c and its v1/v2 backends, against the host's real cgroups: host setup,
 * create (and its undo on failure), limits read back from the kernel's files, attach, stats,
 * kill and remove. Everything but the argument checks needs root; without it those bodies
 * return at once. The v1 cases run on v1 and hybrid hosts; the v2 cases run on a pure v2 host
 * against /sys/fs/cgroup, and on a hybrid host against the controller-less
 * /sys/fs/cgroup/unified (VPS_CGROUP_HOST_PARTIAL). Each run works under its own prefix
 * "vps-test-cg-<pid>", which the unchecked teardown removes even when a test fails. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vps/cgroup.h"

#include "test-helpers.h"

#define ROOT "/sys/fs/cgroup"
#define GiB  (1024ULL * 1024 * 1024)
#define MiB  (1024ULL * 1024)

/* The v1 hierarchies the backend uses, as named under /sys/fs/cgroup. */
static const char *const v1_hiers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                       "blkio",  "freezer", "pids"};

static char prefix[64];

/* ---- fixture: a private prefix, purged afterwards ---- */

static void setup(void)
{
    snprintf(prefix, sizeof prefix, "vps-test-cg-%d", (int) getpid());
}

/* SIGKILLs what is left in one cgroup (only this test run's processes can be there) and waits
 * for each exit on its pidfd. */
static void kill_leftovers(const char *path)
{
    char file[512], buf[4096];

    snprintf(file, sizeof file, "%s/freezer.state", path);
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void) write(fd, "THAWED", 6);
        close(fd);
    }
    snprintf(file, sizeof file, "%s/cgroup.procs", path);
    FILE *f = fopen(file, "re");
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f)) {
        int pidfd = pidfd_open((pid_t) atoi(buf), 0);
        if (pidfd < 0)
            continue;
        (void) pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        (void) poll(&(struct pollfd){.fd = pidfd, .events = POLLIN}, 1, 5000);
        close(pidfd);
    }
    fclose(f);
}

static void purge(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[512];

    if (!d)
        return;
    while ((e = readdir(d)))
        if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            purge(sub);
        }
    closedir(d);
    kill_leftovers(path);
    (void) rmdir(path);
}

static void teardown(void)
{
    char path[512];
    DIR *d = opendir(ROOT);
    struct dirent *e;

    if (!d)
        return;
    snprintf(path, sizeof path, "%s/%s", ROOT, prefix); /* pure v2 */
    purge(path);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s/%s", ROOT, e->d_name, prefix);
            purge(path);
        }
    closedir(d);
}

/* Checked setup: each test starts without the cgroups an earlier test of its case left. */
static void fresh(void)
{
    teardown();
}

/* ---- helpers ---- */

static bool v1_host(void)
{
    return geteuid() == 0 && vps_cgroup_detect_mode(ROOT) != VPS_CGROUP_V2;
}

/* Where the v2 cases run, or NULL when this host has no v2 tree. */
static const char *v2_root(unsigned *flags)
{
    if (geteuid() != 0)
        return NULL;
    switch (vps_cgroup_detect_mode(ROOT)) {
    case VPS_CGROUP_V2:
        *flags = 0;
        return ROOT;
    case VPS_CGROUP_HYBRID:
        *flags = VPS_CGROUP_HOST_PARTIAL;
        return ROOT "/unified";
    case VPS_CGROUP_V1:
        break;
    }
    return NULL;
}

static bool hier_mounted(const char *hier)
{
    char path[256];
    struct statfs fs;

    snprintf(path, sizeof path, "%s/%s", ROOT, hier);
    return statfs(path, &fs) == 0 && fs.f_type == CGROUP_SUPER_MAGIC;
}

/* <base>/<prefix>[/<sub>][/<file>] */
static const char *cg_path(char *buf, size_t size, const char *base, const char *sub,
                           const char *file)
{
    snprintf(buf, size, "%s/%s%s%s%s%s", base, prefix, sub ? "/" : "", sub ?: "", file ? "/" : "",
             file ?: "");
    return buf;
}

static bool cg_exists(const char *base, const char *sub, const char *file)
{
    char path[512];

    return access(cg_path(path, sizeof path, base, sub, file), F_OK) == 0;
}

/* The first line of a cgroup file, without its newline; "" if it cannot be read. */
static const char *cg_read(char *buf, size_t size, const char *base, const char *sub,
                           const char *file)
{
    char path[512];
    FILE *f = fopen(cg_path(path, sizeof path, base, sub, file), "re");

    buf[0] = '\0';
    if (f) {
        if (!fgets(buf, (int) size, f))
            buf[0] = '\0';
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static void expect_v1(const char *hier, const char *file, const char *want)
{
    char base[128], got[256];

    snprintf(base, sizeof base, "%s/%s", ROOT, hier);
    ck_assert_str_eq(cg_read(got, sizeof got, base, "t", file), want);
}

static bool skipped_has(const char *skipped, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = skipped; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] != '\0'))
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* A child that waits for commands on a pipe and answers each: 'm' touches 8 MiB (charged to
 * whatever memory cgroup it is in by then), 'f' forks a grandchild that pauses. */
struct child {
    pid_t pid;
    int cmd_fd;
    int ack_fd;
};

static void child_loop(int cmd_fd, int ack_fd)
{
    char c;

    while (read(cmd_fd, &c, 1) == 1) {
        if (c == 'm') {
            char *p =
                mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED)
                memset(p, 1, 8 * MiB);
        } else if (c == 'f' && fork() == 0) {
            for (;;)
                pause();
        }
        if (write(ack_fd, "k", 1) != 1)
            break;
    }
    _exit(0);
}

static void child_start(struct child *ch)
{
    int cmd[2], ack[2];

    ck_assert_int_eq(pipe2(cmd, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(ack, O_CLOEXEC), 0);
    ch->pid = fork();
    ck_assert_int_ge(ch->pid, 0);
    if (ch->pid == 0) {
        close(cmd[1]);
        close(ack[0]);
        child_loop(cmd[0], ack[1]);
    }
    close(cmd[0]);
    close(ack[1]);
    ch->cmd_fd = cmd[1];
    ch->ack_fd = ack[0];
}

static void child_cmd(struct child *ch, char c)
{
    char a = 0;

    ck_assert_int_eq(write(ch->cmd_fd, &c, 1), 1);
    ck_assert_int_eq(read(ch->ack_fd, &a, 1), 1);
    ck_assert_int_eq(a, 'k');
}

/* Reaps the child, which must have died of SIGKILL. */
static void child_expect_killed(struct child *ch)
{
    int status = 0;

    ck_assert_int_eq(waitpid(ch->pid, &status, 0), ch->pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);
    close(ch->cmd_fd);
    close(ch->ack_fd);
}

static bool procs_has(const char *base, const char *sub, pid_t pid)
{
    char path[512], line[64];
    bool found = false;
    FILE *f = fopen(cg_path(path, sizeof path, base, sub, "cgroup.procs"), "re");

    while (f && !found && fgets(line, sizeof line, f))
        found = atoi(line) == (int) pid;
    if (f)
        fclose(f);
    return found;
}

/* ---- argument checks (no root needed) ---- */

START_TEST(cgroup_rejects_prefix_that_is_not_one_component)
{
    static const char *const bad[] = {"", "..", ".hidden", "a/b", "vps/../x", "sp ace"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vps_error err = {0};
        struct vps_cgroup_host h = {0};
        ck_assert_int_eq(vps_cgroup_host_init(ROOT, bad[i], &h, &err), -1);
        ck_assert_err(err, VPS_ERR_INVALID, "cgroup prefix");
        ck_assert_ptr_null(h.mount_root);
    }
}
END_TEST

START_TEST(cgroup_host_init_without_controllers_fails_and_creates_nothing)
{
    struct vps_error err = {0};
    struct vps_cgroup_host h = {0};
    char dir[] = "/tmp/vps-test-cg-fake.XXXXXX", path[256];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* A plain directory named like a hierarchy is not a mounted controller. */
    snprintf(path, sizeof path, "%s/memory", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(vps_cgroup_host_init(dir, prefix, &h, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "controller 'memory' is not mounted");
    ck_assert_ptr_null(h.mount_root);
    snprintf(path, sizeof path, "%s/memory/%s", dir, prefix);
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/memory", dir);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(cgroup_done_on_zeroed_structs_is_a_noop)
{
    struct vps_cgroup_host h = {0};
    struct vps_cgroup cg = {0};

    /* fd 0 must survive: a zeroed struct holds no fds. */
    vps_cgroup_host_done(&h);
    vps_cgroup_done(&cg);
    ck_assert_int_ge(fcntl(0, F_GETFD), 0);
}
END_TEST

/* ---- v1 ---- */

START_TEST(v1_host_init_creates_prefix_in_each_hierarchy)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    char base[128], buf[256];

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_int_ne(h.mode, VPS_CGROUP_V2);
    for (size_t i = 0; i < sizeof v1_hiers / sizeof v1_hiers[0]; i++) {
        snprintf(base, sizeof base, "%s/%s", ROOT, v1_hiers[i]);
        ck_assert_msg(!hier_mounted(v1_hiers[i]) || cg_exists(base, NULL, NULL),
                      "no '%s' under '%s'", prefix, base);
    }
    if (hier_mounted("cpuset")) {
        ck_assert_str_ne(cg_read(buf, sizeof buf, ROOT "/cpuset", NULL, "cpuset.cpus"), "");
        ck_assert_str_ne(cg_read(buf, sizeof buf, ROOT "/cpuset", NULL, "cpuset.mems"), "");
        ck_assert_str_eq(cg_read(buf, sizeof buf, ROOT "/cpuset", NULL, "cgroup.clone_children"),
                         "1");
    }
    /* Again, as a restarted vpsd does: the directories exist already. done leaves no fd. */
    vps_cgroup_host_done(&h);
    ck_assert_ptr_null(h.mount_root);
    ck_assert_int_eq(h.v2_fd, -1);
    for (size_t i = 0; i < VPS_CGROUP_V1_MAX; i++)
        ck_assert_int_eq(h.v1_fds[i], -1);
    vps_cgroup_host_done(&h);
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
}
END_TEST

START_TEST(v1_create_makes_usable_dir_in_each_hierarchy_and_reopens)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0}, again = {0}, opened = {0};
    char base[128], buf[256];

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert_str_eq(cg.name, strcat(strcpy(buf, prefix), "/t"));
    ck_assert_int_eq(vps_cgroup_clone_fd(&cg), -1);
    for (size_t i = 0; i < sizeof v1_hiers / sizeof v1_hiers[0]; i++) {
        snprintf(base, sizeof base, "%s/%s", ROOT, v1_hiers[i]);
        ck_assert_msg(!hier_mounted(v1_hiers[i]) || cg_exists(base, "t", NULL),
                      "no 't' under '%s/%s'", base, prefix);
    }
    if (hier_mounted("cpuset")) {
        ck_assert_str_ne(cg_read(buf, sizeof buf, ROOT "/cpuset", "t", "cpuset.cpus"), "");
        ck_assert_str_ne(cg_read(buf, sizeof buf, ROOT "/cpuset", "t", "cpuset.mems"), "");
    }
    /* Re-adoption: create on an existing cgroup opens it; open finds it. */
    ck_assert_ok(vps_cgroup_create(&h, "t", &again, &err), err);
    ck_assert_ok(vps_cgroup_open(&h, "t", &opened, &err), err);
    ck_assert_int_eq(vps_cgroup_open(&h, "nope", &(struct vps_cgroup){0}, &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "does not exist");
    ck_assert_msg(strstr(err.msg, "nope") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(v1_create_rejects_bad_name_and_creates_nothing)
{
    static const char *const bad[] = {"", "..", "a/b", "../escape", "Upper", "-x"};
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    struct vps_cgroup cg = {0};
    char path[512];

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (struct vps_error){0};
        ck_assert_int_eq(vps_cgroup_create(&h, bad[i], &cg, &err), -1);
        ck_assert_err(err, VPS_ERR_INVALID, "cgroup name");
        ck_assert_ptr_null(cg.name);
    }
    snprintf(path, sizeof path, "%s/memory/escape", ROOT);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* Only the prefix itself is there: no entry that is a directory besides it. */
    DIR *d = opendir(cg_path(path, sizeof path, ROOT "/memory", NULL, NULL));
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        ck_assert_msg(e->d_type != DT_DIR || e->d_name[0] == '.', "left '%s'", e->d_name);
    closedir(d);
}
END_TEST

/* Runs in a child with a private mount namespace in which <pids>/<prefix> is read-only, so
 * create fails in the pids hierarchy (last in the backend's table) after succeeding in the
 * others. Returns an exit status: 0 when create failed the expected way. */
static int create_with_readonly_pids(void)
{
    struct vps_error err = {0};
    struct vps_cgroup_host h = {0};
    struct vps_cgroup cg = {0};
    char path[256];

    snprintf(path, sizeof path, "%s/pids/%s", ROOT, prefix);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(path, path, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return 10;
    if (vps_cgroup_host_init(ROOT, prefix, &h, &err) < 0) {
        fprintf(stderr, "host_init: %s\n", err.msg);
        return 11;
    }
    int r = vps_cgroup_create(&h, "t", &cg, &err);
    vps_cgroup_host_done(&h);
    if (r == 0)
        return 12;
    if (err.code != VPS_ERR_SYSTEM || err.errnum != EROFS || !strstr(err.msg, "/pids/")) {
        fprintf(stderr, "create: %s (errno %d)\n", err.msg, err.errnum);
        return 13;
    }
    return 0;
}

START_TEST(v1_create_failure_removes_what_it_made)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    char base[128];
    int status = 0;

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(create_with_readonly_pids());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    for (size_t i = 0; i < sizeof v1_hiers / sizeof v1_hiers[0]; i++) {
        snprintf(base, sizeof base, "%s/%s", ROOT, v1_hiers[i]);
        ck_assert_msg(!cg_exists(base, "t", NULL), "'t' left under '%s/%s'", base, prefix);
    }
}
END_TEST

START_TEST(v1_apply_limits_writes_translated_values_live)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_limits l = {.ram_bytes = GiB,
                           .swap_bytes = 512 * MiB,
                           .cpu_limit_millicpus = 1500,
                           .cpu_weight = 200,
                           .io_weight = 100,
                           .pids = 64,
                           .cpuset = "0"};
    const char *skipped = "unset";
    char parent_cpus[256];
    bool memsw = false;

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, &skipped, &err), err);

    memsw = cg_exists(ROOT "/memory", "t", "memory.memsw.limit_in_bytes");
    ck_assert(!skipped_has(skipped, "memory") && !skipped_has(skipped, "cpu") &&
              !skipped_has(skipped, "pids"));
    ck_assert_int_eq(skipped_has(skipped, "swap"), !memsw);
    ck_assert_int_eq(skipped_has(skipped, "cpuset"), !hier_mounted("cpuset"));
    ck_assert_int_eq(skipped_has(skipped, "io"),
                     !cg_exists(ROOT "/blkio", "t", "blkio.weight") &&
                         !cg_exists(ROOT "/blkio", "t", "blkio.bfq.weight"));
    expect_v1("memory", "memory.limit_in_bytes", "1073741824");
    if (memsw)
        expect_v1("memory", "memory.memsw.limit_in_bytes", "1610612736");
    expect_v1("cpu", "cpu.cfs_period_us", "100000");
    expect_v1("cpu", "cpu.cfs_quota_us", "150000");
    expect_v1("cpu", "cpu.shares", "2048");
    expect_v1("pids", "pids.max", "64");
    if (hier_mounted("cpuset"))
        expect_v1("cpuset", "cpuset.cpus", "0");
    if (cg_exists(ROOT "/blkio", "t", "blkio.bfq.weight"))
        expect_v1("blkio", "blkio.bfq.weight", "100");

    /* Lower everything: memory.limit_in_bytes has to go before memsw. */
    l = (struct vps_limits){.ram_bytes = 512 * MiB,
                            .cpu_limit_millicpus = 500,
                            .cpu_weight = 50,
                            .io_weight = 10000,
                            .pids = 10,
                            .cpuset = "0"};
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, NULL, &err), err);
    expect_v1("memory", "memory.limit_in_bytes", "536870912");
    if (memsw)
        expect_v1("memory", "memory.memsw.limit_in_bytes", "536870912");
    expect_v1("cpu", "cpu.cfs_quota_us", "50000");
    expect_v1("cpu", "cpu.shares", "512");
    expect_v1("pids", "pids.max", "10");
    if (cg_exists(ROOT "/blkio", "t", "blkio.bfq.weight"))
        expect_v1("blkio", "blkio.bfq.weight", "1000");

    /* Raise the limit above the current memsw: memsw has to go first. */
    l = (struct vps_limits){.ram_bytes = 2 * GiB, .swap_bytes = GiB, .cpu_weight = 100};
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, NULL, &err), err);
    expect_v1("memory", "memory.limit_in_bytes", "2147483648");
    if (memsw)
        expect_v1("memory", "memory.memsw.limit_in_bytes", "3221225472");

    /* Everything unset: unlimited, default weights, the parent's CPUs. */
    l = (struct vps_limits){0};
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, NULL, &err), err);
    expect_v1("memory", "memory.limit_in_bytes", "9223372036854771712");
    if (memsw)
        expect_v1("memory", "memory.memsw.limit_in_bytes", "9223372036854771712");
    expect_v1("cpu", "cpu.cfs_quota_us", "-1");
    expect_v1("cpu", "cpu.shares", "1024");
    expect_v1("pids", "pids.max", "max");
    if (hier_mounted("cpuset"))
        expect_v1("cpuset", "cpuset.cpus",
                  cg_read(parent_cpus, sizeof parent_cpus, ROOT "/cpuset", NULL, "cpuset.cpus"));
    if (cg_exists(ROOT "/blkio", "t", "blkio.bfq.weight"))
        expect_v1("blkio", "blkio.bfq.weight", "100");
}
END_TEST

START_TEST(v1_apply_limits_reports_kernel_refusal)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_limits l = {.ram_bytes = GiB, .cpu_weight = 100, .cpuset = "4095"};

    if (!v1_host() || !hier_mounted("cpuset"))
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert_int_eq(vps_cgroup_apply_limits(&cg, &l, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "cpuset: write '4095' to 'cpuset.cpus'");
    ck_assert_msg(strstr(err.msg, "/t': ") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(v1_attach_stats_and_kill_all)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_cgroup_stats st = {0};
    struct child ch;
    char base[128], buf[64];
    bool empty = false;

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(empty);
    child_start(&ch);
    ck_assert_ok(vps_cgroup_attach(&cg, ch.pid, &err), err);
    for (size_t i = 0; i < sizeof v1_hiers / sizeof v1_hiers[0]; i++) {
        snprintf(base, sizeof base, "%s/%s", ROOT, v1_hiers[i]);
        ck_assert_msg(!hier_mounted(v1_hiers[i]) || procs_has(base, "t", ch.pid), "pid not in '%s'",
                      base);
    }
    child_cmd(&ch, 'm');
    ck_assert_ok(vps_cgroup_stats(&cg, &st, &err), err);
    ck_assert_uint_ge(st.pids_current, 1);
    ck_assert_uint_ge(st.memory_current_bytes, 4 * MiB);
    ck_assert_uint_ge(st.memory_peak_bytes, st.memory_current_bytes);
    if (hier_mounted("cpuacct"))
        ck_assert_uint_gt(st.cpu_usage_ns, 0);
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(!empty);

    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(empty);
    child_expect_killed(&ch);
    if (hier_mounted("freezer"))
        ck_assert_str_eq(cg_read(buf, sizeof buf, ROOT "/freezer", "t", "freezer.state"), "THAWED");
    /* Again on the now empty cgroup. */
    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
}
END_TEST

START_TEST(v1_kill_all_kills_forked_descendants)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_cgroup_stats st = {0};
    struct child ch;
    bool empty = false;

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    child_start(&ch);
    ck_assert_ok(vps_cgroup_attach(&cg, ch.pid, &err), err);
    child_cmd(&ch, 'f');
    child_cmd(&ch, 'f');
    ck_assert_ok(vps_cgroup_stats(&cg, &st, &err), err);
    ck_assert_uint_ge(st.pids_current, 3);
    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(empty);
    child_expect_killed(&ch);
}
END_TEST

START_TEST(v1_remove_deletes_every_dir_and_refuses_busy)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct child ch;
    char base[128];

    if (!v1_host())
        return;
    ck_assert_ok(vps_cgroup_host_init(ROOT, prefix, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    child_start(&ch);
    ck_assert_ok(vps_cgroup_attach(&cg, ch.pid, &err), err);
    ck_assert_int_eq(vps_cgroup_remove(&h, "t", &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, ROOT "/");
    ck_assert_int_eq(err.errnum, EBUSY);
    ck_assert_msg(strstr(err.msg, prefix) && strstr(err.msg, "/t'"), "%s", err.msg);

    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    child_expect_killed(&ch);
    vps_cgroup_done(&cg);
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
    for (size_t i = 0; i < sizeof v1_hiers / sizeof v1_hiers[0]; i++) {
        snprintf(base, sizeof base, "%s/%s", ROOT, v1_hiers[i]);
        ck_assert_msg(!cg_exists(base, "t", NULL), "'t' left under '%s'", base);
    }
    /* Missing is success. */
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
}
END_TEST

/* A joint mount (cpu,cpuacct) is one hierarchy reached under two names. A mount root whose
 * "cpu" and "cpuacct" are symlinks to the same real hierarchy stands in for one. */
START_TEST(v1_joint_mount_is_one_hierarchy)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    static const char *const links[][2] = {{"memory", ROOT "/memory"},
                                           {"cpu", ROOT "/cpu"},
                                           {"cpuacct", ROOT "/cpu"},
                                           {"pids", ROOT "/pids"}};
    char dir[] = "/tmp/vps-test-cg-joint.XXXXXX", path[256];
    size_t n_fds = 0;
    struct child ch;

    if (!v1_host() || !hier_mounted("cpu") || !hier_mounted("memory") || !hier_mounted("pids"))
        return;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i][0]);
        ck_assert_int_eq(symlink(links[i][1], path), 0);
    }
    int r = vps_cgroup_host_init(dir, prefix, &h, &err);
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i][0]);
        (void) unlink(path);
    }
    (void) rmdir(dir);
    ck_assert_msg(r == 0, "host_init: %s", err.msg);
    for (size_t i = 0; i < VPS_CGROUP_V1_MAX; i++)
        n_fds += h.v1_fds[i] >= 0;
    ck_assert_uint_eq(n_fds, 3);

    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    child_start(&ch);
    ck_assert_ok(vps_cgroup_attach(&cg, ch.pid, &err), err);
    ck_assert(procs_has(ROOT "/cpu", "t", ch.pid));
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &(struct vps_limits){.cpu_weight = 300}, NULL, &err),
                 err);
    expect_v1("cpu", "cpu.shares", "3072");
    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    child_expect_killed(&ch);
    vps_cgroup_done(&cg);
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
    ck_assert(!cg_exists(ROOT "/cpu", "t", NULL));
}
END_TEST

/* ---- v2 ---- */

START_TEST(v2_create_apply_and_remove)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_limits l = {.ram_bytes = GiB,
                           .swap_bytes = 512 * MiB,
                           .cpu_limit_millicpus = 1500,
                           .cpu_weight = 200,
                           .io_weight = 300,
                           .pids = 64,
                           .cpuset = "0"};
    const char *skipped = NULL;
    unsigned flags = 0;
    const char *root = v2_root(&flags);
    char buf[256];
    struct stat st;

    if (!root)
        return;
    ck_assert_ok(vps_cgroup_host_init_flags(root, prefix, flags, &h, &err), err);
    ck_assert_int_eq(h.mode, VPS_CGROUP_V2);
    ck_assert(cg_exists(root, NULL, NULL));
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert(cg_exists(root, "t", NULL));
    ck_assert_int_ge(vps_cgroup_clone_fd(&cg), 0);
    ck_assert_int_eq(fstat(vps_cgroup_clone_fd(&cg), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));

    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, &skipped, &err), err);
    if (flags & VPS_CGROUP_HOST_PARTIAL) {
        /* No controller reaches a hybrid host's v2 tree: everything is skipped, nothing fails. */
        ck_assert_ptr_nonnull(skipped);
        ck_assert_str_eq(skipped, "memory,swap,cpu,cpuset,pids,io");
    } else {
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "memory.max"), "1073741824");
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "cpu.max"), "150000 100000");
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "cpu.weight"), "200");
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "pids.max"), "64");
        if (!skipped_has(skipped, "swap"))
            ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "memory.swap.max"), "536870912");
    }
    l = (struct vps_limits){0};
    ck_assert_ok(vps_cgroup_apply_limits(&cg, &l, &skipped, &err), err);
    if (!(flags & VPS_CGROUP_HOST_PARTIAL)) {
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "memory.max"), "max");
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "cpu.max"), "max 100000");
        ck_assert_str_eq(cg_read(buf, sizeof buf, root, "t", "pids.max"), "max");
    }

    ck_assert_int_eq(vps_cgroup_open(&h, "nope", &(struct vps_cgroup){0}, &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "does not exist");
    vps_cgroup_done(&cg);
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
    ck_assert(!cg_exists(root, "t", NULL));
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
}
END_TEST

START_TEST(v2_attach_stats_kill_all_and_busy_remove)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    struct vps_cgroup_stats st = {0};
    unsigned flags = 0;
    const char *root = v2_root(&flags);
    struct child ch;
    bool empty = false;

    if (!root)
        return;
    ck_assert_ok(vps_cgroup_host_init_flags(root, prefix, flags, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    child_start(&ch);
    ck_assert_ok(vps_cgroup_attach(&cg, ch.pid, &err), err);
    ck_assert(procs_has(root, "t", ch.pid));
    child_cmd(&ch, 'm');
    child_cmd(&ch, 'f');
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(!empty);
    ck_assert_ok(vps_cgroup_stats(&cg, &st, &err), err);
    if (!(flags & VPS_CGROUP_HOST_PARTIAL)) {
        ck_assert_uint_ge(st.pids_current, 2);
        ck_assert_uint_ge(st.memory_current_bytes, 4 * MiB);
    }

    ck_assert_int_eq(vps_cgroup_remove(&h, "t", &err), -1);
    ck_assert_int_eq(err.errnum, EBUSY);
    ck_assert_msg(strstr(err.msg, root) && strstr(err.msg, "/t'"), "%s", err.msg);

    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(empty);
    child_expect_killed(&ch);
    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    vps_cgroup_done(&cg);
    ck_assert_ok(vps_cgroup_remove(&h, "t", &err), err);
    ck_assert(!cg_exists(root, "t", NULL));
}
END_TEST

START_TEST(v2_clone_fd_starts_child_inside)
{
    struct vps_error err = {0};
    cleanup_(vps_cgroup_host_done) struct vps_cgroup_host h = {0};
    cleanup_(vps_cgroup_done) struct vps_cgroup cg = {0};
    unsigned flags = 0;
    const char *root = v2_root(&flags);
    int p[2], status = 0;
    bool empty = true;

    if (!root)
        return;
    ck_assert_ok(vps_cgroup_host_init_flags(root, prefix, flags, &h, &err), err);
    ck_assert_ok(vps_cgroup_create(&h, "t", &cg, &err), err);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    struct clone_args a = {.flags = CLONE_INTO_CGROUP,
                           .exit_signal = SIGCHLD,
                           .cgroup = (uint64_t) vps_cgroup_clone_fd(&cg)};
    long pid = syscall(SYS_clone3, &a, sizeof a);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;
        (void) read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    ck_assert(procs_has(root, "t", (pid_t) pid));
    ck_assert_ok(vps_cgroup_is_empty(&cg, &empty, &err), err);
    ck_assert(!empty);
    ck_assert_ok(vps_cgroup_kill_all(&cg, &err), err);
    ck_assert_int_eq(waitpid((pid_t) pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(p[1]);
}
END_TEST

static Suite *cgroup_suite(void)
{
    Suite *s = suite_create("cgroup");
    TCase *args = tcase_create("args");
    TCase *v1 = tcase_create("v1");
    TCase *v2 = tcase_create("v2");

    tcase_add_unchecked_fixture(args, setup, teardown);
    tcase_add_test(args, cgroup_rejects_prefix_that_is_not_one_component);
    tcase_add_test(args, cgroup_host_init_without_controllers_fails_and_creates_nothing);
    tcase_add_test(args, cgroup_done_on_zeroed_structs_is_a_noop);
    suite_add_tcase(s, args);

    /* Generous: a kill waits up to 10 s before it reports a timeout. */
    tcase_set_timeout(v1, 30);
    tcase_add_unchecked_fixture(v1, setup, teardown);
    tcase_add_checked_fixture(v1, fresh, NULL);
    tcase_add_test(v1, v1_host_init_creates_prefix_in_each_hierarchy);
    tcase_add_test(v1, v1_create_makes_usable_dir_in_each_hierarchy_and_reopens);
    tcase_add_test(v1, v1_create_rejects_bad_name_and_creates_nothing);
    tcase_add_test(v1, v1_create_failure_removes_what_it_made);
    tcase_add_test(v1, v1_apply_limits_writes_translated_values_live);
    tcase_add_test(v1, v1_apply_limits_reports_kernel_refusal);
    tcase_add_test(v1, v1_attach_stats_and_kill_all);
    tcase_add_test(v1, v1_kill_all_kills_forked_descendants);
    tcase_add_test(v1, v1_remove_deletes_every_dir_and_refuses_busy);
    tcase_add_test(v1, v1_joint_mount_is_one_hierarchy);
    suite_add_tcase(s, v1);

    tcase_set_timeout(v2, 30);
    tcase_add_unchecked_fixture(v2, setup, teardown);
    tcase_add_checked_fixture(v2, fresh, NULL);
    tcase_add_test(v2, v2_create_apply_and_remove);
    tcase_add_test(v2, v2_attach_stats_kill_all_and_busy_remove);
    tcase_add_test(v2, v2_clone_fd_starts_child_inside);
    suite_add_tcase(s, v2);
    return s;
}

int main(void)
{
    return run_suite(cgroup_suite(), CK_FORK_GETENV);
}
