/* A VPS's network bandwidth limits, done with traffic control over rtnetlink (libnl): what
 * goes to the VPS is shaped by an HTB on its veth's host end; what comes from it is redirected
 * at that end's ingress to an IFB device, whose HTB shapes it. Everything sits on the host
 * side, out of reach of the VPS's root, who owns the VPS's network namespace and its eth0. */
#pragma once

#include <net/if.h>
#include <stdint.h>

#include "error.h"

/* The rates vps_tc_apply() takes, in bits/s: below the least, a token bucket's time no longer
 * fits the kernel's 32-bit field; the most is about 1.1 Tbit/s. */
#define VPS_TC_RATE_MIN 8000ULL
#define VPS_TC_RATE_MAX (1ULL << 40)

/* The preference of the ingress redirect filter on a host end (see vps_tc_apply()). */
#define VPS_TC_PREF 0xff00

/* The IFB device of host_if: host_if with its "vh-" replaced by "vb-", so the same length
 * and as unique as host_if. Fails (-1) for a host_if that does not start with "vh-". */
int vps_tc_ifb_name(const char *host_if, char buf[IFNAMSIZ]);

/* Sets the limits of host_if (a veth host end "vh-...", in the caller's namespace):
 * ingress_bps shapes what goes to the VPS (host_if's egress), egress_bps what comes from it
 * (host_if's ingress, through the IFB "vb-..."). Each in bits/s; 0 removes that limit, and
 * with it the IFB. Idempotent: a second call with other rates changes them in place, without
 * a moment unlimited. The ingress hook (a clsact qdisc) is shared: the redirect is a u32
 * filter at preference VPS_TC_PREF, the last there, so that filters of lower preference
 * (anti-spoofing) see the packet first; they must end in "continue" for the limit to apply.
 * On failure, a limit that was there may be gone. Errors: VPS_ERR_INVALID for a bad name or
 * a rate below VPS_TC_RATE_MIN; VPS_ERR_NOT_FOUND if host_if does not exist; VPS_ERR_SYSTEM
 * otherwise. Not for the child. */
int vps_tc_apply(const char *host_if, uint64_t ingress_bps, uint64_t egress_bps,
                 struct vps_error *err);

/* Removes both limits and the IFB. host_if missing (a stopped VPS's veth goes with its
 * namespace) is success, and its IFB is still removed. Errors as for vps_tc_apply(). */
int vps_tc_clear(const char *host_if, struct vps_error *err);
