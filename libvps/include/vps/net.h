/* The host side of a VPS's network, done over rtnetlink with libnl: the host bridge, one veth
 * pair per VPS (its peer made directly inside the VPS's network namespace), and the links,
 * addresses and default route inside that namespace. Which addresses a VPS gets, its
 * hostname and its resolv.conf are the config's and the spawner's, not this file's. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* The longest interface name the kernel takes: IFNAMSIZ less the NUL. */
#define VPS_NET_IFNAME_MAX (IFNAMSIZ - 1)

/* The default host bridge (DESIGN.md). */
#define VPS_NET_BRIDGE_DEFAULT "vpsbr0"

struct vps_net_stats {
    /* Counted as the named interface sees them: what a VPS sends is rx on its veth's host end
     * and tx on its eth0. */
    uint64_t rx_bytes;
    uint64_t rx_packets;
    uint64_t tx_bytes;
    uint64_t tx_packets;
    uint64_t rx_dropped;
    uint64_t tx_dropped;
};

/* True if the kernel would take name as an interface name: 1..VPS_NET_IFNAME_MAX bytes, not
 * "." or "..", no '/', ':' or white space. */
bool vps_net_ifname_is_valid(const char *name);

/* The name of the host end of a VPS's veth, from its name (a valid VPS name,
 * [a-z0-9][a-z0-9-]{0,62}):
 *   - "vh-<name>" when that fits (names of up to 12 characters);
 *   - otherwise "vh-<first 4 characters>_<7 characters>", the last 7 being 35 bits of the
 *     64-bit FNV-1a hash of the whole name in base32 ([a-z2-7]).
 * '_' never occurs in a VPS name, so the two forms cannot meet. Two long names can meet only
 * through the hash (for 10,000 long names with one common prefix, a chance of about 0.15%),
 * and then vps_net_veth_create() of the second fails with VPS_ERR_EXISTS: it never takes over
 * another VPS's veth. The scheme is stable: vpsd recomputes the name to find a VPS's veth
 * after a restart, so changing it would orphan the veths of running VPSes. Never fails. */
void vps_net_host_ifname(const char *vps_name, char buf[IFNAMSIZ]);

/* Makes sure the bridge name exists in the caller's network namespace and is up: creates it
 * if missing (with mtu unless 0, and a fixed locally administered MAC derived from name, so
 * that the bridge's MAC, which VPSes cache as their gateway's, does not follow its ports as
 * they come and go). An existing bridge keeps its MAC; its MTU is set to mtu unless 0. With
 * cidr ("198.18.0.1/24" or an IPv6 one), that address is put on the bridge unless it is there
 * already. Idempotent. On success *ret_ifindex (may be NULL) is the bridge's ifindex.
 * Errors: VPS_ERR_INVALID for a bad name, cidr or mtu; VPS_ERR_EXISTS if name is taken by an
 * interface that is not a bridge; VPS_ERR_SYSTEM otherwise. A bridge this call created is
 * left in place if a later step fails (the next call completes it). Not for the child. */
int vps_net_bridge_ensure(const char *name, const char *cidr, unsigned mtu, int *ret_ifindex,
                          struct vps_error *err);

/* Deletes the bridge name from the caller's namespace (its ports are detached, not deleted).
 * A missing bridge is success. VPS_ERR_CONFLICT if name is not a bridge. */
int vps_net_bridge_remove(const char *name, struct vps_error *err);

/* Creates a veth pair: host_if in the caller's namespace, up, attached to the bridge
 * bridge_ifindex (0: to no bridge, as routed mode has it); its peer peer_if ("eth0") inside
 * the network namespace netns_fd, made there (so its name never has to be free in the host),
 * up, with MAC peer_mac ("02:00:5e:00:00:01", unicast; NULL: random) and, unless 0, MTU mtu
 * on both ends.
 * All but the peer's "up" is one RTM_NEWLINK, which the kernel carries out whole or not at
 * all; the peer is then set up from inside netns_fd, and if that fails the pair is deleted
 * again. So a failure leaves no interface behind, in the host or in the namespace.
 * Errors: VPS_ERR_INVALID for bad names, fds, MAC or mtu; VPS_ERR_EXISTS if host_if is taken
 * in the host or peer_if in the namespace; VPS_ERR_SYSTEM otherwise (errnum EINVAL for a
 * bridge_ifindex that is no interface, EOPNOTSUPP for one that is not a bridge). Not for the
 * child. */
