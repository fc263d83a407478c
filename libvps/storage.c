/* The "dir" storage backend: a rootfs is a plain directory tree. Copying a template tree
 * into a new rootfs, removing a tree and measuring one, all by walking with fds one
 * component at a time, so that a symlink or mount planted inside a VPS's rootfs never
 * redirects us. What a template is (metadata, import, export) is template.c's. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vps/fd.h"
#include "vps/storage.h"

/* Each level of a walk holds two fds (the directory and its DIR stream) and a stack frame;
 * 256 levels stay far below RLIMIT_NOFILE and the stack, and real rootfs trees use ~20. */
#define MAX_DEPTH        256
#define COPY_CHUNK_BYTES (128 * 1024)

static void closedirp(DIR **d)
{
    if (*d)
        (void) closedir(*d);
}

/* State shared by every walk: the root's identity (what "the same mount" means) and where
 * the walk is, as a path relative to the root that is only ever printed, never resolved. */
struct walk {
    struct statx root;
    char path[PATH_MAX];
    size_t path_len;
};

typedef int (*entry_fn)(struct walk *w, int dir_fd, const char *name, unsigned depth,
                        struct vps_error *err);

static const char *where(const struct walk *w)
{
    return w->path_len ? w->path : ".";
}

static size_t where_push(struct walk *w, const char *name)
{
    size_t old = w->path_len;
    int n = snprintf(w->path + old, sizeof w->path - old, "%s%s", old ? "/" : "", name);

    if (n > 0)
        w->path_len = old + (size_t) n < sizeof w->path ? old + (size_t) n : sizeof w->path - 1;
    return old;
}

static void where_pop(struct walk *w, size_t old)
{
    w->path_len = old;
    w->path[old] = '\0';
}

static int stat_at(int dir_fd, const char *name, struct statx *ret)
{
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] ? 0 : AT_EMPTY_PATH);

    return statx(dir_fd, name, flags, STATX_BASIC_STATS | STATX_MNT_ID, ret);
}

/* The mount id (Linux 5.8) also catches bind mounts from the same filesystem and ignores
 * the per-file st_dev that overlayfs and btrfs subvolumes report. Without it, st_dev of
 * directories is the best we have (overlayfs files may show their lower layer's). */
static bool same_mount(const struct statx *root, const struct statx *s)
{
    if ((root->stx_mask & STATX_MNT_ID) && (s->stx_mask & STATX_MNT_ID))
        return root->stx_mnt_id == s->stx_mnt_id;
    if (!S_ISDIR(s->stx_mode))
        return true;
    return root->stx_dev_major == s->stx_dev_major && root->stx_dev_minor == s->stx_dev_minor;
}

static int mount_error(const struct walk *w, struct vps_error *err)
{
    return vps_error_set(err, VPS_ERR_CONFLICT, "'%s' is a mount point, refusing to cross it",
                         where(w));
}

static bool is_dot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int check_backend(const struct vps_storage *st, struct vps_error *err)
{
    assert(st);
    if (st->backend != VPS_STORAGE_DIR)
        return vps_error_set(err, VPS_ERR_INVALID, "unknown storage backend %d", (int) st->backend);
    return 0;
}

/* Names are single components: everything here is relative to one directory fd. */
static int check_component(const char *name, struct vps_error *err)
{
    if (!name || !name[0] || is_dot(name) || strchr(name, '/') || strlen(name) > NAME_MAX)
        return vps_error_set(err, VPS_ERR_INVALID, "'%.64s' is not a single path component",
                             name ? name : "");
    return 0;
}

/* A name that a temporary ".<name>.tmp-XXXXXXXX" is derived from. */
static int check_build_name(const char *name, struct vps_error *err)
{
    if (check_component(name, err) < 0)
        return -1;
    if (strlen(name) > VPS_STORAGE_NAME_MAX)
        return vps_error_set(err, VPS_ERR_INVALID, "name '%.64s...' is longer than %d bytes", name,
                             VPS_STORAGE_NAME_MAX);
    return 0;
}

/* Calls fn for every entry of dir_fd but "." and "..", with the walk's path extended by the
 * entry's name. The stream reads a duplicate, so dir_fd stays usable for the *at calls. */
