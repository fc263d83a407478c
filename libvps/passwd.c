/* User and group lookup inside a VPS (vps/passwd.h): its /etc/passwd and /etc/group, opened
 * inside its root and parsed here. Never NSS (getpwnam() and friends), which would answer
 * from the host's files. Switching to the user (setgroups, setgid, setuid) is spawn.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vps/fd.h"
#include "vps/passwd.h"
#include "vps/path.h"

#define DB_MAX_BYTES   (4 * 1024 * 1024)
#define LINE_MAX_BYTES 4096
#define PASSWD_FIELDS  7 /* name:password:uid:gid:gecos:home:shell */
#define GROUP_FIELDS   4 /* name:password:gid:member,member,... */

/* A piece of a line: not NUL-terminated, may hold any byte. */
struct field {
    const char *p;
    size_t len;
};

/* Whom to look up: by_uid with uid, or name. */
struct want {
    bool by_uid;
    uint32_t uid;
    const char *name;
};

static void error_clear(struct vps_error *err)
{
    *err = (struct vps_error){0};
}

/* Only plain decimal: no sign, no space, at most 10 digits, below (uint32_t) -1, which
 * setuid() and friends read as "no change". */
static bool parse_id(const char *p, size_t len, uint32_t *ret)
{
    uint64_t v = 0;

    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t) (p[i] - '0');
    }
    if (v >= UINT32_MAX)
        return false;
    *ret = (uint32_t) v;
    return true;
}

/* Splits line into exactly n fields at sep; false for any other count. */
static bool split(struct field line, char sep, struct field *f, size_t n)
{
    const char *p = line.p, *end = line.p + line.len;
    size_t i = 0;

    for (;;) {
        const char *q = memchr(p, sep, (size_t) (end - p));
        if (i == n)
            return false;
        f[i++] = (struct field){p, (size_t) ((q ? q : end) - p)};
        if (!q)
            return i == n;
        p = q + 1;
    }
}

static bool field_eq(struct field f, const char *s, size_t len)
{
    return f.len == len && memcmp(f.p, s, len) == 0;
}

/* Line iterator over a whole file: every line is checked against the length cap, also those
 * after a match, so that a file is accepted or refused as a whole. */
struct lines {
    const char *p, *end;
    const char *path;
    size_t lineno;
};

/* 1 and the next line (without its newline), 0 at the end, -1 for a line over the cap. */
static int next_line(struct lines *it, struct field *ret, struct vps_error *err)
{
    if (it->p >= it->end)
        return 0;
    const char *nl = memchr(it->p, '\n', (size_t) (it->end - it->p));
    size_t len = (size_t) ((nl ? nl : it->end) - it->p);
    it->lineno++;
    if (len > LINE_MAX_BYTES)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "'%s' in the vps: line %zu is longer than %d bytes", it->path,
                             it->lineno, LINE_MAX_BYTES);
    *ret = (struct field){it->p, len};
    it->p = nl ? nl + 1 : it->end;
    return 1;
}

/* Opens path inside the root without side effects, whatever the VPS put there: O_PATH opens
 * nothing (a FIFO would block a plain open, a device's open could act, /dev/watchdog arms a
 * timer), so only a regular file is then opened for reading, through its /proc/self/fd link,
 * which reaches exactly the inode checked. *ret_fd = -1 if the VPS has no such file. */
