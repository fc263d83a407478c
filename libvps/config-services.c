/* The services of a VPS config: their field table, the checks and canonical forms of their
 * listen and proxy addresses, match rules, the mode and restart enums as strings, and the
 * checks that span services. Names, limits, network, mounts, owners and the config as a whole
 * are config.c's. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config-internal.h"
#include "vps/addr.h"
#include "vps/config.h"

/* ---- checks and canonical forms ---- */

/* A host name in a match rule: like a hostname but up to 253 characters, lower case, and
 * an optional leading "*." wildcard. */
static int check_match_host(const char *s, const char *path, struct vps_error *err)
{
    const char *h = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    size_t len = strlen(h);

    for (size_t i = 0; i < len; i++)
        if (isupper((unsigned char) h[i]))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: host names are matched in lower case",
                                 path);
    if (len == 0 || len > 253)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid host name", path, s);
    for (const char *l = h; *l;) {
        const char *dot = strchr(l, '.');
        size_t n = dot ? (size_t) (dot - l) : strlen(l);
        char label[64];
        if (n == 0 || n > 63)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid host name", path,
                                 s);
        memcpy(label, l, n);
        label[n] = '\0';
        if (vps_hostname_validate(label, path, err) < 0)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid host name", path,
                                 s);
        l += n + (dot ? 1 : 0);
        if (dot && !*l)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' ends in a dot", path, s);
    }
    return 0;
}

int vps_config_check_abs_path(const char *s, const char *path, struct vps_error *err)
{
    if (s[0] != '/')
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an absolute path, got '%.64s'",
                             path, s);
    return 0;
}

int vps_config_check_env(const char *s, const char *path, struct vps_error *err)
{
    const char *eq = strchr(s, '=');

    if (!eq || eq == s)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected \"KEY=value\", got '%.64s'", path,
                             s);
    for (const char *p = s; p < eq; p++)
        if (!isalnum((unsigned char) *p) && *p != '_')
            return vps_error_set(err, VPS_ERR_INVALID, "%s: invalid variable name in '%.64s'", path,
                                 s);
    return 0;
}

static int check_user(const char *s, const char *path, struct vps_error *err)
{
    /* A POSIX portable user name or a numeric uid. It is resolved inside the VPS at start. */
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char) *p) && *p != '_' && *p != '-' && *p != '.')
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid user", path, s);
    if (s[0] == '-')
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is not a valid user", path, s);
    return 0;
}

/* "ip:port" with IPv6 in brackets; port 1..65535 (vps/addr.h). */
static int check_ip_port(const char *s, const char *path, struct vps_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (vps_addr_parse(s, &ss, &len))
        return 0;
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected \"ip:port\" (IPv6 as \"[addr]:port\"), got '%.64s'", path,
                         s);
}

/* A unix socket path: absolute, under sun_path's 108 bytes, no "." or ".." component. */
static int check_unix_path(const char *s, const char *path, struct vps_error *err)
{
    if (s[0] != '/' || strlen(s) >= 108 || strcmp(s, "/") == 0)
        goto bad;
    for (const char *c = s; *c;) {
        size_t n;
        c += strspn(c, "/");
        n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            goto bad;
        c += n;
    }
    return 0;
bad:
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected \"unix:/absolute/path\" (under 108 bytes, no \".\" or "
                         "\"..\"), got '%.64s'",
                         path, s);
}

static int check_listen(const char *s, const char *path, struct vps_error *err)
{
    if (strncmp(s, "unix:", 5) == 0)
        return check_unix_path(s + 5, path, err);
    if (strncmp(s, "tcp:", 4) == 0 || strncmp(s, "udp:", 4) == 0)
        s += 4;
    return check_ip_port(s, path, err);
}

/* The canonical form of a checked "ip:port": inet_ntop()'s spelling, decimal port. */
static char *canon_ip_port(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char buf[VPS_ADDR_TEXT_MAX];

    if (!vps_addr_parse(s, &ss, &len))
        return strdup(s); /* not reached: checked before */
    vps_addr_format(&ss, buf, sizeof buf);
    return strdup(buf);
}

