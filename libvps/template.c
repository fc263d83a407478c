/* Templates: <state-dir>/templates/<name>/{rootfs/,template.json}, their metadata, the
 * built-in "minimal" template made from busybox-static, and import from / export to
 * tarballs with libarchive. A template appears by one rename of a complete temporary
 * directory; copying and removing trees is storage.c's. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "vps/config.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/storage.h"
#include "vps/template.h"

#define META_FILE        "template.json"
#define META_MAX_BYTES   (64 * 1024)
#define ROOTFS           "rootfs"
#define BUSYBOX_MAX      (64 * 1024 * 1024)
#define MAX_DEPTH        256
#define DATA_CHUNK_BYTES (64 * 1024)

static const struct vps_storage dir_storage = {.backend = VPS_STORAGE_DIR};

static void closedirp(DIR **d)
{
    if (*d)
        (void) closedir(*d);
}

static void archive_read_freep(struct archive **a)
{
    if (*a)
        (void) archive_read_free(*a);
}

static void archive_write_freep(struct archive **a)
{
    if (*a)
        (void) archive_write_free(*a);
}

static void archive_entry_freep(struct archive_entry **e)
{
    archive_entry_free(*e);
}

static void linkresolver_freep(struct archive_entry_linkresolver **r)
{
    if (*r)
        archive_entry_linkresolver_free(*r);
}

static int open_dir_at(int dir_fd, const char *name)
{
    return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int not_found(const char *name, struct vps_error *err)
{
    return vps_error_set(err, VPS_ERR_NOT_FOUND, "template '%s' does not exist", name);
}

/* ---- metadata ------------------------------------------------------------------------ */

struct meta {
    char *name;
    char *source;
    char *created_at;
};

static int check_meta_name(const char *s, const char *path, struct vps_error *err)
{
    if (!vps_name_is_valid(s))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid name", path, s);
    return 0;
}

static int check_source(const char *s, const char *path, struct vps_error *err)
{
    if (strcmp(s, "builtin") != 0 && strcmp(s, "import") != 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected \"builtin\" or \"import\", got '%.32s'", path, s);
    return 0;
}

static int check_time(const char *s, const char *path, struct vps_error *err)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

    if (!end || *end)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected YYYY-MM-DDTHH:MM:SSZ, got '%.32s'",
                             path, s);
    return 0;
}

static const struct vps_json_field meta_fields[] = {
    {.name = "name",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, name),
     .required = true,
     .min = 1,
     .max = VPS_NAME_MAX,
     .check = check_meta_name},
    {.name = "source",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, source),
     .required = true,
     .check = check_source},
    {.name = "created_at",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, created_at),
     .required = true,
     .check = check_time},
};

static void meta_done(struct meta *m)
{
    vps_json_free_fields(m, meta_fields, ELEMENTSOF(meta_fields));
}

static int load_meta(int tdir, const char *name, struct meta *m, struct vps_error *err)
{
    cleanup_json json_t *j = NULL;

    if (vps_json_load_at(tdir, META_FILE, META_MAX_BYTES, &j, err) < 0)
        return -1;
    if (vps_json_parse_fields(j, meta_fields, ELEMENTSOF(meta_fields), m, "", err) < 0)
        return vps_error_prefix(err, "'%s'", META_FILE);
    if (strcmp(m->name, name) != 0)
        return vps_error_set(err, VPS_ERR_INVALID, "'%s': name '%s' does not match the directory",
                             META_FILE, m->name);
    return 0;
}

/* The metadata on disk plus the size, which is measured, never stored. */
static int describe(int tdir, const char *name, json_t **ret, struct vps_error *err)
{
    cleanup_(meta_done) struct meta m = {0};
    cleanup_json json_t *j = NULL;
    uint64_t bytes;

    if (load_meta(tdir, name, &m, err) < 0 ||
        vps_storage_usage(&dir_storage, tdir, ROOTFS, &bytes, err) < 0 ||
        vps_json_emit_fields(&m, meta_fields, ELEMENTSOF(meta_fields), &j, err) < 0)
        return vps_error_prefix(err, "template '%s'", name);
    if (json_object_set_new(j, "size_bytes", json_integer((json_int_t) bytes)) < 0)
        return vps_error_errno(err, ENOMEM, "template '%s'", name);
    *ret = TAKE_PTR(j);
    return 0;
}

static int save_meta(int tdir, const char *name, const char *source, struct vps_error *err)
{
    char created_at[32];
    struct tm tm;
    time_t now = time(NULL);

    if (!gmtime_r(&now, &tm) ||
        strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "format the current time");
    cleanup_json json_t *j =
        json_pack("{s:s, s:s, s:s}", "name", name, "source", source, "created_at", created_at);
    if (!j)
        return vps_error_errno(err, ENOMEM, "'%s'", META_FILE);
    return vps_json_save_at(tdir, META_FILE, j, err);
}

/* ---- lookup -------------------------------------------------------------------------- */

/* Opens templates/<name> if it is complete: a directory without template.json is what a
 * crash in the middle of vps_template_remove() leaves, and counts as absent. */
