/* Routed mode (--network-mode routed), in the way of OpenVZ's venet: no bridge and no layer 2
 * between VPSes. Each VPS's veth has its host end on no bridge; inside, eth0 carries the
 * VPS's addresses as /32 and /128 and a default route to a link-local next hop the host end
 * holds (169.254.0.1, fe80::1); the host routes each address to the VPS's host end and
 * answers neighbour lookups for it there (proxy ARP, proxy NDP entries). The host end is
 * filtered (antispoof.h) and shaped (tc.h) as in bridged mode. Deleting the host end takes
 * its routes, proxy entries, addresses and sysctls with it: stopping a VPS is network.c's
 * veth deletion. VPS to VPS traffic goes through the host's routing, which needs forwarding
 * (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding): the operator's to enable. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "network.h"
#include "vps/antispoof.h"
#include "vps/fd.h"
#include "vps/net.h"
#include "vps/tc.h"

#define PEER_IF "eth0"
#define GW4     "169.254.0.1"
#define GW6     "fe80::1"

/* One address of the config ("198.18.0.2/24") as routed mode uses it. */
struct host_addr {
    char ip[INET6_ADDRSTRLEN];       /* "198.18.0.2" */
    char cidr[INET6_ADDRSTRLEN + 5]; /* "198.18.0.2/32" */
    bool v6;
};

static void host_addr(const char *cidr, struct host_addr *ret)
{
    size_t len = strcspn(cidr, "/");

    if (len >= sizeof ret->ip)
        len = sizeof ret->ip - 1; /* config.c made it valid; never cut in practice */
    memcpy(ret->ip, cidr, len);
    ret->ip[len] = '\0';
    ret->v6 = strchr(ret->ip, ':') != NULL;
    (void) snprintf(ret->cidr, sizeof ret->cidr, "%s/%s", ret->ip, ret->v6 ? "128" : "32");
}

static bool has_family(const struct vps_strv *addrs, bool v6)
{
    for (size_t i = 0; i < addrs->n; i++)
        if ((strchr(addrs->v[i], ':') != NULL) == v6)
            return true;
    return false;
}

/* Writes "1" to /proc/sys/net/<family>/conf/<host_if>/<name>. */
static int set_conf(const char *family, const char *host_if, const char *name,
                    struct vps_error *err)
{
    char path[128];
    cleanup_close int dir = -1;

    (void) snprintf(path, sizeof path, "/proc/sys/net/%s/conf/%s", family, host_if);
    dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return vps_error_errno(err, errno, "open '%s'", path);
    if (vps_write_at(dir, name, "1", err) < 0)
        return vps_error_prefix(err, "'%s'", path);
    return 0;
}

/* An address vps_net_addr_add() found there already is what we wanted. */
static int addr_ensure(const char *host_if, const char *cidr, struct vps_error *err)
{
    if (vps_net_addr_add(-1, host_if, cidr, err) < 0 && err->code != VPS_ERR_EXISTS)
        return -1;
    *err = (struct vps_error){0};
    return 0;
}

/* The host end: the VPSes' next hops and the proxy switches, for the families c uses.
 * Idempotent. */
static int host_end_setup(const char *host_if, const struct vps_config *c, struct vps_error *err)
{
    if (has_family(&c->network.addresses, false) &&
        (addr_ensure(host_if, GW4 "/32", err) < 0 ||
         set_conf("ipv4", host_if, "proxy_arp", err) < 0))
        return -1;
    if (has_family(&c->network.addresses, true) &&
        (addr_ensure(host_if, GW6 "/64", err) < 0 ||
         set_conf("ipv6", host_if, "proxy_ndp", err) < 0))
        return -1;
    return 0;
}

/* The default routes inside, for the families c uses. Idempotent. */
static int set_routes(const struct vps_config *c, int netns_fd, struct vps_error *err)
{
    if (has_family(&c->network.addresses, false) &&
        vps_net_route_default_onlink(netns_fd, PEER_IF, GW4, err) < 0)
        return -1;
    if (has_family(&c->network.addresses, true) &&
        vps_net_route_default(netns_fd, PEER_IF, GW6, err) < 0)
        return -1;
    return 0;
}

