/* The host side of a VPS's network over rtnetlink, with libnl: the host bridge, one veth pair
 * per VPS, and the links, addresses and default route inside a VPS's network namespace.
 * Deciding what a VPS gets (config.c) and filtering what it may send are not here. */
#include <net/if.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/ether.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet.h>
#include <linux/ip.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vps/net.h"

#define MTU_MIN 68 /* the least IPv4 allows (RFC 791); the kernel refuses less on most links */
#define MTU_MAX 65535

/* ---- libnl objects in cleanup variables ---- */

static void link_putp(struct rtnl_link **l)
{
    if (*l)
        rtnl_link_put(*l);
}

static void addr_putp(struct rtnl_addr **a)
{
    if (*a)
        rtnl_addr_put(*a);
}

static void route_putp(struct rtnl_route **r)
{
    if (*r)
        rtnl_route_put(*r);
}

static void nladdr_putp(struct nl_addr **a)
{
    if (*a)
        nl_addr_put(*a);
}

#define cleanup_link   cleanup_(link_putp)
#define cleanup_addr   cleanup_(addr_putp)
#define cleanup_route  cleanup_(route_putp)
#define cleanup_nladdr cleanup_(nladdr_putp)

/* ---- the netlink connection and its errors ---- */

/* libnl turns the kernel's errno into one of its NLE_* codes, and many errnos (ENETUNREACH,
 * EMLINK, ENOSPC, ...) into the same NLE_FAILURE. The error callback keeps the kernel's own
 * errno, so messages say what the kernel said. The struct must not move while sk is used: the
 * callback writes to kernel_errno through a pointer. */
struct nl_conn {
    struct nl_sock *sk;
    int kernel_errno; /* of the last error answer not yet taken by nl_errno() */
};

static void nl_conn_done(struct nl_conn *c)
{
    nl_socket_free(c->sk); /* accepts NULL */
    c->sk = NULL;
}

#define cleanup_nl cleanup_(nl_conn_done)

static int on_kernel_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    (void) nla;
    *(int *) arg = -e->error;
    return NL_STOP; /* libnl then returns the matching NLE_* code */
}

/* For failures that never reached the kernel (libnl's own checks, allocation). */
static int nle_to_errno(int nlerr)
{
    switch (nlerr < 0 ? -nlerr : nlerr) {
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_EXIST:
        return EEXIST;
    case NLE_INVAL:
    case NLE_NOATTR:
    case NLE_MISSING_ATTR:
        return EINVAL;
    case NLE_RANGE:
        return ERANGE;
    case NLE_MSGSIZE:
        return EMSGSIZE;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
        return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
        return ENOENT;
    case NLE_AGAIN:
        return EAGAIN;
    case NLE_INTR:
        return EINTR;
    case NLE_BAD_SOCK:
        return EBADF;
    case NLE_NOACCESS:
        return EACCES;
    case NLE_PERM:
        return EPERM;
    case NLE_BUSY:
        return EBUSY;
    case NLE_NODEV:
        return ENODEV;
    case NLE_NOADDR:
        return EADDRNOTAVAIL;
    case NLE_PROTO_MISMATCH:
        return EPROTONOSUPPORT;
    default:
        return EPROTO;
    }
}

/* The errno behind nlerr, a failed libnl call's result; takes the kernel's if it answered. */
static int nl_errno(struct nl_conn *c, int nlerr)
{
    int e = c->kernel_errno ? c->kernel_errno : nle_to_errno(nlerr);

    c->kernel_errno = 0;
    return e;
}

/* "what: <strerror>", VPS_ERR_EXISTS for EEXIST, VPS_ERR_SYSTEM otherwise. */
static int _printf_(3, 4) fail_errno(struct vps_error *err, int errnum, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    vps_error_errno(err, errnum, "%s", what);
    if (errnum == EEXIST)
        err->code = VPS_ERR_EXISTS;
    return -1;
}

static int nl_connect_route(struct nl_conn *c, struct vps_error *err)
{
    int r;

    c->kernel_errno = 0;
    c->sk = nl_socket_alloc();
    if (!c->sk)
        return vps_error_errno(err, ENOMEM, "allocate a netlink socket");
    /* libnl creates the socket with SOCK_CLOEXEC. */
    r = nl_connect(c->sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_conn_done(c);
        return fail_errno(err, nle_to_errno(r), "open a netlink socket");
    }
    (void) nl_socket_modify_err_cb(c->sk, NL_CB_CUSTOM, on_kernel_error, &c->kernel_errno);
    return 0;
}

