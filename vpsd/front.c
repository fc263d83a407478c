/* Shared front addresses (front.h): the table of every VPS's "match" rules, one listening
 * socket per front address in vpsd's own network namespace, and the peeking at each accepted
 * connection (MSG_PEEK; libvps/peek.c parses the bytes) until a rule decides where it goes.
 * What happens once it is decided (starting the VPS, running or relaying to the service, the
 * events) is the activator's: activator_deliver(). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activator.h"
#include "front.h"
#include "log.h"
#include "loop.h"
#include "vps/addr.h"
#include "vps/peek.h"
#include "vps/store.h"

#define ACCEPTS_PER_WAKE 64    /* then the loop serves others before accepting more */
#define PEEKING_MAX      1024  /* connections being peeked at per front; newer ones are closed */
#define SILENCE_MS       1000  /* no byte by then: a client waiting for the server's greeting */
#define PEEK_DEADLINE_MS 5000  /* no decision by then: the bytes so far decide, or the default */
#define PEEKS_MAX        32    /* looks at one connection before it only waits for its deadline */
#define ACCEPT_PAUSE_MS  250   /* after EMFILE and kin, before accepting again */
#define LOG_EVERY_MS     10000 /* one message per front about dropped connections in that time */

static const char *const kind_names[] = {
    [VPS_MATCH_HTTP_HOST] = "http_host",
    [VPS_MATCH_TLS_SNI] = "tls_sni",
    [VPS_MATCH_PROTOCOL] = "protocol",
    [VPS_MATCH_DEFAULT] = "default",
};

struct rule {
    enum vps_match_kind kind;
    char *value; /* NULL for VPS_MATCH_DEFAULT */
    char vps[VPS_NAME_MAX + 1];
    char service[VPS_NAME_MAX + 1];
    struct rule *next;
};

/* An accepted connection that no rule has taken yet. Its bytes stay in the socket's receive
 * queue, so nothing of them is kept here. */
struct peeking {
    struct front_addr *fa;
    int fd;
    struct watch *watch; /* NULL once looked at PEEKS_MAX times */
    uint64_t accepted_ms;
    uint64_t deadline_ms; /* silence, then (once bytes came) the overall deadline */
    size_t seen_bytes;    /* peeked at the last look */
    unsigned n_peeks;
    char peer[VPS_ADDR_TEXT_MAX];
    struct peeking *prev, *next;
};

/* One front address: there while a rule names it, listening when it could be bound. */
struct front_addr {
    struct front *f;
    char addr[VPS_ADDR_TEXT_MAX];
    int fd;              /* -1: not listening (error says why) */
    struct watch *watch; /* NULL while accepting is paused */
    uint64_t resume_ms;
    char error[512];
    struct rule *rules;
    struct peeking *peeking;
    size_t n_peeking;
    uint64_t logged_ms; /* rate limit of the messages about dropped connections */
    size_t n_dropped;
    struct front_addr *next;
};

struct front {
    struct vpsd *d;
    struct front_addr *addrs;
    uint64_t next_tick_ms; /* no deadline is earlier than this (a lower bound) */
    /* Shared by every connection: MSG_PEEK returns every queued byte each time, so a look
     * needs no bytes from an earlier one. The largest need is a ClientHello's records. */
    uint8_t buf[VPS_PEEK_TLS_MAX_BYTES];
};

/* ---- the rule table ---- */

static void describe(enum vps_match_kind kind, const char *value, const char *front, char *buf,
                     size_t size)
{
    if (kind == VPS_MATCH_DEFAULT)
        (void) snprintf(buf, size, "the default of front '%s'", front);
    else
        (void) snprintf(buf, size, "%s '%s' on front '%s'", kind_names[kind], value, front);
}

static struct front_addr *find_addr(const struct front *f, const char *addr)
{
    for (struct front_addr *fa = f->addrs; fa; fa = fa->next)
        if (strcmp(fa->addr, addr) == 0)
            return fa;
    return NULL;
}

