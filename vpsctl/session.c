/* The client's half of a "vps-exec" session, after the upgrade: fds passed over the socket
 * in either direction, the terminal relay with raw mode and window size, and the last line
 * that carries the exit status. Which command runs and how the session is asked for is
 * cmd-run.c's; the HTTP handshake is client.c's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "session.h"
#include "vps/fd.h"

/* The last line is {"exit_code": N}, {"signal": N} or {"error": {...}}: short. */
#define LINE_MAX_BYTES 8192
#define RELAY_CHUNK    16384
/* What is still read from the pty once the command has ended (see drain_master()). */
#define DRAIN_MAX_READS 64

struct last_line {
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static int lost(struct vps_error *err)
{
    return vps_error_set(err, VPS_ERR_SYSTEM, "connection to vpsd lost");
}

/* One read of the socket into l. Returns 1 once the line is complete, 0 if more is to come,
 * -1 (err filled) when the socket closed or broke before the newline. */
static int line_read(int sock, struct last_line *l, struct vps_error *err)
{
    char *nl;
    ssize_t n;

    if (l->len == sizeof l->buf)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent a line longer than %zu bytes",
                             sizeof l->buf);
    n = read(sock, l->buf + l->len, sizeof l->buf - l->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return lost(err);
    nl = memchr(l->buf + l->len, '\n', (size_t) n);
    l->len += (size_t) n;
    if (!nl)
        return 0;
    l->len = (size_t) (nl - l->buf); /* vpsd closes after the line: nothing follows */
    return 1;
}

static int line_read_all(int sock, struct last_line *l, struct vps_error *err)
{
    int r;

    while ((r = line_read(sock, l, err)) == 0)
        ;
    return r;
}

/* The command's end as a shell reports it, or the error vpsd ended the session with. */
static int line_status(const struct last_line *l, int *ret_status, struct vps_error *err)
{
    cleanup_json json_t *j = json_loadb(l->buf, l->len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *code = json_object_get(j, "exit_code"), *sig = json_object_get(j, "signal");
    const json_t *e = json_object_get(j, "error");

    if (json_is_integer(code) && json_integer_value(code) >= 0 && json_integer_value(code) <= 255)
        *ret_status = (int) json_integer_value(code);
    else if (json_is_integer(sig) && json_integer_value(sig) > 0 && json_integer_value(sig) < 128)
        *ret_status = 128 + (int) json_integer_value(sig);
    else if (json_is_object(e)) {
        const char *name = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        return vps_error_set(err, vps_error_code_from_name(name), "%s",
                             msg && *msg ? msg : "vpsd ended the session without a message");
    } else
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent an invalid exit status");
    return 0;
}

/* ---- without a tty ---- */

static int send_stdio(int sock, struct vps_error *err)
{
    static const int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof fds)];
    } u = {0};
    char tag = 'F';
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    for (;;) {
        ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return vps_error_errno(err, n < 0 ? errno : EIO, "send the standard fds to vpsd");
    }
}

int session_run_plain(int sock, int *ret_status, struct vps_error *err)
{
    struct last_line l = {0};

    if (send_stdio(sock, err) < 0) {
        /* vpsd may have given up first and said why before closing: that is the better
         * message. */
        struct vps_error e = {0};
        if (line_read_all(sock, &l, &e) > 0)
            return line_status(&l, ret_status, err);
        return -1;
    }
    /* The command has the fds now: output goes straight to them, and all that is left to do
     * here is to wait. A SIGINT or SIGTERM ends vpsctl as usual; vpsd sees the socket close
     * and kills the command. */
    if (line_read_all(sock, &l, err) < 0)
        return -1;
    return line_status(&l, ret_status, err);
}

/* ---- with a tty: receiving the pty ---- */

/* vpsd's first message: 'P' and the master. If vpsd ended the session at once instead, the
 * byte is the start of its last line: it goes to l and *ret_master stays -1. */
static int recv_master(int sock, struct last_line *l, int *ret_master, struct vps_error *err)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))]; /* room to see (and close) a surplus */
    } u;
    char tag = 0;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    int fds[4], n_fds = 0;
    ssize_t n;

    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? vps_error_errno(err, errno, "receive the terminal from vpsd") : lost(err);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n_fds < 4; i++)
            memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    if (tag == 'P' && n_fds == 1 && !(m.msg_flags & MSG_CTRUNC)) {
        *ret_master = fds[0];
        return 0;
    }
    for (int i = 0; i < n_fds; i++)
        close(fds[i]);
    if (tag != '{' || n_fds > 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd sent an unexpected message");
    l->buf[l->len++] = tag;
    return 0;
}

