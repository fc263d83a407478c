/* Unit tests for net.c: interface names, input checks, and (as root) bridges, veth pairs into
 * network namespaces, addresses, default routes, traffic between two namespaces on one bridge
 * and the counters it moves, and that failures leave no interface behind.
 *
 * Everything made here is named "vt-<pid>-..." (so two runs never meet), uses 198.18.77.0/24 to
 * 198.18.79.0/24 and fd00:198:18::/64 only, and lives on bridges with no uplink. Namespaces come
 * from unshare(CLONE_NEWNET) and live only as long as the test's fds, so they and the veths in them
 * go when a test ends, however it ends; the unchecked teardown, in the parent, deletes every
 * "vt-<pid>-" link left in the host namespace (bridges, and veths of a test that failed). */
#include <net/if.h>

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vps/idmap.h"
#include "vps/net.h"
#include "vps/spawn.h"

#include "test-helpers.h"

/* Bodies that touch the kernel's network state need root; without it they pass vacuously
 * and say so. */
#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (geteuid() != 0) {                                                                      \
            fprintf(stderr, "%s: skipped, needs root\n", __func__);                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Each bridge with a host address gets its own /24: two bridges holding one prefix would
 * leave the host's answers to the route of either. */
#define NET4    "198.18.77."
#define NET4_B  "198.18.78."
#define NET4_C  "198.18.79."
#define NET6    "fd00:198:18::"
#define PING_MS 3000

static char tag[16]; /* "vt-<pid in hex>-", set in the parent */

/* "vt-<pid>-<suffix>" */
static const char *nm(char buf[IFNAMSIZ], const char *suffix)
{
    int n = snprintf(buf, IFNAMSIZ, "%s%s", tag, suffix);
    ck_assert_int_lt(n, IFNAMSIZ);
    return buf;
}

/* ---- namespaces ---- */

static int own_netns(void)
{
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void enter(int ns)
{
    ck_assert_int_eq(setns(ns, CLONE_NEWNET), 0);
}

/* A new, empty network namespace, pinned only by the returned fd. */
static int new_netns(void)
{
    int own = own_netns(), ns;

    ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
    ns = own_netns();
    enter(own);
    close(own);
    return ns;
}

static ino_t netns_ino(void)
{
    struct stat st;
    ck_assert_int_eq(stat("/proc/thread-self/ns/net", &st), 0);
    return st.st_ino;
}

/* ---- reading kernel state back, independently of net.c ---- */

/* A libnl socket in ns (-1: here). */
static struct nl_sock *oracle_socket(int ns)
{
    int own = own_netns();
    struct nl_sock *sk = nl_socket_alloc();

    ck_assert_ptr_nonnull(sk);
    if (ns >= 0)
        enter(ns);
    int r = nl_connect(sk, NETLINK_ROUTE);
    enter(own);
    close(own);
    ck_assert_int_eq(r, 0);
    return sk;
}

/* The link name in ns, or NULL. Caller puts it. */
static struct rtnl_link *oracle_link(int ns, const char *name)
{
    struct nl_sock *sk = oracle_socket(ns);
    struct rtnl_link *link = NULL;

    if (rtnl_link_get_kernel(sk, 0, name, &link) < 0)
        link = NULL;
    nl_socket_free(sk);
    return link;
}

static bool link_exists(int ns, const char *name)
{
    struct rtnl_link *link = oracle_link(ns, name);
    if (link)
        rtnl_link_put(link);
    return link != NULL;
}

static int prefix_of(const struct sockaddr *mask)
{
    const unsigned char *p;
    size_t len;
    int n = 0;

    if (mask->sa_family == AF_INET) {
        p = (const unsigned char *) &((const struct sockaddr_in *) mask)->sin_addr;
        len = 4;
    } else {
        p = (const unsigned char *) &((const struct sockaddr_in6 *) mask)->sin6_addr;
        len = 16;
    }
    for (size_t i = 0; i < len; i++)
        n += __builtin_popcount(p[i]);
    return n;
}

/* True if ifname in ns has the address cidr, as getifaddrs() (its own netlink dump) sees it. */
static bool has_addr(int ns, const char *ifname, const char *cidr)
{
    struct ifaddrs *list = NULL;
    int own = own_netns();
    bool found = false;

    if (ns >= 0)
        enter(ns);
    int r = getifaddrs(&list);
    enter(own);
    close(own);
    ck_assert_int_eq(r, 0);
    for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
        char ip[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 8];
        const void *bin;
        if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0 ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        bin = i->ifa_addr->sa_family == AF_INET
                  ? (const void *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr
                  : (const void *) &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr;
        ck_assert_ptr_nonnull(inet_ntop(i->ifa_addr->sa_family, bin, ip, sizeof ip));
        snprintf(s, sizeof s, "%s/%d", ip, prefix_of(i->ifa_netmask));
        found = strcmp(s, cidr) == 0;
    }
    freeifaddrs(list);
    return found;
}

/* The gateway of the main table's default route of family in ns ("" if it has none), and
 * the ifindex it leaves through. */
static void default_route(int ns, int family, char gw[INET6_ADDRSTRLEN], int *ifindex)
{
    struct nl_sock *sk = oracle_socket(ns);
    struct nl_cache *cache = NULL;

    gw[0] = '\0';
    *ifindex = 0;
    ck_assert_int_eq(rtnl_route_alloc_cache(sk, family, 0, &cache), 0);
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_route *rt = (struct rtnl_route *) o;
        struct nl_addr *dst = rtnl_route_get_dst(rt);
        if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || !dst || nl_addr_get_prefixlen(dst) != 0 ||
            rtnl_route_get_type(rt) != RTN_UNICAST || rtnl_route_get_nnexthops(rt) != 1)
            continue;
        struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
        struct nl_addr *via = rtnl_route_nh_get_gateway(nh);
        *ifindex = rtnl_route_nh_get_ifindex(nh);
        if (via)
            ck_assert_ptr_nonnull(
                inet_ntop(family, nl_addr_get_binary_addr(via), gw, INET6_ADDRSTRLEN));
        else
            strcpy(gw, "on-link");
    }
    nl_cache_free(cache);
    nl_socket_free(sk);
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- traffic ---- */