/* Connects c in the network namespace netns_fd (-1: the calling thread's own).
 *
 * A netlink socket belongs for its whole life to the network namespace its creator was in
 * when it called socket(), wherever that thread goes later. So the thread enters netns_fd only
 * around nl_connect() and goes back at once: no thread of its own (vpsd has none) and no
 * helper process (a fork per call costs about a millisecond, and the answer would have to be
 * carried back). The thread's namespace is pinned by an fd first, through /proc/thread-self
 * because setns() moves only the calling thread. */
static int nl_socket_in(int netns_fd, struct nl_conn *c, struct vps_error *err)
{
    cleanup_close int own = -1;
    int r;

    if (netns_fd < 0)
        return nl_connect_route(c, err);
    own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0)
        return vps_error_errno(err, errno, "open the own network namespace");
    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return vps_error_errno(err, errno, "enter network namespace");
    r = nl_connect_route(c, err);
    if (setns(own, CLONE_NEWNET) < 0) {
        /* Going back to a namespace we were in, with the capabilities that just let us leave
         * it, fails only if the kernel cannot allocate the new nsproxy. Carrying on would make
         * every later socket of vpsd (API, listeners) inside a VPS's namespace, where the VPS's
         * root controls the routes: not an error to hand up, so the process ends here. */
        abort();
    }
    return r;
}

/* ---- input checks ---- */

bool vps_net_ifname_is_valid(const char *name)
{
    size_t len = strnlen(name, IFNAMSIZ);

    if (len == 0 || len > VPS_NET_IFNAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ':' || (unsigned char) *p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static int check_ifname(const char *name, struct vps_error *err)
{
    if (!name || !vps_net_ifname_is_valid(name))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid interface name '%s'",
                             name ? name : "(null)");
    return 0;
}

static int check_mtu(unsigned mtu, struct vps_error *err)
{
    if (mtu != 0 && (mtu < MTU_MIN || mtu > MTU_MAX))
        return vps_error_set(err, VPS_ERR_INVALID, "mtu %u is out of range %u..%u", mtu, MTU_MIN,
                             MTU_MAX);
    return 0;
}

/* "198.18.0.2/24" (with_prefix) or "198.18.0.1" into a new nl_addr; the prefix length is
 * decimal without sign or leading zero, as the config's canonical form has it. */
static int parse_ip(const char *s, bool with_prefix, struct nl_addr **ret, struct vps_error *err)
{
    char buf[INET6_ADDRSTRLEN + 4];
    unsigned char bin[sizeof(struct in6_addr)];
    const char *slash;
    size_t len;
    unsigned long prefix = 0;
    int family;

    if (!s)
        return vps_error_set(err, VPS_ERR_INVALID, "no address given");
    slash = strchr(s, '/');
    len = slash ? (size_t) (slash - s) : strlen(s);
    if (len >= sizeof buf || (slash != NULL) != with_prefix)
        goto bad;
    memcpy(buf, s, len);
    buf[len] = '\0';
    family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, buf, bin) != 1)
        goto bad;
    if (slash) {
        const char *p = slash + 1;
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]) || strlen(p) > 3 ||
            strspn(p, "0123456789") != strlen(p))
            goto bad;
        prefix = strtoul(p, NULL, 10);
        if (prefix > (family == AF_INET ? 32UL : 128UL))
            goto bad;
    }
    struct nl_addr *a = nl_addr_build(family, bin, family == AF_INET ? 4 : 16);
    if (!a)
        return vps_error_errno(err, ENOMEM, "address '%s'", s);
    nl_addr_set_prefixlen(a, slash ? (int) prefix : (family == AF_INET ? 32 : 128));
    *ret = a;
    return 0;
bad:
    return vps_error_set(err, VPS_ERR_INVALID, "invalid %s '%s'",
                         with_prefix ? "address/prefix" : "address", s);
}