/* The canonical form of a checked listen entry: "ip:port" for TCP (no "tcp:"),
 * "udp:ip:port", "unix:/path" with single slashes and none at the end. So two spellings of
 * one socket compare equal. */
static char *canon_listen(const char *s)
{
    char buf[5 + 108], *a;

    if (strncmp(s, "unix:", 5) == 0) {
        size_t o = 5, n;
        memcpy(buf, "unix:", 5);
        for (const char *c = s + 5; *(c += strspn(c, "/")); c += n) {
            n = strcspn(c, "/");
            if (o + 1 + n >= sizeof buf)
                return NULL; /* not reached: checked to be under 108 bytes */
            buf[o++] = '/';
            memcpy(buf + o, c, n);
            o += n;
        }
        buf[o] = '\0';
        return strdup(buf);
    }
    bool udp = strncmp(s, "udp:", 4) == 0;
    if (udp || strncmp(s, "tcp:", 4) == 0)
        s += 4;
    if (!(a = canon_ip_port(s)))
        return NULL;
    (void) snprintf(buf, sizeof buf, "%s%s", udp ? "udp:" : "", a);
    free(a);
    return strdup(buf);
}

/* ---- enums as strings ---- */

static const char *const mode_names[] = {[VPS_SERVICE_ACCEPT] = "accept",
                                         [VPS_SERVICE_LISTEN] = "listen",
                                         [VPS_SERVICE_PROXY] = "proxy"};
static const char *const restart_names[] = {[VPS_RESTART_NO] = "no",
                                            [VPS_RESTART_ON_FAILURE] = "on-failure",
                                            [VPS_RESTART_ALWAYS] = "always"};
static const char *const protocol_names[] = {"ssh", "tls", "http"};

const char *vps_service_mode_name(enum vps_service_mode m)
{
    return (size_t) m < ELEMENTSOF(mode_names) ? mode_names[m] : "unknown";
}

static int parse_enum(const json_t *v, const char *const *names, size_t n, int *ret,
                      const char *path, struct vps_error *err)
{
    char list[128] = "";

    if (json_is_string(v))
        for (size_t i = 0; i < n; i++)
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *ret = (int) i;
                return 0;
            }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list);
        (void) snprintf(list + len, sizeof list - len, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    if (!json_is_string(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected one of %s, got %s", path, list,
                             vps_json_type_name(v));
    return vps_error_set(err, VPS_ERR_INVALID, "%s: expected one of %s, got '%.32s'", path, list,
                         json_string_value(v));
}

static int parse_mode(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    int i = 0;
    if (parse_enum(v, mode_names, ELEMENTSOF(mode_names), &i, path, err) < 0)
        return -1;
    *(enum vps_service_mode *) dst = (enum vps_service_mode) i;
    return 0;
}

static int emit_mode(const void *src, json_t **ret, struct vps_error *err)
{
    *ret = json_string(mode_names[*(const enum vps_service_mode *) src]);
    return *ret ? 0 : vps_error_errno(err, ENOMEM, "emit");
}

static int parse_restart(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    int i = 0;
    if (parse_enum(v, restart_names, ELEMENTSOF(restart_names), &i, path, err) < 0)
        return -1;
    *(enum vps_restart *) dst = (enum vps_restart) i;
    return 0;
}

static int emit_restart(const void *src, json_t **ret, struct vps_error *err)
{
    *ret = json_string(restart_names[*(const enum vps_restart *) src]);
    return *ret ? 0 : vps_error_errno(err, ENOMEM, "emit");
}

/* ---- match rules ---- */

struct match_in {
    char *front, *http_host, *tls_sni, *protocol;
    bool dflt;
};

static int check_protocol(const char *s, const char *path, struct vps_error *err)
{
    for (size_t i = 0; i < ELEMENTSOF(protocol_names); i++)
        if (strcmp(s, protocol_names[i]) == 0)
            return 0;
    return vps_error_set(err, VPS_ERR_INVALID,
                         "%s: expected one of \"ssh\", \"tls\", \"http\", got '%.32s'", path, s);
}

static const struct vps_json_field match_fields[] = {
    {.name = "front",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct match_in, front),
     .required = true,
     .max = 64,
     .check = check_ip_port},
    {.name = "http_host",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct match_in, http_host),
     .max = 255,
     .check = check_match_host},
    {.name = "tls_sni",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct match_in, tls_sni),
     .max = 255,
     .check = check_match_host},
    {.name = "protocol",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct match_in, protocol),
     .max = 8,
     .check = check_protocol},
    {.name = "default", .kind = VPS_JSON_BOOL, .offset = offsetof(struct match_in, dflt)},
};

