/* On-demand activation (activator.h, DESIGN.md "On-demand activation"): for each service of
 * each VPS a unit that holds the service's listening sockets inside the VPS's pinned network
 * namespace (so they exist while the VPS is stopped), starts the VPS and the service when a
 * request arrives, and stops the service again when it has been idle.
 *
 * Modes:
 *   accept  a process per connection (inetd style): the connection on stdin and stdout and
 *           as fd 3 with LISTEN_FDS=1. UDP addresses are handed over whole, like "listen"
 *           (inetd's "wait"): datagrams have no connection to give away.
 *   listen  the listening socket handed over as fd 3 (systemd style); while the service
 *           runs vpsd does not watch the socket, the service accepts. Idle: no established
 *           connection on the port (the VPS's /proc/net/tcp{,6}) and an empty accept queue
 *           for idle_timeout.
 *   proxy   one long-running process that listens on proxy_to inside the VPS; vpsd accepts,
 *           connects to proxy_to (retrying while the service is still starting, so no
 *           connection is lost to a cold start) and relays with splice() (libvps/relay.c).
 *
 * Failures: a process that fails three times in a row puts its unit into back-off (1 s,
 * doubling up to 60 s) in which new connections are closed at once (listen mode: they wait in
 * the accept queue instead). restart "on-failure"/"always" restarts the long-running process
 * of listen and proxy mode after it ended (with the same back-off).
 *
 * autostop: a VPS that has served an activation since it started is stopped once none of its
 * services has a process, connection or parked request and each has been idle for its
 * idle_timeout. Connections that arrive while a VPS stops are parked and served by starting
 * it again.
 *
 * The start of a stopped VPS is synchronous (tens of ms): the loop waits, connections wait in
 * the kernel's accept queues meanwhile. Time-driven work runs on one timerfd tick (100 ms)
 * that is armed only while some unit has something running, parked or backing off: an idle
 * host costs nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

static const char *const state_names[] = {
    [UNIT_IDLE] = "idle",
    [UNIT_RUNNING] = "running",
    [UNIT_STOPPING] = "stopping",
    [UNIT_BACKOFF] = "backoff",
};

/* ---- lookups ---- */

const struct vps_service *find_service(const struct vps_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i];
    return NULL;
}

static struct unit *find_unit(struct activator *a, const char *vps, const char *name)
{
    for (struct unit *u = a->units; u; u = u->next)
        if (!u->gone && strcmp(u->vps, vps) == 0 && strcmp(u->name, name) == 0)
            return u;
    return NULL;
}

/* ---- events ---- */

void publish(struct activator *a, const char *type, const char *vps, const struct vps_config *c,
             json_t *fields, const char *text)
{
    cleanup_(vps_config_freep) struct vps_config *loaded = NULL;
    struct vps_error e = {0};

    /* Owners may follow their VPS's events; a VPS destroyed meanwhile has none to tell. */
    if (!c && vps_store_load(&a->d->store, vps, &loaded, &e) == 0)
        c = loaded;
    events_publish(a->d->events, type, vps, fields, c ? c->owners : NULL, c ? c->n_owners : 0,
                   text);
}

void publish_failed(struct unit *u, const char *peer, const struct vps_error *e)
{
    char msg[sizeof e->msg + 64];

    char text[sizeof msg + 160];

    vps_error_format(e, msg, sizeof msg);
    (void) snprintf(text, sizeof text, "vps '%s': service '%s': %s%s%s", u->vps, u->name, msg,
                    peer ? ", dropping " : "", peer ? peer : "");
    publish(u->a, "service_failed", u->vps, NULL,
            peer ? json_pack("{s:s, s:s, s:s}", "service", u->name, "peer", peer, "error", msg)
                 : json_pack("{s:s, s:s}", "service", u->name, "error", msg),
            text);
}

/* ---- activation ---- */

