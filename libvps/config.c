/* The VPS configuration model: field tables, validators and defaults. Its services (listen
 * addresses, match rules, modes) are config-services.c's. What the daemon does with a config
 * (storing it, applying limits) belongs to the store and the runtime. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config-internal.h"
#include "vps/config.h"
#include "vps/tc.h"

bool vps_name_is_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > VPS_NAME_MAX)
        return false;
    if (!islower((unsigned char) name[0]) && !isdigit((unsigned char) name[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= '0' && name[i] <= '9') &&
            name[i] != '-')
            return false;
    return true;
}

int vps_name_validate(const char *name, const char *what, struct vps_error *err)
{
    if (!name || !name[0])
        return vps_error_set(err, VPS_ERR_INVALID, "%s name is empty", what);
    if (strlen(name) > VPS_NAME_MAX)
        return vps_error_set(err, VPS_ERR_INVALID, "%s name is longer than %d characters", what,
                             VPS_NAME_MAX);
    if (!vps_name_is_valid(name))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s name '%.64s' is invalid: use a-z, 0-9 and '-', "
                             "starting with a letter or digit",
                             what, name);
    return 0;
}

int config_check_name(const char *s, const char *path, struct vps_error *err)
{
    if (strlen(s) > VPS_NAME_MAX)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: longer than %d characters", path,
                             VPS_NAME_MAX);
    if (!vps_name_is_valid(s))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: '%.64s' is not a valid name ([a-z0-9][a-z0-9-]{0,62})", path, s);
    return 0;
}

int vps_hostname_validate(const char *s, const char *path, struct vps_error *err)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > VPS_HOSTNAME_MAX)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: a host name has 1..%d characters", path,
                             VPS_HOSTNAME_MAX);
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || s[i - 1] == '-')
                goto bad;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char) c) && !(c == '-' && label > 0))
            goto bad;
        if (++label > 63)
            goto bad;
    }
    return 0;
bad:
    return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid host name", path, s);
}

static int check_ip(const char *s, const char *path, struct vps_error *err)
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not an IP address", path, s);
    return 0;
}

/* "addr[/prefix]" to canonical "addr/prefix"; the prefix defaults to a host route. */
static int parse_cidr(const char *s, char *ret, size_t size, const char *path,
                      struct vps_error *err)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned char a[16];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t) (slash - s) : strlen(s);
    unsigned long prefix;
    int af;

    if (hlen >= sizeof host)
        goto bad;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    af = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(af, host, a) != 1)
        goto bad;
    prefix = af == AF_INET ? 32 : 128;
    if (slash) {
        char *end;
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (!isdigit((unsigned char) slash[1]) || *end || errno ||
            prefix > (af == AF_INET ? 32u : 128u) || prefix == 0)
            goto bad;
    }
    if (!inet_ntop(af, a, host, sizeof host))
        goto bad;
    (void) snprintf(ret, size, "%s/%lu", host, prefix);
    return 0;
bad:
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected an IPv4 or IPv6 address with optional /prefix, got "
                         "'%.64s'",
                         path, s);
}

static int parse_addresses(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    static const struct vps_json_field f = {
        .kind = VPS_JSON_STRV, .max = VPS_MAX_ADDRESSES, .str_max = 64};
    struct vps_strv *sv = dst;

    if (vps_json_parse_strv(v, &f, sv, path, err) < 0)
        return -1;
    for (size_t i = 0; i < sv->n; i++) {
        char p[VPS_JSON_PATH_MAX], canon[INET6_ADDRSTRLEN + 8];
        vps_json_path_index(p, sizeof p, path, i);
        if (parse_cidr(sv->v[i], canon, sizeof canon, p, err) < 0)
            return -1;
        char *c = strdup(canon);
        if (!c)
            return vps_error_errno(err, ENOMEM, "%s", p);
        free(sv->v[i]);
        sv->v[i] = c;
        for (size_t j = 0; j < i; j++) {
            /* Same address with another prefix is still the same address. */
            size_t a = strcspn(sv->v[j], "/"), b = strcspn(c, "/");
            if (a == b && strncmp(sv->v[j], c, a) == 0)
                return vps_error_set(err, VPS_ERR_INVALID, "%s: address '%s' is listed twice", p,
                                     c);
        }
    }
    return 0;
}