static void match_free_array(struct vps_match *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].front);
        free(m[i].value);
    }
    free(m);
}

static int parse_one_match(const json_t *v, struct vps_match *ret, const char *path,
                           struct vps_error *err)
{
    struct match_in in = {0};
    int r, kinds;

    r = vps_json_parse_fields(v, match_fields, ELEMENTSOF(match_fields), &in, path, err);
    kinds = !!in.http_host + !!in.tls_sni + !!in.protocol + in.dflt;
    if (r == 0 && kinds != 1)
        r = vps_error_set(err, VPS_ERR_INVALID,
                          "%s: exactly one of \"http_host\", \"tls_sni\", \"protocol\", "
                          "\"default\": true is needed",
                          path);
    if (r == 0 && !(ret->front = canon_ip_port(in.front)))
        r = vps_error_errno(err, ENOMEM, "%s", path);
    free(in.front);
    in.front = NULL;
    if (r < 0) {
        vps_json_free_fields(&in, match_fields, ELEMENTSOF(match_fields));
        return -1;
    }
    ret->kind = in.http_host  ? VPS_MATCH_HTTP_HOST
                : in.tls_sni  ? VPS_MATCH_TLS_SNI
                : in.protocol ? VPS_MATCH_PROTOCOL
                              : VPS_MATCH_DEFAULT;
    ret->value = in.http_host ? in.http_host : in.tls_sni ? in.tls_sni : in.protocol;
    return 0;
}

bool vps_match_equal(const struct vps_match *a, const struct vps_match *b)
{
    return strcmp(a->front, b->front) == 0 && a->kind == b->kind &&
           (a->kind == VPS_MATCH_DEFAULT || strcmp(a->value, b->value) == 0);
}

struct match_list {
    struct vps_match *v;
    size_t n;
};

static int parse_matches(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    struct match_list *ml = dst;
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array, got %s", path,
                             vps_json_type_name(v));
    if (n > 32)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: at most 32 rules", path);
    match_free_array(ml->v, ml->n);
    ml->v = NULL;
    ml->n = 0;
    if (n == 0)
        return 0;
    ml->v = calloc(n, sizeof *ml->v);
    if (!ml->v)
        return vps_error_errno(err, ENOMEM, "%s", path);
    for (size_t i = 0; i < n; i++) {
        char p[VPS_JSON_PATH_MAX];
        vps_json_path_index(p, sizeof p, path, i);
        if (parse_one_match(json_array_get(v, i), &ml->v[i], p, err) < 0)
            return -1;
        ml->n++;
    }
    return 0;
}

static int emit_matches(const void *src, json_t **ret, struct vps_error *err)
{
    static const char *const keys[] = {[VPS_MATCH_HTTP_HOST] = "http_host",
                                       [VPS_MATCH_TLS_SNI] = "tls_sni",
                                       [VPS_MATCH_PROTOCOL] = "protocol"};
    const struct match_list *ml = src;
    cleanup_json json_t *a = json_array();

    if (!a)
        return vps_error_errno(err, ENOMEM, "emit");
    for (size_t i = 0; i < ml->n; i++) {
        const struct vps_match *m = &ml->v[i];
        json_t *o = m->kind == VPS_MATCH_DEFAULT
                        ? json_pack("{s:s, s:b}", "front", m->front, "default", 1)
                        : json_pack("{s:s, s:s}", "front", m->front, keys[m->kind], m->value);
        if (json_array_append_new(a, o) < 0)
            return vps_error_errno(err, ENOMEM, "emit");
    }
    *ret = TAKE_PTR(a);
    return 0;
}