static uint16_t inet_csum(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t) (p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t) ~sum);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

#define PING_INTERVAL_MS 500

/* A raw ICMP (or ICMPv6) socket made inside ns. */
static int icmp_socket_in(int ns, int family)
{
    int own = own_netns(), fd;

    enter(ns);
    fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    enter(own);
    close(own);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void send_echo(int fd, const char *dst, uint16_t id, uint16_t seq)
{
    struct sockaddr_storage sa = {0};
    unsigned char pkt[64] = {0};
    socklen_t salen;

    if (!strchr(dst, ':')) {
        struct sockaddr_in *s4 = (struct sockaddr_in *) &sa;
        struct icmphdr *h = (struct icmphdr *) pkt;
        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, dst, &s4->sin_addr), 1);
        salen = sizeof *s4;
        h->type = ICMP_ECHO;
        h->un.echo.id = htons(id);
        h->un.echo.sequence = htons(seq);
        h->checksum = inet_csum(pkt, sizeof pkt);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &sa;
        struct icmp6_hdr *h = (struct icmp6_hdr *) pkt;
        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, dst, &s6->sin6_addr), 1);
        salen = sizeof *s6;
        h->icmp6_type = ICMP6_ECHO_REQUEST; /* the kernel computes the ICMPv6 checksum */
        h->icmp6_id = htons(id);
        h->icmp6_seq = htons(seq);
    }
    ck_assert_int_eq(sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *) &sa, salen),
                     (ssize_t) sizeof pkt);
}

/* A raw IPv4 socket hands over the IP header too; a raw ICMPv6 socket does not. */
static bool is_echo_reply(int family, const unsigned char *buf, ssize_t n, uint16_t id)
{
    if (family == AF_INET && n >= (ssize_t) sizeof(struct iphdr)) {
        size_t hl = (size_t) ((const struct iphdr *) buf)->ihl * 4;
        const struct icmphdr *h = (const struct icmphdr *) (buf + hl);
        return (size_t) n >= hl + sizeof *h && h->type == ICMP_ECHOREPLY &&
               ntohs(h->un.echo.id) == id;
    }
    if (family == AF_INET6 && n >= (ssize_t) sizeof(struct icmp6_hdr)) {
        const struct icmp6_hdr *h = (const struct icmp6_hdr *) buf;
        return h->icmp6_type == ICMP6_ECHO_REPLY && ntohs(h->icmp6_id) == id;
    }
    return false;
}

/* Pings dst from inside ns, as ping(8) does: an echo request every PING_INTERVAL_MS until a
 * reply comes or timeout_ms pass. More than one request because a link that has just come up
 * drops frames until the kernel's linkwatch turns its carrier on (up to a second later). */