/* ---- with a tty: terminal and signals ---- */

struct term_state {
    int fd;
    struct termios saved;
};

static void term_restore(struct term_state *t)
{
    if (t->fd >= 0)
        (void) tcsetattr(t->fd, TCSADRAIN, &t->saved);
}

/* Raw mode: every key goes to the command's terminal as typed (^C included, which the
 * pty inside turns into its own SIGINT), and output is passed on as the pty inside already
 * processed it. */
static int term_raw(struct term_state *t, int fd, struct vps_error *err)
{
    struct termios raw;

    if (tcgetattr(fd, &t->saved) < 0)
        return vps_error_errno(err, errno, "read the terminal's mode");
    raw = t->saved;
    cfmakeraw(&raw);
    if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
        return vps_error_errno(err, errno, "set the terminal to raw mode");
    t->fd = fd;
    return 0;
}

struct signal_state {
    bool active;
    sigset_t old_mask;
    struct sigaction old_pipe;
};

static void signals_restore(struct signal_state *s)
{
    if (!s->active)
        return;
    (void) sigaction(SIGPIPE, &s->old_pipe, NULL);
    (void) sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

/* SIGWINCH and the signals that end the session come through a signalfd, so the loop
 * handles them and the terminal is restored on the way out. SIGPIPE is ignored: a closed
 * stdout is an error to return, not a death in raw mode. */
static int signals_take(struct signal_state *s, int *ret_fd, struct vps_error *err)
{
    static const int taken[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigset_t set;

    (void) sigemptyset(&set);
    for (size_t i = 0; i < ELEMENTSOF(taken); i++)
        (void) sigaddset(&set, taken[i]);
    if (sigprocmask(SIG_BLOCK, &set, &s->old_mask) < 0)
        return vps_error_errno(err, errno, "block signals");
    (void) sigaction(SIGPIPE, &ign, &s->old_pipe);
    s->active = true;
    *ret_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (*ret_fd < 0)
        return vps_error_errno(err, errno, "signalfd");
    return 0;
}

/* ---- with a tty: the relay ---- */

struct relay {
    int sock, master, sig_fd;
    int term_fd; /* the terminal whose size the pty follows, -1 if none */
    bool stdin_eof, master_eof;
    char in[4096]; /* typed, not yet taken by the pty */
    size_t in_off, in_len;
    struct last_line line;
};

static void follow_size(const struct relay *r)
{
    struct winsize ws;

    /* The pty only: the command's foreground process group gets SIGWINCH from its kernel. */
    if (r->term_fd >= 0 && ioctl(r->term_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
        (void) ioctl(r->master, TIOCSWINSZ, &ws);
}

/* Returns 1 (and the status) when a signal ends the session. */
static int on_signals(struct relay *r, int *ret_status)
{
    struct signalfd_siginfo si;

    while (read(r->sig_fd, &si, sizeof si) == (ssize_t) sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
            follow_size(r);
            continue;
        }
        *ret_status = 128 + (int) si.ssi_signo;
        return 1;
    }
    return 0;
}

static int from_master(struct relay *r, struct vps_error *err)
{
    char buf[RELAY_CHUNK];
    ssize_t n = read(r->master, buf, sizeof buf);

    if (n > 0)
        return vps_write_all(STDOUT_FILENO, buf, (size_t) n, err) < 0
                   ? vps_error_prefix(err, "write to standard output")
                   : 0;
    /* EIO: every holder of the pty's other end has closed it. The session still ends with
     * vpsd's last line. */
    if (n == 0 || errno == EIO)
        r->master_eof = true;
    else if (errno != EAGAIN && errno != EINTR)
        return vps_error_errno(err, errno, "read the terminal");
    return 0;
}

static int to_master(struct relay *r, struct vps_error *err)
{
    ssize_t n;

    if (r->master_eof)
        r->in_len = 0; /* nobody is left to read it */
    if (r->in_len == 0)
        return 0;
    n = write(r->master, r->in + r->in_off, r->in_len);
    if (n > 0) {
        r->in_off += (size_t) n;
        r->in_len -= (size_t) n;
    } else if (n < 0 && errno == EIO) {
        r->master_eof = true;
        r->in_len = 0;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return vps_error_errno(err, errno, "write to the terminal");
    return 0;
}

static int from_stdin(struct relay *r, struct vps_error *err)
{
    ssize_t n = read(STDIN_FILENO, r->in, sizeof r->in);

    if (n > 0) {
        r->in_off = 0;
        r->in_len = (size_t) n;
        return to_master(r, err);
    }
    /* At EOF stdin is no longer read, and the pty stays open: the command decides when it
     * is done. EIO is a terminal that went away. */
    if (n == 0 || errno == EIO)
        r->stdin_eof = true;
    else if (errno != EAGAIN && errno != EINTR)
        return vps_error_errno(err, errno, "read standard input");
    return 0;
}

/* The command has ended; what it wrote last may still sit in the pty. A read flushes the
 * pty's pending buffer first (n_tty), so nothing written before the exit is lost. Bounded: a
 * process left behind on the pty could keep writing for ever. */
static void drain_master(struct relay *r)
{
    char buf[RELAY_CHUNK];
    struct vps_error ignored = {0};

    for (int i = 0; i < DRAIN_MAX_READS && !r->master_eof; i++) {
        ssize_t n = read(r->master, buf, sizeof buf);
        if (n <= 0)
            break;
        /* The status is what the session reports now; a failed write cannot change it. */
        if (vps_write_all(STDOUT_FILENO, buf, (size_t) n, &ignored) < 0)
            break;
    }
}

static int relay_loop(struct relay *r, int *ret_status, struct vps_error *err)
{
    for (;;) {
        struct pollfd p[4] = {
            {.fd = r->sig_fd, .events = POLLIN},
            {.fd = r->sock, .events = POLLIN},
            {.fd = r->master_eof ? -1 : r->master, .events = POLLIN | (r->in_len ? POLLOUT : 0)},
            /* Not read while the pty has not taken the last bytes: the pty's back-pressure
             * reaches whoever types or pipes. */
            {.fd = r->stdin_eof || r->in_len ? -1 : STDIN_FILENO, .events = POLLIN},
        };
        int n;

        if (poll(p, ELEMENTSOF(p), -1) < 0) {
            if (errno == EINTR)
                continue;
            return vps_error_errno(err, errno, "poll");
        }
        /* Signals first: a resize reaches the pty before the input typed after it. */
        if (p[0].revents && on_signals(r, ret_status) > 0)
            return 0;
        if ((p[2].revents & (POLLIN | POLLHUP | POLLERR)) && from_master(r, err) < 0)
            return -1;
        if ((p[2].revents & POLLOUT) && to_master(r, err) < 0)
            return -1;
        if (p[3].revents && from_stdin(r, err) < 0)
            return -1;
        if (!p[1].revents || (n = line_read(r->sock, &r->line, err)) == 0)
            continue;
        drain_master(r);
        return n < 0 ? -1 : line_status(&r->line, ret_status, err);
    }
}

int session_run_tty(int sock, int *ret_status, struct vps_error *err)
{
    /* Cleanups run in reverse order: the terminal is restored before the signals are let
     * through again, so one still pending finds a sane terminal. */
    cleanup_(signals_restore) struct signal_state sigs = {0};
    cleanup_(term_restore) struct term_state term = {.fd = -1};
    cleanup_close int master = -1, sig_fd = -1;
    struct relay r = {.sock = sock, .term_fd = -1};
    int flags;

    if (recv_master(sock, &r.line, &master, err) < 0)
        return -1;
    if (master < 0)
        return line_read_all(sock, &r.line, err) < 0 ? -1 : line_status(&r.line, ret_status, err);
    /* Non-blocking, so that a pty that takes no input never stalls its output. The file
     * description is shared with nobody: vpsd closed its copy after sending it. */
    if ((flags = fcntl(master, F_GETFL)) < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) < 0)
        return vps_error_errno(err, errno, "set up the terminal");
    if (signals_take(&sigs, &sig_fd, err) < 0)
        return -1;
    if (isatty(STDIN_FILENO) && term_raw(&term, STDIN_FILENO, err) < 0)
        return -1;
    r.master = master;
    r.sig_fd = sig_fd;
    r.term_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
    /* vpsd made the pty with the size sent in the request; one resize may have come since. */
    follow_size(&r);
    return relay_loop(&r, ret_status, err);
}
