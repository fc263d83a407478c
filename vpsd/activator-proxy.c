/* Proxy mode (activator-internal.h): a connection accepted by vpsd is connected to the
 * service's proxy_to inside the VPS — retried while a cold service is still starting — and
 * relayed with splice() (libvps/relay.c); relays over their budget and due retries run from
 * the loop's prepare hook. */
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

static void on_relay(struct watch *w, uint32_t events, void *userdata);

/* Sets or clears (at 0) when p tries to connect to its service again. */
void set_retry(struct pconn *p, uint64_t at)
{
    p->u->a->n_retrying += (at != 0) - (p->retry_at_ms != 0);
    p->retry_at_ms = at;
}

void pconn_free(struct pconn *p)
{
    struct unit *u = p->u;

    for (struct pconn **q = &u->pconns; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    u->n_pconns--;
    u->last_activity_ms = loop_now_ms();
    set_retry(p, 0);
    for (struct pconn **list = &u->a->again; p->again && list;
         list = list == &u->a->again ? &u->a->again_running : NULL)
        for (struct pconn **q = list; *q; q = &(*q)->again_next)
            if (*q == p) {
                *q = p->again_next;
                p->again = false;
                break;
            }
    watch_remove(p->wc);
    watch_remove(p->wu);
    if (p->relay) {
        struct vps_relay_stats rs;
        vps_relay_get_stats(p->relay, &rs);
        u->st.bytes_in += rs.a_to_b;
        u->st.bytes_out += rs.b_to_a;
        vps_relay_free(p->relay); /* closes both sockets */
    } else {
        vps_close(p->client);
        vps_close(p->upstream);
    }
    free(p);
}

static void on_relay(struct watch *w, uint32_t events, void *userdata)
{
    struct pconn *p = userdata;
    struct vps_error e = {0};
    int r;

    (void) w, (void) events;
    r = vps_relay_run(p->relay, &e);
    if (r == 2 && !p->again) { /* others get their turn first; see relay_again() */
        p->again = true;
        p->again_next = p->u->a->again;
        p->u->a->again = p;
    }
    if (r > 0)
        return;
    if (r < 0)
        log_error(LOG_DEBUG, &e, "vps '%s': service '%s': relay for %s", p->u->vps, p->u->name,
                  p->peer);
    struct unit *u = p->u;
    pconn_free(p);
    unit_reap(u);
}

static void on_upstream_connected(struct watch *w, uint32_t events, void *userdata)
{
    struct pconn *p = userdata;
    struct unit *u = p->u;
    struct vps_error e = {0};
    int soerr = 0;
    socklen_t len = sizeof soerr;

    (void) w, (void) events;
    watch_remove(p->wu);
    p->wu = NULL;
    if (getsockopt(p->upstream, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr == ECONNREFUSED && main_instance(u) &&
        loop_now_ms() - p->arrived_ms < PROXY_CONNECT_TIMEOUT_MS) {
        /* Still starting: the service does not listen yet. Try again shortly. */
        vps_close(p->upstream);
        p->upstream = -1;
        uint64_t delay = (uint64_t) PROXY_RETRY_MIN_MS << (p->tries < 4 ? p->tries : 4);
        p->tries++;
        set_retry(p, loop_now_ms() + (delay < PROXY_RETRY_MAX_MS ? delay : PROXY_RETRY_MAX_MS));
        arm(u->a);
        return;
    }
    if (soerr) {
        vps_error_errno(&e, soerr, "connect to the service");
        goto fail;
    }
    if (vps_relay_new(p->client, p->upstream, &p->relay, &e) < 0)
        goto fail;
    p->client = p->upstream = -1; /* the relay's now */
    uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    if (loop_watch(u->a->d->loop, vps_relay_fd_a(p->relay), ev, on_relay, p, &p->wc, &e) < 0 ||
        loop_watch(u->a->d->loop, vps_relay_fd_b(p->relay), ev, on_relay, p, &p->wu, &e) < 0)
        goto fail;
    if (u->cold_since_ms) {
        cleanup_(vps_config_freep) struct vps_config *c = NULL;
        struct instance *m = main_instance(u);
        (void) vps_store_load(&u->a->d->store, u->vps, &c, &(struct vps_error){0});
        activated(u, c, p->peer, m ? m->pid : 0);
    } else {
        u->served = true; /* activations count starts of the service, not connections */
    }
    on_relay(NULL, 0, p); /* bytes may have come already: edge-triggered */
    return;
fail:
    publish_failed(u, p->peer, &e);
    pconn_free(p);
    unit_reap(u);
}

int connect_upstream(struct pconn *p, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    const struct vps_service *svc;
    struct sockaddr_storage ss;
    socklen_t len;

    set_retry(p, 0);
    if (vps_store_load(&p->u->a->d->store, p->u->vps, &c, err) < 0)
        return -1;
    if (!(svc = find_service(c, p->u->name)) || !svc->proxy_to ||
        !vps_addr_parse(svc->proxy_to, &ss, &len))
        return vps_error_set(err, VPS_ERR_CONFLICT, "service '%s' is no proxy any more",
                             p->u->name);
    if (socket_in(p->u, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, &p->upstream, err) < 0)
        return -1;
    if (connect(p->upstream, (struct sockaddr *) &ss, len) < 0 && errno != EINPROGRESS)
        return vps_error_errno(err, errno, "connect to '%s'", svc->proxy_to);
    return loop_watch(p->u->a->d->loop, p->upstream, EPOLLOUT, on_upstream_connected, p, &p->wu,
                      err);
}

int proxy_connection(struct unit *u, int conn, const char *peer, struct vps_error *err)
{
    struct pconn *p = calloc(1, sizeof *p);

    if (!p) {
        close(conn);
        return vps_error_errno(err, ENOMEM, "proxy");
    }
    *p = (struct pconn){.u = u, .client = conn, .upstream = -1, .arrived_ms = loop_now_ms()};
    (void) snprintf(p->peer, sizeof p->peer, "%s", peer);
    p->next = u->pconns;
    u->pconns = p;
    u->n_pconns++;
    if (connect_upstream(p, err) < 0) {
        pconn_free(p);
        return -1;
    }
    return 0;
}

/* The loop's prepare hook: no waiting while relays have bytes in hand. */
uint64_t relay_pending(void *userdata)
{
    struct activator *a = userdata;
    uint64_t now = loop_now_ms(), wait = UINT64_MAX;

    if (a->again)
        return 0;
    /* Retries of a connection to a proxy service that is starting: ms apart, finer than the
     * tick. Scanned only while there are some. */
    for (struct unit *u = a->n_retrying ? a->units : NULL; u; u = u->next)
        for (struct pconn *p = u->pconns; p; p = p->next)
            if (p->retry_at_ms) {
                uint64_t d = p->retry_at_ms <= now ? 0 : p->retry_at_ms - now;
                wait = d < wait ? d : wait;
            }
    return wait;
}

static void retry_due(struct activator *a)
{
    uint64_t now = loop_now_ms();

    for (struct unit *u = a->n_retrying ? a->units : NULL; u; u = u->next)
        for (struct pconn *p = u->pconns, *next; p; p = next) {
            struct vps_error e = {0};
            next = p->next;
            if (!p->retry_at_ms || p->retry_at_ms > now || !main_instance(u))
                continue; /* no service any more: the tick fails it */
            if (connect_upstream(p, &e) < 0) {
                publish_failed(u, p->peer, &e);
                pconn_free(p);
            }
        }
}

/* Runs each relay of the list once; one that runs out of its budget again joins the next
 * iteration's list. A relay freed meanwhile leaves the running list (pconn_free). */
void relay_again(void *userdata)
{
    struct activator *a = userdata;

    retry_due(a);
    a->again_running = a->again;
    a->again = NULL;
    while (a->again_running) {
        struct pconn *p = a->again_running;
        a->again_running = p->again_next;
        p->again = false;
        on_relay(NULL, 0, p);
    }
}
