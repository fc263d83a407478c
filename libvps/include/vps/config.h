/* The VPS configuration model: names, limits, network, on-demand services, owners and bind
 * mounts from the host, with their defaults, strict validation (messages name the JSON path)
 * and the JSON form that is both config.json on disk and the API's representation. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

#define VPS_NAME_MAX         63
#define VPS_HOSTNAME_MAX     64 /* the UTS namespace's limit */
#define VPS_MAX_OWNERS       64
#define VPS_MAX_ADDRESSES    64
#define VPS_MAX_SERVICES     64
#define VPS_MAX_MOUNTS       16
#define VPS_CONFIG_MAX_BYTES (256 * 1024)

#define VPS_DEFAULT_RAM_BYTES  (512ULL << 20)
#define VPS_DEFAULT_CPU_WEIGHT 100
#define VPS_DEFAULT_PIDS       4096
#define VPS_DEFAULT_TEMPLATE   "minimal"

struct vps_limits {
    uint64_t ram_bytes;              /* memory.max; always set */
    uint64_t swap_bytes;             /* 0: no swap */
    uint64_t disk_bytes;             /* 0: no quota */
    uint32_t cpu_limit_millicpus;    /* 1500 = 1.5 CPUs; 0: no quota */
    uint32_t cpu_weight;             /* 1..10000, cgroup v2 scale */
    uint32_t io_weight;              /* 1..10000; 0: host default */
    uint32_t pids;                   /* 0: no limit */
    char *cpuset;                    /* "0-1,3"; NULL: all */
    uint64_t net_egress_bits_per_s;  /* what the VPS sends; 0: unlimited, else >= 8000 */
    uint64_t net_ingress_bits_per_s; /* what it receives; 0: unlimited, else >= 8000 */
};

struct vps_network {
    struct vps_strv addresses;   /* "198.18.0.2/24", "2001:db8::2/64", canonical */
    struct vps_strv nameservers; /* IPv4 or IPv6 literals */
};

enum vps_service_mode {
    VPS_SERVICE_ACCEPT, /* a process per connection, inetd style */
    VPS_SERVICE_LISTEN, /* the listening socket handed over, systemd style */
    VPS_SERVICE_PROXY,  /* a long-running service; vpsd relays bytes */
};

enum vps_restart {
    VPS_RESTART_NO,
    VPS_RESTART_ON_FAILURE,
    VPS_RESTART_ALWAYS,
};

enum vps_match_kind {
    VPS_MATCH_HTTP_HOST,
    VPS_MATCH_TLS_SNI,
    VPS_MATCH_PROTOCOL,
    VPS_MATCH_DEFAULT, /* what no other rule of the front takes */
};

struct vps_match {
    char *front; /* shared host address "ip:port", canonical (vps/addr.h) */
    enum vps_match_kind kind;
    char *value; /* host name (may start with "*."), or "ssh" / "tls" / "http"; NULL for
                  * VPS_MATCH_DEFAULT */
};

struct vps_service {
    char *name;
    struct vps_strv command; /* argv, absolute command path first */
    char *user;              /* user name or uid inside the VPS; default root */
    char *cwd;               /* absolute; default / */
    struct vps_strv env;     /* "KEY=value" */
    struct vps_strv listen;  /* canonical: "ip:port" (TCP), "udp:ip:port" or "unix:/path";
                              * "tcp:ip:port" and other spellings are accepted */
    struct vps_match *match;
    size_t n_match;
    enum vps_service_mode mode;
    uint64_t idle_timeout_ms; /* 0: never stop for idleness */
    enum vps_restart restart;
    char *proxy_to; /* proxy mode: "ip:port" inside the VPS the service listens on */
};

/* A file or directory of the host, bound into the VPS at each start (admin-only: whoever
 * may set it chooses what of the host a VPS sees). */
struct vps_host_mount {
    char *source;  /* absolute host path; canonical: single slashes, none at the end */
    char *target;  /* absolute path inside the VPS, canonical; not /, /proc, /sys, /dev or
                    * under them */
    bool readonly; /* default true */
};

struct vps_config {
    char *name;
    char *hostname;
    char *template_name;
    char *created_at; /* RFC 3339, set by vpsd */
    bool autostart;
    bool autostop;    /* stop the VPS when its last on-demand service has gone idle */
    uint32_t *owners; /* uids */
    size_t n_owners;
    struct vps_limits limits;
    struct vps_network network;
    struct vps_service *services;
    size_t n_services;
    struct vps_host_mount *mounts; /* in the order they are mounted; targets unique */
    size_t n_mounts;
};

/* Name rule for VPSes, templates and services: [a-z0-9][a-z0-9-]{0,62}. what is used in the
 * message ("vps", "template"). VPS_ERR_INVALID. */
int vps_name_validate(const char *name, const char *what, struct vps_error *err);
bool vps_name_is_valid(const char *name);
/* RFC 1123 host name of at most VPS_HOSTNAME_MAX characters. */
int vps_hostname_validate(const char *s, const char *path, struct vps_error *err);

/* A new config holding every default. */
int vps_config_new(struct vps_config **ret, struct vps_error *err);
void vps_config_free(struct vps_config *c);
static inline void vps_config_freep(struct vps_config **c)
{
    vps_config_free(*c);
}

/* Parses and validates a whole config object (defaults for absent fields; the hostname
 * defaults to the name). VPS_ERR_INVALID with the JSON path for bad input. */
int vps_config_from_json(const json_t *j, struct vps_config **ret, struct vps_error *err);
/* The canonical JSON form: every field, defaults included, sorted keys when dumped. */
int vps_config_to_json(const struct vps_config *c, json_t **ret, struct vps_error *err);

/* Replaces c's mounts by the JSON array mounts, checked and made canonical as the "mounts"
 * field is (a template's default mounts). VPS_ERR_INVALID with the JSON path "mounts[i]". */
int vps_config_set_mounts(struct vps_config *c, const json_t *mounts, struct vps_error *err);

/* True if uid is listed in owners. */
bool vps_config_has_owner(const struct vps_config *c, uid_t uid);

const char *vps_service_mode_name(enum vps_service_mode m);

/* Field checks shared with the API's other bodies (exec): an absolute path; "KEY=value" with
 * KEY of letters, digits and '_'. VPS_ERR_INVALID naming path. */
int vps_config_check_abs_path(const char *s, const char *path, struct vps_error *err);
int vps_config_check_env(const char *s, const char *path, struct vps_error *err);

/* True if a and b are the same rule (front, kind and value). */
bool vps_match_equal(const struct vps_match *a, const struct vps_match *b);
