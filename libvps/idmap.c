/* User-namespace id ranges: choosing a free host range for a new VPS, its idmap.json record,
 * and writing the maps of a new user namespace. Creating the namespace itself is the spawn
 * code's; removing the record goes with the VPS dir in store.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vps/config.h"
#include "vps/fd.h"
#include "vps/idmap.h"
#include "vps/json.h"

/* /etc/subuid has a line per host user; 16 MiB is some 500,000 users. */
#define SUBID_MAX_BYTES (16U << 20)

static const struct vps_json_field idmap_fields[] = {
    {.name = "host_base",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_idmap, host_base),
     .required = true,
     .min = VPS_IDMAP_FIRST,
     .max = VPS_IDMAP_LIMIT - VPS_IDMAP_SIZE},
    {.name = "size",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_idmap, size),
     .required = true,
     .min = VPS_IDMAP_SIZE,
     .max = VPS_IDMAP_SIZE},
    {.name = "shifted",
     .kind = VPS_JSON_BOOL,
     .offset = offsetof(struct vps_idmap, shifted),
     .omit_zero = true},
};

/* The rules of the table above, for maps that come from callers rather than from JSON. */
static int check_map(const struct vps_idmap *m, struct vps_error *err)
{
    if (m->host_base < VPS_IDMAP_FIRST || m->size != VPS_IDMAP_SIZE ||
        (uint64_t) m->host_base + m->size > VPS_IDMAP_LIMIT)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "id range %" PRIu32 "+%" PRIu32 " is not a valid vps range",
                             m->host_base, m->size);
    return 0;
}

int vps_idmap_load(int vps_dir_fd, struct vps_idmap *ret, struct vps_error *err)
{
    cleanup_json json_t *j = NULL;
    struct vps_idmap m = {0};

    if (vps_json_load_at(vps_dir_fd, VPS_IDMAP_FILE, VPS_IDMAP_MAX_BYTES, &j, err) < 0)
        return -1;
    if (vps_json_parse_fields(j, idmap_fields, ELEMENTSOF(idmap_fields), &m, "", err) < 0)
        return vps_error_prefix(err, "'%s'", VPS_IDMAP_FILE);
    *ret = m;
    return 0;
}

int vps_idmap_save(int vps_dir_fd, const struct vps_idmap *m, struct vps_error *err)
{
    cleanup_json json_t *j = NULL;

    if (check_map(m, err) < 0 ||
        vps_json_emit_fields(m, idmap_fields, ELEMENTSOF(idmap_fields), &j, err) < 0 ||
        vps_json_save_at(vps_dir_fd, VPS_IDMAP_FILE, j, err) < 0)
        return vps_error_prefix(err, "save '%s'", VPS_IDMAP_FILE);
    return 0;
}

/* ---- taken ranges ---- */

struct range {
    uint64_t start, end; /* [start, end) */
};

struct ranges {
    struct range *v;
    size_t n, cap;
};

static void ranges_done(struct ranges *r)
{
    free(r->v);
}

static int ranges_add(struct ranges *r, uint64_t start, uint64_t count, struct vps_error *err)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        struct range *nv = reallocarray(r->v, ncap, sizeof *nv);
        if (!nv)
            return vps_error_errno(err, ENOMEM, "collect id ranges");
        r->v = nv;
        r->cap = ncap;
    }
    r->v[r->n++] = (struct range){start, start + count};
    return 0;
}

/* ---- /etc/subuid and /etc/subgid ---- */

/* Decimal digits only (no sign, no space, no empty field), at most max. */
static bool parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned) (s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

/* One "name:start:count" line. Returns false for a malformed one, which the shadow tools skip
 * as well, so it hands no ids to anybody. */
static bool parse_subid_line(const char *line, size_t len, uint64_t *ret_start, uint64_t *ret_count)
{
    const char *c1 = memchr(line, ':', len);
    if (!c1 || c1 == line)
        return false;
    const char *rest = c1 + 1;
    size_t rest_len = len - (size_t) (rest - line);
    const char *c2 = memchr(rest, ':', rest_len);
    if (!c2)
        return false;
    const char *count = c2 + 1;
    size_t count_len = rest_len - (size_t) (count - rest);

    return parse_u64(rest, (size_t) (c2 - rest), UINT32_MAX, ret_start) &&
           parse_u64(count, count_len, (uint64_t) UINT32_MAX + 1, ret_count) && *ret_count > 0;
}

static int parse_subid_text(const char *text, size_t len, struct ranges *r, struct vps_error *err)
{
    size_t pos = 0;

    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t) (nl - line) : len - pos;
        uint64_t start, count;

        if (parse_subid_line(line, line_len, &start, &count) &&
            ranges_add(r, start, count, err) < 0)
            return -1;
        pos += line_len + 1;
    }
    return 0;
}

static int read_subid(const char *path, struct ranges *r, struct vps_error *err)
{
    cleanup_free char *text = NULL;
    size_t len;

    /* Not O_NOFOLLOW: a host file that configuration management links into place is fine. */
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", path);
    if (vps_read_all(fd, SUBID_MAX_BYTES, &text, &len, err) < 0)
        return vps_error_prefix(err, "'%s'", path);
    return parse_subid_text(text, len, r, err);
}

/* ---- the state dir ---- */

