/* The activator's sockets inside a VPS and its listeners (activator-internal.h): sockets
 * made in the VPS's pinned network namespace or, for unix: addresses, in its root
 * filesystem; accepting for accept and proxy mode; the first connection of a handed-over
 * socket starting the service; listen mode's view of its connections for the idle stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator-internal.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"
#include "vps/addr.h"
#include "vps/fd.h"
#include "vps/idmap.h"
#include "vps/json.h"
#include "vps/passwd.h"
#include "vps/path.h"
#include "vps/relay.h"
#include "vps/spawn.h"

static void on_listener(struct watch *w, uint32_t events, void *userdata);

/* Listen mode, and UDP in accept mode: the socket itself goes to the service. */
bool hands_over(const struct unit *u, const struct listener *l)
{
    return u->mode == VPS_SERVICE_LISTEN || l->udp;
}

/* A socket belongs for good to the network namespace its creator was in when socket() ran;
 * bind(), listen() and connect() then act in that namespace wherever vpsd is. So only
 * socket() (or an open of /proc/thread-self/net/...) is done inside the VPS's namespace:
 * setns() moves the calling thread, which in vpsd (one thread) is all of it, for that one
 * call. */
static void back_home(struct activator *a)
{
    if (setns(a->own_netns_fd, CLONE_NEWNET) < 0) {
        /* Going back to a namespace we were in, with the capabilities that just let us leave
         * it, fails only if the kernel cannot allocate an nsproxy. Carrying on would put
         * every later socket of vpsd inside a VPS's namespace, whose root controls its
         * routes: not an error to hand up, so the process ends here. */
        abort();
    }
}

int unit_netns(struct unit *u, struct vps_error *err)
{
    if (u->netns_fd < 0 &&
        supervisor_open_pinned_netns(u->a->d->sup, u->vps, &u->netns_fd, err) < 0)
        return -1;
    return u->netns_fd;
}

int socket_in(struct unit *u, int family, int type, int *ret_fd, struct vps_error *err)
{
    int fd, saved, ns = unit_netns(u, err);

    if (ns < 0)
        return -1;
    if (setns(ns, CLONE_NEWNET) < 0)
        return vps_error_errno(err, errno, "enter the network namespace of vps '%s'", u->vps);
    fd = socket(family, type | SOCK_CLOEXEC, 0);
    saved = errno;
    back_home(u->a);
    if (fd < 0)
        return vps_error_errno(err, saved, "socket");
    *ret_fd = fd;
    return 0;
}

/* The VPS's TCP tables, for counting established connections of listen mode. */
static void open_proc_tcp(struct listener *l)
{
    struct vps_error e = {0};
    int ns = unit_netns(l->u, &e);

    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
        return;
    l->proc_tcp_fd[0] = open("/proc/thread-self/net/tcp", O_RDONLY | O_CLOEXEC);
    l->proc_tcp_fd[1] = open("/proc/thread-self/net/tcp6", O_RDONLY | O_CLOEXEC);
    back_home(l->u->a);
}

/* Established connections with local port `port` in one /proc/net/tcp{,6} table. */
static size_t count_established(int fd, unsigned port)
{
    char buf[65536];
    size_t n = 0, len = 0;
    ssize_t r;
    char *line, *save = NULL;

    if (fd < 0)
        return 0;
    /* A VPS with more connections than fit here counts as busy: it is not idle anyway. */
    while (len < sizeof buf - 1 && (r = pread(fd, buf + len, sizeof buf - 1 - len, len)) > 0)
        len += (size_t) r;
    if (len == sizeof buf - 1)
        return 1;
    buf[len] = '\0';
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned lport, st;
        /* "  0: 0100007F:1F90 00000000:0000 0A ..." (IPv6: 32 hex digits before the ':') */
        if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) == 2 &&
            lport == port && st == 1 /* TCP_ESTABLISHED */)
            n++;
    }
    return n;
}

void unwatch_listener(struct listener *l)
{
    watch_remove(l->watch);
    l->watch = NULL;
}

