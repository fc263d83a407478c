/* The VPS commands: create, list, show, set and destroy. vzctl-style flags become a config
 * (POST) or an RFC 7396 merge patch (PATCH) of /v1/vps; the answers become tables or
 * "key: value" lines. What the fields mean and which values are valid is vpsd's to judge. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "output.h"
#include "vps/config.h"
#include "vps/fd.h"
#include "vps/json.h"
#include "vps/units.h"
#include "vpsctl.h"

enum {
    OPT_TEMPLATE = OPT_COMMAND_FIRST,
    OPT_HOSTNAME,
    OPT_RAM,
    OPT_SWAP,
    OPT_DISK,
    OPT_CPUS,
    OPT_CPU_WEIGHT,
    OPT_IO_WEIGHT,
    OPT_PIDS,
    OPT_CPUSET,
    OPT_IPADD,
    OPT_IPDEL,
    OPT_NAMESERVER,
    OPT_NAMESERVER_DEL,
    OPT_OWNER,
    OPT_OWNER_DEL,
    OPT_AUTOSTART,
    OPT_AUTOSTOP,
    OPT_CONFIG,
    OPT_NAMES,
};

/* The options create and set share. --template is create's only: a VPS's template is what
 * its rootfs was copied from, once, and vpsd refuses to change it. */
