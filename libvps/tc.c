/* Bandwidth limits of a VPS: an HTB on its veth's host end (rtnetlink, libnl) shapes what goes
 * to the VPS; an nftables policer on that end's ingress (libnftnl) drops what the VPS sends
 * over its rate. The veth is net.c's, anti-spoofing antispoof.c's, the rates config.c's. */
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
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "vps/net.h"
#include "vps/tc.h"

#define HTB_ROOT    TC_HANDLE(1, 0)
#define HTB_CLASS   TC_HANDLE(1, 1)
#define HTB_QUANTUM 65536 /* one class: its quantum only has to hold a GSO packet */
#define BURST_MIN   (64U << 10)

/* ---- libnl objects in cleanup variables ---- */

static void link_putp(struct rtnl_link **l)
{
    if (*l)
        rtnl_link_put(*l);
}

static void qdisc_putp(struct rtnl_qdisc **q)
{
    if (*q)
        rtnl_qdisc_put(*q);
}

static void class_putp(struct rtnl_class **c)
{
    if (*c)
        rtnl_class_put(*c);
}

/* ---- the connection ---- */

/* As in net.c: the error callback keeps the kernel's own errno, which libnl would fold into
 * NLE_* codes. The struct must not move while sk is in use. */
struct conn {
    struct nl_sock *sk;
    int kernel_errno;
};

static void conn_done(struct conn *c)
{
    nl_socket_free(c->sk); /* accepts NULL */
    c->sk = NULL;
}

static int on_kernel_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    (void) nla;
    *(int *) arg = -e->error;
    return NL_STOP;
}

/* The errno behind a failed libnl call: the kernel's if it answered. */
static int conn_errno(struct conn *c, int nlerr)
{
    int e = c->kernel_errno;

    c->kernel_errno = 0;
    if (e)
        return e;
    return -nlerr == NLE_NOMEM ? ENOMEM : -nlerr == NLE_OBJ_NOTFOUND ? ENOENT : EPROTO;
}

static int conn_open(struct conn *c, struct vps_error *err)
{
    int r;

    c->kernel_errno = 0;
    c->sk = nl_socket_alloc();
    if (!c->sk)
        return vps_error_errno(err, ENOMEM, "allocate a netlink socket");
    r = nl_connect(c->sk, NETLINK_ROUTE); /* SOCK_CLOEXEC */
    if (r < 0) {
        conn_done(c);
        return vps_error_errno(err, r == -NLE_NOMEM ? ENOMEM : EPROTO, "open a netlink socket");
    }
    (void) nl_socket_modify_err_cb(c->sk, NL_CB_CUSTOM, on_kernel_error, &c->kernel_errno);
    return 0;
}

/* ---- links ---- */

/* The ifindex of name in *ret, 0 if there is no such link. */
static int link_index(struct conn *c, const char *name, int *ret, struct vps_error *err)
{
    cleanup_(link_putp) struct rtnl_link *link = NULL;
    int r = rtnl_link_get_kernel(c->sk, 0, name, &link);

    if (r < 0) {
        int e = conn_errno(c, r);
        if (e != ENODEV && e != ENOENT)
            return vps_error_errno(err, e, "look up '%s'", name);
        *ret = 0;
        return 0;
    }
    *ret = rtnl_link_get_ifindex(link);
    return 0;
}

/* ---- shaping: an HTB with one class, the default ---- */

static int htb_root(struct conn *c, int ifindex, struct vps_error *err)
{
    cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    int r;

    if (!q || rtnl_tc_set_kind(TC_CAST(q), "htb") < 0)
        return vps_error_errno(err, ENOMEM, "htb qdisc");
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), HTB_ROOT);
    (void) rtnl_htb_set_defcls(q, TC_H_MIN(HTB_CLASS));
    /* REPLACE takes the place of the default (noqueue) root; EXCL makes the kernel answer
     * EEXIST, rather than fail to "change" an HTB (it has no change op), when 1: is there. */
    r = rtnl_qdisc_add(c->sk, q, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_EXCL);
    if (r < 0) {
        int e = conn_errno(c, r);
        if (e != EEXIST)
            return vps_error_errno(err, e, "add htb qdisc");
    }
    return 0;
}

