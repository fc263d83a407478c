/* On-demand activation, first slice: TCP listen addresses of "accept" mode services. The
 * listening socket is made inside the VPS's pinned network namespace, so it exists while
 * the VPS is stopped; a connection starts the VPS when needed and runs one process of the
 * service per connection (spawn.c's exec into the VPS), the connection on its stdin and
 * stdout.
 *
 * Not yet in this slice: udp and unix addresses, "listen" and "proxy" modes, user names
 * (only numeric uids: a name needs the VPS's /etc/passwd), fd 3 with LISTEN_FDS (struct
 * vps_spawn_exec passes stdio only), idle stop (nothing to stop in accept mode: each process
 * ends with its connection). The start of a stopped VPS is synchronous: the loop waits for
 * it (a few ms to tens of ms) while the connection waits in the accept queue. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activator.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/spawn.h"

#define ACCEPTS_PER_WAKE 64 /* then the loop serves others before accepting more */
#define PEER_MAX         64 /* "[ipv6]:port" */

struct listener {
    struct activator *a;
    char vps[VPS_NAME_MAX + 1];
    char *service;
    char *addr; /* as configured */
    int fd;
    struct watch *watch;
    size_t n_running;      /* instances of this service running now */
    uint64_t last_conn_ms; /* for the idle stop of later slices */
    struct listener *next;
};

struct instance {
    struct activator *a;
    struct listener *l; /* NULL once the listener is gone */
    char vps[VPS_NAME_MAX + 1];
    char *service;
    pid_t pid;
    int pidfd;
    struct watch *watch;
    struct instance *prev, *next;
};

struct activator {
    struct vpsd *d;
    int own_netns_fd; /* vpsd's network namespace, to return to after making a socket */
    struct listener *listeners;
    struct instance *instances;
};

/* ---- configuration ---- */

/* "[tcp:]ip:port" (IPv6 as "[addr]:port", as the config validated) to a socket address;
 * false for udp and unix addresses, which later slices serve. */
static bool tcp_address(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len)
{
    char host[64];
    bool v6;
    const char *colon;
    unsigned long port;

    if (strncmp(s, "udp:", 4) == 0 || strncmp(s, "unix:", 5) == 0)
        return false;
    if (strncmp(s, "tcp:", 4) == 0)
        s += 4;
    v6 = s[0] == '[';
    colon = strrchr(s, ':');
    if (!colon || colon - s < 1 + 2 * v6 || (size_t) (colon - s) >= sizeof host)
        return false;
    (void) snprintf(host, sizeof host, "%.*s", (int) (colon - s - 2 * v6), s + v6);
    port = strtoul(colon + 1, NULL, 10);
    if (port == 0 || port > 65535)
        return false;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) port);
        *ret_len = sizeof *sin6;
        return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    *ret_len = sizeof *sin;
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1;
}

/* Only numeric uids in this slice; no user means root. */
static bool numeric_uid(const char *user, uid_t *ret)
{
    char *end;
    unsigned long v;

    if (!user) {
        *ret = 0;
        return true;
    }
    errno = 0;
    v = strtoul(user, &end, 10);
    if (!isdigit((unsigned char) user[0]) || *end || errno || v >= UINT32_MAX)
        return false;
    *ret = (uid_t) v;
    return true;
}

static const struct vps_service *find_service(const struct vps_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i];
    return NULL;
}

/* Whether c still wants service svc_name to be activated on addr. */
static bool wanted(const struct vps_config *c, const char *svc_name, const char *addr)
{
    const struct vps_service *svc = find_service(c, svc_name);
    uid_t uid;

    return svc && svc->mode == VPS_SERVICE_ACCEPT && vps_strv_contains(&svc->listen, addr) &&
           numeric_uid(svc->user, &uid);
}

/* ---- events ---- */

static void publish(struct activator *a, const char *type, const char *vps,
                    const struct vps_config *c, json_t *fields, const char *text)
{
    cleanup_(vps_config_freep) struct vps_config *loaded = NULL;
    struct vps_error e = {0};

    /* Owners may follow their VPS's events; a VPS destroyed meanwhile has none to tell. */
    if (!c && vps_store_load(&a->d->store, vps, &loaded, &e) == 0)
        c = loaded;
    events_publish(a->d->events, type, vps, fields, c ? c->owners : NULL, c ? c->n_owners : 0,
                   text);
}

static void peer_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
        (void) inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        (void) snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
        (void) inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        (void) snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
    }
}

/* ---- instances: one process per connection ---- */

static void instance_free(struct instance *inst)
{
    watch_remove(inst->watch);
    vps_close(inst->pidfd);
    if (inst->prev)
        inst->prev->next = inst->next;
    else
        inst->a->instances = inst->next;
    if (inst->next)
        inst->next->prev = inst->prev;
    free(inst->service);
    free(inst);
}