#define CONFIG_OPTIONS                                                                             \
    {"hostname", required_argument, NULL, OPT_HOSTNAME},                                           \
        {"ram", required_argument, NULL, OPT_RAM}, {"swap", required_argument, NULL, OPT_SWAP},    \
        {"disk", required_argument, NULL, OPT_DISK}, {"cpus", required_argument, NULL, OPT_CPUS},  \
        {"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},                                   \
        {"io-weight", required_argument, NULL, OPT_IO_WEIGHT},                                     \
        {"pids", required_argument, NULL, OPT_PIDS},                                               \
        {"cpuset", required_argument, NULL, OPT_CPUSET},                                           \
        {"ipadd", required_argument, NULL, OPT_IPADD},                                             \
        {"nameserver", required_argument, NULL, OPT_NAMESERVER},                                   \
        {"owner", required_argument, NULL, OPT_OWNER},                                             \
        {"autostart", required_argument, NULL, OPT_AUTOSTART},                                     \
        {"autostop", required_argument, NULL, OPT_AUTOSTOP},                                       \
    {                                                                                              \
        "config", required_argument, NULL, OPT_CONFIG                                              \
    }

#define TEMPLATE_OPTION                                                                            \
    {                                                                                              \
        "template", required_argument, NULL, OPT_TEMPLATE                                          \
    }

#define TEMPLATE_USAGE                                                                             \
    "  --template NAME      template to copy the root filesystem from (default: minimal)\n"

#define CONFIG_USAGE                                                                               \
    "  --hostname NAME      host name inside the VPS (default: the VPS's name)\n"                  \
    "  --ram SIZE           memory limit, like 512M or 1.5G (default: 512M)\n"                     \
    "  --swap SIZE          swap limit (default: 0)\n"                                             \
    "  --disk SIZE          disk quota (default: none)\n"                                          \
    "  --cpus N             CPU time limit in CPUs, like 1.5 (default: none)\n"                    \
    "  --cpu-weight N       CPU weight, 1..10000 (default: 100)\n"                                 \
    "  --io-weight N        I/O weight, 1..10000 (default: the host's)\n"                          \
    "  --pids N             process limit, 0 for none (default: 4096)\n"                           \
    "  --cpuset LIST        CPUs the VPS may run on, like 0-1,3 (default: all)\n"                  \
    "  --ipadd ADDR[/LEN]   add an address (repeatable)\n"                                         \
    "  --nameserver IP      add a name server (repeatable)\n"                                      \
    "  --owner UID|USER     add a user who may operate the VPS (repeatable)\n"                     \
    "  --autostart yes|no   start the VPS when vpsd starts\n"                                      \
    "  --autostop yes|no    stop the VPS when its on-demand services are idle\n"                   \
    "  --config FILE        start from a JSON config (- for stdin); flags apply on top\n"

static const char create_usage[] =
    "Usage: vpsctl create NAME [OPTIONS]\n\nCreate a VPS.\n\nOptions:\n" TEMPLATE_USAGE CONFIG_USAGE
    "Limit options take 'default' for the daemon's default.\n" COMMON_USAGE;

static const char set_usage[] =
    "Usage: vpsctl set NAME [OPTIONS]\n\nChange a VPS's configuration.\n\nOptions:\n" CONFIG_USAGE
    "  --ipdel ADDR|all     remove an address, or all of them (repeatable)\n"
    "  --nameserver-del IP  remove a name server (repeatable)\n"
    "  --owner-del UID|USER remove an owner (repeatable)\n"
    "Limit options take 'default' to reset the limit to the daemon's default.\n"
    "A VPS's template cannot be changed: create --template chooses it once.\n" COMMON_USAGE;

static const char list_usage[] = "Usage: vpsctl list [OPTIONS]\n\nList VPSes.\n\nOptions:\n"
                                 "  --names          print only the names, one per line\n"
                                 "" COMMON_USAGE;
static const char show_usage[] =
    "Usage: vpsctl show NAME [OPTIONS]\n\nShow a VPS.\n\nOptions:\n" COMMON_USAGE;
static const char destroy_usage[] = "Usage: vpsctl destroy NAME [OPTIONS]\n\nDelete a VPS and its "
                                    "files.\n\nOptions:\n" COMMON_USAGE;

/* What the flags of create and set collected. */
struct vps_args {
    bool is_set;
    const char *config_file;
    json_t *flags; /* config members set by flags; null means "back to the default" */
    json_t *ip_add, *ip_del, *ns_add, *ns_del; /* arrays of strings */
    json_t *owner_add, *owner_del;             /* arrays of uids */
};

static void vps_args_done(struct vps_args *a)
{
    json_decref(a->flags);
    json_decref(a->ip_add);
    json_decref(a->ip_del);
    json_decref(a->ns_add);
    json_decref(a->ns_del);
    json_decref(a->owner_add);
    json_decref(a->owner_del);
}

/* ---- building the body ---- */

/* root[section][key] = v (v is stolen); section NULL means root itself. */
static int set_member(json_t *root, const char *section, const char *key, json_t *v,
                      struct vps_error *err)
{
    json_t *obj = root;

    if (v && section && !json_is_object(obj = json_object_get(root, section))) {
        obj = json_object();
        if (obj && json_object_set_new(root, section, obj) < 0)
            obj = NULL;
    }
    if (!v || !obj || json_object_set_new(obj, key, v) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    return 0;
}

static int append(json_t **arr, json_t *v, struct vps_error *err)
{
    if (!*arr)
        *arr = json_array();
    if (!v || !*arr || json_array_append_new(*arr, v) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    return 0;
}

static const struct limit_option {
    int opt;
    const char *flag;
    const char *key;
    enum { LIMIT_SIZE, LIMIT_CPUS, LIMIT_COUNT, LIMIT_STRING } kind;
} limit_options[] = {
    {OPT_RAM, "--ram", "ram_bytes", LIMIT_SIZE},
    {OPT_SWAP, "--swap", "swap_bytes", LIMIT_SIZE},
    {OPT_DISK, "--disk", "disk_bytes", LIMIT_SIZE},
    {OPT_CPUS, "--cpus", "cpu_limit_millicpus", LIMIT_CPUS},
    {OPT_CPU_WEIGHT, "--cpu-weight", "cpu_weight", LIMIT_COUNT},
    {OPT_IO_WEIGHT, "--io-weight", "io_weight", LIMIT_COUNT},
    {OPT_PIDS, "--pids", "pids", LIMIT_COUNT},
    {OPT_CPUSET, "--cpuset", "cpuset", LIMIT_STRING},
};

/* Sets limits.<key> from a flag. The ranges are vpsd's to check; only the JSON type's bounds
 * are checked here, so that the message can name the flag. */
static int limit_option(struct vps_args *a, const struct limit_option *lo, const char *arg,
                        struct vps_error *err)
{
    uint64_t u = 0;
    uint32_t m = 0;
    json_t *v;

    if (strcmp(arg, "default") == 0)
        return set_member(a->flags, "limits", lo->key, json_null(), err);
    switch (lo->kind) {
    case LIMIT_SIZE:
        if (vps_parse_size(arg, lo->flag, &u, err) < 0)
            return -1;
        v = json_integer((json_int_t) u);
        break;
    case LIMIT_CPUS:
        if (vps_parse_cpus(arg, lo->flag, &m, err) < 0)
            return -1;
        v = json_integer(m);
        break;
    case LIMIT_COUNT:
        if (vps_parse_uint(arg, lo->flag, 0, UINT32_MAX, &u, err) < 0)
            return -1;
        v = json_integer((json_int_t) u);
        break;
    default:
        v = json_string(arg);
        break;
    }
    return set_member(a->flags, "limits", lo->key, v, err);
}

static int parse_bool(const char *s, const char *what, bool *ret, struct vps_error *err)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};
    for (size_t i = 0; i < ELEMENTSOF(yes); i++)
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *ret = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    return vps_error_set(err, VPS_ERR_INVALID, "%s: expected yes or no, got '%.64s'", what, s);
}

/* A uid, or a user name looked up in the host's user database. */
static int parse_owner(const char *s, const char *what, json_t **ret, struct vps_error *err)
{
    cleanup_free char *buf = NULL;
    struct passwd pw, *res = NULL;
    size_t size = 1024;
    uint64_t uid;
    int r;

    if (*s >= '0' && *s <= '9') {
        /* (uid_t) -1 means "no id" to the kernel; it can never own anything. */
        if (vps_parse_uint(s, what, 0, UINT32_MAX - 1, &uid, err) < 0)
            return -1;
        *ret = json_integer((json_int_t) uid);
        return 0;
    }
    do {
        free(TAKE_PTR(buf));
        size *= 4;
        if (!(buf = malloc(size)))
            return vps_error_errno(err, ENOMEM, "%s: look up '%s'", what, s);
        r = getpwnam_r(s, &pw, buf, size, &res);
    } while (r == ERANGE && size < (1U << 20));
    if (r != 0)
        return vps_error_errno(err, r, "%s: look up user '%.64s'", what, s);
    if (!res)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: no user '%.64s' on this host", what, s);
    *ret = json_integer((json_int_t) pw.pw_uid);
    return 0;
}

static int top_option(struct vpsctl *ctx, struct vps_args *a, int c, const char *arg,
                      struct vps_error *err)
{
    bool b = false;

    switch (c) {
    case OPT_TEMPLATE:
        /* Known to set only to say why it is refused: "unknown option" would read as a typo. */
        if (a->is_set)
            return vpsctl_usage_error(ctx, err,
                                      "set: --template is not accepted: a VPS's template cannot "
                                      "be changed after create");
        return set_member(a->flags, NULL, "template", json_string(arg), err);
    case OPT_HOSTNAME:
        return set_member(a->flags, NULL, "hostname", json_string(arg), err);
    case OPT_AUTOSTART:
        if (parse_bool(arg, "--autostart", &b, err) < 0)
            return -1;
        return set_member(a->flags, NULL, "autostart", json_boolean(b), err);
    case OPT_AUTOSTOP:
        if (parse_bool(arg, "--autostop", &b, err) < 0)
            return -1;
        return set_member(a->flags, NULL, "autostop", json_boolean(b), err);
    case OPT_CONFIG:
        a->config_file = arg;
        return 0;
    default:
        return vps_error_set(err, VPS_ERR_SYSTEM, "option %d has no handler", c);
    }
}

static int vps_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                      struct vps_error *err)
{
    struct vps_args *a = userdata;
    json_t *uid = NULL;

    for (size_t i = 0; i < ELEMENTSOF(limit_options); i++)
        if (limit_options[i].opt == c)
            return limit_option(a, &limit_options[i], arg, err);
    switch (c) {
    case OPT_IPADD:
        return append(&a->ip_add, json_string(arg), err);
    case OPT_IPDEL:
        return append(&a->ip_del, json_string(arg), err);
    case OPT_NAMESERVER:
        return append(&a->ns_add, json_string(arg), err);
    case OPT_NAMESERVER_DEL:
        return append(&a->ns_del, json_string(arg), err);
    case OPT_OWNER:
    case OPT_OWNER_DEL:
        if (parse_owner(arg, c == OPT_OWNER ? "--owner" : "--owner-del", &uid, err) < 0)
            return -1;
        return append(c == OPT_OWNER ? &a->owner_add : &a->owner_del, uid, err);
    default:
        return top_option(ctx, a, c, arg, err);
    }
}