void watch_listeners(struct unit *u)
{
    for (struct listener *l = u->listeners; l; l = l->next) {
        struct vps_error e = {0};
        if (l->watch || l->fd < 0)
            continue;
        if (loop_watch(u->a->d->loop, l->fd, EPOLLIN, on_listener, l, &l->watch, &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': service '%s': watch '%s'", u->vps, u->name,
                      l->addr);
    }
}

/* Handing over: the first connection (or datagram) starts the service, which then takes
 * it from the socket. */
static void activate_handover(struct unit *u, struct listener *l)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    const struct vps_service *svc;
    struct vps_error e = {0};
    int r;

    if (u->state == UNIT_BACKOFF || main_instance(u)) {
        unwatch_listener(l); /* queued until the back-off ends or the service exits */
        return;
    }
    unsigned gen = u->generation;
    if (!u->cold_since_ms)
        u->cold_since_ms = loop_now_ms();
    r = prepare(u, &c, &svc, &e);
    /* Starting the VPS binds its services again: l may be gone if that changed them. */
    if (u->generation != gen || u->gone)
        return;
    if (r == 0) { /* the VPS is stopping: try again when it has stopped */
        unwatch_listener(l);
        arm(u->a);
        return;
    }
    if (r < 0 || start_main(u, c, svc, NULL, &e) < 0) {
        publish_failed(u, NULL, &e);
        u->cold_since_ms = 0; /* the next success must not count this gap as its start */
        /* The request stays queued; without a back-off it would wake us at once again. */
        unwatch_listener(l);
        if (u->fails_in_row < FAILS_BEFORE_BACKOFF - 1)
            u->fails_in_row = FAILS_BEFORE_BACKOFF - 1;
        count_failure(u);
        return;
    }
    u->st.connections_total++; /* once per start: the service counts its own after that */
}

bool watch_paused_listeners(struct unit *u)
{
    bool ok = true;

    for (struct listener *l = u->listeners; l; l = l->next) {
        struct vps_error e = {0};
        if (l->watch || l->fd < 0 || hands_over(u, l))
            continue;
        if (loop_watch(u->a->d->loop, l->fd, EPOLLIN, on_listener, l, &l->watch, &e) < 0)
            ok = false;
    }
    return ok;
}

/* A listening socket that can no longer accept (its VPS's root may destroy sockets in its
 * own namespace): made anew at once, or dropped with a warning if that fails (bound again at
 * the next change or start). Never left in the loop, where it would report forever. */
static void broken_listener(struct listener *l, const char *why)
{
    struct unit *u = l->u;
    char *addr = strdup(l->addr);

    log_warning("vps '%s': service '%s': listening socket '%s' broke (%s), making it anew", u->vps,
                u->name, l->addr, why);
    u->generation++;
    listener_free(l);
    if (addr)
        (void) add_listener(u, addr);
    free(addr);
}