static bool ping_wait(int ns, const char *dst, int timeout_ms)
{
    int family = strchr(dst, ':') ? AF_INET6 : AF_INET, fd = icmp_socket_in(ns, family);
    uint16_t id = (uint16_t) getpid(), seq = 0;
    long long end = now_ms() + timeout_ms, next = 0;
    unsigned char buf[1500];
    bool ok = false;

    while (!ok && now_ms() < end) {
        if (now_ms() >= next) {
            send_echo(fd, dst, id, ++seq);
            next = now_ms() + PING_INTERVAL_MS;
        }
        long long until = next < end ? next : end;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int) (until > now_ms() ? until - now_ms() : 0)) == 1)
            ok = is_echo_reply(family, buf, recv(fd, buf, sizeof buf, 0), id);
    }
    close(fd);
    return ok;
}

static bool ping(int ns, const char *dst)
{
    return ping_wait(ns, dst, PING_MS);
}

/* ---- fixtures ---- */

/* Deletes every link in the host namespace whose name starts with tag. */
static void delete_tagged_links(void)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct nl_cache *cache = NULL;

    if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0 ||
        rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache) < 0) {
        nl_socket_free(sk);
        return;
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_link *link = (struct rtnl_link *) o;
        const char *name = rtnl_link_get_name(link);
        if (name && strncmp(name, tag, strlen(tag)) == 0)
            (void) rtnl_link_delete(sk, link); /* may be gone with its namespace already */
    }
    nl_cache_free(cache);
    nl_socket_free(sk);
}

static void root_setup(void)
{
    /* pid_max is at most 2^22: six hex digits, so "vt-<pid>-xx" fits in IFNAMSIZ. */
    snprintf(tag, sizeof tag, "vt-%x-", (unsigned) getpid());
}

static void root_teardown(void)
{
    if (geteuid() == 0)
        delete_tagged_links();
}

/* A bridge for the calling test, up, with the host address cidr on it unless NULL. */
static int test_bridge(const char *suffix, const char *cidr)
{
    struct vps_error err = {0};
    char br[IFNAMSIZ];
    int ifindex = 0;

    ck_assert_ok(vps_net_bridge_ensure(nm(br, suffix), cidr, 0, &ifindex, &err), err);
    ck_assert_int_gt(ifindex, 0);
    return ifindex;
}

/* A namespace with eth0 (up, lo up too) on bridge, its host end called host_if, and addr4 and
 * addr6 on eth0. */
static int vps_like_netns(int bridge, const char *host_if, const char *addr4, const char *addr6)
{
    struct vps_error err = {0};
    int ns = new_netns();

    ck_assert_ok(vps_net_veth_create(host_if, bridge, ns, "eth0", 0, NULL, &err), err);
    ck_assert_ok(vps_net_link_up(ns, "lo", &err), err);
    ck_assert_ok(vps_net_addr_add(ns, "eth0", addr4, &err), err);
    ck_assert_ok(vps_net_addr_add(ns, "eth0", addr6, &err), err);
    return ns;
}

/* ---- names and input (no root needed) ---- */

START_TEST(host_ifname_short_names_are_kept)
{
    char buf[IFNAMSIZ];

    vps_net_host_ifname("web1", buf);
    ck_assert_str_eq(buf, "vh-web1");
    vps_net_host_ifname("abcdefghijkl", buf); /* 12: the longest kept whole */
    ck_assert_str_eq(buf, "vh-abcdefghijkl");
    ck_assert(vps_net_ifname_is_valid(buf));
}
END_TEST

START_TEST(host_ifname_long_names_are_hashed_and_distinct)
{
    char a[IFNAMSIZ], b[IFNAMSIZ], a2[IFNAMSIZ], c[IFNAMSIZ];
    char longest[64];

    memset(longest, 'z', 63);
    longest[63] = '\0';
    vps_net_host_ifname("abcdefghijklm", a); /* 13 */
    vps_net_host_ifname("abcdefghijkln", b);
    vps_net_host_ifname("abcdefghijklm", a2);
    vps_net_host_ifname(longest, c);
    ck_assert_str_eq(a, a2); /* stable */
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(strlen(a), VPS_NET_IFNAME_MAX);
    ck_assert_int_eq(strlen(c), VPS_NET_IFNAME_MAX);
    ck_assert(strncmp(a, "vh-abcd_", 8) == 0);
    ck_assert(vps_net_ifname_is_valid(a) && vps_net_ifname_is_valid(c));
    /* A short name cannot meet a hashed one: only hashed ones have a '_'. */
    ck_assert_ptr_eq(strchr(a, '_'), a + 7);
    vps_net_host_ifname("abcd-1234567", b);
    ck_assert_ptr_null(strchr(b, '_'));
}
END_TEST