/* cidr inside, its host route, and for IPv6 its proxy entry. */
static int addr_add(const char *host_if, const char *cidr, int netns_fd, struct vps_error *err)
{
    struct host_addr a;

    host_addr(cidr, &a);
    if (vps_net_addr_add(netns_fd, PEER_IF, a.cidr, err) < 0 ||
        vps_net_route_host_add(host_if, a.ip, err) < 0 ||
        (a.v6 && vps_net_neigh_proxy_add(host_if, a.ip, err) < 0))
        return -1;
    return 0;
}

static int addr_del(const char *host_if, const char *cidr, int netns_fd, struct vps_error *err)
{
    struct host_addr a;

    host_addr(cidr, &a);
    if ((a.v6 && vps_net_neigh_proxy_del(host_if, a.ip, err) < 0) ||
        vps_net_route_host_del(host_if, a.ip, err) < 0 ||
        vps_net_addr_del(netns_fd, PEER_IF, a.cidr, err) < 0)
        return -1;
    return 0;
}

static int add_all(const char *host_if, const struct vps_strv *add, const struct vps_strv *skip,
                   int netns_fd, struct vps_error *err)
{
    for (size_t i = 0; i < add->n; i++) {
        if (skip && vps_strv_contains(skip, add->v[i]))
            continue;
        if (addr_add(host_if, add->v[i], netns_fd, err) < 0)
            return -1;
    }
    return 0;
}

/* What enters the host from the VPS's veth must carry its MAC and addresses, as in bridged
 * mode (network.c). */
static int antispoof_update(const char *host_if, const struct vps_config *c, struct vps_error *err)
{
    char mac[VPS_ANTISPOOF_MAC_LEN];

    vps_antispoof_mac(c->name, mac);
    return vps_antispoof_apply(host_if, mac, &c->network.addresses, err);
}

static void undo(const char *host_if, const char *name)
{
    struct vps_error e = {0};

    if (vps_net_veth_destroy(host_if, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': undo veth, ignoring", name);
    e = (struct vps_error){0};
    if (vps_antispoof_clear(host_if, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': undo anti-spoofing filter, ignoring", name);
    e = (struct vps_error){0};
    if (vps_tc_clear(host_if, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': undo bandwidth limits, ignoring", name);
}

int network_routed_up(struct vpsd *d, const struct vps_config *c, int netns_fd,
                      struct vps_error *err)
{
    char host_if[IFNAMSIZ], mac[VPS_ANTISPOOF_MAC_LEN];

    vps_net_host_ifname(c->name, host_if);
    vps_antispoof_mac(c->name, mac);
    if (vps_net_veth_create(host_if, 0, netns_fd, PEER_IF, d->opt.mtu, mac, err) < 0)
        return vps_error_prefix(err, "veth '%s'", host_if);
    /* The filter first: the VPS is running already and must never send unfiltered. */
    if (antispoof_update(host_if, c, err) < 0 || host_end_setup(host_if, c, err) < 0 ||
        add_all(host_if, &c->network.addresses, NULL, netns_fd, err) < 0 ||
        set_routes(c, netns_fd, err) < 0 ||
        vps_tc_apply(host_if, c->limits.net_ingress_bits_per_s, c->limits.net_egress_bits_per_s,
                     err) < 0) {
        undo(host_if, c->name);
        return vps_error_prefix(err, "network");
    }
    return 0;
}

int network_routed_apply(const struct vps_config *old_c, const struct vps_config *new_c,
                         int netns_fd, struct vps_error *err)
{
    const struct vps_strv *o = &old_c->network.addresses, *n = &new_c->network.addresses;
    char host_if[IFNAMSIZ];

    vps_net_host_ifname(new_c->name, host_if);
    for (size_t i = 0; i < o->n; i++)
        if (!vps_strv_contains(n, o->v[i]) && addr_del(host_if, o->v[i], netns_fd, err) < 0)
            return -1;
    /* The filter right after the removals: a removed address must not pass a moment longer. */
    if (antispoof_update(host_if, new_c, err) < 0 || host_end_setup(host_if, new_c, err) < 0 ||
        add_all(host_if, n, o, netns_fd, err) < 0 || set_routes(new_c, netns_fd, err) < 0)
        return -1;
    return 0;
}
