/* How vpsctl shows answers: tables with auto-sized columns, "key: value" lines, and raw JSON
 * for --json. Everything printed as text passes output_sanitize() first. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vps/error.h"

struct table;

/* A table with n_cols columns titled by headers (copied). */
int table_new(const char *const *headers, size_t n_cols, struct table **ret, struct vps_error *err);
void table_free(struct table *t);
static inline void table_freep(struct table **t)
{
    table_free(*t);
}

/* Appends a row of n_cols cells (copied, sanitized); a NULL or empty cell shows as "-". */
int table_add_row(struct table *t, const char *const *cells, struct vps_error *err);

/* Prints the header and rows, columns separated by two spaces and padded to their widest
 * cell; the last column is not padded. */
void table_print(const struct table *t, FILE *f);

/* Prints "key:" padded to a fixed width, then the value formatted and sanitized. */
void output_field(const char *key, const char *fmt, ...) _printf_(2, 3);

/* Prints j to stdout as indented JSON followed by a newline. */
void output_json(const json_t *j);

/* Replaces control characters in s with '?' so that text from vpsd (or from a VPS owner,
 * through vpsd) cannot move the cursor or change the terminal. Returns s. */
char *output_sanitize(char *s);

/* A duration in mixed units, like "3d 4h 5m", "4h 5m" or "5m 6s". Returns buf. */
const char *output_uptime(uint64_t ms, char *buf, size_t size);

/* Helpers for reading answers: a string member or NULL, an integer member or def. */
const char *output_str(const json_t *obj, const char *key);
json_int_t output_int(const json_t *obj, const char *key, json_int_t def);
/* The strings and integers of array arr joined with sep into buf (truncated to size).
 * Returns buf; "" for a missing or empty array. */
const char *output_join(const json_t *arr, const char *sep, char *buf, size_t size);