/* Appended, so that the status lists fronts in the order they were first named. */
static struct front_addr *addr_new(struct front *f, const char *addr)
{
    struct front_addr *fa, **tail = &f->addrs;

    if (strlen(addr) >= VPS_ADDR_TEXT_MAX || !(fa = calloc(1, sizeof *fa)))
        return NULL;
    *fa = (struct front_addr){.f = f, .fd = -1};
    (void) snprintf(fa->addr, sizeof fa->addr, "%s", addr);
    while (*tail)
        tail = &(*tail)->next;
    *tail = fa;
    return fa;
}

static void rule_free(struct rule *r)
{
    free(r->value);
    free(r);
}

/* The rule of another VPS than except_vps that is the same as m, if any. */
static const struct rule *rule_taken(const struct front *f, const struct vps_match *m,
                                     const char *except_vps)
{
    const struct front_addr *fa = find_addr(f, m->front);

    for (const struct rule *r = fa ? fa->rules : NULL; r; r = r->next) {
        struct vps_match held = {.front = (char *) fa->addr, .kind = r->kind, .value = r->value};
        if (strcmp(r->vps, except_vps) != 0 && vps_match_equal(m, &held))
            return r;
    }
    return NULL;
}

static int add_rule(struct front *f, const char *vps, const char *service,
                    const struct vps_match *m)
{
    struct front_addr *fa = find_addr(f, m->front);
    struct rule *r = calloc(1, sizeof *r);

    if (!r || !(fa = fa ? fa : addr_new(f, m->front)))
        goto fail;
    r->kind = m->kind;
    if (m->value && !(r->value = strdup(m->value)))
        goto fail;
    (void) snprintf(r->vps, sizeof r->vps, "%s", vps);
    (void) snprintf(r->service, sizeof r->service, "%s", service);
    r->next = fa->rules;
    fa->rules = r;
    return 0;
fail:
    if (r)
        rule_free(r);
    return -1;
}

/* Adds c's rules. One that another VPS holds (only a config written behind vpsd's back can
 * have it: the API checks with front_check()) stays that VPS's. */
static void add_rules(struct front *f, const struct vps_config *c)
{
    for (size_t i = 0; i < c->n_services; i++) {
        const struct vps_service *svc = &c->services[i];
        for (size_t j = 0; j < svc->n_match; j++) {
            const struct vps_match *m = &svc->match[j];
            const struct rule *other = rule_taken(f, m, c->name);
            char what[128 + VPS_ADDR_TEXT_MAX];

            describe(m->kind, m->value, m->front, what, sizeof what);
            if (other)
                log_warning("vps '%s': service '%s': %s is taken by service '%s' of vps '%s', "
                            "ignoring",
                            c->name, svc->name, what, other->service, other->vps);
            else if (add_rule(f, c->name, svc->name, m) < 0)
                log_warning("vps '%s': service '%s': %s: out of memory, ignoring", c->name,
                            svc->name, what);
        }
    }
}

static void drop_rules(struct front *f, const char *vps)
{
    for (struct front_addr *fa = f->addrs; fa; fa = fa->next)
        for (struct rule **p = &fa->rules; *p;) {
            struct rule *r = *p;
            if (strcmp(r->vps, vps) == 0) {
                *p = r->next;
                rule_free(r);
            } else {
                p = &r->next;
            }
        }
}

static const struct rule *find_rule(const struct front_addr *fa, enum vps_match_kind kind,
                                    const char *value)
{
    for (const struct rule *r = fa->rules; r; r = r->next)
        if (r->kind == kind && (kind == VPS_MATCH_DEFAULT || strcmp(r->value, value) == 0))
            return r;
    return NULL;
}

/* The exact name first, then the one wildcard that can match (a "*." pattern covers exactly
 * one label, so of "*.a.example" and "*.example" only one fits a given name). */
static const struct rule *find_host_rule(const struct front_addr *fa, enum vps_match_kind kind,
                                         const char *host)
{
    const struct rule *wild = NULL;

    for (const struct rule *r = fa->rules; r; r = r->next) {
        if (r->kind != kind)
            continue;
        if (strcmp(r->value, host) == 0)
            return r;
        if (!wild && strncmp(r->value, "*.", 2) == 0 && vps_peek_match_host(r->value, host))
            wild = r;
    }
    return wild;
}