/* ---- names ---- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void vps_net_host_ifname(const char *vps_name, char buf[IFNAMSIZ])
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint64_t h;
    char *p;

    if (strlen(vps_name) <= VPS_NET_IFNAME_MAX - 3) {
        (void) snprintf(buf, IFNAMSIZ, "vh-%s", vps_name);
        return;
    }
    h = fnv1a64(vps_name);
    p = buf + snprintf(buf, IFNAMSIZ, "vh-%.4s_", vps_name);
    for (int i = 0; i < 7; i++, h >>= 5)
        *p++ = b32[h & 31];
    *p = '\0';
}

/* ---- links ---- */

/* The link called name, as the kernel has it now, or NULL in *ret if there is none. */
static int link_find(struct nl_conn *c, const char *name, struct rtnl_link **ret,
                     struct vps_error *err)
{
    struct rtnl_link *link = NULL;
    int r = rtnl_link_get_kernel(c->sk, 0, name, &link);

    if (r < 0) {
        int e = nl_errno(c, r);
        if (e != ENODEV && r != -NLE_OBJ_NOTFOUND)
            return fail_errno(err, e, "look up interface '%s'", name);
    }
    *ret = link;
    return 0;
}

/* The same, with VPS_ERR_NOT_FOUND if there is none. */
static int link_get(struct nl_conn *c, const char *name, struct rtnl_link **ret,
                    struct vps_error *err)
{
    struct rtnl_link *link = NULL;

    if (link_find(c, name, &link, err) < 0)
        return -1;
    if (!link) {
        vps_error_set(err, VPS_ERR_NOT_FOUND, "interface '%s' does not exist", name);
        err->errnum = ENODEV;
        return -1;
    }
    *ret = link;
    return 0;
}

static bool link_is(struct rtnl_link *link, const char *kind)
{
    const char *type = rtnl_link_get_type(link);

    return type && !strcmp(type, kind);
}

/* Sets link up, and its MTU unless mtu is 0; leaves everything else as it is but one IPv4
 * setting: promote_secondaries. Without it, removing the first address of a subnet removes
 * every other address in that subnet with it, and a live "--ipdel" of a VPS's first address
 * would take the rest of its addresses (and its default route) down. */
static int link_set(struct nl_conn *c, struct rtnl_link *link, unsigned mtu, struct vps_error *err)
{
    cleanup_link struct rtnl_link *change = rtnl_link_alloc();
    int r;

    if (!change)
        return vps_error_errno(err, ENOMEM, "set up '%s'", rtnl_link_get_name(link));
    rtnl_link_set_flags(change, IFF_UP);
    if (mtu)
        rtnl_link_set_mtu(change, mtu);
    r = rtnl_link_inet_set_conf(change, IPV4_DEVCONF_PROMOTE_SECONDARIES, 1);
    if (r < 0)
        return fail_errno(err, nl_errno(c, r), "set up '%s'", rtnl_link_get_name(link));
    r = rtnl_link_change(c->sk, link, change, 0);
    if (r < 0)
        return fail_errno(err, nl_errno(c, r), "set up '%s'", rtnl_link_get_name(link));
    return 0;
}

/* Deletes the link name if it is of kind; a missing one is success. */
static int link_delete_on(struct nl_conn *c, const char *name, const char *kind,
                          struct vps_error *err)
{
    cleanup_link struct rtnl_link *link = NULL;
    int r;

    if (link_find(c, name, &link, err) < 0)
        return -1;
    if (!link)
        return 0;
    if (!link_is(link, kind))
        return vps_error_set(err, VPS_ERR_CONFLICT, "interface '%s' is not a %s", name, kind);
    /* By ifindex, not by name: the name may have been given to another link meanwhile. */
    r = rtnl_link_delete(c->sk, link);
    if (r < 0) {
        int e = nl_errno(c, r);
        return e == ENODEV ? 0 : fail_errno(err, e, "delete %s '%s'", kind, name);
    }
    return 0;
}

static int link_delete(const char *name, const char *kind, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};

    if (check_ifname(name, err) < 0 || nl_connect_route(&c, err) < 0)
        return -1;
    return link_delete_on(&c, name, kind, err);
}

static int set_mac(struct rtnl_link *link, const unsigned char mac[ETH_ALEN], struct vps_error *err)
{
    cleanup_nladdr struct nl_addr *a = nl_addr_build(AF_LLC, mac, ETH_ALEN);

    if (!a)
        return vps_error_errno(err, ENOMEM, "set a MAC address");
    rtnl_link_set_addr(link, a); /* takes its own reference */
    return 0;
}

