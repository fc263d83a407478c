/* The host commands: host (vpsd and the machine it runs on) and events (vpsd's event
 * stream, one line per event, until interrupted). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "vps/units.h"
#include "vpsctl.h"

enum {
    OPT_SINCE = OPT_COMMAND_FIRST,
};

static const char host_usage[] =
    "Usage: vpsctl host [OPTIONS]\n\nShow the host and vpsd.\n\nOptions:\n" COMMON_USAGE;
static const char events_usage[] =
    "Usage: vpsctl events [OPTIONS]\n\n"
    "Print vpsd's events as they happen, one per line, until interrupted.\n\nOptions:\n"
    "  --since SEQ      first replay the events after SEQ that vpsd still holds\n"
    "  --json           print each event as one line of JSON\n"
    "  --socket PATH    vpsd's socket (default: $VPS_SOCKET or " VPS_SOCKET_PATH ")\n"
    "  -h, --help       show this help\n";

static void show_host(const json_t *h)
{
    const json_t *counts = json_object_get(h, "counts");
    char up[64];

    output_field("version", "%s", output_str(h, "version") ?: "?");
    output_field("hostname", "%s", output_str(h, "hostname") ?: "?");
    output_field("kernel", "%s", output_str(h, "kernel") ?: "?");
    output_field("cgroup mode", "%s", output_str(h, "cgroup_mode") ?: "?");
    output_field("state dir", "%s", output_str(h, "state_dir") ?: "?");
    output_field("run dir", "%s", output_str(h, "run_dir") ?: "?");
    output_field("vpses", "%" JSON_INTEGER_FORMAT, output_int(counts, "vps", 0));
    output_field("templates", "%" JSON_INTEGER_FORMAT, output_int(counts, "templates", 0));
    output_field("operations", "%" JSON_INTEGER_FORMAT " running",
                 output_int(counts, "operations_running", 0));
    output_field("uptime", "%s",
                 output_uptime((uint64_t) output_int(h, "uptime_ms", 0), up, sizeof up));
}

int cmd_host(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *answer = NULL;
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, NULL, NULL, host_usage, &first, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 0, 0, "", err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "GET", "/v1/host", NULL, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    else
        show_host(answer);
    return 0;
}

/* One line of text per event: time, type, then what it is about. */
static void print_event(const json_t *ev)
{
    const json_t *op = json_object_get(ev, "operation");
    const char *time = output_str(ev, "time") ?: "-", *type = output_str(ev, "type") ?: "?";
    char line[1024];

    if (op) {
        json_int_t pct = output_int(op, "progress_percent", -1);
        const char *msg = output_str(op, "message");
        char pct_text[16] = "";
        if (pct >= 0)
            (void) snprintf(pct_text, sizeof pct_text, " %" JSON_INTEGER_FORMAT "%%", pct);
        (void) snprintf(line, sizeof line, "%s %s %s %s '%s' %s%s%s%s", time, type,
                        output_str(op, "id") ?: "?", output_str(op, "kind") ?: "?",
                        output_str(op, "target") ?: "", output_str(op, "state") ?: "?", pct_text,
                        msg && *msg ? " " : "", msg ?: "");
    } else {
        const char *about = output_str(ev, "vps") ?: output_str(ev, "template");
        (void) snprintf(line, sizeof line, "%s %s%s%s", time, type, about ? " " : "", about ?: "");
    }
    printf("%s\n", output_sanitize(line));
}

static int on_event(const json_t *ev, void *userdata, struct vps_error *err)
{
    const struct vpsctl *ctx = userdata;

    (void) err;
    if (ctx->json) {
        (void) json_dumpf(ev, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        print_event(ev);
    }
    /* Whoever reads a pipe from us wants each event when it happens, not a buffer later. */
    fflush(stdout);
    return 0;
}

static int events_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                         struct vps_error *err)
{
    (void) ctx, (void) c;
    return vps_parse_uint(arg, "--since", 0, INT64_MAX, userdata, err); /* OPT_SINCE */
}

int cmd_events(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        {"since", required_argument, NULL, OPT_SINCE}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    uint64_t since = UINT64_MAX; /* none */
    char path[64] = "/v1/events";
    int r, first;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, events_option, &since, events_usage,
                             &first, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 0, 0, "", err) < 0)
        return -1;
    if (since != UINT64_MAX)
        (void) snprintf(path, sizeof path, "/v1/events?since=%" PRIu64, since);
    if (vpsctl_client(ctx, &c, err) < 0 || vps_client_stream(c, path, on_event, ctx, err) < 0)
        return -1;
    /* The stream only ends when vpsd goes away; a follower that stops silently would hide
     * that from whoever relies on it. */
    return vps_error_set(err, VPS_ERR_UNAVAILABLE, "vpsd at '%s' closed the event stream",
                         ctx->socket_path);
}
