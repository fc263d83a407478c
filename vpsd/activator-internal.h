/* The activator's parts (activator.h) share these: units and their listeners, processes
 * and proxied connections. activator.c: units, activation, the tick, configuration and the
 * API; activator-process.c: spawning services and their ends, back-off, logs;
 * activator-listen.c: sockets inside a VPS and listeners; activator-proxy.c: proxy mode's
 * connections and relays. Not for the rest of vpsd. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <sys/types.h>

#include "activator.h"
#include "loop.h"
#include "vps/addr.h"
#include "vps/config.h"
#include "vps/error.h"
#include "vps/relay.h"

#define ACCEPTS_PER_WAKE         64 /* then the loop serves others before accepting more */
#define PEER_MAX                 VPS_ADDR_TEXT_MAX
#define TICK_MS                  100
#define STOP_KILL_MS             5000  /* SIGTERM, then SIGKILL after this */
#define PROXY_CONNECT_TIMEOUT_MS 30000 /* a cold proxy service has this long to listen */
#define PROXY_RETRY_MIN_MS       5     /* doubling up to ... */
#define PROXY_RETRY_MAX_MS       50
#define FAILS_BEFORE_BACKOFF     3
#define BACKOFF_MIN_MS           1000
#define BACKOFF_MAX_MS           60000
#define RUN_OK_MS                10000         /* a process that ran this long did not crash-loop */
#define AUTOSTOP_TIMEOUT_MS      10000         /* of the VPS's graceful stop */
#define SERVICE_LOG_MAX          (1024 * 1024) /* then the log starts over (tick) */
#define UNIT_CONNECTIONS_MAX     1024 /* held per service: proxied, per-connection, parked */
#define VPS_SERVICE_ENV_MAX      256  /* config.c's limit of a service's env */

enum unit_state {
    UNIT_IDLE,
    UNIT_RUNNING, /* something of it runs: a main process or accept instances */
    UNIT_STOPPING,
    UNIT_BACKOFF,
};

struct unit;

struct listener {
    struct unit *u;
    char *addr; /* canonical, as configured */
    bool udp;
    int fd;
    int unix_dir_fd;     /* unix: O_PATH fd of the socket's directory in the rootfs; else -1 */
    char *unix_name;     /* unix: the socket's name in that directory */
    struct watch *watch; /* NULL while the service holds the socket */
    int proc_tcp_fd[2];  /* the VPS's /proc/net/tcp and tcp6 (listen mode's idle check) */
    struct listener *next;
};

struct instance {
    struct unit *u;
    pid_t pid;
    int pidfd;
    int conn; /* accept mode over TCP: vpsd's copy, for TCP_INFO at the end; else -1 */
    struct watch *watch;
    uint64_t started_ms;
    bool main; /* the long-running process of listen/proxy mode (or a UDP accept one) */
    struct instance *next;
};

/* A proxied connection: connecting to proxy_to, then relaying. */
struct pconn {
    struct unit *u;
    int client, upstream;
    struct watch *wc, *wu;
    struct vps_relay *relay;
    uint64_t arrived_ms, retry_at_ms; /* retry_at_ms != 0: waiting to connect again */
    unsigned tries;
    char peer[PEER_MAX];
    bool again; /* on the activator's list of relays to run again */
    struct pconn *again_next;
    struct pconn *next;
};

/* A connection parked while its VPS stops. */
struct parked {
    int fd;
    char peer[PEER_MAX];
    uint64_t arrived_ms;
    struct parked *next;
};

struct stats {
    uint64_t activations, connections_total, bytes_in, bytes_out, failures, dropped;
    uint64_t cold_last_ms, cold_max_ms;
};

struct unit {
    struct activator *a;
    char vps[VPS_NAME_MAX + 1];
    char *name;
    /* From the config at the last bind: */
    enum vps_service_mode mode;
    uint64_t idle_timeout_ms;
    enum vps_restart restart;
    bool autostop; /* the VPS's */
    bool gone;     /* no longer configured: freed once nothing of it runs */

