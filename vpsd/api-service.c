/* /v1/vps/{name}/services: a VPS's on-demand services as a resource of their own. Each change
 * builds and validates the whole new config, then goes through api_vps_commit() like a PATCH
 * of the VPS; what a service does once configured (sockets, processes) is the activator's. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "activator.h"
#include "api.h"
#include "vps/fd.h"
#include "vps/json.h"

static ssize_t find_service(const struct vps_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return (ssize_t) i;
    return -1;
}

/* Loads the VPS of the path (owners pass, see api_load_vps()) and finds the service named by
 * the path's second segment. */
static int load_service(struct request *r, struct vps_config **ret, size_t *ret_index,
                        struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    const char *svc = r->args[1];
    ssize_t i;

    if (api_load_vps(r, &c, err) < 0)
        return -1;
    if ((i = find_service(c, svc)) < 0)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "service '%.64s' of vps '%s' does not exist",
                             svc, c->name);
    *ret = TAKE_PTR(c);
    *ret_index = (size_t) i;
    return 0;
}

/* The services of c as the config has them, each with the activator's "status". */
static int services_json(struct request *r, const struct vps_config *c, json_t **ret,
                         struct vps_error *err)
{
    cleanup_json json_t *cfg = NULL;
    json_t *list;

    if (vps_config_to_json(c, &cfg, err) < 0)
        return -1;
    list = json_object_get(cfg, "services");
    if (!json_is_array(list) || json_array_size(list) != c->n_services)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vps '%s': services do not match the config",
                             c->name);
    for (size_t i = 0; i < c->n_services; i++) {
        json_t *status = activator_service_status(r->d->act, c->name, c->services[i].name);
        /* json_object_set_new() releases status when it fails. */
        if (!status || json_object_set_new(json_array_get(list, i), "status", status) < 0)
            return vps_error_errno(err, ENOMEM, "vps '%s': service status", c->name);
    }
    *ret = json_incref(list);
    return 0;
}

/* Answers with service i of c and its status. */
static int reply_service(struct request *r, unsigned status, const struct vps_config *c, size_t i,
                         struct vps_error *err)
{
    cleanup_json json_t *list = NULL;

    if (services_json(r, c, &list, err) < 0)
        return -1;
    return reply_json(r, status, json_incref(json_array_get(list, i)));
}

/* vps_config_from_json() and front_check() name a field by its path in the whole config
 * ("services[3].listen[0]"); the client sent only the service, so the path is made relative
 * to its body ("listen[0]"). */
static void body_relative_path(struct vps_error *err, size_t i)
{
    char prefix[40];
    int n = snprintf(prefix, sizeof prefix, "services[%zu].", i);

    if (n > 0 && strncmp(err->msg, prefix, (size_t) n) == 0)
        memmove(err->msg, err->msg + n, strlen(err->msg + n) + 1);
}

/* api_vps_commit() for the new config n, in which the service the request is about is the
 * one at index i. */
static int commit(struct request *r, const struct vps_config *old, const struct vps_config *n,
                  size_t i, struct vps_error *err)
{
    if (api_vps_commit(r, old, n, err) < 0) {
        body_relative_path(err, i); /* a match rule that another VPS holds */
        return -1;
    }
    return 0;
}

/* The config cfg (the VPS's config JSON) with svc inserted into its services at index at,
 * parsed and validated; cfg is left as it was. */
static int config_with(json_t *cfg, json_t *svc, size_t at, struct vps_config **ret,
                       struct vps_error *err)
{
    json_t *list = json_object_get(cfg, "services");
    int r;

    if (!json_is_array(list)) {
        if (json_object_set_new(cfg, "services", json_array()) < 0)
            return vps_error_errno(err, ENOMEM, "build the config");
        list = json_object_get(cfg, "services");
    }
    if (json_array_insert(list, at, svc) < 0)
        return vps_error_errno(err, ENOMEM, "build the config");
    r = vps_config_from_json(cfg, ret, err);
    (void) json_array_remove(list, at);
    if (r < 0)
        body_relative_path(err, at);
    return r;
}

/* Builds the new config with svc at index at of the other services in cfg. It is validated
 * with svc last first: a clash with another service is then always reported on svc's own
 * fields, with paths relative to the request's body. */
static int build_config(json_t *cfg, json_t *svc, size_t at, struct vps_config **ret,
                        struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *probe = NULL;
    size_t last = json_array_size(json_object_get(cfg, "services"));

    if (config_with(cfg, svc, last, &probe, err) < 0)
        return -1;
    if (at == last) {
        *ret = TAKE_PTR(probe);
        return 0;
    }
    return config_with(cfg, svc, at, ret, err);
}

/* What a body may not carry: "status" is vpsd's (a GET answer sent back as it came). */
static int check_body(const json_t *body, struct vps_error *err)
{
    if (json_object_get(body, "status"))
        return vps_error_set(err, VPS_ERR_INVALID, "status: cannot be set, it is vpsd's");
    return 0;
}

/* start and stop take no parameters (yet): the body is empty or {}. */
static int check_no_fields(const json_t *body, struct vps_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *) body, key, v)
    {
        return vps_error_set(err, VPS_ERR_INVALID, "%.64s: unknown field", key);
    }
    return 0;
}

int api_service_list(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    json_t *list = NULL;

    if (api_load_vps(r, &c, err) < 0 || services_json(r, c, &list, err) < 0)
        return -1;
    return reply_json(r, 200, json_pack("{s:o}", "services", list));
}

int api_service_get(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    size_t i;

    if (load_service(r, &c, &i, err) < 0)
        return -1;
    return reply_service(r, 200, c, i, err);
}

