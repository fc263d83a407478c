/* The run commands: start, stop, restart and kill a VPS, show its status, and run commands in
 * it (exec, enter). Each maps argv to one request; exec and enter ask for a connection
 * switched to "vps-exec", whose session (fds, pty relay, exit status) is session.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "output.h"
#include "session.h"
#include "vps/units.h"
#include "vpsctl.h"

enum {
    OPT_TIMEOUT = OPT_COMMAND_FIRST,
    OPT_USER,
    OPT_CWD,
    OPT_ENV,
};

/* stop and restart: vpsd answers once the VPS has stopped, at most 10 s after the stop
 * timeout (the kill taking effect), so the HTTP time limit is the stop timeout plus this. */
#define STOP_ANSWER_SLACK_MS (30 * 1000)
/* vpsd's stop timeout when none is sent. */
#define STOP_DEFAULT_TIMEOUT_MS (30 * 1000)

#define STOP_TIMEOUT_USAGE                                                                         \
    "  --timeout TIME   time to shut down before the kill (default: 30s; 0: at once)\n"
#define EXEC_OPTIONS_USAGE                                                                         \
    "  --user UID[:GID]     run as this user and group (default: 0; GID defaults to UID)\n"        \
    "  --cwd DIR            working directory inside the VPS (default: /)\n"                       \
    "  --env NAME=VALUE     set a variable (repeatable)\n"
#define SESSION_COMMON_USAGE                                                                       \
    "  --socket PATH        vpsd's socket (default: $VPS_SOCKET or " VPS_SOCKET_PATH ")\n"         \
    "  -h, --help           show this help\n"

static const char start_usage[] =
    "Usage: vpsctl start NAME [OPTIONS]\n\nStart a VPS.\n\nOptions:\n" COMMON_USAGE;
static const char stop_usage[] =
    "Usage: vpsctl stop NAME [OPTIONS]\n\n"
    "Stop a VPS: ask its init to shut down, and kill what is left after the timeout. Returns\n"
    "once the VPS has stopped.\n\nOptions:\n" STOP_TIMEOUT_USAGE COMMON_USAGE;
static const char restart_usage[] =
    "Usage: vpsctl restart NAME [OPTIONS]\n\nStop a VPS as 'stop' does, then start it.\n\n"
    "Options:\n" STOP_TIMEOUT_USAGE COMMON_USAGE;
static const char kill_usage[] =
    "Usage: vpsctl kill NAME [OPTIONS]\n\nKill every process of a VPS at once (SIGKILL).\n\n"
    "Options:\n" COMMON_USAGE;
static const char status_usage[] =
    "Usage: vpsctl status NAME [OPTIONS]\n\n"
    "Show whether a VPS runs and, if it does, what it uses.\n\nOptions:\n" COMMON_USAGE;
static const char exec_usage[] =
    "Usage: vpsctl exec NAME [OPTIONS] -- COMMAND [ARGS...]\n\n"
    "Run a command in a running VPS as if it ran here: standard input, output and error are\n"
    "its own, and vpsctl exits with its status (128+N if signal N ended it).\n\nOptions:\n"
    "  -t, --tty            run it on a terminal (default: if stdin and stdout are ones)\n"
    "  -T, --no-tty         run it without a terminal\n" EXEC_OPTIONS_USAGE SESSION_COMMON_USAGE;
static const char enter_usage[] =
    "Usage: vpsctl enter NAME [OPTIONS]\n\n"
    "Open a login shell (/bin/sh -l) on a terminal in a running VPS. vpsctl exits with the\n"
    "shell's status.\n\nOptions:\n" EXEC_OPTIONS_USAGE SESSION_COMMON_USAGE;

/* ---- start, stop, restart, kill ---- */

static int timeout_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                          struct vps_error *err)
{
    (void) ctx, (void) c;
    return vps_parse_duration(arg, "--timeout", userdata, err); /* OPT_TIMEOUT */
}

/* POST /v1/vps/NAME<suffix> ("/start"), with {"timeout_ms"} for stop and restart when
 * given. */
