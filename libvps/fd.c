/* Whole-buffer reads and writes on fds, the crash-safe replace of a small file that every
 * piece of persistent state goes through, and reading an open inode's xattrs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "vps/fd.h"

int vps_write_all(int fd, const void *buf, size_t len, struct vps_error *err)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vps_error_errno(err, errno, "write");
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int vps_read_all(int fd, size_t max_bytes, char **ret, size_t *ret_len, struct vps_error *err)
{
    cleanup_free char *buf = NULL;
    size_t len = 0, size = 0;
    /* Room for one byte past max_bytes (that is how "too large" shows) and the NUL, capped so
     * that max_bytes = SIZE_MAX ("no limit") does not wrap around to 0. */
    size_t cap = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;

    for (;;) {
        if (len == size) {
            size_t nsize = size ? size * 2 : 4096;
            if (nsize > cap || nsize < size)
                nsize = cap;
            if (nsize <= len)
                return vps_error_set(err, VPS_ERR_TOO_LARGE, "more than %zu bytes", max_bytes);
            char *n = realloc(buf, nsize + 1);
            if (!n)
                return vps_error_errno(err, ENOMEM, "read");
            buf = n;
            size = nsize;
        }
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vps_error_errno(err, errno, "read");
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    if (len > max_bytes)
        return vps_error_set(err, VPS_ERR_TOO_LARGE, "more than %zu bytes", max_bytes);
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

int vps_read_at(int dir_fd, const char *name, size_t max_bytes, char **ret, size_t *ret_len,
                struct vps_error *err)
{
    cleanup_close int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", name);
    if (vps_read_all(fd, max_bytes, ret, ret_len, err) < 0)
        return vps_error_prefix(err, "'%s'", name);
    return 0;
}

int vps_write_at(int dir_fd, const char *name, const char *val, struct vps_error *err)
{
    size_t len = strlen(val);
    cleanup_close int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return vps_error_errno(err, errno, "open '%s'", name);

    ssize_t n = write(fd, val, len);
    if (n < 0)
        return vps_error_errno(err, errno, "write '%s' to '%s'", val, name);
    if ((size_t) n != len)
        return vps_error_set(err, VPS_ERR_SYSTEM, "short write to '%s'", name);
    return 0;
}

int vps_write_atomic_at(int dir_fd, const char *name, const void *buf, size_t len, mode_t mode,
                        struct vps_error *err)
{
    char tmp[256];

    /* A fixed temp name per target: a leftover from a crash is simply replaced next time,
     * and the single writer (vpsd holds the state-dir lock) never races with itself. */
    if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int) sizeof tmp)
        return vps_error_set(err, VPS_ERR_INVALID, "file name '%s' too long", name);

    /* Unlink first: O_TRUNC on a leftover would keep its mode and owner, not mode. */
    (void) unlinkat(dir_fd, tmp, 0);
    cleanup_close int fd =
        openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return vps_error_errno(err, errno, "create '%s'", tmp);
    if (vps_write_all(fd, buf, len, err) < 0 || fsync(fd) < 0) {
        if (err->code == VPS_ERR_NONE)
            vps_error_errno(err, errno, "fsync");
        (void) unlinkat(dir_fd, tmp, 0);
        return vps_error_prefix(err, "'%s'", tmp);
    }
    if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
        int e = errno;
        (void) unlinkat(dir_fd, tmp, 0);
        return vps_error_errno(err, e, "rename '%s' to '%s'", tmp, name);
    }
    /* The rename is durable only once the directory itself is on disk. */
    if (fsync(dir_fd) < 0)
        return vps_error_errno(err, errno, "fsync directory of '%s'", name);
    return 0;
}

/* A value or list that keeps changing while it is read (a VPS can rewrite its own files'
 * xattrs while we copy them) is given up on after this many tries. */
#define XATTR_ATTEMPTS 8

/* One f*xattr() call: the list when key is NULL, key's value otherwise. An O_PATH fd goes
 * through its /proc/self/fd magic link, which lands on exactly the opened inode and follows
 * nothing further. */
static ssize_t xattr_call(int fd, bool o_path, const char *key, char *buf, size_t size)
{
    char p[32];

    if (!o_path)
        return key ? fgetxattr(fd, key, buf, size) : flistxattr(fd, buf, size);
    (void) snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return key ? getxattr(p, key, buf, size) : listxattr(p, buf, size);
}

static int xattr_error(struct vps_error *err, int errnum, const char *key)
{
    if (!key)
        return vps_error_errno(err, errnum, "list xattrs");
    if (errnum == ENODATA) {
        (void) vps_error_set(err, VPS_ERR_NOT_FOUND, "read xattr '%s'", key);
        err->errnum = errnum;
        return -1;
    }
    return vps_error_errno(err, errnum, "read xattr '%s'", key);
}

/* A filesystem without xattr support (ENOTSUP) has an empty list, not a failure. */
static int xattr_none(char **ret, size_t *ret_len, struct vps_error *err)
{
    char *buf = calloc(1, 1);

    if (!buf)
        return xattr_error(err, ENOMEM, NULL);
    *ret = buf;
    *ret_len = 0;
    return 0;
}

/* Size query, then the read into a buffer one byte larger: a size argument of 0 would be
 * another size query, so even an empty value is read with room for the NUL. ERANGE means
 * the thing grew in between, and we ask again. */
static int xattr_read(int fd, bool o_path, const char *key, char **ret, size_t *ret_len,
                      struct vps_error *err)
{
    for (unsigned attempt = 0; attempt < XATTR_ATTEMPTS; attempt++) {
        cleanup_free char *buf = NULL;
        ssize_t n = xattr_call(fd, o_path, key, NULL, 0);
        if (n >= 0 && !(buf = malloc((size_t) n + 1)))
            return xattr_error(err, ENOMEM, key);
        if (n >= 0)
            n = xattr_call(fd, o_path, key, buf, (size_t) n + 1);
        if (n < 0 && errno == ERANGE)
            continue;
        if (n < 0 && !key && errno == ENOTSUP)
            return xattr_none(ret, ret_len, err);
        if (n < 0)
            return xattr_error(err, errno, key);
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t) n;
        return 0;
    }
    return xattr_error(err, ERANGE, key);
}

int vps_fd_xattr_list(int fd, bool o_path, char **ret, size_t *ret_len, struct vps_error *err)
{
    return xattr_read(fd, o_path, NULL, ret, ret_len, err);
}

int vps_fd_xattr_get(int fd, bool o_path, const char *key, char **ret, size_t *ret_len,
                     struct vps_error *err)
{
    return xattr_read(fd, o_path, key, ret, ret_len, err);
}
