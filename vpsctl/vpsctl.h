/* What every vpsctl command shares: the global options, option parsing with the options
 * every command accepts, usage errors, and the entry point of each command. A command maps
 * its argv to one API request and the answer to a table or JSON (output.h). */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "vps-build-config.h"
#include "vps/client.h"
#include "vps/error.h"

struct vpsctl {
    const char *socket_path;
    bool json;           /* print the raw answer instead of a table */
    bool no_wait;        /* long work: print the operation and return at once */
    const char *command; /* for usage hints: "create", "template import" */
    bool usage_error;    /* the failure is bad usage: point at --help */
    int exit_status;     /* on success: vpsctl's exit status (exec: the command's), 0 else */
};

/* Option values of the options every command accepts, above any character. */
enum {
    OPT_JSON = 0x100,
    OPT_SOCKET,
    OPT_NO_WAIT,
    OPT_COMMAND_FIRST, /* a command's own long-only options start here */
};

#define COMMON_OPTIONS                                                                             \
    {"json", no_argument, NULL, OPT_JSON}, {"socket", required_argument, NULL, OPT_SOCKET},        \
        {"no-wait", no_argument, NULL, OPT_NO_WAIT},                                               \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

#define COMMON_USAGE                                                                               \
    "  --json           print the API's answer as JSON\n"                                          \
    "  --socket PATH    vpsd's socket (default: $VPS_SOCKET or " VPS_SOCKET_PATH ")\n"             \
    "  -h, --help       show this help\n"

/* Handles one of a command's own options (c is getopt_long's return value). */
typedef int (*vpsctl_option_fn)(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                                struct vps_error *err);

/* Parses argv (argv[0] is the command's name) with getopt_long. The common options are
 * handled here, the command's own by fn (may be NULL when there are none); unknown options
 * and missing arguments are usage errors. Returns 0 with the index of the first operand in
 * *ret_optind, 1 if --help printed usage (the command then succeeds), -1 on error. */
int vpsctl_parse_options(struct vpsctl *ctx, int argc, char **argv, const char *shortopts,
                         const struct option *longopts, vpsctl_option_fn fn, void *userdata,
                         const char *usage, int *ret_optind, struct vps_error *err);

/* Checks that the number of operands is in [min, max]; a usage error naming synopsis
 * ("NAME FILE") otherwise. */
int vpsctl_expect_operands(struct vpsctl *ctx, int n, int min, int max, const char *synopsis,
                           struct vps_error *err);

/* Fills err (VPS_ERR_INVALID) and marks the failure as bad usage, so main() adds a hint and
 * exits 2. Returns -1. */
int vpsctl_usage_error(struct vpsctl *ctx, struct vps_error *err, const char *fmt, ...)
    _printf_(3, 4);

/* A list command: GET path, then a table of the array under key with one row per element
 * (row), or one name per line with --names (name), or the raw answer with --json. */
struct table;
struct vpsctl_list {
    const char *path; /* "/v1/vps" */
    const char *key;  /* "vps" */
    const char *const *headers;
    size_t n_headers;
    const char *usage;
    int (*row)(struct table *t, const json_t *elem, struct vps_error *err);
    const char *(*name)(const json_t *elem);
};
int vpsctl_list(struct vpsctl *ctx, int argc, char **argv, const struct vpsctl_list *l,
                struct vps_error *err);

/* A client for ctx->socket_path, owned by the caller. */
int vpsctl_client(const struct vpsctl *ctx, struct vps_client **ret, struct vps_error *err);

/* "/v1/vps/web%2F1": prefix followed by the escaped name and suffix (may be ""). The result is
 * owned by the caller. */
int vpsctl_path(const char *prefix, const char *name, const char *suffix, char **ret,
                struct vps_error *err);

/* The commands: argv[0] is the command's own name. Each returns 0 or -1 with err filled. */
int cmd_create(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_list(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_show(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_set(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_destroy(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_template(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
/* The match rules of a service as "tls_sni=panel.example@198.18.0.1:443" or
 * "default@198.18.0.1:80", sep between; what fits in buf (cmd-service.c). */
const char *vpsctl_match_text(const json_t *rules, const char *sep, char *buf, size_t size);
int cmd_service(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_host(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_events(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_start(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_stop(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_restart(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_kill(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_status(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
/* exec and enter set ctx->exit_status to the command's status. */
int cmd_exec(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
int cmd_enter(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