static void free_matches(void *dst)
{
    struct match_list *ml = dst;
    match_free_array(ml->v, ml->n);
    ml->v = NULL;
    ml->n = 0;
}

/* ---- services ---- */

/* struct vps_service keeps match and n_match adjacent so they form a struct match_list. */
_Static_assert(offsetof(struct vps_service, n_match) ==
                   offsetof(struct vps_service, match) + sizeof(struct vps_match *),
               "match list layout");

static const struct vps_json_field service_fields[] = {
    {.name = "name",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_service, name),
     .required = true,
     .max = VPS_NAME_MAX,
     .check = config_check_name},
    {.name = "command",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct vps_service, command),
     .required = true,
     .min = 1,
     .max = 256,
     .str_max = 4096,
     .str_empty_ok = true},
    {.name = "user",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_service, user),
     .min = 1,
     .max = 32,
     .check = check_user},
    {.name = "cwd",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_service, cwd),
     .min = 1,
     .max = 4096,
     .check = vps_config_check_abs_path},
    {.name = "env",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct vps_service, env),
     .max = 256,
     .str_max = 4096,
     .check = vps_config_check_env,
     .omit_zero = true},
    {.name = "listen",
     .kind = VPS_JSON_STRV,
     .offset = offsetof(struct vps_service, listen),
     .max = 16,
     .str_max = 128,
     .check = check_listen,
     .unique = true,
     .omit_zero = true},
    {.name = "match",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_service, match),
     .parse = parse_matches,
     .emit = emit_matches,
     .free = free_matches},
    {.name = "mode",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_service, mode),
     .parse = parse_mode,
     .emit = emit_mode},
    {.name = "idle_timeout_ms",
     .kind = VPS_JSON_UINT64,
     .offset = offsetof(struct vps_service, idle_timeout_ms),
     .max = 7ULL * 24 * 3600 * 1000},
    {.name = "restart",
     .kind = VPS_JSON_CUSTOM,
     .offset = offsetof(struct vps_service, restart),
     .parse = parse_restart,
     .emit = emit_restart},
    {.name = "proxy_to",
     .kind = VPS_JSON_STRING,
     .offset = offsetof(struct vps_service, proxy_to),
     .max = 64,
     .check = check_ip_port},
};

static void service_done(struct vps_service *s)
{
    vps_json_free_fields(s, service_fields, ELEMENTSOF(service_fields));
}

/* Checks what spans fields and brings addresses to their canonical form. */
static int service_finish(struct vps_service *s, const char *path, struct vps_error *err)
{
    char p[VPS_JSON_PATH_MAX];

    vps_json_path_key(p, sizeof p, path, "command[0]");
    if (vps_config_check_abs_path(s->command.v[0], p, err) < 0)
        return -1;
    if (s->mode == VPS_SERVICE_PROXY && !s->proxy_to)
        return vps_error_set(err, VPS_ERR_INVALID, "%s.proxy_to: required with \"mode\": \"proxy\"",
                             path);
    if (s->mode != VPS_SERVICE_PROXY && s->proxy_to)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s.proxy_to: only allowed with \"mode\": \"proxy\"", path);
    /* Content rules need vpsd to accept and peek at each connection, so the service can only
     * get connections, not a listening socket. */
    if (s->mode == VPS_SERVICE_LISTEN && s->n_match > 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s.match: content rules need \"mode\" \"accept\" or \"proxy\"", path);
    if (s->proxy_to && config_canon_in_place(&s->proxy_to, canon_ip_port, path, err) < 0)
        return -1;
    for (size_t i = 0; i < s->listen.n; i++) {
        vps_json_path_key(p, sizeof p, path, "listen");
        if (config_canon_in_place(&s->listen.v[i], canon_listen, p, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->listen.v[i], s->listen.v[j]) == 0)
                return vps_error_set(err, VPS_ERR_INVALID, "%s.listen[%zu]: '%s' is listed twice",
                                     path, i, s->listen.v[i]);
        /* Datagrams have no connection to hand over or relay. */
        if (strncmp(s->listen.v[i], "udp:", 4) == 0 && s->mode == VPS_SERVICE_PROXY)
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "%s.listen[%zu]: udp needs \"mode\" \"accept\" or \"listen\"",
                                 path, i);
    }
    for (size_t i = 0; i < s->n_match; i++)
        for (size_t j = 0; j < i; j++)
            if (vps_match_equal(&s->match[i], &s->match[j]))
                return vps_error_set(err, VPS_ERR_INVALID, "%s.match[%zu]: listed twice", path, i);
    return 0;
}

