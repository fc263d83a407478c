/* Human units for the command line: sizes ("512M", "1.5G"), CPU counts ("1.5") and
 * durations ("30s"), parsed into the API's bytes, millicpus and milliseconds, and formatted
 * back for tables. The API itself never sees these forms (sizes there are plain bytes). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Large enough for any output of the vps_format_*() functions, NUL included. */
#define VPS_UNITS_FORMAT_MAX 32

/* Parses a size: plain bytes ("1048576"), or a number with up to 9 decimals followed by a
 * binary unit K, M, G, T, P or E (any case, optionally followed by "B" or "iB": "512M",
 * "512MiB", "512mb" are all 512 * 2^20). A fraction is rounded down to whole bytes; plain
 * bytes take no fraction. what names the option in messages ("--ram"). Fails with
 * VPS_ERR_INVALID for empty input, a sign, trailing garbage, an unknown unit and values past
 * INT64_MAX (the API's integers are signed 64-bit). */
int vps_parse_size(const char *s, const char *what, uint64_t *ret_bytes, struct vps_error *err);

/* Parses a CPU count with up to 3 decimals ("2", "1.5", "0.25") into millicpus (1500).
 * Zero, signs, junk and values past UINT32_MAX millicpus are VPS_ERR_INVALID. */
int vps_parse_cpus(const char *s, const char *what, uint32_t *ret_millicpus, struct vps_error *err);

/* Parses a duration: a number (decimals allowed) with a unit ms, s, m, h or d ("500ms",
 * "30s", "1.5m"), into milliseconds, rounded down. "0" alone needs no unit; any other value
 * without one is VPS_ERR_INVALID, because a bare number is ambiguous. */
int vps_parse_duration(const char *s, const char *what, uint64_t *ret_ms, struct vps_error *err);

/* Parses a plain decimal integer in [min, max] ("--pids 4096"). VPS_ERR_INVALID otherwise. */
int vps_parse_uint(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *ret,
                   struct vps_error *err);

/* Formats bytes with the largest binary unit that keeps the value >= 1, one decimal at most
 * and rounded to nearest: 536870912 -> "512M", 1610612736 -> "1.5G", 1000 -> "1000".
 * Returns buf (size >= VPS_UNITS_FORMAT_MAX is always enough). */
const char *vps_format_size(uint64_t bytes, char *buf, size_t size);
/* 1500 -> "1.5", 2000 -> "2", 250 -> "0.25". Returns buf. */
const char *vps_format_cpus(uint32_t millicpus, char *buf, size_t size);
/* The largest unit that shows the value exactly: 500 -> "500ms", 30000 -> "30s", 300000 ->
 * "5m", 1500 -> "1500ms". Returns buf. */
const char *vps_format_duration(uint64_t ms, char *buf, size_t size);