/* Sets the class's rate in place (an HTB class changes atomically), or makes it. */
static int htb_class(struct conn *c, int ifindex, uint64_t bps, struct vps_error *err)
{
    cleanup_(class_putp) struct rtnl_class *cl = rtnl_class_alloc();
    uint64_t bytes_per_s = bps / 8;
    /* 10 ms worth of bytes, and at least a GSO packet's worth. */
    uint32_t burst = bytes_per_s / 100 > BURST_MIN ? (uint32_t) (bytes_per_s / 100) : BURST_MIN;
    int r;

    if (!cl || rtnl_tc_set_kind(TC_CAST(cl), "htb") < 0)
        return vps_error_errno(err, ENOMEM, "htb class");
    rtnl_tc_set_ifindex(TC_CAST(cl), ifindex);
    rtnl_tc_set_parent(TC_CAST(cl), HTB_ROOT);
    rtnl_tc_set_handle(TC_CAST(cl), HTB_CLASS);
    if (rtnl_htb_set_rate64(cl, bytes_per_s) < 0 || rtnl_htb_set_ceil64(cl, bytes_per_s) < 0 ||
        rtnl_htb_set_rbuffer(cl, burst) < 0 || rtnl_htb_set_cbuffer(cl, burst) < 0 ||
        rtnl_htb_set_quantum(cl, HTB_QUANTUM) < 0)
        return vps_error_errno(err, EINVAL, "htb class");
    r = rtnl_class_add(c->sk, cl, NLM_F_CREATE);
    if (r < 0)
        return vps_error_errno(err, conn_errno(c, r), "set htb class rate");
    return 0;
}

static int shape(struct conn *c, int ifindex, uint64_t bps, struct vps_error *err)
{
    if (htb_root(c, ifindex, err) < 0 || htb_class(c, ifindex, bps, err) < 0)
        return -1;
    return 0;
}

/* Deletes the root HTB 1: if it is there. */
static int unshape(struct conn *c, int ifindex, struct vps_error *err)
{
    cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    int r;

    if (!q)
        return vps_error_errno(err, ENOMEM, "htb qdisc");
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), HTB_ROOT);
    r = rtnl_qdisc_delete(c->sk, q);
    if (r < 0) {
        int e = conn_errno(c, r);
        /* EINVAL: the root is another qdisc (noqueue, whose handle is 0), so not ours;
         * ENOENT: none. */
        if (e != EINVAL && e != ENOENT)
            return vps_error_errno(err, e, "delete htb qdisc");
    }
    return 0;
}

/* ---- policing what the VPS sends: nftables ---- */

/* Shaping it would need an IFB behind a tc redirect, and a packet the IFB puts back skips the
 * netdev ingress hook, where anti-spoofing (antispoof.c) filters: so it is policed there
 * instead, in a table of its own whose chain runs after anti-spoofing's (priority 0). */
#define NFT_PRIO 10

struct batch {
    char buf[4096];
    size_t len;
    uint32_t seq;
    size_t n_msgs;
};

static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags)
{
    b->n_msgs++;
    return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_NETDEV, flags | NLM_F_ACK,
                                 b->seq++);
}

static void batch_put(struct batch *b, struct nlmsghdr *nlh)
{
    b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int batch_table(struct batch *b, const char *table, uint16_t type, uint16_t flags)
{
    struct nftnl_table *t = nftnl_table_alloc();
    struct nlmsghdr *nlh;

    if (!t)
        return -1;
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
    nlh = batch_msg(b, type, flags);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    batch_put(b, nlh);
    return 0;
}

static int batch_chain(struct batch *b, const char *table, const char *dev)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct nlmsghdr *nlh;

    if (!c)
        return -1;
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "police");
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_NETDEV_INGRESS);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_PRIO, NFT_PRIO);
    nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, dev);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    batch_put(b, nlh);
    return 0;
}

/* "limit rate over <bytes_per_s> bytes/second burst <burst> bytes drop" */
static int batch_rule(struct batch *b, const char *table, uint64_t bytes_per_s)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    struct nftnl_expr *lim = nftnl_expr_alloc("limit"), *verdict = nftnl_expr_alloc("immediate");
    /* The bucket holds a GSO packet (the veth hands them over whole, up to 64 KiB), and
     * 50 ms worth at higher rates, so TCP is not cut back below the rate. */
    uint32_t burst = bytes_per_s / 20 > (256U << 10) ? (uint32_t) (bytes_per_s / 20) : 256U << 10;
    struct nlmsghdr *nlh;

    if (!r || !lim || !verdict) {
        nftnl_rule_free(r); /* accepts NULL */
        nftnl_expr_free(lim);
        nftnl_expr_free(verdict);
        return -1;
    }
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_NETDEV);
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "police");
    nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_RATE, bytes_per_s);
    nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_UNIT, 1);
    nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_BURST, burst);
    nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKT_BYTES);
    nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV); /* "over" */
    nftnl_expr_set_u32(verdict, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(verdict, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
    nftnl_rule_add_expr(r, lim); /* the rule owns them from here */
    nftnl_rule_add_expr(r, verdict);
    nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    batch_put(b, nlh);
    return 0;
}

struct answers {
    size_t n;
    int errnum;
};

static int on_ack(struct nl_msg *msg, void *arg)
{
    (void) msg;
    ((struct answers *) arg)->n++;
    return NL_OK;
}

static int on_nft_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    struct answers *a = arg;

    (void) nla;
    a->n++;
    if (!a->errnum)
        a->errnum = -e->error;
    return NL_OK;
}

static void sock_freep(struct nl_sock **sk)
{
    nl_socket_free(*sk); /* accepts NULL */
}