/* ---- addresses ---- */

/* The IPv4 broadcast address of local's prefix, for prefixes that have one. */
static int set_broadcast(struct rtnl_addr *a, const struct nl_addr *local, struct vps_error *err)
{
    unsigned prefix = nl_addr_get_prefixlen(local);
    uint32_t ip, mask;

    if (nl_addr_get_family(local) != AF_INET || prefix > 30)
        return 0;
    memcpy(&ip, nl_addr_get_binary_addr(local), 4);
    mask = prefix ? htonl(~0U << (32 - prefix)) : 0;
    ip |= ~mask;
    cleanup_nladdr struct nl_addr *b = nl_addr_build(AF_INET, &ip, 4);
    if (!b)
        return vps_error_errno(err, ENOMEM, "broadcast address");
    (void) rtnl_addr_set_broadcast(a, b); /* fails only for a family mismatch */
    return 0;
}

/* local: from parse_ip(), with its prefix length. */
static int addr_build(int ifindex, struct nl_addr *local, struct rtnl_addr **ret,
                      struct vps_error *err)
{
    cleanup_addr struct rtnl_addr *a = rtnl_addr_alloc();

    if (!a)
        return vps_error_errno(err, ENOMEM, "allocate an address");
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_family(a, nl_addr_get_family(local));
    (void) rtnl_addr_set_local(a, local); /* fails only for a family mismatch */
    rtnl_addr_set_prefixlen(a, nl_addr_get_prefixlen(local));
    if (set_broadcast(a, local, err) < 0)
        return -1;
    if (nl_addr_get_family(local) == AF_INET6)
        rtnl_addr_set_flags(a, IFA_F_NODAD);
    *ret = TAKE_PTR(a);
    return 0;
}

static int addr_add_on(struct nl_conn *c, int ifindex, const char *ifname, struct nl_addr *local,
                       const char *cidr, bool exist_ok, struct vps_error *err)
{
    cleanup_addr struct rtnl_addr *a = NULL;
    int r;

    if (addr_build(ifindex, local, &a, err) < 0)
        return -1;
    r = rtnl_addr_add(c->sk, a, NLM_F_EXCL);
    if (r < 0) {
        int e = nl_errno(c, r);
        if (e == EEXIST && exist_ok)
            return 0;
        return fail_errno(err, e, "add address '%s' to '%s'", cidr, ifname);
    }
    return 0;
}

/* ---- the bridge ---- */

/* A fixed MAC from the bridge's name: locally administered (0x02), unicast. */
static void bridge_mac(const char *name, unsigned char mac[ETH_ALEN])
{
    uint64_t h = fnv1a64(name);

    mac[0] = 0x02;
    for (int i = 1; i < ETH_ALEN; i++, h >>= 8)
        mac[i] = (unsigned char) h;
}

static int bridge_create(struct nl_conn *c, const char *name, unsigned mtu, struct vps_error *err)
{
    cleanup_link struct rtnl_link *link = rtnl_link_bridge_alloc();
    unsigned char mac[ETH_ALEN];
    int r;

    if (!link)
        return vps_error_errno(err, ENOMEM, "create bridge '%s'", name);
    bridge_mac(name, mac);
    if (set_mac(link, mac, err) < 0)
        return -1;
    rtnl_link_set_name(link, name);
    rtnl_link_set_flags(link, IFF_UP);
    if (mtu)
        rtnl_link_set_mtu(link, mtu);
    r = rtnl_link_add(c->sk, link, NLM_F_CREATE | NLM_F_EXCL);
    if (r < 0) {
        int e = nl_errno(c, r);
        /* EEXIST: made by someone else since the lookup; the caller looks again. */
        return e == EEXIST ? 0 : fail_errno(err, e, "create bridge '%s'", name);
    }
    return 0;
}

