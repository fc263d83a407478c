/* Anti-spoofing for what a VPS sends: an nftables netdev-ingress filter on its veth's host end,
 * built with libnftnl and sent over libnl. Not tc: this kernel family ships without cls_flower
 * and act_gact (tc could not drop at all), while nf_tables' netdev family is always there and
 * can also look into ARP and past IPv6 extension headers. One table per VPS, so that applying
 * or clearing one never touches another's. Making the veth is net.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/ethernet.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "vps/antispoof.h"
#include "vps/macro.h"
#include "vps/net.h"

#define MAX_ADDRS    64
#define CHAIN_IN     "ingress" /* the base chain, on host_if's ingress */
#define CHAIN_IP6    "ip6"     /* IPv6 from an allowed source: ICMPv6 checks */
#define MSG_ROOM     2048      /* more than any one message below takes */
#define ANSWER_MS    5000      /* the kernel answers a batch at once; this only bounds a hang */
#define ICMPV6_RA    134
#define ICMPV6_NA    136
#define ICMPV6_REDIR 137

struct addrs {
    unsigned char v4[MAX_ADDRS][4];
    unsigned char v6[MAX_ADDRS + 1][16]; /* plus the EUI-64 link-local, last */
    size_t n_v4, n_v6;
    unsigned char mac[ETH_ALEN];
};

/* ---- input ---- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void vps_antispoof_mac(const char *vps_name, char buf[VPS_ANTISPOOF_MAC_LEN])
{
    uint64_t h = fnv1a64(vps_name);

    /* 0x02 first: locally administered and unicast. 40 bits of hash: two VPSes on one bridge
     * share a MAC with a chance of about 2^-40 per pair, and then the later one's traffic is
     * the one that suffers, never another's. */
    (void) snprintf(buf, VPS_ANTISPOOF_MAC_LEN, "02:%02x:%02x:%02x:%02x:%02x",
                    (unsigned) (h & 0xff), (unsigned) (h >> 8 & 0xff), (unsigned) (h >> 16 & 0xff),
                    (unsigned) (h >> 24 & 0xff), (unsigned) (h >> 32 & 0xff));
}

static int parse_mac(const char *s, unsigned char mac[ETH_ALEN], struct vps_error *err)
{
    unsigned b[ETH_ALEN];
    char end;

    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return vps_error_set(err, VPS_ERR_INVALID, "invalid MAC '%s'", s ? s : "");
    for (int i = 0; i < ETH_ALEN; i++)
        mac[i] = (unsigned char) b[i];
    if (mac[0] & 1)
        return vps_error_set(err, VPS_ERR_INVALID, "MAC '%s' is multicast", s);
    return 0;
}

/* fe80::/64 with the modified EUI-64 of mac (RFC 4291 appendix A). */
static void eui64_link_local(const unsigned char mac[ETH_ALEN], unsigned char a[16])
{
    memset(a, 0, 16);
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
}

static int parse_addr(const char *cidr, struct addrs *a, struct vps_error *err)
{
    char ip[INET6_ADDRSTRLEN];
    size_t len = strcspn(cidr, "/");

    if (len >= sizeof ip)
        return vps_error_set(err, VPS_ERR_INVALID, "invalid address '%s'", cidr);
    memcpy(ip, cidr, len);
    ip[len] = '\0';
    if (inet_pton(AF_INET, ip, a->v4[a->n_v4]) == 1)
        a->n_v4++;
    else if (inet_pton(AF_INET6, ip, a->v6[a->n_v6]) == 1)
        a->n_v6++;
    else
        return vps_error_set(err, VPS_ERR_INVALID, "invalid address '%s'", cidr);
    return 0;
}

