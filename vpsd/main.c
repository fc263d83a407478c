/* vpsd: options, start-up (state dir lock, socket, built-in template), the main loop, and
 * an orderly shutdown on SIGTERM/SIGINT. The parts it wires together have files of their
 * own: server.c, events.c, operations.c, api-*.c. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "activator.h"
#include "api.h"
#include "events.h"
#include "front.h"
#include "log.h"
#include "loop.h"
#include "network.h"
#include "operations.h"
#include "server.h"
#include "supervisor.h"
#include "vps-build-config.h"
#include "vps/fd.h"
#include "vps/net.h"
#include "vps/storage.h"
#include "vps/template.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: vpsd [OPTIONS]\n"
            "The vps host daemon: serves the vps API on a Unix socket.\n\n"
            "  --state-dir DIR        persistent state (default " VPS_STATE_DIR ")\n"
            "  --run-dir DIR          runtime state (default " VPS_RUN_DIR ")\n"
            "  --socket PATH          API socket (default <run-dir>/vpsd.sock)\n"
            "  --socket-mode MODE     octal permissions of the socket (default 0660)\n"
            "  --socket-group GROUP   group of the socket (default the admin group)\n"
            "  --admin-group GROUP    members may do everything (default " VPS_ADMIN_GROUP ")\n"
            "  --busybox PATH         busybox for the built-in template (default " VPS_BUSYBOX_PATH
            ")\n"
            "  --request-timeout SEC  close a connection idle this long (default 30)\n"
            "  --max-upload SIZE      largest template upload in bytes (default 16 GiB)\n"
            "  --log-level LEVEL      err, warning, notice, info (default) or debug\n"
            "  --notify-fd FD         write READY=1 to FD once serving, then close it\n"
            "  --init PATH            the init for VPSes without one (default " VPS_LIBEXECDIR
            "/vps-init)\n"
            "  --cgroup-prefix NAME   cgroup directory of the VPSes (default vps)\n"
            "  --rootfs-ids MODE      auto (default), idmap or chown: how new VPSes' files get\n"
            "                         their ids (idmapped mounts, or chown at create)\n"
            "  --bridge NAME          host bridge of the VPSes (default " VPS_NET_BRIDGE_DEFAULT
            ")\n"
            "  --bridge-address CIDR  the host's address on the bridge, the VPSes' gateway\n"
            "                         (default none: no default route)\n"
            "  --mtu N                MTU of the bridge and veths (default 1500)\n"
            "  --network-mode MODE    bridged (default: one host bridge) or routed (no bridge:\n"
            "                         a host route to each VPS address)\n"
            "  -h, --help             show this help\n"
            "      --version          show the version\n");
}

enum {
    OPT_STATE = 256,
    OPT_RUN,
    OPT_SOCKET,
    OPT_MODE,
    OPT_GROUP,
    OPT_ADMIN,
    OPT_BUSYBOX,
    OPT_TIMEOUT,
    OPT_UPLOAD,
    OPT_LOG,
    OPT_NOTIFY,
    OPT_INIT,
    OPT_CGROUP,
    OPT_IDS,
    OPT_BRIDGE,
    OPT_BRIDGE_ADDR,
    OPT_MTU,
    OPT_NETMODE,
    OPT_VERSION
};

static int parse_args(int argc, char **argv, struct vpsd_options *o, char *sock_buf,
                      size_t sock_size)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"run-dir", required_argument, NULL, OPT_RUN},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"socket-mode", required_argument, NULL, OPT_MODE},
        {"socket-group", required_argument, NULL, OPT_GROUP},
        {"admin-group", required_argument, NULL, OPT_ADMIN},
        {"busybox", required_argument, NULL, OPT_BUSYBOX},
        {"request-timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-upload", required_argument, NULL, OPT_UPLOAD},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"notify-fd", required_argument, NULL, OPT_NOTIFY},
        {"init", required_argument, NULL, OPT_INIT},
        {"cgroup-prefix", required_argument, NULL, OPT_CGROUP},
        {"rootfs-ids", required_argument, NULL, OPT_IDS},
        {"bridge", required_argument, NULL, OPT_BRIDGE},
        {"bridge-address", required_argument, NULL, OPT_BRIDGE_ADDR},
        {"mtu", required_argument, NULL, OPT_MTU},
        {"network-mode", required_argument, NULL, OPT_NETMODE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
    };
    char *end;
    int c;

    *o = (struct vpsd_options){.state_dir = VPS_STATE_DIR,
                               .run_dir = VPS_RUN_DIR,
                               .socket_mode = 0660,
                               .admin_group = VPS_ADMIN_GROUP,
                               .busybox_path = VPS_BUSYBOX_PATH,
                               .request_timeout_s = 30,
                               .max_upload_bytes = 16ULL << 30,
                               .log_level = LOG_INFO,
                               .notify_fd = -1,
                               .init_path = VPS_LIBEXECDIR "/vps-init",
                               .cgroup_prefix = "vps",
                               .rootfs_ids = "auto",
                               .bridge = VPS_NET_BRIDGE_DEFAULT,
                               .mtu = 1500};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        errno = 0;
        switch (c) {
        case OPT_STATE:
            o->state_dir = optarg;
            break;
        case OPT_RUN:
            o->run_dir = optarg;
            break;
        case OPT_SOCKET:
            o->socket_path = optarg;
            break;
        case OPT_MODE:
            o->socket_mode = (mode_t) strtoul(optarg, &end, 8);
            if (*end || errno || o->socket_mode > 0777)
                goto bad;
            break;
        case OPT_GROUP:
            o->socket_group = optarg;
            break;
        case OPT_ADMIN:
            o->admin_group = optarg;
            break;
        case OPT_BUSYBOX:
            o->busybox_path = optarg;
            break;
        case OPT_TIMEOUT:
            o->request_timeout_s = (unsigned) strtoul(optarg, &end, 10);
            if (*end || errno || o->request_timeout_s == 0 || o->request_timeout_s > 3600)
                goto bad;
            break;
        case OPT_UPLOAD:
            o->max_upload_bytes = strtoull(optarg, &end, 10);
            if (*end || errno || o->max_upload_bytes == 0)
                goto bad;
            break;
        case OPT_LOG:
            if ((o->log_level = log_level_from_name(optarg)) < 0)
                goto bad;
            break;
        case OPT_NOTIFY:
            o->notify_fd = (int) strtol(optarg, &end, 10);
            if (*end || errno || o->notify_fd < 0)
                goto bad;
            break;
        case OPT_INIT:
            o->init_path = optarg;
            break;
        case OPT_CGROUP:
            o->cgroup_prefix = optarg;
            if (!vps_name_is_valid(optarg))
                goto bad;
            break;
        case OPT_IDS:
            o->rootfs_ids = optarg;
            if (strcmp(optarg, "auto") && strcmp(optarg, "idmap") && strcmp(optarg, "chown"))
                goto bad;
            break;
        case OPT_BRIDGE:
            o->bridge = optarg;
            if (!vps_net_ifname_is_valid(optarg))
                goto bad;
            break;
        case OPT_BRIDGE_ADDR:
            o->bridge_address = optarg;
            if (!network_cidr_is_valid(optarg))
                goto bad;
            break;
        case OPT_MTU:
            o->mtu = (unsigned) strtoul(optarg, &end, 10);
            if (*end || errno || o->mtu < 68 || o->mtu > 65535)
                goto bad;
            break;
        case OPT_NETMODE:
            o->routed = !strcmp(optarg, "routed");
            if (!o->routed && strcmp(optarg, "bridged"))
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("vpsd %s\n", VPS_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vpsd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->socket_path) {
        (void) snprintf(sock_buf, sock_size, "%s/vpsd.sock", o->run_dir);
        o->socket_path = sock_buf;
    }
    return 0;
bad:
    fprintf(stderr, "vpsd: invalid value '%s' for --%s\n", optarg, opts[c - OPT_STATE].name);
    return -1;
}

static gid_t lookup_group(const char *name)
{
    struct group gr, *res = NULL;
    char buf[4096];

    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || !res)
        return (gid_t) -1;
    return res->gr_gid;
}

/* A stale socket (no daemon answers) is replaced; a live one means another vpsd. */
static int check_stale_socket(const struct sockaddr_un *sa, struct vps_error *err)
{
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return vps_error_errno(err, errno, "socket");
    if (connect(fd, (const struct sockaddr *) sa, sizeof *sa) == 0)
        return vps_error_set(err, VPS_ERR_CONFLICT, "socket '%s' is served by another vpsd",
                             sa->sun_path);
    if (errno == ECONNREFUSED)
        (void) unlink(sa->sun_path);
    return 0;
}

