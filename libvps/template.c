/* The template store: <state-dir>/templates/<name>/{rootfs/,template.json}, their metadata,
 * lookup and removal, the one way a template is built (a complete temporary directory and
 * one rename), and the built-in templates: "minimal" made from busybox-static, "host-usr"
 * around the host's /usr. Import from and export to tarballs is template-archive.c's,
 * building with debootstrap template-debootstrap.c's; copying and removing trees is
 * storage.c's. */
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
    json_t *mounts; /* the "mounts" a VPS made from it gets by default; NULL: none */
    /* Where a "debootstrap" template came from; NULL or empty for the others. */
    char *suite;
    char *mirror;
    char *variant;
    struct vps_strv include;
};

static int check_meta_name(const char *s, const char *path, struct vps_error *err)
{
    if (!vps_name_is_valid(s))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid name", path, s);
    return 0;
}

static int check_source(const char *s, const char *path, struct vps_error *err)
{
    if (strcmp(s, "builtin") != 0 && strcmp(s, "import") != 0 && strcmp(s, "debootstrap") != 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected \"builtin\", \"import\" or \"debootstrap\", got '%.32s'",
                             path, s);
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

/* Only the shape is checked here: the config parser checks each mount in full when a VPS is
 * created with them. */
static int parse_meta_mounts(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    if (!json_is_array(v) || json_array_size(v) > VPS_MAX_MOUNTS)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array of at most %d mounts",
                             path, VPS_MAX_MOUNTS);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_object(json_array_get(v, i)))
            return vps_error_set(err, VPS_ERR_INVALID, "%s[%zu]: expected an object, got %s", path,
                                 i, vps_json_type_name(json_array_get(v, i)));
    json_decref(*(json_t **) dst);
    *(json_t **) dst = json_incref((json_t *) v);
    return 0;
}

static int emit_meta_mounts(const void *src, json_t **ret, struct vps_error *err)
{
    (void) err;
    *ret = json_incref(*(json_t *const *) src); /* NULL: left out */
    return 0;
}

static void free_meta_mounts(void *dst)
{
    json_decref(*(json_t **) dst);
    *(json_t **) dst = NULL;
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
    {.name = "mounts",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct meta, mounts),
     .parse = parse_meta_mounts,
     .emit = emit_meta_mounts,
     .free = free_meta_mounts},
    {.name = "suite",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, suite),
     .omit_zero = true,
     .check = vps_debootstrap_check_suite},
    {.name = "mirror",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, mirror),
     .omit_zero = true,
     .check = vps_debootstrap_check_mirror},
    {.name = "variant",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct meta, variant),
     .omit_zero = true,
     .check = vps_debootstrap_check_variant},
    {.name = "include",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct meta, include),
     .max = VPS_DEBOOTSTRAP_INCLUDE_MAX,
     .str_max = 128,
     .omit_zero = true,
     .check = vps_debootstrap_check_package},
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

/* Adds what origin says to j, template.json's object. */
static int add_origin(json_t *j, const struct vps_template_origin *origin)
{
    const struct {
        const char *key, *value;
    } fields[] = {
        {"suite", origin->suite}, {"mirror", origin->mirror}, {"variant", origin->variant}};

    for (size_t i = 0; i < ELEMENTSOF(fields); i++)
        if (fields[i].value &&
            json_object_set_new(j, fields[i].key, json_string(fields[i].value)) < 0)
            return -1;
    if (origin->include && origin->include->n > 0 &&
        json_object_set_new(j, "include", vps_strv_to_json(origin->include)) < 0)
        return -1;
    return 0;
}

