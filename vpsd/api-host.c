/* /v1/host, /v1/events and /v1/operations: the daemon's view of itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "api.h"
#include "events.h"
#include "front.h"
#include "loop.h"
#include "operations.h"
#include "vps-build-config.h"
#include "vps/cgroup.h"
#include "vps/template.h"

int api_host_get(struct request *r, struct vps_error *err)
{
    struct vps_strv names = {0};
    json_t *templates = NULL;
    struct utsname u;
    size_t n_vps;

    if (uname(&u) < 0)
        return vps_error_errno(err, errno, "uname");
    if (vps_store_list(&r->d->store, &names, err) < 0)
        return -1;
    n_vps = names.n;
    vps_strv_free(&names);
    if (vps_template_list(r->d->templates_fd, &templates, err) < 0)
        return -1;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:I, s:o}", "version", VPS_VERSION,
        "hostname", u.nodename, "kernel", u.release, "cgroup_mode",
        vps_cgroup_mode_name(vps_cgroup_detect_mode("/sys/fs/cgroup")), "state_dir",
        r->d->opt.state_dir, "run_dir", r->d->opt.run_dir, "counts", "vps", (json_int_t) n_vps,
        "templates", (json_int_t) json_array_size(templates), "operations_running",
        (json_int_t) ops_running(r->d->ops), "uptime_ms",
        (json_int_t) (loop_now_ms() - r->d->started_ms), "fronts", front_status(r->d->front));
    json_decref(templates);
    return reply_json(r, 200, j);
}

static int parse_u64(const char *s, const char *what, uint64_t max, uint64_t *ret,
                     struct vps_error *err)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v > max)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an integer 0..%llu, got '%.32s'",
                             what, (unsigned long long) max, s);
    *ret = v;
    return 0;
}

int api_events_get(struct request *r, struct vps_error *err)
{
    const char *since = request_query(r, "since");
    uint64_t seq = 0;

    if (since && parse_u64(since, "since", UINT64_MAX / 2, &seq, err) < 0)
        return -1;
    /* Owners follow their own VPSes' events; a caller who owns none has nothing here. */
    if (!r->caller.admin && !api_caller_owns_any(r))
        return vps_error_set(err, VPS_ERR_FORBIDDEN, "uid %u owns no vps and is not an admin",
                             (unsigned) r->caller.uid);
    return events_stream(r->d->events, r, seq, since != NULL, err);
}

int api_operation_list(struct request *r, struct vps_error *err)
{
    (void) err;
    return reply_json(r, 200, ops_to_json(r->d->ops));
}

int api_operation_get(struct request *r, struct vps_error *err)
{
    const char *wait = request_query(r, "wait_ms");
    struct op *op = ops_find(r->d->ops, r->args[0]);
    uint64_t wait_ms = 0, now = loop_now_ms();

    if (!op)
        return vps_error_set(err, VPS_ERR_NOT_FOUND, "operation '%.64s' does not exist",
                             r->args[0]);
    if (wait && parse_u64(wait, "wait_ms", 60000, &wait_ms, err) < 0)
        return -1;
    if (!r->resumed && wait_ms)
        r->deadline_ms = now + wait_ms;
    /* Any finished operation wakes every waiter; those whose operation still runs and whose
     * time is not up go back to waiting. */
    if (op_is_running(op) && r->deadline_ms > now && !r->d->stopping) {
        request_suspend(r, r->deadline_ms);
        return 0;
    }
    return reply_json(r, 200, op_to_json(op));
}
