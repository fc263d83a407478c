/* Whole-buffer reads and writes on fds, and the crash-safe replace of a small file that every
 * piece of persistent state goes through. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
