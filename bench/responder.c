/* The service of the benchmarks (bench/README.md): one small program that every peer runs,
 * inside VPSes (built static: the minimal template has no libc) and on the host alike, so
 * that the peers differ only in how the program is started and how bytes reach it.
 *
 * Modes:
 *   inetd        the connection is stdin and stdout: serve one request, exit (vpsd's accept
 *                mode, systemd-socket-activate --inetd, socat EXEC, the fork+exec baseline)
 *   fd3          the listening socket is fd 3 (LISTEN_FDS=1, vpsd's listen mode): accept and
 *                serve one connection after another, forever
 *   listen ADDR  listen on ADDR ("a.b.c.d:port") itself and serve like fd3 (proxy mode's
 *                service and the direct peers)
 * No fork in fd3 and listen mode: the benchmarks connect one at a time.
 *
 * Protocol: the client sends one line.
 *   "ping"       answered with a fixed 64-byte line, then the connection is closed
 *   "sink"       everything up to the client's shutdown is read and counted, then "N\n"
 *   "source N"   N bytes are written, then the connection is closed */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_BYTES (256 * 1024)

static char buf[BUF_BYTES];

static const char pong[] = "pong 0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n";
_Static_assert(sizeof pong - 1 == 64, "the answer to ping is 64 bytes");

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

/* Serves one request read from in, answered on out. */
static void serve(int in, int out)
{
    size_t have = 0;
    char *nl = NULL;

    /* The request line; with "sink" the bytes after it in the same read are data. */
    while (!nl && have < 4096) {
        ssize_t r = read(in, buf + have, 4096 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        have += (size_t) r;
        nl = memchr(buf, '\n', have);
    }
    if (!nl)
        return;
    *nl = '\0';
    if (strcmp(buf, "ping") == 0) {
        (void) write_all(out, pong, sizeof pong - 1);
    } else if (strcmp(buf, "sink") == 0) {
        unsigned long long total = have - (size_t) (nl + 1 - buf);
        char answer[32];
        for (;;) {
            ssize_t r = read(in, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            total += (unsigned long long) r;
        }
        int len = snprintf(answer, sizeof answer, "%llu\n", total);
        (void) write_all(out, answer, (size_t) len);
    } else if (strncmp(buf, "source ", 7) == 0) {
        unsigned long long left = strtoull(buf + 7, NULL, 10);
        memset(buf, 'x', sizeof buf);
        while (left > 0) {
            size_t n = left < sizeof buf ? (size_t) left : sizeof buf;
            if (write_all(out, buf, n) < 0)
                break;
            left -= n;
        }
    }
}

static int accept_loop(int lfd)
{
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("responder: accept");
            return 1;
        }
        serve(c, c);
        close(c);
    }
}

static int listen_on(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd, one = 1;

    if (!colon || (size_t) (colon - addr) >= sizeof host)
        return -1;
    memcpy(host, addr, (size_t) (colon - addr));
    host[colon - addr] = '\0';
    sin.sin_port = htons((unsigned short) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0 || listen(fd, 128) < 0) {
        perror("responder: listen");
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], "inetd") == 0) {
        serve(0, 1);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "fd3") == 0) {
        const char *fds = getenv("LISTEN_FDS");
        if (!fds || strcmp(fds, "1") != 0) {
            fprintf(stderr, "responder: no listening socket passed (LISTEN_FDS)\n");
            return 2;
        }
        return accept_loop(3);
    }
    if (argc == 3 && strcmp(argv[1], "listen") == 0) {
        int fd = listen_on(argv[2]);
        return fd < 0 ? 2 : accept_loop(fd);
    }
    fprintf(stderr, "usage: responder inetd | fd3 | listen A.B.C.D:PORT\n");
    return 2;
}