static int open_socket(struct vpsd *d, int *ret_fd, struct vps_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *gname = d->opt.socket_group ? d->opt.socket_group : d->opt.admin_group;
    gid_t gid = lookup_group(gname);
    cleanup_close int fd = -1;
    mode_t old;

    if (strlen(d->opt.socket_path) >= sizeof sa.sun_path)
        return vps_error_set(err, VPS_ERR_INVALID, "socket path '%s' is too long",
                             d->opt.socket_path);
    strcpy(sa.sun_path, d->opt.socket_path);
    if (check_stale_socket(&sa, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vps_error_errno(err, errno, "socket");
    /* Nobody may connect before the mode and group below are in place. */
    old = umask(0077);
    int r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
    umask(old);
    if (r < 0)
        return vps_error_errno(err, errno, "bind '%s'", sa.sun_path);
    d->socket_bound = true;
    if (gid == (gid_t) -1)
        log_warning("group '%s' does not exist: socket '%s' stays root's group, ignoring", gname,
                    sa.sun_path);
    else if (chown(sa.sun_path, 0, gid) < 0)
        return vps_error_errno(err, errno, "chown '%s'", sa.sun_path);
    if (chmod(sa.sun_path, d->opt.socket_mode) < 0)
        return vps_error_errno(err, errno, "chmod '%s'", sa.sun_path);
    if (listen(fd, SOMAXCONN) < 0)
        return vps_error_errno(err, errno, "listen on '%s'", sa.sun_path);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static void on_signal(struct watch *w, uint32_t events, void *userdata)
{
    struct vpsd *d = userdata;
    struct signalfd_siginfo si;

    (void) w, (void) events;
    while (read(d->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            log_info("signal %d: shutting down", (int) si.ssi_signo);
            d->stopping = true;
            loop_quit(d->loop);
        }
    }
}

static int setup_signals(struct vpsd *d, struct vps_error *err)
{
    sigset_t mask;

    /* A client that hangs up mid-answer must not kill the daemon. */
    (void) signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return vps_error_errno(err, errno, "sigprocmask");
    d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d->signal_fd < 0)
        return vps_error_errno(err, errno, "signalfd");
    return loop_watch(d->loop, d->signal_fd, EPOLLIN, on_signal, d, &d->signal_watch, err);
}

static int open_run_dir(struct vpsd *d, struct vps_error *err)
{
    if (mkdir(d->opt.run_dir, 0755) < 0 && errno != EEXIST)
        return vps_error_errno(err, errno, "create run dir '%s'", d->opt.run_dir);
    d->run_fd = open(d->opt.run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->run_fd < 0)
        return vps_error_errno(err, errno, "open run dir '%s'", d->opt.run_dir);
    return 0;
}

/* Readiness: to a pipe given with --notify-fd (tests), and to systemd's NOTIFY_SOCKET
 * (Type=notify) so that "systemctl start vpsd" returns once the socket answers. */
static void notify_ready(const struct vpsd *d)
{
    const char *ns = getenv("NOTIFY_SOCKET");

    if (d->opt.notify_fd >= 0) {
        struct vps_error e = {0};
        (void) vps_write_all(d->opt.notify_fd, "READY=1\n", 8, &e);
        (void) close(d->opt.notify_fd);
    }
    if (ns && (ns[0] == '/' || ns[0] == '@') &&
        strlen(ns) < sizeof(((struct sockaddr_un){0}).sun_path)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        cleanup_close int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        strcpy(sa.sun_path, ns);
        if (sa.sun_path[0] == '@') /* abstract namespace */
            sa.sun_path[0] = '\0';
        if (fd >= 0)
            (void) sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *) &sa,
                          (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(ns)));
    }
}