static int walk_dir(struct walk *w, int dir_fd, unsigned depth, entry_fn fn, struct vps_error *err)
{
    cleanup_(closedirp) DIR *d = NULL;

    if (depth >= MAX_DEPTH)
        return vps_error_set(err, VPS_ERR_INVALID, "nested deeper than %d levels at '%s'",
                             MAX_DEPTH, where(w));
    cleanup_close int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return vps_error_errno(err, errno, "duplicate fd of '%s'", where(w));
    d = fdopendir(dup_fd);
    if (!d)
        return vps_error_errno(err, errno, "open directory '%s'", where(w));
    dup_fd = -1;  /* the stream owns it now */
    rewinddir(d); /* the duplicate shares the offset: start from the top */
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                return vps_error_errno(err, errno, "read directory '%s'", where(w));
            return 0;
        }
        if (is_dot(de->d_name))
            continue;
        size_t old = where_push(w, de->d_name);
        int r = fn(w, dir_fd, de->d_name, depth, err);
        where_pop(w, old);
        if (r < 0)
            return -1;
    }
}

static int open_dir_at(int dir_fd, const char *name)
{
    return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* The writes of a whole tree reach the disk with one syncfs() rather than an fsync() per
 * file; then the rename that publishes it, and the directory holding the new name. */
static int publish(int dir_fd, const char *tmp, const char *name, struct vps_error *err)
{
    cleanup_close int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "open parent of '%s'", name);
    if (syncfs(fd) < 0)
        return vps_error_errno(err, errno, "sync '%s'", tmp);
    if (renameat2(dir_fd, tmp, dir_fd, name, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            return vps_error_set(err, VPS_ERR_EXISTS, "'%s' already exists", name);
        return vps_error_errno(err, errno, "rename '%s' to '%s'", tmp, name);
    }
    if (fsync(fd) < 0) {
        static const struct vps_storage dir = {.backend = VPS_STORAGE_DIR};
        struct vps_error ignored = {0};
        int e = errno;
        /* All or nothing: the caller hears of a failure, so nothing may stay at name. */
        (void) vps_storage_destroy(&dir, dir_fd, name, &ignored);
        return vps_error_errno(err, e, "fsync directory of '%s'", name);
    }
    return 0;
}

int vps_storage_mkdtemp_at(int dir_fd, const char *name, char *ret_tmp, size_t size,
                           struct vps_error *err)
{
    assert(size > NAME_MAX);
    if (check_build_name(name, err) < 0)
        return -1;
    for (unsigned attempt = 0; attempt < 16; attempt++) {
        char tmp[NAME_MAX + 1];
        uint32_t rnd;
        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
            return vps_error_errno(err, errno, "getrandom");
        (void) snprintf(tmp, sizeof tmp, ".%s.tmp-%08x", name, rnd);
        if (mkdirat(dir_fd, tmp, 0700) == 0) {
            (void) snprintf(ret_tmp, size, "%s", tmp);
            return 0;
        }
        if (errno != EEXIST)
            return vps_error_errno(err, errno, "create '%s'", tmp);
    }
    return vps_error_set(err, VPS_ERR_SYSTEM, "no free temporary name for '%s'", name);
}

/* ---- copy ---------------------------------------------------------------------------- */

struct copy {
    struct walk w;     /* first: the walk callbacks get &copy.w */
    int dst_dir;       /* the destination directory matching the source one being walked */
    int links_fd;      /* one link per multiply-linked inode copied so far, named by dev/ino */
    uint32_t id_shift; /* added to every owner (vps_storage_create_shifted()) */
};

/* An fd for xattr calls: f*xattr() refuse an O_PATH fd (all we can get for a symlink, a
 * fifo or a device without opening the thing itself), so for one the path calls go through
 * /proc/self/fd/N, a magic link that lands on exactly the opened inode and follows nothing
 * further. Reading is fd.c's (vps_fd_xattr_*); only the copy writes. */
struct xfd {
    int fd;
    bool o_path;
};

static int x_set(struct xfd x, const char *key, const void *buf, size_t size)
{
    char p[32];

    if (!x.o_path)
        return fsetxattr(x.fd, key, buf, size, 0);
    (void) snprintf(p, sizeof p, "/proc/self/fd/%d", x.fd);
    return setxattr(p, key, buf, size, 0);
}

static int copy_xattr(const struct walk *w, struct xfd src, struct xfd dst, const char *key,
                      struct vps_error *err)
{
    cleanup_free char *val = NULL;
    size_t len;

    if (vps_fd_xattr_get(src.fd, src.o_path, key, &val, &len, err) < 0) {
        if (err->code != VPS_ERR_NOT_FOUND)
            return vps_error_prefix(err, "'%s'", where(w));
        *err = (struct vps_error){0}; /* removed since it was listed: nothing to copy */
        return 0;
    }
    /* The destination filesystem may not take this namespace (tmpfs and trusted.*); the
     * copy is still the tree the caller wants. */
    if (x_set(dst, key, val, len) < 0 && errno != ENOTSUP)
        return vps_error_errno(err, errno, "set xattr '%s' on '%s'", key, where(w));
    return 0;
}

static int copy_xattrs(const struct walk *w, struct xfd src, struct xfd dst, struct vps_error *err)
{
    cleanup_free char *keys = NULL;
    size_t len;

    if (vps_fd_xattr_list(src.fd, src.o_path, &keys, &len, err) < 0)
        return vps_error_prefix(err, "'%s'", where(w));
    for (size_t off = 0; off < len; off += strlen(keys + off) + 1)
        if (copy_xattr(w, src, dst, keys + off, err) < 0)
            return -1;
    return 0;
}

/* Owner first, because chown() clears setuid/setgid and security.capability; then the
 * xattrs; then the mode; the times last, since every step before may touch them. dst is a
 * real fd for files and directories, and O_PATH for the rest (then name in c->dst_dir). */
static int apply_meta(struct copy *c, const struct statx *sx, struct xfd src, struct xfd dst,
                      const char *name, struct vps_error *err)
{
    const struct timespec ts[2] = {
        {.tv_sec = sx->stx_atime.tv_sec, .tv_nsec = sx->stx_atime.tv_nsec},
        {.tv_sec = sx->stx_mtime.tv_sec, .tv_nsec = sx->stx_mtime.tv_nsec},
    };
    mode_t mode = sx->stx_mode & 07777;
    int r;

    uid_t uid = sx->stx_uid + c->id_shift;
    gid_t gid = sx->stx_gid + c->id_shift;

    /* A shifted tree must stay inside the VPS's range: an id past it would land on another
     * VPS's ids, or on the host's. */
    if (c->id_shift &&
        (sx->stx_uid >= VPS_STORAGE_SHIFT_IDS || sx->stx_gid >= VPS_STORAGE_SHIFT_IDS))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "'%s' is owned by %u:%u, outside the %u ids "
                             "of a vps",
                             where(&c->w), sx->stx_uid, sx->stx_gid, VPS_STORAGE_SHIFT_IDS);
    r = dst.o_path ? fchownat(c->dst_dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)
                   : fchown(dst.fd, uid, gid);
    if (r < 0)
        return vps_error_errno(err, errno, "chown '%s'", where(&c->w));
    if (copy_xattrs(&c->w, src, dst, err) < 0)
        return -1;
    if (!S_ISLNK(sx->stx_mode)) {
        r = dst.o_path ? fchmodat(c->dst_dir, name, mode, 0) : fchmod(dst.fd, mode);
        if (r < 0)
            return vps_error_errno(err, errno, "chmod '%s'", where(&c->w));
    }
    r = dst.o_path ? utimensat(c->dst_dir, name, ts, AT_SYMLINK_NOFOLLOW) : futimens(dst.fd, ts);
    if (r < 0)
        return vps_error_errno(err, errno, "set times of '%s'", where(&c->w));
    return 0;
}