static int lifecycle(struct vpsctl *ctx, int argc, char **argv, const char *suffix,
                     const char *usage, bool has_timeout, struct vps_error *err)
{
    static const struct option plain_options[] = {COMMON_OPTIONS, {}};
    static const struct option timeout_options[] = {
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *body = NULL, *answer = NULL;
    cleanup_free char *path = NULL;
    uint64_t timeout_ms = UINT64_MAX; /* not given */
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", has_timeout ? timeout_options : plain_options,
                             has_timeout ? timeout_option : NULL, &timeout_ms, usage, &first, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0 ||
        vpsctl_path("/v1/vps/", argv[first], suffix, &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0)
        return -1;
    if (timeout_ms != UINT64_MAX &&
        !(body = json_pack("{s:I}", "timeout_ms", (json_int_t) timeout_ms)))
        return vps_error_errno(err, ENOMEM, "build the request");
    /* The answer comes when the VPS has stopped: the time limit must outlast the stop.
     * (vps_parse_duration() caps TIME at INT64_MAX ms, so the sum cannot wrap; vpsd refuses
     * more than an hour anyway.) */
    if (has_timeout) {
        uint64_t stop_ms = timeout_ms != UINT64_MAX ? timeout_ms : STOP_DEFAULT_TIMEOUT_MS;
        uint64_t limit_ms = stop_ms + 10000 + STOP_ANSWER_SLACK_MS;
        vps_client_set_timeout_ms(c, limit_ms > VPS_CLIENT_TIMEOUT_MS ? limit_ms
                                                                      : VPS_CLIENT_TIMEOUT_MS);
    }
    if (vps_client_request(c, "POST", path, body, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

int cmd_start(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return lifecycle(ctx, argc, argv, "/start", start_usage, false, err);
}

int cmd_stop(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return lifecycle(ctx, argc, argv, "/stop", stop_usage, true, err);
}

int cmd_restart(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return lifecycle(ctx, argc, argv, "/restart", restart_usage, true, err);
}

int cmd_kill(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return lifecycle(ctx, argc, argv, "/kill", kill_usage, false, err);
}

/* ---- status ---- */

/* "1.234s" below a minute, "3h 4m 5s" above: CPU time reads like an uptime once it is long. */
static const char *cpu_text(uint64_t ns, char *buf, size_t size)
{
    uint64_t ms = ns / 1000000;

    if (ms < 60000) {
        (void) snprintf(buf, size, "%" PRIu64 ".%03" PRIu64 "s", ms / 1000, ms % 1000);
        return buf;
    }
    return output_uptime(ms, buf, size);
}

static const char *size_text(const json_t *stats, const char *key, char *buf, size_t size)
{
    json_int_t n = output_int(stats, key, -1);
    return n >= 0 ? vps_format_size((uint64_t) n, buf, size) : "?";
}

static void show_status(const json_t *vps)
{
    const json_t *status = json_object_get(vps, "status"), *stats = json_object_get(vps, "stats");
    char buf[VPS_UNITS_FORMAT_MAX + 32];

    output_field("name", "%s", output_str(json_object_get(vps, "config"), "name") ?: "?");
    output_field("state", "%s", output_str(status, "state") ?: "?");
    if (!json_object_get(status, "pid"))
        return;
    output_field("pid", "%" JSON_INTEGER_FORMAT, output_int(status, "pid", 0));
    output_field("started", "%s", output_str(status, "started_at") ?: "?");
    if (!stats)
        return;
    output_field("uptime", "%s",
                 output_uptime((uint64_t) output_int(stats, "uptime_ms", 0), buf, sizeof buf));
    output_field("cpu time", "%s",
                 cpu_text((uint64_t) output_int(stats, "cpu_usage_ns", 0), buf, sizeof buf));
    output_field("memory", "%s", size_text(stats, "memory_current_bytes", buf, sizeof buf));
    output_field("memory peak", "%s", size_text(stats, "memory_peak_bytes", buf, sizeof buf));
    output_field("pids", "%" JSON_INTEGER_FORMAT, output_int(stats, "pids_current", 0));
    output_field("oom kills", "%" JSON_INTEGER_FORMAT, output_int(stats, "oom_kills", 0));
}

int cmd_status(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *vps = NULL, *stats = NULL;
    cleanup_free char *path = NULL, *stats_path = NULL;
    struct vps_error stats_err = {0};
    const char *state;
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, NULL, NULL, status_usage, &first, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0 ||
        vpsctl_path("/v1/vps/", argv[first], "", &path, err) < 0 ||
        vpsctl_path("/v1/vps/", argv[first], "/stats", &stats_path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "GET", path, NULL, NULL, &vps, err) < 0)
        return -1;
    /* Two requests: the VPS object says whether it runs, and usage exists only while it does
     * (GET .../stats). A VPS that stopped in between (409) is shown as the first answer has
     * it, without usage. */
    state = output_str(json_object_get(vps, "status"), "state");
    if (state && strcmp(state, "stopped") != 0) {
        if (vps_client_request(c, "GET", stats_path, NULL, NULL, &stats, &stats_err) < 0 &&
            stats_err.code != VPS_ERR_CONFLICT) {
            *err = stats_err;
            return -1;
        }
        if (stats && json_object_set(vps, "stats", stats) < 0)
            return vps_error_errno(err, ENOMEM, "build the status");
    }
    if (ctx->json)
        output_json(vps);
    else
        show_status(vps);
    return 0;
}

/* ---- exec and enter ---- */

struct exec_args {
    bool tty, tty_given;
    bool user_given;
    uint32_t uid, gid;
    const char *cwd;
    const char **env; /* NAME=VALUE, in the order given */
    size_t n_env;
};

static void exec_args_done(struct exec_args *a)
{
    free(a->env);
}

static int parse_user(const char *arg, struct exec_args *a, struct vps_error *err)
{
    char uid[32];
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t) (colon - arg) : strlen(arg);
    uint64_t u, g;

    if (len >= sizeof uid)
        return vps_error_set(err, VPS_ERR_INVALID, "--user: expected UID[:GID], got '%s'", arg);
    memcpy(uid, arg, len);
    uid[len] = '\0';
    /* Numbers only: names are the VPS's, and only its own /etc/passwd could resolve them. */
    if (vps_parse_uint(uid, "--user", 0, UINT32_MAX, &u, err) < 0 ||
        vps_parse_uint(colon ? colon + 1 : uid, "--user", 0, UINT32_MAX, &g, err) < 0)
        return -1;
    a->user_given = true;
    a->uid = (uint32_t) u;
    a->gid = (uint32_t) g;
    return 0;
}

static int exec_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                       struct vps_error *err)
{
    struct exec_args *a = userdata;

    (void) ctx;
    switch (c) {
    case 't':
    case 'T':
        a->tty = c == 't';
        a->tty_given = true;
        return 0;
    case OPT_USER:
        return parse_user(arg, a, err);
    case OPT_CWD:
        a->cwd = arg;
        return 0;
    default: { /* OPT_ENV */
        const char **n = NULL;
        if (arg[0] == '=' || !strchr(arg, '='))
            return vps_error_set(err, VPS_ERR_INVALID, "--env: expected NAME=VALUE, got '%s'", arg);
        if (!(n = realloc(a->env, (a->n_env + 1) * sizeof *n)))
            return vps_error_errno(err, ENOMEM, "--env");
        a->env = n;
        a->env[a->n_env++] = arg;
        return 0;
    }
    }
}

/* --env values in order: vpsd puts them over its default environment, a later one wins. */
static json_t *env_json(const struct exec_args *a)
{
    json_t *env = json_array();

    for (size_t i = 0; env && i < a->n_env; i++)
        if (json_array_append_new(env, json_string(a->env[i])) < 0) {
            json_decref(env);
            return NULL;
        }
    return env;
}

/* The size of this terminal (stdin's, else stdout's), for a pty made to match it. */
static bool window_size(struct winsize *ws)
{
    for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++)
        if (isatty(fd) && ioctl(fd, TIOCGWINSZ, ws) == 0 && ws->ws_row && ws->ws_col)
            return true;
    return false;
}

