/* The one strict walker between JSON and C structs, plus loading, saving and merge-patching
 * of JSON documents. What a field means is decided by the tables in config.c and friends. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vps/fd.h"
#include "vps/json.h"

void vps_json_decrefp(struct json_t **j)
{
    json_decref(*j);
}

void vps_json_path_key(char *buf, size_t size, const char *path, const char *key)
{
    (void) snprintf(buf, size, "%s%s%s", path, path[0] ? "." : "", key);
}

void vps_json_path_index(char *buf, size_t size, const char *path, size_t i)
{
    (void) snprintf(buf, size, "%s[%zu]", path, i);
}

const char *vps_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

void vps_strv_free(struct vps_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

bool vps_strv_contains(const struct vps_strv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

static int parse_string(const json_t *v, const struct vps_json_field *f, char **dst,
                        const char *path, struct vps_error *err)
{
    if (!json_is_string(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected a string, got %s", path,
                             vps_json_type_name(v));
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: string contains a NUL byte", path);
    if (len < f->min)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: must not be shorter than %" PRIu64 " characters", path, f->min);
    if (f->max && len > f->max)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: longer than %" PRIu64 " characters", path,
                             f->max);
    if (f->check && f->check(s, path, err) < 0)
        return -1;
    char *copy = strdup(s);
    if (!copy)
        return vps_error_errno(err, ENOMEM, "%s", path);
    free(*dst);
    *dst = copy;
    return 0;
}

static int parse_uint(const json_t *v, const struct vps_json_field *f, uint64_t *ret,
                      const char *path, struct vps_error *err)
{
    if (!json_is_integer(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an integer, got %s", path,
                             vps_json_type_name(v));
    json_int_t i = json_integer_value(v);
    uint64_t max = f->max ? f->max : (f->kind == VPS_JSON_UINT32 ? UINT32_MAX : INT64_MAX);
    if (i < 0 || (uint64_t) i < f->min || (uint64_t) i > max)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: %" JSON_INTEGER_FORMAT " is out of range %" PRIu64 "..%" PRIu64,
                             path, i, f->min, max);
    *ret = (uint64_t) i;
    return 0;
}

int vps_json_parse_strv(const json_t *v, const struct vps_json_field *f, struct vps_strv *dst,
                        const char *path, struct vps_error *err)
{
    struct vps_json_field elem = {
        .kind = VPS_JSON_STRING, .min = !f->str_empty_ok, .max = f->str_max, .check = f->check};
    size_t n = json_array_size(v);

    if (!json_is_array(v))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an array, got %s", path,
                             vps_json_type_name(v));
    if (n < f->min || (f->max && n > f->max))
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: expected %" PRIu64 "..%" PRIu64 " entries, got %zu", path, f->min,
                             f->max, n);
    vps_strv_free(dst);
    if (n == 0)
        return 0;
    dst->v = calloc(n + 1, sizeof(char *));
    if (!dst->v)
        return vps_error_errno(err, ENOMEM, "%s", path);
    for (size_t i = 0; i < n; i++) {
        char p[VPS_JSON_PATH_MAX];
        vps_json_path_index(p, sizeof p, path, i);
        if (parse_string(json_array_get(v, i), &elem, &dst->v[i], p, err) < 0)
            return -1;
        dst->n++;
        for (size_t j = 0; j < i; j++)
            if (f->unique && strcmp(dst->v[j], dst->v[i]) == 0)
                return vps_error_set(err, VPS_ERR_INVALID, "%s: '%s' is listed twice", p,
                                     dst->v[i]);
    }
    return 0;
}

static int parse_field(const json_t *v, const struct vps_json_field *f, void *base,
                       const char *path, struct vps_error *err)
{
    void *dst = (char *) base + f->offset;
    uint64_t u;

    switch (f->kind) {
    case VPS_JSON_STRING:
        return parse_string(v, f, dst, path, err);
    case VPS_JSON_BOOL:
        if (!json_is_boolean(v))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: expected a boolean, got %s", path,
                                 vps_json_type_name(v));
        *(bool *) dst = json_is_true(v);
        return 0;
    case VPS_JSON_UINT64:
        if (parse_uint(v, f, &u, path, err) < 0)
            return -1;
        *(uint64_t *) dst = u;
        return 0;
    case VPS_JSON_UINT32:
        if (parse_uint(v, f, &u, path, err) < 0)
            return -1;
        *(uint32_t *) dst = (uint32_t) u;
        return 0;
    case VPS_JSON_STRV:
        return vps_json_parse_strv(v, f, dst, path, err);
    case VPS_JSON_CUSTOM:
        return f->parse(v, dst, path, err);
    }
    return vps_error_set(err, VPS_ERR_SYSTEM, "%s: bad field table", path);
}

int vps_json_parse_fields(const json_t *obj, const struct vps_json_field *fields, size_t n,
                          void *base, const char *path, struct vps_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected an object, got %s",
                             path[0] ? path : "body", vps_json_type_name(obj));
    json_object_foreach((json_t *) obj, key, v)
    {
        char p[VPS_JSON_PATH_MAX];
        const struct vps_json_field *f = NULL;

        vps_json_path_key(p, sizeof p, path, key);
        for (size_t i = 0; i < n && !f; i++)
            if (strcmp(fields[i].name, key) == 0)
                f = &fields[i];
        if (!f)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: unknown field", p);
        if (parse_field(v, f, base, p, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(obj, fields[i].name)) {
            char p[VPS_JSON_PATH_MAX];
            vps_json_path_key(p, sizeof p, path, fields[i].name);
            return vps_error_set(err, VPS_ERR_INVALID, "%s: required field is missing", p);
        }
    return 0;
}

json_t *vps_strv_to_json(const struct vps_strv *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++)
        if (json_array_append_new(a, json_string(s->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int emit_field(const void *base, const struct vps_json_field *f, json_t **ret,
                      struct vps_error *err)
{
    const void *src = (const char *) base + f->offset;
    json_t *v = NULL;

    *ret = NULL;
    switch (f->kind) {
    case VPS_JSON_STRING:
        if (!*(char *const *) src)
            return 0;
        v = json_string(*(char *const *) src);
        break;
    case VPS_JSON_BOOL:
        if (f->omit_zero && !*(const bool *) src)
            return 0;
        v = json_boolean(*(const bool *) src);
        break;
    case VPS_JSON_UINT64:
        if (f->omit_zero && !*(const uint64_t *) src)
            return 0;
        v = json_integer((json_int_t) * (const uint64_t *) src);
        break;
    case VPS_JSON_UINT32:
        if (f->omit_zero && !*(const uint32_t *) src)
            return 0;
        v = json_integer((json_int_t) * (const uint32_t *) src);
        break;
    case VPS_JSON_STRV:
        if (f->omit_zero && ((const struct vps_strv *) src)->n == 0)
            return 0;
        v = vps_strv_to_json(src);
        break;
    case VPS_JSON_CUSTOM:
        return f->emit(src, ret, err);
    }
    if (!v)
        return vps_error_errno(err, ENOMEM, "emit '%s'", f->name);
    *ret = v;
    return 0;
}

int vps_json_emit_fields(const void *base, const struct vps_json_field *fields, size_t n,
                         json_t **ret, struct vps_error *err)
{
    cleanup_json json_t *obj = json_object();

    if (!obj)
        return vps_error_errno(err, ENOMEM, "emit");
    for (size_t i = 0; i < n; i++) {
        json_t *v;
        if (emit_field(base, &fields[i], &v, err) < 0)
            return -1;
        if (v && json_object_set_new(obj, fields[i].name, v) < 0)
            return vps_error_errno(err, ENOMEM, "emit '%s'", fields[i].name);
    }
    *ret = TAKE_PTR(obj);
    return 0;
}

void vps_json_free_fields(void *base, const struct vps_json_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *dst = (char *) base + fields[i].offset;
        switch (fields[i].kind) {
        case VPS_JSON_STRING:
            free(*(char **) dst);
            *(char **) dst = NULL;
            break;
        case VPS_JSON_STRV:
            vps_strv_free(dst);
            break;
        case VPS_JSON_CUSTOM:
            if (fields[i].free)
                fields[i].free(dst);
            break;
        default:
            break;
        }
    }
}

static size_t depth_of(const char *text, size_t len)
{
    /* A cheap pre-scan: jansson recurses per level, and a body of 10,000 '[' must be refused
     * before it is parsed, with a message that says why. Brackets inside strings are skipped. */
    size_t depth = 0, max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int vps_json_parse_text(const char *text, size_t len, json_t **ret, struct vps_error *err)
{
    json_error_t jerr;

    if (len == 0)
        return vps_error_set(err, VPS_ERR_INVALID, "body: empty, expected a JSON object");
    if (depth_of(text, len) > VPS_JSON_MAX_DEPTH)
        return vps_error_set(err, VPS_ERR_INVALID, "body: JSON nested deeper than %d levels",
                             VPS_JSON_MAX_DEPTH);
    cleanup_json json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j)
        return vps_error_set(err, VPS_ERR_INVALID, "body: invalid JSON at line %d column %d: %s",
                             jerr.line, jerr.column, jerr.text);
    if (!json_is_object(j))
        return vps_error_set(err, VPS_ERR_INVALID, "body: expected a JSON object, got %s",
                             vps_json_type_name(j));
    *ret = TAKE_PTR(j);
    return 0;
}

