/* The template commands: list, show, import (a tarball uploaded, then a long operation
 * followed until it ends), create (a debootstrap build, the same kind of operation), export
 * (a tarball downloaded) and remove. Building and checking templates is vpsd's; this file
 * moves the tarballs and shows the answers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "vps/units.h"
#include "vpsctl.h"
#include "wait.h"

enum {
    OPT_NAMES = OPT_COMMAND_FIRST,
    OPT_TIMEOUT,
    OPT_SUITE,
    OPT_MIRROR,
    OPT_VARIANT,
    OPT_INCLUDE,
    OPT_BUILD_TIMEOUT,
};

static const char template_usage[] =
    "Usage: vpsctl template COMMAND [ARGS...]\n\n"
    "Commands:\n"
    "  list               list templates\n"
    "  show NAME          show a template\n"
    "  import NAME FILE   import a root filesystem tarball (- for stdin)\n"
    "  create NAME        build a Debian template with debootstrap\n"
    "  export NAME FILE   export a template as a gzip-compressed tarball (- for stdout)\n"
    "  remove NAME        remove a template\n"
    "\nRun 'vpsctl template COMMAND --help' for a command's options.\n";

static const char list_usage[] = "Usage: vpsctl template list [OPTIONS]\n\nOptions:\n"
                                 "  --names          print only the names, one per line\n"
                                 "" COMMON_USAGE;
static const char show_usage[] = "Usage: vpsctl template show NAME [OPTIONS]\n\nOptions:\n"
                                 "" COMMON_USAGE;
static const char import_usage[] =
    "Usage: vpsctl template import NAME FILE [OPTIONS]\n\n"
    "Import a tar archive (plain, gzip, xz, zstd or bzip2) of a root filesystem as template\n"
    "NAME. FILE - reads standard input.\n\nOptions:\n"
    "  --no-wait        print the operation's id instead of waiting for it\n"
    "  --timeout TIME   give up waiting after TIME, like 10m (default: wait for ever)\n"
    "" COMMON_USAGE;
static const char create_usage[] =
    "Usage: vpsctl template create NAME [OPTIONS]\n\n"
    "Build template NAME with debootstrap on the host running vpsd. NAME debian-11,\n"
    "debian-12 or debian-13 (or one of them followed by -SOMETHING) picks the suite.\n\n"
    "Options:\n"
    "  --suite SUITE         bullseye, bookworm or trixie (default: from NAME)\n"
    "  --mirror URL          the Debian mirror (default: http://deb.debian.org/debian)\n"
    "  --variant VARIANT     minbase, buildd or - for debootstrap's default (default: minbase)\n"
    "  --include PKG,...     extra packages (may be repeated)\n"
    "  --build-timeout TIME  vpsd stops the build after TIME (default: 30m)\n"
    "  --no-wait             print the operation's id instead of waiting for it\n"
    "  --timeout TIME        give up waiting after TIME (default: wait for ever)\n"
    "" COMMON_USAGE;
static const char export_usage[] =
    "Usage: vpsctl template export NAME FILE [OPTIONS]\n\n"
    "Write template NAME as a gzip-compressed tar archive to FILE, or to standard output if\n"
    "FILE is -.\n\nOptions:\n" COMMON_USAGE;
static const char remove_usage[] = "Usage: vpsctl template remove NAME [OPTIONS]\n\nOptions:\n"
                                   "" COMMON_USAGE;

static const struct option plain_options[] = {COMMON_OPTIONS, {}};

/* Parses options without own ones and checks the operand count. */
static int parse_plain(struct vpsctl *ctx, int argc, char **argv, const char *usage, int n,
                       int *ret_first, struct vps_error *err)
{
    int r =
        vpsctl_parse_options(ctx, argc, argv, "", plain_options, NULL, NULL, usage, ret_first, err);
    if (r != 0)
        return r;
    return vpsctl_expect_operands(ctx, argc - *ret_first, n, n, n == 2 ? "NAME FILE" : "NAME", err);
}

static int add_template_row(struct table *t, const json_t *tpl, struct vps_error *err)
{
    char size[VPS_UNITS_FORMAT_MAX];
    json_int_t bytes = output_int(tpl, "size_bytes", -1);
    const char *cells[] = {
        output_str(tpl, "name"),
        bytes >= 0 ? vps_format_size((uint64_t) bytes, size, sizeof size) : "",
        output_str(tpl, "source"),
        output_str(tpl, "created_at"),
    };
    return table_add_row(t, cells, err);
}

static const char *template_name(const json_t *tpl)
{
    return output_str(tpl, "name");
}

static int template_list(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const char *const headers[] = {"NAME", "SIZE", "SOURCE", "CREATED"};
    static const struct vpsctl_list l = {.path = "/v1/templates",
                                         .key = "templates",
                                         .headers = headers,
                                         .n_headers = ELEMENTSOF(headers),
                                         .usage = list_usage,
                                         .row = add_template_row,
                                         .name = template_name};

    return vpsctl_list(ctx, argc, argv, &l, err);
}

