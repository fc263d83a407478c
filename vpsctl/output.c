/* Text and JSON output for vpsctl: tables, "key: value" lines and raw answers. What goes in a
 * table is each command's choice; how it is laid out is decided here only. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "output.h"

#define FIELD_WIDTH 14

struct table {
    size_t n_cols;
    char **cells; /* row-major, the header row first */
    size_t n_cells, cap;
};

char *output_sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *) s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    return s;
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

static int append_row(struct table *t, const char *const *cells, struct vps_error *err)
{
    if (t->n_cells + t->n_cols > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : t->n_cols * 16;
        char **n = realloc(t->cells, cap * sizeof *n);
        if (!n)
            return vps_error_errno(err, ENOMEM, "build a table");
        t->cells = n;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        char *c = strdup(cells[i] && *cells[i] ? cells[i] : "-");
        if (!c)
            return vps_error_errno(err, ENOMEM, "build a table");
        t->cells[t->n_cells++] = output_sanitize(c);
    }
    return 0;
}

int table_new(const char *const *headers, size_t n_cols, struct table **ret, struct vps_error *err)
{
    cleanup_(table_freep) struct table *t = calloc(1, sizeof *t);

    if (!t)
        return vps_error_errno(err, ENOMEM, "build a table");
    t->n_cols = n_cols;
    if (append_row(t, headers, err) < 0)
        return -1;
    *ret = TAKE_PTR(t);
    return 0;
}

int table_add_row(struct table *t, const char *const *cells, struct vps_error *err)
{
    /* A failed strdup() halfway leaves a partial row: drop it so rows stay aligned. */
    size_t before = t->n_cells;

    if (append_row(t, cells, err) < 0) {
        while (t->n_cells > before)
            free(t->cells[--t->n_cells]);
        return -1;
    }
    return 0;
}

void table_print(const struct table *t, FILE *f)
{
    /* Out of memory, the table is still printed, only unaligned. */
    cleanup_free size_t *width = calloc(t->n_cols, sizeof *width);

    for (size_t i = 0; width && i < t->n_cells; i++) {
        size_t len = strlen(t->cells[i]);
        if (len > width[i % t->n_cols])
            width[i % t->n_cols] = len;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t col = i % t->n_cols;
        if (col + 1 == t->n_cols)
            fprintf(f, "%s\n", t->cells[i]);
        else
            fprintf(f, "%-*s  ", width ? (int) width[col] : 0, t->cells[i]);
    }
}

void output_field(const char *key, const char *fmt, ...)
{
    char value[4096], label[64];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    (void) snprintf(label, sizeof label, "%s:", key);
    printf("%-*s %s\n", FIELD_WIDTH, label, output_sanitize(value));
}

void output_json(const json_t *j)
{
    (void) json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
}

const char *output_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

json_int_t output_int(const json_t *obj, const char *key, json_int_t def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *output_join(const json_t *arr, const char *sep, char *buf, size_t size)
{
    size_t len = 0, i;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        int n;
        if (json_is_integer(v))
            n = snprintf(buf + len, size - len, "%s%" JSON_INTEGER_FORMAT, i ? sep : "",
                         json_integer_value(v));
        else
            n = snprintf(buf + len, size - len, "%s%s", i ? sep : "",
                         json_is_string(v) ? json_string_value(v) : "?");
        if (n < 0 || (size_t) n >= size - len)
            break; /* truncated: what fits is shown */
        len += (size_t) n;
    }
    return buf;
}

const char *output_uptime(uint64_t ms, char *buf, size_t size)
{
    uint64_t s = ms / 1000;
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

    /* An uptime reads better in mixed units than in one exact unit. */
    if (d > 0)
        (void) snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
    else if (h > 0)
        (void) snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m", h, m);
    else
        (void) snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
    return buf;
}
