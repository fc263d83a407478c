/* The daemon's shared context: what every part of vpsd reaches through one pointer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vps/store.h"

struct activator;
struct front;
struct loop;
struct server;
struct events;
struct ops;
struct supervisor;
struct watch;

struct vpsd_options {
    const char *state_dir;
    const char *run_dir;
    const char *socket_path;
    const char *socket_group; /* NULL: the admin group */
    mode_t socket_mode;
    const char *admin_group;
    const char *busybox_path;
    unsigned request_timeout_s;
    uint64_t max_upload_bytes;
    int log_level;
    int notify_fd;              /* -1: none */
    const char *init_path;      /* the project's tiny init */
    const char *cgroup_prefix;  /* directory of VPS cgroups in each hierarchy */
    const char *rootfs_ids;     /* "auto", "idmap" or "chown" */
    const char *bridge;         /* host bridge of the VPSes' veths */
    const char *bridge_address; /* host's "addr/len" on it, the VPSes' gateway; NULL: none */
    unsigned mtu;               /* of the bridge and veths */
    bool routed;                /* --network-mode routed: no bridge, host routes per VPS */
};

struct vpsd {
    struct vpsd_options opt;
    struct loop *loop;
    struct vps_store store;
    int templates_fd;
    int run_fd;
    int signal_fd;
    struct watch *signal_watch;
    gid_t admin_gid; /* (gid_t) -1 when the group does not exist */
    struct server *server;
    struct events *events;
    struct ops *ops;
    struct supervisor *sup;
    struct activator *act; /* on-demand activation's listening sockets */
    struct front *front;   /* shared front addresses routed by content */
    uint64_t started_ms;
    bool stopping;
    bool socket_bound; /* this process bound the socket path and removes it */
    bool rootfs_shift; /* new VPSes store their rootfs shifted (no idmapped mounts) */
};