int vps_net_bridge_ensure(const char *name, const char *cidr, unsigned mtu, int *ret_ifindex,
                          struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_nladdr struct nl_addr *local = NULL;

    if (check_ifname(name, err) < 0 || check_mtu(mtu, err) < 0 ||
        (cidr && parse_ip(cidr, true, &local, err) < 0))
        return -1;
    if (nl_connect_route(&c, err) < 0 || link_find(&c, name, &link, err) < 0 ||
        (!link && (bridge_create(&c, name, mtu, err) < 0 || link_get(&c, name, &link, err) < 0)))
        return vps_error_prefix(err, "bridge '%s'", name);
    if (!link_is(link, "bridge"))
        return vps_error_set(err, VPS_ERR_EXISTS, "interface '%s' exists and is not a bridge",
                             name);
    if (!(rtnl_link_get_flags(link) & IFF_UP) || (mtu && rtnl_link_get_mtu(link) != mtu)) {
        if (link_set(&c, link, mtu, err) < 0)
            return vps_error_prefix(err, "bridge '%s'", name);
    }
    if (local && addr_add_on(&c, rtnl_link_get_ifindex(link), name, local, cidr, true, err) < 0)
        return vps_error_prefix(err, "bridge '%s'", name);
    if (ret_ifindex)
        *ret_ifindex = rtnl_link_get_ifindex(link);
    return 0;
}

int vps_net_bridge_remove(const char *name, struct vps_error *err)
{
    return link_delete(name, "bridge", err);
}

/* ---- veth pairs ---- */

static int parse_mac(const char *s, unsigned char mac[ETH_ALEN], struct vps_error *err)
{
    struct ether_addr ea;
    static const unsigned char zero[ETH_ALEN];

    /* ether_aton_r() also takes one-digit octets; the config stores what the user wrote. */
    if (strlen(s) != 17 || !ether_aton_r(s, &ea))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid MAC address '%s'", s);
    if ((ea.ether_addr_octet[0] & 1) || !memcmp(ea.ether_addr_octet, zero, ETH_ALEN))
        return vps_error_set(err, VPS_ERR_INVALID, "MAC address '%s' is not a unicast address", s);
    memcpy(mac, ea.ether_addr_octet, ETH_ALEN);
    return 0;
}

/* Fills the veth template: everything the RTM_NEWLINK carries. */
static int veth_build(struct rtnl_link *link, const char *host_if, int bridge_ifindex, int netns_fd,
                      const char *peer_if, unsigned mtu, const unsigned char *mac,
                      struct vps_error *err)
{
    cleanup_link struct rtnl_link *peer = rtnl_link_veth_get_peer(link); /* a new reference */

    rtnl_link_set_name(link, host_if);
    if (bridge_ifindex > 0)
        rtnl_link_set_master(link, bridge_ifindex);
    rtnl_link_set_flags(link, IFF_UP);
    rtnl_link_set_name(peer, peer_if);
    rtnl_link_set_ns_fd(peer, netns_fd);
    /* Not IFF_UP on the peer: the kernel applies the peer's flags before it pairs the two ends,
     * and veth_open() of an unpaired end fails with ENOTCONN (seen on 6.18). */
    if (mtu) {
        rtnl_link_set_mtu(link, mtu);
        rtnl_link_set_mtu(peer, mtu);
    }
    return mac ? set_mac(peer, mac, err) : 0;
}

/* The error of a failed create, saying which end's name is taken on EEXIST. */
static int veth_failed(struct nl_conn *c, int errnum, const char *host_if, const char *peer_if,
                       struct vps_error *err)
{
    cleanup_link struct rtnl_link *clash = NULL;
    struct vps_error ignored = {0};

    if (errnum == EEXIST && link_find(c, host_if, &clash, &ignored) == 0)
        return fail_errno(err, EEXIST, "create veth '%s': %s", host_if,
                          clash ? "the name is taken"
                                : "the peer's name is taken in the namespace");
    return fail_errno(err, errnum, "create veth '%s' with peer '%s' in the namespace", host_if,
                      peer_if);
}