static int cmp_names(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* 10,000 long names with a common prefix, the worst case for the readable part. */
START_TEST(host_ifname_many_long_names_do_not_collide)
{
    enum { N = 10000 };
    char(*names)[IFNAMSIZ] = calloc(N, IFNAMSIZ);
    char vps[64];

    ck_assert_ptr_nonnull(names);
    for (int i = 0; i < N; i++) {
        snprintf(vps, sizeof vps, "customer-%06d-web", i);
        vps_net_host_ifname(vps, names[i]);
        ck_assert(vps_net_ifname_is_valid(names[i]));
    }
    qsort(names, N, IFNAMSIZ, cmp_names);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(names[i - 1], names[i]);
    free(names);
}
END_TEST

START_TEST(ifname_validity)
{
    ck_assert(vps_net_ifname_is_valid("eth0"));
    ck_assert(vps_net_ifname_is_valid("abcdefghijklmno"));
    ck_assert(!vps_net_ifname_is_valid("abcdefghijklmnop"));
    ck_assert(!vps_net_ifname_is_valid(""));
    ck_assert(!vps_net_ifname_is_valid("."));
    ck_assert(!vps_net_ifname_is_valid(".."));
    ck_assert(!vps_net_ifname_is_valid("a/b"));
    ck_assert(!vps_net_ifname_is_valid("a:1"));
    ck_assert(!vps_net_ifname_is_valid("a b"));
}
END_TEST

START_TEST(bad_input_is_invalid_before_any_kernel_call)
{
    static const char *const bad_cidrs[] = {
        "198.18.77.2",    "198.18.77.2/33", "198.18.77.2/", "198.18.77.2/024",
        "198.18.77.2/+4", "198.18.77.2/2x", "198.18.77/24", "fd00::1/129",
        "fd00::1",        "x/24",           "/24",          "",
        "fd00::1/64/64",
    };
    struct vps_error err = {0};

    for (size_t i = 0; i < sizeof bad_cidrs / sizeof *bad_cidrs; i++) {
        err = (struct vps_error){0};
        ck_assert_int_eq(vps_net_addr_add(-1, "vt-none0", bad_cidrs[i], &err), -1);
        ck_assert_err(err, VPS_ERR_INVALID, "invalid address/prefix");
    }
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_addr_del(-1, "vt-none0", "198.18.77.1", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address/prefix '198.18.77.1'");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_addr_add(-1, "vt-none0", NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "no address given");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_route_default(-1, "vt-none0", "198.18.77.1/24", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address '198.18.77.1/24'");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_bridge_ensure("vt-name-far-too-long", NULL, 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid interface name");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_bridge_ensure("vt-x", NULL, 20, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "mtu 20");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_bridge_ensure("vt-x", "198.18.77.1", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address/prefix");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create("vt-x", 1, 0, "eth0", 0, "03:00:00:00:00:01", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "not a unicast address");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create("vt-x", 1, 0, "eth0", 0, "02:00:00:00:01", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid MAC address");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create("vt-x", -1, 0, "eth0", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "bridge ifindex");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_route_host_add("vt-none0", "198.18.96.2/32", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address '198.18.96.2/32'");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_neigh_proxy_add("vt/x", "fd00::2", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid interface name");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_route_default_onlink(-1, "vt-none0", "169.254.0.1/32", &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create("vt-x", 1, -1, "eth/0", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid interface name 'eth/0'");
}
END_TEST

/* ---- the bridge ---- */

START_TEST(bridge_ensure_is_idempotent)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char br[IFNAMSIZ];
    int first = 0, second = 0;

    nm(br, "br");
    ck_assert_ok(vps_net_bridge_ensure(br, NET4_C "1/24", 1400, &first, &err), err);
    ck_assert_ok(vps_net_bridge_ensure(br, NET4_C "1/24", 1400, &second, &err), err);
    ck_assert_int_eq(first, second);
    ck_assert(has_addr(-1, br, NET4_C "1/24"));

    struct rtnl_link *link = oracle_link(-1, br);
    ck_assert_ptr_nonnull(link);
    ck_assert_str_eq(rtnl_link_get_type(link), "bridge");
    ck_assert(rtnl_link_get_flags(link) & IFF_UP);
    ck_assert_int_eq(rtnl_link_get_mtu(link), 1400);
    /* The fixed, locally administered MAC. */
    ck_assert_int_eq(((const unsigned char *) nl_addr_get_binary_addr(rtnl_link_get_addr(link)))[0],
                     0x02);

    /* Brought down by someone: ensure brings it up again. */
    struct nl_sock *sk = oracle_socket(-1);
    struct rtnl_link *down = rtnl_link_alloc();
    rtnl_link_unset_flags(down, IFF_UP);
    ck_assert_int_eq(rtnl_link_change(sk, link, down, 0), 0);
    rtnl_link_put(down);
    rtnl_link_put(link);
    nl_socket_free(sk);
    link = oracle_link(-1, br);
    ck_assert(!(rtnl_link_get_flags(link) & IFF_UP));
    rtnl_link_put(link);
    ck_assert_ok(vps_net_bridge_ensure(br, NULL, 0, &second, &err), err);
    ck_assert_int_eq(first, second);
    link = oracle_link(-1, br);
    ck_assert(rtnl_link_get_flags(link) & IFF_UP);
    ck_assert_int_eq(rtnl_link_get_mtu(link), 1400); /* mtu 0 leaves it */
    rtnl_link_put(link);

    ck_assert_ok(vps_net_bridge_remove(br, &err), err);
    ck_assert(!link_exists(-1, br));

    /* Bad input is refused before anything is made. */
    ck_assert_int_eq(vps_net_bridge_ensure(br, NET4_C "1/33", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_INVALID, "invalid address/prefix");
    ck_assert(!link_exists(-1, br));
    err = (struct vps_error){0};
    ck_assert_ok(vps_net_bridge_remove(br, &err), err); /* missing is success */
}
END_TEST

START_TEST(bridge_ensure_refuses_a_name_taken_by_another_kind)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char host[IFNAMSIZ];
    int bridge = test_bridge("b1", NULL), ns = new_netns();

    ck_assert_ok(vps_net_veth_create(nm(host, "h1"), bridge, ns, "eth0", 0, NULL, &err), err);
    ck_assert_int_eq(vps_net_bridge_ensure(host, NULL, 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "is not a bridge");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_bridge_remove(host, &err), -1);
    ck_assert_err(err, VPS_ERR_CONFLICT, "is not a bridge");
    ck_assert(link_exists(-1, host));
    err = (struct vps_error){0};
    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    close(ns);
}
END_TEST

