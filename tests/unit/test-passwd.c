/* Unit tests for passwd.c: user lookup in a VPS's /etc/passwd and /etc/group, built in a
 * temporary root per test. Besides the lookups themselves: malformed lines are skipped, and
 * whatever the VPS plants instead of a plain file (a symlink to a host file, a directory, a
 * FIFO, a huge file, a huge line) is refused without reading anything outside the root. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vps/passwd.h"

#include "test-helpers.h"

#define DB_MAX_BYTES (4 * 1024 * 1024)

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/bash\n"
                                  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                  "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
                                  "bob:x:1001:100::/home/bob:/bin/sh\n"
                                  "www:x:33:33:www-data:/var/www:/usr/sbin/nologin\n";

static const char group_text[] = "root:x:0:\n"
                                 "users:x:100:alice\n"
                                 "sudo:x:27:alice,bob\n"
                                 "alice:x:1000:\n"
                                 "audio:x:29:carol,alice\n"
                                 "staff:x:50:alicex,xalice,al\n"
                                 "www-data:x:33:bob\n";

/* One private directory per test case, made in the parent (unchecked fixture) so that it is
 * removed even when a forked test fails halfway. Each test builds its root below it. */
static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, tmp_parent(), "passwd");
}

static void base_teardown(void)
{
    make_tree_writable(base_dir, FTW_PHYS);
    remove_tree(base_dir, FTW_PHYS);
}

/* A fresh root for the calling test with an empty etc/, opened; its path in path. */
static int make_root(const char *name, char *path, size_t size)
{
    int root = open_test_dir(base_dir, name, path, size);

    ck_assert_int_eq(mkdirat(root, "etc", 0755), 0);
    return root;
}

static void put(int root, const char *name, const char *text)
{
    write_file_at(root, name, text, strlen(text), 0644);
}

/* A root with the standard passwd and group files. */
static int standard_root(const char *name)
{
    char path[512];
    int root = make_root(name, path, sizeof path);

    put(root, "etc/passwd", passwd_text);
    put(root, "etc/group", group_text);
    return root;
}

static struct vps_user lookup_ok(int root, const char *user)
{
    struct vps_user u;
    struct vps_error err = {0};

    memset(&u, 0xa5, sizeof u);
    ck_assert_ok(vps_user_lookup(root, user, &u, &err), err);
    return u;
}

/* The lookup fails with code and a message containing frag, and leaves ret untouched. */
static void lookup_fails(int root, const char *user, enum vps_errcode code, const char *frag)
{
    struct vps_user u, before;
    struct vps_error err = {0};

    memset(&u, 0xa5, sizeof u);
    before = u;
    ck_assert_int_eq(vps_user_lookup(root, user, &u, &err), -1);
    ck_assert_err(err, code, frag);
    ck_assert(memcmp(&u, &before, sizeof u) == 0);
}