int vps_net_veth_create(const char *host_if, int bridge_ifindex, int netns_fd, const char *peer_if,
                        unsigned mtu, const char *peer_mac, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    struct vps_error ignored = {0};
    unsigned char mac[ETH_ALEN];
    int r;

    if (check_ifname(host_if, err) < 0 || check_ifname(peer_if, err) < 0 ||
        check_mtu(mtu, err) < 0 || (peer_mac && parse_mac(peer_mac, mac, err) < 0))
        return vps_error_prefix(err, "create veth");
    if (bridge_ifindex < 0 || netns_fd < 0)
        return vps_error_set(err, VPS_ERR_INVALID, "create veth '%s': invalid %s", host_if,
                             bridge_ifindex <= 0 ? "bridge ifindex" : "namespace fd");
    link = rtnl_link_veth_alloc();
    if (!link)
        return vps_error_errno(err, ENOMEM, "create veth '%s'", host_if);
    if (veth_build(link, host_if, bridge_ifindex, netns_fd, peer_if, mtu, peer_mac ? mac : NULL,
                   err) < 0 ||
        nl_connect_route(&c, err) < 0)
        return vps_error_prefix(err, "create veth '%s'", host_if);
    /* One request makes the peer in the namespace, then the host end, and enslaves and ups the
     * latter; on a failure the kernel unregisters whatever of it was made (veth's dellink takes
     * both ends), so there is nothing to undo yet. */
    r = rtnl_link_add(c.sk, link, NLM_F_CREATE | NLM_F_EXCL);
    if (r < 0)
        return veth_failed(&c, nl_errno(&c, r), host_if, peer_if, err);
    /* The peer comes up through a socket in the namespace. From here on a failure deletes the
     * pair again, through the host end: the name is ours, NLM_F_EXCL made it. */
    if (vps_net_link_up(netns_fd, peer_if, err) < 0) {
        (void) link_delete_on(&c, host_if, "veth", &ignored);
        return vps_error_prefix(err, "create veth '%s'", host_if);
    }
    return 0;
}

int vps_net_veth_destroy(const char *host_if, struct vps_error *err)
{
    return link_delete(host_if, "veth", err);
}

/* ---- inside a namespace ---- */

/* Connects in netns_fd and looks up ifname there. */
static int open_link_in(int netns_fd, const char *ifname, struct nl_conn *c, struct rtnl_link **ret,
                        struct vps_error *err)
{
    if (check_ifname(ifname, err) < 0 || nl_socket_in(netns_fd, c, err) < 0)
        return -1;
    return link_get(c, ifname, ret, err);
}

int vps_net_link_up(int netns_fd, const char *ifname, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;

    if (open_link_in(netns_fd, ifname, &c, &link, err) < 0)
        return -1;
    return link_set(&c, link, 0, err);
}

int vps_net_addr_add(int netns_fd, const char *ifname, const char *cidr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_nladdr struct nl_addr *local = NULL;

    if (parse_ip(cidr, true, &local, err) < 0 || open_link_in(netns_fd, ifname, &c, &link, err) < 0)
        return -1;
    return addr_add_on(&c, rtnl_link_get_ifindex(link), ifname, local, cidr, false, err);
}

int vps_net_addr_del(int netns_fd, const char *ifname, const char *cidr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_addr struct rtnl_addr *a = NULL;
    cleanup_nladdr struct nl_addr *local = NULL;
    int r;

    if (parse_ip(cidr, true, &local, err) < 0 ||
        open_link_in(netns_fd, ifname, &c, &link, err) < 0 ||
        addr_build(rtnl_link_get_ifindex(link), local, &a, err) < 0)
        return -1;
    r = rtnl_addr_delete(c.sk, a, 0);
    if (r < 0) {
        int e = nl_errno(&c, r);
        /* EADDRNOTAVAIL: no such address on the link (IPv4 and IPv6 alike). */
        if (e == EADDRNOTAVAIL)
            return 0;
        return fail_errno(err, e, "remove address '%s' from '%s'", cidr, ifname);
    }
    return 0;
}

/* via: the gateway from parse_ip(), or NULL for an IPv4 on-link route. */
static int default_route_build(int ifindex, struct nl_addr *via, struct rtnl_route **ret,
                               struct vps_error *err)
{
    static const unsigned char any[16];
    cleanup_route struct rtnl_route *rt = rtnl_route_alloc();
    cleanup_nladdr struct nl_addr *dst = NULL;
    struct rtnl_nexthop *nh = NULL;
    int family = via ? nl_addr_get_family(via) : AF_INET;