int config_parse_services(const json_t *v, void *dst, const char *path, struct vps_error *err)
{
    struct vps_config *c =
        (struct vps_config *) ((char *) dst - offsetof(struct vps_config, services));
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array, got %s", path,
                             vps_json_type_name(v));
    if (n > VPS_MAX_SERVICES)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: at most %d services", path,
                             VPS_MAX_SERVICES);
    if (n == 0)
        return 0;
    c->services = calloc(n, sizeof *c->services);
    if (!c->services)
        return vps_error_errno(err, ENOMEM, "%s", path);
    for (size_t i = 0; i < n; i++) {
        char p[VPS_JSON_PATH_MAX];
        struct vps_service *s = &c->services[i];

        vps_json_path_index(p, sizeof p, path, i);
        c->n_services++;
        if (vps_json_parse_fields(json_array_get(v, i), service_fields, ELEMENTSOF(service_fields),
                                  s, p, err) < 0 ||
            service_finish(s, p, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->services[j].name, s->name) == 0)
                return vps_error_set(err, VPS_ERR_INVALID, "%s.name: service '%s' is listed twice",
                                     p, s->name);
            for (size_t k = 0; k < s->listen.n; k++)
                if (vps_strv_contains(&c->services[j].listen, s->listen.v[k]))
                    return vps_error_set(err, VPS_ERR_INVALID,
                                         "%s.listen[%zu]: '%s' is used by service '%s'", p, k,
                                         s->listen.v[k], c->services[j].name);
            for (size_t k = 0; k < s->n_match; k++)
                for (size_t m = 0; m < c->services[j].n_match; m++)
                    if (vps_match_equal(&s->match[k], &c->services[j].match[m]))
                        return vps_error_set(err, VPS_ERR_INVALID,
                                             "%s.match[%zu]: service '%s' has the same rule", p, k,
                                             c->services[j].name);
        }
    }
    return 0;
}

int config_emit_services(const void *src, json_t **ret, struct vps_error *err)
{
    const struct vps_config *c =
        (const struct vps_config *) ((const char *) src - offsetof(struct vps_config, services));
    cleanup_json json_t *a = json_array();

    if (!a)
        return vps_error_errno(err, ENOMEM, "emit");
    for (size_t i = 0; i < c->n_services; i++) {
        json_t *o;
        if (vps_json_emit_fields(&c->services[i], service_fields, ELEMENTSOF(service_fields), &o,
                                 err) < 0)
            return -1;
        if (json_array_append_new(a, o) < 0)
            return vps_error_errno(err, ENOMEM, "emit");
    }
    *ret = TAKE_PTR(a);
    return 0;
}

void config_free_services(void *dst)
{
    struct vps_config *c =
        (struct vps_config *) ((char *) dst - offsetof(struct vps_config, services));
    for (size_t i = 0; i < c->n_services; i++)
        service_done(&c->services[i]);
    free(c->services);
    c->services = NULL;
    c->n_services = 0;
}