/* ---- veth pairs ---- */

START_TEST(veth_create_puts_the_peer_into_the_namespace)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char host[IFNAMSIZ], mac[32];
    int bridge = test_bridge("b2", NULL), ns = new_netns();

    ck_assert_ok(
        vps_net_veth_create(nm(host, "h2"), bridge, ns, "eth0", 1400, "02:00:5e:00:00:02", &err),
        err);

    struct rtnl_link *h = oracle_link(-1, host);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(rtnl_link_get_type(h), "veth");
    ck_assert_int_eq(rtnl_link_get_master(h), bridge);
    ck_assert(rtnl_link_get_flags(h) & IFF_UP);
    ck_assert_int_eq(rtnl_link_get_mtu(h), 1400);
    rtnl_link_put(h);

    struct rtnl_link *p = oracle_link(ns, "eth0");
    ck_assert_ptr_nonnull(p);
    ck_assert(rtnl_link_get_flags(p) & IFF_UP);
    ck_assert_int_eq(rtnl_link_get_mtu(p), 1400);
    ck_assert_str_eq(nl_addr2str(rtnl_link_get_addr(p), mac, sizeof mac), "02:00:5e:00:00:02");
    rtnl_link_put(p);

    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    ck_assert(!link_exists(-1, host));
    ck_assert(!link_exists(ns, "eth0"));                 /* the pair went as one */
    ck_assert_ok(vps_net_veth_destroy(host, &err), err); /* missing is success */
    close(ns);
}
END_TEST

START_TEST(veth_into_a_namespace_owned_by_a_vps_user_namespace)
{
    NEED_ROOT();
    struct vps_idmap m = {.host_base = VPS_IDMAP_FIRST, .size = VPS_IDMAP_SIZE};
    struct vps_error err = {0};
    struct vps_net_stats st = {0};
    char host[IFNAMSIZ];
    int bridge = test_bridge("b3", NET4_B "1/24"), userns = -1, ns = -1;

    /* What vpsd does: the netns belongs to the VPS's user namespace, not to ours. */
    ck_assert_ok(vps_ns_create(&m, &userns, &ns, &err), err);
    ck_assert_ok(vps_net_veth_create(nm(host, "h3"), bridge, ns, "eth0", 0, NULL, &err), err);
    ck_assert_ok(vps_net_link_up(ns, "lo", &err), err);
    ck_assert_ok(vps_net_addr_add(ns, "eth0", NET4_B "30/24", &err), err);
    ck_assert_ok(vps_net_route_default(ns, "eth0", NET4_B "1", &err), err);
    ck_assert(has_addr(ns, "eth0", NET4_B "30/24"));
    ck_assert(ping(ns, NET4_B "1")); /* the host's address on the bridge */
    ck_assert_ok(vps_net_link_stats(ns, "eth0", &st, &err), err);
    ck_assert_uint_gt(st.tx_packets, 0);
    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    close(ns);
    close(userns);
}
END_TEST