static void assert_groups(const struct vps_user *u, const gid_t *want, size_t n)
{
    ck_assert_uint_eq(u->n_groups, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(u->groups[i], want[i]);
}

/* ---- lookups ---- */

START_TEST(lookup_by_name_takes_uid_gid_home_and_groups)
{
    int root = standard_root("by-name");
    struct vps_user u = lookup_ok(root, "alice");

    ck_assert_uint_eq(u.uid, 1000);
    ck_assert_uint_eq(u.gid, 1000);
    ck_assert_str_eq(u.home, "/home/alice");
    /* Not staff, whose members only look like alice; 1000 is her primary group. */
    assert_groups(&u, (gid_t[]){100, 27, 29}, 3);
    close(root);
}
END_TEST

START_TEST(lookup_excludes_primary_group_from_supplementary)
{
    int root = standard_root("primary");
    struct vps_user u = lookup_ok(root, "bob");

    ck_assert_uint_eq(u.uid, 1001);
    ck_assert_uint_eq(u.gid, 100);
    ck_assert_str_eq(u.home, "/home/bob");
    assert_groups(&u, (gid_t[]){27, 33}, 2);
    close(root);
}
END_TEST

START_TEST(lookup_by_listed_uid_takes_its_entry)
{
    int root = standard_root("uid-listed");
    struct vps_user u = lookup_ok(root, "33");

    ck_assert_uint_eq(u.uid, 33);
    ck_assert_uint_eq(u.gid, 33);
    ck_assert_str_eq(u.home, "/var/www");
    ck_assert_uint_eq(u.n_groups, 0);
    /* Its groups come through its name. */
    u = lookup_ok(root, "1000");
    ck_assert_uint_eq(u.gid, 1000);
    assert_groups(&u, (gid_t[]){100, 27, 29}, 3);
    /* Leading zeros are still decimal. */
    u = lookup_ok(root, "0033");
    ck_assert_uint_eq(u.uid, 33);
    ck_assert_str_eq(u.home, "/var/www");
    close(root);
}
END_TEST

START_TEST(lookup_by_unlisted_uid_gets_defaults)
{
    int root = standard_root("uid-unlisted");
    struct vps_user u = lookup_ok(root, "4242");

    ck_assert_uint_eq(u.uid, 4242);
    ck_assert_uint_eq(u.gid, 4242);
    ck_assert_uint_eq(u.n_groups, 0);
    ck_assert_str_eq(u.home, "/");
    u = lookup_ok(root, "4294967294");
    ck_assert_uint_eq(u.uid, 4294967294u);
    close(root);
}
END_TEST

START_TEST(lookup_null_is_root)
{
    char path[512];
    int root = standard_root("null");
    struct vps_user u = lookup_ok(root, NULL);

    ck_assert_uint_eq(u.uid, 0);
    ck_assert_uint_eq(u.gid, 0);
    ck_assert_str_eq(u.home, "/root");
    ck_assert_uint_eq(u.n_groups, 0);
    close(root);

    /* No passwd at all: still root, at home in "/". */
    root = make_root("null-bare", path, sizeof path);
    u = lookup_ok(root, NULL);
    ck_assert_uint_eq(u.uid, 0);
    ck_assert_uint_eq(u.gid, 0);
    ck_assert_str_eq(u.home, "/");
    close(root);
}
END_TEST

START_TEST(lookup_unknown_name_is_not_found)
{
    int root = standard_root("unknown");

    lookup_fails(root, "carol", VPS_ERR_NOT_FOUND, "user 'carol' does not exist in the vps");
    /* Names are whole fields: no prefix, no case folding, no suffix. */
    lookup_fails(root, "alic", VPS_ERR_NOT_FOUND, "'alic'");
    lookup_fails(root, "Alice", VPS_ERR_NOT_FOUND, "'Alice'");
    lookup_fails(root, "alice:x", VPS_ERR_NOT_FOUND, "'alice:x'");
    close(root);
}
END_TEST

START_TEST(lookup_refuses_bad_user_strings)
{
    int root = standard_root("bad-user");

    lookup_fails(root, "", VPS_ERR_INVALID, "empty");
    lookup_fails(root, "4294967295", VPS_ERR_INVALID, "not a valid uid");
    lookup_fails(root, "99999999999", VPS_ERR_INVALID, "not a valid uid");
    /* A sign or a space makes it a name, which is not listed. */
    lookup_fails(root, "-1", VPS_ERR_NOT_FOUND, "does not exist");
    lookup_fails(root, "+33", VPS_ERR_NOT_FOUND, "does not exist");
    lookup_fails(root, " 33", VPS_ERR_NOT_FOUND, "does not exist");
    close(root);
}
END_TEST

START_TEST(lookup_first_entry_wins)
{
    char path[512];
    int root = make_root("first", path, sizeof path);
    struct vps_user u;

    put(root, "etc/passwd",
        "root:x:0:0::/root:/bin/sh\n"
        "toor:x:0:0::/toor:/bin/sh\n"
        "root:x:5:5::/other:/bin/sh\n");
    u = lookup_ok(root, "root");
    ck_assert_str_eq(u.home, "/root");
    u = lookup_ok(root, "0");
    ck_assert_str_eq(u.home, "/root");
    u = lookup_ok(root, "toor");
    ck_assert_str_eq(u.home, "/toor");
    close(root);
}
END_TEST

START_TEST(lookup_without_group_file_has_no_groups)
{
    char path[512];
    int root = make_root("no-group", path, sizeof path);
    struct vps_user u;

    put(root, "etc/passwd", passwd_text);
    u = lookup_ok(root, "alice");
    ck_assert_uint_eq(u.gid, 1000);
    ck_assert_uint_eq(u.n_groups, 0);
    close(root);
}
END_TEST

START_TEST(lookup_without_passwd_file)
{
    char path[512];
    int root = make_root("no-passwd", path, sizeof path);
    struct vps_user u;

    lookup_fails(root, "alice", VPS_ERR_NOT_FOUND, "user 'alice' does not exist");
    u = lookup_ok(root, "1000");
    ck_assert_uint_eq(u.gid, 1000);
    close(root);
    /* Not even /etc. */
    root = open_test_dir(base_dir, "no-etc", NULL, 0);
    lookup_fails(root, "alice", VPS_ERR_NOT_FOUND, "does not exist");
    u = lookup_ok(root, NULL);
    ck_assert_str_eq(u.home, "/");
    close(root);
}
END_TEST

START_TEST(lookup_uses_slash_for_unusable_home)
{
    char path[512];
    char line[400];
    int root = make_root("home", path, sizeof path);
    char long_home[300];

    memset(long_home, 'h', sizeof long_home - 1);
    long_home[0] = '/';
    long_home[sizeof long_home - 1] = '\0';
    snprintf(line, sizeof line,
             "empty:x:10:10:::/bin/sh\nrel:x:11:11::home/rel:/bin/sh\nlong:x:12:12::%s:/bin/sh\n",
             long_home);
    put(root, "etc/passwd", line);
    ck_assert_str_eq(lookup_ok(root, "empty").home, "/");
    ck_assert_str_eq(lookup_ok(root, "rel").home, "/");
    ck_assert_str_eq(lookup_ok(root, "long").home, "/");
    ck_assert_uint_eq(lookup_ok(root, "long").uid, 12);
    close(root);
}
END_TEST

/* ---- groups ---- */

START_TEST(lookup_lists_each_group_once)
{
    char path[512];
    int root = make_root("dup-groups", path, sizeof path);
    struct vps_user u;

    put(root, "etc/passwd", "u:x:500:500::/home/u:/bin/sh\n");
    put(root, "etc/group",
        "a:x:7:u,u\n"
        "b:x:7:u\n"
        "c:x:8:,u,\n"
        "d:x:9:\n"
        "e:x:500:u\n");
    u = lookup_ok(root, "u");
    assert_groups(&u, (gid_t[]){7, 8}, 2);
    close(root);
}
END_TEST

static void write_groups(int root, size_t n)
{
    size_t size = n * 32 + 1, len = 0;
    char *text = malloc(size);

    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < n; i++)
        len += (size_t) snprintf(text + len, size - len, "g%zu:x:%zu:u\n", i, 2000 + i);
    write_file_at(root, "etc/group", text, len, 0644);
    free(text);
}

