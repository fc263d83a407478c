/* The service commands: list, show, add, set, remove, start and stop the on-demand services
 * of a VPS through /v1/vps/{name}/services. Flags become a service object (POST) or an
 * RFC 7396 merge patch of one (PATCH); whether the values are valid is vpsd's to judge, so
 * only the syntax of --match, --command and durations is checked here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "vps/units.h"
#include "vpsctl.h"

enum {
    OPT_COMMAND = OPT_COMMAND_FIRST,
    OPT_USER,
    OPT_CWD,
    OPT_ENV,
    OPT_LISTEN,
    OPT_MATCH,
    OPT_MODE,
    OPT_PROXY_TO,
    OPT_IDLE_TIMEOUT,
    OPT_RESTART,
    OPT_NAMES,
    OPT_BYTES,
};

static const char service_usage[] =
    "Usage: vpsctl service COMMAND VPS [ARGS...]\n\n"
    "Commands:\n"
    "  list VPS                 list the services of a VPS\n"
    "  show VPS NAME            show a service, its state and its counters\n"
    "  add VPS NAME [OPTIONS]   define a service\n"
    "  set VPS NAME [OPTIONS]   change a service\n"
    "  remove VPS NAME          stop a service if it runs and remove it\n"
    "  start VPS NAME           start a listen- or proxy-mode service now\n"
    "  stop VPS NAME            stop what runs of a service (it stays activatable)\n"
    "  logs VPS NAME            print the end of what the service wrote (stderr)\n"
    "\nRun 'vpsctl service COMMAND --help' for a command's options.\n";

#define SERVICE_OPTIONS_USAGE                                                                      \
    "  --command 'CMD ARGS'     the command, split at blanks (no quoting: for arguments\n"         \
    "                           with blanks, give the command after --)\n"                         \
    "  --user USER              user inside the VPS, a name or uid (default: root)\n"              \
    "  --cwd DIR                working directory inside the VPS (default: /)\n"                   \
    "  --env NAME=VALUE         set a variable (repeatable)\n"                                     \
    "  --listen ADDR            activate on IP:PORT, udp:IP:PORT or unix:/PATH (repeatable)\n"     \
    "  --match RULE             activate on a shared front address by content (repeatable):\n"     \
    "                           front=IP:PORT,http_host=HOST | front=IP:PORT,tls_sni=HOST |\n"     \
    "                           front=IP:PORT,protocol=ssh|tls|http | front=IP:PORT,default\n"     \
    "  --mode MODE              accept (a process per connection), listen (the socket\n"           \
    "                           handed over) or proxy (default: accept)\n"                         \
    "  --proxy-to IP:PORT       proxy mode: where the service listens inside the VPS\n"            \
    "  --idle-timeout TIME      stop it after TIME without connections, like 30s (0: never)\n"     \
    "  --restart POLICY         no, on-failure or always (default: no)\n"

static const char list_usage[] = "Usage: vpsctl service list VPS [OPTIONS]\n\n"
                                 "List the services of VPS.\n\nOptions:\n"
                                 "  --names          print only the names, one per line\n"
                                 "" COMMON_USAGE;
static const char show_usage[] = "Usage: vpsctl service show VPS NAME [OPTIONS]\n\n"
                                 "Show a service, its state and its counters.\n\nOptions:\n"
                                 "" COMMON_USAGE;
static const char add_usage[] =
    "Usage: vpsctl service add VPS NAME [OPTIONS] [-- COMMAND [ARGS...]]\n\n"
    "Define the service NAME of VPS. A command is needed: --command or after --.\n\n"
    "Options:\n" SERVICE_OPTIONS_USAGE COMMON_USAGE;
static const char set_usage[] =
    "Usage: vpsctl service set VPS NAME [OPTIONS] [-- COMMAND [ARGS...]]\n\n"
    "Change the service NAME of VPS: only what is given changes. --env, --listen and --match\n"
    "replace the whole list. An option given the word 'default' resets its field (the lists\n"
    "to none).\n\nOptions:\n" SERVICE_OPTIONS_USAGE COMMON_USAGE;
static const char remove_usage[] = "Usage: vpsctl service remove VPS NAME [OPTIONS]\n\n"
                                   "Stop the service if it runs and remove it.\n\nOptions:\n"
                                   "" COMMON_USAGE;
static const char start_usage[] =
    "Usage: vpsctl service start VPS NAME [OPTIONS]\n\n"
    "Start a listen- or proxy-mode service now, and its VPS if that is stopped.\n\nOptions:\n"
    "" COMMON_USAGE;
static const char stop_usage[] =
    "Usage: vpsctl service stop VPS NAME [OPTIONS]\n\n"
    "Stop the running processes of a service. Its addresses stay: the next connection starts\n"
    "it again.\n\nOptions:\n" COMMON_USAGE;

static const char logs_usage[] =
    "Usage: vpsctl service logs VPS NAME [OPTIONS]\n\n"
    "Print the end of the service's log: what its processes wrote to stderr (and, but in\n"
    "accept mode, stdout). vpsd keeps about 1 MiB per service; it survives the VPS's stop.\n\n"
    "Options:\n"
    "  --bytes N        at most N bytes, from the end (default: 65536, at most "
    "1048576)\n" COMMON_USAGE;

static const struct option plain_options[] = {COMMON_OPTIONS, {}};

/* "/v1/vps/<vps>/services/<svc><suffix>" with both names escaped; svc NULL leaves it out. */
static int service_path(const char *vps, const char *svc, const char *suffix, char **ret,
                        struct vps_error *err)
{
    cleanup_free char *v = vps_client_escape(vps), *s = svc ? vps_client_escape(svc) : NULL;
    int r;

