/* The template store: <state-dir>/templates/<name>/{rootfs/,template.json}, their metadata,
 * lookup and removal, the one way a template is built (a complete temporary directory and
 * one rename), and the built-in "minimal" template made from busybox-static. Import from and
 * export to tarballs is template-archive.c's; copying and removing trees is storage.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "template-internal.h"
#include "vps/config.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/storage.h"
#include "vps/template.h"

#define META_FILE      "template.json"
#define META_MAX_BYTES (64 * 1024)
#define ROOTFS         "rootfs"
#define BUSYBOX_MAX    (64 * 1024 * 1024)

static const struct vps_storage dir_storage = {.backend = VPS_STORAGE_DIR};

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
                            vps_template_fill_fn fill, void *userdata, struct vps_error *err)
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
    if (fsync(templates_fd) < 0) {
        struct vps_error ignored = {0};
        int e = errno;
        /* All or nothing: the caller hears of a failure, so the template may not stay. */
        (void) vps_storage_destroy(&dir_storage, templates_fd, name, &ignored);
        return vps_error_errno(err, e, "fsync templates directory");
    }
    return 0;
}

int vps_template_build(int templates_fd, const char *name, const char *source,
                       vps_template_fill_fn fill, void *userdata, struct vps_error *err)
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
    if (vps_template_build(templates_fd, VPS_TEMPLATE_BUILTIN, "builtin", fill_minimal, &busybox,
                           err) < 0) {
        if (err->code == VPS_ERR_EXISTS) { /* built meanwhile: just as good */
            *err = (struct vps_error){0};
            return 0;
        }
        return vps_error_prefix(err, "template '%s'", VPS_TEMPLATE_BUILTIN);
    }
    return 0;
}