static void on_listener(struct watch *w, uint32_t events, void *userdata)
{
    struct listener *l = userdata;
    struct unit *u = l->u;

    (void) w;
    if (events & (EPOLLERR | EPOLLHUP)) {
        broken_listener(l, "the socket failed");
        return;
    }
    if (hands_over(u, l)) {
        activate_handover(u, l);
        return;
    }
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        unsigned gen = u->generation;
        struct sockaddr_storage ss = {0};
        socklen_t len = sizeof ss;
        struct vps_error e = {0};
        char peer[PEER_MAX];
        /* Blocking, as inetd services expect (proxy mode makes it non-blocking itself). */
        int conn = accept4(l->fd, (struct sockaddr *) &ss, &len, SOCK_CLOEXEC);

        if (conn < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (conn < 0 && errno == EAGAIN)
            return;
        if (conn < 0 &&
            (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* Out of fds or memory: pause, or the level-triggered watch spins; the tick
             * watches it again. */
            log_warning("vps '%s': service '%s': accept on '%s': %s, pausing", u->vps, u->name,
                        l->addr, strerror(errno));
            unwatch_listener(l);
            arm(u->a);
            return;
        }
        if (conn < 0) { /* e.g. EINVAL: destroyed from inside the VPS (ss -K) */
            broken_listener(l, strerror(errno));
            return;
        }
        if (ss.ss_family == AF_UNIX)
            (void) snprintf(peer, sizeof peer, "unix");
        else
            vps_addr_format(&ss, peer, sizeof peer);
        if (handle_connection(u, conn, peer, &e) < 0) {
            publish_failed(u, peer, &e);
            if (!u->n_instances && !u->n_pconns)
                u->cold_since_ms = 0;
        }
        /* Starting the VPS binds its services again: l may be gone if that changed them. */
        if (u->generation != gen || u->gone)
            return;
    }
}

/* A unix socket at path inside the VPS's root filesystem, made from the host side (it exists
 * while the VPS is stopped): the directory is opened inside the rootfs without following
 * symlinks (the VPS's root may have planted some), the socket bound through that fd, owned by
 * the VPS's root, mode 0666 like a TCP port anyone in the VPS may connect to. A stale socket
 * of an earlier run is replaced; any other file there is left alone and refused. */
static int listen_unix(struct unit *u, const char *path, struct listener *l, struct vps_error *err)
{
    cleanup_close int root = -1, dir = -1, fd = -1;
    const char *slash = strrchr(path, '/');
    char dirname[108];
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct vps_idmap map;
    struct stat st;
    mode_t old;
    int r;

    (void) snprintf(dirname, sizeof dirname, "%.*s", (int) (slash - path), path);
    if (vps_store_open_rootfs(&u->a->d->store, u->vps, &root, err) < 0 ||
        vps_store_load_idmap(&u->a->d->store, u->vps, &map, err) < 0 ||
        (dir = vps_path_open_in_root(root, dirname[0] ? dirname : "/", O_PATH | O_DIRECTORY, err)) <
            0)
        return vps_error_prefix(err, "unix socket '%s'", path);
    if (fstatat(dir, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return vps_error_set(err, VPS_ERR_CONFLICT, "'%s' exists in the vps and is no socket",
                                 path);
        if (unlinkat(dir, slash + 1, 0) < 0)
            return vps_error_errno(err, errno, "remove the stale socket '%s'", path);
    }
    if ((size_t) snprintf(sun.sun_path, sizeof sun.sun_path, "/proc/self/fd/%d/%s", dir,
                          slash + 1) >= sizeof sun.sun_path)
        return vps_error_set(err, VPS_ERR_INVALID, "unix socket path '%s' is too long", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (hands_over(u, l) ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0)
        return vps_error_errno(err, errno, "socket");
    /* The mode comes from the umask at bind: no chmod by path afterwards, which the VPS could
     * race with a symlink. vpsd has one thread. */
    old = umask(0111);
    r = bind(fd, (struct sockaddr *) &sun, sizeof sun);
    (void) umask(old);
    if (r < 0)
        return vps_error_errno(err, errno, "bind '%s' in the vps", path);
    if (fchownat(dir, slash + 1, map.shifted ? map.host_base : 0, map.shifted ? map.host_base : 0,
                 AT_SYMLINK_NOFOLLOW) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        r = errno;
        (void) unlinkat(dir, slash + 1, 0);
        return vps_error_errno(err, r, "listen on '%s' in the vps", path);
    }
    if (!(l->unix_name = strdup(slash + 1))) {
        (void) unlinkat(dir, slash + 1, 0);
        return vps_error_errno(err, ENOMEM, "listen");
    }
    l->unix_dir_fd = TAKE_FD(dir);
    l->fd = TAKE_FD(fd);
    return 0;
}

static int listen_on(struct unit *u, const char *addr, struct listener *l, struct vps_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cleanup_close int fd = -1;
    int one = 1;
    const char *text = addr;

    l->udp = strncmp(addr, "udp:", 4) == 0;
    if (l->udp)
        text += 4;
    if (strncmp(addr, "unix:", 5) == 0)
        return listen_unix(u, addr + 5, l, err);
    if (!vps_addr_parse(text, &ss, &len))
        return vps_error_set(err, VPS_ERR_INVALID, "'%s' is not an address", addr);
    /* A socket handed over is blocking, as most services expect (O_NONBLOCK belongs to the
     * open file, which the service shares); vpsd never reads or accepts on it. */
    if (socket_in(u, ss.ss_family,
                  (l->udp ? SOCK_DGRAM : SOCK_STREAM) | (hands_over(u, l) ? 0 : SOCK_NONBLOCK), &fd,
                  err) < 0)
        return -1;
    /* TCP only: on UDP it would let any process in the VPS bind the same address and take
     * the service's datagrams. */
    if (!l->udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "SO_REUSEADDR");
    if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "IPV6_V6ONLY");
    if (bind(fd, (struct sockaddr *) &ss, len) < 0)
        return vps_error_errno(err, errno, "bind '%s'", addr);
    if (!l->udp && listen(fd, SOMAXCONN) < 0)
        return vps_error_errno(err, errno, "listen on '%s'", addr);
    l->fd = TAKE_FD(fd);
    return 0;
}

void listener_free(struct listener *l)
{
    struct unit *u = l->u;

    for (struct listener **p = &u->listeners; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    watch_remove(l->watch);
    vps_close(l->fd);
    if (l->unix_dir_fd >= 0) {
        struct stat st;
        if (fstatat(l->unix_dir_fd, l->unix_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISSOCK(st.st_mode))
            (void) unlinkat(l->unix_dir_fd, l->unix_name, 0);
        close(l->unix_dir_fd);
    }
    free(l->unix_name);
    vps_close(l->proc_tcp_fd[0]);
    vps_close(l->proc_tcp_fd[1]);
    free(l->addr);
    free(l);
}

static struct listener *find_listener(struct unit *u, const char *addr)
{
    for (struct listener *l = u->listeners; l; l = l->next)
        if (strcmp(l->addr, addr) == 0)
            return l;
    return NULL;
}

/* Binds one address; false: the VPS has no pinned namespace yet (bound at its first start). */
bool add_listener(struct unit *u, const char *addr)
{
    struct listener *l;
    struct vps_error e = {0};

    if (find_listener(u, addr))
        return true;
    if (unit_netns(u, &e) < 0) {
        if (e.code != VPS_ERR_NOT_FOUND)
            log_error(LOG_WARNING, &e, "vps '%s': activation", u->vps);
        return false;
    }
    if (!(l = calloc(1, sizeof *l)) || !(l->addr = strdup(addr))) {
        free(l);
        log_warning("vps '%s': service '%s': out of memory", u->vps, u->name);
        return true;
    }
    l->u = u;
    l->fd = l->unix_dir_fd = l->proc_tcp_fd[0] = l->proc_tcp_fd[1] = -1;
    if (listen_on(u, addr, l, &e) < 0) {
        log_error(LOG_WARNING, &e, "vps '%s': service '%s': not listening%s", u->vps, u->name,
                  e.errnum == EADDRNOTAVAIL ? " (not an address of the vps)" : "");
        free(l->addr);
        free(l);
        return true;
    }
    l->next = u->listeners;
    u->listeners = l;
    if (u->mode == VPS_SERVICE_LISTEN && !l->udp && l->unix_dir_fd < 0)
        open_proc_tcp(l);
    if (!(hands_over(u, l) && main_instance(u)))
        watch_listeners(u);
    log_info("vps '%s': service '%s' listens on '%s'", u->vps, u->name, addr);
    return true;
}

size_t listen_connections(const struct unit *u)
{
    size_t n = 0;

    for (struct listener *l = u->listeners; l; l = l->next) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (l->udp || l->unix_dir_fd >= 0 || getsockname(l->fd, (struct sockaddr *) &ss, &len) < 0)
            continue;
        unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                       : ((struct sockaddr_in *) &ss)->sin_port);
        n +=
            count_established(l->proc_tcp_fd[0], port) + count_established(l->proc_tcp_fd[1], port);
    }
    return n;
}

bool listen_idle(struct unit *u)
{
    for (struct listener *l = u->listeners; l; l = l->next) {
        struct tcp_info ti = {0};
        socklen_t tlen = sizeof ti;

        /* A listening socket's tcpi_unacked is its accept queue's length. */
        if (!l->udp && getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
            ti.tcpi_unacked > 0)
            return false;
    }
    return listen_connections(u) == 0;
}