int api_service_add(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL, *n = NULL;
    cleanup_json json_t *cfg = NULL;
    const char *name = json_string_value(json_object_get(r->body, "name"));
    char loc[256];
    ssize_t i;

    if (api_load_vps(r, &c, err) < 0 || check_body(r->body, err) < 0)
        return -1;
    /* Before the config is built, which would call the name "listed twice". */
    if (name && find_service(c, name) >= 0)
        return vps_error_set(err, VPS_ERR_EXISTS, "service '%s' of vps '%s' already exists", name,
                             c->name);
    if (c->n_services >= VPS_MAX_SERVICES)
        return vps_error_set(err, VPS_ERR_INVALID, "vps '%s' has %d services, the most allowed",
                             c->name, VPS_MAX_SERVICES);
    if (vps_config_to_json(c, &cfg, err) < 0 ||
        build_config(cfg, r->body, c->n_services, &n, err) < 0 ||
        commit(r, c, n, c->n_services, err) < 0)
        return -1;
    i = find_service(n, name);
    if (i < 0) /* not reached: the new config has it */
        return vps_error_set(err, VPS_ERR_SYSTEM, "service '%s' went missing", name);
    (void) snprintf(loc, sizeof loc, "/v1/vps/%s/services/%s", n->name, name);
    reply_header(r, "Location", loc);
    return reply_service(r, 201, n, (size_t) i, err);
}

int api_service_patch(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL, *n = NULL;
    cleanup_json json_t *cfg = NULL, *merged = NULL;
    json_t *list, *v;
    size_t i;

    if (load_service(r, &c, &i, err) < 0 || check_body(r->body, err) < 0)
        return -1;
    /* Sending the current name back (a panel PATCHing a whole object) is harmless. */
    v = json_object_get(r->body, "name");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), c->services[i].name) != 0))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "name: cannot be changed; add a service of the new name and remove "
                             "this one");
    if (vps_config_to_json(c, &cfg, err) < 0)
        return -1;
    list = json_object_get(cfg, "services");
    if (vps_json_merge_patch(json_array_get(list, i), r->body, &merged, err) < 0)
        return -1;
    if (json_array_remove(list, i) < 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vps '%s': services do not match the config",
                             c->name);
    if (build_config(cfg, merged, i, &n, err) < 0 || commit(r, c, n, i, err) < 0)
        return -1;
    return reply_service(r, 200, n, i, err);
}

int api_service_delete(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL, *n = NULL;
    cleanup_json json_t *cfg = NULL;
    size_t i;

    /* What runs of it is stopped by the commit: the activator stops a service that is no
     * longer configured (service_stopped, reason "removed"), and only once it is saved. */
    if (load_service(r, &c, &i, err) < 0)
        return -1;
    if (vps_config_to_json(c, &cfg, err) < 0)
        return -1;
    if (json_array_remove(json_object_get(cfg, "services"), i) < 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vps '%s': services do not match the config",
                             c->name);
    if (vps_config_from_json(cfg, &n, err) < 0 || api_vps_commit(r, c, n, err) < 0)
        return -1;
    return reply_json(r, 200, json_pack("{s:s}", "deleted", c->services[i].name));
}

int api_service_start(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    size_t i;

    if (check_no_fields(r->body, err) < 0 || load_service(r, &c, &i, err) < 0 ||
        activator_service_start(r->d->act, c, c->services[i].name, err) < 0)
        return -1;
    return reply_service(r, 200, c, i, err);
}

int api_service_stop(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    size_t i;

    if (check_no_fields(r->body, err) < 0 || load_service(r, &c, &i, err) < 0 ||
        activator_service_stop(r->d->act, c->name, c->services[i].name, err) < 0)
        return -1;
    return reply_service(r, 200, c, i, err);
}

/* GET .../services/{service}/log[?bytes=N]: the end of the service's log as text/plain, at
 * most N bytes (default 64 KiB, at most 1 MiB); empty while it has written nothing. */
int api_service_log(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    const char *q = request_query(r, "bytes");
    uint64_t want = 64 * 1024;
    char path[2 * VPS_NAME_MAX + 32];
    cleanup_close int fd = -1;
    cleanup_free char *buf = NULL;
    struct MHD_Response *resp;
    struct stat st;
    size_t i, n = 0;

    if (load_service(r, &c, &i, err) < 0)
        return -1;
    if (q) {
        char *end;
        errno = 0;
        want = strtoull(q, &end, 10);
        if (!*q || !isdigit((unsigned char) q[0]) || *end || errno || want == 0 ||
            want > 1024 * 1024)
            return vps_error_set(err, VPS_ERR_INVALID, "bytes: expected 1..1048576, got '%.32s'",
                                 q);
    }
    (void) snprintf(path, sizeof path, "%s/services/%s.log", c->name, c->services[i].name);
    fd = openat(r->d->run_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno != ENOENT)
        return vps_error_errno(err, errno, "open the log of service '%s'", c->services[i].name);
    if (fd >= 0) {
        if (fstat(fd, &st) < 0)
            return vps_error_errno(err, errno, "stat the log");
        n = (uint64_t) st.st_size < want ? (size_t) st.st_size : (size_t) want;
        if (!(buf = malloc(n ? n : 1)))
            return vps_error_errno(err, ENOMEM, "log");
        ssize_t got = pread(fd, buf, n, st.st_size - (off_t) n);
        if (got < 0)
            return vps_error_errno(err, errno, "read the log");
        n = (size_t) got;
    }
    resp = MHD_create_response_from_buffer(n, buf ? buf : (char *) "", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return vps_error_set(err, VPS_ERR_SYSTEM, "log response");
    (void) MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    return reply_response(r, 200, resp);
}
