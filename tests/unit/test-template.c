/* Unit tests for template.c and template-archive.c: the built-in templates (their trees,
 * host-usr's default mounts, idempotence, redoing a half-built one), import of tarballs made here
 * with libarchive (the refusal of escaping paths, non-tar input and taken names, the skipping of
 * device nodes), export/import round trips, listing and removal. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vps/template.h"

#include "test-helpers.h"

/* One private state directory per test case, made and removed in the parent (unchecked
 * fixture), so that it goes even when a forked test fails halfway. */
static char base_dir[256];

static void base_setup(void)
{
    make_base_dir(base_dir, sizeof base_dir, "/tmp", "template");
}

static void base_teardown(void)
{
    make_tree_writable(base_dir, FTW_PHYS | FTW_MOUNT);
    remove_tree(base_dir, FTW_PHYS | FTW_MOUNT);
}

/* templates/ of a fresh state directory named after the test. */
static int templates_dir(const char *test)
{
    struct vps_error err = {0};
    char path[512];
    int templates;

    snprintf(path, sizeof path, "%s/%s", base_dir, test);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    int state = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(state, 0);
    ck_assert_int_eq(vps_template_dir_open(state, &templates, &err), 0);
    close(state);
    return templates;
}

static const char *link_target(int dir_fd, const char *name)
{
    static char buf[256];
    ssize_t n = readlinkat(dir_fd, name, buf, sizeof buf - 1);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

/* Nothing in templates/ but the names listed (no temporary trees). */
static size_t count_entries(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *de;
    size_t n = 0;

    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int rootfs_of(int templates, const char *name)
{
    struct vps_error err = {0};
    int path_fd;

    ck_assert_int_eq(vps_template_open_rootfs(templates, name, &path_fd, &err), 0);
    int fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(path_fd);
    return fd;
}

static size_t count_fds(void)
{
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    size_t n = count_entries(fd) - 2; /* not the two reading */
    close(fd);
    return n;
}

/* ---- building archives --------------------------------------------------------------- */

struct tentry {
    const char *path;
    mode_t mode; /* type and permissions */
    const char *data;
    const char *symlink;
    const char *hardlink;
};

/* A tarball of entries in a memfd, rewound: a regular file, so import knows its size. */
static int make_tar(const struct tentry *v, size_t n, bool gzip)
{
    int fd = memfd_create("tar", MFD_CLOEXEC);
    struct archive *a = archive_write_new();

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (gzip)
        ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_fd(a, fd), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        size_t len = v[i].data ? strlen(v[i].data) : 0;
        archive_entry_set_pathname(e, v[i].path);
        archive_entry_set_mode(e, v[i].mode);
        archive_entry_set_uid(e, geteuid());
        archive_entry_set_gid(e, getegid());
        archive_entry_set_mtime(e, 1500000000, 0);
        archive_entry_set_size(e, (la_int64_t) len);
        if (v[i].symlink)
            archive_entry_set_symlink(e, v[i].symlink);
        if (v[i].hardlink) {
            archive_entry_set_hardlink(e, v[i].hardlink);
            archive_entry_set_size(e, 0);
        }
        if (v[i].data && strcmp(v[i].data, "hello world\n") == 0)
            archive_entry_xattr_add_entry(e, "user.vps-test", "xv", 2);
        if (S_ISCHR(v[i].mode) || S_ISBLK(v[i].mode))
            archive_entry_set_rdev(e, makedev(1, 3));
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        if (len && !v[i].hardlink)
            ck_assert_int_eq(archive_write_data(a, v[i].data, len), (la_ssize_t) len);
        archive_entry_free(e);
    }
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static const struct tentry good_tree[] = {
    {"./", S_IFDIR | 0755},
    {"./etc/", S_IFDIR | 0755},
    {"./etc/hello", S_IFREG | 0640, "hello world\n"},
    {"./etc/hello-again", S_IFREG | 0640, NULL, NULL, "./etc/hello"},
    {"./bin/", S_IFDIR | 0755},
    {"./bin/busybox", S_IFREG | 04755, "not really busybox"},
    {"./bin/sh", S_IFLNK | 0777, NULL, "busybox"},
    {"./bin/abs", S_IFLNK | 0777, NULL, "/etc/hello"},
    {"./tmp/", S_IFDIR | 01777},
    {"./run/fifo", S_IFIFO | 0600},
};

struct progress_log {
    unsigned calls, last;
    char last_what[96];
};

static void on_progress(unsigned percent, const char *what, void *userdata)
{
    struct progress_log *log = userdata;

    ck_assert_ptr_nonnull(what);
    ck_assert_uint_le(percent, 100);
    ck_assert_uint_ge(percent, log->last);
    log->calls++;
    log->last = percent;
    snprintf(log->last_what, sizeof log->last_what, "%s", what);
}

static void check_good_tree(int templates, const char *name)
{
    int root = rootfs_of(templates, name);

    ck_assert_str_eq(read_small_file_at(root, "etc/hello"), "hello world\n");
    ck_assert_int_eq(lstat_at(root, "etc/hello").st_mode, S_IFREG | 0640);
    ck_assert_int_eq(lstat_at(root, "etc/hello").st_mtime, 1500000000);
    ck_assert_int_eq(lstat_at(root, "etc/hello").st_ino, lstat_at(root, "etc/hello-again").st_ino);
    ck_assert_int_eq(lstat_at(root, "bin/busybox").st_mode, S_IFREG | 04755);
    ck_assert_str_eq(link_target(root, "bin/sh"), "busybox");
    ck_assert_str_eq(link_target(root, "bin/abs"), "/etc/hello");
    ck_assert_int_eq(lstat_at(root, "tmp").st_mode, S_IFDIR | 01777);
    ck_assert(S_ISFIFO(lstat_at(root, "run/fifo").st_mode));
    char val[8];
    int fd = openat(root, "etc/hello", O_RDONLY | O_CLOEXEC);
    ssize_t n = fgetxattr(fd, "user.vps-test", val, sizeof val);
    ck_assert_msg(n == 2 || (n < 0 && errno == ENOTSUP), "xattr lost: %zd", n);
    close(fd);
    close(root);
}

/* ---- built-in ------------------------------------------------------------------------ */

START_TEST(dir_open_creates_a_private_directory)
{
    int templates = templates_dir("dir-open");

    ck_assert_int_eq(lstat_at(templates, ".").st_mode, S_IFDIR | 0700);
    close(templates);
}
END_TEST

START_TEST(ensure_builds_the_minimal_tree)
{
    struct vps_error err = {0};
    int templates = templates_dir("builtin");
    json_t *j = NULL;

    ck_assert_int_eq(vps_template_ensure(templates, VPS_TEMPLATE_BUILTIN, VPS_BUSYBOX_PATH, &err),
                     0);
    ck_assert(vps_template_exists(templates, VPS_TEMPLATE_BUILTIN));
    int root = rootfs_of(templates, VPS_TEMPLATE_BUILTIN);
    ck_assert_int_eq(lstat_at(root, "bin/busybox").st_mode, S_IFREG | 0755);
    ck_assert_int_eq(lstat_at(root, "bin/busybox").st_size,
                     lstat_at(AT_FDCWD, "/bin/busybox").st_size);
    ck_assert_str_eq(link_target(root, "bin/sh"), "busybox");
    ck_assert_str_eq(link_target(root, "sbin/ifconfig"), "../bin/busybox");
    ck_assert_int_eq(lstat_at(root, "tmp").st_mode, S_IFDIR | 01777);
    ck_assert_int_eq(lstat_at(root, "root").st_mode, S_IFDIR | 0700);
    ck_assert_int_eq(lstat_at(root, "etc/shadow").st_mode, S_IFREG | 0600);
    ck_assert(strstr(read_small_file_at(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n"));
    ck_assert(strstr(read_small_file_at(root, "etc/shadow"), "root:*:"));
    ck_assert_str_eq(read_small_file_at(root, "etc/hostname"), "localhost\n");
    ck_assert_str_eq(read_small_file_at(root, "etc/resolv.conf"), "");
    ck_assert(strstr(read_small_file_at(root, "etc/os-release"), "NAME=\"vps minimal\""));
    ck_assert(S_ISDIR(lstat_at(root, "var/log").st_mode));
    ck_assert(S_ISDIR(lstat_at(root, "usr/sbin").st_mode));
    ck_assert(!exists_at(root, "sbin/init"));
    ck_assert(!exists_at(root, "etc/inittab"));
    close(root);

    ck_assert_int_eq(vps_template_get(templates, VPS_TEMPLATE_BUILTIN, &j, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "minimal");
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "builtin");
    ck_assert_int_eq(strlen(json_string_value(json_object_get(j, "created_at"))), 20);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "size_bytes")), 1000000);
    ck_assert_ptr_null(json_object_get(j, "mounts"));
    json_decref(j);
    ck_assert_int_eq(vps_template_default_mounts(templates, VPS_TEMPLATE_BUILTIN, &j, &err), 0);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(count_entries(templates), 1);
    close(templates);
}
END_TEST

START_TEST(ensure_builtin_is_idempotent)
{
    struct vps_error err = {0};
    int templates = templates_dir("builtin-twice");

    ck_assert_int_eq(vps_template_ensure_builtin(templates, VPS_BUSYBOX_PATH, &err), 0);
    int root = rootfs_of(templates, VPS_TEMPLATE_BUILTIN);
    ino_t ino = lstat_at(root, "bin/busybox").st_ino;
    close(root);
    ck_assert_int_eq(vps_template_ensure_builtin(templates, VPS_BUSYBOX_PATH, &err), 0);
    root = rootfs_of(templates, VPS_TEMPLATE_BUILTIN);
    ck_assert_int_eq(lstat_at(root, "bin/busybox").st_ino, ino);
    close(root);
    close(templates);
}
END_TEST

START_TEST(ensure_builtin_redoes_a_half_built_template)
{
    struct vps_error err = {0};
    int templates = templates_dir("builtin-half");

    /* What a crash in the middle of a remove leaves: a tree without template.json. */
    ck_assert_int_eq(mkdirat(templates, "minimal", 0700), 0);
    int dir = openat(templates, "minimal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(mkdirat(dir, "rootfs", 0755), 0);
    ck_assert_int_eq(mkdirat(dir, "rootfs/junk", 0755), 0);
    close(dir);
    ck_assert(!vps_template_exists(templates, VPS_TEMPLATE_BUILTIN));
    json_t *list = NULL;
    ck_assert_int_eq(vps_template_list(templates, &list, &err), 0);
    ck_assert_int_eq(json_array_size(list), 0);
    json_decref(list);

    ck_assert_int_eq(vps_template_ensure_builtin(templates, VPS_BUSYBOX_PATH, &err), 0);
    int root = rootfs_of(templates, VPS_TEMPLATE_BUILTIN);
    ck_assert(!exists_at(root, "junk"));
    ck_assert(exists_at(root, "bin/busybox"));
    close(root);
    ck_assert_int_eq(count_entries(templates), 2); /* and host-usr */
    close(templates);
}
END_TEST

START_TEST(ensure_builtin_without_busybox_fails_cleanly)
{
    struct vps_error err = {0};
    int templates = templates_dir("builtin-missing");

    ck_assert_int_eq(
        vps_template_ensure(templates, VPS_TEMPLATE_BUILTIN, "/nonexistent/busybox", &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND,
                  "template 'minimal': busybox '/nonexistent/busybox' not found");
    ck_assert_int_eq(count_entries(templates), 0);

    /* host-usr needs no busybox: it is built all the same, and the failure is minimal's. */
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_template_ensure_builtin(templates, "/nonexistent/busybox", &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "busybox '/nonexistent/busybox' not found");
    ck_assert(vps_template_exists(templates, VPS_TEMPLATE_HOST_USR));
    ck_assert(!vps_template_exists(templates, VPS_TEMPLATE_BUILTIN));
    ck_assert_int_eq(count_entries(templates), 1);
    close(templates);
}
END_TEST

START_TEST(ensure_host_usr_builds_a_debian_skeleton)
{
    struct vps_error err = {0};
    int templates = templates_dir("host-usr");
    json_t *j = NULL;

    ck_assert_int_eq(vps_template_ensure(templates, VPS_TEMPLATE_HOST_USR, NULL, &err), 0);
    int root = rootfs_of(templates, VPS_TEMPLATE_HOST_USR);
    ck_assert_str_eq(link_target(root, "bin"), "usr/bin");
    ck_assert_str_eq(link_target(root, "sbin"), "usr/sbin");
    ck_assert_str_eq(link_target(root, "lib"), "usr/lib");
    ck_assert_str_eq(link_target(root, "lib64"), "usr/lib64");
    ck_assert_str_eq(link_target(root, "var/run"), "../run");
    ck_assert_int_eq(lstat_at(root, "usr").st_mode, S_IFDIR | 0755);
    int usr = openat(root, "usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(count_entries(usr), 0); /* a mount point */
    close(usr);
    ck_assert(!exists_at(root, "usr/sbin/init"));
    ck_assert_int_eq(lstat_at(root, "root").st_mode, S_IFDIR | 0700);
    ck_assert_int_eq(lstat_at(root, "tmp").st_mode, S_IFDIR | 01777);
    ck_assert_int_eq(lstat_at(root, "run/sshd").st_mode, S_IFDIR | 0755);
    ck_assert_int_eq(lstat_at(root, "etc/ssh").st_mode, S_IFDIR | 0755);
    ck_assert(S_ISDIR(lstat_at(root, "var/log").st_mode));
    ck_assert(S_ISDIR(lstat_at(root, "var/empty").st_mode));
    ck_assert(S_ISDIR(lstat_at(root, "etc/alternatives").st_mode));
    ck_assert_int_eq(lstat_at(root, "etc/shadow").st_mode, S_IFREG | 0600);
    const char *passwd = read_small_file_at(root, "etc/passwd");
    ck_assert(strstr(passwd, "root:x:0:0:root:/root:/bin/bash\n"));
    ck_assert(strstr(passwd, "\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"));
    ck_assert(strstr(passwd, "\nwww-data:x:33:33:"));
    ck_assert(strstr(passwd, "\nnobody:x:65534:"));
    ck_assert(strstr(read_small_file_at(root, "etc/group"), "\nwww-data:x:33:\n"));
    ck_assert(strstr(read_small_file_at(root, "etc/shadow"), "root:*:"));
    ck_assert(strstr(read_small_file_at(root, "etc/nsswitch.conf"), "passwd: files\n"));
    ck_assert(strstr(read_small_file_at(root, "etc/os-release"), "ID=vps-host-usr\n"));
    ck_assert_str_eq(read_small_file_at(root, "etc/hostname"), "localhost\n");
    close(root);

    ck_assert_int_eq(vps_template_get(templates, VPS_TEMPLATE_HOST_USR, &j, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "builtin");
    ck_assert_int_lt(json_integer_value(json_object_get(j, "size_bytes")), 1 << 20);
    json_t *m = json_array_get(json_object_get(j, "mounts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "source")), "/usr");
    ck_assert_str_eq(json_string_value(json_object_get(m, "target")), "/usr");
    ck_assert(json_is_true(json_object_get(m, "readonly")));
    json_decref(j);
    ck_assert_int_eq(vps_template_default_mounts(templates, VPS_TEMPLATE_HOST_USR, &j, &err), 0);
    ck_assert_uint_eq(json_array_size(j), exists_at(AT_FDCWD, "/etc/alternatives") ? 2 : 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "source")), "/usr");
    json_decref(j);
    ck_assert_int_eq(count_entries(templates), 1);
    close(templates);
}
END_TEST

START_TEST(builtin_names)
{
    struct vps_error err = {0};
    int templates = templates_dir("builtin-names");
    json_t *j = NULL;

    ck_assert(vps_template_is_builtin("minimal"));
    ck_assert(vps_template_is_builtin("host-usr"));
    ck_assert(!vps_template_is_builtin("debian"));
    ck_assert_int_eq(vps_template_ensure(templates, "debian", VPS_BUSYBOX_PATH, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "template 'debian' is not built in");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_template_default_mounts(templates, "debian", &j, &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "template 'debian' does not exist");
    ck_assert_int_eq(count_entries(templates), 0);
    close(templates);
}
END_TEST

START_TEST(metadata_with_bad_mounts_is_refused)
{
    static const char meta[] = "{\"name\": \"odd\", \"source\": \"import\", \"created_at\":"
                               " \"2026-11-23T04:33:58Z\", \"mounts\": [\"/usr\"]}";
    struct vps_error err = {0};
    int templates = templates_dir("bad-meta-mounts");
    json_t *j = NULL;

    ck_assert_int_eq(mkdirat(templates, "odd", 0700), 0);
    int dir = openat(templates, "odd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(mkdirat(dir, "rootfs", 0755), 0);
    int fd = openat(dir, "template.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_eq(write(fd, meta, sizeof meta - 1), (ssize_t) sizeof meta - 1);
    close(fd);
    close(dir);
    ck_assert_int_eq(vps_template_default_mounts(templates, "odd", &j, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID,
                  "template 'odd': 'template.json': mounts[0]: expected an"
                  " object, got a string");
    close(templates);
}
END_TEST

/* ---- import -------------------------------------------------------------------------- */

START_TEST(import_extracts_a_tarball)
{
    struct vps_error err = {0};
    struct progress_log log = {0};
    int templates = templates_dir("import");
    int tar = make_tar(good_tree, sizeof good_tree / sizeof good_tree[0], false);
    json_t *j = NULL;

    /* A leftover of a crashed remove of the same name is cleared, not an obstacle. */
    ck_assert_int_eq(mkdirat(templates, "alpine", 0700), 0);
    int half = openat(templates, "alpine", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(mkdirat(half, "rootfs", 0700), 0);
    close(half);
    ck_assert_int_eq(vps_template_import(templates, "alpine", tar, on_progress, &log, &err), 0);
    check_good_tree(templates, "alpine");
    ck_assert_uint_ge(log.calls, 2);
    ck_assert_uint_eq(log.last, 100);
    ck_assert_str_eq(log.last_what, "done");
    ck_assert_int_eq(vps_template_get(templates, "alpine", &j, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "import");
    json_decref(j);
    ck_assert_int_eq(count_entries(templates), 1);
    close(tar);
    close(templates);
}
END_TEST

START_TEST(import_reads_a_gzip_tarball)
{
    struct vps_error err = {0};
    int templates = templates_dir("import-gzip");
    int tar = make_tar(good_tree, sizeof good_tree / sizeof good_tree[0], true);

    ck_assert_int_eq(vps_template_import(templates, "gz", tar, NULL, NULL, &err), 0);
    check_good_tree(templates, "gz");
    close(tar);
    close(templates);
}
END_TEST

/* Imports a one-bad-entry archive and checks the refusal left nothing behind. */
static void check_refused(const char *test, const struct tentry *bad, const char *fragment)
{
    struct vps_error err = {0};
    int templates = templates_dir(test);
    struct tentry v[] = {{"./", S_IFDIR | 0755}, {"ok", S_IFREG | 0644, "fine"}, *bad};
    int tar = make_tar(v, 3, false);

    ck_assert_int_eq(vps_template_import(templates, "evil", tar, NULL, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, fragment);
    ck_assert(!vps_template_exists(templates, "evil"));
    ck_assert_int_eq(count_entries(templates), 0);
    close(tar);
    close(templates);
}

START_TEST(import_refuses_dotdot_entries)
{
    struct tentry bad = {"../evil", S_IFREG | 0644, "escaped"};
    char path[512];

    check_refused("import-dotdot", &bad, "entry '../evil': the path contains '..'");
    snprintf(path, sizeof path, "%s/evil", base_dir);
    ck_assert(!exists_at(AT_FDCWD, path));
    struct tentry deep = {"a/../../evil", S_IFREG | 0644, "escaped"};
    check_refused("import-dotdot-deep", &deep, "contains '..'");
}
END_TEST

START_TEST(import_refuses_absolute_paths)
{
    struct tentry bad = {"/tmp/vps-test-evil", S_IFREG | 0644, "escaped"};

    check_refused("import-absolute", &bad, "entry '/tmp/vps-test-evil': the path is absolute");
    ck_assert(!exists_at(AT_FDCWD, "/tmp/vps-test-evil"));
}
END_TEST

/* What debootstrap and docker export tarballs carry: a /dev with nodes, a second name of a
 * node as a hard link, and here also a node replaced by a later entry of the same path. */
static const struct tentry dev_tree[] = {
    {"./", S_IFDIR | 0755},
    {"./dev/", S_IFDIR | 0755},
    {"./dev/null", S_IFCHR | 0666},
    {"./dev/sda", S_IFBLK | 0660},
    {"./dev/null-again", S_IFREG | 0666, NULL, NULL, "dev//null"},
    {"./dev/console", S_IFCHR | 0600},
    {"./dev/console", S_IFREG | 0600, "not a device"},
    {"./dev/console-again", S_IFREG | 0600, NULL, NULL, "./dev/console"},
    {"./etc/", S_IFDIR | 0755},
    {"./etc/hostname", S_IFREG | 0644, "debian\n"},
};

START_TEST(import_skips_device_nodes)
{
    struct vps_error err = {0};
    struct progress_log log = {0};
    int templates = templates_dir("import-device");
    int tar = make_tar(dev_tree, sizeof dev_tree / sizeof dev_tree[0], false);

    ck_assert_int_eq(vps_template_import(templates, "debian", tar, on_progress, &log, &err), 0);
    ck_assert(vps_template_exists(templates, "debian"));
    int root = rootfs_of(templates, "debian");
    ck_assert(S_ISDIR(lstat_at(root, "dev").st_mode));
    ck_assert(!exists_at(root, "dev/null"));
    ck_assert(!exists_at(root, "dev/sda"));
    ck_assert(!exists_at(root, "dev/null-again"));
    ck_assert_str_eq(read_small_file_at(root, "dev/console"), "not a device");
    ck_assert_int_eq(lstat_at(root, "dev/console").st_ino,
                     lstat_at(root, "dev/console-again").st_ino);
    ck_assert_str_eq(read_small_file_at(root, "etc/hostname"), "debian\n");
    close(root);
    ck_assert_uint_eq(log.last, 100);
    ck_assert_str_eq(log.last_what, "done, skipped 4 device nodes");
    ck_assert_int_eq(count_entries(templates), 1);
    close(tar);
    close(templates);
}
END_TEST

START_TEST(import_refuses_escaping_device_nodes)
{
    struct tentry abs = {"/dev/null", S_IFCHR | 0666};
    struct tentry dotdot = {"dev/../../null", S_IFBLK | 0666};
    struct tentry link = {"null", S_IFREG | 0666, NULL, NULL, "../dev/null"};

    /* Skipping is for nodes inside the tree; a bad path fails the import as ever. */
    check_refused("import-device-abs", &abs, "entry '/dev/null': the path is absolute");
    check_refused("import-device-dotdot", &dotdot, "entry 'dev/../../null': the path contains");
    check_refused("import-device-link", &link, "the hard link target contains '..'");
}
END_TEST

START_TEST(import_refuses_hard_links_out_of_the_tree)
{
    struct tentry bad = {"passwd", S_IFREG | 0644, NULL, NULL, "../../../../etc/passwd"};
    struct tentry abs = {"passwd", S_IFREG | 0644, NULL, NULL, "/etc/passwd"};

    check_refused("import-hardlink", &bad, "the hard link target contains '..'");
    check_refused("import-hardlink-abs", &abs, "the hard link target is absolute");
}
END_TEST

START_TEST(import_refuses_writing_through_a_symlink)
{
    struct tentry bad = {"escape/evil", S_IFREG | 0644, "escaped"};
    struct vps_error err = {0};
    int templates = templates_dir("import-symlink");
    char outside[512];

    snprintf(outside, sizeof outside, "%s/outside", base_dir);
    ck_assert_int_eq(mkdir(outside, 0755), 0);
    struct tentry v[] = {{"escape", S_IFLNK | 0777, NULL, outside}, bad};
    int tar = make_tar(v, 2, false);
    ck_assert_int_eq(vps_template_import(templates, "evil", tar, NULL, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "entry 'escape/evil'");
    snprintf(outside, sizeof outside, "%s/outside/evil", base_dir);
    ck_assert(!exists_at(AT_FDCWD, outside));
    ck_assert_int_eq(count_entries(templates), 0);
    close(tar);
    close(templates);
}
END_TEST

START_TEST(import_refuses_what_is_not_a_tar)
{
    struct vps_error err = {0};
    int templates = templates_dir("import-not-tar");
    int fd = memfd_create("text", MFD_CLOEXEC);
    char text[2048];

    memset(text, 'x', sizeof text);
    ck_assert_int_eq(write(fd, text, sizeof text), (ssize_t) sizeof text);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_import(templates, "junk", fd, NULL, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "read archive: ");
    ck_assert_err(err, VPS_ERR_INVALID, "import template 'junk'");
    ck_assert_int_eq(count_entries(templates), 0);
    close(fd);
    close(templates);
}
END_TEST

START_TEST(import_refuses_an_empty_archive)
{
    struct vps_error err = {0};
    int templates = templates_dir("import-empty");
    int tar = make_tar(NULL, 0, false);

    ck_assert_int_eq(vps_template_import(templates, "empty", tar, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_int_eq(count_entries(templates), 0);
    close(tar);
    close(templates);
}
END_TEST

START_TEST(import_refuses_a_taken_name)
{
    struct vps_error err = {0};
    int templates = templates_dir("import-taken");
    int tar = make_tar(good_tree, sizeof good_tree / sizeof good_tree[0], false);

    ck_assert_int_eq(vps_template_import(templates, "twice", tar, NULL, NULL, &err), 0);
    ck_assert_int_eq(lseek(tar, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_import(templates, "twice", tar, NULL, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "template 'twice' already exists");
    ck_assert_int_eq(lseek(tar, 0, SEEK_CUR), 0); /* refused before reading anything */
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_template_import(templates, "Bad_Name", tar, NULL, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "template name 'Bad_Name' is invalid");
    close(tar);
    close(templates);
}
END_TEST

/* ---- export, list, remove ------------------------------------------------------------ */

START_TEST(export_then_import_round_trips)
{
    struct vps_error err = {0};
    int templates = templates_dir("round-trip");
    int tar = make_tar(good_tree, sizeof good_tree / sizeof good_tree[0], false);
    int out = memfd_create("export", MFD_CLOEXEC);
    size_t n_fds = count_fds();

    ck_assert_int_eq(vps_template_import(templates, "orig", tar, NULL, NULL, &err), 0);
    ck_assert_int_eq(vps_template_export(templates, "orig", out, &err), 0);
    ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_import(templates, "copy", out, NULL, NULL, &err), 0);
    check_good_tree(templates, "copy");

    ck_assert_int_eq(vps_template_ensure_builtin(templates, VPS_BUSYBOX_PATH, &err), 0);
    ck_assert_int_eq(ftruncate(out, 0), 0);
    ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_export(templates, "minimal", out, &err), 0);
    ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_import(templates, "minimal-copy", out, NULL, NULL, &err), 0);
    int a = rootfs_of(templates, "minimal"), b = rootfs_of(templates, "minimal-copy");
    ck_assert_int_eq(lstat_at(a, "bin/busybox").st_size, lstat_at(b, "bin/busybox").st_size);
    ck_assert_int_eq(lstat_at(b, "tmp").st_mode, S_IFDIR | 01777);
    ck_assert_int_eq(lstat_at(b, "etc/shadow").st_mode, S_IFREG | 0600);
    ck_assert_int_eq(lstat_at(b, ".").st_mode, lstat_at(a, ".").st_mode);
    ck_assert_str_eq(link_target(b, "bin/sh"), "busybox");
    close(a);
    close(b);
    ck_assert_uint_eq(count_fds(), n_fds); /* nothing leaked, child or parent side */
    close(out);
    close(tar);
    close(templates);
}
END_TEST

START_TEST(list_is_sorted_and_remove_deletes)
{
    struct vps_error err = {0};
    int templates = templates_dir("list-remove");
    int tar = make_tar(good_tree, sizeof good_tree / sizeof good_tree[0], false);
    json_t *list = NULL;

    ck_assert_int_eq(vps_template_import(templates, "zeta", tar, NULL, NULL, &err), 0);
    ck_assert_int_eq(lseek(tar, 0, SEEK_SET), 0);
    ck_assert_int_eq(vps_template_import(templates, "alpha", tar, NULL, NULL, &err), 0);
    ck_assert_int_eq(vps_template_list(templates, &list, &err), 0);
    ck_assert_int_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "name")), "alpha");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "name")), "zeta");
    ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(list, 0), "size_bytes")), 0);
    json_decref(list);

    ck_assert_int_eq(vps_template_remove(templates, "zeta", &err), 0);
    ck_assert(!vps_template_exists(templates, "zeta"));
    ck_assert(!exists_at(templates, "zeta"));
    ck_assert_int_eq(vps_template_remove(templates, "zeta", &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "template 'zeta' does not exist");
    err = (struct vps_error){0};
    json_t *j = NULL;
    ck_assert_int_eq(vps_template_get(templates, "zeta", &j, &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "does not exist");
    err = (struct vps_error){0};
    int fd = -1;
    ck_assert_int_eq(vps_template_open_rootfs(templates, "../etc", &fd, &err), -1);
    ck_assert_int_eq(err.code, VPS_ERR_INVALID);
    ck_assert_int_eq(count_entries(templates), 1);
    close(tar);
    close(templates);
}
END_TEST

static Suite *template_suite(void)
{
    Suite *s = suite_create("template");
    TCase *tc = tcase_create("template");

    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_test(tc, dir_open_creates_a_private_directory);
    tcase_add_test(tc, ensure_builds_the_minimal_tree);
    tcase_add_test(tc, ensure_builtin_is_idempotent);
    tcase_add_test(tc, ensure_builtin_redoes_a_half_built_template);
    tcase_add_test(tc, ensure_builtin_without_busybox_fails_cleanly);
    tcase_add_test(tc, ensure_host_usr_builds_a_debian_skeleton);
    tcase_add_test(tc, builtin_names);
    tcase_add_test(tc, metadata_with_bad_mounts_is_refused);
    tcase_add_test(tc, import_extracts_a_tarball);
    tcase_add_test(tc, import_reads_a_gzip_tarball);
    tcase_add_test(tc, import_refuses_dotdot_entries);
    tcase_add_test(tc, import_refuses_absolute_paths);
    tcase_add_test(tc, import_skips_device_nodes);
    tcase_add_test(tc, import_refuses_escaping_device_nodes);
    tcase_add_test(tc, import_refuses_hard_links_out_of_the_tree);
    tcase_add_test(tc, import_refuses_writing_through_a_symlink);
    tcase_add_test(tc, import_refuses_what_is_not_a_tar);
    tcase_add_test(tc, import_refuses_an_empty_archive);
    tcase_add_test(tc, import_refuses_a_taken_name);
    tcase_add_test(tc, export_then_import_round_trips);
    tcase_add_test(tc, list_is_sorted_and_remove_deletes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(template_suite(), CK_FORK_GETENV);
}
