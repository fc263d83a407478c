/* Unit tests for fd.c: bounded whole reads, whole writes, and the crash-safe replace of a file
 * (content, mode, no temp file left, the old file intact when the replace fails). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vps/fd.h"

#include "test-helpers.h"

/* One private directory per test case, made in the parent (unchecked fixture) so that it is
 * removed even when a forked test fails halfway. Each test works in its own subdirectory. */
static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, tmp_parent(), "fd");
}

static void base_teardown(void)
{
    make_tree_writable(base_dir, FTW_PHYS);
    remove_tree(base_dir, FTW_PHYS);
}

/* A fresh, empty directory for the calling test, opened. */
static int test_dir(const char *name)
{
    return open_test_dir(base_dir, name, NULL, 0);
}

static void put_file(int dir_fd, const char *name, const char *content, mode_t mode)
{
    write_file_at(dir_fd, name, content, strlen(content), mode);
}

/* The content of dir_fd/name, or NULL if it cannot be read. Caller frees. */
static char *get_file(int dir_fd, const char *name)
{
    struct vps_error err = {0};
    char *s = NULL;

    if (vps_read_at(dir_fd, name, 1 << 20, &s, NULL, &err) < 0)
        return NULL;
    return s;
}

/* Number of directory entries besides . and .. */
static size_t count_entries(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *de;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int memfd_with(const char *content, size_t len)
{
    int fd = memfd_create("test", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, len), (ssize_t) len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* ---- vps_read_all ---- */

START_TEST(fd_read_all_reads_whole_file_past_first_chunk)
{
    struct vps_error err = {0};
    size_t n = 10000, len = 0;
    cleanup_free char *data = malloc(n), *got = NULL;

    for (size_t i = 0; i < n; i++)
        data[i] = (char) ('a' + i % 26);
    cleanup_close int fd = memfd_with(data, n);
    ck_assert_int_eq(vps_read_all(fd, 1 << 20, &got, &len, &err), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, data, n) == 0);
    ck_assert_int_eq(got[n], '\0');
    ck_assert_int_eq(err.code, VPS_ERR_NONE);
}
END_TEST

START_TEST(fd_read_all_accepts_exactly_max_bytes)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    size_t len = 0;
    cleanup_close int fd = memfd_with("0123456789", 10);

    ck_assert_int_eq(vps_read_all(fd, 10, &got, &len, &err), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_str_eq(got, "0123456789");
}
END_TEST

START_TEST(fd_read_all_rejects_one_byte_over_max)
{
    struct vps_error err = {0};
    char *got = (char *) "untouched";
    size_t len = 77;
    cleanup_close int fd = memfd_with("0123456789", 10);

    ck_assert_int_eq(vps_read_all(fd, 9, &got, &len, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "more than 9 bytes");
    /* Outputs are written only on success. */
    ck_assert_str_eq(got, "untouched");
    ck_assert_uint_eq(len, 77);
}
END_TEST

START_TEST(fd_read_all_rejects_past_limit_across_chunks)
{
    struct vps_error err = {0};
    size_t n = 3 * 4096 + 5;
    cleanup_free char *data = calloc(1, n), *got = NULL;
    cleanup_close int fd = memfd_with(data, n);

    ck_assert_int_eq(vps_read_all(fd, n - 1, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "more than");
    ck_assert_ptr_null(got);
}
END_TEST

START_TEST(fd_read_all_with_zero_max_accepts_only_empty)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    size_t len = 1;
    cleanup_close int empty = memfd_with("", 0);
    cleanup_close int one = memfd_with("x", 1);

    ck_assert_int_eq(vps_read_all(empty, 0, &got, &len, &err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(got, "");
    ck_assert_int_eq(vps_read_all(one, 0, &got, &len, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "more than 0 bytes");
}
END_TEST

START_TEST(fd_read_all_stops_endless_input_at_the_limit)
{
    /* /dev/zero never ends: the limit, not EOF, must end the read. */
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vps_read_all(fd, 1 << 20, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "more than 1048576 bytes");
}
END_TEST

START_TEST(fd_read_all_without_limit_reads_file)
{
    /* SIZE_MAX means "no limit"; computing max_bytes + 1 must not wrap to 0. */
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    size_t len = 0;
    cleanup_close int fd = memfd_with("abc", 3);

    ck_assert_int_eq(vps_read_all(fd, SIZE_MAX, &got, &len, &err), 0);
    ck_assert_str_eq(got, "abc");
    ck_assert_uint_eq(len, 3);
}
END_TEST

START_TEST(fd_read_all_reports_read_errors_as_system)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    ck_assert_int_eq(vps_read_all(fd, 100, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "read");
    ck_assert_int_eq(err.errnum, EISDIR);
}
END_TEST

START_TEST(fd_read_all_reads_pipe_to_eof)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    int p[2];

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(write(p[1], "hello", 5), 5);
    close(p[1]);
    ck_assert_int_eq(vps_read_all(p[0], 100, &got, NULL, &err), 0);
    ck_assert_str_eq(got, "hello");
    close(p[0]);
}
END_TEST

/* ---- vps_read_at ---- */

START_TEST(fd_read_at_missing_file_keeps_enoent)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("read-missing");

    ck_assert_int_eq(vps_read_at(dir, "config.json", 100, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open 'config.json'");
    ck_assert_int_eq(err.errnum, ENOENT);
}
END_TEST

START_TEST(fd_read_at_refuses_symlink)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("read-symlink");

    put_file(dir, "real", "secret", 0600);
    ck_assert_int_eq(symlinkat("real", dir, "link"), 0);
    ck_assert_int_eq(vps_read_at(dir, "link", 100, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open 'link'");
    ck_assert_int_eq(err.errnum, ELOOP);
}
END_TEST

START_TEST(fd_read_at_names_file_when_too_large)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    size_t len = 0;
    cleanup_close int dir = test_dir("read-large");

    put_file(dir, "big", "0123456789", 0600);
    ck_assert_int_eq(vps_read_at(dir, "big", 5, &got, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_TOO_LARGE, "'big': more than 5 bytes");
    ck_assert_int_eq(vps_read_at(dir, "big", 10, &got, &len, &err), 0);
    ck_assert_str_eq(got, "0123456789");
}
END_TEST

/* ---- vps_write_all, vps_write_at ---- */

START_TEST(fd_write_all_writes_large_buffer)
{
    struct vps_error err = {0};
    size_t n = 1 << 20;
    cleanup_free char *data = malloc(n), *got = NULL;
    size_t len = 0;
    cleanup_close int fd = memfd_create("w", MFD_CLOEXEC);

    for (size_t i = 0; i < n; i++)
        data[i] = (char) (i * 7);
    ck_assert_int_eq(vps_write_all(fd, data, n, &err), 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_read_all(fd, n, &got, &len, &err), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, data, n) == 0);
}
END_TEST

START_TEST(fd_write_all_reports_errno)
{
    struct vps_error err = {0};
    cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    ck_assert_int_eq(vps_write_all(fd, "x", 1, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "write");
    ck_assert_int_eq(err.errnum, EBADF);
}
END_TEST

START_TEST(fd_write_at_writes_existing_file_only)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("write-at");

    put_file(dir, "memory.max", "", 0600);
    ck_assert_int_eq(vps_write_at(dir, "memory.max", "1073741824", &err), 0);
    got = get_file(dir, "memory.max");
    ck_assert_str_eq(got, "1073741824");

    ck_assert_int_eq(vps_write_at(dir, "pids.max", "10", &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "open 'pids.max'");
    ck_assert_int_eq(err.errnum, ENOENT);
    ck_assert_int_eq(faccessat(dir, "pids.max", F_OK, 0), -1);
}
END_TEST

START_TEST(fd_write_at_names_value_and_file_on_write_error)
{
    struct vps_error err = {0};
    cleanup_close int dir = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    ck_assert_int_ge(dir, 0);
    /* /proc/self/oom_score_adj exists and takes -1000..1000 only. */
    ck_assert_int_eq(vps_write_at(dir, "oom_score_adj", "99999", &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "write '99999' to 'oom_score_adj'");
    ck_assert_int_eq(err.errnum, EINVAL);
}
END_TEST

/* ---- vps_write_atomic_at ---- */

START_TEST(fd_write_atomic_creates_file_with_mode_0600)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("atomic-new");
    struct stat st;

    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "{}\n", 3, 0600, &err), 0);
    got = get_file(dir, "config.json");
    ck_assert_str_eq(got, "{}\n");
    ck_assert_int_eq(fstatat(dir, "config.json", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(fd_write_atomic_replaces_content_and_mode)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("atomic-replace");
    struct stat before, after;

    put_file(dir, "config.json", "old content that is longer than the new one", 0644);
    ck_assert_int_eq(fstatat(dir, "config.json", &before, 0), 0);
    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "new", 3, 0600, &err), 0);
    got = get_file(dir, "config.json");
    ck_assert_str_eq(got, "new");
    ck_assert_int_eq(fstatat(dir, "config.json", &after, 0), 0);
    ck_assert_uint_eq(after.st_mode & 07777, 0600);
    /* A new inode: readers holding the old file never see a half-written one. */
    ck_assert_uint_ne(after.st_ino, before.st_ino);
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(fd_write_atomic_writes_empty_and_binary_content)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    size_t len = 99;
    cleanup_close int dir = test_dir("atomic-binary");

    ck_assert_int_eq(vps_write_atomic_at(dir, "empty", "", 0, 0600, &err), 0);
    got = get_file(dir, "empty");
    ck_assert_str_eq(got, "");
    free(TAKE_PTR(got));

    ck_assert_int_eq(vps_write_atomic_at(dir, "bin", "a\0b", 3, 0600, &err), 0);
    ck_assert_int_eq(vps_read_at(dir, "bin", 10, &got, &len, &err), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(got, "a\0b", 3) == 0);
    ck_assert_uint_eq(count_entries(dir), 2);
}
END_TEST

START_TEST(fd_write_atomic_overwrites_leftover_temp_file)
{
    /* A crash between create and rename leaves ".name.tmp" behind, possibly with another
     * mode; the next write must still produce exactly the requested content and mode. */
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("atomic-leftover");
    struct stat st;

    put_file(dir, ".config.json.tmp", "half-written garbage, much longer than new", 0644);
    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "new", 3, 0600, &err), 0);
    got = get_file(dir, "config.json");
    ck_assert_str_eq(got, "new");
    ck_assert_int_eq(fstatat(dir, "config.json", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(fd_write_atomic_rejects_too_long_name_and_keeps_old_file)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("atomic-long");
    char name[256];

    /* 255 bytes is a legal file name, but ".<name>.tmp" is not. */
    memset(name, 'n', 255);
    name[255] = '\0';
    put_file(dir, name, "old", 0600);
    ck_assert_int_eq(vps_write_atomic_at(dir, name, "new", 3, 0600, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "too long");
    got = get_file(dir, name);
    ck_assert_str_eq(got, "old");
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(fd_write_atomic_failed_create_keeps_old_file)
{
    /* Works as root too: the temp name is taken by a directory, so creating it fails. */
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    cleanup_close int dir = test_dir("atomic-create-fails");

    put_file(dir, "config.json", "old", 0600);
    ck_assert_int_eq(mkdirat(dir, ".config.json.tmp", 0700), 0);
    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "new", 3, 0600, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "'.config.json.tmp'");
    ck_assert_int_ne(err.errnum, 0);
    got = get_file(dir, "config.json");
    ck_assert_str_eq(got, "old");
}
END_TEST

START_TEST(fd_write_atomic_failed_rename_removes_temp_file)
{
    struct vps_error err = {0};
    cleanup_close int dir = test_dir("atomic-rename-fails");

    /* A non-empty directory where the file should go: rename(2) refuses to replace it. */
    ck_assert_int_eq(mkdirat(dir, "config.json", 0700), 0);
    put_file(dir, "config.json/keep", "kept", 0600);
    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "new", 3, 0600, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "rename '.config.json.tmp' to 'config.json'");
    ck_assert_int_eq(err.errnum, EISDIR);
    ck_assert_int_eq(faccessat(dir, ".config.json.tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    ck_assert_uint_eq(count_entries(dir), 1);
    cleanup_free char *got = get_file(dir, "config.json/keep");
    ck_assert_str_eq(got, "kept");
}
END_TEST

START_TEST(fd_write_atomic_in_read_only_dir_keeps_old_file)
{
    struct vps_error err = {0};
    cleanup_free char *got = NULL;
    char path[512];

    if (geteuid() == 0)
        return; /* root ignores directory permissions; the tests above cover root */
    cleanup_close int dir = test_dir("atomic-read-only");
    put_file(dir, "config.json", "old", 0600);
    snprintf(path, sizeof path, "%s/atomic-read-only", base_dir);
    ck_assert_int_eq(chmod(path, 0500), 0);
    ck_assert_int_eq(vps_write_atomic_at(dir, "config.json", "new", 3, 0600, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "create '.config.json.tmp'");
    ck_assert_int_eq(err.errnum, EACCES);
    got = get_file(dir, "config.json");
    ck_assert_str_eq(got, "old");
}
END_TEST

static Suite *fd_suite(void)
{
    Suite *s = suite_create("fd");
    TCase *rd = tcase_create("read");
    TCase *wr = tcase_create("write");

    tcase_add_unchecked_fixture(rd, base_setup, base_teardown);
    tcase_add_test(rd, fd_read_all_reads_whole_file_past_first_chunk);
    tcase_add_test(rd, fd_read_all_accepts_exactly_max_bytes);
    tcase_add_test(rd, fd_read_all_rejects_one_byte_over_max);
    tcase_add_test(rd, fd_read_all_rejects_past_limit_across_chunks);
    tcase_add_test(rd, fd_read_all_with_zero_max_accepts_only_empty);
    tcase_add_test(rd, fd_read_all_stops_endless_input_at_the_limit);
    tcase_add_test(rd, fd_read_all_without_limit_reads_file);
    tcase_add_test(rd, fd_read_all_reports_read_errors_as_system);
    tcase_add_test(rd, fd_read_all_reads_pipe_to_eof);
    tcase_add_test(rd, fd_read_at_missing_file_keeps_enoent);
    tcase_add_test(rd, fd_read_at_refuses_symlink);
    tcase_add_test(rd, fd_read_at_names_file_when_too_large);
    suite_add_tcase(s, rd);

    tcase_add_unchecked_fixture(wr, base_setup, base_teardown);
    tcase_add_test(wr, fd_write_all_writes_large_buffer);
    tcase_add_test(wr, fd_write_all_reports_errno);
    tcase_add_test(wr, fd_write_at_writes_existing_file_only);
    tcase_add_test(wr, fd_write_at_names_value_and_file_on_write_error);
    tcase_add_test(wr, fd_write_atomic_creates_file_with_mode_0600);
    tcase_add_test(wr, fd_write_atomic_replaces_content_and_mode);
    tcase_add_test(wr, fd_write_atomic_writes_empty_and_binary_content);
    tcase_add_test(wr, fd_write_atomic_overwrites_leftover_temp_file);
    tcase_add_test(wr, fd_write_atomic_rejects_too_long_name_and_keeps_old_file);
    tcase_add_test(wr, fd_write_atomic_failed_create_keeps_old_file);
    tcase_add_test(wr, fd_write_atomic_failed_rename_removes_temp_file);
    tcase_add_test(wr, fd_write_atomic_in_read_only_dir_keeps_old_file);
    suite_add_tcase(s, wr);
    return s;
}

int main(void)
{
    return run_suite(fd_suite(), CK_FORK_GETENV);
}