static int template_show(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *answer = NULL;
    cleanup_free char *path = NULL;
    char size[VPS_UNITS_FORMAT_MAX];
    json_int_t bytes;
    int r, first;

    if ((r = parse_plain(ctx, argc, argv, show_usage, 1, &first, err)) != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_path("/v1/templates/", argv[first], "", &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "GET", path, NULL, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json) {
        output_json(answer);
        return 0;
    }
    bytes = output_int(answer, "size_bytes", -1);
    output_field("name", "%s", output_str(answer, "name") ?: "?");
    output_field("source", "%s", output_str(answer, "source") ?: "-");
    output_field("size", "%s",
                 bytes >= 0 ? vps_format_size((uint64_t) bytes, size, sizeof size) : "-");
    output_field("created", "%s", output_str(answer, "created_at") ?: "-");
    /* Where a debootstrap build came from. */
    if (output_str(answer, "suite"))
        output_field("suite", "%s", output_str(answer, "suite"));
    if (output_str(answer, "mirror"))
        output_field("mirror", "%s", output_str(answer, "mirror"));
    if (output_str(answer, "variant"))
        output_field("variant", "%s", output_str(answer, "variant"));
    return 0;
}

static int import_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                         struct vps_error *err)
{
    (void) ctx, (void) c;
    return vps_parse_duration(arg, "--timeout", userdata, err); /* OPT_TIMEOUT */
}

static int open_input(const char *file, int *ret_fd, struct vps_error *err)
{
    if (strcmp(file, "-") == 0) {
        if (isatty(STDIN_FILENO))
            return vps_error_set(err, VPS_ERR_INVALID,
                                 "refusing to read a tarball from a terminal");
        *ret_fd = STDIN_FILENO;
        return 0;
    }
    *ret_fd = open(file, O_RDONLY | O_CLOEXEC);
    if (*ret_fd < 0)
        return vps_error_errno(err, errno, "open '%s'", file);
    return 0;
}

/* Prints what import or create ended with: the operation (--json) or, not waiting, its id. */
static void print_operation(const struct vpsctl *ctx, const json_t *op)
{
    if (ctx->json)
        output_json(op);
    else if (ctx->no_wait)
        printf("%s\n", output_str(op, "id") ?: "?");
}