static bool has_kind(const struct front_addr *fa, enum vps_match_kind kind)
{
    for (const struct rule *r = fa->rules; r; r = r->next)
        if (r->kind == kind)
            return true;
    return false;
}

/* ---- deadlines ---- */

static void schedule(struct front *f, uint64_t at_ms)
{
    if (at_ms < f->next_tick_ms)
        f->next_tick_ms = at_ms;
}

static uint64_t prepare(void *userdata)
{
    const struct front *f = userdata;
    uint64_t now = loop_now_ms();

    if (f->next_tick_ms == UINT64_MAX)
        return UINT64_MAX;
    return f->next_tick_ms <= now ? 0 : f->next_tick_ms - now;
}

/* At most one message per front in LOG_EVERY_MS, so a flood does not flood the log too. */
static bool log_allowed(struct front_addr *fa)
{
    uint64_t now = loop_now_ms();

    if (fa->logged_ms && now - fa->logged_ms < LOG_EVERY_MS)
        return false;
    fa->logged_ms = now;
    return true;
}

/* ---- connections being peeked at ---- */

static int peeking_take(struct peeking *p)
{
    struct front_addr *fa = p->fa;
    int fd = p->fd;

    if (p->prev)
        p->prev->next = p->next;
    else
        fa->peeking = p->next;
    if (p->next)
        p->next->prev = p->prev;
    fa->n_peeking--;
    watch_remove(p->watch); /* before the fd can be closed */
    free(p);
    return fd;
}

static void peeking_close(struct peeking *p)
{
    vps_close(peeking_take(p));
}

struct decision {
    const struct rule *rule; /* NULL: close the connection */
    char seen[VPS_PEEK_HOST_SIZE + 32];
};

static bool decided(struct decision *ret, const struct rule *rule)
{
    ret->rule = rule;
    return true;
}

/* Where the first len bytes of a connection go, in this order: the protocol signature; for
 * TLS the SNI and for HTTP the Host (when the front has rules of that kind), exact name
 * before wildcard; then the front's rule for the protocol; then its default. False: wait for
 * more bytes. final: no more bytes will come (or may be waited for), so decide with these. */
static bool decide(const struct front_addr *fa, const uint8_t *buf, size_t len, bool final,
                   struct decision *ret)
{
    enum vps_match_kind kind = VPS_MATCH_DEFAULT;
    const char *proto = NULL;
    char host[VPS_PEEK_HOST_SIZE];
    enum vps_peek_result r;
    const struct rule *rule;

    if (len == 0) { /* SSH clients may wait for the server's banner without a word */
        if (!final)
            return false;
        (void) snprintf(ret->seen, sizeof ret->seen, "nothing");
        return decided(ret, find_rule(fa, VPS_MATCH_PROTOCOL, "ssh")
                                ?: find_rule(fa, VPS_MATCH_DEFAULT, NULL));
    }
    r = vps_peek_protocol(buf, len, &proto);
    if (r == VPS_PEEK_NEED_MORE && !final)
        return false;
    if (r != VPS_PEEK_FOUND) {
        (void) snprintf(ret->seen, sizeof ret->seen, "%zu bytes of no known protocol", len);
        return decided(ret, find_rule(fa, VPS_MATCH_DEFAULT, NULL));
    }
    (void) snprintf(ret->seen, sizeof ret->seen, "protocol '%s'", proto);
    if (strcmp(proto, "tls") == 0)
        kind = VPS_MATCH_TLS_SNI;
    else if (strcmp(proto, "http") == 0)
        kind = VPS_MATCH_HTTP_HOST;
    if (kind != VPS_MATCH_DEFAULT && has_kind(fa, kind)) {
        r = kind == VPS_MATCH_TLS_SNI ? vps_peek_tls_sni(buf, len, host, sizeof host)
                                      : vps_peek_http_host(buf, len, host, sizeof host);
        if (r == VPS_PEEK_NEED_MORE && !final)
            return false;
        if (r == VPS_PEEK_FOUND) {
            (void) snprintf(ret->seen, sizeof ret->seen, "%s '%s'",
                            kind == VPS_MATCH_TLS_SNI ? "sni" : "host", host);
            if ((rule = find_host_rule(fa, kind, host)))
                return decided(ret, rule);
        }
    }
    return decided(ret, find_rule(fa, VPS_MATCH_PROTOCOL, proto)
                            ?: find_rule(fa, VPS_MATCH_DEFAULT, NULL));
}

