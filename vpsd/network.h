/* The daemon side of a VPS's network: the host bridge (made when the first VPS with addresses
 * starts), the VPS's veth, its addresses and default route, live address changes, traffic
 * counters, and the hosts, hostname and resolv.conf files written into its rootfs before it
 * starts. The netlink work itself is libvps/net.c's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

/* True if cidr is an "a.b.c.d/len" or IPv6 "addr/len" that --bridge-address may take. */
bool network_cidr_is_valid(const char *cidr);

/* Before a VPS starts, with its new network namespace netns_fd (lo up already): writes
 * etc/hostname, etc/hosts and, with nameservers, etc/resolv.conf into its rootfs (failures
 * there are logged as warnings, never fatal: the files are the VPS's own). If c has
 * addresses: makes sure the bridge exists, creates the veth (host end
 * vps_net_host_ifname(), peer "eth0" in netns_fd), adds the addresses and the default route
 * through the bridge's address where one is on a VPS prefix. On failure the veth is gone
 * again. VPS_ERR_EXISTS if the host end's name is taken, VPS_ERR_SYSTEM otherwise. */
int network_vps_up(struct vpsd *d, const struct vps_config *c, int netns_fd, struct vps_error *err);

/* At a later start, with the network namespace pinned at the first one (supervisor.c): the
 * network in it stayed up, so only the name files are written, as network_vps_up() does;
 * if c has addresses but the VPS has no veth (an earlier up failed), network_vps_up(). */
int network_vps_resume(struct vpsd *d, const struct vps_config *c, int netns_fd,
                       struct vps_error *err);

/* At destroy (a stopped VPS keeps its network): deletes the host end of its veth, its
 * anti-spoofing filter and bandwidth limits, unless a running VPS with the same host
 * interface name owns it. Failures are logged. */
void network_vps_down(struct vpsd *d, const char *name);

/* For a running VPS, or a stopped one with a pinned network namespace (one never started
 * has none: nothing to do), moves its interface from old's addresses to new's: removed ones
 * go, added ones come, the default route is set again; the veth is made when the first
 * address comes and deleted when the last goes. Bandwidth limits follow new's. */
int network_vps_apply(struct vpsd *d, const struct vps_config *old_c,
                      const struct vps_config *new_c, struct vps_error *err);

/* {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets"} of the host end of the VPS's veth
 * (what the VPS sends is rx there), or NULL when it has none. */
json_t *network_stats_json(struct vpsd *d, const char *name);

/* Routed mode (--network-mode routed), network-routed.c; network.c calls them in place of its
 * bridged steps. */

/* As network_vps_up()'s veth part, without a bridge: the veth (host end on no bridge), its
 * anti-spoofing filter, 169.254.0.1/32 (and fe80::1/64 for IPv6) and proxy ARP (proxy NDP) on
 * the host end, c's addresses inside as /32 and /128 with a host route each (and a proxy entry
 * for IPv6), default routes inside via 169.254.0.1 on-link and fe80::1, bandwidth limits. On
 * failure the veth, filter and limits are gone again. */
int network_routed_up(struct vpsd *d, const struct vps_config *c, int netns_fd,
                      struct vps_error *err);

/* For a running VPS that has a veth and keeps addresses: removed addresses go (inside, host
 * route, proxy entry), the filter is remade, added ones come, the default routes are set. */
int network_routed_apply(const struct vps_config *old_c, const struct vps_config *new_c,
                         int netns_fd, struct vps_error *err);