/* ---- list edits (--ipadd, --ipdel, ...) ---- */

/* Addresses are compared as addresses, so "2001:DB8::2" matches vpsd's canonical
 * "2001:db8::2/64", and an entry without a prefix length matches any. */
static bool same_address(const char *a, const char *b)
{
    unsigned char x[16] = {0}, y[16] = {0};
    char ha[64], hb[64];
    size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

    if (la >= sizeof ha || lb >= sizeof hb)
        return strcmp(a, b) == 0;
    (void) snprintf(ha, sizeof ha, "%.*s", (int) la, a);
    (void) snprintf(hb, sizeof hb, "%.*s", (int) lb, b);
    if ((inet_pton(AF_INET, ha, x) == 1 && inet_pton(AF_INET, hb, y) == 1) ||
        (inet_pton(AF_INET6, ha, x) == 1 && inet_pton(AF_INET6, hb, y) == 1))
        return memcmp(x, y, sizeof x) == 0;
    return strcmp(a, b) == 0;
}

static bool same_entry(const json_t *a, const json_t *b)
{
    if (json_is_string(a) && json_is_string(b))
        return same_address(json_string_value(a), json_string_value(b));
    return json_equal((json_t *) a, (json_t *) b);
}

static ssize_t find_entry(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *e;

    json_array_foreach(arr, i, e)
    {
        if (same_entry(e, v))
            return (ssize_t) i;
    }
    return -1;
}

