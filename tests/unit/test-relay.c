/* Unit tests for relay.c: a client and a service, each a real socket (TCP over 127.0.0.1 or a
 * socketpair), talk through the relay, driven by a small epoll loop that calls
 * vps_relay_run() only when one of the relay's own sockets has an event (edge-triggered, as
 * vpsd registers them), so a missed edge shows as a stuck loop. What each side sends is a
 * position-dependent pattern checked byte by byte on arrival. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vps/relay.h"

#include "test-helpers.h"

#define MIB         (1024 * 1024)
#define CHUNK_BYTES (64 * 1024)
/* Longest wait for any event once nothing is ready: far more than any step needs, less than
 * check's 4 s test timeout, so a stuck relay fails with a message rather than a kill. */
#define STUCK_MS 2500

enum end_action {
    END_KEEP,  /* after the last byte, nothing */
    END_SHUT,  /* shutdown(SHUT_WR) */
    END_CLOSE, /* close() */
    END_RESET, /* close() with SO_LINGER 0: a TCP reset */
};

/* One end of the conversation: the client (on the relay's a side) or the service (b). */
struct peer {
    int fd;
    /* sending */
    uint8_t seed;        /* of the pattern it sends */
    size_t n_send;       /* bytes to send */
    size_t sent;         /* so far */
    bool send_after_eof; /* answers only once the other side has finished */
    enum end_action end; /* once everything is sent */
    bool ended;          /* end done (or a send failed) */
    int write_errno;     /* of a failed send */
    /* receiving */
    uint8_t peer_seed; /* of the pattern it expects */
    size_t received;
    bool eof;
    int read_errno; /* of a failed read (ECONNRESET) */
    bool paused;    /* reads nothing until the loop has stalled once */
};

struct harness {
    int epfd;
    int ra, rb;              /* the relay's sockets, until it owns them */
    struct vps_relay *relay; /* NULL once it has finished and was freed */
    int rc;                  /* of the last vps_relay_run(): 1 or 2 while open */
    struct vps_error err;
    struct vps_relay_stats stats; /* taken just before the free */
    unsigned n_runs;
    unsigned n_stalls;
    struct peer peer[2]; /* [0]: the client, [1]: the service */
};

enum { EV_RELAY, EV_CLIENT = 2, EV_SERVICE };

/* ---- the pattern ---- */

/* Byte i of a stream: a multiplicative hash of the position, so that bytes lost, doubled or
 * swapped anywhere show up (no short period that a shifted page could match). */
static uint8_t pattern(uint8_t seed, size_t i)
{
    uint32_t x = (uint32_t) i * 2654435761u;
    return (uint8_t) ((x >> 24) ^ (x >> 11) ^ seed);
}

static void pattern_fill(uint8_t *buf, size_t len, uint8_t seed, size_t off)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = pattern(seed, off + k);
}

static void pattern_check(const uint8_t *buf, size_t len, uint8_t seed, size_t off)
{
    for (size_t k = 0; k < len; k++)
        if (buf[k] != pattern(seed, off + k))
            ck_abort_msg("byte %zu: got 0x%02x, want 0x%02x", off + k, buf[k],
                         pattern(seed, off + k));
}

/* ---- sockets ---- */

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    ck_assert_int_ge(fl, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static bool is_nonblock(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A connected TCP pair over 127.0.0.1 on an ephemeral port: the connecting end and the
 * accepted one, both blocking. */
static void tcp_pair(int *ret_connecting, int *ret_accepted)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *) &sin, sizeof sin), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sin, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *) &sin, sizeof sin), 0);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    close(l);
    *ret_connecting = c;
    *ret_accepted = s;
}

static void unix_pair(int *ret_x, int *ret_y)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    *ret_x = sv[0];
    *ret_y = sv[1];
}

/* Waits until fd has something to report (data, an EOF, an error). */
static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    ck_assert_int_eq(poll(&pfd, 1, STUCK_MS), 1);
}

static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