static void on_instance_exit(struct watch *w, uint32_t events, void *userdata)
{
    struct instance *inst = userdata;
    siginfo_t si = {0};
    char text[256];

    (void) w, (void) events;
    (void) waitid(P_PIDFD, (id_t) inst->pidfd, &si, WEXITED);
    if (inst->l) {
        inst->l->n_running--;
        inst->l->last_conn_ms = loop_now_ms();
    }
    (void) snprintf(text, sizeof text, "vps '%s': service '%s' (pid %d) exited", inst->vps,
                    inst->service, (int) inst->pid);
    publish(inst->a, "service_exited", inst->vps, NULL,
            json_pack("{s:s, s:i, s:i}", "service", inst->service, "pid", (int) inst->pid,
                      si.si_code == CLD_EXITED ? "exit_code" : "signal", si.si_status),
            text);
    instance_free(inst);
}

static struct instance *instance_new(struct listener *l)
{
    struct instance *inst = calloc(1, sizeof *inst);

    if (!inst)
        return NULL;
    *inst = (struct instance){.a = l->a, .l = l, .pidfd = -1, .service = strdup(l->service)};
    (void) snprintf(inst->vps, sizeof inst->vps, "%s", l->vps);
    if (!inst->service) {
        free(inst);
        return NULL;
    }
    inst->next = l->a->instances;
    if (inst->next)
        inst->next->prev = inst;
    l->a->instances = inst;
    return inst;
}

/* Runs svc's command in the running VPS with conn as its stdin and stdout. */
static int spawn_instance(struct listener *l, const struct vps_config *c,
                          const struct vps_service *svc, int conn, const char *peer,
                          struct vps_error *err)
{
    cleanup_close int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct instance *inst;
    char text[256];
    uid_t uid = 0;

    (void) numeric_uid(svc->user, &uid); /* checked by wanted() */
    struct vps_spawn_exec o = {
        .uid = uid,
        .gid = (gid_t) uid, /* no group database read in this slice */
        .argv = (const char *const *) svc->command.v,
        .envp = svc->env.n ? (const char *const *) svc->env.v : NULL,
        .cwd = svc->cwd,
        .stdio = {conn, conn, devnull},
        .pass_socket = true,
    };
    if (devnull < 0)
        return vps_error_errno(err, errno, "open '/dev/null'");
    if (!(inst = instance_new(l)))
        return vps_error_errno(err, ENOMEM, "activate");
    if (supervisor_exec(l->a->d->sup, l->vps, &o, &inst->pid, &inst->pidfd, err) < 0) {
        instance_free(inst);
        return -1;
    }
    if (loop_watch(l->a->d->loop, inst->pidfd, EPOLLIN, on_instance_exit, inst, &inst->watch, err) <
        0) {
        (void) pidfd_send_signal(inst->pidfd, SIGKILL, NULL, 0);
        (void) waitid(P_PIDFD, (id_t) inst->pidfd, &(siginfo_t){0}, WEXITED);
        instance_free(inst);
        return -1;
    }
    l->n_running++;
    (void) snprintf(text, sizeof text, "vps '%s': service '%s' activated by %s (pid %d)", l->vps,
                    l->service, peer, (int) inst->pid);
    publish(
        l->a, "service_activated", l->vps, c,
        json_pack("{s:s, s:s, s:i}", "service", l->service, "peer", peer, "pid", (int) inst->pid),
        text);
    return 0;
}

static int activate(struct listener *l, int conn, const char *peer, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    struct supervisor *sup = l->a->d->sup;

    if (vps_store_load(&l->a->d->store, l->vps, &c, err) < 0)
        return -1;
    if (!wanted(c, l->service, l->addr))
        return vps_error_set(err, VPS_ERR_CONFLICT, "service no longer listens on '%s'", l->addr);
    switch (supervisor_state(sup, l->vps)) {
    case VPS_RUN_STOPPING:
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is stopping", l->vps);
    case VPS_RUN_STOPPED:
        /* Synchronous in this slice: the loop waits for the start. */
        if (supervisor_start(sup, c, err) < 0)
            return -1;
        break;
    case VPS_RUN_RUNNING:
        break;
    }
    return spawn_instance(l, c, find_service(c, l->service), conn, peer, err);
}