START_TEST(lookup_caps_supplementary_groups)
{
    char path[512];
    int root = make_root("many-groups", path, sizeof path);
    struct vps_user u;

    put(root, "etc/passwd", "u:x:500:500::/home/u:/bin/sh\n");
    write_groups(root, VPS_USER_GROUPS_MAX);
    u = lookup_ok(root, "u");
    ck_assert_uint_eq(u.n_groups, VPS_USER_GROUPS_MAX);
    ck_assert_uint_eq(u.groups[VPS_USER_GROUPS_MAX - 1], 2000 + VPS_USER_GROUPS_MAX - 1);
    write_groups(root, VPS_USER_GROUPS_MAX + 1);
    lookup_fails(root, "u", VPS_ERR_INVALID, "user 'u' is in more than 64 groups");
    close(root);
}
END_TEST

/* ---- malformed content ---- */

START_TEST(lookup_skips_malformed_lines)
{
    char path[512];
    int root = make_root("malformed", path, sizeof path);
    static const char bad_passwd[] = "\n"
                                     "# a comment\n"
                                     "m:x:1:1::/a\n"                   /* 6 fields */
                                     "m:x:1:1::/b:/bin/sh:extra\n"     /* 8 fields */
                                     "m:x::1::/c:/bin/sh\n"            /* empty uid */
                                     "m:x:1:g::/d:/bin/sh\n"           /* gid not a number */
                                     "m:x:-1:1::/e:/bin/sh\n"          /* sign */
                                     "m:x: 1:1::/f:/bin/sh\n"          /* space */
                                     "m:x:4294967295:1::/g:/bin/sh\n"  /* (uid_t) -1 */
                                     "m:x:99999999999:1::/h:/bin/sh\n" /* past 32 bits */
                                     "+m::::::\n"                      /* NIS */
                                     "m:x:7:8::/good:/bin/sh\n"
                                     "m:x:9:9::/later:/bin/sh"; /* no final newline */
    static const char bad_group[] = "g1:x:30\n"                 /* 3 fields */
                                    "g2:x:31:m:extra\n"         /* 5 fields */
                                    "g3:x:x32:m\n"              /* gid not a number */
                                    "g4:x:33:m";                /* fine, no final newline */
    struct vps_user u;

    put(root, "etc/passwd", bad_passwd);
    put(root, "etc/group", bad_group);
    u = lookup_ok(root, "m");
    ck_assert_uint_eq(u.uid, 7);
    ck_assert_uint_eq(u.gid, 8);
    ck_assert_str_eq(u.home, "/good");
    assert_groups(&u, (gid_t[]){33}, 1);
    /* The bad lines do not count as listing their uids either. */
    u = lookup_ok(root, "1");
    ck_assert_str_eq(u.home, "/");
    close(root);
}
END_TEST