/* A VPS dir, a create in progress (".<name>.new") or a destroy in progress
 * (".<name>.deleting"). The last still owns files under its range until they are deleted, so
 * its range is not free yet either. */
static bool holds_range(const char *d_name)
{
    static const char *const suffixes[] = {".new", ".deleting"};
    char name[VPS_NAME_MAX + 1];

    if (d_name[0] != '.')
        return vps_name_is_valid(d_name);
    size_t len = strlen(d_name);
    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        size_t slen = strlen(suffixes[i]);
        if (len < 1 + slen || strcmp(d_name + len - slen, suffixes[i]) != 0)
            continue;
        size_t nlen = len - 1 - slen;
        if (nlen >= sizeof name)
            return false;
        memcpy(name, d_name + 1, nlen);
        name[nlen] = '\0';
        return vps_name_is_valid(name);
    }
    return false;
}

static int add_vps_range(int state_fd, const char *name, struct ranges *r, struct vps_error *err)
{
    struct vps_idmap m;

    cleanup_close int fd = openat(state_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    /* A plain file or a symlink with a VPS's name is not a VPS dir, and holds no range. */
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
        return 0;
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", name);
    if (vps_idmap_load(fd, &m, err) < 0) {
        if (err->errnum == ENOENT) {
            *err = (struct vps_error){0};
            return 0;
        }
        return vps_error_prefix(err, "'%s'", name);
    }
    return ranges_add(r, m.host_base, m.size, err);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int scan_state_dir(int state_fd, struct ranges *r, struct vps_error *err)
{
    /* A new open file description, so this walk moves no offset the caller's fd shares. */
    int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        int e = errno;
        vps_close(fd);
        return vps_error_errno(err, e, "read state dir");
    }
    for (errno = 0; (de = readdir(d)); errno = 0)
        if (holds_range(de->d_name) && add_vps_range(state_fd, de->d_name, r, err) < 0)
            return -1;
    if (errno != 0)
        return vps_error_errno(err, errno, "read state dir");
    return 0;
}

/* ---- allocation ---- */

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* The first aligned slot at or after id. */
static uint64_t slot_at_or_after(uint64_t id)
{
    if (id <= VPS_IDMAP_FIRST)
        return VPS_IDMAP_FIRST;
    return VPS_IDMAP_FIRST +
           (id - VPS_IDMAP_FIRST + VPS_IDMAP_SIZE - 1) / VPS_IDMAP_SIZE * VPS_IDMAP_SIZE;
}

/* Sorted by start, every range skipped or passed ends at or below the candidate, so one pass
 * finds the lowest slot that none overlaps. */
static int pick_free(struct ranges *r, struct vps_idmap *ret, struct vps_error *err)
{
    uint64_t base = VPS_IDMAP_FIRST;

    if (r->n > 0)
        qsort(r->v, r->n, sizeof *r->v, cmp_range);
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].start >= base + VPS_IDMAP_SIZE)
            break;
        if (r->v[i].end > base)
            base = slot_at_or_after(r->v[i].end);
    }
    if (base + VPS_IDMAP_SIZE > VPS_IDMAP_LIMIT)
        return vps_error_set(err, VPS_ERR_CONFLICT, "no free id range");
    *ret = (struct vps_idmap){.host_base = (uint32_t) base, .size = VPS_IDMAP_SIZE};
    return 0;
}

int vps_idmap_allocate_with(int state_fd, const char *subuid_path, const char *subgid_path,
                            struct vps_idmap *ret, struct vps_error *err)
{
    cleanup_(ranges_done) struct ranges r = {0};

    if (scan_state_dir(state_fd, &r, err) < 0 ||
        (subuid_path && read_subid(subuid_path, &r, err) < 0) ||
        (subgid_path && read_subid(subgid_path, &r, err) < 0) || pick_free(&r, ret, err) < 0)
        return vps_error_prefix(err, "allocate id range");
    return 0;
}

int vps_idmap_allocate(int state_fd, struct vps_idmap *ret, struct vps_error *err)
{
    return vps_idmap_allocate_with(state_fd, VPS_IDMAP_SUBUID, VPS_IDMAP_SUBGID, ret, err);
}

/* ---- writing the maps ---- */

int vps_idmap_write(pid_t pid, const struct vps_idmap *m, struct vps_error *err)
{
    char path[32], map[48];

    if (pid <= 0)
        return vps_error_set(err, VPS_ERR_INVALID, "write id maps: bad pid %d", (int) pid);
    if (check_map(m, err) < 0)
        return vps_error_prefix(err, "write id maps of pid %d", (int) pid);
    (void) snprintf(path, sizeof path, "/proc/%d", (int) pid);
    (void) snprintf(map, sizeof map, "0 %" PRIu32 " %" PRIu32 "\n", m->host_base, m->size);
    /* One dir fd for both files, so both maps go to the same process. */
    cleanup_close int proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return vps_error_errno(err, errno, "write id maps: open '%s'", path);
    /* The kernel takes a map in one write() only, and refuses a second: vps_write_at() makes
     * exactly one. */
    if (vps_write_at(proc_fd, "uid_map", map, err) < 0 ||
        vps_write_at(proc_fd, "gid_map", map, err) < 0)
        return vps_error_prefix(err, "write id maps of pid %d", (int) pid);
    return 0;
}