static int template_import(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, COMMON_OPTIONS, {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *op = NULL, *final = NULL;
    cleanup_free char *path = NULL;
    cleanup_close int owned_fd = -1;
    uint64_t timeout_ms = 0;
    int r, first, fd = -1;

    r = vpsctl_parse_options(ctx, argc, argv, "", options, import_option, &timeout_ms, import_usage,
                             &first, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_expect_operands(ctx, argc - first, 2, 2, "NAME FILE", err) < 0 ||
        vpsctl_path("/v1/templates?name=", argv[first], "", &path, err) < 0 ||
        open_input(argv[first + 1], &fd, err) < 0)
        return -1;
    if (fd != STDIN_FILENO)
        owned_fd = fd;
    if (vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_upload(c, path, "application/x-tar", fd, NULL, &op, err) < 0)
        return -1;
    if (ctx->no_wait) {
        print_operation(ctx, op);
        return 0;
    }
    if (wait_operation(c, op, timeout_ms, &final, err) < 0)
        return -1;
    print_operation(ctx, final);
    return 0;
}

/* The request body of create, filled option by option. */
struct create_args {
    json_t *body;
    json_t *include;
    uint64_t timeout_ms; /* of the wait */
};

/* Each comma-separated name of one --include; empty ones go along for vpsd to refuse. */
static int add_includes(json_t *include, const char *arg, struct vps_error *err)
{
    for (const char *p = arg;; p++) {
        size_t len = strcspn(p, ",");
        if (json_array_append_new(include, json_stringn(p, len)) < 0)
            return vps_error_errno(err, ENOMEM, "--include");
        p += len;
        if (*p == '\0')
            return 0;
    }
}

static int create_option(struct vpsctl *ctx, int c, const char *arg, void *userdata,
                         struct vps_error *err)
{
    static const char *const keys[] = {
        [OPT_SUITE - OPT_SUITE] = "suite",
        [OPT_MIRROR - OPT_SUITE] = "mirror",
        [OPT_VARIANT - OPT_SUITE] = "variant",
    };
    struct create_args *a = userdata;
    uint64_t ms;

    (void) ctx;
    switch (c) {
    case OPT_TIMEOUT:
        return vps_parse_duration(arg, "--timeout", &a->timeout_ms, err);
    case OPT_BUILD_TIMEOUT:
        if (vps_parse_duration(arg, "--build-timeout", &ms, err) < 0)
            return -1;
        if (json_object_set_new(a->body, "timeout_ms", json_integer((json_int_t) ms)) < 0)
            return vps_error_errno(err, ENOMEM, "--build-timeout");
        return 0;
    case OPT_INCLUDE:
        return add_includes(a->include, arg, err);
    default:
        if (json_object_set_new(a->body, keys[c - OPT_SUITE], json_string(arg)) < 0)
            return vps_error_set(err, VPS_ERR_INVALID, "--%s: not valid UTF-8",
                                 keys[c - OPT_SUITE]);
        return 0;
    }
}

static int template_create(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct option options[] = {
        {"suite", required_argument, NULL, OPT_SUITE},
        {"mirror", required_argument, NULL, OPT_MIRROR},
        {"variant", required_argument, NULL, OPT_VARIANT},
        {"include", required_argument, NULL, OPT_INCLUDE},
        {"build-timeout", required_argument, NULL, OPT_BUILD_TIMEOUT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        COMMON_OPTIONS,
        {}};
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *body = json_object(), *include = json_array();
    cleanup_json json_t *op = NULL, *final = NULL;
    cleanup_free char *path = NULL;
    struct create_args a = {.body = body, .include = include};
    int r, first;

    if (!body || !include)
        return vps_error_errno(err, ENOMEM, "template create");
    r = vpsctl_parse_options(ctx, argc, argv, "", options, create_option, &a, create_usage, &first,
                             err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (json_array_size(include) > 0 && json_object_set(body, "include", include) < 0)
        return vps_error_errno(err, ENOMEM, "template create");
    if (vpsctl_expect_operands(ctx, argc - first, 1, 1, "NAME", err) < 0 ||
        vpsctl_path("/v1/templates/", argv[first], "/build", &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "POST", path, body, NULL, &op, err) < 0)
        return -1;
    if (ctx->no_wait) {
        print_operation(ctx, op);
        return 0;
    }
    if (wait_operation(c, op, a.timeout_ms, &final, err) < 0)
        return -1;
    print_operation(ctx, final);
    return 0;
}

/* Downloads into a temporary file next to file and renames it into place, so a failed
 * export never leaves a truncated tarball, nor destroys an older one of the same name. */
static int export_to_file(struct vps_client *c, const char *path, const char *file,
                          struct vps_error *err)
{
    cleanup_free char *tmp = NULL;
    cleanup_close int fd = -1;
    mode_t mask;

    if (asprintf(&tmp, "%s.XXXXXX", file) < 0) {
        tmp = NULL;
        return vps_error_errno(err, ENOMEM, "export to '%s'", file);
    }
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        return vps_error_errno(err, errno, "create a temporary file for '%s'", file);
    mask = umask(0);
    umask(mask);
    (void) fchmod(fd, 0666 & ~mask); /* mkostemp() made it 0600; be like any new file */
    if (vps_client_download(c, path, fd, NULL, err) < 0)
        goto fail;
    if (close(TAKE_FD(fd)) < 0) {
        vps_error_errno(err, errno, "write '%s'", tmp);
        goto fail;
    }
    if (rename(tmp, file) < 0) {
        vps_error_errno(err, errno, "rename '%s' to '%s'", tmp, file);
        goto fail;
    }
    return 0;
fail:
    (void) unlink(tmp);
    return -1;
}

static int template_export(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_free char *path = NULL;
    const char *file;
    int r, first;

    if ((r = parse_plain(ctx, argc, argv, export_usage, 2, &first, err)) != 0)
        return r < 0 ? -1 : 0;
    file = argv[first + 1];
    if (strcmp(file, "-") == 0 && isatty(STDOUT_FILENO))
        return vps_error_set(err, VPS_ERR_INVALID, "refusing to write a tarball to a terminal");
    if (vpsctl_path("/v1/templates/", argv[first], "/export", &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0)
        return -1;
    if (strcmp(file, "-") != 0)
        return export_to_file(c, path, file, err);
    /* stdio must not hold bytes that would land after the tarball. */
    fflush(stdout);
    return vps_client_download(c, path, STDOUT_FILENO, NULL, err);
}

static int template_remove(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    cleanup_(vps_client_freep) struct vps_client *c = NULL;
    cleanup_json json_t *answer = NULL;
    cleanup_free char *path = NULL;
    int r, first;

    if ((r = parse_plain(ctx, argc, argv, remove_usage, 1, &first, err)) != 0)
        return r < 0 ? -1 : 0;
    if (vpsctl_path("/v1/templates/", argv[first], "", &path, err) < 0 ||
        vpsctl_client(ctx, &c, err) < 0 ||
        vps_client_request(c, "DELETE", path, NULL, NULL, &answer, err) < 0)
        return -1;
    if (ctx->json)
        output_json(answer);
    return 0;
}

int cmd_template(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err)
{
    static const struct {
        const char *name;
        int (*run)(struct vpsctl *ctx, int argc, char **argv, struct vps_error *err);
    } subs[] = {
        {"list", template_list},     {"show", template_show},     {"import", template_import},
        {"create", template_create}, {"export", template_export}, {"remove", template_remove},
    };
    static char command[64];

    if (argc < 2)
        return vpsctl_usage_error(ctx, err, "template: missing command");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(template_usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0) {
            (void) snprintf(command, sizeof command, "template %s", subs[i].name);
            ctx->command = command;
            return subs[i].run(ctx, argc - 1, argv + 1, err);
        }
    return vpsctl_usage_error(ctx, err, "template: unknown command '%s'", argv[1]);
}