START_TEST(lookup_skips_lines_with_nul_bytes)
{
    char path[512];
    int root = make_root("nul", path, sizeof path);
    static const char text[] = "m\0x:x:3:3::/a:/bin/sh\n"
                               "n:x:4:4::/b\0c:/bin/sh\n"
                               "m:x:5:5::/c:/bin/sh\n";
    struct vps_user u;

    write_file_at(root, "etc/passwd", text, sizeof text - 1, 0644);
    u = lookup_ok(root, "m");
    ck_assert_uint_eq(u.uid, 5);
    /* A home with a NUL in it is not used as one. */
    u = lookup_ok(root, "n");
    ck_assert_uint_eq(u.uid, 4);
    ck_assert_str_eq(u.home, "/");
    close(root);
}
END_TEST

START_TEST(lookup_refuses_long_line)
{
    char path[512];
    int root = make_root("long-line", path, sizeof path);
    size_t size = 8192;
    char *text = malloc(size);
    int n;

    ck_assert_ptr_nonnull(text);
    /* A line of exactly 4096 bytes is fine. */
    n = snprintf(text, size, "u:x:1:1:%0*d:/home/u:/bin/sh\n", 4096 - 24, 0);
    ck_assert_int_eq(n, 4097);
    write_file_at(root, "etc/passwd", text, (size_t) n, 0644);
    ck_assert_uint_eq(lookup_ok(root, "u").uid, 1);
    /* One more byte, even after the entry looked for, refuses the file. */
    n = snprintf(text, size, "u:x:1:1::/home/u:/bin/sh\nv:x:2:2:%0*d:/home/v:/bin/sh\n", 4096 - 23,
                 0);
    write_file_at(root, "etc/passwd", text, (size_t) n, 0644);
    lookup_fails(root, "u", VPS_ERR_INVALID, "'/etc/passwd' in the vps: line 2 is longer than");
    /* The same in /etc/group. */
    put(root, "etc/passwd", "u:x:1:1::/home/u:/bin/sh\n");
    n = snprintf(text, size, "g:x:5:%0*d\n", 4096 - 5, 0);
    write_file_at(root, "etc/group", text, (size_t) n, 0644);
    lookup_fails(root, "u", VPS_ERR_INVALID, "'/etc/group' in the vps: line 1 is longer than");
    free(text);
    close(root);
}
END_TEST