/* No rule takes the connection. close() of a socket with unread bytes sends a reset (RFC
 * 2525, 2.17, as Linux does), which a client may report as a network failure and retry;
 * once the peeked bytes are read, the close is an orderly FIN: the client sees the server
 * end the connection without an answer (curl: "Empty reply from server"). A reset would
 * also not be more protective: the connection ends either way. */
static void refuse(struct peeking *p, const struct decision *dec)
{
    log_debug("front '%s': %s sent %s: no rule, closing", p->fa->addr, p->peer, dec->seen);
    (void) recv(p->fd, p->fa->f->buf, sizeof p->fa->f->buf, MSG_DONTWAIT);
    peeking_close(p);
}

static void deliver(struct peeking *p, const struct decision *dec)
{
    struct front_addr *fa = p->fa;
    struct front *f = fa->f;
    char vps[VPS_NAME_MAX + 1], service[VPS_NAME_MAX + 1], peer[VPS_ADDR_TEXT_MAX];
    char what[VPS_PEEK_HOST_SIZE + 32];
    struct vps_error e = {0};
    int fd, flags;

    if (dec->rule->kind == VPS_MATCH_DEFAULT)
        (void) snprintf(what, sizeof what, "the default rule");
    else
        (void) snprintf(what, sizeof what, "rule %s '%s'", kind_names[dec->rule->kind],
                        dec->rule->value);
    log_debug("front '%s': %s sent %s: %s, to service '%s' of vps '%s'", fa->addr, p->peer,
              dec->seen, what, dec->rule->service, dec->rule->vps);
    /* Copies: the activator may take a while (a VPS start), and the rule is the table's. */
    (void) snprintf(vps, sizeof vps, "%s", dec->rule->vps);
    (void) snprintf(service, sizeof service, "%s", dec->rule->service);
    (void) snprintf(peer, sizeof peer, "%s", p->peer);
    fd = peeking_take(p);
    /* The connection as the activator's own accept() makes it: blocking, which is what a
     * service with the socket on stdin expects. */
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    /* A failure is the activator's to report (a warning and the event service_failed). */
    if (activator_deliver(f->d->act, vps, service, fd, peer, &e) < 0)
        log_error(LOG_DEBUG, &e, "front '%s': connection from %s to service '%s' of vps '%s'",
                  fa->addr, peer, service, vps);
}

/* Peeks at every byte queued on p and, when they decide, hands p over or closes it.
 * hangup: the client has shut down its sending side, so no more bytes will come. */