static int db_open(int root_fd, const char *path, int *ret_fd, struct vps_error *err)
{
    char proc[32];
    struct stat st;
    cleanup_close int pfd = vps_path_open_in_root(root_fd, path, O_PATH, err);

    if (pfd < 0 && err->errnum == ENOENT) {
        error_clear(err);
        *ret_fd = -1;
        return 0;
    }
    if (pfd < 0) {
        /* A symlink (ELOOP) or a path escaping the root (EXDEV) is the VPS's doing. */
        if (err->errnum == ELOOP || err->errnum == EXDEV)
            err->code = VPS_ERR_INVALID;
        return -1;
    }
    if (fstat(pfd, &st) < 0)
        return vps_error_errno(err, errno, "stat '%s' in the vps", path);
    if (!S_ISREG(st.st_mode))
        return vps_error_set(err, VPS_ERR_INVALID, "'%s' in the vps is not a regular file", path);
    if (st.st_size > DB_MAX_BYTES)
        return vps_error_set(err, VPS_ERR_INVALID, "'%s' in the vps is larger than %d bytes", path,
                             DB_MAX_BYTES);
    (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s' in the vps", path);
    *ret_fd = fd;
    return 0;
}

/* The whole file, NUL-terminated (an empty one if the VPS has none). */
static int db_read(int root_fd, const char *path, char **ret, size_t *ret_len,
                   struct vps_error *err)
{
    cleanup_close int fd = -1;

    if (db_open(root_fd, path, &fd, err) < 0)
        return -1;
    if (fd < 0) {
        *ret = calloc(1, 1);
        *ret_len = 0;
        return *ret ? 0 : vps_error_errno(err, ENOMEM, "read '%s'", path);
    }
    /* The size was checked, but the file can grow between fstat() and the read. */
    if (vps_read_all(fd, DB_MAX_BYTES, ret, ret_len, err) < 0) {
        if (err->code == VPS_ERR_TOO_LARGE)
            return vps_error_set(err, VPS_ERR_INVALID, "'%s' in the vps is larger than %d bytes",
                                 path, DB_MAX_BYTES);
        return vps_error_prefix(err, "read '%s' in the vps", path);
    }
    return 0;
}

/* A home that can be used as one: absolute, fits, no NUL. Anything else leaves "/". */
static void set_home(struct vps_user *u, struct field home)
{
    if (home.len == 0 || home.len >= sizeof u->home || home.p[0] != '/' ||
        memchr(home.p, '\0', home.len))
        return;
    memcpy(u->home, home.p, home.len);
    u->home[home.len] = '\0';
}

/* The first valid passwd line for w: its uid, gid and home into u, its name into ret_name.
 * *ret_found false if there is none. */
static int passwd_find(const char *buf, size_t len, const struct want *w, struct vps_user *u,
                       struct field *ret_name, bool *ret_found, struct vps_error *err)
{
    struct lines it = {buf, buf + len, "/etc/passwd", 0};
    size_t name_len = w->name ? strlen(w->name) : 0;
    struct field line = {0};
    int k;

    *ret_found = false;
    while ((k = next_line(&it, &line, err)) > 0) {
        struct field f[PASSWD_FIELDS];
        uint32_t uid, gid;
        if (*ret_found || !split(line, ':', f, PASSWD_FIELDS) ||
            !parse_id(f[2].p, f[2].len, &uid) || !parse_id(f[3].p, f[3].len, &gid))
            continue;
        if (w->by_uid ? uid != w->uid : !field_eq(f[0], w->name, name_len))
            continue;
        u->uid = uid;
        u->gid = gid;
        set_home(u, f[5]);
        *ret_name = f[0];
        *ret_found = true;
    }
    return k;
}

static bool has_member(struct field members, struct field name)
{
    struct field rest = members;

    while (rest.len > 0) {
        const char *comma = memchr(rest.p, ',', rest.len);
        size_t len = comma ? (size_t) (comma - rest.p) : rest.len;
        if (field_eq((struct field){rest.p, len}, name.p, name.len))
            return true;
        rest = comma ? (struct field){comma + 1, rest.len - len - 1} : (struct field){NULL, 0};
    }
    return false;
}

static bool has_group(const struct vps_user *u, gid_t gid)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == gid)
            return true;
    return false;
}

/* Every group whose member list names the user, less the primary one and duplicates. */
static int group_scan(const char *buf, size_t len, struct field name, struct vps_user *u,
                      struct vps_error *err)
{
    struct lines it = {buf, buf + len, "/etc/group", 0};
    struct field line = {0};
    int k;

    while ((k = next_line(&it, &line, err)) > 0) {
        struct field f[GROUP_FIELDS];
        uint32_t gid;
        if (!split(line, ':', f, GROUP_FIELDS) || !parse_id(f[2].p, f[2].len, &gid))
            continue;
        if (gid == u->gid || !has_member(f[3], name) || has_group(u, gid))
            continue;
        if (u->n_groups == VPS_USER_GROUPS_MAX)
            return vps_error_set(err, VPS_ERR_INVALID, "user '%.*s' is in more than %d groups",
                                 (int) name.len, name.p, VPS_USER_GROUPS_MAX);
        u->groups[u->n_groups++] = gid;
    }
    return k;
}

/* NULL is root; all digits is a uid (and must be a valid one); anything else a name. */
static int parse_user(const char *user, struct want *ret, struct vps_error *err)
{
    size_t len = user ? strlen(user) : 0;

    if (!user) {
        *ret = (struct want){.by_uid = true, .uid = 0};
        return 0;
    }
    if (len == 0)
        return vps_error_set(err, VPS_ERR_INVALID, "user name is empty");
    if (strspn(user, "0123456789") != len) {
        *ret = (struct want){.name = user};
        return 0;
    }
    *ret = (struct want){.by_uid = true};
    if (!parse_id(user, len, &ret->uid))
        return vps_error_set(err, VPS_ERR_INVALID, "user '%s' is not a valid uid", user);
    return 0;
}

int vps_user_lookup(int root_fd, const char *user, struct vps_user *ret, struct vps_error *err)
{
    cleanup_free char *passwd = NULL, *group = NULL;
    size_t passwd_len, group_len;
    const char *shown = user ? user : "root";
    struct vps_user u = {.home = "/"};
    struct field name = {NULL, 0};
    struct want w;
    bool found;

    if (parse_user(user, &w, err) < 0)
        return -1;
    if (db_read(root_fd, "/etc/passwd", &passwd, &passwd_len, err) < 0 ||
        passwd_find(passwd, passwd_len, &w, &u, &name, &found, err) < 0)
        return vps_error_prefix(err, "look up user '%s'", shown);
    if (!found && !w.by_uid)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "user '%s' does not exist in the vps", user);
    if (!found) {
        /* An unlisted uid is fine: the service runs as that number with its own group. */
        u.uid = u.gid = w.uid;
        *ret = u;
        return 0;
    }
    /* An empty name would match the empty member of "a,,b": no groups for it. */
    if (name.len > 0 && (db_read(root_fd, "/etc/group", &group, &group_len, err) < 0 ||
                         group_scan(group, group_len, name, &u, err) < 0))
        return vps_error_prefix(err, "look up user '%s'", shown);
    *ret = u;
    return 0;
}