/* Sends b, a whole transaction, and waits for an answer to each message (bounded: 5 s). */
static int batch_send(struct batch *b, struct vps_error *err)
{
    cleanup_(sock_freep) struct nl_sock *sk = nl_socket_alloc();
    struct answers a = {0};
    struct timeval tv = {.tv_sec = 5};
    int r;

    if (!sk)
        return vps_error_errno(err, ENOMEM, "allocate a netfilter socket");
    if (nl_connect(sk, NETLINK_NETFILTER) < 0)
        return vps_error_errno(err, EPROTO, "open a netfilter socket");
    if (setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return vps_error_errno(err, errno, "set a netfilter socket's timeout");
    nl_socket_disable_seq_check(sk);
    (void) nl_socket_modify_cb(sk, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &a);
    (void) nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, on_nft_error, &a);
    if (nl_sendto(sk, b->buf, b->len) < 0)
        return vps_error_errno(err, EPROTO, "send an nftables batch");
    while (a.n < b->n_msgs)
        if ((r = nl_recvmsgs_default(sk)) < 0 && !a.errnum)
            return vps_error_errno(err, r == -NLE_AGAIN ? ETIMEDOUT : EPROTO, "nftables batch");
    if (a.errnum)
        return vps_error_errno(err, a.errnum, "nftables batch");
    return 0;
}

/* Replaces the table whole in one transaction (create, delete, create again), so no packet
 * meets half a policer; with bytes_per_s 0 it is only deleted. */
static int police(const char *dev, uint64_t bytes_per_s, struct vps_error *err)
{
    struct batch b = {.seq = 1};
    char table[64];

    (void) snprintf(table, sizeof table, "vps-bw-%s", dev);
    nftnl_batch_begin(b.buf, b.seq++);
    b.len = NLMSG_ALIGN(((struct nlmsghdr *) b.buf)->nlmsg_len);
    if (batch_table(&b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE) < 0 ||
        batch_table(&b, table, NFT_MSG_DELTABLE, 0) < 0 ||
        (bytes_per_s &&
         (batch_table(&b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL) < 0 ||
          batch_chain(&b, table, dev) < 0 || batch_rule(&b, table, bytes_per_s) < 0)))
        return vps_error_errno(err, ENOMEM, "policer table '%s'", table);
    nftnl_batch_end(b.buf + b.len, b.seq++);
    b.len += NLMSG_ALIGN(((struct nlmsghdr *) (b.buf + b.len))->nlmsg_len);
    if (batch_send(&b, err) < 0)
        return vps_error_prefix(err, "policer table '%s'", table);
    return 0;
}

/* ---- the interface ---- */

static int check_args(const char *host_if, uint64_t in_bps, uint64_t out_bps, struct vps_error *err)
{
    if (!host_if || !vps_net_ifname_is_valid(host_if))
        return vps_error_set(err, VPS_ERR_INVALID, "invalid interface name '%s'",
                             host_if ? host_if : "(null)");
    if ((in_bps && (in_bps < VPS_TC_RATE_MIN || in_bps > VPS_TC_RATE_MAX)) ||
        (out_bps && (out_bps < VPS_TC_RATE_MIN || out_bps > VPS_TC_RATE_MAX)))
        return vps_error_set(err, VPS_ERR_INVALID, "rate out of range %llu..%llu bits/s",
                             VPS_TC_RATE_MIN, VPS_TC_RATE_MAX);
    return 0;
}

int vps_tc_apply(const char *host_if, uint64_t ingress_bps, uint64_t egress_bps,
                 struct vps_error *err)
{
    cleanup_(conn_done) struct conn c = {0};
    int ifindex;

    if (check_args(host_if, ingress_bps, egress_bps, err) < 0 || conn_open(&c, err) < 0)
        return -1;
    if (link_index(&c, host_if, &ifindex, err) < 0)
        return vps_error_prefix(err, "bandwidth of '%s'", host_if);
    if (ifindex == 0)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "interface '%s' does not exist", host_if);
    if ((ingress_bps ? shape(&c, ifindex, ingress_bps, err) : unshape(&c, ifindex, err)) < 0 ||
        police(host_if, egress_bps / 8, err) < 0)
        return vps_error_prefix(err, "bandwidth of '%s'", host_if);
    return 0;
}

int vps_tc_clear(const char *host_if, struct vps_error *err)
{
    cleanup_(conn_done) struct conn c = {0};
    int ifindex;

    if (check_args(host_if, 0, 0, err) < 0 || conn_open(&c, err) < 0)
        return -1;
    /* The policer's chain outlives its device since Linux 6.16: it is removed whatever the
     * link, and a link that cannot be looked up (gone already) only has no shaper left. */
    if (link_index(&c, host_if, &ifindex, err) < 0) {
        *err = (struct vps_error){0};
        ifindex = 0;
    }
    if ((ifindex && unshape(&c, ifindex, err) < 0) || police(host_if, 0, err) < 0)
        return vps_error_prefix(err, "bandwidth of '%s'", host_if);
    return 0;
}