static void look(struct peeking *p, bool hangup)
{
    uint8_t *buf = p->fa->f->buf;
    uint64_t now = loop_now_ms();
    struct decision dec = {0};
    ssize_t n = recv(p->fd, buf, sizeof p->fa->f->buf, MSG_PEEK | MSG_DONTWAIT);
    size_t len = n > 0 ? (size_t) n : 0;
    bool final;

    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        log_debug("front '%s': connection from %s failed: %s", p->fa->addr, p->peer,
                  strerror(errno));
        peeking_close(p);
        return;
    }
    /* End of stream before any byte: a connect-and-close probe (a load balancer's health
     * check, a port scan), not a client waiting for a greeting: starting a VPS for it would
     * keep VPSes awake for nothing. */
    if (n == 0 || (hangup && len == 0)) {
        log_debug("front '%s': %s closed without sending", p->fa->addr, p->peer);
        peeking_close(p);
        return;
    }
    final = hangup || len == sizeof p->fa->f->buf || now >= p->accepted_ms + PEEK_DEADLINE_MS ||
            (len == 0 && now >= p->accepted_ms + SILENCE_MS);
    if (!final && len == p->seen_bytes)
        return; /* nothing new since the last look */
    p->seen_bytes = len;
    if (len > 0)
        p->deadline_ms = p->accepted_ms + PEEK_DEADLINE_MS;
    if (!decide(p->fa, buf, len, final, &dec)) {
        /* Each look copies and parses up to the whole buffer again: a client that sends its
         * request a byte per segment must not make that quadratic without end. */
        if (++p->n_peeks >= PEEKS_MAX) {
            watch_remove(p->watch);
            p->watch = NULL;
        }
        return;
    }
    if (dec.rule)
        deliver(p, &dec);
    else
        refuse(p, &dec);
}

/* Edge-triggered (EPOLLET), and why: the bytes are only peeked at, never read, so they stay
 * queued until the service reads them. Level-triggered EPOLLIN would report the socket again
 * on every iteration of the loop while a partial request waits for its rest: a busy loop.
 * An edge is reported when something new happens to the socket (more bytes arrive, or the
 * client shuts down its side), which is exactly when another look can tell more. Bytes that
 * arrive after epoll_wait() returned but before the peek make a later event that finds
 * nothing new: look() then only compares lengths. No wake-up is lost: an arrival after the
 * event was taken reports the socket again. */
static void on_peek_event(struct watch *w, uint32_t events, void *userdata)
{
    struct peeking *p = userdata;

    (void) w;
    if (events & (EPOLLERR | EPOLLHUP)) { /* reset or gone both ways: nobody to serve */
        log_debug("front '%s': connection from %s reset", p->fa->addr, p->peer);
        peeking_close(p);
        return;
    }
    look(p, events & EPOLLRDHUP);
}

static void start_peeking(struct front_addr *fa, int conn, const struct sockaddr_storage *ss)
{
    struct peeking *p = calloc(1, sizeof *p);
    struct vps_error e = {0};
    uint64_t now = loop_now_ms();

    if (!p) {
        vps_close(conn);
        return;
    }
    *p =
        (struct peeking){.fa = fa, .fd = conn, .accepted_ms = now, .deadline_ms = now + SILENCE_MS};
    vps_addr_format(ss, p->peer, sizeof p->peer);
    p->next = fa->peeking;
    if (p->next)
        p->next->prev = p;
    fa->peeking = p;
    fa->n_peeking++;
    /* Bytes already queued are reported at once by the registration itself. */
    if (loop_watch(fa->f->d->loop, conn, EPOLLIN | EPOLLRDHUP | EPOLLET, on_peek_event, p,
                   &p->watch, &e) < 0) {
        log_error(LOG_WARNING, &e, "front '%s': connection from %s, closing it", fa->addr, p->peer);
        peeking_close(p);
        return;
    }
    schedule(fa->f, p->deadline_ms);
}

/* ---- listening ---- */

static void pause_accepting(struct front_addr *fa, int errnum)
{
    if (log_allowed(fa))
        log_warning("front '%s': accept: %s, pausing for %d ms", fa->addr, strerror(errnum),
                    ACCEPT_PAUSE_MS);
    /* The listening socket stays readable, so level-triggered EPOLLIN would spin. */
    watch_remove(fa->watch);
    fa->watch = NULL;
    fa->resume_ms = loop_now_ms() + ACCEPT_PAUSE_MS;
    schedule(fa->f, fa->resume_ms);
}

/* Errors of the new connection that accept() reports (accept(2), "Error handling"): the
 * next one may be fine. */
static bool accept_error_is_transient(int errnum)
{
    switch (errnum) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: /* a firewall rule */
        return true;
    default:
        return false;
    }
}

