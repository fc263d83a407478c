/* The state directory: the daemon lock, per-VPS directories and their crash-safe creation
 * and removal. Copying and deleting rootfs trees is storage.c's; the config's JSON form is
 * config.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "vps/idmap.h"
#include "vps/json.h"
#include "vps/store.h"

#define CONFIG_FILE "config.json"

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* Leftovers are hidden names: ".<name>.new" (a create that did not finish) and
 * ".<name>.deleting" (a destroy that did not finish). Both are deleted. */
static void clean_leftovers(struct vps_store *s)
{
    int fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 3);
    cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        vps_close(fd);
        return;
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        bool stale =
            de->d_name[0] == '.' && ((len > 4 && strcmp(de->d_name + len - 4, ".new") == 0) ||
                                     (len > 9 && strcmp(de->d_name + len - 9, ".deleting") == 0));
        if (stale) {
            struct vps_error err = {0};
            /* Best effort: a leftover that cannot be removed now is retried next start. */
            (void) vps_storage_destroy(&s->storage, s->dir_fd, de->d_name, &err);
        }
    }
}

int vps_store_open(const char *path, struct vps_store *ret, struct vps_error *err)
{
    cleanup_close int dir_fd = -1, lock_fd = -1;

    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create state dir '%s'", path);
    dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return vps_error_errno(err, errno, "open state dir '%s'", path);
    lock_fd = openat(dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0)
        return vps_error_errno(err, errno, "open '%s/.lock'", path);
    if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return vps_error_set(err, VPS_ERR_CONFLICT, "state dir '%s' is in use by another vpsd",
                                 path);
        return vps_error_errno(err, errno, "lock '%s/.lock'", path);
    }
    /* Absolute: processes started in other mount namespaces reach the tree by this path. */
    ret->path = realpath(path, NULL);
    if (!ret->path)
        return vps_error_errno(err, errno, "resolve state dir '%s'", path);
    ret->dir_fd = TAKE_FD(dir_fd);
    ret->lock_fd = TAKE_FD(lock_fd);
    ret->storage.backend = VPS_STORAGE_DIR;
    clean_leftovers(ret);
    return 0;
}