START_TEST(veth_create_failures_leave_nothing)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char host[IFNAMSIZ], other[IFNAMSIZ], br[IFNAMSIZ];
    int bridge = test_bridge("b4", NULL), ns = new_netns();

    /* No interface has this ifindex: the kernel unregisters both ends it had made. */
    ck_assert_int_eq(vps_net_veth_create(nm(host, "h4"), 0x7ffffff0, ns, "eth0", 0, NULL, &err),
                     -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "create veth");
    ck_assert_int_eq(err.errnum, EINVAL);
    ck_assert(!link_exists(-1, host));
    ck_assert(!link_exists(ns, "eth0"));

    /* A master that is not a bridge (lo). */
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create(host, 1, ns, "eth0", 0, NULL, &err), -1);
    ck_assert_int_eq(err.errnum, EOPNOTSUPP);
    ck_assert(!link_exists(-1, host));
    ck_assert(!link_exists(ns, "eth0"));

    /* The host name is taken (by the bridge). */
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_veth_create(nm(br, "b4"), bridge, ns, "eth0", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "the name is taken");
    ck_assert_int_eq(err.errnum, EEXIST);
    ck_assert(link_exists(-1, br));
    ck_assert(!link_exists(ns, "eth0"));

    /* The peer's name is taken inside the namespace. */
    ck_assert_ok(vps_net_veth_create(host, bridge, ns, "eth0", 0, NULL, &err), err);
    ck_assert_int_eq(vps_net_veth_create(nm(other, "h5"), bridge, ns, "eth0", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "the peer's name is taken in the namespace");
    ck_assert(!link_exists(-1, other));

    /* Not a network namespace fd. */
    err = (struct vps_error){0};
    int notns = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_eq(vps_net_veth_create(other, bridge, notns, "eth1", 0, NULL, &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "create veth");
    ck_assert(!link_exists(-1, other));
    close(notns);

    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    close(ns);
}
END_TEST

/* The pair exists once the kernel has made it; if the peer then cannot be set up (here: the
 * namespace cannot be entered, setns() refused by a seccomp filter in a child), the undo must
 * delete it. */
START_TEST(veth_create_undoes_the_pair_when_the_peer_cannot_come_up)
{
    NEED_ROOT();
    char host[IFNAMSIZ];
    int bridge = test_bridge("b9", NULL), ns = new_netns(), status = 0;

    nm(host, "h9");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct vps_error err = {0};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 0) < 0 ||
            seccomp_load(ctx) < 0)
            _exit(2);
        seccomp_release(ctx);
        if (vps_net_veth_create(host, bridge, ns, "eth0", 0, NULL, &err) == 0)
            _exit(3);
        if (err.code != VPS_ERR_SYSTEM || err.errnum != EPERM ||
            !strstr(err.msg, "create veth '") || !strstr(err.msg, "enter network namespace")) {
            fprintf(stderr, "unexpected error: %s\n", err.msg);
            _exit(4);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert(!link_exists(-1, host));
    ck_assert(!link_exists(ns, "eth0"));
    close(ns);
}
END_TEST

START_TEST(veth_destroy_refuses_what_is_not_a_veth)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char br[IFNAMSIZ];

    test_bridge("b5", NULL);
    ck_assert_int_eq(vps_net_veth_destroy(nm(br, "b5"), &err), -1);
    ck_assert_err(err, VPS_ERR_CONFLICT, "is not a veth");
    ck_assert(link_exists(-1, br));
}
END_TEST

/* ---- inside a namespace ---- */

