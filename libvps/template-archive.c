/* Template import from and export to tar archives with libarchive: extraction in a forked,
 * chrooted child with our own checks on every entry, and a walk of the rootfs by fds for
 * export. Where a template lives, how it is published and the built-in one are
 * template.c's. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "template-internal.h"
#include "vps/config.h"
#include "vps/fd.h"
#include "vps/template.h"

#define MAX_DEPTH        256
#define DATA_CHUNK_BYTES (64 * 1024)

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

/* Remembered paths of skipped device nodes: a real /dev has a few dozen. Past this, a hard
 * link to a forgotten node fails the import like a link to nowhere, and a hostile archive
 * of millions of nodes cannot make the extractor grow without bound. */
#define DEVICES_REMEMBERED_MAX 4096

struct import {
    int archive_fd;
    vps_progress_fn progress;
    void *userdata;
    size_t n_devices; /* skipped, from the extractor's result */
};

/* What the extractor child tells the parent: progress while it works, then its result. */
struct import_msg {
    bool done;
    unsigned percent;
    char what[48];
    size_t n_devices;
    struct vps_error err;
};

/* Device nodes are skipped, not extracted: a VPS gets its own /dev at start, and a node in
 * an archive names a host device by its numbers. Distribution tarballs (debootstrap, docker
 * export) carry a /dev, so refusing them would refuse those. tar stores a second name of a
 * node as a hard link to the first, so the skipped paths are kept to skip such links too. */
struct devices {
    void *paths; /* tsearch() tree of normalized paths, each malloc()ed */
    size_t n_paths;
    size_t n_skipped; /* entries skipped: nodes and hard links to them */
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

/* Our own checks come first, for every entry including the ones skipped, and do not depend
 * on libarchive's flags: the error names the entry. */
static int check_entry(struct archive_entry *e, struct vps_error *err)
{
    const char *path = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);

    if (!path || !path[0])
        return vps_error_set(err, VPS_ERR_INVALID, "an entry has no usable path");
    if (check_entry_path(path, path, "the path", err) < 0)
        return -1;
    if (link && check_entry_path(path, link, "the hard link target", err) < 0)
        return -1;
    return 0;
}

/* ./dev//null and dev/null name the same file: the components other than "" and ".", joined
 * by one slash ("..", refused by check_entry(), never gets here). False if it does not fit;
 * cutting it short could make two names one. */