void activated(struct unit *u, const struct vps_config *c, const char *peer, pid_t pid)
{
    uint64_t now = loop_now_ms();
    char text[256];
    json_t *f;

    u->st.activations++;
    u->served = true;
    u->last_activity_ms = now;
    f = json_pack("{s:s, s:i}", "service", u->name, "pid", (int) pid);
    if (peer)
        (void) json_object_set_new(f, "peer", json_string(peer));
    if (u->cold_since_ms) {
        uint64_t cold = since(now, u->cold_since_ms);
        u->st.cold_last_ms = cold;
        if (cold > u->st.cold_max_ms)
            u->st.cold_max_ms = cold;
        (void) json_object_set_new(f, "cold_start_ms", json_integer((json_int_t) cold));
        u->cold_since_ms = 0;
    }
    (void) snprintf(text, sizeof text, "vps '%s': service '%s' activated%s%s (pid %d)", u->vps,
                    u->name, peer ? " by " : "", peer ? peer : "", (int) pid);
    publish(u->a, "service_activated", u->vps, c, f, text);
    arm(u->a);
}

/* Loads the config and checks that the service is still wanted; the VPS started if needed.
 * 1: ready; 0: the VPS is stopping (park the request); -1: error. */
int prepare(struct unit *u, struct vps_config **ret, const struct vps_service **ret_svc,
            struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    struct supervisor *sup = u->a->d->sup;

    if (vps_store_load(&u->a->d->store, u->vps, &c, err) < 0)
        return -1;
    if (!(*ret_svc = find_service(c, u->name)))
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "service '%s' of vps '%s' does not exist",
                             u->name, u->vps);
    switch (supervisor_state(sup, u->vps)) {
    case VPS_RUN_STOPPING:
        return 0;
    case VPS_RUN_STOPPED:
        if (!u->cold_since_ms)
            u->cold_since_ms = loop_now_ms();
        if (supervisor_start(sup, c, err) < 0)
            return -1;
        break;
    case VPS_RUN_RUNNING:
        break;
    }
    *ret = TAKE_PTR(c);
    return 1;
}

static void park(struct unit *u, int conn, const char *peer)
{
    struct parked *p = calloc(1, sizeof *p);

    if (!p) {
        close(conn);
        return;
    }
    *p = (struct parked){.fd = conn, .arrived_ms = loop_now_ms(), .next = u->parked};
    u->n_parked++;
    (void) snprintf(p->peer, sizeof p->peer, "%s", peer);
    u->parked = p;
    log_debug("vps '%s': service '%s': %s waits for the vps to stop and start again", u->vps,
              u->name, peer);
    arm(u->a);
}

/* A connection for u (from its own listener or a front). Takes conn. */
int handle_connection(struct unit *u, int conn, const char *peer, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    cleanup_close int fd = conn;
    const struct vps_service *svc;
    struct instance *inst;
    int r;

    u->st.connections_total++;
    u->last_activity_ms = loop_now_ms();
    /* Every connection held costs vpsd fds (a proxied one six, and pipe pages): a bound per
     * service, so a flood — or a VPS connecting to itself — cannot run vpsd out of fds. */
    if (u->n_pconns + u->n_instances + u->n_parked >= UNIT_CONNECTIONS_MAX) {
        u->st.dropped++;
        if (since(loop_now_ms(), u->drop_logged_ms) >= 10000) {
            u->drop_logged_ms = loop_now_ms();
            log_warning("vps '%s': service '%s': %d connections held, dropping new ones "
                        "(%" PRIu64 " so far)",
                        u->vps, u->name, UNIT_CONNECTIONS_MAX, u->st.dropped);
        }
        return 0; /* not an error event per connection: that would flood the events too */
    }
    if (u->state == UNIT_BACKOFF)
        return vps_error_set(err, VPS_ERR_UNAVAILABLE,
                             "service '%s' is backing off after %u "
                             "failures",
                             u->name, u->fails_in_row);
    if (u->state == UNIT_IDLE && !u->cold_since_ms)
        u->cold_since_ms = loop_now_ms();
    if ((r = prepare(u, &c, &svc, err)) < 0)
        return -1;
    if (r == 0) {
        park(u, TAKE_FD(fd), peer);
        return 0;
    }
    if (svc->mode == VPS_SERVICE_PROXY) {
        if (!main_instance(u) && start_main(u, c, svc, peer, err) < 0) {
            count_failure(u);
            return -1;
        }
        return proxy_connection(u, TAKE_FD(fd), peer, err);
    }
    /* accept mode (a front never delivers to listen mode: the config forbids the rule) */
    if (spawn(u, svc, fd, fd, false, &inst, err) < 0) {
        count_failure(u);
        return -1;
    }
    inst->conn = TAKE_FD(fd); /* kept for its byte counts until the process ends */
    activated(u, c, peer, inst->pid);
    return 0;
}