static int parse_input(const char *host_if, const char *mac, const struct vps_strv *addresses,
                       struct addrs *a, struct vps_error *err)
{
    if (!vps_net_ifname_is_valid(host_if))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid interface name '%s'", host_if);
    if (addresses->n > MAX_ADDRS)
        return vps_error_set(err, VPS_ERR_INVALID, "more than %d addresses", MAX_ADDRS);
    if (parse_mac(mac, a->mac, err) < 0)
        return -1;
    for (size_t i = 0; i < addresses->n; i++)
        if (parse_addr(addresses->v[i], a, err) < 0)
            return -1;
    eui64_link_local(a->mac, a->v6[a->n_v6++]);
    return 0;
}

/* ---- rules ---- */

/* A rule under construction; a failed allocation is remembered and reported once, at the end. */
struct rule {
    struct nftnl_rule *r;
    bool oom;
};

static void add_expr(struct rule *ru, struct nftnl_expr *e)
{
    if (!e) {
        ru->oom = true;
        return;
    }
    nftnl_rule_add_expr(ru->r, e);
}

/* Loads len bytes at offset from base into register 1. */
static void load(struct rule *ru, enum nft_payload_bases base, uint32_t offset, uint32_t len)
{
    struct nftnl_expr *e = nftnl_expr_alloc("payload");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    }
    add_expr(ru, e);
}

/* The rule goes on only if register 1 compares to data as op says. */
static void cmp(struct rule *ru, enum nft_cmp_ops op, const void *data, uint32_t len)
{
    struct nftnl_expr *e = nftnl_expr_alloc("cmp");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set_data(e, NFTNL_EXPR_CMP_DATA, data, len);
    }
    add_expr(ru, e);
}

static void match(struct rule *ru, enum nft_payload_bases base, uint32_t offset, const void *data,
                  uint32_t len)
{
    load(ru, base, offset, len);
    cmp(ru, NFT_CMP_EQ, data, len);
}

/* Register 1 &= mask (len bytes). */
static void mask(struct rule *ru, const void *m, uint32_t len)
{
    static const unsigned char zero[16];
    struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_MASK, m, len);
        nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
    }
    add_expr(ru, e);
}

static void ether_type(struct rule *ru, uint16_t type)
{
    uint16_t be = htons(type);

    match(ru, NFT_PAYLOAD_LL_HEADER, 12, &be, sizeof be);
}

/* The layer 4 protocol and ICMPv6 type. meta l4proto is the header after IPv6's extension
 * headers, and the transport base starts there, so a hop-by-hop header in front of an
 * advertisement does not hide it. */
static void icmpv6_type(struct rule *ru, uint8_t type)
{
    struct nftnl_expr *e = nftnl_expr_alloc("meta");
    uint8_t proto = IPPROTO_ICMPV6;

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    add_expr(ru, e);
    cmp(ru, NFT_CMP_EQ, &proto, 1);
    match(ru, NFT_PAYLOAD_TRANSPORT_HEADER, 0, &type, 1);
}

static void verdict(struct rule *ru, int code, const char *chain)
{
    struct nftnl_expr *e = nftnl_expr_alloc("immediate");

    if (e) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) code);
        if (chain)
            nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
    }
    add_expr(ru, e);
}

/* ---- the batch ---- */

/* One nfnetlink transaction in a flat buffer: begin, the messages, end. */
struct batch {
    char *buf;
    size_t len, cap;
    uint32_t seq;
    unsigned n_acked; /* messages that ask for an answer */
    bool oom;
    const char *table;
};

static void batch_done(struct batch *b)
{
    free(b->buf);
    b->buf = NULL;
}

static struct nlmsghdr *batch_hdr(struct batch *b, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *nlh;

    if (b->cap - b->len < MSG_ROOM) {
        b->oom = true;
        return NULL;
    }
    nlh = nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_NETDEV, flags | NLM_F_ACK, b->seq++);
    b->n_acked++;
    return nlh;
}