void vps_store_close(struct vps_store *s)
{
    vps_close(s->dir_fd);
    vps_close(s->lock_fd);
    free(s->path);
    s->dir_fd = s->lock_fd = -1;
    s->path = NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int vps_store_list(const struct vps_store *s, struct vps_strv *ret, struct vps_error *err)
{
    int fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 3);
    cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct vps_strv out = {0};
    struct dirent *de;

    if (!d) {
        vps_close(fd);
        return vps_error_errno(err, errno, "list state dir '%s'", s->path);
    }
    rewinddir(d);
    while ((de = readdir(d))) {
        char p[VPS_NAME_MAX + sizeof "/" CONFIG_FILE];
        struct stat st;

        if (!vps_name_is_valid(de->d_name))
            continue;
        (void) snprintf(p, sizeof p, "%s/" CONFIG_FILE, de->d_name);
        if (fstatat(s->dir_fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        char **nv = realloc(out.v, (out.n + 2) * sizeof(char *));
        if (!nv || !(nv[out.n] = strdup(de->d_name))) {
            out.v = nv ? nv : out.v;
            vps_strv_free(&out);
            return vps_error_errno(err, ENOMEM, "list state dir");
        }
        out.v = nv;
        out.v[++out.n] = NULL;
    }
    if (out.n)
        qsort(out.v, out.n, sizeof(char *), cmp_str);
    *ret = out;
    return 0;
}

static int open_vps_dir(const struct vps_store *s, const char *name, struct vps_error *err)
{
    int fd;

    if (vps_name_validate(name, "vps", err) < 0)
        return -1;
    fd = openat(s->dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "vps '%s' does not exist", name);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s/%s'", s->path, name);
    return fd;
}

int vps_store_load(const struct vps_store *s, const char *name, struct vps_config **ret,
                   struct vps_error *err)
{
    cleanup_json json_t *j = NULL;
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    cleanup_close int fd = open_vps_dir(s, name, err);

    if (fd < 0)
        return -1;
    if (vps_json_load_at(fd, CONFIG_FILE, VPS_CONFIG_MAX_BYTES, &j, err) < 0) {
        if (err->errnum == ENOENT)
            return vps_error_set(err, VPS_ERR_NOT_FOUND, "vps '%s' does not exist", name);
        return vps_error_prefix(err, "vps '%s'", name);
    }
    if (vps_config_from_json(j, &c, err) < 0)
        return vps_error_prefix(err, "vps '%s': '%s'", name, CONFIG_FILE);
    if (strcmp(c->name, name) != 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vps '%s': '%s' names vps '%s'", name,
                             CONFIG_FILE, c->name);
    *ret = TAKE_PTR(c);
    return 0;
}

static int save_in(int dir_fd, const struct vps_config *c, struct vps_error *err)
{
    cleanup_json json_t *j = NULL;

    if (vps_config_to_json(c, &j, err) < 0)
        return -1;
    return vps_json_save_at(dir_fd, CONFIG_FILE, j, err);
}

int vps_store_save(const struct vps_store *s, const struct vps_config *c, struct vps_error *err)
{
    cleanup_close int fd = open_vps_dir(s, c->name, err);

    if (fd < 0)
        return -1;
    if (save_in(fd, c, err) < 0)
        return vps_error_prefix(err, "vps '%s'", c->name);
    return 0;
}

int vps_store_create(const struct vps_store *s, const struct vps_config *c, int template_rootfs_fd,
                     bool shift_ids, struct vps_error *err)
{
    char tmp[VPS_NAME_MAX + 8];
    cleanup_close int fd = -1;
    struct vps_idmap m;
    struct stat st;

    if (vps_name_validate(c->name, "vps", err) < 0)
        return -1;
    if (fstatat(s->dir_fd, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return vps_error_set(err, VPS_ERR_EXISTS, "vps '%s' already exists", c->name);
    (void) snprintf(tmp, sizeof tmp, ".%s.new", c->name);
    (void) vps_storage_destroy(&s->storage, s->dir_fd, tmp, &(struct vps_error){0});
    if (mkdirat(s->dir_fd, tmp, 0700) < 0)
        return vps_error_errno(err, errno, "vps '%s': create '%s'", c->name, tmp);
    fd = openat(s->dir_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        vps_error_errno(err, errno, "open '%s'", tmp);
        goto fail;
    }
    /* The id range is taken first: the allocator counts ".<name>.new" dirs as taken, so two
     * creates in a row never get the same range. */
    if (vps_idmap_allocate(s->dir_fd, &m, err) < 0)
        goto fail;
    m.shifted = shift_ids;
    if (vps_idmap_save(fd, &m, err) < 0 ||
        vps_storage_create_shifted(&s->storage, template_rootfs_fd, fd, "rootfs",
                                   shift_ids ? m.host_base : 0, err) < 0 ||
        save_in(fd, c, err) < 0)
        goto fail;
    /* RENAME_NOREPLACE: a racing create of the same name loses cleanly, never overwrites. */
    if (renameat2(s->dir_fd, tmp, s->dir_fd, c->name, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            vps_error_set(err, VPS_ERR_EXISTS, "vps '%s' already exists", c->name);
        else
            vps_error_errno(err, errno, "rename '%s' to '%s'", tmp, c->name);
        goto fail;
    }
    if (fsync(s->dir_fd) < 0)
        return vps_error_errno(err, errno, "vps '%s': fsync state dir", c->name);
    return 0;
fail:
    (void) vps_storage_destroy(&s->storage, s->dir_fd, tmp, &(struct vps_error){0});
    if (err->code != VPS_ERR_EXISTS)
        vps_error_prefix(err, "vps '%s': create", c->name);
    return -1;
}

int vps_store_destroy(const struct vps_store *s, const char *name, struct vps_error *err)
{
    char tmp[VPS_NAME_MAX + 16];
    cleanup_close int fd = open_vps_dir(s, name, err);

    if (fd < 0)
        return -1;
    (void) snprintf(tmp, sizeof tmp, ".%s.deleting", name);
    (void) vps_storage_destroy(&s->storage, s->dir_fd, tmp, &(struct vps_error){0});
    if (renameat(s->dir_fd, name, s->dir_fd, tmp) < 0)
        return vps_error_errno(err, errno, "vps '%s': rename to '%s'", name, tmp);
    if (fsync(s->dir_fd) < 0)
        return vps_error_errno(err, errno, "vps '%s': fsync state dir", name);
    if (vps_storage_destroy(&s->storage, s->dir_fd, tmp, err) < 0)
        return vps_error_prefix(err, "vps '%s': remove files (retried at next start)", name);
    return 0;
}

int vps_store_foreach(const struct vps_store *s, vps_store_each_fn fn, void *userdata,
                      struct vps_error *err)
{
    struct vps_strv names = {0};

    if (vps_store_list(s, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++) {
        cleanup_(vps_config_freep) struct vps_config *c = NULL;
        struct vps_error e = {0};
        (void) vps_store_load(s, names.v[i], &c, &e);
        fn(names.v[i], c, &e, userdata);
    }
    vps_strv_free(&names);
    return 0;
}

int vps_store_load_idmap(const struct vps_store *s, const char *name, struct vps_idmap *ret,
                         struct vps_error *err)
{
    cleanup_close int fd = open_vps_dir(s, name, err);

    if (fd < 0)
        return -1;
    return vps_idmap_load(fd, ret, err);
}

int vps_store_open_rootfs(const struct vps_store *s, const char *name, int *ret_fd,
                          struct vps_error *err)
{
    cleanup_close int fd = open_vps_dir(s, name, err);

    if (fd < 0)
        return -1;
    int r = openat(fd, "rootfs", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (r < 0)
        return vps_error_errno(err, errno, "vps '%s': open rootfs", name);
    *ret_fd = r;
    return 0;
}