static void watch(int epfd, int fd, uint32_t tag)
{
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u32 = tag,
    };
    ck_assert_int_eq(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev), 0);
}

/* ---- the two peers ---- */

static void peer_end(struct peer *p)
{
    p->ended = true;
    if (p->end == END_SHUT)
        ck_assert_int_eq(shutdown(p->fd, SHUT_WR), 0);
    else if (p->end == END_CLOSE)
        close(TAKE_FD(p->fd));
    else if (p->end == END_RESET)
        close_reset(TAKE_FD(p->fd));
}

static void peer_read(struct peer *p)
{
    uint8_t buf[CHUNK_BYTES];

    while (p->fd >= 0 && !p->paused && !p->eof && !p->read_errno) {
        ssize_t n = read(p->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            p->read_errno = errno;
        else if (n == 0)
            p->eof = true;
        else
            pattern_check(buf, (size_t) n, p->peer_seed, p->received);
        if (n > 0)
            p->received += (size_t) n;
    }
}

static void peer_write(struct peer *p)
{
    uint8_t buf[CHUNK_BYTES];

    if (p->fd < 0 || p->ended || (p->send_after_eof && !p->eof))
        return;
    while (p->sent < p->n_send) {
        size_t len = p->n_send - p->sent < sizeof buf ? p->n_send - p->sent : sizeof buf;
        pattern_fill(buf, len, p->seed, p->sent);
        ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            p->write_errno = errno;
            p->ended = true;
            return;
        }
        p->sent += (size_t) n;
    }
    peer_end(p);
}

/* Everything a peer can do now: its socket is edge-triggered too. Reading first, so that an
 * answer sent after EOF goes out in the same call. */
static void peer_pump(struct peer *p)
{
    peer_read(p);
    peer_write(p);
}

/* Done with the conversation: closed, or ended and seen the end of the other side. */
static bool peer_settled(const struct peer *p)
{
    return p->fd < 0 || ((p->eof || p->read_errno) && p->ended);
}

/* ---- the harness ---- */

/* Sockets for a client, a service and the relay between them; nothing joined yet. */
static void harness_connect(struct harness *h, bool tcp)
{
    struct peer *c = &h->peer[0], *s = &h->peer[1];

    h->relay = NULL;
    h->rc = 1;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    ck_assert_int_ge(h->epfd, 0);
    if (tcp) {
        tcp_pair(&c->fd, &h->ra);
        tcp_pair(&h->rb, &s->fd);
    } else {
        unix_pair(&c->fd, &h->ra);
        unix_pair(&h->rb, &s->fd);
    }
    set_nonblock(c->fd);
    set_nonblock(s->fd);
    watch(h->epfd, c->fd, EV_CLIENT);
    watch(h->epfd, s->fd, EV_SERVICE);
    c->peer_seed = s->seed;
    s->peer_seed = c->seed;
}

static void harness_join(struct harness *h)
{
    struct vps_error err = {0};

    ck_assert_ok(vps_relay_new(h->ra, h->rb, &h->relay, &err), err);
    ck_assert_int_eq(vps_relay_fd_a(h->relay), h->ra);
    ck_assert_int_eq(vps_relay_fd_b(h->relay), h->rb);
    ck_assert(is_nonblock(h->ra) && is_nonblock(h->rb));
    watch(h->epfd, h->ra, EV_RELAY);
    watch(h->epfd, h->rb, EV_RELAY + 1);
}

static void harness_start(struct harness *h, bool tcp)
{
    harness_connect(h, tcp);
    harness_join(h);
}

static void relay_event(struct harness *h)
{
    if (!h->relay)
        return; /* a stale event from the batch in which it finished */
    h->n_runs++;
    h->rc = vps_relay_run(h->relay, &h->err);
    ck_assert_int_le(h->rc, 2);
    ck_assert_int_ge(h->rc, -1);
    if (h->rc >= 1)
        return;
    vps_relay_get_stats(h->relay, &h->stats);
    vps_relay_free(TAKE_PTR(h->relay));
}