    if (!v || (svc && !s))
        return vps_error_errno(err, ENOMEM, "build the request path");
    r = svc ? asprintf(ret, "/v1/vps/%s/services/%s%s", v, s, suffix)
            : asprintf(ret, "/v1/vps/%s/services", v);
    if (r < 0)
        return vps_error_errno(err, ENOMEM, "build the request path");
    return 0;
}

/* ---- flags to a service object ---- */

struct service_args {
    json_t *fields;           /* members set by flags; null means "back to the default" */
    const char *command_line; /* --command */
};

static void service_args_done(struct service_args *a)
{
    json_decref(a->fields);
}

static const struct field_option {
    int opt;
    const char *flag;
    const char *key;
    enum { FIELD_STRING, FIELD_LIST, FIELD_MATCH, FIELD_DURATION } kind;
} field_options[] = {
    {OPT_USER, "--user", "user", FIELD_STRING},
    {OPT_CWD, "--cwd", "cwd", FIELD_STRING},
    {OPT_ENV, "--env", "env", FIELD_LIST},
    {OPT_LISTEN, "--listen", "listen", FIELD_LIST},
    {OPT_MATCH, "--match", "match", FIELD_MATCH},
    {OPT_MODE, "--mode", "mode", FIELD_STRING},
    {OPT_PROXY_TO, "--proxy-to", "proxy_to", FIELD_STRING},
    {OPT_IDLE_TIMEOUT, "--idle-timeout", "idle_timeout_ms", FIELD_DURATION},
    {OPT_RESTART, "--restart", "restart", FIELD_STRING},
};

/* json_string() refuses text that is not UTF-8, and the API is JSON. */
static int string_value(struct vpsctl *ctx, const char *flag, const char *s, json_t **ret,
                        struct vps_error *err)
{
    if (!(*ret = json_string(s)))
        return vpsctl_usage_error(ctx, err, "%s: '%s' is not UTF-8 text", flag, s);
    return 0;
}

static const char *const match_keys[] = {"front", "http_host", "tls_sni", "protocol"};