int vps_net_veth_create(const char *host_if, int bridge_ifindex, int netns_fd, const char *peer_if,
                        unsigned mtu, const char *peer_mac, struct vps_error *err);

/* Deletes the veth host_if from the caller's namespace, which deletes its peer wherever that
 * is. A missing host_if is success. VPS_ERR_CONFLICT if host_if is not a veth. */
int vps_net_veth_destroy(const char *host_if, struct vps_error *err);

/* The calls below work inside the network namespace netns_fd, or in the caller's with -1. The
 * calling thread enters netns_fd only to open a netlink socket there and is back in its own
 * namespace before they return. Each needs CAP_SYS_ADMIN and CAP_NET_ADMIN over netns_fd
 * (vpsd as root has them over every VPS's namespace). Errors: VPS_ERR_INVALID for bad input,
 * VPS_ERR_NOT_FOUND if ifname does not exist there, VPS_ERR_SYSTEM otherwise. None is for
 * the child. */

/* Sets ifname up ("eth0", and "lo", which a new namespace has down). Idempotent. */
int vps_net_link_up(int netns_fd, const char *ifname, struct vps_error *err);

/* Adds cidr ("198.18.0.2/24" or "fd00:198:18::2/64", with its prefix length) to ifname. An
 * IPv4 address gets its broadcast address (prefixes up to /30), an IPv6 one IFA_F_NODAD, so it
 * is usable at once rather than after a second of duplicate address detection (addresses
 * come from vpsd's config, which never gives one twice). VPS_ERR_EXISTS if it is there
 * already (for IPv6: the address, whatever its prefix length). */
int vps_net_addr_add(int netns_fd, const char *ifname, const char *cidr, struct vps_error *err);

/* Removes cidr from ifname. An address that is not there is success. */
int vps_net_addr_del(int netns_fd, const char *ifname, const char *cidr, struct vps_error *err);

/* Sets the default route of gw's family (0.0.0.0/0 or ::/0, main table) through gateway gw on
 * ifname, replacing a default route there is; with gw NULL, an IPv4 on-link default route
 * through ifname itself. The gateway must be on a prefix of ifname's addresses (errnum
 * ENETUNREACH otherwise). Idempotent. */
int vps_net_route_default(int netns_fd, const char *ifname, const char *gw, struct vps_error *err);

/* Sets the default route of gw's family through gateway gw on ifname marked on-link
 * (RTNH_F_ONLINK), so gw need not be on any prefix of ifname's: what a VPS in routed mode
 * with only /32 addresses uses to reach 169.254.0.1. Replaces a default route there is.
 * Idempotent. */
int vps_net_route_default_onlink(int netns_fd, const char *ifname, const char *gw,
                                 struct vps_error *err);

/* The traffic counters of ifname (64-bit, from IFLA_STATS64). */
int vps_net_link_stats(int netns_fd, const char *ifname, struct vps_net_stats *ret,
                       struct vps_error *err);

/* Routed mode, in the caller's namespace. addr is an address without prefix ("198.18.0.2",
 * "fd00::2"). Errors as above; none is for the child. */

/* Adds the host route addr/32 (/128) through ifname, scope link, main table. VPS_ERR_EXISTS
 * if a route to exactly that destination is there already, through whatever interface: an
 * address routed to one VPS is never taken over by another. */
int vps_net_route_host_add(const char *ifname, const char *addr, struct vps_error *err);

/* Removes that route. A missing route, or a missing ifname (whose routes went with it), is
 * success; a route to addr through another interface is left alone. */
int vps_net_route_host_del(const char *ifname, const char *addr, struct vps_error *err);

/* Adds a proxy neighbour entry (NTF_PROXY, as "ip neigh add proxy addr dev ifname"): the host
 * answers neighbour solicitations (ARP for IPv4) for addr received on ifname. For IPv6 the
 * kernel honours it only with net.ipv6.conf.<ifname>.proxy_ndp set. Idempotent. The entry
 * goes with ifname. */
int vps_net_neigh_proxy_add(const char *ifname, const char *addr, struct vps_error *err);

/* Removes that entry. A missing entry or ifname is success. */
int vps_net_neigh_proxy_del(const char *ifname, const char *addr, struct vps_error *err);