struct list_edit {
    const char *section, *key;   /* where the list lives in the config */
    const char *del_flag, *what; /* for messages: "--ipdel", "address" */
    const json_t *add, *del;
};

/* The new list: the current one, minus del, plus add (an entry for an address that is
 * already there replaces it, so a new prefix length takes effect). */
static int edit_list(const json_t *current, const struct list_edit *e, const char *vps,
                     json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *list = json_is_array(current) ? json_deep_copy(current) : json_array();
    size_t i;
    json_t *v;

    if (!list)
        return vps_error_errno(err, ENOMEM, "build the request");
    json_array_foreach(e->del, i, v)
    {
        ssize_t at = find_entry(list, v);
        if (json_is_string(v) && strcmp(json_string_value(v), "all") == 0) {
            json_array_clear(list);
            continue;
        }
        if (at < 0 && json_is_string(v))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: %s '%s' is not set on vps '%s'",
                                 e->del_flag, e->what, json_string_value(v), vps);
        if (at < 0)
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "%s: uid %" JSON_INTEGER_FORMAT " is not an %s of vps '%s'",
                                 e->del_flag, json_integer_value(v), e->what, vps);
        json_array_remove(list, (size_t) at);
    }
    json_array_foreach(e->add, i, v)
    {
        ssize_t at = find_entry(list, v);
        if ((at >= 0 ? json_array_set(list, (size_t) at, v) : json_array_append(list, v)) < 0)
            return vps_error_errno(err, ENOMEM, "build the request");
    }
    *ret = TAKE_PTR(list);
    return 0;
}

static bool has_list_edits(const struct vps_args *a)
{
    return a->ip_add || a->ip_del || a->ns_add || a->ns_del || a->owner_add || a->owner_del;
}

