/* The host side of the benchmarks (bench/README.md): the measuring client and the host peers
 * that vpsd is compared with. Built by bench/run.sh with cc -O2 into a temporary directory.
 *
 *   latency [-n N] [-w W] [-d MS] NAME=ADDR...
 *       N sequential connections to each ADDR ("a.b.c.d:port"), round robin over the targets
 *       (one connection to each in turn, so that all see the same machine), after W warm-up
 *       rounds that are not counted; with -d a pause of MS milliseconds before each round
 *       (an idle host between requests). Each connection: connect, send "ping\n", read the
 *       64-byte answer to its end (the server closes). Prints one line per target:
 *         NAME n errors first_p50 first_p90 first_p99 full_p50 full_p90 full_p99
 *       in microseconds; "first" is connect() to the first byte of the answer, "full" is
 *       connect() to the end of the stream.
 *   once ADDR                one such connection; prints "first_us full_us" (cold starts)
 *   waitport ADDR [MS]       until a connect succeeds (at most MS, default 5000); no request
 *   inetd ADDR PROG ARG...   a plain inetd: accept on ADDR, fork, the connection on stdin and
 *                            stdout, exec PROG (the baseline; also runs helper programs)
 *   relay ADDR UPSTREAM      a relay in user space: accept on ADDR, fork, connect UPSTREAM,
 *                            copy both ways with read()/write() (the socat-like peer)
 *   put ADDR BYTES           "sink\n" and BYTES bytes through one connection, then shutdown
 *   get ADDR BYTES           "source BYTES\n", read BYTES bytes
 *       put and get check the count and print "bytes seconds MiB_per_s" (connect to end). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_BYTES 64 /* responder.c's answer to "ping" */
