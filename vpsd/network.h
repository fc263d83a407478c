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

/* After a VPS stopped: deletes the host end of its veth, unless a running VPS with the same
 * host interface name owns it. Failures are logged. */
void network_vps_down(struct vpsd *d, const char *name);

/* For a running VPS (a stopped one: nothing to do), moves its interface from old's
 * addresses to new's: removed ones go, added ones come, the default route is set again; the
 * veth is made when the first address comes and deleted when the last goes. */
int network_vps_apply(struct vpsd *d, const struct vps_config *old_c,
                      const struct vps_config *new_c, struct vps_error *err);

/* {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets"} of the host end of the VPS's veth
 * (what the VPS sends is rx there), or NULL when it has none. */
json_t *network_stats_json(struct vpsd *d, const char *name);