static void on_accept(struct watch *w, uint32_t events, void *userdata)
{
    struct front_addr *fa = userdata;

    (void) w, (void) events;
    for (int i = 0; i < ACCEPTS_PER_WAKE && fa->watch; i++) {
        struct sockaddr_storage ss = {0};
        socklen_t len = sizeof ss;
        int conn = accept4(fa->fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (conn < 0 && accept_error_is_transient(errno))
            continue;
        if (conn < 0 && errno != EAGAIN)
            pause_accepting(fa, errno);
        if (conn < 0)
            return;
        if (fa->n_peeking < PEEKING_MAX) {
            start_peeking(fa, conn, &ss);
            continue;
        }
        /* A client that connects and sends nothing (slowloris) holds an fd of vpsd for the
         * peek deadline: the cap bounds how many fds one front can take that way. */
        vps_close(conn);
        fa->n_dropped++;
        if (log_allowed(fa)) {
            log_warning("front '%s': %d connections are being peeked at, closing new ones (%zu "
                        "since the last message)",
                        fa->addr, PEEKING_MAX, fa->n_dropped);
            fa->n_dropped = 0;
        }
    }
}

static int listen_on(const char *addr, int *ret_fd, struct vps_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cleanup_close int fd = -1;
    int one = 1;

    if (!vps_addr_parse(addr, &ss, &len))
        return vps_error_set(err, VPS_ERR_INVALID, "'%s' is not an address", addr);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vps_error_errno(err, errno, "socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "SO_REUSEADDR");
    /* The address may not be the host's yet: the bridge that carries it is made at the first
     * VPS start, an uplink's address may come later. Free-bind listens on it anyway; the
     * connections come once it is there. */
    if (setsockopt(fd, ss.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                   ss.ss_family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "IP_FREEBIND");
    /* "[::]:80" is IPv6 only, as written: a front "0.0.0.0:80" may be another one. */
    if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "IPV6_V6ONLY");
    if (bind(fd, (struct sockaddr *) &ss, len) < 0)
        return vps_error_errno(err, errno, "bind '%s'", addr);
    if (listen(fd, SOMAXCONN) < 0)
        return vps_error_errno(err, errno, "listen on '%s'", addr);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static void open_front(struct front_addr *fa)
{
    struct vps_error e = {0};

    if (listen_on(fa->addr, &fa->fd, &e) < 0 ||
        loop_watch(fa->f->d->loop, fa->fd, EPOLLIN, on_accept, fa, &fa->watch, &e) < 0) {
        fa->fd = vps_close(fa->fd);
        (void) vps_error_format(&e, fa->error, sizeof fa->error);
        log_error(LOG_WARNING, &e, "front '%s': not listening, tried again at the next change",
                  fa->addr);
        return;
    }
    fa->error[0] = '\0';
    log_info("front '%s': listening", fa->addr);
}

static void addr_free(struct front_addr *fa)
{
    for (struct front_addr **p = &fa->f->addrs; *p; p = &(*p)->next)
        if (*p == fa) {
            *p = fa->next;
            break;
        }
    while (fa->peeking)
        peeking_close(fa->peeking);
    while (fa->rules) {
        struct rule *r = fa->rules;
        fa->rules = r->next;
        rule_free(r);
    }
    watch_remove(fa->watch);
    vps_close(fa->fd);
    free(fa);
}

/* Closes fronts no rule names any more and tries to open those not listening yet. */
static void sync_fronts(struct front *f)
{
    struct front_addr *next;

    for (struct front_addr *fa = f->addrs; fa; fa = next) {
        next = fa->next;
        if (!fa->rules) {
            if (fa->fd >= 0)
                log_info("front '%s': no rule names it any more, closed", fa->addr);
            addr_free(fa);
        } else if (fa->fd < 0) {
            open_front(fa);
        }
    }
}

/* ---- deadlines, continued ---- */

static void tick_addr(struct front_addr *fa, uint64_t now)
{
    struct peeking *next;
    struct vps_error e = {0};

    if (fa->fd >= 0 && !fa->watch) { /* accepting is paused */
        if (now < fa->resume_ms)
            schedule(fa->f, fa->resume_ms);
        else if (loop_watch(fa->f->d->loop, fa->fd, EPOLLIN, on_accept, fa, &fa->watch, &e) < 0)
            pause_accepting(fa, e.errnum);
    }
    for (struct peeking *p = fa->peeking; p; p = next) {
        next = p->next;
        if (now >= p->deadline_ms)
            look(p, false);
    }
    /* A second pass: look() may have freed any of them. */
    for (struct peeking *p = fa->peeking; p; p = p->next)
        schedule(fa->f, p->deadline_ms);
}

static void tick(void *userdata)
{
    struct front *f = userdata;
    uint64_t now = loop_now_ms();

    if (now < f->next_tick_ms)
        return;
    f->next_tick_ms = UINT64_MAX;
    for (struct front_addr *fa = f->addrs; fa; fa = fa->next)
        tick_addr(fa, now);
}

/* ---- interface ---- */

static void load_one(const char *name, const struct vps_config *c, const struct vps_error *e,
                     void *userdata)
{
    if (c)
        add_rules(userdata, c);
    else
        log_error(LOG_WARNING, e, "fronts: vps '%s', ignoring", name);
}

static void load_all(struct front *f)
{
    struct vps_error e = {0};

    if (vps_store_foreach(&f->d->store, load_one, f, &e) < 0)
        log_error(LOG_WARNING, &e, "fronts: list VPSes, ignoring");
}

int front_new(struct vpsd *d, struct front **ret, struct vps_error *err)
{
    struct front *f = calloc(1, sizeof *f);

    if (!f)
        return vps_error_errno(err, ENOMEM, "front");
    f->d = d;
    f->next_tick_ms = UINT64_MAX;
    if (loop_add_prepare(d->loop, prepare, tick, f, err) < 0) {
        free(f);
        return vps_error_prefix(err, "front");
    }
    load_all(f);
    sync_fronts(f);
    *ret = f;
    return 0;
}

void front_free(struct front *f)
{
    if (!f)
        return;
    while (f->addrs)
        addr_free(f->addrs);
    free(f);
}

int front_check(struct front *f, const struct vps_config *c, struct vps_error *err)
{
    for (size_t i = 0; i < c->n_services; i++)
        for (size_t j = 0; j < c->services[i].n_match; j++) {
            const struct vps_match *m = &c->services[i].match[j];
            const struct rule *other = rule_taken(f, m, c->name);
            char what[128 + VPS_ADDR_TEXT_MAX];

            if (!other)
                continue;
            describe(m->kind, m->value, m->front, what, sizeof what);
            return vps_error_set(
                err, VPS_ERR_CONFLICT,
                "services[%zu].match[%zu]: %s is taken by service '%s' of vps '%s'", i, j, what,
                other->service, other->vps);
        }
    return 0;
}

void front_update_vps(struct front *f, const struct vps_config *c)
{
    drop_rules(f, c->name);
    add_rules(f, c);
    sync_fronts(f);
}

void front_remove_vps(struct front *f, const char *name)
{
    drop_rules(f, name);
    sync_fronts(f);
}

static json_t *rules_status(const struct front_addr *fa)
{
    json_t *a = json_array();

    for (const struct rule *r = fa->rules; r && a; r = r->next) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "vps", r->vps, "service", r->service, "kind",
                              kind_names[r->kind]);
        if (o && r->value)
            (void) json_object_set_new(o, "value", json_string(r->value));
        (void) json_array_append_new(a, o);
    }
    return a;
}

json_t *front_status(struct front *f)
{
    json_t *a = json_array();

    for (const struct front_addr *fa = f->addrs; fa && a; fa = fa->next) {
        json_t *o = json_pack("{s:s, s:b, s:o, s:I}", "front", fa->addr, "listening", fa->fd >= 0,
                              "rules", rules_status(fa), "peeking", (json_int_t) fa->n_peeking);
        if (o && fa->fd < 0 && fa->error[0])
            (void) json_object_set_new(o, "error", json_string(fa->error));
        (void) json_array_append_new(a, o);
    }
    return a;
}