static int emit_strv_field(const void *src, json_t **ret, struct vps_error *err)
{
    *ret = vps_strv_to_json(src);
    return *ret ? 0 : vps_error_errno(err, ENOMEM, "emit");
}

static void free_strv_field(void *dst)
{
    vps_strv_free(dst);
}

/* Replaces *s by its canonical form. */
int config_canon_in_place(char **s, char *(*canon)(const char *), const char *path,
                          struct vps_error *err)
{
    char *c = canon(*s);

    if (!c)
        return vps_error_errno(err, ENOMEM, "%s", path);
    free(*s);
    *s = c;
    return 0;
}

/* ---- mounts ---- */

/* An absolute path without "." or ".." components: what a mount's source or target is,
 * compared and resolved component by component. */
static int check_mount_path(const char *s, const char *path, struct vps_error *err)
{
    if (s[0] != '/')
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an absolute path, got '%.64s'",
                             path, s);
    for (const char *c = s; *c;) {
        size_t n;
        c += strspn(c, "/");
        n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "%s: '%.64s' has a \".\" or \"..\" component", path, s);
        c += n;
    }
    return 0;
}

/* The canonical form of a checked path: single slashes, none at the end ("/" stays "/"). */
static char *canon_path(const char *s)
{
    char *r = malloc(strlen(s) + 1), *o = r;

    if (!r)
        return NULL;
    for (const char *c = s; *c;) {
        size_t n;
        c += strspn(c, "/");
        n = strcspn(c, "/");
        if (n == 0)
            break;
        *o++ = '/';
        memcpy(o, c, n);
        o += n;
        c += n;
    }
    if (o == r)
        *o++ = '/';
    *o = '\0';
    return r;
}

static const struct vps_json_field mount_fields[] = {
    {.name = "source",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_host_mount, source),
     .required = true,
     .min = 1,
     .max = 4095,
     .check = check_mount_path},
    {.name = "target",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_host_mount, target),
     .required = true,
     .min = 1,
     .max = 4095,
     .check = check_mount_path},
    {.name = "readonly",
     .kind = VPS_JSON_BOOL,
     .offset = offsetof(struct vps_host_mount, readonly)},
};

/* Targets vpsd mounts itself at every start; a bind there would hide or undo its masks. */
static const char *const reserved_targets[] = {"/proc", "/sys", "/dev"};

static int mount_finish(struct vps_host_mount *m, const char *path, struct vps_error *err)
{
    char p[VPS_JSON_PATH_MAX];

    vps_json_path_key(p, sizeof p, path, "source");
    if (config_canon_in_place(&m->source, canon_path, p, err) < 0)
        return -1;
    vps_json_path_key(p, sizeof p, path, "target");
    if (config_canon_in_place(&m->target, canon_path, p, err) < 0)
        return -1;
    if (strcmp(m->target, "/") == 0)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: cannot be / (the VPS's rootfs)", p);
    for (size_t i = 0; i < ELEMENTSOF(reserved_targets); i++) {
        size_t n = strlen(reserved_targets[i]);
        if (strncmp(m->target, reserved_targets[i], n) == 0 &&
            (m->target[n] == '\0' || m->target[n] == '/'))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is in %s, which vpsd mounts", p,
                                 m->target, reserved_targets[i]);
    }
    return 0;
}

static int parse_mounts(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    struct vps_config *c =
        (struct vps_config *) ((char *) dst - offsetof(struct vps_config, mounts));
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array, got %s", path,
                             vps_json_type_name(v));
    if (n > VPS_MAX_MOUNTS)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: at most %d mounts", path, VPS_MAX_MOUNTS);
    if (n == 0)
        return 0;
    c->mounts = calloc(n, sizeof *c->mounts);
    if (!c->mounts)
        return vps_error_errno(err, ENOMEM, "%s", path);
    for (size_t i = 0; i < n; i++) {
        char p[VPS_JSON_PATH_MAX];
        struct vps_host_mount *m = &c->mounts[i];

        vps_json_path_index(p, sizeof p, path, i);
        m->readonly = true;
        c->n_mounts++;
        if (vps_json_parse_fields(json_array_get(v, i), mount_fields, ELEMENTSOF(mount_fields), m,
                                  p, err) < 0 ||
            mount_finish(m, p, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->mounts[j].target, m->target) == 0)
                return vps_error_set(err, VPS_ERR_INVALID,
                                     "%s.target: '%.64s' is the target of mounts[%zu] too", p,
                                     m->target, j);
    }
    return 0;
}