static bool normalize(const char *p, char *buf, size_t size)
{
    size_t len = 0;

    for (const char *c = p; *c; c += strspn(c, "/")) {
        size_t n = strcspn(c, "/");
        if (n > 1 || (n == 1 && c[0] != '.')) {
            if (len + 1 + n >= size)
                return false;
            if (len > 0)
                buf[len++] = '/';
            memcpy(buf + len, c, n);
            len += n;
        }
        c += n;
    }
    buf[len] = '\0';
    return true;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void devices_done(struct devices *d)
{
    tdestroy(d->paths, free);
}

static bool device_known(const struct devices *d, const char *path)
{
    char key[PATH_MAX];

    return d->paths && normalize(path, key, sizeof key) && tfind(key, &d->paths, cmp_path);
}

/* A device node, or another name of one skipped before. */
static bool is_device(const struct devices *d, struct archive_entry *e)
{
    mode_t type = archive_entry_filetype(e);
    const char *link = archive_entry_hardlink(e);

    return type == AE_IFCHR || type == AE_IFBLK || (link && device_known(d, link));
}

static int skip_device(struct devices *d, const char *path, struct vps_error *err)
{
    char key[PATH_MAX];

    d->n_skipped++;
    if (d->n_paths >= DEVICES_REMEMBERED_MAX || !normalize(path, key, sizeof key))
        return 0;
    cleanup_free char *copy = strdup(key);
    char **node = copy ? tsearch(copy, &d->paths, cmp_path) : NULL;
    if (!node)
        return vps_error_errno(err, ENOMEM, "entry '%.200s'", path);
    if (*node == copy) {
        copy = NULL; /* the tree owns it now */
        d->n_paths++;
    }
    return 0;
}

/* A later entry of the same path replaces a skipped node: links to the path are links to
 * that entry again. */
static void forget_device(struct devices *d, const char *path)
{
    char key[PATH_MAX];
    char **node;

    if (!d->paths || !normalize(path, key, sizeof key) || !(node = tfind(key, &d->paths, cmp_path)))
        return;
    char *old = *node;
    (void) tdelete(key, &d->paths, cmp_path);
    free(old);
    d->n_paths--;
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
                           struct devices *devs, struct vps_error *err)
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
        if (check_entry(e, err) < 0)
            return -1;
        if (is_device(devs, e)) {
            r = skip_device(devs, archive_entry_pathname(e), err);
        } else {
            forget_device(devs, archive_entry_pathname(e));
            r = write_entry(in, disk, e, err);
        }
        if (r < 0)
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
static int extract(int rootfs_fd, int archive_fd, int sock, size_t *ret_n_devices,
                   struct vps_error *err)
{
    cleanup_(archive_read_freep) struct archive *in = NULL;
    cleanup_(archive_write_freep) struct archive *disk = NULL;
    cleanup_(devices_done) struct devices devs = {0};
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
    if (extract_entries(in, disk, &rep, &devs, err) < 0)
        return -1;
    /* Directory modes and times are applied here, after their content. */
    if (archive_write_close(disk) < ARCHIVE_WARN)
        return disk_error(disk, ".", err);
    *ret_n_devices = devs.n_skipped;
    return 0;
}

static _Noreturn void extractor_main(pid_t parent, int rootfs_fd, int archive_fd, int sock)
{
    struct import_msg m = {.done = true};

    /* Nobody is left to publish or clean up after a killed caller: stop with it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(1);
    int r = extract(rootfs_fd, archive_fd, sock, &m.n_devices, &m.err);

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
    struct import *imp = userdata;
    struct import_msg result = {0};
    int sv[2], status;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    cleanup_close int parent_end = sv[0];
    cleanup_close int child_end = sv[1];
    pid_t self = getpid();
    cleanup_(child_killp) pid_t pid = fork();
    if (pid < 0)
        return vps_error_errno(err, errno, "fork the extractor");
    if (pid == 0)
        extractor_main(self, rootfs, imp->archive_fd, child_end);
    child_end = vps_close(child_end); /* so that the child's exit reads as end of stream */
    if (relay(parent_end, imp, &result, err) < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno == ECHILD) { /* SIGCHLD ignored: reaped already, the result decides */
            status = 0;
            break;
        }
        if (errno != EINTR)
            return vps_error_errno(err, errno, "wait for the extractor");
    }
    pid = 0;
    if (child_result(&result, status, err) < 0)
        return -1;
    imp->n_devices = result.n_devices;
    return 0;
}

/* The last word of an import, where what it left out is said. */
static void report_done(const struct import *imp)
{
    char what[64];

    if (!imp->progress)
        return;
    if (imp->n_devices == 0) {
        imp->progress(100, "done", imp->userdata);
        return;
    }
    (void) snprintf(what, sizeof what, "done, skipped %zu device node%s", imp->n_devices,
                    imp->n_devices == 1 ? "" : "s");
    imp->progress(100, what, imp->userdata);
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
    if (vps_template_build(templates_fd, name, "import", fill_import, &imp, err) < 0) {
        if (err->code == VPS_ERR_EXISTS)
            return -1;
        return vps_error_prefix(err, "import template '%s'", name);
    }
    report_done(&imp);
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

/* Reads through fd, opened O_PATH for what is neither a file nor a directory. */
static int add_xattrs(struct archive_entry *e, int fd, bool o_path, const char *path,
                      struct vps_error *err)
{
    cleanup_free char *keys = NULL;
    size_t len;

    if (vps_fd_xattr_list(fd, o_path, &keys, &len, err) < 0)
        return vps_error_prefix(err, "'%.200s'", path);
    for (size_t off = 0; off < len; off += strlen(keys + off) + 1) {
        cleanup_free char *val = NULL;
        size_t n;
        if (vps_fd_xattr_get(fd, o_path, keys + off, &val, &n, err) < 0) {
            if (err->code != VPS_ERR_NOT_FOUND)
                return vps_error_prefix(err, "'%.200s'", path);
            *err = (struct vps_error){0}; /* removed since it was listed */
            continue;
        }
        archive_entry_xattr_add_entry(e, keys + off, val, n);
    }
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
    cleanup_close int path_fd = -1;

    if (vps_template_open_rootfs(templates_fd, name, &path_fd, err) < 0)
        return -1;
    /* The walk reads the directory: the O_PATH fd opened for real, no path resolved again. */
    cleanup_close int rootfs = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfs < 0)
        return vps_error_errno(err, errno, "template '%s': open its rootfs", name);
    if (export_tree(rootfs, out_fd, err) < 0)
        return vps_error_prefix(err, "export template '%s'", name);
    return 0;
}
