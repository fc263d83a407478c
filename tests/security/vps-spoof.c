/* Spoofing attempts for tests/security/test-spoofing.sh: run as root INSIDE a VPS, it writes
 * whole Ethernet frames on eth0 with AF_PACKET (the VPS's root has CAP_NET_RAW in its own
 * network namespace), so nothing in the VPS's own stack checks what it sends; run on the
 * host, it watches a bridge for them. Which frames must not arrive, and why, is said in the
 * test. Static: VPS rootfs trees have no libc for it.
 *   vps-spoof icmp IF DST_MAC SRC_MAC|self SRC_IP DST_IP MARKER   echo request, MARKER payload
 *   vps-spoof garp IF SENDER_IP                                  gratuitous ARP reply
 *   vps-spoof recv IF TIMEOUT_MS BARRIER_HEX PATTERN_HEX
 * recv prints "ready" once it listens, then counts frames holding PATTERN until one holds
 * BARRIER: it prints "seen N" and exits 0, or exits 2 if TIMEOUT_MS pass first. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "vps-spoof: %s: %s\n", what, strerror(errno));
    return 1;
}

static int open_packet(const char *ifname, struct sockaddr_ll *sll)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

    if (fd < 0)
        return -1;
    *sll = (struct sockaddr_ll){.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    sll->sll_ifindex = (int) if_nametoindex(ifname);
    if (sll->sll_ifindex == 0 || bind(fd, (struct sockaddr *) sll, sizeof *sll) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int own_mac(int fd, const char *ifname, uint8_t mac[ETH_ALEN])
{
    struct ifreq ifr = {0};

    (void) snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return -1;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
    unsigned b[ETH_ALEN];

    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return -1;
    for (int i = 0; i < ETH_ALEN; i++)
        mac[i] = (uint8_t) b[i];
    return 0;
}

static uint16_t csum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t) p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t) ~sum);
}

static int send_frame(int fd, struct sockaddr_ll *sll, const void *frame, size_t len)
{
    if (sendto(fd, frame, len, 0, (struct sockaddr *) sll, sizeof *sll) != (ssize_t) len)
        return die("send");
    return 0;
}

static int cmd_icmp(char **argv)
{
    uint8_t frame[ETH_HLEN + sizeof(struct iphdr) + sizeof(struct icmphdr) + 64] = {0};
    struct ether_header *eth = (void *) frame;
    struct iphdr *ip = (void *) (frame + ETH_HLEN);
    struct icmphdr *icmp = (void *) (ip + 1);
    size_t n_marker = strlen(argv[6]);
    struct sockaddr_ll sll;
    int fd = open_packet(argv[1], &sll);

    if (fd < 0)
        return die("open packet socket");
    if (n_marker > 64 || parse_mac(argv[2], eth->ether_dhost) < 0 ||
        (strcmp(argv[3], "self") ? parse_mac(argv[3], eth->ether_shost)
                                 : own_mac(fd, argv[1], eth->ether_shost)) < 0 ||
        inet_pton(AF_INET, argv[4], &ip->saddr) != 1 ||
        inet_pton(AF_INET, argv[5], &ip->daddr) != 1)
        return die("bad arguments");
    eth->ether_type = htons(ETHERTYPE_IP);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_ICMP;
    ip->tot_len = htons((uint16_t) (sizeof *ip + sizeof *icmp + n_marker));
    ip->check = csum(ip, sizeof *ip);
    icmp->type = ICMP_ECHO;
    icmp->un.echo.id = htons(0x5350);
    memcpy(icmp + 1, argv[6], n_marker);
    icmp->checksum = csum(icmp, sizeof *icmp + n_marker);
    return send_frame(fd, &sll, frame, ETH_HLEN + ntohs(ip->tot_len));
}

static int cmd_garp(char **argv)
{
    uint8_t frame[ETH_HLEN + sizeof(struct ether_arp)] = {0};
    struct ether_header *eth = (void *) frame;
    struct ether_arp *arp = (void *) (frame + ETH_HLEN);
    struct sockaddr_ll sll;
    int fd = open_packet(argv[1], &sll);

    if (fd < 0)
        return die("open packet socket");
    if (own_mac(fd, argv[1], eth->ether_shost) < 0 ||
        inet_pton(AF_INET, argv[2], arp->arp_spa) != 1)
        return die("bad arguments");
    memset(eth->ether_dhost, 0xff, ETH_ALEN);
    eth->ether_type = htons(ETHERTYPE_ARP);
    arp->arp_hrd = htons(ARPHRD_ETHER);
    arp->arp_pro = htons(ETHERTYPE_IP);
    arp->arp_hln = ETH_ALEN;
    arp->arp_pln = 4;
    arp->arp_op = htons(ARPOP_REPLY);
    memcpy(arp->arp_sha, eth->ether_shost, ETH_ALEN);
    memset(arp->arp_tha, 0xff, ETH_ALEN);
    memcpy(arp->arp_tpa, arp->arp_spa, 4);
    return send_frame(fd, &sll, frame, sizeof frame);
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    unsigned b;

    for (; n < max && sscanf(s + 2 * n, "%2x", &b) == 1; n++)
        out[n] = (uint8_t) b;
    return n;
}

static int holds(const uint8_t *frame, size_t len, const uint8_t *pat, size_t n)
{
    return n > 0 && memmem(frame, len, pat, n) != NULL;
}

static int cmd_recv(char **argv)
{
    uint8_t barrier[64], pattern[64], frame[2048];
    size_t n_barrier = unhex(argv[3], barrier, sizeof barrier);
    size_t n_pattern = unhex(argv[4], pattern, sizeof pattern);
    long timeout_ms = strtol(argv[2], NULL, 10);
    struct sockaddr_ll sll;
    struct timespec start, now;
    unsigned seen = 0;
    int fd = open_packet(argv[1], &sll);

    if (fd < 0)
        return die("open packet socket");
    printf("ready\n");
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = timeout_ms -
                    ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int) left) == 0) {
            printf("timeout, seen %u\n", seen);
            return 2;
        }
        ssize_t n = recv(fd, frame, sizeof frame, 0);
        if (n < 0)
            return die("recv");
        if (holds(frame, (size_t) n, pattern, n_pattern))
            seen++;
        if (holds(frame, (size_t) n, barrier, n_barrier)) {
            printf("seen %u\n", seen);
            return 0;
        }
    }
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";

    if (!strcmp(c, "icmp") && argc == 8)
        return cmd_icmp(argv + 1);
    if (!strcmp(c, "garp") && argc == 4)
        return cmd_garp(argv + 1);
    if (!strcmp(c, "recv") && argc == 6)
        return cmd_recv(argv + 1);
    fprintf(stderr, "usage: see tests/security/vps-spoof.c\n");
    return 1;
}
