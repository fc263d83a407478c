/* Debian templates built with debootstrap: the strict checks of a build request, running
 * debootstrap in a forked child (its own PID and mount namespaces, a fixed argv and
 * environment, a deadline), following its output for progress, and making the finished tree
 * fit for VPSes. Where a template lives and how it is published is template.c's. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syscalls.h"
#include "template-internal.h"
#include "vps/config.h"
#include "vps/fd.h"
#include "vps/path.h"
#include "vps/storage.h"
#include "vps/template.h"
#include "vps/units.h"

#define MIRROR_MAX       256
#define PACKAGE_MAX      128
#define TAIL_LINES       20
#define TAIL_LINE_MAX    240
#define TAIL_MSG_MAX     360 /* of the 512 of an error message; the rest is context */
#define LOG_TAIL_BYTES   8192
#define LOG_TAIL_LINES   3
#define READ_CHUNK_BYTES 4096

static const struct vps_storage dir_storage = {.backend = VPS_STORAGE_DIR};

/* ---- what may be asked for ---------------------------------------------------------- */

static const char *const suites[] = {"bullseye", "bookworm", "trixie"};
static const char *const variants[] = {"minbase", "buildd", "-"};

/* Template names that say which release they are. */
static const struct {
    const char *name;
    const char *suite;
} releases[] = {{"debian-11", "bullseye"}, {"debian-12", "bookworm"}, {"debian-13", "trixie"}};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* ASCII only, whatever the locale. */
static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

int vps_debootstrap_check_suite(const char *s, const char *path, struct vps_error *err)
{
    if (!in_list(s, suites, ELEMENTSOF(suites)))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected \"bullseye\", \"bookworm\" or \"trixie\", got '%.32s'",
                             path, s);
    return 0;
}

int vps_debootstrap_check_variant(const char *s, const char *path, struct vps_error *err)
{
    if (!in_list(s, variants, ELEMENTSOF(variants)))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected \"minbase\", \"buildd\" or \"-\", got '%.32s'", path, s);
    return 0;
}

static int check_distribution(const char *s, const char *path, struct vps_error *err)
{
    if (strcmp(s, "debian") != 0)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected \"debian\", got '%.32s'", path, s);
    return 0;
}

/* Debian policy 5.6.1: lower case letters, digits, '+', '-' and '.', at least two long,
 * starting with a letter or digit. Nothing else can reach debootstrap's --include. */
int vps_debootstrap_check_package(const char *s, const char *path, struct vps_error *err)
{
    bool ok = is_lower_alnum(s[0]) && s[1] != '\0';

    for (const char *c = s + 1; ok && *c; c++)
        ok = is_lower_alnum(*c) || *c == '+' || *c == '-' || *c == '.';
    if (!ok)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: '%.64s' is not a Debian package name ([a-z0-9][a-z0-9+.-]+)",
                             path, s);
    return 0;
}

/* A DNS name or IPv4 address, or an IPv6 address in brackets; returns its length, 0 if
 * there is none. */
static size_t host_length(const char *s)
{
    size_t n = 0;

    if (s[0] == '[') {
        for (n = 1; is_alnum(s[n]) || s[n] == ':' || s[n] == '.'; n++)
            ;
        return s[n] == ']' && n > 2 ? n + 1 : 0;
    }
    if (!is_alnum(s[0]))
        return 0;
    while (is_alnum(s[n]) || s[n] == '-' || s[n] == '.')
        n++;
    return n;
}

/* ":1".. ":65535"; returns its length, 0 if s holds no valid port. */
static size_t port_length(const char *s)
{
    unsigned port = 0;
    size_t n = 1;

    if (s[0] != ':')
        return 0;
    for (; s[n] >= '0' && s[n] <= '9' && n <= 5; n++)
        port = port * 10 + (unsigned) (s[n] - '0');
    return n > 1 && port >= 1 && port <= 65535 ? n : 0;
}

/* http(s)://HOST[:PORT][/PATH] with a path of letters, digits and "-._~/%+" only: the
 * mirror is an argument of a shell script and ends up in the template's sources.list, so
 * no spaces, quotes, '$', ';' or user info may pass. */
