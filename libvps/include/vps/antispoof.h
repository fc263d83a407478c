/* Anti-spoofing for what a VPS sends: an nftables filter on the ingress of its veth's host end
 * that lets through only frames with the VPS's own MAC and IP addresses (DESIGN.md: "no VPS
 * can spoof another's MAC or IP"). Making the veth and its addresses is net.h's. */
#pragma once

#include <net/if.h>

#include "error.h"
#include "json.h"

/* "xx:xx:xx:xx:xx:xx" and its NUL. */
#define VPS_ANTISPOOF_MAC_LEN 18

/* The MAC of a VPS's eth0, fixed by its name (an FNV-1a hash), so that a filter made for it
 * stays right across restarts: locally administered (0x02 first), unicast. Never fails. */
void vps_antispoof_mac(const char *vps_name, char buf[VPS_ANTISPOOF_MAC_LEN]);

/* Makes the filter on host_if (the host end, which must exist) match mac ("02:..", unicast)
 * and addresses ("198.18.0.2/24", "fd00::2/64"; the prefix length is ignored). Frames that
 * host_if receives, that is what the VPS sends, are dropped unless:
 *   - the Ethernet source is mac, and
 *   - IPv4: the source is one of addresses (0.0.0.0 too is dropped: there is no DHCP);
 *   - ARP (Ethernet/IPv4): sender MAC is mac and sender IP one of addresses;
 *   - IPv6: the source is one of addresses or link-local (fe80::/10); router advertisements
 *     and redirects are dropped, and neighbour advertisements only pass for a target among
 *     addresses or the EUI-64 link-local of mac;
 *   - any other EtherType (VLAN tags, LLDP, ...) is dropped.
 * The filter is one nftables table of the netdev family per host_if, "vps-<host_if>",
 * replaced whole in one transaction: safe to call again when addresses change, and no frame
 * is ever judged by half a filter. Errors: VPS_ERR_INVALID for a bad host_if, mac or address
 * or more than 64 addresses; VPS_ERR_SYSTEM otherwise (errnum ENOENT: no host_if). Not for
 * the child. */
int vps_antispoof_apply(const char *host_if, const char *mac, const struct vps_strv *addresses,
                        struct vps_error *err);

/* Deletes host_if's filter. No filter is success. Deleting host_if does not do it: since
 * Linux 6.16 a netdev chain outlives its device (it waits for one of that name to come back).
 * Not for the child. */
int vps_antispoof_clear(const char *host_if, struct vps_error *err);
