/* The daemon side of a VPS's network: which bridge, veth, addresses and routes a VPS gets
 * from its config and vpsd's options, when they are made and undone, and the name files in
 * its rootfs. The rtnetlink calls are libvps/net.c's; which VPSes run is supervisor.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "network.h"
#include "supervisor.h"
#include "vps/antispoof.h"
#include "vps/fd.h"
#include "vps/idmap.h"
#include "vps/net.h"
#include "vps/path.h"
#include "vps/tc.h"

#define PEER_IF "eth0"

struct cidr {
    int family;
    unsigned char addr[16];
    unsigned prefix;
};

static bool parse_cidr(const char *s, struct cidr *ret)
{
    char buf[INET6_ADDRSTRLEN];
    const char *slash = s ? strchr(s, '/') : NULL;
    char *end;

    if (!slash || (size_t) (slash - s) >= sizeof buf || slash[1] < '0' || slash[1] > '9')
        return false;
    memcpy(buf, s, (size_t) (slash - s));
    buf[slash - s] = '\0';
    ret->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(ret->family, buf, ret->addr) != 1)
        return false;
    errno = 0;
    unsigned long p = strtoul(slash + 1, &end, 10);
    if (*end || errno || p > (ret->family == AF_INET ? 32UL : 128UL))
        return false;
    ret->prefix = (unsigned) p;
    return true;
}

bool network_cidr_is_valid(const char *cidr)
{
    struct cidr c;
    return parse_cidr(cidr, &c);
}

/* True if a lies on net's prefix. */
static bool on_prefix(const struct cidr *net, const struct cidr *a)
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;

    if (net->family != a->family || memcmp(net->addr, a->addr, full) != 0)
        return false;
    return !rest || ((net->addr[full] ^ a->addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/* The gateway for c: the bridge's address without its prefix, if it lies on one of c's
 * prefixes. */
static bool gateway_for(const struct vpsd *d, const struct vps_config *c, char *buf, size_t size)
{
    const char *ba = d->opt.bridge_address;
    struct cidr gw, a;

    if (!ba || !parse_cidr(ba, &gw))
        return false;
    for (size_t i = 0; i < c->network.addresses.n; i++)
        if (parse_cidr(c->network.addresses.v[i], &a) && on_prefix(&a, &gw)) {
            (void) snprintf(buf, size, "%.*s", (int) (strchr(ba, '/') - ba), ba);
            return true;
        }
    return false;
}

/* ---- files in the rootfs ---- */

/* Replaces etc/name with text: a temp file created afresh (never following a name the VPS
 * planted), owned by the VPS's root, renamed over the old one. */
static int write_etc(int etc_fd, const char *name, const char *text, uid_t owner,
                     struct vps_error *err)
{
    char tmp[64];
    cleanup_close int fd = -1;

    (void) snprintf(tmp, sizeof tmp, ".%s.vpsd-tmp", name);
    (void) unlinkat(etc_fd, tmp, 0);
    fd = openat(etc_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return vps_error_errno(err, errno, "create 'etc/%s'", tmp);
    if (fchown(fd, owner, owner) < 0 || fchmod(fd, 0644) < 0) {
        vps_error_errno(err, errno, "chown 'etc/%s'", tmp);
        goto fail;
    }
    if (vps_write_all(fd, text, strlen(text), err) < 0)
        goto fail;
    if (renameat(etc_fd, tmp, etc_fd, name) < 0) {
        vps_error_errno(err, errno, "rename 'etc/%s' to 'etc/%s'", tmp, name);
        goto fail;
    }
    return 0;
fail:
    (void) unlinkat(etc_fd, tmp, 0);
    return -1;
}

static int hosts_text(const struct vps_config *c, char *buf, size_t size)
{
    const struct vps_strv *a = &c->network.addresses;
    int n = snprintf(buf, size, "127.0.0.1 localhost\n::1 localhost\n");

    if (a->n > 0)
        n += snprintf(buf + n, size - (size_t) n, "%.*s %s\n", (int) strcspn(a->v[0], "/"), a->v[0],
                      c->hostname);
    return n;
}

static int resolv_text(const struct vps_config *c, char *buf, size_t size)
{
    int n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < c->network.nameservers.n && (size_t) n < size; i++)
        n += snprintf(buf + n, size - (size_t) n, "nameserver %s\n", c->network.nameservers.v[i]);
    return n;
}

/* The VPS's root as it shows on disk: 0 under an idmapped mount, its host range's first id
 * in a chowned rootfs. */
static int open_etc(struct vpsd *d, const char *name, uid_t *ret_owner, struct vps_error *err)
{
    cleanup_close int dir = -1, root = -1;
    struct vps_idmap m;

    dir = openat(d->store.dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return vps_error_errno(err, errno, "open state dir");
    if (vps_idmap_load(dir, &m, err) < 0)
        return -1;
    root = openat(dir, "rootfs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return vps_error_errno(err, errno, "open rootfs");
    /* The VPS's root owns etc and may have made it a symlink: never followed. O_PATH is
     * enough for the *at() calls below. */
    int fd = vps_path_open_in_root(root, "etc", O_PATH | O_DIRECTORY, err);
    if (fd < 0)
        return -1;
    *ret_owner = m.shifted ? (uid_t) m.host_base : 0;
    return fd;
}

static void write_files(struct vpsd *d, const struct vps_config *c)
{
    struct vps_error e = {0};
    char text[VPS_MAX_ADDRESSES * 64 + 256];
    cleanup_close int etc = -1;
    uid_t owner = 0;

    if ((etc = open_etc(d, c->name, &owner, &e)) < 0) {
        log_error(LOG_WARNING, &e, "vps '%s': name files not written", c->name);
        return;
    }
    (void) snprintf(text, sizeof text, "%s\n", c->hostname);
    if (write_etc(etc, "hostname", text, owner, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': write hostname, ignoring", c->name);
    e = (struct vps_error){0};
    (void) hosts_text(c, text, sizeof text);
    if (write_etc(etc, "hosts", text, owner, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': write hosts, ignoring", c->name);
    e = (struct vps_error){0};
    if (resolv_text(c, text, sizeof text) > 0 && write_etc(etc, "resolv.conf", text, owner, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': write resolv.conf, ignoring", c->name);
}

/* ---- links ---- */

static int add_addresses(int netns_fd, const struct vps_strv *add, const struct vps_strv *skip,
                         struct vps_error *err)
{
    for (size_t i = 0; i < add->n; i++) {
        if (skip && vps_strv_contains(skip, add->v[i]))
            continue;
        if (vps_net_addr_add(netns_fd, PEER_IF, add->v[i], err) < 0)
            return -1;
    }
    return 0;
}

static int set_route(struct vpsd *d, const struct vps_config *c, int netns_fd,
                     struct vps_error *err)
{
    char gw[INET6_ADDRSTRLEN];

    if (!gateway_for(d, c, gw, sizeof gw))
        return 0;
    return vps_net_route_default(netns_fd, PEER_IF, gw, err);
}

/* What enters the host from the VPS's veth must carry its MAC and addresses (antispoof.h):
 * made after the veth, remade whenever the addresses change. */
static int antispoof_update(const struct vps_config *c, struct vps_error *err)
{
    char host_if[IFNAMSIZ], mac[VPS_ANTISPOOF_MAC_LEN];

    vps_net_host_ifname(c->name, host_if);
    vps_antispoof_mac(c->name, mac);
    return vps_antispoof_apply(host_if, mac, &c->network.addresses, err);
}

/* The VPS's bandwidth limits on its veth's host end (tc.h); c NULL removes them. */
static int bandwidth_update(const char *name, const struct vps_config *c, struct vps_error *err)
{
    char host_if[IFNAMSIZ];

    vps_net_host_ifname(name, host_if);
    if (!c)
        return vps_tc_clear(host_if, err);
    return vps_tc_apply(host_if, c->limits.net_ingress_bits_per_s, c->limits.net_egress_bits_per_s,
                        err);
}

/* Bridge, veth, addresses and route; on failure the veth is deleted again. */
static int link_up(struct vpsd *d, const struct vps_config *c, int netns_fd, struct vps_error *err)
{
    char host_if[IFNAMSIZ], mac[VPS_ANTISPOOF_MAC_LEN];
    struct vps_error e = {0};
    int br;

    if (d->opt.routed)
        return network_routed_up(d, c, netns_fd, err);
    vps_net_host_ifname(c->name, host_if);
    vps_antispoof_mac(c->name, mac);
    if (vps_net_bridge_ensure(d->opt.bridge, d->opt.bridge_address, d->opt.mtu, &br, err) < 0)
        return vps_error_prefix(err, "bridge '%s'", d->opt.bridge);
    if (vps_net_veth_create(host_if, br, netns_fd, PEER_IF, d->opt.mtu, mac, err) < 0)
        return vps_error_prefix(err, "veth '%s'", host_if);
    /* The filter first: the VPS is running already and must never send unfiltered. */
    if (antispoof_update(c, err) < 0 ||
        add_addresses(netns_fd, &c->network.addresses, NULL, err) < 0 ||
        set_route(d, c, netns_fd, err) < 0 || bandwidth_update(c->name, c, err) < 0) {
        if (vps_net_veth_destroy(host_if, &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': undo veth, ignoring", c->name);
        e = (struct vps_error){0};
        if (vps_antispoof_clear(host_if, &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': undo anti-spoofing filter, ignoring", c->name);
        e = (struct vps_error){0};
        if (bandwidth_update(c->name, NULL, &e) < 0)
            log_error(LOG_WARNING, &e, "vps '%s': undo bandwidth limits, ignoring", c->name);
        return vps_error_prefix(err, "network");
    }
    return 0;
}

int network_vps_up(struct vpsd *d, const struct vps_config *c, int netns_fd, struct vps_error *err)
{
    write_files(d, c);
    if (c->network.addresses.n == 0)
        return 0;
    return link_up(d, c, netns_fd, err);
}

/* Host interface names of long VPS names are hashes and may meet (net.h): the second VPS's
 * start then fails, and its cleanup must not delete the first one's veth, which lives while
 * that VPS runs or, stopped, keeps its network namespace pinned. */
static bool has_network(struct vpsd *d, const char *name)
{
    cleanup_close int netns = -1;
    struct vps_error e = {0};

    return supervisor_state(d->sup, name) != VPS_RUN_STOPPED ||
           supervisor_open_pinned_netns(d->sup, name, &netns, &e) == 0;
}

static bool owned_by_other(struct vpsd *d, const char *name, const char *host_if)
{
    struct vps_strv names = {0};
    struct vps_error e = {0};
    char other[IFNAMSIZ];
    bool r = false;

    if (strlen(name) <= 12 || vps_store_list(&d->store, &names, &e) < 0)
        return false;
    for (size_t i = 0; i < names.n && !r; i++) {
        vps_net_host_ifname(names.v[i], other);
        r = strcmp(names.v[i], name) != 0 && strcmp(other, host_if) == 0 &&
            has_network(d, names.v[i]);
    }
    vps_strv_free(&names);
    return r;
}

void network_vps_down(struct vpsd *d, const char *name)
{
    char host_if[IFNAMSIZ];
    struct vps_error e = {0};

    vps_net_host_ifname(name, host_if);
    if (owned_by_other(d, name, host_if))
        return;
    /* Filters first, while the veth they are on still exists; their nftables tables outlive
     * the device and are removed by name. */
    if (vps_antispoof_clear(host_if, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': remove anti-spoofing filter, ignoring", name);
    e = (struct vps_error){0};
    if (bandwidth_update(name, NULL, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': remove bandwidth limits, ignoring", name);
    e = (struct vps_error){0};
    if (vps_net_veth_destroy(host_if, &e) < 0)
        log_error(LOG_WARNING, &e, "vps '%s': delete veth '%s', ignoring", name, host_if);
}

int network_vps_resume(struct vpsd *d, const struct vps_config *c, int netns_fd,
                       struct vps_error *err)
{
    char host_if[IFNAMSIZ];

    vps_net_host_ifname(c->name, host_if);
    /* No veth yet although the config has addresses: an earlier up failed. */
    if (c->network.addresses.n > 0 && if_nametoindex(host_if) == 0)
        return network_vps_up(d, c, netns_fd, err);
    write_files(d, c);
    return 0;
}

static int apply_addresses(struct vpsd *d, const struct vps_config *old_c,
                           const struct vps_config *new_c, int netns_fd, struct vps_error *err)
{
    const struct vps_strv *o = &old_c->network.addresses, *n = &new_c->network.addresses;

    if (d->opt.routed)
        return network_routed_apply(old_c, new_c, netns_fd, err);
    for (size_t i = 0; i < o->n; i++)
        if (!vps_strv_contains(n, o->v[i]) && vps_net_addr_del(netns_fd, PEER_IF, o->v[i], err) < 0)
            return -1;
    /* Removing the address of the gateway's prefix took the default route with it. */
    if (add_addresses(netns_fd, n, o, err) < 0 || set_route(d, new_c, netns_fd, err) < 0 ||
        antispoof_update(new_c, err) < 0)
        return -1;
    return 0;
}

/* The VPS's network namespace: its running init's, else the pinned one of a stopped VPS.
 * 0 when it has none yet (never started): the first start sets the network up. */
static int open_netns(struct vpsd *d, const char *name, int *ret_fd, struct vps_error *err)
{
    if (supervisor_state(d->sup, name) == VPS_RUN_RUNNING)
        return supervisor_open_netns(d->sup, name, ret_fd, err) < 0 ? -1 : 1;
    if (supervisor_open_pinned_netns(d->sup, name, ret_fd, err) == 0)
        return 1;
    if (err->code != VPS_ERR_NOT_FOUND)
        return -1;
    *err = (struct vps_error){0};
    return 0;
}

int network_vps_apply(struct vpsd *d, const struct vps_config *old_c,
                      const struct vps_config *new_c, struct vps_error *err)
{
    cleanup_close int netns = -1;
    bool had = old_c->network.addresses.n > 0, has = new_c->network.addresses.n > 0;
    int r;

    if (!had && !has)
        return 0;
    if ((r = open_netns(d, new_c->name, &netns, err)) <= 0)
        return r < 0 ? vps_error_prefix(err, "apply network") : 0;
    if (had && !has) {
        network_vps_down(d, new_c->name);
        return 0;
    }
    r = had ? apply_addresses(d, old_c, new_c, netns, err) : link_up(d, new_c, netns, err);
    if (r == 0 && had)
        r = bandwidth_update(new_c->name, new_c, err);
    if (r < 0)
        return vps_error_prefix(err, "vps '%s': apply network", new_c->name);
    return 0;
}

json_t *network_stats_json(struct vpsd *d, const char *name)
{
    char host_if[IFNAMSIZ];
    struct vps_net_stats st;
    struct vps_error e = {0};

    (void) d;
    vps_net_host_ifname(name, host_if);
    if (vps_net_link_stats(-1, host_if, &st, &e) < 0) {
        if (e.code != VPS_ERR_NOT_FOUND)
            log_error(LOG_WARNING, &e, "vps '%s': network stats, ignoring", name);
        return NULL;
    }
    /* As the VPS sees them: what it receives leaves the host end. */
    return json_pack("{s:I, s:I, s:I, s:I}", "rx_bytes", (json_int_t) st.tx_bytes, "tx_bytes",
                     (json_int_t) st.rx_bytes, "rx_packets", (json_int_t) st.tx_packets,
                     "tx_packets", (json_int_t) st.rx_packets);
}
