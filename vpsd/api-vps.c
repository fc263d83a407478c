/* /v1/vps: create, list, show, change and destroy VPS definitions. Lifecycle (start, stop,
 * exec) comes with the isolation runtime. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "activator.h"
#include "api.h"
#include "events.h"
#include "front.h"
#include "network.h"
#include "supervisor.h"
#include "vps/json.h"
#include "vps/template.h"

json_t *api_vps_json(struct request *r, const struct vps_config *c, struct vps_error *err)
{
    json_t *cfg;

    if (vps_config_to_json(c, &cfg, err) < 0)
        return NULL;
    return json_pack("{s:o, s:o}", "config", cfg, "status",
                     supervisor_status_json(r->d->sup, c->name));
}

static int reply_vps(struct request *r, unsigned status, const struct vps_config *c,
                     struct vps_error *err)
{
    json_t *j = api_vps_json(r, c, err);

    if (!j)
        return -1;
    return reply_json(r, status, j);
}

static void publish(struct request *r, const char *type, const struct vps_config *c,
                    const char *verb)
{
    char line[256];

    (void) snprintf(line, sizeof line, "vps '%s': %s by uid %u", c->name, verb,
                    (unsigned) r->caller.uid);
    events_publish(r->d->events, type, c->name, NULL, c->owners, c->n_owners, line);
}

bool api_caller_owns_any(struct request *r)
{
    struct vps_strv names = {0};
    struct vps_error e = {0};
    bool owns = false;

    if (vps_store_list(&r->d->store, &names, &e) < 0)
        return false;
    for (size_t i = 0; i < names.n && !owns; i++) {
        cleanup_(vps_config_freep) struct vps_config *c = NULL;
        owns = vps_store_load(&r->d->store, names.v[i], &c, &e) == 0 &&
               vps_config_has_owner(c, r->caller.uid);
    }
    vps_strv_free(&names);
    return owns;
}

int api_vps_list(struct request *r, struct vps_error *err)
{
    struct vps_strv names = {0};
    cleanup_json json_t *list = json_array();

    if (!list)
        return vps_error_errno(err, ENOMEM, "list");
    if (vps_store_list(&r->d->store, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.n; i++) {
        cleanup_(vps_config_freep) struct vps_config *c = NULL;
        struct vps_error e = {0};

        /* One unreadable config must not hide every other VPS; it shows up on GET. */
        if (vps_store_load(&r->d->store, names.v[i], &c, &e) < 0)
            continue;
        if (!r->caller.admin && !vps_config_has_owner(c, r->caller.uid))
            continue;
        json_t *j = api_vps_json(r, c, &e);
        if (j)
            (void) json_array_append_new(list, j);
    }
    vps_strv_free(&names);
    if (!r->caller.admin && json_array_size(list) == 0)
        return vps_error_set(err, VPS_ERR_FORBIDDEN, "uid %u owns no vps and is not an admin",
                             (unsigned) r->caller.uid);
    return reply_json(r, 200, json_pack("{s:O}", "vps", list));
}

/* Fields only vpsd sets or that are fixed at creation. */
static int check_read_only(const json_t *body, const char *const *fields, size_t n,
                           struct vps_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_get(body, fields[i]))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: cannot be set", fields[i]);
    return 0;
}

static int open_template(struct request *r, const char *name, int *ret_fd, struct vps_error *err)
{
    if (vps_template_is_builtin(name) &&
        vps_template_ensure(r->d->templates_fd, name, r->d->opt.busybox_path, err) < 0)
        return -1;
    if (vps_template_open_rootfs(r->d->templates_fd, name, ret_fd, err) < 0) {
        if (err->code == VPS_ERR_NOT_FOUND) /* bad input, not a missing route */
            return vps_error_set(err, VPS_ERR_INVALID, "template: '%s' does not exist", name);
        return -1;
    }
    return 0;
}

/* A create that names no "mounts" gets the template's default ones (host-usr's: the host's
 * /usr, read-only), checked as if the request had them. */
static int template_mounts(struct request *r, struct vps_config *c, struct vps_error *err)
{
    cleanup_json json_t *mounts = NULL;

    if (json_object_get(r->body, "mounts"))
        return 0;
    if (vps_template_default_mounts(r->d->templates_fd, c->template_name, &mounts, err) < 0)
        return -1;
    if (mounts && vps_config_set_mounts(c, mounts, err) < 0)
        return vps_error_prefix(err, "template '%s'", c->template_name);
    return 0;
}