int vps_debootstrap_check_mirror(const char *s, const char *path, struct vps_error *err)
{
    const char *p = s;
    size_t n;

    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else
        p = NULL;
    if (p && (n = host_length(p)) > 0) {
        p += n;
        if (*p == ':')
            p += (n = port_length(p)) > 0 ? n : 0;
        if (*p == '/')
            p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%+");
        if (*p == '\0')
            return 0;
    }
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected http://HOST[:PORT][/PATH] or https://... without spaces, "
                         "quotes or other special characters, got '%.80s'",
                         path, s);
}

/* ---- the request -------------------------------------------------------------------- */

static const struct vps_json_field request_fields[] = {
    {.name = "distribution",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_debootstrap, distribution),
     .max = 32,
     .check = check_distribution},
    {.name = "suite",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_debootstrap, suite),
     .max = 32,
     .check = vps_debootstrap_check_suite},
    {.name = "mirror",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_debootstrap, mirror),
     .max = MIRROR_MAX,
     .check = vps_debootstrap_check_mirror},
    {.name = "variant",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_debootstrap, variant),
     .max = 16,
     .check = vps_debootstrap_check_variant},
    {.name = "include",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct vps_debootstrap, include),
     .max = VPS_DEBOOTSTRAP_INCLUDE_MAX,
     .str_max = PACKAGE_MAX,
     .unique = true,
     .check = vps_debootstrap_check_package},
    {.name = "timeout_ms",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct vps_debootstrap, timeout_ms),
     .min = 1000,
     .max = VPS_DEBOOTSTRAP_TIMEOUT_MAX_MS},
};

void vps_debootstrap_done(struct vps_debootstrap *o)
{
    vps_json_free_fields(o, request_fields, ELEMENTSOF(request_fields));
}

static const char *suite_of_name(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(releases); i++) {
        size_t len = strlen(releases[i].name);
        if (strncmp(name, releases[i].name, len) == 0 && (name[len] == '\0' || name[len] == '-'))
            return releases[i].suite;
    }
    return NULL;
}

static int set_defaults(const char *name, struct vps_debootstrap *o, struct vps_error *err)
{
    const char *suite = suite_of_name(name);

    o->timeout_ms = VPS_DEBOOTSTRAP_TIMEOUT_MS;
    if (!(o->distribution = strdup("debian")) || !(o->mirror = strdup(VPS_DEBOOTSTRAP_MIRROR)) ||
        !(o->variant = strdup("minbase")) || (suite && !(o->suite = strdup(suite))))
        return vps_error_errno(err, ENOMEM, "build request");
    return 0;
}

int vps_debootstrap_from_json(const char *name, const json_t *obj, struct vps_debootstrap *ret,
                              struct vps_error *err)
{
    cleanup_(vps_debootstrap_done) struct vps_debootstrap o = {0};

    if (set_defaults(name, &o, err) < 0 ||
        vps_json_parse_fields(obj, request_fields, ELEMENTSOF(request_fields), &o, "", err) < 0)
        return -1;
    if (!o.suite)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "suite: required, as the template name '%s' names no Debian release "
                             "(debian-11, debian-12, debian-13)",
                             name);
    *ret = o;
    o = (struct vps_debootstrap){0};
    return 0;
}

int vps_debootstrap_available(const char *debootstrap_path, struct vps_error *err)
{
    if (access(debootstrap_path, X_OK) < 0)
        return vps_error_set(err, VPS_ERR_UNAVAILABLE,
                             "debootstrap '%s' is not installed (Debian package debootstrap)",
                             debootstrap_path);
    if (access(VPS_DEBIAN_KEYRING, R_OK) < 0)
        return vps_error_set(
            err, VPS_ERR_UNAVAILABLE,
            "keyring '%s' is not installed (Debian package debian-archive-keyring)",
            VPS_DEBIAN_KEYRING);
    return 0;
}

/* ---- the last lines of output, for the error ---------------------------------------- */

struct tail {
    char lines[TAIL_LINES][TAIL_LINE_MAX];
    size_t n; /* lines pushed so far; the newest is lines[(n - 1) % TAIL_LINES] */
};