/* What was opened is what was looked at: stat and open are two steps. */
static int check_same(const struct walk *w, int fd, const struct statx *sx, struct vps_error *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return vps_error_errno(err, errno, "stat '%s'", where(w));
    if (st.st_ino != sx->stx_ino || major(st.st_dev) != sx->stx_dev_major ||
        minor(st.st_dev) != sx->stx_dev_minor)
        return vps_error_set(err, VPS_ERR_CONFLICT, "'%s' changed during the copy", where(w));
    return 0;
}

/* Plain read/write of len bytes at off, where copy_file_range() is refused. */
static int copy_rw(int in, int out, off_t off, off_t len, struct vps_error *err)
{
    cleanup_free char *buf = malloc(COPY_CHUNK_BYTES);

    if (!buf)
        return vps_error_errno(err, ENOMEM, "copy");
    if (lseek(in, off, SEEK_SET) < 0 || lseek(out, off, SEEK_SET) < 0)
        return vps_error_errno(err, errno, "seek");
    while (len > 0) {
        ssize_t n = read(in, buf, len < COPY_CHUNK_BYTES ? (size_t) len : COPY_CHUNK_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vps_error_errno(err, errno, "read");
        if (n == 0)
            return 0; /* the source shrank meanwhile */
        if (vps_write_all(out, buf, (size_t) n, err) < 0)
            return -1;
        len -= n;
    }
    return 0;
}

/* copy_file_range() lets the filesystem share or offload the data; across filesystems, or
 * where a kernel or filesystem refuses it, read/write does the same. */
static int copy_extent(int in, int out, off_t off, off_t len, bool *use_cfr, struct vps_error *err)
{
    off_t in_off = off, out_off = off;

    while (len > 0 && *use_cfr) {
        ssize_t n = copy_file_range(in, &in_off, out, &out_off, (size_t) len, 0);
        if (n == 0)
            return 0;
        if (n > 0) {
            len -= n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return vps_error_errno(err, errno, "copy_file_range");
        *use_cfr = false;
    }
    return len > 0 ? copy_rw(in, out, in_off, len, err) : 0;
}

/* Only the data extents are copied and the size set at the end, so holes stay holes: a
 * Debian /var/log/lastlog is nearly all hole, and dense it can take gigabytes. */
static int copy_bytes(int in, int out, off_t size, struct vps_error *err)
{
    bool use_cfr = true;

    for (off_t off = 0; off < size;) {
        off_t data = lseek(in, off, SEEK_DATA), hole;
        if (data < 0 && errno == ENXIO)
            break; /* a hole up to the end */
        if (data < 0)
            return vps_error_errno(err, errno, "seek data");
        hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return vps_error_errno(err, errno, "seek hole");
        if (copy_extent(in, out, data, hole - data, &use_cfr, err) < 0)
            return -1;
        off = hole;
    }
    if (ftruncate(out, size) < 0)
        return vps_error_errno(err, errno, "truncate");
    return 0;
}

static int copy_regular(struct copy *c, int src_dir, const char *name, const struct statx *sx,
                        struct vps_error *err)
{
    cleanup_close int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (in < 0)
        return vps_error_errno(err, errno, "open '%s'", where(&c->w));
    if (check_same(&c->w, in, sx, err) < 0)
        return -1;
    cleanup_close int out =
        openat(c->dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return vps_error_errno(err, errno, "create '%s'", where(&c->w));
    if (copy_bytes(in, out, (off_t) sx->stx_size, err) < 0)
        return vps_error_prefix(err, "copy '%s'", where(&c->w));
    return apply_meta(c, sx, (struct xfd){in, false}, (struct xfd){out, false}, name, err);
}

/* Symlinks, fifos, sockets and device nodes: opened O_PATH, so that nothing is followed
 * and no fifo open blocks, then recreated from what the fd shows. */
static int make_node(struct copy *c, int src, const char *name, const struct statx *sx,
                     struct vps_error *err)
{
    char target[PATH_MAX];

    if (S_ISLNK(sx->stx_mode)) {
        ssize_t n = readlinkat(src, "", target, sizeof target);
        if (n < 0)
            return vps_error_errno(err, errno, "read link '%s'", where(&c->w));
        if ((size_t) n >= sizeof target)
            return vps_error_set(err, VPS_ERR_INVALID, "link '%s' is too long", where(&c->w));
        target[n] = '\0';
        if (symlinkat(target, c->dst_dir, name) < 0)
            return vps_error_errno(err, errno, "create link '%s'", where(&c->w));
        return 0;
    }
    dev_t rdev = makedev(sx->stx_rdev_major, sx->stx_rdev_minor);
    if (mknodat(c->dst_dir, name, (sx->stx_mode & S_IFMT) | 0600, rdev) < 0) {
        if (S_ISCHR(sx->stx_mode) || S_ISBLK(sx->stx_mode))
            return vps_error_errno(err, errno, "create device node '%s'", where(&c->w));
        return vps_error_errno(err, errno, "create '%s'", where(&c->w));
    }
    return 0;
}

static int copy_node(struct copy *c, int src_dir, const char *name, const struct statx *sx,
                     struct vps_error *err)
{
    cleanup_close int src = openat(src_dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
        return vps_error_errno(err, errno, "open '%s'", where(&c->w));
    if (check_same(&c->w, src, sx, err) < 0 || make_node(c, src, name, sx, err) < 0)
        return -1;
    cleanup_close int dst = openat(c->dst_dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (dst < 0)
        return vps_error_errno(err, errno, "open new '%s'", where(&c->w));
    return apply_meta(c, sx, (struct xfd){src, true}, (struct xfd){dst, true}, name, err);
}

static int copy_entry(struct walk *w, int src_dir, const char *name, unsigned depth,
                      struct vps_error *err);

/* Created 0700 so nothing else gets in while it fills; its own mode and times come after
 * its content, because adding entries changes a directory's mtime. */
static int copy_dir(struct copy *c, int src_dir, const char *name, const struct statx *sx,
                    unsigned depth, struct vps_error *err)
{
    cleanup_close int src = open_dir_at(src_dir, name);
    if (src < 0)
        return vps_error_errno(err, errno, "open '%s'", where(&c->w));
    if (check_same(&c->w, src, sx, err) < 0)
        return -1;
    if (mkdirat(c->dst_dir, name, 0700) < 0)
        return vps_error_errno(err, errno, "create '%s'", where(&c->w));
    cleanup_close int dst = open_dir_at(c->dst_dir, name);
    if (dst < 0)
        return vps_error_errno(err, errno, "open new '%s'", where(&c->w));

    int parent = c->dst_dir;
    c->dst_dir = dst;
    int r = walk_dir(&c->w, src, depth + 1, copy_entry, err);
    c->dst_dir = parent;
    if (r < 0)
        return -1;
    return apply_meta(c, sx, (struct xfd){src, false}, (struct xfd){dst, false}, name, err);
}

/* Hard links: the first copy of a multiply-linked inode is linked into links_fd under its
 * source dev/ino; later names of that inode become links to it. The kernel keeps the
 * table, so it takes neither memory per inode nor an open fd each. */
static void link_key(const struct statx *sx, char *buf, size_t size)
{
    (void) snprintf(buf, size, "%x-%x-%llx", sx->stx_dev_major, sx->stx_dev_minor,
                    (unsigned long long) sx->stx_ino);
}

/* 1 when name became a link to an earlier copy, 0 when this inode is new. */
static int link_known(struct copy *c, const char *name, const struct statx *sx,
                      struct vps_error *err)
{
    char key[64];

    link_key(sx, key, sizeof key);
    if (linkat(c->links_fd, key, c->dst_dir, name, 0) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return vps_error_errno(err, errno, "create hard link '%s'", where(&c->w));
}

static int remember_link(struct copy *c, const char *name, const struct statx *sx,
                         struct vps_error *err)
{
    char key[64];

    link_key(sx, key, sizeof key);
    if (linkat(c->dst_dir, name, c->links_fd, key, 0) < 0)
        return vps_error_errno(err, errno, "remember hard link '%s'", where(&c->w));
    return 0;
}

static int copy_entry(struct walk *w, int src_dir, const char *name, unsigned depth,
                      struct vps_error *err)
{
    struct copy *c = (struct copy *) w;
    bool shared = false;
    struct statx sx;
    int r;

    if (stat_at(src_dir, name, &sx) < 0)
        return vps_error_errno(err, errno, "stat '%s'", where(w));
    if (!same_mount(&w->root, &sx))
        return mount_error(w, err);
    if (!S_ISDIR(sx.stx_mode) && sx.stx_nlink > 1) {
        r = link_known(c, name, &sx, err);
        if (r != 0)
            return r < 0 ? -1 : 0;
        shared = true;
    }
    if (S_ISDIR(sx.stx_mode))
        r = copy_dir(c, src_dir, name, &sx, depth, err);
    else if (S_ISREG(sx.stx_mode))
        r = copy_regular(c, src_dir, name, &sx, err);
    else
        r = copy_node(c, src_dir, name, &sx, err);
    if (r < 0)
        return -1;
    return shared ? remember_link(c, name, &sx, err) : 0;
}

static int copy_tree(int src_fd, int dst_dir_fd, const char *tmp, int links_fd, uint32_t id_shift,
                     struct vps_error *err)
{
    struct copy c = {.dst_dir = -1, .links_fd = links_fd, .id_shift = id_shift};

    /* src_fd may be O_PATH (vps_template_open_rootfs()); reading it needs a real open. */
    cleanup_close int src = openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0)
        return vps_error_errno(err, errno, "open source tree");
    if (stat_at(src, "", &c.w.root) < 0)
        return vps_error_errno(err, errno, "stat source tree");
    cleanup_close int dst = open_dir_at(dst_dir_fd, tmp);
    if (dst < 0)
        return vps_error_errno(err, errno, "open '%s'", tmp);
    c.dst_dir = dst;
    if (walk_dir(&c.w, src, 0, copy_entry, err) < 0)
        return -1;
    return apply_meta(&c, &c.w.root, (struct xfd){src, false}, (struct xfd){dst, false}, "", err);
}

/* Builds the copy under one temporary name, with the hard-link table under another. */
static int create_tmp(int src_fd, int dst_dir_fd, const char *dst_name, const char *tmp,
                      uint32_t id_shift, struct vps_error *err)
{
    static const struct vps_storage dir = {.backend = VPS_STORAGE_DIR};
    char links[NAME_MAX + 1];
    struct vps_error ignored = {0};

    if (vps_storage_mkdtemp_at(dst_dir_fd, dst_name, links, sizeof links, err) < 0)
        return -1;
    cleanup_close int links_fd = open_dir_at(dst_dir_fd, links);
    int r = links_fd < 0 ? vps_error_errno(err, errno, "open '%s'", links)
                         : copy_tree(src_fd, dst_dir_fd, tmp, links_fd, id_shift, err);
    /* Only a table of extra names: a leftover is removed by vps_storage_remove_stale(). */
    (void) vps_storage_destroy(&dir, dst_dir_fd, links, &ignored);
    return r;
}

int vps_storage_create(const struct vps_storage *st, int src_fd, int dst_dir_fd,
                       const char *dst_name, struct vps_error *err)
{
    return vps_storage_create_shifted(st, src_fd, dst_dir_fd, dst_name, 0, err);
}

int vps_storage_create_shifted(const struct vps_storage *st, int src_fd, int dst_dir_fd,
                               const char *dst_name, uint32_t id_shift, struct vps_error *err)
{
    char tmp[NAME_MAX + 1];
    struct vps_error ignored = {0};

    if (check_backend(st, err) < 0 || check_build_name(dst_name, err) < 0)
        return -1;
    if (fstatat(dst_dir_fd, dst_name, &(struct stat){0}, AT_SYMLINK_NOFOLLOW) == 0)
        return vps_error_set(err, VPS_ERR_EXISTS, "'%s' already exists", dst_name);
    if (errno != ENOENT)
        return vps_error_errno(err, errno, "stat '%s'", dst_name);
    if (vps_storage_mkdtemp_at(dst_dir_fd, dst_name, tmp, sizeof tmp, err) < 0)
        return vps_error_prefix(err, "create '%s'", dst_name);
    if (create_tmp(src_fd, dst_dir_fd, dst_name, tmp, id_shift, err) < 0 ||
        publish(dst_dir_fd, tmp, dst_name, err) < 0) {
        (void) vps_storage_destroy(st, dst_dir_fd, tmp, &ignored);
        if (err->code == VPS_ERR_EXISTS)
            return -1;
        return vps_error_prefix(err, "create '%s'", dst_name);
    }
    return 0;
}

/* ---- destroy ------------------------------------------------------------------------- */

struct destroy {
    struct walk w; /* first: the walk callbacks get &destroy.w */
    int top_fd;    /* the tree's root, where too-deep subtrees are moved to */
    unsigned n_moved, next_id;
};

static int check_mount_fd(const struct walk *w, int fd, struct vps_error *err)
{
    struct statx sx;

    if (stat_at(fd, "", &sx) < 0)
        return vps_error_errno(err, errno, "stat '%s'", where(w));
    if (!same_mount(&w->root, &sx))
        return mount_error(w, err);
    return 0;
}

/* A VPS's root can nest directories far deeper than any walk should recurse. Moving the
 * subtree up to the top (a rename inside one mount; EXDEV/EBUSY guard the rest) lets a
 * later pass remove it with a fresh depth budget, so no tree is too deep to destroy. */
static int move_up(struct destroy *d, int dir_fd, const char *name, struct vps_error *err)
{
    for (unsigned attempt = 0; attempt < 64; attempt++) {
        char n[32];
        (void) snprintf(n, sizeof n, ".vps-deep-%u", d->next_id++);
        if (renameat2(dir_fd, name, d->top_fd, n, RENAME_NOREPLACE) == 0) {
            d->n_moved++;
            return 0;
        }
        if (errno == EBUSY)
            return mount_error(&d->w, err);
        if (errno != EEXIST)
            return vps_error_errno(err, errno, "move '%s' up", where(&d->w));
    }
    return vps_error_set(err, VPS_ERR_SYSTEM, "no free name to move '%s' up", where(&d->w));
}

static int destroy_entry(struct walk *w, int dir_fd, const char *name, unsigned depth,
                         struct vps_error *err)
{
    struct destroy *d = (struct destroy *) w;

    /* unlinkat() never follows a symlink; Linux says EISDIR for a directory. */
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno == EBUSY)
        return mount_error(w, err);
    if (errno != EISDIR)
        return vps_error_errno(err, errno, "remove '%s'", where(w));
    if (depth + 1 >= MAX_DEPTH)
        return move_up(d, dir_fd, name, err);

    cleanup_close int fd = open_dir_at(dir_fd, name);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", where(w));
    if (check_mount_fd(w, fd, err) < 0 || walk_dir(w, fd, depth + 1, destroy_entry, err) < 0)
        return -1;
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "remove '%s'", where(w));
    return 0;
}

static int destroy_tree(int dir_fd, const char *name, int fd, struct vps_error *err)
{
    struct destroy d = {.top_fd = fd};

    /* The parent defines the mount: name itself may be a mount point too. */
    if (stat_at(dir_fd, "", &d.w.root) < 0)
        return vps_error_errno(err, errno, "stat parent of '%s'", name);
    if (check_mount_fd(&d.w, fd, err) < 0)
        return -1;
    do {
        d.n_moved = 0;
        if (walk_dir(&d.w, fd, 0, destroy_entry, err) < 0)
            return -1;
    } while (d.n_moved > 0);
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "remove '%s'", name);
    return 0;
}

int vps_storage_destroy(const struct vps_storage *st, int dir_fd, const char *name,
                        struct vps_error *err)
{
    if (check_backend(st, err) < 0 || check_component(name, err) < 0)
        return -1;
    cleanup_close int fd = open_dir_at(dir_fd, name);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        /* A file or a symlink where the tree was: remove the name, never the target. */
        if ((errno == ENOTDIR || errno == ELOOP) &&
            (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT))
            return 0;
        return vps_error_errno(err, errno, "destroy '%s'", name);
    }
    if (destroy_tree(dir_fd, name, fd, err) < 0)
        return vps_error_prefix(err, "destroy '%s'", name);
    return 0;
}

int vps_storage_remove_stale(const struct vps_storage *st, int dir_fd, const char *name,
                             struct vps_error *err)
{
    cleanup_(closedirp) DIR *d = NULL;
    char prefix[NAME_MAX + 1];

    if (check_backend(st, err) < 0 || (name && check_build_name(name, err) < 0))
        return -1;
    (void) snprintf(prefix, sizeof prefix, ".%s.tmp-", name ? name : "");
    cleanup_close int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vps_error_errno(err, errno, "open directory");
    d = fdopendir(fd);
    if (!d)
        return vps_error_errno(err, errno, "open directory");
    fd = -1;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno != 0 ? vps_error_errno(err, errno, "read directory") : 0;
        bool match = name ? strncmp(de->d_name, prefix, strlen(prefix)) == 0
                          : de->d_name[0] == '.' && strstr(de->d_name, ".tmp-");
        if (match && vps_storage_destroy(st, dir_fd, de->d_name, err) < 0)
            return -1;
    }
}