START_TEST(lookup_refuses_oversize_file)
{
    char path[512];
    int root = make_root("oversize", path, sizeof path);
    int fd;

    /* Exactly the cap is fine: short filler lines, then the entry. */
    static const char entry[] = "u:x:1:1::/home/u:/bin/sh\n";
    char *text = malloc(DB_MAX_BYTES);
    ck_assert_ptr_nonnull(text);
    memset(text, '#', DB_MAX_BYTES);
    for (size_t i = 63; i < DB_MAX_BYTES; i += 64)
        text[i] = '\n';
    memcpy(text + DB_MAX_BYTES - (sizeof entry - 1), entry, sizeof entry - 1);
    text[DB_MAX_BYTES - sizeof entry] = '\n';
    write_file_at(root, "etc/passwd", text, DB_MAX_BYTES, 0644);
    free(text);
    ck_assert_uint_eq(lookup_ok(root, "u").uid, 1);
    /* One byte more is not. */
    fd = openat(root, "etc/passwd", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, DB_MAX_BYTES + 1), 0);
    close(fd);
    lookup_fails(root, "u", VPS_ERR_INVALID, "'/etc/passwd' in the vps is larger than");
    lookup_fails(root, "1", VPS_ERR_INVALID, "is larger than");
    /* And in /etc/group. */
    put(root, "etc/passwd", "u:x:1:1::/home/u:/bin/sh\n");
    fd = openat(root, "etc/group", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, DB_MAX_BYTES + 1), 0);
    close(fd);
    lookup_fails(root, "u", VPS_ERR_INVALID, "'/etc/group' in the vps is larger than");
    close(root);
}
END_TEST

/* ---- what the VPS may plant ---- */

