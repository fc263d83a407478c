/* Unit tests for storage.c: the copy keeps every file type and its metadata and leaves
 * nothing behind when it fails; destroy never follows a planted symlink nor crosses a
 * mount point, and copes with any depth; usage counts hard links once. Root-only checks
 * (owners, device nodes, mounts) run only as root. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vps/storage.h"

#include "test-helpers.h"

static const struct vps_storage st = {.backend = VPS_STORAGE_DIR};

/* One private directory per test case, made and removed in the parent (unchecked fixture),
 * so that it goes even when a forked test fails halfway. Each test works in a subdirectory
 * of its own. */
static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, "/tmp", "storage");
}

static void base_teardown(void)
{
    char path[600];

    /* The mount test ran in a forked child that may have died before its own umount. */
    snprintf(path, sizeof path, "%s/mount-point/tree/m", base_dir);
    (void) umount2(path, MNT_DETACH);
    make_tree_writable(base_dir, FTW_PHYS | FTW_MOUNT);
    remove_tree(base_dir, FTW_PHYS | FTW_MOUNT);
}

static int mkdir_open(int dir_fd, const char *name, mode_t mode)
{
    ck_assert_int_eq(mkdirat(dir_fd, name, mode), 0);
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, mode), 0); /* whatever the umask */
    return fd;
}

/* A fresh, empty directory for the calling test, opened. */
static int test_dir(const char *name)
{
    int base = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(base, 0);
    int fd = mkdir_open(base, name, 0700);
    close(base);
    return fd;
}

static void put_file(int dir_fd, const char *name, const char *content, mode_t mode)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