static void on_connection(struct watch *w, uint32_t events, void *userdata)
{
    struct listener *l = userdata;

    (void) w, (void) events;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_storage ss = {0};
        socklen_t len = sizeof ss;
        struct vps_error e = {0};
        char peer[PEER_MAX];
        /* Blocking, as inetd services expect; vpsd's copy is closed once the child has its. */
        cleanup_close int conn = accept4(l->fd, (struct sockaddr *) &ss, &len, SOCK_CLOEXEC);

        if (conn < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (conn < 0) {
            if (errno != EAGAIN)
                log_warning("vps '%s': service '%s': accept on '%s': %s, ignoring", l->vps,
                            l->service, l->addr, strerror(errno));
            return;
        }
        l->last_conn_ms = loop_now_ms();
        peer_text(&ss, peer, sizeof peer);
        if (activate(l, conn, peer, &e) < 0) {
            char msg[sizeof e.msg + 64];
            log_error(LOG_WARNING, &e, "vps '%s': service '%s': activation by %s, dropping it",
                      l->vps, l->service, peer);
            publish(l->a, "service_failed", l->vps, NULL,
                    json_pack("{s:s, s:s, s:s}", "service", l->service, "peer", peer, "error",
                              vps_error_format(&e, msg, sizeof msg)),
                    NULL);
        }
    }
}

/* ---- listeners ---- */

/* A socket belongs for good to the network namespace its creator was in when socket() ran;
 * bind() and listen() then act in that namespace wherever vpsd is. So only socket() is made
 * inside the VPS's namespace: setns() moves the calling thread, which in vpsd (one thread)
 * is all of it, for that one call. */
static int socket_in(struct activator *a, int netns_fd, int family, int *ret_fd,
                     struct vps_error *err)
{
    int fd, saved;

    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return vps_error_errno(err, errno, "enter network namespace");
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    saved = errno;
    if (setns(a->own_netns_fd, CLONE_NEWNET) < 0) {
        /* Going back to a namespace we were in, with the capabilities that just let us leave
         * it, fails only if the kernel cannot allocate an nsproxy. Carrying on would put
         * every later socket of vpsd inside a VPS's namespace, whose root controls its
         * routes: not an error to hand up, so the process ends here. */
        abort();
    }
    if (fd < 0)
        return vps_error_errno(err, saved, "socket");
    *ret_fd = fd;
    return 0;
}