static int emit_mounts(const void *src, json_t **ret, struct vps_error *err)
{
    const struct vps_config *c =
        (const struct vps_config *) ((const char *) src - offsetof(struct vps_config, mounts));
    cleanup_json json_t *a = json_array();

    if (!a)
        return vps_error_errno(err, ENOMEM, "emit");
    for (size_t i = 0; i < c->n_mounts; i++) {
        json_t *o;
        if (vps_json_emit_fields(&c->mounts[i], mount_fields, ELEMENTSOF(mount_fields), &o, err) <
            0)
            return -1;
        if (json_array_append_new(a, o) < 0)
            return vps_error_errno(err, ENOMEM, "emit");
    }
    *ret = TAKE_PTR(a);
    return 0;
}

static void free_mounts(void *dst)
{
    struct vps_config *c =
        (struct vps_config *) ((char *) dst - offsetof(struct vps_config, mounts));
    for (size_t i = 0; i < c->n_mounts; i++)
        vps_json_free_fields(&c->mounts[i], mount_fields, ELEMENTSOF(mount_fields));
    free(c->mounts);
    c->mounts = NULL;
    c->n_mounts = 0;
}

/* ---- owners ---- */

static int parse_owners(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    struct vps_config *c =
        (struct vps_config *) ((char *) dst - offsetof(struct vps_config, owners));
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array of uids, got %s", path,
                             vps_json_type_name(v));
    if (n > VPS_MAX_OWNERS)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: at most %d owners", path, VPS_MAX_OWNERS);
    free(c->owners);
    c->owners = NULL;
    c->n_owners = 0;
    if (n == 0)
        return 0;
    c->owners = calloc(n, sizeof *c->owners);
    if (!c->owners)
        return vps_error_errno(err, ENOMEM, "%s", path);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        json_int_t uid = json_integer_value(e);
        /* (uid_t) -1 means "no id" to the kernel; it can never be a caller. */
        if (!json_is_integer(e) || uid < 0 || uid >= (json_int_t) UINT32_MAX)
            return vps_error_set(err, VPS_ERR_INVALID, "%s[%zu]: expected a uid, got %s", path, i,
                                 json_is_integer(e) ? "a value out of range"
                                                    : vps_json_type_name(e));
        for (size_t j = 0; j < i; j++)
            if (c->owners[j] == (uint32_t) uid)
                return vps_error_set(err, VPS_ERR_INVALID,
                                     "%s[%zu]: uid %" JSON_INTEGER_FORMAT " is listed twice", path,
                                     i, uid);
        c->owners[c->n_owners++] = (uint32_t) uid;
    }
    return 0;
}

static int emit_owners(const void *src, json_t **ret, struct vps_error *err)
{
    const struct vps_config *c =
        (const struct vps_config *) ((const char *) src - offsetof(struct vps_config, owners));
    cleanup_json json_t *a = json_array();

    for (size_t i = 0; a && i < c->n_owners; i++)
        if (json_array_append_new(a, json_integer(c->owners[i])) < 0)
            return vps_error_errno(err, ENOMEM, "emit");
    if (!a)
        return vps_error_errno(err, ENOMEM, "emit");
    *ret = TAKE_PTR(a);
    return 0;
}

static void free_owners(void *dst)
{
    free(*(uint32_t **) dst);
    *(uint32_t **) dst = NULL;
}

/* ---- limits, network, the config ---- */

static int check_cpuset(const char *s, const char *path, struct vps_error *err)
{
    /* "0-3,6": digits, ranges and commas; the kernel checks what exists at apply time. */
    bool digit = false;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char) *p)) {
            digit = true;
            continue;
        }
        if ((*p != ',' && *p != '-') || !digit)
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "%s: expected a CPU list like \"0-3,6\", "
                                 "got '%.32s'",
                                 path, s);
        digit = false;
    }
    if (!digit)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected a CPU list like \"0-3,6\", "
                             "got '%.32s'",
                             path, s);
    return 0;
}