static int exec_body(const struct exec_args *a, char *const *cmd, size_t n_cmd, json_t **ret,
                     struct vps_error *err)
{
    cleanup_json json_t *body = json_pack("{s:[], s:b}", "command", "tty", a->tty);
    json_t *command = json_object_get(body, "command");
    struct winsize ws;
    int r = body ? 0 : -1;

    /* json_string() refuses text that is not UTF-8: the API is JSON. */
    for (size_t i = 0; r == 0 && i < n_cmd; i++)
        if (json_array_append_new(command, json_string(cmd[i])) < 0)
            return vps_error_set(err, VPS_ERR_INVALID, "command: argument %zu is not UTF-8", i + 1);
    if (r == 0 && a->user_given)
        r = json_object_set_new(body, "uid", json_integer(a->uid)) |
            json_object_set_new(body, "gid", json_integer(a->gid));
    if (r == 0 && a->cwd && json_object_set_new(body, "cwd", json_string(a->cwd)) < 0)
        return vps_error_set(err, VPS_ERR_INVALID, "--cwd: not UTF-8");
    if (r == 0 && a->n_env && json_object_set_new(body, "env", env_json(a)) < 0)
        return vps_error_set(err, VPS_ERR_INVALID, "--env: not UTF-8");
    if (r == 0 && a->tty && window_size(&ws))
        r = json_object_set_new(body, "rows", json_integer(ws.ws_row)) |
            json_object_set_new(body, "cols", json_integer(ws.ws_col));
    if (r < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    *ret = TAKE_PTR(body);
    return 0;
}

/* One session: the upgrade, then the command runs until it ends. Its status becomes
 * vpsctl's. */
static int exec_session(struct vpsctl *ctx, const char *name, const struct exec_args *a,
                        char *const *cmd, size_t n_cmd, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *body = NULL;
    cleanup_free char *path = NULL;
    cleanup_close int sock = -1;
    int status = 0;

    if (exec_body(a, cmd, n_cmd, &body, err) < 0 ||
        vpsctl_path("/v1/vps/", name, "/exec", &path, err) < 0 || vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_upgrade(c, path, SESSION_PROTOCOL, body, &sock, err) < 0)
        return -1;
    if ((a->tty ? session_run_tty(sock, &status, err) : session_run_plain(sock, &status, err)) < 0)
        return -1;
    ctx->exit_status = status;
    return 0;
}

#define EXEC_LONG_OPTIONS                                                                          \
    {"user", required_argument, NULL, OPT_USER}, {"cwd", required_argument, NULL, OPT_CWD},        \
        {"env", required_argument, NULL, OPT_ENV}, COMMON_OPTIONS,                                 \
    {                                                                                              \
    }

int cmd_exec(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        {"tty", no_argument, NULL, 't'}, {"no-tty", no_argument, NULL, 'T'}, EXEC_LONG_OPTIONS};
    cleanup_(exec_args_done) struct exec_args a = {0};
    int r, first;

    /* Options may come before and after NAME; "--" ends them, so the command's own options
     * are never taken for vpsctl's. */
    r = vpsctl_parse_options(ctx, argc, argv, "tT", options, exec_option, &a, exec_usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 2, argc, "NAME -- COMMAND [ARGS...]", err) < 0)
        return -1;
    if (!a.tty_given)
        a.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    return exec_session(ctx, argv[first], &a, argv + first + 1, (size_t) (argc - first - 1), err);
}

int cmd_enter(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {EXEC_LONG_OPTIONS};
    static char *const shell[] = {"/bin/sh", "-l"};
    cleanup_(exec_args_done) struct exec_args a = {.tty = true};
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, exec_option, &a, enter_usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0)
        return -1;
    return exec_session(ctx, argv[first], &a, shell, ELEMENTSOF(shell), err);
}