/* One item of a --match rule: KEY=VALUE, or the bare word "default". */
static int match_item(struct vpsctl *ctx, json_t *rule, const char *item, struct vps_error *err)
{
    const char *eq = strchr(item, '=');
    size_t klen = eq ? (size_t) (eq - item) : strlen(item);
    json_t *v = NULL;

    for (size_t k = 0; k <= ELEMENTSOF(match_keys); k++) {
        const char *key = k < ELEMENTSOF(match_keys) ? match_keys[k] : "default";
        if (strlen(key) != klen || strncmp(item, key, klen) != 0)
            continue;
        if (json_object_get(rule, key))
            return vpsctl_usage_error(ctx, err, "--match: '%s' is given twice", key);
        if (k == ELEMENTSOF(match_keys) && eq)
            return vpsctl_usage_error(ctx, err, "--match: 'default' takes no value");
        if (k < ELEMENTSOF(match_keys) && (!eq || !eq[1]))
            return vpsctl_usage_error(ctx, err, "--match: '%s' needs a value: %s=...", key, key);
        if (!eq)
            v = json_true();
        else if (string_value(ctx, "--match", eq + 1, &v, err) < 0)
            return -1;
        if (json_object_set_new(rule, key, v) < 0)
            return vps_error_errno(err, ENOMEM, "build the request");
        return 0;
    }
    return vpsctl_usage_error(ctx, err,
                              "--match: unknown item '%s': expected front=IP:PORT and one of "
                              "http_host=HOST, tls_sni=HOST, protocol=NAME or default",
                              item);
}

/* "front=IP:PORT,tls_sni=HOST" to {"front": ..., "tls_sni": ...}. Whether the rule makes
 * sense is vpsd's to say; only its shape is checked here. */
static int parse_match(struct vpsctl *ctx, const char *arg, json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *rule = json_object();
    cleanup_free char *copy = strdup(arg);
    char *save = NULL, *item;

    if (!rule || !copy)
        return vps_error_errno(err, ENOMEM, "build the request");
    if (!*arg || arg[0] == ',' || arg[strlen(arg) - 1] == ',' || strstr(arg, ",,"))
        return vpsctl_usage_error(ctx, err, "--match: empty item in '%s'", arg);
    for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (match_item(ctx, rule, item, err) < 0)
            return -1;
    if (!json_object_get(rule, "front"))
        return vpsctl_usage_error(ctx, err, "--match: front=IP:PORT is required in '%s'", arg);
    *ret = TAKE_PTR(rule);
    return 0;
}

