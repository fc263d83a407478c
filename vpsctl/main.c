/* vpsctl's entry point: global options, dispatch to one command, and the one place that
 * prints an error and picks the exit status. The option parsing the commands share lives
 * here too; what each command does is in cmd-*.c, how answers look in output.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "vpsctl.h"

static const struct command {
    const char *name;
    int (*run)(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
    const char *summary;
} commands[] = {
    {"create", cmd_create, "create a VPS"},
    {"list", cmd_list, "list VPSes"},
    {"show", cmd_show, "show a VPS's configuration and state"},
    {"set", cmd_set, "change a VPS's configuration"},
    {"destroy", cmd_destroy, "delete a VPS and its files"},
    {"start", cmd_start, "start a VPS"},
    {"stop", cmd_stop, "stop a VPS"},
    {"restart", cmd_restart, "stop a VPS, then start it"},
    {"kill", cmd_kill, "kill every process of a VPS at once"},
    {"status", cmd_status, "show whether a VPS runs and what it uses"},
    {"exec", cmd_exec, "run a command in a VPS"},
    {"enter", cmd_enter, "open a shell in a VPS"},
    {"service", cmd_service, "list, show, add, change, remove, start or stop services"},
    {"template", cmd_template, "list, show, import, export or remove templates"},
    {"host", cmd_host, "show the host and vpsd"},
    {"events", cmd_events, "follow vpsd's events"},
};

static void usage(FILE *f)
{
    fputs("Usage: vpsctl [OPTIONS] COMMAND [ARGS...]\n\nCommands:\n", f);
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nOptions (also accepted after the command):\n" COMMON_USAGE
          "  --no-wait        do not wait for long operations; print their id\n"
          "  --version        show the version\n"
          "\nRun 'vpsctl COMMAND --help' for a command's own options.\n",
          f);
}

int vpsctl_usage_error(struct vpsctl *ctx, struct vps_error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err->code = VPS_ERR_INVALID;
    err->errnum = 0;
    (void) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    ctx->usage_error = true;
    return -1;
}

static int bad_option(struct vpsctl *ctx, int c, char **argv, struct vps_error *err)
{
    /* optopt names a short option; for a long one only the argv element does. */
    const char *what = argv[optind - 1];
    char shortopt[3] = {'-', (char) optopt, '\0'};

    if (optopt > 0 && optopt < 0x80)
        what = shortopt;
    if (c == ':')
        return vpsctl_usage_error(ctx, err, "option '%s' needs an argument", what);
    return vpsctl_usage_error(ctx, err, "unknown option '%s'", what);
}

/* The options every command and main() accept. Returns 1 if c was one. */
static int common_option(struct vpsctl *ctx, int c, const char *arg)
{
    switch (c) {
    case OPT_JSON:
        ctx->json = true;
        return 1;
    case OPT_SOCKET:
        ctx->socket_path = arg;
        return 1;
    case OPT_NO_WAIT:
        ctx->no_wait = true;
        return 1;
    default:
        return 0;
    }
}

int vpsctl_parse_options(struct vpsctl *ctx, int argc, char **argv, const char *shortopts,
                         const struct option *longopts, vpsctl_option_fn fn, void *userdata,
                         const char *usage_text, int *ret_optind, struct vps_error *err)
{
    char opts[64];
    int c;

    /* ':' first: a missing argument is reported as ':' and the message is ours. */
    (void) snprintf(opts, sizeof opts, ":h%s", shortopts);
    optind = 0; /* glibc: 0 re-initialises getopt completely for this new argv */
    opterr = 0;
    while ((c = getopt_long(argc, argv, opts, longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return 1;
        }
        if (c == ':' || c == '?')
            return bad_option(ctx, c, argv, err);
        if (common_option(ctx, c, optarg))
            continue;
        if (!fn || fn(ctx, c, optarg, userdata, err) < 0)
            return fn ? -1 : bad_option(ctx, '?', argv, err);
    }
    *ret_optind = optind;
    return 0;
}

int vpsctl_expect_operands(struct vpsctl *ctx, int n, int min, int max, const char *synopsis,
                           struct vps_error *err)
{
    if (n < min)
        return vpsctl_usage_error(ctx, err, "%s: missing operand, expected %s", ctx->command,
                                  synopsis);
    if (n > max)
        return vpsctl_usage_error(ctx, err, "%s: too many operands, expected %s", ctx->command,
                                  max == 0 ? "none" : synopsis);
    return 0;
}

static int names_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                        struct vps_error *err)
{
    (void) ctx, (void) c, (void) arg, (void) err;
    *(bool *) userdata = true; /* --names, the only option of its own */
    return 0;
}

