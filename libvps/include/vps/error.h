/* Errors as values: every libvps call that can fail returns < 0 and fills a caller-owned
 * struct vps_error. The table that maps codes to HTTP status and API code strings is
 * error.c's alone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

enum vps_errcode {
    VPS_ERR_NONE = 0,
    VPS_ERR_INVALID,     /* 400 invalid    bad input; the message names the field */
    VPS_ERR_FORBIDDEN,   /* 403 forbidden  the caller may not do this */
    VPS_ERR_NOT_FOUND,   /* 404 not_found  the named object does not exist */
    VPS_ERR_EXISTS,      /* 409 exists     the name is taken */
    VPS_ERR_CONFLICT,    /* 409 conflict   wrong state: already running, busy */
    VPS_ERR_TOO_LARGE,   /* 413 too_large  a request body over the limit */
    VPS_ERR_TIMEOUT,     /* 504 timeout    e.g. no quiet window for a backup */
    VPS_ERR_SYSTEM,      /* 500 internal   a host call failed */
    VPS_ERR_UNAVAILABLE, /* 503 unavailable the daemon cannot be reached / is shutting down */
    _VPS_ERR_MAX,
};

struct vps_error {
    enum vps_errcode code; /* VPS_ERR_NONE while nothing has failed */
    int errnum;            /* errno of the failing call, 0 if none */
    char msg[512];         /* outer context first: "vps 'web1': start: cgroup 'vps/web1': ..." */
};

/* Each returns -1, so that "return vps_error_...(...)" is a one-line failure. They never
 * allocate and are safe in a forked child. */
int vps_error_set(struct vps_error *err, enum vps_errcode code, const char *fmt, ...)
    _printf_(3, 4);
/* A failed host call: VPS_ERR_SYSTEM with errnum kept for the printer. */
int vps_error_errno(struct vps_error *err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Prepends "ctx: " to the message; keeps code and errnum. */
int vps_error_prefix(struct vps_error *err, const char *fmt, ...) _printf_(2, 3);

/* "message: strerror(errnum)" into buf: always NUL-terminated and valid UTF-8 (invalid
 * bytes become '?'). Returns buf. */
const char *vps_error_format(const struct vps_error *err, char *buf, size_t size);

/* The API mapping: HTTP status and the "code" string of an error answer. */
unsigned vps_error_http_status(enum vps_errcode code);
const char *vps_error_code_name(enum vps_errcode code);
/* Inverse of vps_error_code_name(), for the client; unknown strings map to VPS_ERR_SYSTEM. */
enum vps_errcode vps_error_code_from_name(const char *name);
/* vpsctl's exit status for an error code (documented in vpsctl(8)). */
int vps_error_exit_status(enum vps_errcode code);