/* a->fields[key] += v (v is stolen): a list flag given again adds to what it gave before. */
static int append_field(struct service_args *a, const char *key, json_t *v, struct vps_error *err)
{
    json_t *list = json_object_get(a->fields, key);

    if (!json_is_array(list)) {
        list = json_array();
        if (!list || json_object_set_new(a->fields, key, list) < 0) {
            json_decref(v);
            return vps_error_errno(err, ENOMEM, "build the request");
        }
    }
    if (json_array_append_new(list, v) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    return 0;
}

static int field_option(struct vpsctl *ctx, struct service_args *a, const struct field_option *fo,
                        const char *arg, struct vps_error *err)
{
    uint64_t ms = 0;
    json_t *v = NULL;

    if (strcmp(arg, "default") == 0)
        v = json_null();
    else if (fo->kind == FIELD_MATCH) {
        if (parse_match(ctx, arg, &v, err) < 0)
            return -1;
        return append_field(a, fo->key, v, err);
    } else if (fo->kind == FIELD_DURATION) {
        if (vps_parse_duration(arg, fo->flag, &ms, err) < 0) {
            ctx->usage_error = true; /* a malformed flag: point at --help */
            return -1;
        }
        v = json_integer((json_int_t) ms);
    } else if (string_value(ctx, fo->flag, arg, &v, err) < 0)
        return -1;
    if (fo->kind == FIELD_LIST && !json_is_null(v))
        return append_field(a, fo->key, v, err);
    if (!v || json_object_set_new(a->fields, fo->key, v) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    return 0;
}

static int service_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                          struct vps_error *err)
{
    struct service_args *a = userdata;

    if (c == OPT_COMMAND) {
        a->command_line = arg;
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(field_options); i++)
        if (field_options[i].opt == c)
            return field_option(ctx, a, &field_options[i], arg, err);
    return vps_error_set(err, VPS_ERR_SYSTEM, "option %d has no handler", c);
}

/* --command's text split at blanks. Quotes are not interpreted: they would need a shell's
 * rules, and "--" followed by the words already says exactly what each argument is. */
static int split_command(struct vpsctl *ctx, const char *line, json_t *ret, struct vps_error *err)
{
    for (const char *p = line + strspn(line, " \t"); *p; p += strspn(p, " \t")) {
        size_t len = strcspn(p, " \t");
        json_t *w = json_stringn(p, len);
        if (!w)
            return vpsctl_usage_error(ctx, err, "--command: '%s' is not UTF-8 text", line);
        if (json_array_append_new(ret, w) < 0)
            return vps_error_errno(err, ENOMEM, "build the request");
        p += len;
    }
    if (json_array_size(ret) == 0)
        return vpsctl_usage_error(ctx, err, "--command: empty command");
    return 0;
}

/* The "command" member from --command or from the words after "--". */
static int command_json(struct vpsctl *ctx, const struct service_args *a, char **words, int n,
                        json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *cmd = json_array();

    if (!cmd)
        return vps_error_errno(err, ENOMEM, "build the request");
    if (a->command_line && n > 0)
        return vpsctl_usage_error(ctx, err,
                                  "%s: give the command either with --command or after --, not "
                                  "both",
                                  ctx->command);
    if (a->command_line && split_command(ctx, a->command_line, cmd, err) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        json_t *w;
        if (string_value(ctx, "command", words[i], &w, err) < 0)
            return -1;
        if (json_array_append_new(cmd, w) < 0)
            return vps_error_errno(err, ENOMEM, "build the request");
    }
    *ret = json_array_size(cmd) ? TAKE_PTR(cmd) : NULL;
    return 0;
}

static void strip_nulls(json_t *obj)
{
    const char *key;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(obj, tmp, key, v)
    {
        if (json_is_null(v))
            (void) json_object_del(obj, key);
    }
}

/* add and set: parses VPS NAME [-- COMMAND...] and the flags into the request body. */
static int service_body(struct vpsctl *ctx, int argc, char **argv, bool is_set, json_t **ret_body,
                        const char **ret_vps, const char **ret_name, struct vps_error *err)
{
    static const struct option options[] = {
        {"command", required_argument, NULL, OPT_COMMAND},
        {"user", required_argument, NULL, OPT_USER},
        {"cwd", required_argument, NULL, OPT_CWD},
        {"env", required_argument, NULL, OPT_ENV},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"match", required_argument, NULL, OPT_MATCH},
        {"mode", required_argument, NULL, OPT_MODE},
        {"proxy-to", required_argument, NULL, OPT_PROXY_TO},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"restart", required_argument, NULL, OPT_RESTART},
        COMMON_OPTIONS,
        {},
    };
    cleanup_(service_args_done) struct service_args a = {.fields = json_object()};
    json_t *cmd = NULL;
    int r, first;

    if (!a.fields)
        return vps_error_errno(err, ENOMEM, "build the request");
    r = vpsctl_parse_options(ctx, argc, argv, "", options, service_option, &a,
                             is_set ? set_usage : add_usage, &first, err);
    if (r != 0)
        return r;
    if (vpsctl_expect_operands(ctx, argc - first, 2, argc, "VPS NAME [-- COMMAND [ARGS...]]", err) <
            0 ||
        command_json(ctx, &a, argv + first + 2, argc - first - 2, &cmd, err) < 0)
        return -1;
    if (cmd && json_object_set_new(a.fields, "command", cmd) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    if (!is_set && !cmd)
        return vpsctl_usage_error(
            ctx, err, "%s: a command is needed: --command 'CMD ARGS' or -- CMD ARGS", ctx->command);
    if (is_set && json_object_size(a.fields) == 0)
        return vpsctl_usage_error(ctx, err, "%s: nothing to change", ctx->command);
    if (!is_set) {
        strip_nulls(a.fields); /* "default" when adding: leave the field out */
        if (json_object_set_new(a.fields, "name", json_string(argv[first + 1])) < 0)
            return vpsctl_usage_error(ctx, err, "%s: NAME is not UTF-8 text", ctx->command);
    }
    *ret_body = TAKE_PTR(a.fields);
    *ret_vps = argv[first];
    *ret_name = argv[first + 1];
    return 0;
}

