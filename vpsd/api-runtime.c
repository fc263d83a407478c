/* /v1/vps/{name}/start, stop, restart, kill and stats: a VPS's lifecycle as the API offers
 * it. Requests that wait for a VPS to stop suspend until the supervisor wakes them. Running
 * commands in a VPS is api-exec.c's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "api.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"

static int reply_current(struct request *r, const struct vps_config *c, struct vps_error *err)
{
    json_t *j = api_vps_json(r, c, err);
    return j ? reply_json(r, 200, j) : -1;
}

static int get_u64(const json_t *body, const char *key, uint64_t max, uint64_t def, uint64_t *ret,
                   struct vps_error *err)
{
    const json_t *v = json_object_get(body, key);

    *ret = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t) json_integer_value(v) > max)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an integer 0..%llu", key,
                             (unsigned long long) max);
    *ret = (uint64_t) json_integer_value(v);
    return 0;
}

static int check_fields(const json_t *body, const char *const *allowed, size_t n,
                        struct vps_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *) body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: unknown field", key);
    }
    return 0;
}

int api_vps_start(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;

    if (check_fields(r->body, NULL, 0, err) < 0 || api_load_vps(r, &c, err) < 0 ||
        supervisor_start(r->d->sup, c, err) < 0)
        return -1;
    return reply_current(r, c, err);
}

/* Shared by stop, kill and restart: asks once, then waits (suspended) for the end. */
static int stop_and_wait(struct request *r, bool kill, bool then_start, struct vps_error *err)
{
    static const char *const fields[] = {"timeout_ms"};
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    uint64_t timeout_ms;
    enum vps_run_state st;

    if (check_fields(r->body, fields, kill ? 0 : 1, err) < 0 ||
        get_u64(r->body, "timeout_ms", 3600 * 1000, SUPERVISOR_STOP_TIMEOUT_MS, &timeout_ms, err) <
            0 ||
        api_load_vps(r, &c, err) < 0)
        return -1;
    st = supervisor_state(r->d->sup, c->name);
    if (!r->resumed) {
        if (st == VPS_RUN_STOPPED && !then_start)
            return vps_error_set(err, VPS_ERR_CONFLICT, "vps '%s' is not running", c->name);
        if (st != VPS_RUN_STOPPED && supervisor_stop(r->d->sup, c->name, timeout_ms, kill, err) < 0)
            return -1;
        /* The supervisor kills whatever is left when the timeout is up; the answer waits a
         * little longer than that for the kill to take effect. */
        r->deadline_ms = loop_now_ms() + timeout_ms + 10000;
        st = supervisor_state(r->d->sup, c->name);
    }
    if (st != VPS_RUN_STOPPED) {
        if (loop_now_ms() >= r->deadline_ms)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "vps '%s' did not stop", c->name);
        request_suspend(r, r->deadline_ms);
        return 0;
    }
    if (then_start && supervisor_start(r->d->sup, c, err) < 0)
        return -1;
    return reply_current(r, c, err);
}

int api_vps_stop(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, false, false, err);
}

int api_vps_kill(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, true, false, err);
}

int api_vps_restart(struct request *r, struct vps_error *err)
{
    return stop_and_wait(r, false, true, err);
}

int api_vps_stats(struct request *r, struct vps_error *err)
{
    cleanup_(vps_config_freep) struct vps_config *c = NULL;
    json_t *stats;

    if (api_load_vps(r, &c, err) < 0 || supervisor_stats(r->d->sup, c->name, &stats, err) < 0)
        return -1;
    return reply_json(r, 200, stats);
}
