/* Strict, table-driven mapping between JSON objects and C structs. Each object type has a
 * static table of fields; one walker parses (rejecting unknown fields, wrong types and values
 * out of range, with the JSON path in the message), one emits, one frees. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define cleanup_json cleanup_(vps_json_decrefp)

/* jansson's own limit is 2048 levels; we need far fewer and stop earlier. */
#define VPS_JSON_MAX_DEPTH 32
#define VPS_JSON_PATH_MAX  256

enum vps_json_kind {
    VPS_JSON_STRING, /* char *, owned; min/max bound the length in bytes */
    VPS_JSON_BOOL,   /* bool */
    VPS_JSON_UINT64, /* uint64_t; min/max bound the value */
    VPS_JSON_UINT32, /* uint32_t; min/max bound the value */
    VPS_JSON_STRV,   /* struct vps_strv; min/max bound the count, str_max each string */
    VPS_JSON_CUSTOM, /* parse/emit/free callbacks own the representation */
};

struct vps_strv {
    char **v; /* NULL-terminated when n > 0 */
    size_t n;
};

struct vps_json_field;
typedef int (*vps_json_parse_fn)(const json_t *v, void *dst, const char *path,
                                 struct vps_error *err);
typedef int (*vps_json_emit_fn)(const void *src, json_t **ret, struct vps_error *err);
typedef void (*vps_json_free_fn)(void *dst);
/* Extra validation of a parsed STRING (dst points at the char *) or STRV element. */
typedef int (*vps_json_check_fn)(const char *s, const char *path, struct vps_error *err);

struct vps_json_field {
    const char *name;
    enum vps_json_kind kind;
    size_t offset;
    bool required;
    bool omit_zero;    /* emit: leave out 0 / false / NULL / empty, i.e. "the default" */
    uint64_t min, max; /* see enum vps_json_kind; max 0 means no bound */
    size_t str_max;    /* STRV: longest element */
    bool str_empty_ok; /* STRV: "" is an element too (an argv: `ssh-keygen -N ''`) */
    bool unique;       /* STRV: no element twice */
    vps_json_check_fn check;
    vps_json_parse_fn parse; /* CUSTOM */
    vps_json_emit_fn emit;   /* CUSTOM; returns NULL in *ret to omit */
    vps_json_free_fn free;   /* CUSTOM */
};

/* Parses obj into base. path is the JSON path of obj ("" at the top). Fields that are absent
 * keep what base held (so callers set defaults first). On failure base may hold partially
 * parsed fields: free it with vps_json_free_fields(). */
int vps_json_parse_fields(const json_t *obj, const struct vps_json_field *fields, size_t n,
                          void *base, const char *path, struct vps_error *err);
/* Parses one STRV value by the rules of f (for CUSTOM parsers that post-process). */
int vps_json_parse_strv(const json_t *v, const struct vps_json_field *f, struct vps_strv *dst,
                        const char *path, struct vps_error *err);
/* Emits base as a new object in *ret. */
int vps_json_emit_fields(const void *base, const struct vps_json_field *fields, size_t n,
                         json_t **ret, struct vps_error *err);
void vps_json_free_fields(void *base, const struct vps_json_field *fields, size_t n);

/* Parses a whole text (UTF-8 checked, duplicates rejected, depth bounded) that must be an
 * object at the top level. Errors are VPS_ERR_INVALID with line and column. */
int vps_json_parse_text(const char *text, size_t len, json_t **ret, struct vps_error *err);

/* Loads dir_fd/name as above, at most max_bytes. */
int vps_json_load_at(int dir_fd, const char *name, size_t max_bytes, json_t **ret,
                     struct vps_error *err);
/* Writes j atomically (JSON_INDENT(2) | JSON_SORT_KEYS), mode 0600. */
int vps_json_save_at(int dir_fd, const char *name, const json_t *j, struct vps_error *err);

/* RFC 7396 merge patch: applies patch onto a copy of target. null deletes. */
int vps_json_merge_patch(const json_t *target, const json_t *patch, json_t **ret,
                         struct vps_error *err);

/* Path helpers: "a.b", "a[3]". Truncation is harmless: paths are only for messages. */
void vps_json_path_key(char *buf, size_t size, const char *path, const char *key);
void vps_json_path_index(char *buf, size_t size, const char *path, size_t i);

/* "string", "integer", ... for "expected X, got Y" messages. */
const char *vps_json_type_name(const json_t *v);

void vps_strv_free(struct vps_strv *s);
json_t *vps_strv_to_json(const struct vps_strv *s);
bool vps_strv_contains(const struct vps_strv *s, const char *str);