static int start(struct vpsd *d, struct vps_error *err)
{
    int listen_fd = -1;
    struct vps_error e = {0};

    d->started_ms = loop_now_ms();
    d->admin_gid = lookup_group(d->opt.admin_group);
    if (d->admin_gid == (gid_t) -1)
        log_warning("admin group '%s' does not exist: only root is an admin, ignoring",
                    d->opt.admin_group);
    if (loop_new(&d->loop, err) < 0 || vps_store_open(d->opt.state_dir, &d->store, err) < 0 ||
        vps_template_dir_open(d->store.dir_fd, &d->templates_fd, err) < 0 ||
        open_run_dir(d, err) < 0 || setup_signals(d, err) < 0 || events_new(&d->events, err) < 0 ||
        ops_new(d, &d->ops, err) < 0 || open_socket(d, &listen_fd, err) < 0)
        return -1;
    /* After the socket: a second daemon is turned away before it touches cgroups. */
    if (supervisor_new(d, &d->sup, err) < 0) {
        close(listen_fd);
        return -1;
    }
    if (activator_new(d, &d->act, err) < 0 || front_new(d, &d->front, err) < 0) {
        close(listen_fd);
        return -1;
    }
    /* Template builds that a crash interrupted. */
    if (vps_storage_remove_stale(&d->store.storage, d->templates_fd, NULL, &e) < 0)
        log_error(LOG_WARNING, &e, "remove stale template builds, ignoring");
    e = (struct vps_error){0};
    if (server_start(d, listen_fd, &d->server, err) < 0) {
        close(listen_fd);
        return -1;
    }
    /* Building them now keeps the first create fast; failing here is not fatal (the error
     * names the template). */
    if (vps_template_ensure_builtin(d->templates_fd, d->opt.busybox_path, &e) < 0)
        log_error(LOG_WARNING, &e, "built-in templates, ignoring");
    log_info("vpsd %s: serving '%s', state dir '%s'", VPS_VERSION, d->opt.socket_path,
             d->opt.state_dir);
    supervisor_autostart(d->sup);
    notify_ready(d);
    return 0;
}