/* A bandwidth in bits/s: 0 (unlimited, as when absent) or VPS_TC_RATE_MIN..VPS_TC_RATE_MAX.
 * Not a plain UINT64 field, whose minimum would refuse the 0. */
static int parse_bits_per_s(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    json_int_t i;

    if (!json_is_integer(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an integer, got %s", path,
                             vps_json_type_name(v));
    i = json_integer_value(v);
    if (i != 0 && (i < (json_int_t) VPS_TC_RATE_MIN || i > (json_int_t) VPS_TC_RATE_MAX))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: %" JSON_INTEGER_FORMAT " is out of range %llu..%llu (or 0: "
                             "unlimited)",
                             path, i, VPS_TC_RATE_MIN, VPS_TC_RATE_MAX);
    *(uint64_t *) dst = (uint64_t) i;
    return 0;
}

static int emit_bits_per_s(const void *src, json_t **ret, struct vps_error *err)
{
    uint64_t v = *(const uint64_t *) src;

    *ret = NULL; /* 0, the default, is left out */
    if (v && !(*ret = json_integer((json_int_t) v)))
        return vps_error_errno(err, ENOMEM, "emit a bandwidth");
    return 0;
}

static const struct vps_json_field limit_fields[] = {
    {.name = "ram_bytes",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct vps_limits, ram_bytes),
     .min = 16ULL << 20,
     .max = 1ULL << 50},
    {.name = "swap_bytes",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct vps_limits, swap_bytes),
     .max = 1ULL << 50},
    {.name = "disk_bytes",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct vps_limits, disk_bytes),
     .max = 1ULL << 60,
     .omit_zero = true},
    {.name = "cpu_limit_millicpus",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_limits, cpu_limit_millicpus),
     .min = 0,
     .max = 1024 * 1000,
     .omit_zero = true},
    {.name = "cpu_weight",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_limits, cpu_weight),
     .min = 1,
     .max = 10000},
    {.name = "io_weight",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_limits, io_weight),
     .min = 1,
     .max = 10000,
     .omit_zero = true},
    /* Never omitted: 0 ("no limit") is not the default, and an absent field loads as 4096. */
    {.name = "pids",
     .kind = VPS_JSON_UINT32,
     .offset = offsetof(struct vps_limits, pids),
     .min = 0,
     .max = 4194304},
    {.name = "cpuset",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_limits, cpuset),
     .min = 1,
     .max = 256,
     .check = check_cpuset},
    {.name = "net_egress_bits_per_s",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_limits, net_egress_bits_per_s),
     .parse = parse_bits_per_s,
     .emit = emit_bits_per_s},
    {.name = "net_ingress_bits_per_s",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_limits, net_ingress_bits_per_s),
     .parse = parse_bits_per_s,
     .emit = emit_bits_per_s},
};

static const struct vps_json_field network_fields[] = {
    {.name = "addresses",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_network, addresses),
     .parse = parse_addresses,
     .emit = emit_strv_field,
     .free = free_strv_field},
    {.name = "nameservers",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct vps_network, nameservers),
     .max = 8,
     .str_max = 64,
     .check = check_ip,
     .unique = true},
};

#define SUB_OBJECT(fn, table)                                                                      \
    static int parse_##fn(const json_t *v, void *dst, const char *path, struct vps_error *err)     \
    {                                                                                              \
        return vps_json_parse_fields(v, table, ELEMENTSOF(table), dst, path, err);                 \
    }                                                                                              \
    static int emit_##fn(const void *src, json_t **ret, struct vps_error *err)                     \
    {                                                                                              \
        return vps_json_emit_fields(src, table, ELEMENTSOF(table), ret, err);                      \
    }                                                                                              \
    static void free_##fn(void *dst)                                                               \
    {                                                                                              \
        vps_json_free_fields(dst, table, ELEMENTSOF(table));                                       \
    }

SUB_OBJECT(limits, limit_fields)
SUB_OBJECT(network, network_fields)

