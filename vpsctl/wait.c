/* Waiting for a long operation: long polls on /v1/operations/{id} and the progress bar drawn
 * on a terminal. Starting the operation is the command's; this file only follows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "vps/units.h"
#include "vpsctl.h"
#include "wait.h"

#define BAR_WIDTH   30
#define POLL_TTY_MS 500   /* how often the bar moves */
#define POLL_MAX_MS 60000 /* the API's longest ?wait_ms */
/* A daemon that ignores wait_ms answers at once; this keeps us from spinning against it. */
#define POLL_MIN_GAP_MS 100

static uint64_t now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static size_t term_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void bar_draw(const json_t *op)
{
    static const char hashes[] = "##############################";
    const char *msg = output_str(op, "message");
    json_int_t pct = output_int(op, "progress_percent", 0);
    char line[512], text[256];
    int filled;
    size_t width = term_width();

    pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    filled = (int) (pct * BAR_WIDTH / 100);
    (void) snprintf(text, sizeof text, "%s", msg ? msg : "");
    output_sanitize(text);
    (void) snprintf(line, sizeof line, "[%.*s%*s] %3d%% %s", filled, hashes, BAR_WIDTH - filled, "",
                    (int) pct, text);
    /* One line only: a wrapped line could not be redrawn in place. */
    if (width - 1 < sizeof line)
        line[width - 1] = '\0';
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

static void bar_clear(void)
{
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

static bool is_running(const json_t *op)
{
    const char *state = output_str(op, "state");
    return state && strcmp(state, "succeeded") != 0 && strcmp(state, "failed") != 0;
}

static void pace(uint64_t started_ms)
{
    uint64_t spent = now_ms() - started_ms;

    if (spent < POLL_MIN_GAP_MS) {
        struct timespec ts = {.tv_nsec = (long) (POLL_MIN_GAP_MS - spent) * 1000000};
        (void) nanosleep(&ts, NULL);
    }
}

/* One long poll; replaces *op with the newer state. */
static int poll_once(struct vps_client *c, const char *base, bool tty, uint64_t start_ms,
                     uint64_t timeout_ms, json_t **op, struct vps_error *err)
{
    cleanup_free char *path = NULL;
    uint64_t wait_ms = tty ? POLL_TTY_MS : POLL_MAX_MS, t0 = now_ms();
    char dur[VPS_UNITS_FORMAT_MAX];
    json_t *next = NULL;

    if (timeout_ms > 0) {
        if (t0 - start_ms >= timeout_ms)
            return vps_error_set(err, VPS_ERR_TIMEOUT, "operation '%s' is still running after %s",
                                 output_str(*op, "id"),
                                 vps_format_duration(timeout_ms, dur, sizeof dur));
        if (timeout_ms - (t0 - start_ms) < wait_ms)
            wait_ms = timeout_ms - (t0 - start_ms);
    }
    if (asprintf(&path, "%s?wait_ms=%" PRIu64, base, wait_ms) < 0) {
        path = NULL;
        return vps_error_errno(err, ENOMEM, "build the request path");
    }
    if (vps_client_request(c, "GET", path, NULL, NULL, &next, err) < 0)
        return -1;
    json_decref(*op);
    *op = next;
    if (is_running(next))
        pace(t0);
    return 0;
}

static int finish(json_t **op, json_t **ret_final, struct vps_error *err)
{
    const char *state = output_str(*op, "state");
    const json_t *e = json_object_get(*op, "error");
    const char *code = output_str(e, "code"), *msg = output_str(e, "message");

    if (state && strcmp(state, "succeeded") == 0) {
        if (ret_final)
            *ret_final = TAKE_PTR(*op);
        return 0;
    }
    if (!state || strcmp(state, "failed") != 0)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd answered an operation without a state");
    /* vpsd's message already names what failed; adding context here would repeat it. */
    return vps_error_set(err, code ? vps_error_code_from_name(code) : VPS_ERR_SYSTEM, "%s",
                         msg ? msg : "the operation failed without a message");
}

int wait_operation(struct vps_client *c, const json_t *op, uint64_t timeout_ms, json_t **ret_final,
                   struct vps_error *err)
{
    cleanup_json json_t *cur = json_incref((json_t *) op);
    cleanup_free char *base = NULL;
    const char *id = output_str(op, "id");
    bool tty = isatty(STDERR_FILENO);
    uint64_t start_ms = now_ms();

    if (!id)
        return vps_error_set(err, VPS_ERR_SYSTEM, "vpsd answered without an operation id");
    if (vpsctl_path("/v1/operations/", id, "", &base, err) < 0)
        return -1;
    while (is_running(cur)) {
        if (tty)
            bar_draw(cur);
        if (poll_once(c, base, tty, start_ms, timeout_ms, &cur, err) < 0) {
            if (tty)
                bar_clear();
            return -1;
        }
    }
    if (tty)
        bar_clear();
    return finish(&cur, ret_final, err);
}
