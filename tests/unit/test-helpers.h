/* Helpers shared by the check-based unit tests under tests/unit/: the error assertions, the
 * per-test-case temporary directory fixture and small file helpers, a probe run in a forked
 * child, and the runner every main() uses. Header only (static inline functions and macros), so
 * each test-<module>.c includes it and nothing else needs building. */
#ifndef VPS_TEST_HELPERS_H
#define VPS_TEST_HELPERS_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- assertions on a struct vps_error ---- */

/* err has code c and a message containing frag. */
#define ck_assert_err(err, c, frag)                                                                \
    do {                                                                                           \
        ck_assert_int_eq((err).code, (c));                                                         \
        ck_assert_msg(strstr((err).msg, (frag)) != NULL, "message '%s' lacks '%s'", (err).msg,     \
                      (frag));                                                                     \
    } while (0)

/* call returns 0; otherwise the failure shows err's message and errno. */
#define ck_assert_ok(call, err)                                                                    \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        ck_assert_msg(r_ == 0, "%s failed: %s (errno %d)", #call, (err).msg, (err).errnum);        \
    } while (0)

/* ---- a private directory per test case ---- */

/* $TMPDIR if set and not empty, else /tmp. */
static inline const char *tmp_parent(void)
{
    const char *tmp = getenv("TMPDIR");

    return tmp && tmp[0] ? tmp : "/tmp";
}

/* Makes a fresh "<parent>/vps-test-<name>.XXXXXX" and puts its path in buf. Meant for an
 * unchecked fixture, made in the parent so that it goes even when a forked test fails halfway:
 * no check assertions, it aborts on failure. */
static inline void make_base_dir(char *buf, size_t size, const char *parent, const char *name)
{
    snprintf(buf, size, "%s/vps-test-%s.XXXXXX", parent, name);
    if (!mkdtemp(buf))
        abort();
}

static inline int remove_entry_cb(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    (void) remove(path);
    return 0;
}

static inline int make_writable_cb(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    (void) ftw;
    if (flag == FTW_D)
        (void) chmod(path, st->st_mode | S_IRWXU);
    return 0;
}

/* Gives the owner rwx on every directory below and including dir (so that a test's read-only
 * directories can be emptied). flags: FTW_PHYS, and FTW_MOUNT to stay on dir's file system. */
static inline void make_tree_writable(const char *dir, int flags)
{
    (void) nftw(dir, make_writable_cb, 16, flags);
}

/* Removes dir and everything below it, best effort; FTW_DEPTH is added to flags. */
static inline void remove_tree(const char *dir, int flags)
{
    (void) nftw(dir, remove_entry_cb, 16, FTW_DEPTH | flags);
}

/* A fresh, empty directory base/name for the calling test, opened; its path in path if
 * non-NULL. */
static inline int open_test_dir(const char *base, const char *name, char *path, size_t size)
{
    char p[512];

    snprintf(p, sizeof p, "%s/%s", base, name);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    if (path)
        snprintf(path, size, "%s", p);
    return fd;
}

/* ---- files ---- */

/* Creates or truncates dir_fd/name (mode, less the umask, for a new file) with len bytes of
 * content. */
static inline void write_file_at(int dir_fd, const char *name, const char *content, size_t len,
                                 mode_t mode)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, len), (ssize_t) len);
    close(fd);
}

/* The first 4095 bytes of dir_fd/name, in a static buffer that the next call overwrites; NULL if
 * it cannot be read. */
static inline char *read_small_file_at(int dir_fd, const char *name)
{
    static char buf[4096];
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

/* lstat of dir_fd/name, which must exist. */
static inline struct stat lstat_at(int dir_fd, const char *name)
{
    struct stat sb;
    ck_assert_msg(fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0, "stat '%s': %s", name,
                  strerror(errno));
    return sb;
}

/* Whether dir_fd/name exists (a dangling symlink does). */
static inline bool exists_at(int dir_fd, const char *name)
{
    struct stat sb;
    return fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---- processes ---- */

/* Whether probe() returns true when run in a forked child, so that whatever it changes in its
 * process stays there. No check assertions: it is meant for main(), outside any test. */
static inline bool child_succeeds(bool (*probe)(void))
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return false;
    if (pid == 0)
        _exit(probe() ? 0 : 1);
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- main() ---- */

/* Runs every test of s and returns main()'s exit status. fork_status: CK_FORK_GETENV leaves the
 * choice to $CK_FORK (check's default); CK_FORK forces a child per test. */
static inline int run_suite(Suite *s, enum fork_status fork_status)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_set_fork_status(sr, fork_status);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