static int save_meta(int tdir, const char *name, const char *source, json_t *mounts,
                     const struct vps_template_origin *origin, struct vps_error *err)
{
    char created_at[32];
    struct tm tm;
    time_t now = time(NULL);

    if (!gmtime_r(&now, &tm) ||
        strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "format the current time");
    cleanup_json json_t *j =
        json_pack("{s:s, s:s, s:s}", "name", name, "source", source, "created_at", created_at);
    if (!j || (mounts && json_object_set(j, "mounts", mounts) < 0) ||
        (origin && add_origin(j, origin) < 0))
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

/* What one build makes. */
struct build {
    const char *name;
    const char *source;                       /* "builtin", "import" or "debootstrap" */
    json_t *mounts;                           /* for template.json; NULL: none */
    const struct vps_template_origin *origin; /* for template.json; NULL: none */
    vps_template_fill_fn fill;
    void *userdata;
};

/* Fills tmp/rootfs, writes tmp/template.json last, and renames tmp to the name once all of
 * it is on disk. */
static int fill_and_publish(int templates_fd, const struct build *b, const char *tmp,
                            struct vps_error *err)
{
    const char *name = b->name;
    cleanup_close int tdir = open_dir_at(templates_fd, tmp);
    if (tdir < 0)
        return vps_error_errno(err, errno, "open '%s'", tmp);
    if (mkdirat(tdir, ROOTFS, 0755) < 0)
        return vps_error_errno(err, errno, "create '%s'", ROOTFS);
    cleanup_close int rootfs = open_dir_at(tdir, ROOTFS);
    if (rootfs < 0 || fchmod(rootfs, 0755) < 0) /* whatever the umask */
        return vps_error_errno(err, errno, "open '%s'", ROOTFS);
    if (b->fill(rootfs, b->userdata, err) < 0 ||
        save_meta(tdir, name, b->source, b->mounts, b->origin, err) < 0)
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

static int build(int templates_fd, const struct build *b, struct vps_error *err)
{
    char tmp[NAME_MAX + 1];
    struct vps_error ignored = {0};

    if (drop_incomplete(templates_fd, b->name, err) < 0 ||
        vps_storage_mkdtemp_at(templates_fd, b->name, tmp, sizeof tmp, err) < 0)
        return -1;
    if (fill_and_publish(templates_fd, b, tmp, err) < 0) {
        (void) vps_storage_destroy(&dir_storage, templates_fd, tmp, &ignored);
        return -1;
    }
    return 0;
}

int vps_template_build(int templates_fd, const char *name, const char *source,
                       vps_template_fill_fn fill, void *userdata, struct vps_error *err)
{
    struct build b = {.name = name, .source = source, .fill = fill, .userdata = userdata};

    return build(templates_fd, &b, err);
}

int vps_template_build_origin(int templates_fd, const char *name, const char *source,
                              const struct vps_template_origin *origin, vps_template_fill_fn fill,
                              void *userdata, struct vps_error *err)
{
    struct build b = {
        .name = name, .source = source, .origin = origin, .fill = fill, .userdata = userdata};

    return build(templates_fd, &b, err);
}

/* ---- the built-in templates ---------------------------------------------------------- */

/* Paths below are fixed literals resolved inside the temporary tree this process created a
 * moment ago, in a 0700 directory nobody else writes to: nothing there can redirect them. */
struct tree_dir {
    const char *path;
    mode_t mode;
};

struct tree_file {
    const char *path;
    mode_t mode;
    const char *content;
};

static const struct tree_dir minimal_dirs[] = {
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

static const struct tree_file minimal_files[] = {
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

static int make_dirs(int rootfs, const struct tree_dir *dirs, size_t n, struct vps_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (mkdirat(rootfs, dirs[i].path, 0700) < 0 ||
            fchmodat(rootfs, dirs[i].path, dirs[i].mode, 0) < 0)
            return vps_error_errno(err, errno, "create '%s'", dirs[i].path);
    return 0;
}

static int write_files(int rootfs, const struct tree_file *files, size_t n, struct vps_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (write_file(rootfs, files[i].path, files[i].mode, files[i].content,
                       strlen(files[i].content), err) < 0)
            return -1;
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

    if (make_dirs(rootfs, minimal_dirs, ELEMENTSOF(minimal_dirs), err) < 0)
        return -1;
    if (write_file(rootfs, "bin/busybox", 0755, busybox->data, busybox->len, err) < 0)
        return -1;
    if (link_applets(rootfs, "bin", "busybox", bin_applets, ELEMENTSOF(bin_applets), err) < 0 ||
        link_applets(rootfs, "sbin", "../bin/busybox", sbin_applets, ELEMENTSOF(sbin_applets),
                     err) < 0)
        return -1;
    return write_files(rootfs, minimal_files, ELEMENTSOF(minimal_files), err);
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

/* ---- host-usr ---- */

/* A Debian-like skeleton around the host's /usr, which a VPS made from it binds read-only:
 * Debian's programs as the host has them, updated by the host's apt, in a rootfs of a few
 * kilobytes. It needs a usr-merged host (Debian 12), as /bin, /sbin and /lib are links into
 * /usr here. The owner of the VPS adds configuration in /etc and data in /srv or /var. */
static const struct tree_dir host_usr_dirs[] = {
    {"usr", 0755},       {"etc", 0755},      {"etc/ssh", 0755},   {"etc/alternatives", 0755},
    {"dev", 0755},       {"proc", 0555},     {"sys", 0555},       {"tmp", 01777},
    {"root", 0700},      {"run", 0755},      {"run/lock", 01777}, {"run/sshd", 0755},
    {"var", 0755},       {"var/log", 0755},  {"var/lib", 0755},   {"var/cache", 0755},
    {"var/spool", 0755}, {"var/tmp", 01777}, {"var/empty", 0755}, {"home", 0755},
    {"srv", 0755},       {"mnt", 0755},      {"opt", 0755},
};

/* Relative, as in Debian's own tree, so they resolve the same inside the VPS and from the
 * host. */
static const char *const host_usr_links[][2] = {
    {"bin", "usr/bin"},     {"sbin", "usr/sbin"},  {"lib", "usr/lib"},
    {"lib64", "usr/lib64"}, {"var/run", "../run"}, {"var/lock", "../run/lock"},
};

/* The accounts Debian's programs expect by name: sshd's privilege separation user (home
 * /run/sshd), www-data for web servers. "*": no password logs in until the owner sets one;
 * keys do (sshd without PAM takes only "!" as locked). */
static const struct tree_file host_usr_files[] = {
    {"etc/passwd", 0644,
     "root:x:0:0:root:/root:/bin/bash\n"
     "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
     "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
     "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
    {"etc/group", 0644,
     "root:x:0:\ndaemon:x:1:\nadm:x:4:\ntty:x:5:\nwww-data:x:33:\nusers:x:100:\n"
     "nogroup:x:65534:\n"},
    {"etc/shadow", 0600,
     "root:*:0:0:99999:7:::\ndaemon:*:0:0:99999:7:::\nwww-data:*:0:0:99999:7:::\n"
     "sshd:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n"},
    {"etc/nsswitch.conf", 0644,
     "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
     "protocols: files\nservices: files\nethers: files\nrpc: files\n"},
    {"etc/hostname", 0644, "localhost\n"},
    {"etc/hosts", 0644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
    {"etc/resolv.conf", 0644, ""},
    {"etc/shells", 0644, "/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n"},
    {"etc/os-release", 0644,
     "NAME=\"vps host-usr\"\nID=vps-host-usr\nID_LIKE=debian\n"
     "PRETTY_NAME=\"vps host-usr (the host's /usr, read-only)\"\n"},
};

/* What a VPS made from host-usr binds from the host unless its config says otherwise: /usr,
 * and /etc/alternatives, where the links of Debian's alternatives (awk, nc, which, editor)
 * that point into /usr live; that one only if the host has it. */
static const char *const host_usr_binds[] = {"/usr", "/etc/alternatives"};

static int fill_host_usr(int rootfs, void *userdata, struct vps_error *err)
{
    (void) userdata;
    if (make_dirs(rootfs, host_usr_dirs, ELEMENTSOF(host_usr_dirs), err) < 0)
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(host_usr_links); i++)
        if (symlinkat(host_usr_links[i][1], rootfs, host_usr_links[i][0]) < 0)
            return vps_error_errno(err, errno, "create link '%s'", host_usr_links[i][0]);
    return write_files(rootfs, host_usr_files, ELEMENTSOF(host_usr_files), err);
}

static int host_usr_mounts(json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *a = json_array();

    for (size_t i = 0; a && i < ELEMENTSOF(host_usr_binds); i++) {
        const char *p = host_usr_binds[i];
        if (i > 0 && access(p, F_OK) < 0)
            continue;
        if (json_array_append_new(
                a, json_pack("{s:s, s:s, s:b}", "source", p, "target", p, "readonly", 1)) < 0)
            return vps_error_errno(err, ENOMEM, "default mounts");
    }
    if (!a)
        return vps_error_errno(err, ENOMEM, "default mounts");
    *ret = TAKE_PTR(a);
    return 0;
}

/* ---- building them ---- */

/* Builds b unless a complete template of its name is there; one built meanwhile by someone
 * else is just as good. */
static int ensure(int templates_fd, const struct build *b, struct vps_error *err)
{
    if (vps_template_exists(templates_fd, b->name))
        return 0;
    if (build(templates_fd, b, err) < 0) {
        if (err->code == VPS_ERR_EXISTS) {
            *err = (struct vps_error){0};
            return 0;
        }
        return vps_error_prefix(err, "template '%s'", b->name);
    }
    return 0;
}

static int ensure_minimal(int templates_fd, const char *busybox_path, struct vps_error *err)
{
    cleanup_(blob_done) struct blob busybox = {0};
    struct build b = {.name = VPS_TEMPLATE_BUILTIN,
                      .source = "builtin",
                      .fill = fill_minimal,
                      .userdata = &busybox};

    if (vps_template_exists(templates_fd, b.name))
        return 0;
    if (read_busybox(busybox_path, &busybox, err) < 0)
        return vps_error_prefix(err, "template '%s'", b.name);
    return ensure(templates_fd, &b, err);
}

static int ensure_host_usr(int templates_fd, struct vps_error *err)
{
    cleanup_json json_t *mounts = NULL;
    struct build b = {.name = VPS_TEMPLATE_HOST_USR, .source = "builtin", .fill = fill_host_usr};

    if (vps_template_exists(templates_fd, b.name))
        return 0;
    if (host_usr_mounts(&mounts, err) < 0)
        return vps_error_prefix(err, "template '%s'", b.name);
    b.mounts = mounts;
    return ensure(templates_fd, &b, err);
}

bool vps_template_is_builtin(const char *name)
{
    return strcmp(name, VPS_TEMPLATE_BUILTIN) == 0 || strcmp(name, VPS_TEMPLATE_HOST_USR) == 0;
}

int vps_template_ensure(int templates_fd, const char *name, const char *busybox_path,
                        struct vps_error *err)
{
    if (strcmp(name, VPS_TEMPLATE_BUILTIN) == 0)
        return ensure_minimal(templates_fd, busybox_path, err);
    if (strcmp(name, VPS_TEMPLATE_HOST_USR) == 0)
        return ensure_host_usr(templates_fd, err);
    return vps_error_set(err, VPS_ERR_INVALID, "template '%.64s' is not built in", name);
}

int vps_template_ensure_builtin(int templates_fd, const char *busybox_path, struct vps_error *err)
{
    struct vps_error later = {0};

    /* Each on its own: a host without busybox-static still gets host-usr. */
    if (ensure_host_usr(templates_fd, err) < 0) {
        (void) ensure_minimal(templates_fd, busybox_path, &later);
        return -1;
    }
    return ensure_minimal(templates_fd, busybox_path, err);
}

int vps_template_default_mounts(int templates_fd, const char *name, json_t **ret,
                                struct vps_error *err)
{
    cleanup_(meta_done) struct meta m = {0};
    cleanup_close int tdir = -1;

    if (open_template(templates_fd, name, &tdir, err) < 0)
        return -1;
    if (load_meta(tdir, name, &m, err) < 0)
        return vps_error_prefix(err, "template '%s'", name);
    *ret = TAKE_PTR(m.mounts);
    return 0;
}