/* ---- the main process of listen and proxy mode ---- */

/* The main process of listen and proxy mode (and UDP accept mode): started with the unit's
 * first socket to hand over as fd 3, if any. */
int start_main(struct unit *u, const struct vps_config *c, const struct vps_service *svc,
               const char *peer, struct vps_error *err)
{
    struct listener *give = NULL;
    struct instance *inst;

    for (struct listener *l = u->listeners; l && !give; l = l->next)
        if (hands_over(u, l) && l->fd >= 0)
            give = l;
    if (spawn(u, svc, give && give->udp ? give->fd : -1, give ? give->fd : -1, true, &inst, err) <
        0)
        return -1;
    for (struct listener *l = u->listeners; l; l = l->next)
        if (hands_over(u, l))
            unwatch_listener(l); /* the service accepts or reads now */
    u->restart_at_ms = 0;
    if (u->mode != VPS_SERVICE_PROXY)
        activated(u, c, peer, inst->pid);
    return 0;
}

/* ---- stopping ---- */

static void stop_unit(struct unit *u, const char *reason)
{
    char text[256];

    if (u->state == UNIT_STOPPING)
        return;
    (void) snprintf(text, sizeof text, "vps '%s': service '%s' stopped (%s)", u->vps, u->name,
                    reason);
    publish(u->a, "service_stopped", u->vps, NULL,
            json_pack("{s:s, s:s}", "service", u->name, "reason", reason), text);
    while (u->pconns)
        pconn_free(u->pconns);
    u->restart_at_ms = 0;
    if (u->n_instances == 0) {
        u->state = UNIT_IDLE;
        return;
    }
    u->state = UNIT_STOPPING;
    u->kill_at_ms = loop_now_ms() + STOP_KILL_MS;
    signal_all(u, SIGTERM);
    arm(u->a);
}

static void unit_free(struct unit *u)
{
    struct activator *a = u->a;

    for (struct unit **p = &a->units; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            break;
        }
    while (u->listeners)
        listener_free(u->listeners);
    while (u->pconns)
        pconn_free(u->pconns);
    while (u->instances) /* they keep running, like the VPSes (activator_free only) */
        instance_free(u->instances);
    while (u->parked) {
        struct parked *p = u->parked;
        u->parked = p->next;
        close(p->fd);
        free(p);
    }
    vps_close(u->netns_fd);
    vps_close(u->log_fd);
    free(u->name);
    free(u);
}

/* Frees a unit no longer configured once nothing of it runs. */
void unit_reap(struct unit *u)
{
    if (u->gone && !unit_busy(u))
        unit_free(u);
}

/* ---- the tick: idle stops, kills, back-off ends, restarts, retries, autostop ---- */

static void restart_main(struct unit *u)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    const struct vps_service *svc;
    struct vps_error e = {0};
    int r;

    u->restart_at_ms = 0;
    /* A restart keeps a service up in a running VPS; it never starts a VPS that stopped (or
     * powered itself off) — the next request does. */
    if (main_instance(u) || supervisor_state(u->a->d->sup, u->vps) != VPS_RUN_RUNNING)
        return;
    r = prepare(u, &c, &svc, &e);
    if (r == 0) {
        u->restart_at_ms = loop_now_ms() + TICK_MS;
        return;
    }
    if (r < 0 || start_main(u, c, svc, NULL, &e) < 0) {
        publish_failed(u, NULL, &e);
        count_failure(u);
        if (u->state != UNIT_BACKOFF)
            u->restart_at_ms = loop_now_ms() + BACKOFF_MIN_MS;
        return;
    }
    log_info("vps '%s': service '%s' restarted", u->vps, u->name);
}