/* Nothing is ready: a paused reader starts reading (its buffers, the relay's pipe and the
 * sender's buffers are as full as they get now). False if nobody was paused. */
static bool harness_unpause(struct harness *h)
{
    bool any = false;

    for (int i = 0; i < 2; i++)
        if (h->peer[i].paused) {
            h->peer[i].paused = false;
            peer_pump(&h->peer[i]);
            any = true;
        }
    h->n_stalls += any;
    return any;
}

static bool finished(const struct harness *h)
{
    return !h->relay && peer_settled(&h->peer[0]) && peer_settled(&h->peer[1]);
}

static bool service_saw_eof(const struct harness *h)
{
    return h->peer[1].eof;
}

static void loop_until(struct harness *h, bool (*done)(const struct harness *h))
{
    for (int i = 0; i < 2; i++)
        peer_pump(&h->peer[i]);
    while (!done(h)) {
        struct epoll_event ev[8];
        int n;
        /* Out of its budget with bytes in hand: called again without an edge, as vpsd does. */
        if (h->relay && h->rc == 2) {
            relay_event(h);
            continue;
        }
        n = epoll_wait(h->epfd, ev, ELEMENTSOF(ev), 0);
        if (n == 0 && harness_unpause(h))
            continue;
        if (n == 0)
            n = epoll_wait(h->epfd, ev, ELEMENTSOF(ev), STUCK_MS);
        ck_assert_msg(n > 0,
                      "stuck: relay rc %d, client sent %zu got %zu eof %d, service sent %zu got "
                      "%zu eof %d",
                      h->rc, h->peer[0].sent, h->peer[0].received, h->peer[0].eof, h->peer[1].sent,
                      h->peer[1].received, h->peer[1].eof);
        for (int k = 0; k < n; k++) {
            uint32_t tag = ev[k].data.u32;
            if (tag == EV_RELAY || tag == EV_RELAY + 1)
                relay_event(h);
            else
                peer_pump(&h->peer[tag - EV_CLIENT]);
        }
    }
}

static void harness_done(struct harness *h)
{
    vps_relay_free(TAKE_PTR(h->relay));
    for (int i = 0; i < 2; i++)
        (void) vps_close(TAKE_FD(h->peer[i].fd));
    close(h->epfd);
}

/* Both sides sent everything, the other got all of it and then EOF, the relay ended with 0
 * and counted exactly those bytes. */
static void assert_clean_exchange(const struct harness *h)
{
    const struct peer *c = &h->peer[0], *s = &h->peer[1];

    ck_assert_msg(h->rc == 0, "relay: %d, %s", h->rc, h->err.msg);
    ck_assert_uint_eq(c->sent, c->n_send);
    ck_assert_uint_eq(s->sent, s->n_send);
    ck_assert_uint_eq(s->received, c->n_send);
    ck_assert_uint_eq(c->received, s->n_send);
    ck_assert_int_eq(c->read_errno, 0);
    ck_assert_int_eq(s->read_errno, 0);
    ck_assert_int_eq(c->write_errno, 0);
    ck_assert_int_eq(s->write_errno, 0);
    ck_assert(s->eof);
    ck_assert(c->eof || c->fd < 0);
    ck_assert_uint_eq(h->stats.a_to_b, c->n_send);
    ck_assert_uint_eq(h->stats.b_to_a, s->n_send);
}

/* Client sends n_up and shuts; service sends n_down at once and shuts too. */
static void exchange(bool tcp, size_t n_up, size_t n_down)
{
    struct harness h = {
        .peer = {{.seed = 0x11, .n_send = n_up, .end = END_SHUT},
                 {.seed = 0x22, .n_send = n_down, .end = END_SHUT}},
    };

    harness_start(&h, tcp);
    loop_until(&h, finished);
    assert_clean_exchange(&h);
    harness_done(&h);
}

/* ---- data ---- */

START_TEST(relay_moves_one_byte_each_way_over_tcp)
{
    exchange(true, 1, 1);
}
END_TEST

