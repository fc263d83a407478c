/* A small server for the activation tests, run inside VPSes (static: the minimal template has
 * no libc). Modes:
 *   fd3 TAG            systemd-style: accepts on the inherited listening socket fd 3 (checks
 *                      LISTEN_FDS=1 and LISTEN_PID), forever
 *   listen ADDR TAG MS sleeps MS milliseconds (a slow start), then listens on ADDR
 *                      ("a.b.c.d:port") itself: proxy mode's service
 *   udp TAG            inetd "wait" style: answers datagrams on stdin, exits after 2 s quiet
 *   crash              exits with status 3 at once
 *   uclient PATH LINE  a client: sends LINE to the unix socket PATH, prints the answer
 *   tclient IP PORT LINE  the same over TCP, IPv4 or IPv6
 * Each connection gets a process. Protocol: the client sends a line; "count" makes the server
 * read on to the end of the stream and answer "count:N" (half-close through the relay);
 * anything else is answered with "TAG:PID:LINE". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *tag = "?";

static int read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return (int) n;
}

static void reply(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t) w;
    }
}

static void serve(int fd)
{
    char line[256], out[400];

    read_line(fd, line, sizeof line);
    if (strcmp(line, "count") == 0) {
        char buf[65536];
        unsigned long long total = 0;
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0)
                total += (unsigned long long) r;
        snprintf(out, sizeof out, "count:%llu\n", total);
    } else {
        snprintf(out, sizeof out, "%s:%d:%s\n", tag, (int) getpid(), line);
    }
    reply(fd, out);
}

/* A client's half: sends line, ends its side, prints the whole answer. */
static int client_talk(int fd, const char *line)
{
    char buf[512];
    ssize_t r;

    reply(fd, line);
    reply(fd, "\n");
    shutdown(fd, SHUT_WR);
    while ((r = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t) r, stdout);
    return 0;
}

static int accept_loop(int lfd)
{
    signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            serve(c);
            _exit(0);
        }
        close(c);
    }
}

static int listen_addr(const char *addr)
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
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0 || listen(fd, 128) < 0) {
        perror("listen");
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "fd3") == 0) {
        const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
        tag = argv[2];
        if (!fds || strcmp(fds, "1") != 0 || !pid || atoi(pid) != (int) getpid()) {
            fprintf(stderr, "no socket passed\n");
            return 2;
        }
        return accept_loop(3);
    }
    if (argc >= 5 && strcmp(argv[1], "listen") == 0) {
        struct timespec ts = {.tv_sec = atoi(argv[4]) / 1000,
                              .tv_nsec = (atoi(argv[4]) % 1000) * 1000000L};
        int fd;
        tag = argv[3];
        nanosleep(&ts, NULL);
        if ((fd = listen_addr(argv[2])) < 0)
            return 2;
        return accept_loop(fd);
    }
    if (argc >= 3 && strcmp(argv[1], "udp") == 0) {
        tag = argv[2];
        for (;;) {
            struct pollfd p = {.fd = 0, .events = POLLIN};
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            char buf[256], out[400];
            ssize_t r;
            if (poll(&p, 1, 2000) <= 0)
                return 0;
            r = recvfrom(0, buf, sizeof buf - 1, 0, (struct sockaddr *) &ss, &len);
            if (r < 0)
                return 1;
            buf[r] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            snprintf(out, sizeof out, "%s:%d:%s\n", tag, (int) getpid(), buf);
            (void) sendto(0, out, strlen(out), 0, (struct sockaddr *) &ss, len);
        }
    }
    if (argc >= 2 && strcmp(argv[1], "crash") == 0)
        return 3;
    if (argc >= 5 && strcmp(argv[1], "tclient") == 0) {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        struct sockaddr_in sin = {.sin_family = AF_INET};
        bool v6 = strchr(argv[2], ':') != NULL;
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
        sin.sin_port = sin6.sin6_port = htons((unsigned short) atoi(argv[3]));
        if (fd < 0 ||
            inet_pton(v6 ? AF_INET6 : AF_INET, argv[2],
                      v6 ? (void *) &sin6.sin6_addr : (void *) &sin.sin_addr) != 1 ||
            connect(fd, v6 ? (struct sockaddr *) &sin6 : (struct sockaddr *) &sin,
                    v6 ? sizeof sin6 : sizeof sin) < 0) {
            perror("connect");
            return 1;
        }
        return client_talk(fd, argv[4]);
    }
    if (argc >= 4 && strcmp(argv[1], "uclient") == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[2]);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof sun) < 0) {
            perror("connect");
            return 1;
        }
        return client_talk(fd, argv[3]);
    }
    fprintf(stderr, "usage: vps-testsrv fd3 TAG | listen ADDR TAG MS | udp TAG | crash | uclient "
                    "PATH LINE | tclient IP PORT LINE\n");
    return 2;
}