/* Parked connections and handed-over sockets whose VPS has stopped meanwhile. */
static void unpark(struct unit *u)
{
    struct parked *list = u->parked;

    if (supervisor_state(u->a->d->sup, u->vps) == VPS_RUN_STOPPING)
        return;
    u->parked = NULL;
    u->n_parked = 0;
    while (list) {
        struct parked *p = list;
        struct vps_error e = {0};
        list = p->next;
        u->st.connections_total--; /* counted when it arrived; handle_connection counts again */
        if (handle_connection(u, p->fd, p->peer, &e) < 0)
            publish_failed(u, p->peer, &e);
        free(p);
    }
}

static bool unit_tick(struct unit *u, uint64_t now)
{
    struct instance *m = main_instance(u);
    bool active = false;

    cap_log(u);
    if (u->parked) {
        unpark(u);
        active = true;
    }
    if (u->state == UNIT_STOPPING) {
        if (now >= u->kill_at_ms)
            signal_all(u, SIGKILL);
        return true;
    }
    if (u->state == UNIT_BACKOFF) {
        if (now < u->backoff_until_ms)
            return true;
        u->state = u->n_instances ? UNIT_RUNNING : UNIT_IDLE;
        if (u->mode != VPS_SERVICE_ACCEPT && u->restart != VPS_RESTART_NO && !m)
            u->restart_at_ms = now;
        watch_listeners(u);
    }
    if (u->restart_at_ms && now >= u->restart_at_ms)
        restart_main(u);
    for (struct pconn *p = u->pconns, *next; p; p = next) {
        struct vps_error e = {0};
        bool late = since(now, p->arrived_ms) >= PROXY_CONNECT_TIMEOUT_MS;
        next = p->next;
        if (p->relay || (p->wu && !late)) /* a connect in progress gets the same deadline */
            continue;
        if (!main_instance(u) || late) {
            vps_error_set(&e, VPS_ERR_UNAVAILABLE, "the service did not accept on its proxy_to");
            publish_failed(u, p->peer, &e);
            pconn_free(p);
        } else if (now >= p->retry_at_ms && connect_upstream(p, &e) < 0) {
            publish_failed(u, p->peer, &e);
            pconn_free(p);
        }
    }
    /* Handed-over sockets left unwatched while the VPS was stopping; sockets vpsd accepts on
     * that it paused for want of fds. */
    if (u->state == UNIT_IDLE && !main_instance(u))
        watch_listeners(u);
    if (u->state != UNIT_BACKOFF && !watch_paused_listeners(u))
        active = true; /* try again at the next tick */
    m = main_instance(u);
    if (m) {
        bool busy = u->n_pconns > 0 || (u->mode == VPS_SERVICE_LISTEN && !listen_idle(u));
        if (busy)
            u->last_activity_ms = now;
        else if (u->idle_timeout_ms && since(now, u->last_activity_ms) >= u->idle_timeout_ms)
            stop_unit(u, "idle");
    }
    return active || unit_busy(u) || u->restart_at_ms || u->state != UNIT_IDLE;
}

/* A VPS whose services are all quiet and past their idle timeouts; autostop set and at
 * least one activation since it started. */
static bool vps_quiet(struct activator *a, const char *vps, uint64_t now, bool *ret_pending)
{
    bool served = false;

    for (struct unit *u = a->units; u; u = u->next) {
        if (strcmp(u->vps, vps) != 0)
            continue;
        if (!u->autostop)
            return false;
        served |= u->served;
        if (unit_busy(u) || u->state == UNIT_STOPPING || u->restart_at_ms)
            return false;
        if (u->served && since(now, u->last_activity_ms) < u->idle_timeout_ms) {
            *ret_pending = true;
            return false;
        }
    }
    return served;
}