/* ---- usage --------------------------------------------------------------------------- */

struct inode_ref {
    uint32_t dev_major, dev_minor;
    uint64_t ino, bytes;
};

struct usage {
    struct walk w; /* first: the walk callbacks get &usage.w */
    uint64_t bytes;
    struct inode_ref *links; /* multiply-linked inodes, counted once at the end */
    size_t n_links, cap_links;
};

static int remember_inode(struct usage *u, const struct statx *sx, struct vps_error *err)
{
    if (u->n_links == u->cap_links) {
        size_t cap = u->cap_links ? u->cap_links * 2 : 64;
        struct inode_ref *n = reallocarray(u->links, cap, sizeof *n);
        if (!n)
            return vps_error_errno(err, ENOMEM, "usage of '%s'", where(&u->w));
        u->links = n;
        u->cap_links = cap;
    }
    u->links[u->n_links++] =
        (struct inode_ref){sx->stx_dev_major, sx->stx_dev_minor, sx->stx_ino, sx->stx_blocks * 512};
    return 0;
}

static int usage_entry(struct walk *w, int dir_fd, const char *name, unsigned depth,
                       struct vps_error *err)
{
    struct usage *u = (struct usage *) w;
    struct statx sx;

    if (stat_at(dir_fd, name, &sx) < 0)
        return errno == ENOENT ? 0 : vps_error_errno(err, errno, "stat '%s'", where(w));
    if (!same_mount(&w->root, &sx))
        return 0; /* another filesystem's space is not this tree's */
    if (!S_ISDIR(sx.stx_mode) && sx.stx_nlink > 1)
        return remember_inode(u, &sx, err);
    u->bytes += sx.stx_blocks * 512;
    if (!S_ISDIR(sx.stx_mode))
        return 0;
    cleanup_close int fd = open_dir_at(dir_fd, name);
    if (fd < 0)
        return errno == ENOENT ? 0 : vps_error_errno(err, errno, "open '%s'", where(w));
    return walk_dir(w, fd, depth + 1, usage_entry, err);
}