static int listen_on(struct activator *a, int netns_fd, const char *addr, int *ret_fd,
                     struct vps_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cleanup_close int fd = -1;
    int one = 1;

    if (!tcp_address(addr, &ss, &len))
        return vps_error_set(err, VPS_ERR_INVALID, "'%s' is not a tcp address", addr);
    if (socket_in(a, netns_fd, ss.ss_family, &fd, err) < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return vps_error_errno(err, errno, "SO_REUSEADDR");
    if (bind(fd, (struct sockaddr *) &ss, len) < 0)
        return vps_error_errno(err, errno, "bind '%s'", addr);
    if (listen(fd, SOMAXCONN) < 0)
        return vps_error_errno(err, errno, "listen on '%s'", addr);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static void listener_free(struct activator *a, struct listener *l)
{
    for (struct listener **p = &a->listeners; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    for (struct instance *inst = a->instances; inst; inst = inst->next)
        if (inst->l == l)
            inst->l = NULL;
    watch_remove(l->watch);
    vps_close(l->fd);
    free(l->service);
    free(l->addr);
    free(l);
}

static struct listener *find_listener(struct activator *a, const char *vps, const char *service,
                                      const char *addr)
{
    for (struct listener *l = a->listeners; l; l = l->next)
        if (strcmp(l->vps, vps) == 0 && strcmp(l->service, service) == 0 &&
            strcmp(l->addr, addr) == 0)
            return l;
    return NULL;
}

static int add_listener(struct activator *a, const char *vps, const char *service, const char *addr,
                        int netns_fd, struct vps_error *err)
{
    struct listener *l = calloc(1, sizeof *l);

    if (!l)
        return vps_error_errno(err, ENOMEM, "listen");
    *l = (struct listener){.a = a, .fd = -1, .service = strdup(service), .addr = strdup(addr)};
    (void) snprintf(l->vps, sizeof l->vps, "%s", vps);
    l->next = a->listeners;
    a->listeners = l;
    if (!l->service || !l->addr) {
        listener_free(a, l);
        return vps_error_errno(err, ENOMEM, "listen");
    }
    if (listen_on(a, netns_fd, addr, &l->fd, err) < 0 ||
        loop_watch(a->d->loop, l->fd, EPOLLIN, on_connection, l, &l->watch, err) < 0) {
        listener_free(a, l);
        return -1;
    }
    log_info("vps '%s': service '%s' listens on '%s'", vps, service, addr);
    return 0;
}

/* Binds one entry, opening the pinned namespace on first need; false: give up on the VPS. */
static bool bind_entry(struct activator *a, const struct vps_config *c,
                       const struct vps_service *svc, const char *addr, int *netns_fd)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct vps_error e = {0};
    uid_t uid;

    if (!tcp_address(addr, &ss, &len) || find_listener(a, c->name, svc->name, addr))
        return true;
    if (!numeric_uid(svc->user, &uid)) {
        log_warning("vps '%s': service '%s': user '%s': only numeric uids can be activated yet, "
                    "not listening on '%s'",
                    c->name, svc->name, svc->user, addr);
        return true;
    }
    if (*netns_fd < 0 && supervisor_open_pinned_netns(a->d->sup, c->name, netns_fd, &e) < 0) {
        if (e.code != VPS_ERR_NOT_FOUND) /* never started: bound at its first start */
            log_error(LOG_WARNING, &e, "vps '%s': activation", c->name);
        return false;
    }
    if (add_listener(a, c->name, svc->name, addr, *netns_fd, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': service '%s': not listening%s", c->name, svc->name,
                  e.errnum == EADDRNOTAVAIL ? " (not an address of the vps)" : "");
    return true;
}

void activator_bind_vps(struct activator *a, const struct vps_config *c)
{
    cleanup_close int netns_fd = -1;
    struct listener *next;

    if (!a)
        return;
    for (struct listener *l = a->listeners; l; l = next) {
        next = l->next;
        if (strcmp(l->vps, c->name) == 0 && !wanted(c, l->service, l->addr))
            listener_free(a, l);
    }
    for (size_t i = 0; i < c->n_services; i++) {
        const struct vps_service *svc = &c->services[i];
        if (svc->mode != VPS_SERVICE_ACCEPT)
            continue;
        for (size_t j = 0; j < svc->listen.n; j++)
            if (!bind_entry(a, c, svc, svc->listen.v[j], &netns_fd))
                return;
    }
}

void activator_unbind_vps(struct activator *a, const char *name)
{
    struct listener *next;

    if (!a)
        return;
    for (struct listener *l = a->listeners; l; l = next) {
        next = l->next;
        if (strcmp(l->vps, name) == 0)
            listener_free(a, l);
    }
}

/* ---- life cycle ---- */

static void bind_all(struct activator *a)
{
    struct vps_strv names = {0};
    struct vps_error e = {0};

    if (vps_store_list(&a->d->store, &names, &e) < 0) {
        log_error(LOG_WARNING, &e, "activation: list VPSes, ignoring");
        return;
    }
    for (size_t i = 0; i < names.n; i++) {
        cleanup_(vps_config_freep) struct vps_config *c = NULL;
        e = (struct vps_error){0};
        if (vps_store_load(&a->d->store, names.v[i], &c, &e) < 0)
            log_error(LOG_WARNING, &e, "activation: vps '%s', ignoring", names.v[i]);
        else
            activator_bind_vps(a, c);
    }
    vps_strv_free(&names);
}

int activator_new(struct vpsd *d, struct activator **ret, struct vps_error *err)
{
    struct activator *a = calloc(1, sizeof *a);

    if (!a)
        return vps_error_errno(err, ENOMEM, "activator");
    *a = (struct activator){.d = d};
    /* Through thread-self: setns() moves only the calling thread. */
    a->own_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (a->own_netns_fd < 0) {
        free(a);
        return vps_error_errno(err, errno, "open the own network namespace");
    }
    bind_all(a);
    *ret = a;
    return 0;
}

void activator_free(struct activator *a)
{
    if (!a)
        return;
    while (a->listeners)
        listener_free(a, a->listeners);
    while (a->instances) /* they keep running, like the VPSes */
        instance_free(a->instances);
    vps_close(a->own_netns_fd);
    free(a);
}

/* ---- placeholders of the next slice ---- */

int activator_deliver(struct activator *a, const char *vps, const char *service, int conn,
                      const char *peer, struct vps_error *err)
{
    (void) a, (void) vps, (void) service, (void) peer;
    vps_close(conn);
    return vps_error_set(err, VPS_ERR_CONFLICT, "delivery from fronts is not there yet");
}

json_t *activator_service_status(struct activator *a, const char *vps, const char *service)
{
    (void) a, (void) vps, (void) service;
    return json_pack("{s:s}", "state", "idle");
}

int activator_service_start(struct activator *a, const struct vps_config *c, const char *service,
                            struct vps_error *err)
{
    (void) a, (void) c, (void) service;
    return vps_error_set(err, VPS_ERR_CONFLICT, "not there yet");
}

int activator_service_stop(struct activator *a, const char *vps, const char *service,
                           struct vps_error *err)
{
    (void) a, (void) vps, (void) service;
    return vps_error_set(err, VPS_ERR_CONFLICT, "not there yet");
}

void activator_vps_stopped(struct activator *a, const char *name)
{
    (void) a, (void) name;
}