    if (!rt)
        return vps_error_errno(err, ENOMEM, "default route");
    dst = nl_addr_build(family, any, family == AF_INET ? 4 : 16);
    nh = rtnl_route_nh_alloc();
    if (!dst || !nh) {
        if (nh)
            rtnl_route_nh_free(nh);
        return vps_error_errno(err, ENOMEM, "default route");
    }
    nl_addr_set_prefixlen(dst, 0);
    rtnl_route_set_family(rt, (uint8_t) family);
    rtnl_route_set_table(rt, RT_TABLE_MAIN);
    rtnl_route_set_protocol(rt, RTPROT_STATIC);
    rtnl_route_set_type(rt, RTN_UNICAST);
    rtnl_route_set_scope(rt, via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    (void) rtnl_route_set_dst(rt, dst); /* fails only for a family mismatch */
    rtnl_route_nh_set_ifindex(nh, ifindex);
    if (via)
        rtnl_route_nh_set_gateway(nh, via);
    rtnl_route_add_nexthop(rt, nh); /* the route owns nh from here */
    *ret = TAKE_PTR(rt);
    return 0;
}

int vps_net_route_default(int netns_fd, const char *ifname, const char *gw, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_route struct rtnl_route *rt = NULL;
    cleanup_nladdr struct nl_addr *via = NULL;
    int r;

    if ((gw && parse_ip(gw, false, &via, err) < 0) ||
        open_link_in(netns_fd, ifname, &c, &link, err) < 0 ||
        default_route_build(rtnl_link_get_ifindex(link), via, &rt, err) < 0)
        return -1;
    r = rtnl_route_add(c.sk, rt, NLM_F_REPLACE);
    if (r < 0)
        return fail_errno(err, nl_errno(&c, r), "set the default route via '%s' on '%s'",
                          gw ? gw : "(on-link)", ifname);
    return 0;
}

int vps_net_link_stats(int netns_fd, const char *ifname, struct vps_net_stats *ret,
                       struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;

    if (open_link_in(netns_fd, ifname, &c, &link, err) < 0)
        return -1;
    *ret = (struct vps_net_stats){
        .rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES),
        .rx_packets = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS),
        .tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES),
        .tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS),
        .rx_dropped = rtnl_link_get_stat(link, RTNL_LINK_RX_DROPPED),
        .tx_dropped = rtnl_link_get_stat(link, RTNL_LINK_TX_DROPPED),
    };
    return 0;
}

int vps_net_route_default_onlink(int netns_fd, const char *ifname, const char *gw,
                                 struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_route struct rtnl_route *rt = NULL;
    cleanup_nladdr struct nl_addr *via = NULL;
    int r;

    if (parse_ip(gw, false, &via, err) < 0 || open_link_in(netns_fd, ifname, &c, &link, err) < 0 ||
        default_route_build(rtnl_link_get_ifindex(link), via, &rt, err) < 0)
        return -1;
    rtnl_route_nh_set_flags(rtnl_route_nexthop_n(rt, 0), RTNH_F_ONLINK);
    r = rtnl_route_add(c.sk, rt, NLM_F_REPLACE);
    if (r < 0)
        return fail_errno(err, nl_errno(&c, r), "set the default route via '%s' on-link on '%s'",
                          gw, ifname);
    return 0;
}

/* ---- host routes and proxy neighbours (routed mode) ---- */

/* For the undo calls: a missing interface took its routes and proxy entries with it. */
static int gone_is_success(struct vps_error *err)
{
    if (err->code != VPS_ERR_NOT_FOUND)
        return -1;
    *err = (struct vps_error){0};
    return 0;
}

/* dst: from parse_ip() without a prefix, so a /32 or /128. */
static int host_route_build(int ifindex, struct nl_addr *dst, struct rtnl_route **ret,
                            struct vps_error *err)
{
    cleanup_route struct rtnl_route *rt = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();

    if (!rt || !nh) {
        if (nh)
            rtnl_route_nh_free(nh);
        return vps_error_errno(err, ENOMEM, "host route");
    }
    rtnl_route_set_family(rt, (uint8_t) nl_addr_get_family(dst));
    rtnl_route_set_table(rt, RT_TABLE_MAIN);
    rtnl_route_set_protocol(rt, RTPROT_STATIC);
    rtnl_route_set_type(rt, RTN_UNICAST);
    rtnl_route_set_scope(rt, RT_SCOPE_LINK);
    (void) rtnl_route_set_dst(rt, dst); /* fails only for a family mismatch */
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(rt, nh); /* the route owns nh from here */
    *ret = TAKE_PTR(rt);
    return 0;
}