static void batch_table(struct batch *b, uint16_t type, uint16_t flags)
{
    struct nftnl_table *t = nftnl_table_alloc();
    struct nlmsghdr *nlh = batch_hdr(b, type, flags);

    if (!t || !nlh) {
        b->oom = true;
    } else {
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table);
        nftnl_table_nlmsg_build_payload(nlh, t);
        b->len += nlh->nlmsg_len;
    }
    if (t)
        nftnl_table_free(t);
}

/* A regular chain, or with host_if the base chain on its ingress, dropping what no rule
 * accepts. */
static void batch_chain(struct batch *b, const char *name, const char *host_if)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct nlmsghdr *nlh = batch_hdr(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);

    if (!c || !nlh) {
        b->oom = true;
    } else {
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (host_if) {
            nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
            nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
            nftnl_chain_set_u32(c, NFTNL_CHAIN_PRIO, 0);
            nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, host_if);
            nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
        }
        nftnl_chain_nlmsg_build_payload(nlh, c);
        b->len += nlh->nlmsg_len;
    }
    if (c)
        nftnl_chain_free(c);
}

static struct rule rule_new(struct batch *b, const char *chain)
{
    struct rule ru = {.r = nftnl_rule_alloc()};

    if (!ru.r) {
        ru.oom = true;
        return ru;
    }
    nftnl_rule_set_u32(ru.r, NFTNL_RULE_FAMILY, NFPROTO_NETDEV);
    nftnl_rule_set_str(ru.r, NFTNL_RULE_TABLE, b->table);
    nftnl_rule_set_str(ru.r, NFTNL_RULE_CHAIN, chain);
    return ru;
}