int vpsctl_list(struct vpsctl *ctx, int argc, char **argv, const struct vpsctl_list *l,
                struct vps_error *err)
{
    static const struct option options[] = {
        {"names", no_argument, NULL, OPT_COMMAND_FIRST}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_(table_freep) struct table *t = NULL;
    cleanup_json json_t *answer = NULL;
    bool names = false;
    int r, first = 0;
    size_t i;
    json_t *v;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, names_option, &names, l->usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 0, 0, "", err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "GET", l->path, NULL, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json) {
        output_json(answer);
        return 0;
    }
    if (!names && table_new(l->headers, l->n_headers, &t, err) < 0)
        return -1;
    json_array_foreach(json_object_get(answer, l->key), i, v)
    {
        if (names)
            printf("%s\n", l->name(v));
        else if (l->row(t, v, err) < 0)
            return -1;
    }
    if (!names)
        table_print(t, stdout);
    return 0;
}

int vpsctl_client(const struct vpsctl *ctx, struct vps_client **ret, struct vps_error *err)
{
    return vps_client_new(ctx->socket_path, ret, err);
}

int vpsctl_path(const char *prefix, const char *name, const char *suffix, char **ret,
                struct vps_error *err)
{
    cleanup_free char *escaped = vps_client_escape(name);

    if (!escaped || asprintf(ret, "%s%s%s", prefix, escaped, suffix) < 0)
        return vps_error_errno(err, ENOMEM, "build the request path");
    return 0;
}

static const char *default_socket(void)
{
    const char *s = getenv("VPS_SOCKET");
    return s && *s ? s : VPS_SOCKET_PATH;
}

/* Global options before the command, then the command. */
static int run(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        COMMON_OPTIONS,
        {"version", no_argument, NULL, 'V'},
        {},
    };
    int c;

    opterr = 0;
    /* '+': stop at the command, whose options are its own. */
    while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V') {
            puts("vpsctl " VPS_VERSION);
            return 0;
        }
        if (c == ':' || c == '?')
            return bad_option(ctx, c, argv, err);
        (void) common_option(ctx, c, optarg);
    }
    if (optind >= argc)
        return vpsctl_usage_error(ctx, err, "no command given");
    if (strcmp(argv[optind], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(argv[optind], commands[i].name) == 0) {
            ctx->command = commands[i].name;
            return commands[i].run(ctx, argc - optind, argv + optind, err);
        }
    return vpsctl_usage_error(ctx, err, "unknown command '%s'", argv[optind]);
}

static void print_error(const struct vpsctl *ctx, const struct vps_error *err)
{
    char buf[sizeof err->msg + 128];

    /* The message may quote what vpsd or a VPS owner wrote: no terminal escapes. */
    (void) vps_error_format(err, buf, sizeof buf);
    output_sanitize(buf);
    fprintf(stderr, "vpsctl: %s\n", buf);
    if (ctx->usage_error)
        fprintf(stderr, "Try 'vpsctl %s%s--help' for more information.\n",
                ctx->command ? ctx->command : "", ctx->command ? " " : "");
}

/* exec hands fds 0, 1 and 2 to the command as they are. A closed one would be taken by the
 * next fd opened, the socket to vpsd for instance, and sent in its place: /dev/null stands in
 * for it first. open() returns the lowest free fd, so each one lands where it is missing. */
static void ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR | O_CLOEXEC) != fd)
            return; /* nothing better to do: later failures will say what is wrong */
}

int main(int argc, char **argv)
{
    struct vpsctl ctx = {.socket_path = default_socket()};
    struct vps_error err = {0};
    int r;

    ensure_stdio();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("vpsctl: cannot initialise libcurl\n", stderr);
        return vps_error_exit_status(VPS_ERR_SYSTEM);
    }
    r = run(&ctx, argc, argv, &err);
    curl_global_cleanup();
    /* A full disk or a closed pipe on stdout is a failure, not a silent truncation. */
    if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
        r = vps_error_errno(&err, errno, "write to standard output");
    if (r < 0) {
        print_error(&ctx, &err);
        return vps_error_exit_status(err.code);
    }
    return ctx.exit_status;
}
