/* Proxy mode's byte relay (vps/relay.h): two connected stream sockets joined both ways by
 * splice() through one pipe per direction, driven by the caller's edge-triggered epoll loop.
 * Accepting the client, connecting to the service and watching the fds are the activator's. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vps/relay.h"

/* Pipe size asked for with F_SETPIPE_SZ: four times the default, so that a bulk transfer
 * takes fewer splice() calls. Best effort: an unprivileged user past
 * /proc/sys/fs/pipe-user-pages-soft gets EPERM and keeps the default, which works too.
 * Pages are only taken while bytes are in flight, so an idle relay costs no more. */
#define RELAY_PIPE_BYTES (256 * 1024)

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

/* One direction: bytes read from fd[d] go through pipe into fd[!d]. */
struct direction {
    int pipe[2];    /* [0] read end, [1] write end */
    size_t pending; /* bytes in the pipe */
    uint64_t bytes; /* bytes written to the destination */
    bool eof;       /* the source read 0: nothing more will come */
    bool done;      /* ... and the pipe was drained and the destination shut for writing */
};

struct vps_relay {
    int fd[2];               /* a, b */
    struct direction dir[2]; /* [0]: a to b, [1]: b to a */
    size_t pipe_bytes;       /* the pipes' size, the most one splice() can take in */
    bool failed;
};

static char side(int i)
{
    return i == 0 ? 'a' : 'b';
}

static void direction_close(struct direction *dir)
{
    (void) vps_close(dir->pipe[0]);
    (void) vps_close(dir->pipe[1]);
    dir->pipe[0] = dir->pipe[1] = -1;
}