static const char *tail_line(const struct tail *t, size_t age)
{
    return t->lines[(t->n - 1 - age) % TAIL_LINES];
}

/* Keeps line, unless it repeats the one before (wget says "Connection refused" twice).
 * Trailing blanks go, control characters become '?': the text goes into messages and log
 * lines. */
static void tail_push(struct tail *t, const char *prefix, const char *line)
{
    char buf[TAIL_LINE_MAX];

    (void) snprintf(buf, sizeof buf, "%s%s", prefix, line);
    for (size_t len = strlen(buf); len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t');)
        buf[--len] = '\0';
    for (char *c = buf; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = '?';
    if (buf[0] == '\0' || (t->n > 0 && strcmp(tail_line(t, 0), buf) == 0))
        return;
    memcpy(t->lines[t->n % TAIL_LINES], buf, sizeof buf);
    t->n++;
}

/* The newest lines that fit in size, oldest first, joined by " | ". */
static const char *tail_text(const struct tail *t, char *buf, size_t size)
{
    size_t kept = 0, len = 0, avail = t->n < TAIL_LINES ? t->n : TAIL_LINES;

    while (kept < avail && len + strlen(tail_line(t, kept)) + 3 < size)
        len += strlen(tail_line(t, kept++)) + 3;
    if (kept == 0 && avail > 0) /* one long line: its start says the most */
        kept = 1;
    buf[0] = '\0';
    len = 0;
    for (size_t age = kept; age-- > 0;) {
        int n = snprintf(buf + len, size - len, "%s%s", len ? " | " : "", tail_line(t, age));
        if (n < 0 || (size_t) n >= size - len)
            break;
        len += (size_t) n;
    }
    return t->n ? buf : "no output";
}

/* debootstrap tells the details of a failed download or dpkg run only in this log, inside
 * the tree that is about to be removed: its last lines go into the error. */
static void tail_push_log(struct tail *t, int rootfs)
{
    struct vps_error ignored = {0};
    char buf[LOG_TAIL_BYTES + 1], *last[LOG_TAIL_LINES];
    size_t n_lines = 0;
    struct stat st;
    ssize_t n;
    cleanup_close int fd = vps_path_open_in_root(rootfs, "debootstrap/debootstrap.log",
                                                 O_RDONLY | O_NONBLOCK, &ignored);

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    if (st.st_size > LOG_TAIL_BYTES)
        (void) lseek(fd, st.st_size - LOG_TAIL_BYTES, SEEK_SET);
    if ((n = read(fd, buf, LOG_TAIL_BYTES)) <= 0)
        return;
    buf[n] = '\0';
    for (char *save = NULL, *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
        if (l[strspn(l, " \t")] != '\0')
            last[n_lines++ % LOG_TAIL_LINES] = l;
    for (size_t i = n_lines > LOG_TAIL_LINES ? n_lines - LOG_TAIL_LINES : 0; i < n_lines; i++)
        tail_push(t, "debootstrap.log: ", last[i % LOG_TAIL_LINES]);
}

/* ---- progress ----------------------------------------------------------------------- */

/* debootstrap's phases as its "I:" lines announce them, with the share of the whole each
 * gets. Most of the time goes to resolving, downloading, unpacking and configuring; within a
 * per-package phase the count of packages moves the bar. */
#define PCT_RETRIEVE  20 /* .. 45 */
#define PCT_EXTRACT   45 /* .. 55 */
#define PCT_INSTALL   57 /* .. 97: each package unpacked once and configured once */
#define PCT_INSTALLED 97

static const struct {
    const char *line; /* a prefix of the whole line */
    unsigned percent;
    const char *what;
} milestones[] = {
    {"I: Retrieving InRelease", 2, "retrieving the Release file"},
    {"I: Retrieving Release", 2, "retrieving the Release file"},
    {"I: Checking Release signature", 3, "checking the Release signature"},
    {"I: Valid Release signature", 4, "checking the Release signature"},
    {"I: Retrieving Packages", 5, "retrieving the package list"},
    {"I: Validating Packages", 6, "validating the package list"},
    {"I: Resolving dependencies of required", 8, "resolving dependencies"},
    {"I: Resolving dependencies of base", 13, "resolving dependencies"},
    {"I: Checking component", 18, "checking the archive"},
    {"I: Chosen extractor", PCT_EXTRACT, "extracting packages"},
    {"I: Installing core packages", PCT_EXTRACT + 10, "installing core packages"},
    {"I: Unpacking required packages...", 0, "unpacking packages"},
    {"I: Configuring required packages...", 0, "configuring packages"},
    {"I: Unpacking the base system...", 0, "unpacking packages"},
    {"I: Configuring the base system...", 0, "configuring packages"},
    {"I: Base system installed successfully", PCT_INSTALLED, "base system installed"},
};

enum step { STEP_RETRIEVE, STEP_EXTRACT, STEP_UNPACK, STEP_CONFIGURE };

static const char *const step_lines[] = {"I: Retrieving ", "I: Extracting ", "I: Unpacking ",
                                         "I: Configuring "};
static const char *const step_words[] = {"retrieving", "extracting", "unpacking", "configuring"};

struct progress {
    vps_progress_fn fn;
    void *userdata;
    size_t expected; /* packages, until retrieval has counted them */
    size_t counts[ELEMENTSOF(step_lines)];
    unsigned percent;
};

static void report(struct progress *p, unsigned percent, const char *what)
{
    if (percent < p->percent) /* never backwards: a phase may end early */
        percent = p->percent;
    p->percent = percent;
    if (p->fn)
        p->fn(percent, what, p->userdata);
}

/* first + span * done / total, short of the end while the phase runs. */
static unsigned share(unsigned first, unsigned span, size_t done, size_t total)
{
    if (total == 0 || done >= total)
        return first + span - 1;
    return first + (unsigned) ((uint64_t) span * done / total);
}

/* The package named by "I: Unpacking bash..." or "I: Retrieving bash 5.2-2", as far as it
 * is made of package-name characters: the text is the archive's, and goes to every client. */
static void package_of(const char *s, char *buf, size_t size)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.");

    while (n > 0 && s[n - 1] == '.') /* "bash..." */
        n--;
    (void) snprintf(buf, size, "%.*s", (int) (n < 64 ? n : 64), s);
}

static void track_step(struct progress *p, enum step step, const char *rest)
{
    char pkg[65], what[96];
    size_t done = ++p->counts[step], total = p->counts[STEP_RETRIEVE];
    unsigned pct;

    package_of(rest, pkg, sizeof pkg);
    if (step == STEP_RETRIEVE) {
        pct = share(PCT_RETRIEVE, PCT_EXTRACT - PCT_RETRIEVE, done, p->expected);
        (void) snprintf(what, sizeof what, "retrieving %s (%zu of about %zu)", pkg, done,
                        done > p->expected ? done : p->expected);
    } else {
        if (step == STEP_EXTRACT)
            pct = share(PCT_EXTRACT, 10, done, total);
        else
            pct = share(PCT_INSTALL, PCT_INSTALLED - PCT_INSTALL,
                        p->counts[STEP_UNPACK] + p->counts[STEP_CONFIGURE], 2 * total);
        (void) snprintf(what, sizeof what, "%s %s (%zu of %zu)", step_words[step], pkg,
                        done < total ? done : total, total);
    }
    report(p, pct, what);
}

/* Moves the bar by one line of debootstrap's output. */
static void track(struct progress *p, const char *line)
{
    for (size_t i = 0; i < ELEMENTSOF(milestones); i++)
        if (strncmp(line, milestones[i].line, strlen(milestones[i].line)) == 0) {
            report(p, milestones[i].percent, milestones[i].what);
            return;
        }
    for (size_t s = 0; s < ELEMENTSOF(step_lines); s++)
        if (strncmp(line, step_lines[s], strlen(step_lines[s])) == 0) {
            track_step(p, (enum step) s, line + strlen(step_lines[s]));
            return;
        }
}

/* ---- running debootstrap ------------------------------------------------------------ */

/* debootstrap runs as pid 1 of its own PID namespace, so that killing it kills everything
 * it started (wget, dpkg, maintainer scripts, even daemons that left its process group).
 * The cleanup of its pidfd does that and reaps it. */
static void kill_childp(int *pidfd)
{
    if (*pidfd < 0)
        return;
    (void) pidfd_send_signal(*pidfd, SIGKILL, NULL, 0);
    (void) waitid(P_PIDFD, (id_t) *pidfd, &(siginfo_t){0}, WEXITED);
    *pidfd = vps_close(*pidfd);
}

struct spawn {
    const char *path;
    char *const *argv;
    int out_fd; /* debootstrap's stdout and stderr */
    int sync;   /* our end of the error channel, closed by the exec */
};

/* In the child: sends the failure of what to the parent and ends. */
static _Noreturn void child_fail(int sync, const char *what)
{
    struct vps_error err = {0};

    vps_error_errno(&err, errno, "%s", what);
    (void) send(sync, &err, sizeof err, MSG_NOSIGNAL);
    _exit(127);
}

static _Noreturn void exec_debootstrap(const struct spawn *s)
{
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
                                 "DEBIAN_FRONTEND=noninteractive", NULL};
    sigset_t none;
    int null_fd;

    /* A fork of vpsd blocks and ignores signals that a shell script must see as usual. */
    for (int sig = 1; sig < _NSIG; sig++)
        (void) signal(sig, SIG_DFL);
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    /* Dies with the worker; as pid 1 it takes its namespace along. A worker that died
     * before the prctl() shows as the hang-up of its end of the error channel. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || setsid() < 0)
        child_fail(s->sync, "detach debootstrap");
    if (poll(&(struct pollfd){.fd = s->sync, .events = POLLIN}, 1, 0) != 0)
        _exit(127);
    /* debootstrap mounts /proc, /sys and device binds in the target: they must stay in this
     * namespace and vanish with it, or removing a failed tree would meet mount points. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail(s->sync, "make mounts private");
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(s->out_fd, STDOUT_FILENO) < 0 ||
        dup2(s->out_fd, STDERR_FILENO) < 0)
        child_fail(s->sync, "set up debootstrap's stdio");
    /* Linux 5.11: everything else closes at exec, the error channel included. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 || chdir("/") < 0)
        child_fail(s->sync, "prepare debootstrap");
    (void) umask(022); /* vpsd's own is stricter; the tree's modes must be Debian's */
    execve(s->path, s->argv, envp);
    child_fail(s->sync, "execute debootstrap");
}

/* Starts debootstrap; on success the caller owns the pidfd in *ret_pidfd. */
static int spawn(const char *path, char *const *argv, int out_fd, int *ret_pidfd,
                 struct vps_error *err)
{
    struct vps_error child_err = {0};
    int sv[2], pidfd = -1;
    struct clone_args a = {
        .flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_PIDFD,
        .pidfd = (uint64_t) (uintptr_t) &pidfd,
        .exit_signal = SIGCHLD,
    };
    ssize_t n;

    if (out_fd <= STDERR_FILENO)
        return vps_error_set(err, VPS_ERR_SYSTEM, "output pipe on fd %d", out_fd);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vps_error_errno(err, errno, "socketpair");
    long pid = vps_sys_clone3(&a, sizeof a);
    if (pid == 0) {
        close(sv[0]);
        exec_debootstrap(
            &(struct spawn){.path = path, .argv = argv, .out_fd = out_fd, .sync = sv[1]});
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return vps_error_errno(err, errno, "clone3");
    }
    n = recv(sv[0], &child_err, sizeof child_err, 0); /* EOF once execve() has succeeded */
    close(sv[0]);
    if (n != 0) {
        kill_childp(&pidfd);
        if (n != (ssize_t) sizeof child_err)
            return vps_error_set(err, VPS_ERR_SYSTEM, "debootstrap died before it started");
        child_err.msg[sizeof child_err.msg - 1] = '\0';
        *err = child_err;
        return -1;
    }
    *ret_pidfd = pidfd;
    return 0;
}

/* The argv, every part checked before: no option comes from the request but through the
 * fixed "--name=" forms, and none of the operands can start with '-'. */
static int make_argv(const struct vps_debootstrap *o, const char *target, char *argv[], size_t size,
                     char **ret_buf, struct vps_error *err)
{
    size_t n = 0, len = 64 + strlen(o->variant) + strlen(VPS_DEBIAN_KEYRING);
    cleanup_free char *buf = NULL;
    char *p;

    for (size_t i = 0; i < o->include.n; i++)
        len += strlen(o->include.v[i]) + 1;
    if (!(p = buf = malloc(len)))
        return vps_error_errno(err, ENOMEM, "debootstrap arguments");
    argv[n++] = "debootstrap";
    if (strcmp(o->variant, "-") != 0) { /* "-" is debootstrap's default set, no option */
        argv[n++] = p;
        p += sprintf(p, "--variant=%s", o->variant) + 1;
    }
    argv[n++] = p;
    p += sprintf(p, "--keyring=%s", VPS_DEBIAN_KEYRING) + 1;
    argv[n++] = "--force-check-gpg";
    if (o->include.n > 0) {
        argv[n++] = p;
        p += sprintf(p, "--include=");
        for (size_t i = 0; i < o->include.n; i++)
            p += sprintf(p, "%s%s", i ? "," : "", o->include.v[i]);
    }
    argv[n++] = o->suite;
    argv[n++] = (char *) target;
    argv[n++] = o->mirror;
    argv[n] = NULL;
    assert(n < size);
    *ret_buf = TAKE_PTR(buf);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Splits output into lines; one longer than the buffer is cut, its rest dropped. */
struct lines {
    char buf[1024];
    size_t len;
    bool overlong;
};

static void take_line(struct lines *l, struct tail *t, struct progress *p)
{
    l->buf[l->len] = '\0';
    tail_push(t, "", l->buf);
    track(p, l->buf);
    l->len = 0;
}

static void feed(struct lines *l, const char *data, size_t size, struct tail *t, struct progress *p)
{
    for (size_t i = 0; i < size; i++) {
        char c = data[i];
        if (c == '\n' || c == '\r') {
            if (l->len > 0 && !l->overlong)
                take_line(l, t, p);
            l->len = 0;
            l->overlong = false;
        } else if (l->len + 1 < sizeof l->buf) {
            l->buf[l->len++] = c;
        } else if (!l->overlong) {
            take_line(l, t, p);
            l->overlong = true;
        }
    }
}

/* Reads fd to EOF, or until deadline_ms, which *ret_timed_out tells. */
static int follow(int fd, uint64_t deadline_ms, struct tail *t, struct progress *p,
                  bool *ret_timed_out, struct vps_error *err)
{
    struct lines l = {0};
    char chunk[READ_CHUNK_BYTES];

    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline_ms) {
            *ret_timed_out = true;
            return 0;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t wait = deadline_ms - now;
        int r = poll(&pfd, 1, wait > INT_MAX ? INT_MAX : (int) wait);
        if (r < 0 && errno != EINTR)
            return vps_error_errno(err, errno, "poll debootstrap's output");
        if (r <= 0)
            continue;
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return vps_error_errno(err, errno, "read debootstrap's output");
        if (n == 0) {
            feed(&l, "\n", 1, t, p);
            *ret_timed_out = false;
            return 0;
        }
        if (n > 0)
            feed(&l, chunk, (size_t) n, t, p);
    }
}

/* Reaps debootstrap (killed first if it ran out of time): 0 if it succeeded, else an error
 * carrying its last output. */
static int run_result(int *pidfd, bool timed_out, uint64_t timeout_ms, struct tail *t, int rootfs,
                      struct vps_error *err)
{
    siginfo_t si = {0};
    char text[TAIL_MSG_MAX], dur[VPS_UNITS_FORMAT_MAX];

    if (timed_out)
        (void) pidfd_send_signal(*pidfd, SIGKILL, NULL, 0);
    if (waitid(P_PIDFD, (id_t) *pidfd, &si, WEXITED) < 0)
        return vps_error_errno(err, errno, "wait for debootstrap");
    *pidfd = vps_close(*pidfd);
    if (!timed_out && si.si_code == CLD_EXITED && si.si_status == 0)
        return 0;
    tail_push_log(t, rootfs);
    if (timed_out)
        return vps_error_set(err, VPS_ERR_TIMEOUT, "debootstrap did not finish within %s: %s",
                             vps_format_duration(timeout_ms, dur, sizeof dur),
                             tail_text(t, text, sizeof text));
    if (si.si_code == CLD_EXITED)
        return vps_error_set(err, VPS_ERR_SYSTEM, "debootstrap exited with status %d: %s",
                             si.si_status, tail_text(t, text, sizeof text));
    return vps_error_set(err, VPS_ERR_SYSTEM, "debootstrap was killed by signal %d: %s",
                         si.si_status, tail_text(t, text, sizeof text));
}

struct run {
    const struct vps_debootstrap *o;
    const char *debootstrap_path;
    struct progress progress;
};

static int run_debootstrap(struct run *run, int rootfs, const char *target, struct vps_error *err)
{
    cleanup_(kill_childp) int pidfd = -1;
    cleanup_free char *args = NULL;
    cleanup_close int out_r = -1, out_w = -1;
    char *argv[16];
    int p[2];
    bool timed_out = false;
    struct tail t = {0};

    if (make_argv(run->o, target, argv, ELEMENTSOF(argv), &args, err) < 0)
        return -1;
    if (pipe2(p, O_CLOEXEC) < 0)
        return vps_error_errno(err, errno, "pipe");
    out_r = p[0], out_w = p[1];
    uint64_t deadline = now_ms() + run->o->timeout_ms;
    if (spawn(run->debootstrap_path, argv, out_w, &pidfd, err) < 0)
        return -1;
    out_w = vps_close(out_w); /* EOF comes when the last process of debootstrap's is gone */
    if (follow(out_r, deadline, &t, &run->progress, &timed_out, err) < 0)
        return -1;
    return run_result(&pidfd, timed_out, run->o->timeout_ms, &t, rootfs, err);
}

/* ---- making the tree fit for VPSes -------------------------------------------------- */

/* debootstrap copies the host's /etc/hostname and /etc/resolv.conf into the tree; a VPS's
 * own are written by vpsd each time it starts, so the template keeps placeholders. */
static int replace_file(int etc, const char *name, const char *content, struct vps_error *err)
{
    if (unlinkat(etc, name, 0) < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "remove 'etc/%s'", name);
    cleanup_close int fd =
        openat(etc, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return vps_error_errno(err, errno, "create 'etc/%s'", name);
    if (vps_write_all(fd, content, strlen(content), err) < 0)
        return vps_error_prefix(err, "'etc/%s'", name);
    return 0;
}

/* An empty machine-id makes systemd, where a VPS has it, generate one of the VPS's own. */
static int clear_machine_id(int etc, struct vps_error *err)
{
    cleanup_close int fd =
        openat(etc, "machine-id", O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 && errno != ENOENT && errno != ELOOP)
        return vps_error_errno(err, errno, "clear 'etc/machine-id'");
    return 0;
}

static bool any_entry(const char *name)
{
    (void) name;
    return true;
}

/* Every VPS of the template would share one host key: each makes its own (ssh-keygen -A). */
static bool ssh_host_key(const char *name)
{
    return strncmp(name, "ssh_host_", 9) == 0;
}

static bool cached_deb(const char *name)
{
    size_t len = strlen(name);
    return len > 4 && strcmp(name + len - 4, ".deb") == 0;
}

/* Removes the entries of dir (inside rootfs) whose names match; a missing dir is fine. */
static int remove_entries(int rootfs, const char *dir, bool (*match)(const char *name),
                          struct vps_error *err)
{
    cleanup_(closedirp) DIR *d = NULL;
    int fd = vps_path_open_in_root(rootfs, dir, O_RDONLY | O_DIRECTORY, err);

    if (fd < 0 && err->errnum == ENOENT) {
        *err = (struct vps_error){0};
        return 0;
    }
    if (fd < 0)
        return vps_error_prefix(err, "open '%s'", dir);
    if (!(d = fdopendir(fd))) {
        close(fd);
        return vps_error_errno(err, errno, "open '%s'", dir);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno ? vps_error_errno(err, errno, "read '%s'", dir) : 0;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || !match(de->d_name))
            continue;
        if (vps_storage_destroy(&dir_storage, dirfd(d), de->d_name, err) < 0)
            return vps_error_prefix(err, "'%s'", dir);
    }
}

static int fit_for_vps(int rootfs, struct vps_error *err)
{
    cleanup_close int etc = vps_path_open_in_root(rootfs, "etc", O_PATH | O_DIRECTORY, err);

    if (etc < 0)
        return vps_error_prefix(err, "open 'etc'");
    if (replace_file(etc, "hostname", "localhost\n", err) < 0 ||
        replace_file(etc, "resolv.conf", "", err) < 0 || clear_machine_id(etc, err) < 0)
        return -1;
    /* A VPS gets a /dev of its own when it starts, as for imports. */
    if (remove_entries(rootfs, "dev", any_entry, err) < 0 ||
        remove_entries(rootfs, "etc/ssh", ssh_host_key, err) < 0 ||
        remove_entries(rootfs, "var/cache/apt/archives", cached_deb, err) < 0)
        return -1;
    return 0;
}

/* ---- the build ---------------------------------------------------------------------- */

/* debootstrap takes a path. The fd's own, checked to be the same directory, in characters
 * that a shell script takes as they are. */
static int rootfs_path(int rootfs, char *buf, size_t size, struct vps_error *err)
{
    char link[64];
    struct stat a, b;
    ssize_t n;

    (void) snprintf(link, sizeof link, "/proc/self/fd/%d", rootfs);
    n = readlink(link, buf, size - 1);
    if (n < 0)
        return vps_error_errno(err, errno, "read '%s'", link);
    if ((size_t) n >= size - 1)
        return vps_error_set(err, VPS_ERR_SYSTEM, "the path of the new tree is too long");
    buf[n] = '\0';
    if (buf[0] != '/' || buf[strcspn(buf, " \t\n\"'\\$`;&|<>(){}*?[]!#~")] != '\0')
        return vps_error_set(err, VPS_ERR_SYSTEM,
                             "debootstrap cannot build in '%.200s': the state dir's path must "
                             "be plain",
                             buf);
    if (fstat(rootfs, &a) < 0 || stat(buf, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return vps_error_set(err, VPS_ERR_SYSTEM, "the new tree moved while it was built");
    return 0;
}

static int fill_debootstrap(int rootfs, void *userdata, struct vps_error *err)
{
    struct run *run = userdata;
    char target[PATH_MAX];

    if (rootfs_path(rootfs, target, sizeof target, err) < 0 ||
        run_debootstrap(run, rootfs, target, err) < 0)
        return -1;
    report(&run->progress, 98, "preparing the tree for VPSes");
    if (fit_for_vps(rootfs, err) < 0)
        return vps_error_prefix(err, "prepare the tree");
    report(&run->progress, 99, "writing the template to disk");
    return 0;
}

/* Packages debootstrap installs for each variant (bookworm), before any --include: only the
 * bar's estimate until the downloads are counted. */
static size_t expected_packages(const struct vps_debootstrap *o)
{
    size_t base = strcmp(o->variant, "minbase") == 0  ? 90
                  : strcmp(o->variant, "buildd") == 0 ? 130
                                                      : 140;
    return base + 2 * o->include.n;
}

int vps_template_debootstrap(int templates_fd, const char *name, const struct vps_debootstrap *o,
                             const char *debootstrap_path, vps_progress_fn progress, void *userdata,
                             struct vps_error *err)
{
    struct run run = {
        .o = o,
        .debootstrap_path = debootstrap_path,
        .progress = {.fn = progress, .userdata = userdata, .expected = expected_packages(o)},
    };
    const struct vps_template_origin origin = {
        .suite = o->suite, .mirror = o->mirror, .variant = o->variant, .include = &o->include};

    if (vps_template_exists(templates_fd, name))
        return vps_error_set(err, VPS_ERR_EXISTS, "template '%s' already exists", name);
    report(&run.progress, 0, "starting debootstrap");
    if (vps_debootstrap_available(debootstrap_path, err) < 0 ||
        vps_template_build_origin(templates_fd, name, "debootstrap", &origin, fill_debootstrap,
                                  &run, err) < 0)
        return vps_error_prefix(err, "template '%s'", name);
    report(&run.progress, 100, "done");
    return 0;
}