#define IO_TIMEOUT_S 30
#define MAX_TARGETS  16

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("benchtool: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static void parse_addr(const char *text, struct sockaddr_in *sin)
{
    char host[64];
    const char *colon = strrchr(text, ':');

    if (!colon || (size_t) (colon - text) >= sizeof host)
        die("bad address '%s' (a.b.c.d:port)", text);
    memcpy(host, text, (size_t) (colon - text));
    host[colon - text] = '\0';
    *sin = (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons((unsigned short) atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        die("bad address '%s'", text);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int listen_on(const char *text)
{
    struct sockaddr_in sin;
    int fd, one = 1;

    parse_addr(text, &sin);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0 || listen(fd, 512) < 0)
        die("listen on %s: %s", text, strerror(errno));
    return fd;
}

static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t w = write(fd, c, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        len -= (size_t) w;
    }
    return 0;
}

/* One request: 0 and the two times, or -1 with *why set. */
static int one_request(const struct sockaddr_in *sin, double *first, double *full, const char **why)
{
    char buf[256];
    size_t got = 0;
    double t0, t1 = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    set_timeouts(fd);
    t0 = now_us();
    if (connect(fd, (const struct sockaddr *) sin, sizeof *sin) < 0) {
        *why = "connect failed";
        close(fd);
        return -1;
    }
    if (write_all(fd, "ping\n", 5) < 0) {
        *why = "send failed";
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = errno == EAGAIN ? "timed out" : "read failed";
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        if (got == 0)
            t1 = now_us();
        got += (size_t) r;
    }
    *full = now_us() - t0;
    close(fd);
    if (got != ANSWER_BYTES) {
        *why = got == 0 ? "closed without an answer" : "short answer";
        return -1;
    }
    *first = t1 - t0;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted values. */
static double quantile(const double *v, size_t n, double q)
{
    size_t k = (size_t) (q * (double) n + 0.999999);
    if (n == 0)
        return 0;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static int cmd_latency(int argc, char **argv)
{
    struct target {
        const char *name;
        struct sockaddr_in sin;
        double *first, *full;
        size_t n, errors;
        const char *why;
    } t[MAX_TARGETS];
    long rounds = 1000, warm = 20, pause_ms = 0;
    int nt = 0, opt;

    while ((opt = getopt(argc, argv, "n:w:d:")) != -1) {
        if (opt == 'n')
            rounds = atol(optarg);
        else if (opt == 'w')
            warm = atol(optarg);
        else if (opt == 'd')
            pause_ms = atol(optarg);
        else
            return 2;
    }
    if (rounds < 1 || warm < 0 || pause_ms < 0 || pause_ms > 10000)
        die("bad -n, -w or -d");
    for (int i = optind; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || nt == MAX_TARGETS)
            die("bad target '%s' (NAME=ADDR, at most %d)", argv[i], MAX_TARGETS);
        *eq = '\0';
        t[nt] = (struct target){.name = argv[i]};
        parse_addr(eq + 1, &t[nt].sin);
        t[nt].first = calloc((size_t) rounds, sizeof(double));
        t[nt].full = calloc((size_t) rounds, sizeof(double));
        if (!t[nt].first || !t[nt].full)
            die("out of memory");
        nt++;
    }
    if (nt == 0)
        die("no targets");
    for (long r = 0; r < warm + rounds; r++) {
        if (pause_ms) {
            struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
        for (int i = 0; i < nt; i++) {
            double first, full;
            const char *why = NULL;
            if (one_request(&t[i].sin, &first, &full, &why) < 0) {
                if (!t[i].why)
                    t[i].why = why;
                t[i].errors++;
                continue;
            }
            if (r >= warm) {
                t[i].first[t[i].n] = first;
                t[i].full[t[i].n] = full;
                t[i].n++;
            }
        }
    }
    for (int i = 0; i < nt; i++) {
        qsort(t[i].first, t[i].n, sizeof(double), cmp_double);
        qsort(t[i].full, t[i].n, sizeof(double), cmp_double);
        if (t[i].errors)
            fprintf(stderr, "benchtool: %s: %zu failed connections (first: %s)\n", t[i].name,
                    t[i].errors, t[i].why);
        printf("%s %zu %zu %.1f %.1f %.1f %.1f %.1f %.1f\n", t[i].name, t[i].n, t[i].errors,
               quantile(t[i].first, t[i].n, 0.5), quantile(t[i].first, t[i].n, 0.9),
               quantile(t[i].first, t[i].n, 0.99), quantile(t[i].full, t[i].n, 0.5),
               quantile(t[i].full, t[i].n, 0.9), quantile(t[i].full, t[i].n, 0.99));
    }
    return 0;
}

static int cmd_once(int argc, char **argv)
{
    struct sockaddr_in sin;
    double first, full;
    const char *why = NULL;

    if (argc != 2)
        return 2;
    parse_addr(argv[1], &sin);
    if (one_request(&sin, &first, &full, &why) < 0)
        die("%s: %s", argv[1], why);
    printf("%.1f %.1f\n", first, full);
    return 0;
}

static int cmd_waitport(int argc, char **argv)
{
    struct sockaddr_in sin;
    double limit;

    if (argc != 2 && argc != 3)
        return 2;
    parse_addr(argv[1], &sin);
    limit = now_us() + (argc == 3 ? atof(argv[2]) : 5000.0) * 1e3;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sin, sizeof sin) == 0) {
            close(fd);
            return 0;
        }
        if (fd >= 0)
            close(fd);
        if (now_us() > limit)
            die("nothing listens on %s", argv[1]);
        usleep(10000);
    }
}

static int cmd_inetd(int argc, char **argv)
{
    int lfd;

    if (argc < 3)
        return 2;
    lfd = listen_on(argv[1]);
    signal(SIGCHLD, SIG_IGN); /* the kernel reaps the children */
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept: %s", strerror(errno));
        }
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGCHLD, SIG_DFL);
            if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
                _exit(127);
            execv(argv[2], argv + 2);
            _exit(127);
        }
        close(c);
    }
}

/* Copies both ways until both sides have shut their sending half. */
static void relay_pair(int a, int b)
{
    static char buf[65536];
    int fds[2] = {a, b};
    bool open_in[2] = {true, true}; /* fds[i] may still send */

    while (open_in[0] || open_in[1]) {
        struct pollfd p[2];
        for (int i = 0; i < 2; i++)
            p[i] = (struct pollfd){.fd = open_in[i] ? fds[i] : -1, .events = POLLIN};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!open_in[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) {
                open_in[i] = false;
                (void) shutdown(fds[!i], SHUT_WR);
                if (r < 0)
                    return;
                continue;
            }
            if (write_all(fds[!i], buf, (size_t) r) < 0)
                return;
        }
    }
}