static int direction_open(struct direction *dir, size_t *ret_size, struct vps_error *err)
{
    if (pipe2(dir->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return vps_error_errno(err, errno, "create a pipe for the relay");
    (void) fcntl(dir->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_BYTES); /* best effort, see above */
    int size = fcntl(dir->pipe[1], F_GETPIPE_SZ);
    *ret_size = size > 0 ? (size_t) size : 4096;
    return 0;
}

static int check_stream_socket(int fd, char name, struct vps_error *err)
{
    int type = 0;
    socklen_t len = sizeof type;

    if (fd < 0)
        return vps_error_set(err, VPS_ERR_INVALID, "relay: socket %c is not an open fd", name);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        int e = errno;
        (void) vps_error_set(err, VPS_ERR_INVALID, "relay: fd %d (socket %c) is not a socket", fd,
                             name);
        err->errnum = e;
        return -1;
    }
    if (type != SOCK_STREAM)
        return vps_error_set(err, VPS_ERR_INVALID, "relay: socket %c is not a stream socket", name);
    return 0;
}

/* Sets O_NONBLOCK on both sockets; on failure neither keeps a changed flag. */
static int set_nonblock_both(int a, int b, struct vps_error *err)
{
    int fa = fcntl(a, F_GETFL), fb = fcntl(b, F_GETFL);

    if (fa < 0 || fb < 0)
        return vps_error_errno(err, errno, "relay: read the socket flags");
    if (fcntl(a, F_SETFL, fa | O_NONBLOCK) < 0)
        return vps_error_errno(err, errno, "relay: make socket a non-blocking");
    if (fcntl(b, F_SETFL, fb | O_NONBLOCK) < 0) {
        int e = errno;
        (void) fcntl(a, F_SETFL, fa);
        return vps_error_errno(err, e, "relay: make socket b non-blocking");
    }
    return 0;
}

int vps_relay_new(int a, int b, struct vps_relay **ret, struct vps_error *err)
{
    cleanup_free struct vps_relay *r = NULL;

    if (check_stream_socket(a, 'a', err) < 0 || check_stream_socket(b, 'b', err) < 0)
        return -1;
    if (a == b)
        return vps_error_set(err, VPS_ERR_INVALID, "relay: sockets a and b are the same fd");
    r = calloc(1, sizeof *r);
    if (!r)
        return vps_error_errno(err, ENOMEM, "relay");
    r->fd[0] = a;
    r->fd[1] = b;
    r->dir[0].pipe[0] = r->dir[0].pipe[1] = r->dir[1].pipe[0] = r->dir[1].pipe[1] = -1;
    r->pipe_bytes = SIZE_MAX;
    for (int d = 0; d < 2; d++) {
        size_t size = 0;
        if (direction_open(&r->dir[d], &size, err) < 0) {
            direction_close(&r->dir[0]);
            direction_close(&r->dir[1]);
            return -1;
        }
        if (size < r->pipe_bytes)
            r->pipe_bytes = size;
    }
    /* Last, so that every earlier failure leaves the caller's sockets exactly as they were. */
    if (set_nonblock_both(a, b, err) < 0) {
        direction_close(&r->dir[0]);
        direction_close(&r->dir[1]);
        return -1;
    }
    *ret = TAKE_PTR(r);
    return 0;
}

/* Marks r failed, so that freeing it resets both connections, and returns -1. */
static int fail(struct vps_relay *r, struct vps_error *err, int errnum, const char *what, int i)
{
    r->failed = true;
    return vps_error_errno(err, errnum, "relay: %s socket %c", what, side(i));
}

static void count(uint64_t *counter, size_t n)
{
    *counter = *counter > UINT64_MAX - n ? UINT64_MAX : *counter + n;
}

/* Pipe to destination until the pipe is empty or the destination would block. The
 * destination's next EPOLLOUT edge brings us back for the rest. 1 if bytes moved. */
static int drain(struct vps_relay *r, int d, struct vps_error *err)
{
    struct direction *dir = &r->dir[d];
    int moved = 0;

    while (dir->pending > 0) {
        ssize_t n = splice(dir->pipe[0], NULL, r->fd[!d], NULL, dir->pending, SPLICE_FLAGS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return fail(r, err, errno, "write to", !d);
        /* A pipe holding bytes never gives 0 or more than it holds; if the kernel ever did,
         * looping on it or counting it would be wrong. */
        if (n == 0 || (size_t) n > dir->pending)
            return fail(r, err, EIO, "write to", !d);
        dir->pending -= (size_t) n;
        count(&dir->bytes, (size_t) n);
        moved = 1;
    }
    return moved;
}

/* Source to pipe until the source would block, the pipe is full (EAGAIN too; then the
 * destination is blocked, as drain() ran first, and its EPOLLOUT brings us back) or the
 * source ends. Reading on to the EAGAIN is what lets an EOF that arrived together with data
 * be seen: its edge has already been reported with the data. 1 if anything happened. */
static int fill(struct vps_relay *r, int d, struct vps_error *err)
{
    struct direction *dir = &r->dir[d];
    int moved = 0;

    while (!dir->eof) {
        ssize_t n = splice(r->fd[d], NULL, dir->pipe[1], NULL, r->pipe_bytes, SPLICE_FLAGS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return fail(r, err, errno, "read from", d);
        if (n == 0)
            dir->eof = true;
        else if ((size_t) n > r->pipe_bytes || dir->pending > SIZE_MAX - (size_t) n)
            return fail(r, err, EIO, "read from", d);
        else
            dir->pending += (size_t) n;
        moved = 1;
    }
    return moved;
}

/* Once the source has ended and its pipe is drained, the destination's peer gets the EOF. */
static int finish(struct vps_relay *r, int d, struct vps_error *err)
{
    struct direction *dir = &r->dir[d];

    if (dir->done || !dir->eof || dir->pending > 0)
        return 0;
    if (shutdown(r->fd[!d], SHUT_WR) < 0)
        return fail(r, err, errno, "shut down writing on", !d);
    dir->done = true;
    return 1;
}

static int step(struct vps_relay *r, int d, struct vps_error *err)
{
    int a, b, c;

    if (r->dir[d].done)
        return 0;
    if ((a = drain(r, d, err)) < 0 || (b = fill(r, d, err)) < 0 || (c = finish(r, d, err)) < 0)
        return -1;
    return a | b | c;
}

/* A socket we no longer read from (its direction has ended) shows a reset only as a pending
 * error: without this, a client that half-closes and then resets would keep the service's
 * connection open until the service next writes. */
static int check_ended_sources(struct vps_relay *r, struct vps_error *err)
{
    for (int d = 0; d < 2; d++) {
        int e = 0;
        socklen_t len = sizeof e;
        if (!r->dir[d].eof)
            continue;
        if (getsockopt(r->fd[d], SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            return fail(r, err, errno, "read the error of", d);
        if (e != 0)
            return fail(r, err, e, "error on", d);
    }
    return 0;
}

int vps_relay_run(struct vps_relay *r, struct vps_error *err)
{
    int moved;

    if (r->failed)
        return vps_error_set(err, VPS_ERR_CONFLICT, "relay: has already failed");
    /* Round and round until no path moves: each direction's last attempt then ended in
     * EAGAIN on a socket (whose next edge calls us again) or the direction is done. A
     * budget of rounds keeps one fast stream from holding the caller's loop: past it the
     * caller is told to come back without waiting for an edge. */
    int rounds = 0;
    do {
        int m0 = step(r, 0, err), m1 = m0 < 0 ? 0 : step(r, 1, err);
        if (m0 < 0 || m1 < 0)
            return -1;
        moved = m0 | m1;
        if (moved && ++rounds >= VPS_RELAY_ROUNDS_PER_RUN)
            return 2;
    } while (moved);
    if (r->dir[0].done && r->dir[1].done)
        return 0;
    if (check_ended_sources(r, err) < 0)
        return -1;
    return 1;
}

void vps_relay_get_stats(const struct vps_relay *r, struct vps_relay_stats *ret)
{
    *ret = (struct vps_relay_stats){.a_to_b = r->dir[0].bytes, .b_to_a = r->dir[1].bytes};
}

int vps_relay_fd_a(const struct vps_relay *r)
{
    return r->fd[0];
}

int vps_relay_fd_b(const struct vps_relay *r)
{
    return r->fd[1];
}

void vps_relay_free(struct vps_relay *r)
{
    if (!r)
        return;
    /* After a failure, or when the caller gives up on a relay that has not ended, a plain
     * close would look like a clean end to the other side, which could take a truncated
     * answer for a whole one: linger 0 makes close() send a reset instead. */
    bool reset = r->failed || !r->dir[0].done || !r->dir[1].done;
    for (int i = 0; i < 2; i++) {
        if (reset) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void) setsockopt(r->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        (void) vps_close(r->fd[i]);
        direction_close(&r->dir[i]);
    }
    free(r);
}