static void set_mtime(int dir_fd, const char *name, time_t t)
{
    struct timespec ts[2] = {{.tv_sec = t}, {.tv_sec = t}};
    ck_assert_int_eq(utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* No ".<name>.tmp-*" left in dir_fd. */
static bool no_temp_left(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *de;
    bool clean = true;

    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp-"))
            clean = false;
    closedir(d);
    return clean;
}

/* A source tree with one of everything an unprivileged user can make. */
static void make_source(int src)
{
    int d = mkdir_open(src, "d", 0700);
    put_file(d, "f", "inner", 0600);
    set_mtime(d, "f", 1000000);
    close(d);
    ck_assert_int_eq(fchmodat(src, "d", 0750, 0), 0);
    put_file(src, "a", "hello", 0640);
    set_mtime(src, "a", 3000000);
    put_file(src, "suid", "#!/bin/sh\n", 04755);
    ck_assert_int_eq(mkdirat(src, "t", 0700), 0);
    ck_assert_int_eq(fchmodat(src, "t", 01777, 0), 0);
    ck_assert_int_eq(symlinkat("/etc/passwd", src, "abs-link"), 0);
    ck_assert_int_eq(symlinkat("a", src, "rel-link"), 0);
    ck_assert_int_eq(symlinkat("/nonexistent/dangling", src, "dangling"), 0);
    put_file(src, "h1", "linked", 0644);
    ck_assert_int_eq(linkat(src, "h1", src, "h2", 0), 0);
    ck_assert_int_eq(linkat(src, "h1", src, "d/h3", 0), 0);
    ck_assert_int_eq(mknodat(src, "fifo", S_IFIFO | 0620, 0), 0);
    ck_assert_int_eq(fchmodat(src, "fifo", 0620, 0), 0);
    ck_assert_int_eq(mknodat(src, "sock", S_IFSOCK | 0600, 0), 0);
    set_mtime(src, "d", 2000000); /* last: adding d/h3 changed it */
}

START_TEST(create_copies_types_modes_links_and_times)
{
    struct vps_error err = {0};
    int base = test_dir("create_copies_types_modes_links_and_times");
    int src = mkdir_open(base, "src", 0755);

    make_source(src);
    /* Opened O_PATH, as vps_template_open_rootfs() hands it over. */
    int src_path = openat(src, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(vps_storage_create(&st, src_path, base, "dst", &err), 0);
    int dst = openat(base, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dst, 0);

    ck_assert_str_eq(read_small_file_at(dst, "a"), "hello");
    ck_assert_int_eq(lstat_at(dst, "a").st_mode, S_IFREG | 0640);
    ck_assert_int_eq(lstat_at(dst, "a").st_mtime, 3000000);
    ck_assert_int_eq(lstat_at(dst, "suid").st_mode, S_IFREG | 04755);
    ck_assert_int_eq(lstat_at(dst, "t").st_mode, S_IFDIR | 01777);
    ck_assert_int_eq(lstat_at(dst, "d").st_mode, S_IFDIR | 0750);
    ck_assert_int_eq(lstat_at(dst, "d").st_mtime, 2000000);
    ck_assert_str_eq(read_small_file_at(dst, "d/f"), "inner");
    ck_assert_int_eq(lstat_at(dst, "d/f").st_mtime, 1000000);
    ck_assert_int_eq(lstat_at(dst, ".").st_mode, S_IFDIR | 0755);

    char target[256];
    ssize_t n = readlinkat(dst, "abs-link", target, sizeof target);
    ck_assert_int_eq(n, 11);
    ck_assert(memcmp(target, "/etc/passwd", 11) == 0);
    ck_assert(S_ISLNK(lstat_at(dst, "rel-link").st_mode));
    ck_assert(S_ISLNK(lstat_at(dst, "dangling").st_mode));

    struct stat h1 = lstat_at(dst, "h1"), h2 = lstat_at(dst, "h2"), h3 = lstat_at(dst, "d/h3");
    ck_assert_int_eq(h1.st_ino, h2.st_ino);
    ck_assert_int_eq(h1.st_ino, h3.st_ino);
    ck_assert_int_eq(h1.st_nlink, 3);
    ck_assert_int_ne(h1.st_ino, lstat_at(src, "h1").st_ino);

    ck_assert_int_eq(lstat_at(dst, "fifo").st_mode, S_IFIFO | 0620);
    ck_assert(S_ISSOCK(lstat_at(dst, "sock").st_mode));
    ck_assert(no_temp_left(base));
    close(dst);
    close(src_path);
    close(src);
    close(base);
}
END_TEST

START_TEST(create_copies_user_xattrs)
{
    struct vps_error err = {0};
    int base = test_dir("create_copies_user_xattrs");
    int src = mkdir_open(base, "src", 0755);
    char val[64];

    put_file(src, "a", "x", 0644);
    int fd = openat(src, "a", O_RDONLY | O_CLOEXEC);
    if (fsetxattr(fd, "user.vps-test", "value", 5, 0) < 0 && errno == ENOTSUP) {
        close(fd);
        return; /* the filesystem under /tmp has no user xattrs */
    }
    ck_assert_int_eq(fsetxattr(src, "user.on-dir", "d", 1, 0), 0);
    close(fd);
    ck_assert_int_eq(vps_storage_create(&st, src, base, "dst", &err), 0);
    int dst = openat(base, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fd = openat(dst, "a", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(fgetxattr(fd, "user.vps-test", val, sizeof val), 5);
    ck_assert(memcmp(val, "value", 5) == 0);
    ck_assert_int_eq(fgetxattr(dst, "user.on-dir", val, sizeof val), 1);
    close(fd);
    close(dst);
    close(src);
    close(base);
}
END_TEST

START_TEST(create_copies_owners_and_devices_as_root)
{
    struct vps_error err = {0};

    if (geteuid() != 0)
        return;
    int base = test_dir("create_copies_owners_and_devices_as_root");
    int src = mkdir_open(base, "src", 0755);
    put_file(src, "owned", "x", 04750);
    ck_assert_int_eq(fchownat(src, "owned", 1234, 5678, 0), 0);
    ck_assert_int_eq(fchmodat(src, "owned", 04750, 0), 0); /* chown cleared setuid */
    ck_assert_int_eq(symlinkat("owned", src, "link"), 0);
    ck_assert_int_eq(fchownat(src, "link", 4321, 8765, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_int_eq(mknodat(src, "null", S_IFCHR | 0666, makedev(1, 3)), 0);
    ck_assert_int_eq(fchmodat(src, "null", 0666, 0), 0);
    int fd = openat(src, "owned", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(fsetxattr(fd, "trusted.vps-test", "t", 1, 0), 0);
    close(fd);

    ck_assert_int_eq(vps_storage_create(&st, src, base, "dst", &err), 0);
    int dst = openat(base, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat o = lstat_at(dst, "owned"), l = lstat_at(dst, "link"), n = lstat_at(dst, "null");
    ck_assert_int_eq(o.st_uid, 1234);
    ck_assert_int_eq(o.st_gid, 5678);
    ck_assert_int_eq(o.st_mode, S_IFREG | 04750);
    ck_assert_int_eq(l.st_uid, 4321);
    ck_assert_int_eq(l.st_gid, 8765);
    ck_assert_int_eq(n.st_mode, S_IFCHR | 0666);
    ck_assert_int_eq(n.st_rdev, makedev(1, 3));
    char val[8];
    fd = openat(dst, "owned", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(fgetxattr(fd, "trusted.vps-test", val, sizeof val), 1);
    close(fd);
    close(dst);
    close(src);
    close(base);
}
END_TEST

START_TEST(create_keeps_holes_and_data)
{
    struct vps_error err = {0};
    int base = test_dir("create_keeps_holes_and_data");
    int src = mkdir_open(base, "src", 0755);
    const off_t size = 1LL << 30, mid = 512LL << 20;
    char c = 0;

    /* Data at the start, in the middle and nothing at the end: two holes, one trailing. */
    int fd = openat(src, "sparse", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_eq(pwrite(fd, "head", 4, 0), 4);
    ck_assert_int_eq(pwrite(fd, "x", 1, mid), 1);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    close(fd);

    ck_assert_int_eq(vps_storage_create(&st, src, base, "dst", &err), 0);
    int dst = openat(base, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat sb = lstat_at(dst, "sparse");
    ck_assert_int_eq(sb.st_size, size);
    ck_assert_int_lt(sb.st_blocks * 512, 16 << 20);
    ck_assert_str_eq(read_small_file_at(dst, "sparse"), "head");
    fd = openat(dst, "sparse", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(pread(fd, &c, 1, mid), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_int_eq(pread(fd, &c, 1, size - 1), 1);
    ck_assert_int_eq(c, 0);
    close(fd);
    close(dst);
    close(src);
    close(base);
}
END_TEST

START_TEST(create_refuses_existing_name)
{
    struct vps_error err = {0};
    int base = test_dir("create_refuses_existing_name");
    int src = mkdir_open(base, "src", 0755);

    close(mkdir_open(base, "dst", 0755));
    ck_assert_int_eq(vps_storage_create(&st, src, base, "dst", &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "'dst' already exists");
    close(src);
    close(base);
}
END_TEST

START_TEST(create_failure_leaves_nothing)
{
    struct vps_error err = {0};
    int base = test_dir("create_failure_leaves_nothing");
    int src = mkdir_open(base, "src", 0755);
    int fd = dup(src);

    put_file(src, "early", "x", 0644);
    /* Deeper than the copy goes: it fails after having written a lot. */
    for (int i = 0; i < 300; i++) {
        int next = mkdir_open(fd, "d", 0755);
        close(fd);
        fd = next;
    }
    close(fd);
    ck_assert_int_eq(vps_storage_create(&st, src, base, "dst", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "nested deeper than 256 levels at 'd/d/d/");
    ck_assert_msg(strstr(err.msg, "create 'dst'") == err.msg, "message '%s'", err.msg);
    ck_assert(!exists_at(base, "dst"));
    ck_assert(no_temp_left(base));
    close(src);
    close(base);
}
END_TEST

START_TEST(create_rejects_a_path_as_name)
{
    struct vps_error err = {0};
    int base = test_dir("create_rejects_a_path_as_name");

    ck_assert_int_eq(vps_storage_create(&st, base, base, "a/b", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "not a single path component");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_storage_destroy(&st, base, "..", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "not a single path component");
    close(base);
}
END_TEST

START_TEST(destroy_does_not_follow_planted_symlinks)
{
    struct vps_error err = {0};
    int base = test_dir("destroy_does_not_follow_planted_symlinks");
    int outside = mkdir_open(base, "outside", 0755);
    int tree = mkdir_open(base, "tree", 0755);
    int sub = mkdir_open(tree, "sub", 0755);

    put_file(outside, "precious", "keep me", 0644);
    ck_assert_int_eq(symlinkat("../outside", tree, "to-dir"), 0);
    char abs[600];
    snprintf(abs, sizeof abs, "%s/destroy_does_not_follow_planted_symlinks/outside", base_dir);
    ck_assert_int_eq(symlinkat(abs, sub, "to-dir-abs"), 0);
    snprintf(abs, sizeof abs, "%s/destroy_does_not_follow_planted_symlinks/outside/precious",
             base_dir);
    ck_assert_int_eq(symlinkat(abs, sub, "to-file"), 0);
    put_file(sub, "x", "x", 0444);
    close(sub);

    ck_assert_int_eq(vps_storage_destroy(&st, base, "tree", &err), 0);
    ck_assert(!exists_at(base, "tree"));
    ck_assert_str_eq(read_small_file_at(outside, "precious"), "keep me");
    close(tree);
    close(outside);
    close(base);
}
END_TEST

START_TEST(destroy_of_a_symlink_removes_only_the_link)
{
    struct vps_error err = {0};
    int base = test_dir("destroy_of_a_symlink_removes_only_the_link");
    int outside = mkdir_open(base, "outside", 0755);

    put_file(outside, "precious", "keep me", 0644);
    ck_assert_int_eq(symlinkat("outside", base, "tree"), 0);
    ck_assert_int_eq(vps_storage_destroy(&st, base, "tree", &err), 0);
    ck_assert(!exists_at(base, "tree"));
    ck_assert_str_eq(read_small_file_at(outside, "precious"), "keep me");
    close(outside);
    close(base);
}
END_TEST

START_TEST(destroy_refuses_to_cross_a_mount_point)
{
    struct vps_error err = {0};
    char path[600];

    if (geteuid() != 0)
        return;
    int base = test_dir("mount-point");
    int tree = mkdir_open(base, "tree", 0755);
    put_file(tree, "before", "x", 0644);
    close(mkdir_open(tree, "m", 0755));
    snprintf(path, sizeof path, "%s/mount-point/tree/m", base_dir);
    if (mount("vps-test", path, "tmpfs", 0, "size=1m") < 0)
        return; /* no mount privilege here (a container): nothing to test */
    int m = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    put_file(m, "inside", "keep", 0644);

    ck_assert_int_eq(vps_storage_destroy(&st, base, "tree", &err), -1);
    ck_assert_err(err, VPS_ERR_CONFLICT, "'m' is a mount point");
    ck_assert_str_eq(read_small_file_at(m, "inside"), "keep");
    ck_assert(exists_at(base, "tree"));
    close(m);
    ck_assert_int_eq(umount2(path, MNT_DETACH), 0);
    close(tree);
    close(base);
}
END_TEST

START_TEST(destroy_of_a_missing_name_succeeds)
{
    struct vps_error err = {0};
    int base = test_dir("destroy_of_a_missing_name_succeeds");

    ck_assert_int_eq(vps_storage_destroy(&st, base, "nothing-here", &err), 0);
    close(base);
}
END_TEST

START_TEST(destroy_removes_a_tree_deeper_than_the_walk)
{
    struct vps_error err = {0};
    int base = test_dir("destroy_removes_a_tree_deeper_than_the_walk");
    int fd = mkdir_open(base, "tree", 0755);

    for (int i = 0; i < 700; i++) {
        int next = mkdir_open(fd, "d", 0755);
        if (i % 100 == 0)
            put_file(next, "f", "x", 0644);
        close(fd);
        fd = next;
    }
    close(fd);
    ck_assert_int_eq(vps_storage_destroy(&st, base, "tree", &err), 0);
    ck_assert(!exists_at(base, "tree"));
    close(base);
}
END_TEST

START_TEST(usage_counts_hard_links_once)
{
    struct vps_error err = {0};
    int base = test_dir("usage_counts_hard_links_once");
    int tree = mkdir_open(base, "tree", 0755);
    char big[65536];
    uint64_t bytes;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put_file(tree, "big", big, 0644);
    ck_assert_int_eq(linkat(tree, "big", tree, "big2", 0), 0);
    ck_assert_int_eq(linkat(tree, "big", tree, "big3", 0), 0);
    uint64_t expected = (uint64_t) lstat_at(tree, ".").st_blocks * 512 +
                        (uint64_t) lstat_at(tree, "big").st_blocks * 512;

    ck_assert_int_eq(vps_storage_usage(&st, base, "tree", &bytes, &err), 0);
    ck_assert_uint_eq(bytes, expected);
    ck_assert_uint_ge(bytes, sizeof big - 1);
    close(tree);
    close(base);
}
END_TEST

START_TEST(usage_of_a_missing_tree_fails)
{
    struct vps_error err = {0};
    int base = test_dir("usage_of_a_missing_tree_fails");
    uint64_t bytes;

    ck_assert_int_eq(vps_storage_usage(&st, base, "nothing", &bytes, &err), -1);
    ck_assert_int_eq(err.errnum, ENOENT);
    ck_assert_err(err, VPS_ERR_SYSTEM, "usage of 'nothing'");
    close(base);
}
END_TEST

START_TEST(remove_stale_clears_leftover_temporaries)
{
    struct vps_error err = {0};
    int base = test_dir("remove_stale_clears_leftover_temporaries");
    char tmp[NAME_MAX + 1];

    ck_assert_int_eq(vps_storage_mkdtemp_at(base, "web1", tmp, sizeof tmp, &err), 0);
    ck_assert(strncmp(tmp, ".web1.tmp-", 10) == 0);
    close(mkdir_open(base, "web1", 0755));
    close(mkdir_open(base, "web2", 0755));
    ck_assert_int_eq(vps_storage_mkdtemp_at(base, "web2", tmp, sizeof tmp, &err), 0);

    ck_assert_int_eq(vps_storage_remove_stale(&st, base, "web1", &err), 0);
    ck_assert(exists_at(base, tmp)); /* web2's stays */
    ck_assert_int_eq(vps_storage_remove_stale(&st, base, NULL, &err), 0);
    ck_assert(no_temp_left(base));
    ck_assert(exists_at(base, "web1"));
    ck_assert(exists_at(base, "web2"));
    close(base);
}
END_TEST

static Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("dir");

    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, create_copies_types_modes_links_and_times);
    tcase_add_test(tc, create_copies_user_xattrs);
    tcase_add_test(tc, create_copies_owners_and_devices_as_root);
    tcase_add_test(tc, create_keeps_holes_and_data);
    tcase_add_test(tc, create_refuses_existing_name);
    tcase_add_test(tc, create_failure_leaves_nothing);
    tcase_add_test(tc, create_rejects_a_path_as_name);
    tcase_add_test(tc, destroy_does_not_follow_planted_symlinks);
    tcase_add_test(tc, destroy_of_a_symlink_removes_only_the_link);
    tcase_add_test(tc, destroy_refuses_to_cross_a_mount_point);
    tcase_add_test(tc, destroy_of_a_missing_name_succeeds);
    tcase_add_test(tc, destroy_removes_a_tree_deeper_than_the_walk);
    tcase_add_test(tc, usage_counts_hard_links_once);
    tcase_add_test(tc, usage_of_a_missing_tree_fails);
    tcase_add_test(tc, remove_stale_clears_leftover_temporaries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(storage_suite(), CK_FORK_GETENV);
}
