/* The error value: formatting, context prefixes, and the one table mapping error codes to
 * HTTP status, API code strings and vpsctl exit codes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vps/error.h"
#include "vps/utf8.h"

static const struct {
    unsigned http;
    const char *name;
    int exit_status;
} table[_VPS_ERR_MAX] = {
    [VPS_ERR_NONE] = {200, "ok", 0},
    [VPS_ERR_INVALID] = {400, "invalid", 2},
    [VPS_ERR_FORBIDDEN] = {403, "forbidden", 3},
    [VPS_ERR_NOT_FOUND] = {404, "not_found", 4},
    [VPS_ERR_EXISTS] = {409, "exists", 5},
    [VPS_ERR_CONFLICT] = {409, "conflict", 5},
    [VPS_ERR_TOO_LARGE] = {413, "too_large", 2},
    [VPS_ERR_TIMEOUT] = {504, "timeout", 6},
    [VPS_ERR_SYSTEM] = {500, "internal", 1},
    [VPS_ERR_UNAVAILABLE] = {503, "unavailable", 7},
};

static int vset(struct vps_error *err, enum vps_errcode code, int errnum, const char *fmt,
                va_list ap) __attribute__((format(printf, 4, 0)));
static int vset(struct vps_error *err, enum vps_errcode code, int errnum, const char *fmt,
                va_list ap)
{
    err->code = code;
    err->errnum = errnum;
    (void) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int vps_error_set(struct vps_error *err, enum vps_errcode code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vset(err, code, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int vps_error_errno(struct vps_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vset(err, VPS_ERR_SYSTEM, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int vps_error_prefix(struct vps_error *err, const char *fmt, ...)
{
    char ctx[sizeof err->msg], old[sizeof err->msg];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    (void) snprintf(err->msg, sizeof err->msg, "%s: %s", ctx, old);
    if (err->code == VPS_ERR_NONE)
        err->code = VPS_ERR_SYSTEM;
    return -1;
}

const char *vps_error_format(const struct vps_error *err, char *buf, size_t size)
{
    if (err->errnum > 0)
        (void) snprintf(buf, size, "%s: %s", err->msg, strerror(err->errnum));
    else
        (void) snprintf(buf, size, "%s", err->msg);
    /* Messages quote user input cut at a byte count ('%.64s') and are cut again by the
     * fixed buffer, so a multi-byte character may end up halved; JSON answers must be valid
     * UTF-8. */
    vps_utf8_sanitize(buf, strlen(buf));
    return buf;
}

unsigned vps_error_http_status(enum vps_errcode code)
{
    if (code <= VPS_ERR_NONE || code >= _VPS_ERR_MAX)
        return 500;
    return table[code].http;
}

const char *vps_error_code_name(enum vps_errcode code)
{
    if (code <= VPS_ERR_NONE || code >= _VPS_ERR_MAX)
        return "internal";
    return table[code].name;
}

enum vps_errcode vps_error_code_from_name(const char *name)
{
    for (size_t i = VPS_ERR_NONE + 1; i < _VPS_ERR_MAX; i++)
        if (name && strcmp(table[i].name, name) == 0)
            return (enum vps_errcode) i;
    return VPS_ERR_SYSTEM;
}

int vps_error_exit_status(enum vps_errcode code)
{
    if (code <= VPS_ERR_NONE || code >= _VPS_ERR_MAX)
        return 1;
    return table[code].exit_status;
}