static int open_template(int templates_fd, const char *name, int *ret_fd, struct vps_error *err)
{
    struct stat st;

    if (vps_name_validate(name, "template", err) < 0)
        return -1;
    cleanup_close int fd = open_dir_at(templates_fd, name);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
        return not_found(name, err);
    if (fd < 0)
        return vps_error_errno(err, errno, "open template '%s'", name);
    if (fstatat(fd, META_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return not_found(name, err);
        return vps_error_errno(err, errno, "template '%s': stat '%s'", name, META_FILE);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int vps_template_dir_open(int state_fd, int *ret_fd, struct vps_error *err)
{
    if (mkdirat(state_fd, "templates", 0700) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create 'templates'");
    int fd = open_dir_at(state_fd, "templates");
    if (fd < 0)
        return vps_error_errno(err, errno, "open 'templates'");
    *ret_fd = fd;
    return 0;
}

bool vps_template_exists(int templates_fd, const char *name)
{
    struct vps_error ignored = {0};
    cleanup_close int fd = -1;

    return open_template(templates_fd, name, &fd, &ignored) == 0;
}

int vps_template_get(int templates_fd, const char *name, json_t **ret, struct vps_error *err)
{
    cleanup_close int fd = -1;

    if (open_template(templates_fd, name, &fd, err) < 0)
        return -1;
    return describe(fd, name, ret, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names of the entries that may be templates; dot-named temporary trees never are. */
static int list_names(int templates_fd, struct vps_strv *ret, struct vps_error *err)
{
    cleanup_(closedirp) DIR *d = NULL;
    cleanup_close int fd = openat(templates_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || !(d = fdopendir(fd)))
        return vps_error_errno(err, errno, "open templates directory");
    fd = -1; /* the stream owns it now */
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            break;
        if (!vps_name_is_valid(de->d_name))
            continue;
        char **v = reallocarray(ret->v, ret->n + 2, sizeof *v);
        if (!v)
            return vps_error_errno(err, ENOMEM, "list templates");
        ret->v = v;
        if (!(v[ret->n] = strdup(de->d_name)))
            return vps_error_errno(err, ENOMEM, "list templates");
        v[++ret->n] = NULL;
    }
    if (errno != 0)
        return vps_error_errno(err, errno, "read templates directory");
    if (ret->n > 0)
        qsort(ret->v, ret->n, sizeof *ret->v, cmp_str);
    return 0;
}

int vps_template_list(int templates_fd, json_t **ret, struct vps_error *err)
{
    cleanup_(vps_strv_free) struct vps_strv names = {0};
    cleanup_json json_t *a = json_array();

    if (!a)
        return vps_error_errno(err, ENOMEM, "list templates");
    if (list_names(templates_fd, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++) {
        cleanup_close int fd = -1;
        json_t *t;
        if (open_template(templates_fd, names.v[i], &fd, err) < 0) {
            if (err->code != VPS_ERR_NOT_FOUND)
                return -1;
            *err = (struct vps_error){0}; /* incomplete, or removed since the readdir */
            continue;
        }
        if (describe(fd, names.v[i], &t, err) < 0)
            return -1;
        if (json_array_append_new(a, t) < 0)
            return vps_error_errno(err, ENOMEM, "list templates");
    }
    *ret = TAKE_PTR(a);
    return 0;
}

int vps_template_open_rootfs(int templates_fd, const char *name, int *ret_fd, struct vps_error *err)
{
    cleanup_close int tdir = -1;

    if (open_template(templates_fd, name, &tdir, err) < 0)
        return -1;
    int fd = openat(tdir, ROOTFS, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "template '%s': open '%s'", name, ROOTFS);
    *ret_fd = fd;
    return 0;
}

int vps_template_remove(int templates_fd, const char *name, struct vps_error *err)
{
    cleanup_close int tdir = -1;

    if (open_template(templates_fd, name, &tdir, err) < 0)
        return -1;
    /* The metadata goes first and durably: after a crash from here on, what is left is an
     * incomplete directory that nothing lists and the next build of this name clears. */
    if (unlinkat(tdir, META_FILE, 0) < 0)
        return vps_error_errno(err, errno, "template '%s': remove '%s'", name, META_FILE);
    if (fsync(tdir) < 0)
        return vps_error_errno(err, errno, "template '%s': fsync", name);
    if (vps_storage_destroy(&dir_storage, templates_fd, name, err) < 0)
        return vps_error_prefix(err, "template '%s'", name);
    return 0;
}

/* ---- building ------------------------------------------------------------------------ */

typedef int (*fill_fn)(int rootfs_fd, void *userdata, struct vps_error *err);

/* Clears templates/<name> if it is an incomplete leftover; a complete one stays. */
static int drop_incomplete(int templates_fd, const char *name, struct vps_error *err)
{
    struct stat st;
    cleanup_close int fd = open_dir_at(templates_fd, name);

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd >= 0 && fstatat(fd, META_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    return vps_storage_destroy(&dir_storage, templates_fd, name, err);
}

/* Fills tmp/rootfs, writes tmp/template.json last, and renames tmp to name once all of it
 * is on disk. */
static int fill_and_publish(int templates_fd, const char *name, const char *tmp, const char *source,
                            fill_fn fill, void *userdata, struct vps_error *err)
{
    cleanup_close int tdir = open_dir_at(templates_fd, tmp);
    if (tdir < 0)
        return vps_error_errno(err, errno, "open '%s'", tmp);
    if (mkdirat(tdir, ROOTFS, 0755) < 0)
        return vps_error_errno(err, errno, "create '%s'", ROOTFS);
    cleanup_close int rootfs = open_dir_at(tdir, ROOTFS);
    if (rootfs < 0 || fchmod(rootfs, 0755) < 0) /* whatever the umask */
        return vps_error_errno(err, errno, "open '%s'", ROOTFS);
    if (fill(rootfs, userdata, err) < 0 || save_meta(tdir, name, source, err) < 0)
        return -1;
    /* One syncfs() for the whole tree instead of an fsync() per file. */
    if (syncfs(tdir) < 0)
        return vps_error_errno(err, errno, "sync '%s'", tmp);
    if (renameat2(templates_fd, tmp, templates_fd, name, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            return vps_error_set(err, VPS_ERR_EXISTS, "template '%s' already exists", name);
        return vps_error_errno(err, errno, "rename '%s' to '%s'", tmp, name);
    }
    if (fsync(templates_fd) < 0)
        return vps_error_errno(err, errno, "fsync templates directory");
    return 0;
}

static int build(int templates_fd, const char *name, const char *source, fill_fn fill,
                 void *userdata, struct vps_error *err)
{
    char tmp[NAME_MAX + 1];
    struct vps_error ignored = {0};

    if (drop_incomplete(templates_fd, name, err) < 0 ||
        vps_storage_mkdtemp_at(templates_fd, name, tmp, sizeof tmp, err) < 0)
        return -1;
    if (fill_and_publish(templates_fd, name, tmp, source, fill, userdata, err) < 0) {
        (void) vps_storage_destroy(&dir_storage, templates_fd, tmp, &ignored);
        return -1;
    }
    return 0;
}

/* ---- the built-in template ----------------------------------------------------------- */

/* Paths below are fixed literals resolved inside the temporary tree this process created a
 * moment ago, in a 0700 directory nobody else writes to: nothing there can redirect them. */
static const struct {
    const char *path;
    mode_t mode;
} minimal_dirs[] = {
    {"bin", 0755},      {"sbin", 0755},    {"usr", 0755},      {"usr/bin", 0755},
    {"usr/sbin", 0755}, {"etc", 0755},     {"dev", 0755},      {"proc", 0555},
    {"sys", 0555},      {"tmp", 01777},    {"root", 0700},     {"run", 0755},
    {"var", 0755},      {"var/log", 0755}, {"var/tmp", 01777}, {"home", 0755},
};

/* Applets that Debian's busybox-static (1.35) has, as links to the one binary. Relative
 * links work both inside the VPS and when the tree is looked at from the host. Not "init":
 * how a VPS boots is decided elsewhere. */
static const char *const bin_applets[] = {
    "sh",       "ash",        "ls",        "cat",      "cp",      "mv",       "rm",      "mkdir",
    "rmdir",    "ln",         "echo",      "ps",       "top",     "kill",     "killall", "sleep",
    "usleep",   "mount",      "umount",    "hostname", "ip",      "ping",     "ping6",   "wget",
    "vi",       "grep",       "sed",       "awk",      "head",    "tail",     "wc",      "sort",
    "uniq",     "tr",         "cut",       "find",     "xargs",   "tar",      "gzip",    "gunzip",
    "zcat",     "bzip2",      "bunzip2",   "xz",       "unxz",    "cpio",     "id",      "whoami",
    "env",      "printf",     "test",      "[",        "[[",      "true",     "false",   "date",
    "df",       "du",         "free",      "uptime",   "dmesg",   "chmod",    "chown",   "chgrp",
    "touch",    "stat",       "readlink",  "realpath", "nc",      "login",    "su",      "passwd",
    "mknod",    "mkfifo",     "mktemp",    "pidof",    "seq",     "basename", "dirname", "which",
    "less",     "more",       "tee",       "yes",      "uname",   "sync",     "clear",   "diff",
    "cmp",      "md5sum",     "sha256sum", "expr",     "hexdump", "od",       "tac",     "rev",
    "nslookup", "traceroute", "logger",    "timeout",  "watch",   "time",     "getopt",  "crontab",
    "base64",   "nproc",      "truncate",  "shuf",     "fold",    "paste",    "netstat", "chroot",
};

static const char *const sbin_applets[] = {
    "ifconfig", "route",  "arp",     "halt",      "poweroff",
    "reboot",   "getty",  "syslogd", "klogd",     "udhcpc",
    "hwclock",  "sysctl", "swapon",  "swapoff",   "losetup",
    "mkswap",   "crond",  "httpd",   "run-parts", "start-stop-daemon",
};

static const struct {
    const char *path;
    mode_t mode;
    const char *content;
} minimal_files[] = {
    {"etc/passwd", 0644,
     "root:x:0:0:root:/root:/bin/sh\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
    {"etc/group", 0644, "root:x:0:\nnogroup:x:65534:\n"},
    /* "*": no password logs in as root until the owner sets one. */
    {"etc/shadow", 0600, "root:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n"},
    {"etc/hostname", 0644, "localhost\n"},
    {"etc/hosts", 0644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
    {"etc/resolv.conf", 0644, ""},
    {"etc/shells", 0644, "/bin/sh\n/bin/ash\n"},
    {"etc/os-release", 0644,
     "NAME=\"vps minimal\"\nID=vps-minimal\nPRETTY_NAME=\"vps minimal (busybox)\"\n"},
};

static int write_file(int dir_fd, const char *path, mode_t mode, const void *buf, size_t len,
                      struct vps_error *err)
{
    cleanup_close int fd =
        openat(dir_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return vps_error_errno(err, errno, "create '%s'", path);
    if (vps_write_all(fd, buf, len, err) < 0)
        return vps_error_prefix(err, "'%s'", path);
    if (fchmod(fd, mode) < 0)
        return vps_error_errno(err, errno, "chmod '%s'", path);
    return 0;
}

static int link_applets(int rootfs, const char *dir, const char *target, const char *const *names,
                        size_t n, struct vps_error *err)
{
    cleanup_close int fd = open_dir_at(rootfs, dir);

    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", dir);
    for (size_t i = 0; i < n; i++)
        if (symlinkat(target, fd, names[i]) < 0)
            return vps_error_errno(err, errno, "create link '%s/%s'", dir, names[i]);
    return 0;
}

struct blob {
    char *data;
    size_t len;
};

static int fill_minimal(int rootfs, void *userdata, struct vps_error *err)
{
    const struct blob *busybox = userdata;

    for (size_t i = 0; i < ELEMENTSOF(minimal_dirs); i++)
        if (mkdirat(rootfs, minimal_dirs[i].path, 0700) < 0 ||
            fchmodat(rootfs, minimal_dirs[i].path, minimal_dirs[i].mode, 0) < 0)
            return vps_error_errno(err, errno, "create '%s'", minimal_dirs[i].path);
    if (write_file(rootfs, "bin/busybox", 0755, busybox->data, busybox->len, err) < 0)
        return -1;
    if (link_applets(rootfs, "bin", "busybox", bin_applets, ELEMENTSOF(bin_applets), err) < 0 ||
        link_applets(rootfs, "sbin", "../bin/busybox", sbin_applets, ELEMENTSOF(sbin_applets),
                     err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(minimal_files); i++)
        if (write_file(rootfs, minimal_files[i].path, minimal_files[i].mode,
                       minimal_files[i].content, strlen(minimal_files[i].content), err) < 0)
            return -1;
    return 0;
}

static void blob_done(struct blob *b)
{
    free(b->data);
}

/* Read whole (about 2 MiB) before anything is built, so that a missing busybox fails
 * without leaving a trace. A host path, followed through symlinks on purpose: Debian's
 * /bin is one. */
static int read_busybox(const char *path, struct blob *ret, struct vps_error *err)
{
    struct stat st;
    cleanup_close int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return vps_error_set(err, VPS_ERR_NOT_FOUND,
                             "busybox '%s' not found (Debian package busybox-static)", path);
    if (fd < 0)
        return vps_error_errno(err, errno, "open busybox '%s'", path);
    if (fstat(fd, &st) < 0)
        return vps_error_errno(err, errno, "stat busybox '%s'", path);
    if (!S_ISREG(st.st_mode))
        return vps_error_set(err, VPS_ERR_INVALID, "busybox '%s' is not a regular file", path);
    if (vps_read_all(fd, BUSYBOX_MAX, &ret->data, &ret->len, err) < 0)
        return vps_error_prefix(err, "busybox '%s'", path);
    return 0;
}

int vps_template_ensure_builtin(int templates_fd, const char *busybox_path, struct vps_error *err)
{
    cleanup_(blob_done) struct blob busybox = {0};

    if (vps_template_exists(templates_fd, VPS_TEMPLATE_BUILTIN))
        return 0;
    if (read_busybox(busybox_path, &busybox, err) < 0)
        return vps_error_prefix(err, "template '%s'", VPS_TEMPLATE_BUILTIN);
    if (build(templates_fd, VPS_TEMPLATE_BUILTIN, "builtin", fill_minimal, &busybox, err) < 0) {
        if (err->code == VPS_ERR_EXISTS) { /* built meanwhile: just as good */
            *err = (struct vps_error){0};
            return 0;
        }
        return vps_error_prefix(err, "template '%s'", VPS_TEMPLATE_BUILTIN);
    }
    return 0;
}

/* ---- import -------------------------------------------------------------------------- */

/* archive_write_disk resolves every entry's path from the cwd, so the extraction runs in a
 * forked child whose cwd is the new rootfs and, where we may chroot() (vpsd runs as root),
 * whose root is too: a path trick that slipped past libarchive's checks and ours still
 * cannot leave the tree. The caller's cwd is never touched, a crash of libarchive on a
 * hostile archive takes only the child, and it is the same code with or without root.
 *
 * What the flags leave out, and why: FFLAGS, because an archive could make files
 * immutable and so the template impossible to remove; UNLINK and NO_OVERWRITE, because
 * archives legitimately repeat a path and libarchive's default replaces it safely. There is
 * no user/group name lookup: owners are the archive's numeric ids, never the host's. */
#define EXTRACT_FLAGS                                                                              \
    (ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |                           \
     ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |       \
     ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL)

struct import {
    int archive_fd;
    vps_progress_fn progress;
    void *userdata;
};

/* What the extractor child tells the parent: progress while it works, then its result. */
struct import_msg {
    bool done;
    unsigned percent;
    char what[48];
    struct vps_error err;
};

struct reporter {
    int sock;
    int64_t total_bytes; /* of the archive left to read; 0 when unknown (a pipe) */
    unsigned last_percent;
    size_t n_entries;
};

static const char *archive_msg(struct archive *a)
{
    const char *s = archive_error_string(a);
    return s ? s : "unknown error";
}

static int check_entry_path(const char *entry, const char *p, const char *what,
                            struct vps_error *err)
{
    if (p[0] == '/')
        return vps_error_set(err, VPS_ERR_INVALID, "entry '%.200s': %s is absolute", entry, what);
    for (const char *c = p; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return vps_error_set(err, VPS_ERR_INVALID, "entry '%.200s': %s contains '..'", entry,
                                 what);
        c += len;
        c += strspn(c, "/");
    }
    return 0;
}

/* Our own checks come first and do not depend on libarchive's flags: the error names the
 * entry, and a device node is refused outright (a VPS gets its own minimal /dev). */
static int check_entry(struct archive_entry *e, struct vps_error *err)
{
    const char *path = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);

    if (!path || !path[0])
        return vps_error_set(err, VPS_ERR_INVALID, "an entry has no usable path");
    if (check_entry_path(path, path, "the path", err) < 0)
        return -1;
    if (type == AE_IFCHR || type == AE_IFBLK)
        return vps_error_set(err, VPS_ERR_INVALID, "entry '%.200s': device nodes are not allowed",
                             path);
    if (link && check_entry_path(path, link, "the hard link target", err) < 0)
        return -1;
    return 0;
}

/* Running out of something on the host is ours; anything else libarchive refuses (a path
 * through a symlink, a link to nowhere) is the archive's fault. */
static int disk_error(struct archive *disk, const char *path, struct vps_error *err)
{
    int e = archive_errno(disk);

    if (e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS || e == ENOMEM || e == EMFILE)
        return vps_error_errno(err, e, "entry '%.200s': %s", path, archive_msg(disk));
    return vps_error_set(err, VPS_ERR_INVALID, "entry '%.200s': %s", path, archive_msg(disk));
}

static int write_entry(struct archive *in, struct archive *disk, struct archive_entry *e,
                       struct vps_error *err)
{
    const char *path = archive_entry_pathname(e);

    if (archive_write_header(disk, e) < ARCHIVE_WARN)
        return disk_error(disk, path, err);
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return vps_error_set(err, VPS_ERR_INVALID, "entry '%.200s': %s", path, archive_msg(in));
        if (archive_write_data_block(disk, buf, size, offset) < ARCHIVE_WARN)
            return disk_error(disk, path, err);
    }
    if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
        return disk_error(disk, path, err);
    return 0;
}

static void send_progress(int sock, unsigned percent, const char *what)
{
    struct import_msg m = {.percent = percent};

    (void) snprintf(m.what, sizeof m.what, "%s", what);
    (void) send(sock, &m, sizeof m, MSG_NOSIGNAL); /* progress is best effort */
}

/* By bytes of the archive consumed when its size is known, else by entries extracted. */
static void report(struct reporter *rep, struct archive *in)
{
    rep->n_entries++;
    if (rep->total_bytes > 0) {
        int64_t done = archive_filter_bytes(in, -1);
        unsigned p = done >= rep->total_bytes ? 99 : (unsigned) (done * 100 / rep->total_bytes);
        if (p != rep->last_percent) {
            rep->last_percent = p;
            send_progress(rep->sock, p, "extracting");
        }
    } else if (rep->n_entries % 256 == 0) {
        char what[48];
        (void) snprintf(what, sizeof what, "extracting: %zu entries", rep->n_entries);
        send_progress(rep->sock, 0, what);
    }
}

static int64_t archive_size(int fd)
{
    struct stat st;
    off_t pos;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (pos = lseek(fd, 0, SEEK_CUR)) < 0)
        return 0;
    return st.st_size > pos ? (int64_t) (st.st_size - pos) : 0;
}

static int extract_entries(struct archive *in, struct archive *disk, struct reporter *rep,
                           struct vps_error *err)
{
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(in, &e);
        if (r == ARCHIVE_EOF && rep->n_entries == 0)
            return vps_error_set(err, VPS_ERR_INVALID, "archive has no entries");
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return vps_error_set(err, VPS_ERR_INVALID, "read archive: %s", archive_msg(in));
        if (check_entry(e, err) < 0 || write_entry(in, disk, e, err) < 0)
            return -1;
        report(rep, in);
    }
}

static int open_reader(int archive_fd, struct archive **ret, struct vps_error *err)
{
    cleanup_(archive_read_freep) struct archive *a = archive_read_new();

    if (!a)
        return vps_error_errno(err, ENOMEM, "set up archive reader");
    /* The compressions libarchive implements itself, and only those: support_filter_all()
     * would also register lrzip, grzip, lzop... that run an external program. */
    if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
        archive_read_support_filter_xz(a) != ARCHIVE_OK ||
        archive_read_support_filter_lzma(a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
        archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_gnutar(a) != ARCHIVE_OK)
        return vps_error_set(err, VPS_ERR_SYSTEM, "set up archive reader: %s", archive_msg(a));
    if (archive_read_open_fd(a, archive_fd, DATA_CHUNK_BYTES) != ARCHIVE_OK)
        return vps_error_set(err, VPS_ERR_INVALID, "read archive: %s", archive_msg(a));
    *ret = TAKE_PTR(a);
    return 0;
}

/* Runs in the child. chroot() needs CAP_SYS_CHROOT; without it (an unprivileged test run)
 * the cwd and libarchive's SECURE_* checks are what confine the extraction. */
static int extract(int rootfs_fd, int archive_fd, int sock, struct vps_error *err)
{
    cleanup_(archive_read_freep) struct archive *in = NULL;
    cleanup_(archive_write_freep) struct archive *disk = NULL;
    struct reporter rep = {
        .sock = sock, .total_bytes = archive_size(archive_fd), .last_percent = UINT_MAX};

    if (fchdir(rootfs_fd) < 0)
        return vps_error_errno(err, errno, "enter the new rootfs");
    if (chroot(".") < 0 && errno != EPERM)
        return vps_error_errno(err, errno, "chroot into the new rootfs");
    if (open_reader(archive_fd, &in, err) < 0)
        return -1;
    disk = archive_write_disk_new();
    if (!disk || archive_write_disk_set_options(disk, EXTRACT_FLAGS) != ARCHIVE_OK)
        return vps_error_errno(err, ENOMEM, "set up archive writer");
    if (extract_entries(in, disk, &rep, err) < 0)
        return -1;
    /* Directory modes and times are applied here, after their content. */
    if (archive_write_close(disk) < ARCHIVE_WARN)
        return disk_error(disk, ".", err);
    return 0;
}

static _Noreturn void extractor_main(int rootfs_fd, int archive_fd, int sock)
{
    struct import_msg m = {.done = true};
    int r = extract(rootfs_fd, archive_fd, sock, &m.err);

    (void) send(sock, &m, sizeof m, MSG_NOSIGNAL);
    _exit(r < 0 ? 1 : 0); /* never exit(): the parent's atexit handlers are not ours */
}

static void child_killp(pid_t *pid)
{
    if (*pid > 0) {
        (void) kill(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

/* Passes the child's progress on until it closes its end; its result lands in ret. */
static int relay(int sock, const struct import *imp, struct import_msg *ret, struct vps_error *err)
{
    for (;;) {
        struct import_msg m;
        ssize_t n = recv(sock, &m, sizeof m, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vps_error_errno(err, errno, "read from the extractor");
        if (n == 0)
            return 0;
        if ((size_t) n != sizeof m)
            return vps_error_set(err, VPS_ERR_SYSTEM, "short message from the extractor");
        m.what[sizeof m.what - 1] = '\0';
        m.err.msg[sizeof m.err.msg - 1] = '\0';
        if (m.done)
            *ret = m;
        else if (imp->progress)
            imp->progress(m.percent, m.what, imp->userdata);
    }
}

static int child_result(const struct import_msg *m, int status, struct vps_error *err)
{
    if (m->done && m->err.code != VPS_ERR_NONE) {
        *err = m->err;
        return -1;
    }
    if (m->done && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return vps_error_set(err, VPS_ERR_SYSTEM, "extractor killed by signal %d",
                             WTERMSIG(status));
    return vps_error_set(err, VPS_ERR_SYSTEM, "extractor exited with status %d without a result",
                         WEXITSTATUS(status));
}

static int fill_import(int rootfs, void *userdata, struct vps_error *err)
{
    const struct import *imp = userdata;
    struct import_msg result = {0};
    int sv[2], status;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    cleanup_close int parent_end = sv[0];
    cleanup_close int child_end = sv[1];
    cleanup_(child_killp) pid_t pid = fork();
    if (pid < 0)
        return vps_error_errno(err, errno, "fork the extractor");
    if (pid == 0)
        extractor_main(rootfs, imp->archive_fd, child_end);
    child_end = vps_close(child_end); /* so that the child's exit reads as end of stream */
    if (relay(parent_end, imp, &result, err) < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return vps_error_errno(err, errno, "wait for the extractor");
    pid = 0;
    return child_result(&result, status, err);
}

int vps_template_import(int templates_fd, const char *name, int archive_fd,
                        vps_progress_fn progress, void *userdata, struct vps_error *err)
{
    struct import imp = {.archive_fd = archive_fd, .progress = progress, .userdata = userdata};

    if (vps_name_validate(name, "template", err) < 0)
        return -1;
    if (vps_template_exists(templates_fd, name))
        return vps_error_set(err, VPS_ERR_EXISTS, "template '%s' already exists", name);
    if (progress)
        progress(0, "extracting", userdata);
    if (build(templates_fd, name, "import", fill_import, &imp, err) < 0) {
        if (err->code == VPS_ERR_EXISTS)
            return -1;
        return vps_error_prefix(err, "import template '%s'", name);
    }
    if (progress)
        progress(100, "done", userdata);
    return 0;
}

/* ---- export -------------------------------------------------------------------------- */

struct exporter {
    struct archive *a;
    struct archive_entry_linkresolver *links;
    dev_t dev;           /* the rootfs's filesystem: a directory elsewhere is a mount */
    char path[PATH_MAX]; /* the current entry's name in the archive: "./bin/busybox" */
    size_t len;
};

static int archive_fail(struct archive *a, const char *what, const char *path,
                        struct vps_error *err)
{
    int e = archive_errno(a);

    if (e > 0)
        return vps_error_errno(err, e, "%s '%.200s': %s", what, path, archive_msg(a));
    return vps_error_set(err, VPS_ERR_SYSTEM, "%s '%.200s': %s", what, path, archive_msg(a));
}

/* An O_PATH fd (a symlink, a fifo) does not work with f*xattr(); its /proc/self/fd magic
 * link lands on exactly the opened inode and follows nothing further. */
static ssize_t x_list(int fd, bool o_path, char *buf, size_t size)
{
    char p[32];

    if (!o_path)
        return flistxattr(fd, buf, size);
    (void) snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return listxattr(p, buf, size);
}

static ssize_t x_get(int fd, bool o_path, const char *key, void *buf, size_t size)
{
    char p[32];

    if (!o_path)
        return fgetxattr(fd, key, buf, size);
    (void) snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return getxattr(p, key, buf, size);
}

static int add_xattr(struct archive_entry *e, int fd, bool o_path, const char *key,
                     const char *path, struct vps_error *err)
{
    ssize_t n = x_get(fd, o_path, key, NULL, 0);
    if (n < 0)
        return vps_error_errno(err, errno, "read xattr '%s' of '%.200s'", key, path);
    cleanup_free char *val = malloc((size_t) n + 1);
    if (!val)
        return vps_error_errno(err, ENOMEM, "read xattr '%s' of '%.200s'", key, path);
    n = x_get(fd, o_path, key, val, (size_t) n);
    if (n < 0)
        return vps_error_errno(err, errno, "read xattr '%s' of '%.200s'", key, path);
    archive_entry_xattr_add_entry(e, key, val, (size_t) n);
    return 0;
}

static int add_xattrs(struct archive_entry *e, int fd, bool o_path, const char *path,
                      struct vps_error *err)
{
    ssize_t n = x_list(fd, o_path, NULL, 0);
    if (n < 0 && errno == ENOTSUP)
        return 0;
    if (n <= 0)
        return n < 0 ? vps_error_errno(err, errno, "list xattrs of '%.200s'", path) : 0;
    cleanup_free char *keys = malloc((size_t) n);
    if (!keys)
        return vps_error_errno(err, ENOMEM, "list xattrs of '%.200s'", path);
    n = x_list(fd, o_path, keys, (size_t) n);
    if (n < 0)
        return vps_error_errno(err, errno, "list xattrs of '%.200s'", path);
    for (const char *k = keys; k < keys + n; k += strlen(k) + 1)
        if (add_xattr(e, fd, o_path, k, path, err) < 0)
            return -1;
    return 0;
}

static int write_data(struct exporter *x, int fd, struct vps_error *err)
{
    cleanup_free char *buf = malloc(DATA_CHUNK_BYTES);

    if (!buf)
        return vps_error_errno(err, ENOMEM, "read '%.200s'", x->path);
    for (;;) {
        ssize_t n = read(fd, buf, DATA_CHUNK_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vps_error_errno(err, errno, "read '%.200s'", x->path);
        if (n == 0)
            return 0;
        if (archive_write_data(x->a, buf, (size_t) n) < 0)
            return archive_fail(x->a, "write", x->path, err);
    }
}

/* fd < 0 for an entry without data (the resolver's spare). */
static int write_header(struct exporter *x, struct archive_entry *e, int fd, struct vps_error *err)
{
    if (archive_write_header(x->a, e) < ARCHIVE_WARN)
        return archive_fail(x->a, "write header of", x->path, err);
    if (fd >= 0 && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
        archive_entry_size(e) > 0)
        return write_data(x, fd, err);
    return 0;
}

static int export_one(struct exporter *x, int fd, const struct stat *st, struct vps_error *err)
{
    cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
    cleanup_(archive_entry_freep) struct archive_entry *spare = NULL;
    bool o_path = !S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode);

    if (!e)
        return vps_error_errno(err, ENOMEM, "export '%.200s'", x->path);
    archive_entry_copy_pathname(e, x->path);
    archive_entry_copy_stat(e, st);
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(fd, "", target, sizeof target);
        if (n < 0 || (size_t) n >= sizeof target)
            return vps_error_errno(err, n < 0 ? errno : ENAMETOOLONG, "read link '%.200s'",
                                   x->path);
        target[n] = '\0';
        archive_entry_copy_symlink(e, target);
    }
    if (add_xattrs(e, fd, o_path, x->path, err) < 0)
        return -1;
    /* Turns the second and later names of a multiply-linked inode into hard links. */
    archive_entry_linkify(x->links, &e, &spare);
    if (e && write_header(x, e, fd, err) < 0)
        return -1;
    if (spare && write_header(x, spare, -1, err) < 0)
        return -1;
    return 0;
}

static int export_dir(struct exporter *x, int dir_fd, unsigned depth, struct vps_error *err);

static int export_entry(struct exporter *x, int dir_fd, const char *name, unsigned depth,
                        struct vps_error *err)
{
    struct stat st;
    mode_t type;

    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return vps_error_errno(err, errno, "stat '%.200s'", x->path);
    type = st.st_mode & S_IFMT;
    if (type == S_IFSOCK)
        return 0; /* tar cannot hold a socket, and a socket file is only a runtime leftover */
    int flags = type == S_IFDIR   ? O_RDONLY | O_DIRECTORY
                : type == S_IFREG ? O_RDONLY | O_NOCTTY
                                  : O_PATH;
    cleanup_close int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return vps_error_errno(err, errno, "open '%.200s'", x->path);
    if ((st.st_mode & S_IFMT) != type)
        return vps_error_set(err, VPS_ERR_CONFLICT, "'%.200s' changed during the export", x->path);
    if (type == S_IFDIR && st.st_dev != x->dev)
        return vps_error_set(err, VPS_ERR_CONFLICT,
                             "'%.200s' is a mount point, refusing to cross it", x->path);
    if (export_one(x, fd, &st, err) < 0)
        return -1;
    return type == S_IFDIR ? export_dir(x, fd, depth + 1, err) : 0;
}

static int export_dir(struct exporter *x, int dir_fd, unsigned depth, struct vps_error *err)
{
    cleanup_(closedirp) DIR *d = NULL;

    if (depth >= MAX_DEPTH)
        return vps_error_set(err, VPS_ERR_INVALID, "nested deeper than %d levels at '%.200s'",
                             MAX_DEPTH, x->path);
    cleanup_close int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || !(d = fdopendir(fd)))
        return vps_error_errno(err, errno, "open directory '%.200s'", x->path);
    fd = -1; /* the stream owns it now */
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno != 0 ? vps_error_errno(err, errno, "read '%.200s'", x->path) : 0;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t old = x->len;
        int n = snprintf(x->path + old, sizeof x->path - old, "/%s", de->d_name);
        if (n < 0 || (size_t) n >= sizeof x->path - old)
            return vps_error_set(err, VPS_ERR_INVALID, "path '%.200s...' is too long", x->path);
        x->len += (size_t) n;
        int r = export_entry(x, dir_fd, de->d_name, depth, err);
        x->len = old;
        x->path[old] = '\0';
        if (r < 0)
            return -1;
    }
}

static int export_tree(int rootfs, int out_fd, struct vps_error *err)
{
    cleanup_(archive_write_freep) struct archive *a = archive_write_new();
    cleanup_(linkresolver_freep) struct archive_entry_linkresolver *links =
        archive_entry_linkresolver_new();
    struct exporter x = {.a = a, .links = links, .path = ".", .len = 1};
    struct stat st;

    if (!a || !links)
        return vps_error_errno(err, ENOMEM, "set up archive writer");
    /* gzip through zlib only: ARCHIVE_WARN would mean an external gzip program. */
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
        return archive_fail(a, "open", "archive", err);
    archive_entry_linkresolver_set_strategy(links, archive_format(a));
    if (fstat(rootfs, &st) < 0)
        return vps_error_errno(err, errno, "stat rootfs");
    x.dev = st.st_dev;
    if (export_one(&x, rootfs, &st, err) < 0 || export_dir(&x, rootfs, 0, err) < 0)
        return -1;
    if (archive_write_close(a) != ARCHIVE_OK)
        return archive_fail(a, "finish", "archive", err);
    return 0;
}

int vps_template_export(int templates_fd, const char *name, int out_fd, struct vps_error *err)
{
    cleanup_close int tdir = -1;

    if (open_template(templates_fd, name, &tdir, err) < 0)
        return -1;
    cleanup_close int rootfs = open_dir_at(tdir, ROOTFS);
    if (rootfs < 0)
        return vps_error_errno(err, errno, "template '%s': open '%s'", name, ROOTFS);
    if (export_tree(rootfs, out_fd, err) < 0)
        return vps_error_prefix(err, "export template '%s'", name);
    return 0;
}