/* Appends ru to the batch and frees it. */
static void rule_add(struct batch *b, struct rule *ru)
{
    struct nlmsghdr *nlh = NULL;

    if (!ru->oom)
        nlh = batch_hdr(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
    if (!nlh) {
        b->oom = true;
    } else {
        nftnl_rule_nlmsg_build_payload(nlh, ru->r);
        b->len += nlh->nlmsg_len;
    }
    if (ru->r)
        nftnl_rule_free(ru->r);
    ru->r = NULL;
}

static int batch_init(struct batch *b, const char *table, size_t n_msgs, struct vps_error *err)
{
    *b = (struct batch){.cap = (n_msgs + 2) * MSG_ROOM, .table = table, .seq = 1};
    b->buf = calloc(1, b->cap);
    if (!b->buf)
        return vps_error_errno(err, ENOMEM, "allocate an nftables batch");
    nftnl_batch_begin(b->buf, b->seq++);
    b->len = ((struct nlmsghdr *) b->buf)->nlmsg_len;
    return 0;
}

static void batch_end(struct batch *b)
{
    if (b->cap - b->len < MSG_ROOM) {
        b->oom = true;
        return;
    }
    nftnl_batch_end(b->buf + b->len, b->seq++);
    b->len += ((struct nlmsghdr *) (b->buf + b->len))->nlmsg_len;
}

/* ---- sending it ---- */

struct answers {
    unsigned n, expected;
    int errnum; /* the first error's */
};

static int on_ack(struct nl_msg *msg, void *arg)
{
    struct answers *a = arg;

    (void) msg;
    return ++a->n >= a->expected ? NL_STOP : NL_OK;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    struct answers *a = arg;

    (void) nla;
    /* An aborted transaction answers each failed message; the first says why. */
    a->errnum = -e->error;
    return NL_STOP;
}

static void sock_freep(struct nl_sock **sk)
{
    nl_socket_free(*sk); /* accepts NULL */
}

/* Sends the batch as one datagram (nfnetlink takes a transaction only whole) and waits for
 * every message's answer. Returns the kernel's errno of the first failure, 0, or -1 with err
 * set for a failure of our own. */
static int batch_send(struct batch *b, struct vps_error *err)
{
    cleanup_(sock_freep) struct nl_sock *sk = nl_socket_alloc();
    struct answers a = {.expected = b->n_acked};
    struct timeval tv = {.tv_sec = ANSWER_MS / 1000};
    int r;

    if (!sk)
        return vps_error_errno(err, ENOMEM, "allocate a netlink socket");
    /* libnl creates the socket with SOCK_CLOEXEC. */
    if ((r = nl_connect(sk, NETLINK_NETFILTER)) < 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "open a netfilter socket: %s", nl_geterror(r));
    if (setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return vps_error_errno(err, errno, "set a netlink receive timeout");
    nl_socket_disable_seq_check(sk);
    (void) nl_socket_modify_cb(sk, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &a);
    (void) nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, on_error, &a);
    if ((r = nl_sendto(sk, b->buf, b->len)) < 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "send an nftables batch: %s", nl_geterror(r));
    while (a.n < a.expected && !a.errnum)
        if ((r = nl_recvmsgs_default(sk)) < 0 && !a.errnum)
            return vps_error_set(err, VPS_ERR_SYSTEM, "read the nftables answer: %s",
                                 nl_geterror(r));
    return a.errnum;
}

/* ---- the filter ---- */

static void table_name(const char *host_if, char buf[IFNAMSIZ + 8])
{
    (void) snprintf(buf, IFNAMSIZ + 8, "vps-%s", host_if);
}

/* Base chain: the source MAC first, then per family what may pass. */
static void add_base_rules(struct batch *b, const struct addrs *a)
{
    static const unsigned char arp_eth_ip[6] = {0, 1, 8, 0, 6, 4}; /* htype, ptype, hlen, plen */
    static const unsigned char ll_mask[2] = {0xff, 0xc0}, ll_net[2] = {0xfe, 0x80};
    struct rule ru;

    ru = rule_new(b, CHAIN_IN);
    load(&ru, NFT_PAYLOAD_LL_HEADER, 6, ETH_ALEN);
    cmp(&ru, NFT_CMP_NEQ, a->mac, ETH_ALEN);
    verdict(&ru, NF_DROP, NULL);
    rule_add(b, &ru);
    for (size_t i = 0; i < a->n_v4; i++) {
        ru = rule_new(b, CHAIN_IN);
        ether_type(&ru, ETHERTYPE_IP);
        match(&ru, NFT_PAYLOAD_NETWORK_HEADER, 12, a->v4[i], 4);
        verdict(&ru, NF_ACCEPT, NULL);
        rule_add(b, &ru);
        /* ARP for Ethernet and IPv4 only, so that the offsets below mean what they say. */
        ru = rule_new(b, CHAIN_IN);
        ether_type(&ru, ETHERTYPE_ARP);
        match(&ru, NFT_PAYLOAD_NETWORK_HEADER, 0, arp_eth_ip, sizeof arp_eth_ip);
        match(&ru, NFT_PAYLOAD_NETWORK_HEADER, 8, a->mac, ETH_ALEN);
        match(&ru, NFT_PAYLOAD_NETWORK_HEADER, 14, a->v4[i], 4);
        verdict(&ru, NF_ACCEPT, NULL);
        rule_add(b, &ru);
    }
    /* The last v6 entry is the EUI-64 link-local, which fe80::/10 below covers. */
    for (size_t i = 0; i + 1 < a->n_v6; i++) {
        ru = rule_new(b, CHAIN_IN);
        ether_type(&ru, ETHERTYPE_IPV6);
        match(&ru, NFT_PAYLOAD_NETWORK_HEADER, 8, a->v6[i], 16);
        verdict(&ru, NFT_JUMP, CHAIN_IP6);
        rule_add(b, &ru);
    }
    /* Link-local sources, whatever the VPS's addr_gen_mode made: they reach the link only,
     * and the MAC is checked above. */
    ru = rule_new(b, CHAIN_IN);
    ether_type(&ru, ETHERTYPE_IPV6);
    load(&ru, NFT_PAYLOAD_NETWORK_HEADER, 8, 2);
    mask(&ru, ll_mask, 2);
    cmp(&ru, NFT_CMP_EQ, ll_net, 2);
    verdict(&ru, NFT_JUMP, CHAIN_IP6);
    rule_add(b, &ru);
}

/* IPv6 from an allowed source: no router advertisements or redirects (a VPS would become the
 * host's or its neighbours' router), and neighbour advertisements only for its own addresses
 * (else it could take over another VPS's address in the host's neighbour cache). */
static void add_ip6_rules(struct batch *b, const struct addrs *a)
{
    static const uint8_t banned[] = {ICMPV6_RA, ICMPV6_REDIR};
    struct rule ru;

    for (size_t i = 0; i < ELEMENTSOF(banned); i++) {
        ru = rule_new(b, CHAIN_IP6);
        icmpv6_type(&ru, banned[i]);
        verdict(&ru, NF_DROP, NULL);
        rule_add(b, &ru);
    }
    for (size_t i = 0; i < a->n_v6; i++) {
        ru = rule_new(b, CHAIN_IP6);
        icmpv6_type(&ru, ICMPV6_NA);
        match(&ru, NFT_PAYLOAD_TRANSPORT_HEADER, 8, a->v6[i], 16); /* the target address */
        verdict(&ru, NF_ACCEPT, NULL);
        rule_add(b, &ru);
    }
    ru = rule_new(b, CHAIN_IP6);
    icmpv6_type(&ru, ICMPV6_NA);
    verdict(&ru, NF_DROP, NULL);
    rule_add(b, &ru);
    ru = rule_new(b, CHAIN_IP6);
    verdict(&ru, NF_ACCEPT, NULL);
    rule_add(b, &ru);
}

int vps_antispoof_apply(const char *host_if, const char *mac, const struct vps_strv *addresses,
                        struct vps_error *err)
{
    cleanup_(batch_done) struct batch b = {0};
    char table[IFNAMSIZ + 8];
    struct addrs a = {0};
    int r;

    if (parse_input(host_if, mac, addresses, &a, err) < 0)
        return vps_error_prefix(err, "anti-spoofing filter");
    table_name(host_if, table);
    if (batch_init(&b, table, 16 + 3 * a.n_v4 + 2 * a.n_v6, err) < 0)
        return -1;
    /* Add-if-missing, then delete, then build anew: one transaction replaces whatever was
     * there, and the kernel applies all of it or none. */
    batch_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
    batch_table(&b, NFT_MSG_DELTABLE, 0);
    batch_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
    batch_chain(&b, CHAIN_IP6, NULL);
    batch_chain(&b, CHAIN_IN, host_if);
    add_ip6_rules(&b, &a);
    add_base_rules(&b, &a);
    batch_end(&b);
    if (b.oom)
        return vps_error_errno(err, ENOMEM, "anti-spoofing filter: build table '%s'", table);
    r = batch_send(&b, err);
    if (r < 0)
        return vps_error_prefix(err, "anti-spoofing filter: table '%s'", table);
    if (r > 0)
        return vps_error_errno(err, r, "anti-spoofing filter: add table '%s' on '%s'", table,
                               host_if);
    return 0;
}

int vps_antispoof_clear(const char *host_if, struct vps_error *err)
{
    cleanup_(batch_done) struct batch b = {0};
    char table[IFNAMSIZ + 8];
    int r;

    if (!vps_net_ifname_is_valid(host_if))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid interface name '%s'", host_if);
    table_name(host_if, table);
    if (batch_init(&b, table, 1, err) < 0)
        return -1;
    batch_table(&b, NFT_MSG_DELTABLE, 0);
    batch_end(&b);
    if (b.oom)
        return vps_error_errno(err, ENOMEM, "anti-spoofing filter: build table '%s'", table);
    r = batch_send(&b, err);
    if (r < 0)
        return vps_error_prefix(err, "anti-spoofing filter: table '%s'", table);
    if (r > 0 && r != ENOENT)
        return vps_error_errno(err, r, "anti-spoofing filter: delete table '%s'", table);
    return 0;
}