START_TEST(relay_moves_one_byte_each_way_over_socketpairs)
{
    exchange(false, 1, 1);
}
END_TEST

START_TEST(relay_moves_nothing_when_both_sides_shut_at_once)
{
    exchange(true, 0, 0);
}
END_TEST

/* Both pipes fill while both sides write: a relay that insisted on finishing one direction
 * before serving the other would deadlock here. */
START_TEST(relay_moves_10_mib_each_way_at_once_over_tcp)
{
    exchange(true, 10 * MIB, 10 * MIB);
}
END_TEST

START_TEST(relay_moves_10_mib_each_way_at_once_over_socketpairs)
{
    exchange(false, 10 * MIB, 10 * MIB);
}
END_TEST

/* Data and FIN are queued before the relay exists: the first edge reports both, and the EOF
 * must not be stranded behind the data. */
START_TEST(relay_sees_eof_that_arrived_with_data)
{
    struct harness h = {
        .peer = {{.seed = 0x31, .n_send = 1, .end = END_SHUT},
                 {.seed = 0x32, .n_send = 3, .send_after_eof = true, .end = END_SHUT}},
    };

    harness_connect(&h, true);
    peer_pump(&h.peer[0]);
    ck_assert(h.peer[0].ended);
    harness_join(&h);
    loop_until(&h, finished);
    assert_clean_exchange(&h);
    harness_done(&h);
}
END_TEST

/* The client reads nothing until everything has stalled: the service's bytes back up into the
 * relay's pipe while the client's socket is full. They must move on the EPOLLOUT edge that
 * comes when the client reads, without any new data from the service. */
static void full_destination_drains(bool tcp)
{
    struct harness h = {
        .peer = {{.seed = 0x41, .n_send = 0, .end = END_SHUT, .paused = true},
                 {.seed = 0x42, .n_send = 8 * MIB, .end = END_SHUT}},
    };

    harness_start(&h, tcp);
    loop_until(&h, finished);
    ck_assert_uint_eq(h.n_stalls, 1);
    assert_clean_exchange(&h);
    harness_done(&h);
}

START_TEST(relay_resumes_when_full_destination_drains_over_tcp)
{
    full_destination_drains(true);
}
END_TEST

START_TEST(relay_resumes_when_full_destination_drains_over_socketpairs)
{
    full_destination_drains(false);
}
END_TEST

/* ---- half-close ---- */

/* The client sends a request and shuts writing; the service reads to the EOF, then answers
 * and closes: the answer still reaches the client. */
static void client_half_closes(bool tcp)
{
    struct harness h = {
        .peer = {{.seed = 0x51, .n_send = 1000, .end = END_SHUT},
                 {.seed = 0x52, .n_send = 3 * MIB, .send_after_eof = true, .end = END_CLOSE}},
    };

    harness_start(&h, tcp);
    loop_until(&h, finished);
    assert_clean_exchange(&h);
    harness_done(&h);
}

START_TEST(relay_carries_client_half_close_over_tcp)
{
    client_half_closes(true);
}
END_TEST

START_TEST(relay_carries_client_half_close_over_socketpairs)
{
    client_half_closes(false);
}
END_TEST

/* The other way round: the service speaks first and shuts writing; the client answers only
 * after that EOF, then closes. */
START_TEST(relay_carries_service_half_close)
{
    struct harness h = {
        .peer = {{.seed = 0x61, .n_send = 2 * MIB, .send_after_eof = true, .end = END_CLOSE},
                 {.seed = 0x62, .n_send = 5000, .end = END_SHUT}},
    };

    harness_start(&h, true);
    loop_until(&h, finished);
    assert_clean_exchange(&h);
    harness_done(&h);
}
END_TEST

/* ---- failures ---- */

/* The service resets its connection: run() fails naming socket b, and the client, rather than
 * a clean EOF, gets a reset too. */