int vps_json_load_at(int dir_fd, const char *name, size_t max_bytes, json_t **ret,
                     struct vps_error *err)
{
    cleanup_free char *text = NULL;
    size_t len;

    if (vps_read_at(dir_fd, name, max_bytes, &text, &len, err) < 0)
        return -1;
    if (vps_json_parse_text(text, len, ret, err) < 0)
        return vps_error_prefix(err, "'%s'", name);
    return 0;
}

int vps_json_save_at(int dir_fd, const char *name, const json_t *j, struct vps_error *err)
{
    cleanup_free char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return vps_error_errno(err, ENOMEM, "serialize '%s'", name);
    size_t len = strlen(text);
    text[len] = '\n'; /* replace the NUL: the file ends in a newline, length counts it */
    return vps_write_atomic_at(dir_fd, name, text, len + 1, 0600, err);
}

static json_t *merge(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);

    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *pv;

    if (!out)
        return NULL;
    json_object_foreach((json_t *) patch, key, pv)
    {
        if (json_is_null(pv)) {
            (void) json_object_del(out, key);
            continue;
        }
        json_t *m = merge(json_object_get(out, key), pv);
        if (!m || json_object_set_new(out, key, m) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int vps_json_merge_patch(const json_t *target, const json_t *patch, json_t **ret,
                         struct vps_error *err)
{
    json_t *out = merge(target, patch);
    if (!out)
        return vps_error_errno(err, ENOMEM, "merge patch");
    *ret = out;
    return 0;
}