/* Puts the edited lists into body, starting from the lists in current (a config). */
static int apply_list_edits(const struct vps_args *a, const json_t *current, const char *vps,
                            json_t *body, struct vps_error *err)
{
    const struct list_edit edits[] = {
        {"network", "addresses", "--ipdel", "address", a->ip_add, a->ip_del},
        {"network", "nameservers", "--nameserver-del", "name server", a->ns_add, a->ns_del},
        {NULL, "owners", "--owner-del", "owner", a->owner_add, a->owner_del},
    };

    for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
        const json_t *sec = edits[i].section ? json_object_get(current, edits[i].section) : current;
        json_t *list = NULL;
        if (!edits[i].add && !edits[i].del)
            continue;
        if (edit_list(json_object_get(sec, edits[i].key), &edits[i], vps, &list, err) < 0)
            return -1;
        if (set_member(body, edits[i].section, edits[i].key, list, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- create and set ---- */

static int load_config_file(const char *file, json_t **ret, struct vps_error *err)
{
    cleanup_free char *text = NULL;
    cleanup_close int fd = -1;
    size_t len;

    if (strcmp(file, "-") != 0 && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
        return vps_error_errno(err, errno, "--config: open '%s'", file);
    if (vps_read_all(fd >= 0 ? fd : STDIN_FILENO, VPS_CONFIG_MAX_BYTES, &text, &len, err) < 0 ||
        vps_json_parse_text(text, len, ret, err) < 0)
        return vps_error_prefix(err, "--config '%s'", file);
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
        else if (json_is_object(v))
            strip_nulls(v);
    }
}

/* The body of create or set: the --config file, then the flags on top. */
static int build_body(const struct vps_args *a, json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *body = NULL;

    if (a->config_file && load_config_file(a->config_file, &body, err) < 0)
        return -1;
    if (!body && !(body = json_object()))
        return vps_error_errno(err, ENOMEM, "build the request");
    if (json_object_update_recursive(body, a->flags) < 0)
        return vps_error_errno(err, ENOMEM, "build the request");
    *ret = TAKE_PTR(body);
    return 0;
}

static int parse_vps_args(struct vpsctl *ctx, int argc, char **argv, bool is_set,
                          struct vps_args *a, const char **ret_name, struct vps_error *err)
{
    static const struct option create_options[] = {
        TEMPLATE_OPTION, CONFIG_OPTIONS, COMMON_OPTIONS, {}};
    static const struct option set_options[] = {
        CONFIG_OPTIONS,
        TEMPLATE_OPTION, /* refused with a reason, see top_option() */
        {"ipdel", required_argument, NULL, OPT_IPDEL},
        {"nameserver-del", required_argument, NULL, OPT_NAMESERVER_DEL},
        {"owner-del", required_argument, NULL, OPT_OWNER_DEL},
        COMMON_OPTIONS,
        {},
    };
    int r, first;

    a->is_set = is_set;
    if (!(a->flags = json_object()))
        return vps_error_errno(err, ENOMEM, "build the request");
    r = vpsctl_parse_options(ctx, argc, argv, "", is_set ? set_options : create_options, vps_option,
                             a, is_set ? set_usage : create_usage, &first, err);
    if (r != 0)
        return r;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0)
        return -1;
    *ret_name = argv[first];
    return 0;
}

int cmd_create(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_args_done) struct vps_args a = {0};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *body = NULL, *answer = NULL;
    const char *name = NULL, *in_file;
    int r;

    if ((r = parse_vps_args(ctx, argc, argv, false, &a, &name, err)) != 0)
        return r < 0 ? -1 : 0;
    if (build_body(&a, &body, err) < 0)
        return -1;
    in_file = output_str(body, "name");
    if (in_file && strcmp(in_file, name) != 0)
        return vpsctl_usage_error(ctx, err, "create: NAME '%s' differs from the name '%s' in '%s'",
                                  name, in_file, a.config_file);
    if (set_member(body, NULL, "name", json_string(name), err) < 0 ||
        apply_list_edits(&a, body, name, body, err) < 0)
        return -1;
    strip_nulls(body); /* "default" on create: leave the field out */
    if (vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "POST", "/v1/vps", body, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

int cmd_set(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_args_done) struct vps_args a = {0};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *patch = NULL, *current = NULL, *answer = NULL;
    cleanup_free char *path = NULL;
    const char *name = NULL;
    int r;

    if ((r = parse_vps_args(ctx, argc, argv, true, &a, &name, err)) != 0)
        return r < 0 ? -1 : 0;
    if (build_body(&a, &patch, err) < 0)
        return -1;
    if (json_object_size(patch) == 0 && !has_list_edits(&a))
        return vpsctl_usage_error(ctx, err, "set: nothing to change");
    if (vpsctl_path("/v1/vps/", name, "", &path, err) < 0 || vpsctl_client(ctx, &c, err) < 0)
        return -1;
    /* Lists are replaced whole by a merge patch, so the new list is computed here from the
     * current one. That is a second request, made only when a list changes. */
    if (has_list_edits(&a) &&
        (vps_client_request(c, "GET", path, NULL, NULL, &current, err) < 0 ||
         apply_list_edits(&a, json_object_get(current, "config"), name, patch, err) < 0))
        return -1;
    if (vps_client_request(c, "PATCH", path, patch, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

/* ---- list, show, destroy ---- */

static const char *limit_size(const json_t *limits, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(limits, key);
    return json_is_integer(v) ? vps_format_size((uint64_t) json_integer_value(v), buf, size) : "";
}

static const char *limit_cpus(const json_t *limits, char *buf, size_t size)
{
    json_int_t m = output_int(limits, "cpu_limit_millicpus", 0);
    return m > 0 ? vps_format_cpus((uint32_t) m, buf, size) : "";
}

static int add_vps_row(struct table *t, const json_t *vps, struct vps_error *err)
{
    const json_t *cfg = json_object_get(vps, "config");
    const json_t *limits = json_object_get(cfg, "limits");
    char ram[VPS_UNITS_FORMAT_MAX], cpus[VPS_UNITS_FORMAT_MAX], addrs[1024];
    const char *cells[] = {
        output_str(cfg, "name"),
        output_str(json_object_get(vps, "status"), "state"),
        output_str(cfg, "template"),
        output_str(cfg, "hostname"),
        limit_size(limits, "ram_bytes", ram, sizeof ram),
        limit_cpus(limits, cpus, sizeof cpus),
        output_join(json_object_get(json_object_get(cfg, "network"), "addresses"), ",", addrs,
                    sizeof addrs),
    };
    return table_add_row(t, cells, err);
}

static const char *vps_name(const json_t *vps)
{
    return output_str(json_object_get(vps, "config"), "name");
}

int cmd_list(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const char *const headers[] = {"NAME", "STATE", "TEMPLATE", "HOSTNAME",
                                          "RAM",  "CPUS",  "ADDRESSES"};
    static const struct vpsctl_list l = {.path = "/v1/vps",
                                         .key = "vps",
                                         .headers = headers,
                                         .n_headers = ELEMENTSOF(headers),
                                         .usage = list_usage,
                                         .row = add_vps_row,
                                         .name = vps_name};

    return vpsctl_list(ctx, argc, argv, &l, err);
}

static const char *owners_text(const json_t *owners, char *buf, size_t size)
{
    size_t len = 0, i;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(owners, i, v)
    {
        struct passwd pw, *res = NULL;
        char pwbuf[4096];
        uid_t uid = (uid_t) json_integer_value(v);
        bool named = getpwuid_r(uid, &pw, pwbuf, sizeof pwbuf, &res) == 0 && res;
        int n = snprintf(buf + len, size - len, named ? "%s%u (%s)" : "%s%u", i ? ", " : "",
                         (unsigned) uid, named ? pw.pw_name : "");
        if (n < 0 || (size_t) n >= size - len)
            break;
        len += (size_t) n;
    }
    return buf;
}

/* A count where 0 or absent means something else, said in words. */
static void show_count(const char *key, json_int_t n, const char *zero)
{
    if (n > 0)
        output_field(key, "%" JSON_INTEGER_FORMAT, n);
    else
        output_field(key, "%s", zero);
}

static void show_limits(const json_t *limits)
{
    char buf[VPS_UNITS_FORMAT_MAX];
    json_int_t n;

    output_field("ram", "%s", limit_size(limits, "ram_bytes", buf, sizeof buf));
    output_field("swap", "%s", limit_size(limits, "swap_bytes", buf, sizeof buf));
    n = output_int(limits, "disk_bytes", 0);
    output_field("disk", "%s", n > 0 ? limit_size(limits, "disk_bytes", buf, sizeof buf) : "-");
    n = output_int(limits, "cpu_limit_millicpus", 0);
    output_field("cpus", "%s", n > 0 ? limit_cpus(limits, buf, sizeof buf) : "unlimited");
    output_field("cpu weight", "%" JSON_INTEGER_FORMAT, output_int(limits, "cpu_weight", 0));
    show_count("io weight", output_int(limits, "io_weight", 0), "default");
    show_count("pids", output_int(limits, "pids", 0), "unlimited");
    output_field("cpuset", "%s", output_str(limits, "cpuset") ?: "all");
}

/* Listen addresses and match rules of a service, comma-separated. */
static const char *service_listen(const json_t *svc, char *buf, size_t size)
{
    char listen[512] = "", match[512];

    output_join(json_object_get(svc, "listen"), ",", listen, sizeof listen);
    vpsctl_match_text(json_object_get(svc, "match"), ",", match, sizeof match);
    (void) snprintf(buf, size, "%s%s%s", listen, listen[0] && match[0] ? "," : "", match);
    return buf;
}

static int show_services(const json_t *services, struct vps_error *err)
{
    static const char *const headers[] = {"SERVICE", "MODE", "LISTEN", "IDLE", "COMMAND"};
    cleanup_(table_freep) struct table *t = NULL;
    size_t i;
    json_t *s;

    if (json_array_size(services) == 0) {
        output_field("services", "none");
        return 0;
    }
    if (table_new(headers, ELEMENTSOF(headers), &t, err) < 0)
        return -1;
    json_array_foreach(services, i, s)
    {
        char listen[1024], idle[VPS_UNITS_FORMAT_MAX], cmd[1024];
        json_int_t idle_ms = output_int(s, "idle_timeout_ms", 0);
        const char *cells[] = {
            output_str(s, "name"),
            output_str(s, "mode") ?: "accept",
            service_listen(s, listen, sizeof listen),
            idle_ms > 0 ? vps_format_duration((uint64_t) idle_ms, idle, sizeof idle) : "never",
            output_join(json_object_get(s, "command"), " ", cmd, sizeof cmd),
        };
        if (table_add_row(t, cells, err) < 0)
            return -1;
    }
    putchar('\n');
    table_print(t, stdout);
    return 0;
}

static int show_vps(const json_t *answer, struct vps_error *err)
{
    const json_t *cfg = json_object_get(answer, "config");
    const json_t *net = json_object_get(cfg, "network");
    char buf[2048];

    output_field("name", "%s", output_str(cfg, "name") ?: "?");
    output_field("state", "%s", output_str(json_object_get(answer, "status"), "state") ?: "?");
    output_field("hostname", "%s", output_str(cfg, "hostname") ?: "");
    output_field("template", "%s", output_str(cfg, "template") ?: "");
    output_field("autostart", "%s", json_is_true(json_object_get(cfg, "autostart")) ? "yes" : "no");
    output_field("autostop", "%s", json_is_true(json_object_get(cfg, "autostop")) ? "yes" : "no");
    output_field("owners", "%s",
                 owners_text(json_object_get(cfg, "owners"), buf, sizeof buf)[0] ? buf : "-");
    output_field("created", "%s", output_str(cfg, "created_at") ?: "");
    show_limits(json_object_get(cfg, "limits"));
    output_field("addresses", "%s",
                 output_join(json_object_get(net, "addresses"), ", ", buf, sizeof buf)[0] ? buf
                                                                                          : "-");
    output_field("nameservers", "%s",
                 output_join(json_object_get(net, "nameservers"), ", ", buf, sizeof buf)[0] ? buf
                                                                                            : "-");
    return show_services(json_object_get(cfg, "services"), err);
}

/* show and destroy: NAME and one request. */
static int one_vps_request(struct vpsctl *ctx, int argc, char **argv, const char *method,
                           const char *usage, json_t **ret, struct vps_error *err)
{
    static const struct option options[] = {COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_free char *path = NULL;
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, NULL, NULL, usage, &first, err);
    if (r != 0)
        return r;
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0 ||
        vpsctl_path("/v1/vps/", argv[first], "", &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, method, path, NULL, NULL, ret, err) < 0)
        return -1;
    return 0;
}

int cmd_show(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_json json_t *answer = NULL;
    int r = one_vps_request(ctx, argc, argv, "GET", show_usage, &answer, err);

    if (r != 0)
        return r < 0 ? -1 : 0;
    if (ctx->json) {
        output_json(answer);
        return 0;
    }
    return show_vps(answer, err);
}

int cmd_destroy(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_json json_t *answer = NULL;
    int r = one_vps_request(ctx, argc, argv, "DELETE", destroy_usage, &answer, err);

    if (r != 0)
        return r < 0 ? -1 : 0;
    if (ctx->json)
        output_json(answer);
    return 0;
}