static int cmd_relay(int argc, char **argv)
{
    struct sockaddr_in up;
    int lfd;

    if (argc != 3)
        return 2;
    parse_addr(argv[2], &up);
    lfd = listen_on(argv[1]);
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept: %s", strerror(errno));
        }
        pid_t pid = fork();
        if (pid == 0) {
            int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (u < 0 || connect(u, (struct sockaddr *) &up, sizeof up) < 0)
                _exit(1);
            relay_pair(c, u);
            _exit(0);
        }
        close(c);
    }
}

static int cmd_put_get(bool put, int argc, char **argv)
{
    struct sockaddr_in sin;
    unsigned long long bytes, moved = 0;
    char line[64];
    static char buf[1 << 20];
    double t0, secs;
    int fd;

    if (argc != 3)
        return 2;
    parse_addr(argv[1], &sin);
    bytes = strtoull(argv[2], NULL, 10);
    signal(SIGPIPE, SIG_IGN);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    set_timeouts(fd);
    t0 = now_us();
    if (connect(fd, (struct sockaddr *) &sin, sizeof sin) < 0)
        die("connect %s: %s", argv[1], strerror(errno));
    if (put) {
        size_t got = 0;
        memset(buf, 'y', sizeof buf);
        if (write_all(fd, "sink\n", 5) < 0)
            die("send: %s", strerror(errno));
        while (moved < bytes) {
            size_t n = bytes - moved < sizeof buf ? (size_t) (bytes - moved) : sizeof buf;
            if (write_all(fd, buf, n) < 0)
                die("send after %llu bytes: %s", moved, strerror(errno));
            moved += n;
        }
        shutdown(fd, SHUT_WR);
        for (;;) {
            ssize_t r = read(fd, line + got, sizeof line - 1 - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                die("read the count: %s", strerror(errno));
            if (r == 0)
                break;
            got += (size_t) r;
            if (got == sizeof line - 1)
                break;
        }
        line[got] = '\0';
        if (strtoull(line, NULL, 10) != bytes)
            die("the server counted '%s', sent %llu", strtok(line, "\n"), bytes);
    } else {
        int len = snprintf(line, sizeof line, "source %llu\n", bytes);
        if (write_all(fd, line, (size_t) len) < 0)
            die("send: %s", strerror(errno));
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                die("read after %llu bytes: %s", moved, strerror(errno));
            if (r == 0)
                break;
            moved += (unsigned long long) r;
        }
        if (moved != bytes)
            die("received %llu bytes, expected %llu", moved, bytes);
    }
    secs = (now_us() - t0) / 1e6;
    close(fd);
    printf("%llu %.3f %.1f\n", bytes, secs, (double) bytes / (1 << 20) / secs);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc = 2;

    if (strcmp(cmd, "latency") == 0)
        rc = cmd_latency(argc - 1, argv + 1);
    else if (strcmp(cmd, "once") == 0)
        rc = cmd_once(argc - 1, argv + 1);
    else if (strcmp(cmd, "waitport") == 0)
        rc = cmd_waitport(argc - 1, argv + 1);
    else if (strcmp(cmd, "inetd") == 0)
        rc = cmd_inetd(argc - 1, argv + 1);
    else if (strcmp(cmd, "relay") == 0)
        rc = cmd_relay(argc - 1, argv + 1);
    else if (strcmp(cmd, "put") == 0)
        rc = cmd_put_get(true, argc - 1, argv + 1);
    else if (strcmp(cmd, "get") == 0)
        rc = cmd_put_get(false, argc - 1, argv + 1);
    if (rc == 2)
        fprintf(stderr, "usage: benchtool latency [-n N] [-w W] [-d MS] NAME=ADDR... | once ADDR | "
                        "waitport ADDR [MS] | inetd ADDR PROG ARG... | relay ADDR UPSTREAM | "
                        "put ADDR BYTES | get ADDR BYTES\n");
    return rc;
}