static int service_add(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *body = NULL, *answer = NULL;
    cleanup_free char *path = NULL;
    const char *vps = NULL, *name = NULL;
    int r;

    if ((r = service_body(ctx, argc, argv, false, &body, &vps, &name, err)) != 0)
        return r < 0 ? -1 : 0;
    if (service_path(vps, NULL, "", &path, err) < 0 || vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "POST", path, body, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

static int service_set(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *patch = NULL, *answer = NULL;
    cleanup_free char *path = NULL;
    const char *vps = NULL, *name = NULL;
    int r;

    if ((r = service_body(ctx, argc, argv, true, &patch, &vps, &name, err)) != 0)
        return r < 0 ? -1 : 0;
    if (service_path(vps, name, "", &path, err) < 0 || vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "PATCH", path, patch, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

/* ---- list and show ---- */

const char *vpsctl_match_text(const json_t *rules, const char *sep, char *buf, size_t size)
{
    size_t len = 0, i;
    json_t *m;

    buf[0] = '\0';
    json_array_foreach(rules, i, m)
    {
        const char *kind = NULL, *front = output_str(m, "front") ?: "?";
        int n;
        for (size_t k = 1; k < ELEMENTSOF(match_keys) && !kind; k++)
            if (json_object_get(m, match_keys[k]))
                kind = match_keys[k];
        if (kind)
            n = snprintf(buf + len, size - len, "%s%s=%s@%s", i ? sep : "", kind,
                         output_str(m, kind) ?: "?", front);
        else
            n = snprintf(buf + len, size - len, "%sdefault@%s", i ? sep : "", front);
        if (n < 0 || (size_t) n >= size - len)
            break; /* truncated: what fits is shown */
        len += (size_t) n;
    }
    return buf;
}

/* A counter of the status's "stats", or "" (shown as "-") when the activator gave none. */
static const char *stat_text(const json_t *svc, const char *key, char *buf, size_t size)
{
    json_int_t n = output_int(json_object_get(json_object_get(svc, "status"), "stats"), key, -1);

    if (n < 0)
        return "";
    (void) snprintf(buf, size, "%" JSON_INTEGER_FORMAT, n);
    return buf;
}

static int add_service_row(struct table *t, const json_t *svc, struct vps_error *err)
{
    char listen[1024], match[1024], acts[32], conns[32];
    const char *cells[] = {
        output_str(svc, "name"),
        output_str(svc, "mode"),
        output_join(json_object_get(svc, "listen"), ",", listen, sizeof listen),
        vpsctl_match_text(json_object_get(svc, "match"), ",", match, sizeof match),
        output_str(json_object_get(svc, "status"), "state"),
        stat_text(svc, "activations", acts, sizeof acts),
        stat_text(svc, "connections_active", conns, sizeof conns),
    };
    return table_add_row(t, cells, err);
}

static int names_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                        struct vps_error *err)
{
    (void) ctx, (void) c, (void) arg, (void) err;
    *(bool *) userdata = true; /* --names, the only option of its own */
    return 0;
}

static int service_list(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const char *const headers[] = {"NAME",  "MODE",        "LISTEN", "MATCH",
                                          "STATE", "ACTIVATIONS", "CONNS"};
    static const struct option options[] = {
        {"names", no_argument, NULL, OPT_NAMES}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_(table_freep) struct table *t = NULL;
    cleanup_json json_t *answer = NULL;
    cleanup_free char *path = NULL;
    bool names = false;
    int r, first;
    size_t i;
    json_t *v;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, names_option, &names, list_usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "VPS", err) < 0 ||
        service_path(argv[first], NULL, "", &path, err) < 0 || vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "GET", path, NULL, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json) {
        output_json(answer);
        return 0;
    }
    if (!names && table_new(headers, ELEMENTSOF(headers), &t, err) < 0)
        return -1;
    json_array_foreach(json_object_get(answer, "services"), i, v)
    {
        if (names)
            printf("%s\n", output_str(v, "name") ?: "?");
        else if (add_service_row(t, v, err) < 0)
            return -1;
    }
    if (!names)
        table_print(t, stdout);
    return 0;
}

/* Prints "key: a, b" for a list, "-" when it is empty. */
static void show_list(const char *key, const json_t *list, const char *sep)
{
    char buf[2048];

    output_field(key, "%s", output_join(list, sep, buf, sizeof buf)[0] ? buf : "-");
}

static void show_stats(const json_t *status)
{
    const json_t *stats = json_object_get(status, "stats");
    char a[VPS_UNITS_FORMAT_MAX], b[VPS_UNITS_FORMAT_MAX];
    json_int_t backoff = output_int(status, "backoff_until_ms", -1);

    show_list("pids", json_object_get(status, "pids"), ", ");
    show_list("listening", json_object_get(status, "listening"), ", ");
    if (backoff >= 0)
        output_field("backoff", "%s left", vps_format_duration((uint64_t) backoff, a, sizeof a));
    if (!stats)
        return;
    output_field("activations", "%" JSON_INTEGER_FORMAT, output_int(stats, "activations", 0));
    output_field("connections", "%" JSON_INTEGER_FORMAT " active, %" JSON_INTEGER_FORMAT " total",
                 output_int(stats, "connections_active", 0),
                 output_int(stats, "connections_total", 0));
    output_field("traffic", "%s in, %s out",
                 vps_format_size((uint64_t) output_int(stats, "bytes_in", 0), a, sizeof a),
                 vps_format_size((uint64_t) output_int(stats, "bytes_out", 0), b, sizeof b));
    output_field("failures", "%" JSON_INTEGER_FORMAT, output_int(stats, "failures", 0));
    output_field(
        "cold start", "%s last, %s max",
        vps_format_duration((uint64_t) output_int(stats, "cold_start_ms_last", 0), a, sizeof a),
        vps_format_duration((uint64_t) output_int(stats, "cold_start_ms_max", 0), b, sizeof b));
}

static void show_service(const json_t *svc)
{
    const json_t *status = json_object_get(svc, "status");
    char buf[2048];
    json_int_t idle_ms = output_int(svc, "idle_timeout_ms", 0);

    output_field("name", "%s", output_str(svc, "name") ?: "?");
    output_field("state", "%s", output_str(status, "state") ?: "?");
    show_list("command", json_object_get(svc, "command"), " ");
    output_field("user", "%s", output_str(svc, "user") ?: "root");
    output_field("cwd", "%s", output_str(svc, "cwd") ?: "/");
    show_list("env", json_object_get(svc, "env"), " ");
    show_list("listen", json_object_get(svc, "listen"), ", ");
    output_field("match", "%s",
                 vpsctl_match_text(json_object_get(svc, "match"), ", ", buf, sizeof buf)[0] ? buf
                                                                                            : "-");
    output_field("mode", "%s", output_str(svc, "mode") ?: "?");
    output_field("proxy to", "%s", output_str(svc, "proxy_to") ?: "-");
    output_field("idle timeout", "%s",
                 idle_ms > 0 ? vps_format_duration((uint64_t) idle_ms, buf, sizeof buf) : "never");
    output_field("restart", "%s", output_str(svc, "restart") ?: "?");
    show_stats(status);
}

/* show, remove, start and stop: VPS NAME and one request. */
static int one_service_request(struct vpsctl *ctx, int argc, char **argv, const char *method,
                               const char *suffix, const char *usage, json_t **ret,
                               struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_free char *path = NULL;
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", plain_options, NULL, NULL, usage, &first, err);
    if (r != 0)
        return r;
    if (vpsctl_expect_operands(ctx, argc - first, 2, 2, "VPS NAME", err) < 0 ||
        service_path(argv[first], argv[first + 1], suffix, &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, method, path, NULL, NULL, ret, err) < 0)
        return -1;
    return 0;
}

static int service_show(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_json json_t *answer = NULL;
    int r = one_service_request(ctx, argc, argv, "GET", "", show_usage, &answer, err);

    if (r != 0)
        return r < 0 ? -1 : 0;
    if (ctx->json)
        output_json(answer);
    else
        show_service(answer);
    return 0;
}

/* remove, start, stop: quiet on success unless --json. */
static int quiet_request(struct vpsctl *ctx, int argc, char **argv, const char *method,
                         const char *suffix, const char *usage, struct vps_error *err)
{
    cleanup_json json_t *answer = NULL;
    int r = one_service_request(ctx, argc, argv, method, suffix, usage, &answer, err);

    if (r != 0)
        return r < 0 ? -1 : 0;
    if (ctx->json)
        output_json(answer);
    return 0;
}

static int service_remove(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return quiet_request(ctx, argc, argv, "DELETE", "", remove_usage, err);
}

static int service_start(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return quiet_request(ctx, argc, argv, "POST", "/start", start_usage, err);
}

static int service_stop(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    return quiet_request(ctx, argc, argv, "POST", "/stop", stop_usage, err);
}

static int logs_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                       struct vps_error *err)
{
    (void) c;
    /* vpsd checks the range; this only keeps the query a number. */
    if (!*arg || strspn(arg, "0123456789") != strlen(arg) || strlen(arg) > 7)
        return vpsctl_usage_error(ctx, err, "--bytes: expected a number of bytes, got '%.32s'",
                                  arg);
    *(const char **) userdata = arg;
    return 0;
}

static int service_logs(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        {"bytes", required_argument, NULL, OPT_BYTES}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_free char *path = NULL, *query = NULL;
    const char *bytes = NULL;
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, logs_option, &bytes, logs_usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 2, 2, "VPS NAME", err) < 0 ||
        service_path(argv[first], argv[first + 1], "/log", &path, err) < 0)
        return -1;
    if (bytes && asprintf(&query, "%s?bytes=%s", path, bytes) < 0)
        return vps_error_errno(err, ENOMEM, "build the request path");
    if (vpsctl_client(ctx, &c, err) < 0)
        return -1;
    fflush(stdout);
    return vps_client_download(c, query ? query : path, STDOUT_FILENO, NULL, err);
}

int cmd_service(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct {
        const char *name;
        int (*run)(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
    } subs[] = {
        {"list", service_list}, {"show", service_show},     {"add", service_add},
        {"set", service_set},   {"remove", service_remove}, {"start", service_start},
        {"stop", service_stop}, {"logs", service_logs},
    };
    static char command[64];

    if (argc < 2)
        return vpsctl_usage_error(ctx, err, "service: missing command");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(service_usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0) {
            (void) snprintf(command, sizeof command, "service %s", subs[i].name);
            ctx->command = command;
            return subs[i].run(ctx, argc - 1, argv + 1, err);
        }
    return vpsctl_usage_error(ctx, err, "service: unknown command '%s'", argv[1]);
}