static void stop(struct vpsd *d)
{
    d->stopping = true;
    events_free(d->events); /* ends streams before the server can stop */
    d->events = NULL;
    ops_free(d->ops);
    api_exec_shutdown();
    server_stop(d->server);
    front_free(d->front); /* before the activator it delivers to */
    activator_free(d->act);
    supervisor_free(d->sup); /* running VPSes keep running */
    if (d->socket_bound)     /* never another daemon's socket, found live at start-up */
        (void) unlink(d->opt.socket_path);
    watch_remove(d->signal_watch);
    vps_close(d->signal_fd);
    vps_close(d->templates_fd);
    vps_close(d->run_fd);
    vps_store_close(&d->store);
    loop_free(d->loop);
}

int main(int argc, char **argv)
{
    struct vpsd d = {
        .templates_fd = -1, .run_fd = -1, .signal_fd = -1, .store = {.dir_fd = -1, .lock_fd = -1}};
    struct vps_error err = {0};
    char sock[256];
    int r;

    if (parse_args(argc, argv, &d.opt, sock, sizeof sock) < 0)
        return 2;
    log_setup(d.opt.log_level);
    r = start(&d, &err);
    if (r == 0)
        r = loop_run(d.loop, &err);
    if (r < 0)
        log_error(LOG_ERR, &err, "%s", "");
    stop(&d);
    return r < 0 ? 1 : 0;
}