    enum unit_state state;
    struct listener *listeners;
    struct instance *instances;
    size_t n_instances;
    struct pconn *pconns;
    size_t n_pconns;
    struct parked *parked;
    size_t n_parked;
    uint64_t drop_logged_ms;
    int netns_fd; /* the VPS's pinned network namespace, opened on first need */
    int log_fd;   /* <run-dir>/<vps>/services/<name>.log, O_APPEND; opened on first spawn */

    uint64_t last_activity_ms;
    uint64_t kill_at_ms;       /* UNIT_STOPPING: SIGKILL then */
    uint64_t backoff_until_ms; /* UNIT_BACKOFF */
    uint64_t restart_at_ms;    /* a restart of the main process is due */
    unsigned fails_in_row;
    unsigned generation;    /* bumped when listeners are closed: callbacks check it */
    uint64_t cold_since_ms; /* arrival of the request that activates it from idle; 0: none */
    bool served;            /* activated since the VPS started (autostop) */
    struct stats st;
    struct unit *next;
};

struct activator {
    struct vpsd *d;
    int own_netns_fd; /* vpsd's network namespace, to return to after making a socket */
    int timer_fd;
    struct watch *timer_watch;
    bool ticking;
    struct unit *units;
    struct pconn *again;         /* relays that ran out of their budget: run again next iteration */
    struct pconn *again_running; /* the ones being run again now */
    size_t n_retrying;           /* proxied connections waiting to connect again */
};

/* Milliseconds from then to now; 0 when then is later (it was taken after now was). */
static inline uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* activator.c */
const struct vps_service *find_service(const struct vps_config *c, const char *name);
void publish(struct activator *a, const char *type, const char *vps, const struct vps_config *c,
             json_t *fields, const char *text);
void publish_failed(struct unit *u, const char *peer, const struct vps_error *e);
void activated(struct unit *u, const struct vps_config *c, const char *peer, pid_t pid);
int prepare(struct unit *u, struct vps_config **ret, const struct vps_service **ret_svc,
            struct vps_error *err);
int handle_connection(struct unit *u, int conn, const char *peer, struct vps_error *err);
int start_main(struct unit *u, const struct vps_config *c, const struct vps_service *svc,
               const char *peer, struct vps_error *err);
void unit_reap(struct unit *u);
void arm(struct activator *a);

/* activator-process.c */
struct instance *main_instance(const struct unit *u);
void enter_backoff(struct unit *u);
void count_failure(struct unit *u);
bool unit_busy(const struct unit *u);
void instance_free(struct instance *inst);
void signal_all(struct unit *u, int sig);
/* Runs svc's command in the running VPS: stdin and stdout in_out (-1: /dev/null, stdout to
 * the log), fd 3 pass (-1: none); main: the long-running process of listen/proxy mode. */
int spawn(struct unit *u, const struct vps_service *svc, int in_out, int pass, bool main,
          struct instance **ret, struct vps_error *err);
/* Bounds the service's log (the tick). */
void cap_log(struct unit *u);

/* activator-listen.c */
bool hands_over(const struct unit *u, const struct listener *l);
int unit_netns(struct unit *u, struct vps_error *err);
int socket_in(struct unit *u, int family, int type, int *ret_fd, struct vps_error *err);
void unwatch_listener(struct listener *l);
void watch_listeners(struct unit *u);
/* Watches again the sockets vpsd accepts on that it paused (out of fds); false if one could
 * not be watched. */
bool watch_paused_listeners(struct unit *u);
void listener_free(struct listener *l);
bool add_listener(struct unit *u, const char *addr);
size_t listen_connections(const struct unit *u);
bool listen_idle(struct unit *u);

/* activator-proxy.c */
void set_retry(struct pconn *p, uint64_t at);
void pconn_free(struct pconn *p);
int connect_upstream(struct pconn *p, struct vps_error *err);
int proxy_connection(struct unit *u, int conn, const char *peer, struct vps_error *err);
uint64_t relay_pending(void *userdata);
void relay_again(void *userdata);