int api_vps_create(struct request *r, struct vps_error *err)
{
    static const char *const read_only[] = {"created_at"};
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    cleanup_close int tfd = -1;
    char ts[32], loc[128];

    if (check_read_only(r->body, read_only, ELEMENTSOF(read_only), err) < 0 ||
        vps_config_from_json(r->body, &c, err) < 0)
        return -1;
    events_timestamp(ts, sizeof ts);
    c->created_at = strdup(ts);
    if (!c->created_at)
        return vps_error_errno(err, ENOMEM, "create");
    if (front_check(r->d->front, c, err) < 0 || open_template(r, c->template_name, &tfd, err) < 0 ||
        template_mounts(r, c, err) < 0 ||
        vps_store_create(&r->d->store, c, tfd, r->d->rootfs_shift, err) < 0)
        return -1;
    /* Units for its services now, so a front can start a VPS that never ran; its listen
     * addresses are bound at its first start, which makes its network namespace. */
    activator_bind_vps(r->d->act, c);
    front_update_vps(r->d->front, c);
    publish(r, "vps_created", c, "created");
    (void) snprintf(loc, sizeof loc, "/v1/vps/%s", c->name);
    reply_header(r, "Location", loc);
    return reply_vps(r, 201, c, err);
}

int api_load_vps(struct request *r, struct vps_config **ret, struct vps_error *err)
{
    const char *name = r->args[0];

    if (!r->caller.admin && !vps_name_is_valid(name))
        return vps_error_set(err, VPS_ERR_FORBIDDEN, "uid %u may not access vps '%.64s'",
                             (unsigned) r->caller.uid, name);
    if (vps_store_load(&r->d->store, name, ret, err) < 0) {
        if (!r->caller.admin)
            return vps_error_set(err, VPS_ERR_FORBIDDEN, "uid %u may not access vps '%.64s'",
                                 (unsigned) r->caller.uid, name);
        return -1;
    }
    if (request_check_vps_access(r, *ret, err) < 0) {
        vps_config_free(*ret);
        *ret = NULL;
        return -1;
    }
    return 0;
}

int api_vps_get(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    if (api_load_vps(r, &c, err) < 0)
        return -1;
    return reply_vps(r, 200, c, err);
}

static int check_patch(const json_t *patch, const struct vps_config *c, struct vps_error *err)
{
    static const char *const fixed[] = {"name", "created_at", "template"};
    const json_t *v;

    for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
        if (!(v = json_object_get(patch, fixed[i])))
            continue;
        const char *cur = i == 0 ? c->name : i == 1 ? c->created_at : c->template_name;
        /* Sending the current value back (a panel PATCHing a whole object) is harmless. */
        if (!json_is_string(v) || !cur || strcmp(json_string_value(v), cur) != 0)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: cannot be changed", fixed[i]);
    }
    return 0;
}

int api_vps_patch(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL, *n = NULL;
    cleanup_json json_t *cur = NULL, *merged = NULL;

    if (api_load_vps(r, &c, err) < 0 || check_patch(r->body, c, err) < 0 ||
        vps_config_to_json(c, &cur, err) < 0 ||
        vps_json_merge_patch(cur, r->body, &merged, err) < 0)
        return -1;
    /* A patch that resets the hostname falls back to the name, as at create. */
    if (json_is_null(json_object_get(r->body, "hostname")))
        (void) json_object_del(merged, "hostname");
    if (vps_config_from_json(merged, &n, err) < 0 || api_vps_commit(r, c, n, err) < 0)
        return -1;
    return reply_vps(r, 200, n, err);
}

int api_vps_commit(struct request *r, const struct vps_config *old, const struct vps_config *n,
                   struct vps_error *err)
{
    if (front_check(r->d->front, n, err) < 0 || vps_store_save(&r->d->store, n, err) < 0)
        return -1;
    /* Saved: services and fronts follow the saved config whatever fails below, so what
     * vpsd holds never drifts from what is on disk. Limits, addresses and services change
     * live; hostname and nameservers at the next start. */
    activator_bind_vps(r->d->act, n);
    front_update_vps(r->d->front, n);
    publish(r, "vps_changed", n, "changed");
    if (supervisor_apply_limits(r->d->sup, n, err) < 0 || network_vps_apply(r->d, old, n, err) < 0)
        return -1;
    return 0;
}

int api_vps_delete(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    if (api_load_vps(r, &c, err) < 0)
        return -1;
    if (supervisor_state(r->d->sup, c->name) != VPS_RUN_STOPPED)
        return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is running: stop it first", c->name);
    if (vps_store_destroy(&r->d->store, c->name, err) < 0)
        return -1;
    front_remove_vps(r->d->front, c->name);
    supervisor_forget(r->d->sup, c->name);
    publish(r, "vps_deleted", c, "destroyed");
    return reply_json(r, 200, json_pack("{s:s}", "deleted", c->name));
}