START_TEST(addresses_v4_and_v6_are_added_and_removed)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char host[IFNAMSIZ];
    int bridge = test_bridge("b6", NULL);
    int ns = vps_like_netns(bridge, nm(host, "h6"), NET4 "2/24", NET6 "2/64");

    ck_assert(has_addr(ns, "eth0", NET4 "2/24"));
    ck_assert(has_addr(ns, "eth0", NET6 "2/64"));
    ck_assert(!has_addr(-1, "eth0", NET4 "2/24")); /* not in the host */

    ck_assert_int_eq(vps_net_addr_add(ns, "eth0", NET4 "2/24", &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "add address '" NET4 "2/24' to 'eth0'");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_addr_add(ns, "eth0", NET6 "2/64", &err), -1);
    ck_assert_err(err, VPS_ERR_EXISTS, "add address");

    ck_assert_ok(vps_net_addr_del(ns, "eth0", NET4 "2/24", &err), err);
    ck_assert_ok(vps_net_addr_del(ns, "eth0", NET6 "2/64", &err), err);
    ck_assert(!has_addr(ns, "eth0", NET4 "2/24"));
    ck_assert(!has_addr(ns, "eth0", NET6 "2/64"));
    ck_assert_ok(vps_net_addr_del(ns, "eth0", NET4 "2/24", &err), err); /* already gone */
    ck_assert_ok(vps_net_addr_del(ns, "eth0", NET6 "2/64", &err), err);

    ck_assert_int_eq(vps_net_addr_add(ns, "eth9", NET4 "2/24", &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "interface 'eth9' does not exist");
    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    close(ns);
}
END_TEST

START_TEST(default_routes_are_set_and_replaced)
{
    NEED_ROOT();
    struct vps_error err = {0};
    char host[IFNAMSIZ], gw[INET6_ADDRSTRLEN];
    int bridge = test_bridge("b7", NULL), oif = 0;
    int ns = vps_like_netns(bridge, nm(host, "h7"), NET4 "7/24", NET6 "7/64");
    struct rtnl_link *eth0 = oracle_link(ns, "eth0");
    int eth0_index = rtnl_link_get_ifindex(eth0);
    rtnl_link_put(eth0);

    ck_assert_ok(vps_net_route_default(ns, "eth0", NET4 "1", &err), err);
    ck_assert_ok(vps_net_route_default(ns, "eth0", NET4 "254", &err), err); /* replaces */
    default_route(ns, AF_INET, gw, &oif);
    ck_assert_str_eq(gw, NET4 "254");
    ck_assert_int_eq(oif, eth0_index);
    /* A gateway on no prefix of eth0: the kernel's own errno comes through. */
    ck_assert_int_eq(vps_net_route_default(ns, "eth0", "198.19.0.1", &err), -1);
    ck_assert_err(err, VPS_ERR_SYSTEM, "default route via '198.19.0.1' on 'eth0'");
    ck_assert_int_eq(err.errnum, ENETUNREACH);
    err = (struct vps_error){0};
    ck_assert_ok(vps_net_route_default(ns, "eth0", NULL, &err), err); /* on-link */
    default_route(ns, AF_INET, gw, &oif);
    ck_assert_str_eq(gw, "on-link");
    ck_assert_int_eq(oif, eth0_index);

    ck_assert_ok(vps_net_route_default(ns, "eth0", NET6 "1", &err), err);
    ck_assert_ok(vps_net_route_default(ns, "eth0", NET6 "1", &err), err); /* idempotent */
    default_route(ns, AF_INET6, gw, &oif);
    ck_assert_str_eq(gw, NET6 "1");
    ck_assert_int_eq(oif, eth0_index);

    ck_assert_ok(vps_net_veth_destroy(host, &err), err);
    close(ns);
}
END_TEST

START_TEST(two_namespaces_on_one_bridge_reach_each_other)
{
    NEED_ROOT();
    struct vps_error err = {0};
    struct vps_net_stats a0 = {0}, a1 = {0}, h0 = {0}, h1 = {0};
    char ha[IFNAMSIZ], hb[IFNAMSIZ];
    int bridge = test_bridge("b8", NET4 "1/24");
    int a = vps_like_netns(bridge, nm(ha, "ha"), NET4 "10/24", NET6 "10/64");
    int b = vps_like_netns(bridge, nm(hb, "hb"), NET4 "11/24", NET6 "11/64");

    ck_assert_ok(vps_net_link_stats(a, "eth0", &a0, &err), err);
    ck_assert_ok(vps_net_link_stats(-1, ha, &h0, &err), err);
    ck_assert(ping(a, NET4 "11"));
    ck_assert(ping(a, NET6 "11")); /* usable at once: IFA_F_NODAD */
    ck_assert(ping(b, NET4 "10"));
    ck_assert(ping(a, NET4 "1")); /* the host, on the bridge */
    ck_assert_ok(vps_net_link_stats(a, "eth0", &a1, &err), err);
    ck_assert_ok(vps_net_link_stats(-1, ha, &h1, &err), err);
    ck_assert_uint_ge(a1.tx_packets, a0.tx_packets + 3);
    ck_assert_uint_gt(a1.tx_bytes, a0.tx_bytes);
    ck_assert_uint_ge(a1.rx_packets, a0.rx_packets + 3);
    /* What A sends, its host end receives. */
    ck_assert_uint_ge(h1.rx_packets, h0.rx_packets + 3);
    ck_assert_uint_gt(h1.rx_bytes, h0.rx_bytes);

    /* Without the veth, no way through. */
    ck_assert_ok(vps_net_veth_destroy(hb, &err), err);
    ck_assert(!ping_wait(a, NET4 "11", 300));
    ck_assert_ok(vps_net_veth_destroy(ha, &err), err);
    close(a);
    close(b);
}
END_TEST