START_TEST(relay_fails_on_service_reset_and_resets_client)
{
    struct harness h = {
        .peer = {{.seed = 0x71, .n_send = 0, .end = END_KEEP},
                 {.seed = 0x72, .n_send = 0, .end = END_RESET}},
    };

    harness_start(&h, true);
    loop_until(&h, finished);
    ck_assert_int_eq(h.rc, -1);
    ck_assert_err(h.err, VPS_ERR_SYSTEM, "socket b");
    ck_assert_int_eq(h.err.errnum, ECONNRESET);
    ck_assert_int_eq(h.peer[0].read_errno, ECONNRESET);
    ck_assert(!h.peer[0].eof);
    ck_assert_uint_eq(h.stats.a_to_b, 0);
    ck_assert_uint_eq(h.stats.b_to_a, 0);
    harness_done(&h);
}
END_TEST

/* A reset that comes after the client has shut writing, while the service says nothing: no
 * read or write on socket a would ever see it, and the relay must still notice. */
START_TEST(relay_notices_reset_of_half_closed_client)
{
    struct harness h = {
        .peer = {{.seed = 0x81, .n_send = 10, .end = END_SHUT},
                 {.seed = 0x82, .n_send = 0, .end = END_KEEP}},
    };

    harness_start(&h, true);
    loop_until(&h, service_saw_eof);
    ck_assert_int_eq(h.rc, 1);
    ck_assert_uint_eq(h.peer[1].received, 10);
    close_reset(TAKE_FD(h.peer[0].fd));
    loop_until(&h, finished);
    ck_assert_int_eq(h.rc, -1);
    ck_assert_err(h.err, VPS_ERR_SYSTEM, "socket a");
    /* A reset on a socket that has had the peer's FIN (CLOSE_WAIT) reads as EPIPE. */
    ck_assert_msg(h.err.errnum == EPIPE || h.err.errnum == ECONNRESET, "errno %d", h.err.errnum);
    ck_assert_uint_eq(h.stats.a_to_b, 10);
    harness_done(&h);
}
END_TEST

/* The client goes away while the service is still sending: the write to socket a fails. */
START_TEST(relay_fails_when_client_closes_under_writes)
{
    struct harness h = {
        .peer = {{.seed = 0x91, .n_send = 0, .end = END_CLOSE},
                 {.seed = 0x92, .n_send = 8 * MIB, .end = END_SHUT}},
    };

    harness_start(&h, true);
    loop_until(&h, finished);
    ck_assert_int_eq(h.rc, -1);
    ck_assert_err(h.err, VPS_ERR_SYSTEM, "socket a");
    ck_assert_msg(h.err.errnum == EPIPE || h.err.errnum == ECONNRESET, "errno %d", h.err.errnum);
    ck_assert(h.stats.b_to_a < 8 * MIB);
    /* The service saw the client's EOF first, then its sends failed on the reset. */
    ck_assert(h.peer[1].eof);
    ck_assert_msg(h.peer[1].write_errno == EPIPE || h.peer[1].write_errno == ECONNRESET, "errno %d",
                  h.peer[1].write_errno);
    harness_done(&h);
}
END_TEST

START_TEST(relay_run_after_failure_fails_again)
{
    struct vps_relay *r = NULL;
    struct vps_error err = {0};
    int c, a, b, s;

    tcp_pair(&c, &a);
    tcp_pair(&b, &s);
    ck_assert_ok(vps_relay_new(a, b, &r, &err), err);
    close_reset(s);
    wait_readable(b);
    ck_assert_int_eq(vps_relay_run(r, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "socket b");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_relay_run(r, &err), -1);
    ck_assert_err(err, VPS_ERR_CONFLICT, "already failed");
    vps_relay_free(r);
    close(c);
}
END_TEST

/* ---- construction ---- */