static int check_timestamp(const char *s, const char *path, struct vps_error *err)
{
    /* RFC 3339 in UTC as vpsd writes it: 2026-11-23T04:33:58Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof shape - 1)
        goto bad;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != shape[i])
            goto bad;
    return 0;
bad:
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected \"YYYY-MM-DDTHH:MM:SSZ\", got "
                         "'%.32s'",
                         path, s);
}

static int check_hostname(const char *s, const char *path, struct vps_error *err)
{
    return vps_hostname_validate(s, path, err);
}

static const struct vps_json_field config_fields[] = {
    {.name = "name",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_config, name),
     .required = true,
     .max = 4096,
     .check = config_check_name},
    {.name = "hostname",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_config, hostname),
     .max = 4096,
     .check = check_hostname},
    {.name = "template",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_config, template_name),
     .max = 4096,
     .check = config_check_name},
    {.name = "created_at",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_config, created_at),
     .max = 64,
     .check = check_timestamp},
    {.name = "autostart", .kind = VPS_JSON_BOOL, .offset = offsetof(struct vps_config, autostart)},
    {.name = "autostop", .kind = VPS_JSON_BOOL, .offset = offsetof(struct vps_config, autostop)},
    {.name = "owners",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_config, owners),
     .parse = parse_owners,
     .emit = emit_owners,
     .free = free_owners},
    {.name = "limits",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_config, limits),
     .parse = parse_limits,
     .emit = emit_limits,
     .free = free_limits},
    {.name = "network",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_config, network),
     .parse = parse_network,
     .emit = emit_network,
     .free = free_network},
    {.name = "services",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_config, services),
     .parse = config_parse_services,
     .emit = config_emit_services,
     .free = config_free_services},
    {.name = "mounts",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_config, mounts),
     .parse = parse_mounts,
     .emit = emit_mounts,
     .free = free_mounts},
};

int vps_config_new(struct vps_config **ret, struct vps_error *err)
{
    struct vps_config *c = calloc(1, sizeof *c);

    if (!c)
        return vps_error_errno(err, ENOMEM, "allocate config");
    c->limits.ram_bytes = VPS_DEFAULT_RAM_BYTES;
    c->limits.cpu_weight = VPS_DEFAULT_CPU_WEIGHT;
    c->limits.pids = VPS_DEFAULT_PIDS;
    c->template_name = strdup(VPS_DEFAULT_TEMPLATE);
    if (!c->template_name) {
        free(c);
        return vps_error_errno(err, ENOMEM, "allocate config");
    }
    *ret = c;
    return 0;
}

void vps_config_free(struct vps_config *c)
{
    if (!c)
        return;
    vps_json_free_fields(c, config_fields, ELEMENTSOF(config_fields));
    free(c);
}

int vps_config_from_json(const json_t *j, struct vps_config **ret, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    if (vps_config_new(&c, err) < 0)
        return -1;
    if (vps_json_parse_fields(j, config_fields, ELEMENTSOF(config_fields), c, "", err) < 0)
        return -1;
    if (!c->hostname) {
        /* "web-" is a valid name but not a valid host name; defaulting to it would store a
         * config whose canonical form fails to load. */
        if (vps_hostname_validate(c->name, "hostname", err) < 0)
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "hostname: the name '%s' is not a valid host name; "
                                 "set \"hostname\"",
                                 c->name);
        if (!(c->hostname = strdup(c->name)))
            return vps_error_errno(err, ENOMEM, "allocate config");
    }
    *ret = TAKE_PTR(c);
    return 0;
}

int vps_config_to_json(const struct vps_config *c, json_t **ret, struct vps_error *err)
{
    return vps_json_emit_fields(c, config_fields, ELEMENTSOF(config_fields), ret, err);
}

int vps_config_set_mounts(struct vps_config *c, const json_t *mounts, struct vps_error *err)
{
    free_mounts(&c->mounts);
    return parse_mounts(mounts, &c->mounts, "mounts", err);
}

bool vps_config_has_owner(const struct vps_config *c, uid_t uid)
{
    for (size_t i = 0; i < c->n_owners; i++)
        if (c->owners[i] == uid)
            return true;
    return false;
}