START_TEST(link_up_and_stats_of_a_missing_interface)
{
    NEED_ROOT();
    struct vps_error err = {0};
    struct vps_net_stats st = {0};
    int ns = new_netns();

    ck_assert_ok(vps_net_link_up(ns, "lo", &err), err);
    ck_assert_ok(vps_net_link_up(ns, "lo", &err), err);
    struct rtnl_link *lo = oracle_link(ns, "lo");
    ck_assert(rtnl_link_get_flags(lo) & IFF_UP);
    rtnl_link_put(lo);
    ck_assert_int_eq(vps_net_link_up(ns, "eth0", &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "'eth0' does not exist");
    err = (struct vps_error){0};
    ck_assert_int_eq(vps_net_link_stats(ns, "eth0", &st, &err), -1);
    ck_assert_err(err, VPS_ERR_NOT_FOUND, "'eth0' does not exist");
    close(ns);
}
END_TEST

START_TEST(calls_return_to_the_own_namespace_and_leak_no_fd)
{
    NEED_ROOT();
    struct vps_error err = {0};
    struct vps_net_stats st;
    ino_t before = netns_ino();
    int ns = new_netns();
    size_t fds = count_fds();

    for (int i = 0; i < 20; i++) {
        ck_assert_ok(vps_net_link_up(ns, "lo", &err), err);
        ck_assert_ok(vps_net_addr_add(ns, "lo", NET4 "99/32", &err), err);
        ck_assert_ok(vps_net_link_stats(ns, "lo", &st, &err), err);
        ck_assert_ok(vps_net_addr_del(ns, "lo", NET4 "99/32", &err), err);
        ck_assert_int_eq(vps_net_addr_add(ns, "nope0", NET4 "99/32", &err), -1);
        ck_assert_int_eq(vps_net_route_default(ns, "lo", "198.19.0.1", &err), -1);
        err = (struct vps_error){0};
    }
    ck_assert_uint_eq(netns_ino(), before);
    ck_assert_uint_eq(count_fds(), fds);
    close(ns);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *names = tcase_create("names");
    TCase *kernel = tcase_create("kernel");

    tcase_add_test(names, host_ifname_short_names_are_kept);
    tcase_add_test(names, host_ifname_long_names_are_hashed_and_distinct);
    tcase_add_test(names, host_ifname_many_long_names_do_not_collide);
    tcase_add_test(names, ifname_validity);
    tcase_add_test(names, bad_input_is_invalid_before_any_kernel_call);
    suite_add_tcase(s, names);

    tcase_add_unchecked_fixture(kernel, root_setup, root_teardown);
    tcase_set_timeout(kernel, 30);
    tcase_add_test(kernel, bridge_ensure_is_idempotent);
    tcase_add_test(kernel, bridge_ensure_refuses_a_name_taken_by_another_kind);
    tcase_add_test(kernel, veth_create_puts_the_peer_into_the_namespace);
    tcase_add_test(kernel, veth_into_a_namespace_owned_by_a_vps_user_namespace);
    tcase_add_test(kernel, veth_create_failures_leave_nothing);
    tcase_add_test(kernel, veth_create_undoes_the_pair_when_the_peer_cannot_come_up);
    tcase_add_test(kernel, veth_destroy_refuses_what_is_not_a_veth);
    tcase_add_test(kernel, addresses_v4_and_v6_are_added_and_removed);
    tcase_add_test(kernel, default_routes_are_set_and_replaced);
    tcase_add_test(kernel, two_namespaces_on_one_bridge_reach_each_other);
    tcase_add_test(kernel, link_up_and_stats_of_a_missing_interface);
    tcase_add_test(kernel, calls_return_to_the_own_namespace_and_leak_no_fd);
    suite_add_tcase(s, kernel);
    return s;
}

int main(void)
{
    return run_suite(net_suite(), CK_FORK_GETENV);
}