/* Each bad pair fails, and the caller's fds stay open and blocking. */
START_TEST(relay_new_failure_leaves_callers_fds_alone)
{
    struct vps_relay *r = NULL;
    struct vps_error err = {0};
    int c, a, b, s, p[2];
    int dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(dgram, 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    unix_pair(&c, &a);
    unix_pair(&b, &s);

    ck_assert_int_eq(vps_relay_new(a, dgram, &r, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "socket b is not a stream socket");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_relay_new(p[0], b, &r, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "is not a socket");
    ck_assert_int_eq(err.errnum, ENOTSOCK);
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_relay_new(a, a, &r, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "same fd");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_relay_new(-1, b, &r, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "socket a");

    ck_assert_ptr_null(r);
    int fds[] = {a, b, dgram, p[0]};
    for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
        ck_assert(fd_open(fds[i]));
        ck_assert(!is_nonblock(fds[i]));
    }
    /* Still usable: the pair joins fine afterwards. */
    ck_assert_ok(vps_relay_new(a, b, &r, &err), err);
    vps_relay_free(r);
    ck_assert(!fd_open(a) && !fd_open(b));
    close(c), close(s), close(dgram), close(p[0]), close(p[1]);
}
END_TEST

/* Freeing a relay that has not ended closes its sockets with a reset. */
START_TEST(relay_free_of_open_relay_resets_both_peers)
{
    struct vps_relay *r = NULL;
    struct vps_error err = {0};
    int c, a, b, s;
    char byte;

    tcp_pair(&c, &a);
    tcp_pair(&b, &s);
    ck_assert_ok(vps_relay_new(a, b, &r, &err), err);
    ck_assert_int_eq(vps_relay_run(r, &err), 1);
    vps_relay_free(r);
    wait_readable(c);
    ck_assert_int_eq(read(c, &byte, 1), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    wait_readable(s);
    ck_assert_int_eq(read(s, &byte, 1), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    close(c);
    close(s);
}
END_TEST

START_TEST(relay_free_null_is_a_no_op)
{
    vps_relay_free(NULL);
}
END_TEST

static Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *data = tcase_create("data");
    TCase *half = tcase_create("half-close");
    TCase *fail = tcase_create("failures");
    TCase *make = tcase_create("construction");

    tcase_add_test(data, relay_moves_one_byte_each_way_over_tcp);
    tcase_add_test(data, relay_moves_one_byte_each_way_over_socketpairs);
    tcase_add_test(data, relay_moves_nothing_when_both_sides_shut_at_once);
    tcase_add_test(data, relay_moves_10_mib_each_way_at_once_over_tcp);
    tcase_add_test(data, relay_moves_10_mib_each_way_at_once_over_socketpairs);
    tcase_add_test(data, relay_sees_eof_that_arrived_with_data);
    tcase_add_test(data, relay_resumes_when_full_destination_drains_over_tcp);
    tcase_add_test(data, relay_resumes_when_full_destination_drains_over_socketpairs);
    suite_add_tcase(s, data);

    tcase_add_test(half, relay_carries_client_half_close_over_tcp);
    tcase_add_test(half, relay_carries_client_half_close_over_socketpairs);
    tcase_add_test(half, relay_carries_service_half_close);
    suite_add_tcase(s, half);

    tcase_add_test(fail, relay_fails_on_service_reset_and_resets_client);
    tcase_add_test(fail, relay_notices_reset_of_half_closed_client);
    tcase_add_test(fail, relay_fails_when_client_closes_under_writes);
    tcase_add_test(fail, relay_run_after_failure_fails_again);
    suite_add_tcase(s, fail);

    tcase_add_test(make, relay_new_failure_leaves_callers_fds_alone);
    tcase_add_test(make, relay_free_of_open_relay_resets_both_peers);
    tcase_add_test(make, relay_free_null_is_a_no_op);
    suite_add_tcase(s, make);
    return s;
}

int main(void)
{
    /* A write to a peer that has gone away raises SIGPIPE (splice() cannot say MSG_NOSIGNAL);
     * vpsd ignores it, and so do we. Forked test children inherit this. */
    (void) signal(SIGPIPE, SIG_IGN);
    return run_suite(relay_suite(), CK_FORK_GETENV);
}