static void autostop(struct activator *a, uint64_t now, bool *ret_active)
{
    for (struct unit *u = a->units; u; u = u->next) {
        struct vps_error e = {0};
        char text[160];
        bool pending = false;

        if (!u->autostop || !u->served || supervisor_state(a->d->sup, u->vps) != VPS_RUN_RUNNING)
            continue;
        if (!vps_quiet(a, u->vps, now, &pending)) {
            *ret_active |= pending;
            continue;
        }
        (void) snprintf(text, sizeof text, "vps '%s': no service active, stopping (autostop)",
                        u->vps);
        publish(a, "vps_autostop", u->vps, NULL, NULL, text);
        if (supervisor_stop(a->d->sup, u->vps, AUTOSTOP_TIMEOUT_MS, false, &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': autostop", u->vps);
        for (struct unit *v = a->units; v; v = v->next)
            if (strcmp(v->vps, u->vps) == 0)
                v->served = false;
    }
}

static void on_tick(struct watch *w, uint32_t events, void *userdata)
{
    struct activator *a = userdata;
    uint64_t expirations, now = loop_now_ms();
    bool active = false;

    (void) w, (void) events;
    (void) read(a->timer_fd, &expirations, sizeof expirations);
    for (struct unit *u = a->units, *next; u; u = next) {
        next = u->next;
        active |= unit_tick(u, now);
    }
    autostop(a, now, &active);
    for (struct unit *u = a->units, *next; u; u = next) {
        next = u->next;
        unit_reap(u);
    }
    if (!active) {
        (void) timerfd_settime(a->timer_fd, 0, &(struct itimerspec){0}, NULL);
        a->ticking = false;
    }
}

void arm(struct activator *a)
{
    struct itimerspec its = {
        .it_value = {.tv_nsec = TICK_MS * 1000000L},
        .it_interval = {.tv_nsec = TICK_MS * 1000000L},
    };

    if (a->ticking)
        return;
    if (timerfd_settime(a->timer_fd, 0, &its, NULL) == 0)
        a->ticking = true;
}

/* ---- configuration ---- */

static struct unit *unit_new(struct activator *a, const char *vps, const char *name)
{
    struct unit *u = calloc(1, sizeof *u);

    if (!u || !(u->name = strdup(name))) {
        free(u);
        return NULL;
    }
    u->a = a;
    u->netns_fd = u->log_fd = -1;
    (void) snprintf(u->vps, sizeof u->vps, "%s", vps);
    u->next = a->units;
    a->units = u;
    return u;
}

/* First pass of a (re)configuration: closes the sockets svc no longer has (all of them on a
 * mode change: their use differs, handed over or accepted) and takes its settings. Every
 * unit of the VPS does this before any binds, so an address moving from one service to
 * another is free when the second binds it. */
static void unit_configure(struct unit *u, const struct vps_config *c,
                           const struct vps_service *svc)
{
    struct listener *next;
    bool mode_changed = u->mode != svc->mode && u->listeners;

    for (struct listener *l = u->listeners; l; l = next) {
        next = l->next;
        if (mode_changed || !vps_strv_contains(&svc->listen, l->addr)) {
            u->generation++;
            listener_free(l);
        }
    }
    u->mode = svc->mode;
    u->idle_timeout_ms = svc->idle_timeout_ms;
    u->restart = svc->restart;
    u->autostop = c->autostop;
}

/* Second pass: binds what svc lists and u does not hold yet. */
static void unit_bind(struct unit *u, const struct vps_service *svc)
{
    for (size_t j = 0; j < svc->listen.n; j++)
        if (!add_listener(u, svc->listen.v[j]))
            return;
}

void activator_bind_vps(struct activator *a, const struct vps_config *c)
{
    if (!a)
        return;
    for (struct unit *u = a->units, *next; u; u = next) {
        next = u->next;
        if (strcmp(u->vps, c->name) != 0 || u->gone || find_service(c, u->name))
            continue;
        /* No longer configured: sockets closed now, processes stopped, freed when gone. */
        u->gone = true;
        u->generation++;
        while (u->listeners)
            listener_free(u->listeners);
        if (unit_busy(u))
            stop_unit(u, "removed");
        unit_reap(u);
    }
    for (size_t i = 0; i < c->n_services; i++) {
        const struct vps_service *svc = &c->services[i];
        struct unit *u = find_unit(a, c->name, svc->name);
        if (!u && !(u = unit_new(a, c->name, svc->name))) {
            log_warning("vps '%s': service '%s': out of memory", c->name, svc->name);
            continue;
        }
        unit_configure(u, c, svc);
    }
    for (size_t i = 0; i < c->n_services; i++) {
        struct unit *u = find_unit(a, c->name, c->services[i].name);
        if (u)
            unit_bind(u, &c->services[i]);
    }
}

void activator_unbind_vps(struct activator *a, const char *name)
{
    if (!a)
        return;
    for (struct unit *u = a->units, *next; u; u = next) {
        next = u->next;
        if (strcmp(u->vps, name) == 0)
            unit_free(u);
    }
}

void activator_vps_stopped(struct activator *a, const char *name)
{
    if (!a)
        return;
    for (struct unit *u = a->units; u; u = u->next)
        if (strcmp(u->vps, name) == 0) {
            u->served = false;
            if (u->parked || !main_instance(u))
                arm(a); /* parked requests start it again from the tick, not from here */
        }
}

/* ---- API ---- */

int activator_deliver(struct activator *a, const char *vps, const char *service, int conn,
                      const char *peer, struct vps_error *err)
{
    struct unit *u = a ? find_unit(a, vps, service) : NULL;

    if (!u || u->mode == VPS_SERVICE_LISTEN) {
        char text[sizeof err->msg + 160];
        vps_close(conn);
        if (!u)
            vps_error_set(err, VPS_ERR_NOT_FOUND, "service '%s' of vps '%s' does not exist",
                          service, vps);
        else /* the config refuses match rules in listen mode: a programmer's error */
            vps_error_set(err, VPS_ERR_INVALID, "service '%s' is in listen mode", service);
        (void) snprintf(text, sizeof text, "vps '%s': service '%s': %s, dropping %s", vps, service,
                        err->msg, peer);
        publish(a, "service_failed", vps, NULL,
                json_pack("{s:s, s:s, s:s}", "service", service, "peer", peer, "error", err->msg),
                text);
        return -1;
    }
    if (handle_connection(u, conn, peer, err) < 0) {
        publish_failed(u, peer, err);
        return -1;
    }
    return 0;
}

json_t *activator_service_status(struct activator *a, const char *vps, const char *service)
{
    struct unit *u = a ? find_unit(a, vps, service) : NULL;
    static const struct stats zero;
    const struct stats *st = u ? &u->st : &zero;
    json_t *j, *pids = json_array(), *listening = json_array();

    for (struct instance *i = u ? u->instances : NULL; i; i = i->next)
        (void) json_array_append_new(pids, json_integer(i->pid));
    for (struct listener *l = u ? u->listeners : NULL; l; l = l->next)
        (void) json_array_append_new(listening, json_string(l->addr));
    j = json_pack("{s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "state",
                  state_names[u ? u->state : UNIT_IDLE], "pids", pids, "listening", listening,
                  "stats", "activations", (json_int_t) st->activations, "connections_active",
                  (json_int_t) (!u                              ? 0
                                : u->mode == VPS_SERVICE_PROXY  ? u->n_pconns
                                : u->mode == VPS_SERVICE_ACCEPT ? u->n_instances
                                                                : listen_connections(u)),
                  "connections_total", (json_int_t) st->connections_total, "bytes_in",
                  (json_int_t) st->bytes_in, "bytes_out", (json_int_t) st->bytes_out, "failures",
                  (json_int_t) st->failures, "cold_start_ms_last", (json_int_t) st->cold_last_ms,
                  "cold_start_ms_max", (json_int_t) st->cold_max_ms, "dropped",
                  (json_int_t) st->dropped);
    if (j && u && u->state == UNIT_BACKOFF)
        (void) json_object_set_new(
            j, "backoff_until_ms",
            json_integer((json_int_t) since(u->backoff_until_ms, loop_now_ms())));
    return j;
}

int activator_service_start(struct activator *a, const struct vps_config *c, const char *service,
                            struct vps_error *err)
{
    struct unit *u = a ? find_unit(a, c->name, service) : NULL;
    cleanup_(vps_config_freep) struct vps_config *loaded = NULL;
    const struct vps_service *svc = find_service(c, service);
    int r;

    if (!svc || !u)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "service '%s' of vps '%s' does not exist",
                             service, c->name);
    if (main_instance(u) || u->state == UNIT_STOPPING)
        return vps_error_set(err, VPS_ERR_CONFLICT, "service '%s' is %s", service,
                             main_instance(u) ? "running" : "stopping");
    if (svc->mode == VPS_SERVICE_ACCEPT) {
        bool udp = false;
        for (struct listener *l = u->listeners; l; l = l->next)
            udp |= l->udp;
        if (!udp)
            return vps_error_set(err, VPS_ERR_CONFLICT,
                                 "service '%s' runs a process per connection: nothing to start",
                                 service);
    }
    if ((r = prepare(u, &loaded, &svc, err)) < 0)
        return -1;
    if (r == 0)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is stopping", c->name);
    if (u->state == UNIT_BACKOFF) /* an operator's start ends the back-off */
        u->state = UNIT_IDLE;
    u->fails_in_row = 0;
    if (start_main(u, loaded, svc, NULL, err) < 0)
        return -1;
    if (svc->mode == VPS_SERVICE_PROXY)
        activated(u, loaded, NULL, main_instance(u)->pid);
    return 0;
}

int activator_service_stop(struct activator *a, const char *vps, const char *service,
                           struct vps_error *err)
{
    struct unit *u = a ? find_unit(a, vps, service) : NULL;

    if (!u)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "service '%s' of vps '%s' does not exist",
                             service, vps);
    if (u->state == UNIT_BACKOFF && !unit_busy(u)) {
        u->state = UNIT_IDLE; /* stopping a backing-off service ends the back-off */
        u->fails_in_row = 0;
        watch_listeners(u);
        return 0;
    }
    if (!unit_busy(u) || u->state == UNIT_STOPPING)
        return vps_error_set(err, VPS_ERR_CONFLICT, "service '%s' of vps '%s' is not running",
                             service, vps);
    stop_unit(u, "request");
    return 0;
}