/* Connects in the caller's namespace and builds the route to addr through ifname. */
static int host_route_prepare(const char *ifname, const char *addr, struct nl_conn *c,
                              struct rtnl_route **ret, struct vps_error *err)
{
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_nladdr struct nl_addr *dst = NULL;

    if (parse_ip(addr, false, &dst, err) < 0 || open_link_in(-1, ifname, c, &link, err) < 0)
        return -1;
    return host_route_build(rtnl_link_get_ifindex(link), dst, ret, err);
}

int vps_net_route_host_add(const char *ifname, const char *addr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_route struct rtnl_route *rt = NULL;
    int r;

    if (host_route_prepare(ifname, addr, &c, &rt, err) < 0)
        return -1;
    r = rtnl_route_add(c.sk, rt, NLM_F_EXCL);
    if (r < 0)
        return fail_errno(err, nl_errno(&c, r), "add route to '%s' via '%s'", addr, ifname);
    return 0;
}

int vps_net_route_host_del(const char *ifname, const char *addr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_route struct rtnl_route *rt = NULL;
    int r;

    if (host_route_prepare(ifname, addr, &c, &rt, err) < 0)
        return gone_is_success(err);
    r = rtnl_route_delete(c.sk, rt, 0);
    if (r < 0) {
        int e = nl_errno(&c, r);
        /* ESRCH: no such IPv4 route; ENOENT: no such IPv6 one. */
        if (e == ESRCH || e == ENOENT)
            return 0;
        return fail_errno(err, e, "delete route to '%s' via '%s'", addr, ifname);
    }
    return 0;
}

static void neigh_putp(struct rtnl_neigh **n)
{
    if (*n)
        rtnl_neigh_put(*n);
}

#define cleanup_neigh cleanup_(neigh_putp)

/* The proxy entry for addr on ifname, in the caller's namespace. */
static int proxy_neigh_prepare(const char *ifname, const char *addr, struct nl_conn *c,
                               struct rtnl_neigh **ret, struct vps_error *err)
{
    cleanup_link struct rtnl_link *link = NULL;
    cleanup_nladdr struct nl_addr *dst = NULL;
    struct rtnl_neigh *n;

    if (parse_ip(addr, false, &dst, err) < 0 || open_link_in(-1, ifname, c, &link, err) < 0)
        return -1;
    n = rtnl_neigh_alloc();
    if (!n)
        return vps_error_errno(err, ENOMEM, "proxy entry for '%s'", addr);
    rtnl_neigh_set_ifindex(n, rtnl_link_get_ifindex(link));
    rtnl_neigh_set_family(n, nl_addr_get_family(dst));
    (void) rtnl_neigh_set_dst(n, dst); /* takes its own reference */
    rtnl_neigh_set_flags(n, NTF_PROXY);
    rtnl_neigh_set_state(n, NUD_PERMANENT);
    *ret = n;
    return 0;
}

int vps_net_neigh_proxy_add(const char *ifname, const char *addr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_neigh struct rtnl_neigh *n = NULL;
    int r;

    if (proxy_neigh_prepare(ifname, addr, &c, &n, err) < 0)
        return -1;
    r = rtnl_neigh_add(c.sk, n, NLM_F_CREATE | NLM_F_REPLACE);
    if (r < 0)
        return fail_errno(err, nl_errno(&c, r), "add proxy entry for '%s' on '%s'", addr, ifname);
    return 0;
}

int vps_net_neigh_proxy_del(const char *ifname, const char *addr, struct vps_error *err)
{
    cleanup_nl struct nl_conn c = {0};
    cleanup_neigh struct rtnl_neigh *n = NULL;
    int r;

    if (proxy_neigh_prepare(ifname, addr, &c, &n, err) < 0)
        return gone_is_success(err);
    r = rtnl_neigh_delete(c.sk, n, 0);
    if (r < 0) {
        int e = nl_errno(&c, r);
        if (e == ENOENT)
            return 0;
        return fail_errno(err, e, "delete proxy entry for '%s' on '%s'", addr, ifname);
    }
    return 0;
}