static int cmp_inode(const void *a, const void *b)
{
    const struct inode_ref *x = a, *y = b;

    if (x->dev_major != y->dev_major)
        return x->dev_major < y->dev_major ? -1 : 1;
    if (x->dev_minor != y->dev_minor)
        return x->dev_minor < y->dev_minor ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static uint64_t sum_unique(struct inode_ref *v, size_t n)
{
    uint64_t bytes = 0;

    if (n == 0)
        return 0; /* v may be NULL, which qsort() must not get */
    qsort(v, n, sizeof *v, cmp_inode);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || cmp_inode(&v[i - 1], &v[i]) != 0)
            bytes += v[i].bytes;
    return bytes;
}

int vps_storage_usage(const struct vps_storage *st, int dir_fd, const char *name,
                      uint64_t *ret_bytes, struct vps_error *err)
{
    struct usage u = {0};
    struct statx sx;

    if (check_backend(st, err) < 0 || check_component(name, err) < 0)
        return -1;
    cleanup_close int fd = open_dir_at(dir_fd, name);
    if (fd < 0)
        return vps_error_errno(err, errno, "usage of '%s': open", name);
    if (stat_at(fd, "", &sx) < 0)
        return vps_error_errno(err, errno, "usage of '%s': stat", name);
    u.w.root = sx;
    u.bytes = sx.stx_blocks * 512;
    int r = walk_dir(&u.w, fd, 0, usage_entry, err);
    if (r == 0)
        u.bytes += sum_unique(u.links, u.n_links);
    free(u.links);
    if (r < 0)
        return vps_error_prefix(err, "usage of '%s'", name);
    *ret_bytes = u.bytes;
    return 0;
}