/* ---- life cycle ---- */

static void bind_one(const char *name, const struct vps_config *c, const struct vps_error *e,
                     void *userdata)
{
    if (c)
        activator_bind_vps(userdata, c);
    else
        log_error(LOG_WARNING, e, "activation: vps '%s', ignoring", name);
}

static void bind_all(struct activator *a)
{
    struct vps_error e = {0};

    if (vps_store_foreach(&a->d->store, bind_one, a, &e) < 0)
        log_error(LOG_WARNING, &e, "activation: list VPSes, ignoring");
}

int activator_new(struct vpsd *d, struct activator **ret, struct vps_error *err)
{
    struct activator *a = calloc(1, sizeof *a);

    if (!a)
        return vps_error_errno(err, ENOMEM, "activator");
    *a = (struct activator){.d = d, .timer_fd = -1};
    /* Through thread-self: setns() moves only the calling thread. */
    a->own_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (a->own_netns_fd < 0) {
        free(a);
        return vps_error_errno(err, errno, "open the own network namespace");
    }
    a->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (a->timer_fd < 0 ||
        loop_watch(d->loop, a->timer_fd, EPOLLIN, on_tick, a, &a->timer_watch, err) < 0) {
        if (a->timer_fd < 0)
            vps_error_errno(err, errno, "timerfd");
        vps_close(a->timer_fd);
        close(a->own_netns_fd);
        free(a);
        return -1;
    }
    if (loop_add_prepare(d->loop, relay_pending, relay_again, a, err) < 0) {
        watch_remove(a->timer_watch);
        close(a->timer_fd);
        close(a->own_netns_fd);
        free(a);
        return -1;
    }
    bind_all(a);
    *ret = a;
    return 0;
}

void activator_free(struct activator *a)
{
    if (!a)
        return;
    /* The long-running process of a listen or proxy service holds a socket (or needs the
     * relay) of this vpsd: a new vpsd could neither bind that address nor stop it when idle.
     * It is on-demand anyway, so it ends with vpsd; processes per connection (accept mode)
     * serve their clients to the end, as VPSes outlive vpsd. */
    for (struct unit *u = a->units; u; u = u->next) {
        struct instance *m = main_instance(u);
        if (m)
            (void) pidfd_send_signal(m->pidfd, SIGTERM, NULL, 0);
    }
    while (a->units)
        unit_free(a->units);
    watch_remove(a->timer_watch);
    vps_close(a->timer_fd);
    vps_close(a->own_netns_fd);
    free(a);
}