/* A host file the VPS would like vpsd to read: its user must never be found. */
static void make_host_file(char *path, size_t size)
{
    snprintf(path, size, "%s/host-passwd", base_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "hostonly:x:4321:4321::/host:/bin/sh\n"
                               "hostgrp:x:4322:hostonly,alice\n";
    ck_assert_int_eq(write(fd, text, sizeof text - 1), (ssize_t) sizeof text - 1);
    close(fd);
}

START_TEST(lookup_refuses_symlinked_passwd)
{
    char path[512], host[512], rel[600];
    int root = make_root("symlink", path, sizeof path);

    make_host_file(host, sizeof host);
    /* Absolute: inside the root it would name <root>/<host path>, but no symlink is followed. */
    ck_assert_int_eq(symlinkat(host, root, "etc/passwd"), 0);
    lookup_fails(root, "hostonly", VPS_ERR_INVALID, "'/etc/passwd'");
    lookup_fails(root, NULL, VPS_ERR_INVALID, "'/etc/passwd'");
    /* Relative, climbing out of the root. */
    ck_assert_int_eq(unlinkat(root, "etc/passwd", 0), 0);
    snprintf(rel, sizeof rel, "../../host-passwd");
    ck_assert_int_eq(symlinkat(rel, root, "etc/passwd"), 0);
    lookup_fails(root, "hostonly", VPS_ERR_INVALID, "'/etc/passwd'");
    close(root);
}
END_TEST

START_TEST(lookup_refuses_symlinked_group_and_etc)
{
    char path[512], host[512];
    int root = make_root("symlink-group", path, sizeof path);

    make_host_file(host, sizeof host);
    put(root, "etc/passwd", passwd_text);
    ck_assert_int_eq(symlinkat(host, root, "etc/group"), 0);
    lookup_fails(root, "alice", VPS_ERR_INVALID, "'/etc/group'");
    close(root);

    /* /etc itself a symlink to a host directory that holds a passwd. */
    char host_etc[512];
    snprintf(host_etc, sizeof host_etc, "%s/host-etc", base_dir);
    ck_assert_int_eq(mkdir(host_etc, 0755), 0);
    int host_fd = open(host_etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(host_fd, 0);
    put(host_fd, "passwd", "hostonly:x:4321:4321::/host:/bin/sh\n");
    close(host_fd);
    root = open_test_dir(base_dir, "symlink-etc", NULL, 0);
    ck_assert_int_eq(symlinkat(host_etc, root, "etc"), 0);
    lookup_fails(root, "hostonly", VPS_ERR_INVALID, "'/etc/passwd'");
    close(root);
}
END_TEST

START_TEST(lookup_refuses_non_regular_files)
{
    char path[512];
    int root = make_root("not-regular", path, sizeof path);

    ck_assert_int_eq(mkdirat(root, "etc/passwd", 0755), 0);
    lookup_fails(root, "alice", VPS_ERR_INVALID, "'/etc/passwd' in the vps is not a regular file");
    lookup_fails(root, "1000", VPS_ERR_INVALID, "not a regular file");
    ck_assert_int_eq(unlinkat(root, "etc/passwd", AT_REMOVEDIR), 0);
    /* A FIFO would block a plain open() until someone writes to it. */
    ck_assert_int_eq(mkfifoat(root, "etc/passwd", 0644), 0);
    lookup_fails(root, "alice", VPS_ERR_INVALID, "'/etc/passwd' in the vps is not a regular file");
    ck_assert_int_eq(unlinkat(root, "etc/passwd", 0), 0);
    put(root, "etc/passwd", passwd_text);
    ck_assert_int_eq(mkfifoat(root, "etc/group", 0644), 0);
    lookup_fails(root, "alice", VPS_ERR_INVALID, "'/etc/group' in the vps is not a regular file");
    close(root);
}
END_TEST

static Suite *passwd_suite(void)
{
    Suite *s = suite_create("passwd");
    TCase *look = tcase_create("lookup");
    TCase *bad = tcase_create("hostile");

    tcase_add_unchecked_fixture(look, base_setup, base_teardown);
    tcase_add_test(look, lookup_by_name_takes_uid_gid_home_and_groups);
    tcase_add_test(look, lookup_excludes_primary_group_from_supplementary);
    tcase_add_test(look, lookup_by_listed_uid_takes_its_entry);
    tcase_add_test(look, lookup_by_unlisted_uid_gets_defaults);
    tcase_add_test(look, lookup_null_is_root);
    tcase_add_test(look, lookup_unknown_name_is_not_found);
    tcase_add_test(look, lookup_refuses_bad_user_strings);
    tcase_add_test(look, lookup_first_entry_wins);
    tcase_add_test(look, lookup_without_group_file_has_no_groups);
    tcase_add_test(look, lookup_without_passwd_file);
    tcase_add_test(look, lookup_uses_slash_for_unusable_home);
    tcase_add_test(look, lookup_lists_each_group_once);
    tcase_add_test(look, lookup_caps_supplementary_groups);
    suite_add_tcase(s, look);

    tcase_add_unchecked_fixture(bad, base_setup, base_teardown);
    tcase_add_test(bad, lookup_skips_malformed_lines);
    tcase_add_test(bad, lookup_skips_lines_with_nul_bytes);
    tcase_add_test(bad, lookup_refuses_long_line);
    tcase_add_test(bad, lookup_refuses_oversize_file);
    tcase_add_test(bad, lookup_refuses_symlinked_passwd);
    tcase_add_test(bad, lookup_refuses_symlinked_group_and_etc);
    tcase_add_test(bad, lookup_refuses_non_regular_files);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    return run_suite(passwd_suite(), CK_FORK_GETENV);
}
