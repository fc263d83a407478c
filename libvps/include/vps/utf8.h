/* UTF-8 checks for text that must go into JSON (which must be valid UTF-8): error messages
 * quoting user input, output of commands run in a VPS. */
#pragma once

#include <stddef.h>

/* Replaces, in place, every byte of buf[0..len) that is not part of a valid UTF-8 sequence,
 * and every NUL, with '?'. */
void vps_utf8_sanitize(char *buf, size_t len);
